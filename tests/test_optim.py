"""Tests of mlmath.optim: first steps against the published update rules (plain floats and exact sympy
arithmetic), both forms of each optimizer, saved state, schedules and errors."""

from __future__ import annotations

import copy
import inspect
import math
import pickle

import numpy as np
import pytest
import sympy as sp

from mlmath import optim
from mlmath._flat import split_flat
from mlmath.optim import (
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    RMSProp,
    adagrad_step,
    adam_step,
    adamw_step,
    rmsprop_step,
    sgd_step,
)

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


def test_get_state_returns_copies():
    opt = Adam()
    W = np.ones(3)
    opt.apply_gradients([W], [np.ones(3)])
    state = opt.get_state()
    state["m"][0][:] = 99.0
    assert not np.any(opt.get_state()["m"][0] == 99.0)
    assert Adam().get_state() == {"t": 0, "m": [], "v": []}


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "exc", "pattern"),
    [
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
    ],
)
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
        (
            ValueError,
            r"grads\[1\] must have the shape of params\[1\], \(2,\); got shape \(3,\)",
            ([W, b], [np.ones((2, 2)), np.ones(3)]),
        ),
        (
            ValueError,
            r"grads\[0\] must hold only finite values; got 1 NaN",
            ([W, b], [np.array([[1.0, np.nan], [0.0, 0.0]]), np.ones(2)]),
        ),
        (ValueError, r"params and grads must have the same length; got 2 and 1", ([W, b], [np.ones((2, 2))])),
        (
            ValueError,
            r"params does not fit this optimizer: this optimizer holds state for 2 parameter arrays; got 1",
            ([W], [np.ones((2, 2))]),
        ),
        (
            ValueError,
            r"params does not fit this optimizer: this optimizer's state for params\[1\] has shape \(2,\)",
            ([W, np.ones(5)], [np.ones((2, 2)), np.ones(5)]),
        ),
        (TypeError, r"params\[0\] must be a float32 or float64 numpy array", ([[1.0, 2.0]], [np.ones(2)])),
        (TypeError, r"params must be a list of arrays such as \[W, b\]; got ndarray", (W, np.ones((2, 2)))),
        (ValueError, r"params\[1\] must hold only finite values", ([W, np.array([1.0, np.nan])], [W, b])),
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
    known = r"optimizer must be one of 'sgd', 'adam', 'adagrad', 'rmsprop', 'adamw', or an Optimizer instance"
    with pytest.raises(ValueError, match=rf"{known} such as Adam\(\); got 'lbfgs'"):
        optim.get("lbfgs")
    with pytest.raises(TypeError, match=rf"{known} such as Adam\(\); got int 3"):
        optim.get(3)
    with pytest.raises(TypeError, match=rf"{known} such as Adam\(\); got type"):
        optim.get(Adam)  # the class, not an instance
    for name, cls in [("adagrad", AdaGrad), ("RMSprop", RMSProp), ("rmsprop", RMSProp), ("AdamW", AdamW)]:
        assert type(optim.get(name)) is cls
    assert optim.Adagrad is AdaGrad
    assert optim.RMSprop is RMSProp
    # Keras's defaults
    assert AdaGrad().get_config() == {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7}
    assert RMSProp().get_config() == {
        "learning_rate": 0.001,
        "rho": 0.9,
        "momentum": 0.0,
        "epsilon": 1e-7,
        "centered": False,
    }
    assert Adam().get_config() == {
        "learning_rate": 0.001,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-7,
        "amsgrad": False,
    }
    assert AdamW().get_config() == {
        "learning_rate": 0.001,
        "weight_decay": 0.004,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-7,
        "amsgrad": False,
    }


@pytest.mark.parametrize(
    "duplicate", [copy.deepcopy, lambda o: pickle.loads(pickle.dumps(o))], ids=["deepcopy", "pickle"]
)
def test_a_copied_optimizer_continues_as_the_original(duplicate):
    # The per-parameter state is views of one flat buffer per slot; a copy must keep it so, or
    # the flat update (a model's fit) and the per-array update would read different arrays.
    g = np.linspace(-1.0, 1.0, 5)
    opt, theta = Adam(0.1), np.ones(5)
    opt.apply_unchecked([theta[:3], theta[3:]], [g[:3], g[3:]], (theta, g))
    twin, twin_theta = duplicate(opt), theta.copy()
    for o, t in ((opt, theta), (twin, twin_theta)):
        o.apply_unchecked([t[:3], t[3:]], [g[:3], g[3:]], (t, g))  # one flat update
        o.apply_gradients([t[:3], t[3:]], [g[:3], g[3:]])  # one update per array
    np.testing.assert_array_equal(twin_theta, theta)
    state, twin_state = opt.get_state(), twin.get_state()
    assert twin_state["t"] == state["t"] == 3
    for key in ("m", "v"):
        for a, b in zip(twin_state[key], state[key], strict=True):
            np.testing.assert_array_equal(a, b)


def test_mixed_dtypes_get_separate_state():
    W, b = np.ones((2, 2), dtype=np.float32), np.ones(2)
    opt = Adam(0.1)
    opt.apply_gradients([W, b], [np.ones((2, 2)), np.ones(2)])
    state = opt.get_state()
    assert state["m"][0].dtype == np.float32
    assert state["m"][1].dtype == np.float64
    np.testing.assert_allclose(W, 0.9, rtol=1e-5)


# =============================================================================================
# every optimizer against an exact (sympy) computation of its published rule
# =============================================================================================
#
# The small problem: f(θ) = ½ θᵀAθ - bᵀθ in two dimensions, gradient g = Aθ - b, from θ₀. Each
# reference runs three steps in exact rational arithmetic with exact square roots (sympy), written
# in the form of the paper that introduced the method, then evaluates to 30 digits.

A_EXACT = sp.Matrix([[2, sp.Rational(1, 2)], [sp.Rational(1, 2), sp.Rational(1, 4)]])
B_EXACT = sp.Matrix([1, -1])
THETA0_EXACT = sp.Matrix([sp.Rational(3, 2), -1])
N_STEPS = 3
R = sp.Rational


def exact_grad(theta: sp.Matrix) -> sp.Matrix:
    return A_EXACT * theta - B_EXACT


def numeric_grad(theta: np.ndarray) -> np.ndarray:
    return np.array(A_EXACT, dtype=float) @ theta - np.array(B_EXACT, dtype=float).ravel()


def ew(f, *mats: sp.Matrix) -> sp.Matrix:
    """Apply f elementwise to matrices of one shape."""
    return sp.Matrix([f(*args) for args in zip(*mats, strict=True)])


def to_float(seq: list[sp.Matrix]) -> np.ndarray:
    return np.array([[float(sp.N(x, 30)) for x in theta] for theta in seq])


def ref_heavy_ball(lr, mu):
    """Polyak: θ_t = θ_{t-1} - η g(θ_{t-1}) + μ(θ_{t-1} - θ_{t-2})."""
    prev, theta, out = THETA0_EXACT, THETA0_EXACT, []
    for _ in range(N_STEPS):
        prev, theta = theta, theta - lr * exact_grad(theta) + mu * (theta - prev)
        out.append(theta)
    return out


