"""Shared timing helper: best-of-repeats wall time, alternating the contenders in one run."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(fn: Callable[[], object], repeats: int = 5, number: int = 1) -> float:
    """Return the best (smallest) wall time in seconds of ``number`` calls of ``fn``, over ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def compare(contenders: dict[str, Callable[[], object]], repeats: int = 5, number: int = 1) -> dict[str, float]:
    """Time each contender, alternating between them round by round so that drift hits all alike."""
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(repeats):
        for name, fn in contenders.items():
            best[name] = min(best[name], best_time(fn, repeats=1, number=number))
    return best
