"""Cognito user pools and what hangs off them: app clients, resource servers (OAuth scopes) and the
hosted UI's domain. One pool per workspace is the expected shape; nothing here assumes it.

`cognito.user_pool` (`UserPoolKind(name_prefix)`, `UserPoolProps`, delete rank 50). The name (which
must start with `name_prefix`, which carries the workspace) and the username attributes cannot change in
place. MFA other than OFF is by authenticator app (software token): SMS would need an SNS role and a
sender identity the spec does not have. Outputs: `id` (the pool id, `<region>_<suffix>`), `arn`, `name`,
`issuer` (`https://cognito-idp.<region>.amazonaws.com/<id>`, the `iss` of every token the pool signs), `jwksUrl`
(`<issuer>/.well-known/jwks.json`) and `providerName` (`cognito-idp.<region>.amazonaws.com/<id>`, the
form identity pools and API Gateway authorizers name a pool by).

Identity. Cognito does not keep pool names unique, so a pool is known by its tags alone: the identity
tags go to CreateUserPool itself (`UserPoolTags`). Observe is ListUserPools (60 a page) keeping the
names under the prefix, then DescribeUserPool for each, whose answer holds the tags: pools carrying the
workspace's selector are ours, keyed by their `cutlass.tech/key` tag; a pool under the prefix without
the selector is someone else's (or retained) and is left alone. A no-op resync of N pools reads
ceil(P / 60) + N times, P being the pools in the region: 1 + N for up to 60. Pools are reported oldest
first, so should a crash ever leave two pools with one key, the engine deletes the newer, empty one.
MFA is read from DescribeUserPool's `MfaConfiguration`; which factor is enabled (GetUserPoolMfaConfig)
is not read, since OPTIONAL or ON always has one.

Create is CreateUserPool with the whole spec and the tags, then, when MFA is wanted,
SetUserPoolMfaConfig enabling software tokens (a crash between the two shows as an MFA difference, which
the next resync repairs). Update: SetUserPoolMfaConfig when MFA differs; when anything else differs,
UpdateUserPool. Cognito resets every setting UpdateUserPool is not given to its default, so the request
is built from the pool as DescribeUserPool reported it (Lambda triggers, email and SMS settings, admin
create-user and recovery settings survive, whoever set them), overlaid with the spec, and it carries the
tags too. Tag changes alone go through TagResource and UntagResource.

Delete. A pool with `deletionProtection` ACTIVE is never deleted, and the kind never switches the
protection off by itself: delete stops with the terminal error `DeletionProtected`, and the spec (the
layer) must set INACTIVE first. Otherwise the pool is described again (one read: its domain kind may have
deleted the domain meanwhile), its domains go first (Cognito refuses to delete a pool that has one), then
DeleteUserPool, which takes the pool's clients and resource servers with it.
Retain tags the pool `cutlass.tech/retained` and removes its identity tags: pools hold users.

`cognito.user_pool_client` (`UserPoolClientKind(name_prefix, orphan_scope)`, `UserPoolClientProps`,
delete rank 70). The pool (usually a `Ref` to the pool's `id`), the name and whether the client has a
secret cannot change in place. Outputs: `id` (the client id) and `name`. The client secret is never an
output: outputs end up in Kubernetes status. Whoever needs the secret reads it from Cognito
(DescribeUserPoolClient) with its own credentials, or a later feature writes it to a Kubernetes Secret.

`cognito.resource_server` (`ResourceServerKind(name_prefix, orphan_scope)`, `ResourceServerProps`, delete
rank 60). The pool and the identifier cannot change in place. Outputs: `id` (`<pool id>/<identifier>`),
`identifier` and `scopes` (the full scope names `<identifier>/<scope>` clients ask for). A client may
only name scopes that exist, so a layer makes clients depend on the resource server; when both change
in one reconcile the resource server is updated first.

Identity of clients and resource servers. Neither carries tags; each is known by its pool and its name
(identifier). The pool belongs to the workspace, so everything in it is ours: a client or resource
server there that no entry wants is an orphan under `orphan_scope` (the layer's key prefix), which the
engine deletes. Observe visits the pools the desired entries name and, with `name_prefix` (the pool
kind's), every pool of the workspace: that is how an entry whose `userPoolId` is a `Ref`
(the pool's key) finds its pool before the reference is resolved, and how orphans are found in a pool
no entry names any more. A `Ref` without `name_prefix` is a layer bug (ValueError). Per resync, for V
visited pools: clients read V ListUserPoolClients (60 a page) plus one DescribeUserPoolClient per
desired client found (orphans need no more than the listing); resource servers read V
ListResourceServers (50 a page); with `name_prefix`, each kind adds the workspace's pools listing
(1 + P, as the pool kind). Should a crash leave two clients of one name, the older is kept.

Client create is CreateUserPoolClient; update is UpdateUserPoolClient, which also resets what it is not
given, so its request is built from the described client overlaid with the spec (read and write
attributes, token validities and the like survive). Resource servers: CreateResourceServer (one already
there, a create whose result the last observe missed, is updated instead), UpdateResourceServer,
DeleteResourceServer. Retain leaves both as they are: the pool is what is retained.

`cognito.user_pool_domain` (`UserPoolDomainKind()`, `UserPoolDomainProps`, delete rank 60): the prefix
domain of the hosted UI and OAuth endpoints, e.g. `cutlass-tech-dev-london-<account>`; neither the pool
nor the prefix can change in place. Outputs: `id` and `domain` (the prefix), `hostedUiUrl`
(`https://<domain>.auth.<region>.amazoncognito.com`) and `status`. Observe is one DescribeUserPoolDomain
per desired domain; a domain of another pool is not ours: it is not reported, and create stops with the
terminal error `NameTaken` (AWS says the same of a prefix another account holds). When `userPoolId` is
a `Ref`, the domain's pool is asked whether it is the referenced one (one DescribeUserPool, its key
tag): 1 read per domain, 2 with a reference. A domain removed from the spec is not found (nothing to
list domains by); deleting its pool deletes it. A pool has one prefix domain at most, so a new prefix
for a pool that still has the old one fails with Cognito's own (terminal) message: the old one must be
deleted first. Create is CreateUserPoolDomain, then a bounded wait for status ACTIVE (AWS takes up to a
minute, custom domains far longer); delete is DeleteUserPoolDomain and a bounded wait until it is gone,
so the pool can go after it. Retain leaves it.

Altogether, the usual stack (one pool, one resource server, one client and one domain, the last three
naming the pool by `Ref`, `name_prefix` given) reads 11 times in a no-op resync while the region has
at most 60 pools: ListUserPools 3, DescribeUserPool 4, ListResourceServers, ListUserPoolClients,
DescribeUserPoolClient and DescribeUserPoolDomain once each.

moto 5.2.5 gaps (the integration tests fill the first three in the emulator, in their own process):
- No TagResource, UntagResource or ListTagsForResource, and no UpdateResourceServer or
  DeleteResourceServer: each answers HTTP 500 (not implemented).
- UpdateUserPool replaces the pool's whole stored configuration with the request, losing the settings
  only CreateUserPool takes (UsernameAttributes) and the tags.
- DeleteUserPool ignores DeletionProtection and an existing domain, and leaves the domain behind.
- Every pool signs with the same fixed RSA key (`kid` "dummy"); the JWKS is served at
  `<endpoint>/<pool id>/.well-known/jwks.json` instead of the issuer's host. `iss` is AWS's form.
- Domains are ACTIVE at once; a domain name is only unique within one account and region, and
  CreateUserPoolDomain of a taken name moves it silently (the kind checks first, as on AWS).
- Describe answers carry defaults AWS would not report (messages, admin create-user settings); app
  clients have no CreationDate, so of two same-named clients the lower id is kept there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from cutlass_operator.engine.arns import dns_suffix, partition
from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.identity import IDENTITY_TAGS, KEY, RETAINED, WORKSPACE
from cutlass_operator.engine.resource import (
    Desired,
    FieldDiff,
    KindContext,
    Observed,
    P,
    Ref,
    ResourceKind,
    normalise,
)
from cutlass_operator.props.cognito import (
    ResourceServerProps,
    UserPoolClientProps,
    UserPoolDomainProps,
    UserPoolProps,
)
from cutlass_operator.resources.errors import aws_errors, error_code, error_message, is_not_found, tolerate_not_found
from cutlass_operator.resources.tags import key_of, matches, tag_changes
from cutlass_operator.resources.waits import WaitPolicy, wait_until

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp.client import CognitoIdentityProviderClient
    from mypy_boto3_cognito_idp.literals import UserPoolMfaTypeType
    from mypy_boto3_cognito_idp.type_defs import (
        DomainDescriptionTypeTypeDef,
        ResourceServerScopeTypeTypeDef,
        ResourceServerTypeTypeDef,
        UserPoolClientTypeTypeDef,
        UserPoolTypeTypeDef,
    )

POOL_PAGE = 60
CLIENT_PAGE = 60
RESOURCE_SERVER_PAGE = 50

# passwordPolicy property key -> Cognito's PasswordPolicy field, and Cognito's defaults.
PASSWORD_FIELDS = {
    "minimumLength": "MinimumLength",
    "requireUppercase": "RequireUppercase",
    "requireLowercase": "RequireLowercase",
    "requireNumbers": "RequireNumbers",
    "requireSymbols": "RequireSymbols",
    "temporaryPasswordValidityDays": "TemporaryPasswordValidityDays",
}
PASSWORD_DEFAULTS: dict[str, Any] = {
    "minimumLength": 8,
    "requireUppercase": True,
    "requireLowercase": True,
    "requireNumbers": True,
    "requireSymbols": True,
    "temporaryPasswordValidityDays": 7,
}
ATTRIBUTE_LISTS = {"usernameAttributes": "UsernameAttributes", "autoVerifiedAttributes": "AutoVerifiedAttributes"}
# Settings of a pool the spec does not manage that UpdateUserPool must be given back, or Cognito
# resets them (DescribeUserPool's field names, which UpdateUserPool takes as they are).
PRESERVED_POOL_SETTINGS = (
    "LambdaConfig",
    "VerificationMessageTemplate",
    "SmsAuthenticationMessage",
    "UserAttributeUpdateSettings",
    "DeviceConfiguration",
    "EmailConfiguration",
    "SmsConfiguration",
    "AdminCreateUserConfig",
    "AccountRecoverySetting",
    "UserPoolTier",
)
# The same for UpdateUserPoolClient.
PRESERVED_CLIENT_SETTINGS = (
    "ReadAttributes",
    "WriteAttributes",
    "DefaultRedirectURI",
    "AnalyticsConfiguration",
    "EnableTokenRevocation",
    "EnablePropagateAdditionalUserContextData",
    "AuthSessionValidity",
    "RefreshTokenRotation",
    "RefreshTokenValidity",
    "AccessTokenValidity",
    "IdTokenValidity",
    "TokenValidityUnits",
)
# client list property -> Cognito's field; a list Cognito leaves out is empty.
CLIENT_LISTS = {
    "explicitAuthFlows": "ExplicitAuthFlows",
    "allowedOAuthFlows": "AllowedOAuthFlows",
    "allowedOAuthScopes": "AllowedOAuthScopes",
    "callbackUrls": "CallbackURLs",
    "logoutUrls": "LogoutURLs",
    "supportedIdentityProviders": "SupportedIdentityProviders",
}
# Token lifetimes: property -> (value field, TokenValidityUnits field, the property's unit, Cognito's
# default value in Cognito's default unit).
TOKEN_VALIDITY: dict[str, tuple[str, str, str, tuple[int, str]]] = {
    "accessTokenValidityMinutes": ("AccessTokenValidity", "AccessToken", "minutes", (60, "minutes")),
    "idTokenValidityMinutes": ("IdTokenValidity", "IdToken", "minutes", (60, "minutes")),
    "refreshTokenValidityDays": ("RefreshTokenValidity", "RefreshToken", "days", (30, "days")),
}
SECONDS_IN = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
# Cognito's units when TokenValidityUnits leaves one out.
DEFAULT_UNITS = {"AccessToken": "hours", "IdToken": "hours", "RefreshToken": "days"}
DOMAIN_SETTLING = frozenset({"CREATING", "UPDATING"})
# What Cognito says (InvalidParameterException) when a domain prefix is held by another pool or account.
DOMAIN_TAKEN = ("already exists", "already associated", "domain is taken")
# How Cognito answers CreateResourceServer for an identifier the pool has already.
SERVER_EXISTS = "already exists"


# -- names ------------------------------------------------------------------------------------------


def issuer(region: str, pool_id: str) -> str:
    """The `iss` claim of the pool's tokens, and the base of its OpenID configuration and JWKS."""
    return f"https://cognito-idp.{region}.{dns_suffix(region)}/{pool_id}"


