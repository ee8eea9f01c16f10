"""The Cognito kinds (`cognito.user_pool`, `cognito.user_pool_client`, `cognito.resource_server`,
`cognito.user_pool_domain`) against the moto server over HTTP, driven by the engine, and the proof the
API layer builds on: a user signs in through a client the kinds made, and the tokens verify against
the pool's JWKS with the issuer the pool kind reports.

Each test runs `reconcile` the way a layer does (one pool per workspace, clients, resource server and
domain naming it through `Ref(POOL, "id")`) and reads Cognito back with boto3: create, a steady state
that writes nothing, drift repaired, orphans and duplicates deleted, deletion protection honoured,
destroy and retain.

moto 5.2.5 gaps, filled by the emulator (`cutlass_operator.emulator.cognito_gaps`, installed by
`aws_emulator()`):
- TagResource, UntagResource, ListTagsForResource, UpdateResourceServer and DeleteResourceServer are not
  implemented (HTTP 500). The fillers keep tags where moto keeps the create-time ones
  (`UserPoolTags` in the pool's stored configuration).
- UpdateUserPool replaces the stored configuration with the request, dropping what only CreateUserPool
  takes (UsernameAttributes) and the tags; the filler keeps both when the request does not carry them,
  as AWS does.
- DeleteUserPool ignores DeletionProtection and a configured domain (and leaves the domain behind);
  the filler refuses both, as AWS does, so the tests prove the kind deletes the domain first.
Not filled: app clients have no CreationDate (the kind keeps the older of two same-named clients on
AWS, the lower client id here); every pool signs with one fixed key (`kid` "dummy"), served at
`<endpoint>/<pool id>/.well-known/jwks.json` rather than at the issuer's host (the test fetches it
there); the `iss` claim is AWS's `https://cognito-idp.<region>.amazonaws.com/<pool id>`, equal to the
pool kind's `issuer` output. Domains are ACTIVE at once; UpdateUserPoolClient merges the request into the
client (AWS resets what is not given, which the kind's full requests make harmless).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.session import AwsClients
from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.engine.identity import IDENTITY_TAGS, RETAINED, Workspace
from cutlass_operator.engine.plan import Action
from cutlass_operator.engine.reconcile import Outcome, reconcile
from cutlass_operator.engine.resource import Desired, KindContext, Ref, ResourceKind
from cutlass_operator.props.cognito import (
    PasswordPolicy,
    ResourceServerProps,
    ResourceServerScope,
    UserPoolClientProps,
    UserPoolDomainProps,
    UserPoolProps,
)
from cutlass_operator.resources.cognito import (
    ResourceServerKind,
    UserPoolClientKind,
    UserPoolDomainKind,
    UserPoolKind,
)
from cutlass_operator.resources.waits import WaitPolicy
from tests.integration.jwt_verify import InvalidTokenError, fetch_jwks, verify_cognito_token

from .outcomes import actions, diff_paths, outputs

pytestmark = pytest.mark.integration

REGION = "eu-west-2"
SCOPE = "api/"
POOL = "api/pool"
CLIENT = "api/client/web"
MACHINE = "api/client/machine"
SERVER = "api/resource-server"
DOMAIN = "api/domain"
POOL_NAME = "cutlass-tech-api-dev-london"
IDENTIFIER = "https://api-dev.example.com"
PASSWORD_POLICY = PasswordPolicy(
    minimum_length=12,
    require_uppercase=True,
    require_lowercase=True,
    require_numbers=True,
    require_symbols=False,
    temporary_password_validity_days=3,
)
FAST = WaitPolicy(timeout=5.0, interval=0.1)


# -- desired state, as the API layer would build it -------------------------------------------------


@pytest.fixture
def cognito(clients: AwsClients) -> Any:
    return clients.client("cognito-idp")


def pool_desired(
    workspace: Workspace, *, key: str = POOL, name: str = POOL_NAME, **changes: Any
) -> Desired[UserPoolProps]:
    props = UserPoolProps(
        pool_name=name,
        password_policy=PASSWORD_POLICY,
        mfa_configuration="OPTIONAL",
        username_attributes=("email",),
        auto_verified_attributes=("email",),
        advanced_security_mode="OFF",
        deletion_protection="INACTIVE",
    )
    return Desired(key, replace(props, **changes), name, workspace.tags("api", key, name))


def server_desired(workspace: Workspace, scopes: tuple[str, ...] = ("usage.read",)) -> Desired[ResourceServerProps]:
    props = ResourceServerProps(
        user_pool_id=Ref(POOL, "id"),
        identifier=IDENTIFIER,
        name="Cutlass API",
        scopes=tuple(ResourceServerScope(name=s, description=f"Allows {s}") for s in scopes),
    )
    return Desired(SERVER, props, IDENTIFIER, workspace.tags("api", SERVER, "api"))


def client_desired(
    workspace: Workspace, *, key: str = CLIENT, name: str = "web", **changes: Any
) -> Desired[UserPoolClientProps]:
    props = UserPoolClientProps(
        user_pool_id=Ref(POOL, "id"),
        client_name=name,
        generate_secret=False,
        explicit_auth_flows=("ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"),
        allowed_oauth_flows=("code",),
        allowed_oauth_scopes=("openid", "email", f"{IDENTIFIER}/usage.read"),
        allowed_oauth_flows_user_pool_client=True,
        callback_urls=("https://app-dev.example.com/callback",),
        logout_urls=("https://app-dev.example.com/",),
        supported_identity_providers=("COGNITO",),
        prevent_user_existence_errors="ENABLED",
        access_token_validity_minutes=60,
        id_token_validity_minutes=60,
        refresh_token_validity_days=30,
    )
    return Desired(key, replace(props, **changes), name, workspace.tags("api", key, name), frozenset({SERVER}))


def domain_name(account_id: str) -> str:
    return f"cutlass-tech-dev-london-{account_id}"


def domain_desired(workspace: Workspace, account_id: str) -> Desired[UserPoolDomainProps]:
    name = domain_name(account_id)
    props = UserPoolDomainProps(user_pool_id=Ref(POOL, "id"), domain=name)
    return Desired(DOMAIN, props, name, workspace.tags("api", DOMAIN, name))


def stack(workspace: Workspace, account_id: str) -> list[Desired[Any]]:
    return [
        pool_desired(workspace),
        server_desired(workspace),
        client_desired(workspace),
        domain_desired(workspace, account_id),
    ]


def kinds() -> dict[str, ResourceKind[Any]]:
    return {
        "cognito.user_pool": UserPoolKind(POOL_NAME, wait=FAST),
        "cognito.user_pool_client": UserPoolClientKind(POOL_NAME, SCOPE),
        "cognito.resource_server": ResourceServerKind(POOL_NAME, SCOPE),
        "cognito.user_pool_domain": UserPoolDomainKind(wait=FAST),
    }


def pool_kinds() -> dict[str, ResourceKind[Any]]:
    """The pool kind alone, for the tests of pools (every registered kind is observed)."""
    return {"cognito.user_pool": UserPoolKind(POOL_NAME, wait=FAST)}


def converged(
    ctx: KindContext,
    desired: list[Desired[Any]],
    registered: Mapping[str, ResourceKind[Any]] | None = None,
    **options: Any,
) -> Outcome:
    outcome = reconcile(registered or kinds(), desired, ctx, scope=SCOPE, **options)
    assert outcome.result is not None
    assert outcome.result.ok, {key: err.message for key, err in outcome.result.errors.items()}
    return outcome


def pools(cognito: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = cognito.list_user_pools(MaxResults=60)["UserPools"]
    return found


def describe(cognito: Any, pool_id: str) -> dict[str, Any]:
    pool: dict[str, Any] = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    return pool


def clients_of(cognito: Any, pool_id: str) -> dict[str, dict[str, Any]]:
    listed = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    return {
        c["ClientId"]: cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=c["ClientId"])["UserPoolClient"]
        for c in listed
    }


def servers_of(cognito: Any, pool_id: str) -> dict[str, dict[str, Any]]:
    listed = cognito.list_resource_servers(UserPoolId=pool_id, MaxResults=50)["ResourceServers"]
    return {s["Identifier"]: s for s in listed}


# -- user pools ---------------------------------------------------------------------------------------


class TestUserPool:
    def test_a_pool_is_created_as_specified_tagged_and_described_by_its_outputs(
        self, ctx: KindContext, workspace: Workspace, cognito: Any, account_id: str
    ) -> None:
        desired = [pool_desired(workspace)]

        outcome = converged(ctx, desired, pool_kinds())

        assert actions(outcome) == {POOL: Action.CREATE}
        [listed] = pools(cognito)
        pool = describe(cognito, listed["Id"])
        assert pool["Name"] == POOL_NAME
        assert pool["Policies"]["PasswordPolicy"] == {
            "MinimumLength": 12,
            "RequireUppercase": True,
            "RequireLowercase": True,
            "RequireNumbers": True,
            "RequireSymbols": False,
            "TemporaryPasswordValidityDays": 3,
        }
        assert pool["UsernameAttributes"] == ["email"]
        assert pool["AutoVerifiedAttributes"] == ["email"]
        assert pool["UserPoolAddOns"] == {"AdvancedSecurityMode": "OFF"}
        assert pool["DeletionProtection"] == "INACTIVE"
        assert pool["MfaConfiguration"] == "OPTIONAL"
        mfa = cognito.get_user_pool_mfa_config(UserPoolId=pool["Id"])
        assert mfa["SoftwareTokenMfaConfiguration"] == {"Enabled": True}
        assert pool["UserPoolTags"] == dict(desired[0].tags)
        issuer = f"https://cognito-idp.{REGION}.amazonaws.com/{pool['Id']}"
        assert outputs(outcome, POOL) == {
            "id": pool["Id"],
            "arn": f"arn:aws:cognito-idp:{REGION}:{account_id}:userpool/{pool['Id']}",
            "name": POOL_NAME,
            "issuer": issuer,
            "jwksUrl": f"{issuer}/.well-known/jwks.json",
            "providerName": f"cognito-idp.{REGION}.amazonaws.com/{pool['Id']}",
        }

    def test_a_second_reconcile_reads_twice_and_writes_nothing(
        self, ctx: KindContext, workspace: Workspace, calls: CallLog
    ) -> None:
        desired = [pool_desired(workspace)]
        converged(ctx, desired, pool_kinds())
        calls.reset()

        outcome = converged(ctx, desired, pool_kinds())

        assert outcome.plan.empty
        assert calls.mutating() == {}
        print(f"cognito.user_pool no-op reconcile of 1 pool: {dict(calls.calls)}")
        assert dict(calls.calls) == {"cognito-idp:ListUserPools": 1, "cognito-idp:DescribeUserPool": 1}

    def test_a_password_policy_changed_out_of_band_is_restored_keeping_settings_the_spec_does_not_own(
        self, ctx: KindContext, workspace: Workspace, cognito: Any, calls: CallLog
    ) -> None:
        desired = [pool_desired(workspace)]
        pool_id = outputs(converged(ctx, desired, pool_kinds()), POOL)["id"]
        # Someone changes the policy and, in the same call, a setting the spec does not manage.
        cognito.update_user_pool(
            UserPoolId=pool_id,
            Policies={"PasswordPolicy": {"MinimumLength": 6, "RequireSymbols": False}},
            AutoVerifiedAttributes=["email"],
            MfaConfiguration="OPTIONAL",
            AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
            UserPoolTags=dict(desired[0].tags),
        )
        calls.reset()

        outcome = converged(ctx, desired, pool_kinds())

        assert diff_paths(outcome, POOL) == {"passwordPolicy"}
        assert calls.mutating() == {"cognito-idp:UpdateUserPool": 1}
        pool = describe(cognito, pool_id)
        assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
        assert pool["Policies"]["PasswordPolicy"]["RequireUppercase"] is True
        assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
        assert pool["UserPoolTags"] == dict(desired[0].tags)
        assert pool["MfaConfiguration"] == "OPTIONAL"
        assert converged(ctx, desired, pool_kinds()).plan.empty

    def test_mfa_switched_off_and_a_tag_removed_are_repaired_without_rewriting_the_pool(
        self, ctx: KindContext, workspace: Workspace, cognito: Any, calls: CallLog
    ) -> None:
        desired = [pool_desired(workspace)]
        created = outputs(converged(ctx, desired, pool_kinds()), POOL)
        cognito.set_user_pool_mfa_config(UserPoolId=created["id"], MfaConfiguration="OFF")
        cognito.untag_resource(ResourceArn=created["arn"], TagKeys=["Environment"])
        calls.reset()

        outcome = converged(ctx, desired, pool_kinds())

        assert diff_paths(outcome, POOL) == {"mfaConfiguration", "tags.Environment"}
        assert calls.mutating() == {"cognito-idp:SetUserPoolMfaConfig": 1, "cognito-idp:TagResource": 1}
        mfa = cognito.get_user_pool_mfa_config(UserPoolId=created["id"])
        assert (mfa["MfaConfiguration"], mfa["SoftwareTokenMfaConfiguration"]) == ("OPTIONAL", {"Enabled": True})
        assert describe(cognito, created["id"])["UserPoolTags"]["Environment"] == "dev"
        assert converged(ctx, desired, pool_kinds()).plan.empty

    def test_deletion_protection_stops_a_delete_until_the_spec_turns_it_off(
        self, ctx: KindContext, workspace: Workspace, cognito: Any
    ) -> None:
        protected = [pool_desired(workspace, deletion_protection="ACTIVE")]
        pool_id = outputs(converged(ctx, protected, pool_kinds()), POOL)["id"]

        outcome = reconcile(pool_kinds(), protected, ctx, scope=SCOPE, destroy=True)

        assert outcome.result is not None
        error = outcome.result.errors[POOL]
        assert isinstance(error, TerminalError)
        assert error.reason == "DeletionProtected"
        assert "set deletionProtection INACTIVE" in error.message
        assert describe(cognito, pool_id)["DeletionProtection"] == "ACTIVE"

        unprotected = [pool_desired(workspace, deletion_protection="INACTIVE")]
        assert diff_paths(converged(ctx, unprotected, pool_kinds()), POOL) == {"deletionProtection"}
        converged(ctx, unprotected, pool_kinds(), destroy=True)

        assert pools(cognito) == []

    def test_a_pool_with_a_domain_is_deleted_after_its_domain(
        self, ctx: KindContext, workspace: Workspace, cognito: Any, account_id: str
    ) -> None:
        desired = [pool_desired(workspace)]
        pool_id = outputs(converged(ctx, desired, pool_kinds()), POOL)["id"]
        cognito.create_user_pool_domain(Domain=domain_name(account_id), UserPoolId=pool_id)

        converged(ctx, desired, pool_kinds(), destroy=True)

        assert pools(cognito) == []
        assert cognito.describe_user_pool_domain(Domain=domain_name(account_id))["DomainDescription"] == {}

    def test_an_orphan_pool_is_deleted_and_a_pool_of_another_owner_is_left_alone(
        self, ctx: KindContext, workspace: Workspace, cognito: Any
    ) -> None:
        old = pool_desired(workspace, key="api/old-pool")
        cognito.create_user_pool(PoolName=POOL_NAME, UserPoolTags=dict(old.tags))
        foreign = cognito.create_user_pool(PoolName=POOL_NAME, UserPoolTags={"Owner": "someone"})["UserPool"]["Id"]

        outcome = converged(ctx, [pool_desired(workspace)], pool_kinds())

        assert actions(outcome) == {POOL: Action.CREATE, "api/old-pool": Action.DELETE}
        remaining = {p["Id"] for p in pools(cognito)}
        assert foreign in remaining
        assert len(remaining) == 2

    def test_a_duplicate_left_by_a_crash_is_deleted_and_the_older_pool_kept(
        self, ctx: KindContext, workspace: Workspace, cognito: Any
    ) -> None:
        desired = [pool_desired(workspace)]
        original = outputs(converged(ctx, desired, pool_kinds()), POOL)["id"]
        time.sleep(0.01)  # moto's creation dates have millisecond resolution
        cognito.create_user_pool(PoolName=POOL_NAME, UserPoolTags=dict(desired[0].tags))

        outcome = converged(ctx, desired, pool_kinds())

        assert [c.why for c in outcome.plan.changes if c.action == Action.DELETE] == ["duplicate"]
        assert [p["Id"] for p in pools(cognito)] == [original]

    def test_retain_leaves_the_pool_untagged_as_the_operators(
        self, ctx: KindContext, workspace: Workspace, cognito: Any
    ) -> None:
        desired = [pool_desired(workspace)]
        pool_id = outputs(converged(ctx, desired, pool_kinds()), POOL)["id"]

        outcome = converged(ctx, desired, pool_kinds(), destroy=True, retain=True)

        assert actions(outcome) == {POOL: Action.RETAIN}
        tags = describe(cognito, pool_id)["UserPoolTags"]
        assert tags[RETAINED] == "true"
        assert not set(IDENTITY_TAGS) & set(tags)
        assert UserPoolKind(POOL_NAME).observe_many(ctx, desired) == []

    def test_username_attributes_cannot_change_in_place(self, ctx: KindContext, workspace: Workspace) -> None:
        converged(ctx, [pool_desired(workspace)], pool_kinds())

        with pytest.raises(TerminalError) as caught:
            reconcile(pool_kinds(), [pool_desired(workspace, username_attributes=("phone_number",))], ctx, scope=SCOPE)

        assert caught.value.reason == "ImmutableFieldChanged"

    def test_a_pool_outside_the_prefix_is_a_layer_bug(self, ctx: KindContext, workspace: Workspace) -> None:
        with pytest.raises(ValueError, match="outside"):
            UserPoolKind(POOL_NAME).observe_many(ctx, [pool_desired(workspace, name="cutlass-tech-other")])


# -- clients, resource servers, domains ----------------------------------------------------------------


class TestPoolContents:
    def test_the_whole_stack_is_created_in_one_reconcile(
        self, ctx: KindContext, workspace: Workspace, cognito: Any, account_id: str
    ) -> None:
        outcome = converged(ctx, stack(workspace, account_id))

        assert set(actions(outcome).values()) == {Action.CREATE}
        pool_id = outputs(outcome, POOL)["id"]
        [(client_id, client)] = clients_of(cognito, pool_id).items()
        assert client["ClientName"] == "web"
        assert "ClientSecret" not in client
        assert client["ExplicitAuthFlows"] == ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
        assert client["AllowedOAuthFlows"] == ["code"]
        assert client["AllowedOAuthScopes"] == ["openid", "email", f"{IDENTIFIER}/usage.read"]
        assert client["AllowedOAuthFlowsUserPoolClient"] is True
        assert client["CallbackURLs"] == ["https://app-dev.example.com/callback"]
        assert client["SupportedIdentityProviders"] == ["COGNITO"]
        assert client["PreventUserExistenceErrors"] == "ENABLED"
        assert (client["AccessTokenValidity"], client["IdTokenValidity"], client["RefreshTokenValidity"]) == (
            60,
            60,
            30,
        )
        assert client["TokenValidityUnits"] == {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"}
        assert outputs(outcome, CLIENT) == {"id": client_id, "name": "web"}
        server = servers_of(cognito, pool_id)[IDENTIFIER]
        assert server["Name"] == "Cutlass API"
        assert server["Scopes"] == [{"ScopeName": "usage.read", "ScopeDescription": "Allows usage.read"}]
        assert outputs(outcome, SERVER) == {
            "id": f"{pool_id}/{IDENTIFIER}",
            "identifier": IDENTIFIER,
            "scopes": [f"{IDENTIFIER}/usage.read"],
        }
        domain = cognito.describe_user_pool_domain(Domain=domain_name(account_id))["DomainDescription"]
        assert (domain["UserPoolId"], domain["Status"]) == (pool_id, "ACTIVE")
        assert outputs(outcome, DOMAIN) == {
            "id": domain_name(account_id),
            "domain": domain_name(account_id),
            "hostedUiUrl": f"https://{domain_name(account_id)}.auth.{REGION}.amazoncognito.com",
            "status": "ACTIVE",
        }

    def test_a_second_reconcile_of_the_stack_writes_nothing(
        self, ctx: KindContext, workspace: Workspace, account_id: str, calls: CallLog
    ) -> None:
        desired = stack(workspace, account_id)
        converged(ctx, desired)
        calls.reset()

        outcome = converged(ctx, desired)

        assert outcome.plan.empty
        assert calls.mutating() == {}
        print(f"cognito no-op reconcile of pool, resource server, client and domain: {dict(calls.calls)}")
        assert dict(calls.calls) == {
            # The pool kind, and the client and resource server kinds finding the pool their Ref names.
            "cognito-idp:ListUserPools": 3,
            # The same three, plus the domain kind asking the domain's pool whether it is the Ref's.
            "cognito-idp:DescribeUserPool": 4,
            "cognito-idp:ListUserPoolClients": 1,
            "cognito-idp:DescribeUserPoolClient": 1,
            "cognito-idp:ListResourceServers": 1,
            "cognito-idp:DescribeUserPoolDomain": 1,
        }

    def test_client_scopes_changed_out_of_band_are_restored_keeping_other_settings(
        self, ctx: KindContext, workspace: Workspace, account_id: str, cognito: Any, calls: CallLog
    ) -> None:
        desired = stack(workspace, account_id)
        outcome = converged(ctx, desired)
        pool_id, client_id = outputs(outcome, POOL)["id"], outputs(outcome, CLIENT)["id"]
        cognito.update_user_pool_client(
            UserPoolId=pool_id, ClientId=client_id, AllowedOAuthScopes=["openid"], ReadAttributes=["email"]
        )
        calls.reset()

        outcome = converged(ctx, desired)

        assert diff_paths(outcome, CLIENT) == {"allowedOAuthScopes"}
        assert calls.mutating() == {"cognito-idp:UpdateUserPoolClient": 1}
        client = clients_of(cognito, pool_id)[client_id]
        assert client["AllowedOAuthScopes"] == ["openid", "email", f"{IDENTIFIER}/usage.read"]
        assert client["ReadAttributes"] == ["email"]
        assert converged(ctx, desired).plan.empty

    def test_a_new_scope_reaches_the_resource_server_before_the_client_that_asks_for_it(
        self, ctx: KindContext, workspace: Workspace, account_id: str, cognito: Any, calls: CallLog
    ) -> None:
        converged(ctx, stack(workspace, account_id))
        scopes = ["openid", "email", f"{IDENTIFIER}/usage.read", f"{IDENTIFIER}/usage.write"]
        desired = [
            pool_desired(workspace),
            server_desired(workspace, ("usage.read", "usage.write")),
            client_desired(workspace, allowed_oauth_scopes=tuple(scopes)),
            domain_desired(workspace, account_id),
        ]
        calls.reset()

        outcome = converged(ctx, desired)

        assert diff_paths(outcome, SERVER) == {"scopes"}
        assert diff_paths(outcome, CLIENT) == {"allowedOAuthScopes"}
        assert calls.mutating() == {"cognito-idp:UpdateResourceServer": 1, "cognito-idp:UpdateUserPoolClient": 1}
        pool_id = outputs(outcome, POOL)["id"]
        assert [s["ScopeName"] for s in servers_of(cognito, pool_id)[IDENTIFIER]["Scopes"]] == [
            "usage.read",
            "usage.write",
        ]
        assert clients_of(cognito, pool_id)[outputs(outcome, CLIENT)["id"]]["AllowedOAuthScopes"] == scopes
        assert outputs(outcome, SERVER)["scopes"] == [f"{IDENTIFIER}/usage.read", f"{IDENTIFIER}/usage.write"]
        assert converged(ctx, desired).plan.empty

    def test_clients_and_resource_servers_no_entry_wants_are_deleted(
        self, ctx: KindContext, workspace: Workspace, account_id: str, cognito: Any
    ) -> None:
        desired = stack(workspace, account_id)
        outcome = converged(ctx, desired)
        pool_id, client_id = outputs(outcome, POOL)["id"], outputs(outcome, CLIENT)["id"]
        cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="legacy")
        cognito.create_resource_server(UserPoolId=pool_id, Identifier="old-api", Name="old")

        outcome = converged(ctx, desired)

        assert actions(outcome) == {
            POOL: Action.NOOP,
            SERVER: Action.NOOP,
            CLIENT: Action.NOOP,
            DOMAIN: Action.NOOP,
            f"{SCOPE}(untracked {pool_id}/legacy)": Action.DELETE,
            f"{SCOPE}(untracked {pool_id}/old-api)": Action.DELETE,
        }
        assert list(clients_of(cognito, pool_id)) == [client_id]
        assert list(servers_of(cognito, pool_id)) == [IDENTIFIER]

    def test_a_duplicate_client_left_by_a_crash_converges_to_one(
        self, ctx: KindContext, workspace: Workspace, account_id: str, cognito: Any
    ) -> None:
        desired = stack(workspace, account_id)
        pool_id = outputs(converged(ctx, desired), POOL)["id"]
        # What a crash between CreateUserPoolClient and the record of its result leaves behind.
        cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="web")

        outcome = converged(ctx, desired)

        # On AWS the older client (CreationDate) is kept; moto reports no CreationDate for clients, so
        # here the kept one is the lower client id, brought to the spec if it is the bare duplicate.
        assert [(c.key, c.why) for c in outcome.plan.changes if c.action == Action.DELETE] == [(CLIENT, "duplicate")]
        [client] = clients_of(cognito, pool_id).values()
        assert (client["ClientName"], client["ExplicitAuthFlows"]) == (
            "web",
            desired[2].properties["explicitAuthFlows"],
        )
        assert converged(ctx, desired).plan.empty

    def test_a_client_secret_is_never_an_output_nor_kept(
        self, ctx: KindContext, workspace: Workspace, account_id: str, cognito: Any
    ) -> None:
        machine = client_desired(
            workspace,
            key=MACHINE,
            name="machine",
            generate_secret=True,
            explicit_auth_flows=("ALLOW_REFRESH_TOKEN_AUTH",),
            allowed_oauth_flows=("client_credentials",),
            allowed_oauth_scopes=(f"{IDENTIFIER}/usage.read",),
            callback_urls=(),
            logout_urls=(),
        )
        desired = [*stack(workspace, account_id), machine]

        outcome = converged(ctx, desired)

        assert outcome.result is not None
        observed = outcome.result.observed[MACHINE]
        secret = cognito.describe_user_pool_client(UserPoolId=outputs(outcome, POOL)["id"], ClientId=observed.id)[
            "UserPoolClient"
        ]["ClientSecret"]
        assert observed.outputs == {"id": observed.id, "name": "machine"}
        assert observed.properties["generateSecret"] is True
        assert secret not in repr(observed)
        client_kind = UserPoolClientKind(POOL_NAME, SCOPE)
        again = {o.key: o for o in client_kind.observe_many(ctx, [d for d in desired if d.kind == client_kind.kind])}
        assert secret not in repr(again[MACHINE])
        assert converged(ctx, desired).plan.empty

    def test_a_reference_to_the_pool_needs_the_pool_prefix(self, ctx: KindContext, workspace: Workspace) -> None:
        with pytest.raises(ValueError, match="name_prefix"):
            UserPoolClientKind(orphan_scope=SCOPE).observe_many(ctx, [client_desired(workspace)])

    def test_a_literal_pool_id_needs_no_pool_listing(
        self, ctx: KindContext, workspace: Workspace, account_id: str, calls: CallLog
    ) -> None:
        pool_id = outputs(converged(ctx, stack(workspace, account_id)), POOL)["id"]
        literal = client_desired(workspace, user_pool_id=pool_id)
        calls.reset()

        found = UserPoolClientKind(orphan_scope=SCOPE).observe_many(ctx, [literal])

        assert [o.key for o in found] == [CLIENT]
        assert UserPoolClientKind(orphan_scope=SCOPE).compare(literal, found[0]) == []
        assert dict(calls.calls) == {"cognito-idp:ListUserPoolClients": 1, "cognito-idp:DescribeUserPoolClient": 1}

    def test_a_domain_held_by_another_pool_is_a_terminal_name_taken(
        self, ctx: KindContext, workspace: Workspace, account_id: str, cognito: Any
    ) -> None:
        other = cognito.create_user_pool(PoolName="someone-elses-pool")["UserPool"]["Id"]
        cognito.create_user_pool_domain(Domain=domain_name(account_id), UserPoolId=other)

        outcome = reconcile(kinds(), stack(workspace, account_id), ctx, scope=SCOPE)

        assert outcome.result is not None
        error = outcome.result.errors[DOMAIN]
        assert isinstance(error, TerminalError)
        assert error.reason == "NameTaken"
        assert f"user pool {other}" in error.message
        domain = cognito.describe_user_pool_domain(Domain=domain_name(account_id))["DomainDescription"]
        assert domain["UserPoolId"] == other

    def test_destroy_removes_the_stack_contents_before_the_pool(
        self, ctx: KindContext, workspace: Workspace, account_id: str, cognito: Any, calls: CallLog
    ) -> None:
        desired = stack(workspace, account_id)
        converged(ctx, desired)
        calls.reset()

        outcome = converged(ctx, desired, destroy=True)

        assert set(actions(outcome).values()) == {Action.DELETE}
        assert calls.mutating() == {
            "cognito-idp:DeleteUserPoolClient": 1,
            "cognito-idp:DeleteResourceServer": 1,
            "cognito-idp:DeleteUserPoolDomain": 1,
            "cognito-idp:DeleteUserPool": 1,
        }
        assert pools(cognito) == []
        assert cognito.describe_user_pool_domain(Domain=domain_name(account_id))["DomainDescription"] == {}


# -- the proof: tokens a client of the kinds gets verify against the pool's keys and issuer ------------


def emulator_url(url: str, endpoint: str) -> str:
    """The emulator serves the pool's well-known documents under its own endpoint, not the issuer's host."""
    return f"{endpoint}/{url.split('.amazonaws.com/', 1)[1]}"


class TestTokens:
    PASSWORD = "Correct-Horse-Battery-9"
    USER = "ada@example.com"

    def signed_in(
        self, ctx: KindContext, workspace: Workspace, cognito: Any, *attributes: dict[str, str]
    ) -> tuple[dict[str, Any], str, dict[str, Any]]:
        """A pool with a password-login client, a user of it, and the user's tokens after signing in:
        the pool's outputs, the client id and the authentication result."""
        login = client_desired(
            workspace,
            allowed_oauth_flows=(),
            allowed_oauth_scopes=(),
            allowed_oauth_flows_user_pool_client=False,
            callback_urls=(),
            logout_urls=(),
        )
        outcome = converged(ctx, [pool_desired(workspace), server_desired(workspace), login])
        pool, client_id = outputs(outcome, POOL), outputs(outcome, CLIENT)["id"]
        cognito.admin_create_user(
            UserPoolId=pool["id"],
            Username=self.USER,
            UserAttributes=[{"Name": "email", "Value": self.USER}, *attributes],
            MessageAction="SUPPRESS",
        )
        cognito.admin_set_user_password(
            UserPoolId=pool["id"], Username=self.USER, Password=self.PASSWORD, Permanent=True
        )
        signed_in: dict[str, Any] = cognito.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": self.USER, "PASSWORD": self.PASSWORD},
        )["AuthenticationResult"]
        return pool, client_id, signed_in

    def test_a_user_of_the_pool_signs_in_and_its_tokens_verify(
        self, ctx: KindContext, workspace: Workspace, cognito: Any, moto_endpoint: str
    ) -> None:
        verified = {"Name": "email_verified", "Value": "true"}
        pool, client_id, signed_in = self.signed_in(ctx, workspace, cognito, verified)

        jwks = fetch_jwks(emulator_url(pool["jwksUrl"], moto_endpoint))
        with urllib.request.urlopen(
            emulator_url(f"{pool['issuer']}/.well-known/openid-configuration", moto_endpoint)
        ) as r:
            assert json.loads(r.read())["issuer"] == pool["issuer"]
        id_claims = verify_cognito_token(
            signed_in["IdToken"], jwks, issuer=pool["issuer"], client_id=client_id, token_use="id"
        )
        access_claims = verify_cognito_token(
            signed_in["AccessToken"], jwks, issuer=pool["issuer"], client_id=client_id, token_use="access"
        )
        assert id_claims["iss"] == pool["issuer"] == f"https://cognito-idp.{REGION}.amazonaws.com/{pool['id']}"
        assert id_claims["aud"] == client_id
        assert id_claims["email"] == self.USER
        assert access_claims["client_id"] == client_id
        assert "aud" not in access_claims
        assert id_claims["sub"] == access_claims["sub"]
        now = time.time()
        for claims in (id_claims, access_claims):
            assert claims["iat"] <= now + 5
            assert claims["exp"] - claims["iat"] == signed_in["ExpiresIn"] == 3600

    def test_tokens_that_are_not_the_pools_are_refused(
        self, ctx: KindContext, workspace: Workspace, cognito: Any, moto_endpoint: str
    ) -> None:
        pool, client_id, signed_in = self.signed_in(ctx, workspace, cognito)
        token = signed_in["IdToken"]
        jwks = fetch_jwks(emulator_url(pool["jwksUrl"], moto_endpoint))
        header, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        forged = (
            base64.urlsafe_b64encode(json.dumps({**claims, "email": "eve@example.com"}).encode()).decode().rstrip("=")
        )
        expected = {"issuer": pool["issuer"], "client_id": client_id, "token_use": "id"}

        refusals = {
            "tampered": lambda: verify_cognito_token(f"{header}.{forged}.{signature}", jwks, **expected),
            "other issuer": lambda: verify_cognito_token(token, jwks, **{**expected, "issuer": pool["issuer"] + "x"}),
            "other client": lambda: verify_cognito_token(token, jwks, **{**expected, "client_id": "someone-else"}),
            "wrong use": lambda: verify_cognito_token(token, jwks, **{**expected, "token_use": "access"}),
            "expired": lambda: verify_cognito_token(token, jwks, **expected, now=claims["exp"] + 1),
            "unknown key": lambda: verify_cognito_token(token, {"keys": []}, **expected),
        }
        for case, attempt in refusals.items():
            with pytest.raises(InvalidTokenError):
                attempt()
                pytest.fail(case)
        assert verify_cognito_token(token, jwks, **expected)["email"] == self.USER
