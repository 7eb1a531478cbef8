r"""Krylov solvers on matrix-free operators: the conjugate gradient method.

Derived in the second-order chapter. For a symmetric positive definite :math:`A` and
:math:`\lambda \ge 0`, conjugate gradient (Hestenes & Stiefel 1952; Nocedal & Wright 2006,
ch. 5) solves :math:`(A + \lambda I)x = b` touching :math:`A` only through products
:math:`v \mapsto Av`, such as a Gauss–Newton or Fisher product (:mod:`mlmath.curvature`).
Equivalently, it minimizes the quadratic :math:`q(x) = \frac12 x^\top(A + \lambda I)x - b^\top x`
over the growing Krylov spaces :math:`\mathcal K_k = \operatorname{span}\{r_0, Ar_0, \dots,
A^{k-1}r_0\}`, with residuals :math:`r_k = b - (A + \lambda I)x_k` mutually orthogonal and
search directions :math:`p_k` mutually :math:`A`-conjugate. In exact arithmetic it stops within
:math:`n` steps; the error in the :math:`A`-norm shrinks at least by
:math:`2\big((\sqrt\kappa - 1)/(\sqrt\kappa + 1)\big)^k` for the condition number :math:`\kappa`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlmath._validation import as_float_array, check_bool, check_in_range, check_int, check_nonempty

__all__ = ["CGResult", "conjugate_gradient"]


@dataclass(frozen=True)
class CGResult:
    r"""What :func:`conjugate_gradient` returns.

    Attributes
    ----------
    x : numpy.ndarray of shape (n,)
        The last iterate, in ``b``'s dtype.
    iterations : int
        Number of steps taken (matrix-vector products, besides one for a given ``x0``).
    residual_norms : numpy.ndarray of shape (iterations + 1,)
        :math:`\|r_k\|` for :math:`k = 0, \dots,` ``iterations``, in float64.
    quadratic : numpy.ndarray of shape (iterations + 1,)
        :math:`q(x_k) = \frac12 x_k^\top(A + \lambda I)x_k - b^\top x_k = -\frac12 x_k^\top(b + r_k)`,
        computed without another product; it decreases at each step.
    converged : bool
        Whether :math:`\|r_k\| \le` ``tol`` :math:`\cdot\|b\|` was reached.
    stalled : bool
        Whether the relative-progress rule of ``progress_tol`` stopped the iteration.
    negative_curvature : bool
        Whether a direction with :math:`p^\top(A + \lambda I)p \le 0` stopped the iteration
        (then :math:`A + \lambda I` is not positive definite, and ``x`` is the iterate before
        that direction).
    iterates : list of numpy.ndarray or None
        :math:`x_0, x_1, \dots` when asked for with ``keep_iterates``.
    """

    x: np.ndarray
    iterations: int
    residual_norms: np.ndarray
    quadratic: np.ndarray
    converged: bool
    negative_curvature: bool
    stalled: bool
    iterates: list[np.ndarray] | None = None


def _apply(matvec: Callable[[np.ndarray], np.ndarray], v: np.ndarray) -> np.ndarray:
    """``matvec(v)`` checked: an array of ``v``'s shape, finite, cast to ``v``'s dtype."""
    out = matvec(v.copy())
    if not isinstance(out, np.ndarray) or out.shape != v.shape:
        got = f"shape {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise ValueError(f"matvec must return a numpy array of shape {v.shape}, like its argument; got {got}")
    if out.dtype.kind not in "fiu":
        raise TypeError(f"matvec must return real numbers; got dtype {out.dtype}")
    if not np.isfinite(out).all():
        raise ValueError(
            "matvec returned NaN or infinity; the operator must be finite along the directions it is given"
        )
    return out.astype(v.dtype, copy=False)


def conjugate_gradient(
    matvec: Callable[[np.ndarray], np.ndarray],
    b: np.ndarray,
    *,
    damping: float = 0.0,
    tol: float = 1e-10,
    max_iter: int | None = None,
    x0: np.ndarray | None = None,
    keep_iterates: bool = False,
    progress_tol: float | None = None,
) -> CGResult:
    r"""Solve :math:`(A + \lambda I)x = b` by conjugate gradient, with :math:`A` given as ``matvec``.

    From :math:`x_0` (zero by default), :math:`r_0 = p_0 = b - (A + \lambda I)x_0`; then for
    :math:`k = 0, 1, \dots`

    .. math::

        \alpha_k = \frac{r_k^\top r_k}{p_k^\top (A + \lambda I) p_k},\quad
        x_{k+1} = x_k + \alpha_k p_k,\quad
        r_{k+1} = r_k - \alpha_k (A + \lambda I) p_k,\quad
        p_{k+1} = r_{k+1} + \frac{r_{k+1}^\top r_{k+1}}{r_k^\top r_k} p_k,

    one product per step. It stops when :math:`\|r_k\| \le` ``tol`` :math:`\cdot \|b\|`
    (converged), after ``max_iter`` steps (truncated, as Hessian-free optimization wants), when
    the quadratic stops improving (with ``progress_tol`` :math:`= \epsilon`, Martens 2010, sec. 4.4:
    at step :math:`k` with :math:`s = \max(10, \lceil k/10 \rceil)`, when :math:`k > s`,
    :math:`q(x_k) < 0` and :math:`(q(x_k) - q(x_{k-s}))/q(x_k) < s\,\epsilon`), or
    at a direction of non-positive curvature :math:`p_k^\top(A + \lambda I)p_k \le 0`: the
    quadratic is then unbounded below along :math:`p_k`, so CG stops and says so
    (``negative_curvature``), keeping :math:`x_k`, as truncated Newton–CG does (Nocedal & Wright
    2006, alg. 7.1, which at the first step takes :math:`b` itself instead; the caller can, seeing
    the flag with ``iterations == 0``). With a Gauss–Newton matrix and a convex loss, as in
    Hessian-free optimization, the curvature is never negative. SciPy: ``scipy.sparse.linalg.cg``
    with a ``LinearOperator``, which does not watch the curvature.

    Parameters
    ----------
    matvec : callable ``v -> A v``
        A symmetric operator; it gets a 1-D array of ``b``'s shape and dtype (a copy) and must
        return a finite array of that shape.
    b : array_like of shape (n,)
        Finite right-hand side; float32 stays float32.
    damping : float >= 0, default 0.0
        :math:`\lambda`, added as :math:`\lambda I` (Tikhonov / Levenberg–Marquardt damping).
    tol : float in [0, 1), default 1e-10
        Relative residual at which to stop.
    max_iter : int >= 1, optional
        Default ``n``, which suffices in exact arithmetic.
    x0 : array_like of shape (n,), optional
        Starting point (a warm start), default zeros.
    keep_iterates : bool, default False
        Keep every iterate in the result (for backtracking over them).
    progress_tol : float in (0, 1), optional
        :math:`\epsilon` of the relative-progress rule (Martens uses 0.0005); ``None`` turns the
        rule off.

    Returns
    -------
    CGResult

    Raises
    ------
    TypeError, ValueError
        For bad arguments, and when ``matvec`` returns another shape, non-real or non-finite values.

    Examples
    --------
    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> result = conjugate_gradient(lambda v: A @ v, np.array([1.0, 2.0]))
    >>> result.x.round(6), result.iterations, result.converged
    (array([0.090909, 0.636364]), 2, True)
    """
    if not callable(matvec):
        raise TypeError(f"matvec must be callable, v -> A v; got {type(matvec).__name__}")
    b = as_float_array(b, "b", ndim=1, shape_hint="(n,)")
    check_nonempty(b, "b")
    lam = check_in_range(damping, "damping", 0.0, np.inf)
    tol = check_in_range(tol, "tol", 0.0, 1.0)
    n = b.size
    max_iter = n if max_iter is None else check_int(max_iter, "max_iter", 1)
    keep = check_bool(keep_iterates, "keep_iterates")
    eps = None if progress_tol is None else check_in_range(progress_tol, "progress_tol", 0.0, 1.0, low_inclusive=False)
    if x0 is None:
        x = np.zeros_like(b)
        r = b.copy()
    else:
        x = as_float_array(x0, "x0", ndim=1, shape_hint=f"({n},), like b").astype(b.dtype, copy=True)
        if x.shape != b.shape:
            raise ValueError(f"x0 must have the shape of b, {b.shape}; got {x.shape}")
        r = b - (_apply(matvec, x) + lam * x)
    p = r.copy()
    rr = float(r @ r)
    bound = tol * float(np.linalg.norm(b))
    norms, quads = [np.sqrt(rr)], [-0.5 * float(x @ (b + r))]
    iterates = [x.copy()] if keep else None
    converged, negative, stalled, k = norms[0] <= bound, False, False, 0
    while not converged and not stalled and k < max_iter:
        Ap = _apply(matvec, p)
        if lam:
            Ap += lam * p
        curvature = float(p @ Ap)
        if not curvature > 0:
            negative = True
            break
        alpha = rr / curvature
        x += alpha * p
        r -= alpha * Ap
        rr_new = float(r @ r)
        k += 1
        norms.append(np.sqrt(rr_new))
        quads.append(-0.5 * float(x @ (b + r)))
        if iterates is not None:
            iterates.append(x.copy())
        converged = norms[-1] <= bound
        if eps is not None:
            s = max(10, math.ceil(k / 10))
            stalled = not converged and k > s and quads[-1] < 0 and (quads[-1] - quads[-1 - s]) / quads[-1] < s * eps
        p *= rr_new / rr
        p += r
        rr = rr_new
    return CGResult(
        x=x,
        iterations=k,
        residual_norms=np.array(norms),
        quadratic=np.array(quads),
        converged=bool(converged),
        negative_curvature=negative,
        stalled=bool(stalled),
        iterates=iterates,
    )
