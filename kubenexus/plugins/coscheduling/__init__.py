"""Coscheduling: gangs (PodGroups) are placed all-or-nothing.

This module is the framework adapter; gang state lives in ``GangManager`` and the all-or-nothing
planning of a gang is done by the scheduler, which plans every pending member in one pass and
commits only if the quorum fits (nothing is held by a gang that cannot complete, so competing
gangs never deadlock). The plugin:

- queue sort: priority (with the starvation boost), then the gang's age, so members stay together
  and older gangs go first;
- pre-filter: a member whose gang declaration is malformed is unresolvable (the message says why);
- reserve/unreserve: track the members placed in the current plan;
- permit: the quorum gate — members pass only when ``minMember`` of them are placed or planned.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kubenexus.api.gang import PodGroupSpec
from kubenexus.api.objects import PodInfo
from kubenexus.framework import SUCCESS, ClusterEvent, CycleState, NodeTable, QueuedPod, Status
from kubenexus.framework.cycle_state import GANG_STILL_TO_PLACE
from kubenexus.plugins.coscheduling.manager import GangManager, GangSize
from kubenexus.plugins.priority_sort import PrioritySortArgs


class CoschedulingArgs(PrioritySortArgs):
    # A gang that cannot complete within this many seconds after its first member arrived is
    # reported (Event, PodGroup condition); it keeps being retried with backoff.
    default_schedule_timeout_seconds: float = Field(default=60.0, gt=0)
    # After a gang made room by preemption, it may not preempt again for this long (no
    # eviction storms while its victims terminate).
    preemption_cooldown_seconds: float = Field(default=30.0, ge=0)


class Coscheduling:
    name: ClassVar[str] = "Coscheduling"
    # Its PodGroup changed, a member arrived, or room was freed for the gang.
    cluster_events: ClassVar[ClusterEvent] = ClusterEvent.POD_GROUP | ClusterEvent.POD_REMOVED

    def __init__(self, args: CoschedulingArgs | None = None) -> None:
        self.args = args or CoschedulingArgs()
        self.gangs = GangManager(self.args.default_schedule_timeout_seconds)
        self.gangs.preemption_cooldown_seconds = self.args.preemption_cooldown_seconds

    # ------------------------------------------------------------------ queue sort

    def _group_time(self, entry: QueuedPod) -> float:
        if entry.pod.gang:
            return self.gangs.first_seen.get(entry.pod.gang, entry.first_seen)
        return entry.first_seen

    def sort_key(self, entry: QueuedPod, now: float) -> tuple[Any, ...]:
        since = self._group_time(entry)
        priority = entry.pod.priority
        threshold = self.args.starvation_threshold_seconds
        if threshold > 0 and now - since >= threshold:
            priority += self.args.starvation_priority_boost
        return (-priority, since, entry.first_seen)

    def key_changes_at(self, entry: QueuedPod) -> float | None:
        threshold = self.args.starvation_threshold_seconds
        return self._group_time(entry) + threshold if threshold > 0 else None

    # ------------------------------------------------------------------ cycle hooks

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        if pod.gang_error:
            return Status.unresolvable(f"pod group {pod.gang}: {pod.gang_error}", plugin=self.name)
        if pod.gang:
            # Plugins that keep a gang together (NetworkFabricScore's cliques) size the room.
            state.write(GANG_STILL_TO_PLACE, self.gangs.requests_to_place(pod.gang, pod))
        return SUCCESS

    def permit(self, state: CycleState, pod: PodInfo, nodes: NodeTable, slot: int) -> Status:
        """The quorum gate: a gang member passes only once ``minMember`` members are placed
        or reserved in the same plan (the scheduler plans a gang's members in one pass)."""
        if not pod.gang:
            return SUCCESS
        if pod.role and not self.gangs.planning(pod.gang):
            # A driver-led gang (a driver and its executors) is admitted by the driver's
            # reservation, not by a quorum of members that cannot all exist yet.
            return SUCCESS
        return self.gangs.quorum_status(pod.gang, plugin=self.name)

    def reserve(self, state: CycleState, pod: PodInfo, nodes: NodeTable, slot: int) -> Status:
        if pod.gang:
            self.gangs.reserve(pod.gang, pod.key)
        return SUCCESS

    def unreserve(self, state: CycleState, pod: PodInfo, nodes: NodeTable, slot: int) -> None:
        if pod.gang:
            self.gangs.unreserve(pod.gang, pod.key)


__all__ = ["Coscheduling", "CoschedulingArgs", "GangManager", "GangSize", "PodGroupSpec"]
