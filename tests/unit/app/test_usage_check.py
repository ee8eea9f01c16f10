from __future__ import annotations

from typing import Any

import pytest

from cutlass_operator.app import usage_check

from .conftest import Aws, api, decoded


def check(body: Any, request_id: str = "req-1", epoch_ms: int = 1_795_000_000_000) -> dict[str, Any]:
    return usage_check.handler(api("POST", "/usage-check", body, request_id=request_id, epoch_ms=epoch_ms), None)


@pytest.fixture
def funded(aws: Aws) -> Aws:
    assert aws.grant("acme", 1000)["statusCode"] == 200
    assert aws.grant("acme", 100, user_id="alice")["statusCode"] == 200
    return aws


def test_debits_user_and_org_and_records_usage(funded: Aws) -> None:
    response = check({"user_id": "alice", "org_id": "acme", "units": 30})
    assert response["statusCode"] == 200
    assert decoded(response)["allowed"] is True
    assert decoded(response)["remaining"] == {"user": 70, "org": 970}
    user, org = funded.balance("acme", "alice"), funded.balance("acme")
    assert (user["used"], user["remaining"]) == (30, 70)
    assert (org["used"], org["remaining"]) == (30, 970)
    [record] = funded.usage_records()
    assert record["pk"] == "ORG#acme"
    assert record["sk"].startswith("2026-") and record["sk"].endswith("#req-1")
    assert record["userKey"] == "USER#acme#alice"
    assert record["units"] == 30
    assert record["region"] == "eu-west-2"
    assert record["expiresAt"] == 1_795_000_000 + 400 * 86400


def test_refuses_when_the_user_is_short_without_debiting(funded: Aws) -> None:
    response = check({"user_id": "alice", "org_id": "acme", "units": 101})
    assert response["statusCode"] == 402
    body = decoded(response)
    assert body["allowed"] is False
    assert "user balance" in body["reason"]
    assert body["remaining"] == {"user": 100, "org": 1000}
    assert funded.balance("acme", "alice")["remaining"] == 100
    assert funded.balance("acme", "alice")["used"] == 0
    assert funded.balance("acme")["remaining"] == 1000
    assert funded.balance("acme")["used"] == 0
    assert funded.usage_records() == []


def test_refuses_when_the_org_is_short_without_debiting(aws: Aws) -> None:
    aws.grant("acme", 50)
    aws.grant("acme", 100, user_id="alice")
    response = check({"user_id": "alice", "org_id": "acme", "units": 60})
    assert response["statusCode"] == 402
    body = decoded(response)
    assert "organisation balance" in body["reason"]
    assert "user" not in body["short"]
    assert aws.balance("acme", "alice")["remaining"] == 100
    assert aws.balance("acme")["remaining"] == 50
    assert aws.usage_records() == []


def test_exact_balance_is_allowed(funded: Aws) -> None:
    assert check({"user_id": "alice", "org_id": "acme", "units": 100})["statusCode"] == 200
    assert check({"user_id": "alice", "org_id": "acme", "units": 1}, request_id="req-2")["statusCode"] == 402


def test_the_same_request_id_debits_once(funded: Aws) -> None:
    body = {"user_id": "alice", "org_id": "acme", "units": 10}
    first, second = check(body), check(body)
    assert first["statusCode"] == second["statusCode"] == 200
    assert decoded(second)["remaining"] == {"user": 90, "org": 990}
    assert funded.balance("acme", "alice")["used"] == 10
    assert funded.balance("acme")["used"] == 10
    assert len(funded.usage_records()) == 1
    assert check(body, request_id="req-2")["statusCode"] == 200
    assert funded.balance("acme", "alice")["used"] == 20


@pytest.mark.parametrize(
    ("user", "org"),
    [("bob", "acme"), ("alice", "globex")],
)
def test_unknown_user_or_org_is_404(funded: Aws, user: str, org: str) -> None:
    response = check({"user_id": user, "org_id": org, "units": 1})
    assert response["statusCode"] == 404
    assert decoded(response)["field"] == ("user_id" if user == "bob" else "org_id")
    assert funded.usage_records() == []
    assert funded.balance("acme")["used"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"org_id": "acme", "units": 1}, "user_id"),
        ({"user_id": "", "org_id": "acme", "units": 1}, "user_id"),
        ({"user_id": "alice", "org_id": "ac me", "units": 1}, "org_id"),
        ({"user_id": "alice", "org_id": "a" * 129, "units": 1}, "org_id"),
        ({"user_id": "alice", "org_id": "acme", "units": 0}, "units"),
        ({"user_id": "alice", "org_id": "acme", "units": -5}, "units"),
        ({"user_id": "alice", "org_id": "acme", "units": "5"}, "units"),
        ({"user_id": "alice", "org_id": "acme", "units": True}, "units"),
        ({"user_id": "alice", "org_id": "acme", "units": 1.5}, "units"),
        ("not json", "body"),
        ([1, 2], "body"),
        (None, "body"),
    ],
)
def test_bad_input_is_400_naming_the_field(funded: Aws, body: Any, field: str) -> None:
    response = check(body)
    assert response["statusCode"] == 400
    assert decoded(response)["field"] == field
    assert field in decoded(response)["error"]
    assert funded.balance("acme")["used"] == 0
