"""K-FAC: the Kronecker factorization exact for one sample, the damped solve against dense matrices, the optimizer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlmath.calculus import jacobian
from mlmath.data import random_classification, spirals, to_categorical
from mlmath.kfac import KFAC, kfac_factors, kronecker_solve
from mlmath.layers import Activation, Dense
from mlmath.linalg import unvec, vec
from mlmath.losses import BinaryCrossentropy, CategoricalCrossentropy, MeanSquaredError
from mlmath.models import Sequential
from mlmath.optim import Adam
from mlmath.second_order import fit

SEED = 3


def network(loss: object, final: str = "softmax", seed: int = 0, dtype: type = np.float64) -> Sequential:
    """4 - 5 (tanh) - 3 (final) : two Dense layers."""
    model = Sequential([Dense(5, input_dim=4), Activation("tanh"), Dense(3), Activation(final)], seed=seed)
    model.compile(optimizer="sgd", loss=loss)
    model.build(4, dtype=dtype)
    return model


def dense_layers(model: Sequential) -> list[Dense]:
    return [layer for layer in model.layers if isinstance(layer, Dense)]


def layer_gradient(layer: Dense) -> np.ndarray:
    """[dW | db] of shape (n_out, n_in + 1), from the layer's grads after a backward pass."""
    return np.hstack([layer.grads["W"], layer.grads["b"][:, None]])


CASES = {
    "softmax + cross-entropy": (CategoricalCrossentropy(), "softmax"),
    "softmax + mse (the article's)": (MeanSquaredError(), "softmax"),
    "linear + mse": (MeanSquaredError(), "linear"),
    "logits + cross-entropy": (CategoricalCrossentropy(from_logits=True), "linear"),
}


# ---------------------------------------------------------------------------------------------
# for one sample the Kronecker factorization is exact
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_one_sample_empirical_fisher_block_is_a_kronecker_product(rng, case):
    """One sample: its gradient's outer product vec(grad) vec(grad)^T equals A ⊗ G, for every Dense layer."""
    loss, final = CASES[case]
    model = network(loss, final)
    x = rng.standard_normal((1, 4))
    y = to_categorical([1], 3) if isinstance(loss, CategoricalCrossentropy) else rng.standard_normal((1, 3))
    factors = kfac_factors(model, x, y, fisher="empirical")
    model.loss_and_gradients(x, y)
    for layer, f in zip(dense_layers(model), factors, strict=True):
        g = vec(layer_gradient(layer))
        np.testing.assert_allclose(np.kron(f.A, f.G), np.outer(g, g), rtol=1e-10, atol=1e-14)
        assert f.layer == layer.name


def output_and_hessian_factor(model: Sequential, loss: object, x: np.ndarray):
    """The point where the loss's Hessian is known (logits for cross-entropy, the output for MSE), and the Hessian."""
    out = x
    layers = model.layers
    fused = isinstance(loss, CategoricalCrossentropy) and not loss.from_logits
    for layer in layers[: len(layers) - 1] if fused else layers:
        out = layer.forward(out)
    n = out.shape[1]
    if isinstance(loss, MeanSquaredError):
        return layers[:-1] if fused else layers, 2.0 / n * np.eye(n)
    z = out[0]
    s = np.exp(z - z.max())
    s /= s.sum()
    return layers[:-1] if fused else layers, np.diag(s) - np.outer(s, s)


@pytest.mark.parametrize("case", CASES)
def test_one_sample_true_fisher_block_is_a_kronecker_product(rng, case):
    """One sample: A ⊗ G (G in expectation over the model's targets) equals J^T H J, J by central differences."""
    loss, final = CASES[case]
    model = network(loss, final)
    x = rng.standard_normal((1, 4))
    y = to_categorical([0], 3) if isinstance(loss, CategoricalCrossentropy) else np.zeros((1, 3))
    factors = kfac_factors(model, x, y, fisher="expected")
    for layer, f in zip(dense_layers(model), factors, strict=True):
        W, b = layer.params["W"], layer.params["b"]
        shape = (W.shape[0], W.shape[1] + 1)

        def output(theta: np.ndarray, W=W, b=b, shape=shape) -> np.ndarray:
            saved = W.copy(), b.copy()
            Wb = unvec(theta, shape)
            W[...], b[...] = Wb[:, :-1], Wb[:, -1]
            try:
                head, _ = output_and_hessian_factor(model, loss, x)
                out = x
                for lay in head:
                    out = lay.forward(out)
                return out[0]
            finally:
                W[...], b[...] = saved

        theta = vec(np.hstack([W, b[:, None]]))
        J = jacobian(output, theta)
        _, H = output_and_hessian_factor(model, loss, x)
        np.testing.assert_allclose(np.kron(f.A, f.G), J.T @ H @ J, rtol=1e-6, atol=1e-9)


