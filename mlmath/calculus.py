r"""Numeric differentiation: gradients, Jacobians, Hessians and Hessian-vector products.

Derived in chapter 5. Every function treats ``f`` as a black box that it may only
evaluate, one coordinate at a time (a loop over the :math:`n` entries of ``x``).

Three methods, with the default steps that the error analysis of chapter 5 gives
(:math:`\varepsilon` is the machine epsilon of the coarser of ``x``'s and ``f(x)``'s
dtypes, :math:`2.2\times 10^{-16}` for float64):

- ``'forward'``: :math:`\partial f/\partial x_k \approx (f(x + h e_k) - f(x)) / h`, step
  :math:`h_k = \varepsilon^{1/2}\max(1, |x_k|)`, error :math:`O(\varepsilon^{1/2})`.
- ``'central'``: :math:`\partial f/\partial x_k \approx (f(x + h e_k) - f(x - h e_k)) / 2h`,
  step :math:`h_k = \varepsilon^{1/3}\max(1, |x_k|)`, error :math:`O(\varepsilon^{2/3})`.
- ``'complex'`` (complex step):
  :math:`\partial f/\partial x_k \approx \operatorname{Im} f(x + ih e_k) / h`, step
  :math:`h = 10^{-20}`, error :math:`O(\varepsilon)`: no difference is taken, so nothing
  cancels, and :math:`h^2` is far below rounding.

The complex step needs ``f`` to be *complex-safe*: written with operations that extend
analytically to complex numbers (``+``, ``*``, ``@``, ``np.exp``, ``np.log``, ``np.tanh``,
...). A function that uses ``np.abs``, ``np.real``, ``float()`` or casts to a real dtype
discards the imaginary part. The functions here detect it when the function's *output* comes
back real (and raise), but not when the discard happens inside a formula whose output stays
complex: ``z * np.abs(z)`` silently differentiates as ``|z|`` (chapter 5 shows it).

A step ``h=`` given by the user is used as is, for every coordinate (no scaling by
:math:`|x_k|`). Each difference divides by the step actually taken,
:math:`(x_k + h) - (x_k - h)` in floating point, not by the nominal :math:`2h`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from mlmath._validation import (
    as_float_array,
    as_generator,
    check_finite,
    check_int,
    check_nonempty,
    check_positive,
    check_size,
    lookup,
    no_overflow,
)

__all__ = [
    "GradientCheck",
    "gradient",
    "gradient_check",
    "hessian",
    "hessian_from_hvp",
    "hvp",
    "jacobian",
    "top_eigenvalues",
]

_METHODS = ("forward", "central", "complex")
_COMPLEX_STEP = 1e-20
_COMPLEX_FIX = "Write it with complex-safe operations (+, *, @, np.exp, np.log, np.tanh, ...) or use method='central'."
_DISCARDS_IMAG = (
    "it discards the imaginary part of its input (as np.abs, np.real, float(), np.clip, "
    "np.maximum or a cast to a real dtype do), so the complex step cannot see its derivative. " + _COMPLEX_FIX
)
_REFUSES_COMPLEX = "the complex step needs a function that accepts complex input. " + _COMPLEX_FIX

# A move of the evaluation point away from x: (flat index, step, is_imaginary).
_Move = tuple[int, float, bool]


# ----------------------------------------------------------------------------------------
# private helpers
# ----------------------------------------------------------------------------------------


def _check_method(method: object, allowed: tuple[str, ...] = _METHODS) -> str:
    return lookup({m: m for m in allowed}, method, "method")


def _check_step(h: object) -> float | None:
    if h is None:
        return None
    return check_positive(h, "h")


def _eps(*dtypes: np.dtype) -> float:
    """Machine epsilon of the coarsest floating dtype among ``dtypes``."""
    return max(float(np.finfo(d).eps) if np.issubdtype(d, np.inexact) else 0.0 for d in dtypes)


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _entry(flat: int, shape: tuple[int, ...]) -> str:
    """Name one entry of x: ``x`` (0-D), ``x[3]``, ``x[1, 2]``."""
    idx = _index(flat, shape)
    return "x" if not idx else "x[" + ", ".join(map(str, idx)) + "]"


def _describe(moves: tuple[_Move, ...], shape: tuple[int, ...]) -> str:
    """Write an evaluation point as ``x + 6.1e-06·e_(1,) - 1e-20i·e_(0,)``."""
    merged: dict[tuple[int, bool], float] = {}
    for flat, step, imaginary in moves:  # x + h·e_0 + h·e_0 is x + 2h·e_0
        merged[flat, imaginary] = merged.get((flat, imaginary), 0.0) + step
    text = "x"
    for (flat, imaginary), step in merged.items():
        idx = _index(flat, shape)
        where = str(idx[0]) if len(idx) == 1 else str(idx)
        sign = "-" if step < 0 else "+"
        text += f" {sign} {abs(step):.3g}{'i' if imaginary else ''}·e_{where}"
    return text


def _real_output(value: object, point: str, shape: tuple[int, ...] | None) -> np.ndarray:
    """Validate one value of f at a real point: real, finite, of the expected shape."""
    out = as_float_array(value, f"f({point})", finite=False)
    if shape is not None and out.shape != shape:
        raise ValueError(
            f"f({point}) has shape {out.shape}, but f(x) has shape {shape}; f must return the same shape at every point"
        )
    try:
        check_finite(out, f"f({point})")
    except ValueError as exc:
        if point == "x":
            raise
        raise ValueError(
            f"{exc}. f must be finite at x and at the points around it where the "
            "differences evaluate it; move x or choose a smaller h"
        ) from None
    return out


def _complex_output(f: Callable, y: np.ndarray, point: str, shape: tuple[int, ...]) -> np.ndarray:
    """Evaluate f at a complex point, refusing functions that discard the imaginary part."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        try:
            value = f(y)
        except np.exceptions.ComplexWarning as exc:
            raise ValueError(f"f cast a complex value to real at {point} ({exc}): " + _DISCARDS_IMAG) from exc
        except TypeError as exc:
            raise ValueError(f"f failed on the complex input {point} (TypeError: {exc}); " + _REFUSES_COMPLEX) from exc
    out = np.asarray(value)
    if out.dtype.kind != "c":
        raise ValueError(
            f"f returned a real value (dtype {out.dtype}) for the complex input {point}: " + _DISCARDS_IMAG
        )
    if out.shape != shape:
        raise ValueError(
            f"f({point}) has shape {out.shape}, but f(x) has shape {shape}; f must return the same shape at every point"
        )
    check_finite(out.real, f"the real part of f({point})")
    check_finite(out.imag, f"the imaginary part of f({point})")
    return out


