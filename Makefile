# The one place for Callscope's commands. `make run` and `make test` work on a fresh machine that
# has only python3: both create .venv and install the project first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1:8000

.PHONY: install run test test-sqlite test-postgres lint format migrations-check worker beat \
        serve-http serve-ws bench-ingest bench-calls-read bench-analytics-raw bench-rollups \
        bench-live clean static browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) static

## Vendor the dashboard's front-end packages (Chart.js, pinned in analytics/static_src) into
## analytics/static/analytics/vendor/. The copies are committed, so a machine without Node still
## serves the same files; with npm, `npm ci` installs the locked versions and they are re-copied.
STATIC_SRC := analytics/static_src
VENDOR := analytics/static/analytics/vendor
static:
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "npm not found: serving the vendored Chart.js in $(VENDOR)."; \
	elif { [ -f $(STATIC_SRC)/node_modules/.package-lock.json ] && \
	       [ ! $(STATIC_SRC)/package-lock.json -nt $(STATIC_SRC)/node_modules/.package-lock.json ]; } || \
	     (cd $(STATIC_SRC) && npm ci --no-audit --no-fund --loglevel=error); then \
		mkdir -p $(VENDOR) && \
		cp $(STATIC_SRC)/node_modules/chart.js/dist/chart.umd.js \
		   $(STATIC_SRC)/node_modules/chart.js/dist/chart.umd.js.map $(VENDOR)/ && \
		cp $(STATIC_SRC)/node_modules/chart.js/LICENSE.md $(VENDOR)/chart.js-LICENSE.md; \
	elif [ -n "$$CI" ]; then \
		echo "npm ci failed in $(STATIC_SRC)." >&2; exit 1; \
	else \
		echo "npm ci failed: serving the vendored Chart.js in $(VENDOR)."; \
	fi

## The browser the browser tests drive: Debian's chromium (installed when missing and root;
## the test setup does the same, and fails under CI when it cannot).
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

## Run the product: migrate, load the demo tenant once, print the login and an API key, serve
## HTTP and the WebSocket streams on one port (runserver is daphne's).
run: install
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py setup_demo --base-url http://$(HOST)
	DEBUG=$${DEBUG:-1} $(PY) manage.py rollups --dirty --verbosity 0
	DEBUG=$${DEBUG:-1} $(PY) manage.py runserver $(HOST)

## Run the whole suite: on SQLite, then on PostgreSQL (required when CI is set).
test: install test-sqlite test-postgres

test-sqlite: install browser
	$(PY) -m pytest

test-postgres: install browser
	@if [ -n "$$CI" ] || $(PY) -c "import psycopg; psycopg.connect('$(PG_TEST_URL)', connect_timeout=2).close()" 2>/dev/null; then \
		echo "== PostgreSQL pass ($(PG_TEST_URL)) =="; \
		DATABASE_URL=$(PG_TEST_URL) $(PY) -m pytest; \
	else \
		echo "PostgreSQL is not reachable at $(PG_TEST_URL): PostgreSQL pass not run (it is required under CI)."; \
	fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(VENV)/bin/mypy calls analytics config
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrations-check: install
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

## Production processes (set DATABASE_URL, REDIS_URL, SECRET_KEY). The proxy routes /ws/ to
## serve-ws and everything else to serve-http (README: "Live streams").
HTTP_BIND ?= 127.0.0.1:8000
WS_BIND_HOST ?= 127.0.0.1
WS_PORT ?= 8001
GUNICORN_WORKERS ?= 4

serve-http: install
	$(VENV)/bin/gunicorn config.wsgi --bind $(HTTP_BIND) --workers $(GUNICORN_WORKERS)

serve-ws: install
	$(VENV)/bin/daphne -b $(WS_BIND_HOST) -p $(WS_PORT) config.asgi:application

worker: install
	$(VENV)/bin/celery -A config worker --loglevel=INFO

beat: install
	$(VENV)/bin/celery -A config beat --loglevel=INFO

## Benchmarks (PostgreSQL at BENCH_DATABASE_URL, default the local test server).
bench-ingest: install
	$(PY) bench/ingest.py

bench-calls-read: install
	$(PY) bench/calls_read.py

bench-analytics-raw: install
	$(PY) bench/analytics_raw.py

bench-rollups: install
	$(PY) bench/analytics_rollups.py

bench-live: install
	$(PY) bench/live.py

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache test-artifacts $(STATIC_SRC)/node_modules
