"""The whole operator, as a cluster runs it: one environment with two regions, from apply to delete.

kopf runs in-process (`OperatorThread`, real kopf) against the embedded Kubernetes API over
HTTP, and reconciles AWS in the moto server over HTTP. One operator and one API emulator serve
the whole module (starting them is most of a test's cost); each test still owns its namespace and
its AWS account, so no test sees another's objects or resources.

What a test reads back comes from the two places a user would look: the objects' status and
events through the `kubernetes` client, and the account itself through boto3 with the role.
"""

from __future__ import annotations

import copy
import functools
import itertools
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from cutlass_operator.api.common import GROUP, VERSION
from cutlass_operator.api.crd import build_crds
from cutlass_operator.emulator.aws import free_port
from cutlass_operator.emulator.kube import KubeEmulatorThread
from cutlass_operator.engine.identity import WORKSPACE
from cutlass_operator.handlers.config import FINALIZER, OperatorConfig
from cutlass_operator.handlers.metrics import OperatorMetrics
from cutlass_operator.handlers.runner import OperatorThread

pytestmark = pytest.mark.integration

ENVIRONMENTS, REGIONS = "cutlassenvironments", "cutlassregions"
LONDON, SYDNEY = "eu-west-2", "ap-southeast-2"
WRONG_ACCOUNT = "111111111111"
WAIT_SECONDS = 120.0  # a deadline, not a speed test: the module's earlier stacks keep resyncing meanwhile
# Resync rarely enough that a timer never rewrites `status.plan` under a test's feet; retries fast.
CONFIG = OperatorConfig(resync_seconds=30, retry_seconds=1)

_namespaces = itertools.count(1)


# --- the cluster: one API emulator and one operator per module ----------------------------------


@dataclass
class Cluster:
    """The `kubernetes` client's view of the embedded API, with the operator watching it."""

    core: Any  # typed as Any: the client takes plain manifests though its hints name its models
    custom: Any
    operator: OperatorThread

    def namespace(self) -> str:
        name = f"lifecycle-{next(_namespaces)}"
        self.core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def create(self, plural: str, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, body["metadata"]["namespace"], plural, body)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def patch_spec(self, plural: str, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name, {"spec": spec}
        )
        return patched

    def delete(self, plural: str, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)

    def events(self, namespace: str, name: str) -> list[Any]:
        items = self.core.list_namespaced_event(namespace).items
        return [e for e in items if e.involved_object and e.involved_object.name == name]

    def wait_for(
        self, plural: str, namespace: str, name: str, check: Callable[[dict[str, Any]], bool], *, until: str
    ) -> dict[str, Any]:
        """Poll until the object exists and `check` holds; fail with its last status if it never does."""
        found = self._poll(plural, namespace, name, lambda obj: obj is not None and check(obj), until)
        assert found is not None
        return found

    def wait_gone(self, plural: str, namespace: str, name: str) -> None:
        self._poll(plural, namespace, name, lambda obj: obj is None, "gone")

    def _poll(
        self, plural: str, namespace: str, name: str, done: Callable[[dict[str, Any] | None], bool], until: str
    ) -> dict[str, Any] | None:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            assert self.operator.alive, "the operator thread has stopped"
            obj = self.get(plural, namespace, name)
            if done(obj):
                return obj
            if time.monotonic() > deadline:
                last = "gone" if obj is None else {"metadata": _meta_summary(obj), "status": obj.get("status")}
                pytest.fail(f"{plural} {namespace}/{name} not {until} within {WAIT_SECONDS:.0f}s; last seen: {last}")
            time.sleep(0.5)


