r"""A vanilla recurrent network, backpropagation through time (full and truncated), gradient clipping.

Derived in chapter 6. One sequence is a list of :math:`T` input vectors :math:`x_1, \dots, x_T`; the
network carries a hidden state from step to step,

.. math::

    h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h), \qquad \hat y_t = W_{hy} h_t + b_y,
    \qquad t = 1, \dots, T,

starting from :math:`h_0` (zeros unless given). The book's convention holds: every weight matrix has
shape ``(n_out, n_in)``, so ``W_xh`` is ``(hidden, features)``, ``W_hh`` is ``(hidden, hidden)`` and
``W_hy`` is ``(outputs, hidden)``.

**Batches and shapes.** Inputs ``X`` have shape ``(batch, T, features)``: one sequence per row,
time on the second axis. At step :math:`t` the batch :math:`X_t` (shape ``(batch, features)``) goes
through one matrix product per weight,

.. math:: H_t = \tanh(H_{t-1} W_{hh}^\top + X_t W_{xh}^\top + \mathbf{1} b_h^\top),
          \qquad \hat Y_t = H_t W_{hy}^\top + \mathbf{1} b_y^\top .

**Two modes.** ``"many_to_many"``: a target at every step, ``Y`` of shape ``(batch, T, outputs)``.
``"many_to_one"``: a target at the last step only, ``Y`` of shape ``(batch, outputs)``.

**The loss** of a sequence is the sum of per-step losses, :math:`L = \sum_t L_t`, where :math:`L_t`
is half the squared error summed over outputs and averaged over the batch of :math:`m` sequences:

.. math:: L_t = \frac{1}{m} \sum_{i=1}^{m} \tfrac12 \lVert \hat y_{t,i} - y_{t,i} \rVert^2 .

In ``"many_to_one"`` mode only :math:`L_T` is present. (The sum over time, not a mean, is what
makes the gradient a sum over time; the :math:`\tfrac12` makes :math:`\partial L_t / \partial \hat
y_t = (\hat y_t - y_t) / m`.)

**dtypes.** The computation runs in ``numpy.result_type`` of ``X`` and the parameters: all float32
in gives float32 out. Targets and ``h0`` are cast to that dtype.

**Cost.** The forward pass and full BPTT take time and memory linear in :math:`T`: the hidden states
live in one preallocated array of shape ``(T + 1, batch, hidden)``; the input and output
projections of all steps are single matrix products; only the recurrence loops over time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np

from mlmath import initializers
from mlmath._flat import flatten
from mlmath._sequence import (
    as_param_arrays,
    check_initial_state,
    check_mode,
    check_readout,
    check_sequences,
    check_targets,
    copy_flat_into,
    fit_sequences,
    global_norm,
    init_generator,
    readout,
    readout_gradients,
    time_major,
    time_major_targets,
)
from mlmath._validation import (
    as_array_list,
    as_float_array,
    as_generator,
    check_dtype,
    check_int,
    check_nonempty,
    check_positive,
    check_size,
)
from mlmath.activations import TANH
from mlmath.optim import Optimizer
from mlmath.training import History

__all__ = [
    "RNN",
    "RNNForward",
    "RNNGradients",
    "RNNHistory",
    "RNNParams",
    "bptt",
    "clip_grad_norm",
    "init_params",
    "rnn_forward",
    "sequence_loss",
    "truncated_bptt",
]


class RNNParams(NamedTuple):
    """The five parameter arrays of a vanilla RNN, in the order the optimizers receive them."""

    W_xh: np.ndarray
    """Input weights, shape ``(hidden, features)``."""
    W_hh: np.ndarray
    """Recurrent weights, shape ``(hidden, hidden)``."""
    b_h: np.ndarray
    """Hidden bias, shape ``(hidden,)``."""
    W_hy: np.ndarray
    """Output weights, shape ``(outputs, hidden)``."""
    b_y: np.ndarray
    """Output bias, shape ``(outputs,)``."""


class RNNGradients(NamedTuple):
    r"""Gradients of the sequence loss :math:`L`: one array per parameter, each of its shape, and ``h0``."""

    W_xh: np.ndarray
    r""":math:`\partial L / \partial W_{xh}`, shape ``(hidden, features)``."""
    W_hh: np.ndarray
    r""":math:`\partial L / \partial W_{hh}`, shape ``(hidden, hidden)``."""
    b_h: np.ndarray
    r""":math:`\partial L / \partial b_h`, shape ``(hidden,)``."""
    W_hy: np.ndarray
    r""":math:`\partial L / \partial W_{hy}`, shape ``(outputs, hidden)``."""
    b_y: np.ndarray
    r""":math:`\partial L / \partial b_y`, shape ``(outputs,)``."""
    h0: np.ndarray
    r""":math:`\partial L / \partial h_0`, the shape of the ``h0`` given (``(batch, hidden)`` if none was)."""


class RNNForward(NamedTuple):
    """What :func:`rnn_forward` returns."""

    Y_hat: np.ndarray
    """Outputs: ``(batch, T, outputs)`` for ``"many_to_many"``, ``(batch, outputs)`` for ``"many_to_one"``."""
    H: np.ndarray
    r"""Hidden states :math:`h_1, \dots, h_T`, shape ``(batch, T, hidden)``; ``H[:, t - 1]`` is :math:`h_t`."""


# ---------------------------------------------------------------------------------------------
# private checks
# ---------------------------------------------------------------------------------------------


def _check_params(params: object) -> RNNParams:
    """Return ``params`` as :class:`RNNParams` of float arrays whose shapes fit together.

    Messages name each array as a field of ``params`` (``params.W_hh``), whether an
    :class:`RNNParams` or a plain sequence of 5 arrays was given.
    """
    W_xh, W_hh, b_h, W_hy, b_y = as_param_arrays(
        params,
        RNNParams,
        (2, 2, 1, 2, 1),
        ("(hidden, features)", "(hidden, hidden)", "(hidden,)", "(outputs, hidden)", "(outputs,)"),
    )
    hidden = W_xh.shape[0]
    if W_hh.shape != (hidden, hidden):
        raise ValueError(
            f"params.W_hh must have shape (hidden, hidden) = ({hidden}, {hidden}), hidden = W_xh.shape[0]; "
            f"got shape {W_hh.shape}"
        )
    if b_h.shape != (hidden,):
        raise ValueError(f"params.b_h must have shape (hidden,) = ({hidden},); got shape {b_h.shape}")
    check_readout(W_hy, b_y, hidden)
    return RNNParams(W_xh, W_hh, b_h, W_hy, b_y)


def _prepare(params: object, X: object, h0: object) -> tuple[RNNParams, np.ndarray, np.ndarray | None, np.dtype]:
    """Check and cast everything but ``Y``; return params, X time-major ``(T, batch, features)``, h0, dtype."""
    p = _check_params(params)
    X_arr = check_sequences(X, p.W_xh.shape[1])
    dtype = np.result_type(X_arr, *p)
    p = RNNParams(*(a.astype(dtype, copy=False) for a in p))
    Xt = time_major(X_arr, dtype)
    h0_arr = check_initial_state(h0, X_arr.shape[0], p.W_hh.shape[0], dtype)
    return p, Xt, h0_arr, dtype


# ---------------------------------------------------------------------------------------------
# unchecked kernels (time-major: Xt has shape (T, batch, features))
# ---------------------------------------------------------------------------------------------


def _forward_states(p: RNNParams, Xt: np.ndarray, h0: np.ndarray | None) -> np.ndarray:
    """Return ``Hs`` of shape ``(T + 1, batch, hidden)`` with ``Hs[0] = h0`` and ``Hs[t] = h_t``."""
    T, B, F = Xt.shape
    n_h = p.W_hh.shape[0]
    Hs = np.empty((T + 1, B, n_h), dtype=Xt.dtype)
    Hs[0] = 0 if h0 is None else h0
    A = Hs[1:].reshape(T * B, n_h)  # a view: the pre-activations are written in place
    np.matmul(Xt.reshape(T * B, F), np.ascontiguousarray(p.W_xh.T), out=A)  # X_t W_xh^T for all steps in one product
    A += p.b_h
    W_hh_T = np.ascontiguousarray(p.W_hh.T)  # matmul with out= is much slower on a transposed view
    tmp = np.empty((B, n_h), dtype=Xt.dtype)
    for t in range(T):
        np.matmul(Hs[t], W_hh_T, out=tmp)
        h = Hs[t + 1]
        h += tmp
        np.tanh(h, out=h)
    return Hs


def _outputs(p: RNNParams, Hs: np.ndarray, mode: str) -> np.ndarray:
    """Return the outputs time-major ``(T, batch, outputs)`` or ``(batch, outputs)`` for many-to-one."""
    return readout(p.W_hy, p.b_y, Hs, mode)


def _output_grads(
    p: RNNParams, Hs: np.ndarray, Yhat: np.ndarray, Yt: np.ndarray, mode: str
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    r"""Loss, :math:`\partial L/\partial W_{hy}`, :math:`\partial L/\partial b_y`, and the direct gradients.

    The direct gradient ``G`` (shape ``(T, batch, hidden)``) holds :math:`\partial L_t/\partial h_t`
    through :math:`\hat y_t` only: :math:`G_t = \frac{1}{m}(\hat Y_t - Y_t) W_{hy}`.
    """
    return readout_gradients(p.W_hy, Hs, Yhat, Yt, mode)


def _param_grads(
    p: RNNParams,
    Xt: np.ndarray,
    Hs: np.ndarray,
    dA: np.ndarray,
    h0: np.ndarray | None,
    dW_hy: np.ndarray,
    db_y: np.ndarray,
) -> RNNGradients:
    r"""Gradients from :math:`\partial L/\partial a_t` (``dA``, shape ``(T, batch, hidden)``) for all steps.

    :math:`\partial L/\partial W_{hh} = \sum_t dA_t^\top H_{t-1}`, :math:`\partial L/\partial W_{xh}
    = \sum_t dA_t^\top X_t`, :math:`\partial L/\partial b_h = \sum_t dA_t^\top \mathbf{1}`: each a
    single product over all steps at once, and :math:`\partial L/\partial h_0 = dA_1 W_{hh}`.
    """
    T, B, n_h = dA.shape
    dA2 = dA.reshape(T * B, n_h)
    dW_hh = dA2.T @ Hs[:-1].reshape(T * B, n_h)
    dW_xh = dA2.T @ Xt.reshape(T * B, -1)
    db_h = dA2.sum(axis=0)
    dh0 = dA[0] @ p.W_hh
    if h0 is not None and h0.ndim == 1:
        dh0 = dh0.sum(axis=0)  # one h0 shared by every sequence: its gradient sums over the batch
    return RNNGradients(dW_xh, dW_hh, db_h, dW_hy, db_y, dh0)


def _tanh_derivative(H: np.ndarray) -> np.ndarray:
    r""":math:`\tanh'(a_t)` from the states :math:`h_t = \tanh(a_t)`; tanh's own rule reads only its output."""
    return TANH.derivative(H, H)


