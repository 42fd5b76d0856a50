"""The network side of a feeder study: the pandapower networks shipped by name, the
planning :class:`Limits`, the facility load on its bus, and :class:`FeederError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from traces.fields import as_number

if TYPE_CHECKING:  # typing only: pandapower is imported where it runs
    from pandapower.auxiliary import pandapowerNet

#: Short names accepted by :func:`load_network` -> ``pandapower.networks`` function.
NETWORKS: dict[str, str] = {
    "cigre_mv": "create_cigre_network_mv",
    "mv_oberrhein": "mv_oberrhein",
    "case33bw": "case33bw",
}


class FeederError(ValueError):
    """Bad input to the feeder adapter, or a network the adapter cannot study."""


@dataclass(frozen=True)
class Limits:
    """Planning limits a feeder study checks at every step.

    Parameters
    ----------
    vm_min_pu, vm_max_pu : float
        Allowed steady-state bus voltage band [pu] (default 0.95-1.05, e.g. EN 50160
        planning practice for MV).
    line_loading_max_percent : float
        Largest line loading [%] of ``max_i_ka * df * parallel``.
    trafo_loading_max_percent : float
        Largest transformer loading [%] of the rating (pandapower's
        ``trafo_loading`` option, current-based by default).

    Raises
    ------
    FeederError
        If a limit is not finite or the voltage band is empty.
    """

    vm_min_pu: float = 0.95
    vm_max_pu: float = 1.05
    line_loading_max_percent: float = 100.0
    trafo_loading_max_percent: float = 100.0

    def __post_init__(self) -> None:
        for name in (
            "vm_min_pu",
            "vm_max_pu",
            "line_loading_max_percent",
            "trafo_loading_max_percent",
        ):
            value = as_number(getattr(self, name), f"Limits.{name}", error=FeederError, gt=0)
            object.__setattr__(self, name, value)
        if self.vm_min_pu >= self.vm_max_pu:
            raise FeederError(
                f"Limits: vm_min_pu ({self.vm_min_pu}) must be below vm_max_pu ({self.vm_max_pu})"
            )


def load_network(name: str, *, load_scaling: float = 1.0) -> pandapowerNet:
    """Load one of the networks pandapower ships, by short name (offline).

    Parameters
    ----------
    name : str
        One of :data:`NETWORKS`: ``"cigre_mv"`` (CIGRE MV benchmark, 20 kV, 15 buses,
        loads at their design peak), ``"mv_oberrhein"`` (20 kV, 179 buses, "load"
        scenario), ``"case33bw"`` (Baran & Wu 33-bus, 12.66 kV).
    load_scaling : float, default 1.0
        Multiplier written to ``net.load["scaling"]`` for every existing load
        (dimensionless, >= 0).  The CIGRE MV loads at 1.0 are its design peak and
        already violate 0.95 pu and 100 % transformer loading; studies of the
        facility alone usually scale the background, e.g. ``0.5``.

    Returns
    -------
    pandapower.pandapowerNet
        A fresh network object (each call builds a new one).

    Raises
    ------
    FeederError
        For an unknown name (the message lists the known ones) or a negative or
        non-finite ``load_scaling``.
    """
    import pandapower.networks as pn

    key = name.strip().lower() if isinstance(name, str) else name
    if key not in NETWORKS:
        raise FeederError(f"network: unknown name {name!r}; choose one of {sorted(NETWORKS)}")
    if (
        not isinstance(load_scaling, int | float)
        or not math.isfinite(load_scaling)
        or load_scaling < 0
    ):
        raise FeederError(f"load_scaling: expected a finite number >= 0, got {load_scaling!r}")
    net = getattr(pn, NETWORKS[key])()
    if len(net.load):
        net.load["scaling"] = net.load["scaling"].astype(np.float64) * float(load_scaling)
    net.name = key
    return net


def attach_facility(net: pandapowerNet, bus: int, *, name: str = "gridlink facility") -> int:
    """Create the facility load on ``bus`` (in place), with zero power.

    Consumer sign convention (pandapower ``create_load``): positive ``p_mw`` is
    active power drawn from the grid, positive ``q_mvar`` reactive power absorbed.

    Parameters
    ----------
    net : pandapower.pandapowerNet
        Network to modify.
    bus : int
        Index of an in-service bus in ``net.bus``.
    name : str
        Name of the new load.

    Returns
    -------
    int
        Index of the new row in ``net.load``.

    Raises
    ------
    FeederError
        If ``bus`` is not in ``net.bus`` or is out of service.
    """
    import pandapower as pp

    _check_bus(net, bus)
    return int(pp.create_load(net, bus=int(bus), p_mw=0.0, q_mvar=0.0, name=name, scaling=1.0))


def _check_bus(net: pandapowerNet, bus: Any) -> None:
    if isinstance(bus, bool) or not isinstance(bus, int | np.integer):
        raise FeederError(f"bus: expected an integer index of net.bus, got {bus!r}")
    if int(bus) not in net.bus.index:
        raise FeederError(
            f"bus: {bus} is not in net.bus (indices {net.bus.index.min()}..{net.bus.index.max()})"
        )
    if not bool(net.bus.at[int(bus), "in_service"]):
        raise FeederError(f"bus: {bus} is out of service; choose an in-service bus")
