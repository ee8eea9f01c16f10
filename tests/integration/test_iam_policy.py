"""The operator's IAM policies, deploy/iam/operator-policy*.json, grant exactly what the operator calls.

Two independent views of "what the operator calls" must agree with the policy:

- the recording: a full lifecycle of manifests/dev (both regions) and of manifests/prod (enhanced
  security: flow logs and their IAM role and log group; Retain: untagging instead of deleting) run
  through `OfflineRun` against the moto server -- converge, a no-op resync, destroy -- with every
  AWS operation counted by `CallLog` (botocore's before-call hook);
- the code: every boto3 client method named in the package (an AST scan), which also finds the
  calls the lifecycle never makes (drift repairs such as DisableKeyRotation, an interface VPC
  endpoint's ModifyVpcEndpoint), each of which needs its permission on the day it runs.

Operations map to IAM actions by service prefix (`resourcegroupstaggingapi` -> `tag`) and, for
S3, by name (its actions are not named after its operations); a few actions are authorised inside
another call and are listed in DEPENDENT with the reason. The policy must hold every action of
both views and nothing else.
"""

from __future__ import annotations

import ast
import itertools
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from cutlass_operator.aws.calls import CallLog
from cutlass_operator.offline import OfflineRun
from cutlass_operator.workflows.manifests import load_manifests
from cutlass_operator.workflows.report import Mode

from .accounts import in_account

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "cutlass_operator"
# Four managed policies, since one holds at most 6,144 characters: the account, network and data
# (operator-policy.json), the application's functions and messaging, its API, and its DNS (Route 53).
POLICIES = sorted((ROOT / "deploy" / "iam").glob("operator-policy*.json"))

# The services the operator's clients talk to (aws/session.py makes no others).
SERVICES = (
    "apigateway",
    "cloudwatch",
    "cognito-idp",
    "dynamodb",
    "ec2",
    "iam",
    "kms",
    "lambda",
    "logs",
    "resourcegroupstaggingapi",
    "route53",
    "s3",
    "ses",
    "sqs",
    "sts",
)
IAM_PREFIX = {"resourcegroupstaggingapi": "tag"}

# S3's IAM actions are not named after its API operations.
S3_ACTIONS = {
    "AbortMultipartUpload": ("s3:AbortMultipartUpload",),
    "DeleteObjects": ("s3:DeleteObject", "s3:DeleteObjectVersion"),  # versioned buckets: both
    "GetBucketEncryption": ("s3:GetEncryptionConfiguration",),
    "PutBucketEncryption": ("s3:PutEncryptionConfiguration",),
    "GetBucketLifecycleConfiguration": ("s3:GetLifecycleConfiguration",),
    "PutBucketLifecycleConfiguration": ("s3:PutLifecycleConfiguration",),
    "GetPublicAccessBlock": ("s3:GetBucketPublicAccessBlock",),
    "PutPublicAccessBlock": ("s3:PutBucketPublicAccessBlock",),
    "ListMultipartUploads": ("s3:ListBucketMultipartUploads",),
    "ListObjectVersions": ("s3:ListBucketVersions",),
    "ListObjectsV2": ("s3:ListBucket",),
}

_REPLICAS = (
    # AWS's "Using IAM with global tables" (2019.11.21): adding a replica with UpdateTable needs these
    # in the replica's region; removing one needs DeleteTable and DeleteTableReplica there.
    "dynamodb:CreateTable",
    "dynamodb:CreateTableReplica",
    "dynamodb:Scan",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
    "dynamodb:PutItem",
    "dynamodb:GetItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteTable",
    "dynamodb:DeleteTableReplica",
    # The first replica in an account makes DynamoDB create its replication service-linked role.
    "iam:CreateServiceLinkedRole",
)
_CUSTOMER_KEY = ("kms:CreateGrant", "kms:DescribeKey")  # a table (or replica) under our KMS key

