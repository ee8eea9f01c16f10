"""Lambda deployment packages: content-addressed objects in the workspace's artifact bucket."""

from __future__ import annotations

from dataclasses import dataclass, field

from cutlass_operator.engine.resource import Props


@dataclass(frozen=True)
class PackageProps(Props):
    """A deployment zip at `object_key` (`<prefix><function>/<hex SHA-256>.zip`, under the kind's
    name prefix). `sha256` is the base64 SHA-256 of `body`, the value Lambda reports as CodeSha256.
    `body` is what the kind uploads: not AWS state to compare, so it stays out of the flat form."""

    kind = "s3.object"

    bucket: str
    object_key: str
    sha256: str
    body: bytes = field(repr=False, metadata={"compared": False})
    content_type: str = "application/zip"
