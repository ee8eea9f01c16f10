"""Change control with the whole operator: plans approved by id, stale approvals refused, drift
reported and repaired on approval, pause, reconcile-now, and the generation a status claims.

As in test_operator_lifecycle.py, kopf runs in-process against the embedded Kubernetes API and
reconciles the moto server over HTTP; each test owns its namespace and AWS account. AWS calls are
counted by the operator's own `cutlass_aws_calls_total`, and a switch can slow every call down.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from cutlass_operator.api.environment import CutlassEnvironment
from cutlass_operator.api.region import CutlassRegion
from cutlass_operator.approve import approve as approve_plan
from cutlass_operator.aws.calls import CallLog, is_read
from cutlass_operator.handlers.config import OperatorConfig
from cutlass_operator.handlers.metrics import OperatorMetrics
from cutlass_operator.offline import OfflineRun
from cutlass_operator.workflows.manifests import ManifestSet
from cutlass_operator.workflows.report import Mode
from tests.integration.test_operator_lifecycle import (
    ENVIRONMENTS,
    REGIONS,
    Cluster,
    account_session,
    conditions,
    environment,
    is_current,
    london,
    operated_cluster,
    region_ready,
    status,
)

pytestmark = pytest.mark.integration

# No resync during a test: every reconcile here is one the test asked for.
CONFIG = OperatorConfig(resync_seconds=600, retry_seconds=1)
LOG_GROUP = "/aws/lambda/cutlass-tech-fn-dev-london-usage-check"


@dataclass
class SlowMetrics(OperatorMetrics):
    """The operator's metrics, whose call logs can also make every AWS call take longer."""

    delay: float = 0.0

    def call_log(self) -> CallLog:
        log = super().call_log()
        log.observers.append(lambda *_: time.sleep(self.delay) if self.delay else None)
        return log

    def calls(self, *, writes: bool) -> float:
        total = 0.0
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == "cutlass_aws_calls_total" and is_read(sample.labels["operation"]) != writes:
                    total += sample.value
        return total


@dataclass
class Operated:
    cluster: Cluster
    metrics: SlowMetrics


@pytest.fixture(scope="module")
def operated(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operated]:
    metrics = SlowMetrics()
    with operated_cluster(tmp_path_factory.mktemp("kube"), CONFIG, metrics) as cluster:
        yield Operated(cluster, metrics)


@dataclass
class Stack:
    cluster: Cluster
    metrics: SlowMetrics
    namespace: str
    role_arn: str

    def region(self) -> dict[str, Any]:
        found = self.cluster.get(REGIONS, self.namespace, "dev-london")
        assert found is not None
        return found

    def wait_region(self, check: Callable[[dict[str, Any]], bool], until: str) -> dict[str, Any]:
        return self.cluster.wait_for(REGIONS, self.namespace, "dev-london", check, until=until)

    def retention(self) -> int | None:
        logs = account_session(self.role_arn).client("logs", region_name="eu-west-2")
        groups = logs.describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]
        return groups[0].get("retentionInDays") if groups else None


def approve(**kwargs: str) -> dict[str, str]:
    return {"cutlass.tech/approve": kwargs["plan"]}


@pytest.fixture
def stack(operated: Operated, account_id: str, role_arn: str) -> Stack:
    """The dev environment with its London region (the primary) alone, converged under Auto."""
    namespace = operated.cluster.namespace()
    operated.cluster.create(ENVIRONMENTS, environment(namespace, account_id, role_arn))
    operated.cluster.create(REGIONS, london(namespace))
    stack = Stack(operated.cluster, operated.metrics, namespace, role_arn)
    stack.wait_region(region_ready, "Ready")
    operated.cluster.wait_for(ENVIRONMENTS, namespace, "dev", lambda e: is_current(e, "Ready"), until="Ready")
    return stack


def patch_annotations(stack: Stack, plural: str, name: str, annotations: Mapping[str, str | None]) -> None:
    stack.cluster.custom.patch_namespaced_custom_object(
        "cutlass.tech", "v1alpha1", stack.namespace, plural, name, {"metadata": {"annotations": annotations}}
    )


def offline_plan_ids(stack: Stack) -> dict[str, str]:
    """What `cutlass plan -f` prints for the objects' specs as they are in the cluster."""
    env = CutlassEnvironment.model_validate(stack.cluster.get(ENVIRONMENTS, stack.namespace, "dev"))
    manifests = ManifestSet(environments=[env], regions=[CutlassRegion.model_validate(stack.region())])
    run = OfflineRun(manifests, Mode.PLAN, echo=lambda _: None)
    run.run()
    return {key: str(report.plan_summary().id) for key, report in run.reports.items()}


def awaiting(obj: dict[str, Any]) -> bool:
    return is_current(obj, "AwaitingApproval")


def plan_id(obj: dict[str, Any]) -> str:
    return str(status(obj)["plan"]["id"])


