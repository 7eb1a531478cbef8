"""Tests of the second-order optimizers and their loop (``mlmath.second_order``).

Known answers come from elsewhere: the least-squares solution from ``numpy.linalg.lstsq``, the
reduction ratio of a quadratic loss in closed form, the natural gradient's invariance from the
reparameterization itself (a model and its reparameterized twin must predict the same after a
step; gradient descent's twin does not).
"""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pytest

from mlmath.data import random_classification, to_categorical
from mlmath.layers import Activation, Dense
from mlmath.models import Sequential
from mlmath.optim import SGD, Adam
from mlmath.second_order import HessianFree, ModelOptimizer, NaturalGradient, fit

SEED = 31


def least_squares_problem(rng: np.random.Generator, m: int = 40, n_in: int = 4, n_out: int = 2, dtype=np.float64):
    X = rng.standard_normal((m, n_in))
    Y = X @ rng.standard_normal((n_in, n_out)) + rng.standard_normal(n_out) + 0.1 * rng.standard_normal((m, n_out))
    model = Sequential([Dense(n_out, input_dim=n_in)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    model.build(n_in, dtype=dtype)
    solution = np.linalg.lstsq(np.hstack([X, np.ones((m, 1))]), Y, rcond=None)[0]
    return model, X.astype(dtype), Y.astype(dtype), solution[:-1].T, solution[-1]


def classifier(rng: np.random.Generator, hidden: int = 8, m: int = 60, seed: int = 0):
    X = rng.standard_normal((m, 3))
    Y = to_categorical((X[:, 0] * X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5), 3)
    model = Sequential([Dense(hidden, input_dim=3), Activation("tanh"), Dense(3), Activation("softmax")], seed=seed)
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    return model, X, Y


# --- Hessian-free ---------------------------------------------------------------------------------


def test_hessian_free_reaches_the_least_squares_solution(rng):
    model, X, Y, W, b = least_squares_problem(rng)
    history = fit(model, X, Y, HessianFree(damping=1e-6), epochs=3, batch_size=len(X), verbose=0)
    W_fit, b_fit = model.get_weights()
    np.testing.assert_allclose(W_fit, W, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b_fit, b, rtol=1e-8, atol=1e-10)
    residual = np.hstack([X, np.ones((len(X), 1))]) @ np.vstack([W.T, b]) - Y
    np.testing.assert_allclose(history.history["loss"][-1], np.mean(residual**2), rtol=1e-8)


def test_reduction_ratio_and_damping_rule_on_a_quadratic(rng):
    # for least squares L(theta + d) - L(theta) = g^T d + d^T G d / 2 exactly, so with the damped model
    # q(d) = g^T d + d^T (G + lam I) d / 2 the ratio is rho = (q(d) - lam |d|^2 / 2) / q(d)
    model, X, Y, *_ = least_squares_problem(rng)
    m, n_in = X.shape
    n_out = Y.shape[1]
    lam = 0.5
    hf = HessianFree(damping=lam, backtrack=False, warm_start=0.0)
    theta = model.get_flat_weights()
    g = np.concatenate([a.ravel() for a in model.loss_and_gradients(X, Y)[1]])
    before = hf.step(model, X, Y)
    d = model.get_flat_weights() - theta
    # J of the output f = X W^T + b, rows (sample, output), columns (W raveled, b), written out
    J_W = np.einsum("ik,op->iopk", X, np.eye(n_out)).reshape(m * n_out, n_out * n_in)
    J = np.hstack([J_W, np.tile(np.eye(n_out), (m, 1))])
    G = 2 / (m * n_out) * J.T @ J
    q = g @ d + 0.5 * d @ (G + lam * np.eye(d.size)) @ d
    rho = (q - 0.5 * lam * d @ d) / q
    assert hf.last_step["accepted"]
    np.testing.assert_allclose(hf.last_step["loss_after"] - before, g @ d + 0.5 * d @ G @ d, rtol=1e-8)
    np.testing.assert_allclose(hf.last_step["rho"], rho, rtol=1e-8)
    expected = lam * 2 / 3 if rho > 0.75 else lam * 1.5 if rho < 0.25 else lam
    assert hf.damping == expected


def test_on_least_squares_the_damped_model_is_pessimistic_so_damping_falls(rng):
    # L(theta + d) - L(theta) = q(d) - lam |d|^2 / 2 with q < 0, so rho = 1 + lam |d|^2 / (2 |q|) > 3/4
    model, X, Y, *_ = least_squares_problem(rng)
    hf = HessianFree(damping=10.0, backtrack=False, cg_max_iter=2)
    for k in range(1, 4):
        hf.step(model, X, Y)
        assert hf.last_step["rho"] > 1
        assert math.isclose(hf.damping, 10.0 * (2 / 3) ** k)


def test_hessian_free_lowers_the_loss_of_a_nonlinear_network(rng):
    model, X, Y = classifier(rng)
    hf = HessianFree(damping=1.0, cg_max_iter=20)
    history = fit(model, X, Y, hf, epochs=8, batch_size=len(X), verbose=0)
    losses = history.history["loss"]
    assert all(b <= a for a, b in itertools.pairwise(losses))  # a step never raises the loss
    assert losses[-1] < 0.6 * losses[0]
    assert hf.iterations == 8


def test_a_step_that_raises_the_loss_is_not_taken(rng):
    model, X, Y = classifier(rng)

    class Overshooting(HessianFree):
        """Scales the CG solution by 50 before it is taken: far past the quadratic model's minimum."""

        def _choose(self, model, X, Y, theta, result):
            result.x[...] *= 50
            return super()._choose(model, X, Y, theta, result)

    hf = Overshooting(damping=1e-3, backtrack=False)
    theta = model.get_flat_weights()
    before = hf.step(model, X, Y)
    assert not hf.last_step["accepted"]
    assert hf.last_step["loss_after"] == before
    np.testing.assert_array_equal(model.get_flat_weights(), theta)
    assert hf.damping == 1e-3 * 1.5


def test_backtracking_never_ends_worse_than_the_last_iterate(rng):
    # backtracking evaluates the last CG iterate first and moves to an earlier one only if it is better
    model, X, Y = classifier(rng)
    after = {}
    for backtrack in (False, True):
        hf = HessianFree(damping=1e-4, cg_max_iter=40, backtrack=backtrack)
        hf.step(copy.deepcopy(model), X, Y)
        after[backtrack] = hf.last_step["loss_after"]
    assert after[True] <= after[False]


def test_warm_start_starts_cg_from_the_previous_solution(rng):
    model, X, Y = classifier(rng)
    hf = HessianFree(cg_max_iter=5, warm_start=0.5)
    hf.step(model, X, Y)
    assert hf.direction is not None
    first = hf.direction.copy()
    calls = []
    import mlmath.second_order as so

    original = so.conjugate_gradient

    def spy(matvec, b, **kwargs):
        calls.append(kwargs["x0"])
        return original(matvec, b, **kwargs)

    so.conjugate_gradient = spy
    try:
        hf.step(model, X, Y)
    finally:
        so.conjugate_gradient = original
    np.testing.assert_array_equal(calls[0], 0.5 * first)


# --- natural gradient -----------------------------------------------------------------------------


def _softmax_regression(W: np.ndarray, b: np.ndarray, optimizer: object = "sgd") -> Sequential:
    model = Sequential([Dense(3, input_dim=W.shape[1]), Activation("softmax")])
    model.compile(optimizer=optimizer, loss="categorical_crossentropy")  # type: ignore[arg-type]
    model.build(W.shape[1])
    model.set_weights([W, b])
    return model


@pytest.mark.parametrize("fisher", ["true", "empirical"])
def test_natural_gradient_is_invariant_to_an_affine_reparameterization(fisher, rng):
    # x' = S x with W' = W S^{-1}: the same function of x. A natural gradient step keeps the twins equal
    # (W'_new S = W_new); a gradient descent step does not.
    X, Y = rng.standard_normal((20, 3)), to_categorical(rng.integers(3, size=20), 3)
    S = rng.standard_normal((3, 3)) + 2 * np.eye(3)
    W, b = rng.standard_normal((3, 3)), rng.standard_normal(3)
    Xs = X @ S.T
    twins = _softmax_regression(W, b), _softmax_regression(W @ np.linalg.inv(S), b)
    np.testing.assert_allclose(twins[0].predict(X), twins[1].predict(Xs), rtol=1e-12)
    for model, data in zip(twins, (X, Xs), strict=True):
        NaturalGradient(learning_rate=0.5, damping=0.0, fisher=fisher, cg_tol=1e-13).step(model, data, Y)
    np.testing.assert_allclose(twins[0].predict(X), twins[1].predict(Xs), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(twins[1].get_weights()[0] @ S, twins[0].get_weights()[0], atol=1e-10)
    moved = np.abs(twins[0].get_weights()[0] - W).max()
    assert moved > 0.01  # the step did something
    plain = _softmax_regression(W, b, SGD(0.5)), _softmax_regression(W @ np.linalg.inv(S), b, SGD(0.5))
    for model, data in zip(plain, (X, Xs), strict=True):
        model.fit(data, Y, batch_size=20, epochs=1, shuffle=False, verbose=0)
    assert np.abs(plain[0].predict(X) - plain[1].predict(Xs)).max() > 0.01


def test_natural_gradient_with_true_fisher_on_least_squares_is_a_gauss_newton_step(rng):
    model, X, Y, W, b = least_squares_problem(rng)
    theta = model.get_flat_weights()
    NaturalGradient(learning_rate=0.25, damping=0.0, cg_tol=1e-13).step(model, X, Y)
    exact = np.concatenate([W.ravel(), b])
    np.testing.assert_allclose(model.get_flat_weights(), theta + 0.25 * (exact - theta), rtol=1e-9, atol=1e-11)


def test_natural_gradient_trains_a_classifier(rng):
    model, X, Y = classifier(rng)
    history = fit(model, X, Y, NaturalGradient(learning_rate=0.5, damping=1e-2), epochs=6, batch_size=30, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]


# --- the loop: options, atomic contract, float32 ------------------------------------------------------


class NaNAt(HessianFree):
    """Hessian-free whose ``fail_at``-th step makes the weights NaN (and returns a finite loss)."""

    def __init__(self, fail_at: int, **kwargs):
        super().__init__(**kwargs)
        self.fail_at = fail_at

    def step_unchecked(self, model, X, Y):
        value = super().step_unchecked(model, X, Y)
        if self.iterations + 1 == self.fail_at:  # the caller counts the step after it
            model.trainable_weights[0][...] = np.nan
        return value


class NaNLossAt(HessianFree):
    def __init__(self, fail_at: int, **kwargs):
        super().__init__(**kwargs)
        self.fail_at = fail_at

    def step_unchecked(self, model, X, Y):
        value = super().step_unchecked(model, X, Y)
        return math.nan if self.iterations + 1 == self.fail_at else value


def _snapshot(model: Sequential, optimizer: ModelOptimizer):
    return model.get_flat_weights(), optimizer.get_state(), model.history


@pytest.mark.parametrize(
    ("optimizer", "match"),
    [
        # the first fit takes steps 1 and 2; in the second, step 6 is the last of epoch 2, step 5 the first
        (NaNAt(fail_at=6), r"the weights became NaN or infinite at epoch 2/3;"),
        (NaNAt(fail_at=5), r"the loss became nan at epoch 2/3, step 2/2"),
        (NaNLossAt(fail_at=5), r"the loss became nan at epoch 2/3, step 1/2"),
    ],
)
def test_fit_is_atomic_under_a_nan(optimizer, match, rng):
    model, X, Y = classifier(rng)
    fit(model, X, Y, optimizer, epochs=1, batch_size=30, verbose=0)  # a state to restore
    weights, state, history = _snapshot(model, optimizer)
    with pytest.raises(FloatingPointError, match=match):
        fit(model, X, Y, optimizer, epochs=3, batch_size=30, verbose=0)
    np.testing.assert_array_equal(model.get_flat_weights(), weights)
    after = optimizer.get_state()
    assert after["t"] == state["t"]
    assert after["damping"] == state["damping"]
    np.testing.assert_array_equal(after["direction"], state["direction"])
    assert model.history is history


def test_fit_is_atomic_under_an_interruption(rng):
    model, X, Y = classifier(rng)

    class Interrupted(HessianFree):
        def step_unchecked(self, model, X, Y):
            if self.iterations == 2:
                raise KeyboardInterrupt
            return super().step_unchecked(model, X, Y)

    hf = Interrupted()
    model.build(3)
    weights = model.get_flat_weights()
    with pytest.raises(KeyboardInterrupt):
        fit(model, X, Y, hf, epochs=2, batch_size=30, verbose=0)
    np.testing.assert_array_equal(model.get_flat_weights(), weights)
    assert hf.iterations == 0
    assert hf.direction is None
    assert model.history is None


def test_step_is_atomic(rng):
    model, X, Y = classifier(rng)
    hf = NaNAt(fail_at=1)
    model.build(3)
    weights = model.get_flat_weights()
    with pytest.raises(FloatingPointError, match="the weights became NaN"):
        hf.step(model, X, Y)
    np.testing.assert_array_equal(model.get_flat_weights(), weights)
    assert hf.iterations == 0


@pytest.mark.parametrize("make", [lambda: HessianFree(cg_max_iter=10), lambda: NaturalGradient(learning_rate=0.3)])
def test_float32_stays_float32(make, rng):
    model, X, Y = classifier(rng)
    model.build(3, dtype=np.float32)
    optimizer = make()
    history = fit(model, X.astype(np.float32), Y.astype(np.float32), optimizer, epochs=3, batch_size=60, verbose=0)
    assert all(w.dtype == np.float32 for w in model.trainable_weights)
    assert optimizer.direction is not None
    assert optimizer.direction.dtype == np.float32
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_full_batch_steps_once_per_epoch_without_shuffling(rng):
    model, X, Y = classifier(rng)
    hf = HessianFree()
    history = fit(model, X, Y, hf, epochs=2, batch_size=1000, verbose=0)
    assert history.params == {"epochs": 2, "steps": 1, "verbose": 0}
    assert hf.iterations == 2


def test_the_model_is_sized_once_per_call_not_once_per_step(rng, monkeypatch):
    # count_params walks the layers (tens of microseconds): fit and step read the size once per call,
    # and the state still records it, so a model that has changed since is refused at the next call
    model, X, Y = classifier(rng)
    calls = []
    counted = Sequential.count_params

    def counting(self):
        calls.append(1)
        return counted(self)

    monkeypatch.setattr(Sequential, "count_params", counting)
    hf = HessianFree(cg_max_iter=2)
    fit(model, X, Y, hf, epochs=3, batch_size=10, verbose=0)  # 18 steps
    assert hf.iterations == 18
    assert len(calls) <= 2  # check_compatible's, not one per step
    n = counted(model)
    assert hf.get_state()["_held_for"] == (n, np.dtype(np.float64)) == (8 * 3 + 8 + 3 * 8 + 3, model.dtype)
    calls.clear()
    hf.step(model, X, Y)
    assert len(calls) <= 1
    model.add(Dense(3))  # built at once: the model now has more parameters than the state was made for
    with pytest.raises(ValueError, match=f"holds a state for a model of {n} parameters"):
        fit(model, X, Y, hf, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=f"holds a state for a model of {n} parameters"):
        hf.step(model, X, Y)


def test_same_seed_same_history(rng):
    runs = []
    for _ in range(2):
        model, X, Y = classifier(np.random.default_rng(3), seed=7)
        runs.append(fit(model, X, Y, HessianFree(cg_max_iter=5), epochs=2, batch_size=16, verbose=0).history)
    assert runs[0] == runs[1]


def test_progress_lines_and_validation(rng, capsys):
    model, X, Y = classifier(rng)
    history = fit(model, X, Y, HessianFree(cg_max_iter=5), epochs=2, batch_size=60, validation_split=0.25, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2 - loss: ")
    assert " - val_loss: " in lines[0]
    assert " - val_accuracy: " in lines[0]
    assert list(history.history) == ["loss", "val_loss", "val_accuracy"]
    assert history.params["steps"] == 1  # 45 training rows, one batch
    assert model.history is history


def test_state_round_trip_resumes_exactly(rng):
    model, X, Y = classifier(rng)
    hf = HessianFree(cg_max_iter=5)
    fit(model, X, Y, hf, epochs=2, batch_size=60, verbose=0)
    twin_model, twin = copy.deepcopy(model), HessianFree(cg_max_iter=5)
    twin.set_state(hf.get_state())
    fit(model, X, Y, hf, epochs=1, batch_size=60, verbose=0)
    fit(twin_model, X, Y, twin, epochs=1, batch_size=60, verbose=0)
    np.testing.assert_array_equal(model.get_flat_weights(), twin_model.get_flat_weights())
    assert hf.damping == twin.damping


def test_bad_states_are_refused_and_change_nothing(rng):
    model, X, Y = classifier(rng)
    hf = HessianFree(cg_max_iter=5)
    hf.step(model, X, Y)
    state = hf.get_state()
    bad = [
        (None, TypeError, "state must be a dict"),
        ({k: v for k, v in state.items() if k != "damping"}, ValueError, "keys"),
        ({**state, "t": -1}, ValueError, r"state\['t'\]"),
        ({**state, "damping": math.nan}, ValueError, "damping"),
        ({**state, "direction": "abc"}, TypeError, "direction"),
        ({**state, "direction": state["direction"] * np.nan}, ValueError, "direction"),
        ({**state, "direction": state["direction"][:-1]}, ValueError, "direction"),
        ({**state, "direction": state["direction"].astype(np.float32)}, ValueError, "direction"),
    ]
    for value, error, match in bad:
        with pytest.raises(error, match=match):
            hf.set_state(value)  # type: ignore[arg-type]
        assert hf.get_state()["damping"] == state["damping"]
        np.testing.assert_array_equal(hf.direction, state["direction"])


def test_refusals_come_before_any_change(rng):
    model, X, Y = classifier(rng)
    model.build(3)
    weights = model.get_flat_weights()
    with pytest.raises(TypeError, match="optimizer must be a ModelOptimizer"):
        fit(model, X, Y, Adam(), epochs=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model must be a Sequential"):
        fit("model", X, Y, HessianFree())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="epochs"):
        fit(model, X, Y, HessianFree(), epochs=0)
    with pytest.raises(ValueError, match="Y must hold class probabilities"):
        fit(model, X, Y * 2, HessianFree())
    # binary cross-entropy averaged over two outputs: no true Fisher
    bce = Sequential([Dense(2, input_dim=3), Activation("sigmoid")], seed=0)
    bce.compile(optimizer="sgd", loss="binary_crossentropy")
    with pytest.raises(TypeError, match="the true Fisher is not stated"):
        fit(bce, X, (Y[:, :2] > 0).astype(float), NaturalGradient())
    fit(bce, X, (Y[:, :2] > 0).astype(float), NaturalGradient(fisher="empirical"), verbose=0)
    # a state made for another model
    hf = HessianFree(cg_max_iter=3)
    hf.step(model, X, Y)
    weights = model.get_flat_weights()
    other, X2, Y2 = classifier(rng, hidden=4)
    with pytest.raises(ValueError, match="holds a state for a model of"):
        fit(other, X2, Y2, hf)
    np.testing.assert_array_equal(model.get_flat_weights(), weights)
    uncompiled = Sequential([Dense(1, input_dim=3)])
    with pytest.raises(RuntimeError, match="compile"):
        fit(uncompiled, X, Y[:, :1], HessianFree())


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: HessianFree(damping=-1.0), ValueError, "damping"),
        (lambda: HessianFree(cg_max_iter=0), ValueError, "cg_max_iter"),
        (lambda: HessianFree(cg_tol=1.5), ValueError, "cg_tol"),
        (lambda: HessianFree(warm_start=1.5), ValueError, "warm_start"),
        (lambda: HessianFree(backtrack="yes"), TypeError, "backtrack"),
        (lambda: NaturalGradient(learning_rate=0.0), ValueError, "learning_rate"),
        (lambda: NaturalGradient(fisher="exact"), ValueError, "fisher"),
    ],
)
def test_bad_hyperparameters_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_config_and_repr():
    hf = HessianFree(damping=0.5, cg_max_iter=7)
    assert hf.get_config()["damping"] == 0.5
    assert HessianFree(**hf.get_config()).get_config() == hf.get_config()
    assert repr(hf).startswith("HessianFree(damping=0.5, cg_max_iter=7")
    ng = NaturalGradient(0.2, fisher="empirical")
    assert NaturalGradient(**ng.get_config()).get_config() == ng.get_config()


def test_article_network_trains_with_hessian_free(rng):
    X, Y = random_classification(num_samples=200, num_features=20, num_classes=3, seed=0)
    model = Sequential(seed=0)
    for layer in (Dense(64, input_dim=20), Activation("relu"), Dense(64), Activation("relu"), Dense(3)):
        model.add(layer)
    model.add(Activation("softmax"))
    model.compile(optimizer="adam", loss="mse", metrics=["accuracy"])
    history = fit(model, X, Y, HessianFree(damping=1.0, cg_max_iter=10), epochs=4, batch_size=200, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
