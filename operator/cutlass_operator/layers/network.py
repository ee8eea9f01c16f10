"""The seed's 000-base-network layer: VPC, subnets, gateways, route tables, endpoints, flow logs.

`desired()` is a pure function of the region's spec and settings. Design choices:

- Keys name a role and, for per-zone resources, the zone's letter (`network/public-subnet/a`),
  so adding a zone adds resources without renaming the others.
- Every private subnet gets its own route table in every NAT mode. The mode then changes only
  the routes: Single sends every zone to the NAT gateway in the first zone, PerAZ sends each
  zone to its own (or the first one where a zone has no public subnet), None has no default
  route. Switching modes is an in-place route change, never a table replacement.
- The Lambda security group allows all egress and no ingress. Interface endpoints get their own
  group that admits HTTPS from the Lambda group only: endpoint interfaces must accept
  connections, which an egress-only group would refuse.
- Flow logs follow `network.flowLogs.enabled`, or enhanced security when that is unset. The
  delivery role may write only to its own log group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cutlass_operator.api.region import NatMode
from cutlass_operator.engine.arns import partition, role_path
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.resource import Desired, Observed, Props, Ref, Scope
from cutlass_operator.layers.base import RegionInputs
from cutlass_operator.props.ec2 import (
    ElasticIpProps,
    FlowLogProps,
    InternetGatewayProps,
    NatGatewayProps,
    Route,
    RouteTableProps,
    SecurityGroupProps,
    SecurityGroupRule,
    SubnetProps,
    VpcEndpointProps,
    VpcProps,
)
from cutlass_operator.props.iam import PolicyDocument, RoleProps
from cutlass_operator.props.logs import LogGroupProps

LAYER = "network"

FLOW_LOGS_PREFIX = "/aws/vpc/flowlogs/"
FLOW_LOGS_POLICY = "flow-logs-delivery"
ANYWHERE = "0.0.0.0/0"

VPC = f"{LAYER}/vpc"
IGW = f"{LAYER}/internet-gateway"
PUBLIC_ROUTE_TABLE = f"{LAYER}/public-route-table"
LAMBDA_SG = f"{LAYER}/lambda-security-group"
ENDPOINT_SG = f"{LAYER}/endpoint-security-group"
FLOW_LOG_GROUP = f"{LAYER}/flow-logs/log-group"
FLOW_LOG_ROLE = f"{LAYER}/flow-logs/role"
FLOW_LOG = f"{LAYER}/flow-log"


def public_subnet(zone: str) -> str:
    return f"{LAYER}/public-subnet/{zone}"


def private_subnet(zone: str) -> str:
    return f"{LAYER}/private-subnet/{zone}"


def private_route_table(zone: str) -> str:
    return f"{LAYER}/private-route-table/{zone}"


def nat_eip(zone: str) -> str:
    return f"{LAYER}/nat-eip/{zone}"


def nat_gateway(zone: str) -> str:
    return f"{LAYER}/nat-gateway/{zone}"


def vpc_endpoint(service: str) -> str:
    return f"{LAYER}/vpc-endpoint/{service}"


def zone_suffix(zone: str, aws_region: str) -> str:
    """`eu-west-2a` -> `a`: the zone's short name, used in keys and resource names."""
    return zone.removeprefix(aws_region) or zone


@dataclass(frozen=True)
class _Builder:
    """Carries the workspace through the small functions that build each part of the layer."""

    workspace: Workspace

    def entry(
        self,
        key: str,
        name: str,
        props: Props,
        depends_on: Sequence[str] = (),
        *,
        origins: Mapping[str, str] | None = None,
    ) -> Desired[Props]:
        return Desired(
            key=key,
            props=props,
            name=name,
            tags=self.workspace.tags(LAYER, key, name),
            depends_on=frozenset(depends_on),
            origins=origins or {},
        )

    def name(self, component: str, zone: str = "") -> str:
        return self.workspace.resource_name(component, zone)


