"""moto 5.2.5 gaps in Route 53, filled in this process's backends (moto's files are untouched).

ChangeResourceRecordSets. moto judges a batch by the zone's change journal (every change ever submitted
to the zone, `FakeZone.rr_changes`) rather than by the records the zone holds now, and applies it a
change at a time:
- A CREATE equal to a change in the journal is refused ("already exists") whenever any record sorts at
  or after its name and type (the check lists the zone from there on, whatever it finds), so a record
  deleted earlier cannot be created again; a CREATE of a record the zone holds, with other values, is
  accepted and makes a second record of the same name, type and set identifier.
- A DELETE passes when the journal ever had a CREATE or UPSERT of its name and type with its TTL and
  values (alias targets, set identifiers and routing are not compared; otherwise moto answers
  InvalidInput), so a record already deleted is "deleted" again and one that changed since is deleted
  with stale values. It then removes every record with its SetIdentifier, whatever their name and type,
  or, without one, every record of the name and type.
- A change that fails (a name outside the zone) leaves the changes before it applied.
AWS judges each change, in order, against the zone's current records as the changes before it left them
(so DELETE then CREATE of one record in a batch replaces it), and applies a batch whole or not at all. A
record is its name, type and set identifier: CREATE refuses one the zone holds; DELETE needs one the zone
holds, with the same values (TTL, values in any order, alias target, routing, health check), and removes
only it; both refusals are InvalidChangeBatch. Every change carries an answer (an alias target, or a TTL
and values; moto asked it only of a DELETE missing from its journal). The record set group kind depends
on all of this: it replaces a name's records by one batch of DELETEs (with the values it listed) and
CREATEs, so reverting a routing change (going back to records the zone had before) failed in the
emulator, and a DELETE of one set identifier took other names' records.

CreateHostedZone and CreateHealthCheck ignore the CallerReference and always make a new zone or check.
In AWS a caller reference is good for one zone or check of the account, ever: a zone's repeated
reference fails with HostedZoneAlreadyExists; a check's returns the existing check when the settings
are the same and fails with HealthCheckAlreadyExists when they differ; the reference of a deleted zone
or check fails with the AlreadyExists error. The zone and health check kinds rely on this to retry a
create whose answer was lost, or that crashed before tagging, without making a second zone or check.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from typing import Any

from moto.route53.exceptions import DnsNameInvalidForZone, InvalidActionValue, InvalidInput, Route53ClientError
from moto.route53.models import FakeZone, HealthCheck, RecordSet, Route53Backend
from moto.route53.utils import validate_domain_name

_LOCK = threading.Lock()
_INSTALLED = threading.Event()
# The moto server answers each request in its own thread: a batch reads, checks and replaces a zone's
# records, and a create checks a caller reference before making the zone or check, each as one step.
_WRITES = threading.RLock()

ACTIONS = ("CREATE", "UPSERT", "DELETE")
# Kept on each moto backend (one per account and partition), so moto's reset forgets them with the rest.
RETIRED = "cutlass_retired_references"

# A record's identity in a zone: (lower-case name with its trailing dot, type, set identifier or None).
RecordKey = tuple[str, str, str | None]

# moto's own implementations, taken before install_route53_gaps() replaces them.
_moto_create_hosted_zone = Route53Backend.create_hosted_zone
_moto_delete_hosted_zone = Route53Backend.delete_hosted_zone
_moto_create_health_check = Route53Backend.create_health_check
_moto_delete_health_check = Route53Backend.delete_health_check


def install_route53_gaps() -> None:
    """Patch moto (in this process); calling it again changes nothing."""
    with _LOCK:
        if _INSTALLED.is_set():
            return
        Route53Backend.change_resource_record_sets = _change_resource_record_sets  # type: ignore[method-assign]
        Route53Backend.create_hosted_zone = _create_hosted_zone  # type: ignore[method-assign]
        Route53Backend.delete_hosted_zone = _delete_hosted_zone  # type: ignore[method-assign]
        Route53Backend.create_health_check = _create_health_check  # type: ignore[method-assign]
        Route53Backend.delete_health_check = _delete_health_check  # type: ignore[method-assign]
        _INSTALLED.set()


# --- ChangeResourceRecordSets ---------------------------------------------------------------------


def _fqdn(name: str) -> str:
    """Route 53 compares names without regard to case or the trailing dot."""
    return name.lower().rstrip(".") + "."


def _requested_key(rrset: Mapping[str, Any]) -> RecordKey:
    identifier = rrset.get("SetIdentifier")
    return _fqdn(str(rrset["Name"])), str(rrset["Type"]), None if identifier is None else str(identifier)


def _stored_key(record: RecordSet) -> RecordKey:
    identifier = record.set_identifier
    return _fqdn(str(record.name)), str(record.type), None if identifier is None else str(identifier)


def _stored_fields(record: RecordSet) -> dict[str, Any]:
    """A stored record in the request's field names, for comparing it with a DELETE."""
    return {
        "TTL": record.ttl,
        "ResourceRecords": record.records,
        "AliasTarget": record.alias_target,
        "Weight": record.weight,
        "Region": record.region,
        "Failover": record.failover,
        "GeoLocation": record.geo_location,
        "HealthCheckId": record.health_check_id,
        "MultiValueAnswer": record.multi_value_answer,
    }


