"""The account's bootstrap, the operator's analogue of the seed's state bucket and lock table:
the artifact bucket for Lambda packages and the lease table that keeps two operators from
changing one workspace at once. Created once per environment in its primary region."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cutlass_operator.aws.lease import LEASE_TABLE
from cutlass_operator.engine.resource import Desired, Observed, ResourceKind
from cutlass_operator.layers.base import EnvironmentInputs

LAYER = "bootstrap"
BUCKET = f"{LAYER}/artifacts"
LEASES = f"{LAYER}/leases"
NONCURRENT_VERSION_DAYS = 30


def artifact_bucket_name(account_id: str, region: str) -> str:
    return f"cutlass-tech-artifacts-{account_id}-{region}"


def tls_only_policy(bucket: str) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyPlainHttp",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


class BootstrapLayer:
    name = LAYER
    condition = "BootstrapReady"
    holds_data = True

    def kinds(self) -> Sequence[ResourceKind]:
        from cutlass_operator.resources.dynamodb import TableKind
        from cutlass_operator.resources.s3 import BucketKind

        return [BucketKind(), TableKind(LEASE_TABLE, key_prefix=f"{LAYER}/")]

    def desired(self, inputs: EnvironmentInputs) -> list[Desired]:
        ws = inputs.workspace
        bucket = artifact_bucket_name(ws.account_id, inputs.environment.primary_region)
        bucket_properties = {
            "bucketName": bucket,
            "versioning": True,
            "encryption": {"sseAlgorithm": "aws:kms", "kmsKeyId": None, "bucketKeyEnabled": True},
            "publicAccessBlock": {
                "blockPublicAcls": True,
                "ignorePublicAcls": True,
                "blockPublicPolicy": True,
                "restrictPublicBuckets": True,
            },
            "policy": tls_only_policy(bucket),
            "noncurrentVersionExpirationDays": NONCURRENT_VERSION_DAYS,
        }
        lease_properties = {
            "tableName": LEASE_TABLE,
            "keySchema": [{"attributeName": "workspace", "keyType": "HASH"}],
            "attributeDefinitions": [{"attributeName": "workspace", "attributeType": "S"}],
            "billingMode": "PAY_PER_REQUEST",
            "globalSecondaryIndexes": [],
            "streamViewType": None,
            "kmsKeyArn": None,
            "pointInTimeRecovery": False,
            "ttlAttribute": "expiresAt",
            "deletionProtection": False,
            "replicas": [],
            "pruneReplicas": True,
        }
        return [
            Desired(BUCKET, "s3.bucket", bucket, bucket_properties, ws.tags(LAYER, BUCKET, bucket)),
            Desired(
                LEASES,
                "dynamodb.table",
                LEASE_TABLE,
                lease_properties,
                ws.tags(LAYER, LEASES, LEASE_TABLE),
                retain=False,  # the operator's bookkeeping, not user data: never left behind
            ),
        ]

    def outputs(self, observed: Mapping[str, Observed]) -> dict[str, Any]:
        bucket, leases = observed.get(BUCKET), observed.get(LEASES)
        return {
            "artifactBucket": bucket.outputs.get("name") if bucket else None,
            "leaseTable": leases.outputs.get("name") if leases else None,
        }
