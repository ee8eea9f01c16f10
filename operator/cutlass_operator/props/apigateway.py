"""API Gateway (v1, REST): APIs with their routes, stages, usage plans, API keys and custom domains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cutlass_operator.engine.resource import Props, Ref, Struct

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"]
Authorization = Literal["NONE", "COGNITO_USER_POOLS"]


@dataclass(frozen=True)
class Authorizer(Struct):
    """A Cognito user pool authorizer, known by its name; `provider_arns` are user pool ARNs."""

    name: str
    provider_arns: tuple[str | Ref, ...]
    identity_source: str = "method.request.header.Authorization"
    type: Literal["COGNITO_USER_POOLS"] = "COGNITO_USER_POOLS"


@dataclass(frozen=True)
class ApiRoute(Struct):
    """A method on a path, known by both, integrated as a Lambda proxy: `integration_uri` is
    `arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<alias ARN>/invocations`.
    `authorizer` names one of the API's authorizers; without authorization, it and `scopes` are empty."""

    path: str
    method: HttpMethod
    integration_uri: str
    authorization: Authorization = "NONE"
    authorizer: str | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RestApiProps(Props):
    """The name must start with the kind's prefix (it carries the workspace)."""

    kind = "apigateway.rest_api"

    name: str
    description: str = ""
    endpoint_type: Literal["REGIONAL", "EDGE", "PRIVATE"] = "REGIONAL"
    authorizers: tuple[Authorizer, ...] = ()
    routes: tuple[ApiRoute, ...] = ()


@dataclass(frozen=True)
class StageProps(Props):
    """`definition_hash` is the API's output of that name: the stage redeploys when it changes.
    Access logs (a log group ARN and a format) and throttling (the stage-wide `*/*` method setting)
    are given both or neither; None: none."""

    kind = "apigateway.stage"

    rest_api_id: str | Ref
    stage_name: str
    definition_hash: str | Ref
    description: str = ""
    tracing_enabled: bool = False
    access_log_destination_arn: str | Ref | None = None
    access_log_format: str | None = None
    throttling_rate_limit: float | None = None
    throttling_burst_limit: int | None = None


@dataclass(frozen=True)
class Throttle(Struct):
    rate_limit: float
    burst_limit: int


@dataclass(frozen=True)
class Quota(Struct):
    limit: int
    period: Literal["DAY", "WEEK", "MONTH"]
    offset: int = 0


@dataclass(frozen=True)
class ApiStage(Struct):
    """A stage must exist before a plan names it: give `stage` as a `Ref` to the stage's
    `stageName` output, or depend on the stage."""

    api_id: str | Ref
    stage: str | Ref


@dataclass(frozen=True)
class UsagePlanProps(Props):
    """`throttle` and `quota` None: no limit. The name must start with the kind's prefix."""

    kind = "apigateway.usage_plan"

    name: str
    description: str = ""
    throttle: Throttle | None = None
    quota: Quota | None = None
    api_stages: tuple[ApiStage, ...] = ()


@dataclass(frozen=True)
class ApiKeyProps(Props):
    """`usage_plan_id` is the one plan of this workspace the key belongs to (None: none). The name
    must start with the kind's prefix."""

    kind = "apigateway.api_key"

    name: str
    description: str = ""
    enabled: bool = True
    usage_plan_id: str | Ref | None = None


@dataclass(frozen=True)
class BasePathMapping(Struct):
    """`base_path` "" (or "(none)") maps the domain's root, else a single path segment. The stage must
    exist first: give `stage` as a `Ref` to the stage's `stageName` output, or depend on the stage."""

    rest_api_id: str | Ref
    stage: str | Ref
    base_path: str = ""


@dataclass(frozen=True)
class DomainNameProps(Props):
    """A regional custom domain on an ACM certificate of its own region."""

    kind = "apigateway.domain_name"

    domain_name: str
    regional_certificate_arn: str
    security_policy: Literal["TLS_1_0", "TLS_1_2"] = "TLS_1_2"
    endpoint_type: Literal["REGIONAL"] = "REGIONAL"
    base_path_mappings: tuple[BasePathMapping, ...] = ()
