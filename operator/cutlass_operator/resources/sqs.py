"""SQS standard queues (`QueueProps`), named deterministically and found by their tags. Outputs:
`id` and `url` (the queue URL), `arn`, `name`.

Create. CreateQueue takes the attributes and the tags in one call, so a crash never leaves an
untagged queue. CreateQueue with the name of an existing queue and the same attributes returns
that queue; with other attributes it fails with `QueueAlreadyExists`: the kind then adopts the
queue if its tags say it belongs to this workspace (a create whose result the tagging API did not
list yet) and brings it to the desired attributes, and refuses otherwise. SQS refuses a name for
60 seconds after DeleteQueue (`QueueDeletedRecently`): retried.

Observe. The Resource Groups Tagging API's GetResources with the selector tags and `sqs` lists
the workspace's queues with their tags (moto implements it for SQS); then per queue one
GetQueueAttributes(All), on the URL built from the client's endpoint, the account and the name (what
GetQueueUrl would answer). A no-op resync of N queues reads 1 + N times. SQS returns every
attribute as a string and the policies as JSON; they are parsed back to the property shapes
before comparing.

Update. One SetQueueAttributes with only the attributes that differ (an empty string removes a
redrive policy or a KMS key), then TagQueue/UntagQueue for the tags that differ.

Delete order. Both the dead-letter queue and its source have rank 40. SQS does not refuse to
delete a queue that is the dead-letter target of another: the source keeps its redrive policy
pointing at a missing ARN and messages that exceed `maxReceiveCount` stay in the source. Since a
layer deletes both in the same reconcile, that window is harmless; a main queue that takes its
DLQ's ARN through a `Ref` is created after the DLQ.

Retain tags the queue `cutlass.tech/retained` first, then removes the identity tags.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.identity import IDENTITY_TAGS, RETAINED
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind, normalise
from cutlass_operator.props.sqs import QueueProps
from cutlass_operator.resources.errors import aws_errors, error_code
from cutlass_operator.resources.tags import key_of, matches, tag_changes, tagged_resources

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

# SQS's error codes (JSON protocol and the older query protocol's names).
NOT_FOUND_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
DELETED_RECENTLY = frozenset({"AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently"})
ALREADY_EXISTS = frozenset({"QueueAlreadyExists", "QueueNameExists", "AWS.SimpleQueueService.QueueNameExists"})

# property -> attribute, for the integer attributes.
INT_ATTRIBUTES: dict[str, QueueAttributeNameType] = {
    "visibilityTimeout": "VisibilityTimeout",
    "messageRetentionPeriod": "MessageRetentionPeriod",
    "receiveMessageWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
}
# AWS's default, which GetQueueAttributes may omit for a queue without a KMS key.
DEFAULT_DATA_KEY_REUSE = 300


def _queue_not_found(exc: ClientError) -> bool:
    query_code = str(exc.response.get("Error", {}).get("QueryErrorCode", ""))
    return error_code(exc) in NOT_FOUND_CODES or query_code in NOT_FOUND_CODES


def _code_in(exc: ClientError, codes: frozenset[str]) -> bool:
    query_code = str(exc.response.get("Error", {}).get("QueryErrorCode", ""))
    return error_code(exc) in codes or query_code in codes


class QueueKind(ResourceKind[QueueProps]):
    props = QueueProps
    delete_rank = 40
    immutable = frozenset({"queueName"})

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[QueueProps]]) -> list[Observed]:
        sqs = _client(ctx)
        found: list[Observed] = []
        with aws_errors(f"observe {self.kind} in {ctx.region}"):
            for arn, tags in sorted(tagged_resources(ctx, "sqs").items()):
                name = arn.rsplit(":", 1)[-1]
                url = _queue_url(sqs, ctx.account_id, name)
                try:  # deleted between the listing and the read
                    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
                except ClientError as exc:
                    if _queue_not_found(exc):
                        continue
                    raise
                found.append(self._observed(key_of(tags, name), name, url, attributes, tags))
        return found

    def create(self, ctx: KindContext, desired: Desired[QueueProps]) -> Observed:
        sqs = _client(ctx)
        name = desired.props.queue_name
        what = f"create {self.kind} {name}"
        attributes = _attributes(desired.properties, {})
        with aws_errors(what):
            try:
                url = sqs.create_queue(QueueName=name, Attributes=attributes, tags=dict(desired.tags))["QueueUrl"]
            except ClientError as exc:
                if _code_in(exc, DELETED_RECENTLY):
                    raise RetryableError(
                        "QueueDeletedRecently", f"{what}: SQS keeps the name for 60 s after a delete; retrying", 60.0
                    ) from exc
                if not _code_in(exc, ALREADY_EXISTS):
                    raise
                url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=ctx.account_id)["QueueUrl"]
                tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
                if not matches(tags, ctx.selector):
                    raise TerminalError(
                        "QueueNameTaken",
                        f"{what}: a queue named {name} exists with other attributes and is not managed by this "
                        "workspace; delete or rename it, or tag it as this entry's to adopt it",
                    ) from exc
            current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
            tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        observed = self._observed(desired.key, name, url, current, tags)
        return self.update(ctx, desired, observed, self.compare(desired, observed))

    def update(
        self, ctx: KindContext, desired: Desired[QueueProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        sqs = _client(ctx)
        url = observed.outputs["url"]
        changed = {
            name: value
            for name, value in desired.properties.items()
            if name != "queueName" and normalise(observed.properties.get(name)) != normalise(value)
        }
        with aws_errors(f"update {self.kind} {observed.id}"):
            attributes = _attributes(changed, {"kmsMasterKeyId": "", "redrivePolicy": ""})
            if attributes:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
                observed.properties.update(changed)
            changes = tag_changes(desired.tags, observed.tags)
            if changes.put:
                sqs.tag_queue(QueueUrl=url, Tags=changes.put)
            if changes.remove:
                sqs.untag_queue(QueueUrl=url, TagKeys=changes.remove)
        observed.tags = changes.applied_to(observed.tags)
        observed.key = desired.key
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        sqs = _client(ctx)
        with aws_errors(f"delete {self.kind} {observed.id}"):
            try:
                sqs.delete_queue(QueueUrl=observed.outputs["url"])
            except ClientError as exc:
                if not _queue_not_found(exc):
                    raise

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        sqs = _client(ctx)
        url = observed.outputs["url"]
        with aws_errors(f"retain {self.kind} {observed.id}"):
            sqs.tag_queue(QueueUrl=url, Tags={RETAINED: "true"})
            sqs.untag_queue(QueueUrl=url, TagKeys=list(IDENTITY_TAGS))

    def _observed(
        self, key: str, name: str, url: str, attributes: Mapping[QueueAttributeNameType, str], tags: Mapping[str, str]
    ) -> Observed:
        properties: dict[str, Any] = {"queueName": name}
        for prop, attribute in INT_ATTRIBUTES.items():
            raw = attributes.get(attribute)
            properties[prop] = int(raw) if raw not in (None, "") else None
        if properties["kmsDataKeyReusePeriodSeconds"] is None:
            properties["kmsDataKeyReusePeriodSeconds"] = DEFAULT_DATA_KEY_REUSE
        properties["kmsMasterKeyId"] = attributes.get("KmsMasterKeyId") or None
        properties["redrivePolicy"] = _redrive(attributes.get("RedrivePolicy"))
        arn = attributes.get("QueueArn", "")
        outputs = {"id": url, "url": url, "arn": arn, "name": name}
        return Observed(key, self.kind, url, properties, dict(tags), outputs)


def _attributes(properties: Mapping[str, Any], none_as: Mapping[str, str]) -> dict[QueueAttributeNameType, str]:
    """SQS attributes for the given properties; None is left out, or written as `none_as` says
    (an empty string removes a redrive policy or a KMS key)."""
    result: dict[QueueAttributeNameType, str] = {}
    for prop, attribute in INT_ATTRIBUTES.items():
        if properties.get(prop) is not None:
            result[attribute] = str(int(properties[prop]))
    encoded: list[tuple[str, QueueAttributeNameType, Callable[[Any], str]]] = [
        ("kmsMasterKeyId", "KmsMasterKeyId", str),
        ("redrivePolicy", "RedrivePolicy", _dump_redrive),
    ]
    for prop, attribute, encode in encoded:
        if prop not in properties:
            continue
        value = properties[prop]
        if value is not None:
            result[attribute] = encode(value)
        elif prop in none_as:
            result[attribute] = none_as[prop]
    return result


def _dump_redrive(policy: Mapping[str, Any]) -> str:
    return json.dumps(
        {"deadLetterTargetArn": str(policy["deadLetterTargetArn"]), "maxReceiveCount": int(policy["maxReceiveCount"])}
    )


def _redrive(raw: str | None) -> dict[str, Any] | None:
    """SQS returns `maxReceiveCount` as a number or a string depending on how it was written."""
    policy = json.loads(raw) if raw else None
    if not policy:
        return None
    return {"deadLetterTargetArn": policy.get("deadLetterTargetArn"), "maxReceiveCount": int(policy["maxReceiveCount"])}


def _queue_url(sqs: SQSClient, account_id: str, name: str) -> str:
    """A queue's URL is the SQS endpoint, the owner's account and the name (the form AWS documents and
    GetQueueUrl answers with): built, it spares a read per queue."""
    return f"{sqs.meta.endpoint_url.rstrip('/')}/{account_id}/{name}"


def _client(ctx: KindContext) -> SQSClient:
    client: SQSClient = ctx.clients.client("sqs", ctx.region)
    return client
