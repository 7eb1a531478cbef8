"""Print the single-page HTML build of the book to one PDF with headless Chromium.

Usage: ``python tools/print_pdf.py _build/singlehtml/intro.html _build/pdf/decoding-the-matrix.pdf``
(``make pdf`` builds the single page first). The page is opened offline from ``file://``; the
script waits until MathJax has typeset every formula and every figure has loaded, then prints
with Chromium's own PDF writer: A4, the print stylesheet ``book/_static/print.css``, and a
document outline (PDF bookmarks) made from the headings. Folded cells and the exercises'
solutions are opened and display formulas wider than the text are shrunk to fit, since paper
can be neither clicked nor scrolled.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from playwright.sync_api import Route, sync_playwright

CHROMIUM_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

MARGIN_MM = 16
PRINT_WIDTH_PX = round((210 - 2 * MARGIN_MM) / 25.4 * 96)  # A4's text width in CSS pixels
SHRINK_WIDE_MATH = """() => {
  for (const box of document.querySelectorAll('mjx-container[display="true"]')) {
    const math = box.querySelector('mjx-math');
    const ratio = box.getBoundingClientRect().width / math.getBoundingClientRect().width;
    if (ratio < 1) box.style.zoom = Math.max(ratio, 0.5).toFixed(3);
  }
}"""


def _only_local(route: Route) -> None:
    if route.request.url.startswith("file://"):
        route.continue_()
    else:
        route.abort()


def print_pdf(html: Path, pdf: Path, timeout_s: float = 600.0) -> float:
    """Print ``html`` to ``pdf``; return the seconds it took."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("print_pdf: headless Chromium not found; install it with `apt-get install -y chromium`")
    if not html.is_file():
        raise SystemExit(f"print_pdf: no single-page build at {html}; run `make pdf`")
    start = time.perf_counter()
    pdf.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            # Lay the page out as it will be printed: print media, the width inside A4's margins.
            page = browser.new_page(viewport={"width": PRINT_WIDTH_PX, "height": 1000})
            page.emulate_media(media="print")
            page.set_default_timeout(timeout_s * 1000)
            page.route("**/*", _only_local)
            page.goto(html.resolve().as_uri(), wait_until="load")
            page.wait_for_function("() => window.MathJax && window.MathJax.startup")
            page.evaluate("() => MathJax.startup.promise")
            page.wait_for_function("() => Array.from(document.images).every(img => img.complete)")
            # Paper cannot be clicked: open every folded cell and exercise solution.
            page.evaluate(
                "() => { document.querySelectorAll('details').forEach(d => { d.open = true; });"
                " document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden')); }"
            )
            errors = page.locator("mjx-merror").count()
            if errors:
                raise SystemExit(f"print_pdf: MathJax reported {errors} TeX errors in {html}")
            # A display formula wider than the text is shrunk to fit (on paper it cannot scroll).
            page.evaluate(SHRINK_WIDE_MATH)
            page.pdf(
                path=str(pdf),
                format="A4",
                margin={"top": "18mm", "bottom": "18mm", "left": f"{MARGIN_MM}mm", "right": f"{MARGIN_MM}mm"},
                print_background=True,
                outline=True,
                tagged=True,
            )
        finally:
            browser.close()
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    html, pdf = Path(argv[0]), Path(argv[1])
    seconds = print_pdf(html, pdf)
    print(f"{pdf}: {pdf.stat().st_size / 2**20:.1f} MiB, printed in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
