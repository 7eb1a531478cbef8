"""Checks the test modules share: relative error, central differences of a layer and of a model.

Each reference is numeric (``mlmath.calculus.gradient`` of the loss the code differentiates), so the
checks hold the code to its definition, never to its own output. The tests import these by name
(``from gradient_checks import rel_err``); ``conftest.py`` serves :func:`held_in_place` as a fixture
of the same name too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mlmath._flat import flatten, split_flat, unflatten_into
from mlmath.calculus import gradient
from mlmath.layers import Layer
from mlmath.losses import Loss
from mlmath.models import Sequential


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """``|a - b| / max(|a|, |b|)`` in the Frobenius norm (0 when both are 0)."""
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300))


def held_in_place(x: np.ndarray, f: Callable[[], float]) -> Callable[[np.ndarray], float]:
    """The no-argument ``f`` as a function of the values of the array ``x``.

    ``mlmath.calculus.gradient(g, x)`` evaluates ``g`` at moved copies of ``x``, but a layer's or
    a model's loss reads its inputs and parameters from the arrays it holds, so it cannot be handed
    a point. The returned ``g(v)`` writes ``v`` into ``x``, evaluates ``f()`` and puts the old values
    back, so that ``gradient(held_in_place(W, loss), W)`` differentiates ``loss`` with respect to
    ``W`` and leaves ``W`` as it was.
    """

    def at(v: np.ndarray) -> float:
        saved = x.copy()
        x[...] = v
        try:
            return f()
        finally:
            x[...] = saved

    return at


def check_layer_gradients(layer: Layer, X: np.ndarray, G: np.ndarray, h: float | None = None) -> None:
    """The layer's backward pass against central differences of :math:`L = \\sum G \\odot` ``layer.forward(X)``.

    Asserts that ``dX`` and every parameter's gradient have their array's shape and lie within
    1e-6 (relative) of the central differences with step ``h`` (``None``: the default step of
    :func:`mlmath.calculus.gradient`). ``X`` and the parameters are left as they were.
    """

    def loss() -> float:
        return float(np.sum(G * layer.forward(X)))

    loss()
    dX = layer.backward(G)
    assert dX.shape == X.shape
    assert rel_err(dX, gradient(held_in_place(X, loss), X, h=h)) < 1e-6
    for key, p in layer.params.items():
        analytic = layer.grads[key].copy()
        assert analytic.shape == p.shape, key
        assert rel_err(analytic, gradient(held_in_place(p, loss), p, h=h)) < 1e-6, key


def stack_gradient(
    layers: Sequence[Layer], loss: Loss, X: np.ndarray, Y: np.ndarray
) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]:
    """``theta -> the flat gradient of loss(Y, stack(X))`` by the layers' first-order passes alone, and ``theta`` now.

    The returned function writes ``theta`` into the parameters (layer by layer, in ``params`` order)
    and leaves it there: call it at the current ``theta`` to put the weights back.
    """
    params = [p for layer in layers for p in layer.params.values()]

    def grad(theta: np.ndarray) -> np.ndarray:
        unflatten_into(params, theta)
        A = X
        for layer in layers:
            A = layer.call(A)
        g = loss.value_and_grad_unchecked(Y, A)[1]
        for i in range(len(layers) - 1, -1, -1):
            g = layers[i].backprop(g, i > 0)
        return flatten([layer.grads[k] for layer in layers for k in layer.params])

    return grad, flatten(params)


def model_gradient(model: Sequential, X: np.ndarray, Y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``theta -> the flat gradient of model.loss_and_gradients(X, Y)`` at the flat weights ``theta`` (left set)."""

    def grad(theta: np.ndarray) -> np.ndarray:
        model.set_flat_weights(theta)
        return flatten(model.loss_and_gradients(X, Y)[1])

    return grad


def split_like(v: np.ndarray, layers: Sequence[Layer]) -> list[np.ndarray]:
    """The flat ``v`` as views shaped like the layers' parameters, in ``stack_gradient``'s order."""
    return split_flat(v, [p.shape for layer in layers for p in layer.params.values()])
