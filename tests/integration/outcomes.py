"""What the kind tests read from a reconcile's outcome: the actions planned, a change's diff, outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cutlass_operator.engine.plan import Action
from cutlass_operator.engine.reconcile import Outcome


def actions(outcome: Outcome) -> dict[str, Action]:
    return {c.key: c.action for c in outcome.plan.changes}


def diff_paths(outcome: Outcome, key: str) -> set[str]:
    change = next(c for c in outcome.plan.changes if c.key == key)
    return {d.path for d in change.diff}


def outputs(outcome: Outcome, key: str) -> Mapping[str, Any]:
    assert outcome.result is not None
    return outcome.result.observed[key].outputs
