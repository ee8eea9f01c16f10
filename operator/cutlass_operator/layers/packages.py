"""The application's deployment packages: one zip per function, reproducible byte for byte.

A function's zip holds the package `cutlass_app` with the shared `common` module and the function's
own module, so a change to one function's code changes only that function's hash and the compute
layer updates only that function. Entries are stored (not deflated), sorted, with a fixed time and
mode: the bytes then depend on the source alone, not on the zlib build, the clock or the umask,
and the same source gives the same SHA-256 on every machine. That hash is Lambda's `CodeSha256`,
which is how the compute layer tells that a function runs other code than the operator ships.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass
from importlib import resources

SOURCE = "cutlass_operator.app"
PACKAGE = "cutlass_app"
SHARED = ("__init__.py", "common.py")
# The zip format cannot store an earlier time; any fixed time would do.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644 << 16


@dataclass(frozen=True)
class Package:
    module: str  # the function's module in cutlass_operator/app, e.g. usage_check
    body: bytes

    @property
    def sha256(self) -> str:
        """Base64 of the SHA-256 digest: the form Lambda reports as CodeSha256."""
        return base64.b64encode(hashlib.sha256(self.body).digest()).decode()

    @property
    def hexdigest(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def handler(self) -> str:
        return f"{PACKAGE}.{self.module}.handler"


def build_package(module: str) -> Package:
    source = resources.files(SOURCE)
    names = sorted({*SHARED, f"{module}.py"})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in names:
            entry = zipfile.ZipInfo(f"{PACKAGE}/{name}", date_time=FIXED_TIME)
            entry.external_attr = FILE_MODE
            archive.writestr(entry, source.joinpath(name).read_bytes())
    return Package(module, buffer.getvalue())