def _backward_recurrence(p: RNNParams, Hs: np.ndarray, G: np.ndarray, steps: int) -> np.ndarray:
    r"""Turn direct gradients ``G`` into :math:`\partial L/\partial a_t` in place, going back ``steps`` steps.

    :math:`\delta_t = G_t + dA_{t+1} W_{hh}` and :math:`dA_t = \delta_t \odot (1 - H_t^{\odot 2})`, for
    :math:`t = T, T-1, \dots, T - \text{steps} + 1`. The full recursion is ``steps = T``. Steps not
    reached get ``dA_t = 0`` (used for a many-to-one loss truncated to its last ``steps`` steps).
    """
    T, B, n_h = G.shape
    D = _tanh_derivative(Hs[1:])  # all steps at once
    tmp = np.empty((B, n_h), dtype=G.dtype)
    stop = T - steps
    for t in range(T - 1, stop - 1, -1):
        if t < T - 1:
            np.matmul(G[t + 1], p.W_hh, out=tmp)
            G[t] += tmp
        G[t] *= D[t]
    if stop > 0:
        G[:stop] = 0
    return G


def _windowed_recurrence(p: RNNParams, Hs: np.ndarray, G: np.ndarray, k: int) -> np.ndarray:
    r"""Truncated :math:`\partial L/\partial a_t` in which each :math:`L_t` reaches back ``k`` steps only.

    Works lag by lag, vectorized over time: :math:`dA^{(0)}_s = G_s \odot (1 - h_s^2)` is the
    gradient of :math:`L_s` at its own step, :math:`dA^{(j)}_s = (dA^{(j-1)}_{s+1} W_{hh}) \odot
    (1 - h_s^2)` that of :math:`L_{s+j}`, :math:`j` steps back, and the result is
    :math:`\sum_{j=0}^{k-1} dA^{(j)}_s`. Costs ``k`` products of size ``(T * batch, hidden)``.
    """
    T, B, n_h = G.shape
    D = _tanh_derivative(Hs[1:])
    cur = G * D
    acc = cur.copy()
    tmp = np.empty_like(cur)
    for j in range(1, min(k, T)):
        n = T - j  # steps s = 1..T-j still receive a contribution from L_{s+j}
        np.matmul(cur[1 : n + 1].reshape(n * B, n_h), p.W_hh, out=tmp[:n].reshape(n * B, n_h))
        np.multiply(tmp[:n], D[:n], out=cur[:n])
        acc[:n] += cur[:n]
    return acc


