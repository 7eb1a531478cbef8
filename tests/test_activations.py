"""Tests of mlmath.activations: values, derivatives, Jacobians and VJPs against finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlmath import activations as act
from mlmath.calculus import gradient, jacobian

H = 1e-6


SEED = 20240601  # the shared rng fixture (conftest.py) draws from this seed


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300))


def away_from_zero(z: np.ndarray) -> np.ndarray:
    """Move entries off relu's kink so a finite difference never straddles it."""
    return np.where(np.abs(z) < 0.1, z + 0.2 * np.sign(z + 1e-12), z)


SHAPES = [(5,), (4, 3), (2, 3, 4)]


# --- values ---------------------------------------------------------------------------------


def test_elementwise_values_match_definitions(rng):
    z = rng.normal(scale=3, size=(6, 4))
    np.testing.assert_array_equal(act.relu(z), np.where(z > 0, z, 0.0))
    expected_sigmoid = np.vectorize(lambda t: 1 / (1 + math.exp(-t)))(z)
    np.testing.assert_allclose(act.sigmoid(z), expected_sigmoid, rtol=1e-14, atol=0)
    expected_tanh = np.vectorize(math.tanh)(z)
    np.testing.assert_allclose(act.tanh(z), expected_tanh, rtol=1e-14, atol=0)


def test_softmax_matches_definition_and_sums_to_one(rng):
    z = rng.normal(size=(7, 5))
    e = np.exp(z)
    expected = e / e.sum(axis=1, keepdims=True)
    s = act.softmax(z)
    np.testing.assert_allclose(s, expected, rtol=1e-14, atol=0)
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(act.log_softmax(z), np.log(expected), rtol=1e-13, atol=1e-15)


def test_softmax_acts_along_last_axis(rng):
    z = rng.normal(size=(2, 3, 4))
    s = act.softmax(z)
    for i in range(2):
        for j in range(3):
            row = np.exp(z[i, j]) / np.exp(z[i, j]).sum()
            np.testing.assert_allclose(s[i, j], row, rtol=1e-14, atol=0)


def test_softmax_and_log_softmax_stable_at_large_logits():
    z = np.array([[1000.0, -1000.0, 0.0], [1000.0, 1000.0, 999.0], [-1000.0, -1000.0, -1000.0]])
    s = act.softmax(z)  # filterwarnings=error: an overflow warning would fail this test
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s[0], [1.0, 0.0, 0.0], rtol=0, atol=1e-300)
    # shifting all logits of a row by the same amount leaves softmax unchanged
    e = np.exp([1.0, 1.0, 0.0])
    np.testing.assert_allclose(s[1], e / e.sum(), rtol=1e-15)
    np.testing.assert_allclose(s[2], [1 / 3] * 3, rtol=1e-15)
    ls = act.log_softmax(z)
    assert np.all(np.isfinite(ls))
    # exact values: log_softmax = z - logsumexp(z); for row 0 logsumexp rounds to exactly 1000
    np.testing.assert_allclose(ls[0], [0.0, -2000.0, -1000.0], rtol=1e-15, atol=0)
    lse1 = 1000 + math.log(2 + math.exp(-1))
    np.testing.assert_allclose(ls[1], [1000 - lse1, 1000 - lse1, 999 - lse1], rtol=1e-12)
    np.testing.assert_allclose(ls[2], [-math.log(3)] * 3, rtol=1e-15)


def test_sigmoid_stable_at_large_inputs():
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    s = act.sigmoid(z)
    np.testing.assert_allclose(
        s, [0.0, math.exp(-50) / (1 + math.exp(-50)), 0.5, 1 / (1 + math.exp(-50)), 1.0], rtol=1e-15, atol=0
    )
    np.testing.assert_array_equal(act.sigmoid_derivative(z)[[0, -1]], [0.0, 0.0])


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "log_softmax"])
def test_float32_stays_float32(name, rng):
    z = rng.normal(size=(3, 4)).astype(np.float32)
    assert getattr(act, name)(z).dtype == np.float32
    assert act.get(name).forward(z).dtype == np.float32


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_float32_derivatives_stay_float32(name, rng):
    z = rng.normal(size=(3, 4)).astype(np.float32)
    assert getattr(act, f"{name}_derivative")(z).dtype == np.float32


# --- derivatives ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_elementwise_derivative_matches_central_differences(name, shape, rng):
    z = away_from_zero(rng.normal(scale=2, size=shape))
    f = getattr(act, name)
    numeric = gradient(lambda t: np.sum(f(t)), z, h=H)  # f acts entrywise
    analytic = getattr(act, f"{name}_derivative")(z)
    assert analytic.shape == z.shape
    assert rel_err(analytic, numeric) < 1e-6


