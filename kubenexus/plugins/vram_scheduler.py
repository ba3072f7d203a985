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
scored by tenant tier thresholds (the tier of the pod's workload profile, ``nodes.profiles``);
+10 on high-end cards (H100, H200, A100-80GB, MI300) when r ≥ 0.7; -20 when r < 0.3 (waste);
for several GPUs +15 / +25 / +10 when enough of the node's GPUs share a NUMA zone / an NVLink
domain / a PCIe switch. Capped to 0..100.

What a demand (VRAM, products) finds on each node's cards — how many qualify, the smallest, the
score before the topology bonuses — depends on the node GPUs only, so it is computed once per
distinct demand and kept until any node's GPUs change (``GpuTable.generation``); per pod, only
the free-GPU check and the topology bonuses are computed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar, Final

import numpy as np

from kubenexus.api import keys
from kubenexus.api.gpu import GpuDemand, gpu_demand
from kubenexus.api.objects import PodInfo
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
from kubenexus.framework.gpu_table import GpuTable
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
# Distinct demands (VRAM, products) remembered; bounded so odd workloads cannot grow it forever.
_CACHE_LIMIT: Final = 128


@dataclass(frozen=True, slots=True)
class _Cards:
    """What one demand finds on each node slot's cards, valid while the GPU table is
    unchanged."""

    table: GpuTable
    generation: int
    size: int
    count: IntArray  # cards that qualify
    smallest: FloatArray  # memory of the smallest qualifying card (the first such row); inf: none
    high: BoolArray  # that card is a high-end one
    finite: BoolArray  # some card qualifies
    base: dict[str, FloatArray] = field(default_factory=dict)  # tier → base_scores

    def base_scores(self, tier: str, vram: int) -> FloatArray:
        """Per slot, the score before the topology bonuses: the tier's step for the fill ratio
        of the smallest qualifying card, the high-end bonus, the waste penalty; 0 where no card
        qualifies."""
        found = self.base.get(tier)
        if found is not None:
            return found
        ratio = np.where(self.finite, vram / self.smallest, 0.0)
        scores = np.zeros(self.size)
        for threshold, value in reversed(TIER_STEPS.get(tier, TIER_STEPS["silver"])):
            scores = np.where(ratio >= threshold, value, scores)
        scores = np.where(self.high & (ratio >= HIGH_END_RATIO), scores + HIGH_END_BONUS, scores)
        scores = np.minimum(scores, 100.0)
        scores = np.where(ratio < WASTE_RATIO, np.maximum(scores - WASTE_PENALTY, 0.0), scores)
        scores = np.where(self.finite, scores, 0.0)
        self.base[tier] = scores
        return scores


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

    def __init__(self) -> None:
        self._cache: dict[tuple[int, tuple[str, ...]], _Cards] = {}

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

    def _cards(self, demand: GpuDemand, nodes: NodeTable) -> _Cards:
        """What the demand finds on every node's cards; computed once per demand while the GPU
        table is unchanged (node GPUs change rarely; pods ask few distinct amounts)."""
        gpus = nodes.gpus
        size = nodes.size
        key = (demand.vram, demand.products)
        cached = self._cache.get(key)
        if (
            cached is not None
            and cached.table is gpus
            and cached.generation == gpus.generation
            and cached.size == size
        ):
            return cached
        memory = gpus.memory[:, :size]
        kinds = gpus.kind[:, :size]
        qualifying = (memory >= demand.vram) & (kinds >= 0)  # [group row, slot]
        if demand.products:
            accepted = np.zeros(len(gpus.kinds) + 1, dtype=np.bool_)  # the last: kind -1
            accepted[gpus.kinds_accepted(demand)] = True
            qualifying &= accepted[kinds]
        masked = np.where(qualifying, memory, np.inf)
        if masked.size:
            best_row = masked.argmin(axis=0)
            smallest = np.take_along_axis(masked, best_row[None, :], axis=0)[0]
            best_kind = np.take_along_axis(kinds, best_row[None, :], axis=0)[0]
            high = (best_kind >= 0) & gpus.high_end[np.maximum(best_kind, 0)]
        else:  # no node has GPUs
            smallest = np.full(size, np.inf)
            high = np.zeros(size, dtype=np.bool_)
        cards = _Cards(
            gpus,
            gpus.generation,
            size,
            (gpus.devices[:, :size] * qualifying).sum(axis=0),  # GPUs in qualifying groups
            smallest,
            high,
            np.isfinite(smallest),
        )
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = cards
        return cards

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        cycle = state.get(STATE_KEY, None)
        if not isinstance(cycle, _Cycle):
            return None
        size = nodes.size
        row = nodes.resource_row(keys.GPU_NVIDIA)
        if row is None:
            return np.zeros(size, dtype=np.bool_)
        qualifying = self._cards(cycle.demand, nodes).count
        free = nodes.free[row, :size]
        used = nodes.requested[row, :size]
        # Used GPUs are assumed to be qualifying ones (the kubelet chose them).
        enough = np.minimum(qualifying - used, free) >= cycle.need
        return nodes.gpus.known[:size] & enough

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

    def unresolvable(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> BoolArray:
        """Nodes without GPU data, or with fewer qualifying GPUs than the pod needs in all:
        no eviction changes what cards a node has."""
        cycle = state.read(STATE_KEY, _Cycle)
        qualifying = self._cards(cycle.demand, nodes).count[rejected]
        return np.asarray(~nodes.gpus.known[rejected] | (qualifying < cycle.need), dtype=np.bool_)

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        cycle = state.get(STATE_KEY, None)
        if not isinstance(cycle, _Cycle) or not cycle.demand.vram:
            return None  # any qualifying card is as good as another
        gpus = nodes.gpus
        cards = self._cards(cycle.demand, nodes)
        scores = take(cards.base_scores(nodes.profiles.of(pod).tier, cycle.demand.vram), candidates)
        need = cycle.need
        if need > 1:
            shared = take(gpus.count, candidates) >= need
            shared &= take(cards.finite, candidates)
            for groups, bonus in (
                (gpus.numa_max, NUMA_BONUS),
                (gpus.nvlink_max, NVLINK_BONUS),
                (gpus.switch_max, SWITCH_BONUS),
            ):
                scores = np.where(
                    shared & (take(groups, candidates) >= need), scores + bonus, scores
                )
            scores = np.minimum(scores, 100.0)
        return scores


def _short_reason(cycle: _Cycle) -> str:
    demand = cycle.demand
    parts = []
    if demand.vram:
        parts.append(f"{format_amount(keys.MEMORY, demand.vram)} of GPU memory each")
    if demand.products:
        parts.append(f"one of {', '.join(demand.products)}")
    return f"Insufficient GPUs with {' and '.join(parts)} ({cycle.need} needed)"
