"""The account guard: no write happens until the credentials prove to act in `spec.accountId`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from cutlass_operator.api.environment import CutlassEnvironmentSpec
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.session import AwsClients, assumed_session
from cutlass_operator.engine.errors import RetryableError, TerminalError

DENIED = {"AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "SignatureDoesNotMatch"}


@dataclass(frozen=True)
class Connection:
    clients: AwsClients
    caller_arn: str


def connect(
    spec: CutlassEnvironmentSpec, secret: Mapping[str, str] | None, region: str, calls: CallLog | None = None
) -> Connection:
    """Clients for the environment's account in `region`, verified to act in `spec.accountId`."""
    try:
        session, caller_arn = assumed_session(spec.credentials, secret, region, calls)
        clients = AwsClients(session, region, calls)
        if caller_arn is None:
            identity = clients.client("sts").get_caller_identity()
            caller_arn = str(identity["Arn"])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if code in DENIED:
            raise TerminalError(
                "CredentialsRejected",
                f"AWS refused the credentials ({code}: {message}): fix spec.credentials",
            ) from exc
        raise RetryableError("CredentialsUnavailable", f"{code}: {message}") from exc
    except BotoCoreError as exc:
        raise RetryableError("CredentialsUnavailable", str(exc)) from exc
    account = caller_arn.split(":")[4]  # arn:<partition>:sts|iam::<account>:...
    if account != spec.account_id:
        raise TerminalError(
            "AccountMismatch",
            f"the credentials act in account {account} ({caller_arn}) but spec.accountId "
            f"is {spec.account_id}: fix spec.accountId or the credentials; nothing was written",
        )
    return Connection(clients, caller_arn)
