"""Training with ``Sequential.fit`` against a hand-written PyTorch loop, and the article's program as a process.

Three measurements, printed side by side with the ratio mlmath / torch (lower is better for mlmath):

1. **The article's program** (chapter 12): 20-64(relu)-64(relu)-3(softmax), ``Adam(learning_rate=0.001)``,
   mean squared error, metric accuracy, 1000 random rows of which the last 200 validate
   (``validation_split=0.2``), batch 32, 50 epochs, shuffled each epoch, validated after each epoch.
   mlmath: a fresh ``Sequential`` compiled and ``fit(..., verbose=0)``. torch: a fresh ``nn.Sequential``
   ending in ``nn.Softmax``, ``torch.optim.Adam(lr=1e-3, eps=1e-7)`` (Keras's epsilon, as mlmath's),
   ``nn.MSELoss``, no DataLoader: ``torch.randperm`` each epoch and index slices of it; like ``fit``, it
   sums the training loss and counts right answers each step, and computes the validation loss and
   accuracy under ``torch.no_grad`` each epoch. Both sides build their model inside the timed call.
   Timed in float64 (like for like) and float32 (torch's usual dtype) on both sides. Target: mlmath
   at most 0.2x torch.
2. **A big MLP epoch**: 784-256(relu)-256(relu)-10, Adam, batch 128, one shuffled epoch over 60,000
   random float32 rows. mlmath: a final ``Activation('softmax')`` with ``CategoricalCrossentropy``
   (fit fuses them: the gradient P - Y enters below the softmax), one-hot targets, no metric. torch:
   ``nn.CrossEntropyLoss`` on logits with integer labels, ``loss.item()`` summed each step. The model
   is built once; each timed call trains one more epoch. Target: at most 1.0x.
3. **The article's program as a whole process**: ``sys.executable -c <script>``, run with the
   article's defaults (verbose fit, evaluate, predict), output captured. Wall time (best of up to 3
   runs) and peak resident set size: ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` read by a
   small Python process that starts the script and does nothing else (:data:`MEASURE`), so that
   the number is the script's own (a child's peak starts from the size of the process that forks
   it, and RUSAGE_CHILDREN keeps the largest child so far). The torch version of the script (same
   steps, float32, 2 threads) is shown for reference. Target: mlmath under 60 MiB.

Contenders alternate round by round within one run (:func:`benchmarks.timing.compare`, one call each
per round) and the best round counts; the first round is a cold one. Rounds stop early (never below a
minimum of 2, or 1 for the big MLP) when more would take too long, as on a loaded machine; the output
says how many were made. torch runs with 2 threads, the target's setting; rows with torch (and, for
the big MLP, numpy's OpenBLAS) on 1 thread are added for reference, because on a shared 2-core
machine a 2-thread pool can lose much more to other processes than one thread does. The header says
which BLAS numpy runs (the OpenBLAS core type it chose, read the way threadpoolctl reads it), the
value of ``OPENBLAS_CORETYPE`` (which can slow numpy when set; left as it is) and the load average.

Run: ``python -m benchmarks training`` (about two minutes on 2 cores).
"""

from __future__ import annotations

import ctypes
import glob
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.timing import compare, torch_or_none
from mlmath.data import random_classification, to_categorical
from mlmath.layers import Activation, Dense
from mlmath.losses import CategoricalCrossentropy, MeanSquaredError
from mlmath.models import Sequential
from mlmath.optim import Adam

ROOT = Path(__file__).resolve().parent.parent
DTYPES = (np.float64, np.float32)
BIG_ROWS, BIG_BATCH = 60_000, 128
MiB = 1024 * 1024

# ---------------------------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------------------------


def _openblas() -> tuple[Callable[[], bytes], Callable[[], int], Callable[[int], None]] | None:
    """OpenBLAS's ``get_corename``, ``get_num_threads``, ``set_num_threads`` in numpy's own copy, if found.

    Read the way threadpoolctl reads them (ctypes on the library that numpy's wheel ships), so
    nothing needs installing.
    """
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*.so*"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "")):
            names = [
                f"{prefix}_get_corename{suffix}",
                f"{prefix}_get_num_threads{suffix}",
                f"{prefix}_set_num_threads{suffix}",
            ]
            funcs = [getattr(lib, name, None) for name in names]
            if all(f is not None for f in funcs):
                funcs[0].restype = ctypes.c_char_p
                return funcs[0], funcs[1], funcs[2]
    return None


