"""Tags in the three shapes AWS uses, and the selector that finds a workspace's resources.

The engine speaks plain `{key: value}` dictionaries; EC2 and IAM want `[{"Key", "Value"}]`
lists, CloudWatch Logs wants the dictionary. Everything that decides which resources are ours
lives here, so every kind applies the same rule: the selector tags must all match, and the
`cutlass.tech/key` tag names the desired entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cutlass_operator.engine.identity import KEY
from cutlass_operator.engine.resource import KindContext

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import ResourceTypeType
    from mypy_boto3_ec2.type_defs import FilterTypeDef, TagSpecificationTypeDef, TagTypeDef
    from mypy_boto3_resourcegroupstaggingapi.client import ResourceGroupsTaggingAPIClient
    from mypy_boto3_resourcegroupstaggingapi.type_defs import TagFilterTypeDef

# Only tags under this prefix are removed when no longer desired: anything else on a resource
# may belong to a person or another tool (cost allocation, backup policies).
MANAGED_PREFIX = "cutlass.tech/"


def to_aws(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def from_aws(tags: Iterable[Mapping[str, object]] | None) -> dict[str, str]:
    return {str(tag["Key"]): str(tag.get("Value", "")) for tag in tags or ()}


def tag_specifications(resource_type: ResourceTypeType, tags: Mapping[str, str]) -> list[TagSpecificationTypeDef]:
    """Tags applied by the create call itself, so a crash can never leave an untagged resource."""
    return [{"ResourceType": resource_type, "Tags": to_aws(tags)}]


def selector_filters(selector: Mapping[str, str]) -> list[FilterTypeDef]:
    return [{"Name": f"tag:{key}", "Values": [value]} for key, value in sorted(selector.items())]


def matches(tags: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """Checked on every described resource too: an API (or an emulator) may ignore a tag filter."""
    return all(tags.get(key) == value for key, value in selector.items())


def key_of(tags: Mapping[str, str], resource_id: str) -> str:
    """The desired entry a resource belongs to; one without the tag is ours but wanted by nobody."""
    return tags.get(KEY) or f"(untracked {resource_id})"


@dataclass(frozen=True)
class TagChanges:
    put: dict[str, str]
    remove: list[str]

    def __bool__(self) -> bool:
        return bool(self.put or self.remove)

    def applied_to(self, tags: Mapping[str, str]) -> dict[str, str]:
        result = {k: v for k, v in tags.items() if k not in self.remove}
        result.update(self.put)
        return result


def tag_changes(desired: Mapping[str, str], observed: Mapping[str, str]) -> TagChanges:
    """Only what differs: desired tags missing or changed, and managed tags no longer desired."""
    put = {key: value for key, value in desired.items() if observed.get(key) != value}
    remove = sorted(key for key in observed if key.startswith(MANAGED_PREFIX) and key not in desired)
    return TagChanges(put, remove)


def tagged_resources(ctx: KindContext, resource_type: str) -> dict[str, dict[str, str]]:
    """`{ARN: tags}` of every resource of `resource_type` (`kms:key`, `s3:bucket`) in the region that
    carries the workspace's selector tags: one GetResources call per 100 resources."""
    tagging: ResourceGroupsTaggingAPIClient = ctx.clients.client("resourcegroupstaggingapi", ctx.region)
    filters: list[TagFilterTypeDef] = [{"Key": k, "Values": [v]} for k, v in sorted(ctx.selector.items())]
    found: dict[str, dict[str, str]] = {}
    pages = tagging.get_paginator("get_resources").paginate(
        TagFilters=filters, ResourceTypeFilters=[resource_type], PaginationConfig={"PageSize": 100}
    )
    for page in pages:
        for mapping in page.get("ResourceTagMappingList", []):
            tags = from_aws(mapping.get("Tags"))
            if "ResourceARN" in mapping and matches(tags, ctx.selector):
                found[mapping["ResourceARN"]] = tags
    return found
