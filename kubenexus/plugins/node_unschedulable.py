"""NodeUnschedulable: cordoned nodes (``spec.unschedulable``) take only pods that tolerate it."""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

import numpy as np

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo, Taint
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

REASON = "node(s) were unschedulable"
_CORDON = Taint(key=keys.TAINT_UNSCHEDULABLE, value="", effect="NoSchedule")


def _tolerates_cordon(pod: PodInfo) -> bool:
    return any(t.tolerates(_CORDON) for t in pod.tolerations)


class NodeUnschedulable:
    name: ClassVar[str] = "NodeUnschedulable"
    # A node was added or uncordoned.
    cluster_events: ClassVar[ClusterEvent] = ClusterEvent.NODE_ADDED | ClusterEvent.NODE_SCHEDULABLE

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        return SKIP if _tolerates_cordon(pod) else SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        if _tolerates_cordon(pod):
            return None
        cordoned = nodes.unschedulable[: nodes.size]
        if not cordoned.any():
            return None
        return ~cordoned

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        return Counter({REASON: int(rejected.size)})

    def unresolvable(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> BoolArray:
        """No eviction uncordons a node."""
        return np.ones(rejected.size, dtype=np.bool_)
