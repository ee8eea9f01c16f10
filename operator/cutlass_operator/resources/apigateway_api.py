"""API Gateway REST APIs with their whole definition: resources, methods, integrations, authorizers.

`apigateway.rest_api` (RestApiKind(name_prefix), `RestApiProps`, delete rank 60). The name cannot change
in place. Authorizers are known by name, routes by method and path. Every integration is a Lambda proxy
(`AWS_PROXY`, called with POST); observe reports an integration of another type as
`"<type> <method> <uri>"`, so it differs from any desired URI and is put back.

The API owns its definition outright: methods, path parts and authorizers that no route or authorizer
asks for are deleted, wherever they came from.

Outputs: `id`, `name`, `arn` (`arn:aws:apigateway:<region>::/restapis/<id>`), `executionArn`
(`arn:aws:execute-api:<region>:<account>:<id>`, for Lambda permissions), `rootResourceId` and
`definitionHash`, the SHA-256 of the canonical JSON of the authorizers and routes (integration URIs
included). A stage (`apigateway.stage`, in `apigateway.py`) redeploys exactly when it changes.

Identity. API names are not unique in API Gateway, so an API is the workspace's by its tags, which
CreateRestApi takes: one listed under the prefix with the selector tags is ours (`cutlass.tech/key`
names its entry; two with one key are a crash's duplicate, which the engine deletes). An API of the
same name without our tags is someone else's and is left alone.

Observe. GetRestApis, paginated (500 a page; tags come with each API), then per desired API
GetResources(embed=methods), paginated, and GetAuthorizers. AWS embeds each method's integration in
`methodIntegration`; a method without one costs a GetIntegration (moto embeds them too). A no-op
resync of N APIs reads 1 + 2N times. Orphans are not read further: deleting needs only the id.

`definitionHash` is an output observe computes from what AWS has; it is left out while the definition
differs from the desired one (a reference not resolved yet counts as equal). A stage referring to it
then stays "known after apply", so the plan updates the stage in the same reconcile that changes the
routes, and the stage deploys once, with the hash the API's update returns. Only a change made solely
by a reference's value (another user pool behind an authorizer's `Ref`) is seen after the API's update,
and deploys in the next resync.

Create is CreateRestApi (tags, endpoint type), then the definition as for an update. Update:
UpdateRestApi for the description and endpoint type, then, in an order AWS accepts: authorizers created
or patched (`/type`, `/identitySource`, `add`/`remove` `/providerARNs`); missing path parts created,
parents first; each route's method put with its integration, and a method whose authorization changed
deleted and put again (one path for a change of type, authorizer or scopes alike, which moto, lacking
UpdateMethod, also takes; a definition is not live until a stage deploys it, so callers never see the
gap); a changed URI re-put with
PutIntegration; methods no route wants deleted; unused path parts deleted, deepest first; authorizers
no longer wanted deleted last, once no method refers to them. Tags with TagResource/UntagResource.
Delete is DeleteRestApi, which takes stages and deployments with it.

moto 5.2.5 gaps (the kind is not weakened for them): no UpdateMethod; PutMethod on an existing method
replaces it (AWS refuses); UpdateAuthorizer cannot patch `/providerARNs` (a 500); DeleteResource does
not delete the children (hence deepest first); GetResources embeds methods whether asked or not.
(TagResource of any of the operator's API Gateway resources is filled in emulator/apigateway_tags.py.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, Ref, ResourceKind, normalise
from cutlass_operator.props.apigateway import RestApiProps
from cutlass_operator.resources.apigateway import (
    PAGE_SIZE,
    apigateway_errors,
    client,
    execution_arn,
    patch,
    resource_arn,
    rest_apis,
    retag,
)
from cutlass_operator.resources.errors import is_not_found, tolerate_not_found
from cutlass_operator.resources.tags import key_of, matches

if TYPE_CHECKING:
    from mypy_boto3_apigateway.client import APIGatewayClient
    from mypy_boto3_apigateway.type_defs import PatchOperationTypeDef, RestApiTypeDef

NONE = "NONE"
COGNITO: Final = "COGNITO_USER_POOLS"
AUTHORIZATIONS = frozenset({NONE, COGNITO})
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})
PROXY: Final = "AWS_PROXY"
# Lambda is always invoked with POST, whatever the method of the route.
PROXY_METHOD = "POST"
ROOT = "/"


# -- the definition, in one canonical shape for compare, the hash and the writes ------------------


def route_key(route: Mapping[str, Any]) -> str:
    return f"{str(route['method']).upper()} {route['path']}"


def canonical_route(route: Mapping[str, Any]) -> dict[str, Any]:
    authorization = route.get("authorization") or NONE
    return {
        "path": route["path"],
        "method": str(route["method"]).upper(),
        "authorization": authorization,
        "authorizer": (route.get("authorizer") or None) if authorization != NONE else None,
        "scopes": sorted(route.get("scopes") or [], key=str),
        "integrationUri": route.get("integrationUri"),
    }


def canonical_authorizer(authorizer: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": authorizer["name"],
        "type": authorizer.get("type"),
        "providerArns": sorted(authorizer.get("providerArns") or [], key=str),
        "identitySource": authorizer.get("identitySource"),
    }


def keyed_definition(properties: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """`{"authorizers": {name: ...}, "routes": {"POST /path": ...}}`, each in its canonical shape."""
    return {
        "authorizers": {str(a["name"]): canonical_authorizer(a) for a in properties.get("authorizers") or []},
        "routes": {route_key(r): canonical_route(r) for r in properties.get("routes") or []},
    }


def definition_hash(properties: Mapping[str, Any]) -> str:
    """SHA-256 of the sorted, canonical authorizers and routes: equal definitions, equal hashes."""
    keyed = keyed_definition(properties)
    document = {section: [items[k] for k in sorted(items)] for section, items in keyed.items()}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _known_equal(want: Any, have: Any) -> bool:
    """Equal wherever `want` is known: a reference not resolved yet matches any value."""
    if isinstance(want, Ref):
        return True
    if isinstance(want, Mapping):
        return (
            isinstance(have, Mapping)
            and set(want) == set(have)
            and all(_known_equal(v, have[k]) for k, v in want.items())
        )
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return False
        if any(isinstance(v, Ref) for v in want):
            return True  # a sorted list with unknowns in it cannot be lined up item by item
        return all(_known_equal(w, h) for w, h in zip(want, have, strict=True))
    return bool(want == have)


def _ancestors(path: str) -> list[str]:
    """`/a/b` -> [`/a`, `/a/b`]: the path parts a route needs (the root always exists)."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _check_definition(desired: Desired[RestApiProps]) -> None:
    """A layer bug, not a user error: fail before anything is planned."""
    props = desired.properties
    names = [str(a.get("name")) for a in props.get("authorizers") or []]
    if len(set(names)) != len(names):
        raise ValueError(f"{desired.key}: authorizer names repeat: {sorted(names)}")
    for authorizer in props.get("authorizers") or []:
        if authorizer.get("type") != COGNITO:
            raise ValueError(f"{desired.key}: authorizer {authorizer.get('name')} must be of type {COGNITO}")
    seen: set[str] = set()
    for route in props.get("routes") or []:
        key = route_key(route)
        path = str(route["path"])
        where = f"{desired.key}: route {key}"
        if key in seen:
            raise ValueError(f"{where} is declared twice")
        seen.add(key)
        if not path.startswith(ROOT) or (path != ROOT and (path.endswith("/") or "//" in path)):
            raise ValueError(f"{where}: a path starts with / and has no empty parts")
        if str(route["method"]).upper() not in METHODS:
            raise ValueError(f"{where}: unknown method")
        authorization = route.get("authorization") or NONE
        if authorization not in AUTHORIZATIONS:
            raise ValueError(f"{where}: authorization must be one of {sorted(AUTHORIZATIONS)}")
        if authorization == COGNITO and route.get("authorizer") not in names:
            raise ValueError(f"{where}: authorizer {route.get('authorizer')!r} is not among {names}")
        if authorization == NONE and (route.get("authorizer") or route.get("scopes")):
            raise ValueError(f"{where}: a route without authorization takes neither authorizer nor scopes")


