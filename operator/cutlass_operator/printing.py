"""Status tables the way `kubectl get` prints them, from the CRDs' own printer columns.

Used where no API server renders tables: `cutlass apply` without a cluster and the demo's
embedded API. The columns come from the generated CRDs, so what the CLI prints and what
`kubectl get cutlassregions` prints cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

_STEP = re.compile(r'\.(\w+)(?:\[\?\(@\.(\w+)=="([^"]*)"\)\])?')


def json_path(obj: Mapping[str, Any], path: str) -> Any:
    """The subset of JSONPath printer columns use: `.a.b` and `.list[?(@.key=="value")].field`."""
    value: Any = obj
    for name, key, wanted in _STEP.findall(path):
        value = value.get(name) if isinstance(value, Mapping) else None
        if key:
            value = next((i for i in value or [] if isinstance(i, Mapping) and i.get(key) == wanted), None)
        if value is None:
            return None
    return value


def age(timestamp: str | None, now: datetime | None = None) -> str:
    if not timestamp:
        return "<unknown>"
    then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int(((now or datetime.now(tz=UTC)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def render_table(crd: Mapping[str, Any], objects: Sequence[Mapping[str, Any]], namespace: bool = True) -> str:
    version = crd["spec"]["versions"][0]
    columns = [c for c in version.get("additionalPrinterColumns", []) if not c.get("priority")]  # as kubectl: not wide
    header = (["NAMESPACE"] if namespace else []) + ["NAME"] + [c["name"].upper() for c in columns]
    rows = [header]
    for obj in objects:
        meta = obj.get("metadata", {})
        row = ([meta.get("namespace", "")] if namespace else []) + [meta.get("name", "")]
        for column in columns:
            value = json_path(obj, column["jsonPath"])
            if column.get("type") == "date":
                row.append(age(value))
            else:
                row.append("" if value is None else str(value))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
