"""moto 5.2.5 gap: API Gateway's TagResource, UntagResource and GetTags reach only stages.

AWS tags an API Gateway resource by its ARN, `arn:<partition>:apigateway:<region>::<path>`, where the
path is `/restapis/<id>`, `/restapis/<id>/stages/<name>`, `/usageplans/<id>`, `/apikeys/<id>` or
`/domainnames/<name>` (among others). botocore puts the ARN in the request path as one segment
(`/tags/{resource_arn}`, its slashes percent-encoded); the moto server routes on the decoded path, and
its URL map (`moto/apigateway/urls.py`) has a `/tags/` route for an ARN without slashes, which no
API Gateway ARN is, and one for stage ARNs. Every other ARN falls through to Flask's HTML 404 page.
Behind those routes, moto's handlers take every ARN for a stage's.

The product needs the rest: the API Gateway kinds create a REST API, stage, usage plan, API key or
domain name with its tags, then keep the tags in step with TagResource and UntagResource (an
environment's `spec.tags` changed on a converged stack), and observe them in the `tags` of each item of
the list calls (GetRestApis, GetStages, GetUsagePlans, GetApiKeys, GetDomainNames). So the three
operations here work on those five resource types and keep the tags where moto keeps the create-time
ones, on the resource itself, which every read of it reports. TagResource and UntagResource answer
204 with no body, as AWS does. Other taggable types (VPC links, client certificates) are left out: the
product makes none, and their ARNs are refused as a bad request rather than a 404 page.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import parse_qs, unquote

from moto.apigateway import urls
from moto.apigateway.exceptions import BadRequestException, NotFoundException
from moto.apigateway.models import APIGatewayBackend
from moto.apigateway.responses import APIGatewayResponse
from moto.core.common_types import TYPE_RESPONSE

_LOCK = threading.Lock()
_INSTALLED = threading.Event()
# The moto server answers each request in its own thread: a change reads a resource's tags and
# replaces them, as one step, so two concurrent TagResource calls on one resource both count.
_WRITES = threading.Lock()

# Any ARN under /tags/, slashes included. A moto server builds its API Gateway URL map from
# `moto.apigateway.urls.url_paths` when it first sees an API Gateway request, so the route is added before then.
ANY_ARN_ROUTE = "{0}/tags/(?P<resource_arn>.+)$"
TAGS_PATH = "/tags/"

ARN = re.compile(r"arn:(?P<partition>[^:]+):apigateway:(?P<region>[^:]+)::(?P<path>/.*)")


class _NoSuchResource(NotFoundException):
    code = 404  # moto's NotFoundException keeps JsonRESTError's 400; AWS answers a missing resource with 404

    def __init__(self, arn: str) -> None:
        super().__init__(f"Invalid resource identifier specified: {arn}")


def _resource(backend: APIGatewayBackend, request: APIGatewayResponse, arn: str) -> Any:
    """The moto model the ARN names, whose `tags` the reads report.

    Typed Any: moto declares the usage plan's and API key's `tags` as a list of pairs, though it keeps
    there the map the request gave, as for the other three.
    """
    found = ARN.fullmatch(arn)
    # The BadRequestException texts are this module's own: they only have to say what was refused.
    if found is None:
        raise BadRequestException(f"Invalid ARN specified in the request: {arn}")
    if found["partition"] != request.partition or found["region"] != request.region:
        raise _NoSuchResource(arn)  # another region's (or partition's) resources are not in this backend
    # moto's getters raise the NotFoundException AWS answers for each type when the id is unknown.
    match found["path"].strip("/").split("/"):
        case ["restapis", api_id]:
            return backend.get_rest_api(api_id)
        case ["restapis", api_id, "stages", stage_name]:
            return backend.get_stage(api_id, stage_name)
        case ["usageplans", plan_id]:
            return backend.get_usage_plan(plan_id)
        case ["apikeys", key_id]:
            return backend.get_api_key(key_id)
        case ["domainnames", domain_name]:
            return backend.get_domain_name(domain_name)
    raise BadRequestException(f"The resource the ARN names cannot be tagged here: {arn}")


def _requested_arn(request: APIGatewayResponse) -> str:
    # The ARN is the rest of the path; a client that left its slashes encoded is read the same way.
    return unquote(request.path.split(TAGS_PATH, 1)[1])


def _tags_of(resource: Any) -> dict[str, str]:
    return dict(resource.tags or {})  # a stage or domain created without tags holds None


def _get_tags(self: APIGatewayResponse) -> TYPE_RESPONSE:
    resource = _resource(self.backend, self, _requested_arn(self))
    return 200, {}, json.dumps({"tags": _tags_of(resource)})


def _tag_resource(self: APIGatewayResponse) -> TYPE_RESPONSE:
    arn = _requested_arn(self)
    tags = dict(json.loads(self.body or "{}").get("tags") or {})
    with _WRITES:
        resource = _resource(self.backend, self, arn)
        resource.tags = {**_tags_of(resource), **tags}  # a key given again takes the new value
    return 204, {"status": 204}, ""


def _untag_resource(self: APIGatewayResponse) -> TYPE_RESPONSE:
    arn = _requested_arn(self)
    # The keys come as repeated `tagKeys` query parameters; a key that is not there is no error.
    removed = set(parse_qs(self.parsed_url.query).get("tagKeys", []))
    with _WRITES:
        resource = _resource(self.backend, self, arn)
        resource.tags = {k: v for k, v in _tags_of(resource).items() if k not in removed}
    return 204, {"status": 204}, ""


def install_apigateway_tags() -> None:
    """Patch moto (in this process); calling it again changes nothing. Call it before a moto server
    answers its first API Gateway request, which is when the server reads the routes."""
    with _LOCK:
        if _INSTALLED.is_set():
            return
        urls.url_paths[ANY_ARN_ROUTE] = APIGatewayResponse.dispatch
        APIGatewayResponse.get_tags = _get_tags  # type: ignore[method-assign,assignment]
        APIGatewayResponse.tag_resource = _tag_resource  # type: ignore[method-assign,assignment]
        APIGatewayResponse.untag_resource = _untag_resource  # type: ignore[method-assign,assignment]
        _INSTALLED.set()
