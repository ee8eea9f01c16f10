"""The network layer's desired state: a pure function of the region spec and resolved settings."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from cutlass_operator.api.environment import CutlassEnvironmentSpec, Tier, TierSettings, resolve_settings
from cutlass_operator.api.region import CutlassRegionSpec
from cutlass_operator.engine.identity import COMPONENT, KEY, MANAGED_BY, WORKSPACE, Workspace
from cutlass_operator.engine.resource import Desired, Observed, Ref, iter_refs
from cutlass_operator.layers.base import RegionInputs
from cutlass_operator.layers.network import NetworkLayer
from cutlass_operator.workflows.layers import kinds_of

SEED_NETWORK = {
    "vpcCidr": "10.0.0.0/16",
    "publicSubnetCidrs": ["10.0.1.0/24", "10.0.2.0/24"],
    "privateSubnetCidrs": ["10.0.3.0/24", "10.0.4.0/24"],
}


def inputs(
    tier: str = "dev",
    account: str = "111111111111",
    network: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> RegionInputs:
    environment = CutlassEnvironmentSpec.model_validate(
        {"accountId": account, "tier": tier, "notifications": {"senderEmail": "alerts@example.com"}}
    )
    region = CutlassRegionSpec.model_validate(
        {
            "environmentRef": {"name": tier},
            "region": "london",
            "awsRegion": "eu-west-2",
            "network": {**SEED_NETWORK, **(network or {})},
            "settings": settings or {},
            "tags": {"CostCentre": "reporting"},
        }
    )
    workspace = Workspace(tier, "london", "eu-west-2", account, extra_tags=region.tags)
    resolved = resolve_settings(Tier(tier), environment.settings, TierSettings.model_validate(settings or {}))
    return RegionInputs(workspace, environment, region, resolved)


def by_key(entries: list[Desired]) -> dict[str, Desired]:
    return {d.key: d for d in entries}


SEED_KEYS = [
    "network/vpc",
    "network/internet-gateway",
    "network/public-subnet/a",
    "network/public-subnet/b",
    "network/private-subnet/a",
    "network/private-subnet/b",
    "network/nat-eip/a",
    "network/nat-gateway/a",
    "network/public-route-table",
    "network/private-route-table/a",
    "network/private-route-table/b",
    "network/lambda-security-group",
    "network/vpc-endpoint/dynamodb",
]


class TestSeedDevLondon:
    def test_emits_the_seed_resources_with_a_single_nat_gateway_and_no_flow_logs(self) -> None:
        assert [d.key for d in NetworkLayer().desired(inputs())] == SEED_KEYS

    def test_names_follow_the_seed_convention(self) -> None:
        names = {d.key: d.name for d in NetworkLayer().desired(inputs())}
        assert names["network/vpc"] == "cutlass-tech-vpc-dev-london"
        assert names["network/public-subnet/a"] == "cutlass-tech-public-subnet-dev-london-a"
        assert names["network/private-subnet/b"] == "cutlass-tech-private-subnet-dev-london-b"
        assert names["network/nat-gateway/a"] == "cutlass-tech-nat-gateway-dev-london-a"
        assert names["network/lambda-security-group"] == "cutlass-tech-lambda-sg-dev-london"
        assert names["network/vpc-endpoint/dynamodb"] == "cutlass-tech-dynamodb-endpoint-dev-london"

    def test_vpc_has_the_spec_cidr_and_dns_on(self) -> None:
        vpc = by_key(NetworkLayer().desired(inputs()))["network/vpc"]
        assert vpc.kind == "ec2.vpc"
        assert vpc.properties == {"cidrBlock": "10.0.0.0/16", "enableDnsSupport": True, "enableDnsHostnames": True}

    def test_subnets_are_spread_over_zones_and_only_public_ones_map_public_ips(self) -> None:
        entries = by_key(NetworkLayer().desired(inputs()))
        assert entries["network/public-subnet/b"].properties == {
            "vpcId": Ref("network/vpc", "id"),
            "cidrBlock": "10.0.2.0/24",
            "availabilityZone": "eu-west-2b",
            "mapPublicIpOnLaunch": True,
        }
        assert entries["network/private-subnet/a"].properties["cidrBlock"] == "10.0.3.0/24"
        assert entries["network/private-subnet/a"].properties["mapPublicIpOnLaunch"] is False

    def test_the_nat_gateway_sits_in_the_first_public_subnet_once_the_igw_exists(self) -> None:
        nat = by_key(NetworkLayer().desired(inputs()))["network/nat-gateway/a"]
        assert nat.properties == {
            "subnetId": Ref("network/public-subnet/a", "id"),
            "allocationId": Ref("network/nat-eip/a", "id"),
            "connectivityType": "public",
        }
        assert nat.dependencies() == {"network/public-subnet/a", "network/nat-eip/a", "network/internet-gateway"}

    def test_public_traffic_goes_to_the_igw_and_private_traffic_to_the_nat(self) -> None:
        entries = by_key(NetworkLayer().desired(inputs()))
        public = entries["network/public-route-table"].properties
        assert public["routes"] == [
            {"destinationCidrBlock": "0.0.0.0/0", "gatewayId": Ref("network/internet-gateway", "id")}
        ]
        assert public["subnetIds"] == [Ref("network/public-subnet/a", "id"), Ref("network/public-subnet/b", "id")]
        for zone in "ab":
            private = entries[f"network/private-route-table/{zone}"].properties
            assert private["routes"] == [
                {"destinationCidrBlock": "0.0.0.0/0", "natGatewayId": Ref("network/nat-gateway/a", "id")}
            ]
            assert private["subnetIds"] == [Ref(f"network/private-subnet/{zone}", "id")]

    def test_the_lambda_group_allows_all_egress_and_no_ingress(self) -> None:
        group = by_key(NetworkLayer().desired(inputs()))["network/lambda-security-group"].properties
        assert group["groupName"] == "cutlass-tech-lambda-sg-dev-london"
        assert group["ingress"] == []
        assert group["egress"] == [{"protocol": "-1", "cidrIpv4": "0.0.0.0/0"}]

    def test_the_dynamodb_gateway_endpoint_serves_every_private_route_table(self) -> None:
        endpoint = by_key(NetworkLayer().desired(inputs()))["network/vpc-endpoint/dynamodb"].properties
        assert endpoint == {
            "vpcId": Ref("network/vpc", "id"),
            "serviceName": "com.amazonaws.eu-west-2.dynamodb",
            "vpcEndpointType": "Gateway",
            "routeTableIds": [Ref("network/private-route-table/a", "id"), Ref("network/private-route-table/b", "id")],
        }

    def test_every_entry_carries_identity_and_seed_tags(self) -> None:
        for entry in NetworkLayer().desired(inputs()):
            assert entry.tags[KEY] == entry.key
            assert entry.tags["Name"] == entry.name
            assert entry.tags[COMPONENT] == "network"
            assert entry.tags[MANAGED_BY] == "cutlass-operator"
            assert entry.tags[WORKSPACE] == "dev-london"
            assert entry.tags["Environment"] == "dev"
            assert entry.tags["Region"] == "london"
            assert entry.tags["Account"] == "111111111111"
            assert entry.tags["CostCentre"] == "reporting"


class TestGraph:
    @pytest.mark.parametrize("mode", ["Single", "PerAZ", "None"])
    def test_every_reference_points_at_an_entry_of_the_layer(self, mode: str) -> None:
        entries = NetworkLayer().desired(
            inputs(
                network={"natGateways": mode, "vpcEndpoints": {"s3": True, "interface": ["sqs"]}},
                settings={"enhancedSecurity": True},
            )
        )
        keys = {d.key for d in entries}
        assert len(keys) == len(entries)
        for entry in entries:
            assert entry.dependencies() <= keys, entry.key

    def test_dependencies_form_no_cycle(self) -> None:
        entries = by_key(NetworkLayer().desired(inputs(settings={"enhancedSecurity": True})))
        done: set[str] = set()
        while len(done) < len(entries):
            ready = {k for k, d in entries.items() if k not in done and d.dependencies() <= done}
            assert ready, f"cycle among {set(entries) - done}"
            done |= ready

    def test_the_builder_imports_no_aws_sdk(self) -> None:
        code = "import sys, cutlass_operator.layers.network; print(sorted(m for m in sys.modules if 'boto' in m))"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert result.stdout.strip() == "[]"

    def test_the_kinds_cover_every_desired_kind(self) -> None:
        layer = NetworkLayer()
        given = inputs(
            network={"natGateways": "PerAZ", "vpcEndpoints": {"interface": ["kms"]}},
            settings={"enhancedSecurity": True},
        )
        kinds = set(kinds_of(layer, given))
        entries = layer.desired(given)
        assert {d.kind for d in entries} <= kinds

    def test_same_input_gives_the_same_list(self) -> None:
        spec = {"natGateways": "PerAZ", "vpcEndpoints": {"s3": True, "interface": ["sqs", "kms", "logs"]}}
        first = NetworkLayer().desired(inputs(network=spec, settings={"enhancedSecurity": True}))
        second = NetworkLayer().desired(inputs(network=spec, settings={"enhancedSecurity": True}))
        assert first == second


class TestNatModes:
    def test_per_az_puts_a_nat_gateway_in_each_zone_and_routes_each_zone_to_its_own(self) -> None:
        entries = by_key(NetworkLayer().desired(inputs(network={"natGateways": "PerAZ"})))
        assert {k for k in entries if k.startswith("network/nat-gateway/")} == {
            "network/nat-gateway/a",
            "network/nat-gateway/b",
        }
        assert entries["network/nat-gateway/b"].properties["subnetId"] == Ref("network/public-subnet/b", "id")
        assert entries["network/nat-gateway/b"].properties["allocationId"] == Ref("network/nat-eip/b", "id")
        for zone in "ab":
            routes = entries[f"network/private-route-table/{zone}"].properties["routes"]
            assert routes == [
                {"destinationCidrBlock": "0.0.0.0/0", "natGatewayId": Ref(f"network/nat-gateway/{zone}", "id")}
            ]

    def test_per_az_sends_a_zone_without_a_public_subnet_to_the_first_nat_gateway(self) -> None:
        network = {
            "natGateways": "PerAZ",
            "publicSubnetCidrs": ["10.0.1.0/24"],
            "privateSubnetCidrs": ["10.0.3.0/24", "10.0.4.0/24"],
        }
        entries = by_key(NetworkLayer().desired(inputs(network=network)))
        assert "network/nat-gateway/b" not in entries
        routes = entries["network/private-route-table/b"].properties["routes"]
        assert routes == [{"destinationCidrBlock": "0.0.0.0/0", "natGatewayId": Ref("network/nat-gateway/a", "id")}]

    def test_none_has_no_nat_gateway_no_address_and_no_default_route_on_private_tables(self) -> None:
        entries = by_key(NetworkLayer().desired(inputs(network={"natGateways": "None"})))
        assert not [k for k in entries if k.startswith(("network/nat-gateway/", "network/nat-eip/"))]
        for zone in "ab":
            assert entries[f"network/private-route-table/{zone}"].properties["routes"] == []

    def test_the_private_route_tables_keep_their_keys_across_modes(self) -> None:
        def tables(mode: str) -> set[str]:
            entries = NetworkLayer().desired(inputs(network={"natGateways": mode}))
            return {d.key for d in entries if d.kind == "ec2.route_table"}

        assert tables("Single") == tables("PerAZ") == tables("None")


class TestFlowLogs:
    def test_enhanced_security_turns_flow_logs_on_with_the_tier_retention(self) -> None:
        entries = by_key(NetworkLayer().desired(inputs(tier="prod", account="333333333333")))
        group = entries["network/flow-logs/log-group"]
        assert group.kind == "logs.log_group"
        assert group.properties == {
            "logGroupName": "/aws/vpc/flowlogs/cutlass-tech-vpc-prod-london",
            "retentionInDays": 30,
        }
        flow_log = entries["network/flow-log"]
        assert flow_log.properties == {
            "resourceId": Ref("network/vpc", "id"),
            "resourceType": "VPC",
            "trafficType": "ALL",
            "logGroupName": Ref("network/flow-logs/log-group", "name"),
            "deliverLogsPermissionArn": Ref("network/flow-logs/role", "arn"),
        }

    def test_the_delivery_role_is_trusted_by_flow_logs_of_this_account_only(self) -> None:
        role = by_key(NetworkLayer().desired(inputs(tier="prod", account="333333333333")))["network/flow-logs/role"]
        assert role.name == "cutlass-tech-flow-logs-prod-london"
        assert role.properties["path"] == "/cutlass-tech/prod-london/network/"
        (statement,) = role.properties["assumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "333333333333"}
        assert statement["Condition"]["ArnLike"] == {
            "aws:SourceArn": "arn:aws:ec2:eu-west-2:333333333333:vpc-flow-log/*"
        }

    def test_the_delivery_role_may_write_only_to_its_log_group(self) -> None:
        role = by_key(NetworkLayer().desired(inputs(tier="prod", account="333333333333")))["network/flow-logs/role"]
        (statement,) = role.properties["inlinePolicies"]["flow-logs-delivery"]["Statement"]
        assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
        assert statement["Resource"] == [
            Ref("network/flow-logs/log-group", "arn"),
            Ref("network/flow-logs/log-group", "streamsArn"),
        ]

    def test_an_explicit_setting_wins_over_enhanced_security(self) -> None:
        off = NetworkLayer().desired(inputs(tier="prod", network={"flowLogs": {"enabled": False}}))
        assert not [d for d in off if d.key.startswith("network/flow")]
        on = by_key(NetworkLayer().desired(inputs(network={"flowLogs": {"enabled": True, "trafficType": "REJECT"}})))
        assert on["network/flow-log"].properties["trafficType"] == "REJECT"
        assert on["network/flow-logs/log-group"].properties["retentionInDays"] == 7

    def test_a_region_override_of_enhanced_security_turns_flow_logs_on(self) -> None:
        keys = [d.key for d in NetworkLayer().desired(inputs(settings={"enhancedSecurity": True}))]
        assert keys[-3:] == ["network/flow-logs/log-group", "network/flow-logs/role", "network/flow-log"]


class TestEndpoints:
    def test_s3_adds_a_second_gateway_endpoint(self) -> None:
        entries = by_key(NetworkLayer().desired(inputs(network={"vpcEndpoints": {"s3": True}})))
        assert entries["network/vpc-endpoint/s3"].properties["serviceName"] == "com.amazonaws.eu-west-2.s3"

    def test_dynamodb_can_be_turned_off(self) -> None:
        entries = by_key(NetworkLayer().desired(inputs(network={"vpcEndpoints": {"dynamodb": False}})))
        assert not [k for k in entries if k.startswith("network/vpc-endpoint/")]

    def test_interface_endpoints_sit_in_the_private_subnets_behind_their_own_group(self) -> None:
        entries = by_key(NetworkLayer().desired(inputs(network={"vpcEndpoints": {"interface": ["sqs", "kms"]}})))
        sqs = entries["network/vpc-endpoint/sqs"]
        assert sqs.name == "cutlass-tech-sqs-endpoint-dev-london"
        assert sqs.properties == {
            "vpcId": Ref("network/vpc", "id"),
            "serviceName": "com.amazonaws.eu-west-2.sqs",
            "vpcEndpointType": "Interface",
            "subnetIds": [Ref("network/private-subnet/a", "id"), Ref("network/private-subnet/b", "id")],
            "securityGroupIds": [Ref("network/endpoint-security-group", "id")],
            "privateDnsEnabled": True,
        }
        group = entries["network/endpoint-security-group"].properties
        assert group["ingress"] == [
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "groupId": Ref("network/lambda-security-group", "id")}
        ]
        assert group["egress"] == []

    def test_no_interface_endpoints_means_no_endpoint_group(self) -> None:
        assert "network/endpoint-security-group" not in by_key(NetworkLayer().desired(inputs()))


class TestOutputs:
    def test_outputs_name_the_ids_a_user_needs(self) -> None:
        entries = NetworkLayer().desired(
            inputs(network={"vpcEndpoints": {"s3": True}}, settings={"enhancedSecurity": True})
        )
        observed = {d.key: Observed(d.key, d.kind, f"id-{d.key.replace('/', '-')}", {}, dict(d.tags)) for d in entries}
        outputs = NetworkLayer().outputs(observed)
        assert outputs == {
            "vpcId": "id-network-vpc",
            "publicSubnetIds": ["id-network-public-subnet-a", "id-network-public-subnet-b"],
            "privateSubnetIds": ["id-network-private-subnet-a", "id-network-private-subnet-b"],
            "natGatewayIds": ["id-network-nat-gateway-a"],
            "lambdaSecurityGroupId": "id-network-lambda-security-group",
            "vpcEndpointIds": {"dynamodb": "id-network-vpc-endpoint-dynamodb", "s3": "id-network-vpc-endpoint-s3"},
            "flowLogId": "id-network-flow-log",
        }

    def test_outputs_leave_out_what_does_not_exist_yet(self) -> None:
        assert NetworkLayer().outputs({}) == {
            "publicSubnetIds": [],
            "privateSubnetIds": [],
            "natGatewayIds": [],
            "vpcEndpointIds": {},
        }


def test_refs_only_name_outputs_the_kinds_provide() -> None:
    provided = {
        "ec2.vpc": {"id"},
        "ec2.subnet": {"id", "availabilityZone", "cidrBlock"},
        "ec2.internet_gateway": {"id"},
        "ec2.eip": {"id", "publicIp"},
        "ec2.nat_gateway": {"id", "publicIp", "subnetId"},
        "ec2.route_table": {"id"},
        "ec2.security_group": {"id"},
        "logs.log_group": {"id", "name", "arn", "streamsArn"},
        "iam.role": {"id", "name", "arn"},
    }
    entries = by_key(
        NetworkLayer().desired(
            inputs(
                network={"natGateways": "PerAZ", "vpcEndpoints": {"s3": True, "interface": ["sqs"]}},
                settings={"enhancedSecurity": True},
            )
        )
    )
    for entry in entries.values():
        for ref in iter_refs(entry.properties):
            assert ref.output in provided[entries[ref.key].kind], (entry.key, ref)
