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

.PHONY: help run build server frontend test lint unit e2e openapi tools tool-wasm tool-trunk tool-wasm-bindgen tool-npm tool-chromium bench clean

help:
	@echo "make run      build everything, migrate ./data/loyalcast.db, seed the demo merchant, serve http://127.0.0.1:8080"
	@echo "make test     formatting, clippy, unit and API tests (SQLite + PostgreSQL), the SPA build, browser e2e"
	@echo "make openapi  regenerate openapi/openapi.json"
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

test: lint unit e2e

# Dispatch throughput, segment counts and memory (docs/benchmarks.md). Needs PostgreSQL for
# the postgres runs. BENCH_CUSTOMERS=1000000 for the large run.
BENCH_CUSTOMERS ?= 100000
bench:
	$(CARGO) build --release -p loyalcast --bin loyalcast-bench
	./target/release/loyalcast-bench --db postgres --customers $(BENCH_CUSTOMERS) --sender noop --workers 2
	./target/release/loyalcast-bench --db postgres --customers $(BENCH_CUSTOMERS) --sender http --workers 2
	./target/release/loyalcast-bench --db sqlite --customers $(BENCH_CUSTOMERS) --sender noop --workers 1
	./target/release/loyalcast-bench --db sqlite --customers $(BENCH_CUSTOMERS) --sender http --workers 1

clean:
	$(CARGO) clean
	rm -rf frontend/dist
