"""The Argo CD health checks of both kinds (deploy/argocd/health/cutlass.lua), run by a real Lua.

Argo CD runs health scripts in gopher-lua, a Lua 5.1; lupa's Lua 5.1 runtime runs them the same
way here: the object is the global `obj`, the script returns `{status = ..., message = ...}`.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import lupa.lua51 as lupa  # the dev extra's Lua 5.1, the language version of Argo CD's gopher-lua
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ARGOCD = ROOT / "deploy" / "argocd"
SCRIPT = (ARGOCD / "health" / "cutlass.lua").read_text()
KINDS = ("CutlassEnvironment", "CutlassRegion")


def health(obj: dict[str, Any], script: str = SCRIPT) -> tuple[str, str]:
    runtime = lupa.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals().obj = _to_lua(runtime, obj)
    result = runtime.execute(script)
    return str(result["status"]), str(result["message"])


def _to_lua(runtime: Any, value: Any) -> Any:
    """JSON-shaped Python -> Lua tables, as Argo CD hands the object to the script (lists 1-based)."""
    if isinstance(value, dict):
        return runtime.table_from({k: _to_lua(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([_to_lua(runtime, v) for v in value])
    return value


def condition(type_: str, status: str, reason: str, message: str = "", generation: int | None = 2) -> dict[str, Any]:
    c: dict[str, Any] = {"type": type_, "status": status, "reason": reason, "message": message}
    if generation is not None:
        c["observedGeneration"] = generation
    return c


def sample(kind: str, generation: int = 2, status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "cutlass.tech/v1alpha1",
        "kind": kind,
        "metadata": {"name": "dev-london", "namespace": "cutlass-dev", "generation": generation},
        "spec": {},
    }
    if status is not None:
        obj["status"] = status
    return obj


READY = {
    "phase": "Ready",
    "observedGeneration": 2,
    "conditions": [
        condition("Synced", "True", "ReconcileSuccess"),
        condition("Ready", "True", "Available", "every layer is ready"),
    ],
}


@pytest.mark.parametrize("kind", KINDS)
class TestStates:
    def test_a_new_object_without_status_is_progressing(self, kind: str) -> None:
        assert health(sample(kind))[0] == "Progressing"

    def test_ready_for_the_current_generation_is_healthy(self, kind: str) -> None:
        assert health(sample(kind, status=READY)) == ("Healthy", "Available: every layer is ready")

    def test_ready_for_an_older_generation_is_progressing(self, kind: str) -> None:
        status, message = health(sample(kind, generation=3, status=READY))
        assert status == "Progressing"
        assert "generation 3" in message and "generation 2" in message

    def test_a_ready_condition_from_an_older_generation_is_progressing(self, kind: str) -> None:
        stale = copy.deepcopy(READY)
        stale["observedGeneration"] = 3
        stale["conditions"][1]["observedGeneration"] = 2
        assert health(sample(kind, generation=3, status=stale))[0] == "Progressing"

    def test_waiting_for_a_dependency_is_progressing_and_says_why(self, kind: str) -> None:
        waiting = {
            "phase": "WaitingForDependency",
            "observedGeneration": 2,
            "conditions": [condition("Ready", "False", "WaitingForKeys", "the tables wait for the data layer")],
        }
        assert health(sample(kind, status=waiting)) == (
            "Progressing",
            "WaitingForKeys: the tables wait for the data layer",
        )

    def test_a_transient_failure_being_retried_is_progressing(self, kind: str) -> None:
        retrying = {
            "phase": "Reconciling",
            "observedGeneration": 2,
            "conditions": [condition("Ready", "False", "Throttling", "Rate exceeded; retrying")],
        }
        assert health(sample(kind, status=retrying))[0] == "Progressing"

    def test_a_terminal_failure_is_degraded_with_what_to_fix(self, kind: str) -> None:
        failed = {
            "phase": "Failed",
            "observedGeneration": 2,
            "conditions": [
                condition("Ready", "False", "AccountMismatch", "credentials act in 222222222222, not 111111111111")
            ],
        }
        assert health(sample(kind, status=failed)) == (
            "Degraded",
            "AccountMismatch: credentials act in 222222222222, not 111111111111",
        )

    def test_a_failure_of_an_older_generation_waits_for_the_fix_to_be_reconciled(self, kind: str) -> None:
        failed = {"phase": "Failed", "observedGeneration": 1, "conditions": [condition("Ready", "False", "X", "", 1)]}
        assert health(sample(kind, generation=2, status=failed))[0] == "Progressing"

    def test_deletion_under_way_is_progressing(self, kind: str) -> None:
        obj = sample(kind, status=READY)
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        assert health(obj)[0] == "Progressing"

    def test_a_paused_object_is_suspended(self, kind: str) -> None:
        obj = sample(kind, status=READY)
        obj["metadata"]["annotations"] = {"cutlass.tech/paused": "true"}
        status, message = health(obj)
        assert status == "Suspended" and "cutlass.tech/paused" in message
        obj["metadata"]["annotations"] = {"cutlass.tech/paused": "false"}
        assert health(obj)[0] == "Healthy"

    def test_a_plan_awaiting_approval_is_suspended_and_says_how_to_approve(self, kind: str) -> None:
        waiting = copy.deepcopy(READY)
        waiting["conditions"].append(
            condition("AwaitingApproval", "True", "PlanAwaitsApproval", "plan 0123abcd waits; cutlass approve ...")
        )
        assert health(sample(kind, status=waiting)) == (
            "Suspended",
            "PlanAwaitsApproval: plan 0123abcd waits; cutlass approve ...",
        )
        deleting = sample(kind, status=waiting)
        deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        assert health(deleting)[0] == "Suspended", "a teardown plan waiting for approval"
        # An approval wait of an older generation: the operator has not planned the edit yet.
        assert health(sample(kind, generation=3, status=waiting))[0] == "Progressing"

    def test_a_stalled_object_is_degraded(self, kind: str) -> None:
        stalled = copy.deepcopy(READY)
        stalled["phase"] = "Reconciling"
        stalled["conditions"] = [condition("Stalled", "True", "ImmutableFieldChanged", "restore spec.awsRegion")]
        assert health(sample(kind, status=stalled)) == ("Degraded", "ImmutableFieldChanged: restore spec.awsRegion")

    def test_conditions_without_observed_generation_count_as_current(self, kind: str) -> None:
        older_shape = copy.deepcopy(READY)
        for c in older_shape["conditions"]:
            del c["observedGeneration"]
        assert health(sample(kind, status=older_shape))[0] == "Healthy"


def test_the_status_the_operator_writes_reads_as_healthy() -> None:
    """A status built by the operator's own models, not a hand-written sample."""
    from cutlass_operator.api.region import RegionStatus
    from cutlass_operator.engine.conditions import set_condition

    status = RegionStatus(phase="Ready", observed_generation=4)
    status.conditions = set_condition(status.conditions, "Ready", True, "Available", "ready", generation=4)
    body = status.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert health(sample("CutlassRegion", generation=4, status=body))[0] == "Healthy"


