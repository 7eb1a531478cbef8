r"""Optimizers and learning-rate schedules: each optimizer as a pure step function and as a stateful object.

Derived in chapter 9. Frameworks differ in how they write momentum, where the :math:`\epsilon`
of the adaptive methods sits and how weight decay enters AdamW; these follow Keras 3, with its
parameter names and defaults, and each docstring writes its exact update. Notation: parameters
:math:`\theta`, gradient :math:`g_t`, learning rate :math:`\eta`, step count :math:`t` (1 on the
first step); squares, square roots and quotients of arrays are elementwise.

=========================  ===========================  ============================================
optimizer                  pure step function           state per parameter array
=========================  ===========================  ============================================
:class:`SGD`               :func:`sgd_step`             ``velocity`` (only with momentum)
:class:`AdaGrad`           :func:`adagrad_step`         ``accumulator``
:class:`RMSProp`           :func:`rmsprop_step`         ``v``; ``m`` if centered; ``velocity`` if momentum
:class:`Adam`              :func:`adam_step`            ``m``, ``v``; ``v_hat`` with AMSGrad
:class:`AdamW`             :func:`adamw_step`           ``m``, ``v``; ``v_hat`` with AMSGrad
=========================  ===========================  ============================================

``Adagrad`` and ``RMSprop`` (Keras's spellings) are aliases of :class:`AdaGrad` and :class:`RMSProp`.

Two forms of each optimizer:

- a **pure step function**, e.g. :func:`sgd_step` and :func:`adam_step`:
  ``(param, grad, state) -> (new_param, new_state)``, returning new arrays and a new state dict
  and changing nothing it was given; ``state=None`` starts afresh. It works on any array,
  such as the point :math:`(x, y)` of a 2-D test function.
- a **stateful object**, e.g. :class:`SGD` and :class:`Adam`, used by
  :class:`mlmath.models.Sequential`: ``optimizer.apply_gradients(params, grads)`` updates the
  arrays in ``params`` **in place** (float32 stays float32; no new arrays per step), with
  :meth:`Optimizer.get_state` / :meth:`Optimizer.set_state` to save and resume training exactly.

The pure function builds the stateful object with the given hyperparameters and applies it
once, to private copies of ``param`` and ``state``: one update rule and one set of checks serve
both forms, so they give the same numbers, bit for bit.

**Learning-rate schedules.** Every optimizer and every step function accepts for
``learning_rate`` either a number > 0 or a :class:`LearningRateSchedule`:
:class:`ExponentialDecay`, :class:`InverseTimeDecay`, :class:`PiecewiseConstantDecay` (a step
decay) or :class:`CosineDecay` (with optional linear warm-up). A schedule maps the number of steps
already taken to a learning rate, as in Keras: step :math:`t` uses
:math:`\eta_t = \text{schedule}(t - 1)`, so the first step uses ``schedule(0)``. A schedule is a
function of the step count alone, so saving the step count (it is in every state) saves the
schedule's position too.

Adding an optimizer: subclass :class:`Optimizer`; check the hyperparameters in ``__init__`` and
list the ``slot_names`` (per-parameter state arrays, created as zeros, or as the value
:meth:`Optimizer._slot_initial_value` gives), write the update in place in ``_update``, extend
:meth:`Optimizer.get_config`, and add the class to ``_OPTIMIZERS`` so :func:`get` finds it by name.
The pure ``name_step`` is then ``return _pure_step(Name(learning_rate=learning_rate, ...), param, grad, state)``.
Schedules enter through :meth:`Optimizer._current_learning_rate`.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mlmath._flat import split_flat, total_size
from mlmath._validation import (
    as_array_list,
    as_float_array,
    check_bool,
    check_finite,
    check_in_range,
    check_int,
    check_param_arrays,
    check_positive,
    describe,
    lookup,
)

__all__ = [
    "SGD",
    "AdaGrad",
    "Adam",
    "AdamW",
    "CosineDecay",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "Optimizer",
    "PiecewiseConstantDecay",
    "RMSProp",
    "adagrad_step",
    "adam_step",
    "adamw_step",
    "get",
    "rmsprop_step",
    "sgd_step",
]


# ---------------------------------------------------------------------------
# checks (private helpers of this module)
# ---------------------------------------------------------------------------


def _check_nonnegative(value: object, name: str) -> float:
    """Return ``value`` as a float, raising unless it is a finite number >= 0."""
    return check_in_range(value, name, 0.0, math.inf)


def _check_learning_rate(value: object) -> float | LearningRateSchedule:
    """A learning rate: a finite number > 0 (returned as float) or a schedule (returned as is)."""
    if isinstance(value, LearningRateSchedule):
        return value
    try:
        return check_positive(value, "learning_rate")
    except TypeError:
        raise TypeError(
            "learning_rate must be a real number > 0 or a LearningRateSchedule such as "
            f"ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5); got {type(value).__name__} {value!r}"
        ) from None


def _rate_at(learning_rate: float | LearningRateSchedule, t: int) -> float:
    """The learning rate of the step taken after ``t`` steps: a constant, or ``schedule(t)``, checked."""
    if not isinstance(learning_rate, LearningRateSchedule):
        return learning_rate
    value = learning_rate(t)
    try:
        lr = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"the learning-rate schedule {learning_rate!r} must return a number; at step {t} it returned "
            f"{type(value).__name__} {value!r}"
        ) from None
    if not (math.isfinite(lr) and lr >= 0):
        raise ValueError(
            f"the learning-rate schedule {learning_rate!r} returned {value!r} at step {t}; "
            "a learning rate must be a finite number >= 0"
        )
    return lr


def _param_and_grad(param: object, grad: object) -> tuple[np.ndarray, np.ndarray]:
    """A private copy of ``param`` and a finite ``grad`` of the same shape and dtype."""
    p = np.array(as_float_array(param, "param"), copy=True)
    g = as_float_array(grad, "grad")
    if g.shape != p.shape:
        raise ValueError(f"grad must have the shape of param, {p.shape}; got shape {g.shape}")
    return p, g.astype(p.dtype, copy=False)


def _check_state_keys(state: object, names: Sequence[str], what: str) -> None:
    """Raise unless ``state`` is a mapping with exactly the keys ``"t"`` and ``names``."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be {what}; got {type(state).__name__}")
    expected = {"t", *names}
    if set(state) != expected:
        raise ValueError(f"state must have the keys {sorted(expected)}; got {sorted(state)}")


def _slot_arrays(items: object, name: str) -> list[np.ndarray]:
    """The arrays of the slot ``name`` of a state from ``get_state()``: float32/float64 numpy arrays, finite."""
    if not isinstance(items, list | tuple):
        raise TypeError(
            f"state[{name!r}] must be a list of arrays, one per parameter array; got {type(items).__name__}"
        )
    for i, item in enumerate(items):
        label = f"state[{name!r}][{i}]"
        if not isinstance(item, np.ndarray) or item.dtype not in (np.float32, np.float64):
            raise TypeError(f"{label} must be a float32 or float64 numpy array; got {describe(item)}")
        check_finite(item, label)
    return list(items)


# ---------------------------------------------------------------------------
# learning-rate schedules
# ---------------------------------------------------------------------------


