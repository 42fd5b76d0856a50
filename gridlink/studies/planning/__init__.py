"""Planning views of a simulated facility (paper §4.4-4.5): sizing, oversubscription,
aggregation (:mod:`.tables`) and their figures (:mod:`.plots`).

* :func:`interconnection_table` - the paper's Table 3 layout, one row per method.
* :func:`oversubscription`, :func:`oversubscription_vs_correlation` - racks per row under a
  row power limit (paper Fig 11).
* :func:`aggregation_cv` - coefficient of variation by level (paper Fig 12).
* ``plot_*`` - PNG figures a planner reads.

References
----------
Wilkins, Kazhamiaka & Rajagopal, "From Servers to Sites" (2026), §4.4-4.5, Table 3,
Figs 11-12.
"""

from gridlink.studies.planning.plots import (
    plot_hierarchy,
    plot_oversubscription,
    plot_pcc,
    plot_rack_heatmap,
)
from gridlink.studies.planning.tables import (
    TABLE3_COLUMNS,
    OversubscriptionResult,
    aggregation_cv,
    interconnection_table,
    oversubscription,
    oversubscription_vs_correlation,
)

__all__ = [
    "TABLE3_COLUMNS",
    "interconnection_table",
    "OversubscriptionResult",
    "oversubscription",
    "oversubscription_vs_correlation",
    "aggregation_cv",
    "plot_pcc",
    "plot_rack_heatmap",
    "plot_hierarchy",
    "plot_oversubscription",
]
