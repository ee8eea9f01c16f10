"""Lambda deployment packages: content-addressed objects in the workspace's artifact bucket.

The properties are `PackageProps`; `bucket` and `objectKey` are immutable. The key names its
content, `<prefix><function name>/<SHA-256 in hex>.zip`, so a package never changes: new code is a
new key, and a function moves to it by its own update. The layer builds the zips and hands the kind
each body in its entry (`PackageProps.body`, not compared); the kind uploads it. Outputs: `id` and
`key` (the object key), `bucket`, `sha256`, and `versionId` when the kind has just written the
object (observe does not learn it, so nothing should depend on it: the key alone names the code).

Identity. The artifact bucket belongs to the workspace, and everything under the kind's
`name_prefix` (`functions/`) in it is a package the operator put there. Observe is one
ListObjectsV2 per bucket the desired entries name (paginated at 1000 keys, with
`ExpectedBucketOwner`, so the operator never lists another account's bucket of that name): a no-op
resync of the packages in one bucket reads once. Each listed key gives back its SHA-256 from its
name. An object no desired entry names (an older package, replaced by a new build) is an orphan
under `orphan_scope`, so the engine deletes it once the functions have moved to the new key
(packages are deleted after functions). With no desired entry at all the kind knows no bucket to
list, so nothing is reported. If the bucket does not exist yet, observe reports nothing for it: the
bucket is another layer's, created earlier.

Compare. The sha256 comes from the key, and the listed size is checked against the body a desired
entry gives for it, so an object overwritten out of band with other content of another size reads
as a different `sha256` and is uploaded again. `contentType` is written with the object and not read
back (ListObjectsV2 does not return it, and a HeadObject per package would multiply the reads), so
it is not compared.

Create is PutObject with the body, `ChecksumSHA256` (S3 checks the upload against the digest end to
end and refuses a corrupted one, which is retried), the content type and `ExpectedBucketOwner`. A
bucket that does not exist yet is waited for (`WaitingForBucket`). An empty body, or one whose
digest differs from its key, is a bug in the layer and raises. Update uploads the body again.
Delete is DeleteObject without a version: the bucket is versioned, so the old package stays
restorable as a noncurrent version until the bucket's lifecycle rule expires it. Retain leaves the
object as it is.

moto 5.2.5 gaps: it accepts a body whose `ChecksumSHA256` does not match (AWS answers BadDigest)
and does not return the checksum; it ignores `ExpectedBucketOwner`. The TLS-only bucket policy of
the artifact bucket needs the emulator's `s3_tls` patch to let object requests through.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.engine.errors import RetryableError
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind, normalise
from cutlass_operator.props.s3_objects import PackageProps
from cutlass_operator.resources.errors import aws_errors, error_code

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

NO_BUCKET = "NoSuchBucket"
NO_KEY = "NoSuchKey"
# The body arrived other than it left: worth sending again.
CORRUPTED = frozenset({"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"})
PACKAGE_NAME = re.compile(r"^(?P<function>[^/]+)/(?P<digest>[0-9a-f]{64})\.zip$")
NOT_COMPARED = frozenset({"contentType"})
# Where the packages live in the artifact bucket: the kind's default name prefix.
PACKAGES = "functions/"


class PackageKind(ResourceKind[PackageProps]):
    props = PackageProps
    # After the functions (80) that point at the packages.
    delete_rank = 10
    immutable = frozenset({"bucket", "objectKey"})

    def __init__(self, name_prefix: str = PACKAGES, orphan_scope: str = "") -> None:
        if not name_prefix:
            raise ValueError("a package kind needs a key prefix: everything under it is deleted when not desired")
        super().__init__(name_prefix, orphan_scope)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[PackageProps]]) -> list[Observed]:
        s3 = _client(ctx)
        keys: dict[tuple[str, str], str] = {}
        for d in desired:
            bucket, key = self._location(d)
            if bucket is not None:
                keys[(bucket, key)] = d.key
        bodies = {d.props.sha256: d.props.body for d in desired if d.props.body}
        found: list[Observed] = []
        for bucket in sorted({bucket for bucket, _ in keys}):
            with aws_errors(f"observe {self.kind} s3://{bucket}/{self.name_prefix}"):
                for listed in _list(s3, ctx, bucket, self.name_prefix):
                    key = listed["Key"]
                    entry = keys.get((bucket, key)) or f"{self.orphan_scope}(untracked s3://{bucket}/{key})"
                    digest = self._listed_digest(key, listed.get("Size"), bodies)
                    found.append(self._observed(entry, bucket, key, digest))
        return found

    def create(self, ctx: KindContext, desired: Desired[PackageProps]) -> Observed:
        return self._put(ctx, desired, "create")

    def update(
        self, ctx: KindContext, desired: Desired[PackageProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        return self._put(ctx, desired, "update")

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        bucket, key = observed.outputs["bucket"], observed.outputs["key"]
        with aws_errors(f"delete {self.kind} s3://{bucket}/{key}"):
            try:
                _client(ctx).delete_object(Bucket=bucket, Key=key, ExpectedBucketOwner=ctx.account_id)
            except ClientError as exc:
                if error_code(exc) not in {NO_BUCKET, NO_KEY}:
                    raise

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        """Identity is the bucket's prefix, not tags: the object stays as it is (and is no longer listed
        once its bucket is retained with it)."""

    def compare(self, desired: Desired[PackageProps], observed: Observed) -> list[FieldDiff]:
        """Properties only: the object's tags are not read, and the content type is not listed."""
        return [
            FieldDiff(name, observed.properties.get(name), want)
            for name, want in sorted(desired.properties.items())
            if name not in NOT_COMPARED and normalise(observed.properties.get(name)) != normalise(want)
        ]

    def _location(self, desired: Desired[PackageProps]) -> tuple[str | None, str]:
        """The desired bucket (None while it is a reference) and key, which must lie under the prefix
        and name the entry's digest."""
        bucket = desired.properties.get("bucket")
        key = str(desired.properties["objectKey"])
        sha256 = desired.properties.get("sha256")
        if not key.startswith(self.name_prefix):
            raise ValueError(f"{desired.key}: package {key} is outside {self.name_prefix}, where observe looks")
        digest = _digest_of(key[len(self.name_prefix) :])
        if isinstance(sha256, str) and digest != sha256:
            raise ValueError(f"{desired.key}: package key {key} does not name its sha256 {sha256}")
        return (bucket if isinstance(bucket, str) else None), key

    def _listed_digest(self, key: str, size: int | None, bodies: Mapping[str, bytes]) -> str | None:
        """The digest the key names, or None when the key names none or the listed size is not the
        size of the body a desired entry gives for that digest (the content was replaced)."""
        digest = _digest_of(key[len(self.name_prefix) :])
        body = bodies.get(digest) if digest is not None else None
        if body is not None and size is not None and int(size) != len(body):
            return None
        return digest

    def _put(self, ctx: KindContext, desired: Desired[PackageProps], action: str) -> Observed:
        bucket, key = self._location(desired)
        sha256 = str(desired.properties["sha256"])
        what = f"{action} {self.kind} s3://{bucket}/{key}"
        if bucket is None:
            raise ValueError(f"{what}: the bucket is still a reference")
        body = desired.props.body
        if not body:
            raise ValueError(f"{what}: the layer gave no body for sha256 {sha256}")
        if package_sha256(body) != sha256:
            raise ValueError(f"{what}: the body given for sha256 {sha256} has sha256 {package_sha256(body)}")
        content_type = str(desired.properties.get("contentType") or "application/zip")
        with aws_errors(what):
            try:
                response = _client(ctx).put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=body,
                    ChecksumSHA256=sha256,
                    ContentType=content_type,
                    ExpectedBucketOwner=ctx.account_id,
                )
            except ClientError as exc:
                if error_code(exc) == NO_BUCKET:
                    raise RetryableError(
                        "WaitingForBucket", f"{what}: bucket {bucket} does not exist yet; retrying", 30.0
                    ) from exc
                if error_code(exc) in CORRUPTED:
                    raise RetryableError(
                        "UploadCorrupted", f"{what}: S3 refused the body's checksum; retrying", 5.0
                    ) from exc
                raise
        observed = self._observed(desired.key, bucket, key, sha256)
        observed.properties["contentType"] = content_type
        observed.outputs["versionId"] = response.get("VersionId")
        return observed

    def _observed(self, entry: str, bucket: str, key: str, sha256: str | None) -> Observed:
        properties: dict[str, Any] = {"bucket": bucket, "objectKey": key, "sha256": sha256, "contentType": None}
        outputs: dict[str, Any] = {"id": key, "bucket": bucket, "key": key, "sha256": sha256}
        return Observed(entry, self.kind, key, properties, {}, outputs)