def blas_info() -> str:
    """numpy's BLAS as built, and (OpenBLAS) the core type it runs and its thread count."""
    config = np.show_config(mode="dicts")
    blas = config.get("Build Dependencies", {}).get("blas", {})
    text = f"{blas.get('name', '?')} {blas.get('version', '?')}"
    openblas = _openblas()
    if openblas is not None:
        corename, get_threads, _ = openblas
        text += f", core {corename().decode()}, {get_threads()} threads"
    return text


def environment() -> str:
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    l2 = os.environ.get("OPENBLAS_L2_SIZE")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"numpy {np.__version__}, BLAS {blas_info()}\n"
        f"OPENBLAS_CORETYPE={coretype if coretype is not None else '(unset)'}, "
        f"OPENBLAS_L2_SIZE={l2 if l2 is not None else '(unset)'}; "
        f"{os.cpu_count()} CPUs, load average {load} (1, 5, 15 min)"
    )


# ---------------------------------------------------------------------------------------------
# 1. the article's program: fit for 50 epochs
# ---------------------------------------------------------------------------------------------


def article_data(dtype: type) -> tuple[np.ndarray, np.ndarray]:
    X, Y = random_classification(num_samples=1000, num_features=20, num_classes=3, seed=0)
    return X.astype(dtype), Y.astype(dtype)


def mlmath_article(dtype: type) -> Callable[[], object]:
    X, Y = article_data(dtype)

    def run() -> object:
        model = Sequential(seed=0)
        model.add(Dense(64, input_dim=20))
        model.add(Activation("relu"))
        model.add(Dense(64))
        model.add(Activation("relu"))
        model.add(Dense(3))
        model.add(Activation("softmax"))
        model.compile(optimizer=Adam(learning_rate=0.001), loss=MeanSquaredError(), metrics=["accuracy"])
        return model.fit(X, Y, epochs=50, batch_size=32, validation_split=0.2, shuffle=True, verbose=0)

    return run


def torch_article(dtype: type) -> Callable[[], object]:
    import torch
    from torch import nn

    X, Y = article_data(dtype)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    split = 800  # Keras's rule: the last 20 % of the rows validate, taken before shuffling
    X_train, Y_train, X_val, Y_val = Xt[:split], Yt[:split], Xt[split:], Yt[split:]
    labels_train, labels_val = Y_train.argmax(dim=1), Y_val.argmax(dim=1)
    tdtype = torch.float64 if dtype is np.float64 else torch.float32
    torch.manual_seed(0)

    def run() -> object:
        model = nn.Sequential(
            nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3), nn.Softmax(dim=1)
        ).to(tdtype)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
        loss_fn = nn.MSELoss()
        history = []
        for _ in range(50):
            model.train()
            order = torch.randperm(split)
            total, correct = 0.0, 0
            for lo in range(0, split, 32):
                idx = order[lo : lo + 32]
                xb, yb = X_train[idx], Y_train[idx]
                optimizer.zero_grad()
                P = model(xb)
                loss = loss_fn(P, yb)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(idx)
                correct += int((P.argmax(dim=1) == labels_train[idx]).sum())
            model.eval()
            with torch.no_grad():
                P_val = model(X_val)
                val_loss = loss_fn(P_val, Y_val).item()
                val_accuracy = (P_val.argmax(dim=1) == labels_val).double().mean().item()
            history.append((total / split, correct / split, val_loss, val_accuracy))
        return history

    return run


# ---------------------------------------------------------------------------------------------
# 2. a big MLP: one epoch of 60,000 rows
# ---------------------------------------------------------------------------------------------


def big_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    X = rng.random((BIG_ROWS, 784), dtype=np.float32)
    labels = rng.integers(10, size=BIG_ROWS)
    return X, labels


def mlmath_big(X: np.ndarray, labels: np.ndarray) -> Callable[[], object]:
    Y = to_categorical(labels, 10, dtype=np.float32)
    model = Sequential(
        [
            Dense(256, input_dim=784),
            Activation("relu"),
            Dense(256),
            Activation("relu"),
            Dense(10),
            Activation("softmax"),
        ],
        seed=0,
    )
    model.compile(optimizer=Adam(learning_rate=0.001), loss=CategoricalCrossentropy())
    return lambda: model.fit(X, Y, epochs=1, batch_size=BIG_BATCH, shuffle=True, verbose=0)


