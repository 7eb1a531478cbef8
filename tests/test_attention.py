"""Tests of mlmath.attention: scaled dot-product attention, its VJP, masks, and the MultiHeadAttention layer.

References are independent of the code under test: attention written out entry by entry with
``math.exp`` and ``math.fsum``; central differences (``mlmath.calculus``) of the loss
:math:`L = \\sum G \\odot Y` for every gradient; central differences of the gradient for the
R-operator and the exact Hessian-vector product; and PyTorch's ``scaled_dot_product_attention`` and
``nn.MultiheadAttention`` with the same weights, when torch is installed.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from gradient_checks import check_layer_gradients, model_gradient, rel_err, split_like, stack_gradient

from mlmath.attention import (
    MultiHeadAttention,
    causal_mask,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)
from mlmath.calculus import gradient, hvp
from mlmath.curvature import hessian_vector_product
from mlmath.layers import Activation, Dense, Layer
from mlmath.losses import MeanSquaredError
from mlmath.positional import PositionEmbedding, SinusoidalPositionEncoding

SEED = 14  # the shared rng fixture (conftest.py) draws from this seed


def naive_attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """One query and one key at a time, in plain Python: the definition, independently of numpy's kernels."""
    T_q, d_k = Q.shape
    T_k = K.shape[0]
    O = np.zeros((T_q, V.shape[1]))
    for i in range(T_q):
        keys = [j for j in range(T_k) if mask is None or mask[i, j]]
        s = {j: math.fsum(Q[i, c] * K[j, c] for c in range(d_k)) / math.sqrt(d_k) for j in keys}
        top = max(s.values())
        w = {j: math.exp(s[j] - top) for j in keys}
        total = math.fsum(w.values())
        for c in range(V.shape[1]):
            O[i, c] = math.fsum(w[j] / total * V[j, c] for j in keys)
    return O


def random_layer(rng: np.random.Generator, d: int, scale: float = 0.5, **kwargs: object) -> MultiHeadAttention:
    """A built layer with every parameter random (biases too), so that no gradient is trivially 0."""
    layer = MultiHeadAttention(seed=0, **kwargs)  # type: ignore[arg-type]
    layer.build(d)
    for p in layer.params.values():
        p[...] = scale * rng.normal(size=p.shape)
    return layer


# --- the function and its VJP ------------------------------------------------------------------