def _check_step(step: object) -> np.ndarray:
    """The step count(s) given to a schedule, as a float64 array of values >= 0."""
    if type(step) is int and step >= 0:  # the optimizers' call: skip the general checks
        return np.asarray(float(step))
    if isinstance(step, bool | np.bool_):
        raise TypeError(f"step must be a number of steps (an integer >= 0); got {step!r}")
    arr = as_float_array(step, "step").astype(np.float64, copy=False)
    if (arr < 0).any():
        raise ValueError(f"step must be >= 0 (the number of steps already taken); got {step!r}")
    return arr


class LearningRateSchedule:
    r"""Base class of the learning-rate schedules: a learning rate as a function of the step count.

    ``schedule(step)`` returns the learning rate of the step taken after ``step`` steps (so an
    optimizer's first step uses ``schedule(0)``, as in Keras). ``step`` may be an integer, giving
    a float, or an array of step counts, giving an array of rates of its shape (handy for plots).
    Subclasses implement ``_rate(step)`` on a float64 array of step counts; a subclass may also
    override ``__call__`` itself, as long as it returns a finite number >= 0 for each integer step.
    Derived in chapter 9.
    """

    def __call__(self, step: int | np.ndarray) -> float | np.ndarray:
        s = _check_step(step)
        out = self._rate(s)
        return float(out) if s.ndim == 0 else np.asarray(out, dtype=np.float64)

    def _rate(self, step: np.ndarray) -> np.ndarray:
        raise NotImplementedError("a LearningRateSchedule defines _rate(step) or __call__(step)")

    def get_config(self) -> dict[str, Any]:
        """The schedule's parameters, as keyword arguments of its constructor."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _DecaySchedule(LearningRateSchedule):
    """What :class:`ExponentialDecay` and :class:`InverseTimeDecay` share: Keras's four arguments and
    the decay's progress :math:`s/S` (floored with ``staircase``)."""

    def __init__(
        self, initial_learning_rate: float, decay_steps: float, decay_rate: float, staircase: bool = False
    ) -> None:
        self.initial_learning_rate = check_positive(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = check_positive(decay_steps, "decay_steps")
        self.decay_rate = self._check_decay_rate(decay_rate)
        self.staircase = check_bool(staircase, "staircase")

    def _check_decay_rate(self, value: object) -> float:
        return check_positive(value, "decay_rate")

    def _progress(self, step: np.ndarray) -> np.ndarray:
        r""":math:`s/S`, or :math:`\lfloor s/S \rfloor` with ``staircase``."""
        p = step / self.decay_steps
        return np.floor(p) if self.staircase else p

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
        }


class ExponentialDecay(_DecaySchedule):
    r"""Exponential decay of the learning rate, Keras's ``ExponentialDecay``.

    .. math::

        \eta(s) = \eta_0\, r^{\,s / S}
        \quad\text{or, with } \texttt{staircase=True},\quad
        \eta(s) = \eta_0\, r^{\lfloor s / S \rfloor},

    for the step count :math:`s`, with :math:`\eta_0` = ``initial_learning_rate``,
    :math:`r` = ``decay_rate`` and :math:`S` = ``decay_steps``. The staircase form is a step
    decay: the rate is multiplied by :math:`r` every :math:`S` steps. Derived in chapter 9.

    Parameters
    ----------
    initial_learning_rate : float > 0
    decay_steps : float > 0
    decay_rate : float > 0
        Below 1 to decay.
    staircase : bool, default False

    Examples
    --------
    >>> schedule = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    >>> schedule(0), schedule(10), schedule(20)
    (0.1, 0.05, 0.025)
    >>> ExponentialDecay(0.1, 10, 0.5, staircase=True)(np.array([0, 9, 10, 19, 20]))
    array([0.1  , 0.1  , 0.05 , 0.05 , 0.025])
    """

    def _rate(self, step: np.ndarray) -> np.ndarray:
        return self.initial_learning_rate * np.power(self.decay_rate, self._progress(step))


class InverseTimeDecay(_DecaySchedule):
    r"""Inverse time decay of the learning rate, Keras's ``InverseTimeDecay``.

    .. math::

        \eta(s) = \frac{\eta_0}{1 + r\, s / S}
        \quad\text{or, with } \texttt{staircase=True},\quad
        \eta(s) = \frac{\eta_0}{1 + r \lfloor s / S \rfloor},

    for the step count :math:`s`, with :math:`\eta_0` = ``initial_learning_rate``,
    :math:`r` = ``decay_rate`` and :math:`S` = ``decay_steps``. For large :math:`s` the rate
    falls as :math:`1/s`, so :math:`\sum_s \eta(s) = \infty` while :math:`\sum_s \eta(s)^2 <
    \infty` (for :math:`r > 0`): the step sizes of Robbins and Monro's conditions for stochastic
    gradient descent to converge. Derived in chapter 9.

    PyTorch has no such class; ``torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 / (1 + r * s / S))``
    multiplies the optimizer's learning rate :math:`\eta_0` by the same factor.

    Parameters
    ----------
    initial_learning_rate : float > 0
    decay_steps : float > 0
    decay_rate : float >= 0
        ``0`` keeps the rate constant (a negative rate, which Keras accepts, would drive the
        denominator to zero and is refused).
    staircase : bool, default False
        Lower the rate only every :math:`S` steps.

    Examples
    --------
    >>> schedule = InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.5)
    >>> schedule(0), schedule(2), schedule(6)
    (0.1, 0.05, 0.025)
    >>> InverseTimeDecay(0.1, 10, 1.0, staircase=True)(np.array([0, 9, 10, 19]))
    array([0.1 , 0.1 , 0.05, 0.05])
    """

    def _check_decay_rate(self, value: object) -> float:
        return _check_nonnegative(value, "decay_rate")

    def _rate(self, step: np.ndarray) -> np.ndarray:
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


