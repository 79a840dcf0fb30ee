# Switchyard: the two commands are `make dev` (local stack) and `make test`.
# Everything the targets need is installed by them (pinned), so a fresh machine works.

SHELL        := /bin/bash
.SHELLFLAGS  := -eu -o pipefail -c
PYTHON       ?= python3
VENV         ?= $(CURDIR)/.venv
PORT         ?= 3000
EMULATOR_PORT ?= 4566
PREFIX       ?= switchyard
NEXTEST_VERSION := 0.9.143
# Test threads get the stack a Lambda's handler has (its main thread, 8 MiB) and the local host's
# runtime threads have: the deepest e2e paths (kb.ingest reading a Doc through docs.get_document,
# a watch resync from the CLI) need more than the 2 MiB default in debug builds.
TEST_THREAD_STACK := 8388608

export AWS_ACCESS_KEY_ID     ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export AWS_REGION            ?= us-east-1
export SAM_CLI_TELEMETRY     := 0
export VENV

.PHONY: dev test fuzz bench tools chromium emulator emulator-stop fmt lint check validate template build sam-build \
        invoke events clean

## dev: install tools, start the emulator (unless one answers), create the stack, seed demo
##      instances, serve the template's routes on 127.0.0.1:$(PORT) and drive the consumer.
dev: tools chromium emulator
	cargo build --bin switchyard-local --bin switchyard
	AWS_ENDPOINT_URL=http://127.0.0.1:$(EMULATOR_PORT) SWITCHYARD_STACK_PREFIX=$(PREFIX) \
	  SWITCHYARD_PORT=$(PORT) $${CARGO_TARGET_DIR:-target}/debug/switchyard-local

## test: formatting, lints, unit tests and end-to-end tests against a private emulator.
test: tools chromium
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUST_MIN_STACK=$(TEST_THREAD_STACK) infra/with-emulator.sh cargo nextest run --workspace --no-fail-fast

## fuzz: the property-based fuzz suites (every test named `fuzz_tests::…`) with
##       FUZZ_MULTIPLIER times the cases `make test` runs (default 50: 50000 per HMAC verifier
##       property, 1.5 million in all); no emulator needed. `make fuzz FUZZ_MULTIPLIER=500` for a long run.
FUZZ_MULTIPLIER ?= 50
fuzz: tools
	SWITCHYARD_FUZZ_MULTIPLIER=$(FUZZ_MULTIPLIER) cargo nextest run --workspace --no-fail-fast \
	  --no-tests=warn -E 'test(/fuzz_tests::/)'

## bench: criterion benches of the ingest path, cold start, binary sizes, AWS calls per webhook.
bench: tools
	infra/bench.sh

## tools: the pinned Python venv (moto, cfn-lint, sam, cargo-lambda, zig), cargo-nextest, and
##        the test OAuth server's npm packages (oidc-provider, from package-lock.json) and the
##        MCP test client's (@modelcontextprotocol/sdk).
tools: $(VENV)/.installed tests/oauth-server/node_modules/.installed tests/mcp-client/node_modules/.installed
	@cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked --version $(NEXTEST_VERSION)

$(VENV)/.installed: infra/requirements.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	@touch $@

tests/oauth-server/node_modules/.installed: tests/oauth-server/package-lock.json
	cd tests/oauth-server && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

tests/mcp-client/node_modules/.installed: tests/mcp-client/package-lock.json
	cd tests/mcp-client && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## chromium: Debian's chromium for the dashboard's browser test (tests/e2e/dashboard_browser.rs),
##           pinned, installed only when missing (root, or through sudo).
CHROMIUM_VERSION := 148.0.7778.167-1~deb12u1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends \
	    chromium=$(CHROMIUM_VERSION); }

## emulator: moto's server on 127.0.0.1:$(EMULATOR_PORT), unless an emulator already answers there.
emulator: tools
	infra/emulator.sh start $(EMULATOR_PORT)

emulator-stop:
	infra/emulator.sh stop $(EMULATOR_PORT)

## validate: template.yaml up to date with the definitions, cfn-lint and sam validate --lint
##           (also run by the test suite).
validate: tools
	$(VENV)/bin/python infra/gen_template.py --check
	infra/validate-template.sh

## template: regenerate the generated regions of template.yaml (webhook functions, their log groups
##           and URL outputs, tool functions) from shared/providers/*.yaml and
##           shared/integrations/*.json. `make test` fails while template.yaml is stale.
template: tools
	$(VENV)/bin/python infra/gen_template.py

## invoke: one function of the template, run locally like `sam local invoke` but without Docker
##         (cargo lambda watch + invoke, against the emulator; stack provisioned if missing):
##         make invoke FUNCTION=SlackWebhookFunction EVENT=events/slack-webhook-app-mention.json
invoke: tools
	$(VENV)/bin/python infra/invoke.py --prefix $(PREFIX) --emulator-port $(EMULATOR_PORT) \
	  "$(FUNCTION)" "$(EVENT)"

## build: the Lambda artifacts (arm64, provided.al2023) with cargo-lambda and zig.
build: tools
	PATH=$(VENV)/bin:$$PATH cargo lambda build --release --arm64 --bin webhook --bin consumer --bin oauth --bin token-refresher --bin tool --bin notion-poller --bin shopify-bulk-sync --bin retention --bin media-worker

## sam-build: `sam build` of every function in template.yaml into .aws-sam/build (what
##            `sam deploy` and `sam local invoke` use). SAM's rust-cargolambda build method is a beta
##            feature, and it finds cargo-lambda (and cargo-lambda finds zig) on PATH: both are in
##            the venv. One release arm64 cross-build per binary, sharing the cargo target dir.
sam-build: tools
	PATH=$(VENV)/bin:$$PATH $(VENV)/bin/sam build --beta-features --template template.yaml

## events: re-sign the sample events in events/ with the demo secrets.
events: tools
	$(VENV)/bin/python infra/make_events.py

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

check: lint validate

clean:
	cargo clean
	rm -rf $(VENV) .local
