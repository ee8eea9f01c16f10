"""Prometheus metrics of the operator, on a registry of its own (not the library's global one).

Series:
- cutlass_reconcile_total{kind,outcome} and cutlass_reconcile_duration_seconds{kind}
- cutlass_aws_calls_total{service,operation,outcome}: outcome is `ok` or AWS's error code
- cutlass_managed_resources{kind,namespace,name,resource_kind}: what each object manages
- cutlass_drift_repairs_total{kind,namespace,name}: drift a resync repaired (drift: Correct)
- cutlass_drifted_resources{kind,namespace,name}: what the last resync found changed in AWS by
  hand; under drift: Report it stays until the drift is repaired or its plan approved
- cutlass_last_successful_sync_timestamp_seconds{kind,namespace,name}: its age is
  `time() - cutlass_last_successful_sync_timestamp_seconds`
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from cutlass_operator.aws.calls import CallLog
from cutlass_operator.engine.plan import REMOVALS, WRITES
from cutlass_operator.workflows.report import Report


@dataclass
class OperatorMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    # Which resource kinds each object's `cutlass_managed_resources` series name, to end them.
    _managed_kinds: dict[tuple[str, str, str], set[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object_labels = ["kind", "namespace", "name"]
        self.reconciles = Counter(
            "cutlass_reconcile", "Reconciles by kind and outcome.", ["kind", "outcome"], registry=self.registry
        )
        self.durations = Histogram(
            "cutlass_reconcile_duration_seconds",
            "Time of one reconcile.",
            ["kind"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.aws_calls = Counter(
            "cutlass_aws_calls", "AWS API calls.", ["service", "operation", "outcome"], registry=self.registry
        )
        self.managed = Gauge(
            "cutlass_managed_resources",
            "AWS resources each object manages, by resource kind.",
            [*object_labels, "resource_kind"],
            registry=self.registry,
        )
        self.drift_repairs = Counter(
            "cutlass_drift_repairs", "Changes applied by a resync, i.e. drift repaired.", object_labels,
            registry=self.registry,
        )  # fmt: skip
        self.drifted = Gauge(
            "cutlass_drifted_resources",
            "Resources the last resync found differing from the spec (drift), per object.",
            object_labels,
            registry=self.registry,
        )
        self.last_sync = Gauge(
            "cutlass_last_successful_sync_timestamp_seconds",
            "When the object last reconciled without error.",
            object_labels,
            registry=self.registry,
        )

    def call_log(self) -> CallLog:
        """A CallLog whose calls also count in `cutlass_aws_calls_total`."""
        return CallLog(observers=[lambda service, op, outcome: self.aws_calls.labels(service, op, outcome).inc()])

    def observe(self, kind: str, namespace: str, name: str, report: Report, seconds: float) -> None:
        self.reconciles.labels(kind, "success" if report.ok else report.first_error.reason).inc()  # type: ignore[union-attr]
        self.durations.labels(kind).observe(seconds)
        if report.layers:
            kept = Tally(
                change.kind for layer in report.layers for change in layer.plan.changes if change.action not in REMOVALS
            )
            known = self._managed_kinds.setdefault((kind, namespace, name), set())
            for resource_kind in known - kept.keys():
                self.managed.labels(kind, namespace, name, resource_kind).set(0)
            for resource_kind, count in kept.items():
                self.managed.labels(kind, namespace, name, resource_kind).set(count)
            known.update(kept)
        gate = report.gate
        if gate is not None and gate.request.drift_check:
            self.drifted.labels(kind, namespace, name).set(len(gate.changes) if report.awaiting else 0)
            repaired = sum(1 for c in report.applied() if c.action in WRITES)
            if repaired:
                self.drift_repairs.labels(kind, namespace, name).inc(repaired)
        elif report.ok:
            self.drifted.labels(kind, namespace, name).set(0)
        if report.ok:
            self.last_sync.labels(kind, namespace, name).set(time.time())

    def forget(self, kind: str, namespace: str, name: str) -> None:
        """A deleted object's series end with it."""
        for metric in (self.last_sync, self.drift_repairs, self.drifted):
            with contextlib.suppress(KeyError):
                metric.remove(kind, namespace, name)
        for resource_kind in self._managed_kinds.pop((kind, namespace, name), set()):
            with contextlib.suppress(KeyError):
                self.managed.remove(kind, namespace, name, resource_kind)

    def serve(self, port: int, address: str = "0.0.0.0") -> WSGIServer:
        server, _thread = start_http_server(port, address, registry=self.registry)
        return server