def _meta_summary(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    keys = ("generation", "deletionTimestamp", "finalizers")
    return {k: meta[k] for k in keys if k in meta}


@contextmanager
def operated_cluster(
    folder: Path, settings: OperatorConfig, metrics: OperatorMetrics | None = None
) -> Iterator[Cluster]:
    """The embedded API with the CRDs installed, and the operator watching it."""
    with KubeEmulatorThread() as kube, pytest.MonkeyPatch.context() as env:
        kubeconfig = kube.write_kubeconfig(folder / "kubeconfig")
        # The operator's login handler reads KUBECONFIG when it runs, not at import.
        env.setenv("KUBECONFIG", str(kubeconfig))
        api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        extensions: Any = client.ApiextensionsV1Api(api)
        for crd in build_crds():  # before the operator starts: it does not scan for CRDs
            extensions.create_custom_resource_definition(crd)
        with OperatorThread(settings, metrics=metrics) as operator:
            yield Cluster(client.CoreV1Api(api), client.CustomObjectsApi(api), operator)


@pytest.fixture(scope="module")
def cluster(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with operated_cluster(tmp_path_factory.mktemp("kube"), CONFIG) as found:
        yield found


# --- manifests --------------------------------------------------------------------------------------


def environment(namespace: str, account_id: str, role_arn: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CutlassEnvironment",
        "metadata": {"name": "dev", "namespace": namespace},
        "spec": {
            "accountId": account_id,
            "tier": "dev",
            "primaryRegion": LONDON,
            "credentials": {"source": "AssumeRole", "roleArn": role_arn},
            "notifications": {"senderEmail": "alerts@example.com"},
        },
    }


def region(namespace: str, name: str, aws_region: str, network: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CutlassRegion",
        "metadata": {"name": f"dev-{name}", "namespace": namespace},
        "spec": {"environmentRef": {"name": "dev"}, "region": name, "awsRegion": aws_region, "network": network},
    }


def london(namespace: str) -> dict[str, Any]:
    return region(
        namespace,
        "london",
        LONDON,
        {
            "vpcCidr": "10.0.0.0/16",
            "publicSubnetCidrs": ["10.0.1.0/24", "10.0.2.0/24"],
            "privateSubnetCidrs": ["10.0.3.0/24", "10.0.4.0/24"],
        },
    )


def sydney(namespace: str) -> dict[str, Any]:
    return region(
        namespace,
        "sydney",
        SYDNEY,
        {
            "vpcCidr": "10.1.0.0/16",
            "publicSubnetCidrs": ["10.1.1.0/24", "10.1.2.0/24"],
            "privateSubnetCidrs": ["10.1.3.0/24", "10.1.4.0/24"],
        },
    )


# --- reading status ---------------------------------------------------------------------------------


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}


def status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def is_current(obj: dict[str, Any], *types: str) -> bool:
    """Every condition named is True for the object's current generation."""
    generation = obj["metadata"]["generation"]
    found = conditions(obj)
    return all(
        found.get(t, {}).get("status") == "True" and found[t].get("observedGeneration") == generation for t in types
    )


def region_ready(obj: dict[str, Any]) -> bool:
    return is_current(obj, "NetworkReady", "DataReady", "Synced", "Ready")


def regions_summary(summary: str) -> Callable[[dict[str, Any]], bool]:
    return lambda env: status(env).get("regions", {}).get("summary") == summary


def phase(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: status(obj).get("phase") == name


# --- reading AWS ------------------------------------------------------------------------------------


@functools.cache
def account_session(role_arn: str) -> boto3.Session:
    """A session acting in the role's account (moto honours the assumed role's account).

    One per role, kept: a session loads botocore's service models once for all its clients.
    """
    sts = boto3.client("sts")
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="lifecycle-test")["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def ec2_in(role_arn: str, aws_region: str) -> Any:
    return account_session(role_arn).client("ec2", region_name=aws_region)


def workspace_leftovers(ec2: Any, workspace: str) -> dict[str, list[str]]:
    """Every EC2 resource tagged for the workspace, by kind. Deleted NAT gateways and endpoints, which
    AWS lists for a while, do not count; ones still `deleting` do (the operator waits them out)."""
    tagged = [{"Name": f"tag:{WORKSPACE}", "Values": [workspace]}]
    found = {
        "vpc": [v["VpcId"] for v in ec2.describe_vpcs(Filters=tagged)["Vpcs"]],
        "subnet": [s["SubnetId"] for s in ec2.describe_subnets(Filters=tagged)["Subnets"]],
        "internet-gateway": [
            g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=tagged)["InternetGateways"]
        ],
        "route-table": [r["RouteTableId"] for r in ec2.describe_route_tables(Filters=tagged)["RouteTables"]],
        "security-group": [g["GroupId"] for g in ec2.describe_security_groups(Filters=tagged)["SecurityGroups"]],
        "eip": [a["AllocationId"] for a in ec2.describe_addresses(Filters=tagged)["Addresses"]],
        "nat-gateway": [
            n["NatGatewayId"]
            for n in ec2.describe_nat_gateways(Filter=tagged)["NatGateways"]
            if n["State"] != "deleted"
        ],
        "vpc-endpoint": [
            e["VpcEndpointId"]
            for e in ec2.describe_vpc_endpoints(Filters=tagged)["VpcEndpoints"]
            if e["State"].lower() != "deleted"
        ],
    }
    return {kind: ids for kind, ids in found.items() if ids}


def non_default_vpcs(ec2: Any) -> list[str]:
    return [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]


# --- a running environment ------------------------------------------------------------------------


@dataclass
class Applied:
    namespace: str
    role_arn: str


@pytest.fixture
def applied(cluster: Cluster, account_id: str, role_arn: str) -> Applied:
    """The seed's dev environment and its two regions, applied to a fresh namespace, all Ready."""
    namespace = cluster.namespace()
    cluster.create(ENVIRONMENTS, environment(namespace, account_id, role_arn))
    cluster.create(REGIONS, london(namespace))
    cluster.create(REGIONS, sydney(namespace))
    for name in ("dev-london", "dev-sydney"):
        cluster.wait_for(REGIONS, namespace, name, region_ready, until="Ready")
    cluster.wait_for(
        ENVIRONMENTS,
        namespace,
        "dev",
        lambda env: is_current(env, "AccountVerified", "Ready") and regions_summary("2/2")(env),
        until="Ready with 2/2 regions",
    )
    return Applied(namespace, role_arn)


# --- the lifecycle ------------------------------------------------------------------------------------


class TestApplying:
    def test_the_environment_and_both_regions_become_ready_with_their_vpcs_in_the_account(
        self, cluster: Cluster, applied: Applied, account_id: str
    ) -> None:
        env = cluster.wait_for(ENVIRONMENTS, applied.namespace, "dev", bool, until="there")
        assert conditions(env)["AccountVerified"]["status"] == "True"
        assert status(env)["regions"]["summary"] == "2/2"
        assert status(env)["callerArn"].startswith(f"arn:aws:sts::{account_id}:assumed-role/cutlass-operator/")
        assert status(env)["phase"] == "Ready"
        assert FINALIZER in env["metadata"]["finalizers"]
        assert {t: conditions(env)[t]["status"] for t in ("BootstrapReady", "TablesReady")} == {
            "BootstrapReady": "True",
            "TablesReady": "True",
        }
        tables = {t["name"]: (t["region"], t["replicas"]) for t in status(env)["tables"]}
        assert tables == {
            f"cutlass-tech-{name}-dev": (LONDON, [{"region": SYDNEY, "status": "ACTIVE"}])
            for name in ("credits", "usage", "alerts")
        }

        vpcs: dict[str, str] = {}
        for name, aws_region in (("dev-london", LONDON), ("dev-sydney", SYDNEY)):
            obj = cluster.wait_for(REGIONS, applied.namespace, name, bool, until="there")
            assert {t: conditions(obj)[t]["status"] for t in ("NetworkReady", "DataReady", "Synced", "Ready")} == {
                "NetworkReady": "True",
                "DataReady": "True",
                "Synced": "True",
                "Ready": "True",
            }
            key_arn = status(obj)["outputs"]["data"]["kmsKeyArn"]
            assert key_arn.startswith(f"arn:aws:kms:{aws_region}:{account_id}:key/"), key_arn
            assert status(obj)["observedGeneration"] == obj["metadata"]["generation"]
            assert status(obj)["phase"] == "Ready"
            assert FINALIZER in obj["metadata"]["finalizers"]
            vpcs[name] = vpc_id = status(obj)["outputs"]["network"]["vpcId"]
            found = ec2_in(applied.role_arn, aws_region).describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
            assert [(v["VpcId"], v["OwnerId"], v["CidrBlock"]) for v in found] == [
                (vpc_id, account_id, "10.0.0.0/16" if aws_region == LONDON else "10.1.0.0/16")
            ]
        # Each VPC lives in its own region only.
        assert vpcs["dev-london"] not in non_default_vpcs(ec2_in(applied.role_arn, SYDNEY))

        # What was applied is also told as Kubernetes events on the region: the network's 13
        # resources, the key and the artifact bucket first (then the data layer waits for the
        # tables), then messaging (2 queues, the sender, 2 templates), compute (5 functions,
        # each with package, log group and role, and 2 event source mappings) and the API (the
        # user pool, its resource server, 2 clients and domain, the access logs, the REST API, its
        # stage, 4 invoke permissions and 3 usage plans).
        deadline = time.monotonic() + 10  # kopf posts events from a background queue
        while True:
            events = cluster.events(applied.namespace, "dev-london")
            applied_events = [e for e in events if e.reason == "Applied"]
            created = sorted(int(e.message.split(" created,")[0]) for e in applied_events)
            if created == [15, 42] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert created == [15, 42], [(e.reason, e.message) for e in events]
        assert {(e.involved_object.kind, e.type) for e in applied_events} == {("CutlassRegion", "Normal")}

    def test_a_spec_update_is_applied_in_place(self, cluster: Cluster, applied: Applied) -> None:
        before = cluster.wait_for(REGIONS, applied.namespace, "dev-london", bool, until="there")
        vpc_id = status(before)["outputs"]["network"]["vpcId"]

        patched = cluster.patch_spec(
            REGIONS, applied.namespace, "dev-london", {"network": {"vpcEndpoints": {"s3": True}}}
        )
        generation = patched["metadata"]["generation"]
        assert generation == before["metadata"]["generation"] + 1

        after = cluster.wait_for(
            REGIONS,
            applied.namespace,
            "dev-london",
            lambda obj: region_ready(obj) and status(obj)["observedGeneration"] == generation,
            until=f"reconciled at generation {generation}",
        )
        plan = status(after)["plan"]
        assert (plan["create"], plan["update"], plan["delete"]) == (1, 0, 0), plan
        assert plan["changes"] == ["+ ec2.vpc_endpoint cutlass-tech-s3-endpoint-dev-london"]
        network = status(after)["outputs"]["network"]
        assert network["vpcId"] == vpc_id  # in place: still the same VPC
        s3 = network["vpcEndpointIds"]["s3"]
        endpoints = ec2_in(applied.role_arn, LONDON).describe_vpc_endpoints(VpcEndpointIds=[s3])["VpcEndpoints"]
        assert [(e["VpcId"], e["VpcEndpointType"], e["ServiceName"]) for e in endpoints] == [
            (vpc_id, "Gateway", f"com.amazonaws.{LONDON}.s3")
        ]

    def test_the_metrics_endpoint_serves_the_operators_series(self, cluster: Cluster, applied: Applied) -> None:
        server = cluster.operator.metrics.serve(free_port(), "127.0.0.1")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10) as response:
                text = response.read().decode()
        finally:
            server.shutdown()
        mine = f'namespace="{applied.namespace}"'
        for sample in (
            'cutlass_reconcile_total{kind="CutlassRegion",outcome="success"}',
            'cutlass_reconcile_duration_seconds_count{kind="CutlassEnvironment"}',
            'cutlass_aws_calls_total{operation="CreateVpc",outcome="ok",service="ec2"}',
            'cutlass_aws_calls_total{operation="AssumeRole",outcome="ok",service="sts"}',
        ):
            assert sample in text, sample
        managed = [line for line in text.splitlines() if line.startswith("cutlass_managed_resources{") and mine in line]
        assert any('name="dev-london"' in line and 'resource_kind="ec2.subnet"' in line and line.endswith(" 4.0")
                   for line in managed), managed  # fmt: skip
        synced = [
            line for line in text.splitlines() if line.startswith("cutlass_last_successful_sync") and mine in line
        ]
        assert {line.split('name="')[1].split('"')[0] for line in synced} == {"dev", "dev-london", "dev-sydney"}