class TestManualApproval:
    def test_a_change_waits_with_its_plan_and_the_annotation_applies_exactly_that_plan(self, stack: Stack) -> None:
        stack.cluster.patch_spec(ENVIRONMENTS, stack.namespace, "dev", {"changes": {"approval": "Manual"}})
        writes = stack.metrics.calls(writes=True)
        stack.cluster.patch_spec(REGIONS, stack.namespace, "dev-london", {"settings": {"logRetentionDays": 14}})
        waiting = stack.wait_region(awaiting, "awaiting approval of its plan")

        plan = status(waiting)["plan"]
        assert plan["update"] >= 3 and not plan["destructive"] and plan["generation"] == 2
        assert any("retentionInDays: 7 -> 14" in line for line in plan["changes"])
        message = conditions(waiting)["AwaitingApproval"]["message"]
        assert f"cutlass approve cutlassregion/dev-london -n {stack.namespace} --plan {plan['id']}" in message
        assert status(waiting)["phase"] == "AwaitingApproval"
        assert conditions(waiting)["Ready"]["status"] == "False"
        assert stack.metrics.calls(writes=True) == writes, "a plan waiting for approval writes nothing"
        assert stack.retention() == 7
        events = stack.cluster.events(stack.namespace, "dev-london")
        assert any(e.reason == "AwaitingApproval" and plan["id"] in e.message for e in events)
        # A reviewer running `cutlass plan -f` on the same specs sees the same id.
        assert offline_plan_ids(stack)["CutlassRegion/dev-london"] == plan["id"]

        # `cutlass approve`'s own function (in-process `main` would reconfigure this process's logging).
        done_by = approve_plan("cutlassregion/dev-london", stack.namespace, None)  # the plan shown
        assert (done_by.plan_id, done_by.summary) == (plan["id"], "0 to create, 6 to update, 0 to delete")
        done = stack.wait_region(lambda r: region_ready(r) and not awaiting(r), "applied")
        assert stack.retention() == 14
        assert conditions(done)["AwaitingApproval"]["status"] == "False"
        assert status(done)["approval"]["planId"] == plan["id"] and status(done)["approval"]["complete"]
        # The approval is consumed with its plan: the same changes planned again wait for their own.
        stack.wait_region(lambda r: "cutlass.tech/approve" not in r["metadata"].get("annotations", {}), "consumed")
        changed = [e.message for e in stack.cluster.events(stack.namespace, "dev-london") if e.reason == "Changed"]
        assert any(f"update logs.log_group {LOG_GROUP}" in m for m in changed), "each AWS change is told in an event"

    def test_an_approval_of_a_plan_that_changed_since_applies_nothing_and_shows_the_new_id(self, stack: Stack) -> None:
        stack.cluster.patch_spec(REGIONS, stack.namespace, "dev-london", {"changes": {"approval": "Manual"}})
        stack.wait_region(lambda r: is_current(r, "Ready"), "Ready under Manual")
        stack.cluster.patch_spec(REGIONS, stack.namespace, "dev-london", {"settings": {"logRetentionDays": 30}})
        first = plan_id(stack.wait_region(awaiting, "awaiting approval of the first edit"))
        stack.cluster.patch_spec(REGIONS, stack.namespace, "dev-london", {"settings": {"logRetentionDays": 60}})
        second = stack.wait_region(lambda r: awaiting(r) and plan_id(r) != first, "a new plan for the second edit")
        writes = stack.metrics.calls(writes=True)
        patch_annotations(stack, REGIONS, "dev-london", approve(plan=first))
        # The approval wakes a reconcile, which plans again and finds its plan is not the approved one.
        time.sleep(3)
        after = stack.region()
        assert awaiting(after) and plan_id(after) == plan_id(second) != first
        assert stack.metrics.calls(writes=True) == writes
        assert stack.retention() == 7

        # The same changes planned again (a restart, a re-plan) keep their id: approving it works.
        patch_annotations(stack, REGIONS, "dev-london", {"cutlass.tech/reconcile-requested-at": "replan"})
        replanned = stack.wait_region(lambda r: status(r).get("lastHandledReconcileAt") == "replan", "replanned")
        assert plan_id(replanned) == plan_id(second)
        patch_annotations(stack, REGIONS, "dev-london", approve(plan=plan_id(second)))
        stack.wait_region(lambda r: region_ready(r) and not awaiting(r), "applied")
        assert stack.retention() == 60


