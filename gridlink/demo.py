"""Deprecated path, kept for one release: use gridlink.studies.demo."""

from gridlink.studies.demo import (
    DEFAULT_CONFIG_ID,
    EXPANSION_BACKGROUND_FACTOR,
    EXPANSION_DAYS,
    FEEDER_BUS,
    FEEDER_LOAD_SCALING,
    FEEDER_NETWORK,
    DemoOptions,
    DemoReport,
    default_configuration,
    demo_spec,
    format_report,
    run_demo,
    run_expansion_step,
    run_feeder_step,
)

__all__ = [
    "DEFAULT_CONFIG_ID",
    "DemoOptions",
    "DemoReport",
    "default_configuration",
    "demo_spec",
    "FEEDER_NETWORK",
    "FEEDER_BUS",
    "FEEDER_LOAD_SCALING",
    "EXPANSION_DAYS",
    "EXPANSION_BACKGROUND_FACTOR",
    "run_feeder_step",
    "run_expansion_step",
    "run_demo",
    "format_report",
]
