# Developer entry points. `make test` and `make demo` install what they need themselves.
SHELL := bash
.DEFAULT_GOAL := help

.PHONY: help test demo env-up env-down build crds lint clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

test: ## Lint and run every test against a real local control plane and AWS emulator
	bash tests/run.sh

demo: ## Local environment + controller: walk a grant from Active to Ended, AWS side shown
	bash tests/demo.sh

env-up: ## Start etcd, kube-apiserver and moto on 127.0.0.1; writes target/env/env.sh
	bash tests/env/deps.sh
	bash tests/env/up.sh

env-down: ## Stop what env-up started and remove its state
	bash tests/env/down.sh

build: ## Build the breakglass binary
	cargo build --locked

crds: ## Regenerate crds/ and the Helm chart's copy from the API types
	cargo run --locked --quiet -- crds > crds/breakglass.dev.yaml
	cp crds/breakglass.dev.yaml charts/breakglass-operator/crds/breakglass.dev.yaml

lint: ## cargo fmt --check and clippy
	cargo fmt --all -- --check
	cargo clippy --locked --all-targets -- -D warnings

clean: env-down ## Stop the environment and remove build output
	cargo clean