@pytest.mark.parametrize("masked", [False, True])
def test_attention_matches_the_definition_entry_by_entry(masked, rng):
    Q, K, V = rng.normal(size=(4, 3)), rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    mask = rng.random((4, 5)) < 0.5 if masked else None
    if mask is not None:
        mask[:, 2] = True  # every query attends somewhere
    O, A = scaled_dot_product_attention(Q, K, V, mask)
    np.testing.assert_allclose(O, naive_attention(Q, K, V, mask), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(A.sum(axis=-1), 1.0, rtol=1e-14)
    assert O.shape == (4, 2)
    assert A.shape == (4, 5)


@pytest.mark.parametrize(
    ("lead", "T_q", "T_k", "d_k", "d_v"), [((), 1, 1, 1, 1), ((2,), 3, 4, 2, 3), ((2, 3), 4, 2, 5, 1)]
)
@pytest.mark.parametrize("masked", [False, True])
def test_attention_vjp_matches_central_differences(lead, T_q, T_k, d_k, d_v, masked, rng):
    Q, K = rng.normal(size=(*lead, T_q, d_k)), rng.normal(size=(*lead, T_k, d_k))
    V, G = rng.normal(size=(*lead, T_k, d_v)), rng.normal(size=(*lead, T_q, d_v))
    mask = None
    if masked:
        mask = rng.random((T_q, T_k)) < 0.5
        mask[:, 0] = True
    _, A = scaled_dot_product_attention(Q, K, V, mask)
    dQ, dK, dV = scaled_dot_product_attention_backward(G, Q, K, V, A)
    arrays = {"Q": Q, "K": K, "V": V}
    for name, analytic in zip(arrays, (dQ, dK, dV), strict=True):

        def loss(x: np.ndarray, name: str = name) -> float:
            args = {**arrays, name: x}
            return float(np.sum(G * scaled_dot_product_attention(args["Q"], args["K"], args["V"], mask)[0]))

        assert analytic.shape == arrays[name].shape
        assert rel_err(analytic, gradient(loss, arrays[name])) < 1e-8, name


def test_masked_weights_and_their_gradients_are_exactly_zero(rng):
    T = 5
    Q, K, V = rng.normal(size=(2, T, 3)), rng.normal(size=(2, T, 3)), rng.normal(size=(2, T, 4))
    padding = np.array([True, True, True, False, False])  # the last two keys are padding
    mask = causal_mask(T) & padding  # broadcast: every query, and the padding of every sequence
    mask[:, 0] = True
    O, A = scaled_dot_product_attention(Q, K, V, np.broadcast_to(mask, (2, T, T)))
    assert np.all(A[..., ~mask] == 0.0)
    _, dK, dV = scaled_dot_product_attention_backward(rng.normal(size=O.shape), Q, K, V, A)
    assert np.all(dK[:, 3:] == 0.0)  # no query sees the padding
    assert np.all(dV[:, 3:] == 0.0)
    # changing what a masked key or value holds changes nothing, not even in the last bit
    K2, V2 = K.copy(), V.copy()
    K2[:, 3:] = 1e3 * rng.normal(size=(2, 2, 3))
    V2[:, 3:] = 1e3 * rng.normal(size=(2, 2, 4))
    O2, A2 = scaled_dot_product_attention(Q, K2, V2, mask)
    np.testing.assert_array_equal(O2, O)
    np.testing.assert_array_equal(A2, A)


def test_causal_mask_is_lower_triangular():
    M = causal_mask(4)
    assert M.dtype == bool
    assert M.shape == (4, 4)
    assert all(M[i, j] == (j <= i) for i in range(4) for j in range(4))


def test_a_query_with_no_key_is_refused(rng):
    Q, K, V = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    mask = np.ones((3, 3), dtype=bool)
    mask[1] = False
    with pytest.raises(ValueError, match=r"mask leaves a query with no key to attend to \(row \(1,\)"):
        scaled_dot_product_attention(Q, K, V, mask)
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        scaled_dot_product_attention(Q, K, V, mask.astype(float))
    with pytest.raises(ValueError, match=r"mask must broadcast to the scores' shape \(3, 3\)"):
        scaled_dot_product_attention(Q, K, V, np.ones((2, 3), dtype=bool))


@pytest.mark.parametrize(
    ("shapes", "pattern"),
    [
        (((3, 2), (3, 4), (3, 2)), r"K must have d_k = 2 columns, like Q; got shape \(3, 4\)"),
        (((3, 2), (3, 2), (4, 2)), r"V must have T_k = 3 rows, one per key of K"),
        (((2, 3, 2), (3, 3, 2), (3, 3, 2)), r"K must have the leading axes of Q, \(2,\)"),
        (((3,), (3, 2), (3, 2)), r"Q must have shape \(\.\.\., T_q, d_k\), at least 2-D"),
    ],
)
def test_mismatched_shapes_are_refused(shapes, pattern):
    with pytest.raises(ValueError, match=pattern):
        scaled_dot_product_attention(*(np.ones(s) for s in shapes))


def test_attention_keeps_float32(rng):
    Q, K, V = (rng.normal(size=(2, 3, 4)).astype(np.float32) for _ in range(3))
    O, A = scaled_dot_product_attention(Q, K, V, causal_mask(3))
    assert O.dtype == A.dtype == np.float32
    assert all(g.dtype == np.float32 for g in scaled_dot_product_attention_backward(np.ones_like(O), Q, K, V, A))


def test_scaling_keeps_the_scores_variance_at_one(rng):
    """For independent unit-variance entries, q.k has variance d_k; divided by sqrt(d_k), 1 (chapter 8)."""
    d_k = 256
    Q, K = rng.normal(size=(4000, d_k)), rng.normal(size=(4000, d_k))
    scores = np.einsum("ij,ij->i", Q, K)
    assert abs(scores.var() / d_k - 1) < 0.1
    assert abs((scores / math.sqrt(d_k)).var() - 1) < 0.1


# --- the layer -----------------------------------------------------------------------------


LAYER_CASES = [  # m, T, d, heads, key_dim, value_dim, causal, use_bias
    (1, 1, 1, 1, 1, None, False, True),
    (1, 4, 3, 1, 2, None, True, True),
    (2, 3, 4, 2, 3, 1, False, True),
    (3, 5, 6, 3, 2, 4, True, False),
]


@pytest.mark.parametrize(("m", "T", "d", "heads", "key_dim", "value_dim", "causal", "use_bias"), LAYER_CASES)
def test_layer_gradients_match_central_differences(m, T, d, heads, key_dim, value_dim, causal, use_bias, rng):
    layer = random_layer(
        rng, d, num_heads=heads, key_dim=key_dim, value_dim=value_dim, causal=causal, use_bias=use_bias
    )
    X, G = rng.normal(size=(m, T, d)), rng.normal(size=(m, T, d))
    assert sorted(layer.params) == sorted(["W_qkv", "W_o"] + (["b_qkv", "b_o"] if use_bias else []))
    check_layer_gradients(layer, X, G)


def test_layer_equals_the_attention_of_its_projections(rng):
    """Y = [O_1 ... O_H] W_o^T + b_o with O_h = attention(X W_q,h^T + b_q,h, ...), head by head."""
    H, dk, dv, d = 2, 3, 2, 5
    layer = random_layer(rng, d, num_heads=H, key_dim=dk, value_dim=dv, causal=True)
    X = rng.normal(size=(2, 4, d))
    Y = layer.forward(X)
    W, b = layer.params["W_qkv"], layer.params["b_qkv"]
    heads = []
    for h in range(H):
        rows = [
            np.arange(start + h * size, start + (h + 1) * size)
            for start, size in ((0, dk), (H * dk, dk), (2 * H * dk, dv))
        ]
        Q, K, V = (X @ W[r].T + b[r] for r in rows)
        heads.append(np.stack([naive_attention(Q[k], K[k], V[k], causal_mask(4)) for k in range(2)]))
    expected = np.concatenate(heads, axis=-1) @ layer.params["W_o"].T + layer.params["b_o"]
    np.testing.assert_allclose(Y, expected, rtol=1e-12, atol=1e-14)


def test_causal_layer_never_looks_ahead(rng):
    layer = random_layer(rng, 4, num_heads=2, key_dim=2, causal=True)
    X = rng.normal(size=(2, 6, 4))
    Y = layer.forward(X)
    later = X.copy()
    later[:, 3:] = rng.normal(size=(2, 3, 4))
    np.testing.assert_array_equal(layer.forward(later)[:, :3], Y[:, :3])
    G = np.zeros_like(Y)
    G[:, :3] = rng.normal(size=(2, 3, 4))  # a loss on the first three positions only
    layer.forward(X)
    assert np.all(layer.backward(G)[:, 3:] == 0.0)


def test_attention_without_positions_is_permutation_equivariant(rng):
    layer = random_layer(rng, 4, num_heads=2, key_dim=3)
    X = rng.normal(size=(2, 5, 4))
    perm = rng.permutation(5)
    np.testing.assert_allclose(layer.forward(X[:, perm]), layer.forward(X)[:, perm], rtol=1e-12, atol=1e-14)


def test_layer_keeps_float32(rng):
    layer = MultiHeadAttention(2, 3, causal=True, seed=0)
    X = rng.normal(size=(2, 4, 5)).astype(np.float32)
    Y = layer.forward(X)
    assert Y.dtype == np.float32
    assert all(p.dtype == np.float32 for p in layer.params.values())
    assert layer.backward(np.ones_like(Y)).dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())
    V = {k: np.ones_like(p) for k, p in layer.params.items()}
    assert layer.r_call(X[None], V).dtype == np.float32


