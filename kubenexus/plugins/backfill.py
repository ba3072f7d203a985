"""BackfillScoring (reference §10): pods there to be preempted (preemptible or backfill, from
the workload profile) go to idle room (score = 100 - utilization); other pods pack (score =
utilization). On a node labelled ``tenant.kubenexus.io/reserved-tier`` a pod of a lower tier
loses 15 points per tier between them, whichever kind it is: lower tiers keep off reserved
nodes (the original took the points off before choosing the branch, so backfill pods — the
ones the comment meant — never felt it). Utilization is the node table's blend (see
WorkloadAwareScoring), counting the pods that use the node (finished ones do not).
"""

from __future__ import annotations

from typing import ClassVar, Final

import numpy as np

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.api.profile import reserved_tier_ordinal
from kubenexus.framework import ClusterEvent, CycleState, FloatArray, IntArray, NodeTable
from kubenexus.framework.node_table import take

TIER_PENALTY: Final = 15.0


class BackfillScoring:
    name: ClassVar[str] = "BackfillScoring"
    cluster_events: ClassVar[ClusterEvent] = ClusterEvent.NONE  # never rejects a pod

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        profile = nodes.profiles.of(pod)
        utilization = take(nodes.utilization(), candidates)
        score = 100.0 - utilization if profile.preemptible else utilization.copy()
        if nodes.label_column(keys.RESERVED_TIER_LABEL).values:
            reserved = nodes.label_values(keys.RESERVED_TIER_LABEL, reserved_tier_ordinal, 0)
            gap = take(reserved, candidates) - profile.tier_ordinal
            score -= TIER_PENALTY * np.maximum(gap, 0)
        np.floor(score, out=score)
        np.clip(score, 0.0, 100.0, out=score)
        return score
