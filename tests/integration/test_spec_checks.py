"""Specs the API server accepts but AWS or the environment's other regions would refuse half-way
are refused before the first AWS call: counted with `CallLog` against the moto server."""

from __future__ import annotations

import pytest

from cutlass_operator.api.environment import CutlassEnvironment
from cutlass_operator.api.region import CutlassRegion
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.offline import OfflineRun
from cutlass_operator.workflows.manifests import ManifestSet, load_manifests
from cutlass_operator.workflows.region import run_region
from cutlass_operator.workflows.report import Mode

from .accounts import DEV_MANIFESTS, in_account

pytestmark = pytest.mark.integration

ACCOUNT = "400000000031"


def dev() -> ManifestSet:
    return in_account(load_manifests([DEV_MANIFESTS]), ACCOUNT)


def with_spec(obj: CutlassEnvironment | CutlassRegion, **update: object) -> CutlassEnvironment | CutlassRegion:
    return obj.model_copy(update={"spec": obj.spec.model_copy(update=update)})


def test_a_primary_region_no_region_is_in_and_a_region_clashing_with_another_write_nothing(
    moto_endpoint: str,
) -> None:
    manifests = dev()
    env = with_spec(manifests.environments[0], primary_region="eu-west-1")
    london = next(r for r in manifests.regions if r.spec.region == "london")
    paris = london.model_copy(
        update={
            "metadata": london.metadata.model_copy(update={"name": "dev-paris"}),
            "spec": london.spec.model_copy(update={"region": "paris"}),  # and London's AWS region
        }
    )
    assert isinstance(env, CutlassEnvironment)
    manifests = ManifestSet([env], [*manifests.regions, paris], manifests.secrets)
    calls = CallLog()
    run = OfflineRun(manifests, Mode.APPLY, echo=lambda _: None, calls=calls)
    assert not run.run()
    assert calls.calls == {}, "not even the account check: the spec alone decides"
    reasons = {name: report.first_error.reason for name, report in run.reports.items() if report.first_error}
    assert reasons == {
        "CutlassEnvironment/dev": "PrimaryRegionHasNoRegion",
        "CutlassRegion/dev-london": "PrimaryRegionHasNoRegion",
        "CutlassRegion/dev-sydney": "PrimaryRegionHasNoRegion",
        "CutlassRegion/dev-paris": "RegionClash",
    }
    paris_error = run.reports["CutlassRegion/dev-paris"].first_error
    assert paris_error is not None and "spec.awsRegion eu-west-2 is already CutlassRegion dev-london's" in str(
        paris_error.message
    )
    env_status = run.statuses["CutlassEnvironment/dev"]["status"]
    synced = next(c for c in env_status["conditions"] if c["type"] == "Synced")
    assert synced["reason"] == "PrimaryRegionHasNoRegion" and "spec.primaryRegion is eu-west-1" in synced["message"]


def test_more_tags_than_aws_takes_on_the_environment_and_region_together_write_nothing(moto_endpoint: str) -> None:
    manifests = dev()
    env = with_spec(manifests.environments[0], tags={f"env-{i}": "x" for i in range(30)})
    region = with_spec(manifests.regions[0], tags={f"region-{i}": "y" for i in range(11)})
    assert isinstance(env, CutlassEnvironment) and isinstance(region, CutlassRegion)
    calls = CallLog()
    report = run_region(env, region, mode=Mode.APPLY, calls=calls)
    assert report.first_error is not None and report.first_error.reason == "TooManyTags"
    assert "make 41" in report.first_error.message and "at most 40" in report.first_error.message
    assert calls.calls == {}
