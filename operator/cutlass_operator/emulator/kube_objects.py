"""What an API server does to an object on a write, as pure functions over plain dicts.

These are the rules kopf depends on: a fresh `resourceVersion` on every write (kopf's JSON-patches
test it), `generation` that moves only when the desired state moves, the status subresource
splitting `.status` from the rest, and patch semantics per content type. Everything here is
synchronous and stateless; `kube_server` owns the storage and the order of events.
"""

from __future__ import annotations

import base64
import copy
import datetime
import random
import re
from collections.abc import Mapping
from typing import Any

import jsonpatch
import kmock
import yaml

Body = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# The metadata a client can never change with an update: the server restores it from the old object.
_SERVER_OWNED_METADATA = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)

# The alphabet and length the API server uses for `generateName` suffixes.
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def api_error(status: int, reason: str, message: str, **details: Any) -> kmock.KubernetesError:
    """An error rendered as a `Status` object, as real clients (kopf, kubernetes) parse it."""
    return kmock.KubernetesError(status=status, reason=reason, message=message, details=details)


def not_found(plural: str, name: str | None = None) -> kmock.KubernetesError:
    if name is None:
        return api_error(404, "NotFound", "the server could not find the requested resource")
    return api_error(404, "NotFound", f'{plural} "{name}" not found', name=name, kind=plural)


