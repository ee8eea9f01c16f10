"""API Gateway (v1, REST) stages, and what the API Gateway kinds share: client, ARNs, patches, tags, errors.

The kinds live in four modules:

- here: `apigateway.stage` (below), a stage and the deployment it serves, redeployed only when the
  definition changes, with the helpers the other kinds share.
- `apigateway_api.py`: `apigateway.rest_api`, the API and its whole definition (resources, methods,
  Lambda proxy integrations, Cognito authorizers).
- `apigateway_plans.py`: `apigateway.usage_plan` and `apigateway.api_key`.
- `apigateway_domains.py`: `apigateway.domain_name`, a regional custom domain with its base path
  mappings.

API Gateway changes most things through JSON-patch-like operations whose values are always strings,
and every list call of the service (GetRestApis, GetStages, GetUsagePlans, GetApiKeys,
GetDomainNames) returns each item's tags, so the kinds find their resources with one list call and
the selector, without the Resource Groups Tagging API.

`apigateway.stage` (StageKind(), `StageProps`, delete rank 70). `restApiId` and `stageName` cannot
change in place (a new stage name replaces the stage). A trailing `:*` of the access log destination is
ignored; AWS's throttling -1 ("no override") is observed as None. Tags at CreateStage. Outputs: `id`
(`<api id>/<stage>`), `stageName`, `deploymentId`, `invokeUrl`
(`https://<api id>.execute-api.<region>.amazonaws.com/<stage>`) and `arn`.

Deployments. The deployment a stage serves carries the definition hash in its description
(`cutlass definition <hash>`). What a deployment serves never changes, so the description is a faithful
record of it, whereas a tag on the stage would still claim a hash after someone repointed the stage by
hand (and GetDeployments per API would grow with the history). A desired hash that differs makes one
CreateDeployment, then one UpdateStage pointing the stage at it together with any other setting that
changed; a no-op makes none. CreateDeployment is called without a stage name: AWS would then repoint
or create the stage itself, and moto would replace the stage with a bare one, dropping its tags and
settings. Earlier deployments stay as the API's history; a crash between CreateDeployment and the
stage's update leaves one unused deployment, and the retry makes another.

Observe. The desired `restApiId` is usually a `Ref`, unresolved when observing, so the kind lists the
workspace's APIs (GetRestApis, with their tags) and reads GetStages on each (tags come with each stage),
then GetDeployment for each desired stage. A no-op resync of one API with one stage reads 3 times
(1 + A + S). Create: CreateDeployment, CreateStage (description, tracing, tags), then UpdateStage for
access logs and throttling, which CreateStage does not take. A stage name taken by a stage without our
tags is the terminal error `StageNameTaken`; one with them (a crash) is adopted. Update: UpdateStage
patches (`/deploymentId`, `/description`, `/tracingEnabled`, `/accessLogSettings/destinationArn`,
`/accessLogSettings/format`, `remove /accessLogSettings`, `/*/*/throttling/rateLimit`,
`/*/*/throttling/burstLimit`, `remove /*/*`), then tags. Delete: DeleteStage.

moto 5.2.5 gaps for stages: UpdateStage ignores `remove` except for `/accessLogSettings`, so throttling
once set cannot be cleared there; GetDeployment of an unknown id is a 500 rather than NotFound.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.engine.arns import dns_suffix, partition
from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.identity import WORKSPACE
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind
from cutlass_operator.props.apigateway import StageProps
from cutlass_operator.resources.errors import aws_errors, error_code, error_message, is_not_found, tolerate_not_found
from cutlass_operator.resources.tags import key_of, matches, tag_changes

if TYPE_CHECKING:
    from mypy_boto3_apigateway.client import APIGatewayClient
    from mypy_boto3_apigateway.literals import OpType
    from mypy_boto3_apigateway.type_defs import PatchOperationTypeDef, RestApiTypeDef

# List calls return at most this many items a page (the service's maximum).
PAGE_SIZE = 500
# API Gateway answers a change to something another request is changing with this code; it also
# means "exists already" for a few creates, which the kinds catch before this classification.
CONFLICT = "ConflictException"
# The description of the deployments the stage kind makes: the definition hash follows it.
DEPLOYMENT_MARKER = "cutlass definition "
# The method settings that apply to every method of a stage.
STAGE_WIDE = "*/*"


def client(ctx: KindContext) -> APIGatewayClient:
    apigw: APIGatewayClient = ctx.clients.client("apigateway", ctx.region)
    return apigw


def resource_arn(region: str, path: str) -> str:
    """`arn:aws:apigateway:<region>::/restapis/<id>` and the like: API Gateway's ARNs carry no account."""
    return f"arn:{partition(region)}:apigateway:{region}::{path}"


