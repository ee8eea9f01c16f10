"""Lambda provisioned concurrency for the embedded AWS emulator.

Why: moto 5.2.5 has no route for `/2019-09-30/functions/{FunctionName}/provisioned-concurrency`, so
PutProvisionedConcurrencyConfig, GetProvisionedConcurrencyConfig, DeleteProvisionedConcurrencyConfig
and ListProvisionedConcurrencyConfigs all answer a bare 404 HTML page, which botocore reports as an
error with code "404". The `lambda.function` kind reads the setting on every resync and writes it when
the spec asks for warm instances, so without this module the emulator could not run the app layer.

`install_provisioned_concurrency()` adds one route to moto's Lambda URL map (`moto.awslambda.urls`)
and wraps two LambdaBackend methods, in this process only; moto's files on disk are untouched. It must
run before the server answers its first Lambda request, because moto builds each service's Flask app
(and its routes) once, on first use.

The model: a config belongs to one function and one qualifier (an alias or a numbered version) and
lives on the moto Lambda backend of its account and region (`backend.provisioned_concurrency`), so a
moto reset, which builds new backends, drops it too. Rules, as AWS applies them:
- The function must exist (404 ResourceNotFoundException), the qualifier must name one of its numbered
  versions or aliases (404 ResourceNotFoundException), and neither `$LATEST` nor an alias that points
  at `$LATEST` may carry provisioned concurrency (400 InvalidParameterValueException).
- A function with reserved concurrency cannot have more provisioned than reserved in total; with
  `MOTO_LAMBDA_CONCURRENCY_QUOTA` set (moto's own knob for reserved concurrency), the account must keep
  100 unreserved executions. Both answer 400 InvalidParameterValueException.
- Put answers 202 with the config; Get answers it, or 404 ProvisionedConcurrencyConfigNotFoundException;
  Delete answers 204 (404 ResourceNotFoundException when there is none: its model declares no other
  not-found error); List (`?List=ALL`) answers every config of the function.
- DeleteFunction drops the function's configs (or one version's, with a qualifier); DeleteAlias drops
  the alias's.
Errors carry the shape botocore parses for Lambda: the `x-amzn-ErrorType` header and a JSON body
`{"Type": "User", "message": ...}`. The message texts are ours, not AWS's.

Not modelled: allocation takes no time (Status READY, everything allocated, at once; AWS reports
IN_PROGRESS for minutes), Marker/MaxItems paging of List, and the rule that an alias and the version it
points at cannot both carry a config.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from moto.awslambda import urls as lambda_urls
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaBackend
from moto.awslambda.responses import LambdaResponse

# moto's form for url_paths: `{0}` stands for the service's URL base.
ROUTE = r"{0}/(?P<api_version>[^/]+)/functions/(?P<function_name>[\w_:%-]+)/provisioned-concurrency/?$"
# The unreserved executions AWS always keeps for functions without a reservation.
MIN_UNRESERVED = 100
# Where the configs live on each moto Lambda backend.
STATE_ATTRIBUTE = "provisioned_concurrency"
NOT_CONFIGURED = "No Provisioned Concurrency Config found for this function"

_LOCK = threading.RLock()  # the moto server answers each request in its own thread
_INSTALLED = threading.Event()

# moto's own implementations, taken before install_provisioned_concurrency() wraps them.
_moto_delete_function = LambdaBackend.delete_function
_moto_delete_alias = LambdaBackend.delete_alias

Response = tuple[int, dict[str, str], str]


@dataclass
class _Config:
    function_arn: str  # qualified with the alias or version
    requested: int
    last_modified: str

    def to_json(self) -> dict[str, Any]:
        return {
            "RequestedProvisionedConcurrentExecutions": self.requested,
            "AvailableProvisionedConcurrentExecutions": self.requested,
            "AllocatedProvisionedConcurrentExecutions": self.requested,
            "Status": "READY",
            "LastModified": self.last_modified,
        }


def install_provisioned_concurrency() -> None:
    """Add provisioned concurrency to moto's Lambda (in this process); calling it again changes nothing."""
    with _LOCK:
        if _INSTALLED.is_set():
            return
        # moto 5.2.5 gap: no route, so every provisioned concurrency call is a 404 page.
        lambda_urls.url_paths[ROUTE] = ProvisionedConcurrencyResponse.dispatch
        # Configs must not outlive what they are attached to.
        LambdaBackend.delete_function = _delete_function  # type: ignore[method-assign]
        LambdaBackend.delete_alias = _delete_alias  # type: ignore[method-assign]
        _INSTALLED.set()


def _configs(backend: LambdaBackend) -> dict[str, dict[str, _Config]]:
    """function name -> qualifier -> config, kept on the account's and region's backend."""
    with _LOCK:
        configs: dict[str, dict[str, _Config]] = backend.__dict__.setdefault(STATE_ATTRIBUTE, {})
        return configs


def _error(status: int, code: str, message: str) -> Response:
    return status, {"status": str(status), "x-amzn-ErrorType": code}, json.dumps({"Type": "User", "message": message})


class _RejectedError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response[2])
        self.response = response


