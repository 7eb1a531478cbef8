"""Sequential on sequences ``(m, T, n)``: per-position targets, training mode, non-trainable state, atomic fit."""

from __future__ import annotations

import numpy as np
import pytest
from gradient_checks import rel_err

from mlmath.calculus import gradient
from mlmath.data import to_categorical
from mlmath.layers import Activation, Dense, Layer
from mlmath.models import Sequential
from mlmath.normalization import BatchNorm, LayerNorm
from mlmath.optim import Adam
from mlmath.residual import Residual

SEED = 10  # the shared rng fixture (conftest.py) draws from this seed


def sequence_data(rng, m: int = 6, T: int = 5, n: int = 4, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(m, T, n))
    return X, to_categorical(rng.integers(k, size=m * T), k).reshape(m, T, k)


def position_wise_model(seed: int = 0, k: int = 3, norm: Layer | None = None) -> Sequential:
    return Sequential(
        [
            Dense(6),
            norm if norm is not None else LayerNorm(),
            Activation("tanh"),
            Residual(Dense(6), Activation("relu")),
            Dense(k),
            Activation("softmax"),
        ],
        seed=seed,
    )


# --- position-wise semantics -------------------------------------------------------------------------


def test_predict_on_sequences_is_predict_on_their_rows(rng):
    X, _ = sequence_data(rng)
    model = position_wise_model()
    P = model.predict(X)
    assert P.shape == (6, 5, 3)
    np.testing.assert_allclose(P, model.predict(X.reshape(-1, 4)).reshape(6, 5, 3), rtol=1e-13)
    np.testing.assert_allclose(model.predict(X[:, :1]), P[:, :1], rtol=1e-13)  # T = 1


def test_loss_and_accuracy_are_means_over_positions_and_samples(rng):
    X, Y = sequence_data(rng)
    model = position_wise_model()
    model.compile("adam", "categorical_crossentropy", ["accuracy"])
    P = model.predict(X)
    expected_loss = -np.mean(np.sum(Y * np.log(P), axis=-1))  # over the m T positions, as Keras
    expected_accuracy = np.mean(P.argmax(axis=-1) == Y.argmax(axis=-1))
    loss, accuracy = model.evaluate(X, Y, batch_size=4, verbose=0)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12)
    assert accuracy == expected_accuracy
    rows = model.evaluate(X.reshape(-1, 4), Y.reshape(-1, 3), batch_size=30, verbose=0)
    np.testing.assert_allclose(rows, [loss, accuracy], rtol=1e-12)


def test_loss_and_gradients_on_sequences_match_central_differences(rng, held_in_place):
    X, Y = sequence_data(rng, m=3, T=4)
    model = position_wise_model(seed=2)
    model.compile("sgd", "categorical_crossentropy")
    model.build(4)
    theta = model.get_flat_weights() + 0.3 * rng.normal(size=model.count_params())
    model.set_flat_weights(theta)
    _, grads = model.loss_and_gradients(X, Y)
    for p, g in zip(model.trainable_weights, grads, strict=True):
        numeric = gradient(held_in_place(p, lambda: model.loss_and_gradients(X, Y)[0]), p, h=1e-6)
        assert rel_err(g, numeric) < 1e-6


def test_mse_on_sequences_is_the_mean_over_every_entry(rng):
    X, _ = sequence_data(rng, m=3, T=2)
    Y = rng.normal(size=(3, 2, 2))
    model = Sequential([Dense(2)], seed=0)
    model.compile("sgd", "mse")
    loss = model.evaluate(X, Y, verbose=0)
    np.testing.assert_allclose(loss, np.mean((model.predict(X) - Y) ** 2), rtol=1e-12)


# --- fit ---------------------------------------------------------------------------------------


def test_fit_on_sequences_holds_out_the_last_sequences(rng):
    X, Y = sequence_data(rng, m=10, T=3)
    model = position_wise_model(seed=1)
    model.compile(Adam(0.01), "categorical_crossentropy", ["accuracy"])
    history = model.fit(X, Y, epochs=3, batch_size=4, validation_split=0.2, verbose=0, seed=0)
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert history.params["steps"] == 2  # 8 training sequences, in batches of 4
    val_loss, val_accuracy = model.evaluate(X[8:], Y[8:], verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][-1], val_loss, rtol=1e-12)
    assert history.history["val_accuracy"][-1] == val_accuracy
    assert all(0.0 <= a <= 1.0 for a in history.history["accuracy"])
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_fit_accuracy_counts_positions(rng):
    """One epoch of one batch: the logged accuracy is that of the predictions before the step, over m T rows."""
    X, Y = sequence_data(rng, m=4, T=3)
    model = position_wise_model(seed=3)
    model.compile("sgd", "categorical_crossentropy", ["accuracy"])
    before = model.predict(X)
    history = model.fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    assert history.history["accuracy"][0] == np.mean(before.argmax(axis=-1) == Y.argmax(axis=-1))


