"""Handlers of `CutlassRegion`: reconcile on change, on resume and on a resync timer; tear down
on deletion behind the finalizer."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import structlog
from pydantic import ValidationError

from cutlass_operator.api.common import GROUP, VERSION, explain
from cutlass_operator.api.environment import CredentialsSource, CutlassEnvironment
from cutlass_operator.api.region import CutlassRegion, RegionStatus
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.handlers.indexes import (
    EnvKey,
    condition_true,
    environments_index,
    lookup_environment,
    region_facts,
    regions_index,
)
from cutlass_operator.handlers.kube import read_secret
from cutlass_operator.handlers.outcome import post_events, raise_for
from cutlass_operator.handlers.runtime import Runtime
from cutlass_operator.workflows.environment import ACCOUNT_VERIFIED
from cutlass_operator.workflows.fleet import clashes, environment_problem, environment_regions
from cutlass_operator.workflows.region import region_conditions, run_region
from cutlass_operator.workflows.report import Mode, Phase, Report, apply_report

PLURAL = "cutlassregions"
KIND = "CutlassRegion"


def register_region_handlers(registry: kopf.OperatorRegistry, runtime: Runtime) -> None:
    config = runtime.config

    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, registry=registry, field="spec")
    async def reconcile_region(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        report = await _run(body, memo, kwargs, Mode.APPLY, runtime)
        _write_status(body, patch, report)
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
    async def resync_region(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        """Drift detection: the same reconcile; a steady state reads AWS and writes nothing."""
        report = await _run(body, memo, kwargs, Mode.APPLY, runtime, resync=True)
        _write_status(body, patch, report)
        if report.plan_summary().changes:
            post_events(body, report)

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    async def delete_region(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        patch.status["phase"] = Phase.DELETING.value
        routed = _still_routed(body, environments_index(kwargs))
        if routed is not None:
            _write_status(body, patch, Report(Mode.DESTROY, error=routed))
            patch.status["phase"] = Phase.DELETING.value
            raise kopf.TemporaryError(f"{routed.reason}: {routed.message}", delay=config.retry_seconds)
        report = await _run(body, memo, kwargs, Mode.DESTROY, runtime)
        post_events(body, report)
        error = report.first_error
        if error is not None:  # never drop the finalizer while AWS still holds resources
            raise kopf.TemporaryError(f"{error.reason}: {error.message}", delay=config.retry_seconds)
        runtime.metrics.forget(KIND, body.metadata.namespace or "", body.metadata.name or "")


async def _run(
    body: kopf.Body,
    memo: Any,
    indexes: dict[str, Any],
    mode: Mode,
    runtime: Runtime,
    *,
    resync: bool = False,
) -> Report:
    log = structlog.get_logger("cutlass.region").bind(
        namespace=body.metadata.namespace, name=body.metadata.name, mode=str(mode)
    )
    try:
        region = CutlassRegion.model_validate({"metadata": dict(body.metadata), "spec": dict(body.spec)})
    except ValidationError as exc:
        return Report(mode, error=TerminalError("InvalidSpec", explain(exc)))
    ref = region.spec.environment_ref.name
    env_body = lookup_environment(environments_index(indexes), region.metadata.namespace, ref)
    if env_body is None:
        return Report(mode, error=RetryableError("WaitingForEnvironment", f"CutlassEnvironment {ref!r} not found"))
    siblings = region_facts(regions_index(indexes), region.metadata.namespace, ref)
    refused = clashes(siblings).get(region.name)
    if refused is not None:  # it never wrote: the region it clashes with holds the names
        return Report(mode) if mode == Mode.DESTROY else Report(mode, error=refused)
    waiting = _environment_not_verified(ref, env_body)
    if waiting is not None:
        return Report(mode, error=waiting)
    environment = CutlassEnvironment.model_validate(env_body)
    blocked = environment_problem(environment.spec, environment_regions(siblings, routed=()))
    if blocked is not None and mode != Mode.DESTROY:
        return Report(mode, error=RetryableError(blocked.reason, f"CutlassEnvironment {ref!r}: {blocked.message}", 30))
    secret = None
    creds = environment.spec.credentials
    if creds.source == CredentialsSource.SECRET and creds.secret_ref is not None:
        secret = await asyncio.to_thread(read_secret, region.metadata.namespace, creds.secret_ref.name)

    async def reconcile(calls: CallLog) -> Report:
        return await asyncio.to_thread(
            run_region,
            environment,
            region,
            mode=mode,
            secret=secret,
            calls=calls,
            holder=runtime.config.holder,
            max_workers=runtime.config.max_workers,
        )

    lock: asyncio.Lock = memo.setdefault("reconcile_lock", asyncio.Lock())
    async with lock:  # the resync timer and change handlers must not reconcile one object at once
        log.info("reconcile started", environment=ref)
        report = await runtime.measured(KIND, body, reconcile, resync=resync)
    summary = report.plan_summary()
    log.info(
        "reconcile finished",
        ok=report.ok,
        created=summary.create,
        updated=summary.update,
        deleted=summary.delete,
        error=report.first_error.reason if report.first_error else None,
    )
    return report


def _still_routed(body: kopf.Body, environments: kopf.Index[EnvKey, Any]) -> RetryableError | None:
    """The environment's records point at this region's API: it goes only once they no longer do
    (the environment sees the region deleting and takes it out of the records first)."""
    ref = body.spec.get("environmentRef", {}).get("name", "")
    env_body = lookup_environment(environments, body.metadata.namespace or "", ref)
    routed = (((env_body or {}).get("status") or {}).get("dns") or {}).get("routedRegions") or []
    region = body.spec.get("region", "")
    if region not in routed:
        return None
    return RetryableError(
        "WaitingForDnsRemoval",
        f"CutlassEnvironment {ref!r} still routes its API name to {region}; it removes the region's records "
        "and health check first, so callers never reach an API being torn down",
    )


def _environment_not_verified(ref: str, env_body: dict[str, Any]) -> RetryableError | None:
    """Regions wait for their environment's account check, and say what it found."""
    if _verified(env_body):
        return None
    verified = next(
        (c for c in (env_body.get("status") or {}).get("conditions", []) if c.get("type") == ACCOUNT_VERIFIED),
        None,
    )
    if verified is not None and verified.get("status") == "False":
        return RetryableError(
            "WaitingForEnvironment",
            f"CutlassEnvironment {ref!r} failed its account check: {verified.get('reason')}: {verified.get('message')}",
            delay=10,
        )
    return RetryableError("WaitingForEnvironment", f"CutlassEnvironment {ref!r} has not verified its account yet", 2)


def _verified(env_body: dict[str, Any]) -> bool:
    metadata = env_body.get("metadata", {})
    # The API server bumps the generation when it marks an object for deletion, and nothing
    # re-verifies a deleting environment: requiring the new generation would keep its regions
    # from tearing down while it waits for them. The last verification stands (`connect` checks
    # the account again before any AWS call anyway).
    generation = None if metadata.get("deletionTimestamp") else metadata.get("generation")
    return condition_true(env_body.get("status"), ACCOUNT_VERIFIED, generation)


def _write_status(body: kopf.Body, patch: kopf.Patch, report: Report) -> None:
    status = RegionStatus.model_validate(dict(body.status))
    apply_report(status, report, body.metadata.get("generation", 1), region_conditions())
    status.environment = body.spec.get("environmentRef", {}).get("name")
    patch.status.update(status.model_dump(by_alias=True, mode="json", exclude_none=True))
