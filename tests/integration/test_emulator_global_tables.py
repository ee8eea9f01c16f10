"""The emulator's DynamoDB global tables (version 2019.11.21), over HTTP as the product sees them.

moto leaves `ReplicaUpdates` a no-op; `emulator/dynamodb_replicas.py` fills the gap. These tests hold
that extension to the behaviour measured against AWS, error texts included.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cutlass_operator.api.environment import Credentials, CredentialsSource
from cutlass_operator.aws.session import AwsClients, environment_session
from cutlass_operator.emulator.dynamodb_replicas import SETTINGS, install_global_tables

pytestmark = pytest.mark.integration

LONDON = "eu-west-2"
SYDNEY = "ap-southeast-2"
VIRGINIA = "us-east-1"
STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


@pytest.fixture
def london(clients: AwsClients) -> Any:
    return clients.client("dynamodb")


@pytest.fixture
def sydney(clients: AwsClients) -> Any:
    return clients.client("dynamodb", region=SYDNEY)


@pytest.fixture
def name() -> str:
    return f"credits-{uuid.uuid4().hex[:8]}"


def create_table(ddb: Any, name: str, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "org", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by-org",
                "KeySchema": [{"AttributeName": "org", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": STREAM,
        **extra,
    }
    return dict(ddb.create_table(**{k: v for k, v in params.items() if v is not None})["TableDescription"])


def add_replica(ddb: Any, name: str, region: str, **create: Any) -> dict[str, Any]:
    update = {"Create": {"RegionName": region, **create}}
    return dict(ddb.update_table(TableName=name, ReplicaUpdates=[update])["TableDescription"])


def remove_replica(ddb: Any, name: str, region: str) -> None:
    ddb.update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": region}}])


def describe(ddb: Any, name: str) -> dict[str, Any]:
    return dict(ddb.describe_table(TableName=name)["Table"])


def rejected(call: Any, code: str, message: str) -> None:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == code
    assert message in caught.value.response["Error"]["Message"]


@pytest.fixture
def global_table(london: Any, name: str) -> str:
    create_table(london, name)
    add_replica(london, name, SYDNEY)
    return name


# --- creating a replica ---------------------------------------------------------------------------


def test_a_replica_shows_active_in_both_regions(london: Any, sydney: Any, global_table: str) -> None:
    home, replica = describe(london, global_table), describe(sydney, global_table)

    assert home["Replicas"] == [{"RegionName": SYDNEY, "ReplicaStatus": "ACTIVE"}]
    assert replica["Replicas"] == [{"RegionName": LONDON, "ReplicaStatus": "ACTIVE"}]
    assert home["GlobalTableVersion"] == replica["GlobalTableVersion"] == "2019.11.21"
    assert replica["TableArn"].startswith(f"arn:aws:dynamodb:{SYDNEY}:")
    assert global_table in sydney.list_tables()["TableNames"]


def test_a_replica_copies_the_schema_indexes_billing_and_stream(london: Any, sydney: Any, global_table: str) -> None:
    home, replica = describe(london, global_table), describe(sydney, global_table)

    for key in ("KeySchema", "AttributeDefinitions", "BillingModeSummary", "StreamSpecification"):
        assert replica[key] == home[key], key
    assert [i["IndexName"] for i in replica["GlobalSecondaryIndexes"]] == ["by-org"]
    assert replica["LatestStreamArn"] != home["LatestStreamArn"]  # each region has its own stream


def test_the_update_response_shows_the_table_as_the_call_found_it(london: Any, name: str) -> None:
    create_table(london, name)

    response = add_replica(london, name, SYDNEY)

    assert response["TableStatus"] == "UPDATING"
    assert response["Replicas"] == []  # AWS lists the new replica only on a later DescribeTable
    assert response["GlobalTableVersion"] == "2019.11.21"


def test_a_table_without_a_stream_gets_new_and_old_images(london: Any, sydney: Any, name: str) -> None:
    # AWS has no stream prerequisite for 2019.11.21: it enables the stream itself.
    create_table(london, name, StreamSpecification={"StreamEnabled": False})

    add_replica(london, name, SYDNEY)

    assert describe(london, name)["StreamSpecification"] == STREAM
    assert describe(sydney, name)["StreamSpecification"] == STREAM


def test_a_stream_of_another_view_type_is_kept(london: Any, sydney: Any, name: str) -> None:
    keys_only = {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    create_table(london, name, StreamSpecification=keys_only)

    add_replica(london, name, SYDNEY)

    assert describe(london, name)["StreamSpecification"] == keys_only
    assert describe(sydney, name)["StreamSpecification"] == keys_only


def test_a_replica_can_read_creating_for_its_first_describe(london: Any, name: str) -> None:
    create_table(london, name)
    SETTINGS.replica_creating_describes = 1
    try:
        add_replica(london, name, SYDNEY)
    finally:
        SETTINGS.replica_creating_describes = 0

    assert describe(london, name)["Replicas"][0]["ReplicaStatus"] == "CREATING"
    assert describe(london, name)["Replicas"][0]["ReplicaStatus"] == "ACTIVE"


def test_a_third_region_can_be_added_from_any_member(london: Any, sydney: Any, clients: AwsClients) -> None:
    name = f"credits-{uuid.uuid4().hex[:8]}"
    create_table(london, name)
    add_replica(london, name, SYDNEY)

    add_replica(sydney, name, VIRGINIA)

    virginia = clients.client("dynamodb", region=VIRGINIA)
    assert [r["RegionName"] for r in describe(london, name)["Replicas"]] == [SYDNEY, VIRGINIA]
    assert [r["RegionName"] for r in describe(virginia, name)["Replicas"]] == [LONDON, SYDNEY]


# --- items are shared -----------------------------------------------------------------------------


def test_an_item_written_in_london_reads_back_in_sydney_and_back(london: Any, sydney: Any, global_table: str) -> None:
    key = {"pk": {"S": "org#1"}, "sk": {"S": "credits"}}
    london.put_item(TableName=global_table, Item={**key, "org": {"S": "1"}, "balance": {"N": "100"}})

    assert sydney.get_item(TableName=global_table, Key=key, ConsistentRead=True)["Item"]["balance"] == {"N": "100"}

    sydney.update_item(
        TableName=global_table,
        Key=key,
        UpdateExpression="SET balance = balance - :n",
        ExpressionAttributeValues={":n": {"N": "30"}},
    )
    assert london.get_item(TableName=global_table, Key=key)["Item"]["balance"] == {"N": "70"}
    assert (
        sydney.query(
            TableName=global_table,
            IndexName="by-org",
            KeyConditionExpression="org = :o",
            ExpressionAttributeValues={":o": {"S": "1"}},
        )["Count"]
        == 1
    )

    london.delete_item(TableName=global_table, Key=key)
    assert "Item" not in sydney.get_item(TableName=global_table, Key=key)


def test_a_transaction_in_one_region_is_visible_in_the_other(london: Any, sydney: Any, global_table: str) -> None:
    user = {"pk": {"S": "user#1"}, "sk": {"S": "credits"}}
    org = {"pk": {"S": "org#1"}, "sk": {"S": "credits"}}
    sydney.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": global_table, "Item": {**user, "balance": {"N": "5"}}}},
            {"Put": {"TableName": global_table, "Item": {**org, "balance": {"N": "50"}}}},
        ]
    )

    assert london.get_item(TableName=global_table, Key=user)["Item"]["balance"] == {"N": "5"}
    assert london.get_item(TableName=global_table, Key=org)["Item"]["balance"] == {"N": "50"}


def test_a_cancelled_transaction_leaves_both_regions_unchanged_and_still_shared(
    london: Any, sydney: Any, global_table: str
) -> None:
    user = {"pk": {"S": "user#1"}, "sk": {"S": "credits"}}
    org = {"pk": {"S": "org#1"}, "sk": {"S": "credits"}}
    london.put_item(TableName=global_table, Item={**user, "balance": {"N": "5"}})
    debit = {
        "UpdateExpression": "SET balance = balance - :n",
        "ConditionExpression": "balance >= :n",
        "ExpressionAttributeValues": {":n": {"N": "10"}},
    }

    with pytest.raises(ClientError, match="TransactionCanceledException"):
        london.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": global_table, "Item": {**org, "balance": {"N": "50"}}}},
                {"Update": {"TableName": global_table, "Key": user, **debit}},
            ]
        )

    for region in (london, sydney):
        assert "Item" not in region.get_item(TableName=global_table, Key=org)
        assert region.get_item(TableName=global_table, Key=user)["Item"]["balance"] == {"N": "5"}
    london.put_item(TableName=global_table, Item={**org, "balance": {"N": "1"}})
    assert sydney.get_item(TableName=global_table, Key=org)["Item"]["balance"] == {"N": "1"}


# --- encryption -----------------------------------------------------------------------------------


@pytest.fixture
def keys(clients: AwsClients) -> dict[str, str]:
    """A customer managed key in each region, by region."""
    return {
        region: clients.client("kms", region=region).create_key(Description="cutlass")["KeyMetadata"]["Arn"]
        for region in (LONDON, SYDNEY)
    }


def cmk(arn: str) -> dict[str, Any]:
    return {"SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": arn}}


def test_a_replica_reports_its_own_regions_key(london: Any, sydney: Any, name: str, keys: dict[str, str]) -> None:
    create_table(london, name, **cmk(keys[LONDON]))

    add_replica(london, name, SYDNEY, KMSMasterKeyId=keys[SYDNEY].split("/")[-1])  # a bare id resolves in Sydney

    assert describe(london, name)["Replicas"][0]["KMSMasterKeyId"] == keys[SYDNEY]
    assert describe(sydney, name)["Replicas"][0]["KMSMasterKeyId"] == keys[LONDON]
    assert describe(sydney, name)["SSEDescription"]["KMSMasterKeyArn"] == keys[SYDNEY]


def test_a_customer_key_table_needs_a_key_in_the_replicas_region(london: Any, name: str, keys: dict[str, str]) -> None:
    create_table(london, name, **cmk(keys[LONDON]))

    rejected(lambda: add_replica(london, name, SYDNEY), "ValidationException", "must be specified for each replica")
    rejected(
        lambda: add_replica(london, name, SYDNEY, KMSMasterKeyId=keys[LONDON]),
        "ValidationException",
        f"KMS validation error for region {SYDNEY}",
    )
    rejected(
        lambda: add_replica(london, name, SYDNEY, KMSMasterKeyId="alias/aws/dynamodb"),
        "ValidationException",
        "All replica keys must either be Customer Managed CMK or AWS Managed CMK",
    )


def test_a_replicas_key_cannot_be_changed_by_an_update(london: Any, name: str, keys: dict[str, str]) -> None:
    create_table(london, name, **cmk(keys[LONDON]))
    add_replica(london, name, SYDNEY, KMSMasterKeyId=keys[SYDNEY])

    update = {"Update": {"RegionName": SYDNEY, "KMSMasterKeyId": keys[SYDNEY]}}
    rejected(
        lambda: london.update_table(TableName=name, ReplicaUpdates=[update]),
        "ValidationException",
        "KMSMasterKeyId must be specified for each replica",
    )


def test_a_table_with_the_aws_owned_key_takes_no_replica_key(london: Any, name: str, keys: dict[str, str]) -> None:
    create_table(london, name)

    rejected(
        lambda: add_replica(london, name, SYDNEY, KMSMasterKeyId=keys[SYDNEY]),
        "ValidationException",
        "KMSMasterKeyId must be specified for each replica",
    )


# --- removing a replica ---------------------------------------------------------------------------


def test_removing_a_replica_deletes_it_and_makes_the_table_regional(
    london: Any, sydney: Any, global_table: str
) -> None:
    key = {"pk": {"S": "org#1"}, "sk": {"S": "credits"}}
    london.put_item(TableName=global_table, Item=key)

    remove_replica(london, global_table, SYDNEY)

    rejected(lambda: describe(sydney, global_table), "ResourceNotFoundException", "")
    home = describe(london, global_table)
    assert "Replicas" not in home
    assert "GlobalTableVersion" not in home
    assert home["StreamSpecification"] == STREAM  # AWS leaves the stream on
    assert "Item" in london.get_item(TableName=global_table, Key=key)
    london.update_table(TableName=global_table, StreamSpecification={"StreamEnabled": False})  # allowed again


def test_a_removed_replica_can_be_added_again_with_the_items(london: Any, sydney: Any, global_table: str) -> None:
    key = {"pk": {"S": "org#1"}, "sk": {"S": "credits"}}
    remove_replica(london, global_table, SYDNEY)
    london.put_item(TableName=global_table, Item=key)

    add_replica(london, global_table, SYDNEY)

    assert "Item" in sydney.get_item(TableName=global_table, Key=key)


def test_deleting_the_replica_table_in_its_region_leaves_the_global_table(
    london: Any, sydney: Any, global_table: str
) -> None:
    sydney.delete_table(TableName=global_table)

    assert "Replicas" not in describe(london, global_table)


def test_the_region_that_added_a_replica_is_deleted_last(london: Any, sydney: Any, global_table: str) -> None:
    source_rule = "acted as a source region for new replica(s)"
    rejected(lambda: london.delete_table(TableName=global_table), "ValidationException", source_rule)
    rejected(lambda: remove_replica(sydney, global_table, LONDON), "ValidationException", source_rule)

    remove_replica(london, global_table, SYDNEY)
    london.delete_table(TableName=global_table)


def test_a_protected_replica_is_not_removed(london: Any, sydney: Any, global_table: str) -> None:
    sydney.update_table(TableName=global_table, DeletionProtectionEnabled=True)

    protected = f"Cannot delete table {global_table} in region {SYDNEY} because it has deletion protection enabled"
    rejected(lambda: remove_replica(london, global_table, SYDNEY), "ValidationException", protected)
    rejected(lambda: sydney.delete_table(TableName=global_table), "ValidationException", protected)
    assert describe(london, global_table)["DeletionProtectionEnabled"] is False  # protection is regional


# --- AWS's rules ----------------------------------------------------------------------------------


def test_replica_updates_are_refused_as_aws_refuses_them(
    london: Any, sydney: Any, global_table: str, name: str
) -> None:
    def update(*actions: dict[str, Any], **extra: Any) -> Any:
        return lambda: london.update_table(TableName=global_table, ReplicaUpdates=list(actions), **extra)

    invalid = "ValidationException"
    rejected(update({"Create": {"RegionName": LONDON}}), invalid, "Cannot add or delete the local region")
    rejected(update({"Delete": {"RegionName": LONDON}}), invalid, "Cannot add or delete the local region")
    rejected(
        update({"Create": {"RegionName": SYDNEY}}), invalid, "because one or more replicas already existed as tables"
    )
    rejected(update({"Delete": {"RegionName": VIRGINIA}}), invalid, f"without these replicas: [{VIRGINIA}]")
    rejected(update({"Update": {"RegionName": SYDNEY}}), invalid, "There are no actions specified")
    rejected(update({"Create": {"RegionName": "eu-fake-1"}}), invalid, "Region eu-fake-1 is not supported")
    rejected(
        update({"Create": {"RegionName": VIRGINIA}}, DeletionProtectionEnabled=True),
        invalid,
        "Replica modification must be the only operation in the request",
    )
    rejected(
        update({"Create": {"RegionName": VIRGINIA}}, {"Create": {"RegionName": "eu-west-1"}}),
        invalid,
        "more than one create or delete replica actions not allowed",
    )


def test_a_region_holding_a_table_of_that_name_cannot_take_a_replica(london: Any, sydney: Any, name: str) -> None:
    create_table(london, name)
    create_table(sydney, name)

    rejected(lambda: add_replica(london, name, SYDNEY), "ValidationException", "already existed as tables")


def test_the_stream_of_a_global_table_cannot_be_disabled(london: Any, sydney: Any, global_table: str) -> None:
    for region in (london, sydney):
        rejected(
            lambda r=region: r.update_table(TableName=global_table, StreamSpecification={"StreamEnabled": False}),
            "ValidationException",
            "Disabling Stream is not allowed for a Global Table replica",
        )


def test_a_provisioned_table_needs_write_autoscaling(london: Any, clients: AwsClients, name: str) -> None:
    create_table(
        london,
        name,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        GlobalSecondaryIndexes=None,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
    )
    rejected(lambda: add_replica(london, name, SYDNEY), "ValidationException", "Pay-Per-Request or AutoScaled")

    scaling = clients.client("application-autoscaling")
    target = {
        "ServiceNamespace": "dynamodb",
        "ResourceId": f"table/{name}",
        "ScalableDimension": "dynamodb:table:WriteCapacityUnits",
    }
    scaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=10)
    scaling.put_scaling_policy(
        **target,
        PolicyName="writes",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBWriteCapacityUtilization"},
        },
    )
    add_replica(london, name, SYDNEY)
    assert describe(clients.client("dynamodb", region=SYDNEY), name)["ProvisionedThroughput"]["WriteCapacityUnits"] == 1


# --- what stays regional and what is group-wide ---------------------------------------------------


def test_tags_stay_per_region(london: Any, sydney: Any, global_table: str) -> None:
    home_arn, replica_arn = describe(london, global_table)["TableArn"], describe(sydney, global_table)["TableArn"]

    london.tag_resource(ResourceArn=home_arn, Tags=[{"Key": "Region", "Value": "london"}])
    sydney.tag_resource(ResourceArn=replica_arn, Tags=[{"Key": "Region", "Value": "sydney"}])

    assert london.list_tags_of_resource(ResourceArn=home_arn)["Tags"] == [{"Key": "Region", "Value": "london"}]
    assert sydney.list_tags_of_resource(ResourceArn=replica_arn)["Tags"] == [{"Key": "Region", "Value": "sydney"}]


def test_ttl_and_new_indexes_reach_every_region(london: Any, sydney: Any, global_table: str) -> None:
    london.update_time_to_live(
        TableName=global_table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
    )
    london.update_table(
        TableName=global_table,
        AttributeDefinitions=[{"AttributeName": "user", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "by-user",
                    "KeySchema": [{"AttributeName": "user", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            }
        ],
    )

    assert (
        sydney.describe_time_to_live(TableName=global_table)["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    )
    assert "by-user" in [i["IndexName"] for i in describe(sydney, global_table)["GlobalSecondaryIndexes"]]


@pytest.fixture
def other_account(account_id: str) -> Iterator[AwsClients]:
    """A second fresh account (moto isolates accounts by the assumed role's account)."""
    creds = Credentials(source=CredentialsSource.ASSUME_ROLE, role_arn=f"arn:aws:iam::9{account_id[1:]}:role/x")
    yield AwsClients(environment_session(creds, None, LONDON), LONDON)


def test_another_account_is_unaffected(global_table: str, other_account: AwsClients) -> None:
    their_london, their_sydney = other_account.client("dynamodb"), other_account.client("dynamodb", region=SYDNEY)
    assert global_table not in their_sydney.list_tables()["TableNames"]

    create_table(their_london, global_table)
    create_table(their_sydney, global_table)  # their own regional table, no replica of ours

    assert "Replicas" not in describe(their_london, global_table)
    assert "Replicas" not in describe(their_sydney, global_table)


def test_installing_twice_changes_nothing(london: Any, sydney: Any, global_table: str) -> None:
    install_global_tables()

    assert len(describe(sydney, global_table)["Replicas"]) == 1
