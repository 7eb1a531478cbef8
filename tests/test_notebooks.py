"""Static checks of the stored chapter notebooks.

nbval compares a cell's stored outputs with a fresh run only when the cell was executed
(an empty ``execution_count`` is skipped silently), so a notebook saved without running would
pass vacuously. These tests make sure every chapter was run top to bottom in one fresh kernel
and that it keeps the book's arc: derive (sympy), implement (mlmath), check, see, exercises.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
NOTEBOOKS = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))
APPENDICES = sorted(BOOK.glob("appendix_*.ipynb"))  # run and checked like chapters, without the chapter arc


def toc_files() -> list[str]:
    text = (BOOK / "_toc.yml").read_text()
    return [m.group(1) for m in re.finditer(r"^\s*-?\s*(?:root|file):\s*(\S+)", text, flags=re.M)]


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_there_are_chapters() -> None:
    assert NOTEBOOKS, "no chapter notebooks found in book/"


def test_toc_and_files_agree() -> None:
    listed = toc_files()
    for name in listed:
        exists = any((BOOK / f"{name}{ext}").is_file() for ext in (".md", ".ipynb"))
        assert exists, f"_toc.yml lists {name}, but book/ has no {name}.md or {name}.ipynb"
    for nb in NOTEBOOKS + APPENDICES:
        assert nb.stem in listed, f"{nb.name} is not in book/_toc.yml, so the book never shows it"


@pytest.mark.parametrize("path", NOTEBOOKS + APPENDICES, ids=lambda p: p.name)
def test_executed_once_in_order(path: Path) -> None:
    counts = [c["execution_count"] for c in code_cells(load(path))]
    assert counts, f"{path.name} has no code cells"
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: code cells were not run once, top to bottom, in a fresh kernel "
        f"(execution counts {counts}); run `make notebooks`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS + APPENDICES, ids=lambda p: p.name)
def test_stored_outputs_are_clean(path: Path) -> None:
    for i, cell in enumerate(code_cells(load(path)), start=1):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{path.name} cell {i}: stored error {out.get('ename')}"
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), (
                f"{path.name} cell {i}: stored stderr output (a warning?): {''.join(out['text'])[:200]}"
            )
    assert path.stat().st_size < 3_000_000, f"{path.name} is over 3 MB; keep figures small"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_follows_the_arc(path: Path) -> None:
    nb = load(path)
    first = nb["cells"][0]
    title = source(first).lstrip() if first["cell_type"] == "markdown" else ""
    assert title.startswith("# "), f"{path.name}: the first cell must be markdown with the chapter's '# Title'"
    code = "\n".join(source(c) for c in code_cells(nb))
    markdown = "\n".join(source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "sympy" in code, f"{path.name}: no symbolic derivation (sympy)"
    assert re.search(r"\bmlmath\b", code), f"{path.name}: never calls mlmath"
    assert "assert_allclose" in code, f"{path.name}: no check cell (assert_allclose)"
    assert any("image/png" in out.get("data", {}) for c in code_cells(nb) for out in c.get("outputs", [])), (
        f"{path.name}: no figure"
    )
    assert re.search(r"^#+ .*Exercises", markdown, flags=re.M), f"{path.name}: no Exercises section"
    assert ":class: dropdown" in markdown, f"{path.name}: no solution hidden behind a toggle"
    ignored = [
        c
        for c in code_cells(nb)
        if source(c).lstrip().startswith("# NBVAL_IGNORE_OUTPUT")
        or "nbval-ignore-output" in c.get("metadata", {}).get("tags", [])
    ]
    assert len(ignored) <= 3, f"{path.name}: {len(ignored)} cells escape nbval; keep it to timings"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercise_answers_stay_hidden(path: Path) -> None:
    """A solution's output is its answer: code cells in the Exercises section hide input and output."""
    in_exercises = False
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "markdown":
            headings = re.findall(r"^(#+) (.*)$", source(cell), flags=re.M)
            for level, title in headings:
                if len(level) <= 2:
                    in_exercises = "Exercises" in title
        elif in_exercises and cell.get("outputs"):
            tags = cell.get("metadata", {}).get("tags", [])
            assert "hide-cell" in tags or "remove-cell" in tags or "remove-output" in tags, (
                f"{path.name} cell {i}: an exercise's code cell shows its output; tag it hide-cell"
            )


