"""One forward + backward pass of a pre-LN transformer block: mlmath's layers against PyTorch's modules and autograd.

The block (pre-LN, as in GPT-2 and most encoders since), on X of shape (batch 32, T = 64, d = 64):

    H = X + MultiHeadAttention(LayerNorm(X)),      4 heads of size 16
    Y = H + Dense(64)(relu(Dense(256)(LayerNorm(H)))),

and the gradients of every parameter and of X for the loss L = sum(G * Y) with a fixed G (so
dL/dY = G: the backward pass of the block alone). mlmath chains its layers' protocol (``call``
forward, ``backprop`` backward, the residual sums by hand); PyTorch runs ``nn.LayerNorm``,
``nn.MultiheadAttention(batch_first=True, need_weights=False)``, ``nn.Linear`` and autograd.
Before timing, one case checks that both sides compute the same output and gradients from the
same weights. Contenders alternate round by round (:func:`benchmarks.timing.compare`), each turn
after a pause and one untimed call (the other library's threads go idle first); each turn times
at least 0.1 s of calls in a row. The table shows medians of 7 rounds, float64 and float32, and
the ratio mlmath / torch against its target.

Run: ``python -m benchmarks transformer``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.timing import median_in_turns, torch_or_none
from mlmath.attention import MultiHeadAttention
from mlmath.layers import Activation, Dense
from mlmath.normalization import LayerNorm

BATCH, T, D, HEADS, HIDDEN = 32, 64, 64, 4, 256
EPSILON = 1e-5  # PyTorch's LayerNorm default, given to both sides
ROUNDS = 7
PAUSE = 0.3  # seconds before each turn (and one untimed call): the other library's threads go idle
TURN = 0.1  # seconds of calls, at least, timed per turn
TARGETS = {"float64": 1.0, "float32": 1.25}  # mlmath / torch, at most


class Block:
    """The pre-LN block built from mlmath layers, run through the layer protocol."""

    def __init__(self, dtype: type, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.ln1, self.ln2 = LayerNorm(epsilon=EPSILON), LayerNorm(epsilon=EPSILON)
        self.mha = MultiHeadAttention(HEADS, D // HEADS)
        self.up, self.relu, self.down = Dense(HIDDEN), Activation("relu"), Dense(D)
        width = D
        for layer in self.layers:
            layer.build(width, rng, dtype)
            width = layer.compute_output_dim(width)

    @property
    def layers(self) -> list[Any]:
        return [self.ln1, self.mha, self.ln2, self.up, self.relu, self.down]

    def forward(self, X: np.ndarray) -> np.ndarray:
        H = X + self.mha.call(self.ln1.call(X))
        return H + self.down.call(self.relu.call(self.up.call(self.ln2.call(H))))

    def backward(self, G: np.ndarray) -> np.ndarray:
        dH = G + self.ln2.backprop(self.up.backprop(self.relu.backprop(self.down.backprop(G, True), True), True), True)
        return dH + self.ln1.backprop(self.mha.backprop(dH, True), True)

    def step(self, X: np.ndarray, G: np.ndarray) -> np.ndarray:
        self.forward(X)
        return self.backward(G)


def torch_block(torch: Any, dtype: type) -> Any:
    nn = torch.nn
    tdtype = torch.float64 if dtype is np.float64 else torch.float32

    class TorchBlock(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D, eps=EPSILON), nn.LayerNorm(D, eps=EPSILON)
            self.mha = nn.MultiheadAttention(D, HEADS, batch_first=True)
            self.up, self.down = nn.Linear(D, HIDDEN), nn.Linear(HIDDEN, D)

        def forward(self, x: Any) -> Any:
            a = self.ln1(x)
            h = x + self.mha(a, a, a, need_weights=False)[0]
            return h + self.down(torch.relu(self.up(self.ln2(h))))

    torch.manual_seed(0)
    return TorchBlock().to(tdtype)


def load_torch_weights(block: Block, module: Any) -> None:
    """Copy PyTorch's weights into the mlmath block (the same layouts: W of shape (n_out, n_in))."""
    pairs = [
        (block.ln1.params, {"gamma": module.ln1.weight, "beta": module.ln1.bias}),
        (block.ln2.params, {"gamma": module.ln2.weight, "beta": module.ln2.bias}),
        (
            block.mha.params,
            {
                "W_qkv": module.mha.in_proj_weight,
                "b_qkv": module.mha.in_proj_bias,
                "W_o": module.mha.out_proj.weight,
                "b_o": module.mha.out_proj.bias,
            },
        ),
        (block.up.params, {"W": module.up.weight, "b": module.up.bias}),
        (block.down.params, {"W": module.down.weight, "b": module.down.bias}),
    ]
    for params, tensors in pairs:
        for key, tensor in tensors.items():
            params[key][...] = tensor.detach().numpy()


