r"""Activation functions, their derivatives, Jacobians and vector-Jacobian products.

Derived in chapter 3. Every function acts elementwise except :func:`softmax` and
:func:`log_softmax`, which act along the **last axis**, so a batch ``Z`` of shape
``(batch, n)`` holds one vector of logits per row.

Naming: ``z`` is the input of an activation (the pre-activation, or logits), ``a`` or ``s`` its
output (``s`` for softmax probabilities), ``g`` an upstream gradient
:math:`\partial L / \partial a`. A *VJP* (vector-Jacobian product) returns
:math:`g^\top J`, the gradient :math:`\partial L / \partial z`, without forming :math:`J`.

The public functions check their input (finite, real); the :class:`ActivationFunction`
records returned by :func:`get` hold unchecked versions for the training loop of
:class:`mlmath.layers.Activation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlmath._validation import as_float_array, check_same_shape

__all__ = [
    "ActivationFunction",
    "get",
    "log_softmax",
    "log_softmax_vjp",
    "relu",
    "relu_derivative",
    "sigmoid",
    "sigmoid_derivative",
    "sigmoid_second_derivative",
    "softmax",
    "softmax_jacobian",
    "softmax_jacobian_from_probs",
    "softmax_vjp",
    "tanh",
    "tanh_derivative",
    "tanh_second_derivative",
]


# ---------------------------------------------------------------------------
# unchecked kernels (the layer's hot path calls these)
# ---------------------------------------------------------------------------


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp(-|z|) <= 1 never overflows; the two branches agree with 1 / (1 + exp(-z)).
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _softmax_vjp(s: np.ndarray, g: np.ndarray) -> np.ndarray:
    return s * (g - (g * s).sum(axis=-1, keepdims=True))


def _log_softmax_vjp(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    return g - np.exp(y) * g.sum(axis=-1, keepdims=True)


def _check(x: object, name: str) -> np.ndarray:
    return as_float_array(x, name)


def _check_last_axis(x: object, name: str) -> np.ndarray:
    arr = as_float_array(x, name)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(
            f"{name} must have at least one axis with at least one entry (softmax acts along the "
            f"last axis); got shape {arr.shape}"
        )
    return arr


# ---------------------------------------------------------------------------
# elementwise activations and their derivatives
# ---------------------------------------------------------------------------


def relu(z: np.ndarray) -> np.ndarray:
    r"""Rectified linear unit, elementwise: :math:`\operatorname{relu}(z) = \max(z, 0)`.

    Derived in chapter 3.

    Parameters
    ----------
    z : array_like of any shape
        Finite real numbers; float32 stays float32, integers become float64.

    Returns
    -------
    numpy.ndarray of the same shape as ``z``

    Examples
    --------
    >>> relu([-2.0, 0.0, 3.0])
    array([0., 0., 3.])
    """
    return _relu(_check(z, "z"))


def relu_derivative(z: np.ndarray) -> np.ndarray:
    r"""Derivative of :func:`relu` at ``z``, elementwise: :math:`\mathbb{1}[z > 0]`.

    The derivative does not exist at :math:`z = 0`; this function returns 0 there (the
    subgradient most frameworks use). Derived in chapter 3.

    Parameters
    ----------
    z : array_like of any shape
        The **input** of relu (not its output).

    Returns
    -------
    numpy.ndarray of the same shape and dtype as ``z``, holding 0.0 and 1.0

    Examples
    --------
    >>> relu_derivative([-2.0, 0.0, 3.0])
    array([0., 0., 1.])
    """
    arr = _check(z, "z")
    return (arr > 0).astype(arr.dtype)


def sigmoid(z: np.ndarray) -> np.ndarray:
    r"""Logistic sigmoid, elementwise: :math:`\sigma(z) = 1 / (1 + e^{-z})`.

    Computed as :math:`1/(1 + e^{-|z|})` for :math:`z \ge 0` and :math:`e^{-|z|}/(1 + e^{-|z|})`
    for :math:`z < 0`, so no exponential overflows, even at :math:`z = \pm 1000`.
    Derived in chapter 3.

    Parameters
    ----------
    z : array_like of any shape

    Returns
    -------
    numpy.ndarray of the same shape as ``z``, values in :math:`[0, 1]`

    Examples
    --------
    >>> sigmoid([-1000.0, 0.0, 1000.0])
    array([0. , 0.5, 1. ])
    """
    return _sigmoid(_check(z, "z"))


def sigmoid_derivative(z: np.ndarray) -> np.ndarray:
    r"""Derivative of :func:`sigmoid` at ``z``, elementwise: :math:`\sigma(z)\,(1 - \sigma(z))`.

    Derived in chapter 3.

    Parameters
    ----------
    z : array_like of any shape
        The **input** of the sigmoid.

    Returns
    -------
    numpy.ndarray of the same shape as ``z``, values in :math:`[0, 1/4]`

    Examples
    --------
    >>> sigmoid_derivative([0.0])
    array([0.25])
    """
    s = _sigmoid(_check(z, "z"))
    return s * (1 - s)


def tanh(z: np.ndarray) -> np.ndarray:
    r"""Hyperbolic tangent, elementwise: :math:`\tanh z = (e^{z} - e^{-z}) / (e^{z} + e^{-z})`.

    Derived in chapter 3.

    Parameters
    ----------
    z : array_like of any shape

    Returns
    -------
    numpy.ndarray of the same shape as ``z``, values in :math:`[-1, 1]`

    Examples
    --------
    >>> tanh([0.0, 1000.0])
    array([0., 1.])
    """
    return np.tanh(_check(z, "z"))


def tanh_derivative(z: np.ndarray) -> np.ndarray:
    r"""Derivative of :func:`tanh` at ``z``, elementwise: :math:`1 - \tanh^2 z`.

    Derived in chapter 3.

    Parameters
    ----------
    z : array_like of any shape
        The **input** of tanh.

    Returns
    -------
    numpy.ndarray of the same shape as ``z``, values in :math:`[0, 1]`

    Examples
    --------
    >>> tanh_derivative([0.0])
    array([1.])
    """
    t = np.tanh(_check(z, "z"))
    return 1 - t * t


# ---------------------------------------------------------------------------
# softmax and log-softmax (along the last axis)
# ---------------------------------------------------------------------------


def softmax(z: np.ndarray) -> np.ndarray:
    r"""Softmax along the last axis: :math:`s_i = e^{z_i} / \sum_j e^{z_j}`.

    Computed as :math:`e^{z_i - m} / \sum_j e^{z_j - m}` with :math:`m = \max_j z_j`, which is
    the same number (numerator and denominator share the factor :math:`e^{-m}`) but never
    overflows: logits like :math:`\pm 1000` give exact, finite probabilities and no warning.
    Derived in chapter 3.

    Parameters
    ----------
    z : array_like of shape (..., n)
        Logits; each slice along the last axis is one vector (one row of a batch).

    Returns
    -------
    numpy.ndarray of shape (..., n)
        Probabilities: entries in :math:`[0, 1]`, each slice along the last axis sums to 1.

    See Also
    --------
    log_softmax : its logarithm, computed without taking ``log`` of a rounded-to-zero probability.

    Examples
    --------
    >>> softmax([[1000.0, 1000.0], [0.0, -1000.0]])
    array([[0.5, 0.5],
           [1. , 0. ]])
    """
    return _softmax(_check_last_axis(z, "z"))


def log_softmax(z: np.ndarray) -> np.ndarray:
    r"""Logarithm of :func:`softmax` along the last axis: :math:`z_i - \log \sum_j e^{z_j}`.

    Computed as :math:`(z_i - m) - \log \sum_j e^{z_j - m}` with :math:`m = \max_j z_j`
    (the log-sum-exp trick), so it stays finite and exact where ``np.log(softmax(z))`` would
    give ``-inf``: at ``z = [0, -1000]`` the result is ``[0, -1000]``. Derived in chapter 3.

    Parameters
    ----------
    z : array_like of shape (..., n)
        Logits.

    Returns
    -------
    numpy.ndarray of shape (..., n)
        Log-probabilities (all :math:`\le 0`).

    Examples
    --------
    >>> log_softmax([[0.0, -1000.0]])
    array([[    0., -1000.]])
    """
    return _log_softmax(_check_last_axis(z, "z"))


def softmax_jacobian_from_probs(s: np.ndarray) -> np.ndarray:
    r"""Jacobian of softmax written with its output: :math:`J = \operatorname{diag}(s) - s s^\top`.

    Entry :math:`J_{ij} = \partial s_i / \partial z_j = s_i(\delta_{ij} - s_j)`; the matrix is
    symmetric and every row sums to 0. Derived in chapter 3.

    Parameters
    ----------
    s : array_like of shape (n,) or (batch, n)
        Softmax **probabilities** (the output of :func:`softmax`). For logits use
        :func:`softmax_jacobian`.

    Returns
    -------
    numpy.ndarray of shape (n, n) or (batch, n, n)
        One Jacobian per row of ``s``.

    Examples
    --------
    >>> softmax_jacobian_from_probs([0.5, 0.5])
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    arr = _check_last_axis(s, "s")
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"s must be a 1-D array of shape (n,) or a 2-D array of shape (batch, n); got shape {arr.shape}"
        )
    jac = -arr[..., :, None] * arr[..., None, :]
    i = np.arange(arr.shape[-1])
    jac[..., i, i] += arr
    return jac


