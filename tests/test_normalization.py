"""Tests of mlmath.normalization: LayerNorm and BatchNorm against their definitions, central differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from gradient_checks import check_layer_gradients, rel_err, split_like, stack_gradient

from mlmath import curvature
from mlmath.calculus import hvp, jacobian
from mlmath.layers import Activation, Dense, Layer
from mlmath.losses import MeanSquaredError
from mlmath.normalization import BatchNorm, LayerNorm

SEED = 8  # the shared rng fixture (conftest.py) draws from this seed
H = 1e-6
SHAPES = [(1, 1), (1, 4), (5, 3), (1, 1, 3), (3, 1, 4), (2, 5, 6)]  # batch 1 and T = 1 included
BATCH_SHAPES = [(2, 1), (5, 3), (2, 1, 3), (3, 4, 2)]  # at least two rows per feature for batch statistics
_DRAW = np.random.default_rng(2026)
RANDOM_SHAPES = [tuple(int(k) for k in _DRAW.integers(1, 7, size=ndim)) for ndim in (2, 3, 2, 3, 3, 3)]


def built(layer: Layer, n: int, rng: np.random.Generator, dtype: object = np.float64) -> Layer:
    """``layer`` built for width ``n`` with random ``gamma`` and ``beta`` (so neither is trivially 1 or 0)."""
    layer.build(n, dtype=dtype)
    for p in layer.params.values():
        p[...] = rng.normal(size=p.shape)
    return layer


def check_gradients(layer: Layer, X: np.ndarray, rng: np.random.Generator) -> None:
    """dX and every parameter's gradient of L = sum(G * A), G random, against central differences, to 1e-6 relative."""
    check_layer_gradients(layer, X, rng.normal(size=X.shape), h=H)


# --- LayerNorm -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_layernorm_forward_is_its_definition(shape, rng):
    layer = built(LayerNorm(), shape[-1], rng)
    X = 3.0 * rng.normal(size=shape) + 1.0
    mu = X.mean(axis=-1, keepdims=True)
    var = ((X - mu) ** 2).mean(axis=-1, keepdims=True)
    expected = layer.params["gamma"] * (X - mu) / np.sqrt(var + 1e-3) + layer.params["beta"]
    np.testing.assert_allclose(layer.forward(X), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_layernorm_gradients_match_central_differences(shape, rng):
    check_gradients(built(LayerNorm(), shape[-1], rng), rng.normal(size=shape), rng)


@pytest.mark.parametrize(("center", "scale"), [(False, True), (True, False), (False, False)])
def test_layernorm_without_shift_or_scale(center, scale, rng):
    layer = built(LayerNorm(center=center, scale=scale), 4, rng)
    assert sorted(layer.params) == sorted(k for k, on in (("beta", center), ("gamma", scale)) if on)
    assert layer.param_shapes(4) == dict.fromkeys(layer.params, (4,))
    assert LayerNorm(center=center, scale=scale).params_for_width(4) == 4 * (center + scale)
    check_gradients(layer, rng.normal(size=(3, 2, 4)), rng)


@pytest.mark.parametrize("n", [2, 3, 7])
def test_layernorm_jacobian_is_the_scaled_projection(n, rng):
    """J = (I - 11^T/n - x̂x̂^T/n)/σ: J 1 = 0, J symmetric, and J x̂ = x̂ ε/σ³ (zero up to ε)."""
    epsilon = 1e-3
    layer = LayerNorm(epsilon=epsilon)  # gamma = 1, beta = 0
    x = rng.normal(size=n)
    J = jacobian(lambda v: layer.forward(v[None, :])[0], x)
    mu, var = x.mean(), x.var()
    sigma = np.sqrt(var + epsilon)
    xhat = (x - mu) / sigma
    np.testing.assert_allclose(J @ np.ones(n), 0.0, atol=1e-8)
    np.testing.assert_allclose(J, J.T, atol=1e-8)
    np.testing.assert_allclose(J @ xhat, xhat * epsilon / sigma**3, atol=1e-8)
    expected = (np.eye(n) - np.ones((n, n)) / n - np.outer(xhat, xhat) / n) / sigma
    np.testing.assert_allclose(J, expected, atol=1e-8)


def test_layernorm_rows_do_not_interact(rng):
    layer = LayerNorm()
    X = rng.normal(size=(4, 5))
    A = layer.forward(X)
    X2 = X.copy()
    X2[0] += 10.0 * rng.normal(size=5)
    np.testing.assert_array_equal(layer.forward(X2)[1:], A[1:])


def test_layernorm_keeps_float32(rng):
    layer = built(LayerNorm(), 4, rng, np.float32)
    X = rng.normal(size=(3, 2, 4)).astype(np.float32)
    A = layer.forward(X)
    dX = layer.backward(np.ones_like(A))
    assert A.dtype == dX.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())
    np.testing.assert_allclose(A, built(LayerNorm(), 4, np.random.default_rng(SEED)).forward(X), rtol=1e-4, atol=1e-5)