def _default_steps(x: np.ndarray, power: float, eps: float) -> np.ndarray:
    """Per-coordinate steps :math:`\\varepsilon^{p}\\max(1, |x_k|)` (flat)."""
    return eps**power * np.maximum(1.0, np.abs(x.astype(np.float64, copy=False).ravel()))


def _steps(x: np.ndarray, h: float | None, power: float, eps: float) -> np.ndarray:
    return np.full(x.size, h) if h is not None else _default_steps(x, power, eps)


def _moved(x: np.ndarray, flat: int, step: complex) -> np.ndarray:
    y = x.copy()
    with no_overflow("x + h", "use a smaller h"):
        y.flat[flat] = y.flat[flat] + step
    return y


def _step_taken(upper: float, lower: float, k: int, x: np.ndarray, hk: float) -> float:
    """``upper - lower``, the step actually taken across ``x.flat[k]``; it must be nonzero and finite."""
    taken = upper - lower
    if taken == 0.0:
        raise ValueError(
            f"h = {hk:.3g} is too small to change {_entry(k, x.shape)} = {float(x.flat[k])!r} in {x.dtype}; "
            "use a larger h"
        )
    if not math.isfinite(taken):
        raise ValueError(
            f"h = {hk:.3g} is too large: the step across {_entry(k, x.shape)} = {float(x.flat[k])!r} "
            "overflows the floating-point range; use a smaller h"
        )
    return taken


_QUOTIENT = ("the difference quotient of f's values", "scale f down or use a larger h")
_GRAD_QUOTIENT = ("the difference quotient of grad_f's values", "scale f down or use a larger h")


# Central stencils for a first derivative: ((offset in steps, weight), ...), denominator.
# Fourth order: [-F(x+2h) + 8F(x+h) - 8F(x-h) + F(x-2h)] / 12h; sixth order likewise / 60h.
_STENCILS = {
    "central4": (((2, -1.0), (1, 8.0), (-1, -8.0), (-2, 1.0)), 12),
    "central6": (((3, 1.0), (2, -9.0), (1, 45.0), (-1, -45.0), (-2, 9.0), (-3, -1.0)), 60),
}


def _difference(
    fun: Callable[[np.ndarray, tuple[_Move, ...]], np.ndarray],
    x: np.ndarray,
    method: str,
    steps: np.ndarray,
    base: np.ndarray | None,
    moves: tuple[_Move, ...],
) -> np.ndarray:
    """Differentiate ``fun`` at ``x`` one coordinate at a time.

    ``fun(y, moves)`` returns the (validated) value at ``y``; ``moves`` says how ``y`` lies
    relative to the user's ``x`` for error messages. Returns an array of shape
    ``(out_size, x.size)`` in float64; for ``method='complex'`` ``x`` is already complex and
    ``steps`` holds the (real) imaginary step.
    """
    columns = []
    for k in range(x.size):
        hk = float(steps[k])
        if method == "complex":
            value = fun(_moved(x, k, 1j * hk), (*moves, (k, hk, True)))
            with no_overflow(*_QUOTIENT):
                columns.append(value.imag.ravel().astype(np.float64) / hk)
            continue
        xp = _moved(x, k, hk)
        if method in _STENCILS:  # high-order central difference: sum_j c_j F(x + s_j h) / (d h)
            xm = _moved(x, k, -hk)
            taken = _step_taken(float(xp.flat[k]), float(xm.flat[k]), k, x, hk) / 2
            weights, denominator = _STENCILS[method]
            values = [fun(_moved(x, k, s * hk), (*moves, (k, s * hk, False))) for s, _ in weights]
            with no_overflow(*_QUOTIENT):
                total = sum(c * v.astype(np.float64) for (_, c), v in zip(weights, values, strict=True))
                columns.append(np.ravel(total) / (denominator * taken))
            continue
        if method == "central":
            xm = _moved(x, k, -hk)
            taken = _step_taken(float(xp.flat[k]), float(xm.flat[k]), k, x, hk)
            low = fun(xm, (*moves, (k, -hk, False)))
        else:
            if base is None:  # every caller passes base = fun(x) for method='forward'
                raise ValueError("method='forward' needs base, the value of fun at x")
            taken = _step_taken(float(xp.flat[k]), float(x.flat[k]), k, x, hk)
            low = base
        high = fun(xp, (*moves, (k, hk, False)))
        with no_overflow(*_QUOTIENT):
            columns.append((high.astype(np.float64) - low.astype(np.float64)).ravel() / taken)
    if not columns:
        size = 0 if base is None else base.size
        return np.zeros((size, 0))
    return np.stack(columns, axis=1)


