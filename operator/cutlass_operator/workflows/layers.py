"""Running a sequence of layers for one workspace: plan each, and apply under the workspace's
lease only when there is something to change, so a steady state reads and never writes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from cutlass_operator.aws.lease import Lease
from cutlass_operator.engine.errors import ReconcileError
from cutlass_operator.engine.executor import CONCURRENT_CALLS, ApplyResult, Progress, apply_plan
from cutlass_operator.engine.reconcile import Outcome, reconcile
from cutlass_operator.engine.resource import KindContext, ResourceKind
from cutlass_operator.layers.base import Layer, RegionInputs
from cutlass_operator.resources.registry import kind_for
from cutlass_operator.workflows.changes import Gate
from cutlass_operator.workflows.report import LayerReport, Mode

# Called after a layer applied cleanly; returns why it cannot be used yet, if so.
Readiness = Callable[[Any, LayerReport], ReconcileError | None]


def kinds_of(layer: Layer[Any], inputs: Any) -> dict[str, ResourceKind[Any]]:
    """The layer's resource kinds by name, as the engine takes them."""
    kinds = [kind_for(scope, orphan_scope=f"{layer.name}/") for scope in layer.kinds(inputs)]
    return {kind.kind: kind for kind in kinds}


@dataclass
class LayerRun:
    """`dry_run` plans (the mode's plan: apply or teardown) and writes nothing. `gate` checks each
    layer's changes before they are written. `planned` holds outcomes a dry run of the same
    reconcile just computed: a layer's is used instead of observing again while nothing has been
    written since (an apply empties it)."""

    ctx: KindContext
    mode: Mode
    lease: Lease | None
    retain_data: bool
    max_workers: int = CONCURRENT_CALLS
    progress: Progress | None = None
    dry_run: bool = False
    gate: Gate | None = None
    planned: dict[str, Outcome] = field(default_factory=dict)

    def run(
        self, layers: Sequence[Layer[Any]], inputs: Any, readiness: Readiness | None = None
    ) -> tuple[list[LayerReport], ReconcileError | None]:
        """Layers in order (reverse for destroy), stopping at the first that is not ready. A regional
        layer sees the outputs of the layers before it in `inputs.upstream`."""
        log = structlog.get_logger("cutlass.layers").bind(workspace=self.ctx.selector, mode=str(self.mode))
        reports: list[LayerReport] = []
        ordered = list(reversed(layers)) if self.mode == Mode.DESTROY else list(layers)
        writing = self.mode != Mode.PLAN and not self.dry_run
        with ExitStack() as held:
            leased = self.lease is None
            for layer in ordered:
                if isinstance(inputs, RegionInputs):
                    inputs = replace(inputs, upstream={**inputs.upstream, **{r.layer: r.outputs for r in reports}})
                try:
                    outcome = self.planned.pop(layer.name, None) or self._reconcile(
                        layer, inputs, apply=writing and leased and self.gate is None
                    )
                    if writing and outcome.result is None:
                        if not leased and not outcome.plan.empty:
                            assert self.lease is not None
                            leased = True
                            # The plan stands if no one wrote since this holder's last release;
                            # else the layer is read afresh under the lease.
                            if not held.enter_context(self.lease.held()):
                                outcome = self._reconcile(layer, inputs, apply=False)
                        outcome = self._apply(layer, inputs, outcome)
                except ReconcileError as exc:
                    return reports, exc
                observed = outcome.result.observed if outcome.result else outcome.plan.observed
                report = LayerReport(layer.name, layer.condition, outcome.plan, outcome.result, layer.outputs(observed))
                if report.error is None and readiness is not None and self.mode == Mode.APPLY:
                    report = LayerReport(
                        report.layer, report.condition, report.plan, report.result, report.outputs,
                        waiting=readiness(layer, report),
                    )  # fmt: skip
                reports.append(report)
                log.info(
                    "layer reconciled",
                    layer=layer.name,
                    plan=outcome.plan.headline(),
                    error=report.error.reason if report.error else None,
                )
                if report.error is not None:
                    break
        return reports, None

    def _apply(self, layer: Layer[Any], inputs: Any, planned: Outcome) -> Outcome:
        """Write a plan that the gate (if any) allows."""
        if planned.plan.empty:
            return Outcome(planned.plan, ApplyResult(observed=dict(planned.plan.observed)))
        refused = self.gate.refusal(planned.plan.pending) if self.gate else None
        if refused is not None:
            raise refused
        self.planned.clear()  # what a dry run saw before this write is stale now
        result = apply_plan(
            planned.plan, kinds_of(layer, inputs), self.ctx, max_workers=self.max_workers, progress=self.progress
        )
        return Outcome(planned.plan, result)

    def _reconcile(self, layer: Layer[Any], inputs: Any, *, apply: bool) -> Outcome:
        return reconcile(
            kinds_of(layer, inputs),
            layer.desired(inputs),
            self.ctx,
            scope=f"{layer.name}/",
            apply=apply,
            destroy=self.mode == Mode.DESTROY,
            retain=self.retain_data and layer.holds_data,
            max_workers=self.max_workers,
            progress=self.progress,
        )
