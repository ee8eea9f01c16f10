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
from cutlass_operator.engine.identity import Workspace
from cutlass_operator.engine.resource import Desired, Observed, Ref, ResourceKind
from cutlass_operator.layers.base import RegionInputs
from cutlass_operator.resources.arns import partition, role_path

LAYER = "network"

# The kinds by name; the kinds themselves, which talk to AWS, are bound in `NetworkLayer.kinds`.
EC2_VPC = "ec2.vpc"
EC2_SUBNET = "ec2.subnet"
EC2_INTERNET_GATEWAY = "ec2.internet_gateway"
EC2_EIP = "ec2.eip"
EC2_NAT_GATEWAY = "ec2.nat_gateway"
EC2_ROUTE_TABLE = "ec2.route_table"
EC2_SECURITY_GROUP = "ec2.security_group"
EC2_VPC_ENDPOINT = "ec2.vpc_endpoint"
EC2_FLOW_LOG = "ec2.flow_log"
LOGS_LOG_GROUP = "logs.log_group"
IAM_ROLE = "iam.role"

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
        kind: str,
        name: str,
        properties: Mapping[str, Any],
        depends_on: Sequence[str] = (),
        *,
        origins: Mapping[str, str] | None = None,
    ) -> Desired:
        return Desired(
            key=key,
            kind=kind,
            name=name,
            properties=properties,
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

    def kinds(self, inputs: RegionInputs) -> Sequence[ResourceKind]:
        # Imported here so that the builder stays pure: importing this module (to plan, or in
        # unit tests) loads neither boto3 nor botocore.
        from cutlass_operator.resources.ec2_endpoints import VpcEndpointKind
        from cutlass_operator.resources.ec2_flow_logs import FlowLogKind
        from cutlass_operator.resources.ec2_nat import ElasticIpKind, NatGatewayKind
        from cutlass_operator.resources.ec2_routing import RouteTableKind
        from cutlass_operator.resources.ec2_security import SecurityGroupKind
        from cutlass_operator.resources.ec2_vpc import InternetGatewayKind, SubnetKind, VpcKind
        from cutlass_operator.resources.iam import RoleKind
        from cutlass_operator.resources.logs import LogGroupKind

        # Every kind, even those the spec does not use now, so that observe finds the orphans
        # left by a feature being switched off (flow logs, NAT gateways, endpoints).
        return [
            VpcKind(),
            SubnetKind(),
            InternetGatewayKind(),
            ElasticIpKind(),
            NatGatewayKind(),
            RouteTableKind(),
            SecurityGroupKind(),
            VpcEndpointKind(),
            LogGroupKind(FLOW_LOGS_PREFIX),
            RoleKind(LAYER),
            FlowLogKind(),
        ]

    def desired(self, inputs: RegionInputs) -> list[Desired]:
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
                EC2_VPC,
                build.name("vpc"),
                {"cidrBlock": network.vpc_cidr, "enableDnsSupport": True, "enableDnsHostnames": True},
            ),
            build.entry(IGW, EC2_INTERNET_GATEWAY, build.name("igw"), {"vpcId": Ref(VPC, "id")}),
        ]
        entries += [_subnet(build, zone, full_zones[zone], cidr, public=True) for zone, cidr in public]
        entries += [_subnet(build, zone, full_zones[zone], cidr, public=False) for zone, cidr in private]

        nat_zones = _nat_zones(network.nat_gateways, [zone for zone, _ in public])
        for zone in nat_zones:
            entries += _nat(build, zone)

        entries.append(
            build.entry(
                PUBLIC_ROUTE_TABLE,
                EC2_ROUTE_TABLE,
                build.name("public-rt"),
                {
                    "vpcId": Ref(VPC, "id"),
                    "routes": [{"destinationCidrBlock": ANYWHERE, "gatewayId": Ref(IGW, "id")}],
                    "subnetIds": [Ref(public_subnet(zone), "id") for zone, _ in public],
                },
            )
        )
        for zone, _ in private:
            routes = []
            if nat_zones:
                target = zone if zone in nat_zones else nat_zones[0]
                routes.append({"destinationCidrBlock": ANYWHERE, "natGatewayId": Ref(nat_gateway(target), "id")})
            entries.append(
                build.entry(
                    private_route_table(zone),
                    EC2_ROUTE_TABLE,
                    build.name("private-rt", zone),
                    {"vpcId": Ref(VPC, "id"), "routes": routes, "subnetIds": [Ref(private_subnet(zone), "id")]},
                )
            )

        entries.append(
            _security_group(
                build,
                LAMBDA_SG,
                build.name("lambda-sg"),
                f"Lambda functions of {inputs.workspace.name}: all egress, no ingress",
                ingress=[],
                egress=[{"protocol": "-1", "cidrIpv4": ANYWHERE}],
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


def _subnet(build: _Builder, zone: str, aws_zone: str, cidr: str, *, public: bool) -> Desired:
    tier = "public" if public else "private"
    return build.entry(
        public_subnet(zone) if public else private_subnet(zone),
        EC2_SUBNET,
        build.name(f"{tier}-subnet", zone),
        {"vpcId": Ref(VPC, "id"), "cidrBlock": cidr, "availabilityZone": aws_zone, "mapPublicIpOnLaunch": public},
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


def _nat(build: _Builder, zone: str) -> list[Desired]:
    return [
        build.entry(nat_eip(zone), EC2_EIP, build.name("nat-eip", zone), {"domain": "vpc"}),
        build.entry(
            nat_gateway(zone),
            EC2_NAT_GATEWAY,
            build.name("nat-gateway", zone),
            {
                "subnetId": Ref(public_subnet(zone), "id"),
                "allocationId": Ref(nat_eip(zone), "id"),
                "connectivityType": "public",
            },
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
    ingress: list[dict[str, Any]],
    egress: list[dict[str, Any]],
) -> Desired:
    # EC2 cannot change a group's description: new wording would need a new group, so the
    # texts above are part of the API and change only with a migration.
    return build.entry(
        key,
        EC2_SECURITY_GROUP,
        name,
        {
            "vpcId": Ref(VPC, "id"),
            "groupName": name,
            "description": description,
            "ingress": ingress,
            "egress": egress,
        },
    )


def _endpoints(build: _Builder, inputs: RegionInputs, private_zones: list[str]) -> list[Desired]:
    settings = inputs.region.network.vpc_endpoints
    aws_region = inputs.region.aws_region
    private_tables = [Ref(private_route_table(zone), "id") for zone in private_zones]
    entries: list[Desired] = []
    for service, enabled in (("dynamodb", settings.dynamodb), ("s3", settings.s3)):
        if enabled:
            entries.append(
                build.entry(
                    vpc_endpoint(service),
                    EC2_VPC_ENDPOINT,
                    build.name(f"{service}-endpoint"),
                    {
                        "vpcId": Ref(VPC, "id"),
                        "serviceName": f"com.amazonaws.{aws_region}.{service}",
                        "vpcEndpointType": "Gateway",
                        "routeTableIds": private_tables,
                    },
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
            ingress=[{"protocol": "tcp", "fromPort": 443, "toPort": 443, "groupId": Ref(LAMBDA_SG, "id")}],
            egress=[],
        )
    )
    for service in sorted(set(settings.interface)):
        entries.append(
            build.entry(
                vpc_endpoint(service),
                EC2_VPC_ENDPOINT,
                build.name(f"{service.replace('.', '-')}-endpoint"),
                {
                    "vpcId": Ref(VPC, "id"),
                    "serviceName": f"com.amazonaws.{aws_region}.{service}",
                    "vpcEndpointType": "Interface",
                    "subnetIds": [Ref(private_subnet(zone), "id") for zone in private_zones],
                    "securityGroupIds": [Ref(ENDPOINT_SG, "id")],
                    "privateDnsEnabled": True,
                },
            )
        )
    return entries


def _flow_logs_enabled(inputs: RegionInputs) -> bool:
    enabled = inputs.region.network.flow_logs.enabled
    return inputs.settings.enhanced_security if enabled is None else enabled


def _flow_logs(build: _Builder, inputs: RegionInputs) -> list[Desired]:
    workspace = inputs.workspace
    aws_region = inputs.region.aws_region
    log_group_name = f"{FLOW_LOGS_PREFIX}{build.name('vpc')}"
    trust = {
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
    delivery = {
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
            LOGS_LOG_GROUP,
            log_group_name,
            {"logGroupName": log_group_name, "retentionInDays": inputs.settings.log_retention_days},
        ),
        build.entry(
            FLOW_LOG_ROLE,
            IAM_ROLE,
            role_name,
            {
                "path": role_path(workspace.name, LAYER),
                "assumeRolePolicyDocument": trust,
                "description": f"Delivers the VPC flow logs of {workspace.name} to {log_group_name}",
                "inlinePolicies": {FLOW_LOGS_POLICY: delivery},
            },
        ),
        build.entry(
            FLOW_LOG,
            EC2_FLOW_LOG,
            build.name("flow-log"),
            {
                "resourceId": Ref(VPC, "id"),
                "resourceType": "VPC",
                "trafficType": inputs.region.network.flow_logs.traffic_type,
                "logGroupName": Ref(FLOW_LOG_GROUP, "name"),
                "deliverLogsPermissionArn": Ref(FLOW_LOG_ROLE, "arn"),
            },
        ),
    ]
