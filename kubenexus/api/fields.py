"""Readers of an object's fields that name the field when it has the wrong type (shared by the
readers of pods, nodes and GPU data)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubenexus.errors import InvalidInputError


def mapping_at(obj: object, path: str) -> Mapping[str, Any]:
    """A mapping field; absent (None) reads as empty."""
    if obj is None:
        return {}
    if not isinstance(obj, Mapping):
        raise InvalidInputError(path, obj, "expected a mapping")
    return obj


def list_at(obj: object, path: str) -> list[Any]:
    """A list field; absent (None) reads as empty."""
    if obj is None:
        return []
    if not isinstance(obj, list):
        raise InvalidInputError(path, obj, "expected a list")
    return obj
