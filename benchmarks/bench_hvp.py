"""One exact Hessian-vector product against one gradient, on the source article's network.

Network 20-64-64-3 (relu, relu, softmax), mean squared error, Adam, batch of 1000 rows of the
article's random data (:func:`mlmath.data.random_classification`), as compiled in chapter 12.
Contenders, alternating within one run (:func:`benchmarks.timing.compare`), best of 7 rounds
of 5 calls each:

- ``gradient``: ``model.loss_and_gradients(X, Y)``;
- ``exact HVP``: ``model.hessian_vector_product(X, Y, v)`` (the R-operator, chapter 5);
- ``difference HVP``: :func:`mlmath.calculus.hvp` (central difference of two gradients, with
  the weights set to :math:`\\theta \\pm tv` through ``set_weights``);
- if torch imports: the same network in torch, one gradient and one double-backward HVP
  (``torch.autograd.grad`` with ``create_graph=True``, then the gradient of
  :math:`g^\\top v`), on the same weights; its HVP is checked against mlmath's first.

The matrix products set a floor under the ratio: per hidden layer a gradient needs three
(:math:`XW^\\top`, :math:`dZ^\\top X`, :math:`dZ\\,W`) and the exact HVP eight, so the work
printed as "multiply-adds per row" is the part no implementation of the exact product avoids.

On a 2-core machine busy with other work, OpenBLAS's worker thread may end up on the same core
as the main thread; each multithreaded matrix product then waits for a scheduler time slice,
and every timing grows 20- to 50-fold (the gradient's as much as the HVP's, so the ratios
then count calls rather than work). Rerun on a quiet machine, or also with
``OPENBLAS_NUM_THREADS=1``.

Run: ``python -m benchmarks hvp``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np

from benchmarks.timing import compare, torch_or_none
from mlmath.calculus import hvp
from mlmath.data import random_classification
from mlmath.layers import Activation, Dense
from mlmath.losses import MeanSquaredError
from mlmath.models import Sequential
from mlmath.optim import Adam

ROWS, WIDTHS = 1000, (20, 64, 64, 3)
# matrix products of a layer's size, at the input layer and above it (R{X} = 0 and no dX at the input)
GRADIENT_PRODUCTS = (2, 3)  # Z = X W^T, dW = dZ^T X, and dX = dZ W above
HVP_PRODUCTS = (3, 8)  # Z, R{Z} (1 or 2), R{dW} (1 or 2), and dX, R{dX} (3) above


def article_network(dtype: type, metrics: Sequence[str] = ()) -> Sequential:
    """The article's network 20-64-64-3 (relu, relu, softmax), MSE and Adam, built in ``dtype`` (seed 0)."""
    model = Sequential(seed=0)
    model.add(Dense(WIDTHS[1], input_dim=WIDTHS[0]))
    model.add(Activation("relu"))
    model.add(Dense(WIDTHS[2]))
    model.add(Activation("relu"))
    model.add(Dense(WIDTHS[3]))
    model.add(Activation("softmax"))
    model.compile(optimizer=Adam(learning_rate=0.001), loss=MeanSquaredError(), metrics=list(metrics))
    model.build(WIDTHS[0], dtype=dtype)
    return model


def article_model(dtype: type) -> tuple[Sequential, np.ndarray, np.ndarray]:
    """The article's network as compiled in chapter 12, and its ``ROWS`` rows of random data, in ``dtype``."""
    X, Y = random_classification(num_samples=ROWS, num_features=WIDTHS[0], num_classes=WIDTHS[-1], seed=0)
    return article_network(dtype, metrics=["accuracy"]), X.astype(dtype), Y.astype(dtype)


def multiply_adds(widths: tuple[int, ...], products: tuple[int, int] = HVP_PRODUCTS) -> tuple[int, int]:
    """Multiply-adds per row in the matrix products of one gradient and of one product of the given cost.

    ``products`` counts the product's matrix products of a layer's size, at the input layer and
    above it (:data:`HVP_PRODUCTS` for the exact HVP).
    """
    grad = work = 0
    for k, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        first = k == 0
        grad += n_in * n_out * GRADIENT_PRODUCTS[0 if first else 1]
        work += n_in * n_out * products[0 if first else 1]
    return grad, work


