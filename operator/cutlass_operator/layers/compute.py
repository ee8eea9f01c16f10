"""The seed's 200-compute: the application's five functions in this region, and what each needs.

Per function:
- its package (layers/packages.py) in the region's artifact bucket, named by its SHA-256, so
  new code is a new object and an unchanged function uploads nothing;
- a log group `/aws/lambda/<function>` with the environment's retention, made before the
  function so Lambda never creates one that keeps logs forever;
- an execution role under the region's application path (the data key's policy trusts that
  path), with one inline policy naming only its own tables, queue, key, log group and SES
  resources;
- the function: memory from the settings, VPC config on the private subnets behind the Lambda
  security group, environment variables for its tables, queue and templates (encrypted with the
  region's data key), X-Ray tracing with detailed monitoring, and the `live` alias on a published
  version; the API's functions get the settings' provisioned concurrency on that alias;
- with detailed monitoring, alarms on its errors and throttles.

And the two event sources: the notifications queue feeds the notifier, and this region's stream
of the credits table feeds the threshold monitor, filtered to the writes made in this region
(`lastWriteRegion`): every region's stream carries every region's writes, and a crossing must
alert once, from the region where it happened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from cutlass_operator.engine.arns import partition, role_path
from cutlass_operator.engine.resource import Desired, Observed, Props, Ref, Scope
from cutlass_operator.layers import messaging
from cutlass_operator.layers.artifacts import artifact_bucket_name
from cutlass_operator.layers.base import RegionInputs, alarm_prefix
from cutlass_operator.layers.packages import Package, build_package
from cutlass_operator.layers.tables import ALERTS, CREDITS, USAGE, table_name
from cutlass_operator.props.cloudwatch import AlarmProps, alarm_on_any
from cutlass_operator.props.iam import RoleProps
from cutlass_operator.props.lambda_ import (
    CodeLocation,
    EventSourceMappingProps,
    Filter,
    FilterCriteria,
    FunctionProps,
    VpcConfig,
)
from cutlass_operator.props.logs import LogGroupProps
from cutlass_operator.props.s3_objects import PackageProps

LAYER = "compute"
RUNTIME = "python3.12"
ARCHITECTURES: tuple[Literal["arm64"]] = ("arm64",)  # the code is pure Python: Graviton is the cheaper choice
ALIAS = "live"
ROLE_FAMILY = "functions"
PACKAGES = "functions/"  # the packages' key prefix in the artifact bucket
# Lambda in a VPC manages its network interfaces with the function's role; these actions take no
# resource-level restriction.
VPC_ACCESS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


@dataclass(frozen=True)
class Function:
    name: str  # in resource names, e.g. usage-check
    module: str  # in cutlass_operator/app, e.g. usage_check
    description: str
    timeout: int
    behind_api: bool  # latency-sensitive: gets the provisioned concurrency


USAGE_CHECK = Function("usage-check", "usage_check", "Checks and debits usage against user and org credits", 10, True)
CREDITS_ADMIN = Function("credits", "credits", "Grants, tops up and reads credits (admin)", 10, True)
THRESHOLD_MONITOR = Function(
    "threshold-monitor", "threshold_monitor", "Queues one alert per threshold crossing", 30, False
)
NOTIFIER = Function("notifier", "notifier", "Sends the alert emails", messaging.NOTIFIER_TIMEOUT, False)
HEALTH = Function("health", "health", "Reports the region's health to Route 53", 5, False)
FUNCTIONS = (USAGE_CHECK, CREDITS_ADMIN, THRESHOLD_MONITOR, NOTIFIER, HEALTH)


def function_key(function: Function) -> str:
    return f"{LAYER}/function/{function.name}"


def _key(part: str, function: Function) -> str:
    return f"{LAYER}/{part}/{function.name}"


def function_prefix(inputs: RegionInputs) -> str:
    """Function (and role) names are `<prefix><function>`: the prefix carries the workspace."""
    return f"{inputs.workspace.resource_name('fn')}-"


class ComputeLayer:
    name = LAYER
    condition = "ComputeReady"
    holds_data = False

    def __init__(self, build: Callable[[str], Package] = build_package) -> None:
        self.build = build  # the packages from the installed source; tests give other code

    @cached_property
    def packages(self) -> dict[str, Package]:
        """Built once per layer: the shipped source does not change while the operator runs, and
        every reconcile of every region asks for the packages twice (kinds and desired state)."""
        return {f.name: self.build(f.module) for f in FUNCTIONS}

    def kinds(self, inputs: RegionInputs) -> Sequence[Scope]:
        prefix = function_prefix(inputs)
        return [
            Scope(PackageProps, name_prefix=PACKAGES),
            Scope(LogGroupProps, name_prefix=f"/aws/lambda/{prefix}"),
            Scope(RoleProps, name_prefix=role_path(inputs.workspace.name, ROLE_FAMILY)),
            Scope(FunctionProps, name_prefix=prefix),
            Scope(EventSourceMappingProps, name_prefix=prefix),
            Scope(AlarmProps, name_prefix=alarm_prefix(inputs, LAYER)),
        ]

    def desired(self, inputs: RegionInputs) -> list[Desired[Any]]:
        ws = inputs.workspace
        built = self.packages
        names = _Names(inputs)
        entries: list[Desired[Any]] = []

        def add(key: str, name: str, props: Props, after: frozenset[str] = frozenset()) -> None:
            entries.append(Desired(key, props, name, ws.tags(LAYER, key, name), depends_on=after))

        for function in FUNCTIONS:
            package = built[function.name]
            name = f"{function_prefix(inputs)}{function.name}"
            object_key = f"{PACKAGES}{name}/{package.hexdigest}.zip"
            add(
                _key("package", function),
                object_key,
                PackageProps(
                    bucket=names.bucket,
                    object_key=object_key,
                    sha256=package.sha256,
                    body=package.body,
                    content_type="application/zip",
                ),
            )
            log_group = f"/aws/lambda/{name}"
            add(
                _key("log-group", function),
                log_group,
                LogGroupProps(log_group_name=log_group, retention_in_days=inputs.settings.log_retention_days),
            )
            add(
                _key("role", function),
                name,
                RoleProps(
                    path=role_path(ws.name, ROLE_FAMILY),
                    assume_role_policy_document=_trust(ws.account_id),
                    description=f"Runs the {function.name} function of {ws.name}",
                    inline_policies={"least-privilege": _policy(function, inputs, names)},
                ),
            )
            add(
                function_key(function),
                name,
                _function(function, package, name, inputs, names),
                after=frozenset({_key("log-group", function)}),
            )
        add(
            f"{LAYER}/mapping/notifier",
            f"{function_prefix(inputs)}notifier <- notifications",
            EventSourceMappingProps(
                function_arn=Ref(function_key(NOTIFIER), "aliasArn"),
                event_source_arn=names.queue_arn,
                batch_size=10,
                maximum_batching_window_in_seconds=0,
                enabled=True,
                function_response_types=("ReportBatchItemFailures",),
            ),
        )
        add(
            f"{LAYER}/mapping/threshold-monitor",
            f"{function_prefix(inputs)}threshold-monitor <- credits stream",
            EventSourceMappingProps(
                function_arn=Ref(function_key(THRESHOLD_MONITOR), "aliasArn"),
                event_source_arn=names.credits_stream,
                batch_size=100,
                maximum_batching_window_in_seconds=1,
                enabled=True,
                function_response_types=("ReportBatchItemFailures",),
                filter_criteria=FilterCriteria((Filter(_this_regions_balances(inputs.region.aws_region)),)),
                starting_position="LATEST",
                maximum_retry_attempts=10,
                bisect_batch_on_function_error=True,
            ),
        )
        if inputs.settings.detailed_monitoring:
            for function in FUNCTIONS:
                for metric in ("Errors", "Throttles"):
                    alarm = f"{alarm_prefix(inputs, LAYER)}{function.name}-{metric.lower()}"
                    add(
                        f"{LAYER}/alarm/{function.name}-{metric.lower()}",
                        alarm,
                        _alarm(alarm, metric, function, inputs),
                    )
        return entries

    def outputs(self, observed: Mapping[str, Observed]) -> dict[str, Any]:
        functions = {}
        for function in FUNCTIONS:
            found = observed.get(function_key(function))
            if found is not None:
                functions[function.name] = {
                    "name": found.id,
                    "arn": found.outputs.get("arn"),
                    "aliasArn": found.outputs.get("aliasArn"),
                    "version": found.outputs.get("version"),
                    "memorySize": found.properties.get("memorySize"),
                }
        mappings = {
            key.removeprefix(f"{LAYER}/mapping/"): found.outputs.get("state")
            for key, found in sorted(observed.items())
            if key.startswith(f"{LAYER}/mapping/")
        }
        return {"functions": functions, "eventSourceMappings": mappings}


class _Names:
    """The ARNs and names the functions' configuration and policies name."""

    def __init__(self, inputs: RegionInputs) -> None:
        ws, region = inputs.workspace, inputs.region.aws_region
        self.arn_base = f"arn:{partition(region)}"
        self.region, self.account = region, ws.account_id
        self.bucket = artifact_bucket_name(ws.account_id, region)
        self.tables = {design.component: table_name(ws.environment, design) for design in (CREDITS, USAGE, ALERTS)}
        credits = inputs.tables.get(self.tables["credits"])
        self.credits_stream = (credits.stream_arn if credits else None) or (
            f"(the stream of {self.tables['credits']} in {region}, once the environment made it)"
        )
        self.key_arn = inputs.from_upstream("data", "kmsKeyArn")
        self.queue_arn = inputs.from_upstream("messaging", "queueArn")
        self.queue_url = inputs.from_upstream("messaging", "queueUrl")
        subnets = inputs.from_upstream("network", "privateSubnetIds")
        self.subnets = tuple(subnets) if isinstance(subnets, list) else subnets
        self.security_group = inputs.from_upstream("network", "lambdaSecurityGroupId")
        self.sender = inputs.environment.effective_sender_email()
        self.template_prefix = messaging.template_prefix(inputs)

    def table_arn(self, component: str) -> str:
        return f"{self.arn_base}:dynamodb:{self.region}:{self.account}:table/{self.tables[component]}"

    def ses_arn(self, what: str) -> str:
        return f"{self.arn_base}:ses:{self.region}:{self.account}:{what}"


