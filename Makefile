# EnergyApp LLM: `make run` serves the app, `make test` runs everything CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Front-end checks (eslint, tsc): pinned in package-lock.json, installed like the venv.
NODE_BIN := node_modules/.bin
NODE_STAMP := node_modules/.installed
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: install run test lint typecheck security fuzz test-sqlite test-postgres test-broker test-tools clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ requerido")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

$(NODE_STAMP): package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NODE_STAMP)

run: install
	$(BIN)/energyapp dev

lint: install $(NODE_STAMP)
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations
	$(BIN)/vulture src --min-confidence 70
	$(NODE_BIN)/eslint static/js
	$(NODE_BIN)/tsc --noEmit -p jsconfig.json

typecheck: install
	$(BIN)/mypy

# bandit: no high-severity finding; pip-audit: fails only on a reported vulnerability
# (docs/reliability.md explains what it can and cannot check offline).
security: install
	$(BIN)/bandit -r src -lll -q
	$(BIN)/python .ci/pip_audit.py

# A longer property-based run of the API (schemathesis) than the bounded one in `make test`.
FUZZ_EXAMPLES ?= 300
fuzz: install
	ENERGYAPP_TEST_DB=sqlite ENERGYAPP_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q tests/hardening/test_fuzz.py

# Each pass runs on this many pytest-xdist workers (processes, each with its own database and
# Redis keys): most tests wait on real servers, so three share two cores well.
TEST_WORKERS ?= 3

test-sqlite: install
	ENERGYAPP_TEST_DB=sqlite $(BIN)/pytest -q -n $(TEST_WORKERS)

test-postgres: install
	ENERGYAPP_TEST_DB=postgres $(BIN)/pytest -q -n $(TEST_WORKERS)

# The chat suite again with every app sharing its chat runtime through the Redis broker.
test-broker: install
	ENERGYAPP_TEST_DB=postgres ENERGYAPP_TEST_BROKER=redis $(BIN)/pytest -q -n $(TEST_WORKERS) tests/chat

test-tools:
	bash scripts/install_test_tools.sh

test: test-tools lint typecheck security test-sqlite test-postgres test-broker

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
