"""Handlers of `CutlassEnvironment`: verify the account, bootstrap it, keep its global tables
replicated to exactly its live regions and its DNS routed to exactly its ready ones, keep the
region summary current, and hold deletion until the regions that need its credentials are gone."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import kopf
import structlog
from pydantic import ValidationError

from cutlass_operator.api.changes import PAUSED, ChangePolicy
from cutlass_operator.api.common import GROUP, VERSION, explain
from cutlass_operator.api.environment import CredentialsSource, CutlassEnvironment, Domain, EnvironmentStatus
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.handlers.control import (
    APPROVAL_POLL,
    Snapshot,
    consume_approval,
    turn,
    worth_a_reconcile,
    write_paused,
)
from cutlass_operator.handlers.indexes import EnvKey, region_facts, regions_index, regions_of
from cutlass_operator.handlers.kube import read_secret
from cutlass_operator.handlers.outcome import event_budget, post_events, raise_for
from cutlass_operator.handlers.runtime import Runtime
from cutlass_operator.layers.base import RegionRef
from cutlass_operator.workflows.changes import inputs_digest
from cutlass_operator.workflows.dns_status import targets_digest
from cutlass_operator.workflows.environment import (
    DNS,
    apply_environment_report,
    apply_regions_summary,
    run_environment,
    summarise_regions,
)
from cutlass_operator.workflows.fleet import environment_regions
from cutlass_operator.workflows.report import Mode, Phase, Report

PLURAL = "cutlassenvironments"
KIND = "CutlassEnvironment"
SUMMARY_SECONDS = 2.0


def register_environment_handlers(registry: kopf.OperatorRegistry, runtime: Runtime) -> None:
    config = runtime.config

    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, registry=registry)
    async def reconcile_environment(
        *, body: kopf.Body, patch: kopf.Patch, memo: Any, reason: str, old: Any, new: Any, **kwargs: Any
    ) -> None:
        if not worth_a_reconcile(body, patch, reason, old, new):
            return
        async with turn(body, memo) as snap:
            if snap.paused:
                return _write_paused(snap, patch)
            report = await _reconcile(snap, patch, runtime, regions_index(kwargs))
        post_events(body, report, event_budget(memo), snap.previous_plan())
        raise_for(report, config.retry_seconds)

    @kopf.timer(
        GROUP,
        VERSION,
        PLURAL,
        registry=registry,
        interval=config.resync_seconds,
        initial_delay=config.resync_seconds,
    )
    async def resync_environment(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        """Drift detection, and credentials that expired or roles that changed."""
        async with turn(body, memo) as snap:
            if snap.paused:
                return _write_paused(snap, patch)
            report = await _reconcile(snap, patch, runtime, regions_index(kwargs))
        if report.pending():
            post_events(body, report, event_budget(memo), snap.previous_plan())

    @kopf.timer(GROUP, VERSION, PLURAL, registry=registry, interval=SUMMARY_SECONDS)
    async def follow_regions(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        """Reads kopf's in-memory index of regions (no API call). When the live regions or their API
        endpoints differ from what the last reconcile was given (a region to replicate to, to route
        to, or to take out of the records before it goes), reconcile; otherwise patch the summary,
        and only when it changed."""
        index = regions_index(kwargs)
        if _regions_moved(Snapshot.of(body, memo), index):
            async with turn(body, memo) as snap:
                report = await _reconcile(snap, patch, runtime, index) if _regions_moved(snap, index) else None
            if report is not None:
                post_events(body, report, event_budget(memo), snap.previous_plan())
                return
        snap = Snapshot.of(body, memo)
        status = EnvironmentStatus.model_validate(snap.status)
        summary = summarise_regions(regions_of(index, snap.namespace, snap.name))
        if status.observed_generation is not None and summary != status.regions:
            apply_regions_summary(status, summary)
            snap.write_status(patch, _dump(status))

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    async def delete_environment(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        """Tables first (their replicas are encrypted with the regions' keys, and the primary
        region's key encrypts the tables), then wait for the regions, then the bootstrap (the
        regions' teardown takes leases in its table)."""
        async with turn(body, memo) as snap:
            report, remaining = await _delete(snap, patch, runtime, regions_index(kwargs))
        post_events(body, report, event_budget(memo), snap.previous_plan())
        if report.awaiting:
            raise kopf.TemporaryError(f"AwaitingApproval: {report.plan_summary().id}", delay=APPROVAL_POLL)
        error = report.first_error
        if error is not None:  # never drop the finalizer while AWS still holds what it made
            raise kopf.TemporaryError(f"{error.reason}: {error.message}", delay=config.retry_seconds)
        if remaining:
            raise kopf.TemporaryError(
                f"waiting for regions {', '.join(sorted(remaining))} to be deleted: they need this "
                "environment's credentials and lease table to tear down their AWS resources",
                delay=config.retry_seconds,
            )
        runtime.metrics.forget(KIND, snap.namespace, snap.name)


def _regions_moved(snap: Snapshot, index: kopf.Index[EnvKey, Any]) -> bool:
    """The live regions or their endpoints differ from what the last reconcile was given."""
    status = EnvironmentStatus.model_validate(snap.status)
    last = status.dns.targets_digest if status.dns else None
    moved = targets_digest(_live(snap, index)) != last
    return status.observed_generation is not None and bool(status.caller_arn) and moved and not snap.paused


async def _reconcile(snap: Snapshot, patch: kopf.Patch, runtime: Runtime, index: kopf.Index[EnvKey, Any]) -> Report:
    regions = _live(snap, index)
    report = await _run(snap, regions, Mode.APPLY, runtime)
    _write_status(snap, patch, report, regions, index)
    return report


async def _delete(
    snap: Snapshot, patch: kopf.Patch, runtime: Runtime, index: kopf.Index[EnvKey, Any]
) -> tuple[Report, dict[str, bool]]:
    """The teardown as far as it goes now, and the regions still there."""
    config = runtime.config
    snap.write_status(patch, {"phase": Phase.DELETING.value})
    if snap.paused:
        raise kopf.TemporaryError(f"Paused: annotation {PAUSED} is set", delay=config.retry_seconds)
    if snap.still_waiting(config.resync_seconds, _policy(snap)):
        raise kopf.TemporaryError("AwaitingApproval: the teardown plan waits for approval", delay=APPROVAL_POLL)
    remaining = regions_of(index, snap.namespace, snap.name)
    report = await _run(snap, [], Mode.DESTROY, runtime, with_bootstrap=not remaining)
    if report.awaiting:
        _write_status(snap, patch, report, [], index)
        snap.write_status(patch, {"phase": Phase.DELETING.value})
    elif any(lr.layer == DNS.name and lr.error is None for lr in report.layers):
        snap.write_status(patch, {"dns": {"routedRegions": [], "regions": []}})  # the regions may go now
    return report, remaining


def _policy(snap: Snapshot) -> ChangePolicy | None:
    try:
        return CutlassEnvironment.model_validate(snap.model()).spec.change_policy()
    except ValidationError:
        return None


def _live(snap: Snapshot, index: kopf.Index[EnvKey, Any]) -> list[RegionRef]:
    dns: dict[str, Any] = snap.status.get("dns") or {}
    routed = dns.get("routedRegions") or []
    return environment_regions(region_facts(index, snap.namespace, snap.name), routed)


async def _run(
    snap: Snapshot,
    regions: list[RegionRef],
    mode: Mode,
    runtime: Runtime,
    *,
    with_bootstrap: bool = True,
) -> Report:
    log = structlog.get_logger("cutlass.environment").bind(namespace=snap.namespace, name=snap.name, mode=str(mode))
    try:
        environment = CutlassEnvironment.model_validate(snap.model())
    except ValidationError as exc:
        return Report(mode, error=TerminalError("InvalidSpec", explain(exc)))
    creds = environment.spec.credentials
    secret = None
    if creds.source == CredentialsSource.SECRET and creds.secret_ref is not None:
        secret = await asyncio.to_thread(read_secret, environment.metadata.namespace, creds.secret_ref.name)
    control = snap.request(
        environment.spec.change_policy(),
        inputs_digest(str(mode), environment.spec, [asdict(r) for r in regions], with_bootstrap),
        EnvironmentStatus.model_validate(snap.status),
    )

    async def reconcile(calls: CallLog) -> Report:
        return await asyncio.to_thread(
            run_environment,
            environment,
            regions=regions,
            mode=mode,
            secret=secret,
            calls=calls,
            holder=runtime.config.holder,
            max_workers=runtime.config.max_workers,
            with_bootstrap=with_bootstrap,
            control=control,
        )

    report = await runtime.measured(KIND, snap, reconcile)
    log.info(
        "reconcile finished",
        ok=report.ok,
        plan=report.plan_summary().id,
        awaiting=report.awaiting,
        caller=report.caller_arn,
        error=_reason(report),
    )
    return report


def _reason(report: Report) -> str | None:
    return report.first_error.reason if report.first_error else None


def _write_status(
    snap: Snapshot, patch: kopf.Patch, report: Report, regions: list[RegionRef], index: kopf.Index[EnvKey, Any]
) -> None:
    consume_approval(snap, patch, report)
    status = EnvironmentStatus.model_validate(snap.status)
    status.regions = summarise_regions(regions_of(index, snap.namespace, snap.name))
    apply_environment_report(status, report, snap.generation, regions, _domain(snap))
    status.last_handled_reconcile_at = snap.requested_at() or status.last_handled_reconcile_at
    snap.write_status(patch, _dump(status))


def _write_paused(snap: Snapshot, patch: kopf.Patch) -> None:
    status = EnvironmentStatus.model_validate(snap.status)
    write_paused(
        status, snap.generation, f"annotation {PAUSED} is set: no AWS call for it or its regions until removed"
    )
    snap.write_status(patch, _dump(status))


def _domain(snap: Snapshot) -> Domain | None:
    try:
        return Domain.model_validate(snap.spec["domain"]) if snap.spec.get("domain") else None
    except ValidationError:
        return None  # the report says InvalidSpec


def _dump(status: EnvironmentStatus) -> dict[str, Any]:
    return status.model_dump(by_alias=True, mode="json", exclude_none=True)