def ref_nesterov_lookahead(lr, mu):
    """Sutskever et al. (2013): v_t = μv - η g(θ + μv), θ_t = θ + v_t; returns the look-ahead points θ_t + μv_t."""
    theta, v, out = THETA0_EXACT, sp.zeros(2, 1), []
    for _ in range(N_STEPS):
        v = mu * v - lr * exact_grad(theta + mu * v)
        theta = theta + v
        out.append(theta + mu * v)
    return out


def ref_adagrad(lr, G0, eps):
    """AdaGrad with Keras's G₀ and ε under the root: G ← G + g², θ ← θ - ηg/√(G + ε)."""
    theta, G, out = THETA0_EXACT, sp.Matrix([G0, G0]), []
    for _ in range(N_STEPS):
        g = exact_grad(theta)
        G = G + ew(lambda x: x**2, g)
        theta = theta - lr * ew(lambda gi, Gi: gi / sp.sqrt(Gi + eps), g, G)
        out.append(theta)
    return out


def ref_rmsprop(lr, rho, mu, eps, centered):
    """Hinton's RMSProp; centered and with momentum as in Graves (2013, eqs. 38-41)."""
    theta, v, m, u, out = THETA0_EXACT, sp.zeros(2, 1), sp.zeros(2, 1), sp.zeros(2, 1), []
    for _ in range(N_STEPS):
        g = exact_grad(theta)
        v = rho * v + (1 - rho) * ew(lambda x: x**2, g)
        m = rho * m + (1 - rho) * g
        denom = ew(lambda vi, mi: sp.sqrt(vi - mi**2 + eps), v, m) if centered else ew(lambda vi: sp.sqrt(vi + eps), v)
        u = mu * u - lr * ew(lambda gi, di: gi / di, g, denom)
        theta = theta + u
        out.append(theta)
    return out


def ref_adam(lr, b1, b2, eps, amsgrad=False, decay=0):
    """Kingma and Ba's Algorithm 1 with bias-corrected moments and ε̂_t = ε/√(1 - β₂ᵗ) (their section 2
    note); AMSGrad: the running maximum of v; AdamW (Loshchilov and Hutter, Algorithm 2 with schedule
    multiplier 1 and their λ = ηλ): θ_t = θ_{t-1} - η m̂/(√v̂ + ε̂) - ηλ θ_{t-1}."""
    theta, m, v, vmax, out = THETA0_EXACT, sp.zeros(2, 1), sp.zeros(2, 1), sp.zeros(2, 1), []
    for t in range(1, N_STEPS + 1):
        g = exact_grad(theta)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * ew(lambda x: x**2, g)
        # decide the maximum numerically (exact radicals are not always comparable symbolically)
        vmax = ew(lambda a, b: a if sp.N(a - b, 50) >= 0 else b, vmax, v)
        m_hat = m / (1 - b1**t)
        v_hat = (vmax if amsgrad else v) / (1 - b2**t)
        eps_hat = eps / sp.sqrt(1 - b2**t)
        theta = theta - lr * ew(lambda mi, vi, e=eps_hat: mi / (sp.sqrt(vi) + e), m_hat, v_hat) - lr * decay * theta
        out.append(theta)
    return out


def run_pure(step, kwargs, n=N_STEPS, theta0=None):
    theta, state, out = np.array(THETA0_EXACT, dtype=float).ravel() if theta0 is None else theta0, None, []
    for _ in range(n):
        theta, state = step(theta, numeric_grad(theta), state, **kwargs)
        out.append(theta)
    return np.array(out), state


def run_object(opt, n=N_STEPS):
    W, out = np.array(THETA0_EXACT, dtype=float).ravel(), []
    for _ in range(n):
        opt.apply_gradients([W], [numeric_grad(W)])
        out.append(W.copy())
    return np.array(out)


# (name, pure step function, optimizer class, keyword arguments as floats, exact reference sequence)
EXACT_CASES = [
    ("sgd", sgd_step, SGD, {"learning_rate": 0.25}, lambda: ref_heavy_ball(R(1, 4), 0)),
    ("momentum", sgd_step, SGD, {"learning_rate": 0.25, "momentum": 0.75}, lambda: ref_heavy_ball(R(1, 4), R(3, 4))),
    (
        "nesterov",
        sgd_step,
        SGD,
        {"learning_rate": 0.25, "momentum": 0.75, "nesterov": True},
        lambda: ref_nesterov_lookahead(R(1, 4), R(3, 4)),
    ),
    (
        "adagrad",
        adagrad_step,
        AdaGrad,
        {"learning_rate": 0.5, "initial_accumulator_value": 0.1, "epsilon": 0.25},
        lambda: ref_adagrad(R(1, 2), R(1, 10), R(1, 4)),
    ),
    (
        "rmsprop",
        rmsprop_step,
        RMSProp,
        {"learning_rate": 0.125, "rho": 0.75, "epsilon": 0.0625},
        lambda: ref_rmsprop(R(1, 8), R(3, 4), 0, R(1, 16), False),
    ),
    (
        "rmsprop-momentum-centered",
        rmsprop_step,
        RMSProp,
        {"learning_rate": 0.125, "rho": 0.75, "momentum": 0.5, "epsilon": 0.0625, "centered": True},
        lambda: ref_rmsprop(R(1, 8), R(3, 4), R(1, 2), R(1, 16), True),
    ),
    (
        "rmsprop-centered",
        rmsprop_step,
        RMSProp,
        {"learning_rate": 0.125, "rho": 0.5, "epsilon": 0.5, "centered": True},
        lambda: ref_rmsprop(R(1, 8), R(1, 2), 0, R(1, 2), True),
    ),
    (
        "adam",
        adam_step,
        Adam,
        {"learning_rate": 0.25, "beta_1": 0.75, "beta_2": 0.875, "epsilon": 0.125},
        lambda: ref_adam(R(1, 4), R(3, 4), R(7, 8), R(1, 8)),
    ),
    (
        "amsgrad",
        adam_step,
        Adam,
        {"learning_rate": 0.5, "beta_1": 0.5, "beta_2": 0.5, "epsilon": 0.125, "amsgrad": True},
        lambda: ref_adam(R(1, 2), R(1, 2), R(1, 2), R(1, 8), amsgrad=True),
    ),
    (
        "adamw",
        adamw_step,
        AdamW,
        {"learning_rate": 0.25, "weight_decay": 0.5, "beta_1": 0.75, "beta_2": 0.875, "epsilon": 0.125},
        lambda: ref_adam(R(1, 4), R(3, 4), R(7, 8), R(1, 8), decay=R(1, 2)),
    ),
    (
        "adamw-amsgrad",
        adamw_step,
        AdamW,
        {"learning_rate": 0.5, "weight_decay": 0.25, "beta_1": 0.5, "beta_2": 0.5, "epsilon": 0.125, "amsgrad": True},
        lambda: ref_adam(R(1, 2), R(1, 2), R(1, 2), R(1, 8), amsgrad=True, decay=R(1, 4)),
    ),
]


