"""An environment and its regions as one model: which regions the environment replicates to and
routes to, which regions are refused for clashing with another, and what keeps the environment
from writing at all. The operator's handlers and `cutlass plan | apply -f` both decide through
here, so the two paths cannot drift apart; they differ only in where the facts come from (kopf's
index of regions and the environment's status, or the CLI's own runs of the regions).

The DNS rule: a region, once routed, stays routed until it is deleted. A routed region whose
reconcile fails (a typo in its spec, a throttled call, a certificate of the wrong account) keeps
its records and its health check as they are; whether callers still reach it is the health
check's business. Only a region that was never routed waits for its first good reconcile.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cutlass_operator.api.environment import CutlassEnvironmentSpec
from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.layers.base import ApiEndpoint, RegionRef


@dataclass(frozen=True)
class RegionFacts:
    """What the environment knows of one region that names it."""

    name: str  # the object's name (dev-london)
    region: str  # spec.region (london)
    aws_region: str
    deleting: bool = False
    ready: bool = False  # its last reconcile of its current spec succeeded
    endpoint: ApiEndpoint | None = None  # its API's, as its last reconcile that reached the API layer saw it
    certificate: bool = False  # it has spec.api.certificateArn, so it can serve the routed name
    created: str = ""  # creationTimestamp (RFC 3339, so it sorts); empty when unknown (manifest files)


def clashes(regions: Sequence[RegionFacts]) -> dict[str, TerminalError]:
    """Regions refused because an older region of the environment holds their AWS region or their
    spec.region: both would build the same resources (names, tables' replicas, DNS records). The
    oldest claimant keeps it (creation time, then name, so the choice never flips), and the
    refused region writes nothing."""
    refused: dict[str, TerminalError] = {}
    for field, what in (("aws_region", "spec.awsRegion"), ("region", "spec.region")):
        holders: dict[str, RegionFacts] = {}
        for facts in sorted((r for r in regions if not r.deleting), key=lambda r: (r.created or "~", r.name)):
            value = getattr(facts, field)
            holder = holders.setdefault(value, facts)
            if holder is not facts and facts.name not in refused:
                refused[facts.name] = TerminalError(
                    "RegionClash",
                    f"{what} {value} is already CutlassRegion {holder.name}'s in this environment: one region per "
                    f"{'AWS region' if field == 'aws_region' else 'name'}; change {what} or delete one of them",
                )
    return refused


def environment_problem(spec: CutlassEnvironmentSpec, regions: Sequence[RegionRef]) -> RetryableError | None:
    """Why nothing of the environment may be written yet (its regions' included), given its live
    regions. The tables live in spec.primaryRegion, so some region must be there to hold their
    key. Not terminal: regions are applied after their environment as often as before it, and
    the problem goes away when the missing region arrives."""
    if not regions or any(r.aws_region == spec.primary_region for r in regions):
        return None
    where = ", ".join(sorted(f"{r.name} ({r.aws_region})" for r in regions))
    return RetryableError(
        "PrimaryRegionHasNoRegion",
        f"spec.primaryRegion is {spec.primary_region}, but no region of this environment is there (it has "
        f"{where}): add a CutlassRegion in {spec.primary_region}, or set spec.primaryRegion to one of its regions' "
        "awsRegion",
        delay=30,
    )


def environment_regions(regions: Sequence[RegionFacts], routed: Collection[str] | None) -> list[RegionRef]:
    """The regions the environment replicates to and routes to: those not deleting and not refused,
    by AWS region. `routed` are the spec.region names Route 53 routes to now, as far as the caller
    knows (None: unknown, as for the CLI). A region with an endpoint is routed once Ready and then
    while it is routed; a failing region that is or may be routed but whose endpoint is unknown
    is `held`: the environment keeps its records as Route 53 has them."""
    refused = clashes(regions)
    live = [r for r in regions if not r.deleting and r.name not in refused]
    return sorted((_ref(r, routed) for r in live), key=lambda r: r.aws_region)


def _ref(facts: RegionFacts, routed: Collection[str] | None) -> RegionRef:
    was_routed = routed is not None and facts.region in routed
    if facts.endpoint is not None and (facts.ready or was_routed):
        return RegionRef(facts.region, facts.aws_region, facts.endpoint)
    if not facts.ready and (was_routed or routed is None):
        return RegionRef(facts.region, facts.aws_region, None, f"{facts.name} is not Ready", held=True)
    if not facts.certificate:
        return RegionRef(
            facts.region, facts.aws_region, None, "no spec.api.certificateArn, so it cannot serve the routed name"
        )
    return RegionRef(facts.region, facts.aws_region, None, f"{facts.name} is not Ready yet")