def _answer(fields: Mapping[str, Any]) -> dict[str, Any]:
    """What a DELETE must repeat, in one form for a requested and a stored record: values in any order,
    an alias name with or without its trailing dot, a TTL as a number (moto keeps the NS record's as text)."""
    ttl, weight = fields.get("TTL"), fields.get("Weight")
    alias = fields.get("AliasTarget")
    location = fields.get("GeoLocation")
    # moto stores the values as plain strings (and its SOA record as the request's {"Value": ...} shape).
    values = [value["Value"] if isinstance(value, Mapping) else value for value in fields.get("ResourceRecords") or []]
    return {
        "TTL": None if ttl is None else int(ttl),
        "ResourceRecords": sorted(str(value) for value in values),
        "AliasTarget": None
        if not alias
        else (
            str(alias.get("HostedZoneId")),
            _fqdn(str(alias.get("DNSName", ""))),
            bool(alias.get("EvaluateTargetHealth")),
        ),
        "Weight": None if weight is None else int(weight),
        "Region": fields.get("Region"),
        "Failover": fields.get("Failover"),
        "GeoLocation": None if not location else sorted((k, str(v)) for k, v in location.items() if v),
        "HealthCheckId": fields.get("HealthCheckId") or None,
    }


def _same_answer(record: RecordSet, wanted: Mapping[str, Any]) -> bool:
    stored = _stored_fields(record)
    if _answer(stored) != _answer(wanted):
        return False
    # Compared only when the DELETE names it: Terraform deletes multivalue records without it, which AWS
    # accepts by moto's account of it (moto issue 7151); the operator never writes the field.
    return "MultiValueAnswer" not in wanted or bool(wanted["MultiValueAnswer"]) == bool(stored["MultiValueAnswer"])


def _described(rrset: Mapping[str, Any]) -> str:
    """A record as AWS's InvalidChangeBatch messages name it."""
    parts = [f"name='{str(rrset['Name']).rstrip('.')}.'", f"type='{rrset['Type']}'"]
    if rrset.get("SetIdentifier") is not None:
        parts.append(f"set-identifier='{rrset['SetIdentifier']}'")
    return "[" + ", ".join(parts) + "]"


def _invalid_change_batch(message: str) -> Route53ClientError:
    # AWS lists a batch's problems in brackets: "[Tried to ... but it was not found]".
    return Route53ClientError("InvalidChangeBatch", f"[{message}]")


def _in_zone(name: str, zone_name: str) -> bool:
    """The zone's apex or a name below it (moto accepts any name ending in the zone's text)."""
    record, zone = _fqdn(name), _fqdn(zone_name)
    return record == zone or record.endswith("." + zone)


def _check_shape(action: str, rrset: Mapping[str, Any]) -> None:
    """AWS's check that a change carries an answer (moto made it only for a DELETE it found no journal entry for)."""
    if rrset.get("AliasTarget") or rrset.get("TrafficPolicyInstanceId"):
        return
    if rrset.get("TTL") is not None and rrset.get("ResourceRecords"):
        return
    raise InvalidInput(
        "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or "
        f"TrafficPolicyInstanceId], but found none in Change with [Action={action}, Name={rrset['Name']}, "
        f"Type={rrset['Type']}, SetIdentifier={rrset.get('SetIdentifier', 'null')}]"
    )


def _to_store(rrset: Mapping[str, Any]) -> dict[str, Any]:
    """The request's record set in the shape moto's RecordSet keeps (a trailing dot, values as strings)."""
    stored = copy.deepcopy(dict(rrset))  # the request's dicts are not the zone's
    stored["Name"] = str(rrset["Name"]).rstrip(".") + "."
    if "ResourceRecords" in stored:
        stored["ResourceRecords"] = [str(value["Value"]) for value in stored["ResourceRecords"]]
    return stored


def _record_set(fields: dict[str, Any]) -> RecordSet:
    # moto's models leave CloudFormation hooks abstract that moto itself never needs; it makes them the same way.
    return RecordSet(fields)  # type: ignore[abstract]