@pytest.mark.parametrize(("name", "step", "cls", "kwargs", "reference"), EXACT_CASES, ids=[c[0] for c in EXACT_CASES])
def test_first_steps_equal_the_exact_published_rule(name, step, cls, kwargs, reference):
    expected = to_float(reference())
    pure, _ = run_pure(step, kwargs)
    np.testing.assert_allclose(pure, expected, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(run_object(cls(**kwargs)), expected, rtol=1e-14, atol=1e-15)


def test_amsgrad_case_uses_the_maximum():
    # the AMSGrad case above is only a test of AMSGrad if v falls below its running maximum somewhere
    kwargs = {"learning_rate": 0.5, "beta_1": 0.5, "beta_2": 0.5, "epsilon": 0.125}
    plain, _ = run_pure(adam_step, kwargs)
    ams, ams_state = run_pure(adam_step, {**kwargs, "amsgrad": True})
    assert np.any(ams_state["v_hat"] > ams_state["v"])
    assert not np.allclose(plain, ams, rtol=1e-6)


@pytest.mark.parametrize(("lr", "mu"), [(0.1, 0.0), (0.25, 0.5), (0.05, 0.9)])
def test_keras_nesterov_is_the_look_ahead_method(lr, mu):
    # the Keras form stores φ = θ + μv and takes the gradient there: same iterates as the look-ahead method
    ref = to_float(ref_nesterov_lookahead(sp.nsimplify(lr), sp.nsimplify(mu)))
    got, _ = run_pure(sgd_step, {"learning_rate": lr, "momentum": mu, "nesterov": True})
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)


def test_adagrad_first_step_from_zero_accumulator_is_a_sign_step():
    # with G₀ = 0 and a tiny ε, the first step is η g / |g|: every coordinate moves by η
    p, state = adagrad_step(
        np.array([1.0, 1.0, 1.0]),
        np.array([1e3, -2.0, 1e-2]),
        learning_rate=0.1,
        initial_accumulator_value=0.0,
        epsilon=1e-12,
    )
    np.testing.assert_allclose(p, [0.9, 1.1, 0.9], rtol=1e-8)
    np.testing.assert_allclose(state["accumulator"], [1e6, 4.0, 1e-4], rtol=1e-15)


def test_adagrad_accumulator_starts_at_the_initial_value_in_both_forms():
    W = np.zeros((2, 3))
    opt = AdaGrad(initial_accumulator_value=0.3)
    opt.apply_gradients([W], [np.ones((2, 3))])
    np.testing.assert_allclose(opt.get_state()["accumulator"][0], 1.3, rtol=1e-15)
    _, state = adagrad_step(np.zeros(2), np.ones(2), initial_accumulator_value=0.3)
    np.testing.assert_allclose(state["accumulator"], 1.3, rtol=1e-15)


def test_adamw_without_decay_is_adam_bitwise():
    rng = np.random.default_rng(11)
    W = rng.normal(size=(3, 2))
    W2 = W.copy()
    adam, adamw = Adam(0.01, amsgrad=True), AdamW(0.01, weight_decay=0.0, amsgrad=True)
    for _ in range(5):
        g = rng.normal(size=(3, 2))
        adam.apply_gradients([W], [g])
        adamw.apply_gradients([W2], [g])
    np.testing.assert_array_equal(W, W2)


def test_adamw_decay_is_decoupled_from_the_gradient_scale():
    # zero gradient: only the decay acts, θ_t = (1 - ηλ)^t θ₀, whatever the moments
    theta, state = np.array([2.0, -3.0, 0.5]), None
    for _ in range(6):
        theta, state = adamw_step(theta, np.zeros(3), state, learning_rate=0.05, weight_decay=0.2)
    np.testing.assert_allclose(theta, (1 - 0.05 * 0.2) ** 6 * np.array([2.0, -3.0, 0.5]), rtol=1e-14)


def test_l2_in_the_gradient_is_rescaled_by_adam_but_decoupled_decay_is_not():
    # coordinate 0 sees large noisy loss gradients, coordinate 1 none at all
    rng = np.random.default_rng(2)
    lam, lr, n = 0.1, 0.01, 200
    th_l2, th_w, s_l2, s_w = np.ones(2), np.ones(2), None, None
    for _ in range(n):
        g = np.array([100.0 * rng.choice([-1.0, 1.0]), 0.0])
        th_l2, s_l2 = adam_step(th_l2, g + lam * th_l2, s_l2, learning_rate=lr)  # L2 penalty in the gradient
        th_w, s_w = adamw_step(th_w, g, s_w, learning_rate=lr, weight_decay=lam)
    # decoupled: the quiet weight shrinks by exactly (1 - ηλ) per step
    assert th_w[1] == pytest.approx((1 - lr * lam) ** n, rel=1e-12)
    # L2 through Adam: λθ alone is divided by √v ≈ λ|θ|, so the quiet weight takes steps of about η
    # and is driven to 0 within a hundred steps, far faster than the decay intends
    assert abs(th_l2[1]) < 0.05 < th_w[1] - 0.5


# =============================================================================================
# every optimizer: both forms agree, float32, flat buffers, save and resume
# =============================================================================================

