# segflow — `make demo` and `make test` work on a fresh machine (Python 3.11+, Node 20 for the CDK CLI).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
# pytest-xdist workers for `make test` (one per core of the CI machine; test files stay whole on one worker).
TEST_WORKERS ?= 2

.PHONY: install demo test test-fast unit e2e lint types format schema local clean bench

$(STAMP): pyproject.toml lambdas/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev,infra]'
	@touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch node_modules/.installed

install: $(STAMP)

## Run example workflows on the embedded local AWS, with live progress.
demo: $(STAMP)
	$(PY) scripts/demo.py

## The inner loop, under 2 minutes: lint, types, the unit tier (its property tests with fewer examples).
.PHONY: check
check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q tests/unit --hypothesis-profile=check

## The whole suite: unit, functional, end-to-end on the embedded AWS, CDK template checks.
test: $(STAMP) node_modules/.installed
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

e2e: $(STAMP)
	$(PY) -m pytest -q tests/e2e

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## mypy, strict, on lambdas/segflow, src/segflow_cli and src/segflow_local ([tool.mypy] in pyproject.toml).
types: $(STAMP)
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## segflow beside the designs it replaces: payload, cost and speed; rewrites the tables of docs/benchmarks.md.
bench: $(STAMP)
	$(PY) -m bench

## Regenerate the editor JSON Schema of the workflow DSL.
schema: $(STAMP)
	$(PY) -m segflow_cli.main schema --builtin-only > docs/workflow.schema.json

## A long-running embedded AWS endpoint on 127.0.0.1:4566.
local: $(STAMP)
	$(VENV)/bin/segflow local up --port 4566

clean:
	rm -rf $(VENV) node_modules cdk.out .cache .pytest_cache .ruff_cache .mypy_cache

-include infra/Makefile.include
