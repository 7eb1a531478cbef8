r"""The affine map :math:`z = Wx + b`, its derivatives, its cost, and the vec/Kronecker identities.

Derived in chapter 1. Convention: ``W`` has shape ``(n_out, n_in)``; a batch ``X`` holds one
sample per row, so the batched map is :math:`Z = XW^\top + \mathbf{1}b^\top`, of shape
``(batch, n_out)``. Every function here keeps float32 inputs float32; the result dtype is
``numpy.result_type`` of the inputs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mlmath._validation import as_float_array, as_shape, check_int, no_overflow

__all__ = [
    "AffineFlops",
    "AffineJacobians",
    "affine",
    "affine_backward",
    "affine_flops",
    "affine_jacobians",
    "unvec",
    "vec",
]


# ---------------------------------------------------------------------------------------------
# private checks shared by the functions below
# ---------------------------------------------------------------------------------------------


def _as_weights(W: object) -> np.ndarray:
    return as_float_array(W, "W", ndim=2, shape_hint="(n_out, n_in)")


def _as_input(x: object, W: np.ndarray, name: str = "x") -> np.ndarray:
    """Return ``x`` as a float array of shape ``(n_in,)`` or ``(batch, n_in)`` matching ``W``."""
    arr = as_float_array(x, name)
    n_in = W.shape[1]
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be one sample of shape (n_in,) = ({n_in},) or a batch of shape "
            f"(batch, n_in) = (batch, {n_in}), one sample per row; got a {arr.ndim}-D array "
            f"of shape {arr.shape}"
        )
    if arr.shape[-1] != n_in:
        hint = ""
        if arr.ndim == 2 and arr.shape[0] == n_in:
            hint = f" It looks like one sample per column: pass {name}.T (one sample per row)."
        raise ValueError(
            f"{name} has {arr.shape[-1]} features, but W expects {n_in} "
            f"(W has shape {W.shape} = (n_out, n_in)); got {name} of shape {arr.shape}.{hint}"
        )
    return arr


# ---------------------------------------------------------------------------------------------
# the affine map and its derivatives
# ---------------------------------------------------------------------------------------------


def affine(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""Apply the affine map :math:`z = Wx + b` to one sample or to a batch.

    For one sample ``x`` of shape ``(n_in,)`` this is :math:`z = Wx + b`. For a batch ``X``
    of shape ``(batch, n_in)``, one sample per row, it is the single matrix product

    .. math:: Z = XW^\top + \mathbf{1}b^\top,

    whose row :math:`i` is :math:`Wx_i + b`. Derived in chapter 1.

    Parameters
    ----------
    x : array_like of shape (n_in,) or (batch, n_in)
        One sample, or a batch with one sample per row.
    W : array_like of shape (n_out, n_in)
        Weight matrix.
    b : array_like of shape (n_out,)
        Bias vector. Exactly this shape: a ``(1, n_out)`` or ``(n_out, 1)`` bias is refused
        rather than broadcast.

    Returns
    -------
    numpy.ndarray of shape (n_out,) or (batch, n_out)
        ``z`` for one sample, ``Z`` for a batch; dtype ``numpy.result_type(x, W, b)``
        (float32 inputs give a float32 result).

    Raises
    ------
    ValueError
        If the shapes do not fit together, ``x`` is not 1-D or 2-D, an input holds NaN or
        infinity, or the result overflows.
    TypeError
        If an input is not real-valued.

    See Also
    --------
    affine_backward : the gradients of a scalar loss through this map.
    affine_jacobians : the full Jacobians for one sample.

    Examples
    --------
    >>> W = np.array([[1.0, 0.0, 2.0],
    ...               [0.0, 1.0, -1.0]])
    >>> b = np.array([0.5, -0.5])
    >>> affine([1.0, 2.0, 3.0], W, b)
    array([ 7.5, -1.5])
    >>> affine([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], W, b)
    array([[ 7.5, -1.5],
           [ 0.5, -0.5]])
    """
    W_ = _as_weights(W)
    x_ = _as_input(x, W_)
    b_ = as_float_array(b, "b")
    n_out = W_.shape[0]
    if b_.shape != (n_out,):
        hint = " Flatten it with b.reshape(-1)." if b_.size == n_out else ""
        raise ValueError(
            f"b must have shape (n_out,) = ({n_out},) to match W of shape {W_.shape} = (n_out, n_in); "
            f"got shape {b_.shape}.{hint}"
        )
    dtype = np.result_type(x_, W_, b_)
    with no_overflow("Wx + b for these x, W and b"):
        z = W_ @ x_ + b_ if x_.ndim == 1 else x_ @ W_.T + b_
    return z.astype(dtype, copy=False)


