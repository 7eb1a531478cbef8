"""Tests of mlmath.calculus against sympy, closed forms and each other."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import sympy as sp

from mlmath.calculus import (
    GradientCheck,
    gradient,
    gradient_check,
    hessian,
    hessian_from_hvp,
    hvp,
    jacobian,
    top_eigenvalues,
)

EPS = np.finfo(np.float64).eps


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240605)


def rel_err(approx: np.ndarray, exact: np.ndarray) -> float:
    """Largest error relative to the largest exact entry (a norm-wise relative error)."""
    approx = np.asarray(approx, dtype=np.float64)
    exact = np.asarray(exact, dtype=np.float64)
    assert approx.shape == exact.shape
    return float(np.max(np.abs(approx - exact)) / np.max(np.abs(exact)))


# ----------------------------------------------------------------------------------------
# Functions with derivatives known symbolically. Each pairs a sympy expression with an
# independent, complex-safe numpy version of the same function.
# ----------------------------------------------------------------------------------------

_DATA = np.random.default_rng(7)
_X_LOG = _DATA.normal(size=(6, 3))
_Y_LOG = np.array([1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
_A_QUAD = _DATA.normal(size=(4, 4))
_B_QUAD = _DATA.normal(size=4)
_U_TANH = np.array([0.5, -1.0, 2.0])
_C_TANH = np.array([1.5, -0.7])


@dataclass
class Case:
    name: str
    shape: tuple[int, ...]  # shape of x
    symbols: list[sp.Symbol]  # flat, in C order of x
    expr: sp.Expr | sp.Matrix  # scalar, or a column of outputs
    f: object  # numpy version
    out_shape: tuple[int, ...] = ()
    scale: float = 1.0  # of the random points


def _syms(name: str, n: int) -> list[sp.Symbol]:
    return list(sp.symbols(f"{name}0:{n}", real=True))


def _rosenbrock() -> Case:
    x = _syms("x", 4)
    expr = sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(3))

    def f(v):
        return np.sum(100 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2)

    return Case("rosenbrock", (4,), x, expr, f)


def _logistic() -> Case:
    w = _syms("w", 3)
    margins = [_Y_LOG[i] * sum(_X_LOG[i, j] * w[j] for j in range(3)) for i in range(6)]
    expr = sum(sp.log(1 + sp.exp(-m)) for m in margins) / 6

    def f(v):
        return np.mean(np.log(1 + np.exp(-_Y_LOG * (_X_LOG @ v))))

    return Case("logistic loss", (3,), w, expr, f)


def _logsumexp() -> Case:
    z = _syms("z", 4)
    expr = sp.log(sum(sp.exp(zi) for zi in z))

    def f(v):
        c = np.max(v.real)  # any real shift gives the same value, so this is complex-safe
        return c + np.log(np.sum(np.exp(v - c)))

    return Case("log-sum-exp", (4,), z, expr, f, scale=2.0)


def _softmax() -> Case:
    z = _syms("z", 4)
    total = sum(sp.exp(zi) for zi in z)
    expr = sp.Matrix([sp.exp(zi) / total for zi in z])

    def f(v):
        e = np.exp(v - np.max(v.real))
        return e / np.sum(e)

    return Case("softmax", (4,), z, expr, f, out_shape=(4,), scale=2.0)


def _mix() -> Case:
    x, y, z = sp.symbols("x y z", real=True)
    expr = sp.sin(x) * sp.exp(y) * z + x**2 * y**3 - z**4 * x + sp.cos(x * z)

    def f(v):
        a, b, c = v
        return np.sin(a) * np.exp(b) * c + a**2 * b**3 - c**4 * a + np.cos(a * c)

    return Case("sin·exp·poly", (3,), [x, y, z], expr, f)


def _quadratic() -> Case:
    x = _syms("x", 4)
    xs = sp.Matrix(x)
    A = sp.Matrix(_A_QUAD)
    expr = (xs.T * A * xs)[0, 0] / 2 + (sp.Matrix(_B_QUAD).T * xs)[0, 0]

    def f(v):
        return v @ _A_QUAD @ v / 2 + _B_QUAD @ v

    return Case("quadratic", (4,), x, expr, f)


def _tanh_layer() -> Case:
    W = sp.Matrix(2, 3, _syms("W", 6))
    Z = W * sp.Matrix(_U_TANH)
    expr = sp.Matrix([sp.tanh(Z[i]) for i in range(2)])

    def f(v):
        return np.tanh(v @ _U_TANH)

    return Case("tanh(W u)", (2, 3), list(W), expr, f, out_shape=(2,))


def _tanh_loss() -> Case:
    W = sp.Matrix(2, 3, _syms("W", 6))
    Z = W * sp.Matrix(_U_TANH)
    expr = sum(_C_TANH[i] * sp.tanh(Z[i]) for i in range(2))

    def f(v):
        return _C_TANH @ np.tanh(v @ _U_TANH)

    return Case("c·tanh(W u)", (2, 3), list(W), expr, f)


SCALAR_CASES = [_rosenbrock(), _logistic(), _logsumexp(), _mix(), _quadratic(), _tanh_loss()]
VECTOR_CASES = [_softmax(), _tanh_layer()]
ALL_CASES = SCALAR_CASES + VECTOR_CASES


def _point(case: Case, rng: np.random.Generator) -> np.ndarray:
    return case.scale * rng.normal(size=case.shape)


def _value(case: Case, x: np.ndarray) -> np.ndarray:
    fn = sp.lambdify(case.symbols, case.expr, "numpy")
    return np.asarray(fn(*x.ravel()), dtype=np.float64).reshape(case.out_shape)


def _sympy_jacobian(case: Case, x: np.ndarray) -> np.ndarray:
    outputs = case.expr if isinstance(case.expr, sp.MatrixBase) else sp.Matrix([case.expr])
    J = sp.lambdify(case.symbols, outputs.jacobian(case.symbols), "numpy")
    return np.asarray(J(*x.ravel()), dtype=np.float64).reshape(case.out_shape + case.shape)


def _sympy_hessian(case: Case, x: np.ndarray) -> np.ndarray:
    H = sp.lambdify(case.symbols, sp.hessian(case.expr, case.symbols), "numpy")
    return np.asarray(H(*x.ravel()), dtype=np.float64).reshape(case.shape + case.shape)


def _sympy_gradient_fn(case: Case):
    """The exact gradient as a (complex-safe) numpy function of an array of x's shape."""
    grad = sp.lambdify(case.symbols, sp.Matrix([case.expr]).jacobian(case.symbols), "numpy")
    return lambda v: np.asarray(grad(*v.ravel())).reshape(case.shape)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.name)