def test_layernorm_output_shape_and_counts():
    layer = LayerNorm()
    assert layer.compute_output_dim(6) == 6
    assert layer.params_for_width(6) == 12
    assert layer.param_shapes(6) == {"gamma": (6,), "beta": (6,)}
    layer.build(6)
    np.testing.assert_array_equal(layer.params["gamma"], np.ones(6))
    np.testing.assert_array_equal(layer.params["beta"], np.zeros(6))
    assert layer.count_params() == 12
    assert layer.state == {}


@pytest.mark.parametrize("shape", RANDOM_SHAPES)
def test_gradients_over_random_shapes(shape, rng):
    n = shape[-1]
    check_gradients(built(LayerNorm(), n, rng), rng.normal(size=shape), rng)
    norm = built(BatchNorm(), n, rng)
    norm.training = int(np.prod(shape[:-1])) >= 2  # batch statistics need two rows
    check_gradients(norm, rng.normal(size=shape), rng)


@pytest.mark.parametrize("make", [LayerNorm, BatchNorm])
@pytest.mark.parametrize("training", [False, True])
def test_returned_arrays_survive_later_calls(make, training, rng):
    """The layers reuse their work arrays between calls, never the arrays they return."""
    layer = built(make(), 4, rng)
    layer.training = training
    X1, X2, G1, G2 = (rng.normal(size=(3, 2, 4)) for _ in range(4))
    A1 = layer.forward(X1)
    dX1 = layer.backward(G1)
    A1_copy, dX1_copy = A1.copy(), dX1.copy()
    layer.forward(X2)
    layer.backward(G2)
    np.testing.assert_array_equal(A1, A1_copy)
    np.testing.assert_array_equal(dX1, dX1_copy)
    layer.forward(X1)
    np.testing.assert_allclose(layer.backward(G1), dX1_copy, rtol=1e-14)


# --- BatchNorm ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", BATCH_SHAPES)
def test_batchnorm_training_forward_uses_the_batch_statistics(shape, rng):
    layer = built(BatchNorm(), shape[-1], rng)
    layer.training = True
    X = 2.0 * rng.normal(size=shape) - 1.0
    axes = tuple(range(X.ndim - 1))
    mu, var = X.mean(axis=axes), X.var(axis=axes)
    expected = layer.params["gamma"] * (X - mu) / np.sqrt(var + 1e-3) + layer.params["beta"]
    np.testing.assert_allclose(layer.forward(X), expected, rtol=1e-12, atol=1e-12)


def test_batchnorm_moving_statistics_follow_keras_update(rng):
    rho = 0.9
    layer = BatchNorm(momentum=rho)
    layer.training = True
    X1, X2 = rng.normal(size=(4, 3, 2)), 5.0 + 2.0 * rng.normal(size=(6, 3, 2))
    layer.forward(X1)
    layer.forward(X2)
    mean = [X.reshape(-1, 2).mean(axis=0) for X in (X1, X2)]
    var = [X.reshape(-1, 2).var(axis=0) for X in (X1, X2)]  # biased, as Keras
    np.testing.assert_allclose(layer.state["moving_mean"], rho * (1 - rho) * mean[0] + (1 - rho) * mean[1], rtol=1e-12)
    np.testing.assert_allclose(
        layer.state["moving_variance"], rho**2 + rho * (1 - rho) * var[0] + (1 - rho) * var[1], rtol=1e-12
    )


