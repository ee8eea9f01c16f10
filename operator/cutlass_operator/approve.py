"""`cutlass approve KIND/NAME [--plan ID] [-n NS]`: annotate an object with the plan to apply.

Without `--plan`, the plan its status shows now; with it, that id (as printed by
`cutlass plan -f` in a pull request). The operator applies the plan only if it is still the one
it would apply; otherwise the new plan and its id are shown, and nothing is written to AWS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from cutlass_operator.api.changes import APPROVE
from cutlass_operator.api.common import GROUP, VERSION

PLURALS = {
    "cutlassregion": "cutlassregions",
    "cutlassregions": "cutlassregions",
    "creg": "cutlassregions",
    "cutlassenvironment": "cutlassenvironments",
    "cutlassenvironments": "cutlassenvironments",
    "cenv": "cutlassenvironments",
}


class ApproveError(Exception):
    """What to tell the user: nothing was annotated."""


@dataclass(frozen=True)
class Approved:
    resource: str
    namespace: str
    plan_id: str
    summary: str  # what the status says of the plan, when it is the one approved

    def __str__(self) -> str:
        what = (
            f"({self.summary})"
            if self.summary
            else "(not the plan its status shows now: applied only if it becomes so)"
        )
        return f"{self.resource} in {self.namespace}: approved plan {self.plan_id} {what}"


def approve(resource: str, namespace: str | None, plan: str | None, api: Any | None = None) -> Approved:
    kind, _, name = resource.partition("/")
    plural = PLURALS.get(kind.split(".")[0].lower())
    if plural is None or not name:
        raise ApproveError(f"{resource!r}: name it as cutlassregion/NAME or cutlassenvironment/NAME")
    custom: Any = api or client.CustomObjectsApi(_api_client())
    ns = namespace or _context_namespace()
    try:
        obj: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            raise ApproveError(f"{plural} {ns}/{name} not found") from None
        raise
    shown = (obj.get("status") or {}).get("plan") or {}
    plan_id = plan or shown.get("id")
    if not plan_id or (plan is None and not (shown.get("create") or shown.get("update") or shown.get("delete"))):
        raise ApproveError(f"{resource} in {ns} shows no plan with changes to approve")
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, ns, plural, name, {"metadata": {"annotations": {APPROVE: plan_id}}}
    )
    summary = ""
    if shown.get("id") == plan_id:
        counts = (f"{shown.get(action, 0)} to {action}" for action in ("create", "update", "delete"))
        summary = ", ".join(counts)
    return Approved(resource, ns, plan_id, summary)


def _api_client() -> Any:
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        return client.ApiClient()
    return config.new_client_from_config(config_file=os.environ.get("KUBECONFIG"))  # type: ignore[no-untyped-call]


def _context_namespace() -> str:
    try:
        _, context = config.list_kube_config_contexts(config_file=os.environ.get("KUBECONFIG"))  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError):
        return "default"
    return str((context or {}).get("context", {}).get("namespace") or "default")
