"""The operator's clients retry as botocore's standard mode does, except that a throttled call's
backoff starts at a quarter of a second rather than a second (aws/session.py)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.retries import standard

from cutlass_operator.aws.session import (
    MAX_BACKOFF_SECONDS,
    THROTTLED_FIRST_RETRY_SECONDS,
    _ThrottledBackoff,
    pace_throttled_retries,
)

DRAWS = 400


def ec2(attempts: int = 3) -> Any:
    return boto3.client(
        "ec2",
        region_name="eu-west-2",
        endpoint_url="http://127.0.0.1:9",  # nothing is sent: a before-send handler answers
        aws_access_key_id="AKIARETRIES000000000",
        aws_secret_access_key="retries",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


def failed(attempt: int, code: str, status: int) -> standard.RetryContext:
    return standard.RetryContext(
        attempt_number=attempt,
        operation_model=ec2().meta.service_model.operation_model("DescribeVpcs"),
        parsed_response={"Error": {"Code": code, "Message": "x"}},
        http_response=AWSResponse("http://127.0.0.1:9", status, {}, None),
    )


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 7])
def test_a_throttled_call_waits_up_to_a_quarter_second_doubling_at_each_retry(attempt: int) -> None:
    backoff = _ThrottledBackoff("ec2", standard.ThrottlingErrorDetector(standard.RetryEventAdapter()))
    bound = min(THROTTLED_FIRST_RETRY_SECONDS * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
    throttle, error = failed(attempt, "RequestLimitExceeded", 503), failed(attempt, "InternalError", 500)
    throttled = [backoff.delay_amount(throttle) for _ in range(DRAWS)]
    assert max(throttled) <= bound
    assert max(throttled) > 0.8 * bound  # the whole window is drawn from, jittered
    # Any other error waits as botocore has it wait: on 50 ms' scale.
    other = [backoff.delay_amount(error) for _ in range(DRAWS)]
    assert max(other) <= min(0.05 * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)


def test_the_paced_handler_replaces_botocores() -> None:
    """botocore's own handler would give up after two attempts; the operator's makes up to eight."""
    client = ec2(attempts=2)
    pace_throttled_retries(client)
    answers = ["RequestLimitExceeded", "RequestLimitExceeded"]
    sent: list[str] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        sent.append(request.url)
        if answers:
            body = f"<Response><Errors><Error><Code>{answers.pop()}</Code></Error></Errors></Response>".encode()
            return AWSResponse(request.url, 503, {}, _Raw(body))
        return AWSResponse(request.url, 200, {}, _Raw(b"<DescribeVpcsResponse><vpcSet/></DescribeVpcsResponse>"))

    client.meta.events.register("before-send", answer)
    assert client.describe_vpcs()["Vpcs"] == []
    assert len(sent) == 3


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data
