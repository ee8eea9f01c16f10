"""Sessions per environment: static keys from a Secret, an assumed role, or the default chain.

`AWS_ENDPOINT_URL` (botocore's own setting) points every client at an emulator, so nothing here
knows whether it talks to AWS or to the embedded one.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.loaders import Loader, create_loader

from cutlass_operator.api.environment import Credentials, CredentialsSource
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.engine.errors import TerminalError

CLIENT_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=10, read_timeout=60)


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
    session = base_session(credentials, secret, region)
    if credentials.role_arn is None:
        return session
    sts = session.client("sts", config=CLIENT_CONFIG)
    if calls is not None:
        calls.attach(sts)
    params: dict[str, Any] = {"RoleArn": credentials.role_arn, "RoleSessionName": credentials.session_name}
    if credentials.external_id:
        params["ExternalId"] = credentials.external_id
    creds = sts.assume_role(**params)["Credentials"]
    return new_session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


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
                if self.calls is not None:
                    self.calls.attach(client)
                self._clients[key] = client
            return self._clients[key]
