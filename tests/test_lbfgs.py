"""L-BFGS: the two-loop recursion against the dense BFGS update, the Wolfe conditions, convergence, the optimizer."""

from __future__ import annotations

import numpy as np
import pytest

from mlmath.data import to_categorical
from mlmath.layers import Activation, Dense
from mlmath.lbfgs import LBFGS, minimize_lbfgs, two_loop_direction, wolfe_line_search
from mlmath.models import Sequential
from mlmath.second_order import fit

SEED = 5


def random_spd(rng: np.random.Generator, n: int, cond: float = 10.0) -> np.ndarray:
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * np.geomspace(1.0, cond, n)) @ Q.T


def rosenbrock(x: np.ndarray) -> tuple[float, np.ndarray]:
    f = 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2
    g = np.array([-400.0 * x[0] * (x[1] - x[0] ** 2) - 2.0 * (1.0 - x[0]), 200.0 * (x[1] - x[0] ** 2)], dtype=x.dtype)
    return float(f), g


def quadratic(A: np.ndarray, b: np.ndarray):
    return lambda x: (float(0.5 * x @ A @ x - b @ x), A @ x - b)


# ---------------------------------------------------------------------------------------------
# the two-loop recursion is the BFGS update applied m times to gamma I
# ---------------------------------------------------------------------------------------------


def dense_bfgs_inverse(s_list: list[np.ndarray], y_list: list[np.ndarray], n: int) -> np.ndarray:
    """H_k from H^0 = gamma I (gamma from the newest pair) by the BFGS inverse update, oldest pair first."""
    s, y = s_list[-1], y_list[-1]
    H = (s @ y) / (y @ y) * np.eye(n)
    eye = np.eye(n)
    for s, y in zip(s_list, y_list, strict=True):
        rho = 1.0 / (y @ s)
        H = (eye - rho * np.outer(s, y)) @ H @ (eye - rho * np.outer(y, s)) + rho * np.outer(s, s)
    return H


@pytest.mark.parametrize(("n", "m"), [(5, 1), (5, 3), (12, 7), (4, 6)])
def test_two_loop_equals_the_dense_bfgs_update(rng, n, m):
    B = random_spd(rng, n)  # pairs with positive curvature: y = B s, plus a nonlinear wobble
    s_list = [rng.standard_normal(n) for _ in range(m)]
    y_list = [B @ s + 0.1 * rng.standard_normal(n) * np.linalg.norm(s) / np.sqrt(n) for s in s_list]
    assert all(s @ y > 0 for s, y in zip(s_list, y_list, strict=True))
    g = rng.standard_normal(n)
    H = dense_bfgs_inverse(s_list, y_list, n)
    np.testing.assert_allclose(two_loop_direction(g, s_list, y_list), -H @ g, rtol=1e-10, atol=1e-12)
    # the secant equation H_k y_{k-1} = s_{k-1}: the newest pair is reproduced exactly
    np.testing.assert_allclose(-two_loop_direction(y_list[-1], s_list, y_list), s_list[-1], rtol=1e-10)


