"""Reports of a reconcile and the status they turn into."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cutlass_operator.api.changes import Drift
from cutlass_operator.api.common import CommonStatus, Condition, ConditionStatus, PlanSummary
from cutlass_operator.engine.conditions import (
    AWAITING_APPROVAL,
    DRIFTED,
    READY,
    RECONCILING,
    STALLED,
    SYNCED,
    now,
    set_condition,
)
from cutlass_operator.engine.errors import ReconcileError, RetryableError, TerminalError
from cutlass_operator.engine.executor import ApplyResult
from cutlass_operator.engine.plan import REMOVALS, Action, Change, Plan
from cutlass_operator.engine.plan_identity import plan_id
from cutlass_operator.workflows.changes import Gate, SuspendedError

# What status.plan lists of a plan, so a plan of hundreds of changes keeps the object far below
# the API server's size limit (about 40 lines of at most 240 characters: under 10 kB).
PLAN_LINES = 40
LINE_CHARACTERS = 240
DRIFT_LINES = 10


class Mode(StrEnum):
    PLAN = "plan"
    APPLY = "apply"
    DESTROY = "destroy"


class Phase(StrEnum):
    RECONCILING = "Reconciling"
    AWAITING_APPROVAL = "AwaitingApproval"
    PAUSED = "Paused"
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


def changes_of(reports: Sequence[LayerReport]) -> list[Change]:
    """Every change the layers planned, no-ops included (what change control decides on)."""
    return [c for lr in reports for c in lr.plan.changes]


@dataclass(frozen=True)
class Report:
    """One reconcile of one object: what each layer planned and did, or why it could not start."""

    mode: Mode
    layers: list[LayerReport] = field(default_factory=list)
    error: ReconcileError | None = None  # a failure before or between layers
    caller_arn: str | None = None
    gate: Gate | None = None  # how change control decided, when it did

    @property
    def first_error(self) -> ReconcileError | None:
        return self.error or next((lr.error for lr in self.layers if lr.error), None)

    @property
    def ok(self) -> bool:
        return self.first_error is None

    @property
    def awaiting(self) -> bool:
        return isinstance(self.first_error, SuspendedError)

    def pending(self) -> list[Change]:
        """The changes of the object's plan: as decided before writing, or as applied."""
        if self.gate is not None:
            return list(self.gate.changes)
        return [c for lr in self.layers for c in lr.plan.pending]

    def plan_summary(self, generation: int | None = None) -> PlanSummary:
        changes = self.pending()
        lines = [_clip(c.line()) for c in changes]
        return PlanSummary(
            id=plan_id(changes),
            destructive=any(c.destructive for c in changes),
            # A replacement creates one resource and deletes another.
            create=sum(1 for c in changes if c.action in (Action.CREATE, Action.REPLACE)),
            update=sum(1 for c in changes if c.action == Action.UPDATE),
            delete=sum(1 for c in changes if c.action in (*REMOVALS, Action.REPLACE)),
            changes=lines[:PLAN_LINES]
            + ([f"... and {len(lines) - PLAN_LINES} more"] if len(lines) > PLAN_LINES else []),
            omitted=max(0, len(lines) - PLAN_LINES),
            generation=generation,
            computed_at=now(),
        )

    def applied(self) -> list[Change]:
        """The changes this reconcile wrote to AWS."""
        return [c for lr in self.layers if lr.result is not None for c in lr.result.done]

    def render(self) -> str:
        pending = self.pending()
        lines = [f"plan {plan_id(pending)}"] if pending else []
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
    """Fold a report into the status: per-layer conditions, Synced, Ready, the kstatus pair, change
    control's conditions, phase, outputs, plan.

    `generation` is the one whose spec the reconcile read (never the live object's, which may
    have moved on meanwhile). `also_required` names conditions set elsewhere (the account check,
    the regions) that Ready waits for too."""
    conditions = list(status.conditions)
    done = {lr.condition: lr for lr in report.layers}
    error = report.first_error
    awaiting = report.awaiting
    for condition in layer_conditions:
        lr = None if awaiting else done.get(condition)  # a plan waiting for approval changed nothing
        if lr is not None and lr.error is None:
            conditions = set_condition(
                conditions, condition, True, "Reconciled", lr.plan.headline(), generation=generation
            )
        elif lr is not None and lr.error is not None:
            conditions = set_condition(
                conditions, condition, False, lr.error.reason, lr.error.message, generation=generation
            )
        elif error is not None and (not awaiting or not any(c.type == condition for c in conditions)):
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
    status.conditions = _change_control(conditions, report, generation)
    status.observed_generation = generation
    if report.layers or report.gate is not None:
        status.plan = report.plan_summary(generation)
    if report.gate is not None:
        status.approval = report.gate.record
        if report.ok:
            status.applied_digest = report.gate.request.inputs_digest
            if status.approval is not None:
                status.approval = status.approval.model_copy(update={"complete": True})
    for lr in report.layers:
        if lr.outputs:
            status.outputs[lr.layer] = lr.outputs
    status.last_reconcile_time = now()
    # Drift waiting for approval leaves what the spec asked applied: Ready stands, Drifted says it.
    drift_only = awaiting and report.gate is not None and report.gate.drift
    set_ready(status, [*layer_conditions, *also_required], None if drift_only else error)
    if awaiting:
        status.phase = Phase.AWAITING_APPROVAL


