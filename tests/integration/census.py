"""An account's census: every resource the operator can make, listed by each service's own API (not
by the operator's observe), so a duplicate, an orphan or a resource left untagged by a crash shows.

Each entry is a stable identity (a name, a Name tag, a record's name/type/set identifier) with
its count, never an AWS id: a resource replaced by an edit and its revert is the same entry, and
two resources of one identity count 2. Default resources AWS makes on its own (the default VPC,
a VPC's main route table and default security group) are left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from .accounts import operator_session

Census = dict[str, Counter[str]]


def census(account: str, aws_regions: Iterable[str]) -> Census:
    found: Census = {}
    for aws_region in aws_regions:
        session = operator_session(account, aws_region)
        for kind, names in _regional(session, aws_region).items():
            found.setdefault(kind, Counter()).update(names)
    for kind, names in _global(operator_session(account, "us-east-1")).items():
        found.setdefault(kind, Counter()).update(names)
    return {kind: names for kind, names in found.items() if names}


def census_of_any_account(account: str, aws_regions: Iterable[str]) -> Census:
    """The census with the account id written as {account} (bucket names carry it), to compare
    the census of two accounts."""
    found = census(account, aws_regions)
    return {kind: Counter({k.replace(account, "{account}"): n for k, n in c.items()}) for kind, c in found.items()}


def differences(before: Census, after: Census) -> dict[str, dict[str, tuple[int, int]]]:
    """What differs, by kind: identity -> (count before, count after)."""
    diff: dict[str, dict[str, tuple[int, int]]] = {}
    for kind in sorted({*before, *after}):
        was, now = before.get(kind, Counter()), after.get(kind, Counter())
        changed = {name: (was[name], now[name]) for name in sorted({*was, *now}) if was[name] != now[name]}
        if changed:
            diff[kind] = changed
    return diff


def _name(tags: Iterable[Mapping[str, Any]] | None, fallback: str = "(untagged)") -> str:
    return next((str(t["Value"]) for t in tags or [] if t["Key"] == "Name"), fallback)


def _regional(session: Any, aws_region: str) -> dict[str, list[str]]:
    ec2 = session.client("ec2")
    vpcs = [v for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
    own_vpcs = {v["VpcId"] for v in vpcs}
    at = f"{aws_region}/"

    def in_vpcs(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        return [i for i in items if i.get("VpcId") in own_vpcs]

    route_tables = [
        r
        for r in in_vpcs(ec2.describe_route_tables()["RouteTables"])
        if not any(a.get("Main") for a in r.get("Associations", []))
    ]
    groups = [g for g in in_vpcs(ec2.describe_security_groups()["SecurityGroups"]) if g["GroupName"] != "default"]
    lambda_ = session.client("lambda")
    functions = [f["FunctionName"] for f in lambda_.list_functions()["Functions"]]
    apigateway = session.client("apigateway")
    apis = apigateway.get_rest_apis()["items"]
    cognito = session.client("cognito-idp")
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    kms = session.client("kms")
    return {
        "ec2:vpc": [at + _name(v.get("Tags")) for v in vpcs],
        "ec2:subnet": [at + _name(s.get("Tags")) for s in in_vpcs(ec2.describe_subnets()["Subnets"])],
        "ec2:route-table": [at + _name(r.get("Tags")) for r in route_tables],
        "ec2:security-group": [at + g["GroupName"] for g in groups],
        "ec2:internet-gateway": [
            at + _name(g.get("Tags"))
            for g in ec2.describe_internet_gateways()["InternetGateways"]
            if any(a.get("VpcId") in own_vpcs for a in g.get("Attachments", []))
        ],
        "ec2:eip": [at + _name(a.get("Tags")) for a in ec2.describe_addresses()["Addresses"]],
        "ec2:nat-gateway": [
            at + _name(n.get("Tags"))
            for n in ec2.describe_nat_gateways()["NatGateways"]
            if n["State"] not in ("deleted", "deleting")
        ],
        "ec2:vpc-endpoint": [
            at + _name(e.get("Tags"), e["ServiceName"])
            for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
            if e["State"].lower() not in ("deleted", "deleting")
        ],
        "ec2:flow-log": [at + str(f.get("LogGroupName")) for f in ec2.describe_flow_logs()["FlowLogs"]],
        "kms:alias": [
            at + a["AliasName"] for a in kms.list_aliases()["Aliases"] if not a["AliasName"].startswith("alias/aws/")
        ],
        "kms:key": [
            at + "customer key"
            for k in kms.list_keys()["Keys"]
            if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] not in ("PendingDeletion",)
            and kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyManager"] == "CUSTOMER"
        ],
        "dynamodb:table": [at + t for t in session.client("dynamodb").list_tables()["TableNames"]],
        "sqs:queue": [at + url.rsplit("/", 1)[-1] for url in session.client("sqs").list_queues().get("QueueUrls", [])],
        "ses:identity": [at + i for i in session.client("ses").list_identities()["Identities"]],
        "ses:template": [at + t["Name"] for t in session.client("ses").list_templates().get("TemplatesMetadata", [])],
        "lambda:function": [at + f for f in functions],
        "lambda:alias": [
            f"{at}{f}:{a['Name']}" for f in functions for a in lambda_.list_aliases(FunctionName=f)["Aliases"]
        ],
        "lambda:event-source-mapping": [
            at + str(m["FunctionArn"]).rsplit(":", 2)[-2]
            for m in lambda_.list_event_source_mappings()["EventSourceMappings"]
        ],
        "logs:log-group": [
            at + g["logGroupName"] for g in session.client("logs").describe_log_groups().get("logGroups", [])
        ],
        "cloudwatch:alarm": [
            at + a["AlarmName"] for a in session.client("cloudwatch").describe_alarms().get("MetricAlarms", [])
        ],
        "apigateway:rest-api": [at + a["name"] for a in apis],
        "apigateway:stage": [
            f"{at}{a['name']}/{s['stageName']}" for a in apis for s in apigateway.get_stages(restApiId=a["id"])["item"]
        ],
        "apigateway:usage-plan": [at + p["name"] for p in apigateway.get_usage_plans()["items"]],
        "apigateway:api-key": [at + k["name"] for k in apigateway.get_api_keys()["items"]],
        "apigateway:domain-name": [at + d["domainName"] for d in apigateway.get_domain_names()["items"]],
        "cognito:user-pool": [at + p["Name"] for p in pools],
        "cognito:app-client": [
            f"{at}{p['Name']}/{c['ClientName']}"
            for p in pools
            for c in cognito.list_user_pool_clients(UserPoolId=p["Id"], MaxResults=60)["UserPoolClients"]
        ],
        "s3:bucket": [at + b["Name"] for b in _buckets_in(session, aws_region)],
    }


def _buckets_in(session: Any, aws_region: str) -> list[Mapping[str, Any]]:
    s3 = session.client("s3")
    buckets = s3.list_buckets()["Buckets"]
    return [b for b in buckets if (s3.get_bucket_location(Bucket=b["Name"]).get("LocationConstraint")) == aws_region]


def _global(session: Any) -> dict[str, list[str]]:
    r53 = session.client("route53")
    zones = r53.list_hosted_zones()["HostedZones"]
    checks = r53.list_health_checks()["HealthChecks"]
    iam = session.client("iam")
    return {
        "iam:role": [r["Path"] + r["RoleName"] for r in iam.list_roles()["Roles"] if r["Path"].startswith("/cutlass")],
        "route53:zone": [z["Name"] for z in zones],
        "route53:record": [
            f"{rr['Name']} {rr['Type']} {rr.get('SetIdentifier', '')}"
            for z in zones
            for rr in r53.list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"]
            if rr["Type"] not in ("NS", "SOA")
        ],
        "route53:health-check": [
            _name(r53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=c["Id"])["ResourceTagSet"]["Tags"])
            for c in checks
        ],
    }
