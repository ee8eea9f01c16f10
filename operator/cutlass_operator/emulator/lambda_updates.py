"""moto 5.2.5 gap: UpdateFunctionConfiguration ignores `KMSKeyArn` and `TracingConfig`.

AWS changes both in place. Without this, a function whose tracing follows the tier (detailed
monitoring) or whose environment key changes would show the same diff after every update, and
every resync would update and publish it again: the emulator would hide a steady state the
operator reaches on AWS.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.awslambda.models import LambdaFunction

_LOCK = threading.Lock()
_INSTALLED = threading.Event()


def install_configuration_updates() -> None:
    """Patch moto (in this process); calling it again changes nothing."""
    with _LOCK:
        if _INSTALLED.is_set():
            return
        original = LambdaFunction.update_configuration

        def update_configuration(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
            if "KMSKeyArn" in config_updates:
                self.kms_key_arn = config_updates["KMSKeyArn"] or None  # "" removes the key, as in AWS
            if "TracingConfig" in config_updates:
                self.tracing_config = config_updates["TracingConfig"]
            return original(self, config_updates)

        LambdaFunction.update_configuration = update_configuration  # type: ignore[method-assign]
        _INSTALLED.set()
