"""moto 5.2.5 gap: EC2 creates ignore their ClientToken.

On AWS, CreateNatGateway, CreateVpcEndpoint and CreateFlowLogs are idempotent per ClientToken: a
request repeating the token and the parameters of an earlier one answers with what the first one
made (in its state now, a deleted NAT gateway included) and makes nothing; the same token with other
parameters is refused with IdempotentParameterMismatch. moto makes a new resource for each request.

The product relies on the token where a create's answer is lost (a 5xx or a dropped connection
after AWS acted): botocore repeats the request with its token, which on AWS returns the first
gateway; on moto the repeat made a second NAT gateway for the same address and failed with
Resource.AlreadyAssociated, and the region waited a whole reconcile for a fault AWS absorbs. So each
of the three answers as AWS does here, remembering tokens per account and region.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses.flow_logs import FlowLogs
from moto.ec2.responses.nat_gateways import NatGateways
from moto.ec2.responses.vpcs import VPCs

_LOCK = threading.Lock()
_INSTALLED = threading.Event()
# A create and its repeat are judged as one step: a repeat arriving while the first is still
# being made waits for it rather than making another.
_CREATES = threading.Lock()
# Where a backend (one account, one region) keeps the answers by token.
_ANSWERS = "_cutlass_client_tokens"
# Request parameters that are not the request's content: who signed it, and when.
_ENVELOPE = frozenset({"Action", "Version", "ClientToken", "X-Amz-Date", "X-Amz-Security-Token"})

Handler = Callable[[Any], ActionResult]


class _IdempotentParameterMismatchError(EC2ClientError):
    code = "IdempotentParameterMismatch"

    def __init__(self, token: str) -> None:
        super().__init__(f"The client token {token} was used before with different parameters.")


def install_ec2_client_tokens() -> None:
    """Patch moto (in this process); calling it again changes nothing."""
    with _LOCK:
        if _INSTALLED.is_set():
            return
        for response, operation in (
            (NatGateways, "create_nat_gateway"),
            (VPCs, "create_vpc_endpoint"),
            (FlowLogs, "create_flow_logs"),
        ):
            setattr(response, operation, _idempotent(operation, getattr(response, operation)))
        _INSTALLED.set()


def _idempotent(operation: str, create: Handler) -> Handler:
    def handler(self: Any) -> ActionResult:
        token = self._get_param("ClientToken")
        if not token:
            return create(self)
        request = json.dumps({k: v for k, v in self.querystring.items() if k not in _ENVELOPE}, sort_keys=True)
        answers: dict[tuple[str, str], tuple[str, ActionResult]] = self.ec2_backend.__dict__.setdefault(_ANSWERS, {})
        with _CREATES:
            earlier = answers.get((operation, token))
            if earlier is not None:
                if earlier[0] != request:
                    raise _IdempotentParameterMismatchError(token)
                return earlier[1]  # its resources are moto's live objects: their state now
            answer = create(self)
            answers[(operation, token)] = (request, answer)
            return answer

    return handler
