"""Reports of a reconcile and the status they turn into."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cutlass_operator.api.common import CommonStatus, ConditionStatus, PlanSummary
from cutlass_operator.engine.conditions import READY, SYNCED, now, set_condition
from cutlass_operator.engine.errors import ReconcileError, TerminalError
from cutlass_operator.engine.executor import ApplyResult
from cutlass_operator.engine.plan import REMOVALS, Action, Plan


class Mode(StrEnum):
    PLAN = "plan"
    APPLY = "apply"
    DESTROY = "destroy"


class Phase(StrEnum):
    RECONCILING = "Reconciling"
    READY = "Ready"
    FAILED = "Failed"
    WAITING = "WaitingForDependency"
    DELETING = "Deleting"
    DELETED = "Deleted"


@dataclass(frozen=True)
class LayerReport:
    layer: str
    condition: str
    plan: Plan
    result: ApplyResult | None
    outputs: dict[str, Any]
    # Applied, but not usable yet: a replica still being created, a key not there yet.
    waiting: ReconcileError | None = None

    @property
    def error(self) -> ReconcileError | None:
        if self.result is None or self.result.ok:
            return self.waiting
        errors = list(self.result.errors.values())
        return next((e for e in errors if isinstance(e, TerminalError)), errors[0])


@dataclass(frozen=True)
class Report:
    """One reconcile of one object: what each layer planned and did, or why it could not start."""

    mode: Mode
    layers: list[LayerReport] = field(default_factory=list)
    error: ReconcileError | None = None  # a failure before or between layers
    caller_arn: str | None = None

    @property
    def first_error(self) -> ReconcileError | None:
        return self.error or next((lr.error for lr in self.layers if lr.error), None)

    @property
    def ok(self) -> bool:
        return self.first_error is None

    def plan_summary(self) -> PlanSummary:
        changes = [c for lr in self.layers for c in lr.plan.pending]
        return PlanSummary(
            # A replacement creates one resource and deletes another.
            create=sum(1 for c in changes if c.action in (Action.CREATE, Action.REPLACE)),
            update=sum(1 for c in changes if c.action == Action.UPDATE),
            delete=sum(1 for c in changes if c.action in (*REMOVALS, Action.REPLACE)),
            changes=[c.line() for c in changes][:50],
        )

    def render(self) -> str:
        lines = []
        for lr in self.layers:
            lines.append(f"layer {lr.layer}:")
            lines += ["  " + line for line in lr.plan.render().splitlines()]
        if self.first_error:
            lines.append(f"error: {self.first_error.reason}: {self.first_error.message}")
        return "\n".join(lines)


def apply_report(
    status: CommonStatus,
    report: Report,
    generation: int,
    layer_conditions: list[str],
    also_required: Sequence[str] = (),
) -> None:
    """Fold a report into the status: per-layer conditions, Synced, Ready, phase, outputs, plan.

    `also_required` names conditions set elsewhere (the account check, the regions) that Ready
    waits for too."""
    conditions = list(status.conditions)
    done = {lr.condition: lr for lr in report.layers}
    error = report.first_error
    for condition in layer_conditions:
        lr = done.get(condition)
        if lr is not None and lr.error is None:
            conditions = set_condition(
                conditions, condition, True, "Reconciled", lr.plan.headline(), generation=generation
            )
        elif lr is not None and lr.error is not None:
            conditions = set_condition(
                conditions, condition, False, lr.error.reason, lr.error.message, generation=generation
            )
        elif error is not None:
            conditions = set_condition(
                conditions, condition, ConditionStatus.UNKNOWN, "NotReconciled",
                f"not reached: {error.reason}", generation=generation,
            )  # fmt: skip
    if error is None:
        conditions = set_condition(
            conditions, SYNCED, True, "ReconcileSuccess", "the last reconcile applied the spec",
            generation=generation,
        )  # fmt: skip
    else:
        conditions = set_condition(conditions, SYNCED, False, error.reason, error.message, generation=generation)
    status.conditions = conditions
    status.observed_generation = generation
    if report.layers:
        status.plan = report.plan_summary()
    for lr in report.layers:
        if lr.outputs:
            status.outputs[lr.layer] = lr.outputs
    status.last_reconcile_time = now()
    set_ready(status, [*layer_conditions, *also_required], error)


def set_ready(status: CommonStatus, required: Sequence[str], error: ReconcileError | None = None) -> None:
    """Ready (and the phase) from the required conditions: the first one not True says why not."""
    blocking = next((c for name in required if (c := status.condition(name)) is None or c.status != "True"), None)
    missing = next((name for name in required if status.condition(name) is None), None)
    ready = error is None and blocking is None and missing is None
    if ready:
        reason, message = "Available", "every layer is reconciled"
    elif error is not None:
        reason, message = error.reason, error.message
    elif blocking is not None:
        reason, message = blocking.reason, blocking.message
    else:
        reason, message = "Pending", f"{missing} has not been reconciled yet"
    status.conditions = set_condition(
        status.conditions, READY, ready, reason, message, generation=status.observed_generation
    )
    status.phase = phase_of(error, ready)


def phase_of(error: ReconcileError | None, ready: bool) -> Phase:
    if error is None:
        return Phase.READY if ready else Phase.RECONCILING
    if isinstance(error, TerminalError):
        return Phase.FAILED
    if error.reason.startswith("WaitingFor"):
        return Phase.WAITING
    return Phase.RECONCILING
