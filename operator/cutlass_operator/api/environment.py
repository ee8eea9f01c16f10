"""`CutlassEnvironment`: one environment, which is one AWS account (dev, staging, prod).

The environment owns what is account-wide: the credentials and the account guard, the global
tables, and the DNS zone with the name routed to its regions. Its tier carries the seed's sizing
defaults, which a region may override field by field.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from cutlass_operator.api.changes import ChangeControl, ChangePolicy, resolve_changes
from cutlass_operator.api.common import (
    API_VERSION,
    AWS_REGION_PATTERN,
    CamelModel,
    CommonStatus,
    ObjectMeta,
    StatusModel,
    UserTags,
)
from cutlass_operator.api.gateway import ApiSettings
from cutlass_operator.api.routing import Policy, Routing


class Tier(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class TierSettings(CamelModel):
    """Sizing and hardening knobs; unset fields take the tier's default."""

    lambda_memory_size: int | None = Field(
        default=None, ge=128, le=10240, description="Lambda memory in MB (tier default: 256/512/1024)."
    )
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365] | None = Field(
        default=None, description="CloudWatch Logs retention in days (tier default: 7/14/30)."
    )
    detailed_monitoring: bool | None = Field(
        default=None, description="Detailed monitoring and alarms (tier default: off for dev, on otherwise)."
    )
    enhanced_security: bool | None = Field(
        default=None, description="Flow logs, advanced security and the like (tier default: prod only)."
    )
    provisioned_concurrency: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        description=(
            "Provisioned concurrency on the `live` alias of the API's functions (usage-check, credits); "
            "0 turns it off (the default in every tier: it is billed whether used or not)."
        ),
    )


class ResolvedSettings(CamelModel):
    lambda_memory_size: int
    log_retention_days: int
    detailed_monitoring: bool
    enhanced_security: bool
    provisioned_concurrency: int = 0


TIER_DEFAULTS: dict[Tier, ResolvedSettings] = {
    Tier.DEV: ResolvedSettings(
        lambda_memory_size=256, log_retention_days=7, detailed_monitoring=False, enhanced_security=False
    ),
    Tier.STAGING: ResolvedSettings(
        lambda_memory_size=512, log_retention_days=14, detailed_monitoring=True, enhanced_security=False
    ),
    Tier.PROD: ResolvedSettings(
        lambda_memory_size=1024, log_retention_days=30, detailed_monitoring=True, enhanced_security=True
    ),
}


def resolve_settings(tier: Tier, *layers: TierSettings | None) -> ResolvedSettings:
    """The tier's defaults, overridden by each later layer's set fields (environment, then region)."""
    merged = TIER_DEFAULTS[tier].model_dump()
    for layer in layers:
        if layer is not None:
            merged.update({k: v for k, v in layer.model_dump().items() if v is not None})
    return ResolvedSettings.model_validate(merged)


class CredentialsSource(StrEnum):
    DEFAULT = "Default"
    SECRET = "Secret"
    ASSUME_ROLE = "AssumeRole"


class SecretKeyRef(CamelModel):
    name: str = Field(min_length=1, description="Name of a Secret in the environment's namespace.")
    access_key_id_key: str = Field(default="aws_access_key_id", description="Key holding the access key id.")
    secret_access_key_key: str = Field(
        default="aws_secret_access_key", description="Key holding the secret access key."
    )
    session_token_key: str = Field(
        default="aws_session_token", description="Key holding a session token, if the Secret has one."
    )


class Credentials(CamelModel):
    """How the operator gets credentials for this environment's account."""

    source: CredentialsSource = Field(
        default=CredentialsSource.DEFAULT,
        description=(
            "Default: the operator's own chain (IRSA, instance profile, environment); "
            "Secret: static keys from secretRef; AssumeRole: assume roleArn from the operator's chain."
        ),
    )
    secret_ref: SecretKeyRef | None = Field(default=None, description="Required when source is Secret.")
    role_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$",
        description="Role to assume; required when source is AssumeRole, optional with Secret.",
    )
    external_id: str | None = Field(default=None, min_length=2, max_length=1224, description="ExternalId.")
    session_name: str = Field(default="cutlass-operator", description="Role session name (CloudTrail).")

    @model_validator(mode="after")
    def _source_has_its_fields(self) -> Credentials:
        if self.source == CredentialsSource.SECRET and self.secret_ref is None:
            raise ValueError("credentials.secretRef is required when credentials.source is Secret")
        if self.source == CredentialsSource.ASSUME_ROLE and self.role_arn is None:
            raise ValueError("credentials.roleArn is required when credentials.source is AssumeRole")
        return self


