"""CloudWatch metric alarms, identified by a name prefix that carries the workspace.

The properties are `AlarmProps`; `alarmName` is immutable and must start with the kind's
`name_prefix`. Outputs: `id` and `name` (the alarm name), `arn` and `state`
(`OK`, `ALARM` or `INSUFFICIENT_DATA`).

Identity. The kind owns one family of names, its `name_prefix` (e.g. `cutlass-tech-dev-london-`),
so observe is one DescribeAlarms with `AlarmNamePrefix` and only metric alarms, paginated at 100 a
page: a no-op resync reads once for up to 100 alarms. An alarm in the family that no desired entry
names is reported as an orphan under `orphan_scope` (the layer's key prefix), so the engine deletes
it. Alarms carry tags, but DescribeAlarms does not return them and reading them costs one
ListTagsForResource per alarm, so identity does not rest on them and only the properties are
compared.

Create and update are both PutMetricAlarm, which replaces the whole definition of an alarm of that
name (settings this kind does not manage, such as OK actions, are reset). Tags go with the create;
PutMetricAlarm ignores them for an alarm that exists already, so an update applies them again with
TagResource (tags are never removed: they are not read). Neither reads the alarm back: the ARN is
built from the name, a new alarm reports `INSUFFICIENT_DATA` (where AWS starts it) and an updated
one keeps the state observed (AWS leaves it). Delete is DeleteAlarms; an alarm that is already gone
is what was wanted. Retain leaves the alarm as it is.

moto 5.2.5 gaps (the kind does not depend on them): a new alarm starts in `OK` rather than
`INSUFFICIENT_DATA`; DeleteAlarms of an unknown name succeeds (AWS answers ResourceNotFound); tags
outlive a deleted alarm, so a new alarm of the same name inherits them; DescribeAlarms ignores
`AlarmTypes` and never pages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.engine.arns import partition
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind, normalise
from cutlass_operator.props.cloudwatch import AlarmProps
from cutlass_operator.resources.errors import aws_errors, is_not_found

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricAlarmTypeDef, PutMetricAlarmInputTypeDef, TagTypeDef


class AlarmKind(ResourceKind[AlarmProps]):
    props = AlarmProps
    # Alarms go first: they point at functions and topics, nothing points at them.
    delete_rank = 95
    immutable = frozenset({"alarmName"})

    def __init__(self, name_prefix: str = "", orphan_scope: str = "") -> None:
        if not name_prefix:
            raise ValueError("an alarm kind needs a name prefix that carries its workspace: identity is by name")
        super().__init__(name_prefix, orphan_scope)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[AlarmProps]]) -> list[Observed]:
        cloudwatch = _client(ctx)
        keys = {self._name(d): d.key for d in desired}
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind} {self.name_prefix}*"):
            pages = cloudwatch.get_paginator("describe_alarms").paginate(
                AlarmNamePrefix=self.name_prefix, AlarmTypes=["MetricAlarm"], PaginationConfig={"PageSize": 100}
            )
            for page in pages:
                for alarm in page.get("MetricAlarms", []):
                    name = alarm.get("AlarmName", "")
                    if name.startswith(self.name_prefix):  # the prefix filter is checked, not trusted
                        key = keys.get(name) or f"{self.orphan_scope}(untracked {name})"
                        found.append(self._observed(key, alarm))
        return sorted(found, key=lambda o: o.id)

    def create(self, ctx: KindContext, desired: Desired[AlarmProps]) -> Observed:
        # A new alarm has no data yet; the state comes from the next observe.
        return self._put(ctx, desired, "create", "INSUFFICIENT_DATA")

    def update(
        self, ctx: KindContext, desired: Desired[AlarmProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        # AWS keeps an alarm's state when its definition is replaced.
        result = self._put(ctx, desired, "update", observed.outputs.get("state"))
        if desired.tags:
            with aws_errors(f"update {self.kind} {observed.id}"):
                _client(ctx).tag_resource(ResourceARN=result.outputs["arn"], Tags=_tags(desired.tags))
        return result

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        with aws_errors(f"delete {self.kind} {observed.id}"):
            try:
                _client(ctx).delete_alarms(AlarmNames=[observed.id])
            except ClientError as exc:
                if not is_not_found(exc):
                    raise

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        """Identity is by name, not by tags, so there is nothing to remove: the alarm stays as it is."""

    def compare(self, desired: Desired[AlarmProps], observed: Observed) -> list[FieldDiff]:
        """Properties only (tags are not read); numbers compare by value, so 80 and 80.0 agree."""
        return [
            FieldDiff(name, observed.properties.get(name), want)
            for name, want in sorted(desired.properties.items())
            if _comparable(name, observed.properties.get(name)) != _comparable(name, want)
        ]

    def _name(self, desired: Desired[AlarmProps]) -> str:
        name = str(desired.properties["alarmName"])
        if not name.startswith(self.name_prefix):
            raise ValueError(f"{desired.key}: alarm {name} is outside {self.name_prefix}, where observe looks")
        return name

    def _put(self, ctx: KindContext, desired: Desired[AlarmProps], action: str, state: str | None) -> Observed:
        name = self._name(desired)
        request = _alarm_request(name, desired.properties)
        if desired.tags:
            request["Tags"] = _tags(desired.tags)
        with aws_errors(f"{action} {self.kind} {name}"):
            _client(ctx).put_metric_alarm(**request)
        # PutMetricAlarm answers nothing; the ARN is deterministic, so no read is needed.
        arn = f"arn:{partition(ctx.region)}:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{name}"
        outputs = {"id": name, "name": name, "arn": arn, "state": state}
        return Observed(desired.key, self.kind, name, dict(desired.properties), {}, outputs)

    def _observed(self, key: str, alarm: MetricAlarmTypeDef) -> Observed:
        name = alarm["AlarmName"]
        threshold = alarm.get("Threshold")
        properties: dict[str, Any] = {
            "alarmName": name,
            "description": alarm.get("AlarmDescription") or None,
            "namespace": alarm.get("Namespace"),
            "metricName": alarm.get("MetricName"),
            "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
            "statistic": alarm.get("Statistic"),
            "period": alarm.get("Period"),
            "evaluationPeriods": alarm.get("EvaluationPeriods"),
            "datapointsToAlarm": alarm.get("DatapointsToAlarm"),
            "threshold": float(threshold) if threshold is not None else None,
            "comparisonOperator": alarm.get("ComparisonOperator"),
            "treatMissingData": alarm.get("TreatMissingData"),
            "alarmActions": list(alarm.get("AlarmActions", [])),
        }
        outputs = {"id": name, "name": name, "arn": alarm.get("AlarmArn"), "state": alarm.get("StateValue")}
        return Observed(key, self.kind, name, properties, {}, outputs)


def _alarm_request(name: str, props: Mapping[str, Any]) -> PutMetricAlarmInputTypeDef:
    request: PutMetricAlarmInputTypeDef = {
        "AlarmName": name,
        "Namespace": str(props["namespace"]),
        "MetricName": str(props["metricName"]),
        "Statistic": props["statistic"],
        "Period": int(props["period"]),
        "EvaluationPeriods": int(props["evaluationPeriods"]),
        "Threshold": float(props["threshold"]),
        "ComparisonOperator": props["comparisonOperator"],
        "Dimensions": [{"Name": str(k), "Value": str(v)} for k, v in sorted((props.get("dimensions") or {}).items())],
        # PutMetricAlarm replaces the definition: an empty list is how actions are removed.
        "AlarmActions": [str(arn) for arn in props.get("alarmActions") or []],
    }
    if props.get("description") is not None:
        request["AlarmDescription"] = str(props["description"])
    if props.get("datapointsToAlarm") is not None:
        request["DatapointsToAlarm"] = int(props["datapointsToAlarm"])
    if props.get("treatMissingData") is not None:
        request["TreatMissingData"] = str(props["treatMissingData"])
    return request


def _comparable(name: str, value: Any) -> Any:
    if name == "threshold" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if name == "dimensions" and value is None:
        return {}
    if name == "alarmActions" and value is None:
        return []
    return normalise(value)


def _tags(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _client(ctx: KindContext) -> CloudWatchClient:
    client: CloudWatchClient = ctx.clients.client("cloudwatch", ctx.region)
    return client
