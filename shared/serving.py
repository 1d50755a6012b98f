"""uvicorn's event loop and HTTP parser: uvloop and httptools where the platform has them, else asyncio and h11.

uvicorn's "auto" makes the same choice silently; naming it lets `techmarket serve` and the container entry point say
which one runs (a server that lost its C extensions is several times slower on small requests, see
docs/benchmarks.md "Load"), and lets a benchmark force the pure-Python pair for a before/after comparison.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

__all__ = ["HttpChoice", "LoopChoice", "server_choices"]

LoopChoice = Literal["uvloop", "asyncio"]
HttpChoice = Literal["httptools", "h11"]


def server_choices() -> tuple[LoopChoice, HttpChoice]:
    """(loop, http) for uvicorn: the C implementations when importable (Windows has no uvloop), the fallbacks else."""
    loop: LoopChoice = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    http: HttpChoice = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
    return loop, http
