"""Cluster changes that can make a waiting pod schedulable (kube-scheduler's queueing hints).

A pod that fits nowhere waits in the unschedulable pool until a change that could help it: each
plugin declares the changes that can undo its own rejections (``cluster_events``), and a pod is
woken only by a change one of its rejecting plugins cares about. A node heartbeat that changes
nothing the scheduler reads wakes nobody.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Final


class ClusterEvent(enum.Flag):
    NODE_ADDED = enum.auto()
    # Some resource of a node grew (allocatable up): more room.
    NODE_ALLOCATABLE_UP = enum.auto()
    NODE_TAINTS = enum.auto()
    NODE_LABELS = enum.auto()
    NODE_ANNOTATIONS = enum.auto()
    # A cordoned node was uncordoned.
    NODE_SCHEDULABLE = enum.auto()
    # A node's NUMA topology object (NodeResourceTopology) changed.
    NODE_TOPOLOGY = enum.auto()
    # A pod stopped using capacity: deleted, finished, its assumption forgotten.
    POD_REMOVED = enum.auto()
    # A gang's PodGroup changed or a member arrived.
    POD_GROUP = enum.auto()
    # A pod was placed on a node (by us or anyone), or a placed pod's labels changed: rules
    # about other pods (affinity, topology spread) may now be met.
    POD_ADDED = enum.auto()
    # A Namespace's labels changed (namespaceSelector of affinity terms).
    NAMESPACE_LABELS = enum.auto()
    # A node went away (a topology domain with it: the spread minimum may rise).
    NODE_REMOVED = enum.auto()

    NONE = 0
    ALL = (
        NODE_ADDED
        | NODE_ALLOCATABLE_UP
        | NODE_TAINTS
        | NODE_LABELS
        | NODE_ANNOTATIONS
        | NODE_SCHEDULABLE
        | NODE_TOPOLOGY
        | POD_REMOVED
        | POD_GROUP
        | POD_ADDED
        | NAMESPACE_LABELS
        | NODE_REMOVED
    )


# Every node change: what a plugin that reads any node fact registers for.
ANY_NODE_CHANGE: Final = (
    ClusterEvent.NODE_ADDED
    | ClusterEvent.NODE_ALLOCATABLE_UP
    | ClusterEvent.NODE_TAINTS
    | ClusterEvent.NODE_LABELS
    | ClusterEvent.NODE_ANNOTATIONS
    | ClusterEvent.NODE_SCHEDULABLE
    | ClusterEvent.NODE_TOPOLOGY
)


def plugin_events(plugin: object) -> ClusterEvent:
    """The changes that can undo the plugin's rejections; every change when it declares none."""
    events = getattr(plugin, "cluster_events", None)
    return events if isinstance(events, ClusterEvent) else ClusterEvent.ALL


def wake_events(rejected_by: Iterable[str], interests: Mapping[str, ClusterEvent]) -> ClusterEvent:
    """What may make a pod rejected by these plugins schedulable (every change if unknown)."""
    events = ClusterEvent.NONE
    for name in rejected_by:
        events |= interests.get(name, ClusterEvent.ALL)
    return events
