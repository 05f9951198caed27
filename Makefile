# CV Explorer — `make run` sets everything up and serves; `make test` runs the whole suite.
PYTHON ?= python3.11
ifeq (, $(shell command -v $(PYTHON) 2>/dev/null))
PYTHON := python3
endif
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CLIENT_STAMP := client/node_modules/.installed
CLIENT_SRC := $(shell find client/src client/index.html client/vite.config.ts client/package.json -type f 2>/dev/null)

.PHONY: run test test-py test-e2e test-client lint bench setup client schema requirements demo screenshots clean

run: setup client
	$(PY) server.py migrate
	$(PY) server.py demo
	$(PY) server.py serve

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt sdk/pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]' -e ./sdk
	touch $@

$(CLIENT_STAMP): client/package.json client/package-lock.json
	cd client && npm ci --no-audit --no-fund --loglevel=error
	touch $@

client: client/dist/index.html

client/dist/index.html: $(CLIENT_STAMP) $(CLIENT_SRC)
	cd client && npm run build --silent

# ruff, and the type checker (mypy, configured in pyproject.toml: strict on db/, jobs/ and volumes/)
lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

# The API suite mostly waits (databases, sockets, timers, servers it starts) and the browser suite mostly computes:
# run side by side, each in its own pytest process, with each one's output shown whole when it ends. The API suite
# is spread over three workers (pytest-xdist, a test file to a worker); the slowest tests are listed at the end.
test: setup client lint test-client
	$(MAKE) --no-print-directory -j2 --output-sync=target test-py test-e2e

test-py: setup
	$(PY) -m pytest -m "not e2e" -n 3 --dist loadfile --max-worker-restart=0 --durations=15

# Browser tests run in their own pytest process (Playwright's event loop must not share one with the others).
test-e2e: setup client
	$(PY) -m pytest -m e2e --durations=15

test-client: $(CLIENT_STAMP)
	cd client && npm test --silent

bench: setup client
	$(PY) -m bench

schema: setup
	$(PY) -m schema.build > schema/schema.graphql

# What the Databricks Apps platform and the worker job install: the runtime pins, generated from pyproject + constraints.
requirements: setup
	$(PY) resources/requirements.py > requirements.txt

demo: setup
	$(PY) server.py demo

# The README's pictures (resources/screenshots/), from the demo in Debian's Chromium.
screenshots: setup client
	$(PY) resources/screenshots.py

clean:
	rm -rf $(VENV) client/node_modules client/dist data