def _loss_and_grads(
    p: RNNParams, Xt: np.ndarray, Yt: np.ndarray, h0: np.ndarray | None, mode: str, k: int | None
) -> tuple[float, RNNGradients]:
    """Unchecked loss and gradients; ``Yt`` time-major for many-to-many; ``k=None`` is full BPTT."""
    T = Xt.shape[0]
    Hs = _forward_states(p, Xt, h0)
    Yhat = _outputs(p, Hs, mode)
    loss, dW_hy, db_y, G = _output_grads(p, Hs, Yhat, Yt, mode)
    steps = T if k is None else min(k, T)
    if mode == "many_to_one" or steps == T:
        # one loss term (or no truncation): the ordinary recursion, stopped after `steps` steps
        dA = _backward_recurrence(p, Hs, G, steps)
    else:
        dA = _windowed_recurrence(p, Hs, G, steps)
    return loss, _param_grads(p, Xt, Hs, dA, h0, dW_hy, db_y)


# ---------------------------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------------------------


def init_params(
    input_size: int,
    hidden_size: int,
    output_size: int,
    *,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    dtype: Any = np.float64,
) -> RNNParams:
    r"""Draw the parameters of a vanilla RNN as Keras' ``SimpleRNN`` + ``Dense`` do.

    ``W_xh`` and ``W_hy`` are Glorot-uniform, :math:`U(-r, r)` with :math:`r = \sqrt{6 / (n_\text{in}
    + n_\text{out})}`; ``W_hh`` is a random orthogonal matrix (all its eigenvalues have modulus 1,
    the edge between vanishing and exploding gradients, chapter 6); the biases are zero.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
        Features per step, hidden units, outputs per step.
    seed : int, optional
        Seed of a new ``numpy.random.default_rng``; ignored when ``rng`` is given.
    rng : numpy.random.Generator, optional
        Generator to draw from.
    dtype : float32 or float64, default float64

    Returns
    -------
    RNNParams
        ``W_xh`` ``(hidden, features)``, ``W_hh`` ``(hidden, hidden)``, ``b_h`` ``(hidden,)``,
        ``W_hy`` ``(outputs, hidden)``, ``b_y`` ``(outputs,)``.

    Examples
    --------
    >>> p = init_params(3, 4, 2, seed=0)
    >>> [a.shape for a in p]
    [(4, 3), (4, 4), (4,), (2, 4), (2,)]
    >>> np.allclose(p.W_hh @ p.W_hh.T, np.eye(4))
    True
    """
    n_x = check_size(input_size, "input_size")
    n_h = check_size(hidden_size, "hidden_size")
    n_y = check_size(output_size, "output_size")
    dt = check_dtype(dtype)
    gen = init_generator(seed, rng)
    W_xh = initializers.glorot_uniform((n_h, n_x), gen)
    W_hh = initializers.orthogonal((n_h, n_h), gen)
    W_hy = initializers.glorot_uniform((n_y, n_h), gen)
    return RNNParams(W_xh.astype(dt), W_hh.astype(dt), np.zeros(n_h, dt), W_hy.astype(dt), np.zeros(n_y, dt))


