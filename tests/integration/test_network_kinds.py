"""The network kinds against the moto server over HTTP: create, observe, drift, repair, delete.

The layer runs through the real engine (`cutlass_operator.engine.reconcile`): `converge`, `diffs`
and `repair` below are one observe -> plan (-> apply) each, scoped to the layer as the region
workflow scopes it. The tests at the end call one kind at a time, since they test the kinds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cutlass_operator.api.environment import CutlassEnvironmentSpec, Tier, TierSettings, resolve_settings
from cutlass_operator.api.region import CutlassRegionSpec
from cutlass_operator.aws.session import AwsClients
from cutlass_operator.engine import reconcile as engine
from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.executor import ApplyResult, Progress
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.plan import Action, Change, Plan
from cutlass_operator.engine.resource import Desired, KindContext, Observed, ResourceKind
from cutlass_operator.layers.base import RegionInputs
from cutlass_operator.layers.network import LAYER, NetworkLayer
from cutlass_operator.props.ec2 import SubnetProps, VpcProps
from cutlass_operator.resources.errors import classify
from cutlass_operator.workflows.layers import kinds_of

pytestmark = pytest.mark.integration

REGION = "eu-west-2"
SEED_NETWORK = {
    "vpcCidr": "10.0.0.0/16",
    "publicSubnetCidrs": ["10.0.1.0/24", "10.0.2.0/24"],
    "privateSubnetCidrs": ["10.0.3.0/24", "10.0.4.0/24"],
}
# Everything switched on, so one converge exercises every kind.
FULL = {"natGateways": "PerAZ", "vpcEndpoints": {"s3": True, "interface": ["sqs"]}, "flowLogs": {"enabled": True}}


@pytest.fixture
def workspace(account_id: str) -> Workspace:
    return Workspace("dev", "london", REGION, account_id, extra_tags={})


@pytest.fixture
def ctx(clients: AwsClients, account_id: str, workspace: Workspace) -> KindContext:
    return KindContext(clients=clients, account_id=account_id, region=REGION, selector=workspace.selector())


@pytest.fixture
def ec2(clients: AwsClients) -> Any:
    return clients.client("ec2")


def region_inputs(workspace: Workspace, network: dict[str, Any] | None = None) -> RegionInputs:
    environment = CutlassEnvironmentSpec.model_validate(
        {"accountId": workspace.account_id, "tier": "dev", "notifications": {"senderEmail": "alerts@example.com"}}
    )
    region = CutlassRegionSpec.model_validate(
        {
            "environmentRef": {"name": "dev"},
            "region": "london",
            "awsRegion": REGION,
            "network": {**SEED_NETWORK, **(network or {})},
        }
    )
    settings = resolve_settings(Tier.DEV, environment.settings, TierSettings())
    return RegionInputs(workspace, environment, region, settings)


def kinds_by_name(layer: NetworkLayer) -> dict[str, ResourceKind[Any]]:
    # The network's kinds are the same for every workspace.
    return kinds_of(layer, region_inputs(Workspace("dev", "london", REGION, "111111111111", {})))


def observe(ctx: KindContext, layer: NetworkLayer, entries: Sequence[Desired]) -> dict[str, Observed]:
    """The engine's observation (one observe_many per kind, orphans included), by key."""
    observed: dict[str, Observed] = {}
    for item in engine.observe(kinds_by_name(layer), entries, ctx):
        assert item.key not in observed, f"two resources claim {item.key}"
        observed[item.key] = item
    return observed


def reconcile(ctx: KindContext, layer: NetworkLayer, entries: Sequence[Desired], **options: Any) -> engine.Outcome:
    return engine.reconcile(kinds_by_name(layer), entries, ctx, scope=f"{LAYER}/", **options)


def applied(outcome: engine.Outcome) -> ApplyResult:
    assert outcome.result is not None, "planned only"
    assert outcome.result.ok, {key: error.message for key, error in outcome.result.errors.items()}
    return outcome.result


def starts(into: list[Change]) -> Progress:
    """A progress callback that records each change as the engine starts it."""

    def progress(change: Change, event: str) -> None:
        if event == "started":
            into.append(change)

    return progress


