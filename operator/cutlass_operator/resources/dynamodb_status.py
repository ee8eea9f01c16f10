"""Read-only questions about tables that other layers wait on or refer to (not a resource kind)."""

from __future__ import annotations

from collections.abc import Sequence

from botocore.exceptions import ClientError

from cutlass_operator.aws.fanout import each
from cutlass_operator.engine.resource import ClientFactory
from cutlass_operator.props.dynamodb import TableFacts
from cutlass_operator.resources.errors import aws_errors, is_not_found


def table_facts(clients: ClientFactory, region: str, names: Sequence[str]) -> dict[str, TableFacts]:
    """One DescribeTable per table, at once: its status, ARN and this region's stream (each replica has its own)."""
    dynamodb = clients.client("dynamodb", region=region)

    def facts(name: str) -> TableFacts:
        with aws_errors(f"describe table {name} in {region}"):
            try:
                table = dynamodb.describe_table(TableName=name)["Table"]
            except ClientError as exc:
                if not is_not_found(exc):
                    raise
                return TableFacts(None)
        return TableFacts(table["TableStatus"], table.get("TableArn"), table.get("LatestStreamArn"))

    return dict(zip(names, each(facts, names), strict=True))
