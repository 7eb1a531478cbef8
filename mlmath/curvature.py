r"""Curvature of a network's loss: the exact Hessian-vector product by Pearlmutter's R-operator,
and the Gauss–Newton and Fisher products.

Derived in chapter 5. For parameters :math:`\theta` and a direction :math:`V` in parameter space,
:math:`HV = \frac{d}{dt}\nabla L(\theta + tV)\big|_{t=0} = R\{\nabla L\}`: the directional
derivative of the backward pass. Every quantity :math:`Q` of the forward and backward passes is
carried together with :math:`R\{Q\} = \frac{d}{dt}Q(\theta + tV)\big|_{t=0}`, obtained from the
product rule on each formula. Each op owns its rule: a layer its ``r_call`` and ``r_backprop``
(:mod:`mlmath.layers`), an activation its :math:`f''` (:class:`mlmath.activations.ActivationFunction`),
a loss its :math:`\nabla^2_P L\;R\{P\}` (:meth:`mlmath.losses.Loss.hessian_vector_unchecked`);
this module only chains them. For a dense layer :math:`Z = XW^\top + \mathbf{1}b^\top`,
:math:`A = f(Z)`:

.. math::

    R\{Z\} &= R\{X\}W^\top + X R\{W\}^\top + \mathbf{1}R\{b\}^\top, \qquad
    R\{A\} = f'(Z) \odot R\{Z\}, \\
    R\{dZ\} &= f''(Z) \odot R\{Z\} \odot dA + f'(Z) \odot R\{dA\}, \qquad
    R\{dW\} = R\{dZ\}^\top X + dZ^\top R\{X\}, \\
    R\{db\} &= R\{dZ\}^\top\mathbf{1}, \qquad
    R\{dX\} = R\{dZ\}W + dZ\,R\{W\},

starting from :math:`R\{X\} = 0` at the input and :math:`R\{\partial L/\partial P\} = \nabla^2_P L\;
R\{P\}` at the loss. The blocks :math:`R\{dW\}, R\{db\}` are :math:`HV`. The cost is one forward
and one backward sweep whatever the number of parameters: each quantity and its R-derivative
travel stacked in one array of shape ``(2, m, n)``, so one matrix product serves both.
:meth:`mlmath.models.Sequential.hessian_vector_product` is the checked entry point.

The **Gauss–Newton** and **Fisher** products of the second-order chapter,
:math:`J^\top M J V` with :math:`J = \partial f/\partial\theta` the Jacobian of the network's
output, reuse the same passes without their second-order terms (:func:`output_curvature_product`):
the R-forward pass gives :math:`JV`, the output-space matrix :math:`M` (the loss's Hessian, or
the outer products of the per-row loss gradients) multiplies it, and a plain backward pass gives
:math:`J^\top(MJV)`. :func:`gauss_newton_vector_product` and :func:`fisher_vector_product` are
their checked entry points, with the arguments of ``Sequential.hessian_vector_product``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlmath._flat import split_flat, total_size
from mlmath._validation import as_float_array, check_param_arrays, check_str, lookup
from mlmath.layers import Activation, Layer
from mlmath.losses import BinaryCrossentropy, CategoricalCrossentropy, Loss, MeanSquaredError

__all__ = [
    "check_batch",
    "check_direction",
    "check_fisher_support",
    "check_hvp_support",
    "check_model",
    "fisher_vector_product",
    "gauss_newton_vector_product",
    "hessian_vector_product",
    "output_curvature_product",
]


def check_hvp_support(layers: Sequence[Layer], loss: Loss, what: str = "hessian_vector_product") -> None:
    """Raise ``TypeError`` naming the loss or the first layer that has no second-order rule.

    ``what`` names the product asked for in the message.
    """
    what = check_str(what, "what")
    if not isinstance(layers, list | tuple) or not all(isinstance(layer, Layer) for layer in layers):
        raise TypeError(f"layers must be a list of layers, such as model.layers; got {layers!r:.80}")
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a Loss such as MeanSquaredError(); got {type(loss).__name__}")
    if not loss.supports_hvp:
        raise TypeError(
            f"{what} needs the loss's second-order rule, but {type(loss).__name__} defines no "
            "hessian_vector_unchecked(Y, P, RP) beside its value_and_grad_unchecked. Give it one, or use "
            "mlmath.calculus.hvp on a gradient function built from loss_and_gradients."
        )
    for layer in layers:
        reason = layer.hvp_unsupported_reason()
        if reason is not None:
            raise TypeError(
                f"{what} needs an R-operator for every layer, but {reason}. "
                "Use mlmath.calculus.hvp on a gradient function built from loss_and_gradients instead."
            )


def check_direction(V: object, params: Sequence[np.ndarray], names: Sequence[str]) -> tuple[bool, list[np.ndarray]]:
    """A direction ``V`` as a list of arrays in the parameters' dtype, one per parameter; and whether it came flat.

    ``V`` is a list (or tuple) of arrays shaped like ``params``, or a 1-D numpy array of their
    total size; ``names`` label the arrays in error messages. Only the shapes and the dtype of
    ``params`` are read.
    """
    params = check_param_arrays(params, writable=False)
    if (
        not isinstance(names, list | tuple)
        or len(names) != len(params)
        or not all(isinstance(name, str) for name in names)
    ):
        raise TypeError(f"names must be a list of {len(params)} strings, one per array of params; got {names!r:.80}")
    shapes = [p.shape for p in params]
    n = total_size(shapes)
    dtype = params[0].dtype if params else np.dtype(np.float64)
    expected = (
        f"a list of {len(params)} arrays shaped like model.trainable_weights "
        f"({', '.join(str(shape) for shape in shapes)}), or a 1-D numpy array of length {n}"
    )
    if isinstance(V, np.ndarray):
        if V.ndim != 1:
            raise ValueError(f"V must be {expected}; got a numpy array of shape {V.shape}")
        flat = as_float_array(V, "V", ndim=1)
        if flat.size != n:
            raise ValueError(
                f"V must be {expected}; got a 1-D array of length {flat.size} (the model has {n} parameters)"
            )
        return True, split_flat(flat.astype(dtype, copy=False), shapes)
    if not isinstance(V, list | tuple):
        raise TypeError(f"V must be {expected}; got {type(V).__name__}")
    if len(V) != len(params):
        raise ValueError(f"V must be {expected}; got a {type(V).__name__} of {len(V)} arrays")
    out = []
    for i, (v, shape) in enumerate(zip(V, shapes, strict=True)):
        arr = as_float_array(v, f"V[{i}]")
        if arr.shape != shape:
            raise ValueError(f"V[{i}] must have shape {shape}, like {names[i]}; got shape {arr.shape}")
        out.append(arr.astype(dtype, copy=False))
    return False, out


def _loss_start(loss: Loss, last: Layer, Y: np.ndarray, P: np.ndarray, RP: np.ndarray) -> tuple[np.ndarray, bool]:
    r"""The stack ``[R{g}, g]`` that starts the backward pass, and whether it starts below a fused activation.

    A final softmax with cross-entropy (or sigmoid with binary cross-entropy) is fused as in
    training: :math:`g = (P - Y)/c` enters below the activation and :math:`R\{g\} = R\{P\}/c`.
    Otherwise :math:`g = \partial L/\partial P` and :math:`R\{g\} = \nabla^2_P L\;R\{P\}`.
    """
    GG = np.empty((2, *P.shape), dtype=P.dtype)
    c = loss.fused_divisor(last.activation, P) if isinstance(last, Activation) else None
    if c is not None:
        np.subtract(P, Y, out=GG[1])
        GG[1] /= c
        np.divide(RP, c, out=GG[0])
        return GG, True
    GG[1] = loss.value_and_grad_unchecked(Y, P)[1]
    GG[0] = loss.hessian_vector_unchecked(Y, P, RP)
    return GG, False


def hessian_vector_product(
    layers: Sequence[Layer], loss: Loss, X: np.ndarray, Y: np.ndarray, V: Sequence[np.ndarray]
) -> np.ndarray:
    r"""The exact :math:`HV` of the mean loss over the batch ``(X, Y)``, as one flat vector.

    Unchecked: ``X`` and ``Y`` are finite arrays in the layers' dtype, the layers are built, and
    ``V`` holds one array per parameter, in layer order (each layer's ``params`` order), of the
    parameters' shapes and dtype; :func:`check_hvp_support` has passed.

    Returns
    -------
    numpy.ndarray of shape (n_params,)
        :math:`HV`, raveled and concatenated in the order of ``V``. The layers' ``grads`` are
        not touched; their forward caches are replaced, as by any forward pass.
    """
    shapes = [p.shape for layer in layers for p in layer.params.values()]
    result = np.empty(total_size(shapes), dtype=X.dtype)
    if not shapes:  # a model without parameters has an empty Hessian
        return result
    views = split_flat(result, shapes)
    per_layer_v, per_layer_out, k = [], [], 0
    for layer in layers:
        keys = list(layer.params)
        per_layer_v.append(dict(zip(keys, V[k : k + len(keys)], strict=True)))
        per_layer_out.append(dict(zip(keys, views[k : k + len(keys)], strict=True)))
        k += len(keys)
    try:
        AA = X[None]  # the stack [X] alone: R{X} = 0
        for layer, v in zip(layers, per_layer_v, strict=True):
            AA = layer.r_call(AA, v)
        GG, fused = _loss_start(loss, layers[-1], Y, AA[0], AA[1])
        first = next(i for i, layer in enumerate(layers) if layer.params)
        for i in range(len(layers) - (2 if fused else 1), first - 1, -1):
            RdX = layers[i].r_backprop(GG, per_layer_v[i], i > first, per_layer_out[i])
            if RdX is not None:  # None only from the first layer with parameters, the last step
                GG = RdX
    finally:
        for layer in layers:
            layer.clear_r_cache()
    return result


# ---------------------------------------------------------------------------
# Gauss–Newton and Fisher products
# ---------------------------------------------------------------------------


def output_curvature_product(
    layers: Sequence[Layer], loss: Loss, X: np.ndarray, Y: np.ndarray, V: Sequence[np.ndarray], kind: str
) -> np.ndarray:
    r""":math:`J^\top M J V` for an output-space curvature :math:`M`, as one flat vector, never forming :math:`J`.

    :math:`J = \partial f/\partial\theta` is the Jacobian of the network's output :math:`f` (the
    logits below a final softmax or sigmoid fused with its cross-entropy, the prediction
    :math:`P` otherwise) with respect to every parameter. Three sweeps, each about one pass:
    the R-forward pass of the layers (``r_call``) gives :math:`R\{f\} = JV`; ``kind`` says which
    :math:`M` multiplies it,

    - ``"gauss_newton"``: :math:`M = \nabla^2_f L`, the loss's Hessian in the output
      (``hessian_vector_unchecked``, or :math:`R\{P\}/c` for a fused pair);
    - ``"empirical_fisher"``: :math:`M = m\sum_r e_r e_r^\top \otimes G_r G_r^\top`, the outer products
      of the rows :math:`G_r` of :math:`G = \partial L/\partial f` (row :math:`r` is
      :math:`\nabla_f\ell_r/m` for the mean :math:`L = \frac1m\sum_r \ell_r` over the
      :math:`m` rows of the output); so :math:`JV \mapsto u` with
      :math:`u_r = t_r G_r`, :math:`t_r = m\,G_r^\top (JV)_r = g_r^\top V`, the per-row gradient
      :math:`g_r = \nabla_\theta\ell_r` along :math:`V`;

    then a plain backward pass (``backprop``, the layers' first derivatives only) of :math:`u = M\,JV`
    gives :math:`J^\top u`: the network linearized at :math:`\theta`, without the second-order
    terms of the activations that the exact :func:`hessian_vector_product` carries.

    Unchecked, as :func:`hessian_vector_product` (same arguments; ``kind`` is one of the two
    names above). The layers' ``grads`` are left as they were (they serve as scratch and are
    put back); their forward caches are replaced.
    """
    if kind not in ("gauss_newton", "empirical_fisher"):  # a typo would silently give the other product
        raise ValueError(f"kind must be 'gauss_newton' or 'empirical_fisher'; got {kind!r}")
    shapes = [p.shape for layer in layers for p in layer.params.values()]
    result = np.empty(total_size(shapes), dtype=X.dtype)
    if not shapes:
        return result
    views = split_flat(result, shapes)
    per_layer_v, k = [], 0
    for layer in layers:
        keys = list(layer.params)
        per_layer_v.append(dict(zip(keys, V[k : k + len(keys)], strict=True)))
        k += len(keys)
    saved = [g.copy() for layer in layers for g in layer.grads.values()]
    try:
        AA = X[None]  # the stack [X] alone: R{X} = 0
        below = AA
        for layer, v in zip(layers, per_layer_v, strict=True):
            below, AA = AA, layer.r_call(AA, v)
        last = layers[-1]
        P, RP = AA[0], AA[1]
        c = loss.fused_divisor(last.activation, P) if isinstance(last, Activation) else None
        if kind == "gauss_newton":
            U = RP / c if c is not None else loss.hessian_vector_unchecked(Y, P, RP)
        else:
            if c is not None:  # the output is the logits below the fused activation
                G = (P - Y) / c
                RF = below[1] if below.shape[0] == 2 else np.zeros_like(G)
            else:
                G, RF = loss.value_and_grad_unchecked(Y, P)[1], RP
            width = G.shape[-1]
            t = np.einsum("ij,ij->i", G.reshape(-1, width), RF.reshape(-1, width)) * (G.size // width)
            U = G * t.reshape(*G.shape[:-1], 1)
        first = next(i for i, layer in enumerate(layers) if layer.params)
        g = U.astype(X.dtype, copy=False)
        for i in range(len(layers) - (2 if c is not None else 1), first - 1, -1):
            dX = layers[i].backprop(g, i > first)
            if dX is not None:  # None only from the first layer with parameters, the last step
                g = dX
        grads = [g for layer in layers for g in layer.grads.values()]
        for view, grad in zip(views, grads, strict=True):
            view[...] = grad
    finally:
        for grad, old in zip((g for layer in layers for g in layer.grads.values()), saved, strict=True):
            grad[...] = old
        for layer in layers:
            layer.clear_r_cache()
    return result


def check_batch(model: object, X: object, Y: object, what: str = "the product") -> tuple[np.ndarray, np.ndarray]:
    """``X`` and ``Y`` checked by the model's own rules, in its dtype; the model built for them if it was not.

    The checks are those of :meth:`mlmath.models.Sequential.evaluate` (shapes, finiteness, the
    loss's targets, the metrics' one-hot rows), through :meth:`mlmath.models.Sequential.check_batch`:
    no forward pass. ``what`` names the caller in the error for a model that is not compiled.

    Raises
    ------
    TypeError
        If ``model`` is not a :class:`~mlmath.models.Sequential`, or for bad ``X`` or ``Y``.
    RuntimeError
        If the model is not compiled.
    ValueError
        For bad ``X`` or ``Y``.
    """
    checked = check_model(model, what)
    Xc, Yc = checked.check_batch(X, Y)
    return Xc, Yc


def check_model(model: object, what: str = "the product") -> Any:
    """``model`` itself if it is a compiled :class:`~mlmath.models.Sequential`; ``what`` names the caller.

    Raises ``TypeError`` for another object and ``RuntimeError`` before ``compile`` (whose
    loss the curvature products and the second-order optimizers use).
    """
    from mlmath.models import Sequential  # mlmath.models imports this module

    what = check_str(what, "what")
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a Sequential model, such as Sequential([Dense(1)]); got {type(model).__name__}")
    if model.loss is None:
        raise RuntimeError(
            f"call model.compile(loss=...) before {what}: the loss comes from compile (its optimizer is not used), "
            "e.g. model.compile(optimizer='sgd', loss='mse')"
        )
    return model


def check_fisher_support(layers: Sequence[Layer], loss: Loss) -> None:
    """Raise ``TypeError`` unless the true Fisher of ``loss`` after ``layers`` is stated (it is then the GGN).

    Stated for mean squared error, for categorical cross-entropy after a final softmax (or on
    logits), and for binary cross-entropy after a final sigmoid (or on logits) with one output:
    see :func:`fisher_vector_product`. The layers must be built (the output width is read).
    """
    check_hvp_support(layers, loss, "fisher_vector_product(kind='true')")
    reason = _true_fisher_reason(layers, loss)
    if reason is not None:
        raise TypeError(f"the true Fisher is not stated for this loss after these layers: {reason}")


def _true_fisher_reason(layers: Sequence[Layer], loss: Loss) -> str | None:
    """Why the true Fisher is not stated for this loss after these layers (``None``: it equals the GGN)."""
    last = layers[-1]
    fused = isinstance(last, Activation) and loss.fused_divisor(last.activation, np.zeros((1, 1))) is not None
    name = type(loss).__name__
    if type(loss) is MeanSquaredError:
        return None
    if type(loss) is CategoricalCrossentropy and (loss.from_logits or fused):
        return None
    if type(loss) is BinaryCrossentropy and (loss.from_logits or fused):
        if last.output_dim == 1:
            return None
        return (
            f"{name} averages over the {last.output_dim} outputs of a row, so a row's loss is not the negative "
            "log-likelihood of a distribution (it is, with one output)"
        )
    if isinstance(loss, CategoricalCrossentropy | BinaryCrossentropy):
        return (
            f"{name} on probabilities that do not come from a final Activation('softmax') (or 'sigmoid') has a "
            "Hessian in the prediction that is not the Fisher of its distribution; end the model with that "
            "activation, or use from_logits=True on a linear output"
        )
    return f"no likelihood is stated for {name}; the true Fisher is defined for mean squared error and cross-entropy"


def _checked_product_arguments(
    model: object, X: object, Y: object, V: object, what: str, true_fisher: bool = False
) -> tuple[Any, np.ndarray, np.ndarray, bool, list[np.ndarray]]:
    """The model, ``X``, ``Y`` (checked and cast) and the direction for the model-level products."""
    checked = check_model(model, what)
    check_hvp_support(checked.layers, checked.loss, what)
    if not checked.built:
        raise RuntimeError(f"{what} needs the model's weights: fit the model, or call model.build(input_dim) first")
    if true_fisher:
        check_fisher_support(checked.layers, checked.loss)
    flat_form, directions = check_direction(V, checked.trainable_weights, checked.weight_names)
    Xc, Yc = check_batch(checked, X, Y, what)  # after V: a bad V is refused before any forward pass
    return checked, Xc, Yc, flat_form, directions


def gauss_newton_vector_product(
    model: Any, X: np.ndarray, Y: np.ndarray, V: Sequence[np.ndarray] | np.ndarray
) -> list[np.ndarray] | np.ndarray:
    r"""The generalized Gauss–Newton product :math:`GV = J^\top \nabla^2_f L\; J V` of a compiled model.

    :math:`J` is the Jacobian of the network's output :math:`f` with respect to all parameters
    :math:`\theta` on the batch, and :math:`\nabla^2_f L` the Hessian of the loss in that output
    (Schraudolph 2002; Martens 2010). The output is the prediction :math:`P`, except below a
    final softmax with categorical cross-entropy (or sigmoid with binary cross-entropy), where
    it is the logits :math:`Z` and :math:`\nabla^2_Z L` is :math:`(\operatorname{diag}(s) - ss^\top)/m`
    row by row: the pair is one convex function of :math:`Z`, as training fuses it. Then

    .. math::

        \nabla^2_\theta L = J^\top \nabla^2_f L\, J + \sum_k \frac{\partial L}{\partial f_k} \nabla^2_\theta f_k,

    and :math:`G`, the first term, is positive semi-definite whenever the loss is convex in
    :math:`f` (mean squared error; cross-entropy of the logits). Computed in forward-over-reverse
    form (:func:`output_curvature_product`): an R-forward pass for :math:`JV`, the loss's
    Hessian rule, a plain backward pass for :math:`J^\top u`, never forming :math:`J`. Its matrix
    products are 5/3 of a gradient's per hidden layer (``benchmarks/bench_curvature.py`` times
    it); the checks of the batch (:meth:`mlmath.models.Sequential.check_batch`) run no forward pass.
    PyTorch: ``torch.func.jvp`` of the output, then ``torch.func.vjp``.

    Parameters
    ----------
    model : Sequential
        A compiled, built model.
    X : array_like of shape (m, n_in) or (m, T, n_in)
    Y : array_like, the model's output shape
        Checked as by :meth:`mlmath.models.Sequential.evaluate`.
    V : list of array_like, or 1-D numpy.ndarray
        The direction, as for :meth:`mlmath.models.Sequential.hessian_vector_product`: arrays
        shaped like ``model.trainable_weights``, or one flat vector of length ``count_params()``.

    Returns
    -------
    list of numpy.ndarray, or numpy.ndarray of shape (count_params(),)
        :math:`GV` in the form of ``V``, in the model's dtype.

    Raises
    ------
    TypeError, ValueError
        For a bad model, ``X``, ``Y`` or ``V``, or a layer or loss without the rules the product
        needs; raised before the weights or the layers' ``grads`` change.
    RuntimeError
        Before ``model.compile``, or before the model is built.

    Examples
    --------
    For a linear model with mean squared error, :math:`f` is linear in :math:`\theta`, so the
    Gauss–Newton matrix is the Hessian, :math:`\frac{2}{m}[X, \mathbf{1}]^\top[X, \mathbf{1}]`:

    >>> from mlmath.layers import Dense
    >>> from mlmath.models import Sequential
    >>> model = Sequential([Dense(1, input_dim=2)], seed=0)
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> model.build()
    >>> X, Y = np.array([[1.0, 2.0], [3.0, 4.0]]), np.zeros((2, 1))
    >>> gauss_newton_vector_product(model, X, Y, np.array([1.0, 0.0, 0.0]))
    array([10., 14.,  4.])
    """
    model, Xc, Yc, flat_form, directions = _checked_product_arguments(model, X, Y, V, "gauss_newton_vector_product")
    result = output_curvature_product(model.layers, model.loss, Xc, Yc, directions, "gauss_newton")
    return result if flat_form else split_flat(result, [d.shape for d in directions])


def fisher_vector_product(
    model: Any, X: np.ndarray, Y: np.ndarray, V: Sequence[np.ndarray] | np.ndarray, kind: str = "true"
) -> list[np.ndarray] | np.ndarray:
    r"""The Fisher information's product :math:`FV` for a compiled model on a batch: the true or the empirical Fisher.

    Each of the :math:`m` rows of the output is a sample; its loss :math:`\ell_r` is read as the
    negative log-likelihood of a distribution :math:`r(y \mid f_r)` over targets, and
    :math:`L = \frac1m\sum_r \ell_r`.

    - ``kind="true"``: :math:`F = \frac1m\sum_r \mathbb{E}_{y\sim r(\cdot\mid f_r)}[\nabla_\theta\ell_r
      \nabla_\theta\ell_r^\top]`, targets drawn from the model. When :math:`f` is the natural
      parameter of an exponential family, :math:`\mathbb{E}_y[\nabla_f\ell\,\nabla_f\ell^\top] =
      \nabla_f^2\ell`, so :math:`F` is the Gauss–Newton matrix (Schraudolph 2002; Martens 2020):
      for softmax with categorical cross-entropy (logits, a categorical distribution), sigmoid with
      binary cross-entropy and one output (a Bernoulli), and mean squared error, which is the
      negative log-likelihood of :math:`\mathcal N(f, \frac{n}{2}I)` up to a constant for
      :math:`n` outputs. The product is then :func:`gauss_newton_vector_product`'s. Other pairs
      are refused: their loss is not such a likelihood (or its Hessian is not the Fisher).
    - ``kind="empirical"``: :math:`\tilde F = \frac1m\sum_r g_r g_r^\top` with the observed
      targets, :math:`g_r = \nabla_\theta \ell_r`; computed without a loop over the rows,
      as :math:`\tilde F V = \sum_r J_r^\top G_r\, (g_r^\top V)` with :math:`g_r^\top V =
      m\,G_r^\top (JV)_r` (:func:`output_curvature_product`). It is not the Fisher in general
      (Kunstner et al. 2019); it equals it only where the targets follow the model.

    PyTorch: ``torch.func.vmap(torch.func.grad(...))`` over the rows gives the :math:`g_r`.

    Parameters
    ----------
    model, X, Y, V
        As for :func:`gauss_newton_vector_product`.
    kind : {"true", "empirical"}, default "true"

    Returns
    -------
    list of numpy.ndarray, or numpy.ndarray of shape (count_params(),)
        :math:`FV` in the form of ``V``, in the model's dtype.

    Raises
    ------
    TypeError, ValueError
        As :func:`gauss_newton_vector_product`; also for an unknown ``kind``, and (``TypeError``)
        for ``kind="true"`` with a loss whose Fisher is not stated here.
    RuntimeError
        Before ``model.compile``, or before the model is built.
    """
    kind = lookup({"true": "true", "empirical": "empirical"}, kind, "kind")
    what = f"fisher_vector_product(kind={kind!r})"
    model, Xc, Yc, flat_form, directions = _checked_product_arguments(model, X, Y, V, what, kind == "true")
    product = "gauss_newton" if kind == "true" else "empirical_fisher"
    result = output_curvature_product(model.layers, model.loss, Xc, Yc, directions, product)
    return result if flat_form else split_flat(result, [d.shape for d in directions])