# (pure step, constructor keyword arguments); the optimizer class is STEP_CLASS[step]
ALL_CONFIGS = [
    (sgd_step, {"learning_rate": 0.05}),
    (sgd_step, {"learning_rate": 0.05, "momentum": 0.9}),
    (sgd_step, {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    (adagrad_step, {"learning_rate": 0.1}),
    (rmsprop_step, {"learning_rate": 0.01}),
    (rmsprop_step, {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    (adam_step, {"learning_rate": 0.01}),
    (adam_step, {"learning_rate": 0.01, "amsgrad": True}),
    (adamw_step, {"learning_rate": 0.01, "weight_decay": 0.1}),
    (adamw_step, {"learning_rate": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    (sgd_step, {"learning_rate": ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5), "momentum": 0.5}),
    (adam_step, {"learning_rate": CosineDecay(0.0, decay_steps=4, warmup_target=0.05, warmup_steps=3)}),
    (adamw_step, {"learning_rate": PiecewiseConstantDecay([2, 4], [0.1, 0.05, 0.01]), "weight_decay": 0.5}),
    (rmsprop_step, {"learning_rate": ExponentialDecay(0.1, 3, 0.5, staircase=True), "momentum": 0.5}),
    (adagrad_step, {"learning_rate": CosineDecay(0.5, decay_steps=5, alpha=0.1)}),
]
STEP_CLASS = {sgd_step: SGD, adagrad_step: AdaGrad, rmsprop_step: RMSProp, adam_step: Adam, adamw_step: AdamW}
CONFIG_IDS = [f"{STEP_CLASS[s].__name__}-{i}" for i, (s, _) in enumerate(ALL_CONFIGS)]


@pytest.mark.parametrize(("step", "kwargs"), ALL_CONFIGS, ids=CONFIG_IDS)
def test_object_and_pure_function_are_bitwise_identical(step, kwargs):
    opt = STEP_CLASS[step](**kwargs)
    rng = np.random.default_rng(3)
    params = [rng.normal(size=(3, 4)), rng.normal(size=3)]
    pure = [p.copy() for p in params]
    states = [None, None]
    for _ in range(7):
        grads = [rng.normal(size=p.shape) for p in params]
        opt.apply_gradients(params, grads)
        for i in range(2):
            pure[i], states[i] = step(pure[i], grads[i], states[i], **kwargs)
    for a, b in zip(params, pure, strict=True):
        np.testing.assert_array_equal(a, b)
    assert opt.iterations == states[0]["t"] == 7
    saved = opt.get_state()
    assert set(saved) == {"t", *opt.slot_names}
    assert set(opt.slot_names) <= set(states[0])  # (sgd_step keeps a velocity even without momentum)
    for name in opt.slot_names:
        np.testing.assert_array_equal(saved[name][0], states[0][name])


@pytest.mark.parametrize(("step", "kwargs"), ALL_CONFIGS, ids=CONFIG_IDS)
def test_state_save_and_resume_is_exact(step, kwargs):
    def make():
        return STEP_CLASS[step](**kwargs)

    rng = np.random.default_rng(8)
    grads = [[rng.normal(size=(2, 3)), rng.normal(size=2)] for _ in range(8)]
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
    assert resumed.iterations == opt.iterations == 8
    # and the pure form resumes from a copy of its state dict
    p, state = np.ones(3), None
    for g in grads[:3]:
        p, state = step(p, g[0][0], state, **kwargs)
    snapshot = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}
    p_a, s_a = p, state
    p_b, s_b = p.copy(), snapshot
    for g in grads[3:]:
        p_a, s_a = step(p_a, g[0][0], s_a, **kwargs)
        p_b, s_b = step(p_b, g[0][0], s_b, **kwargs)
    np.testing.assert_array_equal(p_a, p_b)


@pytest.mark.parametrize(("step", "kwargs"), ALL_CONFIGS, ids=CONFIG_IDS)
def test_updates_are_in_place_and_keep_float32(step, kwargs):
    W = np.ones((4, 3), dtype=np.float32)
    b = np.zeros(4, dtype=np.float32)
    address = W.__array_interface__["data"][0]
    opt = STEP_CLASS[step](**kwargs)
    for _ in range(3):
        opt.apply_gradients([W, b], [np.full((4, 3), 0.5), np.ones(4, dtype=np.float32)])
    assert W.__array_interface__["data"][0] == address
    assert W.dtype == b.dtype == np.float32
    state = opt.get_state()
    assert all(a.dtype == np.float32 for name in opt.slot_names for a in state[name])
    p, state = step(np.ones(2, dtype=np.float32), np.ones(2), None, **kwargs)
    assert p.dtype == np.float32
    assert all(state[name].dtype == np.float32 for name in opt.slot_names)
    # float32 results agree with float64 ones to float32 precision
    p64, _ = step(np.ones(2), np.ones(2), None, **kwargs)
    np.testing.assert_allclose(p, p64, rtol=1e-6)


@pytest.mark.parametrize(("step", "kwargs"), ALL_CONFIGS, ids=CONFIG_IDS)
def test_flat_path_equals_per_array_path(step, kwargs):
    # a model keeps its parameters as views of one buffer; one kernel call over it gives the same numbers
    rng = np.random.default_rng(5)
    shapes = [(3, 4), (3,), (2, 3), (2,)]
    flat_p, flat_g = rng.normal(size=23), np.zeros(23)  # 12 + 3 + 6 + 2 entries
    views_p = split_flat(flat_p, shapes)
    views_g = split_flat(flat_g, shapes)
    separate = [v.copy() for v in views_p]
    fast, slow = STEP_CLASS[step](**kwargs), STEP_CLASS[step](**kwargs)
    for _ in range(5):
        flat_g[:] = rng.normal(size=23)
        fast.apply_unchecked(views_p, views_g, (flat_p, flat_g))
        slow.apply_gradients(separate, [g.copy() for g in views_g])
    for a, b in zip(views_p, separate, strict=True):
        np.testing.assert_array_equal(a, b)
    s_fast, s_slow = fast.get_state(), slow.get_state()
    for key in s_fast:
        if key != "t":
            assert [a.shape for a in s_fast[key]] == shapes
            for a, b in zip(s_fast[key], s_slow[key], strict=True):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("step", "kwargs"), ALL_CONFIGS[:10], ids=CONFIG_IDS[:10])
def test_every_optimizer_minimizes_an_ill_conditioned_quadratic(step, kwargs):
    # f(x, y) = (x² + 25 y²)/2: every method gets close to the minimum (the adaptive ones, whose
    # steps stay of order η near it, to within a few η)
    scale = np.array([1.0, 25.0])
    theta, state = np.array([3.0, -2.0]), None
    rate = {sgd_step: 0.04, adagrad_step: 0.5}.get(step, 0.01)  # ηλ_max = 1 for SGD; AdaGrad's steps shrink
    kwargs = {**kwargs, "learning_rate": rate}
    for _ in range(2000):
        theta, state = step(theta, scale * theta, state, **kwargs)
    assert np.abs(theta).max() < 0.05


# =============================================================================================
# learning-rate schedules
# =============================================================================================


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay_values(staircase):
    eta0, S, r = R(3, 10), 4, R(1, 2)
    schedule = ExponentialDecay(0.3, decay_steps=4, decay_rate=0.5, staircase=staircase)
    for s in [0, 1, 3, 4, 7, 9, 40]:
        expo = sp.floor(R(s, S)) if staircase else R(s, S)
        assert schedule(s) == pytest.approx(float(sp.N(eta0 * r**expo, 30)), rel=1e-14)
    steps = np.arange(12)
    np.testing.assert_array_equal(schedule(steps), [schedule(int(s)) for s in steps])


@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time_decay_values(staircase):
    # Keras's formula in exact arithmetic: eta0 / (1 + r s / S), the exponent floored with staircase
    eta0, S, r = R(3, 10), 4, R(3, 2)
    schedule = InverseTimeDecay(0.3, decay_steps=4, decay_rate=1.5, staircase=staircase)
    for s in [0, 1, 3, 4, 7, 9, 40, 10**6]:
        p = sp.floor(R(s, S)) if staircase else R(s, S)
        assert schedule(s) == pytest.approx(float(sp.N(eta0 / (1 + r * p), 30)), rel=1e-14)
    steps = np.arange(12)
    np.testing.assert_array_equal(schedule(steps), [schedule(int(s)) for s in steps])
    # decay_rate = 0 keeps the rate; a negative one (a pole at s = S / |r|) is refused by name
    np.testing.assert_array_equal(InverseTimeDecay(0.3, 4, 0.0, staircase)(steps), np.full(12, 0.3))
    with pytest.raises(ValueError, match=r"decay_rate must lie in \[0.0, inf\)"):
        InverseTimeDecay(0.3, 4, -0.5)
    assert repr(InverseTimeDecay(0.1, 1, 0.5)) == (
        "InverseTimeDecay(initial_learning_rate=0.1, decay_steps=1.0, decay_rate=0.5, staircase=False)"
    )


def test_inverse_time_decay_meets_robbins_monro():
    # for S = 1, r = 1: eta(s) = eta0 / (1 + s), whose sum diverges (harmonic) and whose squares sum to
    # eta0^2 (pi^2 / 6): the schedule's partial sums against the closed forms, in mpmath's arbitrary precision
    schedule, n = InverseTimeDecay(0.5, decay_steps=1, decay_rate=1.0), 10**5
    rates = schedule(np.arange(n))
    mp = pytest.importorskip("mpmath")  # sympy's own arbitrary-precision library
    assert rates.sum() == pytest.approx(0.5 * float(mp.harmonic(n)), rel=1e-12)  # H_n, about ln n + 0.577
    tail = mp.psi(1, n + 1)  # the trigamma function: sum over k > n of 1/k^2
    assert (rates**2).sum() == pytest.approx(0.25 * float(mp.pi**2 / 6 - tail), rel=1e-12)


def test_piecewise_constant_decay_boundaries_belong_to_the_left():
    schedule = PiecewiseConstantDecay(boundaries=[3, 7], values=[0.5, 0.2, 0.05])
    expected = [0.5] * 4 + [0.2] * 4 + [0.05] * 3  # steps 0..3 | 4..7 | 8..10
    np.testing.assert_array_equal(schedule(np.arange(11)), expected)
    assert schedule(3) == 0.5
    assert schedule(3.5) == 0.2
    assert schedule(10**6) == 0.05
    assert PiecewiseConstantDecay([], [0.1])(5) == 0.1


def cosine_reference(s, eta0, D, alpha, peak=None, W=0):
    s = sp.nsimplify(s)
    if peak is None:
        return eta0 * ((1 - alpha) * (1 + sp.cos(sp.pi * sp.Min(s, D) / D)) / 2 + alpha)
    if s < W:
        return eta0 + (peak - eta0) * s / W
    return peak * ((1 - alpha) * (1 + sp.cos(sp.pi * sp.Min(s - W, D) / D)) / 2 + alpha)


@pytest.mark.parametrize(
    ("eta0", "D", "alpha", "peak", "W"),
    [
        (R(1, 10), 100, 0, None, 0),
        (R(1, 10), 100, R(1, 5), None, 0),
        (0, 40, 0, R(1, 2), 10),
        (R(1, 100), 40, R(1, 10), R(1, 2), 10),
        (R(1, 100), 40, R(1, 10), R(1, 2), 0),
    ],
)
def test_cosine_decay_values(eta0, D, alpha, peak, W):
    schedule = CosineDecay(
        float(eta0), D, alpha=float(alpha), warmup_target=None if peak is None else float(peak), warmup_steps=W
    )
    for s in [0, 1, 5, 10, 11, 25, 30, 49, 50, 75, 100, 140, 1000]:
        expected = float(sp.N(cosine_reference(s, eta0, D, alpha, peak, W), 30))
        assert schedule(s) == pytest.approx(expected, rel=1e-13, abs=1e-16), s
    start = eta0 if peak is None else peak
    assert schedule(W + D) == pytest.approx(float(alpha * start), abs=1e-16)  # the end of the decay
    assert schedule(W + D // 2) == pytest.approx(float(start * (1 + alpha) / 2), rel=1e-13)  # halfway
    np.testing.assert_allclose(schedule(np.arange(0, 200, 7)), [schedule(s) for s in range(0, 200, 7)], rtol=1e-15)


def test_schedule_is_evaluated_at_the_number_of_steps_taken():
    # Keras: step t uses schedule(t - 1). With boundaries [0], only the very first step gets 1.0.
    schedule = PiecewiseConstantDecay([0], [1.0, 0.25])
    W = np.array([0.0])
    opt = SGD(learning_rate=schedule)
    moves = []
    for _ in range(3):
        before = W.copy()
        opt.apply_gradients([W], [np.array([-1.0])])  # g = -1: θ grows by η
        moves.append(float(W[0] - before[0]))
    assert moves == [1.0, 0.25, 0.25]
    assert opt._current_learning_rate() == 0.25


@pytest.mark.parametrize(
    "schedule",
    [
        ExponentialDecay(0.2, decay_steps=3, decay_rate=0.5),
        InverseTimeDecay(0.2, decay_steps=2, decay_rate=1.0, staircase=True),
        PiecewiseConstantDecay([1, 3], [0.2, 0.1, 0.02]),
        CosineDecay(0.0, decay_steps=4, warmup_target=0.2, warmup_steps=2),
    ],
)
def test_a_schedule_changes_each_step_as_its_formula_says(schedule):
    # SGD: θ_t = θ_{t-1} - η_t g_t with η_t = schedule(t - 1); Adam: the step scales with η_t
    g = np.array([1.0, -2.0])
    theta, state = np.zeros(2), None
    W = np.zeros(2)
    opt = SGD(learning_rate=schedule)
    for t in range(1, 8):
        theta, state = sgd_step(theta, g, state, learning_rate=schedule)
        opt.apply_gradients([W], [g])
        expected = -sum(schedule(k) for k in range(t)) * g
        np.testing.assert_allclose(theta, expected, rtol=1e-14, atol=1e-17)
        np.testing.assert_allclose(W, expected, rtol=1e-14, atol=1e-17)
    # Adam with a constant gradient: m̂ = g, v̂ = g², so each step is η_t g/(|g| + ε̂_t) ≈ η_t sign(g)
    theta, state = np.zeros(2), None
    for t in range(1, 8):
        before = theta
        theta, state = adam_step(theta, g, state, learning_rate=schedule, epsilon=1e-12)
        np.testing.assert_allclose(theta - before, -schedule(t - 1) * np.sign(g), rtol=1e-9, atol=1e-15)


def test_adamw_decay_follows_the_schedule():
    schedule = ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    theta, state = np.array([1.0, -2.0]), None
    factor = 1.0
    for t in range(5):
        theta, state = adamw_step(theta, np.zeros(2), state, learning_rate=schedule, weight_decay=0.5)
        factor *= 1 - 0.5 * 0.1 * 0.5**t
    np.testing.assert_allclose(theta, factor * np.array([1.0, -2.0]), rtol=1e-14)


def test_schedule_repr_and_optimizer_repr():
    schedule = ExponentialDecay(0.1, 10, 0.5)
    assert repr(schedule) == (
        "ExponentialDecay(initial_learning_rate=0.1, decay_steps=10.0, decay_rate=0.5, staircase=False)"
    )
    assert repr(SGD(schedule)).startswith("SGD(learning_rate=ExponentialDecay(initial_learning_rate=0.1")
    assert repr(PiecewiseConstantDecay([2], [0.1, 0.01])) == (
        "PiecewiseConstantDecay(boundaries=[2.0], values=[0.1, 0.01])"
    )


class _Broken(LearningRateSchedule):
    """A user schedule that turns negative after two steps."""

    def __call__(self, step):
        return 0.1 if step < 2 else -0.1


class _Wordy(LearningRateSchedule):
    def __call__(self, step):
        return "fast"


def test_a_faulty_schedule_raises_before_any_change():
    W = np.ones(2)
    opt = Adam(learning_rate=_Broken())
    opt.apply_gradients([W], [np.ones(2)])
    opt.apply_gradients([W], [np.ones(2)])
    before, state = W.copy(), opt.get_state()
    with pytest.raises(ValueError, match=r"schedule _Broken\(\) returned -0.1 at step 2; a learning rate must be"):
        opt.apply_gradients([W], [np.ones(2)])
    np.testing.assert_array_equal(W, before)
    assert opt.iterations == 2
    np.testing.assert_array_equal(opt.get_state()["m"][0], state["m"][0])
    with pytest.raises(TypeError, match=r"must return a number; at step 0 it returned str 'fast'"):
        sgd_step(np.ones(2), np.ones(2), learning_rate=_Wordy())
    with pytest.raises(NotImplementedError, match="defines _rate"):
        LearningRateSchedule()(0)


# =============================================================================================
# errors of the new optimizers and of the schedules
# =============================================================================================


@pytest.mark.parametrize(
    ("factory", "exc", "pattern"),
    [
        (lambda: AdaGrad(learning_rate=0), ValueError, r"learning_rate must be > 0; got 0"),
        (
            lambda: AdaGrad(initial_accumulator_value=-0.1),
            ValueError,
            r"initial_accumulator_value must lie in \[0.0, inf\); got -0.1",
        ),
        (lambda: AdaGrad(epsilon=0.0), ValueError, r"epsilon must be > 0"),
        (lambda: RMSProp(learning_rate=-0.001), ValueError, r"learning_rate must be > 0"),
        (lambda: RMSProp(rho=1.0), ValueError, r"rho must lie in \[0.0, 1.0\); got 1.0"),
        (lambda: RMSProp(rho=-0.1), ValueError, r"rho must lie in \[0.0, 1.0\)"),
        (lambda: RMSProp(momentum=1.5), ValueError, r"momentum must lie in \[0.0, 1.0\)"),
        (lambda: RMSProp(centered="yes"), TypeError, r"centered must be True or False"),
        (lambda: Adam(amsgrad=1), TypeError, r"amsgrad must be True or False; got int 1"),
        (lambda: AdamW(weight_decay=-0.01), ValueError, r"weight_decay must lie in \[0.0, inf\); got -0.01"),
        (lambda: AdamW(beta_1=1.0), ValueError, r"beta_1 must lie in \[0.0, 1.0\); got 1.0"),
        (lambda: AdamW(beta_2=1.2), ValueError, r"beta_2 must lie in \[0.0, 1.0\)"),
        (lambda: AdamW(learning_rate=float("nan")), ValueError, r"learning_rate must be finite"),
        (lambda: SGD(learning_rate=[0.1]), TypeError, r"a real number > 0 or a LearningRateSchedule such as"),
        (lambda: rmsprop_step(np.ones(2), np.ones(2), rho=1.0), ValueError, r"rho must lie in \[0.0, 1.0\)"),
        (lambda: adamw_step(np.ones(2), np.ones(2), weight_decay=-1), ValueError, r"weight_decay must lie"),
        (lambda: adagrad_step(np.ones(2), np.ones(2), learning_rate=0), ValueError, r"learning_rate must be > 0"),
        # schedules
        (lambda: ExponentialDecay(0.0, 10, 0.5), ValueError, r"initial_learning_rate must be > 0; got 0.0"),
        (lambda: ExponentialDecay(0.1, 0, 0.5), ValueError, r"decay_steps must be > 0; got 0"),
        (lambda: ExponentialDecay(0.1, 10, -0.5), ValueError, r"decay_rate must be > 0"),
        (lambda: ExponentialDecay(0.1, 10, 0.5, staircase=None), TypeError, r"staircase must be True or False"),
        (
            lambda: PiecewiseConstantDecay([1, 2], [0.1, 0.01]),
            ValueError,
            r"values must have one more entry than boundaries; got 2 boundaries and 2 values",
        ),
        (
            lambda: PiecewiseConstantDecay([5, 2], [0.1, 0.01, 0.001]),
            ValueError,
            r"boundaries must be strictly increasing; got \[5, 2\]",
        ),
        (lambda: PiecewiseConstantDecay([2], [0.1, 0.0]), ValueError, r"values\[1\] must be > 0; got 0.0"),
        (lambda: PiecewiseConstantDecay(3, [0.1]), TypeError, r"boundaries must be a list of numbers; got int"),
        (lambda: CosineDecay(0.0, 100), ValueError, r"initial_learning_rate must be > 0; got 0.0"),
        (
            lambda: CosineDecay(-0.1, 100, warmup_target=0.1),
            ValueError,
            r"initial_learning_rate must lie in \[0.0, inf\)",
        ),
        (lambda: CosineDecay(0.1, 100, alpha=1.5), ValueError, r"alpha must lie in \[0.0, 1.0\]; got 1.5"),
        (lambda: CosineDecay(0.1, -5), ValueError, r"decay_steps must be > 0"),
        (lambda: CosineDecay(0.0, 100, warmup_target=0.0, warmup_steps=5), ValueError, r"warmup_target must be > 0"),
        (
            lambda: CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=-1),
            ValueError,
            r"warmup_steps must lie in \[0.0, inf\)",
        ),
        (lambda: ExponentialDecay(0.1, 10, 0.5)(-1), ValueError, r"step must be >= 0 \(the number of steps already"),
        (lambda: CosineDecay(0.1, 10)(np.array([1.0, np.nan])), ValueError, r"step must hold only finite values"),
        (lambda: CosineDecay(0.1, 10)(True), TypeError, r"step must be a number of steps"),
    ],
)
def test_new_hyperparameter_and_schedule_errors(factory, exc, pattern):
    with pytest.raises(exc, match=pattern):
        factory()


STEP_DEFAULTS = [sgd_step, adagrad_step, rmsprop_step, adam_step, adamw_step]


@pytest.mark.parametrize("step", STEP_DEFAULTS, ids=lambda s: s.__name__)
def test_every_pure_step_refuses_bad_gradients(step):
    with pytest.raises(ValueError, match=r"grad must have the shape of param, \(2, 3\); got shape \(3, 2\)"):
        step(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(
        ValueError,
        match=r"grad must hold only finite values; got 1 NaN or infinite value\(s\), "
        r"the first at index \(1,\)",
    ):
        step(np.ones(3), np.array([0.0, np.inf, 1.0]))
    with pytest.raises(ValueError, match=r"state must have the keys"):
        step(np.ones(2), np.ones(2), {"t": 0})


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adam", "adamw"])
def test_every_optimizer_refuses_bad_gradients_and_changes_nothing(name):
    opt = optim.get(name)
    W, b = np.ones((2, 2)), np.ones(2)
    opt.apply_gradients([W, b], [np.ones((2, 2)), np.ones(2)])
    before, state = [W.copy(), b.copy()], opt.get_state()
    with pytest.raises(ValueError, match=r"grads\[1\] must have the shape of params\[1\], \(2,\); got shape \(1, 2\)"):
        opt.apply_gradients([W, b], [np.ones((2, 2)), np.ones((1, 2))])
    with pytest.raises(ValueError, match=r"grads\[0\] must hold only finite values"):
        opt.apply_gradients([W, b], [np.full((2, 2), -np.inf), np.ones(2)])
    np.testing.assert_array_equal(W, before[0])
    np.testing.assert_array_equal(b, before[1])
    after = opt.get_state()
    assert after["t"] == state["t"] == 1
    for key in opt.slot_names:
        for x, y in zip(after[key], state[key], strict=True):
            np.testing.assert_array_equal(x, y)


# =============================================================================================
# on a network: every optimizer and a schedule through Sequential.fit
# =============================================================================================


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGD(0.1, momentum=0.9, nesterov=True),
        lambda: AdaGrad(0.1),
        lambda: RMSProp(0.01, momentum=0.5, centered=True),
        lambda: Adam(0.01, amsgrad=True),
        lambda: AdamW(CosineDecay(0.0, decay_steps=30, warmup_target=0.02, warmup_steps=10)),
    ],
    ids=["nesterov", "adagrad", "rmsprop", "amsgrad", "adamw-cosine"],
)
def test_every_optimizer_trains_a_sequential_model(make):
    from mlmath.data import blobs, to_categorical
    from mlmath.layers import Activation, Dense
    from mlmath.models import Sequential

    X, y = blobs(n_per_class=20, num_classes=3, seed=0)
    Y = to_categorical(y, 3)
    model = Sequential([Dense(8, input_dim=X.shape[1]), Activation("relu"), Dense(3), Activation("softmax")], seed=0)
    opt = make()
    model.compile(optimizer=opt, loss="categorical_crossentropy")
    history = model.fit(X, Y, epochs=10, batch_size=15, verbose=0)
    assert opt.iterations == 10 * 4
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]


def test_a_schedule_failing_inside_fit_leaves_the_model_as_it_was():
    from mlmath.layers import Dense
    from mlmath.models import Sequential

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    model = Sequential([Dense(2, input_dim=3)], seed=0)
    model.compile(optimizer=Adam(_Broken()), loss="mse")
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"returned -0.1 at step 2"):
        model.fit(X, Y, epochs=3, batch_size=4, verbose=0)
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