def _probe_nonzero(values: tuple[np.ndarray, np.ndarray], t: float, scale: np.ndarray) -> float:
    """Largest central-difference derivative seen along the probe, relative to ``scale``."""
    slope = np.abs(values[0].astype(np.float64) - values[1].astype(np.float64)) / (2 * t)
    return float(np.max(slope, initial=0.0) / max(1.0, float(np.max(np.abs(scale), initial=0.0))))


def _check_complex_result(J: np.ndarray, f: Callable, x: np.ndarray, fx: np.ndarray, eps: float, what: str) -> None:
    """An all-zero complex-step derivative is either a stationary point or a discarded
    imaginary part; a central difference along one random direction tells them apart."""
    if J.size == 0 or np.any(J != 0):
        return
    rng = np.random.default_rng(0)
    d = rng.standard_normal(x.shape).astype(x.dtype)
    d /= max(float(np.max(np.abs(d), initial=0.0)), 1e-300)
    t = eps ** (1 / 3) * max(1.0, float(np.max(np.abs(x), initial=0.0)))
    with no_overflow("x ± t·d to probe f along a random direction d", "move x"):
        points = (x + t * d, x - t * d)
    probe = (_real_output(f(points[0]), "x + t·d", fx.shape), _real_output(f(points[1]), "x - t·d", fx.shape))
    with no_overflow(*_QUOTIENT):
        slope = _probe_nonzero(probe, t, fx)
    if slope > 1e-6:
        raise ValueError(
            f"the complex step gave {what} exactly 0 for every coordinate, but f changes along a "
            f"random direction (central difference {slope:.2g}); f returns complex values but " + _DISCARDS_IMAG
        )


def _evaluators(
    f: Callable, shape: tuple[int, ...], x_shape: tuple[int, ...], complex_: bool
) -> Callable[[np.ndarray, tuple[_Move, ...]], np.ndarray]:
    if complex_:
        return lambda y, moves: _complex_output(f, y, _describe(moves, x_shape), shape)
    return lambda y, moves: _real_output(f(y), _describe(moves, x_shape), shape)


def _prepare(f: Callable, x: object, method: object, h: object) -> tuple[np.ndarray, np.ndarray, str, float | None]:
    if not callable(f):
        raise TypeError(f"f must be a callable that maps an array to an array; got {type(f).__name__}")
    method = _check_method(method)
    step = _check_step(h)
    arr = as_float_array(x, "x")
    fx = _real_output(f(arr.copy()), "x", None)
    return arr, fx, method, step


def _first_order(f: Callable, x: np.ndarray, fx: np.ndarray, method: str, h: float | None, what: str) -> np.ndarray:
    """Jacobian of ``f`` at ``x`` as a ``(fx.size, x.size)`` float64 array."""
    eps = _eps(x.dtype, fx.dtype)
    if method == "complex":
        steps = np.full(x.size, _COMPLEX_STEP if h is None else h)
        xc = x.astype(np.result_type(x.dtype, np.complex64))
        J = _difference(_evaluators(f, fx.shape, x.shape, True), xc, method, steps, None, ())
        _check_complex_result(J, f, x, fx, eps, what)
        return J
    steps = _steps(x, h, 1 / 2 if method == "forward" else 1 / 3, eps)
    return _difference(_evaluators(f, fx.shape, x.shape, False), x, method, steps, fx, ())


def _scalar_only(fx: np.ndarray, name: str) -> None:
    if fx.ndim != 0:
        raise ValueError(
            f"{name} needs f to return a real scalar; f(x) has shape {fx.shape}. "
            f"For a vector- or array-valued f use jacobian(f, x), whose result has shape "
            f"f(x).shape + x.shape" + (" (or return a scalar with .item() or [0])" if fx.size == 1 else "")
        )


# ----------------------------------------------------------------------------------------
# first order
# ----------------------------------------------------------------------------------------


def jacobian(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, method: str = "central", h: float | None = None
) -> np.ndarray:
    r"""Jacobian of ``f`` at ``x`` by finite differences or the complex step.

    For :math:`f: \mathbb{R}^n \to \mathbb{R}^m` the Jacobian holds
    :math:`J_{ij} = \partial f_i / \partial x_j`. Column :math:`j` is computed from
    evaluations of ``f`` at ``x`` moved along coordinate :math:`j` (see the module's table
    for the formulas and default steps). Derived in chapter 5.

    Parameters
    ----------
    f : callable
        Maps an array of ``x``'s shape to an array of any (fixed) shape. Evaluated
        ``n + 1`` times (``forward``, ``central`` twice per coordinate, ``complex`` once per
        coordinate), with ``n = x.size``.
    x : array_like of any shape
        The point, finite. float32 stays float32.
    method : {'central', 'forward', 'complex'}
        ``'complex'`` requires ``f`` to be complex-safe (see the module docstring).
    h : float, optional
        Step used for every coordinate. Default: the module's table.

    Returns
    -------
    numpy.ndarray of shape ``f(x).shape + x.shape``
        Entry ``[i..., j...]`` is :math:`\partial f_{i\ldots} / \partial x_{j\ldots}`
        (the JAX and autograd rule). For 1-D ``x`` and ``f(x)`` that is the
        :math:`m \times n` matrix :math:`J`; for scalar ``f`` it is the gradient.
        dtype of ``x``.

    Raises
    ------
    ValueError
        Unknown ``method``, ``h <= 0``, non-finite ``x`` or ``f`` values, or (for
        ``'complex'``) an ``f`` that discards the imaginary part.
    TypeError
        If ``f`` is not callable, ``x`` or a value of ``f`` is not real-valued, ``method`` is
        not a string, or ``h`` is not a real number.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda x: np.array([x[0] * x[1], np.sin(x[0])])
    >>> jacobian(f, np.array([0.0, 2.0]), method="complex")
    array([[2., 0.],
           [1., 0.]])
    >>> jacobian(lambda W: W @ np.ones(3), np.zeros((2, 3))).shape
    (2, 2, 3)
    """
    arr, fx, method, step = _prepare(f, x, method, h)
    J = _first_order(f, arr, fx, method, step, "the Jacobian")
    return J.reshape(fx.shape + arr.shape).astype(arr.dtype, copy=False)


def gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, method: str = "central", h: float | None = None
) -> np.ndarray:
    r"""Gradient :math:`\nabla f(x)` of a real scalar function, numerically.

    :math:`(\nabla f)_k = \partial f / \partial x_k`, computed coordinate by coordinate with
    the formulas and default steps of the module's table. Derived in chapter 5.

    Parameters
    ----------
    f : callable
        Maps an array of ``x``'s shape to a real scalar (a Python float or a 0-D array).
    x : array_like of any shape
        The point, finite.
    method : {'central', 'forward', 'complex'}
    h : float, optional
        Step used for every coordinate. Default: the module's table.

    Returns
    -------
    numpy.ndarray of the shape of ``x``
        dtype of ``x``.

    Raises
    ------
    ValueError
        If ``f(x)`` is not a scalar (use :func:`jacobian`), and for the reasons listed in
        :func:`jacobian`.

    Examples
    --------
    >>> import numpy as np
    >>> gradient(lambda x: np.sum(x**3), np.array([1.0, 2.0]), method="complex")
    array([ 3., 12.])
    >>> np.round(gradient(lambda x: np.sum(x**3), np.array([1.0, 2.0])), 6)
    array([ 3., 12.])
    """
    arr, fx, method, step = _prepare(f, x, method, h)
    _scalar_only(fx, "gradient")
    g = _first_order(f, arr, fx, method, step, "the gradient")
    return g.reshape(arr.shape).astype(arr.dtype, copy=False)


# ----------------------------------------------------------------------------------------
# second order
# ----------------------------------------------------------------------------------------


def hessian(
    f: Callable[[np.ndarray], float], x: np.ndarray, method: str = "central", h: float | None = None
) -> np.ndarray:
    r"""Hessian :math:`H_{ij} = \partial^2 f / \partial x_i \partial x_j`, as the Jacobian of the gradient.

    Built from first-order differences: the outer difference (over :math:`j`) is taken of
    the numeric gradient (over :math:`i`). The steps are chosen for the *second* derivative
    (derived in chapter 5):

    - ``'forward'``: forward gradient, forward outer difference, step
      :math:`h_k = \varepsilon^{1/3}\max(1,|x_k|)`, error :math:`O(\varepsilon^{1/3})`.
    - ``'central'``: central gradient, central outer difference, step
      :math:`h_k = \varepsilon^{1/4}\max(1,|x_k|)`, error :math:`O(\varepsilon^{1/2})`.
    - ``'complex'``: complex-step gradient (:math:`10^{-20}`), sixth-order central outer
      difference, step :math:`h_k = \varepsilon^{1/6}\max(1,|x_k|)`, error
      :math:`O(\varepsilon^{5/6})`.

    For ``forward`` and ``central`` both levels use the same step :math:`h_k` per
    coordinate, so entry :math:`(i, j)` is the four-point formula

    .. math::

        \frac{f(x{+}h_ie_i{+}h_je_j) - f(x{-}h_ie_i{+}h_je_j) - f(x{+}h_ie_i{-}h_je_j)
        + f(x{-}h_ie_i{-}h_je_j)}{4h_ih_j}

    with truncation :math:`O(h^2)` and rounding :math:`O(\varepsilon |f| / h^2)`, balanced at
    :math:`h \propto \varepsilon^{1/4}`. With ``complex`` the gradient is exact to rounding,
    :math:`O(\varepsilon |\nabla f|)`, so the outer difference behaves as a first
    derivative; it uses the sixth-order stencil
    :math:`[g(x{+}3h) - 9g(x{+}2h) + 45g(x{+}h) - 45g(x{-}h) + 9g(x{-}2h) - g(x{-}3h)] / 60h`,
    truncation :math:`O(h^6)`, rounding :math:`O(\varepsilon|\nabla f|/h)`. The step
    :math:`h \propto \varepsilon^{1/6}` is a little above the balance point
    :math:`\varepsilon^{1/7}`, because the high derivatives of saturating functions such as
    tanh are large: relative errors of :math:`10^{-14}` to a few :math:`10^{-12}`.
    It is not symmetrized. With ``forward`` and ``central`` the formula for entry
    :math:`(i, j)` is symmetric in :math:`i` and :math:`j`, so the result is exactly symmetric
    whatever its error; only with ``complex`` does :math:`\|H - H^\top\|` reflect the error.

    Parameters
    ----------
    f : callable
        Maps an array of ``x``'s shape to a real scalar. Evaluated about :math:`4n^2`
        times (``central``), :math:`6n^2` times (``complex``) or :math:`(n+1)^2` times (``forward``).
    x : array_like of any shape
        The point, finite.
    method : {'central', 'forward', 'complex'}
    h : float, optional
        Replaces the real step at both levels (the complex step stays :math:`10^{-20}`).

    Returns
    -------
    numpy.ndarray of shape ``x.shape + x.shape``
        dtype of ``x``. For 1-D ``x`` the :math:`n \times n` Hessian.

    Raises
    ------
    ValueError
        If ``f(x)`` is not a scalar (use :func:`jacobian` of a gradient for vector
        functions), and for the reasons listed in :func:`jacobian`.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda x: x[0] ** 2 * x[1] + np.exp(x[1])
    >>> np.round(hessian(f, np.array([1.0, 0.0]), method="complex"), 8)
    array([[0., 2.],
           [2., 1.]])
    """
    arr, fx, method, step = _prepare(f, x, method, h)
    _scalar_only(fx, "hessian")
    eps = _eps(arr.dtype, fx.dtype)
    n = arr.size
    power = {"forward": 1 / 3, "central": 1 / 4, "complex": 1 / 6}[method]
    steps = _steps(arr, step, power, eps)
    shape = fx.shape
    real_f = _evaluators(f, shape, arr.shape, False)

    if method == "complex":
        complex_f = _evaluators(f, shape, arr.shape, True)
        ctype = np.result_type(arr.dtype, np.complex64)
        inner_steps = np.full(n, _COMPLEX_STEP)

        def grad_at(y: np.ndarray, moves: tuple[_Move, ...]) -> np.ndarray:
            return _difference(complex_f, y.astype(ctype), "complex", inner_steps, None, moves)[0]

        H = _difference(grad_at, arr, "central6", steps, None, ())
        if H.size and not np.any(H):
            _check_complex_result(grad_at(arr, ()).reshape(1, -1), f, arr, fx, eps, "the gradient")
    else:

        def grad_at(y: np.ndarray, moves: tuple[_Move, ...]) -> np.ndarray:
            base = real_f(y, moves) if method == "forward" else None
            return _difference(real_f, y, method, steps, base, moves)[0]

        base = grad_at(arr, ()) if method == "forward" else None
        H = _difference(grad_at, arr, method, steps, base, ())
    return H.reshape(arr.shape + arr.shape).astype(arr.dtype, copy=False)


