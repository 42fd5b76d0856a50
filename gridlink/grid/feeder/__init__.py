"""pandapower feeder adapter: a datacenter's PCC load on a distribution feeder over time.

A facility is attached to a bus of any pandapower network as one load (consumer
sign convention: positive ``p_mw`` draws active power from the grid, positive
``q_mvar`` absorbs reactive power, i.e. a lagging power factor).  Its profile is
played as a time series of AC power flows; the results (bus voltages, line and
transformer loading, convergence) come back on the profile's UTC timestamps,
together with the steps and durations in violation of planning limits and the
binding element.  On top sit :func:`compare_profiles` (several profiles of the same
facility, one table) and :func:`hosting_capacity` (the largest facility a bus takes
without violations, by bisection).

Two backends solve the same model:

``"pandapower"``
    pandapower's own time-series loop (``DFData`` + ``ConstControl`` +
    ``OutputWriter`` + ``run_timeseries``), the reference.  A step whose power
    flow fails is flagged from the OutputWriter's ``powerflow_failed`` column and its
    results are set to NaN (pandapower leaves the previous or zero values in the
    result arrays of a failed step).
``"fast"``
    The admittance matrix and injections are taken once from pandapower's internal
    model (``net._ppc["internal"]``) and each *distinct* facility injection is
    solved with lightsim2grid's Newton-Raphson solver (C++, KLU), warm-started from
    the nearest solved injection; branch currents and loadings use pandapower's
    formulas (``pandapower.timeseries.read_batch_results``), vectorised.  Valid when
    nothing but the facility changes between steps: no controllers in the network,
    no voltage-dependent loads, no distributed slack, no enforced reactive limits
    (checked; otherwise ``"auto"`` falls back to ``"pandapower"``).
``"auto"`` (default)
    ``"fast"`` when valid, else ``"pandapower"``.

Both backends converge to the same tolerance (``tolerance_mva = 1e-8`` per unit
mismatch); the voltages agree to about 1e-9 pu (see ``benchmarks/bench_feeder.py``).

The background loads and generators of the network stay at their static values
(``p_mw * scaling``) over the whole period; scale them with
``load_network(..., load_scaling=...)`` or ``net.load["scaling"]``.

References
----------
.. [1] L. Thurner et al., "pandapower - An Open-Source Python Tool for Convenient
   Modeling, Analysis, and Optimization of Electric Power Systems," IEEE Trans.
   Power Syst. 33(6), 6510-6521, 2018. doi:10.1109/TPWRS.2018.2829021
.. [2] B. Donnot, "LightSim2grid: a c++ backend for Grid2Op," 2020.
   https://github.com/Grid2Op/lightsim2grid
.. [3] K. Strunz et al., "Benchmark Systems for Network Integration of Renewable and
   Distributed Energy Resources," CIGRE TF C6.04.02, 2014 (the CIGRE MV network).

Modules: :mod:`~gridlink.grid.feeder.networks` (networks by name, :class:`Limits`, the
facility load), :mod:`~gridlink.grid.feeder.timeseries` (profiles, :func:`run_feeder`),
:mod:`~gridlink.grid.feeder.backends` (the two solvers), :mod:`~gridlink.grid.feeder.result`
(:class:`FeederResult`), :mod:`~gridlink.grid.feeder.hosting` (:func:`compare_profiles`,
:func:`hosting_capacity`) and :mod:`~gridlink.grid.feeder.plots`.  Everything public is
re-exported here: ``from gridlink.grid.feeder import X`` is the stable path.
"""

from __future__ import annotations

from gridlink.grid.feeder.backends import MAX_ITERATION, TOLERANCE_MVA, Backend
from gridlink.grid.feeder.hosting import HostingCapacityResult, compare_profiles, hosting_capacity
from gridlink.grid.feeder.networks import (
    NETWORKS,
    FeederError,
    Limits,
    attach_facility,
    load_network,
)
from gridlink.grid.feeder.plots import plot_voltage
from gridlink.grid.feeder.result import FeederResult
from gridlink.grid.feeder.timeseries import (
    prepare_profile,
    reactive_power_mvar,
    read_profile,
    read_profile_q,
    run_feeder,
)

__all__ = [
    "NETWORKS",
    "Backend",
    "TOLERANCE_MVA",
    "MAX_ITERATION",
    "FeederError",
    "Limits",
    "FeederResult",
    "HostingCapacityResult",
    "load_network",
    "read_profile",
    "read_profile_q",
    "prepare_profile",
    "reactive_power_mvar",
    "attach_facility",
    "run_feeder",
    "compare_profiles",
    "hosting_capacity",
    "plot_voltage",
]
