"""The regional half of the seed's 100-data-layer: the region's customer-managed KMS key, and
the region's artifact bucket (see layers/artifacts.py), which holds the functions' packages.

The key encrypts the region's replica of every global table, its queues, log groups and Lambda
environments. Its policy gives the account's root full control (so IAM policies decide who
administers it, and the key can never become unmanageable), the operator's role administration,
the application's roles (under the region's role path) use, and CloudWatch Logs use for this
region's log groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cutlass_operator.engine.resource import Desired, Observed, Scope
from cutlass_operator.layers.artifacts import bucket_props
from cutlass_operator.layers.base import RegionInputs
from cutlass_operator.props.kms import KmsKeyProps
from cutlass_operator.props.s3 import BucketProps

LAYER = "data"
KEY = f"{LAYER}/key"
BUCKET = f"{LAYER}/artifacts"

USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
ADMIN_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]


def key_alias(environment: str, region: str) -> str:
    return f"alias/cutlass-tech-{environment}-{region}"


def application_role_path(environment: str, region: str) -> str:
    """Roles of the application's functions live under this IAM path; the key policy trusts it."""
    return f"/cutlass-tech/{environment}-{region}/"


def key_policy(inputs: RegionInputs) -> dict[str, Any]:
    ws = inputs.workspace
    account, region = ws.account_id, inputs.region.aws_region
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountRootControlsTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "ApplicationRolesUseTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": USE_ACTIONS,
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "aws:PrincipalArn": f"arn:aws:iam::{account}:role"
                    f"{application_role_path(ws.environment, ws.region)}*"
                }
            },
        },
        {
            "Sid": "CloudWatchLogsUsesTheKey",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": USE_ACTIONS,
            "Resource": "*",
            "Condition": {
                "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account}:log-group:*"}
            },
        },
    ]
    operator_role = inputs.environment.credentials.role_arn
    if operator_role:
        statements.insert(
            1,
            {
                "Sid": "OperatorAdministersTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": operator_role},
                "Action": ADMIN_ACTIONS,
                "Resource": "*",
            },
        )
    return {"Version": "2012-10-17", "Statement": statements}


class DataLayer:
    name = LAYER
    condition = "DataReady"
    holds_data = True

    def kinds(self, inputs: RegionInputs) -> Sequence[Scope]:
        return [Scope(KmsKeyProps), Scope(BucketProps)]

    def desired(self, inputs: RegionInputs) -> list[Desired[Any]]:
        ws = inputs.workspace
        name = ws.resource_name("key")
        key = KmsKeyProps(
            description=f"Cutlass data key for {ws.name}: tables, queues, logs and functions",
            alias=key_alias(ws.environment, ws.region),
            enable_key_rotation=True,
            policy=key_policy(inputs),
            key_spec="SYMMETRIC_DEFAULT",
            key_usage="ENCRYPT_DECRYPT",
        )
        bucket = bucket_props(ws.account_id, inputs.region.aws_region)
        bucket_name = bucket.bucket_name
        return [
            Desired(KEY, key, name, ws.tags(LAYER, KEY, name)),
            Desired(BUCKET, bucket, bucket_name, ws.tags(LAYER, BUCKET, bucket_name)),
        ]

    def outputs(self, observed: Mapping[str, Observed]) -> dict[str, Any]:
        key, bucket = observed.get(KEY), observed.get(BUCKET)
        outputs: dict[str, Any] = {}
        if key is not None:
            outputs |= {"kmsKeyArn": key.outputs.get("arn"), "kmsKeyAlias": key.outputs.get("alias")}
        if bucket is not None:
            outputs["artifactBucket"] = bucket.outputs.get("name")
        return outputs
