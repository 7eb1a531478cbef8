"""Shared timing helpers: best-of-repeats wall time, alternating the contenders in one run."""

from __future__ import annotations

import importlib
import math
import statistics
import time
from collections.abc import Callable

import numpy as np


def best_time(fn: Callable[[], object], repeats: int = 5, number: int = 1) -> float:
    """Return the best (smallest) wall time in seconds of ``number`` calls of ``fn``, over ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def compare(
    contenders: dict[str, Callable[[], object]],
    repeats: int = 5,
    number: int = 1,
    statistic: Callable[[list[float]], float] = min,
    pause: float = 0.0,
) -> dict[str, float]:
    """Time each contender, alternating between them round by round so that drift hits all alike.

    Each round times ``number`` calls of every contender once; the result is, per contender, the
    ``statistic`` of its ``repeats`` round times (the best by default, ``statistics.median`` for a
    median). With ``pause`` > 0, each turn first sleeps that many seconds and makes one untimed
    call: the previous contender's worker threads (OpenBLAS's and OpenMP's spin for a while after
    each call) have gone idle, and the timed calls measure the contender as it runs on its own.
    """
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            if pause > 0:
                time.sleep(pause)
                fn()
            times[name].append(best_time(fn, repeats=1, number=number))
    return {name: statistic(t) for name, t in times.items()}


def median_in_turns(
    contenders: dict[str, Callable[[], object]], rounds: int, turn: float, pause: float
) -> dict[str, float]:
    """Each contender's median time per call over ``rounds`` alternating rounds (:func:`compare`).

    Each contender is first called once, untimed (allocations, thread pools, first-call
    dispatch). A turn makes as many calls as the slowest contender needs to fill ``turn``
    seconds, the same number for all, so that short calls are timed in a row rather than one by
    one; ``pause`` is :func:`compare`'s.
    """
    for fn in contenders.values():
        fn()
    single = max(best_time(fn, repeats=1) for fn in contenders.values())
    number = max(1, math.ceil(turn / single))
    return compare(contenders, repeats=rounds, number=number, statistic=statistics.median, pause=pause)


def torch_or_none(threads: int = 2, announce: bool = True) -> object | None:
    """Import PyTorch set to ``threads`` threads, or return ``None`` (and say so) when it is missing.

    With ``announce``, print the versions of torch and numpy and torch's number of threads.
    """
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        print("torch is not installed: timing mlmath alone")
        return None
    torch.set_num_threads(threads)
    if announce:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}")
    return torch
