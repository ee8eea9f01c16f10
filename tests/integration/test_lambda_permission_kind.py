"""The kind `lambda.permission` (a statement of a function alias's resource policy, granting API
Gateway the right to invoke it) against the moto server over HTTP, driven by the engine.

The function `cutlass-tech-dev-london-usage-check` with version 1 and the alias `live` is made directly
with boto3 (its kind belongs to the compute layer). Each test runs `reconcile` and reads the policy back
with GetPolicy: create, a steady state that reads once per alias and writes nothing, a changed source
replaced, drift repaired, orphans of ours deleted while others' statements stay, destroy.

What moto 5.2.5 returns from GetPolicy: the policy as a JSON string, each statement with `Sid`,
`Effect`, `Action` (a string), `Principal` (`{"Service": ...}` for a service; an account id as given),
`Resource` (the function ARN with the qualifier the statement was added under), and `Condition`
(`ArnLike` `AWS:SourceArn`, `StringEquals` `AWS:SourceAccount`). Its gaps met here (the product is not
weakened for them):
- All qualifiers of a function share one policy: GetPolicy for `live` also returns the statements added
  under another alias; the kind keeps the statements whose Resource is the alias's.
- RemovePermission ignores the qualifier; a duplicate Sid is accepted (AWS: ResourceConflictException),
  so the kind's replace-on-conflict path is tested with a stub client at the end.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import pytest
from botocore.exceptions import ClientError

from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.session import AwsClients
from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.plan import Action
from cutlass_operator.engine.reconcile import Outcome, reconcile
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, Props, Ref, ResourceKind
from cutlass_operator.props.lambda_ import PermissionProps, statement_id
from cutlass_operator.resources.lambda_permissions import PermissionKind

from .outcomes import diff_paths

pytestmark = pytest.mark.integration

REGION = "eu-west-2"
PREFIX = "cutlass-tech-dev-london-"
FUNCTION = f"{PREFIX}usage-check"
SCOPE = "api/"
CHECK = "api/permission/usage-check"
REPORT = "api/permission/usage-report"
API = "api/rest-api"
API_ID = "a1b2c3d4e5"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def source_arn(account_id: str, route: str, api_id: str = API_ID) -> str:
    return f"arn:aws:execute-api:{REGION}:{account_id}:{api_id}/*/{route}"


@pytest.fixture
def lam(clients: AwsClients) -> Any:
    return clients.client("lambda")


@pytest.fixture
def function(clients: AwsClients, lam: Any) -> str:
    """The function and its alias `live` on version 1, as the compute layer leaves them."""
    role = clients.client("iam").create_role(RoleName="usage-check", AssumeRolePolicyDocument=json.dumps(TRUST))
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
    lam.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="index.handler",
        Code={"ZipFile": package.getvalue()},
        Publish=True,
    )
    lam.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")
    return FUNCTION


def permission(
    workspace: Workspace, account_id: str, *, key: str = CHECK, route: str = "POST/usage-check", **changes: Any
) -> Desired[PermissionProps]:
    sid = statement_id("apigateway", route)
    props = PermissionProps(
        function_name=FUNCTION,
        qualifier="live",
        statement_id=sid,
        action="lambda:InvokeFunction",
        principal="apigateway.amazonaws.com",
        source_arn=source_arn(account_id, route),
        source_account=account_id,
    )
    return Desired(key, replace(props, **changes), sid, workspace.tags("api", key, sid))


def both_routes(workspace: Workspace, account_id: str) -> list[Desired]:
    """The usage check's route and a second one, each with its statement on the same function."""
    return [
        permission(workspace, account_id),
        permission(workspace, account_id, key=REPORT, route="GET/usage-report"),
    ]


def kinds() -> dict[str, ResourceKind]:
    return {"lambda.permission": PermissionKind(PREFIX, SCOPE)}


def converged(
    desired: Sequence[Desired], ctx: KindContext, registered: Mapping[str, ResourceKind] | None = None, **options: Any
) -> Outcome:
    outcome = reconcile(registered or kinds(), desired, ctx, scope=SCOPE, **options)
    assert outcome.result is not None
    assert outcome.result.ok, {key: err.message for key, err in outcome.result.errors.items()}
    return outcome


