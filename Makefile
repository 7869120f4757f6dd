# Loyalcast: `make run` serves the dashboard with a demo merchant; `make test` runs every check.
# Both install what they need first (wasm target, Trunk, wasm-bindgen, wasm-opt, npm packages,
# Chromium) and skip what is already there.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
TRUNK_VERSION := 0.21.14
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ {getline; gsub(/"/, "", $$3); print $$3; exit}' Cargo.lock)
FRONTEND_PATH := $(CURDIR)/frontend/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
BIN := target/debug/loyalcast

.PHONY: help run build server frontend test lint unit contract fuzz e2e openapi tools tool-wasm tool-trunk tool-wasm-bindgen tool-npm tool-chromium tool-py bench clean

help:
	@echo "make run      build everything, migrate ./data/loyalcast.db, seed the demo merchant, serve http://127.0.0.1:8080"
	@echo "make test     formatting, clippy, unit and API tests (SQLite + PostgreSQL), the SPA build, browser e2e"
	@echo "make openapi  regenerate openapi/openapi.json"
	@echo "make fuzz     a longer schemathesis run against a fresh server (FUZZ_EXAMPLES, FUZZ_SEED, FUZZ_DB)"
	@echo "make bench    benchmarks (see docs/benchmarks.md)"

## ---- tools ---------------------------------------------------------------------------------

tools: tool-wasm tool-trunk tool-wasm-bindgen tool-npm

tool-wasm:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

tool-trunk:
	@if [ "$$(trunk --version 2>/dev/null)" != "trunk $(TRUNK_VERSION)" ]; then \
	  echo "installing trunk $(TRUNK_VERSION) (several minutes, once)"; \
	  $(CARGO) install trunk --version $(TRUNK_VERSION) --locked; \
	fi

# Without --locked: the tool's own lock file pins a crate version the registry here lacks.
tool-wasm-bindgen:
	@if [ "$$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $(WASM_BINDGEN_VERSION)" ]; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION)"; \
	  $(CARGO) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --force; \
	fi

# wasm-opt comes from npm's binaryen (Debian's is too old and breaks the wasm).
tool-npm:
	@[ -x frontend/node_modules/.bin/wasm-opt ] || (cd frontend && npm ci --no-audit --no-fund)
	@[ -d e2e/node_modules/playwright-core ] || (cd e2e && npm ci --no-audit --no-fund)
	@[ -x openapi/contract/node_modules/.bin/spectral ] || (cd openapi/contract && npm ci --no-audit --no-fund)

# The contract checks' Python tools (schemathesis, openapi-python-client), pinned, in a
# virtual environment of their own; reinstalled when the pins change.
PY_ENV := $(CURDIR)/.tools/py
PY_REQUIREMENTS := openapi/contract/requirements.txt
tool-py:
	@if ! cmp -s $(PY_REQUIREMENTS) $(PY_ENV)/installed.txt 2>/dev/null; then \
	  echo "installing the contract tools into .tools/py"; \
	  rm -rf $(PY_ENV) && python3 -m venv $(PY_ENV) && \
	  $(PY_ENV)/bin/pip install -q --disable-pip-version-check -r $(PY_REQUIREMENTS) && \
	  cp $(PY_REQUIREMENTS) $(PY_ENV)/installed.txt; \
	fi

tool-chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

## ---- build and run -----------------------------------------------------------------------

server:
	$(CARGO) build -p loyalcast

frontend: tool-wasm tool-trunk tool-wasm-bindgen tool-npm
	cd frontend && PATH="$(FRONTEND_PATH)" TRUNK_TOOLS_WASM_BINDGEN=$(WASM_BINDGEN_VERSION) TRUNK_SKIP_VERSION_CHECK=true trunk build --release
	node frontend/precompress.mjs frontend/dist

build: server frontend

run: build
	LOYALCAST_SEED_DEMO=true LOYALCAST_SPA_DIR=frontend/dist $(BIN) serve

openapi:
	$(CARGO) run -q -p loyalcast -- openapi --output openapi/openapi.json

## ---- checks ------------------------------------------------------------------------------

lint: tool-wasm
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy -p loyalcast-frontend --target wasm32-unknown-unknown -- -D warnings
	$(CARGO) check -p loyalcast-dto --target wasm32-unknown-unknown

# Unit and API tests. The API tests run each case on SQLite and on PostgreSQL
# (127.0.0.1:5432, user postgres); REQUIRE_POSTGRES=1 makes a missing server a failure.
unit:
	$(CARGO) test --workspace

e2e: server frontend tool-chromium
	@if [ ! -x /usr/bin/chromium ] && [ "$${REQUIRE_E2E:-0}" != "1" ]; then \
	  echo "e2e: no Chromium; skipped (REQUIRE_E2E=1 makes this a failure)"; exit 0; \
	fi
	LOYALCAST_BIN=$(CURDIR)/$(BIN) LOYALCAST_SPA=$(CURDIR)/frontend/dist bash e2e/run.sh

# The API contract, against a freshly seeded server on each database: the document validates,
# a client generated from it drives an integration, and schemathesis (every check, a fixed
# seed) finds nothing. `make fuzz` runs a longer schemathesis pass for local use.
CONTRACT_EXAMPLES ?= 25
FUZZ_EXAMPLES ?= 300
CONTRACT_RUN = PATH="$(PY_ENV)/bin:$$PATH" python3 openapi/contract/harness.py --bin $(CURDIR)/$(BIN)
contract: server tool-py tool-npm
	PATH="$(PY_ENV)/bin:$$PATH" openapi-spec-validator openapi/openapi.json
	openapi/contract/node_modules/.bin/spectral lint openapi/openapi.json --ruleset openapi/contract/.spectral.yaml --fail-severity error --display-only-failures
	dbs=sqlite; \
	if pg_isready -q -h 127.0.0.1 -p 5432 || [ "$${REQUIRE_POSTGRES:-0}" = 1 ]; then dbs="sqlite postgres"; \
	else echo "contract: PostgreSQL not reachable; SQLite only (REQUIRE_POSTGRES=1 makes this a failure)"; fi; \
	for db in $$dbs; do \
	  $(CONTRACT_RUN) --db $$db -- python3 openapi/contract/client_check.py && \
	  $(CONTRACT_RUN) --db $$db -- bash openapi/contract/fuzz.sh $(CONTRACT_EXAMPLES) || exit 1; \
	done

fuzz: server tool-py
	$(CONTRACT_RUN) --db $${FUZZ_DB:-sqlite} -- bash openapi/contract/fuzz.sh $(FUZZ_EXAMPLES) $${FUZZ_SEED:-$$RANDOM}

test: lint unit contract e2e

# Dispatch throughput, segment counts and memory (docs/benchmarks.md). Needs PostgreSQL for
# the postgres runs. BENCH_CUSTOMERS=1000000 for the large run.
BENCH_CUSTOMERS ?= 100000
# The raw queue ceiling first (when the shared script is beside the checkout), so that the
# engine's figure can be quoted as a ratio of it from the same session. BENCH_PG is the server
# the engine bench uses; the Unix socket avoids sqlx 0.9.0's missing TCP_NODELAY (see
# docs/benchmarks.md).
PG_CEILING ?= ../shared/bench/pg_ceiling.sh
BENCH_PG ?= postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres
bench:
	$(CARGO) build --release -p loyalcast --bin loyalcast-bench
	@if [ -x $(PG_CEILING) ] || [ -f $(PG_CEILING) ]; then bash $(PG_CEILING) 1000 2; else echo "no $(PG_CEILING): no raw baseline"; fi
	./target/release/loyalcast-bench --db postgres --postgres '$(BENCH_PG)' --customers $(BENCH_CUSTOMERS) --sender noop --workers 2
	./target/release/loyalcast-bench --db postgres --postgres 'postgres://postgres@127.0.0.1:5432/postgres' --customers $(BENCH_CUSTOMERS) --sender noop --workers 2
	./target/release/loyalcast-bench --db postgres --postgres '$(BENCH_PG)' --customers $(BENCH_CUSTOMERS) --sender http --workers 2
	./target/release/loyalcast-bench --db sqlite --customers $(BENCH_CUSTOMERS) --sender noop --workers 1
	./target/release/loyalcast-bench --db sqlite --customers $(BENCH_CUSTOMERS) --sender http --workers 1
	./target/release/loyalcast-bench --db postgres --postgres '$(BENCH_PG)' --customers $(BENCH_CUSTOMERS) --scenario push --workers 2

clean:
	$(CARGO) clean
	rm -rf frontend/dist
