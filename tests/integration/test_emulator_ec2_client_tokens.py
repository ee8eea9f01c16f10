"""EC2 creates repeated with their ClientToken, in the emulator, over HTTP as the product sends them.

moto 5.2.5 ignores the token; `emulator/ec2_client_tokens.py` answers as AWS does: the repeat of a
request returns what the first one made and makes nothing, and the token with other parameters is
refused. A NAT gateway, a VPC endpoint and flow logs, each created twice with one token.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cutlass_operator.aws.session import AwsClients

pytestmark = pytest.mark.integration


@pytest.fixture
def ec2(clients: AwsClients) -> Any:
    return clients.client("ec2")


@pytest.fixture
def subnet(ec2: Any) -> tuple[str, str]:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return vpc, ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]


def token() -> str:
    return uuid.uuid4().hex


def test_a_nat_gateway_created_twice_with_one_token_is_one_gateway(ec2: Any, subnet: tuple[str, str]) -> None:
    vpc, subnet_id = subnet
    address = ec2.allocate_address(Domain="vpc")["AllocationId"]
    same = token()
    first = ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=address, ClientToken=same)["NatGateway"]
    again = ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=address, ClientToken=same)["NatGateway"]
    assert again["NatGatewayId"] == first["NatGatewayId"]
    listed = ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NatGateways"]
    assert [n["NatGatewayId"] for n in listed] == [first["NatGatewayId"]]

    ec2.delete_nat_gateway(NatGatewayId=first["NatGatewayId"])
    after = ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=address, ClientToken=same)["NatGateway"]
    assert after["NatGatewayId"] == first["NatGatewayId"]  # AWS hands back the deleted gateway
    assert after["State"] in ("deleting", "deleted")


def test_a_token_repeated_with_other_parameters_is_refused(ec2: Any, subnet: tuple[str, str]) -> None:
    _, subnet_id = subnet
    first, second = (ec2.allocate_address(Domain="vpc")["AllocationId"] for _ in range(2))
    same = token()
    ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=first, ClientToken=same)
    with pytest.raises(ClientError) as refused:
        ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=second, ClientToken=same)
    assert refused.value.response["Error"]["Code"] == "IdempotentParameterMismatch"


def test_a_vpc_endpoint_created_twice_with_one_token_is_one_endpoint(ec2: Any, subnet: tuple[str, str]) -> None:
    vpc, _ = subnet
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    request = {
        "VpcId": vpc,
        "ServiceName": "com.amazonaws.eu-west-2.s3",
        "VpcEndpointType": "Gateway",
        "RouteTableIds": [table],
        "ClientToken": token(),
    }
    first = ec2.create_vpc_endpoint(**request)["VpcEndpoint"]["VpcEndpointId"]
    again = ec2.create_vpc_endpoint(**request)["VpcEndpoint"]["VpcEndpointId"]
    assert again == first
    listed = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
    assert [e["VpcEndpointId"] for e in listed] == [first]


def test_flow_logs_created_twice_with_one_token_are_one_flow_log(ec2: Any, subnet: tuple[str, str]) -> None:
    vpc, _ = subnet
    request = {
        "ResourceIds": [vpc],
        "ResourceType": "VPC",
        "TrafficType": "ALL",
        "LogDestinationType": "cloud-watch-logs",
        "LogGroupName": f"/flow-logs/{vpc}",
        "DeliverLogsPermissionArn": "arn:aws:iam::123456789012:role/flow-logs",
        "ClientToken": token(),
    }
    first = ec2.create_flow_logs(**request)["FlowLogIds"]
    again = ec2.create_flow_logs(**request)["FlowLogIds"]
    assert again == first and len(first) == 1
    listed = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc]}])["FlowLogs"]
    assert [f["FlowLogId"] for f in listed] == first
