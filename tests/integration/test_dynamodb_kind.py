"""The `dynamodb.table` kind against the moto server over HTTP, driven by the engine's reconcile.

Plain tables (the operator's lease table) and global tables (the application's): create with
everything in one call, observe without drift, repair drift, refuse to delete a protected table,
retain, delete, and add and remove replicas. moto 5.2.5 does not emulate replicas; the embedded
emulator's extension (`cutlass_operator.emulator.dynamodb_replicas`) does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.session import AwsClients
from cutlass_operator.emulator.dynamodb_replicas import SETTINGS
from cutlass_operator.engine import reconcile as engine
from cutlass_operator.engine.errors import ReconcileError, RetryableError, TerminalError
from cutlass_operator.engine.executor import ApplyResult
from cutlass_operator.engine.identity import RETAINED, Workspace
from cutlass_operator.engine.plan import Action
from cutlass_operator.engine.resource import Desired, KindContext, Observed
from cutlass_operator.props.dynamodb import AttributeDefinition, GlobalSecondaryIndex, KeyElement, Replica, TableProps
from cutlass_operator.resources.dynamodb import TableKind
from cutlass_operator.resources.waits import WaitPolicy

pytestmark = pytest.mark.integration

REGION = "eu-west-2"
SYDNEY = "ap-southeast-2"
VIRGINIA = "us-east-1"
LAYER = "tables"
KEY = f"{LAYER}/credits"
NAME = "cutlass-tech-credits-dev"
QUICK = WaitPolicy(timeout=10.0, interval=0.2)
PK_SK = (KeyElement("pk", "HASH"), KeyElement("sk", "RANGE"))


def attributes(*names: str) -> tuple[AttributeDefinition, ...]:
    return tuple(AttributeDefinition(n, "S") for n in names)


@dataclass
class Aws:
    """The account a test works in: the kind's context, call log, clients per region and KMS keys."""

    ctx: KindContext
    kind: TableKind
    calls: CallLog
    workspace: Workspace
    clients: AwsClients
    keys: dict[str, str]

    def ddb(self, region: str = REGION) -> Any:
        return self.clients.client("dynamodb", region)

    def reconcile(self, *entries: Desired[TableProps], kind: TableKind | None = None, **options: Any) -> engine.Outcome:
        table_kind = kind or self.kind
        scope = options.pop("scope", f"{LAYER}/")
        return engine.reconcile({table_kind.kind: table_kind}, list(entries), self.ctx, scope=scope, **options)

    def apply(self, *entries: Desired[TableProps], **options: Any) -> ApplyResult:
        outcome = self.reconcile(*entries, **options)
        assert outcome.result is not None
        assert outcome.result.ok, {key: f"{e.reason}: {e.message}" for key, e in outcome.result.errors.items()}
        return outcome.result

    def error(self, *entries: Desired[TableProps], **options: Any) -> ReconcileError:
        outcome = self.reconcile(*entries, **options)
        assert outcome.result is not None
        (error,) = outcome.result.errors.values()
        return error

    def observe(self, *entries: Desired[TableProps], kind: TableKind | None = None) -> dict[str, Observed]:
        return {item.key: item for item in (kind or self.kind).observe_many(self.ctx, list(entries))}

    def diff(self, entry: Desired[TableProps]) -> list[str]:
        return [str(d) for d in self.kind.compare(entry, self.observe(entry)[entry.key])]

    def tags(self, region: str = REGION, name: str = NAME) -> dict[str, str]:
        arn = f"arn:aws:dynamodb:{region}:{self.ctx.account_id}:table/{name}"
        return {t["Key"]: t["Value"] for t in self.ddb(region).list_tags_of_resource(ResourceArn=arn)["Tags"]}

    def credits(self, **overrides: Any) -> Desired[TableProps]:
        """The application's credits table: a sparse index, a stream for alerts, the regional key."""
        fields: dict[str, Any] = {
            "table_name": NAME,
            "key_schema": PK_SK,
            "attribute_definitions": attributes("alertBand", "pk", "sk"),
            "billing_mode": "PAY_PER_REQUEST",
            "global_secondary_indexes": (
                GlobalSecondaryIndex(
                    index_name="by-alert-band",
                    key_schema=(KeyElement("alertBand", "HASH"), KeyElement("pk", "RANGE")),
                    projection_type="ALL",
                ),
            ),
            "stream_view_type": "NEW_AND_OLD_IMAGES",
            "kms_key_arn": self.keys[REGION],
            "point_in_time_recovery": True,
            "ttl_attribute": "expiresAt",
            "deletion_protection": False,
            "replicas": (),
            "prune_replicas": True,
            **overrides,
        }
        return Desired(KEY, TableProps(**fields), NAME, self.workspace.tags(LAYER, KEY, NAME))

    def replicated(self, *regions: str, **overrides: Any) -> Desired[TableProps]:
        replicas = tuple(Replica(region, self.keys[region]) for region in regions or (SYDNEY,))
        return self.credits(replicas=replicas, **overrides)

    def leases(self, **overrides: Any) -> Desired[TableProps]:
        """The operator's lease table as the bootstrap layer declares it: nothing but TTL."""
        name, key = "cutlass-tech-leases-dev", "bootstrap/leases"
        fields: dict[str, Any] = {
            "table_name": name,
            "key_schema": (KeyElement("workspace", "HASH"),),
            "attribute_definitions": attributes("workspace"),
            "billing_mode": "PAY_PER_REQUEST",
            "global_secondary_indexes": (),
            "stream_view_type": None,
            "kms_key_arn": None,
            "point_in_time_recovery": False,
            "ttl_attribute": "expiresAt",
            "deletion_protection": False,
            "replicas": (),
            "prune_replicas": True,
            **overrides,
        }
        return Desired(key, TableProps(**fields), name, self.workspace.tags("bootstrap", key, name))


