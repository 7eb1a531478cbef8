"""Flat storage: consecutive views of one 1-D buffer, and lists of arrays flattened into one vector.

A model keeps all its parameters in one contiguous array and each layer's arrays as views of
it, so that an optimizer can update the whole model in one pass; chapters and solvers that see
the parameters as one vector :math:`\\theta` use :func:`flatten` and :func:`split_flat`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["flatten", "split_flat", "total_size", "unflatten_into"]


def total_size(shapes: Sequence[tuple[int, ...]]) -> int:
    """Number of entries of arrays of these shapes, together."""
    return sum(math.prod(shape) for shape in shapes)


def split_flat(flat: np.ndarray, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """Consecutive views of the 1-D array ``flat`` with the given shapes (C order)."""
    views, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        views.append(flat[start : start + size].reshape(shape))
        start += size
    return views


def unflatten_into(arrays: Sequence[np.ndarray], flat: np.ndarray) -> None:
    """Copy the 1-D ``flat`` (as from :func:`flatten`) into ``arrays``, in place (unchecked: sizes must match)."""
    for a, v in zip(arrays, split_flat(flat, [a.shape for a in arrays]), strict=True):
        np.copyto(a, v, casting="same_kind")


def flatten(arrays: Sequence[np.ndarray], dtype: np.dtype | None = None) -> np.ndarray:
    """The arrays raveled (C order) and concatenated into one new 1-D array."""
    if not arrays:
        return np.empty(0, dtype or np.float64)
    return np.concatenate([np.ravel(a) for a in arrays]).astype(dtype or arrays[0].dtype, copy=False)
