"""Readers of an object's fields that name the field when it has the wrong type (shared by the
readers of pods, nodes and GPU data)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from kubenexus.errors import InvalidInputError

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})


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


def string_at(obj: object, path: str, *, required: bool = False) -> str:
    if obj is None:
        if required:
            raise InvalidInputError(path, obj, "is required")
        return ""
    if not isinstance(obj, str):
        raise InvalidInputError(path, obj, "expected a string")
    if required and not obj:
        raise InvalidInputError(path, obj, "must not be empty")
    return obj


def string_map_at(obj: object, path: str) -> Mapping[str, str]:
    """Labels, annotations, nodeSelector: values must be strings (quote numbers in YAML)."""
    data = mapping_at(obj, path)
    if not data:
        return _EMPTY
    for key, value in data.items():
        if not isinstance(key, str):
            raise InvalidInputError(f"{path}", key, "keys must be strings")
        if not isinstance(value, str):
            raise InvalidInputError(f"{path}.{key}", value, "values must be strings; quote them")
    return MappingProxyType(dict(data))


def int_at(obj: object, path: str, default: int = 0) -> int:
    if obj is None:
        return default
    if isinstance(obj, bool) or not isinstance(obj, int):
        raise InvalidInputError(path, obj, "expected an integer")
    return obj