def _apply(zone: FakeZone, records: list[RecordSet], change: Mapping[str, Any]) -> None:
    """Check one change against `records` (the zone as the changes before it left them) and apply it there."""
    action = str(change.get("Action"))
    if action not in ACTIONS:
        raise InvalidActionValue(action)
    wanted: Mapping[str, Any] = change["ResourceRecordSet"]
    validate_domain_name(str(wanted["Name"]), code="InvalidChangeBatch")
    if not _in_zone(str(wanted["Name"]), str(zone.name)):
        raise DnsNameInvalidForZone(name=str(wanted["Name"]), zone_name=str(zone.name))
    _check_shape(action, wanted)
    key = _requested_key(wanted)
    at = next((i for i, record in enumerate(records) if _stored_key(record) == key), None)
    if action == "DELETE":
        if at is None:
            raise _invalid_change_batch(
                f"Tried to delete resource record set {_described(wanted)} but it was not found"
            )
        if not _same_answer(records[at], wanted):
            raise _invalid_change_batch(
                f"Tried to delete resource record set {_described(wanted)} "
                "but the values provided do not match the current values"
            )
        del records[at]
    elif action == "CREATE" and at is not None:
        raise _invalid_change_batch(f"Tried to create resource record set {_described(wanted)} but it already exists")
    elif at is None:
        records.append(_record_set(_to_store(wanted)))
    else:
        records[at] = _record_set(_to_store(wanted))  # UPSERT of a record the zone holds


def _change_resource_record_sets(self: Route53Backend, zoneid: str, change_list: list[dict[str, Any]]) -> None:
    zone = self.get_hosted_zone(zoneid)
    with _WRITES:
        records = list(zone.rrsets)
        for change in change_list:
            _apply(zone, records, change)  # raises on the first change AWS would refuse: the zone is untouched
        zone.rrsets = records


# --- caller references ----------------------------------------------------------------------------


def _retired(backend: Route53Backend, resource_type: str) -> set[str]:
    """The caller references of the account's deleted zones or checks, which AWS never takes again."""
    kept: dict[str, set[str]] = backend.__dict__.setdefault(RETIRED, {})
    return kept.setdefault(resource_type, set())


def _create_hosted_zone(
    self: Route53Backend, name: str, private_zone: bool, caller_reference: str | None = None, *args: Any, **kwargs: Any
) -> FakeZone:
    """moto's CreateHostedZone, after checking the reference (the zone's other settings pass through)."""
    with _WRITES:
        # moto makes up a reference when it is given none (CloudFormation): there is nothing to repeat.
        if caller_reference is not None and (
            caller_reference in _retired(self, "hostedzone")
            or any(zone.caller_reference == caller_reference for zone in self.zones.values())
        ):
            raise Route53ClientError(
                "HostedZoneAlreadyExists", "A hosted zone has already been created with the specified caller reference."
            )
        return _moto_create_hosted_zone(self, name, private_zone, caller_reference, *args, **kwargs)


def _delete_hosted_zone(self: Route53Backend, id_: str) -> FakeZone | None:
    with _WRITES:
        zone: FakeZone | None = _moto_delete_hosted_zone(self, id_)
        if zone is not None:
            _retired(self, "hostedzone").add(str(zone.caller_reference))
        return zone


def _settings(check: HealthCheck) -> dict[str, Any]:
    """A check's settings as CreateHealthCheck compares them (lists in any order)."""
    config = dict(check.health_check_config)
    for field in ("Regions", "ChildHealthChecks"):
        if config.get(field):
            config[field] = sorted(config[field])
    return config


def _requested_settings(caller_reference: str, health_check_args: dict[str, Any]) -> dict[str, Any]:
    """The settings a check made from the request would have (moto's defaults applied), without making it."""
    check = HealthCheck("", caller_reference, health_check_args)  # type: ignore[abstract]  # as moto makes them
    check.set_children(health_check_args.get("children") or [])
    check.set_regions(health_check_args.get("regions") or [])
    return _settings(check)


def _create_health_check(self: Route53Backend, caller_reference: str, health_check_args: dict[str, Any]) -> HealthCheck:
    with _WRITES:
        same = next((c for c in self.health_checks.values() if c.caller_reference == caller_reference), None)
        if same is not None:
            if _settings(same) == _requested_settings(caller_reference, health_check_args):
                return same  # a retried create: AWS answers with the check the first one made
            raise Route53ClientError(
                "HealthCheckAlreadyExists",
                f"A health check with the caller reference {caller_reference} already exists with other settings.",
            )
        if caller_reference in _retired(self, "healthcheck"):
            raise Route53ClientError(
                "HealthCheckAlreadyExists",
                f"The caller reference {caller_reference} was used by a health check that has been deleted.",
            )
        check: HealthCheck = _moto_create_health_check(self, caller_reference, health_check_args)
        return check


def _delete_health_check(self: Route53Backend, health_check_id: str) -> None:
    with _WRITES:
        check = self.health_checks.get(health_check_id)
        _moto_delete_health_check(self, health_check_id)
        if check is not None:
            _retired(self, "healthcheck").add(str(check.caller_reference))
