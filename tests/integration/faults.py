"""AWS faults injected into the operator's own clients, for the fault suite (test_faults.py).

`FaultyCalls` is a `CallLog`: OfflineRun and the workflows attach it to every client they make, so
its `before-send` hook sees every HTTP attempt (botocore's retries included) and, per a seeded
random draw, answers it as AWS would when it is busy:

- throttled: the service's own throttling error (code and HTTP status as that service sends them),
  without sending the request;
- unavailable: a 503 ServiceUnavailable, without sending;
- a lost reply (mutating calls only): the request is sent for real, AWS does the work, and the
  caller gets a 503 instead of the answer, as when a connection drops after the server acted.

Each error body is built in the protocol's own shape (json, rest-json, query XML, EC2 XML, rest-xml,
rpc-v2-cbor), because botocore reads the error code from the body or a header by protocol: a body
in the wrong shape would parse as no error code (or as a success) and the suite would test nothing.
test_faults.py checks that every shape parses to the intended code.

Draws come from one `random.Random(seed)` under a lock; the worker threads' interleaving decides
which call gets which draw, so a seed fixes the rates and the first draws, not the exact faults.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.httpsession import URLLib3Session

from cutlass_operator.aws.calls import CallLog, is_read


@dataclass(frozen=True)
class Rates:
    """Probabilities per HTTP attempt; `lost` applies to mutating calls only."""

    throttled: float = 0.20
    unavailable: float = 0.05
    lost: float = 0.03


NONE = Rates(0.0, 0.0, 0.0)

# Each service's own throttling answer: (code, HTTP status). Codes are those AWS documents for the
# service and that botocore's retry handler counts as throttling (botocore/retries/standard.py).
THROTTLING: dict[str, tuple[str, int]] = {
    "ec2": ("RequestLimitExceeded", 503),
    "s3": ("SlowDown", 503),
    "route53": ("Throttling", 400),
    "apigateway": ("TooManyRequestsException", 429),
    "lambda": ("TooManyRequestsException", 429),
    "cognito-idp": ("TooManyRequestsException", 400),
    "sqs": ("RequestThrottled", 400),
    "sts": ("Throttling", 400),
    "iam": ("Throttling", 400),
    "ses": ("Throttling", 400),
    "cloudwatch": ("Throttling", 400),
    "resourcegroupstaggingapi": ("ThrottledException", 400),
}
DEFAULT_THROTTLING = ("ThrottlingException", 400)  # dynamodb, kms, logs, acm and most json services
# Route 53 answers a change to a zone with a change still pending this way; botocore retries it.
ROUTE53_PENDING = ("PriorRequestNotComplete", 400)


@dataclass(frozen=True)
class Fault:
    code: str
    status: int


def throttling_for(service: str, operation: str) -> Fault:
    if service == "route53" and operation == "ChangeResourceRecordSets":
        return Fault(*ROUTE53_PENDING)
    return Fault(*THROTTLING.get(service, DEFAULT_THROTTLING))


def unavailable_for(service: str) -> Fault:
    return Fault("Unavailable" if service == "ec2" else "ServiceUnavailable", 503)


class _Body:
    """The `raw` botocore reads an answer's bytes from (AWSResponse.content calls raw.stream())."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data

    def read(self, *_: Any, **__: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def error_response(url: str, protocol: str, fault: Fault, *, query_compatible: bool = False) -> AWSResponse:
    """The answer AWS sends for `fault` in `protocol`'s error shape."""
    message = "Rate exceeded" if fault.status != 503 or "Limit" in fault.code else "Service unavailable"
    request_id = "f4a17000-0000-4000-8000-000000000000"
    headers = {"x-amzn-RequestId": request_id}
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": fault.code, "message": message}).encode()
        headers["Content-Type"] = "application/x-amz-json-1.1" if protocol == "json" else "application/json"
        if protocol == "rest-json":
            headers["x-amzn-ErrorType"] = fault.code
    elif protocol == "smithy-rpc-v2-cbor":
        body = _cbor_map({"__type": fault.code, "message": message})
        headers.update({"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
    elif protocol == "query":
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{fault.code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers["Content-Type"] = "text/xml"
    elif protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{fault.code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        ).encode()
        headers["Content-Type"] = "text/xml;charset=UTF-8"
    elif protocol == "rest-xml":
        body = (
            f"<Error><Code>{fault.code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers["Content-Type"] = "application/xml"
    else:
        raise AssertionError(f"no error shape for the {protocol} protocol")
    if query_compatible:  # json/cbor services that kept their query-era codes say so in a header
        headers["x-amzn-query-error"] = f"{fault.code};Sender"
    headers["Content-Length"] = str(len(body))
    return AWSResponse(url, fault.status, headers, _Body(body))


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    if len(data) < 24:
        return bytes([0x60 + len(data)]) + data
    if len(data) < 256:
        return bytes([0x78, len(data)]) + data
    raise AssertionError("longer texts are not needed here")


def _cbor_map(items: dict[str, str]) -> bytes:
    """A CBOR map of short text keys and values (RFC 8949 major types 3 and 5): all an error body needs."""
    assert len(items) < 24
    return bytes([0xA0 + len(items)]) + b"".join(_cbor_text(k) + _cbor_text(v) for k, v in items.items())


@dataclass
class FaultyCalls(CallLog):
    """A CallLog that also injects faults into every client it is attached to."""

    seed: int = 0
    rates: Rates = field(default_factory=Rates)
    # Seconds added to every attempt, as a round trip to AWS would: a converge's time then grows
    # by this much per call of its longest chain of dependent calls.
    latency: float = 0.0
    # `service:Operation`s whose first attempt's answer is lost, whatever the draws: a fault at a
    # chosen place, for a test that must not depend on luck.
    lose_first: frozenset[str] = frozenset()
    # What happened per attempt: "sent", "throttled", "unavailable", "lost" (sent, answer replaced).
    attempts: Counter[str] = field(default_factory=Counter)
    # Mutating operations whose reply was lost, `service:Operation` -> count.
    lost_replies: Counter[str] = field(default_factory=Counter)
    _random: random.Random = field(init=False, repr=False)
    _draw_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _http: URLLib3Session = field(default_factory=URLLib3Session, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def attach(self, client: Any) -> None:
        super().attach(client)
        model = client.meta.service_model
        service = model.service_name
        protocol = model.resolved_protocol  # what botocore speaks, of those the service offers
        query_compatible = "awsQueryCompatible" in model.metadata

        def before_send(request: AWSPreparedRequest, event_name: str = "", **_: Any) -> AWSResponse | None:
            time.sleep(self.latency)
            operation = event_name.rsplit(".", 1)[-1]
            outcome = self._draw(is_read(operation))
            with self._draw_lock:
                if f"{service}:{operation}" in self.lose_first - self.lost_replies.keys():
                    outcome = "lost"
            with self._draw_lock:
                self.attempts[outcome] += 1
                if outcome == "lost":
                    self.lost_replies[f"{service}:{operation}"] += 1
            if outcome == "sent":
                return None
            if outcome == "lost":
                _ = self._http.send(request).content  # AWS acts on it; its answer is read and dropped
                fault = unavailable_for(service)
            elif outcome == "throttled":
                fault = throttling_for(service, operation)
            else:
                fault = unavailable_for(service)
            return error_response(request.url, protocol, fault, query_compatible=query_compatible)

        client.meta.events.register("before-send", before_send)

    def _draw(self, read: bool) -> str:
        with self._draw_lock:
            draw = self._random.random()
        rates = self.rates
        if draw < rates.throttled:
            return "throttled"
        if draw < rates.throttled + rates.unavailable:
            return "unavailable"
        if not read and draw < rates.throttled + rates.unavailable + rates.lost:
            return "lost"
        return "sent"

    @property
    def faulted(self) -> int:
        return sum(n for outcome, n in self.attempts.items() if outcome != "sent")
