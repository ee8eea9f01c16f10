"""The emulator runs Python Lambda functions in child processes (`emulator/lambda_runner.py`).

moto 5.2.5 runs functions only in Docker, which these machines lack. Each test deploys a small zip
built here, over HTTP as the product would, and checks what Lambda's Python runtime would give it:
the handler's result, its role's identity in its own account, its configuration and nothing of this
process's environment, Lambda's error shapes for an exception and a timeout, a payload that prints
cannot corrupt, and deliveries by SQS and DynamoDB stream mappings (ReportBatchItemFailures and
stream filters included). A child process costs about half a second, so the tests invoke sparingly.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
import zipfile
from collections.abc import Mapping
from io import BytesIO
from typing import Any

import pytest
from moto.awslambda.models import LambdaFunction

from cutlass_operator.aws.session import AwsClients
from cutlass_operator.emulator import lambda_runner
from cutlass_operator.emulator.lambda_runner import (
    UnsupportedFilterError,
    filter_patterns,
    install_lambda_runner,
    pattern_matches,
    reports_failures,
)

pytestmark = pytest.mark.integration

REGION = "eu-west-2"
OTHER_REGION = "us-east-1"
RUNTIME = "python3.12"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}

PROBE = """\
import os

import boto3

import layered


def handler(event, context):
    print("probe: printed on stdout")
    identity = boto3.client("sts").get_caller_identity()
    return {
        "event": event,
        "identity": {"Account": identity["Account"], "Arn": identity["Arn"]},
        "environment": dict(os.environ),
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
        },
        "module": __file__,
        "cwd": os.getcwd(),
        "layer": layered.WHERE,
    }
"""

VERSION_ONE = """\
def handler(event, context):
    return {"version": "one"}
"""

RAISES = """\
def handler(event, context):
    return check(event["who"])


def check(who):
    raise ValueError(f"no credits left for {who}")
"""

SLEEPS = """\
import time


def handler(event, context):
    time.sleep(30)
    return "never"
"""

# Writes every SQS record it gets to a table, one item per attempt; reports bodies starting "fail".
SINK = """\
import os

import boto3


def handler(event, context):
    ddb = boto3.client("dynamodb")
    failures = []
    for record in event["Records"]:
        attempt = record["attributes"]["ApproximateReceiveCount"]
        key = record["messageId"] + "#" + attempt
        item = {"pk": {"S": key}, "body": {"S": record["body"]}, "attempt": {"S": attempt}}
        ddb.put_item(TableName=os.environ["RESULTS_TABLE"], Item=item)
        if record["body"].startswith("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
"""

# Forwards what it saw of each stream record to a queue.
RELAY = """\
import json
import os

import boto3


def handler(event, context):
    sqs = boto3.client("sqs")
    for record in event["Records"]:
        seen = {
            "eventName": record["eventName"],
            "keys": record["dynamodb"]["Keys"],
            "newImage": record["dynamodb"].get("NewImage"),
            "source": record["eventSourceARN"],
        }
        sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=json.dumps(seen, sort_keys=True))
    return {"batchItemFailures": []}
"""


def package(files: Mapping[str, str]) -> bytes:
    """A deterministic zip: fixed dates and order."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def role(clients: AwsClients) -> dict[str, str]:
    name = unique("runner-fn")
    created = clients.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
    return {"name": name, "arn": created["Role"]["Arn"]}


def create_function(
    clients: AwsClients, role: Mapping[str, str], files: Mapping[str, str], handler: str, **extra: Any
) -> dict[str, Any]:
    region = extra.pop("region", REGION)
    params: dict[str, Any] = {
        "FunctionName": unique("runner"),
        "Runtime": RUNTIME,
        "Role": role["arn"],
        "Handler": handler,
        "Code": {"ZipFile": package(files)},
        **extra,
    }
    return dict(clients.client("lambda", region=region).create_function(**params))


def invoke(lam: Any, name: str, event: Any, **extra: Any) -> tuple[dict[str, Any], Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **extra)
    return response, json.loads(response["Payload"].read())


def create_table(clients: AwsClients, name: str, **extra: Any) -> dict[str, Any]:
    return dict(
        clients.client("dynamodb").create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            **extra,
        )["TableDescription"]
    )


def results(clients: AwsClients, table: str) -> list[tuple[str, str]]:
    """(body, attempt) of every item the sink wrote, sorted."""
    items = clients.client("dynamodb").scan(TableName=table)["Items"]
    return sorted((item["body"]["S"], item["attempt"]["S"]) for item in items)