# -- what AWS has -----------------------------------------------------------------------------------


@dataclass
class _Definition:
    """An API's definition as read: path -> resource id, route key -> method, authorizer id -> body."""

    resources: dict[str, str] = field(default_factory=dict)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    authorizers: dict[str, dict[str, Any]] = field(default_factory=dict)


def _read_definition(apigw: APIGatewayClient, api_id: str) -> _Definition:
    definition = _Definition()
    pages = apigw.get_paginator("get_resources").paginate(
        restApiId=api_id, embed=["methods"], PaginationConfig={"PageSize": PAGE_SIZE}
    )
    for page in pages:
        for resource in page.get("items", []):
            path, resource_id = resource.get("path", ""), resource.get("id", "")
            definition.resources[path] = resource_id
            for verb, method in resource.get("resourceMethods", {}).items():
                body: dict[str, Any] = dict(method)
                if "methodIntegration" not in body:
                    body["methodIntegration"] = _integration(apigw, api_id, resource_id, verb)
                definition.methods[f"{verb} {path}"] = {**body, "path": path, "resourceId": resource_id}
    authorizer_pages = apigw.get_paginator("get_authorizers").paginate(
        restApiId=api_id, PaginationConfig={"PageSize": PAGE_SIZE}
    )
    for authorizer_page in authorizer_pages:
        for authorizer in authorizer_page.get("items", []):
            definition.authorizers[authorizer.get("id", "")] = dict(authorizer)
    return definition