def test_numpy_twin_is_the_sympy_function(case: Case, rng: np.random.Generator) -> None:
    x = _point(case, rng)
    np.testing.assert_allclose(case.f(x), _value(case, x), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(("method", "tol"), [("forward", 1e-5), ("central", 1e-6), ("complex", 1e-12)])
@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.name)
def test_jacobian_matches_sympy(case: Case, method: str, tol: float, rng: np.random.Generator) -> None:
    for _ in range(3):
        x = _point(case, rng)
        J = jacobian(case.f, x, method=method)
        assert J.shape == case.out_shape + case.shape
        assert rel_err(J, _sympy_jacobian(case, x)) < tol


@pytest.mark.parametrize(("method", "tol"), [("central", 1e-6), ("complex", 1e-12)])
@pytest.mark.parametrize("case", SCALAR_CASES, ids=lambda c: c.name)
def test_gradient_matches_sympy(case: Case, method: str, tol: float, rng: np.random.Generator) -> None:
    x = _point(case, rng)
    g = gradient(case.f, x, method=method)
    assert g.shape == case.shape
    assert rel_err(g, _sympy_jacobian(case, x)) < tol


# The complex-step Hessian still takes one real (sixth-order) difference of exact gradients,
# so it is not exact: 1e-14 to 1e-13 typically, a few 1e-12 at worst on these functions.
@pytest.mark.parametrize(("method", "tol"), [("forward", 1e-4), ("central", 1e-6), ("complex", 1e-11)])
@pytest.mark.parametrize("case", SCALAR_CASES, ids=lambda c: c.name)
def test_hessian_matches_sympy(case: Case, method: str, tol: float, rng: np.random.Generator) -> None:
    for _ in range(2):
        x = _point(case, rng)
        H = hessian(case.f, x, method=method)
        assert H.shape == case.shape + case.shape
        assert rel_err(H, _sympy_hessian(case, x)) < tol


