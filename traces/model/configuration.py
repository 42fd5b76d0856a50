"""The fitted configuration: everything one (model, GPU, TP) configuration needs.

A :class:`FittedConfiguration` bundles the sorted power-state mixture (Eq 2), the BiGRU
state classifier (Eq 3) with its feature normalisation, the per-state power sampler
(i.i.d. Eq 8 or AR(1) Eq 9), the observed power range used for clipping, the latency
model of the batching surrogate (Eq 4-5), nameplate power and provenance. It generates
power traces from request schedules or from precomputed workload features.

Persistence: ``save(directory)`` writes ``<config_id>.json`` (all scalars and small
arrays, human-readable, with ``schema_version``, the SHA-256 of the tensor file and the
SHA-256 of its own content, ``content_sha256``) and
``<config_id>.safetensors`` (classifier weights and normalisation). ``load(path)``
checks the schema version, both checksums, the config id, all shapes and the values
against each other (state means within the power range, |phi| < 1), and raises
:class:`ArtifactError` naming the problem. No pickle anywhere.

Generation pipeline (paper Sec. 3.3): features x_t -> state probabilities
``p(s_t | x)`` (Eq 3, windowed bidirectional inference) -> ``s_t ~ Categorical`` (Eq 7)
-> power ``P_t`` from the state's Gaussian (Eq 8) or AR(1) (Eq 9) -> clipped to the
observed range (count reported).

One cohesive module over ~600 lines: the fitted configuration, its generation path and
its JSON + safetensors artifact (save/load with checks), which must change together.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from traces import DT_S
from traces.fields import as_integer, as_number, check_plausible
from traces.outputs import atomic_path, write_text
from traces.power.sampler import clip_power, sample_power_ar1, sample_power_iid, sample_states
from traces.states.classifier import StateClassifier
from traces.states.mixture import PowerStateMixture

logger = logging.getLogger(__name__)

__all__ = [
    "ArtifactError",
    "ModelError",
    "FEATURE_SETS",
    "LEDGER_FEATURES",
    "needs_ledger",
    "GPU_TDP_W",
    "FittedConfiguration",
    "GeneratedTrace",
    "feature_matrix",
    "SCHEMA_VERSION",
    "content_sha256",
    "stamp_configuration_json",
]

#: Version of the JSON + safetensors artifact layout written by :meth:`FittedConfiguration.save`.
SCHEMA_VERSION: int = 1

#: Feature sets: names of the columns fed to the classifier. ``active`` and
#: ``delta_active`` are ``WorkloadFeatures.active`` / ``.delta_active`` (A_t, dA_t, Eq 6);
#: other names are looked up in ``WorkloadFeatures.extra``; a ``log1p_`` prefix applies
#: ``log(1 + x)`` to that extra column (compresses token counts that exceed the training
#: range, e.g. prefill-heavy production traffic vs ShareGPT).
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "f2": ("active", "delta_active"),
    "f4": ("active", "delta_active", "prefill_tokens", "decode_rate"),
    "f4l": ("active", "delta_active", "log1p_prefill_tokens", "log1p_decode_rate"),
    # work ledger (traces.workload.ledger): tokens prefilled / emitted per step and resident KV
    "fl": (
        "active",
        "delta_active",
        "log1p_prefilled_tokens",
        "log1p_decoded_tokens",
        "log1p_kv_tokens",
    ),
}

#: Extra columns that only the work ledger provides (``traces.workload.ledger.simulate_work``).
LEDGER_FEATURES: frozenset[str] = frozenset(
    {"prefilled_tokens", "decoded_tokens", "n_prefill", "n_decode", "kv_tokens"}
)


def needs_ledger(feature_names: Sequence[str]) -> bool:
    """True when a feature set reads a work-ledger column (plain or ``log1p_``)."""
    return any(n.removeprefix("log1p_") in LEDGER_FEATURES for n in feature_names)


#: Nameplate board power per GPU [W] (thermal design power / max TDP).
#: A100-SXM4-80GB: 400 W (NVIDIA A100 Tensor Core GPU datasheet, 2021, "Max TDP Power");
#: H100-SXM5-80GB: 700 W (NVIDIA H100 Tensor Core GPU datasheet, 2023, "Max TDP").
#: Note: the A100 bundles here peak at 510-520 W per GPU, above 400 W, so those boards
#: run with a raised enforced power limit (not logged in the A100 power files; the
#: H100 TP4 log records ``power.limit`` 700 W). ``tdp_w`` (nameplate x TP) is what the
#: TDP baseline uses; ``power_limit_w`` records the enforced limit when known.
GPU_TDP_W: dict[str, float] = {"A100": 400.0, "H100": 700.0}


class ModelError(ValueError):
    """Invalid input to a fitted configuration (schedule, features, rng list)."""


class ArtifactError(ValueError):
    """A saved configuration is missing, corrupt, tampered or of another schema."""


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def feature_matrix(features: Any, feature_names: Sequence[str]) -> np.ndarray:
    """Stack workload features into the classifier input matrix.

    Parameters
    ----------
    features : WorkloadFeatures or ndarray (T, F)
        ``traces.workload.surrogate.WorkloadFeatures`` (``active``, ``delta_active``, ``extra``)
        or an already stacked array whose columns are ``feature_names``.
    feature_names : sequence of str
        Column names (see :data:`FEATURE_SETS`).

    Returns
    -------
    ndarray float64 (T, F)

    Raises
    ------
    ModelError
        If a named column is missing, lengths differ, the array has the wrong width, is
        empty or contains NaN/inf.
    """
    names = tuple(feature_names)
    if isinstance(features, np.ndarray) or isinstance(features, list | tuple):
        x = np.asarray(features, dtype=np.float64)
        if x.ndim == 1 and len(names) == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != len(names):
            raise ModelError(
                f"features array has shape {x.shape}; expected (T, {len(names)}) with columns "
                f"{names}"
            )
    else:
        cols = []
        extra = getattr(features, "extra", None) or {}
        for n in names:
            if n in ("active", "delta_active"):
                if not hasattr(features, n):
                    raise ModelError(
                        f"features lacks attribute {n!r}; pass traces.workload.surrogate.WorkloadFeatures"
                    )
                cols.append(np.asarray(getattr(features, n), dtype=np.float64))
            elif n in extra:
                cols.append(np.asarray(extra[n], dtype=np.float64))
            elif n.startswith("log1p_") and n[6:] in extra:
                cols.append(np.log1p(np.asarray(extra[n[6:]], dtype=np.float64)))
            else:
                raise ModelError(
                    f"features.extra lacks column {n!r} needed by this configuration's feature "
                    f"set {names}; available extra columns: {sorted(extra)}"
                )
        lens = {c.shape for c in cols}
        if len(lens) != 1 or cols[0].ndim != 1:
            raise ModelError(f"feature columns {names} have differing shapes {sorted(lens)}")
        x = np.stack(cols, axis=1)
    if x.shape[0] == 0:
        raise ModelError("features are empty (T = 0); generate a non-empty horizon")
    bad = ~np.isfinite(x)
    if bad.any():
        cols_bad = [names[j] for j in np.flatnonzero(bad.any(axis=0))]
        raise ModelError(
            f"features contain {int(bad.sum())} NaN/inf values in column(s) {cols_bad}; "
            "fix the workload features upstream (no silent filling)"
        )
    return x


@dataclass(frozen=True)
class GeneratedTrace:
    """Output of :meth:`FittedConfiguration.generate`.

    Attributes
    ----------
    power_w : pandas.Series
        Generated node power [W] on the 250 ms UTC grid starting at ``schedule.start``
        (``attrs["unit"] == "W"``).
    states : ndarray of int64 (T,)
        Sampled latent state per step (Eq 7).
    features : WorkloadFeatures
        The surrogate's workload features the trace was generated from.
    n_clipped : int
        Number of samples clipped to the configuration's observed power range.
    """

    power_w: pd.Series
    states: np.ndarray
    features: Any
    n_clipped: int


class FittedConfiguration:
    """A fitted (model, GPU, TP) configuration; see the module docstring.

    Parameters
    ----------
    config_id : str
        ``<model>_<GPU>_tp<TP>``.
    mixture : PowerStateMixture
        Fitted, sorted power-state mixture with ``K`` states.
    classifier : StateClassifier
        Fitted classifier with ``K_c`` outputs (``K_c == K`` unless ``state_map`` given).
    feature_set : str
        Key of :data:`FEATURE_SETS` (``"f2"``: A_t, dA_t).
    latency : traces.workload.surrogate.LatencyModel or dict
        Latency model of the batching surrogate (Eq 4-5), or its ``to_dict()``; stored
        as a ``LatencyModel`` in :attr:`latency`.
    sampler : {"iid", "ar1"}
        Power sampler (Eq 8 or Eq 9).
    phi : ndarray (K,)
        AR(1) coefficients (used when ``sampler == "ar1"``).
    power_range_w : tuple of float
        (min, max) observed power [W]; generated samples are clipped to it.
    model, gpu : str
    tp : int
    tdp_w : float
        Nameplate TDP x TP [W] (:data:`GPU_TDP_W`).
    power_limit_w : float or None
        Enforced board power limit x TP [W] when known from the data.
    source : {"measured", "transferred"}
    state_rho : float, default 0.0
        Temporal coherence of the state draws (``traces.power.sampler.sample_states``); 0 is the
        paper's independent per-step sampling (Eq 7). A fitted choice, see ``sampler_info``.
    inference_overlap : int, default 512
        Context [steps] on each side of an inference window when a caller asks for an
        explicit ``window``; generation by default uses the classifier's bounded-memory
        plan (``StateClassifier.context_plan``: ``3 train_window / 4`` cores with
        ``train_window / 8`` of context).  The fit records how far windows of 8192 steps
        with this overlap stay from whole-sequence inference on its calibration workload
        (``sampler_info["window_edges"]``); that figure holds at those rates only.
    state_map : ndarray (K_c, K), optional
        Row-stochastic map from classifier states to mixture states (transfer).
    sampler_info : dict, optional
        Why the sampler was chosen (thresholds, ACF errors, phi estimates).
    provenance : dict, optional
        Source files with sha256, seed, library version, metrics, fit time.
    """

    def __init__(
        self,
        *,
        config_id: str,
        mixture: PowerStateMixture,
        classifier: StateClassifier,
        feature_set: str,
        latency: Any,
        sampler: str,
        phi: np.ndarray,
        power_range_w: tuple[float, float],
        model: str,
        gpu: str,
        tp: int,
        tdp_w: float,
        power_limit_w: float | None = None,
        source: str = "measured",
        state_rho: float = 0.0,
        inference_overlap: int = 512,
        state_map: np.ndarray | None = None,
        sampler_info: dict[str, Any] | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        if feature_set not in FEATURE_SETS:
            raise ModelError(
                f"feature_set {feature_set!r} unknown; use one of {sorted(FEATURE_SETS)}"
            )
        if sampler not in ("iid", "ar1"):
            raise ModelError(f"sampler must be 'iid' or 'ar1', got {sampler!r}")
        if source not in ("measured", "transferred"):
            raise ModelError(f"source must be 'measured' or 'transferred', got {source!r}")
        k = int(mixture.n_states_)
        kc = int(classifier.n_states)
        if state_map is None:
            if kc != k:
                raise ModelError(
                    f"classifier has {kc} states but the mixture {k}; pass a state_map "
                    "(K_c, K) (see traces.model.transfer.transfer_configuration)"
                )
        else:
            state_map = np.asarray(state_map, dtype=np.float64)
            if state_map.shape != (kc, k):
                raise ModelError(f"state_map has shape {state_map.shape}, expected ({kc}, {k})")
            if np.any(state_map < 0) or not np.allclose(state_map.sum(axis=1), 1.0, atol=1e-9):
                raise ModelError("state_map rows must be non-negative and sum to 1")
        phi = np.asarray(phi, dtype=np.float64)
        if phi.shape != (k,):
            raise ModelError(f"phi has shape {phi.shape}, expected ({k},) = one per state")
        lo, hi = (as_number(v, "power_range_w", error=ModelError) for v in power_range_w)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ModelError(
                f"power_range_w must be finite (min, max) with min < max, got {power_range_w}"
            )
        _check_loaded_ranges(mixture, phi, (lo, hi), tp, tdp_w)
        if int(classifier.n_features_) != len(FEATURE_SETS[feature_set]):
            raise ModelError(
                f"classifier takes {classifier.n_features_} features but feature_set "
                f"{feature_set!r} has {len(FEATURE_SETS[feature_set])}"
            )
        self.config_id = str(config_id)
        self.mixture = mixture
        self.classifier = classifier
        self.feature_set = feature_set
        from traces.workload.surrogate import LatencyModel

        if isinstance(latency, dict):
            latency = LatencyModel.from_dict(latency)
        if not isinstance(latency, LatencyModel):
            raise ModelError(
                f"latency must be a traces.workload.surrogate.LatencyModel or its to_dict(), got "
                f"{type(latency).__name__}"
            )
        self.latency = latency
        self.sampler = sampler
        self.phi = phi
        self.power_range_w = (lo, hi)
        self.model = str(model)
        self.gpu = str(gpu)
        self.tp = int(tp)
        self.tdp_w = float(tdp_w)
        self.power_limit_w = None if power_limit_w is None else float(power_limit_w)
        self.source = source
        if not 0.0 <= float(state_rho) < 1.0:
            raise ModelError(f"state_rho must lie in [0, 1), got {state_rho}")
        self.state_rho = float(state_rho)
        if int(inference_overlap) < 0:
            raise ModelError(f"inference_overlap must be >= 0, got {inference_overlap}")
        self.inference_overlap = int(inference_overlap)
        self.state_map = state_map
        self.sampler_info = dict(sampler_info or {})
        self.provenance = dict(provenance or {})

    # ---------------------------------------------------------------- basics
    @property
    def n_states(self) -> int:
        """Number of mixture states K."""
        return int(self.mixture.n_states_)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Classifier input columns (see :data:`FEATURE_SETS`)."""
        return FEATURE_SETS[self.feature_set]

    def latency_model(self) -> Any:
        """The surrogate's ``traces.workload.surrogate.LatencyModel`` (same as :attr:`latency`)."""
        return self.latency

    def __repr__(self) -> str:
        return (
            f"FittedConfiguration({self.config_id!r}, K={self.n_states}, sampler={self.sampler!r}, "
            f"features={self.feature_set!r}, source={self.source!r})"
        )

    # ------------------------------------------------------------ generation
    def _proba_to_mixture(self, proba: np.ndarray) -> np.ndarray:
        if self.state_map is None:
            return proba
        return proba.astype(np.float64) @ self.state_map

    def _sample(
        self, proba: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Eq 7 then Eq 8/9, then clip. Draws T variates (states) then T normals (power)."""
        states = sample_states(self._proba_to_mixture(proba), rng, rho=self.state_rho)
        mu, sd = self.mixture.means_, self.mixture.stds_
        if self.sampler == "ar1":
            p = sample_power_ar1(states, mu, sd, self.phi, rng)
        else:
            p = sample_power_iid(states, mu, sd, rng)
        p, n_clip = clip_power(p, *self.power_range_w)
        return p, states, n_clip

    def _overlap(self, window: int | None, overlap: int | None) -> int | None:
        """The overlap to use: the classifier's plan with ``window=None``, else
        :attr:`inference_overlap` unless given."""
        if overlap is not None:
            return int(overlap)
        return None if window is None else self.inference_overlap

    def state_proba(
        self, features: Any, *, window: int | None = None, overlap: int | None = None
    ) -> np.ndarray:
        """Per-step probabilities over the mixture's K states (Eq 3), shape (T, K).

        Uses the same windowed inference as generation.
        """
        x = feature_matrix(features, self.feature_names)
        ov = self._overlap(window, overlap)
        (p,) = self.classifier.predict_proba_many([x], window=window, overlap=ov)
        return self._proba_to_mixture(p)

    @overload
    def generate_from_features(
        self,
        features: Any,
        *,
        rng: np.random.Generator | int | None,
        return_details: Literal[False] = False,
        window: int | None = 8192,
        overlap: int | None = None,
    ) -> np.ndarray: ...

    @overload
    def generate_from_features(
        self,
        features: Any,
        *,
        rng: np.random.Generator | int | None,
        return_details: Literal[True],
        window: int | None = 8192,
        overlap: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, int]: ...

    def generate_from_features(
        self,
        features: Any,
        *,
        rng: np.random.Generator | int | None,
        return_details: bool = False,
        window: int | None = None,
        overlap: int | None = None,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray, int]:
        """Generate node power from workload features (the facility's hot path).

        Parameters
        ----------
        features : WorkloadFeatures or ndarray (T, F)
            Features on the 250 ms grid (columns :attr:`feature_names`).
        rng : numpy.random.Generator or int or None
            Random source; draws T variates for the states (Eq 7) then T normals (power).
        return_details : bool, default False
            Also return the sampled states and the number of clipped samples.
        window, overlap : int or None
            Windowed inference (see ``StateClassifier.predict_proba_many``).  Default
            (None): the classifier's bounded-memory plan (``context_plan``), so the
            state at a step depends only on features within
            ``classifier.memory_horizon_steps()`` of it.  An explicit ``window`` uses
            ``overlap`` or, when None, :attr:`inference_overlap`.

        Returns
        -------
        ndarray float64 (T,)
            Power [W], or ``(power_w, states, n_clipped)`` when ``return_details``.

        Raises
        ------
        ModelError
            Empty features, NaN/inf, missing or wrong feature columns.
        """
        x = feature_matrix(features, self.feature_names)
        ov = self._overlap(window, overlap)
        (proba,) = self.classifier.predict_proba_many([x], window=window, overlap=ov)
        p, states, n_clip = self._sample(proba, _rng(rng))
        if n_clip:
            logger.debug(
                "%s: %d of %d samples clipped to %s W",
                self.config_id,
                n_clip,
                p.size,
                self.power_range_w,
            )
        return (p, states, n_clip) if return_details else p

    def generate_many(
        self,
        features_list: Sequence[Any],
        rngs: Sequence[np.random.Generator | int | None],
        *,
        window: int | None = None,
        overlap: int | None = None,
        batch_windows: int = 16,
        device: str | None = None,
        phases: Sequence[int] | None = None,
    ) -> list[np.ndarray]:
        """Generate many servers at once with batched windowed inference.

        Output ``i`` equals ``generate_from_features(features_list[i], rng=rngs[i])``
        (same windows, same draws). Memory is bounded by one batch of windows plus the
        outputs.

        Parameters
        ----------
        features_list : sequence of WorkloadFeatures or ndarray (T_i, F)
        rngs : sequence of numpy.random.Generator or int or None
            One random source per server (e.g. ``np.random.default_rng(seed).spawn(n)``).
        window, overlap, batch_windows : int
            Windowed inference (``StateClassifier.iter_proba_many``); working memory is
            bounded by one batch of ``batch_windows x (window + 2 overlap)`` steps (plus
            the outputs), not by the number of servers (benchmarks/bench_generator.py:
            peak process RSS ~0.7 GB with the defaults).  ``window=None`` (default): the
            classifier's bounded-memory plan (``StateClassifier.context_plan``).
        phases : sequence of int, optional
            Per server, where its window cores start (``StateClassifier.iter_proba_many``).
        device : str, optional
            torch device of the classifier's forward passes (e.g. "cuda"); default CPU.

        Returns
        -------
        list of ndarray float64 (T_i,)
            Power [W] per server.

        Raises
        ------
        ModelError
            If the lengths of ``features_list`` and ``rngs`` differ, or a feature set is bad.
        """
        if len(features_list) != len(rngs):
            raise ModelError(
                f"got {len(features_list)} feature sets but {len(rngs)} rngs; pass one rng per "
                "server (np.random.default_rng(seed).spawn(n))"
            )
        xs = (feature_matrix(f, self.feature_names) for f in features_list)
        out: list[np.ndarray] = []
        n_clip_total = 0
        for i, proba in self.classifier.iter_proba_many(
            xs,
            window=window,
            overlap=self._overlap(window, overlap),
            batch_windows=batch_windows,
            device=device,
            phases=phases,
        ):
            p, _, n_clip = self._sample(proba, _rng(rngs[i]))
            n_clip_total += n_clip
            out.append(p)
        if n_clip_total:
            logger.debug(
                "%s: %d samples clipped over %d servers", self.config_id, n_clip_total, len(out)
            )
        return out

    def generate(
        self,
        schedule: Any,
        *,
        rng: np.random.Generator | int | None,
        max_batch: int = 64,
    ) -> GeneratedTrace:
        """Generate a power trace for a request schedule (full pipeline, paper Fig. 1).

        The batching surrogate (FIFO, ``max_batch``; Eq 4-6) turns the schedule into
        features, then :meth:`generate_from_features` samples power. One ``rng`` drives
        both steps in that order.

        Parameters
        ----------
        schedule : traces.workload.schedule.RequestSchedule
            Non-empty request schedule.
        rng : numpy.random.Generator or int or None
        max_batch : int, default 64
            Maximum running batch of the surrogate.

        Returns
        -------
        GeneratedTrace
            ``power_w`` on the 250 ms UTC grid starting at ``schedule.start``.

        Raises
        ------
        ModelError
            Empty schedule, negative token counts.
        """
        from traces.workload.surrogate import features_for_schedule

        n = len(schedule.arrival_s)
        if n == 0:
            raise ModelError(
                "schedule is empty (no requests); give at least one request or use the idle "
                "level mixture.means_[0] directly"
            )
        if np.any(np.asarray(schedule.n_in) < 0) or np.any(np.asarray(schedule.n_out) < 0):
            raise ModelError(
                "schedule has negative token counts in n_in/n_out; tokens must be >= 0"
            )
        gen = _rng(rng)
        if needs_ledger(self.feature_names):
            from traces.workload.ledger import simulate_work

            feats = simulate_work(schedule, self.latency_model(), max_batch=max_batch, rng=gen)
        else:
            feats = features_for_schedule(
                schedule, self.latency_model(), max_batch=max_batch, rng=gen
            )
        p, states, n_clip = self.generate_from_features(feats, rng=gen, return_details=True)
        from traces.model.envelope import check_envelope, merge_flags, warn_envelope

        envelope = (getattr(self, "provenance", None) or {}).get("envelope")
        flags = check_envelope(envelope, schedule, feats, config_id=self.config_id)
        if envelope and "max_level" in envelope:  # sparse concurrency levels (issue 12)
            from traces.model.envelope import envelope_counts, level_flag

            flags.update(
                level_flag(self.config_id, envelope, envelope_counts(envelope, feats.active))
            )
        warn_envelope(merge_flags({}, flags))
        if hasattr(feats, "index"):
            idx = feats.index(schedule.start)
        else:  # pragma: no cover - defensive
            idx = pd.date_range(schedule.start, periods=p.size, freq=pd.Timedelta(seconds=DT_S))
        s = pd.Series(p, index=idx, name="power_w")
        s.attrs["unit"] = "W"
        return GeneratedTrace(power_w=s, states=states, features=feats, n_clipped=n_clip)

    # ------------------------------------------------------------ persistence
    def _tensors(self) -> dict[str, torch.Tensor]:
        t = self.classifier.state_tensors()
        if self.state_map is not None:
            t["state_map"] = torch.from_numpy(np.ascontiguousarray(self.state_map))
        return t

    def to_json_dict(self, tensor_sha256: str) -> dict[str, Any]:
        """The JSON half of the artifact (see :meth:`save`)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "config_id": self.config_id,
            "model": self.model,
            "gpu": self.gpu,
            "tp": self.tp,
            "source": self.source,
            "feature_set": self.feature_set,
            "feature_names": list(self.feature_names),
            "dt_s": DT_S,
            "n_states": self.n_states,
            "mixture": self.mixture.to_dict(),
            "classifier": {
                "params": self.classifier.get_params_dict(),
                "n_features": int(self.classifier.n_features_),
                "history": _jsonable(getattr(self.classifier, "history_", {})),
            },
            "has_state_map": self.state_map is not None,
            "sampler": self.sampler,
            "phi": [float(v) for v in self.phi],
            "state_rho": self.state_rho,
            "inference_overlap": self.inference_overlap,
            "sampler_info": _jsonable(self.sampler_info),
            "power_range_w": list(self.power_range_w),
            "tdp_w": self.tdp_w,
            "power_limit_w": self.power_limit_w,
            "latency": _jsonable(self.latency.to_dict()),
            "provenance": _jsonable(self.provenance),
            "tensors": {"file": f"{self.config_id}.safetensors", "sha256": tensor_sha256},
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``<config_id>.json`` and ``<config_id>.safetensors`` into ``directory``.

        The JSON carries ``tensors.sha256`` (the tensor file) and ``content_sha256`` (its
        own content, :func:`content_sha256`); both files are written to temporary names
        and moved into place, so a failed save leaves the previous pair untouched.

        Returns
        -------
        Path
            Path of the JSON file.
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        # one metadata key: safetensors writes metadata maps in arbitrary order, a single
        # JSON string keeps the bytes (and so the checksum) reproducible
        tag = json.dumps({"config_id": self.config_id, "schema_version": SCHEMA_VERSION})
        blob = st_save(self._tensors(), metadata={"gridlink": tag})
        sha = hashlib.sha256(blob).hexdigest()
        jp = d / f"{self.config_id}.json"
        meta = self.to_json_dict(sha)
        meta["content_sha256"] = content_sha256(meta)
        # both files are written to temporary names first and moved into place together
        # (a failed write leaves the previous pair untouched)
        with atomic_path(d / f"{self.config_id}.safetensors") as st_tmp, atomic_path(jp) as j_tmp:
            st_tmp.write_bytes(blob)
            j_tmp.write_text(json.dumps(meta, indent=1, sort_keys=False) + "\n")
        logger.info("saved %s (%d tensor bytes) to %s", self.config_id, len(blob), d)
        return jp

    @classmethod
    def from_json_and_blob(
        cls, meta: dict[str, Any], blob: bytes, *, where: str = ""
    ) -> FittedConfiguration:
        """Rebuild from the parsed JSON and the raw safetensors bytes (checks everything)."""
        sv = meta.get("schema_version")
        if sv != SCHEMA_VERSION:
            raise ArtifactError(
                f"{where}: schema_version {sv!r} is not supported (this library reads "
                f"{SCHEMA_VERSION}); refit with `gridlink fit` or upgrade gridlink"
            )
        stamped = meta.get("content_sha256")
        if stamped is None:
            raise ArtifactError(
                f"{where}: JSON lacks content_sha256 (written before content checksums); "
                "refit it, or stamp it knowingly with "
                "traces.model.configuration.stamp_configuration_json"
            )
        if stamped != content_sha256(meta):
            raise ArtifactError(
                f"{where}: content checksum (content_sha256) mismatch: the configuration JSON was changed after "
                "it was saved (edited, corrupt or tampered); refit it, or stamp a deliberate "
                "edit with traces.model.configuration.stamp_configuration_json"
            )
        try:
            want = meta["tensors"]["sha256"]
        except (KeyError, TypeError) as exc:
            raise ArtifactError(f"{where}: JSON lacks tensors.sha256") from exc
        got = hashlib.sha256(blob).hexdigest()
        if got != want:
            raise ArtifactError(
                f"{where}: safetensors checksum mismatch (file {got[:12]}..., JSON says "
                f"{str(want)[:12]}...); the tensor file is corrupt, tampered or belongs to "
                "another artifact"
            )
        try:
            tensors = st_load(blob)
            n_head = int.from_bytes(blob[:8], "little")
            head = json.loads(blob[8 : 8 + n_head])
            tag = json.loads(head.get("__metadata__", {}).get("gridlink", "{}"))
        except (SafetensorError, Exception) as exc:  # noqa: BLE001 - any parse failure
            raise ArtifactError(f"{where}: safetensors file cannot be parsed: {exc}") from exc
        if tag.get("config_id") != meta.get("config_id"):
            raise ArtifactError(
                f"{where}: tensor file belongs to configuration {tag.get('config_id')!r}, "
                f"not {meta.get('config_id')!r}"
            )
        try:
            mixture = PowerStateMixture.from_dict(meta["mixture"])
            cmeta = meta["classifier"]
            clf = StateClassifier.from_state_tensors(
                cmeta["params"], tensors, int(cmeta["n_features"])
            )
            clf.history_ = dict(cmeta.get("history", {}))
            smap = None
            if meta.get("has_state_map"):
                if "state_map" not in tensors:
                    raise ArtifactError(
                        f"{where}: has_state_map is true but tensor 'state_map' is missing"
                    )
                smap = tensors["state_map"].numpy().astype(np.float64)
            obj = cls(
                config_id=meta["config_id"],
                mixture=mixture,
                classifier=clf,
                feature_set=meta["feature_set"],
                latency=meta["latency"],
                sampler=meta["sampler"],
                phi=np.asarray(meta["phi"], dtype=np.float64),
                power_range_w=tuple(meta["power_range_w"]),
                model=meta["model"],
                gpu=meta["gpu"],
                tp=int(meta["tp"]),
                tdp_w=float(meta["tdp_w"]),
                power_limit_w=meta.get("power_limit_w"),
                source=meta.get("source", "measured"),
                state_rho=float(meta.get("state_rho", 0.0)),
                inference_overlap=int(meta.get("inference_overlap", 512)),
                state_map=smap,
                sampler_info=meta.get("sampler_info", {}),
                provenance=meta.get("provenance", {}),
            )
        except ArtifactError:
            raise
        except ModelError as exc:
            raise ArtifactError(f"{where}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{where}: invalid artifact content: {exc!r}") from exc
        if int(meta.get("n_states", obj.n_states)) != obj.n_states:
            raise ArtifactError(
                f"{where}: n_states {meta.get('n_states')} != mixture K {obj.n_states}"
            )
        return obj

    @classmethod
    def load(cls, path: str | Path) -> FittedConfiguration:
        """Load ``<config_id>.json`` (+ the safetensors file beside it).

        Parameters
        ----------
        path : str or Path
            The JSON file, or a directory plus ``config_id`` is not needed: pass the JSON.

        Raises
        ------
        ArtifactError
            Missing files, bad JSON, unsupported ``schema_version``, checksum mismatch
            (corrupt/tampered tensors), config id mismatch, wrong shapes.
        """
        jp = Path(path)
        if jp.suffix != ".json":
            raise ArtifactError(f"{jp}: pass the configuration's .json file")
        try:
            meta = json.loads(jp.read_text())
        except FileNotFoundError as exc:
            raise ArtifactError(f"{jp}: file not found") from exc
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{jp}: not valid JSON ({exc})") from exc
        if not isinstance(meta, dict):
            raise ArtifactError(f"{jp}: top level must be a JSON object")
        cid = meta.get("config_id")
        if cid != jp.stem:
            raise ArtifactError(f"{jp}: config_id {cid!r} does not match the file name {jp.stem!r}")
        fname = (meta.get("tensors") or {}).get("file", f"{jp.stem}.safetensors")
        tp = jp.with_name(Path(fname).name)
        try:
            blob = tp.read_bytes()
        except FileNotFoundError as exc:
            raise ArtifactError(f"{jp}: tensor file {tp.name} not found beside it") from exc
        return cls.from_json_and_blob(meta, blob, where=str(jp))


def _check_loaded_ranges(
    mixture: PowerStateMixture,
    phi: np.ndarray,
    power_range_w: tuple[float, float],
    tp: Any,
    tdp_w: Any,
) -> None:
    """Values of a configuration checked against each other (a JSON edited by hand).

    State means lie in the observed power range, TP >= 1, TDP > 0 [W], |phi| < 1 (a
    stationary AR(1), Eq 9), and the range's top is a plausible per-GPU power for TP GPUs
    of that TDP (:data:`traces.fields.PLAUSIBLE` ``["gpu_power_per_tdp"]``).

    Raises
    ------
    ModelError
        Naming the field and the offending value.
    """
    as_integer(tp, "tp", error=ModelError, ge=1)
    tdp = as_number(tdp_w, "tdp_w", error=ModelError, unit="W", gt=0)
    lo, hi = power_range_w
    means = np.asarray(mixture.means_, dtype=np.float64)
    outside = np.flatnonzero((means < lo - 1e-6) | (means > hi + 1e-6) | ~np.isfinite(means))
    if outside.size:
        k = int(outside[0])
        raise ModelError(
            f"mixture.means[{k}] = {means[k]:g} W lies outside power_range_w [{lo:g}, {hi:g}] "
            "W; the state means and the observed range disagree (an edited or corrupt file)"
        )
    if np.any(~np.isfinite(phi)) or np.any(np.abs(phi) >= 1.0):
        raise ModelError(f"phi must satisfy |phi| < 1 (stationary AR(1), Eq 9), got {phi.tolist()}")
    check_plausible(hi / tdp, "gpu_power_per_tdp", "power_range_w max / tdp_w", error=ModelError)


def content_sha256(meta: dict[str, Any]) -> str:
    """SHA-256 of a configuration JSON's content (every key but ``content_sha256``).

    The content is serialised canonically (sorted keys, no whitespace), so the checksum
    does not depend on indentation or key order.
    """
    body = {k: v for k, v in meta.items() if k != "content_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stamp_configuration_json(path: str | Path) -> str:
    """Recompute and write the ``content_sha256`` of a configuration JSON (atomically).

    For a configuration JSON written before the content checksum existed, or refitted
    by hand; :meth:`FittedConfiguration.save` stamps its files itself.  Returns the
    checksum.
    """
    jp = Path(path)
    meta = json.loads(jp.read_text())
    meta["content_sha256"] = content_sha256(meta)
    write_text(jp, json.dumps(meta, indent=1, sort_keys=False) + "\n")
    return str(meta["content_sha256"])


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays (nested) to plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
