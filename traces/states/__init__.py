"""Latent power states: the Gaussian mixture (:mod:`.mixture`) and the BiGRU state
classifier with its compiled kernel (:mod:`.classifier`, ``_bigru.c``).

Re-exports the names of the former module ``traces.states`` (the mixture).
"""

from traces.states.mixture import PowerStateMixture, StateError

__all__ = ["PowerStateMixture", "StateError"]