def test_central_hessian_is_nearly_symmetric(rng: np.random.Generator) -> None:
    case = _mix()
    x = _point(case, rng)
    H = hessian(case.f, x).reshape(3, 3)
    assert np.max(np.abs(H - H.T)) <= 1e-6 * np.max(np.abs(H))


# ----------------------------------------------------------------------------------------
# shapes, dtypes, steps
# ----------------------------------------------------------------------------------------

X_SHAPES = [(), (1,), (3,), (2, 3), (2, 1, 2)]
OUT_SHAPES = [(), (2,), (2, 2)]


@pytest.mark.parametrize("method", ["forward", "central", "complex"])
@pytest.mark.parametrize("out_shape", OUT_SHAPES, ids=str)
@pytest.mark.parametrize("x_shape", X_SHAPES, ids=str)
def test_jacobian_shape_rule(x_shape, out_shape, method, rng: np.random.Generator) -> None:
    n, m = math.prod(x_shape), math.prod(out_shape)
    M = rng.normal(size=(m, n))
    x = rng.normal(size=x_shape)

    def f(v):
        return np.sin(M @ v.reshape(-1)).reshape(out_shape)

    exact = (np.cos(M @ x.reshape(-1))[:, None] * M).reshape(out_shape + x_shape)
    J = jacobian(f, x, method=method)
    assert J.shape == out_shape + x_shape
    tol = {"forward": 1e-6, "central": 1e-9, "complex": 1e-14}[method]
    np.testing.assert_allclose(J, exact, rtol=0, atol=tol * max(1.0, np.max(np.abs(exact))))


@pytest.mark.parametrize("method", ["forward", "central", "complex"])
@pytest.mark.parametrize("x_shape", X_SHAPES, ids=str)
def test_gradient_and_hessian_shapes(x_shape, method, rng: np.random.Generator) -> None:
    c = rng.normal(size=x_shape)
    x = rng.normal(size=x_shape)

    def f(v):
        return np.sum(c * np.sin(v)) + np.sum(c * v) ** 2

    grad = c * np.cos(x) + 2 * np.sum(c * x) * c
    n = c.size
    hess = (np.diag((-c * np.sin(x)).reshape(-1)) + 2 * np.outer(c, c)).reshape(x_shape + x_shape)
    g = gradient(f, x, method=method)
    H = hessian(f, x, method=method)
    assert g.shape == x_shape
    assert H.shape == x_shape + x_shape
    tol_g = {"forward": 1e-6, "central": 1e-9, "complex": 1e-14}[method]
    tol_h = {"forward": 1e-4, "central": 1e-7, "complex": 1e-11}[method]
    np.testing.assert_allclose(g, grad, rtol=0, atol=tol_g * max(1.0, np.max(np.abs(grad))))
    np.testing.assert_allclose(H, hess, rtol=0, atol=tol_h * max(1.0, np.max(np.abs(hess))) * max(1, n))


@pytest.mark.parametrize("method", ["forward", "central", "complex"])
def test_float32_stays_float32(method: str, rng: np.random.Generator) -> None:
    x = rng.normal(size=5).astype(np.float32)

    def f(v):
        return np.sum(v**3)

    g = gradient(f, x, method=method)
    assert g.dtype == np.float32
    tol = {"forward": 1e-2, "central": 1e-3, "complex": 1e-6}[method]
    assert rel_err(g, 3 * x.astype(np.float64) ** 2) < tol
    J = jacobian(lambda v: v**2, x, method=method)
    assert J.dtype == np.float32
    H = hessian(f, x, method=method)
    assert H.dtype == np.float32
    assert rel_err(H, np.diag(6 * x.astype(np.float64))) < 10 * tol


