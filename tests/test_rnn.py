"""Tests of mlmath.rnn: forward pass, full and truncated BPTT, gradient clipping, the training loop.

References are written here independently: a plain loop-over-time forward pass in batch-major
layout, central finite differences of it (mlmath.calculus, itself checked against sympy), and a
"stop-gradient" formulation of truncated BPTT whose finite differences give the truncated gradient.
No expected value is taken from the code under test.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mlmath.calculus import gradient
from mlmath.optim import SGD
from mlmath.rnn import (
    RNN,
    RNNGradients,
    RNNParams,
    _backward_recurrence,
    _forward_states,
    _output_grads,
    _outputs,
    _windowed_recurrence,
    bptt,
    clip_grad_norm,
    init_params,
    rnn_forward,
    sequence_loss,
    truncated_bptt,
)

NAMES = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")
MODES = ("many_to_many", "many_to_one")
STEP = 1e-6  # of the central differences (mlmath.calculus.gradient)


SEED = 20240606  # the shared rng fixture (conftest.py) draws from this seed


# ---------------------------------------------------------------------------------------------
# independent references
# ---------------------------------------------------------------------------------------------


def random_params(rng: np.random.Generator, F: int, H: int, O: int, scale: float = 0.6) -> RNNParams:
    return RNNParams(
        scale * rng.standard_normal((H, F)),
        scale * rng.standard_normal((H, H)),
        0.3 * rng.standard_normal(H),
        scale * rng.standard_normal((O, H)),
        0.3 * rng.standard_normal(O),
    )


def ref_step(p: RNNParams, h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """One step for a batch, row by row in the book's column form h = tanh(W_hh h + W_xh x + b_h)."""
    return np.stack([np.tanh(p.W_hh @ h[i] + p.W_xh @ x[i] + p.b_h) for i in range(len(x))])


def ref_forward(p: RNNParams, h0: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hidden states (B, T, H) and outputs (B, T, O), one step at a time."""
    B, T, _ = X.shape
    h = np.broadcast_to(h0, (B, p.W_hh.shape[0]))
    hs, ys = [], []
    for t in range(T):
        h = ref_step(p, h, X[:, t])
        hs.append(h)
        ys.append(np.stack([p.W_hy @ h[i] + p.b_y for i in range(B)]))
    return np.stack(hs, axis=1), np.stack(ys, axis=1)


def ref_loss(p: RNNParams, X: np.ndarray, Y: np.ndarray, h0: np.ndarray, mode: str) -> float:
    """L = sum over steps of (1/B) sum_i 1/2 ||y_hat - y||^2 (last step only for many-to-one)."""
    _, Yhat = ref_forward(p, h0, X)
    B = X.shape[0]
    if mode == "many_to_one":
        return sum(0.5 * np.sum((Yhat[i, -1] - Y[i]) ** 2) for i in range(B)) / B
    return sum(0.5 * np.sum((Yhat[i, t] - Y[i, t]) ** 2) for i in range(B) for t in range(X.shape[1])) / B


def ref_truncated_loss(
    p: RNNParams, h0: np.ndarray, frozen: tuple[RNNParams, np.ndarray], X: np.ndarray, Y: np.ndarray, mode: str, k: int
) -> float:
    """Sum of L_t in which the state entering step t-k+1 is frozen (if t > k) at its value under ``frozen``.

    Differentiating this w.r.t. (p, h0) at (p, h0) = frozen gives exactly the truncated gradient:
    each L_t sees the parameters only through its last k steps, and h0 only if t <= k.
    """
    B, T, _ = X.shape
    H0, _ = ref_forward(*frozen, X)  # constants: the states at the point of differentiation
    total = 0.0
    steps = range(T) if mode == "many_to_many" else [T - 1]
    for t in steps:  # 0-based: L_t uses steps max(0, t-k+1) .. t
        first = max(0, t - k + 1)
        h = np.broadcast_to(h0, (B, p.W_hh.shape[0])) if first == 0 else H0[:, first - 1]
        for s in range(first, t + 1):
            h = ref_step(p, h, X[:, s])
        y_hat = h @ p.W_hy.T + p.b_y
        y = Y[:, t] if mode == "many_to_many" else Y
        total += 0.5 * np.sum((y_hat - y) ** 2) / B
    return total


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| relative to the larger of the two arrays' max magnitude."""
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-12)
    return float(np.max(np.abs(a - b)) / scale)


