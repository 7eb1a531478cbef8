"""Tests of mlmath.models.Sequential: gradients, training semantics, reproducibility, atomic failures."""

from __future__ import annotations

import copy
import math
import pickle
import re

import numpy as np
import pytest

from mlmath.calculus import gradient
from mlmath.data import blobs, to_categorical
from mlmath.layers import Activation, Dense
from mlmath.losses import BinaryCrossentropy, CategoricalCrossentropy, MeanSquaredError
from mlmath.models import History, Sequential, accuracy
from mlmath.optim import SGD, Adam

H = 1e-6


SEED = 2024  # the shared rng fixture (conftest.py) draws from this seed


def small_model(seed: int = 0, out: str = "softmax", n_in: int = 4, n_out: int = 3) -> Sequential:
    return Sequential([Dense(5, input_dim=n_in), Activation("tanh"), Dense(n_out), Activation(out)], seed=seed)


def data(rng, m: int = 12, n_in: int = 4, n_out: int = 3) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(m, n_in))
    Y = to_categorical(rng.integers(n_out, size=m), n_out)
    return X, Y


def snapshot(model: Sequential) -> tuple[list[np.ndarray], dict]:
    return model.get_weights(), model.optimizer.get_state()


def assert_unchanged(model: Sequential, snap) -> None:
    weights, state = snap
    for a, b in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)
    now = model.optimizer.get_state()
    assert now.keys() == state.keys()
    assert now["t"] == state["t"]
    for key in state:
        if key != "t":
            assert len(now[key]) == len(state[key])
            for a, b in zip(now[key], state[key], strict=True):
                np.testing.assert_array_equal(a, b)


# --- structure ------------------------------------------------------------------------------


def test_layers_are_named_in_order():
    model = Sequential([Dense(3, input_dim=2), Activation("relu"), Dense(2), Activation("softmax")])
    assert [layer.name for layer in model.layers] == ["dense", "activation", "dense_1", "activation_1"]
    assert model.weight_names == ["dense/W", "dense/b", "dense_1/W", "dense_1/b"]
    assert [w.shape for w in model.trainable_weights] == [(3, 2), (3,), (2, 3), (2,)]
    assert repr(model) == "Sequential([Dense(3, input_dim=2), Activation('relu'), Dense(2), Activation('softmax')])"


def test_building_is_lazy_and_takes_dtype_from_x(rng):
    model = small_model()
    assert not model.built
    model.predict(rng.normal(size=(2, 4)).astype(np.float32))
    assert model.built
    assert model.dtype == np.float32
    assert model.count_params() == 4 * 5 + 5 + 5 * 3 + 3


def test_width_taken_from_x_without_input_dim(rng):
    model = Sequential([Dense(3), Activation("relu")], seed=0)
    assert model.input_dim is None
    assert model.predict(rng.normal(size=(4, 7))).shape == (4, 3)
    assert model.input_dim == 7
    assert model.layers[0].params["W"].shape == (3, 7)


def test_summary_table(capsys):
    model = Sequential(
        [Dense(64, input_dim=20), Activation("relu"), Dense(64), Activation("relu"), Dense(3), Activation("softmax")]
    )
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "sequential"' in out
    assert re.search(r"dense \(Dense\)\s+\(None, 64\)\s+1,344\n", out)
    assert re.search(r"dense_1 \(Dense\)\s+\(None, 64\)\s+4,160\n", out)
    assert re.search(r"dense_2 \(Dense\)\s+\(None, 3\)\s+195\n", out)
    assert re.search(r"activation_2 \(Activation\)\s+\(None, 3\)\s+0\n", out)
    total = (20 * 64 + 64) + (64 * 64 + 64) + (64 * 3 + 3)
    assert f"Total params: {total:,}" in out
    assert not model.built  # summary does not build