def quick_kind(**options: Any) -> TableKind:
    waits = {"create_wait": QUICK, "settle_wait": QUICK, "replica_wait": QUICK, "delete_wait": QUICK}
    return TableKind("cutlass-tech-", **{**waits, **options})


@pytest.fixture
def aws(clients: AwsClients, account_id: str) -> Aws:
    workspace = Workspace("dev", "global", REGION, account_id, extra_tags={})
    ctx = KindContext(clients=clients, account_id=account_id, region=REGION, selector=workspace.selector())
    keys = {
        region: str(clients.client("kms", region).create_key(Description=region)["KeyMetadata"]["Arn"])
        for region in (REGION, SYDNEY, VIRGINIA)
    }
    assert clients.calls is not None
    return Aws(ctx, quick_kind(), clients.calls, workspace, clients, keys)


@pytest.fixture
def built(aws: Aws) -> Observed:
    return aws.apply(aws.credits()).observed[KEY]


def pending(outcome: engine.Outcome) -> list[str]:
    return [change.line() for change in outcome.plan.pending]


class TestCreate:
    def test_one_reconcile_builds_the_table_as_desired(self, aws: Aws, built: Observed) -> None:
        assert aws.diff(aws.credits()) == []
        ddb = aws.ddb()
        table = ddb.describe_table(TableName=NAME)["Table"]
        assert table["SSEDescription"]["KMSMasterKeyArn"] == aws.keys[REGION]
        assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-alert-band"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["DeletionProtectionEnabled"] is False
        backups = ddb.describe_continuous_backups(TableName=NAME)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
        assert ddb.describe_time_to_live(TableName=NAME)["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": "expiresAt",
        }
        assert aws.tags() == dict(aws.credits().tags)

    def test_the_outputs_name_the_table_its_stream_and_replicas(self, aws: Aws, built: Observed) -> None:
        arn = f"arn:aws:dynamodb:{REGION}:{aws.ctx.account_id}:table/{NAME}"
        assert built.outputs == {
            "id": NAME,
            "name": NAME,
            "arn": arn,
            "streamArn": built.outputs["streamArn"],
            "replicas": {},
        }
        assert built.outputs["streamArn"].startswith(f"{arn}/stream/")
        assert aws.observe(aws.credits())[KEY].outputs == built.outputs

    def test_one_create_call_carries_tags_key_stream_index_and_protection(self, aws: Aws) -> None:
        aws.calls.reset()
        aws.apply(aws.credits(deletion_protection=True))
        # CreateTable with everything it takes, then what it cannot set: PITR and TTL.
        assert aws.calls.mutating() == {
            "dynamodb:CreateTable": 1,
            "dynamodb:UpdateContinuousBackups": 1,
            "dynamodb:UpdateTimeToLive": 1,
        }
        assert aws.ddb().describe_table(TableName=NAME)["Table"]["DeletionProtectionEnabled"] is True

    def test_a_plain_table_has_no_key_stream_or_index(self, aws: Aws) -> None:
        leases = aws.leases()
        built = aws.apply(leases, scope="bootstrap/").observed[leases.key]
        assert built.outputs["streamArn"] is None
        table = aws.ddb().describe_table(TableName=leases.name)["Table"]
        assert "SSEDescription" not in table and "StreamSpecification" not in table
        assert aws.diff(leases) == []

    def test_a_table_of_that_name_not_ours_is_not_taken_over(self, aws: Aws) -> None:
        aws.ddb().create_table(
            TableName=NAME,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        error = aws.error(aws.credits())
        assert (type(error), error.reason) == (TerminalError, "NameTaken")

    def test_attribute_definitions_must_name_exactly_the_key_attributes(self, aws: Aws) -> None:
        extra = attributes("alertBand", "pk", "sk", "unused")
        error = aws.error(aws.credits(attribute_definitions=extra))
        assert (type(error), error.reason) == (TerminalError, "InvalidTableDefinition")
        assert aws.ddb().list_tables()["TableNames"] == []

    def test_replicas_must_be_other_regions_of_a_streamed_table(self, aws: Aws) -> None:
        own = aws.credits(replicas=(Replica(REGION, aws.keys[REGION]),))
        assert aws.error(own).reason == "InvalidReplicas"
        assert aws.error(aws.replicated(stream_view_type=None)).reason == "StreamRequired"


class TestSteadyState:
    def test_a_second_reconcile_writes_nothing_and_reads_once_plus_three_times_per_table(
        self, aws: Aws, built: Observed
    ) -> None:
        aws.calls.reset()
        outcome = aws.reconcile(aws.credits())
        assert outcome.plan.empty, pending(outcome)
        assert aws.calls.writes == 0, aws.calls.mutating()
        assert dict(aws.calls.calls) == {
            "resourcegroupstaggingapi:GetResources": 1,  # the workspace's tables, with their tags
            "dynamodb:DescribeTable": 1,
            "dynamodb:DescribeContinuousBackups": 1,
            "dynamodb:DescribeTimeToLive": 1,
        }

    def test_another_layers_tables_are_listed_but_not_described(self, aws: Aws) -> None:
        kind = quick_kind(orphan_scope=f"{LAYER}/")
        aws.apply(aws.leases(), scope="bootstrap/", kind=kind)
        aws.apply(aws.credits(), kind=kind)
        aws.calls.reset()
        assert aws.reconcile(aws.credits(), kind=kind).plan.empty
        # The lease table's tags come with the listing, which says it is another layer's.
        assert aws.calls.calls["resourcegroupstaggingapi:GetResources"] == 1
        assert "dynamodb:ListTagsOfResource" not in aws.calls.calls
        assert aws.calls.calls["dynamodb:DescribeTable"] == 1

    def test_other_workspaces_and_unmanaged_tables_are_not_observed(self, aws: Aws, built: Observed) -> None:
        for name, tags in (
            ("cutlass-tech-usage-dev", [{"Key": "cutlass.tech/workspace", "Value": "dev-london"}]),
            ("cutlass-tech-alerts-dev", []),
            ("someone-elses-table", []),
        ):
            aws.ddb().create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                **({"Tags": tags} if tags else {}),
            )
        assert list(aws.observe(aws.credits())) == [KEY]


