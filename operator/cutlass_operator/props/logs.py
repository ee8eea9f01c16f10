"""CloudWatch Logs log groups."""

from __future__ import annotations

from dataclasses import dataclass

from cutlass_operator.engine.resource import Props


@dataclass(frozen=True)
class LogGroupProps(Props):
    """`retention_in_days` None: the events never expire."""

    kind = "logs.log_group"

    log_group_name: str
    retention_in_days: int | None = None
