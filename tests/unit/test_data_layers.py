"""The data layers' desired state, pure functions of the specs: the regional KMS key (data), the
environment's global tables (tables), the account bootstrap (lease table) and each region's artifact
bucket (data)."""

from __future__ import annotations

from typing import Any

import pytest

from cutlass_operator.api.environment import CutlassEnvironmentSpec, resolve_settings
from cutlass_operator.api.region import CutlassRegionSpec
from cutlass_operator.engine.identity import COMPONENT, GLOBAL, KEY, LEASE_TABLE, MANAGED_BY, WORKSPACE, Workspace
from cutlass_operator.engine.resource import Desired, Observed
from cutlass_operator.layers.artifacts import NONCURRENT_VERSION_DAYS, artifact_bucket_name
from cutlass_operator.layers.base import EnvironmentInputs, RegionInputs
from cutlass_operator.layers.bootstrap import BootstrapLayer
from cutlass_operator.layers.data import USE_ACTIONS, DataLayer, application_role_path, key_alias
from cutlass_operator.layers.tables import STREAM, TablesLayer, table_names
from cutlass_operator.workflows.layers import kinds_of

ACCOUNT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/cutlass-operator"
LONDON_KEY = f"arn:aws:kms:eu-west-2:{ACCOUNT}:key/london"
SYDNEY_KEY = f"arn:aws:kms:ap-southeast-2:{ACCOUNT}:key/sydney"
FRANKFURT_KEY = f"arn:aws:kms:eu-central-1:{ACCOUNT}:key/frankfurt"
ASSUME_ROLE = {"source": "AssumeRole", "roleArn": ROLE}


def environment_spec(
    tier: str = "dev", credentials: dict[str, Any] | None = None, **spec: Any
) -> CutlassEnvironmentSpec:
    return CutlassEnvironmentSpec.model_validate(
        {
            "accountId": ACCOUNT,
            "tier": tier,
            "credentials": credentials or ASSUME_ROLE,
            "notifications": {"senderEmail": "alerts@example.com"},
            **spec,
        }
    )


def region_inputs(
    name: str = "london", aws_region: str = "eu-west-2", environment: CutlassEnvironmentSpec | None = None
) -> RegionInputs:
    env = environment or environment_spec()
    region = CutlassRegionSpec.model_validate(
        {
            "environmentRef": {"name": "dev"},
            "region": name,
            "awsRegion": aws_region,
            "network": {
                "vpcCidr": "10.0.0.0/16",
                "publicSubnetCidrs": ["10.0.1.0/24"],
                "privateSubnetCidrs": ["10.0.3.0/24"],
            },
        }
    )
    workspace = Workspace("dev", name, aws_region, ACCOUNT, extra_tags={"CostCenter": "reporting"})
    return RegionInputs(workspace, env, region, resolve_settings(env.tier, env.settings))


def environment_inputs(
    environment: CutlassEnvironmentSpec | None = None, keys: dict[str, str | None] | None = None
) -> EnvironmentInputs:
    env = environment or environment_spec()
    workspace = Workspace("dev", GLOBAL, env.primary_region, ACCOUNT, extra_tags=dict(env.tags))
    region_keys = keys if keys is not None else {"eu-west-2": LONDON_KEY, "ap-southeast-2": SYDNEY_KEY}
    return EnvironmentInputs(workspace, env, region_keys)


def by_key(entries: list[Desired[Any]]) -> dict[str, Desired[Any]]:
    return {d.key: d for d in entries}


def statements(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy["Statement"]}


# -- the regional key --------------------------------------------------------------------------------