def test_batchnorm_inference_is_the_affine_map_of_the_moving_statistics(rng):
    layer = built(BatchNorm(), 3, rng)
    layer.state["moving_mean"][...] = rng.normal(size=3)
    layer.state["moving_variance"][...] = rng.uniform(0.5, 2.0, size=3)
    X1, X2 = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    mm, mv = layer.state["moving_mean"].copy(), layer.state["moving_variance"].copy()
    expected = layer.params["gamma"] * (X1 - mm) / np.sqrt(mv + 1e-3) + layer.params["beta"]
    np.testing.assert_allclose(layer.forward(X1), expected, rtol=1e-12)
    a = 0.3  # affine: the map of a combination with weights summing to 1 is the combination of the maps
    np.testing.assert_allclose(layer.forward(a * X1 + (1 - a) * X2), a * expected + (1 - a) * layer.forward(X2))
    np.testing.assert_array_equal(layer.state["moving_mean"], mm)  # inference never moves the statistics
    np.testing.assert_array_equal(layer.state["moving_variance"], mv)
    np.testing.assert_allclose(layer.forward(X1[:1]), expected[:1], rtol=1e-12)  # rows do not interact


def test_batchnorm_training_and_inference_differ_and_training_couples_rows(rng):
    layer = built(BatchNorm(), 3, rng)
    X = 4.0 + rng.normal(size=(6, 3))
    inference = layer.forward(X)
    layer.training = True
    training = layer.forward(X)
    assert np.max(np.abs(training - inference)) > 1.0
    moved = X.copy()
    moved[0] += 1.0
    assert np.max(np.abs(layer.forward(moved)[1:] - training[1:])) > 1e-3  # row 0 moved rows 1..5
    layer.training = False
    assert np.max(np.abs(layer.forward(moved)[1:] - layer.forward(X)[1:])) == 0.0


