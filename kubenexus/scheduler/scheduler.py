"""The I/O-free scheduler: cluster events in, placement decisions out.

The shell (or the simulator) feeds it nodes and pods, asks for the next decision, binds, and
reports back. Everything here is synchronous and deterministic for a given clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Final

from kubenexus.api import keys
from kubenexus.api.gpu import NodeGpus, read_gpus
from kubenexus.api.objects import NodeInfo, PodInfo, shared_requests
from kubenexus.api.pod_rules import LabelSelector
from kubenexus.api.profile import WorkloadProfile
from kubenexus.api.quantity import format_amount
from kubenexus.api.reservation import ReservationSpec, SlotSpec
from kubenexus.api.topology import NodeTopology
from kubenexus.errors import InvalidInputError
from kubenexus.framework import (
    CacheObserver,
    ClusterEvent,
    Failure,
    Placement,
    Plugin,
    PluginError,
    Profile,
    Status,
    TopologyObserver,
    plugin_events,
    wake_events,
)
from kubenexus.framework.interfaces import QueuedPod
from kubenexus.framework.pod_index import PodIndex
from kubenexus.framework.runtime import UNSUPPORTED
from kubenexus.plugins.coscheduling import Coscheduling, GangManager, PodGroupSpec
from kubenexus.plugins.inter_pod_affinity import InterPodAffinity
from kubenexus.plugins.pod_topology_spread import PodTopologySpread
from kubenexus.plugins.profile_classifier import ProfileClassifier
from kubenexus.plugins.resource_reservation import (
    ExecutorShape,
    Held,
    HeldSlot,
    ResourceReservation,
    executor_shape,
    placeholder,
    placeholder_key,
    reservation_name,
)
from kubenexus.plugins.resource_reservation.book import is_placeholder, reservation_of
from kubenexus.scheduler.cache import ClusterCache
from kubenexus.scheduler.preempting import (
    DRY_RUN,
    POST_FILTER_PREFIX,
    Budgets,
    DisruptionBudget,
    Preempting,
)
from kubenexus.scheduler.queue import QueueSettings, SchedulingQueue
from kubenexus.scheduler.reserving import Reserving

Clock = Callable[[], float]
# An executor tries the slots on this many nodes first, then the others.
EXECUTOR_FIRST_NODES = 16
# QueuedPod.extra: the annotation keys earlier placements of the pod wrote.
_WRITTEN: Final = "written-annotations"


@dataclass(slots=True)
class Scheduled:
    """Bind ``pod`` to ``node`` (already assumed in the cache), writing ``annotations`` first."""

    entry: QueuedPod
    placement: Placement
    # The pod may no longer be bound (it is being deleted, or gained scheduling gates) since
    # the decision: if its binding fails it is not retried.
    cancelled: bool = False
    # A driver: the reservation made for its executors (written before the driver is bound).
    reservation: ReservationSpec | None = None
    # An executor: the (reservation, slot) it claimed.
    claim: tuple[str, str] | None = None

    @property
    def pod(self) -> PodInfo:
        return self.entry.pod

    @property
    def node(self) -> str:
        return self.placement.node_name


@dataclass(frozen=True, slots=True)
class Preemption:
    """Room made for ``preemptor`` on ``node`` by evicting ``victims`` (kube's
    DefaultPreemption): the shell marks each victim with a ``DisruptionTarget`` condition,
    deletes it and tells it why (an Event), and sets the preemptor's nominatedNodeName."""

    preemptor: PodInfo
    node: str
    victims: tuple[PodInfo, ...]

    def victim_message(self) -> str:
        """The Event on each victim, as kube-scheduler words it."""
        return f"Preempted by {self.preemptor.full_name} on node {self.node}"


@dataclass(slots=True)
class Unschedulable:
    """The pod fits nowhere now; ``message`` (kube-scheduler style) is for the Event."""

    entry: QueuedPod
    failure: Failure
    # Victims evicted to make room for it (it is retried once they are gone).
    preemption: Preemption | None = None
    # Its status.nominatedNodeName to write: a node (room made there), "" to clear an earlier
    # nomination, None to leave it as it is.
    nominate: str | None = None

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


def _size_order(pod: PodInfo) -> tuple[int, int, int]:
    """How large a gang member is, to try the largest first: scarce devices (GPUs and other
    extended resources) before CPU, before memory."""
    requests = pod.requests
    common = {keys.CPU, keys.MEMORY, keys.PODS, keys.EPHEMERAL_STORAGE}
    devices = sum(amount for name, amount in requests.items() if name not in common)
    return (devices, requests.get(keys.CPU, 0), requests.get(keys.MEMORY, 0))


def _coscheduling(profile: Profile) -> Coscheduling | None:
    plugins = [profile.queue_sort, *profile.pre_filters, *profile.reserves, *profile.permits]
    return next((p for p in plugins if isinstance(p, Coscheduling)), None)


def _plugins(profile: Profile) -> list[Plugin]:
    return [
        profile.queue_sort,
        *profile.pre_filters,
        *profile.filters,
        *(w.plugin for w in profile.scores),
        *profile.reserves,
        *profile.permits,
        *profile.annotators,
    ]


def _uses_less(before: PodInfo, after: PodInfo) -> bool:
    """A bound pod resized down (in-place resize): some request shrank."""
    return any(after.requests.get(name, 0) < amount for name, amount in before.requests.items())


def node_change(old: NodeInfo | None, new: NodeInfo) -> ClusterEvent:
    """What a node update changed, among the facts that can make a waiting pod fit."""
    if old is None:
        return ClusterEvent.NODE_ADDED
    events = ClusterEvent.NONE
    if any(amount > old.allocatable.get(name, 0) for name, amount in new.allocatable.items()):
        events |= ClusterEvent.NODE_ALLOCATABLE_UP
    if old.taints != new.taints:
        events |= ClusterEvent.NODE_TAINTS
    if old.labels != new.labels:
        events |= ClusterEvent.NODE_LABELS
    if old.annotations != new.annotations:
        events |= ClusterEvent.NODE_ANNOTATIONS
    if old.unschedulable and not new.unschedulable:
        events |= ClusterEvent.NODE_SCHEDULABLE
    if old.gpus != new.gpus:
        events |= ClusterEvent.NODE_TOPOLOGY  # its GPUs as the one GPU model sees them
    return events


