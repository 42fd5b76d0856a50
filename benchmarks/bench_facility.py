"""Facility generation speed and memory (paper §3.4 hall sizes).

Cases (each in its own process, so peak RSS is per case):

* ``server-day``   - one server (one replica) for 24 h at 250 ms;
* ``hall-day``     - 240 servers (10 x 6 x 4) for 24 h (the speed target: <= 60 s on 2 cores);
* ``big-hour``     - 2,400 servers (100 x 6 x 4) for 1 h;
* ``hall-hour``    - 240 servers for 1 h, serial and on dask (LocalCluster, 2 workers);
* ``hall-day-dask2`` - the 240-server day on 2 dask workers.

Prints wall seconds, replica-steps per second and peak resident memory (``ru_maxrss``)
of each case.  ``--quick`` runs shortened versions (minutes instead of hours).

Measured on the 2-core AVX-512 box (2026-11-21, quiet machine; docs/facility.md), with the
compiled BiGRU kernel and 2^23-step chunks: server-day 0.2 s, hall-hour 1.3 s, hall-hour on
2 dask workers 4.9 s, big-hour 12.9 s (0.9 GB), hall-day 30.7 s serial (1.1 GB peak) and
28-29 s on 2 dask workers (workers 1.0 GB peak each; target 60 s: met; repeat runs 28-33 s).  With the PyTorch kernel before it: 99.2 s serial and 76.4 s on dask; before
whole-sequence inference: 119 s serial, 215 s on dask.
``peak MB`` is this process (the client, for the dask cases); ``worker MB`` is the largest
dask worker's peak.

    .venv/bin/python benchmarks/bench_facility.py [--quick] [--cases server-day,hall-hour]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

CASES = {
    # name: (rows, racks_per_row, servers_per_rack, horizon_s, workers)
    "server-day": (1, 1, 1, 86400.0, None),
    "hall-hour": (10, 6, 4, 3600.0, None),
    "hall-hour-dask2": (10, 6, 4, 3600.0, 2),
    "hall-day": (10, 6, 4, 86400.0, None),
    "hall-day-dask2": (10, 6, 4, 86400.0, 2),
    "big-hour": (100, 6, 4, 3600.0, None),
}


def _run(name: str, scale: float, config_id: str | None, queue: mp.Queue) -> None:
    from gridlink.studies.demo import default_configuration
    from traces.facility import FacilitySpec, WorkloadScenario, simulate_facility

    rows, rpr, spr, horizon, workers = CASES[name]
    horizon = max(60.0, round(horizon * scale / 60.0) * 60.0)
    spec = FacilitySpec(
        rows=rows,
        racks_per_row=rpr,
        servers_per_rack=spr,
        assignment=config_id or default_configuration(),
        gpus_per_server=1,
        scenario=WorkloadScenario(arrival="azure", rate_per_replica_rps=1.0),
        horizon_s=horizon,
        resolution="1min",
    )
    t0 = time.perf_counter()
    worker_mb = 0.0
    if workers:
        # the LocalCluster simulate_facility(workers=...) would start, kept here so that the
        # workers' peak memory can be read back; its start-up is inside the timing
        from traces.facility import _make_client

        client, cluster = _make_client(workers, None)
        try:
            res = simulate_facility(spec, scheduler=client, progress=False)
            dt = time.perf_counter() - t0
            peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            worker_mb = max(peaks.values()) / 1024.0
        finally:
            client.close()
            cluster.close()
    else:
        res = simulate_facility(spec, progress=False)
        dt = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    queue.put(
        {
            "case": name,
            "servers": spec.n_servers,
            "horizon_h": horizon / 3600.0,
            "seconds": dt,
            "replica_steps_per_s": spec.n_servers * spec.n_steps / dt,
            "peak_rss_mb": rss_mb,
            "worker_peak_rss_mb": worker_mb,
            "pcc_mean_mw": float(res.pcc_mw.mean()),
            "workers": workers or 0,
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1/60 of each horizon")
    ap.add_argument("--cases", default="server-day,hall-hour,hall-hour-dask2,hall-day,big-hour")
    ap.add_argument("--config-id", default=None)
    args = ap.parse_args()
    scale = 1 / 60 if args.quick else 1.0
    ctx = mp.get_context("spawn")
    print(
        f"{'case':18s} {'servers':>7s} {'hours':>6s} {'seconds':>9s} {'steps/s':>10s} "
        f"{'peak MB':>8s} {'worker MB':>9s}"
    )
    for name in args.cases.split(","):
        q: mp.Queue = ctx.Queue()
        p = ctx.Process(target=_run, args=(name, scale, args.config_id, q))
        p.start()
        r = q.get()
        p.join()
        print(
            f"{r['case']:18s} {r['servers']:7d} {r['horizon_h']:6.2f} {r['seconds']:9.1f} "
            f"{r['replica_steps_per_s']:10.0f} {r['peak_rss_mb']:8.0f} "
            f"{r['worker_peak_rss_mb'] or float('nan'):9.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