# Actions AWS authorises inside another operation: no recording sees them as calls of their own.
DEPENDENT: dict[str, tuple[str, ...]] = {
    "ec2:CreateFlowLogs": ("iam:PassRole", "ec2:CreateTags"),  # DeliverLogsPermissionArn; tags
    "dynamodb:CreateTable": (*_CUSTOMER_KEY, "dynamodb:TagResource"),
    "dynamodb:UpdateTable": (*_REPLICAS, *_CUSTOMER_KEY),
    "kms:CreateKey": ("kms:TagResource",),  # Tags on create
    "iam:CreateRole": ("iam:TagRole",),  # Tags on create
    "logs:CreateLogGroup": ("logs:TagResource",),  # tags on create
    # Tags on create; the role passed to Lambda; the package read from S3 with the caller's rights;
    # the environment variables encrypted under the region's key through a grant.
    "lambda:CreateFunction": ("lambda:TagResource", "iam:PassRole", "s3:GetObject", "kms:CreateGrant", "kms:Encrypt"),
    "lambda:UpdateFunctionConfiguration": ("iam:PassRole", "kms:CreateGrant", "kms:Encrypt"),
    "lambda:UpdateFunctionCode": ("s3:GetObject",),
    "sqs:CreateQueue": ("sqs:TagQueue",),  # tags on create
    "cloudwatch:PutMetricAlarm": ("cloudwatch:TagResource",),  # tags on create
    "cognito-idp:CreateUserPool": ("cognito-idp:TagResource",),  # UserPoolTags on create
    # Route 53 needs none: tags are a call of their own after each create (ChangeTagsForResource), and
    # CreateHostedZone's dependent ec2:DescribeVpcs is for private zones (a VPC), which the operator never makes.
    **{  # EC2 tags on create (TagSpecifications) need ec2:CreateTags
        f"ec2:{op}": ("ec2:CreateTags",)
        for op in (
            "AllocateAddress",
            "CreateInternetGateway",
            "CreateNatGateway",
            "CreateRouteTable",
            "CreateSecurityGroup",
            "CreateSubnet",
            "CreateVpc",
            "CreateVpcEndpoint",
        )
    },
}

# Accounts of this module's own: other tests in the session use manifests/dev's account too.
ACCOUNTS = {"dev": "424242424201", "prod": "424242424203"}


# Where a module is not named after its service.
MODULE_STEMS = {"resourcegroupstaggingapi": "tags", "cognito-idp": "cognito"}


def _http_method(operation: str) -> str:
    """API Gateway's IAM actions are the HTTP methods of its REST API (`apigateway:POST` ...)."""
    model = botocore.session.get_session().get_service_model("apigateway")
    return str(model.operation_model(operation).http["method"])


def iam_actions(operation: str) -> set[str]:
    """`service:Operation` (as CallLog records it) -> the IAM actions it needs, dependents included."""
    service, name = operation.split(":", 1)
    if service == "apigateway":
        direct = (f"apigateway:{_http_method(name)}",)
    elif service == "s3":
        direct = S3_ACTIONS.get(name, (f"s3:{name}",))
    else:
        direct = (f"{IAM_PREFIX.get(service, service)}:{name}",)
    return {*direct, *DEPENDENT.get(operation, ())}


def granted_actions() -> set[str]:
    actions: set[str] = set()
    for statement in _statements():
        assert statement["Effect"] == "Allow", statement["Sid"]
        listed = statement["Action"]
        actions |= {listed} if isinstance(listed, str) else set(listed)
    return actions


# --- the recording --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recorded(moto_endpoint: str) -> Iterator[dict[str, set[str]]]:
    """Operations of each environment's lifecycle: converge, no-op resync, destroy."""
    logging.getLogger("cutlass_operator").setLevel(logging.WARNING)
    operations: dict[str, set[str]] = {}
    for env, account in ACCOUNTS.items():
        manifests = in_account(load_manifests([ROOT / "manifests" / env]), account)
        calls = CallLog()
        for mode in (Mode.APPLY, Mode.APPLY, Mode.DESTROY):
            run = OfflineRun(manifests, mode, echo=lambda _: None, calls=calls)
            finished = run.run()
            errors = {name: r.first_error for name, r in run.reports.items() if r.first_error}
            assert finished, f"{env} {mode}: {errors or 'did not finish'}"
        operations[env] = set(calls.calls)
    yield operations


# --- the code ---------------------------------------------------------------------------------------------------


