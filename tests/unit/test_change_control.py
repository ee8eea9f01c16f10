"""Change control's decisions, from a plan's changes alone: ids, what needs approval, what an
approval covers, and how specs and annotations become a request."""

from __future__ import annotations

from typing import Any

import pytest

from cutlass_operator.api.changes import Approval, ChangeControl, ChangePolicy, Drift, resolve_changes
from cutlass_operator.api.common import ApprovalRecord
from cutlass_operator.engine.plan import Action, Change
from cutlass_operator.engine.resource import Desired, FieldDiff, Observed
from cutlass_operator.handlers.control import worth_reconciling
from cutlass_operator.workflows.changes import ChangeRequest, decide
from tests.unit.memory_kind import MemoryProps

TAGS = {"cutlass.tech/key": "x"}


def create(key: str, **properties: object) -> Change:
    want = Desired(key, MemoryProps(properties), key, TAGS)
    return Change(Action.CREATE, key, want.kind, key, desired=want)


def update(key: str, path: str, old: object, new: object) -> Change:
    return Change(Action.UPDATE, key, "sqs.queue", key, diff=(FieldDiff(path, old, new),))


def delete(key: str, aws_id: str = "q-1") -> Change:
    return Change(Action.DELETE, key, "sqs.queue", key, observed=Observed(key, "sqs.queue", aws_id, {}, {}))


def policy(approval: Approval = Approval.AUTO, drift: Drift = Drift.CORRECT) -> ChangePolicy:
    return ChangePolicy(approval=approval, drift=drift)


def request(approval: Approval = Approval.AUTO, drift: Drift = Drift.CORRECT, **kwargs: object) -> ChangeRequest:
    return ChangeRequest(policy(approval, drift), kwargs.pop("digest", "specs-1"), **kwargs)  # type: ignore[arg-type]


class TestPlanIds:
    def test_the_same_changes_in_any_order_have_the_same_id(self) -> None:
        a, b = create("messaging/queue", delay=0), update("messaging/dlq", "retention", 4, 14)
        assert decide(request(), [a, b]).id == decide(request(), [b, a]).id

    def test_a_different_value_or_another_change_gives_another_id(self) -> None:
        base = decide(request(), [update("messaging/dlq", "retention", 4, 14)]).id
        assert decide(request(), [update("messaging/dlq", "retention", 4, 30)]).id != base
        assert decide(request(), [update("messaging/dlq", "retention", 4, 14), delete("x")]).id != base

    def test_the_current_value_generation_and_request_do_not_enter_the_id(self) -> None:
        """Only what will change: an unrelated commit, a restart or a different approval policy
        leave the id of the same changes as it was."""
        first = decide(request(Approval.MANUAL, digest="a"), [update("messaging/dlq", "retention", 4, 14)])
        second = decide(request(Approval.AUTO, digest="b"), [update("messaging/dlq", "retention", 7, 14)])
        assert first.id == second.id

    def test_no_ops_do_not_count(self) -> None:
        noop = Change(Action.NOOP, "network/vpc", "ec2.vpc", "vpc")
        change = create("messaging/queue")
        assert decide(request(), [change, noop]).id == decide(request(), [change]).id
        assert decide(request(), [noop]).changes == ()


class TestApproval:
    @pytest.mark.parametrize(
        ("approval", "changes", "awaiting"),
        [
            (Approval.AUTO, [delete("messaging/queue")], False),
            (Approval.DESTRUCTIVE, [create("messaging/queue"), update("messaging/dlq", "r", 1, 2)], False),
            (Approval.DESTRUCTIVE, [create("messaging/queue"), delete("messaging/old")], True),
            (Approval.MANUAL, [update("messaging/dlq", "r", 1, 2)], True),
            (Approval.MANUAL, [], False),
        ],
    )
    def test_what_waits_under_each_policy(self, approval: Approval, changes: list[Change], awaiting: bool) -> None:
        assert decide(request(approval), changes).awaiting is awaiting

    def test_an_update_that_removes_part_of_a_resource_is_destructive(self) -> None:
        replica = Change(Action.UPDATE, "tables/t", "dynamodb.table", "t", removes=True)
        assert decide(request(Approval.DESTRUCTIVE), [replica]).awaiting

    def test_the_annotation_approves_exactly_the_plan_it_names(self) -> None:
        changes = [delete("messaging/old")]
        waiting = decide(request(Approval.MANUAL), changes)
        assert decide(request(Approval.MANUAL, approved_id="0123456789ab"), changes).awaiting
        approved = decide(request(Approval.MANUAL, approved_id=waiting.id), changes)
        assert not approved.awaiting
        assert approved.record is not None and approved.record.plan_id == waiting.id
        assert all(approved.allows(c) for c in changes)

    def test_a_change_the_approved_plan_did_not_show_is_refused_at_write_time(self) -> None:
        shown = [update("messaging/dlq", "retention", 4, 14)]
        gate = decide(request(Approval.MANUAL, approved_id=decide(request(Approval.MANUAL), shown).id), shown)
        refused = gate.refusal([*shown, delete("messaging/queue")])
        assert refused is not None and refused.reason == "PlanChanged"
        assert "messaging/queue" in refused.message or "sqs.queue" in refused.message
        assert gate.refusal(shown) is None

    def test_the_rest_of_an_approved_plan_needs_no_second_approval_while_the_specs_stand(self) -> None:
        """A region waiting for its replicas applies its plan in two reconciles; the second plan is
        the first one's rest, with values that were unknown before now known."""
        first = [create("network/vpc"), create("compute/fn", subnets="(known after the network layer is applied)")]
        approved = decide(request(Approval.MANUAL, approved_id=decide(request(Approval.MANUAL), first).id), first)
        assert approved.record is not None
        rest = [create("compute/fn", subnets=["subnet-1"])]
        carried = decide(request(Approval.MANUAL, record=approved.record), rest)
        assert not carried.awaiting and carried.id != approved.id
        edited = decide(request(Approval.MANUAL, record=approved.record, digest="specs-2"), rest)
        assert edited.awaiting, "a spec edit voids the approval"
        done = approved.record.model_copy(update={"complete": True})
        assert decide(request(Approval.MANUAL, record=done), rest).awaiting, "a complete plan covers nothing more"
        extra = decide(request(Approval.MANUAL, record=approved.record), [*rest, delete("messaging/q")])
        assert extra.awaiting, "a change the approval did not cover"

    def test_drift_under_report_waits_and_under_correct_applies(self) -> None:
        drift = [update("messaging/dlq", "retention", 4, 14)]
        reported = decide(request(drift=Drift.REPORT, drift_check=True), drift)
        assert reported.awaiting and reported.drift
        assert not decide(request(drift=Drift.CORRECT, drift_check=True), drift).awaiting
        # Not a resync of applied specs: a spec change, applied under Auto.
        assert not decide(request(drift=Drift.REPORT, drift_check=False), drift).awaiting
        approved = decide(request(drift=Drift.REPORT, drift_check=True, approved_id=reported.id), drift)
        assert not approved.awaiting

    def test_the_message_names_the_plan_and_the_commands_to_approve_it(self) -> None:
        gate = decide(request(Approval.MANUAL), [delete("messaging/old")])
        message = gate.awaiting_message("cutlassregion/dev-london", "cutlass-dev")
        assert f"cutlass approve cutlassregion/dev-london -n cutlass-dev --plan {gate.id}" in message
        assert f"cutlass.tech/approve={gate.id}" in message


