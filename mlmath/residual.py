r"""The residual connection :math:`y = x + F(x)`: a skip around a few layers.

Derived in chapter 8. With :math:`F` the given layers applied in order, the block's Jacobian
is :math:`I + J_F`, so the backward pass adds the gradient that arrives, unchanged, to the one
that comes back through :math:`F`; the product of such Jacobians through depth keeps the
identity's contribution, which is why deep stacks of residual blocks still pass gradients
(He, Zhang, Ren and Sun, 2016, in the book's bibliography).
"""

from __future__ import annotations

import numpy as np

from mlmath._validation import check_size
from mlmath.layers import Layer, default_name

__all__ = ["Residual"]


class _Linked(dict[str, np.ndarray]):
    """A dict whose entries are also the inner layers' entries: setting ``d[key]`` sets the linked one too.

    A model packs every parameter into one buffer by replacing ``layer.params[key]`` with a
    view (:class:`mlmath.models.LayerStack`); through this dict the inner layer gets the same
    view, so the block and its layers never hold different arrays.
    """

    def __init__(self, links: dict[str, tuple[dict[str, np.ndarray], str]]) -> None:
        super().__init__((key, target[k]) for key, (target, k) in links.items())
        self._links = links

    def __setitem__(self, key: str, value: np.ndarray) -> None:
        super().__setitem__(key, value)
        links = self.__dict__.get("_links")  # absent while an unpickled copy is being filled
        if links is not None and key in links:
            target, k = links[key]
            target[k] = value


