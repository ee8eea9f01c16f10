"""Turning a workflow report into what kopf understands: events and retry or give-up errors."""

from __future__ import annotations

from typing import Any

import kopf

from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.workflows.report import Report


def post_events(body: Any, report: Report) -> None:
    summary = report.plan_summary()
    if summary.create or summary.update or summary.delete:
        applied = all(lr.result is None or lr.result.ok for lr in report.layers)
        kopf.info(
            body,
            reason="Applied" if applied else "PartiallyApplied",
            message=f"{summary.create} created, {summary.update} updated, {summary.delete} deleted",
        )
    error = report.first_error
    if error is not None and error.reason.startswith("WaitingFor"):
        kopf.info(body, reason=error.reason, message=error.message)  # an expected pause, not a problem
    elif error is not None:
        kopf.warn(body, reason=error.reason, message=error.message)


def raise_for(report: Report, retry_seconds: float) -> None:
    """Terminal failures stop retries until the spec changes; the rest retry with a delay."""
    error = report.first_error
    if isinstance(error, TerminalError):
        raise kopf.PermanentError(f"{error.reason}: {error.message}")
    if error is not None:
        delay = error.delay if isinstance(error, RetryableError) else retry_seconds
        raise kopf.TemporaryError(f"{error.reason}: {error.message}", delay=delay)