def _change_control(conditions: list[Condition], report: Report, generation: int) -> list[Condition]:
    """AwaitingApproval, Drifted, and kstatus's Reconciling and Stalled."""
    error, gate = report.first_error, report.gate
    if report.awaiting:
        assert error is not None
        conditions = set_condition(
            conditions, AWAITING_APPROVAL, True, "PlanAwaitsApproval", error.message, generation=generation
        )
    else:
        conditions = set_condition(
            conditions, AWAITING_APPROVAL, False, "NoPlanWaiting", "no plan waits for approval", generation=generation
        )
    if gate is not None and gate.request.drift_check:
        lines = [_clip(c.line()) for c in gate.changes[:DRIFT_LINES]]
        more = f"; and {len(gate.changes) - DRIFT_LINES} more" if len(gate.changes) > DRIFT_LINES else ""
        if not gate.changes:
            conditions = set_condition(
                conditions, DRIFTED, False, "NoDrift", "AWS matches the spec", generation=generation
            )
        elif report.awaiting:
            conditions = set_condition(
                conditions, DRIFTED, True, "DriftReported",
                f"AWS differs from the spec, left as it is until plan {gate.id} is approved: {'; '.join(lines)}{more}",
                generation=generation,
            )  # fmt: skip
        else:  # under Report, its plan was approved: repaired, so no longer drifted
            reported = gate.request.policy.drift == Drift.REPORT
            conditions = set_condition(
                conditions, DRIFTED, not reported, "DriftRepaired" if reported else "DriftCorrected",
                f"AWS differed from the spec and was repaired: {'; '.join(lines)}{more}", generation=generation,
            )  # fmt: skip
    elif report.ok and any(c.type == DRIFTED and c.status == ConditionStatus.TRUE for c in conditions):
        conditions = set_condition(
            conditions, DRIFTED, False, "NoDrift", "the spec was applied since", generation=generation
        )
    working = isinstance(error, RetryableError)
    conditions = set_condition(
        conditions, RECONCILING, working, error.reason if working and error else "Idle",
        error.message if working and error else "no work pending", generation=generation,
    )  # fmt: skip
    stalled = isinstance(error, TerminalError)
    return set_condition(
        conditions, STALLED, stalled, error.reason if stalled and error else "NotStalled",
        error.message if stalled and error else "", generation=generation,
    )  # fmt: skip


def _clip(line: str) -> str:
    return line if len(line) <= LINE_CHARACTERS else line[: LINE_CHARACTERS - 1] + "…"


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
    if isinstance(error, SuspendedError):
        return Phase.AWAITING_APPROVAL
    if isinstance(error, TerminalError):
        return Phase.FAILED
    if error.reason.startswith("WaitingFor"):
        return Phase.WAITING
    return Phase.RECONCILING
