"""What a layer is: a named, pure builder of desired resources, the kinds they use, and outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

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


@dataclass(frozen=True)
class EnvironmentInputs:
    """What an account-wide layer may read. `region_keys` maps each AWS region of the environment
    to its data layer's KMS key ARN, or None while that key does not exist yet: the one fact
    from AWS an account-wide layer needs, looked up by the workflow before building."""

    workspace: Workspace
    environment: CutlassEnvironmentSpec
    region_keys: Mapping[str, str | None]


Inputs_contra = TypeVar("Inputs_contra", RegionInputs, EnvironmentInputs, contravariant=True)


class Layer(Protocol[Inputs_contra]):
    name: str  # e.g. "network"; also the `cutlass.tech/component` prefix of its resources
    condition: str  # e.g. "NetworkReady"
    holds_data: bool  # its resources follow the environment's deletion policy

    def kinds(self) -> Sequence[ResourceKind]: ...

    def desired(self, inputs: Inputs_contra) -> list[Desired]: ...

    def outputs(self, observed: Mapping[str, Observed]) -> dict[str, Any]:
        """User-facing outputs (ids, ARNs) from the observed state, keyed by desired key."""
        ...
