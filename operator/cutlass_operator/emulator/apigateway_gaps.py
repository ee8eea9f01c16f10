"""moto 5.2.5 gaps in API Gateway's REST APIs and custom domains.

- UpdateDomainName is not implemented (the server answers 500). The product changes a custom domain
  in place when a region's `spec.api.certificateArn` (its regional certificate), security policy or
  endpoint type changes, as AWS allows, so an edit of the certificate and its revert failed in
  `make demo` and the tests. Here it applies the patch operations AWS documents for those settings
  to moto's domain name and answers with the domain, as GetDomainName does; a path it does not know
  is refused as AWS refuses one, with a BadRequestException.
- Deleting a REST API, a usage plan, a usage plan's key or an API resource that is not there
  answers 500 (a KeyError) where AWS answers 404. A teardown whose delete's answer was lost has
  botocore repeat it, and each 500 was retried in turn until the attempts ran out, where AWS's 404
  tells the kind the resource is gone.
- A custom domain that has no base path mapping yet answers GetBasePathMappings with a 500 (moto
  makes its mapping table with the first mapping) where AWS answers an empty list: an apply killed
  between CreateDomainName and CreateBasePathMapping could not observe its domain again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from moto.apigateway.exceptions import (
    ApiKeyNotFoundException,
    BadRequestException,
    ResourceIdNotFoundException,
    RestAPINotFound,
    UsagePlanNotFoundException,
)
from moto.apigateway.models import APIGatewayBackend, DomainName
from moto.apigateway.responses import APIGatewayResponse

_LOCK = threading.Lock()
_INSTALLED = threading.Event()

# Patch path -> how a `replace` sets it on moto's model.
_SETTERS: dict[str, Callable[[DomainName, str], None]] = {
    "/regionalCertificateArn": lambda d, v: setattr(d, "regional_certificate_arn", v),
    "/regionalCertificateName": lambda d, v: setattr(d, "regional_certificate_name", v),
    "/certificateArn": lambda d, v: setattr(d, "certificate_arn", v),
    "/certificateName": lambda d, v: setattr(d, "certificate_name", v),
    "/securityPolicy": lambda d, v: setattr(d, "security_policy", v),
}
ENDPOINT_TYPE = "/endpointConfiguration/types/"
ENDPOINT_TYPES = frozenset({"EDGE", "REGIONAL", "PRIVATE"})
SECURITY_POLICIES = frozenset({"TLS_1_0", "TLS_1_2"})


def install_apigateway_gaps() -> None:
    """Patch moto (in this process); calling it again changes nothing."""
    with _LOCK:
        if _INSTALLED.is_set():
            return
        APIGatewayResponse.update_domain_name = _update_domain_name  # type: ignore[attr-defined]
        for name, missing in (
            ("delete_rest_api", RestAPINotFound),
            ("delete_usage_plan", UsagePlanNotFoundException),
            ("delete_usage_plan_key", ApiKeyNotFoundException),
            ("delete_resource", ResourceIdNotFoundException),
        ):
            setattr(APIGatewayBackend, name, _not_found_as(missing, getattr(APIGatewayBackend, name)))
        APIGatewayBackend.create_domain_name = _with_mapping_table(APIGatewayBackend.create_domain_name)  # type: ignore[method-assign]
        _INSTALLED.set()


def _with_mapping_table(create: Callable[..., DomainName]) -> Callable[..., DomainName]:
    """CreateDomainName, giving the new domain its (empty) table of base path mappings at once."""

    def creating(self: APIGatewayBackend, domain_name: str, *args: Any, **kwargs: Any) -> DomainName:
        domain = create(self, domain_name, *args, **kwargs)
        self.base_path_mappings.setdefault(domain_name, {})
        return domain

    return creating


def _not_found_as(missing: Callable[[], Exception], delete: Callable[..., Any]) -> Callable[..., Any]:
    """`delete`, answering AWS's 404 where moto's lookup of what is gone raises a KeyError."""

    def deleting(self: APIGatewayBackend, *args: Any) -> Any:
        try:
            return delete(self, *args)
        except KeyError as exc:
            raise missing() from exc

    return deleting


def _update_domain_name(self: APIGatewayResponse) -> str:
    domain = self.backend.get_domain_name(unquote(self.path.split("/")[2]))
    operations = self._get_param("patchOperations") or []
    # All or nothing, as AWS: every operation is checked before any is applied.
    changes = [_change(domain, op) for op in operations]
    for change in changes:
        change()
    return json.dumps(domain.to_json())


def _change(domain: DomainName, operation: Mapping[str, Any]) -> Callable[[], None]:
    op, path, value = operation.get("op"), str(operation.get("path", "")), operation.get("value")
    if op != "replace" or not isinstance(value, str):
        raise BadRequestException(f"Invalid patch operation specified: {op} {path}")
    if path == "/securityPolicy" and value not in SECURITY_POLICIES:
        raise BadRequestException(f"Invalid security policy: {value}")
    if path in _SETTERS:
        setter = _SETTERS[path]
        return lambda: setter(domain, value)
    if path.startswith(ENDPOINT_TYPE) and value in ENDPOINT_TYPES:
        configuration = dict(domain.endpoint_configuration or {})
        if path.removeprefix(ENDPOINT_TYPE) not in (configuration.get("types") or []):
            raise BadRequestException(f"The domain's endpoint type is not {path.removeprefix(ENDPOINT_TYPE)}")
        return lambda: setattr(domain, "endpoint_configuration", {**configuration, "types": [value]})
    raise BadRequestException(f"Invalid patch path: {path}")