class Residual(Layer):
    r"""Residual block :math:`Y = X + F(X)`, :math:`F` the given layers in order; ``F`` must keep the width.

    Derived in chapter 8. Works on batches ``(m, n)`` and sequences ``(m, T, n)`` alike; the
    layers of :math:`F` may be any layers of :mod:`mlmath.layers` and :mod:`mlmath.normalization`,
    or other residual blocks (a pre-LN transformer sub-layer is
    ``Residual(LayerNorm(), Dense(4 * d), Activation("relu"), Dense(d))``).

    Parameters
    ----------
    *layers : Layer
        The layers of :math:`F`, at least one; each at most once. Unnamed ones are named by
        type within the block, as Keras would (``"dense"``, ``"dense_1"``, ``"layer_normalization"``,
        ...; :func:`mlmath.layers.default_name`).
    name : str, optional

    Attributes
    ----------
    layers : list of Layer
        The layers of :math:`F`.
    params, grads : dict
        The inner layers' arrays themselves, under ``"<inner name>/<key>"`` (``"dense/W"``), so
        the model's :attr:`~mlmath.models.LayerStack.weight_names` read ``"residual/dense/W"``.
    state : dict
        The inner layers' ``state`` arrays (BatchNorm's moving statistics), named the same way.

    Notes
    -----
    .. math::

        \frac{\partial Y}{\partial X} = I + J_F, \qquad
        dX = dY + J_F^\top dY, \qquad R\{Y\} = R\{X\} + R\{F(X)\},

    and :math:`R\{dX\} = R\{dY\} + R\{J_F^\top dY\}`: the R-operator rules chain those of the
    inner layers and add the skip, as the backward pass does.

    Examples
    --------
    >>> from mlmath.layers import Dense
    >>> block = Residual(Dense(2, kernel_initializer="ones"))
    >>> block.forward(np.array([[1.0, 2.0]]))  # x + W x with W all ones
    array([[4., 5.]])
    >>> block.backward(np.array([[1.0, 0.0]]))  # (I + W)^T dY
    array([[2., 1.]])
    >>> sorted(block.params)
    ['dense/W', 'dense/b']
    """

    def __init__(self, *layers: Layer, name: str | None = None) -> None:
        if not layers:
            raise ValueError("Residual needs at least one layer for F, e.g. Residual(Dense(64), Activation('relu'))")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a layer such as Dense(64); got {type(layer).__name__}")
            if any(layer is other for other in layers[:i]):
                raise ValueError(f"layers[{i}] is the same layer as an earlier one; create a new one")
        self.layers: list[Layer] = list(layers)
        self._training = False
        super().__init__(name)
        taken: set[str] = {layer.name for layer in layers if layer.name is not None}
        if len(taken) != sum(layer.name is not None for layer in layers):
            raise ValueError(f"the layers' names must differ; got {[layer.name for layer in layers]}")
        for layer in self.layers:
            if layer.name is None:
                layer.name = default_name(layer, taken)
                taken.add(layer.name)

    @property
    def training(self) -> bool:
        """Training mode, forwarded to every inner layer when set."""
        return self._training

    @training.setter
    def training(self, value: bool) -> None:
        self._training = value
        for layer in self.layers:
            layer.training = value

    def _widths(self, n_in: int) -> list[int]:
        widths = [n_in]
        for layer in self.layers:
            widths.append(layer.compute_output_dim(widths[-1]))
        return widths

    def compute_output_dim(self, n_in: int) -> int:
        """``n_in``; a ``ValueError`` if the layers of :math:`F` change the width."""
        n_in = check_size(n_in, "n_in")
        widths = self._widths(n_in)
        if widths[-1] != n_in:
            chain = " → ".join(str(w) for w in widths)
            raise ValueError(
                f"Residual adds F(X) to X, so F must keep the width; its layers map {chain} features. "
                f"End F with a layer of {n_in} outputs, e.g. Dense({n_in})"
            )
        return n_in

    def param_shapes(self, n_in: int) -> dict[str, tuple[int, ...]] | None:
        """The inner layers' parameter shapes under ``"<inner name>/<key>"``; ``None`` while one is unknown."""
        n_in = self.compute_output_dim(n_in)
        if self.built:
            return super().param_shapes(n_in)
        out: dict[str, tuple[int, ...]] = {}
        for layer, width in zip(self.layers, self._widths(n_in), strict=False):
            shapes = layer.param_shapes(width)
            if shapes is None:
                return None
            out.update({f"{layer.name}/{key}": shape for key, shape in shapes.items()})
        return out

    def params_for_width(self, n_in: int | None) -> int | None:
        """The inner layers' parameter counts, summed (``None`` while one is unknown)."""
        if self.built:
            return super().params_for_width(n_in)
        if n_in is None:
            return None
        n_in = self.compute_output_dim(n_in)
        total = 0
        for layer, width in zip(self.layers, self._widths(n_in), strict=False):
            count = layer.params_for_width(width)
            if count is None:
                return None
            total += count
        return total

    def _build(self, n_in: int, rng: np.random.Generator | None, dtype: np.dtype) -> None:
        self.compute_output_dim(n_in)
        width = n_in
        for layer in self.layers:
            if not (layer.built and layer.n_in == width and layer.dtype == dtype):
                layer.build(width, rng, dtype)  # keep the weights of a layer built for this width already
            width = layer.compute_output_dim(width)
        self.params = _Linked({f"{lay.name}/{k}": (lay.params, k) for lay in self.layers for k in lay.params})
        self.grads = _Linked({f"{lay.name}/{k}": (lay.grads, k) for lay in self.layers for k in lay.grads})
        self.state = {f"{lay.name}/{k}": a for lay in self.layers for k, a in lay.state.items()}

    def _split(self, d: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
        """``d`` (keyed like ``params``) as one dict per inner layer, keyed like its ``params``."""
        return [{k: d[f"{layer.name}/{k}"] for k in layer.params} for layer in self.layers]

    def call(self, X: np.ndarray) -> np.ndarray:
        """Forward: :math:`Y = X + F(X)` (a new array: the inner layers' caches stay intact)."""
        A = X
        for layer in self.layers:
            A = layer.call(A)
        self._cache = (X,)
        return A + X

    def backprop(self, dY: np.ndarray, input_grad: bool) -> np.ndarray | None:
        r"""Backward: the inner layers' ``grads`` filled; :math:`dX = dY + J_F^\top dY` if ``input_grad``."""
        g = dY
        for i in range(len(self.layers) - 1, -1, -1):
            dX = self.layers[i].backprop(g, input_grad or i > 0)
            if dX is not None:
                g = dX
        return g + dY if input_grad else None

    def _output_shape_of_cache(self) -> tuple[int, ...]:
        return self._cached()[0].shape

    def hvp_unsupported_reason(self) -> str | None:
        for layer in self.layers:
            reason = layer.hvp_unsupported_reason()
            if reason is not None:
                return f"inside {self.name or 'Residual'}: {reason}"
        return None

    def r_call(self, XX: np.ndarray, V: dict[str, np.ndarray]) -> np.ndarray:
        r"""The stack ``[Y, R{Y}]`` = ``[X, R{X}]`` + the inner layers' ``[F(X), R{F(X)}]``."""
        AA = XX
        for layer, v in zip(self.layers, self._split(V), strict=True):
            AA = layer.r_call(AA, v)
        YY = np.empty((2, *XX.shape[1:]), dtype=AA.dtype)
        YY[...] = AA
        YY[: XX.shape[0]] += XX
        self._cache, self._r_cache = (XX[0],), ()
        return YY

    def r_backprop(
        self, GG: np.ndarray, V: dict[str, np.ndarray], input_grad: bool, out: dict[str, np.ndarray]
    ) -> np.ndarray | None:
        r"""``[R{dX}, dX]`` = ``[R{dY}, dY]`` + what the inner layers' rules return; their :math:`HV` into ``out``."""
        skip = GG.copy() if input_grad else None  # the inner layers may overwrite GG
        per_v, per_out = self._split(V), self._split(out)
        for i in range(len(self.layers) - 1, -1, -1):
            DD = self.layers[i].r_backprop(GG, per_v[i], input_grad or i > 0, per_out[i])
            if DD is not None:
                GG = DD
        if skip is None:
            return None
        GG += skip
        return GG

    def clear_r_cache(self) -> None:
        """Drop what the last :meth:`r_call` kept, in this block and its layers."""
        self._r_cache = None
        for layer in self.layers:
            layer.clear_r_cache()

    def __repr__(self) -> str:
        return f"Residual({', '.join(repr(layer) for layer in self.layers)})"
