# crisis-api: `make run` (everything embedded, demo data loaded) and `make test` (the CI gate).
# The venv is .venv, made from the Python 3.12 that .python-version selects; uv.lock pins the rest.

SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.8
SYNCED := $(VENV)/.synced
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_ARGS ?=

# Make uv install into .venv and never fetch an interpreter of its own.
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export UV_PYTHON_DOWNLOADS := never

# `make test` talks to the local PostgreSQL and Redis unless the environment names others.
TEST_DATABASE_URL := postgres://postgres@127.0.0.1:5432/crisis_api
TEST_REDIS_URL := redis://127.0.0.1:6379/15
# Production-like values for `check --deploy`: a throwaway key that only passes Django's checks.
DEPLOY_CHECK_ENV = DJANGO_ENV=production DJANGO_DEBUG=false \
	DJANGO_SECRET_KEY=ci-deploy-check-7Qm2xVb9LkT4rWz8NcY3pHs6JdF1gKa5EuR0oXi9tBn2MvQ7 \
	DJANGO_ALLOWED_HOSTS=api.example.com DATABASE_URL="$$DATABASE_URL" REDIS_URL="$$REDIS_URL"

step = @printf '\n==> %s\n' $(1)

.PHONY: help venv run test lint bench clean services

help:
	@echo "make run    start web + Celery worker + beat on http://127.0.0.1:$(PORT) (SQLite, demo data)"
	@echo "make test   lint, type-check, schema and deploy checks, then pytest (PostgreSQL + Redis)"
	@echo "make lint   ruff check, ruff format --check, mypy"
	@echo "make bench  run bench/api_read.py"
	@echo "make clean  remove var/ and .venv"

# --- Virtualenv ---------------------------------------------------------------------------------

$(PY):
	@py="$$(pyenv which python 2>/dev/null || true)"; \
	if [ -z "$$py" ] || ! "$$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' \
		>/dev/null 2>&1; then py="$$(command -v python3.12 || true)"; fi; \
	if [ -z "$$py" ]; then \
		echo "error: Python 3.12 not found. Install it with pyenv ('pyenv install 3.12';" \
			".python-version selects it) or put python3.12 on PATH." >&2; \
		exit 1; \
	fi; \
	printf '==> creating $(VENV) with %s\n' "$$py"; \
	"$$py" -m venv $(VENV)

$(UV): | $(PY)
	$(call step,"installing uv $(UV_VERSION) into $(VENV)")
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Re-sync whenever the lock (or pyproject) is newer than the last sync.
$(SYNCED): uv.lock pyproject.toml | $(UV)
	$(call step,"uv sync --frozen")
	$(UV) sync --frozen
	@touch $@

venv: $(SYNCED)

# --- Run ----------------------------------------------------------------------------------------

run: export DJANGO_ENV := development
run: export PORT := $(PORT)
run: venv
	$(call step,"migrate")
	$(PY) manage.py migrate --noinput
	$(call step,"seed_demo")
	$(PY) manage.py seed_demo
	$(PY) manage.py demo_wave
	$(call step,"serve (web + worker + beat); Ctrl-C stops all")
	exec $(PY) manage.py serve --port $(PORT)

# --- Checks -------------------------------------------------------------------------------------

define LINT_STEPS
	$(call step,"ruff check")
	$(VENV)/bin/ruff check .
	$(call step,"ruff format --check")
	$(VENV)/bin/ruff format --check .
	$(call step,"mypy (strict)")
	$(VENV)/bin/mypy .
endef

lint: export DJANGO_ENV := test
lint: venv
	$(LINT_STEPS)

services:
	$(call step,"PostgreSQL and Redis")
	scripts/ensure-services.sh

test: export DJANGO_ENV := test
test: export DATABASE_URL ?= $(TEST_DATABASE_URL)
test: export REDIS_URL ?= $(TEST_REDIS_URL)
test: venv
	$(call step,"PostgreSQL and Redis")
	scripts/ensure-services.sh
	$(LINT_STEPS)
	$(call step,"migrations are up to date")
	$(PY) manage.py makemigrations --check --dry-run
	$(call step,"OpenAPI schema validates")
	@mkdir -p var
	$(PY) manage.py spectacular --validate --fail-on-warn --file var/openapi.yaml
	$(call step,"docs/api.md endpoint table matches the access declarations")
	$(PY) scripts/api_table.py --check
	$(call step,"check --deploy (production settings)")
	$(DEPLOY_CHECK_ENV) $(PY) manage.py check --deploy --fail-level WARNING
	$(call step,"pytest")
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# --- Misc ---------------------------------------------------------------------------------------

bench: venv
	$(PY) bench/api_read.py $(BENCH_ARGS)

clean:
	rm -rf var $(VENV)
