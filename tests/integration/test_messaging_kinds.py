"""The messaging kinds `sqs.queue`, `ses.identity` and `ses.template` against the moto server over
HTTP, driven by the engine: create, a steady state that writes nothing, drift repaired, delete,
and retain for queues.

The queues are the notifications queue and its dead-letter queue: the main queue's redrive policy
takes the DLQ's ARN through a `Ref`, and both are encrypted with a KMS key created by the same
reconcile (the key's ARN through a `Ref` too).

moto 5.2.5 gaps met here (the product is not weakened for them):
- DeleteTemplate of a template that does not exist fails with an internal error (a KeyError in
  moto) instead of succeeding; the kind only deletes templates it has just observed.
- SES identities are verified at once (`Success`); AWS answers `Pending` until the link is
  followed or the TXT record published.
- SESv2 templates are not emulated, hence the v1 API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import pytest

from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.session import AwsClients
from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.engine.identity import COMPONENT, ENVIRONMENT, KEY, MANAGED_BY, RETAINED, WORKSPACE, Workspace
from cutlass_operator.engine.plan import Action
from cutlass_operator.engine.reconcile import Outcome, reconcile
from cutlass_operator.engine.resource import Desired, KindContext, Ref, ResourceKind
from cutlass_operator.props.kms import KmsKeyProps
from cutlass_operator.props.ses import IdentityProps, TemplateProps
from cutlass_operator.props.sqs import QueueProps, RedrivePolicy
from cutlass_operator.resources.kms import KmsKeyKind
from cutlass_operator.resources.ses import IdentityKind, TemplateKind
from cutlass_operator.resources.sqs import QueueKind

from .outcomes import diff_paths

pytestmark = pytest.mark.integration

REGION = "eu-west-2"
IDENTITY = (MANAGED_BY, WORKSPACE, KEY, COMPONENT, ENVIRONMENT)
KEY_ENTRY = "messaging/key"
DLQ_ENTRY = "messaging/notifications-dlq"
QUEUE_ENTRY = "messaging/notifications"
SENDER_ENTRY = "messaging/sender"
DOMAIN_ENTRY = "messaging/domain"
T80_ENTRY = "messaging/template-80"
T100_ENTRY = "messaging/template-100"
TEMPLATE_PREFIX = "cutlass-tech-alert-dev-london-"


@pytest.fixture
def sqs(clients: AwsClients) -> Any:
    return clients.client("sqs")


@pytest.fixture
def ses(clients: AwsClients) -> Any:
    return clients.client("ses")


def key_desired(workspace: Workspace) -> Desired[KmsKeyProps]:
    name = workspace.resource_name("messaging-key")
    root = f"arn:aws:iam::{workspace.account_id}:root"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"}
        ],
    }
    props = KmsKeyProps(
        description="Cutlass messaging key",
        alias="alias/cutlass-tech-messaging-dev-london",
        enable_key_rotation=True,
        policy=policy,
        key_spec="SYMMETRIC_DEFAULT",
        key_usage="ENCRYPT_DECRYPT",
    )
    return Desired(KEY_ENTRY, props, name, workspace.tags("messaging", KEY_ENTRY, name))


def queue_desired(workspace: Workspace, entry: str, component: str, **changes: Any) -> Desired[QueueProps]:
    name = workspace.resource_name(component)
    fields: dict[str, Any] = {
        "queue_name": name,
        "kms_master_key_id": Ref(KEY_ENTRY, "arn"),
        "kms_data_key_reuse_period_seconds": 300,
        "visibility_timeout": 180,
        "message_retention_period": 1209600,
        "receive_message_wait_time_seconds": 20,
        "redrive_policy": None,
        **changes,
    }
    return Desired(entry, QueueProps(**fields), name, workspace.tags("messaging", entry, name))


def dlq_desired(workspace: Workspace, **changes: Any) -> Desired[QueueProps]:
    return queue_desired(workspace, DLQ_ENTRY, "notifications-dlq", **changes)


def main_desired(workspace: Workspace, **changes: Any) -> Desired[QueueProps]:
    redrive = RedrivePolicy(Ref(DLQ_ENTRY, "arn"), 5)
    return queue_desired(workspace, QUEUE_ENTRY, "notifications", **{"redrive_policy": redrive, **changes})


def queue_kinds() -> dict[str, ResourceKind[Any]]:
    return {"kms.key": KmsKeyKind(), "sqs.queue": QueueKind()}


def queue_set(workspace: Workspace) -> list[Desired[Any]]:
    return [key_desired(workspace), dlq_desired(workspace), main_desired(workspace)]


def identity_desired(entry: str, identity: str, kind: Literal["email", "domain"]) -> Desired[IdentityProps]:
    return Desired(entry, IdentityProps(identity=identity, identity_kind=kind), identity, {})


def template_desired(entry: str, suffix: str) -> Desired[TemplateProps]:
    name = f"{TEMPLATE_PREFIX}{suffix}"
    props = TemplateProps(
        template_name=name,
        subject=f"Usage of {{{{name}}}} crossed {suffix}%",
        html=f"<p>{{{{name}}}} has used {suffix}% of its credits.</p>",
        text=f"{{{{name}}}} has used {suffix}% of its credits.",
    )
    return Desired(entry, props, name, {})


def ses_kinds() -> dict[str, ResourceKind[Any]]:
    return {"ses.identity": IdentityKind(), "ses.template": TemplateKind(TEMPLATE_PREFIX, "messaging/")}


def ses_set() -> list[Desired[Any]]:
    return [
        identity_desired(SENDER_ENTRY, "alerts@cutlass.example.com", "email"),
        identity_desired(DOMAIN_ENTRY, "cutlass.example.com", "domain"),
        template_desired(T80_ENTRY, "80"),
        template_desired(T100_ENTRY, "100"),
    ]


def converged(
    kinds: Mapping[str, ResourceKind[Any]], ctx: KindContext, desired: list[Desired[Any]], **options: Any
) -> Outcome:
    outcome = reconcile(kinds, desired, ctx, **options)
    assert outcome.result is not None
    assert outcome.result.ok, {key: err.message for key, err in outcome.result.errors.items()}
    return outcome


def assert_in_sync(kinds: Mapping[str, ResourceKind[Any]], ctx: KindContext, desired: list[Desired[Any]]) -> None:
    """Every desired entry observed (refs resolved from the observed outputs), with no difference."""
    found = {
        o.key: o for kind in kinds.values() for o in kind.observe_many(ctx, [d for d in desired if d.kind == kind.kind])
    }
    assert sorted(found) == sorted(d.key for d in desired)
    outputs = {key: o.outputs for key, o in found.items()}
    for want in desired:
        resolved = want.resolved(outputs)
        assert kinds[want.kind].compare(resolved, found[want.key]) == [], want.key


def attributes(sqs: Any, url: str) -> dict[str, str]:
    result: dict[str, str] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return result


def queue_tags(sqs: Any, url: str) -> dict[str, str]:
    result: dict[str, str] = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
    return result


class TestQueues:
    def test_queues_are_created_encrypted_tagged_and_with_the_redrive_to_the_dlq(
        self, ctx: KindContext, workspace: Workspace, sqs: Any, account_id: str
    ) -> None:
        kinds, desired = queue_kinds(), queue_set(workspace)

        outcome = converged(kinds, ctx, desired)

        assert {c.key: c.action for c in outcome.plan.changes} == {
            KEY_ENTRY: Action.CREATE,
            DLQ_ENTRY: Action.CREATE,
            QUEUE_ENTRY: Action.CREATE,
        }
        assert outcome.result is not None
        key_arn = outcome.result.observed[KEY_ENTRY].outputs["arn"]
        dlq = outcome.result.observed[DLQ_ENTRY].outputs
        main = outcome.result.observed[QUEUE_ENTRY].outputs
        dlq_name = workspace.resource_name("notifications-dlq")
        assert dlq["name"] == dlq_name
        assert dlq["arn"] == f"arn:aws:sqs:{REGION}:{account_id}:{dlq_name}"
        assert dlq["id"] == dlq["url"] == sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
        main_attributes = attributes(sqs, main["url"])
        assert json.loads(main_attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["arn"], "maxReceiveCount": 5}
        assert main_attributes["KmsMasterKeyId"] == key_arn
        assert main_attributes["VisibilityTimeout"] == "180"
        assert main_attributes["ReceiveMessageWaitTimeSeconds"] == "20"
        assert attributes(sqs, dlq["url"])["KmsMasterKeyId"] == key_arn
        assert queue_tags(sqs, main["url"]) == dict(desired[2].tags)
        assert_in_sync(kinds, ctx, desired)

    def test_a_second_reconcile_writes_nothing(self, ctx: KindContext, workspace: Workspace, calls: CallLog) -> None:
        kinds, desired = {"sqs.queue": QueueKind()}, queue_set(workspace)
        converged(queue_kinds(), ctx, desired)
        # The key is observed by its own kind; here the queues alone, with the key's ARN resolved.
        key_arn = KmsKeyKind().observe_many(ctx, [desired[0]])[0].outputs["arn"]
        queues = [d.resolved({KEY_ENTRY: {"arn": key_arn}}) for d in desired[1:]]
        calls.reset()

        outcome = converged(kinds, ctx, queues)

        assert outcome.plan.empty, outcome.plan.render()
        assert calls.mutating() == {}
        print(f"sqs.queue no-op reconcile of 2 queues: {calls.reads} reads: {dict(calls.calls)}")
        assert dict(calls.calls) == {
            "resourcegroupstaggingapi:GetResources": 1,
            "sqs:GetQueueAttributes": 2,
        }
        # The URL observe builds is the one SQS answers with.
        sqs = ctx.clients.client("sqs", ctx.region)
        for queue in outcome.plan.observed.values():
            assert queue.outputs["url"] == sqs.get_queue_url(QueueName=queue.outputs["name"])["QueueUrl"]
        calls.reset()
        assert converged(queue_kinds(), ctx, desired).plan.empty
        assert calls.mutating() == {}

    def test_drift_in_visibility_timeout_redrive_and_tags_is_repaired(
        self, ctx: KindContext, workspace: Workspace, sqs: Any
    ) -> None:
        kinds, desired = queue_kinds(), queue_set(workspace)
        created = converged(kinds, ctx, desired).result
        assert created is not None
        main = created.observed[QUEUE_ENTRY].outputs["url"]
        dlq_arn = created.observed[DLQ_ENTRY].outputs["arn"]
        sqs.set_queue_attributes(QueueUrl=main, Attributes={"VisibilityTimeout": "30", "RedrivePolicy": ""})
        sqs.untag_queue(QueueUrl=main, TagKeys=["Environment"])
        assert "RedrivePolicy" not in attributes(sqs, main)

        outcome = converged(kinds, ctx, desired)

        assert diff_paths(outcome, QUEUE_ENTRY) == {"visibilityTimeout", "redrivePolicy", "tags.Environment"}
        assert attributes(sqs, main)["VisibilityTimeout"] == "180"
        assert json.loads(attributes(sqs, main)["RedrivePolicy"]) == {
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": 5,
        }
        assert queue_tags(sqs, main)["Environment"] == "dev"
        assert_in_sync(kinds, ctx, desired)

    def test_a_redrive_policy_no_longer_desired_is_removed(
        self, ctx: KindContext, workspace: Workspace, sqs: Any
    ) -> None:
        kinds, desired = queue_kinds(), queue_set(workspace)
        converged(kinds, ctx, desired)
        without = [desired[0], desired[1], main_desired(workspace, redrive_policy=None, visibility_timeout=60)]

        outcome = converged(kinds, ctx, without)

        assert diff_paths(outcome, QUEUE_ENTRY) == {"redrivePolicy", "visibilityTimeout"}
        url = sqs.get_queue_url(QueueName=workspace.resource_name("notifications"))["QueueUrl"]
        assert "RedrivePolicy" not in attributes(sqs, url)
        assert converged(kinds, ctx, without).plan.empty

    def test_a_renamed_queue_is_a_terminal_error(self, ctx: KindContext, workspace: Workspace) -> None:
        kinds, desired = queue_kinds(), queue_set(workspace)
        converged(kinds, ctx, desired)
        renamed = [desired[0], desired[1], main_desired(workspace, queue_name="cutlass-tech-other-dev-london")]

        with pytest.raises(TerminalError, match="queueName"):
            reconcile(kinds, renamed, ctx)

    def test_destroy_deletes_the_queues(self, ctx: KindContext, workspace: Workspace, sqs: Any) -> None:
        kinds, desired = queue_kinds(), queue_set(workspace)
        converged(kinds, ctx, desired)

        outcome = converged(kinds, ctx, desired, destroy=True)

        assert outcome.plan.count(Action.DELETE) == 3
        assert sqs.list_queues(QueueNamePrefix="cutlass-tech-notifications").get("QueueUrls", []) == []
        assert QueueKind().observe_many(ctx, desired[1:]) == []

    def test_retain_leaves_the_queues_tagged_retained_and_no_longer_managed(
        self, ctx: KindContext, workspace: Workspace, sqs: Any
    ) -> None:
        kinds, desired = {"sqs.queue": QueueKind()}, queue_set(workspace)
        created = converged(queue_kinds(), ctx, desired).result
        assert created is not None
        queues = [d.resolved({KEY_ENTRY: created.observed[KEY_ENTRY].outputs}) for d in desired[1:]]

        outcome = converged(kinds, ctx, queues, destroy=True, retain=True)

        assert outcome.plan.count(Action.RETAIN) == 2
        url = created.observed[QUEUE_ENTRY].outputs["url"]
        tags = queue_tags(sqs, url)
        assert tags[RETAINED] == "true"
        assert not set(IDENTITY) & set(tags)
        assert "RedrivePolicy" in attributes(sqs, url)
        assert QueueKind().observe_many(ctx, queues) == []


class TestSes:
    def test_identities_and_templates_are_created_and_in_sync(self, ctx: KindContext, ses: Any) -> None:
        kinds, desired = ses_kinds(), ses_set()

        outcome = converged(kinds, ctx, desired)

        assert {c.action for c in outcome.plan.changes} == {Action.CREATE}
        assert outcome.result is not None
        assert outcome.result.observed[T80_ENTRY].outputs == {
            "id": f"{TEMPLATE_PREFIX}80",
            "name": f"{TEMPLATE_PREFIX}80",
        }
        assert outcome.result.observed[SENDER_ENTRY].outputs["id"] == "alerts@cutlass.example.com"
        assert set(ses.list_identities()["Identities"]) == {"alerts@cutlass.example.com", "cutlass.example.com"}
        template = ses.get_template(TemplateName=f"{TEMPLATE_PREFIX}100")["Template"]
        assert template["TextPart"] == "{{name}} has used 100% of its credits."
        assert_in_sync(kinds, ctx, desired)
        observed = IdentityKind().observe_many(ctx, desired[:2])
        # moto verifies at once; AWS reports Pending until the owner verifies.
        assert {o.outputs["verificationStatus"] for o in observed} <= {"Pending", "Success"}

    def test_a_second_reconcile_writes_nothing(self, ctx: KindContext, calls: CallLog) -> None:
        kinds, desired = ses_kinds(), ses_set()
        converged(kinds, ctx, desired)
        calls.reset()

        outcome = converged(kinds, ctx, desired)

        assert outcome.plan.empty, outcome.plan.render()
        assert calls.mutating() == {}
        print(f"ses no-op reconcile of 2 identities and 2 templates: {calls.reads} reads: {dict(calls.calls)}")
        assert dict(calls.calls) == {
            "ses:ListIdentities": 1,
            "ses:GetIdentityVerificationAttributes": 1,
            "ses:ListTemplates": 1,
            "ses:GetTemplate": 2,
        }

    def test_template_drift_is_repaired_and_a_deleted_identity_recreated(self, ctx: KindContext, ses: Any) -> None:
        kinds, desired = ses_kinds(), ses_set()
        converged(kinds, ctx, desired)
        name = f"{TEMPLATE_PREFIX}80"
        ses.update_template(Template={"TemplateName": name, "SubjectPart": "changed", "TextPart": "changed"})
        ses.delete_identity(Identity="alerts@cutlass.example.com")

        outcome = converged(kinds, ctx, desired)

        assert diff_paths(outcome, T80_ENTRY) == {"subject", "html", "text"}
        assert {c.key: c.action for c in outcome.plan.changes if c.action != Action.NOOP} == {
            T80_ENTRY: Action.UPDATE,
            SENDER_ENTRY: Action.CREATE,
        }
        template = ses.get_template(TemplateName=name)["Template"]
        assert template["TextPart"] == "{{name}} has used 80% of its credits."
        assert template["HtmlPart"] == "<p>{{name}} has used 80% of its credits.</p>"
        assert "alerts@cutlass.example.com" in ses.list_identities()["Identities"]
        assert_in_sync(kinds, ctx, desired)

    def test_a_template_no_longer_desired_is_deleted_as_an_orphan(self, ctx: KindContext, ses: Any) -> None:
        kinds, desired = ses_kinds(), ses_set()
        converged(kinds, ctx, desired)
        ses.create_template(Template={"TemplateName": "someone-elses", "SubjectPart": "s", "TextPart": "t"})

        outcome = converged(kinds, ctx, [d for d in desired if d.key != T100_ENTRY], scope="messaging/")

        assert [c.action for c in outcome.plan.changes if c.action != Action.NOOP] == [Action.DELETE]
        names = {m["Name"] for m in ses.list_templates()["TemplatesMetadata"]}
        assert names == {f"{TEMPLATE_PREFIX}80", "someone-elses"}

    def test_destroy_deletes_identities_and_templates(self, ctx: KindContext, ses: Any) -> None:
        kinds, desired = ses_kinds(), ses_set()
        converged(kinds, ctx, desired)

        outcome = converged(kinds, ctx, desired, destroy=True)

        assert outcome.plan.count(Action.DELETE) == 4
        assert ses.list_identities()["Identities"] == []
        assert ses.list_templates()["TemplatesMetadata"] == []
