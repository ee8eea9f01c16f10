"""Lambda functions, the event source mappings that feed them and the statements granting callers."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from cutlass_operator.engine.resource import Props, Ref, Struct

# The start of every statement id of the operator's: how the permission kind tells them from others'.
OURS = "cutlass-"
# Lambda's rule for statement ids.
STATEMENT_ID = re.compile(r"^[a-zA-Z0-9_-]{1,100}$")


@dataclass(frozen=True)
class CodeLocation(Struct):
    """Where the deployment zip is fetched from when code must be written."""

    s3_bucket: str
    s3_key: str | Ref


@dataclass(frozen=True)
class VpcConfig(Struct):
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]


@dataclass(frozen=True)
class FunctionProps(Props):
    """A function released through `alias`, always to a published version. `code_sha256` is the
    base64 SHA-256 of the zip (Lambda's CodeSha256): code is compared by it alone, while `package`
    cannot be read back and takes no part in the comparison. `vpc_config` None: outside any VPC;
    `kms_key_arn` None: Lambda's own key encrypts the environment; `provisioned_concurrency`: warm
    instances on the alias (0 for none). The name must start with the kind's name prefix."""

    kind = "lambda.function"

    function_name: str
    runtime: str
    handler: str
    role: str | Ref
    code_sha256: str
    package: CodeLocation
    description: str = ""
    memory_size: int = 128
    timeout: int = 3
    environment: Mapping[str, str] = field(default_factory=dict)
    vpc_config: VpcConfig | None = None
    kms_key_arn: str | None = None
    tracing_mode: Literal["Active", "PassThrough"] = "PassThrough"
    architectures: tuple[Literal["x86_64", "arm64"], ...] = ("x86_64",)
    alias: str = "live"
    published: Literal[True] = True
    provisioned_concurrency: int = 0


@dataclass(frozen=True)
class Filter(Struct):
    """`pattern`: an event filter pattern as JSON text."""

    pattern: str


@dataclass(frozen=True)
class FilterCriteria(Struct):
    filters: tuple[Filter, ...]


@dataclass(frozen=True)
class EventSourceMappingProps(Props):
    """An SQS queue or a DynamoDB stream feeding a function. `function_arn` is the alias's qualified
    ARN; `event_source_arn` must be a literal ARN (the mapping is found again by it). `batch_size`
    None: AWS's default (10 for a queue, 100 for a stream); `maximum_batching_window_in_seconds`
    None: 0. `filter_criteria` None: no filter. `starting_position`, `maximum_retry_attempts` and
    `bisect_batch_on_function_error` are for streams only (None for a queue); on a stream, None
    retries until the record expires (-1) and does not bisect."""

    kind = "lambda.event_source_mapping"

    function_arn: str | Ref
    event_source_arn: str
    batch_size: int | None = None
    maximum_batching_window_in_seconds: int | None = None
    enabled: bool = True
    function_response_types: tuple[Literal["ReportBatchItemFailures"], ...] = ()
    filter_criteria: FilterCriteria | None = None
    starting_position: Literal["LATEST", "TRIM_HORIZON"] | None = None
    maximum_retry_attempts: int | None = None
    bisect_batch_on_function_error: bool | None = None


@dataclass(frozen=True)
class PermissionProps(Props):
    """One statement of the resource policy of the function's alias `qualifier`. `statement_id`
    must start with `cutlass-` (see `statement_id()`); `principal` is a service such as
    `apigateway.amazonaws.com` or an account id; `source_arn` and `source_account` None: no such
    condition."""

    kind = "lambda.permission"

    function_name: str
    qualifier: str
    statement_id: str
    principal: str
    action: Literal["lambda:InvokeFunction"] = "lambda:InvokeFunction"
    source_arn: str | Ref | None = None
    source_account: str | None = None


def statement_id(purpose: str, *parts: str) -> str:
    """A deterministic Sid of the operator's: `cutlass-<purpose>-<16 hex digits of the parts' hash>`,
    e.g. `statement_id("apigateway", "POST /usage-check")`. Hash what stays fixed for the grant's
    life (a route, not an API id that is only known after apply)."""
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    sid = f"{OURS}{purpose}-{digest}"
    if not STATEMENT_ID.match(sid):
        raise ValueError(f"{sid!r} is not a valid statement id (letters, digits, - and _, at most 100)")
    return sid
