"""IAM's evaluation of identity policies, small enough to read in one sitting.

The tests prove the operator's policies (deploy/iam/) with it: every AWS request the operator makes
must be allowed, and every statement must be needed by one. It follows AWS's documented logic for
identity-based policies in one account, and only that:

- an explicit Deny in any statement wins; else any Allow whose Action, Resource and every Condition
  match the request allows it; else the request is implicitly denied;
- Action patterns are case-insensitive globs (`*`, `?`) over `service:Name`;
- Resource patterns are case-sensitive globs over the whole ARN: AWS documents that a `*` ending an
  ARN segment expands beyond the colons, so `table/cutlass-tech-*` covers
  `table/cutlass-tech-x/stream/...` and `function:cutlass-tech-*` a function's `:alias`; a request for
  an action that takes no resource names `*`, which only `"*"` in a policy matches;
- a Condition's operators are ANDed, so are the keys under one operator, and the values of one key
  are ORed (for negated operators: the key must match none of them). Key names are
  case-insensitive, values case-sensitive. A key absent from the request fails a positive operator
  and satisfies a negated one; `...IfExists` satisfies either; `ForAnyValue:` needs one of a
  multivalued key's values to match (none present: false), `ForAllValues:` all of them (none: true).

Anything else (NotAction, NotResource, Principal, policy variables, operators not listed in
OPERATORS) raises instead of being guessed at: the policies must not use what this cannot evaluate.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

# A condition key's value in a request: one string, or several for a multivalued key (aws:TagKeys).
ContextValue = str | tuple[str, ...]


class Decision(StrEnum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Request:
    """One authorisation AWS makes: an action on one resource, with the request's condition keys."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def key(self) -> tuple[str, str, tuple[tuple[str, ContextValue], ...]]:
        """Identity for de-duplication (the context is a dict, so the dataclass is not hashable)."""
        return (self.action, self.resource, tuple(sorted(self.context.items())))

    def __str__(self) -> str:
        context = f" {dict(self.context)}" if self.context else ""
        return f"{self.action} on {self.resource}{context}"


# --- matching -----------------------------------------------------------------------------------------------------


@functools.cache
def _glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM's wildcards: `*` any run of characters (none included), `?` exactly one; nothing else is special."""
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    flags = (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL
    return re.compile("".join(parts), flags)


def glob_matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def arn_matches(pattern: str, arn: str) -> bool:
    """ArnLike's and ArnEquals' rule: the six colon-separated segments are matched one by one."""
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return False
    return all(glob_matches(p, a) for p, a in zip(pattern_parts, arn_parts, strict=True))


def resource_matches(pattern: str, resource: str) -> bool:
    if pattern == "*":
        return True
    if resource == "*":  # an action that takes no resource: only Resource "*" grants it
        return False
    return glob_matches(pattern, resource)


def action_matches(pattern: str, action: str) -> bool:
    return glob_matches(pattern, action, ignore_case=True)


# --- conditions ---------------------------------------------------------------------------------------------------

Comparison = Callable[[str, str], bool]  # (value in the request, value in the policy) -> match


def _bool_equals(value: str, wanted: str) -> bool:
    return value.lower() == wanted.lower()


def _like(value: str, wanted: str) -> bool:
    return glob_matches(wanted, value)


def _arn_like(value: str, wanted: str) -> bool:
    return arn_matches(wanted, value)


# Base operator -> (comparison, negated). Extend only with a test in tests/unit/test_iam_eval.py.
OPERATORS: dict[str, tuple[Comparison, bool]] = {
    "StringEquals": (str.__eq__, False),
    "StringNotEquals": (str.__eq__, True),
    "StringLike": (_like, False),
    "ArnEquals": (_arn_like, False),  # AWS documents ArnEquals and ArnLike as the same test
    "ArnLike": (_arn_like, False),
    "Bool": (_bool_equals, False),
}
SET_PREFIXES = ("ForAnyValue", "ForAllValues")


def _policy_values(raw: Any) -> tuple[str, ...]:
    values = raw if isinstance(raw, list) else [raw]
    # JSON booleans (`"Bool": {"k": true}`) mean what their strings mean.
    return tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in values)


