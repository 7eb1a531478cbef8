"""Tests of the Gauss–Newton and Fisher products (``mlmath.curvature``).

References are independent of the code under test. This module writes the network once more,
as plain complex-safe numpy (forward pass and vector-Jacobian product), so that

- the Jacobian :math:`J` of the output comes column by column from the complex step
  (``mlmath.calculus.jacobian(..., method="complex")``), exact to rounding, and the loss's
  Hessian :math:`H_\\ell` in the output is written out by hand: the dense :math:`J^\\top H_\\ell J`;
- the residual :math:`\\sum_k (\\partial L/\\partial f_k)\\,\\nabla^2 f_k\\, v` is the complex step of
  the vector-Jacobian product :math:`J(\\theta + ihv)^\\top g` with :math:`g` held fixed, so
  "exact HVP = Gauss–Newton product + residual" is checked to 1e-10;
- the Fisher's expectation over targets drawn from the model is a finite sum (over classes, or
  over the Gaussian's axes, the gradient being linear in the noise), of per-row gradients from
  ``loss_and_gradients`` on one row.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mlmath.calculus import hessian_from_hvp, jacobian
from mlmath.curvature import (
    check_fisher_support,
    fisher_vector_product,
    gauss_newton_vector_product,
    output_curvature_product,
)
from mlmath.data import random_classification, to_categorical
from mlmath.layers import Activation, Dense
from mlmath.losses import BinaryCrossentropy, CategoricalCrossentropy, Loss, MeanSquaredError
from mlmath.models import Sequential

SEED = 23

# --- the reference network, plain numpy, complex-safe -------------------------------------------


def _act(name: str, Z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.where(Z.real > 0, Z, 0)
    if name == "tanh":
        return np.tanh(Z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-Z))
    if name == "softmax":
        E = np.exp(Z - Z.real.max(axis=-1, keepdims=True))
        return E / E.sum(axis=-1, keepdims=True)
    return Z


def _act_vjp(name: str, Z: np.ndarray, A: np.ndarray, U: np.ndarray) -> np.ndarray:
    if name == "relu":
        return U * (Z.real > 0)
    if name == "tanh":
        return U * (1 - A * A)
    if name == "sigmoid":
        return U * A * (1 - A)
    if name == "softmax":
        return A * (U - (U * A).sum(axis=-1, keepdims=True))
    return U


def _unpack(theta: np.ndarray, widths: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    out, k = [], 0
    for n_in, n_out in itertools.pairwise(widths):
        W = theta[k : k + n_out * n_in].reshape(n_out, n_in)
        k += n_out * n_in
        out.append((W, theta[k : k + n_out]))
        k += n_out
    return out


class Net:
    """Dense layers of ``widths`` with ``acts`` after each (``"linear"`` for none); ``upto`` drops the last act."""

    def __init__(self, widths: tuple[int, ...], acts: tuple[str, ...]) -> None:
        self.widths, self.acts = widths, acts

    def forward(self, theta: np.ndarray, X: np.ndarray, last: bool = True) -> tuple[np.ndarray, list]:
        A, tape = X.astype(theta.dtype), []
        for i, ((W, b), act) in enumerate(zip(_unpack(theta, self.widths), self.acts, strict=True)):
            Z = A @ W.T + b
            An = Z if (i == len(self.acts) - 1 and not last) else _act(act, Z)
            tape.append((A, Z, An, act))
            A = An
        return A, tape

    def vjp(self, theta: np.ndarray, X: np.ndarray, G: np.ndarray, last: bool = True) -> np.ndarray:
        """:math:`J^\\top G` for the output (after the last activation if ``last``, else before it)."""
        _, tape = self.forward(theta, X, last)
        grads, U = [], G.astype(theta.dtype)
        layers = _unpack(theta, self.widths)
        for i in range(len(tape) - 1, -1, -1):
            A_in, Z, A_out, act = tape[i]
            if last or i < len(tape) - 1:
                U = _act_vjp(act, Z, A_out, U)
            grads.append((U.T @ A_in, U.sum(axis=0)))
            U = U @ layers[i][0]
        return np.concatenate([part.ravel() for W, b in reversed(grads) for part in (W, b)])


CASES = {
    # name: (widths, activations, loss, fused: the output f is the logits)
    "article_mse": ((20, 64, 64, 3), ("relu", "relu", "softmax"), "mse", False),
    "tanh_mse": ((4, 5, 4, 3), ("tanh", "sigmoid", "linear"), "mse", False),
    "tanh_cce": ((4, 5, 3), ("tanh", "softmax"), "cce", True),
    "relu_cce_logits": ((4, 6, 3), ("relu", "linear"), "cce_logits", False),
    "tanh_bce": ((3, 4, 1), ("tanh", "sigmoid"), "bce", True),
    "tanh_bce_probabilities": ((3, 4, 2), ("tanh", "tanh"), "bce_probs_after_tanh", False),
}


def make(case: str, rng: np.random.Generator, m: int = 6, dtype: type = np.float64):
    widths, acts, loss_name, fused = CASES[case]
    model = Sequential(seed=3)
    for i, (n_out, act) in enumerate(zip(widths[1:], acts, strict=True)):
        model.add(Dense(n_out, input_dim=widths[0]) if i == 0 else Dense(n_out))
        if act != "linear":
            model.add(Activation(act))
    loss: Loss = {
        "mse": MeanSquaredError(),
        "cce": CategoricalCrossentropy(),
        "cce_logits": CategoricalCrossentropy(from_logits=True),
        "bce": BinaryCrossentropy(),
        "bce_probs_after_tanh": BinaryCrossentropy(),
    }[loss_name]
    model.compile(optimizer="sgd", loss=loss)
    if case == "article_mse":
        X, Y = random_classification(num_samples=m, num_features=20, num_classes=3, seed=1)
    else:
        X = rng.standard_normal((m, widths[0]))
        n = widths[-1]
        Y = to_categorical(rng.integers(n, size=m), n) if loss_name.startswith("cce") else rng.random((m, n))
    model.build(widths[0], dtype=dtype)
    theta = model.get_flat_weights()
    theta += 0.3 * rng.standard_normal(theta.size).astype(dtype)  # away from the initializer's symmetries
    if case == "tanh_bce_probabilities":  # tanh outputs in (0, 1) for a probability: shift the last bias up
        theta[-widths[-1] :] = 2.0
    model.set_flat_weights(theta)
    return model, Net(widths, acts), X.astype(dtype), Y.astype(dtype), loss_name, fused


def output_hessian(loss_name: str, F: np.ndarray, Y: np.ndarray, fused: bool) -> np.ndarray:
    """:math:`\\nabla^2_f L` for the mean loss, written out, as a matrix over the raveled output ``F``."""
    m, n = F.shape
    if loss_name == "mse":
        return np.eye(m * n) * 2 / (m * n)
    if loss_name in ("cce", "cce_logits"):  # softmax of the logits F
        S = _act("softmax", F)
        return _block_diag([(np.diag(s) - np.outer(s, s)) / m for s in S])
    if loss_name == "bce":  # sigmoid of the logits F
        P = _act("sigmoid", F).ravel()
        return np.diag(P * (1 - P)) / (m * n)
    P = F.ravel()  # binary cross-entropy on the probabilities F
    y = Y.ravel()
    return np.diag(y / P**2 + (1 - y) / (1 - P) ** 2) / (m * n)


def _block_diag(blocks: list[np.ndarray]) -> np.ndarray:
    n = blocks[0].shape[0]
    out = np.zeros((n * len(blocks), n * len(blocks)))
    for i, B in enumerate(blocks):
        out[i * n : (i + 1) * n, i * n : (i + 1) * n] = B
    return out


def output_gradient(loss_name: str, F: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """:math:`\\partial L/\\partial f`, written out."""
    m, n = F.shape
    if loss_name == "mse":
        return 2 * (F - Y) / (m * n)
    if loss_name in ("cce", "cce_logits"):
        return (_act("softmax", F) - Y) / m
    if loss_name == "bce":
        return (_act("sigmoid", F) - Y) / (m * n)
    return (F - Y) / (F * (1 - F)) / (m * n)


def dense_ggn(case: str, rng: np.random.Generator):
    model, net, X, Y, loss_name, fused = make(case, rng)
    theta = model.get_flat_weights()
    J = jacobian(lambda th: net.forward(th, X, last=not fused)[0].ravel(), theta, method="complex")
    F = net.forward(theta, X, last=not fused)[0]
    return model, X, Y, J.T @ output_hessian(loss_name, F, Y, fused) @ J


# --- Gauss–Newton ---------------------------------------------------------------------------------


def test_reference_network_is_the_model(rng):
    for case in CASES:
        model, net, X, _Y, *_ = make(case, rng)
        np.testing.assert_allclose(net.forward(model.get_flat_weights(), X)[0], model.predict(X), rtol=1e-13)


@pytest.mark.parametrize("case", list(CASES))
def test_gauss_newton_matches_the_dense_matrix(case, rng):
    model, X, Y, G = dense_ggn(case, rng)
    n = G.shape[0]
    if n > 200:  # the article's network: 5,699 parameters, so a few random columns
        V = rng.standard_normal((n, 4))
        products = np.column_stack([gauss_newton_vector_product(model, X, Y, v) for v in V.T])
        np.testing.assert_allclose(products, G @ V, rtol=1e-9, atol=1e-12 * np.abs(G @ V).max())
        return
    built = hessian_from_hvp(lambda v: gauss_newton_vector_product(model, X, Y, v), n)
    np.testing.assert_allclose(built, G, rtol=1e-9, atol=1e-12 * np.abs(G).max())


@pytest.mark.parametrize("case", ["tanh_mse", "tanh_cce", "relu_cce_logits", "tanh_bce", "tanh_bce_probabilities"])
def test_gauss_newton_is_symmetric_positive_semidefinite(case, rng):
    # every loss here is convex in the network's output f, so H_l is PSD and so is J^T H_l J
    model, X, Y, _ = dense_ggn(case, rng)
    G = hessian_from_hvp(lambda v: gauss_newton_vector_product(model, X, Y, v), model.count_params())
    np.testing.assert_allclose(G, G.T, atol=1e-14 * np.abs(G).max())
    assert np.linalg.eigvalsh(G).min() >= -1e-12 * np.abs(G).max()


def test_gauss_newton_quadratic_form_is_nonnegative_on_the_article_network(rng):
    model, _, X, Y, *_ = make("article_mse", rng, m=32)
    for _ in range(5):
        v = rng.standard_normal(model.count_params())
        assert v @ gauss_newton_vector_product(model, X, Y, v) >= 0


@pytest.mark.parametrize("case", list(CASES))
def test_exact_hessian_is_gauss_newton_plus_residual(case, rng):
    """:math:`Hv = J^\\top H_\\ell J v + \\sum_k (\\partial L/\\partial f_k) \\nabla^2 f_k v`, to 1e-10 in float64."""
    model, net, X, Y, loss_name, fused = make(case, rng, m=16)
    theta = model.get_flat_weights()
    F = net.forward(theta, X, last=not fused)[0]
    g = output_gradient(loss_name, F, Y)
    for _ in range(3):
        v = rng.standard_normal(theta.size)
        h = 1e-30
        residual = net.vjp(theta + 1j * h * v, X, g, last=not fused).imag / h
        exact = model.hessian_vector_product(X, Y, v)
        ggn = gauss_newton_vector_product(model, X, Y, v)
        assert isinstance(exact, np.ndarray)
        assert isinstance(ggn, np.ndarray)
        scale = np.abs(exact).max()
        np.testing.assert_allclose(exact, ggn + residual, rtol=0, atol=1e-10 * scale)
        assert np.abs(residual).max() > 1e-6 * scale  # the residual is there: the check is not vacuous


def test_gauss_newton_is_the_hessian_for_a_linear_model_with_mse(rng):
    model = Sequential([Dense(3, input_dim=4)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    model.build()
    X, Y = rng.standard_normal((9, 4)), rng.standard_normal((9, 3))
    for _ in range(3):
        v = rng.standard_normal(model.count_params())
        np.testing.assert_allclose(
            gauss_newton_vector_product(model, X, Y, v), model.hessian_vector_product(X, Y, v), rtol=1e-12
        )


# --- Fisher -------------------------------------------------------------------------------------


def per_row_gradient(model: Sequential, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.concatenate([g.ravel() for g in model.loss_and_gradients(x[None], y[None])[1]])


def true_fisher_by_expectation(model: Sequential, X: np.ndarray, loss_name: str) -> np.ndarray:
    """:math:`\\frac1m\\sum_r E_{y\\sim r(\\cdot|f_r)}[g_r g_r^\\top]` as a finite sum over targets."""
    P = model.predict(X)
    m, n = P.shape
    F = np.zeros((model.count_params(),) * 2)
    for x, p in zip(X, P, strict=True):
        if loss_name in ("cce", "cce_logits"):  # categorical: one term per class
            p = _act("softmax", p) if loss_name == "cce_logits" else p
            for c in range(n):
                g = per_row_gradient(model, x, np.eye(n)[c])
                F += p[c] * np.outer(g, g)
        elif loss_name == "bce":  # Bernoulli with one output
            for y, weight in ((1.0, p[0]), (0.0, 1 - p[0])):
                g = per_row_gradient(model, x, np.array([y]))
                F += weight * np.outer(g, g)
        else:  # Gaussian N(f, n/2 I): the gradient is linear in the noise e, so E[gg^T] = sum_k (n/2) g(e_k) g(e_k)^T
            for k in range(n):
                g = per_row_gradient(model, x, p + np.eye(n)[k])
                F += (n / 2) * np.outer(g, g)
    return F / m


@pytest.mark.parametrize("case", ["tanh_mse", "tanh_cce", "relu_cce_logits", "tanh_bce"])
def test_true_fisher_is_the_expectation_over_the_model_s_targets(case, rng):
    model, _, X, Y, loss_name, _ = make(case, rng)
    expected = true_fisher_by_expectation(model, X, loss_name)
    built = hessian_from_hvp(lambda v: fisher_vector_product(model, X, Y, v), model.count_params())
    np.testing.assert_allclose(built, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("case", list(CASES))
def test_empirical_fisher_is_the_mean_outer_product_of_per_row_gradients(case, rng):
    model, _, X, Y, *_ = make(case, rng, m=5)
    grads = np.array([per_row_gradient(model, x, y) for x, y in zip(X, Y, strict=True)])
    V = rng.standard_normal((model.count_params(), 3))
    expected = grads.T @ (grads @ V) / len(X)
    products = np.column_stack([fisher_vector_product(model, X, Y, v, kind="empirical") for v in V.T])
    np.testing.assert_allclose(products, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())


def test_empirical_fisher_differs_from_the_true_one(rng):
    model, _, X, Y, *_ = make("tanh_cce", rng, m=8)
    n = model.count_params()
    true = hessian_from_hvp(lambda v: fisher_vector_product(model, X, Y, v), n)
    empirical = hessian_from_hvp(lambda v: fisher_vector_product(model, X, Y, v, kind="empirical"), n)
    assert np.linalg.norm(true - empirical) > 0.1 * np.linalg.norm(true)


def test_empirical_fisher_on_sequences(rng):
    # X of shape (m, T, d): each of the m*T positions is a row of the loss
    model = Sequential([Dense(4, input_dim=3), Activation("tanh"), Dense(2)], seed=1)
    model.compile(optimizer="sgd", loss="mse")
    X, Y = rng.standard_normal((3, 4, 3)), rng.standard_normal((3, 4, 2))
    rows_X, rows_Y = X.reshape(-1, 3), Y.reshape(-1, 2)
    grads = np.array([per_row_gradient(model, x, y) for x, y in zip(rows_X, rows_Y, strict=True)])
    v = rng.standard_normal(model.count_params())
    np.testing.assert_allclose(
        fisher_vector_product(model, X, Y, v, kind="empirical"), grads.T @ (grads @ v) / len(rows_X), rtol=1e-10
    )
    np.testing.assert_allclose(
        gauss_newton_vector_product(model, X, Y, v), gauss_newton_vector_product(model, rows_X, rows_Y, v), rtol=1e-12
    )


# --- forms, dtype, state --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ggn", "true", "empirical"])
def test_list_and_flat_forms_agree_and_state_is_left_alone(kind, rng):
    model, _, X, Y, *_ = make("tanh_cce", rng)

    def product(V):
        if kind == "ggn":
            return gauss_newton_vector_product(model, X, Y, V)
        return fisher_vector_product(model, X, Y, V, kind=kind)

    weights = model.get_weights()
    model.loss_and_gradients(X, Y)
    grads = [g.copy() for layer in model.layers for g in layer.grads.values()]
    v = rng.standard_normal(model.count_params())
    flat = product(v)
    shapes = [w.shape for w in weights]
    pieces = np.split(v, np.cumsum([np.prod(s) for s in shapes])[:-1])
    listed = product([p.reshape(s) for p, s in zip(pieces, shapes, strict=True)])
    assert isinstance(listed, list)
    assert [a.shape for a in listed] == shapes
    np.testing.assert_array_equal(np.concatenate([a.ravel() for a in listed]), flat)
    for w, before in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(w, before)
    after = [g for layer in model.layers for g in layer.grads.values()]
    for g, before in zip(after, grads, strict=True):
        np.testing.assert_array_equal(g, before)


@pytest.mark.parametrize("kind", ["ggn", "true", "empirical"])
def test_float32_stays_float32(kind, rng):
    model64, _, X, Y, *_ = make("tanh_cce", rng)
    model32, *_ = make("tanh_cce", np.random.default_rng(SEED), dtype=np.float32)
    model32.set_flat_weights(model64.get_flat_weights())
    v = rng.standard_normal(model64.count_params())
    results = []
    for model, dtype in ((model64, np.float64), (model32, np.float32)):
        Xd, Yd, vd = X.astype(dtype), Y.astype(dtype), v.astype(dtype)
        if kind == "ggn":
            out = gauss_newton_vector_product(model, Xd, Yd, vd)
        else:
            out = fisher_vector_product(model, Xd, Yd, vd, kind=kind)
        assert isinstance(out, np.ndarray)
        assert out.dtype == dtype
        results.append(out)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-4, atol=1e-5 * np.abs(results[0]).max())


def test_unchecked_kernel_is_what_the_checked_functions_run(rng):
    model, _, X, Y, *_ = make("tanh_mse", rng)
    v = rng.standard_normal(model.count_params())
    shapes = [w.shape for w in model.trainable_weights]
    V = [p.reshape(s) for p, s in zip(np.split(v, np.cumsum([np.prod(s) for s in shapes])[:-1]), shapes, strict=True)]
    assert model.loss is not None
    np.testing.assert_array_equal(
        output_curvature_product(model.layers, model.loss, X, Y, V, "gauss_newton"),
        gauss_newton_vector_product(model, X, Y, v),
    )


def test_the_checked_products_run_no_plain_forward_pass(rng):
    # the batch is checked by Sequential.check_batch, not by evaluating the model: the only passes are the
    # product's own (r_call forward, backprop backward), so Dense.call never runs
    calls = []

    class CountingDense(Dense):
        def call(self, X):
            calls.append(X.shape)
            return super().call(X)

    model = Sequential([CountingDense(4, input_dim=3), Activation("tanh"), CountingDense(2)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    model.build()
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    v = rng.standard_normal(model.count_params())
    GV = gauss_newton_vector_product(model, X, Y, v)
    FV = fisher_vector_product(model, X, Y, v, kind="empirical")
    assert calls == []
    assert GV.shape == FV.shape == v.shape
    model.evaluate(X, Y, verbose=0)  # (the counter does count a plain forward pass)
    assert calls == [(5, 3), (5, 4)]


# --- refusals -------------------------------------------------------------------------------------


def test_true_fisher_is_refused_where_it_is_not_stated(rng):
    # binary cross-entropy with two outputs: a row's loss is half a log-likelihood, not one
    model = Sequential([Dense(2, input_dim=3), Activation("sigmoid")], seed=0)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model.build()
    X, Y = rng.standard_normal((4, 3)), rng.random((4, 2))
    with pytest.raises(TypeError, match="averages over the 2 outputs"):
        fisher_vector_product(model, X, Y, np.zeros(8))
    with pytest.raises(TypeError, match="averages over the 2 outputs"):
        check_fisher_support(model.layers, BinaryCrossentropy())
    model, _, X, Y, *_ = make("tanh_bce_probabilities", rng)  # probabilities that no sigmoid made
    with pytest.raises(TypeError, match="not the Fisher of its distribution"):
        fisher_vector_product(model, X, Y, np.zeros(model.count_params()))
    # categorical cross-entropy on probabilities that no softmax made
    model = Sequential([Dense(3, input_dim=2), Activation("sigmoid")], seed=0)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.build()
    with pytest.raises(TypeError, match="not the Fisher of its distribution"):
        fisher_vector_product(model, np.ones((2, 2)), np.eye(3)[:2], np.zeros(9))
    fisher_vector_product(model, np.ones((2, 2)), np.eye(3)[:2], np.zeros(9), kind="empirical")  # stated for any loss


def test_a_user_loss_has_no_stated_fisher(rng):
    class Quartic(MeanSquaredError):
        def value_and_grad_unchecked(self, Y, P):
            d = P - Y
            return float((d**4).mean()), 4 * d**3 / d.size

        def hessian_vector_unchecked(self, Y, P, RP):
            return 12 * (P - Y) ** 2 * RP / P.size

    model = Sequential([Dense(1, input_dim=2)], seed=0)
    model.compile(optimizer="sgd", loss=Quartic())
    model.build()
    X, Y = rng.standard_normal((4, 2)), rng.standard_normal((4, 1))
    with pytest.raises(TypeError, match="no likelihood is stated for Quartic"):
        fisher_vector_product(model, X, Y, np.zeros(3))
    gauss_newton_vector_product(model, X, Y, np.zeros(3))  # the Gauss-Newton product is defined


def test_bad_arguments_are_refused(rng):
    model, _, X, Y, *_ = make("tanh_mse", rng)
    n = model.count_params()
    with pytest.raises(ValueError, match="kind must be one of"):
        fisher_vector_product(model, X, Y, np.zeros(n), kind="exact")
    with pytest.raises(TypeError, match="model must be a Sequential"):
        gauss_newton_vector_product("model", X, Y, np.zeros(n))
    with pytest.raises(ValueError, match="V must be"):
        gauss_newton_vector_product(model, X, Y, np.zeros(n + 1))
    with pytest.raises(ValueError, match="Y has 2 columns"):
        gauss_newton_vector_product(model, X, Y[:, :2], np.zeros(n))
    with pytest.raises(ValueError, match="X"):
        gauss_newton_vector_product(model, X * np.nan, Y, np.zeros(n))
    uncompiled = Sequential([Dense(1, input_dim=2)])
    with pytest.raises(RuntimeError, match="compile"):
        gauss_newton_vector_product(uncompiled, np.ones((2, 2)), np.ones((2, 1)), np.zeros(3))
    unbuilt = Sequential([Dense(1, input_dim=2)])
    unbuilt.compile(optimizer="sgd", loss="mse")
    with pytest.raises(RuntimeError, match="build"):
        fisher_vector_product(unbuilt, np.ones((2, 2)), np.ones((2, 1)), np.zeros(3))
    assert not unbuilt.built


def test_a_bad_direction_is_refused_before_any_forward_pass(rng):
    model, _, X, Y, *_ = make("tanh_mse", rng)
    caches = [layer._cache for layer in model.layers]
    with pytest.raises(ValueError, match="V must be"):
        gauss_newton_vector_product(model, X[:2], Y[:2], np.zeros(3))
    assert all(layer._cache is cache for layer, cache in zip(model.layers, caches, strict=True))


def test_gauss_newton_through_normalization_attention_and_residual_layers(rng):
    # every layer's r_call leaves the caches its backprop reads, so the product runs through any stack;
    # J here comes from central differences of predict, so the tolerance is that of the differences
    attention = pytest.importorskip("mlmath.attention")
    normalization = pytest.importorskip("mlmath.normalization")
    residual = pytest.importorskip("mlmath.residual")
    model = Sequential(
        [
            attention.MultiHeadAttention(2, 3, seed=0),
            normalization.LayerNorm(),
            residual.Residual(Dense(6, input_dim=6), Activation("tanh")),
            Dense(2),
        ],
        seed=0,
    )
    model.compile(optimizer="sgd", loss="mse")
    model.build(6)
    X, Y = rng.standard_normal((3, 4, 6)), rng.standard_normal((3, 4, 2))
    theta = model.get_flat_weights() + 0.1 * rng.standard_normal(model.count_params())

    def output(t):
        model.set_flat_weights(t)
        return model.predict(X).ravel()

    J = jacobian(output, theta)
    model.set_flat_weights(theta)
    v = rng.standard_normal(theta.size)
    expected = J.T @ (J @ v) * 2 / Y.size
    np.testing.assert_allclose(gauss_newton_vector_product(model, X, Y, v), expected, rtol=1e-6, atol=1e-8)
