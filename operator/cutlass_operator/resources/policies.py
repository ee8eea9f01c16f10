"""Comparing IAM-style policy documents (key policies, bucket policies) by meaning, not by text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def same_policy(want: Any, have: Any) -> bool:
    return bool(canonical_policy(want) == canonical_policy(have))


def canonical_policy(document: Any) -> Any:
    """A policy document in a form where equivalent documents are equal: parsed if it is JSON text,
    keys and lists in any order, and a one-element list equal to its only element (AWS and people
    write `"Action": "s3:*"` and `"Action": ["s3:*"]` interchangeably)."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return document
    return _canonical(document)


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True, default=str))
        return items[0] if len(items) == 1 else items
    return value
