"""The two power-flow backends of a feeder time series (see :mod:`gridlink.grid.feeder`):
``"pandapower"`` (``run_timeseries``, the reference) and ``"fast"`` (lightsim2grid's
Newton-Raphson on pandapower's internal model, one solve per distinct injection), and
the choice between them.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from gridlink.grid.feeder.networks import FeederError

if TYPE_CHECKING:  # typing only: pandapower is imported where it runs
    from pandapower.auxiliary import pandapowerNet

logger = logging.getLogger(__name__)


Backend = Literal["auto", "fast", "pandapower"]


#: Newton-Raphson settings shared by both backends (pandapower's defaults).
TOLERANCE_MVA = 1e-8
MAX_ITERATION = 10


_SQRT3 = math.sqrt(3.0)


def _fast_path_blockers(net: pandapowerNet) -> list[str]:
    """Reasons why the fast backend would not reproduce pandapower (empty if none)."""
    reasons = []
    if "controller" in net and len(net.controller) and net.controller["in_service"].any():
        reasons.append(f"{int(net.controller['in_service'].sum())} controller(s) in net.controller")
    load = net.load[net.load["in_service"].astype(bool)]
    for col in ("const_z_p_percent", "const_i_p_percent", "const_z_q_percent", "const_i_q_percent",
                "const_z_percent", "const_i_percent"):  # fmt: skip
        if col in load and (load[col].fillna(0.0) != 0).any():
            reasons.append(f"voltage-dependent loads (net.load.{col} != 0)")
            break
    if "slack_weight" in net.gen and (net.gen["slack_weight"].fillna(0.0) != 0).any():
        reasons.append("distributed slack weights on net.gen")
    for table in ("trafo3w", "impedance", "xward", "ward", "svc", "tcsc", "ssc", "vsc", "dcline"):
        if table in net and len(net[table]) and net[table]["in_service"].any():
            reasons.append(f"net.{table} (not checked against the fast path)")
    return reasons


def _pp_runpp(net: pandapowerNet, **kwargs: Any) -> None:
    import pandapower as pp

    pp.runpp(
        net,
        numba=False,
        tolerance_mva=TOLERANCE_MVA,
        max_iteration=MAX_ITERATION,
        **kwargs,
    )


class _FastModel:
    """pandapower's internal model of ``net`` with the facility load at zero.

    Built from one ordinary ``pandapower.runpp``; then :meth:`solve` runs one
    lightsim2grid Newton-Raphson per distinct facility injection ``(p, q)``.
    """

    def __init__(self, net: pandapowerNet, bus: int) -> None:
        from pandapower.auxiliary import LoadflowNotConverged
        from pandapower.pypower.idx_brch import F_BUS, T_BUS
        from pandapower.pypower.idx_bus import BASE_KV
        from pandapower.results_bus import _get_bus_idx

        try:
            from lightsim2grid.algorithm import NRSing_KLU as _Solver
        except ImportError:  # pragma: no cover - KLU is part of the wheels
            from lightsim2grid.algorithm import NRSing_SparseLU as _Solver

        try:
            _pp_runpp(net)
        except LoadflowNotConverged as exc:
            raise FeederError(
                "net: the power flow of the network without the facility does not converge; "
                "check the network (pandapower.diagnostic(net))"
            ) from exc
        internal = net._ppc["internal"]
        self.net = net
        self.base_mva = float(internal["baseMVA"])
        self.ybus = internal["Ybus"].tocsc()
        self.ybus.sum_duplicates()
        self.sbus0 = np.asarray(internal["Sbus"], dtype=np.complex128).copy()
        self.v0 = np.asarray(internal["V"], dtype=np.complex128).copy()
        self.ref = np.asarray(internal["ref"], dtype=np.int64)
        self.pv = np.asarray(internal["pv"], dtype=np.int64)
        self.pq = np.asarray(internal["pq"], dtype=np.int64)
        self.slack_weights = np.zeros(len(self.v0))
        self.k = int(net._pd2ppc_lookups["bus"][int(bus)])
        if self.k >= len(self.v0) or self.k < 0:
            raise FeederError(f"bus: {bus} is not energised (not in pandapower's internal model)")
        if self.k in set(self.ref.tolist()) or self.k in set(self.pv.tolist()):
            raise FeederError(
                f"bus: {bus} is a slack or voltage-controlled (PV) bus; the facility's power "
                "would be absorbed by its generator. Choose a PQ bus."
            )
        self.solver = _Solver()
        # branch data (in-service branches of ppci) for the flows
        branch = internal["branch"]
        self.yf = internal["Yf"].tocsr()
        self.yt = internal["Yt"].tocsr()
        self.f_bus = np.real(branch[:, F_BUS]).astype(np.int64)
        self.t_bus = np.real(branch[:, T_BUS]).astype(np.int64)
        self.base_kv = np.real(internal["bus"][:, BASE_KV]).astype(np.float64)
        self.branch_is = np.asarray(internal["branch_is"], dtype=bool)
        self.n_branch_ppc = int(net._ppc["branch"].shape[0])
        self.n_bus_ppc = int(net._ppc["bus"].shape[0])
        self.bus_idx = np.asarray(_get_bus_idx(net), dtype=np.int64)
        self.lookups = net._pd2ppc_lookups["branch"]
        self.trafo_loading = net._options["trafo_loading"]

    def solve(
        self, p_mw: np.ndarray, q_mvar: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Solve each distinct ``(p, q)``.

        Returns V (U, n_ppci) and converged (U,) per distinct injection, and the inverse
        index (T,) from each step to its injection (``V[inverse]`` is per step).
        """
        pq_pairs = np.column_stack([p_mw, q_mvar])
        uniq, inverse = np.unique(pq_pairs, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        n_u = len(uniq)
        v_u = np.full((n_u, len(self.v0)), np.nan + 0j, dtype=np.complex128)
        ok_u = np.zeros(n_u, dtype=bool)
        # np.unique sorts by p then q: neighbours are close, so warm starts help
        v_start = self.v0
        for i in range(n_u):
            sbus = self.sbus0.copy()
            sbus[self.k] -= complex(uniq[i, 0], uniq[i, 1]) / self.base_mva
            starts = (v_start,) if v_start is self.v0 else (v_start, self.v0)
            for v_init in starts:
                self.solver.solve(
                    self.ybus, v_init, sbus, self.ref, self.slack_weights, self.pv, self.pq,
                    MAX_ITERATION, TOLERANCE_MVA,
                )  # fmt: skip
                if self.solver.converged():
                    break
            if self.solver.converged():
                v = self.solver.get_Vm() * np.exp(1j * self.solver.get_Va())
                v_u[i] = v
                ok_u[i] = True
                v_start = v
        return v_u, ok_u, inverse

    def tables(self, v: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """vm (n, n_bus), line loading (n, n_line), trafo loading (n, n_trafo) from V (n, n_ppci)."""
        net = self.net
        n = v.shape[0]
        vm_ppci = np.abs(v)
        vm_ppc = np.full((n, self.n_bus_ppc), np.nan)
        vm_ppc[:, : vm_ppci.shape[1]] = vm_ppci
        vm_bus = vm_ppc[:, self.bus_idx]
        # branch currents as pandapower.pf.pfsoln_numba.calc_branch_flows_batch, vectorised
        i_abs = []
        for y, idx in ((self.yf, self.f_bus), (self.yt, self.t_bus)):
            s = v[:, idx] * np.conj((y @ v.T).T) * self.base_mva
            with np.errstate(invalid="ignore", divide="ignore"):
                i_ka = np.abs(s) / (np.abs(v[:, idx]) * self.base_kv[idx]) / _SQRT3
            full = np.full((n, self.n_branch_ppc), np.nan)
            full[:, self.branch_is] = i_ka
            i_abs.append(full)
        line_loading = np.full((n, len(net.line)), np.nan)
        if "line" in self.lookups and len(net.line):
            f, t = self.lookups["line"]
            i_max = (net.line["max_i_ka"] * net.line["df"] * net.line["parallel"]).to_numpy(
                np.float64
            )
            line_loading = np.maximum(i_abs[0][:, f:t], i_abs[1][:, f:t]) / i_max * 100.0
        trafo_loading = np.full((n, len(net.trafo)), np.nan)
        if "trafo" in self.lookups and len(net.trafo):
            f, t = self.lookups["trafo"]
            tr = net.trafo
            sn = tr["sn_mva"].to_numpy(np.float64)
            if self.trafo_loading == "current":
                hv = i_abs[0][:, f:t] * tr["vn_hv_kv"].to_numpy(np.float64) * _SQRT3 / sn * 100.0
                lv = i_abs[1][:, f:t] * tr["vn_lv_kv"].to_numpy(np.float64) * _SQRT3 / sn * 100.0
                ld = np.maximum(hv, lv)
            else:
                s_f = np.abs(v[:, self.f_bus] * np.conj((self.yf @ v.T).T)) * self.base_mva
                s_t = np.abs(v[:, self.t_bus] * np.conj((self.yt @ v.T).T)) * self.base_mva
                s_full = np.full((n, self.n_branch_ppc), np.nan)
                s_full[:, self.branch_is] = np.maximum(s_f, s_t)
                ld = s_full[:, f:t] / sn * 100.0
            trafo_loading = ld / tr["parallel"].to_numpy(np.float64) / tr["df"].to_numpy(np.float64)
        for arr in (vm_bus, line_loading, trafo_loading):
            arr[~ok] = np.nan
        # out-of-service lines/trafos carry no current: pandapower reports 0 %
        line_loading[:, ~net.line["in_service"].to_numpy(bool)] = 0.0
        trafo_loading[:, ~net.trafo["in_service"].to_numpy(bool)] = 0.0
        line_loading[~ok] = np.nan
        trafo_loading[~ok] = np.nan
        return vm_bus, line_loading, trafo_loading


def _run_fast(net: pandapowerNet, bus: int, p: np.ndarray, q: np.ndarray) -> tuple:
    model = _FastModel(net, bus)
    v_u, ok_u, inverse = model.solve(p, q)
    vm_u, line_u, trafo_u = model.tables(v_u, ok_u)
    return vm_u[inverse], line_u[inverse], trafo_u[inverse], ok_u[inverse], len(ok_u)


def _run_pandapower(net: pandapowerNet, load_idx: int, p: np.ndarray, q: np.ndarray) -> tuple:
    from pandapower.control import ConstControl
    from pandapower.timeseries import DFData, OutputWriter, run_timeseries

    n = len(p)
    steps = range(n)
    data = DFData(pd.DataFrame({"p_mw": p, "q_mvar": q}, index=pd.RangeIndex(n)))
    ConstControl(net, element="load", variable="p_mw", element_index=[load_idx],
                 data_source=data, profile_name=["p_mw"])  # fmt: skip
    ConstControl(net, element="load", variable="q_mvar", element_index=[load_idx],
                 data_source=data, profile_name=["q_mvar"])  # fmt: skip
    # an independent per-step convergence flag, written by the run function itself:
    # pandapower's result arrays keep stale (recycled) or zero values for a failed step
    import pandapower as pp

    net["gridlink_pf"] = pd.DataFrame({"converged": [0.0]})

    def run(net: pandapowerNet, **kwargs: Any) -> None:
        net["gridlink_pf"].at[0, "converged"] = 0.0
        pp.runpp(net, **kwargs)
        net["gridlink_pf"].at[0, "converged"] = 1.0 if net.converged else 0.0

    writer = OutputWriter(net, time_steps=steps, output_path=None, log_variables=[])
    writer.log_variable("gridlink_pf", "converged")
    writer.log_variable("res_bus", "vm_pu")
    writer.log_variable("res_line", "loading_percent")
    if len(net.trafo):
        writer.log_variable("res_trafo", "loading_percent")
    run_timeseries(
        net,
        time_steps=steps,
        continue_on_divergence=True,
        verbose=False,
        numba=False,
        tolerance_mva=TOLERANCE_MVA,
        max_iteration=MAX_ITERATION,
        run=run,
    )
    out = writer.output
    flagged = out["gridlink_pf.converged"].to_numpy(np.float64)[:, 0] == 1.0
    failed = out["Parameters"]["powerflow_failed"].to_numpy(bool) | ~flagged
    ok = ~failed
    vm = out["res_bus.vm_pu"].reindex(columns=net.bus.index).to_numpy(np.float64).copy()
    line = (
        out["res_line.loading_percent"].reindex(columns=net.line.index).to_numpy(np.float64).copy()
    )
    if len(net.trafo):
        trafo = (
            out["res_trafo.loading_percent"]
            .reindex(columns=net.trafo.index)
            .to_numpy(np.float64)
            .copy()
        )
    else:
        trafo = np.full((n, 0), np.nan)
    for arr in (vm, line, trafo):
        arr[failed] = np.nan  # pandapower leaves stale or zero values for a failed step
    return vm, line, trafo, ok, n


def _choose_backend(net: pandapowerNet, backend: str) -> str:
    if backend not in ("auto", "fast", "pandapower"):
        raise FeederError(f"backend: expected 'auto', 'fast' or 'pandapower', got {backend!r}")
    if backend == "pandapower":
        return backend
    blockers = _fast_path_blockers(net)
    if not blockers:
        return "fast"
    if backend == "fast":
        raise FeederError(
            "backend='fast' cannot reproduce pandapower on this network: "
            + "; ".join(blockers)
            + ". Use backend='pandapower' (or 'auto')."
        )
    logger.info("fast backend not applicable (%s); using pandapower", "; ".join(blockers))
    return "pandapower"
