"""gridlink: from LLM inference traffic to the grid models planners use."""

__version__ = "0.1.0"
