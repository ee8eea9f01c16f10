"""Read-only questions about tables that other layers wait on (not a resource kind)."""

from __future__ import annotations

from collections.abc import Sequence

from botocore.exceptions import ClientError

from cutlass_operator.engine.resource import ClientFactory
from cutlass_operator.resources.errors import aws_errors, is_not_found


def table_states(clients: ClientFactory, region: str, names: Sequence[str]) -> dict[str, str | None]:
    """Each table's status as seen in `region` (its replica outside the home region), None if absent."""
    dynamodb = clients.client("dynamodb", region=region)
    states: dict[str, str | None] = {}
    for name in names:
        with aws_errors(f"describe table {name} in {region}"):
            try:
                states[name] = dynamodb.describe_table(TableName=name)["Table"]["TableStatus"]
            except ClientError as exc:
                if not is_not_found(exc):
                    raise
                states[name] = None
    return states
