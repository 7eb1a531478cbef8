r"""Optimizers that need the model and the batch, not only a gradient, and the loop that runs them.

Derived in the second-order chapter. A first-order :class:`~mlmath.optim.Optimizer` sees one
gradient per step; a second-order method also multiplies curvature matrices with vectors
(:mod:`mlmath.curvature`), solves linear systems (:mod:`mlmath.krylov`) or evaluates the loss
again along a direction, so its step takes the model and the batch.

**The protocol** (:class:`ModelOptimizer`), for every such optimizer; :func:`fit` calls it,
and a new method is one subclass that writes these four things:

- ``__init__`` calls ``super().__init__()``, checks its hyper-parameters with
  :mod:`mlmath._validation` and sets every attribute named in the class attribute
  ``state_names`` (the state that evolves with the steps);
- ``check_compatible(model)`` raises ``TypeError`` or ``ValueError``, before anything changes,
  when the method cannot handle the model (call ``super().check_compatible(model)`` first: it
  checks that ``model`` is a built, compiled :class:`~mlmath.models.Sequential`, and that a
  state already held was made for parameters of the same sizes and dtype);
- ``step_unchecked(model, X, Y) -> float`` updates the model's weights in place from the batch
  ``(X, Y)`` (finite arrays in the model's dtype, checked by the caller once) and its own state,
  and returns the batch loss *before* the step as a Python float. It may return a non-finite
  loss, or leave non-finite weights: the caller then raises :class:`FloatingPointError` and
  restores everything. The caller counts the step (:attr:`ModelOptimizer.iterations`) after it;
- ``get_config()`` returns the constructor's arguments.

:meth:`ModelOptimizer.get_state` and :meth:`ModelOptimizer.set_state` copy ``{"t": iterations,
name: value, ...}`` for the names of ``state_names``, whose values are ``None``, numbers,
float arrays or lists of float arrays; :meth:`ModelOptimizer.step` is the checked form of one
step. :func:`fit` runs a ``ModelOptimizer`` through :mod:`mlmath.training`'s loop, so options,
progress lines and the atomic contract are those of :meth:`mlmath.models.Sequential.fit`.
Inside a step, :meth:`mlmath.models.Sequential.loss_and_gradients`,
:meth:`~mlmath.models.Sequential.get_flat_weights` and the unchecked kernels of
:mod:`mlmath.curvature` (:func:`~mlmath.curvature.output_curvature_product`) do the work.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mlmath._flat import flatten, split_flat, unflatten_into
from mlmath._validation import check_bool, check_in_range, check_int, check_positive, lookup
from mlmath.curvature import check_batch, check_fisher_support, check_hvp_support, check_model, output_curvature_product
from mlmath.data import train_validation_split
from mlmath.krylov import CGResult, conjugate_gradient
from mlmath.models import Sequential
from mlmath.training import History, check_fit_options, diverged, restore_on_failure, run_epochs

__all__ = ["HessianFree", "ModelOptimizer", "NaturalGradient", "fit"]

_RESTORED = "the weights and the optimizer state were restored to their values before the step"


def _state_value_error(name: str, value: object) -> str | None:
    """Why ``value`` cannot be the state entry ``name`` (``None`` if it can)."""
    if value is None or isinstance(value, np.ndarray | list):
        arrays = [] if value is None else value if isinstance(value, list) else [value]
        for i, a in enumerate(arrays):
            label = name if isinstance(value, np.ndarray) else f"{name}[{i}]"
            if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
                got = f"an array of dtype {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__
                return f"{label} must be a float32 or float64 numpy array; got {got}"
            if not np.isfinite(a).all():
                return f"{label} must hold finite values; got NaN or infinity"
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        return f"{name} must be a number, an array, a list of arrays or None; got {type(value).__name__}"
    if not math.isfinite(float(value)):
        return f"{name} must be finite; got {value!r}"
    return None


def _check_held(held: object) -> tuple[int | None, np.dtype | None]:
    """``state["_held_for"]``: ``(None, None)`` before any step, else the model's size and dtype."""
    if held == (None, None):
        return None, None
    if (
        not isinstance(held, tuple)
        or len(held) != 2
        or isinstance(held[0], bool)
        or not isinstance(held[0], int)
        or held[0] < 0
        or held[1] not in (np.float32, np.float64)
    ):
        raise ValueError(f"state['_held_for'] must be the pair (size, dtype) from get_state(); got {held!r:.80}")
    return held[0], np.dtype(held[1])