def test_float32_sequences_stay_float32(rng):
    X, Y = sequence_data(rng)
    model = position_wise_model(norm=BatchNorm())
    model.compile("adam", "categorical_crossentropy")
    model.fit(X.astype(np.float32), Y.astype(np.float32), epochs=1, verbose=0)
    assert model.dtype == np.float32
    assert all(a.dtype == np.float32 for a in model.trainable_weights + model.non_trainable_weights)
    assert model.predict(X.astype(np.float32)).dtype == np.float32
    _, grads = model.loss_and_gradients(X.astype(np.float32), Y)
    assert all(g.dtype == np.float32 for g in grads)


# --- summary -------------------------------------------------------------------------------------


def test_summary_shows_the_sequence_axis_and_the_non_trainable_state(rng):
    X, _ = sequence_data(rng, T=7)
    model = Sequential([Dense(8), BatchNorm(), Residual(Dense(8), LayerNorm()), Dense(3)], seed=0)
    model.predict(X)
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    assert lines[4].split() == ["dense", "(Dense)", "(None,", "7,", "8)", "40"]
    # Keras's name, too long for the column beside its type: the type goes on the next line, as Keras 2 wraps it
    assert lines[5].split() == ["batch_normalization", "(None,", "7,", "8)", "32"]  # 16 trainable, 16 moving
    assert lines[6] == " (BatchNormalization)"
    assert lines[7].split() == ["residual", "(Residual)", "(None,", "7,", "8)", "88"]  # 72 + 16
    assert lines[-4:-1] == ["Total params: 187", "Trainable params: 171", "Non-trainable params: 16"]
    assert model.count_params() == 171 == model.get_flat_weights().size


# --- training mode and non-trainable state ------------------------------------------------------------


class _Spy(Layer):
    """An identity layer that records its training flag at each call; returns NaN at the call ``poison_at``."""

    def __init__(self, poison_at: int | None = None) -> None:
        super().__init__()
        self.seen: list[bool] = []
        self.poison_at = poison_at

    def compute_output_dim(self, n_in: int) -> int:
        return n_in

    def call(self, X: np.ndarray) -> np.ndarray:
        self.seen.append(self.training)
        self._cache = (X,)
        if self.poison_at is not None and len(self.seen) == self.poison_at:
            return np.full_like(X, np.nan)
        return X

    def backprop(self, dA: np.ndarray, input_grad: bool) -> np.ndarray:
        return dA

    def hvp_unsupported_reason(self) -> str | None:
        return None

    def r_call(self, XX: np.ndarray, V: dict[str, np.ndarray]) -> np.ndarray:
        self.seen.append(self.training)
        return XX if XX.shape[0] == 2 else np.concatenate([XX, np.zeros_like(XX)])

    def r_backprop(
        self, GG: np.ndarray, V: dict[str, np.ndarray], input_grad: bool, out: dict[str, np.ndarray]
    ) -> np.ndarray:
        return GG


def test_fit_trains_in_training_mode_and_validates_in_inference_mode(rng):
    X, Y = sequence_data(rng, m=10)
    spy = _Spy()
    inner = _Spy()
    model = Sequential([Dense(4), spy, Residual(inner, Dense(4)), Dense(3), Activation("softmax")], seed=0)
    model.compile("sgd", "categorical_crossentropy")
    model.fit(X, Y, epochs=2, batch_size=4, validation_split=0.2, verbose=0)
    # per epoch: 2 training batches (8 sequences), then 1 validation batch
    assert spy.seen == [True, True, False, True, True, False]
    assert inner.seen == spy.seen  # the residual block forwards the mode
    assert not spy.training
    assert not inner.training
    model.predict(X)
    model.evaluate(X, Y, verbose=0)
    model.loss_and_gradients(X, Y)
    model.hessian_vector_product(X, Y, np.zeros(model.count_params()))
    assert spy.seen[6:] == [False] * 4


def test_get_weights_holds_the_trainable_parameters_only(rng):
    X, Y = sequence_data(rng)
    norm = BatchNorm()
    model = position_wise_model(norm=norm)
    model.compile("adam", "categorical_crossentropy")
    model.fit(X, Y, epochs=2, batch_size=3, verbose=0)
    moving = model.non_trainable_weights
    assert len(moving) == 2
    assert moving[0] is norm.state["moving_mean"]
    assert moving[1] is norm.state["moving_variance"]
    assert sum(w.size for w in model.get_weights()) == model.count_params() == model.get_flat_weights().size
    assert not any("moving" in name for name in model.weight_names)
    assert np.all(norm.state["moving_mean"] != 0)  # training moved the statistics


