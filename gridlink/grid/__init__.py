"""Grid adapters: the facility's PCC load on pandapower feeders and PyPSA networks.

- :mod:`gridlink.grid.feeder` -- pandapower distribution-feeder time series, violations,
  hosting capacity.
- :mod:`gridlink.grid.pypsa` -- the load on ``n.snapshots`` of a PyPSA network; exports.
- :mod:`gridlink.grid.expansion` -- capacity-expansion stress test on PyPSA.
"""
