"""The compute kinds `lambda.event_source_mapping`, `cloudwatch.alarm` and `s3.object` (deployment
packages), and the emulator's TLS patch for bucket policies, against the moto server over HTTP.

Each kind is driven by the engine (`reconcile`) and checked by reading AWS back with boto3: create,
a steady state that reads once and writes nothing, drift repaired, orphans deleted, destroy.

The mappings' function, alias, queue and table are made directly with boto3 (their kinds belong to
other layers): the function `cutlass-tech-dev-london-notifier` with version 1 and the alias `live`,
an SQS queue, and a DynamoDB table with a NEW_AND_OLD_IMAGES stream. Nothing is sent to the queue or
written to the table: moto would try to invoke the function in a container. A mapping may name
its function through a `Ref` to the alias's ARN, as the compute layer does; `AliasStub` stands in
for the function kind there.

What moto 5.2.5 round-trips for a mapping: BatchSize, MaximumBatchingWindowInSeconds,
FunctionResponseTypes, FilterCriteria, StartingPosition, MaximumRetryAttempts and
BisectBatchOnFunctionError as given, the state as `Enabled`/`Disabled`. Its gaps met here (the
product is not weakened for them):
- The FunctionArn of a mapping to an alias is the ARN of the version the alias points to
  (`...:notifier:1`, AWS reports `...:notifier:live`); the kind reads it back as the alias.
- Optional fields not given are left out (AWS reports its defaults: a batching window of 0,
  MaximumRetryAttempts -1, no bisection); the kind fills in the defaults.
- A removed filter stays as `FilterCriteria: {}`; a second mapping of the same function and queue
  is accepted (AWS refuses it), which is how the tests make a crash's duplicate; deleting an unknown
  mapping succeeds; mappings never pass through Creating/Updating/Deleting.

Alarms: a new alarm is `OK` in moto (`INSUFFICIENT_DATA` in AWS); DeleteAlarms of an unknown alarm
succeeds; tags are kept after the alarm is deleted.

Packages: moto does not check `ChecksumSHA256` against the body and ignores `ExpectedBucketOwner`.
Without the emulator's `s3_tls` patch, the artifact bucket's TLS-only policy would deny every object
request (moto evaluated its condition as always met); the last class tests that patch.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.s3.models import FakeBucket

from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.session import AwsClients
from cutlass_operator.emulator import s3_tls
from cutlass_operator.engine.errors import RetryableError
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.plan import Action
from cutlass_operator.engine.reconcile import Outcome, reconcile
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, Props, Ref, ResourceKind
from cutlass_operator.layers import artifacts
from cutlass_operator.layers.artifacts import tls_only_policy
from cutlass_operator.props.cloudwatch import AlarmProps
from cutlass_operator.props.lambda_ import EventSourceMappingProps, Filter, FilterCriteria
from cutlass_operator.props.s3_objects import PackageProps
from cutlass_operator.resources.cloudwatch import AlarmKind
from cutlass_operator.resources.lambda_mappings import EventSourceMappingKind
from cutlass_operator.resources.s3_objects import PackageKind, package_key, package_sha256

from .outcomes import diff_paths

pytestmark = pytest.mark.integration

REGION = "eu-west-2"
SCOPE = "compute/"
PREFIX = "cutlass-tech-dev-london-"
FUNCTION = f"{PREFIX}notifier"
QUEUE_MAPPING = "compute/notifier-queue"
STREAM_MAPPING = "compute/notifier-stream"
ERRORS_ALARM = "compute/notifier-errors"
THROTTLES_ALARM = "compute/notifier-throttles"
NOTIFIER_PACKAGE = "compute/package-notifier"
USAGE_PACKAGE = "compute/package-usage-check"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
INSERTS = json.dumps({"eventName": ["INSERT", "MODIFY"]})


def artifact_bucket_name(account_id: str) -> str:
    return artifacts.artifact_bucket_name(account_id, REGION)


def converged(kinds: Mapping[str, ResourceKind], ctx: KindContext, desired: list[Desired], **options: Any) -> Outcome:
    outcome = reconcile(kinds, desired, ctx, **options)
    assert outcome.result is not None
    assert outcome.result.ok, {key: err.message for key, err in outcome.result.errors.items()}
    return outcome


def actions(outcome: Outcome) -> dict[str, Action]:
    return {c.key: c.action for c in outcome.plan.changes if c.action != Action.NOOP}


def assert_steady(kinds: Mapping[str, ResourceKind], ctx: KindContext, desired: list[Desired], calls: CallLog) -> None:
    calls.reset()
    outcome = converged(kinds, ctx, desired, scope=SCOPE)
    assert outcome.plan.empty, outcome.plan.render()
    assert calls.mutating() == {}


def zipped(source: str) -> bytes:
    """A deployment package; fixed timestamps make the same source the same bytes (and digest)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("index.py", date_time=(2026, 1, 1, 0, 0, 0)), source)
    return buffer.getvalue()


