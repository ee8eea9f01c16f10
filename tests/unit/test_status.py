"""How a reconcile's report becomes conditions, phase, outputs and plan on the status."""

from __future__ import annotations

from cutlass_operator.api.changes import Approval, ChangePolicy, Drift
from cutlass_operator.api.environment import EnvironmentStatus
from cutlass_operator.api.region import RegionStatus
from cutlass_operator.engine.conditions import set_condition
from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.executor import ApplyResult
from cutlass_operator.engine.plan import Action, Change, Plan
from cutlass_operator.engine.resource import FieldDiff
from cutlass_operator.workflows.changes import ChangeRequest, SuspendedError, decide
from cutlass_operator.workflows.environment import apply_environment_report, apply_regions_summary, summarise_regions
from cutlass_operator.workflows.report import LayerReport, Mode, Report, apply_report

LAYERS = ["NetworkReady"]


def layer(result: ApplyResult | None, *changes: Change) -> LayerReport:
    return LayerReport("network", "NetworkReady", Plan(changes), result, {"vpcId": "vpc-1"})


def conditions(status: RegionStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status.value, c.reason) for c in status.conditions}


def test_a_clean_apply_makes_every_condition_true_and_records_the_plan() -> None:
    status = RegionStatus()
    create = Change(Action.CREATE, "network/vpc", "ec2.vpc", "cutlass-tech-vpc-dev-london")
    apply_report(status, Report(Mode.APPLY, [layer(ApplyResult(), create)]), 3, LAYERS)
    assert conditions(status) == {
        "NetworkReady": ("True", "Reconciled"),
        "Synced": ("True", "ReconcileSuccess"),
        "AwaitingApproval": ("False", "NoPlanWaiting"),
        "Reconciling": ("False", "Idle"),
        "Stalled": ("False", "NotStalled"),
        "Ready": ("True", "Available"),
    }
    assert status.phase == "Ready" and status.observed_generation == 3
    assert all(c.observed_generation == 3 for c in status.conditions)
    assert status.outputs == {"network": {"vpcId": "vpc-1"}}
    assert status.plan is not None and status.plan.create == 1
    assert status.plan.changes == ["+ ec2.vpc cutlass-tech-vpc-dev-london"]


def test_a_terminal_layer_error_fails_the_resource_with_its_message() -> None:
    status = RegionStatus()
    failed = ApplyResult(errors={"network/subnet": TerminalError("InvalidSubnet", "fix spec.network")})
    apply_report(status, Report(Mode.APPLY, [layer(failed)]), 1, LAYERS)
    assert conditions(status)["NetworkReady"] == ("False", "InvalidSubnet")
    assert conditions(status)["Ready"] == ("False", "InvalidSubnet")
    assert status.phase == "Failed"
    assert status.condition("Ready") is not None and status.condition("Ready").message == "fix spec.network"  # type: ignore[union-attr]


def test_waiting_for_a_dependency_is_not_a_failure() -> None:
    status = RegionStatus()
    error = RetryableError("WaitingForEnvironment", "CutlassEnvironment 'dev' has not verified its account yet")
    apply_report(status, Report(Mode.APPLY, error=error), 1, LAYERS)
    assert status.phase == "WaitingForDependency"
    assert conditions(status)["NetworkReady"] == ("Unknown", "NotReconciled")
    assert conditions(status)["Synced"] == ("False", "WaitingForEnvironment")


def test_the_transition_time_moves_only_when_the_status_changes() -> None:
    first = set_condition([], "Ready", True, "Available")
    stamped = first[0].model_copy(update={"last_transition_time": "2020-01-01T00:00:00Z"})
    same = set_condition([stamped], "Ready", True, "Available", "new message")
    flipped = set_condition([stamped], "Ready", False, "Broken")
    assert same[0].last_transition_time == "2020-01-01T00:00:00Z"
    assert same[0].message == "new message"
    assert flipped[0].last_transition_time != "2020-01-01T00:00:00Z"


