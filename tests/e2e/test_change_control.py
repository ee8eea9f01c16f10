"""Change control on a real API server, driven as a user drives it: `spec.changes` (approval and
drift), the annotations (`cutlass.tech/approve`, `cutlass.tech/paused`,
`cutlass.tech/reconcile-requested-at`) and `cutlass approve`, each judged by what AWS holds
afterwards (boto3 in the environment's account) and what the cluster shows (kubectl).

The environment is the demo's (manifests/dev), moved to its own namespace and account
(555555555555), so this module shares nothing with the others. Its tests share one converged
environment and run in the order written; each leaves the environment as the next expects
(approval back to Auto, nothing paused), and the last deletes a region under Destructive.

The effect used throughout is CloudWatch Logs retention: `spec.settings.logRetentionDays` of
dev-london sets the retention of each of its log groups, an in-place update of a few resources.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cutlass_operator.emulator.aws import free_port
from cutlass_operator.engine.identity import WORKSPACE
from tests.e2e.support import (
    FIGURES,
    Cluster,
    InstalledCrds,
    OperatorProcess,
    account_session,
    dev_manifests_in,
    venv_tool,
    wait_until,
    workspace_resources,
)

pytestmark = pytest.mark.e2e

NAMESPACE = "cutlass-cc"
ACCOUNT = "555555555555"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/cutlass-operator"
LONDON = "cutlassregion/dev-london"
SYDNEY = "cutlassregion/dev-sydney"
ENVIRONMENT = "cutlassenvironment/dev"
CONVERGE_SECONDS = 180
DELETE_SECONDS = 120
SETTLE_SECONDS = 30  # a reconcile of an already converged object
RESYNC_SECONDS = 900  # longer than the module: no resync timer fires while it runs
PLAN_ID = re.compile(r"^[0-9a-f]{12}$")


def aws_calls(metrics_port: int) -> float:
    """The sum of the operator's `cutlass_aws_calls_total` over every service, operation and outcome."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("cutlass_aws_calls_total{")
    )


