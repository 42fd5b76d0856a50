"""Studies built from the generator and the grid adapters.

- :mod:`gridlink.studies.demo` -- the ``gridlink demo`` pipeline (traffic -> PCC -> grid).
- :mod:`gridlink.studies.planning` -- planning views: interconnection table,
  oversubscription, aggregation, plots.
"""
