"""observe -> plan -> apply for one set of desired resources, as one call."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cutlass_operator.engine.executor import CONCURRENT_CALLS, ApplyResult, Progress, apply_plan
from cutlass_operator.engine.plan import Plan, build_plan
from cutlass_operator.engine.resource import Desired, KindContext, Observed, ResourceKind


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    result: ApplyResult | None  # None when only planned


def observe(
    kinds: Mapping[str, ResourceKind[Any]],
    desired: Sequence[Desired[Any]],
    ctx: KindContext,
    max_workers: int = CONCURRENT_CALLS,
) -> list[Observed]:
    """Ask every kind once for all of its resources; kinds are independent, so ask concurrently."""
    by_kind: dict[str, list[Desired[Any]]] = defaultdict(list)
    for want in desired:
        by_kind[want.kind].append(want)
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="cutlass-observe") as pool:
        found = pool.map(lambda name: kinds[name].observe_many(ctx, by_kind.get(name, [])), sorted(kinds))
        return [obs for batch in found for obs in batch]


def reconcile(
    kinds: Mapping[str, ResourceKind[Any]],
    desired: Sequence[Desired[Any]],
    ctx: KindContext,
    *,
    scope: str = "",
    apply: bool = True,
    destroy: bool = False,
    retain: bool = False,
    max_workers: int = CONCURRENT_CALLS,
    progress: Progress | None = None,
) -> Outcome:
    """`scope` is the key prefix this call owns: kinds shared by several layers (security groups,
    log groups, roles) return every managed resource, and only those in scope may be orphans."""
    observed = [obs for obs in observe(kinds, desired, ctx, max_workers) if obs.key.startswith(scope)]
    plan = build_plan(desired, observed, kinds, destroy=destroy, retain=retain)
    if not apply or plan.empty:
        return Outcome(plan, ApplyResult(observed=dict(plan.observed)) if apply else None)
    return Outcome(plan, apply_plan(plan, kinds, ctx, max_workers=max_workers, progress=progress))
