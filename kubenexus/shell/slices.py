"""DRA ResourceSlices grouped by node: a slice arrives, changes node or goes, and the node's
whole set is handed on (the core reads a node's GPUs from all of its slices at once).

A slice without ``spec.nodeName`` (devices not local to one node) is not a node's GPUs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# Called with a node and every slice it has now (none: its last one went).
OnNode = Callable[[str, list[Mapping[str, Any]]], None]


class SliceFeed:
    def __init__(self, on_node: OnNode) -> None:
        self._on_node = on_node
        self._by_node: dict[str, dict[str, Mapping[str, Any]]] = {}
        self._node_of: dict[str, str] = {}  # slice name → its node

    def upsert(self, obj: Mapping[str, Any]) -> None:
        name = str((obj.get("metadata") or {}).get("name", ""))
        node = (obj.get("spec") or {}).get("nodeName")
        before = self._node_of.get(name)
        if before is not None and before != node:
            self.delete(obj)  # moved (or no longer a node's): gone from its old node
        if not isinstance(node, str) or not node:
            return
        self._node_of[name] = node
        self._by_node.setdefault(node, {})[name] = obj
        self._changed(node)

    def delete(self, obj: Mapping[str, Any]) -> None:
        name = str((obj.get("metadata") or {}).get("name", ""))
        node = self._node_of.pop(name, None)
        if node is None:
            return
        slices = self._by_node.get(node, {})
        slices.pop(name, None)
        if not slices:
            self._by_node.pop(node, None)
        self._changed(node)

    def _changed(self, node: str) -> None:
        self._on_node(node, list(self._by_node.get(node, {}).values()))
