"""What every EC2 kind shares: the client, finding managed resources, tag updates, client tokens."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cutlass_operator.engine.resource import KindContext
from cutlass_operator.resources.errors import aws_errors
from cutlass_operator.resources.tags import from_aws, matches, tag_changes, to_aws

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client


def ec2_client(ctx: KindContext) -> EC2Client:
    client: EC2Client = ctx.clients.client("ec2", ctx.region)
    return client


def managed_tags(item: Mapping[str, Any], selector: Mapping[str, str]) -> dict[str, str] | None:
    """The item's tags when it belongs to the workspace, else None."""
    tags = from_aws(item.get("Tags"))
    return tags if matches(tags, selector) else None


def sync_tags(
    ec2: EC2Client, resource_id: str, desired: Mapping[str, str], observed: Mapping[str, str], what: str
) -> dict[str, str]:
    """Write only the tags that differ; returns the resource's tags afterwards."""
    changes = tag_changes(desired, observed)
    with aws_errors(f"tag {what}"):
        if changes.put:
            ec2.create_tags(Resources=[resource_id], Tags=to_aws(changes.put))
        if changes.remove:
            ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": key} for key in changes.remove])
    return changes.applied_to(observed)


def client_token(*parts: str) -> str:
    """An idempotency token stable across retries of the same create (EC2 allows 64 characters)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:48]


def describe_name(kind: str, tags: Mapping[str, str], resource_id: str) -> str:
    name = tags.get("Name")
    return f"{kind} {name} ({resource_id})" if name else f"{kind} {resource_id}"
