"""Patch semantics of the API server: JSON merge (RFC 7386), a strategic-merge subset, JSON patch."""

from __future__ import annotations

import copy
from typing import Any

# Lists that strategic-merge patches merge by a key instead of replacing (the ones we meet).
STRATEGIC_MERGE_KEYS = {
    "conditions": "type",
    "containers": "name",
    "initContainers": "name",
    "tolerations": "key",
    "taints": "key",
}


class PatchError(ValueError):
    """A patch that cannot be applied (the server answers 422)."""


def merge_patch(target: Any, patch: Any, *, strategic: bool = False, key: str = "") -> Any:
    if not isinstance(patch, dict):
        if (
            strategic
            and isinstance(patch, list)
            and isinstance(target, list)
            and key in STRATEGIC_MERGE_KEYS
        ):
            return _merge_list(target, patch, STRATEGIC_MERGE_KEYS[key])
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value, strategic=strategic, key=name)
    return result


def _merge_list(target: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    result = [copy.deepcopy(item) for item in target]
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise PatchError(f"strategic merge: list item lacks its merge key {merge_key!r}")
        for i, existing in enumerate(result):
            if isinstance(existing, dict) and existing.get(merge_key) == item[merge_key]:
                result[i] = merge_patch(existing, item, strategic=True)
                break
        else:
            result.append(copy.deepcopy(item))
    return result


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise PatchError(f"JSON patch path must start with '/': {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, dict):
            if part not in doc:
                raise PatchError(f"JSON patch path not found at {part!r}")
            doc = doc[part]
        elif isinstance(doc, list):
            doc = doc[int(part)]
        else:
            raise PatchError(f"JSON patch path goes through a scalar at {part!r}")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("a JSON patch is a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"malformed JSON patch operation: {op!r}")
        parts = _pointer(op["path"])
        parent = _walk(doc, parts[:-1])
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise PatchError(f"JSON patch test failed at {op['path']}")
        elif kind in {"add", "replace"}:
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(index, copy.deepcopy(op.get("value")))
                else:
                    parent[index] = copy.deepcopy(op.get("value"))
            else:
                if kind == "replace" and last not in parent:
                    raise PatchError(f"JSON patch replace of missing {op['path']}")
                parent[last] = copy.deepcopy(op.get("value"))
        elif kind == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            elif last in parent:
                del parent[last]
            else:
                raise PatchError(f"JSON patch remove of missing {op['path']}")
        else:
            raise PatchError(f"unsupported JSON patch op {kind!r}")
    return doc
