"""One K-FAC step against one Adam step, on the source article's network; and the same K-FAC step in PyTorch.

Network 20-64-64-3 (relu, relu, softmax), mean squared error, batches of 32 rows of the
article's random data (:func:`mlmath.data.random_classification`). A "step" is one optimizer
step as a training loop runs it: each contender trains one epoch of 640 rows (20 batches of
32, shuffled) and the time is divided by 20, so the loop's own cost is shared out as it is in
training. Contenders, alternating within one run (:func:`benchmarks.timing.compare`), median
of 7 rounds:

- ``Adam``: :meth:`mlmath.models.Sequential.fit` with :class:`mlmath.optim.Adam`;
- ``K-FAC, T = 1`` and ``K-FAC, T = 10``: :func:`mlmath.second_order.fit` with
  :class:`mlmath.kfac.KFAC` (true Fisher from sampled targets, the paper's factored damping, KL
  clipping), the two damped inverses per layer refreshed every step, and every 10 steps (the
  default); ``K-FAC exact damping, T = 1 / 10``: the same with the damping on the Kronecker
  product, through eigendecompositions of the factors;
- if torch imports: ``torch Adam`` (``torch.optim.Adam``) and ``torch K-FAC ...``: the same
  K-FAC steps written with torch operations (autograd for the gradient and for the backward
  pass of the sampled targets, the factor products, ``torch.linalg.eigh`` or
  ``torch.linalg.inv``, the preconditioned update, the KL clipping), checked first against
  :class:`~mlmath.kfac.KFAC` on three steps.

Target: one K-FAC step at most 3 times one Adam step (both mlmath). K-FAC's step does one
forward and two backward passes, the factor products :math:`\\bar A^\\top \\bar A` and
:math:`G`, four small products per layer for the solve, and every T steps the
inverses (or eigendecompositions) of six small symmetric matrices (21, 65, 65 and 64, 64, 3 wide).

On a 2-core machine busy with other work, OpenBLAS's worker thread can end up sharing a core
with the main thread, and every small matrix product, eigendecomposition and inverse then waits
for a time slice (timings grow many-fold, see ``bench_hvp``); run with ``OPENBLAS_NUM_THREADS=1``
there.

Run: ``python -m benchmarks kfac``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import numpy as np

from benchmarks.bench_hvp import WIDTHS, article_network
from benchmarks.timing import compare, torch_or_none
from mlmath.data import random_classification
from mlmath.kfac import KFAC
from mlmath.second_order import fit

ROWS, BATCH = 640, 32
STEPS = ROWS // BATCH
DAMPING, KL_CLIP, DECAY = 1e-2, 1e-2, 0.95
VARIANTS = {
    "K-FAC, T = 1": (1, "factored"),
    "K-FAC, T = 10": (10, "factored"),
    "K-FAC exact damping, T = 1": (1, "exact"),
    "K-FAC exact damping, T = 10": (10, "exact"),
}


class TorchKFAC:
    """The step of :class:`mlmath.kfac.KFAC` (exact damping, KL clipping, no momentum) in torch operations."""

    def __init__(
        self, torch: object, weights: list[np.ndarray], period: int, fisher: str = "sampled", form: str = "exact"
    ) -> None:
        self.torch, self.period, self.fisher, self.form = torch, period, fisher, form
        self.params = [torch.tensor(w, requires_grad=True) for w in weights]  # type: ignore[attr-defined]
        self.t = 0
        self.A: list | None = None
        self.G: list | None = None
        self.eig: list = []
        self.gen = torch.Generator().manual_seed(0)  # type: ignore[attr-defined]

    def step(self, X: object, Y: object, lr: float = 0.1) -> float:
        torch = self.torch
        W1, b1, W2, b2, W3, b3 = self.params
        m = X.shape[0]  # type: ignore[attr-defined]
        inputs, zs = [X], []
        z = X @ W1.T + b1
        zs.append(z)
        a = torch.relu(z)  # type: ignore[attr-defined]
        inputs.append(a)
        z = a @ W2.T + b2
        zs.append(z)
        a = torch.relu(z)  # type: ignore[attr-defined]
        inputs.append(a)
        z = a @ W3.T + b3
        zs.append(z)
        P = torch.softmax(z, dim=1)  # type: ignore[attr-defined]
        loss = ((P - Y) ** 2).mean()
        n = P.shape[1]
        if self.fisher == "empirical":
            out = torch.autograd.grad(loss, [*self.params, *zs])  # type: ignore[attr-defined]
            grads, gz = out[:6], [g * m for g in out[6:]]
        else:
            grads = torch.autograd.grad(loss, self.params, retain_graph=True)  # type: ignore[attr-defined]
            u = math.sqrt(2.0 / n) * torch.randn(P.shape, generator=self.gen, dtype=P.dtype)  # type: ignore[attr-defined]
            gz = torch.autograd.grad(P, zs, grad_outputs=u)  # type: ignore[attr-defined]
        with torch.no_grad():  # type: ignore[attr-defined]
            ones = torch.ones((m, 1), dtype=P.dtype)  # type: ignore[attr-defined]
            As, Gs = [], []
            for a_in, g in zip(inputs, gz, strict=True):
                abar = torch.cat([a_in.detach(), ones], dim=1)  # type: ignore[attr-defined]
                As.append(abar.T @ abar / m)
                Gs.append(g.T @ g / m)
            self.t += 1
            if self.A is None or self.G is None:
                self.A, self.G = As, Gs
            else:
                beta = min(DECAY, 1.0 - 1.0 / self.t)
                self.A = [beta * old + (1 - beta) * new for old, new in zip(self.A, As, strict=True)]
                self.G = [beta * old + (1 - beta) * new for old, new in zip(self.G, Gs, strict=True)]
            if (self.t - 1) % self.period == 0:
                self.eig = [self.decompose(a, g) for a, g in zip(self.A, self.G, strict=True)]
            steps, inner = [], 0.0
            for k, held in enumerate(self.eig):
                V = torch.cat([grads[2 * k], grads[2 * k + 1][:, None]], dim=1)  # type: ignore[attr-defined]
                if self.form == "exact":
                    (la, qa), (lg, qg) = held
                    D = torch.outer(lg.clamp(min=0), la.clamp(min=0)) + DAMPING  # type: ignore[attr-defined]
                    U = qg @ ((qg.T @ V @ qa) / D) @ qa.T
                else:
                    a_inv, g_inv = held
                    U = g_inv @ V @ a_inv
                inner += float((V * U).sum())
                steps.append(U)
            rate = lr if lr * lr * inner <= KL_CLIP else math.sqrt(KL_CLIP / inner)
            for k, U in enumerate(steps):
                self.params[2 * k] -= rate * U[:, :-1]
                self.params[2 * k + 1] -= rate * U[:, -1]
        return float(loss.detach())

    def decompose(self, A: object, G: object) -> tuple:
        torch = self.torch
        if self.form == "exact":
            return torch.linalg.eigh(A), torch.linalg.eigh(G)  # type: ignore[attr-defined]
        p, q = A.shape[0], G.shape[0]  # type: ignore[attr-defined]
        pi = math.sqrt((float(A.trace()) / p) / (float(G.trace()) / q))  # type: ignore[attr-defined]
        root = math.sqrt(DAMPING)
        eye_a = torch.eye(p, dtype=A.dtype)  # type: ignore[attr-defined]
        eye_g = torch.eye(q, dtype=G.dtype)  # type: ignore[attr-defined]
        return torch.linalg.inv(A + pi * root * eye_a), torch.linalg.inv(G + root / pi * eye_g)  # type: ignore[attr-defined]


def check_torch_kfac(torch: object, X: np.ndarray, Y: np.ndarray, form: str) -> float:
    """Both K-FACs take three steps (empirical Fisher, so no sampling): the largest weight difference."""
    model = article_network(np.float64)
    ours = KFAC(
        fisher="empirical", inverse_update_freq=2, damping=DAMPING, kl_clip=KL_CLIP, decay=DECAY, damping_form=form
    )
    theirs = TorchKFAC(torch, model.get_weights(), period=2, fisher="empirical", form=form)
    for k in range(3):
        rows = slice(k * BATCH, (k + 1) * BATCH)
        ours.step(model, X[rows], Y[rows])
        theirs.step(torch.from_numpy(X[rows]), torch.from_numpy(Y[rows]))  # type: ignore[attr-defined]
    diff = [np.abs(w - p.detach().numpy()).max() for w, p in zip(model.get_weights(), theirs.params, strict=True)]
    return float(max(diff))


def torch_contenders(torch: object, dtype: type, X: np.ndarray, Y: np.ndarray) -> dict[str, Callable[[], object]]:
    tdtype = torch.float64 if dtype is np.float64 else torch.float32  # type: ignore[attr-defined]
    Xt, Yt = torch.from_numpy(X.astype(dtype)), torch.from_numpy(Y.astype(dtype))  # type: ignore[attr-defined]
    weights = article_network(dtype).get_weights()
    rng = np.random.default_rng(0)

    adam_params = [torch.tensor(w, dtype=tdtype, requires_grad=True) for w in weights]  # type: ignore[attr-defined]
    adam = torch.optim.Adam(adam_params, lr=0.001, eps=1e-7)  # type: ignore[attr-defined]

    def adam_epoch() -> None:
        W1, b1, W2, b2, W3, b3 = adam_params
        order = torch.from_numpy(rng.permutation(ROWS))  # type: ignore[attr-defined]
        for k in range(STEPS):
            rows = order[k * BATCH : (k + 1) * BATCH]
            Xb, Yb = Xt[rows], Yt[rows]
            adam.zero_grad()
            A1 = torch.relu(Xb @ W1.T + b1)  # type: ignore[attr-defined]
            A2 = torch.relu(A1 @ W2.T + b2)  # type: ignore[attr-defined]
            P = torch.softmax(A2 @ W3.T + b3, dim=1)  # type: ignore[attr-defined]
            ((P - Yb) ** 2).mean().backward()
            adam.step()

    def kfac_epoch(opt: TorchKFAC) -> None:
        order = torch.from_numpy(rng.permutation(ROWS))  # type: ignore[attr-defined]
        for k in range(STEPS):
            rows = order[k * BATCH : (k + 1) * BATCH]
            opt.step(Xt[rows], Yt[rows])

    kfacs = {name: TorchKFAC(torch, weights, T, form=form) for name, (T, form) in VARIANTS.items()}
    return {"torch Adam": adam_epoch, **{f"torch {name}": lambda o=o: kfac_epoch(o) for name, o in kfacs.items()}}


def main() -> None:
    torch = torch_or_none()
    X, Y = random_classification(num_samples=ROWS, num_features=WIDTHS[0], num_classes=WIDTHS[-1], seed=0)
    if torch is not None:
        for form in ("exact", "factored"):
            diff = check_torch_kfac(torch, X, Y, form)
            print(f"torch K-FAC vs mlmath KFAC ({form} damping), 3 steps: largest weight difference {diff:.1e}")
    print(
        f"network {'-'.join(map(str, WIDTHS))}, mean squared error, batch {BATCH}; "
        f"one epoch of {ROWS} rows = {STEPS} steps per timing; ms per step, median of 7 rounds"
    )
    for dtype in (np.float64, np.float32):
        Xd, Yd = X.astype(dtype), Y.astype(dtype)
        adam_model = article_network(dtype)
        runs = {
            name: (article_network(dtype), KFAC(inverse_update_freq=T, damping_form=form, seed=0))
            for name, (T, form) in VARIANTS.items()
        }
        contenders: dict[str, Callable[[], object]] = {
            "Adam": lambda m=adam_model, Xd=Xd, Yd=Yd: m.fit(Xd, Yd, epochs=1, batch_size=BATCH, verbose=0),
            **{
                name: lambda m=m, o=o, Xd=Xd, Yd=Yd: fit(m, Xd, Yd, o, epochs=1, batch_size=BATCH, verbose=0)
                for name, (m, o) in runs.items()
            },
        }
        if torch is not None:
            contenders |= torch_contenders(torch, dtype, X, Y)
        for fn in contenders.values():  # warm up: allocations, thread pools, first-call dispatch
            fn()
        times = compare(contenders, repeats=7, number=1, statistic=statistics.median)
        per_step = {name: t / STEPS for name, t in times.items()}
        print(f"\n{np.dtype(dtype).name}")
        print(f"{'contender':>36} {'ms/step':>8} {'/ Adam':>7}")
        for name, seconds in per_step.items():
            base = per_step["torch Adam"] if name.startswith("torch") else per_step["Adam"]
            print(f"{name:>36} {seconds * 1e3:>8.3f} {seconds / base:>7.2f}")
        if torch is not None:
            for name in VARIANTS:
                print(f"{name + ' / torch':>36}: {per_step[name] / per_step['torch ' + name]:.2f}")


if __name__ == "__main__":
    main()