def test_new_layers_get_keras_names_and_the_summary_keeps_its_columns():
    from mlmath.layers import LayerNormalization, MultiHeadAttention, Residual, SinusoidalPositionEncoding

    model = Sequential(
        [
            Dense(8, input_dim=4),
            SinusoidalPositionEncoding(),
            Residual(LayerNormalization(), MultiHeadAttention(2, 4)),
            LayerNormalization(),
            Dense(3),
        ]
    )
    names = [layer.name for layer in model.layers]
    assert names == ["dense", "sinusoidal_position_encoding", "residual", "layer_normalization", "dense_1"]
    assert model.weight_names[2:4] == ["residual/layer_normalization/gamma", "residual/layer_normalization/beta"]
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    # the longest name (28 characters) widens the first column from Keras's 28 to 29; each name too long to
    # sit beside its type has the type on the next line; every row's shape starts in the same column
    header = lines[2]
    column = header.index("Output Shape")
    assert column == 1 + 29
    rows = lines[4:-5]
    assert rows[1:3] == [" " + "sinusoidal_position_encoding".ljust(29) + "(None, 8)".ljust(26) + "0",
                         " (SinusoidalPositionEncoding)"]  # fmt: skip
    assert rows[0] == " " + "dense (Dense)".ljust(29) + "(None, 8)".ljust(26) + "40"
    assert rows[4:6] == [" " + "layer_normalization".ljust(29) + "(None, 8)".ljust(26) + "16", " (LayerNormalization)"]
    assert all(row[column:].startswith("(None, ") for row in rows if not row.startswith(" ("))
    assert len(lines[1]) == len(lines[3]) == len(lines[-1]) == 65 + 1


def test_check_batch_checks_builds_and_casts_without_a_forward_pass(rng):
    model = Sequential([Dense(3), Activation("softmax")], seed=0)
    with pytest.raises(RuntimeError, match=r"call compile\(optimizer, loss\) before check_batch\(\)"):
        model.check_batch(np.ones((2, 4)), np.eye(3)[:2])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    X = rng.standard_normal((6, 4)).astype(np.float32)
    Y = np.eye(3)[rng.integers(0, 3, 6)]
    with pytest.raises(ValueError, match="Y has 2 columns, but the model outputs 3"):
        model.check_batch(X, Y[:, :2])
    with pytest.raises(ValueError, match="X must hold only finite values"):
        model.check_batch(np.full((6, 4), np.nan), Y)
    assert not model.built  # refused before the build
    Xc, Yc = model.check_batch(X, Y)
    assert model.built
    assert model.dtype == Xc.dtype == Yc.dtype == np.float32  # built from X's dtype, Y cast to it
    assert Xc is X  # already in the model's dtype: not copied
    np.testing.assert_array_equal(Yc, Y)
    assert all(layer._cache is None for layer in model.layers)  # no forward pass ran
    with pytest.raises(ValueError, match="X has 5 features, but Dense is expecting 4"):
        model.check_batch(np.ones((2, 5)), Y[:2])


