"""Shared fixtures: the embedded AWS emulator (a moto server over HTTP) and fresh accounts."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator

import pytest

from cutlass_operator.api.environment import Credentials, CredentialsSource
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.session import AwsClients, environment_session
from cutlass_operator.emulator.aws import aws_emulator, pointed_at
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.resource import KindContext

_accounts = itertools.count(100000000001)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with aws_emulator() as endpoint, pointed_at(endpoint):
        yield endpoint


@pytest.fixture
def account_id(moto_endpoint: str) -> str:
    """A fresh 12-digit account per test: moto isolates accounts, so tests never see each other."""
    return str(next(_accounts))


@pytest.fixture
def role_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:role/cutlass-operator"


@pytest.fixture
def clients(role_arn: str) -> AwsClients:
    """Clients acting in the test's own account (moto honours the assumed role's account)."""
    creds = Credentials(source=CredentialsSource.ASSUME_ROLE, role_arn=role_arn)
    return AwsClients(environment_session(creds, None, "eu-west-2"), "eu-west-2", CallLog())


@pytest.fixture
def workspace(account_id: str) -> Workspace:
    """The seed's dev-london workspace, in the test's own account."""
    return Workspace("dev", "london", "eu-west-2", account_id, {})


@pytest.fixture
def ctx(clients: AwsClients, account_id: str, workspace: Workspace) -> KindContext:
    """What a resource kind is given: the test account's clients and the workspace's selector."""
    return KindContext(clients=clients, account_id=account_id, region="eu-west-2", selector=workspace.selector())


@pytest.fixture
def calls(clients: AwsClients) -> CallLog:
    """Every AWS call the `clients` made, to count reads and writes."""
    assert clients.calls is not None
    return clients.calls
