# Dexa developer tasks. `make help` lists them.
SHELL := /bin/bash
PY ?= python3
UV_VERSION := 0.9.30
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help demo test check lint typecheck format sync system-deps business-demo bench synth layer clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(UV):
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(BIN)/dexa: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --compile-bytecode
	@touch $@

system-deps: ## install OS packages the sandbox needs (bubblewrap), when we can
	@if ! command -v bwrap >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing bubblewrap (the local sandbox)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null; \
	  else echo "WARNING: bubblewrap (bwrap) is missing and cannot be installed here; Bash will refuse to run" \
	    "unless you opt into --dangerously-run-unsandboxed"; fi; \
	fi
	@for d in tools/mcp tools/ts; do \
	  if [ -f $$d/package-lock.json ] && [ ! -d $$d/node_modules ]; then (cd $$d && npm ci --silent --no-audit --no-fund); fi; \
	done

sync: $(BIN)/dexa system-deps ## create the environment

demo: sync ## the offline demo: an agent fixes a bug in a small repo until its tests pass
	$(BIN)/dexa demo

business-demo: sync ## the business demo: follow-ups across calendar, CRM and email, staged for review
	$(BIN)/python -m dexa.cli.business_demo

test: sync ## run the test suite
	$(BIN)/pytest -q -n 2 --dist loadfile $(PYTEST_ARGS)

lint: sync
	$(BIN)/ruff check shared tests benchmarks functions stacks sandbox_modal app.py
	$(BIN)/ruff format --check shared/dexa/core

typecheck: sync
	$(BIN)/pyright

check: lint typecheck test ## lint + typecheck + tests

format: sync
	$(BIN)/ruff format shared tests benchmarks
	$(BIN)/ruff check --fix shared tests benchmarks

bench: sync ## print the benchmark figures
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

synth: sync ## synthesize the CDK app
	$(BIN)/python app.py

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache cdk.out
