"""Speed and memory of the power generator (FittedConfiguration) on CPU.

Prints seconds and peak resident memory for

1. one server-day (24 h at 250 ms = 345,600 steps): surrogate features, then
   ``generate_from_features`` (classifier + sampling) split into its parts;
2. N server-days through the batched path ``generate_many`` (default N = 240, the
   facility target: 240 servers x 24 h = 83 M steps), processed in chunks of
   ``--chunk`` servers as a facility would, so memory is bounded by the chunk.

Usage::

    python benchmarks/bench_generator.py [--config-id qwen3-8b_A100_tp1] [--servers 240]
        [--hours 24] [--chunk 8] [--threads 1] [--rate 1.0]

No assertion on time here (timing belongs in benchmarks, not tests).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config-id", default="qwen3-8b_A100_tp1")
    ap.add_argument("--servers", type=int, default=240)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rate", type=float, default=1.0, help="Poisson req/s per server")
    ap.add_argument("--batch-windows", type=int, default=16)
    ap.add_argument("--device", default=None, help="torch device, e.g. cuda")
    a = ap.parse_args()

    from traces.model import feature_matrix
    from traces.model.registry import load_configuration
    from traces.workload.arrivals import poisson
    from traces.workload.schedule import TokenDistribution
    from traces.workload.surrogate import features_for_schedule

    cfg = load_configuration(a.config_id)
    cfg.classifier.n_threads = a.threads
    tokens = TokenDistribution.from_azure("conv")
    dur = a.hours * 3600.0
    print(
        f"config {cfg.config_id} K={cfg.n_states} sampler={cfg.sampler}; torch {torch.__version__}, "
        f"threads {a.threads}; {a.hours} h per server at {a.rate} req/s"
    )

    # ---- one server-day, by parts
    t0 = time.perf_counter()
    sched = poisson(a.rate, dur, tokens, rng=0)
    feats = features_for_schedule(sched, cfg.latency, rng=1)
    t_feat = time.perf_counter() - t0
    x = feature_matrix(feats, cfg.feature_names)
    t0 = time.perf_counter()
    (proba,) = cfg.classifier.predict_proba_many(
        [x], batch_windows=a.batch_windows, device=a.device
    )
    t_clf = time.perf_counter() - t0
    t0 = time.perf_counter()
    p, _, n_clip = cfg._sample(proba, np.random.default_rng(2))
    t_samp = time.perf_counter() - t0
    steps = x.shape[0]
    print(
        f"one server: {steps} steps, {len(sched)} requests | surrogate+features {t_feat:.2f} s | "
        f"classifier {t_clf:.2f} s ({t_clf / steps * 1e6:.2f} us/step) | sampling {t_samp:.3f} s | "
        f"mean {p.mean():.1f} W, {n_clip} clipped | peak RSS {_peak_mib():.0f} MiB"
    )

    # ---- many servers, batched, in chunks
    rngs = np.random.default_rng(123).spawn(a.servers)
    t_feat = t_gen = 0.0
    total = 0
    for c0 in range(0, a.servers, a.chunk):
        ids = range(c0, min(c0 + a.chunk, a.servers))
        t0 = time.perf_counter()
        fl = []
        for i in ids:
            s = poisson(a.rate, dur, tokens, rng=rngs[i])
            fl.append(
                feature_matrix(
                    features_for_schedule(s, cfg.latency, rng=rngs[i]), cfg.feature_names
                )
            )
        t_feat += time.perf_counter() - t0
        t0 = time.perf_counter()
        outs = cfg.generate_many(
            fl, [rngs[i] for i in ids], batch_windows=a.batch_windows, device=a.device
        )
        t_gen += time.perf_counter() - t0
        total += sum(o.size for o in outs)
        del fl, outs
    print(
        f"{a.servers} servers x {a.hours} h = {total / 1e6:.1f} M steps | features {t_feat:.1f} s | "
        f"generate_many {t_gen:.1f} s ({t_gen / total * 1e6:.2f} us/step) | total "
        f"{t_feat + t_gen:.1f} s | peak RSS {_peak_mib():.0f} MiB"
    )


if __name__ == "__main__":
    main()
