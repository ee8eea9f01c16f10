"""One statement of a Lambda alias's resource policy: who may invoke the function through the alias.

The properties are `PermissionProps`, in the shapes observe reports them. `functionName` (under
the kind's `name_prefix`, the functions' prefix, which carries the workspace), `qualifier` (the alias
whose policy holds the statement) and `statementId` are immutable. The statement id must start with
`cutlass-`, which is how observe tells the operator's statements from anyone else's;
`props.lambda_.statement_id()` makes deterministic ones.

Outputs: `id` (`<function>:<qualifier>/<statement id>`) and `statementId`.

Identity. Statements carry no tags; a statement is known by its function, alias and Sid, and every
statement whose Sid starts with `cutlass-` in the policy of an alias a desired entry names is ours.
Observe is one GetPolicy per distinct (function, alias) among the desired entries (a function or alias
without a policy answers ResourceNotFoundException: no statements): a no-op resync reads once per
alias, however many statements it holds. The `cutlass-` statements there that no entry wants are orphans
under `orphan_scope` (the layer's key prefix), which the engine deletes; statements of other Sids are
left alone. An alias no entry names any more is not read, so its statements stay (the kind does not
list functions to find them): they grant only what the workspace's own API was granted, and go with
the function or alias.

Create is AddPermission. A statement of that Sid already there (a create whose result the last observe
missed) is replaced: the Sid is ours by construction. Lambda's statements cannot be changed, so update
is RemovePermission then AddPermission (for a moment the grant is missing; API Gateway's calls in that
moment fail with 500, which its clients retry). Delete is RemovePermission; a statement already gone is
fine. Revision ids are not used (see below), so a concurrent policy change by someone else is not
detected; both are single-statement calls, so neither overwrites another's statement. A resource policy
holds at most 20 KB: a few hundred statements per alias. Retain leaves the statement as it is.

The policy is normalised before comparing: Lambda returns the Principal as `{"Service": ...}` or
`{"AWS": "arn:aws:iam::<account>:root"}` (read back as the account id), and the conditions as
`ArnLike` `AWS:SourceArn` and `StringEquals` `AWS:SourceAccount`. Conditions the kind does not write
(an organisation id, a function URL auth type) are not compared.

moto 5.2.5 gaps:
- One policy per function, shared by all its qualifiers: GetPolicy with a qualifier returns every
  statement of the function (each with the qualified Resource it was added with), so observe keeps only
  the statements whose Resource is the alias's ARN. RemovePermission ignores the qualifier.
- A second statement with a Sid already in the policy is added beside it (AWS: ResourceConflictException).
- RemovePermission with a RevisionId always fails (the query parameter is compared as a list), which is
  one reason the kind does not send revision ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.engine.errors import RetryableError
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind, normalise
from cutlass_operator.props.lambda_ import OURS, STATEMENT_ID, PermissionProps
from cutlass_operator.resources.errors import aws_errors, error_code, error_message, is_not_found, tolerate_not_found

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient

ROOT_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):root$")
CONFLICT = "ResourceConflictException"
PROPERTIES = ("functionName", "qualifier", "statementId", "action", "principal", "sourceArn", "sourceAccount")


class PermissionKind(ResourceKind[PermissionProps]):
    props = PermissionProps
    # Above the functions (80), so a grant goes before its function; below the mappings (90).
    delete_rank = 85
    immutable = frozenset({"functionName", "qualifier", "statementId"})

    def __init__(self, name_prefix: str = "", orphan_scope: str = "") -> None:
        if not name_prefix:
            raise ValueError("a permission kind needs a function name prefix that carries its workspace")
        super().__init__(name_prefix, orphan_scope)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[PermissionProps]]) -> list[Observed]:
        lam = _client(ctx)
        wanted: dict[tuple[str, str, str], str] = {}
        for d in desired:
            identity = self._identity(d)
            if identity in wanted:
                raise ValueError(f"{d.key} and {wanted[identity]} name one statement {identity[2]} twice")
            wanted[identity] = d.key
        found: list[Observed] = []
        for function, qualifier in sorted({(f, q) for f, q, _ in wanted}):
            with aws_errors(f"observe {self.kind} on {function}:{qualifier}"):
                statements = _statements(lam, function, qualifier)
            for statement in statements:
                sid = str(statement.get("Sid", ""))
                if not sid.startswith(OURS):
                    continue
                key = (
                    wanted.get((function, qualifier, sid))
                    or f"{self.orphan_scope}(untracked {function}:{qualifier}/{sid})"
                )
                found.append(self._observed(key, function, qualifier, statement))
        return found

    def create(self, ctx: KindContext, desired: Desired[PermissionProps]) -> Observed:
        lam = _client(ctx)
        function, qualifier, sid = self._identity(desired)
        what = f"create {self.kind} {function}:{qualifier}/{sid}"
        with _permission_errors(what):
            try:
                _add(lam, desired.properties)
            except ClientError as exc:
                if not _exists(exc):
                    raise
                # Ours by its Sid, left by a create the last observe did not see: replace it.
                with tolerate_not_found():
                    lam.remove_permission(FunctionName=function, Qualifier=qualifier, StatementId=sid)
                _add(lam, desired.properties)
        return self._from_desired(desired)

    def update(
        self, ctx: KindContext, desired: Desired[PermissionProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        lam = _client(ctx)
        function, qualifier, sid = self._identity(desired)
        what = f"update {self.kind} {function}:{qualifier}/{sid}"
        with _permission_errors(what):
            with tolerate_not_found():
                lam.remove_permission(FunctionName=function, Qualifier=qualifier, StatementId=sid)
            _add(lam, desired.properties)
        return self._from_desired(desired)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        lam = _client(ctx)
        function, qualifier, sid = (str(observed.properties[p]) for p in ("functionName", "qualifier", "statementId"))
        what = f"delete {self.kind} {function}:{qualifier}/{sid}"
        with _permission_errors(what), tolerate_not_found():
            lam.remove_permission(FunctionName=function, Qualifier=qualifier, StatementId=sid)

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        """Nothing marks a statement as managed but its Sid: it stays as it is."""

    def compare(self, desired: Desired[PermissionProps], observed: Observed) -> list[FieldDiff]:
        """Properties only (statements have no tags), principals in one form."""
        want = _comparable(desired.properties)
        return [
            FieldDiff(name, observed.properties.get(name), value)
            for name, value in sorted(want.items())
            if normalise(observed.properties.get(name)) != normalise(value)
        ]

    def _identity(self, desired: Desired[PermissionProps]) -> tuple[str, str, str]:
        props = desired.properties
        function, qualifier, sid = props.get("functionName"), props.get("qualifier"), props.get("statementId")
        if not (isinstance(function, str) and isinstance(qualifier, str) and isinstance(sid, str)):
            raise ValueError(
                f"{desired.key}: a statement is found by its function, qualifier and statement id, so all three "
                "must be literals, not references resolved at apply time"
            )
        if not function.startswith(self.name_prefix):
            raise ValueError(f"{desired.key}: function {function} is outside {self.name_prefix}")
        if not sid.startswith(OURS) or not STATEMENT_ID.match(sid):
            raise ValueError(f"{desired.key}: statement id {sid!r} must start with {OURS!r} (see statement_id())")
        return function, qualifier, sid

    def _from_desired(self, desired: Desired[PermissionProps]) -> Observed:
        function, qualifier, sid = self._identity(desired)
        properties = {name: None for name in PROPERTIES} | _comparable(desired.properties)
        return Observed(
            desired.key, self.kind, _id(function, qualifier, sid), properties, {}, _outputs(function, qualifier, sid)
        )

    def _observed(self, key: str, function: str, qualifier: str, statement: Mapping[str, Any]) -> Observed:
        sid = str(statement.get("Sid", ""))
        condition = statement.get("Condition") or {}
        source_arn = _condition(condition, ("ArnLike", "ArnEquals"), "AWS:SourceArn")
        source_account = _condition(condition, ("StringEquals",), "AWS:SourceAccount")
        action = statement.get("Action")
        properties: dict[str, Any] = {
            "functionName": function,
            "qualifier": qualifier,
            "statementId": sid,
            "action": action[0] if isinstance(action, list) and len(action) == 1 else action,
            "principal": _principal(statement.get("Principal")),
            "sourceArn": source_arn,
            "sourceAccount": source_account,
        }
        return Observed(
            key, self.kind, _id(function, qualifier, sid), properties, {}, _outputs(function, qualifier, sid)
        )


def _statements(lam: LambdaClient, function: str, qualifier: str) -> list[Mapping[str, Any]]:
    """The statements of the alias's policy; none when the function, the alias or the policy is missing."""
    try:
        policy = json.loads(lam.get_policy(FunctionName=function, Qualifier=qualifier).get("Policy") or "{}")
    except ClientError as exc:
        if is_not_found(exc):
            return []
        raise
    statements = policy.get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    # The alias's ARN ends the Resource of each of its statements (moto mixes in other qualifiers').
    suffix = f":function:{function}:{qualifier}"
    return [s for s in statements if isinstance(s, Mapping) and str(s.get("Resource", "")).endswith(suffix)]


