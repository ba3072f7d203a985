"""TopologyScoring: spread a service's replicas across zones (reference §12, corrected).

For services, inference and interactive pods with an owner (a ReplicaSet, StatefulSet…), the
pod's own replicas — counted pods of the same owner — are counted per zone
(``topology.kubernetes.io/zone``): the zone with the fewest scores 100, the one with the most
0, linearly between; a node without a zone scores 50. The original counted nodes per zone, so
smaller zones won whatever the replicas did. Training and batch pods, pods without an owner,
owners with no replica placed yet, and pods that state placement preferences of their own
(preferred node affinity, inter-pod affinity, topology spread constraints: those plugins
decide) get no score.
"""

from __future__ import annotations

from typing import ClassVar, Final

import numpy as np

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.api.profile import states_preferences
from kubenexus.framework import ClusterEvent, CycleState, FloatArray, IntArray, NodeTable
from kubenexus.framework.node_table import MISSING, take

NO_ZONE_SCORE: Final = 50.0


class TopologyScoring:
    name: ClassVar[str] = "TopologyScoring"
    cluster_events: ClassVar[ClusterEvent] = ClusterEvent.NONE  # never rejects a pod

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        owner = pod.owner
        if owner is None or states_preferences(pod) or nodes.profiles.of(pod).packs:
            return None
        replicas = nodes.pods.owned_by(pod.namespace, owner.kind, owner.name)
        if not replicas:
            return None
        column = nodes.label_column(keys.ZONE_LABEL)
        if not column.values:
            return None
        zones = column.codes[: nodes.size]
        slots = np.fromiter(replicas.keys(), dtype=np.int64, count=len(replicas))
        counts = np.fromiter(replicas.values(), dtype=np.int64, count=len(replicas))
        zone_of = zones[slots]
        zoned = zone_of != MISSING
        per_zone = np.bincount(zone_of[zoned], weights=counts[zoned], minlength=column.width)
        candidate_zones = take(zones, candidates)
        has_zone = candidate_zones != MISSING
        in_zone = per_zone[np.where(has_zone, candidate_zones, 0)]
        present = np.unique(candidate_zones[has_zone])
        if present.size == 0:
            return None
        most, fewest = per_zone[present].max(), per_zone[present].min()
        if most == fewest:
            return None if has_zone.all() else np.where(has_zone, 100.0, NO_ZONE_SCORE)
        score = 100.0 * (most - in_zone) / (most - fewest)
        return np.where(has_zone, np.floor(score), NO_ZONE_SCORE)
