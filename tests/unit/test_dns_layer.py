"""The DNS layer's desired state and outputs, pure functions of the environment's spec and its
regions' API endpoints: the zone, one health check per routed region, the routed name's records by
policy, a region's own name; the routing models that check the spec; the environment's DNS status
and the digest of its regions' endpoints; and the routing part of the environment CRD."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

from cutlass_operator.api.crd import build_crds
from cutlass_operator.api.environment import CutlassEnvironmentSpec, DnsStatus, Domain, EnvironmentStatus
from cutlass_operator.api.routing import GeoRoute, HealthCheckSettings, Routing, continent_of
from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.executor import ApplyResult
from cutlass_operator.engine.identity import COMPONENT, GLOBAL, KEY, MANAGED_BY, OPERATOR, Workspace
from cutlass_operator.engine.plan import Action, Change, Plan
from cutlass_operator.engine.resource import Desired, Observed, Ref
from cutlass_operator.layers.base import ApiEndpoint, EnvironmentInputs, RegionRef
from cutlass_operator.layers.dns import DnsLayer, api_endpoint, routed_regions, routing_records
from cutlass_operator.workflows.dns_status import dns_status, targets_digest
from cutlass_operator.workflows.environment import apply_environment_report
from cutlass_operator.workflows.layers import kinds_of
from cutlass_operator.workflows.report import LayerReport, Mode, Report

ACCOUNT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/cutlass-operator"
ZONE_NAME = "example.com"
# API Gateway's regional hosted zones, as its custom domains report them.
GATEWAY_ZONES = {"eu-west-2": "ZJ5UAJN8Y3Z2Q", "ap-southeast-2": "Z2RPCDW04V8134", "eu-central-1": "Z1U9ULNL0V5AJ3"}
NAMES = {"eu-west-2": "london", "ap-southeast-2": "sydney", "eu-central-1": "frankfurt"}


def endpoint(aws_region: str, *, own: bool = False, stage: str = "dev") -> ApiEndpoint:
    name = NAMES[aws_region]
    return ApiEndpoint(
        target=f"d-{name}.execute-api.{aws_region}.amazonaws.com",
        target_zone_id=GATEWAY_ZONES[aws_region],
        invoke_host=f"{name}123.execute-api.{aws_region}.amazonaws.com",
        stage=stage,
        own_name=f"{name}.api.{ZONE_NAME}" if own else None,
        own_target=f"d-{name}-own.execute-api.{aws_region}.amazonaws.com" if own else None,
        own_zone_id=GATEWAY_ZONES[aws_region] if own else None,
    )


def region(aws_region: str, *, routed: bool = True, unroutable: str = "", own: bool = False) -> RegionRef:
    found = endpoint(aws_region, own=own) if routed else None
    return RegionRef(NAMES[aws_region], aws_region, found, unroutable)


LONDON = region("eu-west-2")
SYDNEY = region("ap-southeast-2")
FRANKFURT = region("eu-central-1")
GEO = [
    {"region": "london", "continents": ["EU"]},
    {"region": "sydney", "continents": ["OC", "AS"], "countries": ["NZ"]},
]


def environment_spec(tier: str = "dev", domain: dict[str, Any] | None = None, **spec: Any) -> CutlassEnvironmentSpec:
    return CutlassEnvironmentSpec.model_validate(
        {
            "accountId": ACCOUNT,
            "tier": tier,
            "credentials": {"source": "AssumeRole", "roleArn": ROLE},
            "notifications": {"senderEmail": "alerts@example.com"},
            **({"domain": domain} if domain is not None else {}),
            **spec,
        }
    )


def with_domain(
    policy: str | None = None, geolocation: list[dict[str, Any]] | None = None, tier: str = "dev", **domain: Any
) -> CutlassEnvironmentSpec:
    routing: dict[str, Any] = dict(domain.pop("routing", {}))
    if policy is not None:
        routing["policy"] = policy
    if geolocation is not None:
        routing["geolocation"] = geolocation
    return environment_spec(tier, {"zoneName": ZONE_NAME, "routing": routing, **domain})


def environment_inputs(environment: CutlassEnvironmentSpec, regions: Sequence[RegionRef] = ()) -> EnvironmentInputs:
    workspace = Workspace("dev", GLOBAL, environment.primary_region, ACCOUNT, extra_tags=dict(environment.tags))
    keys: dict[str, str | None] = {r.aws_region: None for r in regions}
    return EnvironmentInputs(workspace, environment, keys, tuple(regions))


def desired(environment: CutlassEnvironmentSpec, regions: Sequence[RegionRef] = ()) -> dict[str, Desired[Any]]:
    entries = DnsLayer().desired(environment_inputs(environment, regions))
    found = {d.key: d for d in entries}
    assert len(found) == len(entries), "two entries share a key"
    return found


def records(environment: CutlassEnvironmentSpec, regions: Sequence[RegionRef]) -> list[dict[str, Any]]:
    group = desired(environment, regions)["dns/records"]
    found: list[dict[str, Any]] = group.properties["records"]
    return found


def by_identifier(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {r["setIdentifier"]: r for r in found}
    assert len(out) == len(found), "two records share a set identifier"
    return out


def points_at(record: dict[str, Any], ref: RegionRef) -> bool:
    assert ref.endpoint is not None
    alias = {"dnsName": ref.endpoint.target, "hostedZoneId": ref.endpoint.target_zone_id, "evaluateTargetHealth": True}
    return bool(record["alias"] == alias and record["healthCheckId"] == Ref(f"dns/health/{ref.name}", "id"))


# --- without a domain ---------------------------------------------------------------------------


class TestWithoutDomain:
    def test_nothing_is_desired_and_nothing_is_waited_for(self) -> None:
        env = environment_spec()
        regions = [LONDON, region("ap-southeast-2", routed=False, unroutable="not Ready")]
        given = environment_inputs(env, regions)
        assert env.domain is None
        assert DnsLayer().desired(given) == []
        assert DnsLayer().waiting(given) is None

    def test_outputs_of_nothing_observed(self) -> None:
        assert DnsLayer().outputs({}) == {"zone": None, "recordName": None, "records": 0, "healthChecks": {}}


# --- the zone -----------------------------------------------------------------------------------


class TestZone:
    def test_without_routed_regions_only_the_zone_is_desired(self) -> None:
        found = desired(with_domain(), [region("eu-west-2", routed=False)])
        assert list(found) == ["dns/zone"]
        zone = found["dns/zone"]
        assert (zone.kind, zone.name) == ("route53.hosted_zone", ZONE_NAME)
        assert zone.properties == {"name": ZONE_NAME, "create": False, "comment": "cutlass dev"}
        assert zone.tags[KEY] == "dns/zone" and zone.tags[COMPONENT] == "dns"
        assert zone.tags[MANAGED_BY] == OPERATOR

    def test_without_any_region_only_the_zone_is_desired(self) -> None:
        assert list(desired(with_domain())) == ["dns/zone"]

    def test_create_zone_is_passed_on(self) -> None:
        assert desired(with_domain(createZone=True))["dns/zone"].properties["create"] is True

    @pytest.mark.parametrize(
        ("tier", "policy", "retain"),
        [
            ("dev", None, False),
            ("staging", None, False),
            ("prod", None, True),
            ("dev", "Retain", True),
            ("prod", "Delete", False),
        ],
    )
    def test_the_zone_follows_the_deletion_policy(self, tier: str, policy: str | None, retain: bool) -> None:
        extra = {"deletionPolicy": policy} if policy else {}
        env = environment_spec(tier, {"zoneName": ZONE_NAME}, **extra)
        found = desired(env, [LONDON])
        assert found["dns/zone"].retain is retain
        # Only the zone carries the override: the checks and records go with the environment.
        assert all(d.retain is None for key, d in found.items() if key != "dns/zone")

    def test_the_layer_holds_no_data(self) -> None:
        assert DnsLayer.holds_data is False
        assert (DnsLayer.name, DnsLayer.condition) == ("dns", "DnsReady")

    def test_its_kinds_are_the_route53_ones(self) -> None:
        kinds = kinds_of(DnsLayer(), environment_inputs(with_domain()))
        assert sorted(k.kind for k in kinds.values()) == [
            "route53.health_check",
            "route53.hosted_zone",
            "route53.record_set_group",
        ]


# --- waiting for regions ------------------------------------------------------------------------


class TestWaiting:
    def test_names_each_pending_region_and_why(self) -> None:
        regions = [
            LONDON,
            region("ap-southeast-2", routed=False, unroutable="no spec.api.certificateArn"),
            region("eu-central-1", routed=False),
        ]
        waiting = DnsLayer().waiting(environment_inputs(with_domain(), regions))
        assert isinstance(waiting, RetryableError)
        assert waiting.reason == "WaitingForRegions"
        assert waiting.delay == 30
        assert waiting.message.startswith(f"api.{ZONE_NAME} is not routed to ")
        assert "sydney (no spec.api.certificateArn)" in waiting.message
        assert "frankfurt (its API is not ready yet)" in waiting.message
        assert "london" not in waiting.message

    def test_names_the_custom_record_name(self) -> None:
        env = with_domain(apiRecordName=f"edge.{ZONE_NAME}")
        waiting = DnsLayer().waiting(environment_inputs(env, [region("eu-west-2", routed=False)]))
        assert waiting is not None
        assert waiting.message == f"edge.{ZONE_NAME} is not routed to london (its API is not ready yet)"

    def test_nothing_to_wait_for_when_every_region_is_routed(self) -> None:
        assert DnsLayer().waiting(environment_inputs(with_domain(), [LONDON, SYDNEY])) is None

    def test_nothing_to_wait_for_without_regions(self) -> None:
        assert DnsLayer().waiting(environment_inputs(with_domain())) is None


# --- which regions are routed -------------------------------------------------------------------


class TestRoutedRegions:
    def test_primary_first_then_by_aws_region_and_only_those_with_an_endpoint(self) -> None:
        given = environment_inputs(
            with_domain(), [SYDNEY, FRANKFURT, region("eu-west-2", routed=False), region("eu-west-2")]
        )
        assert [r.name for r in routed_regions(given)] == ["london", "sydney", "frankfurt"]

    def test_without_the_primary_by_aws_region(self) -> None:
        given = environment_inputs(with_domain(), [FRANKFURT, SYDNEY, region("eu-west-2", routed=False)])
        assert [r.name for r in routed_regions(given)] == ["sydney", "frankfurt"]

    def test_another_primary_region_comes_first(self) -> None:
        env = with_domain().model_copy(update={"primary_region": "eu-central-1"})
        assert [r.name for r in routed_regions(environment_inputs(env, [LONDON, SYDNEY, FRANKFURT]))] == [
            "frankfurt",
            "sydney",
            "london",
        ]


# --- geolocation --------------------------------------------------------------------------------


class TestGeolocation:
    def test_the_mapping_makes_one_record_per_place_and_a_default(self) -> None:
        found = records(with_domain("geolocation", GEO), [SYDNEY, LONDON])
        assert [r["setIdentifier"] for r in found] == [
            "cutlass-dev/default",
            "cutlass-dev/london-continent-eu",
            "cutlass-dev/sydney-continent-oc",
            "cutlass-dev/sydney-continent-as",
            "cutlass-dev/sydney-country-nz",
        ]
        geo = {r["setIdentifier"]: r["geoLocation"] for r in found}
        assert geo == {
            "cutlass-dev/default": {"countryCode": "*"},
            "cutlass-dev/london-continent-eu": {"continentCode": "EU"},
            "cutlass-dev/sydney-continent-oc": {"continentCode": "OC"},
            "cutlass-dev/sydney-continent-as": {"continentCode": "AS"},
            "cutlass-dev/sydney-country-nz": {"countryCode": "NZ"},
        }

    def test_each_record_aliases_its_region_and_its_health_check(self) -> None:
        found = by_identifier(records(with_domain("geolocation", GEO), [LONDON, SYDNEY]))
        assert points_at(found["cutlass-dev/default"], LONDON)  # the primary region
        assert points_at(found["cutlass-dev/london-continent-eu"], LONDON)
        for place in ("continent-oc", "continent-as", "country-nz"):
            sid = f"cutlass-dev/sydney-{place}"
            assert points_at(found[sid], SYDNEY), sid
        for record in found.values():
            assert record["type"] == "A"
            assert "region" not in record and "failover" not in record

    def test_a_region_not_routed_gets_no_records_and_its_callers_the_default(self) -> None:
        regions = [LONDON, region("ap-southeast-2", routed=False)]
        found = by_identifier(records(with_domain("geolocation", GEO), regions))
        assert sorted(found) == ["cutlass-dev/default", "cutlass-dev/london-continent-eu"]
        assert points_at(found["cutlass-dev/default"], LONDON)

    def test_without_the_primary_the_default_goes_to_the_first_routed_region(self) -> None:
        geo = [*GEO, {"region": "frankfurt", "countries": ["DE"]}]
        regions = [FRANKFURT, region("eu-west-2", routed=False), SYDNEY]
        found = by_identifier(records(with_domain("geolocation", geo), regions))
        # sydney (ap-southeast-2) sorts before frankfurt (eu-central-1)
        assert points_at(found["cutlass-dev/default"], SYDNEY)
        assert sorted(found) == [
            "cutlass-dev/default",
            "cutlass-dev/frankfurt-country-de",
            "cutlass-dev/sydney-continent-as",
            "cutlass-dev/sydney-continent-oc",
            "cutlass-dev/sydney-country-nz",
        ]

    def test_a_mapping_naming_no_region_of_the_environment_is_skipped(self) -> None:
        geo = [{"region": "tokyo", "continents": ["AS"]}, {"region": "london", "continents": ["EU"]}]
        found = by_identifier(records(with_domain("geolocation", geo), [LONDON]))
        assert sorted(found) == ["cutlass-dev/default", "cutlass-dev/london-continent-eu"]

    def test_by_default_each_region_serves_its_own_continent(self) -> None:
        found = by_identifier(records(with_domain("geolocation"), [LONDON, SYDNEY]))
        assert {sid: r["geoLocation"] for sid, r in found.items()} == {
            "cutlass-dev/default": {"countryCode": "*"},
            "cutlass-dev/london-continent-eu": {"continentCode": "EU"},
            "cutlass-dev/sydney-continent-oc": {"continentCode": "OC"},
        }
        assert points_at(found["cutlass-dev/london-continent-eu"], LONDON)
        assert points_at(found["cutlass-dev/sydney-continent-oc"], SYDNEY)

    def test_by_default_the_primary_region_wins_a_shared_continent(self) -> None:
        # eu-central-1 sorts before eu-west-2, but eu-west-2 is the primary region.
        found = by_identifier(records(with_domain("geolocation"), [FRANKFURT, LONDON]))
        assert sorted(found) == ["cutlass-dev/default", "cutlass-dev/london-continent-eu"]
        assert points_at(found["cutlass-dev/london-continent-eu"], LONDON)

    def test_by_default_the_first_region_by_aws_region_wins_without_the_primary(self) -> None:
        env = with_domain("geolocation").model_copy(update={"primary_region": "ap-southeast-2"})
        found = by_identifier(records(env, [LONDON, FRANKFURT, SYDNEY]))
        assert sorted(found) == [
            "cutlass-dev/default",
            "cutlass-dev/frankfurt-continent-eu",
            "cutlass-dev/sydney-continent-oc",
        ]
        assert points_at(found["cutlass-dev/default"], SYDNEY)


# --- latency and failover -----------------------------------------------------------------------


class TestLatency:
    def test_one_record_per_routed_region(self) -> None:
        regions = [SYDNEY, region("eu-central-1", routed=False), LONDON]
        found = records(with_domain("latency"), regions)
        assert [(r["setIdentifier"], r["region"]) for r in found] == [
            ("cutlass-dev/london", "eu-west-2"),
            ("cutlass-dev/sydney", "ap-southeast-2"),
        ]
        assert points_at(found[0], LONDON) and points_at(found[1], SYDNEY)
        assert all("geoLocation" not in r and "failover" not in r for r in found)

    def test_latency_is_the_default_policy(self) -> None:
        env = environment_spec(domain={"zoneName": ZONE_NAME})
        assert env.domain is not None and env.domain.routing.policy == "latency"
        assert [r["setIdentifier"] for r in records(env, [LONDON])] == ["cutlass-dev/london"]


class TestFailover:
    def test_primary_region_is_primary_and_the_next_secondary(self) -> None:
        found = records(with_domain("failover"), [SYDNEY, LONDON])
        assert [(r["setIdentifier"], r["failover"]) for r in found] == [
            ("cutlass-dev/london-primary", "PRIMARY"),
            ("cutlass-dev/sydney-secondary", "SECONDARY"),
        ]
        assert points_at(found[0], LONDON) and points_at(found[1], SYDNEY)
        assert all("geoLocation" not in r and "region" not in r for r in found)

    def test_three_regions_make_only_two_records(self) -> None:
        found = records(with_domain("failover"), [SYDNEY, FRANKFURT, LONDON])
        assert [(r["setIdentifier"], r["failover"]) for r in found] == [
            ("cutlass-dev/london-primary", "PRIMARY"),
            ("cutlass-dev/sydney-secondary", "SECONDARY"),
        ]

    def test_without_the_primary_the_other_region_is_primary(self) -> None:
        found = records(with_domain("failover"), [region("eu-west-2", routed=False), SYDNEY])
        assert [(r["setIdentifier"], r["failover"]) for r in found] == [("cutlass-dev/sydney-primary", "PRIMARY")]
        assert points_at(found[0], SYDNEY)

    def test_routing_records_takes_the_regions_as_given(self) -> None:
        domain = Domain.model_validate({"zoneName": ZONE_NAME, "routing": {"policy": "failover"}})
        found = [r.properties() for r in routing_records(domain, [SYDNEY, LONDON], "cutlass-dev/")]
        assert [r["failover"] for r in found] == ["PRIMARY", "SECONDARY"]
        assert points_at(found[0], SYDNEY)


# --- health checks ------------------------------------------------------------------------------


class TestHealthChecks:
    def test_one_https_check_per_routed_region_on_its_health_route(self) -> None:
        env = with_domain(routing={"healthCheck": {"requestInterval": 10, "failureThreshold": 5}})
        found = desired(env, [LONDON, SYDNEY, region("eu-central-1", routed=False)])
        checks = {k: d for k, d in found.items() if d.kind == "route53.health_check"}
        assert sorted(checks) == ["dns/health/london", "dns/health/sydney"]
        london = checks["dns/health/london"]
        assert london.name == "cutlass-tech-health-dev-london"
        assert london.properties == {
            "fqdn": "london123.execute-api.eu-west-2.amazonaws.com",
            "type": "HTTPS",
            "resourcePath": "/dev/health",
            "requestInterval": 10,
            "failureThreshold": 5,
            "enableSNI": True,
        }
        assert london.tags[KEY] == "dns/health/london" and london.tags["Name"] == london.name
        assert checks["dns/health/sydney"].properties["fqdn"] == "sydney123.execute-api.ap-southeast-2.amazonaws.com"

    def test_the_path_follows_the_stage_and_the_settings_default(self) -> None:
        staged = RegionRef("london", "eu-west-2", endpoint("eu-west-2", stage="v2"))
        check = desired(with_domain(), [staged])["dns/health/london"]
        assert check.properties["resourcePath"] == "/v2/health"
        assert (check.properties["requestInterval"], check.properties["failureThreshold"]) == (30, 3)


# --- the routed record group --------------------------------------------------------------------


class TestRecordGroup:
    def test_the_group_of_the_routed_name(self) -> None:
        found = desired(with_domain(), [LONDON, SYDNEY])
        group = found["dns/records"]
        assert (group.kind, group.name) == ("route53.record_set_group", f"api.{ZONE_NAME}")
        assert group.properties["hostedZoneId"] == Ref("dns/zone", "id")
        assert group.properties["zoneName"] == ZONE_NAME
        assert group.properties["name"] == f"api.{ZONE_NAME}"
        assert group.tags == {}
        assert sorted(found) == ["dns/health/london", "dns/health/sydney", "dns/records", "dns/zone"]

    def test_the_group_depends_on_the_zone_and_the_checks(self) -> None:
        group = desired(with_domain(), [LONDON, SYDNEY])["dns/records"]
        assert group.dependencies() == {"dns/zone", "dns/health/london", "dns/health/sydney"}

    def test_the_custom_record_name(self) -> None:
        group = desired(with_domain(apiRecordName=f"edge.{ZONE_NAME}"), [LONDON])["dns/records"]
        assert group.name == group.properties["name"] == f"edge.{ZONE_NAME}"


class TestOwnRecords:
    def test_a_regions_own_name_gets_one_latency_record(self) -> None:
        london = region("eu-west-2", own=True)
        found = desired(with_domain("geolocation"), [london, SYDNEY])
        assert sorted(k for k in found if k.startswith("dns/own-records/")) == ["dns/own-records/london"]
        group = found["dns/own-records/london"]
        assert (group.kind, group.name) == ("route53.record_set_group", f"london.api.{ZONE_NAME}")
        assert group.properties["name"] == f"london.api.{ZONE_NAME}"
        assert group.properties["hostedZoneId"] == Ref("dns/zone", "id")
        assert group.properties["zoneName"] == ZONE_NAME
        assert group.properties["records"] == [
            {
                "setIdentifier": "cutlass-dev/london-own",
                "type": "A",
                "alias": {
                    "dnsName": "d-london-own.execute-api.eu-west-2.amazonaws.com",
                    "hostedZoneId": GATEWAY_ZONES["eu-west-2"],
                    "evaluateTargetHealth": True,
                },
                "healthCheckId": Ref("dns/health/london", "id"),
                "region": "eu-west-2",
            }
        ]

    def test_no_group_without_all_three_own_fields(self) -> None:
        partial = ApiEndpoint(
            target="d-london.execute-api.eu-west-2.amazonaws.com",
            target_zone_id=GATEWAY_ZONES["eu-west-2"],
            invoke_host="london123.execute-api.eu-west-2.amazonaws.com",
            stage="dev",
            own_name=f"london.api.{ZONE_NAME}",
        )
        found = desired(with_domain(), [RegionRef("london", "eu-west-2", partial)])
        assert not any(k.startswith("dns/own-records/") for k in found)

    def test_a_name_two_regions_claim_is_routed_to_neither_and_the_condition_says_so(self) -> None:
        shared = f"shared.api.{ZONE_NAME}"
        london, sydney = (
            RegionRef(r.name, r.aws_region, replace(endpoint(r.aws_region, own=True), own_name=shared))
            for r in (LONDON, SYDNEY)
        )
        env = with_domain()
        assert not any(k.startswith("dns/own-records/") for k in desired(env, [london, sydney]))
        waiting = DnsLayer().waiting(environment_inputs(env, [london, sydney]))
        assert waiting is not None and waiting.reason == "WaitingForRegions"
        assert f"{shared} (the spec.api.domainName of london, sydney" in waiting.message

    def test_no_group_for_a_region_not_routed(self) -> None:
        unrouted = RegionRef("london", "eu-west-2", None)
        found = desired(with_domain(), [unrouted, region("ap-southeast-2", own=True)])
        assert sorted(k for k in found if k.startswith("dns/own-records/")) == ["dns/own-records/sydney"]


# --- a region's endpoint from its API layer's outputs -------------------------------------------

INVOKE_URL = "https://abc123.execute-api.eu-west-2.amazonaws.com/dev"
ROUTED_DOMAIN = {
    "domainName": f"api.{ZONE_NAME}",
    "regionalDomainName": "d-routed.execute-api.eu-west-2.amazonaws.com",
    "regionalHostedZoneId": "ZJ5UAJN8Y3Z2Q",
}
API_OUTPUTS: dict[str, Any] = {
    "apiId": "abc123",
    "stage": "dev",
    "invokeUrl": INVOKE_URL,
    "routedDomain": ROUTED_DOMAIN,
}


class TestApiEndpoint:
    def test_from_the_routed_domain_and_the_invoke_url(self) -> None:
        assert api_endpoint(API_OUTPUTS) == ApiEndpoint(
            target="d-routed.execute-api.eu-west-2.amazonaws.com",
            target_zone_id="ZJ5UAJN8Y3Z2Q",
            invoke_host="abc123.execute-api.eu-west-2.amazonaws.com",
            stage="dev",
        )

    def test_the_stage_and_host_come_from_the_outputs(self) -> None:
        outputs = {
            **API_OUTPUTS,
            "stage": "v1",
            "invokeUrl": "https://xyz789.execute-api.ap-southeast-2.amazonaws.com/v1",
        }
        found = api_endpoint(outputs)
        assert found is not None
        assert (found.stage, found.invoke_host) == ("v1", "xyz789.execute-api.ap-southeast-2.amazonaws.com")

    def test_the_custom_domain_is_the_regions_own(self) -> None:
        own = {
            "domainName": f"london.api.{ZONE_NAME}",
            "regionalDomainName": "d-own.execute-api.eu-west-2.amazonaws.com",
            "regionalHostedZoneId": "ZJ5UAJN8Y3Z2Q",
        }
        found = api_endpoint({**API_OUTPUTS, "customDomain": own})
        assert found is not None
        assert (found.own_name, found.own_target, found.own_zone_id) == (
            f"london.api.{ZONE_NAME}",
            "d-own.execute-api.eu-west-2.amazonaws.com",
            "ZJ5UAJN8Y3Z2Q",
        )
        assert found.target == "d-routed.execute-api.eu-west-2.amazonaws.com"

    @pytest.mark.parametrize(
        "outputs",
        [
            pytest.param(None, id="no-outputs"),
            pytest.param({}, id="empty"),
            pytest.param({k: v for k, v in API_OUTPUTS.items() if k != "routedDomain"}, id="no-routed-domain"),
            pytest.param({**API_OUTPUTS, "routedDomain": None}, id="routed-domain-null"),
            pytest.param(
                {**API_OUTPUTS, "routedDomain": {**ROUTED_DOMAIN, "regionalDomainName": None}}, id="no-target"
            ),
            pytest.param(
                {**API_OUTPUTS, "routedDomain": {**ROUTED_DOMAIN, "regionalHostedZoneId": None}}, id="no-zone"
            ),
            pytest.param({k: v for k, v in API_OUTPUTS.items() if k != "invokeUrl"}, id="no-invoke-url"),
            pytest.param({**API_OUTPUTS, "invokeUrl": None}, id="invoke-url-null"),
            pytest.param({**API_OUTPUTS, "invokeUrl": "abc123.execute-api.eu-west-2.amazonaws.com"}, id="no-scheme"),
            pytest.param({**API_OUTPUTS, "stage": None}, id="no-stage"),
        ],
    )
    def test_none_while_it_serves_no_routed_name(self, outputs: dict[str, Any] | None) -> None:
        assert api_endpoint(outputs) is None


# --- the routing models -------------------------------------------------------------------------


class TestRoutingModel:
    def test_defaults(self) -> None:
        routing = Routing()
        assert (routing.policy, routing.geolocation) == ("latency", [])
        assert (routing.health_check.request_interval, routing.health_check.failure_threshold) == (30, 3)

    def test_camel_case_fields(self) -> None:
        routing = Routing.model_validate(
            {"policy": "geolocation", "geolocation": GEO, "healthCheck": {"requestInterval": 10, "failureThreshold": 7}}
        )
        assert [(g.region, g.continents, g.countries) for g in routing.geolocation] == [
            ("london", ["EU"], []),
            ("sydney", ["OC", "AS"], ["NZ"]),
        ]
        assert (routing.health_check.request_interval, routing.health_check.failure_threshold) == (10, 7)

    def test_a_region_listed_twice_is_rejected(self) -> None:
        geo = [{"region": "london", "continents": ["EU"]}, {"region": "london", "countries": ["GB"]}]
        with pytest.raises(ValidationError, match="region london is listed more than once"):
            Routing.model_validate({"policy": "geolocation", "geolocation": geo})

    def test_a_continent_mapped_to_two_regions_is_rejected(self) -> None:
        geo = [{"region": "london", "continents": ["EU"]}, {"region": "frankfurt", "continents": ["EU", "AF"]}]
        with pytest.raises(ValidationError, match="EU is mapped to more than one region"):
            Routing.model_validate({"policy": "geolocation", "geolocation": geo})

    def test_a_country_mapped_to_two_regions_is_rejected(self) -> None:
        geo = [{"region": "london", "countries": ["IE"]}, {"region": "frankfurt", "countries": ["IE", "DE"]}]
        with pytest.raises(ValidationError, match="IE is mapped to more than one region"):
            Routing.model_validate({"policy": "geolocation", "geolocation": geo})

    def test_a_route_serving_no_one_is_rejected(self) -> None:
        with pytest.raises(ValidationError, match="region london needs continents or countries"):
            GeoRoute.model_validate({"region": "london"})
        with pytest.raises(ValidationError, match="region sydney needs continents or countries"):
            Routing.model_validate({"geolocation": [{"region": "sydney", "continents": [], "countries": []}]})

    @pytest.mark.parametrize(
        "route",
        [
            pytest.param({"region": "london", "continents": ["XX"]}, id="unknown-continent"),
            pytest.param({"region": "london", "continents": ["eu"]}, id="lower-case-continent"),
            pytest.param({"region": "london", "countries": ["gb"]}, id="lower-case-country"),
            pytest.param({"region": "london", "countries": ["GBR"]}, id="three-letter-country"),
            pytest.param({"region": "London", "continents": ["EU"]}, id="region-not-a-name"),
        ],
    )
    def test_bad_codes_and_names_are_rejected(self, route: dict[str, Any]) -> None:
        with pytest.raises(ValidationError):
            GeoRoute.model_validate(route)

    def test_an_unknown_policy_is_rejected(self) -> None:
        with pytest.raises(ValidationError):
            Routing.model_validate({"policy": "weighted"})

    @pytest.mark.parametrize(
        "settings",
        [{"requestInterval": 20}, {"requestInterval": 60}, {"failureThreshold": 0}, {"failureThreshold": 11}],
    )
    def test_bad_health_check_settings_are_rejected(self, settings: dict[str, Any]) -> None:
        with pytest.raises(ValidationError):
            HealthCheckSettings.model_validate(settings)

    @pytest.mark.parametrize("settings", [{"requestInterval": 10, "failureThreshold": 1}, {"failureThreshold": 10}])
    def test_good_health_check_settings_are_accepted(self, settings: dict[str, Any]) -> None:
        found = HealthCheckSettings.model_validate(settings)
        assert found.failure_threshold == settings["failureThreshold"]

    def test_a_country_whose_code_is_a_continents_is_a_different_place(self) -> None:
        geo = [{"region": "saopaulo", "continents": ["SA"]}, {"region": "bahrain", "countries": ["SA"]}]
        routing = Routing.model_validate({"policy": "geolocation", "geolocation": geo})
        assert [g.region for g in routing.geolocation] == ["saopaulo", "bahrain"]

    @pytest.mark.parametrize(
        ("aws_region", "continent"),
        [
            ("eu-west-2", "EU"),
            ("eu-central-1", "EU"),
            ("ap-southeast-2", "OC"),
            ("ap-southeast-4", "OC"),
            ("ap-southeast-1", "AS"),
            ("ap-northeast-1", "AS"),
            ("me-central-1", "AS"),
            ("il-central-1", "AS"),
            ("us-east-1", "NA"),
            ("ca-central-1", "NA"),
            ("mx-central-1", "NA"),
            ("sa-east-1", "SA"),
            ("af-south-1", "AF"),
            ("cn-north-1", None),
        ],
    )
    def test_continent_of(self, aws_region: str, continent: str | None) -> None:
        assert continent_of(aws_region) == continent


class TestDomain:
    def test_the_record_name_defaults_to_api_in_the_zone(self) -> None:
        assert Domain.model_validate({"zoneName": ZONE_NAME}).record_name() == f"api.{ZONE_NAME}"

    def test_a_record_name_inside_the_zone(self) -> None:
        domain = Domain.model_validate({"zoneName": ZONE_NAME, "apiRecordName": f"edge.api.{ZONE_NAME}"})
        assert domain.record_name() == f"edge.api.{ZONE_NAME}"

    @pytest.mark.parametrize("name", ["api.example.org", "api.otherexample.com", "api.example.com.evil.net"])
    def test_a_record_name_outside_the_zone_is_rejected(self, name: str) -> None:
        with pytest.raises(ValidationError, match=f"apiRecordName {name} must be inside zone {ZONE_NAME}"):
            Domain.model_validate({"zoneName": ZONE_NAME, "apiRecordName": name})

    def test_the_routing_is_nested_in_the_domain(self) -> None:
        domain = Domain.model_validate({"zoneName": ZONE_NAME, "routing": {"policy": "failover"}})
        assert domain.routing.policy == "failover"
        with pytest.raises(ValidationError, match="needs continents or countries"):
            Domain.model_validate({"zoneName": ZONE_NAME, "routing": {"geolocation": [{"region": "london"}]}})


# --- outputs ------------------------------------------------------------------------------------

SERVERS = ["ns-1.awsdns-01.org", "ns-2.awsdns-02.co.uk"]


def observed_zone(*, managed: bool = True, servers: list[str] | None = None) -> Observed:
    outputs = {"id": "Z0123", "name": ZONE_NAME, "nameServers": servers, "managed": managed}
    return Observed("dns/zone", "route53.hosted_zone", "Z0123", {"name": ZONE_NAME}, {}, outputs)


def observed_check(name: str, check_id: str, status: str | None) -> Observed:
    key = f"dns/health/{name}"
    return Observed(key, "route53.health_check", check_id, {}, {}, {"id": check_id, "status": status})


def observed_group(key: str, name: str, count: int, records: list[dict[str, Any]] | None = None) -> Observed:
    outputs = {"id": f"Z0123/{name}", "changeId": None, "records": count}
    properties = {"name": name, "records": records or []}
    return Observed(key, "route53.record_set_group", f"Z0123/{name}", properties, {}, outputs)


class TestOutputs:
    def test_the_zone_the_name_its_records_and_the_checks(self) -> None:
        observed = {
            "dns/zone": observed_zone(servers=SERVERS),
            "dns/health/sydney": observed_check("sydney", "hc-2", "Unhealthy"),
            "dns/health/london": observed_check("london", "hc-1", "Healthy"),
            "dns/records": observed_group(
                "dns/records",
                f"api.{ZONE_NAME}",
                5,
                [
                    {"healthCheckId": "hc-1", "geoLocation": {"countryCode": "*"}},
                    {"healthCheckId": "hc-1", "geoLocation": {"continentCode": "EU"}},
                    {"healthCheckId": "hc-2", "geoLocation": {"continentCode": "OC"}},
                    {"healthCheckId": "hc-2", "geoLocation": {"countryCode": "NZ"}},
                    {"healthCheckId": "hc-2", "geoLocation": {"countryCode": "US", "subdivisionCode": "CA"}},
                ],
            ),
            "dns/own-records/london": observed_group("dns/own-records/london", f"london.api.{ZONE_NAME}", 1),
        }
        outputs = DnsLayer().outputs(observed)
        assert outputs == {
            "zone": {"id": "Z0123", "name": ZONE_NAME, "nameServers": SERVERS, "managed": True, "delegated": None},
            "recordName": f"api.{ZONE_NAME}",
            "records": 5,
            "healthChecks": {
                "london": {"id": "hc-1", "status": "Healthy", "serves": ["EU", "default"]},
                "sydney": {"id": "hc-2", "status": "Unhealthy", "serves": ["OC", "country NZ", "country US-CA"]},
            },
        }
        assert list(outputs["healthChecks"]) == ["london", "sydney"]

    @pytest.mark.parametrize(
        ("records", "serves"),
        [
            ([{"healthCheckId": "hc-1", "failover": "PRIMARY"}], ["PRIMARY"]),
            ([{"healthCheckId": "hc-1", "region": "eu-west-2"}], ["latency"]),
            ([{"healthCheckId": "hc-other", "region": "eu-west-2"}], []),
        ],
    )
    def test_each_check_says_whom_its_regions_records_answer(
        self, records: list[dict[str, Any]], serves: list[str]
    ) -> None:
        observed = {
            "dns/health/london": observed_check("london", "hc-1", None),
            "dns/records": observed_group("dns/records", f"api.{ZONE_NAME}", len(records), records),
        }
        assert DnsLayer().outputs(observed)["healthChecks"]["london"]["serves"] == serves

    def test_only_the_zone_so_far(self) -> None:
        outputs = DnsLayer().outputs({"dns/zone": observed_zone(managed=False)})
        assert outputs == {
            "zone": {"id": "Z0123", "name": ZONE_NAME, "nameServers": [], "managed": False, "delegated": None},
            "recordName": None,
            "records": 0,
            "healthChecks": {},
        }


# --- the environment's DNS status ---------------------------------------------------------------

CREATE = Change(Action.CREATE, "dns/health/sydney", "route53.health_check", "cutlass-tech-health-dev-sydney")
FAILED = ApplyResult(errors={"dns/records": TerminalError("InvalidChangeBatch", "refused")})


def dns_outputs(*regions: str, zone: dict[str, Any] | None = None) -> dict[str, Any]:
    checks = {name: {"id": f"hc-{name}", "status": "Healthy"} for name in regions}
    given = zone if zone is not None else {"id": "Z0123", "name": ZONE_NAME, "nameServers": SERVERS, "managed": True}
    return {"zone": given, "recordName": f"api.{ZONE_NAME}", "records": len(regions), "healthChecks": checks}


def dns_report(outputs: dict[str, Any], result: ApplyResult | None, *changes: Change) -> LayerReport:
    return LayerReport("dns", "DnsReady", Plan(changes), result, outputs)


DOMAIN = Domain.model_validate({"zoneName": ZONE_NAME, "routing": {"policy": "geolocation"}})
BEFORE = DnsStatus(routed_regions=["london"])


class TestDnsStatus:
    def test_a_clean_apply_routes_the_checked_regions(self) -> None:
        report = dns_report(dns_outputs("sydney", "london"), ApplyResult(), CREATE)
        status = dns_status(report, [LONDON, SYDNEY], DOMAIN, BEFORE)
        assert status.routed_regions == ["london", "sydney"]
        assert (status.zone_id, status.zone_name, status.name_servers) == ("Z0123", ZONE_NAME, SERVERS)
        assert (status.record_name, status.policy) == (f"api.{ZONE_NAME}", "geolocation")
        assert [(r.region, r.aws_region, r.target, r.health_check_id, r.health) for r in status.regions] == [
            ("london", "eu-west-2", "d-london.execute-api.eu-west-2.amazonaws.com", "hc-london", "Healthy"),
            ("sydney", "ap-southeast-2", "d-sydney.execute-api.ap-southeast-2.amazonaws.com", "hc-sydney", "Healthy"),
        ]

    def test_a_failed_apply_keeps_the_routed_regions_of_before(self) -> None:
        report = dns_report(dns_outputs("london", "sydney"), FAILED, CREATE)
        assert dns_status(report, [LONDON, SYDNEY], DOMAIN, BEFORE).routed_regions == ["london"]

    def test_a_failed_apply_with_nothing_before_takes_the_checks(self) -> None:
        report = dns_report(dns_outputs("london", "sydney"), FAILED, CREATE)
        assert dns_status(report, [LONDON, SYDNEY], DOMAIN, None).routed_regions == ["london", "sydney"]

    def test_a_plan_with_changes_keeps_the_routed_regions_of_before(self) -> None:
        report = dns_report(dns_outputs("london", "sydney"), None, CREATE)
        assert dns_status(report, [LONDON, SYDNEY], DOMAIN, BEFORE).routed_regions == ["london"]

    def test_nothing_to_change_routes_the_checked_regions(self) -> None:
        report = dns_report(dns_outputs("london", "sydney"), None)
        assert dns_status(report, [LONDON, SYDNEY], DOMAIN, BEFORE).routed_regions == ["london", "sydney"]

    def test_a_region_that_left_is_reported_without_its_aws_region_or_target(self) -> None:
        report = dns_report(dns_outputs("london", "sydney"), FAILED, CREATE)
        status = dns_status(report, [LONDON], DOMAIN, DnsStatus(routed_regions=["london", "sydney"]))
        assert status.routed_regions == ["london", "sydney"]
        sydney = next(r for r in status.regions if r.region == "sydney")
        assert (sydney.aws_region, sydney.target, sydney.health_check_id) == ("", None, "hc-sydney")

    def test_a_managed_zone_requires_delegation_to_its_name_servers(self) -> None:
        status = dns_status(dns_report(dns_outputs("london"), ApplyResult()), [LONDON], DOMAIN, None)
        assert status.delegation is not None
        assert status.delegation.startswith(f"Required: the operator created {ZONE_NAME}")
        assert "ns-1.awsdns-01.org, ns-2.awsdns-02.co.uk" in status.delegation

    @pytest.mark.parametrize(
        ("delegated", "expected"),
        [
            (True, f"Confirmed: the parent zone in this account delegates {ZONE_NAME} to ns-1"),
            (False, f"Required: the operator created {ZONE_NAME}; add NS records"),
        ],
    )
    def test_a_parent_zone_in_the_account_confirms_the_delegation_or_not(self, delegated: bool, expected: str) -> None:
        zone = {"id": "Z0123", "name": ZONE_NAME, "nameServers": SERVERS, "managed": True, "delegated": delegated}
        status = dns_status(dns_report(dns_outputs("london", zone=zone), ApplyResult()), [LONDON], DOMAIN, None)
        assert status.delegation is not None and status.delegation.startswith(expected)
        assert ("in the parent zone in this account" in status.delegation) is (not delegated)

    def test_an_adopted_zone_needs_no_delegation(self) -> None:
        zone = {"id": "Z0123", "name": ZONE_NAME, "nameServers": SERVERS, "managed": False}
        status = dns_status(dns_report(dns_outputs("london", zone=zone), ApplyResult()), [LONDON], DOMAIN, None)
        assert status.delegation is not None
        assert status.delegation.startswith(f"NotRequired: {ZONE_NAME} existed before")
        assert "ns-1" not in status.delegation

    def test_without_a_zone_or_a_domain(self) -> None:
        report = dns_report({"zone": None, "recordName": None, "records": 0, "healthChecks": {}}, ApplyResult())
        status = dns_status(report, [], None, None)
        assert (status.zone_id, status.delegation, status.record_name, status.policy) == (None, None, None, None)
        assert (status.name_servers, status.routed_regions, status.regions) == ([], [], [])

    def test_the_environment_report_records_the_digest_except_in_a_plan(self) -> None:
        layers = [dns_report(dns_outputs("london"), ApplyResult())]
        applied, planned = EnvironmentStatus(), EnvironmentStatus()
        apply_environment_report(applied, Report(Mode.APPLY, layers), 1, [LONDON], DOMAIN)
        apply_environment_report(planned, Report(Mode.PLAN, layers), 1, [LONDON], DOMAIN)
        assert applied.dns is not None and applied.dns.targets_digest == targets_digest([LONDON])
        assert applied.dns.routed_regions == ["london"]
        assert planned.dns is not None and planned.dns.targets_digest is None


class TestTargetsDigest:
    def test_stable_for_the_same_regions_in_any_order(self) -> None:
        first = targets_digest([LONDON, SYDNEY])
        assert first == targets_digest([region("ap-southeast-2"), region("eu-west-2")])
        assert len(first) == 16 and int(first, 16) >= 0

    def test_changes_when_a_regions_endpoint_changes(self) -> None:
        moved = RegionRef("sydney", "ap-southeast-2", endpoint("ap-southeast-2", stage="v2"))
        assert targets_digest([LONDON, SYDNEY]) != targets_digest([LONDON, moved])

    def test_changes_when_a_region_gets_its_own_name(self) -> None:
        assert targets_digest([LONDON]) != targets_digest([region("eu-west-2", own=True)])

    def test_changes_when_a_region_leaves_or_becomes_routed(self) -> None:
        both = targets_digest([LONDON, SYDNEY])
        assert both != targets_digest([LONDON])
        assert both != targets_digest([LONDON, region("ap-southeast-2", routed=False)])
        assert targets_digest([]) != targets_digest([LONDON])


# --- the CRD ------------------------------------------------------------------------------------


def environment_schema(*path: str) -> dict[str, Any]:
    crds = {crd["spec"]["names"]["kind"]: crd for crd in build_crds()}
    node: dict[str, Any] = crds["CutlassEnvironment"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for name in path:
        node = node["items"] if name == "[]" else node["properties"][name]
    return node


class TestCrd:
    def test_the_routing_policy_is_an_enum(self) -> None:
        policy = environment_schema("spec", "domain", "routing", "policy")
        assert policy["type"] == "string"
        assert policy["enum"] == ["geolocation", "latency", "failover"]
        assert policy["default"] == "latency"

    def test_continents_and_countries_are_sets(self) -> None:
        route = environment_schema("spec", "domain", "routing", "geolocation", "[]")
        assert route["required"] == ["region"]
        continents, countries = route["properties"]["continents"], route["properties"]["countries"]
        assert continents["type"] == countries["type"] == "array"
        assert continents["x-kubernetes-list-type"] == countries["x-kubernetes-list-type"] == "set"
        assert continents["items"]["enum"] == ["AF", "AN", "AS", "EU", "NA", "OC", "SA"]
        assert countries["items"]["pattern"] == "^[A-Z]{2}$"

    def test_the_health_check_settings(self) -> None:
        check = environment_schema("spec", "domain", "routing", "healthCheck")
        assert check["properties"]["requestInterval"]["enum"] == [10, 30]
        threshold = check["properties"]["failureThreshold"]
        assert (threshold["minimum"], threshold["maximum"], threshold["default"]) == (1, 10, 3)

    def test_the_dns_status(self) -> None:
        dns = environment_schema("status", "dns")
        assert {"routedRegions", "targetsDigest", "delegation", "nameServers", "regions"} <= set(dns["properties"])