class TestDeleting:
    def test_deleting_a_region_tears_down_its_aws_resources_before_it_goes(
        self, cluster: Cluster, applied: Applied
    ) -> None:
        sydney_ec2 = ec2_in(applied.role_arn, SYDNEY)
        before = workspace_leftovers(sydney_ec2, "dev-sydney")
        assert {"vpc", "subnet", "nat-gateway", "eip"} <= set(before), before

        cluster.delete(REGIONS, applied.namespace, "dev-sydney")
        cluster.wait_gone(REGIONS, applied.namespace, "dev-sydney")

        assert workspace_leftovers(sydney_ec2, "dev-sydney") == {}
        assert "vpc" in workspace_leftovers(ec2_in(applied.role_arn, LONDON), "dev-london")  # untouched
        env = cluster.wait_for(ENVIRONMENTS, applied.namespace, "dev", regions_summary("1/1"), until="at 1/1 regions")
        assert conditions(env)["Ready"]["status"] == "True"

    def test_deleting_the_environment_waits_for_its_regions(self, cluster: Cluster, applied: Applied) -> None:
        cluster.delete(ENVIRONMENTS, applied.namespace, "dev")
        cluster.wait_for(
            ENVIRONMENTS,
            applied.namespace,
            "dev",
            lambda env: bool(env["metadata"].get("deletionTimestamp")),
            until="marked for deletion",
        )
        time.sleep(2)  # long enough for the operator to have handled the deletion at least once
        held = cluster.get(ENVIRONMENTS, applied.namespace, "dev")
        assert held is not None, "the environment went while its regions still needed its credentials"
        assert FINALIZER in held["metadata"]["finalizers"]

        for name in ("dev-london", "dev-sydney"):
            assert cluster.get(REGIONS, applied.namespace, name) is not None
            cluster.delete(REGIONS, applied.namespace, name)
        for name in ("dev-london", "dev-sydney"):
            cluster.wait_gone(REGIONS, applied.namespace, name)
        cluster.wait_gone(ENVIRONMENTS, applied.namespace, "dev")
        for workspace, aws_region in (("dev-london", LONDON), ("dev-sydney", SYDNEY)):
            assert workspace_leftovers(ec2_in(applied.role_arn, aws_region), workspace) == {}


