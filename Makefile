# Thin wrappers over the commands in README.md.
#   make notebooks   set up .venv, run every notebook (full profile), refresh results/ and the README table
#   make test        set up .venv, run pytest: dlutils unit tests + strict nbval (quick profile)
#   make lab         open Jupyter Lab on notebooks/
#   make sources     refresh the text sources notebooks/src/*.py from the notebooks, or the other way round (jupytext --sync)
#   make lint        ruff over the package, tests, scripts and the notebooks
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup notebooks test lab lint sources clean-cache

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

notebooks: setup
	$(BIN)/python scripts/run_notebooks.py

test: setup
	DLUTILS_PROFILE=quick $(BIN)/python -m pytest -n 2 --dist loadfile

lab: setup
	$(BIN)/jupyter lab notebooks/

sources: setup
	$(BIN)/jupytext --sync notebooks/[0-9][0-9]_*.ipynb

lint: setup
	$(BIN)/ruff check dlutils tests scripts conftest.py notebooks
