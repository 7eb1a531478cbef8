"""Shared fixtures of the test suite."""

from __future__ import annotations

from collections.abc import Callable

import gradient_checks
import numpy as np
import pytest


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A fresh generator per test, seeded by the test module's ``SEED`` (0 if it sets none).

    Each test draws the same numbers on every run and on every machine, and a module keeps the
    data its tolerances were chosen for.
    """
    return np.random.default_rng(getattr(request.module, "SEED", 0))


@pytest.fixture
def held_in_place() -> Callable[[np.ndarray, Callable[[], float]], Callable[[np.ndarray], float]]:
    """``held_in_place(x, f)``: the no-argument ``f`` as a function of the values of the array ``x``.

    :func:`gradient_checks.held_in_place`, served as a fixture: ``gradient(held_in_place(W, loss), W)``
    differentiates ``loss`` with respect to ``W`` and leaves ``W`` as it was.
    """
    return gradient_checks.held_in_place
