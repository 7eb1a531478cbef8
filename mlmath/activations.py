r"""Activation functions, their derivatives, Jacobians and vector-Jacobian products.

Derived in chapter 3. Every function acts elementwise except :func:`softmax` and
:func:`log_softmax`, which act along the **last axis**, so a batch ``Z`` of shape
``(batch, n)`` holds one vector of logits per row.

Naming: ``z`` is the input of an activation (the pre-activation, or logits), ``a`` or ``s`` its
output (``s`` for softmax probabilities), ``g`` an upstream gradient
:math:`\partial L / \partial a`. A *VJP* (vector-Jacobian product) returns
:math:`g^\top J`, the gradient :math:`\partial L / \partial z`, without forming :math:`J`.

The public functions check their input (finite, real) and call the one kernel of each rule:
the :class:`ActivationFunction` objects (:data:`RELU`, :data:`SIGMOID`, ...) returned by
:func:`get`, which own :math:`f`, :math:`f'` and :math:`f''` and the layer's rules derived from
them, unchecked, for the training loop of :class:`mlmath.layers.Activation`. A new activation
is one such object (chapter 4 builds the softplus).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlmath._validation import as_float_array, check_same_shape, check_str, lookup

__all__ = [
    "LINEAR",
    "LOG_SOFTMAX",
    "RELU",
    "SIGMOID",
    "SOFTMAX",
    "TANH",
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
    return RELU.derivative(arr, _relu(arr)).astype(arr.dtype)


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
    z = _check(z, "z")
    return SIGMOID.derivative(z, _sigmoid(z))


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
    z = _check(z, "z")
    return TANH.derivative(z, np.tanh(z))


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
# activation objects: each owns its f, f', f'' and its R-operator rules
# ---------------------------------------------------------------------------

_Derivative = Callable[[np.ndarray, np.ndarray], np.ndarray]
_SecondDerivative = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class ActivationFunction:
    r"""An elementwise activation :math:`a = f(z)` together with :math:`f'` and :math:`f''`.

    Everything a layer and the exact Hessian-vector product need follows from these three
    functions, so a new activation is one object: the backward pass (a vector-Jacobian product)
    :math:`dz = f'(z) \odot da`, the forward R-operator :math:`R\{a\} = f'(z) \odot R\{z\}`, and
    the backward R-operator :math:`R\{dz\} = f''(z) \odot R\{z\} \odot da + f'(z) \odot R\{da\}`
    (chapters 4 and 5). :class:`mlmath.layers.Activation` calls the methods below and nothing else.

    Parameters
    ----------
    name : str
        A name for messages and :func:`get`, e.g. ``"softplus"``.
    forward : callable ``(z) -> a``
        :math:`f`, applied to a finite float array, returning an array of its shape.
    derivative : callable ``(z, a) -> f'(z)``
        :math:`f'` at the input ``z``; ``a = f(z)`` is passed too, since many derivatives are
        cheapest from the output (:math:`\sigma' = a(1 - a)`, :math:`\tanh' = 1 - a^2`).
    second_derivative : callable ``(z, a, d1) -> f''(z)``, 0, or None
        :math:`f''` at ``z``, given ``a`` and ``d1 = f'(z)``; ``0`` for piecewise-linear
        activations (linear, relu: :math:`f'' = 0` almost everywhere); ``None`` if unknown, in
        which case the activation works everywhere except in exact Hessian-vector products.

    Examples
    --------
    The softplus :math:`f(z) = \log(1 + e^z)` has :math:`f' = \sigma` and :math:`f'' = \sigma(1 - \sigma)`:

    >>> softplus = ActivationFunction("softplus", lambda z: np.logaddexp(0, z),
    ...                               lambda z, a: sigmoid(z), lambda z, a, d1: d1 * (1 - d1))
    >>> softplus.backward(np.zeros(2), softplus.forward(np.zeros(2)), np.ones(2))
    array([0.5, 0.5])
    """

    elementwise = True

    def __init__(
        self,
        name: str,
        forward: Callable[[np.ndarray], np.ndarray],
        derivative: _Derivative,
        second_derivative: _SecondDerivative | int | None = None,
    ) -> None:
        check_str(name, "name")
        for arg, value in (("forward", forward), ("derivative", derivative)):
            if not callable(value):
                raise TypeError(f"{arg} must be callable; got {type(value).__name__}")
        zero = type(second_derivative) is int and second_derivative == 0  # not False, 0.0 or an array
        if not (second_derivative is None or zero or callable(second_derivative)):
            raise TypeError(f"second_derivative must be callable, 0 or None; got {second_derivative!r}")
        self.name = name
        self.forward = forward
        self.derivative = derivative
        self.second_derivative = second_derivative

    @property
    def supports_hvp(self) -> bool:
        """Whether :math:`f''` is known, so the R-operator rules below can run."""
        return self.second_derivative is not None

    def curvature(self, z: np.ndarray, a: np.ndarray, d1: np.ndarray) -> np.ndarray | None:
        """:math:`f''(z)`, or ``None`` where it is identically 0."""
        if self.second_derivative is None:
            raise TypeError(f"activation {self.name!r} has no second_derivative, which Hessian products need")
        if not callable(self.second_derivative):
            return None
        return self.second_derivative(z, a, d1)

    def backward(self, z: np.ndarray, a: np.ndarray, g: np.ndarray) -> np.ndarray:
        r"""The vector-Jacobian product :math:`dz = f'(z) \odot g` (unchecked)."""
        return g * self.derivative(z, a)

    def r_forward(self, z: np.ndarray, a: np.ndarray, rz: np.ndarray) -> tuple[np.ndarray, object]:
        r""":math:`R\{a\} = f'(z) \odot R\{z\}`, and what :meth:`r_backward` needs (here :math:`f'(z)`)."""
        d1 = self.derivative(z, a)
        return rz * d1, d1

    def r_backward(
        self, z: np.ndarray, a: np.ndarray, rz: np.ndarray, ra: np.ndarray, saved: object, GG: np.ndarray
    ) -> np.ndarray:
        r"""``[R{dz}, dz]`` from ``GG = [R{g}, g]``, in place:

        .. math:: dz = f'(z) \odot g, \qquad R\{dz\} = f''(z) \odot R\{z\} \odot g + f'(z) \odot R\{g\}.
        """
        d1 = saved if isinstance(saved, np.ndarray) else self.derivative(z, a)
        d2 = self.curvature(z, a, d1)
        term = None if d2 is None else d2 * rz * GG[1]
        GG *= d1
        if term is not None:
            GG[0] += term
        return GG

    def __reduce__(self) -> str | tuple[object, ...]:
        """A built-in activation copies and pickles as itself (:data:`SOFTMAX` stays :data:`SOFTMAX`).

        The losses recognize the final activation they fuse with by identity, so a copied model
        must keep the very objects; an activation of one's own copies as any object does.
        """
        if _REGISTRY.get(self.name) is self:
            return (get, (self.name,))
        return super().__reduce__()

    def __repr__(self) -> str:
        return f"ActivationFunction({self.name!r})"


class _RowActivation(ActivationFunction):
    """An activation that mixes the entries of a row (softmax, log-softmax): its own rules."""

    elementwise = False

    def __init__(self, name: str, forward: Callable[[np.ndarray], np.ndarray]) -> None:
        super().__init__(name, forward, self._no_elementwise_derivative, 0)

    def _no_elementwise_derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        raise TypeError(f"{self.name} acts on whole rows; it has a Jacobian per row, not an elementwise derivative")


class _Softmax(_RowActivation):
    r"""Softmax along the last axis, with its row-wise rules.

    Chapter 3 derives its Jacobian :math:`J = \operatorname{diag}(s) - ss^\top`.
    """

    def __init__(self) -> None:
        super().__init__("softmax", _softmax)

    def backward(self, z: np.ndarray, a: np.ndarray, g: np.ndarray) -> np.ndarray:
        return _softmax_vjp(a, g)

    def r_forward(self, z: np.ndarray, a: np.ndarray, rz: np.ndarray) -> tuple[np.ndarray, object]:
        r""":math:`R\{s\} = J R\{z\} = s \odot (R\{z\} - (s^\top R\{z\})\mathbf{1})` (J is symmetric)."""
        return _softmax_vjp(a, rz), None

    def r_backward(
        self, z: np.ndarray, a: np.ndarray, rz: np.ndarray, ra: np.ndarray, saved: object, GG: np.ndarray
    ) -> np.ndarray:
        r"""From :math:`dz = s \odot (g - c\mathbf{1})`, :math:`c = g^\top s`, row by row:

        .. math::

            R\{dz\} = R\{s\} \odot (g - c\mathbf{1}) + s \odot (R\{g\} - R\{c\}\mathbf{1}),
            \qquad R\{c\} = R\{g\}^\top s + g^\top R\{s\}.
        """
        Rg, g = GG
        g_c = g - (g * a).sum(axis=-1, keepdims=True)
        Rc = (Rg * a).sum(axis=-1, keepdims=True)
        Rc += (g * ra).sum(axis=-1, keepdims=True)
        Rg -= Rc
        Rg *= a
        Rg += ra * g_c
        np.multiply(a, g_c, out=g)
        return GG


class _LogSoftmax(_RowActivation):
    r"""Log-softmax along the last axis: Jacobian :math:`I - \mathbf{1}s^\top`, :math:`s = e^{y}`."""

    def __init__(self) -> None:
        super().__init__("log_softmax", _log_softmax)

    def backward(self, z: np.ndarray, a: np.ndarray, g: np.ndarray) -> np.ndarray:
        return _log_softmax_vjp(a, g)

    def r_forward(self, z: np.ndarray, a: np.ndarray, rz: np.ndarray) -> tuple[np.ndarray, object]:
        r""":math:`R\{y\} = R\{z\} - (s^\top R\{z\})\mathbf{1}`."""
        return rz - (np.exp(a) * rz).sum(axis=-1, keepdims=True), None

    def r_backward(
        self, z: np.ndarray, a: np.ndarray, rz: np.ndarray, ra: np.ndarray, saved: object, GG: np.ndarray
    ) -> np.ndarray:
        r"""From :math:`dz = g - s\,(\mathbf{1}^\top g)`:
        :math:`R\{dz\} = R\{g\} - s\,(\mathbf{1}^\top R\{g\}) - (s \odot R\{y\})(\mathbf{1}^\top g)`.
        """
        Rg, g = GG
        S = np.exp(a)
        g_sum = g.sum(axis=-1, keepdims=True)
        Rg -= S * Rg.sum(axis=-1, keepdims=True)
        Rg -= S * ra * g_sum
        g -= S * g_sum
        return GG


LINEAR = ActivationFunction("linear", lambda z: z, lambda z, a: np.ones_like(z), 0)
RELU = ActivationFunction("relu", _relu, lambda z, a: z > 0, 0)
SIGMOID = ActivationFunction("sigmoid", _sigmoid, lambda z, a: a * (1 - a), lambda z, a, d1: d1 * (1 - 2 * a))
TANH = ActivationFunction("tanh", np.tanh, lambda z, a: 1 - a * a, lambda z, a, d1: -2 * a * d1)
SOFTMAX: ActivationFunction = _Softmax()
LOG_SOFTMAX: ActivationFunction = _LogSoftmax()

_REGISTRY: dict[str, ActivationFunction] = {f.name: f for f in (LINEAR, RELU, SIGMOID, TANH, SOFTMAX, LOG_SOFTMAX)}


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
    return lookup(_REGISTRY, identifier, "activation")


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
    return _second_derivative(SIGMOID, _check(z, "z"))


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
    return _second_derivative(TANH, _check(z, "z"))


def _second_derivative(f: ActivationFunction, z: np.ndarray) -> np.ndarray:
    a = f.forward(z)
    out = f.curvature(z, a, f.derivative(z, a))
    return np.zeros_like(z) if out is None else out