def rnn_forward(
    params: RNNParams | Sequence[np.ndarray],
    X: np.ndarray,
    h0: np.ndarray | None = None,
    *,
    mode: str = "many_to_many",
) -> RNNForward:
    r"""Run a vanilla RNN over a batch of sequences.

    .. math:: H_t = \tanh(H_{t-1} W_{hh}^\top + X_t W_{xh}^\top + \mathbf{1} b_h^\top), \qquad
              \hat Y_t = H_t W_{hy}^\top + \mathbf{1} b_y^\top, \qquad t = 1, \dots, T.

    Derived in chapter 6.

    Parameters
    ----------
    params : RNNParams or sequence of 5 arrays
        ``(W_xh, W_hh, b_h, W_hy, b_y)`` with shapes ``(hidden, features)``, ``(hidden, hidden)``,
        ``(hidden,)``, ``(outputs, hidden)``, ``(outputs,)``.
    X : array_like of shape (batch, T, features)
        One sequence per row, time on axis 1.
    h0 : array_like of shape (hidden,) or (batch, hidden), optional
        Initial state :math:`h_0`; zeros if omitted. A 1-D ``h0`` is shared by all sequences.
    mode : {"many_to_many", "many_to_one"}
        An output at every step, or at the last step only.

    Returns
    -------
    RNNForward
        ``Y_hat`` of shape ``(batch, T, outputs)`` (many-to-many) or ``(batch, outputs)``
        (many-to-one), and the hidden states ``H`` of shape ``(batch, T, hidden)``.

    Raises
    ------
    ValueError
        If a shape does not fit (the message names which), or ``X``/``h0`` hold NaN or infinity.
    TypeError
        If ``params`` is not 5 arrays, or an input is not real.

    Examples
    --------
    >>> p = RNNParams(W_xh=np.array([[1.0]]), W_hh=np.array([[0.5]]), b_h=np.zeros(1),
    ...               W_hy=np.array([[2.0]]), b_y=np.zeros(1))
    >>> out = rnn_forward(p, np.array([[[1.0], [0.0]]]))   # one sequence, T = 2, one feature
    >>> out.H.round(4)          # h_1 = tanh(1), h_2 = tanh(0.5 h_1)
    array([[[0.7616],
            [0.3634]]])
    >>> out.Y_hat.shape
    (1, 2, 1)
    """
    mode = check_mode(mode)
    p, Xt, h0_arr, _ = _prepare(params, X, h0)
    Hs = _forward_states(p, Xt, h0_arr)
    Yhat = _outputs(p, Hs, mode)
    if mode == "many_to_many":
        Yhat = np.ascontiguousarray(Yhat.transpose(1, 0, 2))
    return RNNForward(Yhat, np.ascontiguousarray(Hs[1:].transpose(1, 0, 2)))


