"""Reading a Kubernetes API request: which resource, namespace, object, subresource and verb.

kmock parses request URLs itself, but its parser reads `namespaces/<x>` as a namespace prefix
everywhere, so the namespaces collection (`/api/v1/namespaces`) crashes it and a single namespace
(`/api/v1/namespaces/x`) comes out as a URL with no resource. Namespaces are a backbone resource
for kopf, so the emulator parses every request here and hands kmock a ready `kmock.Request`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import aiohttp.web
import kmock

# The subresources of a namespace itself; anything else after `namespaces/<x>/` is a resource.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(frozen=True)
class Target:
    """What a URL addresses. `resource` is None for non-API paths such as `/version`."""

    resource: kmock.resource | None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    watch: bool = False  # the legacy `/watch/` path segment


def parse_path(path: str) -> Target:
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 2 and parts[0] == "apis":
        if len(parts) == 2:  # the group's own discovery document
            return Target(kmock.resource(group=parts[1]))
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return Target(None)
    watch = bool(rest) and rest[0] == "watch"
    rest = rest[1:] if watch else rest
    return _parse_rest(group, version, rest, watch)


def _parse_rest(group: str, version: str, rest: list[str], watch: bool) -> Target:
    if not rest:
        return Target(kmock.resource(group=group, version=version))
    namespace: str | None = None
    addresses_namespace_itself = rest[0] == "namespaces" and (
        len(rest) <= 2 or (len(rest) == 3 and rest[2] in _NAMESPACE_SUBRESOURCES)
    )
    if rest[0] == "namespaces" and not addresses_namespace_itself:
        namespace, rest = rest[1], rest[2:]
    plural, name, subresource = rest[0], _at(rest, 1), "/".join(rest[2:]) or None
    return Target(kmock.resource(group=group, version=version, plural=plural), namespace, name, subresource, watch)


def _at(items: list[str], index: int) -> str | None:
    return items[index] if len(items) > index else None


def guess_action(target: Target, method: str, query: dict[str, str]) -> kmock.action | None:
    """The Kubernetes verb, as kmock names them; PUT (replace) has no kmock action and gives None."""
    if target.resource is None or target.resource.plural is None:
        return None
    method = method.upper()
    if method == "GET" and (target.watch or query.get("watch") in {"true", "1"}):
        return kmock.action.WATCH
    if target.name is None:
        return {"GET": kmock.action.LIST, "POST": kmock.action.CREATE}.get(method)
    return {
        "GET": kmock.action.FETCH,
        "PATCH": kmock.action.UPDATE,
        "DELETE": kmock.action.DELETE,
    }.get(method)


async def parse_request(raw: aiohttp.web.BaseRequest, *, id: int) -> kmock.Request:
    body = await raw.read()
    text = body.decode("utf-8", errors="replace")
    target = parse_path(raw.path)
    query = dict(raw.query)
    return kmock.Request(
        id=id,
        raw_request=raw,
        method=raw.method,
        url=raw.url,
        params=query,
        headers=dict(raw.headers),
        cookies=dict(raw.cookies),
        body=body,
        text=text,
        data=_json_or_none(text),
        action=guess_action(target, raw.method, query),
        resource=target.resource,
        namespace=target.namespace,
        name=target.name,
        subresource=target.subresource,
    )


def _json_or_none(text: str) -> object:
    # Server-side apply sends YAML; the patching code reads `text` for it.
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
