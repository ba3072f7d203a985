"""NodeName: a pod that names a node (``spec.nodeName``) fits only there."""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

import numpy as np

from kubenexus.api.objects import PodInfo
from kubenexus.framework import (
    SKIP,
    SUCCESS,
    BoolArray,
    ClusterEvent,
    CycleState,
    IntArray,
    NodeTable,
    Status,
)

REASON = "node(s) didn't match the requested node name"


class NodeName:
    name: ClassVar[str] = "NodeName"
    # The named node appeared.
    cluster_events: ClassVar[ClusterEvent] = ClusterEvent.NODE_ADDED

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        return SUCCESS if pod.node_name else SKIP

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        if not pod.node_name:
            return None
        mask = np.zeros(nodes.size, dtype=np.bool_)
        slot = nodes.slot_of(pod.node_name)
        if slot is not None:
            mask[slot] = True
        return mask

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        return Counter({REASON: int(rejected.size)})

    def unresolvable(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> BoolArray:
        """No eviction renames a node."""
        return np.ones(rejected.size, dtype=np.bool_)