@dataclass
class ChangeControl:
    cluster: Cluster
    operator: OperatorProcess

    def kubectl(self, *args: str) -> str:
        return self.cluster.kubectl.run(*args, "-n", NAMESPACE).stdout

    def get(self, resource: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.cluster.kubectl.get(resource, "-n", NAMESPACE)
        return obj

    def condition(self, resource: str, type_: str) -> dict[str, Any]:
        conditions = (self.get(resource).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == type_), {})

    def patch(self, resource: str, patch: dict[str, Any]) -> int:
        """A merge patch (as `kubectl patch --type merge`); returns the object's new generation."""
        self.kubectl("patch", resource, "--type=merge", "-p", json.dumps(patch))
        return int(self.get(resource)["metadata"]["generation"])

    def annotate(self, resource: str, *pairs: str) -> None:
        self.kubectl("annotate", resource, *pairs, "--overwrite")

    def wait(self, *args: str, timeout: float = SETTLE_SECONDS) -> None:
        try:
            self.cluster.kubectl.wait(*args, "-n", NAMESPACE, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.state()}") from None

    def wait_until(self, check: Any, what: str, timeout: float = SETTLE_SECONDS) -> Any:
        try:
            return wait_until(check, timeout=timeout, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.state()}") from None

    def reconciled(self, resource: str, generation: int) -> None:
        """The operator wrote the status of this generation (whatever it found)."""
        self.wait(f"--for=jsonpath={{.status.observedGeneration}}={generation}", resource)

    def approve(self, resource: str, *extra: str) -> str:
        """`cutlass approve` as a user runs it, against this cluster."""
        result = subprocess.run(
            [venv_tool("cutlass"), "approve", resource, "-n", NAMESPACE, *extra],
            capture_output=True,
            text=True,
            env={**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)},
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"cutlass approve {resource}: {result.stdout}{result.stderr}\n{self.state()}"
        return result.stdout

    def events(self, name: str) -> list[dict[str, Any]]:
        selector = f"involvedObject.name={name}"
        listed: list[dict[str, Any]] = self.cluster.kubectl.get(
            "events", "-n", NAMESPACE, "--field-selector", selector
        )["items"]
        return sorted(listed, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")

    def state(self) -> str:
        objects = self.cluster.kubectl.run("get", "cutlass", "-n", NAMESPACE, "-o", "yaml", check=False).stdout
        return f"--- objects:\n{objects}\n--- operator log:\n{self.operator.tail(60)}"


@pytest.fixture(scope="module")
def cc(
    cluster: Cluster, crds: InstalledCrds, aws_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChangeControl]:
    """The demo environment in cutlass-cc, applied with kubectl, and the operator watching it."""
    cluster.namespace(NAMESPACE)
    log = tmp_path_factory.mktemp("operator") / "change-control-operator.log"
    # Its metrics on a port of its own (other modules' operators bind the default), and no resync
    # while the module runs: every reconcile is one a test asked for, so no timer races a test's
    # hand edit or approval.
    operator = OperatorProcess(
        cluster.kubeconfig, aws_endpoint, [NAMESPACE], log, resync_seconds=RESYNC_SECONDS, metrics_port=free_port()
    )
    cluster.kubectl.apply_documents(dev_manifests_in(NAMESPACE, ACCOUNT))
    operator.start()
    try:
        yield ChangeControl(cluster, operator)
    finally:
        try:  # leave no finalizer behind: nothing paused, nothing waiting for approval, then delete
            if not operator.alive:
                operator.start()
            for resource in ("cutlassenvironments", "cutlassregions"):
                cluster.kubectl.run("annotate", resource, "--all", "-n", NAMESPACE, "cutlass.tech/paused-", check=False)
            cluster.kubectl.run(
                "patch", ENVIRONMENT, "-n", NAMESPACE, "--type=merge",
                "-p", '{"spec":{"changes":{"approval":"Auto","drift":"Correct"}}}', check=False,
            )  # fmt: skip
            cluster.kubectl.run(
                "delete", "cutlassregions,cutlassenvironments", "--all", "-n", NAMESPACE, "--timeout=90s", check=False
            )
        finally:
            operator.stop()


# --- AWS: the retention of dev-london's log groups --------------------------------------------------------------


def london_log_groups() -> dict[str, int | None]:
    """Each log group tagged for dev-london, with its retention in days (DescribeLogGroups
    returns no tags, and the tagging API no log groups: each group's tags are read)."""
    logs: Any = account_session(ROLE, "eu-west-2").client("logs")
    found: dict[str, int | None] = {}
    for page in logs.get_paginator("describe_log_groups").paginate():
        for group in page["logGroups"]:
            tags = logs.list_tags_for_resource(resourceArn=group["arn"].removesuffix(":*"))["tags"]
            if tags.get(WORKSPACE) == "dev-london":
                found[group["logGroupName"]] = group.get("retentionInDays")
    assert found, "no log group tagged for dev-london"
    return found


def retentions() -> set[int | None]:
    return set(london_log_groups().values())


# --- the tests, in order -------------------------------------------------------------------------------------


def test_the_environment_and_both_regions_converge_under_the_default_approval(cc: ChangeControl) -> None:
    started = time.monotonic()
    cc.wait("--for=condition=Ready", LONDON, SYDNEY, timeout=CONVERGE_SECONDS)
    cc.wait("--for=condition=Ready", ENVIRONMENT, timeout=CONVERGE_SECONDS)
    FIGURES["change control converge"] = f"{time.monotonic() - started:.1f}s after the fixture"
    assert retentions() == {7}  # the dev tier's default
    for resource in (LONDON, SYDNEY, ENVIRONMENT):
        assert cc.condition(resource, "AwaitingApproval")["status"] == "False", resource
        assert PLAN_ID.match(cc.get(resource)["status"]["plan"]["id"]), resource
    # Every AWS change the operator made is told in an event on the object that asked for it: one
    # per layer that changed, naming each change (action, kind, name), then a summary.
    events = cc.events("dev-london")
    changed = [e["message"] for e in events if e["reason"] == "Changed"]
    assert changed and all(re.match(r"^[a-z]+: create [a-z0-9]+\.[a-z_]+ \S", m) for m in changed), changed
    assert any(e["reason"] == "Applied" and "created" in e["message"] for e in events), events


def test_a_new_reconcile_requested_at_value_is_handled_within_seconds_without_waiting_for_the_resync(
    cc: ChangeControl,
) -> None:
    value = f"now-{time.time_ns()}"
    started = time.monotonic()
    cc.annotate(LONDON, f"cutlass.tech/reconcile-requested-at={value}")
    cc.wait(f"--for=jsonpath={{.status.lastHandledReconcileAt}}={value}", LONDON, timeout=15)
    FIGURES["reconcile-now handled"] = f"{time.monotonic() - started:.1f}s (resync period {RESYNC_SECONDS}s)"
    # Nothing changed by hand: the reconcile of applied specs found no drift and stayed Ready.
    drifted = cc.condition(LONDON, "Drifted")
    assert (drifted["status"], drifted["reason"]) == ("False", "NoDrift"), drifted
    assert cc.condition(LONDON, "Ready")["status"] == "True"


def test_kubectl_wait_for_ready_right_after_a_spec_change_returns_only_once_that_generation_is_applied(
    cc: ChangeControl,
) -> None:
    before = int(cc.get(LONDON)["metadata"]["generation"])
    generation = cc.patch(LONDON, {"spec": {"settings": {"logRetentionDays": 14}}})
    assert generation == before + 1
    cc.wait("--for=condition=Ready", LONDON)  # at once: the old generation's Ready must not satisfy it

    ready = cc.condition(LONDON, "Ready")
    assert (ready["status"], ready.get("observedGeneration")) == ("True", generation), ready
    assert cc.get(LONDON)["status"]["observedGeneration"] == generation
    assert retentions() == {14}


def test_under_manual_approval_a_plan_waits_with_no_aws_write_until_cutlass_approve_names_it(
    cc: ChangeControl,
) -> None:
    env_generation = cc.patch(ENVIRONMENT, {"spec": {"changes": {"approval": "Manual"}}})
    cc.reconciled(ENVIRONMENT, env_generation)
    assert cc.condition(ENVIRONMENT, "AwaitingApproval")["status"] == "False"  # the policy itself changes no AWS

    generation = cc.patch(LONDON, {"spec": {"settings": {"logRetentionDays": 30}}})
    cc.wait("--for=condition=AwaitingApproval", LONDON)
    status = cc.get(LONDON)["status"]
    plan = status["plan"]
    assert PLAN_ID.match(plan["id"]), plan
    assert plan["generation"] == generation and plan["update"] >= 1 and not plan["destructive"], plan
    assert plan["create"] == plan["delete"] == 0, plan
    assert all("logs.log_group" in line for line in plan["changes"]), plan
    assert status["phase"] == "AwaitingApproval"
    message = cc.condition(LONDON, "AwaitingApproval")["message"]
    assert f"cutlass approve {LONDON} -n {NAMESPACE} --plan {plan['id']}" in message, message
    ready = cc.condition(LONDON, "Ready")
    assert not (ready["status"] == "True" and ready.get("observedGeneration") == generation), ready
    time.sleep(2)  # a plan that waits stays waiting: no write sneaks in behind the status
    assert retentions() == {14}

    printed = cc.approve(LONDON)
    assert plan["id"] in printed, printed
    cc.wait("--for=condition=Ready", LONDON)
    assert retentions() == {30}
    awaiting = cc.condition(LONDON, "AwaitingApproval")
    assert (awaiting["status"], awaiting.get("observedGeneration")) == ("False", generation), awaiting
    assert cc.get(LONDON)["status"]["phase"] == "Ready"
    changed = [e["message"] for e in cc.events("dev-london") if e["reason"] == "Changed"]
    assert any("update logs.log_group /aws/" in m for m in changed), changed


def test_under_manual_approval_an_approval_of_a_superseded_plan_applies_nothing_and_shows_the_new_plan(
    cc: ChangeControl,
) -> None:
    first = cc.patch(LONDON, {"spec": {"settings": {"logRetentionDays": 60}}})
    cc.wait("--for=condition=AwaitingApproval", LONDON)
    plan_a = cc.get(LONDON)["status"]["plan"]
    assert plan_a["generation"] == first, plan_a

    second = cc.patch(LONDON, {"spec": {"settings": {"logRetentionDays": 90}}})
    cc.wait("--for=condition=AwaitingApproval", LONDON)
    plan_b = cc.get(LONDON)["status"]["plan"]
    assert plan_b["generation"] == second, plan_b
    assert plan_b["id"] != plan_a["id"]

    # The stale approval, with a reconcile-now in the same patch to know when it has been handled.
    marker = f"stale-{time.time_ns()}"
    cc.annotate(LONDON, f"cutlass.tech/approve={plan_a['id']}", f"cutlass.tech/reconcile-requested-at={marker}")
    cc.wait(f"--for=jsonpath={{.status.lastHandledReconcileAt}}={marker}", LONDON)
    time.sleep(2)
    assert retentions() == {30}
    status = cc.get(LONDON)["status"]
    assert status["plan"]["id"] == plan_b["id"], status["plan"]
    assert cc.condition(LONDON, "AwaitingApproval")["status"] == "True"
    assert plan_b["id"] in cc.condition(LONDON, "AwaitingApproval")["message"]

    # Approving the plan shown applies it.
    cc.approve(LONDON, "--plan", plan_b["id"])
    cc.wait("--for=condition=Ready", LONDON)
    assert retentions() == {90}

    generation = cc.patch(ENVIRONMENT, {"spec": {"changes": {"approval": "Auto"}}})
    cc.reconciled(ENVIRONMENT, generation)


def test_under_drift_report_a_hand_edit_is_reported_and_left_until_its_plan_is_approved(cc: ChangeControl) -> None:
    """`drift: Report` in the region's own spec.changes (it overrides the environment's)."""
    generation = cc.patch(LONDON, {"spec": {"changes": {"drift": "Report"}}})
    cc.wait("--for=condition=Ready", LONDON)
    assert cc.get(LONDON)["status"]["observedGeneration"] == generation

    group = hand_edit_retention(1)
    marker = f"drift-{time.time_ns()}"
    cc.annotate(LONDON, f"cutlass.tech/reconcile-requested-at={marker}")
    cc.wait(f"--for=jsonpath={{.status.lastHandledReconcileAt}}={marker}", LONDON)

    drifted = cc.condition(LONDON, "Drifted")
    assert (drifted["status"], drifted["reason"]) == ("True", "DriftReported"), f"{drifted}\n{cc.state()}"
    assert group in drifted["message"], drifted
    awaiting = cc.condition(LONDON, "AwaitingApproval")
    assert awaiting["status"] == "True", awaiting
    plan = cc.get(LONDON)["status"]["plan"]
    assert plan["id"] in awaiting["message"] and plan["update"] == 1, plan
    assert cc.condition(LONDON, "Ready")["status"] == "True"  # the spec stays applied; only AWS moved
    assert [e for e in cc.events("dev-london") if e["reason"] == "DriftDetected" and group in e["message"]]
    time.sleep(2)
    assert london_log_groups()[group] == 1  # left alone

    cc.approve(LONDON)
    cc.wait_until(lambda: london_log_groups()[group] == 90, what=f"{group} repaired to 90 days")
    cc.wait_until(lambda: cc.condition(LONDON, "AwaitingApproval")["status"] == "False", what="AwaitingApproval False")
    assert retentions() == {90}

    # The next reconcile finds AWS as the spec says.
    marker = f"after-drift-{time.time_ns()}"
    cc.annotate(LONDON, f"cutlass.tech/reconcile-requested-at={marker}")
    cc.wait(f"--for=jsonpath={{.status.lastHandledReconcileAt}}={marker}", LONDON)
    drifted = cc.condition(LONDON, "Drifted")
    assert (drifted["status"], drifted["reason"]) == ("False", "NoDrift"), drifted

    cc.patch(LONDON, {"spec": {"changes": None}})
    cc.wait("--for=condition=Ready", LONDON)


def hand_edit_retention(days: int) -> str:
    """What a human does in the console: one of dev-london's log groups gets another retention."""
    group = sorted(london_log_groups())[0]
    logs: Any = account_session(ROLE, "eu-west-2").client("logs")
    logs.put_retention_policy(logGroupName=group, retentionInDays=days)
    return group


def test_a_paused_environment_makes_no_aws_call_for_its_regions_until_the_annotation_is_removed(
    cc: ChangeControl,
) -> None:
    cc.annotate(ENVIRONMENT, "cutlass.tech/paused=true")
    cc.wait("--for=jsonpath={.status.phase}=Paused", ENVIRONMENT)
    cc.wait_until(lambda: _steady(cc.operator), what="the operator's AWS calls to settle")
    assert cc.operator.metrics_port is not None
    before = aws_calls(cc.operator.metrics_port)

    marker = f"paused-{time.time_ns()}"
    cc.annotate(LONDON, f"cutlass.tech/reconcile-requested-at={marker}")
    cc.wait("--for=jsonpath={.status.phase}=Paused", LONDON)
    synced = cc.condition(LONDON, "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "Paused"), synced
    assert "paused" in synced["message"], synced
    time.sleep(3)
    assert aws_calls(cc.operator.metrics_port) == before
    assert cc.get(LONDON)["status"].get("lastHandledReconcileAt") != marker

    cc.kubectl("annotate", ENVIRONMENT, "cutlass.tech/paused-")
    cc.wait("--for=condition=Synced", ENVIRONMENT)
    marker = f"resumed-{time.time_ns()}"
    cc.annotate(LONDON, f"cutlass.tech/reconcile-requested-at={marker}")
    cc.wait(f"--for=jsonpath={{.status.lastHandledReconcileAt}}={marker}", LONDON)
    cc.wait("--for=condition=Synced", LONDON)
    assert cc.get(LONDON)["status"]["phase"] == "Ready"
    assert aws_calls(cc.operator.metrics_port) > before


def _steady(operator: OperatorProcess) -> bool:
    assert operator.metrics_port is not None
    first = aws_calls(operator.metrics_port)
    time.sleep(1)
    return aws_calls(operator.metrics_port) == first


def test_under_destructive_approval_deleting_a_region_waits_for_both_approvals_then_leaves_nothing_tagged(
    cc: ChangeControl,
) -> None:
    generation = cc.patch(ENVIRONMENT, {"spec": {"changes": {"approval": "Destructive"}}})
    cc.reconciled(ENVIRONMENT, generation)
    sydney = account_session(ROLE, "ap-southeast-2")
    vpc_id = cc.get(SYDNEY)["status"]["outputs"]["network"]["vpcId"]
    before = {r.id for r in workspace_resources(sydney, "dev-sydney")}
    assert vpc_id in before

    started = time.monotonic()
    cc.kubectl("delete", SYDNEY, "--wait=false")
    # The environment's plan drops Sydney's records and its table replicas: destructive, it waits.
    cc.wait("--for=condition=AwaitingApproval", ENVIRONMENT)
    env_plan = cc.get(ENVIRONMENT)["status"]["plan"]
    assert env_plan["destructive"], env_plan
    assert cc.get(SYDNEY)["metadata"].get("deletionTimestamp")
    time.sleep(2)
    assert vpc_id in {r.id for r in workspace_resources(sydney, "dev-sydney")}

    cc.approve(ENVIRONMENT)
    # Then Sydney's own teardown plan waits, on the object being deleted.
    cc.wait("--for=condition=AwaitingApproval", SYDNEY, timeout=60)
    region = cc.get(SYDNEY)
    plan = region["status"]["plan"]
    assert plan["destructive"] and plan["delete"] > 0, plan
    assert "cutlass.tech/finalizer" in region["metadata"]["finalizers"]
    assert vpc_id in {r.id for r in workspace_resources(sydney, "dev-sydney")}

    cc.approve(SYDNEY)
    cc.wait("--for=delete", SYDNEY, timeout=DELETE_SECONDS)
    FIGURES["change control: region delete, both approvals"] = f"{time.monotonic() - started:.1f}s"
    assert workspace_resources(sydney, "dev-sydney") == []
    assert workspace_resources(account_session(ROLE, "eu-west-2"), "dev-london") != []  # untouched
    deleted = [
        e for e in cc.events("dev-sydney") if e["reason"] == "Changed" and e["message"].startswith("network: delete")
    ]
    assert deleted, "no event of Sydney's teardown naming what it deleted"

    generation = cc.patch(ENVIRONMENT, {"spec": {"changes": {"approval": "Auto"}}})
    cc.reconciled(ENVIRONMENT, generation)


def test_drift_report_set_on_the_environment_reports_the_next_hand_edit_in_its_regions(cc: ChangeControl) -> None:
    """`drift: Report` on the environment applies to its regions: the first reconcile of dev-london
    after it is set must report a hand edit, not repair it."""
    generation = cc.patch(ENVIRONMENT, {"spec": {"changes": {"approval": "Auto", "drift": "Report"}}})
    cc.reconciled(ENVIRONMENT, generation)
    group = hand_edit_retention(3)
    try:
        marker = f"env-drift-{time.time_ns()}"
        cc.annotate(LONDON, f"cutlass.tech/reconcile-requested-at={marker}")
        cc.wait(f"--for=jsonpath={{.status.lastHandledReconcileAt}}={marker}", LONDON)
        time.sleep(1)
        assert london_log_groups()[group] == 3, "the hand edit was repaired although the environment says drift: Report"
        drifted = cc.condition(LONDON, "Drifted")
        assert (drifted["status"], drifted["reason"]) == ("True", "DriftReported"), drifted
        assert cc.condition(LONDON, "AwaitingApproval")["status"] == "True"
        cc.approve(LONDON)
        cc.wait_until(lambda: london_log_groups()[group] == 90, what=f"{group} repaired to 90 days")
    finally:
        generation = cc.patch(ENVIRONMENT, {"spec": {"changes": {"drift": "Correct"}}})
        cc.reconciled(ENVIRONMENT, generation)