class TestRouting:
    """The environment's DNS follows its regions: routed once Ready, taken out before they go."""

    ZONE = "dev.example.com."
    NAME = "api.dev.example.com."

    def records(self, role_arn: str) -> set[str]:
        r53 = account_session(role_arn).client("route53", region_name=LONDON)
        zones = r53.list_hosted_zones_by_name(DNSName=self.ZONE)["HostedZones"]
        zone_id = next(z["Id"] for z in zones if z["Name"] == self.ZONE)
        listed = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        return {rr["SetIdentifier"] for rr in listed if rr["Name"] == self.NAME and "SetIdentifier" in rr}

    def api_domains(self, role_arn: str, aws_region: str) -> set[str]:
        apigateway = account_session(role_arn).client("apigateway", region_name=aws_region)
        return {d["domainName"] for d in apigateway.get_domain_names()["items"]}

    def test_a_failing_region_stays_routed_and_a_deleting_one_leaves_the_records_before_its_api_goes(
        self, cluster: Cluster, account_id: str, role_arn: str
    ) -> None:
        namespace = cluster.namespace()
        env = environment(namespace, account_id, role_arn)
        env["spec"]["domain"] = {
            "zoneName": self.ZONE.rstrip("."),
            "createZone": True,
            "routing": {"policy": "latency"},
        }
        cluster.create(ENVIRONMENTS, env)
        for body, aws_region in ((london(namespace), LONDON), (sydney(namespace), SYDNEY)):
            body["spec"]["api"] = {"certificateArn": f"arn:aws:acm:{aws_region}:{account_id}:certificate/lifecycle"}
            cluster.create(REGIONS, body)
        ready = cluster.wait_for(
            ENVIRONMENTS,
            namespace,
            "dev",
            lambda env: is_current(env, "DnsReady", "Ready") and regions_summary("2/2")(env),
            until="Ready with its DNS",
        )
        assert status(ready)["dns"]["routedRegions"] == ["london", "sydney"]
        assert self.records(role_arn) == {"cutlass-dev/london", "cutlass-dev/sydney"}
        assert self.NAME.rstrip(".") in self.api_domains(role_arn, SYDNEY)

        # A typo in a routed region (a certificate of another account) fails that region, before any
        # write, and leaves it routed: its health check, not its spec, decides whether it answers.
        good = cluster.get(REGIONS, namespace, "dev-sydney")
        assert good is not None
        cluster.patch_spec(
            REGIONS,
            namespace,
            "dev-sydney",
            {"api": {"certificateArn": f"arn:aws:acm:{SYDNEY}:{WRONG_ACCOUNT}:certificate/x"}},
        )
        failed = cluster.wait_for(REGIONS, namespace, "dev-sydney", phase("Failed"), until="Failed")
        assert conditions(failed)["Synced"]["reason"] == "CertificateInWrongAccount"
        checks = {"routing": {"policy": "latency", "healthCheck": {"failureThreshold": 4}}}
        generation = cluster.patch_spec(ENVIRONMENTS, namespace, "dev", {"domain": checks})["metadata"]["generation"]
        cluster.wait_for(
            ENVIRONMENTS,
            namespace,
            "dev",
            lambda env: status(env).get("observedGeneration") == generation,
            until="reconciled with the failing region",
        )
        assert self.records(role_arn) == {"cutlass-dev/london", "cutlass-dev/sydney"}
        cluster.patch_spec(REGIONS, namespace, "dev-sydney", {"api": good["spec"]["api"]})
        cluster.wait_for(REGIONS, namespace, "dev-sydney", region_ready, until="Ready again")

        cluster.delete(REGIONS, namespace, "dev-sydney")
        reasons: set[str] = set()
        deadline = time.monotonic() + WAIT_SECONDS
        while (obj := cluster.get(REGIONS, namespace, "dev-sydney")) is not None:
            reasons.add(conditions(obj).get("Synced", {}).get("reason", ""))
            if self.NAME.rstrip(".") not in self.api_domains(role_arn, SYDNEY):
                assert "cutlass-dev/sydney" not in self.records(role_arn), "the API went while still routed to"
            assert cluster.operator.alive and time.monotonic() < deadline, f"dev-sydney still there: {reasons}"
            time.sleep(0.1)
        assert "WaitingForDnsRemoval" in reasons, reasons
        assert self.records(role_arn) == {"cutlass-dev/london"}
        env_after = cluster.wait_for(ENVIRONMENTS, namespace, "dev", regions_summary("1/1"), until="at 1/1 regions")
        assert status(env_after)["dns"]["routedRegions"] == ["london"]
        assert [r["region"] for r in status(env_after)["dns"]["regions"]] == ["london"]

        # Both at once: the environment takes its DNS down first, which lets London go, then itself.
        cluster.delete(ENVIRONMENTS, namespace, "dev")
        cluster.delete(REGIONS, namespace, "dev-london")
        cluster.wait_gone(REGIONS, namespace, "dev-london")
        cluster.wait_gone(ENVIRONMENTS, namespace, "dev")
        r53 = account_session(role_arn).client("route53", region_name=LONDON)
        assert r53.list_hosted_zones_by_name(DNSName=self.ZONE)["HostedZones"] == []  # created, so deleted
        assert r53.list_health_checks()["HealthChecks"] == []


