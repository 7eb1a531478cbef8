"""Tests of mlmath.gated: the LSTM and the GRU, their forward pass, full and truncated BPTT, loaders, training.

References are written here independently of the code under test: each step in the book's column
form, one sequence at a time (no stacked matrices shared with the package: the gate blocks are
sliced out and applied one by one), central differences of the resulting loss (mlmath.calculus),
and a "frozen entering state" formulation of truncated BPTT whose central differences give the
truncated gradient by its definition. No expected value is taken from the code under test.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from mlmath import initializers, optim
from mlmath.calculus import gradient
from mlmath.gated import (
    GRU,
    LSTM,
    GRUForward,
    GRUGradients,
    GRUParams,
    LSTMForward,
    LSTMGradients,
    LSTMParams,
    _gru_backward,
    _gru_states,
    _gru_windowed,
    _lstm_backward,
    _lstm_states,
    _lstm_windowed,
    gru_bptt,
    gru_forward,
    gru_init_params,
    gru_params_from_keras,
    gru_params_from_torch,
    gru_truncated_bptt,
    lstm_bptt,
    lstm_forward,
    lstm_init_params,
    lstm_params_from_keras,
    lstm_params_from_torch,
    lstm_truncated_bptt,
)
from mlmath.optim import SGD
from mlmath.rnn import RNN, RNNHistory

SEED = 20240707  # the shared rng fixture (conftest.py) draws from this seed
MODES = ("many_to_many", "many_to_one")
STEP = 1e-6  # of the central differences


def sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------------------------------------
# independent references: one sequence at a time, the book's column form, gate by gate
# ---------------------------------------------------------------------------------------------


def lstm_ref_step(p: LSTMParams, h: np.ndarray, c: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """(h_t, c_t, i, f, g, o) for one sequence: each gate from its own block of rows."""
    n = h.shape[0]

    def pre(k: int) -> np.ndarray:
        rows = slice(k * n, (k + 1) * n)
        return p.W_x[rows] @ x + p.W_h[rows] @ h + p.b[rows]

    i, f, g, o = sig(pre(0)), sig(pre(1)), np.tanh(pre(2)), sig(pre(3))
    c_new = f * c + i * g
    return o * np.tanh(c_new), c_new, i, f, g, o


def gru_ref_step(p: GRUParams, h: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """(h_t, z, r, n) for one sequence, with the two biases of the reset-after form."""
    m = h.shape[0]
    blk = [slice(k * m, (k + 1) * m) for k in range(3)]
    z = sig(p.W_x[blk[0]] @ x + p.b_x[blk[0]] + p.W_h[blk[0]] @ h + p.b_h[blk[0]])
    r = sig(p.W_x[blk[1]] @ x + p.b_x[blk[1]] + p.W_h[blk[1]] @ h + p.b_h[blk[1]])
    n = np.tanh(p.W_x[blk[2]] @ x + p.b_x[blk[2]] + r * (p.W_h[blk[2]] @ h + p.b_h[blk[2]]))
    return (1 - z) * n + z * h, z, r, n


@dataclass(frozen=True)
class Kind:
    """One gated network as the tests see it: its functions, its reference step, its state names."""

    name: str
    gates: int
    params: type
    model: type
    forward: Callable
    bptt: Callable
    truncated: Callable
    init: Callable
    states: tuple[str, ...]

    def random_params(self, rng: np.random.Generator, F: int, H: int, O: int, scale: float = 0.6):
        n_bias = len(self.params._fields) - 4
        arrays = [scale * rng.standard_normal((self.gates * H, F)), scale * rng.standard_normal((self.gates * H, H))]
        arrays += [0.3 * rng.standard_normal(self.gates * H) for _ in range(n_bias)]
        arrays += [scale * rng.standard_normal((O, H)), 0.3 * rng.standard_normal(O)]
        return self.params(*arrays)

    def step(self, p, state: tuple[np.ndarray, ...], x: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """The new state and h_t for one sequence."""
        if self.name == "lstm":
            h, c, *_ = lstm_ref_step(p, state[0], state[1], x)
            return (h, c), h
        h, *_ = gru_ref_step(p, state[0], x)
        return (h,), h


LSTM_KIND = Kind(
    "lstm", 4, LSTMParams, LSTM, lstm_forward, lstm_bptt, lstm_truncated_bptt, lstm_init_params, ("h0", "c0")
)
GRU_KIND = Kind("gru", 3, GRUParams, GRU, gru_forward, gru_bptt, gru_truncated_bptt, gru_init_params, ("h0",))
KINDS = {"lstm": LSTM_KIND, "gru": GRU_KIND}


def ref_states(kind: Kind, p, X: np.ndarray, states: tuple[np.ndarray, ...]) -> list[list[tuple[np.ndarray, ...]]]:
    """``out[i][t]``: the state of sequence i after t steps (``out[i][0]`` the initial state)."""
    B, T, _ = X.shape
    out = []
    for i in range(B):
        s = tuple(np.broadcast_to(v, (B, v.shape[-1]))[i] for v in states)
        seq = [s]
        for t in range(T):
            s, _ = kind.step(p, s, X[i, t])
            seq.append(s)
        out.append(seq)
    return out


def ref_loss(kind: Kind, p, X: np.ndarray, Y: np.ndarray, states: tuple[np.ndarray, ...], mode: str) -> float:
    """L = sum over steps of (1/B) sum_i 1/2 ||W_hy h + b_y - y||^2 (the last step only for many-to-one)."""
    B, T, _ = X.shape
    run = ref_states(kind, p, X, states)
    total = 0.0
    for i in range(B):
        for t in range(1, T + 1) if mode == "many_to_many" else [T]:
            y = Y[i, t - 1] if mode == "many_to_many" else Y[i]
            total += 0.5 * np.sum((p.W_hy @ run[i][t][0] + p.b_y - y) ** 2)
    return total / B


def ref_truncated_loss(
    kind: Kind, p, states: tuple[np.ndarray, ...], frozen: tuple, X: np.ndarray, Y: np.ndarray, mode: str, k: int
) -> float:
    """Sum of L_t in which the state entering step t-k+1 (if t > k) is a constant: its value under ``frozen``.

    Differentiating this with respect to (p, initial states) at the frozen point gives the truncated
    gradient by its definition: each L_t sees the parameters through its last k steps only, and the
    initial states only if t <= k.
    """
    B, T, _ = X.shape
    const = ref_states(kind, frozen[0], X, frozen[1])
    total = 0.0
    for i in range(B):
        for t in range(1, T + 1) if mode == "many_to_many" else [T]:
            first = max(1, t - k + 1)
            s = const[i][first - 1] if first > 1 else tuple(np.broadcast_to(v, (B, v.shape[-1]))[i] for v in states)
            for u in range(first, t + 1):
                s, h = kind.step(p, s, X[i, u - 1])
            y = Y[i, t - 1] if mode == "many_to_many" else Y[i]
            total += 0.5 * np.sum((p.W_hy @ h + p.b_y - y) ** 2)
    return total / B


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-12)
    return float(np.max(np.abs(a - b)) / scale)


def numeric_grads(loss: Callable, p, states: tuple[np.ndarray, ...], names: tuple[str, ...]) -> dict:
    """Central differences of ``loss(params, states)`` for every parameter and every initial state."""
    out = {f: gradient(lambda v, f=f: loss(p._replace(**{f: v}), states), getattr(p, f), h=STEP) for f in p._fields}
    for j, name in enumerate(names):

        def moved(v: np.ndarray, j: int = j) -> float:
            return loss(p, (*states[:j], v, *states[j + 1 :]))

        out[name] = gradient(moved, states[j], h=STEP)
    return out


def make_case(kind: Kind, rng: np.random.Generator, B: int, T: int, F: int, H: int, O: int, mode: str):
    p = kind.random_params(rng, F, H, O)
    X = rng.standard_normal((B, T, F))
    Y = rng.standard_normal((B, T, O) if mode == "many_to_many" else (B, O))
    states = tuple(0.5 * rng.standard_normal((B, H)) for _ in kind.states)
    return p, X, Y, states


def assert_grads_close(g, num: dict, tol: float = 1e-6) -> None:
    for name, expected in num.items():
        got = getattr(g, name)
        assert got.shape == expected.shape, name
        err = rel_error(got, expected)
        assert err < tol, f"{name}: relative error {err:.2e}\nanalytic: {got}\nnumeric: {expected}"


# ---------------------------------------------------------------------------------------------
# forward pass
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("B", "T"), [(1, 1), (3, 5), (2, 1)])
def test_lstm_forward_matches_reference_states_and_gates(rng, mode, B, T) -> None:
    p, X, _, (h0, c0) = make_case(LSTM_KIND, rng, B, T, 3, 4, 2, mode)
    out = lstm_forward(p, X, h0, c0, mode=mode)
    assert isinstance(out, LSTMForward)
    for i in range(B):
        h, c = h0[i], c0[i]
        for t in range(T):
            h, c, ig, fg, gg, og = lstm_ref_step(p, h, c, X[i, t])
            for got, want in zip(out[1:], (h, c, ig, fg, gg, og), strict=True):
                np.testing.assert_allclose(got[i, t], want, rtol=1e-12, atol=1e-14)
        y_last = p.W_hy @ h + p.b_y
        np.testing.assert_allclose(out.Y_hat[i, -1] if mode == "many_to_many" else out.Y_hat[i], y_last, rtol=1e-12)
    assert out.Y_hat.shape == ((B, T, 2) if mode == "many_to_many" else (B, 2))
    assert all(a.shape == (B, T, 4) for a in out[1:])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("B", "T"), [(1, 1), (3, 5), (2, 1)])
def test_gru_forward_matches_reference_states_and_gates(rng, mode, B, T) -> None:
    p, X, _, (h0,) = make_case(GRU_KIND, rng, B, T, 3, 4, 2, mode)
    out = gru_forward(p, X, h0, mode=mode)
    assert isinstance(out, GRUForward)
    for i in range(B):
        h = h0[i]
        for t in range(T):
            h, z, r, n = gru_ref_step(p, h, X[i, t])
            for got, want in zip(out[1:], (h, z, r, n), strict=True):
                np.testing.assert_allclose(got[i, t], want, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(
            out.Y_hat[i, -1] if mode == "many_to_many" else out.Y_hat[i], p.W_hy @ h + p.b_y, rtol=1e-12
        )


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
def test_default_states_are_zero_and_shared_states_broadcast(rng, kind) -> None:
    p, X, _, states = make_case(kind, rng, 3, 4, 2, 5, 1, "many_to_many")
    zeros = kind.forward(p, X, *(np.zeros((3, 5)) for _ in states))
    np.testing.assert_array_equal(kind.forward(p, X).H, zeros.H)
    shared = tuple(rng.standard_normal(5) for _ in states)
    tiled = tuple(np.tile(s, (3, 1)) for s in shared)
    np.testing.assert_array_equal(kind.forward(p, X, *shared).H, kind.forward(p, X, *tiled).H)


def test_lstm_cell_path_forget_gate_one_input_gate_zero_keeps_the_cell(rng) -> None:
    """With f = 1 and i = 0 (large biases) the cell state is carried unchanged: c_t = c_0 for all t."""
    H = 3
    b = np.zeros(4 * H)
    b[:H], b[H : 2 * H] = -60.0, 60.0
    p = LSTMParams(np.zeros((4 * H, 2)), np.zeros((4 * H, H)), b, np.ones((1, H)), np.zeros(1))
    c0 = rng.standard_normal(H)
    out = lstm_forward(p, rng.standard_normal((2, 6, 2)), c0=c0)
    np.testing.assert_allclose(out.C, np.broadcast_to(c0, (2, 6, H)), rtol=1e-15)


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
def test_saturated_gates_stay_finite_and_exact(rng, kind) -> None:
    """Pre-activations of +-1e4 (where exp(-a) would overflow) give gates of exactly 0 and 1, and finite gradients."""
    p, X, Y, _ = make_case(kind, rng, 2, 3, 2, 3, 1, "many_to_many")
    huge = p._replace(W_x=np.sign(p.W_x) * 1e4)
    out = kind.forward(huge, X)
    gates = out[3:] if kind is LSTM_KIND else out[2:]
    assert all(np.all(np.isfinite(a)) for a in gates)
    sigmoid_gates = [out.I, out.F, out.O] if kind is LSTM_KIND else [out.Z, out.R]
    assert all(set(np.unique(a)) <= {0.0, 1.0} for a in sigmoid_gates)
    _, g = kind.bptt(huge, X, Y)
    assert all(np.all(np.isfinite(a)) for a in g)


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
@pytest.mark.parametrize(("B", "T"), [(1, 1), (3, 4)])
def test_results_are_new_arrays_that_later_calls_leave_alone(rng, kind, B, T) -> None:
    """The kernels reuse their work arrays from call to call: nothing returned may be one of them."""
    p, X, Y, states = make_case(kind, rng, B, T, 2, 3, 2, "many_to_many")
    out = kind.forward(p, X, *states)
    loss, g = kind.bptt(p, X, Y, *states)
    kept = [a.copy() for a in (*out, *g)]
    kind.forward(p, 2 * X, *states)  # same shapes, other numbers, the same work arrays
    kind.bptt(p, -X, Y, *states)
    kind.truncated(p, X[:, ::-1], Y, 1, *states)
    for a, b in zip((*out, *g), kept, strict=True):
        np.testing.assert_array_equal(a, b)
    assert kind.bptt(p, X, Y, *states)[0] == loss


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
def test_threads_have_their_own_work_arrays(rng, kind) -> None:
    cases = [make_case(kind, rng, 4, 30, 3, 8, 2, "many_to_many") for _ in range(4)]
    serial = [kind.bptt(p, X, Y, *s)[1] for p, X, Y, s in cases]
    results: dict[int, list] = {}

    def work(i: int) -> None:
        p, X, Y, s = cases[i]
        results[i] = [kind.bptt(p, X, Y, *s)[1] for _ in range(5)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, expected in enumerate(serial):
        for got in results[i]:
            for a, b in zip(got, expected, strict=True):
                np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# full BPTT against central differences of the reference
# ---------------------------------------------------------------------------------------------

SHAPES = [(1, 1, 2, 3, 2), (1, 6, 3, 2, 1), (3, 1, 2, 3, 2), (2, 4, 3, 4, 2), (3, 7, 1, 3, 1)]


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("B", "T", "F", "H", "O"), SHAPES)
def test_bptt_matches_central_differences(rng, kind, mode, B, T, F, H, O) -> None:
    p, X, Y, states = make_case(kind, rng, B, T, F, H, O, mode)
    loss, g = kind.bptt(p, X, Y, *states, mode=mode)
    assert isinstance(g, LSTMGradients if kind is LSTM_KIND else GRUGradients)
    assert loss == pytest.approx(ref_loss(kind, p, X, Y, states, mode), rel=1e-12)
    num = numeric_grads(lambda q, s: ref_loss(kind, q, X, Y, s, mode), p, states, kind.states)
    assert_grads_close(g, num)


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
def test_random_shapes_bptt_matches_central_differences(rng, kind) -> None:
    for _ in range(3):
        B, T, F, H, O = (int(v) for v in rng.integers(1, 5, size=5))
        mode = MODES[int(rng.integers(2))]
        p, X, Y, states = make_case(kind, rng, B, T, F, H, O, mode)
        _, g = kind.bptt(p, X, Y, *states, mode=mode)

        def loss(q, s, X=X, Y=Y, mode=mode) -> float:
            return ref_loss(kind, q, X, Y, s, mode)

        assert_grads_close(g, numeric_grads(loss, p, states, kind.states))


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
def test_shared_initial_state_gradient_sums_over_the_batch(rng, kind) -> None:
    p, X, Y, _ = make_case(kind, rng, 3, 4, 2, 3, 2, "many_to_many")
    shared = tuple(0.5 * rng.standard_normal(3) for _ in kind.states)
    _, g = kind.bptt(p, X, Y, *shared)
    _, g_rows = kind.bptt(p, X, Y, *(np.tile(s, (3, 1)) for s in shared))
    for name in kind.states:
        assert getattr(g, name).shape == (3,)
        np.testing.assert_allclose(getattr(g, name), getattr(g_rows, name).sum(axis=0), rtol=1e-12, atol=1e-15)
    num = numeric_grads(lambda q, s: ref_loss(kind, q, X, Y, s, "many_to_many"), p, shared, kind.states)
    assert_grads_close(g, {name: num[name] for name in kind.states})


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
def test_without_initial_states_their_gradients_have_batch_shape(rng, kind) -> None:
    p, X, Y, _ = make_case(kind, rng, 2, 3, 2, 3, 1, "many_to_many")
    _, g = kind.bptt(p, X, Y)
    zeros = tuple(np.zeros((2, 3)) for _ in kind.states)
    num = numeric_grads(lambda q, s: ref_loss(kind, q, X, Y, s, "many_to_many"), p, zeros, kind.states)
    assert_grads_close(g, {name: num[name] for name in kind.states})


def test_lstm_c0_gradient_by_hand() -> None:
    """One unit, one step, all weights zero: every sigmoid gate is 1/2 and g = 0, so c_1 = c_0 / 2."""
    p = LSTMParams(np.zeros((4, 1)), np.zeros((4, 1)), np.zeros(4), np.array([[1.5]]), np.zeros(1))
    c0, y = 0.8, 0.1
    c1 = 0.5 * c0
    h1 = 0.5 * np.tanh(c1)
    e = 1.5 * h1 - y
    _, g = lstm_bptt(p, np.zeros((1, 1, 1)), np.array([[[y]]]), None, np.array([c0]))
    np.testing.assert_allclose(g.c0, [e * 1.5 * 0.5 * (1 - np.tanh(c1) ** 2) * 0.5], rtol=1e-14)
    np.testing.assert_allclose(g.W_hy, [[e * h1]], rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# truncated BPTT
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("extra", [0, 1, 7])
def test_truncated_with_k_at_least_T_is_full_bptt_exactly(rng, kind, mode, extra) -> None:
    p, X, Y, states = make_case(kind, rng, 3, 5, 2, 4, 2, mode)
    loss_full, full = kind.bptt(p, X, Y, *states, mode=mode)
    loss_cut, cut = kind.truncated(p, X, Y, 5 + extra, *states, mode=mode)
    assert loss_cut == loss_full
    for a, b in zip(cut, full, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("B", "T", "k"), [(2, 5, 1), (2, 5, 2), (1, 6, 4), (3, 4, 3)])
def test_truncated_matches_its_definition(rng, kind, mode, B, T, k) -> None:
    p, X, Y, states = make_case(kind, rng, B, T, 2, 3, 2, mode)
    loss, g = kind.truncated(p, X, Y, k, *states, mode=mode)
    assert loss == pytest.approx(ref_loss(kind, p, X, Y, states, mode), rel=1e-12)  # the loss is never cut
    frozen = (p, states)
    num = numeric_grads(lambda q, s: ref_truncated_loss(kind, q, s, frozen, X, Y, mode, k), p, states, kind.states)
    assert_grads_close(g, num)
    _, full = kind.bptt(p, X, Y, *states, mode=mode)
    assert rel_error(g.W_h, full.W_h) > 1e-6  # the cut removed something


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
def test_truncated_k1_reaches_the_initial_states_from_the_first_loss_term_only(rng, kind) -> None:
    p, X, Y, states = make_case(kind, rng, 2, 4, 2, 3, 1, "many_to_many")
    _, g = kind.truncated(p, X, Y, 1, *states)
    # only L_1 reaches the initial states, so their gradient is that of L_1 alone, by full BPTT over step 1
    _, g1 = kind.bptt(p, X[:, :1], Y[:, :1], *states)
    for name in kind.states:
        np.testing.assert_allclose(getattr(g, name), getattr(g1, name), rtol=1e-12, atol=1e-15)
    _, one = kind.truncated(p, X, Y[:, -1], 1, *states, mode="many_to_one")
    for name in kind.states:
        assert not np.any(getattr(one, name))  # T = 4 > k = 1: L_T does not reach them


@pytest.mark.parametrize("T", [1, 2, 6])
def test_windowed_recursions_with_k_equal_T_equal_the_full_ones(rng, T) -> None:
    """The lag-by-lag code computes the full gradients when nothing is cut (up to rounding).

    The kernels work in reused scratch arrays, so each result is copied before the next call.
    """
    p, X, _, (h0, c0) = make_case(LSTM_KIND, rng, 3, T, 2, 4, 2, "many_to_many")
    Xt = np.ascontiguousarray(X.transpose(1, 0, 2))
    G = rng.standard_normal((T, 4, 3))  # the kernels are feature-major: (T, hidden, batch)
    full = [a.copy() for a in _lstm_backward(p, _lstm_states(p, Xt, h0, c0), G.copy(), T)]
    windowed = [a.copy() for a in _lstm_windowed(p, _lstm_states(p, Xt, h0, c0), G.copy(), T)]
    for a, b in zip(windowed, full, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    q, _, _, (g0,) = make_case(GRU_KIND, rng, 3, T, 2, 4, 2, "many_to_many")
    results = []
    for kernel in (_gru_backward, _gru_windowed):  # each writes the gates' gradients into the trace
        tr = _gru_states(q, Xt, g0)
        dh0 = kernel(q, tr, G.copy(), T)
        results.append([dh0.copy(), tr.AH.copy(), tr.A[:, 8:].copy()])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
@pytest.mark.parametrize("k", [0, -1])
def test_truncated_refuses_bad_k(rng, kind, k) -> None:
    p, X, Y, _ = make_case(kind, rng, 2, 3, 2, 3, 1, "many_to_many")
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        kind.truncated(p, X, Y, k)
    with pytest.raises(TypeError, match="k must be an integer >= 1"):
        kind.truncated(p, X, Y, 2.0)


# ---------------------------------------------------------------------------------------------
# dtypes, sizes, initialization
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_float32_in_gives_float32_out(rng, kind, mode) -> None:
    p, X, Y, states = make_case(kind, rng, 3, 4, 2, 5, 2, mode)
    p32 = kind.params(*(a.astype(np.float32) for a in p))
    X32 = X.astype(np.float32)
    out = kind.forward(p32, X32, *states, mode=mode)  # float64 initial states do not promote
    assert all(a.dtype == np.float32 for a in out)
    for k in (None, 2):
        args = (p32, X32, Y, *states) if k is None else (p32, X32, Y, k, *states)
        _, g = (kind.bptt if k is None else kind.truncated)(*args, mode=mode)
        assert all(a.dtype == np.float32 for a in g)
        _, g64 = kind.bptt(p, X, Y, *states, mode=mode) if k is None else kind.truncated(p, X, Y, k, *states, mode=mode)
        for a, b in zip(g, g64, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    model = kind.model(2, 5, 2, mode=mode, dtype=np.float32, seed=0)
    assert model.forward(X).dtype == np.float32
    assert all(a.dtype == np.float32 for a in model.loss_and_gradients(X, Y)[1])


@pytest.mark.parametrize(("n", "h", "o"), [(1, 1, 1), (3, 5, 2), (7, 4, 3)])
def test_parameter_counts(n, h, o) -> None:
    readout = h * o + o
    lstm, gru = LSTM(n, h, o, seed=0), GRU(n, h, o, seed=0)
    assert lstm.count_params() == 4 * (n * h + h * h + h) + readout
    assert gru.count_params() == 3 * (n * h + h * h + 2 * h) + readout
    assert lstm.get_flat_weights().size == lstm.count_params()
    assert gru.get_flat_weights().size == gru.count_params()
    assert [a.shape for a in gru.params] == [(3 * h, n), (3 * h, h), (3 * h,), (3 * h,), (o, h), (o,)]
    assert [a.shape for a in lstm.params] == [(4 * h, n), (4 * h, h), (4 * h,), (o, h), (o,)]


def test_init_as_keras() -> None:
    p = lstm_init_params(3, 5, 2, seed=1)
    np.testing.assert_allclose(p.W_h.T @ p.W_h, np.eye(5), atol=1e-12)  # one orthogonal (4h, h) matrix
    assert not np.allclose(p.W_h[:5] @ p.W_h[:5].T, np.eye(5), atol=1e-3)  # its blocks are not orthogonal
    assert np.abs(p.W_x).max() <= np.sqrt(6 / (3 + 20))  # Glorot over the whole (4h, n) kernel
    np.testing.assert_array_equal(p.b, np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    np.testing.assert_array_equal(lstm_init_params(3, 5, 2, seed=1, unit_forget_bias=False).b, np.zeros(20))
    np.testing.assert_array_equal(LSTM(3, 5, 2, seed=1, unit_forget_bias=False).params.b, np.zeros(20))
    q = gru_init_params(3, 5, 2, seed=1, dtype=np.float32)
    assert all(a.dtype == np.float32 for a in q)
    np.testing.assert_allclose(q.W_h.T @ q.W_h, np.eye(5), atol=1e-5)
    assert not np.any(q.b_x)
    assert not np.any(q.b_h)
    for a, b in zip(lstm_init_params(3, 5, 2, seed=1), LSTM(3, 5, 2, seed=1).params, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(LSTM(3, 5, 2, seed=2).params.W_x, p.W_x)
    with pytest.raises(TypeError, match="unit_forget_bias must be True or False"):
        lstm_init_params(3, 5, 2, unit_forget_bias=1)


@pytest.mark.parametrize("shape", [(12, 3), (3, 12), (5, 5), (1, 1)])
def test_orthogonal_draws_as_keras_and_keeps_square_draws(shape) -> None:
    """Tall: orthonormal columns; wide: orthonormal rows; square: the same numbers as before (QR of one draw)."""
    W = initializers.orthogonal(shape, np.random.default_rng(3))
    assert W.shape == shape
    rows, cols = shape
    gram = W.T @ W if rows >= cols else W @ W.T
    np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-12)
    if rows == cols:  # the draw of chapter 6, unchanged
        Q, R = np.linalg.qr(np.random.default_rng(3).standard_normal(shape))
        np.testing.assert_array_equal(W, Q * np.sign(np.diag(R)))
    with pytest.raises(ValueError, match=r"shape must be \(n_out, n_in\)"):
        initializers.orthogonal((*shape, 1), np.random.default_rng(3))


# ---------------------------------------------------------------------------------------------
# loaders from the layouts of PyTorch and Keras, built from numbers
# ---------------------------------------------------------------------------------------------


def gate_blocks(rng: np.random.Generator, gates: str, n: int, h: int) -> dict[str, dict[str, np.ndarray]]:
    """By hand, per gate: its input block W (h, n), its recurrent block U (h, h), and two biases."""
    return {
        gate: {
            "W": rng.standard_normal((h, n)),
            "U": rng.standard_normal((h, h)),
            "b1": rng.standard_normal(h),
            "b2": rng.standard_normal(h),
        }
        for gate in gates
    }


def lstm_hand_step(blocks: dict, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    def pre(gate: str) -> np.ndarray:
        q = blocks[gate]
        return q["W"] @ x + q["U"] @ h + q["b1"] + q["b2"]

    c_new = sig(pre("f")) * c + sig(pre("i")) * np.tanh(pre("g"))
    return sig(pre("o")) * np.tanh(c_new), c_new


def gru_hand_step(blocks: dict, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    z, r, n = blocks["z"], blocks["r"], blocks["n"]
    zt = sig(z["W"] @ x + z["b1"] + z["U"] @ h + z["b2"])
    rt = sig(r["W"] @ x + r["b1"] + r["U"] @ h + r["b2"])
    nt = np.tanh(n["W"] @ x + n["b1"] + rt * (n["U"] @ h + n["b2"]))
    return (1 - zt) * nt + zt * h


def hand_run(step: Callable, X: np.ndarray, h_size: int, lstm: bool) -> np.ndarray:
    """Hidden states (B, T, h) by the hand-written step, one sequence at a time."""
    B, T, _ = X.shape
    H = np.zeros((B, T, h_size))
    for i in range(B):
        h, c = np.zeros(h_size), np.zeros(h_size)
        for t in range(T):
            if lstm:
                h, c = step(X[i, t], h, c)
            else:
                h = step(X[i, t], h)
            H[i, t] = h
    return H


def test_lstm_loaders_from_torch_and_keras_layouts(rng) -> None:
    n, h, o = 3, 4, 2
    blocks = gate_blocks(rng, "ifgo", n, h)
    W_y, b_y = rng.standard_normal((o, h)), rng.standard_normal(o)
    X = rng.standard_normal((2, 5, n))
    H_ref = hand_run(lambda x, hh, c: lstm_hand_step(blocks, x, hh, c), X, h, lstm=True)
    Y_ref = H_ref @ W_y.T + b_y
    torch_layout = [np.vstack([blocks[k][part] for k in "ifgo"]) for part in ("W", "U")]
    torch_layout += [np.concatenate([blocks[k][part] for k in "ifgo"]) for part in ("b1", "b2")]
    keras = [np.hstack([blocks[k][part].T for k in "ifgo"]) for part in ("W", "U")]  # Keras's "c" is our g
    keras_bias = np.concatenate([blocks[k]["b1"] + blocks[k]["b2"] for k in "ifgo"])
    assert [a.shape for a in keras] == [(n, 4 * h), (h, 4 * h)]
    from_torch = lstm_params_from_torch(*torch_layout, W_y, b_y)
    from_keras = lstm_params_from_keras(*keras, keras_bias, W_y.T.copy(), b_y)
    for p in (from_torch, from_keras):
        out = lstm_forward(p, X)
        np.testing.assert_allclose(out.H, H_ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(out.Y_hat, Y_ref, rtol=1e-12, atol=1e-14)
    for model in (
        LSTM.from_torch_weights(*torch_layout, W_y, b_y, mode="many_to_one", seed=3),
        LSTM.from_keras_weights(*keras, keras_bias, W_y.T, b_y, mode="many_to_one"),
    ):
        assert (model.input_size, model.hidden_size, model.output_size, model.mode) == (n, h, o, "many_to_one")
        np.testing.assert_allclose(model.forward(X), Y_ref[:, -1], rtol=1e-12)
    # the loaded arrays are the model's own
    assert not any(np.shares_memory(a, b) for a in from_torch for b in [*torch_layout, W_y, b_y])
    assert not any(np.shares_memory(a, b) for a in from_keras for b in [*keras, keras_bias, b_y])
    assert all(a.flags.c_contiguous for a in from_keras)


def test_gru_loaders_from_torch_and_keras_layouts(rng) -> None:
    n, h, o = 2, 3, 2
    blocks = gate_blocks(rng, "zrn", n, h)
    W_y, b_y = rng.standard_normal((o, h)), rng.standard_normal(o)
    X = rng.standard_normal((3, 4, n))
    H_ref = hand_run(lambda x, hh: gru_hand_step(blocks, x, hh), X, h, lstm=False)
    Y_ref = H_ref @ W_y.T + b_y
    torch_order = "rzn"  # PyTorch stacks reset, update, candidate
    torch_layout = [np.vstack([blocks[k][part] for k in torch_order]) for part in ("W", "U")]
    torch_layout += [np.concatenate([blocks[k][part] for k in torch_order]) for part in ("b1", "b2")]
    keras = [np.hstack([blocks[k][part].T for k in "zrn"]) for part in ("W", "U")]  # Keras: z, r, h
    keras_bias = np.stack([np.concatenate([blocks[k][part] for k in "zrn"]) for part in ("b1", "b2")])
    assert keras_bias.shape == (2, 3 * h)
    for p in (gru_params_from_torch(*torch_layout, W_y, b_y), gru_params_from_keras(*keras, keras_bias, W_y.T, b_y)):
        out = gru_forward(p, X)
        np.testing.assert_allclose(out.H, H_ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(out.Y_hat, Y_ref, rtol=1e-12, atol=1e-14)
    for model in (
        GRU.from_torch_weights(*torch_layout, W_y, b_y),
        GRU.from_keras_weights(*keras, keras_bias, W_y.T, b_y),
    ):
        np.testing.assert_allclose(model.forward(X), Y_ref, rtol=1e-12)
        np.testing.assert_allclose(model.hidden_states(X), H_ref, rtol=1e-12, atol=1e-14)
    # without the reordering, PyTorch's layout would give another network
    wrong = GRUParams(*torch_layout, W_y, b_y)
    assert rel_error(gru_forward(wrong, X).H, H_ref) > 1e-3


def test_loaders_keep_float32_and_refuse_bad_layouts(rng) -> None:
    h = 2
    f32 = [a.astype(np.float32) for a in (np.ones((8, 3)), np.ones((8, h)), np.ones(8), np.ones(8))]
    p = lstm_params_from_torch(*f32, np.ones((1, h), np.float32), np.zeros(1, np.float32))
    assert all(a.dtype == np.float32 for a in p)
    assert LSTM.from_torch_weights(*f32, np.ones((1, h), np.float32), np.zeros(1, np.float32)).dtype == np.float32
    assert lstm_params_from_torch(*f32, np.ones((1, h)), np.zeros(1)).W_x.dtype == np.float64
    assert lstm_params_from_torch(*f32, np.ones((1, h)), np.zeros(1), dtype=np.float32).W_x.dtype == np.float32
    with pytest.raises(ValueError, match=r"weight_hh must have shape \(4 hidden, hidden\)"):
        lstm_params_from_torch(np.ones((6, 3)), np.ones((6, 2)), np.ones(6), np.ones(6), np.ones((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match=r"weight_ih must have shape \(4 hidden, features\) = \(8, features\)"):
        lstm_params_from_torch(np.ones((6, 3)), np.ones((8, 2)), np.ones(8), np.ones(8), np.ones((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match=r"bias_hh must have shape \(4 hidden,\) = \(8,\)"):
        lstm_params_from_torch(np.ones((8, 3)), np.ones((8, 2)), np.ones(8), np.ones(6), np.ones((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match=r"recurrent_kernel must have shape \(hidden, 4 hidden\)"):
        lstm_params_from_keras(np.ones((3, 8)), np.ones((8, 2)), np.ones(8), np.ones((2, 1)), np.zeros(1))
    with pytest.raises(ValueError, match=r"dense_kernel must have shape \(hidden, outputs\) with hidden = 2"):
        lstm_params_from_keras(np.ones((3, 8)), np.ones((2, 8)), np.ones(8), np.ones((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match=r"bias must be a 2-D array .* reset_after=True.*reset_after=False"):
        gru_params_from_keras(np.ones((3, 6)), np.ones((2, 6)), np.ones(6), np.ones((2, 1)), np.zeros(1))
    with pytest.raises(ValueError, match=r"bias must have shape \(2, 3 hidden\) = \(2, 6\)"):
        gru_params_from_keras(np.ones((3, 6)), np.ones((2, 6)), np.ones((2, 9)), np.ones((2, 1)), np.zeros(1))
    with pytest.raises(ValueError, match=r"W_hy must have shape \(outputs, hidden\) with hidden = 2"):
        gru_params_from_torch(np.ones((6, 3)), np.ones((6, 2)), np.ones(6), np.ones(6), np.ones((2, 1)), np.zeros(1))


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
def test_errors_name_the_argument(rng, kind) -> None:
    p, X, Y, _ = make_case(kind, rng, 2, 3, 3, 4, 2, "many_to_many")
    g = kind.gates
    with pytest.raises(ValueError, match=rf"X has 5 features per step, but W_x expects 3 \(W_x has shape \({g} hidden"):
        kind.bptt(p, rng.standard_normal((2, 3, 5)), Y)
    with pytest.raises(ValueError, match=r"X must be a 3-D array of shape \(batch, T, features\)"):
        kind.forward(p, rng.standard_normal((2, 3)))
    with pytest.raises(ValueError, match=r"for mode='many_to_one'.*A target at every step is mode='many_to_many'"):
        kind.bptt(p, X, Y, mode="many_to_one")
    with pytest.raises(ValueError, match=rf"params.W_h must have shape \({g} hidden, hidden\)"):
        kind.bptt(p._replace(W_h=np.zeros((g * 4, 3))), X, Y)
    with pytest.raises(ValueError, match=rf"params.W_x must have shape \({g} hidden, features\) = \({4 * g}, features"):
        kind.bptt(p._replace(W_x=np.zeros((g * 3, 3))), X, Y)
    with pytest.raises(ValueError, match=r"params.W_hy must have shape \(outputs, hidden\) with hidden = 4"):
        kind.bptt(p._replace(W_hy=np.zeros((2, 5))), X, Y)
    with pytest.raises(TypeError, match=rf"params must be an {kind.params.__name__} or a sequence of {len(p)} arrays"):
        kind.bptt(list(p)[:-1], X, Y)
    for j, name in enumerate(kind.states):
        bad = [None] * len(kind.states)
        bad[j] = np.zeros((3, 4))
        with pytest.raises(ValueError, match=rf"{name} must have shape \(hidden,\) = \(4,\)"):
            kind.bptt(p, X, Y, *bad)
    with pytest.raises(ValueError, match="mode must be"):
        kind.bptt(p, X, Y, mode="one_to_many")
    X[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"X must hold only finite values.*index \(1, 2, 0\)"):
        kind.bptt(p, X, Y)


def test_bias_shapes_named(rng) -> None:
    p, X, Y, _ = make_case(LSTM_KIND, rng, 2, 3, 3, 4, 2, "many_to_many")
    with pytest.raises(ValueError, match=r"params.b must have shape \(4 hidden,\) = \(16,\)"):
        lstm_bptt(p._replace(b=np.zeros(12)), X, Y)
    q, X, Y, _ = make_case(GRU_KIND, rng, 2, 3, 3, 4, 2, "many_to_many")
    with pytest.raises(ValueError, match=r"params.b_h must have shape \(3 hidden,\) = \(12,\)"):
        gru_bptt(q._replace(b_h=np.zeros(4)), X, Y)


# ---------------------------------------------------------------------------------------------
# the models and their training
# ---------------------------------------------------------------------------------------------


def echo_task(rng: np.random.Generator, n: int = 32, T: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Output at step t the input of step t-1 (needs memory of one step)."""
    X = rng.uniform(-1, 1, (n, T, 1))
    return X, np.concatenate([np.zeros((n, 1, 1)), X[:, :-1]], axis=1)


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_model_methods_agree_with_the_functions(rng, kind, mode) -> None:
    model = kind.model(2, 5, 3, mode=mode, seed=0)
    X = rng.standard_normal((4, 7, 2))
    Y = rng.standard_normal((4, 7, 3) if mode == "many_to_many" else (4, 3))
    states = tuple(rng.standard_normal(5) for _ in kind.states)
    kw = dict(zip(kind.states[1:], states[1:], strict=True))  # c0 is keyword-only on the model
    out = kind.forward(model.params, X, *states, mode=mode)
    np.testing.assert_array_equal(model.forward(X, states[0], **kw), out.Y_hat)
    np.testing.assert_array_equal(model.predict(X, states[0], **kw), out.Y_hat)
    np.testing.assert_array_equal(model.hidden_states(X, states[0], **kw), out.H)
    if kind is LSTM_KIND:
        np.testing.assert_array_equal(model.cell_states(X, states[0], **kw), out.C)
    loss, g = model.loss_and_gradients(X, Y, states[0], **kw)
    loss_f, g_f = kind.bptt(model.params, X, Y, *states, mode=mode)
    assert loss == loss_f
    for a, b in zip(g, g_f, strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.loss(X, Y, states[0], **kw) == pytest.approx(loss, rel=1e-12)
    _, g_t = model.loss_and_gradients(X, Y, states[0], 2, **kw)
    _, g_tf = kind.truncated(model.params, X, Y, 2, *states, mode=mode)
    for a, b in zip(g_t, g_tf, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="Y must have shape"):
        model.loss(X, Y[..., :2])
    assert (
        repr(model)
        == f"{kind.model.__name__}(input_size=2, hidden_size=5, output_size=3, mode={mode!r}, dtype=float64)"
    )


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
def test_flat_weights_round_trip(kind) -> None:
    model = kind.model(2, 3, 1, seed=0)
    theta = model.get_flat_weights()
    live = list(model.params)
    model.set_flat_weights(theta * 2)
    assert all(a is b for a, b in zip(model.params, live, strict=True))  # updated in place
    np.testing.assert_array_equal(model.get_flat_weights(), theta * 2)
    with pytest.raises(ValueError, match=rf"theta must have length {theta.size}"):
        model.set_flat_weights(theta[:-1])


def test_fit_has_exactly_the_options_of_rnn_fit() -> None:
    rnn = inspect.signature(RNN.fit).parameters
    for model in (LSTM, GRU):
        params = inspect.signature(model.fit).parameters
        assert list(params) == list(rnn)
        for name, param in rnn.items():
            assert params[name].kind is param.kind, name
            assert params[name].default == param.default, name


OPTIMIZERS = {
    "sgd": lambda: optim.SGD(learning_rate=0.1, momentum=0.5),
    "adam": lambda: optim.Adam(learning_rate=0.02),
    "adagrad": lambda: optim.AdaGrad(learning_rate=0.1),
    "rmsprop": lambda: optim.RMSProp(learning_rate=0.005),
    "adamw": lambda: optim.AdamW(learning_rate=0.02),
}


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_fit_reduces_the_loss_with_every_optimizer(rng, kind, name) -> None:
    X, Y = echo_task(rng)
    model = kind.model(1, 8, 1, seed=0)
    before = model.loss(X, Y)
    hist = model.fit(X, Y, epochs=30, batch_size=8, optimizer=OPTIMIZERS[name](), seed=0, verbose=0)
    assert isinstance(hist, RNNHistory)
    assert len(hist.loss) == 30
    assert len(hist.step_loss) == len(hist.grad_norm) == 30 * 4
    assert model.loss(X, Y) < 0.5 * before
    assert hist.loss[-1] < hist.loss[0]


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
@pytest.mark.parametrize(("mode", "truncate", "clip"), [("many_to_many", 2, 1.0), ("many_to_one", 3, 0.5)])
def test_fit_truncated_and_clipped_reduces_the_loss(rng, kind, mode, truncate, clip) -> None:
    X, Y = echo_task(rng)
    if mode == "many_to_one":
        Y = X[:, -2]  # recall the input one step before the end
    model = kind.model(1, 8, 1, mode=mode, seed=0)
    before = model.loss(X, Y)
    model.fit(
        X, Y, epochs=40, batch_size=8, optimizer=optim.Adam(0.02), clip=clip, truncate=truncate, seed=0, verbose=0
    )
    assert model.loss(X, Y) < 0.5 * before


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
def test_fit_truncate_at_least_T_is_full_bptt(rng, kind) -> None:
    X, Y = echo_task(rng, T=5)
    runs = [
        kind.model(1, 4, 1, seed=0).fit(X, Y, epochs=2, batch_size=8, optimizer=SGD(0.1), truncate=k, verbose=0)
        for k in (None, 5, 50)
    ]
    assert runs[0].step_loss == runs[1].step_loss == runs[2].step_loss


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
def test_fit_clip_bounds_the_applied_update(rng, kind) -> None:
    X, Y = echo_task(rng, n=8)
    model = kind.model(1, 6, 1, seed=3)
    start = [a.copy() for a in model.params]
    hist = model.fit(X, Y, epochs=1, batch_size=8, optimizer=SGD(1.0), clip=1e-3, seed=0, verbose=0)
    step = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(model.params, start, strict=True)))
    assert hist.grad_norm[0] > 1e-3
    assert step == pytest.approx(1e-3, rel=1e-10)


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
def test_fit_same_seed_same_history(rng, kind) -> None:
    X, Y = echo_task(rng)

    def run(seed: int) -> RNNHistory:
        return kind.model(1, 6, 1, seed=0).fit(X, Y, epochs=3, batch_size=5, optimizer="adam", seed=seed, verbose=0)

    h1, h2, h3 = run(7), run(7), run(8)
    assert h1.step_loss == h2.step_loss
    assert h1.grad_norm == h2.grad_norm
    assert h1.history == h2.history == {"loss": h1.loss}
    assert h1.step_loss != h3.step_loss


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
def test_fit_float32_model_stays_float32(rng, kind) -> None:
    X, Y = echo_task(rng)
    model = kind.model(1, 8, 1, seed=0, dtype=np.float32)
    model.fit(X, Y, epochs=2, batch_size=8, optimizer=SGD(0.05), seed=0, verbose=0)
    assert all(w.dtype == np.float32 for w in model.params)
    assert model.forward(X).dtype == np.float32


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"Y": np.zeros((32, 1))}, ValueError, r"Y must have shape \(batch, T, outputs\)"),
        ({"X": np.zeros((32, 6, 2))}, ValueError, "X has 2 features per step, but W_x expects 1"),
        ({"epochs": 0}, ValueError, "epochs must be an integer >= 1"),
        ({"clip": 0.0}, ValueError, "clip must be > 0"),
        ({"truncate": 0}, ValueError, "truncate must be an integer >= 1"),
        ({"optimizer": object()}, TypeError, "optimizer must be one of 'sgd'"),
    ],
)
def test_failed_fit_leaves_weights_unchanged(rng, kind, kwargs, exc, match) -> None:
    X, Y = echo_task(rng)
    model = kind.model(1, 4, 1, seed=0)
    before = [a.copy() for a in model.params]
    with pytest.raises(exc, match=match):
        model.fit(**({"X": X, "Y": Y, "epochs": 2, "batch_size": 8, "optimizer": SGD(0.1)} | kwargs))
    for a, b in zip(model.params, before, strict=True):
        np.testing.assert_array_equal(a, b)