@pytest.mark.parametrize(
    "duplicate", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))], ids=["deepcopy", "pickle"]
)
def test_a_copy_trains_as_the_original(rng, duplicate):
    # A copy holds each view of the flat buffers as an array of its own; unless the views are
    # made again, the optimizer's flat update trains a buffer that the layers no longer read.
    X, Y = data(rng)
    model = small_model(seed=0)
    model.compile(optimizer=Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(X, Y, epochs=1, batch_size=4, verbose=0, seed=0)
    twin = duplicate(model)
    before = twin.get_weights()
    assert twin.layers[-1].activation is model.layers[-1].activation  # softmax stays fused with the loss
    for m in (model, twin):
        m.fit(X, Y, epochs=2, batch_size=4, verbose=0, seed=1)
    assert not any(np.array_equal(a, b) for a, b in zip(twin.get_weights(), before, strict=True))
    for a, b in zip(twin.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    state, twin_state = model.optimizer.get_state(), twin.optimizer.get_state()
    assert twin_state["t"] == state["t"] == 9
    for key in ("m", "v"):
        for a, b in zip(twin_state[key], state[key], strict=True):
            np.testing.assert_array_equal(a, b)


def test_layers_given_to_the_constructor_are_checked_first():
    unnamed = Dense(3, input_dim=2)
    with pytest.raises(TypeError, match=r"layers\[1\] must be a layer such as Dense\(64\)"):
        Sequential([unnamed, "relu"])
    with pytest.raises(ValueError, match=r"layers\[1\] is the same layer as layers\[0\]"):
        Sequential([unnamed, unnamed])
    with pytest.raises(ValueError, match=r"layers\[1\]: Dense\(input_dim=5\) cannot follow a layer with 3 outputs"):
        Sequential([unnamed, Dense(2, input_dim=5)])
    assert unnamed.name is None  # a refused model does not keep the names it gave


def test_an_unbuilt_model_checks_weights_before_drawing_any(rng):
    model = small_model(seed=0)
    state = model._rng.bit_generator.state
    good = small_model(seed=1).get_weights()
    for bad in (None, good[0], good[:3], [np.full((5, 4), np.nan), *good[1:]], [good[1], *good[1:]]):
        with pytest.raises((TypeError, ValueError), match=r"weights"):
            model.set_weights(bad)
    with pytest.raises(ValueError, match=r"theta must have length 43"):
        model.set_flat_weights(np.zeros(42))
    model.compile(optimizer="sgd", loss="mse")
    X, Y = data(rng)
    with pytest.raises(ValueError, match=r"V must be .* length 43"):
        model.hessian_vector_product(X, Y, np.zeros(42))
    with pytest.raises(TypeError, match=r"Y must be array-like of numbers"):
        model.loss_and_gradients(X, [[1.0, 0.0], [1.0]])
    assert not model.built
    assert model._rng.bit_generator.state == state
    model.set_weights(good)  # a valid call builds it
    for a, b in zip(model.get_weights(), good, strict=True):
        np.testing.assert_array_equal(a, b)


def test_add_errors():
    model = Sequential()
    with pytest.raises(TypeError, match=r"add\(\) takes a layer such as Dense\(64\)"):
        model.add("dense")
    layer = Dense(3, input_dim=2)
    model.add(layer)
    with pytest.raises(ValueError, match="already in the model"):
        model.add(layer)
    with pytest.raises(ValueError, match=r"Dense\(input_dim=5\) cannot follow a layer with 3 outputs"):
        model.add(Dense(2, input_dim=5))


# --- gradients ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "loss"),
    [
        ("softmax", MeanSquaredError()),
        ("softmax", CategoricalCrossentropy()),  # fused: (P - Y) / m into the last Dense
        ("linear", CategoricalCrossentropy(from_logits=True)),
        ("sigmoid", BinaryCrossentropy()),  # fused: (P - Y) / (m n)
        ("relu", MeanSquaredError()),
    ],
)
def test_loss_and_gradients_match_finite_differences(out, loss, rng, held_in_place):
    model = small_model(seed=1, out=out)
    model.compile(optimizer="sgd", loss=loss, metrics=None)
    X, Y = data(rng, m=6)
    model.build()
    for W in model.trainable_weights:  # non-zero biases, so every parameter matters
        W += rng.normal(scale=0.3, size=W.shape)
    before = model.get_weights()
    value, grads = model.loss_and_gradients(X, Y)
    assert isinstance(value, float)

    def loss_value() -> float:
        return model.loss_and_gradients(X, Y)[0]

    numeric = [gradient(held_in_place(W, loss_value), W, h=H) for W in model.trainable_weights]
    for g, n, W in zip(grads, numeric, model.trainable_weights, strict=True):
        assert g.shape == W.shape
        assert np.linalg.norm(g - n) / max(np.linalg.norm(g), np.linalg.norm(n)) < 1e-6
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


def test_softmax_cross_entropy_gradient_is_p_minus_y(rng):
    model = small_model(seed=2)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    X, Y = data(rng, m=8)
    _, grads = model.loss_and_gradients(X, Y)
    P = model.predict(X)
    hidden = np.tanh(X @ model.layers[0].params["W"].T + model.layers[0].params["b"])
    np.testing.assert_allclose(grads[3], (P - Y).sum(axis=0) / 8, rtol=1e-12, atol=1e-15)  # db of the last Dense
    np.testing.assert_allclose(grads[2], (P - Y).T @ hidden / 8, rtol=1e-12, atol=1e-15)  # dW = dZ^T A


# --- training semantics ---------------------------------------------------------------------


def test_one_epoch_is_minibatch_sgd_with_weighted_mean_loss(rng):
    X, Y = data(rng, m=7)
    model = small_model(seed=3)
    model.compile(optimizer=SGD(learning_rate=0.5), loss=MeanSquaredError(), metrics=["accuracy"])
    twin = small_model(seed=3)
    twin.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
    history = model.fit(X, Y, epochs=1, batch_size=3, shuffle=False, verbose=0)
    # replay by hand: batches of 3, 3 and 1 rows; each loss taken before that batch's update
    total, correct = 0.0, 0
    for lo in (0, 3, 6):
        Xb, Yb = X[lo : lo + 3], Y[lo : lo + 3]
        P = twin.predict(Xb)
        correct += int(np.sum(P.argmax(axis=1) == Yb.argmax(axis=1)))
        value, grads = twin.loss_and_gradients(Xb, Yb)
        assert value == pytest.approx(float(np.mean((P - Yb) ** 2)), rel=1e-13)
        total += value * len(Xb)
        twin.set_weights([W - 0.5 * g for W, g in zip(twin.get_weights(), grads, strict=True)])
    assert history.history["loss"][0] == pytest.approx(total / 7, rel=1e-13)
    assert history.history["accuracy"][0] == correct / 7
    for a, b in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_history_keys_lengths_and_printing(rng, capsys):
    X, Y = data(rng, m=20)
    model = small_model()
    model.compile(optimizer=Adam(0.01), loss=MeanSquaredError(), metrics=["accuracy"])
    history = model.fit(X, Y, epochs=4, batch_size=8, validation_split=0.25, seed=0)
    assert isinstance(history, History)
    assert model.history is history
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(v) == 4 for v in history.history.values())
    assert all(isinstance(x, float) for v in history.history.values() for x in v)
    assert history.epoch == [0, 1, 2, 3]
    assert history.params == {"epochs": 4, "steps": 2, "verbose": 1}
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    pattern = r"Epoch 3/4 - loss: \d\.\d{4} - accuracy: \d\.\d{4} - val_loss: \d\.\d{4} - val_accuracy: \d\.\d{4}"
    assert re.fullmatch(pattern, lines[2])
    assert lines[2].endswith(f"val_accuracy: {history.history['val_accuracy'][2]:.4f}")
    no_val = model.fit(X, Y, epochs=2, verbose=0)
    assert list(no_val.history) == ["loss", "accuracy"]
    assert capsys.readouterr().out == ""


