"""Bucket policies that require TLS, for the embedded AWS emulator.

Why: the artifact bucket's policy denies every S3 action when `aws:SecureTransport` is "false", the
usual way to refuse plain HTTP. AWS evaluates that condition per request; the emulator stands in for
AWS's HTTPS endpoint (it is reached over loopback HTTP only because it runs in this process), so a
request to it is to be judged as one that arrived over TLS. moto 5.2.5 cannot do that:

- `FakeBucket.get_permission` hands the policy to `IAMPolicy.is_action_permitted` without any request
  context, so no condition key ever has a value;
- the statement evaluator only knows the `StringEquals` operator; any other operator (`Bool`, the one
  `aws:SecureTransport` is tested with) is skipped as if it matched;
- a statement whose condition does not match is answered DENIED whatever its effect (the rule moto
  needs for role trust policies), where IAM's rule is that the statement does not apply.

Together these make a conditional Deny deny every object request, so PutObject and GetObject on the
artifact bucket answered 403. Passing a request context to moto's evaluator is not enough (the
`Bool` operator is still skipped, and an unmet `StringEquals` still denies), so
`install_secure_transport()` evaluates the conditions it can decide itself before moto sees the
policy: for each statement, the condition blocks of the operators below whose keys are all in the
request context are checked; a statement with a block that does not hold does not apply and is
dropped, and the blocks that hold are removed. What remains (statements without conditions, and
conditions on keys or operators decided here by nobody) goes to moto's own evaluator unchanged, so
an unconditional Deny still denies and every other rule of moto's stays as it was.

The request context is `aws:SecureTransport` = "true" and nothing else; the operators decided are
`Bool` and `BoolIfExists` (the key is always present, so both read the same). moto's files on disk
are untouched and the product only ever sees the S3 API over HTTP. Lambda's CreateFunction with an
S3 code location reads the object from moto's S3 backend directly, without consulting the policy,
as AWS's service principal would be allowed to.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.s3.models import FakeBucket

# What AWS would know about a request that reached its HTTPS endpoint.
REQUEST_CONTEXT = {"aws:securetransport": "true"}
BOOLEAN_OPERATORS = frozenset({"bool", "boolifexists"})

_LOCK = threading.Lock()
_INSTALLED = threading.Event()
_moto_get_permission = FakeBucket.get_permission


def install_secure_transport() -> None:
    """Patch moto (in this process) to judge bucket policies as for an HTTPS request; idempotent."""
    with _LOCK:
        if _INSTALLED.is_set():
            return
        # moto 5.2.5 gap: bucket policies are evaluated without a request context and without `Bool`.
        FakeBucket.get_permission = _get_permission  # type: ignore[method-assign]
        _INSTALLED.set()


def _get_permission(self: FakeBucket, action: str, resource: str) -> Any:
    if self.policy is None:
        return PermissionResult.NEUTRAL
    raw = self.policy.decode() if isinstance(self.policy, bytes) else str(self.policy)
    policy = json.loads(raw)
    statements = policy.get("Statement", [])
    applicable = [
        kept
        for statement in (statements if isinstance(statements, list) else [statements])
        if (kept := _applicable(statement)) is not None
    ]
    if not applicable:
        return PermissionResult.NEUTRAL
    remaining = IAMPolicy(json.dumps({**policy, "Statement": applicable}))
    return remaining.is_action_permitted(action, resource, incoming_condition_values={"aws:SecureTransport": "true"})


def _applicable(statement: dict[str, Any]) -> dict[str, Any] | None:
    """The statement without the condition blocks decided here, or None when one of them fails
    (the statement does not apply to this request). Blocks nobody here can decide are kept."""
    conditions = statement.get("Condition")
    if not isinstance(conditions, dict) or not conditions:
        return statement
    undecided: dict[str, Any] = {}
    for operator, block in conditions.items():
        verdict = _decide(operator, block)
        if verdict is None:
            undecided[operator] = block
        elif not verdict:
            return None
    result = {k: v for k, v in statement.items() if k != "Condition"}
    if undecided:
        result["Condition"] = undecided
    return result


def _decide(operator: str, block: Any) -> bool | None:
    """Whether a `{key: value(s)}` block holds for the request, or None if it is not ours to decide.

    Condition keys are case-insensitive in IAM; a key with several values holds if any matches."""
    if operator.lower() not in BOOLEAN_OPERATORS or not isinstance(block, dict) or not block:
        return None
    if any(str(key).lower() not in REQUEST_CONTEXT for key in block):
        return None
    for key, expected in block.items():
        values = expected if isinstance(expected, list) else [expected]
        actual = REQUEST_CONTEXT[str(key).lower()]
        if not any(str(value).lower() == actual for value in values):
            return False
    return True
