"""The I/O-free scheduler: cluster events in, placement decisions out.

The shell (or the simulator) feeds it nodes and pods, asks for the next decision, binds, and
reports back. Everything here is synchronous and deterministic for a given clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kubenexus.api.objects import NodeInfo, PodInfo
from kubenexus.framework import Failure, Placement, PluginError, Profile
from kubenexus.framework.interfaces import QueuedPod
from kubenexus.scheduler.cache import ClusterCache
from kubenexus.scheduler.queue import QueueSettings, SchedulingQueue

Clock = Callable[[], float]


@dataclass(slots=True)
class Scheduled:
    """Bind ``pod`` to ``node`` (already assumed in the cache), writing ``annotations`` first."""

    entry: QueuedPod
    placement: Placement

    @property
    def pod(self) -> PodInfo:
        return self.entry.pod

    @property
    def node(self) -> str:
        return self.placement.node_name


@dataclass(slots=True)
class Unschedulable:
    """The pod fits nowhere now; ``message`` (kube-scheduler style) is for the Event."""

    entry: QueuedPod
    failure: Failure

    @property
    def pod(self) -> PodInfo:
        return self.entry.pod

    @property
    def message(self) -> str:
        return self.failure.message


Outcome = Scheduled | Unschedulable


class Scheduler:
    def __init__(
        self,
        profiles: Mapping[str, Profile],
        *,
        queue_settings: QueueSettings | None = None,
        # Wall-clock seconds: queue age is compared with pods' creationTimestamp.
        clock: Clock = time.time,
    ) -> None:
        if not profiles:
            raise ValueError("at least one scheduling profile is required")
        self.profiles = dict(profiles)
        first = next(iter(self.profiles.values()))
        self.cache = ClusterCache()
        self.queue = SchedulingQueue(first.queue_sort, clock, queue_settings)
        self.clock = clock
        self._in_flight: dict[str, Scheduled] = {}

    @property
    def nodes(self) -> int:
        return len(self.cache.nodes)

    def responsible_for(self, pod: PodInfo) -> bool:
        return pod.scheduler_name in self.profiles

    # ------------------------------------------------------------------ cluster events

    def upsert_node(self, node: NodeInfo) -> None:
        self.cache.upsert_node(node)
        self.queue.move_all()

    def remove_node(self, name: str) -> None:
        self.cache.remove_node(name)

    def upsert_pod(self, pod: PodInfo) -> None:
        """Any pod the cluster shows. Bound pods are counted; our pending pods are queued."""
        if pod.node_name or pod.terminal:
            freed = pod.key in self.cache and pod.terminal
            self.queue.delete(pod.key)
            self._in_flight.pop(pod.key, None)
            self.cache.upsert_pod(pod)
            if freed:
                self.queue.move_all()
            return
        if pod.deleting or not self.responsible_for(pod):
            return
        if pod.key in self._in_flight or pod.key in self.cache:
            # Already placed by us: an update still showing it unbound predates the binding.
            return
        self.queue.add(pod)

    def remove_pod(self, key: str) -> None:
        self.queue.delete(key)
        self._in_flight.pop(key, None)
        if self.cache.remove_pod(key) is not None:
            self.queue.move_all()

    # ------------------------------------------------------------------ decisions

    def schedule_one(self) -> Outcome | None:
        """Pop the next ready pod and decide; None when no pod is ready."""
        entry = self.queue.pop()
        if entry is None:
            return None
        pod = entry.pod
        profile = self.profiles[pod.scheduler_name]
        nodes = self.cache.nodes
        try:
            result = profile.find_node(pod, nodes)
        except PluginError as exc:
            failure = Failure(error=str(exc))
            self.queue.requeue_backoff(entry, failure.message)
            return Unschedulable(entry, failure)
        if isinstance(result, Failure):
            self.queue.requeue_unschedulable(entry, result.message)
            return Unschedulable(entry, result)
        status = profile.reserve(result, pod, nodes)
        if status.ok:
            status = profile.permit(result, pod, nodes)
            if not status.ok:
                profile.unreserve(result, pod, nodes)
        if not status.ok:
            failure = Failure(
                error=f"{status.plugin or 'plugin'} rejected {result.node_name}: {status.message}"
            )
            self.queue.requeue_unschedulable(entry, failure.message)
            return Unschedulable(entry, failure)
        self.cache.assume(pod, result.node_name)
        decision = Scheduled(entry, result)
        self._in_flight[pod.key] = decision
        self.queue.delete(pod.key)
        return decision

    def binding_succeeded(self, key: str) -> None:
        """The Binding exists; the pod stays counted until the API shows it gone or finished."""
        self._in_flight.pop(key, None)

    def binding_failed(self, key: str, message: str, *, retry: bool = True) -> None:
        """Binding failed: forget the assumption; requeue with backoff unless told not to."""
        decision = self._in_flight.pop(key, None)
        if decision is None:
            return
        pod = decision.pod
        self.profiles[pod.scheduler_name].unreserve(decision.placement, pod, self.cache.nodes)
        self.cache.forget(key)
        self.queue.move_all()
        if retry:
            self.queue.restore(decision.entry, message)

    def run_until_idle(self, on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Decide for every ready pod (binding each at once); for the simulator and benchmarks."""
        outcomes: list[Outcome] = []
        while (outcome := self.schedule_one()) is not None:
            if isinstance(outcome, Scheduled):
                self.binding_succeeded(outcome.pod.key)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        return outcomes