class TestDrift:
    def test_pitr_ttl_deletion_protection_and_tags_are_repaired(self, aws: Aws, built: Observed) -> None:
        ddb = aws.ddb()
        ddb.update_continuous_backups(
            TableName=NAME, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
        )
        ddb.update_time_to_live(
            TableName=NAME, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expiresAt"}
        )
        ddb.update_table(TableName=NAME, DeletionProtectionEnabled=True)
        ddb.untag_resource(ResourceArn=built.outputs["arn"], TagKeys=["Environment"])
        assert aws.diff(aws.credits()) == [
            "deletionProtection: True -> False",
            "pointInTimeRecovery: False -> True",
            "ttlAttribute: None -> 'expiresAt'",
            "tags.Environment: None -> 'dev'",
        ]
        aws.calls.reset()
        aws.apply(aws.credits())
        assert aws.calls.mutating() == {
            "dynamodb:TagResource": 1,
            "dynamodb:UpdateTable": 1,
            "dynamodb:UpdateContinuousBackups": 1,
            "dynamodb:UpdateTimeToLive": 1,
        }
        assert aws.diff(aws.credits()) == []

    def test_turning_deletion_protection_on_is_one_update(self, aws: Aws, built: Observed) -> None:
        aws.calls.reset()
        aws.apply(aws.credits(deletion_protection=True))
        assert aws.calls.mutating() == {"dynamodb:UpdateTable": 1}
        assert aws.ddb().describe_table(TableName=NAME)["Table"]["DeletionProtectionEnabled"] is True

    def test_a_stream_turned_on_reports_its_arn(self, aws: Aws) -> None:
        leases = aws.leases()
        aws.apply(leases, scope="bootstrap/")
        streamed = aws.leases(stream_view_type="KEYS_ONLY")
        aws.calls.reset()
        built = aws.apply(streamed, scope="bootstrap/").observed[leases.key]
        assert aws.calls.mutating() == {"dynamodb:UpdateTable": 1}
        assert built.outputs["streamArn"].startswith(built.outputs["arn"] + "/stream/")
        assert aws.diff(streamed) == []

    def test_indexes_change_one_per_update_call(self, aws: Aws, built: Observed) -> None:
        by_user = GlobalSecondaryIndex(
            index_name="by-user",
            key_schema=(KeyElement("userKey", "HASH"), KeyElement("sk", "RANGE")),
            projection_type="INCLUDE",
            non_key_attributes=("credits", "amount"),
        )
        changed = aws.credits(
            global_secondary_indexes=(by_user,), attribute_definitions=attributes("pk", "sk", "userKey")
        )
        aws.calls.reset()
        result = aws.apply(changed)
        assert aws.calls.mutating() == {"dynamodb:UpdateTable": 2}  # delete by-alert-band, then create by-user
        indexes = aws.ddb().describe_table(TableName=NAME)["Table"]["GlobalSecondaryIndexes"]
        assert [(i["IndexName"], i["Projection"]["ProjectionType"]) for i in indexes] == [("by-user", "INCLUDE")]
        assert aws.kind.compare(changed, result.observed[KEY]) == []
        assert aws.diff(changed) == []

    def test_the_key_schema_cannot_change_in_place(self, aws: Aws, built: Observed) -> None:
        keys = (KeyElement("pk", "HASH"), KeyElement("alertBand", "RANGE"))
        with pytest.raises(TerminalError) as error:
            aws.reconcile(aws.credits(key_schema=keys, attribute_definitions=attributes("alertBand", "pk")))
        assert error.value.reason == "ImmutableFieldChanged"


