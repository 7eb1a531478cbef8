"""Tests of the exact Hessian-vector product of Sequential (Pearlmutter's R-operator, chapter 5).

References are independent of the code under test: central differences of the gradient that
``loss_and_gradients`` returns (``mlmath.calculus.hvp`` and ``jacobian``), central differences of
the loss itself (``mlmath.calculus.hessian``), and closed-form Hessians of one-layer models.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlmath.activations import (
    ActivationFunction,
    sigmoid,
    sigmoid_derivative,
    sigmoid_second_derivative,
    softmax,
    softmax_vjp,
    tanh_derivative,
    tanh_second_derivative,
)
from mlmath.calculus import gradient, hessian, hessian_from_hvp, hvp, jacobian
from mlmath.data import random_classification, to_categorical
from mlmath.layers import Activation, Dense, Layer
from mlmath.losses import BinaryCrossentropy, CategoricalCrossentropy, Loss, MeanSquaredError
from mlmath.models import Sequential
from mlmath.optim import SGD, Adam

SEED = 5  # the shared rng fixture (conftest.py) draws from this seed


# --- helpers ---------------------------------------------------------------------------------


def make_loss(name: str) -> Loss:
    return {
        "mse": MeanSquaredError(),
        "cce": CategoricalCrossentropy(),
        "cce_logits": CategoricalCrossentropy(from_logits=True),
        "bce": BinaryCrossentropy(),
        "bce_logits": BinaryCrossentropy(from_logits=True),
    }[name]


def make_targets(name: str, rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    if name == "mse":
        return rng.normal(size=(m, n))
    if name.startswith("bce"):
        return rng.random((m, n))
    return to_categorical(rng.integers(n, size=m), n)


def flat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([a.ravel() for a in arrays])


def unflat(theta: np.ndarray, model: Sequential) -> list[np.ndarray]:
    shapes = [w.shape for w in model.trainable_weights]
    cuts = np.cumsum([math.prod(s) for s in shapes])[:-1]
    return [part.reshape(shape) for part, shape in zip(np.split(theta, cuts), shapes, strict=True)]


def flat_gradient(model: Sequential, X: np.ndarray, Y: np.ndarray):
    """theta -> the flattened gradient of loss_and_gradients at weights theta."""

    def grad(theta: np.ndarray) -> np.ndarray:
        model.set_weights(unflat(theta, model))
        return flat(model.loss_and_gradients(X, Y)[1])

    return grad


def flat_loss(model: Sequential, X: np.ndarray, Y: np.ndarray):
    def loss(theta: np.ndarray) -> float:
        model.set_weights(unflat(theta, model))
        return model.loss_and_gradients(X, Y)[0]

    return loss


def randomize(model: Sequential, rng: np.random.Generator, scale: float = 0.7) -> np.ndarray:
    """Random weights and biases (no exact zeros inside a relu), returned flat."""
    model.set_weights([scale * rng.normal(size=w.shape) for w in model.trainable_weights])
    return flat(model.get_weights())


def build(hidden: str, out: str, loss: str, widths=(4, 5, 4, 3), seed: int = 0) -> Sequential:
    n_in, *rest = widths
    layers: list[Layer] = [Dense(rest[0], input_dim=n_in)]
    for width in rest[1:]:
        layers += [Activation(hidden), Dense(width)]
    layers.append(Activation(out))
    model = Sequential(layers, seed=seed)
    model.compile(optimizer=SGD(0.1), loss=make_loss(loss))
    return model


# hidden activation, output activation, loss: every R-rule of the layers and of the losses,
# including the fused softmax + cross-entropy and sigmoid + binary cross-entropy paths
CASES = [
    ("relu", "linear", "mse"),
    ("tanh", "softmax", "mse"),  # the article's output layer and loss
    ("relu", "softmax", "cce"),  # fused: (S - Y)/m enters below the softmax
    ("sigmoid", "linear", "cce_logits"),
    ("tanh", "sigmoid", "cce"),  # cross-entropy of probabilities, not fused
    ("sigmoid", "sigmoid", "bce"),  # fused: (sigma(Z) - Y)/(mn)
    ("tanh", "linear", "bce_logits"),
    ("relu", "softmax", "bce"),  # binary cross-entropy of probabilities, not fused
    ("softmax", "log_softmax", "mse"),  # a softmax inside the network, log-softmax at the end
    ("linear", "tanh", "mse"),
]
IDS = ["-".join(case) for case in CASES]


def setup(case, rng, m: int = 7, widths=(4, 5, 4, 3)):
    hidden, out, loss = case
    model = build(hidden, out, loss, widths)
    X = rng.normal(size=(m, widths[0]))
    Y = make_targets(loss, rng, m, widths[-1])
    theta = randomize(model, rng)
    return model, X, Y, theta


# --- exact against finite differences --------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_hvp_matches_central_differences_of_the_gradient(case, rng):
    model, X, Y, theta = setup(case, rng)
    v = rng.normal(size=theta.size)
    exact = model.hessian_vector_product(X, Y, v)
    numeric = hvp(flat_gradient(model, X, Y), theta, v)
    model.set_weights(unflat(theta, model))
    scale = np.max(np.abs(numeric))
    assert scale > 1e-3  # a real curvature, not a vacuous comparison of zeros
    np.testing.assert_allclose(exact, numeric, rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_full_hessian_from_exact_products_is_symmetric_and_matches_differences(case, rng):
    model, X, Y, theta = setup(case, rng, m=6, widths=(2, 3, 2))
    n = theta.size
    assert n == model.count_params() == 17
    columns = np.column_stack([model.hessian_vector_product(X, Y, e) for e in np.eye(n)])
    scale = np.max(np.abs(columns))
    # the exact products are symmetric to rounding, before any symmetrization
    assert np.max(np.abs(columns - columns.T)) <= 1e-12 * scale
    H = hessian_from_hvp(lambda u: model.hessian_vector_product(X, Y, u), n)
    np.testing.assert_allclose(H, columns, rtol=0, atol=1e-12 * scale)
    J = jacobian(flat_gradient(model, X, Y), theta)  # central differences of the gradient
    np.testing.assert_allclose(H, J, rtol=1e-6, atol=1e-7 * scale)
    H_loss = hessian(flat_loss(model, X, Y), theta)  # nested central differences of the loss
    np.testing.assert_allclose(H, H_loss, rtol=1e-4, atol=1e-5 * scale)


def test_article_network_matches_central_differences(rng):
    X, Y = random_classification(num_samples=60, seed=3)
    model = Sequential(
        [Dense(64, input_dim=20), Activation("relu"), Dense(64), Activation("relu"), Dense(3), Activation("softmax")],
        seed=1,
    )
    model.compile(optimizer=Adam(learning_rate=0.001), loss=MeanSquaredError(), metrics=["accuracy"])
    theta = flat(model.get_weights())
    v = rng.normal(size=theta.size)
    exact = model.hessian_vector_product(X, Y, v)
    numeric = hvp(flat_gradient(model, X, Y), theta, v)
    model.set_weights(unflat(theta, model))
    np.testing.assert_allclose(exact, numeric, rtol=1e-6, atol=1e-6 * np.max(np.abs(numeric)))


def test_first_layer_without_parameters(rng):
    model = Sequential([Activation("tanh"), Dense(3), Activation("sigmoid"), Dense(2), Activation("softmax")], seed=0)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    X = rng.normal(size=(5, 4))
    Y = to_categorical(rng.integers(2, size=5), 2)
    model.build(4)
    theta = randomize(model, rng)
    v = rng.normal(size=theta.size)
    numeric = hvp(flat_gradient(model, X, Y), theta, v)
    model.set_weights(unflat(theta, model))
    np.testing.assert_allclose(
        model.hessian_vector_product(X, Y, v), numeric, rtol=1e-6, atol=1e-6 * np.max(np.abs(numeric))
    )


# --- closed forms ------------------------------------------------------------------------------


@pytest.mark.parametrize(("m", "n_in", "n_out"), [(1, 1, 1), (6, 3, 2), (20, 5, 4)])
def test_linear_least_squares_closed_form(m, n_in, n_out, rng):
    # L = ||X W^T + 1 b^T - Y||^2 / (mn): the Hessian does not depend on W, b or Y,
    # HV_W = 2/(mn) (V_W X^T X + V_b 1^T X), HV_b = 2/(mn) (V_W X^T 1 + m V_b)
    model = Sequential([Dense(n_out, input_dim=n_in)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    X, Y = rng.normal(size=(m, n_in)), rng.normal(size=(m, n_out))
    randomize(model, rng)
    VW, Vb = rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)
    HW, Hb = model.hessian_vector_product(X, Y, [VW, Vb])
    c = 2 / (m * n_out)
    np.testing.assert_allclose(HW, c * (VW @ X.T @ X + np.outer(Vb, X.sum(axis=0))), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(Hb, c * (VW @ X.sum(axis=0) + m * Vb), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("from_logits", [False, True])
def test_multinomial_logistic_regression_closed_form(from_logits, rng):
    # softmax regression: H = (1/m) sum_k (diag(s_k) - s_k s_k^T) ⊗ [x_k; 1][x_k; 1]^T, so with
    # U = X V_W^T + 1 V_b^T and T_k = J_k u_k:  HV_W = T^T X / m,  HV_b = T^T 1 / m
    m, n_in, n_out = 9, 4, 3
    layers: list[Layer] = [Dense(n_out, input_dim=n_in)] + ([] if from_logits else [Activation("softmax")])
    model = Sequential(layers, seed=0)
    model.compile(optimizer="sgd", loss=CategoricalCrossentropy(from_logits=from_logits))
    X = rng.normal(size=(m, n_in))
    Y = to_categorical(rng.integers(n_out, size=m), n_out)
    W, b = (w.copy() for w in model.trainable_weights)
    VW, Vb = rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)
    S = softmax(X @ W.T + b)
    T = softmax_vjp(S, X @ VW.T + Vb)
    HW, Hb = model.hessian_vector_product(X, Y, (VW, Vb))
    np.testing.assert_allclose(HW, T.T @ X / m, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Hb, T.sum(axis=0) / m, rtol=1e-12, atol=1e-14)


def test_logistic_regression_closed_form(rng):
    # one sigmoid output with binary cross-entropy: H = X1^T diag(s(1 - s)) X1 / m, X1 = [X, 1]
    m, n_in = 12, 3
    model = Sequential([Dense(1, input_dim=n_in), Activation("sigmoid")], seed=0)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    X, Y = rng.normal(size=(m, n_in)), rng.integers(2, size=(m, 1)).astype(float)
    randomize(model, rng)
    W, b = model.get_weights()
    s = sigmoid(X @ W.T + b)[:, 0]
    X1 = np.column_stack([X, np.ones(m)])
    H = X1.T @ ((s * (1 - s))[:, None] * X1) / m
    H_products = hessian_from_hvp(lambda u: model.hessian_vector_product(X, Y, u), n_in + 1)
    np.testing.assert_allclose(H_products, H, rtol=1e-12, atol=1e-15)


# --- algebra of the products ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES[:4], ids=IDS[:4])
def test_products_are_linear_and_symmetric(case, rng):
    model, X, Y, theta = setup(case, rng)
    u, v = rng.normal(size=theta.size), rng.normal(size=theta.size)
    Hu, Hv = model.hessian_vector_product(X, Y, u), model.hessian_vector_product(X, Y, v)
    np.testing.assert_allclose(
        model.hessian_vector_product(X, Y, 2 * u - 3 * v), 2 * Hu - 3 * Hv, rtol=1e-12, atol=1e-12 * np.abs(Hu).max()
    )
    assert u @ Hv == pytest.approx(v @ Hu, rel=1e-12, abs=1e-14)


def test_list_and_flat_forms_agree(rng):
    model, X, Y, theta = setup(CASES[1], rng)
    V = [rng.normal(size=w.shape) for w in model.trainable_weights]
    as_list = model.hessian_vector_product(X, Y, V)
    as_tuple = model.hessian_vector_product(X, Y, tuple(V))
    as_flat = model.hessian_vector_product(X, Y, flat(V))
    assert isinstance(as_list, list)
    assert [a.shape for a in as_list] == [w.shape for w in model.trainable_weights]
    assert as_flat.shape == (theta.size,)
    np.testing.assert_array_equal(flat(as_list), as_flat)
    np.testing.assert_array_equal(flat(as_tuple), as_flat)
    assert not any(np.shares_memory(a, w) for a in as_list for w in model.trainable_weights)


def test_zero_direction_gives_zero(rng):
    model, X, Y, theta = setup(CASES[2], rng)
    np.testing.assert_array_equal(model.hessian_vector_product(X, Y, np.zeros(theta.size)), 0.0)


def test_model_state_is_left_alone(rng):
    model, X, Y, _ = setup(CASES[2], rng)
    model.fit(X, Y, epochs=1, batch_size=4, verbose=0, seed=0)  # the optimizer now has a state
    model.loss_and_gradients(X, Y)  # fills every layer's grads
    weights, state = model.get_weights(), model.optimizer.get_state()
    layer_grads = [g.copy() for layer in model.layers for g in layer.grads.values()]
    model.hessian_vector_product(X, Y, [rng.normal(size=w.shape) for w in weights])
    for a, b in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip([g for layer in model.layers for g in layer.grads.values()], layer_grads, strict=True):
        np.testing.assert_array_equal(a, b)
    now = model.optimizer.get_state()
    assert now["t"] == state["t"]
    for key in state:
        if key != "t":
            for a, b in zip(now[key], state[key], strict=True):
                np.testing.assert_array_equal(a, b)
    # and the public forward/backward of a layer still work after the call
    layer = model.layers[1]
    assert layer.backward(np.ones_like(layer._cache[1])).shape == layer._cache[1].shape


def test_float32_stays_float32(rng):
    case = ("tanh", "softmax", "cce")
    model32 = build(*case)
    X = rng.normal(size=(8, 4)).astype(np.float32)
    Y = make_targets("cce", rng, 8, 3).astype(np.float32)
    model32.build(4, dtype=np.float32)
    model32.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model32.trainable_weights])
    model64 = build(*case)
    model64.set_weights([w.astype(np.float64) for w in model32.get_weights()])
    V = [rng.normal(size=w.shape) for w in model32.trainable_weights]  # float64 directions are cast
    H32 = model32.hessian_vector_product(X, Y, V)
    H64 = model64.hessian_vector_product(X.astype(np.float64), Y.astype(np.float64), V)
    assert all(h.dtype == np.float32 for h in H32)
    assert model32.hessian_vector_product(X, Y, flat(V)).dtype == np.float32
    scale = max(np.abs(h).max() for h in H64)
    for a, b in zip(H32, H64, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


def test_model_without_parameters(rng):
    model = Sequential([Activation("tanh")])
    model.compile(optimizer="sgd", loss="mse")
    X, Y = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    assert model.hessian_vector_product(X, Y, []) == []
    assert model.hessian_vector_product(X, Y, np.zeros(0)).shape == (0,)


# --- second derivatives of the activations -------------------------------------------------------


@pytest.mark.parametrize(
    ("second", "first"),
    [(sigmoid_second_derivative, sigmoid_derivative), (tanh_second_derivative, tanh_derivative)],
    ids=["sigmoid", "tanh"],
)
@pytest.mark.parametrize("shape", [(7,), (3, 4)])
def test_second_derivatives_match_differences_of_the_first(second, first, shape, rng):
    z = 3 * rng.normal(size=shape)
    # each entry of first(z) depends on the same entry of z alone, so the gradient of the
    # sum is the elementwise derivative
    numeric = gradient(lambda x: float(first(x).sum()), z)
    np.testing.assert_allclose(second(z), numeric, rtol=1e-7, atol=1e-9)
    assert second(z.astype(np.float32)).dtype == np.float32
    assert second(z).shape == shape


def test_second_derivatives_known_values():
    # sigma'' vanishes at 0 and is odd around it; its extremes are ±sqrt(3)/18 at z = ±log(2 + sqrt 3)
    z_star = math.log(2 + math.sqrt(3))
    peak = math.sqrt(3) / 18
    np.testing.assert_allclose(sigmoid_second_derivative([0.0, z_star, -z_star]), [0, -peak, peak], atol=1e-15)
    # tanh'' = -2 tanh (1 - tanh^2): extremes ±4 sqrt(3)/9 at tanh z = ∓1/sqrt 3
    z_t = math.atanh(1 / math.sqrt(3))
    peak = 4 * math.sqrt(3) / 9
    np.testing.assert_allclose(tanh_second_derivative([0.0, z_t, -z_t]), [0, -peak, peak], atol=1e-15)
    with pytest.raises(ValueError, match="z"):
        sigmoid_second_derivative([np.nan])


# --- errors ------------------------------------------------------------------------------------------


@pytest.fixture
def small(rng):
    model = build("tanh", "softmax", "cce", widths=(4, 5, 3))  # weights (5, 4), (5,), (3, 5), (3,)
    X = rng.normal(size=(6, 4))
    Y = to_categorical(rng.integers(3, size=6), 3)
    model.build(4)
    return model, X, Y


@pytest.mark.parametrize(
    ("V", "error", "match"),
    [
        (lambda: [np.zeros((5, 4)), np.zeros(5), np.zeros((3, 5))], ValueError, r"a list of 4 arrays.*got a list of 3"),
        (
            lambda: [np.zeros((5, 4)), np.zeros(5), np.zeros((5, 3)), np.zeros(3)],
            ValueError,
            r"V\[2\] must have shape \(3, 5\), like dense_1/W; got shape \(5, 3\)",
        ),
        (lambda: np.zeros(42), ValueError, r"1-D numpy array of length 43.*got a 1-D array of length 42"),
        (lambda: np.zeros((43, 1)), ValueError, r"got a numpy array of shape \(43, 1\)"),
        (lambda: [np.zeros((5, 4)), np.full(5, np.nan), np.zeros((3, 5)), np.zeros(3)], ValueError, r"V\[1\]"),
        (lambda: np.full(43, np.inf), ValueError, r"\bV\b"),
        (lambda: {"W": np.zeros((5, 4))}, TypeError, r"V must be a list of 4 arrays.*got dict"),
        (lambda: [np.zeros((5, 4), dtype=complex), np.zeros(5), np.zeros((3, 5)), np.zeros(3)], TypeError, r"V\[0\]"),
    ],
    ids=["too-few", "wrong-shape", "wrong-length", "2-d", "nan", "inf", "dict", "complex"],
)
def test_bad_directions_are_refused(small, V, error, match):
    model, X, Y = small
    before = model.get_weights()
    with pytest.raises(error, match=match):
        model.hessian_vector_product(X, Y, V())
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_data_is_refused_as_by_loss_and_gradients(small):
    model, X, Y = small
    V = np.zeros(model.count_params())
    with pytest.raises(ValueError, match="Y has 2 columns, but the model outputs 3"):
        model.hessian_vector_product(X, Y[:, :2], V)
    with pytest.raises(ValueError, match="X has 3 features"):
        model.hessian_vector_product(X[:, :3], Y, V)
    with pytest.raises(ValueError, match=r"Y must hold class probabilities in \[0, 1\]"):
        model.hessian_vector_product(X, 2 * Y, V)


def test_needs_compile():
    model = Sequential([Dense(2, input_dim=3)])
    with pytest.raises(RuntimeError, match=r"compile\(optimizer, loss\) before hessian_vector_product"):
        model.hessian_vector_product(np.zeros((1, 3)), np.zeros((1, 2)), np.zeros(8))


def test_unsupported_loss_activation_and_layer(small):
    model, X, Y = small

    class Halved(MeanSquaredError):
        def value_and_grad_unchecked(self, Y, P):
            value, grad = super().value_and_grad_unchecked(Y, P)
            return value / 2, grad / 2

    model.compile(optimizer="sgd", loss=Halved())
    with pytest.raises(TypeError, match=r"Halved defines no hessian_vector_unchecked"):
        model.hessian_vector_product(X, Y, np.zeros(model.count_params()))

    swish = ActivationFunction("swish", lambda z: z * sigmoid(z), lambda z, a: sigmoid(z) * (1 + z * (1 - sigmoid(z))))
    custom = Sequential([Dense(3, input_dim=4), Activation(swish), Dense(3)])
    custom.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match=r"Activation\('swish'\) has no second_derivative"):
        custom.hessian_vector_product(X, Y, np.zeros(30))

    class Scale(Layer):
        def compute_output_dim(self, n_in):
            return n_in

        def call(self, X):
            return 2 * X

    scaled = Sequential([Dense(3, input_dim=4), Scale()])
    scaled.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="Scale has no R-operator"):
        scaled.hessian_vector_product(X, Y, np.zeros(15))


# --- ops of one's own take part: the op owns its rules -------------------------------------


class LogCosh(Loss):
    r"""A loss written by a user: :math:`L = \frac{1}{mn}\sum \log\cosh(P - Y)`, with its gradient and Hessian rule."""

    def value_and_grad_unchecked(self, Y, P):
        d = P - Y
        value = float(np.sum(np.logaddexp(d, -d) - np.log(2.0))) / d.size
        return value, np.tanh(d) / d.size

    def hessian_vector_unchecked(self, Y, P, RP):
        t = np.tanh(P - Y)
        return (1 - t * t) * RP / P.size


SOFTPLUS = ActivationFunction(
    "softplus",
    forward=lambda z: np.logaddexp(0, z),
    derivative=lambda z, a: sigmoid(z),
    second_derivative=lambda z, a, d1: d1 * (1 - d1),
)


@pytest.mark.parametrize("loss", [LogCosh(), MeanSquaredError()], ids=["user-loss", "mse"])
def test_user_activation_and_user_loss_take_part_in_the_exact_hvp(loss, rng):
    model = Sequential([Dense(5, input_dim=4), Activation(SOFTPLUS), Dense(3), Activation(SOFTPLUS), Dense(2)], seed=1)
    model.compile(optimizer="sgd", loss=loss)
    X, Y = rng.normal(size=(7, 4)), rng.normal(size=(7, 2))
    theta = randomize(model, rng)
    v = rng.normal(size=theta.size)
    exact = model.hessian_vector_product(X, Y, v)

    def grad(t: np.ndarray) -> np.ndarray:
        model.set_flat_weights(t)
        return flat(model.loss_and_gradients(X, Y)[1])

    numeric = hvp(grad, theta, v)
    model.set_flat_weights(theta)
    scale = np.max(np.abs(numeric))
    assert scale > 1e-3
    np.testing.assert_allclose(exact, numeric, rtol=1e-6, atol=1e-6 * scale)
    # the user loss's gradient is its own: check it against differences of its value
    P = model.predict(X)
    g = loss.value_and_grad(Y, P)[1]
    np.testing.assert_allclose(g, gradient(lambda p: loss(Y, p), P), rtol=1e-6, atol=1e-10)


def test_a_user_loss_without_its_hessian_rule_is_refused(rng):
    class Quartic(Loss):
        def value_and_grad_unchecked(self, Y, P):
            d = P - Y
            return float(np.sum(d**4)) / d.size, 4 * d**3 / d.size

    model = Sequential([Dense(2, input_dim=3)])
    model.compile(optimizer="sgd", loss=Quartic())
    assert not Quartic().supports_hvp
    assert LogCosh().supports_hvp
    with pytest.raises(TypeError, match="Quartic defines no hessian_vector_unchecked"):
        model.hessian_vector_product(rng.normal(size=(2, 3)), np.zeros((2, 2)), np.zeros(8))


def test_flat_weights_round_trip(rng):
    model = build("tanh", "linear", "mse")
    theta = rng.normal(size=model.count_params())
    model.set_flat_weights(theta)
    np.testing.assert_array_equal(model.get_flat_weights(), theta)
    np.testing.assert_array_equal(flat(model.get_weights()), theta)
    with pytest.raises(ValueError, match=r"theta must have length 64 .*; got 63"):
        model.set_flat_weights(theta[:-1])
    with pytest.raises(ValueError, match=r"theta must hold only finite values"):
        model.set_flat_weights(np.full(theta.size, np.nan))
    np.testing.assert_array_equal(model.get_flat_weights(), theta)
