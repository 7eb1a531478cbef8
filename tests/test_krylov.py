"""Tests of the conjugate gradient method on matrix-free operators (``mlmath.krylov``).

References are independent of the code under test: ``numpy.linalg.solve`` on the dense matrix,
residuals and quadratic values recomputed from the iterates, and CG's textbook error bound.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlmath.krylov import conjugate_gradient

SEED = 11


def spd(rng: np.random.Generator, n: int, low: float = 1.0, high: float = 10.0) -> np.ndarray:
    """A random symmetric positive definite matrix with eigenvalues spread over [low, high]."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * np.linspace(low, high, n)) @ Q.T


@pytest.mark.parametrize("n", [1, 2, 7, 20])
def test_exact_in_at_most_n_steps(n, rng):
    A, b = spd(rng, n), rng.standard_normal(n)
    result = conjugate_gradient(lambda v: A @ v, b)
    assert result.converged
    assert not result.negative_curvature
    assert result.iterations <= n
    np.testing.assert_allclose(result.x, np.linalg.solve(A, b), rtol=1e-9, atol=1e-12)
    assert result.residual_norms.shape == (result.iterations + 1,)
    assert result.residual_norms[-1] <= 1e-10 * np.linalg.norm(b)


def test_few_distinct_eigenvalues_take_as_many_steps(rng):
    # the Krylov space of a matrix with k distinct eigenvalues has dimension at most k
    Q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    A = (Q * np.repeat([1.0, 4.0, 9.0], 4)) @ Q.T
    result = conjugate_gradient(lambda v: A @ v, rng.standard_normal(12))
    assert result.converged
    assert result.iterations == 3


def test_residuals_are_orthogonal_and_match_the_iterates(rng):
    n = 15
    A, b = spd(rng, n), rng.standard_normal(n)
    result = conjugate_gradient(lambda v: A @ v, b, keep_iterates=True)
    assert result.iterates is not None
    assert len(result.iterates) == result.iterations + 1
    R = np.array([b - A @ x for x in result.iterates])  # recomputed, not CG's recurrence
    np.testing.assert_allclose(np.linalg.norm(R, axis=1), result.residual_norms, rtol=1e-8, atol=1e-12)
    U = R[:-1] / np.linalg.norm(R[:-1], axis=1, keepdims=True)
    gram = U @ U.T
    np.testing.assert_allclose(gram, np.eye(len(U)), atol=1e-7)


def test_quadratic_values_decrease_and_match_the_definition(rng):
    n = 10
    A, b = spd(rng, n), rng.standard_normal(n)
    result = conjugate_gradient(lambda v: A @ v, b, keep_iterates=True)
    assert result.iterates is not None
    q = np.array([0.5 * x @ A @ x - b @ x for x in result.iterates])
    np.testing.assert_allclose(result.quadratic, q, rtol=1e-10, atol=1e-12)
    assert np.all(np.diff(q) < 0)
    x_star = np.linalg.solve(A, b)
    np.testing.assert_allclose(q[-1], -0.5 * b @ x_star, rtol=1e-10)


def test_damping_solves_the_shifted_system(rng):
    n, lam = 9, 0.37
    A, b = spd(rng, n, 0.1, 5.0), rng.standard_normal(n)
    result = conjugate_gradient(lambda v: A @ v, b, damping=lam)
    np.testing.assert_allclose(result.x, np.linalg.solve(A + lam * np.eye(n), b), rtol=1e-9)


def test_damping_makes_a_singular_operator_solvable(rng):
    n = 8
    u = rng.standard_normal((n, 3))
    A = u @ u.T  # rank 3
    b = rng.standard_normal(n)
    result = conjugate_gradient(lambda v: A @ v, b, damping=1e-2)
    assert result.converged
    np.testing.assert_allclose(result.x, np.linalg.solve(A + 1e-2 * np.eye(n), b), rtol=1e-8)


