"""The daemon's ResourceSlice feed: every change hands on the node's whole set of slices."""

from __future__ import annotations

from typing import Any

from kubenexus.shell.slices import SliceFeed


def piece(name: str, node: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"driver": "gpu.nvidia.com"}
    if node is not None:
        spec["nodeName"] = node
    return {"metadata": {"name": name}, "spec": spec}


def test_slices_are_handed_on_per_node_as_they_come_move_and_go() -> None:
    seen: list[tuple[str, list[str]]] = []
    feed = SliceFeed(
        lambda node, slices: seen.append((node, [s["metadata"]["name"] for s in slices]))
    )
    feed.upsert(piece("a-0", "a"))
    feed.upsert(piece("a-1", "a"))
    feed.upsert(piece("a-1", "b"))  # moved: gone from a, now on b
    feed.upsert(piece("shared", None))  # not a node's devices
    feed.delete(piece("a-0", "a"))
    feed.delete(piece("unknown", "a"))  # never seen: nothing to say
    assert seen == [
        ("a", ["a-0"]),
        ("a", ["a-0", "a-1"]),
        ("a", ["a-0"]),
        ("b", ["a-1"]),
        ("a", []),
    ]
