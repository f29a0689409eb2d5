# The one place for Callscope's commands. `make run` and `make test` work on a fresh machine that
# has only python3: both create .venv and install the project first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1:8000

.PHONY: install run test test-sqlite test-postgres lint format migrations-check worker beat \
        bench-ingest clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the product: migrate, load the demo tenant once, print the login and an API key, serve.
run: install
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py setup_demo
	DEBUG=$${DEBUG:-1} $(PY) manage.py runserver $(HOST)

## Run the whole suite: on SQLite, then on PostgreSQL (required when CI is set).
test: install test-sqlite test-postgres

test-sqlite: install
	$(PY) -m pytest

test-postgres: install
	@if [ -n "$$CI" ] || $(PY) -c "import psycopg; psycopg.connect('$(PG_TEST_URL)', connect_timeout=2).close()" 2>/dev/null; then \
		echo "== PostgreSQL pass ($(PG_TEST_URL)) =="; \
		DATABASE_URL=$(PG_TEST_URL) $(PY) -m pytest; \
	else \
		echo "PostgreSQL is not reachable at $(PG_TEST_URL): PostgreSQL pass not run (it is required under CI)."; \
	fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrations-check: install
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

## Production processes (set DATABASE_URL, REDIS_URL, SECRET_KEY).
worker: install
	$(VENV)/bin/celery -A config worker --loglevel=INFO

beat: install
	$(VENV)/bin/celery -A config beat --loglevel=INFO

## Benchmarks (PostgreSQL at BENCH_DATABASE_URL, default the local test server).
bench-ingest: install
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache
