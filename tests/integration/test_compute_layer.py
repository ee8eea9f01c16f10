"""The compute and messaging layers of a converged region, against the moto server: changes land in
place (memory, code, monitoring, provisioned concurrency), and each new steady state writes nothing.

The dev manifests converge once per module in an account of their own; each test then changes
dev-london's spec (or the functions' code) and runs the region's reconcile as the operator would.
"""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from cutlass_operator.api.environment import CutlassEnvironment, TierSettings
from cutlass_operator.api.region import CutlassRegion
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.engine.plan import Action
from cutlass_operator.layers.compute import ComputeLayer
from cutlass_operator.layers.packages import FIXED_TIME, Package, build_package
from cutlass_operator.workflows.region import REGION_LAYERS, run_region
from cutlass_operator.workflows.report import Mode, Report

from .accounts import converged_dev, operator_session

pytestmark = pytest.mark.integration

ACCOUNT = "400000000002"  # outside conftest's range: the module shares one converged account
LONDON = "eu-west-2"
PREFIX = "cutlass-tech-fn-dev-london-"


@dataclass
class Stack:
    env: CutlassEnvironment
    london: CutlassRegion
    session: boto3.Session

    def function(self, name: str) -> dict[str, Any]:
        config: dict[str, Any] = self.session.client("lambda").get_function_configuration(FunctionName=PREFIX + name)
        return config

    def live(self, name: str) -> dict[str, Any]:
        alias: dict[str, Any] = self.session.client("lambda").get_alias(FunctionName=PREFIX + name, Name="live")
        return alias

    def version(self, name: str, version: str) -> dict[str, Any]:
        config: dict[str, Any] = self.session.client("lambda").get_function_configuration(
            FunctionName=PREFIX + name, Qualifier=version
        )
        return config

    def with_settings(self, **settings: Any) -> CutlassRegion:
        spec = self.london.spec.model_copy(update={"settings": TierSettings(**settings)})
        return self.london.model_copy(update={"spec": spec})


@pytest.fixture(scope="module")
def stack(moto_endpoint: str) -> Iterator[Stack]:
    manifests, _ = converged_dev(ACCOUNT)
    (env,) = manifests.environments
    (london,) = [r for r in manifests.regions if r.spec.aws_region == LONDON]
    yield Stack(env, london, operator_session(ACCOUNT, LONDON))


def reconcile(stack: Stack, region: CutlassRegion, **options: Any) -> tuple[Report, CallLog]:
    calls = CallLog()
    report = run_region(stack.env, region, mode=Mode.APPLY, calls=calls, **options)
    assert report.ok, report.first_error
    return report, calls


def changes(report: Report) -> dict[str, tuple[Action, list[str]]]:
    return {c.key: (c.action, sorted(d.path for d in c.diff)) for layer in report.layers for c in layer.plan.pending}


def assert_steady(stack: Stack, region: CutlassRegion, **options: Any) -> None:
    report, calls = reconcile(stack, region, **options)
    assert changes(report) == {}
    assert calls.writes == 0, calls.mutating()


def test_a_memory_change_updates_every_function_in_place_and_moves_live(stack: Stack) -> None:
    before = {
        name: (stack.function(name)["FunctionArn"], stack.live(name)["FunctionVersion"])
        for name in ("credits", "health")
    }
    bigger = stack.with_settings(lambda_memory_size=512)

    report, _ = reconcile(stack, bigger)

    assert changes(report) == {
        f"compute/function/{name}": (Action.UPDATE, ["memorySize"])
        for name in ("usage-check", "credits", "threshold-monitor", "notifier", "health")
    }
    for name, (arn, version) in before.items():
        assert stack.function(name)["FunctionArn"] == arn  # the same function
        live = stack.live(name)["FunctionVersion"]
        assert int(live) > int(version)
        assert stack.version(name, live)["MemorySize"] == 512
    assert_steady(stack, bigger)
    reconcile(stack, stack.london)  # back to the tier's 256 MB for the next tests


