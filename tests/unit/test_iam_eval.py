"""The IAM evaluator the policy proofs rely on (tests/iam_eval.py), case by case against AWS's documented rules.

Each case is one statement (or a few), one request and the decision AWS documents for it; the ids say
what the case is about, so a failure names the rule that broke.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.iam_eval import Condition, Decision, Request, Statement, evaluate, load_policy

ALLOW, IMPLICIT, EXPLICIT = Decision.ALLOW, Decision.IMPLICIT_DENY, Decision.EXPLICIT_DENY
TABLE = "arn:aws:dynamodb:eu-west-2:111111111111:table/cutlass-tech-credits-dev"


def allow(action: str | list[str], resource: str | list[str] = "*", **condition: dict[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def deny(action: str, resource: str = "*") -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


def decide(statements: list[dict[str, Any]], request: Request) -> Decision:
    return evaluate(load_policy({"Version": "2012-10-17", "Statement": statements}), request)


ACTIONS_AND_RESOURCES = [
    ("exact action and resource", [allow("dynamodb:GetItem", TABLE)], Request("dynamodb:GetItem", TABLE), ALLOW),
    ("nothing matches", [allow("dynamodb:GetItem", TABLE)], Request("dynamodb:PutItem", TABLE), IMPLICIT),
    ("action wildcard", [allow("dynamodb:Get*", TABLE)], Request("dynamodb:GetItem", TABLE), ALLOW),
    ("action ? is one character", [allow("dynamodb:?etItem", TABLE)], Request("dynamodb:GetItem", TABLE), ALLOW),
    ("actions ignore case", [allow("DynamoDB:getitem", TABLE)], Request("dynamodb:GetItem", TABLE), ALLOW),
    (
        "a service prefix is not a wildcard",
        [allow("dynamo:GetItem", TABLE)],
        Request("dynamodb:GetItem", TABLE),
        IMPLICIT,
    ),
    (
        "one of several actions",
        [allow(["s3:GetObject", "dynamodb:GetItem"], TABLE)],
        Request("dynamodb:GetItem", TABLE),
        ALLOW,
    ),
    (
        "resource wildcard",
        [allow("dynamodb:GetItem", "arn:aws:dynamodb:*:*:table/cutlass-tech-*")],
        Request("dynamodb:GetItem", TABLE),
        ALLOW,
    ),
    (
        "resource wildcard spans the rest of the resource segment",
        [allow("dynamodb:DescribeStream", "arn:aws:dynamodb:*:*:table/cutlass-tech-*")],
        Request("dynamodb:DescribeStream", f"{TABLE}/stream/2026-01-01T00:00:00.000"),
        ALLOW,
    ),
    (
        "resource ? is one character",
        [allow("iam:GetRole", "arn:aws:iam::*:role/app-?")],
        Request("iam:GetRole", "arn:aws:iam::111111111111:role/app-10"),
        IMPLICIT,
    ),
    (
        "resources are case-sensitive",
        [allow("dynamodb:GetItem", TABLE.upper())],
        Request("dynamodb:GetItem", TABLE),
        IMPLICIT,
    ),
    (
        "a resource wildcard ending a segment expands beyond the colons",
        [allow("dynamodb:GetItem", "arn:aws:dynamodb:eu-*:table/cutlass-tech-credits-dev")],
        Request("dynamodb:GetItem", TABLE),
        ALLOW,
    ),
    (
        "a resource ? matches one character",
        [allow("iam:GetRole", "arn:aws:iam::*:role/app-?")],
        Request("iam:GetRole", "arn:aws:iam::111111111111:role/app-1"),
        ALLOW,
    ),
    ("Resource * matches every ARN", [allow("dynamodb:GetItem")], Request("dynamodb:GetItem", TABLE), ALLOW),
    (
        "an action that takes no resource needs Resource *",
        [allow("dynamodb:ListTables", "arn:aws:dynamodb:*:*:table/*")],
        Request("dynamodb:ListTables", "*"),
        IMPLICIT,
    ),
    (
        "a literal * in a requested ARN needs a pattern that covers it",
        [allow("cloudwatch:DescribeAlarms", "arn:aws:cloudwatch:*:*:alarm:cutlass-tech-*")],
        Request("cloudwatch:DescribeAlarms", "arn:aws:cloudwatch:eu-west-2:111111111111:alarm:*"),
        IMPLICIT,
    ),
    (
        "one of several resources",
        [allow("dynamodb:GetItem", ["arn:aws:s3:::x", TABLE])],
        Request("dynamodb:GetItem", TABLE),
        ALLOW,
    ),
    (
        "explicit deny wins",
        [allow("dynamodb:*"), deny("dynamodb:GetItem", TABLE)],
        Request("dynamodb:GetItem", TABLE),
        EXPLICIT,
    ),
    (
        "a deny that does not match leaves the allow",
        [allow("dynamodb:*"), deny("dynamodb:DeleteTable")],
        Request("dynamodb:GetItem", TABLE),
        ALLOW,
    ),
]

KEY_ARN = "arn:aws:kms:eu-west-2:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
GRANT_FOR_DYNAMODB = allow(
    "kms:CreateGrant",
    "arn:aws:kms:*:*:key/*",
    StringLike={"kms:ViaService": "dynamodb.*.amazonaws.com"},
    Bool={"kms:GrantIsForAWSResource": "true"},
)
PASS_TO_LAMBDA = allow("iam:PassRole", StringEquals={"iam:PassedToService": "lambda.amazonaws.com"})
ROLE = "arn:aws:iam::111111111111:role/cutlass-tech/dev-london/functions/fn"


def grant(**context: str) -> Request:
    return Request("kms:CreateGrant", KEY_ARN, context)


def pass_role(service: str) -> Request:
    return Request("iam:PassRole", ROLE, {"iam:PassedToService": service})


CONDITIONS = [
    ("StringEquals matches", [PASS_TO_LAMBDA], pass_role("lambda.amazonaws.com"), ALLOW),
    ("StringEquals is exact", [PASS_TO_LAMBDA], pass_role("vpc-flow-logs.amazonaws.com"), IMPLICIT),
    ("StringEquals is case-sensitive", [PASS_TO_LAMBDA], pass_role("Lambda.amazonaws.com"), IMPLICIT),
    ("a positive operator fails on an absent key", [PASS_TO_LAMBDA], Request("iam:PassRole", ROLE), IMPLICIT),
    (
        "condition key names ignore case",
        [PASS_TO_LAMBDA],
        Request("iam:PassRole", ROLE, {"IAM:passedToService": "lambda.amazonaws.com"}),
        ALLOW,
    ),
    (
        "several values of one key are ORed",
        [allow("iam:PassRole", StringEquals={"iam:PassedToService": ["ec2.amazonaws.com", "lambda.amazonaws.com"]})],
        pass_role("lambda.amazonaws.com"),
        ALLOW,
    ),
    (
        "StringLike globs",
        [GRANT_FOR_DYNAMODB],
        grant(**{"kms:ViaService": "dynamodb.eu-west-2.amazonaws.com", "kms:GrantIsForAWSResource": "true"}),
        ALLOW,
    ),
    (
        "operators are ANDed",
        [GRANT_FOR_DYNAMODB],
        grant(**{"kms:ViaService": "dynamodb.eu-west-2.amazonaws.com", "kms:GrantIsForAWSResource": "false"}),
        IMPLICIT,
    ),
    (
        "StringLike does not match another service",
        [GRANT_FOR_DYNAMODB],
        grant(**{"kms:ViaService": "lambda.eu-west-2.amazonaws.com", "kms:GrantIsForAWSResource": "true"}),
        IMPLICIT,
    ),
    (
        "keys under one operator are ANDed",
        [
            allow(
                "kms:CreateGrant",
                StringEquals={"kms:ViaService": "s3.eu-west-2.amazonaws.com", "kms:CallerAccount": "111111111111"},
            )
        ],
        grant(**{"kms:ViaService": "s3.eu-west-2.amazonaws.com", "kms:CallerAccount": "222222222222"}),
        IMPLICIT,
    ),
    (
        "Bool ignores case",
        [allow("kms:CreateGrant", Bool={"kms:GrantIsForAWSResource": "true"})],
        grant(**{"kms:GrantIsForAWSResource": "True"}),
        ALLOW,
    ),
    (
        "Bool accepts a JSON true",
        [allow("kms:CreateGrant", Bool={"kms:GrantIsForAWSResource": True})],
        grant(**{"kms:GrantIsForAWSResource": "true"}),
        ALLOW,
    ),
    (
        "Bool false is not true",
        [allow("kms:CreateGrant", Bool={"kms:GrantIsForAWSResource": "true"})],
        grant(**{"kms:GrantIsForAWSResource": "false"}),
        IMPLICIT,
    ),
    (
        "StringNotEquals holds for another value",
        [allow("iam:PassRole", StringNotEquals={"iam:PassedToService": "ec2.amazonaws.com"})],
        pass_role("lambda.amazonaws.com"),
        ALLOW,
    ),
    (
        "StringNotEquals fails when any listed value matches",
        [allow("iam:PassRole", StringNotEquals={"iam:PassedToService": ["ec2.amazonaws.com", "lambda.amazonaws.com"]})],
        pass_role("lambda.amazonaws.com"),
        IMPLICIT,
    ),
    (
        "a negated operator holds on an absent key",
        [allow("iam:PassRole", StringNotEquals={"iam:PassedToService": "ec2.amazonaws.com"})],
        Request("iam:PassRole", ROLE),
        ALLOW,
    ),
    (
        "IfExists holds on an absent key",
        [allow("iam:PassRole", StringEqualsIfExists={"iam:PassedToService": "lambda.amazonaws.com"})],
        Request("iam:PassRole", ROLE),
        ALLOW,
    ),
    (
        "IfExists still tests a present key",
        [allow("iam:PassRole", StringEqualsIfExists={"iam:PassedToService": "lambda.amazonaws.com"})],
        pass_role("ec2.amazonaws.com"),
        IMPLICIT,
    ),
    (
        "ArnLike compares segment by segment with wildcards",
        [
            allow(
                "lambda:CreateEventSourceMapping",
                ArnLike={"lambda:FunctionArn": "arn:aws:lambda:*:*:function:cutlass-tech-*"},
            )
        ],
        Request(
            "lambda:CreateEventSourceMapping",
            "*",
            {"lambda:FunctionArn": "arn:aws:lambda:eu-west-2:111111111111:function:cutlass-tech-fn:live"},
        ),
        ALLOW,
    ),
    (
        "ArnLike refuses a name outside the pattern",
        [
            allow(
                "lambda:CreateEventSourceMapping",
                ArnLike={"lambda:FunctionArn": "arn:aws:lambda:*:*:function:cutlass-tech-*"},
            )
        ],
        Request(
            "lambda:CreateEventSourceMapping",
            "*",
            {"lambda:FunctionArn": "arn:aws:lambda:eu-west-2:111111111111:function:other"},
        ),
        IMPLICIT,
    ),
    (
        "ArnEquals takes wildcards as ArnLike does",
        [
            allow(
                "lambda:CreateEventSourceMapping",
                ArnEquals={"lambda:FunctionArn": "arn:aws:lambda:*:111111111111:function:*"},
            )
        ],
        Request(
            "lambda:CreateEventSourceMapping",
            "*",
            {"lambda:FunctionArn": "arn:aws:lambda:eu-west-2:111111111111:function:x"},
        ),
        ALLOW,
    ),
    (
        "ArnLike keeps a wildcard in its segment",
        [allow("lambda:CreateEventSourceMapping", ArnLike={"lambda:FunctionArn": "arn:aws:lambda:eu-*:function:x"})],
        Request(
            "lambda:CreateEventSourceMapping",
            "*",
            {"lambda:FunctionArn": "arn:aws:lambda:eu-west-2:111111111111:function:x"},
        ),
        IMPLICIT,
    ),
    (
        "ArnLike refuses what is not an ARN",
        [allow("lambda:CreateEventSourceMapping", ArnLike={"lambda:FunctionArn": "*"})],
        Request("lambda:CreateEventSourceMapping", "*", {"lambda:FunctionArn": "cutlass-tech-fn"}),
        IMPLICIT,
    ),
    (
        "ForAnyValue needs one matching value",
        [allow("iam:TagRole", **{"ForAnyValue:StringLike": {"aws:TagKeys": "cutlass.tech/*"}})],
        Request("iam:TagRole", ROLE, {"aws:TagKeys": ("Name", "cutlass.tech/workspace")}),
        ALLOW,
    ),
    (
        "ForAnyValue fails with no matching value",
        [allow("iam:TagRole", **{"ForAnyValue:StringLike": {"aws:TagKeys": "cutlass.tech/*"}})],
        Request("iam:TagRole", ROLE, {"aws:TagKeys": ("Name",)}),
        IMPLICIT,
    ),
    (
        "ForAnyValue fails on an absent key",
        [allow("iam:TagRole", **{"ForAnyValue:StringLike": {"aws:TagKeys": "cutlass.tech/*"}})],
        Request("iam:TagRole", ROLE),
        IMPLICIT,
    ),
    (
        "ForAllValues needs every value to match",
        [allow("iam:TagRole", **{"ForAllValues:StringLike": {"aws:TagKeys": "cutlass.tech/*"}})],
        Request("iam:TagRole", ROLE, {"aws:TagKeys": ("Name", "cutlass.tech/workspace")}),
        IMPLICIT,
    ),
    (
        "ForAllValues holds on an absent key",
        [allow("iam:TagRole", **{"ForAllValues:StringLike": {"aws:TagKeys": "cutlass.tech/*"}})],
        Request("iam:TagRole", ROLE),
        ALLOW,
    ),
]


@pytest.mark.parametrize(
    ("statements", "request_", "expected"),
    [pytest.param(s, r, e, id=name) for name, s, r, e in ACTIONS_AND_RESOURCES],
)
def test_actions_and_resources_decide_as_iam_does(
    statements: list[dict[str, Any]], request_: Request, expected: Decision
) -> None:
    assert decide(statements, request_) == expected


@pytest.mark.parametrize(
    ("statements", "request_", "expected"),
    [pytest.param(s, r, e, id=name) for name, s, r, e in CONDITIONS],
)
def test_conditions_decide_as_iam_does(statements: list[dict[str, Any]], request_: Request, expected: Decision) -> None:
    assert decide(statements, request_) == expected


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}, id="NotAction"),
        pytest.param({"Effect": "Allow", "Action": "s3:*", "NotResource": "*"}, id="NotResource"),
        pytest.param({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}, id="Principal"),
        pytest.param(
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::${aws:username}"}, id="a variable"
        ),
        pytest.param({"Effect": "Permit", "Action": "s3:*", "Resource": "*"}, id="an unknown effect"),
        pytest.param(
            {
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"s3:max-keys": "10"}},
            },
            id="an operator it does not know",
        ),
    ],
)
def test_what_the_evaluator_cannot_evaluate_is_refused_not_guessed(statement: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        load_policy({"Statement": [statement]})


def test_a_multivalued_key_under_a_single_valued_operator_is_refused() -> None:
    condition = Condition("StringLike", "aws:TagKeys", ("cutlass.tech/*",))
    with pytest.raises(ValueError, match="multivalued"):
        condition.holds({"aws:TagKeys": ("cutlass.tech/a", "b")})


def test_a_statement_without_one_of_its_resources_no_longer_covers_it() -> None:
    statement = Statement.from_json(allow("dynamodb:GetItem", ["arn:aws:s3:::x", TABLE]))
    request = Request("dynamodb:GetItem", TABLE)
    assert statement.matches(request)
    assert not statement.without_resource(TABLE).matches(request)
    assert statement.with_only_resource(TABLE).matches(request)
