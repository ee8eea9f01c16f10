"""One region's reconcile end to end: `run_region` (as the operator and the CLI call it), the
engine and the network layer against the moto server over HTTP.

Every test gets a fresh account (moto isolates accounts), so each starts from an empty region.
What a run did to AWS is read from the `CallLog` it was given: botocore's own events count
every call, so "writes nothing" means no mutating request left the process.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from cutlass_operator.api.environment import CutlassEnvironment
from cutlass_operator.api.region import CutlassRegion
from cutlass_operator.aws.calls import CallLog, is_read
from cutlass_operator.aws.session import AwsClients
from cutlass_operator.engine.arns import role_path
from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.engine.plan import Action
from cutlass_operator.engine.resource import Desired, KindContext
from cutlass_operator.layers.network import FLOW_LOGS_PREFIX, NetworkLayer
from cutlass_operator.workflows.environment import run_environment
from cutlass_operator.workflows.layers import kinds_of
from cutlass_operator.workflows.region import region_inputs, run_region
from cutlass_operator.workflows.report import Mode, Report

pytestmark = pytest.mark.integration

AWS_REGION = "eu-west-2"
WORKSPACE = "dev-london"
# The seed's dev-london workspace (vars/dev-london.tfvars).
SEED_NETWORK: dict[str, Any] = {
    "vpcCidr": "10.0.0.0/16",
    "publicSubnetCidrs": ["10.0.1.0/24", "10.0.2.0/24"],
    "privateSubnetCidrs": ["10.0.3.0/24", "10.0.4.0/24"],
}
FLOW_LOGS: dict[str, Any] = {"flowLogs": {"enabled": True}}
# moto puts static keys it has never issued itself in its default account.
MOTO_DEFAULT_ACCOUNT = "123456789012"
# A steady seed region costs one STS call (AssumeRole, whose answer names the caller), one
# describe per kind (eleven) and the VPC's two DNS attributes: fourteen reads, measured.
STEADY_SEED_READS = 14
# The call that creates each kind of resource: counting them tells whether anything was created twice.
CREATE_CALLS = {
    "ec2.vpc": "ec2:CreateVpc",
    "ec2.subnet": "ec2:CreateSubnet",
    "ec2.internet_gateway": "ec2:CreateInternetGateway",
    "ec2.eip": "ec2:AllocateAddress",
    "ec2.nat_gateway": "ec2:CreateNatGateway",
    "ec2.route_table": "ec2:CreateRouteTable",
    "ec2.security_group": "ec2:CreateSecurityGroup",
    "ec2.vpc_endpoint": "ec2:CreateVpcEndpoint",
    "logs.log_group": "logs:CreateLogGroup",
    "iam.role": "iam:CreateRole",
    "ec2.flow_log": "ec2:CreateFlowLogs",
}


def environment(account_id: str, credentials: dict[str, Any]) -> CutlassEnvironment:
    return CutlassEnvironment.model_validate(
        {
            "metadata": {"name": "dev", "namespace": "cutlass-dev"},
            "spec": {
                "accountId": account_id,
                "tier": "dev",
                "credentials": credentials,
                "notifications": {"senderEmail": "alerts@example.com"},
            },
        }
    )


def region(**network: Any) -> CutlassRegion:
    return CutlassRegion.model_validate(
        {
            "metadata": {"name": WORKSPACE, "namespace": "cutlass-dev"},
            "spec": {
                "environmentRef": {"name": "dev"},
                "region": "london",
                "awsRegion": AWS_REGION,
                "network": {**SEED_NETWORK, **network},
            },
        }
    )


HOLDER = "region-workflow-test"


@pytest.fixture
def env(account_id: str, role_arn: str) -> CutlassEnvironment:
    """The environment, bootstrapped: its lease table exists, as the operator ensures first."""
    built = environment(account_id, {"source": "AssumeRole", "roleArn": role_arn})
    bootstrap = run_environment(built, mode=Mode.APPLY, holder=HOLDER)
    assert bootstrap.layers and bootstrap.layers[0].error is None, bootstrap.render()
    return built


@pytest.fixture
def seed() -> CutlassRegion:
    return region()


@pytest.fixture
def ec2(clients: AwsClients) -> Any:
    """EC2 in the test's account for the test's own checks; its calls go to the fixture's CallLog."""
    return clients.client("ec2")


