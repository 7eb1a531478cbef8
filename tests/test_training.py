"""The one training loop (mlmath.training) as every model uses it: same options, same errors, atomic.

Each failure is provoked inside the loop, late in training, and the test asserts that the weights,
the optimizer's whole state and the model's ``history`` are exactly as they were before the call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import pytest

from mlmath.gated import GRU, LSTM
from mlmath.layers import Activation, Dense
from mlmath.models import Sequential
from mlmath.optim import SGD
from mlmath.rnn import RNN
from mlmath.training import History


class Sabotaged(SGD):
    """SGD with momentum (so it has a state) that, on its ``at``-th update, does ``action(params)`` after updating."""

    def __init__(self, at: int, action: Callable[[list[np.ndarray]], None], learning_rate: float = 0.01) -> None:
        super().__init__(learning_rate=learning_rate, momentum=0.9)
        self.at, self.action, self.calls = at, action, 0

    def apply_unchecked(self, params, grads, flat=None) -> None:
        super().apply_unchecked(params, grads, flat)
        self.calls += 1
        if self.calls == self.at:
            self.action(params)


def write_nan(params: list[np.ndarray]) -> None:
    params[0].flat[0] = np.nan  # the next loss is NaN


def interrupt(params: list[np.ndarray]) -> None:
    raise KeyboardInterrupt


def sequential_case(rng: np.random.Generator):
    X = rng.normal(size=(40, 3))
    Y = X @ rng.normal(size=(3, 2))
    model = Sequential([Dense(8, input_dim=3), Activation("tanh"), Dense(2)], seed=0)

    def fit(optimizer, **kw):
        model.compile(optimizer=optimizer, loss="mse")
        return model.fit(X, Y, **({"epochs": 3, "batch_size": 8, "verbose": 0, "seed": 1} | kw))

    return model, fit, lambda: [w.copy() for w in model.trainable_weights]


def rnn_case(rng: np.random.Generator, model_class: type = RNN):
    X = rng.uniform(-1, 1, size=(40, 6, 1))
    Y = np.concatenate([np.zeros((40, 1, 1)), X[:, :-1]], axis=1)
    model = model_class(1, 5, 1, seed=0)

    def fit(optimizer, **kw):
        return model.fit(X, Y, **({"optimizer": optimizer, "epochs": 3, "batch_size": 8, "verbose": 0, "seed": 1} | kw))

    return model, fit, lambda: [w.copy() for w in model.params]


def lstm_case(rng: np.random.Generator):
    return rnn_case(rng, LSTM)


def gru_case(rng: np.random.Generator):
    return rnn_case(rng, GRU)


CASES = {"sequential": sequential_case, "rnn": rnn_case, "lstm": lstm_case, "gru": gru_case}


def state_equal(a: dict, b: dict) -> bool:
    return (
        a.keys() == b.keys()
        and a["t"] == b["t"]
        and all(
            len(a[k]) == len(b[k]) and all(np.array_equal(x, y) for x, y in zip(a[k], b[k], strict=True))
            for k in a
            if k != "t"
        )
    )


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(
    ("at", "action", "learning_rate", "exc", "match"),
    [
        # NaN written into the weights at the 13th of 15 steps: the next loss is NaN
        (13, write_nan, 0.01, FloatingPointError, r"became nan at epoch 3/3, step 4/5; fit stopped"),
        (12, interrupt, 0.01, KeyboardInterrupt, None),
        (None, None, 1e30, FloatingPointError, r"at epoch \d/3(, step \d/5)?; fit stopped and restored"),
    ],
    ids=["nan-at-a-late-batch", "keyboard-interrupt", "diverging-learning-rate"],
)
def test_fit_is_atomic(case, at, action, learning_rate, exc, match):
    model, fit, weights = CASES[case](np.random.default_rng(0))
    optimizer = Sabotaged(10**9, write_nan)
    fit(optimizer, epochs=1)  # a first call, so that the optimizer holds a state (t, moments) worth restoring
    optimizer.calls, optimizer.at, optimizer.action = 0, at, action
    optimizer.learning_rate = learning_rate
    history_before = getattr(model, "history", None)
    before_w, before_state = weights(), optimizer.get_state()
    assert before_state["t"] == 5
    with pytest.raises(exc, match=match):
        fit(optimizer)
    for w, b in zip(weights(), before_w, strict=True):
        np.testing.assert_array_equal(w, b)
    assert state_equal(optimizer.get_state(), before_state)
    assert getattr(model, "history", None) is history_before


@pytest.mark.parametrize("case", CASES)
def test_a_restored_fit_continues_as_if_nothing_happened(case):
    """After a failed call, the same call with a working optimizer gives bit-identical results."""
    _model, fit, weights = CASES[case](np.random.default_rng(0))
    start = weights()
    optimizer = Sabotaged(10**9, write_nan)
    fit(optimizer, epochs=1)
    clean = [w.copy() for w in weights()]
    reference = fit(optimizer, epochs=2).history["loss"]

    _model2, fit2, weights2 = CASES[case](np.random.default_rng(0))
    np.testing.assert_array_equal(weights2()[0], start[0])
    optimizer2 = Sabotaged(10**9, write_nan)
    fit2(optimizer2, epochs=1)
    np.testing.assert_array_equal(weights2()[0], clean[0])
    optimizer2.calls, optimizer2.at = 0, 7
    with pytest.raises(FloatingPointError):
        fit2(optimizer2, epochs=2)
    optimizer2.at = 10**9
    assert fit2(optimizer2, epochs=2).history["loss"] == reference


def test_all_fits_share_options_defaults_and_errors():
    shared = ["epochs", "batch_size", "shuffle", "verbose", "seed"]
    seq = inspect.signature(Sequential.fit).parameters
    rnn = inspect.signature(RNN.fit).parameters
    for name in shared:
        assert seq[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert rnn[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert seq[name].default == rnn[name].default, name
    for gated in (LSTM, GRU):  # the sequence models: exactly the options of RNN.fit
        params = inspect.signature(gated.fit).parameters
        assert list(params) == list(rnn)
        assert all((params[k].kind, params[k].default) == (rnn[k].kind, rnn[k].default) for k in rnn)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(
    ("option", "exc", "match"),
    [
        ({"shuffle": "no"}, TypeError, "shuffle must be True or False; got str 'no'"),
        ({"shuffle": None}, TypeError, "shuffle must be True or False; got NoneType None"),
        ({"verbose": 3}, ValueError, "verbose must be 0, 1 or 2; got 3"),
        ({"verbose": "1"}, TypeError, "verbose must be 0, 1 or 2"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0; got -1"),
        ({"seed": 2.5}, TypeError, "seed must be None, an integer >= 0 or a numpy.random.Generator"),
        ({"epochs": 0}, ValueError, "epochs must be an integer >= 1; got 0"),
        ({"batch_size": 2.0}, TypeError, "batch_size must be an integer >= 1"),
    ],
)
def test_bad_options_give_the_same_error_in_every_model(case, option, exc, match):
    _model, fit, weights = CASES[case](np.random.default_rng(0))
    before = weights()
    with pytest.raises(exc, match=match):
        fit(SGD(0.1), **option)
    for w, b in zip(weights(), before, strict=True):
        np.testing.assert_array_equal(w, b)


@pytest.mark.parametrize("case", CASES)
def test_progress_lines_and_history(case, capsys):
    _model, fit, _ = CASES[case](np.random.default_rng(0))
    history = fit(SGD(0.1), epochs=2, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/2", "Epoch 2/2"]
    assert isinstance(history, History)
    assert history.epoch == [0, 1]
    assert history.params == {"epochs": 2, "steps": 5, "verbose": 1}
    assert all(f"loss: {v:.4f}" in line for v, line in zip(history.history["loss"], lines, strict=True))
