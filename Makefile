# The README's two commands: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO_CUSTOMERS ?= 300
DEMO_SEED ?= 42
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?= -n 2

.PHONY: run test test-sqlite test-pg venv translations extract-messages browser-deps pg-client lint bench clean

run: venv translations ## set up and start the app with demo data on http://127.0.0.1:5000
	$(FLASK) care init-db
	$(FLASK) care demo --customers $(DEMO_CUSTOMERS) --seed $(DEMO_SEED)
	$(FLASK) care generate
	CARE_SCHEDULER=1 CARE_HTTPS=$${CARE_HTTPS:-0} $(FLASK) run --host $(HOST) --port $(PORT)

test: venv translations browser-deps ## the whole suite on SQLite, then on PostgreSQL when one answers
	$(MAKE) --no-print-directory test-sqlite
	@if $(BIN)/python scripts/pg_available.py "$(PG_TEST_URL)"; then \
		$(MAKE) --no-print-directory test-pg; \
	else \
		echo "*** PostgreSQL did not answer at $(PG_TEST_URL): the PostgreSQL run was SKIPPED ***"; \
		if [ "$$CI" = "true" ]; then echo "CI needs PostgreSQL"; exit 1; fi; \
	fi

test-sqlite: venv translations
	@echo "=== test suite on SQLite ==="
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-pg: venv translations pg-client
	@echo "=== test suite on PostgreSQL ($(PG_TEST_URL), a schema of its own) ==="
	CARE_TEST_DATABASE_URL="$(PG_TEST_URL)" $(BIN)/python -m pytest $(PYTEST_ARGS)

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

translations: venv ## compile the message catalogues (.po → .mo)
	@$(BIN)/pybabel compile -d translations >/dev/null

extract-messages: venv ## refresh translations/messages.pot and merge it into the catalogues
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k N_ -o translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching

browser-deps: ## Debian's Chromium for the browser tests (Playwright cannot download one here), axe-core from npm
	@bash scripts/ensure-chromium.sh
	@bash scripts/ensure-axe.sh

pg-client: ## PostgreSQL's client tools for care backup/restore and their tests (apt, when missing)
	@bash scripts/ensure-pg-client.sh

lint: venv
	$(BIN)/ruff check .

bench: venv ## every benchmark of bench/, then one table (not part of the test suite; see bench/README.md)
	$(BIN)/python -m pip install --quiet -e '.[prod]'  # gunicorn, for the benchmarks under wrk
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