def converge(ctx: KindContext, layer: NetworkLayer, entries: Sequence[Desired]) -> dict[str, Observed]:
    """Apply the entries; the resources afterwards, by key."""
    return applied(reconcile(ctx, layer, entries)).observed


def plan(ctx: KindContext, layer: NetworkLayer, entries: Sequence[Desired]) -> Plan:
    return reconcile(ctx, layer, entries, apply=False).plan


def diffs(ctx: KindContext, layer: NetworkLayer, entries: Sequence[Desired]) -> dict[str, list[str]]:
    """Every desired resource the plan would create ("missing") or change (its diff)."""
    result: dict[str, list[str]] = {}
    for change in plan(ctx, layer, entries).pending:
        if change.action == Action.CREATE:
            result[change.key] = ["missing"]
        elif change.action == Action.UPDATE:
            result[change.key] = [str(d) for d in change.diff]
    return result


def repair(ctx: KindContext, layer: NetworkLayer, entries: Sequence[Desired], key: str) -> Observed:
    """Apply, checking that the only change was the update of `key`; its state afterwards."""
    outcome = reconcile(ctx, layer, entries)
    assert [(c.action, c.key) for c in outcome.plan.pending] == [(Action.UPDATE, key)]
    return applied(outcome).observed[key]


@pytest.fixture
def layer() -> NetworkLayer:
    return NetworkLayer()


@pytest.fixture
def full(workspace: Workspace, layer: NetworkLayer) -> list[Desired]:
    return layer.desired(region_inputs(workspace, FULL))


@pytest.fixture
def built(ctx: KindContext, layer: NetworkLayer, full: list[Desired]) -> dict[str, Observed]:
    return converge(ctx, layer, full)


