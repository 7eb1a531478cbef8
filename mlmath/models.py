r"""``Sequential``: a stack of layers trained by minibatch gradient descent, with Keras's interface.

Derived in chapter 4 (the backward pass through the stack) and used in chapter 12, where the
source article's Keras program runs on it with only its import lines changed::

    from mlmath.models import Sequential
    from mlmath.layers import Dense, Activation
    from mlmath.optim import Adam
    from mlmath.losses import MeanSquaredError
    from mlmath.data import to_categorical

Conventions (Keras's, unless said otherwise): ``X`` of shape ``(m, n_in)`` holds one sample per
row and ``Y`` of shape ``(m, n_out)`` one target row per sample; ``validation_split`` holds out
the **last** rows before any shuffling; the training loss reported for an epoch is the mean of
the batch losses weighted by batch size; accuracy compares ``argmax`` of the prediction with
``argmax`` of the one-hot target (for one output: prediction > 0.5 against the 0/1 target).

**Sequences.** ``X`` may also have shape ``(m, T, n_in)``: ``m`` sequences of ``T`` positions,
a layer's width being always the last axis. Targets then come per position, ``Y`` of shape
``(m, T, n_out)``; the loss and the accuracy are taken over the :math:`mT` rows of
``Y.reshape(-1, n_out)``, so the loss is the mean over positions and samples, as Keras does.
Minibatches and ``validation_split`` cut along the first axis (whole sequences).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmath import curvature
from mlmath import losses as _losses
from mlmath import optim as _optim
from mlmath._flat import flatten, split_flat, total_size, unflatten_into
from mlmath._validation import (
    ONE_HOT_HINT,
    as_float_array,
    as_generator,
    check_dtype,
    check_finite,
    check_in_range,
    check_int,
    check_size,
    check_str,
    check_verbose,
)
from mlmath.data import train_validation_split
from mlmath.layers import Activation, Dense, Layer, as_batch, default_name, features_error
from mlmath.training import History, check_fit_options, diverged, run_epochs

__all__ = ["LayerStack", "Sequential", "accuracy"]  # History, which fit returns, is mlmath.training.History

_METRICS = ("accuracy", "acc")


# ---------------------------------------------------------------------------
# accuracy
# ---------------------------------------------------------------------------


def _count_correct(Y: np.ndarray, P: np.ndarray) -> int:
    """Number of right rows among the rows of ``Y.reshape(-1, k)`` (one per sample, or per position)."""
    k = P.shape[-1]
    Y, P = Y.reshape(-1, k), P.reshape(-1, k)
    if k == 1:
        return int(np.count_nonzero((P > 0.5) == (Y > 0.5)))
    return int(np.count_nonzero(P.argmax(axis=1) == Y.argmax(axis=1)))


def _rows_per_sample(X: np.ndarray) -> int:
    """Target rows per sample: 1 for ``X`` of shape ``(m, n)``, ``T`` for ``(m, T, n)``."""
    return 1 if X.ndim == 2 else X.shape[1]


def _check_one_hot(Y: np.ndarray, name: str = "Y") -> None:
    rows = Y.reshape(-1, Y.shape[-1])
    if rows.shape[1] == 1:
        if not np.all((rows == 0) | (rows == 1)):
            raise ValueError(f"{name} must hold 0 or 1 for the 'accuracy' metric with one output per sample")
        return
    ok = np.all((rows == 0) | (rows == 1), axis=1) & (rows.sum(axis=1) == 1)
    if not ok.all():
        flat = int(np.flatnonzero(~ok)[0])
        where = tuple(int(i) for i in np.unravel_index(flat, Y.shape[:-1]))
        row = where[0] if len(where) == 1 else where
        raise ValueError(
            f"{name} must be one-hot for the 'accuracy' metric (a single 1 per row, zeros elsewhere); "
            f"row {row} is {rows[flat].tolist()}. {ONE_HOT_HINT}"
        )


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    r"""Fraction of rows whose predicted class is the true class (Keras's ``'accuracy'``).

    With several outputs per row, row :math:`k` is right when
    :math:`\arg\max_i P_{ki} = \arg\max_i Y_{ki}` (ties go to the first index, as in
    ``numpy.argmax``); with one output, when :math:`[P_k > 0.5] = Y_k`. Used in chapter 12.

    Parameters
    ----------
    y_true : array_like of shape (m, n)
        One-hot rows (or 0/1 values when ``n = 1``).
    y_pred : array_like of shape (m, n)
        Predictions, e.g. class probabilities.

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> accuracy([[1, 0], [0, 1], [0, 1]], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    0.6666666666666666
    """
    Y = as_float_array(y_true, "y_true", ndim=2, shape_hint="(n_samples, n_outputs)")
    P = as_float_array(y_pred, "y_pred", ndim=2, shape_hint="(n_samples, n_outputs)")
    if Y.shape != P.shape:
        raise ValueError(f"y_true and y_pred must have the same shape; got {Y.shape} and {P.shape}")
    if Y.shape[0] == 0:
        raise ValueError("y_true must hold at least one row")
    _check_one_hot(Y, "y_true")
    return _count_correct(Y, P) / Y.shape[0]


# ---------------------------------------------------------------------------
# Sequential
# ---------------------------------------------------------------------------


class LayerStack:
    r"""A linear stack of layers and its weights: :math:`A^{(0)} = X`, :math:`A^{(l)} = \text{layer}_l(A^{(l-1)})`.

    The structure of a model, without its training: adding and building layers, the weights
    (as a list, by name, or as one flat vector :math:`\theta`), the forward pass and the
    summary. :class:`Sequential` adds compiling, training and evaluating. Derived in chapter 4.

    Parameters
    ----------
    layers : iterable of Layer, optional
        Layers to :meth:`add` in order.
    seed : int, optional
        Seed of the model's generator, which draws the initial weights of every layer without
        its own ``seed`` and, unless ``fit`` is given a ``seed``, the shuffling order of ``fit``.
        Two models built the same way with the same seed and trained the same way give
        bit-identical weights and histories. ``None`` draws fresh entropy (never numpy's
        global random state).
    name : str, default "sequential"

    Notes
    -----
    **Building.** The weights are created at the first call that needs them: ``fit``,
    ``evaluate``, ``predict`` and ``loss_and_gradients`` build the model for ``X``'s width and
    in ``X``'s dtype (so float32 data gives float32 weights and predictions); ``get_weights``,
    ``set_weights`` and ``trainable_weights`` build it in float64 from the first layer's
    ``input_dim``; :meth:`build` does it explicitly. Once built, the dtype is fixed and inputs
    of the other float dtype are cast to it. A layer's width is the last axis of its input, so
    the same stack serves batches ``(m, n)`` and sequences ``(m, T, n)``.

    **Non-trainable state.** Layers such as :class:`~mlmath.normalization.BatchNormalization` keep
    arrays that training updates but the optimizer does not (moving statistics), in
    ``layer.state``; :attr:`non_trainable_weights` lists them. Unlike Keras, :meth:`get_weights`
    and :meth:`set_weights` hold the trainable parameters only (the vector :math:`\theta` of
    :meth:`get_flat_weights`, of the gradients and of the Hessian-vector products); a failed
    ``fit`` restores the state arrays as it restores the weights.

    **Storage.** Once built, all parameters live in one contiguous array and all gradients in
    another; each layer's ``params[key]`` and ``grads[key]`` are views of them, so an optimizer
    step is one pass over memory. Update weights in place (``W[...] = ...``) or with
    :meth:`set_weights`; a replaced array is copied back into the buffer at the next ``fit``.
    """

    def __init__(
        self, layers: Iterable[Layer] | None = None, seed: int | None = None, name: str = "sequential"
    ) -> None:
        self.name = check_str(name, "name")
        self.seed = None if seed is None else check_int(seed, "seed", 0)
        given = _check_layers(layers)
        self._rng = as_generator(self.seed)
        self._layers: list[Layer] = []
        self._dtype: np.dtype | None = None
        self._flat: tuple[np.ndarray, np.ndarray] | None = None  # all parameters, all gradients
        self._views: list[np.ndarray] = []
        self._time_steps: int | None = None  # T of the sequences last built or trained with, for summary
        given_names = [layer.name for layer in given]
        for i, layer in enumerate(given):
            try:
                self.add(layer)
            except (TypeError, ValueError) as exc:
                for renamed, old_name in zip(given, given_names, strict=True):  # add() names the layers it takes
                    renamed.name = old_name
                raise type(exc)(f"layers[{i}]: {exc}") from None

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Finish a copy (``copy.deepcopy``) or an unpickling: the layers' arrays become views of one buffer again.

        A copy holds each view as an array of its own, so the optimizer's flat update would write
        into a buffer that the layers no longer read.
        """
        self.__dict__.update(state)
        if self._flat is not None and self._packed():
            self._pack()

    def add(self, layer: Layer) -> None:
        """Append ``layer`` to the stack, naming it as Keras would if unnamed (:func:`mlmath.layers.default_name`).

        Unnamed layers become ``"dense"``, ``"dense_1"``, ..., ``"multi_head_attention"``,
        ``"layer_normalization"``: the class name in snake_case, numbered past the names taken.

        If the model is already built, the new layer is built at once for the current width.
        """
        if not isinstance(layer, Layer):
            raise TypeError(f"add() takes a layer such as Dense(64) or Activation('relu'); got {type(layer).__name__}")
        if any(layer is other for other in self._layers):
            raise ValueError(f"this {type(layer).__name__} layer is already in the model; create a new one")
        if self._layers and isinstance(layer, Dense) and layer.input_dim is not None:
            expected = self._layers[-1].output_dim
            if expected is not None and expected != layer.input_dim:
                raise ValueError(f"Dense(input_dim={layer.input_dim}) cannot follow a layer with {expected} outputs")
        if layer.name is None:
            layer.name = default_name(layer, {other.name for other in self._layers if other.name is not None})
        if self.built:
            self._build_layer(layer, self._output_width(), self._built_dtype())
        self._layers.append(layer)
        if self.built:
            self._pack()

    @property
    def layers(self) -> list[Layer]:
        """The layers, in order (a new list; the layers themselves are shared)."""
        return list(self._layers)

    @property
    def built(self) -> bool:
        """Whether the weights exist."""
        return self._dtype is not None

    @property
    def dtype(self) -> np.dtype | None:
        """The weights' dtype (``None`` until built)."""
        return self._dtype

    @property
    def input_dim(self) -> int | None:
        """Number of input features, if known (from the build or the first layer's ``input_dim``)."""
        return self._layers[0].n_in if self._layers else None

    def _built_dtype(self) -> np.dtype:
        """The weights' dtype, once built."""
        if self._dtype is None:
            raise RuntimeError("call build(input_dim) (or fit or predict) before using the weights' dtype")
        return self._dtype

    def _output_width(self) -> int:
        """Width of the last layer's output, once the layers are built."""
        last = self._layers[-1]
        return last.compute_output_dim(last.built_n_in)

    def _widths(self, n_in: int) -> list[int]:
        widths = [n_in]
        for layer in self._layers:
            widths.append(layer.compute_output_dim(widths[-1]))
        return widths

    def _build_layer(self, layer: Layer, n_in: int, dtype: np.dtype) -> None:
        if layer.built and layer.n_in == n_in and layer.dtype == dtype:
            return  # keep the weights a layer was given before it was added
        layer.build(n_in, self._rng, dtype)

    def build(self, input_dim: int | None = None, dtype: object = np.float64) -> None:
        """Create the weights of every layer for inputs of width ``input_dim``, in ``dtype``.

        Parameters
        ----------
        input_dim : int, optional
            Default: the first layer's ``input_dim``.
        dtype : float32 or float64, default float64

        Raises
        ------
        ValueError
            Without layers, without a known input width, or if the model is already built for
            another width or dtype.
        """
        if not self._layers:
            raise ValueError("the model has no layers: add() some before building it")
        dt = check_dtype(dtype)
        if input_dim is None:
            input_dim = self.input_dim
            if input_dim is None:
                raise ValueError(
                    "the input width is unknown: give the first layer input_dim (Dense(64, input_dim=20)), "
                    "call build(input_dim), or call fit/predict, which take it from X"
                )
        n_in = check_size(input_dim, "input_dim")
        if self.built:
            if n_in != self.input_dim or dt != self._dtype:
                raise ValueError(
                    f"the model is already built for {self.input_dim} input features in {self._dtype}; "
                    f"got input_dim={n_in} and dtype {dt}"
                )
            return
        first = self._layers[0]
        if first.n_in is not None and n_in != first.n_in:
            raise ValueError(
                f"input_dim={n_in} does not fit the first layer: {type(first).__name__} is expecting "
                f"{first.n_in} features as input"
            )
        n = n_in
        for layer in self._layers:
            self._build_layer(layer, n, dt)
            n = layer.compute_output_dim(n)
        self._dtype = dt
        self._pack()

    def _pack(self) -> None:
        """Move every parameter into one contiguous buffer, and every gradient into another.

        Each layer's ``params[key]`` and ``grads[key]`` become views of these buffers, so the
        optimizer can update the whole model with one call of its kernel per step.
        """
        pairs = [(layer, key) for layer in self._layers for key in layer.params]
        shapes = [layer.params[key].shape for layer, key in pairs]
        size = total_size(shapes)
        flat_p, flat_g = np.empty(size, self._dtype), np.zeros(size, self._dtype)
        views_p, views_g = split_flat(flat_p, shapes), split_flat(flat_g, shapes)
        for (layer, key), vp, vg in zip(pairs, views_p, views_g, strict=True):
            vp[...] = layer.params[key]
            if key in layer.grads:
                vg[...] = layer.grads[key]
            layer.params[key], layer.grads[key] = vp, vg
        self._flat, self._views = (flat_p, flat_g), views_p + views_g

    def _packed(self) -> bool:
        """Whether every layer still holds the views made by :meth:`_pack`."""
        current = [layer.params[key] for layer in self._layers for key in layer.params]
        current += [layer.grads[key] for layer in self._layers for key in layer.grads]
        return len(current) == len(self._views) and all(a is b for a, b in zip(current, self._views, strict=True))

    def _ensure_built(self, n_in: int | None = None, dtype: object = np.float64) -> None:
        if not self.built:
            self.build(n_in, dtype)

    def _ensure_built_for(self, X: np.ndarray) -> None:
        """Build for the width (last axis) and dtype of the checked data ``X``, if not built yet."""
        if not self.built:
            self.build(X.shape[-1], X.dtype)
            self._time_steps = X.shape[1] if X.ndim == 3 else None

    def _check_X(self, X: object, name: str = "X") -> np.ndarray:
        """``X`` checked: a finite batch ``(m, n_in)`` or sequences ``(m, T, n_in)``, of the first layer's width."""
        if not self._layers:
            raise ValueError("the model has no layers: add() some first")
        X = as_batch(X, name)
        first = self._layers[0]
        if first.n_in is not None and X.shape[-1] != first.n_in:
            raise features_error(type(first).__name__, X.shape[-1], first.n_in, name)
        return X

    def _set_training(self, training: bool) -> None:
        """Put every layer in training mode (``True``) or inference mode; a layer holding others forwards it."""
        for layer in self._layers:
            layer.training = training

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The layers' ``state`` arrays themselves (BatchNorm's moving statistics), layer by layer.

        Updated by ``fit`` in training mode, never by the optimizer; not part of
        :meth:`get_weights` (see the class notes). Empty for a model of Dense and Activation layers.
        """
        return [a for layer in self._layers for a in layer.state.values()]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The parameter arrays themselves (not copies), layer by layer: ``W`` then ``b`` of each Dense.

        The order is that of :meth:`get_weights`, :meth:`set_weights`, the gradient list of
        :meth:`loss_and_gradients` and :attr:`weight_names`.
        """
        self._ensure_built()
        return [p for layer in self._layers for p in layer.params.values()]

    @property
    def weight_names(self) -> list[str]:
        """``"layer_name/W"``, ``"layer_name/b"``, ... aligned with :attr:`trainable_weights`."""
        self._ensure_built()
        return [f"{layer.name}/{key}" for layer in self._layers for key in layer.params]

    def _grads(self) -> list[np.ndarray]:
        return [g for layer in self._layers for g in layer.grads.values()]

    def _param_specs(self, n_in: int | None) -> list[tuple[str, tuple[int, ...]]] | None:
        """Names and shapes of the parameters once built for inputs of width ``n_in``; ``None`` while unknown."""
        if n_in is None:
            return None
        specs, width = [], n_in
        for layer in self._layers:
            shapes = layer.param_shapes(width)
            if shapes is None:
                return None
            specs += [(f"{layer.name}/{key}", shape) for key, shape in shapes.items()]
            width = layer.compute_output_dim(width)
        return specs

    def _weight_specs(self) -> list[tuple[str, tuple[int, ...]]] | None:
        """Names and shapes of :attr:`trainable_weights`, known without building where possible."""
        if self.built:
            return [(f"{layer.name}/{key}", p.shape) for layer in self._layers for key, p in layer.params.items()]
        return self._param_specs(self.input_dim)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the parameter arrays, in the order of :attr:`trainable_weights`.

        Unlike Keras's, the list holds no non-trainable state (:attr:`non_trainable_weights`, such
        as BatchNorm's moving statistics): it is the vector :math:`\theta` of :meth:`get_flat_weights`.
        """
        return [p.copy() for p in self.trainable_weights]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Copy ``weights`` (as from :meth:`get_weights`) into the parameters, in place.

        The optimizer state is left as it is. Raises ``ValueError`` if the number of arrays or
        a shape differs, or a value is not finite; nothing changes then (an unbuilt model whose
        layers' shapes are known is checked before it is built).
        """
        specs = self._weight_specs()
        if not isinstance(weights, list | tuple):
            count = "" if specs is None else f"{len(specs)} "
            raise TypeError(
                f"weights must be a list of {count}arrays, as from get_weights(); got {type(weights).__name__}"
            )
        if specs is not None:
            _check_count(weights, specs)
        checked = [as_float_array(w, f"weights[{i}]") for i, w in enumerate(weights)]
        if specs is None:  # the shapes are known once the layers are built
            self._ensure_built()
            specs = self._weight_specs() or []
            _check_count(weights, specs)
        for i, (arr, (name, shape)) in enumerate(zip(checked, specs, strict=True)):
            if arr.shape != shape:
                raise ValueError(f"weights[{i}] must have shape {shape} ({name}); got {arr.shape}")
        for p, arr in zip(self.trainable_weights, checked, strict=True):
            np.copyto(p, arr, casting="same_kind")

    def get_flat_weights(self) -> np.ndarray:
        r"""All parameters as one new vector :math:`\theta`: :attr:`trainable_weights` raveled and concatenated.

        The inverse of :meth:`set_flat_weights`; the order of the direction vectors of
        :meth:`hessian_vector_product` and of :func:`mlmath.calculus.top_eigenvalues`.
        """
        return flatten(self.trainable_weights, self._built_dtype())

    def set_flat_weights(self, theta: npt.ArrayLike) -> None:
        """Copy the vector ``theta`` (as from :meth:`get_flat_weights`) into the parameters, in place.

        Raises ``ValueError`` if its length is not :meth:`count_params` or a value is not finite;
        nothing changes then.
        """
        flat = as_float_array(theta, "theta", ndim=1, shape_hint="(count_params(),)")
        specs = self._weight_specs()
        if specs is None:  # the shapes are known once the layers are built
            self._ensure_built()
            specs = self._weight_specs() or []
        shapes = [shape for _, shape in specs]
        n = total_size(shapes)
        if flat.size != n:
            raise ValueError(f"theta must have length {n} (the model's number of parameters); got {flat.size}")
        unflatten_into(self.trainable_weights, flat)

    def count_params(self) -> int:
        """Total number of parameters (known once the input width is known)."""
        n_in = self.input_dim
        if n_in is None:
            raise ValueError("count_params needs the input width: give the first layer input_dim or build the model")
        widths = self._widths(n_in)
        total = 0
        for layer, w in zip(self._layers, widths, strict=False):
            count = layer.params_for_width(w)
            if count is None:
                raise ValueError(f"count_params cannot count the parameters of the unbuilt layer {layer.name}")
            total += count
        return total

    def _forward(self, X: np.ndarray) -> np.ndarray:
        A = X
        for layer in self._layers:
            A = layer.call(A)
        return A

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print a Keras-like table: each layer's name and type, output shape and parameter count.

        A model used with sequences shows ``(None, T, n)``, ``T`` that of the data it was built or
        last trained with. As in Keras, a layer's count includes its non-trainable ``state``
        (BatchNorm's moving statistics), which exists once the layer is built; ``?`` marks a
        count that waits for the input width.

        Parameters
        ----------
        print_fn : callable, default print
            Called with each line.

        Examples
        --------
        >>> from mlmath.layers import Dense, Activation
        >>> Sequential([Dense(64, input_dim=20), Activation("relu"), Dense(3)]).summary()
        Model: "sequential"
        _________________________________________________________________
         Layer (type)                Output Shape              Param #
        =================================================================
         dense (Dense)               (None, 64)                1,344
         activation (Activation)     (None, 64)                0
         dense_1 (Dense)             (None, 3)                 195
        =================================================================
        Total params: 1,539
        Trainable params: 1,539
        Non-trainable params: 0
        _________________________________________________________________
        """
        if not callable(print_fn):
            raise TypeError(f"print_fn must be callable, such as print; got {type(print_fn).__name__}")
        n_in = self.input_dim
        widths: Sequence[int | None] = self._widths(n_in) if n_in is not None else [None] * (len(self._layers) + 1)
        for line in _summary_lines(self.name, self._layers, widths, self._time_steps):
            print_fn(line)

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self._layers)
        return f"{type(self).__name__}([{inner}])"


class Sequential(LayerStack):
    r"""A stack of layers trained by minibatch gradient descent, with Keras's interface.

    Derived in chapter 4; the article's program runs on it in chapter 12. The structure and the
    weights are those of :class:`LayerStack`; this class adds :meth:`compile`, :meth:`fit`,
    :meth:`evaluate`, :meth:`predict`, the gradients and the exact Hessian-vector product.

    Parameters
    ----------
    layers : iterable of Layer, optional
        Layers to :meth:`add` in order.
    seed : int, optional
        Seed of the model's generator (see :class:`LayerStack`).
    name : str, default "sequential"

    Attributes
    ----------
    optimizer : Optimizer or None
        The optimizer given to :meth:`compile` (``None`` before).
    loss : Loss or None
        The loss given to :meth:`compile`, e.g. ``MeanSquaredError()``; its
        ``value_and_grad(Y, P)`` gives the loss and :math:`\partial L/\partial P` (chapter 4).
    metrics : list of str
        The metrics given to :meth:`compile`.
    history : History or None
        What the last :meth:`fit` returned.

    Notes
    -----
    **Atomic fit.** A ``fit`` that fails leaves the weights, the layers' non-trainable ``state``
    (BatchNorm's moving statistics), the optimizer state and :attr:`history` exactly as they were
    before the call: every input is checked before anything changes, and if the loss or the
    weights become NaN or infinite during training (or training is interrupted), they are
    restored and the error says at which epoch and step (:mod:`mlmath.training`).

    **Training mode.** As in Keras, ``fit`` sets every layer's ``training`` to ``True`` for its
    training steps only: validation, :meth:`evaluate`, :meth:`predict`,
    :meth:`loss_and_gradients` and :meth:`hessian_vector_product` run in inference mode, and
    every layer is back in inference mode when ``fit`` returns or fails.

    Examples
    --------
    >>> from mlmath.layers import Dense, Activation
    >>> model = Sequential([Dense(4, input_dim=2), Activation("relu"), Dense(1)], seed=0)
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> history = model.fit(X, np.array([[1.0], [0.0]]), epochs=3, verbose=0, seed=0)
    >>> len(history.history["loss"]), model.predict(X).shape
    (3, (2, 1))
    """

    def __init__(
        self, layers: Iterable[Layer] | None = None, seed: int | None = None, name: str = "sequential"
    ) -> None:
        self.optimizer: _optim.Optimizer | None = None
        self.loss: _losses.Loss | None = None
        self.metrics: list[str] = []
        self.history: History | None = None
        super().__init__(layers, seed, name)

    def compile(
        self,
        optimizer: _optim.Optimizer | str = "adam",
        loss: _losses.Loss | str | None = None,
        metrics: Sequence[str] | None = None,
    ) -> None:
        """Choose the optimizer, the loss and the metrics for :meth:`fit` and :meth:`evaluate`.

        Parameters
        ----------
        optimizer : Optimizer or str, default "adam"
            An instance such as ``Adam(learning_rate=0.001)``, or ``"adam"`` / ``"sgd"`` for
            the defaults. An instance keeps its state across ``compile`` and ``fit`` calls.
        loss : Loss or str
            An instance such as ``MeanSquaredError()``, or ``"mse"``,
            ``"mean_squared_error"``, ``"categorical_crossentropy"``, ``"binary_crossentropy"``.
        metrics : list of str, optional
            ``["accuracy"]`` (or ``["acc"]``) or nothing. Without metrics, :meth:`evaluate`
            returns the loss alone, as in Keras.
        """
        opt = _optim.get(optimizer)
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss=MeanSquaredError() or loss='mse'")
        loss_obj = _losses.get(loss)
        self.optimizer, self.loss, self.metrics = opt, loss_obj, _metric_names(metrics)

    def _require_compiled(self, method: str) -> tuple[_losses.Loss, _optim.Optimizer]:
        """The loss and optimizer from :meth:`compile`; a clear error before ``method`` if there are none."""
        if self.loss is None or self.optimizer is None:
            raise RuntimeError(
                f"call compile(optimizer, loss) before {method}(), e.g. "
                "model.compile(optimizer=Adam(learning_rate=0.001), loss=MeanSquaredError(), metrics=['accuracy'])"
            )
        return self.loss, self.optimizer

    def _compiled_loss(self) -> _losses.Loss:
        """The loss from :meth:`compile`, for the private passes (their public callers checked it)."""
        if self.loss is None:
            raise RuntimeError("call compile(optimizer, loss) before training or evaluating the model")
        return self.loss

    def _check_XY(
        self, X: npt.ArrayLike, Y: npt.ArrayLike, names: tuple[str, str] = ("X", "Y")
    ) -> tuple[np.ndarray, np.ndarray]:
        X = self._check_X(X, names[0])
        n_out = self._output_width() if self.built else self._widths(X.shape[-1])[-1]  # (built: X's width is checked)
        Y = _check_targets(X, Y, n_out, names)
        self._compiled_loss().check_targets(Y, names[1])
        if self.metrics:
            _check_one_hot(Y, names[1])
        return X, Y

    def _cast(self, *arrays: np.ndarray) -> list[np.ndarray]:
        return [a.astype(self._dtype, copy=False) for a in arrays]

    def check_batch(self, X: npt.ArrayLike, Y: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """``X`` and ``Y`` checked as :meth:`fit` and :meth:`evaluate` check them, in the model's dtype.

        The checks of those methods and nothing more: no forward pass, nothing of the model
        changes except that an unbuilt model is built for ``X``'s width and dtype (as ``fit``
        would build it). For code that runs its own passes on a batch, such as the curvature
        products (:mod:`mlmath.curvature`) and the second-order optimizers
        (:mod:`mlmath.second_order`), which then call the unchecked protocol of the layers.

        Parameters
        ----------
        X : array_like of shape (m, n_in) or (m, T, n_in)
            Finite inputs, of the first layer's width if it is known.
        Y : array_like of shape (m, n_out) or (m, T, n_out)
            Finite targets that the compiled loss accepts (probability rows for cross-entropy),
            one-hot rows if the model was compiled with ``metrics=['accuracy']``.

        Returns
        -------
        X, Y : numpy.ndarray
            In the model's dtype (the arrays given, not copies, when they already are).

        Raises
        ------
        RuntimeError
            Before :meth:`compile` (the loss says which targets are valid).
        ValueError, TypeError
            For bad ``X`` or ``Y``, naming the argument, what was expected and what came.
        """
        self._require_compiled("check_batch")
        X, Y = self._check_XY(X, Y)
        self._ensure_built_for(X)
        X, Y = self._cast(X, Y)
        return X, Y

    def _evaluate_arrays(self, X: np.ndarray, Y: np.ndarray, batch_size: int) -> tuple[float, int]:
        loss = self._compiled_loss()
        total, correct = 0.0, 0
        for start in range(0, X.shape[0], batch_size):
            Xb, Yb = X[start : start + batch_size], Y[start : start + batch_size]
            P = self._forward(Xb)
            total += loss.value_and_grad_unchecked(Yb, P)[0] * Xb.shape[0]
            if self.metrics:
                correct += _count_correct(Yb, P)
        return total / X.shape[0], correct

    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        *,
        epochs: int = 1,
        batch_size: int = 32,
        validation_split: float = 0.0,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        shuffle: bool = True,
        verbose: int = 1,
        seed: int | None = None,
    ) -> History:
        r"""Train by minibatch gradient descent: per batch, forward, backward, one optimizer step.

        Each epoch visits the training rows once, in batches of ``batch_size`` (the last one
        may be smaller), in a fresh random order if ``shuffle``. Per batch :math:`B` the
        loss :math:`L_B` is computed, its gradient with respect to every parameter is
        backpropagated (chapter 4), and the optimizer updates the parameters in place.
        The options after ``Y`` are keyword-only (Keras's positional order differs).

        Parameters
        ----------
        X : array_like of shape (m, n_in) or (m, T, n_in)
            Finite inputs, one sample per row (or ``m`` sequences of ``T`` positions).
        Y : array_like of shape (m, n_out) or (m, T, n_out)
            Targets, per sample (or per position); one-hot rows for cross-entropy and for the ``'accuracy'`` metric
            (see :func:`mlmath.data.to_categorical`).
        epochs : int >= 1, default 1
        batch_size : int >= 1, default 32
        validation_split : float in [0, 1), default 0.0
            Fraction of rows held out for validation: the **last** rows, taken before
            shuffling (Keras's rule, :func:`mlmath.data.train_validation_split`).
        validation_data : tuple (X_val, Y_val), optional
            Separate validation rows, instead of ``validation_split``.
        shuffle : bool, default True
        verbose : {0, 1, 2}, default 1
            0 prints nothing; 1 or 2 print one line per epoch, as
            ``Epoch 3/50 - loss: 0.2212 - accuracy: 0.3450 - val_loss: 0.2231 - val_accuracy: 0.3100``.
        seed : int, optional
            Seed of the shuffling order for this call; default: the model's generator.

        Returns
        -------
        History
            ``history.history`` holds ``loss`` (the epoch's batch losses averaged with the batch
            sizes as weights, each computed before that batch's update), each metric (likewise),
            and ``val_loss`` / ``val_<metric>`` on the validation rows after the epoch, when
            there are any: one float per epoch. Also stored as ``model.history``.

        Raises
        ------
        RuntimeError
            Before :meth:`compile`.
        ValueError, TypeError
            For bad arguments, raised before anything changes.
        FloatingPointError
            If the loss or the weights become NaN or infinite; the weights, the layers' ``state``
            and the optimizer state are restored to their values before the call.
        """
        optimizer = self._require_compiled("fit")[1]
        options = check_fit_options(
            epochs=epochs, batch_size=batch_size, shuffle=shuffle, verbose=verbose, seed=seed, default_rng=self._rng
        )
        split = check_in_range(validation_split, "validation_split", 0.0, 1.0)
        X, Y = self._check_XY(X, Y)
        (X_train, Y_train), (X_val, Y_val) = self._validation_rows(X, Y, split, validation_data)
        self._ensure_built_for(X)
        X_train, Y_train = self._cast(X_train, Y_train)
        if not self._packed():  # a layer's arrays were replaced since the build
            self._pack()
        params, grads, flat = self.trainable_weights, self._grads(), self._flat
        optimizer.check_compatible(params)
        m, steps, per = X_train.shape[0], options.steps(X_train.shape[0]), _rows_per_sample(X)

        def train_step(rows: np.ndarray | slice, epoch: int, step: int) -> dict[str, float]:
            Xb, Yb = X_train[rows], Y_train[rows]
            P = self._forward(Xb)
            value = _loss_and_backward(self._layers, self._compiled_loss(), Yb, P)
            if not math.isfinite(value):
                raise diverged("loss", value, epoch, options.epochs, step, steps)
            optimizer.apply_unchecked(params, grads, flat)
            sums = {"loss": value * Xb.shape[0]}
            if self.metrics:
                sums.update(dict.fromkeys(self.metrics, _count_correct(Yb, P) / per))
            return sums

        keys = ["loss", *self.metrics]
        validate = None
        if X_val is not None and Y_val is not None:
            X_v, Y_v = self._cast(X_val, Y_val)
            keys += [f"val_{k}" for k in keys]

            def validate(epoch: int) -> dict[str, float]:
                self._set_training(False)
                val_loss, val_correct = self._evaluate_arrays(X_v, Y_v, options.batch_size)
                self._set_training(True)
                if not math.isfinite(val_loss):
                    raise diverged("validation loss", val_loss, epoch, options.epochs)
                val_accuracy = val_correct / (X_v.shape[0] * per)
                return {"val_loss": val_loss, **{f"val_{k}": val_accuracy for k in self.metrics}}

        restored = params + self.non_trainable_weights  # the state arrays are restored on failure, too
        self._set_training(True)
        try:
            self.history = run_epochs(m, options, train_step, restored, optimizer, keys, History(), validate)
        finally:
            self._set_training(False)
        self._time_steps = X.shape[1] if X.ndim == 3 else None  # the summary shows the shape trained on
        return self.history

    def _validation_rows(
        self, X: np.ndarray, Y: np.ndarray, split: float, validation_data: object
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray | None, np.ndarray | None]]:
        """Training and validation rows: the last ``split`` of ``(X, Y)``, or ``validation_data`` checked."""
        if validation_data is None:
            return train_validation_split(X, Y, split) if split > 0 else ((X, Y), (None, None))
        if split > 0:
            raise ValueError("give validation_split or validation_data, not both")
        if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
            raise TypeError("validation_data must be a pair (X_val, Y_val)")
        X_given, Y_given = validation_data
        try:
            X_val, Y_val = self._check_XY(X_given, Y_given, names=("X_val", "Y_val"))
            if X_val.ndim != X.ndim:
                raise ValueError(f"X_val must be {X.ndim}-D like X; got shape {X_val.shape} for X's {X.shape}")
            if X_val.shape[-1] != X.shape[-1]:
                raise ValueError(f"X_val has {X_val.shape[-1]} features, but X has {X.shape[-1]}")
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"validation_data = (X_val, Y_val): {exc}") from None
        return (X, Y), (X_val, Y_val)

    def evaluate(self, X: np.ndarray, Y: np.ndarray, batch_size: int = 32, verbose: int = 1) -> list[float] | float:
        """Loss and metrics on ``(X, Y)``, without training.

        Parameters
        ----------
        X : array_like of shape (m, n_in) or (m, T, n_in)
        Y : array_like of shape (m, n_out) or (m, T, n_out)
        batch_size : int >= 1, default 32
            Rows per forward pass; the loss is the mean over batches weighted by their sizes.
        verbose : {0, 1, 2}, default 1
            Non-zero prints one line, ``loss: 0.1543 - accuracy: 0.6780``.

        Returns
        -------
        list of float or float
            ``[loss, accuracy]`` with ``metrics=['accuracy']`` (so ``loss, accuracy =
            model.evaluate(X, Y)`` works); the loss alone, as a float, without metrics.
        """
        self._require_compiled("evaluate")
        batch_size = check_int(batch_size, "batch_size", 1)
        verbose = check_verbose(verbose)
        X, Y = self.check_batch(X, Y)
        self._set_training(False)
        value, correct = self._evaluate_arrays(X, Y, batch_size)
        results = [value] + [correct / (X.shape[0] * _rows_per_sample(X)) for _ in self.metrics]
        if verbose:
            names = ["loss", *self.metrics]
            print(" - ".join(f"{k}: {v:.4f}" for k, v in zip(names, results, strict=True)), flush=True)
        return results if self.metrics else value

    def predict(self, X: np.ndarray, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """The model's output for ``X``, computed ``batch_size`` rows at a time.

        Parameters
        ----------
        X : array_like of shape (m, n_in) or (m, T, n_in)
        batch_size : int >= 1, default 32
        verbose : int, default 0
            Accepted for Keras compatibility; nothing is printed.

        Returns
        -------
        numpy.ndarray of shape (m, n_out) or (m, T, n_out), in the model's dtype
            For a final softmax: one row of class probabilities per sample.
        """
        batch_size = check_int(batch_size, "batch_size", 1)
        check_verbose(verbose)
        X = self._check_X(X)
        self._ensure_built_for(X)
        (X,) = self._cast(X)
        self._set_training(False)
        out = np.empty((*X.shape[:-1], self._output_width()), dtype=self._built_dtype())
        for start in range(0, X.shape[0], batch_size):
            out[start : start + batch_size] = self._forward(X[start : start + batch_size])
        return out

    def loss_and_gradients(self, X: np.ndarray, Y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        r"""The compiled loss on all of ``(X, Y)`` and its gradient with respect to every parameter.

        One forward and one backward pass over all rows as a single batch, as ``fit`` does per
        batch, but without updating anything: the weights, the layers' ``state`` and the
        optimizer are left alone, and the layers run in inference mode (a BatchNorm uses its
        moving statistics, where ``fit``'s steps use the batch's). Derived in chapter 4, where it
        is checked against finite differences.

        Parameters
        ----------
        X : array_like of shape (m, n_in) or (m, T, n_in)
        Y : array_like of shape (m, n_out) or (m, T, n_out)

        Returns
        -------
        loss : float
            :math:`L(\theta)` averaged over the ``m`` rows as the loss defines it.
        gradients : list of numpy.ndarray
            :math:`\partial L / \partial \theta` for each array of :attr:`trainable_weights`,
            same order and shapes (copies).
        """
        self._require_compiled("loss_and_gradients")
        X, Y = self.check_batch(X, Y)
        self._set_training(False)
        value = _loss_and_backward(self._layers, self._compiled_loss(), Y, self._forward(X))
        return value, [g.copy() for g in self._grads()]

    def hessian_vector_product(
        self, X: np.ndarray, Y: np.ndarray, V: Sequence[np.ndarray] | np.ndarray
    ) -> list[np.ndarray] | np.ndarray:
        r"""The exact product :math:`HV` of the loss's Hessian with a direction ``V`` in parameter space.

        :math:`H = \nabla^2_\theta L(\theta)` is the Hessian of the compiled loss on all of
        ``(X, Y)`` (one batch, the mean over its rows, exactly as :meth:`loss_and_gradients`
        defines it) with respect to every parameter :math:`\theta` of :attr:`trainable_weights`.
        It is computed without forming :math:`H` and without finite differences, by Pearlmutter's
        R-operator (forward-over-reverse differentiation, :mod:`mlmath.curvature`): one forward
        and one backward sweep, about two gradients in time (chapter 5 and
        ``benchmarks/bench_hvp.py`` measure it). Derived in chapter 5.

        Parameters
        ----------
        X : array_like of shape (m, n_in) or (m, T, n_in)
        Y : array_like of shape (m, n_out) or (m, T, n_out)
            Checked as by :meth:`loss_and_gradients`.
        V : list of array_like, or 1-D numpy.ndarray
            The direction, in one of two forms: a list (or tuple) of arrays shaped like
            :attr:`trainable_weights`, in its order; or a 1-D numpy array of length
            :meth:`count_params`, the same arrays raveled (C order) and concatenated in that
            order (:meth:`get_flat_weights`), the form that :func:`mlmath.calculus.top_eigenvalues`
            and :func:`mlmath.calculus.hessian_from_hvp` use. Cast to the model's dtype.

        Returns
        -------
        list of numpy.ndarray, or numpy.ndarray of shape (count_params(),)
            :math:`HV` in the form of ``V``: a list of new arrays aligned with
            :attr:`trainable_weights` for a list, a flat vector for a flat ``V``; the model's dtype.

        Raises
        ------
        RuntimeError
            Before :meth:`compile`.
        ValueError, TypeError
            For bad ``X``, ``Y`` or ``V`` (wrong number of arrays, wrong shape or length,
            NaN or infinity), and for a loss without ``hessian_vector_unchecked`` or a layer
            without an R-operator (an activation needs its ``second_derivative``). Raised before
            anything changes.

        Notes
        -----
        Nothing of the model's state changes (weights, each layer's ``grads``, the optimizer);
        only the layers' forward caches are replaced. As in :meth:`loss_and_gradients`, a final
        softmax with cross-entropy uses the fused gradient :math:`(P - Y)/m`, so :math:`H` is the
        Jacobian of the gradient that :meth:`loss_and_gradients` returns: the Hessian of the loss
        wherever no probability is clipped to :math:`[\epsilon, 1 - \epsilon]`. Where relu's
        input is exactly 0, its second derivative is taken as 0, as its first derivative is.

        Examples
        --------
        For a linear model :math:`p = w^\top x + b` with mean squared error on two rows, the
        Hessian is :math:`\frac{2}{m}\begin{pmatrix} X^\top X & X^\top\mathbf{1} \\
        \mathbf{1}^\top X & m\end{pmatrix}`; its first column:

        >>> from mlmath.layers import Dense
        >>> model = Sequential([Dense(1, input_dim=2, kernel_initializer="zeros")])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> X, Y = np.array([[1.0, 2.0], [3.0, 4.0]]), np.zeros((2, 1))
        >>> model.hessian_vector_product(X, Y, np.array([1.0, 0.0, 0.0]))
        array([10., 14.,  4.])
        >>> [hv.shape for hv in model.hessian_vector_product(X, Y, [np.ones((1, 2)), np.zeros(1)])]
        [(1, 2), (1,)]
        """
        loss = self._require_compiled("hessian_vector_product")[0]
        curvature.check_hvp_support(self._layers, loss)
        X, Y = self._check_XY(X, Y)
        specs = None if self.built else self._param_specs(X.shape[-1])
        if specs is not None:  # check V before the build draws any weight: arrays of the shapes to come, no memory
            like = [np.broadcast_to(np.zeros((), X.dtype), shape) for _, shape in specs]
            curvature.check_direction(V, like, [name for name, _ in specs])
        self._ensure_built_for(X)
        X, Y = self._cast(X, Y)
        flat_form, directions = curvature.check_direction(V, self.trainable_weights, self.weight_names)
        self._set_training(False)
        result = curvature.hessian_vector_product(self._layers, loss, X, Y, directions)
        return result if flat_form else split_flat(result, [d.shape for d in directions])


def _check_layers(layers: object) -> list[Layer]:
    """The layers given to a model's constructor, as a list: each a Layer, none twice."""
    if layers is None:
        return []
    expected = "layers must be a list of layers such as [Dense(64), Activation('relu')]"
    if isinstance(layers, Layer | str | bytes):
        raise TypeError(f"{expected}; got {type(layers).__name__}")
    try:
        given = list(layers)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"{expected}; got {type(layers).__name__}") from None
    seen: dict[int, int] = {}
    for i, layer in enumerate(given):
        if not isinstance(layer, Layer):
            raise TypeError(
                f"layers[{i}] must be a layer such as Dense(64) or Activation('relu'); got {type(layer).__name__}"
            )
        if id(layer) in seen:
            raise ValueError(f"layers[{i}] is the same layer as layers[{seen[id(layer)]}]; create a new one")
        seen[id(layer)] = i
    return given


def _check_targets(X: np.ndarray, Y: object, n_out: int, names: tuple[str, str]) -> np.ndarray:
    """Targets ``Y`` for the checked inputs ``X``: ``(m, n_out)``, or ``(m, T, n_out)`` for sequences."""
    nx, ny = names
    Y = as_float_array(Y, ny, finite=False)
    if X.ndim == 3:
        if Y.shape[:2] != X.shape[:2] or Y.ndim != 3:
            raise ValueError(
                f"{ny} must be a 3-D array of shape (n_samples, T, n_outputs) = ({X.shape[0]}, {X.shape[1]}, "
                f"{n_out}), one target row per position of {nx} of shape {X.shape}; got shape {Y.shape}"
            )
    elif Y.ndim != 2:
        raise ValueError(
            f"{ny} must be a 2-D array of shape (n_samples, n_outputs); got shape {Y.shape}. "
            f"{ONE_HOT_HINT} For one output per sample, pass {ny}.reshape(-1, 1)."
        )
    check_finite(Y, ny)
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"{nx} and {ny} must have the same number of rows; got {X.shape[0]} and {Y.shape[0]}")
    if Y.shape[-1] != n_out:
        what = "columns" if Y.ndim == 2 else "values per position"
        raise ValueError(
            f"{ny} has {Y.shape[-1]} {what}, but the model outputs {n_out} values per sample. {ONE_HOT_HINT}"
        )
    return Y


def _loss_and_backward(layers: Sequence[Layer], loss: _losses.Loss, Y: np.ndarray, P: np.ndarray) -> float:
    """Loss of the last forward pass; backpropagate it, filling every layer's ``grads``."""
    last = layers[-1]
    start = len(layers) - 1
    fused = None
    if isinstance(last, Activation):
        fused = loss.fused_gradient(last.activation, Y, P)
    if fused is None:
        value, g = loss.value_and_grad_unchecked(Y, P)
    else:  # softmax + cross-entropy (or sigmoid + binary): start below the activation with P - Y
        value, g = loss.value_and_grad_unchecked(Y, P)[0], fused
        start -= 1
    for i in range(start, -1, -1):
        dX = layers[i].backprop(g, i > 0)
        if dX is not None:  # None only from the first layer (no input gradient), the last step
            g = dX
    return value


def _check_count(weights: Sequence[object], specs: Sequence[tuple[str, tuple[int, ...]]]) -> None:
    if len(weights) != len(specs):
        raise ValueError(f"weights must hold {len(specs)} arrays, as from get_weights(); got {len(weights)}")


def _metric_names(metrics: object) -> list[str]:
    """The metrics given to :meth:`Sequential.compile`, checked: none, or ``["accuracy"]`` / ``["acc"]``."""
    if metrics is None:
        return []
    if isinstance(metrics, str) or not isinstance(metrics, Sequence):
        raise TypeError(f"metrics must be a list such as ['accuracy']; got {metrics!r}")
    names = list(metrics)
    for metric in names:
        if metric not in _METRICS:
            raise ValueError(f"unknown metric {metric!r}; supported metrics: 'accuracy' (alias 'acc')")
    if len(set(names)) != len(names):
        raise ValueError(f"metrics must not repeat; got {names}")
    return names


def _summary_lines(
    name: str, layers: Sequence[Layer], widths: Sequence[int | None], time_steps: int | None = None
) -> list[str]:
    """The lines of :meth:`Sequential.summary`, Keras's table (``(None, T, n)`` for sequences of ``T`` positions).

    As in Keras, a layer's count includes its non-trainable ``state`` (known once it is built). A
    ``name (Type)`` too long for its column goes on two lines, the type below the name, as Keras 2
    wraps it; the column widens (and the rules with it) only for a name that does not fit alone.
    """
    width = max([27, *(len(layer.name or "") for layer in layers)]) + 1  # Keras's 28, or the longest name + 1
    rule = "_" * (width + 37)
    lines = [f'Model: "{name}"', rule, f" {'Layer (type)':<{width}}{'Output Shape':<26}Param #", "=" * (width + 37)]
    total: int | None = 0
    fixed = 0
    steps = "" if time_steps is None else f"{time_steps}, "
    for layer, w_in, w_out in zip(layers, widths[:-1], widths[1:], strict=True):
        count = layer.params_for_width(w_in)
        state = sum(a.size for a in layer.state.values())
        fixed += state
        count = None if count is None else count + state
        shape = f"(None, {steps}{w_out if w_out is not None else '?'})"
        label, kind = f"{layer.name} ({type(layer).__name__})", f"({type(layer).__name__})"
        wrapped = len(label) >= width
        first = layer.name if wrapped else label
        lines.append(f" {first:<{width}}{shape:<26}{'?' if count is None else f'{count:,}'}")
        if wrapped:
            lines.append(f" {kind}")
        total = None if (total is None or count is None) else total + count
    shown = "?" if total is None else f"{total:,}"
    trainable = "?" if total is None else f"{total - fixed:,}"
    lines += [
        "=" * (width + 37),
        f"Total params: {shown}",
        f"Trainable params: {trainable}",
        f"Non-trainable params: {fixed:,}",
    ]
    return [*lines, rule]
