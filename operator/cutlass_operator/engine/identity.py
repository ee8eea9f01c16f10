"""Deterministic names and identity tags: how the operator finds its resources again.

Names follow `cutlass-tech-<component>-<env>-<region>` (the seed's convention). Tags carry both
the operator's identity (`cutlass.tech/*`) and the seed's cost-allocation tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MANAGED_BY = "cutlass.tech/managed-by"
ENVIRONMENT = "cutlass.tech/environment"
WORKSPACE = "cutlass.tech/workspace"
COMPONENT = "cutlass.tech/component"
KEY = "cutlass.tech/key"
RETAINED = "cutlass.tech/retained"
OPERATOR = "cutlass-operator"
PREFIX = "cutlass-tech"
# One per account and region: the bootstrap layer makes it, every writer leases workspaces in it.
LEASE_TABLE = f"{PREFIX}-operator-leases"


# The tags that make observe find a resource: retaining a resource removes exactly these.
IDENTITY_TAGS = (MANAGED_BY, WORKSPACE, KEY, COMPONENT, ENVIRONMENT)
GLOBAL = "global"


@dataclass(frozen=True)
class Workspace:
    """One environment in one region; for account-wide resources `region` is `global`."""

    environment: str
    region: str
    aws_region: str
    account_id: str
    extra_tags: Mapping[str, str]

    @property
    def name(self) -> str:
        return f"{self.environment}-{self.region}"

    @property
    def is_global(self) -> bool:
        return self.region == GLOBAL

    def resource_name(self, component: str, suffix: str = "") -> str:
        """`cutlass-tech-<component>-<env>-<region>`; account-wide resources omit the region."""
        base = f"{PREFIX}-{component}-{self.environment}" + ("" if self.is_global else f"-{self.region}")
        return f"{base}-{suffix}" if suffix else base

    def selector(self) -> dict[str, str]:
        return {MANAGED_BY: OPERATOR, WORKSPACE: self.name}

    def tags(self, component: str, key: str, name: str) -> dict[str, str]:
        return {
            **self.extra_tags,
            "Name": name,
            "Environment": self.environment,
            "Region": self.region,
            "Workspace": self.name,
            "Account": self.account_id,
            MANAGED_BY: OPERATOR,
            ENVIRONMENT: self.environment,
            WORKSPACE: self.name,
            COMPONENT: component,
            KEY: key,
        }
