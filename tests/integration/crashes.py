"""A reconcile killed at a chosen AWS call, for the crash-point suite (test_crash_points.py).

`CrashingCalls` is a `CallLog`: OfflineRun attaches it to every client it makes. It counts the
mutating calls as they are made and, at the Nth, raises `Crash` right before the call is sent or
right after AWS answered it (the answer never reaches the operator). From then on every call in
every thread raises `Crash` too: the process is dead, and nothing after the crash point reaches AWS.

`Crash` is a BaseException, like the KeyboardInterrupt or SystemExit a dying process sees, so no
`except Exception` in the engine turns it into an ordinary failure and carries on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from cutlass_operator.aws.calls import CallLog, is_read

When = Literal["before", "after"]


class Crash(BaseException):
    """The process died here."""


@dataclass
class CrashingCalls(CallLog):
    crash_at: int = 0  # the Nth mutating call (1-based); 0: never
    when: When = "before"
    mutating_calls: int = 0
    crashed_at: str | None = None  # `service:Operation` of the call the crash came at
    _crash_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def attach(self, client: Any) -> None:
        super().attach(client)
        service = client.meta.service_model.service_name

        def before(model: Any, context: dict[str, Any], **_: Any) -> None:
            if self.crashed_at is not None:
                raise Crash(f"dead since {self.crashed_at}")
            if is_read(model.name):
                return
            with self._crash_lock:
                self.mutating_calls += 1
                nth = context["cutlass-crash-ordinal"] = self.mutating_calls
            if nth == self.crash_at and self.when == "before":
                self.crashed_at = f"{service}:{model.name}"
                raise Crash(f"killed before call {nth}, {self.crashed_at}")

        def after(model: Any, context: dict[str, Any], **_: Any) -> None:
            if self.crashed_at is not None:
                raise Crash(f"dead since {self.crashed_at}")
            nth = context.get("cutlass-crash-ordinal")
            if nth == self.crash_at and self.when == "after":
                self.crashed_at = f"{service}:{model.name}"
                raise Crash(f"killed after call {nth}, {self.crashed_at}")

        client.meta.events.register("before-call", before)
        client.meta.events.register("after-call", after)