HANDLER = "def handler(event, context):\n    return {'batchItemFailures': []}\n"


# --- event source mappings ---------------------------------------------------------------------------------------


@pytest.fixture
def lam(clients: AwsClients) -> Any:
    return clients.client("lambda")


def make_function(lam: Any, role: str, name: str) -> tuple[str, str]:
    """A function with version 1 published and the alias `live` on it: (function ARN, alias ARN)."""
    function = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": zipped(HANDLER)},
        Publish=True,
    )
    alias = lam.create_alias(FunctionName=name, Name="live", FunctionVersion=function["Version"])
    return function["FunctionArn"], alias["AliasArn"]


@pytest.fixture
def sources(clients: AwsClients, lam: Any) -> dict[str, str]:
    """The notifier function with alias `live` (version 1), its queue and a table stream: their ARNs."""
    role = clients.client("iam").create_role(RoleName="notifier", AssumeRolePolicyDocument=json.dumps(TRUST))
    function, alias = make_function(lam, role["Role"]["Arn"], FUNCTION)
    sqs = clients.client("sqs")
    url = sqs.create_queue(QueueName=f"{PREFIX}notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    table = clients.client("dynamodb").create_table(
        TableName=f"{PREFIX}usage",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return {
        "role": role["Role"]["Arn"],
        "alias": alias,
        "function": function,
        "queue": queue_arn,
        "stream": table["TableDescription"]["LatestStreamArn"],
    }


@dataclass(frozen=True)
class AliasStubProps(Props):
    kind = "test.alias"

    alias_arn: str


class AliasStub(ResourceKind[AliasStubProps]):
    """Stands in for the function kind (another layer's): an entry whose output `aliasArn` is the
    ARN it is given, so a mapping can name its function through a `Ref`, as the compute layer does."""

    props = AliasStubProps
    delete_rank = 80

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired]) -> list[Observed]:
        return [self.create(ctx, d) for d in desired]

    def create(self, ctx: KindContext, desired: Desired) -> Observed:
        arn = str(desired.properties["aliasArn"])
        return Observed(desired.key, self.kind, arn, dict(desired.properties), {}, {"aliasArn": arn})

    def update(self, ctx: KindContext, desired: Desired, observed: Observed, diff: list[FieldDiff]) -> Observed:
        return self.create(ctx, desired)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        pass


def alias_entry(key: str, arn: str) -> Desired:
    return Desired(key, AliasStubProps(arn), arn, {})


def queue_mapping(sources: Mapping[str, str], **changes: Any) -> Desired[EventSourceMappingProps]:
    props = EventSourceMappingProps(
        function_arn=sources["alias"],
        event_source_arn=sources["queue"],
        batch_size=10,
        maximum_batching_window_in_seconds=5,
        enabled=True,
        function_response_types=("ReportBatchItemFailures",),
        filter_criteria=None,
        starting_position=None,
        maximum_retry_attempts=None,
        bisect_batch_on_function_error=None,
    )
    return Desired(QUEUE_MAPPING, replace(props, **changes), "notifier <- notifications", {})


def stream_mapping(sources: Mapping[str, str], **changes: Any) -> Desired[EventSourceMappingProps]:
    props = EventSourceMappingProps(
        function_arn=sources["alias"],
        event_source_arn=sources["stream"],
        batch_size=100,
        maximum_batching_window_in_seconds=0,
        enabled=True,
        function_response_types=("ReportBatchItemFailures",),
        filter_criteria=FilterCriteria((Filter(INSERTS),)),
        starting_position="LATEST",
        maximum_retry_attempts=3,
        bisect_batch_on_function_error=True,
    )
    return Desired(STREAM_MAPPING, replace(props, **changes), "notifier <- usage stream", {})


def mapping_kinds() -> dict[str, ResourceKind]:
    return {EventSourceMappingKind.kind: EventSourceMappingKind(PREFIX, SCOPE)}


def mappings_of(lam: Any, function: str = FUNCTION) -> dict[str, dict[str, Any]]:
    """The mappings of `function` by event source ARN (moto filters by the name as given)."""
    listed = lam.list_event_source_mappings()["EventSourceMappings"]
    return {m["EventSourceArn"]: m for m in listed if m["FunctionArn"].split(":")[6] == function}


