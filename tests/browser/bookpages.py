"""What the tests of the built book share: where it is, the pages it links, headless Chromium.

The fixtures that use it (``browser``, ``open_page``) are in ``conftest.py`` beside it.

The tests here run after the book is built (``make test`` orders it so: the HTML, then the PDF).
They need Debian's ``chromium``; where it is missing the browser tests skip with a hint, except
when ``MLMATH_REQUIRE_BROWSER=1`` (as in CI), where they fail.

Which pages exist is never listed by hand: :func:`crawl` follows the links from the book's
first page, so a new chapter or appendix is covered as soon as the table of contents holds it
(and a stale page of an older build, linked from nowhere, is not).
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
SCREENSHOTS = ROOT / "_build" / "screenshots"
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


def require_chromium() -> str:
    """The path of Chromium, or skip (fail under ``MLMATH_REQUIRE_BROWSER=1``) with a hint."""
    if CHROMIUM is None:
        message = "headless Chromium not found; install it with `apt-get install -y chromium`"
        if os.environ.get("MLMATH_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


# ---------------------------------------------------------------------------------------------
# The built HTML as files: pages, their links and their anchors
# ---------------------------------------------------------------------------------------------


@dataclass
class ParsedPage:
    """One HTML file: the ids it defines and the local references it makes (``href``/``src``)."""

    ids: set[str] = field(default_factory=set)
    refs: list[str] = field(default_factory=list)
    forward: str | None = None  # where a <meta http-equiv="Refresh"> sends the reader


class _Collector(HTMLParser):
    def __init__(self, page: ParsedPage) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta" and (dict(attrs).get("http-equiv") or "").lower() == "refresh":
            # index.html forwards to the first page: <meta http-equiv="Refresh" content="0; url=intro.html">
            content = dict(attrs).get("content") or ""
            self.page.forward = content.partition("url=")[2].strip()
            self.page.refs.append(self.page.forward)
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (name == "name" and tag == "a"):
                self.page.ids.add(value)
            elif name in ("href", "src") and not (tag == "link" and name == "href" and "preconnect" in value):
                self.page.refs.append(value)


@functools.cache
def parse(path: Path) -> ParsedPage:
    page = ParsedPage()
    collector = _Collector(page)
    collector.feed(path.read_text(encoding="utf-8"))
    collector.close()
    return page


def local_target(source: Path, ref: str) -> tuple[Path, str] | None:
    """``(file, fragment)`` a reference of ``source`` points to, or None for one outside the book."""
    parts = urlsplit(ref)
    if parts.scheme or parts.netloc or ref.startswith("//"):
        return None  # http(s), mailto, data, javascript: not a file of the book
    path = source if parts.path == "" else (source.parent / unquote(parts.path)).resolve()
    return path, unquote(parts.fragment)


@functools.cache
def crawl(html: Path = HTML) -> tuple[str, ...]:
    """Every HTML page reachable by links from ``index.html``, as paths relative to the build."""
    if not (html / "index.html").is_file():
        return ()
    root = html.resolve()
    seen: set[Path] = set()
    todo = [root / "index.html"]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for ref in parse(path).refs:
            target = local_target(path, ref)
            if target and target[0].suffix == ".html" and target[0].is_relative_to(root):
                todo.append(target[0])
    return tuple(sorted(p.relative_to(root).as_posix() for p in seen))


def broken_links(html: Path = HTML) -> list[str]:
    """Each reference of a crawled page to a missing file, or to an ``#anchor`` its page lacks."""
    root = html.resolve()
    broken: list[str] = []
    for name in crawl(html):
        source = root / name
        for ref in parse(source).refs:
            target = local_target(source, ref)
            if target is None:
                continue
            path, fragment = target
            if not path.exists():
                broken.append(f"{name}: {ref} (no such file)")
            elif fragment and path.suffix == ".html" and fragment not in parse(path).ids:
                broken.append(f"{name}: {ref} (no id {fragment!r} on {path.name})")
    return broken


# ---------------------------------------------------------------------------------------------
# Headless Chromium
# ---------------------------------------------------------------------------------------------


class Page:
    """A page of the book as rendered, with every request outside the book recorded and refused.

    ``name`` is a page of the build without ``.html`` (``"intro"``) or a file name with a query
    (``"search.html?q=Hessian"``). Opening waits until MathJax, where the page loads it, has
    typeset every formula.
    """

    def __init__(self, browser: object, name: str, width: int = 1280, height: int = 900) -> None:
        self.outside: list[str] = []
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.page.route("**/*", self._only_local)
        path, _, query = name.partition("?")
        file = HTML / (path if path.endswith(".html") else f"{path}.html")
        self.page.goto(file.as_uri() + (f"?{query}" if query else ""), wait_until="load")
        forward = parse(file).forward
        if forward:  # index.html forwards to the preface
            self.page.wait_for_url(f"**/{forward}", timeout=10_000)
            self.page.wait_for_load_state("load")
        if self.page.evaluate("() => !!document.querySelector('script[src*=\"mathjax\"]')"):
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
