"""Flexibility settings: the ``[flexibility]`` table (issue 15) and their validation.

:class:`FlexibilitySpec` (a hall-wide per-GPU power cap, the latency sensitivity, the
delay threshold) and :class:`CurtailmentWindow` (hours under a PCC limit, the
latency-tolerant share, the maximum delay); every error is a :class:`FlexibilityError`
naming the field (``flexibility.<field>``, ``flexibility.curtailment.<field>``).  The
simulation is in :mod:`traces.facility.flexibility`; the model in docs/flexibility.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from traces import DT_S
from traces.facility.spec import FacilityConfigError, FacilitySpec, _finite

__all__ = ["FlexibilityError", "CurtailmentWindow", "FlexibilitySpec"]


class FlexibilityError(FacilityConfigError):
    """Invalid flexibility settings; the message names the field (``flexibility.*``)."""


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise FlexibilityError(f"{name} must be a number, got {value!r}")
    return _finite(value, name, error=FlexibilityError)


@dataclass(frozen=True)
class CurtailmentWindow:
    """Hours during which the facility must stay under a PCC limit.

    Parameters
    ----------
    start_h, end_h : float
        Window [h after the facility's start]; ``0 <= start_h < end_h <= horizon``.
    pcc_limit_mw : float
        Largest PCC power allowed in the window [MW], > 0.
    deferrable_share : float
        Fraction in [0, 1] of requests that are latency-tolerant (deferred when they
        arrive in the window).
    max_delay_h : float
        Longest acceptable time to first token of a deferred request [h], > 0; a deferred
        request whose first token comes later is still served, and counted as late.
    release : {"deadline", "window_end"}
        When a deferred request enters the queue: ``"deadline"`` (default) at
        ``min(arrival + max_delay_h, end_h)``, so it waits as long as it may and, if that
        is inside the window, is served there under the window's cap; ``"window_end"``
        holds every deferred request to the end of the window (all of the deferred work
        moves out of the window, the rebound is largest).

    Raises
    ------
    FlexibilityError
        A field out of range (the message names ``flexibility.curtailment.<field>``).
    """

    start_h: float
    end_h: float
    pcc_limit_mw: float
    deferrable_share: float = 0.0
    max_delay_h: float = 1.0
    release: Literal["deadline", "window_end"] = "deadline"

    def __post_init__(self) -> None:
        f = "flexibility.curtailment."
        start = _number(self.start_h, f + "start_h")
        end = _number(self.end_h, f + "end_h")
        if start < 0:
            raise FlexibilityError(f"{f}start_h must be >= 0 [h after start], got {start}")
        if end <= start:
            raise FlexibilityError(
                f"{f}end_h ({end}) must be after {f}start_h ({start}); give the window in hours "
                "after the facility's start"
            )
        limit = _number(self.pcc_limit_mw, f + "pcc_limit_mw")
        if limit <= 0:
            raise FlexibilityError(f"{f}pcc_limit_mw must be > 0 [MW], got {limit}")
        share = _number(self.deferrable_share, f + "deferrable_share")
        if not 0.0 <= share <= 1.0:
            raise FlexibilityError(
                f"{f}deferrable_share must lie in [0, 1] (a fraction of requests), got {share}"
            )
        delay = _number(self.max_delay_h, f + "max_delay_h")
        if delay <= 0:
            raise FlexibilityError(f"{f}max_delay_h must be > 0 [h], got {delay}")
        if self.release not in ("deadline", "window_end"):
            raise FlexibilityError(
                f"{f}release must be 'deadline' or 'window_end', got {self.release!r}"
            )
        for name, v in (("start_h", start), ("end_h", end), ("pcc_limit_mw", limit),
                        ("deferrable_share", share), ("max_delay_h", delay)):  # fmt: skip
            object.__setattr__(self, name, v)

    def check_horizon(self, spec: FacilitySpec) -> tuple[int, int]:
        """Window as 250 ms step indices ``[k0, k1)``.

        Raises
        ------
        FlexibilityError
            Window outside the horizon or not on the 250 ms grid.
        """
        f = "flexibility.curtailment."
        horizon_h = spec.horizon_s / 3600.0
        if self.end_h > horizon_h + 1e-12:
            raise FlexibilityError(
                f"{f}end_h={self.end_h} h lies outside the horizon ({horizon_h:g} h = "
                f"horizon_s {spec.horizon_s:g} s); shorten the window or lengthen the horizon"
            )
        k = []
        for name, h in (("start_h", self.start_h), ("end_h", self.end_h)):
            steps = h * 3600.0 / DT_S
            if abs(steps - round(steps)) > 1e-6:
                raise FlexibilityError(f"{f}{name}={h} h is not on the 250 ms grid")
            k.append(int(round(steps)))
        return k[0], k[1]


@dataclass(frozen=True)
class FlexibilitySpec:
    """The ``[flexibility]`` table: a hall-wide GPU power cap and/or a curtailment window.

    Parameters
    ----------
    gpu_power_cap_w : float, optional
        Per-GPU power limit [W] (``nvidia-smi -pl``), > 0, in force over the whole
        horizon.  ``None``: uncapped.
    cap_sensitivity : float
        ``beta`` in (0, 1] of the latency stretch ``r(C)^(-beta)``
        (:func:`traces.power.cap.latency_stretch`); 1 = throughput proportional to
        dynamic power (the pessimistic end).
    curtailment : CurtailmentWindow, optional
    delay_threshold_s : float
        A request counts as delayed when its time to first token exceeds the one it would
        have at full speed with a free slot by more than this [s], >= 0.

    Raises
    ------
    FlexibilityError
        A field out of range (the message names ``flexibility.<field>``).
    """

    gpu_power_cap_w: float | None = None
    cap_sensitivity: float = 1.0
    curtailment: CurtailmentWindow | None = None
    delay_threshold_s: float = 1.0

    def __post_init__(self) -> None:
        if self.gpu_power_cap_w is not None:
            cap = _number(self.gpu_power_cap_w, "flexibility.gpu_power_cap_w")
            if cap <= 0:
                raise FlexibilityError(
                    f"flexibility.gpu_power_cap_w must be > 0 [W per GPU], got {cap}; leave it "
                    "out for an uncapped hall"
                )
            object.__setattr__(self, "gpu_power_cap_w", cap)
        beta = _number(self.cap_sensitivity, "flexibility.cap_sensitivity")
        if not 0.0 < beta <= 1.0:
            raise FlexibilityError(f"flexibility.cap_sensitivity must lie in (0, 1], got {beta}")
        object.__setattr__(self, "cap_sensitivity", beta)
        thr = _number(self.delay_threshold_s, "flexibility.delay_threshold_s")
        if thr < 0:
            raise FlexibilityError(f"flexibility.delay_threshold_s must be >= 0 [s], got {thr}")
        object.__setattr__(self, "delay_threshold_s", thr)
        if self.curtailment is not None and not isinstance(self.curtailment, CurtailmentWindow):
            raise FlexibilityError(
                "flexibility.curtailment must be a traces.facility.flexibility.CurtailmentWindow"
            )
