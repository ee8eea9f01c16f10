"""SES (v1 API) sender identities and email templates.

Neither an SES v1 identity nor a template carries tags, so both kinds identify their resources
by the deterministic names the desired entries give, never by a selector.

`ses.identity` (`IdentityProps`): both properties are immutable. Outputs: `id` (the identity)
and `verificationStatus` (`Pending`, `Success`, `Failed`, `TemporaryFailure`, `NotStarted`).
Create is VerifyEmailIdentity (AWS mails a link to the address) or VerifyDomainIdentity (AWS
returns a token to publish as a TXT record; the token is kept in the outputs as
`verificationToken`). Observe is ListIdentities (one page of up to 1000 per call) and, when any
desired identity exists, one GetIdentityVerificationAttributes for all of them: a no-op resync
reads 2 times. Orphans cannot be found: an identity removed from the spec stays in SES until
deleted by hand, because nothing marks it as this workspace's (another workspace or a person may
have verified the same address). Delete is DeleteIdentity, which succeeds for an identity that
does not exist. Retain leaves the identity as it is: there are no identity tags to remove.

`ses.template` (`TemplateProps`): `templateName` is immutable. Outputs: `id` and `name`. The
kind owns one family of names (its `name_prefix`, which must carry the workspace, e.g.
`cutlass-tech-alert-dev-london-`): observe lists the templates with ListTemplates, keeps those in
the family, and reads each with GetTemplate, so a no-op resync of N templates reads 1 + N times.
A template in the family that no desired entry names is reported as an orphan under
`orphan_scope` (the layer's key prefix), so the engine deletes it. Create is CreateTemplate,
update UpdateTemplate with all parts, delete DeleteTemplate; retain, as for identities, leaves
the template as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind, normalise
from cutlass_operator.props.ses import IdentityProps, TemplateProps
from cutlass_operator.resources.errors import aws_errors, error_code, is_not_found

if TYPE_CHECKING:
    from mypy_boto3_ses.client import SESClient
    from mypy_boto3_ses.type_defs import TemplateTypeDef

IDENTITY_KINDS = frozenset({"email", "domain"})
TEMPLATE_NOT_FOUND = frozenset({"TemplateDoesNotExist", "TemplateDoesNotExistException"})


def _compare_properties(
    desired: Desired[IdentityProps] | Desired[TemplateProps], observed: Observed
) -> list[FieldDiff]:
    """Properties only: SES v1 identities and templates have no tags to compare."""
    return [
        FieldDiff(name, observed.properties.get(name), want)
        for name, want in sorted(desired.properties.items())
        if normalise(observed.properties.get(name)) != normalise(want)
    ]


class IdentityKind(ResourceKind[IdentityProps]):
    props = IdentityProps
    delete_rank = 30
    immutable = frozenset({"identity", "kind"})

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[IdentityProps]]) -> list[Observed]:
        if not desired:
            return []  # orphans cannot be told apart from anyone else's identities
        ses = _client(ctx)
        wanted = {d.props.identity: d for d in desired}
        with aws_errors(f"observe {self.kind} in {ctx.region}"):
            existing: set[str] = set()
            for page in ses.get_paginator("list_identities").paginate(PaginationConfig={"PageSize": 1000}):
                existing.update(page.get("Identities", []))
            present = sorted(name for name in wanted if name in existing)
            if not present:
                return []
            attributes = ses.get_identity_verification_attributes(Identities=present).get("VerificationAttributes", {})
        found: list[Observed] = []
        for name in present:
            verification = attributes.get(name)
            found.append(
                self._observed(
                    wanted[name].key,
                    name,
                    verification["VerificationStatus"] if verification else "NotStarted",
                    verification.get("VerificationToken") if verification else None,
                )
            )
        return found

    def create(self, ctx: KindContext, desired: Desired[IdentityProps]) -> Observed:
        ses = _client(ctx)
        name, kind = desired.props.identity, desired.props.identity_kind
        what = f"create {self.kind} {name}"
        if kind not in IDENTITY_KINDS or kind != _kind_of(name):
            raise TerminalError("InvalidIdentity", f"{what}: kind {kind!r} does not fit {name!r} (email or domain)")
        token: str | None = None
        with aws_errors(what):
            if kind == "email":
                ses.verify_email_identity(EmailAddress=name)
            else:
                token = ses.verify_domain_identity(Domain=name).get("VerificationToken")
        return self._observed(desired.key, name, "Pending", token)

    def update(
        self, ctx: KindContext, desired: Desired[IdentityProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        # Both properties are immutable: the engine never asks for an in-place change.
        observed.key = desired.key
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        ses = _client(ctx)
        with aws_errors(f"delete {self.kind} {observed.id}"):
            ses.delete_identity(Identity=observed.id)

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        """Nothing marks an identity as managed, so there is nothing to remove: it stays as it is."""

    def compare(self, desired: Desired[IdentityProps], observed: Observed) -> list[FieldDiff]:
        return _compare_properties(desired, observed)

    def _observed(self, key: str, name: str, status: str, token: str | None) -> Observed:
        properties: dict[str, Any] = {"identity": name, "kind": _kind_of(name)}
        outputs: dict[str, Any] = {"id": name, "verificationStatus": status, "verificationToken": token}
        return Observed(key, self.kind, name, properties, {}, outputs)


def _kind_of(identity: str) -> str:
    return "email" if "@" in identity else "domain"


class TemplateKind(ResourceKind[TemplateProps]):
    props = TemplateProps
    delete_rank = 40
    immutable = frozenset({"templateName"})

    def __init__(self, name_prefix: str = "", orphan_scope: str = "") -> None:
        if not name_prefix:
            raise ValueError("a template kind needs a name prefix that carries its workspace: templates have no tags")
        super().__init__(name_prefix, orphan_scope)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[TemplateProps]]) -> list[Observed]:
        ses = _client(ctx)
        keys: dict[str, str] = {}
        for d in desired:
            name = d.props.template_name
            if not name.startswith(self.name_prefix):
                raise ValueError(f"{d.key}: template {name} is outside {self.name_prefix}")
            keys[name] = d.key
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind} {self.name_prefix}*"):
            names: list[str] = []
            for page in ses.get_paginator("list_templates").paginate(PaginationConfig={"PageSize": 100}):
                names += [
                    m["Name"]
                    for m in page.get("TemplatesMetadata", [])
                    if m.get("Name", "").startswith(self.name_prefix)
                ]
            for name in sorted(set(names)):
                template = _get_template(ses, name)  # None: deleted between the list and the read
                if template is not None:
                    key = keys.get(name) or f"{self.orphan_scope}(untracked {name})"
                    found.append(self._observed(key, template))
        return found

    def create(self, ctx: KindContext, desired: Desired[TemplateProps]) -> Observed:
        ses = _client(ctx)
        name = desired.props.template_name
        template = _template(name, desired)
        with aws_errors(f"create {self.kind} {name}"):
            try:
                ses.create_template(Template=template)
            except ClientError as exc:
                # A create whose result the list did not show yet: the name is ours by construction.
                if error_code(exc) not in {"AlreadyExists", "AlreadyExistsException"}:
                    raise
                ses.update_template(Template=template)
        return self._observed(desired.key, template)

    def update(
        self, ctx: KindContext, desired: Desired[TemplateProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        ses = _client(ctx)
        template = _template(observed.id, desired)
        with aws_errors(f"update {self.kind} {observed.id}"):
            ses.update_template(Template=template)
        return self._observed(desired.key, template)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        ses = _client(ctx)
        with aws_errors(f"delete {self.kind} {observed.id}"):
            try:
                ses.delete_template(TemplateName=observed.id)
            except ClientError as exc:
                if not (is_not_found(exc) or error_code(exc) in TEMPLATE_NOT_FOUND):
                    raise

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        """Nothing marks a template as managed, so there is nothing to remove: it stays as it is."""

    def compare(self, desired: Desired[TemplateProps], observed: Observed) -> list[FieldDiff]:
        return _compare_properties(desired, observed)

    def _observed(self, key: str, template: TemplateTypeDef) -> Observed:
        name = template["TemplateName"]
        properties: dict[str, Any] = {
            "templateName": name,
            "subject": template.get("SubjectPart"),
            "html": template.get("HtmlPart"),
            "text": template.get("TextPart"),
        }
        return Observed(key, self.kind, name, properties, {}, {"id": name, "name": name})


def _template(name: str, desired: Desired[TemplateProps]) -> TemplateTypeDef:
    props = desired.props
    template: TemplateTypeDef = {"TemplateName": name}
    if props.subject is not None:
        template["SubjectPart"] = props.subject
    if props.html is not None:
        template["HtmlPart"] = props.html
    if props.text is not None:
        template["TextPart"] = props.text
    return template


def _get_template(ses: SESClient, name: str) -> TemplateTypeDef | None:
    try:
        return ses.get_template(TemplateName=name)["Template"]
    except ClientError as exc:
        if is_not_found(exc) or error_code(exc) in TEMPLATE_NOT_FOUND:
            return None
        raise


def _client(ctx: KindContext) -> SESClient:
    client: SESClient = ctx.clients.client("ses", ctx.region)
    return client
