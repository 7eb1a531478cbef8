r"""Weight initializers, with Keras's names and formulas; each draws from a given ``numpy.random.Generator``.

Used by :class:`mlmath.layers.Dense` (chapter 4 derives why the scale :math:`\sqrt{6/(n_{in} + n_{out})}`
keeps activations and gradients of the same size through depth) and by :mod:`mlmath.rnn` and
:mod:`mlmath.gated`.
Every initializer has the signature ``(shape, rng) -> float64 array`` with ``shape = (n_out, n_in)``
for a weight matrix (the book's :math:`z = Wx + b`), so :math:`n_{out}` = ``shape[0]`` and
:math:`n_{in}` = ``shape[1]``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlmath._validation import as_shape, check_generator, check_str, lookup

__all__ = ["draw", "get", "glorot_uniform", "he_uniform", "ones", "orthogonal", "zeros"]

Initializer = Callable[[tuple[int, ...], np.random.Generator], np.ndarray]


def _checked(shape: object, rng: object) -> tuple[int, ...]:
    """``shape`` as a tuple of array sizes, after checking that ``rng`` is a generator to draw from."""
    sizes = as_shape(shape, "shape")
    check_generator(rng)
    return sizes


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(n_in, n_out)`` of a weight of shape ``(n_out, n_in)``; a vector counts as ``n_in = n_out = len``."""
    if not shape:
        raise ValueError(f"shape must hold at least one size, (n_out, n_in) or (n,); got {shape!r}")
    if len(shape) == 1:
        return shape[0], shape[0]
    return shape[1], shape[0]


def _no_inputs(shape: tuple[int, ...], limit: str) -> ValueError:
    return ValueError(f"shape {shape!r} has no entries to scale by: the limit {limit} is undefined")


def glorot_uniform(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    r"""Glorot (Xavier) uniform: :math:`U(-\ell, \ell)`, :math:`\ell = \sqrt{6 / (n_{in} + n_{out})}` (Keras's default).

    Examples
    --------
    >>> W = glorot_uniform((64, 20), np.random.default_rng(0))
    >>> W.shape, bool(np.abs(W).max() <= np.sqrt(6 / 84))
    ((64, 20), True)
    """
    shape = _checked(shape, rng)
    n_in, n_out = _fans(shape)
    if n_in + n_out == 0:
        raise _no_inputs(shape, "sqrt(6 / (n_in + n_out))")
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=shape)


def he_uniform(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    r"""He uniform: :math:`U(-\ell, \ell)`, :math:`\ell = \sqrt{6 / n_{in}}`, for relu layers."""
    shape = _checked(shape, rng)
    n_in, _ = _fans(shape)
    if n_in == 0:
        raise _no_inputs(shape, "sqrt(6 / n_in)")
    limit = np.sqrt(6.0 / n_in)
    return rng.uniform(-limit, limit, size=shape)


def orthogonal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    r"""A random matrix with orthonormal rows or columns, uniformly distributed (Keras's ``Orthogonal``).

    From the QR factorization of a standard normal matrix, with the signs of :math:`R`'s diagonal
    moved into :math:`Q` (without that fix the distribution is not uniform). A square result is
    orthogonal: all its singular values are 1, the edge between vanishing and exploding gradients
    in a recurrent network (chapter 6). A tall ``(n_out, n_in)`` shape, ``n_out > n_in``, gets
    orthonormal columns (:math:`W^\top W = I`), a wide one orthonormal rows (:math:`W W^\top = I`),
    as Keras draws them: the gated networks of chapter 7 draw their stacked recurrent matrix of
    shape ``(4 hidden, hidden)`` this way, as a whole.

    Examples
    --------
    >>> W = orthogonal((8, 2), np.random.default_rng(0))
    >>> bool(np.allclose(W.T @ W, np.eye(2)))
    True
    """
    shape = _checked(shape, rng)
    if len(shape) != 2:
        raise ValueError(f"shape must be (n_out, n_in) for an orthogonal matrix; got {shape}")
    rows, cols = shape
    Q, R = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    Q = Q * np.sign(np.diag(R))
    return Q if rows >= cols else Q.T


def zeros(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """All zeros (the default for biases)."""
    return np.zeros(_checked(shape, rng))


def ones(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """All ones."""
    return np.ones(_checked(shape, rng))


_INITIALIZERS: dict[str, Initializer] = {
    "glorot_uniform": glorot_uniform,
    "he_uniform": he_uniform,
    "orthogonal": orthogonal,
    "zeros": zeros,
    "ones": ones,
}


def get(identifier: object, name: str = "initializer") -> str:
    """The canonical (lower-case) name of an initializer, or a clear error naming ``name``."""
    lookup(_INITIALIZERS, identifier, check_str(name, "name"))
    return str(identifier).lower()


def draw(initializer: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw an array of ``shape`` with the named initializer (float64)."""
    return lookup(_INITIALIZERS, initializer, "initializer")(shape, rng)
