"""Deprecated path, kept for one release: use gridlink.studies.planning."""

from gridlink.studies.planning import (
    TABLE3_COLUMNS,
    OversubscriptionResult,
    aggregation_cv,
    interconnection_table,
    oversubscription,
    oversubscription_vs_correlation,
    plot_hierarchy,
    plot_oversubscription,
    plot_pcc,
    plot_rack_heatmap,
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
