"""SES (v1 API) sender identities and email templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cutlass_operator.engine.resource import Props


@dataclass(frozen=True)
class IdentityProps(Props):
    """`identity_kind` (`kind` in the flat form) must fit the identity: `email` for an address, `domain`."""

    kind = "ses.identity"

    identity: str
    identity_kind: Literal["email", "domain"] = field(metadata={"name": "kind"})


@dataclass(frozen=True)
class TemplateProps(Props):
    """A part that is None is one the template does not have. The name must start with the layer's
    template prefix: templates have no tags and are found by it."""

    kind = "ses.template"

    template_name: str
    subject: str | None = None
    html: str | None = None
    text: str | None = None
