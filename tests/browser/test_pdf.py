"""The printed book (`make pdf`): every document in it, figures embedded, math typeset, bookmarks.

Runs after `make pdf` (``make test`` orders it so, where Chromium is installed; without it
these tests skip, and fail under ``MLMATH_REQUIRE_BROWSER=1`` as in CI). What the PDF must hold is read from the
single-page HTML it was printed from, never listed by hand: the title of every document (each
chapter, the appendices, the API reference) must be a bookmark, and the text may show raw TeX
only where the book's code cells show it.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from bookpages import CHAPTERS, ROOT, require_chromium

PDF = Path(os.environ.get("BOOK_PDF", ROOT / "_build" / "pdf" / "decoding-the-matrix.pdf"))
SINGLE = Path(os.environ.get("BOOK_SINGLEHTML", ROOT / "_build" / "singlehtml")) / "intro.html"
RAW_TEX = ("$$", r"\frac", r"\begin{", r"\mathbb")


def squash(text: str) -> str:
    """Text without whitespace: line breaks in a bookmark or a wrapped line do not matter."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def single() -> str:
    require_chromium()  # without it `make test` prints no PDF
    if not SINGLE.is_file():
        pytest.fail(f"no single-page build at {SINGLE}; run `make pdf` first")
    return SINGLE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reader() -> object:
    require_chromium()
    if not PDF.is_file():
        pytest.fail(f"no PDF at {PDF}; run `make pdf` first")
    from pypdf import PdfReader

    return PdfReader(PDF)


@pytest.fixture(scope="module")
def pdf_text() -> str:
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        message = "pdftotext not found; install it with `apt-get install -y poppler-utils`"
        if os.environ.get("MLMATH_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    if not PDF.is_file():
        pytest.fail(f"no PDF at {PDF}; run `make pdf` first")
    done = subprocess.run([pdftotext, "-enc", "UTF-8", str(PDF), "-"], capture_output=True, text=True, check=True)
    return done.stdout


def document_titles(single: str) -> list[str]:
    """The title of every document in the single-page build, in order (the first heading after its anchor)."""
    titles = []
    for block in re.split(r'<span id="document-', single)[1:]:
        heading = re.search(r"<h[1-6][^>]*>(.*?)</h[1-6]>", block, re.S)
        assert heading is not None
        title = re.sub(r'<a class="headerlink".*?</a>|<[^>]+>', "", heading.group(1))
        titles.append(html.unescape(title).strip())
    return titles


def outline_titles(reader: object) -> list[str]:
    titles: list[str] = []

    def walk(items: list) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                titles.append(item.title)

    walk(reader.outline)
    return titles


def test_the_whole_book_is_printed(reader: object, single: str) -> None:
    pages = len(reader.pages)
    assert pages > 100, f"the PDF has only {pages} pages"
    titles = document_titles(single)
    assert len(titles) >= len(CHAPTERS) + 2, f"the single-page build holds only {titles}"


def test_every_document_is_a_bookmark(reader: object, single: str) -> None:
    bookmarks = {squash(t) for t in outline_titles(reader)}
    assert bookmarks, "the PDF has no outline (bookmarks)"
    missing = [t for t in document_titles(single) if not any(squash(t) in b for b in bookmarks)]
    assert missing == [], f"no bookmark for {missing}"


def test_figures_are_embedded(reader: object, single: str) -> None:
    images: set[tuple[int, int]] = set()
    for page in reader.pages:
        xobjects = page.get("/Resources", {}).get("/XObject", {})
        for ref in xobjects.values():
            if ref.get_object().get("/Subtype") == "/Image":
                images.add((ref.idnum, ref.generation))
    figures = len(set(re.findall(r'<img [^>]*src="(_images/[^"]+)"', single)))
    assert figures >= len(CHAPTERS), f"the single-page build shows only {figures} figures"
    assert len(images) >= figures, f"{figures} figures in the book, {len(images)} images in the PDF"


def test_math_is_typeset(pdf_text: str, single: str) -> None:
    """Raw TeX may appear in the PDF only as often as the code cells print it themselves."""
    code = html.unescape(re.sub(r"<[^>]+>", "", "\n".join(re.findall(r"<pre[^>]*>(.*?)</pre>", single, re.S))))
    too_many = {d: (pdf_text.count(d), code.count(d)) for d in RAW_TEX if pdf_text.count(d) > code.count(d)}
    assert too_many == {}, f"raw TeX in the PDF beyond the code cells (in PDF, in code): {too_many}"
    assert "mlmath.linalg.affine" in pdf_text, "the API reference is not in the PDF"