def _add(lam: LambdaClient, props: Mapping[str, Any]) -> None:
    request: dict[str, Any] = {
        "FunctionName": str(props["functionName"]),
        "Qualifier": str(props["qualifier"]),
        "StatementId": str(props["statementId"]),
        "Action": str(props.get("action") or "lambda:InvokeFunction"),
        "Principal": str(props["principal"]),
    }
    if props.get("sourceArn"):
        request["SourceArn"] = str(props["sourceArn"])
    if props.get("sourceAccount"):
        request["SourceAccount"] = str(props["sourceAccount"])
    lam.add_permission(**request)


def _comparable(props: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(props)
    if "principal" in result and isinstance(result["principal"], str):
        result["principal"] = _principal(result["principal"])
    for name in ("sourceArn", "sourceAccount"):
        if name in result and not result[name]:
            result[name] = None
    if "action" in result and not result["action"]:
        result["action"] = "lambda:InvokeFunction"
    return result


def _principal(value: Any) -> Any:
    """A service stays as it is; an account, as `arn:aws:iam::<id>:root` or `{"AWS": ...}`, is its id."""
    if isinstance(value, Mapping):
        if "Service" in value:
            value = value["Service"]
        elif "AWS" in value:
            value = value["AWS"]
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        root = ROOT_PRINCIPAL.match(value)
        return root.group(1) if root else value
    return value


def _condition(condition: Mapping[str, Any], operators: Sequence[str], key: str) -> Any:
    for operator in operators:
        block = condition.get(operator) or {}
        if key in block:
            value = block[key]
            return value[0] if isinstance(value, list) and len(value) == 1 else value
    return None


def _id(function: str, qualifier: str, sid: str) -> str:
    return f"{function}:{qualifier}/{sid}"


def _outputs(function: str, qualifier: str, sid: str) -> dict[str, Any]:
    return {"id": _id(function, qualifier, sid), "statementId": sid}


def _exists(exc: ClientError) -> bool:
    return error_code(exc) == CONFLICT and "already exists" in error_message(exc).lower()


@contextmanager
def _permission_errors(what: str) -> Iterator[None]:
    """`aws_errors`, plus Lambda's ResourceConflictException, which here means an update of the function
    is in progress (a duplicate Sid is handled where it can occur): time resolves it."""
    with aws_errors(what):
        try:
            yield
        except ClientError as exc:
            if error_code(exc) in {CONFLICT, "PreconditionFailedException"}:
                raise RetryableError(
                    "FunctionBusy", f"{what}: {exc.operation_name}: {error_message(exc)}; retrying", 10.0
                ) from exc
            raise


def _client(ctx: KindContext) -> LambdaClient:
    client: LambdaClient = ctx.clients.client("lambda", ctx.region)
    return client
