r"""What every recurrent model of :mod:`mlmath` shares: input checks, modes, the global norm, the ``fit`` step.

:mod:`mlmath.rnn` (chapter 6) and :mod:`mlmath.gated` (chapter 7) read batches of sequences
``X`` of shape ``(batch, T, features)``, take targets at every step (``"many_to_many"``) or at the
last step only (``"many_to_one"``), and train by (truncated) BPTT with the same options. The
checks and the training step live here, once, so that the three models answer the same input
with the same numbers and the same messages.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import numpy as np

from mlmath._flat import total_size, unflatten_into
from mlmath._validation import (
    as_float_array,
    as_generator,
    check_finite,
    check_generator,
    check_int,
    check_positive,
)
from mlmath.optim import Optimizer
from mlmath.optim import get as get_optimizer
from mlmath.training import FitOptions, History, check_fit_options, diverged, run_epochs

__all__ = [
    "MODES",
    "LossAndGradients",
    "StepRecords",
    "as_param_arrays",
    "check_initial_state",
    "check_mode",
    "check_readout",
    "check_sequences",
    "check_targets",
    "copy_flat_into",
    "fit_sequences",
    "global_norm",
    "init_generator",
    "make_fit_step",
    "readout",
    "readout_gradients",
    "scratch",
    "time_major",
    "time_major_targets",
]

MODES = ("many_to_many", "many_to_one")

P = TypeVar("P", bound=tuple)


def init_generator(seed: object, rng: object) -> np.random.Generator:
    """The generator an ``init_params`` draws from: ``rng`` if given, else one seeded by ``seed``.

    A bad ``seed`` is refused even where ``rng`` wins (it is a mistake all the same).
    """
    gen = check_generator(rng, allow_none=True)
    if gen is None:
        return as_generator(seed)
    if seed is not None:
        as_generator(seed)  # ignored, but checked
    return gen


def check_mode(mode: object) -> str:
    """``mode`` as a string, raising ``ValueError`` unless it is ``"many_to_many"`` or ``"many_to_one"``."""
    if mode not in MODES:
        raise ValueError(f"mode must be 'many_to_many' or 'many_to_one'; got {mode!r}")
    return str(mode)


def as_param_arrays(params: object, cls: type[P], ndims: Sequence[int], hints: Sequence[str]) -> list[np.ndarray]:
    """The arrays of ``params``, an instance of the named tuple ``cls`` or a plain sequence of as many arrays.

    Each must be a finite float array of ``ndims[i]`` dimensions; messages name it as a field of
    ``params`` (``params.W_hh``) with its shape in words, ``hints[i]``. Shapes are the caller's to check.
    """
    fields: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    n = len(fields)
    if isinstance(params, np.ndarray) or not isinstance(params, Sequence) or len(params) != n:
        raise TypeError(
            f"params must be an {cls.__name__} or a sequence of {n} arrays ({', '.join(fields)}); "
            f"got {type(params).__name__}" + (f" of length {len(params)}" if isinstance(params, Sequence) else "")
        )
    return [
        as_float_array(value, f"params.{field}", ndim=ndim, shape_hint=hint)
        for value, field, ndim, hint in zip(params, fields, ndims, hints, strict=True)
    ]


def check_readout(W_hy: np.ndarray, b_y: np.ndarray, hidden: int) -> None:
    r"""Raise unless the read-out :math:`\hat y_t = W_{hy} h_t + b_y` fits ``hidden`` units."""
    if W_hy.shape[1] != hidden:
        raise ValueError(
            f"params.W_hy must have shape (outputs, hidden) with hidden = {hidden}; got shape {W_hy.shape}"
        )
    if b_y.shape != (W_hy.shape[0],):
        raise ValueError(f"params.b_y must have shape (outputs,) = ({W_hy.shape[0]},); got shape {b_y.shape}")


def check_sequences(X: object, n_features: int, weight: str = "W_xh", rows: str = "hidden") -> np.ndarray:
    """``X`` as a finite float array of shape ``(batch, T, n_features)`` with ``batch, T >= 1``.

    ``weight`` names the input weight matrix, of shape ``(rows, features)``, whose width sets
    ``n_features``; the message for a wrong number of features names it.
    """
    arr = as_float_array(X, "X", finite=False)
    if arr.ndim != 3:
        hint = ""
        if arr.ndim == 2:
            hint = " For one feature per step use X[:, :, None]; for a single sequence use X[None]."
        raise ValueError(
            f"X must be a 3-D array of shape (batch, T, features) = (batch, T, {n_features}); "
            f"got a {arr.ndim}-D array of shape {arr.shape}.{hint}"
        )
    if arr.shape[2] != n_features:
        raise ValueError(
            f"X has {arr.shape[2]} features per step, but {weight} expects {n_features} "
            f"({weight} has shape ({rows}, features)); got X of shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"X must hold at least one sequence of at least one step; got shape {arr.shape}")
    check_finite(arr, "X")
    return arr


def check_targets(Y: object, batch: int, T: int, n_outputs: int, mode: str, dtype: np.dtype) -> np.ndarray:
    """``Y`` checked against ``mode`` and cast to ``dtype``: ``(batch, T, outputs)`` or ``(batch, outputs)``."""
    arr = as_float_array(Y, "Y", finite=False)
    want: tuple[int, ...]
    if mode == "many_to_many":
        want = (batch, T, n_outputs)
        if arr.shape != want:
            hint = ""
            if arr.shape == (batch, n_outputs):
                hint = " A target for the last step only is mode='many_to_one'."
            raise ValueError(
                f"Y must have shape (batch, T, outputs) = {want} for mode='many_to_many' "
                f"(a target at every step); got shape {arr.shape}.{hint}"
            )
    else:
        want = (batch, n_outputs)
        if arr.shape != want:
            hint = ""
            if arr.shape == (batch, T, n_outputs):
                hint = " A target at every step is mode='many_to_many'."
            raise ValueError(
                f"Y must have shape (batch, outputs) = {want} for mode='many_to_one' "
                f"(a target for the last step only); got shape {arr.shape}.{hint}"
            )
    check_finite(arr, "Y")
    return arr.astype(dtype, copy=False)


def check_initial_state(state: object, batch: int, hidden: int, dtype: np.dtype, name: str = "h0") -> np.ndarray | None:
    """An initial state (``h0``, or an LSTM's ``c0``): ``None``, ``(hidden,)`` shared, or ``(batch, hidden)``."""
    if state is None:
        return None
    arr = as_float_array(state, name)
    if arr.shape not in ((hidden,), (batch, hidden)):
        raise ValueError(
            f"{name} must have shape (hidden,) = ({hidden},), shared by all sequences, or (batch, hidden) = "
            f"({batch}, {hidden}); got shape {arr.shape}"
        )
    return arr.astype(dtype, copy=False)


def time_major(X: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
    """``X`` of shape ``(batch, T, features)`` as a new C-contiguous ``(T, batch, features)`` array."""
    return np.ascontiguousarray(X.transpose(1, 0, 2), dtype=dtype)


def time_major_targets(Y: np.ndarray, mode: str) -> np.ndarray:
    """Targets time-major, ``(T, batch, outputs)``, for ``"many_to_many"``; ``(batch, outputs)`` as they are."""
    return np.ascontiguousarray(Y.transpose(1, 0, 2)) if mode == "many_to_many" else Y


def readout(W_hy: np.ndarray, b_y: np.ndarray, Hs: np.ndarray, mode: str) -> np.ndarray:
    r"""The outputs :math:`\hat Y_t = H_t W_{hy}^\top + \mathbf{1} b_y^\top` from the states ``Hs``.

    ``Hs`` has shape ``(T + 1, batch, hidden)`` with ``Hs[0]`` the initial state. Returns
    ``(T, batch, outputs)`` (time-major, one product for all steps), or ``(batch, outputs)`` for
    ``"many_to_one"`` (the last step only).
    """
    if mode == "many_to_one":
        return Hs[-1] @ W_hy.T + b_y
    T, B, n_h = Hs.shape[0] - 1, Hs.shape[1], Hs.shape[2]
    return (Hs[1:].reshape(T * B, n_h) @ W_hy.T + b_y).reshape(T, B, -1)


def readout_gradients(
    W_hy: np.ndarray, Hs: np.ndarray, Yhat: np.ndarray, Yt: np.ndarray, mode: str
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    r"""Loss, :math:`\partial L/\partial W_{hy}`, :math:`\partial L/\partial b_y`, and the direct gradients ``G``.

    :math:`L = \sum_t \frac{1}{2B} \lVert \hat Y_t - Y_t \rVert_F^2`. The direct gradient ``G``
    (shape ``(T, batch, hidden)``) holds :math:`\partial L_t/\partial h_t` through :math:`\hat y_t`
    only: :math:`G_t = \frac{1}{m}(\hat Y_t - Y_t) W_{hy}` (zero before the last step for
    ``"many_to_one"``).
    """
    T, B, n_h = Hs.shape[0] - 1, Hs.shape[1], Hs.shape[2]
    diff = Yhat - Yt
    loss = 0.5 * float(np.vdot(diff, diff)) / B
    dY = diff
    dY /= B
    G = np.empty((T, B, n_h), dtype=Hs.dtype)
    if mode == "many_to_one":
        G[:-1] = 0
        np.matmul(dY, W_hy, out=G[-1])
        dW_hy = dY.T @ Hs[-1]
        db_y = dY.sum(axis=0)
    else:
        dY2 = dY.reshape(T * B, -1)
        np.matmul(dY2, W_hy, out=G.reshape(T * B, n_h))
        dW_hy = dY2.T @ Hs[1:].reshape(T * B, n_h)
        db_y = dY2.sum(axis=0)
    return loss, dW_hy, db_y, G


class _Scratch(threading.local):
    """One thread's scratch buffers, by name and dtype."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[str, str], np.ndarray] = {}


_SCRATCH = _Scratch()
SCRATCH_LIMIT = 1 << 28
"""Buffers of more bytes than this (256 MiB) are not kept between calls."""


def scratch(name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialized array of ``shape`` and ``dtype``, from this thread's scratch buffer called ``name``.

    The buffer is kept and reused from call to call (and grown when needed), as PyTorch's caching
    allocator keeps its memory: a fresh array of many megabytes costs a page fault per 4 KiB on
    first touch, which for a short sequence took as long as the whole backward pass. Callers own
    the result until their next request of the same ``name`` in the same thread, so no array
    returned to a user may be (a view of) a scratch buffer. Buffers above ``SCRATCH_LIMIT`` bytes
    are allocated afresh each time and not kept.
    """
    dt = np.dtype(dtype)
    size = math.prod(shape)
    if size * dt.itemsize > SCRATCH_LIMIT:
        return np.empty(shape, dtype=dt)
    key = (name, dt.str)
    buf = _SCRATCH.buffers.get(key)
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=dt)
        _SCRATCH.buffers[key] = buf
    return buf[:size].reshape(shape)


def global_norm(arrays: Sequence[np.ndarray]) -> float:
    r"""The global norm :math:`\sqrt{\sum_i \lVert g_i \rVert_F^2}` of a list of arrays, as a Python float."""
    return float(np.sqrt(sum(float(np.vdot(g, g)) for g in arrays)))


def copy_flat_into(params: Sequence[np.ndarray], theta: object) -> None:
    """Copy the vector ``theta`` (as from :func:`mlmath._flat.flatten`) into the arrays ``params``, in place."""
    shapes = [p.shape for p in params]
    flat = as_float_array(theta, "theta", ndim=1, shape_hint="(n_params,)")
    if flat.size != total_size(shapes):
        raise ValueError(f"theta must have length {total_size(shapes)} (the number of parameters); got {flat.size}")
    unflatten_into(params, flat)


class StepRecords(Protocol):
    """What a sequence model's ``fit`` records per step, besides the :class:`~mlmath.training.History`."""

    step_loss: list[float]
    grad_norm: list[float]


LossAndGradients = Callable[[np.ndarray, np.ndarray, "int | None"], tuple[float, Sequence[np.ndarray]]]
"""``(Xt, Yt, k) -> (loss, grads)`` on a time-major batch, unchecked; ``k=None`` is full BPTT.

``grads`` starts with one gradient per parameter array, in the parameters' order (what follows,
such as the gradient of ``h0``, is ignored).
"""


def make_fit_step(
    loss_and_grads: LossAndGradients,
    params: list[np.ndarray],
    Xt: np.ndarray,
    Yt: np.ndarray,
    mode: str,
    optimizer: Optimizer,
    options: FitOptions,
    limit: float | None,
    k: int | None,
    records: StepRecords,
) -> Callable[[np.ndarray | slice, int, int], dict[str, float]]:
    """The step of ``fit`` on time-major data ``Xt``, ``Yt``, for :func:`~mlmath.training.run_epochs`.

    Each call on a batch of rows computes the loss and gradients by ``loss_and_grads`` (truncated
    to ``k`` steps unless ``k`` is ``None``), checks that both are finite (else raises
    :func:`~mlmath.training.diverged`), records the global gradient norm, rescales the gradients
    in place to the norm ``limit`` if they exceed it, and lets the optimizer update ``params``
    in place. It returns the batch's loss summed over its sequences.
    """
    steps = options.steps(Xt.shape[1])
    n = len(params)

    def train_step(rows: np.ndarray | slice, epoch: int, step: int) -> dict[str, float]:
        Yb = Yt[:, rows] if mode == "many_to_many" else Yt[rows]
        loss, grads = loss_and_grads(Xt[:, rows], Yb, k)
        g = list(grads[:n])
        norm = global_norm(g)
        if not (np.isfinite(loss) and np.isfinite(norm)):
            what, value = ("loss", loss) if not np.isfinite(loss) else ("gradient norm", norm)
            raise diverged(what, value, epoch, options.epochs, step, steps)
        if limit is not None and norm > limit:
            scale = limit / norm
            for a in g:
                a *= scale
        optimizer.apply_unchecked(params, g)
        records.step_loss.append(loss)
        records.grad_norm.append(norm)
        return {"loss": loss * Yb.shape[1 if mode == "many_to_many" else 0]}

    return train_step


H = TypeVar("H", bound=History)


def fit_sequences(
    loss_and_grads: LossAndGradients,
    params: Sequence[np.ndarray],
    inputs: Callable[[object], np.ndarray],
    X: object,
    Y: object,
    *,
    n_outputs: int,
    mode: str,
    dtype: np.dtype,
    default_rng: np.random.Generator,
    history: H,
    optimizer: Optimizer | str,
    epochs: object,
    batch_size: object,
    shuffle: object,
    verbose: object,
    seed: object,
    clip: object,
    truncate: object,
) -> H:
    """The whole of a sequence model's ``fit``: checks in a fixed order, then the shared loop.

    The options are checked first (optimizer, the loop's options, ``clip``, ``truncate``), then
    ``X`` by the model's ``inputs`` (which casts it to the model's dtype), then ``Y`` and the
    optimizer's compatibility with ``params``: all before any state changes. The data are made
    time-major once; each batch is gathered from them. ``history`` must also be a
    :class:`StepRecords`. ``truncate >= T`` is full BPTT (``k=None``), so it runs the same code.
    """
    opt = get_optimizer(optimizer)
    options = check_fit_options(
        epochs=epochs, batch_size=batch_size, shuffle=shuffle, verbose=verbose, seed=seed, default_rng=default_rng
    )
    limit = None if clip is None else check_positive(clip, "clip")
    k = None if truncate is None else check_int(truncate, "truncate", 1)
    Xc = inputs(X)
    n, T, _ = Xc.shape
    Yc = check_targets(Y, n, T, n_outputs, mode, dtype)
    arrays = list(params)
    opt.check_compatible(arrays)
    Xt = time_major(Xc)  # time-major once, batches gathered from it
    Yt = time_major_targets(Yc, mode)
    records: StepRecords = history  # type: ignore[assignment]
    step_of_epoch = make_fit_step(
        loss_and_grads, arrays, Xt, Yt, mode, opt, options, limit, None if k is None or k >= T else k, records
    )
    return run_epochs(n, options, step_of_epoch, arrays, opt, ["loss"], history)