def eventually(read: Any, timeout: float = 10.0) -> Any:
    """What `read` returns once it is truthy: stream records reach their function after the write."""
    deadline = time.monotonic() + timeout
    while not (found := read()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def queue(clients: AwsClients, name: str) -> tuple[str, str]:
    sqs = clients.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def messages_left(clients: AwsClients, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = clients.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


# --- invoking -------------------------------------------------------------------------------------


def test_invoke_runs_the_handler_as_its_role_with_its_configuration_only(
    clients: AwsClients, role: dict[str, str], account_id: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUTLASS_RUNNER_SENTINEL", "this process only")
    lam = clients.client("lambda", region=OTHER_REGION)
    layer = lam.publish_layer_version(
        LayerName=unique("helpers"),
        Content={"ZipFile": package({"python/layered.py": 'WHERE = "layer"\n'})},
        CompatibleRuntimes=[RUNTIME],
    )
    function = create_function(
        clients,
        role,
        {"probe/__init__.py": "", "probe/handler.py": PROBE},
        "probe.handler.handler",
        region=OTHER_REGION,
        MemorySize=256,
        Timeout=30,
        Environment={"Variables": {"PROBE_COLOUR": "teal"}},
        Layers=[layer["LayerVersionArn"]],
    )
    name = function["FunctionName"]

    response, result = invoke(lam, name, {"hello": "world"}, LogType="Tail")

    assert "FunctionError" not in response
    assert result["event"] == {"hello": "world"}
    # The role's identity, assumed in the function's account and named after the function.
    assert result["identity"] == {
        "Account": account_id,
        "Arn": f"arn:aws:sts::{account_id}:assumed-role/{role['name']}/{name}",
    }
    env = result["environment"]
    assert env["PROBE_COLOUR"] == "teal"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == OTHER_REGION
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_ENDPOINT_URL"] == moto_endpoint
    # Nothing of this process: not its keys, not its other variables.
    assert env["AWS_ACCESS_KEY_ID"] != os.environ["AWS_ACCESS_KEY_ID"]
    assert "CUTLASS_RUNNER_SENTINEL" not in env
    assert {key for key in env if key.startswith("AWS_")} == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
    }
    context = result["context"]
    assert context["function_name"] == name
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == function["FunctionArn"]
    assert context["memory_limit_in_mb"] == "256"
    assert context["log_group_name"] == f"/aws/lambda/{name}"
    assert context["log_stream_name"].endswith(f"[$LATEST]{context['log_stream_name'][-32:]}")
    assert 0 < context["remaining"] <= 30_000
    # The handler came from the deployment package, run from its root, with the layer on the path.
    assert result["module"].endswith("/task/probe/handler.py")
    assert result["cwd"] == result["module"].removesuffix("/probe/handler.py")
    assert result["layer"] == "layer"

    # What the handler printed went to the log (tail and CloudWatch Logs), not into the payload.
    tail = base64.b64decode(response["LogResult"]).decode()
    assert f"START RequestId: {context['aws_request_id']} Version: $LATEST" in tail
    assert "probe: printed on stdout" in tail
    assert f"REPORT RequestId: {context['aws_request_id']}" in tail
    events = clients.client("logs", region=OTHER_REGION).get_log_events(
        logGroupName=f"/aws/lambda/{name}", logStreamName=context["log_stream_name"]
    )["events"]
    assert "probe: printed on stdout" in [event["message"] for event in events]


def test_an_exception_is_lambdas_unhandled_error_and_versions_keep_their_code(
    clients: AwsClients, role: dict[str, str]
) -> None:
    lam = clients.client("lambda")
    function = create_function(clients, role, {"flaky.py": VERSION_ONE}, "flaky.handler", Publish=True)
    name = function["FunctionName"]
    lam.update_function_code(FunctionName=name, ZipFile=package({"flaky.py": RAISES}))

    response, error = invoke(lam, name, {"who": "acme"})

    assert response["FunctionError"] == "Unhandled"
    assert response["StatusCode"] == 200
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "no credits left for acme"
    assert len(error["stackTrace"]) == 2  # the handler and the function it called, not the runtime
    assert 'flaky.py", line 2, in handler' in error["stackTrace"][0]
    assert 'flaky.py", line 6, in check' in error["stackTrace"][1]
    # Version 1 keeps the code it was published with.
    response, result = invoke(lam, name, {}, Qualifier="1")
    assert "FunctionError" not in response
    assert result == {"version": "one"}
    assert response["ExecutedVersion"] == "1"


def test_a_handler_running_past_its_timeout_is_stopped(clients: AwsClients, role: dict[str, str]) -> None:
    lam = clients.client("lambda")
    name = create_function(clients, role, {"slow.py": SLEEPS}, "slow.handler", Timeout=1)["FunctionName"]

    started = time.monotonic()
    response, error = invoke(lam, name, {})

    assert time.monotonic() - started < 5
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")


# --- SQS mappings ---------------------------------------------------------------------------------


def test_an_sqs_mapping_delivers_each_message_and_deletes_it(clients: AwsClients, role: dict[str, str]) -> None:
    table = unique("results")
    create_table(clients, table)
    url, arn = queue(clients, unique("work"))
    function = create_function(
        clients, role, {"sink.py": SINK}, "sink.handler", Environment={"Variables": {"RESULTS_TABLE": table}}
    )
    clients.client("lambda").create_event_source_mapping(
        EventSourceArn=arn, FunctionName=function["FunctionName"], BatchSize=10
    )
    sqs = clients.client("sqs")

    sqs.send_message(QueueUrl=url, MessageBody="hello")
    # Without ReportBatchItemFailures, a response naming the message does not fail it.
    sqs.send_message(QueueUrl=url, MessageBody="fail, but nobody listens")

    assert results(clients, table) == [("fail, but nobody listens", "1"), ("hello", "1")]
    assert messages_left(clients, url) == 0


def test_report_batch_item_failures_keeps_the_failed_message_only(clients: AwsClients, role: dict[str, str]) -> None:
    table = unique("results")
    create_table(clients, table)
    url, arn = queue(clients, unique("work"))
    function = create_function(
        clients, role, {"sink.py": SINK}, "sink.handler", Environment={"Variables": {"RESULTS_TABLE": table}}
    )
    clients.client("lambda").create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=function["FunctionName"],
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    sqs = clients.client("sqs")

    sqs.send_message(QueueUrl=url, MessageBody="fail-1")
    # moto has no poller: the failed message is retried when the next one arrives, in its batch.
    sqs.send_message(QueueUrl=url, MessageBody="ok-2")

    assert results(clients, table) == [("fail-1", "1"), ("fail-1", "2"), ("ok-2", "1")]
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert [message["Body"] for message in left] == ["fail-1"]
    assert left[0]["Attributes"]["ApproximateReceiveCount"] == "3"


# --- DynamoDB stream mappings ---------------------------------------------------------------------


def test_a_stream_mapping_invokes_the_function_after_the_write(clients: AwsClients, role: dict[str, str]) -> None:
    """put_item → stream → relay function → SQS → sink function → results: the poller's invocation
    nests the queue's (inside the relay's SendMessage)."""
    source = create_table(
        clients, unique("orders"), StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    )
    table = unique("results")
    create_table(clients, table)
    url, arn = queue(clients, unique("relayed"))
    lam = clients.client("lambda")
    sink = create_function(
        clients, role, {"sink.py": SINK}, "sink.handler", Environment={"Variables": {"RESULTS_TABLE": table}}
    )
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=sink["FunctionName"])
    relay = create_function(
        clients, role, {"relay.py": RELAY}, "relay.handler", Environment={"Variables": {"QUEUE_URL": url}}
    )
    lam.create_event_source_mapping(
        EventSourceArn=source["LatestStreamArn"], FunctionName=relay["FunctionName"], StartingPosition="LATEST"
    )

    clients.client("dynamodb").put_item(
        TableName=source["TableName"], Item={"pk": {"S": "order-1"}, "total": {"N": "42"}}
    )

    [(body, attempt)] = eventually(lambda: results(clients, table))
    assert attempt == "1"
    assert json.loads(body) == {
        "eventName": "INSERT",
        "keys": {"pk": {"S": "order-1"}},
        "newImage": {"pk": {"S": "order-1"}, "total": {"N": "42"}},
        "source": source["LatestStreamArn"],
    }


def test_a_stream_mapping_applies_its_filter_and_enabled(clients: AwsClients, role: dict[str, str]) -> None:
    source = create_table(
        clients, unique("balances"), StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    )
    url, _ = queue(clients, unique("seen"))
    lam = clients.client("lambda")
    relay = create_function(
        clients, role, {"relay.py": RELAY}, "relay.handler", Environment={"Variables": {"QUEUE_URL": url}}
    )
    pattern = {"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"lastWriteRegion": {"S": [REGION]}}}}
    mapping = lam.create_event_source_mapping(
        EventSourceArn=source["LatestStreamArn"],
        FunctionName=relay["FunctionName"],
        StartingPosition="LATEST",
        FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]},
    )
    ddb = clients.client("dynamodb")

    def write(region: str, used: int) -> None:
        item = {"pk": {"S": "org-1"}, "lastWriteRegion": {"S": region}, "used": {"N": str(used)}}
        ddb.put_item(TableName=source["TableName"], Item=item)

    write(REGION, 1)  # INSERT: filtered out
    write(OTHER_REGION, 2)  # MODIFY from another region: filtered out
    write(REGION, 3)  # delivered
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    write(REGION, 4)  # the mapping is disabled

    sqs = clients.client("sqs")
    seen = eventually(lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"))
    assert [json.loads(message["Body"])["eventName"] for message in seen] == ["MODIFY"]
    assert json.loads(seen[0]["Body"])["newImage"]["used"] == {"N": "3"}
    time.sleep(1)  # what the disabled mapping would have delivered by now
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages") is None


# --- installing -----------------------------------------------------------------------------------


def test_installing_again_repoints_without_patching_twice(moto_endpoint: str) -> None:
    patched = LambdaFunction.invoke
    try:
        install_lambda_runner("http://127.0.0.1:1/")
        assert lambda_runner._TARGET.endpoint == "http://127.0.0.1:1"
        assert LambdaFunction.invoke is patched
    finally:
        install_lambda_runner(moto_endpoint)
    assert lambda_runner._TARGET.endpoint == moto_endpoint


# --- filters and responses, without a function ----------------------------------------------------

MODIFY_HERE = {
    "eventName": ["MODIFY"],
    "dynamodb": {"NewImage": {"lastWriteRegion": {"S": ["eu-west-2", "eu-west-1"]}}},
}


def record(event_name: str, region: str | None) -> dict[str, Any]:
    image = {"pk": {"S": "org-1"}, **({"lastWriteRegion": {"S": region}} if region else {})}
    return {
        "eventName": event_name,
        "awsRegion": "eu-west-2",
        "dynamodb": {"Keys": {"pk": {"S": "org-1"}}, "NewImage": image},
    }


def criteria(*patterns: Any) -> dict[str, Any]:
    return {"Filters": [{"Pattern": p if isinstance(p, str) else json.dumps(p)} for p in patterns]}


@pytest.mark.parametrize("given", [None, {}, {"Filters": []}])
def test_no_filters_means_every_record(given: Any) -> None:
    assert filter_patterns(given) is None


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (record("MODIFY", "eu-west-2"), True),
        (record("MODIFY", "eu-west-1"), True),  # any value of the list
        (record("MODIFY", "us-east-1"), False),
        (record("INSERT", "eu-west-2"), False),  # every key must match
        (record("MODIFY", None), False),  # a missing key never matches
    ],
)
def test_a_pattern_matches_nested_values(event: dict[str, Any], expected: bool) -> None:
    [pattern] = filter_patterns(criteria(MODIFY_HERE)) or []
    assert pattern_matches(pattern, event) is expected


