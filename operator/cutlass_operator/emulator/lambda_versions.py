"""moto 5.2.5 gap: PublishVersion numbers a new version one past the count of published versions.

AWS numbers versions from a counter that never goes back, so a number is never given twice. moto's
count drops when a version is deleted, and the next version then takes the number of one still
there (the function kind deletes old versions after each release, so the second release after a
prune would overwrite the version the alias points at). Here a new version takes the next number
after the highest ever published for the function.
"""

from __future__ import annotations

import threading

from moto.awslambda.models import LambdaFunction, LambdaStorage

_LOCK = threading.Lock()
_INSTALLED = threading.Event()
HIGHEST = "cutlass_highest_version"


def install_version_numbers() -> None:
    """Patch moto (in this process); calling it again changes nothing."""
    with _LOCK:
        if _INSTALLED.is_set():
            return
        original = LambdaStorage.publish_version

        def publish_version(self: LambdaStorage, name_or_arn: str, description: str = "") -> LambdaFunction | None:
            record = self._functions.get(self.get_function_by_name_or_arn_forbid_qualifier(name_or_arn).function_name)
            before = list(record["versions"]) if record else []
            published = original(self, name_or_arn, description)
            if published is None or record is None or published in before:
                return published  # nothing new was published
            highest = max([int(record.get(HIGHEST, 0)), *(int(v.version) for v in before)])
            if int(published.version) <= highest:
                # moto filed the new version under the number of one still there: give that one its ARN back.
                clash = next((v for v in before if int(v.version) == int(published.version)), None)
                if clash is not None:
                    self._arns[clash.function_arn] = clash
                published.set_version(highest + 1)
                self._arns[published.function_arn] = published
            record[HIGHEST] = int(published.version)
            return published

        LambdaStorage.publish_version = publish_version  # type: ignore[method-assign]
        _INSTALLED.set()
