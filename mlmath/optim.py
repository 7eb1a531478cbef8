r"""Optimizers: each as a pure step function on arrays and as a stateful object.

Derived in chapter 7. Frameworks differ in how they write momentum and where Adam's
:math:`\epsilon` sits; these follow Keras 3, and each docstring writes its exact update. Notation:
parameters :math:`\theta`, gradient :math:`g`, learning rate :math:`\eta`, step count :math:`t`
(1 on the first step).

Two forms of each optimizer:

- a **pure step function**, e.g. :func:`sgd_step` and :func:`adam_step`:
  ``(param, grad, state) -> (new_param, new_state)``, returning new arrays and a new state dict
  and changing nothing it was given; ``state=None`` starts from zeros. It works on any array,
  such as the point :math:`(x, y)` of a 2-D test function.
- a **stateful object**, e.g. :class:`SGD` and :class:`Adam`, used by
  :class:`mlmath.models.Sequential`: ``optimizer.apply_gradients(params, grads)`` updates the
  arrays in ``params`` **in place** (float32 stays float32; no new arrays per step), with
  :meth:`Optimizer.get_state` / :meth:`Optimizer.set_state` to save and resume training exactly.

Both forms call the same in-place kernel, so they cannot drift apart.

Adding an optimizer: write an in-place kernel ``_name_update_(param, grad, *slots, tmp, ...)``,
a pure ``name_step`` that copies its inputs and calls the kernel, and a subclass of
:class:`Optimizer` that lists its ``slot_names`` (per-parameter state arrays, created as zeros)
and implements ``_update``; then add it to ``_OPTIMIZERS`` so :func:`get` finds it by name.
A learning-rate schedule can override :meth:`Optimizer._current_learning_rate`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlmath._validation import as_float_array, check_in_range, check_positive

__all__ = ["SGD", "Adam", "Optimizer", "adam_step", "get", "sgd_step"]


# ---------------------------------------------------------------------------
# checks (private helpers of this module)
# ---------------------------------------------------------------------------


def _check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def _check_sgd_hyper(learning_rate: object, momentum: object, nesterov: object) -> tuple[float, float, bool]:
    return (
        check_positive(learning_rate, "learning_rate"),
        check_in_range(momentum, "momentum", 0.0, 1.0),
        _check_bool(nesterov, "nesterov"),
    )


def _check_adam_hyper(
    learning_rate: object, beta_1: object, beta_2: object, epsilon: object
) -> tuple[float, float, float, float]:
    return (
        check_positive(learning_rate, "learning_rate"),
        check_in_range(beta_1, "beta_1", 0.0, 1.0),
        check_in_range(beta_2, "beta_2", 0.0, 1.0),
        check_positive(epsilon, "epsilon"),
    )


def _param_and_grad(param: object, grad: object) -> tuple[np.ndarray, np.ndarray]:
    """A private copy of ``param`` and a finite ``grad`` of the same shape and dtype."""
    p = np.array(as_float_array(param, "param"), copy=True)
    g = as_float_array(grad, "grad")
    if g.shape != p.shape:
        raise ValueError(f"grad must have the shape of param, {p.shape}; got shape {g.shape}")
    return p, g.astype(p.dtype, copy=False)


def _state_arrays(state: Mapping[str, Any] | None, p: np.ndarray, names: Sequence[str]) -> tuple[int, list[np.ndarray]]:
    """Copy the step count and the slot arrays out of a pure function's ``state``."""
    if state is None:
        return 0, [np.zeros_like(p) for _ in names]
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a dict or None; got {type(state).__name__}")
    expected = {"t", *names}
    if set(state) != expected:
        raise ValueError(f"state must have the keys {sorted(expected)}; got {sorted(state)}")
    t = state["t"]
    if isinstance(t, bool) or not isinstance(t, int | np.integer) or t < 0:
        raise ValueError(f"state['t'] must be an integer >= 0; got {t!r}")
    arrays = []
    for name in names:
        arr = as_float_array(state[name], f"state[{name!r}]")
        if arr.shape != p.shape:
            raise ValueError(f"state[{name!r}] must have the shape of param, {p.shape}; got shape {arr.shape}")
        arrays.append(arr.astype(p.dtype, copy=True))
    return int(t), arrays


