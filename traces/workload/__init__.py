"""Workload layer: request schedules, arrival processes and the batching surrogate.

Knows nothing of power states, power sampling, fitted models, measured bundles or the
facility (import-linter contract in pyproject.toml). Anything that looks like a measured
run is read through the :class:`~traces.workload.records.RequestLog` protocol.
"""
