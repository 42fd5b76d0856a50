"""Measured layer: bundle ingestion (:mod:`.ingest`), fidelity metrics (:mod:`.fidelity`),
the evaluation protocol (:mod:`.evaluate`) and fitting a data root (:mod:`.training`).

This is where a :class:`~traces.measured.ingest.MeasuredBundle` meets the layers below: it
satisfies their protocols (:class:`traces.workload.records.RequestLog`)."""
