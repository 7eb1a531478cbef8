"""Execute book notebooks top to bottom in a fresh kernel and store their outputs.

Usage: ``python tools/execute_notebooks.py [book/NN_name.ipynb ...]`` (default: every
chapter and appendix notebook in ``book/``). Each notebook runs with ``book/`` as its working directory,
as Jupyter Book and nbval run it, so the stored outputs are what both will reproduce.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

BOOK = Path(__file__).resolve().parent.parent / "book"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def merge_streams(outputs: list) -> list:
    """Join consecutive stream outputs of the same name, however the kernel happened to flush them."""
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if out.output_type == "stream" and prev is not None and prev.output_type == "stream" and prev.name == out.name:
            prev.text += out.text
        else:
            merged.append(out)
    return merged


def execute(path: Path, timeout: int = 120) -> float:
    """Run ``path`` in a fresh ``python3`` kernel, write it back with outputs, return seconds."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = KERNELSPEC
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}})
    client.execute()
    seconds = time.perf_counter() - start
    for cell in nb.cells:  # execution timings never reproduce; keep diffs clean
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or [
        *sorted(BOOK.glob("[0-9][0-9]_*.ipynb")),
        *sorted(BOOK.glob("appendix_*.ipynb")),
    ]
    for path in paths:
        print(f"{path.name}: {execute(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
