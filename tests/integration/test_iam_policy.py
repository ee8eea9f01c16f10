"""The operator's IAM policies, deploy/iam/operator-policy*.json, grant what the operator calls and nothing more.

Two independent views of "what the operator calls" must agree with the policy, action by action:

- the recording: a full lifecycle of manifests/dev (both regions) and of manifests/prod (enhanced
  security: flow logs and their IAM role and log group; Retain: untagging instead of deleting) run
  through `OfflineRun` against the moto server -- converge, a no-op resync, for dev a spec change
  (bigger functions, longer logs, a stricter health check) and a drift repaired (changes made by
  hand behind the operator's back), destroy -- with every AWS operation counted by `CallLog`
  (botocore's before-call hook);
- the code: every boto3 client method named in the package (an AST scan), which also finds the
  calls the lifecycle never makes (drift repairs such as DisableKeyRotation, an interface VPC
  endpoint's ModifyVpcEndpoint), each of which needs its permission on the day it runs.

Operations map to IAM actions by service prefix (`resourcegroupstaggingapi` -> `tag`) and, for
S3, by name (its actions are not named after its operations); a few actions are authorised inside
another call and are listed in DEPENDENT with the reason. The policy must hold every action of
both views and nothing else.

Then with IAM's semantics (tests/iam_eval.py): the recording also keeps each call's parameters and
response, and tests/iam_arns.py turns each call into what AWS authorises -- the action on the ARN of
each resource it touches, with the condition keys the policies test, the DEPENDENT actions on the
resource AWS checks for them. Every such request must be allowed by the four policies together
(least privilege's first half: nothing the operator does is refused), and every statement, and
every Resource pattern of a statement with several, must be needed: without it, some recorded
request is denied (the second half: nothing is granted that the recording does not use). What no
recording can reach is listed in UNRECORDED with the reason.
"""

from __future__ import annotations

import ast
import itertools
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from cutlass_operator.api.environment import TierSettings
from cutlass_operator.offline import OfflineRun
from cutlass_operator.workflows.manifests import ManifestSet, load_manifests
from cutlass_operator.workflows.report import Mode
from tests.iam_arns import (
    REPLICA_ADDED,
    S3_ACTIONS,
    Call,
    CallRecorder,
    authorisations,
    direct_actions,
    fits_format,
    sar_arn_formats,
)
from tests.iam_eval import Decision, Request, Statement, evaluate, load_policies

from .accounts import in_account, operator_session

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
_REPLICAS = (
    # AWS's "Using IAM with global tables" (2019.11.21): adding a replica with UpdateTable needs these
    # in the replica's region; removing one needs DeleteTable and DeleteTableReplica there.
    *REPLICA_ADDED,
    "dynamodb:DeleteTable",
    "dynamodb:DeleteTableReplica",
    # The first replica in an account makes DynamoDB create its replication service-linked role.
    "iam:CreateServiceLinkedRole",
)
_CUSTOMER_KEY = ("kms:CreateGrant", "kms:DescribeKey")  # a table (or replica) under our KMS key
_FUNCTION_KEY = ("kms:CreateGrant", "kms:Encrypt")
_FUNCTION_VPC = ("ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs")