def execution_arn(region: str, account_id: str, api_id: str) -> str:
    """The prefix of the ARNs a Lambda permission grants `execute-api:Invoke` on."""
    return f"arn:{partition(region)}:execute-api:{region}:{account_id}:{api_id}"


def patch(op: OpType, path: str, value: Any = None) -> PatchOperationTypeDef:
    operation: PatchOperationTypeDef = {"op": op, "path": path}
    if value is not None:
        operation["value"] = patch_value(value)
    return operation


def patch_value(value: Any) -> str:
    """Patch values are strings. Booleans are `true`/`false`; a whole number is written without a
    fraction, because some fields are integers and (in moto) some doubles are parsed with int()."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def retag(apigw: APIGatewayClient, arn: str, desired: Mapping[str, str], observed: Mapping[str, str]) -> dict[str, str]:
    """TagResource/UntagResource for what differs; returns the tags the resource has afterwards."""
    changes = tag_changes(desired, observed)
    if changes.put:
        apigw.tag_resource(resourceArn=arn, tags=changes.put)
    if changes.remove:
        apigw.untag_resource(resourceArn=arn, tagKeys=changes.remove)
    return changes.applied_to(observed)


def number(value: Any, kind: type[int] | type[float]) -> int | float | None:
    """A number AWS may report as a string (moto stores patched values as given); None stays None."""
    if value is None or value == "":
        return None
    return kind(value)


@contextmanager
def apigateway_errors(what: str) -> Iterator[None]:
    """`aws_errors`, plus API Gateway's ConflictException, which time resolves: another request is
    changing the same API, or the result of an earlier change is not visible yet."""
    with aws_errors(what):
        try:
            yield
        except ClientError as exc:
            if error_code(exc) == CONFLICT:
                raise RetryableError(
                    "ApiGatewayConflict",
                    f"{what}: {exc.operation_name}: {error_message(exc)} (retrying after observing again)",
                    10.0,
                ) from exc
            raise


def rest_apis(apigw: APIGatewayClient) -> list[RestApiTypeDef]:
    """Every REST API in the region, with its tags: one GetRestApis a page of 500."""
    pages = apigw.get_paginator("get_rest_apis").paginate(PaginationConfig={"PageSize": PAGE_SIZE})
    return [api for page in pages for api in page.get("items", []) if "id" in api]


# -- the stage kind ----------------------------------------------------------------------------------

STAGE_SETTINGS = (
    "description",
    "tracingEnabled",
    "accessLogDestinationArn",
    "accessLogFormat",
    "throttlingRateLimit",
    "throttlingBurstLimit",
)


def _log_destination(arn: Any) -> str | None:
    """A log group ARN as API Gateway keeps it: without the `:*` that DescribeLogGroups appends."""
    if not arn:
        return None
    text = str(arn)
    return text[:-2] if text.endswith(":*") else text


def _limit(value: Any, kind: type[int] | type[float]) -> int | float | None:
    """A throttling limit; AWS's negative values mean no stage-wide override."""
    limit = number(value, kind)
    return None if limit is None or limit < 0 else limit


