# Every target installs what it needs first, so each works as the first command on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit integration reliability crds bench clean testbin e2e e2e-kind

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## the operator against embedded emulators, with the example manifests
	$(BIN)/cutlass demo

test: lint typecheck unit integration  ## the fast tiers: Python only (the e2e tier is `make e2e`)

lint: $(STAMP)
	$(BIN)/ruff check operator tests
	$(BIN)/ruff format --check operator tests
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP)
	$(BIN)/pytest tests/integration -q

# The slow sweeps, whose fixed samples run in `make integration`: every mutable field of both kinds
# edited on a converged manifests/dev and reverted, the account's census compared; and manifests/dev
# converged and torn down under injected AWS faults at every seed and rate of the fault suite; and a
# converge and a teardown killed at each of their AWS writes, then run again.
reliability: $(STAMP)  ## every field edited and reverted, every fault seed, every crash point (integration runs samples)
	CUTLASS_EDIT_SAMPLE=all $(BIN)/pytest tests/integration/test_edit_revert.py -q
	CUTLASS_FAULT_SEEDS=all $(BIN)/pytest tests/integration/test_faults.py -q -s
	CUTLASS_CRASH_POINTS=all $(BIN)/pytest tests/integration/test_crash_points.py -q

# The e2e tier: the operator against a real kube-apiserver and etcd, built from Go modules once
# per version into tools/testbin/bin/ (gitignored), driven with kubectl, AWS in a moto server.
testbin:  ## build kube-apiserver and etcd for the e2e tier (a no-op when built; needs Go)
	tools/testbin/build.sh

e2e: $(STAMP) testbin helm  ## the e2e tier against the control plane `make testbin` built
	CUTLASS_E2E=require $(BIN)/pytest tests/e2e -m e2e -q

# The same tests on a kind cluster, for users with docker and kind (CI machines have no Docker
# engine). The operator under test still runs on the host (`cutlass run`, so the tests can
# SIGKILL it and it reaches the host's moto server); the image is built and loaded so the cluster
# could run it. KIND_IMAGE picks the node image: the CRDs' CEL rules need Kubernetes 1.33+.
KIND_CLUSTER ?= cutlass-e2e
KIND_IMAGE ?=
e2e-kind: $(STAMP)  ## the e2e tier on a throwaway kind cluster (needs docker and kind)
	@command -v kind >/dev/null && command -v docker >/dev/null || { echo "e2e-kind needs docker and kind"; exit 1; }
	kubeconfig="$$(mktemp)"; \
	trap 'kind delete cluster --name $(KIND_CLUSTER); rm -f "$$kubeconfig"' EXIT; \
	kind create cluster --name $(KIND_CLUSTER) --kubeconfig "$$kubeconfig" --wait 120s \
		$(if $(KIND_IMAGE),--image $(KIND_IMAGE)) && \
	docker build -t cutlass-operator:e2e . && \
	kind load docker-image cutlass-operator:e2e --name $(KIND_CLUSTER) && \
	KUBECONFIG="$$kubeconfig" CUTLASS_E2E_CLUSTER=existing $(BIN)/pytest tests/e2e -m e2e -q

crds: $(STAMP)  ## regenerate crds/ (and the chart's copy) from the models
	$(BIN)/cutlass crds --output-dir crds
	cp crds/*.yaml charts/cutlass-operator/crds/

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

bench: $(STAMP)  ## AWS calls and time of a converge, a no-op resync and a teardown; change control's calls
	$(BIN)/python tests/benchmarks/reconcile_calls.py --by-call
	$(BIN)/python tests/benchmarks/change_control_calls.py

include mk/delivery.mk