def test_initialization_is_keras_glorot_with_its_einsum_fans():
    H, dk, dv, d = 4, 8, 6, 32
    layer = MultiHeadAttention(H, dk, value_dim=dv, seed=0)
    layer.build(d)
    W = layer.params["W_qkv"]
    limits = [math.sqrt(6 / (d * H + d * size)) for size in (dk, dk, dv)]  # Keras's kernel (d, H, size)
    blocks = np.split(W, [H * dk, 2 * H * dk])
    for block, limit in zip(blocks, limits, strict=True):
        assert 0.95 * limit < np.abs(block).max() <= limit
    limit_o = math.sqrt(6 / (H * dv + H * d))  # Keras's output kernel (H, d_v, d)
    assert np.abs(layer.params["W_o"]).max() <= limit_o
    assert np.all(layer.params["b_qkv"] == 0)
    assert np.all(layer.params["b_o"] == 0)
    assert layer.count_params() == H * (2 * dk + dv) * (d + 1) + d * (H * dv + 1) == layer.params_for_width(d)


def test_layer_shapes_and_errors(rng):
    layer = MultiHeadAttention(2, 3)
    assert layer.param_shapes(5) == {"W_qkv": (18, 5), "b_qkv": (18,), "W_o": (5, 6), "b_o": (5,)}
    assert layer.compute_output_dim(5) == 5
    assert layer.params_for_width(5) == 18 * 6 + 5 * 7
    assert repr(MultiHeadAttention(2, 3, value_dim=4, causal=True)) == (
        "MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, causal=True)"
    )
    with pytest.raises(ValueError, match=r"X must be a 3-D array of shape \(m, T, d\) for MultiHeadAttention"):
        layer.forward(np.ones((2, 5)))
    layer.forward(np.ones((1, 2, 5)))
    with pytest.raises(ValueError, match="X has 4 features, but MultiHeadAttention is expecting 5 features"):
        layer.forward(np.ones((1, 2, 4)))
    with pytest.raises(ValueError, match="num_heads must be an integer >= 1; got 0"):
        MultiHeadAttention(0, 3)
    with pytest.raises(TypeError, match="causal must be True or False"):
        MultiHeadAttention(1, 3, causal="yes")


