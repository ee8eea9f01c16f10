"""Handlers of `CutlassEnvironment`: verify the account, keep the region summary current, and
hold deletion until the regions that need its credentials are gone."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import structlog
from pydantic import ValidationError

from cutlass_operator.api.common import GROUP, VERSION, explain
from cutlass_operator.api.environment import CredentialsSource, CutlassEnvironment, EnvironmentStatus
from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.handlers.config import OperatorConfig
from cutlass_operator.handlers.indexes import EnvKey, regions_index, regions_of
from cutlass_operator.handlers.kube import read_secret
from cutlass_operator.handlers.outcome import post_events, raise_for
from cutlass_operator.workflows.environment import (
    apply_environment_report,
    apply_regions_summary,
    run_environment,
    summarise_regions,
)
from cutlass_operator.workflows.report import Mode, Report

PLURAL = "cutlassenvironments"
SUMMARY_SECONDS = 2.0


def register_environment_handlers(registry: kopf.OperatorRegistry, config: OperatorConfig) -> None:
    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, registry=registry, field="spec")
    async def reconcile_environment(body: kopf.Body, patch: kopf.Patch, **kwargs: Any) -> None:
        report = await _verify(body)
        _write_status(body, patch, report, regions_index(kwargs))
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
    async def reverify_environment(body: kopf.Body, patch: kopf.Patch, **kwargs: Any) -> None:
        """Credentials expire and roles change: re-check the account at every resync."""
        _write_status(body, patch, await _verify(body), regions_index(kwargs))

    @kopf.timer(GROUP, VERSION, PLURAL, registry=registry, interval=SUMMARY_SECONDS)
    def summarise_environment(body: kopf.Body, patch: kopf.Patch, **kwargs: Any) -> None:
        """Reads kopf's in-memory index only; patches the status only when the summary changed."""
        status = EnvironmentStatus.model_validate(dict(body.status))
        regions = summarise_regions(
            regions_of(regions_index(kwargs), body.metadata.namespace or "", body.metadata.name)
        )
        if status.observed_generation is None or regions == status.regions:
            return
        apply_regions_summary(status, regions)
        patch.status.update(_dump(status))

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    def delete_environment(body: kopf.Body, **kwargs: Any) -> None:
        regions = regions_of(regions_index(kwargs), body.metadata.namespace or "", body.metadata.name)
        if regions:
            raise kopf.TemporaryError(
                f"waiting for regions {', '.join(sorted(regions))} to be deleted: they need this "
                "environment's credentials to tear down their AWS resources",
                delay=5,
            )


async def _verify(body: kopf.Body) -> Report:
    log = structlog.get_logger("cutlass.environment").bind(namespace=body.metadata.namespace, name=body.metadata.name)
    try:
        environment = CutlassEnvironment.model_validate({"metadata": dict(body.metadata), "spec": dict(body.spec)})
    except ValidationError as exc:
        return Report(Mode.APPLY, error=TerminalError("InvalidSpec", explain(exc)))
    creds = environment.spec.credentials
    secret = None
    if creds.source == CredentialsSource.SECRET and creds.secret_ref is not None:
        secret = await asyncio.to_thread(read_secret, environment.metadata.namespace, creds.secret_ref.name)
    report = await asyncio.to_thread(run_environment, environment, secret=secret)
    log.info("account checked", ok=report.ok, caller=report.caller_arn)
    return report


def _write_status(body: kopf.Body, patch: kopf.Patch, report: Report, regions: kopf.Index[EnvKey, Any]) -> None:
    status = EnvironmentStatus.model_validate(dict(body.status))
    status.regions = summarise_regions(regions_of(regions, body.metadata.namespace or "", body.metadata.name))
    apply_environment_report(status, report, body.metadata.get("generation", 1))
    patch.status.update(_dump(status))


def _dump(status: EnvironmentStatus) -> dict[str, Any]:
    return status.model_dump(by_alias=True, mode="json", exclude_none=True)
