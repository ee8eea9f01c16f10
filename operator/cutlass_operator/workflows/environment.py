"""One reconcile of a `CutlassEnvironment`: prove the credentials act in its account, bootstrap
the account (artifact bucket, lease table), then the global tables replicated to its regions.

The tables need the primary region's key (its data layer makes it) and each replica its own
region's key, so this waits for keys, never the other way round: regions wait only for the
account to be verified and for the lease table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from cutlass_operator.api.common import Condition
from cutlass_operator.api.environment import (
    CutlassEnvironment,
    DeletionPolicy,
    EnvironmentStatus,
    RegionsSummary,
    ReplicaStatus,
    TableStatus,
)
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.guard import connect
from cutlass_operator.aws.lease import Lease, default_holder
from cutlass_operator.engine.conditions import SYNCED, set_condition
from cutlass_operator.engine.errors import ReconcileError, RetryableError
from cutlass_operator.engine.identity import GLOBAL, Workspace
from cutlass_operator.engine.resource import ClientFactory, KindContext
from cutlass_operator.layers.base import EnvironmentInputs, Layer
from cutlass_operator.layers.bootstrap import BootstrapLayer
from cutlass_operator.layers.data import key_alias
from cutlass_operator.layers.tables import TablesLayer
from cutlass_operator.resources.errors import aws_errors, is_not_found
from cutlass_operator.workflows.layers import LayerRun
from cutlass_operator.workflows.report import LayerReport, Mode, Report, apply_report, set_ready

ACCOUNT_VERIFIED = "AccountVerified"
REGIONS_READY = "RegionsReady"
BOOTSTRAP: tuple[Layer[EnvironmentInputs], ...] = (BootstrapLayer(),)
TABLES: tuple[Layer[EnvironmentInputs], ...] = (TablesLayer(),)
ENVIRONMENT_CONDITIONS = [layer.condition for layer in (*BOOTSTRAP, *TABLES)]


@dataclass(frozen=True)
class RegionRef:
    """What the environment needs to know of each of its live regions."""

    name: str  # the friendly name, as in resource names (london)
    aws_region: str


def run_environment(
    environment: CutlassEnvironment,
    *,
    regions: Sequence[RegionRef] = (),
    mode: Mode = Mode.APPLY,
    secret: Mapping[str, str] | None = None,
    calls: CallLog | None = None,
    holder: str | None = None,
    max_workers: int = 4,
    with_bootstrap: bool = True,
) -> Report:
    """`with_bootstrap=False` on destroy removes the tables but keeps the lease table and bucket,
    which the regions' own teardown still needs."""
    spec = environment.spec
    try:
        connection = connect(spec, secret, spec.primary_region, calls)
    except ReconcileError as exc:
        return Report(mode, error=exc)
    workspace = Workspace(environment.name, GLOBAL, spec.primary_region, spec.account_id, dict(spec.tags))
    ctx = KindContext(connection.clients, spec.account_id, spec.primary_region, workspace.selector())
    retain = spec.effective_deletion_policy() == DeletionPolicy.RETAIN
    try:
        keys = region_keys(connection.clients, environment.name, regions)
    except ReconcileError as exc:
        return Report(mode, error=exc, caller_arn=connection.caller_arn)
    inputs = EnvironmentInputs(workspace, spec, keys)
    lease = Lease(connection.clients, spec.primary_region, workspace.name, holder or default_holder())
    bootstrap = LayerRun(ctx, mode, None, retain, max_workers)  # it makes the lease table: nothing to lease yet
    tables = LayerRun(ctx, mode, lease, retain, max_workers)
    steps = [(bootstrap, BOOTSTRAP), (tables, TABLES)]
    if mode == Mode.DESTROY:
        steps = [(tables, TABLES), (bootstrap, BOOTSTRAP)] if with_bootstrap else [(tables, TABLES)]
    reports: list[LayerReport] = []
    for run, layers in steps:
        if layers is TABLES and mode != Mode.DESTROY and keys.get(spec.primary_region) is None:
            waiting = RetryableError(
                "WaitingForKeys",
                f"the tables wait for the data layer of the primary region {spec.primary_region} to create its key",
                delay=5,
            )
            return Report(mode, reports, error=waiting, caller_arn=connection.caller_arn)
        readiness = (lambda *_: _missing_keys(keys)) if layers is TABLES and mode == Mode.APPLY else None
        done, error = run.run(layers, inputs, readiness=readiness)
        reports += done
        if error is not None or any(r.error for r in done):
            return Report(mode, reports, error=error, caller_arn=connection.caller_arn)
    return Report(mode, reports, caller_arn=connection.caller_arn)


