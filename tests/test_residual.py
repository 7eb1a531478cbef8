"""Tests of mlmath.residual: Y = X + F(X), its gradients, its parameters inside a model, its exact HVP."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from gradient_checks import check_layer_gradients, model_gradient, rel_err

from mlmath._flat import flatten, split_flat
from mlmath.calculus import hvp
from mlmath.layers import Activation, Dense, Layer
from mlmath.models import Sequential
from mlmath.normalization import BatchNorm, LayerNorm
from mlmath.residual import Residual

SEED = 9  # the shared rng fixture (conftest.py) draws from this seed


def test_forward_is_x_plus_f_of_x(rng):
    W, b = rng.normal(size=(3, 3)), rng.normal(size=3)
    block = Residual(Dense(3), Activation("tanh"))
    block.build(3)
    block.params["dense/W"][...] = W
    block.params["dense/b"][...] = b
    X = rng.normal(size=(4, 2, 3))
    np.testing.assert_allclose(block.forward(X), X + np.tanh(X @ W.T + b), rtol=1e-13)


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (1, 1, 4), (3, 1, 2), (2, 5, 3)])
@pytest.mark.parametrize("nested", [False, True])
def test_gradients_match_central_differences(shape, nested, rng):
    n = shape[-1]
    inner = Residual(Dense(4, seed=1), Activation("tanh"), Dense(n, seed=2))
    block = Residual(inner, LayerNorm()) if nested else inner
    block.build(n)
    for p in block.params.values():
        p[...] = rng.normal(size=p.shape)
    X, G = rng.normal(size=shape), rng.normal(size=shape)
    # the default step (about 6e-6 here): a LayerNorm of width 2 leaves gradients of 1e-4, which
    # the rounding noise of a 1e-6 step (about 1e-10) would blur at the 1e-6 level
    check_layer_gradients(block, X, G)


def test_jacobian_is_identity_plus_that_of_f(rng):
    """With F = Dense (no activation), dX = dY (I + W) = dY + dY W."""
    block = Residual(Dense(3, seed=0))
    X, G = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    block.forward(X)
    W = block.params["dense/W"]
    np.testing.assert_allclose(block.backward(G), G @ (np.eye(3) + W), rtol=1e-13)


def test_parameters_are_the_inner_layers_arrays_under_prefixed_names():
    dense, norm = Dense(3, seed=0), LayerNorm()
    block = Residual(dense, norm)
    assert (dense.name, norm.name) == ("dense", "layer_normalization")
    block.build(3)
    assert list(block.params) == ["dense/W", "dense/b", "layer_normalization/gamma", "layer_normalization/beta"]
    assert block.params["dense/W"] is dense.params["W"]
    assert block.grads["layer_normalization/beta"] is norm.grads["beta"]
    assert block.param_shapes(3) == {
        "dense/W": (3, 3),
        "dense/b": (3,),
        "layer_normalization/gamma": (3,),
        "layer_normalization/beta": (3,),
    }
    assert Residual(Dense(3), LayerNorm()).param_shapes(3) == block.param_shapes(3)  # known before the build
    assert Residual(Dense(3), LayerNorm()).params_for_width(3) == 12 + 6


def test_inside_a_model_the_inner_layers_read_the_models_buffer(rng):
    block = Residual(Dense(3, seed=0), Activation("relu"), Dense(3, seed=1))
    model = Sequential([Dense(3, input_dim=2), block, Dense(1)], seed=0)
    model.build()
    assert model.weight_names[2:6] == [
        "residual/dense/W",
        "residual/dense/b",
        "residual/dense_1/W",
        "residual/dense_1/b",
    ]
    theta = rng.normal(size=model.count_params())
    model.set_flat_weights(theta)
    np.testing.assert_array_equal(block.layers[0].params["W"].ravel(), theta[9:18])  # through the views
    assert block.layers[0].params["W"] is block.params["dense/W"]
    clone = copy.deepcopy(model)
    clone.set_flat_weights(np.zeros_like(theta))
    assert np.all(clone.layers[1].layers[0].params["W"] == 0)
    np.testing.assert_array_equal(block.layers[0].params["W"].ravel(), theta[9:18])  # the original is untouched
    restored = pickle.loads(pickle.dumps(model))
    X = rng.normal(size=(4, 2))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


def test_training_mode_and_state_reach_the_inner_layers(rng):
    norm = BatchNorm()
    inner = Residual(Dense(2, seed=0), norm)
    block = Residual(inner)
    block.build(2)
    block.training = True
    assert inner.training
    assert norm.training
    key = "residual/batch_normalization/moving_mean"
    assert list(block.state) == [key, "residual/batch_normalization/moving_variance"]
    assert block.state[key] is norm.state["moving_mean"]
    block.forward(rng.normal(size=(5, 2)) + 3.0)
    assert np.all(block.state[key] != 0)  # updated in place, seen through the block
    block.training = False
    assert not norm.training


def test_f_must_keep_the_width():
    block = Residual(Dense(3), Activation("relu"))
    with pytest.raises(ValueError, match=r"F must keep the width; its layers map 4 → 3 → 3 features.*Dense\(4\)"):
        block.build(4)
    model = Sequential([Dense(4, input_dim=2), Residual(Dense(3))])
    with pytest.raises(ValueError, match="F must keep the width"):
        model.build()
    assert not model.built


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: Residual(), ValueError, "at least one layer"),
        (lambda: Residual(Dense(2), "relu"), TypeError, r"layers\[1\] must be a layer"),
        (lambda: Residual(*[Dense(2)] * 2), ValueError, r"layers\[1\] is the same layer"),
        (lambda: Residual(Dense(2, name="a"), Dense(2, name="a")), ValueError, "names must differ"),
        (lambda: Residual(Dense(2), name=3), TypeError, "name must be a string or None"),
    ],
)
def test_bad_construction_is_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


class _NoRule(Layer):
    def compute_output_dim(self, n_in: int) -> int:
        return n_in

    def call(self, X: np.ndarray) -> np.ndarray:
        self._cache = (X,)
        return X


def test_hvp_support_is_that_of_the_inner_layers():
    assert Residual(Dense(2), LayerNorm()).hvp_unsupported_reason() is None
    reason = Residual(Dense(2), _NoRule(), name="block").hvp_unsupported_reason()
    assert reason == "inside block: _NoRule has no R-operator (r_call and r_backprop)"


def _brief_model(k: int, seed: int) -> Sequential:
    """Dense → LayerNorm → relu → Residual(Dense, tanh, Dense) → Dense → softmax."""
    return Sequential(
        [
            Dense(6),
            LayerNorm(),
            Activation("relu"),
            Residual(Dense(5), Activation("tanh"), Dense(6)),
            Dense(k),
            Activation("softmax"),
        ],
        seed=seed,
    )


@pytest.mark.parametrize("shape", [(7, 4), (3, 5, 4), (1, 1, 4)])
def test_exact_hvp_of_a_model_with_norm_and_residual_matches_differences(shape, rng):
    k = 3
    model = _brief_model(k, seed=1)
    model.compile("sgd", "categorical_crossentropy")
    X = rng.normal(size=shape)
    Y = np.eye(k)[rng.integers(0, k, size=shape[:-1])]
    model.build(shape[-1])
    theta = model.get_flat_weights() + 0.3 * rng.normal(size=model.count_params())  # gamma, beta off 1, 0
    V = rng.normal(size=theta.size)
    numeric = hvp(model_gradient(model, X, Y), theta, V)
    model.set_flat_weights(theta)
    exact = model.hessian_vector_product(X, Y, V)
    assert rel_err(exact, numeric) < 1e-6
    listed = model.hessian_vector_product(X, Y, split_flat(V, [p.shape for p in model.trainable_weights]))
    np.testing.assert_array_equal(flatten(listed), exact)