def operations_in_code() -> dict[str, set[str]]:
    """Every `service:Operation` the package can call -> the modules that call it.

    A method name shared by several services (tag_resource) belongs to the service its module is
    named after (resources/kms.py -> kms). The emulator and the demo are not the operator, and
    the application's functions (app/) run under their own execution roles, not the operator's.
    """
    session = botocore.session.get_session()
    by_method: dict[str, set[str]] = {}
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            by_method.setdefault(xform_name(operation), set()).add(f"{service}:{operation}")
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = str(path.relative_to(PACKAGE))
        if module.startswith(("emulator/", "app/", "demo")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method = node.func.attr
            if method in ("get_paginator", "get_waiter") and node.args and isinstance(node.args[0], ast.Constant):
                method = str(node.args[0].value)
            candidates = by_method.get(method, set())
            if len(candidates) > 1:
                candidates = {c for c in candidates if MODULE_STEMS.get(c.split(":")[0], c.split(":")[0]) in module}
            for operation in candidates:
                found.setdefault(operation, set()).add(module)
    return found


# --- the checks ---------------------------------------------------------------------------------------------------


def test_every_operation_of_the_lifecycles_is_granted(recorded: dict[str, set[str]]) -> None:
    granted = granted_actions()
    missing = {
        op: sorted(iam_actions(op) - granted)
        for op in sorted(set().union(*recorded.values()))
        if iam_actions(op) - granted
    }
    assert not missing, f"the policy lacks actions the lifecycle used: {missing}"


def test_the_dev_lifecycle_alone_is_granted(recorded: dict[str, set[str]]) -> None:
    """The demo environment as shipped (both regions) needs nothing prod adds to be granted."""
    assert recorded["dev"], "the dev lifecycle made no AWS calls"
    assert {a for op in recorded["dev"] for a in iam_actions(op)} <= granted_actions()


def test_the_code_scan_sees_every_recorded_operation(recorded: dict[str, set[str]]) -> None:
    """Else the scan misses a way the code calls AWS, and the checks below prove less."""
    unseen = set().union(*recorded.values()) - operations_in_code().keys()
    assert not unseen, f"recorded but not found in the code: {sorted(unseen)}"


def test_every_operation_in_the_code_is_granted() -> None:
    granted = granted_actions()
    missing = {
        op: (sorted(iam_actions(op) - granted), sorted(modules))
        for op, modules in sorted(operations_in_code().items())
        if iam_actions(op) - granted
    }
    assert not missing, f"the policy lacks actions the code calls (operation: actions, modules): {missing}"


def test_the_policy_grants_nothing_the_operator_never_uses(recorded: dict[str, set[str]]) -> None:
    used = {a for op in set().union(*recorded.values()) | operations_in_code().keys() for a in iam_actions(op)}
    unused = granted_actions() - used
    assert not unused, f"the policy grants actions nothing calls: {sorted(unused)}"


def test_the_lifecycles_exercise_most_of_the_code(recorded: dict[str, set[str]]) -> None:
    """The calls only the code scan vouches for stay a short, known list (drift repairs, options the
    shipped manifests do not use); a longer one means the recording has stopped covering the code."""
    never_recorded = operations_in_code().keys() - set().union(*recorded.values())
    # Route 53 adds three: GetChange (moto's changes are INSYNC at once), and the drift repairs
    # UpdateHostedZoneComment and UpdateHealthCheck.
    assert len(never_recorded) <= 68, " ".join(sorted(never_recorded))


# --- the policy's shape -------------------------------------------------------------------------------------------


def _statements() -> list[dict[str, Any]]:
    return [statement for policy in POLICIES for statement in json.loads(policy.read_text())["Statement"]]


def test_statements_have_unique_sids_and_each_covers_one_service() -> None:
    sids = [s["Sid"] for s in _statements()]
    assert len(sids) == len(set(sids)), sids
    for statement in _statements():
        services = {action.split(":")[0] for action in statement["Action"]}
        assert len(services) == 1, (statement["Sid"], services)
        assert statement["Sid"].lower().startswith(services.pop().replace("-", "")), statement["Sid"]


def test_no_action_is_a_wildcard() -> None:
    assert not [a for s in _statements() for a in s["Action"] if "*" in a]


def test_tables_buckets_roles_log_groups_and_aliases_are_scoped_by_name() -> None:
    """Everything AWS lets a policy name is named: the rest is listed in deploy/iam/README.md."""
    scoped = {
        "dynamodb": "arn:aws:dynamodb:*:*:table/cutlass-tech-*",
        "s3": "arn:aws:s3:::cutlass-tech-*",
        "logs": "arn:aws:logs:*:*:log-group:/aws/*/cutlass-tech-*",
    }
    for statement in _statements():
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if resources == ["*"]:
            assert statement["Sid"].endswith(("Read", "Unscoped", "Network", "AccountGuard")), statement["Sid"]
            continue
        service = statement["Action"][0].split(":")[0]
        for resource in resources:
            if service in scoped:
                assert resource.startswith(scoped[service]), (statement["Sid"], resource)
            if service == "iam" and statement["Sid"] != "IamDynamoDbReplicationRole":
                assert resource == "arn:aws:iam::*:role/cutlass-tech/*", (statement["Sid"], resource)
    readme = (POLICIES[0].parent / "README.md").read_text()
    for statement in _statements():
        if statement["Resource"] == "*":
            assert statement["Sid"] in readme, f"{statement['Sid']} takes * and deploy/iam/README.md does not say why"


def test_each_policy_fits_a_managed_policy() -> None:
    """IAM's limit for a managed policy: 6,144 characters, whitespace not counted."""
    assert [p.name for p in POLICIES] == [
        "operator-policy-api.json",
        "operator-policy-application.json",
        "operator-policy-dns.json",
        "operator-policy.json",
    ]
    for policy in POLICIES:
        assert len(re.sub(r"\s", "", policy.read_text())) <= 6144, policy.name


def test_dependent_actions_name_real_operations() -> None:
    """Guard against typos in the map above: its keys are operations of the services' models."""
    session = botocore.session.get_session()
    for operation in itertools.chain(DEPENDENT, (f"s3:{op}" for op in S3_ACTIONS)):
        service, name = operation.split(":")
        assert name in session.get_service_model(service).operation_names, operation