# --- R-operator and the exact Hessian-vector product ----------------------------------------------


def small_stack(rng: np.random.Generator, causal: bool) -> list[Layer]:
    layers: list[Layer] = [
        PositionEmbedding(4, seed=1),
        SinusoidalPositionEncoding(),
        Dense(5, seed=2),
        MultiHeadAttention(2, 2, value_dim=3, causal=causal, use_bias=not causal, seed=3),
        Activation("tanh"),
        Dense(3, seed=4),
        Activation("softmax"),
    ]
    width = 3
    for layer in layers:
        layer.build(width, rng)
        width = layer.compute_output_dim(width)
    for layer in layers:
        for p in layer.params.values():
            p[...] = 0.5 * rng.normal(size=p.shape)
    return layers


@pytest.mark.parametrize("causal", [False, True])
def test_exact_hvp_through_attention_matches_differences_of_the_gradient(causal, rng):
    layers = small_stack(rng, causal)
    X, Y = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3))
    grad, theta = stack_gradient(layers, MeanSquaredError(), X, Y)
    for _ in range(2):
        v = rng.normal(size=theta.size)
        exact = hessian_vector_product(layers, MeanSquaredError(), X, Y, split_like(v, layers))
        numeric = hvp(grad, theta, v, h=1e-5)  # truncation error O(h^2)
        grad(theta)  # back to the weights theta
        assert rel_err(exact, numeric) < 1e-6


def test_r_call_with_an_input_direction_matches_differences(rng):
    """R{Y} and R{dX} of the layer alone, with R{X} != 0 (as inside a model), against differences."""
    layer = random_layer(rng, 4, num_heads=2, key_dim=2, value_dim=3, causal=True)
    X, RX = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    V = {k: rng.normal(size=p.shape) for k, p in layer.params.items()}

    def passes(t: float) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        saved = {k: p.copy() for k, p in layer.params.items()}
        for k, p in layer.params.items():
            p += t * V[k]
        Y = layer.forward(X + t * RX)
        dX = layer.backward(Y)  # L = |Y|^2 / 2, so dY = Y
        grads = {k: g.copy() for k, g in layer.grads.items()}
        for k, p in layer.params.items():
            p[...] = saved[k]
        return Y, dX, grads

    YY = layer.r_call(np.stack([X, RX]), V)
    out = {k: np.empty_like(p) for k, p in layer.params.items()}
    DD = layer.r_backprop(np.stack([YY[1], YY[0]]), V, True, out)
    h = 1e-5
    (Yp, dXp, gp), (Ym, dXm, gm) = passes(h), passes(-h)
    assert rel_err(YY[1], (Yp - Ym) / (2 * h)) < 1e-8
    assert rel_err(DD[0], (dXp - dXm) / (2 * h)) < 1e-8
    np.testing.assert_allclose(DD[1], passes(0.0)[1], rtol=1e-13)
    for k in out:
        assert rel_err(out[k], (gp[k] - gm[k]) / (2 * h)) < 1e-8, k


