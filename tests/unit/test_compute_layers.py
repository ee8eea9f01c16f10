"""The messaging and compute layers' desired state and the functions' packages: pure functions of
the specs and of what the earlier layers reported (`upstream`)."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from typing import Any

import pytest

from cutlass_operator.api.environment import CutlassEnvironmentSpec, resolve_settings
from cutlass_operator.api.region import CutlassRegionSpec
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.resource import Desired, Observed, Ref
from cutlass_operator.layers.base import RegionInputs
from cutlass_operator.layers.compute import FUNCTIONS, ComputeLayer, function_prefix
from cutlass_operator.layers.messaging import VISIBILITY_TIMEOUT, MessagingLayer
from cutlass_operator.layers.packages import FIXED_TIME, build_package
from cutlass_operator.props.dynamodb import TableFacts

ACCOUNT = "111111111111"
KEY_ARN = f"arn:aws:kms:eu-west-2:{ACCOUNT}:key/london"
QUEUE_ARN = f"arn:aws:sqs:eu-west-2:{ACCOUNT}:cutlass-tech-notifications-dev-london"
QUEUE_URL = f"https://sqs.eu-west-2.amazonaws.com/{ACCOUNT}/cutlass-tech-notifications-dev-london"
STREAM = f"arn:aws:dynamodb:eu-west-2:{ACCOUNT}:table/cutlass-tech-credits-dev/stream/2026-11-25T00:00:00.000"
UPSTREAM = {
    "network": {"privateSubnetIds": ["subnet-a", "subnet-b"], "lambdaSecurityGroupId": "sg-lambda"},
    "data": {"kmsKeyArn": KEY_ARN},
    "messaging": {"queueArn": QUEUE_ARN, "queueUrl": QUEUE_URL},
}


def inputs(tier: str = "dev", *, upstream: bool = True, **spec: Any) -> RegionInputs:
    env = CutlassEnvironmentSpec.model_validate(
        {"accountId": ACCOUNT, "tier": tier, "notifications": {"senderEmail": "alerts@example.com"}, **spec}
    )
    region = CutlassRegionSpec.model_validate(
        {
            "environmentRef": {"name": "dev"},
            "region": "london",
            "awsRegion": "eu-west-2",
            "network": {
                "vpcCidr": "10.0.0.0/16",
                "publicSubnetCidrs": ["10.0.1.0/24"],
                "privateSubnetCidrs": ["10.0.3.0/24"],
            },
        }
    )
    given = RegionInputs(
        Workspace("dev", "london", "eu-west-2", ACCOUNT, {}),
        env,
        region,
        resolve_settings(env.tier, env.settings),
        tables={"cutlass-tech-credits-dev": TableFacts("ACTIVE", "arn", STREAM)},
    )
    return replace(given, upstream=UPSTREAM) if upstream else given


def by_key(entries: list[Desired]) -> dict[str, Desired]:
    return {d.key: d for d in entries}


def compute(given: RegionInputs | None = None) -> dict[str, Desired]:
    return by_key(ComputeLayer().desired(given or inputs()))


def statements(entry: Desired) -> dict[str, dict[str, Any]]:
    policy = entry.properties["inlinePolicies"]["least-privilege"]
    return {s["Sid"]: s for s in policy["Statement"]}


class TestPackages:
    def test_the_same_source_gives_the_same_bytes(self) -> None:
        assert build_package("usage_check").body == build_package("usage_check").body

    def test_each_function_ships_its_module_with_the_shared_ones_and_fixed_metadata(self) -> None:
        package = build_package("notifier")
        with zipfile.ZipFile(io.BytesIO(package.body)) as archive:
            entries = archive.infolist()
        assert [e.filename for e in entries] == [
            "cutlass_app/__init__.py",
            "cutlass_app/common.py",
            "cutlass_app/notifier.py",
        ]
        assert {(e.date_time, e.external_attr >> 16, e.compress_type) for e in entries} == {
            (FIXED_TIME, 0o644, zipfile.ZIP_STORED)
        }
        assert package.handler == "cutlass_app.notifier.handler"

    def test_functions_have_different_hashes_and_the_hash_is_lambdas_form(self) -> None:
        hashes = {f.module: build_package(f.module).sha256 for f in FUNCTIONS}
        assert len(set(hashes.values())) == len(FUNCTIONS)
        assert all(len(h) == 44 and h.endswith("=") for h in hashes.values())  # base64 of 32 bytes


class TestFunctions:
    def test_five_functions_each_with_package_log_group_and_role(self) -> None:
        entries = compute()
        for function in FUNCTIONS:
            name = f"cutlass-tech-fn-dev-london-{function.name}"
            assert entries[f"compute/function/{function.name}"].name == name
            assert entries[f"compute/log-group/{function.name}"].properties == {
                "logGroupName": f"/aws/lambda/{name}",
                "retentionInDays": 7,
            }
            assert entries[f"compute/role/{function.name}"].properties["path"] == "/cutlass-tech/dev-london/functions/"
            package = entries[f"compute/package/{function.name}"].properties
            assert package["objectKey"] == f"functions/{name}/{build_package(function.module).hexdigest}.zip"
            assert package["bucket"] == f"cutlass-tech-artifacts-{ACCOUNT}-eu-west-2"

    @pytest.mark.parametrize(("tier", "memory", "retention", "tracing"), [
        ("dev", 256, 7, "PassThrough"),
        ("staging", 512, 14, "Active"),
        ("prod", 1024, 30, "Active"),
    ])  # fmt: skip
    def test_the_tier_sizes_the_functions(self, tier: str, memory: int, retention: int, tracing: str) -> None:
        entries = compute(inputs(tier))
        function = entries["compute/function/usage-check"].properties
        assert (function["memorySize"], function["tracingMode"]) == (memory, tracing)
        assert entries["compute/log-group/usage-check"].properties["retentionInDays"] == retention

    def test_the_function_runs_in_the_private_subnets_with_the_regions_key_and_its_package(self) -> None:
        entries = compute()
        function = entries["compute/function/notifier"].properties
        assert function["vpcConfig"] == {"subnetIds": ["subnet-a", "subnet-b"], "securityGroupIds": ["sg-lambda"]}
        assert function["kmsKeyArn"] == KEY_ARN
        assert function["role"] == Ref("compute/role/notifier", "arn")
        assert function["package"]["s3Key"] == Ref("compute/package/notifier", "key")
        assert function["codeSha256"] == build_package("notifier").sha256
        assert (function["alias"], function["published"], function["runtime"]) == ("live", True, "python3.12")
        assert entries["compute/function/notifier"].depends_on == {"compute/log-group/notifier"}

    def test_environment_variables_name_the_tables_queue_and_templates(self) -> None:
        variables = compute()["compute/function/threshold-monitor"].properties["environment"]
        assert variables == {
            "CREDITS_TABLE": "cutlass-tech-credits-dev",
            "USAGE_TABLE": "cutlass-tech-usage-dev",
            "ALERTS_TABLE": "cutlass-tech-alerts-dev",
            "NOTIFICATIONS_QUEUE_URL": QUEUE_URL,
            "SENDER_EMAIL": "alerts@example.com",
            "TEMPLATE_PREFIX": "cutlass-tech-alert-dev-london",
            "USAGE_RETENTION_DAYS": "400",
        }

    def test_provisioned_concurrency_goes_to_the_apis_functions_only(self) -> None:
        entries = compute(inputs("prod", settings={"provisionedConcurrency": 3}))
        concurrency = {
            f.name: entries[f"compute/function/{f.name}"].properties["provisionedConcurrency"] for f in FUNCTIONS
        }
        assert concurrency == {"usage-check": 3, "credits": 3, "threshold-monitor": 0, "notifier": 0, "health": 0}
        assert compute(inputs("prod"))["compute/function/usage-check"].properties["provisionedConcurrency"] == 0

    def test_before_the_earlier_layers_exist_a_plan_says_what_it_waits_for(self) -> None:
        function = compute(inputs(upstream=False))["compute/function/usage-check"].properties
        assert function["kmsKeyArn"] == "(known after the data layer is applied)"
        assert function["vpcConfig"]["subnetIds"] == "(known after the network layer is applied)"


class TestLeastPrivilege:
    def test_the_trust_policy_is_lambda_of_this_account(self) -> None:
        trust = compute()["compute/role/health"].properties["assumeRolePolicyDocument"]
        (statement,) = trust["Statement"]
        assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}

    def test_each_function_gets_only_its_own_actions(self) -> None:
        credits = f"arn:aws:dynamodb:eu-west-2:{ACCOUNT}:table/cutlass-tech-credits-dev"
        usage = f"arn:aws:dynamodb:eu-west-2:{ACCOUNT}:table/cutlass-tech-usage-dev"
        alerts = f"arn:aws:dynamodb:eu-west-2:{ACCOUNT}:table/cutlass-tech-alerts-dev"
        entries = compute()

        def actions(function: str) -> dict[str, tuple[list[str], Any]]:
            common = {"OwnLogs", "VpcNetworkInterfaces", "DataKey"}
            found = statements(entries[f"compute/role/{function}"])
            assert common <= set(found)
            return {sid: (s["Action"], s["Resource"]) for sid, s in found.items() if sid not in common}

        assert actions("usage-check") == {
            "Balances": (["dynamodb:GetItem", "dynamodb:UpdateItem"], credits),
            "UsageRecords": (["dynamodb:PutItem"], usage),
        }
        assert actions("credits") == {"Balances": (["dynamodb:GetItem", "dynamodb:UpdateItem"], credits)}
        assert actions("health") == {"TableReachable": (["dynamodb:DescribeTable"], credits)}
        monitor = actions("threshold-monitor")
        assert monitor["CreditsStream"][1] == f"{credits}/stream/*"
        assert monitor["Alerts"] == (["dynamodb:PutItem", "dynamodb:UpdateItem"], alerts)
        assert monitor["Notify"] == (["sqs:SendMessage"], QUEUE_ARN)
        notifier = actions("notifier")
        assert notifier["SendAlerts"][1] == [
            f"arn:aws:ses:eu-west-2:{ACCOUNT}:identity/alerts@example.com",
            f"arn:aws:ses:eu-west-2:{ACCOUNT}:template/cutlass-tech-alert-dev-london-*",
        ]
        assert "sqs:ReceiveMessage" in notifier["Notifications"][0] and notifier["Notifications"][1] == QUEUE_ARN

    def test_logs_only_to_its_own_group_and_tracing_only_when_monitored(self) -> None:
        dev = statements(compute()["compute/role/credits"])
        assert dev["OwnLogs"]["Resource"].endswith(":log-group:/aws/lambda/cutlass-tech-fn-dev-london-credits:*")
        assert "Tracing" not in dev
        assert "Tracing" in statements(compute(inputs("staging"))["compute/role/credits"])


class TestEventSources:
    def test_the_notifier_consumes_the_queue_reporting_failures_one_by_one(self) -> None:
        mapping = compute()["compute/mapping/notifier"].properties
        assert mapping["functionArn"] == Ref("compute/function/notifier", "aliasArn")
        assert mapping["eventSourceArn"] == QUEUE_ARN
        assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]

    def test_the_monitor_reads_this_regions_stream_filtered_to_this_regions_writes(self) -> None:
        mapping = compute()["compute/mapping/threshold-monitor"].properties
        assert mapping["eventSourceArn"] == STREAM
        (pattern,) = [json.loads(f["pattern"]) for f in mapping["filterCriteria"]["filters"]]
        assert pattern == {"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"lastWriteRegion": {"S": ["eu-west-2"]}}}}
        assert (mapping["startingPosition"], mapping["bisectBatchOnFunctionError"]) == ("LATEST", True)

    def test_alarms_only_with_detailed_monitoring(self) -> None:
        assert not [k for k in compute() if k.startswith("compute/alarm/")]
        alarms = [d for k, d in compute(inputs("staging")).items() if k.startswith("compute/alarm/")]
        assert len(alarms) == 2 * len(FUNCTIONS)
        assert all(a.name.startswith("cutlass-tech-alarm-dev-london-compute-") for a in alarms)


class TestMessaging:
    def test_queue_and_dead_letter_queue_under_the_regions_key(self) -> None:
        entries = by_key(
            MessagingLayer().desired(inputs(notifications={"senderEmail": "a@example.com", "maxReceiveCount": 3}))
        )
        queue, dlq = entries["messaging/notifications"].properties, entries["messaging/notifications-dlq"].properties
        assert queue["redrivePolicy"] == {
            "deadLetterTargetArn": Ref("messaging/notifications-dlq", "arn"),
            "maxReceiveCount": 3,
        }
        assert (queue["kmsMasterKeyId"], dlq["kmsMasterKeyId"]) == (KEY_ARN, KEY_ARN)
        assert queue["visibilityTimeout"] == VISIBILITY_TIMEOUT == 6 * 30  # six times the notifier's timeout
        assert dlq["redrivePolicy"] is None
        assert entries["messaging/sender"].properties == {"identity": "a@example.com", "kind": "email"}

    def test_one_template_per_threshold_named_as_the_notifier_renders_them(self) -> None:
        entries = by_key(MessagingLayer().desired(inputs()))
        names = {k: d.properties["templateName"] for k, d in entries.items() if k.startswith("messaging/template/")}
        assert names == {
            "messaging/template/80": "cutlass-tech-alert-dev-london-80",
            "messaging/template/100": "cutlass-tech-alert-dev-london-100",
        }
        assert "{{who}}" in entries["messaging/template/80"].properties["subject"]

    def test_the_sender_defaults_to_the_domain(self) -> None:
        given = inputs(notifications={}, domain={"zoneName": "example.org"})
        assert by_key(MessagingLayer().desired(given))["messaging/sender"].name == "alerts@example.org"

    def test_outputs_name_the_queues_and_templates(self) -> None:
        observed = {
            "messaging/notifications": Observed(
                "messaging/notifications", "sqs.queue", "u", {}, {}, {"url": "u", "arn": "a"}
            ),
            "messaging/template/80": Observed("messaging/template/80", "ses.template", "t-80", {}, {}),
        }
        outputs = MessagingLayer().outputs(observed)
        assert outputs == {"templates": ["t-80"], "queueUrl": "u", "queueArn": "a"}


def test_function_names_carry_the_workspace() -> None:
    assert function_prefix(inputs()) == "cutlass-tech-fn-dev-london-"
