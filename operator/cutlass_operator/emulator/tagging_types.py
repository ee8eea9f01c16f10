"""moto 5.2.5 gap: the Resource Groups Tagging API reports a log group's type as `logs:loggroup`.

AWS names it `logs:log-group`, and GetResources with `ResourceTypeFilters=["logs:log-group"]` is how
the log group kind reads the tags of a workspace's groups in one call (DescribeLogGroups returns no
tags). moto matches a filter against its own name, so AWS's finds nothing there and every group would
look untagged. The groups' tags are the ones moto keeps; only the type is renamed.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

from moto.core.resource_tagging import TaggedResource
from moto.logs.models import LogsBackend

_LOCK = threading.Lock()
_INSTALLED = threading.Event()
MOTO_TYPE, AWS_TYPE = "logs:loggroup", "logs:log-group"


def install_tagging_types() -> None:
    """Patch moto (in this process); calling it again changes nothing."""
    with _LOCK:
        if _INSTALLED.is_set():
            return
        original = LogsBackend.iter_tagged_resources

        def iter_tagged_resources(self: LogsBackend) -> Iterator[TaggedResource]:
            for resource in original(self):
                renamed = resource.resource_type == MOTO_TYPE
                yield dataclasses.replace(resource, resource_type=AWS_TYPE) if renamed else resource

        LogsBackend.iter_tagged_resources = iter_tagged_resources  # type: ignore[method-assign]
        _INSTALLED.set()
