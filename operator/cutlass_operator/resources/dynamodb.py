"""DynamoDB tables (`TableProps`): plain ones (the operator's lease table) and global tables,
version 2019.11.21.

`tableName` and `keySchema` are immutable. The replicas are in the regions other than the
table's own (`ctx.region`, the environment's primary region), each encrypted with its own
region's key. `pruneReplicas` is a policy rather than state (see `TableProps`), which compare
leaves out. Outputs: `id` and `name` (the table name), `arn`, `streamArn` (None without a
stream), and `replicas` (`{regionName: ReplicaStatus}`), which a region's workflow reads before
its compute uses the replica.

Observe. The tagging API's GetResources gives the workspace's tables with their tags in one call
(ListTables has neither a tag nor a prefix filter, and ListTagsOfResource is a read per table);
each kind instance keeps its family of names (`name_prefix`), and `orphan_scope` (the layer's key
prefix) narrows it to one layer's keys when several layers share the workspace (the lease table and
the application's). For each: DescribeTable, DescribeContinuousBackups (PITR) and
DescribeTimeToLive, since DescribeTable reports neither. A replica's tags belong to its own ARN
(AWS does not copy them when it creates a replica): one GetResources in each region holding an
ACTIVE replica gives them all. A no-op resync therefore reads 1 + 3 per table + 1 per replica
region.

Apply. AWS takes one structural change per UpdateTable (one index created or deleted, one replica
added or removed) and refuses the next while the table is UPDATING, so update makes one call per
kind of change, cheapest and most protective first (tags, deletion protection, PITR, TTL, billing,
stream, key, indexes, then replicas, the slow ones), waiting (bounded) for the table to settle
between calls. A table or replica already busy when a change is due is a short `RetryableError`,
not a wait of minutes: the next reconcile observes again. Replicas are added one at a time through
the table (ReplicaUpdates Create with the replica's own key), then tagged in their region once
ACTIVE; a replica's key is changed in its own region (UpdateTable SSESpecification there).
Deletion protection is never turned off except by a desired `deletionProtection: false`, and
delete refuses a protected table. Delete removes the replicas one by one, then the table; retain
swaps the identity tags for `cutlass.tech/retained` on the table and on every replica.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.aws.fanout import at_once, each
from cutlass_operator.engine.arns import partition
from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.identity import IDENTITY_TAGS, RETAINED
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind, normalise
from cutlass_operator.props.dynamodb import TableProps
from cutlass_operator.resources.errors import aws_errors, error_code, error_message, is_not_found, tolerate_not_found
from cutlass_operator.resources.tags import key_of, matches, tag_changes, tagged_resources
from cutlass_operator.resources.waits import WaitPolicy, wait_until

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        ContinuousBackupsDescriptionTypeDef,
        GlobalSecondaryIndexDescriptionTypeDef,
        SSESpecificationTypeDef,
        TableDescriptionTypeDef,
        TagTypeDef,
        TimeToLiveDescriptionTypeDef,
    )

ACTIVE = "ACTIVE"
PAY_PER_REQUEST = "PAY_PER_REQUEST"
# Version 2019.11.21 replicates through the table's stream; adding a replica turns it on with this view.
REPLICATED_STREAM = "NEW_AND_OLD_IMAGES"
# Replica states in which AWS takes no other replica change; DELETING ones count as gone.
REPLICA_BUSY = frozenset({"CREATING", "UPDATING", "DELETING", "ARCHIVING"})
REPLICA_GONE = frozenset({"DELETING", "CREATION_FAILED"})
TTL_ON = frozenset({"ENABLED", "ENABLING"})
TTL_CHANGING = frozenset({"ENABLING", "DISABLING"})
# DynamoDB's codes for "another operation on this table (or too many in the account) is in
# flight": the generic classification reads LimitExceededException as a quota to raise, but for
# DynamoDB it means too many concurrent control-plane operations, which time resolves.
DYNAMODB_BUSY = frozenset({"ResourceInUseException", "LimitExceededException", "ContinuousBackupsUnavailableException"})


def table_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:{partition(region)}:dynamodb:{region}:{account_id}:table/{name}"


class TableKind(ResourceKind[TableProps]):
    props = TableProps
    delete_rank = 60
    immutable = frozenset({"tableName", "keySchema"})

    def __init__(
        self,
        name_prefix: str = "",
        orphan_scope: str = "",
        *,
        create_wait: WaitPolicy | None = None,
        settle_wait: WaitPolicy | None = None,
        replica_wait: WaitPolicy | None = None,
        delete_wait: WaitPolicy | None = None,
    ) -> None:
        if not name_prefix:
            raise ValueError("a table kind needs a name prefix: it keeps its family apart from other layers'")
        super().__init__(name_prefix, orphan_scope)
        # A new table is ACTIVE within seconds; a replica takes minutes, its removal as long.
        self.create_wait = create_wait or WaitPolicy(timeout=120.0, interval=3.0)
        self.settle_wait = settle_wait or WaitPolicy(timeout=60.0, interval=3.0)
        self.replica_wait = replica_wait or WaitPolicy(timeout=60.0, interval=5.0)
        self.delete_wait = delete_wait or WaitPolicy(timeout=300.0, interval=10.0)

    # -- observe -------------------------------------------------------------------------------

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[TableProps]]) -> list[Observed]:
        ddb = _client(ctx)
        for d in desired:
            if not d.props.table_name.startswith(self.name_prefix):
                raise ValueError(f"{d.key}: table {d.props.table_name} is outside {self.name_prefix}")
        with aws_errors(f"observe {self.kind} {self.name_prefix}*"):
            tagged = {arn.rsplit("/", 1)[-1]: tags for arn, tags in tagged_resources(ctx, "dynamodb:table").items()}
            keys = {name: key_of(tags, name) for name, tags in tagged.items() if name.startswith(self.name_prefix)}
            ours = sorted(name for name, key in keys.items() if key.startswith(self.orphan_scope))
            found = [
                o for o in each(lambda name: self._observe_one(ctx, ddb, name, keys[name], tagged[name]), ours) if o
            ]
            # A replica's tags are its own (AWS does not copy them): one read per replica region.
            regions = sorted({region for o in found for region in _active_replicas(o)})
            by_region = {region: tagged_resources(replace(ctx, region=region), "dynamodb:table") for region in regions}
        for o in found:
            o.private["replicaTags"] = {
                region: by_region[region].get(table_arn(region, ctx.account_id, o.id), {})
                for region in _active_replicas(o)
            }
        return found

    def _observe_one(self, ctx: KindContext, ddb: Any, name: str, key: str, tags: dict[str, str]) -> Observed | None:
        with tolerate_not_found():  # deleted between the list and the reads
            table, backups, ttl = at_once(
                lambda: ddb.describe_table(TableName=name),
                lambda: ddb.describe_continuous_backups(TableName=name),
                lambda: ddb.describe_time_to_live(TableName=name),
            )
            if table["Table"].get("TableStatus") == "DELETING":
                return None  # gone as far as the plan is concerned
            observed = _observed(ctx, key, self.kind, table["Table"], tags)
            _absorb_backups(observed, backups["ContinuousBackupsDescription"])
            _absorb_ttl(observed, ttl.get("TimeToLiveDescription", {}))
            return observed
        return None

    def removes(self, diff: Sequence[FieldDiff]) -> bool:
        """Dropping a replica deletes that region's copy of the data."""
        for change in diff:
            if change.path == "replicas":
                had = {r["regionName"] for r in change.current or []}
                if had - {r["regionName"] for r in change.desired or []}:
                    return True
        return False

    def compare(self, desired: Desired[TableProps], observed: Observed) -> list[FieldDiff]:
        """The base comparison on canonical shapes, without the `pruneReplicas` policy, ignoring
        replicas kept by the `Retain` policy, plus the tags of each ACTIVE desired replica."""
        want = _canonical(desired.properties)
        have = _canonical(observed.properties)
        want.pop("pruneReplicas", None)
        if "replicas" in want and not desired.properties.get("pruneReplicas", False):
            regions = {r["regionName"] for r in want["replicas"]}
            have["replicas"] = [r for r in have.get("replicas") or [] if r["regionName"] in regions]
        diffs = [
            FieldDiff(name, have.get(name), value)
            for name, value in sorted(want.items())
            if normalise(have.get(name)) != normalise(value)
        ]
        diffs += [
            FieldDiff(f"tags.{name}", observed.tags.get(name), value)
            for name, value in sorted(desired.tags.items())
            if observed.tags.get(name) != value
        ]
        replica_tags: Mapping[str, Mapping[str, str]] = observed.private.get("replicaTags", {})
        for replica in want.get("replicas") or []:
            region = replica["regionName"]
            if region not in replica_tags:
                continue  # not ACTIVE yet (or not readable): tagged once it is
            diffs += [
                FieldDiff(f"replicas.{region}.tags.{name}", replica_tags[region].get(name), value)
                for name, value in sorted(desired.tags.items())
                if replica_tags[region].get(name) != value
            ]
        return diffs

    # -- create --------------------------------------------------------------------------------

    def create(self, ctx: KindContext, desired: Desired[TableProps]) -> Observed:
        ddb = _client(ctx)
        props = desired.properties
        name = str(props["tableName"])
        what = f"create {self.kind} {name}"
        _check(ctx, desired, what)
        params: dict[str, Any] = {
            "TableName": name,
            "KeySchema": _keys_to_aws(props["keySchema"]),
            "AttributeDefinitions": [
                {"AttributeName": a["attributeName"], "AttributeType": a["attributeType"]}
                for a in props["attributeDefinitions"]
            ],
            "BillingMode": props.get("billingMode") or PAY_PER_REQUEST,
            "DeletionProtectionEnabled": bool(props.get("deletionProtection", False)),
            "Tags": _ddb_tags(desired.tags),
        }
        if props.get("globalSecondaryIndexes"):
            params["GlobalSecondaryIndexes"] = [_gsi_to_aws(g) for g in props["globalSecondaryIndexes"]]
        if props.get("streamViewType"):
            params["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": props["streamViewType"]}
        if props.get("kmsKeyArn"):
            params["SSESpecification"] = _sse(props["kmsKeyArn"])
        adopted = False
        with _dynamodb_errors(what):
            try:
                table = ddb.create_table(**params)["TableDescription"]
                tags = dict(desired.tags)
            except ClientError as exc:
                if error_code(exc) != "ResourceInUseException":
                    raise
                table, tags = self._existing(ctx, ddb, name, what, exc)
                adopted = True
        latest = table

        def active() -> bool:
            nonlocal latest
            if latest.get("TableStatus") != ACTIVE:
                latest = ddb.describe_table(TableName=name)["Table"]
            return latest.get("TableStatus") == ACTIVE

        with _dynamodb_errors(what):
            wait_until(active, self.create_wait, what, "TableCreating")
            observed = _observed(ctx, desired.key, self.kind, latest, tags)
            if adopted:
                # Ours, but missed by observe (ListTables lags behind CreateTable): read the rest.
                _absorb_backups(
                    observed, ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
                )
                _absorb_ttl(observed, ddb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {}))
                observed.private["replicaTags"] = _replica_tags(ctx, observed)
            else:
                # A new table has neither PITR nor TTL; update turns them on and adds the replicas.
                observed.properties.update({"pointInTimeRecovery": False, "ttlAttribute": None})
                observed.private.update({"ttlStatus": "DISABLED", "replicaTags": {}})
        return self.update(ctx, desired, observed, self.compare(desired, observed))

    def _existing(
        self, ctx: KindContext, ddb: DynamoDBClient, name: str, what: str, exc: ClientError
    ) -> tuple[TableDescriptionTypeDef, dict[str, str]]:
        """The name is taken: a table being deleted (wait), ours missed by observe (adopt), or not ours."""
        table = ddb.describe_table(TableName=name)["Table"]
        if table.get("TableStatus") == "DELETING":
            raise RetryableError("TableDeleting", f"{what}: a table of that name is still being deleted", 30.0) from exc
        tags = _list_tags(ddb, table_arn(ctx.region, ctx.account_id, name))
        if not matches(tags, ctx.selector):
            raise TerminalError(
                "NameTaken",
                f"{what}: a table named {name} exists in {ctx.region} and is not managed by this workspace "
                "(a retained one carries cutlass.tech/retained); delete or rename it, or restore its tags",
            ) from exc
        return table, tags

    # -- update --------------------------------------------------------------------------------

    def update(
        self, ctx: KindContext, desired: Desired[TableProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        ddb = _client(ctx)
        what = f"update {self.kind} {observed.id}"
        _check(ctx, desired, what)
        change = _Change(self, ctx, ddb, observed, what)
        with _dynamodb_errors(what):
            change.tags(desired.tags)
            change.deletion_protection(desired.properties)
            change.point_in_time_recovery(desired.properties)
            change.time_to_live(desired.properties)
            change.billing_mode(desired.properties)
            change.stream(desired.properties)
            change.encryption(desired.properties)
            change.indexes(desired.properties)
            change.replicas(desired)
        observed.key = desired.key
        return observed

    # -- delete and retain ---------------------------------------------------------------------

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        name = observed.id
        what = f"delete {self.kind} {name}"
        if observed.properties.get("deletionProtection"):
            raise TerminalError(
                "DeletionProtected",
                f"{what}: deletion protection is on; set the spec's deletion protection off "
                "(spec.data.deletionProtection: false), apply, then delete. The operator never turns it off itself",
            )
        ddb = _client(ctx)
        change = _Change(self, ctx, ddb, observed, what)
        with _dynamodb_errors(what), tolerate_not_found():
            # A global table goes replica by replica: DeleteTable removes only this region's copy.
            for region, status in sorted(observed.private.get("replicaStatus", {}).items()):
                if status != "DELETING":
                    change.update_table(ReplicaUpdates=[{"Delete": {"RegionName": region}}])
                change.wait_replica(region, gone=True, policy=self.delete_wait)
            change.settle()
            ddb.delete_table(TableName=name)

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        """Tag as retained, then drop the identity tags: every replica first, the table last,
        so a failure midway leaves the table still managed and the next reconcile finishes."""
        what = f"retain {self.kind} {observed.id}"
        regions = [r for r, s in sorted(observed.private.get("replicaStatus", {}).items()) if s != "DELETING"]
        with _dynamodb_errors(what):
            for region in [*regions, ctx.region]:
                ddb = _client(ctx, region)
                arn = table_arn(region, ctx.account_id, observed.id)
                with tolerate_not_found():
                    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": RETAINED, "Value": "true"}])
                    ddb.untag_resource(ResourceArn=arn, TagKeys=list(IDENTITY_TAGS))


@dataclass
class _Change:
    """One table's update in progress: one UpdateTable at a time, each after the table settled."""

    kind: TableKind
    ctx: KindContext
    ddb: DynamoDBClient
    observed: Observed
    what: str
    # Whether the table may take a change now; false after a call of ours left it UPDATING.
    settled: bool = field(init=False, default=True)

    @property
    def name(self) -> str:
        return self.observed.id

    @property
    def props(self) -> dict[str, Any]:
        return self.observed.properties

    def ready(self) -> None:
        """Before a change: a table already busy is retried soon; one we just changed is waited for."""
        if not self.settled:
            self.settle()
        elif self.observed.private.get("status") != ACTIVE:
            raise RetryableError(
                "TableBusy", f"{self.what}: the table is {self.observed.private.get('status')}; retrying", 15.0
            )

    def settle(self) -> None:
        def active() -> bool:
            self.absorb(self.ddb.describe_table(TableName=self.name)["Table"])
            return self.observed.private.get("status") == ACTIVE

        if self.observed.private.get("status") != ACTIVE or not self.settled:
            wait_until(active, self.kind.settle_wait, self.what, "TableBusy")
        self.settled = True

    def update_table(self, **changes: Any) -> None:
        self.ready()
        self.absorb(self.ddb.update_table(TableName=self.name, **changes)["TableDescription"])
        self.settled = self.observed.private.get("status") == ACTIVE

    def absorb(self, table: TableDescriptionTypeDef) -> None:
        """Status, stream ARN and replica states from any DescribeTable or UpdateTable answer."""
        fresh = _observed(self.ctx, self.observed.key, self.observed.kind, table, self.observed.tags)
        self.observed.private["status"] = fresh.private["status"]
        # AWS leaves `Replicas` out once the last one is gone.
        self.observed.private["replicaStatus"] = fresh.private["replicaStatus"]
        self.observed.outputs["replicas"] = fresh.outputs["replicas"]
        if table.get("StreamSpecification", {}).get("StreamEnabled"):
            self.observed.outputs["streamArn"] = fresh.outputs["streamArn"]

    # Each step changes one thing, only when it is declared and differs.

    def tags(self, desired: Mapping[str, str]) -> None:
        changes = tag_changes(desired, self.observed.tags)
        arn = self.observed.outputs["arn"]
        if changes.put:
            self.ddb.tag_resource(ResourceArn=arn, Tags=_ddb_tags(changes.put))
        if changes.remove:
            self.ddb.untag_resource(ResourceArn=arn, TagKeys=changes.remove)
        self.observed.tags = changes.applied_to(self.observed.tags)

    def deletion_protection(self, want: Mapping[str, Any]) -> None:
        # Only an explicit desired value changes it, so it is never turned off by omission.
        if "deletionProtection" in want and bool(want["deletionProtection"]) != self.props.get("deletionProtection"):
            self.update_table(DeletionProtectionEnabled=bool(want["deletionProtection"]))
            self.props["deletionProtection"] = bool(want["deletionProtection"])

    def point_in_time_recovery(self, want: Mapping[str, Any]) -> None:
        if "pointInTimeRecovery" in want and bool(want["pointInTimeRecovery"]) != self.props.get("pointInTimeRecovery"):
            self.ready()
            self.ddb.update_continuous_backups(
                TableName=self.name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": bool(want["pointInTimeRecovery"])},
            )
            self.props["pointInTimeRecovery"] = bool(want["pointInTimeRecovery"])

    def time_to_live(self, want: Mapping[str, Any]) -> None:
        if "ttlAttribute" not in want or want["ttlAttribute"] == self.props.get("ttlAttribute"):
            return
        if self.observed.private.get("ttlStatus") in TTL_CHANGING:
            raise RetryableError("TimeToLiveChanging", f"{self.what}: a TTL change is in progress; retrying", 60.0)
        self.ready()
        current, attribute = self.props.get("ttlAttribute"), want["ttlAttribute"]
        # Changing the attribute is a disable and an enable; AWS allows one change per hour or so.
        with _ttl_cooldown(self.what):
            if current is not None:
                self.ddb.update_time_to_live(
                    TableName=self.name, TimeToLiveSpecification={"Enabled": False, "AttributeName": current}
                )
                self.props["ttlAttribute"] = None
            if attribute is not None:
                self.ddb.update_time_to_live(
                    TableName=self.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
                )
                self.props["ttlAttribute"] = attribute

    def billing_mode(self, want: Mapping[str, Any]) -> None:
        if want.get("billingMode") and want["billingMode"] != self.props.get("billingMode"):
            self.update_table(BillingMode=want["billingMode"])
            self.props["billingMode"] = want["billingMode"]

    def stream(self, want: Mapping[str, Any]) -> None:
        if "streamViewType" not in want or want["streamViewType"] == self.props.get("streamViewType"):
            return
        # A stream's view type cannot change in place: it is turned off, then on with the new one.
        if self.props.get("streamViewType"):
            self.update_table(StreamSpecification={"StreamEnabled": False})
            self.props["streamViewType"] = None
            self.observed.outputs["streamArn"] = None
        if want["streamViewType"]:
            self.update_table(StreamSpecification={"StreamEnabled": True, "StreamViewType": want["streamViewType"]})
            self.props["streamViewType"] = want["streamViewType"]

    def encryption(self, want: Mapping[str, Any]) -> None:
        if "kmsKeyArn" not in want or want["kmsKeyArn"] == self.props.get("kmsKeyArn"):
            return
        key = want["kmsKeyArn"]
        self.update_table(SSESpecification=_sse(key))
        self.props["kmsKeyArn"] = key

    def indexes(self, want: Mapping[str, Any]) -> None:
        """One index per call; a changed index (keys, projection) is deleted, then created again."""
        if "globalSecondaryIndexes" not in want:
            return
        wanted = {g["indexName"]: _canonical_gsi(g) for g in want["globalSecondaryIndexes"] or []}
        have = {g["indexName"]: g for g in self.props.get("globalSecondaryIndexes") or []}
        for name in sorted(have):
            if name not in wanted or normalise(wanted[name]) != normalise(have[name]):
                self.update_table(GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": name}}])
                del have[name]
                self.props["globalSecondaryIndexes"] = list(have.values())
        for name in sorted(wanted):
            if name not in have:
                self.update_table(
                    AttributeDefinitions=_attributes_to_aws(want["attributeDefinitions"]),
                    GlobalSecondaryIndexUpdates=[{"Create": _gsi_to_aws(wanted[name])}],
                )
                have[name] = wanted[name]
                self.props["globalSecondaryIndexes"] = list(have.values())
        self.props["attributeDefinitions"] = list(want["attributeDefinitions"])

    def replicas(self, desired: Desired[TableProps]) -> None:
        """Add, re-key and (with pruneReplicas) remove replicas, one at a time, then tag the ACTIVE ones."""
        want = desired.properties
        if "replicas" not in want:
            return
        wanted = {r["regionName"]: r.get("kmsKeyArn") for r in want["replicas"] or []}
        have = {r["regionName"]: r.get("kmsKeyArn") for r in self.props.get("replicas") or []}
        status: dict[str, str] = self.observed.private.setdefault("replicaStatus", {})
        creates = sorted(r for r in wanted if r not in have)
        rekeys = sorted(r for r in wanted if r in have and wanted[r] != have[r])
        removes = sorted(r for r in have if r not in wanted) if want.get("pruneReplicas") else []
        if creates or rekeys or removes:
            busy = sorted(f"{r} {s}" for r, s in status.items() if s in REPLICA_BUSY)
            if busy:
                raise RetryableError(
                    "ReplicaNotActive", f"{self.what}: replicas are changing ({', '.join(busy)}); retrying", 30.0
                )
        for region in creates:
            if status.get(region) == "CREATION_FAILED":
                self.update_table(ReplicaUpdates=[{"Delete": {"RegionName": region}}])
                raise RetryableError(
                    "ReplicaCreationFailed",
                    f"{self.what}: AWS failed to create the replica in {region}; removed it to try again",
                    60.0,
                )
            member: dict[str, Any] = {"RegionName": region}
            if wanted[region]:
                member["KMSMasterKeyId"] = wanted[region]
            self.update_table(ReplicaUpdates=[{"Create": member}])
            self.wait_replica(region)
            self.props.setdefault("replicas", []).append({"regionName": region, "kmsKeyArn": wanted[region]})
        for region in rekeys:
            # A replica's key is its own table's setting, changed in its region (ReplicaUpdates'
            # Update rejects KMSMasterKeyId), and needs that replica ACTIVE, as checked above.
            key = wanted[region]
            _client(self.ctx, region).update_table(TableName=self.name, SSESpecification=_sse(key))
            for replica in self.props["replicas"]:
                if replica["regionName"] == region:
                    replica["kmsKeyArn"] = key
        for region in removes:
            self.update_table(ReplicaUpdates=[{"Delete": {"RegionName": region}}])
            self.wait_replica(region, gone=True)
            self.props["replicas"] = [r for r in self.props["replicas"] if r["regionName"] != region]
        self.replica_tags(desired.tags, creates, sorted(wanted))

    def replica_tags(self, desired: Mapping[str, str], created: Sequence[str], regions: Sequence[str]) -> None:
        known: dict[str, dict[str, str]] = self.observed.private.setdefault("replicaTags", {})
        for region in regions:
            if self.observed.private["replicaStatus"].get(region) != ACTIVE:
                continue
            if region in created:
                known[region] = _replica_tags_in(self.ctx, region, self.name) or {}
            if region not in known:
                continue
            changes = tag_changes(desired, known[region])
            ddb = _client(self.ctx, region)
            arn = table_arn(region, self.ctx.account_id, self.name)
            if changes.put:
                ddb.tag_resource(ResourceArn=arn, Tags=_ddb_tags(changes.put))
            if changes.remove:
                ddb.untag_resource(ResourceArn=arn, TagKeys=changes.remove)
            known[region] = changes.applied_to(known[region])

    def wait_replica(self, region: str, *, gone: bool = False, policy: WaitPolicy | None = None) -> None:
        """Until the replica is ACTIVE (or gone); past the bound, the next reconcile carries on."""

        def settled() -> bool:
            self.absorb(self.ddb.describe_table(TableName=self.name)["Table"])
            state = self.observed.private.get("replicaStatus", {}).get(region)
            return state is None if gone else state == ACTIVE

        state = self.observed.private.get("replicaStatus", {}).get(region)
        if (state is None) if gone else (state == ACTIVE):
            return
        wait_until(settled, policy or self.kind.replica_wait, f"{self.what}: replica in {region}", "ReplicaNotActive")
        self.settled = False  # the table itself may still be finishing the change


# -- shapes --------------------------------------------------------------------------------------


def _observed(
    ctx: KindContext, key: str, kind: str, table: TableDescriptionTypeDef, tags: Mapping[str, str]
) -> Observed:
    """Properties, outputs and private state from a table description; PITR and TTL come apart."""
    name = table.get("TableName", "")
    sse = table.get("SSEDescription", {})
    stream = table.get("StreamSpecification", {})
    replicas = [r for r in table.get("Replicas", []) if r.get("RegionName") and r.get("RegionName") != ctx.region]
    replica_status = {str(r["RegionName"]): str(r.get("ReplicaStatus", "")) for r in replicas}
    properties: dict[str, Any] = {
        "tableName": name,
        "keySchema": _keys_from_aws(table.get("KeySchema", [])),
        "attributeDefinitions": _used_attributes(table),
        "billingMode": table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        "globalSecondaryIndexes": [_gsi_from_aws(g) for g in table.get("GlobalSecondaryIndexes", [])],
        "streamViewType": stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        "kmsKeyArn": sse.get("KMSMasterKeyArn")
        if sse.get("SSEType") == "KMS" and sse.get("Status") in ("ENABLED", "ENABLING", "UPDATING")
        else None,
        "deletionProtection": bool(table.get("DeletionProtectionEnabled", False)),
        "replicas": [
            {"regionName": r["RegionName"], "kmsKeyArn": r.get("KMSMasterKeyId")}
            for r in replicas
            if r.get("ReplicaStatus") not in REPLICA_GONE
        ],
    }
    arn = table.get("TableArn") or table_arn(ctx.region, ctx.account_id, name)
    outputs: dict[str, Any] = {
        "id": name,
        "name": name,
        "arn": arn,
        "streamArn": table.get("LatestStreamArn") if stream.get("StreamEnabled") else None,
        "replicas": dict(sorted(replica_status.items())),
    }
    private: dict[str, Any] = {"status": table.get("TableStatus"), "replicaStatus": replica_status}
    return Observed(key, kind, name, properties, dict(tags), outputs, private)


def _absorb_backups(observed: Observed, backups: ContinuousBackupsDescriptionTypeDef) -> None:
    status = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    observed.properties["pointInTimeRecovery"] = status == "ENABLED"


def _absorb_ttl(observed: Observed, ttl: TimeToLiveDescriptionTypeDef) -> None:
    status = ttl.get("TimeToLiveStatus", "DISABLED")
    observed.properties["ttlAttribute"] = ttl.get("AttributeName") if status in TTL_ON else None
    observed.private["ttlStatus"] = status


def _used_attributes(table: TableDescriptionTypeDef) -> list[dict[str, str]]:
    """The definitions of the attributes the keys use. AWS keeps only those; an emulator may keep
    definitions of a deleted index's keys, which must not read as drift nothing can repair."""
    used = {k["AttributeName"] for k in table.get("KeySchema", [])}
    for index in table.get("GlobalSecondaryIndexes", []):
        used |= {k["AttributeName"] for k in index.get("KeySchema", [])}
    return [
        {"attributeName": a["AttributeName"], "attributeType": a["AttributeType"]}
        for a in table.get("AttributeDefinitions", [])
        if a["AttributeName"] in used
    ]


def _keys_from_aws(keys: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [{"attributeName": str(k["AttributeName"]), "keyType": str(k["KeyType"])} for k in keys]


def _keys_to_aws(keys: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [{"AttributeName": k["attributeName"], "KeyType": k["keyType"]} for k in keys]


def _attributes_to_aws(attributes: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [{"AttributeName": a["attributeName"], "AttributeType": a["attributeType"]} for a in attributes]


def _gsi_from_aws(index: GlobalSecondaryIndexDescriptionTypeDef) -> dict[str, Any]:
    projection = index.get("Projection", {})
    return _canonical_gsi(
        {
            "indexName": index.get("IndexName", ""),
            "keySchema": _keys_from_aws(index.get("KeySchema", [])),
            "projectionType": projection.get("ProjectionType", "ALL"),
            "nonKeyAttributes": projection.get("NonKeyAttributes"),
        }
    )


def _canonical_gsi(index: Mapping[str, Any]) -> dict[str, Any]:
    """`nonKeyAttributes` only where there are some (INCLUDE projections), sorted."""
    canonical = {
        "indexName": index["indexName"],
        "keySchema": [dict(k) for k in index["keySchema"]],
        "projectionType": index.get("projectionType", "ALL"),
    }
    if index.get("nonKeyAttributes"):
        canonical["nonKeyAttributes"] = sorted(index["nonKeyAttributes"])
    return canonical


def _gsi_to_aws(index: Mapping[str, Any]) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": index.get("projectionType", "ALL")}
    if index.get("nonKeyAttributes"):
        projection["NonKeyAttributes"] = list(index["nonKeyAttributes"])
    return {"IndexName": index["indexName"], "KeySchema": _keys_to_aws(index["keySchema"]), "Projection": projection}


def _canonical(properties: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(properties)
    if isinstance(result.get("globalSecondaryIndexes"), list):
        result["globalSecondaryIndexes"] = [_canonical_gsi(g) for g in result["globalSecondaryIndexes"]]
    if isinstance(result.get("replicas"), list):
        result["replicas"] = [
            {"regionName": r["regionName"], "kmsKeyArn": r.get("kmsKeyArn")} for r in result["replicas"]
        ]
    return result


def _check(ctx: KindContext, desired: Desired[TableProps], what: str) -> None:
    """Specs AWS would reject halfway through, or that could never converge, are refused up front."""
    props = desired.properties
    used = {k["attributeName"] for k in props.get("keySchema", [])}
    for index in props.get("globalSecondaryIndexes") or []:
        used |= {k["attributeName"] for k in index["keySchema"]}
    defined = {a["attributeName"] for a in props.get("attributeDefinitions", [])}
    if "attributeDefinitions" in props and used != defined:
        raise TerminalError(
            "InvalidTableDefinition",
            f"{what}: attributeDefinitions must name exactly the attributes of the table's and its "
            f"indexes' keys ({', '.join(sorted(used))}), not {', '.join(sorted(defined)) or 'none'}",
        )
    if props.get("billingMode") not in (None, PAY_PER_REQUEST):
        raise TerminalError("UnsupportedBillingMode", f"{what}: only {PAY_PER_REQUEST} billing is supported")
    regions = [r["regionName"] for r in props.get("replicas") or []]
    if ctx.region in regions or len(set(regions)) != len(regions):
        raise TerminalError(
            "InvalidReplicas", f"{what}: replicas must name distinct regions other than the table's own ({ctx.region})"
        )
    if regions and not props.get("streamViewType"):
        raise TerminalError(
            "StreamRequired",
            f"{what}: a replicated table needs a stream (streamViewType {REPLICATED_STREAM}): AWS replicates "
            "through it, turns it on when the first replica is added and refuses to turn it off",
        )


# -- AWS helpers ---------------------------------------------------------------------------------


def _list_tags(ddb: DynamoDBClient, arn: str) -> dict[str, str]:
    """ListTagsOfResource has no paginator in botocore, but pages (moto: ten tags a page)."""
    tags: dict[str, str] = {}
    token: str | None = None
    while True:
        page = ddb.list_tags_of_resource(ResourceArn=arn, **({"NextToken": token} if token else {}))
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        token = page.get("NextToken")
        if not token:
            return tags


def _replica_tags_in(ctx: KindContext, region: str, name: str) -> dict[str, str] | None:
    try:
        return _list_tags(_client(ctx, region), table_arn(region, ctx.account_id, name))
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        return None  # not visible in its region yet: not compared, tagged later


def _active_replicas(observed: Observed) -> list[str]:
    return [region for region, status in sorted(observed.private.get("replicaStatus", {}).items()) if status == ACTIVE]


def _replica_tags(ctx: KindContext, observed: Observed) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for region in _active_replicas(observed):
        if (found := _replica_tags_in(ctx, region, observed.id)) is not None:
            tags[region] = found
    return tags


def _sse(key: str | None) -> SSESpecificationTypeDef:
    """Encryption with the customer managed key `key`, or with the AWS owned key (no charge)."""
    return {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key} if key else {"Enabled": False}


def _ddb_tags(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


@contextmanager
def _dynamodb_errors(what: str) -> Iterator[None]:
    """`aws_errors`, with DynamoDB's busy codes retried instead of reported as bad specs or quotas."""
    with aws_errors(what):
        try:
            yield
        except ClientError as exc:
            if error_code(exc) in DYNAMODB_BUSY:
                raise RetryableError(
                    "TableBusy",
                    f"{what}: {exc.operation_name} failed with {error_code(exc)}: {error_message(exc)}",
                    15.0,
                ) from exc
            raise


@contextmanager
def _ttl_cooldown(what: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        if error_code(exc) == "ValidationException" and "multiple times" in error_message(exc):
            raise RetryableError(
                "TimeToLiveCooldown", f"{what}: AWS allows one TTL change per hour or so; retrying later", 600.0
            ) from exc
        raise


def _client(ctx: KindContext, region: str | None = None) -> DynamoDBClient:
    client: DynamoDBClient = ctx.clients.client("dynamodb", region or ctx.region)
    return client
