"""Serve MathJax 3 from the built book itself, so math renders with no network.

Sphinx loads MathJax from a CDN by default. This extension takes MathJax from the
``django-static-mathjax`` package (installed with the ``book`` extra), copies its ``es5``
folder into ``_static/mathjax`` of the HTML output and points ``mathjax_path`` at it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

TARGET = "mathjax"  # folder under _static/


def _mathjax_source() -> Path:
    try:
        import mathjax  # the django-static-mathjax package
    except ImportError as exc:
        raise ExtensionError(
            "offline_mathjax needs the django-static-mathjax package: pip install -e '.[book]' (or run `make book`)"
        ) from exc
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / "tex-chtml.js").is_file():
        raise ExtensionError(f"offline_mathjax: no tex-chtml.js in {es5}")
    return es5


def _use_local_mathjax(app: Sphinx, config: Config) -> None:
    _mathjax_source()  # fail early, before any page is written
    config.mathjax_path = f"{TARGET}/tex-chtml.js"


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        shutil.copytree(_mathjax_source(), Path(app.outdir) / "_static" / TARGET, dirs_exist_ok=True)


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("config-inited", _use_local_mathjax)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
