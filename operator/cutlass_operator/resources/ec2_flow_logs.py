"""VPC flow logs delivered to CloudWatch Logs.

EC2 cannot change a flow log in place, so `update` deletes it and creates it again: a flow log
holds no data (the log group does), and the gap is the few seconds between the two calls. Only
tags change in place.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind
from cutlass_operator.props.ec2 import FlowLogProps
from cutlass_operator.resources.ec2_common import describe_name, ec2_client, managed_tags, sync_tags
from cutlass_operator.resources.errors import aws_errors, tolerate_not_found
from cutlass_operator.resources.tags import key_of, selector_filters, tag_specifications

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import FlowLogTypeDef

RESOURCE_TYPES = {"vpc-": "VPC", "subnet-": "Subnet", "eni-": "NetworkInterface"}
# Properties whose change needs a new flow log; a tag change alone does not.
RECREATE = frozenset({"resourceId", "resourceType", "trafficType", "logGroupName", "deliverLogsPermissionArn"})


def _resource_type(resource_id: str) -> str:
    return next((kind for prefix, kind in RESOURCE_TYPES.items() if resource_id.startswith(prefix)), "VPC")


class FlowLogKind(ResourceKind[FlowLogProps]):
    props = FlowLogProps
    delete_rank = 90

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[FlowLogProps]]) -> list[Observed]:
        ec2 = ec2_client(ctx)
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind}"):
            for page in ec2.get_paginator("describe_flow_logs").paginate(Filters=selector_filters(ctx.selector)):
                for flow_log in page["FlowLogs"]:
                    tags = managed_tags(flow_log, ctx.selector)
                    if tags is not None:
                        found.append(_observed(self.kind, key_of(tags, flow_log["FlowLogId"]), flow_log, tags))
        return found

    def create(self, ctx: KindContext, desired: Desired[FlowLogProps]) -> Observed:
        ec2 = ec2_client(ctx)
        props = desired.properties
        what = f"create {self.kind} {desired.name}"
        # One token per call makes botocore's own retries idempotent. A token derived from the
        # properties would be replayed by a re-create after a delete (drift, or ALL -> REJECT -> ALL),
        # and the reply gives no state that would reveal the stale id. Tags cover crashes.
        token = uuid.uuid4().hex
        with aws_errors(what):
            response = ec2.create_flow_logs(
                ResourceIds=[props["resourceId"]],
                ResourceType=props["resourceType"],
                TrafficType=props["trafficType"],
                LogDestinationType="cloud-watch-logs",
                LogGroupName=props["logGroupName"],
                DeliverLogsPermissionArn=props["deliverLogsPermissionArn"],
                ClientToken=token,
                TagSpecifications=tag_specifications("vpc-flow-log", desired.tags),
            )
        for failure in response.get("Unsuccessful", []):
            error: Any = failure.get("Error", {})
            message = f"{what}: {error.get('Code')}: {error.get('Message')}"
            # IAM takes a few seconds to let EC2 assume a role created moments ago.
            if "role" in str(error.get("Message", "")).lower():
                raise RetryableError("FlowLogRoleNotReady", message, delay=15.0)
            raise TerminalError("FlowLogRejected", message)
        flow_log_id = response["FlowLogIds"][0]
        properties = {name: props[name] for name in sorted(RECREATE)}
        return Observed(desired.key, self.kind, flow_log_id, properties, dict(desired.tags), {"id": flow_log_id})

    def update(
        self, ctx: KindContext, desired: Desired[FlowLogProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        if any(d.path in RECREATE for d in diff):
            self.delete(ctx, observed)
            return self.create(ctx, desired)
        what = f"update {describe_name(self.kind, observed.tags, observed.id)}"
        observed.tags = sync_tags(ec2_client(ctx), observed.id, desired.tags, observed.tags, what)
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        ec2 = ec2_client(ctx)
        what = f"delete {describe_name(self.kind, observed.tags, observed.id)}"
        _delete(ec2, observed.id, what)


def _delete(ec2: EC2Client, flow_log_id: str, what: str) -> None:
    with aws_errors(what), tolerate_not_found():
        failures = ec2.delete_flow_logs(FlowLogIds=[flow_log_id]).get("Unsuccessful", [])
        errors: list[Any] = [f.get("Error", {}) for f in failures]
        errors = [e for e in errors if not str(e.get("Code", "")).endswith("NotFound")]
        if errors:
            raise RetryableError("FlowLogNotDeleted", f"{what}: {errors[0].get('Code')}: {errors[0].get('Message')}")


def _observed(kind: str, key: str, flow_log: FlowLogTypeDef, tags: dict[str, str]) -> Observed:
    flow_log_id = flow_log["FlowLogId"]
    resource_id = str(flow_log.get("ResourceId", ""))
    properties = {
        "resourceId": resource_id,
        "resourceType": _resource_type(resource_id),
        "trafficType": flow_log.get("TrafficType"),
        "logGroupName": flow_log.get("LogGroupName"),
        "deliverLogsPermissionArn": flow_log.get("DeliverLogsPermissionArn"),
    }
    private = {"deliverLogsStatus": flow_log.get("DeliverLogsStatus"), "error": flow_log.get("DeliverLogsErrorMessage")}
    return Observed(key, kind, flow_log_id, properties, tags, {"id": flow_log_id}, private)
