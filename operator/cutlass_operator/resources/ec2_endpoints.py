"""VPC endpoints, gateway (DynamoDB, S3) and interface (SQS, KMS, Logs...).

The VPC, service and type cannot change in place; the lists and private DNS change with
ModifyVpcEndpoint. The endpoint policy is left at AWS's default (full access through the
endpoint); IAM on the callers does the restricting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind
from cutlass_operator.props.ec2 import VpcEndpointProps
from cutlass_operator.resources.ec2_common import client_token, describe_name, ec2_client, managed_tags, sync_tags
from cutlass_operator.resources.errors import aws_errors, tolerate_not_found
from cutlass_operator.resources.tags import key_of, selector_filters, tag_specifications
from cutlass_operator.resources.waits import WaitPolicy, wait_until

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import VpcEndpointTypeDef

GONE = frozenset({"deleting", "deleted"})
# An endpoint in one of these states never serves again; it is reported under a retired key so
# that the engine deletes it as an orphan and creates a working one.
DEAD = frozenset({"failed", "rejected", "expired"})
TOKEN_ATTEMPTS = 4

# Property name -> (the Add and Remove parameters of ModifyVpcEndpoint).
LISTS = {
    "routeTableIds": ("AddRouteTableIds", "RemoveRouteTableIds"),
    "subnetIds": ("AddSubnetIds", "RemoveSubnetIds"),
    "securityGroupIds": ("AddSecurityGroupIds", "RemoveSecurityGroupIds"),
}


def _state(endpoint: VpcEndpointTypeDef) -> str:
    return str(endpoint.get("State", "")).lower()


def _properties(endpoint: VpcEndpointTypeDef) -> dict[str, Any]:
    endpoint_type = str(endpoint.get("VpcEndpointType", "Gateway"))
    properties: dict[str, Any] = {
        "vpcId": endpoint.get("VpcId"),
        "serviceName": endpoint.get("ServiceName"),
        "vpcEndpointType": endpoint_type,
    }
    if endpoint_type == "Gateway":
        properties["routeTableIds"] = sorted(endpoint.get("RouteTableIds", []))
    else:
        properties["subnetIds"] = sorted(endpoint.get("SubnetIds", []))
        properties["securityGroupIds"] = sorted(g["GroupId"] for g in endpoint.get("Groups", []))
        properties["privateDnsEnabled"] = bool(endpoint.get("PrivateDnsEnabled", False))
    return properties


class VpcEndpointKind(ResourceKind[VpcEndpointProps]):
    props = VpcEndpointProps
    delete_rank = 80
    immutable = frozenset({"vpcId", "serviceName", "vpcEndpointType"})

    def __init__(self, name_prefix: str = "", orphan_scope: str = "", *, delete_wait: WaitPolicy | None = None) -> None:
        super().__init__(name_prefix, orphan_scope)
        self.delete_wait = delete_wait or WaitPolicy(timeout=300.0, interval=5.0)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[VpcEndpointProps]]) -> list[Observed]:
        ec2 = ec2_client(ctx)
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind}"):
            pages = ec2.get_paginator("describe_vpc_endpoints").paginate(Filters=selector_filters(ctx.selector))
            for page in pages:
                for endpoint in page["VpcEndpoints"]:
                    tags = managed_tags(endpoint, ctx.selector)
                    if tags is None or _state(endpoint) in GONE:
                        continue
                    key = key_of(tags, endpoint["VpcEndpointId"])
                    if _state(endpoint) in DEAD:
                        key = f"{key} ({_state(endpoint)})"
                    found.append(self._observed(key, endpoint, tags))
        return found

    def create(self, ctx: KindContext, desired: Desired[VpcEndpointProps]) -> Observed:
        ec2 = ec2_client(ctx)
        props = desired.properties
        what = f"create {self.kind} {desired.name}"
        args: dict[str, Any] = {
            "VpcId": props["vpcId"],
            "ServiceName": props["serviceName"],
            "VpcEndpointType": props["vpcEndpointType"],
            "TagSpecifications": tag_specifications("vpc-endpoint", desired.tags),
        }
        if props["vpcEndpointType"] == "Gateway":
            args["RouteTableIds"] = list(props.get("routeTableIds", []))
        else:
            args["SubnetIds"] = list(props.get("subnetIds", []))
            args["SecurityGroupIds"] = list(props.get("securityGroupIds", []))
            args["PrivateDnsEnabled"] = bool(props.get("privateDnsEnabled", True))
        for attempt in range(TOKEN_ATTEMPTS):
            # A token AWS still remembers from a deleted endpoint returns that endpoint: next token.
            args["ClientToken"] = client_token(ctx.account_id, ctx.region, desired.key, props["vpcId"], str(attempt))
            with aws_errors(what):
                endpoint = ec2.create_vpc_endpoint(**args)["VpcEndpoint"]
            if _state(endpoint) not in GONE:
                break
        else:
            raise RetryableError("VpcEndpointTokenReused", f"{what}: AWS keeps returning deleted endpoints")
        if _state(endpoint) in DEAD:
            raise TerminalError("VpcEndpointFailed", f"{what}: the endpoint is {_state(endpoint)}")
        return self._observed(desired.key, endpoint, dict(desired.tags))

    def update(
        self, ctx: KindContext, desired: Desired[VpcEndpointProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        ec2 = ec2_client(ctx)
        what = f"update {describe_name(self.kind, observed.tags, observed.id)}"
        args: dict[str, Any] = {}
        properties = dict(observed.properties)
        for name, (add, remove) in LISTS.items():
            if name not in desired.properties:
                continue
            want, have = set(desired.properties[name]), set(observed.properties.get(name, []))
            if want - have:
                args[add] = sorted(want - have)
            if have - want:
                args[remove] = sorted(have - want)
            properties[name] = sorted(want)
        dns = desired.properties.get("privateDnsEnabled")
        if dns is not None and dns != observed.properties.get("privateDnsEnabled"):
            args["PrivateDnsEnabled"] = bool(dns)
            properties["privateDnsEnabled"] = bool(dns)
        if args:
            with aws_errors(what):
                ec2.modify_vpc_endpoint(VpcEndpointId=observed.id, **args)
        tags = sync_tags(ec2, observed.id, desired.tags, observed.tags, what)
        return Observed(observed.key, self.kind, observed.id, properties, tags, observed.outputs, observed.private)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        ec2 = ec2_client(ctx)
        what = f"delete {describe_name(self.kind, observed.tags, observed.id)}"
        with aws_errors(what):
            with tolerate_not_found():
                failures = ec2.delete_vpc_endpoints(VpcEndpointIds=[observed.id]).get("Unsuccessful", [])
                errors = [f["Error"] for f in failures if not str(f["Error"].get("Code", "")).endswith("NotFound")]
                if errors:
                    raise RetryableError(
                        "VpcEndpointNotDeleted", f"{what}: {errors[0].get('Code')}: {errors[0].get('Message')}"
                    )
            # Interface endpoints keep their network interfaces in the subnets (and the security
            # group) for a while; the subnets cannot go before they do.
            wait_until(lambda: _gone(ec2, observed.id), self.delete_wait, what, "VpcEndpointDeleting")

    def _observed(self, key: str, endpoint: VpcEndpointTypeDef, tags: dict[str, str]) -> Observed:
        endpoint_id = endpoint["VpcEndpointId"]
        dns = [entry["DnsName"] for entry in endpoint.get("DnsEntries", []) if entry.get("DnsName")]
        return Observed(
            key,
            self.kind,
            endpoint_id,
            _properties(endpoint),
            tags,
            {"id": endpoint_id, "dnsNames": dns},
            {"state": _state(endpoint)},
        )


def _gone(ec2: EC2Client, endpoint_id: str) -> bool:
    with tolerate_not_found():
        endpoints = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
        return all(_state(e) == "deleted" for e in endpoints)
    return True
