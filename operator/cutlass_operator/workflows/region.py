"""One reconcile of a `CutlassRegion`: connect to the account, then each regional layer in order.

Layers run in the seed's order (network before data before compute ...) and stop at the first
failure, since each builds on the outputs of those before it. Destroy runs them in reverse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog

from cutlass_operator.api.environment import CutlassEnvironment, resolve_settings
from cutlass_operator.api.region import CutlassRegion
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.guard import connect
from cutlass_operator.engine.errors import ReconcileError
from cutlass_operator.engine.executor import Progress
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.reconcile import reconcile
from cutlass_operator.engine.resource import KindContext
from cutlass_operator.layers.base import Layer, RegionInputs
from cutlass_operator.layers.network import NetworkLayer
from cutlass_operator.workflows.report import LayerReport, Mode, Report

REGION_LAYERS: tuple[Layer[RegionInputs], ...] = (NetworkLayer(),)


def region_conditions(layers: Sequence[Layer[RegionInputs]] = REGION_LAYERS) -> list[str]:
    return [layer.condition for layer in layers]


def region_inputs(environment: CutlassEnvironment, region: CutlassRegion) -> RegionInputs:
    env, spec = environment.spec, region.spec
    workspace = Workspace(
        environment=environment.name,
        region=spec.region,
        aws_region=spec.aws_region,
        account_id=env.account_id,
        extra_tags={**env.tags, **spec.tags},
    )
    settings = resolve_settings(env.tier, env.settings, spec.settings)
    return RegionInputs(workspace=workspace, environment=env, region=spec, settings=settings)


def run_region(
    environment: CutlassEnvironment,
    region: CutlassRegion,
    *,
    mode: Mode,
    secret: Mapping[str, str] | None = None,
    calls: CallLog | None = None,
    progress: Progress | None = None,
    layers: Sequence[Layer[RegionInputs]] = REGION_LAYERS,
    max_workers: int = 4,
) -> Report:
    inputs = region_inputs(environment, region)
    try:
        connection = connect(environment.spec, secret, region.spec.aws_region, calls)
    except ReconcileError as exc:
        return Report(mode, error=exc)
    ctx = KindContext(
        clients=connection.clients,
        account_id=environment.spec.account_id,
        region=region.spec.aws_region,
        selector=inputs.workspace.selector(),
    )
    log = structlog.get_logger("cutlass.region").bind(workspace=inputs.workspace.name, mode=str(mode))
    reports: list[LayerReport] = []
    ordered = list(reversed(layers)) if mode == Mode.DESTROY else list(layers)
    for layer in ordered:
        try:
            kinds = {kind.kind: kind for kind in layer.kinds()}
            outcome = reconcile(
                kinds,
                layer.desired(inputs),
                ctx,
                scope=f"{layer.name}/",
                apply=mode != Mode.PLAN,
                destroy=mode == Mode.DESTROY,
                max_workers=max_workers,
                progress=progress,
            )
        except ReconcileError as exc:
            return Report(mode, reports, error=exc, caller_arn=connection.caller_arn)
        observed = outcome.result.observed if outcome.result else outcome.plan.observed
        report = LayerReport(layer.name, layer.condition, outcome.plan, outcome.result, layer.outputs(observed))
        reports.append(report)
        log.info(
            "layer reconciled",
            layer=layer.name,
            plan=outcome.plan.headline(),
            error=report.error.reason if report.error else None,
        )
        if report.error is not None:
            break
    return Report(mode, reports, caller_arn=connection.caller_arn)
