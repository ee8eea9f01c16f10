"""`cutlass plan --output markdown | json`: the plans of every object, for a CI pipeline to post as
a pull-request comment or to read as data. The ids are the ones the operator computes in-cluster
for the same specs and the same AWS state, so a reviewer can approve in the pull request exactly
what the operator will do."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cutlass_operator.engine.plan import Change
from cutlass_operator.workflows.report import Report


def plan_data(reports: Mapping[str, Report], namespaces: Mapping[str, str]) -> dict[str, Any]:
    """`reports` by "Kind/name"; `namespaces` the same keys' namespaces."""
    objects: list[dict[str, Any]] = []
    for key, report in reports.items():
        kind, name = key.split("/", 1)
        summary = report.plan_summary()
        error = report.first_error
        objects.append(
            {
                "kind": kind,
                "namespace": namespaces.get(key, "default"),
                "name": name,
                "plan": {
                    "id": summary.id,
                    "destructive": summary.destructive,
                    "create": summary.create,
                    "update": summary.update,
                    "delete": summary.delete,
                },
                "changes": [_change(c) for c in report.pending()],
                "error": None if error is None else {"reason": error.reason, "message": error.message},
            }
        )
    return {"objects": objects, "changes": sum(len(obj["changes"]) for obj in objects)}


def _change(change: Change) -> dict[str, Any]:
    return {
        "action": str(change.action),
        "kind": change.kind,
        "name": change.name,
        "key": change.key,
        "destructive": change.destructive,
        "fields": [{"path": d.path, "current": d.current, "desired": d.desired} for d in change.diff],
        "why": change.why or None,
    }


def as_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, default=str)


def as_markdown(data: Mapping[str, Any]) -> str:
    objects = data["objects"]
    lines = [
        "### Cutlass plan",
        "",
        f"{data['changes']} change(s) in {sum(1 for o in objects if o['changes'])} of {len(objects)} object(s).",
        "",
        "| object | plan id | create | update | delete | destructive |",
        "|---|---|---:|---:|---:|---|",
    ]
    for obj in objects:
        plan = obj["plan"]
        ident = f"`{plan['id']}`" if obj["changes"] else "no changes"
        lines.append(
            f"| {obj['kind']} `{obj['namespace']}/{obj['name']}` | {ident} | {plan['create']} | {plan['update']} "
            f"| {plan['delete']} | {'**yes**' if plan['destructive'] else 'no'} |"
        )
    for obj in objects:
        if not obj["changes"] and obj["error"] is None:
            continue
        lines += ["", f"#### {obj['kind']} `{obj['namespace']}/{obj['name']}`: plan `{obj['plan']['id']}`", ""]
        if obj["changes"]:
            lines += ["| | action | kind | name | what changes |", "|---|---|---|---|---|"]
            lines += [_row(c) for c in obj["changes"]]
        if obj["error"] is not None:
            lines += ["", f"**{obj['error']['reason']}**: {_cell(obj['error']['message'])}"]
        if obj["changes"]:
            lines += [
                "",
                f"Approve in the cluster: `cutlass approve {obj['kind'].lower()}/{obj['name']} -n {obj['namespace']} "
                f"--plan {obj['plan']['id']}`",
            ]
    return "\n".join(lines) + "\n"


def _row(change: Mapping[str, Any]) -> str:
    fields = "; ".join(f"{f['path']}: {f['current']!r} → {f['desired']!r}" for f in change["fields"])
    if change["why"]:
        fields = f"{fields} ({change['why']})" if fields else change["why"]
    mark = "⚠️ destructive" if change["destructive"] else ""
    return f"| {mark} | {change['action']} | {change['kind']} | {_cell(change['name'])} | {_cell(fields)} |"


def _cell(text: str) -> str:
    """Markdown table cells take no pipes or newlines, and stay readable when long."""
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 300 else text[:299] + "…"
