from __future__ import annotations

import json
from typing import Any

import pytest

from cutlass_operator.app import notifier

from .conftest import CONTACT, SENDER, Aws, sqs_event

MESSAGE = {"subject": "ORG#acme", "org_id": "acme", "threshold": 80, "used": 85, "allocation": 100, "period": "2026-11"}


def enqueue(aws: Aws, body: str) -> None:
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=body)


def test_sends_the_templated_email_to_the_org_contact(aws: Aws) -> None:
    aws.grant("acme", 100, contact_email=CONTACT)
    enqueue(aws, json.dumps(MESSAGE))
    assert notifier.handler(sqs_event(aws.receive()), None) == {"batchItemFailures": []}
    [email] = aws.sent_emails()
    assert email.source == SENDER
    assert email.template == "usage-alert-80"
    assert email.destinations == {"ToAddresses": [CONTACT]}
    data = json.loads(email.template_data)
    assert (data["used"], data["allocation"], data["remaining"], data["period"]) == (85, 100, 15, "2026-11")
    assert data["who"] == "organisation acme"


def test_user_alert_uses_the_100_template(aws: Aws) -> None:
    aws.grant("acme", 100, contact_email=CONTACT)
    enqueue(aws, json.dumps({**MESSAGE, "subject": "USER#acme#alice", "user_id": "alice", "threshold": 100}))
    assert notifier.handler(sqs_event(aws.receive()), None) == {"batchItemFailures": []}
    [email] = aws.sent_emails()
    assert email.template == "usage-alert-100"
    assert json.loads(email.template_data)["who"] == "user alice of acme"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1]",
        json.dumps({k: v for k, v in MESSAGE.items() if k != "threshold"}),
        json.dumps({**MESSAGE, "used": "lots"}),
        json.dumps({**MESSAGE, "org_id": "no-contact"}),
        json.dumps({**MESSAGE, "threshold": 55}),  # no such template
    ],
)
def test_unprocessable_messages_are_batch_failures(aws: Aws, body: str) -> None:
    aws.grant("acme", 100, contact_email=CONTACT)
    aws.grant("no-contact", 100)
    enqueue(aws, json.dumps(MESSAGE))
    enqueue(aws, body)
    messages = aws.receive()
    poison = next(m["MessageId"] for m in messages if m["Body"] == body)
    assert notifier.handler(sqs_event(messages), None) == {"batchItemFailures": [{"itemIdentifier": poison}]}
    assert len(aws.sent_emails()) == 1


def test_poison_message_lands_in_the_dlq(aws: Aws) -> None:
    """Lambda deletes only the batch's successes; the poison is received maxReceiveCount times, then redriven."""
    enqueue(aws, "poison")
    for _ in range(5):
        messages = aws.receive()
        if not messages:
            break
        result: dict[str, Any] = notifier.handler(sqs_event(messages), None)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                aws.sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=message["ReceiptHandle"])
        assert failed == {m["MessageId"] for m in messages}
    [dead] = aws.receive(aws.dlq_url)
    assert dead["Body"] == "poison"
    assert aws.receive() == []
    assert aws.sent_emails() == []
