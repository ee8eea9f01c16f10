"""The environment's DNS against the moto server: manifests/dev converged (`cutlass apply -f`), then
its zone, health checks and records read back with boto3; the routing policy switched (one
`ChangeResourceRecordSets` each time, nothing but the new policy's records left); a region taken out
of routing before it goes; and a no-op resync that writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cutlass_operator.api.environment import CutlassEnvironment, EnvironmentStatus
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.layers.base import RegionRef
from cutlass_operator.offline import OfflineRun
from cutlass_operator.workflows.environment import apply_environment_report, run_environment
from cutlass_operator.workflows.manifests import ManifestSet
from cutlass_operator.workflows.report import Mode, Report

from .accounts import converged_dev, in_account, operator_session

pytestmark = pytest.mark.integration

ACCOUNT = "400000000011"  # outside conftest's range: the module's shared converged account
ZONE = "dev.cutlass.example.com."
NAME = "api.dev.cutlass.example.com."
GEOLOCATION = {
    "cutlass-dev/default": "london",
    "cutlass-dev/london-continent-eu": "london",
    "cutlass-dev/sydney-continent-oc": "sydney",
    "cutlass-dev/sydney-continent-as": "sydney",
}


@dataclass
class Dev:
    account: str
    manifests: ManifestSet
    run: OfflineRun

    @property
    def env(self) -> CutlassEnvironment:
        return self.manifests.environments[0]

    def refs(self, *names: str) -> list[RegionRef]:
        """The live regions as the operator hands them to the environment (all by default)."""
        return [r for r in self.run._refs(list(self.manifests.regions)) if not names or r.name in names]

    def api(self, region: str) -> dict[str, Any]:
        report = self.run.reports[f"CutlassRegion/dev-{region}"]
        return next(lr.outputs for lr in report.layers if lr.layer == "api")

    def with_policy(self, policy: str) -> CutlassEnvironment:
        domain = self.env.spec.domain
        assert domain is not None
        routing = domain.routing.model_copy(update={"policy": policy})
        spec = self.env.spec.model_copy(update={"domain": domain.model_copy(update={"routing": routing})})
        return self.env.model_copy(update={"spec": spec})

    def reconcile(self, env: CutlassEnvironment, regions: list[RegionRef], calls: CallLog | None = None) -> Report:
        report = run_environment(env, regions=regions, mode=Mode.APPLY, calls=calls)
        assert report.ok, report.render()
        return report

    # -- what Route 53 holds --------------------------------------------------------------------------

    @property
    def r53(self) -> Any:
        return operator_session(self.account, "eu-west-2").client("route53")

    def zone_id(self) -> str:
        zones = [z for z in self.r53.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"] if z["Name"] == ZONE]
        assert len(zones) == 1, zones
        return str(zones[0]["Id"]).rsplit("/", 1)[-1]

    def records(self, name: str = NAME) -> dict[str, dict[str, Any]]:
        listed = self.r53.list_resource_record_sets(HostedZoneId=self.zone_id())["ResourceRecordSets"]
        return {rr["SetIdentifier"]: rr for rr in listed if rr["Name"] == name and "SetIdentifier" in rr}

    def health_checks(self) -> dict[str, dict[str, Any]]:
        """The account's checks by their Name tag."""
        checks = self.r53.list_health_checks()["HealthChecks"]
        tagged = {}
        for check in checks:
            tags = self.r53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=check["Id"])
            names = [t["Value"] for t in tags["ResourceTagSet"]["Tags"] if t["Key"] == "Name"]
            tagged[names[0] if names else check["Id"]] = check
        return tagged


def converge(account: str) -> Dev:
    manifests, run = converged_dev(account)
    return Dev(account, manifests, run)


@pytest.fixture(scope="module")
def dev(moto_endpoint: str) -> Iterator[Dev]:
    yield converge(ACCOUNT)


def test_the_zone_is_created_and_its_delegation_is_in_status(dev: Dev) -> None:
    zone = dev.r53.get_hosted_zone(Id=dev.zone_id())
    assert zone["HostedZone"]["Config"]["PrivateZone"] is False
    status = dev.run.statuses["CutlassEnvironment/dev"]["status"]
    dns = status["dns"]
    assert dns["zoneId"] == dev.zone_id()
    assert dns["nameServers"] == zone["DelegationSet"]["NameServers"] and dns["nameServers"]
    assert dns["delegation"].startswith("Required:") and dns["nameServers"][0] in dns["delegation"]
    assert (dns["recordName"], dns["policy"]) == ("api.dev.cutlass.example.com", "geolocation")
    ready = next(c for c in status["conditions"] if c["type"] == "DnsReady")
    assert ready["status"] == "True", ready


