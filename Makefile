# Two commands do all set-up on a fresh Debian machine with Python 3.11:
#   make run    start the platform with demo data at http://127.0.0.1:8000
#   make test   everything a reviewer runs: ruff, mypy, import-linter, pytest
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
STAMP := $(VENV)/.installed

.PHONY: install run demo test lint typecheck layers pytest bench clean

install: $(STAMP)

# Reinstall only when the dependency list changes; `make install` is idempotent.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/auctera demo --data-dir $(DATA_DIR)
	$(BIN)/auctera serve --data-dir $(DATA_DIR) --host 127.0.0.1 --port 8000

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

layers: install
	$(BIN)/lint-imports

pytest: install
	$(BIN)/python -m pytest -n 2 --dist loadfile

test: lint typecheck layers pytest

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
