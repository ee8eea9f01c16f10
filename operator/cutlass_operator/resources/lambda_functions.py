"""Lambda functions released through an alias: what runs is always a published, numbered version.

The properties are `FunctionProps`; observe reports the same names and shapes. Outputs: `id` and
`name` (the function name), `arn` (unqualified), `aliasArn`, `version` (the version the alias points
at) and `codeSha256`. Event sources and API integrations should take `aliasArn`, so they only ever
reach a published version.

Identity. The name is deterministic and the identity tags are given to CreateFunction itself, so a
crash never leaves an untagged function of ours. A function of the desired name that does not carry
this workspace's selector is someone else's: create stops with the terminal error `NameTaken` instead
of adopting it. One that does (a crash after CreateFunction, before the tagging API listed it) is
adopted and brought to the spec.

Observe. One GetResources (Resource Groups Tagging API, `lambda:function` with the selector tags) gives
the workspace's functions with their tags; one paginated ListFunctions(FunctionVersion=ALL) gives the
configuration of every function and version in the region (50 per page), from which the ones under the
prefix are kept. Then per managed function one ListAliases and, when the alias exists, one
GetProvisionedConcurrencyConfig on it (not found is 0). A no-op resync of N functions therefore reads
1 + ceil(V / 50) + 2N times, V being the count of functions and versions in the region: 2 + 2N while
that stays under 50. The tagging API is eventually consistent, so a desired function it does not list
yet is asked directly (ListTags, one read, only until it is listed), and so is an orphan it lists,
before the engine may delete it. ListFunctions omits `State` and `LastUpdateStatus` on AWS; only the
writes wait for them.

`published` is observed True when the alias exists and points at a numbered version whose code,
memory, timeout, handler, runtime, role, environment, subnets, security groups, KMS key, tracing and
architectures equal `$LATEST`'s. A crash between a configuration or code update and PublishVersion or
UpdateAlias thus shows as a diff on `published` in the next resync, which publishes and moves the alias.

Create. CreateFunction from the S3 package with the whole configuration, `Publish=True` and the tags;
then the function must reach `State` Active (bounded wait; Pending while Lambda sets up VPC networking),
the published code must have the desired digest, the alias is created on the published version and
provisioned concurrency put when asked for. IAM is eventually consistent too: a role created moments
ago may not be assumable by Lambda yet, and that refusal is retried.

Update, in place, never by replacement: UpdateFunctionConfiguration with only the settings that differ,
UpdateFunctionCode from `package` when the digest (or the architecture) differs, each followed by a
bounded wait for `LastUpdateStatus` Successful, since Lambda refuses a second update while one is in
progress (`ResourceConflictException`, treated as retryable wherever it comes). Then PublishVersion,
guarded by the desired `CodeSha256` so that code changed meanwhile by someone else is not released, and
UpdateAlias to the new version (CreateAlias if the alias is missing). Provisioned concurrency follows
the alias to the new version by itself; it is put or deleted only when the requested count differs.
Tags last, TagResource/UntagResource. Aliases carry a description marking them as the operator's, so
after a change of `alias` the previous one (and its provisioned concurrency) is removed. A release then
deletes the older published versions (DeleteFunction with the version as qualifier), keeping the one
released, the one the alias left (to roll back to) and any an alias points at: without this every
release would add a version for good, and the account's code storage is finite. A no-op resync
deletes nothing.

Delete. The alias's provisioned concurrency, then DeleteFunction, which takes the versions and aliases
with it; a function already gone is fine. The rank (80) deletes functions after the event source
mappings that point at them (90), and before the IAM roles and log groups they use (50) and the
security groups (45) and subnets (30) their network interfaces sit in. On AWS a VPC
function's network interfaces outlive DeleteFunction by minutes: the network layer's
DeleteSecurityGroup and DeleteSubnet then fail with `DependencyViolation`, which `errors.py` classifies
as retryable, so the next reconciles finish the teardown.

moto 5.2.5 differences (the kind is not weakened for them): it has no provisioned concurrency API (the
emulator adds it, see `emulator/lambda_concurrency.py`); UpdateFunctionConfiguration ignores `KMSKeyArn`
and `TracingConfig` and UpdateFunctionCode ignores `Architectures`, so a change of those never converges
there; PublishVersion ignores `CodeSha256`; and once any configuration call has been made, PublishVersion
releases a new version even if the values written were the ones already in place (AWS compares). The
kind only calls UpdateFunctionConfiguration with values that differ, so this costs nothing. ListFunctions
returns `State` and `LastUpdateStatus`, which AWS does not; the kind does not rely on them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.identity import WORKSPACE
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, Ref, ResourceKind, normalise
from cutlass_operator.props.lambda_ import FunctionProps
from cutlass_operator.resources.errors import aws_errors, error_code, error_message, is_not_found, tolerate_not_found
from cutlass_operator.resources.tags import key_of, matches, tag_changes, tagged_resources
from cutlass_operator.resources.waits import WaitPolicy, wait_until

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_lambda.type_defs import (
        AliasConfigurationTypeDef,
        FunctionConfigurationResponseTypeDef,
        FunctionConfigurationTypeDef,
    )

    # A function's or version's configuration, as listed or as returned by a single read.
    Configuration = FunctionConfigurationTypeDef | FunctionConfigurationResponseTypeDef

# Lambda refuses a change while another one is being applied to the function.
BUSY = frozenset({"ResourceConflictException"})
# Written on the aliases the kind creates, so a renamed alias can be told from someone else's.
ALIAS_DESCRIPTION = "Released by cutlass-operator; do not move by hand"
LATEST = "$LATEST"
# The properties UpdateFunctionConfiguration writes.
CONFIG_PROPERTIES = (
    "runtime",
    "handler",
    "description",
    "memorySize",
    "timeout",
    "role",
    "environment",
    "vpcConfig",
    "kmsKeyArn",
    "tracingMode",
)
# What a published version must share with $LATEST to count as the release of the current spec.
RELEASE_PROPERTIES = (
    "codeSha256",
    "memorySize",
    "timeout",
    "handler",
    "runtime",
    "role",
    "environment",
    "vpcConfig",
    "kmsKeyArn",
    "tracingMode",
    "architectures",
)
# Lambda's messages when IAM has not yet propagated a new role or its policies to Lambda.
ROLE_NOT_READY = ("cannot be assumed by lambda", "execution role does not have permissions")


class FunctionKind(ResourceKind[FunctionProps]):
    props = FunctionProps
    delete_rank = 80
    immutable = frozenset({"functionName"})

    def __init__(self, name_prefix: str = "", orphan_scope: str = "", *, settle_wait: WaitPolicy | None = None) -> None:
        if not name_prefix:
            raise ValueError("a function kind needs a name prefix: it is what keeps workspaces' functions apart")
        super().__init__(name_prefix, orphan_scope)
        # Creating a VPC function takes a minute or two (its network interfaces); an update, seconds.
        self.settle_wait = settle_wait or WaitPolicy(timeout=300.0, interval=5.0)

    # -- observe -------------------------------------------------------------------------------

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[FunctionProps]]) -> list[Observed]:
        lam = _client(ctx)
        wanted: dict[str, Desired[FunctionProps]] = {}
        for d in desired:
            name = str(d.properties["functionName"])
            if not name.startswith(self.name_prefix):
                raise ValueError(f"{d.key}: function {name} is outside {self.name_prefix}")
            wanted[name] = d
        found: list[Observed] = []
        with _lambda_errors(f"observe {self.kind} {self.name_prefix}*"):
            tagged = {
                _name_of(arn): tags
                for arn, tags in tagged_resources(ctx, "lambda:function").items()
                if _name_of(arn).startswith(self.name_prefix)
            }
            listing = _list_functions(lam, self.name_prefix)
            for name, versions in sorted(listing.items()):
                latest = versions.get(LATEST)
                if latest is None:
                    continue
                tags = tagged.get(name)
                unconfirmed = name in wanted if tags is None else name not in wanted
                if unconfirmed:
                    # Not listed by the tagging API yet, or an orphan about to be deleted: ask the function.
                    tags = _function_tags(lam, _unqualified(latest["FunctionArn"]))
                if tags is None or not matches(tags, ctx.selector):
                    continue
                alias = str(wanted[name].properties["alias"]) if name in wanted else None
                with tolerate_not_found():  # deleted between the listing and the reads
                    found.append(self._observed(lam, key_of(tags, name), versions, tags, alias))
        return found

    def _observed(
        self,
        lam: LambdaClient,
        key: str,
        versions: Mapping[str, FunctionConfigurationTypeDef],
        tags: Mapping[str, str],
        alias_name: str | None,
    ) -> Observed:
        """Two reads: the aliases and, when the maintained alias exists, its provisioned concurrency.
        `alias_name` None (an orphan) takes the alias the kind marked as its own."""
        latest = versions[LATEST]
        name = latest["FunctionName"]
        aliases = {
            a["Name"]: a
            for page in lam.get_paginator("list_aliases").paginate(FunctionName=name)
            for a in page.get("Aliases", [])
            if "Name" in a
        }
        if alias_name is None:
            alias_name = next((n for n, a in sorted(aliases.items()) if _ours(a)), None)
        alias = aliases.get(alias_name) if alias_name is not None else None
        target = str(alias.get("FunctionVersion", "")) if alias is not None else ""
        released = versions.get(target) if target.isdigit() else None
        concurrency = _provisioned(lam, name, alias_name) if alias is not None and alias_name is not None else 0
        properties = _properties(latest)
        properties.update(
            alias=alias_name if alias is not None else None,
            published=released is not None and _release(released) == _release(latest),
            provisionedConcurrency=concurrency,
        )
        private = {
            "aliases": {n: _ours(a) for n, a in aliases.items()},
            "versions": sorted((v for v in versions if v.isdigit()), key=int),
            "aliasTargets": {str(a.get("FunctionVersion", "")) for a in aliases.values()},
        }
        outputs = _outputs(latest, alias_name, target or None)
        return Observed(key, self.kind, name, properties, dict(tags), outputs, private)

    # -- create --------------------------------------------------------------------------------

    def create(self, ctx: KindContext, desired: Desired[FunctionProps]) -> Observed:
        lam = _client(ctx)
        props = desired.properties
        name = str(props["functionName"])
        what = f"create {self.kind} {name}"
        params: dict[str, Any] = {
            "FunctionName": name,
            "Code": {"S3Bucket": str(props["package"]["s3Bucket"]), "S3Key": str(props["package"]["s3Key"])},
            "PackageType": "Zip",
            "Publish": True,
            "Architectures": list(props["architectures"]),
            "Tags": dict(desired.tags),
            **_configuration(props, set(CONFIG_PROPERTIES), creating=True),
        }
        with _lambda_errors(what):
            try:
                created = lam.create_function(**params)
            except ClientError as exc:
                if error_code(exc) not in BUSY:
                    raise
                return self._adopt(ctx, lam, desired, what, exc)
            settled = self._settle(lam, name, what, "State")
            _check_code(settled, props, what)
            version = str(created.get("Version", ""))
            lam.create_alias(
                FunctionName=name, Name=str(props["alias"]), FunctionVersion=version, Description=ALIAS_DESCRIPTION
            )
            concurrency = int(props.get("provisionedConcurrency") or 0)
            if concurrency > 0:
                lam.put_provisioned_concurrency_config(
                    FunctionName=name, Qualifier=str(props["alias"]), ProvisionedConcurrentExecutions=concurrency
                )
        properties = _comparable(props)
        outputs = _outputs(settled, str(props["alias"]), version)
        private = {"aliases": {str(props["alias"]): True}}
        return Observed(desired.key, self.kind, name, properties, dict(desired.tags), outputs, private)

    def _adopt(
        self, ctx: KindContext, lam: LambdaClient, desired: Desired[FunctionProps], what: str, exc: ClientError
    ) -> Observed:
        """CreateFunction found the name taken: take the function over only if it is this workspace's."""
        name = str(desired.properties["functionName"])
        current = lam.get_function(FunctionName=name)
        tags = dict(current.get("Tags", {}))
        if not matches(tags, ctx.selector):
            raise TerminalError(
                "NameTaken",
                f"{what}: a function named {name} exists in the account and is not managed by workspace "
                f"{ctx.selector.get(WORKSPACE)}; delete or rename it, or tag it as this entry's to adopt it",
            ) from exc
        versions = {
            c.get("Version", ""): c
            for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=name)
            for c in page.get("Versions", [])
        }
        versions[LATEST] = current["Configuration"]
        observed = self._observed(lam, desired.key, versions, tags, str(desired.properties["alias"]))
        return self.update(ctx, desired, observed, self.compare(desired, observed))

    # -- update --------------------------------------------------------------------------------

    def update(
        self, ctx: KindContext, desired: Desired[FunctionProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        lam = _client(ctx)
        name = observed.id
        props = desired.properties
        have = observed.properties
        want = _comparable(props)
        alias = str(props["alias"])
        what = f"update {self.kind} {name}"
        with _lambda_errors(what):
            differing = {p for p in CONFIG_PROPERTIES if p in want and normalise(want[p]) != normalise(have.get(p))}
            if differing:
                lam.update_function_configuration(FunctionName=name, **_configuration(props, differing))
                self._settle(lam, name, what, "LastUpdateStatus")
            code_changed = want["codeSha256"] != have.get("codeSha256") or (
                "architectures" in want and normalise(want["architectures"]) != normalise(have.get("architectures"))
            )
            if code_changed:
                lam.update_function_code(
                    FunctionName=name,
                    S3Bucket=str(props["package"]["s3Bucket"]),
                    S3Key=str(props["package"]["s3Key"]),
                    Architectures=list(props.get("architectures") or have.get("architectures") or ["x86_64"]),
                )
                _check_code(self._settle(lam, name, what, "LastUpdateStatus"), props, what)
            version = previous = observed.outputs.get("version")
            if differing or code_changed or not have.get("published") or have.get("alias") != alias:
                # Nothing new to release (a crash before UpdateAlias): Lambda answers with the last version.
                published = lam.publish_version(FunctionName=name, CodeSha256=str(want["codeSha256"]))
                version = published["Version"]
                if observed.private.get("aliases", {}).get(alias) is not None:
                    lam.update_alias(
                        FunctionName=name, Name=alias, FunctionVersion=version, Description=ALIAS_DESCRIPTION
                    )
                else:
                    lam.create_alias(
                        FunctionName=name, Name=alias, FunctionVersion=version, Description=ALIAS_DESCRIPTION
                    )
                self._retire_aliases(lam, name, alias, observed)
                self._prune_versions(lam, name, observed, keep={str(version), str(previous)})
            concurrency = int(props.get("provisionedConcurrency") or 0)
            if concurrency != have.get("provisionedConcurrency"):
                if concurrency > 0:
                    lam.put_provisioned_concurrency_config(
                        FunctionName=name, Qualifier=alias, ProvisionedConcurrentExecutions=concurrency
                    )
                else:
                    with tolerate_not_found():
                        lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=alias)
            arn = observed.outputs["arn"]
            changes = tag_changes(desired.tags, observed.tags)
            if changes.put:
                lam.tag_resource(Resource=arn, Tags=changes.put)
            if changes.remove:
                lam.untag_resource(Resource=arn, TagKeys=changes.remove)
        observed.properties = dict(want)
        observed.tags = changes.applied_to(observed.tags)
        observed.outputs.update(aliasArn=f"{arn}:{alias}", version=version, codeSha256=want["codeSha256"])
        observed.private["aliases"] = {alias: True}
        observed.key = desired.key
        return observed

    def _retire_aliases(self, lam: LambdaClient, name: str, keep: str, observed: Observed) -> None:
        """Aliases the kind made under another name (`alias` changed), with their warm instances."""
        for other, ours in sorted(observed.private.get("aliases", {}).items()):
            if ours and other != keep:
                with tolerate_not_found():
                    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=other)
                with tolerate_not_found():
                    lam.delete_alias(FunctionName=name, Name=other)

    def _prune_versions(self, lam: LambdaClient, name: str, observed: Observed, keep: set[str]) -> None:
        """Each release publishes a version and the account's code storage is finite: the versions
        observed before this release go, but the one released and the one before it (the rollback
        target) and any an alias points at. Best effort: a version Lambda keeps (something else
        still refers to it) is left for the next release to try again."""
        for version in observed.private.get("versions", []):
            if version in keep or version in observed.private.get("aliasTargets", set()):
                continue
            try:
                lam.delete_function(FunctionName=name, Qualifier=version)
            except ClientError as exc:
                if not is_not_found(exc) and error_code(exc) not in BUSY:
                    raise

    # -- delete --------------------------------------------------------------------------------

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        lam = _client(ctx)
        name = observed.id
        alias = observed.properties.get("alias")
        with _lambda_errors(f"delete {self.kind} {name}"):
            if alias and observed.properties.get("provisionedConcurrency"):
                with tolerate_not_found():
                    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=str(alias))
            with tolerate_not_found():
                lam.delete_function(FunctionName=name)

    # -- compare -------------------------------------------------------------------------------

    def compare(self, desired: Desired[FunctionProps], observed: Observed) -> list[FieldDiff]:
        """`package` cannot be observed (the digest stands for it); empty settings compare as absent."""
        diffs = [
            FieldDiff(name, observed.properties.get(name), want)
            for name, want in sorted(_comparable(desired.properties).items())
            if normalise(observed.properties.get(name)) != normalise(want)
        ]
        diffs += [
            FieldDiff(f"tags.{name}", observed.tags.get(name), want)
            for name, want in sorted(desired.tags.items())
            if observed.tags.get(name) != want
        ]
        return diffs

    # -- waits ---------------------------------------------------------------------------------

    def _settle(self, lam: LambdaClient, name: str, what: str, status: str) -> Configuration:
        """Wait for `State` Active (after a create) or `LastUpdateStatus` Successful (after an update);
        return the configuration then."""
        latest: list[Configuration] = []

        def settled() -> bool:
            config = lam.get_function_configuration(FunctionName=name)
            latest[:] = [config]
            if config.get("State") == "Failed" or config.get("LastUpdateStatus") == "Failed":
                reason = config.get("StateReason") or config.get("LastUpdateStatusReason") or "no reason given"
                raise TerminalError("FunctionFailed", f"{what}: Lambda could not apply the change: {reason}")
            if status == "State":
                return config.get("State", "Active") == "Active"
            return config.get("LastUpdateStatus", "Successful") == "Successful"

        wait_until(settled, self.settle_wait, what, "FunctionUpdating")
        return latest[0]