def test_hvp_of_a_pre_ln_block_in_a_sequential(rng):
    """Residual(LayerNorm, MultiHeadAttention) -> Residual(LayerNorm, Dense, relu, Dense) -> Dense -> softmax."""
    residual = pytest.importorskip("mlmath.residual")
    from mlmath.calculus import hvp as numeric_hvp
    from mlmath.models import Sequential
    from mlmath.normalization import LayerNorm

    model = Sequential(
        [
            residual.Residual(LayerNorm(), MultiHeadAttention(2, 2, causal=True)),
            residual.Residual(LayerNorm(), Dense(8), Activation("relu"), Dense(4)),
            Dense(3),
            Activation("softmax"),
        ],
        seed=0,
    )
    model.compile("sgd", "categorical_crossentropy")
    X = rng.normal(size=(3, 4, 4))
    Y = np.eye(3)[rng.integers(3, size=(3, 4))]  # a class per position
    model.build(4)
    theta = model.get_flat_weights() + 0.1 * rng.normal(size=model.count_params())
    model.set_flat_weights(theta)
    v = rng.normal(size=theta.size)
    numeric = numeric_hvp(model_gradient(model, X, Y), theta, v)
    model.set_flat_weights(theta)
    assert rel_err(model.hessian_vector_product(X, Y, v), numeric) < 1e-6


# --- against PyTorch ------------------------------------------------------------------------


@pytest.mark.parametrize("mask_kind", ["none", "causal", "padding"])
def test_function_matches_torch(mask_kind, rng):
    torch = pytest.importorskip("torch")
    Q, K, V = rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(2, 3, 5, 2))
    mask = {"none": None, "causal": causal_mask(5), "padding": np.array([True] * 3 + [False] * 2)[None]}[mask_kind]
    O, A = scaled_dot_product_attention(Q, K, V, mask)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (Q, K, V))
    t_mask = None if mask is None else torch.from_numpy(np.array(mask))
    t_out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=t_mask)
    dO = rng.normal(size=O.shape)
    t_out.backward(torch.from_numpy(dO))
    np.testing.assert_allclose(O, t_out.detach().numpy(), rtol=1e-12, atol=1e-14)
    for ours, theirs in zip(scaled_dot_product_attention_backward(dO, Q, K, V, A), (tq, tk, tv), strict=True):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize(("heads", "causal"), list(itertools.product([1, 4], [False, True])))