class NetworkLayer:
    name = LAYER
    condition = "NetworkReady"
    holds_data = False

    def kinds(self, inputs: RegionInputs) -> Sequence[Scope]:
        # Every kind, even those the spec does not use now, so that observe finds the orphans
        # left by a feature being switched off (flow logs, NAT gateways, endpoints).
        return [
            Scope(VpcProps),
            Scope(SubnetProps),
            Scope(InternetGatewayProps),
            Scope(ElasticIpProps),
            Scope(NatGatewayProps),
            Scope(RouteTableProps),
            Scope(SecurityGroupProps),
            Scope(VpcEndpointProps),
            Scope(LogGroupProps, name_prefix=FLOW_LOGS_PREFIX),
            Scope(RoleProps, name_prefix=role_path(inputs.workspace.name, LAYER)),
            Scope(FlowLogProps),
        ]

    def desired(self, inputs: RegionInputs) -> list[Desired[Any]]:
        build = _Builder(inputs.workspace)
        network = inputs.region.network
        aws_region = inputs.region.aws_region
        zones = [zone_suffix(z, aws_region) for z in inputs.region.availability_zones()]
        full_zones = dict(zip(zones, inputs.region.availability_zones(), strict=True))
        public = list(zip(zones, network.public_subnet_cidrs, strict=False))
        private = list(zip(zones, network.private_subnet_cidrs, strict=False))

        entries = [
            build.entry(
                VPC,
                build.name("vpc"),
                VpcProps(cidr_block=network.vpc_cidr, enable_dns_support=True, enable_dns_hostnames=True),
            ),
            build.entry(IGW, build.name("igw"), InternetGatewayProps(vpc_id=Ref(VPC, "id"))),
        ]
        entries += [_subnet(build, zone, full_zones[zone], cidr, public=True) for zone, cidr in public]
        entries += [_subnet(build, zone, full_zones[zone], cidr, public=False) for zone, cidr in private]

        nat_zones = _nat_zones(network.nat_gateways, [zone for zone, _ in public])
        for zone in nat_zones:
            entries += _nat(build, zone)

        entries.append(
            build.entry(
                PUBLIC_ROUTE_TABLE,
                build.name("public-rt"),
                RouteTableProps(
                    vpc_id=Ref(VPC, "id"),
                    routes=(Route(destination_cidr_block=ANYWHERE, gateway_id=Ref(IGW, "id")),),
                    subnet_ids=tuple(Ref(public_subnet(zone), "id") for zone, _ in public),
                ),
            )
        )
        for zone, _ in private:
            routes: tuple[Route, ...] = ()
            if nat_zones:
                target = zone if zone in nat_zones else nat_zones[0]
                routes = (Route(destination_cidr_block=ANYWHERE, nat_gateway_id=Ref(nat_gateway(target), "id")),)
            entries.append(
                build.entry(
                    private_route_table(zone),
                    build.name("private-rt", zone),
                    RouteTableProps(
                        vpc_id=Ref(VPC, "id"), routes=routes, subnet_ids=(Ref(private_subnet(zone), "id"),)
                    ),
                )
            )

        entries.append(
            _security_group(
                build,
                LAMBDA_SG,
                build.name("lambda-sg"),
                f"Lambda functions of {inputs.workspace.name}: all egress, no ingress",
                ingress=(),
                egress=(SecurityGroupRule(protocol="-1", cidr_ipv4=ANYWHERE),),
            )
        )
        entries += _endpoints(build, inputs, [zone for zone, _ in private])
        if _flow_logs_enabled(inputs):
            entries += _flow_logs(build, inputs)
        return entries

    def outputs(self, observed: Mapping[str, Observed]) -> dict[str, Any]:
        def ids(prefix: str) -> list[str]:
            return [observed[key].id for key in sorted(observed) if key.startswith(prefix)]

        outputs: dict[str, Any] = {}
        if VPC in observed:
            outputs["vpcId"] = observed[VPC].id
        outputs["publicSubnetIds"] = ids(public_subnet(""))
        outputs["privateSubnetIds"] = ids(private_subnet(""))
        outputs["natGatewayIds"] = ids(nat_gateway(""))
        if LAMBDA_SG in observed:
            outputs["lambdaSecurityGroupId"] = observed[LAMBDA_SG].id
        prefix = vpc_endpoint("")
        outputs["vpcEndpointIds"] = {
            key.removeprefix(prefix): observed[key].id for key in sorted(observed) if key.startswith(prefix)
        }
        if FLOW_LOG in observed:
            outputs["flowLogId"] = observed[FLOW_LOG].id
        return outputs


def _subnet(build: _Builder, zone: str, aws_zone: str, cidr: str, *, public: bool) -> Desired[Props]:
    tier = "public" if public else "private"
    return build.entry(
        public_subnet(zone) if public else private_subnet(zone),
        build.name(f"{tier}-subnet", zone),
        SubnetProps(vpc_id=Ref(VPC, "id"), cidr_block=cidr, availability_zone=aws_zone, map_public_ip_on_launch=public),
        # A subnet is keyed by its zone, and the two lists pair ranges with zones by position.
        origins={
            "cidrBlock": f"spec.network.{tier}SubnetCidrs (paired with spec.network.availabilityZones by position)",
            "availabilityZone": "spec.network.availabilityZones",
        },
    )


def _nat_zones(mode: NatMode, public_zones: list[str]) -> list[str]:
    if mode == NatMode.NONE or not public_zones:
        return []
    if mode == NatMode.SINGLE:
        return public_zones[:1]
    return list(public_zones)


