"""S3 buckets (`BucketProps`): the account's artifact bucket for Lambda deployment packages.

`bucketName` is immutable; bucket names are one namespace across all of AWS, so the layer's
carries the account id. A bucket without a public access block is observed with all four flags
False; the policy is compared as parsed JSON. `noncurrentVersionExpirationDays` is the lifecycle
rule `cutlass-tech-versions`, which expires noncurrent versions after that many days and aborts
incomplete multipart uploads after 7. Rules with other IDs belong to someone else and are kept.
Observed as None when the rule is missing or not of that shape, so any tampering shows as a diff
and is rewritten.

Outputs: `id` and `name` (the bucket name), `arn`, `region`.

Observe. One GetResources call (Resource Groups Tagging API, `s3:bucket` with the selector tags)
lists the workspace's buckets with their tags, orphans included. Then S3 offers one read per
setting and no batch: GetBucketVersioning, GetBucketEncryption, GetPublicAccessBlock,
GetBucketPolicy and GetBucketLifecycleConfiguration. A no-op resync of the artifact bucket reads
1 + 5 = 6 times. The tagging API is eventually consistent, so a desired name it does not list is
asked directly (GetBucketTagging: one read, only until the bucket is listed), and an orphan it
lists is confirmed the same way before the engine may delete it. Every call but CreateBucket
passes `ExpectedBucketOwner`, so the operator never reads or writes a bucket of another account:
S3 answers 403, which for a desired name is the terminal error `BucketNameTaken`.

Create. CreateBucket carries the identity tags (`CreateBucketConfiguration.Tags`), so on AWS a
crash never leaves an untagged bucket, and `BucketOwnerEnforced` (no ACLs). PutBucketTagging then
writes them again, for endpoints that ignore tags on CreateBucket (S3-compatible stores, moto
5.2.5) and for a bucket adopted after a crash. Then the settings, public access block first, so
the bucket is never public while it is configured: encryption, versioning, policy, lifecycle.

Adoption. A bucket with the desired name that is already ours in S3's eyes (BucketAlreadyOwnedByYou)
but does not carry this workspace's tags is adopted only if it has no `cutlass.tech/` tags at all
and holds no object version: that is what a crash between CreateBucket and PutBucketTagging leaves
behind where CreateBucket ignores tags. A bucket with objects, or tagged `cutlass.tech/retained`,
or by another workspace, is someone's data: create stops with a terminal error saying how to adopt
it deliberately. A name held by another account (BucketAlreadyExists) is `BucketNameTaken`.

Delete removes every object version and delete marker (paginated, 1000 per DeleteObjects), aborts
incomplete multipart uploads, then deletes the bucket. Retain rewrites the tag set without the
identity tags and with `cutlass.tech/retained`, in one call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from cutlass_operator.aws.fanout import at_once
from cutlass_operator.engine.arns import partition
from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.identity import IDENTITY_TAGS, KEY, MANAGED_BY, RETAINED, WORKSPACE
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind
from cutlass_operator.props.s3 import BucketProps
from cutlass_operator.resources.errors import DENIED, aws_errors, error_code, error_message
from cutlass_operator.resources.policies import same_policy
from cutlass_operator.resources.tags import MANAGED_PREFIX, from_aws, key_of, matches, tag_changes, tagged_resources

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.literals import BucketVersioningStatusType
    from mypy_boto3_s3.type_defs import (
        CreateBucketConfigurationTypeDef,
        ErrorTypeDef,
        LifecycleRuleOutputTypeDef,
        LifecycleRuleTypeDef,
        ObjectIdentifierTypeDef,
        ServerSideEncryptionByDefaultTypeDef,
        TagTypeDef,
    )

T = TypeVar("T")

LIFECYCLE_RULE = "cutlass-tech-versions"
ABORT_MULTIPART_DAYS = 7
PUBLIC_ACCESS_FLAGS = {
    "blockPublicAcls": "BlockPublicAcls",
    "ignorePublicAcls": "IgnorePublicAcls",
    "blockPublicPolicy": "BlockPublicPolicy",
    "restrictPublicBuckets": "RestrictPublicBuckets",
}
# S3's codes for "this bucket has no such setting": the absence is the observed value.
NO_TAGS = "NoSuchTagSet"
NO_ENCRYPTION = "ServerSideEncryptionConfigurationNotFoundError"
NO_PUBLIC_ACCESS_BLOCK = "NoSuchPublicAccessBlockConfiguration"
NO_POLICY = "NoSuchBucketPolicy"
NO_LIFECYCLE = "NoSuchLifecycleConfiguration"
NO_BUCKET = "NoSuchBucket"
# Another request is changing the bucket, or objects arrived while it was being emptied.
BUSY = frozenset({"OperationAborted", "BucketNotEmpty"})


class BucketKind(ResourceKind[BucketProps]):
    props = BucketProps
    delete_rank = 30
    immutable = frozenset({"bucketName"})

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[BucketProps]]) -> list[Observed]:
        s3 = _client(ctx)
        names = {d.props.bucket_name: d for d in desired}
        found: list[Observed] = []
        with _s3_errors(f"observe {self.kind} in {ctx.region}"):
            listed = {arn.rsplit(":", 1)[-1]: tags for arn, tags in tagged_resources(ctx, "s3:bucket").items()}
            for name in sorted(set(listed) | set(names)):
                tags: dict[str, str] | None = listed.get(name)
                if tags is None or name not in names:
                    # Not listed yet, or an orphan about to be deleted: ask the bucket itself.
                    tags = self._tags_of_desired(ctx, s3, name) if name in names else _bucket_tags(s3, ctx, name)
                    if tags is None or not matches(tags, ctx.selector):
                        continue
                properties, private = _read_settings(s3, ctx, name)
                properties["bucketName"] = name
                found.append(
                    Observed(key_of(tags, name), self.kind, name, properties, tags, _outputs(ctx, name), private)
                )
        return found

    def create(self, ctx: KindContext, desired: Desired[BucketProps]) -> Observed:
        s3 = _client(ctx)
        name = desired.props.bucket_name
        what = f"create {self.kind} {name}"
        config: CreateBucketConfigurationTypeDef = {"Tags": _s3_tags(desired.tags)}
        if ctx.region != "us-east-1":  # the one region that takes no LocationConstraint
            config["LocationConstraint"] = ctx.region  # type: ignore[typeddict-item]
        with _s3_errors(what):
            try:
                s3.create_bucket(Bucket=name, CreateBucketConfiguration=config, ObjectOwnership="BucketOwnerEnforced")
                existed = ctx.region == "us-east-1"  # where CreateBucket also succeeds for a bucket we own
            except ClientError as exc:
                if error_code(exc) == "BucketAlreadyExists":
                    raise _name_taken(ctx, name, what) from exc
                if error_code(exc) != "BucketAlreadyOwnedByYou":
                    raise
                existed = True
            # An adopted bucket keeps the tags it had (none of them ours, or it would not be adoptable).
            tags = {**(self._check_adoptable(ctx, s3, name, desired, what) if existed else {}), **desired.tags}
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _s3_tags(tags)}, ExpectedBucketOwner=ctx.account_id)
        # Nothing about the settings is known, so update writes every one of them.
        observed = Observed(desired.key, self.kind, name, {"bucketName": name}, tags, _outputs(ctx, name), {})
        return self.update(ctx, desired, observed, self.compare(desired, observed))

    def update(
        self, ctx: KindContext, desired: Desired[BucketProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        s3 = _client(ctx)
        name = observed.id
        owner = ctx.account_id
        props = desired.properties
        have = observed.properties
        # Each setting is its own subresource: written at once, not one after another, except the
        # public access block, which goes first (S3 may refuse a policy written while the block
        # changes, and the bucket is never without its block once it has a policy).
        first: list[Callable[[], object]] = []
        writes: list[Callable[[], object]] = []
        now: dict[str, Any] = {}
        block = props.get("publicAccessBlock")
        if block is not None and _public_access_block(block) != have.get("publicAccessBlock"):
            flags = now["publicAccessBlock"] = _public_access_block(block)
            first.append(
                lambda: s3.put_public_access_block(
                    Bucket=name,
                    PublicAccessBlockConfiguration={
                        "BlockPublicAcls": flags["blockPublicAcls"],
                        "IgnorePublicAcls": flags["ignorePublicAcls"],
                        "BlockPublicPolicy": flags["blockPublicPolicy"],
                        "RestrictPublicBuckets": flags["restrictPublicBuckets"],
                    },
                    ExpectedBucketOwner=owner,
                )
            )
        encryption = props.get("encryption")
        if encryption is not None and _encryption(encryption) != have.get("encryption"):
            now["encryption"] = _encryption(encryption)
            writes.append(
                lambda: s3.put_bucket_encryption(
                    Bucket=name,
                    ServerSideEncryptionConfiguration={"Rules": [_encryption_rule(encryption)]},
                    ExpectedBucketOwner=owner,
                )
            )
        versioning = props.get("versioning")
        if versioning is not None and bool(versioning) != have.get("versioning"):
            status: BucketVersioningStatusType = "Enabled" if versioning else "Suspended"
            now["versioning"] = bool(versioning)
            writes.append(
                lambda: s3.put_bucket_versioning(
                    Bucket=name, VersioningConfiguration={"Status": status}, ExpectedBucketOwner=owner
                )
            )
        if "policy" in props and not same_policy(props["policy"], have.get("policy")):
            policy = now["policy"] = props["policy"]
            if policy is None:
                writes.append(lambda: s3.delete_bucket_policy(Bucket=name, ExpectedBucketOwner=owner))
            else:
                writes.append(
                    lambda: s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy), ExpectedBucketOwner=owner)
                )
        days = props.get("noncurrentVersionExpirationDays")
        if "noncurrentVersionExpirationDays" in props and (
            days != have.get("noncurrentVersionExpirationDays") or "lifecycleRules" not in observed.private
        ):
            others = [r for r in observed.private.get("lifecycleRules", []) if r.get("ID") != LIFECYCLE_RULE]
            now["noncurrentVersionExpirationDays"] = days
            writes.append(
                lambda: s3.put_bucket_lifecycle_configuration(
                    Bucket=name,
                    LifecycleConfiguration={"Rules": [*others, _lifecycle_rule(days)]},
                    ExpectedBucketOwner=owner,
                )
            )
        changes = tag_changes(desired.tags, observed.tags)
        tags = changes.applied_to(observed.tags) if changes else observed.tags
        if changes:  # PutBucketTagging replaces the whole set: send ours and everyone else's.
            writes.append(
                lambda: s3.put_bucket_tagging(
                    Bucket=name, Tagging={"TagSet": _s3_tags(tags)}, ExpectedBucketOwner=owner
                )
            )
        with _s3_errors(f"update {self.kind} {name}"):
            for group in (first, writes):
                at_once(*group)
        have.update(now)
        observed.tags = tags
        observed.key = desired.key
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        s3 = _client(ctx)
        name = observed.id
        what = f"delete {self.kind} {name}"
        with _s3_errors(what):
            try:
                _empty(s3, ctx, name, what)
                s3.delete_bucket(Bucket=name, ExpectedBucketOwner=ctx.account_id)
            except ClientError as exc:
                if error_code(exc) != NO_BUCKET:
                    raise

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        """One PutBucketTagging: the tag set without the identity tags, marked retained."""
        s3 = _client(ctx)
        tags = {k: v for k, v in observed.tags.items() if k not in IDENTITY_TAGS}
        tags[RETAINED] = "true"
        with _s3_errors(f"retain {self.kind} {observed.id}"):
            s3.put_bucket_tagging(
                Bucket=observed.id, Tagging={"TagSet": _s3_tags(tags)}, ExpectedBucketOwner=ctx.account_id
            )

    def compare(self, desired: Desired[BucketProps], observed: Observed) -> list[FieldDiff]:
        diffs = []
        for d in super().compare(desired, observed):
            if d.path == "policy" and same_policy(d.desired, d.current):
                continue
            if d.path == "encryption" and d.desired is not None and _encryption(d.desired) == d.current:
                continue
            diffs.append(d)
        return diffs

    def _tags_of_desired(self, ctx: KindContext, s3: S3Client, name: str) -> dict[str, str] | None:
        """A desired name: its tags, None when there is no such bucket; 403 means another account's."""
        try:
            return _bucket_tags(s3, ctx, name)
        except ClientError as exc:
            if error_code(exc) in DENIED or error_code(exc) == "403":
                raise _name_taken(ctx, name, f"observe {self.kind} {name}") from exc
            raise

    def _check_adoptable(
        self, ctx: KindContext, s3: S3Client, name: str, desired: Desired[BucketProps], what: str
    ) -> dict[str, str]:
        """Take over an existing bucket of this account only if it is ours or a crash's leftover;
        return its tags."""
        tags = _bucket_tags(s3, ctx, name) or {}
        if matches(tags, ctx.selector):
            return tags  # ours: created moments ago and not listed by the tagging API yet
        reason = ""
        if tags.get(RETAINED) == "true":
            reason = f"it was retained (tagged {RETAINED}) when its workspace was deleted"
        elif any(k.startswith(MANAGED_PREFIX) for k in tags):
            reason = f"it carries the tags of workspace {tags.get(WORKSPACE, '(unknown)')}"
        else:
            listing = s3.list_object_versions(Bucket=name, MaxKeys=1, ExpectedBucketOwner=ctx.account_id)
            if listing.get("Versions") or listing.get("DeleteMarkers"):
                reason = "it holds objects and no workspace's tags"
        if reason:
            raise TerminalError(
                "BucketNotManaged",
                f"{what}: bucket {name} exists in account {ctx.account_id} but workspace "
                f"{ctx.selector.get(WORKSPACE)} does not manage it: {reason}. To adopt it, tag it "
                f"{MANAGED_BY}={ctx.selector.get(MANAGED_BY)}, {WORKSPACE}={ctx.selector.get(WORKSPACE)} and "
                f"{KEY}={desired.key} (removing {RETAINED}); otherwise empty and delete it",
            )
        return tags


