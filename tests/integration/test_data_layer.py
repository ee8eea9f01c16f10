"""The data layer end to end: an environment (account bootstrap, global tables) and its regions
(network, KMS key) driven as `cutlass apply | destroy -f` drives them (`OfflineRun`, its passes and
destroy order) or through the workflows the operator's handlers call, against the moto server
with the emulator's global tables.

Each test works in its own account (moto isolates accounts). What a run did to AWS is read from
the `CallLog` it was given, so "writes nothing" means no mutating request left the process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cutlass_operator.api.environment import Credentials, CredentialsSource, CutlassEnvironment, EnvironmentStatus
from cutlass_operator.api.region import CutlassRegion
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.lease import RELEASED, Lease
from cutlass_operator.aws.session import AwsClients, environment_session
from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.identity import IDENTITY_TAGS, LEASE_TABLE, MANAGED_BY, RETAINED
from cutlass_operator.layers.artifacts import artifact_bucket_name
from cutlass_operator.layers.base import RegionRef
from cutlass_operator.layers.data import key_alias
from cutlass_operator.layers.tables import table_names
from cutlass_operator.offline import OfflineRun
from cutlass_operator.workflows.environment import (
    DnsStep,
    apply_environment_report,
    run_environment,
)
from cutlass_operator.workflows.manifests import ManifestSet
from cutlass_operator.workflows.region import run_region
from cutlass_operator.workflows.report import Mode, Report

pytestmark = pytest.mark.integration

LONDON, SYDNEY, FRANKFURT = "eu-west-2", "ap-southeast-2", "eu-central-1"
CREDITS, USAGE, ALERTS = table_names("dev")
TABLE_NAMES = (CREDITS, USAGE, ALERTS)
# The module's shared converged environment lives in an account outside conftest's range.
SHARED_ACCOUNT = "300000000001"
# A no-op resync's reads, measured (see test_a_no_op_resync_writes_nothing), with no slack: a new
# read is a decision to make, not noise. Environment (26): AssumeRole (which names the caller), each
# region's key by alias (2), the lease table (ListTables, its tags, DescribeTable,
# DescribeContinuousBackups, DescribeTimeToLive) and none left in Sydney (ListTables), the tables
# (ListTables, tags of the 4 tables in the cutlass-tech- family, 3 reads per application table,
# and the Sydney replica's tags). A
# region (71): STS (1) and its copy of the 3 tables; the network (13); the data layer's key (5)
# and artifact bucket (6); messaging's 2 queues (5), sender (2), 2 templates (3) and alarms (1);
# compute's 5 packages (1), log groups (6), roles (11), functions (12: list, tags, and per
# function its aliases and provisioned concurrency), event source mappings (1) and alarms (1);
# the API's (26) user pool, resource server, clients and hosted domain (12), REST API, stage,
# usage plans, keys and custom domains (9), the functions' invoke policies (3) and access logs (2).
ENVIRONMENT_NO_OP_READS = 26
REGION_NO_OP_READS = 97
# Prod without flow logs (enhanced security's default): the network is not what these tests are
# about, and the deletion policy and protection defaults come from the tier alone.
PROD = {"tier": "prod", "settings": {"enhancedSecurity": False}}


# -- manifests -------------------------------------------------------------------------------------


def environment(account_id: str, **spec: Any) -> CutlassEnvironment:
    return CutlassEnvironment.model_validate(
        {
            "metadata": {"name": "dev", "namespace": "cutlass-dev"},
            "spec": {
                "accountId": account_id,
                "tier": "dev",
                "credentials": {"source": "AssumeRole", "roleArn": f"arn:aws:iam::{account_id}:role/cutlass-operator"},
                "notifications": {"senderEmail": "alerts@example.com"},
                **spec,
            },
        }
    )


def region(name: str, aws_region: str, second_octet: int, **network: Any) -> CutlassRegion:
    n = second_octet
    return CutlassRegion.model_validate(
        {
            "metadata": {"name": f"dev-{name}", "namespace": "cutlass-dev"},
            "spec": {
                "environmentRef": {"name": "dev"},
                "region": name,
                "awsRegion": aws_region,
                "network": {
                    "vpcCidr": f"10.{n}.0.0/16",
                    "publicSubnetCidrs": [f"10.{n}.1.0/24", f"10.{n}.2.0/24"],
                    "privateSubnetCidrs": [f"10.{n}.3.0/24", f"10.{n}.4.0/24"],
                    **network,
                },
            },
        }
    )


def london(**network: Any) -> CutlassRegion:
    return region("london", LONDON, 0, **network)


def sydney() -> CutlassRegion:
    return region("sydney", SYDNEY, 1)


def frankfurt() -> CutlassRegion:
    return region("frankfurt", FRANKFURT, 2)


def refs(*regions: CutlassRegion) -> list[RegionRef]:
    return [RegionRef(r.spec.region, r.spec.aws_region) for r in regions]


# -- running ---------------------------------------------------------------------------------------


@dataclass
class RecordingRun(OfflineRun):
    """`OfflineRun`, keeping every pass's reports and statuses (the run keeps only the last)."""

    passes: list[dict[str, tuple[Report, dict[str, Any] | None]]] = field(default_factory=list)

    def _run_env(
        self,
        env: CutlassEnvironment,
        refs: list[RegionRef],
        with_bootstrap: bool = True,
        dns: DnsStep = DnsStep.INCLUDED,
    ) -> Report:
        report = super()._run_env(env, refs, with_bootstrap, dns)
        if dns == DnsStep.ALONE:
            return report  # part of the pass that ran the environment already
        self.passes.append({f"CutlassEnvironment/{env.name}": (report, None)})
        return report

    def _region_report(self, env: CutlassEnvironment, cregion: CutlassRegion, report: Report) -> Report:
        super()._region_report(env, cregion, report)
        name = f"CutlassRegion/{cregion.name}"
        self.passes[-1][name] = (report, self.statuses[name]["status"])
        return report


