"""What a plan is, independent of when and where it was made: its id, and each change's print.

A plan id is a short digest of the changes themselves (action, kind, key, the changed fields and
the values they change to), so the same changes get the same id whoever computes them: the
operator on a resync, after a restart, after an unrelated commit, or `cutlass plan -f` in a CI
pipeline. Generation, commit and time are deliberately left out: a human approves what will
change, and an id that moved with anything else would make an approval go stale for nothing.

A change's `coverage` is coarser: action, kind, key and the changed fields' names, not their
values. It says whether a change was among those approved when a plan is applied in more than one
reconcile (a region waiting for its replicas between layers): values that were unknown when the
plan was made ("known after the network layer is applied") are known by then, and the inputs the
known values came from are pinned by the approval's inputs digest instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from cutlass_operator.engine.plan import REMOVALS, Action, Change

ID_LENGTH = 12  # hex digits: collisions among one object's plans are not a practical concern


def digest(value: Any, length: int = ID_LENGTH) -> str:
    """A stable digest of JSON-able data (anything else, such as an unresolved Ref, by its text)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def change_print(change: Change) -> list[Any]:
    """What a change does, as data: the part of it a reviewer approves."""
    if change.action == Action.CREATE:
        want = change.desired
        fields: Any = {"properties": want.properties, "tags": want.tags} if want else {}
    elif change.action in REMOVALS:
        # The AWS id tells a duplicate apart from the resource kept under the same key.
        fields = {"id": change.observed.id if change.observed else None}
    else:
        fields = [[d.path, d.desired] for d in change.diff]
    return [str(change.action), change.kind, change.key, fields]


def plan_id(changes: Iterable[Change]) -> str:
    prints = sorted(digest(change_print(c), 64) for c in changes if c.action != Action.NOOP)
    return digest(prints)


def coverage(change: Change) -> str:
    """The change's identity without values that may be unknown when planned (see above)."""
    if change.action == Action.CREATE:
        names: list[str] = sorted(change.desired.properties) if change.desired else []
    else:
        names = sorted(d.path for d in change.diff)
    return digest([str(change.action), change.kind, change.key, names], 10)