def test_integer_x_becomes_float64() -> None:
    g = gradient(lambda v: np.sum(v**2), np.array([1, 2, 3]), method="complex")
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [2.0, 4.0, 6.0])


@pytest.mark.parametrize(("method", "power"), [("forward", 1 / 2), ("central", 1 / 3)])
@pytest.mark.parametrize("magnitude", [0.5, 1e3])
def test_default_step_is_the_documented_one(method: str, power: float, magnitude: float) -> None:
    # every |x_k| equal, so the documented default eps^p * max(1, |x_k|) is one number
    x = magnitude * np.array([1.0, -1.0, 1.0])

    def f(v):
        return np.sum(np.exp(np.sin(v / magnitude)))

    step = EPS**power * max(1.0, magnitude)
    np.testing.assert_array_equal(gradient(f, x, method=method), gradient(f, x, method=method, h=step))


def test_default_central_step_beats_much_smaller_and_larger_steps() -> None:
    x = np.array([1.0])

    def f(v):
        return np.exp(v[0]) * np.sin(3 * v[0])

    exact = np.exp(1.0) * (np.sin(3.0) + 3 * np.cos(3.0))
    err = {h: abs(gradient(f, x, h=h)[0] - exact) for h in (1e-12, 1e-2)}
    err_default = abs(gradient(f, x)[0] - exact)
    assert err_default < err[1e-12] / 10
    assert err_default < err[1e-2] / 10


def test_complex_step_is_exact_at_tiny_steps() -> None:
    x = np.array([0.7])
    exact = np.cos(0.7) * np.exp(np.sin(0.7))
    for h in (1e-8, 1e-20, 1e-100):
        g = gradient(lambda v: np.exp(np.sin(v[0])), x, method="complex", h=h)
        assert abs(g[0] - exact) <= 2 * EPS * abs(exact)


def test_stationary_point_with_complex_step_gives_zero() -> None:
    # the complex step gives exactly 0 here; that is a true zero gradient, not an error
    np.testing.assert_array_equal(gradient(lambda v: v @ v, np.zeros(3), method="complex"), np.zeros(3))
    np.testing.assert_allclose(
        hessian(lambda v: v @ v, np.zeros(3), method="complex"), 2 * np.eye(3), rtol=0, atol=1e-12
    )


def test_x_is_not_modified(rng: np.random.Generator) -> None:
    x = rng.normal(size=(2, 2))
    before = x.copy()

    def f(v):
        out = np.sum(v**2)
        v[...] = 0.0  # a careless f that overwrites its input must not reach x
        return out

    gradient(f, x)
    hessian(f, x, method="complex")
    np.testing.assert_array_equal(x, before)


# ----------------------------------------------------------------------------------------
# Hessian-vector products
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "tol"), [("central", 1e-8), ("complex", 1e-13)])
@pytest.mark.parametrize("case", SCALAR_CASES, ids=lambda c: c.name)
def test_hvp_matches_hessian_times_v(case: Case, method: str, tol: float, rng: np.random.Generator) -> None:
    x = _point(case, rng)
    v = rng.normal(size=case.shape)
    n = v.size
    Hv = (_sympy_hessian(case, x).reshape(n, n) @ v.reshape(-1)).reshape(case.shape)
    out = hvp(_sympy_gradient_fn(case), x, v, method=method)
    assert out.shape == case.shape
    assert rel_err(out, Hv) < tol


def test_hvp_costs_two_gradients_central_and_one_complex(rng: np.random.Generator) -> None:
    calls = []
    A = rng.normal(size=(5, 5))

    def grad_f(v):
        calls.append(1)
        return A @ v

    x, v = rng.normal(size=5), rng.normal(size=5)
    np.testing.assert_allclose(hvp(grad_f, x, v), A @ v, rtol=1e-9, atol=1e-9)
    assert len(calls) == 2
    calls.clear()
    np.testing.assert_allclose(hvp(grad_f, x, v, method="complex"), A @ v, rtol=1e-14, atol=1e-14)
    assert len(calls) == 1


