"""Applying a plan: creates and updates in dependency order, independent branches concurrently,
then deletions from the highest `delete_rank` down.

A resource whose dependency failed is not attempted; its error says which dependency blocked it.
Deletions of orphans wait until every create and update succeeded, so a half-applied change
never removes what the old state still routes through.

A write or deletion that fails for a transient AWS reason (botocore's retries ran out, or a create
without an idempotency token whose answer was lost, which botocore does not repeat: see
aws/session.py) is tried again here, a few times, each time after observing the resource afresh: a
create AWS did although its answer was lost is then found and adopted (updated if needed) rather
than made twice, and a deletion AWS did is done. Without this, one such failure failed its layer,
and every layer after it waited for another whole reconcile (another pass of `cutlass apply`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from cutlass_operator.engine.errors import ReconcileError, RetryableError
from cutlass_operator.engine.plan import REMOVALS, WRITES, Action, Change, Plan
from cutlass_operator.engine.resource import Desired, KindContext, Observed, ResourceKind

Progress = Callable[[Change, str], None]

# Reasons (resources/errors.py, route53.py) after which the change is tried again, after observing
# afresh: AWS was briefly unable, a create found its resource there (an earlier attempt's lost
# answer), or a Route 53 batch met records that changed since they were read (the same: a batch
# whose answer was lost, then repeated by botocore, finds its own records).
TRANSIENT = frozenset(
    {"AwsThrottled", "AwsUnavailable", "AwsUnreachable", "AlreadyExists", "RecordsChanged", "Route53Busy"}
)
# Tries of one change within an apply; each after the first observes first. botocore already made
# up to eight attempts of the failing call, so a third failure here is rarely bad luck.
ATTEMPTS = 3
PAUSE_SECONDS = 0.5  # before the observe: AWS has just answered 5xx or throttled
# Changes (and kinds observed) at once per reconcile: a layer's independent branches, such as a
# region's five functions with their roles, log groups and packages, go together rather than queue.
CONCURRENT_CALLS = 8


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
    kinds: Mapping[str, ResourceKind[Any]],
    ctx: KindContext,
    *,
    max_workers: int = CONCURRENT_CALLS,
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
    kinds: Mapping[str, ResourceKind[Any]]
    ctx: KindContext
    pool: ThreadPoolExecutor
    progress: Progress | None
    result: ApplyResult = field(init=False)

    def __post_init__(self) -> None:
        self.result = ApplyResult(observed=dict(self.plan.observed))

    def writes(self) -> None:
        waiting = {c.key: c for c in self.plan.changes if c.action in WRITES}
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
        """Orphans, and the old copies of what was replaced (now that what used them moved on)."""
        changes = [c for c in self.plan.changes if c.action in (*REMOVALS, Action.REPLACE)]
        changes.sort(key=lambda c: -self.kinds[c.kind].delete_rank)
        for _, group in groupby(changes, key=lambda c: self.kinds[c.kind].delete_rank):
            futures = {self._submit(self._delete, change): change for change in group}
            for future, change in futures.items():
                wait([future])
                if self._settle(future, change) and change.action != Action.REPLACE:
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
        desired: Desired[Any] = change.desired.resolved({key: obs.outputs for key, obs in self.result.observed.items()})
        current = change.observed if change.action == Action.UPDATE else None
        replaced = change.observed if change.action == Action.REPLACE else None
        for attempt in _attempts():
            if attempt:
                current = self._observe(kind, desired, replaced)
            try:
                if current is None:
                    return kind.create(self.ctx, desired)
                diff = kind.compare(desired, current)
                if not diff:  # the lost answer's work was done, or a dependant already follows
                    return current
                return kind.update(self.ctx, desired, current, diff)
            except RetryableError as exc:
                _give_up_unless_transient(exc, attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _delete(self, change: Change) -> None:
        assert change.observed is not None
        kind = self.kinds[change.kind]
        observed: Observed | None = change.observed
        for attempt in _attempts():
            if attempt:
                observed = self._observe_key(kind, change.observed)
                if observed is None:  # gone: the lost answer's work was done
                    return
            assert observed is not None
            try:
                if change.action == Action.RETAIN:
                    kind.retain(self.ctx, observed)
                else:  # a removal, or the old copy of a replacement
                    kind.delete(self.ctx, observed)
                return
            except RetryableError as exc:
                _give_up_unless_transient(exc, attempt)

    def _observe(
        self, kind: ResourceKind[Any], desired: Desired[Any], replaced: Observed | None = None
    ) -> Observed | None:
        """The resource as observe finds it now; for a replacement, the new copy, never the old one."""
        found = kind.observe_many(self.ctx, [desired])
        return next((o for o in found if o.key == desired.key and (replaced is None or o.id != replaced.id)), None)

    def _observe_key(self, kind: ResourceKind[Any], observed: Observed) -> Observed | None:
        """The resource again, as observe finds it: by its desired entry if it has one, else among orphans."""
        desired = next((c.desired for c in self.plan.changes if c.key == observed.key and c.desired), None)
        found = kind.observe_many(self.ctx, [desired] if desired else [])
        return next((o for o in found if o.key == observed.key and o.id == observed.id), None)

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


def _attempts() -> Iterator[int]:
    """The tries of one change, with a growing pause before each try after the first."""
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(PAUSE_SECONDS * attempt)
        yield attempt


def _give_up_unless_transient(exc: RetryableError, attempt: int) -> None:
    if exc.reason not in TRANSIENT or attempt == ATTEMPTS - 1:
        raise exc
