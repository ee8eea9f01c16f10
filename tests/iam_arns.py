"""What AWS authorises when the operator calls an operation: the IAM action(s), the ARN of every
resource checked, and the condition keys deploy/iam's policies test.

`CallRecorder` is the product's `CallLog` plus a test-side botocore hook that keeps each call's
parameters, response, region and account. `requests_for` turns one recorded call into the
`Request`s tests/iam_eval.py evaluates: the operation's own action on the resources it names (built
from its parameters, its region and account, and for a create the id its response returns), and the
actions AWS authorises inside it (a role passed, a key granted, tags applied on create, a replica's
table in its region) on the resource AWS checks for each.

ARN formats follow AWS's Service Authorization Reference (parliament bundles it; an integration
test checks every ARN built here against the resource types the action accepts there). Where an
action takes no resource, the request names `*`. Where a resource's ARN needs what the call itself
does not carry (an IAM role's path, the key an alias points to, the route table of an association,
the function of an event source mapping), `Index` knows it from the calls before.
"""

from __future__ import annotations

import functools
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import botocore.session

from cutlass_operator.aws.calls import CallLog
from tests.iam_eval import ContextValue, Request

# --- IAM action names ---------------------------------------------------------------------------------------------

IAM_PREFIX = {"resourcegroupstaggingapi": "tag"}