def replace(p: RNNParams, name: str, value: np.ndarray) -> RNNParams:
    return p._replace(**{name: value})


def numeric_grads(loss: Callable[[RNNParams, np.ndarray], float], p: RNNParams, h0: np.ndarray) -> dict:
    out = {name: gradient(lambda v, n=name: loss(replace(p, n, v), h0), getattr(p, name), h=STEP) for name in NAMES}
    out["h0"] = gradient(lambda v: loss(p, v), h0, h=STEP)
    return out


def make_case(rng, B, T, F=3, H=4, O=2, mode="many_to_many"):
    p = random_params(rng, F, H, O)
    X = rng.standard_normal((B, T, F))
    Y = rng.standard_normal((B, T, O) if mode == "many_to_many" else (B, O))
    h0 = 0.5 * rng.standard_normal((B, H))
    return p, X, Y, h0


# ---------------------------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("B", "T"), [(1, 1), (3, 5), (4, 2)])
def test_forward_matches_reference_and_shapes(rng, mode, B, T) -> None:
    p, X, _, h0 = make_case(rng, B, T, mode=mode)
    out = rnn_forward(p, X, h0, mode=mode)
    H_ref, Y_ref = ref_forward(p, h0, X)
    assert out.H.shape == (B, T, 4)
    np.testing.assert_allclose(out.H, H_ref, rtol=1e-12, atol=1e-14)
    if mode == "many_to_many":
        assert out.Y_hat.shape == (B, T, 2)
        np.testing.assert_allclose(out.Y_hat, Y_ref, rtol=1e-12, atol=1e-14)
    else:
        assert out.Y_hat.shape == (B, 2)
        np.testing.assert_allclose(out.Y_hat, Y_ref[:, -1], rtol=1e-12, atol=1e-14)


def test_forward_default_h0_is_zero_and_shared_h0_broadcasts(rng) -> None:
    p, X, _, _ = make_case(rng, 3, 4)
    zeros = rnn_forward(p, X, np.zeros((3, 4)))
    np.testing.assert_array_equal(rnn_forward(p, X).H, zeros.H)
    h = rng.standard_normal(4)
    np.testing.assert_allclose(rnn_forward(p, X, h).H, rnn_forward(p, X, np.tile(h, (3, 1))).H, rtol=0, atol=0)


def test_sequence_loss_is_sum_over_steps_of_batch_mean(rng) -> None:
    Yhat, Y = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
    expected = sum(np.mean(0.5 * np.sum((Yhat[:, t] - Y[:, t]) ** 2, axis=1)) for t in range(3))
    assert sequence_loss(Yhat, Y) == pytest.approx(expected, rel=1e-13)
    assert sequence_loss(Yhat[:, -1], Y[:, -1]) == pytest.approx(
        np.mean(0.5 * np.sum((Yhat[:, -1] - Y[:, -1]) ** 2, axis=1)), rel=1e-13
    )
    with pytest.raises(ValueError, match="same shape"):
        sequence_loss(Yhat, Y[:, -1])


