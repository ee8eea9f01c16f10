# Delivery: the Helm chart and the helm that checks it, the environments' manifests, Argo CD.
# Included by the Makefile (after STAMP and BIN are defined).
#
# helm is built from its Go module (tools/helm/go.mod names the version) into
# tools/helm/bin/<version>/helm, gitignored; a second `make helm` is a no-op.

HELM_BUILD := tools/helm/build.sh
CHART := charts/cutlass-operator
CHART_OUT := build/chart
# Value sets every check runs with: the defaults (all namespaces), namespaced with Secret access,
# everything optional switched on.
CHART_VARIANTS := \
	"" \
	"--set operator.watchNamespaces={cutlass-dev,cutlass-staging,cutlass-prod} --set-json rbac.secretAccess=[{\"namespace\":\"cutlass-dev\"}]" \
	"--set metrics.serviceMonitor.enabled=true --set serviceAccount.roleArn=arn:aws:iam::111111111111:role/cutlass-operator"

.PHONY: helm chart-check

helm:  ## build helm from its Go module into tools/helm/bin/ (a no-op when built; needs Go)
	@$(HELM_BUILD) >/dev/null

# Offline: helm lint and helm template over the value sets, the rendered objects checked against
# what the code needs (tests/unit/test_delivery.py with helm required), every environment's
# kustomization and the Argo CD folder built, the Argo CD health scripts run. The server-side dry
# runs of the same objects are tests/e2e/test_delivery.py (`make e2e`).
chart-check: $(STAMP) helm  ## helm lint + template, rendered chart, manifests and Argo CD checked offline
	@set -e; helm="$$($(HELM_BUILD) --path)"; mkdir -p $(CHART_OUT); n=0; \
	for values in $(CHART_VARIANTS); do \
		n=$$((n + 1)); \
		echo "helm lint --strict $(CHART) $$values"; \
		$$helm lint --strict --quiet $(CHART) $$values; \
		$$helm template cutlass $(CHART) --namespace cutlass-system --include-crds $$values > $(CHART_OUT)/rendered-$$n.yaml; \
	done; \
	for env in dev staging prod; do \
		$(BIN)/kubectl kustomize manifests/$$env > $(CHART_OUT)/manifests-$$env.yaml; \
	done; \
	$(BIN)/kubectl kustomize deploy/argocd > $(CHART_OUT)/argocd.yaml; \
	echo "rendered into $(CHART_OUT)/"; \
	CUTLASS_HELM="$$helm" CUTLASS_REQUIRE_HELM=1 $(BIN)/pytest tests/unit/test_delivery.py tests/unit/test_argocd_health.py -q
