"""VRAMScheduler: GPU pods go to nodes whose GPUs have the memory they ask for, preferring the
smallest cards that fit (large cards stay free for large models).

Demand (``kubenexus.api.gpu.gpu_demand``): ``nvidia.com/gpu`` GPUs, each with at least
``scheduling.kubenexus.io/vram-request`` of memory, of one of the products in
``scheduling.kubenexus.io/gpu-products`` if given. A pod asking neither is not this plugin's.

Filter: the node's GPUs are known (the one GPU model) and enough of its free GPUs qualify. With
device-plugin GPUs the kubelet chooses which devices a pod gets and the scheduler only knows how
many are in use, so on a node mixing GPU kinds the used ones are assumed to be qualifying ones
(never over-promise); on a uniform node this is simply "enough free GPUs".

Score (the original's): the fill ratio r = request ÷ memory of the smallest qualifying card,
scored by tenant tier thresholds (the pod's tier from ``kubenexus.api.profile``: its priority
class or tier annotation, bronze when neither says); +10 on high-end cards (H100, H200,
A100-80GB, MI300) when r ≥ 0.7; -20 when r < 0.3 (waste); for several GPUs +15 / +25 / +10 when
enough of the node's GPUs share a NUMA zone / an NVLink domain / a PCIe switch. Capped to 0..100.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import ClassVar, Final

import numpy as np

from kubenexus.api import keys
from kubenexus.api.gpu import GpuDemand, gpu_demand
from kubenexus.api.objects import PodInfo
from kubenexus.api.profile import pod_tier
from kubenexus.api.quantity import format_amount
from kubenexus.errors import InvalidInputError
from kubenexus.framework import (
    SKIP,
    SUCCESS,
    BoolArray,
    ClusterEvent,
    CycleState,
    FloatArray,
    IntArray,
    NodeTable,
    Status,
)
from kubenexus.framework.node_table import take

STATE_KEY: Final = "VRAMScheduler"
NO_GPU_DATA: Final = "node(s) had no GPU information"
# Tier → (ratio, score) steps, highest first; below the last step the score is 0.
TIER_STEPS: Final = {
    "gold": ((0.98, 100.0), (0.85, 80.0), (0.70, 60.0), (0.50, 30.0)),
    "silver": ((0.95, 100.0), (0.70, 80.0), (0.50, 60.0), (0.30, 30.0)),
    "bronze": ((0.90, 100.0), (0.60, 80.0), (0.40, 60.0), (0.20, 30.0)),
}
HIGH_END_BONUS: Final = 10.0
HIGH_END_RATIO: Final = 0.70
WASTE_PENALTY: Final = 20.0
WASTE_RATIO: Final = 0.30
NUMA_BONUS: Final = 15.0
NVLINK_BONUS: Final = 25.0
SWITCH_BONUS: Final = 10.0


@dataclass(frozen=True, slots=True)
class _Cycle:
    demand: GpuDemand
    need: int  # GPUs that must qualify


class VRAMScheduler:
    name: ClassVar[str] = "VRAMScheduler"
    # A pod short of GPU memory waits for GPUs to free or for nodes (or their GPU data) to come.
    cluster_events: ClassVar[ClusterEvent] = (
        ClusterEvent.NODE_ADDED
        | ClusterEvent.NODE_ALLOCATABLE_UP
        | ClusterEvent.NODE_LABELS
        | ClusterEvent.NODE_TOPOLOGY
        | ClusterEvent.POD_REMOVED
    )

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        if keys.VRAM_REQUEST not in pod.annotations and keys.GPU_PRODUCTS not in pod.annotations:
            return SKIP
        try:
            demand = gpu_demand(pod.requests, pod.annotations)
        except InvalidInputError as exc:
            return Status.unresolvable(str(exc), plugin=self.name)
        if not demand.vram and not demand.products:
            return SKIP
        if demand.count == 0:
            return Status.unresolvable(
                f"metadata.annotations[{keys.VRAM_REQUEST if demand.vram else keys.GPU_PRODUCTS}]"
                f": asks for GPUs of a kind but the pod requests no {keys.GPU_NVIDIA}",
                plugin=self.name,
            )
        state.write(STATE_KEY, _Cycle(demand, demand.count))
        return SUCCESS

    def _qualifying(self, cycle: _Cycle, nodes: NodeTable) -> BoolArray:
        """[group row, slot]: the groups of GPUs (a kind and a memory) that meet the demand."""
        gpus = nodes.gpus
        size = nodes.size
        ok = gpus.memory[:, :size] >= cycle.demand.vram
        ok &= gpus.kind[:, :size] >= 0
        if cycle.demand.products:
            ok &= np.isin(gpus.kind[:, :size], gpus.kinds_accepted(cycle.demand))
        return ok

    def _free_qualifying(self, cycle: _Cycle, nodes: NodeTable) -> IntArray:
        ok = self._qualifying(cycle, nodes)
        qualifying = (nodes.gpus.devices[:, : nodes.size] * ok).sum(axis=0)
        row = nodes.resource_row(keys.GPU_NVIDIA)
        size = nodes.size
        if row is None:
            return np.zeros(size, dtype=np.int64)
        free = nodes.free[row, :size]
        used = nodes.requested[row, :size]
        return np.minimum(qualifying - used, free)  # type: ignore[no-any-return]

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        cycle = state.get(STATE_KEY, None)
        if not isinstance(cycle, _Cycle):
            return None
        size = nodes.size
        return nodes.gpus.known[:size] & (self._free_qualifying(cycle, nodes) >= cycle.need)

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        cycle = state.read(STATE_KEY, _Cycle)
        known = nodes.gpus.known[rejected]
        reasons: Counter[str] = Counter()
        unknown = int((~known).sum())
        if unknown:
            reasons[NO_GPU_DATA] = unknown
        short = int(known.sum())
        if short:
            reasons[_short_reason(cycle)] = short
        return reasons

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        cycle = state.get(STATE_KEY, None)
        if not isinstance(cycle, _Cycle) or not cycle.demand.vram:
            return None  # any qualifying card is as good as another
        gpus = nodes.gpus
        qualifying = take(self._qualifying(cycle, nodes), candidates)
        memory = np.where(qualifying, take(gpus.memory[:, : nodes.size], candidates), np.inf)
        best_row = memory.argmin(axis=0) if memory.size else np.zeros(candidates.size, np.int64)
        smallest = memory.min(axis=0) if memory.size else np.full(candidates.size, np.inf)
        ratio = np.where(np.isfinite(smallest), cycle.demand.vram / smallest, 0.0)
        scores = np.zeros(candidates.size)
        for threshold, value in reversed(TIER_STEPS.get(pod_tier(pod), TIER_STEPS["silver"])):
            scores = np.where(ratio >= threshold, value, scores)
        if gpus.high_end.size:
            kinds = take(gpus.kind[:, : nodes.size], candidates)
            best_kind = np.take_along_axis(kinds, best_row[None, :], axis=0)[0]
            high = np.where(best_kind >= 0, gpus.high_end[np.maximum(best_kind, 0)], False)
            scores = np.where(high & (ratio >= HIGH_END_RATIO), scores + HIGH_END_BONUS, scores)
        scores = np.minimum(scores, 100.0)
        scores = np.where(ratio < WASTE_RATIO, np.maximum(scores - WASTE_PENALTY, 0.0), scores)
        need = cycle.need
        if need > 1:
            count = take(gpus.count, candidates)
            shared = count >= need
            for groups, bonus in (
                (gpus.numa_max, NUMA_BONUS),
                (gpus.nvlink_max, NVLINK_BONUS),
                (gpus.switch_max, SWITCH_BONUS),
            ):
                scores = np.where(
                    shared & (take(groups, candidates) >= need), scores + bonus, scores
                )
            scores = np.minimum(scores, 100.0)
        return np.where(np.isfinite(smallest), scores, 0.0)


def _short_reason(cycle: _Cycle) -> str:
    demand = cycle.demand
    parts = []
    if demand.vram:
        parts.append(f"{format_amount(keys.MEMORY, demand.vram)} of GPU memory each")
    if demand.products:
        parts.append(f"one of {', '.join(demand.products)}")
    return f"Insufficient GPUs with {' and '.join(parts)} ({cycle.need} needed)"
