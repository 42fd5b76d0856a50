"""Benchmark: a year of 15-minute power flows with a facility, fast path vs plain pandapower.

Runs :func:`gridlink.feeder.run_feeder` on the same profile with
``backend="fast"`` (lightsim2grid Newton-Raphson on pandapower's internal model,
one solve per distinct injection) and ``backend="pandapower"`` (``DFData`` +
``ConstControl`` + ``run_timeseries``), then prints the wall-clock seconds of both
and the largest differences between them (voltage in pu, loading in %).

Usage::

    .venv/bin/python benchmarks/bench_feeder.py                 # a year, 35,040 steps
    .venv/bin/python benchmarks/bench_feeder.py --steps 2000    # quicker
    .venv/bin/python benchmarks/bench_feeder.py --network case33bw --bus 17 --peak-mw 1.5

The profile is synthetic (a daily shape with seeded noise, every value distinct),
so the fast path cannot profit from repeated injections: the comparison is of
the solver loop itself.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd

from gridlink.feeder import hosting_capacity, load_network, run_feeder
from gridlink.units import series_with_unit


def synthetic_profile(steps: int, peak_mw: float, seed: int = 0) -> pd.Series:
    """Daily-shaped facility load [MW] on a 15-minute UTC grid, all values distinct."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    daily = 0.75 + 0.15 * np.sin(2 * np.pi * t / 96 - np.pi / 2)
    values = peak_mw * np.clip(daily + rng.normal(0.0, 0.03, steps), 0.0, 1.0)
    idx = pd.date_range("2026-01-01", periods=steps, freq="15min", tz="UTC")
    return series_with_unit(pd.Series(values, index=idx), "MW")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=35_040, help="15-minute steps (a year: 35040)")
    parser.add_argument("--network", default="cigre_mv")
    parser.add_argument("--bus", type=int, default=5)
    parser.add_argument("--peak-mw", type=float, default=3.0)
    parser.add_argument("--load-scaling", type=float, default=0.5)
    parser.add_argument("--skip-pandapower", action="store_true", help="time the fast path only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    net = load_network(args.network, load_scaling=args.load_scaling)
    profile = synthetic_profile(args.steps, args.peak_mw)
    print(
        f"network {args.network}, bus {args.bus}, {args.steps} steps of 15 min, peak {args.peak_mw} MW"
    )

    t0 = time.perf_counter()
    fast = run_feeder(net, args.bus, profile, backend="fast")
    t_fast = time.perf_counter() - t0
    print(f"fast (lightsim2grid NR on pandapower's model): {t_fast:8.2f} s "
          f"({fast.n_power_flows} power flows, {fast.n_not_converged} not converged)")  # fmt: skip

    t0 = time.perf_counter()
    hc = hosting_capacity(net, args.bus, profile)
    t_hc = time.perf_counter() - t0
    print(f"hosting capacity (fast, {hc.n_evaluations} runs of the period): {t_hc:8.2f} s -> "
          f"{hc.capacity:.3f} MW, binding {hc.binding_constraint} at {hc.binding_element}")  # fmt: skip

    if args.skip_pandapower:
        return
    t0 = time.perf_counter()
    ref = run_feeder(net, args.bus, profile, backend="pandapower")
    t_pp = time.perf_counter() - t0
    print(f"pandapower run_timeseries:                     {t_pp:8.2f} s "
          f"({ref.n_not_converged} not converged)")  # fmt: skip
    print(f"speed-up: {t_pp / t_fast:.0f}x")

    same = np.array_equal(fast.converged.to_numpy(), ref.converged.to_numpy())
    dv = np.nanmax(np.abs(fast.vm_pu.to_numpy() - ref.vm_pu.to_numpy()))
    dl = np.nanmax(
        np.abs(fast.line_loading_percent.to_numpy() - ref.line_loading_percent.to_numpy())
    )
    dt = (
        np.nanmax(
            np.abs(fast.trafo_loading_percent.to_numpy() - ref.trafo_loading_percent.to_numpy())
        )
        if fast.trafo_loading_percent.shape[1]
        else 0.0
    )
    print(f"same convergence flags: {same}")
    print(f"max |dV|       = {dv:.3e} pu")
    print(f"max |dloading| = {dl:.3e} % (lines), {dt:.3e} % (trafos)")


if __name__ == "__main__":
    main()
