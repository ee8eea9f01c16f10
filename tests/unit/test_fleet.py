"""The environment/regions model the operator's handlers and `cutlass apply -f` share: which regions
are routed, held or refused, and when the environment may not write at all."""

from __future__ import annotations

import pytest

from cutlass_operator.api.environment import CutlassEnvironmentSpec
from cutlass_operator.layers.base import ApiEndpoint, RegionRef
from cutlass_operator.workflows.fleet import RegionFacts, clashes, environment_problem, environment_regions

ENDPOINT = ApiEndpoint("d-1.execute-api.eu-west-2.amazonaws.com", "Z1", "a1.execute-api.eu-west-2.amazonaws.com", "dev")


def facts(name: str = "dev-london", aws_region: str = "eu-west-2", **kwargs: object) -> RegionFacts:
    region = str(kwargs.pop("region", name.removeprefix("dev-")))
    return RegionFacts(name, region, aws_region, certificate=True, **kwargs)  # type: ignore[arg-type]


def ref(regions: list[RegionFacts], routed: list[str] | None) -> RegionRef:
    (found,) = environment_regions(regions, routed)
    return found


class TestRouting:
    def test_a_ready_region_with_an_endpoint_is_routed_whatever_the_caller_knows(self) -> None:
        for routed in ([], ["london"], None):
            assert ref([facts(ready=True, endpoint=ENDPOINT)], routed).endpoint == ENDPOINT

    def test_a_failing_routed_region_keeps_its_last_endpoint(self) -> None:
        found = ref([facts(ready=False, endpoint=ENDPOINT)], ["london"])
        assert (found.endpoint, found.held) == (ENDPOINT, False)

    def test_a_failing_region_the_caller_cannot_place_is_held_to_read_route_53(self) -> None:
        for routed, endpoint in ((None, ENDPOINT), (None, None), (["london"], None)):
            found = ref([facts(ready=False, endpoint=endpoint)], routed)
            assert (found.endpoint, found.held) == (None, True), (routed, endpoint)

    def test_a_region_never_routed_waits_for_its_first_good_reconcile(self) -> None:
        found = ref([facts(ready=False, endpoint=ENDPOINT)], [])
        assert (found.endpoint, found.held, found.unroutable) == (None, False, "dev-london is not Ready yet")

    def test_a_region_without_a_certificate_says_so(self) -> None:
        regions = [RegionFacts("dev-london", "london", "eu-west-2", ready=True)]
        assert "no spec.api.certificateArn" in ref(regions, []).unroutable

    def test_deleting_regions_are_neither_replicated_to_nor_routed(self) -> None:
        regions = [facts(ready=True, endpoint=ENDPOINT, deleting=True), facts("dev-sydney", "ap-southeast-2")]
        assert [r.name for r in environment_regions(regions, ["london"])] == ["sydney"]


class TestClashes:
    @pytest.mark.parametrize(
        ("second", "field"),
        [
            pytest.param(facts("dev-paris", "eu-west-2"), "spec.awsRegion eu-west-2", id="same-aws-region"),
            pytest.param(facts("dev-london2", "eu-west-1", region="london"), "spec.region london", id="same-name"),
        ],
    )
    def test_the_younger_of_two_regions_claiming_one_place_is_refused(self, second: RegionFacts, field: str) -> None:
        first = facts(created="2026-01-01T00:00:00Z")
        later = RegionFacts(**{**second.__dict__, "created": "2026-02-01T00:00:00Z"})
        refused = clashes([later, first])
        assert list(refused) == [later.name]
        assert refused[later.name].reason == "RegionClash"
        assert field in refused[later.name].message and "dev-london" in refused[later.name].message
        assert [r.name for r in environment_regions([later, first], None)] == ["london"]

    def test_without_creation_times_the_first_by_name_keeps_its_place(self) -> None:
        assert list(clashes([facts("dev-b", "eu-west-2"), facts("dev-a", "eu-west-2")])) == ["dev-b"]

    def test_a_deleting_claimant_frees_the_place(self) -> None:
        older = facts(created="2026-01-01T00:00:00Z", deleting=True)
        assert clashes([older, facts("dev-paris", "eu-west-2", created="2026-02-01T00:00:00Z")]) == {}


class TestEnvironmentProblem:
    SPEC = CutlassEnvironmentSpec.model_validate(
        {"accountId": "111111111111", "tier": "dev", "notifications": {"senderEmail": "a@example.com"}}
    )

    def test_a_primary_region_none_of_the_regions_is_in_stops_the_environment(self) -> None:
        problem = environment_problem(self.SPEC, [RegionRef("sydney", "ap-southeast-2")])
        assert problem is not None and problem.reason == "PrimaryRegionHasNoRegion"
        assert "spec.primaryRegion is eu-west-2" in problem.message and "sydney (ap-southeast-2)" in problem.message

    def test_a_region_in_the_primary_region_or_no_region_yet_lets_it_go(self) -> None:
        assert environment_problem(self.SPEC, [RegionRef("london", "eu-west-2"), RegionRef("s", "ap-1")]) is None
        assert environment_problem(self.SPEC, []) is None
