"""Sessions per environment: static keys from a Secret, an assumed role, or the default chain.

`AWS_ENDPOINT_URL` (botocore's own setting) points every client at an emulator, so nothing here
knows whether it talks to AWS or to the embedded one.
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from botocore.loaders import Loader, create_loader
from botocore.retries import quota, standard

from cutlass_operator.api.environment import Credentials, CredentialsSource
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.engine.errors import TerminalError

# botocore's "standard" retries: jittered exponential backoff per call, nothing more. Not
# "adaptive": its client-side rate limiter, once a call is throttled, paces every later call of that
# client (one client serves a whole region's service) for the rest of the run, so a handful of
# throttles slowed a converge of manifests/dev from ~9 s to minutes. Eight attempts make giving up
# on a call rare even when a quarter of the attempts fail (0.25 ** 8), and giving up costs a pass.
MAX_ATTEMPTS = 8
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS}, connect_timeout=10, read_timeout=60)
# The first retry of a throttled call waits up to this long, doubling at each retry after it
# (botocore: 1 s). AWS refills an account's API token buckets continuously, at a few to tens of
# tokens a second, so a throttled call usually finds a token within a few hundred milliseconds; a
# converge is a chain of a hundred-odd dependent calls, and at botocore's scale each throttle on it
# cost half a second on average: with a fifth of the calls throttled, a 10 s converge took a minute.
# Under sustained throttling the doubling still reaches botocore's waits by the third retry.
THROTTLED_FIRST_RETRY_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 20.0  # botocore's cap
RETRY_AFTER = "x-amz-retry-after"  # AWS's own word on when to retry, which botocore follows

# Creates AWS has no idempotency token for (ClientToken, CallerReference): repeated after AWS acted
# on the first attempt but its answer was lost (a 5xx, a connection dropped after sending), each
# makes a second resource, and botocore repeats them on a 5xx like any other call. These are not
# repeated by botocore once the request may have reached AWS; the failure goes to the engine,
# which observes (by tag or name) before it creates again (engine/executor.py). A throttle, or a
# connection never made, is still retried here: AWS did nothing.
UNREPEATABLE: frozenset[tuple[str, str]] = frozenset(
    {
        ("ec2", "CreateVpc"),
        ("ec2", "CreateSubnet"),
        ("ec2", "CreateInternetGateway"),
        ("ec2", "AllocateAddress"),
        # It takes a ClientToken, but the emulator ignores it; the observe finds the table by its tags.
        ("ec2", "CreateRouteTable"),
        ("kms", "CreateKey"),
        ("cognito-idp", "CreateUserPool"),
        ("cognito-idp", "CreateUserPoolClient"),
        ("apigateway", "CreateRestApi"),
        ("apigateway", "CreateApiKey"),
        ("apigateway", "CreateUsagePlan"),
        ("apigateway", "CreateAuthorizer"),
        ("apigateway", "CreateDeployment"),
        ("lambda", "CreateEventSourceMapping"),
        # Not a create, but adding a replica twice fails ("already existed as tables"); observe
        # shows whether the first one went through.
        ("dynamodb", "UpdateTable"),
        # No token either, but a repeat fails rather than duplicates: RouteAlreadyExists, which the
        # kind rightly calls a spec error. The fault suite found it; observe adopts the route instead.
        ("ec2", "CreateRoute"),
    }
)


def _outcome_unknown(response: Any, caught_exception: Exception | None) -> bool:
    """The request may have reached AWS and been acted on, but the caller cannot know."""
    if caught_exception is not None:  # sent, then no answer; a refused connection sent nothing
        return isinstance(caught_exception, (ReadTimeoutError, ConnectionClosedError))
    if response is None:
        return False
    http, parsed = response
    code = str(parsed.get("Error", {}).get("Code", ""))
    # EC2's RequestLimitExceeded and S3's SlowDown come as 503 but say the request was refused.
    return http.status_code >= 500 and code not in ("RequestLimitExceeded", "SlowDown")


def stop_blind_repeats(client: Any) -> None:
    """Make botocore give up, rather than repeat, an UNREPEATABLE create whose outcome is unknown.

    botocore asks every `needs-retry` handler of a call and retries if any answers a delay; the
    handler here runs first (its event is the more specific one) and ends the call with the error
    the caller would have had without retries, so botocore's own handler is never asked.
    """
    model = client.meta.service_model
    event = f"needs-retry.{model.service_id.hyphenize()}"
    for service, operation in UNREPEATABLE:
        if service != model.service_name:
            continue

        def give_up(
            response: Any = None, caught_exception: Exception | None = None, operation: str = operation, **_: Any
        ) -> None:
            if not _outcome_unknown(response, caught_exception):
                return
            if caught_exception is not None:
                raise caught_exception
            raise ClientError(response[1], operation)

        client.meta.events.register_first(f"{event}.{operation}", give_up, unique_id=f"cutlass-no-repeat-{operation}")


class _ThrottledBackoff(standard.ExponentialBackoff):
    """botocore's backoff, on THROTTLED_FIRST_RETRY_SECONDS' scale for a throttled call."""

    def __init__(self, service: str, detector: standard.ThrottlingErrorDetector) -> None:
        super().__init__(service_name=service, throttling_detector=detector)
        self._detector = detector

    def delay_amount(self, context: standard.RetryContext) -> float:
        told = context.http_response is not None and RETRY_AFTER in context.http_response.headers
        if told or not self._detector.is_throttling_error_from_context(context):
            return float(super().delay_amount(context))  # AWS said when, or not a throttle: botocore's
        scale = THROTTLED_FIRST_RETRY_SECONDS * 2.0 ** (context.attempt_number - 1)
        return random.random() * min(scale, MAX_BACKOFF_SECONDS)


def pace_throttled_retries(client: Any) -> None:
    """Give `client` botocore's standard retry handler built with `_ThrottledBackoff`, in place of
    the one botocore registered (same checks, quota and attempts)."""
    service = client.meta.service_model.service_id.hyphenize()
    adapter = standard.RetryEventAdapter()
    detector = standard.ThrottlingErrorDetector(adapter)
    retry_quota = standard.RetryQuotaChecker(quota.RetryQuota(), detector)
    handler = standard.RetryHandler(
        retry_policy=standard.RetryPolicy(
            retry_checker=standard.StandardRetryConditions(max_attempts=MAX_ATTEMPTS),
            retry_backoff=_ThrottledBackoff(service, detector),
        ),
        retry_event_adapter=adapter,
        retry_quota=retry_quota,  # type: ignore[arg-type]  # the stubs say RetryQuota; botocore passes this
        service_name=service,
    )
    unique_id = f"retry-config-{service}"  # botocore's own, so that it is replaced
    client.meta.events.unregister(f"needs-retry.{service}", unique_id=unique_id)
    client.meta.events.register(f"after-call.{service}", retry_quota.release_retry_quota)
    client.meta.events.register(f"needs-retry.{service}", handler.needs_retry, unique_id=unique_id)


@functools.cache
def _shared_loader() -> Loader:
    """botocore's service models, parsed once per process.

    A new boto3 session re-reads and parses the JSON models of every service it touches: about
    0.6 s of CPU per reconcile (two sessions: the base and the assumed role), holding the GIL
    the event loop needs. The models are immutable data shipped with botocore, so one loader
    can serve every session; its caches only ever fill with the same parsed files.
    """
    return create_loader()


def new_session(**kwargs: Any) -> boto3.Session:
    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    return boto3.Session(botocore_session=core, **kwargs)


def base_session(credentials: Credentials, secret: Mapping[str, str] | None, region: str) -> boto3.Session:
    """The session before any role assumption: the Secret's keys or the operator's own chain."""
    if credentials.source != CredentialsSource.SECRET:
        return new_session(region_name=region)
    ref = credentials.secret_ref
    assert ref is not None  # the model requires it for this source
    if secret is None:
        raise TerminalError("SecretNotFound", f"Secret {ref.name!r} with the AWS keys was not found")
    missing = [k for k in (ref.access_key_id_key, ref.secret_access_key_key) if not secret.get(k)]
    if missing:
        raise TerminalError("SecretIncomplete", f"Secret {ref.name!r} lacks the key(s) {', '.join(missing)}")
    return new_session(
        aws_access_key_id=secret[ref.access_key_id_key],
        aws_secret_access_key=secret[ref.secret_access_key_key],
        aws_session_token=secret.get(ref.session_token_key) or None,
        region_name=region,
    )


def environment_session(
    credentials: Credentials, secret: Mapping[str, str] | None, region: str, calls: CallLog | None = None
) -> boto3.Session:
    """A session acting in the environment's account: the base session, then the role if one is named."""
    return assumed_session(credentials, secret, region, calls)[0]


