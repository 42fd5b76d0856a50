"""Training envelope of a fitted configuration, and out-of-envelope flags (issues 12, 16).

A production scenario must not be silently outside what a configuration was fitted on.
One envelope is recorded at fit time in ``provenance["envelope"]``:

* ``prompt_tokens`` - range of the prompt lengths ``n_in`` [tokens];
* ``context_tokens`` - range of the per-request context ``n_in + n_out`` [tokens] (the KV
  cache a request holds at its end);
* ``concurrency`` - range of the surrogate's A_t on the training schedules [requests]
  (what generation feeds the classifier) (:func:`training_envelope`);
* the training request rates and how many measured samples fell on each concurrency
  level A_t, with the busy levels that have too little data
  (< :data:`MIN_SAMPLES_PER_LEVEL`) named in a sentence (:func:`fit_envelope`).  The
  measured ``llama-3.1-70b_H100_tp4`` classifier saw 1-3 running requests in 36 of 2,594
  samples (one 4 req/s trace), so at code-trace traffic (0.15 req/s per server) it reads
  such steps as idle (~480 W) while its own lookup says 1,456 W with one request.

One check and one warning path: :func:`check_envelope` returns one flag per range
quantity a schedule exceeds; :func:`envelope_counts` tallies busy steps on sparse or
unfitted concurrency levels (tallies add over replicas) and :func:`level_flag` turns a
tally into a flag of the same form (quantity ``concurrency_levels``) when more than
:data:`BUSY_SHARE_TOL` of the busy steps lie there.  Flags are merged under
``"<config_id>:<quantity>"`` keys (:func:`merge_flags`) and logged by
:func:`warn_envelope`; the facility stores them in ``result.metadata["out_of_envelope"]``
(``FacilityResult.out_of_envelope``), ``FittedConfiguration.generate`` logs them for one
server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "QUANTITIES",
    "MIN_SAMPLES_PER_LEVEL",
    "BUSY_SHARE_TOL",
    "check_envelope",
    "configuration_envelope",
    "envelope_counts",
    "envelope_warning",
    "fit_envelope",
    "level_flag",
    "merge_flags",
    "training_envelope",
    "warn_envelope",
]

#: Quantities checked, with their unit.
QUANTITIES: dict[str, str] = {
    "prompt_tokens": "tokens",
    "context_tokens": "tokens",
    "concurrency": "requests",
}


def training_envelope(bundles: Sequence[Any], active: Iterable[np.ndarray] = ()) -> dict:
    """Envelope of training bundles (requests) and surrogate A_t arrays.

    Parameters
    ----------
    bundles : sequence of MeasuredBundle
        Training bundles (``requests`` with ``n_in``, ``n_out``).
    active : iterable of numpy.ndarray
        Surrogate A_t of the training schedules (any shapes); when empty, the measured
        ``active_requests`` of the bundles are used.

    Returns
    -------
    dict
        ``{quantity: [min, max]}`` (JSON-serialisable floats).
    """
    n_in = np.concatenate([b.requests["n_in"].to_numpy() for b in bundles])
    ctx = np.concatenate([(b.requests["n_in"] + b.requests["n_out"]).to_numpy() for b in bundles])
    acts = [np.asarray(a, dtype=np.float64).ravel() for a in active]
    if not acts:
        acts = [
            b.active_requests.to_numpy(dtype=np.float64)
            for b in bundles
            if b.active_requests is not None
        ]
    a = np.concatenate(acts) if acts else np.zeros(1)
    a = a[np.isfinite(a)]
    return {
        "prompt_tokens": [float(n_in.min()), float(n_in.max())],
        "context_tokens": [float(ctx.min()), float(ctx.max())],
        "concurrency": [0.0, float(a.max()) if a.size else 0.0],
    }


def check_envelope(
    envelope: Mapping[str, Sequence[float]] | None,
    schedule: Any,
    features: Any = None,
    *,
    config_id: str = "",
) -> dict[str, dict[str, Any]]:
    """Quantities of ``schedule`` (and ``features``) beyond the fitted envelope.

    Parameters
    ----------
    envelope : mapping or None
        :func:`training_envelope` output (a configuration's ``provenance["envelope"]``);
        None -> no check (an empty dict).
    schedule : RequestSchedule
        ``n_in``, ``n_out`` per request.
    features : WorkloadFeatures, optional
        Its ``active`` (A_t) is checked against ``concurrency``.
    config_id : str
        Recorded in the flags.

    Returns
    -------
    dict
        ``{quantity: {"config_id", "value", "fitted_range", "unit", "n_beyond"}}`` for
        each quantity above its fitted maximum (``value`` the largest seen); empty when
        everything lies inside.  Only the upper end is flagged for concurrency (an idle
        server is always inside).
    """
    if not envelope:
        return {}
    n_in = np.asarray(schedule.n_in, dtype=np.float64)
    values = {
        "prompt_tokens": n_in,
        "context_tokens": n_in + np.asarray(schedule.n_out, dtype=np.float64),
    }
    if features is not None:
        values["concurrency"] = np.asarray(features.active, dtype=np.float64)
    flags: dict[str, dict[str, Any]] = {}
    for q, v in values.items():
        if q not in envelope or v.size == 0:
            continue
        lo, hi = (float(x) for x in envelope[q])
        beyond = v > hi if q == "concurrency" else (v > hi) | (v < lo)
        if beyond.any():
            flags[q] = {
                "config_id": config_id,
                "value": float(v.max() if (v > hi).any() else v.min()),
                "fitted_range": [lo, hi],
                "unit": QUANTITIES[q],
                "n_beyond": int(beyond.sum()),
            }
    return flags


def merge_flags(
    into: dict[str, dict[str, Any]], flags: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Merge flags keyed ``"<config_id>:<quantity>"`` keeping the extreme value and counts."""
    for q, f in flags.items():
        key = f"{f.get('config_id', '')}:{q}"
        if key not in into:
            into[key] = {**f, "quantity": q}
            continue
        old = into[key]
        old["n_beyond"] += int(f["n_beyond"])
        old["value"] = float(max(old["value"], f["value"]))
    return into


def warn_envelope(flags: Mapping[str, Mapping[str, Any]]) -> None:
    """Log one warning per flag naming the quantity, the value and the fitted range (the
    one warning path of the envelope; a :func:`level_flag` carries its own sentence)."""
    for key, f in flags.items():
        if f.get("message"):  # a concurrency-level flag (level_flag) states itself
            logger.warning("%s", f["message"])
            continue
        q = f.get("quantity", key)
        lo, hi = f["fitted_range"]
        logger.warning(
            "%s: %s up to %.0f %s lies outside the fitted range %.0f-%.0f %s (%d value(s)); "
            "the generated power is an extrapolation there",
            f.get("config_id") or "configuration",
            q,
            f["value"],
            f["unit"],
            lo,
            hi,
            f["unit"],
            f["n_beyond"],
        )


def configuration_envelope(
    latency: Any, bundles: Sequence[Any], *, n_draws: int = 3, seed: int = 0
) -> dict:
    """:func:`training_envelope` with A_t from ``n_draws`` surrogate replays per bundle.

    For configurations fitted before the envelope was recorded: their training bundles'
    schedules go through the stored latency model (seeds ``[seed, i, d]``), as generation
    would see them.
    """
    from traces.workload.schedule import RequestSchedule
    from traces.workload.surrogate import features_for_schedule

    active = [
        features_for_schedule(
            RequestSchedule.from_bundle(b),
            latency,
            rng=np.random.default_rng([seed, i, d]),
            extra=False,
        ).active
        for i, b in enumerate(bundles)
        for d in range(n_draws)
    ]
    return training_envelope(bundles, active)


#: A concurrency level with fewer measured samples than this (12.5 s at 250 ms) has too
#: little data for the classifier to have learnt its power state.
MIN_SAMPLES_PER_LEVEL: int = 50

#: Warn when more than this share of a run's busy steps (A_t >= 1) lie on sparse levels or
#: beyond the highest fitted level.  A training trace's own ramps put some of its busy
#: samples on sparse levels (15 % for ``llama-3.1-70b_H100_tp4``), so the tolerance sits
#: above that; a configuration whose every busy level is sparse warns at any load.
BUSY_SHARE_TOL: float = 0.25


def _ranges(levels: Sequence[int]) -> str:
    """``[1, 2, 3, 7, 9, 10]`` -> ``"1-3, 7, 9-10"``."""
    out: list[str] = []
    lv = sorted(int(v) for v in levels)
    i = 0
    while i < len(lv):
        j = i
        while j + 1 < len(lv) and lv[j + 1] == lv[j] + 1:
            j += 1
        out.append(str(lv[i]) if i == j else f"{lv[i]}-{lv[j]}")
        i = j + 1
    return ", ".join(out)


def fit_envelope(
    rates_rps: Sequence[float],
    active_levels: Sequence[int],
    active_n_samples: Sequence[int],
    *,
    source: str = "measured A_t of the training bundles",
) -> dict[str, Any]:
    """The training envelope (JSON-serialisable), stored as ``provenance["envelope"]``.

    Parameters
    ----------
    rates_rps : sequence of float
        Mean request rate of each training bundle [requests/s].
    active_levels, active_n_samples : sequence of int
        Concurrency levels A_t = 0, 1, ... and the number of training samples at each
        (``traces.model.baselines.baseline_stats``'s ``lookup_counts`` / ``lookup_n_samples``).
    source : str
        Where the counts come from (stated in the note).

    Returns
    -------
    dict
        ``rates_rps``, ``active_levels``, ``active_n_samples``, ``min_samples_per_level``,
        ``sparse_levels`` (busy levels with too little data), ``max_level`` and ``note``
        (a sentence for the provenance).

    Raises
    ------
    ValueError
        If the level and sample lists differ in length or are empty.
    """
    lv = [int(v) for v in active_levels]
    ns = [int(v) for v in active_n_samples]
    if not lv or len(lv) != len(ns):
        raise ValueError(
            f"active_levels ({len(lv)}) and active_n_samples ({len(ns)}) must be non-empty "
            "and of equal length"
        )
    sparse = [v for v, n in zip(lv, ns, strict=True) if v > 0 and n < MIN_SAMPLES_PER_LEVEL]
    total = int(sum(ns))
    n_sparse = int(sum(n for v, n in zip(lv, ns, strict=True) if v in sparse))
    rates = [float(r) for r in rates_rps]
    rate_txt = ", ".join(f"{r:.2f}" for r in rates) or "unknown"
    note = (
        f"fitted at {rate_txt} req/s per replica; concurrency A_t 0-{max(lv)} seen "
        f"({source}, {total} samples)"
    )
    if sparse:
        note += (
            f"; too little data (< {MIN_SAMPLES_PER_LEVEL} samples) at A_t = {_ranges(sparse)} "
            f"({n_sparse} samples in all): at such loads the classifier extrapolates (at low "
            "levels it may read running requests as idle); generation warns when a run puts "
            f"more than {BUSY_SHARE_TOL:.0%} of its busy steps there"
        )
    return {
        "rates_rps": rates,
        "active_levels": lv,
        "active_n_samples": ns,
        "min_samples_per_level": MIN_SAMPLES_PER_LEVEL,
        "sparse_levels": sparse,
        "max_level": max(lv),
        "note": note,
    }


def envelope_counts(envelope: Mapping[str, Any], active: Any) -> np.ndarray:
    """Tally of steps against the envelope: ``[n_steps, n_busy, n_sparse, n_beyond]``.

    Parameters
    ----------
    envelope : mapping
        :func:`fit_envelope` output.
    active : array-like (T,)
        Requests running per 250 ms step (the surrogate's A_t).

    Returns
    -------
    ndarray of int64 (4,)
        Steps, busy steps (A_t >= 1), busy steps on a sparse level, steps above the
        highest fitted level.  Tallies add over replicas and chunks.
    """
    a = np.rint(np.asarray(active, dtype=np.float64)).astype(np.int64)
    sparse = np.asarray(envelope.get("sparse_levels", []), dtype=np.int64)
    busy = a >= 1
    beyond = a > int(envelope["max_level"])
    on_sparse = np.isin(a, sparse) & busy
    return np.array([a.size, busy.sum(), on_sparse.sum(), beyond.sum()], dtype=np.int64)


def envelope_warning(
    config_id: str, envelope: Mapping[str, Any], counts: Sequence[int] | np.ndarray
) -> str | None:
    """The warning for a tally from :func:`envelope_counts`, or None inside the envelope.

    Fires when more than :data:`BUSY_SHARE_TOL` of the busy steps are on sparse levels or
    beyond the highest fitted level.  The message names the quantity (concurrency A_t),
    the share, the fitted range and the configuration's training rates.
    """
    n, busy, sparse, beyond = (int(c) for c in counts)
    if busy == 0:
        return None
    share = (sparse + beyond) / busy
    if share <= BUSY_SHARE_TOL:
        return None
    sp = envelope.get("sparse_levels", [])
    parts = []
    if sparse:
        parts.append(f"{sparse / busy:.0%} on levels fitted with < "
                     f"{envelope.get('min_samples_per_level', MIN_SAMPLES_PER_LEVEL)} samples "
                     f"(A_t = {_ranges(sp)})")  # fmt: skip
    if beyond:
        parts.append(f"{beyond / busy:.0%} above the highest fitted level {envelope['max_level']}")
    rates = ", ".join(f"{r:.2f}" for r in envelope.get("rates_rps", []))
    return (
        f"{config_id}: traffic outside the training envelope: of {busy} busy steps (A_t >= 1, "
        f"{busy / max(n, 1):.0%} of {n}), " + " and ".join(parts) + f"; the configuration was "
        f"fitted at {rates or 'unknown'} req/s per replica (concurrency A_t 0-"
        f"{envelope['max_level']}), so its power at this load is an extrapolation"
    )


def level_flag(
    config_id: str, envelope: Mapping[str, Any], counts: Sequence[int] | np.ndarray
) -> dict[str, dict[str, Any]]:
    """A tally from :func:`envelope_counts` as a flag (the form of :func:`check_envelope`).

    Returns
    -------
    dict
        ``{"concurrency_levels": {"config_id", "value" (share of busy steps on sparse or
        unfitted levels), "fitted_range" ([0, BUSY_SHARE_TOL]), "unit", "n_beyond",
        "n_steps", "n_busy", "n_sparse_level", "n_above_max", "message"}}`` when
        :func:`envelope_warning` fires; empty otherwise (or without level counts).
    """
    if not envelope or "max_level" not in envelope:
        return {}
    msg = envelope_warning(config_id, envelope, counts)
    if msg is None:
        return {}
    n, busy, sparse, beyond = (int(c) for c in counts)
    return {
        "concurrency_levels": {
            "config_id": config_id,
            "value": (sparse + beyond) / busy,
            "fitted_range": [0.0, BUSY_SHARE_TOL],
            "unit": "share of busy steps",
            "n_beyond": sparse + beyond,
            "n_steps": n,
            "n_busy": busy,
            "n_sparse_level": sparse,
            "n_above_max": beyond,
            "message": msg,
        }
    }
