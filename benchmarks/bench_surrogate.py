"""Benchmark: schedule generation, FIFO batching surrogate and A_t features at 1 M requests.

Prints wall-clock seconds per step (no assertions; speed is not tested).  Two loads:
a light one where the 64-slot batch never fills (vectorised fast path) and an
overloaded one where most requests queue (heap pass over every request).

Run: ``.venv/bin/python benchmarks/bench_surrogate.py [n_requests]``
"""

from __future__ import annotations

import sys
import time

import numpy as np

from traces.workload.arrivals import poisson
from traces.workload.schedule import TokenDistribution
from traces.workload.surrogate import LatencyModel, simulate_batching, workload_features


def _timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"  {label:<34s} {time.perf_counter() - t0:7.2f} s")
    return out


def main(n_requests: int = 1_000_000) -> None:
    tokens = TokenDistribution.from_azure("conv")
    latency = LatencyModel.from_typical(
        0.05, 0.0135, n_in_ref=200, ttft_a1=0.25, ttft_sigma=0.35, tbt_sigma=0.05
    )
    mean_service_s = 0.05 + (tokens.mean_n_out - 1) * latency.mean_tbt_s
    for label, utilisation in [("light (never full)", 0.3), ("overloaded (queueing)", 1.2)]:
        rate = utilisation * 64 / mean_service_s
        duration = n_requests / rate
        print(f"{label}: {n_requests:,} requests, {rate:.1f} req/s, {duration / 3600:.1f} h")
        sched = _timed("poisson schedule", lambda r=rate, d=duration: poisson(r, d, tokens, rng=0))
        tl = _timed("simulate_batching", lambda s=sched: simulate_batching(s, latency, rng=1))
        print(f"  {'queued requests':<34s} {tl.n_queued:,}")
        f = _timed("workload_features (A_t, dA_t)", lambda t=tl: workload_features(t, extra=False))
        _timed("workload_features (+ extra)", lambda t=tl: workload_features(t, extra=True))
        print(f"  {'grid points':<34s} {len(f):,}   mean A_t {np.mean(f.active):.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
