"""How long a reconcile takes and how many AWS calls it makes: a full converge (in as many passes
as the environment and its regions need), a no-op resync (which must write nothing), and a
teardown, against the embedded AWS emulator over HTTP.

Run: `make bench` or `.venv/bin/python tests/benchmarks/reconcile_calls.py [-f manifests/dev] [--repeat 3]`
Prints one line per phase; figures are per run of every region in the manifests.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

from cutlass_operator.aws.calls import CallLog
from cutlass_operator.emulator.aws import aws_emulator, pointed_at
from cutlass_operator.logs import configure_logging
from cutlass_operator.offline import OfflineRun
from cutlass_operator.workflows.manifests import load_manifests
from cutlass_operator.workflows.report import Mode


def measure(manifests_path: list[Path], mode: Mode) -> tuple[float, CallLog, int]:
    manifests = load_manifests(manifests_path)
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
    args = parser.parse_args()
    paths = args.filename or [Path("manifests/dev")]
    configure_logging("console", logging.WARNING)  # the figures are the output
    rows: dict[str, list[tuple[float, int, int, int]]] = {}
    for _ in range(args.repeat):
        with aws_emulator() as endpoint, pointed_at(endpoint):
            for phase, mode in (("converge", Mode.APPLY), ("no-op resync", Mode.APPLY), ("destroy", Mode.DESTROY)):
                seconds, calls, managed = measure(paths, mode)
                rows.setdefault(phase, []).append((seconds, calls.reads, calls.writes, managed))
    print(f"{'phase':<14} {'seconds (median)':>17} {'reads':>6} {'writes':>7} {'resources':>10} {'reads/resource':>15}")
    for phase, samples in rows.items():
        seconds = statistics.median(s[0] for s in samples)
        reads, writes, managed = samples[-1][1:]
        print(f"{phase:<14} {seconds:>17.2f} {reads:>6} {writes:>7} {managed:>10} {reads / max(managed, 1):>15.2f}")


if __name__ == "__main__":
    main()
