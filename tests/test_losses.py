"""Tests of mlmath.losses: values from the formulas, gradients against central differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlmath import losses as L
from mlmath.activations import ActivationFunction
from mlmath.activations import get as get_activation
from mlmath.calculus import gradient

H = 1e-6


SEED = 7  # the shared rng fixture (conftest.py) draws from this seed


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300))


def one_hot(labels, n: int) -> np.ndarray:
    Y = np.zeros((len(labels), n))
    for row, label in enumerate(labels):
        Y[row, label] = 1.0
    return Y


def probs(rng, shape) -> np.ndarray:
    """Rows of probabilities away from 0 and 1 (no clipping), summing to one."""
    P = rng.uniform(0.2, 1.0, size=shape)
    return P / P.sum(axis=-1, keepdims=True)


SHAPES = [(5,), (4, 3), (1, 6)]


# --- mean squared error --------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_mse_value_and_gradient(shape, rng):
    Y = rng.normal(size=shape)
    P = rng.normal(size=shape)
    value, grad = L.mean_squared_error(Y, P)
    flat = [(p - y) ** 2 for p, y in zip(P.ravel().tolist(), Y.ravel().tolist(), strict=True)]
    assert value == pytest.approx(math.fsum(flat) / len(flat), rel=1e-14)
    assert grad.shape == P.shape
    assert rel_err(grad, gradient(lambda p: L.mean_squared_error(Y, p)[0], P, h=H)) < 1e-6


def test_mse_keras_reduction_mean_over_outputs_then_batch():
    Y = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    P = np.array([[1.0, 3.0], [2.0, 0.0], [0.0, 0.0]])
    per_row = [(1 + 9) / 2, 4 / 2, 0.0]
    value, grad = L.mean_squared_error(Y, P)
    assert value == pytest.approx(sum(per_row) / 3, rel=1e-15)
    np.testing.assert_allclose(grad, 2 * P / 6, rtol=1e-15)


# --- categorical cross-entropy -------------------------------------------------------------


@pytest.mark.parametrize(("m", "n"), [(1, 2), (4, 3), (6, 5)])
def test_cce_value_and_gradient(m, n, rng):
    Y = one_hot(rng.integers(n, size=m), n)
    P = probs(rng, (m, n))
    value, grad = L.categorical_crossentropy(Y, P)
    expected = -sum(math.log(P[k, int(np.argmax(Y[k]))]) for k in range(m)) / m
    assert value == pytest.approx(expected, rel=1e-14)
    assert rel_err(grad, gradient(lambda p: L.categorical_crossentropy(Y, p)[0], P, h=H)) < 1e-6


def test_cce_one_row_1d():
    value, grad = L.categorical_crossentropy([0.0, 1.0, 0.0], [0.2, 0.5, 0.3])
    assert value == pytest.approx(-math.log(0.5), rel=1e-15)
    np.testing.assert_allclose(grad, [0.0, -2.0, 0.0], rtol=1e-15)


def test_cce_clips_like_keras():
    Y = np.array([[1.0, 0.0], [0.0, 1.0]])
    P = np.array([[0.0, 1.0], [0.5, 0.5]])
    value, grad = L.categorical_crossentropy(Y, P)
    assert value == pytest.approx((-math.log(1e-7) - math.log(0.5)) / 2, rel=1e-12)
    assert np.all(np.isfinite(grad))
    # P[0, 0] = 0 was clipped: the clip is flat there, so its gradient is 0
    np.testing.assert_array_equal(grad[0], [0.0, 0.0])
    np.testing.assert_allclose(grad[1], [0.0, -1.0], rtol=1e-15)


@pytest.mark.parametrize(("m", "n"), [(1, 3), (5, 4)])
def test_cce_from_logits_value_and_gradient(m, n, rng):
    Y = one_hot(rng.integers(n, size=m), n)
    Z = rng.normal(scale=2, size=(m, n))
    value, grad = L.categorical_crossentropy_from_logits(Y, Z)
    expected = 0.0
    for k in range(m):
        lse = math.log(math.fsum(math.exp(z) for z in Z[k]))
        expected -= Z[k, int(np.argmax(Y[k]))] - lse
    assert value == pytest.approx(expected / m, rel=1e-13)
    assert rel_err(grad, gradient(lambda z: L.categorical_crossentropy_from_logits(Y, z)[0], Z, h=H)) < 1e-6
    # the fused gradient is (p - y) / batch
    S = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(grad, (S - Y) / m, rtol=1e-13, atol=1e-16)


def test_cce_from_logits_soft_targets_use_the_general_gradient(rng):
    # rows of Y that do not sum to one: the gradient is S * sum(Y) - Y, not S - Y
    Y = rng.uniform(0, 1, size=(3, 4))
    Z = rng.normal(size=(3, 4))
    _, grad = L.categorical_crossentropy_from_logits(Y, Z)
    assert rel_err(grad, gradient(lambda z: L.categorical_crossentropy_from_logits(Y, z)[0], Z, h=H)) < 1e-6


def test_cce_from_logits_equals_cce_of_softmax(rng):
    Y = one_hot([0, 2, 1], 3)
    Z = rng.normal(size=(3, 3))
    S = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    assert L.categorical_crossentropy_from_logits(Y, Z)[0] == pytest.approx(
        L.categorical_crossentropy(Y, S)[0], rel=1e-13
    )


def test_cce_from_logits_stable_at_large_logits():
    Y = np.array([[1.0, 0.0], [0.0, 1.0]])
    Z = np.array([[-1000.0, 1000.0], [-1000.0, 1000.0]])
    value, grad = L.categorical_crossentropy_from_logits(Y, Z)
    assert value == pytest.approx(2000 / 2, rel=1e-15)
    np.testing.assert_allclose(grad, [[-0.5, 0.5], [0.0, 0.0]], rtol=0, atol=1e-300)


# --- binary cross-entropy ------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_bce_value_and_gradient(shape, rng):
    Y = rng.uniform(0, 1, size=shape)
    P = rng.uniform(0.05, 0.95, size=shape)
    value, grad = L.binary_crossentropy(Y, P)
    terms = [y * math.log(p) + (1 - y) * math.log(1 - p) for y, p in zip(Y.ravel(), P.ravel(), strict=True)]
    assert value == pytest.approx(-math.fsum(terms) / len(terms), rel=1e-13)
    assert rel_err(grad, gradient(lambda p: L.binary_crossentropy(Y, p)[0], P, h=H)) < 1e-6


@pytest.mark.parametrize("shape", SHAPES)
def test_bce_from_logits_value_and_gradient(shape, rng):
    Y = rng.integers(0, 2, size=shape).astype(float)
    Z = rng.normal(scale=3, size=shape)
    value, grad = L.binary_crossentropy_from_logits(Y, Z)
    sig = 1 / (1 + np.exp(-Z))
    assert value == pytest.approx(L.binary_crossentropy(Y, sig)[0], rel=1e-10)
    assert rel_err(grad, gradient(lambda z: L.binary_crossentropy_from_logits(Y, z)[0], Z, h=H)) < 1e-6
    np.testing.assert_allclose(grad, (sig - Y) / Z.size, rtol=1e-13, atol=1e-17)


def test_bce_from_logits_stable_at_large_logits():
    value, grad = L.binary_crossentropy_from_logits([[1.0, 0.0]], [[-1000.0, -1000.0]])
    assert value == pytest.approx(1000 / 2, rel=1e-15)
    np.testing.assert_allclose(grad, [[-0.5, 0.0]], rtol=0, atol=1e-300)


# --- classes -------------------------------------------------------------------------------


def test_classes_agree_with_functions(rng):
    Y = one_hot([0, 2, 1, 1], 3)
    P = probs(rng, (4, 3))
    Z = rng.normal(size=(4, 3))
    cases = [
        (L.MeanSquaredError(), L.mean_squared_error, P),
        (L.CategoricalCrossentropy(), L.categorical_crossentropy, P),
        (L.CategoricalCrossentropy(from_logits=True), L.categorical_crossentropy_from_logits, Z),
        (L.BinaryCrossentropy(), L.binary_crossentropy, P),
        (L.BinaryCrossentropy(from_logits=True), L.binary_crossentropy_from_logits, Z),
    ]
    for obj, func, pred in cases:
        value, grad = func(Y, pred)
        assert obj(Y, pred) == value
        np.testing.assert_array_equal(obj.gradient(Y, pred), grad)
        v2, g2 = obj.value_and_grad(y_true=Y, y_pred=pred)
        assert v2 == value
        np.testing.assert_array_equal(g2, grad)
        assert isinstance(obj(Y, pred), float)


@pytest.mark.parametrize(
    ("loss", "activation"),
    [
        (L.CategoricalCrossentropy(), "softmax"),
        (L.BinaryCrossentropy(), "sigmoid"),
    ],
)
def test_fused_gradient_is_the_gradient_through_the_activation(loss, activation, rng):
    Z = rng.normal(size=(4, 3))
    Y = one_hot([0, 1, 2, 1], 3)

    def act(z):
        if activation == "softmax":
            return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
        return 1 / (1 + np.exp(-z))

    fused = loss.fused_gradient(get_activation(activation), Y, act(Z))
    assert rel_err(fused, gradient(lambda z: loss(Y, act(z)), Z, h=H)) < 1e-6
    assert loss.fused_gradient(get_activation("relu"), Y, act(Z)) is None
    # an activation of one's own under the same name is not the built-in one: no fusing
    impostor = ActivationFunction(activation, get_activation(activation).forward, lambda z, a: np.ones_like(z))
    assert loss.fused_gradient(impostor, Y, act(Z)) is None


def test_get_by_name():
    assert isinstance(L.get("mse"), L.MeanSquaredError)
    assert isinstance(L.get("Mean_Squared_Error"), L.MeanSquaredError)
    cce = L.get("categorical_crossentropy")
    assert isinstance(cce, L.CategoricalCrossentropy)
    assert not cce.from_logits
    obj = L.BinaryCrossentropy(from_logits=True)
    assert L.get(obj) is obj
    assert repr(obj) == "BinaryCrossentropy(from_logits=True)"


def test_float32_gradients_stay_float32(rng):
    Y = one_hot([0, 1], 2).astype(np.float32)
    P = probs(rng, (2, 2)).astype(np.float32)
    for obj in (
        L.MeanSquaredError(),
        L.CategoricalCrossentropy(),
        L.BinaryCrossentropy(),
        L.CategoricalCrossentropy(from_logits=True),
        L.BinaryCrossentropy(from_logits=True),
    ):
        assert obj.gradient(Y, P).dtype == np.float32


# --- errors --------------------------------------------------------------------------------


def test_shapes_must_match():
    with pytest.raises(ValueError, match=r"Y and P must have the same shape; got Y.shape=\(3,\) and P.shape=\(3, 2\)"):
        L.mean_squared_error(np.zeros(3), np.zeros((3, 2)))


def test_integer_labels_get_a_to_categorical_hint():
    with pytest.raises(ValueError, match=r"same shape.*to_categorical"):
        L.categorical_crossentropy(np.array([0, 1, 1]), np.full((3, 2), 0.5))


def test_targets_outside_unit_interval():
    with pytest.raises(ValueError, match=r"Y must hold class probabilities in \[0, 1\]; got a value 2.0"):
        L.categorical_crossentropy([[0.0, 2.0]], [[0.5, 0.5]])
    with pytest.raises(ValueError, match=r"y_true must hold targets in \[0, 1\]; got a value -1.0"):
        L.BinaryCrossentropy()([[-1.0]], [[0.5]])


def test_logits_passed_as_probabilities_get_a_hint():
    with pytest.raises(ValueError, match=r"P must hold probabilities in \[0, 1\].*from_logits"):
        L.categorical_crossentropy([[0.0, 1.0]], [[-3.0, 2.0]])
    with pytest.raises(ValueError, match=r"y_pred must hold probabilities.*from_logits=True"):
        L.BinaryCrossentropy()([[1.0]], [[4.0]])


def test_non_finite_refused():
    with pytest.raises(ValueError, match="P must hold only finite values"):
        L.mean_squared_error([[1.0]], [[np.inf]])
    with pytest.raises(ValueError, match="y_true must hold only finite values"):
        L.MeanSquaredError()([[np.nan]], [[1.0]])


def test_empty_and_scalar_refused():
    with pytest.raises(ValueError, match="Y must be a non-empty array"):
        L.mean_squared_error(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="Y must be a non-empty array"):
        L.mean_squared_error(1.0, 1.0)


def test_check_targets_wants_one_hot_rows():
    with pytest.raises(ValueError, match=r"Y must be one-hot .* row 1 sums to 2.0.*to_categorical"):
        L.CategoricalCrossentropy().check_targets(np.array([[0.0, 1.0], [1.0, 1.0]]))
    L.CategoricalCrossentropy().check_targets(np.array([[0.25, 0.75]]))
    with pytest.raises(ValueError, match=r"Y must hold targets in \[0, 1\]"):
        L.BinaryCrossentropy().check_targets(np.array([[3.0]]))


def test_bad_epsilon_and_from_logits():
    with pytest.raises(ValueError, match=r"epsilon must lie in \(0.0, 0.5\)"):
        L.categorical_crossentropy([[1.0]], [[1.0]], epsilon=0.0)
    with pytest.raises(TypeError, match="from_logits must be True or False"):
        L.CategoricalCrossentropy(from_logits="yes")


def test_get_unknown():
    with pytest.raises(ValueError, match=r"loss must be one of 'mse'.*; got 'hinge'"):
        L.get("hinge")
    with pytest.raises(TypeError, match=r"loss must be one of .*or a Loss instance.*; got NoneType None"):
        L.get(None)
