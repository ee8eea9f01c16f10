"""Handlers of `CutlassEnvironment`: verify the account, bootstrap it, keep its global tables
replicated to exactly its live regions and its DNS routed to exactly its ready ones, keep the
region summary current, and hold deletion until the regions that need its credentials are gone."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import structlog
from pydantic import ValidationError

from cutlass_operator.api.common import GROUP, VERSION, explain
from cutlass_operator.api.environment import CredentialsSource, CutlassEnvironment, Domain, EnvironmentStatus
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.handlers.indexes import EnvKey, region_facts, regions_index, regions_of
from cutlass_operator.handlers.kube import read_secret
from cutlass_operator.handlers.outcome import post_events, raise_for
from cutlass_operator.handlers.runtime import Runtime
from cutlass_operator.layers.base import RegionRef
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
    @kopf.on.update(GROUP, VERSION, PLURAL, registry=registry, field="spec")
    async def reconcile_environment(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        regions = _live(body, regions_index(kwargs))
        report = await _run(body, memo, regions, Mode.APPLY, runtime)
        _write_status(body, patch, report, regions, regions_index(kwargs))
        post_events(body, report)
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
        regions = _live(body, regions_index(kwargs))
        report = await _run(body, memo, regions, Mode.APPLY, runtime, resync=True)
        _write_status(body, patch, report, regions, regions_index(kwargs))

    @kopf.timer(GROUP, VERSION, PLURAL, registry=registry, interval=SUMMARY_SECONDS)
    async def follow_regions(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        """Reads kopf's in-memory index of regions (no API call). When the live regions or their API
        endpoints differ from what the last reconcile was given (a region to replicate to, to route
        to, or to take out of the records before it goes), reconcile; otherwise patch the summary,
        and only when it changed."""
        status = EnvironmentStatus.model_validate(dict(body.status))
        if status.observed_generation is None:
            return  # the change handler has not run yet
        index = regions_index(kwargs)
        regions = _live(body, index)
        last = status.dns.targets_digest if status.dns else None
        if status.caller_arn and targets_digest(regions) != last:
            report = await _run(body, memo, regions, Mode.APPLY, runtime)
            _write_status(body, patch, report, regions, index)
            post_events(body, report)
            return
        summary = summarise_regions(regions_of(index, body.metadata.namespace or "", body.metadata.name))
        if summary != status.regions:
            apply_regions_summary(status, summary)
            patch.status.update(_dump(status))

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    async def delete_environment(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        """Tables first (their replicas are encrypted with the regions' keys, and the primary
        region's key encrypts the tables), then wait for the regions, then the bootstrap (the
        regions' teardown takes leases in its table)."""
        patch.status["phase"] = Phase.DELETING.value
        remaining = regions_of(regions_index(kwargs), body.metadata.namespace or "", body.metadata.name)
        report = await _run(body, memo, [], Mode.DESTROY, runtime, with_bootstrap=not remaining)
        post_events(body, report)
        if any(lr.layer == DNS.name and lr.error is None for lr in report.layers):
            patch.status["dns"] = {"routedRegions": [], "regions": []}  # the regions may go now
        error = report.first_error
        if error is not None:  # never drop the finalizer while AWS still holds what it made
            raise kopf.TemporaryError(f"{error.reason}: {error.message}", delay=config.retry_seconds)
        if remaining:
            raise kopf.TemporaryError(
                f"waiting for regions {', '.join(sorted(remaining))} to be deleted: they need this "
                "environment's credentials and lease table to tear down their AWS resources",
                delay=config.retry_seconds,
            )
        runtime.metrics.forget(KIND, body.metadata.namespace or "", body.metadata.name or "")


def _live(body: kopf.Body, index: kopf.Index[EnvKey, Any]) -> list[RegionRef]:
    dns: dict[str, Any] = dict(body.status).get("dns") or {}
    routed = dns.get("routedRegions") or []
    return environment_regions(region_facts(index, body.metadata.namespace or "", body.metadata.name), routed)


async def _run(
    body: kopf.Body,
    memo: Any,
    regions: list[RegionRef],
    mode: Mode,
    runtime: Runtime,
    *,
    with_bootstrap: bool = True,
    resync: bool = False,
) -> Report:
    log = structlog.get_logger("cutlass.environment").bind(
        namespace=body.metadata.namespace, name=body.metadata.name, mode=str(mode)
    )
    try:
        environment = CutlassEnvironment.model_validate({"metadata": dict(body.metadata), "spec": dict(body.spec)})
    except ValidationError as exc:
        return Report(mode, error=TerminalError("InvalidSpec", explain(exc)))
    creds = environment.spec.credentials
    secret = None
    if creds.source == CredentialsSource.SECRET and creds.secret_ref is not None:
        secret = await asyncio.to_thread(read_secret, environment.metadata.namespace, creds.secret_ref.name)

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
        )

    lock: asyncio.Lock = memo.setdefault("reconcile_lock", asyncio.Lock())
    async with lock:  # timers and change handlers must not reconcile one object at once
        report = await runtime.measured(KIND, body, reconcile, resync=resync)
    log.info("reconcile finished", ok=report.ok, caller=report.caller_arn, error=_reason(report))
    return report


def _reason(report: Report) -> str | None:
    return report.first_error.reason if report.first_error else None


def _write_status(
    body: kopf.Body, patch: kopf.Patch, report: Report, regions: list[RegionRef], index: kopf.Index[EnvKey, Any]
) -> None:
    status = EnvironmentStatus.model_validate(dict(body.status))
    status.regions = summarise_regions(regions_of(index, body.metadata.namespace or "", body.metadata.name))
    apply_environment_report(status, report, body.metadata.get("generation", 1), regions, _domain(body))
    patch.status.update(_dump(status))


def _domain(body: kopf.Body) -> Domain | None:
    try:
        return Domain.model_validate(body.spec["domain"]) if body.spec.get("domain") else None
    except ValidationError:
        return None  # the report says InvalidSpec


def _dump(status: EnvironmentStatus) -> dict[str, Any]:
    return status.model_dump(by_alias=True, mode="json", exclude_none=True)