def test_error_bound_from_the_condition_number(rng):
    n, kappa = 40, 100.0
    A, b = spd(rng, n, 1.0, kappa), rng.standard_normal(n)
    result = conjugate_gradient(lambda v: A @ v, b, keep_iterates=True, tol=0.0, max_iter=25)
    assert result.iterates is not None
    x_star = np.linalg.solve(A, b)
    errors = np.array([math.sqrt((x - x_star) @ A @ (x - x_star)) for x in result.iterates])
    rate = (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
    bound = 2 * rate ** np.arange(len(errors)) * errors[0]
    assert np.all(errors <= bound * (1 + 1e-9))


def test_relative_progress_rule_stops_where_martens_says(rng):
    # the rule, applied by hand to the quadratic values of a run without it (recomputed from the iterates)
    n, eps = 60, 2e-3
    A, b = spd(rng, n, 1.0, 1e4), rng.standard_normal(n)
    full = conjugate_gradient(lambda v: A @ v, b, tol=0.0, max_iter=n, keep_iterates=True)
    assert full.iterates is not None
    q = [0.5 * x @ A @ x - b @ x for x in full.iterates]
    expected = next(
        k for k in range(1, len(q)) if k > (s := max(10, math.ceil(k / 10))) and (q[k] - q[k - s]) / q[k] < s * eps
    )
    result = conjugate_gradient(lambda v: A @ v, b, tol=0.0, max_iter=n, progress_tol=eps)
    assert result.stalled
    assert not result.converged
    assert result.iterations == expected
    np.testing.assert_array_equal(result.x, full.iterates[expected])


def test_warm_start_at_the_solution_takes_no_step(rng):
    A, b = spd(rng, 6), rng.standard_normal(6)
    x_star = np.linalg.solve(A, b)
    result = conjugate_gradient(lambda v: A @ v, b, x0=x_star, tol=1e-8)
    assert result.converged
    assert result.iterations == 0
    np.testing.assert_array_equal(result.x, x_star)


def test_warm_start_converges_to_the_same_solution(rng):
    A, b = spd(rng, 12), rng.standard_normal(12)
    result = conjugate_gradient(lambda v: A @ v, b, x0=rng.standard_normal(12))
    assert result.converged
    np.testing.assert_allclose(result.x, np.linalg.solve(A, b), rtol=1e-9)


def test_truncation_stops_after_max_iter(rng):
    A, b = spd(rng, 30), rng.standard_normal(30)
    result = conjugate_gradient(lambda v: A @ v, b, max_iter=4)
    assert result.iterations == 4
    assert not result.converged


def test_negative_curvature_stops_and_says_so():
    A = np.diag([2.0, -1.0])
    calls = []

    def matvec(v):
        calls.append(v)
        return A @ v

    result = conjugate_gradient(matvec, np.array([0.0, 1.0]))
    # p0 = b = e2 has p^T A p = -1 <= 0: CG stops before moving
    assert result.negative_curvature
    assert not result.converged
    assert result.iterations == 0
    assert len(calls) == 1
    np.testing.assert_array_equal(result.x, [0.0, 0.0])
    # along e1 first, the curvature is positive: one step, then the residual is 0
    result = conjugate_gradient(matvec, np.array([1.0, 0.0]))
    assert result.converged
    assert not result.negative_curvature
    np.testing.assert_allclose(result.x, [0.5, 0.0])


def test_float32_stays_float32(rng):
    A, b = spd(rng, 10).astype(np.float32), rng.standard_normal(10).astype(np.float32)
    result = conjugate_gradient(lambda v: A @ v, b, tol=1e-5)
    assert result.x.dtype == np.float32
    np.testing.assert_allclose(result.x, np.linalg.solve(A.astype(float), b.astype(float)), rtol=1e-4, atol=1e-5)


def test_zero_right_hand_side_gives_zero():
    result = conjugate_gradient(lambda v: 3 * v, np.zeros(4))
    assert result.converged
    assert result.iterations == 0
    np.testing.assert_array_equal(result.x, np.zeros(4))


def test_matvec_gets_a_copy(rng):
    A, b = spd(rng, 5), rng.standard_normal(5)

    def clobbering(v):
        out = A @ v
        v[:] = np.nan  # writing into its argument must not reach CG's own vectors
        return out

    result = conjugate_gradient(clobbering, b)
    np.testing.assert_allclose(result.x, np.linalg.solve(A, b), rtol=1e-9)


@pytest.mark.parametrize(
    ("matvec", "error", "match"),
    [
        (lambda v: v[:-1], ValueError, "matvec must return a numpy array of shape"),
        (lambda v: list(v), ValueError, "matvec must return a numpy array"),
        (lambda v: v * np.nan, ValueError, "matvec returned NaN"),
        (lambda v: v * np.inf, ValueError, "matvec returned NaN"),
        (lambda v: v.astype(complex), TypeError, "matvec must return real numbers"),
    ],
    ids=["short", "list", "nan", "inf", "complex"],
)
def test_bad_operators_are_refused(matvec, error, match):
    with pytest.raises(error, match=match):
        conjugate_gradient(matvec, np.ones(3))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"damping": -1.0}, ValueError, "damping"),
        ({"tol": 1.0}, ValueError, "tol"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"x0": np.ones(2)}, ValueError, "x0"),
        ({"x0": np.ones((3, 1))}, ValueError, "x0"),
        ({"keep_iterates": 1}, TypeError, "keep_iterates"),
        ({"progress_tol": 0.0}, ValueError, "progress_tol"),
    ],
)
def test_bad_options_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        conjugate_gradient(lambda v: v, np.ones(3), **kwargs)


def test_bad_right_hand_sides_are_refused():
    for b, error in (([], ValueError), (np.ones((2, 2)), ValueError), ([np.nan, 1.0], ValueError), ("ab", TypeError)):
        with pytest.raises(error, match="b"):
            conjugate_gradient(lambda v: v, b)
    with pytest.raises(TypeError, match="matvec"):
        conjugate_gradient(None, np.ones(2))  # type: ignore[arg-type]