class TestDataLayer:
    def test_one_symmetric_key_with_rotation_and_the_regions_alias(self) -> None:
        key = by_key(DataLayer().desired(region_inputs("sydney", "ap-southeast-2")))["data/key"]

        assert (key.key, key.kind, key.name) == ("data/key", "kms.key", "cutlass-tech-key-dev-sydney")
        props = key.properties
        assert props["alias"] == "alias/cutlass-tech-dev-sydney" == key_alias("dev", "sydney")
        assert props["enableKeyRotation"] is True
        assert (props["keySpec"], props["keyUsage"]) == ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
        assert "dev-sydney" in props["description"]
        assert key.tags[MANAGED_BY] == "cutlass-operator"
        assert (key.tags[WORKSPACE], key.tags[KEY], key.tags[COMPONENT]) == ("dev-sydney", "data/key", "data")
        assert (key.tags["Name"], key.tags["CostCenter"]) == ("cutlass-tech-key-dev-sydney", "reporting")

    def test_the_account_root_controls_the_key(self) -> None:
        key = by_key(DataLayer().desired(region_inputs()))["data/key"]
        root = statements(key.properties["policy"])["AccountRootControlsTheKey"]

        assert root["Effect"] == "Allow"
        assert root["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
        assert (root["Action"], root["Resource"]) == ("kms:*", "*")
        assert key.properties["policy"]["Version"] == "2012-10-17"

    def test_the_operator_role_administers_the_key_when_the_credentials_name_one(self) -> None:
        key = by_key(DataLayer().desired(region_inputs()))["data/key"]
        policy = key.properties["policy"]
        operator = statements(policy)["OperatorAdministersTheKey"]

        assert operator["Principal"] == {"AWS": ROLE}
        assert {"kms:ScheduleKeyDeletion", "kms:Put*", "kms:TagResource", "kms:Describe*"} <= set(operator["Action"])
        assert not {"kms:Encrypt", "kms:Decrypt"} & set(operator["Action"])  # administers, does not use
        assert [s["Sid"] for s in policy["Statement"]][:2] == ["AccountRootControlsTheKey", "OperatorAdministersTheKey"]

    def test_without_a_role_no_operator_statement(self) -> None:
        env = environment_spec(credentials={"source": "Default"})
        key = by_key(DataLayer().desired(region_inputs(environment=env)))["data/key"]

        assert sorted(statements(key.properties["policy"])) == [
            "AccountRootControlsTheKey",
            "ApplicationRolesUseTheKey",
            "CloudWatchLogsUsesTheKey",
        ]

    def test_the_applications_roles_use_the_key_by_their_path(self) -> None:
        key = by_key(DataLayer().desired(region_inputs()))["data/key"]
        use = statements(key.properties["policy"])["ApplicationRolesUseTheKey"]

        assert application_role_path("dev", "london") == "/cutlass-tech/dev-london/"
        assert use["Action"] == USE_ACTIONS
        assert use["Condition"] == {
            "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/cutlass-tech/dev-london/*"}
        }
        assert "kms:ScheduleKeyDeletion" not in use["Action"]

    @pytest.mark.parametrize(("name", "aws_region"), [("london", "eu-west-2"), ("sydney", "ap-southeast-2")])
    def test_cloudwatch_logs_of_the_region_use_the_key(self, name: str, aws_region: str) -> None:
        key = by_key(DataLayer().desired(region_inputs(name, aws_region)))["data/key"]
        logs = statements(key.properties["policy"])["CloudWatchLogsUsesTheKey"]

        assert logs["Principal"] == {"Service": f"logs.{aws_region}.amazonaws.com"}
        assert logs["Action"] == USE_ACTIONS
        assert logs["Condition"] == {
            "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{aws_region}:{ACCOUNT}:log-group:*"}
        }

    def test_outputs_are_the_key_arn_and_alias(self) -> None:
        observed = Observed(
            "data/key", "kms.key", "k-1", {}, {}, {"arn": LONDON_KEY, "alias": "alias/cutlass-tech-dev-london"}
        )

        assert DataLayer().outputs({"data/key": observed}) == {
            "kmsKeyArn": LONDON_KEY,
            "kmsKeyAlias": "alias/cutlass-tech-dev-london",
        }
        assert DataLayer().outputs({}) == {}

    def test_the_key_follows_the_deletion_policy(self) -> None:
        assert DataLayer().holds_data is True


# -- the global tables -------------------------------------------------------------------------------


def tables(**options: Any) -> dict[str, Desired[Any]]:
    return by_key(TablesLayer().desired(environment_inputs(**options)))