def softmax_jacobian(z: np.ndarray) -> np.ndarray:
    r"""Jacobian of softmax at the logits ``z``: :math:`J = \operatorname{diag}(s) - s s^\top`.

    Here :math:`s = \operatorname{softmax}(z)`. This function takes **logits**;
    :func:`softmax_jacobian_from_probs` takes the probabilities ``s`` instead. Forming ``J``
    costs :math:`n^2` numbers per row; to backpropagate use :func:`softmax_vjp`, which never
    forms it. Derived in chapter 3.

    Parameters
    ----------
    z : array_like of shape (n,) or (batch, n)
        Logits, one vector per row.

    Returns
    -------
    numpy.ndarray of shape (n, n) or (batch, n, n)
        ``J[..., i, j]`` is :math:`\partial s_i / \partial z_j`.

    Examples
    --------
    >>> softmax_jacobian([0.0, 0.0])
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    arr = _check_last_axis(z, "z")
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"z must be a 1-D array of shape (n,) or a 2-D array of shape (batch, n); got shape {arr.shape}"
        )
    return softmax_jacobian_from_probs(_softmax(arr))


def softmax_vjp(s: np.ndarray, g: np.ndarray) -> np.ndarray:
    r"""Backpropagate ``g`` through softmax, Jacobian-free: :math:`s \odot (g - (g \cdot s)\mathbf{1})`.

    With :math:`J = \operatorname{diag}(s) - s s^\top` (symmetric), the gradient with respect
    to the logits is :math:`J^\top g = s \odot g - s\,(s^\top g)`: :math:`O(n)` work per row
    instead of :math:`O(n^2)`. Derived in chapter 3.

    Parameters
    ----------
    s : array_like of shape (..., n)
        Softmax **probabilities** (the forward output).
    g : array_like of shape (..., n)
        Upstream gradient :math:`\partial L / \partial s`, same shape as ``s``.

    Returns
    -------
    numpy.ndarray of shape (..., n)
        :math:`\partial L / \partial z`, row by row.

    Examples
    --------
    >>> softmax_vjp([0.5, 0.5], [1.0, 0.0])
    array([ 0.25, -0.25])
    """
    s_arr = _check_last_axis(s, "s")
    g_arr = _check(g, "g")
    check_same_shape(s_arr, g_arr, "s", "g")
    return _softmax_vjp(s_arr, g_arr)


def log_softmax_vjp(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    r"""Backpropagate ``g`` through log-softmax: :math:`g - s \,(\mathbf{1}^\top g)`, :math:`s = e^{y}`.

    The Jacobian of :math:`y = \operatorname{log\_softmax}(z)` is :math:`I - \mathbf{1} s^\top`,
    so :math:`J^\top g = g - s \sum_i g_i`. Derived in chapter 3.

    Parameters
    ----------
    y : array_like of shape (..., n)
        Log-probabilities (the forward output of :func:`log_softmax`).
    g : array_like of shape (..., n)
        Upstream gradient :math:`\partial L / \partial y`.

    Returns
    -------
    numpy.ndarray of shape (..., n)
        :math:`\partial L / \partial z`.

    Examples
    --------
    >>> log_softmax_vjp(np.log([0.5, 0.5]), [1.0, 0.0])
    array([ 0.5, -0.5])
    """
    y_arr = _check_last_axis(y, "y")
    g_arr = _check(g, "g")
    check_same_shape(y_arr, g_arr, "y", "g")
    return _log_softmax_vjp(y_arr, g_arr)


# ---------------------------------------------------------------------------
# registry used by mlmath.layers.Activation
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivationFunction:
    r"""An activation with its forward map and its backward rule, as used by a layer.

    Attributes
    ----------
    name : str
        The registry name, e.g. ``"relu"``.
    forward : callable ``(Z) -> A``
        The activation (unchecked input: a finite float array).
    backward : callable ``(Z, A, dA) -> dZ``
        The vector-Jacobian product: given the forward input ``Z``, its output ``A`` and the
        upstream gradient ``dA`` (all the same shape), returns :math:`\partial L / \partial Z`.
        Elementwise activations return ``dA * f'(Z)``; softmax returns :func:`softmax_vjp`.
    elementwise : bool
        False for softmax and log-softmax, which mix the entries of a row.
    """

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    elementwise: bool = True


_REGISTRY: dict[str, ActivationFunction] = {
    "linear": ActivationFunction("linear", lambda z: z, lambda z, a, g: g),
    "relu": ActivationFunction("relu", _relu, lambda z, a, g: g * (z > 0)),
    "sigmoid": ActivationFunction("sigmoid", _sigmoid, lambda z, a, g: g * (a * (1 - a))),
    "tanh": ActivationFunction("tanh", np.tanh, lambda z, a, g: g * (1 - a * a)),
    "softmax": ActivationFunction("softmax", _softmax, lambda z, a, g: _softmax_vjp(a, g), elementwise=False),
    "log_softmax": ActivationFunction(
        "log_softmax", _log_softmax, lambda z, a, g: _log_softmax_vjp(a, g), elementwise=False
    ),
}


def get(identifier: str | ActivationFunction) -> ActivationFunction:
    """Look up an activation by name (case-insensitive), as ``Activation(name)`` does.

    Parameters
    ----------
    identifier : str or ActivationFunction
        One of ``"linear"``, ``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"softmax"``,
        ``"log_softmax"``; an :class:`ActivationFunction` is returned unchanged.

    Returns
    -------
    ActivationFunction

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    TypeError
        For anything that is neither a string nor an :class:`ActivationFunction`.

    Examples
    --------
    >>> act = get("relu")
    >>> act.forward(np.array([-1.0, 2.0]))
    array([0., 2.])
    """
    if isinstance(identifier, ActivationFunction):
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(
            "activation must be a name such as 'relu' or an ActivationFunction; "
            f"got {type(identifier).__name__}"
        )
    key = identifier.lower()
    if key not in _REGISTRY:
        known = ", ".join(repr(k) for k in _REGISTRY)
        raise ValueError(f"unknown activation {identifier!r}; known activations: {known}")
    return _REGISTRY[key]


# ---------------------------------------------------------------------------
# second derivatives (the R-operator of chapter 5 needs them)
# ---------------------------------------------------------------------------


def sigmoid_second_derivative(z: np.ndarray) -> np.ndarray:
    r"""Second derivative of :func:`sigmoid` at ``z``, elementwise: :math:`\sigma(1 - \sigma)(1 - 2\sigma)`.

    Differentiating :math:`\sigma' = \sigma(1 - \sigma)` once more gives
    :math:`\sigma'' = \sigma'(1 - \sigma) - \sigma\sigma' = \sigma'(1 - 2\sigma)`: positive for
    :math:`z < 0`, zero at :math:`z = 0`, negative for :math:`z > 0`. The exact Hessian-vector
    product of a network (:meth:`mlmath.models.Sequential.hessian_vector_product`) uses it.
    Derived in chapter 5.

    Parameters
    ----------
    z : array_like of any shape
        The **input** of the sigmoid.

    Returns
    -------
    numpy.ndarray of the same shape as ``z``, values in :math:`[-\sqrt{3}/18, \sqrt{3}/18]`

    Examples
    --------
    >>> sigmoid_second_derivative([0.0])
    array([0.])
    >>> np.round(sigmoid_second_derivative([-1.0, 1.0]), 6)
    array([ 0.090858, -0.090858])
    """
    s = _sigmoid(_check(z, "z"))
    return s * (1 - s) * (1 - 2 * s)


def tanh_second_derivative(z: np.ndarray) -> np.ndarray:
    r"""Second derivative of :func:`tanh` at ``z``, elementwise: :math:`-2\tanh z\,(1 - \tanh^2 z)`.

    Differentiating :math:`\tanh' = 1 - \tanh^2` once more gives
    :math:`\tanh'' = -2\tanh\cdot\tanh'`. The exact Hessian-vector product of a network
    (:meth:`mlmath.models.Sequential.hessian_vector_product`) uses it. Derived in chapter 5.

    Parameters
    ----------
    z : array_like of any shape
        The **input** of tanh.

    Returns
    -------
    numpy.ndarray of the same shape as ``z``, values in :math:`[-4\sqrt{3}/9, 4\sqrt{3}/9]`

    Examples
    --------
    >>> tanh_second_derivative([0.0])
    array([0.])
    >>> np.round(tanh_second_derivative([-1.0, 1.0]), 6)
    array([ 0.6397, -0.6397])
    """
    t = np.tanh(_check(z, "z"))
    return -2 * t * (1 - t * t)
