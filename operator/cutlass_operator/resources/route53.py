"""Route 53: public hosted zones (`HostedZoneProps`), health checks (`HealthCheckProps`), and the
routing records of one name (`RecordSetGroupProps`).

Route 53 is a global service. The kinds ask the client factory for `route53` in the workspace's region;
botocore resolves every region of a partition to the partition's one endpoint and signs for its home
region (us-east-1 for `aws`), so nothing here names a region. Names are compared in one form: lower
case with a trailing dot (`dev.example.com` and `dev.example.com.` are the same zone).

Route 53 takes tags only after a create (ChangeTagsForResource), so each create is two calls. A crash
in between leaves an untagged resource; the kinds recognise it by its CallerReference, which they build
deterministically: `cutlass-<8 hex digits of the selector>-<12 hex digits of the entry>-<n>`. The
entry digest covers the key and, for a health check, the settings AWS cannot change. `<n>` starts at 1
and only grows when AWS answers that the reference was used before by a resource that is gone (AWS
remembers references of deleted zones and checks, so a re-created entry needs a new one). AWS allows at
most 10 tags on a zone or a health check: the kinds write the identity tags, then `Name`, then the rest
in key order, up to 10, and compare only those (`route53_tags`).

`route53.hosted_zone` (delete rank 10). Outputs: `id` (without `/hostedzone/`), `name`, `nameServers`
(the delegation set, to put in the parent zone), `managed` (True when the operator created the zone)
and `delegated`.

- Identity. A zone is found by its name: ListHostedZonesByName, keeping the public zones of exactly
  that name. One carrying the selector and this entry's key (or no tags at all and this entry's
  CallerReference prefix: a create that crashed before tagging) is the operator's. Otherwise a single
  public zone of the name is adopted, whatever `create` says, and reported with `managed` False; the
  kind never writes to an adopted zone (no comment, no tags) and never deletes it. Several public zones
  of the name and none of them ours: the create fails with the terminal error `ZoneAmbiguous`. No zone
  and `create` False: `ZoneNotFound`. A zone no entry names any more is not looked up, so it stays.
- Delegation. For a zone the operator created, `delegated` (an output) says whether the parent zone
  names the zone's name servers in an NS record at the zone's name, when the account holds the parent
  (the single public zone of the parent name); None when it does not (the parent is elsewhere, or a
  top-level domain's registry), and for an adopted zone.
- Reads per no-op resync: one ListHostedZonesByName and one GetHostedZone (the name servers) per zone,
  and one ListTagsForResources per 10 zones found: 3 for one adopted zone. A created zone adds its
  parent's ListHostedZonesByName and, when the account holds the parent, its ListResourceRecordSets.
- Create: CreateHostedZone (public, the comment, the deterministic reference), then
  ChangeTagsForResource. HostedZoneAlreadyExists means the reference was used: if a zone of the name
  still carries it (a retried create whose first answer was lost), that zone is taken; else the next
  reference is tried. Update (only a zone the operator created): UpdateHostedZoneComment, tags.
- Delete reads the zone's tags again (ListTagsForResource) and does nothing unless they still say the
  operator created it for this entry. DeleteHostedZone: AWS refuses while the zone holds records other
  than its SOA and NS (HostedZoneNotEmpty), which the kind reports as the retryable `ZoneNotEmpty`:
  records of someone else's keep the zone, the operator's own go first (higher rank). Retain tags the
  zone `cutlass.tech/retained` and removes its identity tags; an adopted zone is left untouched.

`route53.health_check` (`HealthCheckKind(name_prefix, orphan_scope, *, read_status=True)`, delete rank
20). Port 443 for HTTPS, 80 for HTTP; latency is not measured. Outputs: `id` and `status`.

- Identity. ListHealthChecks (1000 a page) lists every check of the account; only those whose
  CallerReference carries this workspace's prefix are considered, and their tags are read with
  ListTagsForResources (10 at a time). The selector and the key tag decide; a check of this workspace
  without any tag is a crashed create, claimed by the entry its reference names (or an orphan).
  Checks tagged otherwise (retained, another workspace) are left alone. A check without a key tag is
  reported as `<orphan_scope>(untracked <id>)`, an orphan the engine deletes.
- `type` and `requestInterval` (and `measureLatency`, always off) cannot change in AWS, so they are part
  of the reference. When one changes, observe reports the entry's old check as a second resource of the
  key (or, when the new check does not exist yet, as `<key> (replaced <id>)`, which no entry wants):
  the engine creates the new check, moves the records (their `healthCheckId` is a `Ref`), and deletes
  the old check only after every create and update succeeded.
- Reads per no-op resync: one ListHealthChecks per 1000 checks in the account plus one
  ListTagsForResources per 10 checks of the workspace: 2 for a few checks. `status` is read only with
  `read_status` (a layer's kind reads it; tests may not): one GetHealthCheckStatus per desired check
  per resync (Route 53's API allows 5 requests a second per account, so this matters for many checks).
  It summarises the checkers' last reports: `Healthy` when more than 18% of them report success
  (Route 53's own rule), `Unhealthy` when not, `Unknown` without reports; without `read_status` None.
- Create: CreateHealthCheck (reference as above; HealthCheckAlreadyExists handled as for zones), then
  ChangeTagsForResource. Update: one UpdateHealthCheck with every mutable setting and the version
  observed (`HealthCheckVersion`: a concurrent change makes AWS refuse, retried after a fresh observe);
  `regions` back to None is `ResetElements`. Then tags. Delete: DeleteHealthCheck. Retain: as zones.

`route53.record_set_group` (`RecordSetGroupKind(name_prefix, orphan_scope, *, zones=None, wait=None)`,
a layer's through `RecordsScope`; delete rank 30): every routing record the operator keeps at one name
in one zone, so a change of routing policy is one atomic batch. Set identifiers start with the name
prefix (default `cutlass-`) and are unique per type within the group. Outputs: `id` (`<zone id>/<name>`),
`changeId` (the change the last write submitted; None when observe found the records as wanted) and
`records` (how many).

- Identity. Record sets carry no tags: the group is its zone and name, and its records are those at the
  name whose SetIdentifier starts with the name prefix (give each environment its own, e.g.
  `cutlass-dev/`). Anything else at the name (a TXT record, someone's records without that prefix) is
  left alone; a simple record of the same name and type makes AWS refuse the batch (routing and simple
  records cannot share a name and type), a terminal error. The zones named in `zones` (zone name to
  the key of its zone entry) are listed whole: a name there holding records of the prefix that no
  entry wants (renamed, or no longer routed) is reported as the orphan `<orphan_scope>(untracked
  <name>)`, which the engine deletes. In other zones a name no entry names any more is not looked up.
- Observe. The zone id of an entry is usually a `Ref`, unknown while observing; the kind then finds the
  zone by `zoneName` as the zone kind does (the single public zone of the name, or the one tagged with
  the `Ref`'s key), once per zone and observe. Then ListResourceRecordSets: from the name until the
  records of the name end, or the whole zone (100 a page) for a zone of `zones`, read once for all its
  groups. Reads per no-op resync: 1 per group with a literal zone id, 2 with a `Ref` (3 when several
  public zones share the name); for a zone of `zones`, 2 whatever its groups (and a page per 100
  records beyond the first).
- Create and update are one ChangeResourceRecordSets: DELETE (with the exact values listed) every
  record of ours not wanted as it is, CREATE every wanted record not there as it is. UPSERT is not used:
  it cannot remove the records of another policy. Route 53 applies a batch atomically, so the name
  never stops resolving, even when the whole policy changes. Nothing to change: no call. Then GetChange
  until INSYNC (bounded by `wait`), so that whatever the old records pointed at (a replaced health
  check) is deleted only once every Route 53 server answers with the new ones. A batch AWS refuses
  because a record changed since observe is retried (`RecordsChanged`). Delete: the records of ours at
  the name are listed again and deleted in one batch. Retain leaves them as they are.

moto 5.2.5 gaps. The embedded emulator fills these in `emulator/route53_gaps.py`, so there the kinds
meet AWS's behaviour: a CallerReference makes one zone or check of the account, ever
(HostedZoneAlreadyExists, HealthCheckAlreadyExists, or the existing check for the same settings), and
ChangeResourceRecordSets judges each change against the zone's current records and applies a batch
whole or not at all (a CREATE of a record the zone had before is accepted; a DELETE removes only the
record of its name, type and set identifier, and only with its current values). The rest is not
filled (the kinds carry no code for them; the tests stay within them):
- ListHostedZonesByName returns only the zones of exactly the name (AWS continues with the following
  names) and ignores MaxItems; ListHealthChecks does not paginate; ListTagsForResource of a missing zone
  answers with no tags rather than NoSuchHostedZone.
- UpdateHealthCheck without `Regions` resets the regions to the default (harmless here: the kind sends
  every mutable setting, the regions whenever set), ignores ResetElements and HealthCheckVersion, and
  does not raise the version.
- GetHealthCheckStatus always reports one checker in us-east-1 with success.
- ChangeResourceRecordSets: alias targets, health check ids, geolocation codes and the mixing of
  routing policies are not validated (`d-abc123.execute-api...` with any zone id is accepted); alias
  DNS names are stored and returned without AWS's trailing dot; every change is INSYNC at once under
  one fixed change id.
- ListResourceRecordSets returns no NextRecordIdentifier, so a page ending among records of one name
  and type would be followed by the same page again (the kind stops with a retryable error rather than
  loop; pages of 100 make it unreachable for a group).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Self, cast

from botocore.exceptions import ClientError

from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.identity import IDENTITY_TAGS, KEY, RETAINED
from cutlass_operator.engine.resource import (
    Desired,
    FieldDiff,
    KindContext,
    Observed,
    Ref,
    ResourceKind,
    Scope,
    iter_refs,
    normalise,
)
from cutlass_operator.props.route53 import HealthCheckProps, HostedZoneProps, RecordSetGroupProps, RecordsScope
from cutlass_operator.resources.errors import aws_errors, error_code, error_message
from cutlass_operator.resources.tags import from_aws, matches, tag_changes, to_aws
from cutlass_operator.resources.waits import WaitPolicy, wait_until

if TYPE_CHECKING:
    from mypy_boto3_route53.client import Route53Client
    from mypy_boto3_route53.literals import TagResourceTypeType
    from mypy_boto3_route53.type_defs import (
        ChangeTypeDef,
        HealthCheckConfigOutputTypeDef,
        HealthCheckConfigTypeDef,
        HealthCheckTypeDef,
        HostedZoneConfigTypeDef,
        HostedZoneTypeDef,
        ResourceRecordSetOutputTypeDef,
    )

OURS = "cutlass-"
# Route 53's limits: tags per zone or health check, resource ids per ListTagsForResources.
MAX_TAGS = 10
TAG_BATCH = 10
HEALTH_CHECK_PAGE = 1000
RECORD_PAGE = "100"
ZONE_PAGE = "10"
# How many references a create tries before giving up (each used one belongs to a deleted resource).
REFERENCE_ATTEMPTS = 20
NOT_FOUND = frozenset({"NoSuchHostedZone", "NoSuchHealthCheck", "NoSuchChange"})
# Another request on the same resource is still being processed, or the resource changed since read.
BUSY = frozenset({"PriorRequestNotComplete", "HealthCheckVersionMismatch", "HealthCheckInUse"})
# Route 53's checker regions when a health check names none: a check reporting all of them has the default.
DEFAULT_CHECKER_REGIONS = frozenset(
    {
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
    }
)
# Route 53 considers an endpoint healthy when more than this share of its checkers report it healthy.
HEALTHY_SHARE = 0.18
# Health check settings AWS cannot change after the create.
FIXED_CHECK_SETTINGS = ("type", "requestInterval", "measureLatency")
# The same settings, as CreateHealthCheck names them (UpdateHealthCheck takes the others).
FIXED_CHECK_CONFIG = frozenset({"Type", "RequestInterval", "MeasureLatency"})
MUTABLE_CHECK_SETTINGS = ("fqdn", "port", "resourcePath", "failureThreshold", "regions", "enableSNI")
ROUTING = ("geoLocation", "region", "failover")
GEO_FIELDS = {"continentCode": "ContinentCode", "countryCode": "CountryCode", "subdivisionCode": "SubdivisionCode"}
# Routing the record kind never writes: a record of ours with one of these is replaced.
OTHER_ROUTING = ("Weight", "MultiValueAnswer", "CidrRoutingConfig", "GeoProximityLocation", "TrafficPolicyInstanceId")
ESCAPED = re.compile(r"\\(\d{3})")


# -- shared ----------------------------------------------------------------------------------------


def dns_name(name: str) -> str:
    """A DNS name in the form Route 53 answers with: lower case, trailing dot, octal escapes decoded."""
    text = ESCAPED.sub(lambda m: chr(int(m.group(1), 8)), str(name).strip()).lower()
    if not text or text == ".":
        raise ValueError(f"{name!r} is not a DNS name")
    return text if text.endswith(".") else f"{text}."


def _dns(value: Any) -> Any:
    """`dns_name` for a literal; a `Ref` stays as it is until resolved."""
    return dns_name(value) if isinstance(value, str) else value


def _zone_id(value: str) -> str:
    return value.rsplit("/", 1)[-1]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _workspace_prefix(selector: Mapping[str, str]) -> str:
    """`cutlass-<8 hex>-`: the start of every CallerReference the workspace makes."""
    return f"{OURS}{_digest(*(f'{k}={v}' for k, v in sorted(selector.items())))[:8]}-"


def zone_reference_prefix(selector: Mapping[str, str], key: str, name: str) -> str:
    """The CallerReference of the entry's zone, without the attempt number that ends it."""
    return f"{_workspace_prefix(selector)}{_digest(key, dns_name(name))[:12]}-"