def test_layer_matches_torch_multihead_attention(heads, causal, rng):
    torch = pytest.importorskip("torch")
    d, T = 8, 5
    torch.manual_seed(0)
    module = torch.nn.MultiheadAttention(d, heads, batch_first=True).double()
    with torch.no_grad():  # random biases too (PyTorch starts them at 0)
        module.in_proj_bias.normal_()
        module.out_proj.bias.normal_()
    layer = MultiHeadAttention(heads, d // heads, causal=causal)
    layer.build(d)
    for key, tensor in (
        ("W_qkv", module.in_proj_weight),
        ("b_qkv", module.in_proj_bias),
        ("W_o", module.out_proj.weight),
        ("b_o", module.out_proj.bias),
    ):
        layer.params[key][...] = tensor.detach().numpy()
    X, G = rng.normal(size=(3, T, d)), rng.normal(size=(3, T, d))
    x = torch.tensor(X, requires_grad=True)
    t_mask = torch.from_numpy(~causal_mask(T)) if causal else None  # PyTorch's module: True = masked
    y = module(x, x, x, attn_mask=t_mask, need_weights=False)[0]
    (y * torch.from_numpy(G)).sum().backward()
    np.testing.assert_allclose(layer.forward(X), y.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.backward(G), x.grad.numpy(), rtol=1e-11, atol=1e-13)
    for key, tensor in (
        ("W_qkv", module.in_proj_weight),
        ("b_qkv", module.in_proj_bias),
        ("W_o", module.out_proj.weight),
        ("b_o", module.out_proj.bias),
    ):
        np.testing.assert_allclose(layer.grads[key], tensor.grad.numpy(), rtol=1e-11, atol=1e-12)


# --- training ---------------------------------------------------------------------------------


def test_fit_trains_attention_and_a_failed_fit_changes_nothing(rng):
    from mlmath.models import Sequential
    from mlmath.optim import SGD, Adam

    net = Sequential(
        [
            Dense(8, seed=0),
            PositionEmbedding(5, seed=1),
            MultiHeadAttention(2, 4, causal=True, seed=2),
            Dense(3, seed=3),
            Activation("softmax"),
        ],
        seed=0,
    )
    X = rng.normal(size=(32, 5, 3))
    Y = np.eye(3)[np.argmax(np.cumsum(X, axis=1), axis=-1)]  # the largest running sum so far: needs the past
    net.compile(Adam(0.01), "categorical_crossentropy")
    history = net.fit(X, Y, epochs=30, batch_size=8, verbose=0, seed=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    before = net.get_weights()
    net.compile(SGD(1e300), "categorical_crossentropy")  # the first step overflows
    with pytest.raises(FloatingPointError):
        net.fit(X, Y, epochs=1, batch_size=8, verbose=0, seed=0)
    for w, b in zip(net.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, b)


# --- the attention weights as a result (Keras's return_attention_scores) -------------------------------


@pytest.mark.parametrize(("use_bias", "causal"), list(itertools.product([True, False], [False, True])))
def test_attention_scores_are_the_weights_of_the_layer_s_own_projections(use_bias, causal, rng):
    H, dk, dv, d, m, T = 2, 3, 4, 6, 3, 5
    layer = MultiHeadAttention(H, dk, value_dim=dv, use_bias=use_bias, causal=causal, seed=0)
    layer.build(d)
    if use_bias:  # (zero at first)
        layer.params["b_qkv"][...] = rng.normal(size=layer.params["b_qkv"].shape)
    X = rng.normal(size=(m, T, d))
    A = layer.attention_scores(X)
    assert A.shape == (m, H, T, T)
    # the projections by hand: rows of W_qkv are W_q, W_k, W_v (H d_k, H d_k, H d_v), head after head
    W, b = layer.params["W_qkv"], layer.params["b_qkv"] if use_bias else np.zeros(H * (2 * dk + dv))
    mask = causal_mask(T) if causal else None
    for h in range(H):
        rows = {
            "q": slice(h * dk, (h + 1) * dk),
            "k": slice(H * dk + h * dk, H * dk + (h + 1) * dk),
            "v": slice(2 * H * dk + h * dv, 2 * H * dk + (h + 1) * dv),
        }
        Q, K, V = (X @ W[r].T + b[r] for r in rows.values())
        _, expected = scaled_dot_product_attention(Q, K, V, mask)  # (m, T, T) for this head
        np.testing.assert_allclose(A[:, h], expected, rtol=1e-13, atol=1e-15)
        for s in range(m):  # and the definition, one query at a time
            np.testing.assert_allclose(A[s, h] @ V[s], naive_attention(Q[s], K[s], V[s], mask), rtol=1e-12)
    if causal:
        assert np.all(np.triu(A, k=1) == 0)


def test_attention_scores_leave_the_forward_cache_alone_and_keep_float32(rng):
    layer = MultiHeadAttention(2, 2, seed=1)
    X, X_other, G = rng.normal(size=(2, 4, 6)), rng.normal(size=(3, 5, 6)), rng.normal(size=(2, 4, 6))
    layer.forward(X)
    expected = layer.backward(G)
    layer.forward(X)
    layer.attention_scores(X_other)  # between forward and backward
    np.testing.assert_array_equal(layer.backward(G), expected)
    fresh = MultiHeadAttention(2, 2, seed=1)
    A32 = fresh.attention_scores(X.astype(np.float32))  # builds, as forward does, in X's dtype
    assert fresh.built
    assert fresh.dtype == A32.dtype == np.float32
    np.testing.assert_allclose(A32, layer.attention_scores(X), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"X must be a 3-D array of shape \(m, T, d\)"):
        MultiHeadAttention(2, 2).attention_scores(np.ones((4, 6)))
    with pytest.raises(ValueError, match="X has 5 features, but MultiHeadAttention is expecting 6"):
        layer.attention_scores(np.ones((1, 4, 5)))
    unbuilt = MultiHeadAttention(2, 2)
    with pytest.raises(ValueError, match="X must hold only finite values"):
        unbuilt.attention_scores(np.full((1, 4, 6), np.nan))
    assert not unbuilt.built  # refused before the build


def test_attention_scores_match_torch_need_weights(rng):
    torch = pytest.importorskip("torch")
    d, T, heads = 8, 5, 4
    torch.manual_seed(1)
    module = torch.nn.MultiheadAttention(d, heads, batch_first=True).double()
    with torch.no_grad():
        module.in_proj_bias.normal_()
    layer = MultiHeadAttention(heads, d // heads, causal=True)
    layer.build(d)
    layer.params["W_qkv"][...] = module.in_proj_weight.detach().numpy()
    layer.params["b_qkv"][...] = module.in_proj_bias.detach().numpy()
    X = rng.normal(size=(3, T, d))
    x = torch.from_numpy(X)
    mask = torch.from_numpy(~causal_mask(T))  # PyTorch's module: True = masked
    weights = module(x, x, x, attn_mask=mask, need_weights=True, average_attn_weights=False)[1]
    np.testing.assert_allclose(layer.attention_scores(X), weights.detach().numpy(), rtol=1e-12, atol=1e-14)