def statements(lam: Any, qualifier: str = "live") -> dict[str, dict[str, Any]]:
    """The alias's statements by Sid (as GetPolicy reports them; none without a policy)."""
    try:
        policy = json.loads(lam.get_policy(FunctionName=FUNCTION, Qualifier=qualifier)["Policy"])
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ResourceNotFoundException"
        return {}
    suffix = f":{qualifier}"
    return {s["Sid"]: s for s in policy["Statement"] if s["Resource"].endswith(suffix)}


class TestCreate:
    @pytest.mark.usefixtures("function")
    def test_a_statement_is_added_to_the_alias_policy_with_its_conditions(
        self, ctx: KindContext, workspace: Workspace, lam: Any, account_id: str
    ) -> None:
        desired = permission(workspace, account_id)

        outcome = converged([desired], ctx)

        assert [(c.key, c.action) for c in outcome.plan.changes] == [(CHECK, Action.CREATE)]
        sid = desired.properties["statementId"]
        assert sid.startswith("cutlass-apigateway-")
        statement = statements(lam)[sid]
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == "lambda:InvokeFunction"
        assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
        assert statement["Resource"] == f"arn:aws:lambda:{REGION}:{account_id}:function:{FUNCTION}:live"
        assert statement["Condition"] == {
            "ArnLike": {"AWS:SourceArn": source_arn(account_id, "POST/usage-check")},
            "StringEquals": {"AWS:SourceAccount": account_id},
        }
        assert outcome.result is not None
        assert outcome.result.observed[CHECK].outputs == {"id": f"{FUNCTION}:live/{sid}", "statementId": sid}

    @pytest.mark.usefixtures("function")
    def test_the_source_arn_can_come_from_an_api_created_in_the_same_reconcile(
        self, ctx: KindContext, workspace: Workspace, lam: Any, account_id: str
    ) -> None:
        api = Desired(API, ApiStubProps("cutlass-api"), "api", {})
        wanted = permission(workspace, account_id, source_arn=Ref(API, "executionArnPrefix"))
        registered = {**kinds(), ApiStub.kind: ApiStub(account_id)}

        converged([api, wanted], ctx, registered)

        sid = wanted.properties["statementId"]
        arn = statements(lam)[sid]["Condition"]["ArnLike"]["AWS:SourceArn"]
        assert arn == f"arn:aws:execute-api:{REGION}:{account_id}:{API_ID}/*"
        assert converged([api, wanted], ctx, registered).plan.empty

    def test_identities_outside_the_kinds_reach_are_layer_bugs(
        self, ctx: KindContext, workspace: Workspace, account_id: str
    ) -> None:
        kind = PermissionKind(PREFIX, SCOPE)
        with pytest.raises(ValueError, match="outside"):
            kind.observe_many(ctx, [permission(workspace, account_id, function_name="someone-elses")])
        with pytest.raises(ValueError, match="must start with 'cutlass-'"):
            kind.observe_many(ctx, [permission(workspace, account_id, statement_id="AllowApiGateway")])
        with pytest.raises(ValueError, match="literals"):
            kind.observe_many(ctx, [permission(workspace, account_id, qualifier=Ref(API, "stage"))])
        with pytest.raises(ValueError, match="twice"):
            kind.observe_many(ctx, [permission(workspace, account_id), permission(workspace, account_id, key=REPORT)])

    def test_statement_ids_are_deterministic_and_valid(self) -> None:
        sid = statement_id("apigateway", "POST /usage-check")
        assert sid == statement_id("apigateway", "POST /usage-check")
        assert sid != statement_id("apigateway", "GET /usage-report")
        assert len(sid) == len("cutlass-apigateway-") + 16
        with pytest.raises(ValueError, match="valid"):
            statement_id("api gateway", "x")


class TestSteadyState:
    @pytest.mark.usefixtures("function")
    def test_a_second_reconcile_reads_the_policy_once_and_writes_nothing(
        self, ctx: KindContext, workspace: Workspace, account_id: str, calls: CallLog
    ) -> None:
        desired = both_routes(workspace, account_id)
        converged(desired, ctx)
        calls.reset()

        outcome = converged(desired, ctx)

        assert [c.action for c in outcome.plan.changes] == [Action.NOOP, Action.NOOP]
        assert calls.mutating() == {}
        print(f"lambda.permission no-op reconcile of 2 statements on one alias: {dict(calls.calls)}")
        assert dict(calls.calls) == {"lambda:GetPolicy": 1}

    @pytest.mark.usefixtures("function")
    def test_an_account_principal_and_no_conditions_compare_equal(
        self, ctx: KindContext, workspace: Workspace, lam: Any, account_id: str
    ) -> None:
        desired = [permission(workspace, account_id, principal=account_id, source_arn=None, source_account=None)]
        converged(desired, ctx)

        sid = desired[0].properties["statementId"]
        assert "Condition" not in statements(lam)[sid]
        assert converged(desired, ctx).plan.empty


