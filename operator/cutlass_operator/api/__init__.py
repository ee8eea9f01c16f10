"""The operator's API: pydantic models of the two custom resources, the single source of their schema."""

from cutlass_operator.api.common import API_VERSION, GROUP, VERSION, Condition, ConditionStatus
from cutlass_operator.api.environment import (
    CredentialsSource,
    CutlassEnvironment,
    CutlassEnvironmentSpec,
    EnvironmentStatus,
    Tier,
    TierSettings,
)
from cutlass_operator.api.region import CutlassRegion, CutlassRegionSpec, NatMode, RegionStatus

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "Condition",
    "ConditionStatus",
    "CredentialsSource",
    "CutlassEnvironment",
    "CutlassEnvironmentSpec",
    "CutlassRegion",
    "CutlassRegionSpec",
    "EnvironmentStatus",
    "NatMode",
    "RegionStatus",
    "Tier",
    "TierSettings",
]
