"""What ships, on a real API server: the rendered Helm chart and every environment's manifests pass
`kubectl apply --dry-run=server`, and the operator, logged in as the chart's service account with
nothing but the chart's RBAC, converges an environment (credentials from a Secret, so its Secret
access is used too) and deletes it through its finalizer without a single Forbidden.

The API server of this tier runs with `--authorization-mode=RBAC`, so a verb the chart forgot is
refused here exactly as on a production cluster. The chart is rendered with the helm `make helm`
builds; without it the module is skipped, unless `make e2e` (CUTLASS_E2E=require) runs it.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.support import (
    FIGURES,
    ROOT,
    Cluster,
    InstalledCrds,
    OperatorProcess,
    account_session,
    load_documents,
    move_to_account,
    workspace_resources,
)

pytestmark = pytest.mark.e2e

CHART = ROOT / "charts" / "cutlass-operator"
RELEASE_NAMESPACE = "cutlass-system"
NAMESPACE = "e2e-delivery"
ACCOUNT = "444444444444"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/cutlass-operator"
SECRET = "aws-e2e"
ENVIRONMENTS = ("dev", "staging", "prod")
CONVERGE_SECONDS = 180
DELETE_SECONDS = 120


def helm_binary() -> Path:
    version = re.search(r"helm\.sh/helm/v3 (v\S+)", (ROOT / "tools" / "helm" / "go.mod").read_text())
    assert version, "tools/helm/go.mod does not require helm.sh/helm/v3"
    path = Path(os.environ.get("CUTLASS_HELM") or ROOT / "tools" / "helm" / "bin" / version.group(1) / "helm")
    if not (path.is_file() and os.access(path, os.X_OK)):
        reason = "no helm binary: run `make helm`"
        if os.environ.get("CUTLASS_E2E") == "require" or os.environ.get("CUTLASS_REQUIRE_HELM") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def render(*args: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(helm_binary()), "template", "cutlass", str(CHART), "--namespace", RELEASE_NAMESPACE, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def dry_run(cluster: Cluster, documents: list[dict[str, Any]]) -> str:
    result = cluster.kubectl.apply_documents(documents, "--dry-run=server")
    assert "Warning" not in result.stderr, result.stderr
    for doc in documents:
        assert f"/{doc['metadata']['name']}" in result.stdout, (doc["kind"], result.stdout)
    return result.stdout


class TestServerSideDryRun:
    def test_the_chart_watching_all_namespaces_is_accepted(self, cluster: Cluster, crds: InstalledCrds) -> None:
        cluster.namespace(RELEASE_NAMESPACE)
        # With its CRDs (already installed: the dry run compares) and no ServiceMonitor (its CRD
        # belongs to the prometheus-operator, which this cluster does not have).
        documents = render("--include-crds")
        assert {d["kind"] for d in documents} >= {"ClusterRole", "Deployment", "Service", "CustomResourceDefinition"}
        dry_run(cluster, documents)

    def test_the_chart_watching_namespaces_with_secret_access_is_accepted(
        self, cluster: Cluster, crds: InstalledCrds
    ) -> None:
        cluster.namespace(RELEASE_NAMESPACE)
        for env in ENVIRONMENTS:
            cluster.namespace(f"cutlass-{env}")
        documents = render(
            "--set",
            "operator.watchNamespaces={cutlass-dev,cutlass-staging,cutlass-prod}",
            "--set-json",
            'rbac.secretAccess=[{"namespace":"cutlass-dev","names":["aws-dev"]}]',
            "--set",
            "serviceAccount.roleArn=arn:aws:iam::111111111111:role/cutlass-operator",
        )
        assert len([d for d in documents if d["kind"] == "Role"]) == 4
        dry_run(cluster, documents)

    @pytest.mark.parametrize("env", ENVIRONMENTS)
    def test_each_environment_applies_with_kustomize(self, cluster: Cluster, crds: InstalledCrds, env: str) -> None:
        folder = ROOT / "manifests" / env
        cluster.namespace(f"cutlass-{env}")  # a dry run refuses objects in a namespace not there yet
        result = cluster.kubectl.run("apply", "--dry-run=server", "-k", str(folder))
        assert "Warning" not in result.stderr, result.stderr
        names = sorted(line.split()[0] for line in result.stdout.splitlines())
        assert names == sorted(
            [
                f"namespace/cutlass-{env}",
                f"cutlassenvironment.cutlass.tech/{env}",
                f"cutlassregion.cutlass.tech/{env}-london",
                f"cutlassregion.cutlass.tech/{env}-sydney",
            ]
        ), result.stdout


# --- the operator with nothing but the chart's RBAC ---------------------------------------------------------------


def service_account_kubeconfig(cluster: Cluster, namespace: str, account: str, path: Path) -> Path:
    """The admin kubeconfig's cluster, with a token of the service account as the only user."""
    token = cluster.kubectl.run("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    server = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [server],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": server["name"], "user": account}}],
        "current-context": account,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def environment_documents() -> list[dict[str, Any]]:
    """manifests/dev in this module's namespace and account, with its credentials in a Secret."""
    documents: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": SECRET, "namespace": NAMESPACE},
            "data": {
                key: base64.b64encode(value.encode()).decode()
                for key, value in (("aws_access_key_id", "AKIAE2EDELIVERY00000"), ("aws_secret_access_key", "x"))
            },
        }
    ]
    for doc in load_documents(ROOT / "manifests" / "dev"):
        if doc.get("kind") not in ("CutlassEnvironment", "CutlassRegion"):
            continue
        doc["metadata"]["namespace"] = NAMESPACE
        credentials = {"source": "Secret", "secretRef": {"name": SECRET}, "roleArn": ROLE}
        documents.append(move_to_account(doc, ACCOUNT, credentials))
    return documents