def sequence_loss(Y_hat: np.ndarray, Y: np.ndarray) -> float:
    r"""The sequence loss :math:`L = \sum_t L_t`, the half squared error summed over steps and outputs, batch-averaged.

    .. math:: L_t = \frac{1}{m}\sum_{i=1}^{m} \tfrac12\lVert \hat y_{t,i} - y_{t,i}\rVert^2 .

    Works for both modes: ``(batch, T, outputs)`` sums over steps, ``(batch, outputs)`` is the
    last step's term alone. Derived in chapter 6.

    Parameters
    ----------
    Y_hat, Y : array_like of the same shape, (batch, T, outputs) or (batch, outputs)

    Returns
    -------
    float

    Examples
    --------
    >>> sequence_loss(np.array([[[1.0], [2.0]]]), np.zeros((1, 2, 1)))   # (1 + 4) / 2
    2.5
    """
    Yh = as_float_array(Y_hat, "Y_hat")
    Yv = as_float_array(Y, "Y")
    if Yh.shape != Yv.shape or Yh.ndim not in (2, 3):
        raise ValueError(
            "Y_hat and Y must have the same shape, (batch, T, outputs) or (batch, outputs); "
            f"got Y_hat.shape={Yh.shape} and Y.shape={Yv.shape}"
        )
    check_nonempty(Yh, "Y_hat", "at least one sequence")
    diff = Yh - Yv
    return 0.5 * float(np.vdot(diff, diff)) / Yh.shape[0]


def bptt(
    params: RNNParams | Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    h0: np.ndarray | None = None,
    *,
    mode: str = "many_to_many",
) -> tuple[float, RNNGradients]:
    r"""Loss and exact gradients of a vanilla RNN by backpropagation through time.

    Unrolls the network over the :math:`T` steps and runs the chain rule backwards through the
    unrolled graph. With :math:`G_t = \partial L_t / \partial h_t` through the output only
    (:math:`G_t = \frac1m (\hat Y_t - Y_t) W_{hy}`), the gradient reaching :math:`h_t` and the
    pre-activation :math:`a_t` obey, for :math:`t = T, \dots, 1`,

    .. math:: \delta_t = G_t + \delta^a_{t+1} W_{hh}, \qquad \delta^a_t = \delta_t \odot (1 - h_t^2),

    with :math:`\delta^a_{T+1} = 0`, and then

    .. math:: \frac{\partial L}{\partial W_{hh}} = \sum_t (\delta^a_t)^\top H_{t-1}, \quad
              \frac{\partial L}{\partial W_{xh}} = \sum_t (\delta^a_t)^\top X_t, \quad
              \frac{\partial L}{\partial b_h} = \sum_t (\delta^a_t)^\top \mathbf{1}, \quad
              \frac{\partial L}{\partial h_0} = \delta^a_1 W_{hh},

    and :math:`\partial L/\partial W_{hy} = \sum_t \frac1m(\hat Y_t - Y_t)^\top H_t`,
    :math:`\partial L/\partial b_y = \sum_t \frac1m(\hat Y_t - Y_t)^\top \mathbf{1}`. Time and
    memory are linear in :math:`T`. Derived in chapter 6 (as a sum over paths through time).

    Parameters
    ----------
    params : RNNParams or sequence of 5 arrays
        ``(W_xh, W_hh, b_h, W_hy, b_y)``, see :func:`rnn_forward`.
    X : array_like of shape (batch, T, features)
    Y : array_like of shape (batch, T, outputs) or (batch, outputs)
        Targets: every step for ``"many_to_many"``, the last step for ``"many_to_one"``.
    h0 : array_like of shape (hidden,) or (batch, hidden), optional
        Initial state; zeros if omitted.
    mode : {"many_to_many", "many_to_one"}

    Returns
    -------
    loss : float
        :math:`L = \sum_t L_t` (see the module docstring for :math:`L_t`).
    grads : RNNGradients
        One array per parameter, of its shape, and ``h0`` of the shape of the ``h0`` given
        (``(batch, hidden)`` if none was given); dtype as the computation's.

    Raises
    ------
    ValueError
        If a shape does not fit (``Y``'s shape is checked against ``mode``), or an input holds
        NaN or infinity.

    See Also
    --------
    truncated_bptt : the same with each loss term's gradient cut after ``k`` steps.

    Examples
    --------
    A scalar RNN over two steps with a target at the end; ``dL/dW_hh = (y_hat - y) w_hy
    (1 - h_2^2) h_1``:

    >>> p = RNNParams(np.array([[1.0]]), np.array([[0.5]]), np.zeros(1), np.array([[2.0]]), np.zeros(1))
    >>> loss, g = bptt(p, np.array([[[1.0], [0.0]]]), np.array([[0.0]]), mode="many_to_one")
    >>> h1, h2 = np.tanh(1.0), np.tanh(0.5 * np.tanh(1.0))
    >>> bool(np.isclose(g.W_hh[0, 0], 2 * h2 * 2 * (1 - h2**2) * h1))
    True
    """
    mode = check_mode(mode)
    p, Xt, h0_arr, dtype = _prepare(params, X, h0)
    T, B, _ = Xt.shape
    Yv = check_targets(Y, B, T, p.W_hy.shape[0], mode, dtype)
    return _loss_and_grads(p, Xt, time_major_targets(Yv, mode), h0_arr, mode, None)


