"""API Gateway usage plans and the API keys that belong to them.

`apigateway.usage_plan` (UsagePlanKind(name_prefix), `UsagePlanProps`, delete rank 75). The name cannot
change in place; API stages compare in any order. Outputs: `id`, `name`, `arn`.

Identity. Plan names are not unique in API Gateway; a plan is ours by the tags CreateUsagePlan takes.
Observe is one GetUsagePlans, paginated (500 a page, tags with each plan), keeping those under the prefix
with the selector tags: a no-op resync reads once. Create is CreateUsagePlan with everything and the
tags. Update is one UpdateUsagePlan whose patch operations change the quota and the throttle in place
(`replace` a field, `add` every field when there was none, `remove /quota` or `/throttle`) and
`add`/`remove` `/apiStages` (`<api id>:<stage>`): the plan, its id and its keys stay. Then tags. Delete
detaches the API stages first (AWS refuses to delete a plan that still has them), then DeleteUsagePlan.

`apigateway.api_key` (ApiKeyKind(name_prefix), `ApiKeyProps`, delete rank 78). The name cannot change in
place. Observe reports `usagePlanId` as the plan's id, None, or the sorted list of ids when a key is found
in several of the workspace's plans, which is a diff to repair. Outputs: `id`, `name`, `usagePlanId`.
The key's value never leaves AWS: it is not read (`includeValues` false) and not kept from
CreateApiKey's answer, since outputs end up in the Kubernetes status.

Observe. One GetApiKeys, paginated (all the region's keys, 500 a page, tags with each; the name query
is not used because AWS does not document it as a prefix match), keeping those under the prefix with
the selector tags; then the plans holding them: GetUsagePlans (the workspace's, by their tags) and one
GetUsagePlanKeys per plan. A no-op resync reads 2 + P times for P plans, however many keys (tenants)
there are; GetUsagePlans(keyId) per key would read 1 + K. GetUsagePlanKeys answers with each key's
value too: only the ids are kept.

Create is CreateApiKey (description, enabled, tags) then CreateUsagePlanKey. Update: UpdateApiKey
(`/description`, `/enabled`), then a move between plans: DeleteUsagePlanKey from the old plan first,
because AWS allows a key only once per API stage and both plans may serve the same stage, then
CreateUsagePlanKey in the new one. The key, its id and its value stay. A crash in between leaves the key
in no plan, which the next resync sees and repairs. Delete is DeleteApiKey, which also takes the key out
of its plans.

moto 5.2.5 gaps: UpdateUsagePlan parses `/throttle/rateLimit` with int(), so a fractional rate cannot be
patched there (whole rates are written without a fraction and work); DeleteApiKey leaves the key listed in
its plans' keys; DeleteUsagePlanKey of a key not in the plan is a 500 rather than NotFound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, Props, ResourceKind
from cutlass_operator.props.apigateway import ApiKeyProps, UsagePlanProps
from cutlass_operator.resources.apigateway import (
    PAGE_SIZE,
    apigateway_errors,
    client,
    number,
    patch,
    resource_arn,
    retag,
)
from cutlass_operator.resources.errors import tolerate_not_found
from cutlass_operator.resources.tags import key_of, matches

if TYPE_CHECKING:
    from mypy_boto3_apigateway.client import APIGatewayClient
    from mypy_boto3_apigateway.type_defs import PatchOperationTypeDef

PLAN_SETTINGS = ("description", "throttle", "quota", "apiStages")


def _check_prefix(desired: Sequence[Desired[Props]], prefix: str, what: str) -> None:
    for d in desired:
        name = str(d.properties["name"])
        if not name.startswith(prefix):
            raise ValueError(f"{d.key}: {what} {name} is outside {prefix}")


# -- usage plans -----------------------------------------------------------------------------------


def _throttle(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not value:
        return None
    return {"rateLimit": number(value.get("rateLimit"), float), "burstLimit": number(value.get("burstLimit"), int)}


def _quota(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not value:
        return None
    return {
        "limit": number(value.get("limit"), int),
        "period": value.get("period"),
        "offset": number(value.get("offset"), int) or 0,
    }


def _stages(value: Any) -> list[dict[str, Any]]:
    pairs = {(s.get("apiId"), s.get("stage")) for s in value or []}
    return [{"apiId": api, "stage": stage} for api, stage in sorted(pairs, key=str)]


def _plan_settings(props: Mapping[str, Any]) -> dict[str, Any]:
    """A desired or observed plan's settings in one comparable shape."""
    return {
        "description": props.get("description") or "",
        "throttle": _throttle(props.get("throttle")),
        "quota": _quota(props.get("quota")),
        "apiStages": _stages(props.get("apiStages")),
    }