def test_two_loop_without_pairs_is_steepest_descent():
    g = np.array([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(two_loop_direction(g, [], []), -g)


def test_two_loop_refuses_a_pair_without_positive_curvature():
    with pytest.raises(ValueError, match=r"s_list\[0\] and y_list\[0\] must have s\^T y > 0"):
        two_loop_direction(np.ones(2), [np.array([1.0, 0.0])], [np.array([-1.0, 0.0])])


def test_two_loop_keeps_float32():
    g = np.ones(3, np.float32)
    d = two_loop_direction(g, [np.array([1.0, 0.0, 0.0], np.float32)], [np.array([2.0, 0.0, 0.0], np.float32)])
    assert d.dtype == np.float32


# ---------------------------------------------------------------------------------------------
# the line search satisfies the strong Wolfe conditions
# ---------------------------------------------------------------------------------------------


def assert_strong_wolfe(fg, x, d, c1, c2, res):
    f0, g0 = fg(x)
    slope0 = g0 @ d
    f_new, g_new = fg(x + res.alpha * d)
    assert res.success
    assert res.alpha > 0
    assert f_new <= f0 + c1 * res.alpha * slope0, "sufficient decrease"
    assert abs(g_new @ d) <= c2 * abs(slope0), "curvature"
    np.testing.assert_allclose(res.x, x + res.alpha * d)
    assert res.f == pytest.approx(f_new)


@pytest.mark.parametrize("start", [(-1.2, 1.0), (0.0, 0.0), (2.0, 2.0), (-0.5, 1.5)])
@pytest.mark.parametrize(("c1", "c2"), [(1e-4, 0.9), (1e-4, 0.1), (0.3, 0.5)])
def test_rosenbrock_step_satisfies_both_wolfe_conditions(start, c1, c2):
    x = np.array(start)
    f0, g0 = rosenbrock(x)
    d = -g0
    res = wolfe_line_search(rosenbrock, x, d, f0, g0, c1, c2, alpha0=1.0)  # alpha = 1 is far too long here
    assert_strong_wolfe(rosenbrock, x, d, c1, c2, res)


def test_line_search_extrapolates_when_the_first_step_is_short():
    fg = quadratic(np.diag([1.0, 1.0]), np.array([100.0, 0.0]))  # minimum at (100, 0) along d = e1
    x, d = np.zeros(2), np.array([1.0, 0.0])
    f0, g0 = fg(x)
    res = wolfe_line_search(fg, x, d, f0, g0, 1e-4, 0.1, alpha0=1.0)
    assert_strong_wolfe(fg, x, d, 1e-4, 0.1, res)
    assert res.alpha > 16  # doubled several times


def test_line_search_treats_non_finite_values_as_too_far():
    def fg(x):  # f = -log(1 - x) - 2x, infinite for x >= 1, minimum at x = 1/2
        if x[0] >= 1:
            return np.inf, np.full(1, np.nan)
        return float(-np.log(1 - x[0]) - 2 * x[0]), np.array([1 / (1 - x[0]) - 2])

    x, d = np.array([0.0]), np.array([1.0])
    res = wolfe_line_search(fg, x, d, *fg(x), alpha0=10.0)  # the first trials land where f is infinite
    assert_strong_wolfe(fg, x, d, 1e-4, 0.9, res)
    assert res.n_evals > 1


def test_line_search_refuses_an_ascent_direction():
    with pytest.raises(ValueError, match="d must be a descent direction"):
        wolfe_line_search(rosenbrock, np.zeros(2), np.array([1.0, 0.0]), 1.0, np.array([2.0, 0.0]))


# ---------------------------------------------------------------------------------------------
# the minimizer
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 8])
def test_quadratic_with_exact_line_search_converges_in_n_iterations(rng, n):
    """With exact line searches L-BFGS (memory >= n) makes the conjugate-gradient iterates: n steps at most."""
    A, b = random_spd(rng, n, cond=50.0), rng.standard_normal(n)
    x_star = np.linalg.solve(A, b)
    # the two-loop direction with the exact step along it, alpha = -g^T d / d^T A d
    x, S, Y = np.zeros(n), [], []
    g = A @ x - b
    for _ in range(n):
        d = two_loop_direction(g, S, Y)
        alpha = -(g @ d) / (d @ A @ d)
        x_new = x + alpha * d
        g_new = A @ x_new - b
        S.append(x_new - x)
        Y.append(g_new - g)
        x, g = x_new, g_new
    np.testing.assert_allclose(x, x_star, rtol=1e-8, atol=1e-10)
    # minimize_lbfgs with a nearly exact line search (c2 small; the cubic fits a quadratic exactly)
    res = minimize_lbfgs(quadratic(A, b), np.zeros(n), memory=n, c2=1e-3, gtol=1e-9)
    assert res.converged
    assert res.n_iter <= n
    np.testing.assert_allclose(res.x, x_star, rtol=1e-7, atol=1e-9)