class ProvisionedConcurrencyResponse(LambdaResponse):
    """The four operations on the provisioned-concurrency path; moto maps each to its method by name."""

    def put_provisioned_concurrency_config(self) -> Response:
        try:
            name, qualifier, arn = self._target()
            requested = int(json.loads(self.body or "{}").get("ProvisionedConcurrentExecutions", 0))
            if requested < 1:
                raise _RejectedError(
                    _error(400, "InvalidParameterValueException", "ProvisionedConcurrentExecutions must be at least 1")
                )
            with _LOCK:
                self._check_limits(name, qualifier, requested)
                config = _Config(arn, requested, _now())
                _configs(self.backend).setdefault(name, {})[qualifier] = config
        except _RejectedError as rejected:
            return rejected.response
        return 202, {"status": "202"}, json.dumps(config.to_json())

    def get_provisioned_concurrency_config(self) -> Response:
        try:
            name, qualifier, _ = self._target()
            with _LOCK:
                config = _configs(self.backend).get(name, {}).get(qualifier)
        except _RejectedError as rejected:
            return rejected.response
        if config is None:
            return _not_configured()
        return 200, {}, json.dumps(config.to_json())

    def delete_provisioned_concurrency_config(self) -> Response:
        try:
            name, qualifier, _ = self._target()
            with _LOCK:
                found = _configs(self.backend).get(name, {}).pop(qualifier, None)
        except _RejectedError as rejected:
            return rejected.response
        if found is None:
            # DeleteProvisionedConcurrencyConfig's model declares no ProvisionedConcurrencyConfigNotFoundException.
            return _error(404, "ResourceNotFoundException", NOT_CONFIGURED)
        return 204, {"status": "204"}, ""

    def list_provisioned_concurrency_configs(self) -> Response:
        try:
            name = self._function().function_name
        except _RejectedError as rejected:
            return rejected.response
        with _LOCK:
            configs = sorted(_configs(self.backend).get(name, {}).values(), key=lambda c: c.function_arn)
        listed = [{"FunctionArn": c.function_arn, **c.to_json()} for c in configs]
        return 200, {}, json.dumps({"ProvisionedConcurrencyConfigs": listed})

    def _function(self) -> Any:
        raw = unquote(self.path.rstrip("/").split("/")[-2])
        try:
            return self.backend.get_function(raw.split(":function:")[-1].split(":")[0])
        except LambdaClientError as exc:
            raise _RejectedError(_error(404, "ResourceNotFoundException", exc.message)) from exc

    def _target(self) -> tuple[str, str, str]:
        """The function's name, the qualifier and the qualified ARN, after AWS's checks."""
        function = self._function()
        name, arn = function.function_name, function.function_arn
        qualifier = self.querystring.get("Qualifier", [""])[0]
        if not qualifier:
            raise _RejectedError(_error(400, "InvalidParameterValueException", "Qualifier is required"))
        unpublished = _error(
            400,
            "InvalidParameterValueException",
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
        )
        if qualifier == "$LATEST":
            raise _RejectedError(unpublished)
        if re.fullmatch(r"\d+", qualifier):
            versions = {str(v.version) for v in self.backend.list_versions_by_function(name)}
            if qualifier not in versions:
                raise _RejectedError(_error(404, "ResourceNotFoundException", f"Function not found: {arn}:{qualifier}"))
        else:
            aliases = {a.name: a for a in self.backend.list_aliases(name)}
            if qualifier not in aliases:
                raise _RejectedError(
                    _error(404, "ResourceNotFoundException", f"Cannot find alias arn: {arn}:{qualifier}")
                )
            if str(aliases[qualifier].function_version) == "$LATEST":
                raise _RejectedError(unpublished)
        return name, qualifier, f"{arn}:{qualifier}"

    def _check_limits(self, name: str, qualifier: str, requested: int) -> None:
        configs = _configs(self.backend)
        reserved = self.backend.get_function(name).reserved_concurrency
        others = sum(c.requested for q, c in configs.get(name, {}).items() if q != qualifier)
        if reserved is not None and others + requested > int(reserved):
            raise _RejectedError(
                _error(
                    400,
                    "InvalidParameterValueException",
                    f"Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
                    f"for function {name} ({reserved})",
                )
            )
        quota = os.environ.get("MOTO_LAMBDA_CONCURRENCY_QUOTA")
        if quota is None:
            return
        # Provisioned concurrency of a function without a reservation comes out of the unreserved pool.
        used = requested + others if reserved is None else 0
        for function in self.backend.list_functions():
            if function.reserved_concurrency is not None:
                used += int(function.reserved_concurrency)
            elif function.function_name != name:
                used += sum(c.requested for c in configs.get(function.function_name, {}).values())
        if int(quota) - used < MIN_UNRESERVED:
            raise _RejectedError(
                _error(
                    400,
                    "InvalidParameterValueException",
                    "Specified ProvisionedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}].",
                )
            )


def _not_configured() -> Response:
    return _error(404, "ProvisionedConcurrencyConfigNotFoundException", NOT_CONFIGURED)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _split(function_name: str, qualifier: str | None) -> tuple[str, str | None]:
    """The function's name and qualifier from a name, a partial or a full ARN, as DeleteFunction takes them."""
    tail = function_name.rsplit(":function:", maxsplit=1)[-1] if function_name.startswith("arn:") else function_name
    name, _, embedded = tail.partition(":")
    return name, embedded or qualifier


def _delete_function(self: LambdaBackend, function_name: str, qualifier: str | None = None) -> None:
    with _LOCK:
        _moto_delete_function(self, function_name, qualifier)
        name, qualifier = _split(function_name, qualifier)
        configs = _configs(self)
        if qualifier is None:
            configs.pop(name, None)
        else:
            configs.get(name, {}).pop(qualifier, None)


def _delete_alias(self: LambdaBackend, name: str, function_name: str) -> None:
    with _LOCK:
        _moto_delete_alias(self, name, function_name)
        function, _ = _split(function_name, None)
        _configs(self).get(function, {}).pop(name, None)
