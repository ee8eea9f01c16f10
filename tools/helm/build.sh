#!/usr/bin/env bash
# Builds helm from its Go module (the version go.mod requires) into tools/helm/bin/<version>/helm,
# gitignored and cached by version: when the binary exists this is a no-op, so bumping the
# `require` line (then `go mod tidy` here) is the only way to rebuild (or `rm -rf tools/helm/bin`).
#
# Why a module with a `tool` line rather than `go install helm.sh/helm/v3/cmd/helm@v`: go.sum here
# pins every dependency's checksum, so CI builds exactly what was reviewed.
#
# The -X flags are those of helm's own Makefile: the version `helm version` prints, and the
# Kubernetes version `helm template`/`helm lint` assume when no cluster is asked (taken from the
# client-go helm is built with, v0.<minor> -> 1.<minor>). Without them the default would be 1.20,
# and the chart's `kubeVersion: >=1.33.0-0` would refuse to render.
#
# Usage: tools/helm/build.sh          build if missing, then print the binary's path on stdout
#        tools/helm/build.sh --path   print the binary's path (no build)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "${HERE}"

# The machine's Go builds it or nothing does: never fetch a toolchain behind the user's back.
export GOTOOLCHAIN=local
export CGO_ENABLED=0

module_version() {  # <module path>: the version go.mod requires (read from the file: no network, no Go)
    local version
    version="$(awk -v path="$1" '$1 == path { print $2 }' "${HERE}/go.mod")"
    [[ -n "${version}" ]] || { echo "build.sh: go.mod does not require $1" >&2; exit 1; }
    echo "${version}"
}

HELM_VERSION="$(module_version helm.sh/helm/v3)"
HELM="${HERE}/bin/${HELM_VERSION}/helm"

if [[ "${1:-}" == "--path" ]]; then
    echo "${HELM}"
    exit 0
fi

if [[ -x "${HELM}" ]]; then
    echo "helm ${HELM_VERSION}: cached at ${HELM}" >&2
    echo "${HELM}"
    exit 0
fi

started=${SECONDS}
client_go="$(module_version k8s.io/client-go)"   # v0.37.0
k8s_minor="${client_go#v0.}"
k8s_minor="${k8s_minor%%.*}"
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${k8s_minor}"
done

echo "helm ${HELM_VERSION}: compiling with $(go version | cut -d' ' -f3) (minutes on a cold build cache)" >&2
mkdir -p "$(dirname "${HELM}")"
go build -trimpath -ldflags "${ldflags}" -o "${HELM}.tmp" helm.sh/helm/v3/cmd/helm
mv -f "${HELM}.tmp" "${HELM}"   # atomically: a killed build leaves no half binary
echo "helm ${HELM_VERSION}: built in $((SECONDS - started)) s, $(du -h "${HELM}" | cut -f1) at ${HELM}" >&2
"${HELM}" version --short >&2
echo "${HELM}"
