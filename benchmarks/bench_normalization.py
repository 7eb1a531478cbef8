"""LayerNorm alone, forward + backward, against ``torch.nn.LayerNorm`` with autograd.

Input of shape (2048, 64), float64 and float32, the same epsilon (1e-5) and the same ``gamma``
and ``beta`` in both. One pass is a forward and a backward to the input, ``gamma`` and
``beta``:

- ``mlmath``: ``layer.call(X)`` then ``layer.backprop(dA, True)`` (the protocol a model calls,
  without the checks of the public ``forward``/``backward``);
- ``torch``: ``ln(X)`` then ``out.backward(dA)`` with ``X.requires_grad``, the gradients
  cleared between passes.

Both results are first checked equal (output, input gradient and parameter gradients).
Contenders alternate within one run (:func:`benchmarks.timing.compare`): median of 7 rounds.
PyTorch runs LayerNorm as one fused, threaded kernel each way; numpy needs a few passes over
memory per direction (mean, centring, variance, scaling, affine; and back: two column sums,
two row reductions, the projection), so the target is a ratio of at most 3.

On a 2-core machine busy with other work, PyTorch's two-thread kernel waits for its second
thread to get a time slice, and its time grows from a fraction of a millisecond to tens of
milliseconds while numpy's single-threaded passes slow down far less: the ratio is then
meaningless. Rerun on a quiet machine.

Run: ``python -m benchmarks normalization``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks.timing import median_in_turns, torch_or_none
from mlmath.normalization import LayerNorm

ROWS, WIDTH, EPSILON = 2048, 64, 1e-5
ROUNDS, TURN, PAUSE = 7, 0.05, 0.05
TARGET = 3.0


def data(dtype: type) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X, dA = rng.normal(size=(ROWS, WIDTH)), rng.normal(size=(ROWS, WIDTH))
    gamma, beta = 1.0 + 0.1 * rng.normal(size=WIDTH), 0.1 * rng.normal(size=WIDTH)
    return X.astype(dtype), dA.astype(dtype), gamma.astype(dtype), beta.astype(dtype)


def mlmath_pass(dtype: type) -> tuple[Callable[[], object], Callable[[], list[np.ndarray]]]:
    X, dA, gamma, beta = data(dtype)
    layer = LayerNorm(epsilon=EPSILON)
    layer.build(WIDTH, dtype=dtype)
    layer.params["gamma"][...], layer.params["beta"][...] = gamma, beta

    def run() -> np.ndarray | None:
        layer.call(X)
        return layer.backprop(dA, True)

    def results() -> list[np.ndarray]:
        A = layer.call(X)
        dX = layer.backprop(dA, True)
        if dX is None:
            raise RuntimeError("LayerNorm.backprop returned no input gradient")
        return [A, dX, layer.grads["gamma"].copy(), layer.grads["beta"].copy()]

    return run, results


def torch_pass(torch: object, dtype: type) -> tuple[Callable[[], object], Callable[[], list[np.ndarray]]]:
    X_np, dA_np, gamma, beta = data(dtype)
    tdtype = getattr(torch, np.dtype(dtype).name)
    ln = torch.nn.LayerNorm(WIDTH, eps=EPSILON, dtype=tdtype)  # type: ignore[attr-defined]
    with torch.no_grad():  # type: ignore[attr-defined]
        ln.weight.copy_(torch.from_numpy(gamma))  # type: ignore[attr-defined]
        ln.bias.copy_(torch.from_numpy(beta))  # type: ignore[attr-defined]
    X = torch.from_numpy(X_np).requires_grad_(True)  # type: ignore[attr-defined]
    dA = torch.from_numpy(dA_np)  # type: ignore[attr-defined]

    def run() -> object:
        X.grad = ln.weight.grad = ln.bias.grad = None
        out = ln(X)
        out.backward(dA)
        return X.grad

    def results() -> list[np.ndarray]:
        X.grad = ln.weight.grad = ln.bias.grad = None
        out = ln(X)
        out.backward(dA)
        return [t.detach().numpy().copy() for t in (out, X.grad, ln.weight.grad, ln.bias.grad)]

    return run, results


def main() -> None:
    torch = torch_or_none()
    print(
        f"LayerNorm on ({ROWS}, {WIDTH}), epsilon {EPSILON}; forward + backward; median of {ROUNDS} alternating rounds"
    )
    header = f"{'dtype':>8} {'mlmath ms':>10}"
    if torch is not None:
        header += f" {'torch ms':>10} {'mlmath/torch':>13} {'target':>7}"
    print(header)
    for dtype in (np.float64, np.float32):
        run, results = mlmath_pass(dtype)
        contenders = {"mlmath": run}
        if torch is not None:
            torch_run, torch_results = torch_pass(torch, dtype)
            rtol = 1e-10 if dtype == np.float64 else 1e-3
            for name, ours, theirs in zip(("A", "dX", "dgamma", "dbeta"), results(), torch_results(), strict=True):
                np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol, err_msg=name)
            contenders["torch"] = torch_run
        med = median_in_turns(contenders, ROUNDS, TURN, PAUSE)
        line = f"{np.dtype(dtype).name:>8} {med['mlmath'] * 1e3:>10.3f}"
        if torch is not None:
            ratio = med["mlmath"] / med["torch"]
            line += f" {med['torch'] * 1e3:>10.3f} {ratio:>13.2f} {'<=' if ratio <= TARGET else '> '}{TARGET:.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
