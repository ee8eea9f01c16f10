"""Bounded polling for AWS's asynchronous deletes and creates.

A worker thread may wait a little (a NAT gateway usually settles within a minute or two), but
never forever: when the bound passes, the wait ends in a `RetryableError`, the reconcile backs
off, and the next one observes the state again. Nothing is lost, since the state lives in AWS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cutlass_operator.engine.errors import RetryableError


@dataclass(frozen=True)
class WaitPolicy:
    timeout: float = 300.0
    interval: float = 5.0


def wait_until(done: Callable[[], bool], policy: WaitPolicy, what: str, reason: str) -> None:
    """Poll `done` until it returns true; past the timeout, ask the engine to retry later."""
    deadline = time.monotonic() + policy.timeout
    while not done():
        if time.monotonic() >= deadline:
            raise RetryableError(reason, f"{what}: not settled after {policy.timeout:.0f}s; checking again later")
        time.sleep(policy.interval)
