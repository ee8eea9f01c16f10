"""What change control costs in AWS calls, on one region of a converged environment: a no-op
reconcile under Auto and under Manual (which plans the whole region before applying), a spec edit
under Manual (planned only: it must write nothing), and its approval (the plan again, then the
writes), against the embedded AWS emulator over HTTP. Each reconcile is the operator's own
(`run_region` with the change request the handlers build).

Run: `make bench` or `.venv/bin/python tests/benchmarks/change_control_calls.py [-f manifests/dev]`
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from cutlass_operator.api.changes import Approval, ChangePolicy, Drift
from cutlass_operator.api.environment import CutlassEnvironment
from cutlass_operator.api.region import CutlassRegion
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.emulator.aws import aws_emulator, pointed_at
from cutlass_operator.logs import configure_logging
from cutlass_operator.offline import OfflineRun
from cutlass_operator.workflows.changes import ChangeRequest, inputs_digest
from cutlass_operator.workflows.manifests import load_manifests
from cutlass_operator.workflows.region import run_region
from cutlass_operator.workflows.report import Mode, Report


def reconcile(env: CutlassEnvironment, region: CutlassRegion, request: ChangeRequest) -> tuple[Report, CallLog]:
    calls = CallLog()
    return run_region(env, region, mode=Mode.APPLY, calls=calls, control=request), calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-f", "--filename", type=Path, action="append", default=None)
    args = parser.parse_args()
    configure_logging("console", logging.WARNING)  # the figures are the output
    manifests = load_manifests(args.filename or [Path("manifests/dev")])
    env, region = manifests.environments[0], manifests.regions_of(manifests.environments[0])[0]
    edited = region.model_copy(
        update={"spec": region.spec.model_copy(update={"settings": region.spec.settings.model_copy(
            update={"log_retention_days": 60}
        )})}
    )  # fmt: skip
    auto, manual = (ChangePolicy(approval=a, drift=Drift.CORRECT) for a in (Approval.AUTO, Approval.MANUAL))
    rows: list[tuple[str, Report, CallLog]] = []
    with aws_emulator() as endpoint, pointed_at(endpoint):
        if not OfflineRun(manifests, Mode.APPLY, echo=lambda _: None).run():
            raise SystemExit("the converge failed")
        digest = inputs_digest(str(Mode.APPLY), env.spec, region.spec)
        rows.append(("no-op, Auto", *reconcile(env, region, ChangeRequest(auto, digest))))
        rows.append(("no-op, Manual", *reconcile(env, region, ChangeRequest(manual, digest))))
        edit = ChangeRequest(manual, inputs_digest(str(Mode.APPLY), env.spec, edited.spec))
        planned, calls = reconcile(env, edited, edit)
        rows.append(("edit, Manual (plan only)", planned, calls))
        approved = ChangeRequest(manual, edit.inputs_digest, approved_id=planned.plan_summary().id)
        rows.append(("edit approved", *reconcile(env, edited, approved)))
    print(f"region {region.name}; a spec edit of settings.logRetentionDays (every log group of the region)")
    print(f"{'reconcile':<26} {'reads':>6} {'writes':>7} {'plan':>13} {'changes':>8} {'awaiting':>9}")
    for label, report, log in rows:
        summary = report.plan_summary()
        plan = summary.id if report.pending() else "-"
        print(
            f"{label:<26} {log.reads:>6} {log.writes:>7} {plan:>13} {len(report.pending()):>8} {report.awaiting!s:>9}"
        )
    if rows[2][2].writes:
        raise SystemExit("a plan waiting for approval wrote to AWS")


if __name__ == "__main__":
    main()