# Actions AWS authorises inside another operation: no recording sees them as calls of their own.
DEPENDENT: dict[str, tuple[str, ...]] = {
    "ec2:CreateFlowLogs": ("iam:PassRole", "ec2:CreateTags"),  # DeliverLogsPermissionArn; tags
    "dynamodb:CreateTable": (*_CUSTOMER_KEY, "dynamodb:TagResource"),
    "dynamodb:UpdateTable": (*_REPLICAS, *_CUSTOMER_KEY),
    "kms:CreateKey": ("kms:TagResource",),  # Tags on create
    "iam:CreateRole": ("iam:TagRole",),  # Tags on create
    "logs:CreateLogGroup": ("logs:TagResource",),  # tags on create
    # Tags on create; the role passed to Lambda; the package read from S3 with the caller's rights;
    # the environment variables encrypted under the region's key through a grant; the VPC's subnets
    # and security groups, which "Lambda uses your permissions to verify" (Lambda's VPC guide).
    "lambda:CreateFunction": ("lambda:TagResource", "iam:PassRole", "s3:GetObject", *_FUNCTION_KEY, *_FUNCTION_VPC),
    "lambda:UpdateFunctionConfiguration": ("iam:PassRole", *_FUNCTION_KEY, *_FUNCTION_VPC),
    "lambda:UpdateFunctionCode": ("s3:GetObject",),
    "lambda:CreateEventSourceMapping": ("lambda:TagResource",),  # Tags on create, on the mapping's ARN
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
        )
    },
    # Tags on create; an interface endpoint's private DNS associates the VPC with a private hosted zone
    # of AWS's own, with the caller's rights (AWS PrivateLink's guide), when created or switched on.
    "ec2:CreateVpcEndpoint": ("ec2:CreateTags", "route53:AssociateVPCWithHostedZone"),
    "ec2:ModifyVpcEndpoint": ("route53:AssociateVPCWithHostedZone",),
}

# Accounts of this module's own: other tests in the session use manifests/dev's account too.
ACCOUNTS = {"dev": "424242424201", "prod": "424242424203"}


# Where a module is not named after its service.
MODULE_STEMS = {"resourcegroupstaggingapi": "tags", "cognito-idp": "cognito"}


def iam_actions(operation: str) -> set[str]:
    """`service:Operation` (as CallLog records it) -> the IAM actions it needs, dependents included."""
    return {*direct_actions(operation), *DEPENDENT.get(operation, ())}


def granted_actions() -> set[str]:
    actions: set[str] = set()
    for statement in _statements():
        assert statement["Effect"] == "Allow", statement["Sid"]
        listed = statement["Action"]
        actions |= {listed} if isinstance(listed, str) else set(listed)
    return actions


# --- the recording --------------------------------------------------------------------------------------------


@dataclass
class Lifecycle:
    """What the lifecycles did: every call in the order made (per environment), and how long they took."""

    calls: dict[str, list[Call]]
    counted: dict[str, set[str]]  # the operations CallLog itself counted, per environment
    seconds: float


def changed_spec(manifests: ManifestSet) -> ManifestSet:
    """A spec change: bigger functions (a new version, the alias moved), longer log retention, a
    stricter health check (updated in place), and in London an interface endpoint for SQS (with its
    security group and private DNS, which the shipped manifests do not use)."""
    environments = []
    for env in manifests.environments:
        spec = env.spec
        update: dict[str, Any] = {"settings": TierSettings(lambda_memory_size=512, log_retention_days=14)}
        if spec.domain is not None:
            check = spec.domain.routing.health_check.model_copy(update={"failure_threshold": 5})
            routing = spec.domain.routing.model_copy(update={"health_check": check})
            update["domain"] = spec.domain.model_copy(update={"routing": routing})
        environments.append(env.model_copy(update={"spec": spec.model_copy(update=update)}))
    regions = []
    for region in manifests.regions:
        network = region.spec.network
        if region.spec.region == "london":
            endpoints = network.vpc_endpoints.model_copy(update={"interface": ["sqs"]})
            network = network.model_copy(update={"vpc_endpoints": endpoints})
        regions.append(region.model_copy(update={"spec": region.spec.model_copy(update={"network": network})}))
    return ManifestSet(environments, regions, manifests.secrets, manifests.documents)


