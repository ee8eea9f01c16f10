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

from cutlass_operator.engine.resource import Desired, Observed, Props, Ref, Scope
from cutlass_operator.layers.base import RegionInputs, alarm_prefix
from cutlass_operator.props.cloudwatch import AlarmProps, alarm_on_any
from cutlass_operator.props.ses import IdentityProps, TemplateProps
from cutlass_operator.props.sqs import QueueProps, RedrivePolicy

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

    def kinds(self, inputs: RegionInputs) -> Sequence[Scope]:
        # Templates and alarms are found by a name prefix that carries the workspace.
        return [
            Scope(QueueProps),
            Scope(IdentityProps),
            Scope(TemplateProps, name_prefix=f"{template_prefix(inputs)}-"),
            Scope(AlarmProps, alarm_prefix(inputs, LAYER)),
        ]

    def desired(self, inputs: RegionInputs) -> list[Desired[Any]]:
        ws = inputs.workspace
        key_arn = inputs.from_upstream("data", "kmsKeyArn")
        entries: list[Desired[Any]] = []

        def add(key: str, name: str, props: Props) -> None:
            entries.append(Desired(key, props, name, ws.tags(LAYER, key, name)))

        dlq, queue = queue_name(inputs, "dlq"), queue_name(inputs)
        add(DLQ, dlq, _queue(dlq, key_arn, DLQ_RETENTION, redrive=None))
        redrive = RedrivePolicy(Ref(DLQ, "arn"), inputs.environment.notifications.max_receive_count)
        add(QUEUE, queue, _queue(queue, key_arn, QUEUE_RETENTION, redrive=redrive))
        sender = inputs.environment.effective_sender_email()
        add(SENDER, sender, IdentityProps(identity=sender, identity_kind="email"))
        prefix = template_prefix(inputs)
        for threshold in THRESHOLDS:
            subject, text = TEMPLATE_TEXT[threshold]
            name = f"{prefix}-{threshold}"
            html = f"<p>{text}</p><p>Region {{{{region}}}}.</p>"
            add(template_key(threshold), name, TemplateProps(template_name=name, subject=subject, html=html, text=text))
        if inputs.settings.detailed_monitoring:
            name = f"{alarm_prefix(inputs, LAYER)}notifications-dlq-depth"
            add(
                DLQ_ALARM,
                name,
                alarm_on_any(
                    name,
                    description=f"Alert notifications in {ws.name} failed {redrive.max_receive_count} times and "
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


def _queue(name: str, key_arn: str, retention: int, redrive: RedrivePolicy | None) -> QueueProps:
    return QueueProps(
        queue_name=name,
        kms_master_key_id=key_arn,
        kms_data_key_reuse_period_seconds=300,
        visibility_timeout=VISIBILITY_TIMEOUT,
        message_retention_period=retention,
        receive_message_wait_time_seconds=20,
        redrive_policy=redrive,
    )
