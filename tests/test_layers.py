"""Tests of mlmath.layers: forward values, backward passes against central differences, init, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gradient_checks import check_layer_gradients, rel_err

from mlmath.calculus import gradient
from mlmath.layers import Activation, Dense, Layer

H = 1e-6


SEED = 11  # the shared rng fixture (conftest.py) draws from this seed


SHAPES = [(1, 1, 1), (4, 3, 2), (5, 2, 6)]  # (m, n_in, n_out)


# --- Dense ---------------------------------------------------------------------------------


def test_dense_forward_is_x_w_transpose_plus_b(rng):
    layer = Dense(3, seed=0)
    layer.build(4)
    layer.params["b"][:] = rng.normal(size=3)
    X = rng.normal(size=(2, 4))
    W, b = layer.params["W"], layer.params["b"]
    assert W.shape == (3, 4)
    expected = [[math.fsum(W[j, i] * X[k, i] for i in range(4)) + b[j] for j in range(3)] for k in range(2)]
    np.testing.assert_allclose(layer.forward(X), expected, rtol=1e-13)


@pytest.mark.parametrize(("m", "n_in", "n_out"), SHAPES)
def test_dense_backward_matches_central_differences(m, n_in, n_out, rng):
    layer = Dense(n_out, seed=1)
    layer.build(n_in)
    layer.params["b"][:] = rng.normal(size=n_out)
    X = rng.normal(size=(m, n_in))
    G = rng.normal(size=(m, n_out))  # upstream gradient: L = sum(G * Z)
    assert sorted(layer.params) == ["W", "b"]
    check_layer_gradients(layer, X, G, h=H)


def test_dense_backward_overwrites_grads(rng):
    layer = Dense(2, seed=0)
    X = rng.normal(size=(3, 4))
    G = rng.normal(size=(3, 2))
    layer.forward(X)
    layer.backward(G)
    first = {k: v.copy() for k, v in layer.grads.items()}
    layer.backward(G)
    for key in first:
        np.testing.assert_array_equal(layer.grads[key], first[key])
    np.testing.assert_allclose(layer.grads["W"], G.T @ X, rtol=1e-14)
    np.testing.assert_allclose(layer.grads["b"], G.sum(axis=0), rtol=1e-14)


def test_glorot_uniform_limit_and_spread():
    n_in, n_out = 300, 200
    layer = Dense(n_out, seed=3)
    layer.build(n_in)
    W = layer.params["W"]
    limit = math.sqrt(6 / (n_in + n_out))
    assert np.abs(W).max() <= limit
    assert np.abs(W).max() > 0.99 * limit
    # U(-l, l) has standard deviation l / sqrt(3); 60,000 draws pin it within 1 %
    assert W.std() == pytest.approx(limit / math.sqrt(3), rel=0.01)
    np.testing.assert_array_equal(layer.params["b"], np.zeros(n_out))


def test_he_uniform_and_constant_initializers():
    layer = Dense(50, kernel_initializer="he_uniform", bias_initializer="ones", seed=0)
    layer.build(60)
    limit = math.sqrt(6 / 60)
    assert np.abs(layer.params["W"]).max() <= limit
    assert np.abs(layer.params["W"]).max() > 0.95 * limit
    np.testing.assert_array_equal(layer.params["b"], np.ones(50))
    zeros = Dense(2, kernel_initializer="zeros")
    zeros.build(3)
    np.testing.assert_array_equal(zeros.params["W"], np.zeros((2, 3)))


def test_seed_and_rng_make_weights_reproducible():
    a, b = Dense(4, seed=5), Dense(4, seed=5)
    a.build(3, np.random.default_rng(0))
    b.build(3, np.random.default_rng(1))  # the layer's own seed wins over the rng given
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    c, d = Dense(4), Dense(4)
    c.build(3, np.random.default_rng(9))
    d.build(3, np.random.default_rng(9))
    np.testing.assert_array_equal(c.params["W"], d.params["W"])
    assert not np.array_equal(a.params["W"], c.params["W"])


def test_dense_float32_stays_float32(rng):
    layer = Dense(3, seed=0)
    X = rng.normal(size=(4, 2)).astype(np.float32)
    Z = layer.forward(X)  # builds from X: float32 parameters
    assert layer.params["W"].dtype == np.float32
    assert layer.params["b"].dtype == np.float32
    assert Z.dtype == np.float32
    assert layer.backward(np.ones((4, 3))).dtype == np.float32  # float64 dA is cast
    assert layer.grads["W"].dtype == np.float32
    # a float64 X given to a float32 layer is cast to float32
    assert layer.forward(X.astype(np.float64)).dtype == np.float32


def test_dense_shapes_and_counts():
    layer = Dense(64, input_dim=20)
    assert layer.output_shape == (None, 64)
    assert layer.output_dim == 64
    assert not layer.built
    layer.build(20)
    assert set(layer.params) == set(layer.grads) == {"W", "b"}
    assert layer.params["W"].shape == (64, 20)
    assert layer.params["b"].shape == (64,)
    assert layer.count_params() == 20 * 64 + 64
    assert repr(layer) == "Dense(64, input_dim=20)"


def test_layer_is_callable(rng):
    layer = Dense(2, seed=0)
    X = rng.normal(size=(3, 5))
    np.testing.assert_array_equal(layer(X), layer.forward(X))


# --- Activation ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "linear"])
@pytest.mark.parametrize(("m", "n"), [(1, 1), (3, 4)])
def test_activation_backward_matches_central_differences(name, m, n, rng):
    layer = Activation(name)
    Z = rng.normal(size=(m, n))
    Z = np.where(np.abs(Z) < 0.1, Z + 0.2, Z)  # keep off relu's kink
    G = rng.normal(size=(m, n))
    check_layer_gradients(layer, Z, G, h=H)
    assert layer.params == {}
    assert layer.count_params() == 0


def test_activation_output_shape_follows_input():
    layer = Activation("relu")
    assert layer.output_shape == (None, None)
    layer.build(7)
    assert layer.output_shape == (None, 7)
    assert repr(layer) == "Activation('relu')"


def test_dense_then_softmax_chain(rng, held_in_place):
    dense, soft = Dense(3, seed=2), Activation("softmax")
    X = rng.normal(size=(4, 5))
    G = rng.normal(size=(4, 3))

    def loss() -> float:
        return float(np.sum(G * soft.forward(dense.forward(X))))

    loss()
    dX = dense.backward(soft.backward(G))
    assert rel_err(dX, gradient(held_in_place(X, loss), X, h=H)) < 1e-6
    W = dense.params["W"]
    assert rel_err(dense.grads["W"].copy(), gradient(held_in_place(W, loss), W, h=H)) < 1e-6


# --- errors --------------------------------------------------------------------------------


def test_wrong_feature_count():
    layer = Dense(4, input_dim=20)
    with pytest.raises(ValueError, match=r"^X has 19 features, but Dense is expecting 20 features as input\.$"):
        layer.forward(np.zeros((2, 19)))
    layer.build(20)
    with pytest.raises(ValueError, match=r"^X has 3 features, but Dense is expecting 20 features as input\.$"):
        layer.forward(np.zeros((2, 3)))


def test_x_must_be_2d():
    with pytest.raises(ValueError, match=r"X must be a 2-D array of shape \(n_samples, n_features\).*reshape"):
        Dense(2).forward(np.zeros(3))


def test_x_must_be_finite():
    with pytest.raises(ValueError, match="X must hold only finite values"):
        Dense(2).forward(np.array([[np.nan, 1.0]]))


@pytest.mark.parametrize(
    ("kwargs", "exc", "pattern"),
    [
        ({"units": 0}, ValueError, r"units must be an integer >= 1; got 0"),
        ({"units": 2.5}, TypeError, r"units must be an integer >= 1; got float 2.5"),
        ({"units": True}, TypeError, r"units must be an integer"),
        ({"units": 2, "input_dim": 0}, ValueError, r"input_dim must be an integer >= 1"),
        ({"units": 2, "kernel_initializer": "orthogonal"}, ValueError, r"kernel_initializer must be one of 'glorot_u"),
        ({"units": 2, "bias_initializer": "glorot_uniform"}, ValueError, r"bias_initializer must be one of 'zeros'"),
        ({"units": 2, "seed": -1}, ValueError, r"seed must be an integer >= 0"),
        ({"units": 2, "name": 3}, TypeError, r"name must be a string"),
    ],
)
def test_dense_constructor_errors(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        Dense(**kwargs)


def test_build_errors():
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
        Dense(2).build(3, rng=0)
    with pytest.raises(TypeError, match="dtype must be float32 or float64; got float16"):
        Dense(2).build(3, dtype=np.float16)
    with pytest.raises(ValueError, match="n_in must be an integer >= 1"):
        Dense(2).build(0)


def test_backward_before_forward():
    layer = Dense(2)
    layer.build(3)
    with pytest.raises(RuntimeError, match=r"call Dense.forward\(X\) before backward\(dA\)"):
        layer.backward(np.zeros((1, 2)))


def test_backward_wrong_shape(rng):
    layer = Activation("tanh")
    layer.forward(rng.normal(size=(3, 2)))
    pattern = r"dA must have the shape of the last forward output, \(3, 2\); got shape \(2, 3\)"
    with pytest.raises(ValueError, match=pattern):
        layer.backward(np.zeros((2, 3)))


def test_unknown_activation():
    with pytest.raises(ValueError, match=r"activation must be one of .*; got 'gelu'"):
        Activation("gelu")


def test_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        Layer().forward(np.zeros((1, 1)))


# --- sequences: layers act on the last axis (position-wise) ----------------------------------


SEQUENCE_SHAPES = [(1, 1, 1, 1), (2, 3, 4, 2), (3, 5, 2, 3)]  # (m, T, n_in, n_out)


def test_dense_on_sequences_is_the_same_map_at_every_position(rng):
    layer = Dense(3, seed=0)
    layer.build(4)
    layer.params["b"][:] = rng.normal(size=3)
    X = rng.normal(size=(2, 5, 4))
    Z = layer.forward(X)
    assert Z.shape == (2, 5, 3)
    for t in range(5):
        np.testing.assert_allclose(Z[:, t], X[:, t] @ layer.params["W"].T + layer.params["b"], rtol=1e-13)


@pytest.mark.parametrize(("m", "T", "n_in", "n_out"), SEQUENCE_SHAPES)
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_on_sequences_backward_matches_central_differences(m, T, n_in, n_out, use_bias, rng):
    layer = Dense(n_out, seed=1, use_bias=use_bias)
    layer.build(n_in)
    for p in layer.params.values():
        p[...] = rng.normal(size=p.shape)
    X, G = rng.normal(size=(m, T, n_in)), rng.normal(size=(m, T, n_out))
    assert sorted(layer.params) == (["W", "b"] if use_bias else ["W"])
    check_layer_gradients(layer, X, G, h=H)
    # dW sums the per-position outer products over samples and positions
    expected = sum(G[:, t].T @ X[:, t] for t in range(T))
    np.testing.assert_allclose(layer.grads["W"], expected, rtol=1e-12)


@pytest.mark.parametrize("k", [1, 2])
def test_dense_r_operator_on_sequences_equals_the_stacked_rows(k, rng):
    """The R-rules on (k, m, T, n) give what they give on the rows stacked as (k, m T, n)."""
    seq, rows = Dense(3, seed=0), Dense(3, seed=0)
    seq.build(4)
    rows.build(4)
    V = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=3)}
    XX = rng.normal(size=(k, 2, 5, 4))
    ZZ = seq.r_call(XX, V)
    assert ZZ.shape == (2, 2, 5, 3)
    np.testing.assert_allclose(ZZ.reshape(2, 10, 3), rows.r_call(XX.reshape(k, 10, 4), V), rtol=1e-13)
    GG = rng.normal(size=(2, 2, 5, 3))
    out_seq, out_rows = ({key: np.empty_like(p) for key, p in seq.params.items()} for _ in range(2))
    DD = seq.r_backprop(GG.copy(), V, True, out_seq)
    assert DD.shape == (2, 2, 5, 4)
    np.testing.assert_allclose(DD.reshape(2, 10, 4), rows.r_backprop(GG.reshape(2, 10, 3), V, True, out_rows))
    for key in out_seq:
        np.testing.assert_allclose(out_seq[key], out_rows[key], rtol=1e-13)


def test_dense_without_bias(rng):
    layer = Dense(2, input_dim=3, use_bias=False, seed=0)
    assert layer.params_for_width(3) == 6
    assert layer.param_shapes(3) == {"W": (2, 3)}
    X = rng.normal(size=(4, 3))
    np.testing.assert_allclose(layer.forward(X), X @ layer.params["W"].T, rtol=1e-14)
    assert repr(layer) == "Dense(2, input_dim=3, use_bias=False)"
    with pytest.raises(TypeError, match="use_bias must be True or False"):
        Dense(2, use_bias="no")


@pytest.mark.parametrize("name", ["relu", "tanh", "softmax", "log_softmax"])
def test_activation_on_sequences_matches_central_differences(name, rng):
    layer = Activation(name)
    Z, G = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    A = layer.forward(Z)
    if name == "softmax":
        np.testing.assert_allclose(A.sum(axis=-1), 1.0, rtol=1e-14)  # along the last axis, per position
    check_layer_gradients(layer, Z, G, h=H)


def test_x_must_be_2d_or_3d():
    with pytest.raises(ValueError, match=r"X must be a 2-D array .* or a 3-D array .*; got a 4-D array"):
        Dense(2).forward(np.zeros((1, 1, 2, 3)))
    with pytest.raises(ValueError, match=r"X must hold at least one sample of at least one position"):
        Dense(2).forward(np.zeros((2, 0, 3)))
    layer = Dense(2)
    layer.forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"dA must have the shape of the last forward output, \(2, 3, 2\)"):
        layer.backward(np.zeros((2, 2)))


# --- Keras's names: the layers of the other modules, importable from mlmath.layers ---------------


def test_the_other_modules_layers_import_from_mlmath_layers_lazily():
    import subprocess
    import sys

    import mlmath.attention
    import mlmath.normalization
    import mlmath.positional
    import mlmath.residual
    from mlmath.layers import (
        BatchNorm,
        BatchNormalization,
        LayerNorm,
        LayerNormalization,
        MultiHeadAttention,
        PositionEmbedding,
        Residual,
        SinusoidalPositionEncoding,
    )

    assert LayerNormalization is LayerNorm is mlmath.normalization.LayerNormalization  # an alias, not a subclass
    assert BatchNormalization is BatchNorm is mlmath.normalization.BatchNormalization
    assert MultiHeadAttention is mlmath.attention.MultiHeadAttention
    assert Residual is mlmath.residual.Residual
    assert PositionEmbedding is mlmath.positional.PositionEmbedding
    assert SinusoidalPositionEncoding is mlmath.positional.SinusoidalPositionEncoding
    import mlmath.layers

    assert {"LayerNormalization", "MultiHeadAttention", "Residual"} <= set(dir(mlmath.layers))
    with pytest.raises(AttributeError, match=r"module 'mlmath\.layers' has no attribute 'Conv2D'"):
        mlmath.layers.Conv2D  # noqa: B018
    # in a fresh interpreter, importing the module loads none of the others until a name is asked for
    code = (
        "import sys, mlmath.layers as L; before = {m for m in sys.modules if m.startswith('mlmath.')}; "
        "L.MultiHeadAttention; after = {m for m in sys.modules if m.startswith('mlmath.')}; "
        "print(sorted(before & {'mlmath.attention', 'mlmath.normalization', 'mlmath.residual', "
        "'mlmath.positional', 'mlmath.models'}), 'mlmath.attention' in after)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "True"]


def test_default_name_is_keras_snake_case():
    from mlmath.layers import LayerNorm, MultiHeadAttention, SinusoidalPositionEncoding, default_name

    class Conv2D(Layer):  # Keras's own examples of its rule: a digit stays with its word
        pass

    class SimpleRNN(Layer):
        pass

    class LSTM(Layer):
        pass

    cases = {
        Dense(2): "dense",
        Activation("relu"): "activation",
        MultiHeadAttention(2, 3): "multi_head_attention",
        LayerNorm(): "layer_normalization",  # the alias names its class
        SinusoidalPositionEncoding(): "sinusoidal_position_encoding",
        Conv2D(): "conv2d",
        SimpleRNN(): "simple_rnn",
        LSTM(): "lstm",
    }
    for layer, expected in cases.items():
        assert default_name(layer) == expected
    assert default_name(Dense(2), ["dense", "dense_1", "dense_3"]) == "dense_2"
    with pytest.raises(TypeError, match="layer must be a layer such as Dense"):
        default_name("dense")
    with pytest.raises(TypeError, match="taken must be a collection of layer names"):
        default_name(Dense(2), "dense")
