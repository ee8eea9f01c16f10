"""One reconcile of a `CutlassRegion`: connect to the account, then each regional layer in order.

Layers run network, data, messaging, compute, and stop at the first that is not ready, since
each builds on those before it (messaging before compute, unlike the seed's numbering: the
functions need the queue). Destroy runs them in reverse. The data layer is ready only when this
region's copy of every global table is ACTIVE: the table itself in the primary region, its
replica elsewhere. The tables are described once, up front: their states decide readiness and
their stream ARNs feed the compute layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from cutlass_operator.api.common import MAX_USER_TAGS
from cutlass_operator.api.environment import CutlassEnvironment, DeletionPolicy, resolve_settings
from cutlass_operator.api.region import CutlassRegion
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.guard import connect
from cutlass_operator.aws.lease import Lease, default_holder
from cutlass_operator.engine.errors import ReconcileError, RetryableError, TerminalError
from cutlass_operator.engine.executor import CONCURRENT_CALLS, Progress
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.reconcile import Outcome
from cutlass_operator.engine.resource import KindContext
from cutlass_operator.layers.api import ApiLayer, spec_problems
from cutlass_operator.layers.base import Layer, RegionInputs
from cutlass_operator.layers.compute import ComputeLayer
from cutlass_operator.layers.data import DataLayer
from cutlass_operator.layers.messaging import MessagingLayer
from cutlass_operator.layers.network import NetworkLayer
from cutlass_operator.layers.tables import table_names
from cutlass_operator.props.dynamodb import TableFacts
from cutlass_operator.resources.dynamodb_status import table_facts
from cutlass_operator.workflows.changes import ChangeRequest, SuspendedError, decide
from cutlass_operator.workflows.layers import LayerRun
from cutlass_operator.workflows.report import Mode, Report, changes_of

REGION_LAYERS: tuple[Layer[RegionInputs], ...] = (
    NetworkLayer(),
    DataLayer(),
    MessagingLayer(),
    ComputeLayer(),
    ApiLayer(),
)


def region_conditions(layers: Sequence[Layer[Any]] = REGION_LAYERS) -> list[str]:
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
    holder: str | None = None,
    max_workers: int = CONCURRENT_CALLS,
    layers: Sequence[Layer[RegionInputs]] = REGION_LAYERS,
    control: ChangeRequest | None = None,
) -> Report:
    """`control`, when given, is change control: where a plan could wait for approval, the whole
    plan first (reads only), then the gate decides; without it (`cutlass apply`, whose user is the
    approval) or where nothing could wait (Auto), the layers apply as they are planned."""
    inputs = region_inputs(environment, region)
    if mode != Mode.DESTROY and (problem := _too_many_tags(environment, region) or spec_problems(inputs)) is not None:
        return Report(mode, error=problem)  # before connecting: nothing is written
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
    policy = environment.spec.effective_deletion_policy()
    destroying_data = mode == Mode.DESTROY and policy == DeletionPolicy.DELETE
    tables: dict[str, TableFacts] = {}
    if destroying_data or any(isinstance(layer, DataLayer) for layer in layers):
        try:
            tables = table_facts(ctx.clients, ctx.region, table_names(environment.name))
        except ReconcileError as exc:
            return Report(mode, error=exc, caller_arn=connection.caller_arn)
    inputs = replace(inputs, tables=tables)
    lease = Lease(
        connection.clients, environment.spec.primary_region, inputs.workspace.name, holder or default_holder()
    )
    run = LayerRun(ctx, mode, lease, policy == DeletionPolicy.RETAIN, max_workers, progress)
    gate = None
    if control is not None and control.may_wait and mode != Mode.PLAN:
        planned, error = replace(run, dry_run=True).run(layers, inputs)
        if error is not None:
            return Report(mode, planned, error=error, caller_arn=connection.caller_arn)
        gate = decide(control, changes_of(planned))
        if gate.awaiting:
            waiting = SuspendedError(
                "AwaitingApproval", gate.awaiting_message(f"cutlassregion/{region.name}", region.metadata.namespace)
            )
            return Report(mode, planned, error=waiting, caller_arn=connection.caller_arn, gate=gate)
        run = replace(run, gate=gate, planned={lr.layer: Outcome(lr.plan, None) for lr in planned})
    if destroying_data:
        still = _replicas_still_here(ctx, environment, tables)
        if still is not None:
            return Report(mode, error=still, caller_arn=connection.caller_arn, gate=gate)
    reports, error = run.run(layers, inputs, readiness=lambda layer, _: _data_ready(ctx, environment, layer, tables))
    if control is not None and gate is None:  # nothing could wait: what was applied, told as the plan
        gate = decide(control, changes_of(reports))
    return Report(mode, reports, error=error, caller_arn=connection.caller_arn, gate=gate)


def _too_many_tags(environment: CutlassEnvironment, region: CutlassRegion) -> TerminalError | None:
    """Each side is bounded by the schema; together they must leave room for the operator's own."""
    keys = {*environment.spec.tags, *region.spec.tags}
    if len(keys) <= MAX_USER_TAGS:
        return None
    return TerminalError(
        "TooManyTags",
        f"spec.tags: the environment's and the region's tags make {len(keys)}; AWS takes 50 on a resource, "
        f"{50 - MAX_USER_TAGS} of them the operator's own: keep at most {MAX_USER_TAGS} together",
    )


def _data_ready(
    ctx: KindContext, environment: CutlassEnvironment, layer: Layer[Any], tables: Mapping[str, TableFacts]
) -> ReconcileError | None:
    """The region's compute may use the tables only once its copy of each is ACTIVE."""
    if not isinstance(layer, DataLayer):
        return None
    pending = {name: facts.status for name, facts in tables.items() if facts.status != "ACTIVE"}
    if not pending:
        return None
    primary = ctx.region == environment.spec.primary_region
    what = ", ".join(f"{name} ({state or 'absent'})" for name, state in sorted(pending.items()))
    if primary:
        return RetryableError("WaitingForTables", f"the environment has not created its tables yet: {what}", 5)
    return RetryableError("WaitingForReplica", f"waiting for the replicas in {ctx.region} to be ACTIVE: {what}", 5)


def _replicas_still_here(
    ctx: KindContext, environment: CutlassEnvironment, tables: Mapping[str, TableFacts]
) -> ReconcileError | None:
    """The region's key encrypts its replicas, and the primary region's key the tables
    themselves: the key may go only once the environment removed what it encrypts."""
    present = sorted(name for name, facts in tables.items() if facts.status)
    if not present:
        return None
    if ctx.region == environment.spec.primary_region:
        return RetryableError(
            "PrimaryRegionHoldsTables",
            f"the environment's tables live in this region ({', '.join(present)}): they go when the "
            "environment is deleted (or move spec.primaryRegion first)",
            delay=5,
        )
    if environment.spec.effective_deletion_protection():
        return RetryableError(
            "ReplicasProtected",
            f"this region's replicas ({', '.join(present)}) are deletion-protected: set "
            "spec.data.deletionProtection: false on the environment to let them go, or use deletionPolicy Retain",
            delay=30,
        )
    return RetryableError(
        "WaitingForReplicaRemoval",
        f"the environment is removing this region's replicas first: {', '.join(present)}",
        delay=5,
    )
