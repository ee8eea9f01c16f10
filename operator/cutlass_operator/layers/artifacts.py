"""The region's artifact bucket, where the compute layer keeps the functions' deployment packages.

Lambda takes a package from S3 only in its own region, so each region has its own bucket,
`cutlass-tech-artifacts-<account>-<aws region>` (bucket names are global to all of AWS: the account
id keeps ours apart). Versioned, so a package the compute layer replaced stays restorable until the
lifecycle rule expires it; encrypted; never public; reachable over TLS only.
"""

from __future__ import annotations

from typing import Any

from cutlass_operator.props.s3 import BucketEncryption, BucketProps, PublicAccessBlock

NONCURRENT_VERSION_DAYS = 30


def bucket_props(account_id: str, aws_region: str) -> BucketProps:
    bucket = artifact_bucket_name(account_id, aws_region)
    return BucketProps(
        bucket_name=bucket,
        versioning=True,
        encryption=BucketEncryption(sse_algorithm="aws:kms", kms_key_id=None, bucket_key_enabled=True),
        public_access_block=PublicAccessBlock(
            block_public_acls=True, ignore_public_acls=True, block_public_policy=True, restrict_public_buckets=True
        ),
        policy=tls_only_policy(bucket),
        noncurrent_version_expiration_days=NONCURRENT_VERSION_DAYS,
    )


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
