r"""Loss functions with their gradients with respect to the prediction.

Derived in chapter 3 (the gradients) and chapter 11 (where the losses come from: maximum
likelihood). Each function takes the targets first and the prediction second, as Keras does,
and returns ``(value, gradient)``: the loss as a Python ``float`` and
:math:`\partial L / \partial P` with the shape of ``P``.

Reductions follow Keras, and they set the gradient's scale. With a batch of :math:`m` rows of
:math:`n` outputs each (an array of shape ``(m, n)``; an array of shape ``(n,)`` is one row):

- mean squared error: mean over the outputs, then mean over the batch, i.e. the mean of all
  :math:`mn` squared errors;
- categorical cross-entropy: sum over the classes, then mean over the batch;
- binary cross-entropy: mean over the outputs, then mean over the batch.

The classes (:class:`MeanSquaredError`, :class:`CategoricalCrossentropy`,
:class:`BinaryCrossentropy`) wrap these functions with Keras's names for
:meth:`mlmath.models.Sequential.compile`; ``loss(y_true, y_pred)`` returns the value.

:func:`entropy`, :func:`cross_entropy` and :func:`kl_divergence` are the information measures
of chapter 11: they take whole probability distributions (along ``axis``), return one value per
distribution and no gradient, and are exact (no clipping; ``inf`` where the math says so).
"""

from __future__ import annotations

import numpy as np

from mlmath._validation import ONE_HOT_HINT, as_float_array, check_bool, check_in_range, lookup
from mlmath.activations import LOG_SOFTMAX, SIGMOID, SOFTMAX, ActivationFunction

__all__ = [
    "EPSILON",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Loss",
    "MeanSquaredError",
    "binary_crossentropy",
    "binary_crossentropy_from_logits",
    "categorical_crossentropy",
    "categorical_crossentropy_from_logits",
    "cross_entropy",
    "entropy",
    "get",
    "kl_divergence",
    "mean_squared_error",
]

EPSILON = 1e-7
"""Clipping constant of the cross-entropies on probabilities (Keras's ``backend.epsilon()``)."""


# ---------------------------------------------------------------------------
# checks (private helpers of this module)
# ---------------------------------------------------------------------------