# ---------------------------------------------------------------------------------------------
# full BPTT against finite differences
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("B", "T"), [(1, 1), (1, 6), (2, 3), (3, 7)])
def test_bptt_matches_finite_differences(rng, mode, B, T) -> None:
    p, X, Y, h0 = make_case(rng, B, T, mode=mode)
    loss, g = bptt(p, X, Y, h0, mode=mode)
    assert isinstance(g, RNNGradients)
    assert loss == pytest.approx(ref_loss(p, X, Y, h0, mode), rel=1e-12)
    num = numeric_grads(lambda q, h: ref_loss(q, X, Y, h, mode), p, h0)
    for name in (*NAMES, "h0"):
        assert getattr(g, name).shape == num[name].shape, name
        err = rel_error(getattr(g, name), num[name])
        assert err < 1e-6, f"{name}: relative error {err:.2e}\nanalytic: {getattr(g, name)}\nnumeric: {num[name]}"


def test_bptt_shared_h0_gradient_sums_over_batch(rng) -> None:
    p, X, Y, _ = make_case(rng, 3, 4)
    h = 0.5 * rng.standard_normal(4)
    _, g = bptt(p, X, Y, h)
    assert g.h0.shape == (4,)
    num = gradient(lambda v: ref_loss(p, X, Y, v, "many_to_many"), h, h=STEP)
    assert rel_error(g.h0, num) < 1e-6


def test_bptt_without_h0_returns_batch_shaped_h0_gradient(rng) -> None:
    p, X, Y, _ = make_case(rng, 2, 3)
    _, g = bptt(p, X, Y)
    num = gradient(lambda v: ref_loss(p, X, Y, v, "many_to_many"), np.zeros((2, 4)), h=STEP)
    assert g.h0.shape == (2, 4)
    assert rel_error(g.h0, num) < 1e-6


