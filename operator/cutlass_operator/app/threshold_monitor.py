"""threshold-monitor: the credits table's stream (NEW_AND_OLD_IMAGES) → one notification per crossing.

For each MODIFY of a balance whose used/allocation rises across a threshold (default 80 and 100 percent),
the alerts item `<subject>` / `<YYYY-MM>#<threshold>` is written with `attribute_not_exists(pk)`, so a
redelivered record finds it and sends nothing; then one SQS message goes to the notifications queue and
the balance's `alertBand` is set. Failed records are returned as `batchItemFailures`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from . import common

log = logging.getLogger(__name__)
ALERT_TTL_SECONDS = 62 * 86400  # a period after the alert's own


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    cfg = common.config()
    ddb = common.client("dynamodb", cfg)
    sqs = common.client("sqs", cfg)
    failures: list[dict[str, str]] = []
    for record in event.get("Records") or []:
        try:
            process(record, cfg, ddb, sqs)
        except Exception:
            log.exception("stream record %s failed", record.get("eventID"))
            sequence = (record.get("dynamodb") or {}).get("SequenceNumber") or record.get("eventID") or ""
            # A stream retries from the first failure on: report it and leave the rest for the retry.
            failures.append({"itemIdentifier": str(sequence)})
            break
    return {"batchItemFailures": failures}


def crossings(old_used: int, old_allocation: int, new_used: int, new_allocation: int, levels: list[int]) -> list[int]:
    """The thresholds (percent) the balance rose across: below before, at or above now."""
    if new_allocation <= 0:
        return []
    crossed = []
    for level in levels:
        was_above = old_allocation > 0 and old_used * 100 >= level * old_allocation
        is_above = new_used * 100 >= level * new_allocation
        if is_above and not was_above:
            crossed.append(level)
    return crossed


def band(used: int, allocation: int, levels: list[int]) -> int | None:
    reached = [level for level in levels if allocation > 0 and used * 100 >= level * allocation]
    return max(reached) if reached else None


def subject_ids(pk: str) -> tuple[str, str | None] | None:
    parts = pk.split("#")
    if parts[0] == "ORG" and len(parts) == 2:
        return parts[1], None
    if parts[0] == "USER" and len(parts) == 3:
        return parts[1], parts[2]
    return None


def process(record: dict[str, Any], cfg: common.Config, ddb: Any, sqs: Any) -> int:
    """Handle one stream record; return how many notifications it queued."""
    if record.get("eventName") != "MODIFY":
        return 0
    change = record.get("dynamodb") or {}
    old = common.from_item(change.get("OldImage"))
    new = common.from_item(change.get("NewImage"))
    pk = str(new.get("pk", ""))
    ids = subject_ids(pk)
    if new.get("sk") != common.BALANCE_SK or ids is None:
        return 0
    org_id, user_id = ids
    levels = [common.number(t) for t in new.get("thresholds") or common.DEFAULT_THRESHOLDS]
    used, allocation = common.number(new.get("used")), common.number(new.get("allocation"))
    crossed = crossings(common.number(old.get("used")), common.number(old.get("allocation")), used, allocation, levels)
    if not crossed:
        return 0
    created = change.get("ApproximateCreationDateTime")
    moment = datetime.fromtimestamp(float(created), tz=UTC) if created is not None else datetime.now(tz=UTC)
    period = f"{moment:%Y-%m}"
    sent = 0
    for level in crossed:
        if not _claim(
            ddb,
            cfg,
            pk=pk,
            period=period,
            level=level,
            org_id=org_id,
            user_id=user_id,
            used=used,
            allocation=allocation,
            moment=moment,
        ):
            continue  # already alerted for this crossing (a redelivered record)
        message: dict[str, Any] = {
            "subject": pk,
            "org_id": org_id,
            "threshold": level,
            "used": used,
            "allocation": allocation,
            "period": period,
        }
        if user_id:
            message["user_id"] = user_id
        sqs.send_message(QueueUrl=cfg.notifications_queue_url, MessageBody=json.dumps(message, sort_keys=True))
        _mark_sent(ddb, cfg, pk, period, level)
        sent += 1
    current = band(used, allocation, levels)
    if current is not None and str(new.get("alertBand", "")) != str(current):
        try:
            ddb.update_item(
                TableName=cfg.credits_table,
                Key={"pk": {"S": pk}, "sk": {"S": common.BALANCE_SK}},
                UpdateExpression="SET alertBand = :b",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":b": {"S": str(current)}},
            )
        except ClientError as exc:
            if common.error_code(exc) != "ConditionalCheckFailedException":
                raise
    return sent


def _claim(
    ddb: Any,
    cfg: common.Config,
    *,
    pk: str,
    period: str,
    level: int,
    org_id: str,
    user_id: str | None,
    used: int,
    allocation: int,
    moment: datetime,
) -> bool:
    """Write the alert item unless it exists; True when this call owns the notification.

    `attribute_not_exists(pk)` makes the alert unique; an item left `notified = false` by a run that
    failed before queueing may be claimed again, so a crash between the two writes never loses the alert.
    """
    item = common.to_item(
        {
            "pk": pk,
            "sk": f"{period}#{level}",
            "orgId": org_id,
            "userId": user_id,
            "threshold": level,
            "used": used,
            "allocation": allocation,
            "notified": False,
            "createdAt": moment.isoformat(),
            "expiresAt": int(moment.timestamp()) + ALERT_TTL_SECONDS,
        }
    )
    try:
        ddb.put_item(
            TableName=cfg.alerts_table,
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR notified = :false",
            ExpressionAttributeValues={":false": {"BOOL": False}},
        )
    except ClientError as exc:
        if common.error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _mark_sent(ddb: Any, cfg: common.Config, pk: str, period: str, level: int) -> None:
    ddb.update_item(
        TableName=cfg.alerts_table,
        Key={"pk": {"S": pk}, "sk": {"S": f"{period}#{level}"}},
        UpdateExpression="SET notified = :true",
        ExpressionAttributeValues={":true": {"BOOL": True}},
    )