class TestUpdate:
    @pytest.mark.usefixtures("function")
    def test_a_changed_source_replaces_the_statement(
        self, ctx: KindContext, workspace: Workspace, lam: Any, account_id: str, calls: CallLog
    ) -> None:
        converged([permission(workspace, account_id)], ctx)
        moved = permission(workspace, account_id, source_arn=source_arn(account_id, "POST/usage-check", "z9y8x7w6v5"))
        calls.reset()

        outcome = converged([moved], ctx)

        assert diff_paths(outcome, CHECK) == {"sourceArn"}
        assert calls.mutating() == {"lambda:RemovePermission": 1, "lambda:AddPermission": 1}
        [statement] = statements(lam).values()
        assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == moved.properties["sourceArn"]
        assert converged([moved], ctx).plan.empty

    @pytest.mark.usefixtures("function")
    def test_a_statement_removed_out_of_band_is_added_again(
        self, ctx: KindContext, workspace: Workspace, lam: Any, account_id: str
    ) -> None:
        desired = [permission(workspace, account_id)]
        converged(desired, ctx)
        sid = desired[0].properties["statementId"]
        lam.remove_permission(FunctionName=FUNCTION, Qualifier="live", StatementId=sid)

        outcome = converged(desired, ctx)

        assert [(c.key, c.action) for c in outcome.plan.changes] == [(CHECK, Action.CREATE)]
        assert list(statements(lam)) == [sid]

    @pytest.mark.usefixtures("function")
    def test_a_statement_widened_out_of_band_is_restored(
        self, ctx: KindContext, workspace: Workspace, lam: Any, account_id: str
    ) -> None:
        desired = [permission(workspace, account_id)]
        converged(desired, ctx)
        sid = desired[0].properties["statementId"]
        lam.remove_permission(FunctionName=FUNCTION, Qualifier="live", StatementId=sid)
        # The same Sid, but any API of any account may now invoke the function.
        lam.add_permission(
            FunctionName=FUNCTION,
            Qualifier="live",
            StatementId=sid,
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
        )

        outcome = converged(desired, ctx)

        assert diff_paths(outcome, CHECK) == {"sourceArn", "sourceAccount"}
        assert statements(lam)[sid]["Condition"] == {
            "ArnLike": {"AWS:SourceArn": source_arn(account_id, "POST/usage-check")},
            "StringEquals": {"AWS:SourceAccount": account_id},
        }
        assert converged(desired, ctx).plan.empty


class TestDelete:
    @pytest.mark.usefixtures("function")
    def test_our_statements_no_entry_wants_are_deleted_and_others_left_alone(
        self, ctx: KindContext, workspace: Workspace, lam: Any, account_id: str
    ) -> None:
        wanted = permission(workspace, account_id)
        old = permission(workspace, account_id, key=REPORT, route="GET/old-report")
        converged([wanted, old], ctx)
        lam.add_permission(
            FunctionName=FUNCTION,
            Qualifier="live",
            StatementId="AllowS3Invoke",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
        )

        outcome = converged([wanted], ctx)

        old_sid = old.properties["statementId"]
        assert [(c.key, c.action) for c in outcome.plan.changes] == [
            (CHECK, Action.NOOP),
            (f"{SCOPE}(untracked {FUNCTION}:live/{old_sid})", Action.DELETE),
        ]
        assert sorted(statements(lam)) == sorted([wanted.properties["statementId"], "AllowS3Invoke"])

    @pytest.mark.usefixtures("function")
    def test_destroy_removes_the_statements_and_leaves_the_function(
        self, ctx: KindContext, workspace: Workspace, lam: Any, account_id: str
    ) -> None:
        desired = both_routes(workspace, account_id)
        converged(desired, ctx)

        outcome = converged(desired, ctx, destroy=True)

        assert [c.action for c in outcome.plan.changes] == [Action.DELETE, Action.DELETE]
        assert statements(lam) == {}
        assert lam.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == "1"

    def test_statements_of_a_missing_function_are_nothing_to_observe(
        self, ctx: KindContext, workspace: Workspace, account_id: str, calls: CallLog
    ) -> None:
        assert PermissionKind(PREFIX, SCOPE).observe_many(ctx, [permission(workspace, account_id)]) == []
        assert dict(calls.calls) == {"lambda:GetPolicy": 1}


