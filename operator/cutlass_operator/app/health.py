"""health: GET /health for Route 53 health checks: the region and whether the credits table is reachable."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import common

log = logging.getLogger(__name__)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    cfg = common.config()
    try:
        answer = common.client("dynamodb", cfg).describe_table(TableName=cfg.credits_table)
        status = str(answer.get("Table", {}).get("TableStatus", ""))
    except (BotoCoreError, ClientError) as exc:
        log.warning("credits table %s unreachable: %s", cfg.credits_table, exc)
        return common.respond(503, {"status": "unavailable", "region": cfg.region, "table": "unreachable"})
    if status not in {"ACTIVE", "UPDATING"}:
        return common.respond(503, {"status": "unavailable", "region": cfg.region, "table": status.lower()})
    return common.respond(200, {"status": "ok", "region": cfg.region, "table": "reachable"})
