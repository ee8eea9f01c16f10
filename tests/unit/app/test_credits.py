from __future__ import annotations

from typing import Any

import pytest

from cutlass_operator.app import credits

from .conftest import Aws, api, decoded


def post(body: Any) -> dict[str, Any]:
    return credits.handler(api("POST", "/credits", body), None)


def get(**query: str) -> dict[str, Any]:
    return credits.handler(api("GET", "/credits", query=query), None)


def test_grant_then_read(aws: Aws) -> None:
    response = post({"org_id": "acme", "amount": 500, "mode": "grant", "contact_email": "billing@acme.example.com"})
    assert response["statusCode"] == 200
    assert decoded(response)["allocation"] == 500
    body = decoded(get(org_id="acme"))
    assert body == {
        "org_id": "acme",
        "allocation": 500,
        "used": 0,
        "remaining": 500,
        "thresholds": [80, 100],
        "contact_email": "billing@acme.example.com",
    }
    item = aws.balance("acme")
    assert item["pk"] == "ORG#acme" and item["sk"] == "BALANCE"
    assert item["contactEmail"] == "billing@acme.example.com"


def test_user_grant_with_thresholds(aws: Aws) -> None:
    post({"org_id": "acme", "user_id": "alice", "amount": 50, "mode": "grant", "thresholds": [100, 50, 90]})
    body = decoded(get(org_id="acme", user_id="alice"))
    assert body["user_id"] == "alice"
    assert body["thresholds"] == [50, 90, 100]
    assert aws.balance("acme", "alice")["pk"] == "USER#acme#alice"


def test_topup_adds_to_allocation_and_remaining(aws: Aws) -> None:
    aws.grant("acme", 100)
    aws.ddb.update_item(
        TableName=aws.tables["credits"],
        Key={"pk": {"S": "ORG#acme"}, "sk": {"S": "BALANCE"}},
        UpdateExpression="SET used = :u, remaining = :r",
        ExpressionAttributeValues={":u": {"N": "40"}, ":r": {"N": "60"}},
    )
    response = post({"org_id": "acme", "amount": 50, "mode": "topup"})
    assert response["statusCode"] == 200
    assert {k: decoded(response)[k] for k in ("allocation", "used", "remaining")} == {
        "allocation": 150,
        "used": 40,
        "remaining": 110,
    }


def test_grant_resets_the_period(aws: Aws) -> None:
    aws.grant("acme", 100)
    aws.ddb.update_item(
        TableName=aws.tables["credits"],
        Key={"pk": {"S": "ORG#acme"}, "sk": {"S": "BALANCE"}},
        UpdateExpression="SET used = :u, remaining = :r, alertBand = :b",
        ExpressionAttributeValues={":u": {"N": "90"}, ":r": {"N": "10"}, ":b": {"S": "80"}},
    )
    body = decoded(post({"org_id": "acme", "amount": 200, "mode": "grant"}))
    assert (body["allocation"], body["used"], body["remaining"]) == (200, 0, 200)
    assert "alertBand" not in aws.balance("acme")


def test_topup_of_unknown_balance_is_404(aws: Aws) -> None:
    response = post({"org_id": "nobody", "amount": 5, "mode": "topup"})
    assert response["statusCode"] == 404
    assert aws.ddb.scan(TableName=aws.tables["credits"])["Items"] == []


def test_read_unknown_is_404(aws: Aws) -> None:
    assert get(org_id="acme")["statusCode"] == 404
    aws.grant("acme", 5)
    response = get(org_id="acme", user_id="alice")
    assert response["statusCode"] == 404
    assert decoded(response)["field"] == "user_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 5, "mode": "grant"}, "org_id"),
        ({"org_id": "a/b", "amount": 5, "mode": "grant"}, "org_id"),
        ({"org_id": "acme", "user_id": 7, "amount": 5, "mode": "grant"}, "user_id"),
        ({"org_id": "acme", "mode": "grant"}, "amount"),
        ({"org_id": "acme", "amount": 0, "mode": "grant"}, "amount"),
        ({"org_id": "acme", "amount": "5", "mode": "grant"}, "amount"),
        ({"org_id": "acme", "amount": 5}, "mode"),
        ({"org_id": "acme", "amount": 5, "mode": "steal"}, "mode"),
        ({"org_id": "acme", "amount": 5, "mode": "grant", "thresholds": []}, "thresholds"),
        ({"org_id": "acme", "amount": 5, "mode": "grant", "thresholds": [0]}, "thresholds"),
        ({"org_id": "acme", "amount": 5, "mode": "grant", "thresholds": [101]}, "thresholds"),
        ({"org_id": "acme", "amount": 5, "mode": "grant", "thresholds": ["80"]}, "thresholds"),
        ({"org_id": "acme", "amount": 5, "mode": "grant", "thresholds": 80}, "thresholds"),
        ({"org_id": "acme", "amount": 5, "mode": "grant", "contact_email": "nope"}, "contact_email"),
        ("{", "body"),
    ],
)
def test_bad_input_is_400_naming_the_field(aws: Aws, body: Any, field: str) -> None:
    response = post(body)
    assert response["statusCode"] == 400
    assert decoded(response)["field"] == field
    assert decoded(response)["error"].startswith(field)
    assert aws.ddb.scan(TableName=aws.tables["credits"])["Items"] == []


def test_read_without_org_is_400(aws: Aws) -> None:
    response = get()
    assert response["statusCode"] == 400
    assert decoded(response)["field"] == "org_id"


def test_other_methods_are_405(aws: Aws) -> None:
    assert credits.handler(api("DELETE", "/credits"), None)["statusCode"] == 405