def region_keys(clients: ClientFactory, environment: str, regions: Sequence[RegionRef]) -> dict[str, str | None]:
    """Each region's data key ARN by its deterministic alias (None until its data layer made it)."""
    keys: dict[str, str | None] = {}
    for region in regions:
        kms = clients.client("kms", region=region.aws_region)
        with aws_errors(f"look up the data key of {region.name}"):
            try:
                metadata = kms.describe_key(KeyId=key_alias(environment, region.name))["KeyMetadata"]
            except ClientError as exc:
                if not is_not_found(exc):
                    raise
                metadata = None
        keys[region.aws_region] = metadata["Arn"] if metadata else None
    return keys


def _missing_keys(keys: Mapping[str, str | None]) -> ReconcileError | None:
    missing = sorted(region for region, key in keys.items() if key is None)
    if not missing:
        return None
    return RetryableError("WaitingForKeys", f"replicas wait for the data keys of {', '.join(missing)}", delay=5)


def summarise_regions(regions: Mapping[str, bool]) -> RegionsSummary:
    ready = sorted(name for name, ok in regions.items() if ok)
    return RegionsSummary(
        ready=len(ready),
        total=len(regions),
        summary=f"{len(ready)}/{len(regions)}",
        not_ready=sorted(name for name, ok in regions.items() if not ok),
    )


def apply_environment_report(
    status: EnvironmentStatus, report: Report, generation: int, regions: Sequence[RegionRef] = ()
) -> None:
    """The account check, the layers' conditions and tables; Ready also waits for the regions."""
    if report.caller_arn is not None:
        status.caller_arn = report.caller_arn
        status.conditions = set_condition(
            status.conditions, ACCOUNT_VERIFIED, True, "Verified",
            f"the credentials act as {report.caller_arn}", generation=generation,
        )  # fmt: skip
    elif report.error is not None:
        status.conditions = set_condition(
            status.conditions, ACCOUNT_VERIFIED, False, report.error.reason, report.error.message,
            generation=generation,
        )  # fmt: skip
    tables = next((lr for lr in report.layers if lr.layer == TablesLayer.name), None)
    if tables is not None:
        status.tables = [_table_status(name, info) for name, info in tables.outputs.items()]
        status.replica_regions = sorted(r.aws_region for r in regions)
    status.conditions = _regions_condition(status.conditions, status.regions, generation)
    apply_report(status, report, generation, ENVIRONMENT_CONDITIONS, also_required=(ACCOUNT_VERIFIED, REGIONS_READY))


def apply_regions_summary(status: EnvironmentStatus, regions: RegionsSummary) -> None:
    """A region changed: refresh RegionsReady and Ready without a reconcile."""
    status.regions = regions
    status.conditions = _regions_condition(status.conditions, regions, status.observed_generation)
    synced = status.condition(SYNCED)
    if synced is None or synced.status == "True":
        set_ready(status, [ACCOUNT_VERIFIED, *ENVIRONMENT_CONDITIONS, REGIONS_READY])


def _regions_condition(conditions: list[Condition], regions: RegionsSummary, generation: int | None) -> list[Condition]:
    all_ready = regions.ready == regions.total
    waiting = f"; waiting for {', '.join(regions.not_ready)}" if regions.not_ready else ""
    return set_condition(
        conditions,
        REGIONS_READY,
        all_ready,
        "AllRegionsReady" if all_ready else "RegionsNotReady",
        f"{regions.summary} regions ready{waiting}",
        generation=generation,
    )


def _table_status(name: str, info: dict[str, Any]) -> TableStatus:
    arn = info.get("arn")
    replicas = [ReplicaStatus(region=r, status=s) for r, s in sorted((info.get("replicas") or {}).items())]
    return TableStatus(name=name, region=arn.split(":")[3] if arn else "", arn=arn, replicas=replicas)
