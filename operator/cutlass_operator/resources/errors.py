"""AWS errors as the two outcomes the engine understands: fix the spec (terminal) or wait (retryable).

AWS error codes are a loose vocabulary shared across services (`InvalidVpcID.NotFound`,
`NoSuchEntity`, `ResourceNotFoundException`...), so the classification works on the code's
family (suffixes and prefixes) plus a few explicit lists, and keeps AWS's own message: it is
usually the best description of what is wrong. The wrapper names the action and the resource,
because a bare `DependencyViolation` does not tell the user which of forty resources failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from cutlass_operator.engine.errors import ReconcileError, RetryableError, TerminalError

THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
    }
)
UNAVAILABLE = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceFailure",
        "Unavailable",
        "InsufficientAddressCapacity",
    }
)
# Another change is in flight on the same resource, or a dependant is still going away
# (a NAT gateway releasing its address, an endpoint's network interfaces being removed).
BUSY = frozenset(
    {
        "DependencyViolation",
        "IncorrectState",
        "IncorrectInstanceState",
        "InvalidState",
        "ConcurrentModificationException",
        "ConcurrentModification",
        "OperationAbortedException",
        "Resource.AlreadyAssociated",
        "InvalidIPAddress.InUse",
        "DeleteConflict",
    }
)
DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthFailure",
        "InvalidClientTokenId",
        "OptInRequired",
        "Blocked",
    }
)
# A create refused because the resource is there: made by an earlier attempt whose answer was lost
# (botocore repeats a create after a 5xx), or by someone else under our deterministic name. Either
# way the next step is to observe: the executor adopts what observe finds to be ours, and a name held
# by another keeps failing with this message. Kinds that can tell the two apart do so themselves.
ALREADY_EXISTS = frozenset(
    {
        "AlreadyExists",
        "AlreadyExistsException",
        "EntityAlreadyExists",
        "ResourceAlreadyExistsException",
        "ResourceConflictException",
        "ConflictException",
        "QueueNameExists",
        "ResourceInUseException",  # DynamoDB: the table exists (or is busy being changed)
        "BucketAlreadyOwnedByYou",
        "RouteAlreadyExists",
        "InvalidGroup.Duplicate",
        "InvalidPermission.Duplicate",
    }
)
# Codes that end in NotFound but mean a bad spec value rather than a resource not visible yet.
NOT_FOUND_BUT_TERMINAL = frozenset({"InvalidServiceName", "InvalidAvailabilityZone"})


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)


def is_not_found(exc: ClientError) -> bool:
    """The resource (or the sub-resource, such as a route or association) does not exist."""
    code = error_code(exc)
    return (
        code.endswith(("NotFound", "NotFoundException"))
        or code in {"NoSuchEntity", "ResourceNotFoundException", "NatGatewayNotFound", "Gateway.NotAttached"}
    ) and code not in NOT_FOUND_BUT_TERMINAL


def classify(exc: ClientError, what: str) -> ReconcileError:
    """Turn an AWS error into a terminal or retryable failure whose message names `what` failed."""
    code = error_code(exc)
    operation = exc.operation_name
    detail = f"{what}: {operation} failed with {code}: {error_message(exc)}"
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in THROTTLED:
        return RetryableError("AwsThrottled", f"{detail} (AWS is throttling; retrying)", delay=30.0)
    if code in UNAVAILABLE or status >= 500:
        return RetryableError("AwsUnavailable", f"{detail} (transient AWS failure; retrying)", delay=30.0)
    if code in BUSY:
        return RetryableError("DependencyNotReady", f"{detail} (waiting for a dependant to settle)", delay=15.0)
    if code in ALREADY_EXISTS:
        return RetryableError(
            "AlreadyExists",
            f"{detail} (made by an earlier attempt whose answer was lost, or a name held by someone else: "
            "observing again; if it persists, delete or rename what holds the name)",
            delay=15.0,
        )
    if code in DENIED:
        return TerminalError("AccessDenied", f"{detail}: grant the operator's credentials permission for {operation}")
    if code.endswith(("LimitExceeded", "QuotaExceeded", "QuotaExceededException", "LimitExceededException")):
        return TerminalError(
            "QuotaExceeded", f"{detail}: raise the AWS service quota or remove unused resources in the account"
        )
    if is_not_found(exc):
        # Right after a create, EC2 and IAM may not show the new resource to every API yet;
        # a referenced resource deleted behind our back is recreated by the next reconcile.
        return RetryableError("NotFoundYet", f"{detail} (not visible yet or deleted meanwhile; retrying)", 10.0)
    return TerminalError("InvalidRequest", f"{detail}: check the values in the spec")


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Raise any AWS failure inside the block as a classified error naming `what`."""
    try:
        yield
    except ClientError as exc:
        raise classify(exc, what) from exc
    except BotoCoreError as exc:
        # Connection resets, read timeouts and unparseable responses outlast botocore's own retries.
        raise RetryableError("AwsUnreachable", f"{what}: {exc}", delay=30.0) from exc


@contextmanager
def tolerate_not_found() -> Iterator[None]:
    """For deletes and detaches: a resource that is already gone is the outcome we wanted."""
    try:
        yield
    except ClientError as exc:
        if not is_not_found(exc):
            raise
