"""Lambda event source mappings: an SQS queue or a DynamoDB stream feeding a function's alias.

The properties are `EventSourceMappingProps`, in the shapes observe reports them: a
`maximumBatchingWindowInSeconds` AWS does not report is 0, no response types are `[]`, and filter
patterns compare as parsed JSON. `functionArn` is changed in place (UpdateEventSourceMapping's
FunctionName); `eventSourceArn` and `startingPosition` are immutable.

Outputs: `id` and `uuid` (the mapping's UUID), `arn` (its ARN, where AWS reports one) and `state`.

Identity. A mapping has a UUID AWS chooses and no name, and ListEventSourceMappings does not return
tags, so the kind identifies a mapping by what it connects: the function's name (without the
qualifier) and the event source ARN. The source must be a literal ARN in the desired entry (a
queue's ARN is deterministic; a stream's comes from the tables layer's outputs). The function may be
a `Ref` to the alias's ARN, known only after the function exists: such an entry is matched by its
source alone, among the mappings of our functions that no entry naming its function took, so two
such entries may not share a source. The kind owns the functions named with its `name_prefix` (the
functions' prefix), which carries the workspace (e.g. `cutlass-tech-fn-dev-london-`). Observe is one
unfiltered ListEventSourceMappings, paginated (the region's mappings, 100 a page), keeping the
mappings of our functions: a no-op resync reads once. Where several mappings fit one entry (a crash between a create
and the record of its result leaves a second one; moving a source to another function may find
the old mapping beside a new one) the most recently changed is kept; the others, and the mappings
of our functions that no entry wants, are orphans under `orphan_scope` (the layer's key prefix), so
the engine deletes them. A mapping being deleted is left out: it is going away. Only properties are
compared.

Create is CreateEventSourceMapping with the tags (for cost allocation; they are not read back),
update one UpdateEventSourceMapping with the fields that differ, delete DeleteEventSourceMapping.
AWS changes a mapping asynchronously (Creating, Enabling, Updating, Disabling, Deleting), so each
waits, bounded, until the mapping settles, or for a delete until it is gone, so the function can be
deleted after it. A create AWS refuses because the mapping exists already (a create whose result
the list did not show yet) is retried: the next observe finds it. An update moving a mapping to a
function that has a mapping of the same source already deletes the one it was moving (it is the
duplicate) and is retried. Retain leaves the mapping as it is.

moto 5.2.5 gaps:
- It stores the FunctionArn of an alias as the ARN of the version the alias points to
  (`function:fn:1` for `function:fn:live`), in CreateEventSourceMapping and UpdateEventSourceMapping
  alike. Observe and compare read a numeric qualifier as the desired alias when the function is the
  desired one, so a steady state shows no difference. On AWS the alias ARN is reported as it was
  given; the price of the mapping is that repointing a mapping from the alias to a bare version of
  the same function is not seen as drift.
- It reports only the optional fields it was given: no MaximumBatchingWindowInSeconds,
  MaximumRetryAttempts or BisectBatchOnFunctionError by default; observe fills in AWS's defaults.
  It keeps `FilterCriteria` `{}` after a filter is removed; observe reads that as no filter.
- States: mappings are `Enabled` or `Disabled` at once, never in transition.
- A second mapping of the same function and queue is accepted (AWS answers
  ResourceConflictException), and deleting an unknown UUID succeeds (AWS: ResourceNotFoundException).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.engine.errors import RetryableError
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind, normalise
from cutlass_operator.props.lambda_ import EventSourceMappingProps
from cutlass_operator.resources.errors import aws_errors, error_code, is_not_found
from cutlass_operator.resources.waits import WaitPolicy, wait_until

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_lambda.type_defs import (
        CreateEventSourceMappingRequestTypeDef,
        FilterCriteriaTypeDef,
        FilterTypeDef,
        UpdateEventSourceMappingRequestTypeDef,
    )

# AWS's states while a change is in flight; an update in one of them is refused (ResourceInUse).
SETTLING = frozenset({"Creating", "Enabling", "Updating", "Disabling"})
DELETING = "Deleting"
# Creating counts as enabled: mappings are made enabled unless asked otherwise.
ENABLED_STATES = frozenset({"Enabled", "Enabling", "Creating"})
# AWS's defaults, which a desired None stands for and AWS reports (moto omits the unset ones).
QUEUE_BATCH = 10
STREAM_BATCH = 100
NONE_MEANS: dict[str, Any] = {"maximumBatchingWindowInSeconds": 0, "enabled": True, "functionResponseTypes": []}
STREAM_DEFAULTS: dict[str, Any] = {"maximumRetryAttempts": -1, "bisectBatchOnFunctionError": False}
# Properties that the create and update requests carry, by their field type.
INT_FIELDS = {
    "batchSize": "BatchSize",
    "maximumBatchingWindowInSeconds": "MaximumBatchingWindowInSeconds",
    "maximumRetryAttempts": "MaximumRetryAttempts",
}
BOOL_FIELDS = {"enabled": "Enabled", "bisectBatchOnFunctionError": "BisectBatchOnFunctionError"}
SETTINGS = (*INT_FIELDS, *BOOL_FIELDS, "functionResponseTypes", "filterCriteria")
IN_USE = frozenset({"ResourceInUseException"})
CONFLICT = frozenset({"ResourceConflictException"})


class EventSourceMappingKind(ResourceKind[EventSourceMappingProps]):
    props = EventSourceMappingProps
    # Above the functions (80): a mapping goes before the function it feeds.
    delete_rank = 90
    immutable = frozenset({"eventSourceArn", "startingPosition"})

    def __init__(self, name_prefix: str = "", orphan_scope: str = "", *, wait: WaitPolicy | None = None) -> None:
        if not name_prefix:
            raise ValueError("a mapping kind needs a function name prefix that carries its workspace")
        super().__init__(name_prefix, orphan_scope)
        self.wait = wait or WaitPolicy(timeout=300.0, interval=5.0)

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[EventSourceMappingProps]]) -> list[Observed]:
        lam = _client(ctx)
        exact: dict[tuple[str, str], Desired[EventSourceMappingProps]] = {}
        by_source: dict[str, Desired[EventSourceMappingProps]] = {}
        for d in desired:
            function, source = self._identity(d)
            if function is None:
                if source in by_source:
                    raise ValueError(
                        f"{d.key} and {by_source[source].key} both map {source} to a function known only after "
                        "apply: give their functionArn as literal ARNs so they can be told apart"
                    )
                by_source[source] = d
            elif (function, source) in exact:
                raise ValueError(f"{d.key} and {exact[function, source].key} map {source} to {function} twice")
            else:
                exact[function, source] = d
        ours: list[Mapping[str, Any]] = []
        with aws_errors(f"observe {self.kind} {self.name_prefix}*"):
            for page in lam.get_paginator("list_event_source_mappings").paginate(PaginationConfig={"PageSize": 100}):
                ours += [
                    m
                    for m in page.get("EventSourceMappings", [])
                    if _function_name(m.get("FunctionArn", "")).startswith(self.name_prefix)
                    and m.get("State") != DELETING
                ]
        # Where several mappings fit one entry, the most recently changed is kept (the one a rename
        # made last, not the stale one it replaces); the others are duplicates, deleted as orphans.
        ours.sort(key=lambda m: (str(m.get("LastModified", "")), m.get("UUID", "")), reverse=True)
        owner: dict[str, Desired[EventSourceMappingProps]] = {}  # UUID -> the entry it is
        claimed: set[str] = set()
        # Entries that name their function first, then those known by their source alone.
        for by_function in (True, False):
            for mapping in ours:
                uuid, source = mapping.get("UUID", ""), mapping.get("EventSourceArn", "")
                function = _function_name(mapping.get("FunctionArn", ""))
                want = exact.get((function, source)) if by_function else by_source.get(source)
                if want is not None and uuid not in owner and want.key not in claimed:
                    owner[uuid] = want
                    claimed.add(want.key)
        found: list[Observed] = []
        for mapping in sorted(ours, key=lambda m: m.get("UUID", "")):
            uuid = mapping.get("UUID", "")
            want = owner.get(uuid)
            key = want.key if want is not None else f"{self.orphan_scope}(untracked {uuid})"
            found.append(self._observed(key, mapping, want))
        return found

    def create(self, ctx: KindContext, desired: Desired[EventSourceMappingProps]) -> Observed:
        lam = _client(ctx)
        _, source = self._identity(desired)
        function_arn = str(desired.properties["functionArn"])
        what = f"create {self.kind} {_function_name(function_arn)} <- {source}"
        given = [name for name in SETTINGS if desired.properties.get(name) is not None]
        request: CreateEventSourceMappingRequestTypeDef = {
            "FunctionName": function_arn,
            "EventSourceArn": source,
            **_request_fields(desired.properties, _is_stream(source), given),  # type: ignore[typeddict-item]
        }
        if desired.properties.get("startingPosition") is not None:
            request["StartingPosition"] = desired.properties["startingPosition"]
        if desired.tags:
            request["Tags"] = dict(desired.tags)
        with aws_errors(what):
            try:
                mapping: Mapping[str, Any] = lam.create_event_source_mapping(**request)
            except ClientError as exc:
                if error_code(exc) in CONFLICT:
                    raise RetryableError(
                        "MappingExists", f"{what}: AWS has this mapping already (not listed yet); observing again", 10.0
                    ) from exc
                raise
            mapping = self._settled(ctx, mapping, what)
        return self._observed(desired.key, mapping, desired)

    def update(
        self, ctx: KindContext, desired: Desired[EventSourceMappingProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        lam = _client(ctx)
        uuid = observed.id
        what = f"update {self.kind} {uuid}"
        changed = {d.path for d in diff}
        stream = _is_stream(str(desired.properties["eventSourceArn"]))
        request: UpdateEventSourceMappingRequestTypeDef = {
            "UUID": uuid,
            **_request_fields(desired.properties, stream, [n for n in SETTINGS if n in changed]),  # type: ignore[typeddict-item]
        }
        if "functionArn" in changed:
            request["FunctionName"] = str(desired.properties["functionArn"])
        if len(request) == 1:
            observed.key = desired.key
            return observed
        with aws_errors(what):
            try:
                mapping: Mapping[str, Any] = lam.update_event_source_mapping(**request)
            except ClientError as exc:
                if error_code(exc) in IN_USE:
                    raise RetryableError("MappingBusy", f"{what}: another change is in flight; retrying", 15.0) from exc
                if error_code(exc) in CONFLICT and "FunctionName" in request:
                    # The function has a mapping of this source already (an entry known by its source
                    # alone matched the stale one): this one is the duplicate, so it goes.
                    self.delete(ctx, observed)
                    raise RetryableError(
                        "MappingReplaced",
                        f"{what}: the function has a mapping of this source already; "
                        "deleted this duplicate, observing again",
                        5.0,
                    ) from exc
                raise
            mapping = self._settled(ctx, mapping, what)
        return self._observed(desired.key, mapping, desired)

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        lam = _client(ctx)
        uuid = observed.id
        what = f"delete {self.kind} {uuid}"
        with aws_errors(what):
            try:
                lam.delete_event_source_mapping(UUID=uuid)
            except ClientError as exc:
                if error_code(exc) in IN_USE:
                    raise RetryableError("MappingBusy", f"{what}: another change is in flight; retrying", 15.0) from exc
                if not _gone(exc):
                    raise
            wait_until(lambda: _get(lam, uuid) is None, self.wait, what, "MappingDeleting")

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        """Identity is by function and source, not by tags: the mapping stays as it is."""

    def compare(self, desired: Desired[EventSourceMappingProps], observed: Observed) -> list[FieldDiff]:
        """Properties only (tags are not read), in the shapes observe reports."""
        stream = _is_stream(str(desired.properties.get("eventSourceArn", "")))
        diffs = []
        for name, want in sorted(desired.properties.items()):
            have = observed.properties.get(name)
            if name == "functionArn":
                have = _function_arn(str(have or ""), want)
            if _comparable(name, have, stream) != _comparable(name, want, stream):
                diffs.append(FieldDiff(name, observed.properties.get(name), want))
        return diffs

    def _identity(self, desired: Desired[EventSourceMappingProps]) -> tuple[str | None, str]:
        """(function name, source); the name is None when functionArn is a reference not resolved yet."""
        function_arn = desired.properties.get("functionArn")
        source = desired.properties.get("eventSourceArn")
        if not isinstance(source, str):
            raise ValueError(
                f"{desired.key}: a mapping is found again by its source, so eventSourceArn must be a literal ARN, "
                "not a reference resolved at apply time"
            )
        if not isinstance(function_arn, str):
            return None, source
        function = _function_name(function_arn)
        if not function.startswith(self.name_prefix):
            raise ValueError(f"{desired.key}: function {function} is outside {self.name_prefix}, where observe looks")
        return function, source

    def _settled(self, ctx: KindContext, mapping: Mapping[str, Any], what: str) -> Mapping[str, Any]:
        """The mapping once AWS has finished changing it (at once when the answer is settled already)."""
        if mapping.get("State") not in SETTLING:
            return mapping
        lam = _client(ctx)
        uuid = mapping["UUID"]
        latest: list[Mapping[str, Any]] = [mapping]

        def settled() -> bool:
            current = _get(lam, uuid)
            if current is None:
                raise RetryableError("NotFoundYet", f"{what}: mapping {uuid} disappeared; observing again", 10.0)
            latest[0] = current
            return current.get("State") not in SETTLING

        wait_until(settled, self.wait, what, "MappingSettling")
        return latest[0]

    def _observed(
        self, key: str, mapping: Mapping[str, Any], desired: Desired[EventSourceMappingProps] | None
    ) -> Observed:
        uuid = mapping.get("UUID", "")
        source = mapping.get("EventSourceArn", "")
        stream = _is_stream(source)
        state = mapping.get("State", "")
        properties: dict[str, Any] = {
            "functionArn": _function_arn(
                mapping.get("FunctionArn", ""), desired.properties.get("functionArn") if desired else None
            ),
            "eventSourceArn": source,
            "batchSize": mapping.get("BatchSize"),
            "maximumBatchingWindowInSeconds": mapping.get("MaximumBatchingWindowInSeconds"),
            "enabled": state in ENABLED_STATES,
            "functionResponseTypes": list(mapping.get("FunctionResponseTypes", [])),
            "filterCriteria": _filters_from_aws(mapping.get("FilterCriteria")),
            "startingPosition": mapping.get("StartingPosition") if stream else None,
            "maximumRetryAttempts": mapping.get("MaximumRetryAttempts") if stream else None,
            "bisectBatchOnFunctionError": mapping.get("BisectBatchOnFunctionError") if stream else None,
        }
        for name in (*INT_FIELDS, *BOOL_FIELDS):
            properties[name] = _effective(name, properties[name], stream)
        outputs = {"id": uuid, "uuid": uuid, "arn": mapping.get("EventSourceMappingArn"), "state": state}
        return Observed(key, self.kind, uuid, properties, {}, outputs)


def _effective(name: str, value: Any, stream: bool) -> Any:
    """A desired None as the AWS default it stands for (observe reports AWS's defaults too)."""
    if value is not None:
        return value
    if name == "batchSize":
        return STREAM_BATCH if stream else QUEUE_BATCH
    if name in NONE_MEANS:
        return NONE_MEANS[name]
    if stream and name in STREAM_DEFAULTS:
        return STREAM_DEFAULTS[name]
    return None


def _request_fields(properties: Mapping[str, Any], stream: bool, names: Iterable[str]) -> dict[str, Any]:
    """Create and update fields for the named properties; a None becomes AWS's default, and no filter
    is sent as `{}`, which is how UpdateEventSourceMapping removes one."""
    fields: dict[str, Any] = {}
    for name in names:
        value = _effective(name, properties.get(name), stream)
        if name == "filterCriteria":
            fields["FilterCriteria"] = _filters_to_aws(value) or {}
        elif name == "functionResponseTypes":
            fields["FunctionResponseTypes"] = [str(v) for v in value or []]
        elif value is None:
            continue  # a setting of streams, for a queue
        elif name in INT_FIELDS:
            fields[INT_FIELDS[name]] = int(value)
        elif name in BOOL_FIELDS:
            fields[BOOL_FIELDS[name]] = bool(value)
    return fields


def _filters_to_aws(value: Any) -> FilterCriteriaTypeDef | None:
    filters: list[FilterTypeDef] = [{"Pattern": str(f["pattern"])} for f in (value or {}).get("filters") or []]
    return {"Filters": filters} if filters else None


def _filters_from_aws(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    filters = [{"pattern": f.get("Pattern")} for f in (value or {}).get("Filters") or []]
    return {"filters": filters} if filters else None


def _comparable(name: str, value: Any, stream: bool) -> Any:
    """Both sides in one shape: defaults filled in, no filter as None, patterns as parsed JSON."""
    value = _effective(name, value, stream)
    if name == "filterCriteria" and isinstance(value, Mapping):
        filters = value.get("filters") or []
        return normalise([_parsed(f.get("pattern")) for f in filters]) if filters else None
    return normalise(value)


def _parsed(pattern: Any) -> Any:
    try:
        return normalise(json.loads(pattern)) if isinstance(pattern, str) else pattern
    except ValueError:
        return pattern


def _function_name(arn: str) -> str:
    """`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]` -> name (a bare name stays)."""
    parts = arn.split(":")
    return parts[6] if len(parts) >= 7 and parts[5] == "function" else arn


def _function_arn(reported: str, want: Any) -> str:
    """The reported ARN, with moto's version qualifier put back to the alias `want` names when both
    name the same function (a reference not resolved yet leaves it as reported)."""
    if not isinstance(want, str):
        return reported
    have_head, _, have_tail = reported.partition(":function:")
    want_head, _, want_tail = want.partition(":function:")
    have_base, _, have_qualifier = have_tail.partition(":")
    want_base, _, want_qualifier = want_tail.partition(":")
    same_function = (have_head, have_base) == (want_head, want_base)
    if same_function and have_qualifier.isdigit() and want_qualifier and not want_qualifier.isdigit():
        return want
    return reported


def _is_stream(source: str) -> bool:
    """A DynamoDB or Kinesis stream, where positions, retries and bisection apply; else a queue."""
    service = source.split(":")[2] if source.count(":") >= 2 else ""
    return service in {"dynamodb", "kinesis"}


def _gone(exc: ClientError) -> bool:
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return is_not_found(exc) or status == 404


def _get(lam: LambdaClient, uuid: str) -> Mapping[str, Any] | None:
    try:
        mapping: Mapping[str, Any] = lam.get_event_source_mapping(UUID=uuid)
    except ClientError as exc:
        if _gone(exc):
            return None
        raise
    return mapping


def _client(ctx: KindContext) -> LambdaClient:
    client: LambdaClient = ctx.clients.client("lambda", ctx.region)
    return client
