"""SQS queues."""

from __future__ import annotations

from dataclasses import dataclass

from cutlass_operator.engine.resource import Props, Ref, Struct


@dataclass(frozen=True)
class RedrivePolicy(Struct):
    dead_letter_target_arn: str | Ref
    max_receive_count: int


@dataclass(frozen=True)
class QueueProps(Props):
    """A standard queue. `kms_master_key_id` None: SQS-managed encryption."""

    kind = "sqs.queue"

    queue_name: str
    kms_master_key_id: str | Ref | None = None
    kms_data_key_reuse_period_seconds: int = 300
    visibility_timeout: int = 30
    message_retention_period: int = 4 * 86400
    receive_message_wait_time_seconds: int = 0
    redrive_policy: RedrivePolicy | None = None