def test_validation_split_holds_out_the_last_rows(rng):
    X, Y = data(rng, m=10)
    a, b = small_model(seed=4), small_model(seed=4)
    a.compile(optimizer=Adam(0.01), loss="mse", metrics=["accuracy"])
    b.compile(optimizer=Adam(0.01), loss="mse", metrics=["accuracy"])
    # Keras's rule: floor(10 * (1 - 0.33)) = 6 rows train, the last 4 validate
    ha = a.fit(X, Y, epochs=3, batch_size=4, validation_split=0.33, seed=7, verbose=0)
    hb = b.fit(X[:6], Y[:6], epochs=3, batch_size=4, seed=7, verbose=0)
    assert ha.history["loss"] == hb.history["loss"]
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    val_loss, val_acc = b.evaluate(X[6:], Y[6:], batch_size=4, verbose=0)
    assert ha.history["val_loss"][-1] == val_loss
    assert ha.history["val_accuracy"][-1] == val_acc


def test_validation_data_equals_the_matching_split(rng):
    X, Y = data(rng, m=10)
    a, b = small_model(seed=4), small_model(seed=4)
    a.compile(optimizer=Adam(0.01), loss="mse", metrics=["accuracy"])
    b.compile(optimizer=Adam(0.01), loss="mse", metrics=["accuracy"])
    ha = a.fit(X, Y, epochs=3, batch_size=4, validation_split=0.33, seed=7, verbose=0)
    hb = b.fit(X[:6], Y[:6], epochs=3, batch_size=4, validation_data=(X[6:], Y[6:]), seed=7, verbose=0)
    assert ha.history == hb.history
    snap = snapshot(b)
    bad = [
        ({"validation_split": 0.2, "validation_data": (X, Y)}, ValueError, "give validation_split or validation_data"),
        ({"validation_data": X}, TypeError, r"validation_data must be a pair \(X_val, Y_val\)"),
        ({"validation_data": (X[:, :3], Y)}, ValueError, "X_val has 3 features, but Dense is expecting 4"),
        ({"validation_data": (X, Y[:, :2])}, ValueError, "Y_val has 2 columns, but the model outputs 3"),
        ({"validation_data": (X, Y[:5])}, ValueError, "X_val and Y_val must have the same number of rows"),
    ]
    for kwargs, exc, pattern in bad:
        with pytest.raises(exc, match=pattern):
            b.fit(X, Y, verbose=0, **kwargs)
        assert_unchanged(b, snap)


