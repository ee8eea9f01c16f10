"""Independent AWS reads made at once rather than one after another.

A reconcile's time is set by its longest chain of dependent calls, not by its number of calls:
each call in the chain waits a round trip (tens of milliseconds on AWS) and, when AWS throttles,
a backoff of up to a second or more. Reads of several resources that do not depend on each other
(a describe per table, a policy per function) need not be links of one chain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Per fan-out: enough for the handful of items a kind holds per workspace, few enough that a
# workspace's fan-outs together stay far below any per-account request rate.
MAX_WORKERS = 4


def each(fn: Callable[[T], R], items: Sequence[T], max_workers: int = MAX_WORKERS) -> list[R]:
    """`fn` of every item, concurrently, in the items' order; the first item's error, if any, is raised."""
    if len(items) < 2:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(items)), thread_name_prefix="cutlass-fanout") as pool:
        return list(pool.map(fn, items))


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Each call, concurrently; their answers in the calls' order."""
    return each(lambda call: call(), calls)