class TestEventSourceMappings:
    def test_queue_and_stream_mappings_are_created_with_their_settings(
        self, ctx: KindContext, sources: dict[str, str], lam: Any
    ) -> None:
        desired = [queue_mapping(sources), stream_mapping(sources)]

        outcome = converged(mapping_kinds(), ctx, desired, scope=SCOPE)

        assert actions(outcome) == {QUEUE_MAPPING: Action.CREATE, STREAM_MAPPING: Action.CREATE}
        assert outcome.result is not None
        outputs = outcome.result.observed[QUEUE_MAPPING].outputs
        found = mappings_of(lam)
        queue, stream = found[sources["queue"]], found[sources["stream"]]
        assert outputs["id"] == outputs["uuid"] == queue["UUID"]
        assert outputs["arn"] == queue["EventSourceMappingArn"]
        assert outputs["state"] == "Enabled"
        assert queue["BatchSize"] == 10
        assert queue["MaximumBatchingWindowInSeconds"] == 5
        assert queue["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert "StartingPosition" not in queue
        # moto gap: the alias is stored as the version it points to (AWS keeps `:live`).
        assert queue["FunctionArn"] in {sources["alias"], f"{sources['function']}:1"}
        assert stream["StartingPosition"] == "LATEST"
        assert stream["FilterCriteria"] == {"Filters": [{"Pattern": INSERTS}]}
        assert stream["MaximumRetryAttempts"] == 3
        assert stream["BisectBatchOnFunctionError"] is True
        assert stream["BatchSize"] == 100
        observed = EventSourceMappingKind(PREFIX, SCOPE).observe_many(ctx, desired)
        assert {o.key: o.properties["functionArn"] for o in observed} == {
            QUEUE_MAPPING: sources["alias"],
            STREAM_MAPPING: sources["alias"],
        }

    def test_a_second_reconcile_reads_once_and_writes_nothing(
        self, ctx: KindContext, sources: dict[str, str], calls: CallLog
    ) -> None:
        desired = [queue_mapping(sources), stream_mapping(sources)]
        converged(mapping_kinds(), ctx, desired, scope=SCOPE)
        calls.reset()

        outcome = converged(mapping_kinds(), ctx, desired, scope=SCOPE)

        assert outcome.plan.empty, outcome.plan.render()
        assert outcome.plan.count(Action.NOOP) == 2
        print(f"lambda.event_source_mapping no-op reconcile of 2 mappings: {dict(calls.calls)}")
        assert dict(calls.calls) == {"lambda:ListEventSourceMappings": 1}

    def test_defaults_left_unset_are_not_drift(self, ctx: KindContext, sources: dict[str, str], calls: CallLog) -> None:
        unset = {"maximum_batching_window_in_seconds": None, "maximum_retry_attempts": None, "batch_size": None}
        desired = [
            queue_mapping(sources, function_response_types=(), **unset),
            stream_mapping(sources, bisect_batch_on_function_error=None, filter_criteria=None, **unset),
        ]
        converged(mapping_kinds(), ctx, desired, scope=SCOPE)

        assert_steady(mapping_kinds(), ctx, desired, calls)

    def test_drift_in_batch_size_state_filter_and_function_is_repaired(
        self, ctx: KindContext, sources: dict[str, str], lam: Any
    ) -> None:
        desired = [queue_mapping(sources), stream_mapping(sources)]
        converged(mapping_kinds(), ctx, desired, scope=SCOPE)
        queue, stream = mappings_of(lam)[sources["queue"]], mappings_of(lam)[sources["stream"]]
        lam.update_event_source_mapping(UUID=queue["UUID"], BatchSize=3, Enabled=False, FunctionName=FUNCTION)
        lam.update_event_source_mapping(UUID=stream["UUID"], FilterCriteria={}, MaximumRetryAttempts=10)

        outcome = converged(mapping_kinds(), ctx, desired, scope=SCOPE)

        assert diff_paths(outcome, QUEUE_MAPPING) == {"batchSize", "enabled", "functionArn"}
        assert diff_paths(outcome, STREAM_MAPPING) == {"filterCriteria", "maximumRetryAttempts"}
        assert actions(outcome) == {QUEUE_MAPPING: Action.UPDATE, STREAM_MAPPING: Action.UPDATE}
        queue, stream = mappings_of(lam)[sources["queue"]], mappings_of(lam)[sources["stream"]]
        assert queue["BatchSize"] == 10
        assert queue["State"] == "Enabled"
        assert queue["FunctionArn"] in {sources["alias"], f"{sources['function']}:1"}
        assert stream["FilterCriteria"] == {"Filters": [{"Pattern": INSERTS}]}
        assert stream["MaximumRetryAttempts"] == 3
        assert converged(mapping_kinds(), ctx, desired, scope=SCOPE).plan.empty

    def test_a_disabled_mapping_and_a_removed_filter_converge(
        self, ctx: KindContext, sources: dict[str, str], lam: Any, calls: CallLog
    ) -> None:
        converged(mapping_kinds(), ctx, [stream_mapping(sources)], scope=SCOPE)
        desired = [stream_mapping(sources, enabled=False, filter_criteria=None, function_response_types=())]

        outcome = converged(mapping_kinds(), ctx, desired, scope=SCOPE)

        assert diff_paths(outcome, STREAM_MAPPING) == {"enabled", "filterCriteria", "functionResponseTypes"}
        stream = mappings_of(lam)[sources["stream"]]
        assert stream["State"] == "Disabled"
        assert not stream.get("FilterCriteria", {}).get("Filters")
        assert_steady(mapping_kinds(), ctx, desired, calls)

    def test_a_duplicate_left_by_a_crash_is_deleted_and_one_kept(
        self, ctx: KindContext, sources: dict[str, str], lam: Any, calls: CallLog
    ) -> None:
        desired = [queue_mapping(sources)]
        created = converged(mapping_kinds(), ctx, desired, scope=SCOPE).result
        assert created is not None
        # moto accepts a second mapping of the same function and queue, as a lost create's retry would leave.
        duplicate = lam.create_event_source_mapping(FunctionName=sources["alias"], EventSourceArn=sources["queue"])
        both = {created.observed[QUEUE_MAPPING].id, duplicate["UUID"]}

        outcome = converged(mapping_kinds(), ctx, desired, scope=SCOPE)

        deleted = [c.observed.id for c in outcome.plan.pending if c.action == Action.DELETE and c.observed]
        assert len(deleted) == 1
        # Either may be kept (moto's LastModified has whole seconds); kept, the bare duplicate is updated.
        assert [(c.action, c.key) for c in outcome.plan.pending if c.action != Action.DELETE] in (
            [],
            [(Action.UPDATE, QUEUE_MAPPING)],
        )
        listed = [m["UUID"] for m in lam.list_event_source_mappings()["EventSourceMappings"]]
        assert len(listed) == 1
        assert set(listed) | set(deleted) == both
        assert_steady(mapping_kinds(), ctx, desired, calls)

    def test_an_entry_naming_its_function_by_reference_is_found_by_its_source(
        self, ctx: KindContext, sources: dict[str, str], calls: CallLog
    ) -> None:
        kinds = {**mapping_kinds(), AliasStub.kind: AliasStub()}
        alias = alias_entry("compute/function/notifier", sources["alias"])
        by_reference = [alias, queue_mapping(sources, function_arn=Ref(alias.key, "aliasArn"))]
        created = converged(kinds, ctx, by_reference, scope=SCOPE)
        assert actions(created) == {QUEUE_MAPPING: Action.CREATE}

        assert_steady(kinds, ctx, by_reference, calls)
        assert dict(calls.calls) == {"lambda:ListEventSourceMappings": 1}
        # The same mapping, whether the entry names its function literally or by reference.
        assert converged(mapping_kinds(), ctx, [queue_mapping(sources)], scope=SCOPE).plan.empty

    def test_moving_a_source_to_another_function_updates_the_mapping_in_place(
        self, ctx: KindContext, sources: dict[str, str], lam: Any
    ) -> None:
        converged(mapping_kinds(), ctx, [queue_mapping(sources)], scope=SCOPE)
        before = mappings_of(lam)[sources["queue"]]["UUID"]
        monitor = f"{PREFIX}threshold-monitor"
        monitor_function, monitor_alias = make_function(lam, sources["role"], monitor)
        kinds = {**mapping_kinds(), AliasStub.kind: AliasStub()}
        alias = alias_entry("compute/function/threshold-monitor", monitor_alias)
        desired = [alias, queue_mapping(sources, function_arn=Ref(alias.key, "aliasArn"))]

        outcome = converged(kinds, ctx, desired, scope=SCOPE)

        assert actions(outcome) == {QUEUE_MAPPING: Action.UPDATE}
        assert diff_paths(outcome, QUEUE_MAPPING) == {"functionArn"}
        assert mappings_of(lam) == {}
        moved = mappings_of(lam, monitor)[sources["queue"]]
        assert moved["UUID"] == before
        assert moved["FunctionArn"] in {monitor_alias, f"{monitor_function}:1"}
        assert converged(kinds, ctx, desired, scope=SCOPE).plan.empty

    def test_a_mapping_no_longer_desired_is_deleted_and_other_functions_are_left_alone(
        self, ctx: KindContext, sources: dict[str, str], lam: Any
    ) -> None:
        converged(mapping_kinds(), ctx, [queue_mapping(sources), stream_mapping(sources)], scope=SCOPE)
        lam.create_function(
            FunctionName="someone-elses",
            Runtime="python3.12",
            Role=sources["role"],
            Handler="index.handler",
            Code={"ZipFile": zipped(HANDLER)},
        )
        theirs = lam.create_event_source_mapping(FunctionName="someone-elses", EventSourceArn=sources["queue"])

        outcome = converged(mapping_kinds(), ctx, [queue_mapping(sources)], scope=SCOPE)

        assert [c.action for c in outcome.plan.pending] == [Action.DELETE]
        assert set(mappings_of(lam)) == {sources["queue"]}
        assert lam.get_event_source_mapping(UUID=theirs["UUID"])["UUID"] == theirs["UUID"]

    def test_destroy_deletes_the_mappings(self, ctx: KindContext, sources: dict[str, str], lam: Any) -> None:
        desired = [queue_mapping(sources), stream_mapping(sources)]
        converged(mapping_kinds(), ctx, desired, scope=SCOPE)

        outcome = converged(mapping_kinds(), ctx, desired, scope=SCOPE, destroy=True)

        assert outcome.plan.count(Action.DELETE) == 2
        assert mappings_of(lam) == {}
        assert EventSourceMappingKind(PREFIX, SCOPE).observe_many(ctx, desired) == []

    def test_the_source_must_be_literal_and_the_function_inside_the_prefix(
        self, ctx: KindContext, sources: dict[str, str]
    ) -> None:
        kind = EventSourceMappingKind(PREFIX, SCOPE)
        with pytest.raises(ValueError, match="literal ARN"):
            kind.observe_many(ctx, [queue_mapping(sources, event_source_arn=Ref("tables/usage", "streamArn"))])
        outside = sources["alias"].replace(FUNCTION, "cutlass-tech-prod-london-notifier")
        with pytest.raises(ValueError, match="outside"):
            kind.observe_many(ctx, [queue_mapping(sources, function_arn=outside)])
        a, b = Ref("compute/function/a", "aliasArn"), Ref("compute/function/b", "aliasArn")
        twice = [queue_mapping(sources, function_arn=a), replace(queue_mapping(sources, function_arn=b), key="other")]
        with pytest.raises(ValueError, match="told apart"):
            kind.observe_many(ctx, twice)


# --- alarms ------------------------------------------------------------------------------------------------------


@pytest.fixture
def cloudwatch(clients: AwsClients) -> Any:
    return clients.client("cloudwatch")


def alarm_desired(workspace: Workspace, entry: str, metric: str, **changes: Any) -> Desired[AlarmProps]:
    name = f"{PREFIX}notifier-{metric.lower()}"
    props = AlarmProps(
        alarm_name=name,
        description=f"The notifier's {metric.lower()}",
        namespace="AWS/Lambda",
        metric_name=metric,
        dimensions={"FunctionName": FUNCTION, "Resource": f"{FUNCTION}:live"},
        statistic="Sum",
        period=300,
        evaluation_periods=3,
        datapoints_to_alarm=2,
        threshold=1,
        comparison_operator="GreaterThanOrEqualToThreshold",
        treat_missing_data="notBreaching",
        alarm_actions=(f"arn:aws:sns:{REGION}:{workspace.account_id}:{PREFIX}alerts",),
    )
    return Desired(entry, replace(props, **changes), name, workspace.tags("compute", entry, name))


def alarm_set(workspace: Workspace) -> list[Desired]:
    return [
        alarm_desired(workspace, ERRORS_ALARM, "Errors"),
        alarm_desired(workspace, THROTTLES_ALARM, "Throttles", threshold=5.5, treat_missing_data=None),
    ]


def alarm_kinds() -> dict[str, ResourceKind]:
    return {AlarmKind.kind: AlarmKind(PREFIX, SCOPE)}


def alarm(cloudwatch: Any, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    return found


def alarm_tags(cloudwatch: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in cloudwatch.list_tags_for_resource(ResourceARN=arn)["Tags"]}


class TestAlarms:
    def test_alarms_are_created_tagged_with_their_settings(
        self, ctx: KindContext, workspace: Workspace, cloudwatch: Any, account_id: str
    ) -> None:
        desired = alarm_set(workspace)

        outcome = converged(alarm_kinds(), ctx, desired, scope=SCOPE)

        assert actions(outcome) == {ERRORS_ALARM: Action.CREATE, THROTTLES_ALARM: Action.CREATE}
        name = f"{PREFIX}notifier-errors"
        arn = f"arn:aws:cloudwatch:{REGION}:{account_id}:alarm:{name}"
        assert outcome.result is not None
        assert outcome.result.observed[ERRORS_ALARM].outputs == {
            "id": name,
            "name": name,
            "arn": arn,
            "state": "INSUFFICIENT_DATA",
        }
        found = alarm(cloudwatch, name)
        assert found["AlarmArn"] == arn
        assert found["Threshold"] == 1.0
        assert found["DatapointsToAlarm"] == 2
        assert found["TreatMissingData"] == "notBreaching"
        assert {d["Name"]: d["Value"] for d in found["Dimensions"]} == desired[0].properties["dimensions"]
        assert found["AlarmActions"] == desired[0].properties["alarmActions"]
        assert alarm_tags(cloudwatch, arn) == dict(desired[0].tags)
        assert "TreatMissingData" not in alarm(cloudwatch, f"{PREFIX}notifier-throttles")

    def test_a_second_reconcile_reads_once_and_writes_nothing(
        self, ctx: KindContext, workspace: Workspace, calls: CallLog
    ) -> None:
        desired = alarm_set(workspace)
        converged(alarm_kinds(), ctx, desired, scope=SCOPE)
        calls.reset()

        outcome = converged(alarm_kinds(), ctx, desired, scope=SCOPE)

        assert outcome.plan.empty, outcome.plan.render()
        print(f"cloudwatch.alarm no-op reconcile of 2 alarms: {dict(calls.calls)}")
        assert dict(calls.calls) == {"cloudwatch:DescribeAlarms": 1}

    def test_drift_in_threshold_and_actions_is_repaired_and_tags_applied_again(
        self, ctx: KindContext, workspace: Workspace, cloudwatch: Any, calls: CallLog
    ) -> None:
        desired = alarm_set(workspace)
        converged(alarm_kinds(), ctx, desired, scope=SCOPE)
        name = f"{PREFIX}notifier-errors"
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Dimensions=[{"Name": "FunctionName", "Value": FUNCTION}, {"Name": "Resource", "Value": f"{FUNCTION}:live"}],
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=3,
            DatapointsToAlarm=2,
            Threshold=50,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
            AlarmDescription="The notifier's errors",
        )
        arn = alarm(cloudwatch, name)["AlarmArn"]
        cloudwatch.untag_resource(ResourceARN=arn, TagKeys=["Environment"])
        calls.reset()

        outcome = converged(alarm_kinds(), ctx, desired, scope=SCOPE)

        assert diff_paths(outcome, ERRORS_ALARM) == {"threshold", "alarmActions"}
        assert calls.mutating() == {"cloudwatch:PutMetricAlarm": 1, "cloudwatch:TagResource": 1}
        assert alarm(cloudwatch, name)["Threshold"] == 1.0
        assert alarm(cloudwatch, name)["AlarmActions"] == desired[0].properties["alarmActions"]
        assert alarm_tags(cloudwatch, arn)["Environment"] == "dev"
        assert_steady(alarm_kinds(), ctx, desired, calls)

    def test_an_alarm_no_longer_desired_is_deleted_and_others_left_alone(
        self, ctx: KindContext, workspace: Workspace, cloudwatch: Any
    ) -> None:
        converged(alarm_kinds(), ctx, alarm_set(workspace), scope=SCOPE)
        cloudwatch.put_metric_alarm(
            AlarmName="someone-elses",
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )

        outcome = converged(alarm_kinds(), ctx, alarm_set(workspace)[:1], scope=SCOPE)

        assert actions(outcome) == {f"{SCOPE}(untracked {PREFIX}notifier-throttles)": Action.DELETE}
        names = {a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]}
        assert names == {f"{PREFIX}notifier-errors", "someone-elses"}

    def test_destroy_deletes_the_alarms(self, ctx: KindContext, workspace: Workspace, cloudwatch: Any) -> None:
        desired = alarm_set(workspace)
        converged(alarm_kinds(), ctx, desired, scope=SCOPE)

        outcome = converged(alarm_kinds(), ctx, desired, scope=SCOPE, destroy=True)

        assert outcome.plan.count(Action.DELETE) == 2
        assert cloudwatch.describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"] == []

    def test_an_alarm_outside_the_prefix_is_refused(self, ctx: KindContext, workspace: Workspace) -> None:
        outside = alarm_desired(workspace, ERRORS_ALARM, "Errors", alarm_name="cutlass-tech-dev-paris-errors")
        with pytest.raises(ValueError, match="outside"):
            AlarmKind(PREFIX, SCOPE).observe_many(ctx, [outside])