def test_an_environment_is_ready_when_its_account_its_layers_and_all_regions_are() -> None:
    status = EnvironmentStatus(regions=summarise_regions({"dev-london": True, "dev-sydney": False}))
    layers = [
        LayerReport("bootstrap", "BootstrapReady", Plan(()), ApplyResult(), {}),
        LayerReport("tables", "TablesReady", Plan(()), ApplyResult(), {"cutlass-tech-credits-dev": {}}),
        LayerReport("dns", "DnsReady", Plan(()), ApplyResult(), {}),
    ]
    apply_environment_report(status, Report(Mode.APPLY, layers, caller_arn="arn:aws:sts::111111111111:x"), 2)
    assert status.regions.summary == "1/2" and status.regions.not_ready == ["dev-sydney"]
    assert status.condition("AccountVerified").status == "True"  # type: ignore[union-attr]
    assert status.condition("TablesReady").status == "True"  # type: ignore[union-attr]
    assert status.condition("Ready").reason == "RegionsNotReady"  # type: ignore[union-attr]
    apply_regions_summary(status, summarise_regions({"dev-london": True, "dev-sydney": True}))
    assert status.condition("Ready").status == "True"  # type: ignore[union-attr]
    assert status.phase == "Ready"
    assert [t.name for t in status.tables] == ["cutlass-tech-credits-dev"]


def test_an_environment_waiting_for_keys_is_not_ready_and_says_why() -> None:
    status = EnvironmentStatus(regions=summarise_regions({"dev-london": True}))
    waiting = RetryableError("WaitingForKeys", "the tables wait for the data layer of eu-west-2")
    layers = [LayerReport("bootstrap", "BootstrapReady", Plan(()), ApplyResult(), {})]
    apply_environment_report(status, Report(Mode.APPLY, layers, error=waiting, caller_arn="arn:x"), 1)
    assert status.condition("Ready").reason == "WaitingForKeys"  # type: ignore[union-attr]
    assert status.phase == "WaitingForDependency"


def test_an_account_mismatch_fails_the_environment_naming_both_accounts() -> None:
    status = EnvironmentStatus()
    error = TerminalError("AccountMismatch", "the credentials act in account 222222222222 ... is 111111111111")
    apply_environment_report(status, Report(Mode.APPLY, error=error), 1)
    verified = status.condition("AccountVerified")
    assert verified is not None and verified.reason == "AccountMismatch"
    assert "222222222222" in verified.message and "111111111111" in verified.message
    assert status.phase == "Failed"
    assert status.condition("Ready").reason == "AccountMismatch"  # type: ignore[union-attr]


def test_metrics_count_drift_found_by_a_resync_and_end_with_the_object() -> None:
    from cutlass_operator.handlers.metrics import OperatorMetrics

    metrics = OperatorMetrics()
    update = Change(Action.UPDATE, "network/vpc", "ec2.vpc", "cutlass-tech-vpc-dev-london")
    labels = {"kind": "CutlassRegion", "namespace": "ns", "name": "dev-london"}
    for drift_check in (False, True):
        request = ChangeRequest(ChangePolicy(approval=Approval.AUTO, drift=Drift.CORRECT), "d", drift_check=drift_check)
        report = Report(Mode.APPLY, [layer(ApplyResult(done=[update]), update)], gate=decide(request, [update]))
        metrics.observe("CutlassRegion", "ns", "dev-london", report, 0.5)
    assert metrics.registry.get_sample_value("cutlass_drift_repairs_total", labels) == 1.0  # the resync's only
    assert metrics.registry.get_sample_value("cutlass_drifted_resources", labels) == 0.0  # repaired
    reported = ChangeRequest(ChangePolicy(approval=Approval.AUTO, drift=Drift.REPORT), "d", drift_check=True)
    waiting = SuspendedError("AwaitingApproval", "plan waits")
    report = Report(Mode.APPLY, [layer(ApplyResult(), update)], error=waiting, gate=decide(reported, [update]))
    metrics.observe("CutlassRegion", "ns", "dev-london", report, 0.5)
    assert metrics.registry.get_sample_value("cutlass_drifted_resources", labels) == 1.0
    managed = {**labels, "resource_kind": "ec2.vpc"}
    assert metrics.registry.get_sample_value("cutlass_managed_resources", managed) == 1.0
    metrics.forget("CutlassRegion", "ns", "dev-london")
    assert metrics.registry.get_sample_value("cutlass_managed_resources", managed) is None
    assert metrics.registry.get_sample_value("cutlass_drifted_resources", labels) is None
    assert metrics.registry.get_sample_value("cutlass_last_successful_sync_timestamp_seconds", labels) is None


