# Developer entry points. `make test` and `make demo` install what they need themselves.
SHELL := bash
.DEFAULT_GOAL := help

.PHONY: help test test-fast demo bench chaos env-up env-down build release install chart crds lint clean

N ?= 1000
ROUNDS ?= 20
SEED ?=
PREFIX ?= $(HOME)/.local
# Test targets (tests/*.rs) that need no server (no kube-apiserver, moto or mitmproxy): the
# fast tier runs them with the unit and in-process tests. A new server-less target goes here.
FAST_TESTS := crds_in_sync webhook_fuzz argocd_health examples bench_plots

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

test: ## Lint and run every test against a real local control plane and AWS emulator
	bash tests/run.sh

test-fast: ## Every test that needs no server: unit, in-process (src/testkit) and FAST_TESTS
	cargo test --locked --workspace --all-features --lib --bins $(addprefix --test ,$(FAST_TESTS))

demo: ## Local environment + controller: walk a grant from Active to Ended, AWS side shown
	bash tests/demo.sh

bench: ## Outside-in benchmark, release build, N grants (N=1000; N=10000 takes hours): target/bench/latest.json
	N=$(N) bash tests/bench.sh

chaos: ## Fault campaign, release build, ROUNDS rounds (SEED=n replays one): target/chaos/latest.json
	ROUNDS=$(ROUNDS) SEED=$(SEED) bash tests/chaos.sh

env-up: ## Start etcd, kube-apiserver, moto and Flux's controllers on 127.0.0.1; writes target/env/env.sh
	bash tests/env/deps.sh
	bash tests/env/up.sh

env-down: ## Stop what env-up started and remove its state
	bash tests/env/down.sh

build: ## Build the breakglass binary and the kubectl plugin (kubectl-breakglass)
	cargo build --locked -p breakglass-operator -p breakglass-plugin

install: ## Install breakglass and the kubectl plugin (kubectl-breakglass) into PREFIX/bin (default ~/.local)
	cargo build --locked --release -p breakglass-operator -p breakglass-plugin
	install -d "$(PREFIX)/bin"
	install -m 0755 target/release/breakglass "$(PREFIX)/bin/breakglass"
	install -m 0755 target/release/kubectl-breakglass "$(PREFIX)/bin/kubectl-breakglass"
	@echo "installed: $(PREFIX)/bin/breakglass and kubectl-breakglass (try: kubectl breakglass --help)"

release: ## Run the Dockerfile's build command (locked release build) and check the binary
	@cmd=$$(sed -n 's/^RUN \(cargo build .*\)$$/\1/p' Dockerfile); \
	  test -n "$$cmd" || { echo "no 'RUN cargo build' line in Dockerfile" >&2; exit 1; }; \
	  echo "$$cmd"; $$cmd
	target/release/breakglass --version
	target/release/breakglass crds | cmp - crds/breakglass.dev.yaml

chart: ## helm lint and helm template the chart (Helm is built and cached on first use)
	helm=$$(bash tests/env/helm.sh) && \
	  $$helm lint charts/breakglass-operator --strict --kube-version 1.34.4 && \
	  $$helm lint charts/breakglass-operator --strict --kube-version 1.34.4 -f charts/breakglass-operator/ci/full-values.yaml && \
	  $$helm template breakglass charts/breakglass-operator --kube-version 1.34.4 >/dev/null

crds: ## Regenerate crds/ and the Helm chart's copy from the API types
	cargo run --locked --quiet -- crds > crds/breakglass.dev.yaml
	cp crds/breakglass.dev.yaml charts/breakglass-operator/crds/breakglass.dev.yaml

lint: ## cargo fmt --check and clippy
	cargo fmt --all -- --check
	cargo clippy --locked --workspace --all-targets --all-features -- -D warnings
	bash tests/layers.sh

clean: env-down ## Stop the environment and remove build output
	cargo clean
