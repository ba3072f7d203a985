"""Every node's GPUs as arrays, for vectorized GPU filters and scores: one column per node slot,
one row per device (sorted by memory, largest first; empty rows are 0 / -1).

Built from ``NodeInfo.gpus`` (the one GPU model, ``kubenexus.api.gpu``), kept in step by the
node table. With device-plugin GPUs the kubelet chooses a pod's devices, so which ones are in use
is unknown: GPU usage stays per node (the node table's ``nvidia.com/gpu`` row).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Final

import numpy as np
import numpy.typing as npt

from kubenexus.api.gpu import GpuDevice, NodeGpus

IntArray = npt.NDArray[np.int64]
SmallArray = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]
# Products whose large requests earn the VRAM score's high-end bonus (the original's list).
HIGH_END: Final = ("H100", "H200", "A100-80GB", "MI300")


class GpuTable:
    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self.rows = 0
        self.memory: IntArray = np.zeros((0, capacity), dtype=np.int64)
        # The kind of each device (its product and family), as an index into ``kinds``.
        self.kind: SmallArray = np.full((0, capacity), -1, dtype=np.int32)
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
        # Bumped on every change to the arrays above: caches of what they say check it.
        self.generation = 0

    def grow(self, capacity: int) -> None:
        extra = capacity - self._capacity

        def widen(array: npt.NDArray[np.generic], fill: int) -> npt.NDArray[np.generic]:
            pad = np.full((*array.shape[:-1], extra), fill, dtype=array.dtype)
            return np.concatenate([array, pad], axis=-1)

        self.memory = widen(self.memory, 0)  # type: ignore[assignment]
        self.kind = widen(self.kind, -1)  # type: ignore[assignment]
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
        self.rows = rows

    def set(self, slot: int, gpus: NodeGpus | None) -> None:
        devices = sorted(gpus.devices, key=lambda d: -d.memory) if gpus is not None else []
        self._ensure_rows(len(devices))
        self.memory[:, slot] = 0
        self.kind[:, slot] = -1
        for row, device in enumerate(devices):
            self.memory[row, slot] = device.memory
            self.kind[row, slot] = self._kind_id(device)
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

    def kinds_accepted(self, accepts: Callable[[GpuDevice], bool]) -> SmallArray:
        """Ids of the kinds of GPU a predicate accepts."""
        return np.array([i for i, d in enumerate(self.kinds) if accepts(d)], dtype=np.int32)


def _most_sharing(values: Iterable[object]) -> int:
    counts = Counter(v for v in values if v is not None)
    return max(counts.values(), default=0)
