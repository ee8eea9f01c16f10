"""The API layer's desired state, its checks of the spec before any write, and the API settings' models."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

from cutlass_operator.api.environment import CutlassEnvironmentSpec, resolve_settings
from cutlass_operator.api.gateway import DEFAULT_PLANS, ApiSettings
from cutlass_operator.api.region import CutlassRegionSpec
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.resource import Desired, Observed, Ref
from cutlass_operator.layers.api import ROUTES, ApiLayer, spec_problems
from cutlass_operator.layers.base import RegionInputs

ACCOUNT = "111111111111"
ALIAS = f"arn:aws:lambda:eu-west-2:{ACCOUNT}:function:cutlass-tech-fn-dev-london-usage-check:live"
CERT = f"arn:aws:acm:eu-west-2:{ACCOUNT}:certificate/0f3c1e52-6a0d-4f38-9b52-1d2f7a6c9e01"


def inputs(tier: str = "dev", *, region_api: dict[str, Any] | None = None, **env: Any) -> RegionInputs:
    environment = CutlassEnvironmentSpec.model_validate(
        {"accountId": ACCOUNT, "tier": tier, "notifications": {"senderEmail": "alerts@example.com"}, **env}
    )
    region = CutlassRegionSpec.model_validate(
        {
            "environmentRef": {"name": "dev"},
            "region": "london",
            "awsRegion": "eu-west-2",
            "network": {
                "vpcCidr": "10.0.0.0/16",
                "publicSubnetCidrs": ["10.0.1.0/24"],
                "privateSubnetCidrs": ["10.0.3.0/24"],
            },
            "api": region_api or {},
        }
    )
    given = RegionInputs(
        Workspace("dev", "london", "eu-west-2", ACCOUNT, {}),
        environment,
        region,
        resolve_settings(environment.tier, environment.settings),
    )
    functions = {
        name: {"aliasArn": ALIAS.replace("usage-check", name)} for name in ("usage-check", "credits", "health")
    }
    return replace(given, upstream={"compute": {"functions": functions}})


def desired(given: RegionInputs | None = None) -> dict[str, Desired]:
    return {d.key: d for d in ApiLayer().desired(given or inputs())}


class TestCognito:
    def test_the_pool_follows_the_tier(self) -> None:
        dev, prod = desired()["api/user-pool"], desired(inputs("prod"))["api/user-pool"]
        assert (dev.properties["advancedSecurityMode"], dev.properties["deletionProtection"]) == ("OFF", "INACTIVE")
        assert (prod.properties["advancedSecurityMode"], prod.properties["deletionProtection"]) == (
            "ENFORCED",
            "ACTIVE",
        )
        assert (dev.retain, prod.retain) == (False, True)  # people's accounts follow the data policy

    def test_people_use_the_code_flow_without_a_secret_and_machines_client_credentials(self) -> None:
        entries = desired()
        users, machines = entries["api/client/users"].properties, entries["api/client/machines"].properties
        assert (users["generateSecret"], users["allowedOAuthFlows"]) == (False, ["code"])
        assert (machines["generateSecret"], machines["allowedOAuthFlows"]) == (True, ["client_credentials"])
        assert "cutlass-api/credits.admin" not in users["allowedOAuthScopes"] + machines["allowedOAuthScopes"]
        assert entries["api/client/users"].depends_on == {"api/resource-server"}

    def test_the_resource_server_offers_the_three_scopes(self) -> None:
        server = desired()["api/resource-server"].properties
        assert server["identifier"] == "cutlass-api"
        assert [s["name"] for s in server["scopes"]] == ["usage.read", "usage.write", "credits.admin"]


class TestRestApi:
    def test_routes_are_proxies_to_the_live_aliases_behind_the_authorizer_but_health(self) -> None:
        api = desired()["api/rest-api"].properties
        routes = {(r["method"], r["path"]): r for r in api["routes"]}
        assert set(routes) == {("POST", "/usage-check"), ("GET", "/credits"), ("POST", "/credits"), ("GET", "/health")}
        usage = routes[("POST", "/usage-check")]
        assert (usage["authorization"], usage["authorizer"], usage["scopes"]) == (
            "COGNITO_USER_POOLS",
            "cognito",
            ["cutlass-api/usage.write"],
        )
        assert usage["integrationUri"] == (
            f"arn:aws:apigateway:eu-west-2:lambda:path/2015-03-31/functions/{ALIAS}/invocations"
        )
        assert (routes[("GET", "/health")]["authorization"], routes[("GET", "/health")]["scopes"]) == ("NONE", [])
        assert api["authorizers"][0]["providerArns"] == [Ref("api/user-pool", "arn")]

    def test_each_route_may_invoke_only_its_function_from_this_api(self) -> None:
        entries = desired()
        permissions = {k: d.properties for k, d in entries.items() if k.startswith("api/permission/")}
        assert len(permissions) == len(ROUTES)
        usage = permissions["api/permission/post-usage-check"]
        assert usage["functionName"] == "cutlass-tech-fn-dev-london-usage-check"
        assert usage["sourceArn"] == Ref("api/rest-api", "executionArn", suffix="/*/POST/usage-check")
        assert len({p["statementId"] for p in permissions.values()}) == len(ROUTES)

    def test_the_stage_is_the_tier_with_access_logs_tracing_and_throttling(self) -> None:
        dev, staging = desired()["api/stage"].properties, desired(inputs("staging"))["api/stage"].properties
        assert (dev["stageName"], dev["tracingEnabled"], staging["tracingEnabled"]) == ("dev", False, True)
        assert dev["definitionHash"] == Ref("api/rest-api", "definitionHash")
        assert (dev["throttlingRateLimit"], dev["throttlingBurstLimit"]) == (500.0, 1000)
        assert desired()["api/access-logs"].properties["retentionInDays"] == 7
        region = inputs(region_api={"stage": "v1", "throttling": {"rateLimit": 5, "burstLimit": 10}})
        named = desired(region)["api/stage"].properties
        assert (named["stageName"], named["throttlingRateLimit"]) == ("v1", 5.0)


class TestPlansAndKeys:
    def test_three_plans_on_the_stage_with_the_documented_defaults(self) -> None:
        entries = desired()
        plans = {k.removeprefix("api/plan/"): d.properties for k, d in entries.items() if k.startswith("api/plan/")}
        assert {name: p["quota"]["limit"] for name, p in plans.items()} == {
            name: limits.monthly_quota for name, limits in DEFAULT_PLANS.items()
        }
        assert plans["basic"]["apiStages"] == [{"apiId": Ref("api/rest-api", "id"), "stage": "dev"}]

    def test_a_key_per_tenant_in_its_plan(self) -> None:
        entries = desired(inputs(api={"tenants": [{"name": "acme", "plan": "premium"}]}))
        assert entries["api/key/acme"].properties["usagePlanId"] == Ref("api/plan/premium", "id")
        assert not [k for k in desired() if k.startswith("api/key/")]

    def test_plan_overrides_and_bad_settings(self) -> None:
        settings = ApiSettings.model_validate(
            {"usagePlans": {"basic": {"rateLimit": 1, "burstLimit": 2, "monthlyQuota": 5}}}
        )
        assert settings.plans()["basic"].monthly_quota == 5
        assert settings.plans()["premium"] == DEFAULT_PLANS["premium"]
        with pytest.raises(ValidationError, match="listed more than once"):
            ApiSettings.model_validate({"tenants": [{"name": "a", "plan": "basic"}, {"name": "a", "plan": "premium"}]})
        with pytest.raises(ValidationError, match="burstLimit must be at least rateLimit"):
            ApiSettings.model_validate({"throttling": {"rateLimit": 10, "burstLimit": 5}})


class TestCustomDomain:
    def test_a_domain_maps_the_stage_with_tls_1_2(self) -> None:
        given = inputs(
            region_api={"domainName": "api-london.example.com", "certificateArn": CERT},
            domain={"zoneName": "example.com"},
        )
        domain = desired(given)["api/custom-domain"]
        assert domain.properties["securityPolicy"] == "TLS_1_2"
        assert domain.properties["basePathMappings"] == [
            {"basePath": "", "restApiId": Ref("api/rest-api", "id"), "stage": "dev"}
        ]
        assert "api/custom-domain" not in desired()

    def test_a_domain_needs_its_certificate(self) -> None:
        with pytest.raises(ValidationError, match="needs api\\.certificateArn"):
            inputs(region_api={"domainName": "api-london.example.com"})

    @pytest.mark.parametrize(
        ("api", "zone", "reason"),
        [
            ({"certificateArn": CERT.replace("eu-west-2", "us-east-1")}, "example.com", "CertificateInWrongRegion"),
            ({"certificateArn": CERT.replace(ACCOUNT, "999999999999")}, "example.com", "CertificateInWrongAccount"),
            ({}, None, "NoEnvironmentZone"),
            ({"domainName": "api.other.org"}, "example.com", "DomainOutsideZone"),
            ({"domainName": "api.example.com"}, "example.com", "DomainIsRoutedName"),
        ],
    )
    def test_what_aws_would_refuse_is_a_terminal_problem(
        self, api: dict[str, str], zone: str | None, reason: str
    ) -> None:
        given = inputs(
            region_api={"domainName": "api-london.example.com", "certificateArn": CERT, **api},
            **({"domain": {"zoneName": zone}} if zone else {}),
        )
        problem = spec_problems(given)
        assert problem is not None and problem.reason == reason
        assert "spec." in problem.message

    def test_with_a_zone_the_region_serves_the_routed_name_and_its_own(self) -> None:
        given = inputs(
            region_api={"domainName": "api-london.example.com", "certificateArn": CERT},
            domain={"zoneName": "example.com", "apiRecordName": "go.example.com"},
        )
        domains = {key: entry.properties["domainName"] for key, entry in desired(given).items() if "domain" in key}
        assert domains == {"api/routed-domain": "go.example.com", "api/custom-domain": "api-london.example.com"}

    def test_a_certificate_alone_serves_the_routed_name_only(self) -> None:
        given = inputs(region_api={"certificateArn": CERT}, domain={"zoneName": "example.com"})
        assert spec_problems(given) is None
        routed = desired(given)["api/routed-domain"]
        assert (routed.properties["domainName"], routed.properties["regionalCertificateArn"]) == (
            "api.example.com",
            CERT,
        )
        assert "api/custom-domain" not in desired(given)

    def test_a_valid_domain_has_no_problem(self) -> None:
        given = inputs(
            region_api={"domainName": "api-london.example.com", "certificateArn": CERT},
            domain={"zoneName": "example.com"},
        )
        assert spec_problems(given) is None and spec_problems(inputs()) is None


def test_outputs_give_what_clients_and_route_53_need() -> None:
    observed = {
        "api/rest-api": Observed("api/rest-api", "apigateway.rest_api", "a1", {}, {}, {"id": "a1"}),
        "api/stage": Observed(
            "api/stage", "apigateway.stage", "a1/dev", {}, {}, {"stageName": "dev", "invokeUrl": "https://x"}
        ),
        "api/user-pool": Observed(
            "api/user-pool", "cognito.user_pool", "p", {}, {}, {"id": "p", "issuer": "https://i"}
        ),
        "api/custom-domain": Observed(
            "api/custom-domain",
            "apigateway.domain_name",
            "d",
            {},
            {},
            {"domainName": "d", "regionalDomainName": "r", "regionalHostedZoneId": "Z"},
        ),
    }
    outputs = ApiLayer().outputs(observed)
    assert (outputs["apiId"], outputs["invokeUrl"], outputs["cognito"]["issuer"]) == ("a1", "https://x", "https://i")
    assert outputs["customDomain"] == {"domainName": "d", "regionalDomainName": "r", "regionalHostedZoneId": "Z"}
