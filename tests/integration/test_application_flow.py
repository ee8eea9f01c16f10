"""The application's flow through what the operator deployed, against the moto server, without Docker.

The dev manifests are converged in an account of their own. Every step then goes through Lambda's
own API: the functions are invoked by name (`live` alias), and the event source mappings the
operator made deliver the rest, as the emulator's runner runs each function's deployed package in a
child process with the function's configuration and role. A usage check debits the credits; the
credits table's stream in that region invokes the threshold monitor (through the mapping's filter);
its message on the notifications queue invokes the notifier, which sends the templated email.

The emulator has no SQS poller (see emulator/lambda_runner.py): a failed message is delivered once
when it arrives, so the test plays the poller for the redeliveries that take a poison message to
the dead-letter queue.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from .accounts import converged_dev, operator_session

pytestmark = pytest.mark.integration

ACCOUNT = "400000000001"  # outside conftest's range: the module shares one converged account
LONDON, SYDNEY = "eu-west-2", "ap-southeast-2"
CONTACT = "billing@acme.example.com"


@dataclass
class Region:
    workspace: str  # dev-london
    session: boto3.Session

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        answer = self.session.client("lambda").invoke(
            FunctionName=f"cutlass-tech-fn-{self.workspace}-{function}",
            Qualifier="live",
            Payload=json.dumps(event),
            LogType="Tail",
        )
        result: dict[str, Any] = json.loads(answer["Payload"].read())
        assert "FunctionError" not in answer, (result, base64.b64decode(answer.get("LogResult", "")).decode())
        return result

    def queue_url(self, suffix: str = "") -> str:
        name = f"cutlass-tech-notifications-{self.workspace}{suffix}"
        return str(self.session.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])

    def receive(self, url: str) -> list[dict[str, Any]]:
        answer = self.session.client("sqs").receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def sent_emails(self) -> list[Any]:
        from moto.ses.models import ses_backends

        return list(ses_backends[ACCOUNT][self.session.region_name].sent_messages)


@pytest.fixture(scope="module")
def regions(moto_endpoint: str) -> dict[str, Region]:
    converged_dev(ACCOUNT)
    return {
        aws: Region(f"dev-{name}", operator_session(ACCOUNT, aws))
        for name, aws in (("london", LONDON), ("sydney", SYDNEY))
    }


@pytest.fixture
def london(regions: dict[str, Region]) -> Region:
    return regions[LONDON]


@pytest.fixture
def sydney(regions: dict[str, Region]) -> Region:
    return regions[SYDNEY]


def api(method: str, path: str, body: Any = None, request_id: str = "req", **extra: Any) -> dict[str, Any]:
    """An API Gateway (REST, Lambda proxy) event."""
    return {
        "httpMethod": method,
        "path": path,
        "resource": path,
        "headers": {"Content-Type": "application/json"},
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {"requestId": request_id, "requestTimeEpoch": 1_795_000_000_000, "httpMethod": method},
        **extra,
    }


def grant(region: Region, org_id: str, amount: int, user_id: str | None = None, **extra: Any) -> None:
    body = {"org_id": org_id, "amount": amount, "mode": "grant", **extra} | ({"user_id": user_id} if user_id else {})
    assert region.invoke("credits", api("POST", "/credits", body, f"grant-{org_id}-{user_id}"))["statusCode"] == 200


def balance(region: Region, org_id: str, user_id: str) -> dict[str, Any]:
    query = {"queryStringParameters": {"org_id": org_id, "user_id": user_id}}
    answer = region.invoke("credits", api("GET", "/credits", request_id="read", **query))
    assert answer["statusCode"] == 200, answer
    view: dict[str, Any] = json.loads(answer["body"])
    return view


def eventually(read: Any, timeout: float = 15.0) -> Any:
    """What `read` returns once it is truthy: a stream record reaches its function after the write."""
    deadline = time.monotonic() + timeout
    while not (found := read()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"]} for m in messages
        ]
    }


def test_a_usage_check_crossing_80_percent_sends_one_templated_email_from_its_region(
    london: Region, sydney: Region
) -> None:
    grant(london, "acme", 1000, contact_email=CONTACT)
    grant(london, "acme", 100, user_id="alice")
    before = {region.workspace: len(region.sent_emails()) for region in (london, sydney)}

    body = {"org_id": "acme", "user_id": "alice", "units": 85}
    response = london.invoke("usage-check", api("POST", "/usage-check", body, "use-85"))

    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["remaining"] == {"user": 15, "org": 915}
    # The stream's poller invoked the threshold monitor, whose message invoked the notifier: one
    # email, from London only (Sydney's monitor keeps to the writes made in Sydney).
    (email,) = eventually(lambda: london.sent_emails()[before[london.workspace] :])
    assert eventually(lambda: balance(london, "acme", "alice").get("alertBand")) == "80"
    assert len(london.sent_emails()) == before[london.workspace] + 1
    assert len(sydney.sent_emails()) == before[sydney.workspace]
    assert email.template == "cutlass-tech-alert-dev-london-80"
    assert email.source == "alerts@dev.cutlass.example.com"
    assert email.destinations["ToAddresses"] == [CONTACT]
    assert json.loads(email.template_data)["who"] == "user alice of acme"
    assert london.receive(london.queue_url()) == []  # the notifier consumed it


def test_a_refused_usage_check_debits_nothing(london: Region) -> None:
    grant(london, "tiny", 10, contact_email=CONTACT)
    grant(london, "tiny", 10, user_id="bob")

    body = {"org_id": "tiny", "user_id": "bob", "units": 11}
    refused = london.invoke("usage-check", api("POST", "/usage-check", body, "too-much"))

    assert refused["statusCode"] == 402, refused
    assert balance(london, "tiny", "bob")["remaining"] == 10


def test_a_poison_message_moves_to_the_dead_letter_queue_after_the_configured_receives(london: Region) -> None:
    sqs = london.session.client("sqs")
    url, dlq = london.queue_url(), london.queue_url("-dlq")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
    max_receives = json.loads(attributes["RedrivePolicy"])["maxReceiveCount"]
    assert max_receives == 5  # the environment's default

    sqs.send_message(QueueUrl=url, MessageBody="not an alert")  # the mapping delivers it once: it fails
    deliveries = 1
    while messages := london.receive(url):
        (message,) = messages
        failed = london.invoke("notifier", sqs_event(messages))["batchItemFailures"]
        assert failed == [{"itemIdentifier": message["MessageId"]}]
        deliveries += 1

    assert deliveries == max_receives
    (dead,) = london.receive(dlq)
    assert dead["Body"] == "not an alert"


def test_health_reports_the_region_and_its_table(regions: dict[str, Region]) -> None:
    for aws, region in regions.items():
        response = region.invoke("health", api("GET", "/health", request_id="probe"))
        assert response["statusCode"] == 200
        assert json.loads(response["body"]) == {"status": "ok", "region": aws, "table": "reachable"}


def test_the_functions_log_to_their_log_groups(london: Region) -> None:
    london.invoke("health", api("GET", "/health", request_id="logged"))
    logs = london.session.client("logs")
    group = "/aws/lambda/cutlass-tech-fn-dev-london-health"
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert streams
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 7