def test_expected_and_sampled_G_against_the_enumerated_targets(rng):
    """One sample, targets enumerated: G = sum_c s_c g_c g_c^T (g_c from the data-target pass with y = e_c);
    the sampled G over many copies of the sample lies within 4 standard errors of it."""
    model = network(CategoricalCrossentropy())
    x = rng.standard_normal((1, 4))
    s = model.predict(x)[0]
    per_target = [kfac_factors(model, x, to_categorical([c], 3), fisher="empirical") for c in range(3)]
    expected = kfac_factors(model, x, to_categorical([0], 3), fisher="expected")
    n = 20000
    sampled = kfac_factors(model, np.repeat(x, n, axis=0), np.repeat(to_categorical([0], 3), n, axis=0), seed=0)
    for k, (e, smp) in enumerate(zip(expected, sampled, strict=True)):
        outcomes = np.stack([per_target[c][k].G for c in range(3)])  # g_c g_c^T
        mean = np.tensordot(s, outcomes, axes=1)
        np.testing.assert_allclose(e.G, mean, rtol=1e-10, atol=1e-15)
        std = np.sqrt(np.maximum(np.tensordot(s, outcomes**2, axes=1) - mean**2, 0))
        assert np.all(np.abs(smp.G - mean) <= 4 * std / np.sqrt(n) + 1e-12)
        np.testing.assert_allclose(smp.A, e.A, rtol=1e-12)


def test_factors_on_a_batch_are_means_over_rows(rng):
    """A = (1/m) [X 1]^T [X 1] for the first layer; the empirical G = (1/m) sum_i g_i g_i^T."""
    model = network(MeanSquaredError(), "linear")
    X, Y = rng.standard_normal((7, 4)), rng.standard_normal((7, 3))
    first = kfac_factors(model, X, Y, fisher="empirical")[0]
    Xbar = np.hstack([X, np.ones((7, 1))])
    np.testing.assert_allclose(first.A, Xbar.T @ Xbar / 7, rtol=1e-12)
    # per-sample gradients of the first layer, one model call per row (the test's independent route)
    rows = []
    for i in range(7):
        model.loss_and_gradients(X[i : i + 1], Y[i : i + 1])
        rows.append(model.layers[0].grads["b"].copy())  # db = g_i for one sample
    G = sum(np.outer(g, g) for g in rows) / 7
    np.testing.assert_allclose(first.G, G, rtol=1e-10)


def test_factors_keep_float32(rng):
    model = network(CategoricalCrossentropy(), dtype=np.float32)
    X = rng.standard_normal((6, 4)).astype(np.float32)
    Y = to_categorical(rng.integers(0, 3, 6), 3)
    for fisher in ("sampled", "expected", "empirical"):
        for f in kfac_factors(model, X, Y, fisher=fisher):
            assert f.A.dtype == np.float32
            assert f.G.dtype == np.float32


# ---------------------------------------------------------------------------------------------
# the damped Kronecker solve
# ---------------------------------------------------------------------------------------------


def random_psd(rng, n, rank=None):
    M = rng.standard_normal((n, rank or n))
    return M @ M.T / (rank or n)


@pytest.mark.parametrize(("p", "q"), [(4, 3), (6, 1), (3, 5)])
@pytest.mark.parametrize("damping", [0.0, 1e-3, 0.5])
def test_exact_damping_equals_the_dense_solve(rng, p, q, damping):
    A, G, V = random_psd(rng, p) + 0.1 * np.eye(p), random_psd(rng, q) + 0.1 * np.eye(q), rng.standard_normal((q, p))
    dense = np.linalg.solve(np.kron(A, G) + damping * np.eye(p * q), vec(V))
    U = kronecker_solve(A, G, V, damping)
    np.testing.assert_allclose(vec(U), dense, rtol=1e-9)
    if damping == 0:  # (A ⊗ G)^{-1} vec(V) = vec(G^{-1} V A^{-1})
        np.testing.assert_allclose(U, np.linalg.solve(G, V) @ np.linalg.inv(A), rtol=1e-9)