def hvp(
    grad_f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    v: np.ndarray,
    h: float | None = None,
    method: str = "central",
) -> np.ndarray:
    r"""Hessian-vector product :math:`Hv` from a gradient function, without forming :math:`H`.

    :math:`Hv` is the directional derivative of the gradient along :math:`v`,
    :math:`Hv = \frac{d}{dt}\nabla f(x + tv)\big|_{t=0}` (derived in chapter 5), so

    - ``'central'``: :math:`Hv \approx [\nabla f(x + tv) - \nabla f(x - tv)] / 2t`,
      two gradient calls, error :math:`O(t^2)` from truncation plus
      :math:`O(\varepsilon\|\nabla f\| / t)` from rounding. Default
      :math:`t = \varepsilon^{1/3}\max(1, \|x\|_\infty) / \|v\|_\infty`, so the largest
      coordinate moves by :math:`\varepsilon^{1/3}\max(1, \|x\|_\infty)`; relative error
      about :math:`\varepsilon^{2/3}\approx 10^{-11}`.
    - ``'complex'``: :math:`Hv \approx \operatorname{Im}\nabla f(x + itv) / t` with
      :math:`t = 10^{-20}`, one gradient call, exact to rounding. ``grad_f`` must be
      complex-safe.

    Parameters
    ----------
    grad_f : callable
        Maps an array of ``x``'s shape to the gradient, of the same shape.
    x : array_like of any shape
        The point, finite.
    v : array_like of the shape of ``x``
        The direction, finite. :math:`v = 0` gives zeros without calling ``grad_f``.
    h : float, optional
        The step :math:`t` along ``v`` (the points are :math:`x \pm tv`), used as is.
    method : {'central', 'complex'}

    Returns
    -------
    numpy.ndarray of the shape of ``x``
        dtype of ``x``.

    Raises
    ------
    ValueError
        Unknown ``method``, ``h <= 0``, ``v`` not of the shape of ``x``, non-finite ``x``,
        ``v`` or gradient values, or (for ``'complex'``) a ``grad_f`` that discards the
        imaginary part.
    TypeError
        If ``grad_f`` is not callable, ``x``, ``v`` or a gradient is not real-valued,
        ``method`` is not a string, or ``h`` is not a real number.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> grad_f = lambda x: A @ x          # f(x) = x^T A x / 2
    >>> hvp(grad_f, np.array([1.0, -1.0]), np.array([1.0, 0.0]), method="complex")
    array([2., 1.])
    """
    if not callable(grad_f):
        raise TypeError(f"grad_f must be a callable returning the gradient; got {type(grad_f).__name__}")
    method = _check_method(method, ("central", "complex"))
    step = _check_step(h)
    arr = as_float_array(x, "x")
    vec = as_float_array(v, "v")
    if vec.shape != arr.shape:
        raise ValueError(f"v must have the shape of x, {arr.shape}; got shape {vec.shape}")
    vmax = float(np.max(np.abs(vec), initial=0.0))
    if vmax == 0.0:
        return np.zeros_like(arr)

    def real_grad(y: np.ndarray, point: str) -> np.ndarray:
        g = as_float_array(grad_f(y), f"grad_f({point})", finite=False)
        if g.shape != arr.shape:
            raise ValueError(f"grad_f({point}) must have the shape of x, {arr.shape}; got shape {g.shape}")
        check_finite(g, f"grad_f({point})")
        return g

    eps = _eps(arr.dtype)
    if method == "complex":
        t = _COMPLEX_STEP if step is None else step
        with no_overflow("x + itv", "use a smaller h"):
            y = arr.astype(np.result_type(arr.dtype, np.complex64)) + 1j * t * vec
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            try:
                g = np.asarray(grad_f(y))
            except np.exceptions.ComplexWarning as exc:
                raise ValueError(f"grad_f cast a complex value to real at x + itv ({exc}): " + _DISCARDS_IMAG) from exc
            except TypeError as exc:
                raise ValueError(
                    f"grad_f failed on the complex input x + itv (TypeError: {exc}); " + _REFUSES_COMPLEX
                ) from exc
        if g.dtype.kind != "c":
            raise ValueError(
                f"grad_f returned a real value (dtype {g.dtype}) for the complex input x + itv: " + _DISCARDS_IMAG
            )
        if g.shape != arr.shape:
            raise ValueError(f"grad_f(x + itv) must have the shape of x, {arr.shape}; got shape {g.shape}")
        check_finite(g.real, "the real part of grad_f(x + itv)")
        check_finite(g.imag, "the imaginary part of grad_f(x + itv)")
        with no_overflow(*_GRAD_QUOTIENT):
            out = g.imag.astype(np.float64) / t
        if not np.any(out):
            s = eps ** (1 / 3) * max(1.0, float(np.max(np.abs(arr), initial=0.0))) / vmax
            with no_overflow("x ± tv to probe grad_f", "move x"):
                points = (arr + s * vec, arr - s * vec)
            probe = (real_grad(points[0], "x + tv"), real_grad(points[1], "x - tv"))
            with no_overflow(*_GRAD_QUOTIENT):
                slope = _probe_nonzero(probe, s, probe[0])
            if slope > 1e-6:
                raise ValueError(
                    "the complex step gave Hv exactly 0, but the gradient changes along v "
                    f"(central difference {slope:.2g}); grad_f returns complex values but " + _DISCARDS_IMAG
                )
        return out.astype(arr.dtype, copy=False)

    t = step if step is not None else eps ** (1 / 3) * max(1.0, float(np.max(np.abs(arr), initial=0.0))) / vmax
    with no_overflow("x ± tv", "use a smaller h"):
        points = (arr + t * vec, arr - t * vec)
    gp = real_grad(points[0], f"x + {t:.3g}·v")
    gm = real_grad(points[1], f"x - {t:.3g}·v")
    with no_overflow(*_GRAD_QUOTIENT):
        out = (gp.astype(np.float64) - gm.astype(np.float64)) / (2 * t)
    return out.astype(arr.dtype, copy=False)