def test_geolocation_records_alias_each_regions_routed_domain_with_its_health_check(dev: Dev) -> None:
    records = dev.records()
    assert set(records) == set(GEOLOCATION)
    checks = dev.health_checks()
    for identifier, region in GEOLOCATION.items():
        record = records[identifier]
        target = dev.api(region)["routedDomain"]
        assert record["Type"] == "A"
        assert record["AliasTarget"]["DNSName"].rstrip(".") == target["regionalDomainName"].rstrip(".")
        assert record["AliasTarget"]["HostedZoneId"] == target["regionalHostedZoneId"]
        assert record["AliasTarget"]["EvaluateTargetHealth"] is True
        assert record["HealthCheckId"] == checks[f"cutlass-tech-health-dev-{region}"]["Id"]
    assert records["cutlass-dev/default"]["GeoLocation"] == {"CountryCode": "*"}
    assert records["cutlass-dev/sydney-continent-as"]["GeoLocation"] == {"ContinentCode": "AS"}


def test_each_region_has_an_https_check_on_its_health_route(dev: Dev) -> None:
    checks = dev.health_checks()
    assert set(checks) == {"cutlass-tech-health-dev-london", "cutlass-tech-health-dev-sydney"}
    for region in ("london", "sydney"):
        config = checks[f"cutlass-tech-health-dev-{region}"]["HealthCheckConfig"]
        invoke_url = dev.api(region)["invokeUrl"]
        assert config["Type"] == "HTTPS"
        assert f"https://{config['FullyQualifiedDomainName']}/dev" == invoke_url.rstrip("/")
        assert config["ResourcePath"] == "/dev/health"
        assert (config["RequestInterval"], config["FailureThreshold"]) == (30, 3)
    status = dev.run.statuses["CutlassEnvironment/dev"]["status"]["dns"]
    assert [(r["region"], r["healthCheckId"]) for r in status["regions"]] == [
        (region, checks[f"cutlass-tech-health-dev-{region}"]["Id"]) for region in ("london", "sydney")
    ]
    assert status["routedRegions"] == ["london", "sydney"]


def test_each_regions_own_name_points_at_that_region_alone(dev: Dev) -> None:
    for region in ("london", "sydney"):
        own = dev.records(f"api-{region}.dev.cutlass.example.com.")
        assert list(own) == [f"cutlass-dev/{region}-own"]
        target = dev.api(region)["customDomain"]["regionalDomainName"]
        assert own[f"cutlass-dev/{region}-own"]["AliasTarget"]["DNSName"].rstrip(".") == target.rstrip(".")


def test_a_no_op_resync_of_dns_writes_nothing(dev: Dev) -> None:
    calls = CallLog()
    report = dev.reconcile(dev.env, dev.refs(), calls)
    assert all(lr.plan.empty for lr in report.layers), report.render()
    assert calls.mutating() == {}
    route53 = {op: n for op, n in calls.calls.items() if op.startswith("route53:")}
    # The zone (by name, its tags and name servers, and its parent by name for the delegation: 4), the
    # checks (list, tags, and each one's status: 4), the records: the zone found by name once more, then
    # listed whole (2).
    assert sum(route53.values()) == 10, route53
    # Each resync reads what Route 53's checkers last saw (moto's checker always succeeds).
    status = EnvironmentStatus()
    apply_environment_report(status, report, 1, dev.refs(), dev.env.spec.domain)
    assert status.dns is not None
    assert [(r.region, r.health) for r in status.dns.regions] == [("london", "Healthy"), ("sydney", "Healthy")]
    assert [(r.region, r.serves) for r in status.dns.regions] == [
        ("london", ["EU", "default"]),
        ("sydney", ["AS", "OC"]),
    ]


def test_switching_policy_replaces_the_records_in_one_batch_each(moto_endpoint: str) -> None:
    dev = converge("400000000012")
    for policy, expected in (
        ("failover", {"cutlass-dev/london-primary": "PRIMARY", "cutlass-dev/sydney-secondary": "SECONDARY"}),
        ("latency", {"cutlass-dev/london": "eu-west-2", "cutlass-dev/sydney": "ap-southeast-2"}),
    ):
        calls = CallLog()
        dev.reconcile(dev.with_policy(policy), dev.refs(), calls)
        assert calls.calls["route53:ChangeResourceRecordSets"] == 1, (policy, calls.mutating())
        route53 = {op for op in calls.mutating() if op.startswith("route53:")}
        assert route53 == {"route53:ChangeResourceRecordSets"}, calls.mutating()  # no check or zone changes
        records = dev.records()
        assert {sid: rr.get("Failover", rr.get("Region")) for sid, rr in records.items()} == expected
        assert all(rr["HealthCheckId"] for rr in records.values())