def _function(function: Function, package: Package, name: str, inputs: RegionInputs, names: _Names) -> FunctionProps:
    settings = inputs.settings
    return FunctionProps(
        function_name=name,
        runtime=RUNTIME,
        handler=package.handler,
        description=function.description,
        memory_size=settings.lambda_memory_size,
        timeout=function.timeout,
        role=Ref(_key("role", function), "arn"),
        environment={
            "CREDITS_TABLE": names.tables["credits"],
            "USAGE_TABLE": names.tables["usage"],
            "ALERTS_TABLE": names.tables["alerts"],
            "NOTIFICATIONS_QUEUE_URL": names.queue_url,
            "SENDER_EMAIL": names.sender,
            "TEMPLATE_PREFIX": names.template_prefix,
            "USAGE_RETENTION_DAYS": str(inputs.environment.data.usage_retention_days),
        },
        vpc_config=VpcConfig(subnet_ids=names.subnets, security_group_ids=(names.security_group,)),
        kms_key_arn=names.key_arn,
        tracing_mode="Active" if settings.detailed_monitoring else "PassThrough",
        architectures=ARCHITECTURES,
        code_sha256=package.sha256,
        package=CodeLocation(s3_bucket=names.bucket, s3_key=Ref(_key("package", function), "key")),
        alias=ALIAS,
        published=True,
        provisioned_concurrency=settings.provisioned_concurrency if function.behind_api else 0,
    )


