# ModelGate developer commands. Every target that runs Python first makes sure .venv exists and
# matches pyproject.toml + uv.lock (re-synced when either changes).
#
#   make demo                  set up, migrate, load the demo data and serve on 127.0.0.1:8000
#   make demo ARGS=--no-serve  everything but serving
#   make test [ARGS="-k lineage -x"]   the suite (SQLite unless DATABASE_URL is set)
#   make test-postgres         the suite against PostgreSQL on 127.0.0.1:5432
#   make test-browser          the browser tests only (Debian's chromium: apt-get install chromium)

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
STAMP := $(VENV)/.modelgate-synced
ARGS ?=
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/modelgate

# The first Python 3.12 found: python3.12 on PATH (pyenv reads .python-version), else pyenv's own.
PYTHON312 ?= $(firstword $(foreach p,python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) /root/.pyenv/versions/3.12.1/bin/python3.12,$(shell "$(p)" -c 'import sys; assert sys.version_info[:2] == (3, 12); print(sys.executable)' 2>/dev/null)))

# uv must use the venv's interpreter and never download one; the lock file is never rewritten.
# Bytecode is compiled at install time: imports stay fast even under PYTHONDONTWRITEBYTECODE.
UV_ENV := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1

.PHONY: help venv install demo test test-postgres test-browser lint bench schema clean

help:
	@sed -n '1,/^$$/p' $(MAKEFILE_LIST) | sed 's/^# \{0,1\}//'

venv install: $(STAMP)

$(PY):
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: install it (pyenv install 3.12) or run make PYTHON312=/path/to/python3.12" >&2; exit 1; }
	$(PYTHON312) -m venv $(VENV)

$(STAMP): pyproject.toml uv.lock | $(PY)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV_ENV) $(UV) sync --frozen --compile-bytecode --python $(PY)
	@touch $@

demo: $(STAMP)
	@mkdir -p "$${MODELGATE_VAR_DIR:-var}"
	DJANGO_DEBUG=true $(PY) manage.py migrate --no-input
	DJANGO_DEBUG=true $(PY) manage.py demo $(ARGS)

# pytest exits 5 when it collected no test: make fails on it like on any failure.
test: $(STAMP)
	$(VENV)/bin/pytest $(ARGS)

test-postgres: $(STAMP)
	DATABASE_URL=$(POSTGRES_URL) $(VENV)/bin/pytest $(ARGS)

# Screenshots go to $$MODELGATE_SCREENSHOTS (default artifacts/screenshots).
test-browser: $(STAMP)
	$(VENV)/bin/pytest -m browser tests/browser $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	@set -e; for script in bench/[!_]*.py; do echo "== $$script"; $(PY) "$$script" $(ARGS); done

# The OpenAPI document, validated; drf-spectacular warnings fail the target.
schema: $(STAMP)
	@mkdir -p "$${MODELGATE_VAR_DIR:-var}"
	DJANGO_DEBUG=true $(PY) manage.py spectacular --validate --fail-on-warn --file "$${MODELGATE_VAR_DIR:-var}/openapi.yaml"
	@echo "wrote $${MODELGATE_VAR_DIR:-var}/openapi.yaml"

# Removes the environment and caches; keeps var/ (the local database and stored files).
clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
