"""Power layer: per-state power sampling (:mod:`.sampler`, iid / AR(1), paper Sec. 3.4)
and the :class:`~traces.power.generator.PowerGenerator` protocol of anything that turns
workload features into a power trace."""
