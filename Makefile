# Mobilize — build, run and check targets.
#
# Everything runs through the project virtualenv (.venv/bin/...); no activated shell is needed.
# `make install` is idempotent: it only re-syncs dependencies when requirements.lock changes.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
LOCK := requirements.lock

# Interpreter used to create the venv: python3.11 if present, else python3 (checked to be 3.11).
BOOTSTRAP_PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
# The uv version pinned in the lock file (uv itself is a locked dev dependency).
UV_VERSION := $(shell sed -n 's/^uv==\([^ ]*\).*/\1/p' $(LOCK) 2>/dev/null | head -n 1)

PYTEST_ARGS ?=
BENCH_ARGS ?=
# Examples per operation and persona for `make fuzz` (`make test` runs tests/test_fuzz.py with 4).
FUZZ_EXAMPLES ?= 100

.PHONY: help install demo test fuzz audit lint fmt typecheck bench lock clean distclean frontend

help:
	@echo "make install    create .venv and install the locked dependencies (and build the PWA if present)"
	@echo "make demo       run the demo: web + Celery worker + Celery beat on http://127.0.0.1:$${PORT:-8000}/"
	@echo "make test       lint, typecheck and run the test suite (needs PostgreSQL and Redis)"
	@echo "make fuzz       long schema fuzzing of every endpoint as every persona (FUZZ_EXAMPLES=$(FUZZ_EXAMPLES))"
	@echo "make lint       ruff check + ruff format --check"
	@echo "make fmt        ruff format + ruff check --fix"
	@echo "make typecheck  mypy (strict)"
	@echo "make audit      known vulnerabilities in the locked dependencies"
	@echo "make bench      run the benchmarks (python -m bench)"
	@echo "make lock       regenerate requirements.lock from pyproject.toml"
	@echo "make clean      remove caches, build output and var/ (demo database, broker, beat schedule)"
	@echo "make distclean  clean + remove .venv and frontend/node_modules"

# ---------------------------------------------------------------------------------------------
# Install
# ---------------------------------------------------------------------------------------------

install: $(STAMP) frontend

$(STAMP): $(LOCK) pyproject.toml
	@test -n "$(UV_VERSION)" || { echo "error: no 'uv==' pin found in $(LOCK)" >&2; exit 1; }
	@if [ -x "$(PY)" ] && ! "$(PY)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then \
		echo "==> $(VENV) is not Python 3.11; recreating it"; rm -rf "$(VENV)"; \
	fi
	@if [ ! -x "$(PY)" ]; then \
		test -n "$(BOOTSTRAP_PYTHON)" || { echo "error: python3.11 (or python3) not found on PATH" >&2; exit 1; }; \
		"$(BOOTSTRAP_PYTHON)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
			|| { echo "error: Python 3.11 is required; $(BOOTSTRAP_PYTHON) is $$("$(BOOTSTRAP_PYTHON)" -V 2>&1)" >&2; exit 1; }; \
		echo "==> creating $(VENV) with $$("$(BOOTSTRAP_PYTHON)" -V 2>&1)"; \
		"$(BOOTSTRAP_PYTHON)" -m venv "$(VENV)"; \
	fi
	@if [ "$$("$(BIN)/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$(UV_VERSION)" ]; then \
		echo "==> installing uv==$(UV_VERSION)"; \
		"$(PY)" -m pip --version >/dev/null 2>&1 || "$(PY)" -m ensurepip --upgrade >/dev/null; \
		"$(PY)" -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"; \
	fi
	@echo "==> syncing $(VENV) with $(LOCK)"
	"$(BIN)/uv" pip sync --python "$(PY)" --require-hashes $(LOCK)
	@touch "$@"

# The PWA (frontend/): rebuilt when any of its sources changes (frontend/lighthouse/ is a separate
# tool with its own node_modules, installed only when Lighthouse is run: see frontend/lighthouse/run.mjs).
ifneq ($(wildcard frontend/package.json),)
FRONTEND_STAMP := frontend/node_modules/.mobilize-built
FRONTEND_SRC := $(shell find frontend -type f -not -path '*/node_modules/*' -not -path 'frontend/dist/*' -not -path 'frontend/lighthouse/*' 2>/dev/null)

frontend: $(FRONTEND_STAMP)

$(FRONTEND_STAMP): $(FRONTEND_SRC)
	@command -v npm >/dev/null || { echo "error: npm (Node.js) is required to build frontend/" >&2; exit 1; }
	cd frontend && npm ci && npm run build
	@touch "$@"
else
frontend:
	@:
endif

# Regenerate the hashed lock file (uv is itself pinned in it).
lock: $(STAMP)
	"$(BIN)/uv" pip compile pyproject.toml --group dev --generate-hashes --python-version 3.11 -o $(LOCK)

# ---------------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------------

demo: install
	MOBILIZE_ENV=demo "$(PY)" bin/demo.py

bench: install
	"$(PY)" -m bench $(BENCH_ARGS)

# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------

# `make test` (and everything it runs) uses the test settings; the service URLs default to the
# local PostgreSQL/Redis unless already set in the environment.
test: export MOBILIZE_ENV = test
test: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/mobilize
test: export REDIS_URL ?= redis://127.0.0.1:6379/0
test: install
	@$(MAKE) lint
	@$(MAKE) typecheck
	@$(MAKE) audit
	"$(BIN)/pytest" $(PYTEST_ARGS)

# The schema fuzzer (tests/test_fuzz.py) at length: the same test as in `make test`, with many more
# generated requests per operation and persona, then what it reached (answers per persona, operations
# that never answered 2xx). FUZZ_EXAMPLES=100 takes about 40 minutes on a 2-core machine (25: 11 minutes).
fuzz: export MOBILIZE_ENV = test
fuzz: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/mobilize
fuzz: export REDIS_URL ?= redis://127.0.0.1:6379/0
fuzz: export MOBILIZE_FUZZ_EXAMPLES = $(FUZZ_EXAMPLES)
fuzz: export MOBILIZE_FUZZ_REPORT = var/fuzz-report.tsv
fuzz: install
	@mkdir -p var && rm -f var/fuzz-report.tsv
	"$(BIN)/pytest" -q -p no:cacheprovider tests/test_fuzz.py $(PYTEST_ARGS) || { status=$$?; "$(PY)" -m tests.fuzz.summary var/fuzz-report.tsv; exit $$status; }
	"$(PY)" -m tests.fuzz.summary var/fuzz-report.tsv

# Known vulnerabilities in the locked dependencies (pip-audit; npm audit once frontend/ has a lock).
audit: $(STAMP)
	"$(PY)" bin/audit.py

lint: $(STAMP)
	"$(BIN)/ruff" check .
	"$(BIN)/ruff" format --check .

fmt: $(STAMP)
	"$(BIN)/ruff" format .
	"$(BIN)/ruff" check --fix .

# The django-stubs plugin imports recovery.settings, so mypy needs settings that load without
# production secrets.
typecheck: export MOBILIZE_ENV = test
typecheck: $(STAMP)
	"$(BIN)/mypy" .

# ---------------------------------------------------------------------------------------------
# Clean
# ---------------------------------------------------------------------------------------------

clean:
	rm -rf var/ staticfiles/ frontend/dist/ .mypy_cache/ .ruff_cache/ .pytest_cache/ .coverage htmlcov/
	find . -path ./.venv -prune -o -path ./frontend/node_modules -prune -o \
		\( -name __pycache__ -type d -prune -exec rm -rf {} + \) -o \( -name '*.py[co]' -type f -delete \)

distclean: clean
	rm -rf $(VENV) frontend/node_modules/
