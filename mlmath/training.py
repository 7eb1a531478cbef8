r"""The one training loop every model's ``fit`` uses, and its atomic contract.

:meth:`mlmath.models.Sequential.fit` and :meth:`mlmath.rnn.RNN.fit` (and every model the later
chapters add) differ only in what one step on a batch of rows computes; everything else lives
here, once:

- **options**, checked the same way everywhere (:func:`check_fit_options`): ``epochs``,
  ``batch_size``, ``shuffle``, ``verbose`` and ``seed``, keyword-only, with Keras's defaults;
- **minibatches**: each epoch visits the rows once, in batches of ``batch_size`` (the last one
  may be smaller), in a fresh order drawn from one seeded ``numpy.random.Generator`` when
  ``shuffle`` (rows in order otherwise);
- **history and progress**: a :class:`History` with one value per epoch of each logged
  quantity, and with ``verbose`` one line per epoch,
  ``Epoch 3/50 - loss: 0.2212 - accuracy: 0.3450``;
- **the atomic contract** (:func:`restore_on_failure`): on *any* exception, a bad value met during
  training, a loss that becomes NaN or infinite (:class:`FloatingPointError` naming the epoch
  and step) or a ``KeyboardInterrupt``, the weights and the optimizer's state are put back as
  they were before the call, and the model's ``history`` is not replaced.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from mlmath._validation import (
    as_generator,
    check_bool,
    check_generator,
    check_int,
    check_param_arrays,
    check_size,
    check_str,
    check_verbose,
)
from mlmath.optim import Optimizer

__all__ = ["FitOptions", "History", "check_fit_options", "diverged", "restore_on_failure", "run_epochs"]

_RESTORED = (
    "; fit stopped and restored the weights and the optimizer state to their values before this call. "
    "A smaller learning_rate (or gradient clipping) usually helps."
)


class History:
    """What ``fit`` returns: one value per epoch of each logged quantity.

    Attributes
    ----------
    history : dict of str to list of float
        ``"loss"``, then each metric (``"accuracy"``), then ``"val_loss"`` and
        ``"val_accuracy"`` when there are validation rows; one value per epoch.
    epoch : list of int
        The epoch numbers, from 0, as Keras lists them.
    params : dict
        ``{"epochs": ..., "steps": ..., "verbose": ...}``; ``steps`` is the number of batches per epoch.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params: dict[str, int] = {}

    def __repr__(self) -> str:
        keys = ", ".join(self.history)
        return f"History(epochs={len(self.epoch)}, keys=[{keys}])"


@dataclass(frozen=True)
class FitOptions:
    """The checked options of a ``fit`` call."""

    epochs: int
    batch_size: int
    shuffle: bool
    verbose: int
    rng: np.random.Generator

    def steps(self, n_rows: int) -> int:
        """Number of batches per epoch for ``n_rows`` training rows."""
        return math.ceil(check_int(n_rows, "n_rows", 0) / self.batch_size)


def check_fit_options(
    *,
    epochs: object,
    batch_size: object,
    shuffle: object,
    verbose: object,
    seed: object,
    default_rng: np.random.Generator,
) -> FitOptions:
    """Check the options every ``fit`` shares; ``seed=None`` shuffles from the model's ``default_rng``.

    ``epochs`` is bounded as a size (the history holds one value per epoch); ``batch_size`` may
    exceed the number of rows (one batch of all of them).
    """
    rng = check_generator(default_rng, "default_rng")
    return FitOptions(
        epochs=check_size(epochs, "epochs"),
        batch_size=check_int(batch_size, "batch_size", 1),
        shuffle=check_bool(shuffle, "shuffle"),
        verbose=check_verbose(verbose),
        rng=rng if seed is None else as_generator(seed),
    )


def diverged(
    what: str, value: float | str, epoch: int, epochs: int, step: int | None = None, steps: int = 0
) -> FloatingPointError:
    """The error for a quantity that became NaN or infinite, naming where, and saying what was restored.

    ``epoch`` of ``epochs`` and, within it, ``step`` of ``steps`` (``step=None`` after the epoch's steps).
    """
    check_str(what, "what")
    check_int(epoch, "epoch", 1)
    check_int(epochs, "epochs", 1)
    if step is not None:
        check_int(step, "step", 1)
    check_int(steps, "steps", 0)
    where = f"epoch {epoch}/{epochs}" + ("" if step is None else f", step {step}/{steps}")
    return FloatingPointError(f"the {what} became {value} at {where}" + _RESTORED)