def drift(account: str) -> None:
    """Changes made by hand to dev-london behind the operator's back (through a session of the tests' own,
    not recorded), each provoking a repair no converge makes, so those calls are recorded and proven too."""
    session = operator_session(account, "eu-west-2")
    ec2, iam, logs, kms = (session.client(s) for s in ("ec2", "iam", "logs", "kms"))
    workspace = [{"Name": "tag:cutlass.tech/workspace", "Values": ["dev-london"]}]
    # Security group rules: egress revoked, ingress opened (Authorize/RevokeSecurityGroup*).
    for group in ec2.describe_security_groups(Filters=workspace)["SecurityGroups"]:
        if group["IpPermissionsEgress"]:
            ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"])
        ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[ssh])
    # The private default route sent to the internet gateway (ReplaceRoute); a VPC tag removed (CreateTags).
    gateway = ec2.describe_internet_gateways(Filters=workspace)["InternetGateways"][0]["InternetGatewayId"]
    for table in ec2.describe_route_tables(Filters=workspace)["RouteTables"]:
        if any(r.get("NatGatewayId") and r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in table["Routes"]):
            ec2.replace_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    vpc = ec2.describe_vpcs(Filters=workspace)["Vpcs"][0]["VpcId"]
    ec2.delete_tags(Resources=[vpc], Tags=[{"Key": "CostCenter"}])
    # The interface endpoint taken out of a subnet (ModifyVpcEndpoint).
    for endpoint in ec2.describe_vpc_endpoints(Filters=workspace)["VpcEndpoints"]:
        if endpoint["VpcEndpointType"] == "Interface":
            ec2.modify_vpc_endpoint(VpcEndpointId=endpoint["VpcEndpointId"], RemoveSubnetIds=endpoint["SubnetIds"][:1])
    # A function's log group: retention dropped, a tag removed (PutRetentionPolicy, logs:TagResource).
    group_name = "/aws/lambda/cutlass-tech-fn-dev-london-credits"
    logs.delete_retention_policy(logGroupName=group_name)
    logs.untag_log_group(logGroupName=group_name, tags=["CostCenter"])
    # A function's role: description, tag and trust policy (UpdateRole, TagRole, UpdateAssumeRolePolicy).
    role = iam.list_roles(PathPrefix="/cutlass-tech/dev-london/functions/")["Roles"][0]["RoleName"]
    iam.update_role(RoleName=role, Description="changed by hand")
    iam.untag_role(RoleName=role, TagKeys=["CostCenter"])
    trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    iam.update_assume_role_policy(
        RoleName=role, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]})
    )
    # The region's key: rotation off, description changed (EnableKeyRotation, UpdateKeyDescription).
    aliases = kms.list_aliases()["Aliases"]
    key = next(a["TargetKeyId"] for a in aliases if a["AliasName"] == "alias/cutlass-tech-dev-london")
    kms.disable_key_rotation(KeyId=key)
    kms.update_key_description(KeyId=key, Description="changed by hand")
    _drift_application(session)


def _drift_application(session: Any) -> None:
    """The application's side of the drift: messaging, functions, users, DNS."""
    sqs, ses, lam, cognito, route53 = (session.client(s) for s in ("sqs", "ses", "lambda", "cognito-idp", "route53"))
    # The notifications queue: an attribute and a tag (SetQueueAttributes, TagQueue).
    queue = sqs.get_queue_url(QueueName="cutlass-tech-notifications-dev-london")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "31"})
    sqs.untag_queue(QueueUrl=queue, TagKeys=["CostCenter"])
    # An alert template's text (UpdateTemplate).
    template = ses.list_templates()["TemplatesMetadata"][0]["Name"]
    ses.update_template(Template={"TemplateName": template, "SubjectPart": "x", "TextPart": "x", "HtmlPart": "x"})
    # A function's tag and the notifier's batch size (lambda:TagResource, UpdateEventSourceMapping).
    function = lam.get_function(FunctionName="cutlass-tech-fn-dev-london-credits")["Configuration"]["FunctionArn"]
    lam.untag_resource(Resource=function, TagKeys=["CostCenter"])
    for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
        if ":function:cutlass-tech-fn-dev-london-notifier" in mapping["FunctionArn"]:
            lam.update_event_source_mapping(UUID=mapping["UUID"], BatchSize=5)
    # The user pool client's callback (UpdateUserPoolClient); the zone's comment (UpdateHostedZoneComment).
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    pool = next(p["Id"] for p in pools if p["Name"] == "cutlass-tech-users-dev-london")
    client = cognito.list_user_pool_clients(UserPoolId=pool)["UserPoolClients"][0]["ClientId"]
    cognito.update_user_pool_client(UserPoolId=pool, ClientId=client, CallbackURLs=["https://example.com/cb"])
    zone = route53.list_hosted_zones_by_name(DNSName="dev.cutlass.example.com.")["HostedZones"][0]["Id"]
    route53.update_hosted_zone_comment(Id=zone, Comment="changed by hand")


