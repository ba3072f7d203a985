"""TaintToleration: NoSchedule/NoExecute taints must be tolerated; PreferNoSchedule is scored.

Nodes share few distinct taint sets, so a pod's tolerations are checked once per taint set and
the answer is spread to every node with a lookup (``ok_by_set[taint_group]``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from kubenexus.api.objects import PodInfo, Taint, Toleration
from kubenexus.framework import (
    SUCCESS,
    BoolArray,
    ClusterEvent,
    CycleState,
    FloatArray,
    IntArray,
    NodeTable,
    Status,
)

_HARD_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
UNTOLERATED = "node(s) had untolerated taint(s)"
# Distinct toleration lists seen recently; bounded so odd workloads cannot grow it forever.
_CACHE_LIMIT = 4096


def untolerated(taints: tuple[Taint, ...], tolerations: tuple[Toleration, ...]) -> Taint | None:
    """The first NoSchedule/NoExecute taint none of the tolerations tolerates."""
    for taint in taints:
        if taint.effect in _HARD_EFFECTS and not any(t.tolerates(taint) for t in tolerations):
            return taint
    return None


@dataclass(slots=True)
class _Verdicts:
    sets_generation: int
    ok_by_set: BoolArray
    # ok_by_set spread over the node slots, valid while the topology generation is unchanged.
    node_mask: BoolArray | None
    mask_generation: int
    blocking: list[Taint | None]
    prefer_counts: npt.NDArray[np.float64]
    any_preferred: bool


class TaintToleration:
    name: ClassVar[str] = "TaintToleration"
    # A node without the taints appeared, or its taints changed.
    cluster_events: ClassVar[ClusterEvent] = ClusterEvent.NODE_ADDED | ClusterEvent.NODE_TAINTS

    def __init__(self) -> None:
        self._cache: dict[tuple[Toleration, ...], _Verdicts] = {}

    def _verdicts(self, pod: PodInfo, nodes: NodeTable) -> _Verdicts:
        sets = nodes.taint_sets
        cached = self._cache.get(pod.tolerations)
        if cached is not None and cached.sets_generation == nodes.taint_sets_generation:
            return cached
        blocking = [untolerated(taints, pod.tolerations) for taints in sets]
        prefer = [
            sum(
                1
                for taint in taints
                if taint.effect == "PreferNoSchedule"
                and not any(t.tolerates(taint) for t in pod.tolerations)
            )
            for taints in sets
        ]
        verdicts = _Verdicts(
            sets_generation=nodes.taint_sets_generation,
            ok_by_set=np.array([b is None for b in blocking], dtype=np.bool_),
            node_mask=None,
            mask_generation=-1,
            blocking=blocking,
            prefer_counts=np.array(prefer, dtype=np.float64),
            any_preferred=any(prefer),
        )
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[pod.tolerations] = verdicts
        return verdicts

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        verdicts = self._verdicts(pod, nodes)
        if verdicts.ok_by_set.all():
            return None
        mask = verdicts.node_mask
        if (
            mask is None
            or verdicts.mask_generation != nodes.topology_generation
            or mask.size != nodes.size
        ):
            mask = verdicts.ok_by_set[nodes.taint_group[: nodes.size]]
            verdicts.node_mask, verdicts.mask_generation = mask, nodes.topology_generation
        return mask

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        # As kube-scheduler today: the nodes are counted, the taints not named.
        return Counter({UNTOLERATED: int(rejected.size)})

    def unresolvable(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> BoolArray:
        """No eviction removes a taint."""
        return np.ones(rejected.size, dtype=np.bool_)

    def raw_scores(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        """Untolerated PreferNoSchedule taints per node, before normalizing (explain)."""
        verdicts = self._verdicts(pod, nodes)
        if not verdicts.any_preferred:
            return None
        counts: FloatArray = verdicts.prefer_counts[nodes.taint_group[candidates]].astype(
            np.float64
        )
        return counts

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        """Fewer untolerated PreferNoSchedule taints score higher (kube: reverse normalized)."""
        verdicts = self._verdicts(pod, nodes)
        if not verdicts.any_preferred:
            return None  # every node is equal for this pod
        counts = verdicts.prefer_counts[nodes.taint_group[candidates]]
        worst = counts.max() if counts.size else 0.0
        if worst == 0:
            return np.full(candidates.size, 100.0)
        return 100.0 - counts * (100.0 / worst)
