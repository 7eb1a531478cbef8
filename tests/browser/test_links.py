"""No broken link inside the built book: every ``href``/``src`` that points to a file of the
build resolves, and every ``#anchor`` it names exists on the page it points to.

Pure file checks (no browser); the pages are those reachable from ``index.html``.
"""

from __future__ import annotations

from pathlib import Path

from bookpages import HTML, broken_links, crawl


def test_the_crawl_reaches_the_book() -> None:
    pages = crawl()
    assert "intro.html" in pages, f"no built book at {HTML}; run `make book` first"
    assert {"genindex.html", "search.html", "api.html"} <= set(pages)


def test_every_internal_link_resolves() -> None:
    broken = broken_links()
    assert broken == [], f"{len(broken)} broken links, e.g.\n" + "\n".join(broken[:20])


def test_the_checker_finds_what_is_broken(tmp_path: Path) -> None:
    """On a three-page site made here: a good link, a missing file, a missing anchor, an
    unlinked page (not crawled) and links outside the site (not checked)."""
    (tmp_path / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=a.html" />')
    (tmp_path / "a.html").write_text(
        '<h1 id="top">A</h1><a href="b.html#there">ok</a> <a href="#top">ok</a> <a href="missing.html">x</a>'
        ' <a href="b.html#nowhere">x</a> <a href="https://example.org/x.html">out</a> <img src="fig.png">'
    )
    (tmp_path / "b.html").write_text('<p id="there">B</p><a href="a.html">back</a>')
    (tmp_path / "stale.html").write_text('<a href="gone.html">x</a>')
    (tmp_path / "fig.png").write_bytes(b"\x89PNG")
    assert crawl(tmp_path) == ("a.html", "b.html", "index.html")
    assert broken_links(tmp_path) == [
        "a.html: missing.html (no such file)",
        "a.html: b.html#nowhere (no id 'nowhere' on b.html)",
    ]
