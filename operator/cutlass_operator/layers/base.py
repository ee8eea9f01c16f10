"""What a layer is: a named, pure builder of desired resources, the kinds they use, and outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cutlass_operator.api.environment import CutlassEnvironmentSpec, ResolvedSettings
from cutlass_operator.api.region import CutlassRegionSpec
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.resource import Desired, Observed, ResourceKind


@dataclass(frozen=True)
class RegionInputs:
    """Everything a regional layer may read: no AWS state, only specs and resolved settings."""

    workspace: Workspace
    environment: CutlassEnvironmentSpec
    region: CutlassRegionSpec
    settings: ResolvedSettings


class Layer(Protocol):
    name: str  # e.g. "network"; also the `cutlass.tech/component` prefix of its resources
    condition: str  # e.g. "NetworkReady"

    def kinds(self) -> Sequence[ResourceKind]: ...

    def desired(self, inputs: RegionInputs) -> list[Desired]: ...

    def outputs(self, observed: Mapping[str, Observed]) -> dict[str, Any]:
        """User-facing outputs (ids, ARNs) from the observed state, keyed by desired key."""
        ...
