"""Handlers of `CutlassRegion`: reconcile on change, on resume and on a resync timer; tear down
on deletion behind the finalizer."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import structlog
from pydantic import ValidationError

from cutlass_operator.api.changes import PAUSED, ChangeControl, ChangePolicy, is_paused
from cutlass_operator.api.common import GROUP, VERSION, explain
from cutlass_operator.api.environment import CredentialsSource, CutlassEnvironment
from cutlass_operator.api.region import CutlassRegion, RegionStatus
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.handlers.control import (
    APPROVAL_POLL,
    Snapshot,
    consume_approval,
    turn,
    worth_a_reconcile,
    write_paused,
)
from cutlass_operator.handlers.indexes import (
    EnvKey,
    condition_true,
    environments_index,
    lookup_environment,
    region_facts,
    regions_index,
)
from cutlass_operator.handlers.kube import read_secret
from cutlass_operator.handlers.outcome import event_budget, post_events, raise_for
from cutlass_operator.handlers.runtime import Runtime
from cutlass_operator.workflows.changes import inputs_digest
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
    @kopf.on.update(GROUP, VERSION, PLURAL, registry=registry)
    async def reconcile_region(
        *, body: kopf.Body, patch: kopf.Patch, memo: Any, reason: str, old: Any, new: Any, **kwargs: Any
    ) -> None:
        if not worth_a_reconcile(body, patch, reason, old, new):
            return
        async with turn(body, memo) as snap:
            paused = _paused(snap, environments_index(kwargs))
            if paused is not None:
                _write_paused(snap, patch, paused)
                if not snap.paused:  # its environment's: nothing of this object changes when that one is unpaused
                    raise kopf.TemporaryError(f"Paused: {paused}", delay=config.retry_seconds)
                return
            report = await _run(snap, kwargs, Mode.APPLY, runtime)
            _write_status(snap, patch, report)
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
    async def resync_region(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        """Drift detection: the same reconcile; a steady state reads AWS and writes nothing."""
        async with turn(body, memo) as snap:
            paused = _paused(snap, environments_index(kwargs))
            if paused is not None:
                return _write_paused(snap, patch, paused)
            report = await _run(snap, kwargs, Mode.APPLY, runtime)
            _write_status(snap, patch, report)
        if report.pending():
            post_events(body, report, event_budget(memo), snap.previous_plan())

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    async def delete_region(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        async with turn(body, memo) as snap:
            snap.write_status(patch, {"phase": Phase.DELETING.value})
            paused = _paused(snap, environments_index(kwargs))
            if paused is not None:
                raise kopf.TemporaryError(f"Paused: {paused}", delay=config.retry_seconds)
            routed = _still_routed(snap, environments_index(kwargs))
            if routed is not None:
                _write_status(snap, patch, Report(Mode.DESTROY, error=routed))
                snap.write_status(patch, {"phase": Phase.DELETING.value})
                raise kopf.TemporaryError(f"{routed.reason}: {routed.message}", delay=config.retry_seconds)
            if snap.still_waiting(config.resync_seconds, _policy(snap, environments_index(kwargs))):
                raise kopf.TemporaryError("AwaitingApproval: the teardown plan waits for approval", delay=APPROVAL_POLL)
            report = await _run(snap, kwargs, Mode.DESTROY, runtime)
            if report.awaiting:  # its teardown plan waits for approval on this object
                _write_status(snap, patch, report)
        post_events(body, report, event_budget(memo), snap.previous_plan())
        if report.awaiting:
            raise kopf.TemporaryError(f"AwaitingApproval: {report.plan_summary().id}", delay=APPROVAL_POLL)
        error = report.first_error
        if error is not None:  # never drop the finalizer while AWS still holds resources
            raise kopf.TemporaryError(f"{error.reason}: {error.message}", delay=config.retry_seconds)
        runtime.metrics.forget(KIND, snap.namespace, snap.name)


async def _run(
    snap: Snapshot,
    indexes: dict[str, Any],
    mode: Mode,
    runtime: Runtime,
) -> Report:
    log = structlog.get_logger("cutlass.region").bind(namespace=snap.namespace, name=snap.name, mode=str(mode))
    try:
        region = CutlassRegion.model_validate(snap.model())
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
    control = snap.request(
        environment.spec.change_policy(region.spec.changes),
        inputs_digest(str(mode), environment.spec, region.spec),
        RegionStatus.model_validate(snap.status),
    )

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
            control=control,
        )

    log.info("reconcile started", environment=ref)
    report = await runtime.measured(KIND, snap, reconcile)
    summary = report.plan_summary()
    log.info(
        "reconcile finished",
        ok=report.ok,
        plan=summary.id,
        awaiting=report.awaiting,
        created=summary.create,
        updated=summary.update,
        deleted=summary.delete,
        error=report.first_error.reason if report.first_error else None,
    )
    return report


def _paused(snap: Snapshot, environments: kopf.Index[EnvKey, Any]) -> str | None:
    """Why no AWS call may be made for this region now, if paused (itself or its environment)."""
    if snap.paused:
        return f"annotation {PAUSED} is set: no AWS call until it is removed"
    ref = snap.spec.get("environmentRef", {}).get("name", "")
    env_body = lookup_environment(environments, snap.namespace, ref) or {}
    if is_paused((env_body.get("metadata") or {}).get("annotations")):
        return f"CutlassEnvironment {ref} is paused (annotation {PAUSED}): no AWS call until it is removed"
    return None


def _policy(snap: Snapshot, environments: kopf.Index[EnvKey, Any]) -> ChangePolicy | None:
    """The region's change policy as the specs say it now (None: they cannot say)."""
    ref = snap.spec.get("environmentRef", {}).get("name", "")
    env_body = lookup_environment(environments, snap.namespace, ref)
    try:
        environment = CutlassEnvironment.model_validate(env_body or {})
        return environment.spec.change_policy(ChangeControl.model_validate(snap.spec.get("changes") or {}))
    except ValidationError:
        return None


def _still_routed(snap: Snapshot, environments: kopf.Index[EnvKey, Any]) -> RetryableError | None:
    """The environment's records point at this region's API: it goes only once they no longer do
    (the environment sees the region deleting and takes it out of the records first)."""
    ref = snap.spec.get("environmentRef", {}).get("name", "")
    env_body = lookup_environment(environments, snap.namespace, ref)
    routed = (((env_body or {}).get("status") or {}).get("dns") or {}).get("routedRegions") or []
    region = snap.spec.get("region", "")
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


def _write_status(snap: Snapshot, patch: kopf.Patch, report: Report) -> None:
    consume_approval(snap, patch, report)
    status = RegionStatus.model_validate(snap.status)
    apply_report(status, report, snap.generation, region_conditions())
    status.environment = snap.spec.get("environmentRef", {}).get("name")
    status.last_handled_reconcile_at = snap.requested_at() or status.last_handled_reconcile_at
    snap.write_status(patch, status.model_dump(by_alias=True, mode="json", exclude_none=True))


def _write_paused(snap: Snapshot, patch: kopf.Patch, message: str) -> None:
    status = RegionStatus.model_validate(snap.status)
    write_paused(status, snap.generation, message)
    snap.write_status(patch, status.model_dump(by_alias=True, mode="json", exclude_none=True))
