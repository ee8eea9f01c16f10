"""What a layer is: a named, pure builder of desired resources, the kinds they use, and outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from cutlass_operator.api.environment import CutlassEnvironmentSpec, ResolvedSettings
from cutlass_operator.api.region import CutlassRegionSpec
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.resource import Desired, Observed, Scope
from cutlass_operator.props.dynamodb import TableFacts


@dataclass(frozen=True)
class RegionInputs:
    """Everything a regional layer may read: the specs and resolved settings, and two facts from
    AWS the workflow gathers for it: the environment's tables as seen in this region (for their
    stream ARNs) and the outputs of the layers that ran before it this reconcile (`upstream`,
    keyed by layer name: subnet ids, the key ARN, queue ARNs)."""

    workspace: Workspace
    environment: CutlassEnvironmentSpec
    region: CutlassRegionSpec
    settings: ResolvedSettings
    tables: Mapping[str, TableFacts] = field(default_factory=dict)
    upstream: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def from_upstream(self, layer: str, output: str) -> Any:
        """An earlier layer's output. Unknown only in a plan (or a destroy) that runs a layer before
        the ones it builds on exist; apply never gets here, since it stops at the first layer
        that is not ready."""
        value = self.upstream.get(layer, {}).get(output)
        return f"(known after the {layer} layer is applied)" if value is None else value


@dataclass(frozen=True)
class ApiEndpoint:
    """Where Route 53 sends a region's callers, and what it probes there: from the region's API
    layer outputs (`status.outputs.api`)."""

    target: str  # the regional name of the custom domain serving the environment's routed name
    target_zone_id: str
    invoke_host: str  # <api id>.execute-api.<region>.amazonaws.com: the health check's host
    stage: str
    own_name: str | None = None  # the region's own custom domain, and its regional name and zone
    own_target: str | None = None
    own_zone_id: str | None = None


@dataclass(frozen=True)
class RegionRef:
    """What the environment needs to know of each of its live (not deleting) regions."""

    name: str  # the friendly name, as in resource names (london)
    aws_region: str
    endpoint: ApiEndpoint | None = None  # None: not to be routed to (yet); `unroutable` says why
    unroutable: str = ""
    # Failing, and routed now or maybe (the CLI cannot know): its endpoint is to be read from the
    # records Route 53 holds, so a failing region keeps them (`dns.held_regions`).
    held: bool = False


@dataclass(frozen=True)
class EnvironmentInputs:
    """What an account-wide layer may read. `region_keys` maps each AWS region of the environment
    to its data layer's KMS key ARN, or None while that key does not exist yet: the one fact
    from AWS an account-wide layer needs, looked up by the workflow before building. `regions`
    are the live regions, with the API endpoints of those to route to."""

    workspace: Workspace
    environment: CutlassEnvironmentSpec
    region_keys: Mapping[str, str | None]
    regions: Sequence[RegionRef] = ()


Inputs_contra = TypeVar("Inputs_contra", RegionInputs, EnvironmentInputs, contravariant=True)


class Layer(Protocol[Inputs_contra]):
    name: str  # e.g. "network"; also the `cutlass.tech/component` prefix of its resources
    condition: str  # e.g. "NetworkReady"
    holds_data: bool  # its resources follow the environment's deletion policy

    def kinds(self, inputs: Inputs_contra) -> Sequence[Scope]:
        """Every kind the layer manages, whether the spec wants one now or not."""
        ...

    def desired(self, inputs: Inputs_contra) -> list[Desired[Any]]: ...

    def outputs(self, observed: Mapping[str, Observed]) -> dict[str, Any]:
        """User-facing outputs (ids, ARNs) from the observed state, keyed by desired key."""
        ...


def alarm_prefix(inputs: RegionInputs, layer: str) -> str:
    """The names of a layer's alarms start with this. Alarms are found by name prefix (reading
    their tags costs a read each), so the prefix carries the layer: no layer's prefix may be the
    start of another's, or one would delete the other's alarms as its own orphans."""
    return f"{inputs.workspace.resource_name('alarm', layer)}-"