def assumed_session(
    credentials: Credentials, secret: Mapping[str, str] | None, region: str, calls: CallLog | None = None
) -> tuple[boto3.Session, str | None]:
    """`environment_session`, and the caller ARN AWS answered the role's assumption with (None when
    no role is named): the same ARN GetCallerIdentity would give, without another round trip."""
    session = base_session(credentials, secret, region)
    if credentials.role_arn is None:
        return session, None
    sts = session.client("sts", config=CLIENT_CONFIG)
    pace_throttled_retries(sts)
    if calls is not None:
        calls.attach(sts)
    params: dict[str, Any] = {"RoleArn": credentials.role_arn, "RoleSessionName": credentials.session_name}
    if credentials.external_id:
        params["ExternalId"] = credentials.external_id
    answer = sts.assume_role(**params)
    creds = answer["Credentials"]
    assumed = new_session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )
    return assumed, str(answer["AssumedRoleUser"]["Arn"])


@dataclass
class AwsClients:
    """Client factory for one session: one client per service and region, shared by worker threads.

    botocore clients are thread-safe once created; creation is not, hence the lock.
    """

    session: boto3.Session
    region: str
    calls: CallLog | None = None
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        with self._lock:
            if key not in self._clients:
                # The service name is dynamic here, so boto3-stubs' per-service overloads cannot apply.
                client = self.session.client(service, region_name=key[1], config=CLIENT_CONFIG)  # type: ignore[call-overload]
                pace_throttled_retries(client)
                stop_blind_repeats(client)
                if self.calls is not None:
                    self.calls.attach(client)
                self._clients[key] = client
            return self._clients[key]