@pytest.mark.parametrize("shape", BATCH_SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradients_match_central_differences(shape, training, rng):
    layer = built(BatchNorm(), shape[-1], rng)
    layer.state["moving_mean"][...] = rng.normal(size=shape[-1])
    layer.state["moving_variance"][...] = rng.uniform(0.5, 2.0, size=shape[-1])
    layer.training = training
    check_gradients(layer, rng.normal(size=shape), rng)


def test_batchnorm_one_row_in_inference_mode(rng):
    layer = built(BatchNorm(), 4, rng)
    check_gradients(layer, rng.normal(size=(1, 1, 4)), rng)


def test_batchnorm_keeps_float32(rng):
    layer = built(BatchNorm(), 4, rng, np.float32)
    layer.training = True
    X = rng.normal(size=(3, 2, 4)).astype(np.float32)
    A = layer.forward(X)
    dX = layer.backward(np.ones_like(A))
    assert A.dtype == dX.dtype == np.float32
    assert all(a.dtype == np.float32 for a in (*layer.grads.values(), *layer.state.values()))


def test_batchnorm_state_and_counts():
    layer = BatchNorm(center=False)
    assert layer.params_for_width(5) == 5
    layer.build(5)
    assert list(layer.params) == ["gamma"]
    np.testing.assert_array_equal(layer.state["moving_mean"], np.zeros(5))
    np.testing.assert_array_equal(layer.state["moving_variance"], np.ones(5))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: LayerNorm(epsilon=0.0), "epsilon must be > 0"),
        (lambda: LayerNorm(epsilon=-1e-3), "epsilon must be > 0"),
        (lambda: BatchNorm(momentum=1.5), r"momentum must lie in \[0.0, 1.0\]"),
        (lambda: BatchNorm(momentum=-0.1), "momentum must lie in"),
        (lambda: LayerNorm(center="yes"), "center must be True or False"),
    ],
)
def test_bad_hyper_parameters_are_refused(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_forward_refuses_the_wrong_width(rng):
    layer = LayerNorm()
    layer.forward(rng.normal(size=(2, 3)))
    with pytest.raises(ValueError, match="X has 4 features, but LayerNormalization is expecting 3"):
        layer.forward(rng.normal(size=(2, 4)))


# --- R-operator rules, layer by layer ------------------------------------------------------------


HVP_CASES = [
    (shape, norm, first)
    for shape in [(5, 3), (2, 4, 3), (1, 1, 3)]
    for norm in ["layernorm", "batchnorm_training", "batchnorm_inference"]
    for first in [False, True]
    if norm != "batchnorm_training" or np.prod(shape[:-1]) >= 2  # batch statistics need two rows
]


@pytest.mark.parametrize(("shape", "norm", "first"), HVP_CASES)
def test_exact_hvp_through_a_normalization_layer_matches_differences(shape, norm, first, rng):
    """The layer inside a stack (R{X} from below) or first (R{X} = 0, no input gradient)."""
    layer: Layer = LayerNorm() if norm == "layernorm" else BatchNorm()
    layer.training = norm == "batchnorm_training"
    stack = [Dense(4, seed=1), Activation("tanh"), layer, Dense(2, seed=2)]
    if first:
        stack = [layer, Dense(4, seed=1), Activation("tanh"), Dense(2, seed=2)]
    n = shape[-1]
    width = n
    for lay in stack:
        lay.build(width, dtype=np.float64)
        width = lay.compute_output_dim(width)
    for p in layer.params.values():
        p[...] = rng.normal(size=p.shape)
    if isinstance(layer, BatchNorm):
        layer.state["moving_variance"][...] = rng.uniform(0.5, 2.0, size=layer.state["moving_variance"].shape)
    X, Y = rng.normal(size=shape), rng.normal(size=(*shape[:-1], 2))
    loss = MeanSquaredError()
    grad, theta = stack_gradient(stack, loss, X, Y)
    V = rng.normal(size=theta.size)
    numeric = hvp(grad, theta, V)
    grad(theta)
    exact = curvature.hessian_vector_product(stack, loss, X, Y, split_like(V, stack))
    assert rel_err(exact, numeric) < 1e-6


# --- the same numbers as PyTorch, when it is installed ---------------------------------------------


def check_against_torch(torch, layer: Layer, twin, X: np.ndarray, G: np.ndarray) -> None:
    """``twin`` (a torch module) given the layer's gamma and beta: output, dX, dgamma and dbeta of both equal."""
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(layer.params["gamma"]))
        twin.bias.copy_(torch.from_numpy(layer.params["beta"]))
    Xt = torch.from_numpy(X).requires_grad_(True)
    out = twin(Xt)
    out.backward(torch.from_numpy(G))
    np.testing.assert_allclose(layer.forward(X), out.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.backward(G), Xt.grad.numpy(), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(layer.grads["gamma"], twin.weight.grad.numpy(), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(layer.grads["beta"], twin.bias.grad.numpy(), rtol=1e-11, atol=1e-13)


def test_layernorm_matches_torch(rng):
    torch = pytest.importorskip("torch")
    layer = built(LayerNorm(epsilon=1e-5), 6, rng)  # PyTorch's default eps
    X, G = rng.normal(size=(3, 4, 6)), rng.normal(size=(3, 4, 6))
    check_against_torch(torch, layer, torch.nn.LayerNorm(6, eps=1e-5, dtype=torch.float64), X, G)


def test_batchnorm_matches_torch_with_the_documented_mapping(rng):
    """Training mode equal; PyTorch's momentum is 1 - rho and its running_var takes the unbiased variance."""
    torch = pytest.importorskip("torch")
    rho, N = 0.9, 10
    layer = built(BatchNorm(momentum=rho, epsilon=1e-5), 3, rng)
    layer.training = True
    X, G = 2.0 * rng.normal(size=(N, 3)) + 1.0, rng.normal(size=(N, 3))
    twin = torch.nn.BatchNorm1d(3, eps=1e-5, momentum=1 - rho, dtype=torch.float64)
    check_against_torch(torch, layer, twin, X, G)  # one training step of each: the statistics move once
    np.testing.assert_allclose(layer.state["moving_mean"], twin.running_mean.numpy(), rtol=1e-12)
    v = X.var(axis=0)
    np.testing.assert_allclose(layer.state["moving_variance"], rho + (1 - rho) * v, rtol=1e-12)
    np.testing.assert_allclose(twin.running_var.numpy(), rho + (1 - rho) * v * N / (N - 1), rtol=1e-12)
    layer.training = False  # inference: both use the moving statistics they hold
    with torch.no_grad():
        twin.running_var.copy_(torch.from_numpy(layer.state["moving_variance"]))
    twin.eval()
    np.testing.assert_allclose(layer.forward(X), twin(torch.from_numpy(X)).detach().numpy(), rtol=1e-12)


def test_keras_names_and_their_short_aliases():
    from mlmath import normalization

    assert normalization.LayerNorm is normalization.LayerNormalization
    assert normalization.BatchNorm is normalization.BatchNormalization
    assert repr(LayerNorm()) == "LayerNormalization(epsilon=0.001)"
    assert repr(BatchNorm(momentum=0.9)) == "BatchNormalization(momentum=0.9, epsilon=0.001)"
