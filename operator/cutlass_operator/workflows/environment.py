"""One reconcile of a `CutlassEnvironment`: prove the credentials act in its account.

Account-wide layers (global tables, DNS) join here in later slices; regions wait for the
`AccountVerified` condition this sets before they write anything.
"""

from __future__ import annotations

from collections.abc import Mapping

from cutlass_operator.api.common import ConditionStatus
from cutlass_operator.api.environment import CutlassEnvironment, EnvironmentStatus, RegionsSummary
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.guard import connect
from cutlass_operator.engine.conditions import READY, SYNCED, now, set_condition
from cutlass_operator.engine.errors import ReconcileError
from cutlass_operator.workflows.report import Mode, Report, phase_of

ACCOUNT_VERIFIED = "AccountVerified"
REGIONS_READY = "RegionsReady"


def run_environment(
    environment: CutlassEnvironment,
    *,
    secret: Mapping[str, str] | None = None,
    calls: CallLog | None = None,
) -> Report:
    try:
        connection = connect(environment.spec, secret, environment.spec.primary_region, calls)
    except ReconcileError as exc:
        return Report(Mode.APPLY, error=exc)
    return Report(Mode.APPLY, caller_arn=connection.caller_arn)


def summarise_regions(regions: Mapping[str, bool]) -> RegionsSummary:
    ready = sorted(name for name, ok in regions.items() if ok)
    return RegionsSummary(
        ready=len(ready),
        total=len(regions),
        summary=f"{len(ready)}/{len(regions)}",
        not_ready=sorted(name for name, ok in regions.items() if not ok),
    )


def apply_environment_report(status: EnvironmentStatus, report: Report, generation: int) -> None:
    error = report.error
    if error is None:
        status.caller_arn = report.caller_arn
        status.conditions = set_condition(
            status.conditions, ACCOUNT_VERIFIED, True, "Verified",
            f"the credentials act as {report.caller_arn}", generation=generation,
        )  # fmt: skip
        status.conditions = set_condition(
            status.conditions, SYNCED, True, "ReconcileSuccess", "", generation=generation
        )
    else:
        status.conditions = set_condition(
            status.conditions, ACCOUNT_VERIFIED, False, error.reason, error.message, generation=generation
        )
        status.conditions = set_condition(
            status.conditions, SYNCED, False, error.reason, error.message, generation=generation
        )
    status.observed_generation = generation
    status.last_reconcile_time = now()
    status.phase = phase_of(error, ready=False)
    apply_regions_summary(status, status.regions)


def apply_regions_summary(status: EnvironmentStatus, regions: RegionsSummary) -> None:
    """Ready means the account is verified and every region that names the environment is Ready."""
    status.regions = regions
    generation = status.observed_generation
    all_ready = regions.ready == regions.total
    status.conditions = set_condition(
        status.conditions,
        REGIONS_READY,
        all_ready,
        "AllRegionsReady" if all_ready else "RegionsNotReady",
        f"{regions.summary} regions ready"
        + (f"; waiting for {', '.join(regions.not_ready)}" if regions.not_ready else ""),
        generation=generation,
    )
    verified = status.condition(ACCOUNT_VERIFIED)
    if verified is not None and verified.status != ConditionStatus.TRUE:
        # The account check's own failure decides the phase (terminal or retried); keep it.
        status.conditions = set_condition(
            status.conditions, READY, False, verified.reason, verified.message, generation=generation
        )
        return
    ready = verified is not None and all_ready
    reason, message = ("Available", "") if ready else ("RegionsNotReady", f"{regions.summary} regions ready")
    status.conditions = set_condition(status.conditions, READY, ready, reason, message, generation=generation)
    status.phase = phase_of(None, ready)