def _integration(apigw: APIGatewayClient, api_id: str, resource_id: str, verb: str) -> dict[str, Any] | None:
    try:
        return dict(apigw.get_integration(restApiId=api_id, resourceId=resource_id, httpMethod=verb))
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def _integration_uri(integration: Mapping[str, Any] | None) -> str | None:
    """The Lambda proxy URI; an integration of any other kind as text that no desired URI equals."""
    if not integration:
        return None
    uri = integration.get("uri")
    kind, verb = integration.get("type"), integration.get("httpMethod")
    if kind == PROXY and verb == PROXY_METHOD:
        return str(uri) if uri is not None else None
    return f"{kind} {verb} {uri}"


def _definition_properties(definition: _Definition) -> dict[str, Any]:
    names = {auth_id: str(a.get("name", "")) for auth_id, a in definition.authorizers.items()}
    authorizers = [
        canonical_authorizer(
            {
                "name": a.get("name", ""),
                "type": a.get("type"),
                "providerArns": list(a.get("providerARNs", [])),
                "identitySource": a.get("identitySource"),
            }
        )
        for a in definition.authorizers.values()
    ]
    routes = []
    for key, method in sorted(definition.methods.items()):
        verb = key.split(" ", 1)[0]
        authorizer_id = method.get("authorizerId")
        authorizer = names.get(authorizer_id, f"(unknown {authorizer_id})") if authorizer_id else None
        routes.append(
            canonical_route(
                {
                    "path": method["path"],
                    "method": verb,
                    "authorization": method.get("authorizationType") or NONE,
                    "authorizer": authorizer,
                    "scopes": list(method.get("authorizationScopes") or []),
                    "integrationUri": _integration_uri(method.get("methodIntegration")),
                }
            )
        )
    return {"authorizers": sorted(authorizers, key=lambda a: str(a["name"])), "routes": routes}


# -- the rest API kind ------------------------------------------------------------------------------


