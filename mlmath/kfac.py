r"""K-FAC: the Kronecker-factored approximate Fisher of a stack of dense layers, and its optimizer.

Derived in the second-order chapter, after Martens & Grosse (2015). Notation of the book: a
:class:`~mlmath.layers.Dense` layer computes :math:`z = Wx + b`, ``W`` of shape
``(n_out, n_in)``; write :math:`\bar W = [W \;\; b]` of shape ``(n_out, n_in + 1)`` and
:math:`\bar a = [x; 1]` (the layer's input with a 1 appended for the bias; without a bias,
:math:`\bar W = W` and :math:`\bar a = x`). With :math:`g = \partial \ell / \partial z` for one
sample's loss :math:`\ell`, the layer's gradient is :math:`\nabla_{\bar W}\ell = g\,\bar a^\top`
and, with the column-stacking :func:`mlmath.linalg.vec`,

.. math::

    \operatorname{vec}(g\,\bar a^\top) = \bar a \otimes g, \qquad
    F = \mathbb{E}\bigl[(\bar a \otimes g)(\bar a \otimes g)^\top\bigr]
      = \mathbb{E}\bigl[\bar a \bar a^\top \otimes g g^\top\bigr]
      \approx \mathbb{E}[\bar a \bar a^\top] \otimes \mathbb{E}[g g^\top] = A \otimes G .

The approximation treats the activations and the pre-activation gradients as independent; for
one sample it is exact. Its inverse follows from :math:`(A \otimes G)^{-1} = A^{-1} \otimes
G^{-1}` and :math:`\operatorname{vec}(MXN) = (N^\top \otimes M)\operatorname{vec}(X)`:

.. math::

    (A \otimes G)^{-1} \operatorname{vec}(V) = \operatorname{vec}(G^{-1} V A^{-1}),

two small matrix products instead of a solve with the ``(n_out (n_in + 1))``-square block.

Which Fisher: the loss is read as a negative log-likelihood, :math:`\ell(y, p)= -\log
q(y \mid p)` up to a constant, and the *true* Fisher takes :math:`g` with :math:`y` drawn from
the model's own :math:`q(\cdot \mid p)`, not the data's targets:

- categorical cross-entropy: :math:`y \sim \operatorname{Categorical}(s)`, :math:`s` the
  softmax output (of the final softmax, or of the logits with ``from_logits=True``);
- mean squared error (Keras's: mean over the :math:`n` outputs) is, up to a constant, the
  negative log-likelihood of :math:`y \sim \mathcal N(p, \tfrac n2 I)`; whatever the final
  activation (the source article's network ends in a softmax), :math:`y` is drawn from it.

``fisher="sampled"`` draws one target per row (Martens & Grosse's estimator, from a seeded
generator); ``fisher="expected"`` takes the expectation over :math:`y` exactly, by
backpropagating the :math:`n` columns of a factor :math:`B` of the loss's Hessian
:math:`\nabla_p^2\ell = BB^\top` (:math:`B = \sqrt{2/n}\,I` for the mean squared error,
columns :math:`\sqrt{s_k}(e_k - s)` for cross-entropy at the logits), :math:`n` times the cost
of one backward pass; ``fisher="empirical"`` uses the data's targets (the mean of
:math:`\nabla\ell\,\nabla\ell^\top`, which is not the Fisher away from a perfect fit).
For these two losses the true Fisher equals the generalized Gauss–Newton matrix.

=============================  ==================================================================
:func:`kfac_factors`           the factors :math:`A` and :math:`G` of each dense layer on a batch
:func:`kronecker_solve`        :math:`(A \otimes G + \lambda I)^{-1}\operatorname{vec}(V)`, exact
                               or in the factored form of the paper
:class:`KFAC`                  the optimizer, a :class:`~mlmath.second_order.ModelOptimizer`
=============================  ==================================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from mlmath._validation import as_float_array, as_generator, check_in_range, check_int, check_positive, lookup
from mlmath.activations import SOFTMAX
from mlmath.curvature import check_batch, check_model
from mlmath.layers import Activation, Dense, Layer
from mlmath.losses import CategoricalCrossentropy, Loss, MeanSquaredError
from mlmath.models import Sequential
from mlmath.second_order import ModelOptimizer

__all__ = ["KFAC", "KroneckerFactors", "kfac_factors", "kronecker_solve"]

_FISHERS = {"sampled": "sampled", "expected": "expected", "empirical": "empirical"}
_DAMPING_FORMS = {"exact": "exact", "factored": "factored"}


# ---------------------------------------------------------------------------------------------
# which models: checks
# ---------------------------------------------------------------------------------------------


def _unsupported_reason(layers: Sequence[Layer], loss: object) -> str | None:
    """Why K-FAC cannot handle this stack and loss, in words; ``None`` if it can."""
    if not layers:
        return "the model has no layers"
    if not any(isinstance(layer, Dense) for layer in layers):
        return "the model has no Dense layer"
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        if isinstance(layer, Dense):
            continue
        if not isinstance(layer, Activation):
            return (
                f"K-FAC handles Dense and Activation layers only; layer {i} ({layer.name}) is a {type(layer).__name__}"
            )
        if not layer.activation.elementwise and not (layer.activation is SOFTMAX and i == last):
            return (
                f"K-FAC handles elementwise activations, and a softmax only as the last layer; layer {i} "
                f"({layer.name}) is Activation({layer.activation.name!r})"
            )
    if type(loss) is MeanSquaredError:
        return None
    if type(loss) is CategoricalCrossentropy:
        final = layers[last]
        ends_in_softmax = isinstance(final, Activation) and final.activation is SOFTMAX
        if loss.from_logits or ends_in_softmax:
            return None
        return (
            "categorical cross-entropy on probabilities needs a final Activation('softmax'), so that the model's "
            "predictive distribution is known; end the model with one, or use from_logits=True"
        )
    return (
        "K-FAC needs the model's predictive distribution, known here for MeanSquaredError (a Gaussian) and "
        f"CategoricalCrossentropy (a categorical); got {type(loss).__name__}"
    )


# ---------------------------------------------------------------------------------------------
# the passes
# ---------------------------------------------------------------------------------------------


class _Pass(NamedTuple):
    """What one forward and backward pass gives K-FAC (unchecked; arrays in the model's dtype)."""

    loss: float
    P: np.ndarray  # the model's output
    inputs: list[np.ndarray]  # the input of each Dense layer, (m, n_in)
    dZ: list[np.ndarray]  # dL/dZ of each Dense layer for the mean loss, (m, n_out)
    fused: bool  # the backward pass started below a final softmax (softmax + cross-entropy)


def _forward(layers: Sequence[Layer], X: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    inputs = []
    A = X
    for layer in layers:
        if isinstance(layer, Dense):
            inputs.append(A)
        A = layer.call(A)
    return A, inputs


def _start(layers: Sequence[Layer], loss: Loss, Y: np.ndarray, P: np.ndarray) -> tuple[float, np.ndarray, bool]:
    """The loss value and the gradient that starts the backward pass, as ``Sequential`` starts it."""
    last = layers[-1]
    fused = loss.fused_gradient(last.activation, Y, P) if isinstance(last, Activation) else None
    value, grad = loss.value_and_grad_unchecked(Y, P)
    return value, (grad if fused is None else fused), fused is not None


def _backward(layers: Sequence[Layer], g: np.ndarray, start: int, *, grads: bool) -> list[np.ndarray]:
    """Backpropagate ``g`` from layer ``start`` down; return dL/dZ of each Dense layer, first layer first.

    With ``grads`` the layers fill their ``grads`` (the training pass); without, ``g`` may be a
    stack of shape ``(k, m, n)`` of several vectors per row, and no ``grads`` change.
    """
    dZ: list[np.ndarray] = []
    for i in range(start, -1, -1):
        layer = layers[i]
        if isinstance(layer, Dense):
            dZ.append(g)
            if grads:
                g = layer.backprop(g, i > 0)  # type: ignore[assignment]
            elif i > 0:
                g = g @ layer.params["W"]
        else:
            g = layer.backprop(g, True)  # type: ignore[assignment]
    dZ.reverse()
    return dZ


def _training_pass(layers: Sequence[Layer], loss: Loss, X: np.ndarray, Y: np.ndarray) -> _Pass:
    """Forward, loss, backward with the data's targets: fills every layer's ``grads``."""
    P, inputs = _forward(layers, X)
    value, g, fused = _start(layers, loss, Y, P)
    dZ = _backward(layers, g, len(layers) - 1 - fused, grads=True)
    return _Pass(value, P, inputs, dZ, fused)


def _predictive_factor(loss: Loss, P: np.ndarray, fused: bool, fisher: str, rng: np.random.Generator) -> np.ndarray:
    r"""Per-row vectors :math:`u` at the start of the backward pass with :math:`\mathbb E[uu^\top] = \nabla^2 \ell`.

    Shape ``(k, m, n)``: one sampled vector per row (``k = 1``), or the ``k = n`` columns of
    the factor :math:`B` of the per-sample Hessian (``fisher="expected"``). :math:`u` is a
    per-sample gradient, not divided by the batch size.
    """
    m, n = P.shape
    dt = P.dtype
    if isinstance(loss, MeanSquaredError):  # l = |p - y|^2 / n, y ~ N(p, n/2 I): u = sqrt(2/n) eps
        scale = math.sqrt(2.0 / n)
        if fisher == "expected":
            out = np.zeros((n, m, n), dt)
            out[np.arange(n), :, np.arange(n)] = scale
            return out
        out = rng.standard_normal((1, m, n), dtype=dt)
        out *= scale
        return out
    # categorical cross-entropy: at the logits (fused, or from_logits) u = s - e_y
    s = P if fused else SOFTMAX.forward(P)
    if fisher == "expected":  # columns sqrt(s_k) (e_k - s)
        root = np.sqrt(s)
        out = -s[None, :, :] * root.T[:, :, None]  # out[k, i, j] = -sqrt(s_ik) s_ij
        out[np.arange(n), :, np.arange(n)] += root.T
        return out
    cumulative = np.cumsum(s, axis=1, dtype=np.float64)
    u = rng.random((m, 1)) * cumulative[:, -1:]
    classes = np.minimum((cumulative <= u).sum(axis=1), n - 1)
    out = s.astype(dt, copy=True)[None]
    out[0, np.arange(m), classes] -= 1
    return out


def _fisher_dZ(
    layers: Sequence[Layer], loss: Loss, P: np.ndarray, fused: bool, fisher: str, rng: np.random.Generator
) -> list[np.ndarray]:
    """Per-sample pre-activation gradients of each Dense layer, stacked ``(k, m, n_out)``, for the true Fisher."""
    U = _predictive_factor(loss, P, fused, fisher, rng)
    return _backward(layers, U, len(layers) - 1 - fused, grads=False)


def _factor_A(a: np.ndarray, bias: bool) -> np.ndarray:
    r""":math:`A = \frac1m \bar A^\top \bar A` with :math:`\bar A = [a \;\; \mathbf 1]` (or :math:`a` without bias)."""
    m, n = a.shape
    if bias:
        abar = np.empty((m, n + 1), a.dtype)
        abar[:, :n] = a
        abar[:, n] = 1
        a = abar
    out = a.T @ a
    out /= m
    return out


def _factor_G(dZ: np.ndarray, m: int, per_sample: bool) -> np.ndarray:
    r""":math:`G = \frac1m \sum g g^\top` over the rows of ``dZ`` (a stack ``(k, m, n)`` or ``(m, n)``).

    ``per_sample``: the rows are per-sample gradients already; otherwise they are the rows of
    :math:`\partial L/\partial Z` of the mean loss, :math:`g_i / m`, so :math:`G = m\, dZ^\top dZ`.
    """
    rows = dZ.reshape(-1, dZ.shape[-1])
    out = rows.T @ rows
    out *= (1.0 / m) if per_sample else float(m)
    return out


def _factors(
    layers: Sequence[Layer], loss: Loss, X: np.ndarray, Y: np.ndarray, fisher: str, rng: np.random.Generator
) -> tuple[_Pass, list[np.ndarray], list[np.ndarray]]:
    """One training pass (gradients filled) and the batch's factors A and G of each Dense layer."""
    run = _training_pass(layers, loss, X, Y)
    m = X.shape[0]
    dense = [layer for layer in layers if isinstance(layer, Dense)]
    As = [_factor_A(a, "b" in layer.params) for a, layer in zip(run.inputs, dense, strict=True)]
    if fisher == "empirical":
        Gs = [_factor_G(d, m, per_sample=False) for d in run.dZ]
    else:
        stacks = _fisher_dZ(layers, loss, run.P, run.fused, fisher, rng)
        Gs = [_factor_G(d, m, per_sample=True) for d in stacks]
    return run, As, Gs


# ---------------------------------------------------------------------------------------------
# the damped Kronecker solve
# ---------------------------------------------------------------------------------------------


class _Eigen(NamedTuple):
    values: np.ndarray
    vectors: np.ndarray


def _eigen(M: np.ndarray) -> _Eigen:
    """Eigendecomposition of a symmetric positive semi-definite factor; rounding's negative eigenvalues set to 0."""
    values, vectors = np.linalg.eigh(M)
    np.maximum(values, 0, out=values)
    return _Eigen(values, vectors)


def _exact_solve(a: _Eigen, g: _Eigen, damping: float, V: np.ndarray) -> np.ndarray:
    r""":math:`Q_G [(Q_G^\top V Q_A) \oslash D] Q_A^\top`, :math:`D_{ij} = \lambda^G_i \lambda^A_j + \lambda`."""
    D = np.multiply.outer(g.values, a.values)
    D += damping
    inner = g.vectors.T @ V @ a.vectors
    inner /= D
    return g.vectors @ inner @ a.vectors.T


def _factored_inverses(A: np.ndarray, G: np.ndarray, damping: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Inverses of :math:`A + \pi\sqrt\lambda I`, :math:`G + \tfrac{\sqrt\lambda}{\pi} I`; :math:`\pi` from traces."""
    p, q = A.shape[0], G.shape[0]
    trace_a, trace_g = float(np.trace(A)) / p, float(np.trace(G)) / q
    pi = math.sqrt(trace_a / trace_g) if trace_a > 0 and trace_g > 0 else 1.0
    root = math.sqrt(damping)
    A_d, G_d = A.copy(), G.copy()
    A_d.flat[:: p + 1] += pi * root
    G_d.flat[:: q + 1] += root / pi
    return np.linalg.inv(A_d), np.linalg.inv(G_d)


def _symmetric_psd(M: object, name: str) -> np.ndarray:
    arr = as_float_array(M, name, ndim=2, shape_hint="(n, n)")
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square matrix; got shape {arr.shape}")
    scale = float(np.max(np.abs(arr))) if arr.size else 0.0
    tol = 100 * np.finfo(arr.dtype).eps * max(scale, 1e-300)
    gap = float(np.max(np.abs(arr - arr.T), initial=0.0))
    if gap > tol:
        raise ValueError(f"{name} must be symmetric; it differs from its transpose by up to {gap!r}")
    return arr


def kronecker_solve(
    A: np.ndarray, G: np.ndarray, V: np.ndarray, damping: float = 0.0, damping_form: str = "exact"
) -> np.ndarray:
    r"""The damped Kronecker solve :math:`\operatorname{vec}(U) = (A \otimes G + \lambda I)^{-1}\operatorname{vec}(V)`.

    K-FAC's preconditioner for one dense layer (:func:`kfac_factors` gives :math:`A` and
    :math:`G`, ``V`` is the layer's gradient :math:`[\nabla_W L \;\; \nabla_b L]`). From the
    eigendecompositions :math:`A = Q_A \Lambda_A Q_A^\top`, :math:`G = Q_G \Lambda_G Q_G^\top`,
    :math:`A \otimes G + \lambda I = (Q_A \otimes Q_G)(\Lambda_A \otimes \Lambda_G + \lambda I)
    (Q_A \otimes Q_G)^\top`, so

    .. math::

        U = Q_G \bigl[(Q_G^\top V Q_A) \oslash D\bigr] Q_A^\top,
        \qquad D_{ij} = \lambda^G_i \lambda^A_j + \lambda
        \quad(\text{``damping_form="exact"``}),

    with :math:`\oslash` the entrywise quotient. ``damping_form="factored"`` is the form of
    Martens & Grosse (2015, section 6.3): the damping split between the factors,
    :math:`(A + \pi\sqrt\lambda\, I) \otimes (G + \tfrac{\sqrt\lambda}{\pi} I)`, with
    :math:`\pi = \sqrt{(\operatorname{tr} A / p)\,/\,(\operatorname{tr} G / q)}` chosen to balance
    the two shifts (``A`` of shape ``(p, p)``, ``G`` of shape ``(q, q)``); it is the same
    :math:`U` with :math:`D_{ij} = (\lambda^G_i + \sqrt\lambda/\pi)(\lambda^A_j + \pi\sqrt\lambda)`.
    Without damping both are :math:`G^{-1} V A^{-1}`.

    Parameters
    ----------
    A : array_like of shape (p, p)
        Symmetric positive semi-definite.
    G : array_like of shape (q, q)
        Symmetric positive semi-definite.
    V : array_like of shape (q, p)
        The matrix whose ``vec`` is solved for (the layout of ``W``: ``(n_out, n_in)``).
    damping : float >= 0, default 0.0
        :math:`\lambda`.
    damping_form : {"exact", "factored"}, default "exact"

    Returns
    -------
    numpy.ndarray of shape (q, p)
        :math:`U`, in the dtype of ``V``.

    Raises
    ------
    TypeError, ValueError
        For arrays of the wrong shape, non-symmetric or with NaN or infinity, a negative
        damping, an unknown form, or a damped block that is singular (give ``damping > 0``).

    Examples
    --------
    >>> A, G = np.diag([1.0, 2.0]), np.diag([4.0])
    >>> kronecker_solve(A, G, np.array([[4.0, 8.0]]))
    array([[1., 1.]])
    >>> kronecker_solve(A, G, np.array([[4.0, 8.0]]), damping=4.0)
    array([[0.5       , 0.66666667]])
    """
    A_ = _symmetric_psd(A, "A")
    G_ = _symmetric_psd(G, "G")
    V_ = as_float_array(V, "V", ndim=2, shape_hint="(q, p)")
    p, q = A_.shape[0], G_.shape[0]
    if V_.shape != (q, p):
        raise ValueError(f"V must have shape (q, p) = ({q}, {p}), rows as G's and columns as A's; got {V_.shape}")
    lam = check_in_range(damping, "damping", 0.0, math.inf)
    form = lookup(_DAMPING_FORMS, damping_form, "damping_form")
    for name, M in (("A", A_), ("G", G_)):
        raw = np.linalg.eigvalsh(M.astype(np.float64))
        top = max(abs(raw[-1]), 1e-300) if raw.size else 1.0
        if raw.size and raw[0] < -1e-8 * max(top, 1.0):
            raise ValueError(f"{name} must be positive semi-definite; its smallest eigenvalue is {raw[0]!r}")
        if lam == 0 and raw.size and raw[0] <= M.shape[0] * np.finfo(M.dtype).eps * top:
            raise ValueError(f"the block A ⊗ G is singular ({name} has the eigenvalue {raw[0]:.3g}); give damping > 0")
    A_, G_ = A_.astype(V_.dtype, copy=False), G_.astype(V_.dtype, copy=False)
    if form == "exact":
        return _exact_solve(_eigen(A_), _eigen(G_), lam, V_)
    A_inv, G_inv = _factored_inverses(A_, G_, lam)
    return G_inv @ V_ @ A_inv


class KroneckerFactors(NamedTuple):
    r"""The Kronecker factors of one dense layer's Fisher block, :math:`F \approx A \otimes G`."""

    layer: str
    """The layer's name."""
    A: np.ndarray
    r""":math:`\frac1m \sum_i \bar a_i \bar a_i^\top`, shape ``(n_in + 1, n_in + 1)``; ``(n_in, n_in)`` without bias."""
    G: np.ndarray
    r""":math:`\frac1m \sum_i g_i g_i^\top`, shape ``(n_out, n_out)``."""


def _check_fisher(fisher: object) -> str:
    return lookup(_FISHERS, fisher, "fisher")


def kfac_factors(
    model: Sequential,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    fisher: str = "sampled",
    seed: int | np.random.Generator | None = 0,
) -> list[KroneckerFactors]:
    r"""The Kronecker factors :math:`A` and :math:`G` of each dense layer's Fisher block on the batch ``(X, Y)``.

    For each :class:`~mlmath.layers.Dense` layer, with inputs :math:`\bar a_i` (the 1 for the
    bias appended) and pre-activation gradients :math:`g_i` of the rows :math:`i = 1, \dots, m`:

    .. math::

        A = \frac1m \sum_i \bar a_i \bar a_i^\top = \frac1m \bar X^\top \bar X, \qquad
        G = \frac1m \sum_i g_i g_i^\top,
        \qquad F_{\bar W} \approx A \otimes G,

    where :math:`g_i = \partial \ell_i / \partial z_i` is one sample's gradient (the batch
    loss is :math:`L = \frac1m \sum_i \ell_i`), taken with targets drawn from the model
    (``"sampled"``), in expectation over them (``"expected"``), or with the data's targets
    (``"empirical"``); the module docstring states the predictive distributions. For one sample,
    :math:`A \otimes G` *is* the layer's block of the (empirical or expected) Fisher, since then
    :math:`\mathbb E[\bar a\bar a^\top \otimes gg^\top] = \bar a\bar a^\top \otimes \mathbb E[gg^\top]`.

    Parameters
    ----------
    model : Sequential
        A compiled stack of Dense and elementwise Activation layers, ending in a softmax with
        :class:`~mlmath.losses.CategoricalCrossentropy` or in any activation with
        :class:`~mlmath.losses.MeanSquaredError` (or a linear output with cross-entropy
        ``from_logits=True``). Built from ``X`` if it is not yet.
    X : array_like of shape (m, n_in)
    Y : array_like of shape (m, n_out)
        Checked as by :meth:`~mlmath.models.Sequential.evaluate`; only ``"empirical"`` reads
        the targets' values.
    fisher : {"sampled", "expected", "empirical"}, default "sampled"
    seed : int, numpy.random.Generator or None, default 0
        The source of the sampled targets (``"sampled"`` only).

    Returns
    -------
    list of KroneckerFactors
        One ``(layer, A, G)`` per Dense layer, first layer first, in the model's dtype.

    Raises
    ------
    TypeError, ValueError
        For a model K-FAC cannot handle (another layer or loss), bad ``X`` or ``Y``, an unknown
        ``fisher`` or a bad ``seed``.
    RuntimeError
        Before ``model.compile``.

    Notes
    -----
    The weights are left as they are; the layers' ``grads`` are overwritten with the gradient
    on ``(X, Y)`` and their caches with this batch's, as by
    :meth:`~mlmath.models.Sequential.loss_and_gradients`.

    Examples
    --------
    >>> from mlmath.layers import Dense
    >>> model = Sequential([Dense(1, input_dim=2, kernel_initializer="ones")])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> (f,) = kfac_factors(model, np.array([[1.0, 2.0]]), np.array([[0.0]]), fisher="empirical")
    >>> f.A
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    >>> f.G  # g = 2 (p - y) with p = 3
    array([[36.]])
    """
    kind = _check_fisher(fisher)
    rng = as_generator(seed)
    model = check_model(model, "kfac_factors")
    reason = _unsupported_reason(model.layers, model.loss)
    if reason is not None:
        raise TypeError(f"model: {reason}")
    if as_float_array(X, "X", finite=False).ndim == 3:  # the model takes sequences; K-FAC's factors want rows
        raise ValueError(f"X must be a 2-D array of shape (n_samples, n_features) for K-FAC; got shape {np.shape(X)}")
    Xc, Yc = check_batch(model, X, Y, "kfac_factors")
    layers = model.layers
    _, As, Gs = _factors(layers, model.loss, Xc, Yc, kind, rng)  # type: ignore[arg-type]
    names = [layer.name or "" for layer in layers if isinstance(layer, Dense)]
    return [KroneckerFactors(n, a, g) for n, a, g in zip(names, As, Gs, strict=True)]


# ---------------------------------------------------------------------------------------------
# the optimizer
# ---------------------------------------------------------------------------------------------


def _state_shape_error(state: Mapping[str, Any]) -> str | None:
    """Why the lists of a K-FAC state do not fit together (``None`` if they do, or are not lists of arrays)."""
    A, G = state["A"], state["G"]
    if A is None or G is None:
        return None if A is None and G is None else "state['A'] and state['G'] must both be None or both lists"
    if not (isinstance(A, list) and isinstance(G, list)):
        return None  # the base class names the type
    if not all(isinstance(m, np.ndarray) for m in A + G):
        return None
    if len(A) != len(G):
        return f"state['A'] and state['G'] must hold one matrix per Dense layer each; got {len(A)} and {len(G)}"
    p = [a.shape[0] if a.ndim == 2 and a.shape[0] == a.shape[1] else None for a in A]
    q = [g.shape[0] if g.ndim == 2 and g.shape[0] == g.shape[1] else None for g in G]
    if None in p or None in q:
        return "state['A'] and state['G'] must hold square matrices"
    expected = {
        "A_eigenvalues": [(n,) for n in p],
        "A_eigenvectors": [(n, n) for n in p],
        "A_inverse": [(n, n) for n in p],
        "G_eigenvalues": [(n,) for n in q],
        "G_eigenvectors": [(n, n) for n in q],
        "G_inverse": [(n, n) for n in q],
        "velocity": [(b, a) for a, b in zip(p, q, strict=True)],
    }
    for name, shapes in expected.items():
        value = state[name]
        if isinstance(value, list) and all(isinstance(v, np.ndarray) for v in value):
            got = [v.shape for v in value]
            if got != shapes:
                return f"state[{name!r}] must hold arrays of shapes {shapes}; got {got}"
    return None


class KFAC(ModelOptimizer):
    r"""K-FAC (Martens & Grosse, 2015): each dense layer's gradient preconditioned by its Kronecker-factored Fisher.

    Per step :math:`t`, on the batch: one forward pass, the backward pass with the data's
    targets (the gradient :math:`V_k = [\nabla_W L \;\; \nabla_b L]` of each Dense
    layer :math:`k`, shape ``(n_out, n_in + 1)``), and for the true Fisher a second backward
    pass with targets from the model (:func:`kfac_factors`). Then, per Dense layer:

    .. math::

        A_t &= \beta_t A_{t-1} + (1 - \beta_t) \hat A, \qquad
        G_t = \beta_t G_{t-1} + (1 - \beta_t) \hat G, \qquad
        \beta_t = \min(\beta, 1 - 1/t), \\
        U_k &= \bigl(G + \tfrac{\sqrt\lambda}{\pi} I\bigr)^{-1} V_k \bigl(A + \pi\sqrt\lambda\, I\bigr)^{-1},
        \qquad \pi = \sqrt{\frac{\operatorname{tr} A / (n_{in} + 1)}{\operatorname{tr} G / n_{out}}}, \\
        v_k &\leftarrow \mu\, v_k - \nu\eta\, U_k, \qquad \bar W_k \leftarrow \bar W_k + v_k,
        \qquad \nu = \min\Bigl(1, \sqrt{\kappa \,/\, \eta^2 {\textstyle\sum_k}
        \operatorname{vec}(V_k)^\top \operatorname{vec}(U_k)}\Bigr),

    with :math:`\hat A`, :math:`\hat G` the batch's factors, :math:`\beta` = ``decay`` (the
    first step takes the batch's factors, :math:`\beta_1 = 0`, as the paper's
    :math:`\min(1 - 1/t, 0.95)`), :math:`\lambda` = ``damping``, :math:`\eta` =
    ``learning_rate`` and :math:`\mu` = ``momentum``. The factor :math:`\nu` is the *KL clipping*
    of Ba, Grosse & Martens (2017), :math:`\kappa` = ``kl_clip``: :math:`\eta^2 \sum_k
    \operatorname{vec}(V_k)^\top \operatorname{vec}(U_k)` estimates twice the KL divergence
    between the model's predictions before and after the step, and the step is shrunk so that it
    stays below :math:`\kappa`; without it a step taken with factors estimated from few batches can
    throw the weights far (the paper instead rescales each step with its quadratic model).

    The solve is that of :func:`kronecker_solve`. The default ``damping_form="factored"`` is the
    paper's (section 6.3): :math:`\operatorname{vec}(U_k) = [(A + \pi\sqrt\lambda I) \otimes
    (G + \tfrac{\sqrt\lambda}{\pi} I)]^{-1}\operatorname{vec}(V_k)`, the damping :math:`\lambda` split
    between the factors with the :math:`\pi`-correction, through the two damped inverses.
    ``damping_form="exact"`` damps the Kronecker product itself, :math:`\operatorname{vec}(U_k) =
    (A \otimes G + \lambda I)^{-1}\operatorname{vec}(V_k)`, through the eigendecompositions of
    :math:`A` and :math:`G` (four products per step instead of two, and an eigendecomposition of a
    65-wide matrix costs several times its inverse). Either is refreshed every
    ``inverse_update_freq`` steps (on steps 1, 1 + T, 1 + 2T, ...) and kept in between, as the
    paper does with its inverses; between refreshes the running averages still move. Layers
    other than Dense have no parameters (the activations), so every parameter is preconditioned.

    Parameters
    ----------
    learning_rate : float > 0, default 0.1
        :math:`\eta`.
    damping : float > 0, default 1e-2
        :math:`\lambda`: it bounds the step where the Fisher is nearly singular.
    decay : float in [0, 1), default 0.95
        :math:`\beta` of the running averages of the factors.
    inverse_update_freq : int >= 1, default 10
        :math:`T`: steps between refreshes of the eigendecompositions.
    momentum : float in [0, 1), default 0.0
        :math:`\mu`.
    fisher : {"sampled", "expected", "empirical"}, default "sampled"
        How :math:`G` is estimated (see :func:`kfac_factors`).
    damping_form : {"factored", "exact"}, default "factored"
    kl_clip : float > 0 or None, default 1e-2
        :math:`\kappa`; ``None`` takes every step at the full rate :math:`\eta`.
    seed : int or None, default None
        Seed of the sampled targets: step :math:`t` draws from ``default_rng([seed, t])``, so a
        run is reproducible and a restored state resumes it exactly. ``None`` draws a seed from
        fresh entropy once, when the optimizer is made.

    Attributes
    ----------
    A, G : list of numpy.ndarray, or None
        The running averages of the factors, one per Dense layer (``None`` before the first step).
    A_eigenvalues, A_eigenvectors, G_eigenvalues, G_eigenvectors : list of numpy.ndarray, or None
        The eigendecompositions in use (``damping_form="exact"``; ``None`` otherwise).
    A_inverse, G_inverse : list of numpy.ndarray, or None
        The damped inverses in use (``damping_form="factored"``; ``None`` otherwise).
    velocity : list of numpy.ndarray, or None
        :math:`v_k` of each Dense layer, shape ``(n_out, n_in + 1)`` (``None`` without momentum).

    Notes
    -----
    No PyTorch optimizer ships K-FAC; ``benchmarks/bench_kfac.py`` writes the same step with
    torch operations. The step follows the paper's preconditioner but not its adaptive parts
    (no re-scaling of the step by the quadratic model, no adaptation of :math:`\lambda`).

    Examples
    --------
    >>> from mlmath.layers import Activation, Dense
    >>> from mlmath.data import spirals, to_categorical
    >>> from mlmath.second_order import fit
    >>> X, y = spirals(n_per_class=50, seed=0)
    >>> model = Sequential([Dense(16, input_dim=2), Activation("tanh"), Dense(3), Activation("softmax")], seed=0)
    >>> model.compile(optimizer="sgd", loss="categorical_crossentropy")
    >>> history = fit(model, X, to_categorical(y, 3), KFAC(learning_rate=0.1, seed=0), epochs=5, verbose=0)
    >>> history.history["loss"][-1] < history.history["loss"][0]
    True
    """

    state_names = (
        "A",
        "G",
        "A_eigenvalues",
        "A_eigenvectors",
        "G_eigenvalues",
        "G_eigenvectors",
        "A_inverse",
        "G_inverse",
        "velocity",
    )

    def __init__(
        self,
        learning_rate: float = 0.1,
        damping: float = 1e-2,
        decay: float = 0.95,
        inverse_update_freq: int = 10,
        momentum: float = 0.0,
        fisher: str = "sampled",
        damping_form: str = "factored",
        kl_clip: float | None = 1e-2,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.learning_rate = check_positive(learning_rate, "learning_rate")
        self.damping = check_positive(damping, "damping")
        self.decay = check_in_range(decay, "decay", 0.0, 1.0)
        self.inverse_update_freq = check_int(inverse_update_freq, "inverse_update_freq", 1)
        self.momentum = check_in_range(momentum, "momentum", 0.0, 1.0)
        self.fisher = _check_fisher(fisher)
        self.damping_form = lookup(_DAMPING_FORMS, damping_form, "damping_form")
        self.kl_clip = None if kl_clip is None else check_positive(kl_clip, "kl_clip")
        self.seed = None if seed is None else check_int(seed, "seed", 0)
        self._entropy = int(np.random.SeedSequence(self.seed).entropy)  # type: ignore[arg-type]
        self.A: list[np.ndarray] | None = None
        self.G: list[np.ndarray] | None = None
        self.A_eigenvalues: list[np.ndarray] | None = None
        self.A_eigenvectors: list[np.ndarray] | None = None
        self.G_eigenvalues: list[np.ndarray] | None = None
        self.G_eigenvectors: list[np.ndarray] | None = None
        self.A_inverse: list[np.ndarray] | None = None
        self.G_inverse: list[np.ndarray] | None = None
        self.velocity: list[np.ndarray] | None = None

    def check_compatible(self, model: Sequential) -> None:
        """Raise unless ``model`` is a built, compiled stack K-FAC handles (see :func:`kfac_factors`).

        Raises
        ------
        TypeError
            If ``model`` is not a Sequential, or holds a layer other than Dense and elementwise
            Activation layers (a softmax only last), or its loss is neither categorical
            cross-entropy nor mean squared error.
        RuntimeError
            If the model is not compiled or not built.
        ValueError
            If this optimizer holds a state made for another model.
        """
        super().check_compatible(model)
        reason = _unsupported_reason(model.layers, model.loss)
        if reason is not None:
            raise TypeError(f"model: {reason}")
        if self.A is not None:
            dense = [layer for layer in model.layers if isinstance(layer, Dense)]
            shapes = [(layer.units, layer.built_n_in + ("b" in layer.params)) for layer in dense]
            held = [(g.shape[0], a.shape[0]) for a, g in zip(self.A, self.G or [], strict=False)]
            if held != shapes:
                raise ValueError(
                    f"this KFAC holds factors for dense layers of shapes {held}; model has {shapes}. "
                    "Use a new optimizer for another model"
                )

    def step_unchecked(self, model: Sequential, X: np.ndarray, Y: np.ndarray) -> float:
        """One K-FAC step on the batch (see the class docstring); the batch loss before it."""
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D batch (n_samples, n_features) for K-FAC; got shape {X.shape}")
        layers = model.layers
        t = self._t + 1
        rng = np.random.default_rng([self._entropy, t])
        run, As, Gs = _factors(layers, model.loss, X, Y, self.fisher, rng)  # type: ignore[arg-type]
        if self.A is None or self.G is None:
            self.A, self.G = As, Gs
        else:
            beta = min(self.decay, 1.0 - 1.0 / t)
            for avg, new in zip((*self.A, *self.G), (*As, *Gs), strict=True):
                new *= 1.0 - beta
                avg *= beta
                avg += new
        if (t - 1) % self.inverse_update_freq == 0 or (self.A_inverse is None and self.A_eigenvalues is None):
            self._refresh()
        dense = [layer for layer in layers if isinstance(layer, Dense)]
        if self.momentum > 0 and self.velocity is None:
            self.velocity = [np.zeros((g.shape[0], a.shape[0]), a.dtype) for a, g in zip(self.A, self.G, strict=True)]
        steps, inner = [], 0.0
        for i, layer in enumerate(dense):
            dW = layer.grads["W"]
            V = np.concatenate((dW, layer.grads["b"][:, None]), axis=1) if "b" in layer.params else dW
            U = self._precondition(i, V)
            inner += float(np.vdot(V, U))
            steps.append(U)
        rate = self.learning_rate
        if self.kl_clip is not None and rate * rate * inner > self.kl_clip:
            rate = math.sqrt(self.kl_clip / inner)
        for i, (layer, step) in enumerate(zip(dense, steps, strict=True)):
            step *= -rate
            if self.velocity is not None:
                v = self.velocity[i]
                v *= self.momentum
                v += step
                step = v
            W = layer.params["W"]
            W += step[:, : W.shape[1]]
            if "b" in layer.params:
                layer.params["b"] += step[:, -1]
        return run.loss

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Replace the state by a copy of ``state`` (from :meth:`get_state`); see :meth:`ModelOptimizer.set_state`.

        Raises
        ------
        TypeError, ValueError
            As :meth:`ModelOptimizer.set_state`, and if the lists of ``state`` do not describe
            one set of Dense layers: ``A`` and ``G`` of one length, square; the eigenvalues,
            eigenvectors, inverses and velocities (where not ``None``) of the shapes they imply.
        """
        if isinstance(state, Mapping) and set(self.state_names) <= set(state):
            reason = _state_shape_error(state)
            if reason is not None:
                raise ValueError(f"state does not describe K-FAC factors: {reason}")
        super().set_state(state)

    def _refresh(self) -> None:
        """New eigendecompositions (exact damping) or damped inverses (factored) of the running factors."""
        A, G = self.A or [], self.G or []
        if self.damping_form == "exact":
            ea, eg = [_eigen(a) for a in A], [_eigen(g) for g in G]
            self.A_eigenvalues, self.A_eigenvectors = [e.values for e in ea], [e.vectors for e in ea]
            self.G_eigenvalues, self.G_eigenvectors = [e.values for e in eg], [e.vectors for e in eg]
        else:
            inverses = [_factored_inverses(a, g, self.damping) for a, g in zip(A, G, strict=True)]
            self.A_inverse, self.G_inverse = [ai for ai, _ in inverses], [gi for _, gi in inverses]

    def _precondition(self, i: int, V: np.ndarray) -> np.ndarray:
        """:math:`U` of the ``i``-th Dense layer from its gradient ``V``, with the held decompositions."""
        if self.A_inverse is not None and self.G_inverse is not None:
            return self.G_inverse[i] @ V @ self.A_inverse[i]
        a = _Eigen(self.A_eigenvalues[i], self.A_eigenvectors[i])  # type: ignore[index]
        g = _Eigen(self.G_eigenvalues[i], self.G_eigenvectors[i])  # type: ignore[index]
        return _exact_solve(a, g, self.damping, V)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {
            "learning_rate": self.learning_rate,
            "damping": self.damping,
            "decay": self.decay,
            "inverse_update_freq": self.inverse_update_freq,
            "momentum": self.momentum,
            "fisher": self.fisher,
            "damping_form": self.damping_form,
            "kl_clip": self.kl_clip,
            "seed": self.seed,
        }
