"""API Gateway tags in the emulator, over HTTP as the product sees them.

moto 5.2.5 routes TagResource, UntagResource and GetTags only for stage ARNs: any other ARN gets Flask's
HTML 404 page. `emulator/apigateway_tags.py` fills the gap for the five resource types the API Gateway
kinds tag. Each is tagged, read back (GetTags, the resource's own Get, and the list call the kinds
observe with), untagged and read back. The last test does what a user does: converges manifests/dev,
adds a tag to the environment's `spec.tags`, converges, removes it and converges again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cutlass_operator.api.environment import CutlassEnvironment
from cutlass_operator.aws.session import AwsClients
from cutlass_operator.engine.identity import WORKSPACE
from cutlass_operator.offline import OfflineRun
from cutlass_operator.workflows.manifests import ManifestSet
from cutlass_operator.workflows.report import Mode

from .accounts import converged_dev, operator_session

pytestmark = pytest.mark.integration

REGION = "eu-west-2"
CREATED = {"Name": "created-with", "cutlass.tech/workspace": "dev-london"}
# Keys as the operator writes them: slashes, colons and dots must survive the path and the query string.
ADDED = {"team": "x", "cutlass.tech/key": "api/usage-plan:premium"}
KINDS = ("rest_api", "stage", "usage_plan", "api_key", "domain_name")
# The operator-level test's own account: outside conftest's range and the other modules' 4000000000xx.
ACCOUNT = "400000000041"
REGIONS = {"dev-london": "eu-west-2", "dev-sydney": "ap-southeast-2"}

Tags = dict[str, str]


@dataclass
class Tagged:
    """One API Gateway resource, its ARN, and the reads that report its tags."""

    arn: str
    get: Callable[[], Tags]  # the resource's own Get (GetRestApi, GetStage, ...)
    listed: Callable[[], Tags]  # its item in the list call the kind observes with (GetRestApis, ...)


@pytest.fixture
def apigw(clients: AwsClients) -> Any:
    return clients.client("apigateway")


def arn_of(path: str) -> str:
    return f"arn:aws:apigateway:{REGION}::{path}"


def tags_in(item: Mapping[str, Any]) -> Tags:
    return dict(item.get("tags") or {})


def item_with(items: list[dict[str, Any]], field: str, value: str) -> Tags:
    (item,) = [i for i in items if i[field] == value]
    return tags_in(item)


def rest_api(apigw: Any) -> Tagged:
    api_id = apigw.create_rest_api(name=f"tags-{uuid.uuid4().hex[:8]}", tags=CREATED)["id"]
    return Tagged(
        arn_of(f"/restapis/{api_id}"),
        lambda: tags_in(apigw.get_rest_api(restApiId=api_id)),
        lambda: item_with(apigw.get_rest_apis()["items"], "id", api_id),
    )


def stage(apigw: Any) -> Tagged:
    api_id = apigw.create_rest_api(name=f"tags-{uuid.uuid4().hex[:8]}")["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    # A deployment needs a method with an integration.
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    deployment = apigw.create_deployment(restApiId=api_id)["id"]
    apigw.create_stage(restApiId=api_id, stageName="live", deploymentId=deployment, tags=CREATED)
    return Tagged(
        arn_of(f"/restapis/{api_id}/stages/live"),
        lambda: tags_in(apigw.get_stage(restApiId=api_id, stageName="live")),
        lambda: item_with(apigw.get_stages(restApiId=api_id)["item"], "stageName", "live"),
    )


def usage_plan(apigw: Any) -> Tagged:
    plan_id = apigw.create_usage_plan(name=f"tags-{uuid.uuid4().hex[:8]}", tags=CREATED)["id"]
    return Tagged(
        arn_of(f"/usageplans/{plan_id}"),
        lambda: tags_in(apigw.get_usage_plan(usagePlanId=plan_id)),
        lambda: item_with(apigw.get_usage_plans()["items"], "id", plan_id),
    )


def api_key(apigw: Any) -> Tagged:
    key_id = apigw.create_api_key(name=f"tags-{uuid.uuid4().hex[:8]}", enabled=True, tags=CREATED)["id"]
    return Tagged(
        arn_of(f"/apikeys/{key_id}"),
        lambda: tags_in(apigw.get_api_key(apiKey=key_id)),
        lambda: item_with(apigw.get_api_keys(includeValues=False)["items"], "id", key_id),
    )


def domain_name(apigw: Any) -> Tagged:
    name = f"api-{uuid.uuid4().hex[:8]}.dev.cutlass.example.com"
    apigw.create_domain_name(
        domainName=name,
        regionalCertificateArn=f"arn:aws:acm:{REGION}:123456789012:certificate/{uuid.uuid4()}",
        endpointConfiguration={"types": ["REGIONAL"]},
        securityPolicy="TLS_1_2",
        tags=CREATED,
    )
    return Tagged(
        arn_of(f"/domainnames/{name}"),
        lambda: tags_in(apigw.get_domain_name(domainName=name)),
        lambda: item_with(apigw.get_domain_names()["items"], "domainName", name),
    )


MAKERS: dict[str, Callable[[Any], Tagged]] = {
    "rest_api": rest_api,
    "stage": stage,
    "usage_plan": usage_plan,
    "api_key": api_key,
    "domain_name": domain_name,
}


@pytest.fixture(params=KINDS)
def resource(request: pytest.FixtureRequest, apigw: Any) -> Tagged:
    return MAKERS[request.param](apigw)


def every_read(apigw: Any, resource: Tagged) -> dict[str, Tags]:
    return {
        "GetTags": dict(apigw.get_tags(resourceArn=resource.arn)["tags"]),
        "Get": resource.get(),
        "list": resource.listed(),
    }


def rejected(call: Callable[[], Any], code: str) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == code
    return str(caught.value.response["Error"]["Message"])


# --- tagging, read back, untagging ----------------------------------------------------------------


def test_the_create_time_tags_are_what_get_tags_reports(apigw: Any, resource: Tagged) -> None:
    assert every_read(apigw, resource) == {"GetTags": CREATED, "Get": CREATED, "list": CREATED}


def test_tag_resource_adds_tags_that_every_read_reports(apigw: Any, resource: Tagged) -> None:
    answer = apigw.tag_resource(resourceArn=resource.arn, tags=ADDED)

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204  # as AWS: no content
    want = {**CREATED, **ADDED}
    assert every_read(apigw, resource) == {"GetTags": want, "Get": want, "list": want}


def test_tag_resource_gives_a_key_given_again_its_new_value(apigw: Any, resource: Tagged) -> None:
    apigw.tag_resource(resourceArn=resource.arn, tags={"Name": "renamed"})

    assert resource.listed() == {**CREATED, "Name": "renamed"}


def test_untag_resource_removes_only_the_keys_it_names(apigw: Any, resource: Tagged) -> None:
    apigw.tag_resource(resourceArn=resource.arn, tags=ADDED)

    # A key the resource does not carry is no error.
    answer = apigw.untag_resource(resourceArn=resource.arn, tagKeys=[*ADDED, "never-set"])

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert every_read(apigw, resource) == {"GetTags": CREATED, "Get": CREATED, "list": CREATED}


def test_untagging_every_key_leaves_no_tags(apigw: Any, resource: Tagged) -> None:
    apigw.untag_resource(resourceArn=resource.arn, tagKeys=list(CREATED))

    assert every_read(apigw, resource) == {"GetTags": {}, "Get": {}, "list": {}}

    apigw.tag_resource(resourceArn=resource.arn, tags={"team": "y"})  # and takes tags again
    assert resource.listed() == {"team": "y"}


def test_an_api_and_its_stage_keep_their_tags_apart(apigw: Any) -> None:
    live = stage(apigw)
    api_arn = live.arn.split("/stages/")[0]

    apigw.tag_resource(resourceArn=api_arn, tags={"on": "api"})
    apigw.untag_resource(resourceArn=live.arn, tagKeys=["Name"])

    assert apigw.get_tags(resourceArn=api_arn)["tags"] == {"on": "api"}
    assert live.get() == {"cutlass.tech/workspace": "dev-london"}


# --- what is refused ------------------------------------------------------------------------------


MISSING = (
    "/restapis/nosuchapi",
    "/restapis/nosuchapi/stages/live",
    "/usageplans/nosuch",
    "/apikeys/nosuch",
    "/domainnames/nosuch.example.com",
)


@pytest.mark.parametrize("path", MISSING)
def test_tagging_a_resource_that_does_not_exist_is_not_found(apigw: Any, path: str) -> None:
    arn = arn_of(path)

    rejected(lambda: apigw.tag_resource(resourceArn=arn, tags=ADDED), "NotFoundException")
    rejected(lambda: apigw.untag_resource(resourceArn=arn, tagKeys=["team"]), "NotFoundException")
    rejected(lambda: apigw.get_tags(resourceArn=arn), "NotFoundException")


def test_a_resource_is_not_found_through_another_regions_arn(apigw: Any) -> None:
    api = rest_api(apigw)
    elsewhere = api.arn.replace(f":{REGION}:", ":us-east-1:")

    rejected(lambda: apigw.tag_resource(resourceArn=elsewhere, tags=ADDED), "NotFoundException")
    assert api.get() == CREATED


@pytest.mark.parametrize("arn", ["not-an-arn", arn_of("/vpclinks/abc123"), f"arn:aws:lambda:{REGION}::/restapis/x"])
def test_an_arn_that_names_nothing_taggable_is_a_bad_request(apigw: Any, arn: str) -> None:
    # moto answered these with its HTML 404 page; a client sees an API Gateway error instead.
    rejected(lambda: apigw.tag_resource(resourceArn=arn, tags=ADDED), "BadRequestException")


# --- the operator, changing an environment's tags on a converged stack ----------------------------


def with_tags(manifests: ManifestSet, tags: Mapping[str, str]) -> ManifestSet:
    environments: list[CutlassEnvironment] = [
        env.model_copy(update={"spec": env.spec.model_copy(update={"tags": dict(tags)})})
        for env in manifests.environments
    ]
    return ManifestSet(environments, manifests.regions, manifests.secrets, manifests.documents)


def applied(manifests: ManifestSet) -> OfflineRun:
    run = OfflineRun(manifests, Mode.APPLY, echo=lambda _: None)
    assert run.run(), {name: str(r.first_error) for name, r in run.reports.items() if r.first_error}
    return run


def api_gateway_tags() -> dict[str, Tags]:
    """Every API Gateway resource of the dev stack, by region and type, with its tags."""
    found: dict[str, Tags] = {}
    for workspace, aws_region in REGIONS.items():
        apigw: Any = operator_session(ACCOUNT, aws_region).client("apigateway")
        ours = [api for api in apigw.get_rest_apis()["items"] if tags_in(api).get(WORKSPACE) == workspace]
        items: dict[str, list[dict[str, Any]]] = {
            "rest_api": ours,
            "stage": [s for api in ours for s in apigw.get_stages(restApiId=api["id"])["item"]],
            "usage_plan": apigw.get_usage_plans()["items"],
            "api_key": apigw.get_api_keys()["items"],
            "domain_name": apigw.get_domain_names()["items"],
        }
        for kind, listed in items.items():
            for number, item in enumerate(listed):
                found[f"{workspace} {kind} {number}"] = tags_in(item)
    return found


def test_an_environment_tag_added_then_removed_converges_and_then_writes_nothing(moto_endpoint: str) -> None:
    manifests, _ = converged_dev(ACCOUNT)
    (env,) = manifests.environments
    before = api_gateway_tags()
    assert {kind.split()[1] for kind in before} == set(KINDS)  # the dev stack has each type in it
    assert all("team" not in tags for tags in before.values())

    tagged = with_tags(manifests, {**env.spec.tags, "team": "x"})
    applied(tagged)  # TagResource on every API Gateway resource, which moto answered with a 404 page
    assert applied(tagged).calls.mutating() == {}
    assert {where: tags.get("team") for where, tags in api_gateway_tags().items()} == dict.fromkeys(before, "x")

    # The operator removes only its own `cutlass.tech/` keys (resources/tags.py), so `team` stays on the
    # resources and this run has nothing to write; what it shows is that the stack still converges.
    applied(manifests)
    assert applied(manifests).calls.mutating() == {}
