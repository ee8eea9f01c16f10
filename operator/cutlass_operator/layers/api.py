"""The seed's 300-api-layer: who may call the application, and how, in this region.

- Cognito: a user pool (email as the username, a strong password policy, MFA by authenticator app
  optional, advanced security enforced with enhanced security, deletion protection with the
  environment's data protection), a resource server `cutlass-api` with the scopes `usage.read`,
  `usage.write` and `credits.admin`, an app client for people (authorization code flow, no secret),
  one for machines (client credentials, with a secret, which never appears in status) and the
  hosted UI's domain.
- A regional REST API whose routes are Lambda proxy integrations to the functions' `live`
  aliases: `POST /usage-check` (scope `usage.write`), `GET` and `POST /credits` (`credits.admin`),
  all behind the pool's authorizer, and `GET /health` open, since Route 53 probes it. Each route
  may invoke only its own function, and only from this API (a Lambda permission per route).
- The stage (named after the tier unless the region names it), redeployed only when the routes or
  their integrations change, with JSON access logs kept as long as the tier keeps logs, X-Ray
  tracing with detailed monitoring, and the stage's throttling.
- The environment's usage plans (basic, premium, enterprise) on the stage, and one API key per
  tenant in its plan.
- With `api.certificateArn`, regional custom domains on that certificate (TLS 1.2), mapped to the
  stage: the environment's routed name (`domain.apiRecordName`), which every region serves so that
  whichever Route 53 picks answers it, and the region's own `api.domainName` if it has one. Their
  regional names and hosted zone are what the environment's alias records point at.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cutlass_operator.api.environment import DeletionPolicy
from cutlass_operator.api.gateway import DEFAULT_STAGE_THROTTLING
from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.engine.resource import Desired, Observed, Ref, ResourceKind
from cutlass_operator.layers.base import RegionInputs
from cutlass_operator.layers.compute import function_prefix
from cutlass_operator.resources.arns import partition

LAYER = "api"
POOL = f"{LAYER}/user-pool"
RESOURCE_SERVER = f"{LAYER}/resource-server"
USER_CLIENT = f"{LAYER}/client/users"
MACHINE_CLIENT = f"{LAYER}/client/machines"
HOSTED_UI = f"{LAYER}/hosted-ui"
ACCESS_LOGS = f"{LAYER}/access-logs"
REST_API = f"{LAYER}/rest-api"
STAGE = f"{LAYER}/stage"
CUSTOM_DOMAIN = f"{LAYER}/custom-domain"
ROUTED_DOMAIN = f"{LAYER}/routed-domain"
AUTHORIZER = "cognito"
SCOPES_IDENTIFIER = "cutlass-api"
SCOPES = {
    "usage.read": "Read usage and balances",
    "usage.write": "Check and record usage",
    "credits.admin": "Grant, top up and read credits",
}
# What API Gateway writes for each request: enough to trace a call to its caller and its function.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.authorizer.claims.sub",
        "client": "$context.authorizer.claims.client_id",
        "apiKey": "$context.identity.apiKeyId",
        "time": "$context.requestTime",
        "method": "$context.httpMethod",
        "path": "$context.resourcePath",
        "status": "$context.status",
        "latency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "error": "$context.error.message",
    },
    sort_keys=True,
    separators=(",", ":"),
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str  # as the compute layer names it, e.g. usage-check
    scopes: tuple[str, ...]  # empty: no authorizer

    @property
    def slug(self) -> str:
        return f"{self.method.lower()}{self.path.replace('/', '-')}"


ROUTES = (
    Route("POST", "/usage-check", "usage-check", ("usage.write",)),
    Route("GET", "/credits", "credits", ("credits.admin",)),
    Route("POST", "/credits", "credits", ("credits.admin",)),
    Route("GET", "/health", "health", ()),
)


def stage_name(inputs: RegionInputs) -> str:
    return inputs.region.api.stage or inputs.environment.tier.value


def _prefix(inputs: RegionInputs, component: str) -> str:
    return f"{inputs.workspace.resource_name(component)}-"


class ApiLayer:
    name = LAYER
    condition = "ApiReady"
    holds_data = False  # but its user pool does (see `desired`)

    def __init__(self, routes: Sequence[Route] = ROUTES) -> None:
        self.routes = tuple(routes)  # the application's routes; tests add one to watch it deploy

    def kinds(self, inputs: RegionInputs) -> Sequence[ResourceKind]:
        from cutlass_operator.resources.apigateway import StageKind
        from cutlass_operator.resources.apigateway_api import RestApiKind
        from cutlass_operator.resources.apigateway_domains import DomainNameKind
        from cutlass_operator.resources.apigateway_plans import ApiKeyKind, UsagePlanKind
        from cutlass_operator.resources.cognito import (
            ResourceServerKind,
            UserPoolClientKind,
            UserPoolDomainKind,
            UserPoolKind,
        )
        from cutlass_operator.resources.lambda_permissions import PermissionKind
        from cutlass_operator.resources.logs import LogGroupKind

        scope, pools = f"{LAYER}/", inputs.workspace.resource_name("users")
        return [
            UserPoolKind(pools),
            ResourceServerKind(scope, pool_prefix=pools),
            UserPoolClientKind(scope, pool_prefix=pools),
            UserPoolDomainKind(),
            LogGroupKind("/aws/apigateway/cutlass-tech-"),
            RestApiKind(inputs.workspace.resource_name("api")),
            StageKind(),
            PermissionKind(function_prefix(inputs), scope),
            UsagePlanKind(_prefix(inputs, "plan")),
            ApiKeyKind(_prefix(inputs, "key")),
            DomainNameKind(),
        ]

    def desired(self, inputs: RegionInputs) -> list[Desired]:
        from cutlass_operator.resources.lambda_permissions import statement_id

        ws, env, region = inputs.workspace, inputs.environment, inputs.region
        entries: list[Desired] = []

        def add(key: str, kind: str, name: str, properties: Mapping[str, Any], after: Sequence[str] = ()) -> None:
            tags = ws.tags(LAYER, key, name)
            entries.append(Desired(key, kind, name, properties, tags, depends_on=frozenset(after)))

        pool = ws.resource_name("users")
        # The pool holds people's accounts: it follows the environment's deletion policy for data,
        # while its clients, scopes and hosted domain go with the API.
        retained = env.effective_deletion_policy() == DeletionPolicy.RETAIN
        entries.append(
            Desired(POOL, "cognito.user_pool", pool, _pool(pool, inputs), ws.tags(LAYER, POOL, pool), retain=retained)
        )
        add(
            RESOURCE_SERVER,
            "cognito.resource_server",
            SCOPES_IDENTIFIER,
            {
                "userPoolId": Ref(POOL, "id"),
                "identifier": SCOPES_IDENTIFIER,
                "name": f"Cutlass API of {ws.name}",
                "scopes": [{"name": name, "description": text} for name, text in SCOPES.items()],
            },
        )
        scoped = [f"{SCOPES_IDENTIFIER}/{scope}" for scope in ("usage.read", "usage.write")]
        add(
            USER_CLIENT,
            "cognito.user_pool_client",
            "users",
            _client("users", secret=False, flows=["code"], scopes=["openid", "email", *scoped], inputs=inputs),
            after=[RESOURCE_SERVER],
        )
        add(
            MACHINE_CLIENT,
            "cognito.user_pool_client",
            "machines",
            _client("machines", secret=True, flows=["client_credentials"], scopes=scoped, inputs=inputs),
            after=[RESOURCE_SERVER],
        )
        prefix = f"cutlass-tech-{ws.name}-{ws.account_id}"  # hosted UI domains are global to a region
        add(HOSTED_UI, "cognito.user_pool_domain", prefix, {"userPoolId": Ref(POOL, "id"), "domain": prefix})

        logs = f"/aws/apigateway/{ws.resource_name('api')}"
        add(
            ACCESS_LOGS,
            "logs.log_group",
            logs,
            {"logGroupName": logs, "retentionInDays": inputs.settings.log_retention_days},
        )
        api = ws.resource_name("api")
        add(REST_API, "apigateway.rest_api", api, _rest_api(api, inputs, self.routes))
        stage = stage_name(inputs)
        throttle = region.api.throttling or env.api.throttling or DEFAULT_STAGE_THROTTLING
        add(
            STAGE,
            "apigateway.stage",
            f"{api}/{stage}",
            {
                "restApiId": Ref(REST_API, "id"),
                "stageName": stage,
                "definitionHash": Ref(REST_API, "definitionHash"),
                "description": f"The {stage} stage of {ws.name}",
                "tracingEnabled": inputs.settings.detailed_monitoring,
                "accessLogDestinationArn": Ref(ACCESS_LOGS, "arn"),
                "accessLogFormat": ACCESS_LOG_FORMAT,
                "throttlingRateLimit": float(throttle.rate_limit),
                "throttlingBurstLimit": throttle.burst_limit,
            },
        )
        for route in self.routes:
            function = f"{function_prefix(inputs)}{route.function}"
            sid = statement_id("apigateway", f"{route.method} {route.path}")
            add(
                f"{LAYER}/permission/{route.slug}",
                "lambda.permission",
                f"{function}:live {sid}",
                {
                    "functionName": function,
                    "qualifier": "live",
                    "statementId": sid,
                    "action": "lambda:InvokeFunction",
                    "principal": "apigateway.amazonaws.com",
                    # Only this API, this method and path: not any stage's other routes.
                    "sourceArn": Ref(REST_API, "executionArn", suffix=f"/*/{route.method}{route.path}"),
                    "sourceAccount": ws.account_id,
                },
            )
        for plan, limits in env.api.plans().items():
            name = f"{_prefix(inputs, 'plan')}{plan}"
            add(
                f"{LAYER}/plan/{plan}",
                "apigateway.usage_plan",
                name,
                {
                    "name": name,
                    "description": f"The {plan} plan of {ws.environment} in {region.region}",
                    "throttle": {"rateLimit": float(limits.rate_limit), "burstLimit": limits.burst_limit},
                    "quota": {"limit": limits.monthly_quota, "period": "MONTH", "offset": 0},
                    "apiStages": [{"apiId": Ref(REST_API, "id"), "stage": stage}],
                },
                after=[STAGE],
            )
        for tenant in env.api.tenants:
            name = f"{_prefix(inputs, 'key')}{tenant.name}"
            add(
                f"{LAYER}/key/{tenant.name}",
                "apigateway.api_key",
                name,
                {
                    "name": name,
                    "description": f"API key of tenant {tenant.name}",
                    "enabled": True,
                    "usagePlanId": Ref(f"{LAYER}/plan/{tenant.plan}", "id"),
                },
            )
        for key, name in custom_domains(inputs).items():
            add(
                key,
                "apigateway.domain_name",
                name,
                {
                    "domainName": name,
                    "regionalCertificateArn": region.api.certificate_arn,
                    "securityPolicy": "TLS_1_2",
                    "endpointType": "REGIONAL",
                    "basePathMappings": [{"basePath": "", "restApiId": Ref(REST_API, "id"), "stage": stage}],
                },
                after=[STAGE],
            )
        return entries

    def outputs(self, observed: Mapping[str, Observed]) -> dict[str, Any]:
        def out(key: str, name: str) -> Any:
            found = observed.get(key)
            return found.outputs.get(name) if found is not None else None

        outputs: dict[str, Any] = {
            "apiId": out(REST_API, "id"),
            "stage": out(STAGE, "stageName"),
            "invokeUrl": out(STAGE, "invokeUrl"),
            "cognito": {
                "userPoolId": out(POOL, "id"),
                "issuer": out(POOL, "issuer"),
                "jwksUrl": out(POOL, "jwksUrl"),
                "userClientId": out(USER_CLIENT, "id"),
                "machineClientId": out(MACHINE_CLIENT, "id"),
                "hostedUi": out(HOSTED_UI, "hostedUiUrl"),
            },
            "usagePlans": {
                key.removeprefix(f"{LAYER}/plan/"): found.outputs.get("id")
                for key, found in sorted(observed.items())
                if key.startswith(f"{LAYER}/plan/")
            },
        }
        for key, output in ((CUSTOM_DOMAIN, "customDomain"), (ROUTED_DOMAIN, "routedDomain")):
            if key in observed:
                outputs[output] = {
                    "domainName": out(key, "domainName"),
                    "regionalDomainName": out(key, "regionalDomainName"),
                    "regionalHostedZoneId": out(key, "regionalHostedZoneId"),
                }
        return outputs


def _pool(name: str, inputs: RegionInputs) -> dict[str, Any]:
    return {
        "poolName": name,
        "passwordPolicy": {
            "minimumLength": 12,
            "requireUppercase": True,
            "requireLowercase": True,
            "requireNumbers": True,
            "requireSymbols": True,
            "temporaryPasswordValidityDays": 3,
        },
        "mfaConfiguration": "OPTIONAL",
        "usernameAttributes": ["email"],
        "autoVerifiedAttributes": ["email"],
        "advancedSecurityMode": "ENFORCED" if inputs.settings.enhanced_security else "OFF",
        "deletionProtection": "ACTIVE" if inputs.environment.effective_deletion_protection() else "INACTIVE",
    }


def _client(name: str, *, secret: bool, flows: list[str], scopes: list[str], inputs: RegionInputs) -> dict[str, Any]:
    people = not secret
    return {
        "userPoolId": Ref(POOL, "id"),
        "clientName": name,
        "generateSecret": secret,
        # Sign-in by SRP, or by password over TLS for first-party apps; machines only refresh.
        "explicitAuthFlows": (
            ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"]
            if people
            else ["ALLOW_REFRESH_TOKEN_AUTH"]
        ),
        "allowedOAuthFlows": flows,
        "allowedOAuthScopes": scopes,
        "allowedOAuthFlowsUserPoolClient": True,
        "callbackUrls": list(inputs.environment.api.callback_urls) if people else [],
        "logoutUrls": list(inputs.environment.api.callback_urls) if people else [],
        "supportedIdentityProviders": ["COGNITO"],
        "preventUserExistenceErrors": "ENABLED",
    }


def _rest_api(name: str, inputs: RegionInputs, routes: Sequence[Route]) -> dict[str, Any]:
    region = inputs.region.aws_region
    functions = inputs.upstream.get("compute", {}).get("functions", {})

    def target(function: str) -> str:
        alias = (functions.get(function) or {}).get("aliasArn") or f"(the live alias of {function})"
        return f"arn:{partition(region)}:apigateway:{region}:lambda:path/2015-03-31/functions/{alias}/invocations"

    return {
        "name": name,
        "description": f"The Cutlass API of {inputs.workspace.name}",
        "endpointType": "REGIONAL",
        "authorizers": [
            {
                "name": AUTHORIZER,
                "type": "COGNITO_USER_POOLS",
                "providerArns": [Ref(POOL, "arn")],
                "identitySource": "method.request.header.Authorization",
            }
        ],
        "routes": [
            {
                "path": route.path,
                "method": route.method,
                "authorization": "COGNITO_USER_POOLS" if route.scopes else "NONE",
                "authorizer": AUTHORIZER if route.scopes else None,
                "scopes": [f"{SCOPES_IDENTIFIER}/{scope}" for scope in route.scopes],
                "integrationUri": target(route.function),
            }
            for route in routes
        ],
    }


def custom_domains(inputs: RegionInputs) -> dict[str, str]:
    """The custom domains the region serves, by key: the environment's routed name (which Route 53
    sends here when this region is picked; API Gateway answers only names it has a domain for) and
    the region's own name. Both need the region's certificate."""
    api, domain = inputs.region.api, inputs.environment.domain
    if api.certificate_arn is None:
        return {}
    names = {ROUTED_DOMAIN: domain.record_name()} if domain is not None else {}
    if api.domain_name:
        names[CUSTOM_DOMAIN] = api.domain_name
    return names


def spec_problems(inputs: RegionInputs) -> TerminalError | None:
    """What AWS would refuse half-way, caught before anything is written: a certificate API Gateway
    cannot use here, or a custom domain the environment's zone cannot route to."""
    api, region = inputs.region.api, inputs.region.aws_region
    if api.certificate_arn is None:
        return None
    _, _, _, cert_region, cert_account, _ = api.certificate_arn.split(":", 5)
    if cert_region != region:
        return TerminalError(
            "CertificateInWrongRegion",
            f"spec.api.certificateArn is in {cert_region}, but a regional custom domain takes a certificate of "
            f"its own region: request or import one in ACM in {region} and name it here",
        )
    if cert_account != inputs.workspace.account_id:
        return TerminalError(
            "CertificateInWrongAccount",
            f"spec.api.certificateArn belongs to account {cert_account}, not to the environment's account "
            f"{inputs.workspace.account_id}: use a certificate of that account",
        )
    if api.domain_name is None:
        return None
    domain = inputs.environment.domain
    if domain is None:
        return TerminalError(
            "NoEnvironmentZone",
            f"spec.api.domainName {api.domain_name} needs the environment's public zone to route to it: "
            "set spec.domain.zoneName on the CutlassEnvironment",
        )
    if not api.domain_name.endswith(f".{domain.zone_name}"):
        return TerminalError(
            "DomainOutsideZone",
            f"spec.api.domainName {api.domain_name} is not inside the environment's zone {domain.zone_name}: "
            f"use a name under {domain.zone_name}",
        )
    if api.domain_name == domain.record_name():
        return TerminalError(
            "DomainIsRoutedName",
            f"spec.api.domainName {api.domain_name} is the environment's routed name, which every region "
            "serves already: give this region a name of its own, or leave domainName out",
        )
    return None
