"""What only a real API server can say about the API: the CRDs are accepted (structural, their CEL
rules compile against the Kubernetes CIDR library), `kubectl explain` documents them, the shipped
manifests are valid, and every manifest in `invalid/` is refused with a message naming the field.

The corpus in `invalid/` is one YAML file per mistake; its first line names the field the API
server's message must name (`# expect: spec.network.vpcCidr`). A file with two documents is an
update: the first is created, the second applied over it must be refused (immutable fields).
Refusals are checked with `--dry-run=server`, which runs the whole validation and writes nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.e2e.support import CRD_NAMES, ROOT, Cluster, InstalledCrds, load_documents, manifest_paths, wait_until

pytestmark = pytest.mark.e2e

INVALID = Path(__file__).parent / "invalid"
INVALID_NAMESPACE = "e2e-invalid"


class TestTheCrds:
    def test_kubectl_apply_accepts_both_crds_without_warnings(self, cluster: Cluster, crds: InstalledCrds) -> None:
        for name in CRD_NAMES:
            assert f"customresourcedefinition.apiextensions.k8s.io/{name}" in crds.output
        assert "Warning" not in crds.output, crds.output
        for name in CRD_NAMES:
            conditions = {
                c["type"]: c["status"] for c in cluster.kubectl.get("crd", name)["status"].get("conditions", [])
            }
            assert conditions.get("Established") == "True", conditions
            assert conditions.get("NamesAccepted") == "True", conditions
            assert "NonStructuralSchema" not in conditions, conditions

    def test_short_names_and_the_category_reach_both_kinds(self, cluster: Cluster, crds: InstalledCrds) -> None:
        resources = cluster.kubectl.run("api-resources", "--api-group=cutlass.tech", "-o", "wide").stdout
        assert re.search(
            r"^cutlassenvironments\s+cenv\s+cutlass.tech/v1alpha1\s+true\s+CutlassEnvironment", resources, re.M
        )
        assert re.search(r"^cutlassregions\s+creg\s+cutlass.tech/v1alpha1\s+true\s+CutlassRegion", resources, re.M)

    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            ("cutlassregion.spec", ["environmentRef", "The CutlassEnvironment this region belongs to.", "awsRegion"]),
            ("cutlassregion.spec.network.vpcCidr", ["IPv4 CIDR of the VPC, /16 to /28. Immutable."]),
            ("cutlassenvironment.spec", ["accountId", "The 12-digit AWS account id. Immutable.", "tier"]),
            ("cutlassenvironment.status.conditions", ["Typed conditions, at most one per type."]),
        ],
    )
    def test_kubectl_explain_shows_the_field_descriptions(
        self, cluster: Cluster, crds: InstalledCrds, path: str, expected: list[str]
    ) -> None:
        def explained() -> str:
            # The API server publishes a new CRD's OpenAPI a moment after it is Established.
            result = cluster.kubectl.run("explain", path, check=False)
            return result.stdout if result.returncode == 0 and expected[0] in result.stdout else ""

        text = wait_until(explained, timeout=30, what=f"kubectl explain {path}")
        for fragment in expected:
            assert fragment in text, text


class TestTheShippedManifests:
    @pytest.fixture(scope="class")
    def namespaces(self, cluster: Cluster, crds: InstalledCrds) -> list[str]:
        """Objects in a namespace that does not exist yet are refused even in a dry run."""
        documents = load_documents(ROOT / "manifests")
        assert documents, "no manifests under manifests/"
        return [cluster.namespace(d["metadata"]["name"]) for d in documents if d["kind"] == "Namespace"]

    def test_every_manifest_under_manifests_applies_with_server_side_dry_run(
        self, cluster: Cluster, namespaces: list[str]
    ) -> None:
        files = manifest_paths(ROOT / "manifests")
        result = cluster.kubectl.run("apply", "--dry-run=server", *(f"--filename={f}" for f in files))
        assert "Warning" not in result.stderr, result.stderr
        for doc in load_documents(*files):
            name = f"{doc['kind'].lower()}.{doc['apiVersion'].split('/')[0]}/{doc['metadata']['name']}"
            if "/" not in doc["apiVersion"]:  # core kinds print without a group
                name = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
            assert re.search(rf"^{re.escape(name)} \w+ \(server dry run\)$", result.stdout, re.MULTILINE), (
                f"{name} not applied:\n{result.stdout}"
            )

    @pytest.mark.parametrize(
        "directory",
        sorted(p.parent for p in (ROOT / "manifests").rglob("kustomization.yaml")),
        ids=lambda p: str(p.relative_to(ROOT)),
    )
    def test_every_kustomization_under_manifests_applies_with_server_side_dry_run(
        self, cluster: Cluster, namespaces: list[str], directory: Path
    ) -> None:
        result = cluster.kubectl.run("apply", "--dry-run=server", "-k", str(directory))
        assert "Warning" not in result.stderr, result.stderr
        assert "(server dry run)" in result.stdout, result.stdout


def _corpus() -> list[Path]:
    return sorted(INVALID.glob("*.yaml"))


def _expected_field(path: Path) -> str:
    match = re.match(r"# expect: (\S+)", path.read_text())
    assert match, f"{path.name} does not start with '# expect: <field>'"
    return match.group(1)


def test_the_invalid_corpus_has_at_least_25_cases_each_naming_its_field() -> None:
    corpus = _corpus()
    assert len(corpus) >= 25
    for path in corpus:
        assert _expected_field(path).startswith("spec.")


class TestInvalidManifests:
    @pytest.fixture(scope="class")
    def namespace(self, cluster: Cluster, crds: InstalledCrds) -> str:
        return cluster.namespace(INVALID_NAMESPACE)

    @pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.stem)
    def test_is_rejected_with_a_message_naming_the_field(self, cluster: Cluster, namespace: str, path: Path) -> None:
        field = _expected_field(path)
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
        *before, invalid = documents
        for doc in before:  # an update case: the object exists first
            cluster.kubectl.apply_documents([doc])
        try:
            result = cluster.kubectl.run(
                "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(invalid), check=False
            )
        finally:
            for doc in before:
                cluster.kubectl.run(
                    "delete", doc["kind"], doc["metadata"]["name"], "-n", namespace, "--ignore-not-found"
                )
        assert result.returncode != 0, f"accepted:\n{result.stdout}"
        message = result.stderr
        # 422 reads "The CutlassRegion "x" is invalid: ..."; a strict-decoding 400 "Error from server".
        assert re.search(r"is invalid: |Error from server", message), message
        assert field in message, f"the message does not name {field}:\n{message}"
