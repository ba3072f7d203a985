"""NodePorts: a pod's host ports must be free on the node, as kube-scheduler decides it: two
ports conflict when protocol and port are the same and the host IPs are equal or either is
0.0.0.0 (every address).

Used ports are kept per node as pods are counted and uncounted (bound, assumed, finished,
deleted), indexed by (protocol, port), so a pod's check costs the nodes using its ports, not
every node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import ClassVar, Final

import numpy as np

from kubenexus.api.objects import HostPort, PodInfo
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

REASON: Final = "node(s) didn't have free ports for the requested pod ports"
ANY_ADDRESS: Final = "0.0.0.0"


def _conflicts(wanted: HostPort, used: HostPort) -> bool:
    return (
        wanted.protocol == used.protocol
        and wanted.port == used.port
        and (wanted.ip == used.ip or ANY_ADDRESS in {wanted.ip, used.ip})
    )


class NodePorts:
    name: ClassVar[str] = "NodePorts"
    # A pod holding a port went away, or a node joined.
    cluster_events: ClassVar[ClusterEvent] = ClusterEvent.POD_REMOVED | ClusterEvent.NODE_ADDED

    def __init__(self) -> None:
        # (protocol, port) → slot → the host ports of that number in use there (with counts).
        self._used: dict[tuple[str, int], dict[int, Counter[HostPort]]] = {}

    # ------------------------------------------------------------------ accounting

    def _add(self, pod: PodInfo, slot: int, sign: int) -> None:
        for port in pod.host_ports:
            by_slot = self._used.setdefault((port.protocol, port.port), {})
            counts = by_slot.setdefault(slot, Counter())
            counts[port] += sign
            if counts[port] <= 0:
                del counts[port]
            if not counts:
                del by_slot[slot]
            if not by_slot:
                del self._used[(port.protocol, port.port)]

    def pod_counted(self, nodes: NodeTable, pod: PodInfo, slot: int) -> None:
        if pod.host_ports:
            self._add(pod, slot, 1)

    def pod_uncounted(self, nodes: NodeTable, pod: PodInfo, slot: int) -> None:
        if pod.host_ports:
            self._add(pod, slot, -1)

    def node_removed(self, nodes: NodeTable, slot: int) -> None:
        for key in list(self._used):
            by_slot = self._used[key]
            by_slot.pop(slot, None)
            if not by_slot:
                del self._used[key]

    def node_upserted(self, nodes: NodeTable, slot: int, pods: Sequence[PodInfo]) -> None:
        self.node_removed(nodes, slot)
        for pod in pods:
            self.pod_counted(nodes, pod, slot)

    # ------------------------------------------------------------------ filter

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        return SUCCESS if pod.host_ports else SKIP

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        if not pod.host_ports:
            return None
        blocked: set[int] = set()
        for wanted in pod.host_ports:
            for slot, used in self._used.get((wanted.protocol, wanted.port), {}).items():
                if slot not in blocked and any(_conflicts(wanted, port) for port in used):
                    blocked.add(slot)
        if not blocked:
            return None
        mask = np.ones(nodes.size, dtype=np.bool_)
        mask[[slot for slot in blocked if slot < nodes.size]] = False
        return mask

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        return Counter({REASON: int(rejected.size)})
