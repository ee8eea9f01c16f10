"""The demo's look at each environment's DNS: the zone and its delegation, and the records of the
routed name as Route 53 lists them, each checked against the region it should send callers to."""

from __future__ import annotations

from typing import Any

import boto3


def check_environment_dns(env: dict[str, Any], regions: list[dict[str, Any]], session: boto3.Session) -> bool:
    """True when every routed region has its records, each aliasing the region's routed domain
    and tied to the region's health check."""
    dns = (env.get("status") or {}).get("dns") or {}
    name = env["metadata"]["name"]
    if not dns.get("zoneId"):
        print(f"environment {name}: no DNS")
        return not env["spec"].get("domain")
    r53 = session.client("route53")
    print(f"environment {name}: zone {dns['zoneName']} ({dns['zoneId']}), name servers {', '.join(dns['nameServers'])}")
    print(f"  delegation: {dns.get('delegation')}")
    record = f"{dns['recordName']}."
    listed = r53.list_resource_record_sets(HostedZoneId=dns["zoneId"], StartRecordName=record)["ResourceRecordSets"]
    records = [rr for rr in listed if rr["Name"] == record and "SetIdentifier" in rr]
    targets = {
        r["spec"]["region"]: ((r.get("status") or {}).get("outputs", {}).get("api", {}).get("routedDomain") or {})
        for r in regions
    }
    checks = {r["region"]: r.get("healthCheckId") for r in dns.get("regions", [])}
    print(f"  {record} by {dns['policy']}:")
    primary = env["spec"].get("primaryRegion", "eu-west-2")
    default = next((r["spec"]["region"] for r in regions if r["spec"]["awsRegion"] == primary), "")
    ok = bool(records)
    for rr in records:
        region = _region_of(rr["SetIdentifier"]) or default
        target = rr["AliasTarget"]["DNSName"].rstrip(".")
        right = target == str(targets.get(region, {}).get("regionalDomainName", "")).rstrip(".")
        checked = checks.get(region) is not None and rr.get("HealthCheckId") == checks[region]
        ok &= right and checked
        print(
            f"    {rr['SetIdentifier']:<34} {_routing(rr):<22} -> {region} {target}"
            f"  health check {rr.get('HealthCheckId')} ({'ok' if right and checked else 'WRONG'})"
        )
    for region in dns.get("regions", []):
        print(
            f"  {region['region']}: answers {', '.join(region.get('serves', [])) or 'nobody'}; health check "
            f"{region.get('healthCheckId')} {region.get('health') or 'not read yet'}"
        )
    routed = set(dns.get("routedRegions", []))
    ok &= routed == {r["spec"]["region"] for r in regions}
    return ok


def _region_of(set_identifier: str) -> str:
    """`cutlass-dev/sydney-continent-oc` -> sydney; "" for the default record, which names none."""
    region = set_identifier.split("/", 1)[-1].split("-", 1)[0]
    return "" if region == "default" else region


def _routing(rr: Any) -> str:
    if "GeoLocation" in rr:
        location = rr["GeoLocation"]
        return "geo " + "/".join(str(v) for v in location.values())
    if "Failover" in rr:
        return f"failover {rr['Failover']}"
    return f"latency {rr.get('Region')}"
