"""Benchmark: a year of 15-minute power flows with a facility, fast path vs plain pandapower.

Times three ways of running the same facility profile on the same feeder and prints
the seconds of each and the largest differences to the fast path:

``fast``
    ``run_feeder(..., backend="fast")``: lightsim2grid Newton-Raphson on pandapower's
    internal model, one solve per distinct injection.
``reference``
    ``run_feeder(..., backend="pandapower")``: ``DFData`` + ``ConstControl`` +
    ``run_timeseries`` with a ``run`` function that records convergence, so every step
    is a full, independent ``pandapower.runpp`` (no recycling).
``default``
    pandapower's default loop as a user would write it (``run_timeseries`` with the
    built-in ``runpp``, recycling on, ``OutputWriter`` batch-reading ``vm_pu`` and
    loadings); it does not flag non-converged steps in its result arrays.

Usage::

    .venv/bin/python benchmarks/bench_feeder.py                 # a year, 35,040 steps
    .venv/bin/python benchmarks/bench_feeder.py --steps 2000    # quicker
    .venv/bin/python benchmarks/bench_feeder.py --paths fast,default
    .venv/bin/python benchmarks/bench_feeder.py --network case33bw --bus 17 --peak-mw 1.5

The profile is synthetic (a daily shape with seeded noise, every value distinct), so
the fast path cannot profit from repeated injections: the comparison is of the solver
loop itself.  numba is not installed in the project environment, so pandapower runs
its pure-Python paths (as it warns).
"""

from __future__ import annotations

import argparse
import copy
import logging
import time

import numpy as np
import pandas as pd

from gridlink.grid.feeder import hosting_capacity, load_network, reactive_power_mvar, run_feeder
from gridlink.units import series_with_unit


def synthetic_profile(steps: int, peak_mw: float, seed: int = 0) -> pd.Series:
    """Daily-shaped facility load [MW] on a 15-minute UTC grid, all values distinct."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    daily = 0.75 + 0.15 * np.sin(2 * np.pi * t / 96 - np.pi / 2)
    values = peak_mw * np.clip(daily + rng.normal(0.0, 0.03, steps), 0.0, 1.0)
    idx = pd.date_range("2026-01-01", periods=steps, freq="15min", tz="UTC")
    return series_with_unit(pd.Series(values, index=idx), "MW")


def pandapower_default(net, bus: int, p_mw: np.ndarray, q_mvar: np.ndarray) -> dict:
    """pandapower's default time-series loop (recycling, batch read); returns result arrays."""
    import pandapower as pp
    from pandapower.control import ConstControl
    from pandapower.timeseries import DFData, OutputWriter, run_timeseries

    net = copy.deepcopy(net)
    load = pp.create_load(net, bus=bus, p_mw=0.0, q_mvar=0.0)
    n = len(p_mw)
    data = DFData(pd.DataFrame({"p_mw": p_mw, "q_mvar": q_mvar}))
    ConstControl(net, "load", "p_mw", element_index=[load], data_source=data, profile_name=["p_mw"])
    ConstControl(
        net, "load", "q_mvar", element_index=[load], data_source=data, profile_name=["q_mvar"]
    )
    writer = OutputWriter(net, time_steps=range(n), output_path=None, log_variables=[])
    writer.log_variable("res_bus", "vm_pu")
    writer.log_variable("res_line", "loading_percent")
    writer.log_variable("res_trafo", "loading_percent")
    run_timeseries(
        net, time_steps=range(n), continue_on_divergence=True, verbose=False, numba=False
    )
    out = writer.output
    return {
        "vm_pu": np.asarray(out["res_bus.vm_pu"], dtype=float),
        "line": np.asarray(out["res_line.loading_percent"], dtype=float),
        "trafo": np.asarray(out["res_trafo.loading_percent"], dtype=float),
    }


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.nanmax(np.abs(a - b))) if a.size else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=35_040, help="15-minute steps (a year: 35040)")
    parser.add_argument("--network", default="cigre_mv")
    parser.add_argument("--bus", type=int, default=5)
    parser.add_argument("--peak-mw", type=float, default=3.0)
    parser.add_argument("--load-scaling", type=float, default=0.5)
    parser.add_argument("--paths", default="fast,reference,default", help="comma-separated subset")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    paths = {p.strip() for p in args.paths.split(",")}

    net = load_network(args.network, load_scaling=args.load_scaling)
    profile = synthetic_profile(args.steps, args.peak_mw)
    print(f"network {args.network}, bus {args.bus}, {args.steps} steps of 15 min, "
          f"peak {args.peak_mw} MW, background loads x{args.load_scaling}")  # fmt: skip

    t0 = time.perf_counter()
    fast = run_feeder(net, args.bus, profile, backend="fast")
    t_fast = time.perf_counter() - t0
    print(f"fast (lightsim2grid NR on pandapower's model): {t_fast:8.2f} s "
          f"({fast.n_power_flows} power flows, {fast.n_not_converged} not converged)")  # fmt: skip

    if "fast" in paths:
        t0 = time.perf_counter()
        hc = hosting_capacity(net, args.bus, profile)
        t_hc = time.perf_counter() - t0
        print(f"hosting capacity (fast, {hc.n_evaluations} runs of the period): {t_hc:8.2f} s -> "
              f"{hc.capacity:.3f} MW, binding {hc.binding_constraint} at {hc.binding_element}")  # fmt: skip

    if "reference" in paths:
        t0 = time.perf_counter()
        ref = run_feeder(net, args.bus, profile, backend="pandapower")
        t_ref = time.perf_counter() - t0
        same = np.array_equal(fast.converged.to_numpy(), ref.converged.to_numpy())
        print(f"reference (run_timeseries, runpp every step):  {t_ref:8.2f} s "
              f"({ref.n_not_converged} not converged), speed-up {t_ref / t_fast:.0f}x")  # fmt: skip
        print(f"  same convergence flags: {same}")
        print(f"  max |dV| = {_max_abs(fast.vm_pu.to_numpy(), ref.vm_pu.to_numpy()):.3e} pu, "
              f"max |dloading| = "
              f"{_max_abs(fast.line_loading_percent.to_numpy(), ref.line_loading_percent.to_numpy()):.3e} % "
              f"(lines), "
              f"{_max_abs(fast.trafo_loading_percent.to_numpy(), ref.trafo_loading_percent.to_numpy()):.3e} % "
              f"(trafos)")  # fmt: skip

    if "default" in paths:
        p = fast.p_mw.to_numpy()
        q = reactive_power_mvar(p, pf=0.95)
        t0 = time.perf_counter()
        dflt = pandapower_default(net, args.bus, p, q)
        t_def = time.perf_counter() - t0
        print(f"default (run_timeseries, recycling):           {t_def:8.2f} s, "
              f"speed-up {t_def / t_fast:.0f}x")  # fmt: skip
        print(f"  max |dV| = {_max_abs(fast.vm_pu.to_numpy(), dflt['vm_pu']):.3e} pu, "
              f"max |dloading| = {_max_abs(fast.line_loading_percent.to_numpy(), dflt['line']):.3e} % "
              f"(lines), {_max_abs(fast.trafo_loading_percent.to_numpy(), dflt['trafo']):.3e} % "
              f"(trafos)")  # fmt: skip


if __name__ == "__main__":
    main()
