# The README's two commands: `make book` and `make test`. Each does its own set-up
# (a .venv with what it needs) and is quick to re-run when nothing changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HTML   := _build/html
CHAPTERS := $(sort $(wildcard book/[0-9][0-9]_*.ipynb))
APPENDICES := $(sort $(wildcard book/appendix_*.ipynb))
JB_BUILD := $(BIN)/jupyter-book build book --config _config.yml --path-output . -W --keep-going
# Cold imports of matplotlib build its font cache and say so on stderr; do it once at set-up
# so no notebook cell ever prints it.
WARM := $(BIN)/python -c "import matplotlib.pyplot, sympy, mlmath"

.PHONY: book test lint unit nbval html browser notebooks bench clean

book: $(VENV)/.book
	$(JB_BUILD)
	@echo "The book is at $(abspath $(HTML))/index.html"

test: $(VENV)/.test
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory nbval
	$(MAKE) --no-print-directory html
	$(MAKE) --no-print-directory browser

# The steps of `make test`, in its order; each alone assumes .venv is set up.
lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
unit:
	$(BIN)/pytest --doctest-modules mlmath tests --ignore=tests/browser
nbval:
	$(BIN)/pytest -p no:cacheprovider --nbval --nbval-current-env \
	    --nbval-sanitize-with book/nbval_sanitize.cfg $(CHAPTERS) $(APPENDICES)
html:
	$(JB_BUILD)
browser:
	$(BIN)/pytest tests/browser

# Re-run chapter notebooks in fresh kernels and store their outputs (after editing one):
# `make notebooks` for all, `make notebooks NB=book/01_linear_algebra.ipynb` for one.
notebooks: $(VENV)/.book
	$(BIN)/python tools/execute_notebooks.py $(NB)

bench: $(VENV)/.bench
	$(BIN)/python -m benchmarks

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.book: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[book]"
	$(WARM)
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	$(WARM)
	touch $@ $(VENV)/.book

$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,bench]"
	$(WARM)
	touch $@

clean:
	rm -rf _build .pytest_cache .ruff_cache .hypothesis
