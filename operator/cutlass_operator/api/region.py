"""`CutlassRegion`: one environment in one AWS region, the seed's workspace (`dev-london`).

The region owns everything regional: network, KMS key, compute, API and messaging. The same
network rules the CRD enforces with CEL are checked here too, so `cutlass plan -f` rejects
a bad manifest with the same message before any cluster is involved.
"""

from __future__ import annotations

import ipaddress
import itertools
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from cutlass_operator.api.changes import ChangeControl
from cutlass_operator.api.common import (
    API_VERSION,
    AWS_REGION_PATTERN,
    NAME_PATTERN,
    CamelModel,
    CommonStatus,
    ObjectMeta,
    UserTags,
)
from cutlass_operator.api.environment import TierSettings
from cutlass_operator.api.gateway import Throttling

CIDR_PATTERN = r"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$"

# Length bounds are not cosmetic: the API server estimates the cost of every CEL rule from the
# largest value a field can hold, and the subnet rules iterate these strings and lists.
Cidr = Annotated[str, Field(pattern=CIDR_PATTERN, max_length=18)]
# A zone of the region (eu-west-2a) or one of its Local Zones (us-west-2-lax-1a).
ZoneName = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d([a-z]|-[a-z0-9-]*[a-z])$", max_length=32)]


class NatMode(StrEnum):
    SINGLE = "Single"
    PER_AZ = "PerAZ"
    NONE = "None"


class EnvironmentRef(CamelModel):
    name: str = Field(min_length=1, description="Name of the CutlassEnvironment in the same namespace.")


class VpcEndpoints(CamelModel):
    dynamodb: bool = Field(default=True, description="DynamoDB gateway endpoint on the private route tables.")
    s3: bool = Field(default=False, description="S3 gateway endpoint on the private route tables.")
    interface: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Interface endpoints by service short name (sqs, logs, kms, ...) in the private subnets.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    @field_validator("interface")
    @classmethod
    def _service_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.replace("-", "").replace(".", "").isalnum() or name != name.lower():
                raise ValueError(f"vpcEndpoints.interface: {name!r} is not a service short name like 'sqs'")
        return value


class FlowLogs(CamelModel):
    enabled: bool | None = Field(
        default=None, description="Send VPC flow logs to CloudWatch Logs (default: when enhanced security)."
    )
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = Field(default="ALL", description="Traffic to log.")


class Network(CamelModel):
    vpc_cidr: str = Field(
        pattern=CIDR_PATTERN, max_length=18, description="IPv4 CIDR of the VPC, /16 to /28. Immutable."
    )
    public_subnet_cidrs: list[Cidr] = Field(
        min_length=1,
        max_length=6,
        description="One public subnet per availability zone, in order.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    private_subnet_cidrs: list[Cidr] = Field(
        min_length=1,
        max_length=6,
        description="One private subnet per availability zone, in order.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    availability_zones: list[ZoneName] = Field(
        default_factory=list,
        max_length=6,
        description="Zones for the subnets, in order (default: the region's a, b, c...).",
    )
    nat_gateways: NatMode = Field(
        default=NatMode.SINGLE,
        description="Single NAT gateway per region (the seed's cost choice), one per AZ, or none.",
    )
    vpc_endpoints: VpcEndpoints = Field(default_factory=VpcEndpoints, description="VPC endpoints.")
    flow_logs: FlowLogs = Field(default_factory=FlowLogs, description="VPC flow logs.")

    @model_validator(mode="after")
    def _subnets_fit(self) -> Network:
        vpc = _network("network.vpcCidr", self.vpc_cidr)
        if not 16 <= vpc.prefixlen <= 28:
            raise ValueError(f"network.vpcCidr {self.vpc_cidr}: the prefix must be between /16 and /28")
        subnets: list[tuple[str, ipaddress.IPv4Network]] = []
        for field, cidrs in (
            ("publicSubnetCidrs", self.public_subnet_cidrs),
            ("privateSubnetCidrs", self.private_subnet_cidrs),
        ):
            for cidr in cidrs:
                net = _network(f"network.{field}", cidr)
                if not 16 <= net.prefixlen <= 28:
                    raise ValueError(f"network.{field}: {cidr}: AWS takes subnets from /16 to /28")
                if not net.subnet_of(vpc):
                    raise ValueError(f"network.{field}: {cidr} is not inside the VPC CIDR {self.vpc_cidr}")
                subnets.append((cidr, net))
        for (a_cidr, a), (b_cidr, b) in itertools.combinations(subnets, 2):
            if a.overlaps(b):
                raise ValueError(f"network: subnets {a_cidr} and {b_cidr} overlap")
        zones_needed = max(len(self.public_subnet_cidrs), len(self.private_subnet_cidrs))
        if self.availability_zones and len(self.availability_zones) < zones_needed:
            raise ValueError(
                f"network.availabilityZones lists {len(self.availability_zones)} zones "
                f"but {zones_needed} subnets per tier need one zone each"
            )
        return self


