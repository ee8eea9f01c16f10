"""Cognito user pools and what hangs off them: app clients, resource servers and the hosted UI's domain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cutlass_operator.engine.resource import Props, Ref, Struct, unmanaged_when_none

UsernameAttribute = Literal["email", "phone_number"]
AuthFlow = Literal[
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_CUSTOM_AUTH",
    "ALLOW_USER_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
]
OAuthFlow = Literal["code", "implicit", "client_credentials"]


@dataclass(frozen=True)
class PasswordPolicy(Struct):
    """Cognito's defaults."""

    minimum_length: int = 8
    require_uppercase: bool = True
    require_lowercase: bool = True
    require_numbers: bool = True
    require_symbols: bool = True
    temporary_password_validity_days: int = 7


@dataclass(frozen=True)
class UserPoolProps(Props):
    """The name must start with the kind's prefix (it carries the workspace). MFA other than OFF is
    by authenticator app; `advanced_security_mode` other than OFF needs the Plus feature plan."""

    kind = "cognito.user_pool"

    pool_name: str
    password_policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    mfa_configuration: Literal["OFF", "OPTIONAL", "ON"] = "OFF"
    username_attributes: tuple[UsernameAttribute, ...] = ()
    auto_verified_attributes: tuple[UsernameAttribute, ...] = ()
    advanced_security_mode: Literal["OFF", "AUDIT", "ENFORCED"] = "OFF"
    deletion_protection: Literal["ACTIVE", "INACTIVE"] = "INACTIVE"


@dataclass(frozen=True)
class UserPoolClientProps(Props):
    """`allowed_oauth_scopes` are `openid`, `email`... or `<resource server identifier>/<scope>`.
    A token validity None is left as Cognito has it (60 minutes, 60 minutes, 30 days by default)."""

    kind = "cognito.user_pool_client"

    user_pool_id: str | Ref
    client_name: str
    generate_secret: bool = False
    explicit_auth_flows: tuple[AuthFlow, ...] = ()
    allowed_oauth_flows: tuple[OAuthFlow, ...] = field(default=(), metadata={"name": "allowedOAuthFlows"})
    allowed_oauth_scopes: tuple[str, ...] = field(default=(), metadata={"name": "allowedOAuthScopes"})
    allowed_oauth_flows_user_pool_client: bool = field(
        default=False, metadata={"name": "allowedOAuthFlowsUserPoolClient"}
    )
    callback_urls: tuple[str, ...] = ()
    logout_urls: tuple[str, ...] = ()
    supported_identity_providers: tuple[str, ...] = ("COGNITO",)
    prevent_user_existence_errors: Literal["ENABLED", "LEGACY"] = "ENABLED"
    access_token_validity_minutes: int | None = unmanaged_when_none()
    id_token_validity_minutes: int | None = unmanaged_when_none()
    refresh_token_validity_days: float | None = unmanaged_when_none()


@dataclass(frozen=True)
class ResourceServerScope(Struct):
    name: str
    description: str


@dataclass(frozen=True)
class ResourceServerProps(Props):
    """`identifier` is a URL (`https://api-dev.example.com`) or a plain name (`cutlass-api`)."""

    kind = "cognito.resource_server"

    user_pool_id: str | Ref
    identifier: str
    name: str
    scopes: tuple[ResourceServerScope, ...] = ()


@dataclass(frozen=True)
class UserPoolDomainProps(Props):
    """`domain` is the prefix of the hosted UI's domain, unique per region across all AWS accounts:
    it should carry the account id."""

    kind = "cognito.user_pool_domain"

    user_pool_id: str | Ref
    domain: str