def test_failed_fit_restores_weights_moving_statistics_optimizer_and_history(rng):
    X, Y = sequence_data(rng, m=12)
    norm = BatchNorm(momentum=0.5)
    spy = _Spy()
    model = Sequential([Dense(5), norm, Activation("tanh"), spy, Dense(3), Activation("softmax")], seed=0)
    model.compile(Adam(0.01), "categorical_crossentropy", ["accuracy"])
    history = model.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    weights, state = model.get_weights(), model.optimizer.get_state()
    moving = [a.copy() for a in model.non_trainable_weights]
    spy.poison_at = len(spy.seen) + 7  # the 7th batch of the next fit: epoch 3, step 1
    with pytest.raises(
        FloatingPointError, match=r"the loss became nan at epoch 3/4, step 1/3; fit stopped and restored"
    ):
        model.fit(X, Y, epochs=4, batch_size=4, verbose=0)
    for a, b in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.non_trainable_weights, moving, strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.non_trainable_weights[0] is norm.state["moving_mean"]  # restored in place
    now = model.optimizer.get_state()
    assert now["t"] == state["t"]
    for a, b in zip(now["m"] + now["v"], state["m"] + state["v"], strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.history is history
    assert not norm.training
    assert not spy.training


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("X_shape", "Y_shape", "match"),
    [
        (
            (4, 3, 2),
            (4, 3),
            r"Y must be a 3-D array of shape \(n_samples, T, n_outputs\) = \(4, 3, 3\), one target row",
        ),
        ((4, 3, 2), (4, 2, 3), r"one target row per position of X of shape \(4, 3, 2\); got shape \(4, 2, 3\)"),
        ((4, 3, 2), (5, 3, 3), r"got shape \(5, 3, 3\)"),
        ((4, 3, 2), (4, 3, 2), "Y has 2 values per position, but the model outputs 3 values per sample"),
        ((4, 2), (4, 1, 3), r"Y must be a 2-D array of shape \(n_samples, n_outputs\)"),
        ((1, 4, 3, 2), (1, 4, 3, 3), r"X must be a 2-D array of shape \(n_samples, n_features\) or a 3-D array"),
        ((4, 0, 2), (4, 0, 3), r"X must hold at least one sample of at least one position; got shape \(4, 0, 2\)"),
        ((0, 3, 2), (0, 3, 3), r"X must hold at least one sample of at least one position; got shape \(0, 3, 2\)"),
        ((4, 3, 5), (4, 3, 3), "X has 5 features, but Dense is expecting 2 features as input"),
    ],
)
def test_mismatched_sequences_are_refused_before_anything_changes(X_shape, Y_shape, match):
    model = Sequential([Dense(3, input_dim=2), Activation("softmax")], seed=0)
    model.compile("sgd", "mse")
    X, Y = np.zeros(X_shape), np.zeros(Y_shape)
    for method in (model.fit, model.evaluate, model.loss_and_gradients):
        with pytest.raises(ValueError, match=match):
            method(X, Y, **({"verbose": 0} if method != model.loss_and_gradients else {}))
    assert not model.built


def test_validation_data_must_match_the_inputs_rank(rng):
    X, Y = sequence_data(rng)
    model = position_wise_model()
    model.compile("sgd", "categorical_crossentropy")
    with pytest.raises(ValueError, match=r"validation_data = \(X_val, Y_val\): X_val must be 3-D like X"):
        model.fit(X, Y, validation_data=(X[:, 0], Y[:, 0]), verbose=0)


def test_summary_of_an_unbuilt_model_leaves_unknown_counts_unknown():
    lines: list[str] = []
    Sequential([Dense(4), LayerNorm(), Residual(Dense(4)), BatchNorm()]).summary(print_fn=lines.append)
    rows = [line for line in lines[4:-5] if not line.startswith(" (")]  # not the wrapped type lines
    assert [row.split()[-1] for row in rows] == ["?"] * 4
    assert "Total params: ?" in lines
    lines.clear()
    Sequential([Dense(4, input_dim=3), LayerNorm(), Residual(Dense(4))]).summary(print_fn=lines.append)
    rows = [line for line in lines[4:-5] if not line.startswith(" (")]
    assert [row.split()[-1] for row in rows] == ["16", "8", "20"]