# The repairs the drift above must provoke: if one goes missing, the drift no longer proves it.
DRIFT_REPAIRS = {
    "cognito-idp:UpdateUserPoolClient",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:CreateTags",
    "ec2:ModifyVpcEndpoint",
    "ec2:ReplaceRoute",
    "ec2:RevokeSecurityGroupIngress",
    "iam:TagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "kms:EnableKeyRotation",
    "kms:UpdateKeyDescription",
    "lambda:TagResource",
    "lambda:UpdateEventSourceMapping",
    "logs:PutRetentionPolicy",
    "logs:TagResource",
    "route53:UpdateHostedZoneComment",
    "ses:UpdateTemplate",
    "sqs:SetQueueAttributes",
    "sqs:TagQueue",
}


@pytest.fixture(scope="module")
def lifecycle(moto_endpoint: str) -> Iterator[Lifecycle]:
    """Each environment's lifecycle, every call kept whole: converge, no-op resync, (dev: spec change,
    drift repaired), destroy."""
    logging.getLogger("cutlass_operator").setLevel(logging.WARNING)
    started = time.monotonic()
    calls: dict[str, list[Call]] = {}
    counted: dict[str, set[str]] = {}
    for env, account in ACCOUNTS.items():
        manifests = in_account(load_manifests([ROOT / "manifests" / env]), account)
        steps = [("converge", manifests, Mode.APPLY), ("no-op resync", manifests, Mode.APPLY)]
        if env == "dev":
            manifests = changed_spec(manifests)
            steps += [("spec change", manifests, Mode.APPLY), ("drift repair", manifests, Mode.APPLY)]
        steps.append(("destroy", manifests, Mode.DESTROY))
        recorder = CallRecorder(account=account)
        for phase, step_manifests, mode in steps:
            if phase == "drift repair":
                drift(account)
            recorder.phase = f"{env}: {phase}"
            run = OfflineRun(step_manifests, mode, echo=lambda _: None, calls=recorder)
            finished = run.run()
            errors = {name: r.first_error for name, r in run.reports.items() if r.first_error}
            assert finished, f"{env} {phase}: {errors or 'did not finish'}"
        calls[env], counted[env] = recorder.recorded, set(recorder.calls)
    yield Lifecycle(calls, counted, time.monotonic() - started)


@pytest.fixture(scope="module")
def recorded(lifecycle: Lifecycle) -> dict[str, set[str]]:
    """Operations of each environment's lifecycle."""
    return lifecycle.counted


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
    # 43 since dev's spec change and drift repair record 25 of the former 68 (UpdateHealthCheck,
    # ModifyVpcEndpoint, ReplaceRoute, UpdateAssumeRolePolicy...); among the rest, GetChange (moto's
    # changes are INSYNC at once) and API Gateway's TagResource (the moto server 404s it). 44 since
    # an assumed role's caller comes with AssumeRole's answer: GetCallerIdentity serves only
    # credentials that assume no role, which neither lifecycle uses.
    assert len(never_recorded) <= 44, " ".join(sorted(never_recorded))


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


# --- with IAM's semantics: every request allowed, every statement needed --------------------------------------------


@pytest.fixture(scope="module")
def authorised(lifecycle: Lifecycle) -> list[tuple[Call, list[Request]]]:
    """Each recorded call with the requests AWS authorises for it (tests/iam_arns.py)."""
    return [pair for calls in lifecycle.calls.values() for pair in authorisations(calls)]


