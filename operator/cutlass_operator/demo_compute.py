"""The demo's look at each region's functions and messaging, read back from the emulated accounts
with the ids the regions' status reports: what a user would check in the console."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

DEMO_CONTACT = "billing@demo.example.com"


def check_region_compute(region: dict[str, Any], session: boto3.Session) -> bool:
    """Every function with its memory, role, VPC config and log retention; the event source
    mappings; the queue's redrive policy and key; the alert templates."""
    name = region["metadata"]["name"]
    outputs = (region.get("status") or {}).get("outputs", {})
    functions = outputs.get("compute", {}).get("functions", {})
    private = set(outputs.get("network", {}).get("privateSubnetIds", []))
    lambda_, logs = session.client("lambda"), session.client("logs")
    ok = bool(functions)
    for function, reported in sorted(functions.items()):
        config = lambda_.get_function_configuration(FunctionName=reported["name"])
        group = f"/aws/lambda/{config['FunctionName']}"
        groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        retention = next((g.get("retentionInDays") for g in groups if g["logGroupName"] == group), None)
        in_private = set(config.get("VpcConfig", {}).get("SubnetIds", [])) == private
        aliases = lambda_.list_aliases(FunctionName=config["FunctionName"])["Aliases"]
        live = next((a["FunctionVersion"] for a in aliases if a["Name"] == "live"), "MISSING")
        ok &= in_private and retention is not None and live not in ("$LATEST", "MISSING")
        print(
            f"{name:<12} {function:<18} {config['MemorySize']} MB  role {config['Role'].rsplit('/', 1)[-1]}  "
            f"logs {retention} days  {'private subnets' if in_private else 'NOT in the private subnets'}  "
            f"live -> v{live}"
        )
    for mapping in lambda_.list_event_source_mappings()["EventSourceMappings"]:
        function = mapping["FunctionArn"].split(":")[6]
        if any(function == f["name"] for f in functions.values()):
            print(f"{name:<12} {mapping['EventSourceArn'].split(':', 5)[-1]} -> {function} ({mapping['State']})")
    ok &= _check_messaging(name, outputs.get("messaging", {}), session)
    return ok


def _check_messaging(name: str, messaging: dict[str, Any], session: boto3.Session) -> bool:
    sqs, ses = session.client("sqs"), session.client("ses")
    url = messaging.get("queueUrl")
    if not url:
        print(f"{name:<12} notifications queue MISSING from status")
        return False
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    redrive, key = attributes.get("RedrivePolicy"), attributes.get("KmsMasterKeyId")
    templates = {t["Name"] for t in ses.list_templates()["TemplatesMetadata"]}
    wanted = set(messaging.get("templates", []))
    print(
        f"{name:<12} queue {url.rsplit('/', 1)[-1]}  redrive {redrive}  key {key and key.rsplit('/', 1)[-1]}  "
        f"templates {', '.join(sorted(wanted & templates)) or 'MISSING'}"
    )
    return bool(redrive and key and wanted and wanted <= templates)


def exercise_application(region: dict[str, Any], session: boto3.Session, timeout: float = 20.0) -> bool:
    """The application at work, through Lambda's API: credits granted, a usage check crossing 80% of
    the user's credits, and the alert email the stream, the queue and the notifier send for it."""
    name = region["metadata"]["name"]
    functions = (region.get("status") or {}).get("outputs", {}).get("compute", {}).get("functions", {})
    lambda_, ses = session.client("lambda"), session.client("ses")

    def invoke(function: str, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        event = {"httpMethod": method, "path": path, "body": json.dumps(body), "requestContext": {"requestId": path}}
        answer = lambda_.invoke(FunctionName=functions[function]["name"], Qualifier="live", Payload=json.dumps(event))
        result: dict[str, Any] = json.loads(answer["Payload"].read())
        return result

    sent_before = ses.get_send_quota()["SentLast24Hours"]
    invoke(
        "credits",
        "POST",
        "/credits",
        {"org_id": "demo", "amount": 1000, "mode": "grant", "contact_email": DEMO_CONTACT},
    )
    invoke("credits", "POST", "/credits", {"org_id": "demo", "user_id": "ada", "amount": 100, "mode": "grant"})
    checked = invoke("usage-check", "POST", "/usage-check", {"org_id": "demo", "user_id": "ada", "units": 85})
    deadline = time.monotonic() + timeout
    while (sent := ses.get_send_quota()["SentLast24Hours"]) == sent_before and time.monotonic() < deadline:
        time.sleep(0.5)
    print(
        f"{name:<12} usage check of 85 units: HTTP {checked.get('statusCode')} {checked.get('body')}; "
        f"alert emails sent: {int(sent - sent_before)}"
    )
    return checked.get("statusCode") == 200 and sent - sent_before == 1


def check_region_api(region: dict[str, Any], session: boto3.Session) -> bool:
    """The region's REST API with its routes and stage, its user pool, and its custom domain."""
    name = region["metadata"]["name"]
    api = (region.get("status") or {}).get("outputs", {}).get("api", {})
    if not api.get("apiId"):
        print(f"{name:<12} API MISSING from status")
        return False
    apigateway, cognito = session.client("apigateway"), session.client("cognito-idp")
    routes = sorted(
        f"{method} {resource['path']}"
        for resource in apigateway.get_resources(restApiId=api["apiId"])["items"]
        for method in resource.get("resourceMethods", {})
    )
    pool = cognito.describe_user_pool(UserPoolId=api["cognito"]["userPoolId"])["UserPool"]
    plans = ", ".join(sorted(api.get("usagePlans", {})))
    domain = api.get("customDomain") or {}
    print(
        f"{name:<12} API {api['invokeUrl']}  routes {', '.join(routes)}  pool {pool['Name']}  plans {plans}"
        + (f"  domain {domain['domainName']} -> {domain['regionalDomainName']}" if domain else "")
    )
    return len(routes) == 4 and bool(plans)