def _read_settings(s3: S3Client, ctx: KindContext, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Five reads, one per setting, at once: S3 has no call that returns a bucket's configuration."""
    owner = ctx.account_id
    versioning_answer, sse, block, policy, lifecycle = at_once(
        lambda: s3.get_bucket_versioning(Bucket=name, ExpectedBucketOwner=owner),
        lambda: _absent_as_none(
            lambda: s3.get_bucket_encryption(Bucket=name, ExpectedBucketOwner=owner), NO_ENCRYPTION
        ),
        lambda: _absent_as_none(
            lambda: s3.get_public_access_block(Bucket=name, ExpectedBucketOwner=owner), NO_PUBLIC_ACCESS_BLOCK
        ),
        lambda: _absent_as_none(lambda: s3.get_bucket_policy(Bucket=name, ExpectedBucketOwner=owner), NO_POLICY),
        lambda: _absent_as_none(
            lambda: s3.get_bucket_lifecycle_configuration(Bucket=name, ExpectedBucketOwner=owner), NO_LIFECYCLE
        ),
    )
    versioning = versioning_answer.get("Status") == "Enabled"
    rules = sse["ServerSideEncryptionConfiguration"]["Rules"] if sse else []
    block_config: Mapping[str, Any] = block["PublicAccessBlockConfiguration"] if block else {}
    lifecycle_rules = list(lifecycle.get("Rules", [])) if lifecycle else []
    properties: dict[str, Any] = {
        "versioning": versioning,
        "encryption": _encryption_from_aws(rules[0]) if rules else None,
        "publicAccessBlock": {ours: bool(block_config.get(aws, False)) for ours, aws in PUBLIC_ACCESS_FLAGS.items()},
        "policy": json.loads(policy["Policy"]) if policy and policy.get("Policy") else None,
        "noncurrentVersionExpirationDays": _our_noncurrent_days(lifecycle_rules),
    }
    return properties, {"lifecycleRules": lifecycle_rules}


def _bucket_tags(s3: S3Client, ctx: KindContext, name: str) -> dict[str, str] | None:
    """The bucket's tags ({} when it has none), or None when there is no such bucket."""
    try:
        return from_aws(s3.get_bucket_tagging(Bucket=name, ExpectedBucketOwner=ctx.account_id).get("TagSet"))
    except ClientError as exc:
        if error_code(exc) == NO_TAGS:
            return {}
        if error_code(exc) == NO_BUCKET:
            return None
        raise


def _empty(s3: S3Client, ctx: KindContext, name: str, what: str) -> None:
    """Delete every object version and delete marker, a page (at most 1000) per DeleteObjects."""
    owner = ctx.account_id
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name, ExpectedBucketOwner=owner):
        batch: list[ObjectIdentifierTypeDef] = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            if "Key" in item and "VersionId" in item
        ]
        if batch:
            result = s3.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True}, ExpectedBucketOwner=owner)
            if result.get("Errors"):
                raise _objects_error(result["Errors"], what)
    for uploads in s3.get_paginator("list_multipart_uploads").paginate(Bucket=name, ExpectedBucketOwner=owner):
        for upload in uploads.get("Uploads", []):
            if "Key" in upload and "UploadId" in upload:
                try:
                    s3.abort_multipart_upload(
                        Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"], ExpectedBucketOwner=owner
                    )
                except ClientError as exc:
                    if error_code(exc) != "NoSuchUpload":  # completed or aborted meanwhile
                        raise