@pytest.mark.parametrize("damping", [1e-3, 0.5])
def test_factored_damping_equals_the_dense_solve_with_shifted_factors(rng, damping):
    p, q = 5, 3
    A, G, V = random_psd(rng, p, rank=2), random_psd(rng, q), rng.standard_normal((q, p))  # A singular
    pi = math.sqrt((np.trace(A) / p) / (np.trace(G) / q))
    shifted = np.kron(A + pi * math.sqrt(damping) * np.eye(p), G + math.sqrt(damping) / pi * np.eye(q))
    U = kronecker_solve(A, G, V, damping, damping_form="factored")
    np.testing.assert_allclose(vec(U), np.linalg.solve(shifted, vec(V)), rtol=1e-9)


def test_singular_block_without_damping_is_refused(rng):
    A = random_psd(rng, 4, rank=2)
    with pytest.raises(ValueError, match="give damping > 0"):
        kronecker_solve(A, np.eye(2), np.ones((2, 4)))


def test_non_symmetric_or_indefinite_factors_are_refused():
    with pytest.raises(ValueError, match="A must be symmetric"):
        kronecker_solve(np.array([[1.0, 2.0], [0.0, 1.0]]), np.eye(1), np.ones((1, 2)))
    with pytest.raises(ValueError, match="G must be positive semi-definite"):
        kronecker_solve(np.eye(2), np.diag([1.0, -1.0]), np.ones((2, 2)))


# ---------------------------------------------------------------------------------------------
# the optimizer
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["exact", "factored"])
@pytest.mark.parametrize("fisher", ["expected", "empirical"])
def test_first_step_is_minus_eta_times_the_dense_preconditioned_gradient(rng, form, fisher):
    model = network(CategoricalCrossentropy())
    X, Y = rng.standard_normal((8, 4)), to_categorical(rng.integers(0, 3, 8), 3)
    lr, lam = 0.05, 1e-2
    factors = kfac_factors(model, X, Y, fisher=fisher)
    _, grads = model.loss_and_gradients(X, Y)
    before = model.get_weights()
    expected = []
    for k, f in enumerate(factors):
        V = np.hstack([grads[2 * k], grads[2 * k + 1][:, None]])
        p, q = f.A.shape[0], f.G.shape[0]
        if form == "exact":
            block = np.kron(f.A, f.G) + lam * np.eye(p * q)
        else:
            pi = math.sqrt((np.trace(f.A) / p) / (np.trace(f.G) / q))
            block = np.kron(f.A + pi * math.sqrt(lam) * np.eye(p), f.G + math.sqrt(lam) / pi * np.eye(q))
        U = unvec(np.linalg.solve(block, vec(V)), V.shape)
        expected += [before[2 * k] - lr * U[:, :-1], before[2 * k + 1] - lr * U[:, -1]]
    opt = KFAC(learning_rate=lr, damping=lam, fisher=fisher, damping_form=form, kl_clip=None)
    loss_before = model.evaluate(X, Y, verbose=0)
    assert opt.step(model, X, Y) == pytest.approx(loss_before, rel=1e-12)
    for w, e in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(w, e, rtol=1e-9, atol=1e-12)


def test_kl_clip_bounds_the_step(rng):
    """With kl_clip, eta^2 sum <V, U> of the step taken is at most kappa (and equal when it clips)."""
    model = network(CategoricalCrossentropy())
    X, Y = rng.standard_normal((8, 4)), to_categorical(rng.integers(0, 3, 8), 3)
    before = model.get_flat_weights()
    unclipped = network(CategoricalCrossentropy())
    KFAC(learning_rate=1.0, fisher="expected", kl_clip=None).step(unclipped, X, Y)
    full = unclipped.get_flat_weights() - before  # -U
    _, grads = model.loss_and_gradients(X, Y)
    inner = -float(np.concatenate([g.ravel() for g in grads]) @ full)  # sum <V, U>
    kappa = 0.01 * inner
    KFAC(learning_rate=1.0, fisher="expected", kl_clip=kappa).step(model, X, Y)
    np.testing.assert_allclose(model.get_flat_weights() - before, math.sqrt(kappa / inner) * full, rtol=1e-10)


