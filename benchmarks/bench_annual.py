"""Benchmark: annual fast path (8,760 h, 10,000 servers) and fast-vs-full validation.

Prints the measured figures; asserts nothing about speed.

    .venv/bin/python benchmarks/bench_annual.py [--config ID] [--threads 2]
        [--servers 10000] [--days 365] [--check-days 2] [--check-servers 32] [--check-hours 3]
        [--levels 16] [--replicas 32] [--cal-s 3600]

1. Calibrates the response curves of the configuration with the full 250 ms generator
   (``gridlink.annual.calibrate_response``: levels x replicas x seconds) and times it.
2. Builds the annual PCC shape for a ``--servers`` site (shared traffic, growth, holidays,
   a hardware-refresh-style fleet change mid-year) and times it.
3. Renders ``--check-days`` sampled days through the full path for a ``--check-servers``
   hall and compares hourly energy and hourly peak (max of 1-min means) with the fast path.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=None, help="configuration id (default: first shipped)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (target: 2 cores)")
    ap.add_argument("--servers", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--rate", type=float, default=0.6, help="mean req/s per replica")
    ap.add_argument("--check-days", type=int, default=2)
    ap.add_argument("--check-servers", type=int, default=32)
    ap.add_argument("--check-hours", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--levels", type=int, default=16, help="calibration levels")
    ap.add_argument("--replicas", type=int, default=32, help="calibration replicas per level")
    ap.add_argument("--cal-s", type=float, default=3600.0, help="calibration seconds per replica")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from gridlink.annual import (
        AnnualScenario,
        FleetPhase,
        annual_load,
        calibrate_response,
        compare_fast_full,
    )
    from traces.model.registry import list_configurations

    config = args.config or str(list_configurations()["config_id"].iloc[0])
    half = args.servers // 2
    sc = AnnualScenario(
        fleet=(
            FleetPhase("2025-01-01T00:00Z", {config: half}),
            FleetPhase("2025-07-01T00:00Z", {config: args.servers}),  # expansion mid-year
        ),
        start="2025-01-01T00:00Z",
        days=args.days,
        rate_per_replica_rps=args.rate,
        growth_per_year=0.5,
        holidays=(
            "2025-01-01",
            "2025-05-26",
            "2025-07-04",
            "2025-09-01",
            "2025-11-27",
            "2025-12-25",
        ),  # fmt: skip
        traffic_mode="shared",
        correlation=0.5,
        cv=0.5,
        seed=args.seed,
    )
    level = sc.rate_per_replica(sc.bin_index() + np.timedelta64(30, "s"))
    max_rate = 1.05 * float(level.max())  # the curve is indexed by the deterministic level

    t0 = time.perf_counter()
    curve = calibrate_response(
        config, tokens=sc.tokens, max_rate_rps=max_rate, n_rates=args.levels,
        n_replicas=args.replicas, duration_s=args.cal_s, correlation=sc.correlation, cv=sc.cv,
        seed=args.seed,
    )  # fmt: skip
    cal_s = time.perf_counter() - t0
    print(f"config {config}: calibration of {curve.rate_rps.size} rates up to {max_rate:.2f} "
          f"req/s x {args.replicas} replicas x {curve.duration_s:.0f} s: {cal_s:.1f} s "
          f"({args.threads} torch threads)")  # fmt: skip
    print("  level [req/s]  mean [W]  sd250ms [W]  sd_bin_indep [W]  beta [W/m]  "
          "prev/next-bin [W/m]")  # fmt: skip
    for r, m, v, b, be, lag in zip(curve.rate_rps, curve.mean_w, curve.var_w2, curve.bin_var_w2,
                                   curve.beta_w, curve.lag_w, strict=True):  # fmt: skip
        print(f"  {r:12.3f} {m:9.1f} {np.sqrt(v):11.1f} {np.sqrt(b):17.2f} {be:11.1f}  "
              f"{lag[0]:8.1f} {lag[1]:6.1f}")  # fmt: skip

    t0 = time.perf_counter()
    shape = annual_load(sc, {config: curve}, freq="1h")
    build_s = time.perf_counter() - t0
    p = shape.p_mw
    print(f"annual shape: {len(p)} hourly values for up to {args.servers} servers "
          f"({len(shape.p_mw_bin)} 1-min bins): build {build_s:.2f} s; "
          f"calibration + build {cal_s + build_s:.1f} s")  # fmt: skip
    print(f"  energy {p.sum():.0f} MWh, mean {p.mean():.2f} MW, hourly max {p.max():.2f} MW, "
          f"1-min peak {shape.peak_mw.max():.2f} MW, min {p.min():.2f} MW")  # fmt: skip

    rng = np.random.default_rng(args.seed)
    days = sorted(rng.choice(np.arange(args.days - 1), size=args.check_days, replace=False))
    hours = []
    for d in days:
        day = sc.start + np.timedelta64(int(d), "D")
        cmp = compare_fast_full(sc, day, {config: curve}, hours=args.check_hours,
                                n_servers=args.check_servers)  # fmt: skip
        e = cmp["energy_rel_err"].abs()
        pk = cmp["peak_rel_err"].abs()
        print(f"day {day.date()} ({args.check_servers} servers, {args.check_hours:g} h): full "
              f"{cmp['full_s'].iloc[0]:.1f} s, fast {cmp['fast_s'].iloc[0] * 1e3:.1f} ms; hourly "
              f"energy |err| max {e.max():.2%} median {e.median():.2%}; day energy err "
              f"{cmp['energy_fast_mwh'].sum() / cmp['energy_full_mwh'].sum() - 1:+.2%}; hourly "
              f"peak |err| max {pk.max():.2%} median {pk.median():.2%}")  # fmt: skip
        hours.append(cmp)
    if hours:
        every = pd.concat(hours)
        e = every["energy_rel_err"].abs()
        pk = every["peak_rel_err"].abs()
        print(f"all {len(every)} validated hours: hourly energy |err| median {e.median():.2%} "
              f"max {e.max():.2%}; hourly peak |err| median {pk.median():.2%} "
              f"max {pk.max():.2%}")  # fmt: skip


if __name__ == "__main__":
    main()
