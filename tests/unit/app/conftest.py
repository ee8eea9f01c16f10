"""In-process moto for the application's functions (not the session's moto server fixtures)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cutlass_operator.app import common, credits, threshold_monitor

REGION = "eu-west-2"
ENV = "dev"
SENDER = "alerts@cutlass.example.com"
CONTACT = "billing@acme.example.com"
TEMPLATE_PREFIX = "usage-alert"


@dataclass
class Aws:
    ddb: Any
    sqs: Any
    ses: Any
    queue_url: str
    dlq_url: str
    tables: dict[str, str] = field(default_factory=dict)

    # --- reading state -------------------------------------------------------------------------

    def balance(self, org_id: str, user_id: str | None = None) -> dict[str, Any]:
        answer = self.ddb.get_item(TableName=self.tables["credits"], Key=common.balance_key(org_id, user_id))
        return common.from_item(answer.get("Item"))

    def raw_balance(self, org_id: str, user_id: str | None = None) -> dict[str, Any]:
        answer = self.ddb.get_item(TableName=self.tables["credits"], Key=common.balance_key(org_id, user_id))
        item: dict[str, Any] = answer["Item"]
        return item

    def usage_records(self) -> list[dict[str, Any]]:
        return [common.from_item(i) for i in self.ddb.scan(TableName=self.tables["usage"])["Items"]]

    def alerts(self) -> list[dict[str, Any]]:
        return [common.from_item(i) for i in self.ddb.scan(TableName=self.tables["alerts"])["Items"]]

    def receive(
        self, url: str | None = None, wait_visibility: int = 0, *, delete: bool = False
    ) -> list[dict[str, Any]]:
        """Visible messages (up to 10); `delete` removes them as a consumer that succeeded would."""
        answer = self.sqs.receive_message(
            QueueUrl=url or self.queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=wait_visibility,
            AttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        for message in messages if delete else []:
            self.sqs.delete_message(QueueUrl=url or self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return messages

    def sent_emails(self) -> list[Any]:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)

    # --- driving the functions -----------------------------------------------------------------

    def grant(self, org_id: str, amount: int, user_id: str | None = None, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"org_id": org_id, "amount": amount, "mode": "grant", **extra}
        if user_id:
            body["user_id"] = user_id
        return credits.handler(api("POST", "/credits", body), None)


def api(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    request_id: str = "req-1",
    epoch_ms: int = 1_795_000_000_000,
) -> dict[str, Any]:
    """An API Gateway (REST, Lambda proxy) event."""
    return {
        "httpMethod": method,
        "path": path,
        "resource": path,
        "headers": {"Content-Type": "application/json"},
        "queryStringParameters": query,
        "body": body if body is None or isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {"requestId": request_id, "requestTimeEpoch": epoch_ms, "httpMethod": method},
    }


def decoded(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def stream_record(
    old: dict[str, Any], new: dict[str, Any], *, sequence: str = "100", created: float = 1_795_000_000
) -> dict[str, Any]:
    """A DynamoDB stream MODIFY record (NEW_AND_OLD_IMAGES) built from two raw item images."""
    return {
        "eventID": f"event-{sequence}",
        "eventName": "MODIFY",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": {"pk": new["pk"], "sk": new["sk"]},
            "OldImage": old,
            "NewImage": new,
            "SequenceNumber": sequence,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "eventSource": "aws:sqs",
            }
            for m in messages
        ]
    }


def monitor(records: list[dict[str, Any]]) -> dict[str, Any]:
    return threshold_monitor.handler({"Records": records}, None)


def _table(ddb: Any, name: str, *, stream: bool) -> None:
    spec: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }
    if not stream:
        spec.pop("StreamSpecification")
    ddb.create_table(**spec)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    tables = {kind: f"cutlass-tech-{kind}-{ENV}" for kind in ("credits", "usage", "alerts")}
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "CREDITS_TABLE": tables["credits"],
        "USAGE_TABLE": tables["usage"],
        "ALERTS_TABLE": tables["alerts"],
        "SENDER_EMAIL": SENDER,
        "TEMPLATE_PREFIX": TEMPLATE_PREFIX,
        "USAGE_RETENTION_DAYS": "400",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        _table(ddb, tables["credits"], stream=True)
        _table(ddb, tables["usage"], stream=False)
        _table(ddb, tables["alerts"], stream=False)
        sqs = boto3.client("sqs", region_name=REGION)
        dlq_url = sqs.create_queue(QueueName=f"cutlass-notifications-dlq-{ENV}")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = sqs.create_queue(
            QueueName=f"cutlass-notifications-{ENV}",
            Attributes={
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
            },
        )["QueueUrl"]
        monkeypatch.setenv("NOTIFICATIONS_QUEUE_URL", queue_url)
        ses = boto3.client("ses", region_name=REGION)
        ses.verify_email_identity(EmailAddress=SENDER)
        for level in (80, 100):
            ses.create_template(
                Template={
                    "TemplateName": f"{TEMPLATE_PREFIX}-{level}",
                    "SubjectPart": f"{{{{who}}}} has used {level}% of its credits",
                    "TextPart": "{{who}} has used {{used}} of {{allocation}} credits in {{period}}.",
                    "HtmlPart": "<p>{{who}} has used {{used}} of {{allocation}} credits in {{period}}.</p>",
                }
            )
        yield Aws(ddb=ddb, sqs=sqs, ses=ses, queue_url=queue_url, dlq_url=dlq_url, tables=tables)