def test_running_averages_and_inverse_refresh(rng):
    """beta_t = min(decay, 1 - 1/t): the first steps average the batches' factors; eigen every T steps."""
    model = network(MeanSquaredError(), "linear")
    batches = [(rng.standard_normal((5, 4)), rng.standard_normal((5, 3))) for _ in range(3)]
    opt = KFAC(learning_rate=1e-3, decay=0.9, inverse_update_freq=2, fisher="empirical", damping_form="exact")
    seen = []
    for k, (X, Y) in enumerate(batches):
        seen.append(kfac_factors(model, X, Y, fisher="empirical"))
        opt.step(model, X, Y)
        if k == 0:
            first_eigen = [v.copy() for v in opt.A_eigenvalues]
    # beta = 0, 1/2, 2/3: the mean of the three batches' factors (decay = 0.9 is not reached yet)
    np.testing.assert_allclose(opt.A[0], sum(f[0].A for f in seen) / 3, rtol=1e-12)
    np.testing.assert_allclose(opt.G[1], sum(f[1].G for f in seen) / 3, rtol=1e-12)
    # refreshed on steps 1 and 3: now the eigenvalues of the average after step 3, not those of step 1
    np.testing.assert_allclose(opt.A_eigenvalues[0], np.linalg.eigvalsh(opt.A[0]), atol=1e-12)
    assert not np.allclose(opt.A_eigenvalues[0], first_eigen[0])


def spirals_losses(optimizer: object, epochs: int) -> float:
    X, y = spirals(n_per_class=100, seed=0)
    model = Sequential(
        [Dense(32, input_dim=2), Activation("tanh"), Dense(32), Activation("tanh"), Dense(3), Activation("softmax")],
        seed=0,
    )
    model.compile(optimizer=Adam(0.01) if optimizer == "adam" else "sgd", loss="categorical_crossentropy")
    if optimizer == "adam":
        return model.fit(X, to_categorical(y, 3), epochs=epochs, batch_size=32, verbose=0, seed=0).history["loss"]
    return fit(model, X, to_categorical(y, 3), optimizer, epochs=epochs, batch_size=32, verbose=0, seed=0).history[
        "loss"
    ]


def test_kfac_trains_the_spirals_faster_per_step_than_adam():
    """Same network, data, batches (seed 0) and number of steps: K-FAC's loss ends well below Adam's."""
    adam = spirals_losses("adam", 6)
    kfac = spirals_losses(KFAC(seed=0), 6)
    assert kfac[-1] < 0.5 * adam[-1], (kfac, adam)


def test_kfac_runs_the_articles_network_in_float32():
    X, Y = random_classification(num_samples=256, num_features=20, num_classes=3, seed=0)
    model = Sequential(
        [Dense(64, input_dim=20), Activation("relu"), Dense(64), Activation("relu"), Dense(3), Activation("softmax")],
        seed=0,
    )
    model.compile(optimizer="adam", loss="mse")
    model.build(20, dtype=np.float32)
    opt = KFAC(momentum=0.5, seed=0)
    history = fit(model, X.astype(np.float32), Y.astype(np.float32), opt, epochs=4, verbose=0, seed=0)
    assert all(w.dtype == np.float32 for w in model.trainable_weights)
    assert all(a.dtype == np.float32 for a in opt.A + opt.G + opt.velocity)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_same_seed_same_run_and_a_restored_state_resumes_exactly(rng):
    X, Y = rng.standard_normal((20, 4)), to_categorical(rng.integers(0, 3, 20), 3)
    runs = []
    for _ in range(2):
        model = network(CategoricalCrossentropy())
        fit(model, X, Y, KFAC(seed=7, momentum=0.5, inverse_update_freq=2), epochs=4, batch_size=20, verbose=0)
        runs.append(model.get_flat_weights())
    np.testing.assert_array_equal(runs[0], runs[1])
    model = network(CategoricalCrossentropy())
    first = KFAC(seed=7, momentum=0.5, inverse_update_freq=2)
    fit(model, X, Y, first, epochs=2, batch_size=20, verbose=0)
    second = KFAC(seed=7, momentum=0.5, inverse_update_freq=2)
    second.set_state(first.get_state())
    fit(model, X, Y, second, epochs=2, batch_size=20, verbose=0)
    np.testing.assert_array_equal(model.get_flat_weights(), runs[0])


class Sabotaged(KFAC):
    def __init__(self, at: int, form: str = "exact") -> None:
        super().__init__(momentum=0.9, inverse_update_freq=3, damping_form=form, seed=0)
        self.at, self.calls = at, 0

    def step_unchecked(self, model, X, Y):
        self.calls += 1
        value = super().step_unchecked(model, X, Y)
        if self.calls == self.at:
            model.layers[0].params["W"][0, 0] = np.nan
        return value