# =============================================================================================
# the training loop's protocol, the shared shell and the checks
# =============================================================================================

CLASSES = [SGD, AdaGrad, RMSProp, Adam, AdamW]
STEPS = [sgd_step, adagrad_step, rmsprop_step, adam_step, adamw_step]


def test_check_compatible_accepts_anything_before_the_first_update_and_then_only_those_parameters():
    opt = Adam()
    opt.check_compatible([np.ones(3), np.ones((2, 2), dtype=np.float32)])
    W = np.ones(3)
    opt.apply_gradients([W], [np.ones(3)])
    opt.check_compatible([np.zeros(3)])
    with pytest.raises(
        ValueError,
        match=r"params does not fit this optimizer: this optimizer holds state for 1 parameter arrays; got 2\. Use a ",
    ):
        opt.check_compatible([W, W])
    with pytest.raises(
        ValueError, match=r"params\[0\] has shape \(3,\) and dtype float64; got shape \(3,\) and dtype float32"
    ):
        opt.check_compatible([np.ones(3, dtype=np.float32)])


def test_apply_unchecked_is_the_update_of_apply_gradients():
    rng = np.random.default_rng(21)
    W, b = rng.normal(size=(3, 2)), rng.normal(size=2)
    W2, b2 = W.copy(), b.copy()
    checked, unchecked = RMSProp(0.05, momentum=0.5, centered=True), RMSProp(0.05, momentum=0.5, centered=True)
    for _ in range(4):
        g = [rng.normal(size=(3, 2)), rng.normal(size=2)]
        checked.apply_gradients([W, b], g)
        unchecked.check_compatible([W2, b2])
        unchecked.apply_unchecked([W2, b2], g)
    np.testing.assert_array_equal(W, W2)
    np.testing.assert_array_equal(b, b2)
    assert unchecked.iterations == 4


