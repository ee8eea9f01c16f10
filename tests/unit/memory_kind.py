"""An in-memory resource kind: the engine's unit tests exercise planning and ordering with it,
while the real kinds are tested against the moto server."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, Props, ResourceKind


@dataclass(frozen=True)
class MemoryProps(Props):
    """Any properties at all: the engine's tests shape them freely."""

    kind = "memory.thing"
    values: Mapping[str, Any]

    def properties(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass
class MemoryKind(ResourceKind[MemoryProps]):
    props: ClassVar[type[Props]] = MemoryProps
    delete_rank: ClassVar[int] = 0
    immutable: ClassVar[frozenset[str]] = frozenset({"fixed"})

    store: dict[str, Observed] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    fail_on: set[str] = field(default_factory=set)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired]) -> list[Observed]:
        return [
            Observed(o.key, o.kind, o.id, dict(o.properties), dict(o.tags), dict(o.outputs))
            for o in self.store.values()
        ]

    def create(self, ctx: KindContext, desired: Desired) -> Observed:
        self._record("create", desired.key)
        with self._lock:
            rid = f"id-{next(self._ids)}"
        obs = Observed(desired.key, self.kind, rid, dict(desired.properties), dict(desired.tags), {"id": rid})
        self.store[rid] = obs
        return obs

    def update(self, ctx: KindContext, desired: Desired, observed: Observed, diff: list[FieldDiff]) -> Observed:
        self._record("update", desired.key)
        obs = self.store[observed.id]
        obs.properties.update(desired.properties)
        obs.tags.update(desired.tags)
        return obs

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        self._record("delete", observed.key)
        self.store.pop(observed.id, None)

    def _record(self, action: str, key: str) -> None:
        with self._lock:
            self.log.append((action, key))
        if key in self.fail_on:
            raise TerminalError("Boom", f"{key} failed on purpose")
