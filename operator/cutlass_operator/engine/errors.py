"""Two kinds of failure: the user must fix something (terminal) or time will (retryable)."""

from __future__ import annotations


class ReconcileError(Exception):
    """A failure with a CamelCase reason for the condition and a message for the user."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class TerminalError(ReconcileError):
    """Retrying will not help until the spec or the account changes; the message says what to fix."""


class RetryableError(ReconcileError):
    """Transient: throttling, eventual consistency, a dependency that is not ready yet."""

    def __init__(self, reason: str, message: str, delay: float = 15.0) -> None:
        super().__init__(reason, message)
        self.delay = delay
