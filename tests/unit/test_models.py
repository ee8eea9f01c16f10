"""The pydantic models: what they accept, what they reject (and say so by field), tier defaults."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from cutlass_operator.api import (
    API_VERSION,
    GROUP,
    VERSION,
    CredentialsSource,
    CutlassEnvironment,
    CutlassEnvironmentSpec,
    CutlassRegion,
    CutlassRegionSpec,
    Tier,
    TierSettings,
)
from cutlass_operator.api.environment import ResolvedSettings, resolve_settings

SEED_ENVIRONMENT: dict[str, Any] = {
    "accountId": "111111111111",
    "tier": "dev",
    "notifications": {"senderEmail": "alerts@example.com"},
}

SEED_REGION: dict[str, Any] = {
    "environmentRef": {"name": "dev"},
    "region": "london",
    "awsRegion": "eu-west-2",
    "network": {
        "vpcCidr": "10.0.0.0/16",
        "publicSubnetCidrs": ["10.0.1.0/24", "10.0.2.0/24"],
        "privateSubnetCidrs": ["10.0.3.0/24", "10.0.4.0/24"],
    },
}


def region_with(**network: Any) -> dict[str, Any]:
    spec = copy.deepcopy(SEED_REGION)
    spec["network"].update(network)
    return spec


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    """Each error as `loc: message`, so a test can check that the field is named."""
    return "\n".join(".".join(str(part) for part in error["loc"]) + ": " + error["msg"] for error in exc.value.errors())


# --- valid specs --------------------------------------------------------------------------------


def test_seed_environment_is_valid_and_takes_the_defaults() -> None:
    spec = CutlassEnvironmentSpec.model_validate(SEED_ENVIRONMENT)
    assert spec.account_id == "111111111111"
    assert spec.tier is Tier.DEV
    assert spec.credentials.source is CredentialsSource.DEFAULT
    assert spec.primary_region == "eu-west-2"
    assert spec.domain is None
    assert spec.tags == {}


def test_seed_region_is_valid_and_defaults_zones_to_the_region() -> None:
    spec = CutlassRegionSpec.model_validate(SEED_REGION)
    assert spec.network.vpc_cidr == "10.0.0.0/16"
    assert spec.network.public_subnet_cidrs == ["10.0.1.0/24", "10.0.2.0/24"]
    assert spec.network.private_subnet_cidrs == ["10.0.3.0/24", "10.0.4.0/24"]
    assert spec.availability_zones() == ["eu-west-2a", "eu-west-2b"]


def test_given_zones_are_used_in_order_up_to_the_subnet_count() -> None:
    spec = CutlassRegionSpec.model_validate(region_with(availabilityZones=["eu-west-2c", "eu-west-2a", "eu-west-2b"]))
    assert spec.availability_zones() == ["eu-west-2c", "eu-west-2a"]


def test_secret_and_assume_role_credentials_are_valid_with_their_fields() -> None:
    secret = CutlassEnvironmentSpec.model_validate(
        {**SEED_ENVIRONMENT, "credentials": {"source": "Secret", "secretRef": {"name": "aws-dev"}}}
    )
    assert secret.credentials.secret_ref is not None
    assert secret.credentials.secret_ref.access_key_id_key == "aws_access_key_id"
    role_arn = "arn:aws:iam::111111111111:role/cutlass"
    role = CutlassEnvironmentSpec.model_validate(
        {**SEED_ENVIRONMENT, "credentials": {"source": "AssumeRole", "roleArn": role_arn}}
    )
    assert role.credentials.role_arn == role_arn


def test_whole_resources_parse_from_a_manifest() -> None:
    environment = CutlassEnvironment.model_validate(
        {
            "apiVersion": "cutlass.tech/v1alpha1",
            "kind": "CutlassEnvironment",
            "metadata": {"name": "dev"},
            "spec": SEED_ENVIRONMENT,
        }
    )
    region = CutlassRegion.model_validate(
        {
            "apiVersion": "cutlass.tech/v1alpha1",
            "kind": "CutlassRegion",
            "metadata": {"name": "dev-london"},
            "spec": SEED_REGION,
        }
    )
    assert (environment.name, region.name) == ("dev", "dev-london")


def test_the_api_version_is_the_group_and_version() -> None:
    # API_VERSION is spelled out for the type checker; this keeps it honest.
    assert f"{GROUP}/{VERSION}" == API_VERSION == "cutlass.tech/v1alpha1"


# --- invalid specs name the field -------------------------------------------------------------

INVALID_REGIONS = [
    pytest.param(
        region_with(publicSubnetCidrs=["10.0.1.0/24", "10.1.2.0/24"]),
        "network.publicSubnetCidrs: 10.1.2.0/24 is not inside the VPC CIDR 10.0.0.0/16",
        id="public-subnet-outside-vpc",
    ),
    pytest.param(
        region_with(privateSubnetCidrs=["10.0.3.0/24", "192.168.0.0/24"]),
        "network.privateSubnetCidrs: 192.168.0.0/24 is not inside the VPC CIDR",
        id="private-subnet-outside-vpc",
    ),
    pytest.param(
        region_with(privateSubnetCidrs=["10.0.1.128/25", "10.0.4.0/24"]),
        "network: subnets 10.0.1.0/24 and 10.0.1.128/25 overlap",
        id="public-overlaps-private",
    ),
    pytest.param(
        region_with(publicSubnetCidrs=["10.0.0.0/23", "10.0.1.0/24"]),
        "network: subnets 10.0.0.0/23 and 10.0.1.0/24 overlap",
        id="public-subnets-overlap",
    ),
    pytest.param(
        region_with(availabilityZones=["eu-west-2a"]),
        "network.availabilityZones lists 1 zones but 2 subnets per tier need one zone each",
        id="too-few-zones",
    ),
    pytest.param(
        region_with(vpcCidr="10.0.0.0/8"),
        "network.vpcCidr 10.0.0.0/8: the prefix must be between /16 and /28",
        id="vpc-too-large",
    ),
    pytest.param(
        region_with(vpcCidr="10.0.0.1/16"),
        "network.vpcCidr: 10.0.0.1/16 is not a valid IPv4 network CIDR",
        id="vpc-host-bits-set",
    ),
    pytest.param(region_with(vpcCidr="10.0.0.0"), "network.vpcCidr: String should match pattern", id="vpc-not-a-cidr"),
    pytest.param(
        region_with(publicSubnetCidrs=[]),
        "network.publicSubnetCidrs: List should have at least 1 item",
        id="no-public-subnets",
    ),
    pytest.param(
        region_with(privateSubnetCidrs=[f"10.0.{i}.0/24" for i in range(10, 17)]),
        "network.privateSubnetCidrs: List should have at most 6 items",
        id="too-many-private-subnets",
    ),
    pytest.param(
        region_with(publicSubnetCidrs=["10.0.1.0/24", "10.0.2.0/24 "]),
        "network.publicSubnetCidrs.1: String should match pattern",
        id="subnet-not-a-cidr",
    ),
    pytest.param(
        region_with(availabilityZones=["eu-west-2a", "x" * 33]),
        "network.availabilityZones.1: String should have at most 32 characters",
        id="zone-name-too-long",
    ),
    pytest.param(
        region_with(vpcCIDR="10.0.0.0/16"), "network.vpcCIDR: Extra inputs are not permitted", id="typo-in-field"
    ),
    pytest.param({**SEED_REGION, "awsRegion": "London"}, "awsRegion: String should match pattern", id="bad-aws-region"),
    pytest.param({**SEED_REGION, "region": "London"}, "region: String should match pattern", id="bad-region-name"),
    pytest.param(
        {**SEED_REGION, "environmentRef": {"name": ""}},
        "environmentRef.name: String should have at least 1 character",
        id="empty-environment-ref",
    ),
    pytest.param(
        region_with(vpcEndpoints={"interface": ["SQS"]}),
        "vpcEndpoints.interface: 'SQS' is not a service short name",
        id="bad-interface-endpoint",
    ),
    pytest.param({k: v for k, v in SEED_REGION.items() if k != "network"}, "network: Field required", id="no-network"),
]


@pytest.mark.parametrize(("spec", "expected"), INVALID_REGIONS)
def test_an_invalid_region_is_rejected_naming_the_field(spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as exc:
        CutlassRegionSpec.model_validate(spec)
    assert expected in errors_of(exc)


INVALID_ENVIRONMENTS = [
    pytest.param(
        {**SEED_ENVIRONMENT, "accountId": "11111111111"},
        "accountId: String should match pattern",
        id="short-account-id",
    ),
    pytest.param(
        {**SEED_ENVIRONMENT, "accountId": 111111111111},
        "accountId: Input should be a valid string",
        id="account-id-as-number",
    ),
    pytest.param(
        {**SEED_ENVIRONMENT, "tier": "qa"}, "tier: Input should be 'dev', 'staging' or 'prod'", id="unknown-tier"
    ),
    pytest.param({"accountId": "111111111111"}, "tier: Field required", id="no-tier"),
    pytest.param(
        {**SEED_ENVIRONMENT, "credentials": {"source": "Secret"}},
        "credentials.secretRef is required when credentials.source is Secret",
        id="secret-without-secret-ref",
    ),
    pytest.param(
        {**SEED_ENVIRONMENT, "credentials": {"source": "AssumeRole"}},
        "credentials.roleArn is required when credentials.source is AssumeRole",
        id="assume-role-without-role-arn",
    ),
    pytest.param(
        {**SEED_ENVIRONMENT, "credentials": {"source": "AssumeRole", "roleArn": "cutlass"}},
        "credentials.roleArn: String should match pattern",
        id="role-arn-not-an-arn",
    ),
    pytest.param(
        {**SEED_ENVIRONMENT, "settings": {"logRetentionDays": 8}},
        "settings.logRetentionDays: Input should be 1, 3, 5, 7, 14, 30",
        id="unsupported-retention",
    ),
    pytest.param(
        {**SEED_ENVIRONMENT, "settings": {"lambdaMemorySize": 64}},
        "settings.lambdaMemorySize: Input should be greater than or equal to 128",
        id="lambda-memory-too-small",
    ),
    pytest.param(
        {**SEED_ENVIRONMENT, "primaryRegion": "eu_west_2"},
        "primaryRegion: String should match pattern",
        id="bad-primary-region",
    ),
    pytest.param(
        {**SEED_ENVIRONMENT, "domain": {"zoneName": "Example.com"}},
        "domain.zoneName: String should match pattern",
        id="bad-zone-name",
    ),
]


@pytest.mark.parametrize(("spec", "expected"), INVALID_ENVIRONMENTS)
def test_an_invalid_environment_is_rejected_naming_the_field(spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as exc:
        CutlassEnvironmentSpec.model_validate(spec)
    assert expected in errors_of(exc)


def test_specs_are_frozen_so_handlers_cannot_mutate_the_desired_state() -> None:
    spec = CutlassEnvironmentSpec.model_validate(SEED_ENVIRONMENT)
    with pytest.raises(ValidationError, match="frozen"):
        spec.tier = Tier.PROD  # type: ignore[misc]


# --- tier defaults ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        (Tier.DEV, (256, 7, False, False)),
        (Tier.STAGING, (512, 14, True, False)),
        (Tier.PROD, (1024, 30, True, True)),
    ],
)
def test_each_tier_has_the_seed_defaults(tier: Tier, expected: tuple[int, int, bool, bool]) -> None:
    assert _as_tuple(resolve_settings(tier)) == expected


def test_environment_settings_override_the_tier() -> None:
    environment = TierSettings(lambda_memory_size=384, detailed_monitoring=True)
    assert _as_tuple(resolve_settings(Tier.DEV, environment)) == (384, 7, True, False)


def test_region_settings_override_the_environment_field_by_field() -> None:
    environment = TierSettings(lambda_memory_size=2048, log_retention_days=60)
    region = TierSettings(log_retention_days=90, enhanced_security=False)
    assert _as_tuple(resolve_settings(Tier.PROD, environment, region)) == (2048, 90, True, False)


def test_unset_and_missing_layers_keep_what_came_before() -> None:
    environment = TierSettings(lambda_memory_size=768)
    assert _as_tuple(resolve_settings(Tier.STAGING, environment, None, TierSettings())) == (768, 14, True, False)


def test_settings_from_a_manifest_resolve_through_the_aliases() -> None:
    spec = CutlassEnvironmentSpec.model_validate(
        {**SEED_ENVIRONMENT, "tier": "staging", "settings": {"logRetentionDays": 30, "detailedMonitoring": False}}
    )
    assert _as_tuple(resolve_settings(spec.tier, spec.settings)) == (512, 30, False, False)


def _as_tuple(settings: ResolvedSettings) -> tuple[int, int, bool, bool]:
    return (
        settings.lambda_memory_size,
        settings.log_retention_days,
        settings.detailed_monitoring,
        settings.enhanced_security,
    )