class TestTablesLayer:
    def test_three_tables_named_after_the_environment(self) -> None:
        entries = tables()

        assert sorted(entries) == ["tables/alerts", "tables/credits", "tables/usage"]
        assert {d.name for d in entries.values()} == set(table_names("dev"))
        assert table_names("dev") == ["cutlass-tech-credits-dev", "cutlass-tech-usage-dev", "cutlass-tech-alerts-dev"]
        for key, entry in entries.items():
            assert entry.kind == "dynamodb.table"
            assert entry.properties["tableName"] == entry.name
            assert (entry.tags[WORKSPACE], entry.tags[KEY], entry.tags[COMPONENT]) == ("dev-global", key, "tables")
            assert entry.tags["Region"] == GLOBAL

    def test_every_table_has_the_pk_sk_key_schema_and_on_demand_billing(self) -> None:
        for entry in tables().values():
            assert entry.properties["keySchema"] == [
                {"attributeName": "pk", "keyType": "HASH"},
                {"attributeName": "sk", "keyType": "RANGE"},
            ]
            assert entry.properties["billingMode"] == "PAY_PER_REQUEST"
            assert entry.properties["pointInTimeRecovery"] is True

    def test_indexes_by_alert_band_on_credits_and_by_user_on_usage(self) -> None:
        indexes = {key: entry.properties["globalSecondaryIndexes"] for key, entry in tables().items()}

        assert indexes == {
            "tables/credits": [
                {
                    "indexName": "by-alert-band",
                    "keySchema": [
                        {"attributeName": "alertBand", "keyType": "HASH"},
                        {"attributeName": "pk", "keyType": "RANGE"},
                    ],
                    "projectionType": "ALL",
                }
            ],
            "tables/usage": [
                {
                    "indexName": "by-user",
                    "keySchema": [
                        {"attributeName": "userKey", "keyType": "HASH"},
                        {"attributeName": "sk", "keyType": "RANGE"},
                    ],
                    "projectionType": "ALL",
                }
            ],
            "tables/alerts": [],
        }

    def test_attribute_definitions_name_exactly_the_key_attributes(self) -> None:
        """DynamoDB keeps (and the kind requires) only the attributes that keys use, all strings."""
        for entry in tables().values():
            props = entry.properties
            used = {k["attributeName"] for k in props["keySchema"]}
            for index in props["globalSecondaryIndexes"]:
                used |= {k["attributeName"] for k in index["keySchema"]}
            defined = props["attributeDefinitions"]
            assert sorted(a["attributeName"] for a in defined) == sorted(used)
            assert {a["attributeType"] for a in defined} == {"S"}

    def test_ttl_on_usage_and_alerts_only(self) -> None:
        ttl = {key: entry.properties["ttlAttribute"] for key, entry in tables().items()}

        assert ttl == {"tables/credits": None, "tables/usage": "expiresAt", "tables/alerts": "expiresAt"}

    def test_streams_with_new_and_old_images_on_every_table(self) -> None:
        assert STREAM == "NEW_AND_OLD_IMAGES"
        assert {entry.properties["streamViewType"] for entry in tables().values()} == {STREAM}

    def test_encrypted_with_the_primary_regions_key(self) -> None:
        assert {entry.properties["kmsKeyArn"] for entry in tables().values()} == {LONDON_KEY}

        moved = environment_spec(primaryRegion="ap-southeast-2")
        assert {e.properties["kmsKeyArn"] for e in tables(environment=moved).values()} == {SYDNEY_KEY}

    def test_a_replica_in_each_other_region_with_its_own_key(self) -> None:
        keys: dict[str, str | None] = {
            "eu-west-2": LONDON_KEY,
            "ap-southeast-2": SYDNEY_KEY,
            "eu-central-1": FRANKFURT_KEY,
        }

        for entry in tables(keys=keys).values():
            assert entry.properties["replicas"] == [
                {"regionName": "ap-southeast-2", "kmsKeyArn": SYDNEY_KEY},
                {"regionName": "eu-central-1", "kmsKeyArn": FRANKFURT_KEY},
            ]

    def test_replicas_only_for_regions_whose_key_exists(self) -> None:
        keys: dict[str, str | None] = {"eu-west-2": LONDON_KEY, "ap-southeast-2": None, "eu-central-1": FRANKFURT_KEY}

        for entry in tables(keys=keys).values():
            assert entry.properties["replicas"] == [{"regionName": "eu-central-1", "kmsKeyArn": FRANKFURT_KEY}]

    def test_a_single_region_environment_has_no_replicas(self) -> None:
        for entry in tables(keys={"eu-west-2": LONDON_KEY}).values():
            assert entry.properties["replicas"] == []

    @pytest.mark.parametrize(
        ("tier", "policy", "protection", "prune"),
        [
            ("dev", None, None, True),
            ("staging", None, None, True),
            ("prod", None, None, False),
            ("prod", "Delete", None, False),  # prod tables (and so replicas) are protected by default
            ("prod", "Delete", False, True),
            ("dev", "Delete", True, False),
            ("dev", "Retain", None, False),
        ],
    )
    def test_replicas_of_removed_regions_are_pruned_only_under_delete_without_protection(
        self, tier: str, policy: str | None, protection: bool | None, prune: bool
    ) -> None:
        env = environment_spec(tier, deletionPolicy=policy, data={"deletionProtection": protection})

        assert {e.properties["pruneReplicas"] for e in tables(environment=env).values()} == {prune}

    @pytest.mark.parametrize(
        ("tier", "setting", "protected"),
        [
            ("dev", None, False),
            ("staging", None, False),
            ("prod", None, True),
            ("prod", False, False),
            ("dev", True, True),
        ],
    )
    def test_deletion_protection_by_tier_unless_the_spec_says(
        self, tier: str, setting: bool | None, protected: bool
    ) -> None:
        data = {"data": {"deletionProtection": setting}} if setting is not None else {}
        env = environment_spec(tier, **data)

        assert {e.properties["deletionProtection"] for e in tables(environment=env).values()} == {protected}

    def test_point_in_time_recovery_follows_the_spec(self) -> None:
        env = environment_spec(data={"pointInTimeRecovery": False})

        assert {e.properties["pointInTimeRecovery"] for e in tables(environment=env).values()} == {False}

    def test_outputs_list_each_table_with_its_replicas(self) -> None:
        observed = Observed(
            "tables/credits",
            "dynamodb.table",
            "cutlass-tech-credits-dev",
            {},
            {},
            {
                "name": "cutlass-tech-credits-dev",
                "arn": "arn:aws:dynamodb:eu-west-2:111111111111:table/cutlass-tech-credits-dev",
                "streamArn": "arn:stream",
                "replicas": {"ap-southeast-2": "ACTIVE"},
            },
        )
        stranger = Observed("bootstrap/leases", "dynamodb.table", LEASE_TABLE, {}, {}, {"name": LEASE_TABLE})

        assert TablesLayer().outputs({"tables/credits": observed, "bootstrap/leases": stranger}) == {
            "cutlass-tech-credits-dev": {
                "arn": "arn:aws:dynamodb:eu-west-2:111111111111:table/cutlass-tech-credits-dev",
                "streamArn": "arn:stream",
                "replicas": {"ap-southeast-2": "ACTIVE"},
            }
        }

    def test_the_table_kind_owns_only_the_cutlass_tech_family_and_the_layers_keys(self) -> None:
        (kind,) = kinds_of(TablesLayer(), environment_inputs()).values()

        assert kind.name_prefix == "cutlass-tech-"
        assert kind.orphan_scope == "tables/"
        assert TablesLayer().holds_data is True


