r"""Gated recurrent networks: the LSTM and the GRU, trained by backpropagation through time (full or truncated).

Derived in chapter 7. Both read batches of sequences as :class:`mlmath.rnn.RNN` does (same shapes,
modes, read-out, loss, truncation and training loop); they differ in the step that carries the
state from :math:`t-1` to :math:`t`. Every weight matrix has the book's shape ``(n_out, n_in)``,
and the weights of all gates are stacked into one matrix, so that one matrix product computes the
pre-activations :math:`a_t` of every gate at once.

**LSTM** (gate blocks in the order **i, f, g, o**; :math:`\sigma` is the logistic sigmoid):

.. math::

    a_t &= W_x x_t + W_h h_{t-1} + b
         = \begin{pmatrix} a^i_t \\ a^f_t \\ a^g_t \\ a^o_t \end{pmatrix}, \qquad
    i_t = \sigma(a^i_t), \quad f_t = \sigma(a^f_t), \quad g_t = \tanh(a^g_t), \quad o_t = \sigma(a^o_t), \\
    c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t), \qquad
    \hat y_t = W_{hy} h_t + b_y,

with input gate :math:`i`, forget gate :math:`f`, candidate :math:`g`, output gate :math:`o`, cell
state :math:`c_t`; ``W_x`` has shape ``(4 hidden, features)``, ``W_h`` ``(4 hidden, hidden)``, ``b``
``(4 hidden,)``; rows ``k * hidden : (k + 1) * hidden`` hold gate ``k`` of i, f, g, o.

**GRU** (gate blocks in the order **z, r, n**; two biases, the form of PyTorch and of Keras's
``reset_after=True``):

.. math::

    z_t &= \sigma(W_{xz} x_t + b_{xz} + W_{hz} h_{t-1} + b_{hz}), \qquad
    r_t = \sigma(W_{xr} x_t + b_{xr} + W_{hr} h_{t-1} + b_{hr}), \\
    n_t &= \tanh\bigl(W_{xn} x_t + b_{xn} + r_t \odot (W_{hn} h_{t-1} + b_{hn})\bigr), \qquad
    h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1},

with update gate :math:`z`, reset gate :math:`r` and candidate :math:`n`; ``W_x`` stacks
:math:`W_{xz}, W_{xr}, W_{xn}` into shape ``(3 hidden, features)``, ``W_h`` stacks
:math:`W_{hz}, W_{hr}, W_{hn}` into ``(3 hidden, hidden)``, and ``b_x``, ``b_h`` are ``(3 hidden,)``.

**Batches, modes, loss.** As in :mod:`mlmath.rnn`: ``X`` of shape ``(batch, T, features)``; targets
``(batch, T, outputs)`` for ``"many_to_many"`` or ``(batch, outputs)`` for ``"many_to_one"``; the loss
:math:`L = \sum_t L_t` with :math:`L_t = \frac1m \sum_i \tfrac12 \lVert \hat y_{t,i} - y_{t,i} \rVert^2`
(:func:`mlmath.rnn.sequence_loss`). Initial states :math:`h_0` (and :math:`c_0`) are zeros unless
given, of shape ``(hidden,)`` (shared by all sequences; its gradient sums over the batch) or
``(batch, hidden)``.

**Truncated BPTT** follows :func:`mlmath.rnn.truncated_bptt`: the gradient of each loss term
:math:`L_t` flows back through the last :math:`k` steps only, the state entering that window
(:math:`h_{t-k}`, and for the LSTM :math:`c_{t-k}`) held constant; :math:`k \ge T` runs the code of
full BPTT and gives the same numbers, bit for bit.

**Other frameworks' layouts.** PyTorch's ``nn.LSTM`` stores ``weight_ih_l0`` ``(4 hidden,
features)`` and ``weight_hh_l0`` ``(4 hidden, hidden)`` in our order i, f, g, o, and two biases whose
sum is our ``b``. Keras's ``LSTM`` stores the transposes, ``kernel`` ``(features, 4 hidden)`` and
``recurrent_kernel`` ``(hidden, 4 hidden)``, in the order i, f, c, o (its c is our candidate g), and
one ``bias`` ``(4 hidden,)``. PyTorch's ``nn.GRU`` orders its blocks **r, z, n** (reset first); Keras's
``GRU`` orders them z, r, h (its h is our n), transposed, with ``bias`` of shape ``(2, 3 hidden)``:
the input bias, then the recurrent one. :func:`lstm_params_from_torch`,
:func:`lstm_params_from_keras`, :func:`gru_params_from_torch` and :func:`gru_params_from_keras`
(and the models' ``from_torch_weights`` and ``from_keras_weights``) do the conversion.

**Initialization** as Keras: Glorot-uniform ``W_x`` and read-out ``W_hy``; the stacked recurrent
matrix ``W_h`` drawn as one orthogonal matrix of shape ``(4 hidden, hidden)`` (``(3 hidden,
hidden)`` for the GRU) with orthonormal columns, as Keras's ``Orthogonal`` draws its whole
``recurrent_kernel`` (so the gate blocks are not orthogonal one by one); zero biases, except the
LSTM's forget-gate block, which starts at 1 (Keras's ``unit_forget_bias=True``: the cell keeps
its memory at first, :math:`f_t \approx \sigma(1) \approx 0.73`).

**dtypes.** The computation runs in ``numpy.result_type`` of ``X`` and the parameters: float32 in
gives float32 out. Targets and initial states are cast to that dtype.

**Cost.** The input projections :math:`X_t W_x^\top + \mathbf{1} b^\top` of all steps are one
(batched) matrix product, time-major, written straight into the array of the gates; each step
adds one product for the recurrence of all gates at once and makes a few elementwise passes over
preallocated arrays; the backward pass is one product per step for the recurrent
gradient and one product over all steps for each weight gradient (its bias included). Time and
memory are linear in :math:`T`. Inside, the states are stored feature-major, ``(hidden, batch)``
per step, so that each gate is a contiguous block of rows; the sigmoids are computed as
:math:`\sigma(a) = \tfrac12 \tanh(a/2) + \tfrac12`, one ``tanh`` for all gates of a step. The
work arrays are kept from call to call (per thread, those under 256 MiB), as PyTorch's caching
allocator keeps its memory: fresh memory costs a page fault per 4 KiB on every call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple

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
    init_generator,
    readout,
    readout_gradients,
    scratch,
    time_major,
    time_major_targets,
)
from mlmath._validation import as_float_array, as_generator, check_bool, check_dtype, check_int, check_size
from mlmath.optim import Optimizer
from mlmath.rnn import RNNHistory, sequence_loss

__all__ = [
    "GRU",
    "LSTM",
    "GRUForward",
    "GRUGradients",
    "GRUParams",
    "LSTMForward",
    "LSTMGradients",
    "LSTMParams",
    "gru_bptt",
    "gru_forward",
    "gru_init_params",
    "gru_params_from_keras",
    "gru_params_from_torch",
    "gru_truncated_bptt",
    "lstm_bptt",
    "lstm_forward",
    "lstm_init_params",
    "lstm_params_from_keras",
    "lstm_params_from_torch",
    "lstm_truncated_bptt",
]


class LSTMParams(NamedTuple):
    """The five parameter arrays of an LSTM with a linear read-out, in the order the optimizers receive them."""

    W_x: np.ndarray
    """Input weights of the gates i, f, g, o stacked, shape ``(4 hidden, features)``."""
    W_h: np.ndarray
    """Recurrent weights of the gates i, f, g, o stacked, shape ``(4 hidden, hidden)``."""
    b: np.ndarray
    """Gate biases i, f, g, o, shape ``(4 hidden,)``."""
    W_hy: np.ndarray
    """Output weights, shape ``(outputs, hidden)``."""
    b_y: np.ndarray
    """Output bias, shape ``(outputs,)``."""


class LSTMGradients(NamedTuple):
    r"""Gradients of the sequence loss :math:`L`: one array per parameter, each of its shape, then ``h0`` and ``c0``."""

    W_x: np.ndarray
    r""":math:`\partial L / \partial W_x`, shape ``(4 hidden, features)``."""
    W_h: np.ndarray
    r""":math:`\partial L / \partial W_h`, shape ``(4 hidden, hidden)``."""
    b: np.ndarray
    r""":math:`\partial L / \partial b`, shape ``(4 hidden,)``."""
    W_hy: np.ndarray
    r""":math:`\partial L / \partial W_{hy}`, shape ``(outputs, hidden)``."""
    b_y: np.ndarray
    r""":math:`\partial L / \partial b_y`, shape ``(outputs,)``."""
    h0: np.ndarray
    r""":math:`\partial L / \partial h_0`, the shape of the ``h0`` given (``(batch, hidden)`` if none was)."""
    c0: np.ndarray
    r""":math:`\partial L / \partial c_0`, the shape of the ``c0`` given (``(batch, hidden)`` if none was)."""


class LSTMForward(NamedTuple):
    r"""What :func:`lstm_forward` returns: the outputs, the states and the gate activations of every step.

    Each array but ``Y_hat`` has shape ``(batch, T, hidden)``, and its entry ``[:, t - 1]`` belongs to step :math:`t`.
    """

    Y_hat: np.ndarray
    """Outputs: ``(batch, T, outputs)`` for ``"many_to_many"``, ``(batch, outputs)`` for ``"many_to_one"``."""
    H: np.ndarray
    r"""Hidden states :math:`h_1, \dots, h_T`."""
    C: np.ndarray
    r"""Cell states :math:`c_1, \dots, c_T`."""
    I: np.ndarray  # noqa: E741 (the book's name of the input gate)
    r"""Input gates :math:`i_t = \sigma(a^i_t)`."""
    F: np.ndarray
    r"""Forget gates :math:`f_t = \sigma(a^f_t)`."""
    G: np.ndarray
    r"""Candidates :math:`g_t = \tanh(a^g_t)`."""
    O: np.ndarray  # noqa: E741 (the book's name of the output gate)
    r"""Output gates :math:`o_t = \sigma(a^o_t)`."""


class GRUParams(NamedTuple):
    """The six parameter arrays of a GRU with a linear read-out, in the order the optimizers receive them."""

    W_x: np.ndarray
    """Input weights of the gates z, r, n stacked, shape ``(3 hidden, features)``."""
    W_h: np.ndarray
    """Recurrent weights of the gates z, r, n stacked, shape ``(3 hidden, hidden)``."""
    b_x: np.ndarray
    """Input-side biases z, r, n, shape ``(3 hidden,)``."""
    b_h: np.ndarray
    r"""Recurrent-side biases z, r, n, shape ``(3 hidden,)``; :math:`b_{hn}` sits inside :math:`r_t \odot (\cdot)`."""
    W_hy: np.ndarray
    """Output weights, shape ``(outputs, hidden)``."""
    b_y: np.ndarray
    """Output bias, shape ``(outputs,)``."""


class GRUGradients(NamedTuple):
    r"""Gradients of the sequence loss :math:`L`: one array per parameter, each of its shape, then ``h0``."""

    W_x: np.ndarray
    r""":math:`\partial L / \partial W_x`, shape ``(3 hidden, features)``."""
    W_h: np.ndarray
    r""":math:`\partial L / \partial W_h`, shape ``(3 hidden, hidden)``."""
    b_x: np.ndarray
    r""":math:`\partial L / \partial b_x`, shape ``(3 hidden,)``."""
    b_h: np.ndarray
    r""":math:`\partial L / \partial b_h`, shape ``(3 hidden,)``."""
    W_hy: np.ndarray
    r""":math:`\partial L / \partial W_{hy}`, shape ``(outputs, hidden)``."""
    b_y: np.ndarray
    r""":math:`\partial L / \partial b_y`, shape ``(outputs,)``."""
    h0: np.ndarray
    r""":math:`\partial L / \partial h_0`, the shape of the ``h0`` given (``(batch, hidden)`` if none was)."""


class GRUForward(NamedTuple):
    r"""What :func:`gru_forward` returns: the outputs, the states and the gate activations of every step.

    Each array but ``Y_hat`` has shape ``(batch, T, hidden)``, and its entry ``[:, t - 1]`` belongs to step :math:`t`.
    """

    Y_hat: np.ndarray
    """Outputs: ``(batch, T, outputs)`` for ``"many_to_many"``, ``(batch, outputs)`` for ``"many_to_one"``."""
    H: np.ndarray
    r"""Hidden states :math:`h_1, \dots, h_T`."""
    Z: np.ndarray
    r"""Update gates :math:`z_t`."""
    R: np.ndarray
    r"""Reset gates :math:`r_t`."""
    N: np.ndarray
    r"""Candidates :math:`n_t`."""


# ---------------------------------------------------------------------------------------------
# private checks
# ---------------------------------------------------------------------------------------------

_HINTS = {
    4: ("(4 hidden, features)", "(4 hidden, hidden)", "(4 hidden,)"),
    3: ("(3 hidden, features)", "(3 hidden, hidden)", "(3 hidden,)"),
}
_READOUT_HINTS = ("(outputs, hidden)", "(outputs,)")


def _stacked_hidden(W: np.ndarray, name: str, gates: int, *, transposed: bool = False) -> int:
    """The hidden size of a recurrent matrix that stacks ``gates`` blocks, ``(gates hidden, hidden)``.

    ``transposed`` reads Keras's layout ``(hidden, gates hidden)``.
    """
    rows, cols = W.shape[::-1] if transposed else W.shape
    if cols == 0 or rows != gates * cols:
        want = f"(hidden, {gates} hidden)" if transposed else f"({gates} hidden, hidden)"
        raise ValueError(
            f"{name} must have shape {want}, the {gates} gate blocks stacked, with hidden >= 1; got shape {W.shape}"
        )
    return cols


def _check_stacked(W: np.ndarray, name: str, gates: int, hidden: int, source: str, *, transposed: bool = False) -> None:
    """Raise unless the input matrix ``W`` stacks ``gates`` blocks of ``hidden`` rows (columns if ``transposed``)."""
    size = W.shape[1] if transposed else W.shape[0]
    if size != gates * hidden:
        want = (
            f"(features, {gates} hidden) = (features, {gates * hidden})"
            if transposed
            else f"({gates} hidden, features) = ({gates * hidden}, features)"
        )
        raise ValueError(f"{name} must have shape {want} with hidden = {hidden} from {source}; got shape {W.shape}")


def _check_bias(b: np.ndarray, name: str, gates: int, hidden: int) -> None:
    if b.shape != (gates * hidden,):
        raise ValueError(f"{name} must have shape ({gates} hidden,) = ({gates * hidden},); got shape {b.shape}")


def _check_lstm_params(params: object) -> LSTMParams:
    """``params`` as :class:`LSTMParams` of float arrays whose shapes fit together, messages naming each field."""
    W_x, W_h, b, W_hy, b_y = as_param_arrays(params, LSTMParams, (2, 2, 1, 2, 1), (*_HINTS[4], *_READOUT_HINTS))
    hidden = _stacked_hidden(W_h, "params.W_h", 4)
    _check_stacked(W_x, "params.W_x", 4, hidden, "params.W_h")
    _check_bias(b, "params.b", 4, hidden)
    check_readout(W_hy, b_y, hidden)
    return LSTMParams(W_x, W_h, b, W_hy, b_y)


def _check_gru_params(params: object) -> GRUParams:
    """``params`` as :class:`GRUParams` of float arrays whose shapes fit together, messages naming each field."""
    W_x, W_h, b_x, b_h, W_hy, b_y = as_param_arrays(
        params, GRUParams, (2, 2, 1, 1, 2, 1), (*_HINTS[3], _HINTS[3][2], *_READOUT_HINTS)
    )
    hidden = _stacked_hidden(W_h, "params.W_h", 3)
    _check_stacked(W_x, "params.W_x", 3, hidden, "params.W_h")
    _check_bias(b_x, "params.b_x", 3, hidden)
    _check_bias(b_h, "params.b_h", 3, hidden)
    check_readout(W_hy, b_y, hidden)
    return GRUParams(W_x, W_h, b_x, b_h, W_hy, b_y)


def _prepare(
    p: Any, gates: int, X: object, states: dict[str, object]
) -> tuple[Any, np.ndarray, list[np.ndarray | None], np.dtype]:
    """Check ``X`` and the initial states against checked params ``p``; cast all to one dtype.

    Returns params, ``X`` time-major ``(T, batch, features)``, the initial states (``None`` for
    zeros) and the dtype.
    """
    X_arr = check_sequences(X, p.W_x.shape[1], "W_x", f"{gates} hidden")
    dtype = np.result_type(X_arr, *p)
    p = type(p)(*(a.astype(dtype, copy=False) for a in p))
    hidden = p.W_h.shape[1]
    initial = [check_initial_state(v, X_arr.shape[0], hidden, dtype, name) for name, v in states.items()]
    return p, time_major(X_arr, dtype), initial, dtype


def _state_gradient(d: np.ndarray, given: np.ndarray | None) -> np.ndarray:
    """The gradient of an initial state of the shape given: a shared 1-D state sums over the batch."""
    return d.sum(axis=0) if given is not None and given.ndim == 1 else d


def _half(gates: int, hidden: int, tanh_blocks: Sequence[int], dtype: np.dtype) -> np.ndarray:
    r"""Per row of a stacked matrix: 1/2 for a sigmoid gate, 1 for a tanh block.

    The kernels compute :math:`\sigma(a) = \tfrac12 \tanh(a/2) + \tfrac12`, with one ``tanh`` over
    all gates of a step: weights and biases of the sigmoid gates are halved once (exactly, a
    power of 2), and the ``tanh`` is followed by one multiply and one add per step.
    """
    half = np.full((gates, hidden), 0.5, dtype=dtype)
    half[list(tanh_blocks)] = 1
    return half.reshape(-1)


# ---------------------------------------------------------------------------------------------
# LSTM kernels, unchecked; Xt time-major (T, batch, features). Inside, the states are feature-major,
# shape (hidden, batch) per step: each gate is a contiguous block of rows, the recurrence is the
# product W_h H_{t-1}, and the gate blocks are kept in the order o, i, f, g (the three sigmoids,
# then the tanh). Every weight and gradient leaves in the public order i, f, g, o.
# ---------------------------------------------------------------------------------------------

_LSTM_INSIDE = (3, 0, 1, 2)  # block k inside is public block _LSTM_INSIDE[k]: o, i, f, g
_LSTM_PUBLIC = (1, 2, 3, 0)  # public block k is block _LSTM_PUBLIC[k] inside: i, f, g, o


def _blocks(a: np.ndarray, n: int, order: Sequence[int]) -> np.ndarray:
    """The ``n``-row blocks of ``a`` (a stacked matrix or bias) in the given order, as a new array."""
    return np.concatenate([a[k * n : (k + 1) * n] for k in order])


class _LSTMTrace(NamedTuple):
    """What the forward pass keeps for the backward pass (scratch arrays, time-major)."""

    Hs: np.ndarray
    """``(T + 1, hidden, batch)``: ``Hs[0]`` = :math:`h_0`, ``Hs[t]`` = :math:`h_t`, feature-major."""
    Cs: np.ndarray
    """``(T + 1, hidden, batch)``: ``Cs[0]`` = :math:`c_0`, ``Cs[t]`` = :math:`c_t`."""
    A: np.ndarray
    """``(T, 4 hidden, batch)``: the gates :math:`o, i, f, g` of step ``t + 1`` in ``A[t]``."""
    TC: np.ndarray
    r"""``(T, hidden, batch)``: :math:`\tanh(c_t)` in ``TC[t - 1]``."""
    HB: np.ndarray
    """``(T + 1, batch, hidden)``: the hidden states batch-major, for the read-out and ``dW_h``."""
    X1: np.ndarray
    """``(T * batch, features + 1)``: the inputs, time-major, and a column of ones (for the bias)."""


def _feature_major(state: np.ndarray | None, out: np.ndarray) -> None:
    """Write an initial state, ``(hidden,)`` or ``(batch, hidden)`` (zeros if ``None``), into ``out``, feature-major."""
    if state is None:
        out[...] = 0
    else:
        out[...] = state[:, None] if state.ndim == 1 else state.T


def _with_ones(Xt: np.ndarray) -> np.ndarray:
    r"""``Xt`` ``(T, batch, features)`` as ``(T * batch, features + 1)``, its last column ones.

    A product with it carries a bias along: :math:`[W \; b] [x; 1] = W x + b`, and the gradient
    :math:`\sum \delta [x; 1]^\top` holds :math:`\partial L / \partial b` in its last column.
    """
    T, B, n_x = Xt.shape
    X1 = scratch("gated.X1", (T * B, n_x + 1), Xt.dtype)
    X1[:, :n_x] = Xt.reshape(T * B, n_x)
    X1[:, n_x] = 1
    return X1


def _input_products(W_xb: np.ndarray, X1: np.ndarray, T: int, out: np.ndarray) -> None:
    r"""``out[t] = W_xb [x; 1]`` for every sequence and step: :math:`W_x X_t^\top + b \mathbf{1}^\top`, time-major.

    One batched product for all steps, written straight into the gates' array ``out`` of shape
    ``(T, rows, batch)``, where each step then adds its recurrent part in place.
    """
    B = X1.shape[0] // T
    X3 = scratch("gated.X3", (T, X1.shape[1], B), X1.dtype)
    np.copyto(X3, X1.reshape(T, B, -1).transpose(0, 2, 1))
    np.matmul(W_xb, X3, out=out)


def _lstm_states(p: LSTMParams, Xt: np.ndarray, h0: np.ndarray | None, c0: np.ndarray | None) -> _LSTMTrace:
    """The forward recursion: one product for the inputs of all steps, one product per step for the recurrence."""
    T, B, _ = Xt.shape
    n = p.W_h.shape[1]
    dt = Xt.dtype
    half = _half(4, n, (3,), dt)[:, None]  # sigmoid(a) = tanh(a / 2) / 2 + 1 / 2 for o, i, f; g = tanh(a)
    W_xb = np.concatenate([_blocks(p.W_x, n, _LSTM_INSIDE), _blocks(p.b, n, _LSTM_INSIDE)[:, None]], axis=1) * half
    W_h = _blocks(p.W_h, n, _LSTM_INSIDE) * half
    X1 = _with_ones(Xt)
    Hs, Cs = scratch("lstm.Hs", (T + 1, n, B), dt), scratch("lstm.Cs", (T + 1, n, B), dt)
    A, TC = scratch("lstm.A", (T, 4 * n, B), dt), scratch("lstm.TC", (T, n, B), dt)
    _input_products(W_xb, X1, T, A)  # W_x X_t^T + b for all steps in one product
    _feature_major(h0, Hs[0])
    _feature_major(c0, Cs[0])
    rec, ig = scratch("lstm.rec", (4 * n, B), dt), scratch("lstm.ig", (n, B), dt)
    for t in range(T):
        a = A[t]
        np.matmul(W_h, Hs[t], out=rec)  # the recurrence of all four gates in one product
        a += rec
        np.tanh(a, out=a)
        s = a[: 3 * n]
        s *= 0.5
        s += 0.5  # a = [o, i, f, g]
        c = Cs[t + 1]
        np.multiply(a[2 * n : 3 * n], Cs[t], out=c)
        np.multiply(a[n : 2 * n], a[3 * n :], out=ig)
        c += ig  # c_t = f * c_{t-1} + i * g
        np.tanh(c, out=TC[t])
        np.multiply(a[:n], TC[t], out=Hs[t + 1])  # h_t = o * tanh(c_t)
    HB = scratch("lstm.HB", (T + 1, B, n), dt)
    np.copyto(HB, Hs.transpose(0, 2, 1))
    return _LSTMTrace(Hs, Cs, A, TC, HB, X1)


def _lstm_factors(tr: _LSTMTrace, t0: int, t1: int, P: np.ndarray, Pc: np.ndarray) -> None:
    r"""The local derivatives of the steps ``t0 + 1, ..., t1``, written into ``P`` and ``Pc``.

    ``P`` of shape ``(t1 - t0, 4 hidden, batch)`` gets, block by block (o, i, f, g),
    :math:`\tanh(c_t) \odot o(1-o)`, :math:`g \odot i(1-i)`, :math:`c_{t-1} \odot f(1-f)`,
    :math:`i \odot (1-g^2)`, and ``Pc`` of shape ``(t1 - t0, hidden, batch)`` gets
    :math:`o \odot (1 - \tanh^2(c_t))`: then :math:`\delta^c_t = \delta^c_{t+1} \odot f_{t+1} +
    \delta^h_t \odot Pc_t` and :math:`\delta^a_t = [\delta^h_t \odot P^o_t, \delta^c_t \odot P^{i,f,g}_t]`.
    """
    A, TC = tr.A[t0:t1], tr.TC[t0:t1]
    n = TC.shape[1]
    o, i, g = A[:, :n], A[:, n : 2 * n], A[:, 3 * n :]
    np.subtract(1, A, out=P)
    P *= A  # s (1 - s) in every block; the g block is replaced below
    P[:, :n] *= TC
    P[:, n : 2 * n] *= g
    P[:, 2 * n : 3 * n] *= tr.Cs[t0:t1]
    Pg = P[:, 3 * n :]
    np.multiply(g, g, out=Pg)
    np.subtract(1, Pg, out=Pg)
    Pg *= i
    np.multiply(TC, TC, out=Pc)
    np.subtract(1, Pc, out=Pc)
    Pc *= o


_CHUNK_BYTES = 1 << 20
"""The backward pass computes the local derivatives of this many bytes of gates at a time, in cache."""


def _lstm_backward(
    p: LSTMParams, tr: _LSTMTrace, G: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The backward recursion over the last ``steps`` steps; returns ``dA``, ``dh0``, ``dc0``, feature-major.

    ``G`` (``(T, hidden, batch)``, used as scratch) holds the direct gradients. For :math:`t = T,
    \dots, 1`, with :math:`\delta^h_t = G_t + W_h^\top \delta^a_{t+1}` and the carry
    :math:`\delta^c_{t+1} \odot f_{t+1}` (both zero at :math:`t = T`):
    :math:`\delta^c_t = \delta^c_{t+1} \odot f_{t+1} + \delta^h_t \odot o_t \odot (1 - \tanh^2 c_t)`,
    then the gates' :math:`\delta^a_t` (``dA``, ``(T, 4 hidden, batch)``, blocks o, i, f, g), written
    over the gates ``tr.A``. The local derivatives are computed a few steps at a time, just before
    they are used. Steps not reached get :math:`\delta^a_t = 0`, and then so do
    :math:`\delta h_0 = W_h^\top \delta^a_1` and :math:`\delta c_0 = \delta^c_1 \odot f_1`.
    """
    T, n, B = G.shape
    dt = G.dtype
    K = max(1, min(T, _CHUNK_BYTES // (4 * n * B * dt.itemsize)))
    P, Pc, F = (
        scratch("lstm.Pk", (K, 4 * n, B), dt),
        scratch("lstm.Pck", (K, n, B), dt),
        scratch("lstm.Fk", (K, n, B), dt),
    )
    W_hT = _blocks(p.W_h, n, _LSTM_INSIDE).T  # a transposed view: BLAS reads it as it is
    dc = scratch("lstm.dc", (n, B), dt)
    carry, rec = np.zeros((n, B), dtype=dt), np.zeros((n, B), dtype=dt)
    stop = T - steps
    t1 = T
    while t1 > stop:
        t0 = max(stop, t1 - K)
        _lstm_factors(tr, t0, t1, P[: t1 - t0], Pc[: t1 - t0])
        np.copyto(F[: t1 - t0], tr.A[t0:t1, 2 * n : 3 * n])
        for j in range(t1 - t0 - 1, -1, -1):
            t = t0 + j
            dh = G[t]
            if t < T - 1:
                dh += rec
            np.multiply(dh, Pc[j], out=dc)
            dc += carry
            d = tr.A[t]  # the gates of step t + 1 become delta^a_t
            np.multiply(P[j, :n], dh, out=d[:n])
            np.multiply(P[j, n:].reshape(3, n, B), dc, out=d[n:].reshape(3, n, B))
            np.multiply(dc, F[j], out=carry)
            np.matmul(W_hT, d, out=rec)  # W_h^T delta^a_t: the recurrent gradient of all gates in one product
        t1 = t0
    if stop > 0:
        tr.A[:stop] = 0
        rec[...] = 0
        carry[...] = 0
    return tr.A, rec, carry


def _lstm_windowed(p: LSTMParams, tr: _LSTMTrace, G: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Truncated ``dA``, ``dh0``, ``dc0``, in which each :math:`L_t` reaches back ``k`` steps only.

    Works lag by lag, vectorized over time: the gradient :math:`(\delta^h, \delta^c)` that
    :math:`L_{s+j}` sends to the state of step :math:`s` is that of :math:`L_{s+j}` at step
    :math:`s + 1` carried back one step; lag 0 is :math:`(G_s, 0)`. The gates' gradients are linear
    in :math:`(\delta^h, \delta^c)`, so they are computed once, from the sum over lags
    :math:`j = 0, \dots, k-1`. Costs ``k`` products for each step.
    """
    T, n, B = G.shape
    P, Pc = scratch("lstm.P", tr.A.shape, G.dtype), scratch("lstm.Pc", G.shape, G.dtype)
    _lstm_factors(tr, 0, T, P, Pc)
    W_hT = _blocks(p.W_h, n, _LSTM_INSIDE).T  # a transposed view: BLAS reads it as it is
    F = tr.A[:, 2 * n : 3 * n]
    P4 = P.reshape(T, 4, n, B)
    msg_h, msg_c = G.copy(), np.zeros_like(G)
    new_h, new_c = np.empty_like(G), np.empty_like(G)
    tot_h, tot_c = G.copy(), np.zeros_like(G)
    dA4 = np.empty_like(P4)
    for j in range(1, min(k, T)):
        m = T - j  # steps s = 1..T-j pass the gradient of L_{s+j-1} back to step s - 1
        src_h, src_c = msg_h[1 : m + 1], msg_c[1 : m + 1]
        dc = src_h * Pc[1 : m + 1]
        dc += src_c
        np.multiply(P4[1 : m + 1, 0], src_h, out=dA4[:m, 0])
        np.multiply(P4[1 : m + 1, 1:], dc[:, None], out=dA4[:m, 1:])
        np.matmul(W_hT, dA4[:m].reshape(m, 4 * n, B), out=new_h[:m])
        np.multiply(dc, F[1 : m + 1], out=new_c[:m])
        tot_h[:m] += new_h[:m]
        tot_c[:m] += new_c[:m]
        msg_h, new_h = new_h, msg_h
        msg_c, new_c = new_c, msg_c
    dc = tot_h * Pc
    dc += tot_c
    P4[:, 0] *= tot_h  # the gates' gradients from the summed state gradients, in place
    P4[:, 1:] *= dc[:, None]
    return P, W_hT @ P[0], dc[0] * F[0]


def _lstm_loss_and_grads(
    p: LSTMParams,
    Xt: np.ndarray,
    Yt: np.ndarray,
    h0: np.ndarray | None,
    c0: np.ndarray | None,
    mode: str,
    k: int | None,
) -> tuple[float, LSTMGradients]:
    """Unchecked loss and gradients; ``Yt`` time-major for many-to-many; ``k=None`` is full BPTT."""
    T, B, n_x = Xt.shape
    n = p.W_h.shape[1]
    tr = _lstm_states(p, Xt, h0, c0)
    loss, dW_hy, db_y, G = readout_gradients(p.W_hy, tr.HB, readout(p.W_hy, p.b_y, tr.HB, mode), Yt, mode)
    GF = scratch("lstm.G", (T, n, B), G.dtype)
    np.copyto(GF, G.transpose(0, 2, 1))
    steps = T if k is None else min(k, T)
    if mode == "many_to_one" or steps == T:
        dA, dh0, dc0 = _lstm_backward(p, tr, GF, steps)
    else:
        dA, dh0, dc0 = _lstm_windowed(p, tr, GF, steps)
    dAT = scratch("lstm.dAT", (4 * n, T, B), dA.dtype)
    np.copyto(dAT, dA.transpose(1, 0, 2))  # (4 hidden, T * batch): each weight gradient is one product
    dA2 = dAT.reshape(4 * n, T * B)
    dW_xb = dA2 @ tr.X1  # [dW_x, db] in one product: the last column of X1 is ones
    dW_x, db = _blocks(dW_xb[:, :n_x], n, _LSTM_PUBLIC), _blocks(dW_xb[:, n_x], n, _LSTM_PUBLIC)
    dW_h = _blocks(dA2 @ tr.HB[:-1].reshape(T * B, n), n, _LSTM_PUBLIC)
    dh0_b, dc0_b = (np.array(d.T, order="C") for d in (dh0, dc0))
    return loss, LSTMGradients(dW_x, dW_h, db, dW_hy, db_y, _state_gradient(dh0_b, h0), _state_gradient(dc0_b, c0))


# ---------------------------------------------------------------------------------------------
# GRU kernels, unchecked; Xt time-major. Feature-major inside as the LSTM's, with the public block
# order z, r, n (the two sigmoids first). Each state carries a last row of ones, so that the
# recurrent product adds b_h: [W_h  b_h] [h; 1] = W_h h + b_h, and the gradient of [W_h  b_h] is
# one product.
# ---------------------------------------------------------------------------------------------


class _GRUTrace(NamedTuple):
    """What the forward pass keeps for the backward pass (scratch arrays, time-major)."""

    Hs: np.ndarray
    """``(T + 1, hidden + 1, batch)``: ``Hs[t, :hidden]`` = :math:`h_t`, feature-major; the last row ones."""
    A: np.ndarray
    """``(T, 3 hidden, batch)``: the gates :math:`z, r, n` of step ``t + 1`` in ``A[t]``."""
    AH: np.ndarray
    r"""``(T, 3 hidden, batch)``: its last block :math:`q_t = W_{hn} h_{t-1} + b_{hn}` (the rest is scratch)."""
    HB: np.ndarray
    """``(T + 1, batch, hidden + 1)``: the states batch-major, with the column of ones."""
    X1: np.ndarray
    """``(T * batch, features + 1)``: the inputs, time-major, and a column of ones."""


def _gru_states(p: GRUParams, Xt: np.ndarray, h0: np.ndarray | None) -> _GRUTrace:
    """The forward recursion: one product for the inputs of all steps, one product per step for the recurrence."""
    T, B, _ = Xt.shape
    n = p.W_h.shape[1]
    dt = Xt.dtype
    half = _half(3, n, (2,), dt)[:, None]  # sigmoid(a) = tanh(a / 2) / 2 + 1 / 2 for z, r
    W_xb = np.concatenate([p.W_x, p.b_x[:, None]], axis=1) * half
    W_hb = np.concatenate([p.W_h, p.b_h[:, None]], axis=1) * half
    X1 = _with_ones(Xt)
    A, AH = scratch("gru.A", (T, 3 * n, B), dt), scratch("gru.AH", (T, 3 * n, B), dt)
    _input_products(W_xb, X1, T, A)  # W_x X_t^T + b_x for all steps in one product
    Hs = scratch("gru.Hs", (T + 1, n + 1, B), dt)
    Hs[:, n] = 1
    _feature_major(h0, Hs[0, :n])
    rq = scratch("gru.rq", (n, B), dt)
    for t in range(T):
        a, ah = A[t], AH[t]
        np.matmul(W_hb, Hs[t], out=ah)  # the recurrence of all three blocks, and b_h, in one product
        zr = a[: 2 * n]
        zr += ah[: 2 * n]
        np.tanh(zr, out=zr)
        zr *= 0.5
        zr += 0.5  # z, r
        cand = a[2 * n :]
        np.multiply(a[n : 2 * n], ah[2 * n :], out=rq)  # r * (W_hn h_{t-1} + b_hn)
        cand += rq
        np.tanh(cand, out=cand)  # n
        h = Hs[t + 1, :n]
        np.subtract(Hs[t, :n], cand, out=h)
        h *= a[:n]
        h += cand  # h_t = n + z * (h_{t-1} - n) = (1 - z) n + z h_{t-1}
    HB = scratch("gru.HB", (T + 1, B, n + 1), dt)
    np.copyto(HB, Hs.transpose(0, 2, 1))
    return _GRUTrace(Hs, A, AH, HB, X1)


def _gru_factors(tr: _GRUTrace, t0: int, t1: int, Ph: np.ndarray, Pn: np.ndarray) -> None:
    r"""The local derivatives of the steps ``t0 + 1, ..., t1``, written into ``Ph`` and ``Pn``.

    ``Pn`` (``(t1 - t0, hidden, batch)``) gets :math:`(1 - z) \odot (1 - n^2)`, and ``Ph``
    (``(t1 - t0, 3 hidden, batch)``) gets :math:`(h_{t-1} - n) \odot z(1-z)`,
    :math:`P^n \odot q \odot r(1-r)` and :math:`P^n \odot r`: the gradients of the recurrent
    pre-activations are then :math:`\delta^h_t \odot Ph_t`, and that of the input-side candidate
    :math:`\delta^h_t \odot P^n_t`.
    """
    A, n = tr.A[t0:t1], Pn.shape[1]
    z, r, cand, q = A[:, :n], A[:, n : 2 * n], A[:, 2 * n :], tr.AH[t0:t1, 2 * n :]
    tmp = Ph[:, 2 * n :]  # scratch until its last use below
    np.multiply(cand, cand, out=Pn)
    np.subtract(1, Pn, out=Pn)
    np.subtract(1, z, out=tmp)
    Pn *= tmp
    np.subtract(1, A[:, : 2 * n], out=Ph[:, : 2 * n])
    Ph[:, : 2 * n] *= A[:, : 2 * n]  # z (1 - z), r (1 - r)
    np.subtract(tr.Hs[t0:t1, :n], cand, out=tmp)
    Ph[:, :n] *= tmp
    Ph[:, n : 2 * n] *= q
    Ph[:, n : 2 * n] *= Pn
    np.multiply(Pn, r, out=tmp)


def _gru_backward(p: GRUParams, tr: _GRUTrace, G: np.ndarray, steps: int) -> np.ndarray:
    r"""The backward recursion over the last ``steps`` steps; returns :math:`\delta h_0`, feature-major.

    For :math:`t = T, \dots, 1`: :math:`\delta^h_t = G_t + \delta^h_{t+1} \odot z_{t+1} +
    W_h^\top \delta^{ah}_{t+1}` (zero terms after :math:`T`), :math:`\delta^{ah}_t = \delta^h_t
    \odot Ph_t`, written over ``tr.AH[t - 1]``, and the input candidate's :math:`\delta^h_t \odot
    P^n_t`, written over the candidate's block of ``tr.A[t - 1]``; :math:`\delta h_0 = \delta^h_1
    \odot z_1 + W_h^\top \delta^{ah}_1`. Steps not reached get zero gradients.
    """
    T, n, B = G.shape
    dt = G.dtype
    K = max(1, min(T, _CHUNK_BYTES // (3 * n * B * dt.itemsize)))
    Ph, Pn = scratch("gru.Pk", (K, 3 * n, B), dt), scratch("gru.Pnk", (K, n, B), dt)
    W_hT = p.W_h.T
    carry, rec = np.zeros((n, B), dtype=dt), np.zeros((n, B), dtype=dt)
    stop = T - steps
    t1 = T
    while t1 > stop:
        t0 = max(stop, t1 - K)
        _gru_factors(tr, t0, t1, Ph[: t1 - t0], Pn[: t1 - t0])
        for j in range(t1 - t0 - 1, -1, -1):
            t = t0 + j
            dh = G[t]
            if t < T - 1:
                dh += rec
                dh += carry
            d = tr.AH[t]
            np.multiply(Ph[j].reshape(3, n, B), dh, out=d.reshape(3, n, B))
            np.multiply(dh, Pn[j], out=tr.A[t, 2 * n :])
            np.multiply(dh, tr.A[t, :n], out=carry)  # the path through z_t * h_{t-1}
            np.matmul(W_hT, d, out=rec)  # one product for the recurrent gradient of all blocks
        t1 = t0
    if stop > 0:
        tr.AH[:stop] = 0
        tr.A[:stop, 2 * n :] = 0
        return np.zeros((n, B), dtype=dt)
    rec += carry
    return rec


def _gru_windowed(p: GRUParams, tr: _GRUTrace, G: np.ndarray, k: int) -> np.ndarray:
    r"""Truncated gradients in which each :math:`L_t` reaches back ``k`` steps only; returns :math:`\delta h_0`.

    The gradient :math:`\delta^h` that :math:`L_{s+j}` sends to :math:`h_s` is carried back lag by
    lag, vectorized over time, and summed over the lags :math:`j = 0, \dots, k - 1`; the gates'
    gradients, linear in it, are computed once from the sum, and written where
    :func:`_gru_backward` writes them.
    """
    T, n, B = G.shape
    Ph, Pn = scratch("gru.P", (T, 3 * n, B), G.dtype), scratch("gru.Pn", G.shape, G.dtype)
    _gru_factors(tr, 0, T, Ph, Pn)
    W_hT = p.W_h.T
    Z = tr.A[:, :n]
    Ph3 = Ph.reshape(T, 3, n, B)
    msg, new, tot = G.copy(), np.empty_like(G), G.copy()
    dAh = np.empty_like(Ph3)
    for j in range(1, min(k, T)):
        m = T - j
        src = msg[1 : m + 1]
        np.multiply(Ph3[1 : m + 1], src[:, None], out=dAh[:m])
        np.matmul(W_hT, dAh[:m].reshape(m, 3 * n, B), out=new[:m])
        new[:m] += src * Z[1 : m + 1]
        tot[:m] += new[:m]
        msg, new = new, msg
    np.multiply(Ph3, tot[:, None], out=tr.AH.reshape(T, 3, n, B))
    np.multiply(Pn, tot, out=tr.A[:, 2 * n :])
    return tot[0] * Z[0] + W_hT @ tr.AH[0]


def _gru_loss_and_grads(
    p: GRUParams, Xt: np.ndarray, Yt: np.ndarray, h0: np.ndarray | None, mode: str, k: int | None
) -> tuple[float, GRUGradients]:
    """Unchecked loss and gradients; ``Yt`` time-major for many-to-many; ``k=None`` is full BPTT."""
    T, B, n_x = Xt.shape
    n = p.W_h.shape[1]
    tr = _gru_states(p, Xt, h0)
    W_hy1 = np.concatenate([p.W_hy, np.zeros((p.W_hy.shape[0], 1), p.W_hy.dtype)], axis=1)  # reads h, not the ones
    loss, dW_hy1, db_y, G = readout_gradients(W_hy1, tr.HB, readout(W_hy1, p.b_y, tr.HB, mode), Yt, mode)
    GF = scratch("gru.G", (T, n, B), G.dtype)
    np.copyto(GF, G[..., :n].transpose(0, 2, 1))
    steps = T if k is None else min(k, T)
    backward = _gru_backward if mode == "many_to_one" or steps == T else _gru_windowed
    dh0 = backward(p, tr, GF, steps)
    dAh, dAx = scratch("gru.dAh", (3 * n, T, B), G.dtype), scratch("gru.dAx", (3 * n, T, B), G.dtype)
    np.copyto(dAh, tr.AH.transpose(1, 0, 2))  # (3 hidden, T * batch): each weight gradient is one product
    np.copyto(dAx[: 2 * n], dAh[: 2 * n])  # the input side's z and r blocks are the recurrent side's
    np.copyto(dAx[2 * n :], tr.A[:, 2 * n :].transpose(1, 0, 2))
    dW_xb = dAx.reshape(3 * n, T * B) @ tr.X1  # [dW_x, db_x]
    dW_hb = dAh.reshape(3 * n, T * B) @ tr.HB[:-1].reshape(T * B, n + 1)  # [dW_h, db_h]
    return loss, GRUGradients(
        np.array(dW_xb[:, :n_x], order="C"),
        np.array(dW_hb[:, :n], order="C"),
        dW_xb[:, n_x].copy(),
        dW_hb[:, n].copy(),
        np.array(dW_hy1[:, :n], order="C"),
        db_y,
        _state_gradient(np.array(dh0.T, order="C"), h0),
    )


# ---------------------------------------------------------------------------------------------
# public functions: initialization
# ---------------------------------------------------------------------------------------------


def _draw(
    gates: int,
    input_size: object,
    hidden_size: object,
    output_size: object,
    seed: object,
    rng: object,
    dtype: object,
) -> tuple[list[np.ndarray], int, np.dtype]:
    """Draw ``W_x``, ``W_h`` and ``W_hy`` as Keras does, in that order; return them, ``hidden`` and the dtype."""
    n_x = check_size(input_size, "input_size")
    n = check_size(hidden_size, "hidden_size")
    n_y = check_size(output_size, "output_size")
    dt = check_dtype(dtype)
    gen = init_generator(seed, rng)
    W_x = initializers.glorot_uniform((gates * n, n_x), gen)
    W_h = initializers.orthogonal((gates * n, n), gen)  # the whole stacked matrix, orthonormal columns
    W_hy = initializers.glorot_uniform((n_y, n), gen)
    return [W.astype(dt) for W in (W_x, W_h, W_hy)], n, dt


def lstm_init_params(
    input_size: int,
    hidden_size: int,
    output_size: int,
    *,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    dtype: Any = np.float64,
    unit_forget_bias: bool = True,
) -> LSTMParams:
    r"""Draw the parameters of an LSTM as Keras's ``LSTM`` + ``Dense`` do.

    ``W_x`` and ``W_hy`` are Glorot-uniform, :math:`U(-r, r)` with :math:`r = \sqrt{6 / (n_\text{in}
    + n_\text{out})}` (for ``W_x``, :math:`n_\text{out} = 4\,\text{hidden}`, as for Keras's whole
    ``kernel``); ``W_h`` is one random matrix of shape ``(4 hidden, hidden)`` with orthonormal
    columns, :math:`W_h^\top W_h = I` (Keras's ``Orthogonal`` on its whole ``recurrent_kernel``);
    the biases are zero, except the forget gate's block of ``b``, which is 1 with
    ``unit_forget_bias`` (Keras's default): :math:`f_t = \sigma(1) \approx 0.73` at first, so the
    cell state is mostly kept from step to step. Derived in chapter 7.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
        Features per step, hidden units, outputs per step.
    seed : int, optional
        Seed of a new ``numpy.random.default_rng``; ignored when ``rng`` is given.
    rng : numpy.random.Generator, optional
        Generator to draw from.
    dtype : float32 or float64, default float64
    unit_forget_bias : bool, default True
        Start the forget gate's bias at 1 (else at 0).

    Returns
    -------
    LSTMParams
        ``W_x`` ``(4 hidden, features)``, ``W_h`` ``(4 hidden, hidden)``, ``b`` ``(4 hidden,)``,
        ``W_hy`` ``(outputs, hidden)``, ``b_y`` ``(outputs,)``.

    Examples
    --------
    >>> p = lstm_init_params(3, 2, 1, seed=0)
    >>> [a.shape for a in p]
    [(8, 3), (8, 2), (8,), (1, 2), (1,)]
    >>> p.b                                  # blocks i, f, g, o
    array([0., 0., 1., 1., 0., 0., 0., 0.])
    >>> bool(np.allclose(p.W_h.T @ p.W_h, np.eye(2)))
    True
    """
    forget_one = check_bool(unit_forget_bias, "unit_forget_bias")
    (W_x, W_h, W_hy), n, dt = _draw(4, input_size, hidden_size, output_size, seed, rng, dtype)
    b = np.zeros(4 * n, dtype=dt)
    if forget_one:
        b[n : 2 * n] = 1
    return LSTMParams(W_x, W_h, b, W_hy, np.zeros(W_hy.shape[0], dtype=dt))


def gru_init_params(
    input_size: int,
    hidden_size: int,
    output_size: int,
    *,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    dtype: Any = np.float64,
) -> GRUParams:
    r"""Draw the parameters of a GRU as Keras's ``GRU`` (``reset_after=True``) + ``Dense`` do.

    ``W_x`` (``(3 hidden, features)``) and ``W_hy`` are Glorot-uniform; ``W_h`` is one random
    matrix of shape ``(3 hidden, hidden)`` with orthonormal columns; both biases are zero.
    Derived in chapter 7.

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
    GRUParams
        ``W_x`` ``(3 hidden, features)``, ``W_h`` ``(3 hidden, hidden)``, ``b_x`` and ``b_h``
        ``(3 hidden,)``, ``W_hy`` ``(outputs, hidden)``, ``b_y`` ``(outputs,)``.

    Examples
    --------
    >>> p = gru_init_params(3, 2, 1, seed=0)
    >>> [a.shape for a in p]
    [(6, 3), (6, 2), (6,), (6,), (1, 2), (1,)]
    """
    (W_x, W_h, W_hy), n, dt = _draw(3, input_size, hidden_size, output_size, seed, rng, dtype)
    return GRUParams(W_x, W_h, np.zeros(3 * n, dt), np.zeros(3 * n, dt), W_hy, np.zeros(W_hy.shape[0], dt))


# ---------------------------------------------------------------------------------------------
# public functions: loading the layouts of PyTorch and Keras
# ---------------------------------------------------------------------------------------------


def _loader_arrays(named: dict[str, object], ndims: Sequence[int], dtype: object) -> tuple[list[np.ndarray], np.dtype]:
    """The given arrays, checked (finite, real, ``ndims``), and the dtype: given, or that of the arrays together."""
    arrays = [as_float_array(v, name, ndim=nd) for (name, v), nd in zip(named.items(), ndims, strict=True)]
    dt = np.result_type(*arrays) if dtype is None else check_dtype(dtype)
    return arrays, dt


def _check_loaded_readout(W: np.ndarray, b: np.ndarray, hidden: int, names: tuple[str, str], keras: bool) -> None:
    """Raise unless the read-out weight (``(outputs, hidden)``, Keras: ``(hidden, outputs)``) and bias fit."""
    rows = W.shape[1] if keras else W.shape[0]
    if (W.shape[0] if keras else W.shape[1]) != hidden:
        want = "(hidden, outputs)" if keras else "(outputs, hidden)"
        raise ValueError(f"{names[0]} must have shape {want} with hidden = {hidden}; got shape {W.shape}")
    if b.shape != (rows,):
        raise ValueError(f"{names[1]} must have shape (outputs,) = ({rows},); got shape {b.shape}")


def _copies(dtype: np.dtype, *arrays: np.ndarray) -> list[np.ndarray]:
    """New C-contiguous arrays of ``dtype``, owned by the caller (never views of what was given)."""
    return [np.array(a, dtype=dtype, order="C", copy=True) for a in arrays]


def lstm_params_from_torch(
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray,
    bias_hh: np.ndarray,
    W_hy: np.ndarray,
    b_y: np.ndarray,
    *,
    dtype: Any = None,
) -> LSTMParams:
    r"""The parameters of PyTorch's ``nn.LSTM`` (one layer) and an ``nn.Linear`` read-out, as :class:`LSTMParams`.

    PyTorch stores the gates in our order i, f, g, o and in our shapes, ``weight_ih_l0`` of
    shape ``(4 hidden, features)`` and ``weight_hh_l0`` of shape ``(4 hidden, hidden)``, with two
    biases that always appear as a sum: ``W_x = weight_ih``, ``W_h = weight_hh``,
    ``b = bias_ih + bias_hh``. ``nn.Linear(hidden, outputs)`` stores ``weight`` as ``(outputs,
    hidden)``, our ``W_hy``, and ``bias``, our ``b_y``. Pass arrays, e.g.
    ``lstm.weight_ih_l0.detach().numpy()``. Derived in chapter 7.

    Parameters
    ----------
    weight_ih : array_like of shape (4 hidden, features)
    weight_hh : array_like of shape (4 hidden, hidden)
    bias_ih, bias_hh : array_like of shape (4 hidden,)
    W_hy : array_like of shape (outputs, hidden)
    b_y : array_like of shape (outputs,)
    dtype : float32 or float64, optional
        Default: that of the arrays together (float32 if all are float32).

    Returns
    -------
    LSTMParams
        New arrays, which share no memory with those given.

    Examples
    --------
    >>> h = 2
    >>> p = lstm_params_from_torch(np.ones((4 * h, 3)), np.zeros((4 * h, h)), np.ones(4 * h),
    ...                            np.ones(4 * h), np.ones((1, h)), np.zeros(1))
    >>> p.b
    array([2., 2., 2., 2., 2., 2., 2., 2.])
    """
    named = {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih, "bias_hh": bias_hh}
    (W_ih, W_hh, b_ih, b_hh, W_o, b_o), dt = _loader_arrays(
        named | {"W_hy": W_hy, "b_y": b_y}, (2, 2, 1, 1, 2, 1), dtype
    )
    n = _stacked_hidden(W_hh, "weight_hh", 4)
    _check_stacked(W_ih, "weight_ih", 4, n, "weight_hh")
    _check_bias(b_ih, "bias_ih", 4, n)
    _check_bias(b_hh, "bias_hh", 4, n)
    _check_loaded_readout(W_o, b_o, n, ("W_hy", "b_y"), keras=False)
    b = b_ih.astype(dt) + b_hh.astype(dt)
    return LSTMParams(*_copies(dt, W_ih, W_hh, b, W_o, b_o))


def lstm_params_from_keras(
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray,
    dense_kernel: np.ndarray,
    dense_bias: np.ndarray,
    *,
    dtype: Any = None,
) -> LSTMParams:
    r"""The weights of Keras's ``LSTM`` and a ``Dense`` read-out, as :class:`LSTMParams`.

    Keras writes :math:`x W + b` with ``W`` of shape ``(n_in, n_out)``, the transpose of the book's
    convention, and orders the gates i, f, c, o (its c is the candidate, our g): so
    ``W_x = kernel.T`` (``kernel`` of shape ``(features, 4 hidden)``), ``W_h =
    recurrent_kernel.T`` (``(hidden, 4 hidden)``), ``b = bias`` (``(4 hidden,)``), ``W_hy =
    dense_kernel.T`` (``(hidden, outputs)``) and ``b_y = dense_bias``: the order of
    ``layer.get_weights()`` of each layer. Derived in chapter 7.

    Parameters
    ----------
    kernel : array_like of shape (features, 4 hidden)
    recurrent_kernel : array_like of shape (hidden, 4 hidden)
    bias : array_like of shape (4 hidden,)
    dense_kernel : array_like of shape (hidden, outputs)
    dense_bias : array_like of shape (outputs,)
    dtype : float32 or float64, optional
        Default: that of the arrays together.

    Returns
    -------
    LSTMParams
        New arrays, which share no memory with those given.

    Examples
    --------
    >>> kernel = np.arange(8.0).reshape(1, 8)            # one feature, hidden = 2
    >>> p = lstm_params_from_keras(kernel, np.zeros((2, 8)), np.zeros(8), np.ones((2, 1)), np.zeros(1))
    >>> p.W_x.ravel()                                    # rows of i, f, g, o
    array([0., 1., 2., 3., 4., 5., 6., 7.])
    """
    named = {"kernel": kernel, "recurrent_kernel": recurrent_kernel, "bias": bias}
    (K, RK, b, DK, db), dt = _loader_arrays(
        named | {"dense_kernel": dense_kernel, "dense_bias": dense_bias}, (2, 2, 1, 2, 1), dtype
    )
    n = _stacked_hidden(RK, "recurrent_kernel", 4, transposed=True)
    _check_stacked(K, "kernel", 4, n, "recurrent_kernel", transposed=True)
    _check_bias(b, "bias", 4, n)
    _check_loaded_readout(DK, db, n, ("dense_kernel", "dense_bias"), keras=True)
    return LSTMParams(*_copies(dt, K.T, RK.T, b, DK.T, db))


_TORCH_GRU_ORDER = (1, 0, 2)  # PyTorch's blocks r, z, n; ours z, r, n


def _torch_gru_blocks(a: np.ndarray, n: int) -> np.ndarray:
    """The rows of a PyTorch GRU array, blocks r, z, n, reordered to z, r, n."""
    return np.concatenate([a[k * n : (k + 1) * n] for k in _TORCH_GRU_ORDER])


def gru_params_from_torch(
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray,
    bias_hh: np.ndarray,
    W_hy: np.ndarray,
    b_y: np.ndarray,
    *,
    dtype: Any = None,
) -> GRUParams:
    r"""The parameters of PyTorch's ``nn.GRU`` (one layer) and an ``nn.Linear`` read-out, as :class:`GRUParams`.

    PyTorch computes the same GRU (:math:`n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn}
    h_{t-1} + b_{hn}))`, :math:`h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}`) in our shapes, but
    stacks its blocks in the order **r, z, n**: each of ``weight_ih_l0`` ``(3 hidden, features)``,
    ``weight_hh_l0`` ``(3 hidden, hidden)``, ``bias_ih_l0`` and ``bias_hh_l0`` ``(3 hidden,)`` has its
    first two blocks of rows swapped into our ``W_x``, ``W_h``, ``b_x``, ``b_h``. ``W_hy`` and
    ``b_y`` are the ``weight`` and ``bias`` of ``nn.Linear(hidden, outputs)``. Derived in chapter 7.

    Parameters
    ----------
    weight_ih : array_like of shape (3 hidden, features)
    weight_hh : array_like of shape (3 hidden, hidden)
    bias_ih, bias_hh : array_like of shape (3 hidden,)
    W_hy : array_like of shape (outputs, hidden)
    b_y : array_like of shape (outputs,)
    dtype : float32 or float64, optional
        Default: that of the arrays together.

    Returns
    -------
    GRUParams
        New arrays, which share no memory with those given.

    Examples
    --------
    >>> h = 1                                            # blocks r, z, n of one row each
    >>> p = gru_params_from_torch(np.array([[1.0], [2.0], [3.0]]), np.zeros((3, 1)), np.zeros(3),
    ...                           np.zeros(3), np.ones((1, 1)), np.zeros(1))
    >>> p.W_x.ravel()                                    # z, r, n
    array([2., 1., 3.])
    """
    named = {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih, "bias_hh": bias_hh}
    (W_ih, W_hh, b_ih, b_hh, W_o, b_o), dt = _loader_arrays(
        named | {"W_hy": W_hy, "b_y": b_y}, (2, 2, 1, 1, 2, 1), dtype
    )
    n = _stacked_hidden(W_hh, "weight_hh", 3)
    _check_stacked(W_ih, "weight_ih", 3, n, "weight_hh")
    _check_bias(b_ih, "bias_ih", 3, n)
    _check_bias(b_hh, "bias_hh", 3, n)
    _check_loaded_readout(W_o, b_o, n, ("W_hy", "b_y"), keras=False)
    blocks = [_torch_gru_blocks(a, n) for a in (W_ih, W_hh, b_ih, b_hh)]
    return GRUParams(*_copies(dt, *blocks, W_o, b_o))


def gru_params_from_keras(
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray,
    dense_kernel: np.ndarray,
    dense_bias: np.ndarray,
    *,
    dtype: Any = None,
) -> GRUParams:
    r"""The weights of Keras's ``GRU`` (``reset_after=True``) and a ``Dense`` read-out, as :class:`GRUParams`.

    Keras orders the blocks z, r, h (its h is our candidate n), as we do, but transposed:
    ``W_x = kernel.T`` (``kernel`` of shape ``(features, 3 hidden)``), ``W_h = recurrent_kernel.T``
    (``(hidden, 3 hidden)``), and ``bias`` of shape ``(2, 3 hidden)`` holds ``b_x = bias[0]`` and
    ``b_h = bias[1]``; ``W_hy = dense_kernel.T``, ``b_y = dense_bias``. A GRU built with
    ``reset_after=False`` has a bias of shape ``(3 hidden,)`` and applies :math:`r_t` before the
    product with :math:`W_{hn}`: a different network, refused. Derived in chapter 7.

    Parameters
    ----------
    kernel : array_like of shape (features, 3 hidden)
    recurrent_kernel : array_like of shape (hidden, 3 hidden)
    bias : array_like of shape (2, 3 hidden)
    dense_kernel : array_like of shape (hidden, outputs)
    dense_bias : array_like of shape (outputs,)
    dtype : float32 or float64, optional
        Default: that of the arrays together.

    Returns
    -------
    GRUParams
        New arrays, which share no memory with those given.

    Examples
    --------
    >>> bias = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])          # hidden = 1
    >>> p = gru_params_from_keras(np.ones((2, 3)), np.ones((1, 3)), bias, np.ones((1, 1)), np.zeros(1))
    >>> p.b_x, p.b_h
    (array([1., 2., 3.]), array([4., 5., 6.]))
    """
    named = {"kernel": kernel, "recurrent_kernel": recurrent_kernel}
    arrays = {"bias": as_float_array(bias, "bias")}
    if arrays["bias"].ndim != 2:
        raise ValueError(
            "bias must be a 2-D array of shape (2, 3 hidden), the input and the recurrent biases of Keras's GRU "
            f"with reset_after=True; got shape {arrays['bias'].shape}. A GRU with reset_after=False (one bias) "
            "computes a different candidate and cannot be loaded"
        )
    (K, RK, b, DK, db), dt = _loader_arrays(
        named | arrays | {"dense_kernel": dense_kernel, "dense_bias": dense_bias}, (2, 2, 2, 2, 1), dtype
    )
    n = _stacked_hidden(RK, "recurrent_kernel", 3, transposed=True)
    _check_stacked(K, "kernel", 3, n, "recurrent_kernel", transposed=True)
    if b.shape != (2, 3 * n):
        raise ValueError(f"bias must have shape (2, 3 hidden) = (2, {3 * n}); got shape {b.shape}")
    _check_loaded_readout(DK, db, n, ("dense_kernel", "dense_bias"), keras=True)
    return GRUParams(*_copies(dt, K.T, RK.T, b[0], b[1], DK.T, db))


# ---------------------------------------------------------------------------------------------
# public functions: forward pass and BPTT
# ---------------------------------------------------------------------------------------------


def _batch_major(a: np.ndarray) -> np.ndarray:
    """A time-major ``(T, batch, ...)`` array as a new batch-major ``(batch, T, ...)`` one (always a copy)."""
    return np.array(a.swapaxes(0, 1), order="C")


def _outputs(Y_hat: np.ndarray, mode: str) -> np.ndarray:
    return _batch_major(Y_hat) if mode == "many_to_many" else Y_hat


def lstm_forward(
    params: LSTMParams | Sequence[np.ndarray],
    X: np.ndarray,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    *,
    mode: str = "many_to_many",
) -> LSTMForward:
    r"""Run an LSTM over a batch of sequences; return the outputs, the states and the gates of every step.

    .. math::

        A_t &= X_t W_x^\top + H_{t-1} W_h^\top + \mathbf{1} b^\top = [A^i_t, A^f_t, A^g_t, A^o_t], \\
        I_t &= \sigma(A^i_t), \; F_t = \sigma(A^f_t), \; G_t = \tanh(A^g_t), \; O_t = \sigma(A^o_t), \\
        C_t &= F_t \odot C_{t-1} + I_t \odot G_t, \qquad H_t = O_t \odot \tanh(C_t), \qquad
        \hat Y_t = H_t W_{hy}^\top + \mathbf{1} b_y^\top .

    Derived in chapter 7.

    Parameters
    ----------
    params : LSTMParams or sequence of 5 arrays
        ``(W_x, W_h, b, W_hy, b_y)`` with shapes ``(4 hidden, features)``, ``(4 hidden, hidden)``,
        ``(4 hidden,)``, ``(outputs, hidden)``, ``(outputs,)``; gate blocks i, f, g, o.
    X : array_like of shape (batch, T, features)
    h0, c0 : array_like of shape (hidden,) or (batch, hidden), optional
        Initial hidden and cell states; zeros if omitted. A 1-D state is shared by all sequences.
    mode : {"many_to_many", "many_to_one"}
        An output at every step, or at the last step only.

    Returns
    -------
    LSTMForward
        ``Y_hat``; the states ``H``, ``C`` and the gates ``I``, ``F``, ``G``, ``O``, each of shape
        ``(batch, T, hidden)``.

    Raises
    ------
    ValueError
        If a shape does not fit (the message names which), or an input holds NaN or infinity.
    TypeError
        If ``params`` is not 5 arrays, or an input is not real.

    Examples
    --------
    One unit, one step, weights that make every pre-activation 1 (:math:`x_1 = 1`):

    >>> p = LSTMParams(np.ones((4, 1)), np.zeros((4, 1)), np.zeros(4), np.ones((1, 1)), np.zeros(1))
    >>> out = lstm_forward(p, np.ones((1, 1, 1)))
    >>> s, g = 1 / (1 + np.exp(-1.0)), np.tanh(1.0)
    >>> bool(np.isclose(out.C[0, 0, 0], s * g)), bool(np.isclose(out.H[0, 0, 0], s * np.tanh(s * g)))
    (True, True)
    """
    mode = check_mode(mode)
    p, Xt, (h0_arr, c0_arr), _ = _prepare(_check_lstm_params(params), 4, X, {"h0": h0, "c0": c0})
    tr = _lstm_states(p, Xt, h0_arr, c0_arr)
    n = p.W_h.shape[1]
    gates = [np.array(tr.A[:, k * n : (k + 1) * n].transpose(2, 0, 1), order="C") for k in _LSTM_PUBLIC]
    C = np.array(tr.Cs[1:].transpose(2, 0, 1), order="C")
    return LSTMForward(_outputs(readout(p.W_hy, p.b_y, tr.HB, mode), mode), _batch_major(tr.HB[1:]), C, *gates)


def lstm_bptt(
    params: LSTMParams | Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    *,
    mode: str = "many_to_many",
) -> tuple[float, LSTMGradients]:
    r"""Loss and exact gradients of an LSTM by backpropagation through time.

    Two gradients travel back in time: :math:`\delta^h_t = \partial L / \partial h_t` and
    :math:`\delta^c_t = \partial L / \partial c_t`. With :math:`G_t = \frac1m (\hat Y_t - Y_t) W_{hy}`
    (the part through the output; zero before :math:`T` for ``"many_to_one"``), for
    :math:`t = T, \dots, 1`, starting from :math:`\delta^a_{T+1} = 0`, :math:`\delta^c_{T+1} = 0`:

    .. math::

        \delta^h_t &= G_t + \delta^a_{t+1} W_h, \qquad
        \delta^c_t = \delta^c_{t+1} \odot f_{t+1} + \delta^h_t \odot o_t \odot (1 - \tanh^2 c_t), \\
        \delta^{a^i}_t &= \delta^c_t \odot g_t \odot i_t (1 - i_t), \qquad
        \delta^{a^f}_t = \delta^c_t \odot c_{t-1} \odot f_t (1 - f_t), \\
        \delta^{a^g}_t &= \delta^c_t \odot i_t \odot (1 - g_t^2), \qquad
        \delta^{a^o}_t = \delta^h_t \odot \tanh(c_t) \odot o_t (1 - o_t),

    :math:`\delta^a_t = [\delta^{a^i}_t, \delta^{a^f}_t, \delta^{a^g}_t, \delta^{a^o}_t]` (shape
    ``(batch, 4 hidden)``), and then

    .. math::

        \frac{\partial L}{\partial W_x} = \sum_t (\delta^a_t)^\top X_t, \quad
        \frac{\partial L}{\partial W_h} = \sum_t (\delta^a_t)^\top H_{t-1}, \quad
        \frac{\partial L}{\partial b} = \sum_t (\delta^a_t)^\top \mathbf{1}, \quad
        \frac{\partial L}{\partial h_0} = \delta^a_1 W_h, \quad
        \frac{\partial L}{\partial c_0} = \delta^c_1 \odot f_1,

    with the read-out's :math:`\partial L/\partial W_{hy} = \sum_t \frac1m (\hat Y_t - Y_t)^\top H_t`,
    :math:`\partial L/\partial b_y = \sum_t \frac1m (\hat Y_t - Y_t)^\top \mathbf{1}`. The forget gate
    is the cell's own path back in time: along it, :math:`\delta^c` is multiplied by :math:`f_t`
    only, with no weight matrix and no squashing derivative. Derived in chapter 7.

    Parameters
    ----------
    params : LSTMParams or sequence of 5 arrays
        See :func:`lstm_forward`.
    X : array_like of shape (batch, T, features)
    Y : array_like of shape (batch, T, outputs) or (batch, outputs)
        Targets: every step for ``"many_to_many"``, the last step for ``"many_to_one"``.
    h0, c0 : array_like of shape (hidden,) or (batch, hidden), optional
        Initial states; zeros if omitted.
    mode : {"many_to_many", "many_to_one"}

    Returns
    -------
    loss : float
        :math:`L = \sum_t L_t`.
    grads : LSTMGradients
        One array per parameter, of its shape, then ``h0`` and ``c0`` of the shapes given
        (``(batch, hidden)`` if not given); dtype as the computation's.

    See Also
    --------
    lstm_truncated_bptt : the same with each loss term's gradient cut after ``k`` steps.

    Examples
    --------
    One unit and one step from :math:`c_0`: :math:`\partial L / \partial c_0 = \delta^c_1 f_1` with
    :math:`\delta^c_1 = (\hat y - y)\, w_{hy}\, o_1 (1 - \tanh^2 c_1)`:

    >>> p = LSTMParams(np.zeros((4, 1)), np.zeros((4, 1)), np.zeros(4), np.ones((1, 1)), np.zeros(1))
    >>> loss, g = lstm_bptt(p, np.zeros((1, 1, 1)), np.zeros((1, 1, 1)), c0=[2.0])
    >>> c1 = 0.5 * 2.0                                     # f = i = o = sigmoid(0) = 1/2, g = 0
    >>> h1 = 0.5 * np.tanh(c1)
    >>> bool(np.isclose(g.c0[0], h1 * 0.5 * (1 - np.tanh(c1) ** 2) * 0.5))
    True
    """
    mode = check_mode(mode)
    p, Xt, (h0_arr, c0_arr), dtype = _prepare(_check_lstm_params(params), 4, X, {"h0": h0, "c0": c0})
    T, B, _ = Xt.shape
    Yv = check_targets(Y, B, T, p.W_hy.shape[0], mode, dtype)
    return _lstm_loss_and_grads(p, Xt, time_major_targets(Yv, mode), h0_arr, c0_arr, mode, None)


def lstm_truncated_bptt(
    params: LSTMParams | Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    k: int,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    *,
    mode: str = "many_to_many",
) -> tuple[float, LSTMGradients]:
    r"""Loss and truncated-BPTT gradients of an LSTM: each loss term's gradient flows back at most ``k`` steps.

    The definition of :func:`mlmath.rnn.truncated_bptt`: the gradient of :math:`L_t` is taken
    through steps :math:`t, t-1, \dots, t-k+1` only, as if the state entering them,
    :math:`(h_{t-k}, c_{t-k})`, were constant (when :math:`t \le k` the window reaches
    :math:`(h_0, c_0)` and nothing is cut). ``k >= T`` cuts nothing and runs the code of
    :func:`lstm_bptt`, so it gives the same numbers bit for bit; the loss and the read-out's
    gradients are never truncated. For ``"many_to_one"`` this is the recursion of
    :func:`lstm_bptt` stopped after ``k`` steps; for ``"many_to_many"`` with ``k < T`` the pair
    :math:`(\delta^h, \delta^c)` is carried back lag by lag, vectorized over time, ``k`` products of
    size ``(T * batch, 4 hidden)``: time :math:`O(kT)`, memory :math:`O(T)`. Derived in chapter 7.

    Parameters
    ----------
    params, X, Y, h0, c0, mode
        As for :func:`lstm_bptt`.
    k : int
        Number of steps each loss term's gradient may flow back, ``k >= 1``.

    Returns
    -------
    loss : float
    grads : LSTMGradients

    Examples
    --------
    >>> p = lstm_init_params(2, 3, 1, seed=0)
    >>> X, Y = np.ones((4, 5, 2)), np.zeros((4, 5, 1))
    >>> full, cut = lstm_bptt(p, X, Y)[1], lstm_truncated_bptt(p, X, Y, k=5)[1]
    >>> all(np.array_equal(a, b) for a, b in zip(full, cut))        # k >= T: full BPTT
    True
    >>> bool(np.array_equal(lstm_truncated_bptt(p, X, Y, k=2)[1].W_h, full.W_h))
    False
    """
    mode = check_mode(mode)
    k = check_int(k, "k", 1)
    p, Xt, (h0_arr, c0_arr), dtype = _prepare(_check_lstm_params(params), 4, X, {"h0": h0, "c0": c0})
    T, B, _ = Xt.shape
    Yv = check_targets(Y, B, T, p.W_hy.shape[0], mode, dtype)
    return _lstm_loss_and_grads(p, Xt, time_major_targets(Yv, mode), h0_arr, c0_arr, mode, None if k >= T else k)


def gru_forward(
    params: GRUParams | Sequence[np.ndarray],
    X: np.ndarray,
    h0: np.ndarray | None = None,
    *,
    mode: str = "many_to_many",
) -> GRUForward:
    r"""Run a GRU over a batch of sequences; return the outputs, the states and the gates of every step.

    .. math::

        Z_t &= \sigma(X_t W_{xz}^\top + \mathbf{1} b_{xz}^\top + H_{t-1} W_{hz}^\top + \mathbf{1} b_{hz}^\top),
        \qquad R_t = \sigma(X_t W_{xr}^\top + \mathbf{1} b_{xr}^\top + H_{t-1} W_{hr}^\top + \mathbf{1} b_{hr}^\top), \\
        N_t &= \tanh\bigl(X_t W_{xn}^\top + \mathbf{1} b_{xn}^\top
               + R_t \odot (H_{t-1} W_{hn}^\top + \mathbf{1} b_{hn}^\top)\bigr), \qquad
        H_t = (1 - Z_t) \odot N_t + Z_t \odot H_{t-1} .

    Derived in chapter 7.

    Parameters
    ----------
    params : GRUParams or sequence of 6 arrays
        ``(W_x, W_h, b_x, b_h, W_hy, b_y)`` with shapes ``(3 hidden, features)``, ``(3 hidden,
        hidden)``, ``(3 hidden,)``, ``(3 hidden,)``, ``(outputs, hidden)``, ``(outputs,)``; gate
        blocks z, r, n.
    X : array_like of shape (batch, T, features)
    h0 : array_like of shape (hidden,) or (batch, hidden), optional
        Initial state; zeros if omitted.
    mode : {"many_to_many", "many_to_one"}

    Returns
    -------
    GRUForward
        ``Y_hat``; the states ``H`` and the gates ``Z``, ``R``, ``N``, each ``(batch, T, hidden)``.

    Raises
    ------
    ValueError
        If a shape does not fit (the message names which), or an input holds NaN or infinity.
    TypeError
        If ``params`` is not 6 arrays, or an input is not real.

    Examples
    --------
    With :math:`z_t = 1` (a large update bias) the state is copied unchanged:

    >>> p = GRUParams(np.zeros((3, 1)), np.zeros((3, 1)), np.array([50.0, 0.0, 0.0]), np.zeros(3),
    ...               np.ones((1, 1)), np.zeros(1))
    >>> gru_forward(p, np.ones((1, 3, 1)), h0=[0.7]).H.ravel()
    array([0.7, 0.7, 0.7])
    """
    mode = check_mode(mode)
    p, Xt, (h0_arr,), _ = _prepare(_check_gru_params(params), 3, X, {"h0": h0})
    tr = _gru_states(p, Xt, h0_arr)
    n = p.W_h.shape[1]
    gates = [np.array(tr.A[:, k * n : (k + 1) * n].transpose(2, 0, 1), order="C") for k in range(3)]
    Y_hat = _outputs(readout(p.W_hy, p.b_y, tr.HB[:, :, :n], mode), mode)
    return GRUForward(Y_hat, _batch_major(tr.HB[1:, :, :n]), *gates)


def gru_bptt(
    params: GRUParams | Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    h0: np.ndarray | None = None,
    *,
    mode: str = "many_to_many",
) -> tuple[float, GRUGradients]:
    r"""Loss and exact gradients of a GRU by backpropagation through time.

    With :math:`G_t = \frac1m (\hat Y_t - Y_t) W_{hy}` and :math:`q_t = W_{hn} h_{t-1} + b_{hn}`, for
    :math:`t = T, \dots, 1`, starting from zeros after :math:`T`:

    .. math::

        \delta^h_t &= G_t + \delta^h_{t+1} \odot z_{t+1} + \delta^{ah}_{t+1} W_h, \\
        \delta^{a^n}_t &= \delta^h_t \odot (1 - z_t) \odot (1 - n_t^2), \qquad
        \delta^{a^z}_t = \delta^h_t \odot (h_{t-1} - n_t) \odot z_t (1 - z_t), \qquad
        \delta^{a^r}_t = \delta^{a^n}_t \odot q_t \odot r_t (1 - r_t), \\
        \delta^{ah}_t &= [\delta^{a^z}_t, \delta^{a^r}_t, \delta^{a^n}_t \odot r_t], \qquad
        \delta^{ax}_t = [\delta^{a^z}_t, \delta^{a^r}_t, \delta^{a^n}_t],

    the gradients of the recurrent and of the input-side pre-activations (shape ``(batch, 3
    hidden)``; they differ in the candidate's block, where :math:`r_t` gates the recurrent part).
    Then

    .. math::

        \frac{\partial L}{\partial W_x} = \sum_t (\delta^{ax}_t)^\top X_t, \quad
        \frac{\partial L}{\partial b_x} = \sum_t (\delta^{ax}_t)^\top \mathbf{1}, \quad
        \frac{\partial L}{\partial W_h} = \sum_t (\delta^{ah}_t)^\top H_{t-1}, \quad
        \frac{\partial L}{\partial b_h} = \sum_t (\delta^{ah}_t)^\top \mathbf{1},

    :math:`\partial L/\partial h_0 = \delta^h_1 \odot z_1 + \delta^{ah}_1 W_h`, and the read-out's
    gradients as in :func:`lstm_bptt`. Along the path :math:`h_{t-1} \to h_t` through
    :math:`z_t \odot h_{t-1}` the gradient is multiplied by :math:`z_t` only. Derived in chapter 7.

    Parameters
    ----------
    params : GRUParams or sequence of 6 arrays
        See :func:`gru_forward`.
    X : array_like of shape (batch, T, features)
    Y : array_like of shape (batch, T, outputs) or (batch, outputs)
    h0 : array_like of shape (hidden,) or (batch, hidden), optional
    mode : {"many_to_many", "many_to_one"}

    Returns
    -------
    loss : float
    grads : GRUGradients
        One array per parameter, of its shape, then ``h0`` of the shape given (``(batch,
        hidden)`` if not given).

    See Also
    --------
    gru_truncated_bptt : the same with each loss term's gradient cut after ``k`` steps.

    Examples
    --------
    With :math:`z = 1` the state is copied, so :math:`\partial L / \partial h_0 = \hat y_T - y`
    (one unit, :math:`w_{hy} = 1`):

    >>> p = GRUParams(np.zeros((3, 1)), np.zeros((3, 1)), np.array([50.0, 0.0, 0.0]), np.zeros(3),
    ...               np.ones((1, 1)), np.zeros(1))
    >>> loss, g = gru_bptt(p, np.ones((1, 3, 1)), np.zeros((1, 1)), h0=[0.7], mode="many_to_one")
    >>> g.h0.round(6)
    array([0.7])
    """
    mode = check_mode(mode)
    p, Xt, (h0_arr,), dtype = _prepare(_check_gru_params(params), 3, X, {"h0": h0})
    T, B, _ = Xt.shape
    Yv = check_targets(Y, B, T, p.W_hy.shape[0], mode, dtype)
    return _gru_loss_and_grads(p, Xt, time_major_targets(Yv, mode), h0_arr, mode, None)


def gru_truncated_bptt(
    params: GRUParams | Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    k: int,
    h0: np.ndarray | None = None,
    *,
    mode: str = "many_to_many",
) -> tuple[float, GRUGradients]:
    r"""Loss and truncated-BPTT gradients of a GRU: each loss term's gradient flows back at most ``k`` steps.

    The definition of :func:`mlmath.rnn.truncated_bptt`, with :math:`h_{t-k}` held constant for
    :math:`L_t`; ``k >= T`` runs the code of :func:`gru_bptt` (the same numbers, bit for bit), and
    ``k < T`` carries :math:`\delta^h` back lag by lag as :func:`lstm_truncated_bptt` does.
    Derived in chapter 7.

    Parameters
    ----------
    params, X, Y, h0, mode
        As for :func:`gru_bptt`.
    k : int
        Number of steps each loss term's gradient may flow back, ``k >= 1``.

    Returns
    -------
    loss : float
    grads : GRUGradients

    Examples
    --------
    >>> p = gru_init_params(2, 3, 1, seed=0)
    >>> X, Y = np.ones((4, 5, 2)), np.zeros((4, 1))
    >>> _, one = gru_truncated_bptt(p, X, Y, k=1, mode="many_to_one")
    >>> bool(np.all(one.h0 == 0))          # one step back from T = 5 does not reach h_0
    True
    """
    mode = check_mode(mode)
    k = check_int(k, "k", 1)
    p, Xt, (h0_arr,), dtype = _prepare(_check_gru_params(params), 3, X, {"h0": h0})
    T, B, _ = Xt.shape
    Yv = check_targets(Y, B, T, p.W_hy.shape[0], mode, dtype)
    return _gru_loss_and_grads(p, Xt, time_major_targets(Yv, mode), h0_arr, mode, None if k >= T else k)


# ---------------------------------------------------------------------------------------------
# the models
# ---------------------------------------------------------------------------------------------


class _GatedRNN:
    """What :class:`LSTM` and :class:`GRU` share: construction, the flat weights, ``fit``."""

    _gates: ClassVar[int]
    params: Any

    def _setup(self, params: Any, mode: object, seed: object, rng: np.random.Generator | None = None) -> None:
        """Set the model's parameters (already checked) and its generator: ``rng``, or a new one seeded by ``seed``."""
        self.mode = check_mode(mode)
        self.seed = None if seed is None else check_int(seed, "seed", 0)
        self._rng = as_generator(self.seed) if rng is None else rng
        self.params = params
        self.dtype: np.dtype = params.W_x.dtype
        self.input_size = int(params.W_x.shape[1])
        self.hidden_size = int(params.W_h.shape[1])
        self.output_size = int(params.W_hy.shape[0])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"output_size={self.output_size}, mode={self.mode!r}, dtype={self.dtype.name})"
        )

    def count_params(self) -> int:
        """The number of scalar parameters, the read-out's included."""
        return sum(a.size for a in self.params)

    def get_flat_weights(self) -> np.ndarray:
        r"""All parameters as one new vector :math:`\theta`, in the order of the model's params tuple."""
        return flatten(list(self.params), self.dtype)

    def set_flat_weights(self, theta: np.ndarray) -> None:
        """Copy the vector ``theta`` (as from :meth:`get_flat_weights`) into the parameters, in place."""
        copy_flat_into(self.params, theta)

    def _inputs(self, X: object) -> np.ndarray:
        return check_sequences(X, self.input_size, "W_x", f"{self._gates} hidden").astype(self.dtype, copy=False)

    def _targets(self, Y: object, X: np.ndarray) -> np.ndarray:
        return check_targets(Y, X.shape[0], X.shape[1], self.output_size, self.mode, self.dtype)

    def _kernel(self) -> Callable[[np.ndarray, np.ndarray, int | None], tuple[float, Sequence[np.ndarray]]]:
        raise NotImplementedError  # pragma: no cover

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

        The options, defaults, errors and guarantees of :meth:`mlmath.rnn.RNN.fit` (the loop of
        :mod:`mlmath.training`): each epoch visits the sequences in a fresh order (in order if
        ``shuffle=False``), in batches of ``batch_size``; each step computes the loss and the
        gradients by BPTT (truncated to ``truncate`` steps if given), records their global norm,
        clips it to ``clip`` if given, and lets the optimizer update the parameter arrays in
        place. The initial states are zeros.

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
            Truncation length ``k`` of truncated BPTT; full BPTT if omitted (or ``k >= T``).

        Returns
        -------
        mlmath.rnn.RNNHistory
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
            self._kernel(),
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


class LSTM(_GatedRNN):
    r"""An LSTM with a linear read-out, trained on the summed squared error by (truncated) BPTT.

    .. math::

        [i_t, f_t, g_t, o_t] &= [\sigma, \sigma, \tanh, \sigma](W_x x_t + W_h h_{t-1} + b), \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t), \qquad
        \hat y_t = W_{hy} h_t + b_y .

    Derived in chapter 7. The constructor, shapes, modes, loss and ``fit`` are those of
    :class:`mlmath.rnn.RNN`; weights are drawn by :func:`lstm_init_params` in the model's
    ``dtype``, and inputs are cast to it.

    Parameters
    ----------
    input_size : int
        Features per step.
    hidden_size : int
        Hidden units (and cell units).
    output_size : int
        Outputs per step.
    mode : {"many_to_many", "many_to_one"}
        A target at every step, or at the last step only.
    dtype : float32 or float64, default float64
    seed : int, optional
        Seed of the model's generator: it draws the initial weights and, unless ``fit`` is
        given a ``seed``, the shuffling order of ``fit``.
    unit_forget_bias : bool, default True
        Start the forget gate's bias at 1, as Keras does.

    Attributes
    ----------
    params : LSTMParams
        The live parameter arrays (the optimizer updates them in place).

    Examples
    --------
    >>> model = LSTM(input_size=2, hidden_size=8, output_size=1, mode="many_to_one", seed=0)
    >>> model.forward(np.zeros((5, 10, 2))).shape
    (5, 1)
    >>> model.count_params()                   # 4 (n h + h^2 + h) + (h + 1)
    361
    """

    _gates = 4
    params: LSTMParams

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        mode: str = "many_to_many",
        dtype: Any = np.float64,
        seed: int | None = None,
        unit_forget_bias: bool = True,
    ) -> None:
        mode = check_mode(mode)
        seed = None if seed is None else check_int(seed, "seed", 0)
        rng = as_generator(seed)
        params = lstm_init_params(
            input_size, hidden_size, output_size, rng=rng, dtype=dtype, unit_forget_bias=unit_forget_bias
        )
        self._setup(params, mode, seed, rng)

    @classmethod
    def from_torch_weights(
        cls,
        weight_ih: np.ndarray,
        weight_hh: np.ndarray,
        bias_ih: np.ndarray,
        bias_hh: np.ndarray,
        W_hy: np.ndarray,
        b_y: np.ndarray,
        *,
        mode: str = "many_to_many",
        dtype: Any = None,
        seed: int | None = None,
    ) -> LSTM:
        """A model with the weights of PyTorch's ``nn.LSTM`` and ``nn.Linear`` (see :func:`lstm_params_from_torch`).

        ``mode`` and ``seed`` (of the shuffling in ``fit``) as for the constructor; ``dtype``
        defaults to that of the arrays together.
        """
        params = lstm_params_from_torch(weight_ih, weight_hh, bias_ih, bias_hh, W_hy, b_y, dtype=dtype)
        model = cls.__new__(cls)
        model._setup(params, mode, seed)
        return model

    @classmethod
    def from_keras_weights(
        cls,
        kernel: np.ndarray,
        recurrent_kernel: np.ndarray,
        bias: np.ndarray,
        dense_kernel: np.ndarray,
        dense_bias: np.ndarray,
        *,
        mode: str = "many_to_many",
        dtype: Any = None,
        seed: int | None = None,
    ) -> LSTM:
        """A model with the weights of Keras's ``LSTM`` and ``Dense`` (see :func:`lstm_params_from_keras`)."""
        params = lstm_params_from_keras(kernel, recurrent_kernel, bias, dense_kernel, dense_bias, dtype=dtype)
        model = cls.__new__(cls)
        model._setup(params, mode, seed)
        return model

    def _run(self, X: object, h0: np.ndarray | None, c0: np.ndarray | None) -> LSTMForward:
        return lstm_forward(self.params, self._inputs(X), h0, c0, mode=self.mode)

    def forward(self, X: np.ndarray, h0: np.ndarray | None = None, *, c0: np.ndarray | None = None) -> np.ndarray:
        """Outputs for a batch ``X`` of shape ``(batch, T, features)``.

        Returns ``(batch, T, outputs)`` for ``"many_to_many"``, ``(batch, outputs)`` for
        ``"many_to_one"``. See :func:`lstm_forward`.
        """
        return self._run(X, h0, c0).Y_hat

    predict = forward

    def hidden_states(self, X: np.ndarray, h0: np.ndarray | None = None, *, c0: np.ndarray | None = None) -> np.ndarray:
        r"""Hidden states :math:`h_1, \dots, h_T` of shape ``(batch, T, hidden)``."""
        return self._run(X, h0, c0).H

    def cell_states(self, X: np.ndarray, h0: np.ndarray | None = None, *, c0: np.ndarray | None = None) -> np.ndarray:
        r"""Cell states :math:`c_1, \dots, c_T` of shape ``(batch, T, hidden)``."""
        return self._run(X, h0, c0).C

    def loss(
        self, X: np.ndarray, Y: np.ndarray, h0: np.ndarray | None = None, *, c0: np.ndarray | None = None
    ) -> float:
        r"""The sequence loss :math:`L = \sum_t L_t` on ``(X, Y)`` (see :func:`mlmath.rnn.sequence_loss`)."""
        Xc = self._inputs(X)
        Yc = self._targets(Y, Xc)
        return sequence_loss(lstm_forward(self.params, Xc, h0, c0, mode=self.mode).Y_hat, Yc)

    def loss_and_gradients(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        h0: np.ndarray | None = None,
        truncate: int | None = None,
        *,
        c0: np.ndarray | None = None,
    ) -> tuple[float, LSTMGradients]:
        """Loss and gradients by full BPTT, or truncated to ``truncate`` steps (see :func:`lstm_truncated_bptt`)."""
        Xc = self._inputs(X)
        if truncate is None:
            return lstm_bptt(self.params, Xc, Y, h0, c0, mode=self.mode)
        return lstm_truncated_bptt(self.params, Xc, Y, check_int(truncate, "truncate", 1), h0, c0, mode=self.mode)

    def _kernel(self) -> Callable[[np.ndarray, np.ndarray, int | None], tuple[float, Sequence[np.ndarray]]]:
        return lambda Xt, Yt, k: _lstm_loss_and_grads(self.params, Xt, Yt, None, None, self.mode, k)


class GRU(_GatedRNN):
    r"""A GRU with a linear read-out, trained on the summed squared error by (truncated) BPTT.

    .. math::

        z_t &= \sigma(W_{xz} x_t + b_{xz} + W_{hz} h_{t-1} + b_{hz}), \qquad
        r_t = \sigma(W_{xr} x_t + b_{xr} + W_{hr} h_{t-1} + b_{hr}), \\
        n_t &= \tanh\bigl(W_{xn} x_t + b_{xn} + r_t \odot (W_{hn} h_{t-1} + b_{hn})\bigr), \qquad
        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}, \qquad \hat y_t = W_{hy} h_t + b_y .

    Derived in chapter 7. The constructor, shapes, modes, loss and ``fit`` are those of
    :class:`mlmath.rnn.RNN`; weights are drawn by :func:`gru_init_params` in the model's
    ``dtype``, and inputs are cast to it.

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
    params : GRUParams
        The live parameter arrays (the optimizer updates them in place).

    Examples
    --------
    >>> model = GRU(input_size=2, hidden_size=8, output_size=1, seed=0)
    >>> model.forward(np.zeros((5, 10, 2))).shape
    (5, 10, 1)
    >>> model.count_params()                   # 3 (n h + h^2 + 2 h) + (h + 1)
    297
    """

    _gates = 3
    params: GRUParams

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
        mode = check_mode(mode)
        seed = None if seed is None else check_int(seed, "seed", 0)
        rng = as_generator(seed)
        self._setup(gru_init_params(input_size, hidden_size, output_size, rng=rng, dtype=dtype), mode, seed, rng)

    @classmethod
    def from_torch_weights(
        cls,
        weight_ih: np.ndarray,
        weight_hh: np.ndarray,
        bias_ih: np.ndarray,
        bias_hh: np.ndarray,
        W_hy: np.ndarray,
        b_y: np.ndarray,
        *,
        mode: str = "many_to_many",
        dtype: Any = None,
        seed: int | None = None,
    ) -> GRU:
        """A model with the weights of PyTorch's ``nn.GRU`` and ``nn.Linear`` (see :func:`gru_params_from_torch`).

        ``mode`` and ``seed`` (of the shuffling in ``fit``) as for the constructor; ``dtype``
        defaults to that of the arrays together.
        """
        params = gru_params_from_torch(weight_ih, weight_hh, bias_ih, bias_hh, W_hy, b_y, dtype=dtype)
        model = cls.__new__(cls)
        model._setup(params, mode, seed)
        return model

    @classmethod
    def from_keras_weights(
        cls,
        kernel: np.ndarray,
        recurrent_kernel: np.ndarray,
        bias: np.ndarray,
        dense_kernel: np.ndarray,
        dense_bias: np.ndarray,
        *,
        mode: str = "many_to_many",
        dtype: Any = None,
        seed: int | None = None,
    ) -> GRU:
        """A model with the weights of Keras's ``GRU`` and ``Dense`` (see :func:`gru_params_from_keras`)."""
        params = gru_params_from_keras(kernel, recurrent_kernel, bias, dense_kernel, dense_bias, dtype=dtype)
        model = cls.__new__(cls)
        model._setup(params, mode, seed)
        return model

    def forward(self, X: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
        """Outputs for a batch ``X`` of shape ``(batch, T, features)``.

        Returns ``(batch, T, outputs)`` for ``"many_to_many"``, ``(batch, outputs)`` for
        ``"many_to_one"``. See :func:`gru_forward`.
        """
        return gru_forward(self.params, self._inputs(X), h0, mode=self.mode).Y_hat

    predict = forward

    def hidden_states(self, X: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
        r"""Hidden states :math:`h_1, \dots, h_T` of shape ``(batch, T, hidden)``."""
        return gru_forward(self.params, self._inputs(X), h0, mode=self.mode).H

    def loss(self, X: np.ndarray, Y: np.ndarray, h0: np.ndarray | None = None) -> float:
        r"""The sequence loss :math:`L = \sum_t L_t` on ``(X, Y)`` (see :func:`mlmath.rnn.sequence_loss`)."""
        Xc = self._inputs(X)
        Yc = self._targets(Y, Xc)
        return sequence_loss(gru_forward(self.params, Xc, h0, mode=self.mode).Y_hat, Yc)

    def loss_and_gradients(
        self, X: np.ndarray, Y: np.ndarray, h0: np.ndarray | None = None, truncate: int | None = None
    ) -> tuple[float, GRUGradients]:
        """Loss and gradients by full BPTT, or truncated to ``truncate`` steps (see :func:`gru_truncated_bptt`)."""
        Xc = self._inputs(X)
        if truncate is None:
            return gru_bptt(self.params, Xc, Y, h0, mode=self.mode)
        return gru_truncated_bptt(self.params, Xc, Y, check_int(truncate, "truncate", 1), h0, mode=self.mode)

    def _kernel(self) -> Callable[[np.ndarray, np.ndarray, int | None], tuple[float, Sequence[np.ndarray]]]:
        return lambda Xt, Yt, k: _gru_loss_and_grads(self.params, Xt, Yt, None, self.mode, k)
