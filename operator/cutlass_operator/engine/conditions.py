"""Condition bookkeeping with metav1.Condition semantics: the transition time moves only on change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from cutlass_operator.api.common import Condition, ConditionStatus

READY = "Ready"
SYNCED = "Synced"
# kstatus's abnormal-true pair, which kubectl wait, Flux and Argo CD read.
RECONCILING = "Reconciling"
STALLED = "Stalled"
AWAITING_APPROVAL = "AwaitingApproval"
DRIFTED = "Drifted"


def now() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: ConditionStatus | bool,
    reason: str,
    message: str = "",
    *,
    generation: int | None = None,
) -> list[Condition]:
    """Return the list with `type_` set; other conditions keep their order and values."""
    if isinstance(status, bool):
        status = ConditionStatus.TRUE if status else ConditionStatus.FALSE
    previous = next((c for c in conditions if c.type == type_), None)
    changed = previous is None or previous.status != status
    new = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=now() if changed or previous is None else previous.last_transition_time,
        observed_generation=generation,
    )
    if previous is None:
        return [*conditions, new]
    return [new if c.type == type_ else c for c in conditions]
