"""Helpers shared by the functions: configuration, API Gateway proxy responses, validation, DynamoDB items.

Deployed as Lambda code: only the standard library and boto3/botocore.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

DEFAULT_THRESHOLDS: tuple[int, ...] = (80, 100)
DEFAULT_RETENTION_DAYS = 400
BALANCE_SK = "BALANCE"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]+$")

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class Config:
    credits_table: str
    usage_table: str
    alerts_table: str
    notifications_queue_url: str
    sender_email: str
    template_prefix: str
    region: str
    usage_retention_days: int


def config() -> Config:
    """The function's configuration, read from its environment at call time (never at import)."""
    retention = os.environ.get("USAGE_RETENTION_DAYS", "")
    return Config(
        credits_table=os.environ.get("CREDITS_TABLE", ""),
        usage_table=os.environ.get("USAGE_TABLE", ""),
        alerts_table=os.environ.get("ALERTS_TABLE", ""),
        notifications_queue_url=os.environ.get("NOTIFICATIONS_QUEUE_URL", ""),
        sender_email=os.environ.get("SENDER_EMAIL", ""),
        template_prefix=os.environ.get("TEMPLATE_PREFIX", "usage-alert"),
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        usage_retention_days=int(retention) if retention.isdigit() else DEFAULT_RETENTION_DAYS,
    )


def client(service: str, cfg: Config | None = None) -> Any:
    """A boto3 client for the function's region, created on the call path so tests can set the environment."""
    region = (cfg or config()).region
    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


# --- API Gateway (Lambda proxy) ---------------------------------------------------------------


def respond(status: int, body: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, default=_json_default, sort_keys=True),
    }


def error(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return respond(status, {"error": message, **extra})


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class BadRequestError(Exception):
    """An input the function refuses: answered with 400 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def response(self) -> dict[str, Any]:
        return error(400, f"{self.field}: {self.message}", field=self.field)


def json_body(event: dict[str, Any]) -> dict[str, Any]:
    raw = event.get("body")
    if raw is None or raw == "":
        raise BadRequestError("body", "a JSON object is required")
    if event.get("isBase64Encoded") and isinstance(raw, str):
        try:
            raw = base64.b64decode(raw).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequestError("body", "is not valid base64 UTF-8") from exc
    if isinstance(raw, dict):
        return raw
    try:
        body = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise BadRequestError("body", "is not valid JSON") from exc
    if not isinstance(body, dict):
        raise BadRequestError("body", "must be a JSON object")
    return body


def query_params(event: dict[str, Any]) -> dict[str, Any]:
    params = event.get("queryStringParameters")
    return dict(params) if isinstance(params, dict) else {}


def method(event: dict[str, Any]) -> str:
    found = event.get("httpMethod") or (event.get("requestContext") or {}).get("http", {}).get("method") or ""
    return str(found).upper()


def request_id(event: dict[str, Any], context: Any) -> str:
    found = (event.get("requestContext") or {}).get("requestId") or getattr(context, "aws_request_id", None)
    return str(found) if found else ""


def identifier(data: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    value = data.get(field)
    if value is None:
        if required:
            raise BadRequestError(field, "is required")
        return None
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise BadRequestError(field, "must be a non-empty string of at most 128 characters [A-Za-z0-9_.@-]")
    return value


def positive_int(data: dict[str, Any], field: str, *, maximum: int = 10**15) -> int:
    value = data.get(field)
    if value is None:
        raise BadRequestError(field, "is required")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value > maximum:
        raise BadRequestError(field, f"must be a positive integer (at most {maximum})")
    return value


def thresholds(data: dict[str, Any], field: str = "thresholds") -> list[int] | None:
    value = data.get(field)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not value
        or any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 100 for v in value)
    ):
        raise BadRequestError(field, "must be a non-empty list of integers between 1 and 100")
    return sorted(set(value))


def email(data: dict[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 254 or not EMAIL_PATTERN.match(value):
        raise BadRequestError(field, "must be an email address")
    return value


# --- DynamoDB items -----------------------------------------------------------------------------


def org_key(org_id: str) -> str:
    return f"ORG#{org_id}"


def user_key(org_id: str, user_id: str) -> str:
    return f"USER#{org_id}#{user_id}"


def balance_key(org_id: str, user_id: str | None = None) -> dict[str, Any]:
    pk = user_key(org_id, user_id) if user_id else org_key(org_id)
    return {"pk": {"S": pk}, "sk": {"S": BALANCE_SK}}


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any] | None) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in (item or {}).items()}


def number(value: Any, default: int = 0) -> int:
    if value is None:
        return default
    return int(Decimal(str(value)))


def balance_view(values: dict[str, Any]) -> dict[str, Any]:
    """The public view of a credits item."""
    view: dict[str, Any] = {
        "allocation": number(values.get("allocation")),
        "used": number(values.get("used")),
        "remaining": number(values.get("remaining")),
        "thresholds": [number(t) for t in values.get("thresholds") or DEFAULT_THRESHOLDS],
    }
    if values.get("alertBand") is not None:
        view["alertBand"] = str(values["alertBand"])
    return view


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