def run(
    environment: CutlassEnvironment,
    cregion: CutlassRegion,
    mode: Mode = Mode.APPLY,
    calls: CallLog | None = None,
    secret: dict[str, str] | None = None,
) -> tuple[Report, CallLog]:
    calls = calls if calls is not None else CallLog()
    # The network layer alone: these tests are about it (the data layer has its own tests).
    report = run_region(
        environment, cregion, mode=mode, secret=secret, calls=calls, holder=HOLDER, layers=(NetworkLayer(),)
    )
    return report, calls


def applied(environment: CutlassEnvironment, cregion: CutlassRegion) -> Report:
    report, _ = run(environment, cregion)
    assert report.ok, report.render()
    return report


def pending(report: Report) -> dict[tuple[str, str], list[str]]:
    """(action, key) -> the changed fields, for every change the report's plans hold."""
    return {
        (str(change.action), change.key): [d.path for d in change.diff]
        for layer in report.layers
        for change in layer.plan.pending
    }


def desired(environment: CutlassEnvironment, cregion: CutlassRegion) -> list[Desired]:
    return NetworkLayer().desired(region_inputs(environment, cregion))


def observed_keys(clients: AwsClients, environment: CutlassEnvironment, cregion: CutlassRegion) -> Counter[str]:
    """How many resources in AWS claim each key, asking every kind of the layer for its resources."""
    inputs = region_inputs(environment, cregion)
    ctx = KindContext(clients, inputs.workspace.account_id, AWS_REGION, inputs.workspace.selector())
    wanted = desired(environment, cregion)
    found: Counter[str] = Counter()
    for kind in kinds_of(NetworkLayer(), inputs).values():
        found.update(o.key for o in kind.observe_many(ctx, [d for d in wanted if d.kind == kind.kind]))
    return found


def creates(calls: Counter[str]) -> Counter[str]:
    return Counter({op: n for op, n in calls.items() if op in CREATE_CALLS.values()})


def one_create_each(wanted: list[Desired]) -> Counter[str]:
    return Counter(CREATE_CALLS[d.kind] for d in wanted)


def left_in_account(clients: AwsClients) -> dict[str, list[str]]:
    """What the region and the account hold beyond moto's default VPC and its parts."""
    ec2, logs, iam = clients.client("ec2"), clients.client("logs"), clients.client("iam")
    default_vpcs = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v.get("IsDefault")}

    def outside_default(items: list[dict[str, Any]], id_field: str) -> list[str]:
        return sorted(i[id_field] for i in items if i.get("VpcId") not in default_vpcs)

    return {
        "vpcs": outside_default(ec2.describe_vpcs()["Vpcs"], "VpcId"),
        "subnets": outside_default(ec2.describe_subnets()["Subnets"], "SubnetId"),
        "internet gateways": sorted(
            g["InternetGatewayId"]
            for g in ec2.describe_internet_gateways()["InternetGateways"]
            if not {a["VpcId"] for a in g.get("Attachments", [])} & default_vpcs
        ),
        "nat gateways": sorted(
            n["NatGatewayId"] for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] != "deleted"
        ),
        "elastic ips": sorted(a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]),
        "route tables": outside_default(ec2.describe_route_tables()["RouteTables"], "RouteTableId"),
        "security groups": sorted(
            g["GroupId"]
            for g in ec2.describe_security_groups()["SecurityGroups"]
            if g["VpcId"] not in default_vpcs or g["GroupName"] != "default"
        ),
        "vpc endpoints": sorted(
            e["VpcEndpointId"]
            for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
            if str(e["State"]).lower() != "deleted"
        ),
        "flow logs": sorted(f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"]),
        "log groups": sorted(
            g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=FLOW_LOGS_PREFIX)["logGroups"]
        ),
        "roles": sorted(r["RoleName"] for r in iam.list_roles(PathPrefix="/cutlass-tech/")["Roles"]),
    }


LEFT_KINDS = (
    "vpcs",
    "subnets",
    "internet gateways",
    "nat gateways",
    "elastic ips",
    "route tables",
    "security groups",
    "vpc endpoints",
    "flow logs",
    "log groups",
    "roles",
)
NOTHING_LEFT: dict[str, list[str]] = {name: [] for name in LEFT_KINDS}


