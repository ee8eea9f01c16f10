"""In-memory indexes kopf keeps from its watch streams: regions find their environment, and
environments count their regions, without an extra API call or a blind poll."""

from __future__ import annotations

import copy
from typing import Any

import kopf

from cutlass_operator.api.common import GROUP, VERSION
from cutlass_operator.engine.conditions import READY
from cutlass_operator.layers.dns import api_endpoint
from cutlass_operator.workflows.fleet import RegionFacts

EnvKey = tuple[str, str]


def register_indexes(registry: kopf.OperatorRegistry) -> None:
    @kopf.index(GROUP, VERSION, "cutlassenvironments", registry=registry, id="cutlass_environments")
    def cutlass_environments(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[EnvKey, Any]:
        return {(namespace or "", name): copy.deepcopy(dict(body))}

    @kopf.index(GROUP, VERSION, "cutlassregions", registry=registry, id="cutlass_regions")
    def cutlass_regions(
        namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, **_: Any
    ) -> dict[EnvKey, RegionFacts]:
        env = spec.get("environmentRef", {}).get("name", "")
        entry = RegionFacts(
            name=name,
            ready=is_ready(status, meta.get("generation")),
            region=spec.get("region", ""),
            aws_region=spec.get("awsRegion", ""),
            deleting=bool(meta.get("deletionTimestamp")),
            endpoint=api_endpoint((status.get("outputs") or {}).get("api")),
            certificate=bool(spec.get("api", {}).get("certificateArn")),
            created=str(meta.get("creationTimestamp") or ""),
        )
        return {(namespace or "", env): entry}


def is_ready(status: Any, generation: int | None) -> bool:
    return condition_true(status, READY, generation)


def condition_true(status: Any, type_: str, generation: int | None) -> bool:
    """True for `generation`, not a stale True left from before a spec change (None: any)."""
    return any(
        c.get("type") == type_
        and c.get("status") == "True"
        and (generation is None or c.get("observedGeneration") == generation)
        for c in (status or {}).get("conditions", [])
    )


def lookup_environment(index: kopf.Index[EnvKey, Any], namespace: str, name: str) -> dict[str, Any] | None:
    found = index.get((namespace, name))
    return next(iter(found), None) if found else None


def regions_of(index: kopf.Index[EnvKey, Any], namespace: str, name: str) -> dict[str, bool]:
    return {entry.name: entry.ready for entry in index.get((namespace, name), [])}


def region_facts(index: kopf.Index[EnvKey, Any], namespace: str, name: str) -> list[RegionFacts]:
    return list(index.get((namespace, name), []))


def environments_index(handler_kwargs: dict[str, Any]) -> kopf.Index[EnvKey, Any]:
    """kopf passes each index as a keyword named after its indexing function."""
    return handler_kwargs["cutlass_environments"]  # type: ignore[no-any-return]


def regions_index(handler_kwargs: dict[str, Any]) -> kopf.Index[EnvKey, Any]:
    return handler_kwargs["cutlass_regions"]  # type: ignore[no-any-return]