def _check_pair(Y: object, P: object, name_y: str, name_p: str, *, hint: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Both arrays real, finite, at least 1-D, non-empty, of the same shape (no broadcasting)."""
    y = as_float_array(Y, name_y)
    p = as_float_array(P, name_p)
    for arr, name in ((y, name_y), (p, name_p)):
        if arr.ndim == 0 or arr.size == 0:
            raise ValueError(
                f"{name} must be a non-empty array of shape (batch, n_outputs) or (n_outputs,); got shape {arr.shape}"
            )
    if y.shape != p.shape:
        raise ValueError(
            f"{name_y} and {name_p} must have the same shape; got {name_y}.shape={y.shape} and "
            f"{name_p}.shape={p.shape}.{hint}"
        )
    return y, p


def _check_unit_interval(arr: np.ndarray, name: str, what: str, hint: str = "") -> None:
    if arr.size == 0:
        return
    low, high = float(arr.min()), float(arr.max())
    if low < 0 or high > 1:
        bad = low if low < 0 else high
        raise ValueError(f"{name} must hold {what} in [0, 1]; got a value {bad!r}.{hint}")


_ONE_HOT_HINT = " " + ONE_HOT_HINT


def _check_distributions(Y: np.ndarray, name: str) -> None:
    """Rows of Y must be probability distributions (one-hot labels are)."""
    _check_unit_interval(Y, name, "class probabilities", _ONE_HOT_HINT)
    sums = Y.sum(axis=-1)
    tol = 1e-6 if Y.dtype == np.float64 else 1e-4
    bad = np.flatnonzero(np.abs(sums - 1) > tol)
    if bad.size:
        row = int(bad[0])
        raise ValueError(
            f"{name} must be one-hot (or each row a probability distribution) for categorical "
            f"cross-entropy; row {row} sums to {float(sums.reshape(-1)[row])!r}.{_ONE_HOT_HINT}"
        )


def _rows(P: np.ndarray) -> int:
    """Number of vectors along the leading axes (the batch size m)."""
    return P.size // P.shape[-1]


# ---------------------------------------------------------------------------
# unchecked kernels
# ---------------------------------------------------------------------------


def _mse(Y: np.ndarray, P: np.ndarray) -> tuple[float, np.ndarray]:
    diff = P - Y
    value = float(np.vdot(diff, diff)) / diff.size
    diff *= 2 / diff.size
    return value, diff


def _cce(Y: np.ndarray, P: np.ndarray, epsilon: float = EPSILON) -> tuple[float, np.ndarray]:
    m = _rows(P)
    Pc = np.clip(P, epsilon, 1 - epsilon)
    value = -float(np.vdot(Y, np.log(Pc))) / m
    grad = -Y / Pc
    grad[Pc != P] = 0  # the clip is flat where it changed P
    grad /= m
    return value, grad


def _cce_logits(Y: np.ndarray, Z: np.ndarray) -> tuple[float, np.ndarray]:
    m = _rows(Z)
    value = -float(np.vdot(Y, LOG_SOFTMAX.forward(Z))) / m
    grad = SOFTMAX.forward(Z) * Y.sum(axis=-1, keepdims=True)
    grad -= Y
    grad /= m
    return value, grad


def _bce(Y: np.ndarray, P: np.ndarray, epsilon: float = EPSILON) -> tuple[float, np.ndarray]:
    Pc = np.clip(P, epsilon, 1 - epsilon)
    value = -float(np.sum(Y * np.log(Pc) + (1 - Y) * np.log(1 - Pc))) / P.size
    grad = (Pc - Y) / (Pc * (1 - Pc))  # = -Y/Pc + (1 - Y)/(1 - Pc)
    grad[Pc != P] = 0  # the clip is flat where it changed P
    grad /= P.size
    return value, grad


def _bce_logits(Y: np.ndarray, Z: np.ndarray) -> tuple[float, np.ndarray]:
    value = float(np.sum(np.maximum(Z, 0) - Z * Y + np.log1p(np.exp(-np.abs(Z))))) / Z.size
    grad = SIGMOID.forward(Z) - Y
    grad /= Z.size
    return value, grad


# ---------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------


def mean_squared_error(Y: np.ndarray, P: np.ndarray) -> tuple[float, np.ndarray]:
    r"""Mean squared error and its gradient with respect to the prediction ``P``.

    .. math::

        L = \frac{1}{m n} \sum_{k=1}^{m} \sum_{i=1}^{n} (P_{ki} - Y_{ki})^2, \qquad
        \frac{\partial L}{\partial P} = \frac{2}{m n} (P - Y),

    the mean over the :math:`n` outputs, then over the :math:`m` rows of the batch (Keras's
    reduction). Derived in chapter 3.

    Parameters
    ----------
    Y : array_like of shape (m, n) or (n,)
        Targets.
    P : array_like of the same shape as ``Y``
        Predictions.

    Returns
    -------
    value : float
    gradient : numpy.ndarray of the shape of ``P``

    Raises
    ------
    ValueError
        If the shapes differ (no broadcasting) or a value is NaN or infinite.

    Examples
    --------
    >>> value, grad = mean_squared_error([[1.0, 0.0]], [[0.5, 0.5]])
    >>> value
    0.25
    >>> grad
    array([[-0.5,  0.5]])
    """
    y, p = _check_pair(Y, P, "Y", "P")
    return _mse(y, p)


def categorical_crossentropy(Y: np.ndarray, P: np.ndarray, *, epsilon: float = EPSILON) -> tuple[float, np.ndarray]:
    r"""Categorical cross-entropy of probabilities ``P`` and its gradient with respect to ``P``.

    .. math::

        L = -\frac{1}{m} \sum_{k=1}^{m} \sum_{i=1}^{n} Y_{ki} \log \tilde P_{ki}, \qquad
        \frac{\partial L}{\partial P_{ki}} = -\frac{1}{m} \frac{Y_{ki}}{\tilde P_{ki}},

    where :math:`\tilde P = \operatorname{clip}(P, \epsilon, 1 - \epsilon)`, as Keras clips, so
    that :math:`\log 0` never occurs; the gradient is 0 where ``P`` lies outside
    :math:`[\epsilon, 1 - \epsilon]` (the clip is flat there). Unlike Keras, the rows of ``P``
    are not rescaled to sum to 1: pass probabilities, such as the output of
    :func:`mlmath.activations.softmax`. For logits use
    :func:`categorical_crossentropy_from_logits`, which is exact and needs no clipping.
    Derived in chapter 3; chapter 11 shows it is the negative log-likelihood.

    Parameters
    ----------
    Y : array_like of shape (m, n) or (n,)
        Targets in :math:`[0, 1]`, usually one-hot rows.
    P : array_like of the same shape as ``Y``
        Predicted probabilities in :math:`[0, 1]`.
    epsilon : float, default 1e-7
        The clipping constant :math:`\epsilon`.

    Returns
    -------
    value : float
    gradient : numpy.ndarray of the shape of ``P``

    Raises
    ------
    ValueError
        If the shapes differ, a value is not finite, or ``Y`` or ``P`` leave :math:`[0, 1]`.

    Examples
    --------
    >>> value, grad = categorical_crossentropy([[0.0, 1.0]], [[0.5, 0.5]])
    >>> round(value, 6)
    0.693147
    >>> grad
    array([[-0.,  -2.]])
    """
    y, p = _check_pair(Y, P, "Y", "P", hint=_ONE_HOT_HINT)
    _check_unit_interval(y, "Y", "class probabilities", _ONE_HOT_HINT)
    _check_unit_interval(
        p,
        "P",
        "probabilities",
        " If P holds logits, use categorical_crossentropy_from_logits (CategoricalCrossentropy(from_logits=True)).",
    )
    eps = check_in_range(epsilon, "epsilon", 0.0, 0.5, low_inclusive=False)
    return _cce(y, p, eps)


def categorical_crossentropy_from_logits(Y: np.ndarray, Z: np.ndarray) -> tuple[float, np.ndarray]:
    r"""Softmax followed by categorical cross-entropy, fused; gradient with respect to the logits ``Z``.

    .. math::

        L = -\frac{1}{m} \sum_{k=1}^{m} \sum_{i=1}^{n} Y_{ki} \log \operatorname{softmax}(Z_{k})_i,
        \qquad
        \frac{\partial L}{\partial Z} = \frac{1}{m}\bigl(S \odot (Y\mathbf{1})\mathbf{1}^\top - Y\bigr)
        = \frac{1}{m}(S - Y),

    with :math:`S = \operatorname{softmax}(Z)` row by row; the last form holds when each row of
    ``Y`` sums to 1 (one-hot labels): the famous :math:`p - y`. The value uses
    :func:`mlmath.activations.log_softmax`, so it is exact even for logits like
    :math:`\pm 1000`. Derived in chapter 3.

    Parameters
    ----------
    Y : array_like of shape (m, n) or (n,)
        Targets in :math:`[0, 1]`, usually one-hot rows.
    Z : array_like of the same shape as ``Y``
        Logits (any real numbers).

    Returns
    -------
    value : float
    gradient : numpy.ndarray of the shape of ``Z``

    Examples
    --------
    >>> value, grad = categorical_crossentropy_from_logits([[0.0, 1.0]], [[0.0, 0.0]])
    >>> round(value, 6)
    0.693147
    >>> grad
    array([[ 0.5, -0.5]])
    """
    y, z = _check_pair(Y, Z, "Y", "Z", hint=_ONE_HOT_HINT)
    _check_unit_interval(y, "Y", "class probabilities", _ONE_HOT_HINT)
    return _cce_logits(y, z)


def binary_crossentropy(Y: np.ndarray, P: np.ndarray, *, epsilon: float = EPSILON) -> tuple[float, np.ndarray]:
    r"""Binary cross-entropy of probabilities ``P`` and its gradient with respect to ``P``.

    .. math::

        L = -\frac{1}{mn} \sum_{k,i} \bigl(Y_{ki} \log \tilde P_{ki} + (1 - Y_{ki}) \log(1 - \tilde P_{ki})\bigr),
        \qquad
        \frac{\partial L}{\partial P} = \frac{1}{mn} \, \frac{\tilde P - Y}{\tilde P (1 - \tilde P)},

    with :math:`\tilde P = \operatorname{clip}(P, \epsilon, 1 - \epsilon)` as in Keras (gradient
    0 where the clip is active); mean over the outputs, then over the batch. Derived in chapter 11.

    Parameters
    ----------
    Y : array_like of shape (m, n) or (n,)
        Targets in :math:`[0, 1]`.
    P : array_like of the same shape as ``Y``
        Predicted probabilities in :math:`[0, 1]`.
    epsilon : float, default 1e-7

    Returns
    -------
    value : float
    gradient : numpy.ndarray of the shape of ``P``

    Examples
    --------
    >>> value, grad = binary_crossentropy([[1.0]], [[0.5]])
    >>> round(value, 6)
    0.693147
    >>> grad
    array([[-2.]])
    """
    y, p = _check_pair(Y, P, "Y", "P")
    _check_unit_interval(y, "Y", "targets")
    _check_unit_interval(
        p,
        "P",
        "probabilities",
        " If P holds logits, use binary_crossentropy_from_logits (BinaryCrossentropy(from_logits=True)).",
    )
    eps = check_in_range(epsilon, "epsilon", 0.0, 0.5, low_inclusive=False)
    return _bce(y, p, eps)


def binary_crossentropy_from_logits(Y: np.ndarray, Z: np.ndarray) -> tuple[float, np.ndarray]:
    r"""Sigmoid followed by binary cross-entropy, fused; gradient with respect to the logits ``Z``.

    .. math::

        L = \frac{1}{mn} \sum_{k,i} \bigl(\max(Z_{ki}, 0) - Z_{ki} Y_{ki} + \log(1 + e^{-|Z_{ki}|})\bigr),
        \qquad
        \frac{\partial L}{\partial Z} = \frac{1}{mn}\bigl(\sigma(Z) - Y\bigr),

    the same value as :func:`binary_crossentropy` of :math:`\sigma(Z)`, written so that no
    exponential overflows. Derived in chapter 11.

    Parameters
    ----------
    Y : array_like of shape (m, n) or (n,)
        Targets in :math:`[0, 1]`.
    Z : array_like of the same shape as ``Y``
        Logits.

    Returns
    -------
    value : float
    gradient : numpy.ndarray of the shape of ``Z``

    Examples
    --------
    >>> value, grad = binary_crossentropy_from_logits([[1.0]], [[0.0]])
    >>> round(value, 6)
    0.693147
    >>> grad
    array([[-0.5]])
    """
    y, z = _check_pair(Y, Z, "Y", "Z")
    _check_unit_interval(y, "Y", "targets")
    return _bce_logits(y, z)


# ---------------------------------------------------------------------------
# Keras-style classes
# ---------------------------------------------------------------------------


class Loss:
    r"""Base class of the loss objects given to :meth:`mlmath.models.Sequential.compile`.

    A loss object is called as ``loss(y_true, y_pred)`` and returns the value (a ``float``);
    :meth:`gradient` returns :math:`\partial L / \partial` ``y_pred`` and
    :meth:`value_and_grad` both at once. All three check their inputs.

    **The protocol** the models and :mod:`mlmath.curvature` use, unchecked (the caller checked
    the targets once with :meth:`check_targets`, and predictions are finite float arrays of the
    targets' shape). A loss owns all its rules, so a new loss is one subclass:

    - :meth:`value_and_grad_unchecked` (required): :math:`L` and :math:`\partial L/\partial P`;
    - :meth:`hessian_vector_unchecked` (for exact Hessian-vector products): :math:`\nabla^2_P L\; R\{P\}`;
    - :meth:`fused_divisor` (optional): for a final activation whose Jacobian cancels against the
      loss's gradient (softmax with cross-entropy), the :math:`c` of the fused gradient
      :math:`(P - Y)/c` with respect to that activation's *input*.
    """

    name = "loss"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Return the loss value for targets ``y_true`` and prediction ``y_pred`` (same shape)."""
        return self.value_and_grad(y_true, y_pred)[0]

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Return the gradient of the loss with respect to ``y_pred``, of the shape of ``y_pred``."""
        return self.value_and_grad(y_true, y_pred)[1]

    def value_and_grad(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, np.ndarray]:
        """Return ``(value, gradient with respect to y_pred)``, after checking both arrays."""
        y, p = _check_pair(y_true, y_pred, "y_true", "y_pred")
        self.check_targets(y, "y_true")
        return self.value_and_grad_unchecked(y, p)

    def check_targets(self, Y: np.ndarray, name: str = "Y") -> None:
        """Raise ``ValueError`` (or ``TypeError``) if the targets ``Y`` do not suit this loss.

        Every loss wants finite real numbers, which is all this base method checks; a subclass
        checks more (one-hot rows, values in :math:`[0, 1]`). ``name`` is the targets' name in
        the messages.
        """
        as_float_array(Y, name)

    # -- protocol (unchecked) ------------------------------------------------------------------

    def value_and_grad_unchecked(self, Y: np.ndarray, P: np.ndarray) -> tuple[float, np.ndarray]:
        r""":math:`L(Y, P)` and :math:`\partial L/\partial P` for finite float arrays of one shape."""
        raise NotImplementedError(f"{type(self).__name__} must implement value_and_grad_unchecked(Y, P)")

    def hessian_vector_unchecked(self, Y: np.ndarray, P: np.ndarray, RP: np.ndarray) -> np.ndarray:
        r""":math:`R\{\partial L/\partial P\} = \nabla^2_P L\; R\{P\}`, the loss's rule in the exact HVP (chapter 5)."""
        raise NotImplementedError(f"{type(self).__name__} has no hessian_vector_unchecked(Y, P, RP)")

    @property
    def supports_hvp(self) -> bool:
        """Whether this loss's second-order rule :meth:`hessian_vector_unchecked` belongs to its value.

        False without the rule, and also for a subclass that redefines the value
        (``value_and_grad_unchecked``) below the class that wrote the rule: the inherited
        Hessian would then be that of another function.
        """
        mro = type(self).__mro__
        rule = next(i for i, cls in enumerate(mro) if "hessian_vector_unchecked" in vars(cls))
        value = next(i for i, cls in enumerate(mro) if "value_and_grad_unchecked" in vars(cls))
        return mro[rule] is not Loss and rule <= value

    def fused_divisor(self, activation: ActivationFunction, P: np.ndarray) -> int | None:
        r"""The :math:`c` of the fused gradient :math:`(P - Y)/c` below a final ``activation``, or ``None``.

        With a fused pair the backward pass starts at the activation's input with
        :math:`(P - Y)/c`, and the exact HVP with :math:`R\{P\}/c` (:math:`R` of a linear map).
        """
        return None

    def fused_gradient(self, activation: ActivationFunction, Y: np.ndarray, P: np.ndarray) -> np.ndarray | None:
        r"""Gradient with respect to the *input* of a final ``activation`` whose output is ``P``.

        ``None`` when this loss has no fused form for that activation.
        """
        c = self.fused_divisor(activation, P)
        if c is None:
            return None
        grad = P - Y
        grad /= c
        return grad

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MeanSquaredError(Loss):
    r"""Mean squared error, as :func:`mean_squared_error`: mean over outputs, then over the batch.

    Its Hessian in :math:`P` is :math:`\frac{2}{mn} I`, so :math:`R\{\partial L/\partial P\} = \frac{2}{mn} R\{P\}`.

    Examples
    --------
    >>> loss = MeanSquaredError()
    >>> loss([[1.0, 0.0]], [[0.5, 0.5]])
    0.25
    >>> loss.gradient([[1.0, 0.0]], [[0.5, 0.5]])
    array([[-0.5,  0.5]])
    """

    name = "mean_squared_error"

    def value_and_grad_unchecked(self, Y: np.ndarray, P: np.ndarray) -> tuple[float, np.ndarray]:
        return _mse(Y, P)

    def hessian_vector_unchecked(self, Y: np.ndarray, P: np.ndarray, RP: np.ndarray) -> np.ndarray:
        return RP * (2 / P.size)


class _ProbabilityLoss(Loss):
    """A cross-entropy on probabilities or, with ``from_logits=True``, on logits."""

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = check_bool(from_logits, "from_logits")

    def value_and_grad(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, np.ndarray]:
        """Return ``(value, gradient with respect to y_pred)`` (``y_pred`` logits if ``from_logits``)."""
        y, p = _check_pair(y_true, y_pred, "y_true", "y_pred", hint=self._hint)
        _check_unit_interval(y, "y_true", self._target_words, self._hint)
        if not self.from_logits:
            _check_unit_interval(p, "y_pred", "probabilities", " If y_pred holds logits, use from_logits=True.")
        return self.value_and_grad_unchecked(y, p)

    _hint = ""
    _target_words = "targets"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"


def _clip(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``P`` clipped to [EPSILON, 1 - EPSILON], and where the clip is active (the loss is flat there)."""
    Pc = np.clip(P, EPSILON, 1 - EPSILON)
    return Pc, Pc != P


class CategoricalCrossentropy(_ProbabilityLoss):
    r"""Categorical cross-entropy: :func:`categorical_crossentropy` or, with ``from_logits=True``,
    :func:`categorical_crossentropy_from_logits`.

    Parameters
    ----------
    from_logits : bool, default False
        False: ``y_pred`` holds probabilities (clipped to :math:`[10^{-7}, 1 - 10^{-7}]`).
        True: ``y_pred`` holds logits, and the softmax is applied inside the loss.

    Notes
    -----
    In :class:`mlmath.models.Sequential`, when the last layer is ``Activation('softmax')`` and
    ``from_logits=False``, training backpropagates the fused gradient :math:`(S - Y)/m` into the
    softmax's input instead of multiplying :math:`-Y/\tilde P` by the softmax Jacobian: the same
    number wherever no probability is clipped, cheaper, and without the clip's dead zone.
    Training targets must be one-hot rows (or rows of class probabilities).

    The Hessian in the prediction is diagonal on probabilities, :math:`\operatorname{diag}(Y/\tilde P^2)/m`
    (0 where the clip is active), and on logits, row by row, the softmax Jacobian
    :math:`(\operatorname{diag}(s) - ss^\top)\,(\mathbf{1}^\top y)/m`.

    Examples
    --------
    >>> loss = CategoricalCrossentropy(from_logits=True)
    >>> round(loss([[0.0, 1.0]], [[0.0, 0.0]]), 6)
    0.693147
    """

    name = "categorical_crossentropy"
    _hint = _ONE_HOT_HINT
    _target_words = "class probabilities"

    def check_targets(self, Y: np.ndarray, name: str = "Y") -> None:
        """Require rows of ``Y`` to be one-hot or probability distributions."""
        arr = as_float_array(Y, name)
        if arr.ndim == 0:
            raise ValueError(f"{name} must hold one row of class probabilities per sample; got a scalar {arr.item()!r}")
        _check_distributions(arr, name)

    def value_and_grad_unchecked(self, Y: np.ndarray, P: np.ndarray) -> tuple[float, np.ndarray]:
        return _cce_logits(Y, P) if self.from_logits else _cce(Y, P)

    def hessian_vector_unchecked(self, Y: np.ndarray, P: np.ndarray, RP: np.ndarray) -> np.ndarray:
        m = _rows(P)
        if self.from_logits:
            out = SOFTMAX.backward(P, SOFTMAX.forward(P), RP)  # the softmax Jacobian is symmetric
            out *= Y.sum(axis=-1, keepdims=True) / m
            return out
        Pc, flat = _clip(P)
        out = Y * RP / (Pc * Pc)
        out[flat] = 0
        out /= m
        return out

    def fused_divisor(self, activation: ActivationFunction, P: np.ndarray) -> int | None:
        return _rows(P) if activation is SOFTMAX and not self.from_logits else None


class BinaryCrossentropy(_ProbabilityLoss):
    r"""Binary cross-entropy: :func:`binary_crossentropy` or, with ``from_logits=True``,
    :func:`binary_crossentropy_from_logits`.

    Parameters
    ----------
    from_logits : bool, default False
        False: ``y_pred`` holds probabilities. True: ``y_pred`` holds logits.

    Notes
    -----
    In :class:`mlmath.models.Sequential`, after a final ``Activation('sigmoid')`` with
    ``from_logits=False``, training backpropagates the fused gradient :math:`(\sigma(Z) - Y)/(mn)`.
    The Hessian in the prediction is diagonal: :math:`(Y/\tilde P^2 + (1 - Y)/(1 - \tilde P)^2)/(mn)`
    on probabilities (0 where the clip is active), :math:`\sigma'(Z)/(mn)` on logits.

    Examples
    --------
    >>> loss = BinaryCrossentropy()
    >>> round(loss([[1.0, 0.0]], [[0.5, 0.5]]), 6)
    0.693147
    """

    name = "binary_crossentropy"

    def check_targets(self, Y: np.ndarray, name: str = "Y") -> None:
        """Require targets in :math:`[0, 1]`."""
        _check_unit_interval(as_float_array(Y, name), name, "targets")

    def value_and_grad_unchecked(self, Y: np.ndarray, P: np.ndarray) -> tuple[float, np.ndarray]:
        return _bce_logits(Y, P) if self.from_logits else _bce(Y, P)

    def hessian_vector_unchecked(self, Y: np.ndarray, P: np.ndarray, RP: np.ndarray) -> np.ndarray:
        if self.from_logits:
            out = SIGMOID.derivative(P, SIGMOID.forward(P)) * RP
        else:
            Pc, flat = _clip(P)
            out = (Y / (Pc * Pc) + (1 - Y) / ((1 - Pc) * (1 - Pc))) * RP
            out[flat] = 0
        out /= P.size
        return out

    def fused_divisor(self, activation: ActivationFunction, P: np.ndarray) -> int | None:
        return P.size if activation is SIGMOID and not self.from_logits else None


_NAMES = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
}


def get(identifier: str | Loss) -> Loss:
    """Return a loss object from a name, or the given :class:`Loss` unchanged.

    Parameters
    ----------
    identifier : str or Loss
        ``"mse"``, ``"mean_squared_error"``, ``"categorical_crossentropy"``,
        ``"binary_crossentropy"`` (case-insensitive; the cross-entropies expect probabilities),
        or a :class:`Loss` instance.

    Returns
    -------
    Loss

    Examples
    --------
    >>> get("mse")
    MeanSquaredError()
    """
    if isinstance(identifier, Loss):
        return identifier
    return lookup(_NAMES, identifier, "loss", "a Loss instance such as MeanSquaredError()")()


# ---------------------------------------------------------------------------
# information measures between probability distributions
# ---------------------------------------------------------------------------


def _check_axis(axis: object, arr: np.ndarray, name: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise TypeError(f"axis must be an integer; got {type(axis).__name__} {axis!r}")
    ndim = arr.ndim
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis must lie in [{-ndim}, {ndim}) for {name} of shape {arr.shape}; got {axis}")
    return int(axis) % ndim


def _probability_vectors(x: object, name: str, axis: object) -> tuple[np.ndarray, int]:
    """``x`` as a float array whose slices along ``axis`` are probability distributions."""
    arr = as_float_array(x, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must be a probability vector (at least 1-D); got a scalar {arr.item()!r}")
    ax = _check_axis(axis, arr, name)
    if arr.shape[ax] == 0:
        raise ValueError(f"{name} must have at least one entry along axis {ax}; got shape {arr.shape}")
    negative = np.argwhere(arr < 0)
    if negative.size:
        first = tuple(int(i) for i in negative[0])
        raise ValueError(
            f"{name} must hold probabilities (entries >= 0); got {name}[{', '.join(map(str, first))}] "
            f"= {float(arr[first])!r}. For logits, use mlmath.activations.softmax first."
        )
    sums = arr.sum(axis=ax)
    tol = 1e-6 if arr.dtype == np.float64 else 1e-4
    off = np.abs(sums - 1) > tol
    if np.any(off):
        where = tuple(int(i) for i in np.argwhere(off)[0]) if off.ndim else ()
        index = [str(i) for i in where]
        index.insert(ax, ":")
        which = f"{name}[{', '.join(index)}]" if where else name
        raise ValueError(
            f"{name} must sum to 1 along axis {ax} (each slice is one distribution); {which} sums to "
            f"{float(sums[where])!r}. Normalise it first: {name} / {name}.sum(axis={ax}, keepdims=True)."
        )
    return arr, ax


def _log_where_positive(x: np.ndarray) -> np.ndarray:
    """``log x`` where ``x > 0`` and 0 elsewhere, without a divide-by-zero warning."""
    return np.log(np.where(x > 0, x, 1))


def entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    r"""Shannon entropy of probability distributions, in nats.

    .. math::

        H(p) = -\sum_{i=1}^{n} p_i \log p_i ,

    with :math:`0 \log 0 = 0` (the limit of :math:`t \log t` as :math:`t \to 0^+`), so a zero
    probability adds nothing and raises no warning. :math:`0 \le H(p) \le \log n`: 0 for a
    one-hot :math:`p`, :math:`\log n` for the uniform distribution. Divide by :math:`\log 2`
    for bits. Derived in chapter 11.

    Parameters
    ----------
    p : array_like of shape (..., n, ...)
        Each slice along ``axis`` is one distribution: entries :math:`\ge 0` summing to 1
        (within 1e-6 in float64, 1e-4 in float32).
    axis : int, default -1
        The axis that runs over the outcomes.

    Returns
    -------
    numpy.ndarray or numpy scalar
        The entropies, of the shape of ``p`` without ``axis``; a scalar for a 1-D ``p``.

    Raises
    ------
    ValueError
        If ``p`` holds a negative, NaN or infinite entry, or a slice does not sum to 1.

    See Also
    --------
    cross_entropy, kl_divergence

    Examples
    --------
    >>> print(round(float(entropy([0.25, 0.25, 0.25, 0.25])), 6))  # log 4
    1.386294
    >>> entropy([[1.0, 0.0], [0.5, 0.5]])
    array([0.        , 0.69314718])
    """
    arr, ax = _probability_vectors(p, "p", axis)
    return 0.0 - np.sum(arr * _log_where_positive(arr), axis=ax)  # 0.0 - x: no -0.0 for one-hot p


def _information_pair(p: object, q: object, axis: object) -> tuple[np.ndarray, np.ndarray, int]:
    p_arr, ax = _probability_vectors(p, "p", axis)
    q_arr = as_float_array(q, "q")
    if q_arr.shape != p_arr.shape:
        raise ValueError(
            f"p and q must have the same shape (no broadcasting); got p.shape={p_arr.shape} and q.shape={q_arr.shape}"
        )
    q_arr, _ = _probability_vectors(q_arr, "q", axis)
    return p_arr, q_arr, ax


def cross_entropy(p: np.ndarray, q: np.ndarray, axis: int = -1) -> np.ndarray:
    r"""Cross-entropy of a distribution ``q`` relative to a distribution ``p``, in nats.

    .. math::

        H(p, q) = -\sum_{i=1}^{n} p_i \log q_i = H(p) + D_{\mathrm{KL}}(p \,\|\, q),

    the average code length (in nats) when outcomes drawn from :math:`p` are coded with a code
    built for :math:`q`. Terms with :math:`p_i = 0` add nothing; where :math:`q_i = 0 < p_i` the
    cross-entropy is :math:`+\infty`, and that is returned (no warning). Derived in chapter 11.

    This is the information measure between two distributions, exact and per distribution.
    The training loss :func:`categorical_crossentropy` is the same sum averaged over a batch,
    with ``q`` clipped to :math:`[\epsilon, 1 - \epsilon]` so that it stays finite, and it
    returns a gradient too.

    Parameters
    ----------
    p : array_like of shape (..., n, ...)
        The true distributions, each slice along ``axis`` non-negative and summing to 1.
    q : array_like of the same shape as ``p``
        The model's distributions, likewise.
    axis : int, default -1
        The axis that runs over the outcomes.

    Returns
    -------
    numpy.ndarray or numpy scalar
        The cross-entropies (possibly ``inf``), of the shape of ``p`` without ``axis``.

    Raises
    ------
    ValueError
        If a shape differs, or ``p`` or ``q`` is not a probability vector along ``axis``.

    Examples
    --------
    >>> print(round(float(cross_entropy([0.0, 1.0], [0.5, 0.5])), 6))  # log 2
    0.693147
    >>> cross_entropy([[0.5, 0.5]], [[1.0, 0.0]])
    array([inf])
    """
    p_arr, q_arr, ax = _information_pair(p, q, axis)
    impossible = np.any((p_arr > 0) & (q_arr == 0), axis=ax)
    value = 0.0 - np.sum(p_arr * _log_where_positive(q_arr), axis=ax)
    return np.where(impossible, np.inf, value)[()]


def kl_divergence(p: np.ndarray, q: np.ndarray, axis: int = -1) -> np.ndarray:
    r"""Kullback–Leibler divergence :math:`D_{\mathrm{KL}}(p \,\|\, q)` between distributions, in nats.

    .. math::

        D_{\mathrm{KL}}(p \,\|\, q) = \sum_{i=1}^{n} p_i \log \frac{p_i}{q_i}
        = H(p, q) - H(p) \;\ge\; 0,

    with equality exactly when :math:`p = q` (Gibbs' inequality). It is not symmetric:
    :math:`D_{\mathrm{KL}}(p \,\|\, q) \ne D_{\mathrm{KL}}(q \,\|\, p)` in general.
    Conventions, which are the limits of :math:`t \log(t/s)`: a term with :math:`p_i = 0` is 0
    whatever :math:`q_i` is, and a term with :math:`q_i = 0 < p_i` is :math:`+\infty`. So when
    ``q`` gives zero probability to an outcome that ``p`` allows, the divergence is ``inf``:
    that is its mathematical value, returned without a warning rather than refused. Each term
    is computed as :math:`p_i(\log p_i - \log q_i)`, so :math:`D_{\mathrm{KL}}(p \,\|\, p)` is
    exactly 0. Derived in chapter 11.

    Parameters
    ----------
    p : array_like of shape (..., n, ...)
        Distributions, each slice along ``axis`` non-negative and summing to 1.
    q : array_like of the same shape as ``p``
        Distributions, likewise.
    axis : int, default -1
        The axis that runs over the outcomes.

    Returns
    -------
    numpy.ndarray or numpy scalar
        The divergences (:math:`\ge 0`, up to rounding, or ``inf``), of the shape of ``p``
        without ``axis``; a scalar for 1-D inputs.

    Raises
    ------
    ValueError
        If a shape differs, or ``p`` or ``q`` is not a probability vector along ``axis``.

    Examples
    --------
    >>> print(round(float(kl_divergence([0.5, 0.5], [0.9, 0.1])), 6))
    0.510826
    >>> print(round(float(kl_divergence([0.9, 0.1], [0.5, 0.5])), 6))
    0.368064
    >>> kl_divergence([[0.5, 0.5], [1.0, 0.0]], [[1.0, 0.0], [0.5, 0.5]])
    array([       inf, 0.69314718])
    """
    p_arr, q_arr, ax = _information_pair(p, q, axis)
    impossible = np.any((p_arr > 0) & (q_arr == 0), axis=ax)
    terms = np.where(p_arr > 0, p_arr * (_log_where_positive(p_arr) - _log_where_positive(q_arr)), 0)
    return np.where(impossible, np.inf, np.sum(terms, axis=ax))[()]
