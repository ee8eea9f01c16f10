"""The application's global tables (the seed's 100-data-layer), owned by the environment.

The design follows the access patterns of the functions that use the tables (see
docs/data-model.md for the full reasoning):

- credits: one item per organisation (`ORG#<org>`) and per user (`USER#<org>#<user>`), sort
  key `BALANCE`. A usage check debits the user's and the organisation's items and records
  the usage in one TransactWriteItems, each debit conditional on enough remaining credit.
  The stream (new and old images) lets the threshold monitor see a crossing as it happens;
  it marks crossed items with `alertBand`, which the sparse `by-alert-band` index lists.
- usage: one item per request under its organisation (`ORG#<org>`, sort key
  `<ISO time>#<request id>`), so "an organisation's usage for a period" is one Query with
  BETWEEN; `by-user` lists one user's usage the same way. Records expire through TTL.
- alerts: one item per (subject, period, threshold), written with attribute_not_exists, so a
  redelivered stream record never sends a second alert. Expires through TTL.

Every table is created in the primary region and replicated (version 2019.11.21) to every other
region of the environment, each replica encrypted with its own region's key. Global tables
require streams with new and old images on every replicated table, hence on all three.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cutlass_operator.api.environment import DeletionPolicy
from cutlass_operator.engine.resource import Desired, Observed, Scope
from cutlass_operator.layers.base import EnvironmentInputs
from cutlass_operator.props.dynamodb import AttributeDefinition, GlobalSecondaryIndex, KeyElement, Replica, TableProps

LAYER = "tables"
STREAM: Final = "NEW_AND_OLD_IMAGES"


@dataclass(frozen=True)
class TableDesign:
    component: str
    hash_key: str
    range_key: str
    indexes: tuple[tuple[str, str, str], ...] = ()  # (name, hash attribute, range attribute)
    ttl_attribute: str | None = None

    def attributes(self) -> tuple[AttributeDefinition, ...]:
        names = [self.hash_key, self.range_key] + [a for _, h, r in self.indexes for a in (h, r)]
        return tuple(AttributeDefinition(n, "S") for n in sorted(set(names)))


CREDITS = TableDesign("credits", "pk", "sk", indexes=(("by-alert-band", "alertBand", "pk"),))
USAGE = TableDesign("usage", "pk", "sk", indexes=(("by-user", "userKey", "sk"),), ttl_attribute="expiresAt")
ALERTS = TableDesign("alerts", "pk", "sk", ttl_attribute="expiresAt")
TABLES = (CREDITS, USAGE, ALERTS)


def table_name(environment: str, design: TableDesign) -> str:
    """`cutlass-tech-<component>-<env>`: the seed's name for the environment's global tables."""
    return f"cutlass-tech-{design.component}-{environment}"


def table_names(environment: str) -> list[str]:
    return [table_name(environment, design) for design in TABLES]


class TablesLayer:
    name = LAYER
    condition = "TablesReady"
    holds_data = True

    def kinds(self, inputs: EnvironmentInputs) -> Sequence[Scope]:
        return [Scope(TableProps, name_prefix="cutlass-tech-")]

    def desired(self, inputs: EnvironmentInputs) -> list[Desired[Any]]:
        """Tables in the primary region, replicated to each region whose key already exists.

        A region whose data layer has not made its key yet gets its replica on a later
        reconcile; the primary region's key is required (the workflow waits for it).
        """
        spec = inputs.environment
        primary = spec.primary_region
        replicas = tuple(
            Replica(region_name=region, kms_key_arn=key)
            for region, key in sorted(inputs.region_keys.items())
            if region != primary and key is not None
        )
        entries: list[Desired[Any]] = []
        for design in TABLES:
            key = f"{LAYER}/{design.component}"
            name = table_name(inputs.workspace.environment, design)
            props = TableProps(
                table_name=name,
                key_schema=(KeyElement(design.hash_key, "HASH"), KeyElement(design.range_key, "RANGE")),
                attribute_definitions=design.attributes(),
                billing_mode="PAY_PER_REQUEST",
                global_secondary_indexes=tuple(
                    GlobalSecondaryIndex(
                        index_name=index,
                        key_schema=(KeyElement(hash_key, "HASH"), KeyElement(range_key, "RANGE")),
                        projection_type="ALL",
                    )
                    for index, hash_key, range_key in design.indexes
                ),
                stream_view_type=STREAM,
                kms_key_arn=inputs.region_keys.get(primary),
                point_in_time_recovery=spec.data.point_in_time_recovery,
                ttl_attribute=design.ttl_attribute,
                deletion_protection=spec.effective_deletion_protection(),
                replicas=replicas,
                # Replicas hold the same data: protection and Retain keep them as they keep the table.
                prune_replicas=spec.effective_deletion_policy() == DeletionPolicy.DELETE
                and not spec.effective_deletion_protection(),
            )
            entries.append(Desired(key, props, name, inputs.workspace.tags(LAYER, key, name)))
        return entries

    def outputs(self, observed: Mapping[str, Observed]) -> dict[str, Any]:
        return {
            obs.outputs.get("name", obs.id): {
                "arn": obs.outputs.get("arn"),
                "streamArn": obs.outputs.get("streamArn"),
                "replicas": obs.outputs.get("replicas", {}),
            }
            for key, obs in sorted(observed.items())
            if key.startswith(f"{LAYER}/")
        }