def _network(field: str, cidr: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        raise ValueError(f"{field}: {cidr} is not a valid IPv4 network CIDR ({exc})") from None


class Api(CamelModel):
    stage: str | None = Field(
        default=None, pattern=r"^[a-zA-Z0-9_]{1,64}$", description="Stage name (default: the tier)."
    )
    domain_name: str | None = Field(
        default=None,
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
        description=(
            "This region's own custom domain, e.g. api-london.dev.example.com, inside the environment's "
            "zone; the environment points it at this region alone."
        ),
    )
    certificate_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$",
        description=(
            "ACM certificate in this region and account, covering domainName and the environment's routed "
            "name (spec.domain.apiRecordName): with it, the region serves the routed name too."
        ),
    )
    throttling: Throttling | None = Field(
        default=None, description="This stage's throttling (default: the environment's)."
    )

    @model_validator(mode="after")
    def _domain_has_its_certificate(self) -> Api:
        if self.domain_name and not self.certificate_arn:
            raise ValueError("api.domainName needs api.certificateArn: a custom domain needs its certificate")
        return self


class CutlassRegionSpec(CamelModel):
    environment_ref: EnvironmentRef = Field(description="The CutlassEnvironment this region belongs to.")
    region: str = Field(pattern=NAME_PATTERN, description="Friendly region name used in names, e.g. london.")
    aws_region: str = Field(pattern=AWS_REGION_PATTERN, description="AWS region, e.g. eu-west-2. Immutable.")
    network: Network = Field(description="VPC, subnets, NAT, endpoints and flow logs.")
    settings: TierSettings = Field(
        default_factory=TierSettings, description="Overrides of the environment's settings for this region."
    )
    api: Api = Field(default_factory=Api, description="API stage and custom domain.")
    changes: ChangeControl = Field(
        default_factory=ChangeControl,
        description="Overrides of the environment's change control for this region, field by field.",
    )
    tags: UserTags = Field(
        default_factory=dict,
        description=(
            "Extra tags on this region's resources, as AWS takes them: keys of 1-128 and values of up to "
            "256 letters, digits, "
            "spaces and _.:/=+-@, no aws: prefix, none of the operator's own (Name, Environment, Region, "
            "Workspace, Account, cutlass.tech/*); at most 40 on the environment and region together."
        ),
    )

    @model_validator(mode="after")
    def _zones_in_the_region(self) -> CutlassRegionSpec:
        foreign = [z for z in self.network.availability_zones if not z.startswith(f"{self.aws_region}")]
        if foreign:
            raise ValueError(
                f"network.availabilityZones: {', '.join(foreign)} not in {self.aws_region}: list zones of the "
                f"region's own ({self.aws_region}a, {self.aws_region}b, ...)"
            )
        return self

    def availability_zones(self) -> list[str]:
        count = max(len(self.network.public_subnet_cidrs), len(self.network.private_subnet_cidrs))
        if self.network.availability_zones:
            return list(self.network.availability_zones[:count])
        return [f"{self.aws_region}{letter}" for letter in "abcdef"[:count]]


class RegionStatus(CommonStatus):
    environment: str | None = Field(default=None, description="The environment this region reconciled for.")


class CutlassRegion(CamelModel):
    model_config = CamelModel.model_config | {"extra": "ignore"}

    api_version: Literal["cutlass.tech/v1alpha1"] = API_VERSION
    kind: Literal["CutlassRegion"] = "CutlassRegion"
    metadata: ObjectMeta
    spec: CutlassRegionSpec

    @property
    def name(self) -> str:
        return self.metadata.name
