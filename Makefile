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

# The official retail-media Python SDK of each API version /{version}/retail-media serves, pinned,
# each in a directory of its own (releases of one distribution cannot share a site-packages; their
# dependencies are in the dev extras). Installed only when missing; tests/compat/retail_media runs
# each in a subprocess with PYTHONPATH on its directory. 2024-04: the last release whose SDK still
# has the promoted-products calls (later 2024.4 builds dropped them).
RETAIL_MEDIA_SDKS := 2023-10=2023.10.0.241029 2024-01=2024.1.0.250409 2024-04=2024.4.0.240515 \
	2024-07=2024.7.0.251028 2024-10=2024.10.0.260126 2025-01=2025.1.0.260601 \
	2025-04=2025.4.0.260601 2025-07=2025.7.0.260601 2025-10=2025.10.0.260601
SDK_DIR := $(VENV)/sdks

.PHONY: sdks
sdks: install
	@for pin in $(RETAIL_MEDIA_SDKS); do \
	  api=$${pin%%=*}; release=$${pin#*=}; dir=$(SDK_DIR)/$$api; \
	  test -f $$dir/.release-$$release && continue; \
	  rm -rf $$dir && $(BIN)/python -m pip install --quiet --no-deps --target $$dir \
	    criteo-api-retailmedia-sdk==$$release && touch $$dir/.release-$$release || exit 1; \
	done

pytest: sdks
