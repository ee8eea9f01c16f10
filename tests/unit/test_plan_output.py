"""`cutlass plan --output markdown | json`: what a pull request shows of each object's plan."""

from __future__ import annotations

import json

from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.engine.plan import Action, Change, Plan
from cutlass_operator.engine.resource import FieldDiff, Observed
from cutlass_operator.plan_output import as_json, as_markdown, plan_data
from cutlass_operator.workflows.report import LayerReport, Mode, Report


def report(*changes: Change, error: TerminalError | None = None) -> Report:
    return Report(Mode.PLAN, [LayerReport("messaging", "MessagingReady", Plan(changes), None, {})], error=error)


UPDATE = Change(Action.UPDATE, "messaging/dlq", "sqs.queue", "dlq", diff=(FieldDiff("retention", 4, 14),))
DELETE = Change(
    Action.DELETE,
    "messaging/old",
    "sqs.queue",
    "old|queue",
    observed=Observed("messaging/old", "sqs.queue", "q", {}, {}),
)
REPORTS = {
    "CutlassRegion/dev-london": report(UPDATE, DELETE),
    "CutlassRegion/dev-sydney": report(Change(Action.NOOP, "messaging/dlq", "sqs.queue", "dlq")),
    "CutlassEnvironment/dev": report(error=TerminalError("AccountMismatch", "acts in 2, not 1")),
}
NAMESPACES = dict.fromkeys(REPORTS, "cutlass-dev")


def test_json_lists_each_object_with_its_plan_id_counts_and_changes() -> None:
    data = json.loads(as_json(plan_data(REPORTS, NAMESPACES)))
    london, sydney, env = data["objects"]
    assert london["plan"] | {"id": None} == {"id": None, "destructive": True, "create": 0, "update": 1, "delete": 1}
    assert london["plan"]["id"] == REPORTS["CutlassRegion/dev-london"].plan_summary().id
    assert [(c["action"], c["destructive"]) for c in london["changes"]] == [("update", False), ("delete", True)]
    assert london["changes"][0]["fields"] == [{"path": "retention", "current": 4, "desired": 14}]
    assert sydney["changes"] == [] and sydney["plan"]["destructive"] is False
    assert env["error"] == {"reason": "AccountMismatch", "message": "acts in 2, not 1"}
    assert data["changes"] == 2


def test_markdown_is_a_table_per_object_with_destructive_changes_marked_and_the_approve_command() -> None:
    text = as_markdown(plan_data(REPORTS, NAMESPACES))
    plan = REPORTS["CutlassRegion/dev-london"].plan_summary().id
    assert f"| CutlassRegion `cutlass-dev/dev-london` | `{plan}` | 0 | 1 | 1 | **yes** |" in text
    assert "| CutlassRegion `cutlass-dev/dev-sydney` | no changes | 0 | 0 | 0 | no |" in text
    assert "| ⚠️ destructive | delete | sqs.queue | old\\|queue |" in text, "pipes in cells are escaped"
    assert "|  | update | sqs.queue | dlq | retention: 4 → 14 |" in text
    assert f"cutlass approve cutlassregion/dev-london -n cutlass-dev --plan {plan}" in text
    assert "**AccountMismatch**: acts in 2, not 1" in text
    assert "dev-sydney`: plan" not in text, "an object without changes gets no section"
    assert "cutlassenvironment/dev" not in text, "nothing to approve where nothing changes"