def _number_list(value: object, name: str) -> Sequence[object]:
    """A list, tuple or 1-D array (of entries still to check), refusing strings, scalars and other shapes."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ValueError(f"{name} must be a list of numbers (or a 1-D array); got an array of shape {value.shape}")
        return list(value)
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a list of numbers; got {type(value).__name__}")
    return value


class PiecewiseConstantDecay(LearningRateSchedule):
    r"""A learning rate constant between boundaries (a step decay), Keras's ``PiecewiseConstantDecay``.

    .. math::

        \eta(s) = \begin{cases}
        \eta^{(0)} & s \le b_0, \\
        \eta^{(i)} & b_{i-1} < s \le b_i, \\
        \eta^{(n)} & s > b_{n-1},
        \end{cases}

    for the step count :math:`s`, ``boundaries`` :math:`b_0 < \dots < b_{n-1}` and ``values``
    :math:`\eta^{(0)}, \dots, \eta^{(n)}` (one more value than boundaries). Each boundary belongs
    to the interval that ends there, as in Keras. Derived in chapter 9.

    Parameters
    ----------
    boundaries : sequence of float, strictly increasing
    values : sequence of float > 0, one longer than ``boundaries``

    Examples
    --------
    >>> schedule = PiecewiseConstantDecay(boundaries=[2, 5], values=[0.1, 0.01, 0.001])
    >>> schedule(np.arange(8))
    array([0.1  , 0.1  , 0.1  , 0.01 , 0.01 , 0.01 , 0.001, 0.001])
    """

    def __init__(self, boundaries: Sequence[float], values: Sequence[float]) -> None:
        given_b, given_v = _number_list(boundaries, "boundaries"), _number_list(values, "values")
        if len(given_v) != len(given_b) + 1:
            raise ValueError(
                f"values must have one more entry than boundaries; got {len(given_b)} boundaries "
                f"and {len(given_v)} values"
            )
        b = [check_in_range(x, f"boundaries[{i}]", -math.inf, math.inf) for i, x in enumerate(given_b)]
        if any(b1 <= b0 for b0, b1 in itertools.pairwise(b)):
            raise ValueError(f"boundaries must be strictly increasing; got {list(given_b)!r}")
        self.boundaries = b
        self.values = [check_positive(x, f"values[{i}]") for i, x in enumerate(given_v)]
        self._b = np.array(b, dtype=np.float64)
        self._v = np.array(self.values, dtype=np.float64)

    def _rate(self, step: np.ndarray) -> np.ndarray:
        return self._v[np.searchsorted(self._b, step, side="left")]

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values}


class CosineDecay(LearningRateSchedule):
    r"""Cosine decay with an optional linear warm-up, Keras 3's ``CosineDecay``.

    Without warm-up (``warmup_target=None``), from :math:`\eta_0` = ``initial_learning_rate``
    down to :math:`\alpha\eta_0` over :math:`D` = ``decay_steps`` steps, then constant:

    .. math::

        \eta(s) = \eta_0\left((1 - \alpha)\,\tfrac12\bigl(1 + \cos(\pi \min(s, D)/D)\bigr) + \alpha\right).

    With warm-up, the rate first rises linearly from :math:`\eta_0` to
    :math:`\eta_\text{peak}` = ``warmup_target`` over :math:`W` = ``warmup_steps`` steps, then
    decays from :math:`\eta_\text{peak}` to :math:`\alpha\eta_\text{peak}` as above:

    .. math::

        \eta(s) = \begin{cases}
        \eta_0 + (\eta_\text{peak} - \eta_0)\, s / W & s < W, \\
        \eta_\text{peak}\left((1 - \alpha)\,\tfrac12\bigl(1 + \cos(\pi \min(s - W, D)/D)\bigr) + \alpha\right)
        & s \ge W.
        \end{cases}

    A warm-up usually starts from ``initial_learning_rate=0``, so the first step changes nothing
    (its rate is 0); that is allowed here, as in Keras. Derived in chapter 9.

    Parameters
    ----------
    initial_learning_rate : float
        > 0 without warm-up, >= 0 with it.
    decay_steps : float > 0
    alpha : float in [0, 1], default 0.0
        The final rate as a fraction of the rate the decay starts from.
    warmup_target : float > 0 or None, default None
        The peak rate reached at the end of the warm-up; ``None``: no warm-up.
    warmup_steps : float >= 0, default 0
        Only used with a ``warmup_target``.

    Examples
    --------
    >>> schedule = CosineDecay(0.0, decay_steps=100, warmup_target=0.1, warmup_steps=10)
    >>> schedule(np.array([0, 5, 10, 60, 110, 200]))
    array([0.  , 0.05, 0.1 , 0.05, 0.  , 0.  ])
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        alpha: float = 0.0,
        warmup_target: float | None = None,
        warmup_steps: float = 0,
    ) -> None:
        if warmup_target is None:
            self.initial_learning_rate = check_positive(initial_learning_rate, "initial_learning_rate")
        else:
            self.initial_learning_rate = _check_nonnegative(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = check_positive(decay_steps, "decay_steps")
        self.alpha = check_in_range(alpha, "alpha", 0.0, 1.0, high_inclusive=True)
        self.warmup_target = None if warmup_target is None else check_positive(warmup_target, "warmup_target")
        self.warmup_steps = _check_nonnegative(warmup_steps, "warmup_steps")

    def _decay(self, s: np.ndarray, start: float) -> np.ndarray:
        cosine = 0.5 * (1.0 + np.cos(np.pi * np.minimum(s, self.decay_steps) / self.decay_steps))
        return start * ((1.0 - self.alpha) * cosine + self.alpha)

    def _rate(self, step: np.ndarray) -> np.ndarray:
        if self.warmup_target is None:
            return self._decay(step, self.initial_learning_rate)
        W, peak = self.warmup_steps, self.warmup_target
        warm = self.initial_learning_rate + (peak - self.initial_learning_rate) * step / (W if W > 0 else 1.0)
        return np.where(step < W, warm, self._decay(np.maximum(step - W, 0.0), peak))

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


# ---------------------------------------------------------------------------
# stateful optimizers
# ---------------------------------------------------------------------------


class Optimizer:
    """Base class of the stateful optimizers given to :meth:`mlmath.models.Sequential.compile`.

    The first update creates the per-parameter state (``slot_names``, arrays of each parameter's
    shape and dtype, zeros unless :meth:`_slot_initial_value` says otherwise); later updates must
    pass parameters of the same shapes, in the same order. Use a new optimizer object for another
    model.

    The interface used by training loops:

    - :meth:`apply_gradients` checks its arguments, then updates the parameters in place;
    - a loop that checks its own arrays calls :meth:`check_compatible` once, then
      :meth:`apply_unchecked` at each step;
    - :meth:`get_state` and :meth:`set_state` save and restore the state, :attr:`iterations` is
      the number of steps taken and :meth:`get_config` gives the constructor's arguments.

    A subclass checks its hyperparameters in ``__init__``, sets ``slot_names``, writes its update
    rule in ``_update`` and extends :meth:`get_config`; the pure step functions such as
    :func:`adam_step` run the same object, so both forms share its rule and its checks.

    Parameters
    ----------
    learning_rate : float > 0 or LearningRateSchedule
        A constant rate, or a schedule: step :math:`t` then uses ``learning_rate(t - 1)``.
    """

    slot_names: tuple[str, ...] = ()
    elementwise = True  # the update of each entry depends on that entry alone (see apply_unchecked)

    def __init__(self, learning_rate: float | LearningRateSchedule) -> None:
        self.learning_rate = _check_learning_rate(learning_rate)
        self._t = 0
        self._specs: list[tuple[tuple[int, ...], np.dtype]] | None = None  # None: no state yet
        self._flat: dict[str, np.ndarray] | None = None
        self._slots: dict[str, list[np.ndarray]] = {}
        self._tmp: list[np.ndarray] = []

    def _allocate(self, specs: list[tuple[tuple[int, ...], np.dtype]]) -> None:
        """Create the initial state for parameters of these shapes and dtypes.

        When all dtypes agree, each slot is one flat buffer and the per-parameter arrays are
        views of it, so that :meth:`apply_unchecked` can update a model's contiguous parameters
        at once.
        """
        names = (*self.slot_names, "_tmp")
        dtypes = {dt for _, dt in specs}
        if len(dtypes) == 1:
            dt = dtypes.pop()
            shapes = [shape for shape, _ in specs]
            self._flat = {n: np.zeros(total_size(shapes), dt) for n in names}
            views = {n: split_flat(self._flat[n], shapes) for n in names}
        else:
            self._flat = None
            views = {n: [np.zeros(shape, dt) for shape, dt in specs] for n in names}
        self._tmp = views.pop("_tmp")
        for name in self.slot_names:
            value = self._slot_initial_value(name)
            if value:
                for arr in (self._flat[name],) if self._flat is not None else views[name]:
                    arr.fill(value)
        self._slots = views
        self._specs = list(specs)

    def _slot_initial_value(self, name: str) -> float:
        """The value every entry of the slot ``name`` starts from (0 unless a subclass says otherwise)."""
        return 0.0

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Finish a copy (``copy.deepcopy``) or an unpickling: make the per-parameter state views again.

        A copy holds each view of a flat buffer as an array of its own; without this, the flat
        update of :meth:`apply_unchecked` would write into buffers that the per-array update and
        :meth:`get_state` no longer read.
        """
        self.__dict__.update(state)
        if self._flat is not None and self._specs is not None:
            shapes = [shape for shape, _ in self._specs]
            views = {name: split_flat(buffer, shapes) for name, buffer in self._flat.items()}
            self._tmp = views.pop("_tmp")
            self._slots = views

    @property
    def iterations(self) -> int:
        """Number of steps taken: :math:`t` of the last update (0 before the first)."""
        return self._t

    def _current_learning_rate(self) -> float:
        """The learning rate of the step about to be taken: the constant, or the schedule at :attr:`iterations`."""
        return _rate_at(self.learning_rate, self._t)

    # -- the update -----------------------------------------------------------------------------

    def apply_gradients(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """Update each array of ``params`` in place with the matching gradient of ``grads``.

        Everything is checked first: nothing is updated when an error is raised.

        Parameters
        ----------
        params : list of numpy.ndarray
            Writable float32 or float64 arrays with finite entries, such as ``[W, b]``; updated
            in place (their dtypes are kept).
        grads : list of array_like
            One finite gradient per parameter, of the same shape, such as ``[dW, db]``.

        Raises
        ------
        TypeError
            If ``params`` or ``grads`` is not a list (or tuple) of arrays, or a parameter is not
            a writable float32/float64 numpy array.
        ValueError
            If the lists are empty or differ in length, a gradient's shape differs from its
            parameter's, a parameter or a gradient holds NaN or infinity, the parameters differ
            from those this optimizer's state was created for, or a learning-rate schedule
            returns a negative or non-finite rate.
        """
        params = check_param_arrays(params)
        for i, p in enumerate(params):
            check_finite(p, f"params[{i}]")
        if not params:
            raise ValueError("params must hold at least one array")
        gs = as_array_list(grads, "grads")
        if len(gs) != len(params):
            raise ValueError(f"params and grads must have the same length; got {len(params)} and {len(gs)}")
        for i, (p, g) in enumerate(zip(params, gs, strict=True)):
            if g.shape != p.shape:
                raise ValueError(f"grads[{i}] must have the shape of params[{i}], {p.shape}; got shape {g.shape}")
            gs[i] = g.astype(p.dtype, copy=False)
        self.check_compatible(params)
        self.apply_unchecked(params, gs)

    def check_compatible(self, params: Sequence[np.ndarray]) -> None:
        """Raise unless the state, if created, was created for parameters like ``params``.

        Parameters
        ----------
        params : sequence of numpy.ndarray
            The parameters of the next updates.

        Raises
        ------
        TypeError
            If ``params`` is not a list (or tuple) of float32 or float64 numpy arrays.
        ValueError
            If the state holds another number of arrays than ``params``, or an array of another
            shape or dtype than the matching parameter. Before the first update (no state yet)
            every list of parameters is compatible.
        """
        self._check_fits(check_param_arrays(params, writable=False), "params")

    def _check_fits(self, arrays: Sequence[np.ndarray], name: str) -> None:
        """:meth:`check_compatible` for the arrays ``name`` (parameters, or the first slot of a state)."""
        if self._specs is None:
            return
        misfit = f"{name} does not fit this optimizer:"
        if len(arrays) != len(self._specs):
            raise ValueError(
                f"{misfit} this optimizer holds state for {len(self._specs)} parameter arrays; got {len(arrays)}. "
                "Use a new optimizer for another model."
            )
        for i, ((shape, dt), a) in enumerate(zip(self._specs, arrays, strict=True)):
            if shape != a.shape or dt != a.dtype:
                raise ValueError(
                    f"{misfit} this optimizer's state for params[{i}] has shape {shape} and dtype {dt}; "
                    f"got shape {a.shape} and dtype {a.dtype}. Use a new optimizer for another model."
                )

    def apply_unchecked(
        self,
        params: Sequence[np.ndarray],
        grads: Sequence[np.ndarray],
        flat: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Update ``params`` in place without checking them: the hot path of a training loop.

        The caller must have ensured what :meth:`apply_gradients` checks: ``params`` are writable
        float32/float64 numpy arrays with finite entries, ``grads`` one finite array per
        parameter of its shape and dtype, and :meth:`check_compatible` accepts ``params``.
        Only the rate a learning-rate schedule returns is checked, before anything changes.

        Parameters
        ----------
        params, grads : sequence of numpy.ndarray
        flat : (numpy.ndarray, numpy.ndarray) or None
            ``(all_params, all_grads)``: two 1-D arrays of which ``params`` and ``grads`` are
            consecutive views, in order (as :func:`mlmath._flat.split_flat` makes them). An
            elementwise optimizer then updates all parameters with one call of its rule instead
            of one call per array, with the same numbers.
        """
        lr = self._current_learning_rate()  # before anything changes: a schedule may raise
        if self._specs is None:
            self._allocate([(p.shape, p.dtype) for p in params])
        self._t += 1
        if flat is not None and self._flat is not None and self.elementwise:
            flat_p, flat_g = flat
            self._update(flat_p, flat_g, {n: self._flat[n] for n in self.slot_names}, self._flat["_tmp"], lr)
            return
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            self._update(p, g, {n: self._slots[n][i] for n in self.slot_names}, self._tmp[i], lr)

    def _update(
        self, p: np.ndarray, g: np.ndarray, slots: Mapping[str, np.ndarray], tmp: np.ndarray, lr: float
    ) -> None:
        """The update rule, in place: step :attr:`iterations` with rate ``lr`` on ``p`` and its ``slots``.

        ``slots`` maps each of ``slot_names`` to the array of that state for ``p``; ``tmp`` is
        scratch space of ``p``'s shape and dtype.
        """
        raise NotImplementedError("an Optimizer defines _update(p, g, slots, tmp, lr)")

    # -- saving and resuming ------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """Return a copy of the optimizer's state: ``{"t": int, slot_name: [array, ...], ...}``.

        The lists are empty before the first update. Pass the dict to :meth:`set_state` of an
        optimizer with the same hyperparameters to resume training exactly.
        """
        state: dict[str, Any] = {"t": self._t}
        for name in self.slot_names:
            state[name] = [] if self._specs is None else [a.copy() for a in self._slots[name]]
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Replace the optimizer's state by a copy of ``state`` (from :meth:`get_state`).

        Parameters
        ----------
        state : dict
            ``{"t": int, slot_name: [array, ...], ...}`` with the keys ``"t"`` and
            :attr:`slot_names`: the step count, and for each slot one float32 or float64 array
            per parameter array, all entries finite; the lists of equal length, the arrays of
            one parameter of one shape and dtype (those of the state already held, if any).
            Empty lists (no state yet) go with ``t = 0``.

        Raises
        ------
        TypeError
            If ``state`` is not a dict, a slot not a list of numpy arrays, an array not float32
            or float64, or the step count not an integer.
        ValueError
            If the keys, the step count, the lists' lengths or the arrays' shapes or dtypes do
            not fit, or an array holds NaN or infinity. Nothing changes then.

        Notes
        -----
        A learning-rate schedule is a function of the step count, which the state holds, so the
        resumed optimizer continues the schedule where the saved one was.
        """
        _check_state_keys(state, self.slot_names, "a dict from get_state()")
        t = check_int(state["t"], "state['t']", 0)
        arrays = {name: _slot_arrays(state[name], name) for name in self.slot_names}
        lengths = {len(v) for v in arrays.values()}
        if len(lengths) > 1:
            raise ValueError(f"the slot lists of state must have the same length; got {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        if n == 0 and self.slot_names and t > 0:
            raise ValueError(f"state['t'] must be 0 when the slot lists are empty (no step taken); got {t}")
        if n:
            head = self.slot_names[0]
            first = arrays[head]
            for name, items in arrays.items():
                for i, (a, ref) in enumerate(zip(items, first, strict=True)):
                    if a.shape != ref.shape or a.dtype != ref.dtype:
                        raise ValueError(
                            f"state[{name!r}][{i}] must have the shape and dtype of state[{head!r}][{i}], "
                            f"{ref.shape} and {ref.dtype}; got {a.shape} and {a.dtype}"
                        )
            self._check_fits(first, f"state[{head!r}]")  # the parameters this optimizer already holds state for
        self._t = t
        if n == 0:
            self._specs, self._flat, self._slots, self._tmp = None, None, {}, []
            return
        self._allocate([(a.shape, a.dtype) for a in first])
        for name in self.slot_names:
            for view, a in zip(self._slots[name], arrays[name], strict=True):
                view[...] = a

    def get_config(self) -> dict[str, Any]:
        """The hyperparameters, as keyword arguments of the constructor."""
        return {"learning_rate": self.learning_rate}

    def __repr__(self) -> str:
        config = self.get_config()
        order = list(inspect.signature(type(self)).parameters)  # the constructor's order
        keys = sorted(config, key=lambda k: order.index(k) if k in order else len(order))
        return f"{type(self).__name__}({', '.join(f'{k}={config[k]!r}' for k in keys)})"


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum, Keras's form.

    For each parameter array, with :math:`v_0 = 0`:

    .. math::

        v_t = \mu v_{t-1} - \eta g_t, \qquad
        \theta_t = \theta_{t-1} + v_t \quad\text{or, with Nesterov,}\quad
        \theta_t = \theta_{t-1} + \mu v_t - \eta g_t;

    with :math:`\mu = 0`, :math:`\theta_t = \theta_{t-1} - \eta g_t` and no velocity is stored.
    The pure form is :func:`sgd_step`. Derived in chapter 9.

    Parameters
    ----------
    learning_rate : float > 0 or LearningRateSchedule, default 0.01
    momentum : float in [0, 1), default 0.0
    nesterov : bool, default False

    Examples
    --------
    >>> W = np.array([1.0, -2.0])
    >>> opt = SGD(learning_rate=0.1, momentum=0.5)
    >>> for _ in range(2):
    ...     opt.apply_gradients([W], [2 * W])
    >>> W, opt.iterations
    (array([ 0.54, -1.08]), 2)
    """

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.01, momentum: float = 0.0, nesterov: bool = False
    ) -> None:
        super().__init__(learning_rate)
        self.momentum = check_in_range(momentum, "momentum", 0.0, 1.0)
        self.nesterov = check_bool(nesterov, "nesterov")
        self.slot_names = ("velocity",) if self.momentum > 0 else ()

    def _update(
        self, p: np.ndarray, g: np.ndarray, slots: Mapping[str, np.ndarray], tmp: np.ndarray, lr: float
    ) -> None:
        mu, v = self.momentum, slots.get("velocity")
        np.multiply(g, -lr, out=tmp)  # tmp = -ηg
        if v is None:  # plain gradient descent: θ ← θ - ηg
            p += tmp
            return
        v *= mu
        v += tmp  # v ← μv - ηg
        if self.nesterov:  # θ ← θ + μv - ηg (with the new v)
            p += tmp
            np.multiply(v, mu, out=tmp)
            p += tmp
        else:  # θ ← θ + v
            p += v

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class AdaGrad(Optimizer):
    r"""AdaGrad, Keras's form: per-coordinate step sizes from the sum of squared gradients.

    For each parameter array, elementwise, from :math:`r_0` = ``initial_accumulator_value``:

    .. math::

        r_t = r_{t-1} + g_t^2, \qquad
        \theta_t = \theta_{t-1} - \eta\, \frac{g_t}{\sqrt{r_t + \epsilon}}.

    The pure form is :func:`adagrad_step`, which compares this with the paper's form.
    Derived in chapter 9.

    Parameters
    ----------
    learning_rate : float > 0 or LearningRateSchedule, default 0.001
    initial_accumulator_value : float >= 0, default 0.1
    epsilon : float > 0, default 1e-7

    Examples
    --------
    >>> W = np.array([1.0, -2.0])
    >>> opt = AdaGrad(learning_rate=0.1)
    >>> opt.apply_gradients([W], [2 * W])
    >>> W.round(6), opt.get_state()["accumulator"]
    (array([ 0.901227, -1.900311]), [array([ 4.1, 16.1])])
    """

    slot_names = ("accumulator",)

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
    ) -> None:
        super().__init__(learning_rate)
        self.initial_accumulator_value = _check_nonnegative(initial_accumulator_value, "initial_accumulator_value")
        self.epsilon = check_positive(epsilon, "epsilon")

    def _slot_initial_value(self, name: str) -> float:
        return self.initial_accumulator_value

    def _update(
        self, p: np.ndarray, g: np.ndarray, slots: Mapping[str, np.ndarray], tmp: np.ndarray, lr: float
    ) -> None:
        G = slots["accumulator"]
        np.multiply(g, g, out=tmp)
        G += tmp  # G ← G + g²
        np.add(G, self.epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(g, tmp, out=tmp)
        tmp *= lr
        p -= tmp  # θ ← θ - ηg / √(G + ε)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class RMSProp(Optimizer):
    r"""RMSProp, Keras's form, with optional momentum and centering.

    For each parameter array, elementwise, from :math:`v_0 = m_0 = u_0 = 0`:

    .. math::

        v_t &= \rho v_{t-1} + (1 - \rho)\, g_t^2, \qquad
        d_t = v_t + \epsilon
        \quad\text{or, centered,}\quad
        m_t = \rho m_{t-1} + (1 - \rho)\, g_t,\;\; d_t = v_t - m_t^2 + \epsilon, \\
        \Delta_t &= \eta\, \frac{g_t}{\sqrt{d_t}}, \qquad
        \theta_t = \theta_{t-1} - \Delta_t
        \quad\text{or, with momentum,}\quad
        u_t = \mu u_{t-1} - \Delta_t,\;\; \theta_t = \theta_{t-1} + u_t.

    The pure form is :func:`rmsprop_step`. Derived in chapter 9.

    Parameters
    ----------
    learning_rate : float > 0 or LearningRateSchedule, default 0.001
    rho : float in [0, 1), default 0.9
    momentum : float in [0, 1), default 0.0
    epsilon : float > 0, default 1e-7
    centered : bool, default False

    Examples
    --------
    >>> W = np.array([1.0, -2.0])
    >>> opt = RMSProp(learning_rate=0.1, momentum=0.5)
    >>> for _ in range(2):
    ...     opt.apply_gradients([W], [2 * W])
    >>> W.round(6), opt.slot_names
    (array([ 0.340757, -1.315761]), ('v', 'velocity'))
    """

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
    ) -> None:
        super().__init__(learning_rate)
        self.rho = check_in_range(rho, "rho", 0.0, 1.0)
        self.momentum = check_in_range(momentum, "momentum", 0.0, 1.0)
        self.epsilon = check_positive(epsilon, "epsilon")
        self.centered = check_bool(centered, "centered")
        self.slot_names = ("v", *(("m",) if self.centered else ()), *(("velocity",) if self.momentum > 0 else ()))

    def _update(
        self, p: np.ndarray, g: np.ndarray, slots: Mapping[str, np.ndarray], tmp: np.ndarray, lr: float
    ) -> None:
        rho, v, m, u = self.rho, slots["v"], slots.get("m"), slots.get("velocity")
        v *= rho
        np.multiply(g, g, out=tmp)
        tmp *= 1 - rho
        v += tmp  # v ← ρv + (1 - ρ)g²
        if m is not None:  # centered
            m *= rho
            np.multiply(g, 1 - rho, out=tmp)
            m += tmp  # m ← ρm + (1 - ρ)g
            np.multiply(m, m, out=tmp)
            np.subtract(v, tmp, out=tmp)
            np.maximum(tmp, 0, out=tmp)  # v - m² ≥ 0 exactly; keep rounding from making it negative
            tmp += self.epsilon  # d = v - m² + ε
        else:
            np.add(v, self.epsilon, out=tmp)  # d = v + ε
        np.sqrt(tmp, out=tmp)
        np.divide(g, tmp, out=tmp)
        tmp *= lr  # Δ = ηg / √d
        if u is None:
            p -= tmp  # θ ← θ - Δ
        else:
            u *= self.momentum
            u -= tmp  # u ← μu - Δ
            p += u  # θ ← θ + u

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adam(Optimizer):
    r"""Adam, Keras's form (:math:`\epsilon` is Kingma and Ba's "epsilon hat"), with optional AMSGrad.

    For each parameter array, elementwise, with :math:`m_0 = v_0 = 0`:

    .. math::

        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \\
        \theta_t &= \theta_{t-1} - \eta\, \frac{\sqrt{1 - \beta_2^{\,t}}}{1 - \beta_1^{\,t}}\,
        \frac{m_t}{\sqrt{v_t} + \epsilon}
        = \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon / \sqrt{1 - \beta_2^{\,t}}},

    with :math:`\hat m_t = m_t/(1 - \beta_1^t)` and :math:`\hat v_t = v_t/(1 - \beta_2^t)`.
    With ``amsgrad=True``, :math:`v_t` in the denominator is replaced by its running maximum
    :math:`v^{\max}_t = \max(v^{\max}_{t-1}, v_t)`.
    The pure form is :func:`adam_step`, where the difference from the paper's Algorithm 1
    is discussed. Derived in chapter 9.

    Parameters
    ----------
    learning_rate : float > 0 or LearningRateSchedule, default 0.001
    beta_1 : float in [0, 1), default 0.9
    beta_2 : float in [0, 1), default 0.999
    epsilon : float > 0, default 1e-7
    amsgrad : bool, default False

    Examples
    --------
    >>> W = np.array([1.0, -2.0])
    >>> opt = Adam(learning_rate=0.1)
    >>> opt.apply_gradients([W], [2 * W])
    >>> W.round(6)
    array([ 0.9, -1.9])
    """

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(learning_rate)
        self.beta_1 = check_in_range(beta_1, "beta_1", 0.0, 1.0)
        self.beta_2 = check_in_range(beta_2, "beta_2", 0.0, 1.0)
        self.epsilon = check_positive(epsilon, "epsilon")
        self.amsgrad = check_bool(amsgrad, "amsgrad")
        self.slot_names = ("m", "v", "v_hat") if self.amsgrad else ("m", "v")

    def _update(
        self, p: np.ndarray, g: np.ndarray, slots: Mapping[str, np.ndarray], tmp: np.ndarray, lr: float
    ) -> None:
        beta_1, beta_2, t = self.beta_1, self.beta_2, self._t
        m, v, v_hat = slots["m"], slots["v"], slots.get("v_hat")
        m *= beta_1
        np.multiply(g, 1 - beta_1, out=tmp)
        m += tmp  # m ← β₁m + (1 - β₁)g
        v *= beta_2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - beta_2
        v += tmp  # v ← β₂v + (1 - β₂)g²
        if v_hat is not None:  # AMSGrad: v̂ ← max(v̂, v), used in place of v
            np.maximum(v_hat, v, out=v_hat)
        alpha = lr * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        np.sqrt(v if v_hat is None else v_hat, out=tmp)
        tmp += self.epsilon
        np.divide(m, tmp, out=tmp)
        tmp *= alpha
        p -= tmp  # θ ← θ - α_t m / (√v + ε)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, Keras's form.

    For each parameter array, elementwise, with :math:`m_t, v_t` as in :class:`Adam`:

    .. math::

        \theta_t = \theta_{t-1} - \eta\lambda\, \theta_{t-1}
        - \eta\, \frac{\sqrt{1 - \beta_2^{\,t}}}{1 - \beta_1^{\,t}}\, \frac{m_t}{\sqrt{v_t} + \epsilon},

    with :math:`\lambda` = ``weight_decay`` applied to every parameter array (biases too, as
    Keras does by default). Pass the gradient of the loss alone: the decay is not part of
    :math:`g_t`, so it is not divided by :math:`\sqrt{v_t}`. The pure form is
    :func:`adamw_step`, which compares this with the paper's form. Derived in chapter 9.

    Parameters
    ----------
    learning_rate : float > 0 or LearningRateSchedule, default 0.001
    weight_decay : float >= 0, default 0.004
    beta_1 : float in [0, 1), default 0.9
    beta_2 : float in [0, 1), default 0.999
    epsilon : float > 0, default 1e-7
    amsgrad : bool, default False

    Examples
    --------
    >>> W = np.array([1.0, -2.0])
    >>> opt = AdamW(learning_rate=0.1, weight_decay=0.5)
    >>> opt.apply_gradients([W], [np.zeros(2)])
    >>> W
    array([ 0.95, -1.9 ])
    """

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad)
        self.weight_decay = _check_nonnegative(weight_decay, "weight_decay")

    def _update(
        self, p: np.ndarray, g: np.ndarray, slots: Mapping[str, np.ndarray], tmp: np.ndarray, lr: float
    ) -> None:
        if self.weight_decay:
            np.multiply(p, lr * self.weight_decay, out=tmp)
            p -= tmp  # θ ← θ - ηλθ, decoupled from the adaptive step that follows
        super()._update(p, g, slots, tmp, lr)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "weight_decay": self.weight_decay}


