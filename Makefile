# Dexa developer tasks. `make help` lists them.
SHELL := /bin/bash
PY ?= python3
UV_VERSION := 0.9.30
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help demo test cloud-e2e test-deps check lint typecheck format sync dev-sync system-deps precompile business-demo business-eval code-demo bench synth layer clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# uv, pinned, in .tools: a copy of the `uv` on PATH when it is that version (no download), else from PyPI through
# the host's pip (a venv with its own pip costs ~30 s: ensurepip). Debian's python may put --prefix scripts under
# local/bin, hence the search; a venv with pip is the fallback. Its seconds go into the install figures. (Unpacking
# only the binary from a `pip download`ed wheel measured no faster than this install: the 55 MB write dominates.)
$(UV):
	@start=$$(date +%s%N); mkdir -p $(TOOLS)/bin; \
	if [ "$$(uv --version 2>/dev/null)" = "uv $(UV_VERSION)" ]; then \
	  cp "$$(command -v uv)" $(UV); \
	elif $(PY) -m pip --version >/dev/null 2>&1; then \
	  $(PY) -m venv --without-pip $(TOOLS) && \
	  $(PY) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --no-compile \
	    --progress-bar off --prefix $(TOOLS) uv==$(UV_VERSION); \
	  found=$$(find $(TOOLS) -path '*/bin/uv' -type f | head -1); \
	  if [ -n "$$found" ] && [ "$$found" != "$(UV)" ]; then ln -sf "$$PWD/$$found" $(UV); fi; \
	fi; \
	if ! $(UV) --version >/dev/null 2>&1; then \
	  $(PY) -m venv --clear $(TOOLS) && $(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION); \
	fi; \
	echo $$(( ($$(date +%s%N) - start) / 1000000 )) > $(TOOLS)/.uv-ms
	@$(UV) --version >/dev/null

# Two stamps, one venv. The runtime sync is what running Dexa needs (no dev group, no extras); --inexact so that it
# never uninstalls the test tools `make test` put there. It records its seconds and the venv's size, which
# `make sync` (so `make demo`) prints. No --compile-bytecode here: Python compiles what a run imports, on first use,
# and that is a fraction of the packages. The dev sync adds the dev group and every extra (what the tests exercise).
$(VENV)/.runtime-synced: $(UV) pyproject.toml uv.lock
	@start=$$(date +%s%N); \
	$(UV) sync --frozen --no-dev --inexact --quiet || exit 1; \
	ms=$$(( ($$(date +%s%N) - start) / 1000000 )); \
	printf 'runtime install: uv sync %d.%01d s, %s in %s\n' $$((ms / 1000)) $$((ms % 1000 / 100)) \
	  "$$(du -sh $(VENV) | cut -f1)" "$(VENV)" > $(VENV)/.install-figures; \
	if [ -f $(TOOLS)/.uv-ms ]; then uv_ms=$$(cat $(TOOLS)/.uv-ms); rm -f $(TOOLS)/.uv-ms; \
	  printf 'uv itself: %d.%01d s, %s in %s\n' $$((uv_ms / 1000)) $$((uv_ms % 1000 / 100)) \
	    "$$(du -sh $(TOOLS) | cut -f1)" "$(TOOLS)" >> $(VENV)/.install-figures; fi
	@touch $@

# Dexa's own bytecode, compiled by the host python while uv downloads (the venv's interpreter is that python unless
# uv had to fetch another; then Python compiles on first import, as usual).
precompile:
	@$(PY) -m compileall -q shared >/dev/null 2>&1 || true

$(VENV)/.dev-synced: $(VENV)/.runtime-synced
	$(UV) sync --frozen --all-extras --quiet --compile-bytecode
	@echo "dev install: $$(du -sh $(VENV) | cut -f1) in $(VENV)"
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
	@for d in tools/ts; do \
	  if [ -f $$d/package-lock.json ] && { [ ! -d $$d/node_modules ] || [ $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; }; then \
	    (cd $$d && npm ci --silent --no-audit --no-fund); fi; \
	done

# The three parts of an install run side by side: uv and the runtime sync (mostly network), OS packages and npm, and
# compiling Dexa's own modules (CPU). On a fresh clone the whole is printed after the parts' figures.
sync: ## create the environment (runtime dependencies only)
	@start=$$(date +%s%N); \
	$(MAKE) --no-print-directory -j3 $(VENV)/.runtime-synced system-deps precompile || exit 1; \
	cat $(VENV)/.install-figures 2>/dev/null || true; \
	if [ -n "$$(find $(VENV)/.install-figures -newermt "@$$((start / 1000000000))" 2>/dev/null)" ]; then \
	  ms=$$(( ($$(date +%s%N) - start) / 1000000 )); \
	  printf 'install in all: %d.%01d s (uv, runtime sync, OS packages and npm, bytecode)\n' \
	    $$((ms / 1000)) $$((ms % 1000 / 100)) | tee -a $(VENV)/.install-figures; \
	fi

dev-sync: $(VENV)/.dev-synced system-deps ## add the dev tools and every extra (what the tests need)

demo: sync ## the offline demo: an agent fixes a bug in a small repo until its tests pass
	$(BIN)/dexa demo

business-demo: sync ## the business demo: follow-ups across calendar, CRM and email, staged for review
	$(BIN)/dexa business-demo

business-eval: sync ## the business eval offline: scripted agents (correct and wrong) graded on the demo company
	$(BIN)/python -m evals.business

code-demo: sync ## the code demo: two repos changed through the git proxy, linked PRs (GitHub fake)
	$(BIN)/python -m dexa.demo.code_demo

test-deps: dev-sync
	@# Third-party MCP servers the integration tests run against.
	@if [ -f tools/mcp/package-lock.json ] && { [ ! -d tools/mcp/node_modules ] || [ tools/mcp/package-lock.json -nt tools/mcp/node_modules/.package-lock.json ]; }; then \
	  (cd tools/mcp && npm ci --silent --no-audit --no-fund); fi
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

lint: dev-sync
	$(BIN)/ruff check shared tests benchmarks functions stacks sandbox_modal app.py
	$(BIN)/ruff format --check shared/dexa/core
	@# The layering of ARCHITECTURE.md as import-linter contracts ([tool.importlinter] in pyproject.toml).
	$(BIN)/lint-imports

typecheck: dev-sync
	$(BIN)/pyright

check: lint typecheck test ## lint + typecheck + tests

format: dev-sync
	$(BIN)/ruff format shared tests benchmarks
	$(BIN)/ruff check --fix shared tests benchmarks

bench: dev-sync ## print the benchmark figures
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

synth: dev-sync ## synthesize the CDK app into cdk.out
	$(BIN)/python app.py

layer: dev-sync ## build the Lambda layer into layers/dexa/python
	bash layers/dexa/build.sh

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache cdk.out
