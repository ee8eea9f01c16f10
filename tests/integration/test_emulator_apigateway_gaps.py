"""API Gateway in the emulator where moto 5.2.5 falls short, over HTTP as the kinds call it
(`emulator/apigateway_gaps.py`): UpdateDomainName applies the settings AWS lets a domain change in
place (its certificate, security policy and endpoint type), all or nothing; deleting a REST API, a
usage plan, a plan's key or a resource that is gone answers 404 as AWS does, not 500; a domain
without base path mappings lists none.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cutlass_operator.aws.session import AwsClients

pytestmark = pytest.mark.integration


def certificate(account_id: str) -> str:
    return f"arn:aws:acm:eu-west-2:{account_id}:certificate/{uuid.uuid4()}"


@pytest.fixture
def domain(clients: AwsClients, account_id: str) -> tuple[Any, str]:
    apigw = clients.client("apigateway")
    name = f"api-{uuid.uuid4().hex[:8]}.example.com"
    apigw.create_domain_name(
        domainName=name,
        regionalCertificateArn=certificate(account_id),
        endpointConfiguration={"types": ["REGIONAL"]},
        securityPolicy="TLS_1_2",
    )
    return apigw, name


def replace(path: str, value: str) -> dict[str, str]:
    return {"op": "replace", "path": path, "value": value}


def test_a_domains_certificate_and_policy_change_in_place(domain: tuple[Any, str], account_id: str) -> None:
    apigw, name = domain
    other = certificate(account_id)
    answer = apigw.update_domain_name(
        domainName=name,
        patchOperations=[replace("/regionalCertificateArn", other), replace("/securityPolicy", "TLS_1_0")],
    )
    assert answer["regionalCertificateArn"] == other
    read = apigw.get_domain_name(domainName=name)
    assert (read["regionalCertificateArn"], read["securityPolicy"]) == (other, "TLS_1_0")


def test_an_update_with_one_bad_operation_changes_nothing(domain: tuple[Any, str], account_id: str) -> None:
    apigw, name = domain
    before = apigw.get_domain_name(domainName=name)
    for bad in (
        replace("/endpointConfiguration/types/EDGE", "REGIONAL"),  # not its endpoint type
        replace("/securityPolicy", "TLS_0_9"),
        replace("/domainName", "other.example.com"),
    ):
        with pytest.raises(ClientError) as refused:
            apigw.update_domain_name(
                domainName=name, patchOperations=[replace("/regionalCertificateArn", certificate(account_id)), bad]
            )
        assert refused.value.response["Error"]["Code"] == "BadRequestException"
    after = apigw.get_domain_name(domainName=name)
    assert after["regionalCertificateArn"] == before["regionalCertificateArn"]
    assert after["securityPolicy"] == before["securityPolicy"]


def test_a_domain_without_mappings_lists_none(domain: tuple[Any, str]) -> None:
    apigw, name = domain
    assert apigw.get_base_path_mappings(domainName=name).get("items", []) == []


def test_deleting_what_is_gone_answers_not_found(clients: AwsClients) -> None:
    apigw = clients.client("apigateway")
    api = apigw.create_rest_api(name=f"gone-{uuid.uuid4().hex[:8]}")
    resource = apigw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="x")["id"]
    plan = apigw.create_usage_plan(name=f"gone-{uuid.uuid4().hex[:8]}")["id"]
    key = apigw.create_api_key(name=f"gone-{uuid.uuid4().hex[:8]}", enabled=True)["id"]
    apigw.create_usage_plan_key(usagePlanId=plan, keyId=key, keyType="API_KEY")
    deletes: list[tuple[str, dict[str, str]]] = [
        ("delete_usage_plan_key", {"usagePlanId": plan, "keyId": key}),
        ("delete_usage_plan", {"usagePlanId": plan}),
        ("delete_resource", {"restApiId": api["id"], "resourceId": resource}),
        ("delete_rest_api", {"restApiId": api["id"]}),
    ]
    for operation, params in deletes:
        getattr(apigw, operation)(**params)
        with pytest.raises(ClientError) as gone:
            getattr(apigw, operation)(**params)  # again: what a repeat after a lost answer meets
        assert gone.value.response["Error"]["Code"] == "NotFoundException", operation
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404, operation