def _added_pod_may_help(entry: QueuedPod, added: PodInfo, index: PodIndex) -> bool:
    """Whether a pod now counted on a node may undo the waiting pod's rejection by the rules
    about other pods (kube's queueing hints for a pod Add): it matches one of its required
    affinity terms, or the selector of one of its spread constraints (default constraints
    select by workloads: always). A placed pod never helps anti-affinity."""
    waiting = entry.pod
    rejected = entry.rejected_by or frozenset()
    affinity = waiting.pod_affinity
    if InterPodAffinity.name in rejected and affinity and affinity.required:
        namespace_labels = index.labels_of_namespace(added.namespace)
        if any(
            term.matches(added.namespace, added.labels, namespace_labels)
            for term in affinity.required
        ):
            return True
    if PodTopologySpread.name in rejected:
        if not waiting.spread:
            return True
        if added.namespace == waiting.namespace and any(
            c.selector is not None and c.selector.matches(added.labels) for c in waiting.spread
        ):
            return True
    return False


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
                *(weighted.plugin for weighted in profile.scores),
                *profile.reserves,
                *profile.annotators,
            )
            if isinstance(p, CacheObserver)
        }
        self.cache.observers = list(observers.values())
        self._topology_observers = [
            p for p in observers.values() if isinstance(p, TopologyObserver)
        ]
        # Per profile, plugin name → the cluster changes that can undo its rejections.
        self._interests: dict[str, dict[str, ClusterEvent]] = {
            name: {
                **{plugin.name: plugin_events(plugin) for plugin in _plugins(profile)},
                UNSUPPORTED: ClusterEvent.NONE,  # only a change to the pod itself helps
            }
            for name, profile in self.profiles.items()
        }
        self.queue = SchedulingQueue(first.queue_sort, clock, queue_settings)
        self.clock = clock
        self._in_flight: dict[str, Scheduled] = {}
        # DRA ResourceSlices by node (their GPUs come first in the one GPU model), and what
        # was last read from them with the node's labels.
        self._slices: dict[str, list[Mapping[str, Any]]] = {}
        self._slice_reads: dict[
            str,
            tuple[list[Mapping[str, Any]], Mapping[str, str], tuple[NodeGpus | None, str]],
        ] = {}
        # gang → its members that ran and finished (key → owner uid), while they exist.
        self._finished: dict[str, dict[str, str]] = {}
        # Per profile, the gang state of its Coscheduling plugin (no plugin: no gangs).
        self._gangs: dict[str, GangManager] = {
            name: plugin.gangs for name, p in self.profiles.items() if (plugin := _coscheduling(p))
        }
        # Profiles that admit drivers with room for their executors (ResourceReservation on).
        reserving = {
            name: plugin
            for name, profile in self.profiles.items()
            for plugin in profile.pre_filters
            if isinstance(plugin, ResourceReservation)
        }
        self._reserving_profiles = frozenset(reserving)
        ttl = next(iter(reserving.values())).args.default_ttl_seconds if reserving else 600.0
        self.reserving = Reserving(self.cache, ttl)
        # PodDisruptionBudgets: preemption prefers victims whose eviction breaks none.
        self.budgets = Budgets()
        self.preempting = Preempting(self.cache, self.budgets)
        self.cache.observers.append(self.preempting)
        for name, profile in self.profiles.items():
            for classifier in profile.pre_filters:
                if isinstance(classifier, ProfileClassifier):
                    self.cache.nodes.profiles.configure(name, classifier.args.settings)

    @property
    def nodes(self) -> int:
        return len(self.cache.nodes)

    def responsible_for(self, pod: PodInfo) -> bool:
        return pod.scheduler_name in self.profiles

    def gang_manager(self, scheduler_name: str) -> GangManager | None:
        """The gang state of a profile (None: its profile schedules no gangs)."""
        return self._gangs.get(scheduler_name)

    # ------------------------------------------------------------------ cluster events

    def set_node_slices(self, name: str, slices: Sequence[Mapping[str, Any]]) -> str:
        """The DRA ResourceSlices of a node (all of them, none when it has none left): its GPUs
        are read from them first (the one GPU model). Returns what is wrong with them ("" when
        nothing is): the node then has no GPU data."""
        self._slice_reads.pop(name, None)
        if slices:
            self._slices[name] = list(slices)
        else:
            self._slices.pop(name, None)
        node = self.cache.node_info(name)
        if node is None:
            return ""
        # Its GPUs as its labels say (what the cache holds may come from the old slices).
        gpus, problem = read_gpus(name, node.labels)
        node = replace(node, gpus=gpus, gpu_problem=problem)
        return self.upsert_node(node)

    def _with_gpus(self, node: NodeInfo) -> tuple[NodeInfo, str]:
        """The node with its GPUs read from its ResourceSlices (when it has some) and labels."""
        slices = self._slices.get(node.name)
        if not slices:
            return node, node.gpu_problem
        read = self._slice_reads.get(node.name)
        if read is None or read[0] is not slices or read[1] != node.labels:
            # Read once per change of the slices or labels (not on every node heartbeat).
            read = (slices, node.labels, read_gpus(node.name, node.labels, slices))
            self._slice_reads[node.name] = read
        gpus, problem = read[2]
        return replace(node, gpus=gpus, gpu_problem=problem), problem

    def upsert_node(self, node: NodeInfo) -> str:
        """A node appeared or changed. Only changes that can make a waiting pod fit wake pods;
        an update that changes nothing the scheduler reads (a heartbeat) does nothing at all.
        Returns what is wrong with its GPU data ("" when nothing is)."""
        node, problem = self._with_gpus(node)
        old = self.cache.node_info(node.name)
        if old == node:
            return problem
        events = node_change(old, node)
        self.cache.upsert_node(node)
        if events & (ClusterEvent.NODE_ADDED | ClusterEvent.NODE_ALLOCATABLE_UP):
            self._recheck_reservations()  # an unknown node may be known now, a slot fit it
        if events & (
            ClusterEvent.NODE_ADDED
            | ClusterEvent.NODE_ALLOCATABLE_UP
            | ClusterEvent.NODE_SCHEDULABLE
        ):
            self.reserving.retry_waiting(node.name)
        if node.unschedulable and old is not None and not old.unschedulable:
            # Cordoned: no executor can land there, so its slots hold nothing (they wait).
            for held in list(self.reserving.book.held.values()):
                if node.name in held.free_by_node:
                    self.reserving.sync(held)
            self.queue.move(ClusterEvent.POD_REMOVED)
        self.queue.move(events)
        return problem

    def remove_node(self, name: str) -> None:
        known = name in self.cache.nodes
        self.cache.remove_node(name)
        if known:
            self.queue.move(ClusterEvent.NODE_REMOVED)
        ended = False
        for held in list(self.reserving.book.held.values()):
            if held.holding and any(s.spec.node == name for s in held.slots.values()):
                self.reserving.end(
                    held, "Invalid", f"node {name} of a reserved slot is gone", self.clock()
                )
                ended = True
        if ended:
            self._room_freed()  # its slots on other nodes: slots waiting there take the room

    def set_node_topology(self, name: str, topology: NodeTopology | None) -> None:
        """A node's NodeResourceTopology object arrived, changed or went away (None)."""
        nodes = self.cache.nodes
        slot = nodes.slot_of(name)
        pods = [] if slot is None else self.cache.counted_on(slot)
        for plugin in self._topology_observers:
            plugin.set_node_topology(nodes, name, topology, pods)
        self.queue.move(ClusterEvent.NODE_TOPOLOGY)

    def set_namespace(self, name: str, labels: Mapping[str, str] | None) -> None:
        """A Namespace's labels (None: deleted), for affinity terms' namespaceSelector."""
        if self.cache.nodes.pods.set_namespace(name, labels):
            # Its pods' tenant tier may change.
            self.cache.nodes.profiles.namespace_changed(name, exists=labels is not None)
            self.queue.move(ClusterEvent.NAMESPACE_LABELS)

    def profile_of(self, pod: PodInfo) -> WorkloadProfile:
        """The pod's workload profile (tenant tier, workload type), as the plugins read it."""
        return self.cache.nodes.profiles.of(pod)

    def preemption_abandoned(self, key: str) -> None:
        """The victims chosen for this pod will not be evicted (the daemon gave up, or is not
        the leader): forget its nomination and the victims, and try it again."""
        if self.preempting.clear(key):
            self.queue.retry(key)

    def set_disruption_budget(self, budget: DisruptionBudget) -> None:
        """A PodDisruptionBudget arrived or changed (its selector, disruptionsAllowed)."""
        self.budgets.set(budget)

    def remove_disruption_budget(self, namespace: str, name: str) -> None:
        self.budgets.remove(namespace, name)

    def set_workload_selector(
        self, kind: str, namespace: str, name: str, selector: LabelSelector | None
    ) -> None:
        """The selector of a Service, ReplicationController, ReplicaSet or StatefulSet (None:
        it has none, or is gone), from which PodTopologySpread deduces the selector of its
        default constraints (``api.workloads.workload_selector`` reads one from its object).
        As in kube-scheduler, a change wakes no waiting pod."""
        self.cache.nodes.workloads.set(kind, namespace, name, selector)

    def upsert_pod(self, pod: PodInfo) -> None:
        """Any pod the cluster shows. Bound pods are counted; our pending pods are queued."""
        if pod.node_name or pod.terminal:
            self._placed_pod(pod)
            return
        if not self.responsible_for(pod):
            return
        if pod.deleting or pod.gates:
            # Not to be scheduled (kube-apiserver refuses to bind it): out of the queue, and a
            # binding already under way is not retried if it fails.
            decision = self._in_flight.get(pod.key)
            if decision is not None:
                decision.cancelled = True
            self._unqueue(pod.key)
            return
        decision = self._in_flight.get(pod.key)
        if decision is not None:
            # Binding under way: should it fail, the pod is retried as it is now (its gang…).
            decision.entry.pod = pod
            return
        if pod.key in self.cache:
            return  # placed by us: an update still showing it unbound predates the binding
        self.preempting.resume(pod)
        previous = self.queue.entry(pod.key)
        joined = pod.gang and (previous is None or previous.pod.gang != pod.gang)
        self.cache.nodes.profiles.keep(pod)  # classified once, while it waits
        self.queue.add(pod)
        gangs = self._gangs.get(pod.scheduler_name)
        if joined and gangs is not None:
            # A new member (arrived, or relabelled into the gang) may complete the gang: retry
            # the members waiting for it now. Its age counts from when it was first queued.
            entry = self.queue.entry(pod.key)
            if entry is not None:
                gangs.note_arrival(pod.gang, entry.first_seen)
            self._wake_gang(pod.gang)

    def _placed_pod(self, pod: PodInfo) -> None:
        """A pod bound to a node (anyone's), or finished: count it where it runs, or free it."""
        if self.preempting.nominations or self.preempting.evicting:
            self.preempting.clear(pod.key)  # bound: the room it was promised is its own now
            if pod.terminal:
                self.preempting.pod_gone(pod.key)
        before = self.cache.pod(pod.key)
        self.queue.delete(pod.key)
        self.cache.nodes.profiles.forget(pod.key)
        self._in_flight.pop(pod.key, None)
        self.cache.upsert_pod(pod)
        if pod.terminal:
            self._pod_gone(pod, "finished")
        elif before is None:
            # A bound executor seen for the first time (a restart, bound by someone else)
            # takes a free slot on its node; one already counted (an executor beyond the
            # reserved count) never takes a slot that reopens later.
            self.reserving.adopt(pod)
        if before is not None and (pod.terminal or _uses_less(before, pod)):
            self._room_freed(pod.node_name)  # room freed (finished, resized down)
        if not pod.terminal and before is None:
            self._pod_placed(pod)
        elif not pod.terminal and before is not None and before.labels != pod.labels:
            # Relabelled: a pod matching a waiting pod's rules may have appeared or gone.
            self._pod_placed(pod)
            self.queue.move(ClusterEvent.POD_REMOVED)
        if pod.gang:
            finished = self._finished.setdefault(pod.gang, {})
            if pod.terminal and pod.node_name:
                # A member that ran still counts toward its gang's quorum while it exists: a
                # replacement for a failed member joins the gang that already ran.
                finished[pod.key] = pod.owner.uid if pod.owner else ""
            else:
                finished.pop(pod.key, None)
            if not finished:
                del self._finished[pod.gang]
            if pod.terminal:
                self._forget_gang_if_idle(pod)

    def _pod_gone(self, pod: PodInfo, how: str) -> None:
        """A pod finished or was deleted: the slot it claimed reopens; a driver's reservations
        are released."""
        # Its slot reopens and takes back its room first (the caller then frees the rest).
        self.reserving.unclaim(pod.key, self.clock())
        for held in self.reserving.book.of_driver(pod.key):
            if held.phase in {"Active", "Pending"}:
                self.reserving.end(
                    held, "Released", f"the driver {pod.full_name} {how}", self.clock()
                )
                self._room_freed()

    def _room_freed(self, node: str | None = None) -> None:
        """Room was freed (on ``node``, or anywhere): reservations waiting for room there take
        it first, then the pods waiting for room are retried."""
        if self.reserving.waiting:
            self.reserving.retry_waiting(node)
        self.queue.move(ClusterEvent.POD_REMOVED)

    def pod_group_deleted(self, key: str) -> None:
        """A PodGroup object was deleted: the gang's reservations are released."""
        for held in self.reserving.book.of_gang(key):
            if held.phase in {"Active", "Pending"}:
                self.reserving.end(
                    held, "Released", f"the PodGroup {key} was deleted", self.clock()
                )
                self._room_freed()
        self.upsert_pod_group(key, None)

    def upsert_pod_group(self, key: str, spec: PodGroupSpec | None) -> None:
        """A PodGroup object appeared, changed (None: removed or invalid); its members retry.
        An update that leaves the spec as it was (its status written) changes nothing."""
        if all(gangs.pod_groups.get(key) == spec for gangs in self._gangs.values()):
            return
        for gangs in self._gangs.values():
            if spec is None:
                gangs.remove_pod_group(key)
            else:
                gangs.upsert_pod_group(key, spec)
        self._wake_gang(key)

    def remove_pod(self, key: str) -> None:
        self.preempting.pod_gone(key)
        self.preempting.clear(key)
        entry = self._unqueue(key)
        self._in_flight.pop(key, None)
        self.cache.nodes.profiles.forget(key)
        node = self.cache.node_of(key)
        removed = self.cache.remove_pod(key)
        pod = removed or (entry.pod if entry is not None else None)
        if pod is not None:
            self._pod_gone(pod, "was deleted")
        if removed is not None:
            self._room_freed(node)
        for gang, finished in list(self._finished.items()):
            if finished.pop(key, None) is not None and not finished:
                del self._finished[gang]
        if pod is not None:
            self._forget_gang_if_idle(pod)

    def _unqueue(self, key: str) -> QueuedPod | None:
        """Take a pod out of the queue; the rest of its gang is retried (the one leaving may
        have been what held the gang back: a conflicting size, a malformed declaration)."""
        entry = self.queue.delete(key)
        self.cache.nodes.profiles.forget(key)
        if entry is not None and entry.pod.gang:
            self._wake_gang(entry.pod.gang)
            self._forget_gang_if_idle(entry.pod)
        return entry

    def _wake_gang(self, gang: str) -> None:
        for member in self.queue.gang_members(gang):
            self.queue.activate(member.pod.key)

    def _finished_members(self, gang: str, pending: list[QueuedPod]) -> int:
        """Members that ran and finished (still in the API) counted toward the quorum of the
        pending ones: those of the same owner (a Job's earlier pods, not another Job's reusing
        the gang's name), or all when ownership is unknown."""
        finished = self._finished.get(gang)
        if not finished:
            return 0
        owners = {m.pod.owner.uid for m in pending if m.pod.owner and m.pod.owner.uid}
        if not owners:
            return len(finished)
        return sum(1 for owner in finished.values() if not owner or owner in owners)

    def drop_pending(self, key: str) -> None:
        """The pod's latest version cannot be read: stop scheduling it (if it waits), but keep
        counting it where it is placed — it still runs there."""
        self._unqueue(key)
        decision = self._in_flight.get(key)
        if decision is not None:
            decision.cancelled = True

    def _forget_gang_if_idle(self, pod: PodInfo) -> None:
        """A gang with no member queued, in flight or placed is forgotten, so a later gang of
        the same name starts afresh (its age and timeout are its own)."""
        gangs = self._gangs.get(pod.scheduler_name)
        if (
            pod.gang
            and gangs is not None
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
        if pod.role and pod.scheduler_name in self._reserving_profiles:
            schedule = self._schedule_driver if pod.role == "driver" else self._schedule_executor
            outcome = schedule(entry)
            if outcome is not None:
                return [outcome]
            # Nothing to hold or claim: a pod like any other (a gang member stays one).
        gangs = self._gangs.get(pod.scheduler_name)
        if pod.gang and gangs is not None and not pod.gang_error:
            return self._schedule_gang(entry, gangs)
        return [self._schedule_pod(entry)]

    def _schedule_pod(self, entry: QueuedPod) -> Outcome:
        pod = entry.pod
        profile = self.profiles[pod.scheduler_name]
        nodes = self.cache.nodes
        # Room nominated for pods of lower priority (and its own) is free to this pod.
        lifted = self.preempting.lift([pod])
        try:
            result = profile.find_node(pod, nodes)
        except PluginError as exc:
            self.preempting.restore(lifted)
            failure = Failure(error=str(exc), internal=True)
            self.queue.requeue_backoff(entry, failure.message)
            return Unschedulable(entry, failure)
        if isinstance(result, Failure):
            outcome = self._preempt_or_park(profile, entry, result)
            self.preempting.restore(lifted)
            return outcome
        self.preempting.clear(pod.key)  # placed: a nomination it had is done
        self.preempting.restore(lifted)
        status = self._reserve_and_permit(profile, result, pod)
        if not status.ok:
            failure = Failure(
                error=f"{status.plugin or 'plugin'} rejected {result.node_name}: {status.message}",
                plugins=frozenset({status.plugin}) if status.plugin else frozenset(),
            )
            self._park(entry, failure)
            return Unschedulable(entry, failure)
        return self._commit(entry, result)

    def _preempt_or_park(self, profile: Profile, entry: QueuedPod, failure: Failure) -> Outcome:
        """The pod fits nowhere: make room by evicting pods of lower priority if its profile
        preempts and it may (kube's DefaultPreemption), else wait."""
        pod = entry.pod
        preempting = self.preempting
        preempting.resume(pod)  # its node may have been unknown when the pod arrived
        found = preempting.find(profile, pod) if self._may_preempt(profile, pod, failure) else None
        if found is None:
            failure = self._with_post_filter(profile, pod, failure)
            self._park(entry, failure)
            waiting = preempting.waiting_for_victims(pod.key)
            gave_up = not waiting and preempting.clear(pod.key)
            return Unschedulable(entry, failure, nominate="" if gave_up else None)
        victims = self._take_reserved_room(pod, found.victims)
        preempting.nominate(pod, found.node, victims)
        self._park(entry, failure, also=ClusterEvent.POD_REMOVED)  # its victims going
        if not victims:
            self.queue.retry(pod.key)  # only reserved room was in the way: freed already
        preemption = Preemption(pod, found.node, victims) if victims else None
        return Unschedulable(entry, failure, preemption=preemption, nominate=found.node)

    def _may_preempt(self, profile: Profile, pod: PodInfo, failure: Failure) -> bool:
        return bool(
            profile.post_filters
            and not failure.internal
            and not failure.unresolvable
            and pod.preemption_policy != "Never"
            # Room already made for it: wait for those victims to go, never evict twice.
            and not self.preempting.waiting_for_victims(pod.key)
        )

    def as_posted(self, profile: Profile, pod: PodInfo, failure: Failure) -> Failure:
        """A pod's failure as its FailedScheduling Event says it (for ``explain``): with the
        post-filter clause, unless preemption would make room for it (then none, as kube)."""
        if self._may_preempt(profile, pod, failure) and self.preempting.find(profile, pod):
            return failure
        return self._with_post_filter(profile, pod, failure)

    def _with_post_filter(self, profile: Profile, pod: PodInfo, failure: Failure) -> Failure:
        """The failure with kube-scheduler's post-filter clause (why nobody was preempted)
        when the profile preempts. A refusal of the pod as a whole (a malformed annotation,
        an unsupported field: a pre-filter's) stays one line naming the field."""
        diagnosis = failure.diagnosis
        if (
            not profile.post_filters
            or diagnosis is None
            or failure.internal
            or diagnosis.total_nodes == 0
            or diagnosis.hopeless is None
        ):
            return failure
        if pod.preemption_policy == "Never":
            clause = f"{POST_FILTER_PREFIX}not eligible due to preemptionPolicy=Never."
        elif self.preempting.waiting_for_victims(pod.key):
            clause = (
                f"{POST_FILTER_PREFIX}not eligible due to a terminating pod on the nominated node."
            )
        else:
            clause = self.preempting.why_not(profile, pod, diagnosis.hopeless)
        return replace(failure, post_filter=clause)

    def _take_reserved_room(
        self, pod: PodInfo, victims: tuple[PodInfo, ...]
    ) -> tuple[PodInfo, ...]:
        """Reserved slots among the victims are not pods to delete: their reservations end
        here (their room freed at once, the driver told why); the pods left to evict."""
        pods = tuple(v for v in victims if not is_placeholder(v.key))
        for key in sorted({reservation_of(v.key) for v in victims if is_placeholder(v.key)}):
            held = self.reserving.book.get(key)
            if held is not None and held.holding:
                reason = f"its room was taken by preemption for {pod.full_name}"
                self.reserving.end(held, "Released", reason, self.clock())
        return pods

    def _park(
        self, entry: QueuedPod, failure: Failure, also: ClusterEvent = ClusterEvent.NONE
    ) -> None:
        """The pod fits nowhere for this reason: wait for a change that may help (or one in
        ``also``)."""
        wake_on = self._wake_on(entry.pod, failure) | also
        self.queue.requeue_unschedulable(entry, failure.message, wake_on, failure.rejected_by)

    def _pod_placed(self, added: PodInfo) -> None:
        """A pod now counts on a node (placed, bound, relabelled): retry the pods waiting for
        such a pod — those whose required affinity or spread selects it (kube's queueing
        hints), not every pod some rule about other pods rejected."""
        index = self.cache.nodes.pods
        self.queue.move(
            ClusterEvent.POD_ADDED, lambda entry: _added_pod_may_help(entry, added, index)
        )

    def _wake_on(self, pod: PodInfo, failure: Failure) -> ClusterEvent:
        """The cluster changes that may make the pod fit after this failure."""
        rejected_by = failure.rejected_by
        if not rejected_by:
            return ClusterEvent.ALL
        return wake_events(rejected_by, self._interests[pod.scheduler_name])

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
        # Placement annotations an earlier attempt wrote and this one does not are removed, so
        # a pod never carries the zones or CPUs of a node it was not bound to.
        written: frozenset[str] = entry.extra.get(_WRITTEN, frozenset())
        for key in written - placement.annotations.keys():
            placement.annotations[key] = None
        entry.extra[_WRITTEN] = written | {
            k for k, v in placement.annotations.items() if v is not None
        }
        decision = Scheduled(entry, placement)
        self._in_flight[pod.key] = decision
        self.queue.delete(pod.key)
        self._pod_placed(pod)
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
        placed = self.cache.gang_placed(gang) + self._finished_members(gang, members)
        size = gangs.size(gang, [m.pod for m in members])
        if size.size is None:
            # Only a change to the members or their PodGroup can settle the size.
            return self._gang_waits(members, size.problem, ClusterEvent.POD_GROUP, "gang-size")
        if size.size <= placed:  # quorum already running: the rest join one by one
            gangs.begin_plan(gang, size.size, placed, [m.pod for m in members])
            try:
                return [self._schedule_pod(m) for m in members]
            finally:
                gangs.end_plan(gang)
        if placed + len(members) < size.size:
            return self._gang_waits(
                members,
                f"waiting for pod group {gang}: {placed + len(members)} of minMember {size.size} "
                "members exist",
                ClusterEvent.POD_GROUP,
                "gang-members-missing",
            )
        short = self._short_of_min_resources(gang, gangs)
        if short:
            return self._gang_waits(
                members,
                short,
                ClusterEvent.POD_GROUP
                | ClusterEvent.POD_REMOVED
                | ClusterEvent.NODE_ADDED
                | ClusterEvent.NODE_ALLOCATABLE_UP,
                "gang-min-resources",
            )
        return self._plan_gang(_GangPlan(gang, members, gangs, size.size, placed, now))

    def _plan_gang(self, plan: _GangPlan) -> list[Outcome]:
        profile = self.profiles[plan.members[0].pod.scheduler_name]
        lifted = self.preempting.lift([m.pod for m in plan.members])
        try:
            outcomes = self._plan_gang_members(plan, profile)
        finally:
            self.preempting.restore(lifted)
        return outcomes

    def _place_members(
        self, pods: Sequence[PodInfo], profile: Profile, results: list[Placement | Failure]
    ) -> list[Placement | Failure]:
        """Each member in turn on the live cache (reserved and assumed: the next one sees it
        taken), inside a gang plan; per member (appended to ``results`` as it goes, so a
        caller can undo a partial pass) its placement or why it fits nowhere."""
        nodes = self.cache.nodes
        for pod in pods:
            try:
                result = profile.find_node(pod, nodes)
            except PluginError as exc:
                result = Failure(error=str(exc), internal=True)
            if isinstance(result, Placement):
                status = profile.reserve(result, pod, nodes)
                if status.ok:
                    self.cache.assume(pod, result.node_name)  # the next member sees it taken
                else:
                    result = Failure(
                        error=f"{result.node_name}: {status.message}",
                        plugins=frozenset({status.plugin}) if status.plugin else frozenset(),
                    )
            results.append(result)
        return results

    def _place_gang(
        self,
        gangs: GangManager,
        plan: tuple[str, int, int],
        pods: list[PodInfo],
        profile: Profile,
        results: list[Placement | Failure],
    ) -> list[PodInfo]:
        """The members placed in one pass inside the gang's plan (``plan``: gang, minMember,
        members already placed; the plan is open), results appended to ``results``; the
        members in the order they were tried.

        Members are tried in queue order; when that leaves the quorum short and the members
        are not all alike, they are tried once more largest first: a small member placed
        first (an MPI launcher) can take the only node a larger one fits on, and the gang,
        though it fits, would wait for ever."""
        gang, size, placed = plan
        self._place_members(pods, profile, results)
        fitted = sum(isinstance(r, Placement) for r in results)
        if placed + fitted >= size or len({_size_order(p) for p in pods}) < 2:
            return pods
        nodes = self.cache.nodes
        for pod, result in zip(pods, results, strict=True):
            if isinstance(result, Placement):
                profile.unreserve(result, pod, nodes)
                self.cache.forget(pod.key)
        results.clear()
        largest_first = sorted(pods, key=_size_order, reverse=True)  # stable: ties keep order
        gangs.end_plan(gang)
        gangs.begin_plan(gang, size, placed, largest_first)
        self._place_members(largest_first, profile, results)
        return largest_first

    def gang_trial(
        self, gang: str, also: PodInfo | None = None
    ) -> list[tuple[PodInfo, Placement | Failure]]:
        """What planning the gang would give now, undone before returning: its pending
        members in the order the scheduler tries them (``also`` after them when it is not
        queued), each with its node or why it fits nowhere. For explain: the scheduler's own
        planning path, not a copy of it."""
        if also is not None:
            gangs = self._gangs.get(also.scheduler_name)
        else:
            gangs = next(iter(self._gangs.values()), None)
        if gangs is None:
            return []
        entries = [m for m in self.queue.gang_members(gang) if m.pod.key not in self._in_flight]
        # As _schedule_gang lines them up: the member popped first, the others after it, then
        # sorted (stable, so ties keep that order).
        lead = self.queue.lead({m.pod.key for m in entries})
        entries.sort(key=lambda m: m.pod.key != lead)
        now = self.clock()
        entries.sort(key=lambda m: self.queue.sort_key(m, now))
        pods = [m.pod for m in entries]
        if also is not None and all(p.key != also.key for p in pods):
            pods.append(also)
        if not pods:
            return []
        profile = self.profiles.get(pods[0].scheduler_name) or next(iter(self.profiles.values()))
        placed = self.cache.gang_placed(gang) + self._finished_members(gang, entries)
        size = gangs.size(gang, pods).size or 0
        nodes = self.cache.nodes
        lifted = self.preempting.lift(pods)
        gangs.begin_plan(gang, size, placed, pods)
        results: list[Placement | Failure] = []
        try:
            pods = self._place_gang(gangs, (gang, size, placed), pods, profile, results)
        finally:
            for pod, result in zip(pods, results, strict=False):
                if isinstance(result, Placement):
                    profile.unreserve(result, pod, nodes)
                    self.cache.forget(pod.key)
            gangs.end_plan(gang)
            self.preempting.restore(lifted)
        return list(zip(pods, results, strict=True))

    def _plan_gang_members(self, plan: _GangPlan, profile: Profile) -> list[Outcome]:
        nodes = self.cache.nodes
        plan.gangs.begin_plan(plan.gang, plan.size, plan.placed, [m.pod for m in plan.members])
        planned: list[tuple[QueuedPod, Placement]] = []
        failed: list[tuple[QueuedPod, Failure]] = []
        try:
            results: list[Placement | Failure] = []
            tried = self._place_gang(
                plan.gangs,
                (plan.gang, plan.size, plan.placed),
                [m.pod for m in plan.members],
                profile,
                results,
            )
            entries = {m.pod.key: m for m in plan.members}
            for pod, result in zip(tried, results, strict=True):
                member = entries[pod.key]
                if isinstance(result, Failure):
                    failed.append((member, result))
                else:
                    planned.append((member, result))
            # Permit after every member is placed: the quorum gate counts them all, and each
            # member's placement annotations come from its own cycle state.
            permits = [profile.permit(p, m.pod, nodes) for m, p in planned]
            if planned and all(status.ok for status in permits):
                for member, _ in planned:
                    self.preempting.clear(member.pod.key)  # placed: its nomination is done
                outcomes: list[Outcome] = [self._commit(m, p) for m, p in planned]
                for member, failure in failed:  # beyond the quorum: retried on their own
                    self._park(member, failure)
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
        wake_on = ClusterEvent.POD_GROUP | ClusterEvent.POD_REMOVED
        for member, failure in failed:
            wake_on |= self._wake_on(member.pod, failure)
        if failed:
            member, failure = failed[0]
            reason += f"; {member.pod.full_name}: {failure.message}"
        waited = plan.now - plan.gangs.first_seen.get(plan.gang, plan.now)
        timeout = plan.gangs.timeout_of(plan.gang)
        kind = "gang-does-not-fit"
        if waited >= timeout:
            reason = f"timed out after {timeout:.0f}s: {reason}"
            kind = "gang-timed-out"
        if profile.post_filters:
            preempted = self._preempt_for_gang(plan, profile, reason)
            if preempted is not None:
                return preempted
        return self._give_back_room(self._gang_waits(plan.members, reason, wake_on, kind))

    def _give_back_room(self, outcomes: list[Outcome]) -> list[Outcome]:
        """Room nominated for gang members that can no longer take the gang is given back
        (unless their victims are still leaving), and their nominations cleared."""
        for outcome in outcomes:
            key = outcome.pod.key
            if isinstance(outcome, Unschedulable) and (
                not self.preempting.waiting_for_victims(key) and self.preempting.clear(key)
            ):
                outcome.nominate = ""
        return outcomes

    def _preempt_for_gang(
        self, plan: _GangPlan, profile: Profile, reason: str
    ) -> list[Outcome] | None:
        """Room for the whole gang (its quorum) by evicting pods of lower priority, member
        after member, each seeing the room the victims of the previous ones free — or nobody
        is evicted. Victims are taken tenant-aware (preemptible and backfill pods first, then
        lower tiers); a gang that preempted waits out its cooldown before it may again."""
        gangs = plan.gangs
        last = gangs.preempted_at.get(plan.gang)
        if last is not None and plan.now - last < gangs.preemption_cooldown_seconds:
            return None
        pods = [m.pod for m in plan.members]
        if any(p.preemption_policy == "Never" for p in pods) or any(
            self.preempting.waiting_for_victims(p.key) for p in pods
        ):
            return None
        need = plan.size - plan.placed
        nodes = self.cache.nodes
        removed: list[PodInfo] = []
        chosen: list[tuple[QueuedPod, str, tuple[PodInfo, ...]]] = []
        gangs.begin_plan(plan.gang, plan.size, plan.placed, pods)
        try:
            for member in plan.members:
                if len(chosen) >= need:
                    break
                found = profile.find_node(member.pod, nodes)
                evicted: tuple[PodInfo, ...] = ()
                if isinstance(found, Failure):
                    if found.unresolvable or found.internal:
                        break
                    candidate = self.preempting.find(profile, member.pod, tenant_aware=True)
                    if candidate is None:
                        break
                    for victim in candidate.victims:
                        if self.cache.remove_pod(victim.key) is not None:
                            removed.append(victim)
                    evicted = candidate.victims
                    only = (DRY_RUN, frozenset({candidate.node}))
                    found = profile.find_node(member.pod, nodes, only=only)
                    if isinstance(found, Failure):
                        break
                self.cache.assume(member.pod, found.node_name)
                chosen.append((member, found.node_name, evicted))
        finally:
            gangs.end_plan(plan.gang)
            for member, _, _ in chosen:
                self.cache.forget(member.pod.key)
            for victim in removed:
                self.cache.upsert_pod(victim)
        if len(chosen) < need or not any(evicted for _, _, evicted in chosen):
            return None
        return self._gang_preempts(plan, chosen, reason)

    def _gang_preempts(
        self,
        plan: _GangPlan,
        chosen: list[tuple[QueuedPod, str, tuple[PodInfo, ...]]],
        reason: str,
    ) -> list[Outcome]:
        """Carry out a gang's preemption: each member nominated where its room is made."""
        plan.gangs.preempted_at[plan.gang] = plan.now
        message = f"{reason}; room is being made by preemption"
        wake_on = ClusterEvent.POD_REMOVED | ClusterEvent.POD_GROUP
        outcomes = self._gang_waits(plan.members, message, wake_on, "gang-preempting")
        room = {member.pod.key: (node, taken) for member, node, taken in chosen}
        for outcome in outcomes:
            if isinstance(outcome, Unschedulable) and outcome.pod.key in room:
                node, taken = room[outcome.pod.key]
                evicted = self._take_reserved_room(outcome.pod, taken)
                self.preempting.nominate(outcome.pod, node, evicted)
                outcome.nominate = node
                if evicted:
                    outcome.preemption = Preemption(outcome.pod, node, evicted)
        return outcomes

    def _gang_waits(
        self, members: list[QueuedPod], message: str, wake_on: ClusterEvent, kind: str
    ) -> list[Outcome]:
        """Every member waits, for the same reason (``kind`` says which, whatever the counts
        in the message: one Event per member per kind, not per count)."""
        outcomes: list[Outcome] = []
        for member in members:
            self.queue.requeue_unschedulable(member, message, wake_on)
            failure = Failure(error=message, kind=f"{kind}:{member.pod.gang}")
            outcomes.append(Unschedulable(member, failure))
        return outcomes

    def _short_of_min_resources(self, gang: str, gangs: GangManager) -> str:
        """Why the gang cannot fit even in the whole cluster's free capacity, or ""."""
        spec = gangs.pod_groups.get(gang)
        if spec is None or not spec.min_resources:
            return ""
        nodes = self.cache.nodes
        usable = nodes.valid[: nodes.size] & ~nodes.unschedulable[: nodes.size]
        # Members already placed (a half-bound gang completing) hold their part already.
        held = [m.requests for m in self.cache.gang_members(gang)]
        for resource, total in spec.min_resources.items():
            holding = sum(requests.get(resource, 0) for requests in held)
            amount = total - holding
            if amount <= 0:
                continue
            row = nodes.resource_row(resource)
            free = (
                0 if row is None else int(nodes.free[row, : nodes.size][usable].clip(min=0).sum())
            )
            if free < amount:
                return (
                    f"pod group {gang} needs {format_amount(resource, amount)} {resource} "
                    f"{'more' if holding else 'in total'} but the cluster has "
                    f"{format_amount(resource, free)} free: not tried"
                )
        return ""

    # ------------------------------------------------------------------ reservations

    def _schedule_driver(self, entry: QueuedPod) -> Outcome | None:
        """A driver is placed only together with room for all its executors: the driver and one
        executor-shaped probe per slot are placed in one pass (each sees what the previous took;
        every filter applies to each), then the driver is committed and the slots held. None
        when it asks for no executors (it is then scheduled like any pod)."""
        pod = entry.pod
        if any(h.phase in {"Active", "Pending"} for h in self.reserving.book.of_driver(pod.key)):
            return self._schedule_pod(entry)  # its room is already held (a retry, a restart)
        gangs = self._gangs.get(pod.scheduler_name)
        group = gangs.pod_groups.get(pod.gang) if gangs is not None and pod.gang else None
        try:
            shape = executor_shape(pod, group)
        except InvalidInputError as exc:  # the pre-filter says so too; kept for safety
            failure = Failure(error=str(exc), plugins=frozenset({ResourceReservation.name}))
            self.queue.requeue_unschedulable(entry, failure.message, ClusterEvent.NONE)
            return Unschedulable(entry, failure)
        if shape is None or shape.count == 0:
            return None
        profile = self.profiles[pod.scheduler_name]
        nodes = self.cache.nodes
        placed = profile.find_node(pod, nodes)
        if isinstance(placed, Failure):
            self._park(entry, placed)
            return Unschedulable(entry, placed)
        status = self._reserve_and_permit(profile, placed, pod)
        if not status.ok:
            failure = Failure(
                error=f"{status.plugin or 'plugin'} rejected {placed.node_name}: {status.message}"
            )
            self._park(entry, failure)
            return Unschedulable(entry, failure)
        self.cache.assume(pod, placed.node_name)
        key = self._reservation_key(pod)
        self.reserving.remove(key)  # this driver's invalid one: replaced
        name = key.split("/", 1)[1]
        slots = self._hold_executor_room(pod, key, shape, profile)
        if isinstance(slots, Failure):
            profile.unreserve(placed, pod, nodes)
            self.cache.forget(pod.key)
            self._park(entry, slots)
            return Unschedulable(entry, slots)
        spec = ReservationSpec(
            namespace=pod.namespace,
            name=name,
            gang=pod.group or f"{pod.namespace}/{pod.name}",
            slots=tuple(slots),
            ttl_seconds=self.reserving.default_ttl,
            created=self.clock(),
            driver_uid=pod.key,
            driver_name=pod.name,
        )
        self.reserving.upsert(spec, self.clock())  # the probes already hold the room
        decision = self._commit(entry, placed)
        decision.reservation = spec
        return decision

    def _hold_executor_room(
        self, pod: PodInfo, key: str, shape: ExecutorShape, profile: Profile
    ) -> list[SlotSpec] | Failure:
        """One executor-shaped probe per slot placed in turn (each sees what the previous
        took) and counted on its node; all or none: on a failure the probes are removed."""
        nodes = self.cache.nodes
        slots: list[SlotSpec] = []
        for index in range(shape.count):
            probe = self._slot_probe(pod, key, f"executor-{index}", shape.requests)
            found = profile.find_node(probe, nodes)
            if isinstance(found, Failure):
                for slot in slots:
                    self.cache.remove_pod(placeholder_key(key, slot.name))
                message = (
                    f"driver {pod.full_name} waits for room for all {shape.count} executors "
                    f"({shape.describe()} each): {index} fit; executor {index + 1}: "
                    f"{found.message}"
                )
                return Failure(
                    error=message,
                    plugins=frozenset({ResourceReservation.name}) | found.rejected_by,
                    kind=f"driver-without-room:{pod.key}",
                )
            self.cache.upsert_pod(replace(probe, node_name=found.node_name))
            slots.append(SlotSpec(probe.uid.rsplit("/", 1)[1], found.node_name, shape.requests))
        return slots

    def driver_trial(self, pod: PodInfo) -> Placement | Failure | None:
        """What scheduling the driver would give now, undone before returning: its node with
        room held for all its executors, or the scheduler's reason it waits. None when it is
        not placed as a driver (no executors asked, or its room already held)."""
        if pod.role != "driver" or pod.scheduler_name not in self._reserving_profiles:
            return None
        if any(h.phase in {"Active", "Pending"} for h in self.reserving.book.of_driver(pod.key)):
            return None
        gangs = self._gangs.get(pod.scheduler_name)
        group = gangs.pod_groups.get(pod.gang) if gangs is not None and pod.gang else None
        try:
            shape = executor_shape(pod, group)
        except InvalidInputError as exc:
            return Failure(error=str(exc), plugins=frozenset({ResourceReservation.name}))
        if shape is None or shape.count == 0:
            return None
        profile = self.profiles[pod.scheduler_name]
        nodes = self.cache.nodes
        placed = profile.find_node(pod, nodes)
        if isinstance(placed, Failure):
            return placed
        status = profile.reserve(placed, pod, nodes)
        if not status.ok:
            return Failure(
                error=f"{status.plugin or 'plugin'} rejected {placed.node_name}: {status.message}"
            )
        counted = pod.key not in self.cache
        if counted:
            self.cache.assume(pod, placed.node_name)
        key = self._reservation_key(pod)
        try:
            slots = self._hold_executor_room(pod, key, shape, profile)
            if not isinstance(slots, Failure):
                for slot in slots:
                    self.cache.remove_pod(placeholder_key(key, slot.name))
        finally:
            profile.unreserve(placed, pod, nodes)
            if counted:
                self.cache.forget(pod.key)
        return slots if isinstance(slots, Failure) else placed

    def _reservation_key(self, driver: PodInfo) -> str:
        """The name of the driver's new reservation: its own name, unless a reservation of
        that name ended (its object says so) or is not this driver's; then ``-2``, ``-3``…"""
        attempt = 1
        while True:
            key = f"{driver.namespace}/{reservation_name(driver.name, attempt)}"
            held = self.reserving.book.get(key)
            if held is None or (held.spec.driver_uid == driver.key and held.phase == "Invalid"):
                return key
            attempt += 1

    @staticmethod
    def _slot_probe(
        driver: PodInfo, reservation: str, slot: str, requests: Mapping[str, int]
    ) -> PodInfo:
        """An executor-shaped stand-in for a slot: the driver's node rules (selectors, node
        affinity, tolerations: what Spark gives its executors too), the executor's size. Not a
        pod to other pods: no labels, no pod (anti-)affinity or spread (the executor applies
        its own when it claims the slot)."""
        return replace(
            driver,
            name=f"{reservation.split('/', 1)[1]}.{slot}",
            uid=placeholder_key(reservation, slot),
            requests=shared_requests(dict(requests)),
            score_cpu=requests.get(keys.CPU, 0) or keys.DEFAULT_SCORE_MILLI_CPU,
            score_memory=requests.get(keys.MEMORY, 0) or keys.DEFAULT_SCORE_MEMORY,
            labels=MappingProxyType({}),
            pod_affinity=None,
            spread=(),
            annotations=MappingProxyType({}),
            role="executor",
            gang="",
            app="",
            scheduler_name="",
        )

    def _schedule_executor(self, entry: QueuedPod) -> Outcome | None:
        """An executor claims a free slot of its group's reservations on a node that suits it
        (every filter still applies); with none left (dynamic allocation, all claimed) it is
        an ordinary pod (None: scheduled like any pod, a gang member with its gang).

        One slot per node is opened for it (its room made free), so it can use that slot's
        room and the node's free room — never a second slot's, which stays held. The first
        few nodes are tried first (any suits an executor shaped like its slots), then the
        rest: a big reservation costs an executor a few slots' bookkeeping, not all."""
        for batch in self._executor_offers(entry.pod):
            decision = self._claim_one_of(entry, batch)
            if decision is not None:
                return decision
        return None

    def _executor_offers(self, pod: PodInfo) -> list[list[tuple[Held, HeldSlot]]]:
        """The free slots of the executor's group (one per node), in the batches tried: the
        first few nodes, then the rest. Empty: none to claim."""
        offered: list[tuple[Held, HeldSlot]] = []
        seen: set[str] = set()
        for held in self.reserving.book.of_gang(pod.group):
            if held.holding:
                for slot in held.first_free_per_node():
                    if slot.spec.node not in seen:
                        seen.add(slot.spec.node)
                        offered.append((held, slot))
        first = EXECUTOR_FIRST_NODES
        return [batch for batch in (offered[:first], offered[first:]) if batch]

    def _find_claim(self, pod: PodInfo, offered: list[tuple[Held, HeldSlot]]) -> Placement | None:
        """Open the offered slots (the caller holds them again) and find the executor a node
        among theirs."""
        profile = self.profiles[pod.scheduler_name]
        for held, slot in offered:
            self.reserving.open(held, slot)
        only = (ResourceReservation.name, frozenset(slot.spec.node for _, slot in offered))
        placed = profile.find_node(pod, self.cache.nodes, only=only)
        return placed if isinstance(placed, Placement) else None

    def executor_claim(self, pod: PodInfo) -> Placement | None:
        """Where the executor would claim a slot of its group's reservations now (the
        scheduler's own choice, undone: every slot held again); None when it would claim none
        (then it is placed like any pod)."""
        if pod.role != "executor" or pod.scheduler_name not in self._reserving_profiles:
            return None
        for batch in self._executor_offers(pod):
            try:
                placed = self._find_claim(pod, batch)
            finally:
                for held, slot in batch:
                    self.reserving.hold(held, slot)
            if placed is not None:
                return placed
        return None

    def _claim_one_of(
        self, entry: QueuedPod, offered: list[tuple[Held, HeldSlot]]
    ) -> Scheduled | None:
        pod = entry.pod
        profile = self.profiles[pod.scheduler_name]
        by_node = {slot.spec.node: (held, slot) for held, slot in offered}
        placed = self._find_claim(pod, offered)
        decision: Scheduled | None = None
        if isinstance(placed, Placement) and self._reserve_and_permit(profile, placed, pod).ok:
            held, slot = by_node[placed.node_name]
            self.reserving.claim(held, slot, pod)
            decision = self._commit(entry, placed)  # counted before the other slots are held
            decision.claim = (held.key, slot.spec.name)
        for held, slot in offered:
            self.reserving.hold(held, slot)  # the slots not claimed are held again
        if decision is not None and self.reserving.waiting:
            # An executor smaller than its slot leaves room: slots waiting there take it.
            self.reserving.retry_waiting(decision.node)
        return decision

    def upsert_reservation(self, spec: ReservationSpec) -> None:
        """A ResourceReservation object appeared or changed (made by the scheduler for a driver,
        or written by hand): its free slots are held, its nodes chosen where it names none.
        Room it no longer holds (a slot removed or moved, the object now invalid) goes to the
        slots and pods waiting for room."""
        before = self.reserving.held_room(spec.key)
        held = self.reserving.upsert(spec, self.clock(), self._reservation_problem(spec))
        if held.phase == "Pending":
            self._place_slots(held)
        if before - self.reserving.held_room(spec.key):
            self._room_freed()

    def remove_reservation(self, key: str) -> None:
        if self.reserving.remove(key) is not None:
            self._room_freed()

    def expire_reservations(self) -> list[Held]:
        """Reservations whose time to live passed now release their free slots."""
        expired = self.reserving.expire(self.clock())
        if expired:
            self._room_freed()
        return expired

    def _reservation_problem(self, spec: ReservationSpec) -> str:
        """What makes a reservation impossible to honour on the nodes it names, or ""."""
        for slot in spec.slots:
            if not slot.node:
                continue
            where = f"spec.reservations.{slot.name}"
            node = self.cache.node_info(slot.node)
            if node is None:
                return f"{where}.node: no node named {slot.node!r}"
            for resource, amount in slot.requests.items():
                has = node.allocatable.get(resource, 0)
                if amount > has:
                    return (
                        f"{where}.resources.{resource}: {format_amount(resource, amount)} is more "
                        f"than node {slot.node} has ({format_amount(resource, has)})"
                    )
        return ""

    def _recheck_reservations(self) -> None:
        """Nodes came or grew: reservations that named an unknown node, or waited for nodes to
        be chosen, are tried again."""
        for held in list(self.reserving.book.held.values()):
            if held.phase == "Invalid" and not held.spec.problem:
                self.upsert_reservation(held.spec)
            elif held.phase == "Pending":
                self._place_slots(held)

    def _place_slots(self, held: Held) -> None:
        """Choose nodes for the slots that name none (the shorthand ``resources`` + ``count``):
        each placed like a pod of the slot's size, seeing the room the previous ones took."""
        profile = next((self.profiles[n] for n in sorted(self._reserving_profiles)), None)
        if profile is None:
            return
        nodes = self.cache.nodes
        chosen: list[SlotSpec] = []
        for slot in held.slots.values():
            if slot.spec.node:
                continue
            probe = placeholder(held.spec, slot.spec, self.reserving.priority_of(held))
            found = profile.find_node(replace(probe, node_name=""), nodes)
            if isinstance(found, Failure):
                for done in chosen:
                    self.cache.remove_pod(placeholder_key(held.key, done.name))
                held.reason = f"no room yet for slot {slot.spec.name}: {found.message}"
                self.reserving.book.dirty.add(held.key)
                return
            spec = replace(slot.spec, node=found.node_name)
            self.cache.upsert_pod(replace(probe, node_name=found.node_name))
            chosen.append(spec)
        by_name = {c.name: c for c in chosen}
        slots = tuple(by_name.get(s.spec.name, s.spec) for s in held.slots.values())
        self.reserving.upsert(replace(held.spec, slots=slots), self.clock())

    def binding_succeeded(self, key: str) -> None:
        """The Binding exists; the pod stays counted until the API shows it gone or finished.

        An assumed pod never expires (kube-scheduler stopped expiring them, kubernetes#106361):
        forgetting a bound pod because its watch event is late over-commits its node. The
        informer delivers every bound pod or its deletion (a relist reports what vanished).
        """
        self._in_flight.pop(key, None)

    def binding_failed(self, key: str, message: str, *, retry: bool = True) -> bool:
        """Binding failed: forget the assumption; requeue with backoff unless told not to, or
        the pod is no longer to be scheduled (deleted, gated). True when it was requeued.

        A gang member goes back to its gang: the members still pending are planned together,
        counting the ones already bound, so a gang half-bound by a transient error completes.
        """
        decision = self._in_flight.pop(key, None)
        if decision is None:
            return False
        pod = decision.pod
        self.profiles[pod.scheduler_name].unreserve(decision.placement, pod, self.cache.nodes)
        self.cache.forget(key)
        self.reserving.unclaim(key, self.clock())  # an executor's slot reopens
        if decision.reservation is not None:  # a driver not bound holds nothing
            self.reserving.remove(decision.reservation.key)
        self._room_freed(None if decision.reservation is not None else decision.node)
        if retry and not decision.cancelled:
            self.queue.restore(decision.entry, message)
            return True
        self._forget_gang_if_idle(pod)
        return False

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