def truncated_bptt(
    params: RNNParams | Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    k: int,
    h0: np.ndarray | None = None,
    *,
    mode: str = "many_to_many",
) -> tuple[float, RNNGradients]:
    r"""Loss and truncated-BPTT gradients: each loss term's gradient flows back at most ``k`` steps.

    Definition: the gradient of :math:`L_t` is taken through the last ``k`` steps of the
    recurrence only, :math:`t, t-1, \dots, t-k+1`, as if the state :math:`h_{t-k}` entering them
    were a constant (when :math:`t - k \ge 1`; when :math:`t \le k` the window reaches :math:`h_0`
    and nothing is cut). In the sum over paths of chapter 6,

    .. math:: \widetilde{\frac{\partial L}{\partial \theta}} = \sum_{t=1}^{T}
              \sum_{s=\max(1,\, t-k+1)}^{t} \frac{\partial L_t}{\partial h_t}
              \Bigl(\prod_{r=t}^{s+1} J_r\Bigr) \frac{\partial^+ h_s}{\partial \theta},
              \qquad J_r = \operatorname{diag}(1 - h_r^2)\, W_{hh},

    where :math:`\partial^+ h_s / \partial\theta` is the immediate partial derivative of step
    :math:`s` with :math:`h_{s-1}` held fixed. So ``k = 1`` keeps only each step's own term,
    ``k >= T`` cuts nothing and equals :func:`bptt` exactly (it runs the same code), and
    :math:`\partial L/\partial h_0` collects the terms :math:`t \le k`. The loss itself and
    :math:`\partial L/\partial W_{hy}`, :math:`\partial L/\partial b_y` are never truncated.

    For ``"many_to_one"`` there is one loss term, and this is the ordinary backward recursion
    stopped after ``k`` steps. For ``"many_to_many"`` with ``k < T`` it costs ``k`` matrix products
    of size ``(T * batch, hidden)``, so time :math:`O(kT)` and memory :math:`O(T)`. Derived in
    chapter 6.

    Parameters
    ----------
    params, X, Y, h0, mode
        As for :func:`bptt`.
    k : int
        Number of steps each loss term's gradient may flow back, ``k >= 1``.

    Returns
    -------
    loss : float
    grads : RNNGradients
        As for :func:`bptt`.

    Examples
    --------
    With ``k = 1`` the gradient of :math:`W_{hh}` ignores that :math:`h_1` depends on :math:`W_{hh}`:

    >>> p = RNNParams(np.array([[1.0]]), np.array([[0.5]]), np.zeros(1), np.array([[2.0]]), np.zeros(1))
    >>> X, Y = np.array([[[1.0], [0.0]]]), np.array([[0.0]])
    >>> _, g1 = truncated_bptt(p, X, Y, k=1, mode="many_to_one")
    >>> h1, h2 = np.tanh(1.0), np.tanh(0.5 * np.tanh(1.0))
    >>> bool(np.isclose(g1.W_hh[0, 0], 2 * h2 * 2 * (1 - h2**2) * h1))
    True
    >>> _, g2 = truncated_bptt(p, X, Y, k=2, mode="many_to_one")
    >>> bool(np.isclose(g2.W_xh[0, 0], 2 * h2 * 2 * (1 - h2**2) * 0.5 * (1 - h1**2) * 1.0))
    True
    """
    mode = check_mode(mode)
    k = check_int(k, "k", 1)
    p, Xt, h0_arr, dtype = _prepare(params, X, h0)
    T, B, _ = Xt.shape
    Yv = check_targets(Y, B, T, p.W_hy.shape[0], mode, dtype)
    return _loss_and_grads(p, Xt, time_major_targets(Yv, mode), h0_arr, mode, None if k >= T else k)


_Grads = TypeVar("_Grads", bound=Sequence[np.ndarray])


