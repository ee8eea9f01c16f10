"""The kinds `route53.hosted_zone`, `route53.health_check` and `route53.record_set_group` against the
moto server, driven by the engine the way the environment's DNS layer drives them.

Each test reconciles, then reads Route 53 back with a client of its own (not counted in `calls`, which
sees only the kinds' calls): zones created, adopted and never deleted, or refused (not found,
ambiguous); health checks created, left alone, changed in place, replaced when a fixed setting changes,
claimed after a crashed create, deleted; the records of one name switched between geolocation, failover
and latency routing, each switch one ChangeResourceRecordSets that leaves exactly the new policy's
records, and a steady state that writes nothing.

moto does not validate alias targets (nor health check ids or geolocation codes): the targets here are
invented API Gateway regional domains (`d-abc123.execute-api.eu-west-2.amazonaws.com`) with API
Gateway's regional hosted zone ids for eu-west-2 (`ZHURV8PSTC4K8`) and ap-southeast-2
(`Z2RPCDW04V8134`), which AWS would check exist. The other moto gaps met here are listed in the
module's docstring.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.session import AwsClients
from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.plan import Action
from cutlass_operator.engine.reconcile import Outcome, reconcile
from cutlass_operator.engine.resource import Desired, KindContext, Ref, ResourceKind
from cutlass_operator.props.route53 import (
    AliasTarget,
    GeoLocation,
    HealthCheckProps,
    HostedZoneProps,
    Record,
    RecordSetGroupProps,
    RecordsScope,
)
from cutlass_operator.resources.registry import kind_for
from cutlass_operator.resources.route53 import (
    HealthCheckKind,
    HostedZoneKind,
    RecordSetGroupKind,
    health_check_reference_prefix,
    route53_tags,
    zone_reference_prefix,
)

from .outcomes import actions, diff_paths, outputs

pytestmark = pytest.mark.integration

ZONE = "dns/zone"
LONDON_CHECK = "dns/health-london"
SYDNEY_CHECK = "dns/health-sydney"
RECORDS = "dns/api-records"
ZONE_NAME = "dev.example.com"
RECORD_NAME = "api-dev.dev.example.com"
LONDON_DOMAIN = "d-abc123.execute-api.eu-west-2.amazonaws.com"
SYDNEY_DOMAIN = "d-def456.execute-api.ap-southeast-2.amazonaws.com"
# API Gateway's hosted zone ids for regional endpoints in eu-west-2 and ap-southeast-2.
LONDON = AliasTarget(dns_name=LONDON_DOMAIN, hosted_zone_id="ZHURV8PSTC4K8")
SYDNEY = AliasTarget(dns_name=SYDNEY_DOMAIN, hosted_zone_id="Z2RPCDW04V8134")
CHECKER_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")


def kinds(*, read_status: bool = False) -> dict[str, ResourceKind[Any]]:
    return {
        "route53.hosted_zone": HostedZoneKind(),
        "route53.health_check": HealthCheckKind(orphan_scope="dns/", read_status=read_status),
        "route53.record_set_group": RecordSetGroupKind(),
    }


def zone_desired(
    workspace: Workspace, *, create: bool = True, comment: str = "Cutlass dev", name: str = ZONE_NAME
) -> Desired[HostedZoneProps]:
    props = HostedZoneProps(name=name, create=create, comment=comment)
    return Desired(ZONE, props, name, workspace.tags("dns", ZONE, ZONE_NAME))


def check_desired(
    workspace: Workspace, key: str = LONDON_CHECK, fqdn: str = LONDON_DOMAIN, **changes: Any
) -> Desired[HealthCheckProps]:
    props = HealthCheckProps(
        fqdn=fqdn,
        type="HTTPS",
        resource_path="/dev/health",
        request_interval=30,
        failure_threshold=3,
        enable_sni=True,
        regions=None,
    )
    name = workspace.resource_name(key.rsplit("/", maxsplit=1)[-1])
    return Desired(key, replace(props, **changes), name, workspace.tags("dns", key, name))


def target(set_identifier: str, where: AliasTarget, check: str, **routing: Any) -> Record:
    return Record(set_identifier=set_identifier, type="A", alias=where, health_check_id=Ref(check, "id"), **routing)


def geolocation() -> list[Record]:
    """Europe to London; Oceania and Asia to Sydney; everyone else (the default record) to London."""
    return [
        target("cutlass-geo-europe", LONDON, LONDON_CHECK, geo_location=GeoLocation(continent_code="EU")),
        target("cutlass-geo-oceania", SYDNEY, SYDNEY_CHECK, geo_location=GeoLocation(continent_code="OC")),
        target("cutlass-geo-asia", SYDNEY, SYDNEY_CHECK, geo_location=GeoLocation(continent_code="AS")),
        target("cutlass-geo-default", LONDON, LONDON_CHECK, geo_location=GeoLocation(country_code="*")),
    ]


def failover() -> list[Record]:
    return [
        target("cutlass-failover-london", LONDON, LONDON_CHECK, failover="PRIMARY"),
        target("cutlass-failover-sydney", SYDNEY, SYDNEY_CHECK, failover="SECONDARY"),
    ]


def latency() -> list[Record]:
    return [
        target("cutlass-latency-london", LONDON, LONDON_CHECK, region="eu-west-2"),
        target("cutlass-latency-sydney", SYDNEY, SYDNEY_CHECK, region="ap-southeast-2"),
    ]


def records_desired(records: list[Record], zone: str | None = None) -> Desired[RecordSetGroupProps]:
    props = RecordSetGroupProps(
        hosted_zone_id=zone or Ref(ZONE, "id"),
        name=RECORD_NAME,
        records=tuple(records),
        zone_name=ZONE_NAME if zone is None else None,
    )
    return Desired(RECORDS, props, RECORD_NAME, {})


def dns_stack(workspace: Workspace, records: list[Record], **london: Any) -> list[Desired[Any]]:
    return [
        zone_desired(workspace),
        check_desired(workspace, LONDON_CHECK, LONDON_DOMAIN, **london),
        check_desired(workspace, SYDNEY_CHECK, SYDNEY_DOMAIN),
        records_desired(records),
    ]


def converged(ctx: KindContext, desired: list[Desired[Any]], *, read_status: bool = False, **options: Any) -> Outcome:
    outcome = reconcile(kinds(read_status=read_status), desired, ctx, **options)
    assert outcome.result is not None
    assert outcome.result.ok, {key: err.message for key, err in outcome.result.errors.items()}
    return outcome


def failed(ctx: KindContext, desired: list[Desired[Any]], **options: Any) -> Outcome:
    outcome = reconcile(kinds(), desired, ctx, **options)
    assert outcome.result is not None
    assert not outcome.result.ok
    return outcome


@pytest.fixture
def r53(clients: AwsClients) -> Any:
    """The test's own client: its reads are not counted with the kinds' calls."""
    return clients.session.client("route53", region_name="us-east-1")


def zones(r53: Any, name: str = ZONE_NAME) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = r53.list_hosted_zones_by_name(DNSName=name)["HostedZones"]
    return [z for z in found if z["Name"] == f"{name.rstrip('.')}."]


def zone_tags(r53: Any, zone_id: str) -> dict[str, str]:
    tags = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)["ResourceTagSet"]["Tags"]
    return {t["Key"]: t["Value"] for t in tags}


def checks(r53: Any) -> dict[str, dict[str, Any]]:
    return {c["Id"]: c for c in r53.list_health_checks()["HealthChecks"]}


def check_tags(r53: Any, check_id: str) -> dict[str, str]:
    tag_set = r53.list_tags_for_resources(ResourceType="healthcheck", ResourceIds=[check_id])["ResourceTagSets"][0]
    return {t["Key"]: t["Value"] for t in tag_set["Tags"]}


def record_sets(r53: Any, zone_id: str, name: str = RECORD_NAME) -> list[dict[str, Any]]:
    found = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return [rr for rr in found if rr["Name"] == f"{name.rstrip('.')}."]


def routing(r53: Any, zone_id: str) -> dict[str, tuple[Any, ...]]:
    """`{set identifier: (policy, target, health check)}` of the operator's records at the API's name."""
    result = {}
    for rr in record_sets(r53, zone_id):
        if not str(rr.get("SetIdentifier", "")).startswith("cutlass-"):
            continue
        policy = rr.get("GeoLocation") or rr.get("Failover") or rr.get("Region")
        alias = rr["AliasTarget"]
        target = (alias["DNSName"].rstrip("."), alias["HostedZoneId"], alias["EvaluateTargetHealth"])
        result[rr["SetIdentifier"]] = (policy, target, rr.get("HealthCheckId"))
    return result


def by_hand_zone(r53: Any, reference: str, name: str = ZONE_NAME) -> str:
    created = r53.create_hosted_zone(Name=name, CallerReference=reference, HostedZoneConfig={"PrivateZone": False})
    zone_id: str = created["HostedZone"]["Id"].split("/")[-1]
    return zone_id


def add_record(r53: Any, zone_id: str, name: str, record_type: str, value: str) -> None:
    record = {"Name": name, "Type": record_type, "TTL": 300, "ResourceRecords": [{"Value": value}]}
    r53.change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": record}]}
    )


class TestHostedZone:
    def test_a_zone_is_created_tagged_and_then_left_alone(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        outcome = converged(ctx, [zone_desired(workspace)])

        assert actions(outcome) == {ZONE: Action.CREATE}
        [zone] = zones(r53)
        zone_id = zone["Id"].split("/")[-1]
        assert zone["Config"] == {"Comment": "Cutlass dev", "PrivateZone": False}
        assert zone["CallerReference"] == f"{zone_reference_prefix(ctx.selector, ZONE, ZONE_NAME)}1"
        assert zone_tags(r53, zone_id) == route53_tags(zone_desired(workspace).tags)
        servers = r53.get_hosted_zone(Id=zone_id)["DelegationSet"]["NameServers"]
        assert outputs(outcome, ZONE) == {
            "id": zone_id,
            "name": "dev.example.com.",
            "nameServers": servers,
            "managed": True,
            "delegated": None,  # example.com. is not a zone of the account: no telling
        }
        calls.reset()

        # The same zone, named with its trailing dot this time.
        again = converged(ctx, [zone_desired(workspace, name="dev.example.com.")])

        assert again.plan.empty
        assert calls.mutating() == {}
        # The health check kind lists the account's checks too, looking for orphans (it has none here);
        # the second lookup by name is the parent's (example.com.), for the delegation.
        assert dict(calls.calls) == {
            "route53:ListHostedZonesByName": 2,
            "route53:ListTagsForResources": 1,
            "route53:GetHostedZone": 1,
            "route53:ListHealthChecks": 1,
        }

    def test_the_comment_of_an_operator_zone_is_updated_in_place(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        converged(ctx, [zone_desired(workspace)])
        calls.reset()

        outcome = converged(ctx, [zone_desired(workspace, comment="Cutlass dev API")])

        assert diff_paths(outcome, ZONE) == {"comment"}
        assert calls.mutating() == {"route53:UpdateHostedZoneComment": 1}
        assert [z["Config"].get("Comment") for z in zones(r53)] == ["Cutlass dev API"]

    def test_an_existing_zone_is_adopted_unchanged_and_never_deleted(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        zone_id = by_hand_zone(r53, "made-by-the-dns-team")
        add_record(r53, zone_id, f"www.{ZONE_NAME}", "A", "192.0.2.10")

        for create in (False, True):  # `create` allows a create; an existing zone is adopted either way
            calls.reset()
            outcome = converged(ctx, [zone_desired(workspace, create=create)])

            assert actions(outcome) == {ZONE: Action.NOOP}
            assert calls.mutating() == {}
            assert outputs(outcome, ZONE)["managed"] is False
            assert outputs(outcome, ZONE)["id"] == zone_id
            assert len(outputs(outcome, ZONE)["nameServers"]) == 4
        calls.reset()

        outcome = converged(ctx, [zone_desired(workspace)], destroy=True)

        assert actions(outcome) == {ZONE: Action.DELETE}
        assert calls.mutating() == {}
        assert [z["Id"].split("/")[-1] for z in zones(r53)] == [zone_id]
        assert zone_tags(r53, zone_id) == {}

    def test_a_missing_zone_that_may_not_be_created_is_a_terminal_error(
        self, ctx: KindContext, workspace: Workspace, r53: Any
    ) -> None:
        outcome = failed(ctx, [zone_desired(workspace, create=False)])

        assert outcome.result is not None
        error = outcome.result.errors[ZONE]
        assert isinstance(error, TerminalError)
        assert error.reason == "ZoneNotFound"
        assert "createZone" in error.message
        assert zones(r53) == []

    def test_two_public_zones_of_the_name_are_ambiguous(self, ctx: KindContext, workspace: Workspace, r53: Any) -> None:
        by_hand_zone(r53, "first")
        by_hand_zone(r53, "second")

        outcome = failed(ctx, [zone_desired(workspace)])

        assert outcome.result is not None
        assert outcome.result.errors[ZONE].reason == "ZoneAmbiguous"
        assert len(zones(r53)) == 2

    def test_a_zone_left_untagged_by_a_crashed_create_is_claimed_not_created_again(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        zone_id = by_hand_zone(r53, f"{zone_reference_prefix(ctx.selector, ZONE, ZONE_NAME)}1")

        outcome = converged(ctx, [zone_desired(workspace)])

        assert actions(outcome)[ZONE] == Action.UPDATE
        assert calls.mutating() == {"route53:ChangeTagsForResource": 1, "route53:UpdateHostedZoneComment": 1}
        assert outputs(outcome, ZONE)["managed"] is True
        assert [z["Id"].split("/")[-1] for z in zones(r53)] == [zone_id]
        assert zone_tags(r53, zone_id) == route53_tags(zone_desired(workspace).tags)

    def test_an_operator_zone_is_deleted_only_once_it_holds_nothing_but_soa_and_ns(
        self, ctx: KindContext, workspace: Workspace, r53: Any
    ) -> None:
        outcome = converged(ctx, [zone_desired(workspace)])
        zone_id = outputs(outcome, ZONE)["id"]
        add_record(r53, zone_id, f"mail.{ZONE_NAME}", "TXT", '"v=spf1 -all"')

        refused = failed(ctx, [zone_desired(workspace)], destroy=True)

        assert refused.result is not None
        error = refused.result.errors[ZONE]
        assert isinstance(error, RetryableError)
        assert error.reason == "ZoneNotEmpty"
        assert len(zones(r53)) == 1

        txt = next(rr for rr in record_sets(r53, zone_id, f"mail.{ZONE_NAME}") if rr["Type"] == "TXT")
        r53.change_resource_record_sets(
            HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": txt}]}
        )
        converged(ctx, [zone_desired(workspace)], destroy=True)

        assert zones(r53) == []

    def test_a_retained_zone_keeps_its_records_and_is_adopted_afterwards(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        zone_id = outputs(converged(ctx, [zone_desired(workspace)]), ZONE)["id"]

        outcome = converged(ctx, [zone_desired(workspace)], destroy=True, retain=True)

        assert actions(outcome) == {ZONE: Action.RETAIN}
        tags = zone_tags(r53, zone_id)
        assert tags["cutlass.tech/retained"] == "true"
        assert not {"cutlass.tech/managed-by", "cutlass.tech/key"} & set(tags)
        calls.reset()

        again = converged(ctx, [zone_desired(workspace)])

        assert actions(again) == {ZONE: Action.NOOP}
        assert outputs(again, ZONE) | {"nameServers": None} == {
            "id": zone_id,
            "name": "dev.example.com.",
            "nameServers": None,
            "managed": False,
            "delegated": None,
        }
        assert calls.mutating() == {}


class TestHealthCheck:
    def test_a_check_is_created_tagged_and_a_second_reconcile_writes_nothing(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        desired = check_desired(workspace)

        outcome = converged(ctx, [desired])

        assert actions(outcome) == {LONDON_CHECK: Action.CREATE}
        [check] = checks(r53).values()
        assert (
            check["CallerReference"]
            == f"{health_check_reference_prefix(ctx.selector, LONDON_CHECK, desired.properties)}1"
        )
        config = check["HealthCheckConfig"]
        assert {k: config.get(k) for k in ("Type", "FullyQualifiedDomainName", "Port", "ResourcePath")} == {
            "Type": "HTTPS",
            "FullyQualifiedDomainName": LONDON_DOMAIN,
            "Port": 443,
            "ResourcePath": "/dev/health",
        }
        assert (config["RequestInterval"], config["FailureThreshold"]) == (30, 3)
        assert (config["EnableSNI"], config["MeasureLatency"], config.get("Regions")) == (True, False, None)
        assert check_tags(r53, check["Id"]) == route53_tags(desired.tags)
        assert outputs(outcome, LONDON_CHECK) == {"id": check["Id"], "status": None}
        calls.reset()

        again = converged(ctx, [desired])

        assert again.plan.empty
        assert calls.mutating() == {}
        assert dict(calls.calls) == {"route53:ListHealthChecks": 1, "route53:ListTagsForResources": 1}

    def test_threshold_and_regions_change_in_place_and_the_regions_survive_later_updates(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        converged(ctx, [check_desired(workspace)])
        [check_id] = checks(r53)
        calls.reset()

        outcome = converged(ctx, [check_desired(workspace, failure_threshold=5, regions=CHECKER_REGIONS)])

        assert diff_paths(outcome, LONDON_CHECK) == {"failureThreshold", "regions"}
        assert calls.mutating() == {"route53:UpdateHealthCheck": 1}
        config = checks(r53)[check_id]["HealthCheckConfig"]
        assert (config["FailureThreshold"], sorted(config["Regions"])) == (5, sorted(CHECKER_REGIONS))

        outcome = converged(ctx, [check_desired(workspace, failure_threshold=2, regions=CHECKER_REGIONS)])

        assert diff_paths(outcome, LONDON_CHECK) == {"failureThreshold"}
        config = checks(r53)[check_id]["HealthCheckConfig"]
        assert (config["FailureThreshold"], sorted(config["Regions"])) == (2, sorted(CHECKER_REGIONS))
        assert converged(ctx, [check_desired(workspace, failure_threshold=2, regions=CHECKER_REGIONS)]).plan.empty

    def test_a_new_interval_makes_a_new_check_and_the_old_one_is_deleted(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        converged(ctx, [check_desired(workspace)])
        [old_id] = checks(r53)
        calls.reset()

        outcome = converged(ctx, [check_desired(workspace, request_interval=10)])

        assert actions(outcome) == {LONDON_CHECK: Action.CREATE, f"{LONDON_CHECK} (replaced {old_id})": Action.DELETE}
        assert calls.mutating() == {
            "route53:CreateHealthCheck": 1,
            "route53:ChangeTagsForResource": 1,
            "route53:DeleteHealthCheck": 1,
        }
        [(new_id, check)] = checks(r53).items()
        assert new_id != old_id
        assert check["HealthCheckConfig"]["RequestInterval"] == 10
        assert check_tags(r53, new_id)["cutlass.tech/key"] == LONDON_CHECK
        assert converged(ctx, [check_desired(workspace, request_interval=10)]).plan.empty

    def test_a_check_left_untagged_by_a_crashed_create_is_claimed(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        desired = check_desired(workspace)
        reference = f"{health_check_reference_prefix(ctx.selector, LONDON_CHECK, desired.properties)}1"
        config = {
            "Type": "HTTPS",
            "FullyQualifiedDomainName": LONDON_DOMAIN,
            "Port": 443,
            "ResourcePath": "/dev/health",
            "RequestInterval": 30,
            "FailureThreshold": 3,
            "EnableSNI": True,
        }
        check_id = r53.create_health_check(CallerReference=reference, HealthCheckConfig=config)["HealthCheck"]["Id"]

        outcome = converged(ctx, [desired])

        assert actions(outcome) == {LONDON_CHECK: Action.UPDATE}
        assert calls.mutating() == {"route53:ChangeTagsForResource": 1}
        assert list(checks(r53)) == [check_id]
        assert check_tags(r53, check_id) == route53_tags(desired.tags)

    def test_status_is_read_only_when_asked_for(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        converged(ctx, [check_desired(workspace)])
        calls.reset()

        outcome = converged(ctx, [check_desired(workspace)], read_status=True)

        assert outputs(outcome, LONDON_CHECK)["status"] == "Healthy"  # moto: one checker, always successful
        assert calls.calls["route53:GetHealthCheckStatus"] == 1

    def test_a_check_no_longer_desired_and_a_destroyed_one_are_deleted(
        self, ctx: KindContext, workspace: Workspace, r53: Any
    ) -> None:
        converged(ctx, [check_desired(workspace), check_desired(workspace, SYDNEY_CHECK, SYDNEY_DOMAIN)])
        assert len(checks(r53)) == 2

        outcome = converged(ctx, [check_desired(workspace)])

        assert actions(outcome)[SYDNEY_CHECK] == Action.DELETE
        [remaining] = checks(r53)
        assert check_tags(r53, remaining)["cutlass.tech/key"] == LONDON_CHECK

        converged(ctx, [check_desired(workspace)], destroy=True)

        assert checks(r53) == {}


class TestRecordSetGroup:
    def test_geolocation_records_are_created_in_one_batch_each_tied_to_its_health_check(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        outcome = converged(ctx, dns_stack(workspace, geolocation()))

        assert set(actions(outcome).values()) == {Action.CREATE}
        assert calls.calls["route53:ChangeResourceRecordSets"] == 1
        zone_id = outputs(outcome, ZONE)["id"]
        london, sydney = outputs(outcome, LONDON_CHECK)["id"], outputs(outcome, SYDNEY_CHECK)["id"]
        to_london, to_sydney = (LONDON_DOMAIN, "ZHURV8PSTC4K8", True), (SYDNEY_DOMAIN, "Z2RPCDW04V8134", True)
        assert routing(r53, zone_id) == {
            "cutlass-geo-europe": ({"ContinentCode": "EU"}, to_london, london),
            "cutlass-geo-oceania": ({"ContinentCode": "OC"}, to_sydney, sydney),
            "cutlass-geo-asia": ({"ContinentCode": "AS"}, to_sydney, sydney),
            "cutlass-geo-default": ({"CountryCode": "*"}, to_london, london),
        }
        group = outputs(outcome, RECORDS)
        assert (group["id"], group["records"]) == (f"{zone_id}/api-dev.dev.example.com.", 4)
        assert group["changeId"]
        calls.reset()

        again = converged(ctx, dns_stack(workspace, geolocation()))

        assert again.plan.empty
        assert calls.mutating() == {}
        # Zone 4 (with its parent's lookup), health checks 2, records 2 (the zone by its name, then the
        # records of the name).
        assert dict(calls.calls) == {
            "route53:ListHostedZonesByName": 3,
            "route53:ListTagsForResources": 2,
            "route53:GetHostedZone": 1,
            "route53:ListHealthChecks": 1,
            "route53:ListResourceRecordSets": 1,
        }

    def test_switching_policies_is_one_batch_each_and_leaves_exactly_the_new_records(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        first = converged(ctx, dns_stack(workspace, geolocation()))
        zone_id = outputs(first, ZONE)["id"]
        london, sydney = outputs(first, LONDON_CHECK)["id"], outputs(first, SYDNEY_CHECK)["id"]
        # Someone else's records, at the same name and at another: never touched.
        add_record(r53, zone_id, RECORD_NAME, "TXT", '"owner=platform"')
        add_record(r53, zone_id, f"www.{ZONE_NAME}", "A", "192.0.2.10")
        to_london, to_sydney = (LONDON_DOMAIN, "ZHURV8PSTC4K8", True), (SYDNEY_DOMAIN, "Z2RPCDW04V8134", True)
        calls.reset()

        outcome = converged(ctx, dns_stack(workspace, failover()))

        assert actions(outcome)[RECORDS] == Action.UPDATE
        assert {a for k, a in actions(outcome).items() if k != RECORDS} == {Action.NOOP}
        assert calls.mutating() == {"route53:ChangeResourceRecordSets": 1}
        assert routing(r53, zone_id) == {
            "cutlass-failover-london": ("PRIMARY", to_london, london),
            "cutlass-failover-sydney": ("SECONDARY", to_sydney, sydney),
        }
        assert outputs(outcome, RECORDS)["records"] == 2
        calls.reset()

        outcome = converged(ctx, dns_stack(workspace, latency()))

        assert calls.mutating() == {"route53:ChangeResourceRecordSets": 1}
        assert routing(r53, zone_id) == {
            "cutlass-latency-london": ("eu-west-2", to_london, london),
            "cutlass-latency-sydney": ("ap-southeast-2", to_sydney, sydney),
        }
        calls.reset()

        assert converged(ctx, dns_stack(workspace, latency())).plan.empty
        assert calls.mutating() == {}
        others = [(rr["Type"], rr.get("SetIdentifier")) for rr in record_sets(r53, zone_id)]
        assert sorted(others, key=str) == [
            ("A", "cutlass-latency-london"),
            ("A", "cutlass-latency-sydney"),
            ("TXT", None),
        ]
        assert [rr["Type"] for rr in record_sets(r53, zone_id, f"www.{ZONE_NAME}")] == ["A"]

    def test_a_record_of_ours_added_by_hand_is_removed_alone(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        first = converged(ctx, dns_stack(workspace, geolocation()))
        zone_id = outputs(first, ZONE)["id"]
        stray = {
            "Name": RECORD_NAME,
            "Type": "A",
            "SetIdentifier": "cutlass-geo-africa",
            "GeoLocation": {"ContinentCode": "AF"},
            "AliasTarget": {"DNSName": SYDNEY_DOMAIN, "HostedZoneId": "Z2RPCDW04V8134", "EvaluateTargetHealth": True},
        }
        r53.change_resource_record_sets(
            HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": stray}]}
        )
        calls.reset()

        outcome = converged(ctx, dns_stack(workspace, geolocation()))

        assert diff_paths(outcome, RECORDS) == {"records[A cutlass-geo-africa]"}
        assert calls.mutating() == {"route53:ChangeResourceRecordSets": 1}
        assert sorted(routing(r53, zone_id)) == [
            "cutlass-geo-asia",
            "cutlass-geo-default",
            "cutlass-geo-europe",
            "cutlass-geo-oceania",
        ]

    def test_a_scanned_zone_loses_the_owners_records_no_entry_wants_and_keeps_everyone_elses(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        scanning = {
            **kinds(),
            "route53.record_set_group": kind_for(
                RecordsScope(RecordSetGroupProps, name_prefix="cutlass-geo-", zones={ZONE_NAME: ZONE}), "dns/"
            ),
        }
        first = reconcile(scanning, dns_stack(workspace, geolocation()), ctx)
        assert first.result is not None and first.result.ok
        zone_id = outputs(first, ZONE)["id"]
        # Records of the same owner at another name (a name renamed since), and someone else's.
        for identifier, name in (("cutlass-geo-old", "old.dev.example.com"), ("cutlass-other-x", "x.dev.example.com")):
            stray = {
                "Name": name,
                "Type": "A",
                "SetIdentifier": identifier,
                "Region": "eu-west-2",
                "AliasTarget": {
                    "DNSName": LONDON_DOMAIN,
                    "HostedZoneId": "ZHURV8PSTC4K8",
                    "EvaluateTargetHealth": True,
                },
            }
            r53.change_resource_record_sets(
                HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": stray}]}
            )
        calls.reset()

        outcome = reconcile(scanning, dns_stack(workspace, geolocation()), ctx)

        assert outcome.result is not None and outcome.result.ok
        changed = {key: action for key, action in actions(outcome).items() if action != Action.NOOP}
        assert changed == {"dns/(untracked old.dev.example.com.)": Action.DELETE}
        assert calls.mutating() == {"route53:ChangeResourceRecordSets": 1}
        assert record_sets(r53, zone_id, "old.dev.example.com") == []
        assert [rr["SetIdentifier"] for rr in record_sets(r53, zone_id, "x.dev.example.com")] == ["cutlass-other-x"]
        assert len(record_sets(r53, zone_id)) == 4  # the wanted name keeps its four

    def test_a_replaced_health_check_is_deleted_after_the_records_move_to_the_new_one(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        first = converged(ctx, dns_stack(workspace, failover()))
        zone_id, old = outputs(first, ZONE)["id"], outputs(first, LONDON_CHECK)["id"]
        calls.reset()

        outcome = converged(ctx, dns_stack(workspace, failover(), request_interval=10))

        assert actions(outcome)[LONDON_CHECK] == Action.CREATE
        assert actions(outcome)[RECORDS] == Action.UPDATE
        assert actions(outcome)[f"{LONDON_CHECK} (replaced {old})"] == Action.DELETE
        assert calls.calls["route53:ChangeResourceRecordSets"] == 1
        new = outputs(outcome, LONDON_CHECK)["id"]
        assert routing(r53, zone_id)["cutlass-failover-london"][2] == new
        assert old not in checks(r53)
        assert converged(ctx, dns_stack(workspace, failover(), request_interval=10)).plan.empty

    def test_a_literal_zone_id_needs_no_zone_lookup(
        self, ctx: KindContext, workspace: Workspace, r53: Any, calls: CallLog
    ) -> None:
        zone_id = by_hand_zone(r53, "made-by-the-dns-team")
        records = [Record(set_identifier="cutlass-only", type="A", alias=LONDON, region="eu-west-2")]
        converged(ctx, [records_desired(records, zone=f"/hostedzone/{zone_id}")])
        assert list(routing(r53, zone_id)) == ["cutlass-only"]
        calls.reset()

        assert converged(ctx, [records_desired(records, zone=zone_id)]).plan.empty
        assert dict(calls.calls) == {"route53:ListResourceRecordSets": 1, "route53:ListHealthChecks": 1}

    def test_a_zone_reference_without_the_zone_name_is_a_layer_bug(
        self, ctx: KindContext, workspace: Workspace
    ) -> None:
        desired = records_desired(latency())
        stack = [*dns_stack(workspace, latency())[:3], replace(desired, props=replace(desired.props, zone_name=None))]

        with pytest.raises(ValueError, match="zoneName"):
            reconcile(kinds(), stack, ctx)

    def test_destroy_deletes_records_then_checks_then_the_zone(
        self, ctx: KindContext, workspace: Workspace, r53: Any
    ) -> None:
        converged(ctx, dns_stack(workspace, geolocation()))

        outcome = converged(ctx, dns_stack(workspace, geolocation()), destroy=True)

        assert set(actions(outcome).values()) == {Action.DELETE}
        assert zones(r53) == []
        assert checks(r53) == {}

    def test_destroy_keeps_a_zone_holding_someone_elses_record(
        self, ctx: KindContext, workspace: Workspace, r53: Any
    ) -> None:
        first = converged(ctx, dns_stack(workspace, geolocation()))
        zone_id = outputs(first, ZONE)["id"]
        add_record(r53, zone_id, RECORD_NAME, "TXT", '"owner=platform"')

        outcome = failed(ctx, dns_stack(workspace, geolocation()), destroy=True)

        assert outcome.result is not None
        assert {k: e.reason for k, e in outcome.result.errors.items()} == {ZONE: "ZoneNotEmpty"}
        assert routing(r53, zone_id) == {}
        assert [rr["Type"] for rr in record_sets(r53, zone_id)] == ["TXT"]
        assert checks(r53) == {}
