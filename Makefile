# Dexa developer tasks. `make help` lists them.
SHELL := /bin/bash
PY ?= python3
UV_VERSION := 0.9.30
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help demo test cloud-e2e test-deps check lint typecheck format sync system-deps business-demo business-eval code-demo bench synth layer clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(UV):
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(BIN)/dexa: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --compile-bytecode
	@$(BIN)/python -m compileall -q shared >/dev/null || true
	@touch $@

APT_PKGS := bubblewrap socat ripgrep
TEST_APT_PKGS := chromium postgresql

define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing with apt"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing) >/dev/null; \
	  else echo "WARNING: missing OS packages:$$missing (install them with apt); dependent features/tests are skipped"; fi; \
	fi
endef

system-deps: ## install OS packages the sandbox needs (bubblewrap), when we can
	$(call apt_install,$(APT_PKGS))
	@for d in tools/mcp tools/ts; do \
	  if [ -f $$d/package-lock.json ] && { [ ! -d $$d/node_modules ] || [ $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; }; then \
	    (cd $$d && npm ci --silent --no-audit --no-fund); fi; \
	done

sync: $(BIN)/dexa system-deps ## create the environment

demo: sync ## the offline demo: an agent fixes a bug in a small repo until its tests pass
	$(BIN)/dexa demo

business-demo: sync ## the business demo: follow-ups across calendar, CRM and email, staged for review
	$(BIN)/dexa business-demo

business-eval: sync ## the business eval offline: scripted agents (correct and wrong) graded on the demo company
	$(BIN)/python -m evals.business

code-demo: sync ## the code demo: two repos changed through the git proxy, linked PRs (GitHub fake)
	$(BIN)/python -m dexa.code.demo

test-deps: sync
	$(call apt_install,$(TEST_APT_PKGS))
	@# The real Claude Code CLI, pinned: parity tests run Dexa and it on the same scripted sessions.
	@if [ -f tools/claude-code/package-lock.json ] && [ ! -d tools/claude-code/node_modules ]; then \
	  (cd tools/claude-code && npm ci --silent --no-audit --no-fund) || echo "WARNING: Claude Code parity tests will skip"; \
	fi
	@# asl-validator, pinned: the turn state machine is schema-checked as AWS would (tests/cdk/test_asl_static.py).
	@if [ -f tools/asl/package-lock.json ] && [ ! -d tools/asl/node_modules ]; then \
	  (cd tools/asl && npm ci --silent --no-audit --no-fund); \
	fi
	@# mcp-server-sqlite needs the mcp 1.x SDK, so it gets its own pinned environment (as uvx would give it).
	@if [ ! -x tools/mcp-py/.venv/bin/mcp-server-sqlite ]; then \
	  $(UV) venv -q tools/mcp-py/.venv --python 3.11 && \
	  $(UV) pip install -q --python tools/mcp-py/.venv/bin/python --require-hashes -r tools/mcp-py/requirements.txt \
	  || echo "WARNING: the third-party SQLite MCP server tests will skip"; \
	fi
	@# The TypeScript Claude Agent SDK, pinned: its examples drive dexa as their CLI (tests/integration/parity).
	@if [ -f tools/agent-sdk/package-lock.json ] && [ ! -d tools/agent-sdk/node_modules ]; then \
	  (cd tools/agent-sdk && npm ci --silent --no-audit --no-fund) || echo "WARNING: Agent SDK (TS) tests will skip"; \
	fi

test: test-deps ## run the test suite
	$(BIN)/pytest -q -n 2 --dist loadfile $(PYTEST_ARGS)

cloud-e2e: test-deps ## the deployed stack emulated here (moto server, Lambda in bubblewrap); also part of `make test`
	$(BIN)/pytest -q -n 0 tests/cloud_e2e $(PYTEST_ARGS)

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

synth: sync ## synthesize the CDK app into cdk.out
	$(BIN)/python app.py

layer: sync ## build the Lambda layer into layers/dexa/python
	bash layers/dexa/build.sh

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache cdk.out
