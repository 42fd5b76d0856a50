"""Fast annual load shapes of an AI facility, calibrated on the 250 ms generator.

Rendering a year at 250 ms for every server of a 10,000-server site is far too slow
(about 10^12 server-steps).  This module builds the year from **response curves**:
for each fitted configuration, the full generator (``traces.surrogate`` batching
surrogate + ``FittedConfiguration.generate_many``) is run for many replicas at each of
a grid of offered-load levels ``L_j`` (req/s per replica, with the scenario's token mix
and, for shared traffic, a gamma modulation ``m_b`` of the rate per bin like the
scenario's), and one replica's bin-mean GPU power is fitted (:func:`calibrate_response`):

* ``mod_mean_w`` -- for shared traffic, the conditional mean bin power ``g(L, m)`` given
  the bin's own modulation (a natural cubic spline in ``m`` per level, tabulated);
* ``lag_w`` -- the response to the previous and the next bin's modulation (requests
  that arrive late in a bin are served in the next one; the state classifier is
  bidirectional): an hour's energy moves with its mean modulation through both;
* ``mean_w`` -- mean power at the level over the modulation law [W]; ``beta_w`` the
  least-squares slope on ``m`` (a summary);
* ``bin_var_w2`` -- the variance of the bin mean left given the modulation path (the
  part independent between replicas) [W^2];
* ``var_w2`` -- variance of the 250 ms power [W^2] (reported, not used).

The fit uses arrival control variates (arrivals and summed service time per bin, whose
expectation given the rate is known) to remove arrival noise, and draws 5 % of the
calibration bins' modulation from the law's upper 2 % so that the rare busy minutes
that set hourly peaks are fitted from data (the fit is conditional on ``m``; statistics
over the law are weighted back).

What the error was, measured: the previous per-level table (one replica per level,
four modulation groups) missed the hourly energy by up to 2.4 % and the hourly peak by
up to 21 % on the days compared in ``docs/pypsa.md``.  The cause was not queue
history: the surrogate's 64-slot batch holds 12-37 req/s per replica for the shipped
configurations and is far from full at the scenarios' 0.5-2.5 req/s, and a replica's mean
power shows no trend over 3 hours at a fixed level.  It was (a) calibration noise, one
replica's hourly mean at a level varying by 3-5 % from seed to seed, (b) the linear
interpolation of a convex/concave response between four modulation groups, (c) the
ignored previous-bin effect, and (d) minutes with a modulation beyond the calibrated
range (up to m = 4.4), where a linear extension of the table is far off; there the
bin's own rate is kept (:meth:`ResponseCurve.shared_response`).

The annual shape (:func:`annual_load`) is then assembled bin by bin (60 s bins, 525,600
per year) from the scenario's deterministic level ``L_b`` and, for shared traffic, one
common draw ``m_b`` per bin:

.. math::

    G_b = \\sum_c R_{c,b}\\, g_c(L_b, m_{b-1}, m_b, m_{b+1}) + \\varepsilon_b, \\qquad
    \\varepsilon_b \\sim N\\!\\big(0, \\textstyle\\sum_c R_{c,b}\\, v_c(L_b)\\big),

    P^{PCC}_b = \\mathrm{PUE}\\,\\big(G_b + N_b\\, P^{base}\\big)

with ``R_{c,b}`` replicas of configuration ``c`` (servers x GPUs per server / TP) and
``N_b`` servers in bin ``b`` (paper Eqs 10-11).  Independent replicas: variances add
(``epsilon_b``).  Shared-intensity traffic (paper §3.4, as in :mod:`traces.facility`):
the common modulation moves every replica together through ``g``, so that part
scales with ``R`` and does not average out.

Assumptions, stated: curves are interpolated linearly between levels and never
extrapolated (a level above the grid raises; a bin rate above it is read at the top
level); the response is piecewise linear in ``m`` between the table's knots and
saturates at the lowest and highest bin-mean power seen in calibration; the
independent part is Gaussian.  The fast and full paths are compared by
:func:`compare_fast_full` (hourly energy and hourly peak of 1-min means) in
``tests/test_annual.py`` and ``benchmarks/bench_annual.py``; measured agreement and how
the method and its constants were chosen (on development days, not on those) are in
``docs/pypsa.md``.  Hourly values are exact means of whole aligned bins (the
energy-preserving convention of :mod:`gridlink.resample`).

A chosen subset of days can still be rendered at 250 ms through the full path with
:func:`render_day` (:func:`traces.facility.simulate_facility` on the same scenario).

References
----------
Wilkins, Kazhamiaka & Rajagopal, "From Servers to Sites: Compositional Power Trace
Generation of LLM Inference for Infrastructure Planning" (2026), §3.1-3.4, Eqs 10-11.

Modules: :mod:`~gridlink.annual.scenario` (:class:`AnnualScenario`, :class:`FleetPhase`),
:mod:`~gridlink.annual.curves` (:class:`ResponseCurve`),
:mod:`~gridlink.annual.calibration` (:func:`calibrate_response`),
:mod:`~gridlink.annual.fast` (:func:`annual_load`, :func:`nameplate_mw`) and
:mod:`~gridlink.annual.validation` (:func:`day_spec`, :func:`render_day`,
:func:`fast_facility`, :func:`compare_fast_full`).  Everything public is re-exported
here: ``from gridlink.annual import X`` is the stable path.
"""

from __future__ import annotations

from gridlink.annual.calibration import calibrate_response
from gridlink.annual.curves import ResponseCurve
from gridlink.annual.fast import AnnualShape, annual_load, nameplate_mw
from gridlink.annual.scenario import (
    DEFAULT_DIURNAL,
    DEFAULT_WEEKLY,
    DT_S,
    AnnualError,
    AnnualScenario,
    FleetPhase,
    with_fleet,
)
from gridlink.annual.validation import compare_fast_full, day_spec, fast_facility, render_day

__all__ = [
    "AnnualError",
    "DEFAULT_DIURNAL",
    "DEFAULT_WEEKLY",
    "FleetPhase",
    "AnnualScenario",
    "ResponseCurve",
    "AnnualShape",
    "calibrate_response",
    "annual_load",
    "fast_facility",
    "render_day",
    "day_spec",
    "compare_fast_full",
    "nameplate_mw",
    "with_fleet",
    "DT_S",
]
