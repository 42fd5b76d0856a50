"""``gridlink interconnection``: the large-load interconnection study in one command.

Generates the facility's PCC load from a planner config (``--config hall.toml``, as
``gridlink generate``) or reads one (``--profile PCC.parquet``, as ``gridlink
feeder``), computes the ramp distribution (1 s .. 1 h), the load-duration curve, the
spectrum, a load-loss event, the ride-through of given PCC sags and the worst-case
loss, runs the normal and the event feeder studies (pandapower, quasi-static), and
writes one report folder (``report.html`` + CSV/JSON + PNG; see
:mod:`gridlink.studies.interconnection.report`).  Definitions: ``docs/interconnection.md``.

``--event`` and ``--sag`` take ``key=value`` lists::

    --event "at=2024-05-16T12:00:00Z,share=0.5,duration=90s,ramp=5,stagger=2s"
    --sag "at=2024-05-16T12:00:00Z,v=0.6,duration=0.3s"    (repeatable)

Event keys: ``at`` (UTC time; default the highest 250 ms load whose study window fits), ``share`` (0..1, default 1),
``duration`` (default 60s), ``ramp`` (return ramp limit [MW/min]; default at once),
``stagger`` (per-rack return delay), ``order`` (row-major or random), ``seed``.
Sag keys: ``at``, ``v`` (residual voltage [pu]), ``duration``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

_EVENT_KEYS = {"at", "share", "duration", "ramp", "stagger", "order", "seed"}
_SAG_KEYS = {"at", "v", "duration"}


def _pairs(text: str, allowed: set[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in item:
            raise ValueError(f"{option}: {item!r} is not key=value (e.g. share=0.5)")
        key, value = (s.strip() for s in item.split("=", 1))
        if key not in allowed:
            raise ValueError(f"{option}: unknown key {key!r}; allowed: {sorted(allowed)}")
        out[key] = value
    return out


def _seconds(value: str, option: str) -> float:
    import pandas as pd

    try:
        return float(value)
    except ValueError:
        pass
    try:
        return pd.Timedelta(value).total_seconds()
    except ValueError as exc:
        raise ValueError(f"{option}: cannot read {value!r} as a duration (e.g. 60s, 2min)") from exc


def _number(value: str, option: str) -> float:
    try:
        return float(value)
    except ValueError as exc:
        raise ValueError(f"{option}: expected a number, got {value!r}") from exc


def parse_event(text: str | None, pcc: Any) -> Any:
    """``--event`` -> :class:`~gridlink.studies.interconnection.load_loss.LoadLossEvent` (None if absent).

    Without ``at=`` the event starts at
    :func:`gridlink.studies.interconnection.study.default_event_time` of ``pcc``.
    """
    from gridlink.studies.interconnection.load_loss import LoadLossEvent
    from gridlink.studies.interconnection.study import default_event_time

    if text is None:
        return None
    kv = _pairs(text, _EVENT_KEYS, "--event")
    duration_s = _seconds(kv.get("duration", "60s"), "--event duration")
    return LoadLossEvent(
        start=kv["at"] if "at" in kv else default_event_time(pcc, duration_s),
        share=_number(kv.get("share", "1"), "--event share"),
        duration_s=duration_s,
        return_ramp_mw_per_min=_number(kv["ramp"], "--event ramp") if "ramp" in kv else None,
        stagger_s=_seconds(kv.get("stagger", "0"), "--event stagger"),
        order=kv.get("order", "row-major"),  # type: ignore[arg-type]
        seed=int(_number(kv.get("seed", "0"), "--event seed")),
    )


def parse_sag(text: str) -> Any:
    """``--sag`` -> :class:`~gridlink.studies.interconnection.ride_through.Sag`."""
    from gridlink.studies.interconnection.ride_through import Sag

    kv = _pairs(text, _SAG_KEYS, "--sag")
    for key in ("at", "v", "duration"):
        if key not in kv:
            raise ValueError(
                f"--sag: missing {key}= (e.g. at=2024-05-16T12:00:00Z,v=0.6,duration=0.3s)"
            )
    return Sag(kv["at"], _number(kv["v"], "--sag v"), _seconds(kv["duration"], "--sag duration"))


def register(app: typer.Typer) -> None:
    """Register the ``interconnection`` command on ``app``."""

    @app.command("interconnection")
    def interconnection(
        config: Path = typer.Option(None, "--config", "-c", help="Facility config (.toml/.yaml) to generate the PCC load."),
        profile: Path = typer.Option(None, "--profile", help="Or: a PCC profile file (p_mw, tz-aware time)."),
        racks: int = typer.Option(1, "--racks", help="With --profile: split the load into N equal racks."),
        event: str = typer.Option(None, "--event", help="Load-loss event, e.g. 'share=0.5,duration=90s,ramp=5,stagger=2s' (keys: at, share, duration, ramp, stagger, order, seed; default: all servers for 60 s at the highest load whose study window fits)."),
        sag: list[str] = typer.Option(None, "--sag", help="PCC sag, e.g. 'at=2024-05-16T00:10:00Z,v=0.6,duration=0.3s' (repeatable)."),
        envelope: Path = typer.Option(None, "--envelope", help="Ride-through envelope CSV (voltage_pu, duration_s)."),
        rack_settings: Path = typer.Option(None, "--rack-settings", help="Per-rack CSV: v_transfer_pu, t_transfer_s, return_delay_s."),
        v_transfer: float = typer.Option(0.70, "--v-transfer", help="UPS transfer below this voltage [pu] (all racks)."),
        t_transfer: float = typer.Option(0.020, "--t-transfer", help="... after the sag lasts longer than this [s]."),
        return_delay: float = typer.Option(60.0, "--return-delay", help="Return this long after the sag [s]."),
        rack_stagger: float = typer.Option(0.0, "--rack-stagger", help="Per-rack return stagger [s]."),
        return_ramp: float = typer.Option(None, "--return-ramp", help="Return ramp limit [MW/min]."),
        dip_count: int = typer.Option(None, "--dip-count", help="Transfer after this many dips ..."),
        dip_window: float = typer.Option(60.0, "--dip-window", help="... within this window [s]."),
        network: str = typer.Option("cigre_mv", "--network", help="pandapower network: cigre_mv, mv_oberrhein, case33bw."),
        bus: int = typer.Option(..., "--bus", help="Index of the PCC bus in net.bus."),
        load_scaling: float = typer.Option(1.0, "--load-scaling", help="Multiplier on the network's own loads."),
        pf: float = typer.Option(0.95, "--pf", help="Power factor (0 < pf <= 1)."),
        leading: bool = typer.Option(False, "--leading", help="Leading instead of lagging pf."),
        q_table: Path = typer.Option(None, "--q-table", help="CSV p_mw,q_mvar: Q per load level instead of --pf."),
        event_step: str = typer.Option("250ms", "--event-step", help="Event feeder study step: 250ms or 1s."),
        normal_freq: str = typer.Option("1min", "--normal-freq", help="Step of the whole-horizon feeder run."),
        loss_limit_mw: float = typer.Option(2600.0, "--loss-limit-mw", help="Worst-case loss limit [MW] (ERCOT's cited 2,600 MW)."),
        step_threshold_mw: float = typer.Option(None, "--step-threshold-mw", help="Ramp count threshold [MW] (default 1 % of peak)."),
        system_load: Path = typer.Option(None, "--system-load", help="System load profile file for the coincidence factor."),
        vm_min: float = typer.Option(0.95, "--vm-min", help="Lower voltage limit [pu]."),
        vm_max: float = typer.Option(1.05, "--vm-max", help="Upper voltage limit [pu]."),
        loading_max: float = typer.Option(100.0, "--loading-max", help="Line/transformer loading limit [%]."),
        workers: int = typer.Option(None, "--workers", help="dask workers for the generation."),
        out: Path = typer.Option(..., "--out", "-o", file_okay=False, help="Report folder (must not exist)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
        title: str = typer.Option(None, "--title", help="Report title."),
        progress: bool = typer.Option(False, "--progress/--no-progress", help="Progress bar."),
    ) -> None:  # fmt: skip
        """Ramps, duration, spectrum, load loss, ride-through and event feeder study -> one report."""
        import pandas as pd

        from gridlink.config import ConfigError, load_facility_config
        from gridlink.grid.feeder import FeederError, Limits
        from gridlink.profiles import ProfileFileError, read_profile
        from gridlink.resample import ResampleError
        from gridlink.studies.interconnection.envelope import (
            PRC024_LOW_VOLTAGE,
            RideThroughEnvelope,
        )
        from gridlink.studies.interconnection.event_study import ReactivePower
        from gridlink.studies.interconnection.report import check_out_dir, write_report
        from gridlink.studies.interconnection.ride_through import RackRideThrough
        from gridlink.studies.interconnection.study import racks_from_profile, run_study
        from gridlink.studies.interconnection.transfers import rack_pcc_mw
        from gridlink.units import UnitError

        def fail(exc: Exception) -> None:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from exc

        try:
            check_out_dir(out, overwrite=overwrite)
            if (config is None) == (profile is None):
                raise ValueError(
                    "give --config (generate the load) or --profile (read it), not both"
                )
            env = PRC024_LOW_VOLTAGE if envelope is None else RideThroughEnvelope.from_csv(envelope)
            if rack_settings is not None:
                rs = pd.read_csv(rack_settings)
                missing = {"v_transfer_pu", "t_transfer_s", "return_delay_s"} - set(rs.columns)
                if missing:
                    raise ValueError(
                        f"--rack-settings: {rack_settings} lacks column(s) {sorted(missing)}"
                    )
                settings = RackRideThrough(
                    tuple(rs["v_transfer_pu"]), tuple(rs["t_transfer_s"]), tuple(rs["return_delay_s"]),
                    stagger_s=rack_stagger, return_ramp_mw_per_min=return_ramp, dip_count=dip_count,
                    dip_window_s=dip_window,
                )  # fmt: skip
            else:
                settings = RackRideThrough(
                    v_transfer, t_transfer, return_delay, stagger_s=rack_stagger,
                    return_ramp_mw_per_min=return_ramp, dip_count=dip_count, dip_window_s=dip_window,
                )  # fmt: skip
            if q_table is not None:
                qt = pd.read_csv(q_table)
                if not {"p_mw", "q_mvar"} <= set(qt.columns):
                    raise ValueError(f"--q-table: {q_table} needs columns p_mw, q_mvar")
                reactive = ReactivePower(
                    pf, not leading, tuple(zip(qt["p_mw"], qt["q_mvar"], strict=True))
                )
            else:
                reactive = ReactivePower(pf, not leading)
            limits = Limits(vm_min, vm_max, loading_max, loading_max)
            sags = [parse_sag(s) for s in (sag or [])]
            sysload = read_profile(system_load) if system_load is not None else None
            arrival = None
            if config is not None:
                from traces.facility import simulate_facility

                run = load_facility_config(config)
                result = simulate_facility(
                    run.spec, method=run.method, workers=workers, progress=progress
                )
                pcc = result.pcc_mw_250ms
                rack_mw = rack_pcc_mw(result)
                arrival = result.arrival_rate_rps
                label = title or str(run.meta.get("title", config.stem))
            else:
                pcc = read_profile(profile)
                rack_mw = racks_from_profile(pcc, racks)
                label = title or profile.stem
            ev = parse_event(event, pcc)
            study = run_study(
                pcc_mw=pcc, rack_mw=rack_mw, arrival_rate_rps=arrival, network=network, bus=bus,
                load_scaling=load_scaling, event=ev, sags=sags or None, settings=settings,
                envelope=env, step_threshold_mw=step_threshold_mw, loss_limit_mw=loss_limit_mw,
                event_step=event_step, normal_freq=normal_freq, reactive=reactive, limits=limits,
                system_load=sysload,
            )  # fmt: skip
            files = write_report(study, out, overwrite=overwrite, title=label)
        except (
            ConfigError,
            FeederError,
            UnitError,
            ProfileFileError,
            ResampleError,
            ValueError,
            OSError,
        ) as exc:
            fail(exc)
        f = study.facts
        typer.echo(
            f"{label}: {f['horizon_h']:g} h at {f['step_s']:g} s, peak {f['peak_mw']:.4f} MW, "
            f"mean {f['mean_mw']:.4f} MW, largest step {f['largest_step_mw']:.4g} MW"
        )
        if len(study.ramps):
            typer.echo("ramps [MW per window]: " + ", ".join(
                f"{w} +{r['max_up_mw']:.4g}/{r['max_down_mw']:.4g}" for w, r in study.ramps.iterrows()
            ))  # fmt: skip
        for name, st in study.event_studies.items():
            s = st.summary
            typer.echo(
                f"{name}: step {s['event_step_mw']:.4g} MW, PCC voltage step {s['voltage_step_pu']:+.5f} pu, "
                f"max {s['network_vm_max_pu']:.4f} pu, {s['n_not_converged']} not converged"
            )
        w = study.worst_case
        typer.echo(
            f"worst-case loss {w['loss_mw']:.4g} MW vs limit {w['limit_mw']:g} MW: "
            + ("EXCEEDS" if w["exceeds"] else "within")
        )
        typer.echo("quasi-static study (pandapower power flows), not RMS/EMT")
        typer.echo(f"report: {files['report']}")