# ---------------------------------------------------------------------------
# pure step functions: the stateful optimizers applied once to private copies
# ---------------------------------------------------------------------------


def _pure_step(
    opt: Optimizer, param: object, grad: object, state: Mapping[str, Any] | None
) -> tuple[np.ndarray, dict[str, Any]]:
    """The body of every pure step function: one update of a copy of ``param`` by the new optimizer ``opt``.

    ``state`` (one array per slot, converted to ``param``'s dtype) enters through
    :meth:`Optimizer.set_state`, which copies it; the returned state holds ``opt``'s own arrays.
    So nothing given is changed, and the numbers are those of :meth:`Optimizer.apply_gradients`.
    """
    p, g = _param_and_grad(param, grad)
    if state is not None:
        _check_state_keys(state, opt.slot_names, "a dict or None")
        lists: dict[str, Any] = {"t": state["t"]}
        for name in opt.slot_names:
            arr = as_float_array(state[name], f"state[{name!r}]")
            if arr.shape != p.shape:
                raise ValueError(f"state[{name!r}] must have the shape of param, {p.shape}; got shape {arr.shape}")
            lists[name] = [arr.astype(p.dtype, copy=False)]
        opt.set_state(lists)
    opt.apply_unchecked([p], [g])
    return p, {"t": opt.iterations, **{name: opt._slots[name][0] for name in opt.slot_names}}


