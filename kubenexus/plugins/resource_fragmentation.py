"""ResourceFragmentationScore: keep whole GPU nodes ("islands") free for the jobs that need them.

Each node is an island, read from the node table, so it counts exactly the pods that use the
node (running, assumed, reservation placeholders; never finished pods): total = allocatable
``nvidia.com/gpu``, allocated = requested ``nvidia.com/gpu``, available = total - allocated.
Pristine means nothing allocated, unless the label ``gpu.kubenexus.io/is-pristine`` says
otherwise ("true": pristine, any other value: not). Quality comes from the label
``gpu.kubenexus.io/topology`` (nvswitch 100, nvlink 80, pcie 50, anything else 30). The label
``tenant.kubenexus.io/reserved-tier`` keeps a node for a tenant tier and those above it
("" and "none": no reservation; gold 3 > silver 2 > bronze 1, an unknown tier counts as bronze).

Score, the first rule that applies (the original's rules, reference §8.3):

1. the node has no GPUs → the node's CPU utilisation in percent (requested ÷ allocatable cpu ×
   100, truncated; 0 without allocatable cpu). A pod requesting no GPU scores 100 on nodes
   without GPUs and 0 on GPU nodes (when the candidates are of both kinds): CPU work keeps off
   the islands (the original packed it by CPU utilisation, against kube-scheduler's spreading);
2. the pod's tier may not use the node's reserved tier → 10;
3. a training or batch pod on an island of quality ≥ 80 with ≥ 8 GPUs, asking for less than half
   of them, that is not pristine → 30; an interactive pod on an island more than 75 % allocated
   → 15;
4. a pristine island of ≥ 4 GPUs and a request of ≤ 2 → 0 (keep it whole);
5. available = request → 90 (a perfect fit);
6. not pristine and available ≥ request → 100 - (available - request) (complete a used node);
7. ≥ 4 GPUs and a request < total ÷ 2 → 20 + quality ÷ 10;
8. otherwise allocated × 100 ÷ total.

Filter (registered, not enabled by default): a pod requesting GPUs passes only nodes with
enough available GPUs whose reserved tier it may use.

The pod's tenant tier and workload type are its workload profile (``nodes.profiles``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import ClassVar, Final

import numpy as np

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.api.profile import reserved_tier_ordinal, states_preferences
from kubenexus.framework import (
    BoolArray,
    ClusterEvent,
    CycleState,
    FloatArray,
    IntArray,
    NodeTable,
)
from kubenexus.framework.node_table import SCORE_DTYPE, take

TOPOLOGY_QUALITY: Final = {"nvswitch": 100, "nvlink": 80, "pcie": 50}
OTHER_QUALITY: Final = 30

INSUFFICIENT_GPU: Final = f"Insufficient {keys.GPU_NVIDIA}"
RESERVED: Final = "node(s) were reserved for a higher tenant tier"


# --------------------------------------------------------------------------- the pod's profile


# --------------------------------------------------------------------------- the nodes


def _quality(value: str) -> int:
    return TOPOLOGY_QUALITY.get(value.strip().lower(), OTHER_QUALITY)


def _pristine_label(value: str) -> int:
    return 1 if value == "true" else 0


@dataclass(slots=True)
class _Islands:
    """Per-slot facts from the node labels, rebuilt only when labels or the node set change."""

    table: NodeTable
    generation: int
    size: int
    # The label gpu.kubenexus.io/is-pristine: where it is set, and where it says "true".
    pristine_labelled: BoolArray
    pristine_by_label: BoolArray
    any_pristine_label: bool
    high_quality: BoolArray  # quality >= 80 (nvswitch, nvlink)
    rule_7: FloatArray  # 20 + quality / 10 (integer division)
    reserved: IntArray  # the tier ordinal a pod needs; 0: not reserved
    any_reserved: bool


def _read_islands(nodes: NodeTable) -> _Islands:
    pristine = nodes.label_values(keys.GPU_PRISTINE_LABEL, _pristine_label, -1)
    quality = nodes.label_values(keys.GPU_TOPOLOGY_LABEL, _quality, OTHER_QUALITY)
    reserved = nodes.label_values(keys.RESERVED_TIER_LABEL, reserved_tier_ordinal, 0)
    labelled = pristine >= 0
    return _Islands(
        table=nodes,
        generation=nodes.topology_generation,
        size=nodes.size,
        pristine_labelled=labelled,
        pristine_by_label=pristine == 1,
        any_pristine_label=bool(labelled.any()),
        high_quality=quality >= 80,
        rule_7=(20 + quality // 10).astype(np.float64),
        reserved=reserved,
        any_reserved=bool(reserved.any()),
    )


@dataclass(slots=True)
class _CpuScale:
    """100 ÷ allocatable cpu per slot (0 without cpu), rebuilt only when allocatable changes."""

    table: NodeTable
    generation: int
    size: int
    scale: FloatArray


# Added before truncating: more than the float error of requested × (100 ÷ allocatable) (a few
# units in the last place of a value <= 100, ~1e-13), less than the distance of a quotient that
# is not whole from the next whole number (>= 1 ÷ allocatable millicores, >= 1e-9 for nodes of
# up to a million cores). So the truncation is exact.
_TRUNCATION_SLACK: Final = 1e-11


def _cpu_scale(nodes: NodeTable) -> FloatArray:
    row = nodes.resource_index[keys.CPU]
    allocatable = nodes.allocatable[row, : nodes.size]
    scale: FloatArray = np.divide(
        100.0, allocatable, out=np.zeros(nodes.size), where=allocatable > 0
    )
    return scale


class ResourceFragmentationScore:
    name: ClassVar[str] = "ResourceFragmentationScore"
    # The filter's rejections: more GPUs (a node, allocatable up, a pod gone) or a label change.
    cluster_events: ClassVar[ClusterEvent] = (
        ClusterEvent.NODE_ADDED
        | ClusterEvent.NODE_ALLOCATABLE_UP
        | ClusterEvent.POD_REMOVED
        | ClusterEvent.NODE_LABELS
    )

    def __init__(self) -> None:
        self._islands: _Islands | None = None
        self._cpu: _CpuScale | None = None
        # CPU-only pods' scores over every slot, per (allocatable generation, size).
        self._off_key: tuple[int, int] | None = None
        self._off_scores: FloatArray = np.zeros(0)
        self._off_uniform = True

    def cpu_utilisation(self, nodes: NodeTable, candidates: IntArray) -> FloatArray:
        """Requested ÷ allocatable cpu × 100, truncated, in 0..100 (0 without allocatable cpu)."""
        cached = self._cpu
        if (
            cached is None
            or cached.table is not nodes
            or cached.generation != nodes.allocatable_generation
            or cached.size != nodes.size
        ):
            cached = self._cpu = _CpuScale(
                nodes, nodes.allocatable_generation, nodes.size, _cpu_scale(nodes)
            )
        row = nodes.resource_index[keys.CPU]
        requested = take(nodes.requested[row, : nodes.size], candidates)
        percent: FloatArray = np.multiply(requested, take(cached.scale, candidates))
        percent += _TRUNCATION_SLACK
        np.floor(percent, out=percent)
        np.minimum(percent, 100.0, out=percent)
        return percent

    def islands(self, nodes: NodeTable) -> _Islands:
        cached = self._islands
        if (
            cached is not None
            and cached.table is nodes
            and cached.generation == nodes.topology_generation
            and cached.size == nodes.size
        ):
            return cached
        self._islands = _read_islands(nodes)
        return self._islands

    # ------------------------------------------------------------------ filter (off by default)

    def _verdicts(self, pod: PodInfo, nodes: NodeTable) -> tuple[BoolArray, BoolArray] | None:
        """(enough GPUs, tier allowed) per slot; None for a pod that requests no GPU."""
        gpus = pod.requests.get(keys.GPU_NVIDIA, 0)
        if not gpus:
            return None
        size = nodes.size
        row = nodes.resource_row(keys.GPU_NVIDIA)
        if row is None:  # no node has ever offered GPUs
            return np.zeros(size, dtype=np.bool_), np.ones(size, dtype=np.bool_)
        enough = nodes.free[row, :size] >= gpus
        allowed = self.islands(nodes).reserved <= nodes.profiles.of(pod).tier_ordinal
        return enough, allowed

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        verdicts = self._verdicts(pod, nodes)
        if verdicts is None:
            return None
        enough, allowed = verdicts
        mask: BoolArray = enough & allowed
        return mask

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        verdicts = self._verdicts(pod, nodes)
        if verdicts is None:
            return Counter()
        enough = verdicts[0][rejected]
        short = int(np.count_nonzero(~enough))
        reserved = int(rejected.size) - short
        reasons: Counter[str] = Counter()
        if short:
            reasons[INSUFFICIENT_GPU] = short
        if reserved:
            reasons[RESERVED] = reserved
        return reasons

    def unresolvable(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> BoolArray:
        """Nodes reserved for a higher tier (enough GPUs there): no eviction lowers a tier."""
        verdicts = self._verdicts(pod, nodes)
        if verdicts is None:
            return np.zeros(rejected.size, dtype=np.bool_)
        return np.asarray(verdicts[0][rejected], dtype=np.bool_)

    # ------------------------------------------------------------------ score

    def _off_the_islands(
        self, nodes: NodeTable, row: int, candidates: IntArray
    ) -> FloatArray | None:
        """A pod requesting no GPU: nodes without GPUs 100, GPU nodes 0 — CPU work does not
        take the cpu and memory GPU jobs need there (the original's rule 1 packed it by CPU
        utilisation instead). No opinion when the candidates are all of one kind."""
        key = (nodes.allocatable_generation, nodes.size)
        if self._off_key != key:  # one row for every CPU-only pod until allocatable changes
            self._off_key = key
            has_gpus = nodes.allocatable[row, : nodes.size] > 0
            self._off_scores = np.where(has_gpus, 0.0, 100.0).astype(SCORE_DTYPE)
            live = self._off_scores[nodes.valid[: nodes.size]]
            self._off_uniform = bool(live.size == 0 or live.min() == live.max())
        if self._off_uniform and candidates.size == nodes.size:
            return None
        score: FloatArray = take(self._off_scores, candidates)
        if candidates.size != nodes.size and (score.size == 0 or score.min() == score.max()):
            return None
        return score

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        request = pod.requests.get(keys.GPU_NVIDIA, 0)
        row = nodes.resource_row(keys.GPU_NVIDIA)
        if row is None:
            return None
        if not request:
            if states_preferences(pod):
                return None  # its own preferences decide between CPU and GPU nodes
            return self._off_the_islands(nodes, row, candidates)
        size = nodes.size
        islands = self.islands(nodes)
        total = take(nodes.allocatable[row, :size], candidates)
        allocated = take(nodes.requested[row, :size], candidates)
        available = take(nodes.free[row, :size], candidates)
        pristine = allocated == 0
        if islands.any_pristine_label:
            labelled = take(islands.pristine_labelled, candidates)
            np.copyto(pristine, take(islands.pristine_by_label, candidates), where=labelled)
        # request < total // 2 (integer division), and an island of at least 4
        under_half = total >= max(4, 2 * request + 2)

        # The rules from the last to the first, each overwriting where it applies, so the
        # first rule that applies is the one that stays. (putmask and where: numpy's ``where=``
        # keyword is several times slower on whole rows.)
        island = total > 0
        score: FloatArray = np.multiply(allocated, 100.0)  # 8: the share allocated
        score /= np.maximum(total, 1)
        np.floor(score, out=score)
        score = np.where(under_half, take(islands.rule_7, candidates), score)  # 7
        completes = available >= request  # 6: complete a used island
        completes &= ~pristine
        score = np.where(completes, (100 + request) - available, score)
        np.putmask(score, available == request, 90.0)  # 5: a perfect fit
        if request <= 2:  # 4: keep a pristine island of 4 or more whole
            np.putmask(score, pristine & (total >= 4), 0.0)
        profile = nodes.profiles.of(pod)
        workload = profile.workload
        if workload in {"training", "batch"}:  # 3
            penalised = take(islands.high_quality, candidates) & under_half
            penalised &= total >= 8
            penalised &= ~pristine
            np.putmask(score, penalised, 30.0)
        elif workload == "interactive":  # 3: allocated × 100 ÷ total (truncated) above 75
            np.putmask(score, allocated * 100 >= total * 76, 15.0)
        if islands.any_reserved:  # 2
            np.putmask(score, take(islands.reserved, candidates) > profile.tier_ordinal, 10.0)
        if not island.all():  # 1: no island: the cpu utilisation
            score = np.where(island, score, self.cpu_utilisation(nodes, candidates))
        np.clip(score, 0.0, 100.0, out=score)
        return score
