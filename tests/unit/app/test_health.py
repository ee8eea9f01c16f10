from __future__ import annotations

import pytest

from cutlass_operator.app import health

from .conftest import Aws, api, decoded


def test_ok_when_the_table_is_reachable(aws: Aws) -> None:
    response = health.handler(api("GET", "/health"), None)
    assert response["statusCode"] == 200
    assert decoded(response) == {"status": "ok", "region": "eu-west-2", "table": "reachable"}


def test_503_when_the_table_is_missing(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITS_TABLE", "cutlass-tech-credits-nowhere")
    response = health.handler(api("GET", "/health"), None)
    assert response["statusCode"] == 503
    assert decoded(response)["table"] == "unreachable"
    assert decoded(response)["region"] == "eu-west-2"
