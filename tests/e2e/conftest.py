"""The e2e tier's cluster: a real kube-apiserver and etcd started for the session, or the user's own.

By default the session starts etcd and kube-apiserver built by `make testbin` (see
`cutlass_operator.emulator.control_plane`) on free loopback ports with fresh certificates, and
stops them at the end. With `CUTLASS_E2E_CLUSTER=existing` it uses the cluster `KUBECONFIG`
points at instead (that is how `make e2e-kind` runs the same tests on kind), and deletes the
namespaces it created when it is done.

Without built binaries the tier is skipped, unless `CUTLASS_E2E=require` (which `make e2e`
sets) turns the skip into a failure, so CI never passes by running nothing.

The AWS side is the moto server of the root conftest (`moto_endpoint`); the operator runs as
`cutlass run` in a subprocess of each test module that needs it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cutlass_operator.emulator.control_plane import ControlPlane, ControlPlaneError, locate_binaries
from tests.e2e.support import CRD_NAMES, FIGURES, ROOT, Cluster, InstalledCrds, Kubectl, venv_tool

CRD_DIR = ROOT / "crds"
_LOADED = time.monotonic()  # pytest loads this conftest when it collects the tier


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    kubectl_binary = venv_tool("kubectl")
    if os.environ.get("CUTLASS_E2E_CLUSTER") == "existing":
        kubeconfig = os.environ.get("KUBECONFIG")
        if not kubeconfig:
            pytest.fail("CUTLASS_E2E_CLUSTER=existing needs KUBECONFIG to point at the cluster")
        yield from _existing(Path(kubeconfig), Kubectl(Path(kubeconfig), kubectl_binary))
        return
    binaries = locate_binaries()
    if binaries is None:
        reason = "no control plane binaries: run `make testbin` (or set CUTLASS_E2E_CLUSTER=existing)"
        if os.environ.get("CUTLASS_E2E") == "require":
            pytest.fail(reason)
        pytest.skip(reason)
    keep = os.environ.get("CUTLASS_E2E_KEEP")  # keep certificates, data and logs for a post-mortem
    workdir = tmp_path_factory.mktemp("control-plane") if keep else None
    try:
        plane = ControlPlane(binaries, workdir=workdir)
        with plane:
            FIGURES["control plane"] = (
                f"etcd {binaries.etcd_version} healthy in {plane.timings.etcd:.1f}s, kube-apiserver "
                f"{binaries.kubernetes_version} /readyz in {plane.timings.kube_apiserver:.1f}s"
            )
            if workdir is not None:
                FIGURES["control plane files (kept)"] = str(workdir)
            cluster = Cluster(plane.kubeconfig, Kubectl(plane.kubeconfig, kubectl_binary), True, "")
            cluster.version = _server_version(cluster.kubectl)
            yield cluster
    except ControlPlaneError as exc:
        pytest.fail(str(exc))


def _existing(kubeconfig: Path, kubectl: Kubectl) -> Iterator[Cluster]:
    cluster = Cluster(kubeconfig, kubectl, False, _server_version(kubectl))
    FIGURES["control plane"] = f"existing cluster {cluster.version} from {kubeconfig}"
    yield cluster
    for namespace in reversed(cluster.namespaces):
        kubectl.run("delete", "namespace", namespace, "--ignore-not-found", "--wait=false", check=False)


def _server_version(kubectl: Kubectl) -> str:
    info: dict[str, Any] = json.loads(kubectl.run("version", "-o", "json").stdout)
    return str(info["serverVersion"]["gitVersion"])


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> InstalledCrds:
    """`kubectl apply -f crds/`, as the README tells users, then wait until both are Established."""
    applied = cluster.kubectl.run("apply", "-f", str(CRD_DIR))
    cluster.kubectl.wait("--for=condition=Established", *(f"crd/{name}" for name in CRD_NAMES), timeout=60)
    return InstalledCrds(applied.stdout + applied.stderr)


@pytest.fixture(scope="session")
def aws_endpoint(moto_endpoint: str) -> str:
    """The moto server over HTTP, shared with the root conftest (which points boto3 here)."""
    return moto_endpoint


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("e2e figures")
    for key, value in FIGURES.items():
        terminalreporter.write_line(f"{key}: {value}")
    terminalreporter.write_line(f"e2e tier (from collection to summary): {time.monotonic() - _LOADED:.1f}s")
