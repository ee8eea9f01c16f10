"""Security groups with their rules managed inline. EC2 cannot change a group's VPC, name or
description. Rules are flat, one source each (`{"protocol": "tcp", "fromPort": 443, "toPort": 443,
"groupId": "sg-..."}`): EC2 groups several sources into one permission; flattening makes rules
comparable as a set and lets an update authorize or revoke exactly the ones that differ. Observe
reports IPv6 and prefix-list sources too, so that rules added behind the operator's back go.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind
from cutlass_operator.props.ec2 import SecurityGroupProps
from cutlass_operator.resources.ec2_common import describe_name, ec2_client, managed_tags, sync_tags
from cutlass_operator.resources.errors import aws_errors, tolerate_not_found
from cutlass_operator.resources.tags import key_of, selector_filters, tag_specifications

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import IpPermissionOutputTypeDef, IpPermissionTypeDef, SecurityGroupTypeDef

Rule = Mapping[str, Any]

# What EC2 puts in every new VPC security group: all egress to anywhere over IPv4.
DEFAULT_EGRESS: list[dict[str, Any]] = [{"protocol": "-1", "cidrIpv4": "0.0.0.0/0"}]


def _flatten(permissions: Sequence[IpPermissionOutputTypeDef]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for permission in permissions:
        base: dict[str, Any] = {"protocol": permission.get("IpProtocol", "-1")}
        if base["protocol"] != "-1" and "FromPort" in permission:
            base |= {"fromPort": permission["FromPort"], "toPort": permission.get("ToPort")}
        rules += [base | {"cidrIpv4": r["CidrIp"]} for r in permission.get("IpRanges", [])]
        rules += [base | {"cidrIpv6": r["CidrIpv6"]} for r in permission.get("Ipv6Ranges", [])]
        rules += [base | {"prefixListId": r["PrefixListId"]} for r in permission.get("PrefixListIds", [])]
        rules += [base | {"groupId": r["GroupId"]} for r in permission.get("UserIdGroupPairs", [])]
    return rules


def _permission(rule: Rule) -> IpPermissionTypeDef:
    permission: IpPermissionTypeDef = {"IpProtocol": str(rule["protocol"])}
    if "fromPort" in rule:
        permission["FromPort"] = int(rule["fromPort"])
        permission["ToPort"] = int(rule["toPort"])
    if "cidrIpv4" in rule:
        permission["IpRanges"] = [{"CidrIp": rule["cidrIpv4"]}]
    elif "cidrIpv6" in rule:
        permission["Ipv6Ranges"] = [{"CidrIpv6": rule["cidrIpv6"]}]
    elif "prefixListId" in rule:
        permission["PrefixListIds"] = [{"PrefixListId": rule["prefixListId"]}]
    elif "groupId" in rule:
        permission["UserIdGroupPairs"] = [{"GroupId": rule["groupId"]}]
    else:
        raise ValueError(f"security group rule {dict(rule)} has no source or destination")
    return permission


def _missing(rules: Sequence[Rule], among: Sequence[Rule]) -> list[Rule]:
    present = [dict(r) for r in among]
    return [r for r in rules if dict(r) not in present]


class SecurityGroupKind(ResourceKind[SecurityGroupProps]):
    props = SecurityGroupProps
    delete_rank = 45
    immutable = frozenset({"vpcId", "groupName", "description"})

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[SecurityGroupProps]]) -> list[Observed]:
        ec2 = ec2_client(ctx)
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind}"):
            pages = ec2.get_paginator("describe_security_groups").paginate(Filters=selector_filters(ctx.selector))
            for page in pages:
                for group in page["SecurityGroups"]:
                    tags = managed_tags(group, ctx.selector)
                    if tags is not None:
                        found.append(self._observed(key_of(tags, group["GroupId"]), group, tags))
        return found

    def create(self, ctx: KindContext, desired: Desired[SecurityGroupProps]) -> Observed:
        ec2 = ec2_client(ctx)
        props = desired.properties
        with aws_errors(f"create {self.kind} {desired.name}"):
            group_id = ec2.create_security_group(
                GroupName=props["groupName"],
                Description=props["description"],
                VpcId=props["vpcId"],
                TagSpecifications=tag_specifications("security-group", desired.tags),
            )["GroupId"]
        observed = Observed(
            desired.key,
            self.kind,
            group_id,
            {
                "vpcId": props["vpcId"],
                "groupName": props["groupName"],
                "description": props["description"],
                "ingress": [],
                "egress": [dict(r) for r in DEFAULT_EGRESS],
            },
            dict(desired.tags),
            {"id": group_id},
        )
        return self._converge(ec2, desired, observed, f"create {self.kind} {desired.name} ({group_id})")

    def update(
        self, ctx: KindContext, desired: Desired[SecurityGroupProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        ec2 = ec2_client(ctx)
        what = f"update {describe_name(self.kind, observed.tags, observed.id)}"
        observed.tags = sync_tags(ec2, observed.id, desired.tags, observed.tags, what)
        return self._converge(ec2, desired, observed, what)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        ec2 = ec2_client(ctx)
        # Lambda's network interfaces can hold a group for many minutes after the functions are
        # gone; DependencyViolation is retryable and the next reconcile tries again.
        with aws_errors(f"delete {describe_name(self.kind, observed.tags, observed.id)}"), tolerate_not_found():
            ec2.delete_security_group(GroupId=observed.id)

    def _converge(
        self, ec2: EC2Client, desired: Desired[SecurityGroupProps], observed: Observed, what: str
    ) -> Observed:
        """Authorize the desired rules that are missing, then revoke the ones not desired."""
        with aws_errors(what):
            for direction in ("ingress", "egress"):
                want: list[Rule] = list(desired.properties.get(direction, []))
                have: list[Rule] = list(observed.properties.get(direction, []))
                add = [_permission(r) for r in _missing(want, have)]
                remove = [_permission(r) for r in _missing(have, want)]
                if direction == "ingress":
                    if add:
                        ec2.authorize_security_group_ingress(GroupId=observed.id, IpPermissions=add)
                    if remove:
                        with tolerate_not_found():
                            ec2.revoke_security_group_ingress(GroupId=observed.id, IpPermissions=remove)
                else:
                    if add:
                        ec2.authorize_security_group_egress(GroupId=observed.id, IpPermissions=add)
                    if remove:
                        with tolerate_not_found():
                            ec2.revoke_security_group_egress(GroupId=observed.id, IpPermissions=remove)
                observed.properties[direction] = [dict(r) for r in want]
        return observed

    def _observed(self, key: str, group: SecurityGroupTypeDef, tags: dict[str, str]) -> Observed:
        group_id = group["GroupId"]
        return Observed(
            key,
            self.kind,
            group_id,
            {
                "vpcId": group.get("VpcId"),
                "groupName": group["GroupName"],
                "description": group.get("Description", ""),
                "ingress": _flatten(group.get("IpPermissions", [])),
                "egress": _flatten(group.get("IpPermissionsEgress", [])),
            },
            tags,
            {"id": group_id},
        )
