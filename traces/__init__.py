"""traces: compositional GPU power trace generation for LLM inference.

Implements the method of Wilkins, Kazhamiaka and Rajagopal, "From Servers to Sites:
Compositional Power Trace Generation of LLM Inference for Infrastructure Planning"
(2026): request schedule -> continuous-batching surrogate -> workload features
(A_t, dA_t) at 250 ms -> BiGRU latent power states -> per-state power sampling ->
servers aggregated to racks, rows and the facility's point of common coupling.

Layers (each imports only the ones below it; import-linter contracts in pyproject.toml):

* :mod:`traces.facility` - spec, traffic, run (racks, chunks, dask), result at the PCC;
* :mod:`traces.measured` - bundle ingestion, fidelity metrics, evaluation, fitting a data root;
* :mod:`traces.model` - the fitted configuration, fitting, registry, transfer, baselines;
* :mod:`traces.states` (mixture, BiGRU classifier) | :mod:`traces.power` (per-state sampling);
* :mod:`traces.workload` - request schedules, arrival processes, the batching surrogate.

:mod:`traces.timeseries` (energy-conserving resampling) depends on none of them.  The old
flat modules (``traces.schedule``, ``traces.fit``, ...) re-export the new ones for one
release.
"""

#: Time step of the generator's grid [s] (nvidia-smi sampling period in the paper's corpus).
DT_S: float = 0.25

__all__ = ["DT_S"]