def timestamp(now: datetime.datetime | None = None) -> str:
    """RFC 3339 with whole seconds and a `Z`, as the API server writes timestamps."""
    moment = now or datetime.datetime.now(tz=datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generated_name(prefix: str) -> str:
    return prefix + "".join(random.choices(_NAME_SUFFIX_ALPHABET, k=5))


def meta(body: Mapping[str, Any]) -> dict[str, Any]:
    value = body.get("metadata")
    return value if isinstance(value, dict) else {}


# --- patches --------------------------------------------------------------------------------------


def content_type(headers: Mapping[str, str]) -> str:
    for key, value in headers.items():
        if key.lower() == "content-type":
            return value.split(";", 1)[0].strip().lower()
    return ""


def apply_patch(current: Body, kind: str, text: str, data: Any) -> Body:
    """The object after a PATCH of the given content type, before any server-side rules."""
    if kind == JSON_PATCH:
        return json_patch(current, data)
    if kind in {MERGE_PATCH, STRATEGIC_MERGE_PATCH}:
        # Strategic merge differs only for lists with merge keys, which no kopf patch uses.
        return _as_body(merge_patch(current, _require_mapping(data)))
    if kind == APPLY_PATCH:
        return _as_body(merge_patch(current, parse_apply_body(text)))
    raise api_error(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {kind}")


def parse_apply_body(text: str) -> Body:
    """Server-side apply sends YAML (or JSON, which is YAML too)."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise api_error(400, "BadRequest", f"error decoding YAML: {e}") from e
    return _require_mapping(loaded)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(current: Body, ops: Any) -> Body:
    """RFC 6902; a failed `test` op is 422, as kopf's optimistic-concurrency patches expect."""
    if not isinstance(ops, list):
        raise api_error(400, "BadRequest", "a JSON patch must be a list of operations")
    try:
        patched = jsonpatch.JsonPatch(ops).apply(current, in_place=False)
    except jsonpatch.JsonPatchTestFailed as e:
        raise api_error(422, "Invalid", f"the server rejected our request due to an error: {e}") from e
    except (jsonpatch.JsonPatchConflict, jsonpatch.JsonPointerException) as e:
        raise api_error(422, "Invalid", f"the server rejected our request due to an error: {e}") from e
    except jsonpatch.InvalidJsonPatch as e:
        raise api_error(400, "BadRequest", f"invalid JSON patch: {e}") from e
    return _as_body(patched)


def _require_mapping(data: Any) -> Body:
    if not isinstance(data, dict):
        raise api_error(400, "BadRequest", "the request body must be a JSON object")
    return data


def _as_body(value: Any) -> Body:
    if not isinstance(value, dict):
        raise api_error(422, "Invalid", "the patched object is not an object")
    return value


# --- creating -------------------------------------------------------------------------------------


def prepare_create(
    body: Any,
    *,
    namespace: str | None,
    uid: str,
    resource_version: str,
    has_generation: bool,
    has_status_subresource: bool,
    now: str,
) -> Body:
    """Stamp what the server owns on a new object; the caller has resolved the name."""
    obj = copy.deepcopy(_require_mapping(body))
    metadata = dict(meta(obj))
    for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "generation"):
        metadata.pop(key, None)
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata.update(uid=uid, resourceVersion=resource_version, creationTimestamp=now)
    if has_generation:
        metadata["generation"] = 1
    obj["metadata"] = metadata
    if has_status_subresource:
        # A real server drops `.status` on create when the status subresource owns it.
        obj.pop("status", None)
    return obj


def check_create_namespace(body: Any, url_namespace: str | None, namespaced: bool) -> None:
    declared = meta(_require_mapping(body)).get("namespace")
    if namespaced and url_namespace is None:
        raise not_found("")
    if not namespaced and url_namespace is not None:
        raise not_found("")
    if namespaced and declared and declared != url_namespace:
        raise api_error(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        )


# --- updating -------------------------------------------------------------------------------------


def prepare_update(old: Body, candidate: Body, *, subresource: str | None, has_status_subresource: bool) -> Body:
    """Apply the server's update rules to what the client asked for (the patched or PUT body).

    Raises 409 on a stale `resourceVersion` in the body and 422 on finalizers added during
    deletion. The result keeps the old `resourceVersion`; the caller stamps a new one if changed.
    """
    _check_resource_version(old, candidate)
    if subresource == "status":
        new = _only_status_from(old, candidate)
    else:
        new = copy.deepcopy(candidate)
        if has_status_subresource:
            _copy_key(old, new, "status")
    _restore_server_metadata(old, new)
    _check_no_new_finalizers_while_deleting(old, new)
    if has_status_subresource or subresource == "status":
        changed = _desired_state(old, skip_status=True) != _desired_state(new, skip_status=True)
    else:
        changed = _desired_state(old, skip_status=False) != _desired_state(new, skip_status=False)
    if changed and "generation" in meta(old):
        new["metadata"]["generation"] = meta(old)["generation"] + 1
    return new


def _check_resource_version(old: Body, candidate: Body) -> None:
    wanted = meta(candidate).get("resourceVersion")
    if wanted and wanted != meta(old).get("resourceVersion"):
        name = meta(old).get("name")
        raise api_error(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again",
            name=name,
        )


def _only_status_from(old: Body, candidate: Body) -> Body:
    # Writes to /status change `.status` only; the client's metadata and spec are ignored.
    new = copy.deepcopy(old)
    _copy_key(candidate, new, "status")
    return new


def _copy_key(source: Body, target: Body, key: str) -> None:
    if key in source:
        target[key] = copy.deepcopy(source[key])
    else:
        target.pop(key, None)


def _restore_server_metadata(old: Body, new: Body) -> None:
    metadata = dict(meta(new))
    for key in _SERVER_OWNED_METADATA:
        if key in meta(old):
            metadata[key] = meta(old)[key]
        else:
            metadata.pop(key, None)
    metadata["resourceVersion"] = meta(old).get("resourceVersion")
    new["metadata"] = metadata
    new["apiVersion"], new["kind"] = old.get("apiVersion"), old.get("kind")


def _check_no_new_finalizers_while_deleting(old: Body, new: Body) -> None:
    if not meta(old).get("deletionTimestamp"):
        return
    added = set(meta(new).get("finalizers") or []) - set(meta(old).get("finalizers") or [])
    if added:
        raise api_error(
            422,
            "Invalid",
            f"metadata.finalizers: Forbidden: no new finalizers can be added if the object is being "
            f"deleted, found new finalizers {sorted(added)!r}",
        )


def _desired_state(obj: Body, *, skip_status: bool) -> Body:
    """What `generation` tracks: everything but metadata (and status when it is a subresource)."""
    skipped = {"metadata", "status"} if skip_status else {"metadata"}
    return {key: value for key, value in obj.items() if key not in skipped}


def is_unchanged(old: Body, new: Body) -> bool:
    """A no-op write: the real server stores nothing, keeps the version and sends no event."""
    return old == new


def stamp_version(obj: Body, resource_version: str) -> Body:
    stamped = dict(obj)
    stamped["metadata"] = dict(meta(obj), resourceVersion=resource_version)
    return stamped


def is_released(obj: Body) -> bool:
    """Marked for deletion and no finalizer holds it any more: the server removes it now."""
    return bool(meta(obj).get("deletionTimestamp")) and not meta(obj).get("finalizers")


def mark_deleted(obj: Body, *, resource_version: str, now: str) -> Body:
    marked = copy.deepcopy(obj)
    metadata = marked["metadata"]
    metadata.update(deletionTimestamp=now, deletionGracePeriodSeconds=0, resourceVersion=resource_version)
    if "generation" in metadata:
        metadata["generation"] += 1  # the real server bumps it when it sets deletionTimestamp
    return marked


# --- built-in kinds -------------------------------------------------------------------------------


def normalize_secret(obj: Body) -> Body:
    """`stringData` is write-only: the server folds it into base64 `data`."""
    string_data = obj.get("stringData")
    if not string_data and "type" in obj:
        return obj
    result = dict(obj)
    result.setdefault("type", "Opaque")
    if string_data:
        encoded = {key: base64.b64encode(str(value).encode()).decode() for key, value in string_data.items()}
        result["data"] = {**(obj.get("data") or {}), **encoded}
    result.pop("stringData", None)
    return result


def normalize_namespace(obj: Body) -> Body:
    result = copy.deepcopy(obj)
    name = meta(result).get("name")
    result["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    result.setdefault("spec", {"finalizers": ["kubernetes"]})
    result.setdefault("status", {"phase": "Active"})
    return result


# --- selectors ------------------------------------------------------------------------------------

_REQUIREMENT = re.compile(
    r"""\s*(?P<neg>!?)\s*(?P<key>[\w./-]+)\s*
        (?:(?P<op>==|=|!=)\s*(?P<value>[\w./-]*)
          |\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?
        \s*(?:,|$)""",
    re.VERBOSE,
)


def matches_labels(obj: Body, selector: str | None) -> bool:
    """Equality-based and set-based label selectors, as `kubectl get -l` sends them."""
    if not selector:
        return True
    labels: dict[str, str] = meta(obj).get("labels") or {}
    position = 0
    while position < len(selector):
        found = _REQUIREMENT.match(selector, position)
        if found is None or found.end() == position:
            raise api_error(400, "BadRequest", f"unable to parse requirement: {selector!r}")
        if not _requirement_holds(labels, found):
            return False
        position = found.end()
    return True


def _requirement_holds(labels: dict[str, str], found: re.Match[str]) -> bool:
    key = found["key"]
    if found["op"]:
        equal = labels.get(key) == found["value"]
        return equal if found["op"] != "!=" else not equal
    if found["setop"]:
        values = {value.strip() for value in found["values"].split(",")}
        inside = key in labels and labels[key] in values
        return inside if found["setop"] == "in" else not inside
    return (key in labels) != bool(found["neg"])


def matches_fields(obj: Body, selector: str | None) -> bool:
    """Field selectors on any dotted path (`metadata.name=x`), equality and inequality only."""
    for requirement in filter(None, (selector or "").split(",")):
        path, op, expected = _split_field_requirement(requirement)
        actual: Any = obj
        for part in path.split("."):
            actual = actual.get(part) if isinstance(actual, dict) else None
        equal = ("" if actual is None else str(actual)) == expected
        if equal != (op != "!="):
            return False
    return True


def _split_field_requirement(requirement: str) -> tuple[str, str, str]:
    for op in ("!=", "==", "="):
        if op in requirement:
            path, expected = requirement.split(op, 1)
            return path.strip(), op, expected.strip()
    raise api_error(400, "BadRequest", f"invalid field selector: {requirement!r}")


_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def valid_name(name: Any) -> bool:
    """Object names are DNS subdomains (RFC 1123); the server rejects anything else with 422."""
    return isinstance(name, str) and len(name) <= 253 and _DNS_SUBDOMAIN.fullmatch(name) is not None