def health_check_reference_prefix(selector: Mapping[str, str], key: str, properties: Mapping[str, Any]) -> str:
    """The CallerReference of the entry's check, without the attempt number: it covers the settings AWS
    cannot change, so a change of one makes a new check."""
    settings = _check_settings(properties)
    fixed = [f"{name}={settings[name]}" for name in FIXED_CHECK_SETTINGS]
    return f"{_workspace_prefix(selector)}{_digest(key, *fixed)[:12]}-"


def route53_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags written to a zone or a check: AWS takes 10, so the identity tags first, then `Name`,
    then the others in key order."""
    first = [key for key in (*IDENTITY_TAGS, "Name") if key in tags]
    rest = sorted(key for key in tags if key not in first)
    return {key: tags[key] for key in [*first, *rest][:MAX_TAGS]}


def _client(ctx: KindContext) -> Route53Client:
    client: Route53Client = ctx.clients.client("route53", ctx.region)
    return client


def _gone(exc: ClientError) -> bool:
    return error_code(exc) in NOT_FOUND


def _stale_batch(exc: ClientError) -> bool:
    """A batch refused because a record changed since it was read (not because the spec is wrong)."""
    message = error_message(exc).lower()
    changed = ("not found", "already exists", "do not match the current values")
    return error_code(exc) == "InvalidChangeBatch" and any(words in message for words in changed)


@contextmanager
def _route53_errors(what: str) -> Iterator[None]:
    """`aws_errors`, plus Route 53's own codes for a missing resource and for a resource that is busy."""
    with aws_errors(what):
        try:
            yield
        except ClientError as exc:
            detail = f"{what}: {exc.operation_name} failed with {error_code(exc)}: {error_message(exc)}"
            if _gone(exc):
                raise RetryableError("NotFoundYet", f"{detail} (deleted meanwhile or not visible yet)", 10.0) from exc
            if error_code(exc) in BUSY:
                raise RetryableError("Route53Busy", f"{detail} (changed or busy; observing again)", 10.0) from exc
            if _stale_batch(exc):
                raise RetryableError("RecordsChanged", f"{detail} (the records changed since read)", 5.0) from exc
            raise


