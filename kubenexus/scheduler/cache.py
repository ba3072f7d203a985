"""What the cluster holds: nodes and the pods counted on them, including assumed placements.

"Assume" counts a pod on its node before its Binding exists, so the next pod sees the capacity
taken; "forget" undoes it if binding fails. Pods bound to a node we have not seen yet are kept
and counted once the node arrives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kubenexus.api.objects import NodeInfo, PodInfo
from kubenexus.framework import CacheObserver, NodeTable


@dataclass(slots=True)
class _Counted:
    pod: PodInfo
    node: str
    assumed: bool
    slot: int | None  # where its usage is counted now; None while its node is unknown


class ClusterCache:
    def __init__(self, nodes: NodeTable | None = None) -> None:
        self.nodes = nodes or NodeTable()
        self._pods: dict[str, _Counted] = {}
        # Insertion-ordered (dicts, not sets): no order from per-process string hashing.
        self._by_node: dict[str, dict[str, None]] = {}
        # Placed (bound or assumed) members per gang.
        self._gang_placed: dict[str, int] = {}
        self._gang_keys: dict[str, dict[str, None]] = {}
        # Plugins keeping their own per-node accounting in step with ours.
        self.observers: list[CacheObserver] = []

    # ------------------------------------------------------------------ nodes

    def node_info(self, name: str) -> NodeInfo | None:
        slot = self.nodes.slot_of(name)
        return None if slot is None else self.nodes.node(slot)

    def upsert_node(self, node: NodeInfo) -> None:
        is_new = node.name not in self.nodes
        slot = self.nodes.upsert(node)
        counted = [] if is_new else self.counted_on(slot)
        for observer in self.observers:
            observer.node_upserted(self.nodes, slot, counted)
        if is_new:
            for key in self._by_node.get(node.name, ()):
                self._count(self._pods[key], slot)

    def counted_on(self, slot: int) -> list[PodInfo]:
        """The pods whose usage is counted on the node in this slot."""
        name = self.nodes.names[slot]
        records = (self._pods[key] for key in self._by_node.get(name, ()))
        return [record.pod for record in records if record.slot == slot]

    def remove_node(self, name: str) -> None:
        slot = self.nodes.slot_of(name)
        if slot is None:
            return
        for key in self._by_node.get(name, ()):
            record = self._pods[key]
            for observer in self.observers:
                observer.pod_uncounted(self.nodes, record.pod, slot)
            self.nodes.pods.remove(record.pod)
            record.slot = None  # the slot is cleared with the node
        for observer in self.observers:
            observer.node_removed(self.nodes, slot)
        self.nodes.remove(name)

    # ------------------------------------------------------------------ pods

    def __contains__(self, key: str) -> bool:
        return key in self._pods

    def pods_on(self, node: str) -> Iterator[PodInfo]:
        for key in self._by_node.get(node, ()):
            yield self._pods[key].pod

    def pod(self, key: str) -> PodInfo | None:
        """The pod as counted (bound or assumed), or None."""
        record = self._pods.get(key)
        return record.pod if record else None

    def node_of(self, key: str) -> str | None:
        record = self._pods.get(key)
        return record.node if record else None

    def is_assumed(self, key: str) -> bool:
        record = self._pods.get(key)
        return record is not None and record.assumed

    def gang_placed(self, gang: str) -> int:
        return self._gang_placed.get(gang, 0)

    def gang_members(self, gang: str) -> list[PodInfo]:
        """The gang's placed (bound or assumed) members."""
        return [self._pods[key].pod for key in self._gang_keys.get(gang, ())]

    @property
    def pod_count(self) -> int:
        return len(self._pods)

    def upsert_pod(self, pod: PodInfo) -> None:
        """A pod the API shows bound (or an update of one): count it where it runs.

        Terminal pods free their capacity. A pod we assumed is confirmed by its bound update.
        """
        old = self._pods.get(pod.key)
        if old is not None and self._same_usage(old, pod):
            # The watch confirming what is counted (our own binding, or an update that changes
            # nothing the accounting reads): keep the count, and what plugins derived from it.
            old.pod = pod
            old.assumed = False
            if old.slot is not None:
                self.nodes.pods.update(pod)  # its labels may have changed
            return
        if old is not None:
            self._drop(old)
        if pod.terminal or not pod.node_name:
            return
        self._add(_Counted(pod=pod, node=pod.node_name, assumed=False, slot=None))

    @staticmethod
    def _same_usage(old: _Counted, pod: PodInfo) -> bool:
        previous = old.pod
        return (
            not pod.terminal
            and pod.node_name == old.node
            and pod.requests == previous.requests
            and pod.score_cpu == previous.score_cpu
            and pod.score_memory == previous.score_memory
            and pod.gang == previous.gang
        )

    def assume(self, pod: PodInfo, node: str) -> None:
        if pod.key in self._pods:
            raise ValueError(f"pod {pod.full_name} is already placed on {self.node_of(pod.key)}")
        self._add(_Counted(pod=pod, node=node, assumed=True, slot=None))

    def forget(self, key: str) -> None:
        """Undo an assumption (binding failed); a confirmed pod is left alone."""
        record = self._pods.get(key)
        if record is not None and record.assumed:
            self._drop(record)

    def remove_pod(self, key: str) -> PodInfo | None:
        record = self._pods.get(key)
        if record is None:
            return None
        self._drop(record)
        return record.pod

    # ------------------------------------------------------------------ internals

    def _add(self, record: _Counted) -> None:
        self._pods[record.pod.key] = record
        if record.pod.gang:
            self._gang_placed[record.pod.gang] = self._gang_placed.get(record.pod.gang, 0) + 1
            self._gang_keys.setdefault(record.pod.gang, {})[record.pod.key] = None
        self._by_node.setdefault(record.node, {})[record.pod.key] = None
        slot = self.nodes.slot_of(record.node)
        if slot is not None:
            self._count(record, slot)

    def _drop(self, record: _Counted) -> None:
        if record.slot is not None:
            pod = record.pod
            self.nodes.add_usage(
                record.slot, pod.requests, pod.score_cpu, pod.score_memory, sign=-1
            )
            for observer in self.observers:
                observer.pod_uncounted(self.nodes, pod, record.slot)
            self.nodes.pods.remove(pod)
            record.slot = None
        del self._pods[record.pod.key]
        gang = record.pod.gang
        if gang:
            keys = self._gang_keys.get(gang)
            if keys is not None:
                keys.pop(record.pod.key, None)
                if not keys:
                    del self._gang_keys[gang]
            left = self._gang_placed.get(gang, 0) - 1
            if left > 0:
                self._gang_placed[gang] = left
            else:
                self._gang_placed.pop(gang, None)
        keys = self._by_node.get(record.node)
        if keys is not None:
            keys.pop(record.pod.key, None)
            if not keys:
                del self._by_node[record.node]

    def _count(self, record: _Counted, slot: int) -> None:
        pod = record.pod
        self.nodes.add_usage(slot, pod.requests, pod.score_cpu, pod.score_memory)
        record.slot = slot
        self.nodes.pods.add(pod, slot)
        for observer in self.observers:
            observer.pod_counted(self.nodes, pod, slot)