def hosted_ui_url(region: str, domain: str) -> str:
    return f"https://{domain}.auth.{region}.amazoncognito.com"


def pool_outputs(region: str, pool_id: str, arn: str, name: str) -> dict[str, Any]:
    iss = issuer(region, pool_id)
    return {
        "id": pool_id,
        "arn": arn,
        "name": name,
        "issuer": iss,
        "jwksUrl": f"{iss}/.well-known/jwks.json",
        "providerName": f"cognito-idp.{region}.{dns_suffix(region)}/{pool_id}",
    }


# -- user pools ------------------------------------------------------------------------------------


class UserPoolKind(ResourceKind[UserPoolProps]):
    props = UserPoolProps
    # Below the clients, resource servers and domains that live in the pool.
    delete_rank = 50
    immutable = frozenset({"poolName", "usernameAttributes"})

    def __init__(self, name_prefix: str = "", orphan_scope: str = "", *, wait: WaitPolicy | None = None) -> None:
        if not name_prefix:
            raise ValueError("a user pool kind needs a name prefix that carries its workspace")
        super().__init__(name_prefix, orphan_scope)
        # Deleting a pool's domain before the pool: seconds for a prefix domain.
        self.wait = wait or WaitPolicy(timeout=120.0, interval=5.0)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[UserPoolProps]]) -> list[Observed]:
        for d in desired:
            name = d.props.pool_name
            if not name.startswith(self.name_prefix):
                raise ValueError(f"{d.key}: user pool {name} is outside {self.name_prefix}")
        cognito = _client(ctx)
        with aws_errors(f"observe {self.kind} {self.name_prefix}*"):
            pools = _workspace_pools(cognito, ctx, self.name_prefix)
        return [self._observed(ctx, key_of(_tags(pool), pool["Id"]), pool) for pool in pools]

    def create(self, ctx: KindContext, desired: Desired[UserPoolProps]) -> Observed:
        cognito = _client(ctx)
        props = desired.properties
        name = str(props["poolName"])
        if not name.startswith(self.name_prefix):
            raise ValueError(f"{desired.key}: user pool {name} is outside {self.name_prefix}")
        what = f"create {self.kind} {name}"
        request: dict[str, Any] = {
            "PoolName": name,
            "Policies": {"PasswordPolicy": _password_request(props.get("passwordPolicy") or {})},
            "UserPoolTags": dict(desired.tags),
        }
        for prop, field in ATTRIBUTE_LISTS.items():
            if props.get(prop) is not None:
                request[field] = list(props[prop])
        if props.get("advancedSecurityMode") is not None:
            request["UserPoolAddOns"] = {"AdvancedSecurityMode": str(props["advancedSecurityMode"])}
        if props.get("deletionProtection") is not None:
            request["DeletionProtection"] = str(props["deletionProtection"])
        mfa = str(props.get("mfaConfiguration") or "OFF")
        with aws_errors(what):
            pool = cognito.create_user_pool(**request)["UserPool"]
            if mfa != "OFF":
                _set_mfa(cognito, pool["Id"], mfa)
        pool["MfaConfiguration"] = cast("UserPoolMfaTypeType", mfa)
        return self._observed(ctx, desired.key, pool)

    def update(
        self, ctx: KindContext, desired: Desired[UserPoolProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        cognito = _client(ctx)
        pool_id = observed.id
        what = f"update {self.kind} {pool_id}"
        want = {**observed.properties, **desired.properties}
        differing = {
            name for name, value in want.items() if normalise(value) != normalise(observed.properties.get(name))
        }
        changes = tag_changes(desired.tags, observed.tags)
        target_tags = changes.applied_to(observed.tags)
        with aws_errors(what):
            if "mfaConfiguration" in differing:
                _set_mfa(cognito, pool_id, str(want["mfaConfiguration"]))
            if differing - {"mfaConfiguration"}:
                request = _pool_update_request(pool_id, observed.private["described"], want, target_tags)
                cognito.update_user_pool(**request)
                if changes.remove:  # in case UserPoolTags only adds on AWS
                    cognito.untag_resource(ResourceArn=observed.outputs["arn"], TagKeys=changes.remove)
            else:
                if changes.put:
                    cognito.tag_resource(ResourceArn=observed.outputs["arn"], Tags=changes.put)
                if changes.remove:
                    cognito.untag_resource(ResourceArn=observed.outputs["arn"], TagKeys=changes.remove)
        observed.properties = want
        observed.tags = target_tags
        observed.private["described"] = {**observed.private["described"], "UserPoolTags": target_tags}
        observed.key = desired.key
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        cognito = _client(ctx)
        pool_id = observed.id
        what = f"delete {self.kind} {observed.outputs.get('name', pool_id)} ({pool_id})"
        if observed.properties.get("deletionProtection") == "ACTIVE":
            raise TerminalError(
                "DeletionProtected",
                f"{what}: the pool has deletion protection, and the operator does not switch it off by itself "
                "(the pool holds the users' accounts): set deletionProtection INACTIVE, apply, then remove it",
            )
        with aws_errors(what):
            # Described again: the domain kind (a higher rank) may have deleted the domain since observe.
            current = _describe_pool(cognito, pool_id)
            if current is None:
                return
            for domain in _domains(current):
                with tolerate_not_found():
                    cognito.delete_user_pool_domain(Domain=domain, UserPoolId=pool_id)
                wait_until(_gone(cognito, domain), self.wait, what, "DomainDeleting")
            with tolerate_not_found():
                cognito.delete_user_pool(UserPoolId=pool_id)

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        cognito = _client(ctx)
        arn = observed.outputs["arn"]
        with aws_errors(f"retain {self.kind} {observed.id}"):
            cognito.tag_resource(ResourceArn=arn, Tags={RETAINED: "true"})
            cognito.untag_resource(ResourceArn=arn, TagKeys=[k for k in IDENTITY_TAGS if k in observed.tags])

    def _observed(self, ctx: KindContext, key: str, pool: UserPoolTypeTypeDef) -> Observed:
        pool_id = pool["Id"]
        addons: Mapping[str, Any] = pool.get("UserPoolAddOns") or {}
        properties: dict[str, Any] = {
            "poolName": pool.get("Name"),
            "passwordPolicy": _password_policy(pool.get("Policies", {}).get("PasswordPolicy") or {}),
            "mfaConfiguration": pool.get("MfaConfiguration") or "OFF",
            "usernameAttributes": list(pool.get("UsernameAttributes") or []),
            "autoVerifiedAttributes": list(pool.get("AutoVerifiedAttributes") or []),
            "advancedSecurityMode": addons.get("AdvancedSecurityMode") or "OFF",
            "deletionProtection": pool.get("DeletionProtection") or "INACTIVE",
        }
        arn = (
            pool.get("Arn")
            or f"arn:{partition(ctx.region)}:cognito-idp:{ctx.region}:{ctx.account_id}:userpool/{pool_id}"
        )
        outputs = pool_outputs(ctx.region, pool_id, arn, str(pool.get("Name", "")))
        private: dict[str, Any] = {"described": dict(pool)}
        return Observed(key, self.kind, pool_id, properties, _tags(pool), outputs, private)


def _set_mfa(cognito: CognitoIdentityProviderClient, pool_id: str, mfa: str) -> None:
    """MFA by authenticator app: Cognito refuses OPTIONAL or ON without a factor enabled."""
    if mfa == "OFF":
        cognito.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="OFF")
    else:
        cognito.set_user_pool_mfa_config(
            UserPoolId=pool_id,
            MfaConfiguration=cast("UserPoolMfaTypeType", mfa),
            SoftwareTokenMfaConfiguration={"Enabled": True},
        )


def _pool_update_request(
    pool_id: str, described: Mapping[str, Any], want: Mapping[str, Any], tags: Mapping[str, str]
) -> dict[str, Any]:
    """UpdateUserPool's request: the pool as described, with the spec's settings and the tags on top."""
    request: dict[str, Any] = {
        field: copy.deepcopy(described[field]) for field in PRESERVED_POOL_SETTINGS if described.get(field) is not None
    }
    admin = request.get("AdminCreateUserConfig")
    if isinstance(admin, dict):
        # Describe still reports this retired field; Cognito refuses it beside the password policy's own.
        admin.pop("UnusedAccountValidityDays", None)
    policies = copy.deepcopy(dict(described.get("Policies") or {}))
    policies["PasswordPolicy"] = {**(policies.get("PasswordPolicy") or {}), **_password_request(want["passwordPolicy"])}
    addons: dict[str, Any] = dict(described.get("UserPoolAddOns") or {})
    addons["AdvancedSecurityMode"] = str(want["advancedSecurityMode"])
    request.update(
        UserPoolId=pool_id,
        Policies=policies,
        MfaConfiguration=str(want["mfaConfiguration"]),
        AutoVerifiedAttributes=list(want["autoVerifiedAttributes"]),
        UserPoolAddOns=addons,
        DeletionProtection=str(want["deletionProtection"]),
        UserPoolTags=dict(tags),
    )
    return request


def _password_policy(policy: Mapping[str, Any]) -> dict[str, Any]:
    return {prop: policy.get(field, PASSWORD_DEFAULTS[prop]) for prop, field in PASSWORD_FIELDS.items()}


def _password_request(policy: Mapping[str, Any]) -> dict[str, Any]:
    full = {**PASSWORD_DEFAULTS, **policy}
    return {field: full[prop] for prop, field in PASSWORD_FIELDS.items()}


def _domains(pool: UserPoolTypeTypeDef) -> list[str]:
    """The pool's prefix domain and custom domain, where it has them."""
    return [d for d in (pool.get("Domain"), pool.get("CustomDomain")) if d]


def _tags(pool: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (pool.get("UserPoolTags") or {}).items()}


def _workspace_pools(
    cognito: CognitoIdentityProviderClient, ctx: KindContext, prefix: str
) -> list[UserPoolTypeTypeDef]:
    """The workspace's pools named under `prefix`, described, oldest first."""
    names = [
        p["Id"]
        for page in cognito.get_paginator("list_user_pools").paginate(PaginationConfig={"PageSize": POOL_PAGE})
        for p in page.get("UserPools", [])
        if "Id" in p and p.get("Name", "").startswith(prefix)
    ]
    pools: list[UserPoolTypeTypeDef] = []
    for pool_id in sorted(set(names)):
        pool = _describe_pool(cognito, pool_id)  # None: deleted between the listing and the read
        if pool is not None and matches(_tags(pool), ctx.selector):
            pools.append(pool)
    pools.sort(key=lambda p: (_timestamp(p.get("CreationDate")), p["Id"]))
    return pools


def _describe_pool(cognito: CognitoIdentityProviderClient, pool_id: str) -> UserPoolTypeTypeDef | None:
    try:
        return cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def _timestamp(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else 0.0


# -- the pools of sub-resources --------------------------------------------------------------------


class _InPool(ResourceKind[P]):
    """What clients and resource servers share: they live in a pool, named by `userPoolId`, and have no
    tags, so only their properties are compared. `name_prefix` is the pool kind's."""

    def compare(self, desired: Desired[P], observed: Observed) -> list[FieldDiff]:
        comparable = self._comparable(desired.properties)
        return [
            FieldDiff(name, observed.properties.get(name), want)
            for name, want in sorted(comparable.items())
            if normalise(observed.properties.get(name)) != normalise(want)
        ]

    def _comparable(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        return dict(properties)

    def _pools(
        self, ctx: KindContext, cognito: CognitoIdentityProviderClient, desired: Sequence[Desired[P]]
    ) -> tuple[dict[str, str], list[str]]:
        """(desired key -> its pool id, for those whose pool is known; the pools to visit)."""
        literal: dict[str, str] = {}
        refs: dict[str, Ref] = {}
        for d in desired:
            pool = d.properties["userPoolId"]
            if isinstance(pool, str):
                literal[d.key] = pool
            elif isinstance(pool, Ref):
                refs[d.key] = pool
            else:
                raise ValueError(f"{d.key}: userPoolId must be a pool id or a reference to a user pool's output")
        if refs and not self.name_prefix:
            key, ref = sorted(refs.items())[0]
            raise ValueError(
                f"{key}: userPoolId is a reference to {ref.key}; give {type(self).__name__} the pools' "
                "name prefix (name_prefix) so observe can find the pool before the reference is resolved"
            )
        visit = set(literal.values())
        resolved = dict(literal)
        if self.name_prefix:
            by_key: dict[str, dict[str, Any]] = {}
            for pool in _workspace_pools(cognito, ctx, self.name_prefix):
                visit.add(pool["Id"])
                outputs = pool_outputs(ctx.region, pool["Id"], pool.get("Arn", ""), pool.get("Name", ""))
                by_key.setdefault(_tags(pool).get(KEY, ""), outputs)  # oldest first, as the pool kind keeps
            for key, ref in refs.items():
                value = by_key.get(ref.key, {}).get(ref.output)
                if isinstance(value, str):
                    resolved[key] = value
        return resolved, sorted(visit)

    def _orphan_key(self, pool_id: str, name: str) -> str:
        return f"{self.orphan_scope}(untracked {pool_id}/{name})"


# -- app clients -------------------------------------------------------------------------------------


class UserPoolClientKind(_InPool[UserPoolClientProps]):
    props = UserPoolClientProps
    # Above the resource servers whose scopes clients name, and the pool.
    delete_rank = 70
    immutable = frozenset({"userPoolId", "clientName", "generateSecret"})

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[UserPoolClientProps]]) -> list[Observed]:
        cognito = _client(ctx)
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind} in {ctx.region}"):
            pools, visit = self._pools(ctx, cognito, desired)
            wanted: dict[tuple[str, str], Desired[UserPoolClientProps]] = {}
            for d in desired:
                if d.key in pools:
                    identity = (pools[d.key], str(d.properties["clientName"]))
                    if identity in wanted:
                        raise ValueError(f"{d.key} and {wanted[identity].key} name one client {identity[1]} twice")
                    wanted[identity] = d
            for pool_id in visit:
                listed = _list_clients(cognito, pool_id)  # None: the pool is gone
                ours: list[UserPoolClientTypeTypeDef] = []
                for summary in listed or []:
                    name = summary.get("ClientName", "")
                    want = wanted.get((pool_id, name))
                    if want is None:
                        client_id = summary.get("ClientId", "")
                        orphan = Observed(
                            self._orphan_key(pool_id, name),
                            self.kind,
                            client_id,
                            {"userPoolId": pool_id, "clientName": name},
                            {},
                            {"id": client_id, "name": name},
                        )
                        found.append(orphan)
                        continue
                    described = _describe_client(cognito, pool_id, summary.get("ClientId", ""))
                    if described is not None:
                        ours.append(described)
                # Two clients of one name (a crash between a create and its record): the older stays.
                ours.sort(key=lambda c: (_timestamp(c.get("CreationDate")), c.get("ClientId", "")))
                found += [self._observed(wanted[pool_id, c.get("ClientName", "")].key, c) for c in ours]
        return found

    def create(self, ctx: KindContext, desired: Desired[UserPoolClientProps]) -> Observed:
        cognito = _client(ctx)
        props = desired.properties
        pool_id, name = str(props["userPoolId"]), str(props["clientName"])
        what = f"create {self.kind} {name} in {pool_id}"
        request: dict[str, Any] = {
            "UserPoolId": pool_id,
            "ClientName": name,
            "GenerateSecret": bool(props.get("generateSecret", False)),
            **_client_settings(props),
        }
        with aws_errors(what):
            created = cognito.create_user_pool_client(**request)["UserPoolClient"]
        return self._observed(desired.key, created)

    def update(
        self, ctx: KindContext, desired: Desired[UserPoolClientProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        cognito = _client(ctx)
        pool_id = str(observed.properties["userPoolId"])
        what = f"update {self.kind} {observed.properties.get('clientName')} in {pool_id}"
        described: Mapping[str, Any] = observed.private.get("described", {})
        request: dict[str, Any] = {
            field: copy.deepcopy(described[field])
            for field in PRESERVED_CLIENT_SETTINGS
            if described.get(field) is not None
        }
        request.update(
            UserPoolId=pool_id,
            ClientId=observed.id,
            ClientName=str(observed.properties["clientName"]),
            **_client_settings({**observed.properties, **desired.properties}),
        )
        with aws_errors(what):
            updated = cognito.update_user_pool_client(**request)["UserPoolClient"]
        return self._observed(desired.key, updated)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        cognito = _client(ctx)
        pool_id = str(observed.properties["userPoolId"])
        with (
            aws_errors(f"delete {self.kind} {observed.properties.get('clientName')} in {pool_id}"),
            tolerate_not_found(),
        ):
            cognito.delete_user_pool_client(UserPoolId=pool_id, ClientId=observed.id)

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        """Nothing marks a client as managed but its pool: it stays as it is."""

    def _observed(self, key: str, client: UserPoolClientTypeTypeDef) -> Observed:
        # The secret is read for `generateSecret` only: neither kept nor shown.
        described: dict[str, Any] = {k: v for k, v in client.items() if k != "ClientSecret"}
        properties: dict[str, Any] = {
            "userPoolId": client.get("UserPoolId"),
            "clientName": client.get("ClientName"),
            "generateSecret": bool(client.get("ClientSecret")),
            "allowedOAuthFlowsUserPoolClient": bool(client.get("AllowedOAuthFlowsUserPoolClient", False)),
            "preventUserExistenceErrors": client.get("PreventUserExistenceErrors") or "LEGACY",
        }
        for prop, field in CLIENT_LISTS.items():
            properties[prop] = list(described.get(field) or [])
        units: dict[str, str] = {**DEFAULT_UNITS, **(described.get("TokenValidityUnits") or {})}
        for prop, (field, unit_field, unit, (default, default_unit)) in TOKEN_VALIDITY.items():
            value = described.get(field)
            have_unit = units[unit_field] if value is not None else default_unit
            properties[prop] = _convert(value if value is not None else default, have_unit, unit)
        client_id = client.get("ClientId", "")
        outputs = {"id": client_id, "name": client.get("ClientName")}
        return Observed(key, self.kind, client_id, properties, {}, outputs, {"described": described})


def _client_settings(props: Mapping[str, Any]) -> dict[str, Any]:
    """CreateUserPoolClient/UpdateUserPoolClient fields for the client properties given."""
    request: dict[str, Any] = {}
    for prop, field in CLIENT_LISTS.items():
        if prop in props:
            request[field] = [str(v) for v in props[prop] or []]
    if "allowedOAuthFlowsUserPoolClient" in props:
        request["AllowedOAuthFlowsUserPoolClient"] = bool(props["allowedOAuthFlowsUserPoolClient"])
    if props.get("preventUserExistenceErrors") is not None:
        request["PreventUserExistenceErrors"] = str(props["preventUserExistenceErrors"])
    units: dict[str, str] = {}
    for prop, (field, unit_field, unit, _) in TOKEN_VALIDITY.items():
        if props.get(prop) is not None:
            request[field], units[unit_field] = _validity(props[prop], unit)
    if units:
        # An update passes all three lifetimes (the observed ones where the spec has none), so the
        # units always match the values sent with them.
        request["TokenValidityUnits"] = units
    return request


def _validity(value: Any, unit: str) -> tuple[int, str]:
    """A lifetime as Cognito takes it, a whole number: in the property's unit, or in a smaller one
    where only that keeps it whole (half a day as 12 hours)."""
    seconds = round(float(value) * SECONDS_IN[unit])
    for candidate in ("days", "hours", "minutes", "seconds"):
        if SECONDS_IN[candidate] <= SECONDS_IN[unit] and seconds % SECONDS_IN[candidate] == 0:
            return seconds // SECONDS_IN[candidate], candidate
    return seconds, "seconds"


def _convert(value: Any, unit: str, to: str) -> int | float:
    seconds = float(value) * SECONDS_IN.get(unit, 1)
    converted = seconds / SECONDS_IN[to]
    return int(converted) if converted.is_integer() else converted


def _list_clients(cognito: CognitoIdentityProviderClient, pool_id: str) -> list[Mapping[str, Any]] | None:
    try:
        return [
            c
            for page in cognito.get_paginator("list_user_pool_clients").paginate(
                UserPoolId=pool_id, PaginationConfig={"PageSize": CLIENT_PAGE}
            )
            for c in page.get("UserPoolClients", [])
        ]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def _describe_client(
    cognito: CognitoIdentityProviderClient, pool_id: str, client_id: str
) -> UserPoolClientTypeTypeDef | None:
    try:
        return cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


# -- resource servers --------------------------------------------------------------------------------


class ResourceServerKind(_InPool[ResourceServerProps]):
    props = ResourceServerProps
    delete_rank = 60
    immutable = frozenset({"userPoolId", "identifier"})

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[ResourceServerProps]]) -> list[Observed]:
        cognito = _client(ctx)
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind} in {ctx.region}"):
            pools, visit = self._pools(ctx, cognito, desired)
            wanted: dict[tuple[str, str], str] = {}
            for d in desired:
                if d.key in pools:
                    identity = (pools[d.key], str(d.properties["identifier"]))
                    if identity in wanted:
                        raise ValueError(f"{d.key} and {wanted[identity]} name one resource server twice")
                    wanted[identity] = d.key
            for pool_id in visit:
                for server in _list_servers(cognito, pool_id) or []:
                    identifier = server.get("Identifier", "")
                    key = wanted.get((pool_id, identifier)) or self._orphan_key(pool_id, identifier)
                    found.append(self._observed(key, server))
        return found

    def create(self, ctx: KindContext, desired: Desired[ResourceServerProps]) -> Observed:
        cognito = _client(ctx)
        props = self._comparable(desired.properties)
        pool_id, identifier = str(props["userPoolId"]), str(props["identifier"])
        what = f"create {self.kind} {identifier} in {pool_id}"
        request: dict[str, Any] = {
            "UserPoolId": pool_id,
            "Identifier": identifier,
            "Name": str(props.get("name") or identifier),
            "Scopes": _scopes_request(props.get("scopes")),
        }
        with aws_errors(what):
            try:
                server = cognito.create_resource_server(**request)["ResourceServer"]
            except ClientError as exc:
                # The pool is the workspace's, so an identifier already in it is ours (a create the
                # last observe did not see): bring it to the spec.
                if error_code(exc) != "InvalidParameterException" or SERVER_EXISTS not in error_message(exc):
                    raise
                server = cognito.update_resource_server(**request)["ResourceServer"]
        return self._observed(desired.key, server)

    def update(
        self, ctx: KindContext, desired: Desired[ResourceServerProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        cognito = _client(ctx)
        props = {**observed.properties, **self._comparable(desired.properties)}
        pool_id, identifier = str(observed.properties["userPoolId"]), str(observed.properties["identifier"])
        with aws_errors(f"update {self.kind} {identifier} in {pool_id}"):
            server = cognito.update_resource_server(
                UserPoolId=pool_id,
                Identifier=identifier,
                Name=str(props.get("name") or identifier),
                Scopes=_scopes_request(props.get("scopes")),
            )["ResourceServer"]
        return self._observed(desired.key, server)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        cognito = _client(ctx)
        pool_id, identifier = str(observed.properties["userPoolId"]), str(observed.properties["identifier"])
        with aws_errors(f"delete {self.kind} {identifier} in {pool_id}"), tolerate_not_found():
            cognito.delete_resource_server(UserPoolId=pool_id, Identifier=identifier)

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        """Nothing marks a resource server as managed but its pool: it stays as it is."""

    def _comparable(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        result = dict(properties)
        if "scopes" in result:
            result["scopes"] = _scopes(result["scopes"])
        return result

    def _observed(self, key: str, server: ResourceServerTypeTypeDef) -> Observed:
        pool_id, identifier = server.get("UserPoolId", ""), server.get("Identifier", "")
        scopes = [
            {"name": s.get("ScopeName"), "description": s.get("ScopeDescription")} for s in server.get("Scopes") or []
        ]
        properties: dict[str, Any] = {
            "userPoolId": pool_id,
            "identifier": identifier,
            "name": server.get("Name"),
            "scopes": scopes,
        }
        outputs = {
            "id": f"{pool_id}/{identifier}",
            "identifier": identifier,
            "scopes": sorted(f"{identifier}/{s['name']}" for s in scopes),
        }
        return Observed(key, self.kind, f"{pool_id}/{identifier}", properties, {}, outputs)


def _scopes(value: Any) -> Any:
    """Scopes in the observed shape; a missing description is the scope's name (Cognito requires one)."""
    if isinstance(value, Ref) or value is None:
        return [] if value is None else value
    return [{"name": s["name"], "description": s.get("description") or s["name"]} for s in value]


def _scopes_request(value: Any) -> list[ResourceServerScopeTypeTypeDef]:
    return [{"ScopeName": str(s["name"]), "ScopeDescription": str(s["description"])} for s in _scopes(value)]


def _list_servers(cognito: CognitoIdentityProviderClient, pool_id: str) -> list[ResourceServerTypeTypeDef] | None:
    try:
        return [
            s
            for page in cognito.get_paginator("list_resource_servers").paginate(
                UserPoolId=pool_id, PaginationConfig={"PageSize": RESOURCE_SERVER_PAGE}
            )
            for s in page.get("ResourceServers", [])
        ]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


# -- domains -----------------------------------------------------------------------------------------


class UserPoolDomainKind(ResourceKind[UserPoolDomainProps]):
    props = UserPoolDomainProps
    delete_rank = 60
    immutable = frozenset({"userPoolId", "domain"})

    def __init__(self, name_prefix: str = "", orphan_scope: str = "", *, wait: WaitPolicy | None = None) -> None:
        super().__init__(name_prefix, orphan_scope)
        self.wait = wait or WaitPolicy(timeout=120.0, interval=5.0)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[UserPoolDomainProps]]) -> list[Observed]:
        cognito = _client(ctx)
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind} in {ctx.region}"):
            for d in desired:
                current = _domain(cognito, d.props.domain)
                # A domain being deleted is going away; create waits for it to be gone.
                if current is not None and current.get("Status") != "DELETING" and self._ours(ctx, cognito, d, current):
                    found.append(self._observed(ctx, d.key, current))
        return found

    def _ours(
        self,
        ctx: KindContext,
        cognito: CognitoIdentityProviderClient,
        desired: Desired[UserPoolDomainProps],
        current: DomainDescriptionTypeTypeDef,
    ) -> bool:
        pool_id = current.get("UserPoolId", "")
        want = desired.properties["userPoolId"]
        if isinstance(want, Ref):
            pool = _describe_pool(cognito, pool_id)
            tags = _tags(pool) if pool is not None else {}
            return matches(tags, ctx.selector) and tags.get(KEY) == want.key
        return bool(pool_id == want)

    def create(self, ctx: KindContext, desired: Desired[UserPoolDomainProps]) -> Observed:
        cognito = _client(ctx)
        name, pool_id = desired.props.domain, str(desired.properties["userPoolId"])
        what = f"create {self.kind} {name} for {pool_id}"
        with aws_errors(what):
            current = _domain(cognito, name)
            if current is None:
                try:
                    cognito.create_user_pool_domain(Domain=name, UserPoolId=pool_id)
                except ClientError as exc:
                    message = error_message(exc).lower()
                    if error_code(exc) == "InvalidParameterException" and any(m in message for m in DOMAIN_TAKEN):
                        raise _taken(ctx, what, name, None) from exc
                    raise
            elif current.get("UserPoolId") != pool_id:
                raise _taken(ctx, what, name, current.get("UserPoolId"))
            elif current.get("Status") == "DELETING":
                raise RetryableError("DomainDeleting", f"{what}: the domain is still being deleted; retrying", 15.0)
            current = self._settled(cognito, name, what)
        return self._observed(ctx, desired.key, current)

    def update(
        self, ctx: KindContext, desired: Desired[UserPoolDomainProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        # Both properties are immutable: the engine never asks for an in-place change.
        observed.key = desired.key
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        cognito = _client(ctx)
        name, pool_id = observed.id, str(observed.properties["userPoolId"])
        what = f"delete {self.kind} {name}"
        with aws_errors(what):
            with tolerate_not_found():
                cognito.delete_user_pool_domain(Domain=name, UserPoolId=pool_id)
            wait_until(_gone(cognito, name), self.wait, what, "DomainDeleting")

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        """A domain carries no identity of its own: it stays as it is, with its pool."""

    def compare(self, desired: Desired[UserPoolDomainProps], observed: Observed) -> list[FieldDiff]:
        return [
            FieldDiff(name, observed.properties.get(name), want)
            for name, want in sorted(desired.properties.items())
            if normalise(observed.properties.get(name)) != normalise(want)
        ]

    def _settled(self, cognito: CognitoIdentityProviderClient, name: str, what: str) -> DomainDescriptionTypeTypeDef:
        latest: list[DomainDescriptionTypeTypeDef] = []

        def active() -> bool:
            current = _domain(cognito, name)
            if current is None:
                raise RetryableError("NotFoundYet", f"{what}: the domain is not visible yet; observing again", 10.0)
            if current.get("Status") == "FAILED":
                raise TerminalError("DomainFailed", f"{what}: Cognito could not set the domain up (status FAILED)")
            latest[:] = [current]
            return current.get("Status", "ACTIVE") not in DOMAIN_SETTLING

        wait_until(active, self.wait, what, "DomainCreating")
        return latest[0]

    def _observed(self, ctx: KindContext, key: str, domain: DomainDescriptionTypeTypeDef) -> Observed:
        name = domain.get("Domain", "")
        properties: dict[str, Any] = {"userPoolId": domain.get("UserPoolId"), "domain": name}
        outputs = {
            "id": name,
            "domain": name,
            "hostedUiUrl": hosted_ui_url(ctx.region, name),
            "status": domain.get("Status"),
        }
        return Observed(key, self.kind, name, properties, {}, outputs)


def _taken(ctx: KindContext, what: str, name: str, holder: str | None) -> TerminalError:
    held = f"user pool {holder}" if holder else "another user pool or AWS account"
    return TerminalError(
        "NameTaken",
        f"{what}: the domain prefix {name} is held by {held}, not by workspace {ctx.selector.get(WORKSPACE)}'s pool; "
        "prefix domains are unique per region across all AWS accounts: choose another prefix",
    )


def _domain(cognito: CognitoIdentityProviderClient, name: str) -> DomainDescriptionTypeTypeDef | None:
    """The domain's description, or None when no pool has it (Cognito answers an empty description)."""
    try:
        description = cognito.describe_user_pool_domain(Domain=name).get("DomainDescription") or {}
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return description if description.get("UserPoolId") else None


def _gone(cognito: CognitoIdentityProviderClient, name: str) -> Callable[[], bool]:
    return lambda: _domain(cognito, name) is None


def _client(ctx: KindContext) -> CognitoIdentityProviderClient:
    client: CognitoIdentityProviderClient = ctx.clients.client("cognito-idp", ctx.region)
    return client
