"""What both kinds' handlers share for change control: a consistent view of the object for one
reconcile, which events wake a reconcile, pause, and the change request made of it all."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from cutlass_operator.api.changes import (
    ANNOTATIONS,
    APPROVE,
    RECONCILE_REQUESTED_AT,
    Approval,
    ChangePolicy,
    is_paused,
)
from cutlass_operator.api.common import CommonStatus
from cutlass_operator.engine.conditions import AWAITING_APPROVAL, RECONCILING, SYNCED, set_condition
from cutlass_operator.handlers.config import LEGACY_KOPF_KEYS
from cutlass_operator.workflows.changes import ChangeRequest
from cutlass_operator.workflows.report import Phase, Report

# How often a deletion waiting for approval looks at its annotation (no AWS call while it waits).
APPROVAL_POLL = 5.0
WRITTEN_STATUS = "written_status"


def worth_a_reconcile(body: kopf.Body, patch: kopf.Patch, reason: str, old: Any, new: Any) -> bool:
    """For a change handler: whether the change is worth a reconcile. Drops kopf's annotations
    from before its prefix moved, whose marker hides ours from it."""
    for key in Snapshot.of(body).legacy_kopf_annotations():
        patch.metadata.annotations[key] = None
    return reason != kopf.Reason.UPDATE or worth_reconciling(old, new)


@asynccontextmanager
async def turn(body: kopf.Body, memo: Any) -> AsyncIterator[Snapshot]:
    """One reconcile of an object at a time (timers and change handlers alike), each on the object
    as it is when its turn comes: one that waited runs on the spec that landed meanwhile."""
    lock: asyncio.Lock = memo.setdefault("reconcile_lock", asyncio.Lock())
    async with lock:
        yield Snapshot.of(body, memo)


@dataclass(frozen=True)
class Snapshot:
    """The object as it was when its reconcile's turn came. kopf's body is live: read at the end
    of a long reconcile, it already shows a spec change that landed meanwhile, and a status written
    from it would claim that change's generation applied (anything waiting on generation and
    Ready, such as kubectl wait or Argo CD, would move on too early). Its status includes what
    this operator last wrote: kopf sends a handler's status patch after the handler returns, so a
    reconcile that waited for the one before it would read the status from before that one."""

    body: dict[str, Any]
    memo: Any = None  # kopf's per-object memo, where written status is remembered

    @classmethod
    def of(cls, body: kopf.Body, memo: Any = None) -> Snapshot:
        snapshot = copy.deepcopy(dict(body))
        written = memo.get(WRITTEN_STATUS) if memo is not None else None
        if written:
            snapshot["status"] = {**(snapshot.get("status") or {}), **copy.deepcopy(written)}
        return cls(snapshot, memo)

    def write_status(self, patch: kopf.Patch, status: dict[str, Any]) -> None:
        patch.status.update(status)
        if self.memo is not None:
            self.memo[WRITTEN_STATUS] = {**self.memo.get(WRITTEN_STATUS, {}), **copy.deepcopy(status)}

    @property
    def metadata(self) -> dict[str, Any]:
        return self.body.get("metadata") or {}

    @property
    def spec(self) -> dict[str, Any]:
        return self.body.get("spec") or {}

    @property
    def status(self) -> dict[str, Any]:
        return self.body.get("status") or {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or "")

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "")

    @property
    def generation(self) -> int:
        return int(self.metadata.get("generation") or 1)

    @property
    def annotations(self) -> dict[str, str]:
        return self.metadata.get("annotations") or {}

    @property
    def paused(self) -> bool:
        return is_paused(self.annotations)

    def model(self) -> dict[str, Any]:
        return {"metadata": self.metadata, "spec": self.spec}

    def request(self, policy: ChangePolicy, inputs_digest: str, status: CommonStatus) -> ChangeRequest:
        """A reconcile of specs applied completely before (a resync, a reconcile-now, an approval)
        can only find drift."""
        return ChangeRequest(
            policy=policy,
            inputs_digest=inputs_digest,
            approved_id=self.annotations.get(APPROVE) or None,
            record=status.approval,
            drift_check=status.applied_digest == inputs_digest,
        )

    def legacy_kopf_annotations(self) -> list[str]:
        """kopf's own annotations from before its prefix moved to kopf.cutlass.tech, to remove."""
        return [key for key in self.annotations if key.startswith(LEGACY_KOPF_KEYS)]

    def requested_at(self) -> str | None:
        return self.annotations.get(RECONCILE_REQUESTED_AT)

    def previous_plan(self) -> str | None:
        return (self.status.get("plan") or {}).get("id")

    def still_waiting(self, refresh_seconds: float, policy: ChangePolicy | None) -> bool:
        """A teardown plan waits for approval, the annotation does not name it, it is recent, and
        the policy (None: unknown) still asks for approval: nothing to ask AWS yet (a deletion's
        handler retries on a timer, not on events)."""
        if policy is not None and policy.approval == Approval.AUTO:
            return False
        plan = self.status.get("plan") or {}
        awaiting = any(
            c.get("type") == AWAITING_APPROVAL and c.get("status") == "True" for c in self.status.get("conditions", [])
        )
        deleted = str(self.metadata.get("deletionTimestamp") or "")
        teardown = bool(deleted) and (plan.get("computedAt") or "") >= deleted  # both RFC 3339 in UTC
        if not awaiting or not teardown or self.annotations.get(APPROVE) == plan.get("id"):
            return False
        computed = datetime.strptime(plan.get("computedAt") or "1970-01-01T00:00:00Z", "%Y-%m-%dT%H:%M:%SZ")
        return (datetime.now(tz=UTC) - computed.replace(tzinfo=UTC)).total_seconds() < refresh_seconds


def write_paused(status: CommonStatus, generation: int, message: str) -> None:
    """Nothing was reconciled: only Synced and the phase say why; the rest stands as it was."""
    status.conditions = set_condition(status.conditions, SYNCED, False, "Paused", message, generation=generation)
    status.conditions = set_condition(status.conditions, RECONCILING, False, "Paused", message, generation=generation)
    status.phase = Phase.PAUSED


def worth_reconciling(old: Any, new: Any) -> bool:
    """An update of the spec or of one of the change-control annotations; kopf calls update
    handlers for any change of labels and annotations too (`kubectl apply` rewrites its own)."""
    old, new = old or {}, new or {}
    if old.get("spec") != new.get("spec"):
        return True
    before = (old.get("metadata") or {}).get("annotations") or {}
    after = (new.get("metadata") or {}).get("annotations") or {}
    # An approval removed (the operator consumes it once its plan is applied) asks for nothing.
    return any(before.get(key) != after.get(key) and (key != APPROVE or after.get(key)) for key in ANNOTATIONS)


def consume_approval(snap: Snapshot, patch: kopf.Patch, report: Report) -> None:
    """An approval is for one application of its plan: once the plan it names is applied, the
    annotation goes, so the same changes planned again later (the same hand edit, say) wait for
    an approval of their own, and approving that id again is a change kopf sees."""
    record = report.gate.record if report.gate else None
    if report.ok and record is not None and record.plan_id == snap.annotations.get(APPROVE):
        patch.metadata.annotations[APPROVE] = None