def _objects_error(errors: Sequence[ErrorTypeDef], what: str) -> Exception:
    first = errors[0]
    detail = (
        f"{what}: S3 refused to delete {len(errors)} object version(s), first {first.get('Key')} "
        f"({first.get('Code')}: {first.get('Message')})"
    )
    if any(e.get("Code") in DENIED for e in errors):
        return TerminalError(
            "AccessDenied",
            f"{detail}: grant the operator s3:DeleteObjectVersion on the bucket, "
            "and check that the bucket policy does not deny it",
        )
    return RetryableError("BucketNotEmpty", f"{detail}; retrying", delay=15.0)


def _name_taken(ctx: KindContext, name: str, what: str) -> TerminalError:
    return TerminalError(
        "BucketNameTaken",
        f"{what}: the bucket name {name} is taken by another AWS account (or account {ctx.account_id}'s "
        "credentials may not read it): bucket names are global, so choose another name",
    )


def _absent_as_none(call: Callable[[], T], code: str) -> T | None:
    try:
        return call()
    except ClientError as exc:
        if error_code(exc) == code:
            return None
        raise


def _encryption(value: Mapping[str, Any]) -> dict[str, Any]:
    """The desired encryption with defaults filled in, in the observed shape."""
    return {
        "sseAlgorithm": value.get("sseAlgorithm", "aws:kms"),
        "kmsKeyId": value.get("kmsKeyId"),
        "bucketKeyEnabled": bool(value.get("bucketKeyEnabled", False)),
    }


