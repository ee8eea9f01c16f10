"""The gate between a plan and AWS: whether an object's plan may be applied, decided from the whole
plan before anything is written.

Where a plan could wait for approval, a reconcile first plans all of the object's layers (reads
only), decides here, then applies with the gate checking each layer's changes again as they are
about to be written: a change the plan did not show (AWS moved between the two, or a value unknown at
planning turned out to force a replacement) is never applied on the strength of an approval of
something else; the reconcile stops and the next one shows the new plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from cutlass_operator.api.changes import APPROVE, Approval, ChangePolicy, Drift
from cutlass_operator.api.common import ApprovalRecord
from cutlass_operator.engine.errors import ReconcileError, RetryableError
from cutlass_operator.engine.plan import Action, Change
from cutlass_operator.engine.plan_identity import coverage, digest, plan_id


class SuspendedError(ReconcileError):
    """Nothing was written because a human must act first (approve a plan): not retried, and not
    a failure; the approval annotation triggers the next reconcile."""


@dataclass(frozen=True)
class ChangeRequest:
    """What the object asks of this reconcile, from its spec, annotations and status."""

    policy: ChangePolicy
    inputs_digest: str  # of the specs the plan is made from
    approved_id: str | None = None  # the cutlass.tech/approve annotation
    record: ApprovalRecord | None = None  # an approved plan still being applied
    # A reconcile of specs that were applied completely: whatever it finds to change is drift.
    drift_check: bool = False

    @property
    def may_wait(self) -> bool:
        """Whether any plan could need approval: if not, nothing need be planned before applying."""
        return self.policy.approval != Approval.AUTO or (self.drift_check and self.policy.drift == Drift.REPORT)

    def requires_approval(self, change: Change) -> bool:
        if self.drift_check and self.policy.drift == Drift.REPORT:
            return True
        if self.policy.approval == Approval.MANUAL:
            return True
        return self.policy.approval == Approval.DESTRUCTIVE and change.destructive


@dataclass(frozen=True)
class Gate:
    request: ChangeRequest
    changes: tuple[Change, ...]  # the plan's pending changes, in plan order
    id: str
    awaiting: bool
    record: ApprovalRecord | None  # what the status keeps of the approval
    approved: frozenset[str] = field(default_factory=frozenset)

    @property
    def drift(self) -> bool:
        """The plan repairs drift (a reconcile of applied specs found AWS changed)."""
        return self.request.drift_check and bool(self.changes)

    @property
    def destructive(self) -> bool:
        return any(c.destructive for c in self.changes)

    def allows(self, change: Change) -> bool:
        return not self.request.requires_approval(change) or coverage(change) in self.approved

    def refusal(self, changes: Sequence[Change]) -> ReconcileError | None:
        """Why a layer's changes, planned again just before they are written, may not be."""
        unseen = [c for c in changes if c.action != Action.NOOP and not self.allows(c)]
        if not unseen:
            return None
        return RetryableError(
            "PlanChanged",
            f"{unseen[0].line()} was not in plan {self.id} as approved (AWS or the spec changed since): "
            "nothing of it was applied; the next reconcile shows the new plan",
            delay=1,
        )

    def awaiting_message(self, resource: str, namespace: str) -> str:
        """`resource` as kubectl names it: cutlassregion/dev-london."""
        what = "repairs drift" if self.drift else ("deletes or replaces resources" if self.destructive else "changes")
        needs = (
            f"drift: {self.request.policy.drift}"
            if self.drift and self.request.policy.drift == Drift.REPORT
            else f"approval: {self.request.policy.approval}"
        )
        return (
            f"plan {self.id} {what} and waits for approval ({needs}); approve it with: cutlass approve {resource} "
            f"-n {namespace} --plan {self.id} (or: kubectl annotate -n {namespace} {resource} "
            f"{APPROVE}={self.id} --overwrite)"
        )


def decide(request: ChangeRequest, changes: Sequence[Change]) -> Gate:
    pending = tuple(c for c in changes if c.action != Action.NOOP)
    pid = plan_id(pending)
    needing = [c for c in pending if request.requires_approval(c)]
    record = request.record
    if not needing:
        return Gate(request, pending, pid, awaiting=False, record=record)
    if request.approved_id == pid:
        record = ApprovalRecord(
            plan_id=pid, inputs_digest=request.inputs_digest, changes=sorted({coverage(c) for c in pending})
        )
        return Gate(request, pending, pid, awaiting=False, record=record, approved=frozenset(record.changes))
    if (
        record is not None
        and not record.complete
        and record.inputs_digest == request.inputs_digest
        and all(coverage(c) in record.changes for c in needing)
    ):
        # The rest of an approved plan (its first part applied in an earlier reconcile).
        return Gate(request, pending, pid, awaiting=False, record=record, approved=frozenset(record.changes))
    return Gate(request, pending, pid, awaiting=True, record=record)


def inputs_digest(*parts: Any) -> str:
    """Of the specs (and facts) a plan is made from: models by their JSON, the rest as they are.
    `spec.changes` is left out: switching the policy (to `drift: Report`, say) is not an edit of
    what AWS should hold, and must not make the next reconcile take drift for a spec change."""
    return digest([p.model_dump(mode="json", exclude={"changes"}) if isinstance(p, BaseModel) else p for p in parts])