# -- the account bootstrap and the regions' artifact buckets ----------------------------------------


def bootstrap(environment: CutlassEnvironmentSpec | None = None) -> dict[str, Desired[Any]]:
    return by_key(BootstrapLayer().desired(environment_inputs(environment)))


def artifacts(name: str = "london", aws_region: str = "eu-west-2") -> Desired[Any]:
    return by_key(DataLayer().desired(region_inputs(name, aws_region)))["data/artifacts"]


class TestBootstrapLayer:
    def test_the_lease_table_alone(self) -> None:
        entries = bootstrap()

        assert {k: (d.kind, d.name) for k, d in entries.items()} == {
            "bootstrap/leases": ("dynamodb.table", LEASE_TABLE),
        }
        leases = entries["bootstrap/leases"]
        assert (leases.tags[WORKSPACE], leases.tags[KEY], leases.tags[COMPONENT]) == (
            "dev-global",
            "bootstrap/leases",
            "bootstrap",
        )

    def test_the_lease_table_is_keyed_by_workspace_and_expires_leases(self) -> None:
        props = bootstrap()["bootstrap/leases"].properties

        assert props["tableName"] == LEASE_TABLE == "cutlass-tech-operator-leases"
        assert props["keySchema"] == [{"attributeName": "workspace", "keyType": "HASH"}]
        assert props["attributeDefinitions"] == [{"attributeName": "workspace", "attributeType": "S"}]
        assert props["ttlAttribute"] == "expiresAt"
        assert props["billingMode"] == "PAY_PER_REQUEST"
        assert (props["globalSecondaryIndexes"], props["replicas"], props["streamViewType"]) == ([], [], None)
        assert (props["deletionProtection"], props["kmsKeyArn"]) == (False, None)

    def test_the_leases_are_bookkeeping_and_never_retained(self) -> None:
        assert BootstrapLayer().holds_data is False

    def test_the_bootstrap_does_not_depend_on_any_regions_key(self) -> None:
        """It is made before any region exists (the lease table is what the regions wait for)."""
        without_keys = by_key(BootstrapLayer().desired(environment_inputs(keys={})))

        assert without_keys == bootstrap()

    def test_outputs_name_the_lease_table(self) -> None:
        leases = Observed("bootstrap/leases", "dynamodb.table", LEASE_TABLE, {}, {}, {"name": LEASE_TABLE})

        assert BootstrapLayer().outputs({"bootstrap/leases": leases}) == {"leaseTable": LEASE_TABLE}
        assert BootstrapLayer().outputs({}) == {"leaseTable": None}