# --- a check must stop the notebook: assert it, never only print or display its verdict --------

_CHECK_CALLS = {"allclose", "isclose", "array_equal", "equals", "is_zero_matrix", "is_zero", "all", "any"}
_CHECK_ATTRS = {"is_zero_matrix", "is_zero"}


def _is_verdict(node: ast.AST) -> bool:
    """Whether an expression's value is a check's verdict: a comparison or a boolean test of one.

    A comparison inside another computation (``np.count_nonzero(Z > 0)``) is not a verdict; one
    under ``bool``, ``all``, ``any``, ``not``, ``and``/``or`` or in an f-string field is.
    """
    if isinstance(node, ast.Compare):
        return True
    if isinstance(node, ast.Attribute):
        return node.attr in _CHECK_ATTRS
    if isinstance(node, ast.Call):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in _CHECK_CALLS - {"all", "any"}:
            return True
        if name in ("bool", "all", "any"):
            parts = [*node.args, node.func.value] if isinstance(node.func, ast.Attribute) else node.args
            return any(_is_verdict(part) for part in parts)
        return False
    if isinstance(node, ast.JoinedStr):
        return any(_is_verdict(v.value) for v in node.values if isinstance(v, ast.FormattedValue))
    if isinstance(node, ast.BoolOp):
        return any(_is_verdict(v) for v in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _is_verdict(node.operand)
    return False


def _shows_a_difference(node: ast.Call) -> bool:
    """``show(..., sp.simplify(a - b))``: a difference displayed, presumably as zero."""
    return any(
        isinstance(sub, ast.Call)
        and getattr(sub.func, "attr", getattr(sub.func, "id", "")) == "simplify"
        and bool(sub.args)
        and isinstance(sub.args[0], ast.BinOp)
        and isinstance(sub.args[0].op, ast.Sub)
        for sub in ast.walk(node)
    )


def unasserted_verdicts(code: str) -> list[str]:
    """The lines of a cell that print or display a check's verdict instead of asserting it."""
    lines = [line if not line.lstrip().startswith(("%", "!")) else "" for line in code.splitlines()]
    tree = ast.parse("\n".join(lines))
    asserted = any(isinstance(n, ast.Assert) for n in ast.walk(tree)) or "assert_" in code
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            args = [*node.args, *(k.value for k in node.keywords)]
            printed = name == "print" and any(_is_verdict(arg) for arg in args)
            shown = name in ("show", "display", "Math") and _shows_a_difference(node) and not asserted
            if printed or shown:
                found.append(ast.unparse(node))
    if tree.body and isinstance(tree.body[-1], ast.Expr) and _is_verdict(tree.body[-1].value):
        found.append(ast.unparse(tree.body[-1]))
    return found


def test_the_verdict_detector_catches_each_form() -> None:
    caught = [
        'print("dL/dW == dZ^T X:", (A - B).is_zero_matrix)',
        'print("below 1e-6:", err < 1e-6)',
        "print(f'max error below 1e-6: {err < 1e-6}')",
        'show("J - (diag(s) - s s^T)", sp.simplify(J - K))',
        "sp.simplify(A - B) == 0",
        "np.allclose(a, b)",
    ]
    for code in caught:
        assert unasserted_verdicts(code), code
    passed = [
        'show("J - (diag(s) - s s^T)", sp.simplify(J - K))\nassert sp.simplify(J - K).is_zero_matrix',
        "assert err < 1e-6\nprint(f'max error {err:.1e}')",
        "np.testing.assert_allclose(a, b)",
        "x = a < b",
        "print(f'{np.count_nonzero(Z > 0)} of 12 positive')",
    ]
    for code in passed:
        assert not unasserted_verdicts(code), code


@pytest.mark.parametrize("path", NOTEBOOKS + APPENDICES, ids=lambda p: p.name)
def test_checks_are_asserted_not_printed(path: Path) -> None:
    problems = []
    for i, cell in enumerate(code_cells(load(path)), start=1):
        problems += [f"code cell {i}: {line}" for line in unasserted_verdicts(source(cell))]
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            for line in text.splitlines():
                if re.fullmatch(r"(.*:\s*)?(True|False)\s*", line):
                    problems.append(f"code cell {i} shows a verdict: {line.strip()}")
    assert not problems, f"{path.name}: a check's verdict is shown instead of asserted:\n" + "\n".join(problems)
