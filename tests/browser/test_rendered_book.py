"""Open the built book in a real headless Chromium, offline, and check what a reader sees.

Runs after `jupyter-book build` (``make test`` orders it so). The pages are found by following
the book's links (``bookpages.crawl``), the chapters by globbing ``book/NN_*.ipynb``: nothing
here lists them by hand. Each chapter test also saves a full-page screenshot under
``_build/screenshots/`` (``make screenshots`` runs only those).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from bookpages import CHAPTERS, HTML, ROOT, SCREENSHOTS, Page, crawl

pytestmark = pytest.mark.browser

PHONE_WIDTH = 390  # CSS pixels, a common phone in portrait

# A query and the chapter (a glob over book/) that must be among its results.
SEARCHES = [
    ("Hessian", "*_jacobian_hessian.ipynb"),
    ("LSTM", "*_gated_rnn.ipynb"),
    ("backpropagation through time", "*_bptt.ipynb"),
    ("Adam", "*_optimizers.ipynb"),
]

# The innermost elements that stick out to the right of the viewport and are not inside a box
# that scrolls or clips them: what makes the whole page scroll sideways on a phone.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = el => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden' || o === 'clip') return true;
    }
    return false;
  };
  const wide = Array.from(document.body.querySelectorAll('*')).filter(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.right > width + 1 && !clipped(el) && getComputedStyle(el).position !== 'fixed';
  });
  const out = wide.filter(el => !wide.some(other => other !== el && el.contains(other))).map(el => {
    const cls = typeof el.className === 'string' ? el.className.trim().split(/\\s+/).join('.') : '';
    const right = Math.round(el.getBoundingClientRect().right);
    return el.tagName.toLowerCase() + (cls ? '.' + cls : '') + ' right=' + right +
           ' "' + el.textContent.trim().slice(0, 40) + '"';
  });
  return {scroll: document.documentElement.scrollWidth, width: width, culprits: out.slice(0, 5)};
}"""


def chapter_of(pattern: str) -> str:
    matches = sorted((ROOT / "book").glob(pattern))
    assert len(matches) == 1, f"expected one chapter matching book/{pattern}, found {matches}"
    return matches[0].stem


def test_preface_renders_math_offline(open_page: Callable[..., Page]) -> None:
    page = open_page("intro")
    assert "Decoding the Matrix" in page.page.title()
    assert page.count("mjx-container") >= 10, "MathJax did not typeset the notation table"
    assert page.count("mjx-merror") == 0
    assert "$" not in page.text(), "raw TeX left on the page"
    assert page.outside == [], f"the page asked the network for {page.outside}"


def test_index_leads_to_the_preface(open_page: Callable[..., Page]) -> None:
    page = open_page("index")
    page.page.wait_for_url("**/intro.html", timeout=10_000)
    assert "Notation" in page.text()


def test_at_least_one_chapter_is_built() -> None:
    assert CHAPTERS, "book/ holds no chapter notebook"
    missing = [c for c in CHAPTERS if f"{c}.html" not in crawl()]
    assert missing == [], f"chapters not reachable from the book's first page: {missing}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_math_and_figures_render(open_page: Callable[..., Page], chapter: str) -> None:
    page = open_page(chapter)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.page.screenshot(path=SCREENSHOTS / f"{chapter}.png", full_page=True)
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


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_download_button_offers_the_notebook(open_page: Callable[..., Page], chapter: str) -> None:
    page = open_page(chapter)
    link = page.page.locator(".dropdown-download-buttons a", has_text=".ipynb")
    assert link.count() == 1, f"{chapter}: the download menu offers no .ipynb"
    href = link.get_attribute("href")
    assert href is not None
    assert href.endswith(f"{chapter}.ipynb"), f"{chapter}: the download offers {href}"
    downloaded = (HTML / href).resolve()
    assert downloaded.is_file(), f"{chapter}: {href} is not in the build"
    assert downloaded.read_bytes() == (ROOT / "book" / f"{chapter}.ipynb").read_bytes(), (
        f"{chapter}: the offered notebook is not the chapter's source"
    )


@pytest.mark.parametrize(("query", "pattern"), SEARCHES)
def test_search_finds_the_chapter(open_page: Callable[..., Page], query: str, pattern: str) -> None:
    chapter = chapter_of(pattern)
    page = open_page(f"search.html?q={query}")
    page.page.wait_for_selector("#search-results .search-summary", timeout=30_000)
    results = page.page.eval_on_selector_all("#search-results ul.search li a", "links => links.map(a => a.href)")
    pages = {Path(href.split("#")[0].split("?")[0]).stem for href in results}
    assert chapter in pages, f"searching {query!r} did not list {chapter}; it listed {sorted(pages)}"


@pytest.mark.parametrize("name", crawl())
def test_no_sideways_scroll_on_a_phone(open_page: Callable[..., Page], name: str) -> None:
    page = open_page(name, width=PHONE_WIDTH, height=844)
    found = page.page.evaluate(OVERFLOWING)
    assert found["scroll"] <= found["width"], (
        f"{name}: the page is {found['scroll']} px wide at a {found['width']} px viewport; "
        f"sticking out: {found['culprits']}"
    )


def test_api_reference_lists_the_package(open_page: Callable[..., Page]) -> None:
    page = open_page("api")
    text = page.text()
    assert "mlmath.linalg" in text
    assert page.count('dl.py.function dt[id="mlmath.linalg.affine"]') == 1
