"""Build hook for the optional C inference kernel (all metadata lives in pyproject.toml).

``traces.states._bigru`` is the fused CPU BiGRU of :mod:`traces.states.classifier`.  It is optional: if it
cannot be compiled (no C compiler), the install still succeeds and the classifier falls
back to its PyTorch kernel (same model, ~2x slower; see docs/facility.md).
"""

import sys

from setuptools import Extension, setup

args = (
    []
    if sys.platform == "win32"
    else ["-O3", "-std=gnu99", "-ffp-contract=fast", "-fno-strict-aliasing", "-Wno-psabi"]
)

setup(
    ext_modules=[
        Extension(
            "traces.states._bigru",
            sources=["traces/states/_bigru.c"],
            extra_compile_args=args,
            optional=True,
        )
    ]
)
