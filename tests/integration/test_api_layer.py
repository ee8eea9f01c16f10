"""The API layer of a converged region, against the moto server: Cognito, the REST API with its routes,
stage, usage plans, API keys and custom domain, read back with boto3; changes made in place (a plan's
quota, a tenant's plan), one deployment per change of routes and none for a no-op; a user signed in
through the pool, the token verified against its JWKS as the API's authorizer would, and the usage
check called with its claims; and a certificate API Gateway could not use, refused before any write.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from cutlass_operator.api.environment import CutlassEnvironment
from cutlass_operator.api.region import CutlassRegion
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.engine.plan import Action
from cutlass_operator.layers.api import ROUTES, ApiLayer, Route
from cutlass_operator.workflows.region import REGION_LAYERS, run_region
from cutlass_operator.workflows.report import Mode, Report
from tests.integration.jwt_verify import fetch_jwks, verify_cognito_token

from .accounts import converged_dev, operator_session

pytestmark = pytest.mark.integration

ACCOUNT = "400000000003"  # outside conftest's range: the module shares one converged account
LONDON = "eu-west-2"
API_NAME = "cutlass-tech-api-dev-london"


@dataclass
class Stack:
    env: CutlassEnvironment
    london: CutlassRegion
    session: boto3.Session
    outputs: dict[str, Any]

    @property
    def api_id(self) -> str:
        return str(self.outputs["apiId"])

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def deployments(self) -> int:
        return len(self.client("apigateway").get_deployments(restApiId=self.api_id)["items"])

    def with_env_api(self, **api: Any) -> CutlassEnvironment:
        spec = self.env.spec.model_copy(update={"api": self.env.spec.api.model_copy(update=api)})
        return self.env.model_copy(update={"spec": spec})


@pytest.fixture(scope="module")
def stack(moto_endpoint: str) -> Iterator[Stack]:
    manifests, run = converged_dev(ACCOUNT)
    (env,) = manifests.environments
    (london,) = [r for r in manifests.regions if r.spec.aws_region == LONDON]
    outputs = run.statuses["CutlassRegion/dev-london"]["status"]["outputs"]["api"]
    yield Stack(env, london, operator_session(ACCOUNT, LONDON), outputs)


def reconcile(stack: Stack, env: CutlassEnvironment | None = None, **options: Any) -> tuple[Report, CallLog]:
    calls = CallLog()
    report = run_region(env or stack.env, stack.london, mode=Mode.APPLY, calls=calls, **options)
    assert report.ok, report.first_error
    return report, calls


def changes(report: Report) -> dict[str, tuple[Action, list[str]]]:
    return {c.key: (c.action, sorted(d.path for d in c.diff)) for layer in report.layers for c in layer.plan.pending}


def test_cognito_pool_clients_scopes_and_hosted_ui(stack: Stack) -> None:
    cognito = stack.client("cognito-idp")
    ids = stack.outputs["cognito"]
    pool = cognito.describe_user_pool(UserPoolId=ids["userPoolId"])["UserPool"]
    assert pool["Name"] == "cutlass-tech-users-dev-london"
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    assert pool["MfaConfiguration"] == "OPTIONAL"
    users = cognito.describe_user_pool_client(UserPoolId=ids["userPoolId"], ClientId=ids["userClientId"])
    machines = cognito.describe_user_pool_client(UserPoolId=ids["userPoolId"], ClientId=ids["machineClientId"])
    assert "ClientSecret" not in users["UserPoolClient"] and machines["UserPoolClient"]["ClientSecret"]
    assert users["UserPoolClient"]["AllowedOAuthFlows"] == ["code"]
    assert machines["UserPoolClient"]["AllowedOAuthFlows"] == ["client_credentials"]
    (server,) = cognito.list_resource_servers(UserPoolId=ids["userPoolId"], MaxResults=10)["ResourceServers"]
    assert {s["ScopeName"] for s in server["Scopes"]} == {"usage.read", "usage.write", "credits.admin"}
    assert ids["hostedUi"] == f"https://cutlass-tech-dev-london-{ACCOUNT}.auth.{LONDON}.amazoncognito.com"
    assert "secret" not in json.dumps(stack.outputs).lower()  # no secret ever reaches status


def test_the_rest_api_routes_authorizer_and_integrations(stack: Stack) -> None:
    apigateway = stack.client("apigateway")
    (authorizer,) = apigateway.get_authorizers(restApiId=stack.api_id)["items"]
    assert authorizer["type"] == "COGNITO_USER_POOLS"
    methods = {
        (method, resource["path"]): apigateway.get_method(
            restApiId=stack.api_id, resourceId=resource["id"], httpMethod=method
        )
        for resource in apigateway.get_resources(restApiId=stack.api_id)["items"]
        for method in resource.get("resourceMethods", {})
    }
    assert set(methods) == {("POST", "/usage-check"), ("GET", "/credits"), ("POST", "/credits"), ("GET", "/health")}
    assert methods[("GET", "/health")]["authorizationType"] == "NONE"
    usage = methods[("POST", "/usage-check")]
    assert (usage["authorizationType"], usage["authorizerId"]) == ("COGNITO_USER_POOLS", authorizer["id"])
    assert usage["authorizationScopes"] == ["cutlass-api/usage.write"]
    assert usage["methodIntegration"]["type"] == "AWS_PROXY"
    assert ":function:cutlass-tech-fn-dev-london-usage-check:live/invocations" in usage["methodIntegration"]["uri"]
    policy = json.loads(
        stack.client("lambda").get_policy(FunctionName="cutlass-tech-fn-dev-london-usage-check", Qualifier="live")[
            "Policy"
        ]
    )
    sources = [
        s["Condition"]["ArnLike"]["AWS:SourceArn"] for s in policy["Statement"] if s["Sid"].startswith("cutlass-")
    ]
    assert f"arn:aws:execute-api:{LONDON}:{ACCOUNT}:{stack.api_id}/*/POST/usage-check" in sources


def test_the_stage_usage_plans_keys_and_custom_domain(stack: Stack) -> None:
    apigateway = stack.client("apigateway")
    stage = apigateway.get_stage(restApiId=stack.api_id, stageName="dev")
    assert stage["accessLogSettings"]["destinationArn"].endswith(
        ":log-group:/aws/apigateway/cutlass-tech-api-dev-london"
    )
    assert json.loads(stage["accessLogSettings"]["format"])["requestId"] == "$context.requestId"
    assert stack.outputs["invokeUrl"] == f"https://{stack.api_id}.execute-api.{LONDON}.amazonaws.com/dev"
    plans = {p["name"]: p for p in apigateway.get_usage_plans()["items"]}
    assert {name: p["quota"]["limit"] for name, p in plans.items()} == {
        "cutlass-tech-plan-dev-london-basic": 10_000,
        "cutlass-tech-plan-dev-london-premium": 100_000,
        "cutlass-tech-plan-dev-london-enterprise": 1_000_000,
    }
    assert all(p["apiStages"] == [{"apiId": stack.api_id, "stage": "dev"}] for p in plans.values())
    premium = plans["cutlass-tech-plan-dev-london-premium"]["id"]
    keys = apigateway.get_usage_plan_keys(usagePlanId=premium)["items"]
    assert [k["name"] for k in keys] == ["cutlass-tech-key-dev-london-acme"]
    (mapping,) = apigateway.get_base_path_mappings(domainName="api-london.dev.cutlass.example.com")["items"]
    assert (mapping["restApiId"], mapping["stage"]) == (stack.api_id, "dev")
    domain = stack.outputs["customDomain"]
    assert domain["domainName"] == "api-london.dev.cutlass.example.com"
    assert domain["regionalDomainName"] and domain["regionalHostedZoneId"]


def test_a_no_op_resync_deploys_nothing_and_a_new_route_deploys_once(stack: Stack) -> None:
    before = stack.deployments()
    report, calls = reconcile(stack)
    assert changes(report) == {}
    assert calls.writes == 0, calls.mutating()
    assert stack.deployments() == before

    extra = Route("GET", "/usage", "usage-check", ("usage.read",))
    layers = tuple(
        ApiLayer(routes=(*ROUTES, extra)) if isinstance(layer, ApiLayer) else layer for layer in REGION_LAYERS
    )
    report, _ = reconcile(stack, layers=layers)

    assert {k: a for k, (a, _) in changes(report).items()} == {
        "api/rest-api": Action.UPDATE,
        "api/stage": Action.UPDATE,
        "api/permission/get-usage": Action.CREATE,
    }
    assert stack.deployments() == before + 1
    _, calls = reconcile(stack, layers=layers)
    assert calls.writes == 0 and stack.deployments() == before + 1
    reconcile(stack)  # the shipped routes again


def test_a_quota_change_updates_the_plan_in_place_and_a_tenant_moves_plan_keeping_its_key(stack: Stack) -> None:
    apigateway = stack.client("apigateway")
    plan_ids = {p["name"]: p["id"] for p in apigateway.get_usage_plans()["items"]}
    (key,) = [k for k in apigateway.get_api_keys()["items"] if k["name"] == "cutlass-tech-key-dev-london-acme"]
    limits = {"rateLimit": 10, "burstLimit": 20, "monthlyQuota": 25_000}
    changed = stack.with_env_api(
        usage_plans=stack.env.spec.api.usage_plans.model_validate({"basic": limits}),
        tenants=[stack.env.spec.api.tenants[0].model_copy(update={"plan": "basic"})],
    )

    report, _ = reconcile(stack, changed)

    assert changes(report) == {
        "api/plan/basic": (Action.UPDATE, ["quota"]),
        "api/key/acme": (Action.UPDATE, ["usagePlanId"]),
    }
    basic = apigateway.get_usage_plan(usagePlanId=plan_ids["cutlass-tech-plan-dev-london-basic"])
    assert basic["quota"]["limit"] == 25_000
    assert {p["name"]: p["id"] for p in apigateway.get_usage_plans()["items"]} == plan_ids
    assert [k["id"] for k in apigateway.get_usage_plan_keys(usagePlanId=basic["id"])["items"]] == [key["id"]]
    reconcile(stack)


def test_a_signed_in_user_passes_the_authorizers_checks_and_the_usage_check_runs(
    stack: Stack, moto_endpoint: str
) -> None:
    cognito, ids = stack.client("cognito-idp"), stack.outputs["cognito"]
    email, password = "ada@acme.example.com", "Correct-Horse-9!"
    cognito.admin_create_user(UserPoolId=ids["userPoolId"], Username=email, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=ids["userPoolId"], Username=email, Password=password, Permanent=True)
    tokens = cognito.initiate_auth(
        ClientId=ids["userClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )["AuthenticationResult"]

    jwks = fetch_jwks(f"{moto_endpoint}/{ids['userPoolId']}/.well-known/jwks.json")
    claims = verify_cognito_token(
        tokens["IdToken"], jwks, issuer=ids["issuer"], client_id=ids["userClientId"], token_use="id"
    )
    assert claims["email"] == email

    lam = stack.client("lambda")

    def invoke(function: str, body: dict[str, Any]) -> dict[str, Any]:
        event = {
            "httpMethod": "POST",
            "path": f"/{function}",
            "body": json.dumps(body),
            "requestContext": {"requestId": f"jwt-{function}", "authorizer": {"claims": claims}},
        }
        answer = lam.invoke(
            FunctionName=f"cutlass-tech-fn-dev-london-{function}", Qualifier="live", Payload=json.dumps(event)
        )
        result: dict[str, Any] = json.loads(answer["Payload"].read())
        return result

    assert invoke("credits", {"org_id": "acme", "amount": 50, "mode": "grant"})["statusCode"] == 200
    assert (
        invoke("credits", {"org_id": "acme", "user_id": claims["sub"], "amount": 50, "mode": "grant"})["statusCode"]
        == 200
    )
    checked = invoke("usage-check", {"org_id": "acme", "user_id": claims["sub"], "units": 5})
    assert checked["statusCode"] == 200, checked
    assert json.loads(checked["body"])["remaining"] == {"user": 45, "org": 45}


def test_a_certificate_of_another_region_is_refused_before_any_write(stack: Stack) -> None:
    api = stack.london.spec.api.model_copy(
        update={
            "certificate_arn": f"arn:aws:acm:ap-southeast-2:{ACCOUNT}:certificate/0f3c1e52-6a0d-4f38-9b52-1d2f7a6c9e01"
        }
    )
    wrong = stack.london.model_copy(update={"spec": stack.london.spec.model_copy(update={"api": api})})
    calls = CallLog()

    report = run_region(stack.env, wrong, mode=Mode.APPLY, calls=calls)

    assert isinstance(report.first_error, TerminalError)
    assert report.first_error.reason == "CertificateInWrongRegion"
    assert "ACM in eu-west-2" in report.first_error.message
    assert calls.calls == {}  # not even a read