@pytest.mark.parametrize(("step", "cls"), list(zip(STEPS, CLASSES, strict=True)), ids=lambda x: x.__name__)
def test_each_step_function_takes_its_class_hyperparameters_with_the_same_defaults(step, cls):
    keyword_only = {
        k: p.default for k, p in inspect.signature(step).parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    constructor = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
    assert list(keyword_only.items()) == list(constructor.items())
    assert set(cls().get_config()) == set(constructor)


def test_get_config_extends_the_parents_and_repr_follows_the_constructor():
    adam = Adam(0.01, beta_1=0.8, amsgrad=True)
    adamw = AdamW(0.01, weight_decay=0.1, beta_1=0.8, amsgrad=True)
    assert adamw.get_config() == {**adam.get_config(), "weight_decay": 0.1}
    for cls in CLASSES:
        assert cls().get_config().items() >= {"learning_rate": cls().learning_rate}.items()
    assert repr(AdamW()) == (
        "AdamW(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False)"
    )
    assert repr(AdaGrad(0.5)) == "AdaGrad(learning_rate=0.5, initial_accumulator_value=0.1, epsilon=1e-07)"


def _call(make, **hyper):
    """Build the optimizer ``make`` (a class) or take one pure step (a step function) with ``hyper``."""
    if isinstance(make, type):
        return make(**hyper)
    return make(np.ones(2), np.ones(2), **hyper)


RATE = r"learning_rate must be a real number > 0 or a LearningRateSchedule such as ExponentialDecay"


@pytest.mark.parametrize("make", CLASSES + STEPS, ids=lambda m: m.__name__)
@pytest.mark.parametrize(
    ("value", "exc", "pattern"),
    [
        (None, TypeError, rf"{RATE}.*; got NoneType None"),
        ("0.1", TypeError, rf"{RATE}.*; got str '0.1'"),
        (True, TypeError, rf"{RATE}.*; got bool True"),
        (np.array([0.1]), TypeError, rf"{RATE}.*; got ndarray"),
        (float("nan"), ValueError, r"learning_rate must be finite; got nan"),
        (float("inf"), ValueError, r"learning_rate must be finite; got inf"),
        (-1, ValueError, r"learning_rate must be > 0; got -1"),
        (0.0, ValueError, r"learning_rate must be > 0; got 0.0"),
    ],
    ids=["None", "str", "bool", "array", "nan", "inf", "negative", "zero"],
)
def test_every_bad_learning_rate_is_refused_by_name(make, value, exc, pattern):
    with pytest.raises(exc, match=pattern):
        _call(make, learning_rate=value)


@pytest.mark.parametrize("make", CLASSES + STEPS, ids=lambda m: m.__name__)
def test_every_other_hyperparameter_error_names_its_argument(make):
    cls = make if isinstance(make, type) else CLASSES[STEPS.index(make)]
    names = [k for k in inspect.signature(cls).parameters if k != "learning_rate"]
    for name in names:
        for bad in (None, "0.5", float("nan")):
            with pytest.raises((TypeError, ValueError), match=rf"^{name} must "):
                _call(make, **{name: bad})


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (lambda W, dW: (None, None), r"params must be a list of arrays such as \[W, b\]; got NoneType"),
        (lambda W, dW: (W, dW), r"params must be a list of arrays such as \[W, b\]; got ndarray"),
        (lambda W, dW: ("W", "dW"), r"params must be a list of arrays such as \[W, b\]; got str"),
        (lambda W, dW: ({"W": W}, {"W": dW}), r"params must be a list of arrays such as \[W, b\]; got dict"),
        (lambda W, dW: ([W], None), r"grads must be a list of arrays such as \[W, b\]; got NoneType"),
        (lambda W, dW: ([W], dW), r"grads must be a list of arrays such as \[W, b\]; got ndarray"),
        (lambda W, dW: ([W.astype(np.float16)], [dW]), r"params\[0\] must be a float32 or float64 numpy array"),
        (lambda W, dW: ([W.astype(int)], [dW]), r"params\[0\] must be a float32 or float64 numpy array"),
        (lambda W, dW: ([W], [dW.astype(complex)]), r"grads\[0\] must hold real numbers"),
    ],
)
def test_apply_gradients_wants_lists_of_arrays(args, pattern):
    W, dW = np.ones((2, 2)), np.ones((2, 2))
    opt = SGD(0.1, momentum=0.5)
    with pytest.raises(TypeError, match=pattern):
        opt.apply_gradients(*args(W, dW))
    np.testing.assert_array_equal(W, np.ones((2, 2)))
    assert opt.get_state() == {"t": 0, "velocity": []}
    with pytest.raises(ValueError, match="params must hold at least one array"):
        opt.apply_gradients([], [])


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_non_finite_parameters_are_refused_and_nothing_changes(cls):
    opt = cls(0.1)
    W, b = np.ones((2, 3)), np.zeros(2, dtype=np.float64)
    opt.apply_gradients([W, b], [np.ones((2, 3)), np.ones(2)])
    before_W, before_state = W.copy(), opt.get_state()
    b[1] = np.inf
    with pytest.raises(
        ValueError, match=r"params\[1\] must hold only finite values; got 1 NaN or infinite .*index \(1,\)"
    ):
        opt.apply_gradients([W, b], [np.ones((2, 3)), np.ones(2)])
    np.testing.assert_array_equal(W, before_W)
    assert b[1] == np.inf
    after = opt.get_state()
    assert after["t"] == before_state["t"] == 1
    for name in opt.slot_names:
        for x, y in zip(after[name], before_state[name], strict=True):
            np.testing.assert_array_equal(x, y)


