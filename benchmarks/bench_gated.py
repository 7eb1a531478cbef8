"""One forward + backward pass (full BPTT) of an LSTM and a GRU: mlmath.gated against torch.nn.LSTM / nn.GRU.

Sizes: batch 32, 32 features, hidden 128, 32 outputs per step, T = 50, 200, 800, float64 and float32.
Both sides do the same work: the gated recurrence over T steps, a linear read-out at every step,
the loss L = sum over steps and outputs of (y_hat - y)^2 / 2, averaged over the batch, and the
gradients of every parameter by backpropagation through time. Before timing, one case checks that
both sides compute the same loss and gradients from the same weights (loaded into mlmath with
``from_torch_weights``). Contenders alternate round by round (:func:`benchmarks.timing.compare`),
each turn after a pause and one untimed call: OpenBLAS's worker threads spin for a while after a
call, and so do PyTorch's OpenMP threads; on 2 cores, a contender timed right after the other one
ran up to 3 times slower than alone. Each turn times at least 0.1 s of calls in a row (one call
of a short sequence takes a few milliseconds, too short to time alone on a shared machine). The
table shows medians of 7 rounds, the time per call and per step (time / T: flat when time is
linear in T), the ratio mlmath / torch and its target.

Run: ``python -m benchmarks gated``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.bench_rnn import torch_bptt_pass
from benchmarks.timing import median_in_turns, torch_or_none
from mlmath.gated import GRU, LSTM, gru_bptt, gru_init_params, lstm_bptt, lstm_init_params

BATCH, FEATURES, HIDDEN, OUTPUTS = 32, 32, 128, 32
LENGTHS = (50, 200, 800)
ROUNDS = 7
PAUSE = 0.3  # seconds before each turn (and one untimed call): the other library's threads go idle
TURN = 0.1  # seconds of calls, at least, timed per turn
MODELS = {"LSTM": (lstm_init_params, lstm_bptt, LSTM), "GRU": (gru_init_params, gru_bptt, GRU)}
# mlmath / torch, at most: PyTorch's float32 LSTM is one fused oneDNN kernel; everything else is not
TARGETS: dict[tuple[str, str], tuple[float, ...]] = {
    ("LSTM", "float64"): (1.0, 1.0, 1.0),
    ("LSTM", "float32"): (1.35, 1.15, 1.0),
    ("GRU", "float64"): (1.0, 1.0, 1.0),
    ("GRU", "float32"): (1.0, 1.0, 1.0),
}


def mlmath_pass(model: str, T: int, rng: np.random.Generator, dtype: type) -> Callable[[], object]:
    init, bptt, _ = MODELS[model]
    params = init(FEATURES, HIDDEN, OUTPUTS, rng=rng, dtype=dtype)
    X = rng.standard_normal((BATCH, T, FEATURES)).astype(dtype)
    Y = rng.standard_normal((BATCH, T, OUTPUTS)).astype(dtype)
    return lambda: bptt(params, X, Y)


def torch_modules(torch: Any, model: str, dtype: type) -> tuple[Any, Any]:
    torch.manual_seed(0)
    tdtype = torch.float64 if dtype is np.float64 else torch.float32
    cls = torch.nn.LSTM if model == "LSTM" else torch.nn.GRU
    return cls(FEATURES, HIDDEN, batch_first=True).to(tdtype), torch.nn.Linear(HIDDEN, OUTPUTS).to(tdtype)


def torch_pass(model: str, T: int, rng: np.random.Generator, dtype: type) -> Callable[[], object]:
    import torch

    rnn, readout = torch_modules(torch, model, dtype)
    return torch_bptt_pass(torch, rnn, readout, T, rng, dtype)


def check_same_numbers(torch: Any, model: str) -> float:
    """Loss and every gradient (parameters and initial states) of both sides from the same weights, float64.

    Returns the largest relative difference; raises if it exceeds 1e-10.
    """
    T, B = 20, 4
    rnn, readout = torch_modules(torch, model, np.float64)
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((B, T, FEATURES)), rng.standard_normal((B, T, OUTPUTS))
    states = [rng.standard_normal((B, HIDDEN)) for _ in range(2 if model == "LSTM" else 1)]
    tensors = [torch.tensor(s[None], requires_grad=True) for s in states]
    H, _ = rnn(torch.from_numpy(X), tuple(tensors) if model == "LSTM" else tensors[0])
    loss = 0.5 * ((readout(H) - torch.from_numpy(Y)) ** 2).sum() / B
    loss.backward()
    weights = [rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0, readout.weight, readout.bias]
    net = MODELS[model][2].from_torch_weights(*(w.detach().numpy() for w in weights))
    ours_loss, ours = net.loss_and_gradients(X, Y, states[0], **({"c0": states[1]} if model == "LSTM" else {}))
    theirs = [w.grad.numpy() for w in weights] + [t.grad.numpy()[0] for t in tensors]
    if model == "LSTM":  # one bias for two: both of PyTorch's get the gradient of b
        expected = [theirs[0], theirs[1], theirs[2], *theirs[4:]]
        np.testing.assert_allclose(theirs[2], theirs[3], rtol=1e-12, atol=1e-15)
    else:  # PyTorch's blocks r, z, n; ours z, r, n
        n = HIDDEN
        order = np.r_[n : 2 * n, 0:n, 2 * n : 3 * n]
        expected = [t[order] for t in theirs[:4]] + theirs[4:]
    worst = abs(ours_loss - loss.item()) / abs(loss.item())
    for ours_g, theirs_g in zip(ours, expected, strict=True):
        worst = max(worst, float(np.max(np.abs(ours_g - theirs_g)) / np.max(np.abs(theirs_g))))
    if worst > 1e-10:
        raise AssertionError(f"{model}: mlmath and torch differ by {worst:.1e} (relative) on the same weights")
    return worst


def main() -> None:
    torch = torch_or_none()
    have_torch = torch is not None
    if have_torch:
        for model in MODELS:
            worst = check_same_numbers(torch, model)
            print(f"{model}: loss and all gradients equal torch's from the same weights (max rel. diff {worst:.1e})")
    print(f"batch {BATCH}, features {FEATURES}, hidden {HIDDEN}, outputs {OUTPUTS}; forward + full BPTT")
    print(f"median of {ROUNDS} alternating rounds")
    header = f"{'model':>5} {'dtype':>7} {'T':>5} {'mlmath ms':>10} {'per step us':>12}"
    if have_torch:
        header += f" {'torch ms':>10} {'per step us':>12} {'mlmath/torch':>13} {'target':>7}"
    print(header)
    for model, dtype in itertools.product(MODELS, (np.float64, np.float32)):
        for T, target in zip(LENGTHS, TARGETS[model, np.dtype(dtype).name], strict=True):
            rng = np.random.default_rng(T)
            contenders = {"mlmath": mlmath_pass(model, T, rng, dtype)}
            if have_torch:
                contenders["torch"] = torch_pass(model, T, rng, dtype)
            med = median_in_turns(contenders, ROUNDS, TURN, PAUSE)
            ms = med["mlmath"]
            line = f"{model:>5} {np.dtype(dtype).name:>7} {T:>5} {ms * 1e3:>10.2f} {ms / T * 1e6:>12.1f}"
            if have_torch:
                ratio = ms / med["torch"]
                line += f" {med['torch'] * 1e3:>10.2f} {med['torch'] / T * 1e6:>12.1f} {ratio:>13.2f}"
                line += f" {'<=' if ratio <= target else '> '}{target:.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
