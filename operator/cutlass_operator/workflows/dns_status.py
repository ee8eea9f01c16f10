"""What the environment's status says of its DNS: the zone and its delegation, the routed name, and
each routed region with its health check; and the digest of the regions' endpoints that tells the
environment to reconcile again when a region comes, goes or moves."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from cutlass_operator.api.environment import DnsRegionStatus, DnsStatus, Domain
from cutlass_operator.layers.base import RegionRef
from cutlass_operator.workflows.report import LayerReport


def targets_digest(regions: Sequence[RegionRef]) -> str:
    """What the environment's last reconcile was given of its regions: when the regions' live set or
    their API endpoints change, the environment reconciles again (see `follow_regions`)."""
    text = json.dumps(sorted((asdict(r) for r in regions), key=lambda r: str(r["aws_region"])), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dns_status(
    report: LayerReport, regions: Sequence[RegionRef], domain: Domain | None, before: DnsStatus | None
) -> DnsStatus:
    """The zone, the routed name and each routed region with its check. `routedRegions` changes only
    when the layer's changes all went through: a deleting region waits until it has left it."""
    outputs = report.outputs
    zone = outputs.get("zone") or {}
    checks: Mapping[str, Mapping[str, Any]] = outputs.get("healthChecks") or {}
    applied = report.plan.empty if report.result is None else report.result.ok
    routed = sorted(checks) if applied or before is None else before.routed_regions
    by_name = {r.name: r for r in regions}
    endpoints = {r.name: r.endpoint for r in regions if r.endpoint is not None}
    return DnsStatus(
        zone_id=zone.get("id"),
        zone_name=zone.get("name"),
        name_servers=zone.get("nameServers") or [],
        delegation=_delegation(zone) if zone else None,
        record_name=domain.record_name() if domain else None,
        policy=domain.routing.policy if domain else None,
        routed_regions=routed,
        regions=[
            DnsRegionStatus(
                region=name,
                aws_region=by_name[name].aws_region if name in by_name else "",
                target=endpoints[name].target if name in endpoints else None,
                health_check_id=check.get("id"),
                health=check.get("status"),
                serves=check.get("serves") or [],
            )
            for name, check in sorted(checks.items())
        ],
    )


def _delegation(zone: Mapping[str, Any]) -> str:
    name, servers = zone.get("name"), ", ".join(zone.get("nameServers") or [])
    if not zone.get("managed"):
        return f"NotRequired: {name} existed before the operator adopted it, with its own delegation"
    if zone.get("delegated"):
        return f"Confirmed: the parent zone in this account delegates {name} to {servers}"
    where = "the parent zone in this account" if zone.get("delegated") is False else "its parent zone"
    return f"Required: the operator created {name}; add NS records for it naming {servers} in {where}"