def _trust(account_id: str) -> dict[str, Any]:
    """Lambda may assume the role, for functions of this account only (no confused deputy)."""
    trust = {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
    }
    return {"Version": "2012-10-17", "Statement": [trust]}


def _policy(function: Function, inputs: RegionInputs, names: _Names) -> dict[str, Any]:
    log_group = f"/aws/lambda/{function_prefix(inputs)}{function.name}"
    log_streams = f"{names.arn_base}:logs:{names.region}:{names.account}:log-group:{log_group}:*"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": log_streams,
        },
        {"Sid": "VpcNetworkInterfaces", "Effect": "Allow", "Action": VPC_ACCESS, "Resource": "*"},
        {
            "Sid": "DataKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": names.key_arn,
        },
    ]
    if inputs.settings.detailed_monitoring:
        statements.append(
            {
                "Sid": "Tracing",
                "Effect": "Allow",
                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                "Resource": "*",
            }
        )
    credits, usage, alerts = names.table_arn("credits"), names.table_arn("usage"), names.table_arn("alerts")
    match function.module:
        case "usage_check":
            statements += [
                _allow("Balances", ["dynamodb:GetItem", "dynamodb:UpdateItem"], credits),
                _allow("UsageRecords", ["dynamodb:PutItem"], usage),
            ]
        case "credits":
            statements.append(_allow("Balances", ["dynamodb:GetItem", "dynamodb:UpdateItem"], credits))
        case "threshold_monitor":
            statements += [
                _allow(
                    "CreditsStream",
                    [
                        "dynamodb:DescribeStream",
                        "dynamodb:GetRecords",
                        "dynamodb:GetShardIterator",
                        "dynamodb:ListStreams",
                    ],
                    f"{credits}/stream/*",
                ),
                _allow("AlertBand", ["dynamodb:UpdateItem"], credits),
                _allow("Alerts", ["dynamodb:PutItem", "dynamodb:UpdateItem"], alerts),
                _allow("Notify", ["sqs:SendMessage"], names.queue_arn),
            ]
        case "notifier":
            statements += [
                _allow(
                    "Notifications",
                    [
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:ChangeMessageVisibility",
                    ],
                    names.queue_arn,
                ),
                _allow("Contacts", ["dynamodb:GetItem"], credits),
                {
                    "Sid": "SendAlerts",
                    "Effect": "Allow",
                    "Action": ["ses:SendTemplatedEmail"],
                    "Resource": [
                        names.ses_arn(f"identity/{names.sender}"),
                        names.ses_arn(f"template/{names.template_prefix}-*"),
                    ],
                },
            ]
        case "health":
            statements.append(_allow("TableReachable", ["dynamodb:DescribeTable"], credits))
    return {"Version": "2012-10-17", "Statement": statements}


def _allow(sid: str, actions: list[str], resource: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource}


def _this_regions_balances(aws_region: str) -> str:
    return json.dumps(
        {"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"lastWriteRegion": {"S": [aws_region]}}}},
        sort_keys=True,
        separators=(",", ":"),
    )


def _alarm(name: str, metric: str, function: Function, inputs: RegionInputs) -> AlarmProps:
    what = "failed" if metric == "Errors" else "was throttled"
    return alarm_on_any(
        name,
        description=f"The {function.name} function of {inputs.workspace.name} {what} in the last 5 minutes.",
        namespace="AWS/Lambda",
        metric=metric,
        dimensions={"FunctionName": f"{function_prefix(inputs)}{function.name}"},
        statistic="Sum",
    )