class Domain(CamelModel):
    """The environment's public DNS."""

    zone_name: str = Field(
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
        description="Public hosted zone, e.g. example.com.",
    )
    create_zone: bool = Field(default=False, description="Create the zone when it does not exist.")
    api_record_name: str | None = Field(
        default=None,
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
        description=(
            "The name users call, routed to the regions, inside the zone (default api.<zoneName>). Each "
            "region serves it as a custom domain on its spec.api.certificateArn, which must cover it."
        ),
    )
    routing: Routing = Field(default_factory=Routing, description="How the name picks a region.")

    @model_validator(mode="after")
    def _record_in_zone(self) -> Domain:
        if self.api_record_name is not None and not self.api_record_name.endswith(f".{self.zone_name}"):
            raise ValueError(f"domain.apiRecordName {self.api_record_name} must be inside zone {self.zone_name}")
        return self

    def record_name(self) -> str:
        return self.api_record_name or f"api.{self.zone_name}"


class DeletionPolicy(StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


class Data(CamelModel):
    """The application's data: the global tables and the keys that encrypt them."""

    deletion_protection: bool | None = Field(
        default=None,
        description=(
            "DynamoDB deletion protection on the tables (default: on for prod). Deleting a protected "
            "table requires setting this to false first; the operator never turns it off on its own."
        ),
    )
    point_in_time_recovery: bool = Field(default=True, description="Continuous backups of every table.")
    usage_retention_days: int = Field(
        default=400, ge=1, le=3650, description="Days a usage record is kept before TTL expires it."
    )


class Notifications(CamelModel):
    """Threshold alerts: the queue between the threshold monitor and the notifier, and who sends the email."""

    sender_email: str | None = Field(
        default=None,
        pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]+$",
        description=(
            "Address the alert emails come from, verified as an SES identity in every region "
            "(default: alerts@<spec.domain.zoneName>; required without a domain)."
        ),
    )
    max_receive_count: int = Field(
        default=5, ge=1, le=1000, description="Deliveries of a notification before it moves to the dead-letter queue."
    )


class CutlassEnvironmentSpec(CamelModel):
    account_id: str = Field(pattern=r"^\d{12}$", description="The 12-digit AWS account id. Immutable.")
    tier: Tier = Field(description="dev, staging or prod: picks the sizing defaults.")
    credentials: Credentials = Field(default_factory=Credentials, description="How to reach the account.")
    primary_region: str = Field(
        default="eu-west-2",
        pattern=AWS_REGION_PATTERN,
        description="AWS region holding the primary copy of global data.",
    )
    settings: TierSettings = Field(
        default_factory=TierSettings, description="Overrides of the tier's defaults for every region."
    )
    domain: Domain | None = Field(default=None, description="Public DNS for the environment's API.")
    deletion_policy: DeletionPolicy | None = Field(
        default=None,
        description=(
            "What happens to tables, keys and the artifact bucket when their resource is deleted: "
            "Retain leaves them (untagged as managed, tagged as retained), Delete removes them. "
            "Default: Retain for prod, Delete otherwise."
        ),
    )
    data: Data = Field(default_factory=Data, description="Global tables settings.")
    notifications: Notifications = Field(default_factory=Notifications, description="Threshold alert emails.")
    api: ApiSettings = Field(default_factory=ApiSettings, description="Usage plans, tenants' API keys, throttling.")
    changes: ChangeControl = Field(
        default_factory=ChangeControl,
        description="Change control for the environment and its regions: approval of plans, and drift.",
    )
    tags: UserTags = Field(
        default_factory=dict,
        description=(
            "Extra tags on every resource, as AWS takes them: keys of 1-128 and values of up to 256 letters, digits, "
            "spaces and _.:/=+-@, no aws: prefix, none of the operator's own (Name, Environment, Region, "
            "Workspace, Account, cutlass.tech/*); at most 40 on the environment and region together."
        ),
    )

    @model_validator(mode="after")
    def _someone_sends_the_alerts(self) -> CutlassEnvironmentSpec:
        if self.domain is None and not self.notifications.sender_email:
            raise ValueError("spec.notifications.senderEmail is required when spec.domain is not set")
        return self

    def effective_deletion_policy(self) -> DeletionPolicy:
        if self.deletion_policy is not None:
            return self.deletion_policy
        return DeletionPolicy.RETAIN if self.tier == Tier.PROD else DeletionPolicy.DELETE

    def effective_sender_email(self) -> str:
        if self.notifications.sender_email:
            return self.notifications.sender_email
        assert self.domain is not None  # the validator below (and the CRD's rule) make sure
        return f"alerts@{self.domain.zone_name}"

    def change_policy(self, region: ChangeControl | None = None) -> ChangePolicy:
        return resolve_changes(self.tier == Tier.PROD, self.changes, region)

    def effective_deletion_protection(self) -> bool:
        if self.data.deletion_protection is not None:
            return self.data.deletion_protection
        return self.tier == Tier.PROD