def _tags_of(r53: Route53Client, resource_type: TagResourceTypeType, ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """`{id: tags}`, one ListTagsForResources per 10 resources."""
    found: dict[str, dict[str, str]] = {}
    unique = sorted(set(ids))
    for start in range(0, len(unique), TAG_BATCH):
        answer = r53.list_tags_for_resources(ResourceType=resource_type, ResourceIds=unique[start : start + TAG_BATCH])
        for tag_set in answer.get("ResourceTagSets", []):
            found[str(tag_set.get("ResourceId", ""))] = from_aws(tag_set.get("Tags"))
    return found


def _retag(
    r53: Route53Client,
    resource_type: TagResourceTypeType,
    resource_id: str,
    desired: Mapping[str, str],
    observed: Mapping[str, str],
) -> dict[str, str]:
    """ChangeTagsForResource for what differs; the tags the resource has afterwards."""
    changes = tag_changes(route53_tags(desired), observed)
    if changes:
        request: dict[str, Any] = {"ResourceType": resource_type, "ResourceId": resource_id}
        if changes.put:
            request["AddTags"] = to_aws(changes.put)
        if changes.remove:
            request["RemoveTagKeys"] = changes.remove
        r53.change_tags_for_resource(**request)
    return changes.applied_to(observed)


def _retain(r53: Route53Client, resource_type: TagResourceTypeType, resource_id: str, tags: Mapping[str, str]) -> None:
    """Marked retained first, then the identity tags go: a crash in between leaves it marked, never unowned."""
    r53.change_tags_for_resource(
        ResourceType=resource_type, ResourceId=resource_id, AddTags=[{"Key": RETAINED, "Value": "true"}]
    )
    identity = [key for key in IDENTITY_TAGS if key in tags]
    if identity:
        r53.change_tags_for_resource(ResourceType=resource_type, ResourceId=resource_id, RemoveTagKeys=identity)


def _tag_diffs(desired: Desired[Any], observed: Observed) -> list[FieldDiff]:
    return [
        FieldDiff(f"tags.{name}", observed.tags.get(name), want)
        for name, want in sorted(route53_tags(desired.tags).items())
        if observed.tags.get(name) != want
    ]


def _literal(desired: Desired[Any]) -> None:
    """At apply time every reference is resolved; one left is a dependency the layer did not declare."""
    refs = list(iter_refs(desired.properties))
    if refs:
        raise ValueError(f"{desired.key}: unresolved references to {sorted({r.key for r in refs})}")


# -- hosted zones ----------------------------------------------------------------------------------


def _public_zones(r53: Route53Client, name: str) -> list[HostedZoneTypeDef]:
    """The public zones named exactly `name`. Zones come in name order from the name asked for, so the
    listing stops at the first zone of another name."""
    found: list[HostedZoneTypeDef] = []
    request: dict[str, Any] = {"DNSName": name, "MaxItems": ZONE_PAGE}
    while True:
        page = r53.list_hosted_zones_by_name(**request)
        zones = page.get("HostedZones", [])
        found += [z for z in zones if dns_name(z["Name"]) == name and not z.get("Config", {}).get("PrivateZone")]
        further = page.get("NextDNSName")
        if not page.get("IsTruncated") or not further or dns_name(further) != name:
            return found
        if any(dns_name(z["Name"]) != name for z in zones):
            return found
        request = {"DNSName": further, "HostedZoneId": page.get("NextHostedZoneId"), "MaxItems": ZONE_PAGE}


def _zone_is_ours(tags: Mapping[str, str], reference: str, selector: Mapping[str, str], key: str, name: str) -> bool:
    """Created by the operator for this entry: tagged so, or untagged with the entry's reference (a
    create that crashed before tagging)."""
    if tags:
        return matches(tags, selector) and tags.get(KEY) == key
    return reference.startswith(zone_reference_prefix(selector, key, name))


def _choose_zones(
    candidates: Sequence[HostedZoneTypeDef],
    tags: Mapping[str, Mapping[str, str]],
    selector: Mapping[str, str],
    key: str,
    name: str,
) -> tuple[list[HostedZoneTypeDef], bool]:
    """The entry's zones and whether the operator created them: its own (normally one), else the single
    public zone of the name (adopted), else none."""
    ours = [
        zone
        for zone in candidates
        if _zone_is_ours(tags.get(_zone_id(zone["Id"]), {}), zone["CallerReference"], selector, key, name)
    ]
    if ours:
        return ours, True
    if len(candidates) == 1:
        return list(candidates), False
    return [], False


class HostedZoneKind(ResourceKind[HostedZoneProps]):
    props = HostedZoneProps
    # Below the health checks and records: the zone holds the records.
    delete_rank = 10
    immutable = frozenset({"name"})

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[HostedZoneProps]]) -> list[Observed]:
        r53 = _client(ctx)
        names: dict[str, str] = {}
        for d in desired:
            name = dns_name(str(d.properties["name"]))
            if name in names.values():
                raise ValueError(f"{d.key}: zone {name} is named by another entry too")
            names[d.key] = name
        found: list[Observed] = []
        with _route53_errors(f"observe {self.kind}"):
            candidates = {key: _public_zones(r53, name) for key, name in names.items()}
            tags = _tags_of(r53, "hostedzone", [_zone_id(z["Id"]) for zones in candidates.values() for z in zones])
            for key, name in names.items():
                zones, managed = _choose_zones(candidates[key], tags, ctx.selector, key, name)
                for zone in zones:
                    servers = _name_servers(r53, _zone_id(zone["Id"]))
                    if servers is not None:
                        delegated = _delegated(r53, name, servers) if managed else None
                        zone_tags = tags.get(_zone_id(zone["Id"]), {})
                        found.append(self._observed(key, zone, zone_tags, managed, servers, delegated=delegated))
        return found

    def create(self, ctx: KindContext, desired: Desired[HostedZoneProps]) -> Observed:
        r53 = _client(ctx)
        name = dns_name(str(desired.properties["name"]))
        what = f"create {self.kind} {name}"
        with _route53_errors(what):
            # Looked up again: what observe saw may have changed, and an ambiguity is only reported here.
            candidates = _public_zones(r53, name)
            tags = _tags_of(r53, "hostedzone", [_zone_id(z["Id"]) for z in candidates])
            zones, managed = _choose_zones(candidates, tags, ctx.selector, desired.key, name)
            if zones:
                zone_id = _zone_id(zones[0]["Id"])
                servers = _name_servers(r53, zone_id) or []
                observed = self._observed(desired.key, zones[0], tags.get(zone_id, {}), managed, servers)
                diff = self.compare(desired, observed)
                return self.update(ctx, desired, observed, diff) if diff else observed
            if candidates:
                raise TerminalError(
                    "ZoneAmbiguous",
                    f"{what}: {len(candidates)} public hosted zones are named {name} and none was created by the "
                    "operator for this entry; delete the extra ones (only one can be delegated to)",
                )
            if not desired.properties.get("create"):
                raise TerminalError(
                    "ZoneNotFound",
                    f"{what}: no public hosted zone {name} in the account: create it (and delegate it from the "
                    "parent zone), or set createZone to let the operator create it",
                )
            zone, servers = self._create_zone(r53, ctx, desired, name)
            tags_now = _retag(r53, "hostedzone", _zone_id(zone["Id"]), desired.tags, {})
            delegated = _delegated(r53, name, servers)
        return self._observed(desired.key, zone, tags_now, True, servers, delegated=delegated)

    def _create_zone(
        self, r53: Route53Client, ctx: KindContext, desired: Desired[HostedZoneProps], name: str
    ) -> tuple[HostedZoneTypeDef, list[str]]:
        prefix = zone_reference_prefix(ctx.selector, desired.key, name)
        config: HostedZoneConfigTypeDef = {"PrivateZone": False}
        if desired.properties.get("comment"):
            config["Comment"] = str(desired.properties["comment"])
        for attempt in range(1, REFERENCE_ATTEMPTS + 1):
            reference = f"{prefix}{attempt}"
            try:
                created = r53.create_hosted_zone(Name=name, CallerReference=reference, HostedZoneConfig=config)
            except ClientError as exc:
                if error_code(exc) != "HostedZoneAlreadyExists":
                    raise
                # The reference is used: by a zone still there (an earlier try whose answer was lost), or
                # by one deleted since, in which case the next reference is free.
                same = [z for z in _public_zones(r53, name) if z["CallerReference"] == reference]
                if same:
                    return same[0], _name_servers(r53, _zone_id(same[0]["Id"])) or []
                continue
            return created["HostedZone"], list(created.get("DelegationSet", {}).get("NameServers", []))
        raise TerminalError(
            "CallerReferencesUsed",
            f"create {self.kind} {name}: the {REFERENCE_ATTEMPTS} references {prefix}1.. were all used by earlier "
            "zones; rename the entry's key",
        )

    def update(
        self, ctx: KindContext, desired: Desired[HostedZoneProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        if not observed.private["managed"]:
            return observed  # an adopted zone is never written to
        r53 = _client(ctx)
        comment = str(desired.properties.get("comment") or "")
        with _route53_errors(f"update {self.kind} {observed.id}"):
            if comment != observed.properties["comment"]:
                r53.update_hosted_zone_comment(Id=observed.id, Comment=comment)
                observed.properties["comment"] = comment
            observed.tags = _retag(r53, "hostedzone", observed.id, desired.tags, observed.tags)
        observed.key = desired.key
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        r53 = _client(ctx)
        what = f"delete {self.kind} {observed.properties['name']} ({observed.id})"
        with _route53_errors(what):
            try:
                answer = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=observed.id)
                tags = from_aws(answer.get("ResourceTagSet", {}).get("Tags"))
                # Asked again right before the one irreversible call: only a zone the operator made goes.
                name = str(observed.properties["name"])
                if not _zone_is_ours(tags, observed.private["reference"], ctx.selector, observed.key, name):
                    return
                r53.delete_hosted_zone(Id=observed.id)
            except ClientError as exc:
                if _gone(exc):
                    return
                if error_code(exc) == "HostedZoneNotEmpty":
                    raise RetryableError(
                        "ZoneNotEmpty",
                        f"{what}: the zone still holds records other than its SOA and NS; the operator deletes only "
                        "its own records, so delete the others (or keep the entry)",
                        60.0,
                    ) from exc
                raise

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        if not observed.private["managed"]:
            return
        with _route53_errors(f"retain {self.kind} {observed.id}"):
            _retain(_client(ctx), "hostedzone", observed.id, observed.tags)

    def compare(self, desired: Desired[HostedZoneProps], observed: Observed) -> list[FieldDiff]:
        """The name; for a zone the operator created, also the comment and tags (an adopted one is not
        the operator's to change)."""
        diffs = []
        name = dns_name(str(desired.properties["name"]))
        if name != observed.properties["name"]:
            diffs.append(FieldDiff("name", observed.properties["name"], name))
        if observed.private["managed"]:
            comment = str(desired.properties.get("comment") or "")
            if comment != observed.properties["comment"]:
                diffs.append(FieldDiff("comment", observed.properties["comment"], comment))
            diffs += _tag_diffs(desired, observed)
        return diffs

    def _observed(
        self,
        key: str,
        zone: HostedZoneTypeDef,
        tags: Mapping[str, str],
        managed: bool,
        servers: list[str],
        *,
        delegated: bool | None = None,
    ) -> Observed:
        zone_id, name = _zone_id(zone["Id"]), dns_name(zone["Name"])
        properties: dict[str, Any] = {"name": name, "comment": zone.get("Config", {}).get("Comment") or ""}
        outputs = {"id": zone_id, "name": name, "nameServers": servers, "managed": managed, "delegated": delegated}
        private = {"managed": managed, "reference": zone["CallerReference"]}
        return Observed(key, self.kind, zone_id, properties, dict(tags), outputs, private)


def _name_servers(r53: Route53Client, zone_id: str) -> list[str] | None:
    """The zone's delegation set; None when the zone is gone."""
    try:
        answer = r53.get_hosted_zone(Id=zone_id)
    except ClientError as exc:
        if _gone(exc):
            return None
        raise
    return list(answer.get("DelegationSet", {}).get("NameServers", []))


def _delegated(r53: Route53Client, name: str, servers: Sequence[str]) -> bool | None:
    """Whether the parent zone delegates `name` to `servers`, when the account holds the parent (the
    single public zone of the parent name); None when it does not, and so cannot tell."""
    parent = name.split(".", 1)[1]
    if parent.count(".") < 2:
        return None  # a top-level domain's registry holds the delegation, not a zone of the account
    parents = _public_zones(r53, parent)
    if len(parents) != 1:
        return None
    listed = r53.list_resource_record_sets(
        HostedZoneId=_zone_id(parents[0]["Id"]), StartRecordName=name, StartRecordType="NS", MaxItems="1"
    )
    ns = [rr for rr in listed.get("ResourceRecordSets", []) if dns_name(rr["Name"]) == name and rr["Type"] == "NS"]
    listed_servers = {dns_name(record["Value"]) for rr in ns for record in rr.get("ResourceRecords", [])}
    return bool(ns) and listed_servers == {dns_name(server) for server in servers}


# -- health checks ---------------------------------------------------------------------------------


def _fqdn(value: Any) -> Any:
    return str(value).strip().rstrip(".").lower() if isinstance(value, str) else value


def _check_settings(props: Mapping[str, Any]) -> dict[str, Any]:
    """A desired check's settings with Route 53's defaults filled in, in the shape observe reports."""
    check_type = str(props.get("type") or "HTTPS").upper()
    secure = check_type.startswith("HTTPS")
    regions = props.get("regions")
    return {
        "fqdn": _fqdn(props.get("fqdn")),
        "port": 443 if secure else 80,
        "type": check_type,
        "resourcePath": str(props.get("resourcePath") or "/"),
        "requestInterval": int(props.get("requestInterval") or 30),
        "failureThreshold": int(props.get("failureThreshold") or 3),
        "regions": sorted(str(r) for r in regions) if regions else None,
        # Never measured; still a setting, since the references of existing checks cover it.
        "measureLatency": False,
        "enableSNI": bool(props.get("enableSNI", secure)) if secure else False,
    }


def _observed_settings(config: HealthCheckConfigOutputTypeDef) -> dict[str, Any]:
    regions = sorted(config.get("Regions") or [])
    return {
        "fqdn": _fqdn(config.get("FullyQualifiedDomainName")),
        "port": config.get("Port"),
        "type": config["Type"],
        "resourcePath": config.get("ResourcePath") or "/",
        "requestInterval": config.get("RequestInterval", 30),
        "failureThreshold": config.get("FailureThreshold", 3),
        # The default set reported in full and no regions at all are the same setting.
        "regions": regions if regions and set(regions) != DEFAULT_CHECKER_REGIONS else None,
        "measureLatency": bool(config.get("MeasureLatency", False)),
        "enableSNI": bool(config.get("EnableSNI", False)),
    }


def _check_config(settings: Mapping[str, Any]) -> HealthCheckConfigTypeDef:
    config: HealthCheckConfigTypeDef = {
        "Type": settings["type"],
        "FullyQualifiedDomainName": settings["fqdn"],
        "Port": settings["port"],
        "ResourcePath": settings["resourcePath"],
        "RequestInterval": settings["requestInterval"],
        "FailureThreshold": settings["failureThreshold"],
        "MeasureLatency": settings["measureLatency"],
    }
    if settings["type"].startswith("HTTPS"):
        config["EnableSNI"] = settings["enableSNI"]
    if settings["regions"]:
        config["Regions"] = settings["regions"]
    return config


def _status(r53: Route53Client, check_id: str) -> str:
    """Route 53's verdict from its checkers' last reports."""
    observations = r53.get_health_check_status(HealthCheckId=check_id).get("HealthCheckObservations", [])
    if not observations:
        return "Unknown"
    healthy = sum(
        1 for o in observations if str(o.get("StatusReport", {}).get("Status", "")).lower().startswith("success")
    )
    return "Healthy" if healthy / len(observations) > HEALTHY_SHARE else "Unhealthy"


class HealthCheckKind(ResourceKind[HealthCheckProps]):
    props = HealthCheckProps
    # Above the zone, below the records that name the checks: records go first.
    delete_rank = 20

    def __init__(self, name_prefix: str = "", orphan_scope: str = "", *, read_status: bool = True) -> None:
        """`read_status`: read each desired check's status (a call per check and resync)."""
        super().__init__(name_prefix, orphan_scope)
        self.read_status = read_status

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[HealthCheckProps]]) -> list[Observed]:
        r53 = _client(ctx)
        prefixes = {d.key: health_check_reference_prefix(ctx.selector, d.key, d.properties) for d in desired}
        workspace = _workspace_prefix(ctx.selector)
        current: dict[str, list[tuple[HealthCheckTypeDef, dict[str, str]]]] = defaultdict(list)
        stale: dict[str, list[tuple[HealthCheckTypeDef, dict[str, str]]]] = defaultdict(list)
        found: list[Observed] = []
        with _route53_errors(f"observe {self.kind}"):
            pages = r53.get_paginator("list_health_checks").paginate(PaginationConfig={"PageSize": HEALTH_CHECK_PAGE})
            checks = [
                c for page in pages for c in page.get("HealthChecks", []) if c["CallerReference"].startswith(workspace)
            ]
            tags = _tags_of(r53, "healthcheck", [c["Id"] for c in checks])
            for check in checks:
                check_tags = tags.get(check["Id"], {})
                key = self._key(check, check_tags, ctx.selector, prefixes)
                if key is None:
                    continue
                if key not in prefixes:
                    found.append(self._observed(key, check, check_tags))
                elif check["CallerReference"].startswith(prefixes[key]):
                    current[key].append((check, check_tags))
                else:
                    stale[key].append((check, check_tags))
            for key in prefixes:
                # Tagged first: of two checks a crash left, the complete one is kept.
                keep = sorted(current[key], key=lambda pair: (not pair[1], pair[0]["CallerReference"]))
                for index, (check, check_tags) in enumerate(keep):
                    status = _status(r53, check["Id"]) if self.read_status and index == 0 else None
                    found.append(self._observed(key, check, check_tags, status))
                for check, check_tags in stale[key]:
                    # A second resource of the key is a duplicate, deleted after the writes; alone, it must not
                    # be compared with a spec it can never match, so it goes under a key nobody wants.
                    found.append(self._observed(key if keep else f"{key} (replaced {check['Id']})", check, check_tags))
        return found

    def _key(
        self,
        check: HealthCheckTypeDef,
        tags: Mapping[str, str],
        selector: Mapping[str, str],
        prefixes: Mapping[str, str],
    ) -> str | None:
        """The entry a check of the workspace belongs to; None for one that is not managed (retained)."""
        untracked = f"{self.orphan_scope}(untracked {check['Id']})"
        if tags:
            return (tags.get(KEY) or untracked) if matches(tags, selector) else None
        # No tags at all: a create that crashed before tagging. Its reference names the entry.
        reference = check["CallerReference"]
        return next((key for key, prefix in prefixes.items() if reference.startswith(prefix)), untracked)

    def create(self, ctx: KindContext, desired: Desired[HealthCheckProps]) -> Observed:
        _literal(desired)
        r53 = _client(ctx)
        settings = _check_settings(desired.properties)
        prefix = health_check_reference_prefix(ctx.selector, desired.key, desired.properties)
        what = f"create {self.kind} {desired.name}"
        with _route53_errors(what):
            for attempt in range(1, REFERENCE_ATTEMPTS + 1):
                reference = f"{prefix}{attempt}"
                try:
                    check = r53.create_health_check(
                        CallerReference=reference, HealthCheckConfig=_check_config(settings)
                    )
                except ClientError as exc:
                    if error_code(exc) != "HealthCheckAlreadyExists":
                        raise
                    # Used by a check still there (with other settings: AWS returns it when they are the same)
                    # or by one deleted since; the first is this entry's, the second frees the next reference.
                    pages = r53.get_paginator("list_health_checks").paginate()
                    same = [
                        c for page in pages for c in page.get("HealthChecks", []) if c["CallerReference"] == reference
                    ]
                    if not same:
                        continue
                    existing = same[0]
                    tags = _tags_of(r53, "healthcheck", [existing["Id"]]).get(existing["Id"], {})
                    observed = self._observed(desired.key, existing, tags)
                    return self.update(ctx, desired, observed, self.compare(desired, observed))
                tags = _retag(r53, "healthcheck", check["HealthCheck"]["Id"], desired.tags, {})
                return self._observed(desired.key, check["HealthCheck"], tags)
        raise TerminalError(
            "CallerReferencesUsed",
            f"{what}: the {REFERENCE_ATTEMPTS} references {prefix}1.. were all used by earlier checks; "
            "rename the entry's key",
        )

    def update(
        self, ctx: KindContext, desired: Desired[HealthCheckProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        _literal(desired)
        r53 = _client(ctx)
        want, have = _check_settings(desired.properties), observed.properties
        fixed = [name for name in FIXED_CHECK_SETTINGS if want[name] != have[name]]
        what = f"update {self.kind} {observed.id}"
        if fixed:  # observe keeps checks of other fixed settings apart; reaching here is a bug
            raise TerminalError("ImmutableFieldChanged", f"{what}: {', '.join(fixed)} cannot change in place")
        with _route53_errors(what):
            if any(want[name] != have[name] for name in MUTABLE_CHECK_SETTINGS):
                # Every mutable setting is sent, the regions too: an update without them may reset them.
                config: Mapping[str, Any] = _check_config(want)
                request: dict[str, Any] = {
                    "HealthCheckId": observed.id,
                    "HealthCheckVersion": observed.private["version"],
                    **{name: value for name, value in config.items() if name not in FIXED_CHECK_CONFIG},
                }
                if not want["regions"] and have["regions"]:
                    request["ResetElements"] = ["Regions"]
                answer = r53.update_health_check(**request)["HealthCheck"]
                observed.private["version"] = answer.get("HealthCheckVersion", observed.private["version"])
                observed.properties.update(want)
            observed.tags = _retag(r53, "healthcheck", observed.id, desired.tags, observed.tags)
        observed.key = desired.key
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        r53 = _client(ctx)
        with _route53_errors(f"delete {self.kind} {observed.id}"):
            try:
                r53.delete_health_check(HealthCheckId=observed.id)
            except ClientError as exc:
                if not _gone(exc):
                    raise

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        with _route53_errors(f"retain {self.kind} {observed.id}"):
            _retain(_client(ctx), "healthcheck", observed.id, observed.tags)

    def compare(self, desired: Desired[HealthCheckProps], observed: Observed) -> list[FieldDiff]:
        want = _check_settings(desired.properties)
        diffs = [
            FieldDiff(name, observed.properties.get(name), value)
            for name, value in want.items()
            if normalise(observed.properties.get(name)) != normalise(value)
        ]
        return diffs + _tag_diffs(desired, observed)

    def _observed(
        self, key: str, check: HealthCheckTypeDef, tags: Mapping[str, str], status: str | None = None
    ) -> Observed:
        check_id = check["Id"]
        outputs = {"id": check_id, "status": status}
        private = {"version": check.get("HealthCheckVersion", 1), "reference": check["CallerReference"]}
        properties = _observed_settings(check["HealthCheckConfig"])
        return Observed(key, self.kind, check_id, properties, dict(tags), outputs, private)


# -- record set groups -----------------------------------------------------------------------------


def _record(spec: Mapping[str, Any], where: str, owner: str) -> dict[str, Any]:
    """A desired record in the shape observe reports; a malformed one is a layer bug."""
    sid = spec.get("setIdentifier")
    if not isinstance(sid, str) or not sid.startswith(owner) or len(sid) > 128:
        raise ValueError(f"{where}: setIdentifier {sid!r} must start with {owner!r} (at most 128 characters)")
    record: dict[str, Any] = {"setIdentifier": sid, "type": str(spec.get("type") or "A").upper()}
    alias = spec["alias"]
    record["alias"] = {
        "dnsName": _dns(alias["dnsName"]),
        "hostedZoneId": alias["hostedZoneId"],
        "evaluateTargetHealth": bool(alias["evaluateTargetHealth"]),
    }
    record["healthCheckId"] = spec.get("healthCheckId") or None
    routing = [name for name in ROUTING if spec.get(name) is not None]
    if len(routing) != 1:
        raise ValueError(f"{where}: record {sid} needs exactly one of {', '.join(ROUTING)}, not {routing}")
    policy = routing[0]
    if policy == "geoLocation":
        location = dict(spec[policy])
        unknown = set(location) - set(GEO_FIELDS)
        if unknown or not location:
            raise ValueError(f"{where}: record {sid} geoLocation takes {sorted(GEO_FIELDS)}, not {sorted(unknown)}")
        record[policy] = {name: str(value) for name, value in location.items() if value}
    elif policy == "failover":
        record[policy] = str(spec[policy]).upper()
    else:
        record[policy] = str(spec[policy])
    return record


def _observed_record(rr: ResourceRecordSetOutputTypeDef) -> dict[str, Any]:
    """A record as AWS has it: one of ours without an alias (written by hand) is reported with its
    values, so it never matches a desired one."""
    record: dict[str, Any] = {"setIdentifier": rr.get("SetIdentifier"), "type": rr["Type"]}
    if "AliasTarget" in rr:
        target = rr["AliasTarget"]
        record["alias"] = {
            "dnsName": dns_name(target["DNSName"]),
            "hostedZoneId": target["HostedZoneId"],
            "evaluateTargetHealth": bool(target["EvaluateTargetHealth"]),
        }
    else:
        record["ttl"] = rr.get("TTL")
        record["values"] = sorted(v["Value"] for v in rr.get("ResourceRecords", []))
    record["healthCheckId"] = rr.get("HealthCheckId") or None
    if "GeoLocation" in rr:
        location: Mapping[str, Any] = rr["GeoLocation"]
        record["geoLocation"] = {name: location[field] for name, field in GEO_FIELDS.items() if location.get(field)}
    if "Region" in rr:
        record["region"] = rr["Region"]
    if "Failover" in rr:
        record["failover"] = rr["Failover"]
    # Routing of a kind the operator never writes: reported, so such a record never matches a desired one.
    fields: Mapping[str, Any] = rr
    other = {field: fields[field] for field in OTHER_ROUTING if field in fields}
    if other:
        record["otherRouting"] = other
    return record


def _to_aws(name: str, record: Mapping[str, Any]) -> dict[str, Any]:
    rr: dict[str, Any] = {"Name": name, "Type": record["type"], "SetIdentifier": record["setIdentifier"]}
    alias = record["alias"]
    rr["AliasTarget"] = {
        "DNSName": alias["dnsName"],
        "HostedZoneId": alias["hostedZoneId"],
        "EvaluateTargetHealth": alias["evaluateTargetHealth"],
    }
    if record.get("healthCheckId"):
        rr["HealthCheckId"] = record["healthCheckId"]
    if "geoLocation" in record:
        rr["GeoLocation"] = {GEO_FIELDS[name]: value for name, value in record["geoLocation"].items()}
    if "region" in record:
        rr["Region"] = record["region"]
    if "failover" in record:
        rr["Failover"] = record["failover"]
    return rr


def _ident(record: Mapping[str, Any]) -> tuple[str, str]:
    return str(record["type"]), str(record["setIdentifier"])


def _records_at(r53: Route53Client, zone_id: str, name: str | None, owner: str) -> list[ResourceRecordSetOutputTypeDef]:
    """The operator's records (set identifiers starting with `owner`) at `name`, listed from the name on
    until a record of another name; with `name` None, those of the whole zone."""
    ours: list[ResourceRecordSetOutputTypeDef] = []
    request: dict[str, Any] = {"HostedZoneId": zone_id, "MaxItems": RECORD_PAGE}
    if name is not None:
        request["StartRecordName"] = name
    starts: set[tuple[str, str, str]] = set()
    while True:
        page = r53.list_resource_record_sets(**request)
        for rr in page.get("ResourceRecordSets", []):
            if name is not None and dns_name(rr["Name"]) != name:
                return ours
            if str(rr.get("SetIdentifier", "")).startswith(owner):
                ours.append(rr)
        next_name = page.get("NextRecordName")
        if not page.get("IsTruncated") or not next_name or (name is not None and dns_name(next_name) != name):
            return ours
        start = (next_name, str(page.get("NextRecordType", "")), str(page.get("NextRecordIdentifier", "")))
        if start in starts:
            raise RetryableError("RecordListingStuck", f"listing records {name} in {zone_id} repeats page {start}")
        starts.add(start)
        request = {"HostedZoneId": zone_id, "StartRecordName": start[0], "MaxItems": RECORD_PAGE}
        if start[1]:
            request["StartRecordType"] = start[1]
        if start[2]:
            request["StartRecordIdentifier"] = start[2]


def _records_unless_gone(
    r53: Route53Client, zone_id: str, name: str | None, owner: str
) -> list[ResourceRecordSetOutputTypeDef]:
    """`_records_at`, with none for a zone deleted meanwhile."""
    try:
        return _records_at(r53, zone_id, name, owner)
    except ClientError as exc:
        if _gone(exc):
            return []
        raise


def _changes(
    name: str, have: Sequence[ResourceRecordSetOutputTypeDef], want: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One batch: DELETE, with the values AWS listed, every record not wanted exactly as it is, then
    CREATE every wanted record not there exactly as it is."""
    current = {_ident(_observed_record(rr)): (rr, _observed_record(rr)) for rr in have}
    wanted = {_ident(record): record for record in want}
    deletes = [
        {"Action": "DELETE", "ResourceRecordSet": dict(rr)}
        for ident, (rr, record) in sorted(current.items())
        if normalise(wanted.get(ident)) != normalise(record)
    ]
    creates = [
        {"Action": "CREATE", "ResourceRecordSet": _to_aws(name, record)}
        for ident, record in sorted(wanted.items())
        if ident not in current or normalise(current[ident][1]) != normalise(record)
    ]
    return deletes + creates


def _after(have: Sequence[ResourceRecordSetOutputTypeDef], changes: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The records at the name once the batch is applied."""
    deleted = {_ident(_observed_record(c["ResourceRecordSet"])) for c in changes if c["Action"] == "DELETE"}
    kept = [rr for rr in have if _ident(_observed_record(rr)) not in deleted]
    return kept + [c["ResourceRecordSet"] for c in changes if c["Action"] == "CREATE"]


class RecordSetGroupKind(ResourceKind[RecordSetGroupProps]):
    props = RecordSetGroupProps
    # The highest of the three: records name the health checks and live in the zone.
    delete_rank = 30
    immutable = frozenset({"hostedZoneId", "name"})
    replaceable = frozenset({"name"})  # the records of the new name first, then the old name's go

    def __init__(
        self,
        name_prefix: str = OURS,
        orphan_scope: str = "",
        *,
        zones: Mapping[str, str] | None = None,
        wait: WaitPolicy | None = None,
    ) -> None:
        """`name_prefix` starts the set identifier of every record of the operator's in the zones
        (`cutlass-` when empty: an empty prefix would claim everyone's): give each environment its
        own. `zones` (zone name to the key of its zone entry) are listed whole, and every name there
        holding records of the prefix that no entry wants is an orphan (`<orphan_scope>(untracked
        <name>)`), deleted by the engine: a name renamed, a region's name no longer routed."""
        super().__init__(name_prefix or OURS, orphan_scope)
        self.zones = dict(zones or {})
        # Route 53 propagates a change to its servers within about a minute.
        self.wait = wait or WaitPolicy(timeout=180.0, interval=10.0)

    @classmethod
    def scoped(cls, scope: Scope, orphan_scope: str) -> Self:
        zones = scope.zones if isinstance(scope, RecordsScope) else {}
        return cls(scope.name_prefix, orphan_scope, zones=zones)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[RecordSetGroupProps]]) -> list[Observed]:
        r53 = _client(ctx)
        found: list[Observed] = []
        seen: dict[tuple[str, str], str] = {}
        zones: dict[str, str | None] = {}
        with _route53_errors(f"observe {self.kind}"):
            scanned = self._scan(r53, ctx, zones)
        for d in desired:
            name = dns_name(str(d.properties["name"]))
            self._records(d)  # a malformed entry fails here, before anything is written
            with _route53_errors(f"observe {self.kind} {name}"):
                zone_id = self._zone_of(r53, ctx, d, name, zones)
                if zone_id is None:
                    continue
                if (zone_id, name) in seen:
                    raise ValueError(f"{d.key} and {seen[zone_id, name]} manage the records of {name} in one zone")
                seen[zone_id, name] = d.key
                if zone_id in scanned:
                    records = scanned[zone_id].pop(name, [])
                else:
                    records = _records_unless_gone(r53, zone_id, name, self.name_prefix)
            if records:
                found.append(self._observed(d.key, zone_id, name, records, None))
        for zone_id, names in sorted(scanned.items()):
            for name, records in sorted(names.items()):
                found.append(self._observed(f"{self.orphan_scope}(untracked {name})", zone_id, name, records, None))
        return found

    def _scan(
        self, r53: Route53Client, ctx: KindContext, zones: dict[str, str | None]
    ) -> dict[str, dict[str, list[ResourceRecordSetOutputTypeDef]]]:
        """The records of the name prefix in each zone of `zones`, by zone id and name."""
        scanned: dict[str, dict[str, list[ResourceRecordSetOutputTypeDef]]] = {}
        for zone_name, zone_key in sorted(self.zones.items()):
            zone_id = self._find_zone(r53, ctx, dns_name(zone_name), zone_key, zones)
            if zone_id is None:
                continue
            by_name = scanned.setdefault(zone_id, {})
            for rr in _records_unless_gone(r53, zone_id, None, self.name_prefix):
                by_name.setdefault(dns_name(rr["Name"]), []).append(rr)
        return scanned

    def _zone_of(
        self,
        r53: Route53Client,
        ctx: KindContext,
        desired: Desired[RecordSetGroupProps],
        name: str,
        found: dict[str, str | None],
    ) -> str | None:
        """The entry's zone id; for a `Ref`, the zone the zone kind would choose for the `Ref`'s key."""
        zone = desired.properties.get("hostedZoneId")
        if isinstance(zone, str):
            return _zone_id(zone)
        if not isinstance(zone, Ref):
            raise ValueError(f"{desired.key}: hostedZoneId must be a zone id or a Ref to one")
        zone_name = desired.properties.get("zoneName")
        if not isinstance(zone_name, str):
            raise ValueError(
                f"{desired.key}: hostedZoneId is a Ref, so zoneName must name the zone: observe needs the zone "
                "before the reference is resolved"
            )
        zone_name = dns_name(zone_name)
        if not name.endswith(f".{zone_name}") and name != zone_name:
            raise ValueError(f"{desired.key}: {name} is not in zone {zone_name}")
        return self._find_zone(r53, ctx, zone_name, zone.key, found)

    def _find_zone(
        self, r53: Route53Client, ctx: KindContext, zone_name: str, zone_key: str, found: dict[str, str | None]
    ) -> str | None:
        """The zone the zone kind would choose for the entry `zone_key`; `found` remembers the
        answers of one observe, since every group of a zone asks the same."""
        if zone_key in found:
            return found[zone_key]
        candidates = _public_zones(r53, zone_name)
        if len(candidates) > 1:
            tags = _tags_of(r53, "hostedzone", [_zone_id(z["Id"]) for z in candidates])
            candidates, _ = _choose_zones(candidates, tags, ctx.selector, zone_key, zone_name)
        found[zone_key] = _zone_id(candidates[0]["Id"]) if candidates else None
        return found[zone_key]

    def create(self, ctx: KindContext, desired: Desired[RecordSetGroupProps]) -> Observed:
        _literal(desired)
        r53 = _client(ctx)
        zone_id, name = _zone_id(str(desired.properties["hostedZoneId"])), dns_name(str(desired.properties["name"]))
        # Listed afresh: the zone was unknown when observing, or records of ours appeared since.
        with _route53_errors(f"create {self.kind} {name}"):
            have = _records_at(r53, zone_id, name, self.name_prefix)
        return self._write(r53, desired.key, zone_id=zone_id, name=name, have=have, want=self._records(desired))

    def update(
        self, ctx: KindContext, desired: Desired[RecordSetGroupProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        _literal(desired)
        r53 = _client(ctx)
        zone_id, name = _zone_id(str(desired.properties["hostedZoneId"])), dns_name(str(desired.properties["name"]))
        if (zone_id, name) != (observed.properties["hostedZoneId"], observed.properties["name"]):
            # The plan could not tell while the zone id was a reference.
            raise TerminalError(
                "ImmutableFieldChanged",
                f"{self.kind} {desired.name}: the records are in {observed.id}, not {zone_id}/{name}; restore the "
                "previous zone, or remove the entry (deleting the records) and add it anew",
            )
        have = observed.private["raw"]
        return self._write(r53, desired.key, zone_id=zone_id, name=name, have=have, want=self._records(desired))

    def _write(
        self,
        r53: Route53Client,
        key: str,
        *,
        zone_id: str,
        name: str,
        have: Sequence[ResourceRecordSetOutputTypeDef],
        want: list[dict[str, Any]],
    ) -> Observed:
        changes = _changes(name, have, want)
        change_id = self._submit(r53, zone_id, name, changes, f"write {self.kind} {name}") if changes else None
        return self._observed(key, zone_id, name, _after(have, changes), change_id)

    def _submit(self, r53: Route53Client, zone_id: str, name: str, changes: list[dict[str, Any]], what: str) -> str:
        """One ChangeResourceRecordSets, then a bounded wait until every Route 53 server answers with it."""
        with _route53_errors(what):
            info = r53.change_resource_record_sets(
                HostedZoneId=zone_id,
                # Built as plain dictionaries: the DELETEs are the listed records as AWS returned them.
                ChangeBatch={"Comment": f"cutlass {name}", "Changes": cast("list[ChangeTypeDef]", changes)},
            )["ChangeInfo"]
            change_id = _zone_id(info["Id"])
            if info["Status"] != "INSYNC":
                wait_until(
                    lambda: r53.get_change(Id=change_id)["ChangeInfo"]["Status"] == "INSYNC",
                    self.wait,
                    what,
                    "ChangePropagating",
                )
        return change_id

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        r53 = _client(ctx)
        zone_id, name = str(observed.properties["hostedZoneId"]), str(observed.properties["name"])
        what = f"delete {self.kind} {observed.id}"
        with _route53_errors(what):
            have = _records_unless_gone(r53, zone_id, name, self.name_prefix)  # none: they went with their zone
        if have:
            self._submit(r53, zone_id, name, [{"Action": "DELETE", "ResourceRecordSet": dict(rr)} for rr in have], what)

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        """Records carry no mark of the operator but their set identifiers: they stay as they are."""

    def compare(self, desired: Desired[RecordSetGroupProps], observed: Observed) -> list[FieldDiff]:
        """Zone and name, then one difference per record (`records[A cutlass-eu]`). A zone id that is still
        a reference is not judged here (update checks it once resolved)."""
        diffs = []
        zone = desired.properties.get("hostedZoneId")
        if isinstance(zone, str) and _zone_id(zone) != observed.properties["hostedZoneId"]:
            diffs.append(FieldDiff("hostedZoneId", observed.properties["hostedZoneId"], _zone_id(zone)))
        name = dns_name(str(desired.properties["name"]))
        if name != observed.properties["name"]:
            diffs.append(FieldDiff("name", observed.properties["name"], name))
        want = {_ident(r): r for r in self._records(desired)}
        have = {_ident(r): r for r in observed.properties["records"]}
        for ident in sorted(set(want) | set(have)):
            if normalise(want.get(ident)) != normalise(have.get(ident)):
                diffs.append(FieldDiff(f"records[{ident[0]} {ident[1]}]", have.get(ident), want.get(ident)))
        return diffs

    def _records(self, desired: Desired[RecordSetGroupProps]) -> list[dict[str, Any]]:
        specs = desired.properties.get("records")
        if not isinstance(specs, list | tuple) or not specs:
            raise ValueError(f"{desired.key}: records must be a non-empty list (remove the entry to remove them)")
        records = [_record(spec, desired.key, self.name_prefix) for spec in specs]
        idents = [_ident(r) for r in records]
        if len(set(idents)) != len(idents):
            raise ValueError(f"{desired.key}: a set identifier is repeated for one record type")
        return records

    def _observed(self, key: str, zone_id: str, name: str, raw: Sequence[Any], change_id: str | None) -> Observed:
        records = sorted((_observed_record(rr) for rr in raw), key=_ident)
        group_id = f"{zone_id}/{name}"
        properties: dict[str, Any] = {"hostedZoneId": zone_id, "name": name, "records": records}
        outputs = {"id": group_id, "changeId": change_id, "records": len(records)}
        return Observed(key, self.kind, group_id, properties, {}, outputs, {"raw": list(raw)})
