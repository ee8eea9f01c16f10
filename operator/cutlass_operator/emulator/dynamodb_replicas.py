"""DynamoDB global tables (version 2019.11.21) for the embedded AWS emulator.

Why: moto 5.2.5 accepts `UpdateTable` with `ReplicaUpdates` and ignores it (its handler never reads
the field), and `DescribeTable` never reports `Replicas`. The data layer replicates its tables from
the primary region to every other region, so without this module the emulator could not run it.
`install_global_tables()` patches moto's classes in this process (the emulator's server runs
in-process, so its backends are ours to extend); moto's files on disk are untouched and the product
only ever sees the DynamoDB API over HTTP.

The model: a global table is a group of moto `Table` objects, one per region of one account, that
share one item store (the same `Table.items` dict), so a write through any region's endpoint reads
back in every other at once (AWS takes about a second; the emulator has no lag). As in AWS, each
replica has its own ARN, stream, tags, point-in-time recovery and deletion protection, while the key
schema, attribute definitions, indexes, billing mode, throughput and TTL are group-wide: they are
copied when a replica is made and after every UpdateTable or UpdateTimeToLive on any member.

The rules enforced are AWS's as measured against the real service (the ack-api-quirks DynamoDB
findings DDB-TABLE-203/221-228/265-267/297/305/309/313, verified 2026-10-09, and scylladb's
test/alternator/test_global_tables.py, run against AWS), with AWS's own error texts:
- `ReplicaUpdates` must be the only change in the request; one Create or Delete per call (identical
  actions are de-duplicated); an action names a region DynamoDB supports, never the table's own.
- Create: no table of that name may exist in the target region (a replica or not); a PROVISIONED
  table needs write autoscaling (target and policy) on the table and each GSI. There is NO stream
  prerequisite: a table without a stream gets NEW_AND_OLD_IMAGES, an existing stream of any view
  type is kept. A table encrypted with a customer managed key needs a `KMSMasterKeyId` per replica,
  resolved in the replica's region and reported as that key's ARN; AWS managed and customer managed
  keys do not mix; a table with the AWS owned key takes no replica key.
- Update and Delete name a current replica. `Update` cannot change the replica's key (AWS rejects
  `KMSMasterKeyId` there unconditionally); its other overrides are accepted and not modelled.
- While replicated, a member's stream cannot be disabled.
- Delete: a replica with deletion protection refuses; a region that was the endpoint adding a replica
  that still exists (within 24 hours) cannot be deleted, by ReplicaUpdates or DeleteTable, until that
  replica is gone, so a global table is torn down leaf first; DeleteTable on any other replica
  removes it from the group. The last member left is a regional table again (its stream stays).
- DescribeTable in any member's region lists every OTHER region in `Replicas` (AWS's order: the
  order they joined) with `GlobalTableVersion`; the UpdateTable response echoes the table as the call
  found it (`TableStatus` UPDATING, the replica list before the change), as AWS's does.

Not modelled: replica status transitions (ACTIVE at once; `SETTINGS.replica_creating_describes`
makes a new replica read CREATING for that many DescribeTable calls), replication lag, write
conflicts, per-replica throughput and table class overrides, streams carrying other regions' writes.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.dynamodb.exceptions import MockValidationException, ResourceNotFoundException
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.kms.models import Key, kms_backends

GLOBAL_TABLE_VERSION = "2019.11.21"
# AWS keeps a region that added a replica from being deleted for this long (DDB-TABLE-266/267).
SOURCE_REGION_HOLD = timedelta(hours=24)
_AWS_MANAGED_ALIAS = "alias/aws/dynamodb"


@dataclass
class GlobalTablesSettings:
    """Test knobs. The defaults suit product tests: a replica is ACTIVE as soon as it is added."""

    replica_creating_describes: int = 0


SETTINGS = GlobalTablesSettings()


@dataclass
class _Member:
    table: Table  # this region's copy
    source_region: str | None  # the endpoint that added this replica; None for the table the group grew from
    joined: datetime
    creating_describes: int = 0


@dataclass
class _GlobalTable:
    account_id: str
    name: str
    members: dict[str, _Member] = field(default_factory=dict)  # region -> member, in the order they joined


# Kept outside moto's objects on purpose: moto deep-copies a Table to roll back a failed transaction,
# which must not drag the group (and through it every region's table) along.
_GROUPS: dict[tuple[str, str, str], _GlobalTable] = {}  # (account, region, table name) -> its group
_LOCK = threading.RLock()  # the moto server answers each request in its own thread
_INSTALLED = threading.Event()

# moto's own implementations, taken before install_global_tables() replaces them.
_moto_update_table = DynamoHandler.update_table
_moto_delete_table = DynamoDBBackend.delete_table
_moto_transact_write_items = DynamoDBBackend.transact_write_items
_moto_update_time_to_live = DynamoDBBackend.update_time_to_live
_moto_describe = Table.describe


def install_global_tables() -> None:
    """Patch moto (in this process) to emulate global tables; calling it again changes nothing."""
    with _LOCK:
        if _INSTALLED.is_set():
            return
        # moto 5.2.5 gap: the handler drops ReplicaUpdates before its backend sees the request.
        DynamoHandler.update_table = _update_table  # type: ignore[method-assign]
        # moto 5.2.5 gap: DeleteTable knows nothing of the replicas a table belongs to.
        DynamoDBBackend.delete_table = _delete_table  # type: ignore[method-assign]
        # moto 5.2.5 gap: a failed transaction restores deep copies, which would stop the regions sharing items.
        DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
        # moto 5.2.5 gap: TTL is group-wide in AWS, per table in moto.
        DynamoDBBackend.update_time_to_live = _update_time_to_live  # type: ignore[method-assign]
        # moto 5.2.5 gap: DescribeTable (and every response carrying a TableDescription) lacks Replicas.
        Table.describe = _describe  # type: ignore[method-assign]
        _INSTALLED.set()


# --- the group registry ---------------------------------------------------------------------------


def _backend(account_id: str, region: str) -> DynamoDBBackend:
    return dynamodb_backends[account_id][region]


def _group_of(table: Table) -> _GlobalTable | None:
    """The global table `table` is a live member of, after dropping members deleted or reset behind our back."""
    group = _GROUPS.get((table.account_id, table.region_name, table.name))
    if group is None:
        return None
    for region, member in list(group.members.items()):
        if _backend(group.account_id, region).tables.get(group.name) is not member.table:
            _leave(group, region)
    own = group.members.get(table.region_name)
    return group if own is not None and own.table is table else None


def _join(group: _GlobalTable, region: str, member: _Member) -> None:
    group.members[region] = member
    _GROUPS[(group.account_id, region, group.name)] = group


def _leave(group: _GlobalTable, region: str) -> None:
    group.members.pop(region, None)
    _GROUPS.pop((group.account_id, region, group.name), None)
    if len(group.members) == 1:  # alone, the last member is a regional table again
        _leave(group, next(iter(group.members)))


def _replica_entries(table: Table, group: _GlobalTable, *, consume: bool) -> list[dict[str, Any]]:
    entries = []
    for region, member in group.members.items():
        if region == table.region_name:
            continue
        status = "ACTIVE"
        if member.creating_describes > 0:
            status = "CREATING"
            if consume:
                member.creating_describes -= 1
        entry: dict[str, Any] = {"RegionName": region, "ReplicaStatus": status}
        if key := _sse_key(member.table):
            entry["KMSMasterKeyId"] = key
        entries.append(entry)
    return entries


def _copy_group_settings(group: _GlobalTable, source: Table) -> None:
    """Apply the settings AWS replicates group-wide from `source` to the other members."""
    for member in group.members.values():
        if member.table is source:
            continue
        member.table.attr = copy.deepcopy(source.attr)
        member.table.global_indexes = list(source.global_indexes)  # index definitions hold no items
        member.table.billing_mode = source.billing_mode
        member.table.throughput = dict(source.throughput)
        member.table.ttl = dict(source.ttl)


# --- errors, in AWS's words ---------------------------------------------------------------------


def _invalid(message: str) -> MockValidationException:
    return MockValidationException(f"One or more parameter values were invalid: {message}")


def _not_members(region: str) -> MockValidationException:
    return MockValidationException(
        "Update global table operation failed because one or more replicas were not part of the global table. "
        f"Please retry the request without these replicas: [{region}]."
    )


def _check_not_a_recent_source(group: _GlobalTable, region: str) -> None:
    now = datetime.now(UTC)
    if any(m.source_region == region and now - m.joined < SOURCE_REGION_HOLD for m in group.members.values()):
        raise MockValidationException(
            "Replica cannot be deleted because it has acted as a source region for new replica(s) "
            "being added to the table in the last 24 hours."
        )


def _check_not_protected(table: Table) -> None:
    if table.deletion_protection_enabled:
        raise MockValidationException(
            f"Cannot delete table {table.name} in region {table.region_name} because it has deletion "
            "protection enabled. Disable deletion protection first."
        )


# --- UpdateTable ------------------------------------------------------------------------------------


def _update_table(self: DynamoHandler) -> ActionResult:
    with _LOCK:
        if "ReplicaUpdates" in self.body:
            return _apply_replica_updates(self)
        try:
            table = self.dynamodb_backend.get_table(self.body["TableName"])
        except ResourceNotFoundException:
            return _moto_update_table(self)  # moto answers for the missing table
        group = _group_of(table)
        stream = self.body.get("StreamSpecification")
        if group is not None and stream is not None and not stream.get("StreamEnabled"):
            raise _invalid("Disabling Stream is not allowed for a Global Table replica.")
        result = _moto_update_table(self)
        if group is not None:
            _copy_group_settings(group, table)
        return result


def _apply_replica_updates(handler: DynamoHandler) -> ActionResult:
    body = handler.body
    if set(body) - {"TableName", "ReplicaUpdates"}:
        raise _invalid("Replica modification must be the only operation in the request")
    actions = _parse_actions(body["ReplicaUpdates"])
    table = handler.dynamodb_backend.get_table(body["TableName"])
    group = _group_of(table)
    found = _replica_entries(table, group, consume=False) if group is not None else []
    for kind, params in actions:
        region = params.get("RegionName", "")
        if region not in dynamodb_backends[table.account_id].regions:
            raise MockValidationException(
                f"Region {region} is not supported. The latest version of global tables are only supported "
                f"in the following regions: [{', '.join(sorted(dynamodb_backends[table.account_id].regions))}]."
            )
        if region == table.region_name:
            raise MockValidationException(
                "Cannot add or delete the local region through ReplicaUpdates. "
                "Use CreateTable, DeleteTable, or UpdateTable as required."
            )
        if kind == "Create":
            _create_replica(table, region, params.get("KMSMasterKeyId"))
        elif kind == "Delete":
            _delete_replica(table, region)
        else:
            _update_replica(table, region, params)
    # AWS answers before acting: UPDATING, and the replicas as they were (a new one is listed ~6 s later).
    result = table.describe()
    description = result["TableDescription"]
    description.update(TableStatus="UPDATING", Replicas=found, GlobalTableVersion=GLOBAL_TABLE_VERSION)
    return DynamoResult(result)


def _parse_actions(updates: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    actions: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for update in updates:
        kinds = [kind for kind in ("Create", "Update", "Delete") if update.get(kind) is not None]
        if len(kinds) > 1:
            raise MockValidationException(
                "Update table operation with more than one type of replica actions not allowed"
            )
        if not kinds:
            raise MockValidationException("There are no actions specified in the Replica Update Action of the request.")
        signature = json.dumps(update, sort_keys=True, default=str)
        if signature not in seen:  # AWS accepts the same action twice and performs it once
            seen.add(signature)
            actions.append((kinds[0], update[kinds[0]]))
    if sum(kind != "Update" for kind, _ in actions) > 1:
        raise MockValidationException(
            "Update table operation with more than one create or delete replica actions not allowed"
        )
    return actions


def _create_replica(source: Table, region: str, key_id: str | None) -> None:
    account, name = source.account_id, source.name
    target = _backend(account, region)
    if name in target.tables:
        raise MockValidationException(
            f"Failed to create a the new replica of table with name: '{name}' because one or more replicas "
            "already existed as tables."
        )
    _check_write_autoscaling(source)
    sse = _replica_sse(source, region, key_id)
    if not (source.stream_specification or {}).get("StreamEnabled"):
        # AWS turns the stream on itself (with a new label) and leaves it on after the last replica goes.
        source.set_stream_specification({"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    throughput = source.throughput if source.billing_mode != "PAY_PER_REQUEST" else None
    replica = target.create_table(
        name,
        schema=copy.deepcopy(source.schema),
        throughput={k: throughput[k] for k in ("ReadCapacityUnits", "WriteCapacityUnits")} if throughput else None,
        attr=copy.deepcopy(source.attr),
        global_indexes=None,
        indexes=None,
        streams=dict(source.stream_specification or {}),  # the same view type, on the replica's own stream
        billing_mode=source.billing_mode or "PROVISIONED",
        sse_specification=sse,
        tags=[],  # tags stay per region
        deletion_protection_enabled=False,  # so does deletion protection
        warm_throughput=dict(source.warm_throughput),
    )
    replica.indexes = list(source.indexes)
    replica.global_indexes = list(source.global_indexes)
    replica.ttl = dict(source.ttl)
    replica.items = source.items  # the one item store every region reads and writes
    group = _group_of(source) or _GlobalTable(account, name)
    now = datetime.now(UTC)
    if not group.members:
        _join(group, source.region_name, _Member(source, None, now))
    _join(group, region, _Member(replica, source.region_name, now, SETTINGS.replica_creating_describes))


def _delete_replica(table: Table, region: str) -> None:
    group = _group_of(table)
    if group is None or region not in group.members:
        raise _not_members(region)
    _backend(table.account_id, region).delete_table(table.name)  # the patched DeleteTable applies AWS's rules


def _update_replica(table: Table, region: str, params: dict[str, Any]) -> None:
    group = _group_of(table)
    if group is None or region not in group.members:
        raise _not_members(region)
    if "KMSMasterKeyId" in params:  # a replica's key is fixed at creation (DDB-TABLE-309)
        raise _invalid("KMSMasterKeyId must be specified for each replica.")
    if not set(params) - {"RegionName"}:
        raise MockValidationException("There are no actions specified in the Replica Update Action of the request.")


def _check_write_autoscaling(table: Table) -> None:
    """AWS replicates a PROVISIONED table only once its writes autoscale (a target AND a policy)."""
    if table.billing_mode == "PAY_PER_REQUEST":
        return
    scaling = applicationautoscaling_backends[table.account_id][table.region_name]

    def autoscaled(resource_id: str, dimension: str) -> bool:
        return resource_id in scaling.targets.get(dimension, {}) and any(
            p.resource_id == resource_id and p.scalable_dimension == dimension for p in scaling.policies.values()
        )

    if not autoscaled(f"table/{table.name}", "dynamodb:table:WriteCapacityUnits"):
        raise MockValidationException("Table write capacity should either be Pay-Per-Request or AutoScaled.")
    for index in table.global_indexes:
        if not autoscaled(f"table/{table.name}/index/{index.name}", "dynamodb:index:WriteCapacityUnits"):
            raise MockValidationException("GSI write capacity should either be Pay-Per-Request or AutoScaled.")


# --- encryption ---------------------------------------------------------------------------------


def _sse_key(table: Table) -> str | None:
    sse = table.sse_specification
    return sse.get("KMSMasterKeyId") if sse and sse.get("Enabled") is True else None


def _kms_key(account_id: str, region: str, key_id: str) -> Key | None:
    """The KMS key `key_id` (id, ARN, alias or alias ARN) names in `region`, or None."""
    if key_id.startswith("arn:") and key_id.split(":")[3] != region:
        return None  # another region's ARN never names a key here (not even a multi-region key's)
    try:
        return kms_backends[account_id][region].describe_key(key_id)
    except (KeyError, AttributeError, JsonRESTError):  # moto's ways of saying "no such key or alias"
        return None


def _aws_managed(account_id: str, region: str, key: Key) -> bool:
    kms = kms_backends[account_id][region]
    return any(_AWS_MANAGED_ALIAS in k.aliases and k.id == key.id for k in kms.keys.values())


def _replica_sse(source: Table, region: str, key_id: str | None) -> dict[str, Any] | None:
    """The replica's SSESpecification: its own region's key, of the same kind as the source's."""
    account = source.account_id
    source_key_id = _sse_key(source)
    if source_key_id is None:  # the AWS owned key: nothing to choose
        if key_id is not None:
            raise _invalid("KMSMasterKeyId must be specified for each replica.")
        return None
    source_key = _kms_key(account, source.region_name, source_key_id)
    source_aws_managed = source_key is not None and _aws_managed(account, source.region_name, source_key)
    if key_id is None:
        if not source_aws_managed:
            raise _invalid("KMSMasterKeyId must be specified for each replica.")
        return {"Enabled": True, "SSEType": "KMS"}  # moto fills in the region's aws/dynamodb key
    key = _kms_key(account, region, key_id)
    if key is None:
        raise MockValidationException(
            f"KMS validation error for region {region}: com.amazonaws.services.kms.model.NotFoundException: "
            f"Key '{key_id}' does not exist"
        )
    if key.key_state != "Enabled":
        raise MockValidationException(
            "Operation cannot be performed while replica server-side encryption status is in UPDATING state. "
            "Please retry the request after the status is updated to ENABLED."
        )
    if _aws_managed(account, region, key) != source_aws_managed:
        raise _invalid("All replica keys must either be Customer Managed CMK or AWS Managed CMK.")
    return {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key.arn}