# ---------------------------------------------------------------------------
# in-place kernels: the single source of each update rule
# ---------------------------------------------------------------------------


def _sgd_update_(
    p: np.ndarray, g: np.ndarray, v: np.ndarray | None, tmp: np.ndarray, lr: float, mu: float, nesterov: bool
) -> None:
    np.multiply(g, -lr, out=tmp)  # tmp = -ηg
    if v is None:  # plain gradient descent: θ ← θ - ηg
        p += tmp
        return
    v *= mu
    v += tmp  # v ← μv - ηg
    if nesterov:  # θ ← θ + μv - ηg (with the new v)
        p += tmp
        np.multiply(v, mu, out=tmp)
        p += tmp
    else:  # θ ← θ + v
        p += v


def _adam_update_(
    p: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    tmp: np.ndarray,
    t: int,
    lr: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
) -> None:
    m *= beta_1
    np.multiply(g, 1 - beta_1, out=tmp)
    m += tmp  # m ← β₁m + (1 - β₁)g
    v *= beta_2
    np.multiply(g, g, out=tmp)
    tmp *= 1 - beta_2
    v += tmp  # v ← β₂v + (1 - β₂)g²
    alpha = lr * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    np.sqrt(v, out=tmp)
    tmp += epsilon
    np.divide(m, tmp, out=tmp)
    tmp *= alpha
    p -= tmp  # θ ← θ - α_t m / (√v + ε)


# ---------------------------------------------------------------------------
# pure step functions
# ---------------------------------------------------------------------------


