"""gridlink: from LLM inference traffic to the grid models planners use."""

from importlib.metadata import PackageNotFoundError, version

try:
    #: The installed distribution's version (package metadata, from pyproject.toml).
    __version__: str = version("gridlink")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "unknown"
