"""ImageLocality: prefer nodes that already hold the pod's container images, as kube-scheduler
scores it. Each image found on a node adds its size scaled by the share of nodes holding it
(an image everywhere counts fully, one on a few nodes little: pods do not pile onto the nodes
that happen to have pulled it); the sum is mapped to 0..100 between 23 MiB and 1000 MiB per
container. Names are matched as written, with ``:latest`` added to an untagged one.

The nodes holding each image name are indexed as nodes are added and change, so a pod costs
the nodes that hold its images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, Final

import numpy as np

from kubenexus.api.objects import PodInfo
from kubenexus.framework import ClusterEvent, CycleState, FloatArray, IntArray, NodeTable
from kubenexus.framework.node_table import take

MIB: Final = 1024 * 1024
MIN_THRESHOLD: Final = 23 * MIB
MAX_CONTAINER_THRESHOLD: Final = 1000 * MIB


def normalized_image_name(name: str) -> str:
    """An image name without a tag (or digest) gets ``:latest``, as kube-scheduler reads it."""
    if name.rfind(":") <= name.rfind("/"):
        return f"{name}:latest"
    return name


class ImageLocality:
    name: ClassVar[str] = "ImageLocality"
    cluster_events: ClassVar[ClusterEvent] = ClusterEvent.NONE  # never rejects a pod

    def __init__(self) -> None:
        # image name → slot → its size there; and what each slot was last indexed with.
        self._holders: dict[str, dict[int, int]] = {}
        self._indexed: dict[int, Mapping[str, int]] = {}

    # ------------------------------------------------------------------ accounting

    def node_upserted(self, nodes: NodeTable, slot: int, pods: Sequence[PodInfo]) -> None:
        images = nodes.node(slot).images
        if self._indexed.get(slot) is images:
            return
        self.node_removed(nodes, slot)
        for name, size in images.items():
            self._holders.setdefault(name, {})[slot] = size
        if images:
            self._indexed[slot] = images

    def node_removed(self, nodes: NodeTable, slot: int) -> None:
        old = self._indexed.pop(slot, None)
        if not old:
            return
        for name in old:
            holders = self._holders.get(name)
            if holders is not None:
                holders.pop(slot, None)
                if not holders:
                    del self._holders[name]

    def pod_counted(self, nodes: NodeTable, pod: PodInfo, slot: int) -> None:
        pass

    def pod_uncounted(self, nodes: NodeTable, pod: PodInfo, slot: int) -> None:
        pass

    # ------------------------------------------------------------------ score

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        if not pod.images or not self._holders:
            return None
        total_nodes = max(nodes.live, 1)
        sums = np.zeros(nodes.size, dtype=np.int64)
        found = False
        for image in pod.images:
            holders = self._holders.get(normalized_image_name(image))
            if not holders:
                continue
            found = True
            spread = len(holders) / total_nodes
            slots = np.fromiter(holders.keys(), dtype=np.int64, count=len(holders))
            sizes = np.fromiter(holders.values(), dtype=np.float64, count=len(holders))
            # Go truncates the scaled size of each image to an integer before summing.
            np.add.at(sums, slots, (sizes * spread).astype(np.int64))
        if not found:
            return None
        maximum = MAX_CONTAINER_THRESHOLD * len(pod.images)
        clamped = np.clip(sums, MIN_THRESHOLD, maximum)
        scores = 100 * (clamped - MIN_THRESHOLD) // (maximum - MIN_THRESHOLD)
        return take(scores, candidates).astype(np.float64)