class RestApiKind(ResourceKind[RestApiProps]):
    props = RestApiProps
    delete_rank = 60
    immutable = frozenset({"name"})

    def __init__(self, name_prefix: str = "", orphan_scope: str = "") -> None:
        if not name_prefix:
            raise ValueError("a rest API kind needs a name prefix: it is what keeps workspaces' APIs apart")
        super().__init__(name_prefix, orphan_scope)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[RestApiProps]]) -> list[Observed]:
        wanted: dict[str, Desired[RestApiProps]] = {}
        for d in desired:
            name = str(d.properties["name"])
            if not name.startswith(self.name_prefix):
                raise ValueError(f"{d.key}: API {name} is outside {self.name_prefix}")
            _check_definition(d)
            wanted[d.key] = d
        apigw = client(ctx)
        found: list[Observed] = []
        with apigateway_errors(f"observe {self.kind} {self.name_prefix}*"):
            for api in rest_apis(apigw):
                tags = dict(api.get("tags", {}))
                if not api.get("name", "").startswith(self.name_prefix) or not matches(tags, ctx.selector):
                    continue
                key = key_of(tags, api["id"])
                definition: _Definition | None = None
                if key in wanted:
                    try:
                        definition = _read_definition(apigw, api["id"])
                    except ClientError as exc:
                        if is_not_found(exc):
                            continue  # deleted between the listing and the reads
                        raise
                found.append(self._observed(ctx, key, api, tags, definition=definition, want=wanted.get(key)))
        return found

    def _observed(
        self,
        ctx: KindContext,
        key: str,
        api: RestApiTypeDef,
        tags: dict[str, str],
        *,
        definition: _Definition | None,
        want: Desired[RestApiProps] | None,
    ) -> Observed:
        api_id = api["id"]
        types = list(api.get("endpointConfiguration", {}).get("types", []))
        properties: dict[str, Any] = {
            "name": api.get("name", ""),
            "description": api.get("description") or "",
            "endpointType": types[0] if len(types) == 1 else sorted(types),
        }
        root = api.get("rootResourceId")
        private: dict[str, Any] = {}
        if definition is not None:
            properties.update(_definition_properties(definition))
            root = root or definition.resources.get(ROOT)
            private = {
                "resources": dict(definition.resources),
                "methods": {k: m.get("authorizerId") for k, m in definition.methods.items()},
                "authorizers": {i: str(a.get("name", "")) for i, a in definition.authorizers.items()},
            }
        outputs = _api_outputs(ctx, api_id, str(properties["name"]), root)
        # Only a definition that is already what the spec asks for has a hash others may act on.
        in_sync = (
            want is not None
            and definition is not None
            and _known_equal(keyed_definition(want.properties), keyed_definition(properties))
        )
        if in_sync:
            outputs["definitionHash"] = definition_hash(properties)
        return Observed(key, self.kind, api_id, properties, tags, outputs, private)

    def create(self, ctx: KindContext, desired: Desired[RestApiProps]) -> Observed:
        apigw = client(ctx)
        props = desired.properties
        name = str(props["name"])
        what = f"create {self.kind} {name}"
        with apigateway_errors(what):
            params: dict[str, Any] = {
                "name": name,
                "endpointConfiguration": {"types": [str(props["endpointType"])]},
                "tags": dict(desired.tags),
            }
            if props.get("description"):
                params["description"] = str(props["description"])
            api = apigw.create_rest_api(**params)
            api_id = api["id"]
            root = api.get("rootResourceId") or _read_definition(apigw, api_id).resources[ROOT]
            empty = Observed(
                desired.key,
                self.kind,
                api_id,
                {"authorizers": [], "routes": []},
                dict(desired.tags),
                {},
                {"resources": {ROOT: root}, "methods": {}, "authorizers": {}},
            )
            _converge_definition(apigw, api_id, props, empty)
        return self._written(ctx, desired, api_id, root, dict(desired.tags))

    def update(
        self, ctx: KindContext, desired: Desired[RestApiProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        apigw = client(ctx)
        api_id = observed.id
        props = desired.properties
        with apigateway_errors(f"update {self.kind} {observed.properties.get('name', api_id)}"):
            ops: list[PatchOperationTypeDef] = []
            if (props.get("description") or "") != observed.properties.get("description"):
                ops.append(patch("replace", "/description", props.get("description") or ""))
            current = observed.properties.get("endpointType")
            if props.get("endpointType") != current and isinstance(current, str):
                ops.append(patch("replace", f"/endpointConfiguration/types/{current}", props["endpointType"]))
            if ops:
                apigw.update_rest_api(restApiId=api_id, patchOperations=ops)
            _converge_definition(apigw, api_id, props, observed)
            tags = retag(apigw, resource_arn(ctx.region, f"/restapis/{api_id}"), desired.tags, observed.tags)
        return self._written(ctx, desired, api_id, observed.outputs.get("rootResourceId"), tags)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        apigw = client(ctx)
        with apigateway_errors(f"delete {self.kind} {observed.id}"), tolerate_not_found():
            apigw.delete_rest_api(restApiId=observed.id)

    def compare(self, desired: Desired[RestApiProps], observed: Observed) -> list[FieldDiff]:
        """Name, description and endpoint type, then one entry per authorizer and per route that differs."""
        diffs = []
        for name in ("name", "description", "endpointType"):
            want, have = desired.properties.get(name), observed.properties.get(name)
            if name == "description":
                want, have = want or "", have or ""
            if normalise(want) != normalise(have):
                diffs.append(FieldDiff(name, have, want))
        wanted, current = keyed_definition(desired.properties), keyed_definition(observed.properties)
        for section in ("authorizers", "routes"):
            for key in sorted(set(wanted[section]) | set(current[section])):
                want_item, have_item = wanted[section].get(key), current[section].get(key)
                if want_item != have_item:
                    diffs.append(FieldDiff(f"{section}[{key}]", have_item, want_item))
        diffs += [
            FieldDiff(f"tags.{name}", observed.tags.get(name), want)
            for name, want in sorted(desired.tags.items())
            if observed.tags.get(name) != want
        ]
        return diffs

    def _written(
        self, ctx: KindContext, desired: Desired[RestApiProps], api_id: str, root: str | None, tags: dict[str, str]
    ) -> Observed:
        """The state after a create or update: the desired definition, now AWS's."""
        props = desired.properties
        keyed = keyed_definition(props)
        name = str(props["name"])
        properties = {
            "name": name,
            "description": props.get("description") or "",
            "endpointType": props.get("endpointType"),
            "authorizers": [keyed["authorizers"][k] for k in sorted(keyed["authorizers"])],
            "routes": [keyed["routes"][k] for k in sorted(keyed["routes"])],
        }
        outputs = _api_outputs(ctx, api_id, name, root)
        outputs["definitionHash"] = definition_hash(properties)
        return Observed(desired.key, self.kind, api_id, properties, tags, outputs)


def _api_outputs(ctx: KindContext, api_id: str, name: str, root: str | None) -> dict[str, Any]:
    return {
        "id": api_id,
        "name": name,
        "arn": resource_arn(ctx.region, f"/restapis/{api_id}"),
        "executionArn": execution_arn(ctx.region, ctx.account_id, api_id),
        "rootResourceId": root,
    }


def _converge_definition(apigw: APIGatewayClient, api_id: str, props: Mapping[str, Any], observed: Observed) -> None:
    """Write the authorizers and routes that differ, in an order AWS accepts (see the docstring)."""
    wanted = keyed_definition(props)
    current = keyed_definition(observed.properties)
    resources: dict[str, str] = dict(observed.private.get("resources", {}))
    method_authorizers: dict[str, str | None] = dict(observed.private.get("methods", {}))
    authorizer_names: dict[str, str] = dict(observed.private.get("authorizers", {}))

    # Authorizers first: the methods below refer to them by id.
    ids: dict[str, str] = {}
    for auth_id, name in sorted(authorizer_names.items()):
        ids.setdefault(name, auth_id)
    for name, want in sorted(wanted["authorizers"].items()):
        if name not in ids:
            created = apigw.create_authorizer(
                restApiId=api_id,
                name=name,
                type=COGNITO,
                providerARNs=list(want["providerArns"]),
                identitySource=str(want["identitySource"]),
            )
            ids[name] = created["id"]
        elif current["authorizers"].get(name) != want:
            ops = _authorizer_patch(current["authorizers"].get(name) or {}, want)
            if ops:
                apigw.update_authorizer(restApiId=api_id, authorizerId=ids[name], patchOperations=ops)

    for key, want in sorted(wanted["routes"].items()):
        resource_id = _ensure_path(apigw, api_id, resources, str(want["path"]))
        have = current["routes"].get(key)
        verb = str(want["method"])
        authorizer_id = ids.get(want["authorizer"]) if want["authorizer"] else None
        if have is not None and (
            _method_part(have) != _method_part(want) or method_authorizers.get(key) != authorizer_id
        ):
            # AWS has no way to unset an authorizer in place; the definition is only live once deployed.
            apigw.delete_method(restApiId=api_id, resourceId=resource_id, httpMethod=verb)
            have = None
        if have is None:
            method: dict[str, Any] = {"authorizationType": want["authorization"]}
            if authorizer_id is not None:
                method["authorizerId"] = authorizer_id
                if want["scopes"]:
                    method["authorizationScopes"] = list(want["scopes"])
            apigw.put_method(restApiId=api_id, resourceId=resource_id, httpMethod=verb, **method)
        if have is None or have["integrationUri"] != want["integrationUri"]:
            apigw.put_integration(
                restApiId=api_id,
                resourceId=resource_id,
                httpMethod=verb,
                type=PROXY,
                integrationHttpMethod=PROXY_METHOD,
                uri=str(want["integrationUri"]),
            )

    needed = {ROOT} | {p for route in wanted["routes"].values() for p in _ancestors(str(route["path"]))}
    for key, have in sorted(current["routes"].items()):
        if key not in wanted["routes"] and have["path"] in needed:
            with tolerate_not_found():
                apigw.delete_method(restApiId=api_id, resourceId=resources[have["path"]], httpMethod=have["method"])
    # Deepest first: AWS would take the children with their parent, moto would leave them dangling.
    for path in sorted(set(resources) - needed, key=lambda p: (-p.count("/"), p)):
        with tolerate_not_found():
            apigw.delete_resource(restApiId=api_id, resourceId=resources.pop(path))

    for auth_id, name in sorted(authorizer_names.items()):
        if name not in wanted["authorizers"] or ids.get(name) != auth_id:
            with tolerate_not_found():
                apigw.delete_authorizer(restApiId=api_id, authorizerId=auth_id)


def _method_part(route: Mapping[str, Any]) -> tuple[Any, ...]:
    return route["authorization"], route["authorizer"], tuple(route["scopes"])


def _authorizer_patch(have: Mapping[str, Any], want: Mapping[str, Any]) -> list[PatchOperationTypeDef]:
    ops: list[PatchOperationTypeDef] = []
    if have.get("type") != want["type"]:
        ops.append(patch("replace", "/type", want["type"]))
    if have.get("identitySource") != want["identitySource"]:
        ops.append(patch("replace", "/identitySource", want["identitySource"]))
    before, after = set(have.get("providerArns") or []), set(want["providerArns"])
    # Adds before removes: an authorizer must keep at least one user pool at every step.
    ops += [patch("add", "/providerARNs", arn) for arn in sorted(after - before)]
    ops += [patch("remove", "/providerARNs", arn) for arn in sorted(before - after)]
    return ops


def _ensure_path(apigw: APIGatewayClient, api_id: str, resources: dict[str, str], path: str) -> str:
    """The resource id of `path`, creating the missing path parts from the root down."""
    if path in resources:
        return resources[path]
    parent, _, part = path.rpartition("/")
    parent_id = _ensure_path(apigw, api_id, resources, parent or ROOT)
    resources[path] = apigw.create_resource(restApiId=api_id, parentId=parent_id, pathPart=part)["id"]
    return resources[path]
