"""The I/O-free scheduler: cluster events in, placement decisions out.

The shell (or the simulator) feeds it nodes and pods, asks for the next decision, binds, and
reports back. Everything here is synchronous and deterministic for a given clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kubenexus.api.objects import NodeInfo, PodInfo
from kubenexus.api.quantity import format_amount
from kubenexus.framework import CacheObserver, Failure, Placement, PluginError, Profile, Status
from kubenexus.framework.interfaces import QueuedPod
from kubenexus.plugins.coscheduling import Coscheduling, GangManager, PodGroupSpec
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


@dataclass(frozen=True, slots=True)
class _GangPlan:
    gang: str
    members: list[QueuedPod]
    gangs: GangManager
    size: int
    placed: int
    now: float


def _coscheduling(profile: Profile) -> Coscheduling | None:
    plugins = [profile.queue_sort, *profile.pre_filters, *profile.reserves, *profile.permits]
    return next((p for p in plugins if isinstance(p, Coscheduling)), None)


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
        observers = {
            id(p): p
            for profile in self.profiles.values()
            for p in (
                *profile.pre_filters,
                *profile.filters,
                *profile.reserves,
                *profile.annotators,
            )
            if isinstance(p, CacheObserver)
        }
        self.cache.observers = list(observers.values())
        self.queue = SchedulingQueue(first.queue_sort, clock, queue_settings)
        self.clock = clock
        self._in_flight: dict[str, Scheduled] = {}
        # Per profile, the gang state of its Coscheduling plugin (no plugin: no gangs).
        self._gangs: dict[str, GangManager] = {
            name: plugin.gangs for name, p in self.profiles.items() if (plugin := _coscheduling(p))
        }

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
        is_new = pod.key not in self.queue
        self.queue.add(pod)
        gangs = self._gangs.get(pod.scheduler_name)
        if pod.gang and gangs is not None and is_new:
            entry = self.queue.entry(pod.key)
            if entry is not None:
                gangs.note_arrival(pod.gang, entry.first_seen)
            # A new member may complete the gang: retry the members waiting for it now.
            for member in self.queue.gang_members(pod.gang):
                self.queue.activate(member.pod.key)

    def upsert_pod_group(self, key: str, spec: PodGroupSpec | None) -> None:
        """A PodGroup object appeared, changed (None: removed or invalid); its members retry."""
        for gangs in self._gangs.values():
            if spec is None:
                gangs.remove_pod_group(key)
            else:
                gangs.upsert_pod_group(key, spec)
        for member in self.queue.gang_members(key):
            self.queue.activate(member.pod.key)

    def remove_pod(self, key: str) -> None:
        entry = self.queue.delete(key)
        self._in_flight.pop(key, None)
        removed = self.cache.remove_pod(key)
        if removed is not None:
            self.queue.move_all()
        pod = removed or (entry.pod if entry is not None else None)
        if pod is not None and pod.gang:
            gangs = self._gangs.get(pod.scheduler_name)
            if (
                gangs is not None
                and not self.queue.gang_members(pod.gang)
                and not self.cache.gang_placed(pod.gang)
            ):
                gangs.forget(pod.gang)

    # ------------------------------------------------------------------ decisions

    def schedule_one(self) -> Outcome | None:
        """Decide for the next ready pod (or gang); its first outcome, None when none is ready."""
        outcomes = self.schedule_next()
        return outcomes[0] if outcomes else None

    def schedule_next(self) -> list[Outcome]:
        """Pop the next ready pod and decide; a gang member brings its whole gang along.

        Empty when no pod is ready.
        """
        entry = self.queue.pop()
        if entry is None:
            return []
        pod = entry.pod
        gangs = self._gangs.get(pod.scheduler_name)
        if pod.gang and gangs is not None and not pod.gang_error:
            return self._schedule_gang(entry, gangs)
        return [self._schedule_pod(entry)]

    def _schedule_pod(self, entry: QueuedPod) -> Outcome:
        pod = entry.pod
        profile = self.profiles[pod.scheduler_name]
        nodes = self.cache.nodes
        try:
            result = profile.find_node(pod, nodes)
        except PluginError as exc:
            failure = Failure(error=str(exc), internal=True)
            self.queue.requeue_backoff(entry, failure.message)
            return Unschedulable(entry, failure)
        if isinstance(result, Failure):
            self.queue.requeue_unschedulable(entry, result.message)
            return Unschedulable(entry, result)
        status = self._reserve_and_permit(profile, result, pod)
        if not status.ok:
            failure = Failure(
                error=f"{status.plugin or 'plugin'} rejected {result.node_name}: {status.message}"
            )
            self.queue.requeue_unschedulable(entry, failure.message)
            return Unschedulable(entry, failure)
        return self._commit(entry, result)

    def _reserve_and_permit(self, profile: Profile, placement: Placement, pod: PodInfo) -> Status:
        nodes = self.cache.nodes
        status = profile.reserve(placement, pod, nodes)
        if status.ok:
            status = profile.permit(placement, pod, nodes)
            if not status.ok:
                profile.unreserve(placement, pod, nodes)
        return status

    def _commit(self, entry: QueuedPod, placement: Placement) -> Scheduled:
        pod = entry.pod
        if pod.key not in self.cache:
            self.cache.assume(pod, placement.node_name)
        decision = Scheduled(entry, placement)
        self._in_flight[pod.key] = decision
        self.queue.delete(pod.key)
        return decision

    def _schedule_gang(self, first: QueuedPod, gangs: GangManager) -> list[Outcome]:
        """All-or-nothing: plan every pending member in one pass, commit only if the quorum fits.

        Members are placed one after another on the live cache (each sees the capacity the
        previous ones took) and rolled back together if the gang cannot complete: nothing is
        held by an incomplete gang, so competing gangs never deadlock.
        """
        gang = first.pod.gang
        members = [first]
        for member in self.queue.gang_members(gang):
            if member is not first and member.pod.key not in self._in_flight:
                self.queue.take(member)
                members.append(member)
        now = self.clock()
        members.sort(key=lambda m: self.queue.sort_key(m, now))
        placed = self.cache.gang_placed(gang)
        size = gangs.size(gang, [m.pod for m in members])
        if size.size is None:
            return self._gang_waits(members, size.problem)
        if size.size <= placed:  # quorum already running: the rest join one by one
            gangs.begin_plan(gang, size.size, placed)
            try:
                return [self._schedule_pod(m) for m in members]
            finally:
                gangs.end_plan(gang)
        if placed + len(members) < size.size:
            return self._gang_waits(
                members,
                f"waiting for pod group {gang}: {placed + len(members)} of minMember {size.size} "
                "members exist",
            )
        short = self._short_of_min_resources(gang, gangs)
        if short:
            return self._gang_waits(members, short)
        return self._plan_gang(_GangPlan(gang, members, gangs, size.size, placed, now))

    def _plan_gang(self, plan: _GangPlan) -> list[Outcome]:
        profile = self.profiles[plan.members[0].pod.scheduler_name]
        nodes = self.cache.nodes
        plan.gangs.begin_plan(plan.gang, plan.size, plan.placed)
        planned: list[tuple[QueuedPod, Placement]] = []
        failed: list[tuple[QueuedPod, Failure]] = []
        try:
            for member in plan.members:
                pod = member.pod
                try:
                    result = profile.find_node(pod, nodes)
                except PluginError as exc:
                    result = Failure(error=str(exc), internal=True)
                if isinstance(result, Failure):
                    failed.append((member, result))
                    continue
                status = profile.reserve(result, pod, nodes)
                if not status.ok:
                    failed.append((member, Failure(error=f"{result.node_name}: {status.message}")))
                    continue
                self.cache.assume(pod, result.node_name)  # the next member sees it taken
                planned.append((member, result))
            permits = [profile.permit(p, m.pod, nodes) for m, p in planned]
            if planned and all(status.ok for status in permits):
                outcomes: list[Outcome] = [self._commit(m, p) for m, p in planned]
                for member, failure in failed:  # beyond the quorum: retried on their own
                    self.queue.requeue_unschedulable(member, failure.message)
                    outcomes.append(Unschedulable(member, failure))
                return outcomes
            for member, placement in planned:
                profile.unreserve(placement, member.pod, nodes)
                self.cache.forget(member.pod.key)
        finally:
            plan.gangs.end_plan(plan.gang)
        reason = (
            f"pod group {plan.gang}: only {plan.placed + len(planned)} of minMember {plan.size} "
            "members fit"
        )
        if failed:
            member, failure = failed[0]
            reason += f"; {member.pod.full_name}: {failure.message}"
        waited = plan.now - plan.gangs.first_seen.get(plan.gang, plan.now)
        timeout = plan.gangs.timeout_of(plan.gang)
        if waited >= timeout:
            reason = f"timed out after {timeout:.0f}s: {reason}"
        return self._gang_waits(plan.members, reason)

    def _gang_waits(self, members: list[QueuedPod], message: str) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for member in members:
            self.queue.requeue_unschedulable(member, message)
            outcomes.append(Unschedulable(member, Failure(error=message)))
        return outcomes

    def _short_of_min_resources(self, gang: str, gangs: GangManager) -> str:
        """Why the gang cannot fit even in the whole cluster's free capacity, or ""."""
        spec = gangs.pod_groups.get(gang)
        if spec is None or not spec.min_resources:
            return ""
        nodes = self.cache.nodes
        usable = nodes.valid[: nodes.size] & ~nodes.unschedulable[: nodes.size]
        for resource, amount in spec.min_resources.items():
            row = nodes.resource_row(resource)
            free = (
                0 if row is None else int(nodes.free[row, : nodes.size][usable].clip(min=0).sum())
            )
            if free < amount:
                return (
                    f"pod group {gang} needs {format_amount(resource, amount)} {resource} in total "
                    f"but the cluster has {format_amount(resource, free)} free: not tried"
                )
        return ""

    def binding_succeeded(self, key: str) -> None:
        """The Binding exists; the pod stays counted until the API shows it gone or finished."""
        self._in_flight.pop(key, None)
        self.cache.finish_binding(key, self.clock())

    def expire_assumed(self, ttl: float = 30.0) -> list[PodInfo]:
        """Assumed pods the API never confirmed within ``ttl`` seconds of their Binding are
        forgotten (their capacity freed); a late watch event counts them again."""
        expired = self.cache.expire(self.clock(), ttl)
        if expired:
            self.queue.move_all()
        return expired

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
        while batch := self.schedule_next():
            for outcome in batch:
                if isinstance(outcome, Scheduled):
                    self.binding_succeeded(outcome.pod.key)
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
        return outcomes
