"""Which kind implements each `Props` type: how a layer's `Scope`s become the engine's kinds
without the layer importing the AWS side."""

from __future__ import annotations

from typing import Any

from cutlass_operator.engine.resource import Props, ResourceKind, Scope
from cutlass_operator.resources.apigateway import StageKind
from cutlass_operator.resources.apigateway_api import RestApiKind
from cutlass_operator.resources.apigateway_domains import DomainNameKind
from cutlass_operator.resources.apigateway_plans import ApiKeyKind, UsagePlanKind
from cutlass_operator.resources.cloudwatch import AlarmKind
from cutlass_operator.resources.cognito import ResourceServerKind, UserPoolClientKind, UserPoolDomainKind, UserPoolKind
from cutlass_operator.resources.dynamodb import TableKind
from cutlass_operator.resources.ec2_endpoints import VpcEndpointKind
from cutlass_operator.resources.ec2_flow_logs import FlowLogKind
from cutlass_operator.resources.ec2_nat import ElasticIpKind, NatGatewayKind
from cutlass_operator.resources.ec2_routing import RouteTableKind
from cutlass_operator.resources.ec2_security import SecurityGroupKind
from cutlass_operator.resources.ec2_vpc import InternetGatewayKind, SubnetKind, VpcKind
from cutlass_operator.resources.iam import RoleKind
from cutlass_operator.resources.kms import KmsKeyKind
from cutlass_operator.resources.lambda_functions import FunctionKind
from cutlass_operator.resources.lambda_mappings import EventSourceMappingKind
from cutlass_operator.resources.lambda_permissions import PermissionKind
from cutlass_operator.resources.logs import LogGroupKind
from cutlass_operator.resources.route53 import HealthCheckKind, HostedZoneKind, RecordSetGroupKind
from cutlass_operator.resources.s3 import BucketKind
from cutlass_operator.resources.s3_objects import PackageKind
from cutlass_operator.resources.ses import IdentityKind, TemplateKind
from cutlass_operator.resources.sqs import QueueKind

KINDS: tuple[type[ResourceKind[Any]], ...] = (
    VpcKind,
    SubnetKind,
    InternetGatewayKind,
    ElasticIpKind,
    NatGatewayKind,
    RouteTableKind,
    SecurityGroupKind,
    VpcEndpointKind,
    FlowLogKind,
    LogGroupKind,
    RoleKind,
    KmsKeyKind,
    BucketKind,
    PackageKind,
    TableKind,
    QueueKind,
    IdentityKind,
    TemplateKind,
    AlarmKind,
    FunctionKind,
    EventSourceMappingKind,
    PermissionKind,
    UserPoolKind,
    ResourceServerKind,
    UserPoolClientKind,
    UserPoolDomainKind,
    RestApiKind,
    StageKind,
    UsagePlanKind,
    ApiKeyKind,
    DomainNameKind,
    HostedZoneKind,
    HealthCheckKind,
    RecordSetGroupKind,
)


def kind_class(props: type[Props]) -> type[ResourceKind[Any]]:
    for kind in KINDS:
        if kind.props is props:
            return kind
    raise LookupError(f"no resource kind implements {props.__name__}")


def kind_for(scope: Scope, orphan_scope: str) -> ResourceKind[Any]:
    """The kind a layer's `scope` names, finding orphans under the layer's `orphan_scope` key prefix."""
    return kind_class(scope.props).scoped(scope, orphan_scope)
