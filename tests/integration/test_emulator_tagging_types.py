"""The tagging API in the emulator names resource types as AWS does (`emulator/tagging_types.py`):
a log group is `logs:log-group`, so GetResources filtered by that type finds the tagged groups."""

from __future__ import annotations

import uuid

import pytest

from cutlass_operator.aws.session import AwsClients

pytestmark = pytest.mark.integration


def test_a_tagged_log_group_is_found_by_awss_type_with_its_tags(clients: AwsClients) -> None:
    logs, tagging = clients.client("logs"), clients.client("resourcegroupstaggingapi")
    marker = uuid.uuid4().hex
    name = f"/aws/lambda/types-{marker}"
    logs.create_log_group(logGroupName=name, tags={"marker": marker})
    logs.create_log_group(logGroupName=f"{name}-untagged")

    found = tagging.get_resources(
        ResourceTypeFilters=["logs:log-group"], TagFilters=[{"Key": "marker", "Values": [marker]}]
    )["ResourceTagMappingList"]

    assert [(m["ResourceARN"].rsplit(":", 1)[-1], m["Tags"]) for m in found] == [
        (name, [{"Key": "marker", "Value": marker}])
    ]
    # The service's own name for the type still selects it, as AWS's does.
    by_service = tagging.get_resources(ResourceTypeFilters=["logs"], TagFilters=[{"Key": "marker", "Values": [marker]}])
    assert len(by_service["ResourceTagMappingList"]) == 1
