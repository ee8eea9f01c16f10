"""Workspace leases: two operators (say, old and new cluster during a migration) never mutate
the same workspace at once.

A lease is one item in the account's lease table (created by the environment's bootstrap),
taken with a conditional write that succeeds only when the item is absent, expired, or ours.
It is taken only when a plan has changes, so a steady-state resync writes nothing; it is
renewed in the background while the apply runs and released at the end.

Released, the item stays (expired, and swept by the table's TTL): taking it again answers whether
anyone else held it since its holder let it go. When no one did, nothing of the workspace was
written since (every writer holds the lease), so a plan made from reads after that release is
still the plan, and the caller need not read the workspace again under the lease.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from cutlass_operator.aws.session import AwsClients
from cutlass_operator.engine.errors import RetryableError
from cutlass_operator.engine.identity import LEASE_TABLE

LEASE_SECONDS = 60.0
# A released lease's expiry: long past, so anyone may take it, and TTL sweeps it.
RELEASED = "0"


def default_holder() -> str:
    """Who holds a lease: the pod (hostname), the process, and a per-process nonce."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


@dataclass
class Lease:
    clients: AwsClients
    region: str  # the environment's primary region, where the lease table lives
    workspace: str
    holder: str
    seconds: float = LEASE_SECONDS
    table: str = LEASE_TABLE
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    @contextmanager
    def held(self) -> Iterator[bool]:
        """The lease, held until the block ends; the block is told whether the workspace is
        undisturbed: this holder released the lease last, and no one has taken it since."""
        undisturbed = self.acquire()
        renewer = threading.Thread(target=self._renew_until_stopped, name=f"lease-{self.workspace}", daemon=True)
        renewer.start()
        try:
            yield undisturbed
        finally:
            self._stop.set()
            renewer.join(timeout=5)
            self.release()

    def acquire(self) -> bool:
        """Take (or renew) the lease; True if this holder had released it and no one took it since."""
        now = time.time()
        try:
            old = self._dynamodb.put_item(
                TableName=self.table,
                Item={
                    "workspace": {"S": self.workspace},
                    "holder": {"S": self.holder},
                    "expiresAt": {"N": str(int(now + self.seconds))},
                },
                ConditionExpression="attribute_not_exists(workspace) OR holder = :me OR expiresAt < :now",
                ExpressionAttributeValues={":me": {"S": self.holder}, ":now": {"N": str(int(now))}},
                ReturnValues="ALL_OLD",
            ).get("Attributes", {})
        except ClientError as exc:
            raise self._explain(exc) from exc
        holder, expires = old.get("holder", {}).get("S"), old.get("expiresAt", {}).get("N")
        return bool(holder == self.holder and expires == RELEASED)

    def release(self) -> None:
        # Failing means it expired and was taken over, or is gone: either way no longer ours.
        with contextlib.suppress(ClientError):
            self._dynamodb.update_item(
                TableName=self.table,
                Key={"workspace": {"S": self.workspace}},
                UpdateExpression="SET expiresAt = :released",
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": self.holder}, ":released": {"N": RELEASED}},
            )

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.acquire()
            except RetryableError:
                return  # lost it; the apply in progress finishes its current calls, the next reconcile waits

    def _explain(self, exc: ClientError) -> RetryableError:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return RetryableError(
                "WaitingForBootstrap", f"the lease table {self.table} does not exist yet in {self.region}", delay=5
            )
        if code != "ConditionalCheckFailedException":
            return RetryableError("LeaseUnavailable", f"taking the lease on {self.workspace}: {code}", delay=15)
        item: dict[str, Any] = self._dynamodb.get_item(
            TableName=self.table, Key={"workspace": {"S": self.workspace}}, ConsistentRead=True
        ).get("Item", {})
        holder = item.get("holder", {}).get("S", "unknown")
        until = datetime.fromtimestamp(int(item.get("expiresAt", {}).get("N", "0")), tz=UTC).isoformat()
        return RetryableError(
            "LeaseHeldBy",
            f"LeaseHeldBy {holder}: another operator is changing workspace {self.workspace} (lease until {until})",
            delay=self.seconds / 2,
        )

    @property
    def _dynamodb(self) -> Any:
        return self.clients.client("dynamodb", region=self.region)
