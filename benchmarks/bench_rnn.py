"""One forward + backward pass (full BPTT) of a vanilla RNN: mlmath.rnn against torch.nn.RNN.

Sizes: batch 32, 32 features, hidden 128, 32 outputs per step, T = 50, 200, 800. Both sides do the
same work: the tanh recurrence over T steps, a linear read-out at every step, the loss
L = sum over steps and outputs of (y_hat - y)^2 / 2, averaged over the batch, and the gradients of
every parameter by backpropagation through time, in float64 and in float32. Contenders alternate within one run
(:func:`benchmarks.timing.compare`), best of 5. Time per step (time / T) shows the linear growth.

Run: ``python -m benchmarks rnn``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.timing import compare, torch_or_none
from mlmath.rnn import bptt, init_params

BATCH, FEATURES, HIDDEN, OUTPUTS = 32, 32, 128, 32
LENGTHS = (50, 200, 800)


def mlmath_pass(T: int, rng: np.random.Generator, dtype: type) -> Callable[[], object]:
    params = init_params(FEATURES, HIDDEN, OUTPUTS, rng=rng, dtype=dtype)
    X = rng.standard_normal((BATCH, T, FEATURES)).astype(dtype)
    Y = rng.standard_normal((BATCH, T, OUTPUTS)).astype(dtype)
    return lambda: bptt(params, X, Y)


def torch_pass(T: int, rng: np.random.Generator, dtype: type) -> Callable[[], object]:
    import torch

    torch.manual_seed(0)
    tdtype = torch.float64 if dtype is np.float64 else torch.float32
    rnn = torch.nn.RNN(FEATURES, HIDDEN, nonlinearity="tanh", batch_first=True).to(tdtype)
    readout = torch.nn.Linear(HIDDEN, OUTPUTS).to(tdtype)
    return torch_bptt_pass(torch, rnn, readout, T, rng, dtype)


def torch_bptt_pass(
    torch: Any, rnn: Any, readout: Any, T: int, rng: np.random.Generator, dtype: type
) -> Callable[[], None]:
    """One forward + full BPTT of a torch recurrent module and its linear read-out, on the loss mlmath uses."""
    X = torch.from_numpy(rng.standard_normal((BATCH, T, FEATURES)).astype(dtype))
    Y = torch.from_numpy(rng.standard_normal((BATCH, T, OUTPUTS)).astype(dtype))
    params = [*rnn.parameters(), *readout.parameters()]

    def run() -> None:
        for p in params:
            p.grad = None
        H, _ = rnn(X)
        loss = 0.5 * ((readout(H) - Y) ** 2).sum() / BATCH
        loss.backward()

    return run


def main() -> None:
    torch = torch_or_none()
    have_torch = torch is not None
    print(f"batch {BATCH}, features {FEATURES}, hidden {HIDDEN}, outputs {OUTPUTS}; forward + full BPTT")
    header = f"{'dtype':>7} {'T':>5} {'mlmath ms':>10} {'per step us':>12}"
    if have_torch:
        header += f" {'torch ms':>10} {'per step us':>12} {'mlmath/torch':>13}"
    print(header)
    for dtype, T in itertools.product((np.float64, np.float32), LENGTHS):
        rng = np.random.default_rng(T)
        contenders = {"mlmath": mlmath_pass(T, rng, dtype)}
        if have_torch:
            contenders["torch"] = torch_pass(T, rng, dtype)
        for fn in contenders.values():  # warm up: allocations, thread pools, first-call dispatch
            fn()
        best = compare(contenders, repeats=5, number=1)
        line = f"{np.dtype(dtype).name:>7} {T:>5} {best['mlmath'] * 1e3:>10.2f} {best['mlmath'] / T * 1e6:>12.1f}"
        if have_torch:
            line += f" {best['torch'] * 1e3:>10.2f} {best['torch'] / T * 1e6:>12.1f}"
            line += f" {best['mlmath'] / best['torch']:>13.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
