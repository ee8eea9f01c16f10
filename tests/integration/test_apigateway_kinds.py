"""The kinds `apigateway.rest_api` and `apigateway.stage` against the moto server, driven by the engine.

Each test runs `reconcile` the way a layer does and reads API Gateway back with boto3: create, a steady
state that writes nothing, routes added and removed (one deployment each, none for a no-op), drift
repaired (a method deleted, stage throttling changed) without a deployment, a stage name held by
someone else refused, destroy.

moto does not check that the Lambda functions behind integration URIs, or the Cognito user pool behind
the authorizer, exist, so the URIs are plausible literals and the pool's ARN comes from a stand-in kind
(the user pool kind is another layer's), which also proves that a `Ref` in the definition does not
make a steady state look changed. moto 5.2.5 gaps met here are listed in the kinds' docstrings; none is
worked around in the kinds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest

from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.session import AwsClients
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.plan import Action
from cutlass_operator.engine.reconcile import Outcome, reconcile
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, Props, Ref, ResourceKind
from cutlass_operator.props.apigateway import ApiRoute, Authorizer, HttpMethod, RestApiProps, StageProps
from cutlass_operator.resources.apigateway import StageKind
from cutlass_operator.resources.apigateway_api import RestApiKind, definition_hash

from .outcomes import actions, diff_paths, outputs

pytestmark = pytest.mark.integration

REGION = "eu-west-2"
PREFIX = "cutlass-tech-api-dev-london"
API = "api/rest-api"
STAGE = "api/stage"
POOL = "auth/user-pool"
IDENTITY = "method.request.header.Authorization"
LOG_FORMAT = '{"requestId":"$context.requestId","status":"$context.status"}'


@dataclass(frozen=True)
class StandInPoolProps(Props):
    kind = "test.user_pool"


class UserPoolStandIn(ResourceKind[StandInPoolProps]):
    """Another layer's user pool, always present: only its `arn` output matters here."""

    props = StandInPoolProps
    delete_rank = 10

    def __init__(self, account_id: str) -> None:
        super().__init__()
        self.arn = f"arn:aws:cognito-idp:{REGION}:{account_id}:userpool/{REGION}_StandIn01"

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[StandInPoolProps]]) -> list[Observed]:
        return [
            Observed(d.key, self.kind, self.arn, dict(d.properties), dict(d.tags), {"arn": self.arn}) for d in desired
        ]

    def create(self, ctx: KindContext, desired: Desired[StandInPoolProps]) -> Observed:
        raise AssertionError("the stand-in pool always exists")

    def update(
        self, ctx: KindContext, desired: Desired[StandInPoolProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        raise AssertionError("the stand-in pool never changes")

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        """Nothing to delete."""


def function_uri(account_id: str, function: str) -> str:
    alias_arn = f"arn:aws:lambda:{REGION}:{account_id}:function:cutlass-tech-{function}-dev-london:live"
    return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{alias_arn}/invocations"


def route(
    account_id: str, path: str, method: HttpMethod = "POST", *, function: str = "usage-check", auth: bool = True
) -> ApiRoute:
    return ApiRoute(
        path=path,
        method=method,
        authorization="COGNITO_USER_POOLS" if auth else "NONE",
        authorizer="cognito" if auth else None,
        scopes=("cutlass/usage.write",) if auth else (),
        integration_uri=function_uri(account_id, function),
    )


def api_desired(workspace: Workspace, routes: list[ApiRoute], *, authorizers: bool = True) -> Desired[RestApiProps]:
    props = RestApiProps(
        name=PREFIX,
        description="Cutlass usage API",
        endpoint_type="REGIONAL",
        authorizers=(
            Authorizer(
                name="cognito",
                type="COGNITO_USER_POOLS",
                provider_arns=(Ref(POOL, "arn"),),
                identity_source=IDENTITY,
            ),
        )
        if authorizers
        else (),
        routes=tuple(routes),
    )
    return Desired(API, props, PREFIX, workspace.tags("api", API, PREFIX))


def stage_desired(workspace: Workspace, **changes: Any) -> Desired[StageProps]:
    props = StageProps(
        rest_api_id=Ref(API, "id"),
        stage_name="v1",
        definition_hash=Ref(API, "definitionHash"),
        description="Version 1",
        tracing_enabled=True,
        access_log_destination_arn=f"arn:aws:logs:{REGION}:{workspace.account_id}:log-group:/cutlass/api:*",
        access_log_format=LOG_FORMAT,
        throttling_rate_limit=100.0,
        throttling_burst_limit=200,
    )
    return Desired(STAGE, replace(props, **changes), "v1", workspace.tags("api", STAGE, f"{PREFIX}-v1"))


def pool_desired(workspace: Workspace) -> Desired[StandInPoolProps]:
    return Desired(POOL, StandInPoolProps(), "pool", workspace.tags("auth", POOL, "pool"))


def base_routes(account_id: str) -> list[ApiRoute]:
    return [route(account_id, "/usage-check")]


def desired_set(workspace: Workspace, routes: list[ApiRoute] | None = None, **options: Any) -> list[Desired[Any]]:
    routes = base_routes(workspace.account_id) if routes is None else routes
    return [pool_desired(workspace), api_desired(workspace, routes, **options), stage_desired(workspace)]


def kinds(account_id: str) -> dict[str, ResourceKind[Any]]:
    return {
        "apigateway.rest_api": RestApiKind(PREFIX),
        "apigateway.stage": StageKind(),
        "test.user_pool": UserPoolStandIn(account_id),
    }


def converged(ctx: KindContext, desired: list[Desired[Any]], **options: Any) -> Outcome:
    outcome = reconcile(kinds(ctx.account_id), desired, ctx, **options)
    assert outcome.result is not None
    assert outcome.result.ok, {key: err.message for key, err in outcome.result.errors.items()}
    return outcome


@pytest.fixture
def apigw(clients: AwsClients) -> Any:
    return clients.client("apigateway")


def the_api(apigw: Any) -> dict[str, Any]:
    apis = [a for a in apigw.get_rest_apis()["items"] if a["name"] == PREFIX]
    assert len(apis) == 1
    result: dict[str, Any] = apis[0]
    return result


def methods(apigw: Any, api_id: str) -> dict[str, dict[str, Any]]:
    """`{"POST /usage-check": method}` with the embedded integration, as the kind reads them."""
    found = {}
    for resource in apigw.get_resources(restApiId=api_id, embed=["methods"])["items"]:
        for verb, method in resource.get("resourceMethods", {}).items():
            found[f"{verb} {resource['path']}"] = method
    return found


def paths(apigw: Any, api_id: str) -> set[str]:
    return {r["path"] for r in apigw.get_resources(restApiId=api_id)["items"]}


def deployments(apigw: Any, api_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = apigw.get_deployments(restApiId=api_id)["items"]
    return items


class TestCreate:
    def test_the_api_is_created_with_its_definition_and_a_stage_serving_it(
        self, ctx: KindContext, workspace: Workspace, apigw: Any, account_id: str
    ) -> None:
        outcome = converged(ctx, desired_set(workspace))

        assert actions(outcome) == {POOL: Action.NOOP, API: Action.CREATE, STAGE: Action.CREATE}
        api = the_api(apigw)
        api_id = api["id"]
        assert api["description"] == "Cutlass usage API"
        assert api["endpointConfiguration"]["types"] == ["REGIONAL"]
        assert api["tags"] == dict(api_desired(workspace, []).tags)
        authorizers = apigw.get_authorizers(restApiId=api_id)["items"]
        assert [(a["name"], a["type"], a["providerARNs"], a["identitySource"]) for a in authorizers] == [
            ("cognito", "COGNITO_USER_POOLS", [UserPoolStandIn(account_id).arn], IDENTITY)
        ]
        found = methods(apigw, api_id)
        assert list(found) == ["POST /usage-check"]
        method = found["POST /usage-check"]
        assert method["authorizationType"] == "COGNITO_USER_POOLS"
        assert method["authorizerId"] == authorizers[0]["id"]
        assert method["authorizationScopes"] == ["cutlass/usage.write"]
        integration = method["methodIntegration"]
        assert (integration["type"], integration["httpMethod"]) == ("AWS_PROXY", "POST")
        assert integration["uri"] == function_uri(account_id, "usage-check")

        api_out = outputs(outcome, API)
        assert api_out == {
            "id": api_id,
            "name": PREFIX,
            "arn": f"arn:aws:apigateway:{REGION}::/restapis/{api_id}",
            "executionArn": f"arn:aws:execute-api:{REGION}:{account_id}:{api_id}",
            "rootResourceId": api["rootResourceId"],
            "definitionHash": api_out["definitionHash"],
        }
        assert len(api_out["definitionHash"]) == 64

        stage = apigw.get_stage(restApiId=api_id, stageName="v1")
        assert stage["description"] == "Version 1"
        assert stage["tracingEnabled"] is True
        assert stage["accessLogSettings"] == {
            "destinationArn": f"arn:aws:logs:{REGION}:{account_id}:log-group:/cutlass/api",
            "format": LOG_FORMAT,
        }
        limits = stage["methodSettings"]["*/*"]
        assert (limits["throttlingRateLimit"], limits["throttlingBurstLimit"]) == (100.0, 200)
        assert stage["tags"] == dict(stage_desired(workspace).tags)
        assert [d["id"] for d in deployments(apigw, api_id)] == [stage["deploymentId"]]
        deployment = apigw.get_deployment(restApiId=api_id, deploymentId=stage["deploymentId"])
        assert deployment["description"] == f"cutlass definition {api_out['definitionHash']}"
        assert outputs(outcome, STAGE) == {
            "id": f"{api_id}/v1",
            "stageName": "v1",
            "deploymentId": stage["deploymentId"],
            "invokeUrl": f"https://{api_id}.execute-api.{REGION}.amazonaws.com/v1",
            "arn": f"arn:aws:apigateway:{REGION}::/restapis/{api_id}/stages/v1",
        }

    def test_a_stage_name_held_by_a_stage_without_our_tags_is_refused(
        self, ctx: KindContext, workspace: Workspace, apigw: Any
    ) -> None:
        converged(ctx, [pool_desired(workspace), api_desired(workspace, base_routes(workspace.account_id))])
        api_id = the_api(apigw)["id"]
        deployment = apigw.create_deployment(restApiId=api_id, description="by hand")["id"]
        apigw.create_stage(restApiId=api_id, stageName="v1", deploymentId=deployment)

        outcome = reconcile(kinds(ctx.account_id), desired_set(workspace), ctx)

        assert outcome.result is not None
        error = outcome.result.errors[STAGE]
        assert error.reason == "StageNameTaken"
        assert apigw.get_stage(restApiId=api_id, stageName="v1")["deploymentId"] == deployment


class TestSteadyState:
    def test_a_second_reconcile_plans_no_change_writes_nothing_and_deploys_nothing(
        self, ctx: KindContext, workspace: Workspace, apigw: Any, calls: CallLog
    ) -> None:
        desired = desired_set(workspace)
        converged(ctx, desired)
        api_id = the_api(apigw)["id"]
        calls.reset()

        outcome = converged(ctx, desired)

        assert set(actions(outcome).values()) == {Action.NOOP}
        assert calls.mutating() == {}
        print(f"rest API + stage no-op reconcile: {calls.reads} reads: {dict(calls.calls)}")
        # The rest API kind: 1 + 2 per API; the stage kind: 1 + 1 per API + 1 per stage.
        assert dict(calls.calls) == {
            "apigateway:GetRestApis": 2,
            "apigateway:GetResources": 1,
            "apigateway:GetAuthorizers": 1,
            "apigateway:GetStages": 1,
            "apigateway:GetDeployment": 1,
        }
        assert len(deployments(apigw, api_id)) == 1


class TestDefinitionChanges:
    def test_adding_a_route_makes_exactly_one_deployment_and_the_next_resync_none(
        self, ctx: KindContext, workspace: Workspace, apigw: Any, calls: CallLog, account_id: str
    ) -> None:
        first = converged(ctx, desired_set(workspace))
        api_id = the_api(apigw)["id"]
        before = deployments(apigw, api_id)
        routes = [*base_routes(account_id), route(account_id, "/usage-check/{organisation}", "GET", function="credits")]
        calls.reset()

        outcome = converged(ctx, desired_set(workspace, routes))

        assert actions(outcome)[API] == Action.UPDATE
        assert diff_paths(outcome, API) == {"routes[GET /usage-check/{organisation}]"}
        assert actions(outcome)[STAGE] == Action.UPDATE  # planned with the hash known after apply
        assert calls.calls["apigateway:CreateDeployment"] == 1
        assert calls.calls["apigateway:CreateResource"] == 1
        after = deployments(apigw, api_id)
        assert len(after) == len(before) + 1
        new_hash = outputs(outcome, API)["definitionHash"]
        assert new_hash != outputs(first, API)["definitionHash"]
        stage = apigw.get_stage(restApiId=api_id, stageName="v1")
        assert stage["deploymentId"] not in {d["id"] for d in before}
        assert apigw.get_deployment(restApiId=api_id, deploymentId=stage["deploymentId"])["description"] == (
            f"cutlass definition {new_hash}"
        )
        method = methods(apigw, api_id)["GET /usage-check/{organisation}"]
        assert method["methodIntegration"]["uri"] == function_uri(account_id, "credits")
        # The stage's other settings were left as they were.
        assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 100.0

        calls.reset()
        again = converged(ctx, desired_set(workspace, routes))

        assert again.plan.empty
        assert calls.mutating() == {}
        assert len(deployments(apigw, api_id)) == len(after)

    def test_removing_routes_and_the_authorizer_deletes_methods_path_parts_and_authorizer(
        self, ctx: KindContext, workspace: Workspace, apigw: Any, account_id: str
    ) -> None:
        routes = [*base_routes(account_id), route(account_id, "/admin/reports", "GET", function="reports")]
        converged(ctx, desired_set(workspace, routes))
        api_id = the_api(apigw)["id"]
        assert paths(apigw, api_id) == {"/", "/usage-check", "/admin", "/admin/reports"}
        count = len(deployments(apigw, api_id))

        public = [route(account_id, "/usage-check", auth=False)]
        outcome = converged(ctx, desired_set(workspace, public, authorizers=False))

        assert diff_paths(outcome, API) == {
            "authorizers[cognito]",
            "routes[GET /admin/reports]",
            "routes[POST /usage-check]",
        }
        assert paths(apigw, api_id) == {"/", "/usage-check"}
        assert apigw.get_authorizers(restApiId=api_id)["items"] == []
        method = methods(apigw, api_id)["POST /usage-check"]
        assert method["authorizationType"] == "NONE"
        assert "authorizerId" not in method
        assert method["methodIntegration"]["uri"] == function_uri(account_id, "usage-check")
        assert len(deployments(apigw, api_id)) == count + 1
        assert converged(ctx, desired_set(workspace, public, authorizers=False)).plan.empty

    def test_a_new_integration_uri_is_put_without_touching_the_method(
        self, ctx: KindContext, workspace: Workspace, apigw: Any, calls: CallLog, account_id: str
    ) -> None:
        converged(ctx, desired_set(workspace))
        api_id = the_api(apigw)["id"]
        calls.reset()

        moved = [route(account_id, "/usage-check", function="usage-check-v2")]
        converged(ctx, desired_set(workspace, moved))

        writes = calls.mutating()
        assert writes == {"apigateway:PutIntegration": 1, "apigateway:CreateDeployment": 1, "apigateway:UpdateStage": 1}
        uri = methods(apigw, api_id)["POST /usage-check"]["methodIntegration"]["uri"]
        assert uri == function_uri(account_id, "usage-check-v2")

    def test_an_authorizer_setting_is_patched_in_place(
        self, ctx: KindContext, workspace: Workspace, apigw: Any, calls: CallLog
    ) -> None:
        converged(ctx, desired_set(workspace))
        api_id = the_api(apigw)["id"]
        before = apigw.get_authorizers(restApiId=api_id)["items"][0]["id"]
        desired = desired_set(workspace)
        api = desired[1]
        authorizer = replace(api.props.authorizers[0], identity_source="method.request.header.X-Cutlass-Token")
        desired[1] = replace(api, props=replace(api.props, authorizers=(authorizer,)))
        calls.reset()

        outcome = converged(ctx, desired)

        assert diff_paths(outcome, API) == {"authorizers[cognito]"}
        assert calls.mutating() == {
            "apigateway:UpdateAuthorizer": 1,
            "apigateway:CreateDeployment": 1,
            "apigateway:UpdateStage": 1,
        }
        after = apigw.get_authorizers(restApiId=api_id)["items"]
        assert [(a["id"], a["identitySource"]) for a in after] == [(before, "method.request.header.X-Cutlass-Token")]


class TestDrift:
    def test_a_method_deleted_out_of_band_is_put_back_without_a_new_deployment(
        self, ctx: KindContext, workspace: Workspace, apigw: Any, account_id: str
    ) -> None:
        desired = desired_set(workspace)
        converged(ctx, desired)
        api_id = the_api(apigw)["id"]
        resource = next(r for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/usage-check")
        apigw.delete_method(restApiId=api_id, resourceId=resource["id"], httpMethod="POST")
        count = len(deployments(apigw, api_id))

        outcome = converged(ctx, desired)

        assert diff_paths(outcome, API) == {"routes[POST /usage-check]"}
        method = methods(apigw, api_id)["POST /usage-check"]
        assert method["authorizationType"] == "COGNITO_USER_POOLS"
        assert method["methodIntegration"]["uri"] == function_uri(account_id, "usage-check")
        # The deployed snapshot still had the method: the repaired definition is the deployed one.
        assert len(deployments(apigw, api_id)) == count
        assert converged(ctx, desired).plan.empty

    def test_stage_throttling_changed_out_of_band_is_put_back(
        self, ctx: KindContext, workspace: Workspace, apigw: Any, calls: CallLog
    ) -> None:
        desired = desired_set(workspace)
        converged(ctx, desired)
        api_id = the_api(apigw)["id"]
        apigw.update_stage(
            restApiId=api_id,
            stageName="v1",
            patchOperations=[
                {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "5"},
                {"op": "replace", "path": "/tracingEnabled", "value": "false"},
            ],
        )
        calls.reset()

        outcome = converged(ctx, desired)

        assert actions(outcome) == {POOL: Action.NOOP, API: Action.NOOP, STAGE: Action.UPDATE}
        assert diff_paths(outcome, STAGE) == {"throttlingRateLimit", "tracingEnabled"}
        assert calls.mutating() == {"apigateway:UpdateStage": 1}
        stage = apigw.get_stage(restApiId=api_id, stageName="v1")
        assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 100.0
        assert stage["tracingEnabled"] is True
        assert converged(ctx, desired).plan.empty

    def test_a_stage_pointed_at_another_deployment_by_hand_is_redeployed(
        self, ctx: KindContext, workspace: Workspace, apigw: Any
    ) -> None:
        desired = desired_set(workspace)
        converged(ctx, desired)
        api_id = the_api(apigw)["id"]
        manual = apigw.create_deployment(restApiId=api_id, description="hotfix by hand")["id"]
        apigw.update_stage(
            restApiId=api_id,
            stageName="v1",
            patchOperations=[{"op": "replace", "path": "/deploymentId", "value": manual}],
        )

        outcome = converged(ctx, desired)

        assert diff_paths(outcome, STAGE) == {"definitionHash"}
        serving = apigw.get_stage(restApiId=api_id, stageName="v1")["deploymentId"]
        assert serving != manual
        description = apigw.get_deployment(restApiId=api_id, deploymentId=serving)["description"]
        assert description == f"cutlass definition {outputs(outcome, API)['definitionHash']}"


class TestDelete:
    def test_destroy_deletes_the_stage_then_the_api(self, ctx: KindContext, workspace: Workspace, apigw: Any) -> None:
        desired = desired_set(workspace)
        converged(ctx, desired)

        outcome = converged(ctx, desired, destroy=True)

        assert actions(outcome) == {API: Action.DELETE, STAGE: Action.DELETE, POOL: Action.DELETE}
        assert [a for a in apigw.get_rest_apis()["items"] if a["name"] == PREFIX] == []

    def test_a_stage_no_longer_desired_is_deleted_and_the_api_kept(
        self, ctx: KindContext, workspace: Workspace, apigw: Any
    ) -> None:
        desired = desired_set(workspace)
        converged(ctx, desired)
        api_id = the_api(apigw)["id"]

        outcome = converged(ctx, desired[:2])

        assert actions(outcome)[STAGE] == Action.DELETE
        assert apigw.get_stages(restApiId=api_id)["item"] == []
        assert the_api(apigw)["id"] == api_id


class TestDefinitionHash:
    def test_the_hash_ignores_the_order_of_routes_authorizers_and_scopes(self, account_id: str) -> None:
        one = route(account_id, "/a").properties()
        two = {**route(account_id, "/b", "GET").properties(), "scopes": ["y", "x"]}
        two_reordered = {**two, "scopes": ["x", "y"]}
        pool = {"name": "p", "type": "COGNITO_USER_POOLS", "providerArns": ["b", "a"], "identitySource": IDENTITY}
        pool_reordered = {**pool, "providerArns": ["a", "b"]}

        assert definition_hash({"routes": [one, two], "authorizers": [pool]}) == definition_hash(
            {"routes": [two_reordered, one], "authorizers": [pool_reordered]}
        )
        assert definition_hash({"routes": [one], "authorizers": [pool]}) != definition_hash(
            {"routes": [two], "authorizers": [pool]}
        )
