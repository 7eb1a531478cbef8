r"""Layers with a hand-derived backward pass beside each forward pass.

Derived in chapter 4. Convention: a batch ``X`` of shape ``(m, n_in)`` holds one sample per
row; :class:`Dense` stores ``W`` of shape ``(n_out, n_in)`` (the book's :math:`z = Wx + b`,
**not** Keras's kernel of shape ``(n_in, n_out)``) and computes
:math:`Z = XW^\top + \mathbf{1}b^\top`. A batch of sequences has shape ``(m, T, n_in)``: the
layers act on the last axis (the width), position by position, as Keras's do.

Every layer offers the same small interface:

- ``build(n_in, rng=None, dtype=np.float64)`` creates the parameters for inputs of width ``n_in``;
- ``forward(X)`` returns the output and caches what the backward pass needs;
- ``backward(dA)`` takes :math:`\partial L/\partial A` for the last forward's output ``A``,
  fills ``grads`` (overwriting, not accumulating) and returns :math:`\partial L/\partial X`;
- ``params`` and ``grads`` are dicts name → array with the same keys (``{"W": ..., "b": ...}``
  for :class:`Dense`, empty for :class:`Activation`);
- ``output_shape`` is ``(None, n_out)`` (``None`` stands for the batch size) and
  ``count_params()`` the number of parameters; ``param_shapes(n_in)`` and
  ``params_for_width(n_in)`` give the parameters' shapes and number for inputs of width ``n_in``
  before the layer is built, where they are known.

**The protocol** that models (:mod:`mlmath.models`, :mod:`mlmath.training`) and
:mod:`mlmath.curvature` call, unchecked, on the hot path; a new layer implements these and
nothing else (plus ``_build`` if it has parameters and ``compute_output_dim``):

- ``call(X)``: the forward pass, caching what the backward pass needs;
- ``backprop(dA, input_grad)``: fills ``grads`` and returns :math:`\partial L/\partial X`
  (``None`` when ``input_grad`` is false, for the first layer);
- ``r_call(XX, V)`` and ``r_backprop(GG, V, input_grad, out)``: Pearlmutter's R-operator,
  :math:`R\{Q\} = \frac{d}{dt}Q(\theta + tV)\big|_{t=0}` for a direction :math:`V` in
  parameter space, carried through the forward and the backward pass (chapter 5);
  ``hvp_unsupported_reason()`` says why a layer cannot take part, and ``clear_r_cache()``
  drops what ``r_call`` kept;
- ``training``: ``True`` while ``fit`` runs its training steps, ``False`` otherwise (Keras's
  training mode: :class:`~mlmath.normalization.BatchNormalization` uses batch statistics only then);
- ``state``: dict name → non-trainable array (BatchNorm's moving statistics), updated in place
  so that a failed ``fit`` can restore it; not in ``params``, not touched by optimizers.

In ``r_call`` and ``r_backprop`` each quantity travels with its R-derivative, stacked in one
array of shape ``(2, m, n)`` so that a matrix product serves both: ``[Q, R{Q}]`` forward and
``[R{dQ}, dQ]`` backward (the opposite order makes :math:`R\{dW\} = R\{dZ\}^\top X + dZ^\top R\{X\}`
a single product over the stacked batch). A forward stack of shape ``(1, m, n)`` stands for
:math:`R\{Q\} = 0`, as at the model's input.

The layers of the other modules can be imported from here too, as from Keras's ``keras.layers``
(each is loaded on first use, so ``import mlmath.layers`` stays light):
:class:`~mlmath.normalization.LayerNormalization` and :class:`~mlmath.normalization.BatchNormalization`
(and their aliases ``LayerNorm``, ``BatchNorm``), :class:`~mlmath.attention.MultiHeadAttention`,
:class:`~mlmath.residual.Residual`, :class:`~mlmath.positional.PositionEmbedding` and
:class:`~mlmath.positional.SinusoidalPositionEncoding`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Collection
from typing import Any

import numpy as np

from mlmath import activations, initializers
from mlmath._validation import (
    as_float_array,
    as_generator,
    check_bool,
    check_dtype,
    check_finite,
    check_generator,
    check_int,
    check_size,
    check_str,
    lookup,
)

__all__ = ["Activation", "Dense", "Layer", "default_name"]

# The layers of the other modules, importable from here too as Keras's ``keras.layers`` has them
# (``from mlmath.layers import LayerNormalization``); loaded on first use by ``__getattr__``, so that
# ``import mlmath.layers`` stays light and those modules can import this one without a cycle.
_ELSEWHERE = {
    "BatchNorm": "mlmath.normalization",
    "BatchNormalization": "mlmath.normalization",
    "LayerNorm": "mlmath.normalization",
    "LayerNormalization": "mlmath.normalization",
    "MultiHeadAttention": "mlmath.attention",
    "PositionEmbedding": "mlmath.positional",
    "Residual": "mlmath.residual",
    "SinusoidalPositionEncoding": "mlmath.positional",
}


def __getattr__(name: str) -> Any:
    """The layers listed in ``_ELSEWHERE``, from their own modules, on first use (PEP 562)."""
    module = _ELSEWHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups find it directly
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_ELSEWHERE})


def _check_width(n_in: object) -> None:
    """An input width: ``None`` (unknown) or a size >= 1."""
    if n_in is not None:
        check_size(n_in, "n_in")


def as_batch(X: object, name: str = "X") -> np.ndarray:
    """``X`` checked as a batch a layer takes: finite, of shape ``(m, n)`` or ``(m, T, n)``, nothing empty.

    Raises ``ValueError`` for another number of axes (with the reshape hint for a 1-D array) or
    an empty axis, ``TypeError`` for what is not real numbers.
    """
    arr = as_float_array(X, name, finite=False)
    if arr.ndim != 3:
        arr = as_float_array(
            arr, name, ndim=2, shape_hint="(n_samples, n_features) or a 3-D array of shape (n_samples, T, n_features)"
        )
    else:
        check_finite(arr, name)
    if 0 in arr.shape[:-1]:
        what = "one sample" if arr.ndim == 2 else "one sample of at least one position"
        raise ValueError(f"{name} must hold at least {what}; got shape {arr.shape}")
    return arr


def features_error(layer: str, got: int, expected: int, name: str = "X") -> ValueError:
    """The error for inputs of the wrong width (scikit-learn's wording)."""
    return ValueError(f"{name} has {got} features, but {layer} is expecting {expected} features as input.")


def default_name(layer: Layer, taken: Collection[str] = ()) -> str:
    """The name Keras would give ``layer``: its class name in snake_case, numbered past the names ``taken``.

    ``Dense`` gives ``"dense"``, then ``"dense_1"``, ``"dense_2"``, ... as ``taken`` fills up;
    ``MultiHeadAttention`` gives ``"multi_head_attention"``, ``LayerNormalization``
    ``"layer_normalization"``, ``LSTM`` ``"lstm"`` (Keras's rule: an underscore before each
    capital that starts a lower-case word, and between a lower-case letter and a capital).
    An alias names the class it stands for (``LayerNorm`` is ``LayerNormalization``).
    :meth:`mlmath.models.Sequential.add` and :class:`mlmath.residual.Residual` name unnamed
    layers with it.

    Raises ``TypeError`` if ``layer`` is not a :class:`Layer` or ``taken`` is not a collection of names.

    Examples
    --------
    >>> default_name(Dense(3)), default_name(Dense(3), taken={"dense", "dense_1"})
    ('dense', 'dense_2')
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"layer must be a layer such as Dense(64); got {type(layer).__name__}")
    if isinstance(taken, str) or not isinstance(taken, Collection):
        raise TypeError(f"taken must be a collection of layer names, such as a set; got {type(taken).__name__}")
    words = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", type(layer).__name__)
    base = re.sub(r"([a-z])([A-Z])", r"\1_\2", words).lower()
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


_KERNEL_INITIALIZERS = dict.fromkeys(("glorot_uniform", "he_uniform", "zeros", "ones"), True)
_BIAS_INITIALIZERS = dict.fromkeys(("zeros", "ones"), True)


# ---------------------------------------------------------------------------
# base class
# ---------------------------------------------------------------------------


class Layer:
    """Base class of the layers: holds ``params``, ``grads``, the input width and the dtype.

    Subclasses implement the protocol of this module (``call``, ``backprop``, and for exact
    Hessian-vector products ``r_call``, ``r_backprop``), ``compute_output_dim`` and, with
    parameters, ``_build``; the public ``build``, ``forward`` and ``backward`` check their
    arguments and call them.

    Parameters
    ----------
    name : str, optional
        A name for :meth:`mlmath.models.Sequential.summary`; ``Sequential.add`` gives unnamed
        layers ``"dense"``, ``"dense_1"``, ... in order.
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = check_str(name, "name", allow_none=True)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.n_in: int | None = None
        self.dtype: np.dtype | None = None
        self.built = False
        self._cache: tuple[np.ndarray, ...] | None = None
        self._r_cache: tuple[Any, ...] | None = None
        self.training = False
        self.state: dict[str, np.ndarray] = {}

    # -- interface ----------------------------------------------------------------------------

    def compute_output_dim(self, n_in: int) -> int:
        """Width of the output for inputs of width ``n_in``."""
        raise NotImplementedError

    def build(self, n_in: int, rng: np.random.Generator | None = None, dtype: object = np.float64) -> None:
        """Create the parameters for inputs of width ``n_in``, drawn from ``rng``, in ``dtype``.

        Parameters
        ----------
        n_in : int
            Number of input features.
        rng : numpy.random.Generator, optional
            Source of the initial weights (a layer built with its own ``seed`` ignores it);
            ``None`` draws fresh entropy.
        dtype : float32 or float64, default float64
            The parameters' dtype; inputs of another dtype are cast to it by ``forward``.
        """
        n_in = check_size(n_in, "n_in")
        check_generator(rng, allow_none=True)
        dt = check_dtype(dtype)
        self._build(n_in, rng, dt)
        self.n_in, self.dtype, self.built, self._cache = n_in, dt, True, None

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Return the layer's output for the batch ``X``; cache for backward.

        ``X`` has shape ``(m, n_in)`` (one sample per row) or ``(m, T, n_in)`` (a sequence of
        ``T`` positions per sample); a layer acts on the last axis, its width. An unbuilt layer is
        built first, for ``X``'s width and dtype.
        """
        X = as_batch(X, "X")
        if self.n_in is not None and X.shape[-1] != self.n_in:
            raise features_error(type(self).__name__, X.shape[-1], self.n_in)
        if not self.built:
            self.build(X.shape[-1], None, X.dtype)
        return self.call(X.astype(self.dtype, copy=False))

    def backward(self, dA: np.ndarray) -> np.ndarray:
        """Return :math:`\\partial L/\\partial X` given ``dA`` = :math:`\\partial L/\\partial A`; fill ``grads``.

        ``dA`` must have the shape of the last ``forward`` output.
        """
        if self._cache is None:
            raise RuntimeError(f"call {type(self).__name__}.forward(X) before backward(dA)")
        expected = self._output_shape_of_cache()
        dA = as_float_array(dA, "dA")
        if dA.shape != expected:
            raise ValueError(f"dA must have the shape of the last forward output, {expected}; got shape {dA.shape}")
        dX = self.backprop(dA.astype(self.dtype, copy=False), True)
        if dX is None:  # backprop returns None only when asked not to (input_grad=False)
            raise RuntimeError(f"{type(self).__name__}.backprop returned no input gradient")
        return dX

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Same as :meth:`forward`."""
        return self.forward(X)

    @property
    def built_n_in(self) -> int:
        """The input width ``build`` stored (an error before the layer is built)."""
        if self.n_in is None:
            raise RuntimeError(f"call {type(self).__name__}.build(n_in) before using its input width")
        return self.n_in

    @property
    def output_dim(self) -> int | None:
        """Width of the output, or ``None`` while it is unknown."""
        return None if self.n_in is None else self.compute_output_dim(self.n_in)

    @property
    def output_shape(self) -> tuple[None, int | None]:
        """``(None, n_out)``: ``None`` stands for the batch size."""
        return (None, self.output_dim)

    def count_params(self) -> int:
        """Number of scalar parameters (0 for layers without parameters)."""
        return sum(p.size for p in self.params.values())

    def params_for_width(self, n_in: int | None) -> int | None:
        """Number of parameters once built for inputs of width ``n_in`` (``None`` if unknown)."""
        _check_width(n_in)
        if self.built:
            return self.count_params()
        return 0 if not self.params else None

    def param_shapes(self, n_in: int) -> dict[str, tuple[int, ...]] | None:
        """The shapes of ``params`` once built for inputs of width ``n_in``; ``None`` while unknown.

        A built layer answers with its parameters' shapes; an unbuilt one only if its class knows
        them in advance (a layer creating its parameters in ``_build`` overrides this method), so
        a model can check weights given for it before drawing any.
        """
        check_size(n_in, "n_in")
        if self.built:
            return {key: p.shape for key, p in self.params.items()}
        return None

    # -- the protocol (unchecked: the model checked its inputs once) -------------------------

    def call(self, X: np.ndarray) -> np.ndarray:
        """Forward pass on a finite batch of the layer's dtype and width; caches for :meth:`backprop`."""
        raise NotImplementedError

    def backprop(self, dA: np.ndarray, input_grad: bool) -> np.ndarray | None:
        """Backward pass after :meth:`call`: fill ``grads``; return ``dX`` if ``input_grad``, else ``None``."""
        raise NotImplementedError

    def hvp_unsupported_reason(self) -> str | None:
        """Why this layer cannot take part in an exact Hessian-vector product (``None`` if it can)."""
        return f"{type(self).__name__} has no R-operator (r_call and r_backprop)"

    def r_call(self, XX: np.ndarray, V: dict[str, np.ndarray]) -> np.ndarray:
        """Forward pass and its directional derivative: the stack ``[A, R{A}]`` from ``[X, R{X}]``.

        ``XX`` has shape ``(2, m, n_in)`` (``(2, m, T, n_in)`` for sequences), or ``(1, ...)`` when
        :math:`R\\{X\\} = 0`; ``V`` maps each key of ``params`` to its direction, of the same
        shape. Caches as :meth:`call` does (so ``backward`` still works) and keeps the R-parts for
        :meth:`r_backprop`.
        """
        raise NotImplementedError

    def r_backprop(
        self, GG: np.ndarray, V: dict[str, np.ndarray], input_grad: bool, out: dict[str, np.ndarray]
    ) -> np.ndarray | None:
        """Backward pass and its directional derivative: ``[R{dX}, dX]`` from ``[R{dA}, dA]``.

        Writes :math:`R\\{\\partial L/\\partial\\theta\\}` (the layer's block of :math:`HV`) into the
        arrays of ``out`` (one per key of ``params``). ``GG`` may be overwritten. Returns
        ``None`` when ``input_grad`` is false.
        """
        raise NotImplementedError

    def clear_r_cache(self) -> None:
        """Drop what the last :meth:`r_call` kept (its arrays are as large as the batch)."""
        self._r_cache = None

    # -- implementation hooks and cache accessors (this class hierarchy only) ----------------

    def _build(self, n_in: int, rng: np.random.Generator | None, dtype: np.dtype) -> None:
        pass

    def _output_shape_of_cache(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _cached(self) -> tuple[np.ndarray, ...]:
        """The arrays the last forward pass kept for the backward pass."""
        if self._cache is None:
            raise RuntimeError(f"call {type(self).__name__}.forward(X) before backward(dA)")
        return self._cache

    def _r_cached(self) -> tuple[Any, ...]:
        """What the last :meth:`r_call` kept for :meth:`r_backprop`."""
        if self._r_cache is None:
            raise RuntimeError(f"call {type(self).__name__}.r_call(XX, V) before r_backprop")
        return self._r_cache


# ---------------------------------------------------------------------------
# Dense
# ---------------------------------------------------------------------------


class Dense(Layer):
    r"""Fully connected layer :math:`Z = XW^\top + \mathbf{1}b^\top`, ``W`` of shape ``(units, n_in)``.

    Derived in chapter 1 (forward) and chapter 4 (backward). On a batch of sequences ``X`` of
    shape ``(m, T, n_in)`` the layer acts on the last axis, the same :math:`W` and :math:`b` at
    every position (position-wise, as Keras's ``Dense``): the rows of all samples and positions
    are stacked into one ``(m T, n_in)`` matrix (a view, no copy), so the forward pass, ``dW``
    (summed over samples **and** positions) and ``dX`` are each one matrix product.

    Parameters
    ----------
    units : int
        Number of outputs :math:`n_{out}`.
    input_dim : int, optional
        Number of inputs :math:`n_{in}`. Needed on the first layer only if the model must know
        its input width before it sees data; otherwise taken from ``X``.
    kernel_initializer : {"glorot_uniform", "he_uniform", "zeros", "ones"}
        How ``W`` starts (:mod:`mlmath.initializers`). ``"glorot_uniform"`` (Keras's default)
        draws from :math:`U(-\ell, \ell)`, :math:`\ell = \sqrt{6 / (n_{in} + n_{out})}`;
        ``"he_uniform"`` uses :math:`\ell = \sqrt{6 / n_{in}}`.
    bias_initializer : {"zeros", "ones"}
        How ``b`` starts.
    use_bias : bool, default True
        Without a bias the layer is :math:`Z = XW^\top` and ``params`` holds ``W`` alone.
    seed : int, optional
        Seed of this layer's own generator: with it the layer starts from the same weights
        whatever generator ``build`` is given. Without it the weights come from the ``rng``
        passed to ``build`` (a ``Sequential`` passes its own).
    name : str, optional

    Attributes
    ----------
    params : dict
        ``{"W": array of shape (units, n_in), "b": array of shape (units,)}`` once built
        (``{"W": ...}`` alone without ``use_bias``).
    grads : dict
        ``{"W": dW, "b": db}``, the same shapes, filled by :meth:`backward`.

    Notes
    -----
    PyTorch's ``nn.Linear(n_in, units)`` stores ``weight`` in this layout, ``(units, n_in)``;
    Keras's ``Dense`` stores ``kernel`` = :math:`W^\top`, of shape ``(n_in, units)``.

    Examples
    --------
    >>> layer = Dense(2, input_dim=3, kernel_initializer="ones")
    >>> layer.build(3)
    >>> layer.forward(np.array([[1.0, 2.0, 3.0]]))
    array([[6., 6.]])
    >>> layer.params["W"].shape, layer.output_shape, layer.count_params()
    ((2, 3), (None, 2), 8)
    """

    def __init__(
        self,
        units: int,
        input_dim: int | None = None,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        seed: int | None = None,
        name: str | None = None,
        use_bias: bool = True,
    ) -> None:
        super().__init__(name)
        self.units = check_size(units, "units")
        self.use_bias = check_bool(use_bias, "use_bias")
        self.input_dim = None if input_dim is None else check_size(input_dim, "input_dim")
        lookup(_KERNEL_INITIALIZERS, kernel_initializer, "kernel_initializer")
        lookup(_BIAS_INITIALIZERS, bias_initializer, "bias_initializer")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.seed = None if seed is None else check_int(seed, "seed", 0)
        if self.input_dim is not None:
            self.n_in = self.input_dim

    def compute_output_dim(self, n_in: int) -> int:
        """Always ``units`` (for any input width ``n_in >= 1``)."""
        check_size(n_in, "n_in")
        return self.units

    def params_for_width(self, n_in: int | None) -> int | None:
        """``units * (n_in + 1)`` (``units * n_in`` without ``use_bias``)."""
        _check_width(n_in)
        if self.built:
            return self.count_params()
        return None if n_in is None else self.units * (n_in + self.use_bias)

    def param_shapes(self, n_in: int) -> dict[str, tuple[int, ...]] | None:
        """``{"W": (units, n_in), "b": (units,)}`` (no ``"b"`` without ``use_bias``), built or not."""
        n_in = check_size(n_in, "n_in")
        if self.built:
            return super().param_shapes(n_in)
        return {"W": (self.units, n_in), "b": (self.units,)} if self.use_bias else {"W": (self.units, n_in)}

    def _build(self, n_in: int, rng: np.random.Generator | None, dtype: np.dtype) -> None:
        if self.input_dim is not None and n_in != self.input_dim:
            raise features_error("Dense", n_in, self.input_dim, "n_in")
        if self.seed is not None or rng is None:
            rng = as_generator(self.seed)
        W = initializers.draw(self.kernel_initializer, (self.units, n_in), rng)
        self.params = {"W": W.astype(dtype)}
        self.grads = {"W": np.zeros((self.units, n_in), dtype)}
        if self.use_bias:
            self.params["b"] = initializers.draw(self.bias_initializer, (self.units,), rng).astype(dtype)
            self.grads["b"] = np.zeros(self.units, dtype)

    def call(self, X: np.ndarray) -> np.ndarray:
        r"""Forward: :math:`Z = XW^\top + \mathbf{1}b^\top` on the last axis of ``X``; caches ``X``."""
        W = self.params["W"]
        Z = (X.reshape(-1, W.shape[1]) @ W.T).reshape(*X.shape[:-1], self.units)
        if self.use_bias:
            Z += self.params["b"]
        self._cache = (X,)
        return Z

    def backprop(self, dZ: np.ndarray, input_grad: bool) -> np.ndarray | None:
        r"""Backward of :math:`Z = XW^\top + \mathbf{1}b^\top`.

        .. math::

            \frac{\partial L}{\partial W} = dZ^\top X, \qquad
            \frac{\partial L}{\partial b} = dZ^\top \mathbf{1}, \qquad
            \frac{\partial L}{\partial X} = dZ\, W,

        with ``dZ`` of shape ``(m, n_out)``: ``dW`` is ``(n_out, n_in)`` like ``W``, ``db`` sums
        ``dZ`` over the batch, ``dX`` is ``(m, n_in)`` like ``X``. For sequences, ``dZ`` and
        ``X`` are first viewed as ``(m T, n_out)`` and ``(m T, n_in)``: the sums run over the
        samples and the positions.
        """
        (X,) = self._cached()
        W = self.params["W"]
        dZ2 = dZ.reshape(-1, self.units)
        np.matmul(dZ2.T, X.reshape(-1, W.shape[1]), out=self.grads["W"])
        if self.use_bias:
            dZ2.sum(axis=0, out=self.grads["b"])
        return (dZ2 @ W).reshape(X.shape) if input_grad else None

    def _output_shape_of_cache(self) -> tuple[int, ...]:
        return (*self._cached()[0].shape[:-1], self.units)

    def hvp_unsupported_reason(self) -> str | None:
        return None

    def r_call(self, XX: np.ndarray, V: dict[str, np.ndarray]) -> np.ndarray:
        r"""Forward pass with its directional derivative along ``V = {"W": R{W}, "b": R{b}}``.

        Differentiating :math:`Z = XW^\top + \mathbf{1}b^\top` along the direction (product rule):

        .. math::

            R\{Z\} = R\{X\}\,W^\top + X\,R\{W\}^\top + \mathbf{1}R\{b\}^\top,

        with :math:`R\{X\} = 0` for the model's input (``XX`` of shape ``(1, m, n_in)``).
        Returns the stack ``[Z, R{Z}]`` of shape ``(2, m, units)`` (``(2, m, T, units)`` for sequences).
        """
        W, RW = self.params["W"], V["W"]
        k, lead, n_in = XX.shape[0], XX.shape[1:-1], XX.shape[-1]
        X = XX[0].reshape(-1, n_in)
        m = X.shape[0]  # samples times positions
        if k == 1:
            ZZ = np.empty((2, m, self.units), dtype=W.dtype)
            np.matmul(X, W.T, out=ZZ[0])
            np.matmul(X, RW.T, out=ZZ[1])
        else:  # [X W^T, R{X} W^T] in one product, then add X R{W}^T
            ZZ = (XX.reshape(2 * m, n_in) @ W.T).reshape(2, m, self.units)
            ZZ[1] += X @ RW.T
        if self.use_bias:
            ZZ[0] += self.params["b"]
            ZZ[1] += V["b"]
        self._cache, self._r_cache = (XX[0],), (XX,)
        return ZZ.reshape(2, *lead, self.units)

    def r_backprop(
        self, GG: np.ndarray, V: dict[str, np.ndarray], input_grad: bool, out: dict[str, np.ndarray]
    ) -> np.ndarray | None:
        r"""Backward pass with its directional derivative (the product rule on each formula of ``backprop``).

        .. math::

            R\{dW\} = R\{dZ\}^\top X + dZ^\top R\{X\}, \qquad
            R\{db\} = R\{dZ\}^\top \mathbf{1}, \qquad
            R\{dX\} = R\{dZ\}\,W + dZ\,R\{W\}, \qquad dX = dZ\,W.

        ``GG = [R{dZ}, dZ]``; ``R{dW}`` (one product over the stacked batch ``[R{dZ}, dZ]`` and
        ``[X, R{X}]``) and ``R{db}`` are written into ``out["W"]`` and ``out["b"]``. Returns
        ``[R{dX}, dX]`` if ``input_grad``.
        """
        (XX,) = self._r_cached()
        k, n_in = XX.shape[0], XX.shape[-1]
        G2 = GG.reshape(2, -1, self.units)  # samples (and positions) stacked
        m = G2.shape[1]
        np.matmul(G2[:k].reshape(k * m, self.units).T, XX.reshape(k * m, n_in), out=out["W"])
        if self.use_bias:
            G2[0].sum(axis=0, out=out["b"])
        if not input_grad:
            return None
        DD = (G2.reshape(2 * m, self.units) @ self.params["W"]).reshape(2, m, n_in)
        DD[0] += G2[1] @ V["W"]
        return DD.reshape(2, *XX.shape[1:])

    def backward(self, dA: np.ndarray) -> np.ndarray:
        r"""Return ``dX`` = :math:`dZ\,W`; fill ``grads`` with :math:`dW = dZ^\top X`, :math:`db = dZ^\top\mathbf{1}`.

        Parameters
        ----------
        dA : array_like of shape (m, units) or (m, T, units)
            :math:`\partial L / \partial Z` for the output ``Z`` of the last :meth:`forward`.

        Returns
        -------
        numpy.ndarray of shape (m, n_in) or (m, T, n_in)
            :math:`\partial L / \partial X`.
        """
        return super().backward(dA)

    def __repr__(self) -> str:
        extra = "" if self.input_dim is None else f", input_dim={self.input_dim}"
        extra += "" if self.use_bias else ", use_bias=False"
        return f"Dense({self.units}{extra})"


# ---------------------------------------------------------------------------
# Activation
# ---------------------------------------------------------------------------


class Activation(Layer):
    r"""Apply an activation function: :math:`A = f(Z)`, elementwise or (softmax) along the last axis.

    Derived in chapter 3 (the functions) and chapter 4 (the layer's backward pass). The layer
    holds no rule of its own: the :class:`~mlmath.activations.ActivationFunction` owns
    :math:`f`, :math:`f'`, :math:`f''` and the R-operator rules, so any such object, built-in or
    user-made, works in training and in exact Hessian-vector products alike.

    Parameters
    ----------
    activation : str or mlmath.activations.ActivationFunction
        ``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"softmax"``, ``"log_softmax"`` or
        ``"linear"`` (see :func:`mlmath.activations.get`), or an object of one's own.
    name : str, optional

    Examples
    --------
    >>> layer = Activation("relu")
    >>> layer.forward(np.array([[-1.0, 2.0]]))
    array([[0., 2.]])
    >>> layer.backward(np.array([[5.0, 5.0]]))
    array([[0., 5.]])
    """

    def __init__(self, activation: str | activations.ActivationFunction, name: str | None = None) -> None:
        super().__init__(name)
        self.activation = activations.get(activation)

    def compute_output_dim(self, n_in: int) -> int:
        """Same width as the input."""
        return check_size(n_in, "n_in")

    def param_shapes(self, n_in: int) -> dict[str, tuple[int, ...]] | None:
        """``{}``: an activation has no parameters."""
        check_size(n_in, "n_in")
        return {}

    def call(self, Z: np.ndarray) -> np.ndarray:
        A = self.activation.forward(Z)
        self._cache = (Z, A)
        return A

    def backprop(self, dA: np.ndarray, input_grad: bool) -> np.ndarray:
        Z, A = self._cached()
        return self.activation.backward(Z, A, dA)

    def _output_shape_of_cache(self) -> tuple[int, ...]:
        return self._cached()[1].shape

    def hvp_unsupported_reason(self) -> str | None:
        if self.activation.supports_hvp:
            return None
        return (
            f"Activation({self.activation.name!r}) has no second_derivative; give its "
            "ActivationFunction one (or 0 if it is piecewise linear)"
        )

    def r_call(self, ZZ: np.ndarray, V: dict[str, np.ndarray]) -> np.ndarray:
        r"""The stack ``[A, R{A}]`` with :math:`R\{A\} = J_f(Z)\,R\{Z\}` (``ActivationFunction.r_forward``)."""
        Z = ZZ[0]
        RZ = ZZ[1] if ZZ.shape[0] == 2 else np.zeros_like(Z)
        AA = np.empty((2, *Z.shape), dtype=Z.dtype)
        AA[0] = self.activation.forward(Z)
        AA[1], saved = self.activation.r_forward(Z, AA[0], RZ)
        self._cache = (Z, AA[0])
        self._r_cache = (RZ, AA[1], saved)
        return AA

    def r_backprop(
        self, GG: np.ndarray, V: dict[str, np.ndarray], input_grad: bool, out: dict[str, np.ndarray]
    ) -> np.ndarray:
        r"""``[R{dZ}, dZ]`` from ``[R{dA}, dA]`` (``ActivationFunction.r_backward``); elementwise

        .. math:: R\{dZ\} = f''(Z) \odot R\{Z\} \odot dA + f'(Z) \odot R\{dA\}.
        """
        Z, A = self._cached()
        RZ, RA, saved = self._r_cached()
        return self.activation.r_backward(Z, A, RZ, RA, saved, GG)

    def backward(self, dA: np.ndarray) -> np.ndarray:
        r"""Return :math:`\partial L/\partial Z` from ``dA`` = :math:`\partial L/\partial A`.

        Elementwise activations give :math:`dZ = dA \odot f'(Z)`: relu :math:`dA \odot
        \mathbb{1}[Z > 0]`, sigmoid :math:`dA \odot A(1 - A)`, tanh :math:`dA \odot (1 - A^2)`.
        Softmax gives the vector-Jacobian product row by row,
        :math:`dZ = A \odot (dA - (dA \odot A)\mathbf{1}\mathbf{1}^\top)`
        (:func:`mlmath.activations.softmax_vjp`), never forming the Jacobian.

        Parameters
        ----------
        dA : array_like of shape (m, n) or (m, T, n)
            Gradient with respect to the last :meth:`forward` output.

        Returns
        -------
        numpy.ndarray of the shape of ``dA``
        """
        return super().backward(dA)

    def __repr__(self) -> str:
        return f"Activation({self.activation.name!r})"