def test_every_call_counted_was_recorded_with_its_parameters(lifecycle: Lifecycle) -> None:
    """The tests' botocore hook saw every operation CallLog counted, so the proof below misses none."""
    for env, calls in lifecycle.calls.items():
        assert {c.op for c in calls} == lifecycle.counted[env], env


def test_the_drift_is_repaired_with_the_calls_it_was_made_to_provoke(lifecycle: Lifecycle) -> None:
    repairs = {c.op for c in lifecycle.calls["dev"] if c.phase == "dev: drift repair"}
    assert repairs >= DRIFT_REPAIRS, f"no longer repaired: {sorted(DRIFT_REPAIRS - repairs)}"


def test_every_recorded_call_is_allowed_on_the_resources_it_touches(
    authorised: list[tuple[Call, list[Request]]],
) -> None:
    statements = load_policies(POLICIES)
    requests = [(call, request) for call, found in authorised for request in found]
    denied = [(c, r, d) for c, r in requests if (d := evaluate(statements, r)) != Decision.ALLOW]
    shown = "\n".join(f"  {call}: {request} -> {decision}" for call, request, decision in denied[:40])
    assert not denied, f"the policies deny {len(denied)} of {len(requests)} requests; fix the policy:\n{shown}"


def test_every_requested_arn_is_of_a_resource_type_its_action_accepts(
    authorised: list[tuple[Call, list[Request]]],
) -> None:
    """The ARNs tests/iam_arns.py builds against the Service Authorization Reference (parliament's copy):
    a named resource fits one of the action's resource types; `*` only for an action that takes none."""
    misfits: dict[str, str] = {}
    for call, requests in authorised:
        for request in requests:
            formats = sar_arn_formats(request.action)
            if formats is None:
                misfits[request.action] = f"{call}: {request.action} is not in the Reference"
            elif request.resource == "*":
                if formats:  # the action takes a resource: the mapping must name it
                    misfits[request.action] = f"{call}: {request.action} on * though it takes {formats}"
            elif not any(fits_format(request.resource, f) for f in formats):
                misfits[request.action] = f"{call}: {request.resource} is not one of {formats or 'no resource'}"
    assert not misfits, "\n".join(misfits.values())


def test_each_call_implies_only_the_actions_dependent_lists_for_it(
    authorised: list[tuple[Call, list[Request]]],
) -> None:
    """The ARN view and the action view name the same dependent actions."""
    unlisted = {
        (call.op, request.action)
        for call, requests in authorised
        for request in requests
        if request.action not in iam_actions(call.op)
    }
    assert not unlisted, f"add to DEPENDENT (operation, action): {sorted(unlisted)}"


# Statements (pattern None) and Resource patterns no recorded call needs, each with the reason it is
# granted anyway. The test fails both ways: something unneeded and unlisted, or listed and now needed.
UNRECORDED: dict[tuple[str, str | None], str] = {
    ("StsAccountGuard", None): (
        "sts:GetCallerIdentity proves the account of credentials that assume no role (a Secret's keys, the "
        "operator's own chain); both lifecycles assume a role, whose AssumeRole answer names the caller (the code "
        "scan finds it in aws/guard.py; AWS lets every identity call it whatever the policy)"
    ),
    ("Route53Changes", None): (
        "route53:GetChange: the zone and record kinds wait with it while a change is PENDING, as it is for about a "
        "minute in AWS; moto applies every change at once (INSYNC), so no lifecycle records it (the code scan finds "
        "it in resources/route53.py)"
    ),
    ("ApigatewayWorkspaceApis", "arn:aws:apigateway:*::/tags/*"): (
        "apigateway:PUT/DELETE on /tags/{arn} (TagResource, UntagResource) repair the tags of a REST API, stage, "
        "usage plan, API key or domain name after spec.tags changes; the moto server answers /tags/{arn} with 404 "
        "(it does not route the ARN's encoded slashes), so a tag change cannot complete against it and no lifecycle "
        "records the call (the code scan finds them in resources/apigateway.py)"
    ),
}


