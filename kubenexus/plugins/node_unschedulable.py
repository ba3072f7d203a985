"""NodeUnschedulable: cordoned nodes (``spec.unschedulable``) take only pods that tolerate it."""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo, Taint
from kubenexus.framework import SKIP, SUCCESS, BoolArray, CycleState, IntArray, NodeTable, Status

REASON = "node(s) were unschedulable"
_CORDON = Taint(key=keys.TAINT_UNSCHEDULABLE, value="", effect="NoSchedule")


class NodeUnschedulable:
    name: ClassVar[str] = "NodeUnschedulable"

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        if any(t.tolerates(_CORDON) for t in pod.tolerations):
            return SKIP
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        cordoned = nodes.unschedulable[: nodes.size]
        if not cordoned.any():
            return None
        return ~cordoned

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        return Counter({REASON: int(rejected.size)})
