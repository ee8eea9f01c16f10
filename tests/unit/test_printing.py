"""Tables printed from the CRDs' printer columns, as `kubectl get` shows them."""

from __future__ import annotations

from datetime import UTC, datetime

from cutlass_operator.api.crd import build_crds
from cutlass_operator.printing import age, json_path, render_table

REGION = {
    "metadata": {"name": "dev-london", "namespace": "cutlass-dev", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"environmentRef": {"name": "dev"}, "awsRegion": "eu-west-2"},
    "status": {
        "phase": "Ready",
        "conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}],
    },
}


def test_json_path_follows_fields_and_condition_filters() -> None:
    assert json_path(REGION, '.status.conditions[?(@.type=="Ready")].status') == "True"
    assert json_path(REGION, '.status.conditions[?(@.type=="Missing")].status') is None
    assert json_path(REGION, ".spec.environmentRef.name") == "dev"
    assert json_path(REGION, ".spec.nothing.here") is None


def test_age_reads_like_kubectl() -> None:
    now = datetime(2026, 1, 3, 0, 0, 30, tzinfo=UTC)
    assert age("2026-01-03T00:00:00Z", now) == "30s"
    assert age("2026-01-02T23:55:30Z", now) == "5m"
    assert age("2026-01-01T00:00:00Z", now) == "2d"


def test_region_table_has_the_crd_columns() -> None:
    crd = next(c for c in build_crds() if c["spec"]["names"]["kind"] == "CutlassRegion")
    header, row = render_table(crd, [REGION]).splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "ENVIRONMENT", "AWS-REGION", "PHASE", "READY", "AGE"]
    assert row.split()[:6] == ["cutlass-dev", "dev-london", "dev", "eu-west-2", "Ready", "True"]
