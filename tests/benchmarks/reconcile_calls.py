"""How long a reconcile takes and how many AWS calls it makes: a full converge (in as many passes
as the environment and its regions need), a no-op resync (which must write nothing), and a
teardown, against the embedded AWS emulator over HTTP; then how the no-op resync's reads grow
with the stack (the environment's tenants, each an API key in a usage plan).

Run: `make bench` or `.venv/bin/python tests/benchmarks/reconcile_calls.py [-f manifests/dev] [--repeat 3]
[--tenants 1,10,50] [--by-call]`. Prints one line per phase, then one per tenant count; figures are per
run of every region in the manifests. `--by-call` adds the no-op resync's reads per AWS operation.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

from cutlass_operator.api.gateway import Tenant
from cutlass_operator.aws.calls import CallLog, is_read
from cutlass_operator.emulator.aws import aws_emulator, pointed_at
from cutlass_operator.logs import configure_logging
from cutlass_operator.offline import OfflineRun
from cutlass_operator.workflows.manifests import ManifestSet, load_manifests
from cutlass_operator.workflows.report import Mode


def with_tenants(manifests: ManifestSet, count: int) -> ManifestSet:
    """The manifests with `count` tenants in every environment, spread over the usage plans."""
    plans = ("basic", "premium", "enterprise")
    tenants = [Tenant(name=f"tenant-{i}", plan=plans[i % len(plans)]) for i in range(count)]
    for index, environment in enumerate(manifests.environments):
        api = environment.spec.api.model_copy(update={"tenants": tenants})
        spec = environment.spec.model_copy(update={"api": api})
        manifests.environments[index] = environment.model_copy(update={"spec": spec})
    return manifests


def measure(manifests_path: list[Path], mode: Mode, tenants: int | None = None) -> tuple[float, CallLog, int]:
    manifests = load_manifests(manifests_path)
    if tenants is not None:
        manifests = with_tenants(manifests, tenants)
    run = OfflineRun(manifests, mode, echo=lambda _: None)
    started = time.perf_counter()
    if not run.run():
        raise SystemExit(f"{mode} failed: {[r.first_error for r in run.reports.values() if r.first_error]}")
    managed = sum(len(lr.plan.changes) for report in run.reports.values() for lr in report.layers)
    return time.perf_counter() - started, run.calls, managed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-f", "--filename", type=Path, action="append", default=None)
    parser.add_argument("--repeat", type=int, default=3, help="fresh emulator per repetition")
    parser.add_argument("--tenants", default="1,10,50", help="tenant counts for the growth of a no-op resync")
    parser.add_argument("--by-call", action="store_true", help="print the no-op resync's reads per operation")
    args = parser.parse_args()
    paths = args.filename or [Path("manifests/dev")]
    configure_logging("console", logging.WARNING)  # the figures are the output
    rows: dict[str, list[tuple[float, int, int, int]]] = {}
    noop = CallLog()
    for _ in range(args.repeat):
        with aws_emulator() as endpoint, pointed_at(endpoint):
            for phase, mode in (("converge", Mode.APPLY), ("no-op resync", Mode.APPLY), ("destroy", Mode.DESTROY)):
                seconds, calls, managed = measure(paths, mode)
                rows.setdefault(phase, []).append((seconds, calls.reads, calls.writes, managed))
                if phase == "no-op resync":
                    noop = calls
    print(f"{'phase':<14} {'seconds (median)':>17} {'reads':>6} {'writes':>7} {'resources':>10} {'reads/resource':>15}")
    for phase, samples in rows.items():
        seconds = statistics.median(s[0] for s in samples)
        reads, writes, managed = samples[-1][1:]
        print(f"{phase:<14} {seconds:>17.2f} {reads:>6} {writes:>7} {managed:>10} {reads / max(managed, 1):>15.2f}")
    if args.by_call:
        print("\nno-op resync reads by operation")
        for call, count in sorted(noop.calls.items(), key=lambda item: (-item[1], item[0])):
            if is_read(call.split(":", 1)[1]):
                print(f"{count:>6}  {call}")
    if args.tenants:
        print(f"\n{'tenants':>7} {'no-op reads':>12} {'no-op writes':>13} {'resources':>10}")
        for count in (int(n) for n in args.tenants.split(",")):
            with aws_emulator() as endpoint, pointed_at(endpoint):
                measure(paths, Mode.APPLY, tenants=count)
                _, calls, managed = measure(paths, Mode.APPLY, tenants=count)
            print(f"{count:>7} {calls.reads:>12} {calls.writes:>13} {managed:>10}")


if __name__ == "__main__":
    main()