class TestConverge:
    def test_a_converged_layer_observes_exactly_as_desired(
        self, ctx: KindContext, layer: NetworkLayer, full: list[Desired], built: dict[str, Observed]
    ) -> None:
        assert diffs(ctx, layer, full) == {}
        assert set(observe(ctx, layer, full)) == {d.key for d in full}

    def test_a_second_converge_writes_nothing_and_reads_once_per_kind(
        self,
        ctx: KindContext,
        clients: AwsClients,
        layer: NetworkLayer,
        full: list[Desired],
        built: dict[str, Observed],
    ) -> None:
        assert clients.calls is not None
        clients.calls.reset()
        converge(ctx, layer, full)
        assert clients.calls.writes == 0, clients.calls.mutating()
        reads = dict(clients.calls.calls)
        # One describe per EC2 kind and two DNS attributes; two reads for the log groups (their tags
        # from the tagging API, their retention) and two for the roles (trust and description, then
        # tags and inline policies), however many there are.
        assert reads == {
            "ec2:DescribeVpcs": 1,
            "ec2:DescribeVpcAttribute": 2,
            "ec2:DescribeSubnets": 1,
            "ec2:DescribeInternetGateways": 1,
            "ec2:DescribeAddresses": 1,
            "ec2:DescribeNatGateways": 1,
            "ec2:DescribeRouteTables": 1,
            "ec2:DescribeSecurityGroups": 1,
            "ec2:DescribeVpcEndpoints": 1,
            "ec2:DescribeFlowLogs": 1,
            "resourcegroupstaggingapi:GetResources": 1,
            "logs:DescribeLogGroups": 1,
            "iam:ListRoles": 1,
            "iam:GetAccountAuthorizationDetails": 1,
        }

    def test_the_seed_layer_reads_once_per_kind_when_steady(
        self, ctx: KindContext, clients: AwsClients, workspace: Workspace, layer: NetworkLayer
    ) -> None:
        seed = layer.desired(region_inputs(workspace))
        converge(ctx, layer, seed)
        assert clients.calls is not None
        clients.calls.reset()
        converge(ctx, layer, seed)
        assert clients.calls.writes == 0, clients.calls.mutating()
        # The flow-log kinds still look for orphans (a flow log switched off): one read each,
        # and no second one when the first finds none.
        assert {op: n for op, n in clients.calls.calls.items() if not op.startswith("ec2:Describe")} == {
            "resourcegroupstaggingapi:GetResources": 1,
            "iam:ListRoles": 1,
        }
        assert (len(seed), clients.calls.reads) == (13, 13)

    def test_the_outputs_name_what_was_built(self, layer: NetworkLayer, built: dict[str, Observed]) -> None:
        outputs = layer.outputs(built)
        assert outputs["vpcId"].startswith("vpc-")
        assert len(outputs["publicSubnetIds"]) == len(outputs["privateSubnetIds"]) == 2
        assert len(outputs["natGatewayIds"]) == 2
        assert outputs["lambdaSecurityGroupId"].startswith("sg-")
        assert set(outputs["vpcEndpointIds"]) == {"dynamodb", "s3", "sqs"}
        assert outputs["flowLogId"].startswith("fl-")

    def test_switching_features_off_leaves_orphans_that_delete_in_rank_order(
        self, ctx: KindContext, workspace: Workspace, layer: NetworkLayer, built: dict[str, Observed]
    ) -> None:
        seed = layer.desired(region_inputs(workspace))
        observed = observe(ctx, layer, seed)
        orphans = sorted(set(observed) - {d.key for d in seed})
        assert orphans == [
            "network/endpoint-security-group",
            "network/flow-log",
            "network/flow-logs/log-group",
            "network/flow-logs/role",
            "network/nat-eip/b",
            "network/nat-gateway/b",
            "network/vpc-endpoint/s3",
            "network/vpc-endpoint/sqs",
        ]
        kinds = kinds_by_name(layer)
        started: list[Change] = []
        outcome = reconcile(ctx, layer, seed, progress=starts(started))
        applied(outcome)
        assert sorted(c.key for c in outcome.plan.pending if c.action == Action.DELETE) == orphans
        # The private route table of zone b still routes to its NAT gateway: the engine re-points
        # it first, as it applies updates before it deletes orphans, and deletes by rank.
        assert [c.key for c in started if c.action != Action.DELETE] == ["network/private-route-table/b"]
        assert started[0].key == "network/private-route-table/b"
        ranks = [kinds[c.kind].delete_rank for c in started if c.action == Action.DELETE]
        assert ranks == sorted(ranks, reverse=True)
        assert set(observe(ctx, layer, seed)) == {d.key for d in seed}
        assert diffs(ctx, layer, seed) == {}

    def test_another_workspace_and_untagged_resources_are_not_observed(
        self, ctx: KindContext, ec2: Any, layer: NetworkLayer, full: list[Desired], built: dict[str, Observed]
    ) -> None:
        sydney = [{"Key": "cutlass.tech/managed-by", "Value": "cutlass-operator"},
                  {"Key": "cutlass.tech/workspace", "Value": "dev-sydney"},
                  {"Key": "cutlass.tech/key", "Value": "network/vpc"}]  # fmt: skip
        ec2.create_vpc(CidrBlock="10.9.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": sydney}])
        ec2.create_vpc(CidrBlock="10.8.0.0/16")
        subnet = built["network/public-subnet/a"].id
        address = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ec2.create_nat_gateway(SubnetId=subnet, AllocationId=address)  # moto ignores tag filters here
        assert set(observe(ctx, layer, full)) == {d.key for d in full}

    def test_teardown_in_rank_order_removes_everything_and_tolerates_a_second_pass(
        self, ctx: KindContext, layer: NetworkLayer, full: list[Desired], built: dict[str, Observed]
    ) -> None:
        kinds = kinds_by_name(layer)
        observed = observe(ctx, layer, full)
        ordered = sorted(observed.values(), key=lambda o: -kinds[o.kind].delete_rank)
        started: list[Change] = []
        applied(reconcile(ctx, layer, full, destroy=True, progress=starts(started)))
        ranks = [kinds[c.kind].delete_rank for c in started]
        assert (len(ranks), ranks) == (len(full), sorted(ranks, reverse=True))
        assert observe(ctx, layer, full) == {}
        # A second pass, kind by kind: deleting what is already gone succeeds.
        for item in ordered:
            kinds[item.kind].delete(ctx, item)
        assert reconcile(ctx, layer, full, destroy=True, apply=False).plan.empty


