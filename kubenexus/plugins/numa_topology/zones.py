"""Per-node NUMA zones as arrays (resource × zone × node slot), kept in step with the cache.

Rows: 0 = cpu (millicores), 1 = memory (bytes), 2 = GPUs. Zones come before node slots so that a
zone's values over all nodes are contiguous: per-pod work is a few operations on a handful of
long rows, and "best zone of each node" is a reduction over the short zone axis. Free CPU IDs per
zone are kept as sets for the node a pod is placed on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kubenexus.api.topology import NodeTopology

CPU, MEMORY, GPU = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where a pod's aligned resources are taken on its node."""

    zones: tuple[int, ...]
    amounts: tuple[tuple[int, int, int], ...]  # per zone: (cpu milli, memory, gpus)
    cpus: frozenset[int] = frozenset()
    isolated: bool = False
    known: bool = True  # False: a pod whose zones are unknown, charged conservatively

    def fits(self, topology: NodeTopology) -> bool:
        """Whether it still names zones (and CPUs) that the topology has."""
        if not self.zones or self.zones[-1] >= len(topology.zones):
            return False
        if not self.cpus:
            return True
        ids = frozenset().union(*(zone.cpus for zone in topology.zones))
        return not ids or self.cpus <= ids


class ZoneTable:
    def __init__(self) -> None:
        self.capacity = 0
        self.zones = 1
        self.alloc = np.zeros((3, 1, 0), dtype=np.int64)
        self.used = np.zeros((3, 1, 0), dtype=np.int64)
        self.valid = np.zeros((1, 0), dtype=np.bool_)
        self.pods = np.zeros((1, 0), dtype=np.int32)
        self.isolated = np.zeros((1, 0), dtype=np.int32)
        self.avg_distance = np.zeros((1, 0))
        self.has_topology = np.zeros(0, dtype=np.bool_)
        self.described = 0  # nodes with a topology
        # Kept in step on every change, so a pod's filter and score read them without arithmetic:
        self.free_now = np.zeros((3, 1, 0), dtype=np.int64)  # alloc - used
        self.cpu_used_pct = np.zeros((1, 0), dtype=np.float32)  # used cpu × 100 / alloc
        self.cpu_inv_pct = np.zeros((1, 0), dtype=np.float32)  # 100 / alloc cpu (0: none)
        self.memory_inv_pct = np.zeros((1, 0), dtype=np.float32)  # 100 / alloc memory
        self.distance_term = np.zeros((1, 0), dtype=np.float32)  # (avg distance - 10) × 5
        self.open = np.zeros((1, 0), dtype=np.bool_)  # a zone that exists and is not isolated
        # Bumped when zones are (re)described: caches of topology-only terms check it.
        self.generation = 0
        self.topologies: dict[int, NodeTopology] = {}
        self.free_cpus: dict[int, list[set[int]]] = {}
        # Per node slot, how many counted pods are pinned to each CPU ID.
        self._pinned: dict[int, Counter[int]] = {}
        self._cpu_zones: dict[int, tuple[NodeTopology, dict[int, int]]] = {}

    def ensure(self, slots: int, zones: int) -> None:
        """Grow to at least ``slots`` node slots and ``zones`` zones, keeping the contents."""
        new_cap = max(self.capacity, slots)
        if new_cap > self.capacity:
            new_cap = max(new_cap, self.capacity * 2, 64)
        new_zones = max(self.zones, zones)
        if new_cap == self.capacity and new_zones == self.zones:
            return

        def grow(array: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
            shape = (*array.shape[:-2], new_zones, new_cap)
            bigger = np.zeros(shape, dtype=array.dtype)
            bigger[..., : array.shape[-2], : array.shape[-1]] = array
            return bigger

        self.alloc = grow(self.alloc)  # type: ignore[assignment]
        self.used = grow(self.used)  # type: ignore[assignment]
        self.valid = grow(self.valid)  # type: ignore[assignment]
        self.pods = grow(self.pods)  # type: ignore[assignment]
        self.isolated = grow(self.isolated)  # type: ignore[assignment]
        self.avg_distance = grow(self.avg_distance)  # type: ignore[assignment]
        self.free_now = grow(self.free_now)  # type: ignore[assignment]
        self.cpu_used_pct = grow(self.cpu_used_pct)  # type: ignore[assignment]
        self.cpu_inv_pct = grow(self.cpu_inv_pct)  # type: ignore[assignment]
        self.memory_inv_pct = grow(self.memory_inv_pct)  # type: ignore[assignment]
        self.distance_term = grow(self.distance_term)  # type: ignore[assignment]
        self.open = grow(self.open)  # type: ignore[assignment]
        self.generation += 1
        topo = np.zeros(new_cap, dtype=np.bool_)
        topo[: self.has_topology.size] = self.has_topology
        self.has_topology = topo
        self.capacity, self.zones = new_cap, new_zones

    def set_node(self, slot: int, topology: NodeTopology | None) -> None:
        """(Re)describe a node's zones, empty: the caller charges the node's pods again."""
        zones = len(topology.zones) if topology else 1
        self.ensure(slot + 1, zones)
        self.alloc[:, :, slot] = 0
        self.used[:, :, slot] = 0
        self.valid[:, slot] = False
        self.pods[:, slot] = 0
        self.isolated[:, slot] = 0
        self.avg_distance[:, slot] = 0
        self.described += int(topology is not None) - int(self.has_topology[slot])
        self.has_topology[slot] = topology is not None
        self.generation += 1
        if topology is None:
            self.topologies.pop(slot, None)
            self.free_cpus.pop(slot, None)
            self._pinned.pop(slot, None)
            self._cpu_zones.pop(slot, None)
            self._refresh(slot)
            return
        self.topologies[slot] = topology
        for zone in topology.zones:
            self.alloc[:, zone.id, slot] = (zone.cpu_milli, zone.memory, zone.gpus)
            self.valid[zone.id, slot] = True
            others = [d for other, d in zone.distances.items() if other != zone.id]
            self.avg_distance[zone.id, slot] = float(np.mean(others)) if others else 10.0
        self.free_cpus[slot] = [set(zone.cpus) for zone in topology.zones]
        self._pinned.pop(slot, None)
        self._refresh(slot)

    def _zone_of_cpu(self, slot: int) -> dict[int, int]:
        topology = self.topologies[slot]
        cached = self._cpu_zones.get(slot)
        if cached is None or cached[0] is not topology:
            cached = (topology, {cpu: z.id for z in topology.zones for cpu in z.cpus})
            self._cpu_zones[slot] = cached
        return cached[1]

    def _refresh(self, slot: int) -> None:
        alloc = self.alloc[:, :, slot]
        used = self.used[:, :, slot]
        self.free_now[:, :, slot] = alloc - used
        cpu_inv = np.where(alloc[CPU] > 0, 100.0 / np.maximum(alloc[CPU], 1), 0.0)
        memory_inv = np.where(alloc[MEMORY] > 0, 100.0 / np.maximum(alloc[MEMORY], 1), 0.0)
        self.cpu_inv_pct[:, slot] = cpu_inv
        self.memory_inv_pct[:, slot] = memory_inv
        self.cpu_used_pct[:, slot] = used[CPU] * cpu_inv
        self.distance_term[:, slot] = (self.avg_distance[:, slot] - 10.0) * 5.0
        self.open[:, slot] = self.valid[:, slot] & (self.isolated[:, slot] == 0)

    def clear(self, slot: int) -> None:
        if slot < self.capacity:
            for array in (self.alloc, self.used):
                array[:, :, slot] = 0
            for array2 in (self.valid, self.pods, self.isolated, self.avg_distance):
                array2[:, slot] = 0
            self.described -= int(self.has_topology[slot])
            self.has_topology[slot] = False
            self._refresh(slot)
        self.topologies.pop(slot, None)
        self.free_cpus.pop(slot, None)
        self._pinned.pop(slot, None)
        self._cpu_zones.pop(slot, None)

    def apply(self, slot: int, assignment: Assignment, sign: int = 1) -> None:
        if slot >= self.capacity or not self.has_topology[slot]:
            return
        for zone, (cpu, memory, gpus) in zip(assignment.zones, assignment.amounts, strict=True):
            if zone >= self.zones or not self.valid[zone, slot]:
                continue
            self.used[:, zone, slot] += np.array((cpu, memory, gpus)) * sign
            if assignment.known:
                self.pods[zone, slot] += sign
            if assignment.isolated:
                self.isolated[zone, slot] += sign
        if assignment.isolated:
            self._refresh(slot)
        else:  # only usage changed: the two arrays that depend on it
            self.free_now[:, :, slot] = self.alloc[:, :, slot] - self.used[:, :, slot]
            self.cpu_used_pct[:, slot] = self.used[CPU, :, slot] * self.cpu_inv_pct[:, slot]
        free = self.free_cpus.get(slot)
        if free is not None and assignment.cpus:
            # Every CPU the pod is pinned to is taken, whichever zone it belongs to (a cpu-set
            # may disagree with the zones after a node's layout was corrected), and stays taken
            # while any pod is pinned to it (two pods may claim one CPU: nothing is freed twice).
            pinned = self._pinned.setdefault(slot, Counter())
            zone_of = self._zone_of_cpu(slot)
            for cpu in assignment.cpus:
                pinned[cpu] += sign
                owner = zone_of.get(cpu)
                if pinned[cpu] <= 0:
                    del pinned[cpu]
                    if owner is not None:
                        free[owner].add(cpu)
                elif owner is not None:
                    free[owner].discard(cpu)

    def free(self, size: int) -> npt.NDArray[np.int64]:
        """Free amounts (3 × zones × node slots) over the first ``size`` slots (a view)."""
        self.ensure(size, 1)
        result: npt.NDArray[np.int64] = self.free_now[:, :, :size]
        return result