def test_relu_derivative_is_zero_at_zero():
    np.testing.assert_array_equal(act.relu_derivative([0.0, -0.0]), [0.0, 0.0])


@pytest.mark.parametrize("n", [1, 2, 5])
def test_softmax_jacobian_matches_central_differences_single(n, rng):
    z = rng.normal(size=n)
    J = act.softmax_jacobian(z)
    assert J.shape == (n, n)
    assert rel_err(J, jacobian(act.softmax, z, h=H)) < 1e-6
    np.testing.assert_allclose(J, J.T, rtol=0, atol=1e-16)
    np.testing.assert_allclose(J.sum(axis=1), 0.0, rtol=0, atol=1e-15)


@pytest.mark.parametrize(("batch", "n"), [(1, 3), (4, 5)])
def test_softmax_jacobian_batched(batch, n, rng):
    Z = rng.normal(size=(batch, n))
    J = act.softmax_jacobian(Z)
    assert J.shape == (batch, n, n)
    for k in range(batch):
        assert rel_err(J[k], jacobian(act.softmax, Z[k], h=H)) < 1e-6
    np.testing.assert_allclose(act.softmax_jacobian_from_probs(act.softmax(Z)), J, rtol=1e-15, atol=0)


def test_softmax_jacobian_from_probs_formula():
    s = np.array([0.2, 0.3, 0.5])
    expected = [[0.2 - 0.04, -0.06, -0.1], [-0.06, 0.3 - 0.09, -0.15], [-0.1, -0.15, 0.5 - 0.25]]
    np.testing.assert_allclose(act.softmax_jacobian_from_probs(s), expected, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("shape", [(4,), (3, 5), (2, 3, 4)])
def test_softmax_vjp_equals_g_transpose_jacobian(shape, rng):
    z = rng.normal(size=shape)
    g = rng.normal(size=shape)
    s = act.softmax(z)
    # scalar function L(z) = g . softmax(z); its gradient is the VJP
    numeric = gradient(lambda t: np.sum(g * act.softmax(t)), z, h=H)
    assert rel_err(act.softmax_vjp(s, g), numeric) < 1e-6


@pytest.mark.parametrize("shape", [(4,), (3, 5)])
def test_log_softmax_vjp_matches_central_differences(shape, rng):
    z = rng.normal(size=shape)
    g = rng.normal(size=shape)
    numeric = gradient(lambda t: np.sum(g * act.log_softmax(t)), z, h=H)
    assert rel_err(act.log_softmax_vjp(act.log_softmax(z), g), numeric) < 1e-6


# --- the registry --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax"])
def test_registry_backward_is_the_vjp_of_forward(name, rng):
    spec = act.get(name)
    Z = away_from_zero(rng.normal(size=(3, 4)))
    G = rng.normal(size=(3, 4))
    A = spec.forward(Z)
    numeric = gradient(lambda t: np.sum(G * spec.forward(t)), Z, h=H)
    assert rel_err(spec.backward(Z, A, G), numeric) < 1e-6


def test_registry_lookup_is_case_insensitive_and_passes_records_through():
    assert act.get("ReLU").name == "relu"
    spec = act.get("tanh")
    assert act.get(spec) is spec


def test_registry_unknown_name():
    with pytest.raises(ValueError, match=r"activation must be one of .*'relu'.*; got 'swish'"):
        act.get("swish")


def test_registry_wrong_type():
    with pytest.raises(TypeError, match=r"activation must be one of .*; got int 3"):
        act.get(3)


# --- input errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "func",
    [
        act.relu,
        act.sigmoid,
        act.tanh,
        act.softmax,
        act.log_softmax,
        act.relu_derivative,
        act.sigmoid_derivative,
        act.tanh_derivative,
    ],
)
def test_non_finite_input_refused(func):
    with pytest.raises(ValueError, match=r"z must hold only finite values; got 1 NaN"):
        func(np.array([[0.0, np.nan]]))


def test_complex_input_refused():
    with pytest.raises(TypeError, match="z must hold real numbers"):
        act.softmax(np.array([1 + 1j, 2]))


def test_softmax_needs_an_axis():
    with pytest.raises(ValueError, match=r"z must have at least one axis"):
        act.softmax(3.0)


def test_jacobian_refuses_3d():
    with pytest.raises(ValueError, match=r"z must be a 1-D array of shape \(n,\) or a 2-D array"):
        act.softmax_jacobian(np.zeros((2, 2, 2)))


def test_vjp_shape_mismatch():
    with pytest.raises(ValueError, match=r"s and g must have the same shape"):
        act.softmax_vjp(np.full(3, 1 / 3), np.ones(4))
