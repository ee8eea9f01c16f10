"""credits: read, grant or top up the balance of an organisation or one of its users (admin scope).

GET  /credits?org_id=..[&user_id=..]
POST /credits {"org_id", "user_id"?, "amount", "mode": "grant"|"topup", "thresholds"?, "contact_email"?}
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from . import common

MODES = ("grant", "topup")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    verb = common.method(event)
    try:
        if verb == "GET":
            return read(common.query_params(event))
        if verb == "POST":
            return change(common.json_body(event))
    except common.BadRequestError as exc:
        return exc.response()
    return common.error(405, f"method {verb or '(none)'} is not allowed")


def _subject(data: dict[str, Any]) -> tuple[str, str | None]:
    org_id = common.identifier(data, "org_id")
    user_id = common.identifier(data, "user_id", required=False)
    assert org_id is not None
    return org_id, user_id


def _view(org_id: str, user_id: str | None, values: dict[str, Any]) -> dict[str, Any]:
    view = {"org_id": org_id, **common.balance_view(values)}
    if user_id:
        view["user_id"] = user_id
    if values.get("contactEmail"):
        view["contact_email"] = values["contactEmail"]
    return view


def read(params: dict[str, Any]) -> dict[str, Any]:
    org_id, user_id = _subject(params)
    cfg = common.config()
    ddb = common.client("dynamodb", cfg)
    answer = ddb.get_item(TableName=cfg.credits_table, Key=common.balance_key(org_id, user_id), ConsistentRead=True)
    if "Item" not in answer:
        field = "user_id" if user_id else "org_id"
        return common.error(404, f"no credits for {field}", field=field)
    return common.respond(200, _view(org_id, user_id, common.from_item(answer["Item"])))


def change(body: dict[str, Any]) -> dict[str, Any]:
    org_id, user_id = _subject(body)
    amount = common.positive_int(body, "amount")
    mode = body.get("mode")
    if mode not in MODES:
        raise common.BadRequestError("mode", "must be 'grant' or 'topup'")
    levels = common.thresholds(body)
    contact = common.email(body, "contact_email")
    if contact and user_id:
        raise common.BadRequestError("contact_email", "is set on the organisation, not on a user")

    names = {"#allocation": "allocation", "#used": "used", "#remaining": "remaining"}
    values: dict[str, Any] = {":a": {"N": str(amount)}}
    if mode == "grant":
        # A new period: the allocation starts afresh and the alert band clears.
        sets = ["#allocation = :a", "#remaining = :a", "#used = :zero"]
        values[":zero"] = {"N": "0"}
        removes = " REMOVE alertBand"
        condition: str | None = None
    else:
        sets = ["#allocation = #allocation + :a", "#remaining = #remaining + :a"]
        removes = ""
        condition = "attribute_exists(pk)"
    if levels is not None:
        sets.append("thresholds = :t")
        values[":t"] = {"L": [{"N": str(level)} for level in levels]}
    elif mode == "grant":
        sets.append("thresholds = if_not_exists(thresholds, :t)")
        values[":t"] = {"L": [{"N": str(level)} for level in common.DEFAULT_THRESHOLDS]}
    if contact:
        sets.append("contactEmail = :c")
        values[":c"] = {"S": contact}

    cfg = common.config()
    sets.append("lastWriteRegion = :region")  # see usage_check.DEBIT
    values[":region"] = {"S": cfg.region}
    ddb = common.client("dynamodb", cfg)
    request: dict[str, Any] = {
        "TableName": cfg.credits_table,
        "Key": common.balance_key(org_id, user_id),
        "UpdateExpression": "SET " + ", ".join(sets) + removes,
        "ExpressionAttributeNames": {k: v for k, v in names.items() if any(k in part for part in sets)},
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
    }
    if condition:
        request["ConditionExpression"] = condition
    try:
        answer = ddb.update_item(**request)
    except ClientError as exc:
        if common.error_code(exc) == "ConditionalCheckFailedException":
            field = "user_id" if user_id else "org_id"
            return common.error(404, f"no credits to top up for {field}; grant first", field=field)
        raise
    return common.respond(200, _view(org_id, user_id, common.from_item(answer.get("Attributes"))))