# -- AWS's answers moto does not give, through a stub client ------------------------------------------


@dataclass
class StubLambda:
    """Answers AddPermission with the given errors first, then success; records every call."""

    failures: list[ClientError]
    calls: list[str] = field(default_factory=list)

    def add_permission(self, **request: Any) -> dict[str, Any]:
        self.calls.append(f"AddPermission {request['StatementId']}")
        if self.failures:
            raise self.failures.pop(0)
        return {"Statement": "{}"}

    def remove_permission(self, **request: Any) -> None:
        self.calls.append(f"RemovePermission {request['StatementId']}")


@dataclass
class StubFactory:
    lam: StubLambda

    def client(self, service: str, region: str | None = None) -> Any:
        return self.lam


def conflict(message: str) -> ClientError:
    return ClientError({"Error": {"Code": "ResourceConflictException", "Message": message}}, "AddPermission")


class TestAwsAnswers:
    def test_a_statement_already_there_is_replaced(self, workspace: Workspace, account_id: str) -> None:
        desired = permission(workspace, account_id)
        sid = desired.properties["statementId"]
        lam = StubLambda([conflict(f"The statement id ({sid}) provided already exists. Please provide a new one.")])
        ctx = KindContext(StubFactory(lam), account_id, REGION, workspace.selector())

        observed = PermissionKind(PREFIX, SCOPE).create(ctx, desired)

        assert lam.calls == [f"AddPermission {sid}", f"RemovePermission {sid}", f"AddPermission {sid}"]
        assert PermissionKind(PREFIX, SCOPE).compare(desired, observed) == []

    def test_a_function_being_updated_is_retried(self, workspace: Workspace, account_id: str) -> None:
        lam = StubLambda([conflict("The operation cannot be performed at this time. An update is in progress.")])
        ctx = KindContext(StubFactory(lam), account_id, REGION, workspace.selector())

        with pytest.raises(RetryableError) as caught:
            PermissionKind(PREFIX, SCOPE).create(ctx, permission(workspace, account_id))

        assert caught.value.reason == "FunctionBusy"

    def test_a_refused_principal_is_terminal(self, workspace: Workspace, account_id: str) -> None:
        invalid = ClientError({"Error": {"Code": "InvalidParameterValueException", "Message": "bad"}}, "AddPermission")
        ctx = KindContext(StubFactory(StubLambda([invalid])), account_id, REGION, workspace.selector())

        with pytest.raises(TerminalError):
            PermissionKind(PREFIX, SCOPE).create(ctx, permission(workspace, account_id, principal="nobody"))


@dataclass(frozen=True)
class ApiStubProps(Props):
    kind = "test.api"

    name: str


class ApiStub(ResourceKind[ApiStubProps]):
    """Stands in for the API layer's REST API kind: outputs the execution ARN prefix of a fixed API id."""

    props = ApiStubProps
    delete_rank = 0
    # The stub's "AWS": the test accounts whose API exists.
    created: ClassVar[set[str]] = set()

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired]) -> list[Observed]:
        return [self._observed(d) for d in desired] if self.account_id in ApiStub.created else []

    def create(self, ctx: KindContext, desired: Desired) -> Observed:
        ApiStub.created.add(self.account_id)
        return self._observed(desired)

    def update(self, ctx: KindContext, desired: Desired, observed: Observed, diff: list[FieldDiff]) -> Observed:
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        ApiStub.created.discard(self.account_id)

    def _observed(self, desired: Desired) -> Observed:
        prefix = f"arn:aws:execute-api:{REGION}:{self.account_id}:{API_ID}/*"
        return Observed(desired.key, self.kind, API_ID, dict(desired.properties), {}, {"executionArnPrefix": prefix})
