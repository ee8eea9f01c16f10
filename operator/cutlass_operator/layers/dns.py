"""The seed's 900-global-services: the environment's public zone, and the one name users call,
routed by Route 53 to the closest healthy region.

- The zone (`domain.zoneName`): the public zone of that name in the account, adopted and never
  written to, or created when `domain.createZone` allows. Its name servers are in status: a zone
  the operator created must be delegated to from its parent.
- One HTTPS health check per routed region, on `https://<invoke host>/<stage>/health`: the
  execute-api host answers any stage's path whatever custom domains exist, and `/health` is the
  API's one unauthenticated route. Interval and threshold come from `domain.routing.healthCheck`.
- The routed name (`domain.apiRecordName`, default `api.<zone>`): alias records to each region's
  custom domain for that name (API Gateway answers only names it has a domain for, so every region
  serves the routed name itself), each tied to its region's health check, by the policy:
  - geolocation: one record per continent or country of each region (`domain.routing.geolocation`,
    default: the continent of its AWS region), and the default record to the primary region;
  - latency: one record per region;
  - failover: PRIMARY in the primary region, SECONDARY in the next region.
  All records of the name are one `route53.record_set_group`, so a change of policy or of the
  regions is one atomic batch and the name never stops resolving.
- A region's own `api.domainName` gets a single latency record to that region alone.

A region is routed once it is Ready and stays routed until it is deleted (the health of a routed
region whose reconcile fails is the health checks' business, not the records'): the caller decides
that and hands the layer `RegionRef.endpoint`. The records of the environment are those whose set
identifier starts with `cutlass-<env>/`; the zone is listed whole, so records of a name no longer
wanted are found and removed. Records, checks and the zone it
created go with the environment; under the Retain policy the zone stays, since recreating it would
change its name servers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from cutlass_operator.api.environment import DeletionPolicy, Domain
from cutlass_operator.api.routing import Continent, continent_of
from cutlass_operator.engine.errors import RetryableError
from cutlass_operator.engine.resource import Desired, Observed, Ref, Scope
from cutlass_operator.layers.base import ApiEndpoint, EnvironmentInputs, RegionRef
from cutlass_operator.props.route53 import (
    AliasTarget,
    Failover,
    GeoLocation,
    HealthCheckProps,
    HostedZoneProps,
    Record,
    RecordSetGroupProps,
    RecordsScope,
)

LAYER = "dns"
ZONE = f"{LAYER}/zone"
RECORDS = f"{LAYER}/records"
HEALTH = f"{LAYER}/health/"
OWN_RECORDS = f"{LAYER}/own-records/"
DEFAULT_LOCATION = GeoLocation(country_code="*")


def api_endpoint(outputs: Mapping[str, Any] | None) -> ApiEndpoint | None:
    """A region's endpoint from its API layer's outputs; None while it serves no routed name."""
    outputs = outputs or {}
    routed = outputs.get("routedDomain") or {}
    own = outputs.get("customDomain") or {}
    host = urlparse(str(outputs.get("invokeUrl") or "")).hostname
    if not (routed.get("regionalDomainName") and routed.get("regionalHostedZoneId") and host and outputs.get("stage")):
        return None
    return ApiEndpoint(
        target=routed["regionalDomainName"],
        target_zone_id=routed["regionalHostedZoneId"],
        invoke_host=host,
        stage=str(outputs["stage"]),
        own_name=own.get("domainName"),
        own_target=own.get("regionalDomainName"),
        own_zone_id=own.get("regionalHostedZoneId"),
    )


def owner(inputs: EnvironmentInputs) -> str:
    """The start of the set identifier of every record of the environment's: the records of a name no
    longer routed are found by it, and those of another environment sharing the zone never are."""
    return f"cutlass-{inputs.workspace.environment}/"


def routed_regions(inputs: EnvironmentInputs) -> list[RegionRef]:
    """The regions to route to, the primary region first, then by AWS region."""
    primary = inputs.environment.primary_region
    routed = [r for r in inputs.regions if r.endpoint is not None]
    return sorted(routed, key=lambda r: (r.aws_region != primary, r.aws_region, r.name))


class DnsLayer:
    name = LAYER
    condition = "DnsReady"
    holds_data = False  # the zone alone follows the deletion policy (`Desired.retain`)

    def kinds(self, inputs: EnvironmentInputs) -> Sequence[Scope]:
        """None without a domain: the CRD keeps a domain from being removed once set, so there is
        nothing to look for (listing the account's health checks would be a read per resync)."""
        domain = inputs.environment.domain
        if domain is None:
            return []
        records = RecordsScope(RecordSetGroupProps, name_prefix=owner(inputs), zones={domain.zone_name: ZONE})
        return [Scope(HostedZoneProps), Scope(HealthCheckProps), records]

    def desired(self, inputs: EnvironmentInputs) -> list[Desired[Any]]:
        domain = inputs.environment.domain
        if domain is None:
            return []
        ws = inputs.workspace
        retain = inputs.environment.effective_deletion_policy() == DeletionPolicy.RETAIN
        entries: list[Desired[Any]] = [
            Desired(
                ZONE,
                HostedZoneProps(name=domain.zone_name, create=domain.create_zone, comment=f"cutlass {ws.environment}"),
                domain.zone_name,
                ws.tags(LAYER, ZONE, domain.zone_name),
                retain=retain,
            )
        ]
        regions = routed_regions(inputs)
        checks = domain.routing.health_check
        for region in regions:
            endpoint = _endpoint(region)
            key = f"{HEALTH}{region.name}"
            name = ws.resource_name("health", region.name)
            check = HealthCheckProps(
                fqdn=endpoint.invoke_host,
                type="HTTPS",
                resource_path=f"/{endpoint.stage}/health",
                request_interval=checks.request_interval,
                failure_threshold=checks.failure_threshold,
                enable_sni=True,
            )
            entries.append(Desired(key, check, name, ws.tags(LAYER, key, name)))
        if regions:
            records = routing_records(domain, regions, owner(inputs))
            entries.append(_group(inputs, RECORDS, domain, domain.record_name(), records))
        shared = _shared_own_names(regions)
        for region in regions:
            endpoint = _endpoint(region)
            if endpoint.own_name and endpoint.own_target and endpoint.own_zone_id and endpoint.own_name not in shared:
                own = _record(
                    region,
                    AliasTarget(dns_name=endpoint.own_target, hosted_zone_id=endpoint.own_zone_id),
                    f"{owner(inputs)}{region.name}-own",
                    aws_region=region.aws_region,  # one latency record: always the answer
                )
                entries.append(_group(inputs, f"{OWN_RECORDS}{region.name}", domain, endpoint.own_name, [own]))
        return entries

    def waiting(self, inputs: EnvironmentInputs) -> RetryableError | None:
        """Applied, but some live region is not routed yet: say which and why."""
        domain = inputs.environment.domain
        if domain is None:
            return None
        pending = [
            f"{r.name} ({r.unroutable or 'its API is not ready yet'})"
            for r in sorted(inputs.regions, key=lambda r: r.name)
            if not r.endpoint
        ]
        pending += [
            f"{name} (the spec.api.domainName of {', '.join(owners)}: give each region a name of its own)"
            for name, owners in sorted(_shared_own_names(routed_regions(inputs)).items())
        ]
        if not pending:
            return None
        return RetryableError(
            "WaitingForRegions", f"{domain.record_name()} is not routed to {'; '.join(pending)}", delay=30
        )

    def outputs(self, observed: Mapping[str, Observed]) -> dict[str, Any]:
        zone = observed.get(ZONE)
        group = observed.get(RECORDS)
        serves = _answers_by_check(group.properties["records"] if group is not None else [])
        checks = {
            key.removeprefix(HEALTH): {
                "id": found.outputs.get("id"),
                "status": found.outputs.get("status"),
                "serves": serves.get(str(found.outputs.get("id")), []),
            }
            for key, found in sorted(observed.items())
            if key.startswith(HEALTH)
        }
        return {
            "zone": {
                "id": zone.outputs.get("id"),
                "name": zone.outputs.get("name"),
                "nameServers": zone.outputs.get("nameServers") or [],
                "managed": zone.outputs.get("managed"),
                "delegated": zone.outputs.get("delegated"),
            }
            if zone is not None
            else None,
            "recordName": group.properties["name"] if group is not None else None,
            "records": group.outputs.get("records", 0) if group is not None else 0,
            "healthChecks": checks,
        }


def held_regions(inputs: EnvironmentInputs, observed: Mapping[str, Observed]) -> EnvironmentInputs:
    """The held regions (failing, maybe routed) with the endpoint Route 53 routes them to now, read
    from the observed health checks and records of the layer, so the layer's next desired state
    keeps their records exactly as they are. A held region Route 53 does not route is left out of
    routing like any region not Ready yet."""

    def kept(region: RegionRef) -> RegionRef:
        if not region.held:
            return region
        found = _routed_now(observed, region.name, owner(inputs))
        return RegionRef(region.name, region.aws_region, found, region.unroutable if found is None else "")

    regions = tuple(kept(r) for r in inputs.regions)
    return EnvironmentInputs(inputs.workspace, inputs.environment, inputs.region_keys, regions)


def _routed_now(observed: Mapping[str, Observed], region: str, owner: str) -> ApiEndpoint | None:
    check = observed.get(f"{HEALTH}{region}")
    if check is None:
        return None
    stage = str(check.properties.get("resourcePath") or "").strip("/").removesuffix("/health")
    # The records tied to its check, by the names they answer (a group not desired here is observed
    # under an untracked key, so every group is searched).
    records = [
        (str(group.properties["name"]).rstrip("."), record)
        for group in observed.values()
        if group.kind == "route53.record_set_group"
        for record in group.properties.get("records", [])
        if record.get("healthCheckId") == check.outputs.get("id") and record.get("alias")
    ]
    own_id = f"{owner}{region}-own"
    routed = [record for _, record in records if record.get("setIdentifier") != own_id]
    own = next(((name, record) for name, record in records if record.get("setIdentifier") == own_id), None)
    if not routed or not stage:
        return None
    return ApiEndpoint(
        target=str(routed[0]["alias"]["dnsName"]),
        target_zone_id=str(routed[0]["alias"]["hostedZoneId"]),
        invoke_host=str(check.properties["fqdn"]),
        stage=stage,
        own_name=own[0] if own else None,
        own_target=str(own[1]["alias"]["dnsName"]) if own else None,
        own_zone_id=str(own[1]["alias"]["hostedZoneId"]) if own else None,
    )


def routing_records(domain: Domain, regions: Sequence[RegionRef], owner: str) -> list[Record]:
    """The records of the routed name by the policy, for the routed regions (primary first); their
    set identifiers start with `owner`."""
    policy = domain.routing.policy
    if policy == "latency":
        return [_record(r, _routed(r), f"{owner}{r.name}", aws_region=r.aws_region) for r in regions]
    if policy == "failover":
        # The primary region while it is healthy; with it not routed (yet), the first region takes its place.
        roles: tuple[Failover, ...] = ("PRIMARY", "SECONDARY")
        return [
            _record(r, _routed(r), f"{owner}{r.name}-{role.lower()}", failover=role)
            for r, role in zip(regions, roles, strict=False)
        ]
    by_name = {r.name: r for r in regions}
    records = [_record(regions[0], _routed(regions[0]), f"{owner}default", geo_location=DEFAULT_LOCATION)]
    for region_name, continents, countries in _geo_mapping(domain, regions):
        region = by_name.get(region_name)
        if region is None:
            continue  # not routed (yet): its callers get the default record meanwhile
        for continent in continents:
            records.append(
                _record(
                    region,
                    _routed(region),
                    f"{owner}{region.name}-continent-{continent.lower()}",
                    geo_location=GeoLocation(continent_code=continent),
                )
            )
        for country in countries:
            records.append(
                _record(
                    region,
                    _routed(region),
                    f"{owner}{region.name}-country-{country.lower()}",
                    geo_location=GeoLocation(country_code=country),
                )
            )
    return records


def _geo_mapping(domain: Domain, regions: Sequence[RegionRef]) -> list[tuple[str, list[Continent], list[str]]]:
    """The spec's mapping, or each region serving its own continent (the first region of a
    continent, primary first, when several share one)."""
    if domain.routing.geolocation:
        return [(route.region, list(route.continents), list(route.countries)) for route in domain.routing.geolocation]
    claimed: dict[Continent, str] = {}
    for region in regions:
        continent = continent_of(region.aws_region)
        if continent is not None:
            claimed.setdefault(continent, region.name)
    return [(name, [continent], []) for continent, name in sorted(claimed.items())]


def _answers_by_check(records: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """What each health check's region answers, from the records as Route 53 holds them: `EU`,
    `country NZ`, `country US-CA`, `default` (geolocation), `latency`, `PRIMARY` or `SECONDARY`."""
    answers: dict[str, list[str]] = {}
    for record in records:
        location = record.get("geoLocation") or {}
        if location.get("countryCode") == "*":
            answer = "default"
        elif location.get("continentCode"):
            answer = str(location["continentCode"])
        elif location:
            place = "-".join(str(location[f]) for f in ("countryCode", "subdivisionCode") if location.get(f))
            answer = f"country {place}"
        else:
            answer = record.get("failover") or "latency"
        answers.setdefault(str(record.get("healthCheckId")), []).append(answer)
    return {check: sorted(found) for check, found in answers.items()}


def _shared_own_names(regions: Sequence[RegionRef]) -> dict[str, list[str]]:
    """Own names more than one region claims: routed to none, since each would take the other's records."""
    owners: dict[str, list[str]] = {}
    for region in regions:
        if region.endpoint is not None and region.endpoint.own_name:
            owners.setdefault(region.endpoint.own_name, []).append(region.name)
    return {name: names for name, names in owners.items() if len(names) > 1}


def _endpoint(region: RegionRef) -> ApiEndpoint:
    assert region.endpoint is not None  # routed_regions keeps only regions with one
    return region.endpoint


def _routed(region: RegionRef) -> AliasTarget:
    """The alias to the region's routed domain."""
    endpoint = _endpoint(region)
    return AliasTarget(dns_name=endpoint.target, hosted_zone_id=endpoint.target_zone_id)


def _record(
    region: RegionRef,
    alias: AliasTarget,
    set_identifier: str,
    *,
    geo_location: GeoLocation | None = None,
    aws_region: str | None = None,
    failover: Failover | None = None,
) -> Record:
    """An A record of `alias` tied to the region's health check, by one routing policy."""
    return Record(
        set_identifier=set_identifier,
        alias=alias,
        type="A",
        health_check_id=Ref(f"{HEALTH}{region.name}", "id"),
        geo_location=geo_location,
        region=aws_region,
        failover=failover,
    )


def _group(
    inputs: EnvironmentInputs, key: str, domain: Domain, name: str, records: list[Record]
) -> Desired[RecordSetGroupProps]:
    props = RecordSetGroupProps(
        hosted_zone_id=Ref(ZONE, "id"), zone_name=domain.zone_name, name=name, records=tuple(records)
    )
    return Desired(key, props, name, {})
