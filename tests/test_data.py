"""Tests of mlmath.data: one-hot labels, Keras's validation split, the synthetic data sets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlmath.data import blobs, random_classification, spirals, to_categorical, train_validation_split

# --- to_categorical -------------------------------------------------------------------------


def test_to_categorical_rows_are_unit_vectors():
    Y = to_categorical([2, 0, 1, 2], 4)
    expected = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], dtype=float)
    np.testing.assert_array_equal(Y, expected)
    assert Y.dtype == np.float64


def test_to_categorical_infers_num_classes_and_squeezes_a_label_column():
    np.testing.assert_array_equal(to_categorical(np.array([[1], [0]])), [[0.0, 1.0], [1.0, 0.0]])
    assert to_categorical(np.zeros((2, 3), dtype=int), 2).shape == (2, 3, 2)


def test_to_categorical_accepts_whole_floats_and_float32():
    Y = to_categorical(np.array([1.0, 0.0]), 2, dtype=np.float32)
    assert Y.dtype == np.float32
    np.testing.assert_array_equal(Y, [[0, 1], [1, 0]])


def test_to_categorical_empty_with_num_classes():
    assert to_categorical(np.array([], dtype=int), 3).shape == (0, 3)


@pytest.mark.parametrize(
    ("y", "num_classes", "exc", "pattern"),
    [
        ([0, -1, 2], None, ValueError, r"y must hold class labels >= 0; got -1"),
        ([0, 1.5], None, ValueError, r"y must hold integer class labels; got 1.5 at flat index 1"),
        ([0, np.nan], None, ValueError, r"y must hold only finite values; got 1 NaN or infinite value\(s\)"),
        ([0, 3], 3, ValueError, r"y holds the label 3, but num_classes=3 allows labels 0 to 2"),
        ([], None, ValueError, r"y is empty: pass num_classes"),
        ([0, 1], 0, ValueError, r"num_classes must be an integer >= 1; got 0"),
        ([0, 1], 2.0, TypeError, r"num_classes must be an integer"),
        (["a", "b"], None, TypeError, r"y must hold real numbers .*; got dtype <U1"),
    ],
)
def test_to_categorical_errors(y, num_classes, exc, pattern):
    with pytest.raises(exc, match=pattern):
        to_categorical(np.array(y), num_classes)


def test_to_categorical_dtype_error():
    with pytest.raises(TypeError, match="dtype must be float32 or float64; got int64"):
        to_categorical([0, 1], 2, dtype=np.int64)
    with pytest.raises(TypeError, match=r"dtype must be float32 or float64 \(np.float32, 'float64', ...\); got str"):
        to_categorical([0, 1], 2, dtype="garbage")


@pytest.mark.parametrize(
    ("y", "num_classes", "pattern"),
    [
        (np.array([0.0, 1e300]), 3, r"y holds the label 1e\+300, but num_classes=3 allows labels 0 to 2"),
        (np.array([0, 2**64 - 1], dtype=np.uint64), 3, r"y holds the label 18446744073709551615, but num_classes=3"),
        (np.array([0.0, 1e300]), None, r"y holds the label 1e\+300; class labels must be below 9223372036854775807"),
        (np.array([0, 1]), 10**30, r"num_classes must be at most 9223372036854775807"),
    ],
)
def test_to_categorical_checks_huge_labels_before_casting(y, num_classes, pattern):
    with pytest.raises(ValueError, match=pattern):
        to_categorical(y, num_classes)


def test_to_categorical_refuses_ragged_labels():
    with pytest.raises(TypeError, match=r"y must be array-like of numbers; got list"):
        to_categorical([[0, 1], [2]], 3)


# --- train_validation_split -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("m", "split", "n_train"),
    [
        (1000, 0.2, 800),
        (10, 0.33, 6),  # floor(10 * 0.67) = 6, so 4 are held out (not int(10 * 0.33) = 3)
        (5, 0.5, 2),
        (7, 0.1, 6),
    ],
)
def test_split_holds_out_the_last_rows(m, split, n_train):
    X = np.arange(m * 2).reshape(m, 2)
    Y = np.arange(m)
    (X_train, _), (X_val, Y_val) = train_validation_split(X, Y, split)
    assert len(X_train) == n_train
    np.testing.assert_array_equal(X_train, X[:n_train])
    np.testing.assert_array_equal(X_val, X[n_train:])
    np.testing.assert_array_equal(Y_val, np.arange(n_train, m))
    assert np.shares_memory(X_val, X)  # views, no copies


@pytest.mark.parametrize(
    ("m", "split", "exc", "pattern"),
    [
        (10, 0.0, ValueError, r"validation_split must lie in \(0.0, 1.0\); got 0.0"),
        (10, 1.0, ValueError, r"validation_split must lie in \(0.0, 1.0\)"),
        (1, 0.5, ValueError, r"validation_split=0.5 of 1 samples leaves no training samples"),
        (10, 1e-17, ValueError, r"leaves no validation samples"),  # 1 - 1e-17 rounds to 1
    ],
)
def test_split_errors(m, split, exc, pattern):
    with pytest.raises(exc, match=pattern):
        train_validation_split(np.zeros((m, 2)), np.zeros(m), split)


@pytest.mark.parametrize(
    ("X", "Y", "exc", "pattern"),
    [
        (np.array([[0.0, 1.0], [np.nan, 2.0]]), np.zeros(2), ValueError, r"X must hold only finite values"),
        (np.zeros((2, 2)), np.array([0.0, np.inf]), ValueError, r"Y must hold only finite values"),
        (np.zeros((2, 2)) * 1j, np.zeros(2), TypeError, r"X must hold real numbers"),
        ([[0.0, 1.0], [2.0]], np.zeros(2), TypeError, r"X must be array-like of numbers"),
    ],
)
def test_split_refuses_non_finite_and_non_real_data(X, Y, exc, pattern):
    with pytest.raises(exc, match=pattern):
        train_validation_split(X, Y, 0.5)


def test_split_row_mismatch():
    with pytest.raises(ValueError, match="X and Y must have the same number of rows; got 4 and 3"):
        train_validation_split(np.zeros((4, 2)), np.zeros(3), 0.5)


# --- data sets ------------------------------------------------------------------------------


def test_random_classification_like_the_article():
    before = np.random.get_state()[1].copy()  # noqa: NPY002 (checking that the global RNG is untouched)
    X, Y = random_classification(seed=1)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    assert X.shape == (1000, 20)
    assert Y.shape == (1000, 3)
    assert X.min() >= 0
    assert X.max() < 1
    np.testing.assert_array_equal(Y.sum(axis=1), np.ones(1000))
    assert set(np.unique(Y)) == {0.0, 1.0}
    counts = Y.sum(axis=0)
    assert np.all(np.abs(counts - 1000 / 3) < 60)  # about uniform labels
    X2, Y2 = random_classification(seed=1)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(Y, Y2)
    assert not np.array_equal(X, random_classification(seed=2)[0])


@pytest.mark.parametrize("make", [spirals, blobs])
def test_learnable_sets_are_balanced_shuffled_and_reproducible(make):
    X, y = make(n_per_class=60, num_classes=3, seed=4)
    assert X.shape == (180, 2)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [60, 60, 60])
    assert np.any(np.diff(y) < 0)  # not sorted by class
    (_, _), (_, y_val) = train_validation_split(X, y, 0.2)
    assert set(y_val.tolist()) == {0, 1, 2}
    X2, y2 = make(n_per_class=60, num_classes=3, seed=4)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_spirals_geometry():
    X, y = spirals(n_per_class=200, num_classes=3, noise=0.0, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.max() == pytest.approx(1.0)
    # without noise each arm is the curve r (sin phi, cos phi), phi = 2 pi k / 3 + 4 r
    phi = 2 * np.pi * y / 3 + 4 * r
    np.testing.assert_allclose(X, np.column_stack([r * np.sin(phi), r * np.cos(phi)]), atol=1e-12)


def test_blobs_centers():
    X, y = blobs(n_per_class=2000, num_classes=4, num_features=3, cluster_std=0.5, seed=0)
    for k in range(4):
        center = [3 * math.cos(k * math.pi / 2), 3 * math.sin(k * math.pi / 2), 0.0]
        np.testing.assert_allclose(X[y == k].mean(axis=0), center, atol=0.05)
        np.testing.assert_allclose(X[y == k].std(axis=0), 0.5, rtol=0.05)


@pytest.mark.parametrize(
    ("call", "exc", "pattern"),
    [
        (lambda: spirals(n_per_class=0), ValueError, r"n_per_class must be an integer >= 1"),
        (lambda: spirals(noise=-1.0), ValueError, r"noise must lie in \[0.0, inf\)"),
        (lambda: blobs(num_features=1), ValueError, r"num_features must be an integer >= 2"),
        (lambda: blobs(cluster_std=float("nan")), ValueError, r"cluster_std must be finite"),
        (lambda: random_classification(num_classes=0), ValueError, r"num_classes must be an integer >= 1"),
        (lambda: random_classification(seed=-3), ValueError, r"seed must be an integer >= 0"),
        (lambda: random_classification(seed=1.5), TypeError, r"seed must be None, an integer >= 0 or a numpy"),
        (lambda: spirals(n_per_class=10**30), ValueError, r"n_per_class must be at most 9223372036854775807"),
    ],
)
def test_generator_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_seed_none_draws_fresh_entropy():
    assert not np.array_equal(spirals(seed=None)[0], spirals(seed=None)[0])


@pytest.mark.parametrize("make", [random_classification, spirals, blobs])
def test_seed_may_be_a_generator_which_is_advanced(make):
    rng = np.random.default_rng(7)
    first, second = make(seed=rng)[0], make(seed=rng)[0]
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, make(seed=7)[0])
