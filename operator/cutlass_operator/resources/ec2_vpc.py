"""The VPC, its subnets and its internet gateway. A VPC's CIDR block and a subnet's VPC, block and
zone cannot change in place; an internet gateway observed detached reports `vpcId` None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cutlass_operator.aws.fanout import each
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind
from cutlass_operator.props.ec2 import InternetGatewayProps, SubnetProps, VpcProps
from cutlass_operator.resources.ec2_common import describe_name, ec2_client, managed_tags, sync_tags
from cutlass_operator.resources.errors import aws_errors, tolerate_not_found
from cutlass_operator.resources.tags import key_of, selector_filters, tag_specifications

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.literals import VpcAttributeNameType

# DescribeVpcs does not return the DNS attributes; each one costs a DescribeVpcAttribute call.
DNS_ATTRIBUTES: dict[str, VpcAttributeNameType] = {
    "enableDnsSupport": "enableDnsSupport",
    "enableDnsHostnames": "enableDnsHostnames",
}


class VpcKind(ResourceKind[VpcProps]):
    props = VpcProps
    delete_rank = 10
    immutable = frozenset({"cidrBlock"})

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[VpcProps]]) -> list[Observed]:
        ec2 = ec2_client(ctx)
        wanted = {d.key for d in desired}
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind}"):
            for page in ec2.get_paginator("describe_vpcs").paginate(Filters=selector_filters(ctx.selector)):
                for vpc in page["Vpcs"]:
                    tags = managed_tags(vpc, ctx.selector)
                    if tags is None:
                        continue
                    key = key_of(tags, vpc["VpcId"])
                    properties: dict[str, Any] = {"cidrBlock": vpc["CidrBlock"]}
                    # Orphans are only deleted, so their attributes are not worth two reads each.
                    if key in wanted:
                        properties |= _dns_attributes(ec2, vpc["VpcId"])
                    found.append(_observed(self.kind, key, vpc["VpcId"], properties, tags))
        return found

    def create(self, ctx: KindContext, desired: Desired[VpcProps]) -> Observed:
        ec2 = ec2_client(ctx)
        what = f"create {self.kind} {desired.name}"
        with aws_errors(what):
            vpc = ec2.create_vpc(
                CidrBlock=desired.properties["cidrBlock"],
                TagSpecifications=tag_specifications("vpc", desired.tags),
            )["Vpc"]
        vpc_id = vpc["VpcId"]
        # A new VPC has DNS support on and hostnames off; set only what differs from that.
        _set_dns_attributes(ec2, vpc_id, desired.props, {"enableDnsSupport": True, "enableDnsHostnames": False}, what)
        properties = {"cidrBlock": vpc["CidrBlock"], **_dns_properties(desired.props)}
        return _observed(self.kind, desired.key, vpc_id, properties, dict(desired.tags))

    def update(
        self, ctx: KindContext, desired: Desired[VpcProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        ec2 = ec2_client(ctx)
        what = f"update {describe_name(self.kind, observed.tags, observed.id)}"
        _set_dns_attributes(ec2, observed.id, desired.props, observed.properties, what)
        tags = sync_tags(ec2, observed.id, desired.tags, observed.tags, what)
        properties = observed.properties | _dns_properties(desired.props)
        return _observed(self.kind, observed.key, observed.id, properties, tags)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        ec2 = ec2_client(ctx)
        with aws_errors(f"delete {describe_name(self.kind, observed.tags, observed.id)}"), tolerate_not_found():
            ec2.delete_vpc(VpcId=observed.id)


def _dns_attributes(ec2: EC2Client, vpc_id: str) -> dict[str, Any]:
    names = list(DNS_ATTRIBUTES)

    def value(name: str) -> Any:
        response: Any = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=DNS_ATTRIBUTES[name])
        return response[name[0].upper() + name[1:]]["Value"]

    return dict(zip(names, each(value, names), strict=True))


def _dns_properties(props: VpcProps) -> dict[str, bool]:
    return {"enableDnsSupport": props.enable_dns_support, "enableDnsHostnames": props.enable_dns_hostnames}


def _set_dns_attributes(ec2: EC2Client, vpc_id: str, desired: VpcProps, current: Mapping[str, Any], what: str) -> None:
    # AWS refuses hostnames without DNS support, so support goes on first and off last.
    support, hostnames = desired.enable_dns_support, desired.enable_dns_hostnames
    with aws_errors(what):
        if support and current.get("enableDnsSupport") is not True:
            ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
        if current.get("enableDnsHostnames") != hostnames:
            ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": hostnames})
        if not support and current.get("enableDnsSupport") is not False:
            ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": False})


class SubnetKind(ResourceKind[SubnetProps]):
    props = SubnetProps
    delete_rank = 30
    immutable = frozenset({"vpcId", "cidrBlock", "availabilityZone"})

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[SubnetProps]]) -> list[Observed]:
        ec2 = ec2_client(ctx)
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind}"):
            for page in ec2.get_paginator("describe_subnets").paginate(Filters=selector_filters(ctx.selector)):
                for subnet in page["Subnets"]:
                    tags = managed_tags(subnet, ctx.selector)
                    if tags is None:
                        continue
                    properties = {
                        "vpcId": subnet["VpcId"],
                        "cidrBlock": subnet["CidrBlock"],
                        "availabilityZone": subnet["AvailabilityZone"],
                        "mapPublicIpOnLaunch": bool(subnet.get("MapPublicIpOnLaunch", False)),
                    }
                    found.append(
                        _subnet(self.kind, key_of(tags, subnet["SubnetId"]), subnet["SubnetId"], properties, tags)
                    )
        return found

    def create(self, ctx: KindContext, desired: Desired[SubnetProps]) -> Observed:
        ec2 = ec2_client(ctx)
        props = desired.properties
        with aws_errors(f"create {self.kind} {desired.name}"):
            subnet = ec2.create_subnet(
                VpcId=props["vpcId"],
                CidrBlock=props["cidrBlock"],
                AvailabilityZone=props["availabilityZone"],
                TagSpecifications=tag_specifications("subnet", desired.tags),
            )["Subnet"]
            if desired.props.map_public_ip_on_launch:
                ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
        properties = {
            "vpcId": subnet["VpcId"],
            "cidrBlock": subnet["CidrBlock"],
            "availabilityZone": subnet["AvailabilityZone"],
            "mapPublicIpOnLaunch": desired.props.map_public_ip_on_launch,
        }
        return _subnet(self.kind, desired.key, subnet["SubnetId"], properties, dict(desired.tags))

    def update(
        self, ctx: KindContext, desired: Desired[SubnetProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        ec2 = ec2_client(ctx)
        what = f"update {describe_name(self.kind, observed.tags, observed.id)}"
        properties = dict(observed.properties)
        want = desired.props.map_public_ip_on_launch
        if observed.properties.get("mapPublicIpOnLaunch") != want:
            with aws_errors(what):
                ec2.modify_subnet_attribute(SubnetId=observed.id, MapPublicIpOnLaunch={"Value": want})
            properties["mapPublicIpOnLaunch"] = want
        tags = sync_tags(ec2, observed.id, desired.tags, observed.tags, what)
        return _subnet(self.kind, observed.key, observed.id, properties, tags)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        ec2 = ec2_client(ctx)
        with aws_errors(f"delete {describe_name(self.kind, observed.tags, observed.id)}"), tolerate_not_found():
            ec2.delete_subnet(SubnetId=observed.id)


def _subnet(kind: str, key: str, subnet_id: str, properties: dict[str, Any], tags: dict[str, str]) -> Observed:
    outputs = {
        "id": subnet_id,
        "availabilityZone": properties["availabilityZone"],
        "cidrBlock": properties["cidrBlock"],
    }
    return Observed(key, kind, subnet_id, properties, tags, outputs)


# Attachment states in which the gateway serves (or is about to serve) the VPC.
ATTACHED = frozenset({"attached", "attaching", "available"})


class InternetGatewayKind(ResourceKind[InternetGatewayProps]):
    """Create and attach are two calls; a crash between them leaves a detached, tagged gateway
    that observe reports with `vpcId: None`, which `update` attaches."""

    props = InternetGatewayProps
    delete_rank = 40

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[InternetGatewayProps]]) -> list[Observed]:
        ec2 = ec2_client(ctx)
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind}"):
            pages = ec2.get_paginator("describe_internet_gateways").paginate(Filters=selector_filters(ctx.selector))
            for page in pages:
                for igw in page["InternetGateways"]:
                    tags = managed_tags(igw, ctx.selector)
                    if tags is None:
                        continue
                    vpc_ids = [a["VpcId"] for a in igw.get("Attachments", []) if a.get("State") in ATTACHED]
                    igw_id = igw["InternetGatewayId"]
                    properties = {"vpcId": vpc_ids[0] if vpc_ids else None}
                    found.append(_observed(self.kind, key_of(tags, igw_id), igw_id, properties, tags))
        return found

    def create(self, ctx: KindContext, desired: Desired[InternetGatewayProps]) -> Observed:
        ec2 = ec2_client(ctx)
        what = f"create {self.kind} {desired.name}"
        with aws_errors(what):
            igw_id = ec2.create_internet_gateway(
                TagSpecifications=tag_specifications("internet-gateway", desired.tags)
            )["InternetGateway"]["InternetGatewayId"]
            ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=desired.properties["vpcId"])
        return _observed(self.kind, desired.key, igw_id, {"vpcId": desired.properties["vpcId"]}, dict(desired.tags))

    def update(
        self, ctx: KindContext, desired: Desired[InternetGatewayProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        ec2 = ec2_client(ctx)
        what = f"update {describe_name(self.kind, observed.tags, observed.id)}"
        current, wanted = observed.properties.get("vpcId"), desired.properties["vpcId"]
        if current != wanted:
            with aws_errors(what):
                if current is not None:
                    with tolerate_not_found():
                        ec2.detach_internet_gateway(InternetGatewayId=observed.id, VpcId=current)
                ec2.attach_internet_gateway(InternetGatewayId=observed.id, VpcId=wanted)
        tags = sync_tags(ec2, observed.id, desired.tags, observed.tags, what)
        return _observed(self.kind, observed.key, observed.id, {"vpcId": wanted}, tags)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        ec2 = ec2_client(ctx)
        with aws_errors(f"delete {describe_name(self.kind, observed.tags, observed.id)}"):
            vpc_id = observed.properties.get("vpcId")
            if vpc_id is not None:
                # Fails with DependencyViolation while a NAT gateway still holds a public address:
                # retryable, and the NAT gateways are deleted first (higher rank) anyway.
                with tolerate_not_found():
                    ec2.detach_internet_gateway(InternetGatewayId=observed.id, VpcId=vpc_id)
            with tolerate_not_found():
                ec2.delete_internet_gateway(InternetGatewayId=observed.id)


def _observed(kind: str, key: str, resource_id: str, properties: dict[str, Any], tags: dict[str, str]) -> Observed:
    return Observed(key, kind, resource_id, properties, tags, {"id": resource_id})