def _nat(build: _Builder, zone: str) -> list[Desired[Props]]:
    return [
        build.entry(nat_eip(zone), build.name("nat-eip", zone), ElasticIpProps(domain="vpc")),
        build.entry(
            nat_gateway(zone),
            build.name("nat-gateway", zone),
            NatGatewayProps(
                subnet_id=Ref(public_subnet(zone), "id"),
                allocation_id=Ref(nat_eip(zone), "id"),
                connectivity_type="public",
            ),
            # A public NAT gateway fails outright when the VPC has no internet gateway attached.
            depends_on=[IGW],
        ),
    ]


def _security_group(
    build: _Builder,
    key: str,
    name: str,
    description: str,
    *,
    ingress: tuple[SecurityGroupRule, ...],
    egress: tuple[SecurityGroupRule, ...],
) -> Desired[Props]:
    # EC2 cannot change a group's description: new wording would need a new group, so the
    # texts above are part of the API and change only with a migration.
    return build.entry(
        key,
        name,
        SecurityGroupProps(
            vpc_id=Ref(VPC, "id"), group_name=name, description=description, ingress=ingress, egress=egress
        ),
    )


def _endpoints(build: _Builder, inputs: RegionInputs, private_zones: list[str]) -> list[Desired[Props]]:
    settings = inputs.region.network.vpc_endpoints
    aws_region = inputs.region.aws_region
    private_tables = tuple(Ref(private_route_table(zone), "id") for zone in private_zones)
    entries: list[Desired[Props]] = []
    for service, enabled in (("dynamodb", settings.dynamodb), ("s3", settings.s3)):
        if enabled:
            entries.append(
                build.entry(
                    vpc_endpoint(service),
                    build.name(f"{service}-endpoint"),
                    VpcEndpointProps(
                        vpc_id=Ref(VPC, "id"),
                        service_name=f"com.amazonaws.{aws_region}.{service}",
                        vpc_endpoint_type="Gateway",
                        route_table_ids=private_tables,
                    ),
                )
            )
    if not settings.interface:
        return entries
    entries.append(
        _security_group(
            build,
            ENDPOINT_SG,
            build.name("endpoint-sg"),
            f"Interface VPC endpoints of {inputs.workspace.name}: HTTPS from the Lambda functions",
            ingress=(SecurityGroupRule(protocol="tcp", from_port=443, to_port=443, group_id=Ref(LAMBDA_SG, "id")),),
            egress=(),
        )
    )
    for service in sorted(set(settings.interface)):
        entries.append(
            build.entry(
                vpc_endpoint(service),
                build.name(f"{service.replace('.', '-')}-endpoint"),
                VpcEndpointProps(
                    vpc_id=Ref(VPC, "id"),
                    service_name=f"com.amazonaws.{aws_region}.{service}",
                    vpc_endpoint_type="Interface",
                    subnet_ids=tuple(Ref(private_subnet(zone), "id") for zone in private_zones),
                    security_group_ids=(Ref(ENDPOINT_SG, "id"),),
                    private_dns_enabled=True,
                ),
            )
        )
    return entries


def _flow_logs_enabled(inputs: RegionInputs) -> bool:
    enabled = inputs.region.network.flow_logs.enabled
    return inputs.settings.enhanced_security if enabled is None else enabled


def _flow_logs(build: _Builder, inputs: RegionInputs) -> list[Desired[Props]]:
    workspace = inputs.workspace
    aws_region = inputs.region.aws_region
    log_group_name = f"{FLOW_LOGS_PREFIX}{build.name('vpc')}"
    trust: PolicyDocument = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                "Action": "sts:AssumeRole",
                # Only this account's flow logs in this region may use the role (confused deputy).
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": workspace.account_id},
                    "ArnLike": {
                        "aws:SourceArn": (
                            f"arn:{partition(aws_region)}:ec2:{aws_region}:{workspace.account_id}:vpc-flow-log/*"
                        )
                    },
                },
            }
        ],
    }
    delivery: PolicyDocument = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [Ref(FLOW_LOG_GROUP, "arn"), Ref(FLOW_LOG_GROUP, "streamsArn")],
            }
        ],
    }
    role_name = build.name("flow-logs")
    return [
        build.entry(
            FLOW_LOG_GROUP,
            log_group_name,
            LogGroupProps(log_group_name=log_group_name, retention_in_days=inputs.settings.log_retention_days),
        ),
        build.entry(
            FLOW_LOG_ROLE,
            role_name,
            RoleProps(
                path=role_path(workspace.name, LAYER),
                assume_role_policy_document=trust,
                description=f"Delivers the VPC flow logs of {workspace.name} to {log_group_name}",
                inline_policies={FLOW_LOGS_POLICY: delivery},
            ),
        ),
        build.entry(
            FLOW_LOG,
            build.name("flow-log"),
            FlowLogProps(
                resource_id=Ref(VPC, "id"),
                resource_type="VPC",
                traffic_type=inputs.region.network.flow_logs.traffic_type,
                log_group_name=Ref(FLOW_LOG_GROUP, "name"),
                deliver_logs_permission_arn=Ref(FLOW_LOG_ROLE, "arn"),
            ),
        ),
    ]
