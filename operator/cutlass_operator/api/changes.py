"""Change control: who lets a plan reach AWS, and what a resync does with drift.

`spec.changes` on an environment applies to it and its regions; a region's own `spec.changes`
overrides it field by field. The annotations are how a human acts on one object: approve one
plan by its id, pause it, or ask for a reconcile now.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pydantic import Field

from cutlass_operator.api.common import CamelModel

APPROVE: Final = "cutlass.tech/approve"
PAUSED: Final = "cutlass.tech/paused"
RECONCILE_REQUESTED_AT: Final = "cutlass.tech/reconcile-requested-at"
ANNOTATIONS: Final = (APPROVE, PAUSED, RECONCILE_REQUESTED_AT)


class Approval(StrEnum):
    AUTO = "Auto"  # every plan applies
    DESTRUCTIVE = "Destructive"  # a plan that deletes, replaces or retains anything waits
    MANUAL = "Manual"  # every plan with changes waits


class Drift(StrEnum):
    CORRECT = "Correct"  # a resync repairs what changed in AWS
    REPORT = "Report"  # a resync reports it and changes nothing until its plan is approved


class ChangeControl(CamelModel):
    approval: Approval | None = Field(
        default=None,
        description=(
            "Auto: apply every plan. Destructive: creates and in-place updates apply, a plan that deletes, "
            "replaces or retains a resource waits for approval. Manual: every plan with changes waits. "
            "Approve a plan with the annotation cutlass.tech/approve: <status.plan.id>. "
            "Default: Auto for tiers dev and staging, Destructive for prod (a region inherits its environment's)."
        ),
    )
    drift: Drift | None = Field(
        default=None,
        description=(
            "What a resync does when AWS differs from the spec. Correct: repair it. Report: change nothing, "
            "report it (condition Drifted, an event, a metric) until its plan is approved. Default: Correct."
        ),
    )


class ChangePolicy(CamelModel):
    approval: Approval
    drift: Drift


def resolve_changes(prod: bool, *layers: ChangeControl | None) -> ChangePolicy:
    """The tier's defaults, overridden by each later layer's set fields (environment, then region)."""
    approval, drift = (Approval.DESTRUCTIVE if prod else Approval.AUTO), Drift.CORRECT
    for layer in layers:
        if layer is not None:
            approval = layer.approval or approval
            drift = layer.drift or drift
    return ChangePolicy(approval=approval, drift=drift)


def is_paused(annotations: dict[str, str] | None) -> bool:
    return (annotations or {}).get(PAUSED, "").strip().lower() == "true"
