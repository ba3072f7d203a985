"""WorkloadAwareScoring: bin-pack or spread by workload type (reference §12). Training and batch
pods fill nodes (score = the node's utilization); with ``spreadServices`` services, inference
and interactive pods spread (100 - utilization), as the original did. That is off by default:
NodeResourcesFit's LeastAllocated already spreads them, and a profile that packs everything
with MostAllocated should not find its services pulled apart by a second scorer.

Utilization is the node table's blend (0.35 cpu + 0.35 memory + 0.30 GPUs on GPU nodes; cpu and
memory alone elsewhere, where the original capped it at 70), kept per node as pods come and go,
so a pod costs one array read.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from kubenexus.api.objects import PodInfo
from kubenexus.framework import ClusterEvent, CycleState, FloatArray, IntArray, NodeTable
from kubenexus.framework.node_table import take
from kubenexus.plugins.args import PluginArgs


class WorkloadAwareScoringArgs(PluginArgs):
    spread_services: bool = False


class WorkloadAwareScoring:
    name: ClassVar[str] = "WorkloadAwareScoring"
    cluster_events: ClassVar[ClusterEvent] = ClusterEvent.NONE  # never rejects a pod

    def __init__(self, args: WorkloadAwareScoringArgs | None = None) -> None:
        self.args = args or WorkloadAwareScoringArgs()

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        packs = nodes.profiles.of(pod).packs
        if not packs and not self.args.spread_services:
            return None
        utilization = take(nodes.utilization(), candidates)
        score: FloatArray = np.floor(utilization if packs else 100.0 - utilization)
        return score