def _list(s3: S3Client, ctx: KindContext, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every object under `prefix`; none when the bucket does not exist (yet)."""
    listed: list[dict[str, Any]] = []
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, ExpectedBucketOwner=ctx.account_id, PaginationConfig={"PageSize": 1000}
    )
    try:
        for page in pages:
            # The prefix filter is checked, not trusted: what is listed here may be deleted.
            listed += [dict(o) for o in page.get("Contents", []) if o.get("Key", "").startswith(prefix)]
    except ClientError as exc:
        if error_code(exc) == NO_BUCKET:
            return []
        raise
    return listed


def _digest_of(name: str) -> str | None:
    """`<function>/<hex digest>.zip` -> the base64 digest, as Lambda's CodeSha256 writes it."""
    match = PACKAGE_NAME.match(name)
    if match is None:
        return None
    try:
        return base64.b64encode(binascii.unhexlify(match["digest"])).decode()
    except binascii.Error:
        return None


def package_key(function: str, body: bytes, prefix: str = PACKAGES) -> str:
    """The key a package's body is stored under: its function and the hex SHA-256 of the body."""
    return f"{prefix}{function}/{hashlib.sha256(body).hexdigest()}.zip"


def package_sha256(body: bytes) -> str:
    """The base64 SHA-256 of a body: the `sha256` property, the upload's checksum, Lambda's CodeSha256."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def _client(ctx: KindContext) -> S3Client:
    client: S3Client = ctx.clients.client("s3", ctx.region)
    return client