def test_hvp_with_explicit_step_and_zero_direction(rng: np.random.Generator) -> None:
    case = _rosenbrock()
    x = _point(case, rng)
    v = rng.normal(size=4)
    exact = _sympy_hessian(case, x) @ v
    # the truncation error of a central difference is O(t^2): t = 1e-2 is visibly worse than the default
    coarse = rel_err(hvp(_sympy_gradient_fn(case), x, v, h=1e-2), exact)
    fine = rel_err(hvp(_sympy_gradient_fn(case), x, v), exact)
    assert fine < coarse / 100
    np.testing.assert_array_equal(hvp(_sympy_gradient_fn(case), x, np.zeros(4)), np.zeros(4))


def test_hessian_from_hvp_is_symmetric_and_equals_sympy(rng: np.random.Generator) -> None:
    case = _rosenbrock()
    x = _point(case, rng)
    grad_f = _sympy_gradient_fn(case)
    H = hessian_from_hvp(lambda v: hvp(grad_f, x, v), 4)
    np.testing.assert_array_equal(H, H.T)
    assert rel_err(H, _sympy_hessian(case, x)) < 1e-8


def test_hessian_from_hvp_symmetrizes(rng: np.random.Generator) -> None:
    B = rng.normal(size=(6, 6))
    np.testing.assert_allclose(hessian_from_hvp(lambda v: B @ v, 6), (B + B.T) / 2, rtol=1e-15, atol=1e-15)


# ----------------------------------------------------------------------------------------
# eigenvalues from products
# ----------------------------------------------------------------------------------------


@pytest.fixture
def sym50(rng: np.random.Generator) -> np.ndarray:
    G = rng.normal(size=(50, 50))
    return (G + G.T) / 2


@pytest.mark.parametrize("which", ["LM", "LA", "SA"])
@pytest.mark.parametrize("k", [1, 3])
def test_top_eigenvalues_match_eigvalsh(sym50: np.ndarray, which: str, k: int) -> None:
    w = np.linalg.eigvalsh(sym50)
    expected = {"LM": w[np.argsort(-np.abs(w))], "LA": w[::-1], "SA": w}[which][:k]
    vals, vecs = top_eigenvalues(lambda v: sym50 @ v, 50, k=k, which=which)
    assert vals.shape == (k,)
    assert vecs.shape == (50, k)
    np.testing.assert_allclose(vals, expected, rtol=1e-10, atol=0)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(sym50 @ vecs, vecs * vals, rtol=0, atol=1e-6 * np.max(np.abs(w)))


def test_top_eigenvalues_needs_few_products_when_the_top_is_separated(rng: np.random.Generator) -> None:
    n = 200
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    spectrum = 0.8 ** np.arange(n)
    A = (Q * spectrum) @ Q.T
    calls = []

    def product(v):
        calls.append(1)
        return A @ v

    vals, vecs = top_eigenvalues(product, n, k=2)
    np.testing.assert_allclose(vals, spectrum[:2], rtol=1e-9)
    np.testing.assert_allclose(np.abs(vecs[:, 0] @ Q[:, 0]), 1.0, rtol=1e-8)
    assert len(calls) < n // 4


def test_top_eigenvalues_with_repeated_eigenvalues() -> None:
    vals, vecs = top_eigenvalues(lambda v: 2.0 * v, 10, k=3)
    np.testing.assert_allclose(vals, [2.0, 2.0, 2.0], rtol=1e-14)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(3), atol=1e-12)


def test_top_eigenvalues_of_a_numeric_hessian(rng: np.random.Generator) -> None:
    case = _logistic()
    x = _point(case, rng)
    vals, _ = top_eigenvalues(lambda v: hvp(_sympy_gradient_fn(case), x, v), 3, k=3, which="LA")
    np.testing.assert_allclose(vals, np.linalg.eigvalsh(_sympy_hessian(case, x))[::-1], rtol=1e-7, atol=1e-9)