def _stage_settings(props: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a desired or observed stage in one comparable shape."""
    return {
        "description": props.get("description") or "",
        "tracingEnabled": bool(props.get("tracingEnabled")),
        "accessLogDestinationArn": _log_destination(props.get("accessLogDestinationArn")),
        "accessLogFormat": props.get("accessLogFormat") or None,
        "throttlingRateLimit": _limit(props.get("throttlingRateLimit"), float),
        "throttlingBurstLimit": _limit(props.get("throttlingBurstLimit"), int),
    }


def _marker(definition: str) -> str:
    return f"{DEPLOYMENT_MARKER}{definition}"


def _deployed_hash(description: str | None) -> str | None:
    text = description or ""
    return text[len(DEPLOYMENT_MARKER) :] if text.startswith(DEPLOYMENT_MARKER) else None


class StageKind(ResourceKind[StageProps]):
    props = StageProps
    delete_rank = 70
    immutable = frozenset({"restApiId", "stageName"})
    replaceable = frozenset({"stageName"})  # a stage of the new name first; mappings and plans move to it

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[StageProps]]) -> list[Observed]:
        for d in desired:
            _check_stage(d)
        wanted = {d.key for d in desired}
        apigw = client(ctx)
        found: list[Observed] = []
        with apigateway_errors(f"observe {self.kind} in {ctx.region}"):
            for api in rest_apis(apigw):
                if not matches(dict(api.get("tags", {})), ctx.selector):
                    continue
                try:
                    stages = apigw.get_stages(restApiId=api["id"]).get("item", [])
                except ClientError as exc:
                    if is_not_found(exc):
                        continue  # deleted between the listing and this read
                    raise
                for stage in stages:
                    tags = dict(stage.get("tags", {}))
                    name = stage.get("stageName", "")
                    if not matches(tags, ctx.selector):
                        continue
                    key = key_of(tags, f"{api['id']}/{name}")
                    # An orphan is only deleted: what it serves does not matter.
                    deployed = _deployment_hash(apigw, api["id"], stage.get("deploymentId")) if key in wanted else None
                    found.append(_stage_observed(ctx, self.kind, key, api["id"], dict(stage), deployed=deployed))
        return found

    def create(self, ctx: KindContext, desired: Desired[StageProps]) -> Observed:
        apigw = client(ctx)
        props = desired.properties
        api_id, name = str(props["restApiId"]), str(props["stageName"])
        what = f"create {self.kind} {api_id}/{name}"
        want = _stage_settings(props)
        with apigateway_errors(what):
            deployment = apigw.create_deployment(restApiId=api_id, description=_marker(str(props["definitionHash"])))
            params: dict[str, Any] = {"tracingEnabled": want["tracingEnabled"], "tags": dict(desired.tags)}
            if want["description"]:
                params["description"] = want["description"]
            try:
                stage: Mapping[str, Any] = apigw.create_stage(
                    restApiId=api_id, stageName=name, deploymentId=deployment["id"], **params
                )
            except ClientError as exc:
                if error_code(exc) != CONFLICT:
                    raise
                stage = apigw.get_stage(restApiId=api_id, stageName=name)
                if not matches(dict(stage.get("tags", {})), ctx.selector):
                    raise TerminalError(
                        "StageNameTaken",
                        f"{what}: the API has a stage {name} not managed by workspace "
                        f"{ctx.selector.get(WORKSPACE)}; delete it, or tag it as this entry's to adopt it",
                    ) from exc
            observed = _stage_observed(ctx, self.kind, desired.key, api_id, dict(stage), deployed=None)
            return self._converge(apigw, ctx, desired, observed, deployment["id"])

    def update(
        self, ctx: KindContext, desired: Desired[StageProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        apigw = client(ctx)
        with apigateway_errors(f"update {self.kind} {observed.id}"):
            return self._converge(apigw, ctx, desired, observed, None)

    def _converge(
        self,
        apigw: APIGatewayClient,
        ctx: KindContext,
        desired: Desired[StageProps],
        observed: Observed,
        deployed: str | None,
    ) -> Observed:
        """One UpdateStage with every change; `deployed` is a deployment create made already."""
        props = desired.properties
        api_id, name = str(props["restApiId"]), str(props["stageName"])
        definition = str(props["definitionHash"])
        want, have = _stage_settings(props), _stage_settings(observed.properties)
        ops: list[PatchOperationTypeDef] = []
        deployment_id = observed.outputs.get("deploymentId")
        if deployed is None and definition != observed.properties.get("definitionHash"):
            deployed = apigw.create_deployment(restApiId=api_id, description=_marker(definition))["id"]
        if deployed is not None and deployed != deployment_id:
            ops.append(patch("replace", "/deploymentId", deployed))
            deployment_id = deployed
        if want["description"] != have["description"]:
            ops.append(patch("replace", "/description", want["description"]))
        if want["tracingEnabled"] != have["tracingEnabled"]:
            ops.append(patch("replace", "/tracingEnabled", want["tracingEnabled"]))
        ops += _access_log_patch(want, have)
        ops += _throttling_patch(want, have)
        if ops:
            apigw.update_stage(restApiId=api_id, stageName=name, patchOperations=ops)
        tags = retag(apigw, resource_arn(ctx.region, f"/restapis/{api_id}/stages/{name}"), desired.tags, observed.tags)
        properties = {"restApiId": api_id, "stageName": name, "definitionHash": definition, **want}
        outputs = _stage_outputs(ctx, api_id, name, deployment_id)
        return Observed(desired.key, self.kind, outputs["id"], properties, tags, outputs)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        apigw = client(ctx)
        api_id, name = observed.properties["restApiId"], observed.properties["stageName"]
        with apigateway_errors(f"delete {self.kind} {observed.id}"), tolerate_not_found():
            apigw.delete_stage(restApiId=api_id, stageName=name)

    def compare(self, desired: Desired[StageProps], observed: Observed) -> list[FieldDiff]:
        diffs = []
        want, have = _stage_settings(desired.properties), _stage_settings(observed.properties)
        for name in ("restApiId", "stageName", "definitionHash"):
            if desired.properties.get(name) != observed.properties.get(name):
                diffs.append(FieldDiff(name, observed.properties.get(name), desired.properties.get(name)))
        diffs += [FieldDiff(name, have[name], want[name]) for name in STAGE_SETTINGS if want[name] != have[name]]
        diffs += [
            FieldDiff(f"tags.{name}", observed.tags.get(name), value)
            for name, value in sorted(desired.tags.items())
            if observed.tags.get(name) != value
        ]
        return diffs


def _check_stage(desired: Desired[StageProps]) -> None:
    props = desired.properties
    for pair in (("accessLogDestinationArn", "accessLogFormat"), ("throttlingRateLimit", "throttlingBurstLimit")):
        if (props.get(pair[0]) is None) != (props.get(pair[1]) is None):
            raise ValueError(f"{desired.key}: give both of {pair[0]} and {pair[1]}, or neither")


def _access_log_patch(want: Mapping[str, Any], have: Mapping[str, Any]) -> list[PatchOperationTypeDef]:
    if want["accessLogDestinationArn"] is None:
        return (
            [patch("remove", "/accessLogSettings")]
            if have["accessLogDestinationArn"] or have["accessLogFormat"]
            else []
        )
    ops: list[PatchOperationTypeDef] = []
    if want["accessLogDestinationArn"] != have["accessLogDestinationArn"]:
        ops.append(patch("replace", "/accessLogSettings/destinationArn", want["accessLogDestinationArn"]))
    if want["accessLogFormat"] != have["accessLogFormat"]:
        ops.append(patch("replace", "/accessLogSettings/format", want["accessLogFormat"]))
    return ops


def _throttling_patch(want: Mapping[str, Any], have: Mapping[str, Any]) -> list[PatchOperationTypeDef]:
    if want["throttlingRateLimit"] is None:
        # Removing the stage-wide entry is the only way back to "no override".
        has_limits = have["throttlingRateLimit"] is not None or have["throttlingBurstLimit"] is not None
        return [patch("remove", f"/{STAGE_WIDE}")] if has_limits else []
    ops: list[PatchOperationTypeDef] = []
    if want["throttlingRateLimit"] != have["throttlingRateLimit"]:
        ops.append(patch("replace", f"/{STAGE_WIDE}/throttling/rateLimit", float(want["throttlingRateLimit"])))
    if want["throttlingBurstLimit"] != have["throttlingBurstLimit"]:
        ops.append(patch("replace", f"/{STAGE_WIDE}/throttling/burstLimit", int(want["throttlingBurstLimit"])))
    return ops


def _deployment_hash(apigw: APIGatewayClient, api_id: str, deployment_id: str | None) -> str | None:
    """The definition hash the deployment records; None for one made by someone else, or gone."""
    if not deployment_id:
        return None
    try:
        return _deployed_hash(apigw.get_deployment(restApiId=api_id, deploymentId=deployment_id).get("description"))
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def _stage_observed(
    ctx: KindContext, kind: str, key: str, api_id: str, stage: Mapping[str, Any], *, deployed: str | None
) -> Observed:
    name = str(stage.get("stageName", ""))
    access = stage.get("accessLogSettings") or {}
    stage_wide = (stage.get("methodSettings") or {}).get(STAGE_WIDE) or {}
    properties: dict[str, Any] = {
        "restApiId": api_id,
        "stageName": name,
        "definitionHash": deployed,
        "description": stage.get("description") or "",
        "tracingEnabled": bool(stage.get("tracingEnabled", False)),
        "accessLogDestinationArn": _log_destination(access.get("destinationArn")),
        "accessLogFormat": access.get("format") or None,
        "throttlingRateLimit": _limit(stage_wide.get("throttlingRateLimit"), float),
        "throttlingBurstLimit": _limit(stage_wide.get("throttlingBurstLimit"), int),
    }
    outputs = _stage_outputs(ctx, api_id, name, stage.get("deploymentId"))
    return Observed(key, kind, outputs["id"], properties, dict(stage.get("tags", {})), outputs)


def _stage_outputs(ctx: KindContext, api_id: str, name: str, deployment_id: str | None) -> dict[str, Any]:
    return {
        "id": f"{api_id}/{name}",
        "stageName": name,
        "deploymentId": deployment_id,
        "invokeUrl": f"https://{api_id}.execute-api.{ctx.region}.{dns_suffix(ctx.region)}/{name}",
        "arn": resource_arn(ctx.region, f"/restapis/{api_id}/stages/{name}"),
    }