class TestDrift:
    def test_drift_under_report_is_reported_and_left_until_its_plan_is_approved(self, stack: Stack) -> None:
        stack.cluster.patch_spec(REGIONS, stack.namespace, "dev-london", {"changes": {"drift": "Report"}})
        stack.wait_region(
            lambda r: is_current(r, "Ready") and bool(status(r).get("appliedDigest")), "Ready under Report"
        )
        logs = account_session(stack.role_arn).client("logs", region_name="eu-west-2")
        logs.put_retention_policy(logGroupName=LOG_GROUP, retentionInDays=1)  # by hand

        patch_annotations(stack, REGIONS, "dev-london", {"cutlass.tech/reconcile-requested-at": "look-1"})
        found = stack.wait_region(
            lambda r: status(r).get("lastHandledReconcileAt") == "look-1" and is_current(r, "Drifted"), "drift found"
        )
        drifted = conditions(found)["Drifted"]
        assert drifted["reason"] == "DriftReported" and LOG_GROUP in drifted["message"]
        assert awaiting(found) and is_current(found, "Ready"), "the spec stays applied; only AWS moved"
        assert stack.retention() == 1, "Report changes nothing"
        labels = {"kind": "CutlassRegion", "namespace": stack.namespace, "name": "dev-london"}
        assert stack.metrics.registry.get_sample_value("cutlass_drifted_resources", labels) == 1.0
        assert any(e.reason == "DriftDetected" for e in stack.cluster.events(stack.namespace, "dev-london"))

        patch_annotations(stack, REGIONS, "dev-london", approve(plan=plan_id(found)))
        repaired = stack.wait_region(lambda r: not awaiting(r) and not is_current(r, "Drifted"), "repaired")
        assert stack.retention() == 7
        assert conditions(repaired)["Drifted"]["reason"] == "DriftRepaired"
        assert stack.metrics.registry.get_sample_value("cutlass_drifted_resources", labels) == 0.0


class TestPauseAndReconcileNow:
    def test_a_paused_environment_makes_no_aws_call_for_its_regions_until_unpaused(self, stack: Stack) -> None:
        patch_annotations(stack, ENVIRONMENTS, "dev", {"cutlass.tech/paused": "true"})
        stack.cluster.wait_for(
            ENVIRONMENTS,
            stack.namespace,
            "dev",
            lambda e: conditions(e)["Synced"]["reason"] == "Paused",
            until="paused",
        )
        calls = stack.metrics.calls(writes=False) + stack.metrics.calls(writes=True)
        patch_annotations(stack, REGIONS, "dev-london", {"cutlass.tech/reconcile-requested-at": "while-paused"})
        paused = stack.wait_region(lambda r: conditions(r)["Synced"]["reason"] == "Paused", "paused")
        assert status(paused)["phase"] == "Paused"
        time.sleep(2)  # retries of the paused region, if any, would call AWS now
        assert stack.metrics.calls(writes=False) + stack.metrics.calls(writes=True) == calls

        patch_annotations(stack, ENVIRONMENTS, "dev", {"cutlass.tech/paused": None})
        resumed = stack.wait_region(lambda r: conditions(r)["Synced"]["status"] == "True", "resumed")
        assert status(resumed)["phase"] == "Ready"
        assert stack.metrics.calls(writes=False) + stack.metrics.calls(writes=True) > calls

    def test_reconcile_now_runs_a_reconcile_and_echoes_the_request(self, stack: Stack) -> None:
        before = status(stack.region())["lastReconcileTime"]
        time.sleep(1.1)  # the times have a resolution of a second
        patch_annotations(stack, REGIONS, "dev-london", {"cutlass.tech/reconcile-requested-at": "2026-12-07T10:00"})
        done = stack.wait_region(
            lambda r: status(r).get("lastHandledReconcileAt") == "2026-12-07T10:00", "the request handled"
        )
        assert status(done)["lastReconcileTime"] != before


class TestObservedGeneration:
    def test_a_reconcile_of_the_old_spec_never_claims_a_generation_that_landed_while_it_ran(self, stack: Stack) -> None:
        old = stack.region()["metadata"]["generation"]
        stack.metrics.delay = 0.03  # a reconcile now takes seconds
        try:
            patch_annotations(stack, REGIONS, "dev-london", {"cutlass.tech/reconcile-requested-at": "slow"})
            time.sleep(1.0)  # the slow reconcile of the old spec is running
            stack.cluster.patch_spec(REGIONS, stack.namespace, "dev-london", {"tags": {"team": "payments"}})
            first = stack.wait_region(lambda r: status(r).get("lastHandledReconcileAt") == "slow", "slow one done")
        finally:
            stack.metrics.delay = 0.0
        assert status(first)["observedGeneration"] == old, "the status claims the spec that landed meanwhile"
        assert conditions(first)["Ready"]["observedGeneration"] == old
        done = stack.wait_region(region_ready, "the new generation Ready")
        assert done["metadata"]["generation"] == old + 1
        logs = account_session(stack.role_arn).client("logs", region_name="eu-west-2")
        arn = logs.describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"][0]["arn"].removesuffix(":*")
        assert logs.list_tags_for_resource(resourceArn=arn)["tags"].get("team") == "payments"