def test_top_eigenvalues_warns_when_iters_is_too_small(sym50: np.ndarray) -> None:
    with pytest.warns(RuntimeWarning, match="did not converge"):
        top_eigenvalues(lambda v: sym50 @ v, 50, k=2, iters=4)


def test_top_eigenvalues_is_reproducible_with_a_seed(sym50: np.ndarray) -> None:
    a = top_eigenvalues(lambda v: sym50 @ v, 50, k=2, iters=10, tol=1.0, seed=3)
    b = top_eigenvalues(lambda v: sym50 @ v, 50, k=2, iters=10, tol=1.0, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


# ----------------------------------------------------------------------------------------
# gradient check
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["central", "complex"])
def test_gradient_check_passes_a_correct_gradient(method: str, rng: np.random.Generator) -> None:
    case = _rosenbrock()
    x = _point(case, rng)
    check = gradient_check(case.f, _sympy_gradient_fn(case), x, method=method)
    assert isinstance(check, GradientCheck)
    assert check.max_rel_error < (1e-7 if method == "central" else 1e-13)


@pytest.mark.parametrize("flip", [(0, 1), (1, 2)])
def test_gradient_check_finds_a_flipped_sign(flip: tuple[int, int], rng: np.random.Generator) -> None:
    case = _tanh_loss()
    x = _point(case, rng)
    exact = _sympy_gradient_fn(case)
    sign = np.ones(case.shape)
    sign[flip] = -1.0

    def wrong(v):
        return exact(v) * sign

    check = gradient_check(case.f, wrong, x)
    assert check.index == flip
    np.testing.assert_allclose(check.max_rel_error, 2.0, rtol=1e-6)
    np.testing.assert_allclose(check.analytic, -exact(x)[flip], rtol=1e-12)
    np.testing.assert_allclose(check.numeric, exact(x)[flip], rtol=1e-7)


def test_gradient_check_floor_treats_zero_gradients_absolutely() -> None:
    # the exact gradient cos(pi/2) is 0 in coordinate 0: np.cos gives 6e-17, the difference 0,
    # and noise against noise is a relative error of 1 unless a floor measures it absolutely
    x = np.array([np.pi / 2, 0.5])
    check = gradient_check(lambda v: np.sum(np.sin(v)), np.cos, x)
    assert check.index == (0,)
    assert check.max_rel_error > 0.5
    assert gradient_check(lambda v: np.sum(np.sin(v)), np.cos, x, floor=1e-8).max_rel_error < 1e-8


def test_gradient_check_refuses_an_empty_point() -> None:
    with pytest.raises(ValueError, match=r"x must hold at least one coordinate to check; got an empty array"):
        gradient_check(lambda v: np.sum(v), np.ones_like, np.empty(0))


def test_gradient_check_scalar_x() -> None:
    check = gradient_check(lambda v: np.sin(v), np.cos, np.array(0.3), method="complex")
    assert check.index == ()
    assert check.max_rel_error < 1e-15


# ----------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------


def test_gradient_refuses_vector_output_and_names_jacobian() -> None:
    with pytest.raises(ValueError, match=r"f\(x\) has shape \(3,\).*use jacobian"):
        gradient(lambda v: v**2, np.ones(3))
    with pytest.raises(ValueError, match=r"hessian needs f to return a real scalar.*jacobian.*\.item\(\)"):
        hessian(lambda v: np.array([v @ v]), np.ones(3))


def test_non_finite_x_is_refused() -> None:
    with pytest.raises(ValueError, match=r"x must hold only finite values.*index \(1,\)"):
        gradient(lambda v: v @ v, np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"x must hold only finite values"):
        hvp(lambda v: v, np.array([np.inf]), np.array([1.0]))


def _positive_part_sum(v):
    return np.sum(v) if v[0] > 0 else np.nan