class TestArtifactBucket:
    """Lambda takes its code from a bucket in its own region: each region's data layer makes one."""

    def test_each_region_has_its_own_bucket_named_for_the_account_and_region(self) -> None:
        assert artifact_bucket_name("222222222222", "us-east-1") == "cutlass-tech-artifacts-222222222222-us-east-1"
        assert artifacts().name == f"cutlass-tech-artifacts-{ACCOUNT}-eu-west-2"
        assert artifacts("sydney", "ap-southeast-2").properties["bucketName"] == (
            f"cutlass-tech-artifacts-{ACCOUNT}-ap-southeast-2"
        )
        assert (artifacts().kind, artifacts().tags[WORKSPACE], artifacts().tags[COMPONENT]) == (
            "s3.bucket",
            "dev-london",
            "data",
        )

    def test_the_bucket_is_versioned_encrypted_and_never_public(self) -> None:
        props = artifacts().properties

        assert props["versioning"] is True
        assert props["encryption"] == {"sseAlgorithm": "aws:kms", "kmsKeyId": None, "bucketKeyEnabled": True}
        assert props["publicAccessBlock"] == {
            "blockPublicAcls": True,
            "ignorePublicAcls": True,
            "blockPublicPolicy": True,
            "restrictPublicBuckets": True,
        }

    def test_the_bucket_policy_denies_plain_http(self) -> None:
        props = artifacts().properties
        bucket = props["bucketName"]

        (statement,) = props["policy"]["Statement"]
        assert statement == {
            "Sid": "DenyPlainHttp",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }

    def test_old_versions_expire(self) -> None:
        assert NONCURRENT_VERSION_DAYS == 30
        assert artifacts().properties["noncurrentVersionExpirationDays"] == 30

    def test_outputs_name_the_bucket(self) -> None:
        bucket = Observed("data/artifacts", "s3.bucket", "b", {}, {}, {"name": "b"})

        assert DataLayer().outputs({"data/artifacts": bucket}) == {"artifactBucket": "b"}


def test_tier_defaults_of_the_data_settings() -> None:
    assert environment_spec("prod").effective_deletion_policy() == "Retain"
    assert environment_spec("dev").effective_deletion_policy() == "Delete"
    assert environment_spec("prod").effective_deletion_protection() is True
    assert environment_spec("staging").effective_deletion_protection() is False
