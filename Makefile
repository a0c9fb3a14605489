# Two commands on a fresh machine: `make demo` (embedded broker, no Java needed) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install lint typecheck unit test golden demo bench bench-core soak schemas clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy --strict processor schemas

unit: install
	$(BIN)/pytest tests/unit tests/property -q

test: lint typecheck
	$(BIN)/pytest -n 3 --dist loadgroup

# The 200k-record golden digest alone (also part of `make test`): tests/golden/README.md.
golden: install
	$(BIN)/pytest tests/golden -q

demo: install
	$(BIN)/bsuid-processor demo

bench: install
	$(BIN)/python bench/bench.py

bench-core: install
	$(BIN)/python bench/bench.py --core-only

# After changing a Struct in schemas/: regenerate the checked-in JSON Schemas (schemas/json/).
schemas: install
	$(BIN)/bsuid-processor schema --write

soak: install
	$(BIN)/python -m tests.reliability.soak

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