def test_a_deleting_region_leaves_the_records_and_its_check_goes_before_its_api(moto_endpoint: str) -> None:
    dev = converge("400000000013")
    status = dev.run.statuses["CutlassEnvironment/dev"]["status"]
    before = EnvironmentStatus.model_validate(status)
    # What the operator hands the environment once dev-sydney is deleting: London alone.
    report = dev.reconcile(dev.env, dev.refs("london"))
    apply_environment_report(before, report, 1, dev.refs("london"), dev.env.spec.domain)
    assert set(dev.records()) == {"cutlass-dev/default", "cutlass-dev/london-continent-eu"}
    assert dev.records("api-sydney.dev.cutlass.example.com.") == {}
    assert set(dev.health_checks()) == {"cutlass-tech-health-dev-london"}
    assert before.dns is not None and before.dns.routed_regions == ["london"]
    # Sydney's API is still there, and only now may its region tear it down.
    apigateway = operator_session(dev.account, "ap-southeast-2").client("apigateway")
    names = {d["domainName"] for d in apigateway.get_domain_names()["items"]}
    assert "api.dev.cutlass.example.com" in names


def test_a_region_not_ready_is_not_routed_and_the_condition_names_it(moto_endpoint: str) -> None:
    dev = converge("400000000014")
    london, sydney = dev.refs("london")[0], dev.refs("sydney")[0]
    pending = RegionRef(sydney.name, sydney.aws_region, None, "dev-sydney is not Ready yet")
    report = run_environment(dev.env, regions=[london, pending], mode=Mode.APPLY)
    error = report.first_error
    assert error is not None and error.reason == "WaitingForRegions"
    assert "sydney (dev-sydney is not Ready yet)" in error.message
    assert set(dev.records()) == {"cutlass-dev/default", "cutlass-dev/london-continent-eu"}


def test_a_parent_zone_in_the_account_that_delegates_confirms_the_delegation(moto_endpoint: str) -> None:
    dev = converge("400000000015")
    servers = dev.r53.get_hosted_zone(Id=dev.zone_id())["DelegationSet"]["NameServers"]
    parent = dev.r53.create_hosted_zone(Name="cutlass.example.com", CallerReference="parent-of-dev")["HostedZone"]

    def delegation() -> str | None:
        status = EnvironmentStatus()
        apply_environment_report(status, dev.reconcile(dev.env, dev.refs()), 1, dev.refs(), dev.env.spec.domain)
        assert status.dns is not None
        return status.dns.delegation

    assert str(delegation()).startswith("Required: the operator created dev.cutlass.example.com.; add NS records")
    dev.r53.change_resource_record_sets(
        HostedZoneId=parent["Id"],
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": ZONE,
                        "Type": "NS",
                        "TTL": 172800,
                        "ResourceRecords": [{"Value": server} for server in servers],
                    },
                }
            ]
        },
    )
    assert str(delegation()).startswith("Confirmed: the parent zone in this account delegates dev.cutlass.example.com.")


def test_a_routed_region_that_fails_its_checks_keeps_its_records_through_cutlass_apply(moto_endpoint: str) -> None:
    dev = converge("400000000016")
    records, own, checks = dev.records(), dev.records("api-sydney.dev.cutlass.example.com."), dev.health_checks()
    # A typo in Sydney: a certificate of another account, refused before the region writes anything.
    broken = in_account(dev.manifests, dev.account)
    sydney = next(r for r in broken.regions if r.spec.region == "sydney")
    wrong = sydney.spec.api.model_copy(
        update={"certificate_arn": f"{sydney.spec.api.certificate_arn}".replace(dev.account, "999999999999")}
    )
    broken.regions[broken.regions.index(sydney)] = sydney.model_copy(
        update={"spec": sydney.spec.model_copy(update={"api": wrong})}
    )
    calls = CallLog()
    run = OfflineRun(broken, Mode.APPLY, echo=lambda _: None, calls=calls)
    assert not run.run()
    error = run.reports["CutlassRegion/dev-sydney"].first_error
    assert error is not None and error.reason == "CertificateInWrongAccount"
    assert not [op for op in calls.mutating() if op.startswith("route53:")], calls.mutating()
    assert (dev.records(), dev.records("api-sydney.dev.cutlass.example.com."), dev.health_checks()) == (
        records,
        own,
        checks,
    )
    dns = run.statuses["CutlassEnvironment/dev"]["status"]["dns"]
    assert dns["routedRegions"] == ["london", "sydney"]
