"""S3 buckets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from cutlass_operator.engine.resource import Props, Ref, Struct

# A bucket policy as S3 takes it: the kind compares documents by meaning, not by spelling.
PolicyDocument = Mapping[str, object]


@dataclass(frozen=True)
class BucketEncryption(Struct):
    """Default encryption; `kms_key_id` None with `aws:kms` is the AWS managed key `aws/s3`."""

    sse_algorithm: Literal["aws:kms", "AES256"] = "aws:kms"
    kms_key_id: str | Ref | None = None
    bucket_key_enabled: bool = True


@dataclass(frozen=True)
class PublicAccessBlock(Struct):
    block_public_acls: bool = True
    ignore_public_acls: bool = True
    block_public_policy: bool = True
    restrict_public_buckets: bool = True


@dataclass(frozen=True)
class BucketProps(Props):
    """`versioning` False is Suspended (S3 cannot turn it off once on); `policy` None: no bucket
    policy. `noncurrent_version_expiration_days` is the lifecycle rule that expires old versions."""

    kind = "s3.bucket"

    bucket_name: str
    versioning: bool = True
    encryption: BucketEncryption = field(default_factory=BucketEncryption)
    public_access_block: PublicAccessBlock = field(default_factory=PublicAccessBlock)
    policy: PolicyDocument | None = None
    noncurrent_version_expiration_days: int = 30