def torch_big(X: np.ndarray, labels: np.ndarray) -> Callable[[], object]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(labels)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    m = Xt.shape[0]

    def run() -> float:
        model.train()
        order = torch.randperm(m)
        total = 0.0
        for lo in range(0, m, BIG_BATCH):
            idx = order[lo : lo + BIG_BATCH]
            optimizer.zero_grad()
            loss = loss_fn(model(Xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        return total / m

    return run


# ---------------------------------------------------------------------------------------------
# 3. the article's program as a whole process
# ---------------------------------------------------------------------------------------------

# The article's program exactly as tests/test_article_program.py runs it.
MLMATH_SCRIPT = (Path(__file__).resolve().parents[1] / "tests" / "article_program.py").read_text()

TORCH_SCRIPT = textwrap.dedent(
    """\
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(2)
    num_samples = 1000
    num_features = 20
    num_classes = 3
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.random((num_samples, num_features), dtype=np.float32))
    labels = torch.from_numpy(rng.integers(num_classes, size=num_samples))
    Y = nn.functional.one_hot(labels, num_classes).float()

    model = nn.Sequential(
        nn.Linear(num_features, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
        nn.Linear(64, num_classes), nn.Softmax(dim=1),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)
    loss_fn = nn.MSELoss()
    split = 800
    X_train, Y_train, X_val, Y_val = X[:split], Y[:split], X[split:], Y[split:]

    def evaluate(X, Y):
        with torch.no_grad():
            P = model(X)
            return loss_fn(P, Y).item(), (P.argmax(1) == Y.argmax(1)).float().mean().item()

    for epoch in range(1, 51):
        model.train()
        order = torch.randperm(split)
        total, correct = 0.0, 0
        for lo in range(0, split, 32):
            idx = order[lo:lo + 32]
            xb, yb = X_train[idx], Y_train[idx]
            optimizer.zero_grad()
            P = model(xb)
            loss = loss_fn(P, yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            correct += int((P.argmax(1) == yb.argmax(1)).sum())
        model.eval()
        val_loss, val_accuracy = evaluate(X_val, Y_val)
        print(f"Epoch {epoch}/50 - loss: {total / split:.4f} - accuracy: {correct / split:.4f}"
              f" - val_loss: {val_loss:.4f} - val_accuracy: {val_accuracy:.4f}")
    loss, accuracy = evaluate(X, Y)
    print(f'Loss: {loss}, Accuracy: {accuracy}')
    with torch.no_grad():
        predictions = model(X[:5])
    print(predictions)
    """
)


# Runs one script and reports on it. It is a small process of its own, so that what
# RUSAGE_CHILDREN reports is that script's peak alone: a child's ru_maxrss starts from the
# resident size of the process that forked it (and RUSAGE_CHILDREN keeps the largest child so far),
# so measured from this benchmark, which holds torch and 60,000-row arrays, it would show ours.
MEASURE = textwrap.dedent(
    """\
    import resource, subprocess, sys, time
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", sys.argv[1]], capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: kilobytes
    if done.returncode != 0 or "Loss:" not in done.stdout:
        sys.exit(f"the script failed (exit code {done.returncode}):\\n{done.stdout[-1000:]}{done.stderr[-2000:]}")
    print(wall, peak_kib)
    """
)


def run_process(script: str) -> tuple[float, float]:
    """Wall time in seconds and peak RSS in MiB of ``python -c script``, measured by :data:`MEASURE`."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    wall, peak_kib = done.stdout.split()
    return float(wall), float(peak_kib) * 1024 / MiB


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def _threads(fn: Callable[[], object], n: int) -> Callable[[], object]:
    """``fn`` run with torch's intra-op thread count set to ``n`` (the global setting, set per call)."""
    import torch

    def run() -> object:
        torch.set_num_threads(n)
        return fn()

    return run


def _best_of(
    contenders: dict[str, Callable[[], object]], rounds: tuple[int, int], budget: float
) -> tuple[dict[str, float], int]:
    """Best time of each contender over alternating rounds: at least ``rounds[0]``, at most ``rounds[1]``.

    Rounds after the minimum are run only while the total stays under ``budget`` seconds. The
    first round is a cold one (allocations, thread pools, first-call dispatch); the best of the
    rounds leaves it out as soon as a warm round beats it.
    """
    low, high = rounds
    best = dict.fromkeys(contenders, float("inf"))
    start, n = time.perf_counter(), 0
    while n < high:
        elapsed = time.perf_counter() - start
        if n >= low and elapsed * (n + 1) / n > budget:  # the next round would overrun the budget
            break
        for name, seconds in compare(contenders, repeats=1, number=1).items():
            best[name] = min(best[name], seconds)
        n += 1
    return best, n


def _table(title: str, rows: list[tuple[str, dict[str, float]]], steps: int, unit: str) -> None:
    """Print one block: per dtype, each contender's time, time per step and mlmath / that contender."""
    scale, digits = {"us": (1e6, 0), "ms": (1e3, 2)}[unit]
    print(f"   {'dtype':<8} {'contender':<18} {title:>8} {'per step ' + unit:>12} {'mlmath/this':>12}")
    for dtype, best in rows:
        for k, (name, seconds) in enumerate(best.items()):
            ratio = "" if name == "mlmath" else f"{best['mlmath'] / seconds:.2f}"
            label = dtype if k == 0 else ""
            print(f"   {label:<8} {name:<18} {seconds:>8.3f} {seconds / steps * scale:>12.{digits}f} {ratio:>12}")
    print(flush=True)


def main() -> None:
    print(environment())
    torch = torch_or_none(announce=False)
    have_torch = torch is not None
    if have_torch:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (1-thread rows for reference)", flush=True)
    t0 = time.perf_counter()

    # 1. the article's program
    print("\n1. The article's program: 20-64-64-3, Adam, MSE + accuracy, 800 train + 200 validation rows, batch 32,")
    print("   50 epochs (1250 steps), a new model per fit. Target mlmath/torch (2 threads) <= 0.2")
    rows, counts = [], []
    for dtype in DTYPES:
        contenders = {"mlmath": mlmath_article(dtype)}
        if have_torch:
            contenders["torch (2 threads)"] = _threads(torch_article(dtype), 2)
            contenders["torch (1 thread)"] = _threads(torch_article(dtype), 1)
        best, n = _best_of(contenders, rounds=(2, 5), budget=20.0)
        rows.append((np.dtype(dtype).name, best))
        counts.append(f"{n} ({np.dtype(dtype).name})")
    print(f"   (best of {' and '.join(counts)} alternating fits)")
    _table("fit s", rows, 50 * 25, "us")
    if have_torch:
        (_, b64), (_, b32) = rows
        print(
            "   each side in its usual dtype: mlmath float64 / torch float32 (2 threads) = "
            f"{b64['mlmath'] / b32['torch (2 threads)']:.2f}\n",
            flush=True,
        )

    # 2. a big MLP epoch
    steps = -(-BIG_ROWS // BIG_BATCH)
    print(
        f"2. A big MLP: 784-256-256-10, Adam, cross-entropy, batch {BIG_BATCH}, one shuffled epoch of "
        f"{BIG_ROWS:,} float32 rows"
    )
    X, labels = big_data()
    mlmath_epoch = mlmath_big(X, labels)  # one model, trained one more epoch per call
    contenders = {"mlmath": mlmath_epoch}
    openblas = _openblas()
    if openblas is not None:
        set_blas_threads, blas_threads = openblas[2], openblas[1]()

        def one_blas_thread() -> object:
            set_blas_threads(1)
            try:
                return mlmath_epoch()
            finally:
                set_blas_threads(blas_threads)

        contenders["mlmath (1 thread)"] = one_blas_thread
    if have_torch:
        torch_epoch = torch_big(X, labels)  # likewise
        contenders["torch (2 threads)"] = _threads(torch_epoch, 2)
        contenders["torch (1 thread)"] = _threads(torch_epoch, 1)
    best, n = _best_of(contenders, rounds=(1, 3), budget=30.0)
    print(f"   ({steps} steps; best of {n} alternating epochs. Target mlmath/torch (2 threads) <= 1.0)")
    _table("epoch s", [("float32", best)], steps, "ms")
    if have_torch:
        torch.set_num_threads(2)

    # 3. the article's program as a whole process
    print("3. The article's program as a whole process: python -c <script>, best wall time and peak RSS.")
    print("   Target: mlmath under 60 MiB")
    scripts = {"mlmath": MLMATH_SCRIPT}
    if have_torch:
        scripts["torch"] = TORCH_SCRIPT
    results: dict[str, tuple[float, float]] = {}
    start, runs = time.perf_counter(), 0
    while runs < 3 and (runs == 0 or (time.perf_counter() - start) * (runs + 1) / runs < 20.0):
        for name, script in scripts.items():  # alternating, as compare() does
            wall, rss = run_process(script)
            old = results.get(name, (float("inf"), 0.0))
            results[name] = (min(old[0], wall), max(old[1], rss))
        runs += 1
    print(f"   ({runs} run{'s' if runs > 1 else ''} each; peak RSS is the largest of the runs)")
    print(f"   {'script':<8} {'wall s':>8} {'peak RSS MiB':>13}")
    for name, (wall, rss) in results.items():
        print(f"   {name:<8} {wall:>8.2f} {rss:>13.1f}")
    if have_torch:
        (w_m, r_m), (w_t, r_t) = results["mlmath"], results["torch"]
        print(f"   mlmath/torch: wall {w_m / w_t:.2f}, peak RSS {r_m / r_t:.2f}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average at the end: {load}; whole benchmark {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
