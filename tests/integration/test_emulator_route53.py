"""The emulator's Route 53 record changes and caller references, over HTTP as the product sees them.

moto judges ChangeResourceRecordSets by the zone's change history, deletes by set identifier alone and
ignores CallerReference; `emulator/route53_gaps.py` fills the gaps. These tests hold that extension to
AWS's behaviour: a record is its name, type and set identifier; a batch is judged change by change
against the zone's current records and applied whole or not at all; a caller reference makes one zone
or health check of the account, ever.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cutlass_operator.api.environment import Credentials, CredentialsSource
from cutlass_operator.aws.session import AwsClients, environment_session
from cutlass_operator.emulator.route53_gaps import install_route53_gaps

pytestmark = pytest.mark.integration

ZONE = "example.com."
WWW = f"www.{ZONE}"
API = f"api.{ZONE}"
# API Gateway regional domains and their regional hosted zone ids (moto does not check alias targets).
LONDON_API = ("d-abc123.execute-api.eu-west-2.amazonaws.com.", "ZHURV8PSTC4K8")
SYDNEY_API = ("d-def456.execute-api.ap-southeast-2.amazonaws.com.", "Z2RPCDW04V8134")
# A record sorting after every other: moto's history check refused a CREATE while any record did.
LAST = {"Name": f"zz.{ZONE}", "Type": "TXT", "TTL": 300, "ResourceRecords": [{"Value": '"last"'}]}
CHECK = {
    "Type": "HTTPS",
    "FullyQualifiedDomainName": LONDON_API[0].rstrip("."),
    "Port": 443,
    "ResourcePath": "/dev/health",
    "RequestInterval": 30,
    "FailureThreshold": 3,
    "EnableSNI": True,
    "Regions": ["us-east-1", "eu-west-1", "ap-southeast-1"],
}


@pytest.fixture
def r53(clients: AwsClients) -> Any:
    return clients.client("route53")


@pytest.fixture
def zone(r53: Any) -> str:
    created = r53.create_hosted_zone(Name=ZONE, CallerReference=reference())
    zone_id: str = created["HostedZone"]["Id"].split("/")[-1]
    change(r53, zone_id, ("CREATE", LAST))
    return zone_id


@pytest.fixture
def checks(r53: Any) -> tuple[str, str]:
    """A health check per region, as the records name them."""
    london = r53.create_health_check(CallerReference=reference(), HealthCheckConfig=CHECK)["HealthCheck"]["Id"]
    sydney_config = {**CHECK, "FullyQualifiedDomainName": SYDNEY_API[0].rstrip(".")}
    sydney = r53.create_health_check(CallerReference=reference(), HealthCheckConfig=sydney_config)["HealthCheck"]["Id"]
    return london, sydney


@pytest.fixture
def other_account(account_id: str) -> Iterator[AwsClients]:
    """A second fresh account (moto isolates accounts by the assumed role's account)."""
    creds = Credentials(source=CredentialsSource.ASSUME_ROLE, role_arn=f"arn:aws:iam::9{account_id[1:]}:role/x")
    yield AwsClients(environment_session(creds, None, "eu-west-2"), "eu-west-2")


def reference() -> str:
    return f"test-{uuid.uuid4().hex}"


def routed(set_identifier: str, target: tuple[str, str], check: str, **routing: Any) -> dict[str, Any]:
    """An alias record of www with a routing policy, the shape the record set group kind writes."""
    return {
        "Name": WWW,
        "Type": "A",
        "SetIdentifier": set_identifier,
        "AliasTarget": {"DNSName": target[0], "HostedZoneId": target[1], "EvaluateTargetHealth": True},
        "HealthCheckId": check,
        **routing,
    }


def geolocation(checks: tuple[str, str]) -> list[dict[str, Any]]:
    london, sydney = checks
    return [
        routed("cutlass-geo-europe", LONDON_API, london, GeoLocation={"ContinentCode": "EU"}),
        routed("cutlass-geo-oceania", SYDNEY_API, sydney, GeoLocation={"ContinentCode": "OC"}),
        routed("cutlass-geo-default", LONDON_API, london, GeoLocation={"CountryCode": "*"}),
    ]


def failover(checks: tuple[str, str]) -> list[dict[str, Any]]:
    london, sydney = checks
    return [
        routed("cutlass-failover-london", LONDON_API, london, Failover="PRIMARY"),
        routed("cutlass-failover-sydney", SYDNEY_API, sydney, Failover="SECONDARY"),
    ]


def latency(checks: tuple[str, str]) -> list[dict[str, Any]]:
    london, sydney = checks
    return [
        routed("cutlass-latency-london", LONDON_API, london, Region="eu-west-2"),
        routed("cutlass-latency-sydney", SYDNEY_API, sydney, Region="ap-southeast-2"),
    ]


def simple(name: str, *values: str, ttl: int = 300, record_type: str = "A") -> dict[str, Any]:
    return {"Name": name, "Type": record_type, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}


def change(r53: Any, zone_id: str, *changes: tuple[str, dict[str, Any]]) -> None:
    batch = {"Changes": [{"Action": action, "ResourceRecordSet": rrset} for action, rrset in changes]}
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch=batch)


