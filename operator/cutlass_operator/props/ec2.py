"""The VPC and what lives in it: subnets, gateways, route tables, security groups, endpoints, flow logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cutlass_operator.engine.resource import Props, Ref, Struct, unmanaged_when_none


@dataclass(frozen=True)
class VpcProps(Props):
    kind = "ec2.vpc"

    cidr_block: str
    enable_dns_support: bool = True
    enable_dns_hostnames: bool = False


@dataclass(frozen=True)
class SubnetProps(Props):
    kind = "ec2.subnet"

    vpc_id: str | Ref
    cidr_block: str
    availability_zone: str
    map_public_ip_on_launch: bool = False


@dataclass(frozen=True)
class InternetGatewayProps(Props):
    """`vpc_id`: the VPC the gateway is attached to."""

    kind = "ec2.internet_gateway"

    vpc_id: str | Ref


@dataclass(frozen=True)
class ElasticIpProps(Props):
    kind = "ec2.eip"

    domain: Literal["vpc"] = "vpc"


@dataclass(frozen=True)
class NatGatewayProps(Props):
    """`allocation_id`: the Elastic IP that is the gateway's primary public address."""

    kind = "ec2.nat_gateway"

    subnet_id: str | Ref
    allocation_id: str | Ref
    connectivity_type: Literal["public", "private"] = "public"


@dataclass(frozen=True)
class Route(Struct):
    """A route to one target: exactly one of the target fields is set."""

    destination_cidr_block: str
    gateway_id: str | Ref | None = unmanaged_when_none()
    nat_gateway_id: str | Ref | None = unmanaged_when_none()


@dataclass(frozen=True)
class RouteTableProps(Props):
    """`routes` leaves out the routes AWS and gateway endpoints own (the VPC's local route,
    propagated and prefix-list routes). `subnet_ids`: the associated subnets."""

    kind = "ec2.route_table"

    vpc_id: str | Ref
    routes: tuple[Route, ...] = ()
    subnet_ids: tuple[str | Ref, ...] = ()


@dataclass(frozen=True)
class SecurityGroupRule(Struct):
    """One rule with one source (ingress) or destination (egress): `cidr_ipv4` or `group_id`.
    `protocol` "-1" is every protocol, and then takes no ports."""

    protocol: Literal["-1", "tcp", "udp", "icmp"]
    from_port: int | None = unmanaged_when_none()
    to_port: int | None = unmanaged_when_none()
    cidr_ipv4: str | None = unmanaged_when_none()
    group_id: str | Ref | None = unmanaged_when_none()


@dataclass(frozen=True)
class SecurityGroupProps(Props):
    """`ingress` and `egress` are the whole rule sets: a new group's default all-egress rule goes
    unless `egress` lists it."""

    kind = "ec2.security_group"

    vpc_id: str | Ref
    group_name: str
    description: str
    ingress: tuple[SecurityGroupRule, ...] = ()
    egress: tuple[SecurityGroupRule, ...] = ()


@dataclass(frozen=True)
class VpcEndpointProps(Props):
    """A Gateway endpoint sets `route_table_ids`; an Interface endpoint sets `subnet_ids`,
    `security_group_ids` and `private_dns_enabled`. The endpoint policy stays AWS's default."""

    kind = "ec2.vpc_endpoint"

    vpc_id: str | Ref
    service_name: str
    vpc_endpoint_type: Literal["Gateway", "Interface"]
    route_table_ids: tuple[str | Ref, ...] | None = unmanaged_when_none()
    subnet_ids: tuple[str | Ref, ...] | None = unmanaged_when_none()
    security_group_ids: tuple[str | Ref, ...] | None = unmanaged_when_none()
    private_dns_enabled: bool | None = unmanaged_when_none()


@dataclass(frozen=True)
class FlowLogProps(Props):
    """A flow log delivered to a CloudWatch Logs group, as the role `deliver_logs_permission_arn`."""

    kind = "ec2.flow_log"

    resource_id: str | Ref
    log_group_name: str | Ref
    deliver_logs_permission_arn: str | Ref
    resource_type: Literal["VPC", "Subnet", "NetworkInterface"] = "VPC"
    traffic_type: Literal["ACCEPT", "REJECT", "ALL"] = "ALL"
