r"""The affine map :math:`z = Wx + b` and the vec/Kronecker identities around it.

Derived in chapter 1. Convention: ``W`` has shape ``(n_out, n_in)``; a batch ``X`` holds one
sample per row, so the batched map is :math:`Z = XW^\top + \mathbf{1}b^\top`.
"""

from __future__ import annotations

import numpy as np

from mlmath._validation import as_float_array

__all__ = ["unvec", "vec"]


def vec(A: np.ndarray) -> np.ndarray:
    r"""Stack the columns of ``A`` into one vector: :math:`\operatorname{vec}(A)`.

    Column-major order, as in the identity
    :math:`\operatorname{vec}(AXB) = (B^\top \otimes A)\operatorname{vec}(X)`.

    Parameters
    ----------
    A : array_like of shape (m, n)

    Returns
    -------
    numpy.ndarray of shape (m * n,)

    Examples
    --------
    >>> vec([[1, 2], [3, 4]])
    array([1., 3., 2., 4.])
    """
    arr = as_float_array(A, "A", ndim=2, shape_hint="(m, n)")
    return arr.reshape(-1, order="F")


def unvec(v: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    r"""Invert :func:`vec`: refill a matrix of ``shape`` column by column.

    Parameters
    ----------
    v : array_like of shape (m * n,)
    shape : tuple of int (m, n)

    Returns
    -------
    numpy.ndarray of shape (m, n)

    Examples
    --------
    >>> unvec([1, 3, 2, 4], (2, 2))
    array([[1., 2.],
           [3., 4.]])
    """
    arr = as_float_array(v, "v", ndim=1, shape_hint="(m * n,)")
    m, n = shape
    if arr.size != m * n:
        raise ValueError(f"v must have {m} * {n} = {m * n} entries to fill shape {shape}; got {arr.size}")
    return arr.reshape((m, n), order="F")
