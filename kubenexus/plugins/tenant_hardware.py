"""TenantHardwareAffinityScore: match tenant tiers to hardware tiers (reference §7).

A node's hardware tier is its label ``hardware.kubenexus.io/tier`` (premium, standard or
economy; any other value is an unrecognised tier), else the tier of its best GPU from the one
GPU model (the table below: whole model names, so an L40S is not an L4), else none. The pod's
tenant tier comes from its workload profile: gold wants premium, silver standard, bronze
economy (the original's matrix, below). Only pods that request GPUs are scored: hardware tiers
are about accelerators, and scoring CPU-only pods would pull a gold tenant's web pods onto the
GPU nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

import numpy as np

from kubenexus.api import keys
from kubenexus.api.gpu import GpuDevice
from kubenexus.api.objects import PodInfo
from kubenexus.api.profile import gpu_count, states_preferences
from kubenexus.framework import ClusterEvent, CycleState, FloatArray, IntArray, NodeTable
from kubenexus.framework.node_table import take

# Node tier codes (columns of the matrix).
NONE, PREMIUM, STANDARD, ECONOMY, OTHER = range(5)
HARDWARE_TIERS: Final = {"premium": PREMIUM, "standard": STANDARD, "economy": ECONOMY}
GIB: Final = 1024**3
# GPU model (family without its memory size) → tier. A100/A800 with 80 GB are premium.
MODEL_TIERS: Final = {
    **dict.fromkeys(
        ("B200", "GH200", "H200", "H100", "H800", "MI325X", "MI300X", "MI300A", "MI300"),
        PREMIUM,
    ),
    **dict.fromkeys(
        ("MAX-1550", "A100", "A800", "A40", "RTX-A6000", "RTX-6000-ADA", "RTX-8000"),
        STANDARD,
    ),
    **dict.fromkeys(("MI250X", "MI250", "MI210", "MI100", "V100S", "V100", "MAX-1100"), STANDARD),
    **dict.fromkeys(
        ("L40S", "L40", "L4", "T4", "A30", "A16", "A10G", "A10", "A2", "P100", "RTX-6000"),
        ECONOMY,
    ),
    **dict.fromkeys(("RTX-3090", "RTX-3080", "FLEX-170"), ECONOMY),
}
_BIG_MEMORY_MODELS: Final = frozenset({"A100", "A800"})
# Tenant tier → scores for node tiers NONE, PREMIUM, STANDARD, ECONOMY, OTHER (reference §7).
MATRIX: Final = {
    "gold": np.array([50.0, 100.0, 70.0, 60.0, 70.0]),
    "silver": np.array([50.0, 20.0, 100.0, 70.0, 70.0]),
    "bronze": np.array([50.0, 20.0, 20.0, 100.0, 70.0]),
}


def model_tier(device: GpuDevice) -> int:
    """The hardware tier of a GPU from its model; NONE for a model not in the table."""
    family = device.family
    model, _, size = family.rpartition("-")
    if not (model and size.endswith("GB") and size[:-2].isdigit()):
        model, size = family, ""
    tier = MODEL_TIERS.get(model, NONE)
    if model in _BIG_MEMORY_MODELS:
        gib = int(size[:-2]) if size else device.memory // GIB
        if gib >= 80:
            return PREMIUM
    return tier


def _label_tier(value: str) -> int:
    return HARDWARE_TIERS.get(value.strip().lower(), OTHER)


@dataclass(slots=True)
class _NodeTiers:
    key: tuple[int, int, int]
    tiers: IntArray


class TenantHardwareAffinityScore:
    name: ClassVar[str] = "TenantHardwareAffinityScore"
    cluster_events: ClassVar[ClusterEvent] = ClusterEvent.NONE  # never rejects a pod

    def __init__(self) -> None:
        self._cached: _NodeTiers | None = None

    def node_tiers(self, nodes: NodeTable) -> IntArray:
        """Per slot, its hardware tier code; rebuilt when labels, GPUs or the node set change."""
        key = (nodes.topology_generation, nodes.gpus.generation, nodes.size)
        if self._cached is not None and self._cached.key == key:
            return self._cached.tiers
        size = nodes.size
        tiers = nodes.label_values(keys.HARDWARE_TIER_LABEL, _label_tier, NONE)
        gpus = nodes.gpus
        if gpus.rows and gpus.kinds:
            kind_tiers = np.array([model_tier(d) for d in gpus.kinds] + [NONE], dtype=np.int64)
            # Best (lowest non-zero code) over the node's GPU kinds; -1 (no kind) reads NONE.
            by_row = kind_tiers[gpus.kind[:, :size]]
            by_row = np.where(by_row == NONE, 99, by_row)
            best = by_row.min(axis=0)
            from_gpus = np.where(best == 99, NONE, best)
            tiers = np.where(tiers == NONE, from_gpus, tiers)
        self._cached = _NodeTiers(key, tiers)
        return tiers

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        if not gpu_count(pod):
            return None
        profile = nodes.profiles.of(pod)
        # No GPUs, no tier declared anywhere (the default tier ranks no hardware), or
        # preferences of its own (preferred node or pod affinity decide).
        if not profile.gpus or profile.tier_source == "default" or states_preferences(pod):
            return None
        row = MATRIX.get(profile.tier, MATRIX["bronze"])
        result: FloatArray = row[take(self.node_tiers(nodes), candidates)]
        return result