def test_argocd_cm_holds_the_script_for_both_kinds() -> None:
    config = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert config["kind"] == "ConfigMap" and config["metadata"]["name"] == "argocd-cm"
    assert config["data"] == {f"resource.customizations.health.cutlass.tech_{kind}": SCRIPT for kind in KINDS}


def test_the_script_uses_nothing_beyond_lua_5_1() -> None:
    """gopher-lua is 5.1: integer division, bit operators and goto do not parse there."""
    code = "\n".join(line.split("--", 1)[0] for line in SCRIPT.splitlines())
    for token in ("//", "goto ", "::", "~ ", "<<", ">>"):
        assert token not in code, token


# --- what Argo CD syncs -----------------------------------------------------------------------------------------


def _kustomize(folder: Path) -> list[dict[str, Any]]:
    kubectl = Path(sys.executable).parent / "kubectl"  # the dev extra's kubectl (kustomize built in)
    result = subprocess.run(
        [str(kubectl), "kustomize", str(folder)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_namespace_syncs_first_then_the_environment_with_its_regions(env: str) -> None:
    """One wave for the environment and its regions: Argo CD waits for a wave to be Healthy before
    the next, and an environment is Ready only once its regions are."""
    waves = {
        (d["kind"], d["metadata"]["name"]): int(d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for d in _kustomize(ROOT / "manifests" / env)
    }
    assert waves == {
        ("Namespace", f"cutlass-{env}"): -1,
        ("CutlassEnvironment", env): 0,
        ("CutlassRegion", f"{env}-london"): 0,
        ("CutlassRegion", f"{env}-sydney"): 0,
    }


def test_the_application_set_syncs_each_environment_folder_after_the_operator() -> None:
    documents = {d["kind"]: d for d in _kustomize(ARGOCD)}
    operator, environments = documents["Application"], documents["ApplicationSet"]
    wave = "argocd.argoproj.io/sync-wave"
    assert int(operator["metadata"]["annotations"][wave]) < int(environments["metadata"]["annotations"][wave])
    assert operator["spec"]["source"]["path"] == "charts/cutlass-operator"
    (generator,) = environments["spec"]["generators"]
    for element in generator["list"]["elements"]:
        assert (ROOT / "manifests" / element["env"] / "kustomization.yaml").is_file()
    template = environments["spec"]["template"]["spec"]
    assert template["source"]["path"] == "manifests/{{ .env }}"
    assert template["destination"]["namespace"] == "cutlass-{{ .env }}"
    assert template["syncPolicy"]["automated"]["prune"] is False  # a deleted file must not tear AWS down
