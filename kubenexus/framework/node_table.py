"""The cluster's nodes as numpy arrays, updated in place so each pod costs vectorized work.

Layout: one row per resource, one column per node slot (``allocatable[r, n]``), so the handful of
resources a pod requests are contiguous rows and a fit check is a few whole-row comparisons.
Slots of removed nodes are reused; ``valid`` marks the live ones. Labels become integer-coded
columns on first use, so a ``nodeSelector`` is an array comparison, not a loop over nodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar, cast

import numpy as np
import numpy.typing as npt

from kubenexus.api import keys
from kubenexus.api.objects import NodeInfo, Taint, go_int
from kubenexus.framework.gpu_table import GpuTable
from kubenexus.framework.pod_index import PodIndex
from kubenexus.framework.profiles import ProfileBook
from kubenexus.framework.workloads import WorkloadSelectors

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.floating[Any]]
# Scoring inputs are float32: half the memory traffic of float64, and 7 significant digits are
# far more than a 0-100 score needs.
SCORE_DTYPE: Final = np.float32

BASE_RESOURCES: Final = (keys.CPU, keys.MEMORY, keys.EPHEMERAL_STORAGE, keys.PODS)
# Extended resources counted as GPUs in a node's utilization.
GPU_RESOURCES: Final = (keys.GPU_NVIDIA, "amd.com/gpu")
MISSING: Final = -1
# Above float32's error at 100 (~2e-5), below how close a fraction of integers comes to an
# integer without being one: scores truncated as kube-scheduler's integers are.
BALANCE_SLACK: Final = 5e-5  # label code of a node that does not carry the label


ArrayT = TypeVar("ArrayT", bound=npt.NDArray[Any])


def take(values: ArrayT, candidates: IntArray) -> ArrayT:
    """``values[candidates]`` for per-slot values; no copy when the candidates are every slot."""
    if values.shape[-1] == candidates.size:
        return values
    return cast("ArrayT", values[..., candidates])


class LabelColumn:
    """One label key over all node slots: value codes (MISSING where absent) and their strings.

    A value no node carries any more gives its code back for reuse, so a column over a key
    with a value per node (the hostname) does not grow with every node that ever existed.
    """

    __slots__ = ("_free", "_names", "_users", "codes", "is_number", "numbers", "values", "width")

    def __init__(self, size: int) -> None:
        self.codes: npt.NDArray[np.int32] = np.full(size, MISSING, dtype=np.int32)
        self.values: dict[str, int] = {}
        # Codes in use are below ``width`` (arrays indexed by code are this long).
        self.width = 0
        self._users: list[int] = []  # per code, the slots carrying its value
        self._names: list[str] = []  # per code, its value
        self._free: list[int] = []
        # Integer reading of each value for Gt/Lt, exactly as kube-scheduler reads it (int64;
        # ``is_number`` is False where the label is absent or not an integer).
        self.numbers: IntArray = np.zeros(size, dtype=np.int64)
        self.is_number: BoolArray = np.zeros(size, dtype=np.bool_)

    def _code_of(self, value: str) -> int:
        code = self.values.get(value)
        if code is None:
            if self._free:
                code = self._free.pop()
                self._names[code] = value
            else:
                code = self.width
                self.width += 1
                self._users.append(0)
                self._names.append(value)
            self.values[value] = code
        return code

    def set(self, slot: int, value: str | None) -> None:
        old = int(self.codes[slot])
        number = None if value is None else go_int(value)
        self.numbers[slot] = 0 if number is None else number
        self.is_number[slot] = number is not None
        new = MISSING if value is None else self._code_of(value)
        self.codes[slot] = new
        if new != MISSING:
            self._users[new] += 1
        if old != MISSING:
            self._users[old] -= 1
            if self._users[old] == 0:
                del self.values[self._names[old]]
                self._free.append(old)

    def grow(self, size: int) -> None:
        old = self.codes.size
        self.codes = np.concatenate([self.codes, np.full(size - old, MISSING, dtype=np.int32)])
        self.numbers = np.concatenate([self.numbers, np.zeros(size - old, dtype=np.int64)])
        self.is_number = np.concatenate([self.is_number, np.zeros(size - old, dtype=np.bool_)])


class NodeTable:
    """Nodes × resources arrays plus the per-node facts filters read (taints, labels, cordon)."""

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = max(capacity, 1)
        self.resource_names: list[str] = list(BASE_RESOURCES)
        self.resource_index: dict[str, int] = {n: i for i, n in enumerate(self.resource_names)}
        rows = len(self.resource_names)
        self.allocatable: IntArray = np.zeros((rows, self._capacity), dtype=np.int64)
        self.requested: IntArray = np.zeros((rows, self._capacity), dtype=np.int64)
        # allocatable - requested, kept in step so a fit check reads one array.
        self.free: IntArray = np.zeros((rows, self._capacity), dtype=np.int64)
        # cpu and memory as scoring counts them (best-effort containers count as a default).
        self.score_requested: IntArray = np.zeros((2, self._capacity), dtype=np.int64)
        # For scoring without per-pod conversions: 1/allocatable (0 where none) and the fraction
        # already requested (cpu/memory in the scoring view), both kept per slot on every change.
        self.inv_allocatable: FloatArray = np.zeros((rows, self._capacity), dtype=SCORE_DTYPE)
        self.used_fraction: FloatArray = np.zeros((rows, self._capacity), dtype=SCORE_DTYPE)
        # cpu and memory requested as they are (no defaults), as a fraction: BalancedAllocation.
        self.requested_fraction: FloatArray = np.zeros((2, self._capacity), dtype=SCORE_DTYPE)
        # Each node's cpu/memory balance as kube's BalancedAllocation scores it, int((1 - std)
        # × 100) of those fractions, kept per slot: only its change with a pod is per pod.
        self.balance: FloatArray = np.full(self._capacity, 100.0, dtype=SCORE_DTYPE)
        # Each node's utilization in percent (``utilization()``), refreshed on read for the
        # slots that changed since (plain pods never read it: they pay a set insertion).
        self._utilization: FloatArray = np.zeros(self._capacity, dtype=SCORE_DTYPE)
        self._utilization_stale: set[int] = set()
        self._gpu_rows: list[int] = []  # rows of GPU_RESOURCES, as nodes offer them
        self._complete_rows: dict[int, tuple[int, bool]] = {}
        self.valid: BoolArray = np.zeros(self._capacity, dtype=np.bool_)
        self.unschedulable: BoolArray = np.zeros(self._capacity, dtype=np.bool_)
        self.taint_group: npt.NDArray[np.int32] = np.zeros(self._capacity, dtype=np.int32)
        # Distinct taint sets, interned; set 0 is "no taints". A set no node uses any more is
        # dropped and its id reused (a taint whose value is a timestamp must not grow this).
        self.taint_sets: list[tuple[Taint, ...]] = [()]
        self._taint_set_ids: dict[tuple[Taint, ...], int] = {(): 0}
        self._taint_set_users: list[int] = [0]
        self._free_taint_ids: list[int] = []
        # Bumped when a taint set id gets (new) contents: caches indexed by set id check it.
        self.taint_sets_generation = 0
        self.names: list[str] = []
        self.infos: list[NodeInfo | None] = []
        self.index: dict[str, int] = {}
        self._free_slots: list[int] = []
        self._all_slots: IntArray = np.arange(0)
        self._labels: dict[str, LabelColumn] = {}
        self.size = 0  # slots in use, live or freed: arrays are read as [:, :size]
        self.live = 0
        # Bumped on any change to labels/taints/cordon/node set, so filters can cache per-pod
        # masks; allocatable changes bump their own counter.
        self.topology_generation = 0
        self.allocatable_generation = 0
        self.gpus = GpuTable(self._capacity)
        # The pods counted on the nodes, for rules about other pods (kept by the cache).
        self.pods = PodIndex(self._capacity)
        # The selectors of the Services, ReplicaSets, … that may select a pod (fed by the shell).
        self.workloads = WorkloadSelectors()
        # Each pod's workload profile (tenant tier, workload type), computed once.
        self.profiles = ProfileBook(self.pods.labels_of_namespace)

    # ------------------------------------------------------------------ nodes

    def __len__(self) -> int:
        return self.live

    def __contains__(self, name: str) -> bool:
        return name in self.index

    def slot_of(self, name: str) -> int | None:
        return self.index.get(name)

    def node(self, slot: int) -> NodeInfo:
        info = self.infos[slot]
        if info is None:
            raise KeyError(f"node slot {slot} is free")
        return info

    def names_in_order(self) -> list[str]:
        return [self.names[s] for s in range(self.size) if self.valid[s]]

    def upsert(self, node: NodeInfo) -> int:
        """Add a node, or replace an existing node's facts keeping its usage."""
        slot = self.index.get(node.name)
        old: NodeInfo | None = None
        if slot is None:
            slot = self._allocate_slot(node.name)
            self.live += 1
        else:
            old = self.infos[slot]
        self.infos[slot] = node
        self.valid[slot] = True
        if old is None or old.allocatable != node.allocatable:
            self.allocatable[:, slot] = 0
            for name, amount in node.allocatable.items():
                row = self.ensure_resource(name)  # may grow the arrays: index them afterwards
                self.allocatable[row, slot] = amount
            self.free[:, slot] = self.allocatable[:, slot] - self.requested[:, slot]
            for row in range(len(self.resource_names)):
                self._refresh_fraction(row, slot)
            self._utilization_stale.add(slot)
            self.allocatable_generation += 1
        if (
            old is None
            or old.taints != node.taints
            or old.labels != node.labels
            or old.unschedulable != node.unschedulable
        ):
            self.unschedulable[slot] = node.unschedulable
            self._set_taints(slot, node.taints, release=old is not None)
            for key, column in self._labels.items():
                column.set(slot, node.labels.get(key))
            self.topology_generation += 1
        if old is None or old.gpus != node.gpus:
            self.gpus.set(slot, node.gpus)  # last: the node's other facts are in place whatever
        return slot

    def remove(self, name: str) -> int | None:
        """Drop a node; its slot's usage is cleared and the slot reused later."""
        slot = self.index.pop(name, None)
        if slot is None:
            return None
        self.valid[slot] = False
        self.infos[slot] = None
        self.names[slot] = ""
        for array in (
            self.allocatable,
            self.requested,
            self.free,
            self.score_requested,
            self.inv_allocatable,
            self.used_fraction,
            self.requested_fraction,
        ):
            array[:, slot] = 0
        self._utilization[slot] = 0.0
        self.balance[slot] = 100.0
        self._utilization_stale.discard(slot)
        self.unschedulable[slot] = False
        self.gpus.clear(slot)
        self._release_taint_set(int(self.taint_group[slot]))
        self.taint_group[slot] = 0
        self.allocatable_generation += 1
        for column in self._labels.values():
            column.set(slot, None)
        self._free_slots.append(slot)
        self.live -= 1
        self.topology_generation += 1
        return slot

    def _allocate_slot(self, name: str) -> int:
        if self._free_slots:
            slot = self._free_slots.pop()
            self.names[slot] = name
        else:
            if self.size == self._capacity:
                self._grow_nodes(self._capacity * 2)
            slot = self.size
            self.size += 1
            self.names.append(name)
            self.infos.append(None)
        self.index[name] = slot
        return slot

    def _grow_nodes(self, capacity: int) -> None:
        extra = capacity - self._capacity

        def widen(array: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
            pad = np.zeros((*array.shape[:-1], extra), dtype=array.dtype)
            return np.concatenate([array, pad], axis=-1)

        self.allocatable = widen(self.allocatable)  # type: ignore[assignment]
        self.requested = widen(self.requested)  # type: ignore[assignment]
        self.free = widen(self.free)  # type: ignore[assignment]
        self.score_requested = widen(self.score_requested)  # type: ignore[assignment]
        self.inv_allocatable = widen(self.inv_allocatable)  # type: ignore[assignment]
        self.used_fraction = widen(self.used_fraction)  # type: ignore[assignment]
        self.requested_fraction = widen(self.requested_fraction)  # type: ignore[assignment]
        self.balance = np.concatenate(
            [self.balance, np.full(capacity - self.balance.size, 100.0, dtype=SCORE_DTYPE)]
        )
        self._utilization = widen(self._utilization)  # type: ignore[assignment]
        self.gpus.grow(capacity)
        self.pods.grow(capacity)
        self.valid = widen(self.valid)  # type: ignore[assignment]
        self.unschedulable = widen(self.unschedulable)  # type: ignore[assignment]
        self.taint_group = widen(self.taint_group)  # type: ignore[assignment]
        for column in self._labels.values():
            column.grow(capacity)
        self._capacity = capacity

    def _set_taints(self, slot: int, taints: tuple[Taint, ...], *, release: bool) -> None:
        new = self._taint_set_id(taints)
        self._taint_set_users[new] += 1
        if release:
            self._release_taint_set(int(self.taint_group[slot]))
        self.taint_group[slot] = new

    def _taint_set_id(self, taints: tuple[Taint, ...]) -> int:
        key = tuple(sorted(set(taints), key=lambda t: (t.key, t.effect, t.value)))
        found = self._taint_set_ids.get(key)
        if found is None:
            if self._free_taint_ids:
                found = self._free_taint_ids.pop()
                self.taint_sets[found] = key
            else:
                found = len(self.taint_sets)
                self.taint_sets.append(key)
                self._taint_set_users.append(0)
            self._taint_set_ids[key] = found
            self.taint_sets_generation += 1
        return found

    def _release_taint_set(self, set_id: int) -> None:
        self._taint_set_users[set_id] -= 1
        if set_id and self._taint_set_users[set_id] <= 0:
            self._taint_set_users[set_id] = 0
            del self._taint_set_ids[self.taint_sets[set_id]]
            self.taint_sets[set_id] = ()
            self._free_taint_ids.append(set_id)

    def all_slots(self) -> IntArray:
        """``arange(size)``, cached: the candidates when every slot passes the filters."""
        if self._all_slots.size != self.size:
            self._all_slots = np.arange(self.size)
        return self._all_slots

    # ------------------------------------------------------------------ resources

    def resource_row(self, name: str) -> int | None:
        return self.resource_index.get(name)

    def ensure_resource(self, name: str) -> int:
        row = self.resource_index.get(name)
        if row is not None:
            return row
        row = len(self.resource_names)
        self.resource_names.append(name)
        self.resource_index[name] = row
        if name in GPU_RESOURCES:
            self._gpu_rows.append(row)
        zeros = np.zeros((1, self._capacity), dtype=np.int64)
        self.allocatable = np.vstack([self.allocatable, zeros])
        self.requested = np.vstack([self.requested, zeros])
        self.free = np.vstack([self.free, zeros])
        self.inv_allocatable = np.vstack([self.inv_allocatable, zeros.astype(SCORE_DTYPE)])
        self.used_fraction = np.vstack([self.used_fraction, zeros.astype(SCORE_DTYPE)])
        return row

    def _refresh_fraction(self, row: int, slot: int) -> None:
        allocatable = int(self.allocatable[row, slot])
        # cpu and memory (rows 0 and 1) use the scoring view of requests.
        used = int(self.score_requested[row, slot] if row < 2 else self.requested[row, slot])
        if allocatable > 0:
            self.inv_allocatable[row, slot] = 1.0 / allocatable
            self.used_fraction[row, slot] = used / allocatable
            if row < 2:
                self.requested_fraction[row, slot] = int(self.requested[row, slot]) / allocatable
                if row == 1:  # memory is refreshed after cpu: the balance once, with both
                    self._refresh_balance(slot)
        else:
            self.inv_allocatable[row, slot] = 0.0
            self.used_fraction[row, slot] = 0.0
            if row < 2:
                self.requested_fraction[row, slot] = 0.0
                if row == 1:
                    self._refresh_balance(slot)

    def _refresh_balance(self, slot: int) -> None:
        cpu, memory = self.requested_fraction[:, slot].tolist()
        gap = abs(min(cpu, 1.0) - min(memory, 1.0))
        self.balance[slot] = math.floor((1.0 - gap / 2) * 100.0 + BALANCE_SLACK)

    def utilization(self) -> FloatArray:
        """Per slot ``[:size]``, the node's utilization in percent, the original's blend:
        0.35 cpu + 0.35 memory + 0.30 GPUs on GPU nodes (cpu and memory alone, reweighted,
        elsewhere), each share capped at 100; 0 without allocatable cpu or memory. Requests
        are the real ones (not the scoring view), as the original's NodeInfo counts them."""
        if self._utilization_stale:
            slots = np.fromiter(self._utilization_stale, dtype=np.int64)
            self._utilization_stale.clear()
            allocatable, requested = self.allocatable[:, slots], self.requested[:, slots]
            cpu, memory = allocatable[0], allocatable[1]
            known = (cpu > 0) & (memory > 0)
            share = 0.35 * np.minimum(requested[0] / np.maximum(cpu, 1), 1.0)
            share += 0.35 * np.minimum(requested[1] / np.maximum(memory, 1), 1.0)
            gpus = allocatable[self._gpu_rows].sum(axis=0) if self._gpu_rows else cpu * 0
            used = requested[self._gpu_rows].sum(axis=0) if self._gpu_rows else cpu * 0
            with_gpus = gpus > 0
            share = np.where(
                with_gpus,
                share + 0.30 * np.minimum(used / np.maximum(gpus, 1), 1.0),
                share / 0.70,
            )
            self._utilization[slots] = np.where(known, 100.0 * share, 0.0)
        return self._utilization[: self.size]

    def every_node_has(self, row: int) -> bool:
        """Whether every live node offers some of this resource (lets scoring skip masking)."""
        cached = self._complete_rows.get(row)
        if cached is not None and cached[0] == self.allocatable_generation:
            return cached[1]
        size = self.size
        complete = bool(np.all(self.allocatable[row, :size][self.valid[:size]] > 0))
        self._complete_rows[row] = (self.allocatable_generation, complete)
        return complete

    def add_usage(
        self,
        slot: int,
        requests: Mapping[str, int],
        score_cpu: int,
        score_memory: int,
        sign: int = 1,
    ) -> None:
        """Count a pod's requests on a node (sign=-1 takes them off)."""
        for name, amount in requests.items():
            row = self.ensure_resource(name)
            self.requested[row, slot] += sign * amount
            self.free[row, slot] -= sign * amount
            if row >= 2:
                self._refresh_fraction(row, slot)
        self.score_requested[0, slot] += sign * score_cpu
        self.score_requested[1, slot] += sign * score_memory
        self._refresh_fraction(0, slot)
        self._refresh_fraction(1, slot)
        self._utilization_stale.add(slot)

    # ------------------------------------------------------------------ labels

    def label_values(self, key: str, read: Callable[[str], int], absent: int) -> IntArray:
        """Each slot's value of a label mapped through ``read`` (``absent`` where the node has
        none): one call per distinct value, then an array index."""
        column = self.label_column(key)
        lookup = np.full(column.width + 1, absent, dtype=np.int64)  # last: code -1, absent
        for value, code in column.values.items():
            lookup[code] = read(value)
        result: IntArray = lookup[column.codes[: self.size]]
        return result

    def label_column(self, key: str) -> LabelColumn:
        """The integer-coded column of a label key, built on first use and kept in step."""
        column = self._labels.get(key)
        if column is None:
            column = self._labels[key] = LabelColumn(self._capacity)
            for slot in range(self.size):
                info = self.infos[slot]
                if info is not None:
                    column.set(slot, info.labels.get(key))
        return column
