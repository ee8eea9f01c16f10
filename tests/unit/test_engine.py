"""The engine's planning and ordering, with an in-memory kind (no AWS)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.engine.plan import Action, build_plan
from cutlass_operator.engine.reconcile import reconcile
from cutlass_operator.engine.resource import Desired, KindContext, Observed, Ref
from tests.unit.memory_kind import MemoryKind, MemoryProps

CTX = KindContext(clients=None, account_id="111111111111", region="eu-west-2", selector={})  # type: ignore[arg-type]


def desired(key: str, **props: object) -> Desired:
    return Desired(key, MemoryProps(props), f"name-{key}", {"cutlass.tech/key": key})


def graph() -> list[Desired]:
    return [
        desired("vpc", cidr="10.0.0.0/16"),
        desired("subnet-a", vpc=Ref("vpc", "id"), cidr="10.0.1.0/24"),
        desired("subnet-b", vpc=Ref("vpc", "id"), cidr="10.0.2.0/24"),
        desired("route", subnets=[Ref("subnet-a", "id"), Ref("subnet-b", "id")]),
    ]


def test_first_apply_creates_everything_dependencies_first() -> None:
    kind = MemoryKind()
    outcome = reconcile({kind.kind: kind}, graph(), CTX)
    assert outcome.plan.count(Action.CREATE) == 4
    assert outcome.result is not None and outcome.result.ok
    order = [key for action, key in kind.log]
    assert order.index("vpc") < order.index("subnet-a") < order.index("route")
    assert order.index("subnet-b") < order.index("route")
    route = next(o for o in kind.store.values() if o.key == "route")
    subnet_ids = {o.id for o in kind.store.values() if o.key.startswith("subnet")}
    assert set(route.properties["subnets"]) == subnet_ids


def test_second_apply_is_a_no_op_without_writes() -> None:
    kind = MemoryKind()
    reconcile({kind.kind: kind}, graph(), CTX)
    kind.log.clear()
    outcome = reconcile({kind.kind: kind}, graph(), CTX)
    assert outcome.plan.empty, outcome.plan.render()
    assert kind.log == []


def test_drift_is_planned_as_an_update_with_a_readable_diff() -> None:
    kind = MemoryKind()
    reconcile({kind.kind: kind}, graph(), CTX)
    subnet = next(o for o in kind.store.values() if o.key == "subnet-a")
    subnet.properties["cidr"] = "10.0.9.0/24"
    plan = build_plan(graph(), kind.observe_many(CTX, []), {kind.kind: kind})
    assert [c.key for c in plan.pending] == ["subnet-a"]
    assert "~ memory.thing name-subnet-a (cidr: '10.0.9.0/24' -> '10.0.1.0/24')" in plan.render()
    assert "1 to update" in plan.render()


def test_a_resource_no_longer_desired_is_deleted() -> None:
    kind = MemoryKind()
    reconcile({kind.kind: kind}, graph(), CTX)
    outcome = reconcile({kind.kind: kind}, graph()[:3], CTX)
    assert [(c.action, c.key) for c in outcome.plan.pending] == [(Action.DELETE, "route")]
    assert {o.key for o in kind.store.values()} == {"vpc", "subnet-a", "subnet-b"}


def test_duplicates_left_by_a_crash_are_deleted_keeping_one() -> None:
    kind = MemoryKind()
    reconcile({kind.kind: kind}, graph()[:1], CTX)
    kind.store["stray"] = Observed("vpc", kind.kind, "stray", {"cidr": "10.0.0.0/16"}, {"cutlass.tech/key": "vpc"})
    outcome = reconcile({kind.kind: kind}, graph()[:1], CTX)
    assert [c.why for c in outcome.plan.pending] == ["duplicate"]
    assert len(kind.store) == 1


def test_a_failed_dependency_blocks_its_dependants_only() -> None:
    kind = MemoryKind(fail_on={"subnet-a"})
    outcome = reconcile({kind.kind: kind}, graph(), CTX)
    assert outcome.result is not None
    assert outcome.result.errors["subnet-a"].reason == "Boom"
    assert outcome.result.errors["route"].reason == "DependencyFailed"
    assert {o.key for o in kind.store.values()} == {"vpc", "subnet-b"}


def test_changing_an_immutable_field_is_terminal_and_writes_nothing() -> None:
    kind = MemoryKind()
    reconcile({kind.kind: kind}, [desired("vpc", fixed="a")], CTX)
    kind.log.clear()
    with pytest.raises(TerminalError, match=r"cannot change in place \(fixed: 'a' -> 'b'\)"):
        reconcile({kind.kind: kind}, [desired("vpc", fixed="b")], CTX)
    assert kind.log == []


def test_a_refused_change_names_the_spec_field_it_comes_from() -> None:
    kind = MemoryKind()
    reconcile({kind.kind: kind}, [desired("vpc", fixed="a")], CTX)
    edited = replace(desired("vpc", fixed="b"), origins={"fixed": "spec.network.vpcCidr"})
    with pytest.raises(TerminalError, match=r"^spec.network.vpcCidr: .* cannot change in place \(fixed:"):
        reconcile({kind.kind: kind}, [edited], CTX)


class ReplaceableKind(MemoryKind):
    replaceable = frozenset({"fixed"})


def test_a_replaceable_field_is_replaced_new_first_and_the_old_goes_after_the_dependants_moved() -> None:
    kind = ReplaceableKind()
    wanted = [desired("stage", fixed="a"), desired("plan", stage=Ref("stage", "id"))]
    reconcile({kind.kind: kind}, wanted, CTX)
    old = next(o.id for o in kind.store.values() if o.key == "stage")
    kind.log.clear()
    wanted[0] = desired("stage", fixed="b")
    outcome = reconcile({kind.kind: kind}, wanted, CTX)
    assert [(c.action, c.key, c.why) for c in outcome.plan.pending] == [
        (Action.REPLACE, "stage", "AWS cannot change fixed in place"),
        (Action.UPDATE, "plan", "follows the replacement of stage"),
    ]
    assert "± memory.thing name-stage (fixed: 'a' -> 'b') [AWS cannot change fixed in place]" in outcome.plan.render()
    assert "1 to replace" in outcome.plan.headline()
    assert kind.log == [("create", "stage"), ("update", "plan"), ("delete", "stage")]
    new = next(o for o in kind.store.values() if o.key == "stage")
    assert new.id != old and new.properties["fixed"] == "b" and len(kind.store) == 2
    assert outcome.result is not None and outcome.result.observed["stage"].id == new.id
    plan = next(o for o in kind.store.values() if o.key == "plan")
    assert plan.properties["stage"] == new.id
    assert reconcile({kind.kind: kind}, wanted, CTX).plan.empty


def test_a_crash_between_a_replacements_create_and_delete_keeps_the_new_copy() -> None:
    kind = ReplaceableKind()
    reconcile({kind.kind: kind}, [desired("stage", fixed="a")], CTX)
    kind.store["new"] = Observed("stage", kind.kind, "new", {"fixed": "b"}, {"cutlass.tech/key": "stage"})
    outcome = reconcile({kind.kind: kind}, [desired("stage", fixed="b")], CTX)
    assert [(c.action, c.why) for c in outcome.plan.pending] == [(Action.DELETE, "duplicate")]
    assert [o.id for o in kind.store.values()] == ["new"]


def test_destroy_deletes_everything_and_plan_only_writes_nothing() -> None:
    kind = MemoryKind()
    reconcile({kind.kind: kind}, graph(), CTX)
    kind.log.clear()
    planned = reconcile({kind.kind: kind}, graph(), CTX, apply=False, destroy=True)
    assert planned.result is None and planned.plan.count(Action.DELETE) == 4 and kind.log == []
    reconcile({kind.kind: kind}, graph(), CTX, destroy=True)
    assert kind.store == {}


def test_cycles_and_dangling_references_are_rejected() -> None:
    kind = MemoryKind()
    with pytest.raises(ValueError, match="cycle"):
        build_plan([desired("a", x=Ref("b", "id")), desired("b", x=Ref("a", "id"))], [], {kind.kind: kind})
    with pytest.raises(ValueError, match="undeclared"):
        build_plan([desired("a", x=Ref("missing", "id"))], [], {kind.kind: kind})


class RetainingKind(MemoryKind):
    def retain(self, ctx: KindContext, observed: Observed) -> None:
        self._record("retain", observed.key)
        self.store.pop(observed.id, None)


def test_with_retain_the_deletion_policy_leaves_resources_instead_of_deleting() -> None:
    kind = RetainingKind()
    reconcile({kind.kind: kind}, graph(), CTX)
    kind.log.clear()
    outcome = reconcile({kind.kind: kind}, graph(), CTX, destroy=True, retain=True)
    assert outcome.plan.count(Action.RETAIN) == 4 and outcome.plan.count(Action.DELETE) == 0
    assert "= memory.thing name-vpc [destroy]" in outcome.plan.render()
    assert {action for action, _ in kind.log} == {"retain"}


def test_a_kind_that_cannot_retain_fails_terminally_rather_than_deleting() -> None:
    kind = MemoryKind()
    reconcile({kind.kind: kind}, graph()[:1], CTX)
    outcome = reconcile({kind.kind: kind}, graph()[:1], CTX, destroy=True, retain=True)
    assert outcome.result is not None and outcome.result.errors["vpc"].reason == "RetainUnsupported"
    assert len(kind.store) == 1


def test_a_resource_can_override_the_deletion_policy_of_its_layer() -> None:
    kind = RetainingKind()
    wanted = [desired("data", x=1), Desired("scratch", MemoryProps({}), "name-scratch", {}, retain=False)]
    reconcile({kind.kind: kind}, wanted, CTX)
    outcome = reconcile({kind.kind: kind}, wanted, CTX, destroy=True, retain=True)
    assert {c.key: c.action for c in outcome.plan.pending} == {"data": Action.RETAIN, "scratch": Action.DELETE}
