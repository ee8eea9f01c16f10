"""`cutlass apply` of manifests/dev killed right before, or right after, its Nth AWS write (crashes.py),
then run again: the rerun converges in one apply, a no-op after it writes nothing, and the account's
census (every kind listed by its own API) equals a clean converge's: no duplicate, no orphan, nothing
left untagged. The same for a teardown killed at its Nth write: the rerun leaves nothing.

Each crash point runs in an account of its own. CI runs a sample spread over the converge and the
teardown (the first, middle and last writes); `make reliability` runs every write of both
(CUTLASS_CRASH_POINTS=all: a converge is about 265 writes and a teardown about 150, each crashed before
and after, each point ~7 s: about 100 minutes; CUTLASS_CRASH_POINTS=every:3 takes every third write).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cutlass_operator.aws.calls import CallLog
from cutlass_operator.offline import OfflineRun
from cutlass_operator.workflows.report import Mode

from .accounts import dev_run, run_errors
from .census import Census, census_of_any_account, differences
from .crashes import Crash, CrashingCalls, When

pytestmark = pytest.mark.integration

REGIONS = ("eu-west-2", "ap-southeast-2")
CLEAN_ACCOUNT = "400000600000"
HOLDER = "cutlass-cli/crash-points"  # the restarted process takes the lease its predecessor left
# "all": every write; "every:K": every Kth write (a sweep in a third of the time with K = 3).
SWEEP = os.environ.get("CUTLASS_CRASH_POINTS", "")
STRIDE = 1 if SWEEP == "all" else int(SWEEP.removeprefix("every:")) if SWEEP.startswith("every:") else 0
# Where to crash, as a share of the writes of a clean run: 0 is the first write, 1 the last.
SAMPLE = (0.0, 0.5, 1.0)
POINTS = [(n, None) for n in range(1, 400, STRIDE)] if STRIDE else [(None, share) for share in SAMPLE]


def apply(account: str, mode: Mode, calls: CallLog) -> tuple[bool, OfflineRun]:
    ok, _, run = dev_run(account, mode, calls, holder=HOLDER)
    return ok, run


def normalised(account: str) -> Census:
    return census_of_any_account(account, REGIONS)


@pytest.fixture(scope="module")
def clean(moto_endpoint: str) -> Iterator[tuple[Census, int, int]]:
    """A clean converge's census and its number of writes, and the number of writes of its teardown
    (in a second account, so the census stays)."""
    converge = CrashingCalls()
    ok, run = apply(CLEAN_ACCOUNT, Mode.APPLY, converge)
    assert ok, run_errors(run)
    teardown_account = str(int(CLEAN_ACCOUNT) + 1)
    ok, run = apply(teardown_account, Mode.APPLY, CallLog())
    assert ok, run_errors(run)
    teardown = CrashingCalls()
    ok, run = apply(teardown_account, Mode.DESTROY, teardown)
    assert ok, run_errors(run)
    yield normalised(CLEAN_ACCOUNT), converge.mutating_calls, teardown.mutating_calls


def nth(n: int | None, share: float | None, total: int) -> int:
    if n is not None:
        if n > total:
            pytest.skip(f"a clean run makes {total} writes")
        return n
    assert share is not None
    return max(1, round(share * total))


def point_account(kind: int, n: int, when: When) -> str:
    return str(400000600000 + kind * 100000 + n * 2 + (when == "after") + 10)


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize(("n", "share"), POINTS)
def test_a_converge_killed_at_a_write_is_finished_by_the_next_apply_as_if_never_killed(
    n: int | None, share: float | None, when: When, clean: tuple[Census, int, int]
) -> None:
    clean_census, writes, _ = clean
    point = nth(n, share, writes)
    account = point_account(1, point, when)
    killer = CrashingCalls(crash_at=point, when=when)
    with pytest.raises(Crash):
        apply(account, Mode.APPLY, killer)
    ok, run = apply(account, Mode.APPLY, CallLog())
    assert ok, f"killed {when} write {point} ({killer.crashed_at}): {run_errors(run)}"
    assert differences(clean_census, normalised(account)) == {}, f"killed {when} write {point} ({killer.crashed_at})"
    again = CallLog()
    ok, run = apply(account, Mode.APPLY, again)
    assert ok and again.writes == 0, again.mutating()


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize(("n", "share"), POINTS)
def test_a_teardown_killed_at_a_write_is_finished_by_the_next_destroy(
    n: int | None, share: float | None, when: When, clean: tuple[Census, int, int]
) -> None:
    _, _, writes = clean
    point = nth(n, share, writes)
    account = point_account(2, point, when)
    ok, run = apply(account, Mode.APPLY, CallLog())
    assert ok, run_errors(run)
    killer = CrashingCalls(crash_at=point, when=when)
    with pytest.raises(Crash):
        apply(account, Mode.DESTROY, killer)
    ok, run = apply(account, Mode.DESTROY, CallLog())
    assert ok, f"killed {when} write {point} ({killer.crashed_at}): {run_errors(run)}"
    assert normalised(account) == {}, f"killed {when} write {point} ({killer.crashed_at})"