class TestPolicy:
    def test_defaults_follow_the_tier_and_a_region_overrides_field_by_field(self) -> None:
        assert resolve_changes(False) == policy(Approval.AUTO, Drift.CORRECT)
        assert resolve_changes(True) == policy(Approval.DESTRUCTIVE, Drift.CORRECT)
        env = ChangeControl(approval=Approval.MANUAL)
        region = ChangeControl(drift=Drift.REPORT)
        assert resolve_changes(False, env, region) == policy(Approval.MANUAL, Drift.REPORT)
        assert resolve_changes(True, env, ChangeControl(approval=Approval.AUTO)).approval == Approval.AUTO

    def test_only_the_spec_and_the_change_control_annotations_wake_a_reconcile(self) -> None:
        def obj(spec: dict[str, object], **annotations: str) -> dict[str, object]:
            return {"spec": spec, "metadata": {"annotations": annotations}}

        assert worth_reconciling(obj({"a": 1}), obj({"a": 2}))
        assert worth_reconciling(obj({}), obj({}, **{"cutlass.tech/approve": "abc"}))
        assert not worth_reconciling(obj({}, **{"cutlass.tech/approve": "abc"}), obj({})), "consumed by the operator"
        assert worth_reconciling(obj({}, **{"cutlass.tech/paused": "true"}), obj({}))
        assert worth_reconciling(obj({}), obj({}, **{"cutlass.tech/reconcile-requested-at": "now"}))
        assert not worth_reconciling(obj({}), obj({}, **{"kubectl.kubernetes.io/last-applied-configuration": "{}"}))


def test_a_record_round_trips_through_the_status_shape() -> None:
    record = ApprovalRecord(plan_id="abc", inputs_digest="d", changes=["c1"])
    assert ApprovalRecord.model_validate(record.model_dump(by_alias=True)) == record
    assert "planId" in record.model_dump(by_alias=True)


def test_the_inputs_digest_follows_the_specs_but_not_the_change_policy() -> None:
    from cutlass_operator.api.environment import CutlassEnvironmentSpec
    from cutlass_operator.workflows.changes import inputs_digest

    spec = CutlassEnvironmentSpec.model_validate(
        {"accountId": "111111111111", "tier": "dev", "notifications": {"senderEmail": "a@example.com"}}
    )
    reported = spec.model_copy(update={"changes": ChangeControl(drift=Drift.REPORT)})
    tagged = spec.model_copy(update={"tags": {"team": "a"}})
    assert inputs_digest("apply", spec) == inputs_digest("apply", reported)
    assert inputs_digest("apply", spec) != inputs_digest("apply", tagged)
    assert inputs_digest("apply", spec) != inputs_digest("destroy", spec)


def test_a_reconcile_that_waited_its_turn_reads_the_status_the_one_before_it_wrote() -> None:
    """kopf sends a handler's status patch after the handler returns: the next reconcile of the
    object, which waited for the lock, would otherwise see the status from before."""
    import kopf

    from cutlass_operator.handlers.control import Snapshot

    raw: Any = {"metadata": {"name": "r", "generation": 2}, "status": {"appliedDigest": "old", "phase": "Ready"}}
    body = kopf.Body(raw)
    memo: dict[str, object] = {}
    first = Snapshot.of(body, memo)
    patch = kopf.Patch()
    first.write_status(patch, {"appliedDigest": "new"})
    assert patch["status"] == {"appliedDigest": "new"}
    later = Snapshot.of(body, memo)  # the live body has not caught up yet
    assert later.status == {"appliedDigest": "new", "phase": "Ready"}
    assert Snapshot.of(body).status["appliedDigest"] == "old", "without the memo, the body as it is"