def test_bptt_scalar_rnn_matches_hand_formula() -> None:
    """T = 2, many-to-one, all scalars: dL/dw_hh = e w_hy (1 - h2^2) (h1 + w_hh (1 - h1^2) h0)."""
    w_xh, w_hh, b_h, w_hy, b_y, h0 = 0.7, -1.3, 0.2, 1.5, -0.1, 0.4
    x1, x2, y = 0.5, -1.0, 0.3
    h1 = np.tanh(w_hh * h0 + w_xh * x1 + b_h)
    h2 = np.tanh(w_hh * h1 + w_xh * x2 + b_h)
    e = w_hy * h2 + b_y - y
    p = RNNParams(np.array([[w_xh]]), np.array([[w_hh]]), np.array([b_h]), np.array([[w_hy]]), np.array([b_y]))
    loss, g = bptt(p, [[[x1], [x2]]], [[y]], [h0], mode="many_to_one")
    assert loss == pytest.approx(0.5 * e**2, rel=1e-14)
    d2 = e * w_hy * (1 - h2**2)  # dL/da_2
    d1 = d2 * w_hh * (1 - h1**2)  # dL/da_1
    np.testing.assert_allclose(g.W_hh[0, 0], d2 * h1 + d1 * h0, rtol=1e-13)
    np.testing.assert_allclose(g.W_xh[0, 0], d2 * x2 + d1 * x1, rtol=1e-13)
    np.testing.assert_allclose(g.b_h[0], d2 + d1, rtol=1e-13)
    np.testing.assert_allclose(g.W_hy[0, 0], e * h2, rtol=1e-13)
    np.testing.assert_allclose(g.b_y[0], e, rtol=1e-13)
    np.testing.assert_allclose(g.h0[0], d1 * w_hh, rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# truncated BPTT
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("B", "T"), [(1, 1), (2, 4), (3, 6)])
def test_truncated_with_k_at_least_T_equals_full_exactly(rng, mode, B, T) -> None:
    p, X, Y, h0 = make_case(rng, B, T, mode=mode)
    loss, full = bptt(p, X, Y, h0, mode=mode)
    for k in (T, T + 1, 10 * T):
        loss_k, trunc = truncated_bptt(p, X, Y, k, h0, mode=mode)
        assert loss_k == loss
        for a, b in zip(trunc, full, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("T", [1, 2, 5, 9])
def test_windowed_recurrence_with_k_equal_T_equals_full_recursion(rng, T) -> None:
    """The lag-by-lag algorithm used for k < T gives the full recursion when nothing is cut."""
    p, X, Y, h0 = make_case(rng, 3, T)
    Xt, Yt = X.transpose(1, 0, 2).copy(), Y.transpose(1, 0, 2).copy()
    Hs = _forward_states(p, Xt, h0)
    _, _, _, G = _output_grads(p, Hs, _outputs(p, Hs, "many_to_many"), Yt, "many_to_many")
    windowed = _windowed_recurrence(p, Hs, G.copy(), T)
    full = _backward_recurrence(p, Hs, G.copy(), T)
    np.testing.assert_allclose(windowed, full, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("B", "T", "k"), [(1, 3, 1), (2, 5, 1), (2, 5, 2), (3, 6, 3), (2, 6, 5)])
def test_truncated_matches_stop_gradient_finite_differences(rng, mode, B, T, k) -> None:
    p, X, Y, h0 = make_case(rng, B, T, mode=mode)
    loss, g = truncated_bptt(p, X, Y, k, h0, mode=mode)
    assert loss == pytest.approx(ref_loss(p, X, Y, h0, mode), rel=1e-12)  # the loss is never truncated
    num = numeric_grads(lambda q, h: ref_truncated_loss(q, h, (p, h0), X, Y, mode, k), p, h0)
    for name in (*NAMES, "h0"):
        if not np.any(num[name]):  # e.g. h0 with many-to-one and k < T: exactly zero
            np.testing.assert_array_equal(getattr(g, name), 0.0)
            continue
        err = rel_error(getattr(g, name), num[name])
        assert err < 1e-6, f"{name}: relative error {err:.2e}"
    _, full = bptt(p, X, Y, h0, mode=mode)
    if T > 1:
        assert not np.allclose(g.W_hh, full.W_hh), "truncation should change dL/dW_hh here"


def test_truncated_k1_scalar_hand_computation() -> None:
    """k = 1, T = 2, many-to-many, scalars: each L_t differentiated through its own step only."""
    w_xh, w_hh, b_h, w_hy, b_y = 0.9, 0.8, -0.3, -1.2, 0.5
    x, y, h0 = [1.0, -0.5], [0.2, -0.7], 0.3
    h1 = np.tanh(w_hh * h0 + w_xh * x[0] + b_h)
    h2 = np.tanh(w_hh * h1 + w_xh * x[1] + b_h)
    e1, e2 = w_hy * h1 + b_y - y[0], w_hy * h2 + b_y - y[1]
    a1 = e1 * w_hy * (1 - h1**2)  # L_1 through step 1
    a2 = e2 * w_hy * (1 - h2**2)  # L_2 through step 2 only, h_1 frozen
    p = RNNParams(np.array([[w_xh]]), np.array([[w_hh]]), np.array([b_h]), np.array([[w_hy]]), np.array([b_y]))
    _, g = truncated_bptt(p, np.array(x).reshape(1, 2, 1), np.array(y).reshape(1, 2, 1), 1, [h0])
    np.testing.assert_allclose(g.W_hh[0, 0], a1 * h0 + a2 * h1, rtol=1e-13)
    np.testing.assert_allclose(g.W_xh[0, 0], a1 * x[0] + a2 * x[1], rtol=1e-13)
    np.testing.assert_allclose(g.b_h[0], a1 + a2, rtol=1e-13)
    np.testing.assert_allclose(g.h0[0], a1 * w_hh, rtol=1e-13)  # only L_1 reaches h_0 in one step
    np.testing.assert_allclose(g.W_hy[0, 0], e1 * h1 + e2 * h2, rtol=1e-13)


@pytest.mark.parametrize("k", [0, -1])
def test_truncated_refuses_bad_k(rng, k) -> None:
    p, X, Y, _ = make_case(rng, 2, 3)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        truncated_bptt(p, X, Y, k)
    with pytest.raises(TypeError, match="k must be an integer >= 1"):
        truncated_bptt(p, X, Y, 2.0)


# ---------------------------------------------------------------------------------------------
# clipping
# ---------------------------------------------------------------------------------------------


def test_clip_grad_norm_scales_exactly_above_threshold(rng) -> None:
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5), rng.standard_normal((2, 2))]
    norm_ref = np.sqrt(sum(np.sum(g**2) for g in grads))
    clipped, norm = clip_grad_norm(grads, max_norm=0.5)
    assert norm == pytest.approx(norm_ref, rel=1e-14)
    for c, g in zip(clipped, grads, strict=True):
        np.testing.assert_allclose(c, g * (0.5 / norm_ref), rtol=1e-14)
    assert np.sqrt(sum(np.sum(c**2) for c in clipped)) == pytest.approx(0.5, rel=1e-14)
    assert isinstance(clipped, list)