def test_non_finite_f_says_where() -> None:
    with pytest.raises(ValueError, match=r"f\(x\) must hold only finite values"):
        gradient(_positive_part_sum, np.array([-1.0, 1.0]))
    with pytest.raises(ValueError, match=r"f\(x - 6\.06e-06·e_0\) must hold only finite.*smaller h"):
        gradient(_positive_part_sum, np.array([1e-7, 1.0]))
    with pytest.raises(ValueError, match=r"f\(x\) must hold only finite values.*index \(1,\)"):
        jacobian(lambda v: np.where(v > 0, v, np.inf), np.array([1.0, -1.0]))


def test_grad_f_errors() -> None:
    with pytest.raises(ValueError, match=r"grad_f\(x\) must have the shape of x, \(3,\); got shape \(2,\)"):
        gradient_check(lambda v: v @ v, lambda v: v[:2], np.ones(3))
    with pytest.raises(ValueError, match=r"grad_f\(x \+ .*·v\) must have the shape of x"):
        hvp(lambda v: v[:2], np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"v must have the shape of x, \(3,\); got shape \(2,\)"):
        hvp(lambda v: v, np.ones(3), np.ones(2))


def test_wrong_method_and_step() -> None:
    with pytest.raises(ValueError, match=r"method must be one of 'forward', 'central', 'complex'; got 'centre'"):
        jacobian(lambda v: v, np.ones(2), method="centre")
    with pytest.raises(ValueError, match=r"method must be one of 'central', 'complex'; got 'forward'"):
        hvp(lambda v: v, np.ones(2), np.ones(2), method="forward")
    with pytest.raises(ValueError, match=r"h must be > 0; got 0"):
        gradient(lambda v: v @ v, np.ones(2), h=0)
    with pytest.raises(ValueError, match=r"h must be > 0; got -0.1"):
        hessian(lambda v: v @ v, np.ones(2), h=-0.1)
    with pytest.raises(TypeError, match=r"h must be a real number"):
        gradient(lambda v: v @ v, np.ones(2), h=np.ones(2))
    with pytest.raises(ValueError, match=r"h = 1e-20 is too small to change x\[0\] = 1.0 in float64"):
        gradient(lambda v: v @ v, np.ones(2), h=1e-20)
    with pytest.raises(ValueError, match=r"too small to change x = 1.0 in float64"):
        gradient(lambda v: v**2, np.array(1.0), h=1e-20)
    with pytest.raises(ValueError, match=r"too small to change x\[0, 1\] = 1.0 in float32"):
        gradient(lambda v: np.sum(v**2), np.array([[1e-3, 1.0]], dtype=np.float32), h=1e-9)
    with pytest.raises(TypeError, match=r"f must be a callable"):
        gradient(3.0, np.ones(2))
    with pytest.raises(TypeError, match=r"method must be one of 'forward', 'central', 'complex'; got NoneType"):
        gradient(lambda v: v @ v, np.ones(2), method=None)


def test_f_returning_complex_for_real_x_is_refused() -> None:
    with pytest.raises(TypeError, match=r"f\(x\) must hold real numbers.*complex128"):
        gradient(lambda v: np.sum(v) + 1j, np.ones(2))


@pytest.mark.parametrize(
    "f",
    [
        lambda v: np.abs(v).sum(),
        lambda v: float(v @ v),
        lambda v: np.sum(np.real(v) ** 2),
        lambda v: np.sum(v.astype(np.float64) ** 2),
    ],
    ids=["abs", "float()", "np.real", "astype(float)"],
)
@pytest.mark.parametrize("tool", [gradient, hessian, jacobian])
def test_complex_step_refuses_functions_that_drop_the_imaginary_part(f, tool) -> None:
    x = np.array([1.0, -2.0, 3.0])
    with pytest.raises(ValueError, match=r"discards the imaginary part.*method='central'"):
        tool(f, x, method="complex")
    # also when the caller silences warnings: the ComplexWarning is caught deliberately
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"discards the imaginary part"):
            tool(f, x, method="complex")