class TestFirstApply:
    def test_the_first_apply_creates_the_seed_network_and_its_outputs_name_real_resources(
        self, env: CutlassEnvironment, seed: CutlassRegion, ec2: Any
    ) -> None:
        report, calls = run(env, seed)

        assert report.ok, report.render()
        (layer,) = report.layers
        assert (layer.plan.count(Action.CREATE), len(layer.plan.pending)) == (13, 13)
        print(f"first apply: {calls.writes} writes, {calls.reads} reads")
        assert creates(calls.calls) == one_create_each(desired(env, seed))

        outputs = layer.outputs
        (vpc,) = ec2.describe_vpcs(VpcIds=[outputs["vpcId"]])["Vpcs"]
        assert vpc["CidrBlock"] == "10.0.0.0/16"
        tags = {t["Key"]: t["Value"] for t in vpc["Tags"]}
        assert (tags["Name"], tags["Workspace"], tags["Account"]) == (
            "cutlass-tech-vpc-dev-london",
            WORKSPACE,
            env.spec.account_id,
        )
        for ids, cidrs in (
            (outputs["publicSubnetIds"], SEED_NETWORK["publicSubnetCidrs"]),
            (outputs["privateSubnetIds"], SEED_NETWORK["privateSubnetCidrs"]),
        ):
            subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(SubnetIds=ids)["Subnets"]}
            assert [subnets[i]["CidrBlock"] for i in ids] == cidrs
            assert [subnets[i]["AvailabilityZone"] for i in ids] == ["eu-west-2a", "eu-west-2b"]
            assert {s["VpcId"] for s in subnets.values()} == {outputs["vpcId"]}
        (nat,) = ec2.describe_nat_gateways(NatGatewayIds=outputs["natGatewayIds"])["NatGateways"]
        assert (nat["State"], nat["SubnetId"]) == ("available", outputs["publicSubnetIds"][0])
        (group,) = ec2.describe_security_groups(GroupIds=[outputs["lambdaSecurityGroupId"]])["SecurityGroups"]
        assert group["VpcId"] == outputs["vpcId"]
        (endpoint,) = ec2.describe_vpc_endpoints(VpcEndpointIds=[outputs["vpcEndpointIds"]["dynamodb"]])["VpcEndpoints"]
        assert endpoint["ServiceName"] == "com.amazonaws.eu-west-2.dynamodb"

    def test_a_second_apply_without_a_spec_change_plans_nothing_and_writes_nothing(
        self, env: CutlassEnvironment, seed: CutlassRegion
    ) -> None:
        first = applied(env, seed)

        report, calls = run(env, seed)

        assert report.ok, report.render()
        assert pending(report) == {}
        assert report.plan_summary().changes == []
        assert calls.writes == 0, calls.mutating()
        print(f"no-op apply: {calls.writes} writes, {calls.reads} reads: {dict(sorted(calls.calls.items()))}")
        assert calls.reads <= STEADY_SEED_READS, dict(calls.calls)
        assert report.layers[0].outputs == first.layers[0].outputs


