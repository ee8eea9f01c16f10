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
from cutlass_operator.engine.arns import partition
from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.engine.resource import Desired, Observed, Props, Ref, Scope
from cutlass_operator.layers.base import RegionInputs
from cutlass_operator.layers.compute import function_prefix
from cutlass_operator.props.apigateway import (
    ApiKeyProps,
    ApiRoute,
    ApiStage,
    Authorizer,
    BasePathMapping,
    DomainNameProps,
    HttpMethod,
    Quota,
    RestApiProps,
    StageProps,
    Throttle,
    UsagePlanProps,
)
from cutlass_operator.props.cognito import (
    AuthFlow,
    OAuthFlow,
    PasswordPolicy,
    ResourceServerProps,
    ResourceServerScope,
    UserPoolClientProps,
    UserPoolDomainProps,
    UserPoolProps,
)
from cutlass_operator.props.lambda_ import PermissionProps, statement_id
from cutlass_operator.props.logs import LogGroupProps

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
    method: HttpMethod
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

    def kinds(self, inputs: RegionInputs) -> Sequence[Scope]:
        pools = inputs.workspace.resource_name("users")
        return [
            Scope(UserPoolProps, name_prefix=pools),
            Scope(ResourceServerProps, name_prefix=pools),
            Scope(UserPoolClientProps, name_prefix=pools),
            Scope(UserPoolDomainProps),
            Scope(LogGroupProps, name_prefix="/aws/apigateway/cutlass-tech-"),
            Scope(RestApiProps, name_prefix=inputs.workspace.resource_name("api")),
            Scope(StageProps),
            Scope(PermissionProps, name_prefix=function_prefix(inputs)),
            Scope(UsagePlanProps, name_prefix=_prefix(inputs, "plan")),
            Scope(ApiKeyProps, name_prefix=_prefix(inputs, "key")),
            Scope(DomainNameProps),
        ]

    def desired(self, inputs: RegionInputs) -> list[Desired[Any]]:
        ws, env, region = inputs.workspace, inputs.environment, inputs.region
        entries: list[Desired[Any]] = []

        def add(key: str, name: str, props: Props, after: Sequence[str] = ()) -> None:
            entries.append(Desired(key, props, name, ws.tags(LAYER, key, name), depends_on=frozenset(after)))

        pool = ws.resource_name("users")
        # The pool holds people's accounts: it follows the environment's deletion policy for data,
        # while its clients, scopes and hosted domain go with the API.
        retained = env.effective_deletion_policy() == DeletionPolicy.RETAIN
        entries.append(Desired(POOL, _pool(pool, inputs), pool, ws.tags(LAYER, POOL, pool), retain=retained))
        add(
            RESOURCE_SERVER,
            SCOPES_IDENTIFIER,
            ResourceServerProps(
                user_pool_id=Ref(POOL, "id"),
                identifier=SCOPES_IDENTIFIER,
                name=f"Cutlass API of {ws.name}",
                scopes=tuple(ResourceServerScope(name, text) for name, text in SCOPES.items()),
            ),
        )
        scoped = tuple(f"{SCOPES_IDENTIFIER}/{scope}" for scope in ("usage.read", "usage.write"))
        add(
            USER_CLIENT,
            "users",
            _client("users", secret=False, flows=("code",), scopes=("openid", "email", *scoped), inputs=inputs),
            after=[RESOURCE_SERVER],
        )
        add(
            MACHINE_CLIENT,
            "machines",
            _client("machines", secret=True, flows=("client_credentials",), scopes=scoped, inputs=inputs),
            after=[RESOURCE_SERVER],
        )
        prefix = f"cutlass-tech-{ws.name}-{ws.account_id}"  # hosted UI domains are global to a region
        add(HOSTED_UI, prefix, UserPoolDomainProps(user_pool_id=Ref(POOL, "id"), domain=prefix))

        logs = f"/aws/apigateway/{ws.resource_name('api')}"
        add(
            ACCESS_LOGS,
            logs,
            LogGroupProps(log_group_name=logs, retention_in_days=inputs.settings.log_retention_days),
        )
        api = ws.resource_name("api")
        add(REST_API, api, _rest_api(api, inputs, self.routes))
        stage = stage_name(inputs)
        throttle = region.api.throttling or env.api.throttling or DEFAULT_STAGE_THROTTLING
        add(
            STAGE,
            f"{api}/{stage}",
            StageProps(
                rest_api_id=Ref(REST_API, "id"),
                stage_name=stage,
                definition_hash=Ref(REST_API, "definitionHash"),
                description=f"The {stage} stage of {ws.name}",
                tracing_enabled=inputs.settings.detailed_monitoring,
                access_log_destination_arn=Ref(ACCESS_LOGS, "arn"),
                access_log_format=ACCESS_LOG_FORMAT,
                throttling_rate_limit=float(throttle.rate_limit),
                throttling_burst_limit=throttle.burst_limit,
            ),
        )
        for route in self.routes:
            function = f"{function_prefix(inputs)}{route.function}"
            sid = statement_id("apigateway", f"{route.method} {route.path}")
            add(
                f"{LAYER}/permission/{route.slug}",
                f"{function}:live {sid}",
                PermissionProps(
                    function_name=function,
                    qualifier="live",
                    statement_id=sid,
                    action="lambda:InvokeFunction",
                    principal="apigateway.amazonaws.com",
                    # Only this API, this method and path: not any stage's other routes.
                    source_arn=Ref(REST_API, "executionArn", suffix=f"/*/{route.method}{route.path}"),
                    source_account=ws.account_id,
                ),
            )
        for plan, limits in env.api.plans().items():
            name = f"{_prefix(inputs, 'plan')}{plan}"
            add(
                f"{LAYER}/plan/{plan}",
                name,
                UsagePlanProps(
                    name=name,
                    description=f"The {plan} plan of {ws.environment} in {region.region}",
                    throttle=Throttle(float(limits.rate_limit), limits.burst_limit),
                    quota=Quota(limits.monthly_quota, "MONTH", offset=0),
                    api_stages=(ApiStage(Ref(REST_API, "id"), stage),),
                ),
                after=[STAGE],
            )
        for tenant in env.api.tenants:
            name = f"{_prefix(inputs, 'key')}{tenant.name}"
            add(
                f"{LAYER}/key/{tenant.name}",
                name,
                ApiKeyProps(
                    name=name,
                    description=f"API key of tenant {tenant.name}",
                    enabled=True,
                    usage_plan_id=Ref(f"{LAYER}/plan/{tenant.plan}", "id"),
                ),
            )
        certificate = region.api.certificate_arn
        for key, name in custom_domains(inputs).items():
            if certificate is None:  # custom_domains has none without a certificate
                break
            add(
                key,
                name,
                DomainNameProps(
                    domain_name=name,
                    regional_certificate_arn=certificate,
                    security_policy="TLS_1_2",
                    endpoint_type="REGIONAL",
                    base_path_mappings=(BasePathMapping(Ref(REST_API, "id"), stage, base_path=""),),
                ),
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


def _pool(name: str, inputs: RegionInputs) -> UserPoolProps:
    return UserPoolProps(
        pool_name=name,
        password_policy=PasswordPolicy(
            minimum_length=12,
            require_uppercase=True,
            require_lowercase=True,
            require_numbers=True,
            require_symbols=True,
            temporary_password_validity_days=3,
        ),
        mfa_configuration="OPTIONAL",
        username_attributes=("email",),
        auto_verified_attributes=("email",),
        advanced_security_mode="ENFORCED" if inputs.settings.enhanced_security else "OFF",
        deletion_protection="ACTIVE" if inputs.environment.effective_deletion_protection() else "INACTIVE",
    )


def _client(
    name: str, *, secret: bool, flows: tuple[OAuthFlow, ...], scopes: tuple[str, ...], inputs: RegionInputs
) -> UserPoolClientProps:
    people = not secret
    # Sign-in by SRP, or by password over TLS for first-party apps; machines only refresh.
    auth_flows: tuple[AuthFlow, ...] = (
        ("ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH")
        if people
        else ("ALLOW_REFRESH_TOKEN_AUTH",)
    )
    return UserPoolClientProps(
        user_pool_id=Ref(POOL, "id"),
        client_name=name,
        generate_secret=secret,
        explicit_auth_flows=auth_flows,
        allowed_oauth_flows=flows,
        allowed_oauth_scopes=scopes,
        allowed_oauth_flows_user_pool_client=True,
        callback_urls=tuple(inputs.environment.api.callback_urls) if people else (),
        logout_urls=tuple(inputs.environment.api.callback_urls) if people else (),
        supported_identity_providers=("COGNITO",),
        prevent_user_existence_errors="ENABLED",
    )


def _rest_api(name: str, inputs: RegionInputs, routes: Sequence[Route]) -> RestApiProps:
    region = inputs.region.aws_region
    functions = inputs.upstream.get("compute", {}).get("functions", {})

    def target(function: str) -> str:
        alias = (functions.get(function) or {}).get("aliasArn") or f"(the live alias of {function})"
        return f"arn:{partition(region)}:apigateway:{region}:lambda:path/2015-03-31/functions/{alias}/invocations"

    return RestApiProps(
        name=name,
        description=f"The Cutlass API of {inputs.workspace.name}",
        endpoint_type="REGIONAL",
        authorizers=(
            Authorizer(
                name=AUTHORIZER,
                type="COGNITO_USER_POOLS",
                provider_arns=(Ref(POOL, "arn"),),
                identity_source="method.request.header.Authorization",
            ),
        ),
        routes=tuple(
            ApiRoute(
                path=route.path,
                method=route.method,
                authorization="COGNITO_USER_POOLS" if route.scopes else "NONE",
                authorizer=AUTHORIZER if route.scopes else None,
                scopes=tuple(f"{SCOPES_IDENTIFIER}/{scope}" for scope in route.scopes),
                integration_uri=target(route.function),
            )
            for route in routes
        ),
    )


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