@dataclass
class Necessity:
    """For each statement, and each Resource pattern of a statement with several: a recorded request
    the policies deny without it (its witness), or none."""

    calls: int
    requests: list[Request]
    witnesses: dict[tuple[str, str | None], Request | None]

    def unneeded(self) -> set[tuple[str, str | None]]:
        return {part for part, witness in self.witnesses.items() if witness is None}

    def summary(self) -> str:
        statements = [p for p in self.witnesses if p[1] is None]
        patterns = [p for p in self.witnesses if p[1] is not None]
        return (
            f"{self.calls} calls evaluated ({len(self.requests)} distinct requests); "
            f"{sum(self.witnesses[p] is not None for p in statements)} of {len(statements)} statements and "
            f"{sum(self.witnesses[p] is not None for p in patterns)} of {len(patterns)} Resource patterns "
            "(of statements with several) proven necessary"
        )

    def proofs(self) -> str:
        """Each statement or pattern with the request denied without it."""
        return "\n".join(f"  {sid} {pattern or ''}: {witness}" for (sid, pattern), witness in self.witnesses.items())


def _witness(policy: list[Statement], requests: list[Request]) -> Request | None:
    return next((r for r in requests if evaluate(policy, r) != Decision.ALLOW), None)


@pytest.fixture(scope="module")
def necessity(authorised: list[tuple[Call, list[Request]]]) -> Necessity:
    statements = load_policies(POLICIES)
    unique = list({r.key(): r for _, found in authorised for r in found}.values())
    witnesses: dict[tuple[str, str | None], Request | None] = {}
    for i, statement in enumerate(statements):
        # Only requests the part allows can be denied without it: evaluate those against the rest.
        others = statements[:i] + statements[i + 1 :]
        covered = [r for r in unique if statement.matches(r)]
        witnesses[(statement.sid, None)] = _witness(others, covered)
        if len(statement.resources) < 2:
            continue
        for pattern in statement.resources:
            covered = [r for r in unique if statement.with_only_resource(pattern).matches(r)]
            witnesses[(statement.sid, pattern)] = _witness([*others, statement.without_resource(pattern)], covered)
    return Necessity(len(authorised), unique, witnesses)


def test_every_statement_and_resource_pattern_is_needed_by_a_recorded_call(
    necessity: Necessity, lifecycle: Lifecycle
) -> None:
    print(f"{necessity.summary()}; the lifecycles took {lifecycle.seconds:.0f} s\n{necessity.proofs()}")
    unneeded = necessity.unneeded()
    unexpected = sorted(unneeded - UNRECORDED.keys(), key=str)
    assert not unexpected, (
        f"{necessity.summary()}.\nNo recorded call needs these (statement, pattern): remove them from the policy, "
        f"record a call that needs them, or list them in UNRECORDED with the reason: {unexpected}"
    )


def test_what_unrecorded_justifies_is_still_in_the_policy_and_still_unneeded(necessity: Necessity) -> None:
    gone = sorted(UNRECORDED.keys() - necessity.witnesses.keys(), key=str)
    assert not gone, f"no longer in the policies (drop them from UNRECORDED): {gone}"
    proven = {str(part): str(necessity.witnesses[part]) for part in UNRECORDED.keys() - necessity.unneeded()}
    assert not proven, f"now needed by a recorded call (drop them from UNRECORDED): {proven}"


def test_the_proof_covers_every_phase_of_both_lifecycles(authorised: list[tuple[Call, list[Request]]]) -> None:
    """A recording that stops early (a phase making no calls) would prove less than it claims."""
    phases = {call.phase for call, _ in authorised}
    expected = {f"{env}: {p}" for env in ACCOUNTS for p in ("converge", "no-op resync", "destroy")}
    assert expected | {"dev: spec change", "dev: drift repair"} <= phases, sorted(phases)