def test_fit_options_are_keyword_only(rng):
    X, Y = data(rng)
    model = small_model()
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(TypeError):
        model.fit(X, Y, 2, 4)  # Keras's order would be batch_size, epochs: refuse rather than guess


def test_same_seed_gives_bit_identical_histories(rng):
    X, Y = data(rng, m=40)

    def run(model_seed, fit_seed):
        model = small_model(seed=model_seed)
        model.compile(optimizer=Adam(0.01), loss="mse", metrics=["accuracy"])
        history = model.fit(X, Y, epochs=5, batch_size=8, validation_split=0.2, seed=fit_seed, verbose=0)
        return history.history, model.get_weights()

    h1, w1 = run(0, 1)
    h2, w2 = run(0, 1)
    assert h1 == h2
    for a, b in zip(w1, w2, strict=True):
        np.testing.assert_array_equal(a, b)
    assert run(0, None)[0] == run(0, None)[0]  # the model's seed also drives the shuffling
    assert run(0, 2)[0] != h1  # another shuffling order
    assert run(5, 1)[0] != h1  # other initial weights


def test_seed_none_uses_fresh_entropy_not_the_global_rng(rng):
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (checking the global RNG is untouched)
    a, b = small_model(seed=None), small_model(seed=None)
    a.build()
    b.build()
    assert not np.array_equal(a.get_weights()[0], b.get_weights()[0])
    X, Y = data(rng)
    a.compile(optimizer="adam", loss="mse")
    a.fit(X, Y, epochs=2, verbose=0)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_two_fits_continue_like_one(rng):
    X, Y = data(rng, m=30)
    one, two = small_model(seed=6), small_model(seed=6)
    for model in (one, two):
        model.compile(optimizer=Adam(0.01), loss="mse", metrics=["accuracy"])
    h = one.fit(X, Y, epochs=6, batch_size=8, verbose=0)
    h1 = two.fit(X, Y, epochs=3, batch_size=8, verbose=0)
    h2 = two.fit(X, Y, epochs=3, batch_size=8, verbose=0)
    assert h.history["loss"] == h1.history["loss"] + h2.history["loss"]
    for a, b in zip(one.get_weights(), two.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_save_and_resume_weights_and_optimizer_state(rng):
    X, Y = data(rng, m=30)
    model = small_model(seed=8)
    model.compile(optimizer=Adam(0.01), loss="mse")
    model.fit(X, Y, epochs=2, batch_size=8, seed=0, verbose=0)
    weights, state = model.get_weights(), model.optimizer.get_state()
    continued = model.fit(X, Y, epochs=2, batch_size=8, seed=1, verbose=0)
    resumed = small_model(seed=99)
    resumed.compile(optimizer=Adam(0.01), loss="mse")
    resumed.set_weights(weights)
    resumed.optimizer.set_state(state)
    again = resumed.fit(X, Y, epochs=2, batch_size=8, seed=1, verbose=0)
    assert continued.history == again.history
    for a, b in zip(model.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_learns_a_learnable_data_set():
    X, y = blobs(n_per_class=60, num_classes=3, seed=0)
    Y = to_categorical(y, 3)
    model = Sequential([Dense(16), Activation("relu"), Dense(3), Activation("softmax")], seed=0)
    model.compile(optimizer=Adam(0.02), loss=CategoricalCrossentropy(), metrics=["accuracy"])
    history = model.fit(X, Y, epochs=30, batch_size=16, validation_split=0.2, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.9
    assert history.history["loss"][-1] < history.history["loss"][0] / 3


def test_float32_training_stays_float32(rng):
    X, Y = data(rng, m=20)
    X = X.astype(np.float32)
    model = small_model(seed=0)
    model.compile(optimizer=Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    assert all(w.dtype == np.float32 for w in model.trainable_weights)
    assert all(a.dtype == np.float32 for a in model.optimizer.get_state()["m"])
    assert model.predict(X).dtype == np.float32
    assert all(g.dtype == np.float32 for g in model.loss_and_gradients(X, Y)[1])
    assert model.predict(X.astype(np.float64)).dtype == np.float32  # cast to the model's dtype
    loss, acc = model.evaluate(X, Y, verbose=0)
    assert math.isfinite(loss)
    assert 0 <= acc <= 1


def test_replaced_weight_arrays_are_still_trained(rng):
    X, Y = data(rng)
    model = small_model(seed=0)
    model.compile(optimizer=SGD(0.1), loss="mse")
    model.build()
    model.layers[0].params["W"] = np.zeros((5, 4))
    model.fit(X, Y, epochs=1, verbose=0)
    W = model.layers[0].params["W"]
    assert np.any(W != 0)
    assert model.trainable_weights[0] is W


# --- evaluate, predict, weights --------------------------------------------------------------


def test_evaluate_and_predict(rng, capsys):
    X, Y = data(rng, m=50)
    model = small_model(seed=0)
    model.compile(optimizer="adam", loss="mse", metrics=["accuracy"])
    result = model.evaluate(X, Y, batch_size=1000)
    assert capsys.readouterr().out.startswith("loss: ")
    assert isinstance(result, list)
    loss, acc = result
    P = model.predict(X)
    assert loss == pytest.approx(float(np.mean((P - Y) ** 2)), rel=1e-12)
    assert acc == np.mean(P.argmax(axis=1) == Y.argmax(axis=1))
    assert model.evaluate(X, Y, batch_size=7, verbose=0)[0] == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(model.predict(X, batch_size=1), P, rtol=1e-12)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    model.compile(optimizer="adam", loss="mse")
    assert isinstance(model.evaluate(X, Y, verbose=0), float)


def test_accuracy_function():
    assert accuracy([[1, 0, 0], [0, 0, 1]], [[0.5, 0.2, 0.3], [0.5, 0.2, 0.3]]) == 0.5
    assert accuracy([[1], [0], [1]], [[0.7], [0.6], [0.4]]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="y_true must be one-hot"):
        accuracy([[0.5, 0.5]], [[0.5, 0.5]])


def test_get_and_set_weights(rng):
    model = small_model(seed=0)
    weights = model.get_weights()
    new = [rng.normal(size=w.shape) for w in weights]
    model.set_weights(new)
    new[0][0, 0] = 123.0  # set_weights copied
    assert model.get_weights()[0][0, 0] != 123.0
    with pytest.raises(ValueError, match=r"weights must hold 4 arrays, as from get_weights\(\); got 3"):
        model.set_weights(new[:3])
    with pytest.raises(ValueError, match=r"weights\[1\] must have shape \(5,\) \(dense/b\); got \(4,\)"):
        model.set_weights([new[0], np.zeros(4), new[2], new[3]])
    with pytest.raises(ValueError, match=r"weights\[0\] must hold only finite values"):
        model.set_weights([np.full((5, 4), np.nan), *new[1:]])


# --- errors and atomic failure ---------------------------------------------------------------


def test_fit_before_compile():
    with pytest.raises(RuntimeError, match=r"call compile\(optimizer, loss\) before fit\(\)"):
        small_model().fit(np.zeros((4, 4)), np.zeros((4, 3)))


def test_wrong_feature_count_message():
    model = Sequential([Dense(64, input_dim=20), Activation("relu"), Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match=r"^X has 19 features, but Dense is expecting 20 features as input\.$"):
        model.fit(np.zeros((5, 19)), np.zeros((5, 3)), verbose=0)
    with pytest.raises(ValueError, match=r"^X has 19 features, but Dense is expecting 20 features as input\.$"):
        model.predict(np.zeros((5, 19)))


def _bad_fit_calls(X, Y):
    Y_soft = np.full_like(Y, 1 / 3)
    X_nan = X.copy()
    X_nan[2, 1] = np.nan
    return [
        ((X_nan, Y), {}, ValueError, r"X must hold only finite values; got 1 NaN"),
        ((X[:, :3], Y), {}, ValueError, r"X has 3 features, but Dense is expecting 4 features"),
        ((X[0], Y), {}, ValueError, r"X must be a 2-D array of shape \(n_samples, n_features\)"),
        ((X, Y.argmax(axis=1)), {}, ValueError, r"Y must be a 2-D array .*to_categorical"),
        ((X, Y[:, :2]), {}, ValueError, r"Y has 2 columns, but the model outputs 3 values per sample"),
        ((X, Y[:-1]), {}, ValueError, r"X and Y must have the same number of rows; got 12 and 11"),
        ((X, Y_soft), {}, ValueError, r"Y must be one-hot for the 'accuracy' metric .*to_categorical"),
        ((X[:0], Y[:0]), {}, ValueError, r"X must hold at least one sample"),
        ((X, Y), {"validation_split": 1.0}, ValueError, r"validation_split must lie in \[0.0, 1.0\)"),
        ((X, Y), {"validation_split": -0.1}, ValueError, r"validation_split must lie in \[0.0, 1.0\)"),
        ((X[:1], Y[:1]), {"validation_split": 0.5}, ValueError, r"leaves no training samples"),
        ((X, Y), {"epochs": 0}, ValueError, r"epochs must be an integer >= 1; got 0"),
        ((X, Y), {"epochs": 2.0}, TypeError, r"epochs must be an integer >= 1; got float"),
        ((X, Y), {"batch_size": 0}, ValueError, r"batch_size must be an integer >= 1"),
        ((X, Y), {"verbose": 3}, ValueError, r"verbose must be 0, 1 or 2"),
        ((X, Y), {"shuffle": "yes"}, TypeError, r"shuffle must be True or False"),
        ((X, Y), {"seed": -1}, ValueError, r"seed must be an integer >= 0"),
    ]


def test_bad_fit_arguments_raise_and_change_nothing(rng):
    X, Y = data(rng)
    model = small_model(seed=0)
    model.compile(optimizer=Adam(0.01), loss=MeanSquaredError(), metrics=["accuracy"])
    model.fit(X, Y, epochs=1, verbose=0)
    history = model.history
    snap = snapshot(model)
    for args, kwargs, exc, pattern in _bad_fit_calls(X, Y):
        with pytest.raises(exc, match=pattern):
            model.fit(*args, **{"verbose": 0, **kwargs})
        assert_unchanged(model, snap)
        assert model.history is history


def test_cross_entropy_wants_distributions(rng):
    X, _ = data(rng)
    model = small_model()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"Y must be one-hot \(or each row a probability distribution\)"):
        model.fit(X, np.ones((12, 3)), verbose=0)
    assert not model.built  # checked before building


def test_divergence_stops_with_epoch_and_step_and_restores(rng):
    X = 10 * rng.normal(size=(64, 3))
    Y = rng.normal(size=(64, 1))
    model = Sequential([Dense(4, input_dim=3), Dense(1)], seed=0)
    optimizer = SGD(learning_rate=1e-3, momentum=0.5)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(X, Y, epochs=1, verbose=0)  # a sane step first, so the optimizer holds a velocity
    assert optimizer.iterations == 2
    snap = snapshot(model)
    optimizer.learning_rate = 0.5  # far beyond 2 / (largest curvature): gradient descent diverges
    pattern = r"the loss became (inf|nan) at epoch \d+/500, step [12]/2; fit stopped and restored the weights"
    with pytest.raises(FloatingPointError, match=pattern):
        model.fit(X, Y, epochs=500, verbose=0)
    assert_unchanged(model, snap)
    assert optimizer.iterations == 2


def test_divergence_in_float32_also_restores(rng):
    X = (10 * rng.normal(size=(64, 3))).astype(np.float32)
    Y = rng.normal(size=(64, 1)).astype(np.float32)
    model = Sequential([Dense(4), Dense(1)], seed=0)
    model.compile(optimizer=SGD(learning_rate=0.5), loss="mse")
    model.build(3, np.float32)
    before = model.get_weights()
    with pytest.raises(FloatingPointError, match=r"at epoch \d+/500, step [12]/2"):
        model.fit(X, Y, epochs=500, verbose=0)
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


class _Interrupting(MeanSquaredError):
    """A loss that raises on its fifth batch, as a keyboard interrupt or a bug would."""

    def __init__(self) -> None:
        self.calls = 0

    def value_and_grad_unchecked(self, Y, P):
        self.calls += 1
        if self.calls == 5:
            raise KeyboardInterrupt
        return super().value_and_grad_unchecked(Y, P)


def test_interrupted_fit_restores(rng):
    X, Y = data(rng, m=40)
    model = small_model(seed=0)
    model.compile(optimizer=Adam(0.01), loss=MeanSquaredError())
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    snap = snapshot(model)
    model.compile(optimizer=model.optimizer, loss=_Interrupting())
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, epochs=3, batch_size=8, verbose=0)
    assert_unchanged(model, snap)


def test_optimizer_shared_between_models_is_refused(rng):
    X, Y = data(rng)
    opt = Adam()
    a = small_model()
    a.compile(optimizer=opt, loss="mse")
    a.fit(X, Y, verbose=0)
    b = Sequential([Dense(2, input_dim=4), Dense(3)])
    b.compile(optimizer=opt, loss="mse")
    with pytest.raises(ValueError, match="Use a new optimizer for another model"):
        b.fit(X, Y, verbose=0)


def test_compile_errors():
    model = small_model()
    with pytest.raises(ValueError, match="compile needs a loss"):
        model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"unknown metric 'mae'; supported metrics: 'accuracy'"):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    with pytest.raises(TypeError, match=r"metrics must be a list such as \['accuracy'\]"):
        model.compile(optimizer="adam", loss="mse", metrics="accuracy")
    with pytest.raises(ValueError, match=r"optimizer must be one of .*; got 'lbfgs'"):
        model.compile(optimizer="lbfgs", loss="mse")
    with pytest.raises(ValueError, match=r"loss must be one of .*; got 'hinge'"):
        model.compile(optimizer="adam", loss="hinge")
    with pytest.raises(RuntimeError, match=r"before evaluate\(\)"):
        model.evaluate(np.zeros((2, 4)), np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match=r"before loss_and_gradients\(\)"):
        model.loss_and_gradients(np.zeros((2, 4)), np.zeros((2, 3)))


def test_build_errors():
    with pytest.raises(ValueError, match="the model has no layers"):
        Sequential().build(3)
    with pytest.raises(ValueError, match="the input width is unknown"):
        Sequential([Dense(2)]).build()
    model = small_model()
    model.build()
    with pytest.raises(ValueError, match="already built for 4 input features"):
        model.build(5)
