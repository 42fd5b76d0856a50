"""Facility result: power at every level of the hierarchy and its aggregation (Eqs 10-11).

:class:`FacilityResult` holds the per-rack, per-row and site IT power and the load at the
point of common coupling (PCC); :func:`assemble` builds it from the racks' partial sums;
:func:`resample_energy_mean` and :meth:`FacilityResult.resample` resample to coarser
intervals conserving energy (:mod:`traces.timeseries`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from traces import DT_S
from traces.facility.spec import FacilitySpec, _is_multiple
from traces.facility.traffic import AZURE_ATTRIBUTION
from traces.model.envelope import level_flag, merge_flags, warn_envelope
from traces.outputs import staged_folder
from traces.timeseries import resample_energy

if TYPE_CHECKING:  # pragma: no cover - typing only
    import xarray as xr

logger = logging.getLogger(__name__)


@dataclass
class RackChunk:
    """GPU power of one rack (the unit of work and of memory).

    Attributes
    ----------
    rack : int
        Rack index (row-major).
    gpu_w : numpy.ndarray, shape (T,)
        Rack GPU power, summed over its servers and their replicas [W].
    server_gpu_w : numpy.ndarray, shape (servers_per_rack, T) or None
        Per-server GPU power [W] (only with ``keep_servers``).
    arrivals : numpy.ndarray, shape (n_res,)
        Requests arriving in the rack per output interval (counts).
    methods : dict
        For multi-method chunks: ``method -> gpu_w (T,)``.
    envelope_counts : dict
        ``config_id -> traces.model.envelope.envelope_counts`` of the rack's replicas over the
        horizon (configurations that carry a training envelope).
    envelopes : dict
        ``config_id -> provenance["envelope"]`` of those configurations (what the counts
        are judged against when the result is assembled).
    """

    rack: int
    gpu_w: np.ndarray
    server_gpu_w: np.ndarray | None
    arrivals: np.ndarray
    methods: dict[str, np.ndarray] = field(default_factory=dict)
    server_methods: dict[str, np.ndarray] = field(default_factory=dict)
    #: Out-of-envelope flags of the rack's schedules (traces.model.envelope.merge_flags keys).
    out_of_envelope: dict[str, Any] = field(default_factory=dict)
    envelope_counts: dict[str, np.ndarray] = field(default_factory=dict)
    envelopes: dict[str, dict[str, Any]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------


def resample_energy_mean(series: pd.Series | pd.DataFrame, freq: str) -> pd.Series | pd.DataFrame:
    """Energy-preserving resampling of a regular series to a coarser interval.

    Each output value is the mean power over its interval, so ``sum(out) * freq`` equals
    ``sum(series) * 250 ms`` (the block mean of whole intervals; a Series goes through
    :func:`traces.timeseries.resample_energy` in :meth:`FacilityResult.resample`).

    Parameters
    ----------
    series : pandas.Series or DataFrame
        Power on a regular UTC grid, length a multiple of the new interval.
    freq : str
        Pandas offset alias, not finer than the input step.

    Raises
    ------
    ValueError
        Interval finer than the input, or not a whole number of input steps / partial bins.
    """
    idx = series.index
    step = (idx[1] - idx[0]).total_seconds() if len(idx) > 1 else DT_S
    new = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).total_seconds()
    if new < step - 1e-12 or not _is_multiple(new, step):
        raise ValueError(f"resample: {freq!r} must be a whole multiple of the {step} s input step")
    k = int(round(new / step))
    if len(idx) % k:
        raise ValueError(
            f"resample: {len(idx)} samples are not a whole number of {freq!r} intervals; "
            "choose a horizon that is a multiple of the interval"
        )
    if k == 1:
        return series.copy()
    vals = series.to_numpy(dtype=np.float64)
    shaped = vals.reshape((len(idx) // k, k) + vals.shape[1:])
    mean = shaped.mean(axis=1)
    new_idx = idx[::k]
    new_idx = pd.DatetimeIndex(new_idx, freq=pd.Timedelta(seconds=new), name=idx.name)
    if isinstance(series, pd.DataFrame):
        out: pd.Series | pd.DataFrame = pd.DataFrame(mean, index=new_idx, columns=series.columns)
    else:
        out = pd.Series(mean, index=new_idx, name=series.name)
    out.attrs = dict(series.attrs)
    return out


@dataclass
class FacilityResult:
    """Facility power at every level of the hierarchy (paper §3.4, Eqs 10-11).

    All series share a tz-aware UTC ``DatetimeIndex`` on the 250 ms grid (T,) except
    ``pcc_mw`` and ``arrival_rate_rps`` (at ``spec.resolution``).

    Attributes
    ----------
    spec : FacilitySpec
    method : str
        ``"model"``, ``"tdp"``, ``"mean"`` or ``"lut"``.
    rack_it_kw : pandas.DataFrame, shape (T, n_racks)
        Rack IT power (GPU + base) [kW]; columns MultiIndex (row, rack).
    row_it_kw : pandas.DataFrame, shape (T, rows)
        Row IT power [kW].
    site_gpu_kw : pandas.Series, shape (T,)
        Site GPU power [kW].
    site_it_kw : pandas.Series, shape (T,)
        Site IT power, GPU + base (Eq 10) [kW].
    pcc_mw_250ms : pandas.Series, shape (T,)
        PCC load = PUE x site IT (Eq 11) [MW], named ``p_mw``.
    arrival_rate_rps : pandas.Series
        Facility arrivals per second in each output interval [requests/s].
    server_it_kw : pandas.DataFrame or None, shape (T, N_servers)
        Per-server IT power [kW] (``keep_servers=True`` only); columns MultiIndex
        (row, rack, server).
    server_configs : list of str
        Configuration id per server.
    replicas_per_server : dict
        ``config_id -> replicas``.
    """

    spec: FacilitySpec
    method: str
    rack_it_kw: pd.DataFrame
    row_it_kw: pd.DataFrame
    site_gpu_kw: pd.Series
    site_it_kw: pd.Series
    pcc_mw_250ms: pd.Series
    arrival_rate_rps: pd.Series
    server_it_kw: pd.DataFrame | None
    server_configs: list[str]
    replicas_per_server: dict[str, int]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def out_of_envelope(self) -> bool:
        """True when a schedule's prompt lengths, context or concurrency lay beyond a
        configuration's fitted range (details: ``metadata["out_of_envelope"]``)."""
        return bool(self.metadata.get("out_of_envelope"))

    @property
    def pcc_mw(self) -> pd.Series:
        """PCC load at ``spec.resolution`` [MW] (energy-preserving mean), named ``p_mw``."""
        return self.pcc(self.spec.resolution)

    def pcc(self, freq: str) -> pd.Series:
        """PCC load resampled to ``freq`` by energy-preserving averaging [MW], ``p_mw``."""
        return _resample(self.pcc_mw_250ms, freq)

    def resample(self, freq: str) -> FacilityResult:
        """All series of the result at a coarser interval (energy preserved)."""
        return replace(
            self,
            rack_it_kw=_resample(self.rack_it_kw, freq),
            row_it_kw=_resample(self.row_it_kw, freq),
            site_gpu_kw=_resample(self.site_gpu_kw, freq),
            site_it_kw=_resample(self.site_it_kw, freq),
            pcc_mw_250ms=_resample(self.pcc_mw_250ms, freq),
            server_it_kw=None if self.server_it_kw is None else _resample(self.server_it_kw, freq),
        )

    def energy_mwh(self) -> float:
        """PCC energy over the horizon [MWh]."""
        return float(self.pcc_mw_250ms.sum() * DT_S / 3600.0)

    def to_xarray(self) -> xr.Dataset:
        """An ``xarray.Dataset`` with ``rack_it_kw (time, rack)``, ``row_it_kw (time, row)``,
        ``site_it_kw (time)``, ``pcc_mw (time)``; units in ``attrs``."""
        import xarray as xr

        time = self.site_it_kw.index.tz_convert("UTC").tz_localize(None)
        rack_row = [r for r, _ in self.rack_it_kw.columns]
        rack_pos = [k for _, k in self.rack_it_kw.columns]
        ds = xr.Dataset(
            {
                "rack_it_kw": (("time", "rack"), self.rack_it_kw.to_numpy(), {"units": "kW"}),
                "row_it_kw": (("time", "row"), self.row_it_kw.to_numpy(), {"units": "kW"}),
                "site_gpu_kw": ("time", self.site_gpu_kw.to_numpy(), {"units": "kW"}),
                "site_it_kw": ("time", self.site_it_kw.to_numpy(), {"units": "kW"}),
                "pcc_mw": ("time", self.pcc_mw_250ms.to_numpy(), {"units": "MW"}),
            },
            coords={
                "time": ("time", time, {"timezone": "UTC"}),
                "rack": np.arange(self.rack_it_kw.shape[1]),
                "rack_row": ("rack", np.asarray(rack_row)),
                "rack_in_row": ("rack", np.asarray(rack_pos)),
                "row": np.arange(self.row_it_kw.shape[1]),
            },
            attrs={
                "method": self.method,
                "pue": self.spec.pue,
                "source": "gridlink traces.facility",
            },
        )
        return ds

    def write(
        self,
        out_dir: str | Path,
        *,
        csv: bool = False,
        meta: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> dict[str, Path]:
        """Write the result: Parquet (and CSV on request) plus ``summary.json``.

        Files: ``pcc_mw.parquet`` (PCC at ``spec.resolution``, column ``p_mw`` [MW]),
        ``pcc_mw_250ms.parquet``, ``site_kw.parquet`` (site GPU and IT power at the
        resolution [kW]), ``racks_kw.parquet`` / ``rows_kw.parquet`` (IT power at the
        resolution [kW], columns ``r<row>_k<rack>`` / ``row<row>``), ``servers_kw.parquet``
        when per-server series were kept, ``arrivals.parquet``, and ``summary.json``
        (spec, peak/mean/energy, provenance and attribution).

        The folder is written as a whole (:func:`traces.outputs.staged_folder`): a
        reader sees the previous result or the complete new one, never a part.

        Parameters
        ----------
        overwrite : bool
            Replace an existing non-empty ``out_dir`` as a whole (no stale files of an
            earlier run stay beside the new ones); without it an existing result is
            refused.

        Returns
        -------
        dict
            Name -> path of each file written.

        Raises
        ------
        traces.outputs.OutputError
            ``out_dir`` holds results and ``overwrite`` is false, or is not writable.
        """
        with staged_folder(out_dir, overwrite=overwrite, name="out_dir") as tmp:
            files = self._write_into(tmp, Path(out_dir), csv=csv, meta=meta)
        return files

    def _write_into(
        self, out: Path, final: Path, *, csv: bool, meta: Mapping[str, Any] | None
    ) -> dict[str, Path]:
        """Write every file into ``out``; return their paths under ``final``."""
        import json

        freq = self.spec.resolution
        racks = _resample(self.rack_it_kw, freq)
        racks.columns = [f"r{r:02d}_k{k:02d}_kw" for r, k in racks.columns]
        rows = _resample(self.row_it_kw, freq)
        rows.columns = [f"row{r:02d}_kw" for r in rows.columns]
        tables: dict[str, pd.DataFrame] = {
            "pcc_mw": self.pcc_mw.to_frame("p_mw"),
            "pcc_mw_250ms": self.pcc_mw_250ms.to_frame("p_mw"),
            "site_kw": pd.DataFrame(
                {
                    "site_gpu_kw": _resample(self.site_gpu_kw, freq),
                    "site_it_kw": _resample(self.site_it_kw, freq),
                }
            ),
            "racks_kw": racks,
            "rows_kw": rows,
            "arrivals": self.arrival_rate_rps.to_frame("arrival_rate_rps"),
        }
        if self.server_it_kw is not None:
            srv = _resample(self.server_it_kw, freq)
            srv.columns = [f"r{r:02d}_k{k:02d}_s{s:02d}_kw" for r, k, s in srv.columns]
            tables["servers_kw"] = srv
        files: dict[str, Path] = {}
        for name, df in tables.items():
            df = df.copy()
            df.attrs = {}
            files[name] = final / f"{name}.parquet"
            df.to_parquet(out / files[name].name)
            if csv:
                files[f"{name}_csv"] = final / f"{name}.csv"
                df.to_csv(out / files[f"{name}_csv"].name)
        p = self.pcc_mw
        summary = {
            "method": self.method,
            "n_servers": self.spec.n_servers,
            "replicas_per_server": self.replicas_per_server,
            "peak_mw": float(self.pcc_mw_250ms.max()),
            "peak_mw_at_resolution": float(p.max()),
            "mean_mw": float(p.mean()),
            "energy_mwh": self.energy_mwh(),
            "resolution": freq,
            "units": {"p_mw": "MW", "*_kw": "kW", "arrival_rate_rps": "requests/s"},
            "spec": self.spec.to_dict(),
            "metadata": {k: v for k, v in self.metadata.items() if k != "spec"},
            "meta": dict(meta or {}),
            "files": {k: str(v) for k, v in files.items()},
        }
        files["summary"] = final / "summary.json"
        (out / "summary.json").write_text(
            json.dumps(summary, indent=2, default=str), encoding="utf-8"
        )
        return files

    def levels_kw(self) -> dict[str, pd.DataFrame | pd.Series]:
        """Power at each level [kW]: server (if kept), rack, row, site (IT)."""
        out: dict[str, Any] = {}
        if self.server_it_kw is not None:
            out["server"] = self.server_it_kw
        out["rack"] = self.rack_it_kw
        out["row"] = self.row_it_kw
        out["site"] = self.site_it_kw
        return out


def _resample(obj: pd.Series | pd.DataFrame, freq: str) -> pd.Series | pd.DataFrame:
    if isinstance(obj, pd.DataFrame):
        return resample_energy_mean(obj, freq)
    out = resample_energy(obj, freq)
    out.name = obj.name
    out.attrs = dict(obj.attrs)
    return out


def _series(values: np.ndarray, index: pd.DatetimeIndex, name: str, unit: str) -> pd.Series:
    s = pd.Series(values, index=index, name=name)
    s.attrs["unit"] = unit
    return s


def assemble(
    spec: FacilitySpec,
    chunks: Mapping[int, RackChunk] | Iterator[RackChunk],
    *,
    method: str,
    keep_servers: bool = False,
    replicas: dict[str, int] | None = None,
) -> FacilityResult:
    """Aggregate rack chunks to racks, rows, site IT and PCC (Eqs 10-11).

    Streams: each chunk is folded into the rack matrix and dropped.
    """
    T = spec.n_steps
    index = spec.index()
    rack_gpu = np.zeros((spec.n_racks, T), dtype=np.float64)
    servers = np.zeros((spec.n_servers, T), dtype=np.float64) if keep_servers else None
    n_res = int(round(spec.horizon_s / spec.resolution_s))
    arrivals = np.zeros(n_res, dtype=np.int64)
    seen = np.zeros(spec.n_racks, dtype=bool)
    envelope_flags: dict[str, Any] = {}
    env_counts: dict[str, np.ndarray] = {}
    envelopes: dict[str, dict[str, Any]] = {}
    it = chunks.values() if isinstance(chunks, Mapping) else chunks
    for ch in it:
        for f in ch.out_of_envelope.values():  # one at a time: two configurations may
            merge_flags(envelope_flags, {f["quantity"]: f})  # share a quantity in a rack
        gpu = ch.methods.get(method, ch.gpu_w)
        rack_gpu[ch.rack] = gpu
        seen[ch.rack] = True
        arrivals += ch.arrivals
        for cid, c in ch.envelope_counts.items():
            env_counts[cid] = env_counts.get(cid, 0) + c
        envelopes.update(ch.envelopes)
        if servers is not None:
            sv = ch.server_methods.get(method, ch.server_gpu_w)
            assert sv is not None
            s0 = ch.rack * spec.servers_per_rack
            servers[s0 : s0 + spec.servers_per_rack] = sv
    if not seen.all():
        raise RuntimeError(f"racks missing from the result: {np.flatnonzero(~seen).tolist()}")
    base_kw = spec.it_base_kw_per_server
    rack_it = rack_gpu.T / 1e3 + base_kw * spec.servers_per_rack  # (T, n_racks) kW
    cols = pd.MultiIndex.from_tuples(
        [spec.rack_location(r) for r in range(spec.n_racks)], names=["row", "rack"]
    )
    rack_df = pd.DataFrame(rack_it, index=index, columns=cols)
    rack_df.attrs["unit"] = "kW"
    row_it = rack_it.reshape(T, spec.rows, spec.racks_per_row).sum(axis=2)
    row_df = pd.DataFrame(row_it, index=index, columns=pd.Index(range(spec.rows), name="row"))
    row_df.attrs["unit"] = "kW"
    site_it = row_it.sum(axis=1)
    site_gpu = rack_gpu.sum(axis=0) / 1e3
    pcc_mw = spec.pue * site_it / 1e3
    server_df = None
    if servers is not None:
        scols = pd.MultiIndex.from_tuples(
            [
                (*spec.rack_location(s // spec.servers_per_rack), s % spec.servers_per_rack)
                for s in range(spec.n_servers)
            ],
            names=["row", "rack", "server"],
        )
        server_df = pd.DataFrame(servers.T / 1e3 + base_kw, index=index, columns=scols)
        server_df.attrs["unit"] = "kW"
    res_idx = pd.date_range(
        spec.start, periods=n_res, freq=pd.Timedelta(seconds=spec.resolution_s), name="time"
    )
    meta: dict[str, Any] = {"spec": spec.to_dict(), "method": method}
    # concurrency-level tallies of the whole facility (issue 12) become flags of the same
    # form as the token and concurrency ranges (issue 16): one flag, one warning path
    for cid, c in env_counts.items():
        merge_flags(envelope_flags, level_flag(cid, envelopes.get(cid, {}), c))
    if envelope_flags:  # the scenario lies outside a configuration's fit
        warn_envelope(envelope_flags)
        meta["out_of_envelope"] = envelope_flags
    meta["envelope_counts"] = {
        cid: dict(
            zip(("n_steps", "n_busy", "n_sparse_level", "n_above_max"), map(int, c), strict=True)
        )
        for cid, c in env_counts.items()
    }
    if spec.scenario.arrival == "azure" or spec.scenario.tokens.startswith("azure"):
        meta["attribution"] = AZURE_ATTRIBUTION
    if spec.scenario.profile_label:
        meta["profile_label"] = spec.scenario.profile_label
    return FacilityResult(
        spec=spec,
        method=method,
        rack_it_kw=rack_df,
        row_it_kw=row_df,
        site_gpu_kw=_series(site_gpu, index, "site_gpu_kw", "kW"),
        site_it_kw=_series(site_it, index, "site_it_kw", "kW"),
        pcc_mw_250ms=_series(pcc_mw, index, "p_mw", "MW"),
        arrival_rate_rps=_series(arrivals / spec.resolution_s, res_idx, "arrival_rate_rps", "1/s"),
        server_it_kw=server_df,
        server_configs=spec.server_configs(),
        replicas_per_server=replicas or {},
        metadata=meta,
    )
