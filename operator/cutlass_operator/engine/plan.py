"""The plan: what would change, computed from desired and observed state before anything is written.

Building a plan makes no AWS call; printing it is how `cutlass plan` and the `status.plan` field
tell a user what the next apply will do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.engine.resource import Desired, FieldDiff, Observed, ResourceKind, iter_refs, normalise


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RETAIN = "retain"  # stop managing, leave in AWS (the deletion policy of data)
    REPLACE = "replace"  # create anew (what AWS cannot change in place), then delete the old one
    NOOP = "no-op"


SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.DELETE: "-",
    Action.RETAIN: "=",
    Action.REPLACE: "±",
    Action.NOOP: " ",
}
REMOVALS = (Action.DELETE, Action.RETAIN)
WRITES = (Action.CREATE, Action.UPDATE, Action.REPLACE)


@dataclass(frozen=True)
class Change:
    action: Action
    key: str
    kind: str
    name: str
    desired: Desired[Any] | None = None
    observed: Observed | None = None
    diff: tuple[FieldDiff, ...] = ()
    why: str = ""
    # An in-place update that still removes something (a table's replica): destructive all the same.
    removes: bool = False

    @property
    def destructive(self) -> bool:
        """It deletes, replaces or retains a resource, or removes part of one."""
        return self.action in (*REMOVALS, Action.REPLACE) or self.removes

    def line(self) -> str:
        text = f"{SYMBOLS[self.action]} {self.kind} {self.name}"
        if self.diff:
            text += " (" + "; ".join(str(d) for d in self.diff) + ")"
        if self.why:
            text += f" [{self.why}]"
        return text


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    observed: Mapping[str, Observed] = field(default_factory=dict)

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != Action.NOOP]

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def empty(self) -> bool:
        return not self.pending

    def headline(self) -> str:
        retained = f", {self.count(Action.RETAIN)} to retain" if self.count(Action.RETAIN) else ""
        replaced = f", {self.count(Action.REPLACE)} to replace" if self.count(Action.REPLACE) else ""
        return (
            f"{self.count(Action.CREATE)} to create, {self.count(Action.UPDATE)} to update, "
            f"{self.count(Action.DELETE)} to delete{retained}{replaced}, {self.count(Action.NOOP)} unchanged"
        )

    def render(self) -> str:
        lines = [change.line() for change in self.pending] or ["  no changes"]
        return "\n".join([*lines, self.headline()])


def build_plan(
    desired: Sequence[Desired[Any]],
    observed: Sequence[Observed],
    kinds: Mapping[str, ResourceKind[Any]],
    *,
    destroy: bool = False,
    retain: bool = False,
) -> Plan:
    """Match observed to desired by key and decide one action per resource.

    A second resource carrying the same key (left by a crash in an API without idempotency
    tokens) is a duplicate and is deleted, so retries converge to exactly one. With `retain`,
    resources leaving management (destroy, no longer desired) are retained instead of deleted.
    """
    removal = Action.RETAIN if retain else Action.DELETE
    _check_graph(desired, kinds)
    wanted_by_key = {d.key: d for d in desired}
    by_key: dict[str, Observed] = {}
    changes: list[Change] = []
    for obs in sorted(observed, key=lambda o: _fit(o, wanted_by_key.get(o.key), kinds)):
        if obs.key in by_key:
            changes.append(_remove(Action.DELETE, obs, "duplicate"))
        else:
            by_key[obs.key] = obs
    outputs = {key: obs.outputs for key, obs in by_key.items()}
    wanted = {d.key for d in desired}
    for want in desired:
        current = by_key.get(want.key)
        if destroy:
            if current is not None:
                action = removal if want.retain is None else (Action.RETAIN if want.retain else Action.DELETE)
                changes.append(_remove(action, current, "destroy", want.name))
        elif current is None:
            changes.append(Change(Action.CREATE, want.key, want.kind, want.name, desired=want))
        else:
            changes.append(_compare(want, current, kinds[want.kind], outputs))
    changes += [_remove(removal, obs, "no longer desired") for key, obs in by_key.items() if key not in wanted]
    return Plan(tuple(_following_replacements(changes)), by_key)


def _following_replacements(changes: list[Change]) -> list[Change]:
    """What refers to a resource being replaced is updated after it, to the new copy's outputs
    (which planning cannot know yet), so the old copy is never deleted from under it."""
    replaced = {c.key for c in changes if c.action == Action.REPLACE}
    return [
        replace(c, action=Action.UPDATE, why=f"follows the replacement of {', '.join(sorted(followed))}")
        if c.action == Action.NOOP and c.desired and (followed := c.desired.dependencies() & replaced)
        else c
        for c in changes
    ]


def _fit(obs: Observed, want: Desired[Any] | None, kinds: Mapping[str, ResourceKind[Any]]) -> int:
    """Of two resources under one key (a crash between a replacement's create and the old one's
    deletion), the one AWS need not replace is kept: 0 for it, 1 for one differing in what cannot
    change in place. Sorting is stable, so otherwise observe's own order decides, as before."""
    if want is None or want.kind not in kinds:
        return 0
    kind = kinds[want.kind]
    frozen = (
        name
        for name in kind.immutable
        if name in want.properties
        and not any(iter_refs(want.properties[name]))
        and normalise(obs.properties.get(name)) != normalise(want.properties[name])
    )
    return int(any(frozen))