class RegionsSummary(StatusModel):
    ready: int = Field(default=0, description="Regions that are Ready.")
    total: int = Field(default=0, description="Regions that name this environment.")
    summary: str = Field(default="0/0", description="ready/total, for the printer column.")
    not_ready: list[str] = Field(default_factory=list, description="Regions that are not Ready yet.")


class ReplicaStatus(StatusModel):
    region: str = Field(description="AWS region of the replica.")
    status: str = Field(description="ReplicaStatus as DynamoDB reports it, e.g. ACTIVE or CREATING.")


class TableStatus(StatusModel):
    name: str = Field(description="Table name.")
    region: str = Field(description="The region the table was created in (the primary region).")
    arn: str | None = Field(default=None, description="Table ARN.")
    replicas: list[ReplicaStatus] = Field(default_factory=list, description="Replicas in other regions.")


class DnsRegionStatus(StatusModel):
    region: str = Field(description="The region's spec.region.")
    aws_region: str = Field(description="Its AWS region.")
    target: str | None = Field(default=None, description="The regional API Gateway name the records alias.")
    health_check_id: str | None = Field(default=None, description="Route 53 health check on its /health.")
    health: str | None = Field(
        default=None, description="Healthy, Unhealthy or Unknown, as Route 53's checkers last saw it."
    )
    serves: list[str] = Field(
        default_factory=list,
        description="Whom its records answer: continents and countries, default, latency, PRIMARY or SECONDARY.",
    )


class DnsStatus(StatusModel):
    zone_id: str | None = Field(default=None, description="The public hosted zone.")
    zone_name: str | None = Field(default=None, description="Its name.")
    name_servers: list[str] = Field(default_factory=list, description="The zone's name servers.")
    delegation: str | None = Field(
        default=None, description="Whether the parent zone must delegate to the name servers, and how."
    )
    record_name: str | None = Field(default=None, description="The name users call.")
    policy: Policy | None = Field(default=None, description="The routing policy of its records.")
    routed_regions: list[str] = Field(
        default_factory=list, description="Regions the records point at (a deleting region waits to leave it)."
    )
    regions: list[DnsRegionStatus] = Field(default_factory=list, description="Each routed region.")
    targets_digest: str | None = Field(
        default=None, description="Digest of the regions' API endpoints the last reconcile routed (to notice change)."
    )


class EnvironmentStatus(CommonStatus):
    caller_arn: str | None = Field(default=None, description="The identity the operator acts as.")
    regions: RegionsSummary = Field(default_factory=RegionsSummary, description="Region readiness.")
    tables: list[TableStatus] = Field(default_factory=list, description="Global tables and their replicas.")
    replica_regions: list[str] = Field(
        default_factory=list, description="AWS regions the tables were last reconciled to replicate to."
    )
    dns: DnsStatus | None = Field(default=None, description="The zone, the routing records and health checks.")


class CutlassEnvironment(CamelModel):
    model_config = CamelModel.model_config | {"extra": "ignore"}

    api_version: Literal["cutlass.tech/v1alpha1"] = API_VERSION
    kind: Literal["CutlassEnvironment"] = "CutlassEnvironment"
    metadata: ObjectMeta
    spec: CutlassEnvironmentSpec

    @property
    def name(self) -> str:
        return self.metadata.name