class TestDriftIsRepaired:
    """Each test changes one thing behind the operator's back, then checks diff and repair."""

    def test_vpc_dns_hostnames(
        self, ctx: KindContext, ec2: Any, layer: NetworkLayer, full: list[Desired], built: dict[str, Observed]
    ) -> None:
        ec2.modify_vpc_attribute(VpcId=built["network/vpc"].id, EnableDnsHostnames={"Value": False})
        assert diffs(ctx, layer, full) == {"network/vpc": ["enableDnsHostnames: False -> True"]}
        repair(ctx, layer, full, "network/vpc")
        assert diffs(ctx, layer, full) == {}

    def test_a_removed_and_a_changed_tag(
        self, ctx: KindContext, ec2: Any, layer: NetworkLayer, full: list[Desired], built: dict[str, Observed]
    ) -> None:
        vpc = built["network/vpc"].id
        ec2.delete_tags(Resources=[vpc], Tags=[{"Key": "Environment"}])
        ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "renamed"},
                                               {"Key": "cutlass.tech/stale", "Value": "x"},
                                               {"Key": "Owner", "Value": "someone"}])  # fmt: skip
        assert diffs(ctx, layer, full) == {
            "network/vpc": ["tags.Environment: None -> 'dev'", "tags.Name: 'renamed' -> 'cutlass-tech-vpc-dev-london'"]
        }
        after = repair(ctx, layer, full, "network/vpc")
        assert diffs(ctx, layer, full) == {}
        # Stale managed tags go; tags someone else added stay.
        tags = {t["Key"]: t["Value"] for t in ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Tags"]}
        assert "cutlass.tech/stale" not in tags and tags["Owner"] == "someone"
        assert after.tags == tags

    def test_subnet_public_ip_mapping(
        self, ctx: KindContext, ec2: Any, layer: NetworkLayer, full: list[Desired], built: dict[str, Observed]
    ) -> None:
        ec2.modify_subnet_attribute(SubnetId=built["network/public-subnet/b"].id, MapPublicIpOnLaunch={"Value": False})
        assert diffs(ctx, layer, full) == {"network/public-subnet/b": ["mapPublicIpOnLaunch: False -> True"]}
        repair(ctx, layer, full, "network/public-subnet/b")
        assert diffs(ctx, layer, full) == {}

    def test_a_detached_internet_gateway(
        self, ctx: KindContext, ec2: Any, layer: NetworkLayer, full: list[Desired], built: dict[str, Observed]
    ) -> None:
        vpc, igw = built["network/vpc"].id, built["network/internet-gateway"].id
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        assert diffs(ctx, layer, full) == {"network/internet-gateway": [f"vpcId: None -> '{vpc}'"]}
        repair(ctx, layer, full, "network/internet-gateway")
        assert diffs(ctx, layer, full) == {}

    def test_a_gateway_created_but_never_attached_before_a_crash(
        self, ctx: KindContext, ec2: Any, workspace: Workspace, layer: NetworkLayer
    ) -> None:
        seed = layer.desired(region_inputs(workspace))
        igw = next(d for d in seed if d.key == "network/internet-gateway")
        tags = [{"Key": k, "Value": v} for k, v in igw.tags.items()]
        ec2.create_internet_gateway(TagSpecifications=[{"ResourceType": "internet-gateway", "Tags": tags}])
        observed = converge(ctx, layer, seed)
        assert diffs(ctx, layer, seed) == {}
        gateways = ec2.describe_internet_gateways()["InternetGateways"]
        assert [g["InternetGatewayId"] for g in gateways] == [observed["network/internet-gateway"].id]

    def test_a_deleted_default_route_and_a_lost_association(
        self, ctx: KindContext, ec2: Any, layer: NetworkLayer, full: list[Desired], built: dict[str, Observed]
    ) -> None:
        table = built["network/private-route-table/a"]
        ec2.delete_route(RouteTableId=table.id, DestinationCidrBlock="0.0.0.0/0")
        ec2.disassociate_route_table(AssociationId=table.private["associations"][built["network/private-subnet/a"].id])
        assert list(diffs(ctx, layer, full)) == ["network/private-route-table/a"]
        repair(ctx, layer, full, "network/private-route-table/a")
        assert diffs(ctx, layer, full) == {}

    def test_a_redirected_route_and_an_extra_route_and_association(
        self, ctx: KindContext, ec2: Any, layer: NetworkLayer, full: list[Desired], built: dict[str, Observed]
    ) -> None:
        table = built["network/private-route-table/b"].id
        ec2.replace_route(
            RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=built["network/nat-gateway/a"].id
        )
        ec2.create_route(
            RouteTableId=table, DestinationCidrBlock="192.168.0.0/16", GatewayId=built["network/internet-gateway"].id
        )
        spare = ec2.create_subnet(VpcId=built["network/vpc"].id, CidrBlock="10.0.9.0/24")["Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=spare)
        (diff,) = (diffs(ctx, layer, full)["network/private-route-table/b"],)
        assert [line.split(":")[0] for line in diff] == ["routes", "subnetIds"]
        repair(ctx, layer, full, "network/private-route-table/b")
        assert diffs(ctx, layer, full) == {}
        routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
        assert {r.get("DestinationCidrBlock") for r in routes} == {"10.0.0.0/16", "0.0.0.0/0", None}

    def test_security_group_rules(
        self, ctx: KindContext, ec2: Any, layer: NetworkLayer, full: list[Desired], built: dict[str, Observed]
    ) -> None:
        group = built["network/lambda-security-group"].id
        ec2.revoke_security_group_egress(
            GroupId=group, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        )
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        )
        assert diffs(ctx, layer, full) == {
            "network/lambda-security-group": [
                "egress: [] -> [{'protocol': '-1', 'cidrIpv4': '0.0.0.0/0'}]",
                "ingress: [{'protocol': 'tcp', 'fromPort': 22, 'toPort': 22, 'cidrIpv4': '0.0.0.0/0'}] -> []",
            ]
        }
        repair(ctx, layer, full, "network/lambda-security-group")
        assert diffs(ctx, layer, full) == {}

    def test_the_endpoint_group_admits_https_from_the_lambda_group_only(
        self, ec2: Any, built: dict[str, Observed]
    ) -> None:
        group = ec2.describe_security_groups(GroupIds=[built["network/endpoint-security-group"].id])["SecurityGroups"][
            0
        ]
        assert group["IpPermissionsEgress"] == []
        (rule,) = group["IpPermissions"]
        assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 443, 443)
        assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [built["network/lambda-security-group"].id]

    def test_gateway_endpoint_route_tables(
        self, ctx: KindContext, ec2: Any, layer: NetworkLayer, full: list[Desired], built: dict[str, Observed]
    ) -> None:
        endpoint, table = built["network/vpc-endpoint/dynamodb"].id, built["network/private-route-table/b"].id
        ec2.modify_vpc_endpoint(VpcEndpointId=endpoint, RemoveRouteTableIds=[table])
        assert list(diffs(ctx, layer, full)) == ["network/vpc-endpoint/dynamodb"]
        repair(ctx, layer, full, "network/vpc-endpoint/dynamodb")
        assert diffs(ctx, layer, full) == {}

    def test_interface_endpoint_subnets(
        self, ctx: KindContext, ec2: Any, layer: NetworkLayer, full: list[Desired], built: dict[str, Observed]
    ) -> None:
        endpoint = built["network/vpc-endpoint/sqs"].id
        a, b = built["network/private-subnet/a"].id, built["network/private-subnet/b"].id
        ec2.modify_vpc_endpoint(VpcEndpointId=endpoint, RemoveSubnetIds=[a])
        assert diffs(ctx, layer, full) == {"network/vpc-endpoint/sqs": [f"subnetIds: [{b!r}] -> [{a!r}, {b!r}]"]}
        repair(ctx, layer, full, "network/vpc-endpoint/sqs")
        assert diffs(ctx, layer, full) == {}

    def test_log_group_retention_and_tags(
        self,
        ctx: KindContext,
        clients: AwsClients,
        layer: NetworkLayer,
        full: list[Desired],
        built: dict[str, Observed],
    ) -> None:
        logs = clients.client("logs")
        group = built["network/flow-logs/log-group"]
        logs.put_retention_policy(logGroupName=group.id, retentionInDays=90)
        logs.untag_resource(resourceArn=group.outputs["arn"], tagKeys=["Region"])
        assert diffs(ctx, layer, full) == {
            "network/flow-logs/log-group": ["retentionInDays: 90 -> 7", "tags.Region: None -> 'london'"]
        }
        repair(ctx, layer, full, "network/flow-logs/log-group")
        assert diffs(ctx, layer, full) == {}

    @pytest.mark.parametrize(
        ("everything_else", "drifted"),
        [(True, ["assumeRolePolicyDocument", "inlinePolicies", "tags.Workspace"]), (False, ["inlinePolicies"])],
        ids=["trust-policies-and-tags", "an-added-policy-alone"],
    )
    def test_role_trust_inline_policy_and_tags(
        self,
        ctx: KindContext,
        clients: AwsClients,
        layer: NetworkLayer,
        full: list[Desired],
        built: dict[str, Observed],
        *,
        everything_else: bool,
        drifted: list[str],
    ) -> None:
        iam = clients.client("iam")
        role = built["network/flow-logs/role"].id
        # An inline policy added by hand is drift on its own: observe reads every one.
        everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_role_policy(RoleName=role, PolicyName="extra", PolicyDocument=json.dumps(everything))
        if everything_else:
            lambda_trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
            iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(lambda_trust))
            iam.delete_role_policy(RoleName=role, PolicyName="flow-logs-delivery")
            iam.untag_role(RoleName=role, TagKeys=["Workspace"])
        diff = diffs(ctx, layer, full)["network/flow-logs/role"]
        assert [line.split(":")[0] for line in diff] == drifted
        repair(ctx, layer, full, "network/flow-logs/role")
        assert diffs(ctx, layer, full) == {}
        assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["flow-logs-delivery"]

    def test_flow_log_traffic_type_recreates_the_flow_log(
        self, ctx: KindContext, ec2: Any, workspace: Workspace, layer: NetworkLayer, built: dict[str, Observed]
    ) -> None:
        rejects = layer.desired(
            region_inputs(workspace, {**FULL, "flowLogs": {"enabled": True, "trafficType": "REJECT"}})
        )
        assert diffs(ctx, layer, rejects) == {"network/flow-log": ["trafficType: 'ALL' -> 'REJECT'"]}
        after = repair(ctx, layer, rejects, "network/flow-log")
        assert after.id != built["network/flow-log"].id
        assert diffs(ctx, layer, rejects) == {}
        assert [f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"]] == [after.id]


class TestKindsOneByOne:
    def test_a_vpc_is_created_found_deleted_and_deleted_again(
        self, ctx: KindContext, layer: NetworkLayer, workspace: Workspace
    ) -> None:
        vpc = next(d for d in layer.desired(region_inputs(workspace)) if d.key == "network/vpc")
        kind = kinds_by_name(layer)["ec2.vpc"]
        created = kind.create(ctx, vpc)
        (found,) = kind.observe_many(ctx, [vpc])
        assert (found.key, found.id) == (vpc.key, created.id)
        assert found.properties == created.properties == dict(vpc.properties)
        assert found.tags == created.tags == dict(vpc.tags)
        assert kind.compare(vpc, found) == []
        kind.delete(ctx, found)
        assert kind.observe_many(ctx, [vpc]) == []
        kind.delete(ctx, found)

    def test_a_tagged_vpc_with_another_key_is_an_orphan(
        self, ctx: KindContext, layer: NetworkLayer, workspace: Workspace
    ) -> None:
        vpc = next(d for d in layer.desired(region_inputs(workspace)) if d.key == "network/vpc")
        old = Desired("network/old-vpc", VpcProps(cidr_block="10.1.0.0/16"), "old",
                      workspace.tags("network", "network/old-vpc", "old"))  # fmt: skip
        kind = kinds_by_name(layer)["ec2.vpc"]
        kind.create(ctx, vpc)
        kind.create(ctx, old)
        found = {o.key: o for o in kind.observe_many(ctx, [vpc])}
        assert set(found) == {"network/vpc", "network/old-vpc"}
        # Orphans are only deleted, so observe spares the attribute reads.
        assert found["network/old-vpc"].properties == {"cidrBlock": "10.1.0.0/16"}

    def test_a_nat_gateway_and_its_address_delete_in_order(
        self, ctx: KindContext, layer: NetworkLayer, built: dict[str, Observed]
    ) -> None:
        kinds = kinds_by_name(layer)
        nat, eip = built["network/nat-gateway/b"], built["network/nat-eip/b"]
        assert nat.properties["allocationId"] == eip.id
        assert nat.outputs["publicIp"] == eip.outputs["publicIp"]
        kinds["ec2.nat_gateway"].delete(ctx, nat)
        kinds["ec2.eip"].delete(ctx, eip)
        remaining = {o.key for k in ("ec2.nat_gateway", "ec2.eip") for o in kinds[k].observe_many(ctx, [])}
        assert remaining == {"network/nat-gateway/a", "network/nat-eip/a"}
        kinds["ec2.nat_gateway"].delete(ctx, nat)
        kinds["ec2.eip"].delete(ctx, eip)

    def test_a_log_group_that_exists_untagged_is_adopted(
        self, ctx: KindContext, clients: AwsClients, layer: NetworkLayer, full: list[Desired]
    ) -> None:
        group = next(d for d in full if d.key == "network/flow-logs/log-group")
        clients.client("logs").create_log_group(logGroupName=group.name)
        kind = kinds_by_name(layer)["logs.log_group"]
        assert kind.observe_many(ctx, [group]) == []
        kind.create(ctx, group)
        (found,) = kind.observe_many(ctx, [group])
        assert kind.compare(group, found) == []


class TestErrors:
    @pytest.mark.parametrize(
        ("code", "status", "outcome", "reason"),
        [
            ("RequestLimitExceeded", 503, RetryableError, "AwsThrottled"),
            ("Throttling", 400, RetryableError, "AwsThrottled"),
            ("InternalError", 500, RetryableError, "AwsUnavailable"),
            ("DependencyViolation", 400, RetryableError, "DependencyNotReady"),
            ("InvalidVpcID.NotFound", 400, RetryableError, "NotFoundYet"),
            ("NoSuchEntity", 404, RetryableError, "NotFoundYet"),
            ("UnauthorizedOperation", 403, TerminalError, "AccessDenied"),
            ("VpcLimitExceeded", 400, TerminalError, "QuotaExceeded"),
            ("AddressLimitExceeded", 400, TerminalError, "QuotaExceeded"),
            ("InvalidParameterValue", 400, TerminalError, "InvalidRequest"),
            ("InvalidServiceName", 400, TerminalError, "InvalidRequest"),
        ],
    )
    def test_aws_codes_are_classified(self, code: str, status: int, outcome: type, reason: str) -> None:
        response: Any = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
        error = classify(ClientError(response, "CreateVpc"), "create ec2.vpc cutlass-tech-vpc-dev-london")
        assert isinstance(error, outcome)
        assert error.reason == reason
        assert error.message.startswith(f"create ec2.vpc cutlass-tech-vpc-dev-london: CreateVpc failed with {code}: m")

    def test_a_subnet_overlapping_another_is_terminal_and_names_the_resource(
        self,
        ctx: KindContext,
        workspace: Workspace,
        layer: NetworkLayer,
        full: list[Desired],
        built: dict[str, Observed],
    ) -> None:
        subnet = next(d for d in full if d.key == "network/public-subnet/a")
        assert isinstance(subnet.props, SubnetProps)
        props = replace(subnet.props, vpc_id=built["network/vpc"].id)
        clash = Desired("network/clash", props, "clash", workspace.tags("network", "network/clash", "clash"))
        with pytest.raises(TerminalError) as caught:
            kinds_by_name(layer)["ec2.subnet"].create(ctx, clash)
        assert "create ec2.subnet clash" in caught.value.message
        assert "InvalidSubnet.Conflict" in caught.value.message

    def test_deleting_a_vpc_with_dependants_is_retryable(
        self, ctx: KindContext, layer: NetworkLayer, built: dict[str, Observed]
    ) -> None:
        with pytest.raises(RetryableError) as caught:
            kinds_by_name(layer)["ec2.vpc"].delete(ctx, built["network/vpc"])
        assert caught.value.reason == "DependencyNotReady"
        assert "cutlass-tech-vpc-dev-london" in caught.value.message
