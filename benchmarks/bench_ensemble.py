"""Benchmark: cost of uncertainty bands (issue 15).

Prints the measured figures; asserts nothing about speed.

    .venv/bin/python benchmarks/bench_ensemble.py [--members 10] [--quick]
        [--cases hall-day,annual] [--workers N] [--servers 10000] [--threads 2]

* ``hall-day``: an N-member ensemble of the 240-server day (10 rows x 6 racks x 4
  servers, one replica per server, Azure code-trace replay at 1 req/s per replica,
  1-min output; the ``hall-day`` case of ``bench_facility.py``), with the P10/P50/P90 of
  its planner statistics.  ``--quick`` runs 1/24 of the day (one hour).
* ``annual``: an N-member 8,760-hour band of a ``--servers`` site through the fast path
  (``gridlink.studies.ensemble.annual_ensemble``; calibration timed separately, it is shared by
  the members), with the load-duration-curve band and the demand exceeded 22/44/88 h.
"""

from __future__ import annotations

import argparse
import resource
import time


def _hall(args: argparse.Namespace) -> None:
    from gridlink.demo import default_configuration
    from gridlink.studies.ensemble import statistics_band
    from traces.facility import FacilitySpec, WorkloadScenario
    from traces.facility.ensemble import simulate_facility_ensemble

    horizon = 3600.0 if args.quick else 86400.0
    spec = FacilitySpec(
        rows=10,
        racks_per_row=6,
        servers_per_rack=4,
        assignment=default_configuration(),
        gpus_per_server=1,
        scenario=WorkloadScenario(arrival="azure", rate_per_replica_rps=1.0),
        horizon_s=horizon,
        resolution="1min",
    )
    t0 = time.perf_counter()
    ens = simulate_facility_ensemble(spec, args.members, workers=args.workers)
    dt = time.perf_counter() - t0
    t1 = time.perf_counter()
    band = statistics_band(ens, ramp_windows=("1min", "15min"))
    dt_stats = time.perf_counter() - t1
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        f"hall-day ensemble: {spec.n_servers} servers x {horizon / 3600:g} h x {args.members} "
        f"members, workers={args.workers or 0}: {dt:.1f} s ({dt / args.members:.1f} s per member), "
        f"statistics band {dt_stats:.2f} s, peak RSS {rss:.0f} MB"
    )
    rows = ["peak_mw", "mean_mw", "load_factor", "max_ramp_mw_per_1min", "max_ramp_mw_per_15min"]
    print(
        band.loc[rows, ["p10", "p50", "p90", "unit"]].to_string(float_format=lambda v: f"{v:.5g}")
    )
    pk = ens.peak_mw_250ms
    print(f"250 ms peak [MW]: min {pk.min():.4f}, median {pk.median():.4f}, max {pk.max():.4f}")


def _annual(args: argparse.Namespace) -> None:
    from gridlink.annual import AnnualScenario, FleetPhase
    from gridlink.demo import default_configuration
    from gridlink.studies.ensemble import annual_ensemble

    config = default_configuration()
    sc = AnnualScenario(
        fleet=(FleetPhase("2025-01-01T00:00Z", {config: args.servers}, gpus_per_server=8),),
        start="2025-01-01T00:00Z",
        days=365,
        rate_per_replica_rps=1.0,
        seed=0,
    )
    t0 = time.perf_counter()
    ens = annual_ensemble(sc, args.members)
    dt = time.perf_counter() - t0
    t = ens.timings_s
    print(
        f"annual band: {args.servers} servers x 8,760 h x {args.members} members: total {dt:.1f} s "
        f"(calibration {t['calibration']:.1f} s, shared; reference run + members "
        f"{dt - t['calibration']:.2f} s, {t['members'] / args.members:.3f} s per member)"
    )
    t1 = time.perf_counter()
    ldc = ens.ldc_band()
    dd = ens.design_demand((0, 22, 44, 88))
    print(f"LDC band + design demand: {time.perf_counter() - t1:.3f} s")
    print(dd[["p10", "p50", "p90"]].to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"LDC at 1,000 h [MW]: {ldc.loc[1000.0].round(3).to_dict()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="hall: one hour instead of a day")
    ap.add_argument("--cases", default="hall-day,annual")
    ap.add_argument("--workers", type=int, default=None, help="dask workers for the hall")
    ap.add_argument("--servers", type=int, default=10_000, help="annual site size")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (target: 2 cores)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    for case in args.cases.split(","):
        {"hall-day": _hall, "annual": _annual}[case](args)


if __name__ == "__main__":
    main()