def clip_grad_norm(grads: _Grads, max_norm: float) -> tuple[_Grads, float]:
    r"""Rescale a list of gradients so that their global norm is at most ``max_norm``.

    The global norm treats all arrays as one long vector,
    :math:`\lVert g \rVert = \sqrt{\sum_i \lVert g_i \rVert_F^2}`. If it exceeds ``max_norm``, every
    array is multiplied by the same factor :math:`\text{max\_norm} / \lVert g \rVert`, so the
    direction of the update is kept and only its length shrinks; otherwise nothing changes.
    Derived in chapter 6.

    Parameters
    ----------
    grads : sequence of arrays
        For instance an :class:`RNNGradients` or a list.
    max_norm : float
        Largest allowed global norm, > 0.

    Returns
    -------
    clipped : same type as ``grads``
        New arrays (same shapes and dtypes) when clipped; the very same arrays when the norm
        was at most ``max_norm``. A list is returned for sequences that are not tuples.
    norm : float
        The global norm *before* clipping.

    Raises
    ------
    ValueError
        If ``max_norm <= 0``, or the gradients hold NaN or infinity (no rescaling repairs those),
        or their global norm overflows.

    Examples
    --------
    >>> clipped, norm = clip_grad_norm([np.array([3.0]), np.array([[4.0]])], max_norm=1.0)
    >>> norm
    5.0
    >>> clipped
    [array([0.6]), array([[0.8]])]
    """
    limit = check_positive(max_norm, "max_norm")
    arrays = as_array_list(grads, "grads")  # clipping cannot repair NaN or infinite gradients
    if not arrays:
        raise ValueError("grads must hold at least one array")
    norm = global_norm(arrays)
    if not np.isfinite(norm):
        raise ValueError(
            f"the global norm of grads is not finite ({norm}): the sum of squares of these finite gradients "
            "overflows the floating-point range; lower the learning rate or clip earlier"
        )
    if norm > limit:
        scale = limit / norm
        arrays = [g * np.asarray(scale, dtype=g.dtype) for g in arrays]
    else:
        arrays = list(grads)
    if isinstance(grads, tuple) and hasattr(type(grads), "_fields"):  # RNNGradients and other named tuples
        return type(grads)(*arrays), norm
    if isinstance(grads, tuple):
        return tuple(arrays), norm  # type: ignore[return-value]
    return arrays, norm  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# the model and its training loop
# ---------------------------------------------------------------------------------------------


class RNNHistory(History):
    """What :meth:`RNN.fit` returns: a :class:`~mlmath.training.History` with per-step records too.

    ``history["loss"]`` (also :attr:`loss`) holds, per epoch, the mean over its sequences of the
    sequence loss :math:`L` (each before its step's update).
    """

    def __init__(self) -> None:
        super().__init__()
        self.step_loss: list[float] = []
        """Per step: the batch's loss :math:`L`."""
        self.grad_norm: list[float] = []
        """Per step: the global gradient norm *before* clipping."""

    @property
    def loss(self) -> list[float]:
        """Per epoch: the mean sequence loss (``history["loss"]``)."""
        return self.history.get("loss", [])


