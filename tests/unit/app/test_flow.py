"""The application's flow, end to end in moto: usage check → stream → queue → templated email."""

from __future__ import annotations

import json

from cutlass_operator.app import notifier, usage_check

from .conftest import CONTACT, Aws, api, decoded, monitor, sqs_event, stream_record


def test_crossing_80_percent_sends_one_email(aws: Aws) -> None:
    aws.grant("acme", 1000, contact_email=CONTACT)
    aws.grant("acme", 100, user_id="alice")

    old = aws.raw_balance("acme", "alice")
    body = {"user_id": "alice", "org_id": "acme", "units": 85}
    response = usage_check.handler(api("POST", "/usage-check", body, request_id="req-flow"), None)
    assert response["statusCode"] == 200
    assert decoded(response)["remaining"] == {"user": 15, "org": 915}
    new = aws.raw_balance("acme", "alice")

    record = stream_record(old, new)
    assert monitor([record]) == {"batchItemFailures": []}
    assert monitor([record]) == {"batchItemFailures": []}  # redelivered: nothing more
    messages = aws.receive()
    assert len(messages) == 1
    assert json.loads(messages[0]["Body"])["threshold"] == 80

    assert notifier.handler(sqs_event(messages), None) == {"batchItemFailures": []}
    [email] = aws.sent_emails()
    assert email.template == "usage-alert-80"
    assert email.destinations["ToAddresses"] == [CONTACT]
    assert json.loads(email.template_data)["who"] == "user alice of acme"
    assert aws.balance("acme", "alice")["alertBand"] == "80"
