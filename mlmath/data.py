r"""Data helpers: one-hot labels, Keras's validation split, and small synthetic data sets.

Used in chapters 4, 5, 8, 9 and 10. The generators take a ``seed`` (an int, a ``numpy.random.Generator``, or
``None`` for fresh entropy) and never touch numpy's global random state.
"""

from __future__ import annotations

import math

import numpy as np

from mlmath._validation import (
    MAX_SIZE,
    as_float_array,
    as_generator,
    check_dtype,
    check_in_range,
    check_size,
    no_overflow,
)

__all__ = ["blobs", "random_classification", "spirals", "to_categorical", "train_validation_split"]


def _as_real_array(values: object, name: str) -> np.ndarray:
    """``values`` as an array in its own dtype (no copy of an array), refused unless real and finite."""
    as_float_array(values, name)  # raises for ragged, non-numeric, complex and non-finite values
    return np.asarray(values)


def _as_labels(y: object, num_classes: object) -> tuple[np.ndarray, int]:
    """Class labels as int64 and the number of classes, each label checked before any cast."""
    arr = _as_real_array(y, "y")
    if arr.ndim > 1 and arr.shape[-1] == 1:
        arr = arr.reshape(arr.shape[:-1])
    if arr.dtype.kind == "f":
        fractional = np.flatnonzero(arr != np.round(arr))
        if fractional.size:
            value = float(arr.reshape(-1)[fractional[0]])
            raise ValueError(f"y must hold integer class labels; got {value!r} at flat index {int(fractional[0])}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"y must hold class labels >= 0; got {arr.min().item()!r}")
    largest = arr.max().item() if arr.size else None
    if num_classes is None:
        if largest is None:
            raise ValueError("y is empty: pass num_classes to say how many classes there are")
        if int(largest) >= MAX_SIZE:
            raise ValueError(f"y holds the label {largest!r}; class labels must be below {MAX_SIZE}")
        n = int(largest) + 1
    else:
        n = check_size(num_classes, "num_classes")
        if largest is not None and int(largest) >= n:
            raise ValueError(f"y holds the label {largest!r}, but num_classes={n} allows labels 0 to {n - 1}")
    return arr.astype(np.int64), n


def to_categorical(y: np.ndarray, num_classes: int | None = None, dtype: object = np.float64) -> np.ndarray:
    r"""One-hot encode integer class labels, as Keras's ``to_categorical``.

    Row :math:`k` of the result is :math:`e_{y_k}^\top`: all zeros but a one in column
    :math:`y_k`. Like Keras 3, the result is float64 by default, and a trailing axis of length
    1 in ``y`` (a column of labels) is dropped first. Unlike Keras, labels that are negative,
    not whole numbers, or not below ``num_classes`` raise an error instead of being truncated
    or wrapped around. Used in chapters 4, 9 and 10.

    Parameters
    ----------
    y : array_like of int, shape (m,) (or any shape)
        Class labels in ``0, 1, ..., num_classes - 1``; floats are accepted if they are whole.
    num_classes : int, optional
        Number of classes :math:`n`; default ``max(y) + 1``.
    dtype : float64 or float32, default float64

    Returns
    -------
    numpy.ndarray of shape y.shape + (num_classes,)

    Raises
    ------
    TypeError
        If ``y`` is not an array of real numbers, ``num_classes`` is not an integer, or
        ``dtype`` is not float32 or float64.
    ValueError
        If a label is NaN, infinite, fractional, negative or not below ``num_classes``,
        ``num_classes < 1``, or ``y`` is empty and ``num_classes`` is not given.

    Examples
    --------
    >>> to_categorical([0, 2, 1], 3)
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
    """
    dt = check_dtype(dtype, "dtype")
    labels, n = _as_labels(y, num_classes)
    out = np.zeros((labels.size, n), dtype=dt)
    out[np.arange(labels.size), labels.reshape(-1)] = 1
    return out.reshape((*labels.shape, n))


def train_validation_split(
    X: np.ndarray, Y: np.ndarray, validation_split: float
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    r"""Hold out the **last** fraction of the rows for validation, in order, as Keras's ``fit`` does.

    The first :math:`s = \lfloor m (1 - \text{validation\_split}) \rfloor` rows train and the
    remaining :math:`m - s` validate (Keras 3's rule). No shuffling happens before the split:
    if the rows are sorted by class, the validation rows are the last class. Used in chapter 12.

    Parameters
    ----------
    X : numpy.ndarray of shape (m, ...)
        Real and finite.
    Y : numpy.ndarray of shape (m, ...)
        Real and finite.
    validation_split : float in (0, 1)

    Returns
    -------
    (X_train, Y_train), (X_val, Y_val)
        Views of ``X`` and ``Y``: rows ``[:s]`` and ``[s:]``.

    Raises
    ------
    TypeError
        If ``X`` or ``Y`` is not an array of real numbers, or the fraction is not a number.
    ValueError
        If ``X`` or ``Y`` is a scalar or holds NaN or infinity, the row counts differ, the
        fraction is outside (0, 1), or either part would be empty.

    Examples
    --------
    >>> X, Y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> (X_train, Y_train), (X_val, Y_val) = train_validation_split(X, Y, 0.4)
    >>> Y_train, Y_val
    (array([0, 1, 2]), array([3, 4]))
    """
    X, Y = _as_real_array(X, "X"), _as_real_array(Y, "Y")
    if X.ndim == 0 or Y.ndim == 0:
        raise ValueError("X and Y must be arrays with one row per sample")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must have the same number of rows; got {X.shape[0]} and {Y.shape[0]}")
    split = check_in_range(validation_split, "validation_split", 0.0, 1.0, low_inclusive=False)
    m = X.shape[0]
    split_at = math.floor(m * (1.0 - split))
    if split_at == 0 or split_at == m:
        raise ValueError(
            f"validation_split={validation_split!r} of {m} samples leaves "
            f"{'no training' if split_at == 0 else 'no validation'} samples; "
            "provide more data or another validation_split"
        )
    return (X[:split_at], Y[:split_at]), (X[split_at:], Y[split_at:])


def random_classification(
    num_samples: int = 1000, num_features: int = 20, num_classes: int = 3, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    r"""The source article's random data set: uniform features, uniform random labels.

    ``X`` has entries drawn from :math:`U[0, 1)`, and each label is drawn uniformly from
    ``num_classes`` classes, independently of ``X``, so there is nothing to learn: a model can
    only memorize its training rows, and on new rows it is right with probability
    :math:`1/\text{num\_classes}`. Chapter 12 explains what the article's accuracy means; chapters 5 and 9 use it too.

    Parameters
    ----------
    num_samples, num_features, num_classes : int
    seed : int, numpy.random.Generator or None, default 0
        ``None`` draws fresh entropy; a generator is advanced.

    Returns
    -------
    X : numpy.ndarray of shape (num_samples, num_features), float64
    Y : numpy.ndarray of shape (num_samples, num_classes), one-hot float64

    Raises
    ------
    TypeError
        If a count is not an integer, or ``seed`` is not None, an integer or a Generator.
    ValueError
        If a count is below its minimum or larger than numpy can index, or ``seed < 0``.

    Examples
    --------
    >>> X, Y = random_classification(num_samples=4, num_features=2, num_classes=3, seed=0)
    >>> X.shape, Y.shape, Y.sum(axis=1)
    ((4, 2), (4, 3), array([1., 1., 1., 1.]))
    """
    m = check_size(num_samples, "num_samples")
    f = check_size(num_features, "num_features")
    k = check_size(num_classes, "num_classes")
    rng = as_generator(seed, "seed")
    X = rng.random((m, f))
    return X, to_categorical(rng.integers(k, size=m), k)


def spirals(
    n_per_class: int = 100, num_classes: int = 3, noise: float = 0.2, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    r"""Interleaved spiral arms in the plane, one arm per class: learnable, but not linearly.

    Arm :math:`k` holds the points :math:`r(\sin\varphi, \cos\varphi)` for ``n_per_class``
    radii :math:`r` evenly spaced in :math:`[0, 1]`, at angles
    :math:`\varphi = 2\pi k / K + 4r + \sigma\varepsilon` with :math:`\varepsilon \sim N(0, 1)`
    and :math:`\sigma` = ``noise``. The rows are then shuffled (with the same generator), so a
    Keras-style validation split, which takes the last rows, sees every class. Used in chapters 9, 11 and 12.

    Parameters
    ----------
    n_per_class : int, default 100
    num_classes : int, default 3
    noise : float >= 0, default 0.2
        Standard deviation of the angle noise, in radians.
    seed : int, numpy.random.Generator or None, default 0

    Returns
    -------
    X : numpy.ndarray of shape (n_per_class * num_classes, 2), float64
    y : numpy.ndarray of shape (n_per_class * num_classes,), int64 labels
        Use :func:`to_categorical` for one-hot targets.

    Raises
    ------
    TypeError
        If a count is not an integer, ``noise`` is not a real number, or ``seed`` is not None,
        an integer or a Generator.
    ValueError
        If a count is below its minimum or larger than numpy can index, ``noise`` is negative or
        not finite, or ``seed < 0``.

    Examples
    --------
    >>> X, y = spirals(n_per_class=50, seed=0)
    >>> X.shape, np.bincount(y)
    ((150, 2), array([50, 50, 50]))
    """
    n = check_size(n_per_class, "n_per_class")
    k = check_size(num_classes, "num_classes")
    sigma = check_in_range(noise, "noise", 0.0, math.inf)
    rng = as_generator(seed, "seed")
    y = np.repeat(np.arange(k), n)
    r = np.tile(np.linspace(0.0, 1.0, n), k)
    with no_overflow("the angles with this noise", "use a smaller noise"):
        phi = 2 * np.pi * y / k + 4 * r + sigma * rng.standard_normal(n * k)
    X = np.column_stack([r * np.sin(phi), r * np.cos(phi)])
    order = rng.permutation(n * k)
    return X[order], y[order]


def blobs(
    n_per_class: int = 100,
    num_classes: int = 3,
    num_features: int = 2,
    cluster_std: float = 1.0,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Gaussian clusters, one per class: an easy, nearly linearly separable data set.

    Class :math:`k` has center :math:`c_k = 3(\cos(2\pi k/K), \sin(2\pi k/K), 0, \dots, 0)`
    (equally spaced on a circle of radius 3 in the first two coordinates) and its points are
    :math:`c_k + \sigma\varepsilon`, :math:`\varepsilon \sim N(0, I)`, :math:`\sigma` =
    ``cluster_std``. The rows are shuffled, as in :func:`spirals`. Used in chapter 12.

    Parameters
    ----------
    n_per_class : int, default 100
    num_classes : int, default 3
    num_features : int >= 2, default 2
    cluster_std : float >= 0, default 1.0
    seed : int, numpy.random.Generator or None, default 0

    Returns
    -------
    X : numpy.ndarray of shape (n_per_class * num_classes, num_features), float64
    y : numpy.ndarray of shape (n_per_class * num_classes,), int64 labels

    Raises
    ------
    TypeError
        If a count is not an integer, ``cluster_std`` is not a real number, or ``seed`` is not None,
        an integer or a Generator.
    ValueError
        If a count is below its minimum or larger than numpy can index, ``cluster_std`` is negative or
        not finite, or ``seed < 0``.

    Examples
    --------
    >>> X, y = blobs(n_per_class=20, num_classes=4, seed=1)
    >>> X.shape, np.bincount(y)
    ((80, 2), array([20, 20, 20, 20]))
    """
    n = check_size(n_per_class, "n_per_class")
    k = check_size(num_classes, "num_classes")
    f = check_size(num_features, "num_features", 2)
    sigma = check_in_range(cluster_std, "cluster_std", 0.0, math.inf)
    rng = as_generator(seed, "seed")
    angles = 2 * np.pi * np.arange(k) / k
    centers = np.zeros((k, f))
    centers[:, 0], centers[:, 1] = 3 * np.cos(angles), 3 * np.sin(angles)
    y = np.repeat(np.arange(k), n)
    with no_overflow("the points with this cluster_std", "use a smaller cluster_std"):
        X = centers[y] + sigma * rng.standard_normal((n * k, f))
    order = rng.permutation(n * k)
    return X[order], y[order]
