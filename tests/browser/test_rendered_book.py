"""Open the built book in a real headless Chromium, offline, and check what a reader sees.

Runs after `jupyter-book build` (``make test`` orders it so). Needs Debian's ``chromium``;
where it is missing the tests skip with a hint, except when ``MLMATH_REQUIRE_BROWSER=1``
(as in CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        message = "headless Chromium not found; install it with `apt-get install -y chromium`"
        if os.environ.get("MLMATH_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book at {HTML}; run `make book` first")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


class Page:
    """A page of the book as rendered, with every request outside the book recorded and refused."""

    def __init__(self, browser: object, name: str) -> None:
        self.outside: list[str] = []
        self.page = browser.new_page()
        self.page.route("**/*", self._only_local)
        self.page.goto((HTML / f"{name}.html").as_uri(), wait_until="load")
        self.page.wait_for_function("() => window.MathJax && window.MathJax.startup", timeout=15_000)
        self.page.evaluate("() => MathJax.startup.promise")

    def _only_local(self, route: object) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()

    def text(self) -> str:
        return self.page.inner_text("main")

    def broken_images(self) -> list[str]:
        return self.page.evaluate(
            "() => Array.from(document.images)"
            ".filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src)"
        )


@pytest.fixture
def open_page(browser: object) -> Iterator[object]:
    pages: list[Page] = []

    def _open(name: str) -> Page:
        pages.append(Page(browser, name))
        return pages[-1]

    yield _open
    for p in pages:
        p.page.close()


def test_preface_renders_math_offline(open_page: object) -> None:
    page = open_page("intro")
    assert "Decoding the Matrix" in page.page.title()
    assert page.count("mjx-container") >= 10, "MathJax did not typeset the notation table"
    assert page.count("mjx-merror") == 0
    assert "$" not in page.text(), "raw TeX left on the page"
    assert page.outside == [], f"the page asked the network for {page.outside}"


def test_index_leads_to_the_preface(open_page: object) -> None:
    page = open_page("index")
    page.page.wait_for_url("**/intro.html", timeout=10_000)
    assert "Notation" in page.text()


def test_at_least_one_chapter_is_built() -> None:
    assert CHAPTERS, "book/ holds no chapter notebook"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_math_and_figures_render(open_page: object, chapter: str) -> None:
    page = open_page(chapter)
    assert page.count("mjx-container") >= 5, f"{chapter}: MathJax output missing"
    assert page.count("mjx-merror") == 0, f"{chapter}: MathJax reported a TeX error"
    assert "$$" not in page.text(), f"{chapter}: raw display math left on the page"
    images = page.count("main img")
    assert images >= 1, f"{chapter}: no figure on the page"
    assert page.broken_images() == [], f"{chapter}: images failed to load"
    assert page.count("details.dropdown, .toggle-details, .admonition.dropdown") >= 1, (
        f"{chapter}: no exercise solution behind a toggle"
    )
    assert page.outside == [], f"{chapter}: the page asked the network for {page.outside}"


def test_api_reference_lists_the_package(open_page: object) -> None:
    page = open_page("api")
    text = page.text()
    assert "mlmath.linalg" in text
    assert page.count('dl.py.function dt[id="mlmath.linalg.affine"]') == 1
