"""notifier: the notifications queue → the SES (v1) templated email `<TEMPLATE_PREFIX>-<threshold>`.

The recipient is the organisation's `contactEmail` on its credits item. A message it cannot process
(bad JSON, missing fields, no contact, SES refusal) is reported in `batchItemFailures`, so SQS redelivers
it and, after the queue's maxReceiveCount, moves it to the dead-letter queue.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from . import common

log = logging.getLogger(__name__)
REQUIRED = ("subject", "org_id", "threshold", "used", "allocation", "period")


class UnprocessableError(Exception):
    """A message this function cannot send."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    cfg = common.config()
    ddb = common.client("dynamodb", cfg)
    ses = common.client("ses", cfg)
    failures: list[dict[str, str]] = []
    for record in event.get("Records") or []:
        try:
            send(record.get("body"), cfg, ddb, ses)
        except Exception as exc:
            log.warning("message %s not sent: %s", record.get("messageId"), exc)
            failures.append({"itemIdentifier": str(record.get("messageId", ""))})
    return {"batchItemFailures": failures}


def parse(body: Any) -> dict[str, Any]:
    try:
        message = json.loads(body) if isinstance(body, str) else None
    except ValueError as exc:
        raise UnprocessableError("body is not JSON") from exc
    if not isinstance(message, dict):
        raise UnprocessableError("body is not a JSON object")
    missing = [field for field in REQUIRED if message.get(field) in (None, "")]
    if missing:
        raise UnprocessableError(f"missing fields: {', '.join(missing)}")
    for field in ("threshold", "used", "allocation"):
        if isinstance(message[field], bool) or not isinstance(message[field], int):
            raise UnprocessableError(f"{field} is not an integer")
    return message


def send(body: Any, cfg: common.Config, ddb: Any, ses: Any) -> str:
    message = parse(body)
    org_id = str(message["org_id"])
    answer = ddb.get_item(TableName=cfg.credits_table, Key=common.balance_key(org_id), ConsistentRead=True)
    contact = common.from_item(answer.get("Item")).get("contactEmail")
    if not contact:
        raise UnprocessableError(f"organisation {org_id} has no contact email")
    allocation = int(message["allocation"])
    data = {
        "org_id": org_id,
        "user_id": message.get("user_id") or "",
        "subject": message["subject"],
        "who": f"user {message['user_id']} of {org_id}" if message.get("user_id") else f"organisation {org_id}",
        "threshold": message["threshold"],
        "used": message["used"],
        "allocation": allocation,
        "remaining": max(allocation - int(message["used"]), 0),
        "period": message["period"],
        "region": cfg.region,
    }
    sent = ses.send_templated_email(
        Source=cfg.sender_email,
        Destination={"ToAddresses": [str(contact)]},
        Template=f"{cfg.template_prefix}-{message['threshold']}",
        TemplateData=json.dumps(data, sort_keys=True),
    )
    return str(sent.get("MessageId", ""))
