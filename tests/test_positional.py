"""Tests of mlmath.positional: the sinusoidal encoding and the two position layers.

References: the encoding entry by entry from its defining formula with ``math.sin``/``math.cos``;
the rotation property it was designed for; central differences (``mlmath.calculus``) for every
gradient. The R-operator rules of both layers are checked inside a stack with attention, against
differences of the gradient, in ``tests/test_attention.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from gradient_checks import rel_err

from mlmath.calculus import gradient
from mlmath.positional import PositionEmbedding, SinusoidalPositionEncoding, sinusoidal_encoding

SEED = 15  # the shared rng fixture (conftest.py) draws from this seed


@pytest.mark.parametrize(("T", "d"), [(1, 1), (5, 4), (7, 9)])
def test_encoding_is_the_formula_entry_by_entry(T, d):
    PE = sinusoidal_encoding(T, d)
    assert PE.shape == (T, d)
    for t in range(T):
        for j in range(d):
            k = j // 2
            angle = t / 10000 ** (2 * k / d)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert PE[t, j] == pytest.approx(expected, rel=1e-13, abs=1e-15)


def test_a_shift_is_a_rotation_of_each_pair_of_columns():
    """PE[t + s] = R(s) PE[t], R(s) block-diagonal with 2x2 rotations by s * omega_k (Vaswani et al., 2017)."""
    T, d, s = 20, 8, 3
    PE = sinusoidal_encoding(T, d, max_wavelength=100.0)
    R = np.zeros((d, d))
    for k in range(d // 2):
        a = s / 100.0 ** (2 * k / d)
        # (sin, cos) of t + s from (sin, cos) of t: the angle-addition formulas
        R[2 * k : 2 * k + 2, 2 * k : 2 * k + 2] = [[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]]
    np.testing.assert_allclose(PE[s:], PE[:-s] @ R.T, rtol=1e-12, atol=1e-12)


def test_encoding_dtype_and_errors():
    assert sinusoidal_encoding(3, 2, dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="T must be an integer >= 1; got 0"):
        sinusoidal_encoding(0, 2)
    with pytest.raises(ValueError, match="max_wavelength must be > 0"):
        sinusoidal_encoding(2, 2, max_wavelength=0.0)


def test_sinusoidal_layer_adds_the_encoding_and_passes_gradients_through(rng):
    layer = SinusoidalPositionEncoding()
    X = rng.normal(size=(3, 5, 4))
    np.testing.assert_array_equal(layer.forward(X), X + sinusoidal_encoding(5, 4))
    G = rng.normal(size=X.shape)
    np.testing.assert_array_equal(layer.backward(G), G)
    assert layer.count_params() == 0
    assert SinusoidalPositionEncoding().forward(X.astype(np.float32)).dtype == np.float32  # built for float32
    with pytest.raises(ValueError, match=r"X must be a 3-D array of shape \(m, T, d\) for SinusoidalPositionEncoding"):
        layer.forward(np.ones((2, 4)))


@pytest.mark.parametrize(("m", "T", "max_length", "d"), [(1, 1, 1, 1), (2, 3, 5, 4), (3, 5, 5, 2)])
def test_position_embedding_gradients_match_central_differences(m, T, max_length, d, rng, held_in_place):
    layer = PositionEmbedding(max_length, seed=0)
    layer.build(d)
    X, G = rng.normal(size=(m, T, d)), rng.normal(size=(m, T, d))

    def loss() -> float:
        return float(np.sum(G * np.tanh(layer.forward(X))))  # a curved loss, so the check is not trivial

    def dloss() -> np.ndarray:
        return G * (1 - np.tanh(layer.forward(X)) ** 2)

    dX = layer.backward(dloss())
    assert rel_err(dX, gradient(held_in_place(X, loss), X)) < 1e-6
    E = layer.params["E"]
    assert rel_err(layer.grads["E"], gradient(held_in_place(E, loss), E)) < 1e-6
    assert np.all(layer.grads["E"][T:] == 0.0)  # positions the batch does not reach


def test_position_embedding_forward_init_and_errors(rng):
    layer = PositionEmbedding(4, seed=0)
    X = rng.normal(size=(2, 3, 5))
    np.testing.assert_array_equal(layer.forward(X), X + layer.params["E"][:3])
    assert layer.params["E"].shape == (4, 5)
    assert np.abs(layer.params["E"]).max() <= math.sqrt(6 / (4 + 5))  # glorot, keras-hub's default
    assert layer.count_params() == 20
    assert layer.params_for_width(5) == 20
    assert layer.param_shapes(5) == {"E": (4, 5)}
    with pytest.raises(ValueError, match=r"X has sequences of length 6, but PositionEmbedding\(max_length=4\)"):
        layer.forward(np.ones((1, 6, 5)))
    with pytest.raises(ValueError, match="max_length must be an integer >= 1"):
        PositionEmbedding(0)
    with pytest.raises(ValueError, match="initializer must be one of"):
        PositionEmbedding(3, initializer="orthogonal")
    f32 = PositionEmbedding(4, seed=0)
    out = f32.forward(X.astype(np.float32))
    assert out.dtype == np.float32
    assert f32.backward(np.ones_like(out)).dtype == np.float32