# --- DeleteTable, transactions, TTL, DescribeTable ------------------------------------------------


def _delete_table(self: DynamoDBBackend, name: str) -> Table:
    with _LOCK:
        table = self.get_table(name)
        group = _group_of(table)
        if group is not None:
            _check_not_protected(table)
            _check_not_a_recent_source(group, table.region_name)
        deleted = _moto_delete_table(self, name)
        if group is not None:
            _leave(group, table.region_name)
        return deleted


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    tables = dict(self.tables)
    with _LOCK:
        shared = {name: t for name, t in tables.items() if _group_of(t) is not None}
    records = {name: len(t.stream_shard.items) for name, t in shared.items() if t.stream_shard is not None}
    try:
        return _moto_transact_write_items(self, transact_items)
    except Exception:
        # moto rolled back by swapping in deep copies taken before the transaction. Put the members
        # back and restore the shared store in place, so every region sees the rollback.
        for name, table in shared.items():
            restored = self.tables.get(name)
            if restored is not None and restored is not table:
                table.items.clear()
                table.items.update(restored.items)
                if table.stream_shard is not None and name in records:
                    del table.stream_shard.items[records[name] :]
                self.tables[name] = table
        raise


def _update_time_to_live(self: DynamoDBBackend, table_name: str, ttl_spec: dict[str, Any]) -> None:
    with _LOCK:
        result = _moto_update_time_to_live(self, table_name, ttl_spec)
        table = self.get_table(table_name)
        if (group := _group_of(table)) is not None:
            _copy_group_settings(group, table)
        return result


def _describe(self: Table, base_key: str = "TableDescription") -> dict[str, Any]:
    result = _moto_describe(self, base_key=base_key)
    with _LOCK:
        group = _group_of(self)
        if group is not None:
            result[base_key]["Replicas"] = _replica_entries(self, group, consume=base_key == "Table")
            result[base_key]["GlobalTableVersion"] = GLOBAL_TABLE_VERSION
    return result