@pytest.mark.parametrize("form", ["exact", "factored"])
def test_failed_fit_restores_weights_state_and_history(rng, form):
    model = network(CategoricalCrossentropy())
    X, Y = rng.standard_normal((40, 4)), to_categorical(rng.integers(0, 3, 40), 3)
    opt = Sabotaged(10**9, form)
    fit(model, X, Y, opt, epochs=1, batch_size=10, verbose=0, seed=0)
    before_w, before_state, before_history = model.get_weights(), opt.get_state(), model.history
    opt.calls, opt.at = 0, 6
    with pytest.raises(FloatingPointError, match="epoch 2/3"):
        fit(model, X, Y, opt, epochs=3, batch_size=10, verbose=0, seed=0)
    for w, b in zip(model.get_weights(), before_w, strict=True):
        np.testing.assert_array_equal(w, b)
    after = opt.get_state()
    assert after["t"] == before_state["t"] == 4
    for key in KFAC.state_names:
        if before_state[key] is None:  # the inverses of the factored form, or the velocity without momentum
            assert after[key] is None
            continue
        for a, b in zip(after[key], before_state[key], strict=True):
            np.testing.assert_array_equal(a, b)
    assert model.history is before_history


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: network(BinaryCrossentropy(), "sigmoid"), "predictive distribution"),
        (lambda: network(CategoricalCrossentropy(), "tanh"), "needs a final Activation"),
    ],
)
def test_models_kfac_cannot_handle_are_refused_before_anything_changes(rng, make, match):
    model = make()
    X, Y = rng.standard_normal((4, 4)), to_categorical([0, 1, 2, 0], 3)
    before = model.get_flat_weights()
    with pytest.raises(TypeError, match=match):
        fit(model, X, Y, KFAC(), verbose=0)
    with pytest.raises(TypeError, match=match):
        kfac_factors(model, X, Y)
    np.testing.assert_array_equal(model.get_flat_weights(), before)


def test_a_softmax_inside_the_stack_is_refused():
    model = Sequential([Dense(3, input_dim=2), Activation("softmax"), Dense(2), Activation("softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.build(2)
    with pytest.raises(TypeError, match="a softmax only as the last layer"):
        KFAC().check_compatible(model)


def test_a_dense_layer_without_bias_has_no_appended_one(rng):
    model = Sequential([Dense(5, input_dim=4, use_bias=False), Activation("relu"), Dense(3)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    x, y = rng.standard_normal((1, 4)), rng.standard_normal((1, 3))
    first, second = kfac_factors(model, x, y, fisher="empirical")
    assert first.A.shape == (4, 4)
    assert second.A.shape == (6, 6)
    model.loss_and_gradients(x, y)
    g = vec(model.layers[0].grads["W"])
    np.testing.assert_allclose(np.kron(first.A, first.G), np.outer(g, g), rtol=1e-10, atol=1e-14)
    before = model.layers[0].params["W"].copy()
    U = kronecker_solve(first.A, first.G, model.layers[0].grads["W"], 1e-2)
    KFAC(learning_rate=0.1, damping=1e-2, fisher="empirical", damping_form="exact", kl_clip=None).step(model, x, y)
    np.testing.assert_allclose(model.layers[0].params["W"], before - 0.1 * U, rtol=1e-10)


def test_set_state_refuses_factors_that_do_not_fit_together(rng):
    model = network(CategoricalCrossentropy())
    opt = KFAC(momentum=0.5, seed=0)
    opt.step(model, rng.standard_normal((6, 4)), to_categorical([0, 1, 2, 0, 1, 2], 3))
    state = opt.get_state()
    fresh = KFAC(momentum=0.5, seed=0)
    bad = {**state, "velocity": [v.T.copy() for v in state["velocity"]]}
    with pytest.raises(ValueError, match=r"state\['velocity'\] must hold arrays of shapes"):
        fresh.set_state(bad)
    with pytest.raises(ValueError, match="one matrix per Dense layer"):
        fresh.set_state({**state, "G": state["G"][:1]})
    assert fresh.A is None
    assert fresh.iterations == 0
    fresh.set_state(state)
    np.testing.assert_array_equal(fresh.A_inverse[0], opt.A_inverse[0])