def test_new_code_updates_only_its_function_in_place(stack: Stack) -> None:
    def patched(module: str) -> Package:
        """The shipped packages, but usage_check's zip carries one more file."""
        package = build_package(module)
        if module != "usage_check":
            return package
        buffer = io.BytesIO(package.body)
        with zipfile.ZipFile(buffer, "a") as archive:
            archive.writestr(zipfile.ZipInfo("cutlass_app/RELEASE", date_time=FIXED_TIME), "2\n")
        return Package(module, buffer.getvalue())

    layers = tuple(ComputeLayer(build=patched) if isinstance(layer, ComputeLayer) else layer for layer in REGION_LAYERS)
    old_sha = stack.function("usage-check")["CodeSha256"]
    old_arn, old_live = stack.function("usage-check")["FunctionArn"], stack.live("usage-check")["FunctionVersion"]

    report, _ = reconcile(stack, stack.london, layers=layers)

    old_key = f"functions/{PREFIX}usage-check/{base64.b64decode(old_sha).hex()}.zip"
    assert changes(report) == {
        "compute/function/usage-check": (Action.UPDATE, ["codeSha256"]),
        "compute/package/usage-check": (Action.CREATE, []),  # the new package, under its own hash
        f"compute/(untracked s3://cutlass-tech-artifacts-{ACCOUNT}-{LONDON}/{old_key})": (Action.DELETE, []),
    }
    new_sha = patched("usage_check").sha256
    assert stack.function("usage-check")["CodeSha256"] == new_sha != old_sha
    assert stack.function("usage-check")["FunctionArn"] == old_arn
    live = stack.live("usage-check")["FunctionVersion"]
    assert int(live) > int(old_live) and stack.version("usage-check", live)["CodeSha256"] == new_sha
    assert_steady(stack, stack.london, layers=layers)
    reconcile(stack, stack.london)  # the shipped code again


def test_detailed_monitoring_adds_tracing_and_alarms_and_removing_it_takes_them_away(stack: Stack) -> None:
    cloudwatch = stack.session.client("cloudwatch")
    monitored = stack.with_settings(detailed_monitoring=True)

    reconcile(stack, monitored)

    alarms = {
        a["AlarmName"]
        for a in cloudwatch.describe_alarms(AlarmNamePrefix="cutlass-tech-alarm-dev-london-")["MetricAlarms"]
    }
    assert len(alarms) == 2 * 5 + 1  # errors and throttles per function, and the dead-letter queue
    assert "cutlass-tech-alarm-dev-london-messaging-notifications-dlq-depth" in alarms
    assert stack.function("notifier")["TracingConfig"] == {"Mode": "Active"}
    assert_steady(stack, monitored)

    reconcile(stack, stack.london)
    assert cloudwatch.describe_alarms(AlarmNamePrefix="cutlass-tech-alarm-dev-london-")["MetricAlarms"] == []
    assert stack.function("notifier")["TracingConfig"] == {"Mode": "PassThrough"}


def test_provisioned_concurrency_on_the_apis_live_aliases(stack: Stack) -> None:
    lambda_ = stack.session.client("lambda")
    warm = stack.with_settings(provisioned_concurrency=2)

    reconcile(stack, warm)

    for name in ("usage-check", "credits"):
        config = lambda_.get_provisioned_concurrency_config(FunctionName=PREFIX + name, Qualifier="live")
        assert config["RequestedProvisionedConcurrentExecutions"] == 2
    with pytest.raises(lambda_.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        lambda_.get_provisioned_concurrency_config(FunctionName=PREFIX + "notifier", Qualifier="live")
    assert_steady(stack, warm)

    reconcile(stack, stack.london)
    with pytest.raises(lambda_.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        lambda_.get_provisioned_concurrency_config(FunctionName=PREFIX + "usage-check", Qualifier="live")


def test_the_region_reports_its_functions_and_queues(stack: Stack) -> None:
    report, _ = reconcile(stack, stack.london)
    outputs = {layer.layer: layer.outputs for layer in report.layers}
    conditions = [layer.condition for layer in report.layers]

    assert conditions == ["NetworkReady", "DataReady", "MessagingReady", "ComputeReady", "ApiReady"]
    usage = outputs["compute"]["functions"]["usage-check"]
    assert usage["name"] == PREFIX + "usage-check"
    assert usage["aliasArn"] == stack.function("usage-check")["FunctionArn"] + ":live"
    assert outputs["compute"]["eventSourceMappings"] == {"notifier": "Enabled", "threshold-monitor": "Enabled"}
    assert outputs["messaging"]["queueUrl"].endswith("/cutlass-tech-notifications-dev-london")
    assert outputs["messaging"]["templates"] == [
        "cutlass-tech-alert-dev-london-100",
        "cutlass-tech-alert-dev-london-80",
    ]