@runtime_checkable
class _Stateful(Protocol):
    """What the atomic contract needs of an optimizer: its whole state, to save and to put back."""

    def get_state(self) -> Any: ...

    def set_state(self, state: Any) -> None: ...


@contextmanager
def restore_on_failure(params: Sequence[np.ndarray], optimizer: Optimizer | _Stateful) -> Iterator[None]:
    """Snapshot ``params`` (in place arrays) and the optimizer's state; put both back on any exception.

    ``BaseException`` is caught on purpose: a ``KeyboardInterrupt`` in the middle of an epoch
    must not leave half-trained weights behind either. The exception is re-raised. ``params``
    must be a list of float32 or float64 numpy arrays (updated in place) and ``optimizer`` an
    :class:`~mlmath.optim.Optimizer`, or any object with ``get_state()`` and
    ``set_state(state)`` such as a :class:`mlmath.second_order.ModelOptimizer`, checked on
    entering the block.
    """
    params = check_param_arrays(params)
    if not isinstance(optimizer, Optimizer | _Stateful) or isinstance(optimizer, type):
        raise TypeError(
            "optimizer must be an Optimizer such as Adam(), or an object with get_state() and set_state(state) "
            f"such as HessianFree(); got {type(optimizer).__name__}"
        )
    saved_params, saved_state = [p.copy() for p in params], optimizer.get_state()
    try:
        yield
    except BaseException:
        for p, saved in zip(params, saved_params, strict=True):
            np.copyto(p, saved)
        optimizer.set_state(saved_state)
        raise


H = TypeVar("H", bound=History)
Step = Callable[[np.ndarray | slice, int, int], Mapping[str, float]]


def run_epochs(
    n_rows: int,
    options: FitOptions,
    train_step: Step,
    params: Sequence[np.ndarray],
    optimizer: Optimizer | _Stateful,
    keys: Sequence[str],
    history: H,
    end_of_epoch: Callable[[int], Mapping[str, float]] | None = None,
) -> H:
    r"""Run the epochs of a ``fit``, atomically, and return its :class:`History`.

    Parameters
    ----------
    n_rows : int
        Number of training rows (samples or sequences).
    options : FitOptions
    train_step : callable ``(rows, epoch, step) -> sums``
        One optimizer step on the batch ``rows`` (an index array, or a slice without shuffling);
        returns, for each training key, the *sum* over the batch's rows (``loss * len(rows)``,
        number correct), which the loop divides by ``n_rows`` at the end of the epoch. It raises
        :func:`diverged` when its loss is not finite.
    params : list of numpy.ndarray
        The arrays the optimizer updates in place: snapshotted, checked finite after each epoch,
        restored on failure.
    optimizer : Optimizer, or an object with ``get_state()`` and ``set_state(state)``
        Its state is snapshotted and restored on failure.
    keys : list of str
        The logged keys in order: the training keys ``train_step`` returns, then those of ``end_of_epoch``.
    history : History
        A new :class:`History` (or subclass) to fill and return.
    end_of_epoch : callable ``(epoch) -> logs``, optional
        Validation after each epoch: its values are logged as they are.
    """
    steps = options.steps(n_rows)
    history.params = {"epochs": options.epochs, "steps": steps, "verbose": options.verbose}
    history.history = {k: [] for k in keys}
    bs, epochs = options.batch_size, options.epochs
    with restore_on_failure(params, optimizer), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(1, epochs + 1):
            # Gather each batch's rows when it is needed: a shuffled copy of the whole
            # training set per epoch would cost as much as many steps on large data.
            order = options.rng.permutation(n_rows) if options.shuffle else None
            sums: dict[str, float] = {}
            for step in range(1, steps + 1):
                rows = slice((step - 1) * bs, step * bs)
                for k, v in train_step(rows if order is None else order[rows], epoch, step).items():
                    sums[k] = sums.get(k, 0.0) + v
            if not all(np.isfinite(p).all() for p in params):
                raise diverged("weights", "NaN or infinite", epoch, epochs)
            logs = {k: v / n_rows for k, v in sums.items()}
            if end_of_epoch is not None:
                logs.update(end_of_epoch(epoch))
            for k in keys:
                history.history[k].append(logs[k])
            history.epoch.append(epoch - 1)
            if options.verbose:
                parts = " - ".join(f"{k}: {logs[k]:.4f}" for k in keys)
                print(f"Epoch {epoch}/{epochs} - {parts}", flush=True)
    return history
