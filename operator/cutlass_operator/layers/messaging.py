"""The seed's 400-messaging: what carries a threshold alert from the threshold monitor to an inbox.

- The notifications queue, which the threshold monitor writes to and the notifier consumes, and
  its dead-letter queue, where a message lands after `spec.notifications.maxReceiveCount`
  failed deliveries. Both are encrypted with the region's data key. The visibility timeout is
  six times the notifier's timeout, as Lambda asks of an SQS event source, so a message is not
  delivered again while a slow batch is still being handled.
- The sender's SES identity (v1 API) in this region: SES identities are regional.
- One email template per alert threshold (80 and 100 percent), named `<prefix>-<threshold>`,
  the names the notifier renders.
- With detailed monitoring, an alarm when the dead-letter queue holds any message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cutlass_operator.engine.resource import Desired, Observed, Ref, ResourceKind
from cutlass_operator.layers.base import RegionInputs, alarm_on_any, alarm_prefix

LAYER = "messaging"
QUEUE = f"{LAYER}/notifications"
DLQ = f"{LAYER}/notifications-dlq"
SENDER = f"{LAYER}/sender"
DLQ_ALARM = f"{LAYER}/alarm/dlq-depth"
THRESHOLDS = (80, 100)
NOTIFIER_TIMEOUT = 30  # seconds; the compute layer gives the notifier this timeout
VISIBILITY_TIMEOUT = 6 * NOTIFIER_TIMEOUT
QUEUE_RETENTION = 4 * 86400
DLQ_RETENTION = 14 * 86400  # SQS's maximum: time to look at what failed and redrive it


def template_key(threshold: int) -> str:
    return f"{LAYER}/template/{threshold}"


def template_prefix(inputs: RegionInputs) -> str:
    """Template names are `<prefix>-<threshold>`; the prefix carries the workspace (templates have no tags)."""
    return inputs.workspace.resource_name("alert")


def queue_name(inputs: RegionInputs, suffix: str = "") -> str:
    return inputs.workspace.resource_name("notifications", suffix)


TEMPLATE_TEXT = {
    80: (
        "{{who}} has used {{threshold}}% of its credits for {{period}}",
        "{{who}} has used {{used}} of {{allocation}} credits for {{period}} ({{threshold}}%). "
        "{{remaining}} remain. Top up before they run out to keep requests from being refused.",
    ),
    100: (
        "{{who}} has used all of its credits for {{period}}",
        "{{who}} has used {{used}} of {{allocation}} credits for {{period}}: requests are now refused "
        "until credits are topped up.",
    ),
}


class MessagingLayer:
    name = LAYER
    condition = "MessagingReady"
    holds_data = False

    def kinds(self, inputs: RegionInputs) -> Sequence[ResourceKind]:
        from cutlass_operator.resources.cloudwatch import AlarmKind
        from cutlass_operator.resources.ses import IdentityKind, TemplateKind
        from cutlass_operator.resources.sqs import QueueKind

        # Templates and alarms are found by a name prefix that carries the workspace.
        return [
            QueueKind(),
            IdentityKind(),
            TemplateKind(f"{template_prefix(inputs)}-", f"{LAYER}/"),
            AlarmKind(alarm_prefix(inputs, LAYER), f"{LAYER}/"),
        ]

    def desired(self, inputs: RegionInputs) -> list[Desired]:
        ws = inputs.workspace
        key_arn = inputs.from_upstream("data", "kmsKeyArn")
        entries: list[Desired] = []

        def add(key: str, kind: str, name: str, properties: Mapping[str, Any]) -> None:
            entries.append(Desired(key, kind, name, properties, ws.tags(LAYER, key, name)))

        dlq, queue = queue_name(inputs, "dlq"), queue_name(inputs)
        add(DLQ, "sqs.queue", dlq, _queue(dlq, key_arn, DLQ_RETENTION, redrive=None))
        redrive = {
            "deadLetterTargetArn": Ref(DLQ, "arn"),
            "maxReceiveCount": inputs.environment.notifications.max_receive_count,
        }
        add(QUEUE, "sqs.queue", queue, _queue(queue, key_arn, QUEUE_RETENTION, redrive=redrive))
        sender = inputs.environment.effective_sender_email()
        add(SENDER, "ses.identity", sender, {"identity": sender, "kind": "email"})
        prefix = template_prefix(inputs)
        for threshold in THRESHOLDS:
            subject, text = TEMPLATE_TEXT[threshold]
            name = f"{prefix}-{threshold}"
            html = f"<p>{text}</p><p>Region {{{{region}}}}.</p>"
            add(
                template_key(threshold),
                "ses.template",
                name,
                {"templateName": name, "subject": subject, "html": html, "text": text},
            )
        if inputs.settings.detailed_monitoring:
            name = f"{alarm_prefix(inputs, LAYER)}notifications-dlq-depth"
            add(
                DLQ_ALARM,
                "cloudwatch.alarm",
                name,
                alarm_on_any(
                    name,
                    description=f"Alert notifications in {ws.name} failed {redrive['maxReceiveCount']} times and "
                    "wait in the dead-letter queue: look at them, fix the cause, redrive them.",
                    namespace="AWS/SQS",
                    metric="ApproximateNumberOfMessagesVisible",
                    dimensions={"QueueName": dlq},
                    statistic="Maximum",
                ),
            )
        return entries

    def outputs(self, observed: Mapping[str, Observed]) -> dict[str, Any]:
        queue, dlq, sender = observed.get(QUEUE), observed.get(DLQ), observed.get(SENDER)
        templates = sorted(o.id for key, o in observed.items() if key.startswith(f"{LAYER}/template/"))
        outputs: dict[str, Any] = {"templates": templates}
        if queue is not None:
            outputs |= {"queueUrl": queue.outputs.get("url"), "queueArn": queue.outputs.get("arn")}
        if dlq is not None:
            outputs |= {"deadLetterQueueUrl": dlq.outputs.get("url"), "deadLetterQueueArn": dlq.outputs.get("arn")}
        if sender is not None:
            outputs |= {"sender": sender.id, "senderVerification": sender.outputs.get("verificationStatus")}
        return outputs


def _queue(name: str, key_arn: Any, retention: int, redrive: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "queueName": name,
        "kmsMasterKeyId": key_arn,
        "kmsDataKeyReusePeriodSeconds": 300,
        "visibilityTimeout": VISIBILITY_TIMEOUT,
        "messageRetentionPeriod": retention,
        "receiveMessageWaitTimeSeconds": 20,
        "redrivePolicy": dict(redrive) if redrive is not None else None,
    }
