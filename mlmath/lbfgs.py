r"""L-BFGS: the two-loop recursion, a strong-Wolfe line search, a minimizer and a model optimizer.

Derived in the second-order chapter, after Nocedal & Wright (*Numerical Optimization*, 2nd ed.,
chapters 3, 6 and 7) and Liu & Nocedal (1989). Notation: the point :math:`x_k`, the gradient
:math:`g_k = \nabla f(x_k)`, the step :math:`s_k = x_{k+1} - x_k`, the gradient change
:math:`y_k = g_{k+1} - g_k` and :math:`\rho_k = 1 / (y_k^\top s_k)`.

BFGS keeps an approximation :math:`H_k` of the *inverse* Hessian that satisfies the secant
equation :math:`H_{k+1} y_k = s_k`, updated as

.. math::

    H_{k+1} = (I - \rho_k s_k y_k^\top)\, H_k\, (I - \rho_k y_k s_k^\top) + \rho_k s_k s_k^\top .

L-BFGS never forms :math:`H_k`: it keeps the last :math:`M` pairs :math:`(s_i, y_i)` and applies
the update :math:`M` times to :math:`H_k^0 = \gamma_k I`, :math:`\gamma_k = s_{k-1}^\top y_{k-1} /
y_{k-1}^\top y_{k-1}`, to one vector at a time: the two-loop recursion
(:func:`two_loop_direction`), :math:`O(Mn)` work for :math:`n` parameters.

=============================  =====================================================================
:func:`two_loop_direction`     :math:`d = -H_k g` from the stored pairs
:func:`wolfe_line_search`      a step length :math:`\alpha` satisfying the strong Wolfe conditions
:func:`minimize_lbfgs`         minimize a function of a flat vector; returns an :class:`LBFGSResult`
:class:`LBFGS`                 the same method as a :class:`~mlmath.second_order.ModelOptimizer`,
                               for :func:`mlmath.second_order.fit` on a ``Sequential`` (full batch)
=============================  =====================================================================

PyTorch's ``torch.optim.LBFGS(params, lr=1, max_iter=20, history_size=100,
line_search_fn="strong_wolfe")`` runs the same two-loop recursion and a strong-Wolfe search
(with ``c1 = 1e-4``, ``c2 = 0.9``); its ``step(closure)`` makes up to ``max_iter`` iterations,
where :meth:`LBFGS.step_unchecked` makes one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from mlmath._flat import flatten
from mlmath._validation import (
    as_float_array,
    check_finite,
    check_in_range,
    check_int,
    check_nonempty,
    check_positive,
    check_size,
)
from mlmath.models import Sequential
from mlmath.second_order import ModelOptimizer

__all__ = [
    "LBFGS",
    "LBFGSResult",
    "LineSearchResult",
    "minimize_lbfgs",
    "two_loop_direction",
    "wolfe_line_search",
]

FunAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]

CURVATURE_EPS = 1e-10
r"""The :math:`\varepsilon` of the test :math:`s^\top y > \varepsilon\lVert s\rVert\lVert y\rVert` to keep a pair."""


# ---------------------------------------------------------------------------------------------
# the two-loop recursion
# ---------------------------------------------------------------------------------------------


def _two_loop(g: np.ndarray, S: Sequence[np.ndarray], Y: Sequence[np.ndarray]) -> np.ndarray:
    """``-H g`` for pairs ordered oldest first (unchecked: 1-D arrays of one dtype, each s^T y > 0)."""
    q = g.astype(g.dtype, copy=True)
    k = len(S)
    rho = [1.0 / float(np.dot(y, s)) for s, y in zip(S, Y, strict=True)]
    alpha = [0.0] * k
    for i in range(k - 1, -1, -1):  # newest to oldest
        alpha[i] = rho[i] * float(np.dot(S[i], q))
        q -= alpha[i] * Y[i]
    if k:
        s, y = S[-1], Y[-1]
        q *= float(np.dot(s, y)) / float(np.dot(y, y))  # H^0 = gamma I
    for i in range(k):  # oldest to newest
        beta = rho[i] * float(np.dot(Y[i], q))
        q += (alpha[i] - beta) * S[i]
    q *= -1
    return q


def _vector_list(values: object, name: str, n: int, dtype: np.dtype) -> list[np.ndarray]:
    """A list of finite 1-D arrays of length ``n``, cast to ``dtype``."""
    if not isinstance(values, list | tuple):
        raise TypeError(f"{name} must be a list of 1-D arrays (oldest pair first); got {type(values).__name__}")
    out = []
    for i, v in enumerate(values):
        arr = as_float_array(v, f"{name}[{i}]", ndim=1, shape_hint=f"({n},)")
        if arr.shape != (n,):
            raise ValueError(f"{name}[{i}] must have the shape of g, ({n},); got shape {arr.shape}")
        out.append(arr.astype(dtype, copy=False))
    return out


def two_loop_direction(g: np.ndarray, s_list: Sequence[np.ndarray], y_list: Sequence[np.ndarray]) -> np.ndarray:
    r"""The L-BFGS search direction :math:`d = -H_k g` by the two-loop recursion.

    :math:`H_k` is the inverse-Hessian approximation obtained by applying the BFGS update
    (see the module docstring) for each stored pair :math:`(s_i, y_i)`, oldest first, to
    :math:`H_k^0 = \gamma_k I` with :math:`\gamma_k = s_{k-1}^\top y_{k-1} / y_{k-1}^\top y_{k-1}`
    from the newest pair (Nocedal & Wright, Algorithm 7.4 and eq. 7.20). Without pairs,
    :math:`H_k^0 = I` and :math:`d = -g`.

    .. math::

        &q \leftarrow g;\quad \text{for } i = k-1, \dots, k-M:\;
        \alpha_i = \rho_i s_i^\top q,\; q \leftarrow q - \alpha_i y_i; \\
        &r \leftarrow \gamma_k q;\quad \text{for } i = k-M, \dots, k-1:\;
        \beta = \rho_i y_i^\top r,\; r \leftarrow r + (\alpha_i - \beta) s_i; \qquad d = -r.

    Parameters
    ----------
    g : array_like of shape (n,)
        The gradient :math:`g_k`.
    s_list, y_list : list of array_like of shape (n,)
        The stored steps and gradient changes, oldest first, as many of each; every pair must
        have :math:`s_i^\top y_i > 0` (the Wolfe conditions guarantee it), so that
        :math:`H_k` is positive definite.

    Returns
    -------
    numpy.ndarray of shape (n,)
        :math:`-H_k g`, in ``g``'s dtype; a descent direction, :math:`g^\top d < 0` for
        :math:`g \ne 0`.

    Raises
    ------
    TypeError
        If ``s_list`` or ``y_list`` is not a list of arrays, or an array is not real.
    ValueError
        If an array is not 1-D of ``g``'s length or holds NaN or infinity, the lists differ in
        length, or a pair has :math:`s_i^\top y_i \le 0`.

    Examples
    --------
    One pair from :math:`f(x) = \tfrac12 x^\top \operatorname{diag}(1, 4)\, x`, for which
    :math:`y = \operatorname{diag}(1, 4)\, s`:

    >>> s, y = np.array([1.0, 0.0]), np.array([1.0, 0.0])
    >>> two_loop_direction(np.array([1.0, 4.0]), [s], [y])
    array([-1., -4.])
    """
    grad = as_float_array(g, "g", ndim=1, shape_hint="(n,)")
    n = grad.shape[0]
    S = _vector_list(s_list, "s_list", n, grad.dtype)
    Y = _vector_list(y_list, "y_list", n, grad.dtype)
    if len(S) != len(Y):
        raise ValueError(f"s_list and y_list must hold as many vectors; got {len(S)} and {len(Y)}")
    for i, (s, y) in enumerate(zip(S, Y, strict=True)):
        sy = float(np.dot(s.astype(np.float64), y.astype(np.float64)))
        if not sy > 0:
            raise ValueError(
                f"s_list[{i}] and y_list[{i}] must have s^T y > 0 (positive curvature along the step); got {sy!r}. "
                "A step from a line search that satisfies the Wolfe conditions always has it."
            )
    return _two_loop(grad, S, Y)


def _push(S: list[np.ndarray], Y: list[np.ndarray], s: np.ndarray, y: np.ndarray, memory: int) -> bool:
    r"""Append the pair to the lists (dropping the oldest beyond ``memory``) if :math:`s^\top y` is large enough.

    The test is :math:`s^\top y > \varepsilon\lVert s\rVert\lVert y\rVert` with :data:`CURVATURE_EPS`;
    returns whether the pair was kept.
    """
    sy = float(np.dot(s, y))
    if not (math.isfinite(sy) and sy > CURVATURE_EPS * float(np.linalg.norm(s)) * float(np.linalg.norm(y))):
        return False
    if len(S) == memory:
        del S[0], Y[0]
    S.append(s)
    Y.append(y)
    return True


# ---------------------------------------------------------------------------------------------
# the strong-Wolfe line search
# ---------------------------------------------------------------------------------------------


class LineSearchResult(NamedTuple):
    """What :func:`wolfe_line_search` returns."""

    alpha: float
    r"""The step length :math:`\alpha` (0.0 if no step decreased :math:`f`)."""
    x: np.ndarray
    r"""The point :math:`x + \alpha d`."""
    f: float
    r""":math:`f(x + \alpha d)`."""
    g: np.ndarray
    r""":math:`\nabla f(x + \alpha d)`."""
    n_evals: int
    """Number of calls of ``fun_and_grad``."""
    success: bool
    """Whether ``alpha`` satisfies both strong Wolfe conditions.

    If not (``max_iter`` calls used up), the result is the best point met that satisfies the
    sufficient-decrease condition, or the starting point with ``alpha = 0``."""


def _check_fun_and_grad(fun_and_grad: object) -> FunAndGrad:
    if not callable(fun_and_grad):
        raise TypeError(
            "fun_and_grad must be a callable returning (f(x), gradient of f at x), such as "
            f"lambda x: (f(x), grad_f(x)); got {type(fun_and_grad).__name__}"
        )
    return fun_and_grad


def _evaluate(fun_and_grad: FunAndGrad, x: np.ndarray) -> tuple[float, np.ndarray]:
    """Call ``fun_and_grad(x)`` and check its answer: a real number and a gradient of ``x``'s shape.

    A non-finite value or gradient is returned as ``(inf, gradient)`` so that the line search
    treats the point as too far; only a wrong type or shape raises.
    """
    answer = fun_and_grad(x)
    if not isinstance(answer, tuple) or len(answer) != 2:
        raise TypeError(
            f"fun_and_grad must return a pair (f(x), gradient); at x of shape {x.shape} it returned "
            f"{type(answer).__name__}"
        )
    value, grad = answer
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"fun_and_grad must return a real number as f(x); got {type(value).__name__}") from None
    g = as_float_array(grad, "the gradient returned by fun_and_grad", finite=False)
    if g.shape != x.shape:
        raise ValueError(f"fun_and_grad must return a gradient of x's shape {x.shape}; got shape {g.shape}")
    g = g.astype(x.dtype, copy=False)
    if not (math.isfinite(f) and np.isfinite(g).all()):
        return math.inf, g
    return f, g


def _cubic_minimizer(a: float, fa: float, da: float, b: float, fb: float, db: float) -> float | None:
    """Minimizer of the cubic through ``(a, fa)``, ``(b, fb)`` with slopes ``da``, ``db``; None if it has none.

    Nocedal & Wright, eq. (3.59).
    """
    if a == b:
        return None
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    disc = d1 * d1 - da * db
    if not (math.isfinite(disc) and disc >= 0):
        return None
    d2 = math.copysign(math.sqrt(disc), b - a)
    denom = db - da + 2.0 * d2
    if denom == 0:
        return None
    out = b - (b - a) * (db + d2 - d1) / denom
    return out if math.isfinite(out) else None


def _line_search(
    fun_and_grad: FunAndGrad,
    x: np.ndarray,
    d: np.ndarray,
    f0: float,
    g0: np.ndarray,
    c1: float,
    c2: float,
    alpha0: float,
    alpha_max: float,
    max_iter: int,
) -> LineSearchResult:
    """Nocedal & Wright, Algorithms 3.5 (bracketing) and 3.6 (zoom), unchecked."""
    dphi0 = float(np.dot(g0.astype(np.float64), d.astype(np.float64)))
    evals = 0
    best = LineSearchResult(0.0, x, f0, g0, 0, False)

    def phi(alpha: float) -> tuple[float, float, np.ndarray, np.ndarray]:
        nonlocal evals
        evals += 1
        xa = x + alpha * d
        fa, ga = _evaluate(fun_and_grad, xa)
        slope = float(np.dot(ga.astype(np.float64), d.astype(np.float64))) if math.isfinite(fa) else math.nan
        return fa, slope, xa, ga

    def armijo(alpha: float, fa: float) -> bool:
        return fa <= f0 + c1 * alpha * dphi0

    def curvature(slope: float) -> bool:
        return abs(slope) <= -c2 * dphi0

    def found(alpha: float, fa: float, xa: np.ndarray, ga: np.ndarray) -> LineSearchResult:
        return LineSearchResult(alpha, xa, fa, ga, evals, True)

    def zoom(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> LineSearchResult:
        nonlocal best
        (a_lo, f_lo, d_lo), (a_hi, f_hi, d_hi) = lo, hi
        while evals < max_iter:
            width = abs(a_hi - a_lo)
            left, right = min(a_lo, a_hi), max(a_lo, a_hi)
            trial = _cubic_minimizer(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi) if math.isfinite(f_hi) else None
            if trial is None or not (left + 0.1 * width <= trial <= right - 0.1 * width):
                trial = 0.5 * (a_lo + a_hi)  # bisection when the cubic is missing or too close to an end
            if trial in (a_lo, a_hi):  # the interval no longer shrinks in floating point
                break
            fa, slope, xa, ga = phi(trial)
            if not armijo(trial, fa) or fa >= f_lo:
                a_hi, f_hi, d_hi = trial, fa, slope
            else:
                best = LineSearchResult(trial, xa, fa, ga, evals, False)
                if curvature(slope):
                    return found(trial, fa, xa, ga)
                if slope * (a_hi - a_lo) >= 0:
                    a_hi, f_hi, d_hi = a_lo, f_lo, d_lo
                a_lo, f_lo, d_lo = trial, fa, slope
        return best._replace(n_evals=evals)

    prev = (0.0, f0, dphi0)
    alpha = alpha0
    while evals < max_iter:
        fa, slope, xa, ga = phi(alpha)
        if not armijo(alpha, fa) or (evals > 1 and fa >= prev[1]):
            return zoom(prev, (alpha, fa, slope))
        best = LineSearchResult(alpha, xa, fa, ga, evals, False)
        if curvature(slope):
            return found(alpha, fa, xa, ga)
        if slope >= 0:
            return zoom((alpha, fa, slope), prev)
        if alpha >= alpha_max:
            break
        prev = (alpha, fa, slope)
        alpha = min(2.0 * alpha, alpha_max)
    return best._replace(n_evals=evals)


def _check_wolfe_constants(c1: object, c2: object) -> tuple[float, float]:
    c1_ = check_in_range(c1, "c1", 0.0, 1.0, low_inclusive=False)
    c2_ = check_in_range(c2, "c2", 0.0, 1.0, low_inclusive=False)
    if not c1_ < c2_:
        raise ValueError(f"c1 must be smaller than c2 (0 < c1 < c2 < 1); got c1={c1!r} and c2={c2!r}")
    return c1_, c2_


def wolfe_line_search(
    fun_and_grad: FunAndGrad,
    x: np.ndarray,
    d: np.ndarray,
    f0: float,
    g0: np.ndarray,
    c1: float = 1e-4,
    c2: float = 0.9,
    *,
    alpha0: float = 1.0,
    alpha_max: float = 1e10,
    max_iter: int = 25,
) -> LineSearchResult:
    r"""A step length along a descent direction that satisfies the strong Wolfe conditions.

    With :math:`\varphi(\alpha) = f(x + \alpha d)`, find :math:`\alpha > 0` with

    .. math::

        \varphi(\alpha) \le \varphi(0) + c_1 \alpha\, \varphi'(0)
        \quad\text{(sufficient decrease)}, \qquad
        |\varphi'(\alpha)| \le c_2\, |\varphi'(0)| \quad\text{(curvature)},

    where :math:`\varphi'(\alpha) = \nabla f(x + \alpha d)^\top d`. Nocedal & Wright,
    Algorithm 3.5: try :math:`\alpha_0`, doubling it while :math:`\varphi` still decreases and
    slopes down, until an interval is known to hold such a point; then Algorithm 3.6 (*zoom*)
    shrinks it, each trial the minimizer of the cubic that matches :math:`\varphi` and
    :math:`\varphi'` at the interval's ends (eq. 3.59), or its midpoint when that cubic has no
    minimizer well inside. A point where :math:`f` or its gradient is not finite counts as too
    far. Any step satisfying the curvature condition has
    :math:`s^\top y = \alpha\,(\varphi'(\alpha) - \varphi'(0)) > 0`, the condition of the BFGS
    update.

    Parameters
    ----------
    fun_and_grad : callable
        ``fun_and_grad(x) -> (f(x), gradient)``, a float and an array of ``x``'s shape.
    x : array_like of shape (n,)
        The starting point.
    d : array_like of shape (n,)
        A descent direction, :math:`g_0^\top d < 0`.
    f0 : float
        :math:`f(x)`.
    g0 : array_like of shape (n,)
        :math:`\nabla f(x)`.
    c1, c2 : float, default 1e-4 and 0.9
        The constants of the conditions, :math:`0 < c_1 < c_2 < 1` (0.9 suits quasi-Newton
        directions; 0.1 gives a nearly exact search, as for conjugate gradients).
    alpha0 : float > 0, default 1.0
        The first trial step (1 for a quasi-Newton direction, which is scaled already).
    alpha_max : float, default 1e10
        The largest step tried; at least ``alpha0``.
    max_iter : int >= 1, default 25
        The most calls of ``fun_and_grad``.

    Returns
    -------
    LineSearchResult
        ``(alpha, x, f, g, n_evals, success)``; ``x``, ``g`` in ``x``'s dtype.

    Raises
    ------
    TypeError
        If ``fun_and_grad`` is not callable or returns something other than a number and an
        array, or an array argument is not real.
    ValueError
        If an array is not 1-D or of the wrong length or holds NaN or infinity, ``f0`` is not
        finite, ``d`` is not a descent direction, or a constant is out of range.

    Examples
    --------
    On :math:`f(x) = x^2` from :math:`x = 1` along :math:`d = -1`, the first trial
    :math:`\alpha = 1` reaches :math:`x = 0` (slope 0): both conditions hold.

    >>> res = wolfe_line_search(lambda x: (float(x @ x), 2 * x), np.array([1.0]), np.array([-1.0]),
    ...                         1.0, np.array([2.0]))
    >>> res.alpha, res.f, res.n_evals, res.success
    (1.0, 0.0, 1, True)
    """
    fg = _check_fun_and_grad(fun_and_grad)
    x0 = as_float_array(x, "x", ndim=1, shape_hint="(n,)")
    check_nonempty(x0, "x", "at least one coordinate")
    n = x0.shape[0]
    vectors = {}
    for name, value in (("d", d), ("g0", g0)):
        arr = as_float_array(value, name, ndim=1, shape_hint=f"({n},)")
        if arr.shape != (n,):
            raise ValueError(f"{name} must have the shape of x, ({n},); got shape {arr.shape}")
        vectors[name] = arr.astype(x0.dtype, copy=False)
    if isinstance(f0, bool) or not isinstance(f0, int | float | np.floating | np.integer):
        raise TypeError(f"f0 must be a real number, f(x); got {type(f0).__name__}")
    f_start = float(f0)
    if not math.isfinite(f_start):
        raise ValueError(f"f0 must be finite; got {f0!r}")
    c1_, c2_ = _check_wolfe_constants(c1, c2)
    a0 = check_positive(alpha0, "alpha0")
    a_max = check_positive(alpha_max, "alpha_max")
    if a_max < a0:
        raise ValueError(f"alpha_max must be at least alpha0 = {a0!r}; got {alpha_max!r}")
    iters = check_int(max_iter, "max_iter", 1, 10**6)
    slope = float(np.dot(vectors["g0"].astype(np.float64), vectors["d"].astype(np.float64)))
    if not slope < 0:
        raise ValueError(
            f"d must be a descent direction, g0^T d < 0; got g0^T d = {slope!r}. Use d = -g0, or an L-BFGS "
            "direction from two_loop_direction."
        )
    return _line_search(fg, x0, vectors["d"], f_start, vectors["g0"], c1_, c2_, a0, a_max, iters)


def _iteration(
    fg: FunAndGrad,
    x: np.ndarray,
    f: float,
    g: np.ndarray,
    S: list[np.ndarray],
    Y: list[np.ndarray],
    memory: int,
    c1: float,
    c2: float,
    max_evals: int,
) -> LineSearchResult:
    """One L-BFGS iteration from ``(x, f, g)``: direction, line search, and the new pair stored in ``S``, ``Y``.

    The first trial step is 1, or min(1, 1/|g|) without pairs (then d = -g). On a failed
    search (``alpha == 0``) the pairs are dropped, so that the next iteration starts from -g.
    """
    norm = float(np.linalg.norm(g.astype(np.float64)))
    if norm == 0:  # a stationary point: no direction to search along
        return LineSearchResult(0.0, x, f, g, 0, False)
    d = _two_loop(g, S, Y)
    alpha0 = 1.0 if S else min(1.0, 1.0 / norm)
    res = _line_search(fg, x, d, f, g, c1, c2, alpha0, 1e10, max_evals)
    if res.alpha == 0.0:
        S.clear()
        Y.clear()
    else:
        _push(S, Y, res.x - x, res.g - g, memory)
    return res


# ---------------------------------------------------------------------------------------------
# the minimizer
# ---------------------------------------------------------------------------------------------


class LBFGSResult(NamedTuple):
    """What :func:`minimize_lbfgs` returns."""

    x: np.ndarray
    """The last point, shape ``(n,)``."""
    f: float
    """:math:`f(x)`."""
    g: np.ndarray
    r""":math:`\nabla f(x)`, shape ``(n,)``."""
    n_iter: int
    """Number of iterations (line searches) made."""
    n_evals: int
    """Number of calls of ``fun_and_grad``, the first one included."""
    converged: bool
    r"""Whether :math:`\lVert g\rVert_\infty \le` ``gtol`` was reached."""
    message: str
    """Why the iterations stopped."""
    x_path: np.ndarray
    """The iterates :math:`x_0, x_1, \\dots`, shape ``(n_iter + 1, n)``, for plotting."""
    f_path: np.ndarray
    """:math:`f` at each iterate, shape ``(n_iter + 1,)``."""


def minimize_lbfgs(
    fun_and_grad: FunAndGrad,
    x0: np.ndarray,
    *,
    memory: int = 10,
    max_iter: int = 200,
    gtol: float = 1e-6,
    c1: float = 1e-4,
    c2: float = 0.9,
    max_evals_per_search: int = 25,
) -> LBFGSResult:
    r"""Minimize :math:`f` from ``x0`` by L-BFGS with a strong-Wolfe line search.

    Each iteration takes the direction :math:`d_k = -H_k g_k` of the two-loop recursion
    (:func:`two_loop_direction`) over the last ``memory`` pairs, a step :math:`\alpha_k` from
    :func:`wolfe_line_search` (first trial 1; on the first iteration, where :math:`H_0 = I`,
    :math:`\min(1, 1/\lVert g_0\rVert_2)` so that the first step has length at most 1), and stores
    the pair :math:`(s_k, y_k)`; a pair with :math:`s_k^\top y_k \le 10^{-10}\lVert s_k\rVert
    \lVert y_k\rVert` is skipped (it would make :math:`H` nearly singular; the Wolfe conditions
    make it rare). Nocedal & Wright, Algorithm 7.5.

    Parameters
    ----------
    fun_and_grad : callable
        ``fun_and_grad(x) -> (f(x), gradient)``, a float and an array of ``x``'s shape.
    x0 : array_like of shape (n,)
        The starting point; float32 stays float32 (``fun_and_grad`` then sees float32 points).
    memory : int >= 1, default 10
        Number of pairs kept, :math:`M` (PyTorch's ``history_size``).
    max_iter : int >= 0, default 200
        The most iterations.
    gtol : float > 0, default 1e-6
        Stop when :math:`\lVert g_k\rVert_\infty \le` ``gtol``.
    c1, c2 : float, default 1e-4 and 0.9
        The Wolfe constants.
    max_evals_per_search : int >= 1, default 25
        The most calls of ``fun_and_grad`` in one line search.

    Returns
    -------
    LBFGSResult
        The last point, its value and gradient, counts, whether it converged, why it stopped,
        and the path of iterates and values.

    Raises
    ------
    TypeError, ValueError
        For bad arguments, if ``fun_and_grad`` returns something other than a number and an
        array of ``x``'s shape, or if :math:`f(x_0)` or its gradient is not finite.

    Examples
    --------
    A quadratic :math:`\tfrac12 x^\top A x - b^\top x` in two variables is solved in at most two
    iterations, to :math:`x^* = A^{-1}b`:

    >>> A, b = np.array([[3.0, 1.0], [1.0, 2.0]]), np.array([1.0, 1.0])
    >>> res = minimize_lbfgs(lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b), np.zeros(2), c2=0.1)
    >>> np.round(res.x, 6), res.converged, res.n_iter <= 3
    (array([0.2, 0.4]), True, True)
    """
    fg = _check_fun_and_grad(fun_and_grad)
    x = as_float_array(x0, "x0", ndim=1, shape_hint="(n,)").copy()
    check_nonempty(x, "x0", "at least one coordinate")
    m = check_size(memory, "memory")
    iters = check_int(max_iter, "max_iter", 0, 10**9)
    tol = check_positive(gtol, "gtol")
    c1_, c2_ = _check_wolfe_constants(c1, c2)
    per_search = check_int(max_evals_per_search, "max_evals_per_search", 1, 10**6)
    f, g = _evaluate(fg, x)
    if not math.isfinite(f):
        raise ValueError("fun_and_grad must be finite at x0; got a NaN or infinite value or gradient there")
    check_finite(g, "the gradient at x0")
    S: list[np.ndarray] = []
    Y: list[np.ndarray] = []
    xs, fs = [x.copy()], [f]
    evals, k = 1, 0
    converged = float(np.max(np.abs(g))) <= tol
    message = "the gradient's largest entry is at most gtol" if converged else f"max_iter = {iters} reached"
    while not converged and k < iters:
        res = _iteration(fg, x, f, g, S, Y, m, c1_, c2_, per_search)
        evals += res.n_evals
        if res.alpha == 0.0:
            message = "the line search found no step that decreases f (the gradient may be inaccurate)"
            break
        x, f, g = res.x, res.f, res.g
        k += 1
        xs.append(x.copy())
        fs.append(f)
        if float(np.max(np.abs(g))) <= tol:
            converged, message = True, "the gradient's largest entry is at most gtol"
        elif k == iters:
            message = f"max_iter = {iters} reached"
    return LBFGSResult(x, f, g, k, evals, converged, message, np.array(xs), np.array(fs))


# ---------------------------------------------------------------------------------------------
# the model optimizer
# ---------------------------------------------------------------------------------------------


class LBFGS(ModelOptimizer):
    r"""L-BFGS as a :class:`~mlmath.second_order.ModelOptimizer`: one iteration of :func:`minimize_lbfgs` per step.

    Each step, on the batch :math:`(X, Y)`, with :math:`\theta` the model's weights as one vector
    (:meth:`~mlmath.models.Sequential.get_flat_weights`) and :math:`L` the compiled loss:
    the direction :math:`d = -H g` from the stored pairs (:func:`two_loop_direction`), a step
    :math:`\alpha` satisfying the strong Wolfe conditions for :math:`L(\theta + \alpha d)` on the
    batch (:func:`wolfe_line_search`, a few evaluations of the loss and its gradient), the update
    :math:`\theta \leftarrow \theta + \alpha d`, and the pair :math:`s = \alpha d`,
    :math:`y = \nabla L(\theta + \alpha d) - \nabla L(\theta)` stored. A pair is **skipped** when
    :math:`s^\top y \le 10^{-10}\lVert s\rVert\,\lVert y\rVert` (too little curvature along the step:
    storing it would make :math:`H` nearly singular; the Wolfe conditions make it rare). When the
    line search finds no step that decreases the loss, the weights stay, the pairs are dropped,
    and the next step starts again from :math:`d = -g`.

    Meant for the full batch (:func:`mlmath.second_order.fit` with ``batch_size >= len(X)``): the
    line search and the secant pairs assume one function. With minibatches each pair is measured
    on one batch, so it describes that batch's loss only. When the batch and the weights are those
    at the end of the previous step, the loss and gradient found there are reused, so a step costs
    as many gradients as its line search evaluates (often one); to recognise the batch, the
    optimizer keeps a copy of the last one (as much memory again as a full batch).

    Parameters
    ----------
    memory : int >= 1, default 10
        Number of pairs kept, :math:`M` (PyTorch's ``history_size``).
    c1, c2 : float, default 1e-4 and 0.9
        The Wolfe constants, :math:`0 < c_1 < c_2 < 1`.
    max_evals_per_search : int >= 1, default 25
        The most loss-and-gradient evaluations in one line search.

    Attributes
    ----------
    s_list, y_list : list of numpy.ndarray
        The stored pairs, oldest first, as flat vectors in the model's dtype.

    Notes
    -----
    PyTorch's ``torch.optim.LBFGS(params, history_size=10, line_search_fn="strong_wolfe")``
    makes up to ``max_iter`` (default 20) such iterations per ``step(closure)``; this class one.

    Examples
    --------
    A linear least-squares model is a quadratic in its three weights, solved in a few steps:

    >>> from mlmath.layers import Dense
    >>> from mlmath.models import Sequential
    >>> from mlmath.second_order import fit
    >>> model = Sequential([Dense(1, input_dim=2)], seed=0)
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 1.0]])
    >>> history = fit(model, X, X @ [[1.0], [2.0]] + 3.0, LBFGS(), epochs=10, batch_size=4, verbose=0)
    >>> np.round(model.get_flat_weights(), 6)
    array([1., 2., 3.])
    """

    state_names = ("s_list", "y_list")

    def __init__(self, memory: int = 10, c1: float = 1e-4, c2: float = 0.9, max_evals_per_search: int = 25) -> None:
        super().__init__()
        self.memory = check_size(memory, "memory")
        self.c1, self.c2 = _check_wolfe_constants(c1, c2)
        self.max_evals_per_search = check_int(max_evals_per_search, "max_evals_per_search", 1, 10**6)
        self.s_list: list[np.ndarray] = []
        self.y_list: list[np.ndarray] = []
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray] | None = None

    def step_unchecked(self, model: Sequential, X: np.ndarray, Y: np.ndarray) -> float:
        """One L-BFGS iteration on the batch (see the class docstring); the batch loss before it."""

        def fun_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            if not np.isfinite(theta).all():  # a trial step overflowed: too far
                return math.inf, theta
            model.set_flat_weights(theta)
            value, grads = model.loss_and_gradients(X, Y)
            return value, flatten(grads, theta.dtype)

        theta = model.get_flat_weights()
        last = self._last
        if (
            last is not None
            and np.array_equal(last[0], theta)
            and np.array_equal(last[1], X)
            and np.array_equal(last[2], Y)
        ):
            f, g = last[3], last[4]
        else:
            f, g = _evaluate(fun_and_grad, theta)
        self._last = None
        if not math.isfinite(f):
            model.set_flat_weights(theta)
            return f
        res = _iteration(
            fun_and_grad,
            theta,
            f,
            g,
            self.s_list,
            self.y_list,
            self.memory,
            self.c1,
            self.c2,
            self.max_evals_per_search,
        )
        model.set_flat_weights(res.x)
        self._last = (res.x.copy(), X.copy(), Y.copy(), res.f, res.g)
        return f

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Replace the state by a copy of ``state`` (from :meth:`get_state`); see :meth:`ModelOptimizer.set_state`.

        Raises
        ------
        TypeError, ValueError
            As :meth:`ModelOptimizer.set_state`, and if ``s_list`` and ``y_list`` are not lists of
            1-D arrays of one length, as many of each, at most ``memory``, each pair with
            :math:`s^\top y > 0`.
        """
        if isinstance(state, Mapping) and {"s_list", "y_list"} <= set(state):
            S, Y = state["s_list"], state["y_list"]
            if isinstance(S, list) and isinstance(Y, list) and S and all(isinstance(v, np.ndarray) for v in S + Y):
                n = S[0].shape
                if len(S) != len(Y) or len(S) > self.memory:
                    raise ValueError(
                        f"state['s_list'] and state['y_list'] must hold as many vectors, at most memory = "
                        f"{self.memory}; got {len(S)} and {len(Y)}"
                    )
                if any(v.shape != n or v.ndim != 1 for v in S + Y):
                    raise ValueError("state['s_list'] and state['y_list'] must hold 1-D vectors of one length")
                finite = all(np.isfinite(v).all() for v in S + Y)  # NaN and infinity: the base class says so
                if finite and not all(float(np.dot(s, y)) > 0 for s, y in zip(S, Y, strict=True)):
                    raise ValueError("state['s_list'] and state['y_list'] must hold pairs with s^T y > 0")
        super().set_state(state)
        self._last = None

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {
            "memory": self.memory,
            "c1": self.c1,
            "c2": self.c2,
            "max_evals_per_search": self.max_evals_per_search,
        }