def _check_state_shape(
    name: str, new: object, current: object, held: tuple[int | None, np.dtype | None] | None
) -> None:
    """Refuse an array entry of another shape or dtype than the model's vectors (``held``) or the one held."""
    label = f"state[{name!r}]"
    arrays = new if isinstance(new, list) else [] if new is None else [new]
    if held is not None:
        n, dtype = held
        for a in arrays:
            if not isinstance(a, np.ndarray):
                continue
            if n is None:
                raise ValueError(f"{label} must be empty, as the state holds no model's size; got an array")
            if a.shape != (n,) or a.dtype != dtype:
                raise ValueError(
                    f"{label} must hold vectors of shape ({n},) and dtype {dtype}, the model's parameters; "
                    f"got shape {a.shape} and dtype {a.dtype}"
                )
    elif (
        isinstance(current, np.ndarray)
        and isinstance(new, np.ndarray)
        and (new.shape != current.shape or new.dtype != current.dtype)
    ):
        raise ValueError(
            f"{label} must be an array of shape {current.shape} and dtype {current.dtype}, like the one "
            f"held; got shape {new.shape} and dtype {new.dtype}"
        )


class ModelOptimizer:
    """Base class of the optimizers whose step needs the model and the batch (see the module's protocol).

    Subclasses: :class:`mlmath.second_order.HessianFree`, :class:`mlmath.second_order.NaturalGradient`.

    Attributes
    ----------
    state_names : tuple of str
        The attributes that make up the state besides the step count, copied by
        :meth:`get_state` and :meth:`set_state`.
    vector_state_names : tuple of str
        Those of :attr:`state_names` that hold vectors in parameter space (1-D arrays of the
        model's size and dtype, or lists of them), which :meth:`set_state` checks as such.
    """

    state_names: tuple[str, ...] = ()
    vector_state_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._t = 0
        self._n_params: int | None = None  # the size of the model whose state is held
        self._dtype: np.dtype | None = None

    @property
    def iterations(self) -> int:
        """Number of steps taken."""
        return self._t

    # -- the protocol ----------------------------------------------------------------------------

    def check_compatible(self, model: Sequential) -> None:
        """Raise, before anything changes, unless this optimizer can take steps on ``model``.

        Parameters
        ----------
        model : Sequential
            A compiled model, built (``fit`` builds it from ``X`` first).

        Raises
        ------
        TypeError
            If ``model`` is not a :class:`~mlmath.models.Sequential`, or (in a subclass) has a
            layer or a loss the method cannot handle.
        RuntimeError
            If the model is not compiled or not built.
        ValueError
            If this optimizer already holds a state made for a model with another number of
            parameters or another dtype (use a new optimizer for another model).
        """
        model = check_model(model, f"{type(self).__name__} steps")
        if not model.built:
            raise RuntimeError("model must be built before an optimizer's step: call model.build(input_dim) or fit")
        n, dtype = model.count_params(), model.dtype
        if self._n_params is not None and (n != self._n_params or dtype != self._dtype):
            raise ValueError(
                f"this {type(self).__name__} holds a state for a model of {self._n_params} parameters in "
                f"{self._dtype}; model has {n} in {dtype}. Use a new optimizer for another model"
            )

    def step_unchecked(self, model: Sequential, X: np.ndarray, Y: np.ndarray) -> float:
        """One update of ``model``'s weights in place from the batch ``(X, Y)``; the batch loss before it.

        Unchecked (the protocol): :meth:`check_compatible` has passed and ``X``, ``Y`` are finite
        arrays in the model's dtype that the model accepts.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement step_unchecked(model, X, Y)")

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, as keyword arguments."""
        return {}

    # -- state -----------------------------------------------------------------------------------

    def _take_step(
        self, model: Sequential, X: np.ndarray, Y: np.ndarray, held: tuple[int, np.dtype] | None = None
    ) -> float:
        """One counted step (what :func:`fit` and :meth:`step` run): record the model's size, step, count.

        ``held`` is the model's number of parameters and dtype (:func:`_held_for`), which a sequence
        of steps on one model computes once (``count_params`` walks the layers: about half an Adam
        step on the article's network); without it they are computed here.
        """
        self._n_params, self._dtype = held if held is not None else (model.count_params(), model.dtype)
        value = self.step_unchecked(model, X, Y)
        self._t += 1
        return value

    def get_state(self) -> dict[str, Any]:
        """A copy of the state: ``{"t": iterations, name: value, ...}`` for the names of :attr:`state_names`."""
        state: dict[str, Any] = {"t": self._t}
        for name in self.state_names:
            state[name] = copy.deepcopy(getattr(self, name))
        state["_held_for"] = (self._n_params, self._dtype)
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Replace the state by a copy of ``state`` (as from :meth:`get_state`).

        Raises
        ------
        TypeError
            If ``state`` is not a dict, or an entry is not a number, a float array, a list of
            float arrays or ``None``.
        ValueError
            If the keys differ from those of :meth:`get_state`, ``"t"`` is not an integer >= 0,
            a value is not finite, or an array's shape or dtype does not fit (a vector of
            :attr:`vector_state_names` must have the model's size and dtype, another array those
            of the array held). Nothing changes then.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict, as from get_state(); got {type(state).__name__}")
        expected = {"t", *self.state_names, "_held_for"}
        if set(state) != expected:
            raise ValueError(f"state must have the keys {sorted(expected)}, as from get_state(); got {sorted(state)}")
        t = check_int(state["t"], "state['t']", 0)
        for name in self.state_names:
            reason = _state_value_error(f"state[{name!r}]", state[name])
            if reason is not None:
                raise (TypeError if "must be a" in reason else ValueError)(reason)
        held = _check_held(state["_held_for"])
        for name in self.state_names:
            _check_state_shape(
                name, state[name], getattr(self, name), held if name in self.vector_state_names else None
            )
        self._t = t
        for name in self.state_names:
            setattr(self, name, copy.deepcopy(state[name]))
        self._n_params, self._dtype = held

    # -- checked step ----------------------------------------------------------------------------

    def step(self, model: Sequential, X: np.ndarray, Y: np.ndarray) -> float:
        """One checked step on the batch ``(X, Y)``: what :func:`fit` does per batch, atomically.

        Parameters
        ----------
        model : Sequential
            A compiled model (built from ``X`` if it is not yet).
        X : array_like of shape (m, n_in)
        Y : array_like of shape (m, n_out)
            Checked as by :meth:`mlmath.models.Sequential.evaluate`.

        Returns
        -------
        float
            The loss on the batch before the step.

        Raises
        ------
        FloatingPointError
            If the loss or the new weights are not finite; the weights and this optimizer's
            state are then restored.
        """
        what = f"{type(self).__name__}.step"
        model = check_model(model, what)
        Xc, Yc = check_batch(model, X, Y, what)
        self.check_compatible(model)
        params = model.trainable_weights
        with restore_on_failure(params, self), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value = self._take_step(model, Xc, Yc, _held_for(model, params))
            if not math.isfinite(value):
                raise FloatingPointError(f"the loss became {value}; {_RESTORED}")
            if not all(np.isfinite(p).all() for p in params):
                raise FloatingPointError(f"the weights became NaN or infinite; {_RESTORED}")
        return value

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _held_for(model: Sequential, params: list[np.ndarray]) -> tuple[int, np.dtype]:
    """The number of parameters and the dtype of the built ``model``, whose ``trainable_weights`` are ``params``."""
    return sum(p.size for p in params), np.dtype(model.dtype)


