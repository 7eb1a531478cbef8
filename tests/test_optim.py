"""Tests of mlmath.optim: first steps against the published update rules, written out with plain floats."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlmath import optim
from mlmath.optim import SGD, Adam, adam_step, sgd_step

GRADS = [0.5, -1.5, 2.0]  # the gradients of three successive steps, for one scalar parameter
THETA0 = 1.25


def sgd_reference(lr: float, mu: float, nesterov: bool) -> list[float]:
    """Keras SGD: v <- mu v - lr g; theta <- theta + v  (Nesterov: theta <- theta + mu v - lr g)."""
    theta, v, out = THETA0, 0.0, []
    for g in GRADS:
        v = mu * v - lr * g
        theta = theta + mu * v - lr * g if nesterov else theta + v
        out.append(theta)
    return out


def adam_reference(lr: float, b1: float, b2: float, eps: float) -> list[float]:
    """Keras Adam: m, v moving averages; theta <- theta - lr sqrt(1 - b2^t)/(1 - b1^t) m/(sqrt(v) + eps)."""
    theta, m, v, out = THETA0, 0.0, 0.0, []
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta -= lr * math.sqrt(1 - b2**t) / (1 - b1**t) * m / (math.sqrt(v) + eps)
        out.append(theta)
    return out


SGD_CASES = [(0.1, 0.0, False), (0.05, 0.9, False), (0.05, 0.9, True), (0.2, 0.5, True)]
ADAM_CASES = [(0.001, 0.9, 0.999, 1e-7), (0.1, 0.8, 0.99, 1e-3), (0.01, 0.0, 0.5, 1e-7)]


# --- three steps against the published rules ------------------------------------------------


@pytest.mark.parametrize(("lr", "mu", "nesterov"), SGD_CASES)
def test_sgd_three_steps_match_the_rule(lr, mu, nesterov):
    expected = sgd_reference(lr, mu, nesterov)
    theta, state = np.array([THETA0]), None
    W = np.array([THETA0])
    opt = SGD(learning_rate=lr, momentum=mu, nesterov=nesterov)
    for step, g in enumerate(GRADS):
        theta, state = sgd_step(theta, np.array([g]), state, learning_rate=lr, momentum=mu, nesterov=nesterov)
        opt.apply_gradients([W], [np.array([g])])
        assert theta[0] == pytest.approx(expected[step], rel=1e-14, abs=1e-15)
        assert W[0] == pytest.approx(expected[step], rel=1e-14, abs=1e-15)
    assert state["t"] == opt.iterations == 3


@pytest.mark.parametrize(("lr", "b1", "b2", "eps"), ADAM_CASES)
def test_adam_three_steps_match_the_rule(lr, b1, b2, eps):
    expected = adam_reference(lr, b1, b2, eps)
    theta, state = np.array([THETA0]), None
    W = np.array([THETA0])
    opt = Adam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)
    for step, g in enumerate(GRADS):
        theta, state = adam_step(theta, np.array([g]), state, learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)
        opt.apply_gradients([W], [np.array([g])])
        assert theta[0] == pytest.approx(expected[step], rel=1e-13)
        assert W[0] == pytest.approx(expected[step], rel=1e-13)
    assert state["t"] == opt.iterations == 3


def test_adam_bias_corrected_form_with_epsilon_hat():
    # the docstring's second form: theta - lr * m_hat / (sqrt(v_hat) + eps / sqrt(1 - b2^t))
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-3
    theta, m, v = THETA0, 0.0, 0.0
    state, p = None, np.array([THETA0])
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        theta -= lr * m_hat / (math.sqrt(v_hat) + eps / math.sqrt(1 - b2**t))
        p, state = adam_step(p, np.array([g]), state, learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)
        assert p[0] == pytest.approx(theta, rel=1e-13)


def test_first_adam_step_is_about_the_learning_rate():
    p, _ = adam_step(np.array([0.0, 0.0]), np.array([3.0, -0.1]), learning_rate=0.01)
    np.testing.assert_allclose(p, [-0.01, 0.01], rtol=1e-4)


# --- pure and stateful forms agree ------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: (SGD(0.05, momentum=0.9, nesterov=True), sgd_step, {"learning_rate": 0.05, "momentum": 0.9,
                                                                 "nesterov": True}),
    lambda: (Adam(0.01), adam_step, {"learning_rate": 0.01}),
])
def test_object_and_pure_function_are_bitwise_identical(make):
    opt, step, kwargs = make()
    rng = np.random.default_rng(3)
    params = [rng.normal(size=(3, 4)), rng.normal(size=3)]
    pure = [p.copy() for p in params]
    states = [None, None]
    for _ in range(5):
        grads = [rng.normal(size=p.shape) for p in params]
        opt.apply_gradients(params, grads)
        for i in range(2):
            pure[i], states[i] = step(pure[i], grads[i], states[i], **kwargs)
    for a, b in zip(params, pure, strict=True):
        np.testing.assert_array_equal(a, b)


def test_pure_functions_change_nothing_they_are_given():
    p, g = np.array([1.0, 2.0]), np.array([0.5, -0.5])
    _, state = adam_step(p, g)
    saved = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}
    p2, state2 = adam_step(p, g, state)
    np.testing.assert_array_equal(p, [1.0, 2.0])
    np.testing.assert_array_equal(g, [0.5, -0.5])
    for key in ("m", "v"):
        np.testing.assert_array_equal(state[key], saved[key])
        assert state2[key] is not state[key]
    assert state["t"] == 1
    assert state2["t"] == 2
    assert not np.shares_memory(p2, p)


def test_updates_are_in_place_and_keep_float32():
    W = np.ones((4, 3), dtype=np.float32)
    b = np.zeros(4, dtype=np.float32)
    address = W.__array_interface__["data"][0]
    opt = Adam(0.1)
    for _ in range(3):
        opt.apply_gradients([W, b], [np.full((4, 3), 0.5), np.ones(4, dtype=np.float32)])
    assert W.__array_interface__["data"][0] == address
    assert W.dtype == b.dtype == np.float32
    assert all(a.dtype == np.float32 for a in opt.get_state()["m"])
    p, state = sgd_step(np.ones(2, dtype=np.float32), np.ones(2), None, momentum=0.5)
    assert p.dtype == state["velocity"].dtype == np.float32


def test_minimizes_a_2d_quadratic():
    # f(x, y) = x^2 + 10 y^2, gradient (2x, 20y)
    def grad(theta):
        return np.array([2 * theta[0], 20 * theta[1]])

    theta, state = np.array([3.0, -2.0]), None
    for _ in range(300):
        theta, state = sgd_step(theta, grad(theta), state, learning_rate=0.02, momentum=0.8)
    assert np.abs(theta).max() < 1e-6
    theta, state = np.array([3.0, -2.0]), None
    for _ in range(2000):
        theta, state = adam_step(theta, grad(theta), state, learning_rate=0.05)
    assert np.abs(theta).max() < 1e-3


# --- saving and resuming ----------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: Adam(0.01), lambda: SGD(0.05, momentum=0.9), lambda: SGD(0.05)])
def test_state_save_and_resume_is_exact(make):
    rng = np.random.default_rng(8)
    grads = [[rng.normal(size=(2, 3)), rng.normal(size=2)] for _ in range(6)]
    params = [np.ones((2, 3)), np.zeros(2)]
    opt = make()
    for g in grads[:3]:
        opt.apply_gradients(params, g)
    saved_state, saved_params = opt.get_state(), [p.copy() for p in params]
    for g in grads[3:]:
        opt.apply_gradients(params, g)
    resumed, resumed_params = make(), [p.copy() for p in saved_params]
    resumed.set_state(saved_state)
    for g in grads[3:]:
        resumed.apply_gradients(resumed_params, g)
    for a, b in zip(params, resumed_params, strict=True):
        np.testing.assert_array_equal(a, b)
    assert resumed.iterations == opt.iterations == 6


def test_get_state_returns_copies():
    opt = Adam()
    W = np.ones(3)
    opt.apply_gradients([W], [np.ones(3)])
    state = opt.get_state()
    state["m"][0][:] = 99.0
    assert not np.any(opt.get_state()["m"][0] == 99.0)
    assert Adam().get_state() == {"t": 0, "m": [], "v": []}


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("factory", "exc", "pattern"), [
    (lambda: SGD(learning_rate=0.0), ValueError, r"learning_rate must be > 0; got 0.0"),
    (lambda: Adam(learning_rate=-1), ValueError, r"learning_rate must be > 0; got -1"),
    (lambda: SGD(learning_rate="fast"), TypeError, r"learning_rate must be a real number"),
    (lambda: SGD(momentum=1.0), ValueError, r"momentum must lie in \[0.0, 1.0\); got 1.0"),
    (lambda: SGD(momentum=-0.1), ValueError, r"momentum must lie in \[0.0, 1.0\)"),
    (lambda: SGD(nesterov="yes"), TypeError, r"nesterov must be True or False"),
    (lambda: Adam(beta_1=1.0), ValueError, r"beta_1 must lie in \[0.0, 1.0\); got 1.0"),
    (lambda: Adam(beta_2=-0.5), ValueError, r"beta_2 must lie in \[0.0, 1.0\)"),
    (lambda: Adam(epsilon=0), ValueError, r"epsilon must be > 0"),
    (lambda: adam_step(np.ones(2), np.ones(2), beta_1=1.5), ValueError, r"beta_1 must lie in \[0.0, 1.0\)"),
    (lambda: sgd_step(np.ones(2), np.ones(2), learning_rate=0), ValueError, r"learning_rate must be > 0"),
])
def test_hyperparameter_errors(factory, exc, pattern):
    with pytest.raises(exc, match=pattern):
        factory()


def test_pure_step_errors():
    with pytest.raises(ValueError, match=r"grad must have the shape of param, \(2,\); got shape \(3,\)"):
        sgd_step(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="grad must hold only finite values"):
        adam_step(np.ones(2), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"state must have the keys \['m', 't', 'v'\]"):
        adam_step(np.ones(2), np.ones(2), {"t": 1, "m": np.zeros(2)})
    with pytest.raises(ValueError, match=r"state\['velocity'\] must have the shape of param"):
        sgd_step(np.ones(2), np.ones(2), {"t": 1, "velocity": np.zeros(3)})


def test_apply_gradients_errors_change_nothing():
    W, b = np.ones((2, 2)), np.ones(2)
    opt = Adam(0.1)
    opt.apply_gradients([W, b], [np.ones((2, 2)), np.ones(2)])
    before_state, before = opt.get_state(), [W.copy(), b.copy()]
    bad_calls = [
        (ValueError, r"grads\[1\] must have the shape of params\[1\], \(2,\); got shape \(3,\)",
         ([W, b], [np.ones((2, 2)), np.ones(3)])),
        (ValueError, r"grads\[0\] must hold only finite values; got 1 NaN",
         ([W, b], [np.array([[1.0, np.nan], [0.0, 0.0]]), np.ones(2)])),
        (ValueError, r"params and grads must have the same length; got 2 and 1", ([W, b], [np.ones((2, 2))])),
        (ValueError, r"this optimizer holds state for 2 parameter arrays; got 1", ([W], [np.ones((2, 2))])),
        (ValueError, r"state for params\[1\] has shape \(2,\)", ([W, np.ones(5)], [np.ones((2, 2)), np.ones(5)])),
        (TypeError, r"params\[0\] must be a float32 or float64 numpy array", ([[1.0, 2.0]], [np.ones(2)])),
        (TypeError, r"params and grads must be lists of arrays", (W, np.ones((2, 2)))),
    ]
    for exc, pattern, (params, grads) in bad_calls:
        with pytest.raises(exc, match=pattern):
            opt.apply_gradients(params, grads)
        np.testing.assert_array_equal(W, before[0])
        np.testing.assert_array_equal(b, before[1])
        after = opt.get_state()
        assert after["t"] == before_state["t"]
        for key in ("m", "v"):
            for x, y in zip(after[key], before_state[key], strict=True):
                np.testing.assert_array_equal(x, y)


def test_read_only_params_refused():
    W = np.ones(2)
    W.flags.writeable = False
    with pytest.raises(TypeError, match=r"params\[0\] must be writable"):
        SGD().apply_gradients([W], [np.ones(2)])


def test_set_state_errors():
    opt = Adam()
    with pytest.raises(ValueError, match=r"state must have the keys \['m', 't', 'v'\]; got \['t'\]"):
        opt.set_state({"t": 0})
    with pytest.raises(ValueError, match=r"state\['t'\] must be an integer >= 0"):
        opt.set_state({"t": -1, "m": [], "v": []})
    with pytest.raises(ValueError, match=r"slot lists of state must have the same length"):
        opt.set_state({"t": 1, "m": [np.zeros(2)], "v": []})
    with pytest.raises(ValueError, match=r"state\['v'\]\[0\] must have the shape and dtype"):
        opt.set_state({"t": 1, "m": [np.zeros(2)], "v": [np.zeros(3)]})


def test_get_by_name():
    assert isinstance(optim.get("adam"), Adam)
    sgd = optim.get("SGD")
    assert isinstance(sgd, SGD)
    assert sgd.learning_rate == 0.01
    opt = Adam(0.5)
    assert optim.get(opt) is opt
    assert repr(SGD(0.1, momentum=0.9)) == "SGD(learning_rate=0.1, momentum=0.9, nesterov=False)"
    with pytest.raises(ValueError, match=r"unknown optimizer 'lbfgs'; known optimizers: 'sgd', 'adam'"):
        optim.get("lbfgs")
    with pytest.raises(TypeError, match="optimizer must be a name"):
        optim.get(3)


@pytest.mark.parametrize("make", [lambda: Adam(0.01), lambda: SGD(0.05, momentum=0.9, nesterov=True), lambda: SGD(0.1)])
def test_flat_path_equals_per_array_path(make):
    # a model keeps its parameters as views of one buffer; one kernel call over it gives the same numbers
    rng = np.random.default_rng(5)
    shapes = [(3, 4), (3,), (2, 3), (2,)]
    flat_p, flat_g = rng.normal(size=23), np.zeros(23)  # 12 + 3 + 6 + 2 entries
    views_p = optim._split(flat_p, shapes)
    views_g = optim._split(flat_g, shapes)
    separate = [v.copy() for v in views_p]
    fast, slow = make(), make()
    for _ in range(4):
        flat_g[:] = rng.normal(size=23)
        fast._apply(views_p, views_g, (flat_p, flat_g))
        slow.apply_gradients(separate, [g.copy() for g in views_g])
    for a, b in zip(views_p, separate, strict=True):
        np.testing.assert_array_equal(a, b)
    s_fast, s_slow = fast.get_state(), slow.get_state()
    for key in s_fast:
        if key != "t":
            assert [a.shape for a in s_fast[key]] == shapes
            for a, b in zip(s_fast[key], s_slow[key], strict=True):
                np.testing.assert_array_equal(a, b)


def test_mixed_dtypes_get_separate_state():
    W, b = np.ones((2, 2), dtype=np.float32), np.ones(2)
    opt = Adam(0.1)
    opt.apply_gradients([W, b], [np.ones((2, 2)), np.ones(2)])
    state = opt.get_state()
    assert state["m"][0].dtype == np.float32
    assert state["m"][1].dtype == np.float64
    np.testing.assert_allclose(W, 0.9, rtol=1e-5)
