"""The region's artifact bucket, where the compute layer keeps the functions' deployment packages.

Lambda takes a package from S3 only in its own region, so each region has its own bucket,
`cutlass-tech-artifacts-<account>-<aws region>` (bucket names are global to all of AWS: the account
id keeps ours apart). Versioned, so a package the compute layer replaced stays restorable until the
lifecycle rule expires it; encrypted; never public; reachable over TLS only.
"""

from __future__ import annotations

from typing import Any

NONCURRENT_VERSION_DAYS = 30


def bucket_properties(account_id: str, aws_region: str) -> dict[str, Any]:
    bucket = artifact_bucket_name(account_id, aws_region)
    return {
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
