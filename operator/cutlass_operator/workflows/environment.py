"""One reconcile of a `CutlassEnvironment`: prove the credentials act in its account, bootstrap
the account (the lease table), then the global tables replicated to its regions, and the DNS
routing its API name to them.

The tables need the primary region's key (its data layer makes it) and each replica its own
region's key, so this waits for keys, never the other way round: regions wait only for the
account to be verified and for the lease table. DNS waits for the regions' APIs, but neither it
nor the tables wait for each other. Destroy goes the other way: DNS first (the records point at
the regions' APIs), then the tables, then the bootstrap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from cutlass_operator.api.common import Condition
from cutlass_operator.api.environment import (
    CutlassEnvironment,
    DeletionPolicy,
    DnsStatus,
    Domain,
    EnvironmentStatus,
    RegionsSummary,
    ReplicaStatus,
    TableStatus,
)
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.fanout import each
from cutlass_operator.aws.guard import connect
from cutlass_operator.aws.lease import Lease, default_holder
from cutlass_operator.engine.conditions import SYNCED, set_condition
from cutlass_operator.engine.errors import ReconcileError, RetryableError
from cutlass_operator.engine.executor import CONCURRENT_CALLS, apply_plan
from cutlass_operator.engine.identity import GLOBAL, Workspace
from cutlass_operator.engine.reconcile import Outcome, reconcile
from cutlass_operator.engine.resource import ClientFactory, KindContext, Observed
from cutlass_operator.layers.base import EnvironmentInputs, Layer, RegionRef
from cutlass_operator.layers.bootstrap import BootstrapLayer
from cutlass_operator.layers.data import key_alias
from cutlass_operator.layers.dns import DnsLayer, held_regions
from cutlass_operator.layers.tables import TablesLayer
from cutlass_operator.resources.errors import aws_errors, is_not_found
from cutlass_operator.workflows.changes import ChangeRequest, Gate, SuspendedError, decide
from cutlass_operator.workflows.dns_status import dns_status, targets_digest
from cutlass_operator.workflows.fleet import environment_problem
from cutlass_operator.workflows.layers import LayerRun, Readiness, kinds_of
from cutlass_operator.workflows.report import LayerReport, Mode, Report, apply_report, changes_of, set_ready

ACCOUNT_VERIFIED = "AccountVerified"
WAITING_FOR_KEYS = "WaitingForKeys"
REGIONS_READY = "RegionsReady"
BOOTSTRAP: tuple[Layer[EnvironmentInputs], ...] = (BootstrapLayer(),)
TABLES: tuple[Layer[EnvironmentInputs], ...] = (TablesLayer(),)
DNS = DnsLayer()
DNS_LAYERS: tuple[Layer[EnvironmentInputs], ...] = (DNS,)
ENVIRONMENT_CONDITIONS = [layer.condition for layer in (*BOOTSTRAP, *TABLES, DNS)]


class DnsStep(StrEnum):
    INCLUDED = "included"
    SKIPPED = "skipped"
    ALONE = "alone"


def run_environment(
    environment: CutlassEnvironment,
    *,
    regions: Sequence[RegionRef] = (),
    mode: Mode = Mode.APPLY,
    secret: Mapping[str, str] | None = None,
    calls: CallLog | None = None,
    holder: str | None = None,
    max_workers: int = CONCURRENT_CALLS,
    with_bootstrap: bool = True,
    dns: DnsStep = DnsStep.INCLUDED,
    control: ChangeRequest | None = None,
) -> Report:
    """`with_bootstrap=False` on destroy removes the tables but keeps the lease table and bucket,
    which the regions' own teardown still needs. `dns` (apply and plan) runs DNS with the rest,
    leaves it alone (a caller that does not know its regions' endpoints yet, to whom every region
    would look unroutable), or runs it alone (once it knows them). `control`, when given, is
    change control (see `run_region`)."""
    spec = environment.spec
    try:
        connection = connect(spec, secret, spec.primary_region, calls)
    except ReconcileError as exc:
        return Report(mode, error=exc)
    if mode != Mode.DESTROY and (problem := environment_problem(spec, regions)) is not None:
        return Report(mode, error=problem, caller_arn=connection.caller_arn)
    workspace = Workspace(environment.name, GLOBAL, spec.primary_region, spec.account_id, dict(spec.tags))
    ctx = KindContext(connection.clients, spec.account_id, spec.primary_region, workspace.selector())
    retain = spec.effective_deletion_policy() == DeletionPolicy.RETAIN
    try:
        keys = {} if dns == DnsStep.ALONE else region_keys(connection.clients, environment.name, regions)
    except ReconcileError as exc:
        return Report(mode, error=exc, caller_arn=connection.caller_arn)
    inputs = EnvironmentInputs(workspace, spec, keys, tuple(regions))
    if dns != DnsStep.SKIPPED and mode != Mode.DESTROY and any(r.held for r in regions):
        try:
            inputs = held_regions(inputs, _dns_as_it_is(ctx, inputs, max_workers))
        except ReconcileError as exc:
            return Report(mode, error=exc, caller_arn=connection.caller_arn)
    lease = Lease(connection.clients, spec.primary_region, workspace.name, holder or default_holder())
    steps = _Steps(
        bootstrap=LayerRun(ctx, mode, None, retain, max_workers),  # it makes the lease table: nothing to lease
        leased=LayerRun(ctx, mode, lease, retain, max_workers),
        dns=dns,
        with_bootstrap=with_bootstrap,
    )
    gate = None
    if control is not None and control.may_wait and mode != Mode.PLAN:
        planned, error = steps.dry_run().run(inputs, keys)
        if error is not None and error.reason != WAITING_FOR_KEYS:  # the rest plans without the tables
            return Report(mode, planned, error=error, caller_arn=connection.caller_arn)
        gate = decide(control, changes_of(planned))
        if gate.awaiting:
            waiting = SuspendedError(
                "AwaitingApproval",
                gate.awaiting_message(f"cutlassenvironment/{environment.name}", environment.metadata.namespace),
            )
            return Report(mode, planned, error=waiting, caller_arn=connection.caller_arn, gate=gate)
        steps = steps.gated(gate, {lr.layer: Outcome(lr.plan, None) for lr in planned})
    reports, first_error = steps.run(inputs, keys)
    if control is not None and gate is None:  # nothing could wait: what was applied, told as the plan
        gate = decide(control, changes_of(reports))
    return Report(mode, reports, error=first_error, caller_arn=connection.caller_arn, gate=gate)


@dataclass(frozen=True)
class _Steps:
    """The environment's layers in their runs: the bootstrap without the lease (it makes the lease
    table), the tables and DNS under it."""

    bootstrap: LayerRun
    leased: LayerRun
    dns: DnsStep
    with_bootstrap: bool

    def dry_run(self) -> _Steps:
        return replace(self, bootstrap=replace(self.bootstrap, dry_run=True), leased=replace(self.leased, dry_run=True))

    def gated(self, gate: Gate, planned: dict[str, Outcome]) -> _Steps:
        # One dict for both runs: a write in either makes every dry-run outcome stale.
        return replace(
            self,
            bootstrap=replace(self.bootstrap, gate=gate, planned=planned),
            leased=replace(self.leased, gate=gate, planned=planned),
        )

    def run(
        self, inputs: EnvironmentInputs, keys: Mapping[str, str | None]
    ) -> tuple[list[LayerReport], ReconcileError | None]:
        mode, spec = self.leased.mode, inputs.environment
        writing = mode == Mode.APPLY and not self.leased.dry_run
        steps: list[tuple[LayerRun, tuple[Layer[EnvironmentInputs], ...]]] = [
            (self.bootstrap, BOOTSTRAP),
            (self.leased, TABLES),
            (self.leased, DNS_LAYERS),
        ]
        if self.dns == DnsStep.SKIPPED:
            steps = steps[:2]
        elif self.dns == DnsStep.ALONE:
            steps = steps[2:]
        if mode == Mode.DESTROY:
            steps = [(self.leased, DNS_LAYERS), (self.leased, TABLES)] + (
                [(self.bootstrap, BOOTSTRAP)] if self.with_bootstrap else []
            )
        reports: list[LayerReport] = []
        first_error: ReconcileError | None = None
        for run, layers in steps:
            if layers is TABLES and mode != Mode.DESTROY and keys.get(spec.primary_region) is None:
                first_error = first_error or RetryableError(
                    WAITING_FOR_KEYS,
                    f"the tables wait for the data layer of the primary region {spec.primary_region} to create its key",
                    delay=5,
                )
                continue  # DNS does not need the tables
            readiness = _readiness(keys, inputs) if writing else None
            done, error = run.run(layers, inputs, readiness=readiness)
            reports += done
            failed = error or next((r.error for r in done if r.error), None)
            if layers is BOOTSTRAP and failed is None and writing:
                error = failed = _retire_former_lease_tables(run.ctx, inputs, run.max_workers, run.gate)
            first_error = first_error or error
            # The bootstrap holds the lease table the others need; a destroy keeps its order.
            if failed is not None and (layers is BOOTSTRAP or mode == Mode.DESTROY):
                break
        return reports, first_error


def _retire_former_lease_tables(
    ctx: KindContext, inputs: EnvironmentInputs, max_workers: int, gate: Gate | None
) -> ReconcileError | None:
    """The lease table the bootstrap made in a former primary region goes: leases are taken in the
    primary region's table only, so one left elsewhere is used by no one (one ListTables a region).
    Under change control it goes only where deletions need no approval: it is not in the plan."""
    kinds = kinds_of(BOOTSTRAP[0], inputs)
    for aws_region in sorted({r.aws_region for r in inputs.regions} - {ctx.region}):
        there = replace(ctx, region=aws_region)
        try:
            plan = reconcile(kinds, [], there, scope=f"{BOOTSTRAP[0].name}/", apply=False, max_workers=max_workers).plan
            if plan.empty or (gate is not None and any(gate.request.requires_approval(c) for c in plan.pending)):
                continue
            result = apply_plan(plan, kinds, there, max_workers=max_workers)
        except ReconcileError as exc:
            return exc
        if result.errors:
            return next(iter(result.errors.values()))
    return None


def _dns_as_it_is(ctx: KindContext, inputs: EnvironmentInputs, max_workers: int) -> Mapping[str, Observed]:
    """What Route 53 holds of the environment's DNS: read (never written) only while some region is
    held, to learn where its records point."""
    kinds = kinds_of(DNS, inputs)
    return reconcile(
        kinds, DNS.desired(inputs), ctx, scope=f"{DNS.name}/", apply=False, max_workers=max_workers
    ).plan.observed


def _readiness(keys: Mapping[str, str | None], inputs: EnvironmentInputs) -> Readiness:
    def readiness(layer: Layer[Any], _: LayerReport) -> ReconcileError | None:
        if layer is DNS:
            return DNS.waiting(inputs)
        if layer in TABLES:
            return _missing_keys(keys)
        return None

    return readiness


def region_keys(clients: ClientFactory, environment: str, regions: Sequence[RegionRef]) -> dict[str, str | None]:
    """Each region's data key ARN by its deterministic alias (None until its data layer made it)."""

    def key_arn(region: RegionRef) -> str | None:
        kms = clients.client("kms", region=region.aws_region)
        with aws_errors(f"look up the data key of {region.name}"):
            try:
                return str(kms.describe_key(KeyId=key_alias(environment, region.name))["KeyMetadata"]["Arn"])
            except ClientError as exc:
                if not is_not_found(exc):
                    raise
                return None

    return dict(zip((r.aws_region for r in regions), each(key_arn, regions), strict=True))


def _missing_keys(keys: Mapping[str, str | None]) -> ReconcileError | None:
    missing = sorted(region for region, key in keys.items() if key is None)
    if not missing:
        return None
    return RetryableError(WAITING_FOR_KEYS, f"replicas wait for the data keys of {', '.join(missing)}", delay=5)


def summarise_regions(regions: Mapping[str, bool]) -> RegionsSummary:
    ready = sorted(name for name, ok in regions.items() if ok)
    return RegionsSummary(
        ready=len(ready),
        total=len(regions),
        summary=f"{len(ready)}/{len(regions)}",
        not_ready=sorted(name for name, ok in regions.items() if not ok),
    )


def apply_environment_report(
    status: EnvironmentStatus,
    report: Report,
    generation: int,
    regions: Sequence[RegionRef] = (),
    domain: Domain | None = None,
) -> None:
    """The account check, the layers' conditions, tables and DNS; Ready also waits for the regions."""
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
    dns = next((lr for lr in report.layers if lr.layer == DNS.name), None)
    if dns is not None:
        status.dns = dns_status(dns, regions, domain, status.dns)
    if report.mode != Mode.PLAN:
        status.dns = (status.dns or DnsStatus()).model_copy(update={"targets_digest": targets_digest(regions)})
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
