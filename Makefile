# Set-up and the main jobs. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCALE ?= medium
PORT ?= 8000

.PHONY: install demo demo-data test test-spark test-fast lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: demo-data  ## the demo, then the brain serving it (with its stand-in ERP and inboxes): a sign-in token per demo user
	$(BIN)/brain -p demo/acme demo serve --host 127.0.0.1 --port $(PORT)

demo-data: install  ## generate Acme Industrial (medium), ingest, build, check; no server (CI)
	$(BIN)/brain demo --scale $(SCALE) --out demo/acme

test: install  ## the whole suite: fast, slow and service tests (the Spark suites: make test-spark)
	$(BIN)/pytest -m "not spark"

test-spark: install  ## the shared suites and TPC-H on a local Spark session (a JVM; about 17 min on 2 cores)
	$(BIN)/pytest -m spark

test-fast: install
	$(BIN)/pytest -m "not slow and not services and not spark"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

bench: install  ## every benchmark; each prints its figure next to its reference
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf demo .pytest_cache .mypy_cache .ruff_cache
