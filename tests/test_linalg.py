"""Tests of mlmath.linalg: the affine map, its derivatives, its FLOP count, vec/unvec.

References are plain numpy expressions, loops over samples, and central finite differences
(mlmath.calculus, itself checked against sympy), never values taken from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlmath.calculus import gradient, jacobian
from mlmath.linalg import (
    AffineFlops,
    AffineJacobians,
    affine,
    affine_backward,
    affine_flops,
    affine_jacobians,
    unvec,
    vec,
)

SHAPES = [(1, 1), (3, 2), (2, 3), (5, 7), (20, 64)]  # (n_in, n_out)
BATCHES = [1, 4, 9]
H = 1e-6  # step of the central differences


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


def random_layer(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)


# ---------------------------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_in", "n_out"), SHAPES)
def test_affine_single_matches_numpy(rng, n_in, n_out):
    W, b = random_layer(rng, n_in, n_out)
    x = rng.standard_normal(n_in)
    z = affine(x, W, b)
    assert z.shape == (n_out,)
    expected = np.array([sum(W[i, k] * x[k] for k in range(n_in)) + b[i] for i in range(n_out)])
    np.testing.assert_allclose(z, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("n_in", "n_out"), SHAPES)
@pytest.mark.parametrize("batch", BATCHES)
def test_affine_batched_equals_rowwise(rng, n_in, n_out, batch):
    W, b = random_layer(rng, n_in, n_out)
    X = rng.standard_normal((batch, n_in))
    Z = affine(X, W, b)
    assert Z.shape == (batch, n_out)
    for i in range(batch):
        np.testing.assert_allclose(Z[i], affine(X[i], W, b), rtol=1e-12, atol=1e-12)
    ones = np.ones((batch, 1))
    np.testing.assert_allclose(Z, X @ W.T + ones @ b[np.newaxis, :], rtol=1e-12, atol=1e-12)


def test_affine_accepts_lists_and_ints():
    z = affine([1, 2], [[1, 0], [0, 1], [1, 1]], [0, 0, 1])
    assert z.dtype == np.float64
    np.testing.assert_array_equal(z, [1.0, 2.0, 4.0])


@pytest.mark.parametrize("batched", [False, True])
def test_affine_float32_stays_float32(rng, batched):
    W, b = (a.astype(np.float32) for a in random_layer(rng, 4, 3))
    x = rng.standard_normal((5, 4) if batched else 4).astype(np.float32)
    z = affine(x, W, b)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z, affine(x.astype(np.float64), W, b.astype(np.float64)), rtol=1e-5, atol=1e-5)


def test_affine_mixed_dtypes_promote(rng):
    W, b = random_layer(rng, 4, 3)
    x = rng.standard_normal(4).astype(np.float32)
    assert affine(x, W, b).dtype == np.result_type(np.float32, np.float64)


def test_affine_does_not_modify_inputs(rng):
    W, b = random_layer(rng, 4, 3)
    X = rng.standard_normal((2, 4))
    copies = [a.copy() for a in (X, W, b)]
    affine(X, W, b)
    affine_backward(np.ones((2, 3)), X, W)
    for a, c in zip((X, W, b), copies, strict=True):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------------------------------------
# forward: errors
# ---------------------------------------------------------------------------------------------


def test_affine_refuses_mismatched_features():
    W, b = np.zeros((2, 4)), np.zeros(2)
    with pytest.raises(
        ValueError, match=r"x has 3 features, but W expects 4 \(W has shape \(2, 4\) = \(n_out, n_in\)\)"
    ):
        affine(np.zeros(3), W, b)
    with pytest.raises(ValueError, match=r"x has 3 features, but W expects 4"):
        affine(np.zeros((5, 3)), W, b)


def test_affine_hints_at_transposed_batch():
    with pytest.raises(ValueError, match=r"one sample per column: pass x\.T"):
        affine(np.zeros((4, 5)), np.zeros((2, 4)), np.zeros(2))


@pytest.mark.parametrize("b_shape", [(3,), (1, 2), (2, 1), ()])
def test_affine_refuses_bias_of_wrong_shape(b_shape):
    with pytest.raises(ValueError, match=r"b must have shape \(n_out,\) = \(2,\) .* got shape"):
        affine(np.zeros((5, 4)), np.zeros((2, 4)), np.zeros(b_shape))


def test_affine_refuses_3d_input():
    with pytest.raises(ValueError, match=r"got a 3-D array of shape \(2, 5, 4\)"):
        affine(np.zeros((2, 5, 4)), np.zeros((2, 4)), np.zeros(2))


def test_affine_refuses_1d_weights():
    with pytest.raises(ValueError, match=r"W must be a 2-D array of shape \(n_out, n_in\)"):
        affine(np.zeros(4), np.zeros(4), np.zeros(1))


@pytest.mark.parametrize("where", ["x", "W", "b"])
def test_affine_refuses_nan(where):
    args = {"x": np.ones((2, 4)), "W": np.ones((3, 4)), "b": np.ones(3)}
    args[where].flat[1] = np.nan
    with pytest.raises(ValueError, match=rf"{where} must hold only finite values"):
        affine(args["x"], args["W"], args["b"])


def test_affine_refuses_complex():
    with pytest.raises(TypeError, match="x must hold real numbers"):
        affine(np.zeros(2, dtype=complex), np.zeros((1, 2)), np.zeros(1))


# ---------------------------------------------------------------------------------------------
# backward
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_in", "n_out"), SHAPES[:4])
@pytest.mark.parametrize("batch", [None, 1, 4])
def test_affine_backward_matches_finite_differences(rng, n_in, n_out, batch):
    """L = sum(G * Z) has dL/dZ = G; compare the three gradients with central differences."""
    W, b = random_layer(rng, n_in, n_out)
    X = rng.standard_normal(n_in if batch is None else (batch, n_in))
    G = rng.standard_normal(n_out if batch is None else (batch, n_out))

    def loss(X_, W_, b_):
        return float(np.sum(G * affine(X_, W_, b_)))

    dX, dW, db = affine_backward(G, X, W)
    assert dX.shape == X.shape
    assert dW.shape == W.shape
    assert db.shape == b.shape
    tol = {"rtol": 1e-6, "atol": 1e-7}
    np.testing.assert_allclose(dX, gradient(lambda p: loss(p, W, b), X, h=H), **tol)
    np.testing.assert_allclose(dW, gradient(lambda p: loss(X, p, b), W, h=H), **tol)
    np.testing.assert_allclose(db, gradient(lambda p: loss(X, W, p), b, h=H), **tol)


@pytest.mark.parametrize(("n_in", "n_out"), SHAPES)
def test_affine_backward_dW_is_sum_of_outer_products(rng, n_in, n_out):
    batch = 6
    W, _ = random_layer(rng, n_in, n_out)
    X = rng.standard_normal((batch, n_in))
    dZ = rng.standard_normal((batch, n_out))
    _, dW, db = affine_backward(dZ, X, W)
    np.testing.assert_allclose(dW, sum(np.outer(dZ[i], X[i]) for i in range(batch)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, sum(dZ[i] for i in range(batch)), rtol=1e-12, atol=1e-12)


def test_affine_backward_single_equals_batch_of_one(rng):
    W, _ = random_layer(rng, 5, 3)
    x, delta = rng.standard_normal(5), rng.standard_normal(3)
    single = affine_backward(delta, x, W)
    batched = affine_backward(delta[np.newaxis], x[np.newaxis], W)
    np.testing.assert_allclose(single[0], batched[0][0], rtol=1e-12)
    np.testing.assert_allclose(single[1], batched[1], rtol=1e-12)
    np.testing.assert_allclose(single[2], batched[2], rtol=1e-12)


def test_affine_backward_mean_loss_scale(rng):
    """With L = mean over the batch, dZ carries 1/batch; affine_backward adds no extra factor."""
    batch, n_in, n_out = 8, 3, 2
    W, b = random_layer(rng, n_in, n_out)
    X = rng.standard_normal((batch, n_in))
    G = rng.standard_normal((batch, n_out))
    _, dW, _ = affine_backward(G / batch, X, W)
    numeric = gradient(lambda p: float(np.mean(np.sum(G * affine(X, p, b), axis=1))), W, h=H)
    np.testing.assert_allclose(dW, numeric, rtol=1e-6, atol=1e-8)


def test_affine_backward_float32_stays_float32(rng):
    W = rng.standard_normal((3, 4)).astype(np.float32)
    X = rng.standard_normal((5, 4)).astype(np.float32)
    dZ = rng.standard_normal((5, 3)).astype(np.float32)
    assert all(g.dtype == np.float32 for g in affine_backward(dZ, X, W))
    assert all(g.dtype == np.float32 for g in affine_backward(dZ[0], X[0], W))


@pytest.mark.parametrize(
    ("dZ_shape", "X_shape", "match"),
    [
        ((3, 2), (2, 4), r"dZ must have shape \(batch, n_out\) = \(2, 2\)"),
        ((2, 3), (2, 4), r"dZ must have shape \(batch, n_out\) = \(2, 2\)"),
        ((2,), (2, 4), r"dZ must have shape \(batch, n_out\) = \(2, 2\)"),
        ((1, 2), (4,), r"dZ must have shape \(n_out,\) = \(2,\)"),
        ((2, 2), (2, 3), r"X has 3 features, but W expects 4"),
    ],
)
def test_affine_backward_refuses_mismatched_shapes(dZ_shape, X_shape, match):
    with pytest.raises(ValueError, match=match):
        affine_backward(np.zeros(dZ_shape), np.zeros(X_shape), np.zeros((2, 4)))


def test_affine_backward_refuses_nan():
    dZ = np.zeros((2, 2))
    dZ[1, 0] = np.inf
    with pytest.raises(ValueError, match="dZ must hold only finite values"):
        affine_backward(dZ, np.zeros((2, 4)), np.zeros((2, 4)))


# ---------------------------------------------------------------------------------------------
# Jacobians and vec
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_in", "n_out"), SHAPES[:4])
def test_affine_jacobians_match_finite_differences(rng, n_in, n_out):
    W, b = random_layer(rng, n_in, n_out)
    x = rng.standard_normal(n_in)
    J = affine_jacobians(x, W)
    assert isinstance(J, AffineJacobians)
    assert J.dz_dx.shape == (n_out, n_in)
    assert J.dz_db.shape == (n_out, n_out)
    assert J.dz_dvecW.shape == (n_out, n_out * n_in)
    tol = {"rtol": 1e-7, "atol": 1e-8}
    np.testing.assert_allclose(J.dz_dx, jacobian(lambda p: affine(p, W, b), x, h=H), **tol)
    np.testing.assert_allclose(J.dz_db, jacobian(lambda p: affine(x, W, p), b, h=H), **tol)
    np.testing.assert_allclose(J.dz_dvecW, jacobian(lambda p: affine(x, unvec(p, W.shape), b), vec(W), h=H), **tol)


def test_affine_jacobians_index_form(rng):
    """dz_i/dW_jk = delta_ij x_k, with W_jk at position k*n_out + j of vec(W)."""
    n_in, n_out = 3, 2
    W, _ = random_layer(rng, n_in, n_out)
    x = rng.standard_normal(n_in)
    J = affine_jacobians(x, W).dz_dvecW
    for i in range(n_out):
        for j in range(n_out):
            for k in range(n_in):
                assert J[i, k * n_out + j] == (x[k] if i == j else 0.0)


def test_affine_jacobians_vjp_is_backward(rng):
    """delta^T (x^T kron I) = vec(delta x^T): the Jacobian and affine_backward agree."""
    W, _ = random_layer(rng, 4, 3)
    x, delta = rng.standard_normal(4), rng.standard_normal(3)
    J = affine_jacobians(x, W)
    dx, dW, db = affine_backward(delta, x, W)
    np.testing.assert_allclose(delta @ J.dz_dx, dx, rtol=1e-12)
    np.testing.assert_allclose(delta @ J.dz_db, db, rtol=1e-12)
    np.testing.assert_allclose(delta @ J.dz_dvecW, vec(dW), rtol=1e-12)


def test_affine_jacobians_float32(rng):
    W = rng.standard_normal((2, 3)).astype(np.float32)
    x = rng.standard_normal(3).astype(np.float32)
    assert all(j.dtype == np.float32 for j in affine_jacobians(x, W))


def test_affine_jacobians_refuses_batch():
    with pytest.raises(ValueError, match="use affine_backward"):
        affine_jacobians(np.zeros((5, 4)), np.zeros((2, 4)))


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (4, 2), (5, 5)])
def test_vec_unvec_round_trip(rng, shape):
    A = rng.standard_normal(shape)
    v = vec(A)
    assert v.shape == (A.size,)
    np.testing.assert_array_equal(v, A.T.ravel())  # columns, one after another
    np.testing.assert_array_equal(unvec(v, shape), A)
    np.testing.assert_array_equal(vec(unvec(v, shape)), v)


@pytest.mark.parametrize(("m", "n", "p", "q"), [(2, 3, 4, 5), (1, 2, 2, 1), (3, 3, 3, 3)])
def test_vec_kronecker_identity(rng, m, n, p, q):
    """vec(A X B) = (B^T kron A) vec(X) for A (m, n), X (n, p), B (p, q)."""
    A = rng.standard_normal((m, n))
    X = rng.standard_normal((n, p))
    B = rng.standard_normal((p, q))
    np.testing.assert_allclose(vec(A @ X @ B), np.kron(B.T, A) @ vec(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "error", "match"),
    [
        ((2,), ValueError, r"shape must hold 2 sizes; got \(2,\)"),
        ((1, 2, 3), ValueError, r"shape must hold 2 sizes; got \(1, 2, 3\)"),
        ((2.0, 3.0), TypeError, r"shape must hold integer sizes"),
        ((-2, -3), ValueError, r"shape must hold sizes >= 0; got \(-2, -3\)"),
        ((10**30, 1), ValueError, r"shape must hold sizes <= \d+, the largest numpy can index"),
        (None, TypeError, r"shape must be a shape \(a tuple of ints\); got NoneType"),
    ],
)
def test_unvec_refuses_a_bad_shape(shape, error, match):
    with pytest.raises(error, match=match):
        unvec(np.arange(6.0), shape)


def test_unvec_refuses_wrong_length():
    with pytest.raises(ValueError, match=r"v must have 2 \* 3 = 6 entries"):
        unvec(np.zeros(5), (2, 3))


def test_vec_refuses_1d():
    with pytest.raises(ValueError, match="A must be a 2-D array"):
        vec(np.zeros(3))


# ---------------------------------------------------------------------------------------------
# FLOPs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_in", "n_out", "batch"), [(1, 1, 1), (3, 2, 1), (20, 64, 32), (784, 256, 128)])
def test_affine_flops_counts(n_in, n_out, batch):
    flops = affine_flops(n_in, n_out, batch=batch)
    assert isinstance(flops, AffineFlops)
    # forward: batch*n_out dot products of length n_in (2 FLOPs per term), then the bias
    dot = 2 * n_in
    assert flops.forward == batch * n_out * dot + batch * n_out
    # backward: dX (batch*n_in dots of length n_out), dW (n_out*n_in dots of length batch), db
    assert flops.backward == batch * n_in * (2 * n_out) + n_out * n_in * (2 * batch) + batch * n_out
    assert flops.total == flops.forward + flops.backward


def test_affine_flops_backward_about_twice_forward():
    flops = affine_flops(512, 512, batch=64)
    assert 1.99 < flops.backward / flops.forward < 2.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_in": 0, "n_out": 3}, ValueError, "n_in must be an integer >= 1"),
        ({"n_in": 2, "n_out": -1}, ValueError, "n_out must be an integer >= 1"),
        ({"n_in": 2, "n_out": 3, "batch": 2.5}, TypeError, "batch must be an integer >= 1; got float"),
        ({"n_in": True, "n_out": 3}, TypeError, "n_in must be an integer >= 1; got bool"),
    ],
)
def test_affine_flops_refuses_bad_sizes(kwargs, error, match):
    with pytest.raises(error, match=match):
        affine_flops(**kwargs)


def test_affine_flops_accepts_numpy_ints():
    assert affine_flops(np.int64(3), np.int32(2)).forward == 2 * 3 * 2 + 2


def test_affine_jacobians_equal_numpy_kron(rng):
    W = rng.standard_normal((3, 4))
    x = rng.standard_normal(4)
    np.testing.assert_array_equal(affine_jacobians(x, W).dz_dvecW, np.kron(x[np.newaxis, :], np.eye(3)))
