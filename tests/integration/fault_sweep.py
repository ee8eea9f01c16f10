"""Figures for the fault suite: a clean converge of manifests/dev, then converges (and optionally
teardowns) under faults at several seeds, each in a fresh account of one embedded emulator.

Run: `.venv/bin/python -m tests.integration.fault_sweep [--seeds 1,2,3] [--destroy] [--latency 0.1]`
(rates: --throttled 0.2 --unavailable 0.05 --lost 0.03 by default)
Prints per run: seconds, whether one apply succeeded, API calls, HTTP attempts, faults, census differences.
With --latency, first the converge's longest chain of dependent calls (its critical path): a clean
converge again with that many seconds added to every call, against a warm clean one.
"""

from __future__ import annotations

import argparse
import logging

from cutlass_operator.emulator.aws import aws_emulator, pointed_at
from cutlass_operator.logs import configure_logging
from cutlass_operator.workflows.report import Mode

from .accounts import dev_run
from .census import Census, census_of_any_account, differences
from .faults import NONE, FaultyCalls, Rates

REGIONS = ("eu-west-2", "ap-southeast-2")


def census_of(account: str) -> Census:
    return census_of_any_account(account, REGIONS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--throttled", type=float, default=0.20)
    parser.add_argument("--unavailable", type=float, default=0.05)
    parser.add_argument("--lost", type=float, default=0.03)
    parser.add_argument("--destroy", action="store_true")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per call, to measure the critical path")
    parser.add_argument("--account-base", type=int, default=400000000700)
    args = parser.parse_args()
    configure_logging("console", logging.ERROR)
    rates = Rates(args.throttled, args.unavailable, args.lost)
    with aws_emulator() as endpoint, pointed_at(endpoint):
        clean_account = str(args.account_base)
        ok, seconds, run = dev_run(clean_account, Mode.APPLY, FaultyCalls(rates=NONE))
        assert ok, {n: r.first_error for n, r in run.reports.items() if r.first_error}
        before = census_of(clean_account)
        print(f"clean: {seconds:.1f} s, {sum(run.calls.calls.values())} calls", flush=True)
        if args.latency:
            _, warm, _ = dev_run(str(args.account_base + 90), Mode.APPLY, FaultyCalls(rates=NONE))
            _, slow, _ = dev_run(str(args.account_base + 91), Mode.APPLY, FaultyCalls(rates=NONE, latency=args.latency))
            print(
                f"critical path: {(slow - warm) / args.latency:.0f} calls ({warm:.1f} s warm, "
                f"{slow:.1f} s at {args.latency * 1000:.0f} ms per call)",
                flush=True,
            )
        for i, seed in enumerate(int(s) for s in args.seeds.split(",")):
            account = str(args.account_base + 1 + i)
            calls = FaultyCalls(seed=seed, rates=rates)
            ok, seconds, run = dev_run(account, Mode.APPLY, calls)
            errors = {
                n: f"{r.first_error.reason}: {r.first_error.message}"[:300]
                for n, r in run.reports.items()
                if r.first_error
            }
            diff = differences(before, census_of(account))
            print(
                f"seed {seed}: ok={ok} {seconds:.1f} s, {sum(calls.calls.values())} calls, "
                f"{sum(calls.attempts.values())} attempts {dict(calls.attempts)}, lost {dict(calls.lost_replies)}",
                flush=True,
            )
            if errors:
                print(f"  errors: {errors}", flush=True)
            if diff:
                print(f"  census differences: {diff}", flush=True)
            if args.destroy:
                calls = FaultyCalls(seed=seed + 1000, rates=rates)
                ok, seconds, run = dev_run(account, Mode.DESTROY, calls)
                left = census_of(account)
                print(f"  destroy: ok={ok} {seconds:.1f} s, left {left}", flush=True)
                for name, report in run.reports.items():
                    if report.first_error:
                        print(f"  {name}: {report.first_error.reason}: {report.first_error.message[:300]}", flush=True)


if __name__ == "__main__":
    main()
