from __future__ import annotations

import json
from typing import Any

import pytest

from cutlass_operator.app import threshold_monitor

from .conftest import Aws, monitor, stream_record


def spend(aws: Aws, org_id: str, used: int, user_id: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Set a balance's `used` directly; return the raw old and new images (what the stream would carry)."""
    old = aws.raw_balance(org_id, user_id)
    allocation = int(old["allocation"]["N"])
    aws.ddb.update_item(
        TableName=aws.tables["credits"],
        Key={"pk": old["pk"], "sk": old["sk"]},
        UpdateExpression="SET used = :u, remaining = :r",
        ExpressionAttributeValues={":u": {"N": str(used)}, ":r": {"N": str(allocation - used)}},
    )
    return old, aws.raw_balance(org_id, user_id)


def bodies(aws: Aws) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in aws.receive(delete=True)]


def test_crossing_80_sends_one_message_and_sets_the_band(aws: Aws) -> None:
    aws.grant("acme", 100)
    old, new = spend(aws, "acme", 85)
    assert monitor([stream_record(old, new)]) == {"batchItemFailures": []}
    assert bodies(aws) == [
        {"subject": "ORG#acme", "org_id": "acme", "threshold": 80, "used": 85, "allocation": 100, "period": "2026-11"}
    ]
    [alert] = aws.alerts()
    assert (alert["pk"], alert["sk"]) == ("ORG#acme", "2026-11#80")
    assert alert["expiresAt"] > 1_795_000_000
    assert alert["notified"] is True
    assert aws.balance("acme")["alertBand"] == "80"


def test_user_crossing_carries_the_user(aws: Aws) -> None:
    aws.grant("acme", 10, user_id="alice")
    old, new = spend(aws, "acme", 10, user_id="alice")
    monitor([stream_record(old, new)])
    messages = sorted(bodies(aws), key=lambda m: int(m["threshold"]))
    assert [m["threshold"] for m in messages] == [80, 100]
    assert all(m["user_id"] == "alice" and m["subject"] == "USER#acme#alice" for m in messages)
    assert aws.balance("acme", "alice")["alertBand"] == "100"


def test_redelivered_record_sends_nothing_more(aws: Aws) -> None:
    aws.grant("acme", 100)
    old, new = spend(aws, "acme", 80)
    record = stream_record(old, new)
    assert monitor([record]) == {"batchItemFailures": []}
    assert monitor([record]) == {"batchItemFailures": []}
    assert len(bodies(aws)) == 1
    assert len(aws.alerts()) == 1


def test_no_crossing_no_message(aws: Aws) -> None:
    aws.grant("acme", 100)
    old, new = spend(aws, "acme", 50)
    monitor([stream_record(old, new)])
    old, new = spend(aws, "acme", 60)
    monitor([stream_record(old, new)])
    assert bodies(aws) == []
    assert aws.alerts() == []
    assert "alertBand" not in aws.balance("acme")


def test_already_above_is_not_a_crossing(aws: Aws) -> None:
    aws.grant("acme", 100)
    old, new = spend(aws, "acme", 85)
    monitor([stream_record(old, new)])
    aws.receive(delete=True)  # drain
    old, new = spend(aws, "acme", 90)
    monitor([stream_record(old, new, sequence="101")])
    assert bodies(aws) == []


def test_custom_thresholds(aws: Aws) -> None:
    aws.grant("acme", 100, thresholds=[50])
    old, new = spend(aws, "acme", 55)
    monitor([stream_record(old, new)])
    assert [m["threshold"] for m in bodies(aws)] == [50]


def test_insert_and_other_items_are_ignored(aws: Aws) -> None:
    aws.grant("acme", 100)
    item = aws.raw_balance("acme")
    insert = {**stream_record({}, item), "eventName": "INSERT"}
    plan = {**item, "sk": {"S": "PLAN"}, "used": {"N": "100"}}
    assert monitor([insert, stream_record(item, plan)]) == {"batchItemFailures": []}
    assert bodies(aws) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ((0, 100), (79, 100), []),
        ((79, 100), (80, 100), [80]),
        ((79, 100), (100, 100), [80, 100]),
        ((80, 100), (99, 100), []),
        ((90, 100), (90, 200), []),
        ((0, 0), (1, 0), []),
    ],
)
def test_crossings(old: tuple[int, int], new: tuple[int, int], expected: list[int]) -> None:
    assert threshold_monitor.crossings(*old, *new, [80, 100]) == expected


def test_failure_is_reported_for_a_retry(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.grant("acme", 100)
    aws.grant("globex", 100)
    acme = spend(aws, "acme", 85)
    globex = spend(aws, "globex", 85)
    monkeypatch.setenv("NOTIFICATIONS_QUEUE_URL", aws.queue_url + "-missing")
    records = [stream_record(*acme, sequence="200"), stream_record(*globex, sequence="201")]
    assert monitor(records) == {"batchItemFailures": [{"itemIdentifier": "200"}]}
    # The retry (queue fixed) still sends the alert: the claim left unsent is taken again.
    monkeypatch.setenv("NOTIFICATIONS_QUEUE_URL", aws.queue_url)
    assert monitor(records) == {"batchItemFailures": []}
    assert sorted(m["org_id"] for m in bodies(aws)) == ["acme", "globex"]
    assert monitor(records) == {"batchItemFailures": []}
    assert bodies(aws) == []
