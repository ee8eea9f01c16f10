"""An in-memory Kubernetes API server for kopf, built on kmock's KubernetesEmulator.

kmock gives the HTTP plumbing, discovery documents, Status-shaped errors, object storage with
history and the request DSL for tests. Its own write logic is a plain dict merge, which is not
enough for kopf: kopf tests `resourceVersion` in JSON-patches (so the version must exist and move
on every write), relies on `/status` being a separate subresource, and resumes watches from a
list's `resourceVersion`. Without these it runs handlers twice or never adds its finalizer.

So this subclass keeps kmock's storage and serving, but owns every write: it applies the patch
per content type, then the server-side rules in `kube_objects`, then the CRD schema from
`kube_schema`, and records a watch event with the new version. Reads and watches are filtered
the way the API server filters them (namespace, name, label and field selectors).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp.web
import attrs
import kmock

# kmock uses these but does not export them.
from kmock._internal.aiobus import Bus, BusMark
from kmock._internal.rendering import Response, StreamingError

from cutlass_operator.emulator import kube_paths
from cutlass_operator.emulator.kube_objects import (
    APPLY_PATCH,
    Body,
    api_error,
    apply_patch,
    check_create_namespace,
    content_type,
    generated_name,
    is_released,
    is_unchanged,
    mark_deleted,
    matches_fields,
    matches_labels,
    meta,
    normalize_namespace,
    normalize_secret,
    not_found,
    parse_apply_body,
    prepare_create,
    prepare_update,
    stamp_version,
    timestamp,
    valid_name,
)
from cutlass_operator.emulator.kube_schema import conform, crd_status, served_versions, version_order

logger = logging.getLogger(__name__)

Event = dict[str, Any]
ObjectKey = tuple[kmock.resource, str | None, str]

NAMESPACES = kmock.resource(group="", version="v1", plural="namespaces")
SECRETS = kmock.resource(group="", version="v1", plural="secrets")
CRDS = kmock.resource(group="apiextensions.k8s.io", version="v1", plural="customresourcedefinitions")

_STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_BUILTINS: dict[kmock.resource, kmock.ResourceInfo] = {
    NAMESPACES: kmock.ResourceInfo(
        kind="Namespace",
        singular="namespace",
        namespaced=False,
        shortnames={"ns"},
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        subresources={"status", "finalize"},
    ),
    SECRETS: kmock.ResourceInfo(kind="Secret", singular="secret", namespaced=True, verbs=_STANDARD_VERBS),
    kmock.resource(group="", version="v1", plural="configmaps"): kmock.ResourceInfo(
        kind="ConfigMap", singular="configmap", namespaced=True, shortnames={"cm"}, verbs=_STANDARD_VERBS
    ),
    kmock.resource(group="", version="v1", plural="events"): kmock.ResourceInfo(
        kind="Event", singular="event", namespaced=True, shortnames={"ev"}, verbs=_STANDARD_VERBS
    ),
    CRDS: kmock.ResourceInfo(
        kind="CustomResourceDefinition",
        singular="customresourcedefinition",
        namespaced=False,
        shortnames={"crd", "crds"},
        verbs=_STANDARD_VERBS,
        subresources={"status"},
    ),
    kmock.resource(group="coordination.k8s.io", version="v1", plural="leases"): kmock.ResourceInfo(
        kind="Lease", singular="lease", namespaced=True, verbs=_STANDARD_VERBS
    ),
}
_INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

# Pushed into every watch bus on shutdown so open watch responses end instead of holding the server.
_END_OF_WATCH: Event = {"type": "__END__"}


@attrs.define(kw_only=True)
class KubeApiEmulator(kmock.KubernetesEmulator):
    """The API server. Use it through `kube.kube_emulator()`; tests may read `.objects` directly."""

    # How many events per resource a watch can resume from; older versions answer 410 Gone.
    history_limit: int = 1000
    # How many past versions each object keeps for assertions (kmock keeps all by default).
    versions_kept: int = 50

    _revision: int = attrs.field(default=0, init=False)
    _history: dict[kmock.resource, collections.deque[tuple[int, Event]]] = attrs.field(factory=dict, init=False)
    _forgotten: dict[kmock.resource, int] = attrs.field(factory=dict, init=False)
    _schemas: dict[kmock.resource, Mapping[str, Any] | None] = attrs.field(factory=dict, init=False)
    _crd_resources: dict[str, list[kmock.resource]] = attrs.field(factory=dict, init=False)
    _outcomes: dict[kmock.Request, Body] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # kmock has no action for PUT (replace); its result is served like the other writes.
        self.fallback[kmock.method.PUT] << self._serve_written
        # Ahead of kmock's own watch fallback: client-go refuses a stream with no JSON content type.
        json_lines: kmock.headers[str] = kmock.headers({"Content-Type": "application/json"})
        (self.fallback**1)[kmock.action.WATCH] << json_lines << self._serve_watch
        for resource, info in _BUILTINS.items():
            self.resources[resource] = info
        for name in _INITIAL_NAMESPACES:
            namespace = self._new_object(NAMESPACES, None, name, {"metadata": {"name": name}})
            self._commit((NAMESPACES, None, name), normalize_namespace(namespace))

    async def end_watches(self) -> None:
        """Close every open watch response, so the HTTP server can stop without waiting for them."""
        for bus in list(self._buses.values()):
            await bus.put(_END_OF_WATCH)

    # --- request entry ----------------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # Replaces kmock's entry point only to parse the URL with `kube_paths` (see there why);
        # the error handling mirrors kmock's: Status objects, or an error line in a started stream.
        request = await kube_paths.parse_request(raw_request, id=len(self._requests))
        self._requests.append(request)
        try:
            return await self._handle(request)
        except StreamingError as e:
            response: aiohttp.web.StreamResponse = e.args[0]
            cause = e.__cause__ if isinstance(e.__cause__, Exception) else e
            self._remember(cause)
            if not response.prepared:
                return await self._render_error(cause)
            await self._stream_error(cause, response)
            await response.write_eof()
            return response
        except Exception as e:
            self._remember(e)
            return await self._render_error(e)

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if not isinstance(exc, kmock.KubernetesError):
            return await super()._render_error(exc)  # a bug: kmock adds the traceback
        return aiohttp.web.json_response(_status(exc), status=exc.status)

    def _remember(self, exc: Exception) -> None:
        # API answers such as 404 or 409 are normal traffic; anything else is an emulator bug.
        if isinstance(exc, kmock.KubernetesError):
            return
        logger.warning("The Kubernetes API emulator failed a request.", exc_info=exc)
        if self._errors:
            self._errors[-1].append(exc)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if self._is_served(request):
            outcome = await self._write(request)
            if outcome is not None:
                self._outcomes[request] = outcome
        try:
            # Skips KubernetesEmulator._handle on purpose: it would apply the write a second time
            # with kmock's plain dict merge. Dispatching to reactions and fallbacks stays kmock's.
            return await kmock.RawHandler._handle(self, request)
        finally:
            self._outcomes.pop(request, None)

    def _is_served(self, request: kmock.Request) -> bool:
        resource = request.resource
        return resource is not None and resource.plural is not None and resource in self.resources

    async def _write(self, request: kmock.Request) -> Body | None:
        write: Callable[[kmock.Request], Awaitable[Body]]
        if request.action == kmock.action.CREATE:
            write = self._create
        elif request.action == kmock.action.UPDATE:
            write = self._patch
        elif request.action == kmock.action.DELETE:
            write = self._delete
        elif request.method == kmock.method.PUT and request.name is not None:
            write = self._replace
        else:
            return None  # a read
        async with self._lock:
            return await write(request)

    # --- writes -----------------------------------------------------------------------------------

    async def _create(self, request: kmock.Request, body: Any = None) -> Body:
        resource = self._resource(request)
        body = request.data if body is None else body
        check_create_namespace(body, request.namespace, bool(self.resources[resource].namespaced))
        if request.namespace is not None and self._live(NAMESPACES, None, request.namespace) is None:
            raise not_found("namespaces", request.namespace)
        name = self._choose_name(resource, request.namespace, body)
        if self._live(resource, request.namespace, name) is not None:
            raise api_error(409, "AlreadyExists", f'{resource.plural} "{name}" already exists', name=name)
        obj = self._admit(resource, self._new_object(resource, request.namespace, name, body))
        obj = self._on_create(resource, obj)
        self._commit((resource, request.namespace, name), obj)
        await self._emit(resource, "ADDED", obj)
        return obj

    def _choose_name(self, resource: kmock.resource, namespace: str | None, body: Body) -> str:
        name = meta(body).get("name")
        prefix = meta(body).get("generateName")
        if not name and prefix:
            name = generated_name(prefix)
            while self._live(resource, namespace, name) is not None:
                name = generated_name(prefix)
        if not valid_name(name):
            raise api_error(422, "Invalid", f"metadata.name: Invalid value: {name!r}: must be a DNS subdomain")
        return str(name)

    def _new_object(self, resource: kmock.resource, namespace: str | None, name: str, body: Body) -> Body:
        info = self.resources[resource]
        named = dict(body, metadata=dict(meta(body), name=name))
        obj = prepare_create(
            named,
            namespace=namespace,
            uid=str(uuid.uuid4()),
            resource_version=self._next_version(),
            has_generation=resource.group != "",  # core/v1 kinds carry no generation
            has_status_subresource="status" in info.subresources,
            now=timestamp(),
        )
        # apiVersion and kind first, as a real server orders them in its answers.
        return {"apiVersion": _api_version(resource), "kind": info.kind, **obj}

    def _on_create(self, resource: kmock.resource, obj: Body) -> Body:
        if resource == NAMESPACES:
            return normalize_namespace(obj)
        if resource == CRDS:
            self._register_crd(obj)
            return dict(obj, status=crd_status(obj, timestamp()))
        return obj

    async def _patch(self, request: kmock.Request) -> Body:
        kind = content_type(request.headers)
        key = self._key(request)
        old = self._live(*key)
        if old is None and kind == APPLY_PATCH:  # server-side apply creates what is missing
            return await self._create(attrs.evolve(request, name=None), parse_apply_body(request.text))
        if old is None:
            raise not_found(key[0].plural or "", key[2])
        candidate = apply_patch(old, kind, request.text, request.data)
        return await self._update(key, old, candidate, request.subresource)

    async def _replace(self, request: kmock.Request) -> Body:
        key = self._key(request)
        old = self._live(*key)
        if old is None:
            raise not_found(key[0].plural or "", key[2])
        if not isinstance(request.data, dict) or meta(request.data).get("name") != key[2]:
            raise api_error(400, "BadRequest", "the name of the object does not match the name on the URL")
        return await self._update(key, old, request.data, request.subresource)

    async def _update(self, key: ObjectKey, old: Body, candidate: Body, subresource: str | None) -> Body:
        resource = key[0]
        with_status = "status" in self.resources[resource].subresources
        new = prepare_update(
            old, self._admit(resource, candidate), subresource=subresource, has_status_subresource=with_status
        )
        if is_unchanged(old, new):
            return old
        new = stamp_version(new, self._next_version())
        if is_released(new):
            await self._remove(key, new)
            return new
        if resource == CRDS:
            self._register_crd(new)
        self._commit(key, new)
        await self._emit(resource, "MODIFIED", new)
        return new

    async def _delete(self, request: kmock.Request) -> Body:
        key = self._key(request)
        old = self._live(*key)
        if old is None:
            raise not_found(key[0].plural or "", key[2])
        _check_preconditions(old, request.data)
        return await self._delete_object(key, old)

    async def _delete_object(self, key: ObjectKey, old: Body) -> Body:
        if meta(old).get("deletionTimestamp"):
            return old
        if meta(old).get("finalizers"):
            marked = mark_deleted(old, resource_version=self._next_version(), now=timestamp())
            self._commit(key, marked)
            await self._emit(key[0], "MODIFIED", marked)
            return marked
        final = stamp_version(old, self._next_version())
        await self._remove(key, final)
        return final

    async def _remove(self, key: ObjectKey, final: Body) -> None:
        self._objects[key].delete()
        await self._emit(key[0], "DELETED", final)
        if key[0] == CRDS:
            await self._unregister_crd(key[2])
        if key[0] == NAMESPACES:
            await self._empty_namespace(key[2])

    async def _empty_namespace(self, namespace: str) -> None:
        # Simplified namespace termination: the contents go through their own deletion at once.
        for (resource, obj_namespace, name), obj in list(self._objects.items()):
            if obj_namespace == namespace and not obj.deleted:
                await self._delete_object((resource, obj_namespace, name), obj.raw)

    def _admit(self, resource: kmock.resource, obj: Body) -> Body:
        """Kind-specific server rules applied to every write before it is stored."""
        if resource == SECRETS:
            obj = normalize_secret(obj)
        if resource == CRDS:
            served_versions(obj)  # validates; raises 422 like a real server
        return conform(obj, self._schemas.get(resource))

    # --- CRDs -------------------------------------------------------------------------------------

    def _register_crd(self, crd: Body) -> None:
        served = served_versions(crd)
        name = meta(crd)["name"]
        for resource in set(self._crd_resources.get(name, [])) - {version.resource for version in served}:
            del self.resources[resource]
            self._schemas.pop(resource, None)
        for version in served:
            self.resources[version.resource] = version.info
            self._schemas[version.resource] = version.schema
        self._crd_resources[name] = [version.resource for version in served]

    async def _unregister_crd(self, name: str) -> None:
        # A real server deletes the custom objects before the CRD goes; here they go with it.
        for resource in self._crd_resources.pop(name, []):
            del self.resources[resource]
            self._schemas.pop(resource, None)
            for key, obj in list(self._objects.items()):
                if key[0] == resource and not obj.deleted:
                    final = stamp_version(obj.raw, self._next_version())
                    obj.delete()
                    await self._emit(resource, "DELETED", final)

    # --- storage and events -----------------------------------------------------------------------

    def _next_version(self) -> str:
        self._revision += 1
        return str(self._revision)

    def _live(self, resource: kmock.resource, namespace: str | None, name: str) -> Body | None:
        key = (resource, namespace, name)
        if key not in self._objects or self._objects[key].deleted:
            return None
        return self._objects[key].raw

    def _commit(self, key: ObjectKey, obj: Body) -> None:
        if key in self._objects:
            history = self._objects[key].history
            history.append(obj)
            del history[: -self.versions_kept]
        else:
            self._objects[key] = obj

    async def _emit(self, resource: kmock.resource, kind: str, obj: Body) -> None:
        event: Event = {"type": kind, "object": obj}
        history = self._history.setdefault(resource, collections.deque())
        history.append((int(meta(obj)["resourceVersion"]), event))
        while len(history) > self.history_limit:
            self._forgotten[resource] = history.popleft()[0]
        await self._buses[resource].put(event)

    def _resource(self, request: kmock.Request) -> kmock.resource:
        if not self._is_served(request):
            raise not_found("")
        assert request.resource is not None  # checked by _is_served()
        return request.resource

    def _key(self, request: kmock.Request) -> ObjectKey:
        resource = self._resource(request)
        info = self.resources[resource]
        wrong_scope = bool(info.namespaced) != (request.namespace is not None)
        unknown_subresource = request.subresource is not None and request.subresource not in info.subresources
        if request.name is None or wrong_scope or unknown_subresource:
            raise not_found("")
        return resource, request.namespace, request.name

    # --- reads ------------------------------------------------------------------------------------

    async def _serve_written(self, request: kmock.Request) -> kmock.Payload:
        if request not in self._outcomes:
            raise not_found("")
        return self._outcomes[request]

    async def _serve_create(self, request: kmock.Request) -> kmock.Payload:
        return Response(status=201, payload=await self._serve_written(request))

    # The writes happened in _handle(); these only return their outcome.
    _serve_update = _serve_written
    _serve_delete = _serve_written

    async def _serve_fetch(self, request: kmock.Request) -> kmock.Payload:
        key = self._key(request)
        async with self._lock:
            obj = self._live(*key)
        if obj is None:
            raise not_found(key[0].plural or "", key[2])
        return obj

    async def _serve_list(self, request: kmock.Request) -> kmock.Payload:
        resource = self._resource(request)
        async with self._lock:
            items = self._listed(request, resource)
            revision = str(self._revision)
        start = int(request.params.get("continue") or 0)
        limit = int(request.params.get("limit") or 0) or len(items)
        page = items[start : start + limit]
        metadata: dict[str, Any] = {"resourceVersion": revision}
        if start + limit < len(items):
            metadata.update(**{"continue": str(start + limit), "remainingItemCount": len(items) - start - limit})
        kind = self.resources[resource].kind
        return {"apiVersion": _api_version(resource), "kind": f"{kind}List", "metadata": metadata, "items": page}

    def _listed(self, request: kmock.Request, resource: kmock.resource) -> list[Body]:
        found = [
            obj.raw
            for (obj_resource, namespace, name), obj in sorted(
                self._objects.items(), key=lambda item: (item[0][1] or "", item[0][2])
            )
            if obj_resource == resource and not obj.deleted
        ]
        return [obj for obj in found if self._sees(request, obj)]

    def _sees(self, request: kmock.Request, obj: Body) -> bool:
        return (
            (request.namespace is None or meta(obj).get("namespace") == request.namespace)
            and (request.name is None or meta(obj).get("name") == request.name)
            and matches_labels(obj, request.params.get("labelSelector"))
            and matches_fields(obj, request.params.get("fieldSelector"))
        )

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[kmock.Payload]:
        resource = self._resource(request)
        bus = self._buses[resource]
        async with self._lock:
            mark = await bus.mark()  # taken with the backlog, so no event falls between them
            try:
                backlog = self._watch_backlog(request, resource)
            except kmock.KubernetesError as e:
                backlog = [_error_event(e)]
        try:
            yield b""  # send the headers now, even if nothing happens for a while
            for event in backlog:
                yield event
            if backlog and backlog[-1]["type"] == "ERROR":
                return
            async for event in _bus_events(bus, mark, request.params.get("timeoutSeconds")):
                if self._sees(request, event["object"]):
                    yield event
        finally:
            await bus.unmark(mark)

    def _watch_backlog(self, request: kmock.Request, resource: kmock.resource) -> list[Event]:
        since = request.params.get("resourceVersion")
        initial_events = request.params.get("sendInitialEvents") == "true"
        if not since or since == "0" or initial_events:
            events = [{"type": "ADDED", "object": obj} for obj in self._listed(request, resource)]
            if initial_events:
                events.append(self._initial_events_end(resource))
            return events
        if not since.isdigit():
            raise api_error(400, "BadRequest", f"invalid resource version: {since!r}")
        if int(since) < self._forgotten.get(resource, 0):
            raise api_error(410, "Expired", f"too old resource version: {since} ({self._revision})")
        history = self._history.get(resource, collections.deque())
        return [event for version, event in history if version > int(since) and self._sees(request, event["object"])]

    def _initial_events_end(self, resource: kmock.resource) -> Event:
        # The bookmark that ends the initial events of a `sendInitialEvents=true` watch.
        metadata = {"resourceVersion": str(self._revision), "annotations": {"k8s.io/initial-events-end": "true"}}
        obj = {"apiVersion": _api_version(resource), "kind": self.resources[resource].kind, "metadata": metadata}
        return {"type": "BOOKMARK", "object": obj}

    # --- discovery --------------------------------------------------------------------------------

    def _get_resources(self) -> list[kmock.resource]:
        # Only what is registered (built-ins and installed CRDs) is discoverable, as on a real
        # server; kmock would also advertise whatever resources stored objects happen to have.
        return [resource for resource in self.resources if isinstance(resource, kmock.resource)]

    async def _serve_apis(self, request: kmock.Request) -> kmock.Payload:
        groups = self._group_versions()
        return {
            "apiVersion": "v1",
            "kind": "APIGroupList",
            "groups": [_api_group(group, versions) for group, versions in sorted(groups.items())],
        }

    async def _serve_group(self, request: kmock.Request) -> kmock.Payload:
        assert request.resource is not None  # the route matches /apis/<group> only
        versions = self._group_versions().get(request.resource.group or "")
        if not versions:
            raise not_found("")
        return dict(_api_group(request.resource.group or "", versions), apiVersion="v1", kind="APIGroup")

    async def _serve_version(self, request: kmock.Request) -> kmock.Payload:
        assert request.resource is not None  # the routes match /api/<v> and /apis/<group>/<v> only
        group, version = request.resource.group or "", request.resource.version or ""
        served = kmock.resource(group=group, version=version)
        resources = sorted((res for res in self._get_resources() if served.check(res)), key=lambda res: str(res.plural))
        if not resources and group:
            raise not_found("")
        return {
            "apiVersion": "v1",
            "kind": "APIResourceList",
            "groupVersion": _api_version(served),
            "resources": [entry for res in resources for entry in _discovery_entries(res, self.resources[res])],
        }

    def _group_versions(self) -> dict[str, list[str]]:
        groups: dict[str, set[str]] = collections.defaultdict(set)
        for resource in self.resources:
            if resource.group and resource.version:
                groups[resource.group].add(resource.version)
        return {group: sorted(versions, key=version_order) for group, versions in groups.items()}


def _api_version(resource: kmock.resource) -> str:
    return f"{resource.group}/{resource.version}" if resource.group else str(resource.version)


def _discovery_entries(resource: kmock.resource, info: kmock.ResourceInfo) -> list[dict[str, Any]]:
    common = {"namespaced": bool(info.namespaced), "kind": info.kind}
    main = {
        "name": resource.plural,
        "singularName": info.singular,
        "verbs": sorted(info.verbs),
        "shortNames": sorted(info.shortnames),
        "categories": sorted(info.categories),
        **common,
    }
    subresources = [
        {"name": f"{resource.plural}/{name}", "singularName": "", "verbs": ["get", "patch", "update"], **common}
        for name in sorted(info.subresources)
    ]
    return [main, *subresources]


def _api_group(group: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{version}", "version": version} for version in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def _status(error: kmock.KubernetesError) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "code": error.status,
        "reason": error.reason,
        "message": error.message,
        "details": error.details or {},
    }


def _error_event(error: kmock.KubernetesError) -> Event:
    return {"type": "ERROR", "object": _status(error)}


def _check_preconditions(obj: Body, options: Any) -> None:
    preconditions = options.get("preconditions") if isinstance(options, dict) else None
    for field in ("uid", "resourceVersion"):
        wanted = (preconditions or {}).get(field)
        if wanted and wanted != meta(obj).get(field):
            raise api_error(409, "Conflict", f"Precondition failed: {field} in precondition: {wanted}")


async def _bus_events(bus: Bus[Any], mark: BusMark[Any], timeout: str | None) -> AsyncIterator[Event]:
    """Live events after the mark, until the watch's `timeoutSeconds` passes or the server stops."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + float(timeout) if timeout else None
    while True:
        remaining = None if deadline is None else max(0.0, deadline - loop.time())
        try:
            event: Event = await asyncio.wait_for(bus.get(since=mark), remaining)
        except TimeoutError:
            return
        if event is _END_OF_WATCH:
            return
        yield event
