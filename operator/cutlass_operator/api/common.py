"""Pieces shared by both kinds: the camelCase model base, metadata, conditions and the status shape.

Status follows the shape users know from ACK and Crossplane: a list of typed conditions, the
generation the status describes, a one-word phase, the outputs a user needs and the last plan.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

GROUP: Final = "cutlass.tech"
VERSION: Final = "v1alpha1"
# Spelled out rather than formatted from the two above, so type checkers see the literal that the
# kinds' `apiVersion: Literal[...]` fields require.
API_VERSION: Final = "cutlass.tech/v1alpha1"

AWS_REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
NAME_PATTERN = r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$"


# Tags as the strictest service the operator tags accepts them (Cognito, API Gateway, Lambda and
# DynamoDB share these rules; EC2 alone is laxer): keys of 1-128 and values of up to 256 letters,
# digits, separators and `_.:/=+-@`, no key under AWS's reserved `aws:`, and 50 on a resource.
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
TAG_PUNCTUATION = "_.:/=+-@"
# The operator's own tags: a user's tag of one of these names would be overwritten, or change identity.
OWN_TAG_KEYS = ("Name", "Environment", "Region", "Workspace", "Account")
OWN_TAG_PREFIX = "cutlass.tech/"
MAX_USER_TAGS = 40  # AWS takes 50 tags on a resource, and the operator puts 10 of its own


def _tag_text_ok(text: str) -> bool:
    return all(c in TAG_PUNCTUATION or unicodedata.category(c)[0] in "LNZ" for c in text)


def _aws_tags(tags: dict[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        if not 1 <= len(key) <= TAG_KEY_MAX or not _tag_text_ok(key):
            raise ValueError(
                f"tag key {key!r}: AWS takes 1 to {TAG_KEY_MAX} letters, digits, spaces and {TAG_PUNCTUATION}"
            )
        if key.lower().startswith("aws:"):
            raise ValueError(f"tag key {key!r}: the aws: prefix is reserved for AWS's own tags")
        if key in OWN_TAG_KEYS or key.startswith(OWN_TAG_PREFIX):
            raise ValueError(
                f"tag key {key!r} is one the operator sets itself ({', '.join(OWN_TAG_KEYS)}, {OWN_TAG_PREFIX}*)"
            )
        if len(value) > TAG_VALUE_MAX or not _tag_text_ok(value):
            raise ValueError(
                f"tag {key!r}: AWS takes values of up to {TAG_VALUE_MAX} letters, digits, spaces and {TAG_PUNCTUATION}"
            )
    return tags


UserTags = Annotated[
    dict[str, Annotated[str, Field(max_length=TAG_VALUE_MAX)]],
    Field(max_length=MAX_USER_TAGS),
    AfterValidator(_aws_tags),
]


class CamelModel(BaseModel):
    """Base for spec models: camelCase on the wire, unknown fields rejected (typos are errors)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class StatusModel(BaseModel):
    """Base for status models: camelCase, tolerant of fields written by newer operator versions."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ObjectMeta(BaseModel):
    """The part of Kubernetes metadata the operator reads."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=NAME_PATTERN)
    namespace: str = "default"
    generation: int = 1
    labels: dict[str, str] = Field(default_factory=dict)


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(StatusModel):
    """One observation of the resource's state, in the shape of metav1.Condition."""

    type: str = Field(description="Condition type, e.g. Ready, Synced, NetworkReady.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="One CamelCase word saying why, e.g. AccountMismatch.")
    message: str = Field(default="", description="What happened and, when it fails, what to fix.")
    last_transition_time: str | None = Field(default=None, description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this condition was computed for."
    )


class PlanSummary(StatusModel):
    """The plan the last reconcile computed, in the form `cutlass plan` prints it."""

    id: str | None = Field(
        default=None,
        description=(
            "Digest of the planned changes themselves (action, kind, key, changed fields and their values): the "
            "same changes always get the same id. Approve it with the annotation cutlass.tech/approve."
        ),
    )
    destructive: bool = Field(default=False, description="It deletes, replaces or retains something.")
    create: int = Field(default=0, description="Resources to create.")
    update: int = Field(default=0, description="Resources to change in place.")
    delete: int = Field(default=0, description="Resources to delete.")
    changes: list[str] = Field(
        default_factory=list, description="One line per change: action, kind, name and changed fields."
    )
    omitted: int = Field(default=0, description="Changes left out of `changes` to keep the status small.")
    generation: int | None = Field(default=None, description="The metadata.generation it was computed for.")
    computed_at: str | None = Field(default=None, description="When it was computed (RFC 3339).")


class ApprovalRecord(StatusModel):
    """An approved plan while it is being applied, possibly over several reconciles (a region
    waiting for its replicas between layers): its remaining changes need no second approval."""

    plan_id: str = Field(description="The approved plan's id.")
    inputs_digest: str = Field(description="Digest of the specs it was computed from: a spec edit voids it.")
    changes: list[str] = Field(default_factory=list, description="What it covers (digests of the changes).")
    complete: bool = Field(default=False, description="Fully applied: its id approves nothing more.")


class CommonStatus(StatusModel):
    phase: str | None = Field(
        default=None, description="Reconciling, Ready, Failed, WaitingForDependency, Deleting or Deleted."
    )
    observed_generation: int | None = Field(default=None, description="The metadata.generation the status describes.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Typed conditions, at most one per type.",
        # The metav1.Condition convention: keyed by type, so merges and kubectl treat it as a map.
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    outputs: dict[str, Any] = Field(
        default_factory=dict, description="Identifiers, ARNs and URLs of what the operator built."
    )
    plan: PlanSummary | None = Field(default=None, description="What the last reconcile planned.")
    approval: ApprovalRecord | None = Field(default=None, description="The approved plan being applied.")
    applied_digest: str | None = Field(
        default=None,
        description="Digest of the specs the last complete apply used: a resync of the same specs looks for drift.",
    )
    last_reconcile_time: str | None = Field(default=None, description="When the last reconcile finished.")
    last_handled_reconcile_at: str | None = Field(
        default=None, description="The last cutlass.tech/reconcile-requested-at value a reconcile handled."
    )

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    def is_true(self, type_: str) -> bool:
        cond = self.condition(type_)
        return cond is not None and cond.status == ConditionStatus.TRUE


def explain(exc: ValidationError) -> str:
    """One line per problem, each naming the field by its path in the manifest (camelCase)."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
