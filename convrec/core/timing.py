"""Timing the stages of a turn."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Record in `timings[stage]` the milliseconds the block took (also when it raises).

    >>> t = {}
    >>> with timed(t, "parse"):
    ...     pass
    >>> list(t)
    ['parse']
    """
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = (time.perf_counter() - start) * 1000
