"""The operator's registry: login, indexes and both kinds' handlers, built on demand."""

from __future__ import annotations

import kopf

from cutlass_operator.handlers.config import OperatorConfig
from cutlass_operator.handlers.environment import register_environment_handlers
from cutlass_operator.handlers.indexes import register_indexes
from cutlass_operator.handlers.kube import login
from cutlass_operator.handlers.metrics import OperatorMetrics
from cutlass_operator.handlers.region import register_region_handlers
from cutlass_operator.handlers.runtime import Runtime


def build_registry(config: OperatorConfig, metrics: OperatorMetrics | None = None) -> kopf.OperatorRegistry:
    runtime = Runtime(config, metrics or OperatorMetrics())
    registry = kopf.OperatorRegistry()
    kopf.on.login(registry=registry)(login)
    register_indexes(registry)
    register_environment_handlers(registry, runtime)
    register_region_handlers(registry, runtime)
    return registry
