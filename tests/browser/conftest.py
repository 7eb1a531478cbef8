"""Fixtures of the tests of the built book: one headless Chromium per run, pages opened in it.

The helpers they use, and the tests import, are in ``bookpages.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from bookpages import CHROMIUM_FLAGS, HTML, Page, require_chromium


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = require_chromium()
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book at {HTML}; run `make book` first")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: object) -> Iterator[Callable[..., Page]]:
    pages: list[Page] = []

    def _open(name: str, **viewport: int) -> Page:
        pages.append(Page(browser, name, **viewport))
        return pages[-1]

    yield _open
    for p in pages:
        p.page.close()
