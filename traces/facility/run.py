"""From servers to sites: facility topology, per-server generation and aggregation to the PCC.

A facility is a hall of ``rows x racks_per_row x servers_per_rack`` servers.  Each server
holds ``gpus_per_server`` GPUs; a configuration with tensor-parallel degree TP serves one
model replica per TP GPUs, so a server hosts ``gpus_per_server // TP`` replicas, each with
its own request stream, its own continuous-batching surrogate and its own power trace
(paper §3.4).  Server GPU power is the sum of its replicas; racks, rows and the site sum
their servers; the load at the point of common coupling (PCC) is

.. math::

    P_\\mathrm{IT}(t) = \\sum_s \\big(P^\\mathrm{GPU}_s(t) + P^\\mathrm{base}_s\\big), \\qquad
    P_\\mathrm{PCC}(t) = \\mathrm{PUE}\\cdot P_\\mathrm{IT}(t)

(paper Eqs 10-11), with a constant non-GPU IT power per server (CPUs, memory, NICs, fans;
default 1 kW) and a constant power usage effectiveness (default 1.3).

Traffic across replicas (paper §3.4) is either ``independent`` (each replica draws its own
arrival process) or ``shared``: one common intensity path lambda(t) (the Azure trace's
binned arrival rate, or a gamma-modulated Cox intensity around the base rate / diurnal
profile) is thinned independently per replica, which makes the streams positively
correlated.  ``correlation`` in [0, 1] mixes the two: a fraction ``correlation`` of each
replica's rate follows the shared path, the rest is an independent stream.

Randomness: every replica's generator is seeded from the master ``seed`` through
``numpy.random.SeedSequence(seed, spawn_key=(0, server_index))`` (and its spawned children
per replica), so the same seed gives the same facility whether racks run serially or on a
dask cluster, in any order.

Work is chunked by groups of racks (:func:`rack_groups`, about :data:`CHUNK_STEPS`
replica-steps each): a group's replicas are generated together (the model's batched
``generate_many`` when it has one) and only the racks' partial sums leave the chunk, so
memory is bounded by one chunk plus the rack/row/site series; per-server series are kept
only with ``keep_servers=True``.  The BiGRU runs the classifier's bounded-memory window
plan (``StateClassifier.context_plan``: a step's state depends only on the traffic within
3.7 min of it for the shipped configurations), the windows of all the chunk's replicas of
a configuration batched together, with window edges staggered across replicas.  Traffic
is simulated over a warm-up and a cool-down margin of :data:`EDGE_MARGIN_S` on each side
of the horizon and trimmed, so no statistic depends on the sequence ends.

References
----------
Wilkins, Kazhamiaka & Rajagopal, "From Servers to Sites: Compositional Power Trace
Generation of LLM Inference for Infrastructure Planning" (2026), §3.1, §3.4, Eqs 10-11.

One cohesive module over ~600 lines: the execution engine of one facility run (generators
per configuration, rack chunks, edge margins and the bounded-memory window plan, serial or
dask execution and the ``simulate_*`` entry points); the spec, traffic and result live
beside it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from traces import DT_S
from traces.facility.result import FacilityResult, RackChunk, assemble
from traces.facility.spec import METHODS, PAPER_METHODS, FacilityConfigError, FacilitySpec
from traces.facility.traffic import _power_rng, _replica_streams, replica_schedule, shared_intensity
from traces.fields import as_integer
from traces.model.envelope import check_envelope, envelope_counts, merge_flags

if TYPE_CHECKING:  # pragma: no cover - typing only
    from distributed import Client, LocalCluster

    from traces.model.configuration import FittedConfiguration
    from traces.power.generator import PowerGenerator
    from traces.workload.schedule import RequestSchedule
    from traces.workload.surrogate import WorkloadFeatures

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------
# Generators (model / baselines), cached per process
# --------------------------------------------------------------------------------------

_GEN_LOCK = threading.Lock()
_CONFIG_CACHE: dict[str, FittedConfiguration] = {}
_GEN_CACHE: dict[tuple[str, str], PowerGenerator] = {}


def _load_config(config_id: str) -> FittedConfiguration:
    with _GEN_LOCK:
        if config_id not in _CONFIG_CACHE:
            from traces.model.registry import available_ids, load_configuration

            try:
                _CONFIG_CACHE[config_id] = load_configuration(config_id)
            except (KeyError, FileNotFoundError, ValueError) as exc:
                known = ", ".join(available_ids()) or "(none shipped)"
                raise FacilityConfigError(
                    f"assignment: unknown configuration {config_id!r}; shipped "
                    f"configurations are: {known}"
                ) from exc
        return _CONFIG_CACHE[config_id]


def _config_tp(cfg: FittedConfiguration, config_id: str) -> int:
    tp = getattr(cfg, "tp", None)
    if tp is None:
        tail = config_id.rsplit("_tp", 1)
        tp = int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else 1
    return int(tp)


def _generator(config_id: str, method: str) -> PowerGenerator:
    """The power generator for a configuration and method (cached per process).

    ``"model"`` is the fitted configuration itself; ``"work"`` is the work-to-power model
    stored with it (``provenance["work_power"]``, :func:`traces.model.work_power.from_configuration`).
    Baselines are rebuilt from the
    statistics stored with the configuration (``provenance["baseline_stats"]``, fitted on
    the configuration's own training data, :func:`traces.model.baselines.baseline_stats`); the
    TDP baseline falls back to the configuration's ``tdp_w``.
    """
    cfg = _load_config(config_id)
    if method == "model":
        return cfg
    key = (config_id, method)
    with _GEN_LOCK:
        if key not in _GEN_CACHE and method == "work":
            from traces.model.work_power import WorkPowerError, from_configuration

            try:
                _GEN_CACHE[key] = from_configuration(cfg)
            except WorkPowerError as exc:
                raise FacilityConfigError(
                    f"method='work': configuration {config_id!r} stores no usable work-to-power "
                    f"model ({exc}); use a measured configuration fitted with issue 16 "
                    "(provenance['work_power']) or another method"
                ) from exc
        if key not in _GEN_CACHE:
            from traces.model.baselines import TDPBaseline, baselines_from_stats

            prov = getattr(cfg, "provenance", None) or {}
            stats = prov.get("baseline_stats") if isinstance(prov, Mapping) else None
            if stats:
                built = baselines_from_stats(stats)
                if method not in built:
                    why = (stats.get("unavailable") or {}).get(method, "not stored")
                    raise FacilityConfigError(
                        f"method={method!r} is unavailable for configuration {config_id!r}: "
                        f"{why}; use method='model', 'tdp' or 'mean'"
                    )
                _GEN_CACHE[key] = built[method]
            elif method == "tdp" and getattr(cfg, "tdp_w", None):
                _GEN_CACHE[key] = TDPBaseline(float(cfg.tdp_w)).fit()
            else:
                raise FacilityConfigError(
                    f"method={method!r}: configuration {config_id!r} carries no baseline "
                    "statistics (provenance['baseline_stats']); refit it with baseline stats "
                    "or use method='model'/'tdp'"
                )
        return _GEN_CACHE[key]


def validate_configurations(spec: FacilitySpec) -> dict[str, int]:
    """Load every assigned configuration and check GPUs per server against its TP.

    Returns
    -------
    dict
        ``config_id -> replicas per server``.

    Raises
    ------
    FacilityConfigError
        Unknown configuration id, or ``gpus_per_server`` not a multiple of the TP.
    """
    out: dict[str, int] = {}
    for cid in dict.fromkeys(spec.server_configs()):
        tp = _config_tp(_load_config(cid), cid)
        if spec.gpus_per_server % tp:
            raise FacilityConfigError(
                f"gpus_per_server={spec.gpus_per_server} is not a multiple of the tensor-parallel "
                f"degree TP={tp} of {cid!r}; use a multiple of {tp}"
            )
        out[cid] = spec.gpus_per_server // tp
    return out


# --------------------------------------------------------------------------------------
# One rack (the chunk)
# --------------------------------------------------------------------------------------


def _features(
    schedule: RequestSchedule,
    cfg: FittedConfiguration,
    spec: FacilitySpec,
    rng: np.random.Generator,
    duration_s: float,
    *,
    ledger: bool = False,
) -> WorkloadFeatures:
    """Surrogate features of one replica; with the work ledger when the configuration's
    classifier reads it or ``ledger`` (the ``"work"`` method) asks for it.  The ledger path
    draws the same random numbers, so A_t and dA_t do not depend on ``ledger``."""
    from traces.model.configuration import needs_ledger
    from traces.workload.surrogate import features_for_schedule

    # the surrogate's extra columns (prefill tokens, decode rate, waiting) cost more than
    # A_t and dA_t; compute them only for configurations whose classifier reads them
    names = getattr(cfg, "feature_names", None)
    extra = names is None or any(n not in ("active", "delta_active") for n in names)
    if ledger or (names is not None and needs_ledger(names)):  # work ledger (issue 16)
        from traces.workload.ledger import simulate_work

        return simulate_work(
            schedule, cfg.latency, max_batch=spec.max_batch, rng=rng, duration_s=duration_s
        )
    return features_for_schedule(
        schedule, cfg.latency, max_batch=spec.max_batch, rng=rng, duration_s=duration_s,
        extra=extra,
    )  # fmt: skip


#: Default size of a chunk of work: replica-steps generated together (2^23, e.g. 6 racks of
#: 4 servers for 24 h).  The compiled BiGRU kernel runs 4 sequences at a time, so its speed
#: per replica-step does not grow with the batch beyond a few blocks per thread; the chunk
#: bounds memory (features, logits and power of one chunk, ~60-90 bytes per replica-step).
#: Measured on the 240-server day (benchmarks/bench_facility.py, 2 cores): 2^25 32 s and
#: 2.3 GB peak, 2^24 31 s and 1.6 GB, 2^23 30 s and 1.1 GB, 2^22 37 s and 1.0 GB.
CHUNK_STEPS: int = 2**23

#: Warm-up and cool-down margin [s]: every replica's traffic, batching surrogate and
#: power are simulated over ``[-EDGE_MARGIN_S, horizon_s + EDGE_MARGIN_S)`` and trimmed
#: to the horizon, so no step of the horizon sits at a sequence end (where the surrogate
#: starts with an empty queue and the BiGRU has no context).  3 min covers the classifier's
#: context on each side (``train_window // 8`` = 32 s for the shipped ones) plus
#: about 2 min of queue warm-up (several request lifetimes of the shipped latency
#: models); a test checks that the first and last minute of a steady hall match its
#: middle.  Traffic in the margins continues the scenario: the profile's first and last
#: bin, the Azure replay and the shared intensity on both sides.
EDGE_MARGIN_S: float = 180.0

#: Most BiGRU windows per inference batch (``generate_many(batch_windows=...)``); a
#: chunk's windows are split into equal batches of at most this.
BATCH_WINDOWS: int = 512


def _batch_windows(n_seq: int, T: int, window: int) -> int:
    """Equal batches of at most :data:`BATCH_WINDOWS` for ``n_seq`` sequences of ``T`` steps
    (no small trailing batch: a batch's per-step cost is partly fixed)."""
    n_w = max(1, n_seq * -(-T // window))
    n_b = -(-n_w // BATCH_WINDOWS)
    return max(1, -(-n_w // n_b))


def _margin_steps() -> int:
    """:data:`EDGE_MARGIN_S` in 250 ms steps."""
    return int(round(EDGE_MARGIN_S / DT_S))


def _window_phase(seq: np.random.SeedSequence, window: int) -> int:
    """Where a replica's inference windows start (0..window-1), from its power seed
    without drawing from it: staggered across replicas, so the window edges of a hall's
    replicas do not fall on the same steps."""
    return int(seq.generate_state(1, dtype=np.uint32)[0]) % max(int(window), 1)


def _generate(
    gen: PowerGenerator,
    feats: list[WorkloadFeatures],
    rngs: list[np.random.Generator],
    T: int,
    *,
    phases: list[int] | None = None,
) -> list[np.ndarray]:
    """Generate power for many replicas, batched when the generator supports it.

    The model runs the classifier's bounded-memory window plan
    (``StateClassifier.context_plan``) with each replica's window ``phases``.
    """
    import torch

    with torch.inference_mode():
        generate_many = getattr(gen, "generate_many", None)  # batched (the fitted model)
        if generate_many is not None:
            clf = getattr(gen, "classifier", None)
            window = clf.context_plan()[0] if clf is not None else 1024
            batch = _batch_windows(len(feats), T, window)
            try:
                outs = list(generate_many(feats, rngs, batch_windows=batch, phases=phases))
            except TypeError:  # a generate_many without batch_windows/phases
                outs = list(generate_many(feats, rngs))
        else:
            outs = [gen.generate_from_features(f, rng=r) for f, r in zip(feats, rngs, strict=True)]
    res = []
    for o in outs:
        a = np.asarray(o, dtype=np.float64)
        if a.shape != (T,):
            raise ValueError(f"generator returned shape {a.shape}, expected ({T},)")
        res.append(a)
    return res


def simulate_racks(
    spec: FacilitySpec,
    racks: Sequence[int],
    *,
    methods: Sequence[str] = ("model",),
    keep_servers: bool = False,
    shared: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[RackChunk]:
    """Generate a group of racks: schedules, surrogate features and power of every replica.

    All replicas of the group that run one configuration go through one batched
    ``generate_many`` call.  Features (A_t, dA_t) are computed once per replica and
    shared by all ``methods``, so the model and the baselines see identical traffic.
    Each replica's randomness comes only from its server's seed sequence, so the result
    of a rack does not depend on which racks it is grouped with.

    Parameters
    ----------
    spec : FacilitySpec
        Facility.
    racks : sequence of int
        Rack indices in ``[0, n_racks)`` (row-major).
    methods : sequence of str
        Any of :data:`METHODS`; the first is returned in ``gpu_w``.
    keep_servers : bool
        Keep per-server series.
    shared : (edges_s, rate_rps), optional
        Precomputed ``shared_intensity(spec, margin_s=EDGE_MARGIN_S)`` (computed here when
        needed and absent).

    Returns
    -------
    list of RackChunk
        One per rack, in the order of ``racks``.
    """
    methods = tuple(methods)
    for m in methods:
        if m not in METHODS:
            raise FacilityConfigError(f"method must be one of {METHODS}, got {m!r}")
    for rack in racks:
        if not 0 <= rack < spec.n_racks:
            raise ValueError(f"rack index {rack} outside [0, {spec.n_racks})")
    margin = EDGE_MARGIN_S
    if spec.traffic_mode == "shared" and shared is None:
        shared = shared_intensity(spec, margin_s=margin)
    T = spec.n_steps
    m0 = _margin_steps()
    t_ext = T + 2 * m0
    spr = spec.servers_per_rack
    configs = spec.server_configs()
    n_res = int(round(spec.horizon_s / spec.resolution_s))
    arrivals = np.zeros((len(racks), n_res), dtype=np.int64)
    envelope: list[dict[str, np.ndarray]] = [{} for _ in racks]
    envelope_defs: dict[str, dict[str, Any]] = {}
    # per configuration: (row in the group's server matrix, features, power seed sequence)
    jobs: dict[str, list[tuple[int, WorkloadFeatures, np.random.SeedSequence]]] = {}
    flags: list[dict[str, Any]] = [{} for _ in racks]
    for g, rack in enumerate(racks):
        for slot in range(spr):
            s = rack * spr + slot
            cid = configs[s]
            cfg = _load_config(cid)
            n_rep = spec.gpus_per_server // _config_tp(cfg, cid)
            for r_sched, r_surr, r_pow in _replica_streams(spec.seed, s, n_rep):
                sched = replica_schedule(spec, r_sched, shared, margin_s=margin)
                t_arr = np.asarray(sched.arrival_s) - margin  # horizon time [s]
                t_arr = t_arr[(t_arr >= 0) & (t_arr < spec.horizon_s)]
                k = np.minimum((t_arr // spec.resolution_s).astype(int), n_res - 1)
                arrivals[g] += np.bincount(k, minlength=n_res)
                feats = _features(
                    sched, cfg, spec, r_surr, spec.horizon_s + 2 * margin, ledger="work" in methods
                )
                jobs.setdefault(cid, []).append((g * spr + slot, feats, r_pow))
                # out-of-envelope flags and concurrency-level tallies over the horizon
                # (margins trimmed); judged and logged once per facility in assemble()
                env = (getattr(cfg, "provenance", None) or {}).get("envelope")
                if env:
                    active = np.asarray(feats.active)[m0 : m0 + T]
                    inside = (sched.arrival_s >= margin) & (
                        sched.arrival_s < margin + spec.horizon_s
                    )
                    seen = SimpleNamespace(n_in=sched.n_in[inside], n_out=sched.n_out[inside])
                    in_horizon = SimpleNamespace(active=active)
                    merge_flags(flags[g], check_envelope(env, seen, in_horizon, config_id=cid))
                    if "max_level" in env:
                        c = envelope_counts(env, active)
                        envelope[g][cid] = envelope[g].get(cid, 0) + c
                        envelope_defs[cid] = env
    per_method: dict[str, np.ndarray] = {}
    for m in methods:
        servers = np.zeros((len(racks) * spr, T), dtype=np.float64)
        for cid, items in jobs.items():
            gen = _generator(cid, m)
            rngs = [_power_rng(seq, m) for _, _, seq in items]
            clf = getattr(gen, "classifier", None)
            window = clf.context_plan()[0] if clf is not None else 1
            phases = [_window_phase(seq, window) for _, _, seq in items]
            powers = _generate(gen, [f for _, f, _ in items], rngs, t_ext, phases=phases)
            for (row, _, _), p in zip(items, powers, strict=True):
                servers[row] += p[m0 : m0 + T]
        per_method[m] = servers.reshape(len(racks), spr, T)
    first = methods[0]
    out = []
    for g, rack in enumerate(racks):
        sums = {m: v[g].sum(axis=0) for m, v in per_method.items()}
        srv = {m: v[g].copy() for m, v in per_method.items()} if keep_servers else {}
        out.append(
            RackChunk(
                rack=int(rack),
                gpu_w=sums[first],
                server_gpu_w=srv.get(first),
                arrivals=arrivals[g],
                methods=sums,
                server_methods=srv,
                out_of_envelope=flags[g],
                envelope_counts=envelope[g],
                envelopes={cid: envelope_defs[cid] for cid in envelope[g]},
            )
        )
    return out


def simulate_rack(
    spec: FacilitySpec,
    rack: int,
    *,
    methods: Sequence[str] = ("model",),
    keep_servers: bool = False,
    shared: tuple[np.ndarray, np.ndarray] | None = None,
) -> RackChunk:
    """One rack (see :func:`simulate_racks`)."""
    (chunk,) = simulate_racks(
        spec, [rack], methods=methods, keep_servers=keep_servers, shared=shared
    )
    return chunk


def rack_groups(
    spec: FacilitySpec,
    racks: Sequence[int],
    *,
    chunk_steps: int = CHUNK_STEPS,
    n_parallel: int = 1,
) -> list[list[int]]:
    """Split racks into consecutive groups of at most about ``chunk_steps`` replica-steps.

    A group holds at least one rack; groups are as equal in size as possible and, for
    ``n_parallel`` workers, their number is a multiple of ``n_parallel`` when there are
    enough racks (so that workers finish together).  Results never depend on the
    grouping: a rack's power depends only on the spec and its index.
    """
    reps = validate_configurations(spec)
    per_rack = spec.servers_per_rack * max(reps.values())
    racks = list(racks)
    if not racks:
        return []
    most = max(1, int(chunk_steps // max(1, per_rack * spec.n_steps)))
    n_groups = -(-len(racks) // most)
    if n_parallel > 1:
        n_groups = min(len(racks), -(-n_groups // n_parallel) * n_parallel)
    return [list(map(int, g)) for g in np.array_split(np.asarray(racks), n_groups)]


# --------------------------------------------------------------------------------------
# Running racks serially or on dask
# --------------------------------------------------------------------------------------


def _check_parallel(workers: Any, scheduler: Any) -> None:
    """Refuse bad ``workers`` / ``scheduler`` before any work."""
    if workers is not None:
        if scheduler is not None:
            raise FacilityConfigError("give workers or scheduler, not both")
        as_integer(workers, "workers", error=FacilityConfigError, ge=1)


def _make_client(
    workers: int | None, scheduler: str | Client | None
) -> tuple[Client, LocalCluster | None]:
    """A dask.distributed Client (and the cluster we own, or None)."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        if isinstance(scheduler, Client):
            return scheduler, None
        try:
            return Client(scheduler), None
        except (OSError, ValueError) as exc:  # unreachable, or not an address
            raise FacilityConfigError(
                f"scheduler: cannot connect to the dask scheduler {scheduler!r} ({exc}); give "
                "a running scheduler's address such as 'tcp://host:8786', or use workers"
            ) from exc
    assert workers is not None
    _check_parallel(workers, None)
    import dask

    # dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 in their workers by default, which
    # also switches off glibc's dynamic mmap threshold: every large temporary array is
    # then mapped and unmapped afresh, and the page faults (kernel time) made a
    # 2-worker hall-day slower than the serial run (benchmarks/bench_facility.py).
    # Our workers hold one chunk at a time and free it, so glibc's defaults are kept.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    return Client(cluster), cluster


def _group_task(
    spec: FacilitySpec,
    racks: list[int],
    methods: tuple[str, ...],
    keep_servers: bool,
    shared: tuple[np.ndarray, np.ndarray] | None,
) -> list[RackChunk]:
    import multiprocessing

    if multiprocessing.current_process().name != "MainProcess":
        import torch

        torch.set_num_threads(1)  # one single-threaded worker process per core
    return simulate_racks(spec, racks, methods=methods, keep_servers=keep_servers, shared=shared)


def iter_racks(
    spec: FacilitySpec,
    *,
    methods: Sequence[str] = ("model",),
    racks: Sequence[int] | None = None,
    keep_servers: bool = False,
    workers: int | None = None,
    scheduler: str | Client | None = None,
    progress: bool = True,
    chunk_steps: int = CHUNK_STEPS,
) -> Iterator[RackChunk]:
    """Generate racks chunk by chunk, serially or on a dask cluster.

    Racks are grouped by :func:`rack_groups`; each group is one task.  Chunks are yielded
    as groups complete (in rack order serially, in any order on dask).  A rack's power
    depends only on the spec and its index, never on grouping, order or workers.

    Parameters
    ----------
    spec : FacilitySpec
    methods : sequence of str
        Methods evaluated on the same features.
    racks : sequence of int, optional
        Which racks (default all).
    keep_servers, workers, scheduler, progress
        See :func:`simulate_facility`.
    chunk_steps : int
        Replica-steps per group (memory/speed trade-off).
    """
    from tqdm.auto import tqdm

    methods = tuple(methods)
    rack_ids = list(range(spec.n_racks)) if racks is None else [int(r) for r in racks]
    groups = rack_groups(spec, rack_ids, chunk_steps=chunk_steps)
    shared = (
        shared_intensity(spec, margin_s=EDGE_MARGIN_S) if spec.traffic_mode == "shared" else None
    )
    bar = tqdm(
        total=len(rack_ids) * spec.servers_per_rack,
        unit="server",
        desc="servers",
        disable=not progress,
    )
    try:
        if workers is None and scheduler is None:
            for grp in groups:
                chunks = simulate_racks(
                    spec, grp, methods=methods, keep_servers=keep_servers, shared=shared
                )
                bar.update(len(grp) * spec.servers_per_rack)
                yield from chunks
            return
        from distributed import as_completed

        client, cluster = _make_client(workers, scheduler)
        try:
            # a multiple of the worker threads in equal groups, so the workers finish together
            n_par = max(1, sum(client.nthreads().values()))
            groups = rack_groups(spec, rack_ids, chunk_steps=chunk_steps, n_parallel=n_par)
            # spec and the shared path are small: sent with each task, never scattered
            futures = [
                client.submit(
                    _group_task,
                    spec,
                    grp,
                    methods,
                    keep_servers,
                    shared,
                    pure=False,
                )
                for grp in groups
            ]
            for fut in as_completed(futures):
                chunks = fut.result()
                fut.release()
                bar.update(len(chunks) * spec.servers_per_rack)
                yield from chunks
        finally:
            if cluster is not None:
                client.close()
                cluster.close()
    finally:
        bar.close()


def simulate_facility(
    spec: FacilitySpec,
    *,
    method: str = "model",
    workers: int | None = None,
    scheduler: str | Client | None = None,
    progress: bool = True,
    keep_servers: bool = False,
) -> FacilityResult:
    """Simulate a facility's power from servers to the PCC (paper §3.4, Eqs 10-11).

    Parameters
    ----------
    spec : FacilitySpec
        Topology, configurations, traffic, base IT power, PUE, horizon, seed, resolution.
    method : {"model", "tdp", "mean", "lut"}
        The fitted BiGRU model or one of the baselines (paper §4.2).
    workers : int, optional
        Run racks on a new ``dask.distributed.LocalCluster`` with this many single-threaded
        worker processes.
    scheduler : str or distributed.Client, optional
        Address of an existing dask scheduler (or a Client) to run racks on.
    progress : bool
        Show a tqdm progress bar of servers done.
    keep_servers : bool
        Keep per-server series (memory N_servers x T x 8 bytes).

    Returns
    -------
    FacilityResult
        Rack/row/site IT power at 250 ms [kW] and the PCC load [MW]; identical for the same
        spec whether run serially or on dask.

    Raises
    ------
    FacilityConfigError
        Unknown method or configuration, GPUs per server not a multiple of TP.
    """
    if method not in METHODS:
        raise FacilityConfigError(f"method must be one of {METHODS}, got {method!r}")
    _check_parallel(workers, scheduler)
    replicas = validate_configurations(spec)
    logger.info(
        "simulating %d servers (%d racks) x %.0f s with method=%s, %s",
        spec.n_servers,
        spec.n_racks,
        spec.horizon_s,
        method,
        "serial" if workers is None and scheduler is None else "dask",
    )
    chunks = iter_racks(
        spec,
        methods=(method,),
        keep_servers=keep_servers,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
    )
    return assemble(spec, chunks, method=method, keep_servers=keep_servers, replicas=replicas)


def simulate_methods(
    spec: FacilitySpec,
    methods: Sequence[str] = PAPER_METHODS,
    *,
    workers: int | None = None,
    scheduler: str | Client | None = None,
    progress: bool = True,
    keep_servers: bool = False,
) -> dict[str, FacilityResult]:
    """Simulate several methods on identical traffic (features computed once per replica).

    Parameters
    ----------
    spec : FacilitySpec
    methods : sequence of str
        Subset of :data:`METHODS` (default: the paper's four, :data:`PAPER_METHODS`).
    workers, scheduler, progress, keep_servers
        As :func:`simulate_facility`.

    Returns
    -------
    dict
        ``method -> FacilityResult``; each equals ``simulate_facility(spec, method=m)``.
    """
    methods = tuple(methods)
    for m in methods:
        if m not in METHODS:
            raise FacilityConfigError(f"method must be one of {METHODS}, got {m!r}")
    _check_parallel(workers, scheduler)
    replicas = validate_configurations(spec)
    collected: dict[int, RackChunk] = {}
    for ch in iter_racks(
        spec,
        methods=methods,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        keep_servers=keep_servers,
    ):
        collected[ch.rack] = ch
    return {
        m: assemble(spec, collected, method=m, keep_servers=keep_servers, replicas=replicas)
        for m in methods
    }
