"""Deprecated path, kept for one release: use traces.states.classifier."""

from traces.states.classifier import (
    KERNEL,
    BiGRUNet,
    ClassifierError,
    StateClassifier,
    _bigru_logits,
    iter_windows,
)

__all__ = [
    "BiGRUNet",
    "ClassifierError",
    "KERNEL",
    "StateClassifier",
    "_bigru_logits",
    "iter_windows",
]