class TestDeletion:
    def test_deletion_protection_blocks_delete_until_the_spec_turns_it_off(self, aws: Aws) -> None:
        protected = aws.credits(deletion_protection=True)
        aws.apply(protected)
        aws.calls.reset()
        error = aws.error(protected, destroy=True)
        assert (type(error), error.reason) == (TerminalError, "DeletionProtected")
        assert "deletionProtection: false" in error.message
        assert aws.calls.writes == 0, aws.calls.mutating()
        assert aws.ddb().describe_table(TableName=NAME)["Table"]["TableStatus"] == "ACTIVE"
        # The way out: the spec turns it off, an apply writes that, then the delete goes through.
        unprotected = aws.credits(deletion_protection=False)
        aws.apply(unprotected)
        aws.apply(unprotected, destroy=True)
        assert aws.ddb().list_tables()["TableNames"] == []

    def test_retain_leaves_the_table_tagged_as_retained_and_unmanaged(self, aws: Aws, built: Observed) -> None:
        outcome = aws.reconcile(aws.credits(), destroy=True, retain=True)
        assert outcome.result is not None and outcome.result.ok
        assert [c.action for c in outcome.plan.pending] == [Action.RETAIN]
        tags = aws.tags()
        assert tags[RETAINED] == "true"
        assert [t for t in tags if t.startswith("cutlass.tech/")] == [RETAINED]
        assert tags["Name"] == NAME  # the seed's cost-allocation tags stay
        assert aws.ddb().describe_table(TableName=NAME)["Table"]["TableStatus"] == "ACTIVE"
        assert aws.observe(aws.credits()) == {}
        # Applying again does not take the retained table over.
        assert aws.error(aws.credits()).reason == "NameTaken"

    def test_a_protected_table_can_be_retained(self, aws: Aws) -> None:
        aws.apply(aws.credits(deletion_protection=True))
        aws.apply(aws.credits(deletion_protection=True), destroy=True, retain=True)
        assert aws.tags()[RETAINED] == "true"

    def test_delete_removes_the_table_and_tolerates_a_second_pass(self, aws: Aws, built: Observed) -> None:
        item = aws.observe(aws.credits())[KEY]
        aws.apply(aws.credits(), destroy=True)
        assert aws.ddb().list_tables()["TableNames"] == []
        assert aws.observe(aws.credits()) == {}
        aws.kind.delete(aws.ctx, item)
        assert aws.reconcile(aws.credits(), destroy=True, apply=False).plan.empty

    def test_a_table_no_longer_desired_is_an_orphan_and_deleted(self, aws: Aws, built: Observed) -> None:
        result = aws.apply()
        assert [(c.action, c.key) for c in result.done] == [(Action.DELETE, KEY)]
        assert aws.ddb().list_tables()["TableNames"] == []


