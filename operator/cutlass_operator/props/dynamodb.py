"""DynamoDB tables, plain and global (version 2019.11.21), and what other layers learn of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cutlass_operator.engine.resource import Props, Struct, unmanaged_when_none


@dataclass(frozen=True)
class KeyElement(Struct):
    attribute_name: str
    key_type: Literal["HASH", "RANGE"]


@dataclass(frozen=True)
class AttributeDefinition(Struct):
    attribute_name: str
    attribute_type: Literal["S", "N", "B"] = "S"


@dataclass(frozen=True)
class GlobalSecondaryIndex(Struct):
    """`non_key_attributes`: only for an `INCLUDE` projection."""

    index_name: str
    key_schema: tuple[KeyElement, ...]
    projection_type: Literal["ALL", "KEYS_ONLY", "INCLUDE"] = "ALL"
    non_key_attributes: tuple[str, ...] | None = unmanaged_when_none()


@dataclass(frozen=True)
class Replica(Struct):
    """A replica in another region; `kms_key_arn` is that region's key (None: the AWS owned key)."""

    region_name: str
    kms_key_arn: str | None = None


@dataclass(frozen=True)
class TableProps(Props):
    """`attribute_definitions` name exactly the attributes of the table's and its indexes' keys
    (all AWS keeps). `stream_view_type` None: no stream; `kms_key_arn` None: the AWS owned key;
    `ttl_attribute` None: no TTL. `replicas` are the regions other than the table's own.
    `prune_replicas` is a policy, not state: False (the Retain deletion policy) leaves a replica
    no longer desired alone; True removes it. The name must start with the layer's name prefix:
    tables are found by it."""

    kind = "dynamodb.table"

    table_name: str
    key_schema: tuple[KeyElement, ...]
    attribute_definitions: tuple[AttributeDefinition, ...]
    billing_mode: Literal["PAY_PER_REQUEST"] = "PAY_PER_REQUEST"
    global_secondary_indexes: tuple[GlobalSecondaryIndex, ...] = ()
    stream_view_type: Literal["NEW_AND_OLD_IMAGES", "NEW_IMAGE", "OLD_IMAGE", "KEYS_ONLY"] | None = None
    kms_key_arn: str | None = None
    point_in_time_recovery: bool = False
    ttl_attribute: str | None = None
    deletion_protection: bool = False
    replicas: tuple[Replica, ...] = ()
    prune_replicas: bool = False


@dataclass(frozen=True)
class TableFacts:
    """One table as seen in one region: its replica there, outside the table's home region."""

    status: str | None  # None: no table (or replica) in this region
    arn: str | None = None
    stream_arn: str | None = None
