"""CustomResourceDefinitions: what a CRD object makes servable, and what its schema does to objects.

Installing a CRD is how `cutlass demo` (and `kubectl apply -f crds/`) teaches the API server the
operator's kinds, so the emulator reads the CRD the way apiextensions-apiserver does: one served
resource per served version, discovery data from `spec.names`, and the status subresource where a
version declares it. A structural schema also prunes unknown fields and fills defaults on every
write; without that, code that writes fields the schema does not declare would pass here and lose
those fields on a real cluster.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kmock

from cutlass_operator.emulator.kube_objects import Body, api_error, meta

CRD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")
_VERSION = re.compile(r"v(?P<major>\d+)(?:(?P<stage>alpha|beta)(?P<minor>\d+))?")


@dataclass(frozen=True)
class ServedVersion:
    resource: kmock.resource
    info: kmock.ResourceInfo
    schema: Mapping[str, Any] | None


def served_versions(crd: Mapping[str, Any]) -> list[ServedVersion]:
    """The resources a CRD serves; raises 422 for a CRD the real server would refuse."""
    spec = crd.get("spec") or {}
    group, names, scope = spec.get("group"), spec.get("names") or {}, spec.get("scope")
    plural, kind = names.get("plural"), names.get("kind")
    if not group or not plural or not kind or scope not in {"Namespaced", "Cluster"}:
        raise _invalid(crd, "spec.group, spec.names.plural, spec.names.kind and spec.scope are required")
    if meta(crd).get("name") != f"{plural}.{group}":
        raise _invalid(crd, f"metadata.name: must be spec.names.plural+'.'+spec.group: {plural}.{group}")
    versions = spec.get("versions") or []
    if sum(1 for version in versions if version.get("storage")) != 1:
        raise _invalid(crd, "spec.versions: exactly one version must be marked as storage version")
    return [_served_version(group, names, scope, version) for version in versions if version.get("served", True)]


def _served_version(group: str, names: Mapping[str, Any], scope: str, version: Mapping[str, Any]) -> ServedVersion:
    subresources = {name for name in ("status", "scale") if name in (version.get("subresources") or {})}
    info = kmock.ResourceInfo(
        namespaced=scope == "Namespaced",
        kind=names["kind"],
        singular=names.get("singular") or names["kind"].lower(),
        verbs=CRD_VERBS,
        shortnames=names.get("shortNames") or [],
        categories=names.get("categories") or [],
        subresources=subresources,
    )
    schema = (version.get("schema") or {}).get("openAPIV3Schema")
    resource = kmock.resource(group=group, version=version["name"], plural=names["plural"])
    return ServedVersion(resource, info, schema)


def _invalid(crd: Mapping[str, Any], message: str) -> kmock.KubernetesError:
    name = meta(crd).get("name")
    return api_error(422, "Invalid", f'CustomResourceDefinition "{name}" is invalid: {message}', name=name)


def crd_status(crd: Mapping[str, Any], now: str) -> Body:
    """The status a real server reports once it serves the CRD (`kubectl wait` reads `Established`)."""
    spec = crd["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", f"{names['kind']}List")
    storage = [version["name"] for version in spec["versions"] if version.get("storage")]
    conditions = [
        {"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now}
        for kind, reason, message in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        )
    ]
    return {"acceptedNames": names, "conditions": conditions, "storedVersions": storage}


def version_order(version: str) -> tuple[int, int, int]:
    """Sort key for Kubernetes version priority: GA before beta before alpha, newer first."""
    found = _VERSION.fullmatch(version)
    if found is None:
        return (3, 0, 0)  # non-conventional versions come last, as on a real server
    stage = {None: 0, "beta": 1, "alpha": 2}[found["stage"]]
    return (stage, -int(found["major"]), -int(found["minor"] or 0))


# --- structural schemas ---------------------------------------------------------------------------


def conform(obj: Body, schema: Mapping[str, Any] | None) -> Body:
    """Prune unknown fields, then apply defaults, as the API server does on every write."""
    if not schema:
        return obj
    result = copy.deepcopy(obj)
    _prune(result, schema, root=True)
    _default(result, schema)
    return result


def _prune(value: Any, schema: Mapping[str, Any], *, root: bool = False) -> None:
    if isinstance(value, dict):
        _prune_object(value, schema, root=root)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            _prune(item, schema["items"])


def _prune_object(value: dict[str, Any], schema: Mapping[str, Any], *, root: bool) -> None:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    keeps_unknown = bool(schema.get("x-kubernetes-preserve-unknown-fields")) or additional is True
    kept = _ROOT_FIELDS if root or schema.get("x-kubernetes-embedded-resource") else ()
    for key in list(value):
        if key in kept:
            continue
        if key in properties:
            _prune(value[key], properties[key])
        elif isinstance(additional, Mapping):
            _prune(value[key], additional)
        elif not keeps_unknown:
            del value[key]


def _default(value: Any, schema: Mapping[str, Any]) -> None:
    if isinstance(value, dict):
        for key, subschema in (schema.get("properties") or {}).items():
            if value.get(key) is None and not subschema.get("nullable"):
                value.pop(key, None)  # a null in a non-nullable field is pruned before defaulting
                if "default" in subschema:
                    value[key] = copy.deepcopy(subschema["default"])
            if key in value:
                _default(value[key], subschema)
        additional = schema.get("additionalProperties")
        if isinstance(additional, Mapping):
            for key in value:
                if key not in (schema.get("properties") or {}):
                    _default(value[key], additional)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            _default(item, schema["items"])