# --- deployment packages -----------------------------------------------------------------------------------------


@pytest.fixture
def s3(clients: AwsClients) -> Any:
    return clients.client("s3")


@pytest.fixture
def bucket(s3: Any, account_id: str) -> str:
    """The artifact bucket as the bootstrap layer leaves it: versioned, TLS-only."""
    name = artifact_bucket_name(account_id)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(tls_only_policy(name)))
    return name


NOTIFIER_V1 = zipped(HANDLER)
NOTIFIER_V2 = zipped(HANDLER + "# v2\n")
USAGE_V1 = zipped("def handler(event, context):\n    return {'checked': True}\n")


def package_desired(entry: str, bucket: str, function: str, body: bytes, **changes: Any) -> Desired[PackageProps]:
    key = package_key(function, body)
    props = PackageProps(
        bucket=bucket, object_key=key, sha256=package_sha256(body), body=body, content_type="application/zip"
    )
    return Desired(entry, replace(props, **changes), key, {})


def package_kinds() -> dict[str, ResourceKind]:
    return {PackageKind.kind: PackageKind(orphan_scope=SCOPE)}


def package_set(bucket: str, notifier: bytes = NOTIFIER_V1) -> list[Desired]:
    return [
        package_desired(NOTIFIER_PACKAGE, bucket, FUNCTION, notifier),
        package_desired(USAGE_PACKAGE, bucket, f"{PREFIX}usage-check", USAGE_V1),
    ]


