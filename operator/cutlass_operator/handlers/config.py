"""The operator's own settings (not the custom resources'): resync, namespaces, concurrency."""

from __future__ import annotations

import kopf
from pydantic import BaseModel, ConfigDict, Field

from cutlass_operator.aws.lease import default_holder
from cutlass_operator.engine.executor import CONCURRENT_CALLS

FINALIZER = "cutlass.tech/finalizer"
KOPF_PREFIX = "kopf.cutlass.tech"
# What kopf kept under `cutlass.tech/` before the prefix moved: its marker, which hides our own
# annotations from it, its last handled spec and its handlers' progress (named after them).
LEGACY_KOPF_KEYS = ("cutlass.tech/kopf-managed", "cutlass.tech/last-handled-configuration", "cutlass.tech/register_")


class OperatorConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    resync_seconds: float = Field(default=300.0, gt=0, description="Drift detection interval per object.")
    retry_seconds: float = Field(default=15.0, gt=0, description="Delay before retrying a transient failure.")
    namespaces: tuple[str, ...] = Field(default=(), description="Namespaces to watch; empty: all.")
    max_workers: int = Field(default=CONCURRENT_CALLS, ge=1, le=32, description="Concurrent AWS calls per reconcile.")
    holder: str = Field(default_factory=default_holder, description="This operator's name on workspace leases.")


def operator_settings(config: OperatorConfig) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = FINALIZER
    # Not `cutlass.tech`: kopf marks the prefixes of its storages (`<prefix>/kopf-managed`) and leaves
    # every annotation under a marked prefix out of the object's essence, so the change-control
    # annotations (cutlass.tech/approve, ...) would never wake a handler.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = 20  # INFO: significant changes become Kubernetes events
    settings.scanning.disabled = True  # we know our resources; no cluster-wide discovery needed
    settings.peering.standalone = True  # one replica (the chart's Recreate strategy); no kopfpeerings RBAC
    settings.watching.server_timeout = 300
    settings.batching.error_delays = [1, 2, 5, 10, 30, 60]
    return settings
