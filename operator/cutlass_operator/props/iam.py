"""IAM roles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cutlass_operator.engine.resource import Props

# A policy document as IAM takes it: the kind compares documents by meaning, not by spelling.
PolicyDocument = Mapping[str, object]


@dataclass(frozen=True)
class RoleProps(Props):
    """A role for an AWS service acting for the workspace, with its inline policies by name."""

    kind = "iam.role"

    path: str
    assume_role_policy_document: PolicyDocument
    description: str = ""
    inline_policies: Mapping[str, PolicyDocument] = field(default_factory=dict)