def offline(mode: Mode, env: CutlassEnvironment, *regions: CutlassRegion, ok: bool = True) -> RecordingRun:
    run = RecordingRun(ManifestSet(environments=[env], regions=list(regions)), mode, echo=lambda _: None)
    succeeded = run.run()
    if ok:
        assert succeeded, {name: _error(report) for name, report in run.reports.items()}
    return run


def _error(report: Report) -> str | None:
    error = report.first_error
    return None if error is None else f"{error.reason}: {error.message}"


def errors_by_key(report: Report) -> dict[str, tuple[str, str]]:
    """Every failed resource of a report: key -> (reason, message)."""
    return {
        key: (error.reason, error.message)
        for layer in report.layers
        if layer.result is not None
        for key, error in layer.result.errors.items()
    }


def status_of(run: OfflineRun, name: str) -> dict[str, Any]:
    status: dict[str, Any] = run.statuses[name]["status"]
    return status


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


def account_clients(account_id: str) -> AwsClients:
    """Another engine's view of the account: its own session and call log."""
    creds = Credentials(
        source=CredentialsSource.ASSUME_ROLE, role_arn=f"arn:aws:iam::{account_id}:role/cutlass-operator"
    )
    return AwsClients(environment_session(creds, None, LONDON), LONDON, CallLog())


# -- what the account holds -------------------------------------------------------------------------


