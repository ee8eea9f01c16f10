"""Applying a plan: creates and updates in dependency order, independent branches concurrently,
then deletions from the highest `delete_rank` down.

A resource whose dependency failed is not attempted; its error says which dependency blocked it.
Deletions of orphans wait until every create and update succeeded, so a half-applied change
never removes what the old state still routes through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from cutlass_operator.engine.errors import ReconcileError, RetryableError
from cutlass_operator.engine.plan import REMOVALS, Action, Change, Plan
from cutlass_operator.engine.resource import Desired, KindContext, Observed, ResourceKind

Progress = Callable[[Change, str], None]


@dataclass
class ApplyResult:
    observed: dict[str, Observed] = field(default_factory=dict)
    done: list[Change] = field(default_factory=list)
    errors: dict[str, ReconcileError] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def apply_plan(
    plan: Plan,
    kinds: Mapping[str, ResourceKind],
    ctx: KindContext,
    *,
    max_workers: int = 4,
    progress: Progress | None = None,
) -> ApplyResult:
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="cutlass-apply") as pool:
        run = _Run(plan, kinds, ctx, pool, progress)
        run.writes()
        if run.result.ok:
            run.deletes()
        return run.result


@dataclass
class _Run:
    plan: Plan
    kinds: Mapping[str, ResourceKind]
    ctx: KindContext
    pool: ThreadPoolExecutor
    progress: Progress | None
    result: ApplyResult = field(init=False)

    def __post_init__(self) -> None:
        self.result = ApplyResult(observed=dict(self.plan.observed))

    def writes(self) -> None:
        waiting = {c.key: c for c in self.plan.changes if c.action in (Action.CREATE, Action.UPDATE)}
        settled = {c.key for c in self.plan.changes if c.action == Action.NOOP}
        running: dict[Future[Any], Change] = {}
        while waiting or running:
            for key, change in list(waiting.items()):
                assert change.desired is not None
                deps = change.desired.dependencies()
                failed = sorted(d for d in deps if d in self.result.errors)
                if failed:
                    del waiting[key]
                    self.result.errors[key] = RetryableError(
                        "DependencyFailed", f"{change.kind} {change.name} waits for {', '.join(failed)}"
                    )
                elif deps <= settled:
                    del waiting[key]
                    running[self._submit(self._write, change)] = change
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                change = running.pop(future)
                if self._settle(future, change):
                    settled.add(change.key)

    def deletes(self) -> None:
        changes = [c for c in self.plan.changes if c.action in REMOVALS]
        changes.sort(key=lambda c: -self.kinds[c.kind].delete_rank)
        for _, group in groupby(changes, key=lambda c: self.kinds[c.kind].delete_rank):
            futures = {self._submit(self._delete, change): change for change in group}
            for future, change in futures.items():
                wait([future])
                if self._settle(future, change):
                    self.result.observed.pop(change.key, None)
            if not self.result.ok:
                return  # what the failed deletion depends on must stay

    def _submit(self, fn: Callable[[Change], Any], change: Change) -> Future[Any]:
        if self.progress:
            self.progress(change, "started")
        return self.pool.submit(fn, change)

    def _write(self, change: Change) -> Observed:
        assert change.desired is not None
        kind = self.kinds[change.kind]
        desired: Desired = change.desired.resolved({key: obs.outputs for key, obs in self.result.observed.items()})
        if change.action == Action.CREATE:
            return kind.create(self.ctx, desired)
        assert change.observed is not None
        return kind.update(self.ctx, desired, change.observed, kind.compare(desired, change.observed))

    def _delete(self, change: Change) -> None:
        assert change.observed is not None
        kind = self.kinds[change.kind]
        if change.action == Action.RETAIN:
            kind.retain(self.ctx, change.observed)
        else:
            kind.delete(self.ctx, change.observed)

    def _settle(self, future: Future[Any], change: Change) -> bool:
        try:
            value = future.result()
        except ReconcileError as exc:
            self.result.errors[change.key] = exc
        except Exception as exc:  # unclassified: retried, since the next reconcile observes afresh
            self.result.errors[change.key] = RetryableError(
                "ApplyFailed", f"{change.action} {change.kind} {change.name}: {type(exc).__name__}: {exc}"
            )
        else:
            if isinstance(value, Observed):
                self.result.observed[change.key] = value
            self.result.done.append(change)
        ok = change.key not in self.result.errors
        if self.progress:
            self.progress(change, "done" if ok else "failed")
        return ok