class RNN:
    r"""A vanilla RNN with a linear read-out, trained on the summed squared error by (truncated) BPTT.

    .. math:: h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h), \qquad \hat y_t = W_{hy} h_t + b_y.

    Derived in chapter 6. Weights are drawn by :func:`init_params` (Glorot inputs and outputs,
    orthogonal :math:`W_{hh}`, zero biases), in the model's ``dtype``; inputs are cast to it.

    Parameters
    ----------
    input_size : int
        Features per step.
    hidden_size : int
        Hidden units.
    output_size : int
        Outputs per step.
    mode : {"many_to_many", "many_to_one"}
        A target at every step, or at the last step only.
    dtype : float32 or float64, default float64
    seed : int, optional
        Seed of the model's generator: it draws the initial weights and, unless ``fit`` is
        given a ``seed``, the shuffling order of ``fit``.

    Attributes
    ----------
    params : RNNParams
        The live parameter arrays (the optimizer updates them in place).

    Examples
    --------
    >>> model = RNN(input_size=1, hidden_size=8, output_size=1, mode="many_to_one", seed=0)
    >>> model.forward(np.zeros((5, 10, 1))).shape
    (5, 1)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        mode: str = "many_to_many",
        dtype: Any = np.float64,
        seed: int | None = None,
    ) -> None:
        self.mode = check_mode(mode)
        self.seed = None if seed is None else check_int(seed, "seed", 0)
        self._rng = as_generator(self.seed)
        self.params = init_params(input_size, hidden_size, output_size, rng=self._rng, dtype=dtype)
        self.input_size, self.hidden_size, self.output_size = int(input_size), int(hidden_size), int(output_size)
        self.dtype = self.params.W_xh.dtype

    def __repr__(self) -> str:
        return (
            f"RNN(input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"output_size={self.output_size}, mode={self.mode!r}, dtype={self.dtype.name})"
        )

    @property
    def W_xh(self) -> np.ndarray:
        """Input weights, ``(hidden, features)``."""
        return self.params.W_xh

    @property
    def W_hh(self) -> np.ndarray:
        """Recurrent weights, ``(hidden, hidden)``."""
        return self.params.W_hh

    @property
    def b_h(self) -> np.ndarray:
        """Hidden bias, ``(hidden,)``."""
        return self.params.b_h

    @property
    def W_hy(self) -> np.ndarray:
        """Output weights, ``(outputs, hidden)``."""
        return self.params.W_hy

    @property
    def b_y(self) -> np.ndarray:
        """Output bias, ``(outputs,)``."""
        return self.params.b_y

    def get_flat_weights(self) -> np.ndarray:
        r"""All parameters as one new vector :math:`\theta`, in the order of :class:`RNNParams`."""
        return flatten(list(self.params), self.dtype)

    def set_flat_weights(self, theta: np.ndarray) -> None:
        """Copy the vector ``theta`` (as from :meth:`get_flat_weights`) into the parameters, in place."""
        copy_flat_into(self.params, theta)

    def _inputs(self, X: object) -> np.ndarray:
        return check_sequences(X, self.input_size).astype(self.dtype, copy=False)

    def forward(self, X: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
        """Outputs for a batch ``X`` of shape ``(batch, T, features)``.

        Returns ``(batch, T, outputs)`` for ``"many_to_many"``, ``(batch, outputs)`` for
        ``"many_to_one"``. See :func:`rnn_forward`.
        """
        return rnn_forward(self.params, self._inputs(X), h0, mode=self.mode).Y_hat

    predict = forward

    def hidden_states(self, X: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
        r"""Hidden states :math:`h_1, \dots, h_T` of shape ``(batch, T, hidden)``."""
        return rnn_forward(self.params, self._inputs(X), h0, mode=self.mode).H

    def loss(self, X: np.ndarray, Y: np.ndarray, h0: np.ndarray | None = None) -> float:
        r"""The sequence loss :math:`L = \sum_t L_t` on ``(X, Y)`` (see :func:`sequence_loss`)."""
        Xc = self._inputs(X)
        Yc = check_targets(Y, Xc.shape[0], Xc.shape[1], self.output_size, self.mode, self.dtype)
        return sequence_loss(rnn_forward(self.params, Xc, h0, mode=self.mode).Y_hat, Yc)

    def loss_and_gradients(
        self, X: np.ndarray, Y: np.ndarray, h0: np.ndarray | None = None, truncate: int | None = None
    ) -> tuple[float, RNNGradients]:
        """Loss and gradients by full BPTT, or truncated to ``truncate`` steps (see :func:`truncated_bptt`)."""
        Xc = self._inputs(X)
        if truncate is None:
            return bptt(self.params, Xc, Y, h0, mode=self.mode)
        return truncated_bptt(self.params, Xc, Y, check_int(truncate, "truncate", 1), h0, mode=self.mode)

    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        *,
        optimizer: Optimizer | str = "adam",
        epochs: int = 1,
        batch_size: int = 32,
        shuffle: bool = True,
        verbose: int = 1,
        seed: int | None = None,
        clip: float | None = None,
        truncate: int | None = None,
    ) -> RNNHistory:
        r"""Train by minibatch gradient descent on the sequence loss :math:`L`, with the shared loop.

        The loop, its options and its guarantees are those of every model
        (:mod:`mlmath.training`, as :meth:`mlmath.models.Sequential.fit`): each epoch visits the
        sequences in a fresh order (in order if ``shuffle=False``), in batches of
        ``batch_size`` (the last may be smaller). Each step computes the loss and gradients by
        BPTT (truncated to ``truncate`` steps if given), records the gradients' global norm,
        clips it to ``clip`` if given (:func:`clip_grad_norm`), and lets the optimizer update
        the parameter arrays in place.

        Parameters
        ----------
        X : array_like of shape (n_sequences, T, features)
        Y : array_like of shape (n_sequences, T, outputs) or (n_sequences, outputs)
            As ``mode`` requires.
        optimizer : Optimizer or str, default "adam"
            For instance ``mlmath.optim.Adam(learning_rate=0.01)``; an instance keeps its state
            across calls.
        epochs : int >= 1, default 1
        batch_size : int >= 1, default 32
        shuffle : bool, default True
        verbose : {0, 1, 2}, default 1
            0 prints nothing; 1 or 2 print one line per epoch, ``Epoch 3/40 - loss: 0.2212``.
        seed : int, optional
            Seed of the shuffling order for this call; default: the model's generator.
        clip : float > 0, optional
            Largest allowed global gradient norm.
        truncate : int >= 1, optional
            Truncation length ``k`` of :func:`truncated_bptt`; full BPTT if omitted.

        Returns
        -------
        RNNHistory
            ``history["loss"]`` (``.loss``) per epoch; ``step_loss`` and ``grad_norm`` (before
            clipping) per step.

        Raises
        ------
        ValueError, TypeError
            Bad data or arguments, before anything changes.
        FloatingPointError
            When the loss or the gradients become NaN or infinite, naming the epoch and step. On
            this and any other failure (a ``KeyboardInterrupt`` too) the weights and the
            optimizer's state are restored to their values before the call.
        """
        return fit_sequences(
            lambda Xt, Yt, k: _loss_and_grads(self.params, Xt, Yt, None, self.mode, k),
            self.params,
            self._inputs,
            X,
            Y,
            n_outputs=self.output_size,
            mode=self.mode,
            dtype=self.dtype,
            default_rng=self._rng,
            history=RNNHistory(),
            optimizer=optimizer,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=shuffle,
            verbose=verbose,
            seed=seed,
            clip=clip,
            truncate=truncate,
        )