class TestReplicas:
    def test_a_replica_is_added_with_its_regions_key_and_reported_active(self, aws: Aws, built: Observed) -> None:
        desired = aws.replicated(SYDNEY)
        aws.calls.reset()
        result = aws.apply(desired)
        assert aws.calls.mutating() == {"dynamodb:UpdateTable": 1, "dynamodb:TagResource": 1}
        assert result.observed[KEY].outputs["replicas"] == {SYDNEY: "ACTIVE"}
        table = aws.ddb(SYDNEY).describe_table(TableName=NAME)["Table"]
        assert table["TableStatus"] == "ACTIVE"
        assert table["SSEDescription"]["KMSMasterKeyArn"] == aws.keys[SYDNEY]
        assert aws.tags(SYDNEY) == dict(desired.tags)  # tags belong to each replica
        assert aws.observe(desired)[KEY].outputs["replicas"] == {SYDNEY: "ACTIVE"}
        assert aws.diff(desired) == []

    def test_a_replicated_table_is_steady_with_one_more_read_per_replica_region(self, aws: Aws) -> None:
        desired = aws.replicated(SYDNEY)
        aws.apply(desired)
        aws.calls.reset()
        outcome = aws.reconcile(desired)
        assert outcome.plan.empty, pending(outcome)
        assert aws.calls.writes == 0, aws.calls.mutating()
        # The tables of the table's region, and of the replica's (whose tags are its own).
        assert aws.calls.calls["resourcegroupstaggingapi:GetResources"] == 2
        assert aws.calls.reads == 5

    def test_create_adds_replicas_one_at_a_time_in_the_same_reconcile(self, aws: Aws) -> None:
        result = aws.apply(aws.replicated(SYDNEY, VIRGINIA))
        assert result.observed[KEY].outputs["replicas"] == {SYDNEY: "ACTIVE", VIRGINIA: "ACTIVE"}
        assert aws.calls.calls["dynamodb:UpdateTable"] == 2
        for region in (SYDNEY, VIRGINIA):
            assert aws.ddb(region).describe_table(TableName=NAME)["Table"]["TableStatus"] == "ACTIVE"
        assert aws.diff(aws.replicated(SYDNEY, VIRGINIA)) == []

    def test_an_item_written_in_london_reads_back_in_sydney(self, aws: Aws) -> None:
        aws.apply(aws.replicated(SYDNEY))
        aws.ddb().put_item(TableName=NAME, Item={"pk": {"S": "ORG#1"}, "sk": {"S": "BALANCE"}, "credits": {"N": "5"}})
        key = {"pk": {"S": "ORG#1"}, "sk": {"S": "BALANCE"}}
        assert aws.ddb(SYDNEY).get_item(TableName=NAME, Key=key)["Item"]["credits"] == {"N": "5"}

    def test_a_replica_no_longer_desired_is_removed_when_pruning(self, aws: Aws) -> None:
        aws.apply(aws.replicated(SYDNEY))
        alone = aws.credits(replicas=(), prune_replicas=True)
        replica = {"regionName": SYDNEY, "kmsKeyArn": aws.keys[SYDNEY]}
        assert aws.diff(alone) == [f"replicas: {[replica]!r} -> []"]
        result = aws.apply(alone)
        assert result.observed[KEY].outputs["replicas"] == {}
        assert not aws.ddb().describe_table(TableName=NAME)["Table"].get("Replicas")
        with pytest.raises(ClientError):
            aws.ddb(SYDNEY).describe_table(TableName=NAME)
        assert aws.diff(alone) == []

    def test_a_replica_no_longer_desired_is_kept_under_the_retain_policy(self, aws: Aws) -> None:
        aws.apply(aws.replicated(SYDNEY, prune_replicas=False))
        kept = aws.credits(replicas=(), prune_replicas=False)
        assert aws.diff(kept) == []
        aws.calls.reset()
        outcome = aws.reconcile(kept)
        assert outcome.plan.empty and aws.calls.writes == 0, aws.calls.mutating()
        assert aws.ddb(SYDNEY).describe_table(TableName=NAME)["Table"]["TableStatus"] == "ACTIVE"
        assert aws.observe(kept)[KEY].outputs["replicas"] == {SYDNEY: "ACTIVE"}

    def test_a_replica_still_being_created_is_waited_for_by_retrying_not_blocking(
        self, aws: Aws, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(SETTINGS, "replica_creating_describes", 4)  # CREATING for four DescribeTables
        kind = quick_kind(replica_wait=WaitPolicy(timeout=0.0, interval=0.0))
        error = aws.error(aws.replicated(SYDNEY), kind=kind)  # its one wait sees CREATING
        assert (type(error), error.reason) == (RetryableError, "ReplicaNotActive")
        # Another replica change while one is CREATING: a retry, without writing anything.
        aws.calls.reset()
        error = aws.error(aws.replicated(SYDNEY, VIRGINIA), kind=kind)
        assert (type(error), error.reason) == (RetryableError, "ReplicaNotActive")
        assert aws.calls.writes == 0, aws.calls.mutating()
        # Nothing else to do meanwhile; the status reports the replica's state.
        assert aws.observe(aws.replicated(SYDNEY))[KEY].outputs["replicas"] == {SYDNEY: "CREATING"}
        assert aws.reconcile(aws.replicated(SYDNEY), kind=kind).plan.empty
        # Once ACTIVE, its tags are written, and then nothing.
        aws.calls.reset()
        aws.apply(aws.replicated(SYDNEY), kind=kind)
        assert aws.calls.mutating() == {"dynamodb:TagResource": 1}
        assert aws.tags(SYDNEY)["cutlass.tech/key"] == KEY
        assert aws.reconcile(aws.replicated(SYDNEY), kind=kind).plan.empty

    def test_deleting_a_replicated_table_removes_its_replicas_first(self, aws: Aws) -> None:
        desired = aws.replicated(SYDNEY, VIRGINIA)
        aws.apply(desired)
        aws.calls.reset()
        aws.apply(desired, destroy=True)
        assert aws.calls.mutating() == {"dynamodb:UpdateTable": 2, "dynamodb:DeleteTable": 1}
        for region in (REGION, SYDNEY, VIRGINIA):
            assert aws.ddb(region).list_tables()["TableNames"] == []

    def test_retain_untags_every_replica_and_leaves_the_global_table(self, aws: Aws) -> None:
        desired = aws.replicated(SYDNEY, prune_replicas=False)
        aws.apply(desired)
        aws.apply(desired, destroy=True, retain=True)
        for region in (REGION, SYDNEY):
            tags = aws.tags(region)
            assert [t for t in tags if t.startswith("cutlass.tech/")] == [RETAINED]
        replicas = aws.ddb().describe_table(TableName=NAME)["Table"]["Replicas"]
        assert [(r["RegionName"], r["ReplicaStatus"]) for r in replicas] == [(SYDNEY, "ACTIVE")]
