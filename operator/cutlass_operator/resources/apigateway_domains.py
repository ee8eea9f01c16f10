"""API Gateway regional custom domain names, with their base path mappings managed inline.

`apigateway.domain_name` (DomainNameKind(), `DomainNameProps`, delete rank 80). The name cannot change in
place (a new name replaces the domain). Base path mappings are known by base path; "" and "(none)" are
the same (AWS reports "(none)").

Outputs: `id` and `domainName`, `regionalDomainName` and `regionalHostedZoneId` (the target and zone of
the Route 53 alias record that points the name at API Gateway), and `arn`.

Identity. A domain name is unique in the account and region, and CreateDomainName takes the tags: a
domain with the selector tags is ours. Observe is one GetDomainNames, paginated (500 a page; the tags
come with each domain), then one GetBasePathMappings, paginated, per desired domain. A no-op resync of
D domains reads 1 + D times. Create is CreateDomainName with the certificate, endpoint type, security
policy and tags, then one CreateBasePathMapping per mapping. A name AWS already has (ConflictException
or BadRequestException) is adopted when it carries our tags and is the terminal error `DomainNameTaken`
otherwise. Update is UpdateDomainName (`/regionalCertificateArn`, `/securityPolicy`,
`/endpointConfiguration/types/<current>`) for what differs, then the mappings: created when missing,
UpdateBasePathMapping (`/restapiId`, `/stage`) when pointing elsewhere, deleted when no longer wanted.
Then tags. Delete is DeleteDomainName, which takes its mappings with it.

moto 5.2.5 gaps: there is no UpdateDomainName, so a certificate or policy change does not converge
there; CreateDomainName silently replaces a domain of the same name instead of refusing; it reports
the CloudFront hosted zone id as the regional one; GetBasePathMappings of a domain that never had a
mapping is a 500 (AWS answers with none), so there a domain must be given at least one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.engine.identity import WORKSPACE
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind
from cutlass_operator.props.apigateway import DomainNameProps
from cutlass_operator.resources.apigateway import (
    CONFLICT,
    PAGE_SIZE,
    apigateway_errors,
    client,
    patch,
    resource_arn,
    retag,
)
from cutlass_operator.resources.errors import error_code, is_not_found, tolerate_not_found
from cutlass_operator.resources.tags import key_of, matches

if TYPE_CHECKING:
    from mypy_boto3_apigateway.client import APIGatewayClient
    from mypy_boto3_apigateway.type_defs import PatchOperationTypeDef

# How AWS names the mapping of the domain's root.
ROOT_PATH = "(none)"
SETTINGS = ("regionalCertificateArn", "securityPolicy", "endpointType")
# CreateDomainName's answers for a name that exists already.
TAKEN = frozenset({CONFLICT, "BadRequestException"})


def _base_path(value: Any) -> str:
    return str(value) if value not in (None, "", ROOT_PATH) else ROOT_PATH


def _mappings(value: Any) -> dict[str, dict[str, Any]]:
    """`{base path: {"basePath", "restApiId", "stage"}}`, the root as "(none)"."""
    result = {}
    for mapping in value or []:
        path = _base_path(mapping.get("basePath"))
        result[path] = {"basePath": path, "restApiId": mapping.get("restApiId"), "stage": mapping.get("stage")}
    return result


class DomainNameKind(ResourceKind[DomainNameProps]):
    props = DomainNameProps
    delete_rank = 80
    immutable = frozenset({"domainName"})
    replaceable = frozenset({"domainName"})  # the new name is served before the old one goes

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[DomainNameProps]]) -> list[Observed]:
        wanted = {d.key for d in desired}
        apigw = client(ctx)
        found: list[Observed] = []
        with apigateway_errors(f"observe {self.kind} in {ctx.region}"):
            pages = apigw.get_paginator("get_domain_names").paginate(PaginationConfig={"PageSize": PAGE_SIZE})
            for page in pages:
                for domain in page.get("items", []):
                    tags = dict(domain.get("tags", {}))
                    name = domain.get("domainName", "")
                    if not matches(tags, ctx.selector):
                        continue
                    key = key_of(tags, name)
                    mappings: list[Mapping[str, Any]] = []
                    if key in wanted:  # an orphan is only deleted, and its mappings go with it
                        try:
                            mappings = _read_mappings(apigw, name)
                        except ClientError as exc:
                            if is_not_found(exc):
                                continue  # deleted between the listing and this read
                            raise
                    found.append(self._observed(ctx, key, domain, mappings))
        return found

    def _observed(
        self, ctx: KindContext, key: str, domain: Mapping[str, Any], mappings: Sequence[Mapping[str, Any]]
    ) -> Observed:
        name = domain.get("domainName", "")
        types = list(domain.get("endpointConfiguration", {}).get("types", []))
        properties: dict[str, Any] = {
            "domainName": name,
            "regionalCertificateArn": domain.get("regionalCertificateArn"),
            "securityPolicy": domain.get("securityPolicy"),
            "endpointType": types[0] if len(types) == 1 else sorted(types),
            "basePathMappings": [m for _, m in sorted(_mappings(mappings).items())],
        }
        outputs = {
            "id": name,
            "domainName": name,
            "regionalDomainName": domain.get("regionalDomainName"),
            "regionalHostedZoneId": domain.get("regionalHostedZoneId"),
            "arn": resource_arn(ctx.region, f"/domainnames/{name}"),
        }
        return Observed(key, self.kind, name, properties, dict(domain.get("tags", {})), outputs)

    def create(self, ctx: KindContext, desired: Desired[DomainNameProps]) -> Observed:
        apigw = client(ctx)
        props = desired.properties
        name = str(props["domainName"])
        what = f"create {self.kind} {name}"
        with apigateway_errors(what):
            mappings: list[Mapping[str, Any]] = []  # a new domain has none
            try:
                domain: Mapping[str, Any] = apigw.create_domain_name(
                    domainName=name,
                    regionalCertificateArn=str(props["regionalCertificateArn"]),
                    endpointConfiguration={"types": [props["endpointType"]]},
                    securityPolicy=props["securityPolicy"],
                    tags=dict(desired.tags),
                )
            except ClientError as exc:
                if error_code(exc) not in TAKEN:
                    raise
                domain = self._adoptable(ctx, apigw, name, what, exc)
                mappings = _read_mappings(apigw, name)
            observed = self._observed(ctx, desired.key, domain, mappings)
            return self._converge(ctx, apigw, desired, observed)

    def _adoptable(
        self, ctx: KindContext, apigw: APIGatewayClient, name: str, what: str, exc: ClientError
    ) -> Mapping[str, Any]:
        """The existing domain, if it is this workspace's (a crash after CreateDomainName); else refuse."""
        try:
            domain: Mapping[str, Any] = apigw.get_domain_name(domainName=name)
        except ClientError as missing:
            if is_not_found(missing):
                raise exc from None  # no such domain: CreateDomainName refused something else
            raise
        if not matches(dict(domain.get("tags", {})), ctx.selector):
            raise TerminalError(
                "DomainNameTaken",
                f"{what}: the domain name exists in the account and is not managed by workspace "
                f"{ctx.selector.get(WORKSPACE)}; delete it, or tag it as this entry's to adopt it",
            ) from exc
        return domain

    def update(
        self, ctx: KindContext, desired: Desired[DomainNameProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        apigw = client(ctx)
        with apigateway_errors(f"update {self.kind} {observed.id}"):
            return self._converge(ctx, apigw, desired, observed)

    def _converge(
        self, ctx: KindContext, apigw: APIGatewayClient, desired: Desired[DomainNameProps], observed: Observed
    ) -> Observed:
        props = desired.properties
        name = observed.id
        have = observed.properties
        ops: list[PatchOperationTypeDef] = []
        # Only the settings the spec gives, as compare does.
        for setting in ("regionalCertificateArn", "securityPolicy"):
            if setting in props and props[setting] != have.get(setting):
                ops.append(patch("replace", f"/{setting}", props[setting]))
        current = have.get("endpointType")
        if "endpointType" in props and props["endpointType"] != current and isinstance(current, str):
            ops.append(patch("replace", f"/endpointConfiguration/types/{current}", props["endpointType"]))
        if ops:
            apigw.update_domain_name(domainName=name, patchOperations=ops)
            have.update({s: props[s] for s in SETTINGS if s in props})
        wanted, current_mappings = _mappings(props.get("basePathMappings")), _mappings(have.get("basePathMappings"))
        for path, want in sorted(wanted.items()):
            mapping = current_mappings.get(path)
            if mapping is None:
                params: dict[str, Any] = {"domainName": name, "restApiId": str(want["restApiId"])}
                if path != ROOT_PATH:
                    params["basePath"] = path
                if want["stage"]:
                    params["stage"] = str(want["stage"])
                apigw.create_base_path_mapping(**params)
            elif mapping != want:
                moves = [patch("replace", "/restapiId", want["restApiId"]), patch("replace", "/stage", want["stage"])]
                apigw.update_base_path_mapping(domainName=name, basePath=path, patchOperations=moves)
        for path in sorted(set(current_mappings) - set(wanted)):
            with tolerate_not_found():
                apigw.delete_base_path_mapping(domainName=name, basePath=path)
        have["basePathMappings"] = [m for _, m in sorted(wanted.items())]
        observed.tags = retag(apigw, observed.outputs["arn"], desired.tags, observed.tags)
        observed.key = desired.key
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        apigw = client(ctx)
        with apigateway_errors(f"delete {self.kind} {observed.id}"), tolerate_not_found():
            apigw.delete_domain_name(domainName=observed.id)

    def compare(self, desired: Desired[DomainNameProps], observed: Observed) -> list[FieldDiff]:
        diffs = [
            FieldDiff(name, observed.properties.get(name), desired.properties.get(name))
            for name in ("domainName", *SETTINGS)
            if name in desired.properties and desired.properties.get(name) != observed.properties.get(name)
        ]
        wanted = _mappings(desired.properties.get("basePathMappings"))
        current = _mappings(observed.properties.get("basePathMappings"))
        diffs += [
            FieldDiff(f"basePathMappings[{path}]", current.get(path), wanted.get(path))
            for path in sorted(set(wanted) | set(current))
            if wanted.get(path) != current.get(path)
        ]
        diffs += [
            FieldDiff(f"tags.{name}", observed.tags.get(name), want)
            for name, want in sorted(desired.tags.items())
            if observed.tags.get(name) != want
        ]
        return diffs


def _read_mappings(apigw: APIGatewayClient, name: str) -> list[Mapping[str, Any]]:
    pages = apigw.get_paginator("get_base_path_mappings").paginate(
        domainName=name, PaginationConfig={"PageSize": PAGE_SIZE}
    )
    return [dict(m) for page in pages for m in page.get("items", [])]