def switch(r53: Any, zone_id: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    """One batch replacing a name's records, as the record set group kind changes a routing policy."""
    change(r53, zone_id, *[("DELETE", rr) for rr in old], *[("CREATE", rr) for rr in new])


def records(r53: Any, zone_id: str) -> list[dict[str, Any]]:
    """Every record of the zone but its SOA and NS, in one order."""
    listed = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    kept = [rr for rr in listed if rr["Type"] not in ("SOA", "NS")]
    return sorted(kept, key=lambda rr: (rr["Name"], rr["Type"], rr.get("SetIdentifier", "")))


def in_order(*rrsets: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(rrsets, key=lambda rr: (rr["Name"], rr["Type"], rr.get("SetIdentifier", "")))


def rejected(call: Any, code: str, message: str, status: int = 400) -> None:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == code
    assert message in caught.value.response["Error"]["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


# --- CREATE: a record the zone does not hold now ---------------------------------------------------


def test_routing_can_switch_back_to_records_the_zone_had_before(r53: Any, zone: str, checks: tuple[str, str]) -> None:
    change(r53, zone, *[("CREATE", rr) for rr in geolocation(checks)])
    switch(r53, zone, geolocation(checks), failover(checks))
    switch(r53, zone, failover(checks), latency(checks))

    switch(r53, zone, latency(checks), failover(checks))  # reverting a DNS change
    switch(r53, zone, failover(checks), geolocation(checks))

    assert records(r53, zone) == in_order(*geolocation(checks), LAST)


def test_a_record_deleted_by_hand_can_be_put_back(r53: Any, zone: str) -> None:
    app = simple(f"app.{ZONE}", "192.0.2.10")
    change(r53, zone, ("CREATE", app))
    change(r53, zone, ("DELETE", app))

    change(r53, zone, ("CREATE", app))

    assert records(r53, zone) == in_order(app, LAST)


@pytest.mark.parametrize(
    "again",
    [
        pytest.param({}, id="same values"),
        pytest.param({"GeoLocation": {"ContinentCode": "AF"}}, id="other routing"),
        pytest.param({"Name": "WWW.Example.COM"}, id="name in other case without its dot"),
    ],
)
def test_a_create_of_a_record_the_zone_holds_is_refused_whatever_its_values(
    r53: Any, zone: str, checks: tuple[str, str], again: dict[str, Any]
) -> None:
    europe = geolocation(checks)[0]
    change(r53, zone, ("CREATE", europe))

    created = {**europe, **again}
    named = f"[name='{created['Name'].rstrip('.')}.', type='A', set-identifier='cutlass-geo-europe']"

    rejected(
        lambda: change(r53, zone, ("CREATE", created)),
        "InvalidChangeBatch",
        f"Tried to create resource record set {named} but it already exists",
    )
    assert records(r53, zone) == in_order(europe, LAST)


def test_an_upsert_replaces_the_record_of_its_name_type_and_set_identifier(
    r53: Any, zone: str, checks: tuple[str, str]
) -> None:
    europe, oceania, _ = geolocation(checks)
    change(r53, zone, ("CREATE", europe), ("CREATE", oceania))
    moved = {**europe, "AliasTarget": {**europe["AliasTarget"], "EvaluateTargetHealth": False}}

    change(r53, zone, ("UPSERT", moved))

    assert records(r53, zone) == in_order(moved, oceania, LAST)


# --- a batch is judged change by change, and applied whole or not at all ----------------------------


def test_a_delete_then_create_of_one_record_in_a_batch_replaces_it(r53: Any, zone: str) -> None:
    old, new = simple(f"app.{ZONE}", "192.0.2.10"), simple(f"app.{ZONE}", "192.0.2.20", ttl=60)
    change(r53, zone, ("CREATE", old))

    change(r53, zone, ("DELETE", old), ("CREATE", new))

    assert records(r53, zone) == in_order(new, LAST)


@pytest.mark.parametrize(
    ("refused", "code", "message"),
    [
        pytest.param(
            ("CREATE", simple("app.example.org.", "192.0.2.30")),
            "InvalidChangeBatch",
            "is not permitted in zone example.com.",
            id="a name outside the zone",
        ),
        pytest.param(
            ("CREATE", simple(f"new.{ZONE}", "192.0.2.31")),
            "InvalidChangeBatch",
            f"Tried to create resource record set [name='new.{ZONE}', type='A'] but it already exists",
            id="a record the batch already created",
        ),
        pytest.param(
            ("DELETE", simple(f"gone.{ZONE}", "192.0.2.32")),
            "InvalidChangeBatch",
            f"Tried to delete resource record set [name='gone.{ZONE}', type='A'] but it was not found",
            id="a delete of a record not there",
        ),
    ],
)
def test_a_batch_with_a_refused_change_applies_nothing(
    r53: Any, zone: str, refused: tuple[str, dict[str, Any]], code: str, message: str
) -> None:
    kept = simple(f"app.{ZONE}", "192.0.2.10")
    change(r53, zone, ("CREATE", kept))
    before = records(r53, zone)

    rejected(
        lambda: change(r53, zone, ("DELETE", kept), ("CREATE", simple(f"new.{ZONE}", "192.0.2.20")), refused),
        code,
        message,
    )

    assert records(r53, zone) == before


# --- DELETE: the one record of its name, type and set identifier, with its values -----------------


def test_a_delete_removes_only_the_record_of_its_name_type_and_set_identifier(
    r53: Any, zone: str, checks: tuple[str, str]
) -> None:
    europe = geolocation(checks)[0]
    europe_v6 = {**europe, "Type": "AAAA"}
    api_europe = {**europe, "Name": API}
    change(r53, zone, ("CREATE", europe), ("CREATE", europe_v6), ("CREATE", api_europe))
    [listed] = [rr for rr in records(r53, zone) if rr["Name"] == WWW and rr["Type"] == "A"]

    change(r53, zone, ("DELETE", listed))  # the record as listed, as the record set group kind deletes

    assert records(r53, zone) == in_order(europe_v6, api_europe, LAST)


@pytest.mark.parametrize(
    ("deleted", "named"),
    [
        pytest.param({}, "type='A', set-identifier='cutlass-geo-europe'", id="deleted already"),
        pytest.param(
            {"SetIdentifier": "cutlass-geo-asia"}, "type='A', set-identifier='cutlass-geo-asia'", id="other identifier"
        ),
        pytest.param({"SetIdentifier": None, "GeoLocation": None}, "type='A'", id="no identifier"),
        pytest.param({"Type": "AAAA"}, "type='AAAA', set-identifier='cutlass-geo-europe'", id="other type"),
    ],
)
def test_a_delete_of_a_record_the_zone_does_not_hold_is_refused(
    r53: Any, zone: str, checks: tuple[str, str], deleted: dict[str, Any], named: str
) -> None:
    europe, oceania, _ = geolocation(checks)
    change(r53, zone, ("CREATE", europe), ("CREATE", oceania))
    if not deleted:
        change(r53, zone, ("DELETE", europe))
    target = {k: v for k, v in {**europe, **deleted}.items() if v is not None}
    before = records(r53, zone)

    rejected(
        lambda: change(r53, zone, ("DELETE", target)),
        "InvalidChangeBatch",
        f"Tried to delete resource record set [name='{WWW}', {named}] but it was not found",
    )

    assert records(r53, zone) == before


@pytest.mark.parametrize(
    "stale",
    [
        pytest.param({"AliasTarget": {"DNSName": SYDNEY_API[0], "HostedZoneId": SYDNEY_API[1]}}, id="alias target"),
        pytest.param({"AliasTarget": {"EvaluateTargetHealth": False}}, id="evaluate target health"),
        pytest.param({"HealthCheckId": "0b7c5a6e-0000-4000-8000-000000000000"}, id="health check"),
        pytest.param({"GeoLocation": {"CountryCode": "GB"}}, id="routing"),
    ],
)
def test_a_delete_with_other_values_than_the_records_is_refused(
    r53: Any, zone: str, checks: tuple[str, str], stale: dict[str, Any]
) -> None:
    europe = geolocation(checks)[0]
    change(r53, zone, ("CREATE", europe))
    target = {**europe, **stale}
    if "AliasTarget" in stale:
        target["AliasTarget"] = {**europe["AliasTarget"], **stale["AliasTarget"]}

    rejected(
        lambda: change(r53, zone, ("DELETE", target)),
        "InvalidChangeBatch",
        "set-identifier='cutlass-geo-europe'] but the values provided do not match the current values",
    )

    assert records(r53, zone) == in_order(europe, LAST)


@pytest.mark.parametrize(
    "stale",
    [pytest.param({"TTL": 60}, id="ttl"), pytest.param({"ResourceRecords": [{"Value": "192.0.2.99"}]}, id="values")],
)
def test_a_delete_of_a_simple_record_with_other_values_is_refused(r53: Any, zone: str, stale: dict[str, Any]) -> None:
    app = simple(f"app.{ZONE}", "192.0.2.10")
    change(r53, zone, ("CREATE", app))

    rejected(
        lambda: change(r53, zone, ("DELETE", {**app, **stale})),
        "InvalidChangeBatch",
        f"[name='app.{ZONE}', type='A'] but the values provided do not match the current values",
    )

    assert records(r53, zone) == in_order(app, LAST)


def test_a_delete_may_list_values_in_any_order_and_an_alias_name_without_its_dot(
    r53: Any, zone: str, checks: tuple[str, str]
) -> None:
    app = simple(f"app.{ZONE}", "192.0.2.10", "192.0.2.11")
    europe = geolocation(checks)[0]
    change(r53, zone, ("CREATE", app), ("CREATE", europe))
    undotted = {**europe["AliasTarget"], "DNSName": LONDON_API[0].rstrip(".").upper()}

    change(
        r53,
        zone,
        ("DELETE", simple("APP.example.com", "192.0.2.11", "192.0.2.10")),
        ("DELETE", {**europe, "AliasTarget": undotted}),
    )

    assert records(r53, zone) == [LAST]


# --- CallerReference: one zone or health check of the account, ever --------------------------------


def test_a_health_check_created_again_with_its_reference_and_settings_is_the_same_check(r53: Any) -> None:
    used = reference()
    first = r53.create_health_check(CallerReference=used, HealthCheckConfig=CHECK)["HealthCheck"]

    again = r53.create_health_check(CallerReference=used, HealthCheckConfig=CHECK)["HealthCheck"]

    assert again["Id"] == first["Id"]
    assert [c["Id"] for c in r53.list_health_checks()["HealthChecks"]] == [first["Id"]]


def test_a_health_check_reference_with_other_settings_is_refused(r53: Any) -> None:
    used = reference()
    first = r53.create_health_check(CallerReference=used, HealthCheckConfig=CHECK)["HealthCheck"]

    rejected(
        lambda: r53.create_health_check(CallerReference=used, HealthCheckConfig={**CHECK, "FailureThreshold": 5}),
        "HealthCheckAlreadyExists",
        used,
        status=409,
    )

    assert [c["Id"] for c in r53.list_health_checks()["HealthChecks"]] == [first["Id"]]


def test_the_reference_of_a_deleted_health_check_is_refused(r53: Any) -> None:
    used = reference()
    first = r53.create_health_check(CallerReference=used, HealthCheckConfig=CHECK)["HealthCheck"]
    r53.delete_health_check(HealthCheckId=first["Id"])

    rejected(
        lambda: r53.create_health_check(CallerReference=used, HealthCheckConfig=CHECK),
        "HealthCheckAlreadyExists",
        "deleted",
        status=409,
    )

    assert r53.list_health_checks()["HealthChecks"] == []


def test_a_zone_reference_makes_one_zone(r53: Any) -> None:
    used = reference()
    first = r53.create_hosted_zone(Name=ZONE, CallerReference=used)["HostedZone"]

    rejected(
        lambda: r53.create_hosted_zone(Name=ZONE, CallerReference=used),
        "HostedZoneAlreadyExists",
        "A hosted zone has already been created with the specified caller reference.",
        status=409,
    )

    assert [z["Id"] for z in r53.list_hosted_zones()["HostedZones"]] == [first["Id"]]


def test_the_reference_of_a_deleted_zone_is_refused(r53: Any) -> None:
    used = reference()
    first = r53.create_hosted_zone(Name=ZONE, CallerReference=used)["HostedZone"]
    r53.delete_hosted_zone(Id=first["Id"])

    rejected(
        lambda: r53.create_hosted_zone(Name=ZONE, CallerReference=used),
        "HostedZoneAlreadyExists",
        "caller reference",
        status=409,
    )

    assert r53.list_hosted_zones()["HostedZones"] == []


def test_another_account_may_use_the_same_references(r53: Any, other_account: AwsClients) -> None:
    zone_reference, check_reference = reference(), reference()
    r53.create_hosted_zone(Name=ZONE, CallerReference=zone_reference)
    r53.create_health_check(CallerReference=check_reference, HealthCheckConfig=CHECK)
    theirs = other_account.client("route53")

    theirs.create_hosted_zone(Name=ZONE, CallerReference=zone_reference)
    theirs.create_health_check(CallerReference=check_reference, HealthCheckConfig={**CHECK, "FailureThreshold": 5})

    assert len(theirs.list_hosted_zones()["HostedZones"]) == 1
    assert len(theirs.list_health_checks()["HealthChecks"]) == 1


def test_installing_twice_changes_nothing(r53: Any, zone: str) -> None:
    install_route53_gaps()
    app = simple(f"app.{ZONE}", "192.0.2.10")
    change(r53, zone, ("CREATE", app))
    change(r53, zone, ("DELETE", app))

    change(r53, zone, ("CREATE", app))

    assert records(r53, zone) == in_order(app, LAST)
