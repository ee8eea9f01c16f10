"""The operator on a real API server, driven with kubectl as a user drives it: the demo environment
(manifests/dev: account 111111111111, regions dev-london and dev-sydney) converges, `kubectl get`
prints the printer columns, a spec change is reconciled, and `kubectl delete` goes through the
finalizer and leaves nothing tagged in AWS.

The tests of this module share one converged environment and run in the order written (each
class leaves the environment as the next one expects): apply, read, change, delete.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.support import (
    FIGURES,
    ROOT,
    Cluster,
    InstalledCrds,
    OperatorProcess,
    account_session,
    load_documents,
    workspace_resources,
)

pytestmark = pytest.mark.e2e

DEMO = ROOT / "manifests" / "dev"
NAMESPACE = "cutlass-dev"
ROLE = "arn:aws:iam::111111111111:role/cutlass-operator"
REGIONS = {"dev-london": "eu-west-2", "dev-sydney": "ap-southeast-2"}
ZONE = "dev.cutlass.example.com."
CONVERGE_SECONDS = 180
DELETE_SECONDS = 120


@dataclass
class Demo:
    cluster: Cluster
    operator: OperatorProcess

    def kubectl(self, *args: str) -> str:
        return self.cluster.kubectl.run(*args, "-n", NAMESPACE).stdout

    def jsonpath(self, resource: str, path: str) -> str:
        return self.kubectl("get", resource, "-o", f"jsonpath={{{path}}}")

    def wait(self, *args: str, timeout: float = CONVERGE_SECONDS) -> None:
        try:
            self.cluster.kubectl.wait(*args, "-n", NAMESPACE, timeout=timeout)
        except AssertionError as exc:
            state = self.cluster.kubectl.run("get", "cutlass", "-n", NAMESPACE, "-o", "yaml", check=False).stdout
            raise AssertionError(f"{exc}\n--- objects:\n{state}\n--- operator log:\n{self.operator.tail()}") from None


@pytest.fixture(scope="module")
def demo(
    cluster: Cluster, crds: InstalledCrds, aws_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    """manifests/dev applied with kubectl, and the operator watching its namespace."""
    log = tmp_path_factory.mktemp("operator") / "demo-operator.log"
    operator = OperatorProcess(cluster.kubeconfig, aws_endpoint, [NAMESPACE], log)
    for doc in load_documents(DEMO):
        if doc["kind"] == "Namespace":
            cluster.namespace(doc["metadata"]["name"])
    # As the manifests' own kustomization says users (and Argo CD) apply them; plain files otherwise.
    how = "-k" if (DEMO / "kustomization.yaml").exists() else "-f"
    cluster.kubectl.run("apply", how, str(DEMO))
    operator.start()
    try:
        yield Demo(cluster, operator)
    finally:
        try:  # leave no finalizer behind on a cluster that outlives the session
            cluster.kubectl.run(
                "delete", "cutlassregions,cutlassenvironments", "--all", "-n", NAMESPACE, "--timeout=60s", check=False
            )
        finally:
            operator.stop()


class TestConverging:
    def test_kubectl_wait_sees_the_environment_and_both_regions_become_ready(self, demo: Demo) -> None:
        started = time.monotonic()
        demo.wait("--for=condition=Ready", "cutlassregion/dev-london", "cutlassregion/dev-sydney")
        demo.wait("--for=condition=Ready", "cutlassenvironment/dev")
        FIGURES["demo converge (kubectl wait Ready)"] = f"{time.monotonic() - started:.1f}s after the operator started"
        assert demo.operator.alive, demo.operator.tail()

    def test_the_vpcs_the_status_names_exist_in_the_account(self, demo: Demo) -> None:
        for name, aws_region in REGIONS.items():
            vpc_id = demo.jsonpath(f"cutlassregion/{name}", ".status.outputs.network.vpcId")
            ec2 = account_session(ROLE, aws_region).client("ec2")
            vpcs = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
            assert [(v["VpcId"], v["OwnerId"]) for v in vpcs] == [(vpc_id, "111111111111")]

    def test_the_api_name_routes_by_continent_to_both_regions_each_with_its_health_check(self, demo: Demo) -> None:
        assert demo.jsonpath("cutlassenvironment/dev", ".status.dns.routedRegions") == '["london","sydney"]'
        assert sorted(routing_records(), key=str) == [
            ("cutlass-dev/default", {"CountryCode": "*"}, True),
            ("cutlass-dev/london-continent-eu", {"ContinentCode": "EU"}, True),
            ("cutlass-dev/sydney-continent-as", {"ContinentCode": "AS"}, True),
            ("cutlass-dev/sydney-continent-oc", {"ContinentCode": "OC"}, True),
        ]


def routing_records() -> list[tuple[str, object, bool]]:
    """The routed name's records in the account: set identifier, location, whether a check guards it."""
    r53 = account_session(ROLE, "eu-west-2").client("route53")
    zone = next(z for z in r53.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"] if z["Name"] == ZONE)
    listed = r53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    return [
        (rr["SetIdentifier"], rr.get("GeoLocation"), bool(rr.get("HealthCheckId")))
        for rr in listed
        if rr["Name"] == f"api.{ZONE}" and "SetIdentifier" in rr
    ]


class TestPrinterColumns:
    def test_kubectl_get_cutlassregions_prints_environment_region_phase_and_ready(self, demo: Demo) -> None:
        header, *rows = demo.kubectl("get", "cutlassregions").splitlines()
        assert header.split() == ["NAME", "ENVIRONMENT", "AWS-REGION", "PHASE", "READY", "AGE"]
        assert sorted(row.split()[:5] for row in rows) == [
            ["dev-london", "dev", "eu-west-2", "Ready", "True"],
            ["dev-sydney", "dev", "ap-southeast-2", "Ready", "True"],
        ]

    def test_kubectl_get_cenv_prints_tier_account_regions_phase_and_ready(self, demo: Demo) -> None:
        # The region summary is refreshed every couple of seconds from the operator's index.
        demo.wait("--for=jsonpath={.status.regions.summary}=2/2", "cutlassenvironment/dev", timeout=30)
        header, *rows = demo.kubectl("get", "cenv").splitlines()
        assert header.split() == ["NAME", "TIER", "ACCOUNT", "REGIONS", "PHASE", "READY", "AGE"]
        assert [row.split()[:6] for row in rows] == [["dev", "dev", "111111111111", "2/2", "Ready", "True"]]

    def test_the_category_lists_both_kinds(self, demo: Demo) -> None:
        names = demo.kubectl("get", "cutlass", "-o", "name").split()
        assert sorted(names) == [
            "cutlassenvironment.cutlass.tech/dev",
            "cutlassregion.cutlass.tech/dev-london",
            "cutlassregion.cutlass.tech/dev-sydney",
        ]


class TestUpdating:
    def test_a_spec_change_is_reconciled_and_observed_generation_follows(self, demo: Demo) -> None:
        before = int(demo.jsonpath("cutlassregion/dev-london", ".metadata.generation"))
        assert demo.jsonpath("cutlassregion/dev-london", ".status.observedGeneration") == str(before)

        demo.kubectl(
            "patch",
            "cutlassregion/dev-london",
            "--type=merge",
            "-p",
            '{"spec":{"network":{"vpcEndpoints":{"s3":true}}}}',
        )
        generation = int(demo.jsonpath("cutlassregion/dev-london", ".metadata.generation"))
        assert generation == before + 1

        demo.wait(f"--for=jsonpath={{.status.observedGeneration}}={generation}", "cutlassregion/dev-london")
        demo.wait("--for=condition=Ready", "cutlassregion/dev-london")
        vpc_id = demo.jsonpath("cutlassregion/dev-london", ".status.outputs.network.vpcId")
        ec2 = account_session(ROLE, "eu-west-2").client("ec2")
        endpoints = ec2.describe_vpc_endpoints(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "service-name", "Values": ["com.amazonaws.eu-west-2.s3"]},
            ]
        )["VpcEndpoints"]
        assert [e["VpcEndpointType"] for e in endpoints if e["State"].lower() == "available"] == ["Gateway"]


