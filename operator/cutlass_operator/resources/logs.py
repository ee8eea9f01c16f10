"""CloudWatch Logs log groups, named deterministically and found by name prefix. The name cannot
change in place. Outputs: `id` and `name` (the name), `arn` (without the trailing `:*`) and
`streamsArn` (with it).

DescribeLogGroups has no tag filter and does not return tags, so observe makes two reads whatever
the number of groups: the tagging API's GetResources gives the workspace's groups with their tags
(the selector decides which are ours; the key tag names the entry), and DescribeLogGroups by the
kind's name prefix (its family: `/aws/vpc/flowlogs/`, `/aws/lambda/`...) their retention. A group
of the family that the tagging API does not list is not ours, or not tagged yet: a create that
finds it adopts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.engine.arns import log_group_arn
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind
from cutlass_operator.props.logs import LogGroupProps
from cutlass_operator.resources.errors import aws_errors, error_code, tolerate_not_found
from cutlass_operator.resources.tags import key_of, tag_changes, tagged_resources

if TYPE_CHECKING:
    from mypy_boto3_logs.client import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import LogGroupTypeDef


def _arn(group: LogGroupTypeDef) -> str:
    return str(group.get("logGroupArn") or str(group.get("arn", "")).removesuffix(":*"))


class LogGroupKind(ResourceKind[LogGroupProps]):
    props = LogGroupProps
    delete_rank = 50
    immutable = frozenset({"logGroupName"})

    def __init__(self, name_prefix: str = "", orphan_scope: str = "") -> None:
        if not name_prefix:
            raise ValueError("a log group kind needs a name prefix: it describes its family of groups by it")
        super().__init__(name_prefix, orphan_scope)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[LogGroupProps]]) -> list[Observed]:
        logs = _client(ctx)
        for d in desired:
            if not str(d.properties["logGroupName"]).startswith(self.name_prefix):
                raise ValueError(f"{d.key}: log group {d.properties['logGroupName']} is outside {self.name_prefix}")
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind} {self.name_prefix}*"):
            tagged = tagged_resources(ctx, "logs:log-group")
            if not tagged:
                return found
            pages = logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=self.name_prefix)
            for page in pages:
                for group in page.get("logGroups", []):
                    tags = tagged.get(_arn(group))
                    if tags is not None:
                        found.append(self._observed(key_of(tags, group["logGroupName"]), group, tags))
        return found

    def create(self, ctx: KindContext, desired: Desired[LogGroupProps]) -> Observed:
        logs = _client(ctx)
        name = str(desired.properties["logGroupName"])
        observed = Observed(
            desired.key,
            self.kind,
            name,
            {"logGroupName": name, "retentionInDays": None},
            dict(desired.tags),
            _outputs(name, log_group_arn(ctx.region, ctx.account_id, name)),
        )
        with aws_errors(f"create {self.kind} {name}"):
            try:
                logs.create_log_group(logGroupName=name, tags=dict(desired.tags))
            except ClientError as exc:
                # The name is ours by construction (it carries the workspace). Services create some
                # groups on first use (Lambda does): adopt the group, so update gives it our tags.
                if error_code(exc) != "ResourceAlreadyExistsException":
                    raise
                observed.tags = {}
        return self.update(ctx, desired, observed, self.compare(desired, observed))

    def update(
        self, ctx: KindContext, desired: Desired[LogGroupProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        logs = _client(ctx)
        name = observed.id
        what = f"update {self.kind} {name}"
        retention = desired.properties.get("retentionInDays")
        with aws_errors(what):
            if "retentionInDays" in desired.properties and retention != observed.properties.get("retentionInDays"):
                if retention is None:
                    logs.delete_retention_policy(logGroupName=name)
                else:
                    logs.put_retention_policy(logGroupName=name, retentionInDays=int(retention))
                observed.properties["retentionInDays"] = retention
            changes = tag_changes(desired.tags, observed.tags)
            if changes.put:
                logs.tag_resource(resourceArn=observed.outputs["arn"], tags=changes.put)
            if changes.remove:
                logs.untag_resource(resourceArn=observed.outputs["arn"], tagKeys=changes.remove)
        observed.tags = changes.applied_to(observed.tags)
        observed.key = desired.key
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        logs = _client(ctx)
        with aws_errors(f"delete {self.kind} {observed.id}"), tolerate_not_found():
            logs.delete_log_group(logGroupName=observed.id)

    def _observed(self, key: str, group: LogGroupTypeDef, tags: dict[str, str]) -> Observed:
        name = group["logGroupName"]
        properties: dict[str, Any] = {"logGroupName": name, "retentionInDays": group.get("retentionInDays")}
        return Observed(key, self.kind, name, properties, dict(tags), _outputs(name, _arn(group)))


def _outputs(name: str, arn: str) -> dict[str, str]:
    # IAM policies name the group by its ARN and its streams by the ARN with `:*`.
    return {"id": name, "name": name, "arn": arn, "streamsArn": f"{arn}:*"}


def _client(ctx: KindContext) -> CloudWatchLogsClient:
    client: CloudWatchLogsClient = ctx.clients.client("logs", ctx.region)
    return client
