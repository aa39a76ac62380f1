"""Wall time spent in each stage of judging and loading drops, summed per process.

The batch's log line and ``bench/`` read these totals to say where a night's
time went (read, type, validate, rules, load, history, quarantine) without a
profiler attached.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from typing import Iterator

_seconds: Counter = Counter()


@contextmanager
def stage(name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        _seconds[name] += time.perf_counter() - started


def totals() -> dict[str, float]:
    """Seconds per stage since the last ``reset``."""
    return dict(_seconds)


def reset() -> None:
    _seconds.clear()


def summary() -> str:
    """'read 1.2s, type 0.8s, …' in the order the stages ran."""
    return ", ".join(f"{name} {seconds:.1f}s" for name, seconds in _seconds.items())