def test_rosenbrock_reaches_the_minimum():
    res = minimize_lbfgs(rosenbrock, np.array([-1.2, 1.0]), gtol=1e-9)
    assert res.converged, res.message
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-6)
    assert res.x_path.shape == (res.n_iter + 1, 2)
    assert res.f_path.shape == (res.n_iter + 1,)
    np.testing.assert_array_equal(res.x_path[0], [-1.2, 1.0])
    assert np.all(np.diff(res.f_path) <= 0), "each Wolfe step decreases f"
    assert res.n_evals >= res.n_iter + 1


def test_minimizer_keeps_float32():
    res = minimize_lbfgs(rosenbrock, np.array([-1.2, 1.0], np.float32), gtol=1e-3)
    assert res.x.dtype == np.float32
    assert res.g.dtype == np.float32
    assert res.x_path.dtype == np.float32
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-2)


def test_minimizer_stops_at_max_iter_and_says_so():
    res = minimize_lbfgs(rosenbrock, np.array([-1.2, 1.0]), max_iter=3)
    assert not res.converged
    assert res.n_iter == 3
    assert "max_iter" in res.message


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_as_fast_as_pytorch_lbfgs_on_a_quadratic(seed):
    """The same method (two-loop, strong Wolfe, c1 = 1e-4, c2 = 0.9): both reach A^{-1} b, at a similar count."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    n = 6
    A, b = random_spd(rng, n, cond=20.0), rng.standard_normal(n)
    x_star = np.linalg.solve(A, b)
    ours = minimize_lbfgs(quadratic(A, b), np.zeros(n), memory=n, gtol=1e-7, max_iter=100)
    At, bt = torch.tensor(A), torch.tensor(b)
    xt = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [xt], lr=1, max_iter=100, history_size=n, tolerance_grad=1e-7, tolerance_change=0, line_search_fn="strong_wolfe"
    )

    def closure():
        opt.zero_grad()
        loss = 0.5 * xt @ At @ xt - bt @ xt
        loss.backward()
        return loss

    opt.step(closure)
    assert ours.converged
    np.testing.assert_allclose(ours.x, x_star, atol=1e-6)
    np.testing.assert_allclose(xt.detach().numpy(), x_star, atol=1e-6)
    assert ours.n_iter <= 1.5 * opt.state[xt]["n_iter"]


# ---------------------------------------------------------------------------------------------
# the model optimizer
# ---------------------------------------------------------------------------------------------


def least_squares_problem(rng, dtype=np.float64):
    X = rng.standard_normal((40, 3)).astype(dtype)
    Y = (X @ np.array([[1.0], [-2.0], [0.5]]) + 0.3 + 0.1 * rng.standard_normal((40, 1))).astype(dtype)
    model = Sequential([Dense(1, input_dim=3)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    model.build(3, dtype=dtype)
    return model, X, Y


def test_lbfgs_fit_solves_linear_least_squares(rng):
    model, X, Y = least_squares_problem(rng)
    fit(model, X, Y, LBFGS(), epochs=15, batch_size=len(X), verbose=0)
    design = np.hstack([X, np.ones((len(X), 1))])
    expected = np.linalg.lstsq(design, Y, rcond=None)[0].ravel()
    np.testing.assert_allclose(model.get_flat_weights(), expected, rtol=1e-7, atol=1e-9)


def test_lbfgs_fit_decreases_the_loss_of_a_network(rng):
    X = rng.standard_normal((60, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    model = Sequential([Dense(8, input_dim=2), Activation("tanh"), Dense(2), Activation("softmax")], seed=0)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    history = fit(model, X, to_categorical(y, 2), LBFGS(memory=5), epochs=30, batch_size=60, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.diff(losses) <= 0), "full-batch Wolfe steps never increase it"
    assert losses[-1] < 0.5 * losses[0]


def test_lbfgs_keeps_float32(rng):
    model, X, Y = least_squares_problem(rng, np.float32)
    opt = LBFGS()
    fit(model, X, Y, opt, epochs=3, batch_size=len(X), verbose=0)
    assert all(w.dtype == np.float32 for w in model.trainable_weights)
    assert opt.s_list
    assert all(v.dtype == np.float32 for v in opt.s_list + opt.y_list)


class Sabotaged(LBFGS):
    """Raises on its ``at``-th step, after changing the weights and the pairs."""

    def __init__(self, at: int) -> None:
        super().__init__(memory=3)
        self.at, self.calls = at, 0

    def step_unchecked(self, model, X, Y):
        self.calls += 1
        value = super().step_unchecked(model, X, Y)
        if self.calls == self.at:
            raise KeyboardInterrupt
        return value


def test_failed_fit_restores_weights_pairs_and_history(rng):
    model, X, Y = least_squares_problem(rng)
    opt = Sabotaged(10**9)
    fit(model, X, Y, opt, epochs=4, batch_size=10, verbose=0, seed=0)  # pairs held: a state worth restoring
    before_w, before_state, before_history = model.get_weights(), opt.get_state(), model.history
    assert len(before_state["s_list"]) == 3
    opt.calls, opt.at = 0, 6
    with pytest.raises(KeyboardInterrupt):
        fit(model, X, Y, opt, epochs=3, batch_size=10, verbose=0, seed=0)
    for w, b in zip(model.get_weights(), before_w, strict=True):
        np.testing.assert_array_equal(w, b)
    after = opt.get_state()
    assert after["t"] == before_state["t"]
    for key in ("s_list", "y_list"):
        for a, b in zip(after[key], before_state[key], strict=True):
            np.testing.assert_array_equal(a, b)
    assert model.history is before_history


def test_set_state_refuses_pairs_without_positive_curvature():
    opt = LBFGS()
    state = opt.get_state()
    state["s_list"], state["y_list"] = [np.array([1.0, 0.0])], [np.array([-1.0, 0.0])]
    with pytest.raises(ValueError, match=r"s\^T y > 0"):
        opt.set_state(state)
    assert opt.s_list == []


def test_a_step_on_the_same_batch_reuses_the_last_evaluation(rng, monkeypatch):
    model, X, Y = least_squares_problem(rng)
    opt = LBFGS()
    calls = []
    original = Sequential.loss_and_gradients

    def counted(self, X, Y):
        calls.append(1)
        return original(self, X, Y)

    monkeypatch.setattr(Sequential, "loss_and_gradients", counted)
    opt.step(model, X, Y)
    first = len(calls)
    before = model.evaluate(X, Y, verbose=0)
    assert opt.step(model, X, Y) == pytest.approx(before, rel=1e-12)  # the loss before the step, reused
    second = len(calls) - first
    assert second == first - 1  # no evaluation at the start (both line searches here take as many trials)
    Y2 = Y + 1.0  # another batch: evaluated afresh
    before = model.evaluate(X, Y2, verbose=0)
    assert opt.step(model, X, Y2) == pytest.approx(before, rel=1e-12)


def test_a_zero_gradient_takes_no_step(rng):
    model = Sequential([Dense(1, input_dim=2, kernel_initializer="zeros")])
    model.compile(optimizer="sgd", loss="mse")
    X, Y = rng.standard_normal((5, 2)), np.zeros((5, 1))  # zero weights predict 0 = Y: the gradient is 0
    opt = LBFGS()
    assert opt.step(model, X, Y) == 0.0
    np.testing.assert_array_equal(model.get_flat_weights(), np.zeros(3))
    assert opt.s_list == []
