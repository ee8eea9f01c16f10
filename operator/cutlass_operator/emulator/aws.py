"""The embedded AWS: a moto server on a loopback port, reached over real HTTP."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer

from cutlass_operator.emulator.apigateway_gaps import install_apigateway_gaps
from cutlass_operator.emulator.apigateway_tags import install_apigateway_tags
from cutlass_operator.emulator.cognito_gaps import install_cognito_gaps
from cutlass_operator.emulator.dynamodb_replicas import install_global_tables
from cutlass_operator.emulator.ec2_client_tokens import install_ec2_client_tokens
from cutlass_operator.emulator.lambda_concurrency import install_provisioned_concurrency
from cutlass_operator.emulator.lambda_runner import install_lambda_runner
from cutlass_operator.emulator.lambda_updates import install_configuration_updates
from cutlass_operator.emulator.lambda_versions import install_version_numbers
from cutlass_operator.emulator.route53_gaps import install_route53_gaps
from cutlass_operator.emulator.s3_tls import install_secure_transport
from cutlass_operator.emulator.tagging_types import install_tagging_types

# moto accepts any keys; these only have to look like keys to botocore.
EMULATOR_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAEMULATOR00000000",
    "AWS_SECRET_ACCESS_KEY": "emulator-secret",
    "AWS_DEFAULT_REGION": "eu-west-2",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def aws_emulator(port: int | None = None) -> Iterator[str]:
    """Run the emulator for the duration of the block and yield its endpoint URL."""
    install_global_tables()  # fills moto's DynamoDB global tables gap, in this process's backends
    install_provisioned_concurrency()  # moto's Lambda has no provisioned concurrency API
    install_configuration_updates()  # moto's UpdateFunctionConfiguration drops the key and tracing
    install_version_numbers()  # moto reuses a deleted version's number
    install_cognito_gaps()  # moto's Cognito lacks tagging and resource-server updates
    install_apigateway_tags()  # moto's API Gateway tags only stages (and routes only their ARNs)
    install_apigateway_gaps()  # moto has no UpdateDomainName, and a 500 for deleting a missing API
    install_route53_gaps()  # moto's Route 53 judges record changes by history and ignores CallerReference
    install_ec2_client_tokens()  # moto's EC2 creates ignore ClientToken (NAT gateways, endpoints, flow logs)
    install_secure_transport()  # bucket policies judged as for AWS's HTTPS endpoint (TLS-only policies)
    install_tagging_types()  # moto's tagging API calls a log group `logs:loggroup`, AWS `logs:log-group`
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port or free_port(), verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    install_lambda_runner(f"http://{host}:{bound}")  # moto runs functions only in Docker; Python ones run here
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.stop()


@contextmanager
def pointed_at(endpoint: str) -> Iterator[None]:
    """Point botocore at the emulator via its own settings, restoring the environment afterwards."""
    saved = {k: os.environ.get(k) for k in (*EMULATOR_ENV, "AWS_ENDPOINT_URL")}
    os.environ.update(EMULATOR_ENV)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