def _adam_with_state():
    opt = Adam(0.1)
    W, b = np.ones((2, 3)), np.ones(2)
    opt.apply_gradients([W, b], [np.full((2, 3), 0.5), -np.ones(2)])
    return opt


def _with(state, name, i, value):
    """A copy of the optimizer state ``state`` with ``state[name][i]`` replaced by ``value``."""
    arrays = list(state[name])
    arrays[i] = value
    return {**state, name: arrays}


def test_set_state_refuses_bad_states_and_changes_nothing():
    good = _adam_with_state().get_state()
    nan_m = good["m"][0].copy()
    nan_m[1, 2] = np.nan
    inf_v = good["v"][1].copy()
    inf_v[0] = -np.inf
    cases = [
        (TypeError, r"state must be a dict from get_state\(\); got list", [good]),
        (ValueError, r"state must have the keys \['m', 't', 'v'\]; got \['m', 't'\]", {"t": 1, "m": good["m"]}),
        (
            ValueError,
            r"state\['m'\]\[0\] must hold only finite values; got 1 NaN .* at index \(1, 2\)",
            _with(good, "m", 0, nan_m),
        ),
        (ValueError, r"state\['v'\]\[1\] must hold only finite values", _with(good, "v", 1, inf_v)),
        (
            ValueError,
            r"state\['v'\]\[0\] must have the shape and dtype of state\['m'\]\[0\], \(2, 3\) and float64; "
            r"got \(3, 2\) and float64",
            _with(good, "v", 0, good["v"][0].reshape(3, 2)),
        ),
        (
            ValueError,
            r"state\['v'\]\[1\] must have the shape and dtype of state\['m'\]\[1\], \(2,\) and float64; "
            r"got \(2,\) and float32",
            _with(good, "v", 1, good["v"][1].astype(np.float32)),
        ),
        (
            ValueError,
            r"state\['m'\] does not fit this optimizer: this optimizer's state for params\[0\] has shape "
            r"\(2, 3\)",
            {"t": 1, "m": [np.zeros(6), np.zeros(2)], "v": [np.zeros(6), np.zeros(2)]},
        ),
        (
            ValueError,
            r"state\['m'\] does not fit this optimizer: this optimizer holds state for 2 parameter arrays; got 1",
            {"t": 1, "m": good["m"][:1], "v": good["v"][:1]},
        ),
        (
            TypeError,
            r"state\['m'\]\[1\] must be a float32 or float64 numpy array; got ndarray of dtype int64",
            _with(good, "m", 1, np.zeros(2, dtype=np.int64)),
        ),
        (
            TypeError,
            r"state\['m'\]\[1\] must be a float32 or float64 numpy array; got list",
            _with(good, "m", 1, [0.0, 0.0]),
        ),
        (
            TypeError,
            r"state\['m'\] must be a list of arrays, one per parameter array; got ndarray",
            {**good, "m": good["m"][1]},
        ),
        (ValueError, r"the slot lists of state must have the same length; got \[1, 2\]", {**good, "v": good["v"][:1]}),
        (TypeError, r"state\['t'\] must be an integer >= 0; got float 1.0", {**good, "t": 1.0}),
        (TypeError, r"state\['t'\] must be an integer >= 0; got bool True", {**good, "t": True}),
        (ValueError, r"state\['t'\] must be an integer >= 0; got -1", {**good, "t": -1}),
        (
            ValueError,
            r"state\['t'\] must be 0 when the slot lists are empty \(no step taken\); got 3",
            {"t": 3, "m": [], "v": []},
        ),
    ]
    for exc, pattern, bad in cases:
        opt = _adam_with_state()
        with pytest.raises(exc, match=pattern):
            opt.set_state(bad)
        after = opt.get_state()
        assert after["t"] == good["t"]
        for name in ("m", "v"):
            for x, y in zip(after[name], good[name], strict=True):
                np.testing.assert_array_equal(x, y)