def flat_gradient(model: Sequential, X: np.ndarray, Y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    shapes = [w.shape for w in model.trainable_weights]
    cuts = np.cumsum([math.prod(s) for s in shapes])[:-1]

    def grad(theta: np.ndarray) -> np.ndarray:
        model.set_weights([p.reshape(s) for p, s in zip(np.split(theta, cuts), shapes, strict=True)])
        return np.concatenate([g.ravel() for g in model.loss_and_gradients(X, Y)[1]])

    return grad


def torch_contenders(model: Sequential, X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> dict[str, Callable]:
    import torch

    tdtype = torch.float64 if X.dtype == np.float64 else torch.float32
    params = [torch.tensor(w, dtype=tdtype, requires_grad=True) for w in model.get_weights()]
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    shapes = [w.shape for w in model.trainable_weights]
    cuts = np.cumsum([math.prod(s) for s in shapes])[:-1]
    vt = [torch.from_numpy(p.reshape(s).copy()) for p, s in zip(np.split(v, cuts), shapes, strict=True)]
    W1, b1, W2, b2, W3, b3 = params

    def loss() -> torch.Tensor:
        A1 = torch.relu(Xt @ W1.T + b1)
        A2 = torch.relu(A1 @ W2.T + b2)
        P = torch.softmax(A2 @ W3.T + b3, dim=1)
        return ((P - Yt) ** 2).mean()

    def gradient() -> list[torch.Tensor]:
        return torch.autograd.grad(loss(), params)

    def double_backward_hvp() -> list[torch.Tensor]:
        grads = torch.autograd.grad(loss(), params, create_graph=True)
        dot = sum((g * u).sum() for g, u in zip(grads, vt, strict=True))
        return torch.autograd.grad(dot, params)

    ours = model.hessian_vector_product(X, Y, v)
    theirs = np.concatenate([h.detach().numpy().ravel() for h in double_backward_hvp()])
    tol = 1e-10 if X.dtype == np.float64 else 1e-3
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * np.abs(theirs).max())
    return {"torch gradient": gradient, "torch HVP": double_backward_hvp}


def main() -> None:
    torch = torch_or_none()
    have_torch = torch is not None
    grad_work, hvp_work = multiply_adds(WIDTHS)
    print(
        f"network {'-'.join(map(str, WIDTHS))}, batch {ROWS}, mean squared error; matrix products: "
        f"gradient {grad_work:,}, exact HVP {hvp_work:,} multiply-adds per row (ratio {hvp_work / grad_work:.2f})"
    )
    exact64 = None
    for dtype in (np.float64, np.float32):
        model, X, Y = article_model(dtype)
        saved = model.get_weights()
        theta = np.concatenate([w.ravel() for w in saved])
        v = np.random.default_rng(1).standard_normal(theta.size).astype(dtype)
        grad_f = flat_gradient(model, X, Y)
        exact = model.hessian_vector_product(X, Y, v)
        scale = float(np.abs(exact).max())
        if dtype is np.float64:
            exact64 = exact
            errors = [np.abs(hvp(grad_f, theta, v, h=h) - exact).max() / scale for h in (None, 1e-7)]
            model.set_weights(saved)  # hvp left them at theta - tv
            accuracy = (
                f"difference HVP vs exact, max error / max |Hv|: {errors[0]:.1e} with the default step "
                f"(a relu input changes sign between theta - tv and theta + tv), {errors[1]:.1e} with t = 1e-7"
            )
        else:
            accuracy = f"exact HVP vs float64's, max error / max |Hv|: {np.abs(exact - exact64).max() / scale:.1e}"
        contenders: dict[str, Callable] = {
            "gradient": lambda model=model, X=X, Y=Y: model.loss_and_gradients(X, Y),
            "exact HVP": lambda model=model, X=X, Y=Y, v=v: model.hessian_vector_product(X, Y, v),
            "difference HVP": lambda grad_f=grad_f, theta=theta, v=v: hvp(grad_f, theta, v),
        }
        if have_torch:
            contenders |= torch_contenders(model, X, Y, v)
        for fn in contenders.values():  # warm up: allocations, thread pools, first-call dispatch
            fn()
        best = compare(contenders, repeats=7, number=5)
        print(f"\n{np.dtype(dtype).name}: {theta.size:,} parameters; {accuracy}")
        print(f"{'contender':>16} {'ms':>8} {'/ gradient':>11}")
        for name, seconds in best.items():
            base = best["torch gradient"] if name.startswith("torch") else best["gradient"]
            print(f"{name:>16} {seconds * 1e3:>8.3f} {seconds / base:>11.2f}")
        if have_torch:
            print(f"{'exact HVP / torch HVP':>28}: {best['exact HVP'] / best['torch HVP']:.2f}")


if __name__ == "__main__":
    main()
