"""Route 53: public hosted zones, health checks, and the routing records of one name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from cutlass_operator.engine.resource import Props, Ref, Scope, Struct, unmanaged_when_none

Continent = Literal["AF", "AN", "AS", "EU", "NA", "OC", "SA"]
Failover = Literal["PRIMARY", "SECONDARY"]


@dataclass(frozen=True)
class HostedZoneProps(Props):
    """`create`: whether the operator may create the zone when no public zone of the name exists
    (an existing one is adopted either way, and never written to)."""

    kind = "route53.hosted_zone"

    name: str
    create: bool = False
    comment: str = ""


@dataclass(frozen=True)
class HealthCheckProps(Props):
    """A check of `https://<fqdn><resource_path>` (port 443; 80 for HTTP). `regions` None: Route 53's
    default checker regions (else at least 3). `type` and `request_interval` (seconds) cannot change
    in AWS: a change makes a new check."""

    kind = "route53.health_check"

    fqdn: str
    type: Literal["HTTP", "HTTPS"] = "HTTPS"
    resource_path: str = "/"
    request_interval: Literal[10, 30] = 30
    failure_threshold: int = 3
    enable_sni: bool = field(default=True, metadata={"name": "enableSNI"})
    regions: tuple[str, ...] | None = unmanaged_when_none()


@dataclass(frozen=True)
class AliasTarget(Struct):
    dns_name: str
    hosted_zone_id: str
    evaluate_target_health: bool = True


@dataclass(frozen=True)
class GeoLocation(Struct):
    """One of: a continent, a country (`*`: the default record, for callers matching no other), or
    a country's subdivision."""

    continent_code: Continent | None = unmanaged_when_none()
    country_code: str | None = unmanaged_when_none()
    subdivision_code: str | None = unmanaged_when_none()


@dataclass(frozen=True)
class Record(Struct):
    """An alias record of one routing policy: exactly one of `geo_location`, `region` (latency) and
    `failover`. `set_identifier` starts with the kind's name prefix; `health_check_id` None: none."""

    set_identifier: str
    alias: AliasTarget
    type: Literal["A", "AAAA"] = "A"
    health_check_id: str | Ref | None = None
    geo_location: GeoLocation | None = unmanaged_when_none()
    region: str | None = unmanaged_when_none()
    failover: Failover | None = unmanaged_when_none()


@dataclass(frozen=True)
class RecordSetGroupProps(Props):
    """Every routing record the operator keeps at `name` in one zone. `zone_name` is required when
    `hosted_zone_id` is a `Ref`: observe finds the zone by it before the reference is resolved."""

    kind = "route53.record_set_group"

    hosted_zone_id: str | Ref
    name: str
    records: tuple[Record, ...]
    zone_name: str | None = unmanaged_when_none()


@dataclass(frozen=True)
class RecordsScope(Scope):
    """The record kind of a layer: `name_prefix` starts the set identifier of every record of the
    layer's; the zones of `zones` (zone name to the key of its zone entry) are listed whole, so a
    name there holding records of the prefix that no entry wants is an orphan."""

    zones: Mapping[str, str] = field(default_factory=dict)