def test_clip_grad_norm_leaves_small_gradients_unchanged(rng) -> None:
    grads = (rng.standard_normal(3), rng.standard_normal((2, 2)))
    norm_ref = float(np.sqrt(sum(np.sum(g**2) for g in grads)))
    for limit in (norm_ref, 2 * norm_ref):
        clipped, norm = clip_grad_norm(grads, limit)
        assert norm == pytest.approx(norm_ref, rel=1e-14)
        assert isinstance(clipped, tuple)
        assert all(c is g for c, g in zip(clipped, grads, strict=True))


def test_clip_grad_norm_keeps_container_and_dtype(rng) -> None:
    p, X, Y, _ = make_case(rng, 2, 3)
    _, g = bptt(p, X, Y)
    clipped, _ = clip_grad_norm(g, 1e-3)
    assert isinstance(clipped, RNNGradients)
    g32 = [a.astype(np.float32) for a in g]
    clipped32, _ = clip_grad_norm(g32, 1e-3)
    assert all(c.dtype == np.float32 for c in clipped32)


@pytest.mark.parametrize("bad", [0, -1.0])
def test_clip_grad_norm_refuses_non_positive_max_norm(bad) -> None:
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        clip_grad_norm([np.ones(3)], bad)


def test_clip_grad_norm_refuses_non_finite_gradients() -> None:
    with pytest.raises(ValueError, match=r"grads\[0\] must hold only finite values; got 1 NaN .* index \(1,\)"):
        clip_grad_norm([np.array([1.0, np.nan])], 1.0)
    with pytest.raises(ValueError, match=r"grads\[1\] must hold only finite values"):
        clip_grad_norm([np.ones(2), np.array([np.inf])], 1.0)
    with pytest.raises(ValueError, match=r"global norm of grads is not finite .* overflows"):
        clip_grad_norm([np.array([1e200])], 1.0)