def _checked_product(hvp_fn: Callable, u: np.ndarray, n: int, what: str) -> np.ndarray:
    out = as_float_array(hvp_fn(u), f"hvp_fn({what})", finite=False)
    if out.shape != (n,):
        raise ValueError(f"hvp_fn({what}) must return a 1-D array of shape ({n},); got shape {out.shape}")
    check_finite(out, f"hvp_fn({what})")
    return out.astype(np.float64, copy=False)


def hessian_from_hvp(hvp_fn: Callable[[np.ndarray], np.ndarray], n: int) -> np.ndarray:
    r"""Assemble the full Hessian from :math:`n` Hessian-vector products, symmetrized.

    Column :math:`k` is :math:`He_k`. Products computed numerically (e.g. by :func:`hvp`)
    are not exactly symmetric, so the result is :math:`(\tilde H + \tilde H^\top)/2`: the
    symmetric matrix nearest to the assembled :math:`\tilde H` in the Frobenius norm, which
    is never farther from the true (symmetric) Hessian than :math:`\tilde H` is. Derived in
    chapter 5.

    Parameters
    ----------
    hvp_fn : callable
        Maps a vector of shape ``(n,)`` to :math:`Hv` of shape ``(n,)``. Called ``n``
        times. For parameters of another shape, flatten them inside ``hvp_fn``.
    n : int
        The dimension.

    Returns
    -------
    numpy.ndarray of shape (n, n)
        float64, exactly symmetric.

    Raises
    ------
    TypeError
        If ``hvp_fn`` is not callable or ``n`` is not an integer.
    ValueError
        If ``n < 1`` or larger than numpy can index, or a product is not a finite vector of
        shape ``(n,)``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> hessian_from_hvp(lambda v: A @ v, 2)
    array([[2., 1.],
           [1., 3.]])
    """
    if not callable(hvp_fn):
        raise TypeError(f"hvp_fn must be a callable v -> Hv; got {type(hvp_fn).__name__}")
    n = check_size(n, "n")
    H = np.empty((n, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        H[:, k] = _checked_product(hvp_fn, e, n, f"e_{k}")
    with no_overflow("(H + Hᵀ)/2 from the products of hvp_fn", "scale hvp_fn down"):
        return (H + H.T) / 2


_WHICH = ("LM", "LA", "SA")
_LANCZOS = (
    "the Lanczos vectors from the products of hvp_fn",
    "scale hvp_fn down (c·H has the eigenvalues of H times c)",
)


def _wanted(theta: np.ndarray, which: str, k: int) -> np.ndarray:
    if which == "LM":
        order = np.argsort(-np.abs(theta), kind="stable")
    elif which == "LA":
        order = np.argsort(-theta, kind="stable")
    else:
        order = np.argsort(theta, kind="stable")
    return order[:k]


def top_eigenvalues(
    hvp_fn: Callable[[np.ndarray], np.ndarray],
    n: int,
    k: int = 1,
    *,
    which: str = "LM",
    iters: int | None = None,
    tol: float = 1e-8,
    seed: int | np.random.Generator = 0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""The ``k`` extreme eigenvalues of a symmetric :math:`H` known only through products :math:`v \mapsto Hv`.

    Lanczos iteration with full reorthogonalization: after :math:`m` products the
    orthonormal basis :math:`Q_m` of the Krylov space
    :math:`\{q, Hq, \dots, H^{m-1}q\}` gives the tridiagonal :math:`T_m = Q_m^\top H Q_m`,
    whose eigenvalues (Ritz values) approach the extreme eigenvalues of :math:`H` first.
    The iteration stops when the ``k`` wanted Ritz pairs have residuals
    :math:`\|Hy - \theta y\| \le` ``tol`` :math:`\cdot\max|\theta|` (checked every 5 steps),
    after ``iters`` products, or at :math:`m = n`, where it is exact. Each eigenvalue is
    then within its residual of a true one. A Krylov space holds only one eigenvector of a
    repeated eigenvalue; further copies appear only when the space is exhausted early and
    the iteration restarts from a fresh random vector (as for a multiple of the identity),
    so with clustered eigenvalues ask for a tighter ``tol``. Derived in chapter 5.

    Parameters
    ----------
    hvp_fn : callable
        Maps a vector of shape ``(n,)`` to :math:`Hv` of shape ``(n,)``; :math:`H` must be
        symmetric (a Hessian).
    n : int
        The dimension.
    k : int, default 1
        How many eigenvalues, ``1 <= k <= n``.
    which : {'LM', 'LA', 'SA'}
        Largest magnitude (default; the curvature that limits a step size), largest
        algebraic, or smallest algebraic (the most negative curvature, at a saddle).
    iters : int, optional
        Most products to use; default ``n``. A warning says when it was not enough.
    tol : float, default 1e-8
        Relative residual at which a Ritz pair counts as converged.
    seed : int, numpy.random.Generator or None, default 0
        For the random starting vector; ``None`` draws fresh entropy. A generator is advanced.

    Returns
    -------
    eigenvalues : numpy.ndarray of shape (k,)
        Sorted by ``which``: decreasing :math:`|\lambda|` (``'LM'``), decreasing
        :math:`\lambda` (``'LA'``) or increasing :math:`\lambda` (``'SA'``).
    eigenvectors : numpy.ndarray of shape (n, k)
        Unit columns, ``eigenvectors[:, i]`` for ``eigenvalues[i]``, sign chosen so that the
        entry of largest magnitude is positive.

    Raises
    ------
    TypeError
        If ``hvp_fn`` is not callable, ``n``, ``k`` or ``iters`` is not an integer, ``tol`` is
        not a real number, or ``seed`` is not None, an integer or a Generator.
    ValueError
        If ``n < 1`` or larger than numpy can index, ``k`` is not in ``[1, n]``, ``iters < k``,
        ``which`` is unknown, ``tol`` is not a finite number > 0, ``seed < 0``, or a product is
        not a finite vector of shape ``(n,)``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag([1.0, -5.0, 3.0, 2.0])
    >>> vals, vecs = top_eigenvalues(lambda v: A @ v, 4, k=2)
    >>> np.round(vals, 10)
    array([-5.,  3.])
    >>> np.round(np.abs(vecs[:, 0]), 10)
    array([0., 1., 0., 0.])
    """
    if not callable(hvp_fn):
        raise TypeError(f"hvp_fn must be a callable v -> Hv; got {type(hvp_fn).__name__}")
    n = check_size(n, "n")
    k = check_int(k, "k", 1, n)
    if not isinstance(which, str) or which not in _WHICH:
        raise ValueError(f"which must be one of 'LM', 'LA', 'SA'; got {which!r}")
    m_max = n if iters is None else check_int(iters, "iters", k)
    tol = check_positive(tol, "tol")
    rng = as_generator(seed, "seed")

    Q = np.zeros((min(m_max, n), n))
    alpha = np.zeros(Q.shape[0])
    beta = np.zeros(Q.shape[0])
    q = rng.standard_normal(n)
    Q[0] = q / np.linalg.norm(q)
    converged = False
    m = 0
    theta = S = idx = None
    for j in range(Q.shape[0]):
        w = _checked_product(hvp_fn, Q[j], n, f"q_{j}")
        with no_overflow(*_LANCZOS):
            alpha[j] = Q[j] @ w
            for _ in range(2):  # full reorthogonalization, twice is enough
                w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
            beta[j] = np.linalg.norm(w)
            m = j + 1
            scale = max(np.max(np.abs(alpha[:m])), np.max(beta[:m]), np.finfo(float).tiny)
            breakdown = beta[j] <= 1e-12 * scale
            if m >= k and (m % 5 == 0 or m == Q.shape[0] or breakdown):
                T = np.diag(alpha[:m]) + np.diag(beta[: m - 1], 1) + np.diag(beta[: m - 1], -1)
                theta, S = np.linalg.eigh(T)
                idx = _wanted(theta, which, k)
                residual = np.abs(beta[j] * S[-1, idx])
                if m == n or np.all(residual <= tol * max(np.max(np.abs(theta)), np.finfo(float).tiny)):
                    converged = m == n or not breakdown
                    if converged:
                        break
            if m == Q.shape[0]:
                break
            if breakdown:  # invariant subspace found: continue from a fresh orthogonal vector
                beta[j] = 0.0
                w = rng.standard_normal(n)
                for _ in range(2):
                    w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
            Q[j + 1] = w / np.linalg.norm(w)
    if theta is None or S is None or idx is None or S.shape[0] != m:
        T = np.diag(alpha[:m]) + np.diag(beta[: m - 1], 1) + np.diag(beta[: m - 1], -1)
        theta, S = np.linalg.eigh(T)
        idx = _wanted(theta, which, k)
    if not converged and m < n:
        warnings.warn(
            f"top_eigenvalues did not converge to tol={tol:g} in {m} products; "
            "increase iters (at most n) or loosen tol",
            RuntimeWarning,
            stacklevel=2,
        )
    values = theta[idx]
    vectors = Q[:m].T @ S[:, idx]
    vectors /= np.linalg.norm(vectors, axis=0)
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(k)])
    vectors *= np.where(signs == 0, 1.0, signs)
    return values, vectors


# ----------------------------------------------------------------------------------------
# gradient check
# ----------------------------------------------------------------------------------------


class GradientCheck(NamedTuple):
    r"""Result of :func:`gradient_check`: the worst coordinate and both gradients there."""

    max_rel_error: float
    r"""The largest relative error :math:`\max_k r_k` over all coordinates."""
    # A field named like tuple.index shadows that method; mypy flags any such NamedTuple field.
    index: tuple[int, ...]  # type: ignore[assignment]
    """Where it occurs, an index into ``x`` (``()`` for a scalar ``x``)."""
    analytic: float
    """The analytic gradient (from ``grad_f``) at ``index``."""
    numeric: float
    """The numeric gradient at ``index``."""


def gradient_check(
    f: Callable[[np.ndarray], float],
    grad_f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    method: str = "central",
    h: float | None = None,
    floor: float | None = None,
) -> GradientCheck:
    r"""Compare an analytic gradient with a numeric one and report the worst coordinate.

    With :math:`a = \nabla f(x)` from ``grad_f`` and :math:`\tilde a` from
    :func:`gradient`, the relative error of coordinate :math:`k` is

    .. math::

        r_k = \frac{|a_k - \tilde a_k|}{\max(|a_k|, |\tilde a_k|, \delta)},

    where :math:`\delta` (``floor``) defaults to the smallest normal number of ``x``'s
    dtype, so it only guards against 0/0 (two exact zeros give :math:`r_k = 0`). A
    correct gradient gives :math:`\max_k r_k` of about :math:`10^{-9}` or less with
    ``'central'`` and about :math:`10^{-15}` with ``'complex'``; a wrong one gives
    values near 1. Where the true gradient is 0 the numeric noise makes :math:`r_k`
    near 1 even for a correct gradient; pass ``floor`` to measure such coordinates
    absolutely. It must exceed the central difference's noise, about
    :math:`\varepsilon |f(x)| / h \approx 10^{-11}|f(x)|` in float64, so ``1e-3`` times the
    largest gradient entry is a safe choice for a network's loss (chapter 4 uses it).
    Derived in chapter 5.

    Parameters
    ----------
    f : callable
        Real scalar function of an array of ``x``'s shape.
    grad_f : callable
        Its claimed gradient, returning an array of ``x``'s shape.
    x : array_like of any shape
        The point, finite, with at least one coordinate.
    method : {'central', 'forward', 'complex'}
        For the numeric gradient.
    h : float, optional
        Step of the numeric gradient.
    floor : float, optional
        :math:`\delta` above.

    Returns
    -------
    GradientCheck
        ``(max_rel_error, index, analytic, numeric)``.

    Raises
    ------
    ValueError
        If ``x`` is empty (there is no coordinate to compare), ``grad_f(x)`` does not have the
        shape of ``x``, ``floor`` is not a finite number > 0, and for the reasons listed in
        :func:`gradient`.
    TypeError
        If ``f`` or ``grad_f`` is not callable, ``x`` is not real-valued, or ``floor`` is not
        a real number.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda x: np.sum(np.sin(x))
    >>> wrong = lambda x: np.cos(x) * np.array([1.0, -1.0, 1.0])
    >>> check = gradient_check(f, wrong, np.array([0.1, 0.2, 0.3]))
    >>> check.index, round(check.max_rel_error, 6)   # a flipped sign: |2a| / |a|
    ((1,), 2.0)
    >>> gradient_check(f, np.cos, np.array([0.1, 0.2, 0.3])).max_rel_error < 1e-9
    True
    """
    if not callable(grad_f):
        raise TypeError(f"grad_f must be a callable returning the gradient; got {type(grad_f).__name__}")
    arr = as_float_array(x, "x")
    check_nonempty(arr, "x", "at least one coordinate to check")
    delta = float(np.finfo(arr.dtype).tiny) if floor is None else check_positive(floor, "floor")
    numeric = gradient(f, arr, method=method, h=h)
    analytic = as_float_array(grad_f(arr.copy()), "grad_f(x)", finite=False)
    if analytic.shape != arr.shape:
        raise ValueError(f"grad_f(x) must have the shape of x, {arr.shape}; got shape {analytic.shape}")
    check_finite(analytic, "grad_f(x)")
    a = analytic.astype(np.float64)
    b = numeric.astype(np.float64)
    with no_overflow("the relative error of grad_f(x)", "scale f down"):
        denom = np.maximum(np.maximum(np.abs(a), np.abs(b)), delta)
        rel = np.abs(a - b) / denom
    flat = int(np.argmax(rel))
    return GradientCheck(float(rel.flat[flat]), _index(flat, arr.shape), float(a.flat[flat]), float(b.flat[flat]))