class TestDrift:
    def test_a_deleted_route_and_a_changed_tag_are_planned_by_field_then_repaired(
        self, env: CutlassEnvironment, seed: CutlassRegion, ec2: Any
    ) -> None:
        outputs = applied(env, seed).layers[0].outputs
        (table,) = ec2.describe_route_tables(
            Filters=[{"Name": "tag:cutlass.tech/key", "Values": ["network/private-route-table/a"]}]
        )["RouteTables"]
        ec2.delete_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
        ec2.create_tags(Resources=[outputs["vpcId"]], Tags=[{"Key": "Name", "Value": "renamed"}])

        plan, plan_calls = run(env, seed, Mode.PLAN)

        assert plan.ok, plan.render()
        assert pending(plan) == {
            ("update", "network/vpc"): ["tags.Name"],
            ("update", "network/private-route-table/a"): ["routes"],
        }
        assert "tags.Name: 'renamed' -> 'cutlass-tech-vpc-dev-london'" in plan.render()
        assert plan_calls.writes == 0, plan_calls.mutating()
        assert plan.layers[0].result is None

        repair, repair_calls = run(env, seed)

        assert repair.ok, repair.render()
        # The repair itself, inside the workspace lease taken and released around it.
        assert repair_calls.mutating() == {
            "ec2:CreateRoute": 1,
            "ec2:CreateTags": 1,
            "dynamodb:PutItem": 1,
            "dynamodb:UpdateItem": 1,
        }
        routes = ec2.describe_route_tables(RouteTableIds=[table["RouteTableId"]])["RouteTables"][0]["Routes"]
        default_route = [r.get("NatGatewayId") for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        assert default_route == outputs["natGatewayIds"]
        tags = {t["Key"]: t["Value"] for t in ec2.describe_vpcs(VpcIds=[outputs["vpcId"]])["Vpcs"][0]["Tags"]}
        assert tags["Name"] == "cutlass-tech-vpc-dev-london"

        after, after_calls = run(env, seed)

        assert (pending(after), after_calls.writes) == ({}, 0)


class TestDestroy:
    def test_destroy_leaves_nothing_of_the_workspace_and_a_second_destroy_is_a_no_op(
        self, env: CutlassEnvironment, clients: AwsClients
    ) -> None:
        # Flow logs on, so the role and the log group (outside EC2) are destroyed too.
        cregion = region(**FLOW_LOGS)
        built = applied(env, cregion)
        assert left_in_account(clients) != NOTHING_LEFT
        assert built.layers[0].outputs["flowLogId"].startswith("fl-")

        report, calls = run(env, cregion, Mode.DESTROY)

        assert report.ok, report.render()
        assert report.plan_summary().delete == 16
        assert left_in_account(clients) == NOTHING_LEFT
        assert observed_keys(clients, env, cregion) == Counter()
        assert calls.writes > 0

        again, again_calls = run(env, cregion, Mode.DESTROY)

        assert again.ok, again.render()
        assert (pending(again), again_calls.writes) == ({}, 0)


class Crash(BaseException):
    """The process dying mid-reconcile: a BaseException, so no handler in the product absorbs it."""


@dataclass
class CrashingCallLog(CallLog):
    """Kills the reconcile right after its `crash_after`-th successful mutating call returns.

    The write has happened in AWS, but the operator never learns its result (a new resource's
    id, say). From then on every call fails before it is sent, as if the process were gone.
    Writes go out one at a time (reads stay concurrent): with the engine's concurrent branches,
    a write in flight on another thread would otherwise land too, and the crash points would
    skip past it.
    """

    crash_after: int = 1
    crashed_after: str | None = None
    _writes_done: int = 0
    _state: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _one_write: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_name

        def before(model: Any, **_: Any) -> None:
            if self.crashed_after is not None:
                raise Crash(f"{service}:{model.name} after the crash")
            if not is_read(model.name):
                if not self._one_write.acquire(timeout=60):
                    raise RuntimeError(f"{service}:{model.name}: the previous write never returned")
                if self.crashed_after is not None:  # crashed while this thread waited
                    self._one_write.release()
                    raise Crash(f"{service}:{model.name} after the crash")

        def after(model: Any, http_response: Any, **_: Any) -> None:
            if is_read(model.name):
                return
            with self._state:
                # A failed write changed nothing: crashing after it would test nothing new. The
                # lease (DynamoDB) is the workspace's bookkeeping, not a resource: a crash after
                # taking it is retaken by the same holder on the rerun (the lease tests cover it).
                if http_response.status_code < 300 and service != "dynamodb":
                    self._writes_done += 1
                    if self._writes_done == self.crash_after:
                        self.crashed_after = f"{service}:{model.name}"
                crash = self.crashed_after is not None
            self._one_write.release()
            if crash:
                raise Crash(f"crashed right after {self.crashed_after}")

        def after_error(model: Any, **_: Any) -> None:
            if not is_read(model.name):
                self._one_write.release()  # the request never got an answer (connection error)

        # First, so that a call refused after the crash is not counted as made.
        client.meta.events.register_first("before-call", before)
        super().attach(client)
        client.meta.events.register("after-call", after)
        client.meta.events.register("after-call-error", after_error)


def crash_at_every_write(reconcile_once: Callable[[CallLog], Report], bound: int = 60) -> list[str]:
    """Rerun, killed right after each run's first write, until a run completes; the crash points.

    The run that completes is the final apply: it must find nothing to change and write nothing.
    """
    crashed: list[str] = []
    for _ in range(bound):
        calls = CrashingCallLog(crash_after=1)
        try:
            report = reconcile_once(calls)
        except Crash:
            assert calls.crashed_after is not None
            crashed.append(calls.crashed_after)
            continue
        assert report.ok, f"after crashes at {crashed}: {report.render()}"
        assert (pending(report), calls.writes) == ({}, 0), calls.mutating()
        return crashed
    raise AssertionError(f"no clean run within {bound} runs; crashed after {crashed}")


class TestCrashSafety:
    def test_a_reconcile_killed_after_any_write_and_rerun_never_duplicates_or_orphans(
        self, env: CutlassEnvironment, clients: AwsClients, ec2: Any
    ) -> None:
        # The seed with flow logs: the seed's kinds plus the log group, the role and the flow log.
        cregion = region(**FLOW_LOGS)

        crashes = crash_at_every_write(lambda calls: run(env, cregion, calls=calls)[0])

        print(f"{len(crashes)} crash points: {Counter(crashes)}")
        # Each run crashed right after its first write, so every write was a crash point once;
        # and each resource was created once.
        assert creates(Counter(crashes)) == one_create_each(desired(env, cregion))
        assert observed_keys(clients, env, cregion) == Counter({d.key: 1 for d in desired(env, cregion)})
        assert len([v for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]]) == 1
        live_nats = [n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] != "deleted"]
        assert len(live_nats) == 1
        assert len(ec2.describe_addresses()["Addresses"]) == 1
        assert len(clients.client("iam").list_roles(PathPrefix=role_path(WORKSPACE, "network"))["Roles"]) == 1
        assert len(ec2.describe_flow_logs()["FlowLogs"]) == 1


