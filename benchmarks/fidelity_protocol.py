"""Held-out fidelity with the issue-16 protocol (traces.measured.protocol); prints the tables of docs/fidelity.md.

Usage (from the repository root, data beside it in ../shared/data)::

    python benchmarks/fidelity_protocol.py qwen3-8b_A100_tp1 [--no-model] [--epochs 25]
    python benchmarks/fidelity_protocol.py qwen3-8b_A100_tp1 --seed-study --feature-set f2 --members 3

The first form runs every method on every fold (leave-one-trace-out or four blocked folds),
selects on validation folds (candidates work, lookup, LUT) and prints per held-out trace the
medians over fit seeds 0-2 and the seed spread at 250 ms and 1 s.  ``--seed-study`` fits the
BiGRU (optionally a posterior ensemble) on all traces but the BurstGPT replay with fit seeds
0-4 and prints the held-out energy error per seed.  Slow on 2 cores (the A100 run with the
model: ~10 min).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from traces.measured.fidelity import fidelity_metrics
from traces.measured.ingest import find_bundles, load_bundle
from traces.measured.protocol import (
    CANDIDATES,
    PROTOCOL_METHODS,
    evaluate_protocol,
    fold_features,
    protocol_table,
)
from traces.model.posterior_ensemble import fit_ensemble_configuration
from traces.workload.surrogate import fit_latency_model

ROOT = Path(__file__).resolve().parents[1]
DATA = [ROOT.parent / "shared" / "data" / d for d in ("powertrace_sim", "powertrace_sim_incoming")]
BURSTGPT = "a100_trace_replay_tp1_1784576269"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config_id")
    ap.add_argument("--no-model", action="store_true", help="leave the BiGRU model out")
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--seed-study", action="store_true")
    ap.add_argument("--feature-set", default="f2")
    ap.add_argument("--members", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    bundles = [load_bundle(p) for p in find_bundles(DATA) if p.parent.name == a.config_id]
    if a.seed_study:
        test = next(b for b in bundles if b.run_id == BURSTGPT)
        train = [b for b in bundles if b is not test]
        latency = fit_latency_model(train)
        de = []
        for s in range(5):
            cfg = fit_ensemble_configuration(
                train, seed=s, n_members=a.members, max_epochs=a.epochs, feature_set=a.feature_set
            )
            feats, _ = fold_features(test, latency, rng=np.random.default_rng([s, 1]))
            m = fidelity_metrics(test.power_w.to_numpy(), cfg.generate_from_features(feats, rng=s))
            de.append(m["delta_energy_pct"])
            print(f"fit seed {s}: dE {m['delta_energy_pct']:+.2f} %  KS {m['ks']:.3f}")
        absd = np.abs(de)
        print(f"median |dE| {np.median(absd):.2f} %, spread {absd.max() - absd.min():.2f} pp")
        return
    methods = tuple(m for m in PROTOCOL_METHODS if not (a.no_model and m == "model"))
    rows, selections = evaluate_protocol(
        bundles,
        methods=methods,
        fit_seeds=(0, 1, 2),
        fit_kwargs={"max_epochs": a.epochs},
        candidates=tuple(c for c in CANDIDATES if c != "model"),
    )
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    print(protocol_table(rows).round(3).to_string())
    print(json.dumps([{"split": s["split"], "method": s["method"]} for s in selections], indent=1))


if __name__ == "__main__":
    main()
