"""Customer-managed KMS keys (`KmsKeyProps`): one symmetric key per region, found by its tags.

The policy is compared as parsed JSON (keys and lists in any order, a one-element list equal to
its element); `keySpec` and `keyUsage` are immutable. Outputs: `id` (the key id), `arn`, `alias`
and `aliasArn` (both None until the alias exists).

Identity. A key has no name, only an id AWS chooses, so identity is by tags alone. CreateKey takes
`Tags` and `Policy` in the same call, so a crash never leaves an untagged key, nor one with the
default policy. The alias comes after: a key that lost its alias to a crash is found by its tags
and update gives it the alias; no second key is created.

Observe. One call finds the workspace's keys with their tags: the Resource Groups Tagging API's
GetResources with the selector tags and `kms:key` (implemented by moto for KMS too). If any,
ListAliases once for the region (every alias names its target key; one page of 100 covers the
AWS-managed aliases and ours), then per key DescribeKey (state, description, spec, usage),
GetKeyRotationStatus and GetKeyPolicy. A no-op resync of a region's key reads 2 + 3 = 5 times.
Keys scheduled for deletion keep their tags (KMS refuses tag changes to them), so the tagging
API lists them for the 7 days of their window: DescribeKey shows `PendingDeletion` and they are
skipped, one read each.

The tagging API is eventually consistent, so two guards. An orphan (a key no desired entry wants,
which the engine is about to delete) is confirmed with ListResourceTags. And when two keys carry
one `cutlass.tech/key` (a key created just before a crash, not yet listed, created again), the one
holding the alias is reported first, then the older one: the engine keeps the first and deletes
the spare, so the key that tables were encrypted with stays.

Delete removes the key's aliases, then schedules the deletion with the shortest window AWS
allows, 7 days (`PendingWindowInDays` is 7 to 30): KMS never deletes a key at once, and within the
window CancelKeyDeletion recovers the key and all it encrypted. Retain leaves key and alias, tags
the key `cutlass.tech/retained` and then drops the identity tags. A workspace created again later
does not silently adopt a retained key: the alias still names it, so create stops with a terminal
error that says how to adopt the key or free the alias.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cutlass_operator.aws.fanout import at_once, each
from cutlass_operator.engine.arns import partition
from cutlass_operator.engine.errors import RetryableError, TerminalError
from cutlass_operator.engine.identity import IDENTITY_TAGS, KEY, MANAGED_BY, PREFIX, RETAINED, WORKSPACE
from cutlass_operator.engine.resource import Desired, FieldDiff, KindContext, Observed, ResourceKind
from cutlass_operator.props.kms import KmsKeyProps
from cutlass_operator.resources.errors import aws_errors, error_code, is_not_found, tolerate_not_found
from cutlass_operator.resources.policies import same_policy
from cutlass_operator.resources.tags import key_of, matches, tag_changes, tagged_resources

if TYPE_CHECKING:
    from mypy_boto3_kms.client import KMSClient
    from mypy_boto3_kms.type_defs import AliasListEntryTypeDef, KeyMetadataTypeDef
    from mypy_boto3_kms.type_defs import TagTypeDef as KmsTagTypeDef

# AWS's minimum; the window in which CancelKeyDeletion can still recover the key.
PENDING_WINDOW_DAYS = 7
# Keys on their way out: not ours to manage any more, and their alias may be moved.
GONE_STATES = frozenset({"PendingDeletion", "PendingReplicaDeletion"})
OUR_ALIASES = f"alias/{PREFIX}-"


class KmsKeyKind(ResourceKind[KmsKeyProps]):
    props = KmsKeyProps
    # Tables, queues, log groups and buckets encrypted with the key are deleted first.
    delete_rank = 20
    immutable = frozenset({"keySpec", "keyUsage"})

    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[KmsKeyProps]]) -> list[Observed]:
        kms = _client(ctx)
        wanted = {d.key: d for d in desired}
        with aws_errors(f"observe {self.kind} in {ctx.region}"):
            tagged = tagged_resources(ctx, "kms:key")
            aliases = _aliases_by_key(kms) if tagged else {}

            def observe_one(listed: tuple[str, dict[str, str]]) -> Observed | None:
                arn, tags = listed
                key_id = arn.rsplit("/", 1)[-1]
                with tolerate_not_found():  # deleted between the listing and the reads
                    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
                    if meta["KeyState"] in GONE_STATES:
                        return None
                    if key_of(tags, key_id) not in wanted:
                        tags = _key_tags(kms, key_id)  # an orphan is about to go: confirm its tags
                        if not matches(tags, ctx.selector):
                            return None
                    key = key_of(tags, key_id)
                    want = wanted.get(key)
                    want_alias = want.props.alias if want else None
                    return self._observed(
                        ctx, kms, key, meta, tags=tags, aliases=aliases.get(key_id, []), want_alias=want_alias
                    )
                return None

            found = [o for o in each(observe_one, sorted(tagged.items())) if o is not None]
        # Duplicates of one entry: the engine keeps the first, so the key in use comes first.
        found.sort(key=lambda o: (o.key, not o.private["holdsAlias"], str(o.private["created"])))
        return found

    def create(self, ctx: KindContext, desired: Desired[KmsKeyProps]) -> Observed:
        kms = _client(ctx)
        props = desired.properties
        alias = props.get("alias")
        what = f"create {self.kind} {desired.name}"
        with aws_errors(what):
            if alias:
                # Refuse before making a key that could never get its alias.
                holder = _alias_holder(kms, str(alias))
                if (
                    holder is not None
                    and self._alias_claim(ctx, kms, holder, desired, alias=str(alias), what=what) == "same"
                ):
                    raise RetryableError(
                        "KeyNotListedYet",
                        f"{what}: {alias} already names key {holder['KeyId']}, which carries this entry's tags "
                        "but the tagging API does not list yet; observing it again shortly",
                    )
            params: dict[str, Any] = {
                "Description": str(props.get("description", "")),
                "KeyUsage": props.get("keyUsage", "ENCRYPT_DECRYPT"),
                "KeySpec": props.get("keySpec", "SYMMETRIC_DEFAULT"),
                "Policy": json.dumps(props["policy"]),
                "Tags": _kms_tags(desired.tags),
            }
            meta = kms.create_key(**params)["KeyMetadata"]
        observed = Observed(
            desired.key,
            self.kind,
            meta["KeyId"],
            {
                "description": meta.get("Description", ""),
                "alias": None,
                "enableKeyRotation": False,
                "policy": props.get("policy"),
                "keySpec": meta.get("KeySpec"),
                "keyUsage": meta.get("KeyUsage"),
            },
            dict(desired.tags),
            _outputs(ctx, meta["KeyId"], meta["Arn"], None),
            {"aliases": [], "holdsAlias": False, "created": meta.get("CreationDate")},
        )
        return self.update(ctx, desired, observed, self.compare(desired, observed))

    def update(
        self, ctx: KindContext, desired: Desired[KmsKeyProps], observed: Observed, diff: list[FieldDiff]
    ) -> Observed:
        kms = _client(ctx)
        key_id = observed.id
        props = desired.properties
        have = observed.properties
        what = f"update {self.kind} {desired.name}"
        with aws_errors(what):
            description = props.get("description")
            if description is not None and description != have.get("description"):
                kms.update_key_description(KeyId=key_id, Description=str(description))
                have["description"] = description
            policy = props["policy"]
            if not same_policy(policy, have.get("policy")):
                kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(policy))
                have["policy"] = policy
            rotation = props.get("enableKeyRotation")
            if rotation is not None and bool(rotation) != have.get("enableKeyRotation"):
                if rotation:
                    kms.enable_key_rotation(KeyId=key_id)
                else:
                    kms.disable_key_rotation(KeyId=key_id)
                have["enableKeyRotation"] = bool(rotation)
            alias = props.get("alias")
            if alias and alias != have.get("alias"):
                self._point_alias(ctx, kms, desired, observed, alias=str(alias), what=what)
            changes = tag_changes(desired.tags, observed.tags)
            if changes.put:
                kms.tag_resource(KeyId=key_id, Tags=_kms_tags(changes.put))
            if changes.remove:
                kms.untag_resource(KeyId=key_id, TagKeys=changes.remove)
        observed.tags = changes.applied_to(observed.tags)
        observed.key = desired.key
        observed.outputs = _outputs(ctx, key_id, observed.outputs["arn"], have.get("alias"))
        return observed

    def delete(self, ctx: KindContext, observed: Observed) -> None:
        kms = _client(ctx)
        with aws_errors(f"delete {self.kind} {observed.id}"):
            # Aliases first: one left on a key pending deletion would block the name for 7 days.
            for alias in observed.private.get("aliases", []):
                with tolerate_not_found():
                    kms.delete_alias(AliasName=alias)
            try:
                kms.schedule_key_deletion(KeyId=observed.id, PendingWindowInDays=PENDING_WINDOW_DAYS)
            except ClientError as exc:
                if is_not_found(exc):
                    return
                # Already scheduled (a retry after a crash): the outcome we wanted.
                if error_code(exc) == "KMSInvalidStateException" and _state(kms, observed.id) in GONE_STATES:
                    return
                raise

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        """Tag as retained first, then drop the identity tags: a failure in between leaves the key
        still managed (and marked), and the next reconcile finishes the job."""
        kms = _client(ctx)
        with aws_errors(f"retain {self.kind} {observed.id}"):
            kms.tag_resource(KeyId=observed.id, Tags=[{"TagKey": RETAINED, "TagValue": "true"}])
            kms.untag_resource(KeyId=observed.id, TagKeys=list(IDENTITY_TAGS))

    def compare(self, desired: Desired[KmsKeyProps], observed: Observed) -> list[FieldDiff]:
        # A policy written differently (keys in another order, a one-element list) is the same policy.
        return [
            d
            for d in super().compare(desired, observed)
            if not (d.path == "policy" and same_policy(d.desired, d.current))
        ]

    def _point_alias(
        self,
        ctx: KindContext,
        kms: KMSClient,
        desired: Desired[KmsKeyProps],
        observed: Observed,
        *,
        alias: str,
        what: str,
    ) -> None:
        """Make `alias` name this key, then drop the key's previous alias of ours (a renamed one)."""
        key_id = observed.id
        try:
            kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        except ClientError as exc:
            if error_code(exc) != "AlreadyExistsException":
                raise
            holder = _alias_holder(kms, alias)
            if holder is None:
                raise RetryableError("AliasChanging", f"{what}: {alias} is being deleted; retrying") from exc
            if holder["KeyId"] != key_id:
                if self._alias_claim(ctx, kms, holder, desired, alias=alias, what=what) == "same":
                    raise RetryableError(
                        "DuplicateKey",
                        f"{what}: {alias} names key {holder['KeyId']}, another key of this entry that the tagging "
                        "API does not list yet; the next reconcile keeps that one and deletes the spare",
                    ) from exc
                kms.update_alias(AliasName=alias, TargetKeyId=key_id)
        stale = [a for a in observed.private.get("aliases", []) if a.startswith(OUR_ALIASES) and a != alias]
        for old in stale:
            with tolerate_not_found():
                kms.delete_alias(AliasName=old)
        observed.private["aliases"] = [a for a in observed.private.get("aliases", []) if a not in stale] + [alias]
        observed.private["holdsAlias"] = True
        observed.properties["alias"] = alias

    def _alias_claim(
        self,
        ctx: KindContext,
        kms: KMSClient,
        holder: KeyMetadataTypeDef,
        desired: Desired[KmsKeyProps],
        *,
        alias: str,
        what: str,
    ) -> str:
        """Whether the key that `alias` names may lose it: "movable" (going away, or another key of
        this workspace), "same" (a key of this very entry); anything else is a terminal error."""
        if holder["KeyState"] in GONE_STATES:
            return "movable"
        tags = _key_tags(kms, holder["KeyId"])
        if matches(tags, ctx.selector):
            return "same" if tags.get(KEY) == desired.key else "movable"
        retained = " (it was retained when its workspace was deleted)" if tags.get(RETAINED) == "true" else ""
        raise TerminalError(
            "AliasTaken",
            f"{what}: {alias} names key {holder['KeyId']}, which workspace {ctx.selector.get(WORKSPACE)} does not "
            f"manage{retained}. To adopt that key, tag it {MANAGED_BY}={ctx.selector.get(MANAGED_BY)}, "
            f"{WORKSPACE}={ctx.selector.get(WORKSPACE)}, {KEY}={desired.key} and remove {RETAINED}; "
            "otherwise delete the alias",
        )

    def _observed(
        self,
        ctx: KindContext,
        kms: KMSClient,
        key: str,
        meta: KeyMetadataTypeDef,
        *,
        tags: dict[str, str],
        aliases: list[AliasListEntryTypeDef],
        want_alias: Any,
    ) -> Observed:
        key_id = meta["KeyId"]
        names = sorted(a["AliasName"] for a in aliases if "AliasName" in a)
        alias = want_alias if want_alias in names else next((n for n in names if n.startswith(OUR_ALIASES)), None)
        rotation_answer, policy_answer = at_once(
            lambda: kms.get_key_rotation_status(KeyId=key_id),
            lambda: kms.get_key_policy(KeyId=key_id, PolicyName="default"),
        )
        rotation = rotation_answer.get("KeyRotationEnabled", False)
        policy = json.loads(policy_answer["Policy"])
        properties: dict[str, Any] = {
            "description": meta.get("Description", ""),
            "alias": alias,
            "enableKeyRotation": rotation,
            "policy": policy,
            "keySpec": meta.get("KeySpec") or meta.get("CustomerMasterKeySpec"),
            "keyUsage": meta.get("KeyUsage"),
        }
        private = {"aliases": names, "holdsAlias": alias is not None, "created": meta.get("CreationDate")}
        return Observed(
            key, self.kind, key_id, properties, dict(tags), _outputs(ctx, key_id, meta["Arn"], alias), private
        )


