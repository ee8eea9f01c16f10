"""Counting AWS calls through botocore's event hooks, to prove a steady state writes nothing."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Search", "Query", "Scan", "BatchGet")


# Calls that change nothing in the account although their names do not say so.
NON_MUTATING = frozenset({"AssumeRole", "AssumeRoleWithWebIdentity"})


def is_read(operation: str) -> bool:
    return operation.startswith(READ_PREFIXES) or operation in NON_MUTATING


@dataclass
class CallLog:
    """Thread-safe tally of `service:Operation` calls made through clients it is attached to."""

    calls: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, service: str, operation: str) -> None:
        with self._lock:
            self.calls[f"{service}:{operation}"] += 1

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_name

        def on_call(model: Any, **_: Any) -> None:
            self.record(service, model.name)

        client.meta.events.register("before-call", on_call)

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
