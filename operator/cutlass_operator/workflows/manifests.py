"""Reading environment and region manifests from files, as `kubectl apply -f` would take them.

The CLI runs the engine without a cluster, so it validates with the same models the CRD
schema is generated from, and reads credential Secrets from the same files when given.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cutlass_operator.api.common import explain
from cutlass_operator.api.environment import CutlassEnvironment
from cutlass_operator.api.region import CutlassRegion
from cutlass_operator.engine.errors import TerminalError


@dataclass
class ManifestSet:
    environments: list[CutlassEnvironment] = field(default_factory=list)
    regions: list[CutlassRegion] = field(default_factory=list)
    secrets: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    documents: list[dict[str, Any]] = field(default_factory=list)

    def regions_of(self, environment: CutlassEnvironment) -> list[CutlassRegion]:
        return [
            r
            for r in self.regions
            if r.spec.environment_ref.name == environment.name
            and r.metadata.namespace == environment.metadata.namespace
        ]

    def secret_for(self, environment: CutlassEnvironment) -> dict[str, str] | None:
        ref = environment.spec.credentials.secret_ref
        return None if ref is None else self.secrets.get((environment.metadata.namespace, ref.name))


def manifest_files(paths: Iterable[Path]) -> list[Path]:
    """Files as `kubectl apply -f` takes them: a file, or every YAML file under a directory, sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.name != "kustomization.yaml"
            )
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    return files


def load_manifests(paths: Iterable[Path]) -> ManifestSet:
    result = ManifestSet()
    for file in manifest_files(paths):
        for doc in yaml.safe_load_all(file.read_text()):
            if isinstance(doc, dict):
                _add(result, doc, file)
    return result


def _add(result: ManifestSet, doc: dict[str, Any], file: Path) -> None:
    kind = doc.get("kind")
    doc.setdefault("metadata", {}).setdefault("namespace", "default")
    try:
        if kind == "CutlassEnvironment":
            result.environments.append(CutlassEnvironment.model_validate(doc))
        elif kind == "CutlassRegion":
            result.regions.append(CutlassRegion.model_validate(doc))
        elif kind == "Secret":
            meta = doc["metadata"]
            data = {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}
            data.update(doc.get("stringData") or {})
            result.secrets[(meta["namespace"], meta["name"])] = data
        else:
            return
    except ValidationError as exc:
        name = doc["metadata"].get("name", "?")
        raise TerminalError("InvalidSpec", f"{file}: {kind} {name}: {explain(exc)}") from None
    result.documents.append(doc)