def torch_grads(module: Any) -> list[np.ndarray]:
    m = module
    return [
        t.grad.numpy()
        for t in (
            m.ln1.weight,
            m.ln1.bias,
            m.mha.in_proj_weight,
            m.mha.in_proj_bias,
            m.mha.out_proj.weight,
            m.mha.out_proj.bias,
            m.ln2.weight,
            m.ln2.bias,
            m.up.weight,
            m.up.bias,
            m.down.weight,
            m.down.bias,
        )
    ]


def check_same_numbers(torch: Any) -> float:
    """Output, dX and every parameter gradient of both sides from the same weights, float64; the worst relative gap."""
    block, module = Block(np.float64), torch_block(torch, np.float64)
    load_torch_weights(block, module)
    rng = np.random.default_rng(1)
    X, G = rng.standard_normal((4, 10, D)), rng.standard_normal((4, 10, D))
    x = torch.tensor(X, requires_grad=True)
    y = module(x)
    (y * torch.from_numpy(G)).sum().backward()
    ours_y = block.forward(X)
    ours = [block.backward(G), *(g for layer in block.layers for g in layer.grads.values())]
    theirs = [x.grad.numpy(), *torch_grads(module)]
    worst = float(np.max(np.abs(ours_y - y.detach().numpy())) / np.max(np.abs(ours_y)))
    for a, b in zip(ours, theirs, strict=True):
        worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
    if worst > 1e-10:
        raise AssertionError(f"mlmath and torch differ by {worst:.1e} (relative) on the same weights")
    return worst


def mlmath_pass(dtype: type, rng: np.random.Generator) -> Callable[[], object]:
    block = Block(dtype)
    X = rng.standard_normal((BATCH, T, D)).astype(dtype)
    G = rng.standard_normal((BATCH, T, D)).astype(dtype)
    return lambda: block.step(X, G)


def torch_pass(torch: Any, dtype: type, rng: np.random.Generator) -> Callable[[], object]:
    module = torch_block(torch, dtype)
    x = torch.from_numpy(rng.standard_normal((BATCH, T, D)).astype(dtype)).requires_grad_(True)
    G = torch.from_numpy(rng.standard_normal((BATCH, T, D)).astype(dtype))

    def step() -> None:
        module.zero_grad(set_to_none=True)
        x.grad = None
        (module(x) * G).sum().backward()

    return step


def main() -> None:
    torch: Any = torch_or_none()
    have_torch = torch is not None
    if have_torch:
        worst = check_same_numbers(torch)
        print(f"output, dX and all parameter gradients equal torch's from the same weights (max rel. diff {worst:.1e})")
    print(f"pre-LN block: batch {BATCH}, T {T}, d {D}, {HEADS} heads, MLP {HIDDEN} (relu); forward + backward")
    print(f"median of {ROUNDS} alternating rounds")
    header = f"{'dtype':>7} {'mlmath ms':>10}"
    if have_torch:
        header += f" {'torch ms':>10} {'mlmath/torch':>13} {'target':>7}"
    print(header)
    for dtype in (np.float64, np.float32):
        rng = np.random.default_rng(0)
        contenders = {"mlmath": mlmath_pass(dtype, rng)}
        if have_torch:
            contenders["torch"] = torch_pass(torch, dtype, rng)
        med = median_in_turns(contenders, ROUNDS, TURN, PAUSE)
        name = np.dtype(dtype).name
        line = f"{name:>7} {med['mlmath'] * 1e3:>10.2f}"
        if have_torch:
            ratio, target = med["mlmath"] / med["torch"], TARGETS[name]
            line += f" {med['torch'] * 1e3:>10.2f} {ratio:>13.2f} {'<=' if ratio <= target else '> '}{target:.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