@dataclass(frozen=True)
class Condition:
    """One key under one operator, e.g. `StringLike kms:ViaService ("dynamodb.*.amazonaws.com",)`."""

    operator: str
    key: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        prefix, base, _ = self._parts()
        if prefix not in ("", *SET_PREFIXES) or base not in OPERATORS:
            raise ValueError(f"the evaluator does not know the condition operator {self.operator!r}")

    def _parts(self) -> tuple[str, str, bool]:
        prefix, _, rest = self.operator.rpartition(":")
        if_exists = rest.endswith("IfExists")
        return prefix, rest.removesuffix("IfExists") if if_exists else rest, if_exists

    def holds(self, context: Mapping[str, ContextValue]) -> bool:
        prefix, base, if_exists = self._parts()
        compare, negated = OPERATORS[base]
        present = {k.lower(): v for k, v in context.items()}.get(self.key.lower())

        def one(value: str) -> bool:
            hit = any(compare(value, wanted) for wanted in self.values)
            return not hit if negated else hit

        if present is None:
            # Absent key: IfExists and ForAllValues hold, a negated operator holds, the rest fail.
            return if_exists or prefix == "ForAllValues" or (negated and prefix == "")
        if prefix == "ForAnyValue":
            return any(one(v) for v in _as_tuple(present))
        if prefix == "ForAllValues":
            return all(one(v) for v in _as_tuple(present))
        if isinstance(present, tuple):
            raise ValueError(f"{self.key} is multivalued in the request: use ForAnyValue/ForAllValues with it")
        return one(present)


def _as_tuple(value: ContextValue) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


# --- statements and policies --------------------------------------------------------------------------------------

KNOWN_ELEMENTS = frozenset({"Sid", "Effect", "Action", "Resource", "Condition"})


def _strings(raw: Any) -> tuple[str, ...]:
    return tuple(raw) if isinstance(raw, list) else (raw,)


@dataclass(frozen=True)
class Statement:
    sid: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...] = ()

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Statement:
        unknown = set(raw) - KNOWN_ELEMENTS
        if unknown:
            raise ValueError(f"statement {raw.get('Sid')!r}: the evaluator does not handle {sorted(unknown)}")
        if raw["Effect"] not in ("Allow", "Deny"):
            raise ValueError(f"statement {raw.get('Sid')!r}: Effect {raw['Effect']!r}")
        resources = _strings(raw["Resource"])
        if any("${" in r for r in resources):
            raise ValueError(f"statement {raw.get('Sid')!r}: policy variables are not evaluated")
        conditions = tuple(
            Condition(operator, key, _policy_values(values))
            for operator, keys in raw.get("Condition", {}).items()
            for key, values in keys.items()
        )
        return cls(raw.get("Sid", ""), raw["Effect"], _strings(raw["Action"]), resources, conditions)

    def matches(self, request: Request) -> bool:
        return (
            any(action_matches(a, request.action) for a in self.actions)
            and any(resource_matches(r, request.resource) for r in self.resources)
            and all(c.holds(request.context) for c in self.conditions)
        )

    def without_resource(self, pattern: str) -> Statement:
        return replace(self, resources=tuple(r for r in self.resources if r != pattern))

    def with_only_resource(self, pattern: str) -> Statement:
        return replace(self, resources=(pattern,))


def load_policy(document: str | Mapping[str, Any]) -> list[Statement]:
    parsed = json.loads(document) if isinstance(document, str) else document
    raw = parsed["Statement"]
    return [Statement.from_json(s) for s in (raw if isinstance(raw, list) else [raw])]


def load_policies(paths: Iterable[Path]) -> list[Statement]:
    """Several managed policies attached to one identity act as the union of their statements."""
    return [statement for path in paths for statement in load_policy(path.read_text())]


def evaluate(statements: Sequence[Statement], request: Request) -> Decision:
    matching = [s for s in statements if s.matches(request)]
    if any(s.effect == "Deny" for s in matching):
        return Decision.EXPLICIT_DENY
    if any(s.effect == "Allow" for s in matching):
        return Decision.ALLOW
    return Decision.IMPLICIT_DENY
