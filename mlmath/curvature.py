r"""Curvature of a network's loss: the exact Hessian-vector product by Pearlmutter's R-operator.

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
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlmath._flat import split_flat, total_size
from mlmath._validation import as_float_array, check_param_arrays
from mlmath.layers import Activation, Layer
from mlmath.losses import Loss

__all__ = ["check_direction", "check_hvp_support", "hessian_vector_product"]


def check_hvp_support(layers: Sequence[Layer], loss: Loss) -> None:
    """Raise ``TypeError`` naming the loss or the first layer that has no second-order rule."""
    if not isinstance(layers, list | tuple) or not all(isinstance(layer, Layer) for layer in layers):
        raise TypeError(f"layers must be a list of layers, such as model.layers; got {layers!r:.80}")
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a Loss such as MeanSquaredError(); got {type(loss).__name__}")
    if not loss.supports_hvp:
        raise TypeError(
            f"hessian_vector_product needs the loss's second-order rule, but {type(loss).__name__} defines no "
            "hessian_vector_unchecked(Y, P, RP) beside its value_and_grad_unchecked. Give it one, or use "
            "mlmath.calculus.hvp on a gradient function built from loss_and_gradients."
        )
    for layer in layers:
        reason = layer.hvp_unsupported_reason()
        if reason is not None:
            raise TypeError(
                f"hessian_vector_product needs an R-operator for every layer, but {reason}. "
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