class TestDeleting:
    def test_kubectl_delete_of_a_region_completes_through_the_finalizer_and_leaves_nothing_tagged(
        self, demo: Demo
    ) -> None:
        session = account_session(ROLE, REGIONS["dev-sydney"])
        assert workspace_resources(session, "dev-sydney"), "nothing tagged for dev-sydney before the delete"
        assert "cutlass.tech/finalizer" in demo.jsonpath("cutlassregion/dev-sydney", ".metadata.finalizers")

        started = time.monotonic()
        demo.kubectl("delete", "cutlassregion/dev-sydney", f"--timeout={DELETE_SECONDS}s")  # waits for the finalizer
        FIGURES["region delete (kubectl delete)"] = f"{time.monotonic() - started:.1f}s"

        remaining = demo.cluster.kubectl.run("get", "cutlassregions", "-n", NAMESPACE, "-o", "name").stdout.split()
        assert remaining == ["cutlassregion.cutlass.tech/dev-london"]
        assert workspace_resources(session, "dev-sydney") == []
        assert workspace_resources(account_session(ROLE, "eu-west-2"), "dev-london") != []  # untouched
        # Sydney left the records before it went; its callers now get the default record, London.
        assert [sid for sid, _, _ in sorted(routing_records(), key=str)] == [
            "cutlass-dev/default",
            "cutlass-dev/london-continent-eu",
        ]

    def test_kubectl_delete_of_the_environment_and_its_regions_completes_and_leaves_nothing_tagged(
        self, demo: Demo
    ) -> None:
        """How a user tears an environment down: one `kubectl delete` of everything in it."""
        started = time.monotonic()
        demo.kubectl("delete", "cutlassregions,cutlassenvironments", "--all", f"--timeout={DELETE_SECONDS}s")
        FIGURES["environment delete (kubectl delete)"] = f"{time.monotonic() - started:.1f}s"
        assert demo.cluster.kubectl.run("get", "cutlass", "-n", NAMESPACE, "-o", "name").stdout.strip() == ""
        for workspace in ("dev-london", "dev-sydney", "dev-global"):  # dev-global: the environment's own
            for aws_region in REGIONS.values():
                left = workspace_resources(account_session(ROLE, aws_region), workspace)
                assert left == [], f"{workspace} in {aws_region}: {left}"
        assert demo.operator.alive, demo.operator.tail()
