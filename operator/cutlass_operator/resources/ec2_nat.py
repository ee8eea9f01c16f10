"""Elastic IPs and NAT gateways.

An Elastic IP's outputs are `id` (the allocation id) and `publicIp`. A NAT gateway's properties
are all immutable (AWS cannot move a gateway or swap its primary address); its outputs are `id`,
`publicIp` and `subnetId`.

A NAT gateway is created and deleted asynchronously. Create waits (bounded) until it is
`available`, so routes never point at a gateway that may still fail; delete waits until it is
`deleted`, because only then does AWS let its Elastic IP go.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.engine.errors import RetryableError
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind
from cutlass_operator.props.ec2 import ElasticIpProps, NatGatewayProps
from cutlass_operator.resources.ec2_common import client_token, describe_name, ec2_client, managed_tags, sync_tags
from cutlass_operator.resources.errors import aws_errors, error_code, tolerate_not_found
from cutlass_operator.resources.tags import key_of, selector_filters, tag_specifications
from cutlass_operator.resources.waits import WaitPolicy, wait_until

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import NatGatewayTypeDef


class ElasticIpKind(ResourceKind[ElasticIpProps]):
    props = ElasticIpProps
    delete_rank = 50
    immutable = frozenset({"domain"})

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[ElasticIpProps]]) -> list[Observed]:
        ec2 = ec2_client(ctx)
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind}"):
            # DescribeAddresses is not paginated: one call returns every address in the region.
            addresses = ec2.describe_addresses(Filters=selector_filters(ctx.selector))["Addresses"]
        for address in addresses:
            tags = managed_tags(address, ctx.selector)
            if tags is None:
                continue
            allocation_id = address["AllocationId"]
            found.append(
                Observed(
                    key_of(tags, allocation_id),
                    self.kind,
                    allocation_id,
                    {"domain": address.get("Domain", "vpc")},
                    tags,
                    {"id": allocation_id, "publicIp": address.get("PublicIp")},
                    {"associationId": address.get("AssociationId")},
                )
            )
        return found

    def create(self, ctx: KindContext, desired: Desired[ElasticIpProps]) -> Observed:
        ec2 = ec2_client(ctx)
        with aws_errors(f"create {self.kind} {desired.name}"):
            address = ec2.allocate_address(
                Domain=desired.props.domain,
                TagSpecifications=tag_specifications("elastic-ip", desired.tags),
            )
        allocation_id = address["AllocationId"]
        return Observed(
            desired.key,
            self.kind,
            allocation_id,
            {"domain": address.get("Domain", "vpc")},
            dict(desired.tags),
            {"id": allocation_id, "publicIp": address.get("PublicIp")},
        )

    def update(
        self, ctx: KindContext, desired: Desired[ElasticIpProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        what = f"update {describe_name(self.kind, observed.tags, observed.id)}"
        observed.tags = sync_tags(ec2_client(ctx), observed.id, desired.tags, observed.tags, what)
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        ec2 = ec2_client(ctx)
        what = f"delete {describe_name(self.kind, observed.tags, observed.id)}"
        with aws_errors(what), tolerate_not_found():
            try:
                ec2.release_address(AllocationId=observed.id)
            except ClientError as exc:
                # An address still held by a NAT gateway that is being deleted cannot be released
                # yet; AWS says so as InvalidIPAddress.InUse or, for service-managed associations,
                # AuthFailure, which must not read as a permissions problem.
                association = observed.private.get("associationId")
                if association and error_code(exc) in {"AuthFailure", "InvalidIPAddress.InUse"}:
                    raise RetryableError(
                        "AddressInUse", f"{what}: still associated ({association}); retrying", delay=30.0
                    ) from exc
                raise


# States in which a NAT gateway serves its key; `failed` ones are reported under a retired key
# so the engine deletes them as orphans and creates a working one.
LIVE = ("pending", "available")
RETIRED = ("failed",)
# Create is idempotent per ClientToken, and AWS remembers a token for a while after the gateway
# is gone. Re-creating with the same token would hand back the deleted gateway, so a create that
# gets one back moves on to the next token.
TOKEN_ATTEMPTS = 4


class NatGatewayKind(ResourceKind[NatGatewayProps]):
    props = NatGatewayProps
    delete_rank = 60
    immutable = frozenset({"subnetId", "allocationId", "connectivityType"})

    def __init__(
        self,
        name_prefix: str = "",
        orphan_scope: str = "",
        *,
        create_wait: WaitPolicy | None = None,
        delete_wait: WaitPolicy | None = None,
    ) -> None:
        super().__init__(name_prefix, orphan_scope)
        self.create_wait = create_wait or WaitPolicy(timeout=300.0, interval=10.0)
        self.delete_wait = delete_wait or WaitPolicy(timeout=600.0, interval=10.0)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[NatGatewayProps]]) -> list[Observed]:
        ec2 = ec2_client(ctx)
        filters = [*selector_filters(ctx.selector), {"Name": "state", "Values": [*LIVE, *RETIRED]}]
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind}"):
            # The parameter is `Filter` (singular) in botocore's model; the stubs say `Filters`.
            paginator: Any = ec2.get_paginator("describe_nat_gateways")
            for page in paginator.paginate(Filter=filters):
                for nat in page["NatGateways"]:
                    tags = managed_tags(nat, ctx.selector)
                    if tags is None or nat.get("State") not in (*LIVE, *RETIRED):
                        continue
                    key = key_of(tags, nat["NatGatewayId"])
                    if nat.get("State") in RETIRED:
                        key = f"{key} (failed: {nat.get('FailureMessage', 'no reason given')})"
                    found.append(self._observed(key, nat, tags))
        return found

    def create(self, ctx: KindContext, desired: Desired[NatGatewayProps]) -> Observed:
        ec2 = ec2_client(ctx)
        props = desired.properties
        what = f"create {self.kind} {desired.name}"
        for attempt in range(TOKEN_ATTEMPTS):
            token = client_token(
                ctx.account_id, ctx.region, desired.key, props["subnetId"], props["allocationId"], str(attempt)
            )
            with aws_errors(what):
                nat = ec2.create_nat_gateway(
                    SubnetId=props["subnetId"],
                    AllocationId=props["allocationId"],
                    ConnectivityType=desired.props.connectivity_type,
                    ClientToken=token,
                    TagSpecifications=tag_specifications("natgateway", desired.tags),
                )["NatGateway"]
            if nat.get("State") not in ("deleting", "deleted"):
                break
        else:
            raise RetryableError("NatGatewayTokenReused", f"{what}: AWS keeps returning deleted gateways; retrying")
        nat = self._wait_available(ec2, nat, what)
        return self._observed(desired.key, nat, dict(desired.tags))

    def update(
        self, ctx: KindContext, desired: Desired[NatGatewayProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        what = f"update {describe_name(self.kind, observed.tags, observed.id)}"
        observed.tags = sync_tags(ec2_client(ctx), observed.id, desired.tags, observed.tags, what)
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        ec2 = ec2_client(ctx)
        what = f"delete {describe_name(self.kind, observed.tags, observed.id)}"
        with aws_errors(what):
            with tolerate_not_found():
                ec2.delete_nat_gateway(NatGatewayId=observed.id)
            wait_until(lambda: self._state(ec2, observed.id) == "deleted", self.delete_wait, what, "NatGatewayDeleting")

    def _wait_available(self, ec2: EC2Client, nat: NatGatewayTypeDef, what: str) -> NatGatewayTypeDef:
        latest = nat

        def settled() -> bool:
            nonlocal latest
            if latest.get("State") != "pending":
                return True
            gateways = ec2.describe_nat_gateways(NatGatewayIds=[nat["NatGatewayId"]])["NatGateways"]
            latest = gateways[0] if gateways else latest
            return latest.get("State") != "pending"

        with aws_errors(what):
            wait_until(settled, self.create_wait, what, "NatGatewayPending")
        if latest.get("State") == "failed":
            # The failed gateway is observed under a retired key next time, deleted and replaced.
            raise RetryableError(
                "NatGatewayFailed",
                f"{what}: AWS reports {latest.get('FailureCode')}: {latest.get('FailureMessage')}",
                delay=30.0,
            )
        return latest

    @staticmethod
    def _state(ec2: EC2Client, nat_id: str) -> str:
        with tolerate_not_found():
            gateways = ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"]
            return str(gateways[0].get("State")) if gateways else "deleted"
        return "deleted"

    def _observed(self, key: str, nat: NatGatewayTypeDef, tags: dict[str, str]) -> Observed:
        addresses = nat.get("NatGatewayAddresses", [])
        primary: Any = next((a for a in addresses if a.get("IsPrimary")), addresses[0] if addresses else {})
        nat_id = nat["NatGatewayId"]
        return Observed(
            key,
            self.kind,
            nat_id,
            {
                "subnetId": nat.get("SubnetId"),
                "allocationId": primary.get("AllocationId"),
                "connectivityType": nat.get("ConnectivityType", "public"),
            },
            tags,
            {"id": nat_id, "publicIp": primary.get("PublicIp"), "subnetId": nat.get("SubnetId")},
            {"state": nat.get("State")},
        )