def _encryption_from_aws(rule: Mapping[str, Any]) -> dict[str, Any]:
    default = rule.get("ApplyServerSideEncryptionByDefault", {})
    return {
        "sseAlgorithm": default.get("SSEAlgorithm"),
        "kmsKeyId": default.get("KMSMasterKeyID") or None,
        "bucketKeyEnabled": bool(rule.get("BucketKeyEnabled", False)),
    }


def _encryption_rule(value: Mapping[str, Any]) -> Any:
    wanted = _encryption(value)
    default: ServerSideEncryptionByDefaultTypeDef = {"SSEAlgorithm": wanted["sseAlgorithm"]}
    if wanted["kmsKeyId"]:
        default["KMSMasterKeyID"] = str(wanted["kmsKeyId"])
    return {"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": wanted["bucketKeyEnabled"]}


def _public_access_block(value: Mapping[str, Any]) -> dict[str, bool]:
    return {ours: bool(value.get(ours, False)) for ours in PUBLIC_ACCESS_FLAGS}


def _lifecycle_rule(days: Any) -> LifecycleRuleTypeDef:
    rule: LifecycleRuleTypeDef = {
        "ID": LIFECYCLE_RULE,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS},
    }
    if days is not None:
        rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(days)}
    return rule


def _our_noncurrent_days(rules: Sequence[LifecycleRuleOutputTypeDef]) -> int | None:
    """The days of our rule if it has exactly the shape we write, else None (so it is rewritten)."""
    rule = next((r for r in rules if r.get("ID") == LIFECYCLE_RULE), None)
    if rule is None or rule.get("Status") != "Enabled" or rule.get("Filter", {}).get("Prefix", "") != "":
        return None
    if rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") != ABORT_MULTIPART_DAYS:
        return None
    days = rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")
    return int(days) if days is not None else None


def _s3_tags(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _outputs(ctx: KindContext, name: str) -> dict[str, Any]:
    return {"id": name, "name": name, "arn": f"arn:{partition(ctx.region)}:s3:::{name}", "region": ctx.region}


@contextmanager
def _s3_errors(what: str) -> Iterator[None]:
    """S3's codes outside the shared vocabulary: `NoSuchBucket` (deleted meanwhile: observe again)
    and the busy ones; everything else is classified as for any service."""
    with aws_errors(what):
        try:
            yield
        except ClientError as exc:
            code = error_code(exc)
            if code == NO_BUCKET:
                raise RetryableError(
                    "NotFoundYet", f"{what}: {error_message(exc)} (deleted meanwhile; observing again)", 10.0
                ) from exc
            if code in BUSY:
                raise RetryableError(
                    "DependencyNotReady", f"{what}: {code}: {error_message(exc)} (retrying)", 15.0
                ) from exc
            raise


def _client(ctx: KindContext) -> S3Client:
    client: S3Client = ctx.clients.client("s3", ctx.region)
    return client
