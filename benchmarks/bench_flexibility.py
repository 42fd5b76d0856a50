"""Benchmark: the small-hall figures of docs/flexibility.md (power caps, curtailment).

A hall of 1 row x 2 racks x 4 servers x 8 H100 (qwen3-8b TP1: 64 replicas), Azure code
trace at 4 requests/s per replica, 1 h, seed 0.  Prints the metrics of the uncapped hall
and of per-GPU caps of 400/350/300 W, then a curtailment window (0.5-0.75 h, limit 90 %
of the uncapped 1-min peak, 30 % latency-tolerant, maximum delay 0.2 h) for both release
policies, with wall-clock seconds (no assertions; speed is not tested).

Run: ``.venv/bin/python benchmarks/bench_flexibility.py``
"""

from __future__ import annotations

import logging
import time

import pandas as pd

from traces.facility import FacilitySpec, WorkloadScenario
from traces.facility.flexibility import (
    CurtailmentWindow,
    FlexibilitySpec,
    simulate_curtailment,
    simulate_flexible,
)


def main() -> None:
    logging.getLogger("traces").setLevel(logging.ERROR)
    spec = FacilitySpec(
        rows=1, racks_per_row=2, servers_per_rack=4, assignment="qwen3-8b_H100_tp1",
        gpus_per_server=8, scenario=WorkloadScenario(arrival="azure", rate_per_replica_rps=4.0),
        horizon_s=3600.0, resolution="1min", seed=0,
    )  # fmt: skip
    rows = {}
    t0 = time.perf_counter()
    for cap in (None, 400.0, 350.0, 300.0):
        run = simulate_flexible(spec, FlexibilitySpec(gpu_power_cap_w=cap))
        rows["uncapped" if cap is None else f"{cap:.0f} W/GPU"] = run.metrics()
    print(f"power caps: 4 runs in {time.perf_counter() - t0:.1f} s")
    table = pd.DataFrame(rows)
    print(table.to_string(float_format=lambda v: f"{v:.5g}"))
    limit = round(0.9 * float(table.loc["peak 1min [MW]", "uncapped"]), 4)
    for release in ("deadline", "window_end"):
        window = CurtailmentWindow(
            start_h=0.5, end_h=0.75, pcc_limit_mw=limit, deferrable_share=0.3, max_delay_h=0.2,
            release=release,
        )  # fmt: skip
        t0 = time.perf_counter()
        res = simulate_curtailment(spec, FlexibilitySpec(curtailment=window))
        print(f"\ncurtailment (release={release!r}) in {time.perf_counter() - t0:.1f} s")
        for key, value in res.summary.items():
            print(f"  {key:<40s} {value:.6g}")


if __name__ == "__main__":
    main()