def sgd_step(
    param: np.ndarray,
    grad: np.ndarray,
    state: Mapping[str, Any] | None = None,
    *,
    learning_rate: float = 0.01,
    momentum: float = 0.0,
    nesterov: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    r"""One step of gradient descent with (Nesterov) momentum, Keras's form; returns new arrays.

    .. math::

        v_t = \mu v_{t-1} - \eta g_t, \qquad
        \theta_t = \theta_{t-1} + v_t \quad\text{or, with Nesterov,}\quad
        \theta_t = \theta_{t-1} + \mu v_t - \eta g_t,

    starting from :math:`v_0 = 0`. With :math:`\mu = 0` both reduce to
    :math:`\theta_t = \theta_{t-1} - \eta g_t`. Derived in chapter 7.

    Parameters
    ----------
    param : array_like of any shape
        :math:`\theta_{t-1}`.
    grad : array_like of the shape of ``param``
        :math:`g_t`, the gradient at ``param``.
    state : dict or None
        ``{"t": int, "velocity": array}`` from the previous call; ``None`` on the first step.
    learning_rate : float > 0
    momentum : float in [0, 1)
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
    lr, mu, nesterov = _check_sgd_hyper(learning_rate, momentum, nesterov)
    p, g = _param_and_grad(param, grad)
    t, (v,) = _state_arrays(state, p, ("velocity",))
    _sgd_update_(p, g, v, np.empty_like(p), lr, mu, nesterov)
    return p, {"t": t + 1, "velocity": v}


def adam_step(
    param: np.ndarray,
    grad: np.ndarray,
    state: Mapping[str, Any] | None = None,
    *,
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> tuple[np.ndarray, dict[str, Any]]:
    r"""One Adam step, Keras's form; returns new arrays.

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
    Algorithm 1. The two differ only while :math:`\sqrt{\hat v_t}` is as small as
    :math:`\epsilon`. Derived in chapter 7.

    Parameters
    ----------
    param : array_like of any shape
        :math:`\theta_{t-1}`.
    grad : array_like of the shape of ``param``
        :math:`g_t`.
    state : dict or None
        ``{"t": int, "m": array, "v": array}`` from the previous call; ``None`` on the first step.
    learning_rate : float > 0
    beta_1, beta_2 : float in [0, 1)
    epsilon : float > 0

    Returns
    -------
    new_param : numpy.ndarray of the shape and dtype of ``param``
    new_state : dict
        ``{"t": t, "m": m_t, "v": v_t}``.

    Examples
    --------
    The first step moves each coordinate by about :math:`\eta` against the sign of its gradient:

    >>> theta, state = adam_step(np.array([1.0, -2.0]), np.array([2.0, -4.0]), learning_rate=0.1)
    >>> theta.round(6), state["t"]
    (array([ 0.9, -1.9]), 1)
    """
    lr, b1, b2, eps = _check_adam_hyper(learning_rate, beta_1, beta_2, epsilon)
    p, g = _param_and_grad(param, grad)
    t, (m, v) = _state_arrays(state, p, ("m", "v"))
    _adam_update_(p, g, m, v, np.empty_like(p), t + 1, lr, b1, b2, eps)
    return p, {"t": t + 1, "m": m, "v": v}


# ---------------------------------------------------------------------------
# stateful optimizers
# ---------------------------------------------------------------------------


def _split(flat: np.ndarray, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """Consecutive views of the 1-D array ``flat`` with the given shapes."""
    views, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        views.append(flat[start : start + size].reshape(shape))
        start += size
    return views


class Optimizer:
    """Base class of the stateful optimizers given to :meth:`mlmath.models.Sequential.compile`.

    The first call of :meth:`apply_gradients` creates the per-parameter state (``slot_names``,
    as zeros of each parameter's shape and dtype); later calls must pass parameters of the same
    shapes, in the same order. Use a new optimizer object for another model.

    Parameters
    ----------
    learning_rate : float > 0
    """

    slot_names: tuple[str, ...] = ()
    elementwise = True  # the update of each entry depends on that entry alone (see _apply)

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = check_positive(learning_rate, "learning_rate")
        self._t = 0
        self._specs: list[tuple[tuple[int, ...], np.dtype]] | None = None  # None: no state yet
        self._flat: dict[str, np.ndarray] | None = None
        self._slots: dict[str, list[np.ndarray]] = {}
        self._tmp: list[np.ndarray] = []

    def _allocate(self, specs: list[tuple[tuple[int, ...], np.dtype]]) -> None:
        """Create zero state for parameters of these shapes and dtypes.

        When all dtypes agree, each slot is one flat buffer and the per-parameter arrays are
        views of it, so that :meth:`_apply` can update a model's contiguous parameters at once.
        """
        names = (*self.slot_names, "_tmp")
        dtypes = {dt for _, dt in specs}
        if len(dtypes) == 1:
            dt = dtypes.pop()
            shapes = [shape for shape, _ in specs]
            self._flat = {n: np.zeros(sum(math.prod(shape) for shape in shapes), dt) for n in names}
            views = {n: _split(self._flat[n], shapes) for n in names}
        else:
            self._flat = None
            views = {n: [np.zeros(shape, dt) for shape, dt in specs] for n in names}
        self._tmp = views.pop("_tmp")
        self._slots = views
        self._specs = list(specs)

    @property
    def iterations(self) -> int:
        """Number of steps taken: :math:`t` of the last update (0 before the first)."""
        return self._t

    def _current_learning_rate(self) -> float:
        """The learning rate of the step about to be taken (hook for schedules)."""
        return self.learning_rate

    # -- the update -----------------------------------------------------------------------------

    def apply_gradients(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """Update each array of ``params`` in place with the matching gradient of ``grads``.

        Parameters
        ----------
        params : list of numpy.ndarray
            Float32 or float64 arrays, updated in place (their dtypes are kept).
        grads : list of array_like
            One finite gradient per parameter, of the same shape.

        Raises
        ------
        ValueError
            If the lists differ in length, a gradient's shape differs from its parameter's, a
            gradient holds NaN or infinity, or the parameters differ from those this optimizer's
            state was created for. Nothing is updated then.
        TypeError
            If a parameter is not a writable float32/float64 numpy array.
        """
        if isinstance(params, np.ndarray) or isinstance(grads, np.ndarray):
            raise TypeError("params and grads must be lists of arrays, e.g. [W, b] and [dW, db]")
        params, grads = list(params), list(grads)
        if len(params) != len(grads):
            raise ValueError(f"params and grads must have the same length; got {len(params)} and {len(grads)}")
        if not params:
            raise ValueError("params must hold at least one array")
        checked = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if not isinstance(p, np.ndarray) or p.dtype not in (np.float32, np.float64):
                raise TypeError(
                    f"params[{i}] must be a float32 or float64 numpy array (updated in place); "
                    f"got {type(p).__name__}{'' if not isinstance(p, np.ndarray) else ' of dtype ' + str(p.dtype)}"
                )
            if not p.flags.writeable:
                raise TypeError(f"params[{i}] must be writable: the optimizer updates it in place")
            g = as_float_array(g, f"grads[{i}]")
            if g.shape != p.shape:
                raise ValueError(f"grads[{i}] must have the shape of params[{i}], {p.shape}; got shape {g.shape}")
            checked.append(g.astype(p.dtype, copy=False))
        self._check_compatible(params)
        self._apply(params, checked)

    def _check_compatible(self, params: Sequence[np.ndarray]) -> None:
        """Raise unless the state (if created) matches these parameters' count, shapes and dtypes."""
        if self._specs is None:
            return
        if len(self._specs) != len(params):
            raise ValueError(
                f"this optimizer holds state for {len(self._specs)} parameter arrays; got {len(params)}. "
                "Use a new optimizer for another model."
            )
        for i, ((shape, dt), p) in enumerate(zip(self._specs, params, strict=True)):
            if shape != p.shape or dt != p.dtype:
                raise ValueError(
                    f"this optimizer's state for params[{i}] has shape {shape} and dtype {dt}; "
                    f"got shape {p.shape} and dtype {p.dtype}. Use a new optimizer for another model."
                )

    def _apply(
        self,
        params: Sequence[np.ndarray],
        grads: Sequence[np.ndarray],
        flat: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Unchecked update (the training loop's hot path).

        ``flat``, if given, is ``(all_params, all_grads)``: two 1-D arrays of which ``params``
        and ``grads`` are consecutive views, in order. An elementwise optimizer then updates all
        parameters with one call of its kernel instead of one call per array (same numbers).
        """
        if self._specs is None:
            self._allocate([(p.shape, p.dtype) for p in params])
        self._t += 1
        lr = self._current_learning_rate()
        if flat is not None and self._flat is not None and self.elementwise:
            flat_p, flat_g = flat
            self._update(flat_p, flat_g, [self._flat[n] for n in self.slot_names], self._flat["_tmp"], lr)
            return
        slots = [self._slots[name] for name in self.slot_names]
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            self._update(p, g, [s[i] for s in slots], self._tmp[i], lr)

    def _update(self, p: np.ndarray, g: np.ndarray, slots: list[np.ndarray], tmp: np.ndarray, lr: float) -> None:
        raise NotImplementedError

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

        Raises
        ------
        ValueError
            If the keys, the step count or the arrays' shapes do not fit; nothing changes then.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict from get_state(); got {type(state).__name__}")
        expected = {"t", *self.slot_names}
        if set(state) != expected:
            raise ValueError(f"state must have the keys {sorted(expected)}; got {sorted(state)}")
        t = state["t"]
        if isinstance(t, bool) or not isinstance(t, int | np.integer) or t < 0:
            raise ValueError(f"state['t'] must be an integer >= 0; got {t!r}")
        lists = {name: list(state[name]) for name in self.slot_names}
        lengths = {len(v) for v in lists.values()}
        if len(lengths) > 1:
            raise ValueError(f"the slot lists of state must have the same length; got {sorted(lengths)}")
        arrays: dict[str, list[np.ndarray]] = {}
        for name, items in lists.items():
            arrays[name] = []
            for i, item in enumerate(items):
                if not isinstance(item, np.ndarray) or item.dtype not in (np.float32, np.float64):
                    raise TypeError(f"state[{name!r}][{i}] must be a float32 or float64 numpy array")
                arrays[name].append(item)
        n = lengths.pop() if lengths else 0
        for i in range(n):
            ref = arrays[self.slot_names[0]][i]
            for name in self.slot_names[1:]:
                if arrays[name][i].shape != ref.shape or arrays[name][i].dtype != ref.dtype:
                    raise ValueError(f"state[{name!r}][{i}] must have the shape and dtype of state"
                                     f"[{self.slot_names[0]!r}][{i}]")
        self._t = int(t)
        if n == 0:
            self._specs, self._flat, self._slots, self._tmp = None, None, {}, []
        else:
            first = arrays[self.slot_names[0]]
            self._allocate([(a.shape, a.dtype) for a in first])
            for name in self.slot_names:
                for view, a in zip(self._slots[name], arrays[name], strict=True):
                    view[...] = a

    def get_config(self) -> dict[str, Any]:
        """The hyperparameters, as keyword arguments of the constructor."""
        return {"learning_rate": self.learning_rate}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum, Keras's form.

    For each parameter array, with :math:`v_0 = 0`:

    .. math::

        v_t = \mu v_{t-1} - \eta g_t, \qquad
        \theta_t = \theta_{t-1} + v_t \quad\text{or, with Nesterov,}\quad
        \theta_t = \theta_{t-1} + \mu v_t - \eta g_t;

    with :math:`\mu = 0`, :math:`\theta_t = \theta_{t-1} - \eta g_t` and no velocity is stored.
    The pure form is :func:`sgd_step`. Derived in chapter 7.

    Parameters
    ----------
    learning_rate : float > 0, default 0.01
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

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False) -> None:
        lr, mu, nesterov = _check_sgd_hyper(learning_rate, momentum, nesterov)
        super().__init__(lr)
        self.momentum = mu
        self.nesterov = nesterov
        self.slot_names = ("velocity",) if mu > 0 else ()

    def _update(self, p: np.ndarray, g: np.ndarray, slots: list[np.ndarray], tmp: np.ndarray, lr: float) -> None:
        _sgd_update_(p, g, slots[0] if slots else None, tmp, lr, self.momentum, self.nesterov)

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    r"""Adam, Keras's form (:math:`\epsilon` is Kingma and Ba's "epsilon hat").

    For each parameter array, elementwise, with :math:`m_0 = v_0 = 0`:

    .. math::

        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \\
        \theta_t &= \theta_{t-1} - \eta\, \frac{\sqrt{1 - \beta_2^{\,t}}}{1 - \beta_1^{\,t}}\,
        \frac{m_t}{\sqrt{v_t} + \epsilon}
        = \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon / \sqrt{1 - \beta_2^{\,t}}},

    with :math:`\hat m_t = m_t/(1 - \beta_1^t)` and :math:`\hat v_t = v_t/(1 - \beta_2^t)`.
    The pure form is :func:`adam_step`, where the difference from the paper's Algorithm 1
    is discussed. Derived in chapter 7.

    Parameters
    ----------
    learning_rate : float > 0, default 0.001
    beta_1 : float in [0, 1), default 0.9
    beta_2 : float in [0, 1), default 0.999
    epsilon : float > 0, default 1e-7

    Examples
    --------
    >>> W = np.array([1.0, -2.0])
    >>> opt = Adam(learning_rate=0.1)
    >>> opt.apply_gradients([W], [2 * W])
    >>> W.round(6)
    array([ 0.9, -1.9])
    """

    slot_names = ("m", "v")

    def __init__(
        self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7
    ) -> None:
        lr, b1, b2, eps = _check_adam_hyper(learning_rate, beta_1, beta_2, epsilon)
        super().__init__(lr)
        self.beta_1, self.beta_2, self.epsilon = b1, b2, eps

    def _update(self, p: np.ndarray, g: np.ndarray, slots: list[np.ndarray], tmp: np.ndarray, lr: float) -> None:
        m, v = slots
        _adam_update_(p, g, m, v, tmp, self._t, lr, self.beta_1, self.beta_2, self.epsilon)

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


_OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam}


def get(identifier: str | Optimizer) -> Optimizer:
    """Return an optimizer with default hyperparameters from its name, or the given one unchanged.

    Parameters
    ----------
    identifier : str or Optimizer
        ``"sgd"`` or ``"adam"`` (case-insensitive), or an :class:`Optimizer` instance.

    Returns
    -------
    Optimizer

    Examples
    --------
    >>> get("adam")
    Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07)
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _OPTIMIZERS.get(identifier.lower())
        if cls is None:
            known = ", ".join(repr(k) for k in _OPTIMIZERS)
            raise ValueError(f"unknown optimizer {identifier!r}; known optimizers: {known}, or an Optimizer instance")
        return cls()
    raise TypeError(
        f"optimizer must be a name such as 'adam' or an Optimizer instance such as Adam(); "
        f"got {type(identifier).__name__}"
    )
