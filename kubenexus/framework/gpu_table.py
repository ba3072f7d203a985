"""Every node's GPUs as arrays, for vectorized GPU filters and scores: one column per node slot,
one row per device (sorted by memory, largest first; empty rows are 0 / -1).

Built from ``NodeInfo.gpus`` (the one GPU model, ``kubenexus.api.gpu``), kept in step by the
node table. With device-plugin GPUs the kubelet chooses a pod's devices, so which ones are in use
is unknown: GPU usage stays per node (the node table's ``nvidia.com/gpu`` row).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Final

import numpy as np
import numpy.typing as npt

from kubenexus.api.gpu import GpuDemand, GpuDevice, NodeGpus, model_memory
from kubenexus.api.quantity import MAX_AMOUNT

IntArray = npt.NDArray[np.int64]
SmallArray = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]
# Products whose large requests earn the VRAM score's high-end bonus (the original's list).
HIGH_END: Final = ("H100", "H200", "A100-80GB", "MI300")
ACCEPTED_CACHE: Final = 256


class GpuTable:
    """Per node, its GPUs grouped by kind and memory (a node has one kind or a few, so a pod
    costs a few rows whatever the node's GPU count): ``memory``, ``kind`` and ``devices`` per
    group row, largest memory first; empty rows are 0 / -1 / 0."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self.rows = 0
        self.memory: IntArray = np.zeros((0, capacity), dtype=np.int64)
        # The kind of each group (its product and family), as an index into ``kinds``.
        self.kind: SmallArray = np.full((0, capacity), -1, dtype=np.int32)
        self.devices: SmallArray = np.zeros((0, capacity), dtype=np.int32)
        self.count: SmallArray = np.zeros(capacity, dtype=np.int32)
        self.known: BoolArray = np.zeros(capacity, dtype=np.bool_)
        # The most devices that share one NUMA zone / NVLink domain / PCIe switch on the node.
        self.numa_max: SmallArray = np.zeros(capacity, dtype=np.int32)
        self.nvlink_max: SmallArray = np.zeros(capacity, dtype=np.int32)
        self.switch_max: SmallArray = np.zeros(capacity, dtype=np.int32)
        self.kinds: list[GpuDevice] = []  # one device standing for each kind
        self._kind_ids: dict[tuple[str, str], int] = {}
        self.high_end: BoolArray = np.zeros(0, dtype=np.bool_)  # per kind
        self.sources: dict[int, str] = {}  # slot → where its GPUs were read from
        # Accepted-products lists → (kinds checked so far, the accepted kind ids among them).
        self._accepted: dict[tuple[str, ...], tuple[int, list[int]]] = {}
        # Bumped on every change to the arrays above: caches of what they say check it.
        self.generation = 0

    def grow(self, capacity: int) -> None:
        extra = capacity - self._capacity

        def widen(array: npt.NDArray[np.generic], fill: int) -> npt.NDArray[np.generic]:
            pad = np.full((*array.shape[:-1], extra), fill, dtype=array.dtype)
            return np.concatenate([array, pad], axis=-1)

        self.memory = widen(self.memory, 0)  # type: ignore[assignment]
        self.kind = widen(self.kind, -1)  # type: ignore[assignment]
        self.devices = widen(self.devices, 0)  # type: ignore[assignment]
        self.count = widen(self.count, 0)  # type: ignore[assignment]
        self.known = widen(self.known, 0)  # type: ignore[assignment]
        self.numa_max = widen(self.numa_max, 0)  # type: ignore[assignment]
        self.nvlink_max = widen(self.nvlink_max, 0)  # type: ignore[assignment]
        self.switch_max = widen(self.switch_max, 0)  # type: ignore[assignment]
        self._capacity = capacity
        self.generation += 1

    def _kind_id(self, device: GpuDevice) -> int:
        key = (device.product, device.family)
        found = self._kind_ids.get(key)
        if found is None:
            found = self._kind_ids[key] = len(self.kinds)
            self.kinds.append(device)
            high = any(word in device.family.upper() for word in HIGH_END)
            self.high_end = np.append(self.high_end, high)
        return found

    def _ensure_rows(self, rows: int) -> None:
        if rows <= self.rows:
            return
        extra = rows - self.rows
        self.memory = np.vstack([self.memory, np.zeros((extra, self._capacity), np.int64)])
        self.kind = np.vstack([self.kind, np.full((extra, self._capacity), -1, np.int32)])
        self.devices = np.vstack([self.devices, np.zeros((extra, self._capacity), np.int32)])
        self.rows = rows

    def set(self, slot: int, gpus: NodeGpus | None) -> None:
        devices = list(gpus.devices) if gpus is not None else []
        groups: Counter[tuple[int, int]] = Counter(
            (matching_memory(device), self._kind_id(device)) for device in devices
        )
        ordered = sorted(groups.items(), key=lambda item: -item[0][0])
        self._ensure_rows(len(ordered))
        self.memory[:, slot] = 0
        self.kind[:, slot] = -1
        self.devices[:, slot] = 0
        for row, ((memory, kind), count) in enumerate(ordered):
            self.memory[row, slot] = memory
            self.kind[row, slot] = kind
            self.devices[row, slot] = count
        self.count[slot] = len(devices)
        self.known[slot] = gpus is not None
        self.numa_max[slot] = _most_sharing(d.numa for d in devices)
        self.nvlink_max[slot] = _most_sharing(d.nvlink_domain for d in devices)
        self.switch_max[slot] = _most_sharing(d.pcie_switch for d in devices)
        if gpus is None:
            self.sources.pop(slot, None)
        else:
            self.sources[slot] = gpus.source
        self.generation += 1

    def clear(self, slot: int) -> None:
        self.set(slot, None)

    def kinds_accepted(self, demand: GpuDemand) -> SmallArray:
        """Ids of the kinds of GPU a pod's accepted products allow (each kind checked once per
        products list: the list of kinds only grows)."""
        checked, accepted = self._accepted.get(demand.products, (0, []))
        if checked < len(self.kinds):
            accepted = accepted + [
                i for i in range(checked, len(self.kinds)) if demand.accepts(self.kinds[i])
            ]
            if len(self._accepted) > ACCEPTED_CACHE:
                self._accepted.clear()
            self._accepted[demand.products] = (len(self.kinds), accepted)
        return np.array(accepted, dtype=np.int32)


def matching_memory(device: GpuDevice) -> int:
    """The memory a request is compared with: the card's marketed size when what its driver
    reports is a little less (an H100 80GB reports 79.6Gi, a T4 15Gi), so every source of GPU
    data gives the same decisions; else what is reported."""
    marketed = model_memory(device.family)
    reported = min(device.memory, MAX_AMOUNT)
    if marketed and (not reported or marketed * 0.9 <= reported <= marketed):
        return marketed
    return reported


def _most_sharing(values: Iterable[object]) -> int:
    counts = Counter(v for v in values if v is not None)
    return max(counts.values(), default=0)