class UsagePlanKind(ResourceKind[UsagePlanProps]):
    props = UsagePlanProps
    delete_rank = 75
    immutable = frozenset({"name"})

    def __init__(self, name_prefix: str = "", orphan_scope: str = "") -> None:
        if not name_prefix:
            raise ValueError("a usage plan kind needs a name prefix: it is what keeps workspaces' plans apart")
        super().__init__(name_prefix, orphan_scope)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[UsagePlanProps]]) -> list[Observed]:
        _check_prefix(desired, self.name_prefix, "usage plan")
        apigw = client(ctx)
        found: list[Observed] = []
        with apigateway_errors(f"observe {self.kind} {self.name_prefix}*"):
            pages = apigw.get_paginator("get_usage_plans").paginate(PaginationConfig={"PageSize": PAGE_SIZE})
            for page in pages:
                for plan in page.get("items", []):
                    tags = dict(plan.get("tags", {}))
                    if str(plan.get("name", "")).startswith(self.name_prefix) and matches(tags, ctx.selector):
                        found.append(self._observed(ctx, key_of(tags, plan.get("id", "")), plan, tags))
        return found

    def _observed(self, ctx: KindContext, key: str, plan: Mapping[str, Any], tags: Mapping[str, str]) -> Observed:
        plan_id, name = str(plan.get("id", "")), str(plan.get("name", ""))
        properties = {"name": name, **_plan_settings(plan)}
        outputs = {"id": plan_id, "name": name, "arn": resource_arn(ctx.region, f"/usageplans/{plan_id}")}
        return Observed(key, self.kind, plan_id, properties, dict(tags), outputs)

    def create(self, ctx: KindContext, desired: Desired[UsagePlanProps]) -> Observed:
        apigw = client(ctx)
        name = desired.props.name
        want = _plan_settings(desired.properties)
        params: dict[str, Any] = {"name": name, "apiStages": want["apiStages"], "tags": dict(desired.tags)}
        if want["description"]:
            params["description"] = want["description"]
        for setting in ("throttle", "quota"):
            if want[setting] is not None:
                params[setting] = want[setting]
        with apigateway_errors(f"create {self.kind} {name}"):
            plan = apigw.create_usage_plan(**params)
        return self._observed(ctx, desired.key, plan, desired.tags)

    def update(
        self, ctx: KindContext, desired: Desired[UsagePlanProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        apigw = client(ctx)
        plan_id = observed.id
        want, have = _plan_settings(desired.properties), _plan_settings(observed.properties)
        ops: list[PatchOperationTypeDef] = []
        if want["description"] != have["description"]:
            ops.append(patch("replace", "/description", want["description"]))
        ops += _limits_patch("/throttle", want["throttle"], have["throttle"])
        ops += _limits_patch("/quota", want["quota"], have["quota"])
        wanted = {f"{s['apiId']}:{s['stage']}" for s in want["apiStages"]}
        current = {f"{s['apiId']}:{s['stage']}" for s in have["apiStages"]}
        ops += [patch("remove", "/apiStages", pair) for pair in sorted(current - wanted)]
        ops += [patch("add", "/apiStages", pair) for pair in sorted(wanted - current)]
        with apigateway_errors(f"update {self.kind} {plan_id}"):
            if ops:
                apigw.update_usage_plan(usagePlanId=plan_id, patchOperations=ops)
            tags = retag(apigw, observed.outputs["arn"], desired.tags, observed.tags)
        observed.properties.update(want)
        observed.tags = tags
        observed.key = desired.key
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        apigw = client(ctx)
        stages = _plan_settings(observed.properties)["apiStages"]
        with apigateway_errors(f"delete {self.kind} {observed.id}"), tolerate_not_found():
            if stages:
                detach = [patch("remove", "/apiStages", f"{s['apiId']}:{s['stage']}") for s in stages]
                apigw.update_usage_plan(usagePlanId=observed.id, patchOperations=detach)
            apigw.delete_usage_plan(usagePlanId=observed.id)

    def compare(self, desired: Desired[UsagePlanProps], observed: Observed) -> list[FieldDiff]:
        want, have = _plan_settings(desired.properties), _plan_settings(observed.properties)
        diffs = []
        if desired.properties.get("name") != observed.properties.get("name"):
            diffs.append(FieldDiff("name", observed.properties.get("name"), desired.properties.get("name")))
        diffs += [FieldDiff(name, have[name], want[name]) for name in PLAN_SETTINGS if want[name] != have[name]]
        return diffs + _tag_diffs(desired, observed)


def _limits_patch(
    root: str, want: Mapping[str, Any] | None, have: Mapping[str, Any] | None
) -> list[PatchOperationTypeDef]:
    """Throttle or quota: removed whole, added field by field, or only the fields that differ replaced."""
    if want is None:
        return [patch("remove", root)] if have is not None else []
    if have is None:
        return [patch("add", f"{root}/{name}", value) for name, value in want.items()]
    return [patch("replace", f"{root}/{name}", value) for name, value in want.items() if have.get(name) != value]


def _tag_diffs(desired: Desired[Props], observed: Observed) -> list[FieldDiff]:
    return [
        FieldDiff(f"tags.{name}", observed.tags.get(name), want)
        for name, want in sorted(desired.tags.items())
        if observed.tags.get(name) != want
    ]


# -- API keys --------------------------------------------------------------------------------------


def _plan_of(plans: Sequence[str]) -> str | list[str] | None:
    """One plan as its id, none as None, several as the list (a diff: a key belongs to one plan here)."""
    if not plans:
        return None
    return plans[0] if len(plans) == 1 else sorted(plans)


class ApiKeyKind(ResourceKind[ApiKeyProps]):
    props = ApiKeyProps
    delete_rank = 78
    immutable = frozenset({"name"})

    def __init__(self, name_prefix: str = "", orphan_scope: str = "") -> None:
        if not name_prefix:
            raise ValueError("an API key kind needs a name prefix: it is what keeps workspaces' keys apart")
        super().__init__(name_prefix, orphan_scope)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[ApiKeyProps]]) -> list[Observed]:
        _check_prefix(desired, self.name_prefix, "API key")
        wanted = {d.key for d in desired}
        apigw = client(ctx)
        found: list[Observed] = []
        with apigateway_errors(f"observe {self.kind} {self.name_prefix}*"):
            pages = apigw.get_paginator("get_api_keys").paginate(
                includeValues=False, PaginationConfig={"PageSize": PAGE_SIZE}
            )
            entries = []
            for page in pages:
                for key in page.get("items", []):
                    tags = dict(key.get("tags", {}))
                    if str(key.get("name", "")).startswith(self.name_prefix) and matches(tags, ctx.selector):
                        entries.append((key, tags, key_of(tags, key.get("id", ""))))
            # An orphan is only deleted, whatever plan it is in: membership is read for wanted keys.
            holding = _plans_holding(apigw, ctx) if any(entry in wanted for _, _, entry in entries) else {}
            for key, tags, entry in entries:
                plans = holding.get(str(key.get("id", "")), []) if entry in wanted else []
                found.append(self._observed(entry, key, tags, plans))
        return found

    def _observed(self, entry: str, key: Mapping[str, Any], tags: Mapping[str, str], plans: list[str]) -> Observed:
        key_id, name = str(key.get("id", "")), str(key.get("name", ""))
        properties = {
            "name": name,
            "description": key.get("description") or "",
            "enabled": bool(key.get("enabled", False)),
            "usagePlanId": _plan_of(plans),
        }
        outputs = {"id": key_id, "name": name, "usagePlanId": properties["usagePlanId"]}
        return Observed(entry, self.kind, key_id, properties, dict(tags), outputs, {"plans": plans})

    def create(self, ctx: KindContext, desired: Desired[ApiKeyProps]) -> Observed:
        apigw = client(ctx)
        props = desired.properties
        name = str(props["name"])
        params: dict[str, Any] = {"name": name, "enabled": bool(props.get("enabled")), "tags": dict(desired.tags)}
        if props.get("description"):
            params["description"] = str(props["description"])
        with apigateway_errors(f"create {self.kind} {name}"):
            created = apigw.create_api_key(**params)
            # Only what observe would report: the answer also carries the key's value.
            key = {k: created.get(k) for k in ("id", "name", "description", "enabled")}
            plans: list[str] = []
            if props.get("usagePlanId"):
                apigw.create_usage_plan_key(
                    usagePlanId=str(props["usagePlanId"]), keyId=created["id"], keyType="API_KEY"
                )
                plans = [str(props["usagePlanId"])]
        return self._observed(desired.key, key, desired.tags, plans)

    def update(
        self, ctx: KindContext, desired: Desired[ApiKeyProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        apigw = client(ctx)
        key_id = observed.id
        props = desired.properties
        ops: list[PatchOperationTypeDef] = []
        if (props.get("description") or "") != observed.properties["description"]:
            ops.append(patch("replace", "/description", props.get("description") or ""))
        if bool(props.get("enabled")) != observed.properties["enabled"]:
            ops.append(patch("replace", "/enabled", bool(props.get("enabled"))))
        target = str(props["usagePlanId"]) if props.get("usagePlanId") else None
        plans: list[str] = list(observed.private.get("plans", []))
        with apigateway_errors(f"update {self.kind} {key_id}"):
            if ops:
                apigw.update_api_key(apiKey=key_id, patchOperations=ops)
            # Out of the old plan first: AWS allows a key once per API stage, and both may serve one.
            for plan in [p for p in plans if p != target]:
                with tolerate_not_found():
                    apigw.delete_usage_plan_key(usagePlanId=plan, keyId=key_id)
                plans.remove(plan)
            if target is not None and target not in plans:
                apigw.create_usage_plan_key(usagePlanId=target, keyId=key_id, keyType="API_KEY")
                plans.append(target)
            arn = resource_arn(ctx.region, f"/apikeys/{key_id}")
            tags = retag(apigw, arn, desired.tags, observed.tags)
        key = {
            "id": key_id,
            "name": props["name"],
            "description": props.get("description"),
            "enabled": props.get("enabled"),
        }
        return self._observed(desired.key, key, tags, plans)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        apigw = client(ctx)
        with apigateway_errors(f"delete {self.kind} {observed.id}"), tolerate_not_found():
            apigw.delete_api_key(apiKey=observed.id)

    def compare(self, desired: Desired[ApiKeyProps], observed: Observed) -> list[FieldDiff]:
        want = {
            "name": desired.properties.get("name"),
            "description": desired.properties.get("description") or "",
            "enabled": bool(desired.properties.get("enabled")),
            "usagePlanId": desired.properties.get("usagePlanId") or None,
        }
        diffs = [
            FieldDiff(name, observed.properties.get(name), value)
            for name, value in want.items()
            if observed.properties.get(name) != value
        ]
        return diffs + _tag_diffs(desired, observed)


def _plans_holding(apigw: APIGatewayClient, ctx: KindContext) -> dict[str, list[str]]:
    """Key id -> the workspace's plans holding it (plans of others are theirs to manage)."""
    holding: dict[str, list[str]] = {}
    plans = apigw.get_paginator("get_usage_plans").paginate(PaginationConfig={"PageSize": PAGE_SIZE})
    for page in plans:
        for plan in page.get("items", []):
            if not matches(dict(plan.get("tags", {})), ctx.selector):
                continue
            keys = apigw.get_paginator("get_usage_plan_keys").paginate(
                usagePlanId=plan["id"], PaginationConfig={"PageSize": PAGE_SIZE}
            )
            for keys_page in keys:
                for key in keys_page.get("items", []):
                    holding.setdefault(str(key.get("id", "")), []).append(plan["id"])
    return {key: sorted(plans) for key, plans in holding.items()}
