"""One Gauss–Newton product against one gradient, on the source article's network, and PyTorch doing the same.

Network 20-64-64-3 (relu, relu, softmax), mean squared error, as compiled in chapter 12
(:func:`benchmarks.bench_hvp.article_model`), on batches of 32 and of all 1000 rows of the
article's random data. Contenders, alternating within one run (:func:`benchmarks.timing.compare`),
median of 11 rounds (and the best round, steadier on a busy machine):

- ``gradient``: ``model.loss_and_gradients(X, Y)`` (checked, as every public call);
- ``GGN kernel``: :func:`mlmath.curvature.output_curvature_product`, the product's work, and
  what conjugate gradient calls inside Hessian-free (the batch is checked once per step);
- ``GGN product``: :func:`mlmath.curvature.gauss_newton_vector_product`, the checked call: the
  kernel, plus the direction's checks and the batch's (``Sequential.check_batch``: no forward
  pass, but on small batches Python's per-call overhead, which the gradient's own checks share);
- ``empirical Fisher``: :func:`mlmath.curvature.fisher_vector_product` with ``kind="empirical"``;
- ``exact HVP``: ``model.hessian_vector_product`` (chapter 5), for scale;
- if torch imports: one gradient (``torch.autograd.grad``) and one GGN product in the same
  forward-over-reverse form, ``torch.func.jvp`` for :math:`Jv` then ``torch.func.vjp`` for
  :math:`J^\\top H_\\ell Jv`; its result is checked against mlmath's first.

The target (one GGN product at most two gradients) is judged on both lines. The matrix
products set the floor: per hidden layer a gradient needs three (:math:`XW^\\top`,
:math:`dZ^\\top X`, :math:`dZ\\,W`), the Gauss–Newton product five (:math:`XW^\\top` and
:math:`R\\{X\\}W^\\top + XR\\{W\\}^\\top` forward, two backward), so about 5/3 of a gradient.

Run: ``python -m benchmarks curvature``. On a 2-core machine shared with other work, the
absolute times swing; the ratios, taken within each round, are steadier (see ``bench_hvp``).
"""

from __future__ import annotations

import itertools
import os
import statistics
from collections.abc import Callable
from functools import partial
from typing import Any, cast

import numpy as np

from benchmarks.bench_hvp import WIDTHS, article_model, multiply_adds
from benchmarks.timing import compare, torch_or_none
from mlmath._flat import split_flat
from mlmath.curvature import fisher_vector_product, gauss_newton_vector_product, output_curvature_product
from mlmath.models import Sequential

BATCHES = (32, 1000)
TARGET = 2.0  # one GGN product should cost at most this many gradients
# matrix products of a layer's size in one GGN product, at the input layer and above it
GGN_PRODUCTS = (3, 5)  # Z, R{Z} (1 or 2 products), dW, and dX above


def torch_contenders(model: Sequential, X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> dict[str, Callable[[], Any]]:
    import torch
    from torch.func import jvp, vjp

    tdtype = torch.float64 if X.dtype == np.float64 else torch.float32
    params = tuple(torch.tensor(w, dtype=tdtype, requires_grad=True) for w in model.get_weights())
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    shapes = [w.shape for w in model.trainable_weights]
    cuts = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]
    vt = tuple(torch.from_numpy(p.reshape(s).copy()) for p, s in zip(np.split(v, cuts), shapes, strict=True))
    scale = 2.0 / Y.size  # the Hessian of the mean squared error in P

    def output(W1, b1, W2, b2, W3, b3):
        A1 = torch.relu(Xt @ W1.T + b1)
        A2 = torch.relu(A1 @ W2.T + b2)
        return torch.softmax(A2 @ W3.T + b3, dim=1)

    def gradient() -> tuple[torch.Tensor, ...]:
        return torch.autograd.grad(((output(*params) - Yt) ** 2).mean(), params)

    detached = tuple(p.detach() for p in params)

    def ggn_product() -> tuple[torch.Tensor, ...]:
        Jv = jvp(output, detached, vt)[1]
        pullback = vjp(output, *detached)[1]
        return pullback(scale * Jv)

    ours = gauss_newton_vector_product(model, X, Y, v)
    theirs = np.concatenate([t.numpy().ravel() for t in ggn_product()])
    tol = 1e-10 if X.dtype == np.float64 else 1e-3
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * np.abs(theirs).max())
    return {"torch gradient": gradient, "torch GGN product": ggn_product}


def main() -> None:
    torch: Any = torch_or_none()
    grad_work, ggn_work = multiply_adds(WIDTHS, GGN_PRODUCTS)
    print(
        f"network {'-'.join(map(str, WIDTHS))}, mean squared error; matrix products: gradient {grad_work:,}, "
        f"GGN product {ggn_work:,} multiply-adds per row (ratio {ggn_work / grad_work:.2f}); median of 11 rounds"
    )
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    busy = ": other work skews the times; rerun on a quiet machine" if load > cores else ""
    print(f"load average {load:.1f} on {cores} cores{busy}")
    for dtype, rows in itertools.product((np.float64, np.float32), BATCHES):
        model, X_all, Y_all = article_model(dtype)
        X, Y = X_all[:rows], Y_all[:rows]
        assert model.loss is not None
        v = np.random.default_rng(1).standard_normal(model.count_params()).astype(dtype)
        shapes = [w.shape for w in model.trainable_weights]
        V = split_flat(v, shapes)  # the same direction as a list, for the kernel
        contenders: dict[str, Callable[[], object]] = {
            "gradient": partial(model.loss_and_gradients, X, Y),
            "GGN product": partial(gauss_newton_vector_product, model, X, Y, v),
            "GGN kernel": partial(output_curvature_product, model.layers, model.loss, X, Y, V, "gauss_newton"),
            "empirical Fisher": partial(fisher_vector_product, model, X, Y, v, kind="empirical"),
            "exact HVP": partial(model.hessian_vector_product, X, Y, v),
        }
        if torch is not None:
            contenders |= torch_contenders(model, X, Y, v)
        for fn in contenders.values():  # warm up: allocations, thread pools, first-call dispatch
            fn()
        number = 20 if rows <= 32 else 3
        # statistic=list keeps every round's time, for the median and the best alike
        rounds: dict[str, Any] = compare(contenders, repeats=11, number=number, statistic=cast(Any, list))
        median = {name: statistics.median(t) for name, t in rounds.items()}
        best = {name: min(t) for name, t in rounds.items()}
        print(f"\n{np.dtype(dtype).name}, batch {rows}:")
        print(f"{'contender':>18} {'median ms':>10} {'/ gradient':>11} {'best ms':>9} {'/ gradient':>11}")
        for name in rounds:
            base = "torch gradient" if name.startswith("torch") else "gradient"
            print(
                f"{name:>18} {median[name] * 1e3:>10.3f} {median[name] / median[base]:>11.2f} "
                f"{best[name] * 1e3:>9.3f} {best[name] / best[base]:>11.2f}"
            )
        for name in ("GGN kernel", "GGN product"):
            ratio = median[name] / median["gradient"]
            verdict = "met" if ratio <= TARGET else "missed"
            print(f"{'target':>18}: {name} <= {TARGET:g} gradients (medians): {verdict} ({ratio:.2f})")
        if torch is not None:
            print(f"{'GGN / torch GGN':>18}: {median['GGN product'] / median['torch GGN product']:.2f} (medians)")


if __name__ == "__main__":
    main()
