"""Counting AWS calls through botocore's event hooks, to prove a steady state writes nothing."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Search", "Query", "Scan", "BatchGet")


# Calls that change nothing in the account although their names do not say so.
NON_MUTATING = frozenset({"AssumeRole", "AssumeRoleWithWebIdentity"})


def is_read(operation: str) -> bool:
    return operation.startswith(READ_PREFIXES) or operation in NON_MUTATING


# Told of every call as it completes: service, operation, and "ok" or the error code.
CallObserver = Callable[[str, str, str], None]


@dataclass
class CallLog:
    """Thread-safe tally of `service:Operation` calls made through clients it is attached to."""

    calls: Counter[str] = field(default_factory=Counter)
    observers: list[CallObserver] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, service: str, operation: str) -> None:
        with self._lock:
            self.calls[f"{service}:{operation}"] += 1

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_name

        def on_call(model: Any, **_: Any) -> None:
            self.record(service, model.name)

        def on_done(model: Any, parsed: Any, **_: Any) -> None:
            code = (parsed or {}).get("Error", {}).get("Code") if isinstance(parsed, dict) else None
            for observer in self.observers:
                observer(service, model.name, code or "ok")

        # botocore tells of a call that raised (no answer, or a retry handler gave up) without its
        # model: only the event name carries the operation.
        def on_failed(event_name: str, exception: Exception, **_: Any) -> None:
            code = exception.response.get("Error", {}).get("Code") if isinstance(exception, ClientError) else None
            for observer in self.observers:
                observer(service, event_name.rsplit(".", 1)[-1], code or type(exception).__name__)

        client.meta.events.register("before-call", on_call)
        if self.observers:
            client.meta.events.register("after-call", on_done)
            client.meta.events.register("after-call-error", on_failed)

    @property
    def reads(self) -> int:
        return sum(n for op, n in self.calls.items() if is_read(op.split(":", 1)[1]))

    @property
    def writes(self) -> int:
        return sum(n for op, n in self.calls.items() if not is_read(op.split(":", 1)[1]))

    def mutating(self) -> dict[str, int]:
        return {op: n for op, n in sorted(self.calls.items()) if not is_read(op.split(":", 1)[1])}

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
