"""IAM roles with inline policies, for AWS services acting on the workspace's behalf. The path
cannot change in place. Outputs: `id` and `name` (the role name), `arn`.

IAM is global per account, while a workspace is one region of it: role names carry the
environment and the region, and each kind instance owns one path, its `name_prefix`
(`/cutlass-tech/<workspace>/<family>/`, `engine.arns.role_path`). Observe reads twice whatever the
number of roles: ListRoles by that path (the roles of the family, orphans included, with their
trust policy and description) and GetAccountAuthorizationDetails for the account's roles (their
tags and inline policies, which ListRoles omits; 1000 roles a page), skipped when the family is
empty.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind, normalise
from cutlass_operator.props.iam import RoleProps
from cutlass_operator.resources.errors import aws_errors, error_code, tolerate_not_found
from cutlass_operator.resources.tags import from_aws, key_of, matches, tag_changes

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient
    from mypy_boto3_iam.type_defs import RoleTypeDef, TagTypeDef


def _document(value: Any) -> Any:
    # botocore decodes IAM's URL-encoded policy documents into dicts; emulators may not.
    return json.loads(value) if isinstance(value, str) else value


class RoleKind(ResourceKind[RoleProps]):
    props = RoleProps
    delete_rank = 50
    immutable = frozenset({"path"})

    def __init__(self, name_prefix: str = "", orphan_scope: str = "") -> None:
        if not name_prefix.startswith("/") or not name_prefix.endswith("/"):
            raise ValueError(f"a role kind needs the IAM path of its roles, not {name_prefix!r}")
        super().__init__(name_prefix, orphan_scope)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[RoleProps]]) -> list[Observed]:
        iam = _client(ctx)
        path = self.name_prefix
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind} {path}"):
            listed = {
                role["RoleName"]: role
                for page in iam.get_paginator("list_roles").paginate(PathPrefix=path)
                for role in page["Roles"]
                if role.get("Path") == path  # a deeper path belongs to another family
            }
            if not listed:
                return found
            pages = iam.get_paginator("get_account_authorization_details").paginate(
                Filter=["Role"], PaginationConfig={"PageSize": 1000}
            )
            for page in pages:
                for detail in page.get("RoleDetailList", []):
                    role = listed.get(detail.get("RoleName", ""))
                    tags = from_aws(detail.get("Tags"))
                    if role is None or not matches(tags, ctx.selector):
                        continue
                    policies = {
                        p["PolicyName"]: _document(p["PolicyDocument"]) for p in detail.get("RolePolicyList", [])
                    }
                    found.append(self._observed(key_of(tags, role["RoleName"]), role, tags, policies))
        return found

    def create(self, ctx: KindContext, desired: Desired[RoleProps]) -> Observed:
        iam = _client(ctx)
        props = desired.properties
        what = f"create {self.kind} {desired.name}"
        with aws_errors(what):
            try:
                role = iam.create_role(
                    RoleName=desired.name,
                    Path=props["path"],
                    AssumeRolePolicyDocument=json.dumps(props["assumeRolePolicyDocument"]),
                    Description=props.get("description", ""),
                    Tags=_iam_tags(desired.tags),
                )["Role"]
                tags = dict(desired.tags)
            except ClientError as exc:
                if error_code(exc) != "EntityAlreadyExists":
                    raise
                # ListRoles is eventually consistent: a role created moments ago may not be listed
                # yet. Take it over only if it carries this workspace's tags.
                role = iam.get_role(RoleName=desired.name)["Role"]
                tags = from_aws(role.get("Tags"))
                if not matches(tags, ctx.selector):
                    raise TerminalError(
                        "NameTaken",
                        f"{what}: a role named {desired.name} exists in the account and is not managed "
                        "by this workspace; delete or rename it",
                    ) from exc
        observed = self._observed(desired.key, role, tags, {})
        return self.update(ctx, desired, observed, self.compare(desired, observed))

    def update(
        self, ctx: KindContext, desired: Desired[RoleProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        iam = _client(ctx)
        name = observed.id
        props = desired.properties
        what = f"update {self.kind} {name}"
        with aws_errors(what):
            trust = props.get("assumeRolePolicyDocument")
            if trust is not None and _differs(trust, observed.properties.get("assumeRolePolicyDocument")):
                iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
                observed.properties["assumeRolePolicyDocument"] = trust
            description = props.get("description")
            if description is not None and description != observed.properties.get("description"):
                iam.update_role(RoleName=name, Description=description)
                observed.properties["description"] = description
            if "inlinePolicies" in props:
                observed.properties["inlinePolicies"] = _sync_inline_policies(
                    iam, name, props["inlinePolicies"], observed.properties.get("inlinePolicies", {})
                )
            changes = tag_changes(desired.tags, observed.tags)
            if changes.put:
                iam.tag_role(RoleName=name, Tags=_iam_tags(changes.put))
            if changes.remove:
                iam.untag_role(RoleName=name, TagKeys=changes.remove)
        observed.tags = changes.applied_to(observed.tags)
        observed.key = desired.key
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        iam = _client(ctx)
        name = observed.id
        with aws_errors(f"delete {self.kind} {name}"), tolerate_not_found():
            # IAM refuses to delete a role that still has policies.
            for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
                for policy in page["PolicyNames"]:
                    with tolerate_not_found():
                        iam.delete_role_policy(RoleName=name, PolicyName=policy)
            for attached_page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
                for attached in attached_page["AttachedPolicies"]:
                    with tolerate_not_found():
                        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
            iam.delete_role(RoleName=name)

    def _observed(self, key: str, role: RoleTypeDef, tags: dict[str, str], policies: dict[str, Any]) -> Observed:
        name = role["RoleName"]
        properties = {
            "path": role.get("Path"),
            "assumeRolePolicyDocument": _document(role.get("AssumeRolePolicyDocument")),
            "description": role.get("Description", ""),
            "inlinePolicies": policies,
        }
        return Observed(key, self.kind, name, properties, tags, {"id": name, "name": name, "arn": role["Arn"]})


def _sync_inline_policies(
    iam: IAMClient, role: str, wanted: Mapping[str, Any], have: Mapping[str, Any]
) -> dict[str, Any]:
    """Put the policies that differ and delete the ones not declared (observe reads them all)."""
    for name, document in sorted(wanted.items()):
        if name not in have or _differs(document, have[name]):
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    for name in sorted(set(have) - set(wanted)):
        with tolerate_not_found():
            iam.delete_role_policy(RoleName=role, PolicyName=name)
    return dict(wanted)


def _differs(want: Any, have: Any) -> bool:
    return bool(normalise(want) != normalise(have))


def _iam_tags(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def _client(ctx: KindContext) -> IAMClient:
    client: IAMClient = ctx.clients.client("iam")
    return client
