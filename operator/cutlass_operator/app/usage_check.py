"""usage-check: POST /usage-check {"user_id", "org_id", "units"}.

Debits the user's and the organisation's balances and records the usage in one DynamoDB transaction;
refuses with 402, debiting nothing, when either balance is short.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from . import common

USER, ORG, RECORD = 0, 1, 2
# lastWriteRegion lets each region's threshold monitor keep to the writes made in its region: the
# global table replicates every write to every region's stream, and one crossing must alert once.
DEBIT = "SET #used = #used + :u, #remaining = #remaining - :u, lastWriteRegion = :region"
NAMES = {"#used": "used", "#remaining": "remaining"}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        body = common.json_body(event)
        user_id = common.identifier(body, "user_id")
        org_id = common.identifier(body, "org_id")
        units = common.positive_int(body, "units")
    except common.BadRequestError as exc:
        return exc.response()
    assert user_id is not None and org_id is not None
    rid = common.request_id(event, context) or str(uuid.uuid4())
    return check(org_id, user_id, units, rid, _request_time(event))


def _request_time(event: dict[str, Any]) -> datetime:
    epoch_ms = (event.get("requestContext") or {}).get("requestTimeEpoch")
    if isinstance(epoch_ms, int | float) and not isinstance(epoch_ms, bool):
        return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return datetime.now(tz=UTC)


def _iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _token(rid: str) -> str:
    """ClientRequestToken: 1..36 characters; longer request ids are hashed to fit."""
    return rid if len(rid) <= 36 else hashlib.sha256(rid.encode()).hexdigest()[:36]


def check(org_id: str, user_id: str, units: int, rid: str, moment: datetime) -> dict[str, Any]:
    cfg = common.config()
    ddb = common.client("dynamodb", cfg)
    amount = {":u": {"N": str(units)}, ":region": {"S": cfg.region}}
    debit = {
        "TableName": cfg.credits_table,
        "UpdateExpression": DEBIT,
        "ConditionExpression": "#remaining >= :u",
        "ExpressionAttributeNames": NAMES,
        "ExpressionAttributeValues": amount,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    expires = int(moment.timestamp()) + cfg.usage_retention_days * 86400
    record = common.to_item(
        {
            "pk": common.org_key(org_id),
            "sk": f"{_iso(moment)}#{rid}",
            "userKey": common.user_key(org_id, user_id),
            "units": units,
            "region": cfg.region,
            "expiresAt": expires,
            "requestId": rid,
        }
    )
    items = [
        {"Update": {**debit, "Key": common.balance_key(org_id, user_id)}},
        {"Update": {**debit, "Key": common.balance_key(org_id)}},
        {
            "Put": {
                "TableName": cfg.usage_table,
                "Item": record,
                # A retry after the token's 10-minute window still cannot record (and so debit) twice.
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]
    try:
        ddb.transact_write_items(TransactItems=items, ClientRequestToken=_token(rid))
    except ClientError as exc:
        code = common.error_code(exc)
        if code == "TransactionCanceledException":
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            return _cancelled(ddb, cfg.credits_table, org_id, user_id, reasons)
        if code == "IdempotentParameterMismatchException":
            return common.error(409, "request id reused with different parameters", request_id=rid)
        if code in {"TransactionConflictException", "ProvisionedThroughputExceededException", "ThrottlingException"}:
            return common.error(503, "the balances are busy; retry", request_id=rid)
        raise
    user, org = _balances(ddb, cfg.credits_table, org_id, user_id)
    return common.respond(200, {"allowed": True, "remaining": _remaining(user, org), "request_id": rid})


def _cancelled(ddb: Any, table: str, org_id: str, user_id: str, reasons: list[Any]) -> dict[str, Any]:
    user, org = _balances(ddb, table, org_id, user_id)
    if user is None or org is None:
        missing = "org_id" if org is None else "user_id"
        return common.error(404, f"no credits for {missing}", field=missing)

    def failed(index: int) -> bool:
        return len(reasons) > index and reasons[index] == "ConditionalCheckFailed"

    remaining = _remaining(user, org)
    if failed(RECORD):
        # The usage record exists: this request id was already counted; report, never debit twice.
        return common.respond(200, {"allowed": True, "duplicate": True, "remaining": remaining})
    short = [name for index, name in ((USER, "user"), (ORG, "organisation")) if failed(index)]
    if not short:
        return common.error(503, "the transaction was cancelled; retry", reasons=reasons)
    reason = " and ".join(short) + (" balances are" if len(short) > 1 else " balance is") + " insufficient"
    return common.respond(402, {"allowed": False, "reason": reason, "short": short, "remaining": remaining})


def _balances(ddb: Any, table: str, org_id: str, user_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    user_pk, org_pk = common.user_key(org_id, user_id), common.org_key(org_id)
    keys = [common.balance_key(org_id, user_id), common.balance_key(org_id)]
    request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
    found: dict[str, dict[str, Any]] = {}
    for _ in range(5):
        answer = ddb.batch_get_item(RequestItems=request)
        for item in answer.get("Responses", {}).get(table, []):
            values = common.from_item(item)
            found[str(values["pk"])] = values
        request = answer.get("UnprocessedKeys") or {}
        if not request:
            break
        time.sleep(0.05)
    return found.get(user_pk), found.get(org_pk)


def _remaining(user: dict[str, Any] | None, org: dict[str, Any] | None) -> dict[str, int]:
    return {
        "user": common.number((user or {}).get("remaining")),
        "org": common.number((org or {}).get("remaining")),
    }