# -- reading Lambda's shapes ---------------------------------------------------------------------


def _list_functions(lam: LambdaClient, prefix: str) -> dict[str, dict[str, FunctionConfigurationTypeDef]]:
    """function name -> version ($LATEST or a number) -> configuration, for the names under `prefix`."""
    result: dict[str, dict[str, FunctionConfigurationTypeDef]] = {}
    for page in lam.get_paginator("list_functions").paginate(FunctionVersion="ALL"):
        for config in page.get("Functions", []):
            name = config.get("FunctionName", "")
            if name.startswith(prefix):
                result.setdefault(name, {})[config.get("Version", LATEST)] = config
    return result


def _properties(config: FunctionConfigurationTypeDef) -> dict[str, Any]:
    vpc = config.get("VpcConfig") or {}
    return {
        "functionName": config["FunctionName"],
        "runtime": config.get("Runtime"),
        "handler": config.get("Handler"),
        "description": config.get("Description", ""),
        "memorySize": config.get("MemorySize"),
        "timeout": config.get("Timeout"),
        "role": config.get("Role"),
        "environment": dict(config.get("Environment", {}).get("Variables", {})),
        "vpcConfig": _vpc(vpc.get("SubnetIds"), vpc.get("SecurityGroupIds")),
        "kmsKeyArn": config.get("KMSKeyArn") or None,
        "tracingMode": config.get("TracingConfig", {}).get("Mode", "PassThrough"),
        "architectures": list(config.get("Architectures", ["x86_64"])),
        "codeSha256": config.get("CodeSha256"),
    }