class TestAccountGuard:
    def test_credentials_acting_in_another_account_stop_the_reconcile_before_any_write(
        self, account_id: str, role_arn: str, seed: CutlassRegion
    ) -> None:
        wrong = environment("111111111111", {"source": "AssumeRole", "roleArn": role_arn})

        report, calls = run(wrong, seed)

        error = report.first_error
        assert error is not None
        assert isinstance(error, TerminalError)
        assert error.reason == "AccountMismatch"
        assert account_id in error.message and "111111111111" in error.message
        assert report.layers == []
        assert calls.writes == 0, calls.mutating()
        assert dict(calls.calls) == {"sts:AssumeRole": 1}


SECRET_CREDENTIALS = {"source": "Secret", "secretRef": {"name": "aws"}}


class TestSecretCredentials:
    def test_static_keys_from_a_secret_are_verified_against_the_account_and_a_plan_runs(
        self, moto_endpoint: str, seed: CutlassRegion
    ) -> None:
        env = environment(MOTO_DEFAULT_ACCOUNT, SECRET_CREDENTIALS)
        secret = {"aws_access_key_id": "AKIASECRETTEST000001", "aws_secret_access_key": "from-the-secret"}

        report, calls = run(env, seed, Mode.PLAN, secret=secret)

        assert report.ok, report.render()
        assert report.caller_arn is not None and report.caller_arn.split(":")[4] == MOTO_DEFAULT_ACCOUNT
        # moto's default account is shared by the session, so the plan may find some of it built;
        # it must still account for every desired resource.
        assert {c.key for c in report.layers[0].plan.changes} >= {d.key for d in desired(env, seed)}
        assert calls.writes == 0, calls.mutating()
        assert "sts:AssumeRole" not in calls.calls

    def test_a_secret_without_the_secret_key_is_a_terminal_error_before_any_call(
        self, moto_endpoint: str, seed: CutlassRegion
    ) -> None:
        env = environment(MOTO_DEFAULT_ACCOUNT, SECRET_CREDENTIALS)

        report, calls = run(env, seed, Mode.PLAN, secret={"aws_access_key_id": "AKIASECRETTEST000001"})

        error = report.first_error
        assert isinstance(error, TerminalError)
        assert error.reason == "SecretIncomplete"
        assert "aws_secret_access_key" in error.message
        assert dict(calls.calls) == {}


class TestImmutableFields:
    def test_changing_the_vpc_cidr_of_a_built_region_is_terminal_and_writes_nothing(
        self, env: CutlassEnvironment, seed: CutlassRegion
    ) -> None:
        applied(env, seed)
        # Still holds every subnet, so only the VPC's own CIDR changes.
        narrower = region(vpcCidr="10.0.0.0/17")

        report, calls = run(env, narrower)

        error = report.first_error
        assert isinstance(error, TerminalError), report.render()
        assert error.reason == "ImmutableFieldChanged"
        assert "ec2.vpc cutlass-tech-vpc-dev-london" in error.message
        assert "cidrBlock: '10.0.0.0/16' -> '10.0.0.0/17'" in error.message
        assert calls.writes == 0, calls.mutating()