def affine_backward(dZ: np.ndarray, X: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Gradients of a scalar loss through :math:`Z = XW^\top + \mathbf{1}b^\top`.

    Given the upstream gradient :math:`\delta = \partial L/\partial Z` of a **scalar** loss
    :math:`L`, return

    .. math::

        \frac{\partial L}{\partial X} = \delta W, \qquad
        \frac{\partial L}{\partial W} = \delta^\top X, \qquad
        \frac{\partial L}{\partial b} = \delta^\top \mathbf{1}.

    For one sample (``dZ`` of shape ``(n_out,)``, ``X`` of shape ``(n_in,)``) these read
    :math:`W^\top\delta`, :math:`\delta x^\top` and :math:`\delta`. The batched
    :math:`\delta^\top X = \sum_i \delta_i x_i^\top` is the sum of the per-sample outer
    products. Nothing here divides by the batch size: with a loss that is a mean over the
    batch, the factor :math:`1/\text{batch}` is already inside ``dZ``. Derived in chapter 1.

    Parameters
    ----------
    dZ : array_like of shape (batch, n_out) or (n_out,)
        Upstream gradient :math:`\partial L/\partial Z`, same number of dimensions as ``X``.
    X : array_like of shape (batch, n_in) or (n_in,)
        The input the forward pass saw.
    W : array_like of shape (n_out, n_in)
        The weights the forward pass used.

    Returns
    -------
    dX : numpy.ndarray of shape (batch, n_in) or (n_in,)
        :math:`\partial L/\partial X = \delta W`.
    dW : numpy.ndarray of shape (n_out, n_in)
        :math:`\partial L/\partial W = \delta^\top X` (the shape of ``W``).
    db : numpy.ndarray of shape (n_out,)
        :math:`\partial L/\partial b`, the column sums of ``dZ``.

    All three have dtype ``numpy.result_type(dZ, X, W)``.

    Raises
    ------
    ValueError
        If the shapes do not fit together, an input holds NaN or infinity, or a gradient
        overflows.
    TypeError
        If an input is not real-valued.

    Examples
    --------
    >>> W = np.array([[1.0, 0.0, 2.0],
    ...               [0.0, 1.0, -1.0]])
    >>> X = np.array([[1.0, 2.0, 3.0],
    ...               [0.0, 1.0, 0.0]])
    >>> dZ = np.array([[1.0, 0.0],
    ...                [0.0, 2.0]])
    >>> dX, dW, db = affine_backward(dZ, X, W)
    >>> dX
    array([[ 1.,  0.,  2.],
           [ 0.,  2., -2.]])
    >>> dW
    array([[1., 2., 3.],
           [0., 2., 0.]])
    >>> db
    array([1., 2.])
    """
    W_ = _as_weights(W)
    X_ = _as_input(X, W_, name="X")
    dZ_ = as_float_array(dZ, "dZ")
    n_out = W_.shape[0]
    expected = (n_out,) if X_.ndim == 1 else (X_.shape[0], n_out)
    if dZ_.shape != expected:
        words = "(n_out,)" if X_.ndim == 1 else "(batch, n_out)"
        raise ValueError(
            f"dZ must have shape {words} = {expected} to match X of shape {X_.shape} and W of "
            f"shape {W_.shape} = (n_out, n_in); got shape {dZ_.shape}"
        )
    dtype = np.result_type(dZ_, X_, W_)
    with no_overflow("the gradients for these dZ, X and W"):
        if X_.ndim == 1:
            dX = W_.T @ dZ_
            dW = np.outer(dZ_, X_)
            db = dZ_.copy()
        else:
            dX = dZ_ @ W_
            dW = dZ_.T @ X_
            db = dZ_.sum(axis=0)
    return dX.astype(dtype, copy=False), dW.astype(dtype, copy=False), db.astype(dtype, copy=False)


class AffineJacobians(NamedTuple):
    r"""The three Jacobians of :math:`z = Wx + b` for one sample (see :func:`affine_jacobians`)."""

    dz_dx: np.ndarray
    r""":math:`\partial z/\partial x = W`, shape ``(n_out, n_in)``."""
    dz_db: np.ndarray
    r""":math:`\partial z/\partial b = I`, shape ``(n_out, n_out)``."""
    dz_dvecW: np.ndarray
    r""":math:`\partial z/\partial \operatorname{vec}(W) = x^\top \otimes I`,
    shape ``(n_out, n_out * n_in)``."""


def affine_jacobians(x: np.ndarray, W: np.ndarray) -> AffineJacobians:
    r"""The Jacobians of :math:`z = Wx + b` with respect to :math:`x`, :math:`b` and :math:`W`.

    For one sample, in index form :math:`\partial z_i/\partial x_k = W_{ik}`,
    :math:`\partial z_i/\partial b_j = \delta_{ij}` and
    :math:`\partial z_i/\partial W_{jk} = \delta_{ij} x_k`. Flattening ``W`` column by column
    with :func:`vec` (entry :math:`W_{jk}` at position :math:`k\,n_\text{out} + j`) turns the
    last into a matrix:

    .. math::

        \frac{\partial z}{\partial x} = W, \qquad
        \frac{\partial z}{\partial b} = I_{n_\text{out}}, \qquad
        \frac{\partial z}{\partial \operatorname{vec}(W)} = x^\top \otimes I_{n_\text{out}}.

    The bias does not appear in any of them, so it is not an argument. Derived in chapter 1.

    These matrices are for looking at and checking; training never builds them. For the
    gradient of a scalar loss use :func:`affine_backward`, which returns the products
    :math:`\delta^\top J` directly and also handles batches.

    Parameters
    ----------
    x : array_like of shape (n_in,)
        One sample.
    W : array_like of shape (n_out, n_in)
        Weight matrix.

    Returns
    -------
    AffineJacobians
        Named tuple ``(dz_dx, dz_db, dz_dvecW)`` of shapes ``(n_out, n_in)``,
        ``(n_out, n_out)`` and ``(n_out, n_out * n_in)``, dtype ``numpy.result_type(x, W)``.

    Raises
    ------
    ValueError
        If ``x`` is not one sample of shape ``(n_in,)`` or an input holds NaN or infinity.

    Examples
    --------
    >>> W = np.array([[1.0, 2.0, 3.0],
    ...               [4.0, 5.0, 6.0]])
    >>> J = affine_jacobians([1.0, 10.0, 100.0], W)
    >>> J.dz_db
    array([[1., 0.],
           [0., 1.]])
    >>> J.dz_dvecW
    array([[  1.,   0.,  10.,   0., 100.,   0.],
           [  0.,   1.,   0.,  10.,   0., 100.]])
    """
    W_ = _as_weights(W)
    x_ = _as_input(x, W_)
    if x_.ndim != 1:
        raise ValueError(
            f"affine_jacobians takes one sample x of shape (n_in,) = ({W_.shape[1]},); got shape "
            f"{x_.shape}. For a batch, use affine_backward, which returns the gradients of a scalar "
            "loss without building the Jacobians."
        )
    dtype = np.result_type(x_, W_)
    n_out, n_in = W_.shape
    # x^T kron I, filled directly (np.kron would also write -0.0 where a negative x_k meets a 0):
    # column k*n_out + j holds x_k in row j, i.e. dz_dvecW viewed as (n_out, n_in, n_out) has
    # x in its [i, :, i] slices.
    dz_dvecW = np.zeros((n_out, n_in, n_out), dtype=dtype)
    rows = np.arange(n_out)
    dz_dvecW[rows, :, rows] = x_
    return AffineJacobians(
        dz_dx=W_.astype(dtype, copy=True),
        dz_db=np.eye(n_out, dtype=dtype),
        dz_dvecW=dz_dvecW.reshape(n_out, n_out * n_in),
    )


# ---------------------------------------------------------------------------------------------
# cost
# ---------------------------------------------------------------------------------------------


class AffineFlops(NamedTuple):
    """Floating-point operation counts of one affine layer (see :func:`affine_flops`)."""

    forward: int
    """FLOPs of :math:`Z = XW^\\top + \\mathbf{1}b^\\top`."""
    backward: int
    """FLOPs of ``dX``, ``dW`` and ``db`` together."""
    total: int
    """``forward + backward``."""


def affine_flops(n_in: int, n_out: int, batch: int = 1) -> AffineFlops:
    r"""Count the floating-point operations of a forward and a backward affine pass.

    Convention: a multiply-add counts as 2 FLOPs, an addition as 1, and a sum of :math:`m`
    terms is counted as :math:`m` accumulations into zero (the same convention that gives a
    dot product of length :math:`m` its :math:`2m` FLOPs). With :math:`B` = ``batch``:

    - forward: :math:`XW^\top` has :math:`B\,n_\text{out}` entries, each a dot product of
      length :math:`n_\text{in}`, so :math:`2Bn_\text{in}n_\text{out}`; adding the bias costs
      :math:`Bn_\text{out}`.
    - backward: :math:`dX = \delta W` and :math:`dW = \delta^\top X` are one such product each,
      :math:`2 \cdot 2Bn_\text{in}n_\text{out}`; :math:`db` sums :math:`B` rows,
      :math:`Bn_\text{out}`.

    So the backward pass costs about twice the forward pass. (The first layer of a network
    needs no :math:`dX`, which saves one third of its backward pass.) Derived in chapter 1.

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths (``W`` has shape ``(n_out, n_in)``).
    batch : int, default 1
        Number of samples.

    Returns
    -------
    AffineFlops
        Named tuple ``(forward, backward, total)`` of ints:
        ``forward = 2*batch*n_in*n_out + batch*n_out``,
        ``backward = 4*batch*n_in*n_out + batch*n_out``.

    Raises
    ------
    TypeError
        If an argument is not an integer.
    ValueError
        If an argument is smaller than 1.

    Examples
    --------
    >>> affine_flops(20, 64, batch=32)
    AffineFlops(forward=83968, backward=165888, total=249856)
    """
    n_in = check_int(n_in, "n_in")
    n_out = check_int(n_out, "n_out")
    batch = check_int(batch, "batch")
    products = 2 * batch * n_in * n_out
    bias = batch * n_out
    forward = products + bias
    backward = 2 * products + bias
    return AffineFlops(forward=forward, backward=backward, total=forward + backward)


# ---------------------------------------------------------------------------------------------
# vec and its inverse
# ---------------------------------------------------------------------------------------------


def vec(A: np.ndarray) -> np.ndarray:
    r"""Stack the columns of ``A`` into one vector: :math:`\operatorname{vec}(A)`.

    Column-major order: entry :math:`A_{jk}` of an ``(m, n)`` matrix lands at position
    :math:`k\,m + j`. This is the order in which the identity
    :math:`\operatorname{vec}(AXB) = (B^\top \otimes A)\operatorname{vec}(X)` holds, and the
    one :func:`affine_jacobians` uses for :math:`\partial z/\partial \operatorname{vec}(W)`.
    Derived in chapter 1.

    Parameters
    ----------
    A : array_like of shape (m, n)

    Returns
    -------
    numpy.ndarray of shape (m * n,)

    See Also
    --------
    unvec : the inverse.

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
        ``unvec(vec(A), A.shape)`` equals ``A``.

    Raises
    ------
    TypeError
        If ``shape`` is not a pair of integers, or ``v`` is not real-valued.
    ValueError
        If ``shape`` holds a negative size, ``v`` is not 1-D, its length is not ``m * n``, or it
        holds NaN or infinity.

    Examples
    --------
    >>> unvec([1, 3, 2, 4], (2, 2))
    array([[1., 2.],
           [3., 4.]])
    """
    m, n = as_shape(shape, "shape", ndim=2)
    arr = as_float_array(v, "v", ndim=1, shape_hint="(m * n,)")
    if arr.size != m * n:
        raise ValueError(f"v must have {m} * {n} = {m * n} entries to fill shape {shape}; got {arr.size}")
    return arr.reshape((m, n), order="F")