@dataclass
class Account:
    """The test's own reads of one account (their calls never reach a run's CallLog)."""

    clients: AwsClients

    @property
    def account_id(self) -> str:
        return str(self.clients.client("sts").get_caller_identity()["Account"])

    def ddb(self, aws_region: str) -> Any:
        return self.clients.client("dynamodb", aws_region)

    def table(self, aws_region: str, name: str) -> dict[str, Any]:
        table: dict[str, Any] = self.ddb(aws_region).describe_table(TableName=name)["Table"]
        return table

    def tables(self, aws_region: str) -> list[str]:
        return sorted(self.ddb(aws_region).list_tables()["TableNames"])

    def table_tags(self, aws_region: str, name: str) -> dict[str, str]:
        arn = f"arn:aws:dynamodb:{aws_region}:{self.account_id}:table/{name}"
        tags = self.ddb(aws_region).list_tags_of_resource(ResourceArn=arn)["Tags"]
        return {t["Key"]: t["Value"] for t in tags}

    def key(self, aws_region: str, alias: str) -> dict[str, Any]:
        meta: dict[str, Any] = self.clients.client("kms", aws_region).describe_key(KeyId=alias)["KeyMetadata"]
        return meta

    def key_tags(self, aws_region: str, key_id: str) -> dict[str, str]:
        tags = self.clients.client("kms", aws_region).list_resource_tags(KeyId=key_id)["Tags"]
        return {t["TagKey"]: t["TagValue"] for t in tags}

    def our_aliases(self, aws_region: str) -> list[str]:
        aliases = self.clients.client("kms", aws_region).list_aliases()["Aliases"]
        return sorted(a["AliasName"] for a in aliases if a["AliasName"].startswith("alias/cutlass-tech-"))

    def our_buckets(self) -> list[str]:
        return sorted(b["Name"] for b in self.clients.client("s3").list_buckets()["Buckets"] if "cutlass" in b["Name"])

    def bucket_tags(self, bucket: str) -> dict[str, str]:
        tags = self.clients.client("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]
        return {t["Key"]: t["Value"] for t in tags}

    def managed(self, aws_region: str) -> list[str]:
        """What still carries `cutlass.tech/managed-by` in the region: the tagging API's answer,
        and the EC2 types it does not cover asked by tag key (moto's DescribeTags keeps the tags
        of deleted resources, so it cannot be used). Not counted: what AWS keeps visible after
        deletion, keys pending deletion (KMS refuses tag changes to them) and deleted NAT
        gateways and VPC endpoints."""
        tagging = self.clients.client("resourcegroupstaggingapi", aws_region)
        pages = tagging.get_paginator("get_resources").paginate(TagFilters=[{"Key": MANAGED_BY}])
        kms = self.clients.client("kms", aws_region)
        left = [
            m["ResourceARN"]
            for page in pages
            for m in page["ResourceTagMappingList"]
            if ":ec2:" not in m["ResourceARN"]  # asked below, where their state shows
            and not (
                ":kms:" in m["ResourceARN"]
                and kms.describe_key(KeyId=m["ResourceARN"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
            )
        ]
        ec2 = self.clients.client("ec2", aws_region)
        tagged = [{"Name": "tag-key", "Values": [MANAGED_BY]}]
        for operation, items, id_field in EC2_LISTINGS:
            for item in getattr(ec2, operation)(Filters=tagged)[items]:
                if str(item.get("State", "")).lower() not in ("deleted", "deleting"):
                    left.append(f"ec2:{item[id_field]}")
        return sorted(left)


# EC2 listings that take a tag-key filter: (operation, result list, id field).
EC2_LISTINGS = (
    ("describe_vpcs", "Vpcs", "VpcId"),
    ("describe_subnets", "Subnets", "SubnetId"),
    ("describe_security_groups", "SecurityGroups", "GroupId"),
    ("describe_route_tables", "RouteTables", "RouteTableId"),
    ("describe_internet_gateways", "InternetGateways", "InternetGatewayId"),
    ("describe_addresses", "Addresses", "AllocationId"),
    ("describe_nat_gateways", "NatGateways", "NatGatewayId"),
    ("describe_vpc_endpoints", "VpcEndpoints", "VpcEndpointId"),
    ("describe_flow_logs", "FlowLogs", "FlowLogId"),
)


def identity_tags_of(tags: dict[str, str]) -> list[str]:
    return sorted(set(tags) & set(IDENTITY_TAGS))


@pytest.fixture
def account(clients: AwsClients) -> Account:
    return Account(clients)


# -- a converged dev environment shared by the read-only tests -------------------------------------


@dataclass
class Converged:
    env: CutlassEnvironment
    regions: list[CutlassRegion]
    run: RecordingRun
    account: Account


@pytest.fixture(scope="module")
def converged(moto_endpoint: str) -> Iterator[Converged]:
    env = environment(SHARED_ACCOUNT)
    regions = [london(), sydney()]
    run = offline(Mode.APPLY, env, *regions)
    yield Converged(env, regions, run, Account(account_clients(SHARED_ACCOUNT)))


class TestConverge:
    def test_sydney_holds_a_replica_of_each_table_encrypted_with_its_own_key(self, converged: Converged) -> None:
        run, account = converged.run, converged.account
        sydney_key = status_of(run, "CutlassRegion/dev-sydney")["outputs"]["data"]["kmsKeyArn"]
        london_key = status_of(run, "CutlassRegion/dev-london")["outputs"]["data"]["kmsKeyArn"]
        assert sydney_key.startswith(f"arn:aws:kms:{SYDNEY}:") and london_key.startswith(f"arn:aws:kms:{LONDON}:")

        for name in TABLE_NAMES:
            replica = account.table(SYDNEY, name)
            assert replica["TableStatus"] == "ACTIVE"
            assert replica["SSEDescription"]["KMSMasterKeyArn"] == sydney_key
            assert [(r["RegionName"], r["ReplicaStatus"]) for r in replica["Replicas"]] == [(LONDON, "ACTIVE")]
            table = account.table(LONDON, name)
            assert table["SSEDescription"]["KMSMasterKeyArn"] == london_key
            (entry,) = table["Replicas"]
            assert (entry["RegionName"], entry["ReplicaStatus"], entry["KMSMasterKeyId"]) == (
                SYDNEY,
                "ACTIVE",
                sydney_key,
            )

    def test_an_item_written_in_london_reads_back_in_sydney(self, converged: Converged) -> None:
        item = {"pk": {"S": "ORG#acme"}, "sk": {"S": "BALANCE"}, "credits": {"N": "1000"}}
        converged.account.ddb(LONDON).put_item(TableName=CREDITS, Item=item)

        read = converged.account.ddb(SYDNEY).get_item(TableName=CREDITS, Key={k: item[k] for k in ("pk", "sk")})

        assert read["Item"] == item

    def test_the_environment_status_lists_each_table_with_its_replicas_active(self, converged: Converged) -> None:
        status = status_of(converged.run, "CutlassEnvironment/dev")

        assert status["phase"] == "Ready"
        assert {t["name"]: (t["region"], t["replicas"]) for t in status["tables"]} == {
            name: (LONDON, [{"region": SYDNEY, "status": "ACTIVE"}]) for name in TABLE_NAMES
        }
        assert status["replicaRegions"] == [SYDNEY, LONDON]
        assert condition(status, "TablesReady")["status"] == "True"

    def test_sydney_waited_for_its_replicas_before_its_data_layer_was_ready(self, converged: Converged) -> None:
        passes = converged.run.passes
        first, last = passes[0], passes[-1]

        # The first pass: the environment waits for the keys, so no table exists yet.
        env_report, _ = first["CutlassEnvironment/dev"]
        assert env_report.first_error is not None and env_report.first_error.reason == "WaitingForKeys"
        report, status = first["CutlassRegion/dev-sydney"]
        assert status is not None
        data = next(lr for lr in report.layers if lr.layer == "data")
        assert isinstance(data.error, RetryableError) and data.error.reason == "WaitingForReplica"
        assert all(name in data.error.message for name in TABLE_NAMES)
        ready = condition(status, "DataReady")
        assert (ready["status"], ready["reason"]) == ("False", "WaitingForReplica")
        assert status["phase"] == "WaitingForDependency"  # waiting, not Failed
        assert condition(status, "NetworkReady")["status"] == "True"
        # London, the primary, waits for the tables themselves.
        assert condition(first["CutlassRegion/dev-london"][1] or {}, "DataReady")["reason"] == "WaitingForTables"

        _, final = last["CutlassRegion/dev-sydney"]
        assert final is not None
        assert (condition(final, "DataReady")["status"], final["phase"]) == ("True", "Ready")
        assert len(passes) == 2

    def test_a_no_op_resync_writes_nothing(self, converged: Converged) -> None:
        env, regions = converged.env, converged.regions
        env_calls = CallLog()
        env_report = run_environment(env, regions=refs(*regions), mode=Mode.APPLY, calls=env_calls)
        region_calls = {r.spec.region: CallLog() for r in regions}
        region_reports = [run_region(env, r, mode=Mode.APPLY, calls=region_calls[r.spec.region]) for r in regions]

        for report in (env_report, *region_reports):
            assert report.ok, _error(report)
            assert all(lr.plan.empty for lr in report.layers), report.render()
        assert env_calls.mutating() == {}
        assert {name: log.mutating() for name, log in region_calls.items()} == {"london": {}, "sydney": {}}

        print(f"\nno-op resync, environment (bootstrap + tables): {env_calls.reads} reads")
        for op, n in sorted(env_calls.calls.items()):
            print(f"  {op}: {n}")
        for name, log in region_calls.items():
            print(f"no-op resync, region {name} (network, data, messaging, compute, api): {log.reads} reads")
            for op, n in sorted(log.calls.items()):
                print(f"  {op}: {n}")
        assert env_calls.reads <= ENVIRONMENT_NO_OP_READS
        for log in region_calls.values():
            assert log.reads <= REGION_NO_OP_READS


# -- a third region -----------------------------------------------------------------------------------


def test_adding_a_region_adds_a_replica_and_removing_it_removes_the_replica_before_the_region_goes(
    account_id: str, account: Account
) -> None:
    env = environment(account_id)
    offline(Mode.APPLY, env, london(), sydney())

    # As the operator sees a new CutlassRegion: the region makes its key and waits for its
    # replicas, the environment (told of the region) adds them, and the region is then ready.
    first = run_region(env, frankfurt(), mode=Mode.APPLY)
    assert first.first_error is not None and first.first_error.reason == "WaitingForReplica"
    grown = run_environment(env, regions=refs(london(), sydney(), frankfurt()), mode=Mode.APPLY)
    assert grown.ok, _error(grown)
    added = run_region(env, frankfurt(), mode=Mode.APPLY)
    assert added.ok, _error(added)

    frankfurt_key = next(lr for lr in added.layers if lr.layer == "data").outputs["kmsKeyArn"]
    for name in TABLE_NAMES:
        replicas = {r["RegionName"]: r for r in account.table(LONDON, name)["Replicas"]}
        assert sorted(replicas) == [SYDNEY, FRANKFURT]
        assert (replicas[FRANKFURT]["ReplicaStatus"], replicas[FRANKFURT]["KMSMasterKeyId"]) == (
            "ACTIVE",
            frankfurt_key,
        )
        assert account.table(FRANKFURT, name)["SSEDescription"]["KMSMasterKeyArn"] == frankfurt_key
    status = EnvironmentStatus()
    apply_environment_report(status, grown, 1, refs(london(), sydney(), frankfurt()))
    assert {t.name: [(r.region, r.status) for r in t.replicas] for t in status.tables} == {
        name: [(SYDNEY, "ACTIVE"), (FRANKFURT, "ACTIVE")] for name in TABLE_NAMES
    }

    # While the environment still replicates to Frankfurt, the region may not go: its key
    # encrypts the replicas. Nothing is written.
    early_calls = CallLog()
    early = run_region(env, frankfurt(), mode=Mode.DESTROY, calls=early_calls)
    assert early.first_error is not None and early.first_error.reason == "WaitingForReplicaRemoval"
    assert all(name in early.first_error.message for name in TABLE_NAMES)
    assert early_calls.mutating() == {}
    assert account.tables(FRANKFURT) == sorted(TABLE_NAMES)

    # The environment no longer lists Frankfurt (Delete policy): its replicas go.
    removed = run_environment(env, regions=refs(london(), sydney()), mode=Mode.APPLY)
    assert removed.ok, _error(removed)
    tables_layer = next(lr for lr in removed.layers if lr.layer == "tables")
    assert sorted(c.key for c in tables_layer.plan.pending) == ["tables/alerts", "tables/credits", "tables/usage"]
    for name in TABLE_NAMES:
        assert [r["RegionName"] for r in account.table(LONDON, name)["Replicas"]] == [SYDNEY]
    assert account.tables(FRANKFURT) == []

    gone = run_region(env, frankfurt(), mode=Mode.DESTROY)
    assert gone.ok, _error(gone)
    assert account.key(FRANKFURT, frankfurt_key)["KeyState"] == "PendingDeletion"
    assert account.our_aliases(FRANKFURT) == []
    # Sydney keeps its replicas.
    assert all(account.table(SYDNEY, name)["TableStatus"] == "ACTIVE" for name in TABLE_NAMES)


# -- deletion policy ----------------------------------------------------------------------------------


def test_delete_policy_leaves_nothing_tagged_as_managed(account_id: str, account: Account) -> None:
    env = environment(account_id)  # dev: Delete by default
    offline(Mode.APPLY, env, london(), sydney())
    assert account.managed(LONDON) and account.managed(SYDNEY)

    offline(Mode.DESTROY, env, london(), sydney())

    assert (account.managed(LONDON), account.managed(SYDNEY)) == ([], [])
    assert (account.tables(LONDON), account.tables(SYDNEY)) == ([], [])
    assert (account.our_aliases(LONDON), account.our_aliases(SYDNEY)) == ([], [])
    assert account.our_buckets() == []


def test_retain_policy_leaves_tables_keys_and_bucket_marked_retained_and_a_new_apply_does_not_adopt_them(
    account_id: str, account: Account
) -> None:
    env = environment(account_id, **PROD)  # Retain by default
    regions = (london(), sydney())
    applied = offline(Mode.APPLY, env, *regions)
    keys = {
        aws: status_of(applied, f"CutlassRegion/dev-{name}")["outputs"]["data"]["kmsKeyArn"]
        for name, aws in (("london", LONDON), ("sydney", SYDNEY))
    }
    buckets = {aws: artifact_bucket_name(account_id, aws) for aws in (LONDON, SYDNEY)}

    offline(Mode.DESTROY, env, *regions)

    def assert_retained() -> None:
        for name in TABLE_NAMES:
            assert account.table(LONDON, name)["TableStatus"] == "ACTIVE"
            tags = account.table_tags(LONDON, name)
            assert (tags.get(RETAINED), identity_tags_of(tags)) == ("true", []), name
        for name in TABLE_NAMES:
            assert account.table(SYDNEY, name)["SSEDescription"]["KMSMasterKeyArn"] == keys[SYDNEY]
            tags = account.table_tags(SYDNEY, name)
            assert (tags.get(RETAINED), identity_tags_of(tags)) == ("true", []), f"{name} in {SYDNEY}"
        for aws, name in ((LONDON, "london"), (SYDNEY, "sydney")):
            key = account.key(aws, key_alias("dev", name))
            assert (key["Arn"], key["KeyState"]) == (keys[aws], "Enabled")
            tags = account.key_tags(aws, key["KeyId"])
            assert (tags.get(RETAINED), identity_tags_of(tags)) == ("true", [])
        for bucket in buckets.values():
            tags = account.bucket_tags(bucket)
            assert (tags.get(RETAINED), identity_tags_of(tags)) == ("true", []), bucket

    assert_retained()
    assert account.managed(LONDON) == [] and account.managed(SYDNEY) == []
    # The lease table is the operator's bookkeeping, not data: it goes whatever the policy.
    assert LEASE_TABLE not in account.tables(LONDON)

    again = offline(Mode.APPLY, env, *regions, ok=False)

    # The retained keys keep their aliases, so the environment finds them and its tables refuse too.
    env_errors = errors_by_key(again.reports["CutlassEnvironment/dev"])
    assert {key: reason for key, (reason, _) in env_errors.items()} == {
        "tables/alerts": "NameTaken",
        "tables/credits": "NameTaken",
        "tables/usage": "NameTaken",
    }
    assert all(f"table named cutlass-tech-{key.split('/')[1]}-dev" in m for key, (_, m) in env_errors.items())
    for name, aws in (("london", LONDON), ("sydney", SYDNEY)):
        report = again.reports[f"CutlassRegion/dev-{name}"]
        assert isinstance(report.first_error, TerminalError)
        region_errors = errors_by_key(report)
        assert {key: reason for key, (reason, _) in region_errors.items()} == {
            "data/key": "AliasTaken",
            "data/artifacts": "BucketNotManaged",
        }
        message = region_errors["data/key"][1]
        assert key_alias("dev", name) in message and keys[aws].rsplit("/", 1)[-1] in message
        assert "retained" in message
        assert buckets[aws] in region_errors["data/artifacts"][1] and "retained" in region_errors["data/artifacts"][1]
    assert status_of(again, "CutlassEnvironment/dev")["phase"] == "Failed"

    assert_retained()  # nothing was taken over


def test_deletion_protection_keeps_prod_tables_until_the_spec_turns_it_off(account_id: str, account: Account) -> None:
    env = environment(account_id, **PROD, deletionPolicy="Delete")  # protection: on by default for prod
    regions = (london(), sydney())
    offline(Mode.APPLY, env, *regions)
    assert all(account.table(LONDON, name)["DeletionProtectionEnabled"] for name in TABLE_NAMES)

    refused = offline(Mode.DESTROY, env, *regions, ok=False)

    env_report = refused.reports["CutlassEnvironment/dev"]
    assert {key: reason for key, (reason, _) in errors_by_key(env_report).items()} == {
        f"tables/{t}": "DeletionProtected" for t in ("credits", "usage", "alerts")
    }
    error = env_report.first_error
    assert isinstance(error, TerminalError) and "spec.data.deletionProtection: false" in error.message
    assert status_of(refused, "CutlassEnvironment/dev")["phase"] == "Failed"
    # Nothing deleted: the only writes are the environment's lease, taken and released once (a terminal
    # refusal ends the teardown's passes, and the bootstrap waits for the tables).
    assert refused.calls.mutating() == {"dynamodb:PutItem": 1, "dynamodb:UpdateItem": 1}
    for name in TABLE_NAMES:
        assert account.table(LONDON, name)["TableStatus"] == "ACTIVE"
        assert account.table(SYDNEY, name)["TableStatus"] == "ACTIVE"
    for aws, name in ((LONDON, "london"), (SYDNEY, "sydney")):
        assert account.key(aws, key_alias("dev", name))["KeyState"] == "Enabled"
    # The regions wait for the environment to remove their replicas: nothing of theirs went either.
    assert account.our_buckets() == sorted(artifact_bucket_name(account_id, aws) for aws in (LONDON, SYDNEY))

    unprotected = environment(account_id, **PROD, deletionPolicy="Delete", data={"deletionProtection": False})
    offline(Mode.APPLY, unprotected, *regions)
    assert not any(account.table(LONDON, name)["DeletionProtectionEnabled"] for name in TABLE_NAMES)
    offline(Mode.DESTROY, unprotected, *regions)

    assert (account.tables(LONDON), account.tables(SYDNEY)) == ([], [])
    assert (account.managed(LONDON), account.managed(SYDNEY)) == ([], [])


# -- the workspace lease -------------------------------------------------------------------------------


def test_a_second_operator_cannot_take_a_held_workspace_lease(account_id: str) -> None:
    env = environment(account_id)
    offline(Mode.APPLY, env, london())  # bootstrap (the lease table), tables, London
    engine_a = account_clients(account_id)  # the first operator: its own session and clients
    workspace = "dev-london"
    a = Lease(engine_a, LONDON, workspace, "operator-a/blue")

    def run_b(cregion: CutlassRegion) -> tuple[Report, CallLog]:
        calls = CallLog()
        return run_region(env, cregion, mode=Mode.APPLY, calls=calls, holder="operator-b/green"), calls

    a.acquire()
    try:
        # Reading needs no lease: B's no-op succeeds and writes nothing, not even a lease.
        steady, calls = run_b(london())
        assert steady.ok, _error(steady)
        assert calls.mutating() == {}

        changed, calls = run_b(london(vpcEndpoints={"dynamodb": True, "s3": True}))
        assert changed.first_error is not None and changed.first_error.reason == "LeaseHeldBy"
        assert "operator-a/blue" in changed.first_error.message and workspace in changed.first_error.message
        assert calls.mutating() == {"dynamodb:PutItem": 1}  # the conditional put that failed
    finally:
        a.release()

    applied, calls = run_b(london(vpcEndpoints={"dynamodb": True, "s3": True}))
    assert applied.ok, _error(applied)
    assert calls.calls["ec2:CreateVpcEndpoint"] == 1
    assert leases(engine_a) == {}  # B released its lease too

    # A lease whose holder stopped renewing it expires, and B takes it over.
    short = Lease(engine_a, LONDON, workspace, "operator-a/blue", seconds=1)
    short.acquire()
    expires = int(leases(engine_a)[workspace]["expiresAt"])
    while time.time() <= expires + 1:
        time.sleep(0.2)
    reverted, calls = run_b(london())
    assert reverted.ok, _error(reverted)
    assert calls.calls["ec2:DeleteVpcEndpoints"] == 1
    assert leases(engine_a) == {}  # taken over from A, then released


def test_a_held_lease_is_renewed_while_its_holder_works(account_id: str) -> None:
    env = environment(account_id)
    bootstrap = run_environment(env, regions=[], mode=Mode.APPLY)  # the lease table; the tables wait for keys
    assert [lr.layer for lr in bootstrap.layers] == ["bootstrap", "dns"]  # no tables: no key yet
    assert bootstrap.layers[0].error is None
    engine = account_clients(account_id)
    lease = Lease(engine, LONDON, "dev-london", "operator-a/blue", seconds=3)

    with lease.held():
        first = int(leases(engine)["dev-london"]["expiresAt"])
        deadline = time.time() + 5
        while int(leases(engine)["dev-london"]["expiresAt"]) == first and time.time() < deadline:
            time.sleep(0.2)
        renewed = int(leases(engine)["dev-london"]["expiresAt"])
        assert renewed > first
        other = Lease(account_clients(account_id), LONDON, "dev-london", "operator-b/green")
        with pytest.raises(RetryableError) as refused:
            other.acquire()
        assert refused.value.reason == "LeaseHeldBy" and "operator-a/blue" in refused.value.message

    assert leases(engine) == {}


def test_a_lease_tells_its_holder_whether_anyone_else_held_it_since_its_release(account_id: str) -> None:
    run_environment(environment(account_id), regions=[], mode=Mode.APPLY)  # the lease table
    engine = account_clients(account_id)
    a = Lease(engine, LONDON, "dev-london", "operator-a/blue")
    b = Lease(engine, LONDON, "dev-london", "operator-b/green")
    undisturbed = []
    for lease in (a, a, b, a):
        with lease.held() as quiet:
            undisturbed.append(quiet)
    # Never held before; held and released by A alone; B took it after A; A took it after B.
    assert undisturbed == [False, True, False, False]
    a.acquire()  # held, never released: a holder that crashed, restarted under the same name
    assert a.acquire() is False


def test_a_holder_that_released_the_lease_last_reads_its_change_once(account_id: str) -> None:
    env = environment(account_id)
    offline(Mode.APPLY, env, london())  # by another holder: the CLI's

    def change(endpoints: bool) -> CallLog:
        calls = CallLog()
        spec = london(vpcEndpoints={"dynamodb": endpoints, "s3": endpoints})
        report = run_region(env, spec, mode=Mode.APPLY, calls=calls, holder="operator-a/blue")
        assert report.ok, _error(report)
        return calls

    # The CLI released last: the network, planned from reads before the lease, is read again under it.
    first = change(True)
    change(False)
    # This holder released last, and no one took the lease since: the plan stands.
    again = change(True)
    assert first.calls["ec2:CreateVpcEndpoint"] > 0 and again.calls["ec2:CreateVpcEndpoint"] > 0
    assert first.calls["ec2:DescribeVpcs"] == 2 * again.calls["ec2:DescribeVpcs"] > 0


def leases(clients: AwsClients) -> dict[str, dict[str, str]]:
    """The leases held (not released): workspace -> {holder, expiresAt}."""
    items = clients.client("dynamodb", LONDON).scan(TableName=LEASE_TABLE, ConsistentRead=True)["Items"]
    return {
        i["workspace"]["S"]: {"holder": i["holder"]["S"], "expiresAt": i["expiresAt"]["N"]}
        for i in items
        if i["expiresAt"]["N"] != RELEASED
    }