def _aliases_by_key(kms: KMSClient) -> dict[str, list[AliasListEntryTypeDef]]:
    by_key: dict[str, list[AliasListEntryTypeDef]] = {}
    for page in kms.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": 100}):
        for entry in page.get("Aliases", []):
            if "TargetKeyId" in entry:
                by_key.setdefault(entry["TargetKeyId"], []).append(entry)
    return by_key


def _alias_holder(kms: KMSClient, alias: str) -> KeyMetadataTypeDef | None:
    """The key an alias names, or None when there is no such alias."""
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def _key_tags(kms: KMSClient, key_id: str) -> dict[str, str]:
    # A key has at most 50 tags: one page.
    tags = kms.list_resource_tags(KeyId=key_id, Limit=50).get("Tags", [])
    return {t["TagKey"]: t["TagValue"] for t in tags}


def _state(kms: KMSClient, key_id: str) -> str:
    return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"])


def _kms_tags(tags: Mapping[str, str]) -> list[KmsTagTypeDef]:
    return [{"TagKey": k, "TagValue": v} for k, v in sorted(tags.items())]


def _outputs(ctx: KindContext, key_id: str, arn: str, alias: str | None) -> dict[str, Any]:
    alias_arn = f"arn:{partition(ctx.region)}:kms:{ctx.region}:{ctx.account_id}:{alias}" if alias else None
    return {"id": key_id, "arn": arn, "alias": alias, "aliasArn": alias_arn}


def _client(ctx: KindContext) -> KMSClient:
    client: KMSClient = ctx.clients.client("kms", ctx.region)
    return client