def test_filters_are_alternatives() -> None:
    patterns = filter_patterns(criteria({"eventName": ["REMOVE"]}, MODIFY_HERE)) or []
    assert len(patterns) == 2
    assert any(pattern_matches(p, record("REMOVE", None)) for p in patterns)
    assert any(pattern_matches(p, record("MODIFY", "eu-west-2")) for p in patterns)
    assert not any(pattern_matches(p, record("INSERT", "eu-west-2")) for p in patterns)


@pytest.mark.parametrize(
    ("allowed", "value", "expected"),
    [
        (["a"], ["x", "a"], True),  # a list in the record matches if any element does
        ([5], 5.0, True),  # numbers compare as numbers
        (["5"], 5, False),  # a string is not a number
        ([1], True, False),  # nor is a boolean
        ([True], True, True),
        ([None], None, True),
        ([None], "x", False),
    ],
)
def test_values_compare_by_json_type(allowed: list[Any], value: Any, expected: bool) -> None:
    assert pattern_matches({"v": allowed}, {"v": value}) is expected


def test_a_pattern_level_needs_an_object_in_the_record() -> None:
    assert not pattern_matches({"dynamodb": {"NewImage": {"a": ["b"]}}}, {"dynamodb": "flat"})


@pytest.mark.parametrize(
    "pattern",
    [
        {"eventName": [{"prefix": "MOD"}]},
        {"dynamodb": {"NewImage": {"a": {"S": [{"exists": True}]}}}},
        {"eventName": "MODIFY"},
        {"eventName": []},
        {},
        "not json",
    ],
)
def test_syntax_beyond_lists_of_values_is_refused(pattern: Any) -> None:
    with pytest.raises(UnsupportedFilterError):
        filter_patterns(criteria(pattern))


@pytest.mark.parametrize(
    ("payload", "fails"),
    [
        (None, False),
        (b"", False),
        (b"null", False),
        (b"{}", False),
        (b'{"batchItemFailures": null}', False),
        (b'{"batchItemFailures": []}', False),
        (b'{"batchItemFailures": [{"itemIdentifier": "m-1"}]}', True),
        (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', True),  # malformed: the whole batch fails
        (b'"done"', True),  # not a batch response at all
    ],
)
def test_which_responses_fail_a_message(payload: bytes | None, fails: bool) -> None:
    assert reports_failures(payload) is fails
