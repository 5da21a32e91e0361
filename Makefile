# The two commands of the README:
#   make local   set up a fresh machine and deploy the platform to the local target
#   make test    set up and run the whole test suite (what CI runs)
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CHECKPOINT_DISABLE := 1

.PHONY: setup local test lint down

setup: $(VENV)/.installed node_modules/.installed .venv-checkov/.installed postgres

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# checkov pins many libraries of its own: it lives in a separate virtualenv.
.venv-checkov/.installed:
	python3 -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet "checkov==3.3.30"
	touch $@

# The local target and the tests need PostgreSQL server binaries (initdb, pg_ctl).
postgres:
	@if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "installing PostgreSQL server binaries"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi

# The vault is bootstrapped before the deploy: the local migration gate reads its database login
# from it. The final --check proves the deployed platform and the vault agree.
local: setup
	$(VENV)/bin/platformctl local up
	$(VENV)/bin/platformctl doctor --env local
	$(VENV)/bin/platformctl vault bootstrap --env local
	$(VENV)/bin/platformctl deploy --env local
	$(VENV)/bin/platformctl vault bootstrap --env local --check
	@echo; $(VENV)/bin/platformctl local status
	@echo 'Point your shell at the local target with: eval "$$($(VENV)/bin/platformctl local env)"'

# Test files run on TEST_WORKERS parallel pytest-xdist workers (docs/adr/0016-parallel-test-suite.md);
# `make test TEST_WORKERS=0` runs them in this one process.
TEST_WORKERS ?= 4

test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

down:
	$(VENV)/bin/platformctl local down
