"""Tests of the information measures in mlmath.losses: entropy, cross_entropy, kl_divergence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from mlmath.losses import categorical_crossentropy, cross_entropy, entropy, kl_divergence

SEED = 8  # the shared rng fixture (conftest.py) draws from this seed


def random_distributions(rng: np.random.Generator, shape: tuple[int, ...], alpha: float = 1.0) -> np.ndarray:
    """Dirichlet(alpha) samples along the last axis."""
    return rng.dirichlet(np.full(shape[-1], alpha), size=shape[:-1])


SHAPES = [(2,), (5,), (7, 3), (4, 2, 6)]


# ---------------------------------------------------------------------------
# entropy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 10, 1000])
def test_entropy_of_uniform_is_log_n(n):
    np.testing.assert_allclose(entropy(np.full(n, 1 / n)), math.log(n), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape", SHAPES)
def test_entropy_of_one_hot_is_zero_and_positive_zero(shape):
    p = np.zeros(shape)
    p[..., -1] = 1
    h = np.asarray(entropy(p))
    assert h.shape == shape[:-1]
    assert np.all(h == 0)
    assert not np.any(np.signbit(h))


@pytest.mark.parametrize("shape", SHAPES)
def test_entropy_lies_between_zero_and_log_n(rng, shape):
    p = random_distributions(rng, shape, alpha=0.3)
    h = np.asarray(entropy(p))
    assert h.shape == shape[:-1]
    assert np.all(h >= 0)
    assert np.all(h <= math.log(shape[-1]) + 1e-12)


def test_entropy_matches_the_definition_with_zero_probabilities():
    p = np.array([0.5, 0.0, 0.25, 0.25, 0.0])
    expected = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))  # = 1.5 log 2
    np.testing.assert_allclose(entropy(p), expected, rtol=1e-14)
    np.testing.assert_allclose(expected, 1.5 * math.log(2), rtol=1e-14)


def test_entropy_axis(rng):
    p = random_distributions(rng, (4, 6))
    np.testing.assert_allclose(entropy(p.T, axis=0), entropy(p), rtol=1e-14)
    p3 = random_distributions(rng, (2, 3, 5))
    moved = np.moveaxis(p3, -1, 1)  # shape (2, 5, 3), outcomes along axis 1
    np.testing.assert_allclose(entropy(moved, axis=1), entropy(p3), rtol=1e-14)
    np.testing.assert_allclose(entropy(moved, axis=-2), entropy(p3), rtol=1e-14)


def test_entropy_of_independent_pair_adds(rng):
    # H of a product distribution p ⊗ r is H(p) + H(r).
    p = random_distributions(rng, (4,))
    r = random_distributions(rng, (6,))
    joint = np.outer(p, r).ravel()
    np.testing.assert_allclose(entropy(joint), entropy(p) + entropy(r), rtol=1e-12)


# ---------------------------------------------------------------------------
# KL divergence and cross-entropy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_kl_of_a_distribution_with_itself_is_exactly_zero(rng, shape):
    p = random_distributions(rng, shape, alpha=0.5)
    p[..., 0] = 0  # zero entries too
    p /= p.sum(axis=-1, keepdims=True)
    assert np.all(np.asarray(kl_divergence(p, p)) == 0)


@pytest.mark.parametrize("alpha", [0.1, 1.0, 10.0])
def test_gibbs_inequality_on_random_pairs(rng, alpha):
    p = random_distributions(rng, (2000, 6), alpha)
    q = random_distributions(rng, (2000, 6), alpha)
    d = kl_divergence(p, q)
    assert d.shape == (2000,)
    assert np.all(d > 0)  # p != q with probability 1


def test_gibbs_inequality_for_nearby_pairs(rng):
    p = random_distributions(rng, (500, 5), 2.0)
    q = p * np.exp(1e-6 * rng.standard_normal(p.shape))
    q /= q.sum(axis=-1, keepdims=True)
    assert np.all(kl_divergence(p, q) >= -1e-15)


@pytest.mark.parametrize("shape", SHAPES)
def test_cross_entropy_is_entropy_plus_kl(rng, shape):
    p = random_distributions(rng, shape, alpha=0.5)
    q = random_distributions(rng, shape, alpha=0.5)
    np.testing.assert_allclose(cross_entropy(p, q), entropy(p) + kl_divergence(p, q), rtol=1e-12, atol=1e-14)


def test_kl_matches_closed_form_for_bernoulli_pairs(rng):
    a = rng.uniform(0.01, 0.99, 50)
    b = rng.uniform(0.01, 0.99, 50)
    p = np.stack([a, 1 - a], axis=-1)
    q = np.stack([b, 1 - b], axis=-1)
    expected = [x * math.log(x / y) + (1 - x) * math.log((1 - x) / (1 - y)) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(kl_divergence(p, q), expected, rtol=1e-12, atol=1e-15)


def test_kl_is_not_symmetric():
    p, q = [0.5, 0.5], [0.9, 0.1]
    forward = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    backward = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    np.testing.assert_allclose(kl_divergence(p, q), forward, rtol=1e-14)
    np.testing.assert_allclose(kl_divergence(q, p), backward, rtol=1e-14)
    assert abs(forward - backward) > 0.1


def test_kl_is_invariant_under_a_joint_permutation(rng):
    p = random_distributions(rng, (10, 7))
    q = random_distributions(rng, (10, 7))
    perm = rng.permutation(7)
    np.testing.assert_allclose(kl_divergence(p[:, perm], q[:, perm]), kl_divergence(p, q), rtol=1e-12)


def test_kl_near_p_is_half_the_fisher_quadratic_form(rng):
    # q = p + t d with sum(d) = 0: KL(p || q) = t²/2 · Σ d_i²/p_i + O(t³).
    p = random_distributions(rng, (6,), 5.0)
    d = rng.standard_normal(6)
    d -= d.mean()
    t = 1e-4
    quadratic = 0.5 * t**2 * np.sum(d**2 / p)
    np.testing.assert_allclose(kl_divergence(p, p + t * d), quadratic, rtol=1e-3)


def test_against_sympy_on_a_symbolic_case():
    p = sp.symbols("p1:4", positive=True)
    q = sp.symbols("q1:4", positive=True)
    H = -sum(pi * sp.log(pi) for pi in p)
    CE = -sum(pi * sp.log(qi) for pi, qi in zip(p, q, strict=True))
    KL = sum(pi * sp.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    assert sp.simplify(sp.expand_log(CE - H - KL, force=True)) == 0
    values_p = (sp.Rational(1, 2), sp.Rational(1, 3), sp.Rational(1, 6))
    values_q = (sp.Rational(1, 5), sp.Rational(3, 10), sp.Rational(1, 2))
    subs = dict(zip(p + q, values_p + values_q, strict=True))
    pn = np.array([float(v) for v in values_p])
    qn = np.array([float(v) for v in values_q])
    np.testing.assert_allclose(entropy(pn), float(H.subs(subs).evalf(30)), rtol=1e-14)
    np.testing.assert_allclose(cross_entropy(pn, qn), float(CE.subs(subs).evalf(30)), rtol=1e-14)
    np.testing.assert_allclose(kl_divergence(pn, qn), float(KL.subs(subs).evalf(30)), rtol=1e-13)
    # the gradient in q (unconstrained), -p/q, by sympy, against central differences of kl_divergence
    # along directions that keep q a distribution
    grad = [float(sp.diff(KL, qi).subs(subs)) for qi in q]
    np.testing.assert_allclose(grad, -pn / qn, rtol=1e-14)
    h = 1e-6
    for direction in (np.array([1.0, -1.0, 0.0]), np.array([0.0, 1.0, -1.0]), np.array([1.0, 1.0, -2.0])):
        numeric = (kl_divergence(pn, qn + h * direction) - kl_divergence(pn, qn - h * direction)) / (2 * h)
        np.testing.assert_allclose(numeric, np.dot(grad, direction), rtol=1e-7)


def test_zero_conventions_without_warnings():
    # pytest turns warnings into errors, so a log(0) or 0/0 warning would fail here.
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([0.25, 0.75, 0.0])
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    np.testing.assert_allclose(kl_divergence(p, q), expected, rtol=1e-14)
    np.testing.assert_allclose(cross_entropy(p, q), -0.5 * math.log(0.25) - 0.5 * math.log(0.75), rtol=1e-14)
    r = np.array([0.2, 0.3, 0.5])
    assert kl_divergence(r, p) == np.inf  # r puts 0.5 where p puts 0
    assert cross_entropy(r, p) == np.inf
    assert np.isfinite(kl_divergence(p, r))


def test_infinite_where_q_rules_out_what_p_allows():
    p = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    q = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5]])
    d = kl_divergence(p, q)
    assert d[0] == np.inf
    assert d[1] == 0
    np.testing.assert_allclose(d[2], math.log(2), rtol=1e-14)
    ce = cross_entropy(p, q)
    assert ce[0] == np.inf
    assert ce[1] == 0
    assert not np.signbit(ce[1])
    np.testing.assert_allclose(ce[2], math.log(2), rtol=1e-14)


def test_cross_entropy_matches_the_training_loss_batch_mean(rng):
    Y = np.eye(4)[rng.integers(0, 4, 20)]
    P = random_distributions(rng, (20, 4), 3.0)
    assert P.min() > 1e-7  # no clipping in categorical_crossentropy
    value, _ = categorical_crossentropy(Y, P)
    np.testing.assert_allclose(np.mean(cross_entropy(Y, P)), value, rtol=1e-12)


# ---------------------------------------------------------------------------
# dtypes and shapes of the results
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("function", [entropy, cross_entropy, kl_divergence])
def test_float32_stays_float32(rng, function):
    p = random_distributions(rng, (3, 4)).astype(np.float32)
    q = random_distributions(rng, (3, 4)).astype(np.float32)
    args = (p,) if function is entropy else (p, q)
    out = function(*args)
    assert out.dtype == np.float32
    reference = function(*(a.astype(np.float64) for a in args))
    np.testing.assert_allclose(out, reference, rtol=1e-5)


@pytest.mark.parametrize("function", [entropy, cross_entropy, kl_divergence])
def test_one_distribution_gives_a_scalar(function):
    args = ([1, 0],) if function is entropy else ([1, 0], [0.5, 0.5])
    out = function(*args)  # integer input is accepted and becomes float64
    assert np.ndim(out) == 0
    assert np.asarray(out).dtype == np.float64


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "q", "match"),
    [
        ([0.5, 0.6], [0.5, 0.5], r"p must sum to 1 along axis 0.*p sums to 1\.1"),
        ([0.5, 0.5], [0.3, 0.3], r"q must sum to 1 along axis 0.*q sums to 0\.6"),
        ([[0.2, 0.8], [0.5, 0.4]], [[0.2, 0.8], [0.5, 0.5]], r"p\[1, :\] sums to 0\.9.*Normalise"),
        ([1.2, -0.2], [0.5, 0.5], r"p must hold probabilities \(entries >= 0\); got p\[1\] = -0\.2"),
        ([0.5, 0.5], [-0.1, 1.1], r"q must hold probabilities .*softmax"),
        ([0.5, 0.5], [0.2, 0.3, 0.5], r"p and q must have the same shape.*\(2,\).*\(3,\)"),
        ([[0.5, 0.5]], [0.5, 0.5], r"p and q must have the same shape"),
        ([0.5, np.nan], [0.5, 0.5], r"p must hold only finite values"),
        ([0.5, 0.5], [np.inf, 0.5], r"q must hold only finite values"),
        (1.0, 1.0, r"p must be a probability vector \(at least 1-D\)"),
        (np.zeros((2, 0)), np.zeros((2, 0)), r"p must have at least one entry along axis 1"),
    ],
)
def test_kl_and_cross_entropy_refuse_non_distributions(p, q, match):
    with pytest.raises(ValueError, match=match):
        kl_divergence(p, q)
    with pytest.raises(ValueError, match=match):
        cross_entropy(p, q)


def test_entropy_refuses_non_distributions():
    with pytest.raises(ValueError, match=r"p must sum to 1 along axis 1.*p\[0, :\] sums to 2\.0"):
        entropy([[1.0, 1.0]])
    with pytest.raises(ValueError, match=r"p must hold probabilities"):
        entropy([-0.5, 1.5])
    with pytest.raises(TypeError, match=r"p must hold real numbers"):
        entropy(np.array([0.5 + 0j, 0.5]))


def test_axis_is_checked():
    with pytest.raises(ValueError, match=r"axis must lie in \[-1, 1\) for p of shape \(2,\); got 1"):
        entropy([0.5, 0.5], axis=1)
    with pytest.raises(TypeError, match=r"axis must be an integer; got float"):
        kl_divergence([0.5, 0.5], [0.5, 0.5], axis=0.0)
    with pytest.raises(TypeError, match=r"axis must be an integer; got bool"):
        entropy([0.5, 0.5], axis=True)


def test_sum_tolerance_depends_on_dtype():
    almost = np.array([0.5, 0.5 + 1e-5])
    with pytest.raises(ValueError, match="p must sum to 1"):
        entropy(almost)
    assert np.isfinite(entropy(almost.astype(np.float32)))  # within float32's tolerance 1e-4