@pytest.fixture(scope="module")
def operator_as_service_account(
    cluster: Cluster, crds: InstalledCrds, aws_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The chart's ServiceAccount and RBAC applied for real (watching NAMESPACE, reading its Secret),
    and `cutlass run` logged in with that account's token."""
    cluster.namespace(RELEASE_NAMESPACE)
    cluster.namespace(NAMESPACE)
    rbac_kinds = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
    documents = [
        d
        for d in render(
            "--set",
            f"operator.watchNamespaces={{{NAMESPACE}}}",
            "--set-json",
            f'rbac.secretAccess=[{{"namespace":"{NAMESPACE}","names":["{SECRET}"]}}]',
        )
        if d["kind"] in rbac_kinds
    ]
    cluster.kubectl.apply_documents(documents)
    (account,) = [d["metadata"]["name"] for d in documents if d["kind"] == "ServiceAccount"]
    workdir = tmp_path_factory.mktemp("delivery")
    kubeconfig = service_account_kubeconfig(cluster, RELEASE_NAMESPACE, account, workdir / "kubeconfig")
    process = OperatorProcess(kubeconfig, aws_endpoint, [NAMESPACE], workdir / "operator.log")
    try:
        yield process
    finally:
        try:  # leave no finalizer behind on a cluster that outlives the session
            if not process.alive:
                process.start()
            cluster.kubectl.run(
                "delete", "cutlassregions,cutlassenvironments", "--all", "-n", NAMESPACE, "--timeout=60s", check=False
            )
        finally:
            process.stop()


def test_the_operator_converges_and_deletes_with_only_the_chart_rbac(
    cluster: Cluster, operator_as_service_account: OperatorProcess
) -> None:
    operator = operator_as_service_account
    kubectl = cluster.kubectl
    kubectl.apply_documents(environment_documents())
    started = time.monotonic()
    operator.start()

    def wait(*args: str, timeout: float) -> None:
        try:
            kubectl.wait(*args, "-n", NAMESPACE, timeout=timeout)
        except AssertionError as exc:
            state = kubectl.run("get", "cutlass", "-n", NAMESPACE, "-o", "yaml", check=False).stdout
            raise AssertionError(f"{exc}\n--- objects:\n{state}\n--- operator log:\n{operator.tail(60)}") from None

    wait("--for=condition=Ready", "cutlassregion/dev-london", "cutlassregion/dev-sydney", timeout=CONVERGE_SECONDS)
    wait("--for=condition=Ready", "cutlassenvironment/dev", timeout=CONVERGE_SECONDS)
    FIGURES["converge as the chart's service account"] = f"{time.monotonic() - started:.1f}s"
    caller = kubectl.run("get", "cenv/dev", "-n", NAMESPACE, "-o", "jsonpath={.status.callerArn}").stdout
    assert f":{ACCOUNT}:" in caller, caller  # the Secret was read and its keys used to assume the role

    kubectl.run(
        "delete", "cutlassregions,cutlassenvironments", "--all", "-n", NAMESPACE, f"--timeout={DELETE_SECONDS}s"
    )
    assert kubectl.get("cutlass", "-n", NAMESPACE)["items"] == []
    for workspace, aws_region in (("dev-london", "eu-west-2"), ("dev-sydney", "ap-southeast-2")):
        left = workspace_resources(account_session(ROLE, aws_region), workspace)
        assert not left, (workspace, left)

    log = operator.log_path.read_text(errors="replace")
    refused = [line for line in log.splitlines() if "forbidden" in line.lower() or " 403" in line]
    assert not refused, "\n".join(refused[:20])
    assert operator.alive, operator.tail()
