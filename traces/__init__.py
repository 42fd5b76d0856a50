"""traces: compositional GPU power trace generation for LLM inference.

Implements the method of Wilkins, Kazhamiaka and Rajagopal, "From Servers to Sites:
Compositional Power Trace Generation of LLM Inference for Infrastructure Planning"
(2026): request schedule -> continuous-batching surrogate -> workload features
(A_t, dA_t) at 250 ms -> BiGRU latent power states -> per-state power sampling ->
servers aggregated to racks, rows and the facility's point of common coupling.
"""

#: Time step of the generator's grid [s] (nvidia-smi sampling period in the paper's corpus).
DT_S: float = 0.25

__all__ = ["DT_S"]