# ---------------------------------------------------------------------------------------------
# dtypes and errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_float32_stays_float32(rng, mode) -> None:
    p, X, Y, h0 = make_case(rng, 3, 4, mode=mode)
    p32 = RNNParams(*(a.astype(np.float32) for a in p))
    X32 = X.astype(np.float32)
    out = rnn_forward(p32, X32, h0.astype(np.float32), mode=mode)
    assert out.Y_hat.dtype == np.float32
    assert out.H.dtype == np.float32
    for fn in (bptt, lambda *a, **kw: truncated_bptt(*a[:3], 2, *a[3:], **kw)):
        _, g = fn(p32, X32, Y, h0, mode=mode)  # float64 targets and h0 do not promote
        assert all(a.dtype == np.float32 for a in g)
        _, g64 = bptt(p, X, Y, h0, mode=mode) if fn is bptt else truncated_bptt(p, X, Y, 2, h0, mode=mode)
        for a, b in zip(g, g64, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_error_wrong_feature_count(rng) -> None:
    p, _, Y, _ = make_case(rng, 2, 3)
    with pytest.raises(ValueError, match=r"X has 5 features per step, but W_xh expects 3"):
        bptt(p, rng.standard_normal((2, 3, 5)), Y)


def test_error_X_not_3d(rng) -> None:
    p, _, _, _ = make_case(rng, 2, 3)
    with pytest.raises(ValueError, match=r"X must be a 3-D array of shape \(batch, T, features\)"):
        rnn_forward(p, rng.standard_normal((2, 3)))


@pytest.mark.parametrize(
    ("mode", "Y_shape", "match"),
    [
        ("many_to_one", (2, 3, 2), r"for mode='many_to_one'.*A target at every step is mode='many_to_many'"),
        ("many_to_many", (2, 2), r"for mode='many_to_many'.*mode='many_to_one'"),
        ("many_to_many", (2, 4, 2), r"Y must have shape \(batch, T, outputs\) = \(2, 3, 2\)"),
    ],
)
def test_error_Y_shape_vs_mode(rng, mode, Y_shape, match) -> None:
    p, X, _, _ = make_case(rng, 2, 3)
    with pytest.raises(ValueError, match=match):
        bptt(p, X, np.zeros(Y_shape), mode=mode)


def test_error_nan_in_X_and_Y(rng) -> None:
    p, X, Y, _ = make_case(rng, 2, 3)
    X[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"X must hold only finite values.*index \(1, 2, 0\)"):
        bptt(p, X, Y)
    with pytest.raises(ValueError, match="X must hold only finite values"):
        rnn_forward(p, X)
    X[1, 2, 0] = 0.0
    Y[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="Y must hold only finite values"):
        bptt(p, X, Y)


def test_error_param_shapes_named(rng) -> None:
    p, X, Y, _ = make_case(rng, 2, 3)
    with pytest.raises(ValueError, match=r"W_hh must have shape \(hidden, hidden\) = \(4, 4\)"):
        bptt(replace(p, "W_hh", np.zeros((4, 3))), X, Y)
    with pytest.raises(ValueError, match=r"b_y must have shape \(outputs,\) = \(2,\)"):
        bptt(replace(p, "b_y", np.zeros(3)), X, Y)
    with pytest.raises(ValueError, match=r"W_hy must have shape \(outputs, hidden\) with hidden = 4"):
        bptt(replace(p, "W_hy", np.zeros((2, 5))), X, Y)
    with pytest.raises(TypeError, match="sequence of 5 arrays"):
        bptt(list(p)[:4], X, Y)
    with pytest.raises(ValueError, match=r"h0 must have shape \(hidden,\) = \(4,\)"):
        bptt(p, X, Y, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="mode must be"):
        bptt(p, X, Y, mode="one_to_many")


# ---------------------------------------------------------------------------------------------
# the model and its training loop
# ---------------------------------------------------------------------------------------------


class FailingSGD(SGD):
    """Plain gradient descent that raises during its third update, as a bug in a step would."""

    calls = 0

    def apply_unchecked(self, params, grads, flat=None) -> None:
        super().apply_unchecked(params, grads, flat)
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("optimizer failed")


def echo_task(rng: np.random.Generator, n: int = 32, T: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Output at step t the input of step t-1 (needs memory of one step)."""
    X = rng.uniform(-1, 1, (n, T, 1))
    Y = np.concatenate([np.zeros((n, 1, 1)), X[:, :-1]], axis=1)
    return X, Y


def snapshot(model: RNN) -> list[np.ndarray]:
    return [a.copy() for a in model.params]


def test_model_init_is_seeded_and_shaped() -> None:
    a, b = RNN(3, 5, 2, seed=1), RNN(3, 5, 2, seed=1)
    for x, y in zip(a.params, b.params, strict=True):
        np.testing.assert_array_equal(x, y)
    assert [w.shape for w in a.params] == [(5, 3), (5, 5), (5,), (2, 5), (2,)]
    np.testing.assert_allclose(a.W_hh @ a.W_hh.T, np.eye(5), atol=1e-12)  # orthogonal
    assert not np.array_equal(a.W_xh, RNN(3, 5, 2, seed=2).W_xh)
    p = init_params(2, 3, 1, seed=0, dtype=np.float32)
    assert all(w.dtype == np.float32 for w in p)


@pytest.mark.parametrize("mode", MODES)
def test_model_forward_shapes_and_gradients_agree_with_functions(rng, mode) -> None:
    model = RNN(2, 5, 3, mode=mode, seed=0)
    X = rng.standard_normal((4, 7, 2))
    Y = rng.standard_normal((4, 7, 3) if mode == "many_to_many" else (4, 3))
    assert model.forward(X).shape == Y.shape
    assert model.hidden_states(X).shape == (4, 7, 5)
    loss, g = model.loss_and_gradients(X, Y)
    loss_f, g_f = bptt(model.params, X, Y, mode=mode)
    assert loss == loss_f
    np.testing.assert_array_equal(g.W_xh, g_f.W_xh)
    assert model.loss(X, Y) == pytest.approx(loss, rel=1e-12)
    with pytest.raises(ValueError, match="Y must have shape"):
        model.loss(X, Y[..., :2])
    num = gradient(lambda v: ref_loss(replace(model.params, "W_hh", v), X, Y, np.zeros(5), mode), model.W_hh, h=STEP)
    assert rel_error(g.W_hh, num) < 1e-6
    _, g_t = model.loss_and_gradients(X, Y, truncate=2)
    _, g_tf = truncated_bptt(model.params, X, Y, 2, mode=mode)
    np.testing.assert_array_equal(g_t.W_hh, g_tf.W_hh)


@pytest.mark.parametrize(
    ("mode", "truncate", "clip"), [("many_to_many", None, None), ("many_to_many", 2, 1.0), ("many_to_one", None, 0.5)]
)
def test_fit_reduces_loss(rng, mode, truncate, clip) -> None:
    X, Y = echo_task(rng)
    if mode == "many_to_one":
        Y = X[:, 0]  # recall the first input at the end
    model = RNN(1, 8, 1, mode=mode, seed=0)
    before = model.loss(X, Y)
    hist = model.fit(X, Y, epochs=40, batch_size=8, optimizer=SGD(0.1), clip=clip, truncate=truncate, seed=0)
    assert len(hist.loss) == 40
    assert len(hist.step_loss) == len(hist.grad_norm) == 40 * 4
    assert model.loss(X, Y) < 0.5 * before
    assert hist.loss[-1] < hist.loss[0]


def test_fit_clip_bounds_the_applied_update(rng) -> None:
    X, Y = echo_task(rng, n=8)
    model = RNN(1, 6, 1, seed=3)
    start = snapshot(model)
    hist = model.fit(X, Y, epochs=1, batch_size=8, optimizer=SGD(1.0), clip=1e-3, seed=0)
    step = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(model.params, start, strict=True)))
    assert hist.grad_norm[0] > 1e-3  # clipping was active...
    assert step == pytest.approx(1e-3, rel=1e-10)  # ...and the update has exactly the clipped length


def test_fit_same_seed_same_history(rng) -> None:
    X, Y = echo_task(rng)
    h1 = RNN(1, 8, 1, seed=0).fit(X, Y, epochs=3, batch_size=5, optimizer=SGD(0.05), seed=7)
    h2 = RNN(1, 8, 1, seed=0).fit(X, Y, epochs=3, batch_size=5, optimizer=SGD(0.05), seed=7)
    h3 = RNN(1, 8, 1, seed=0).fit(X, Y, epochs=3, batch_size=5, optimizer=SGD(0.05), seed=8)
    assert h1.step_loss == h2.step_loss
    assert h1.grad_norm == h2.grad_norm
    assert h1.step_loss != h3.step_loss
    assert h1.history == {"loss": h1.loss}


def test_fit_float32_model_stays_float32(rng) -> None:
    X, Y = echo_task(rng)
    model = RNN(1, 8, 1, seed=0, dtype=np.float32)
    model.fit(X, Y, epochs=2, batch_size=8, optimizer=SGD(0.05), seed=0)
    assert all(w.dtype == np.float32 for w in model.params)
    assert model.forward(X).dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"Y": np.zeros((32, 1))}, ValueError, r"Y must have shape \(batch, T, outputs\)"),
        ({"X": np.zeros((32, 6, 2))}, ValueError, "X has 2 features per step"),
        ({"X": np.full((32, 6, 1), np.nan)}, ValueError, "X must hold only finite values"),
        ({"epochs": 0}, ValueError, "epochs must be an integer >= 1"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an integer >= 1"),
        ({"clip": 0.0}, ValueError, "clip must be > 0"),
        ({"truncate": 0}, ValueError, "truncate must be an integer >= 1"),
        ({"optimizer": object()}, TypeError, "optimizer must be one of 'sgd'"),
        ({"shuffle": "no"}, TypeError, "shuffle must be True or False"),
        ({"shuffle": None}, TypeError, "shuffle must be True or False"),
        ({"verbose": 3}, ValueError, "verbose must be 0, 1 or 2"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
    ],
)
def test_failed_fit_leaves_weights_unchanged(rng, kwargs, exc, match) -> None:
    X, Y = echo_task(rng)
    model = RNN(1, 4, 1, seed=0)
    before = snapshot(model)
    args = {"X": X, "Y": Y, "epochs": 2, "batch_size": 8, "optimizer": SGD(0.1)} | kwargs
    with pytest.raises(exc, match=match):
        model.fit(**args)
    for a, b in zip(model.params, before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_divergence_stops_fit_and_restores_weights(rng) -> None:
    X, Y = echo_task(rng)
    model = RNN(1, 4, 1, seed=0)
    before = snapshot(model)
    with pytest.raises(FloatingPointError, match=r"became (nan|inf) at epoch \d+/50, step \d+/4; fit stopped"):
        model.fit(X * 1e3, Y * 1e3, epochs=50, batch_size=8, optimizer=SGD(1e6), seed=0)
    for a, b in zip(model.params, before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_error_inside_optimizer_restores_weights(rng) -> None:
    X, Y = echo_task(rng)
    model = RNN(1, 4, 1, seed=0)
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="optimizer failed"):
        model.fit(X, Y, epochs=2, batch_size=8, optimizer=FailingSGD(0.1), seed=0)
    for a, b in zip(model.params, before, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_fit_with_mlmath_optimizers(rng, name) -> None:
    optim = pytest.importorskip("mlmath.optim")
    X, Y = echo_task(rng)
    model = RNN(1, 8, 1, seed=0)
    before = model.loss(X, Y)
    opt = optim.SGD(learning_rate=0.1) if name == "SGD" else optim.Adam(learning_rate=0.01)
    model.fit(X, Y, epochs=30, batch_size=8, optimizer=opt, seed=0)
    assert model.loss(X, Y) < 0.5 * before


@pytest.mark.parametrize("k", [1, 2, 5])
def test_truncated_shared_h0_gradient_is_batch_sum(rng, k) -> None:
    p, X, Y, _ = make_case(rng, 3, 5)
    h = 0.5 * rng.standard_normal(4)
    _, g_shared = truncated_bptt(p, X, Y, k, h)
    _, g_rows = truncated_bptt(p, X, Y, k, np.tile(h, (3, 1)))
    assert g_shared.h0.shape == (4,)
    np.testing.assert_allclose(g_shared.h0, g_rows.h0.sum(axis=0), rtol=1e-12, atol=1e-15)
    num = gradient(lambda v: ref_truncated_loss(p, v, (p, h), X, Y, "many_to_many", k), h, h=STEP)
    assert rel_error(g_shared.h0, num) < 1e-6