@pytest.mark.parametrize("tool", [gradient, hessian, jacobian])
def test_complex_step_refuses_functions_that_refuse_complex_input(tool) -> None:
    x = np.array([1.0, -2.0, 3.0])
    with pytest.raises(ValueError, match=r"f failed on the complex input .*logaddexp.*accepts complex input"):
        tool(lambda v: np.sum(np.logaddexp(v, 0.0)), x, method="complex")

    def strict(v):
        if np.iscomplexobj(v):
            raise TypeError("v must hold real numbers")
        return np.sum(v**2)

    with pytest.raises(ValueError, match=r"TypeError: v must hold real numbers.*method='central'"):
        tool(strict, x, method="complex")


def test_complex_step_detects_a_zero_imaginary_part_in_complex_output() -> None:
    # returns complex values, but their imaginary part is always 0: the complex step is blind
    def f(v):
        return np.sum(np.abs(v)) + 0 * np.sum(v)

    with pytest.raises(ValueError, match=r"gradient exactly 0 for every coordinate.*discards the imaginary"):
        gradient(f, np.array([1.0, -2.0]), method="complex")
    with pytest.raises(ValueError, match=r"Jacobian exactly 0 for every coordinate"):
        jacobian(lambda v: np.abs(v) + 0 * v, np.array([1.0, -2.0]), method="complex")


def test_hvp_complex_refuses_unsafe_gradients() -> None:
    x = np.array([1.0, -2.0])
    with pytest.raises(ValueError, match=r"grad_f returned a real value.*discards the imaginary"):
        hvp(lambda v: np.abs(v), x, x, method="complex")
    with pytest.raises(ValueError, match=r"grad_f failed on the complex input.*accepts complex input"):
        hvp(lambda v: np.logaddexp(v, 0.0), x, x, method="complex")
    with pytest.raises(ValueError, match=r"grad_f cast a complex value to real"):
        hvp(lambda v: v.astype(np.float64), x, x, method="complex")
    with pytest.raises(ValueError, match=r"Hv exactly 0, but the gradient changes along v"):
        hvp(lambda v: np.sign(v.real) * v.real**2 + 0 * v, x, x, method="complex")


def test_top_eigenvalues_seed() -> None:
    A = np.diag([1.0, -5.0, 3.0, 2.0, 0.5, 4.0])
    rng = np.random.default_rng(3)
    with pytest.warns(RuntimeWarning, match="did not converge"):  # two products: the result shows the start
        by_int = top_eigenvalues(lambda v: A @ v, 6, k=2, iters=2, seed=3)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        by_generator = top_eigenvalues(lambda v: A @ v, 6, k=2, iters=2, seed=rng)
    np.testing.assert_array_equal(by_int[1], by_generator[1])
    assert not np.array_equal(rng.standard_normal(6), np.random.default_rng(3).standard_normal(6))  # advanced
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0; got -1"):
        top_eigenvalues(lambda v: v, 4, seed=-1)
    with pytest.raises(TypeError, match=r"seed must be None, an integer >= 0 or a numpy.random.Generator; got float"):
        top_eigenvalues(lambda v: v, 4, seed=2.5)


def test_eigen_and_assembly_errors(sym50: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"k must be an integer >= 1 and <= 50; got 51"):
        top_eigenvalues(lambda v: v, 50, k=51)
    with pytest.raises(ValueError, match=r"which must be one of 'LM', 'LA', 'SA'; got 'BE'"):
        top_eigenvalues(lambda v: v, 50, which="BE")
    with pytest.raises(TypeError, match=r"n must be an integer >= 1; got float 5.0"):
        hessian_from_hvp(lambda v: v, 5.0)
    with pytest.raises(ValueError, match=r"n must be at most \d+, the largest size numpy can index"):
        hessian_from_hvp(lambda v: v, 10**30)
    with pytest.raises(ValueError, match=r"hvp_fn\(e_0\) must return a 1-D array of shape \(4,\); got shape \(2, 2\)"):
        hessian_from_hvp(lambda v: v.reshape(2, 2), 4)
    with pytest.raises(ValueError, match=r"hvp_fn\(q_0\) must hold only finite values"):
        top_eigenvalues(lambda v: v * np.nan, 4)
    with pytest.raises(ValueError, match=r"iters must be an integer >= 2; got 1"):
        top_eigenvalues(lambda v: sym50 @ v, 50, k=2, iters=1)