def sgd_step(
    param: np.ndarray,
    grad: np.ndarray,
    state: Mapping[str, Any] | None = None,
    *,
    learning_rate: float | LearningRateSchedule = 0.01,
    momentum: float = 0.0,
    nesterov: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    r"""One step of gradient descent with (Nesterov) momentum, Keras's form; returns new arrays.

    .. math::

        v_t = \mu v_{t-1} - \eta g_t, \qquad
        \theta_t = \theta_{t-1} + v_t \quad\text{or, with Nesterov,}\quad
        \theta_t = \theta_{t-1} + \mu v_t - \eta g_t,

    starting from :math:`v_0 = 0`. With :math:`\mu = 0` both reduce to
    :math:`\theta_t = \theta_{t-1} - \eta g_t`. The velocity :math:`v` is the step itself (the
    heavy-ball form :math:`\theta_t = \theta_{t-1} - \eta g_t + \mu(\theta_{t-1} - \theta_{t-2})`);
    the Nesterov line is the look-ahead method rewritten in the variable Keras stores.
    Derived in chapter 9.

    Parameters
    ----------
    param : array_like of any shape
        :math:`\theta_{t-1}`.
    grad : array_like of the shape of ``param``
        :math:`g_t`, the gradient at ``param``.
    state : dict or None
        ``{"t": int, "velocity": array}`` from the previous call; ``None`` on the first step.
    learning_rate : float > 0 or LearningRateSchedule
        :math:`\eta`; a schedule gives the rate ``schedule(state["t"])``.
    momentum : float in [0, 1)
        :math:`\mu`.
    nesterov : bool

    Returns
    -------
    new_param : numpy.ndarray of the shape and dtype of ``param``
    new_state : dict
        ``{"t": t, "velocity": v_t}``.

    Examples
    --------
    >>> theta, state = np.array([1.0, -2.0]), None
    >>> for _ in range(2):
    ...     theta, state = sgd_step(theta, 2 * theta, state, learning_rate=0.1, momentum=0.5)
    >>> theta, state["t"]
    (array([ 0.54, -1.08]), 2)
    """
    opt = SGD(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov)
    opt.slot_names = ("velocity",)  # the pure form keeps a velocity even without momentum: v_t = -ηg_t
    return _pure_step(opt, param, grad, state)


def adagrad_step(
    param: np.ndarray,
    grad: np.ndarray,
    state: Mapping[str, Any] | None = None,
    *,
    learning_rate: float | LearningRateSchedule = 0.001,
    initial_accumulator_value: float = 0.1,
    epsilon: float = 1e-7,
) -> tuple[np.ndarray, dict[str, Any]]:
    r"""One AdaGrad step, Keras's form; returns new arrays.

    .. math::

        r_t = r_{t-1} + g_t^2, \qquad
        \theta_t = \theta_{t-1} - \eta\, \frac{g_t}{\sqrt{r_t + \epsilon}},

    from :math:`r_0` = ``initial_accumulator_value`` in every entry. Each coordinate's step size
    :math:`\eta / \sqrt{r_t + \epsilon}` shrinks with the sum of its squared gradients. Duchi,
    Hazan and Singer (2011) start from :math:`r_0 = 0` and write
    :math:`\eta\, g_t / (\delta + \sqrt{r_t})`; Keras starts from 0.1 and puts :math:`\epsilon`
    under the root. Derived in chapter 9.

    Parameters
    ----------
    param : array_like of any shape
        :math:`\theta_{t-1}`.
    grad : array_like of the shape of ``param``
        :math:`g_t`.
    state : dict or None
        ``{"t": int, "accumulator": array}`` from the previous call; ``None`` on the first step.
    learning_rate : float > 0 or LearningRateSchedule
        :math:`\eta`; a schedule gives the rate ``schedule(state["t"])``.
    initial_accumulator_value : float >= 0
    epsilon : float > 0

    Returns
    -------
    new_param : numpy.ndarray of the shape and dtype of ``param``
    new_state : dict
        ``{"t": t, "accumulator": r_t}``.

    Examples
    --------
    >>> theta, state = adagrad_step(np.array([1.0, -2.0]), np.array([2.0, -4.0]), learning_rate=0.1)
    >>> theta.round(6), state["accumulator"]
    (array([ 0.901227, -1.900311]), array([ 4.1, 16.1]))
    """
    opt = AdaGrad(learning_rate=learning_rate, initial_accumulator_value=initial_accumulator_value, epsilon=epsilon)
    return _pure_step(opt, param, grad, state)


def rmsprop_step(
    param: np.ndarray,
    grad: np.ndarray,
    state: Mapping[str, Any] | None = None,
    *,
    learning_rate: float | LearningRateSchedule = 0.001,
    rho: float = 0.9,
    momentum: float = 0.0,
    epsilon: float = 1e-7,
    centered: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    r"""One RMSProp step, Keras's form, with optional momentum and centering; returns new arrays.

    .. math::

        v_t &= \rho v_{t-1} + (1 - \rho)\, g_t^2, \qquad
        d_t = v_t + \epsilon
        \quad\text{or, centered,}\quad
        m_t = \rho m_{t-1} + (1 - \rho)\, g_t,\;\; d_t = v_t - m_t^2 + \epsilon, \\
        \Delta_t &= \eta\, \frac{g_t}{\sqrt{d_t}}, \qquad
        \theta_t = \theta_{t-1} - \Delta_t
        \quad\text{or, with momentum,}\quad
        u_t = \mu u_{t-1} - \Delta_t,\;\; \theta_t = \theta_{t-1} + u_t,

    from :math:`v_0 = m_0 = u_0 = 0`. :math:`v_t` is a moving average of squared gradients, so
    :math:`\sqrt{v_t}` is a running root-mean-square of each coordinate's gradient; centering
    divides by a running standard deviation instead (:math:`v_t - m_t^2`, which is never
    negative). :math:`\epsilon` sits under the root as in Keras (PyTorch adds it after the root).
    Keras stores :math:`-u_t` as its "momentum"; the steps are the same. Derived in chapter 9.

    Parameters
    ----------
    param : array_like of any shape
        :math:`\theta_{t-1}`.
    grad : array_like of the shape of ``param``
        :math:`g_t`.
    state : dict or None
        ``{"t": int, "v": array}``, plus ``"m"`` if centered and ``"velocity"`` (:math:`u`) if
        momentum > 0, from the previous call; ``None`` on the first step.
    learning_rate : float > 0 or LearningRateSchedule
        :math:`\eta`; a schedule gives the rate ``schedule(state["t"])``.
    rho : float in [0, 1)
    momentum : float in [0, 1)
        :math:`\mu`.
    epsilon : float > 0
    centered : bool

    Returns
    -------
    new_param : numpy.ndarray of the shape and dtype of ``param``
    new_state : dict
        ``{"t": t, "v": v_t, ...}`` with the same keys as ``state``.

    Examples
    --------
    The first step divides the gradient by :math:`\sqrt{1 - \rho}\,|g|`:

    >>> theta, state = rmsprop_step(np.array([1.0, -2.0]), np.array([2.0, -4.0]), learning_rate=0.1)
    >>> theta.round(6), sorted(state)
    (array([ 0.683772, -1.683772]), ['t', 'v'])
    """
    opt = RMSProp(learning_rate=learning_rate, rho=rho, momentum=momentum, epsilon=epsilon, centered=centered)
    return _pure_step(opt, param, grad, state)


def adam_step(
    param: np.ndarray,
    grad: np.ndarray,
    state: Mapping[str, Any] | None = None,
    *,
    learning_rate: float | LearningRateSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    amsgrad: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    r"""One Adam step, Keras's form, with optional AMSGrad; returns new arrays.

    .. math::

        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \\
        \alpha_t &= \eta\, \frac{\sqrt{1 - \beta_2^{\,t}}}{1 - \beta_1^{\,t}}, \qquad
        \theta_t = \theta_{t-1} - \alpha_t\, \frac{m_t}{\sqrt{v_t} + \epsilon},

    from :math:`m_0 = v_0 = 0`, all operations elementwise. With the bias-corrected moments
    :math:`\hat m_t = m_t / (1 - \beta_1^t)` and :math:`\hat v_t = v_t / (1 - \beta_2^t)` this is
    :math:`\theta_t = \theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \hat\epsilon_t)` with
    :math:`\hat\epsilon_t = \epsilon / \sqrt{1 - \beta_2^t}`: Keras's :math:`\epsilon` is the
    "epsilon hat" of Kingma and Ba (2015, end of section 2), not the :math:`\epsilon` of their
    Algorithm 1 (which PyTorch uses). The two differ only while :math:`\sqrt{\hat v_t}` is as
    small as :math:`\epsilon`.

    With ``amsgrad=True`` (Reddi, Kale and Kumar, 2018) the denominator uses the running maximum
    :math:`v^{\max}_t = \max(v^{\max}_{t-1}, v_t)` (from :math:`v^{\max}_0 = 0`) in place of
    :math:`v_t`, so the denominator never shrinks. Keras keeps the bias correction
    :math:`\alpha_t`, which grows towards :math:`\eta` after its first steps (from
    :math:`0.152\,\eta` at :math:`t = 12` with the defaults), so the effective step
    :math:`\alpha_t / (\sqrt{v^{\max}_t} + \epsilon)` can still grow, up to about 6.6-fold;
    only the paper's form without bias correction never grows it. Derived in chapter 9.

    Parameters
    ----------
    param : array_like of any shape
        :math:`\theta_{t-1}`.
    grad : array_like of the shape of ``param``
        :math:`g_t`.
    state : dict or None
        ``{"t": int, "m": array, "v": array}`` (plus ``"v_hat"``, :math:`v^{\max}`, with AMSGrad)
        from the previous call; ``None`` on the first step.
    learning_rate : float > 0 or LearningRateSchedule
        :math:`\eta`; a schedule gives the rate ``schedule(state["t"])``.
    beta_1, beta_2 : float in [0, 1)
    epsilon : float > 0
    amsgrad : bool, default False

    Returns
    -------
    new_param : numpy.ndarray of the shape and dtype of ``param``
    new_state : dict
        ``{"t": t, "m": m_t, "v": v_t}`` (plus ``"v_hat"`` with AMSGrad).

    Examples
    --------
    The first step moves each coordinate by about :math:`\eta` against the sign of its gradient:

    >>> theta, state = adam_step(np.array([1.0, -2.0]), np.array([2.0, -4.0]), learning_rate=0.1)
    >>> theta.round(6), state["t"]
    (array([ 0.9, -1.9]), 1)
    """
    opt = Adam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad)
    return _pure_step(opt, param, grad, state)


def adamw_step(
    param: np.ndarray,
    grad: np.ndarray,
    state: Mapping[str, Any] | None = None,
    *,
    learning_rate: float | LearningRateSchedule = 0.001,
    weight_decay: float = 0.004,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    amsgrad: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    r"""One AdamW step (Adam with decoupled weight decay), Keras's form; returns new arrays.

    .. math::

        \theta_t = \theta_{t-1} - \eta\lambda\, \theta_{t-1}
        - \alpha_t\, \frac{m_t}{\sqrt{v_t} + \epsilon},

    with :math:`\lambda` = ``weight_decay`` and :math:`m_t, v_t, \alpha_t` as in :func:`adam_step`
    (and :math:`v^{\max}_t` in place of :math:`v_t` with AMSGrad). The decay shrinks every
    parameter by the factor :math:`1 - \eta\lambda` per step whatever its gradient history; an
    L2 penalty :math:`\tfrac{\lambda}{2}\|\theta\|^2` added to the loss would instead enter
    :math:`g_t` and be divided by :math:`\sqrt{v_t}` like the rest of the gradient (Loshchilov
    and Hutter, 2019). As in Keras and PyTorch, the decay is scaled by the learning rate
    :math:`\eta` (scheduled, if a schedule is given); the paper writes :math:`\eta_t\lambda'` with
    :math:`\eta_t` the schedule's multiplier alone, so its :math:`\lambda'` is :math:`\eta\lambda`
    here. ``weight_decay=0`` gives :func:`adam_step` exactly. Derived in chapter 9.

    Parameters
    ----------
    param : array_like of any shape
        :math:`\theta_{t-1}`.
    grad : array_like of the shape of ``param``
        :math:`g_t`, the gradient of the loss alone (no decay term).
    state : dict or None
        As for :func:`adam_step`.
    learning_rate : float > 0 or LearningRateSchedule
        :math:`\eta`; a schedule gives the rate ``schedule(state["t"])``.
    weight_decay : float >= 0, default 0.004
        :math:`\lambda`.
    beta_1, beta_2 : float in [0, 1)
    epsilon : float > 0
    amsgrad : bool, default False

    Returns
    -------
    new_param : numpy.ndarray of the shape and dtype of ``param``
    new_state : dict
        As for :func:`adam_step`.

    Examples
    --------
    With a zero gradient only the decay acts: :math:`\theta_t = (1 - \eta\lambda)^t\, \theta_0`.

    >>> theta, state = np.array([1.0, -2.0]), None
    >>> for _ in range(3):
    ...     theta, state = adamw_step(theta, np.zeros(2), state, learning_rate=0.1, weight_decay=0.5)
    >>> theta, 0.95**3
    (array([ 0.857375, -1.71475 ]), 0.857375)
    """
    opt = AdamW(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        amsgrad=amsgrad,
    )
    return _pure_step(opt, param, grad, state)


Adagrad = AdaGrad  # Keras's spelling
RMSprop = RMSProp  # Keras's spelling

_OPTIMIZERS: dict[str, Callable[[], Optimizer]] = {  # each built with its default settings
    "sgd": SGD,
    "adam": Adam,
    "adagrad": AdaGrad,
    "rmsprop": RMSProp,
    "adamw": AdamW,
}


def get(identifier: str | Optimizer) -> Optimizer:
    """Return an optimizer with default hyperparameters from its name, or the given one unchanged.

    Parameters
    ----------
    identifier : str or Optimizer
        ``"sgd"``, ``"adam"``, ``"adagrad"``, ``"rmsprop"`` or ``"adamw"`` (case-insensitive),
        or an :class:`Optimizer` instance.

    Returns
    -------
    Optimizer

    Raises
    ------
    TypeError
        If ``identifier`` is neither a string nor an :class:`Optimizer`.
    ValueError
        If it is an unknown name; the message lists the known ones.

    Examples
    --------
    >>> get("adam")
    Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False)
    >>> get("RMSprop")
    RMSProp(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-07, centered=False)
    """
    if isinstance(identifier, Optimizer):
        return identifier
    return lookup(_OPTIMIZERS, identifier, "optimizer", "an Optimizer instance such as Adam()")()