def keys_in(s3: Any, bucket: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


class TestPackages:
    def test_packages_are_uploaded_under_content_addressed_keys(self, ctx: KindContext, bucket: str, s3: Any) -> None:
        desired = package_set(bucket)

        outcome = converged(package_kinds(), ctx, desired, scope=SCOPE)

        assert actions(outcome) == {NOTIFIER_PACKAGE: Action.CREATE, USAGE_PACKAGE: Action.CREATE}
        key = package_key(FUNCTION, NOTIFIER_V1)
        assert key.startswith(f"functions/{FUNCTION}/") and key.endswith(".zip")
        assert keys_in(s3, bucket) == {d.properties["objectKey"] for d in desired}
        stored = s3.get_object(Bucket=bucket, Key=key)
        assert stored["Body"].read() == NOTIFIER_V1
        assert stored["ContentType"] == "application/zip"
        assert outcome.result is not None
        outputs = outcome.result.observed[NOTIFIER_PACKAGE].outputs
        assert outputs["id"] == outputs["key"] == key
        assert outputs["bucket"] == bucket
        assert outputs["sha256"] == package_sha256(NOTIFIER_V1)
        assert outputs["versionId"] == stored["VersionId"]

    def test_a_second_reconcile_lists_once_and_writes_nothing(
        self, ctx: KindContext, bucket: str, calls: CallLog
    ) -> None:
        kinds, desired = package_kinds(), package_set(bucket)
        converged(kinds, ctx, desired, scope=SCOPE)
        calls.reset()

        outcome = converged(kinds, ctx, desired, scope=SCOPE)

        assert outcome.plan.empty, outcome.plan.render()
        print(f"s3.object no-op reconcile of 2 packages: {dict(calls.calls)}")
        assert dict(calls.calls) == {"s3:ListObjectsV2": 1}

    def test_new_code_is_a_new_key_and_the_old_package_is_deleted_but_restorable(
        self, ctx: KindContext, bucket: str, s3: Any, calls: CallLog
    ) -> None:
        converged(package_kinds(), ctx, package_set(bucket), scope=SCOPE)
        kinds, desired = package_kinds(), package_set(bucket, NOTIFIER_V2)
        old, new = package_key(FUNCTION, NOTIFIER_V1), package_key(FUNCTION, NOTIFIER_V2)

        outcome = converged(kinds, ctx, desired, scope=SCOPE)

        assert actions(outcome) == {
            NOTIFIER_PACKAGE: Action.CREATE,
            f"{SCOPE}(untracked s3://{bucket}/{old})": Action.DELETE,
        }
        assert keys_in(s3, bucket) == {new, package_key(f"{PREFIX}usage-check", USAGE_V1)}
        versions = s3.list_object_versions(Bucket=bucket, Prefix=old)
        assert [v["Key"] for v in versions["Versions"]] == [old]
        assert [m["Key"] for m in versions["DeleteMarkers"]] == [old]
        assert_steady(kinds, ctx, desired, calls)

    def test_an_overwritten_or_deleted_package_is_uploaded_again(self, ctx: KindContext, bucket: str, s3: Any) -> None:
        kinds, desired = package_kinds(), package_set(bucket)
        converged(kinds, ctx, desired, scope=SCOPE)
        notifier, usage = (d.properties["objectKey"] for d in desired)
        s3.put_object(Bucket=bucket, Key=notifier, Body=b"not the package")
        s3.delete_object(Bucket=bucket, Key=usage)

        outcome = converged(kinds, ctx, desired, scope=SCOPE)

        assert actions(outcome) == {NOTIFIER_PACKAGE: Action.UPDATE, USAGE_PACKAGE: Action.CREATE}
        assert diff_paths(outcome, NOTIFIER_PACKAGE) == {"sha256"}
        assert s3.get_object(Bucket=bucket, Key=notifier)["Body"].read() == NOTIFIER_V1
        assert s3.get_object(Bucket=bucket, Key=usage)["Body"].read() == USAGE_V1

    def test_objects_outside_the_prefix_are_not_managed(self, ctx: KindContext, bucket: str, s3: Any) -> None:
        s3.put_object(Bucket=bucket, Key="notes/readme.txt", Body=b"kept")
        kinds, desired = package_kinds(), package_set(bucket)
        converged(kinds, ctx, desired, scope=SCOPE)

        outcome = converged(kinds, ctx, desired, scope=SCOPE, destroy=True)

        assert outcome.plan.count(Action.DELETE) == 2
        assert keys_in(s3, bucket) == {"notes/readme.txt"}

    def test_a_missing_bucket_is_waited_for(self, ctx: KindContext, account_id: str) -> None:
        desired = package_set(artifact_bucket_name(account_id))

        outcome = reconcile(package_kinds(), desired, ctx, scope=SCOPE)

        assert outcome.result is not None
        errors = outcome.result.errors
        assert set(errors) == {NOTIFIER_PACKAGE, USAGE_PACKAGE}
        assert all(isinstance(e, RetryableError) and e.reason == "WaitingForBucket" for e in errors.values())

    def test_a_body_the_layer_did_not_give_is_a_bug(self, ctx: KindContext, bucket: str, s3: Any) -> None:
        notifier, usage = package_set(bucket)
        without_body = replace(notifier, props=replace(notifier.props, body=b""))

        outcome = reconcile(package_kinds(), [without_body, usage], ctx, scope=SCOPE)

        assert outcome.result is not None
        assert set(outcome.result.errors) == {NOTIFIER_PACKAGE}
        assert "no body" in outcome.result.errors[NOTIFIER_PACKAGE].message
        assert keys_in(s3, bucket) == {package_key(f"{PREFIX}usage-check", USAGE_V1)}

    def test_a_key_that_does_not_name_its_digest_is_refused(self, ctx: KindContext, bucket: str) -> None:
        wrong = package_desired(NOTIFIER_PACKAGE, bucket, FUNCTION, NOTIFIER_V1, sha256=package_sha256(NOTIFIER_V2))
        with pytest.raises(ValueError, match="does not name"):
            PackageKind(orphan_scope=SCOPE).observe_many(ctx, [wrong])


# --- the emulator's TLS patch ------------------------------------------------------------------------------------


def deny(bucket: str, action: str, condition: Mapping[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
    }
    if condition is not None:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def status_of(call: Any) -> int:
    try:
        call()
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return 200


class TestSecureTransportPatch:
    def test_a_tls_only_policy_lets_object_requests_through(self, bucket: str, s3: Any) -> None:
        s3.put_object(Bucket=bucket, Key="functions/a.zip", Body=b"a")

        assert s3.get_object(Bucket=bucket, Key="functions/a.zip")["Body"].read() == b"a"
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "functions/a.zip"}]})
        assert keys_in(s3, bucket) == set()

    def test_policies_are_still_enforced(self, bucket: str, s3: Any) -> None:
        s3.put_object(Bucket=bucket, Key="functions/a.zip", Body=b"a")
        read = lambda: s3.get_object(Bucket=bucket, Key="functions/a.zip")  # noqa: E731

        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny(bucket, "s3:GetObject")))
        assert status_of(read) == 403
        # The condition is evaluated, not dropped: a Deny of requests over TLS applies.
        tls = {"Bool": {"aws:SecureTransport": "true"}}
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny(bucket, "s3:GetObject", tls)))
        assert status_of(read) == 403
        # A condition this patch does not decide is left to moto, which ignores unknown operators.
        other = {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny(bucket, "s3:GetObject", other)))
        assert status_of(read) == 403
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(tls_only_policy(bucket)))
        assert status_of(read) == 200

    def test_installing_twice_changes_nothing(self) -> None:
        patched = FakeBucket.get_permission
        s3_tls.install_secure_transport()
        assert FakeBucket.get_permission is patched
        assert patched is not s3_tls._moto_get_permission

    def test_lambda_reads_a_package_from_the_tls_only_bucket(
        self, ctx: KindContext, clients: AwsClients, bucket: str, lam: Any
    ) -> None:
        desired = package_set(bucket)
        converged(package_kinds(), ctx, desired, scope=SCOPE)
        role = clients.client("iam").create_role(RoleName="notifier", AssumeRolePolicyDocument=json.dumps(TRUST))

        function = lam.create_function(
            FunctionName=FUNCTION,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="index.handler",
            Code={"S3Bucket": bucket, "S3Key": desired[0].properties["objectKey"]},
        )

        assert function["CodeSha256"] == desired[0].properties["sha256"] == package_sha256(NOTIFIER_V1)
        assert function["CodeSize"] == len(NOTIFIER_V1)