def _release(config: FunctionConfigurationTypeDef) -> dict[str, Any]:
    properties = _properties(config)
    return {name: normalise(properties[name]) for name in RELEASE_PROPERTIES}


def _outputs(config: Configuration, alias: str | None, version: str | None) -> dict[str, Any]:
    name = config["FunctionName"]
    arn = _unqualified(config["FunctionArn"])
    return {
        "id": name,
        "name": name,
        "arn": arn,
        "aliasArn": f"{arn}:{alias}" if alias else None,
        "version": version,
        "codeSha256": config.get("CodeSha256"),
    }


def _comparable(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The desired properties in the observed shapes, without `package`."""
    result = {k: v for k, v in properties.items() if k != "package"}
    if "vpcConfig" in result:
        vpc = result["vpcConfig"] or {}
        result["vpcConfig"] = _vpc(vpc.get("subnetIds"), vpc.get("securityGroupIds"))
    if "environment" in result:
        # Lambda holds every value as a string; a Ref stays as it is until resolved.
        variables = result["environment"] or {}
        result["environment"] = {str(k): v if isinstance(v, Ref) else str(v) for k, v in variables.items()}
    if "kmsKeyArn" in result:
        result["kmsKeyArn"] = result["kmsKeyArn"] or None
    if "provisionedConcurrency" in result:
        result["provisionedConcurrency"] = int(result["provisionedConcurrency"] or 0)
    return result


def _vpc(subnets: Sequence[Any] | None, groups: Sequence[Any] | None) -> dict[str, list[Any]] | None:
    # AWS reports a function outside any VPC with empty lists (or no VpcConfig at all).
    if not subnets:
        return None
    return {"subnetIds": list(subnets), "securityGroupIds": list(groups or [])}


def _configuration(props: Mapping[str, Any], names: set[str], *, creating: bool = False) -> dict[str, Any]:
    """Request parameters of CreateFunction/UpdateFunctionConfiguration for the named properties.
    Clearing a setting in an update takes an explicit empty value; a create leaves it out."""
    params: dict[str, Any] = {}
    simple = {
        "runtime": "Runtime",
        "handler": "Handler",
        "description": "Description",
        "memorySize": "MemorySize",
        "timeout": "Timeout",
        "role": "Role",
    }
    for prop, param in simple.items():
        if prop in names and props.get(prop) is not None:
            params[param] = props[prop]
    if "environment" in names:
        params["Environment"] = {"Variables": {str(k): str(v) for k, v in (props.get("environment") or {}).items()}}
    if "vpcConfig" in names:
        wanted = props.get("vpcConfig") or {}
        vpc = _vpc(wanted.get("subnetIds"), wanted.get("securityGroupIds"))
        if vpc is not None:
            params["VpcConfig"] = {"SubnetIds": vpc["subnetIds"], "SecurityGroupIds": vpc["securityGroupIds"]}
        elif not creating:
            params["VpcConfig"] = {"SubnetIds": [], "SecurityGroupIds": []}
    if "kmsKeyArn" in names:
        if props.get("kmsKeyArn"):
            params["KMSKeyArn"] = str(props["kmsKeyArn"])
        elif not creating:
            params["KMSKeyArn"] = ""
    if "tracingMode" in names:
        params["TracingConfig"] = {"Mode": str(props.get("tracingMode") or "PassThrough")}
    return params


def _check_code(config: Configuration, props: Mapping[str, Any], what: str) -> None:
    """The package must be the code the spec names; otherwise every resync would upload it again."""
    got, wanted = config.get("CodeSha256"), props["codeSha256"]
    if got != wanted:
        package = props["package"]
        raise TerminalError(
            "CodeMismatch",
            f"{what}: s3://{package['s3Bucket']}/{package['s3Key']} has CodeSha256 {got}, the spec says {wanted}: "
            "upload the package the spec was built for, or correct codeSha256",
        )


def _provisioned(lam: LambdaClient, name: str, alias: str) -> int:
    try:
        config = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=alias)
    except ClientError as exc:
        if is_not_found(exc):
            return 0
        raise
    return int(config.get("RequestedProvisionedConcurrentExecutions", 0))


def _function_tags(lam: LambdaClient, arn: str) -> dict[str, str] | None:
    """The function's tags, or None when it no longer exists."""
    try:
        return dict(lam.list_tags(Resource=arn).get("Tags", {}))
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def _ours(alias: AliasConfigurationTypeDef) -> bool:
    return alias.get("Description") == ALIAS_DESCRIPTION


def _unqualified(arn: str) -> str:
    # arn:aws:lambda:region:account:function:name[:qualifier]
    return ":".join(arn.split(":")[:7])


def _name_of(arn: str) -> str:
    return _unqualified(arn).rsplit(":", 1)[-1]


@contextmanager
def _lambda_errors(what: str) -> Iterator[None]:
    """`aws_errors`, plus the two refusals of Lambda that time resolves: a change already in progress,
    and an execution role IAM has not yet propagated to Lambda."""
    with aws_errors(what):
        try:
            yield
        except ClientError as exc:
            code, message = error_code(exc), error_message(exc)
            if code in BUSY:
                raise RetryableError(
                    "FunctionBusy", f"{what}: {exc.operation_name}: another change is in progress ({message})", 10.0
                ) from exc
            if code == "InvalidParameterValueException" and any(m in message.lower() for m in ROLE_NOT_READY):
                raise RetryableError(
                    "RoleNotReady",
                    f"{what}: {exc.operation_name}: {message} (IAM changes take seconds to reach Lambda; retrying. "
                    "If this persists, check the role's trust policy and permissions)",
                    15.0,
                ) from exc
            raise


def _client(ctx: KindContext) -> LambdaClient:
    client: LambdaClient = ctx.clients.client("lambda", ctx.region)
    return client