class TestFailing:
    def test_credentials_acting_in_another_account_stop_everything_before_a_write(
        self, cluster: Cluster, account_id: str, role_arn: str
    ) -> None:
        namespace = cluster.namespace()
        cluster.create(ENVIRONMENTS, environment(namespace, WRONG_ACCOUNT, role_arn))
        cluster.create(REGIONS, london(namespace))
        cluster.create(REGIONS, sydney(namespace))

        env = cluster.wait_for(ENVIRONMENTS, namespace, "dev", phase("Failed"), until="Failed")
        verified = conditions(env)["AccountVerified"]
        assert (verified["status"], verified["reason"]) == ("False", "AccountMismatch")
        assert account_id in verified["message"] and WRONG_ACCOUNT in verified["message"]
        for name in ("dev-london", "dev-sydney"):
            obj = cluster.wait_for(
                REGIONS, namespace, name, phase("WaitingForDependency"), until="waiting for its environment"
            )
            ready = conditions(obj)["Ready"]
            assert (ready["status"], ready["reason"]) == ("False", "WaitingForEnvironment")
            assert "'dev'" in ready["message"]

        time.sleep(2)  # a retry or two later, still nothing
        wrong_role = f"arn:aws:iam::{WRONG_ACCOUNT}:role/cutlass-operator"
        for aws_region in (LONDON, SYDNEY):
            assert non_default_vpcs(ec2_in(role_arn, aws_region)) == []
            wrong = ec2_in(wrong_role, aws_region)
            for workspace in ("dev-london", "dev-sydney"):
                assert workspace_leftovers(wrong, workspace) == {}

    def test_a_region_spec_the_api_accepts_but_the_model_refuses_fails_without_a_write(
        self, cluster: Cluster, account_id: str, role_arn: str
    ) -> None:
        namespace = cluster.namespace()
        cluster.create(ENVIRONMENTS, environment(namespace, account_id, role_arn))
        bad = copy.deepcopy(london(namespace))
        # The CRD's CEL rules would refuse this; the emulator has no CEL, so the model must.
        bad["spec"]["network"]["publicSubnetCidrs"] = ["10.9.1.0/24", "10.0.2.0/24"]
        cluster.create(REGIONS, bad)

        obj = cluster.wait_for(REGIONS, namespace, "dev-london", phase("Failed"), until="Failed")
        ready = conditions(obj)["Ready"]
        assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
        assert "network.publicSubnetCidrs: 10.9.1.0/24 is not inside the VPC CIDR 10.0.0.0/16" in ready["message"]
        # The environment is verified, so only the spec stands between the operator and AWS.
        cluster.wait_for(
            ENVIRONMENTS, namespace, "dev", lambda env: is_current(env, "AccountVerified"), until="verified"
        )
        time.sleep(2)
        assert non_default_vpcs(ec2_in(role_arn, LONDON)) == []
