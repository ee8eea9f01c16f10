"""Route tables with their routes and subnet associations managed inline.

The VPC's local route, propagated routes and routes to prefix lists are neither declared nor
observed: AWS owns the first two, and the prefix-list routes are the ones gateway endpoints add,
which belong to the endpoint. Observe reports every other route with its one target, whichever
it is, so a route added behind the operator's back shows in the diff and goes. The association
ids live in `Observed.private`, since only the kind needs them, to disassociate.

Routes and associations are separate calls after the table exists, so a crash part-way leaves a
tagged table with some of them missing; the next observe shows the gap and `update` fills it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind
from cutlass_operator.props.ec2 import RouteTableProps
from cutlass_operator.resources.ec2_common import describe_name, ec2_client, managed_tags, sync_tags
from cutlass_operator.resources.errors import aws_errors, error_code, tolerate_not_found
from cutlass_operator.resources.tags import key_of, selector_filters, tag_specifications

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import RouteTableTypeDef, RouteTypeDef

# Property name -> the AWS field of a route, for destinations and for targets.
DESTINATIONS = {
    "destinationCidrBlock": "DestinationCidrBlock",
    "destinationIpv6CidrBlock": "DestinationIpv6CidrBlock",
}
TARGETS = {
    "gatewayId": "GatewayId",
    "natGatewayId": "NatGatewayId",
    "transitGatewayId": "TransitGatewayId",
    "vpcPeeringConnectionId": "VpcPeeringConnectionId",
    "networkInterfaceId": "NetworkInterfaceId",
    "egressOnlyInternetGatewayId": "EgressOnlyInternetGatewayId",
    "localGatewayId": "LocalGatewayId",
    "carrierGatewayId": "CarrierGatewayId",
    "coreNetworkArn": "CoreNetworkArn",
}

Route = Mapping[str, str]


def destination(route: Route) -> tuple[str, str]:
    for name in DESTINATIONS:
        if route.get(name):
            return name, route[name]
    raise ValueError(f"route {dict(route)} has no destination")


def _managed_route(route: RouteTypeDef) -> dict[str, str] | None:
    """The route as a property, or None for the routes this kind leaves to AWS or endpoints."""
    if route.get("Origin") != "CreateRoute" or route.get("DestinationPrefixListId"):
        return None
    if str(route.get("GatewayId", "")).startswith(("local", "vpce-")):
        return None
    raw: Any = route
    result = {name: str(raw[field]) for name, field in DESTINATIONS.items() if raw.get(field)}
    # AWS may report more than one target field for a route (an instance route names the
    # instance and its interface); the one a layer declares comes first in TARGETS order.
    target = next(((name, str(raw[field])) for name, field in TARGETS.items() if raw.get(field)), None)
    if target is not None:
        result[target[0]] = target[1]
    return result


def _route_call_args(route: Route) -> dict[str, Any]:
    return {DESTINATIONS.get(name) or TARGETS[name]: value for name, value in route.items()}


class RouteTableKind(ResourceKind[RouteTableProps]):
    props = RouteTableProps
    delete_rank = 70
    immutable = frozenset({"vpcId"})

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[RouteTableProps]]) -> list[Observed]:
        ec2 = ec2_client(ctx)
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind}"):
            for page in ec2.get_paginator("describe_route_tables").paginate(Filters=selector_filters(ctx.selector)):
                for table in page["RouteTables"]:
                    tags = managed_tags(table, ctx.selector)
                    if tags is not None:
                        found.append(self._observed(key_of(tags, table["RouteTableId"]), table, tags))
        return found

    def create(self, ctx: KindContext, desired: Desired[RouteTableProps]) -> Observed:
        ec2 = ec2_client(ctx)
        with aws_errors(f"create {self.kind} {desired.name}"):
            table = ec2.create_route_table(
                VpcId=desired.properties["vpcId"],
                TagSpecifications=tag_specifications("route-table", desired.tags),
            )["RouteTable"]
        observed = self._observed(desired.key, table, dict(desired.tags))
        return self._converge(ec2, desired, observed, f"create {self.kind} {desired.name} ({observed.id})")

    def update(
        self, ctx: KindContext, desired: Desired[RouteTableProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        ec2 = ec2_client(ctx)
        what = f"update {describe_name(self.kind, observed.tags, observed.id)}"
        observed.tags = sync_tags(ec2, observed.id, desired.tags, observed.tags, what)
        return self._converge(ec2, desired, observed, what)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        ec2 = ec2_client(ctx)
        with aws_errors(f"delete {describe_name(self.kind, observed.tags, observed.id)}"):
            for association_id in observed.private.get("associations", {}).values():
                with tolerate_not_found():
                    ec2.disassociate_route_table(AssociationId=association_id)
            with tolerate_not_found():
                ec2.delete_route_table(RouteTableId=observed.id)

    def _converge(self, ec2: EC2Client, desired: Desired[RouteTableProps], observed: Observed, what: str) -> Observed:
        """Create, replace and delete routes, then associate and disassociate subnets, as needed."""
        have = {destination(r): r for r in observed.properties.get("routes", [])}
        want = {destination(r): r for r in desired.properties.get("routes", [])}
        with aws_errors(what):
            for dest, route in want.items():
                if dest not in have:
                    ec2.create_route(RouteTableId=observed.id, **_route_call_args(route))
                elif dict(have[dest]) != dict(route):
                    ec2.replace_route(RouteTableId=observed.id, **_route_call_args(route))
            for dest in sorted(have.keys() - want.keys()):
                with tolerate_not_found():
                    ec2.delete_route(RouteTableId=observed.id, **_route_call_args({dest[0]: dest[1]}))

        associations: dict[str, str] = dict(observed.private.get("associations", {}))
        wanted_subnets = list(desired.properties.get("subnetIds", []))
        with aws_errors(what):
            for subnet_id in wanted_subnets:
                if subnet_id not in associations:
                    associations[subnet_id] = _associate(ec2, observed.id, subnet_id)
            for subnet_id in sorted(associations.keys() - set(wanted_subnets)):
                with tolerate_not_found():
                    ec2.disassociate_route_table(AssociationId=associations[subnet_id])
                del associations[subnet_id]

        observed.properties = {
            "vpcId": observed.properties["vpcId"],
            "routes": [dict(r) for r in want.values()],
            "subnetIds": sorted(associations),
        }
        observed.private = {"associations": associations}
        return observed

    def _observed(self, key: str, table: RouteTableTypeDef, tags: dict[str, str]) -> Observed:
        routes = [r for r in (_managed_route(route) for route in table.get("Routes", [])) if r is not None]
        associations = {
            a["SubnetId"]: a["RouteTableAssociationId"]
            for a in table.get("Associations", [])
            if a.get("SubnetId")
            and not a.get("Main")
            and a.get("AssociationState", {}).get("State", "associated") in ("associated", "associating")
        }
        table_id = table["RouteTableId"]
        return Observed(
            key,
            self.kind,
            table_id,
            {"vpcId": table["VpcId"], "routes": routes, "subnetIds": sorted(associations)},
            tags,
            {"id": table_id},
            {"associations": associations},
        )


def _associate(ec2: EC2Client, table_id: str, subnet_id: str) -> str:
    """Associate, moving the subnet from the table it uses now (a mode change, a replaced table)."""
    try:
        return ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)["AssociationId"]
    except ClientError as exc:
        if error_code(exc) != "Resource.AlreadyAssociated":
            raise
    current = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])
    for table in current["RouteTables"]:
        for association in table.get("Associations", []):
            if association.get("SubnetId") == subnet_id:
                return ec2.replace_route_table_association(
                    AssociationId=association["RouteTableAssociationId"], RouteTableId=table_id
                )["NewAssociationId"]
    # Disassociated meanwhile: the plain association now goes through.
    return ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)["AssociationId"]