def _remove(action: Action, obs: Observed, why: str, name: str | None = None) -> Change:
    return Change(action, obs.key, obs.kind, name or obs.tags.get("Name", obs.id), observed=obs, why=why)


def _compare(
    want: Desired[Any], current: Observed, kind: ResourceKind[Any], outputs: Mapping[str, Mapping[str, Any]]
) -> Change:
    diff = tuple(kind.compare(want.resolved(outputs), current))
    frozen = [d for d in diff if d.path in kind.immutable]
    if frozen and all(d.path in kind.replaceable for d in frozen):
        fields = ", ".join(d.path for d in frozen)
        return Change(
            Action.REPLACE, want.key, want.kind, want.name, desired=want, observed=current, diff=diff,
            why=f"AWS cannot change {fields} in place",
        )  # fmt: skip
    if frozen:
        fields = "; ".join(str(d) for d in frozen)
        edited = sorted({want.origins[d.path] for d in frozen if d.path in want.origins})
        raise TerminalError(
            "ImmutableFieldChanged",
            "".join(f"{origin}: " for origin in edited)
            + f"{want.kind} {want.name} cannot change in place ({fields}): restore the previous value, "
            "or delete and recreate the resource that owns it",
        )
    action = Action.UPDATE if diff else Action.NOOP
    return Change(
        action, want.key, want.kind, want.name, desired=want, observed=current, diff=diff, removes=kind.removes(diff)
    )


def _check_graph(desired: Sequence[Desired[Any]], kinds: Mapping[str, ResourceKind[Any]]) -> None:
    """A layer bug, not a user error: fail loudly on unknown kinds, dangling or cyclic dependencies."""
    keys = {d.key for d in desired}
    if len(keys) != len(desired):
        raise ValueError("desired resources repeat a key")
    for want in desired:
        if want.kind not in kinds:
            raise ValueError(f"{want.key}: no resource kind {want.kind!r} is registered")
        missing = want.dependencies() - keys
        if missing:
            raise ValueError(f"{want.key} depends on undeclared {sorted(missing)}")
    topological_order(desired)


def topological_order(desired: Sequence[Desired[Any]]) -> list[Desired[Any]]:
    by_key = {d.key: d for d in desired}
    order: list[Desired[Any]] = []
    state: dict[str, int] = {}

    def visit(key: str, path: tuple[str, ...]) -> None:
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            raise ValueError(f"dependency cycle: {' -> '.join((*path, key))}")
        state[key] = 1
        for dep in sorted(by_key[key].dependencies()):
            visit(dep, (*path, key))
        state[key] = 2
        order.append(by_key[key])

    for key in sorted(by_key):
        visit(key, ())
    return order
