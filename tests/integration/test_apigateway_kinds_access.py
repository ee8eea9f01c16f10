"""The kinds `apigateway.usage_plan`, `apigateway.api_key` and `apigateway.domain_name` against the moto
server, driven by the engine over an API and stage made by their own kinds.

Each test runs `reconcile` the way a layer does and reads API Gateway back with boto3: create, a steady
state that writes nothing, a quota changed in place (same plan), a key moved to another plan (same key,
same value), drift repaired (a key disabled, a quota lowered, a base path mapping deleted), destroy in
rank order. The certificate is a plausible ARN: moto does not look it up in ACM.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.session import AwsClients
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.plan import Action
from cutlass_operator.engine.reconcile import Outcome, reconcile
from cutlass_operator.engine.resource import Desired, KindContext, Props, Ref, ResourceKind
from cutlass_operator.props.apigateway import (
    ApiKeyProps,
    ApiRoute,
    ApiStage,
    BasePathMapping,
    DomainNameProps,
    Quota,
    RestApiProps,
    StageProps,
    Throttle,
    UsagePlanProps,
)
from cutlass_operator.resources.apigateway import StageKind
from cutlass_operator.resources.apigateway_api import RestApiKind
from cutlass_operator.resources.apigateway_domains import DomainNameKind
from cutlass_operator.resources.apigateway_plans import ApiKeyKind, UsagePlanKind

from .outcomes import actions, diff_paths, outputs

pytestmark = pytest.mark.integration

REGION = "eu-west-2"
PREFIX = "cutlass-tech-api-dev-london"
API, STAGE = "api/rest-api", "api/stage"
PLAN, OTHER_PLAN, KEY, DOMAIN = "api/plan-standard", "api/plan-partner", "api/key-partner", "api/domain"
DOMAIN_NAME = "api.london.dev.cutlass.example"


def uri(account_id: str) -> str:
    alias_arn = f"arn:aws:lambda:{REGION}:{account_id}:function:cutlass-tech-usage-check-dev-london:live"
    return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{alias_arn}/invocations"


def entry(workspace: Workspace, key: str, name: str, props: Props) -> Desired[Any]:
    return Desired(key, props, name, workspace.tags("api", key, name))


def api_and_stage(workspace: Workspace) -> list[Desired[Any]]:
    route = ApiRoute(
        path="/usage-check",
        method="POST",
        authorization="NONE",
        authorizer=None,
        scopes=(),
        integration_uri=uri(workspace.account_id),
    )
    api = RestApiProps(name=PREFIX, description="", endpoint_type="REGIONAL", authorizers=(), routes=(route,))
    stage = StageProps(
        rest_api_id=Ref(API, "id"),
        stage_name="v1",
        definition_hash=Ref(API, "definitionHash"),
        description="",
        tracing_enabled=False,
        access_log_destination_arn=None,
        access_log_format=None,
        throttling_rate_limit=50.0,
        throttling_burst_limit=100,
    )
    return [entry(workspace, API, PREFIX, api), entry(workspace, STAGE, "v1", stage)]


def plan(workspace: Workspace, key: str = PLAN, suffix: str = "standard", **changes: Any) -> Desired[Any]:
    props = UsagePlanProps(
        name=f"{PREFIX}-{suffix}",
        description=f"The {suffix} plan",
        throttle=Throttle(rate_limit=20.0, burst_limit=40),
        quota=Quota(limit=10000, period="MONTH", offset=0),
        api_stages=(ApiStage(api_id=Ref(API, "id"), stage=Ref(STAGE, "stageName")),),
    )
    props = replace(props, **changes)
    return entry(workspace, key, props.name, props)


def api_key(workspace: Workspace, plan_key: str = PLAN, **changes: Any) -> Desired[Any]:
    props = ApiKeyProps(
        name=f"{PREFIX}-partner",
        description="The partner's key",
        enabled=True,
        usage_plan_id=Ref(plan_key, "id"),
    )
    props = replace(props, **changes)
    return entry(workspace, KEY, props.name, props)


def domain(workspace: Workspace, account_id: str, **changes: Any) -> Desired[Any]:
    props = DomainNameProps(
        domain_name=DOMAIN_NAME,
        regional_certificate_arn=f"arn:aws:acm:{REGION}:{account_id}:certificate/0f3c8a9e-api",
        security_policy="TLS_1_2",
        endpoint_type="REGIONAL",
        base_path_mappings=(
            BasePathMapping(base_path="(none)", rest_api_id=Ref(API, "id"), stage=Ref(STAGE, "stageName")),
        ),
    )
    return entry(workspace, DOMAIN, DOMAIN_NAME, replace(props, **changes))


def everything(workspace: Workspace, *extra: Desired[Any], key: Desired[Any] | None = None) -> list[Desired[Any]]:
    account_id = workspace.account_id
    return [
        *api_and_stage(workspace),
        plan(workspace),
        key or api_key(workspace),
        domain(workspace, account_id),
        *extra,
    ]


def kinds() -> dict[str, ResourceKind[Any]]:
    return {
        "apigateway.rest_api": RestApiKind(PREFIX),
        "apigateway.stage": StageKind(),
        "apigateway.usage_plan": UsagePlanKind(PREFIX),
        "apigateway.api_key": ApiKeyKind(PREFIX),
        "apigateway.domain_name": DomainNameKind(),
    }


def converged(ctx: KindContext, desired: list[Desired[Any]], **options: Any) -> Outcome:
    outcome = reconcile(kinds(), desired, ctx, **options)
    assert outcome.result is not None
    assert outcome.result.ok, {key: err.message for key, err in outcome.result.errors.items()}
    return outcome


@pytest.fixture
def apigw(clients: AwsClients) -> Any:
    return clients.client("apigateway")


def plans_by_name(apigw: Any) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in apigw.get_usage_plans()["items"]}


def keys_in(apigw: Any, plan_id: str) -> list[str]:
    return [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan_id)["items"]]


class TestCreate:
    def test_plan_key_and_domain_are_created_and_wired_to_the_stage(
        self, ctx: KindContext, workspace: Workspace, apigw: Any, account_id: str
    ) -> None:
        outcome = converged(ctx, everything(workspace))

        assert set(actions(outcome).values()) == {Action.CREATE}
        api_id = outputs(outcome, API)["id"]
        standard = plans_by_name(apigw)[f"{PREFIX}-standard"]
        assert standard["description"] == "The standard plan"
        assert standard["throttle"] == {"rateLimit": 20.0, "burstLimit": 40}
        assert standard["quota"] == {"limit": 10000, "period": "MONTH", "offset": 0}
        assert standard["apiStages"] == [{"apiId": api_id, "stage": "v1"}]
        assert standard["tags"] == dict(plan(workspace).tags)
        assert outputs(outcome, PLAN) == {
            "id": standard["id"],
            "name": f"{PREFIX}-standard",
            "arn": f"arn:aws:apigateway:{REGION}::/usageplans/{standard['id']}",
        }

        key_out = outputs(outcome, KEY)
        key = apigw.get_api_key(apiKey=key_out["id"], includeValue=True)
        assert (key["name"], key["description"], key["enabled"]) == (f"{PREFIX}-partner", "The partner's key", True)
        assert key["tags"] == dict(api_key(workspace).tags)
        assert keys_in(apigw, standard["id"]) == [key["id"]]
        assert key_out == {"id": key["id"], "name": f"{PREFIX}-partner", "usagePlanId": standard["id"]}
        assert key["value"] not in repr(outcome.result)  # the value never reaches outputs or state

        found = apigw.get_domain_name(domainName=DOMAIN_NAME)
        assert found["regionalCertificateArn"] == f"arn:aws:acm:{REGION}:{account_id}:certificate/0f3c8a9e-api"
        assert found["securityPolicy"] == "TLS_1_2"
        assert found["endpointConfiguration"]["types"] == ["REGIONAL"]
        assert found["tags"] == dict(domain(workspace, account_id).tags)
        mappings = apigw.get_base_path_mappings(domainName=DOMAIN_NAME)["items"]
        assert [(m["basePath"], m["restApiId"], m["stage"]) for m in mappings] == [("(none)", api_id, "v1")]
        assert outputs(outcome, DOMAIN) == {
            "id": DOMAIN_NAME,
            "domainName": DOMAIN_NAME,
            "regionalDomainName": found["regionalDomainName"],
            "regionalHostedZoneId": found["regionalHostedZoneId"],
            "arn": f"arn:aws:apigateway:{REGION}::/domainnames/{DOMAIN_NAME}",
        }
        assert found["regionalDomainName"].endswith(f".execute-api.{REGION}.amazonaws.com")
        assert found["regionalHostedZoneId"]


class TestSteadyState:
    def test_a_second_reconcile_plans_no_change_and_writes_nothing(
        self, ctx: KindContext, workspace: Workspace, calls: CallLog
    ) -> None:
        desired = everything(workspace)
        converged(ctx, desired)
        calls.reset()

        outcome = converged(ctx, desired)

        assert set(actions(outcome).values()) == {Action.NOOP}
        assert calls.mutating() == {}
        print(f"API Gateway no-op reconcile of the five kinds: {calls.reads} reads: {dict(calls.calls)}")
        assert dict(calls.calls) == {
            "apigateway:GetRestApis": 2,  # the rest API kind and the stage kind
            "apigateway:GetResources": 1,
            "apigateway:GetAuthorizers": 1,
            "apigateway:GetStages": 1,
            "apigateway:GetDeployment": 1,
            "apigateway:GetUsagePlans": 2,  # the plan kind's listing, and the key kind's
            "apigateway:GetUsagePlanKeys": 1,  # per workspace plan: the keys it holds
            "apigateway:GetApiKeys": 1,
            "apigateway:GetDomainNames": 1,
            "apigateway:GetBasePathMappings": 1,
        }

    def test_the_reads_of_a_no_op_do_not_grow_with_the_keys(
        self, ctx: KindContext, workspace: Workspace, calls: CallLog
    ) -> None:
        def tenants(count: int) -> list[Desired[Any]]:
            keys = [
                Desired(f"api/key-{i}", props, props.name, workspace.tags("api", f"api/key-{i}", props.name))
                for i in range(count)
                for props in [replace(api_key(workspace).props, name=f"{PREFIX}-tenant-{i}")]
            ]
            return everything(workspace, *keys)

        reads = {}
        for count in (1, 12):
            converged(ctx, tenants(count))
            calls.reset()
            outcome = converged(ctx, tenants(count))
            assert set(actions(outcome).values()) == {Action.NOOP}
            reads[count] = dict(calls.calls)
        assert reads[12] == reads[1]


class TestUpdate:
    def test_a_quota_change_updates_the_plan_in_place(
        self, ctx: KindContext, workspace: Workspace, apigw: Any, calls: CallLog
    ) -> None:
        first = converged(ctx, everything(workspace))
        plan_id = outputs(first, PLAN)["id"]
        calls.reset()

        bigger = plan(workspace, quota=Quota(limit=50000, period="MONTH", offset=0), throttle=None)
        outcome = converged(
            ctx, [*api_and_stage(workspace), bigger, api_key(workspace), domain(workspace, ctx.account_id)]
        )

        assert diff_paths(outcome, PLAN) == {"quota", "throttle"}
        assert calls.mutating() == {"apigateway:UpdateUsagePlan": 1}
        current = plans_by_name(apigw)[f"{PREFIX}-standard"]
        assert current["id"] == plan_id
        assert current["quota"] == {"limit": 50000, "period": "MONTH", "offset": 0}
        assert "throttle" not in current
        assert outputs(outcome, KEY)["usagePlanId"] == plan_id
        assert keys_in(apigw, plan_id) == [outputs(first, KEY)["id"]]

    def test_moving_a_key_to_another_plan_keeps_its_id_and_value(
        self, ctx: KindContext, workspace: Workspace, apigw: Any, calls: CallLog
    ) -> None:
        partner = plan(workspace, OTHER_PLAN, "partner", quota=Quota(limit=100000, period="MONTH", offset=0))
        first = converged(ctx, everything(workspace, partner))
        key_id = outputs(first, KEY)["id"]
        value = apigw.get_api_key(apiKey=key_id, includeValue=True)["value"]
        standard, other = outputs(first, PLAN)["id"], outputs(first, OTHER_PLAN)["id"]
        calls.reset()

        outcome = converged(ctx, everything(workspace, partner, key=api_key(workspace, OTHER_PLAN)))

        assert diff_paths(outcome, KEY) == {"usagePlanId"}
        assert calls.mutating() == {"apigateway:DeleteUsagePlanKey": 1, "apigateway:CreateUsagePlanKey": 1}
        assert keys_in(apigw, standard) == []
        assert keys_in(apigw, other) == [key_id]
        assert apigw.get_api_key(apiKey=key_id, includeValue=True)["value"] == value
        assert outputs(outcome, KEY) == {"id": key_id, "name": f"{PREFIX}-partner", "usagePlanId": other}
        assert converged(ctx, everything(workspace, partner, key=api_key(workspace, OTHER_PLAN))).plan.empty

    def test_a_second_base_path_mapping_is_added_beside_the_root(
        self, ctx: KindContext, workspace: Workspace, apigw: Any, account_id: str
    ) -> None:
        converged(ctx, everything(workspace))
        api_id = the_api_id(apigw)
        mappings = (
            BasePathMapping(base_path="", rest_api_id=Ref(API, "id"), stage=Ref(STAGE, "stageName")),
            BasePathMapping(base_path="v1", rest_api_id=Ref(API, "id"), stage=Ref(STAGE, "stageName")),
        )
        desired = [*everything(workspace)[:-1], domain(workspace, account_id, base_path_mappings=mappings)]

        outcome = converged(ctx, desired)

        assert diff_paths(outcome, DOMAIN) == {"basePathMappings[v1]"}
        found = apigw.get_base_path_mappings(domainName=DOMAIN_NAME)["items"]
        assert sorted((m["basePath"], m["restApiId"], m["stage"]) for m in found) == [
            ("(none)", api_id, "v1"),
            ("v1", api_id, "v1"),
        ]
        assert converged(ctx, desired).plan.empty


def the_api_id(apigw: Any) -> str:
    return str(next(a["id"] for a in apigw.get_rest_apis()["items"] if a["name"] == PREFIX))


class TestDrift:
    def test_a_disabled_key_a_lowered_quota_and_a_deleted_mapping_are_put_back(
        self, ctx: KindContext, workspace: Workspace, apigw: Any, calls: CallLog
    ) -> None:
        desired = everything(workspace)
        first = converged(ctx, desired)
        key_id, plan_id = outputs(first, KEY)["id"], outputs(first, PLAN)["id"]
        apigw.update_api_key(apiKey=key_id, patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}])
        apigw.update_usage_plan(
            usagePlanId=plan_id, patchOperations=[{"op": "replace", "path": "/quota/limit", "value": "10"}]
        )
        apigw.delete_base_path_mapping(domainName=DOMAIN_NAME, basePath="(none)")
        calls.reset()

        outcome = converged(ctx, desired)

        assert diff_paths(outcome, KEY) == {"enabled"}
        assert diff_paths(outcome, PLAN) == {"quota"}
        assert diff_paths(outcome, DOMAIN) == {"basePathMappings[(none)]"}
        assert calls.mutating() == {
            "apigateway:UpdateApiKey": 1,
            "apigateway:UpdateUsagePlan": 1,
            "apigateway:CreateBasePathMapping": 1,
        }
        assert apigw.get_api_key(apiKey=key_id)["enabled"] is True
        assert plans_by_name(apigw)[f"{PREFIX}-standard"]["quota"]["limit"] == 10000
        assert len(apigw.get_base_path_mappings(domainName=DOMAIN_NAME)["items"]) == 1
        assert converged(ctx, desired).plan.empty

    def test_a_key_taken_out_of_its_plan_is_put_back(self, ctx: KindContext, workspace: Workspace, apigw: Any) -> None:
        desired = everything(workspace)
        first = converged(ctx, desired)
        key_id, plan_id = outputs(first, KEY)["id"], outputs(first, PLAN)["id"]
        apigw.delete_usage_plan_key(usagePlanId=plan_id, keyId=key_id)

        outcome = converged(ctx, desired)

        assert diff_paths(outcome, KEY) == {"usagePlanId"}
        assert keys_in(apigw, plan_id) == [key_id]


class TestDelete:
    def test_destroy_deletes_everything_dependants_first(
        self, ctx: KindContext, workspace: Workspace, apigw: Any
    ) -> None:
        desired = everything(workspace)
        converged(ctx, desired)
        order: list[str] = []
        # The kinds share this client (one per service and region), so its hooks see their calls in order.
        apigw.meta.events.register("before-call.apigateway", lambda model, **_: order.append(model.name))

        outcome = converged(ctx, desired, destroy=True)

        assert set(actions(outcome).values()) == {Action.DELETE}
        deletes = [op for op in order if op.startswith("Delete")]
        assert deletes == ["DeleteDomainName", "DeleteApiKey", "DeleteUsagePlan", "DeleteStage", "DeleteRestApi"]
        # The plan's API stages were detached before the plan was deleted.
        assert order.index("UpdateUsagePlan") < order.index("DeleteUsagePlan")
        assert apigw.get_domain_names()["items"] == []
        assert [k for k in apigw.get_api_keys()["items"] if k["name"].startswith(PREFIX)] == []
        assert apigw.get_usage_plans()["items"] == []
        assert [a for a in apigw.get_rest_apis()["items"] if a["name"] == PREFIX] == []

    def test_a_key_no_longer_desired_is_deleted_and_the_plan_kept(
        self, ctx: KindContext, workspace: Workspace, apigw: Any
    ) -> None:
        first = converged(ctx, everything(workspace))
        without_key = [d for d in everything(workspace) if d.key != KEY]

        outcome = converged(ctx, without_key)

        assert actions(outcome)[KEY] == Action.DELETE
        assert [k for k in apigw.get_api_keys()["items"] if k["name"].startswith(PREFIX)] == []
        assert plans_by_name(apigw)[f"{PREFIX}-standard"]["id"] == outputs(first, PLAN)["id"]
