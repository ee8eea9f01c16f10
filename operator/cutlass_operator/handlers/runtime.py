"""What every handler shares: the operator's settings and its metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cutlass_operator.aws.calls import CallLog
from cutlass_operator.handlers.config import OperatorConfig
from cutlass_operator.handlers.control import Snapshot
from cutlass_operator.handlers.metrics import OperatorMetrics
from cutlass_operator.workflows.report import Report


@dataclass(frozen=True)
class Runtime:
    config: OperatorConfig
    metrics: OperatorMetrics

    async def measured(self, kind: str, snap: Snapshot, run: Callable[[CallLog], Awaitable[Report]]) -> Report:
        """Run one reconcile with its AWS calls counted, and record how it went."""
        started = time.monotonic()
        report = await run(self.metrics.call_log())
        namespace, name = snap.metadata.get("namespace") or "", snap.metadata.get("name") or ""
        self.metrics.observe(kind, namespace, name, report, time.monotonic() - started)
        return report
