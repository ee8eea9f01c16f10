#!/usr/bin/env bash
# Builds the e2e tier's control plane -- kube-apiserver and etcd -- from their Go modules, the
# way controller-runtime's envtest ships them, into tools/testbin/bin/ (gitignored):
#
#   bin/k8s-<version>/kube-apiserver    from k8s.io/kubernetes   (version: kube-apiserver/go.mod)
#   bin/etcd-<version>/etcd             from go.etcd.io/etcd/server/v3   (version: etcd/go.mod)
#
# Each binary is cached by its version: when it exists the build is a no-op, so bumping a
# `require` line is the only way to rebuild (or `rm -rf tools/testbin/bin`).
#
# Why a generated `replace` block: k8s.io/kubernetes's go.mod points every k8s.io staging module
# (k8s.io/api, k8s.io/apiserver, ...) at ./staging/src, so `go install k8s.io/kubernetes/...@v`
# is refused and a module requiring it must replace each staging module with its published
# v0.<minor>.<patch> twin. The list changes between releases, so it is read from the release's
# own go.mod in the module cache rather than typed here.
#
# Usage: tools/testbin/build.sh          build what is missing
#        tools/testbin/build.sh --paths  print KUBE_APISERVER=... and ETCD=... (no build)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${HERE}/bin"

# The machine's Go builds it or nothing does: never fetch a toolchain behind the user's back.
export GOTOOLCHAIN=local
# Static binaries, as the upstream release builds them.
export CGO_ENABLED=0

required_version() {  # <module dir> <module path>: the version its go.mod requires
    local version
    version="$(go mod edit -json "${HERE}/$1/go.mod" |
        jq -r --arg path "$2" '.Require[] | select(.Path == $path) | .Version')"
    [[ -n "${version}" ]] || { echo "build.sh: $1/go.mod does not require $2" >&2; exit 1; }
    echo "${version}"
}

K8S_VERSION="$(required_version kube-apiserver k8s.io/kubernetes)"
ETCD_VERSION="$(required_version etcd go.etcd.io/etcd/server/v3)"
KUBE_APISERVER="${BIN}/k8s-${K8S_VERSION}/kube-apiserver"
ETCD="${BIN}/etcd-${ETCD_VERSION}/etcd"

if [[ "${1:-}" == "--paths" ]]; then
    echo "KUBE_APISERVER=${KUBE_APISERVER}"
    echo "ETCD=${ETCD}"
    exit 0
fi

scratch() {  # <module dir> <version>: a fresh copy of the module to edit and build in
    local work="${BIN}/.build/$1-$2"
    rm -rf "${work}"
    mkdir -p "${work}"
    cp "${HERE}/$1/go.mod" "${HERE}/$1/main.go" "${work}/"
    if [[ -f "${HERE}/$1/go.sum" ]]; then cp "${HERE}/$1/go.sum" "${work}/"; fi
    echo "${work}"
}

install_binary() {  # <built file> <destination>: atomically, so a killed build leaves no half binary
    mkdir -p "$(dirname "$2")"
    mv -f "$1" "$2.tmp"
    mv -f "$2.tmp" "$2"
}

build_kube_apiserver() {
    if [[ -x "${KUBE_APISERVER}" ]]; then
        echo "kube-apiserver ${K8S_VERSION}: cached at ${KUBE_APISERVER}"
        return
    fi
    local started=${SECONDS} work gomod staging minor
    work="$(scratch kube-apiserver "${K8S_VERSION}")"
    cd "${work}"
    echo "kube-apiserver ${K8S_VERSION}: downloading k8s.io/kubernetes"
    gomod="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | jq -r .GoMod)"
    # v1.37.2 -> v0.37.2: the staging modules are tagged v0.<minor>.<patch> with each release.
    staging="v0.${K8S_VERSION#v1.}"
    local -a edits=()
    while read -r module; do
        edits+=("-replace=${module}=${module}@${staging}")
    done < <(go mod edit -json "${gomod}" |
        jq -r '.Replace[] | select(.New.Path | startswith("./staging/")) | .Old.Path')
    [[ ${#edits[@]} -gt 0 ]] || { echo "build.sh: no staging replaces in ${gomod}" >&2; exit 1; }
    echo "kube-apiserver ${K8S_VERSION}: ${#edits[@]} staging modules replaced by their ${staging} releases"
    go mod edit "${edits[@]}"
    go mod tidy
    # The same version variables hack/lib/version.sh sets, so /version and --version report
    # the release rather than v0.0.0-master.
    minor="${K8S_VERSION#v1.}"
    minor="${minor%%.*}"
    local date ldflags="-s -w" pkg
    date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
        ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
        ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${date}"
    done
    echo "kube-apiserver ${K8S_VERSION}: compiling (minutes when Go's build cache is cold)"
    go build -trimpath -ldflags "${ldflags}" -o kube-apiserver .
    install_binary kube-apiserver "${KUBE_APISERVER}"
    cd "${HERE}"
    rm -rf "${work}"
    echo "kube-apiserver ${K8S_VERSION}: built in $((SECONDS - started)) s," \
        "$(du -h "${KUBE_APISERVER}" | cut -f1) at ${KUBE_APISERVER}"
}

build_etcd() {
    if [[ -x "${ETCD}" ]]; then
        echo "etcd ${ETCD_VERSION}: cached at ${ETCD}"
        return
    fi
    local started=${SECONDS} work
    work="$(scratch etcd "${ETCD_VERSION}")"
    cd "${work}"
    echo "etcd ${ETCD_VERSION}: downloading go.etcd.io/etcd/server/v3"
    # etcd's own replace lines point at sibling folders of its repository; Go ignores a
    # dependency's replaces, and the sibling modules are published with the same tag.
    go mod tidy
    echo "etcd ${ETCD_VERSION}: compiling"
    go build -trimpath -ldflags "-s -w" -o etcd .
    install_binary etcd "${ETCD}"
    cd "${HERE}"
    rm -rf "${work}"
    echo "etcd ${ETCD_VERSION}: built in $((SECONDS - started)) s," \
        "$(du -h "${ETCD}" | cut -f1) at ${ETCD}"
}

go version
build_etcd
build_kube_apiserver
# sed, not head: head exits after a line and etcd, writing more, would die of SIGPIPE (pipefail).
"${ETCD}" --version | sed -n 1p
"${KUBE_APISERVER}" --version