def test_set_state_accepts_a_fresh_state_and_numpy_step_counts():
    opt = _adam_with_state()
    opt.set_state({"t": 0, "m": [], "v": []})
    assert opt.get_state() == {"t": 0, "m": [], "v": []}
    opt.check_compatible([np.ones(7)])  # no state left: any parameters fit
    opt.set_state({**_adam_with_state().get_state(), "t": np.int64(5)})
    assert opt.iterations == 5
    assert type(opt.iterations) is int


def test_pure_state_errors_name_the_slot():
    with pytest.raises(ValueError, match=r"state\['m'\] must hold only finite values"):
        adam_step(np.ones(2), np.ones(2), {"t": 1, "m": np.array([0.0, np.nan]), "v": np.zeros(2)})
    with pytest.raises(TypeError, match=r"state must be a dict or None; got list"):
        adam_step(np.ones(2), np.ones(2), [np.zeros(2)])
    with pytest.raises(ValueError, match=r"state\['t'\] must be an integer >= 0; got -2"):
        rmsprop_step(np.ones(2), np.ones(2), {"t": -2, "v": np.zeros(2)})
    # lists and integer arrays are taken as state, converted to the parameter's dtype
    p, state = adagrad_step(np.ones(2, dtype=np.float32), np.ones(2), {"t": 3, "accumulator": [1, 2]})
    assert p.dtype == state["accumulator"].dtype == np.float32
    np.testing.assert_array_equal(state["accumulator"], [2.0, 3.0])
    assert state["t"] == 4


def test_sgd_step_keeps_a_velocity_without_momentum():
    p, state = sgd_step(np.array([1.0, -1.0]), np.array([2.0, 4.0]), learning_rate=0.5)
    np.testing.assert_array_equal(state["velocity"], [-1.0, -2.0])  # v_t = -ηg_t
    np.testing.assert_array_equal(p, [0.0, -3.0])
    assert SGD(0.5).slot_names == ()