def _flat_loss_and_gradient(model: Sequential, X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
    """The batch loss and its gradient as one flat vector, in the model's dtype."""
    value, grads = model.loss_and_gradients(X, Y)
    return value, flatten(grads, model.dtype)


def _finite(value: float, g: np.ndarray) -> bool:
    """Whether a step can be taken from this loss and gradient; raises for a finite loss with a non-finite gradient.

    A non-finite loss is returned by the step as it is, for the caller to raise and restore.
    """
    if not math.isfinite(value):
        return False
    if not np.isfinite(g).all():
        raise FloatingPointError(f"the gradient became NaN or infinite (the loss is {value}); no step was taken")
    return True


def _loss_at(model: Sequential, X: np.ndarray, Y: np.ndarray) -> float:
    """The batch loss at the current weights: one forward pass."""
    P = model.predict(X, batch_size=X.shape[0])
    loss = check_model(model).loss
    return float(loss.value_and_grad_unchecked(Y, P)[0])


def _operator(model: Sequential, X: np.ndarray, Y: np.ndarray, kind: str) -> Callable[[np.ndarray], np.ndarray]:
    """``v -> J^T M J v`` on flat vectors (:func:`mlmath.curvature.output_curvature_product`)."""
    layers, loss = model.layers, check_model(model).loss
    shapes = [w.shape for w in model.trainable_weights]
    return lambda v: output_curvature_product(layers, loss, X, Y, split_flat(v, shapes), kind)


def _backtrack_indices(iterations: int) -> list[int]:
    r"""The CG iterates that backtracking tries, last first: :math:`\lceil 1.3^j \rceil` and the last one."""
    kept = {math.ceil(1.3**j) for j in range(200) if math.ceil(1.3**j) < iterations}
    return sorted(kept | {iterations}, reverse=True)


class HessianFree(ModelOptimizer):
    r"""Hessian-free optimization (Martens 2010): truncated conjugate gradient on the damped Gauss–Newton model.

    At :math:`\theta` with batch loss :math:`L` and gradient :math:`g`, the step :math:`d`
    approximately minimizes the damped quadratic model

    .. math::

        q(d) = g^\top d + \tfrac12 d^\top (G + \lambda I)\, d,

    with :math:`G` the Gauss–Newton matrix (:func:`mlmath.curvature.gauss_newton_vector_product`,
    positive semi-definite for a loss convex in the output, so :math:`q` is bounded below),
    by conjugate gradient (:func:`mlmath.krylov.conjugate_gradient`) on :math:`(G + \lambda I)d =
    -g`, stopped after ``cg_max_iter`` products, at relative residual ``cg_tol``, or when
    :math:`q` stops improving (``cg_progress_tol``). Then:

    - **warm start**: CG starts from ``warm_start`` times the previous step's CG solution;
    - **backtracking** (``backtrack=True``): among the CG iterates :math:`d_i` with
      :math:`i = \lceil 1.3^j\rceil` and the last, the loss is evaluated from the last one
      backwards while it decreases, and the best one is taken (CG minimizes :math:`q`, not
      :math:`L`; early iterates are often better for :math:`L` far from the minimum);
    - **damping** by the reduction ratio :math:`\rho = (L(\theta + d) - L(\theta))/q(d)`, the
      Levenberg–Marquardt rule: :math:`\rho > 3/4 \Rightarrow \lambda \leftarrow \frac23\lambda`,
      :math:`\rho < 1/4 \Rightarrow \lambda \leftarrow \frac32\lambda`;
    - a step that does not decrease the loss is not taken (the weights stay; :math:`\lambda`
      grows, :math:`\rho < 0`).

    Each step costs one gradient, up to ``cg_max_iter`` Gauss–Newton products (the batch is
    checked once per step, so each costs the matrix products of about 5/3 of a gradient) and a
    few forward passes. Use it with a large batch (:func:`fit` with
    ``batch_size >= len(X)``): the ratio :math:`\rho` compares losses on one batch.

    Parameters
    ----------
    damping : float >= 0, default 1.0
        The initial :math:`\lambda`.
    cg_max_iter : int >= 1, default 50
    cg_tol : float in [0, 1), default 1e-6
        CG's relative residual tolerance.
    warm_start : float in [0, 1], default 0.95
        Factor on the previous CG solution for the next CG start (0: start from zero).
    backtrack : bool, default True
    adapt_damping : bool, default True
        False keeps :math:`\lambda` fixed.
    cg_progress_tol : float in (0, 1) or None, default 5e-4
        CG also stops when the quadratic model stops improving (Martens's relative-progress
        rule, ``progress_tol`` of :func:`mlmath.krylov.conjugate_gradient`); ``None`` turns it off.

    Attributes
    ----------
    damping : float
        The current :math:`\lambda` (part of the state).
    direction : numpy.ndarray or None
        The last CG solution (part of the state).
    last_step : dict
        What the last step did: ``{"rho", "cg_iterations", "damping", "accepted", "loss_after"}``
        (``damping`` is the :math:`\lambda` it used). Not part of the state.

    Examples
    --------
    On a linear least-squares problem the Gauss–Newton model is exact, so one step with a
    small damping lands on the solution:

    >>> from mlmath.layers import Dense
    >>> model = Sequential([Dense(1, input_dim=2)], seed=0)
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 1.0]])
    >>> loss_before = HessianFree(damping=1e-9).step(model, X, X @ [[1.0], [-2.0]] + 0.5)
    >>> model.get_flat_weights().round(6)
    array([ 1. , -2. ,  0.5])
    """

    state_names = ("direction", "damping")
    vector_state_names = ("direction",)

    def __init__(
        self,
        damping: float = 1.0,
        cg_max_iter: int = 50,
        cg_tol: float = 1e-6,
        *,
        warm_start: float = 0.95,
        backtrack: bool = True,
        adapt_damping: bool = True,
        cg_progress_tol: float | None = 5e-4,
    ) -> None:
        super().__init__()
        self.initial_damping = check_in_range(damping, "damping", 0.0, np.inf)
        self.cg_max_iter = check_int(cg_max_iter, "cg_max_iter", 1)
        self.cg_tol = check_in_range(cg_tol, "cg_tol", 0.0, 1.0)
        self.warm_start = check_in_range(warm_start, "warm_start", 0.0, 1.0, high_inclusive=True)
        self.backtrack = check_bool(backtrack, "backtrack")
        self.adapt_damping = check_bool(adapt_damping, "adapt_damping")
        self.cg_progress_tol = (
            None
            if cg_progress_tol is None
            else check_in_range(cg_progress_tol, "cg_progress_tol", 0.0, 1.0, low_inclusive=False)
        )
        self.damping = self.initial_damping
        self.direction: np.ndarray | None = None
        self.last_step: dict[str, Any] = {}

    def get_config(self) -> dict[str, Any]:
        return {
            "damping": self.initial_damping,
            "cg_max_iter": self.cg_max_iter,
            "cg_tol": self.cg_tol,
            "warm_start": self.warm_start,
            "backtrack": self.backtrack,
            "adapt_damping": self.adapt_damping,
            "cg_progress_tol": self.cg_progress_tol,
        }

    def check_compatible(self, model: Sequential) -> None:
        """As :meth:`ModelOptimizer.check_compatible`; also the rules of the Gauss–Newton product.

        Every layer needs its R-operator and the loss its Hessian rule (:func:`mlmath.curvature.check_hvp_support`).
        """
        super().check_compatible(model)
        check_hvp_support(model.layers, check_model(model).loss, "HessianFree")

    def step_unchecked(self, model: Sequential, X: np.ndarray, Y: np.ndarray) -> float:
        theta = model.get_flat_weights()
        params = model.trainable_weights
        value, g = _flat_loss_and_gradient(model, X, Y)
        if not _finite(value, g):
            return value
        x0 = None if self.direction is None or not self.warm_start else self.warm_start * self.direction
        result = conjugate_gradient(
            _operator(model, X, Y, "gauss_newton"),
            -g,
            damping=self.damping,
            tol=self.cg_tol,
            max_iter=self.cg_max_iter,
            x0=x0,
            keep_iterates=self.backtrack,
            progress_tol=self.cg_progress_tol,
        )
        i, after = self._choose(model, X, Y, theta, result)
        predicted = float(result.quadratic[i])
        rho = (after - value) / predicted if predicted < 0 else -math.inf
        accepted = bool(after <= value)  # False for NaN too
        if not accepted:
            unflatten_into(params, theta)
        self.last_step = {
            "rho": rho,
            "cg_iterations": result.iterations,
            "damping": self.damping,
            "accepted": accepted,
            "loss_after": after if accepted else value,
        }
        if self.adapt_damping:
            if rho > 0.75:
                self.damping *= 2 / 3
            elif rho < 0.25:
                self.damping *= 1.5
        self.direction = result.x
        return value

    def _choose(
        self, model: Sequential, X: np.ndarray, Y: np.ndarray, theta: np.ndarray, result: CGResult
    ) -> tuple[int, float]:
        """The index of the CG iterate to take and the loss there; the weights are left at that point."""
        params = model.trainable_weights
        if result.iterates is None or result.iterations <= 1:
            unflatten_into(params, theta + result.x)
            return result.iterations, _loss_at(model, X, Y)
        best_i, best = -1, math.inf
        for i in _backtrack_indices(result.iterations):
            unflatten_into(params, theta + result.iterates[i])
            current = _loss_at(model, X, Y)
            if not current < best:
                break
            best_i, best = i, current
        unflatten_into(params, theta + result.iterates[best_i])
        return best_i, best


class NaturalGradient(ModelOptimizer):
    r"""Natural gradient descent with a damped Fisher (Amari 1998).

    The update is :math:`\theta \leftarrow \theta - \eta\,(F + \lambda I)^{-1} g` with :math:`g` the batch gradient.

    The steepest descent direction when the length of a step is measured by the
    Kullback–Leibler divergence between the model's predictive distributions before and after
    it, :math:`\mathrm{KL} \approx \frac12 d^\top F d`, rather than by :math:`\|d\|`: so the
    step does not depend on how the function is parameterized (for an invertible affine
    reparameterization, exactly, when :math:`\lambda = 0`). :math:`F` is the Fisher of
    :func:`mlmath.curvature.fisher_vector_product` (``fisher="true"``, equal to the Gauss–Newton
    matrix for the losses it accepts, or ``"empirical"``), and the system
    :math:`(F + \lambda I)d = g` is solved by conjugate gradient, matrix-free.

    Parameters
    ----------
    learning_rate : float > 0, default 0.1
        :math:`\eta`.
    damping : float >= 0, default 1e-3
        :math:`\lambda`.
    fisher : {"true", "empirical"}, default "true"
    cg_max_iter : int >= 1, default 50
    cg_tol : float in [0, 1), default 1e-6
    warm_start : float in [0, 1], default 0.0
        Factor on the previous solution for the next CG start (0: start from zero).

    Attributes
    ----------
    direction : numpy.ndarray or None
        The last solution :math:`(F + \lambda I)^{-1}g` (part of the state).
    last_step : dict
        ``{"cg_iterations", "converged"}`` of the last step's CG (not part of the state).
    """

    state_names = ("direction",)
    vector_state_names = ("direction",)

    def __init__(
        self,
        learning_rate: float = 0.1,
        damping: float = 1e-3,
        *,
        fisher: str = "true",
        cg_max_iter: int = 50,
        cg_tol: float = 1e-6,
        warm_start: float = 0.0,
    ) -> None:
        super().__init__()
        self.learning_rate = check_positive(learning_rate, "learning_rate")
        self.damping = check_in_range(damping, "damping", 0.0, np.inf)
        self.fisher = lookup({"true": "true", "empirical": "empirical"}, fisher, "fisher")
        self.cg_max_iter = check_int(cg_max_iter, "cg_max_iter", 1)
        self.cg_tol = check_in_range(cg_tol, "cg_tol", 0.0, 1.0)
        self.warm_start = check_in_range(warm_start, "warm_start", 0.0, 1.0, high_inclusive=True)
        self.direction: np.ndarray | None = None
        self.last_step: dict[str, Any] = {}

    def get_config(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "damping": self.damping,
            "fisher": self.fisher,
            "cg_max_iter": self.cg_max_iter,
            "cg_tol": self.cg_tol,
            "warm_start": self.warm_start,
        }

    def check_compatible(self, model: Sequential) -> None:
        """As :meth:`ModelOptimizer.check_compatible`; also the Fisher product's rules.

        With ``fisher="true"`` the loss's Fisher must be stated (:func:`mlmath.curvature.check_fisher_support`).
        """
        super().check_compatible(model)
        loss = check_model(model).loss
        if self.fisher == "true":
            check_fisher_support(model.layers, loss)
        else:
            check_hvp_support(model.layers, loss, "NaturalGradient(fisher='empirical')")

    def step_unchecked(self, model: Sequential, X: np.ndarray, Y: np.ndarray) -> float:
        value, g = _flat_loss_and_gradient(model, X, Y)
        if not _finite(value, g):
            return value
        kind = "gauss_newton" if self.fisher == "true" else "empirical_fisher"
        x0 = None if self.direction is None or not self.warm_start else self.warm_start * self.direction
        result = conjugate_gradient(
            _operator(model, X, Y, kind), g, damping=self.damping, tol=self.cg_tol, max_iter=self.cg_max_iter, x0=x0
        )
        params = model.trainable_weights
        unflatten_into(params, model.get_flat_weights() - self.learning_rate * result.x)
        self.direction = result.x
        self.last_step = {"cg_iterations": result.iterations, "converged": result.converged}
        return value


def fit(
    model: Sequential,
    X: np.ndarray,
    Y: np.ndarray,
    optimizer: ModelOptimizer,
    *,
    epochs: int = 1,
    batch_size: int = 32,
    validation_split: float = 0.0,
    shuffle: bool = True,
    verbose: int = 1,
    seed: int | None = None,
) -> History:
    r"""Train ``model`` with a :class:`ModelOptimizer`: per batch, one ``optimizer`` step on the model and the batch.

    The loop of :meth:`mlmath.models.Sequential.fit` (:func:`mlmath.training.run_epochs`), with
    the optimizer's step in place of "backward pass, then gradient update": the same options and
    defaults, the same progress lines, and the same atomic contract: on any failure (a
    :class:`FloatingPointError` naming the epoch and step when the loss or the weights become
    NaN or infinite, an interruption) the weights, the optimizer's state and ``model.history``
    are as before the call. Second-order methods usually want the full batch:
    ``batch_size >= len(X)`` gives one step per epoch on all training rows, in their order (the
    mean loss does not depend on it). float32 models stay float32.

    Parameters
    ----------
    model : Sequential
        A compiled model; its loss comes from ``compile`` (the optimizer given there is not used).
    X : array_like of shape (m, n_in)
    Y : array_like of shape (m, n_out)
        Checked as by :meth:`mlmath.models.Sequential.fit`.
    optimizer : ModelOptimizer
        For example :class:`HessianFree` or :class:`NaturalGradient`.
    epochs : int >= 1, default 1
    batch_size : int >= 1, default 32
    validation_split : float in [0, 1), default 0.0
        Fraction of rows held out for validation: the last rows, before any shuffling
        (:func:`mlmath.data.train_validation_split`).
    shuffle : bool, default True
    verbose : {0, 1, 2}, default 1
    seed : int, optional
        Seed of the shuffling order. Default: a generator seeded with the model's ``seed`` and
        the optimizer's :attr:`~ModelOptimizer.iterations`, so a seeded model trains
        reproducibly (fresh entropy for a model without a seed).

    Returns
    -------
    History
        ``history.history["loss"]``: per epoch, the batch losses before each step, averaged with
        the batch sizes as weights; with ``validation_split``, ``val_loss`` and each compiled
        metric as ``val_<metric>`` after the epoch. Also stored as ``model.history``.

    Raises
    ------
    TypeError, ValueError
        For bad arguments, or an optimizer that cannot handle the model, before anything changes.
    RuntimeError
        Before ``model.compile``.
    FloatingPointError
        If the loss or the weights become NaN or infinite; everything is restored.

    Examples
    --------
    >>> from mlmath.layers import Dense
    >>> model = Sequential([Dense(1, input_dim=2)], seed=0)
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> history = fit(model, X, X.sum(axis=1, keepdims=True), HessianFree(damping=1e-6), epochs=2, verbose=0)
    >>> round(history.history["loss"][-1], 8)
    0.0
    """
    if not isinstance(optimizer, ModelOptimizer):
        raise TypeError(
            f"optimizer must be a ModelOptimizer such as HessianFree(); got {type(optimizer).__name__}. "
            "First-order optimizers (Adam, SGD) train with model.fit"
        )
    model = check_model(model, "fit")
    # without a seed, the order comes from the model's seed and the optimizer's step count: reproducible
    # for a seeded model, and another order at each call (fresh entropy for an unseeded model)
    default = np.random.default_rng(None if model.seed is None else [model.seed, optimizer.iterations])
    options = check_fit_options(
        epochs=epochs, batch_size=batch_size, shuffle=shuffle, verbose=verbose, seed=seed, default_rng=default
    )
    split = check_in_range(validation_split, "validation_split", 0.0, 1.0)
    Xc, Yc = check_batch(model, X, Y, "fit")
    (X_train, Y_train), (X_val, Y_val) = (
        train_validation_split(Xc, Yc, split) if split > 0 else ((Xc, Yc), (None, None))
    )
    optimizer.check_compatible(model)
    m = X_train.shape[0]
    if options.batch_size >= m:  # one batch of all rows: its order does not change the mean loss
        options = dataclasses.replace(options, shuffle=False)
    steps = options.steps(m)
    params = model.trainable_weights
    held = _held_for(model, params)  # once per call: the model cannot be rebuilt while it trains

    def train_step(rows: np.ndarray | slice, epoch: int, step: int) -> dict[str, float]:
        Xb, Yb = X_train[rows], Y_train[rows]
        value = optimizer._take_step(model, Xb, Yb, held)
        if not math.isfinite(value):
            raise diverged("loss", value, epoch, options.epochs, step, steps)
        return {"loss": value * Xb.shape[0]}

    keys = ["loss"]
    validate = None
    if X_val is not None and Y_val is not None:
        Xv, Yv = X_val, Y_val
        keys += ["val_loss", *(f"val_{k}" for k in model.metrics)]

        def validate(epoch: int) -> dict[str, float]:
            result = model.evaluate(Xv, Yv, batch_size=options.batch_size, verbose=0)
            values = result if isinstance(result, list) else [result]
            if not math.isfinite(values[0]):
                raise diverged("validation loss", values[0], epoch, options.epochs)
            return dict(zip(keys[1:], values, strict=True))

    model.history = run_epochs(m, options, train_step, params, optimizer, keys, History(), validate)
    return model.history
