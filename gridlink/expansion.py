"""Deprecated path, kept for one release: use gridlink.grid.expansion."""

from gridlink.grid.expansion import (
    CO2_PRICE_USD_PER_T,
    DISCOUNT_RATE,
    EXAMPLE_BUS,
    HOURS_PER_YEAR,
    LOAD_SHEDDING_CARRIER,
    TECHNOLOGIES,
    VOLL_USD_PER_MWH,
    ExpansionError,
    ExpansionResult,
    annualised_cost,
    comparison_profiles,
    example_network,
    run_expansion_study,
)

__all__ = [
    "EXAMPLE_BUS",
    "LOAD_SHEDDING_CARRIER",
    "DISCOUNT_RATE",
    "VOLL_USD_PER_MWH",
    "CO2_PRICE_USD_PER_T",
    "HOURS_PER_YEAR",
    "TECHNOLOGIES",
    "ExpansionError",
    "annualised_cost",
    "example_network",
    "comparison_profiles",
    "ExpansionResult",
    "run_expansion_study",
]
