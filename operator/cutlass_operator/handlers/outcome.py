"""Turning a workflow report into what kopf understands: events and retry or give-up errors."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import kopf

from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.plan import Action
from cutlass_operator.workflows.changes import SuspendedError
from cutlass_operator.workflows.report import Report

# A replacement creates one resource and deletes another.
COUNTED = {
    "created": (Action.CREATE, Action.REPLACE),
    "updated": (Action.UPDATE,),
    "deleted": (Action.DELETE, Action.RETAIN, Action.REPLACE),
}
# An event's message, kept well under what the API server stores of one.
MESSAGE_CHARACTERS = 900


@dataclass
class EventBudget:
    """A token bucket per object, so a burst of reconciles (a converge, a retry loop) posts a
    handful of events and then one now and then, rather than flooding the API server."""

    capacity: float = 20.0
    per_second: float = 0.2
    tokens: float = 20.0
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def event_budget(memo: Any) -> EventBudget:
    """The object's own budget, kept in kopf's per-object memo."""
    budget: EventBudget = memo.setdefault("event_budget", EventBudget())
    return budget


def post_events(body: Any, report: Report, budget: EventBudget, previous_plan: str | None = None) -> None:
    """What the reconcile changed in AWS, one event per layer naming each change (action, kind,
    name) as far as the budget allows, then a summary; a plan waiting for approval or drift once
    per plan id (`previous_plan`: the id the status showed before)."""
    summary = report.plan_summary()
    applied = report.applied()
    for layer in report.layers:
        done = layer.result.done if layer.result is not None else []
        if done and budget.take():
            kopf.info(body, reason="Changed", message=_clip(f"{layer.layer}: " + "; ".join(_line(c) for c in done)))
    if applied:
        counts = {verb: sum(1 for c in applied if c.action in actions) for verb, actions in COUNTED.items()}
        kopf.info(
            body,
            # Partially: some write failed (a layer waiting for its dependencies applied what it had).
            reason="Applied" if all(lr.result is None or lr.result.ok for lr in report.layers) else "PartiallyApplied",
            message=", ".join(f"{n} {verb}" for verb, n in counts.items()) + f" (plan {summary.id})",
        )
    gate = report.gate
    if gate is not None and gate.changes and gate.drift and summary.id != previous_plan:
        kopf.warn(body, reason="DriftDetected", message=_clip("; ".join(summary.changes)))
    error = report.first_error
    if isinstance(error, SuspendedError):
        if summary.id != previous_plan:
            kopf.info(body, reason=error.reason, message=error.message)
    elif error is not None and error.reason.startswith("WaitingFor"):
        kopf.info(body, reason=error.reason, message=error.message)  # an expected pause, not a problem
    elif error is not None:
        kopf.warn(body, reason=error.reason, message=error.message)


def _line(change: Any) -> str:
    return f"{change.action} {change.kind} {change.name}"


def _clip(message: str) -> str:
    return (
        message if len(message) <= MESSAGE_CHARACTERS else message[: MESSAGE_CHARACTERS - 24] + " ... (see status.plan)"
    )


def raise_for(report: Report, retry_seconds: float) -> None:
    """Terminal failures stop retries until the spec changes; a plan waiting for approval waits for
    the annotation (or the next resync); the rest retry with a delay."""
    error = report.first_error
    if isinstance(error, TerminalError):
        raise kopf.PermanentError(f"{error.reason}: {error.message}")
    if error is not None and not isinstance(error, SuspendedError):
        delay = error.delay if isinstance(error, RetryableError) else retry_seconds
        raise kopf.TemporaryError(f"{error.reason}: {error.message}", delay=delay)