# S3's IAM actions are not named after its API operations.
S3_ACTIONS = {
    "AbortMultipartUpload": ("s3:AbortMultipartUpload",),
    # Per object: DeleteObjectVersion when the object names a version, DeleteObject when not.
    "DeleteObjects": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
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


@functools.cache
def _model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def direct_actions(operation: str) -> tuple[str, ...]:
    """`service:Operation` (as CallLog records it) -> the IAM actions of the operation itself."""
    service, name = operation.split(":", 1)
    if service == "apigateway":  # API Gateway's actions are the HTTP methods of its REST API
        return (f"apigateway:{_model(service).operation_model(name).http['method']}",)
    if service == "s3":
        return S3_ACTIONS.get(name, (f"s3:{name}",))
    return (f"{IAM_PREFIX.get(service, service)}:{name}",)


# --- the recording ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One AWS call as the operator made it, with what AWS answered."""

    service: str
    operation: str
    region: str
    account: str
    params: Mapping[str, Any]
    response: Mapping[str, Any]
    phase: str = ""

    @property
    def op(self) -> str:
        return f"{self.service}:{self.operation}"

    @property
    def error(self) -> str | None:
        error = self.response.get("Error")
        return str(error.get("Code")) if isinstance(error, Mapping) else None

    def __str__(self) -> str:
        return f"{self.phase}: {self.op} in {self.region or 'global'}"


def _snapshot(value: Any) -> Any:
    """A copy of parameters or a response that outlives the call: streams and bytes become placeholders."""
    if isinstance(value, Mapping):
        return {k: _snapshot(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [_snapshot(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool | datetime | date):
        return value
    return f"<{type(value).__name__}>"


@dataclass
class CallRecorder(CallLog):
    """The product's CallLog, plus a botocore hook of the tests' own keeping every call whole.

    Parameters are taken at `before-parameter-build` (as the caller passed them, before botocore
    serialises them) and kept in botocore's per-call context until `after-call`, which brings the
    parsed response, error responses included: AWS authorises before it looks for the resource.
    """

    account: str = ""
    phase: str = ""
    recorded: list[Call] = field(default_factory=list)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def attach(self, client: Any) -> None:
        super().attach(client)
        service = client.meta.service_model.service_name
        region = client.meta.region_name or ""

        def keep_params(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["tests.iam_arns.params"] = _snapshot(params)

        def keep_call(model: Any, parsed: Any, context: dict[str, Any], **_: Any) -> None:
            response = _snapshot(parsed) if isinstance(parsed, Mapping) else {}
            call = Call(
                service,
                model.name,
                region,
                self.account,
                context.get("tests.iam_arns.params", {}),
                response,
                self.phase,
            )
            with self._guard:
                self.recorded.append(call)

        client.meta.events.register("before-parameter-build", keep_params)
        client.meta.events.register("after-call", keep_call)


# --- what earlier calls taught ------------------------------------------------------------------------------------


@dataclass
class Index:
    """Facts an ARN needs that the call at hand does not carry, learnt from the calls before it."""

    role_arns: dict[tuple[str, str], str] = field(default_factory=dict)  # (account, name) -> ARN with its path
    alias_targets: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (account, region, alias) -> key
    associations: dict[tuple[str, str, str], tuple[str, str | None]] = field(default_factory=dict)
    mapping_functions: dict[tuple[str, str, str], str] = field(default_factory=dict)  # ESM UUID -> function

    def learn(self, call: Call) -> None:
        learn = _LEARN.get(call.op)
        if learn is not None and call.error is None:
            learn(self, call)


def _learn_roles(index: Index, call: Call) -> None:
    roles = call.response.get("Roles") or [call.response.get("Role") or {}]
    for role in roles:
        if role.get("Arn"):
            index.role_arns[(call.account, role["RoleName"])] = role["Arn"]


def _learn_aliases(index: Index, call: Call) -> None:
    if call.operation == "ListAliases":
        for alias in call.response.get("Aliases", []):
            if alias.get("TargetKeyId"):
                index.alias_targets[(call.account, call.region, alias["AliasName"])] = alias["TargetKeyId"]
    elif call.operation == "DeleteAlias":
        index.alias_targets.pop((call.account, call.region, call.params["AliasName"]), None)
    else:  # CreateAlias, UpdateAlias
        index.alias_targets[(call.account, call.region, call.params["AliasName"])] = call.params["TargetKeyId"]


def _learn_associations(index: Index, call: Call) -> None:
    if call.operation == "AssociateRouteTable":
        where = (call.account, call.region, call.response["AssociationId"])
        index.associations[where] = (call.params["RouteTableId"], call.params.get("SubnetId"))
        return
    tables = call.response.get("RouteTables") or [call.response.get("RouteTable") or {}]
    for table in tables:
        for association in table.get("Associations", []):
            where = (call.account, call.region, association["RouteTableAssociationId"])
            index.associations[where] = (association["RouteTableId"], association.get("SubnetId"))


def _learn_mappings(index: Index, call: Call) -> None:
    for mapping in call.response.get("EventSourceMappings") or [call.response]:
        if mapping.get("UUID") and mapping.get("FunctionArn"):
            index.mapping_functions[(call.account, call.region, mapping["UUID"])] = mapping["FunctionArn"]


_LEARN: dict[str, Callable[[Index, Call], None]] = {
    "iam:CreateRole": _learn_roles,
    "iam:GetRole": _learn_roles,
    "iam:ListRoles": _learn_roles,
    "kms:CreateAlias": _learn_aliases,
    "kms:UpdateAlias": _learn_aliases,
    "kms:DeleteAlias": _learn_aliases,
    "kms:ListAliases": _learn_aliases,
    "ec2:AssociateRouteTable": _learn_associations,
    "ec2:CreateRouteTable": _learn_associations,
    "ec2:DescribeRouteTables": _learn_associations,
    "lambda:CreateEventSourceMapping": _learn_mappings,
    "lambda:GetEventSourceMapping": _learn_mappings,
    "lambda:UpdateEventSourceMapping": _learn_mappings,
    "lambda:ListEventSourceMappings": _learn_mappings,
}


# --- building requests --------------------------------------------------------------------------------------------

Rule = Callable[[Call, Index], list[Request]]


def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def own(call: Call, *resources: str, **context: ContextValue) -> list[Request]:
    """The operation's own action on each resource it names (several: AWS checks each)."""
    (action,) = direct_actions(call.op)
    return [Request(action, resource, dict(context)) for resource in resources]


def on_itself(call: Call, _: Index) -> list[Request]:
    """An action that takes no resource: AWS checks it against `*`."""
    return own(call, "*")


def _by_param(param: str, to_arn: Callable[[Call, str], str]) -> Rule:
    """The resource named by one parameter (a string, or a list of them)."""

    def rule(call: Call, _: Index) -> list[Request]:
        value = call.params[param]
        names = value if isinstance(value, list) else [value]
        return own(call, *(to_arn(call, name) for name in names))

    return rule


def _kms_grant(key: str, via: str, region: str, *actions: str) -> list[Request]:
    """What a service asks of KMS with the caller's rights while it sets up a resource under the key:
    it calls through itself (kms:ViaService), and a grant it makes is for an AWS resource
    (kms:GrantIsForAWSResource)."""
    through: dict[str, ContextValue] = {"kms:ViaService": f"{via}.{region}.amazonaws.com"}
    grant = {**through, "kms:GrantIsForAWSResource": "true"}
    return [Request(action, key, grant if action == "kms:CreateGrant" else through) for action in actions]


def _pass_role(role_arn: str, service: str) -> Request:
    return Request("iam:PassRole", role_arn, {"iam:PassedToService": f"{service}.amazonaws.com"})


# --- STS --------------------------------------------------------------------------------------------


def _sts_assume_role(call: Call, _: Index) -> list[Request]:
    return own(call, call.params["RoleArn"])


# --- DynamoDB -----------------------------------------------------------------------------------------------------

REPLICA_ADDED = (
    # AWS's "Using IAM with global tables" (version 2019.11.21): what adding a replica needs in the
    # replica's region, on the table there.
    "dynamodb:CreateTable",
    "dynamodb:CreateTableReplica",
    "dynamodb:Scan",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
    "dynamodb:PutItem",
    "dynamodb:GetItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
)
REPLICA_REMOVED = ("dynamodb:DeleteTable", "dynamodb:DeleteTableReplica")
REPLICATION_ROLE = "role/aws-service-role/replication.dynamodb.amazonaws.com/AWSServiceRoleForDynamoDBReplication"


def table_arn(call: Call, name: str, region: str | None = None) -> str:
    if name.startswith("arn:"):
        return name
    return _arn("dynamodb", region or call.region, call.account, f"table/{name}")


def _dynamodb_table(call: Call, _: Index) -> list[Request]:
    return own(call, table_arn(call, call.params["TableName"]))


def _dynamodb_resource(call: Call, _: Index) -> list[Request]:
    return own(call, call.params["ResourceArn"])


def _dynamodb_create_table(call: Call, index: Index) -> list[Request]:
    table = table_arn(call, call.params["TableName"])
    requests = own(call, table)
    if call.params.get("Tags"):
        requests.append(Request("dynamodb:TagResource", table))
    key = call.params.get("SSESpecification", {}).get("KMSMasterKeyId")
    if key:
        requests += _kms_grant(
            _kms_key_or_fail(call, index, key), "dynamodb", call.region, "kms:CreateGrant", "kms:DescribeKey"
        )
    return requests


def _dynamodb_update_table(call: Call, index: Index) -> list[Request]:
    name = call.params["TableName"]
    requests = own(call, table_arn(call, name))
    key = call.params.get("SSESpecification", {}).get("KMSMasterKeyId")
    if key:
        requests += _kms_grant(
            _kms_key_or_fail(call, index, key), "dynamodb", call.region, "kms:CreateGrant", "kms:DescribeKey"
        )
    for update in call.params.get("ReplicaUpdates", []):
        if "Create" in update:
            region = update["Create"]["RegionName"]
            replica = table_arn(call, name, region)
            requests += [Request(action, replica) for action in REPLICA_ADDED]
            # The first replica in an account makes DynamoDB create its replication role.
            requests.append(
                Request(
                    "iam:CreateServiceLinkedRole",
                    _arn("iam", "", call.account, REPLICATION_ROLE),
                    {"iam:AWSServiceName": "replication.dynamodb.amazonaws.com"},
                )
            )
            replica_key = update["Create"].get("KMSMasterKeyId")
            if replica_key:
                key_arn = _kms_key_or_fail(call, index, replica_key, region)
                requests += _kms_grant(key_arn, "dynamodb", region, "kms:CreateGrant", "kms:DescribeKey")
        if "Delete" in update:
            replica = table_arn(call, name, update["Delete"]["RegionName"])
            requests += [Request(action, replica) for action in REPLICA_REMOVED]
    return requests


# --- EC2 ----------------------------------------------------------------------------------------------------------

# An EC2 id's prefix names its ARN's resource type (the longest prefix wins: `vpce-` is not `vpc-`).
EC2_TYPES = {
    "vpc-": "vpc",
    "subnet-": "subnet",
    "rtb-": "route-table",
    "igw-": "internet-gateway",
    "nat-": "natgateway",
    "eipalloc-": "elastic-ip",
    "sg-": "security-group",
    "sgr-": "security-group-rule",
    "vpce-": "vpc-endpoint",
    "fl-": "vpc-flow-log",
}


def ec2_arn(call: Call, resource_id: str) -> str:
    prefix = max((p for p in EC2_TYPES if resource_id.startswith(p)), key=len, default=None)
    if prefix is None:
        raise LookupError(f"{call}: no ARN type for the EC2 id {resource_id!r}: add its prefix to EC2_TYPES")
    return _arn("ec2", call.region, call.account, f"{EC2_TYPES[prefix]}/{resource_id}")


def ec2_new(call: Call, resource_type: str) -> str:
    """What EC2 authorises for a resource a call creates: its type, with no id yet."""
    return _arn("ec2", call.region, call.account, f"{resource_type}/*")


def _ec2_ids(call: Call, *params: str) -> list[str]:
    found: list[str] = []
    for param in params:
        value = call.params.get(param)
        found += value if isinstance(value, list) else [value] if value else []
    return [ec2_arn(call, resource_id) for resource_id in found]


def _ec2_named(*params: str) -> Rule:
    """Every resource the call names by id, in the parameters given."""

    def rule(call: Call, _: Index) -> list[Request]:
        return own(call, *_ec2_ids(call, *params))

    return rule


def _ec2_create(resource_type: str, *params: str) -> Rule:
    """A create: the new resource (type only), the existing ones it names, and its tags on create."""

    def rule(call: Call, _: Index) -> list[Request]:
        requests = own(call, ec2_new(call, resource_type), *_ec2_ids(call, *params))
        for spec in call.params.get("TagSpecifications", []):
            context: dict[str, ContextValue] = {"ec2:CreateAction": call.operation}
            requests.append(Request("ec2:CreateTags", ec2_new(call, spec["ResourceType"]), context))
        return requests

    return rule


def _private_dns(call: Call) -> list[Request]:
    """An interface endpoint's private DNS: EC2 associates the VPC with a private hosted zone of AWS's
    own, with the caller's rights (AWS PrivateLink's guide); the zone's id is AWS's, unknown to the
    caller, so any zone id."""
    if call.params.get("PrivateDnsEnabled") and call.params.get("VpcEndpointType", "Interface") == "Interface":
        return [Request("route53:AssociateVPCWithHostedZone", "arn:aws:route53:::hostedzone/*")]
    return []


def _ec2_create_vpc_endpoint(call: Call, index: Index) -> list[Request]:
    named = ("VpcId", "RouteTableIds", "SubnetIds", "SecurityGroupIds")
    return _ec2_create("vpc-endpoint", *named)(call, index) + _private_dns(call)


def _ec2_modify_vpc_endpoint(call: Call, _: Index) -> list[Request]:
    lists = ("RouteTableIds", "SubnetIds", "SecurityGroupIds")
    named = ("VpcEndpointId", *(f"{change}{ids}" for ids in lists for change in ("Add", "Remove")))
    return own(call, *_ec2_ids(call, *named)) + _private_dns(call)


def _ec2_create_flow_logs(call: Call, index: Index) -> list[Request]:
    requests = _ec2_create("vpc-flow-log", "ResourceIds")(call, index)
    if call.params.get("DeliverLogsPermissionArn"):
        requests.append(_pass_role(call.params["DeliverLogsPermissionArn"], "vpc-flow-logs"))
    return requests


def _ec2_association(call: Call, index: Index) -> list[str]:
    known = index.associations.get((call.account, call.region, call.params["AssociationId"]))
    if known is None:
        raise LookupError(f"{call}: the association {call.params['AssociationId']} was never seen")
    route_table, subnet = known
    return [ec2_arn(call, route_table), *([ec2_arn(call, subnet)] if subnet else [])]


def _ec2_disassociate(call: Call, index: Index) -> list[Request]:
    return own(call, *_ec2_association(call, index))


def _ec2_replace_association(call: Call, index: Index) -> list[Request]:
    """The route table the subnet moves to, and the subnet (its current table is not asked)."""
    return own(call, ec2_arn(call, call.params["RouteTableId"]), *_ec2_association(call, index)[1:])


# --- IAM ----------------------------------------------------------------------------------------------------------


def role_arn(call: Call, index: Index, name: str) -> str:
    """A role's ARN carries its path, which only the role itself (or an earlier call) tells."""
    arn = index.role_arns.get((call.account, name))
    if arn is None:
        raise LookupError(f"{call}: the path of role {name!r} was never seen (CreateRole, GetRole, ListRoles)")
    return arn


def _iam_role(call: Call, index: Index) -> list[Request]:
    return own(call, role_arn(call, index, call.params["RoleName"]))


def _iam_create_role(call: Call, _: Index) -> list[Request]:
    arn = _arn("iam", "", call.account, f"role{call.params.get('Path', '/')}{call.params['RoleName']}")
    return own(call, arn) + ([Request("iam:TagRole", arn)] if call.params.get("Tags") else [])


# --- KMS ----------------------------------------------------------------------------------------------------------


def kms_key(call: Call, index: Index, key_id: str, region: str | None = None) -> str | None:
    """A key's ARN from any way of naming it (id, ARN, alias name or alias ARN); None if unknown."""
    region = region or call.region
    if key_id.startswith("arn:") and ":key/" in key_id:
        return key_id
    if key_id.startswith("arn:"):
        _, _, _, region, _, key_id = key_id.split(":", 5)
    if key_id.startswith("alias/"):
        target = index.alias_targets.get((call.account, region, key_id))
        return None if target is None else kms_key(call, index, target, region)
    return _arn("kms", region, call.account, f"key/{key_id}")


def _kms_key_or_fail(call: Call, index: Index, key_id: str, region: str | None = None) -> str:
    key = kms_key(call, index, key_id, region)
    if key is None:
        raise LookupError(f"{call}: the key behind {key_id!r} was never seen")
    return key


def alias_arn(call: Call, alias: str) -> str:
    return alias if alias.startswith("arn:") else _arn("kms", call.region, call.account, alias)


def _kms_by_key(call: Call, index: Index) -> list[Request]:
    return own(call, _kms_key_or_fail(call, index, call.params["KeyId"]))


def _kms_describe_key(call: Call, index: Index) -> list[Request]:
    arn = call.response.get("KeyMetadata", {}).get("Arn") or kms_key(call, index, call.params["KeyId"])
    if arn is None and call.error == "NotFoundException":
        # An alias that does not exist yet (observe before create): KMS answers NotFound, having
        # no key whose policy or grants it could authorise against.
        return []
    return own(call, arn or _kms_key_or_fail(call, index, call.params["KeyId"]))


def _kms_create_key(call: Call, index: Index) -> list[Request]:
    requests = on_itself(call, index)
    if call.params.get("Tags"):  # tags on create are authorised on the new key
        requests.append(Request("kms:TagResource", call.response["KeyMetadata"]["Arn"]))
    return requests


def _kms_alias(call: Call, index: Index) -> list[Request]:
    """Alias operations need the action on the alias and on each key involved (old and new target)."""
    alias = call.params["AliasName"]
    keys = [call.params["TargetKeyId"]] if call.params.get("TargetKeyId") else []
    if call.operation != "CreateAlias":
        current = index.alias_targets.get((call.account, call.region, alias))
        if current is None:
            raise LookupError(f"{call}: the key {alias} points to was never seen")
        keys.append(current)
    return own(call, alias_arn(call, alias), *(_kms_key_or_fail(call, index, k) for k in dict.fromkeys(keys)))


# --- Lambda -------------------------------------------------------------------------------------------------------


def function_arn(call: Call, name: str, qualifier: str | None = None) -> str:
    """A function (or, qualified, its version or alias) from its name or ARN."""
    arn = name if name.startswith("arn:") else _arn("lambda", call.region, call.account, f"function:{name}")
    return f"{arn}:{qualifier}" if qualifier else arn


def _lambda_function(call: Call, _: Index) -> list[Request]:
    """Actions AWS checks on the function, or on the version or alias the Qualifier names."""
    return own(call, function_arn(call, call.params["FunctionName"], call.params.get("Qualifier")))


def _lambda_unqualified(call: Call, _: Index) -> list[Request]:
    """Actions on the function as a whole (its aliases, versions list, publishing)."""
    return own(call, function_arn(call, call.params["FunctionName"]))


def _lambda_resource(call: Call, _: Index) -> list[Request]:
    return own(call, call.params["Resource"])


def _lambda_configuration(call: Call, function: str) -> list[Request]:
    """What a function's configuration makes AWS check besides the function itself."""
    params, requests = call.params, []
    if params.get("Role"):
        requests.append(_pass_role(params["Role"], "lambda"))
    if params.get("KMSKeyArn"):  # the environment encrypted under the key, through a grant
        requests += _kms_grant(params["KMSKeyArn"], "lambda", call.region, "kms:CreateGrant", "kms:Encrypt")
    if params.get("VpcConfig", {}).get("SubnetIds"):
        # "Lambda uses your permissions to verify network resources" (Lambda's VPC guide).
        for action in ("ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"):
            requests.append(Request(action, "*"))
    if params.get("Tags"):
        requests.append(Request("lambda:TagResource", function))
    return requests


def _lambda_package(call: Call) -> list[Request]:
    code = call.params.get("Code", call.params)  # CreateFunction nests it, UpdateFunctionCode does not
    if not code.get("S3Bucket"):
        return []
    return [Request("s3:GetObject", f"arn:aws:s3:::{code['S3Bucket']}/{code['S3Key']}")]


def _lambda_create_function(call: Call, index: Index) -> list[Request]:
    function = function_arn(call, call.params["FunctionName"])
    return own(call, function) + _lambda_configuration(call, function) + _lambda_package(call)


def _lambda_update_configuration(call: Call, index: Index) -> list[Request]:
    function = function_arn(call, call.params["FunctionName"])
    return own(call, function) + _lambda_configuration(call, function)


def _lambda_update_code(call: Call, index: Index) -> list[Request]:
    return own(call, function_arn(call, call.params["FunctionName"])) + _lambda_package(call)


def _lambda_create_mapping(call: Call, _: Index) -> list[Request]:
    function = function_arn(call, call.params["FunctionName"])
    requests = own(call, "*", **{"lambda:FunctionArn": function})
    if call.params.get("Tags") and call.response.get("EventSourceMappingArn"):
        requests.append(Request("lambda:TagResource", call.response["EventSourceMappingArn"]))
    return requests


def _lambda_mapping(call: Call, index: Index) -> list[Request]:
    """A mapping's ARN is its generated UUID; `lambda:FunctionArn` is the function it invokes.

    The function comes from the request (UpdateEventSourceMapping may move the mapping), the response,
    or, for a mapping already gone (a wait for a deletion), the last function seen for that UUID.
    """
    uuid = call.params["UUID"]
    function = (
        call.params.get("FunctionName")
        or call.response.get("FunctionArn")
        or index.mapping_functions.get((call.account, call.region, uuid))
    )
    if function is None:
        raise LookupError(f"{call}: the function of event source mapping {uuid} was never seen")
    mapping = _arn("lambda", call.region, call.account, f"event-source-mapping:{uuid}")
    return own(call, mapping, **{"lambda:FunctionArn": function_arn(call, function)})


# --- the rest, by resource ----------------------------------------------------------------------------------------


def log_group_arn(call: Call, name: str) -> str:
    return _arn("logs", call.region, call.account, f"log-group:{name}")


def _logs_create_group(call: Call, _: Index) -> list[Request]:
    group = log_group_arn(call, call.params["logGroupName"])
    return own(call, group) + ([Request("logs:TagResource", group)] if call.params.get("tags") else [])


def bucket_arn(_: Call, bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def _s3_object(call: Call, _: Index) -> list[Request]:
    arn = f"arn:aws:s3:::{call.params['Bucket']}/{call.params['Key']}"
    if call.operation == "DeleteObject" and call.params.get("VersionId"):
        return [Request("s3:DeleteObjectVersion", arn)]
    return own(call, arn)


def _s3_delete_objects(call: Call, _: Index) -> list[Request]:
    """Each object on its own: a version deleted needs DeleteObjectVersion, a key DeleteObject."""
    return [
        Request(
            "s3:DeleteObjectVersion" if item.get("VersionId") else "s3:DeleteObject",
            f"arn:aws:s3:::{call.params['Bucket']}/{item['Key']}",
        )
        for item in call.params["Delete"]["Objects"]
    ]


def queue_arn(call: Call, url_or_name: str) -> str:
    if "/" not in url_or_name:  # a name (CreateQueue, GetQueueUrl)
        owner = call.params.get("QueueOwnerAWSAccountId", call.account)
        return _arn("sqs", call.region, owner, url_or_name)
    owner, name = urllib.parse.urlparse(url_or_name).path.strip("/").split("/")[-2:]
    return _arn("sqs", call.region, owner, name)


def _sqs_create_queue(call: Call, _: Index) -> list[Request]:
    queue = queue_arn(call, call.params["QueueName"])
    return own(call, queue) + ([Request("sqs:TagQueue", queue)] if call.params.get("tags") else [])


def alarm_arn(call: Call, name: str) -> str:
    return _arn("cloudwatch", call.region, call.account, f"alarm:{name}")


def _cloudwatch_describe_alarms(call: Call, _: Index) -> list[Request]:
    """Named alarms are checked one by one; a query by prefix (or none) lists `alarm:*`."""
    names = call.params.get("AlarmNames") or ["*"]
    return own(call, *(alarm_arn(call, n) for n in names))


def _cloudwatch_put_alarm(call: Call, _: Index) -> list[Request]:
    alarm = alarm_arn(call, call.params["AlarmName"])
    return own(call, alarm) + ([Request("cloudwatch:TagResource", alarm)] if call.params.get("Tags") else [])


def user_pool_arn(call: Call, pool_id: str) -> str:
    return _arn("cognito-idp", call.region, call.account, f"userpool/{pool_id}")


def _cognito_create_pool(call: Call, _: Index) -> list[Request]:
    requests = own(call, "*")
    if call.params.get("UserPoolTags"):
        requests.append(Request("cognito-idp:TagResource", user_pool_arn(call, call.response["UserPool"]["Id"])))
    return requests


def _route53(kind: str, param: str) -> Rule:
    """Route 53 is global: no region or account in its ARNs; ids come as `/hostedzone/Z...` or `Z...`."""

    def rule(call: Call, _: Index) -> list[Request]:
        value = call.params[param]
        ids = value if isinstance(value, list) else [value]
        return own(call, *(f"arn:aws:route53:::{kind}/{i.rsplit('/', 1)[-1]}" for i in ids))

    return rule


def _route53_tags(call: Call, index: Index) -> list[Request]:
    param = "ResourceIds" if "ResourceIds" in call.params else "ResourceId"
    return _route53(call.params["ResourceType"], param)(call, index)


def _apigateway(call: Call, _: Index) -> list[Request]:
    """API Gateway's resource is the path of the REST call (`/restapis/{id}/stages/{name}`)."""
    model = _model("apigateway").operation_model(call.operation)
    path = model.http["requestUri"].split("?", 1)[0]
    for name, shape in model.input_shape.members.items():
        if shape.serialization.get("location") == "uri" and name in call.params:
            label = shape.serialization.get("name", name)
            value = urllib.parse.quote(str(call.params[name]), safe="")
            path = path.replace(f"{{{label}}}", value).replace(f"{{{label}+}}", value)
    if "{" in path:
        raise LookupError(f"{call}: {path} keeps a label the parameters did not fill")
    return own(call, f"arn:aws:apigateway:{call.region}::{path}")


# --- the table ----------------------------------------------------------------------------------------------------


def _param_rules(
    service: str, to_arn: Callable[[Call, str], str], param: str, operations: Iterable[str]
) -> dict[str, Rule]:
    return {f"{service}:{operation}": _by_param(param, to_arn) for operation in operations}


def _itself(_: Call, arn: str) -> str:
    return arn


RULES: dict[str, Rule] = {
    # STS and the tagging API
    "sts:AssumeRole": _sts_assume_role,
    "sts:GetCallerIdentity": on_itself,
    "resourcegroupstaggingapi:GetResources": on_itself,
    # DynamoDB
    "dynamodb:ListTables": on_itself,
    "dynamodb:CreateTable": _dynamodb_create_table,
    "dynamodb:UpdateTable": _dynamodb_update_table,
    **{
        f"dynamodb:{op}": _dynamodb_table
        for op in (
            "DeleteItem",
            "DeleteTable",
            "DescribeContinuousBackups",
            "DescribeTable",
            "DescribeTimeToLive",
            "GetItem",
            "PutItem",
            "UpdateContinuousBackups",
            "UpdateItem",
            "UpdateTimeToLive",
        )
    },
    **{f"dynamodb:{op}": _dynamodb_resource for op in ("ListTagsOfResource", "TagResource", "UntagResource")},
    # EC2: list and describe calls take no resource (DescribeVpcAttribute, which names its VPC, aside)
    **{
        f"ec2:{op}": on_itself
        for op in (
            "DescribeAddresses",
            "DescribeFlowLogs",
            "DescribeInternetGateways",
            "DescribeNatGateways",
            "DescribeRouteTables",
            "DescribeSecurityGroups",
            "DescribeSubnets",
            "DescribeVpcEndpoints",
            "DescribeVpcs",
        )
    },
    "ec2:DescribeVpcAttribute": _ec2_named("VpcId"),
    "ec2:AllocateAddress": _ec2_create("elastic-ip"),
    "ec2:CreateInternetGateway": _ec2_create("internet-gateway"),
    "ec2:CreateNatGateway": _ec2_create("natgateway", "SubnetId", "AllocationId"),
    "ec2:CreateRouteTable": _ec2_create("route-table", "VpcId"),
    "ec2:CreateSecurityGroup": _ec2_create("security-group", "VpcId"),
    "ec2:CreateSubnet": _ec2_create("subnet", "VpcId"),
    "ec2:CreateVpc": _ec2_create("vpc"),
    "ec2:CreateVpcEndpoint": _ec2_create_vpc_endpoint,
    "ec2:CreateFlowLogs": _ec2_create_flow_logs,
    "ec2:AssociateRouteTable": _ec2_named("RouteTableId", "SubnetId", "GatewayId"),
    "ec2:DisassociateRouteTable": _ec2_disassociate,
    "ec2:ReplaceRouteTableAssociation": _ec2_replace_association,
    "ec2:AttachInternetGateway": _ec2_named("InternetGatewayId", "VpcId"),
    "ec2:DetachInternetGateway": _ec2_named("InternetGatewayId", "VpcId"),
    "ec2:ModifyVpcEndpoint": _ec2_modify_vpc_endpoint,
    "ec2:CreateTags": _ec2_named("Resources"),
    "ec2:DeleteTags": _ec2_named("Resources"),
    **{
        f"ec2:{op}": _ec2_named("RouteTableId")
        for op in ("CreateRoute", "DeleteRoute", "ReplaceRoute", "DeleteRouteTable")
    },
    **{
        f"ec2:{op}": _ec2_named("GroupId")
        for op in (
            "AuthorizeSecurityGroupEgress",
            "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupEgress",
            "RevokeSecurityGroupIngress",
            "DeleteSecurityGroup",
        )
    },
    "ec2:DeleteFlowLogs": _ec2_named("FlowLogIds"),
    "ec2:DeleteInternetGateway": _ec2_named("InternetGatewayId"),
    "ec2:DeleteNatGateway": _ec2_named("NatGatewayId"),
    "ec2:DeleteSubnet": _ec2_named("SubnetId"),
    "ec2:DeleteVpc": _ec2_named("VpcId"),
    "ec2:DeleteVpcEndpoints": _ec2_named("VpcEndpointIds"),
    "ec2:ModifySubnetAttribute": _ec2_named("SubnetId"),
    "ec2:ModifyVpcAttribute": _ec2_named("VpcId"),
    "ec2:ReleaseAddress": _ec2_named("AllocationId"),
    # IAM (global: no region in its ARNs)
    "iam:ListRoles": on_itself,
    "iam:GetAccountAuthorizationDetails": on_itself,
    "iam:CreateRole": _iam_create_role,
    **{
        f"iam:{op}": _iam_role
        for op in (
            "DeleteRole",
            "DeleteRolePolicy",
            "DetachRolePolicy",
            "GetRole",
            "GetRolePolicy",
            "ListAttachedRolePolicies",
            "ListRolePolicies",
            "PutRolePolicy",
            "TagRole",
            "UntagRole",
            "UpdateAssumeRolePolicy",
            "UpdateRole",
        )
    },
    # KMS
    "kms:CreateKey": _kms_create_key,
    "kms:ListAliases": on_itself,
    "kms:DescribeKey": _kms_describe_key,
    **{f"kms:{op}": _kms_alias for op in ("CreateAlias", "DeleteAlias", "UpdateAlias")},
    **{
        f"kms:{op}": _kms_by_key
        for op in (
            "DisableKey",
            "DisableKeyRotation",
            "EnableKey",
            "EnableKeyRotation",
            "GetKeyPolicy",
            "GetKeyRotationStatus",
            "ListResourceTags",
            "PutKeyPolicy",
            "ScheduleKeyDeletion",
            "TagResource",
            "UntagResource",
            "UpdateKeyDescription",
        )
    },
    # Lambda
    "lambda:ListFunctions": on_itself,
    "lambda:ListEventSourceMappings": on_itself,
    "lambda:CreateFunction": _lambda_create_function,
    "lambda:UpdateFunctionConfiguration": _lambda_update_configuration,
    "lambda:UpdateFunctionCode": _lambda_update_code,
    "lambda:CreateEventSourceMapping": _lambda_create_mapping,
    **{
        f"lambda:{op}": _lambda_mapping
        for op in ("DeleteEventSourceMapping", "GetEventSourceMapping", "UpdateEventSourceMapping")
    },
    **{f"lambda:{op}": _lambda_resource for op in ("ListTags", "TagResource", "UntagResource")},
    **{
        f"lambda:{op}": _lambda_unqualified
        for op in (
            "CreateAlias",
            "DeleteAlias",
            "UpdateAlias",
            "ListAliases",
            "ListVersionsByFunction",
            "PublishVersion",
        )
    },
    **{
        f"lambda:{op}": _lambda_function
        for op in (
            "AddPermission",
            "RemovePermission",
            "GetPolicy",
            "DeleteFunction",
            "GetFunction",
            "GetFunctionConfiguration",
            "GetProvisionedConcurrencyConfig",
            "PutProvisionedConcurrencyConfig",
            "DeleteProvisionedConcurrencyConfig",
        )
    },
    # CloudWatch Logs
    "logs:DescribeLogGroups": on_itself,
    "logs:CreateLogGroup": _logs_create_group,
    **_param_rules(
        "logs", log_group_arn, "logGroupName", ("DeleteLogGroup", "PutRetentionPolicy", "DeleteRetentionPolicy")
    ),
    **_param_rules("logs", _itself, "resourceArn", ("ListTagsForResource", "TagResource", "UntagResource")),
    # S3 (global ARNs: no region, no account)
    **{
        f"s3:{op}": _by_param("Bucket", bucket_arn)
        for op in (
            "CreateBucket",
            "DeleteBucket",
            "DeleteBucketPolicy",
            "GetBucketEncryption",
            "GetBucketLifecycleConfiguration",
            "GetBucketPolicy",
            "GetBucketTagging",
            "GetBucketVersioning",
            "GetPublicAccessBlock",
            "ListMultipartUploads",
            "ListObjectVersions",
            "ListObjectsV2",
            "PutBucketEncryption",
            "PutBucketLifecycleConfiguration",
            "PutBucketPolicy",
            "PutBucketTagging",
            "PutBucketVersioning",
            "PutPublicAccessBlock",
        )
    },
    **{f"s3:{op}": _s3_object for op in ("AbortMultipartUpload", "DeleteObject", "GetObject", "PutObject")},
    "s3:DeleteObjects": _s3_delete_objects,
    # SQS
    "sqs:CreateQueue": _sqs_create_queue,
    "sqs:GetQueueUrl": _by_param("QueueName", queue_arn),
    **_param_rules(
        "sqs",
        queue_arn,
        "QueueUrl",
        ("DeleteQueue", "GetQueueAttributes", "ListQueueTags", "SetQueueAttributes", "TagQueue", "UntagQueue"),
    ),
    # SES (version 1): the Service Authorization Reference lists no resource for these actions
    **{
        f"ses:{op}": on_itself
        for op in (
            "CreateTemplate",
            "DeleteIdentity",
            "DeleteTemplate",
            "GetIdentityVerificationAttributes",
            "GetTemplate",
            "ListIdentities",
            "ListTemplates",
            "UpdateTemplate",
            "VerifyDomainIdentity",
            "VerifyEmailIdentity",
        )
    },
    # CloudWatch alarms
    "cloudwatch:DescribeAlarms": _cloudwatch_describe_alarms,
    "cloudwatch:PutMetricAlarm": _cloudwatch_put_alarm,
    "cloudwatch:DeleteAlarms": _by_param("AlarmNames", alarm_arn),
    "cloudwatch:TagResource": _by_param("ResourceARN", _itself),
    # Cognito user pools
    "cognito-idp:ListUserPools": on_itself,
    "cognito-idp:DescribeUserPoolDomain": on_itself,  # names a domain prefix, not a pool
    "cognito-idp:CreateUserPool": _cognito_create_pool,
    **_param_rules("cognito-idp", _itself, "ResourceArn", ("TagResource", "UntagResource")),
    **{
        f"cognito-idp:{op}": _by_param("UserPoolId", user_pool_arn)
        for op in (
            "CreateResourceServer",
            "CreateUserPoolClient",
            "CreateUserPoolDomain",
            "DeleteResourceServer",
            "DeleteUserPool",
            "DeleteUserPoolClient",
            "DeleteUserPoolDomain",
            "DescribeUserPool",
            "DescribeUserPoolClient",
            "ListResourceServers",
            "ListUserPoolClients",
            "SetUserPoolMfaConfig",
            "UpdateResourceServer",
            "UpdateUserPool",
            "UpdateUserPoolClient",
        )
    },
    # Route 53
    **{
        f"route53:{op}": on_itself
        for op in ("CreateHealthCheck", "CreateHostedZone", "ListHealthChecks", "ListHostedZonesByName")
    },
    **{
        f"route53:{op}": _route53("hostedzone", "Id")
        for op in ("GetHostedZone", "DeleteHostedZone", "UpdateHostedZoneComment")
    },
    **{
        f"route53:{op}": _route53("hostedzone", "HostedZoneId")
        for op in ("ChangeResourceRecordSets", "ListResourceRecordSets")
    },
    **{
        f"route53:{op}": _route53("healthcheck", "HealthCheckId")
        for op in ("DeleteHealthCheck", "GetHealthCheckStatus", "UpdateHealthCheck")
    },
    "route53:GetChange": _route53("change", "Id"),
    **{
        f"route53:{op}": _route53_tags
        for op in ("ChangeTagsForResource", "ListTagsForResource", "ListTagsForResources")
    },
}


def rule_for(operation: str) -> Rule:
    if operation.startswith("apigateway:"):
        return _apigateway
    rule = RULES.get(operation)
    if rule is None:
        raise LookupError(f"no ARN mapping for {operation}: add one to tests/iam_arns.py RULES")
    return rule


def requests_for(call: Call, index: Index) -> list[Request]:
    """Every authorisation the call needs; `index` must have learnt from the calls before it."""
    return rule_for(call.op)(call, index)


def authorisations(calls: Iterable[Call]) -> list[tuple[Call, list[Request]]]:
    """Each call with its requests, in the order they were made, the index learning as it goes."""
    index, found = Index(), []
    for call in calls:
        found.append((call, requests_for(call, index)))
        index.learn(call)
    return found


# --- the Service Authorization Reference, as parliament bundles it ------------------------------------------------

# Where AWS's own service guides accept more than the Reference's ARN formats say. Each entry:
# (service prefix, resource type) -> extra formats, with the reason.
SAR_EXTRA_FORMATS: dict[tuple[str, str], tuple[str, ...]] = {
    # Lambda's guide ("Fine-tuning the Resources and Conditions sections of policies"): an action that
    # takes a Qualifier is authorised on the qualified ARN (`function:name:alias` or `:version`), while
    # the Reference lists only the unqualified `function` format for most of them (AddPermission, GetPolicy).
    ("lambda", "function"): ("arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}:${Qualifier}",),
}
# Resource types the Reference omits for an action, though the service authorises the action on them.
SAR_EXTRA_TYPES: dict[str, tuple[str, ...]] = {
    # API Gateway authorises its management API on the path of the REST call ("resource-path-
    # specifier" in its guide): CreateResource POSTs to the parent resource's path, PutMethod and
    # PutIntegration PUT the method's and the integration's; the Reference lists those types only
    # under GET, PATCH and DELETE.
    "apigateway:POST": ("Resource",),
    "apigateway:PUT": ("Method", "Integration"),
}
# Variables whose values hold a path (a `/`); every other variable is one path-free name or id.
PATH_VARIABLES = frozenset({"RoleNameWithPath", "LogGroupName", "ObjectName"})


@functools.cache
def _sar_services() -> dict[str, list[Mapping[str, Any]]]:
    import parliament  # the linter's bundled copy of AWS's Service Authorization Reference

    by_prefix: dict[str, list[Mapping[str, Any]]] = {}
    for service in parliament.iam_definition:
        by_prefix.setdefault(service["prefix"], []).append(service)
    return by_prefix


def sar_arn_formats(action: str) -> tuple[str, ...] | None:
    """The ARN formats of the resource types `action` accepts; () if it takes none; None if unknown.

    A prefix can span several services in the Reference (`ses`: SES and SES v2; `apigateway`: its
    two management APIs), so every service of the prefix is searched.
    """
    prefix, name = action.split(":", 1)
    formats: list[str] = []
    known = False
    for service in _sar_services().get(prefix, []):
        arns = {r["resource"]: r["arn"] for r in service["resources"]}
        for privilege in service["privileges"]:
            if privilege["privilege"].lower() != name.lower():
                continue
            known = True
            types = [row["resource_type"].rstrip("*") for row in privilege["resource_types"]]
            for resource_type in (*types, *SAR_EXTRA_TYPES.get(action, ())):
                if resource_type in arns:
                    formats.append(arns[resource_type])
                    formats += SAR_EXTRA_FORMATS.get((prefix, resource_type), ())
    return tuple(dict.fromkeys(formats)) if known else None


@functools.cache
def _format_pattern(arn_format: str) -> re.Pattern[str]:
    pattern = ""
    for literal, variable in re.findall(r"([^$]*)(?:\$\{(\w+)\})?", arn_format):
        pattern += re.escape(literal)
        if variable == "Partition":
            pattern += "aws"
        elif variable == "Region":
            pattern += "[a-z0-9-]*"
        elif variable == "Account":
            pattern += r"(\d{12})?"
        elif variable:
            pattern += "[^:]+" if variable in PATH_VARIABLES else "[^:/]+"
    return re.compile(pattern)


def fits_format(arn: str, arn_format: str) -> bool:
    return _format_pattern(arn_format).fullmatch(arn) is not None
