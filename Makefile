# Two entry points: `make demo` runs the smoke grid and writes the report; `make test` runs the suite.
# Both create (or reuse) a virtual environment in .venv with the project installed in it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-dev

$(BIN)/zfsweep: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/zfsweep

demo: install
	$(BIN)/zfsweep run grids/smoke.yaml
	$(BIN)/zfsweep report --out results
	@echo "Report written to $(CURDIR)/results (table1.tex and friends)"

test: install
	$(BIN)/python -m pytest