def _gated(approval: Approval, drift: Drift, change: Change, *, drift_check: bool) -> Report:
    gate = decide(ChangeRequest(ChangePolicy(approval=approval, drift=drift), "d", drift_check=drift_check), [change])
    error = SuspendedError("AwaitingApproval", gate.awaiting_message("cutlassregion/dev-london", "ns"))
    return Report(Mode.APPLY, [layer(None, change)], error=error if gate.awaiting else None, gate=gate)


def test_a_plan_waiting_for_approval_leaves_the_layers_and_says_how_to_approve() -> None:
    status = RegionStatus()
    apply_report(status, Report(Mode.APPLY, [layer(ApplyResult())]), 1, LAYERS)
    update = Change(Action.UPDATE, "network/vpc", "ec2.vpc", "vpc", diff=(FieldDiff("cidr", "a", "b"),))
    apply_report(status, _gated(Approval.MANUAL, Drift.CORRECT, update, drift_check=False), 2, LAYERS)
    assert conditions(status)["AwaitingApproval"] == ("True", "PlanAwaitsApproval")
    assert conditions(status)["Synced"] == ("False", "AwaitingApproval")
    assert conditions(status)["Ready"] == ("False", "AwaitingApproval"), "the new generation is not applied"
    assert conditions(status)["Reconciling"] == ("False", "Idle") and conditions(status)["Stalled"][0] == "False"
    network = status.condition("NetworkReady")
    assert network is not None and network.observed_generation == 1, "nothing of the layer changed"
    assert status.phase == "AwaitingApproval" and status.observed_generation == 2
    assert status.plan is not None and status.plan.update == 1 and status.plan.generation == 2
    assert f"--plan {status.plan.id}" in status.condition("AwaitingApproval").message  # type: ignore[union-attr]


def test_drift_waiting_under_report_keeps_ready_and_marks_drifted() -> None:
    status = RegionStatus()
    apply_report(status, Report(Mode.APPLY, [layer(ApplyResult())]), 1, LAYERS)
    update = Change(Action.UPDATE, "network/vpc", "ec2.vpc", "vpc", diff=(FieldDiff("cidr", "a", "b"),))
    apply_report(status, _gated(Approval.AUTO, Drift.REPORT, update, drift_check=True), 1, LAYERS)
    assert conditions(status)["Drifted"] == ("True", "DriftReported")
    assert "ec2.vpc vpc" in status.condition("Drifted").message  # type: ignore[union-attr]
    assert conditions(status)["Ready"] == ("True", "Available")
    assert conditions(status)["AwaitingApproval"][0] == "True"
    assert status.applied_digest is None, "not applied: the next reconcile still looks for drift"


def test_stalled_on_a_terminal_error_and_reconciling_while_retrying() -> None:
    status = RegionStatus()
    apply_report(status, Report(Mode.APPLY, error=TerminalError("ImmutableFieldChanged", "restore it")), 1, LAYERS)
    assert conditions(status)["Stalled"] == ("True", "ImmutableFieldChanged")
    assert conditions(status)["Reconciling"] == ("False", "Idle")
    apply_report(status, Report(Mode.APPLY, error=RetryableError("AwsThrottled", "slow down")), 2, LAYERS)
    assert conditions(status)["Stalled"] == ("False", "NotStalled")
    assert conditions(status)["Reconciling"] == ("True", "AwsThrottled")
    assert conditions(status)["Ready"][0] == "False"
