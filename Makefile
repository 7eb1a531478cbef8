# The README's commands. `make book` and `make test` are the two that matter; each does its own
# set-up (a .venv with what it needs, pinned by constraints.txt) and is quick to re-run when
# nothing changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HTML   := _build/html
LOCK   := constraints.txt
PDF    := _build/pdf/decoding-the-matrix.pdf
CHAPTERS := $(sort $(wildcard book/[0-9][0-9]_*.ipynb))
APPENDICES := $(sort $(wildcard book/appendix_*.ipynb))
# The notebooks' matrices are small: one BLAS thread runs them as fast on a quiet machine, and
# on a loaded one it avoids threads that wait on each other (measured 10-20x slower there).
NB_ENV := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
JB_BUILD := $(NB_ENV) $(BIN)/jupyter-book build book --config _config.yml --path-output . -W --keep-going
# Every install goes through the lock (`pip -c`): the stored outputs nbval compares were made
# with exactly these versions.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(LOCK)
# Cold imports of matplotlib build its font cache and say so on stderr; do it once at set-up
# so no notebook cell ever prints it.
WARM := $(BIN)/python -c "import matplotlib.pyplot, sympy, mlmath"
# JupyterLab's side of the set-up: the venv's own Python as the notebooks' kernel `python3`
# (so mlmath imports), and the lab's settings overrides (no news or update checks).
LAB_SETUP := $(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" \
	>/dev/null && install -D -m 644 tools/jupyterlab_overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
CHROMIUM := $(shell command -v chromium || command -v chromium-browser)
# The server refuses to run as root unless told.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: book test lint unit nbval html pdf no-chromium browser lab screenshots notebooks bench lock clean

book: $(VENV)/.book
	$(JB_BUILD)
	@echo "The book is at $(abspath $(HTML))/index.html"

test: $(VENV)/.test
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory nbval
	$(MAKE) --no-print-directory html
	$(MAKE) --no-print-directory $(if $(CHROMIUM)$(filter 1,$(MLMATH_REQUIRE_BROWSER)),pdf,no-chromium)
	$(MAKE) --no-print-directory browser

# The steps of `make test`, in its order; each alone assumes .venv is set up.
lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
unit:
	$(BIN)/pytest --doctest-modules mlmath tests --ignore=tests/browser
nbval:
	$(NB_ENV) $(BIN)/pytest -p no:cacheprovider --nbval --nbval-current-env \
	    --nbval-sanitize-with book/nbval_sanitize.cfg $(CHAPTERS) $(APPENDICES)
html:
	$(JB_BUILD)
no-chromium:
	@echo "no chromium: the PDF is not printed, and its tests skip (apt-get install -y chromium)"
# The whole book as one PDF: a single-page HTML build printed by headless Chromium.
pdf: $(VENV)/.test
	$(NB_ENV) $(BIN)/jupyter-book build book --config _config.yml --path-output . --builder singlehtml -W --keep-going
	$(BIN)/python tools/print_pdf.py _build/singlehtml/intro.html $(PDF)
# The built pages, the PDF and a chapter run in JupyterLab, in headless Chromium.
browser:
	$(BIN)/pytest tests/browser

# JupyterLab on the chapters, with mlmath importable in their kernel.
lab: $(VENV)/.lab
	$(BIN)/jupyter lab --ServerApp.root_dir=book $(ALLOW_ROOT)

# A full-page picture of every chapter as it renders, in _build/screenshots/.
screenshots: $(VENV)/.test
	$(JB_BUILD)
	rm -rf _build/screenshots
	$(BIN)/pytest tests/browser/test_rendered_book.py -k "chapter_math_and_figures"
	@echo "The screenshots are in $(abspath _build/screenshots)"

# Re-run chapter notebooks in fresh kernels and store their outputs (after editing one):
# `make notebooks` for all, `make notebooks NB=book/01_linear_algebra.ipynb` for one.
notebooks: $(VENV)/.book
	$(NB_ENV) $(BIN)/python tools/execute_notebooks.py $(NB)

bench: $(VENV)/.bench
	$(BIN)/python -m benchmarks

# Regenerate the lock from a fresh venv (newest versions the extras allow), keeping its header.
# Re-run `make notebooks` and `make test` after it: the stored outputs must still match.
lock:
	rm -rf _build/lock-venv
	$(PYTHON) -m venv _build/lock-venv
	_build/lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test,lab]"
	{ grep '^#' $(LOCK); _build/lock-venv/bin/python -m pip freeze --exclude-editable; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf _build/lock-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.book: pyproject.toml $(LOCK) | $(BIN)/python
	$(PIP_INSTALL) -e ".[book]"
	$(WARM)
	touch $@

$(VENV)/.lab: pyproject.toml $(LOCK) tools/jupyterlab_overrides.json | $(BIN)/python
	$(PIP_INSTALL) -e ".[lab]"
	$(LAB_SETUP)
	$(WARM)
	touch $@ $(VENV)/.book

# The tests include a chapter run in JupyterLab, so they install the lab as well.
$(VENV)/.test: pyproject.toml $(LOCK) tools/jupyterlab_overrides.json | $(BIN)/python
	$(PIP_INSTALL) -e ".[test,lab]"
	$(LAB_SETUP)
	$(WARM)
	touch $@ $(VENV)/.book $(VENV)/.lab

$(VENV)/.bench: pyproject.toml $(LOCK) | $(BIN)/python
	$(PIP_INSTALL) -e ".[test,bench]"
	$(WARM)
	touch $@

clean:
	rm -rf _build .pytest_cache .ruff_cache .hypothesis
