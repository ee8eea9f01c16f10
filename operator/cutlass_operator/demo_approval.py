"""The demo's last act: change control on the prod-like path. The environment switches to
`approval: Manual`; a change to a region is planned and waits, its plan is printed, `cutlass
approve` approves it, and the operator applies exactly that plan, read back from AWS."""

from __future__ import annotations

import time
from typing import Any

import boto3

from cutlass_operator.api.common import GROUP, VERSION
from cutlass_operator.approve import ApproveError, approve

WAIT_SECONDS = 60.0
RETENTION_DAYS = 14


def show_approval_flow(custom: Any, env: dict[str, Any], region: dict[str, Any], session: boto3.Session) -> bool:
    """`session` acts in the region's account and AWS region. True when the approved plan applied."""
    namespace, name = region["metadata"]["namespace"], region["metadata"]["name"]
    log_group = f"/aws/lambda/cutlass-tech-fn-{env['metadata']['name']}-{region['spec']['region']}-usage-check"
    commands = [
        f"kubectl patch cutlassenvironment/{env['metadata']['name']} -n {namespace} --type merge "
        """-p '{"spec":{"changes":{"approval":"Manual"}}}'""",
        f"kubectl patch cutlassregion/{name} -n {namespace} --type merge "
        f"""-p '{{"spec":{{"settings":{{"logRetentionDays":{RETENTION_DAYS}}}}}}}'""",
    ]
    for command in commands:
        print(f"$ {command}")
    _patch(custom, "cutlassenvironments", namespace, env["metadata"]["name"], {"changes": {"approval": "Manual"}})
    _patch(custom, "cutlassregions", namespace, name, {"settings": {"logRetentionDays": RETENTION_DAYS}})
    waiting = _wait(custom, namespace, name, lambda obj: _condition(obj, "AwaitingApproval") == "True")
    if waiting is None:
        print("the change did not wait for approval")
        return False
    plan = waiting["status"]["plan"]
    print(f"\n{name}: plan {plan['id']} waits for approval ({plan['create']} to create, {plan['update']} to update,")
    print(f"  {plan['delete']} to delete; destructive: {plan['destructive']}):")
    for line in plan["changes"]:
        print(f"  {line}")
    logs = session.client("logs")
    before = _retention(logs, log_group)
    print(f"  meanwhile in AWS: {log_group} keeps {before} days")
    print(f"\n$ cutlass approve cutlassregion/{name} -n {namespace}")
    try:
        print(approve(f"cutlassregion/{name}", namespace, None))  # what the command runs
    except ApproveError as exc:
        print(f"error: {exc}")
        return False
    applied = _wait(
        custom,
        namespace,
        name,
        lambda obj: _condition(obj, "AwaitingApproval") == "False" and _ready_now(obj),
    )
    after = _retention(logs, log_group)
    print(f"applied: {log_group} now keeps {after} days (read from AWS)")
    return applied is not None and before != RETENTION_DAYS and after == RETENTION_DAYS


def _patch(custom: Any, plural: str, namespace: str, name: str, spec: dict[str, Any]) -> None:
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, plural, name, {"spec": spec})


def _wait(custom: Any, namespace: str, name: str, check: Any) -> dict[str, Any] | None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        obj: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "cutlassregions", name)
        if check(obj):
            return obj
        time.sleep(0.5)
    return None


def _condition(obj: dict[str, Any], type_: str) -> str | None:
    found = next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == type_), None)
    generation = obj["metadata"].get("generation")
    return found["status"] if found and found.get("observedGeneration") == generation else None


def _ready_now(obj: dict[str, Any]) -> bool:
    return _condition(obj, "Ready") == "True"


def _retention(logs: Any, name: str) -> int | None:
    groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return groups[0].get("retentionInDays") if groups else None
