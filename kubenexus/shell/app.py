"""The daemon: informers feed the core's cache and queue; the loop decides; the binder binds.

No scheduling logic lives here: every decision comes from ``kubenexus.scheduler``.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import gc
import os
import socket
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import structlog

from kubenexus.api import keys
from kubenexus.api.gang import pod_group_spec
from kubenexus.api.names import check_namespace, check_pod_name
from kubenexus.api.objects import PodInfo, node_from_dict, placed_pod_from_dict
from kubenexus.api.reservation import GROUP, PLURAL, VERSION, reservation_from_dict
from kubenexus.api.topology import NodeTopology, topology_from_nrt
from kubenexus.config import SchedulerConfiguration, build_scheduler
from kubenexus.errors import ConfigError, InvalidInputError
from kubenexus.plugins.numa_topology import NUMATopology
from kubenexus.plugins.resource_reservation import (
    Held,
    claimed_message,
    expired_message,
    reserved_message,
)
from kubenexus.scheduler import Scheduled
from kubenexus.scheduler.explain_render import render_json, render_text
from kubenexus.scheduler.explaining import explain, placement_detail, score_breakdown
from kubenexus.shell.binder import Binder, BinderSettings
from kubenexus.shell.budgets import DisruptionBudgets
from kubenexus.shell.client import ApiError, ClientSettings, KubeClient
from kubenexus.shell.events import EventRecorder, EventSettings
from kubenexus.shell.explain_gate import ExplainGate, ExplainLimits
from kubenexus.shell.informer import Informer, InformerSettings, object_name
from kubenexus.shell.leader import LeaderElector, LeaderSettings
from kubenexus.shell.metrics import Metrics, bound_port, health_app, start_server
from kubenexus.shell.operator import CrdStore, OperatorThread, build_registry, pod_group_problems
from kubenexus.shell.pod_reader import PodNotFoundError, read_pod
from kubenexus.shell.podgroups import PodGroupStatusWriter, member_state
from kubenexus.shell.preempter import Preempter, PreemptionSettings
from kubenexus.shell.reservations import ReservationWriter
from kubenexus.shell.slices import SliceFeed
from kubenexus.shell.workloads import ClusterObjects

log = structlog.get_logger(__name__)
# Connections beyond the watches: lists, binds, Events, status patches.
MIN_SPARE_CONNECTIONS: Final = 4
PODGROUPS_PATH: Final = f"/apis/{GROUP}/{VERSION}/podgroups"


@dataclass(frozen=True)
class DaemonSettings:
    scheduler: SchedulerConfiguration = field(default_factory=SchedulerConfiguration)
    binder: BinderSettings = field(default_factory=BinderSettings)
    events: EventSettings = field(default_factory=EventSettings)
    informer: InformerSettings = field(default_factory=InformerSettings)
    preemption: PreemptionSettings = field(default_factory=PreemptionSettings)
    # Decisions made before yielding to the event loop (so watch events and binds keep flowing).
    batch: int = 128
    # Longest wait for in-flight binds on shutdown.
    shutdown_grace_seconds: float = 10.0
    # Run kopf for the CRDs (the integration tests of the core path may leave it out).
    with_operator: bool = True
    # None: no leader election (a single replica, tests, benchmarks).
    leader: LeaderSettings | None = None
    # host_pid_random, like client-go's hostname_uuid: unique, and says who holds the Lease.
    identity: str = field(
        default_factory=lambda: f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    )
    # None: no metrics/health server. Port 0 picks a free port (tests).
    metrics_address: str = "0.0.0.0"  # probes and Prometheus reach the pod IP
    metrics_port: int | None = None
    # Write the score-breakdown annotation on each pod placed (explain-only work: off).
    score_annotation: bool = False
    # Answer GET /explain?pod=NS/NAME on the metrics port from the daemon's own state (it names
    # pods and nodes to whoever reaches the port: off).
    serve_explain: bool = False
    # How much work /explain may do (one at a time, a share of the loop, gang size).
    explain_limits: ExplainLimits = field(default_factory=ExplainLimits)
    # Tune the process for one big, long-lived cache and many connections: the garbage
    # collector's thresholds and TLS read buffers (process-wide settings: ``kubenexus run``
    # turns it on, tests running many daemons in one process do not).
    tune_process: bool = False


# Decoding a page of 500 pods makes ~100,000 objects: at the default threshold (700) the
# collector ran ~150 times per page and took half of the start-up (measured: 50,000 pods listed
# and read in 6.7 s, 3.3 s at this threshold). Cycles are still collected, just in fewer runs.
GC_THRESHOLDS: Final = (100_000, 50, 100)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """The collector at ``GC_THRESHOLDS`` for a bulk read (a one-shot list of the cluster), the
    previous thresholds back afterwards."""
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


# asyncio gives every TLS connection a 256 KiB read buffer; each Binding in flight holds one
# connection, so 256 in flight held 64 MiB of buffers that replies of a few KB never fill
# (measured at 50,000 pods, 256 in flight: 291 MiB peak; 239 with 64 KiB buffers, 230 with
# 32 KiB). A list page of 1 MB then takes a few dozen reads: nothing next to decoding it.
TLS_READ_BUFFER: Final = 32 * 1024


class Daemon:
    def __init__(self, client: KubeClient, settings: DaemonSettings | None = None) -> None:
        self.client = client
        self.settings = settings or DaemonSettings()
        self.scheduler = build_scheduler(self.settings.scheduler)
        if self.settings.score_annotation:
            for profile in self.scheduler.profiles.values():
                profile.record_scores = True
        # Events have their own connections and rate, and wait while binds do: a Binding never
        # queues behind an Event for a connection, a token or the API server's time.
        self._events_client = client.sibling(
            ClientSettings(qps=0, connection_pool=self.settings.events.concurrency + 1)
        )
        self.recorder = EventRecorder(
            self._events_client, self.settings.events, binds_waiting=self._binds_waiting
        )
        self.reservation_writer = ReservationWriter(client, self.scheduler.reserving.book)
        self.binder = Binder(
            client,
            on_bound=self._bound,
            on_failed=self._bind_failed,
            on_refused=self._bind_refused,
            prepare=self._before_binding,
            may_bind=self._leading,
            settings=self.settings.binder,
        )
        self.crds = CrdStore(on_pod_group=self._pod_group_changed)
        self.pod_groups = PodGroupStatusWriter(client)
        self.pods = Informer(
            client,
            "/api/v1/pods",
            on_upsert=self._pod_upsert,
            on_delete=self._pod_delete,
            settings=self.settings.informer,
            name="pods",
        )
        self.nodes = Informer(
            client,
            "/api/v1/nodes",
            on_upsert=self._node_upsert,
            on_delete=self._node_delete,
            settings=self.settings.informer,
            name="nodes",
        )
        self.metrics = Metrics()
        for profile_name in self.scheduler.profiles:
            self.metrics.add_profile(profile_name)
        # Victims evicted and nominations written off the scheduling loop, by the leader only.
        self.preempter = Preempter(
            client,
            self.recorder,
            self.metrics,
            may_evict=self._leading,
            settings=self.settings.preemption,
            on_abandoned=self.scheduler.preemption_abandoned,
        )
        # Leader election has its own connections and rate limit (as kube-scheduler gives it its
        # own client): a renewal must never wait behind thousands of queued binds and Events.
        self._election_client = (
            client.sibling(ClientSettings(qps=0, connection_pool=2))
            if self.settings.leader is not None
            else None
        )
        self.elector = (
            LeaderElector(self._election_client, self.settings.identity, self.settings.leader)
            if self._election_client is not None and self.settings.leader is not None
            else None
        )
        self.topologies = Informer(
            client,
            "/apis/topology.node.k8s.io/v1alpha2/noderesourcetopologies",
            on_upsert=self._topology_upsert,
            on_delete=self._topology_delete,
            settings=self.settings.informer,
            name="noderesourcetopologies",
            optional=True,
        )
        # DRA ResourceSlices: the GPUs of nodes that publish them (optional, like NRT).
        self._slice_feed = SliceFeed(self._slices_changed)
        self.slices = Informer(
            client,
            "/apis/resource.k8s.io/v1/resourceslices",
            on_upsert=self._slice_feed.upsert,
            on_delete=self._slice_feed.delete,
            settings=self.settings.informer,
            name="resourceslices",
            optional=True,
        )
        self._gpu_problems: dict[str, str] = {}  # node → the GPU data problem last logged
        # Namespaces' labels and workloads' selectors (inter-pod affinity, default spreading).
        self.cluster_objects = ClusterObjects(client, self.scheduler, self.settings.informer)
        # PodDisruptionBudgets: preemption prefers victims whose eviction breaks none.
        self.budgets = DisruptionBudgets(client, self.scheduler, self.settings.informer)
        # Read before deciding (like pods and nodes): the room they hold must be counted first.
        self.reservations = Informer(
            client,
            f"/apis/{GROUP}/{VERSION}/{PLURAL}",
            on_upsert=self._reservation_upsert,
            on_delete=self._reservation_delete,
            settings=self.settings.informer,
            name=PLURAL,
            optional=True,
        )
        # PodGroups too: a (re)started daemon must size its waiting gangs by them from its first
        # decision (kopf, which only validates them, starts later and on the leader only).
        self.pod_group_informer = Informer(
            client,
            PODGROUPS_PATH,
            on_upsert=self._pod_group_upsert,
            on_delete=self._pod_group_delete,
            settings=self.settings.informer,
            name="podgroups",
            optional=True,
        )
        # Every informer's watch holds a connection for good: a pool no larger than that
        # would leave nothing for lists, binds and Events, and the daemon would hang.
        watches = len(self._informers())
        if client.settings.connection_pool < watches + MIN_SPARE_CONNECTIONS:
            raise ValueError(
                f"connection pool of {client.settings.connection_pool}: the daemon holds "
                f"{watches} watches open and needs at least "
                f"{watches + MIN_SPARE_CONNECTIONS} connections"
            )
        self._numa = [
            plugin
            for profile in self.scheduler.profiles.values()
            for plugin in profile.filters
            if isinstance(plugin, NUMATopology)
        ]
        self.ready = asyncio.Event()  # caches synced: decisions are safe
        self.stopping = asyncio.Event()
        self.healthy = True
        self.metrics_port: int | None = None
        self.operator: OperatorThread | None = None  # kopf, started once leading
        self._wake = asyncio.Event()
        # GET /explain: bounded (see explain_gate).
        self._explain_gate = ExplainGate(self.settings.explain_limits)
        self.decisions = 0
        self.unschedulable = 0
        self.pending_at_sync = 0

    # ------------------------------------------------------------------ cluster events

    def _pod_upsert(self, obj: Mapping[str, Any]) -> None:
        spec = obj.get("spec")
        ours = False  # a spec that is not an object is refused below, naming the field
        if isinstance(spec, Mapping):
            ours = spec.get("schedulerName") in self.scheduler.profiles
            if not ours and not spec.get("nodeName"):
                return  # another scheduler's pod, not placed yet: nothing to count or to place
        try:
            # A placed pod is read for what counting it needs (a cache of 50,000 pods must
            # stay small and read fast: DESIGN.md's memory target, the start-up time).
            pod = placed_pod_from_dict(obj, keep_owner=ours)
        except InvalidInputError as exc:
            self._invalid_pod(obj, exc)
            return
        if pod.gang and ours:
            created = (obj.get("metadata") or {}).get("creationTimestamp")
            self.pod_groups.member_seen(
                pod.gang,
                pod.key,
                member_state(obj),
                pod.gang_min,
                created if isinstance(created, str) else "",
            )
        self.scheduler.upsert_pod(pod)
        self._wake.set()

    def _invalid_pod(self, obj: Mapping[str, Any], exc: InvalidInputError) -> None:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        log.warning(
            "pod.invalid", pod=f"{meta.get('namespace')}/{meta.get('name')}", error=str(exc)
        )
        uid = str(meta.get("uid", ""))
        if uid:
            # An earlier valid version must not be scheduled; but a placed pod keeps running and
            # using its node: its last good view stays counted.
            self.scheduler.drop_pending(uid)
        if (
            isinstance(spec, Mapping)
            and spec.get("schedulerName") in self.scheduler.profiles
            and not spec.get("nodeName")
        ):
            stub = PodInfo(
                namespace=str(meta.get("namespace", "default")),
                name=str(meta.get("name", "")),
                requests={},
                uid=uid,
            )
            self.recorder.event(stub, "Warning", "FailedScheduling", f"invalid pod: {exc}")

    def _pod_delete(self, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = str(meta.get("uid") or f"{meta.get('namespace', 'default')}/{meta.get('name', '')}")
        self.scheduler.remove_pod(key)
        self.recorder.forget(key)
        self.preempter.forget(key)
        self.pod_groups.member_gone(key)
        self._wake.set()

    def _node_upsert(self, obj: Mapping[str, Any]) -> None:
        try:
            node = node_from_dict(obj)
        except InvalidInputError as exc:
            name = (obj.get("metadata") or {}).get("name")
            log.warning("node.invalid", node=name, error=str(exc))
            if isinstance(name, str):
                self.scheduler.remove_node(name)  # unusable until its object is valid again
            return
        self._report_gpus(node.name, self.scheduler.upsert_node(node))
        self._report_topology(node.name)
        self._wake.set()

    def _report_gpus(self, node: str, problem: str) -> None:
        """A node whose GPU data cannot be read, or whose sources disagree, gets a Warning
        (logged once per problem, not on every update of the node)."""
        if problem and self._gpu_problems.get(node) != problem:
            log.warning("node.gpus_ignored", node=node, problem=problem)
        if problem:
            self._gpu_problems[node] = problem
        else:
            self._gpu_problems.pop(node, None)
        if problem:
            self.recorder.node_event(
                node, "Warning", "InvalidGPUData", f"GPU data ignored: {problem}"
            )
        info = self.scheduler.cache.node_info(node)
        if info is not None and info.gpus is not None:
            for disagreement in info.gpus.disagreements:
                self.recorder.node_event(node, "Warning", "GPUDataDisagree", disagreement)
            for warning in info.gpus.warnings:  # e.g. a GPU publishing no memory
                self.recorder.node_event(node, "Warning", "GPUDataIncomplete", warning)

    def _slices_changed(self, node: str, slices: list[Mapping[str, Any]]) -> None:
        self._report_gpus(node, self.scheduler.set_node_slices(node, slices))
        self._wake.set()

    def _report_topology(self, node: str) -> None:
        for plugin in self._numa:
            problem = plugin.problems.get(node)
            if problem:
                log.warning("node.topology_ignored", node=node, problem=problem)
                self.recorder.node_event(node, "Warning", "InvalidNUMATopology", problem)

    def _topology_upsert(self, obj: Mapping[str, Any]) -> None:
        name = str((obj.get("metadata") or {}).get("name", ""))
        try:
            topology: NodeTopology | None = topology_from_nrt(obj)
        except InvalidInputError as exc:
            log.warning("nrt.invalid", node=name, error=str(exc))
            self.recorder.node_event(
                name, "Warning", "InvalidNUMATopology", f"NodeResourceTopology ignored: {exc}"
            )
            topology = None
        self.scheduler.set_node_topology(name, topology)
        self._wake.set()

    def _topology_delete(self, obj: Mapping[str, Any]) -> None:
        name = str((obj.get("metadata") or {}).get("name", ""))
        self.scheduler.set_node_topology(name, None)
        self._wake.set()

    def _node_delete(self, obj: Mapping[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        if isinstance(name, str):
            self._gpu_problems.pop(name, None)
            self.scheduler.remove_node(name)

    def _pod_group_upsert(self, obj: Mapping[str, Any]) -> None:
        namespace, name = object_name(obj)
        spec = obj.get("spec")
        if not name or not isinstance(spec, Mapping) or pod_group_problems(spec):
            # kopf's handler names the bad field in a Warning Event on the object.
            self.crds.set_pod_group(f"{namespace}/{name}", None)
            return
        labels = (obj.get("metadata") or {}).get("labels") or {}
        managed = labels.get(keys.MANAGED_BY_LABEL) == keys.SCHEDULER_NAME
        self.crds.set_pod_group(f"{namespace}/{name}", dict(spec), managed)
        self.pod_groups.resume(f"{namespace}/{name}", obj.get("status") or {})

    def _pod_group_delete(self, obj: Mapping[str, Any]) -> None:
        namespace, name = object_name(obj)
        self.crds.set_pod_group(f"{namespace}/{name}", None, deleted=True)

    def _pod_group_changed(
        self, key: str, spec: Mapping[str, Any] | None, managed: bool = False, deleted: bool = False
    ) -> None:
        if deleted:
            self.scheduler.pod_group_deleted(key)  # its reservations are released too
            self.pod_groups.object_gone(key)
            self._wake.set()
            return
        parsed = None
        if spec is not None:
            try:
                parsed = replace(pod_group_spec(spec), managed=managed)
                if managed:
                    # Made without a timeout: one there was filled in by a CRD default (older
                    # CRDs had one) and must not replace the configured default.
                    parsed = replace(parsed, schedule_timeout_seconds=None)
            except InvalidInputError as exc:
                log.warning("podgroup.invalid", pod_group=key, error=str(exc))
        self.scheduler.upsert_pod_group(key, parsed)
        if parsed is not None:
            self.pod_groups.observed(key, parsed.min_member, managed=managed)
        self._wake.set()

    def _reservation_upsert(self, obj: Mapping[str, Any]) -> None:
        try:
            spec = reservation_from_dict(obj)
        except InvalidInputError as exc:  # no name: nothing to hold, nowhere to say it
            log.warning("reservation.invalid", error=str(exc))
            return
        self.scheduler.upsert_reservation(spec)
        held = self.scheduler.reserving.book.get(spec.key)
        if held is not None and held.phase == "Invalid":
            log.warning("reservation.invalid", reservation=spec.key, error=held.problem)
        self._wake.set()

    def _reservation_delete(self, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        self.scheduler.remove_reservation(f"{meta.get('namespace', 'default')}/{meta.get('name')}")
        self._wake.set()

    def _driver_event(self, held: Held, event_type: str, reason: str, message: str) -> None:
        spec = held.spec
        if spec.driver_name:
            driver = PodInfo(
                namespace=spec.namespace, name=spec.driver_name, requests={}, uid=spec.driver_uid
            )
            self.recorder.event(driver, event_type, reason, message)

    # ------------------------------------------------------------------ binding results

    async def _before_binding(self, decision: Scheduled) -> None:
        """A driver's ResourceReservation is written before its Binding: should the daemon
        stop in between, the next one finds the room held (and places the driver alone)."""
        if decision.reservation is not None:
            await self.reservation_writer.create_for(decision, gate=self._leading)

    def _bound(self, decision: Scheduled, seconds: float) -> None:
        self.metrics.binding_duration.observe(seconds)
        self.metrics.bindings.labels("bound").inc()
        pod = decision.pod
        self.scheduler.binding_succeeded(pod.key)
        self.recorder.forget(pod.key)
        # kube-scheduler's words, then what was chosen within the node (zones, CPUs, GPUs).
        detail = placement_detail(
            pod, decision.placement.annotations, self.scheduler.cache.node_info(decision.node)
        )
        message = f"Successfully assigned {pod.full_name} to {decision.node}"
        self.recorder.event(
            pod, "Normal", "Scheduled", f"{message}: {detail}" if detail else message
        )
        book = self.scheduler.reserving.book
        if decision.reservation is not None:
            held = book.get(decision.reservation.key)
            if held is not None:
                self.recorder.event(pod, "Normal", "Reserved", reserved_message(held))
        if decision.claim is not None:
            reservation, slot = decision.claim
            self.recorder.event(
                pod,
                "Normal",
                "ClaimedReservation",
                claimed_message(reservation, slot, decision.node),
            )

    def _bind_refused(self, decision: Scheduled) -> None:
        """Leadership is gone, so nothing was sent: the new leader schedules the pod. Forget the
        assumption, do not retry."""
        self.metrics.bindings.labels("refused").inc()
        self.scheduler.binding_failed(decision.pod.key, "not the leader", retry=False)

    def _bind_failed(self, decision: Scheduled, error: ApiError, retry: bool) -> None:
        """As kube-scheduler: forget the placement, and retry with backoff after any refusal
        but the pod being gone, with an Event naming the error."""
        message = f"Binding rejected: {error}"
        requeued = self.scheduler.binding_failed(decision.pod.key, message, retry=retry)
        result = "retried" if requeued else {404: "gone"}.get(error.status, "dropped")
        self.metrics.bindings.labels(result).inc()
        if requeued:
            self.recorder.event(decision.pod, "Warning", "FailedScheduling", message)
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    def _binds_waiting(self) -> bool:
        return self.binder.in_flight > 0

    def _leading(self) -> bool:
        """May this replica decide and bind now? Always without leader election; with it, only
        while the Lease is held and renewed in time (the Binder asks before every request)."""
        return self.elector is None or self.elector.is_leader

    async def _schedule(self) -> None:
        await self.ready.wait()
        if self.elector is not None:
            await self.elector.acquired.wait()
            log.info("scheduling.started", identity=self.settings.identity)
        clock = self.scheduler.clock
        attempts, durations = self.metrics.attempts, self.metrics.attempt_duration
        while not self.stopping.is_set():
            self._wake.clear()
            self._expire_reservations()  # before deciding: expired room is free room
            done = 0
            while not self.stopping.is_set() and self._leading():
                if self.binder.saturated:
                    await self.binder.wait_for_slot()
                started = time.perf_counter()
                batch = self.scheduler.schedule_next()  # a gang comes as one batch
                if not batch:
                    break
                elapsed = (time.perf_counter() - started) / len(batch)
                for outcome in batch:
                    done += 1
                    self.decisions += 1
                    profile = outcome.pod.scheduler_name
                    problems = self.scheduler.profile_of(outcome.pod).problems
                    if problems:  # a label or annotation its profile could not read
                        self.recorder.event(
                            outcome.pod, "Warning", "InvalidProfile", "; ".join(problems)
                        )
                    if isinstance(outcome, Scheduled):
                        # A condition still queued from an earlier attempt must not land
                        # after the binding.
                        self.recorder.forget(outcome.pod.key)
                        if self.settings.score_annotation:
                            placement = outcome.placement
                            placement.annotations[keys.SCORE_BREAKDOWN] = score_breakdown(
                                placement, self.scheduler.cache.nodes
                            )
                        self.binder.submit(outcome)
                        result = "scheduled"
                    else:
                        self.unschedulable += 1
                        self.recorder.unschedulable(
                            outcome.pod, outcome.message, dedupe=outcome.failure.kind
                        )
                        if outcome.pod.gang:
                            self.pod_groups.attempted(outcome.pod.gang, outcome.message)
                        if outcome.preemption is not None or outcome.nominate is not None:
                            self.preempter.submit(outcome.pod, outcome.preemption, outcome.nominate)
                        result = "error" if outcome.failure.internal else "unschedulable"
                    attempts.labels(result, profile).inc()
                    durations.labels(result, profile).observe(elapsed)
                if done >= self.settings.batch:
                    done = 0
                    await asyncio.sleep(0)
            wakeups = [self.scheduler.queue.next_wakeup(), self.scheduler.reserving.next_expiry()]
            wakeup = min((w for w in wakeups if w is not None), default=None)
            delay = 1.0 if wakeup is None else min(max(wakeup - clock(), 0.01), 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def _expire_reservations(self) -> None:
        """Reservations whose time to live passed release their unclaimed room (the core
        decides which); the driver hears of it."""
        expiry = self.scheduler.reserving.next_expiry()
        if expiry is None or expiry > self.scheduler.clock():
            return
        for held in self.scheduler.expire_reservations():
            log.info("reservation.expired", reservation=held.key)
            self._driver_event(held, "Warning", "ReservationExpired", expired_message(held))
        self._wake.set()

    async def explain_pod(self, target: str, output: str) -> tuple[int, str]:
        """GET /explain: the pod explained on the daemon's own state (no listing: the answer
        of the scheduler that decides). A placed pod is read once from the API (the cache
        keeps only what accounting needs of it)."""
        namespace, _, name = target.partition("/")
        if not namespace or not name or "/" in name:
            return 400, f"pod: {target!r}: expected NAMESPACE/POD\n"
        try:
            check_namespace(namespace, "pod (namespace)")
            check_pod_name(name, "pod (name)")
        except InvalidInputError as exc:
            return 400, f"{exc}\n"
        if not self.ready.is_set():
            return 503, "caches not synced\n"

        async def answer() -> tuple[int, str]:
            pod = next(
                (
                    e.pod
                    for e in self.scheduler.queue.entries()
                    if e.pod.namespace == namespace and e.pod.name == name
                ),
                None,
            )
            if pod is None:
                try:
                    pod, _ = await read_pod(self.client, namespace, name)
                except (PodNotFoundError, ApiError) as exc:
                    return (404 if isinstance(exc, PodNotFoundError) else 502), f"{exc}\n"
            limit = self._explain_gate.limits.gang_limit
            members = len(self.scheduler.queue.gang_members(pod.gang)) if pod.gang else 0
            if members > limit:
                return 422, (
                    f"pod group {pod.gang}: {members} pending members, more than /explain "
                    f"tries on the daemon ({limit}); use `kubenexus explain`, which reads the "
                    "cluster itself\n"
                )
            explained = explain(self.scheduler, pod)
            if output == "json":
                return 200, render_json(explained)
            return 200, render_text(explained) + "\n"

        return await self._explain_gate.run((f"{namespace}/{name}", output), answer)

    def _informers(self) -> list[Informer]:
        """Every informer the first decision waits for."""
        return [
            self.pods,
            self.nodes,
            self.topologies,
            self.slices,
            self.reservations,
            self.pod_group_informer,
            self.budgets.informer,
            *self.cluster_objects.informers.values(),
        ]

    def unready(self) -> str:
        """Why decisions cannot start ("" when they can): the caches not synced yet, each with
        the error that keeps it from syncing (e.g. a 403 for a resource the role lacks)."""
        if self.ready.is_set():
            return ""
        waiting = [
            f"{i.name} ({i.last_error})" if i.last_error else i.name
            for i in self._informers()
            if not i.synced.is_set()
        ]
        return "caches not synced" + (f": {', '.join(waiting)}" if waiting else "")

    async def _await_synced(self) -> None:
        await asyncio.gather(*(informer.synced.wait() for informer in self._informers()))
        if self.settings.tune_process:
            # The cache read so far lives as long as the process: moved out of the collector's
            # sight, later full collections no longer walk 50,000 pods' records.
            gc.freeze()
        log.info(
            "caches.synced",
            nodes=self.scheduler.nodes,
            pods=self.scheduler.cache.pod_count,
            pending=len(self.scheduler.queue),
            gc_frozen=gc.get_freeze_count(),
        )
        self.pending_at_sync = len(self.scheduler.queue)
        self.ready.set()

    def refresh_metrics(self) -> None:
        """Gauges read at scrape time from the state they describe."""
        m = self.metrics
        for queue, count in self.scheduler.queue.pending_counts().items():
            m.pending.labels(queue).set(count)
        m.cache_size.labels("nodes").set(self.scheduler.nodes)
        m.cache_size.labels("pods").set(self.scheduler.cache.pod_count)
        m.binds_in_flight.set(self.binder.in_flight)
        r = self.recorder
        for outcome, value in (
            ("posted", r.posted),
            ("suppressed", r.suppressed),
            ("coalesced", r.coalesced),
            ("dropped", r.dropped),
            ("failed", r.failed),
        ):
            m.events.labels(outcome).set(value)
        m.leader.set(1 if self.elector is None or self.elector.is_leader else 0)
        for informer in (
            self.pods,
            self.nodes,
            self.reservations,
            self.pod_group_informer,
            self.budgets.informer,
        ):
            m.informer_relists.labels(informer.name).set(informer.relists)
        book = self.scheduler.reserving.book
        for phase, count in book.phase_counts().items():
            m.reservations.labels(phase).set(count)
        reserved = book.reserved()
        for resource in {*reserved, *m.reserved_resources}:
            m.reserved_capacity.labels(resource).set(reserved.get(resource, 0))
        m.reserved_resources.update(reserved)
        for phase, count in self.pod_groups.phase_counts().items():
            m.gangs.labels(phase).set(count)
        for source, count in self._numa_sources().items():
            m.numa_nodes.labels(source).set(count)

    def _numa_sources(self) -> dict[str, int]:
        counts = {"NodeResourceTopology": 0, "labels": 0, "ignored": 0}
        for plugin in self._numa[:1]:  # every profile sees the same nodes
            for topology in plugin.zones.topologies.values():
                counts[topology.source] += 1
            counts["ignored"] = len(plugin.problems)
        return counts

    async def _lead(self) -> None:
        """Campaign (if electing), then run what only the leader runs: the PodGroup status
        writer and kopf. Raises, naming the reason, as soon as leadership is lost, kopf's thread
        dies or the status writer ends, so the daemon stops (a restart joins as a standby)."""
        guarded: dict[asyncio.Task[None], str] = {}
        helpers: list[asyncio.Task[Any]] = []
        try:
            if self.elector is not None:
                campaign = asyncio.create_task(self.elector.run(), name="leader-election")
                guarded[campaign] = "leader election"
                won = asyncio.create_task(self.elector.acquired.wait(), name="leader-acquired")
                helpers.append(won)
                await asyncio.wait({campaign, won}, return_when=asyncio.FIRST_COMPLETED)
            if not any(task.done() for task in guarded):
                # kopf and the status writers start once the caches are synced: their start-up
                # (kopf's thread holds the GIL for a while) must not slow the initial lists and
                # so the first bind. PodGroups come through our own informer, read before that.
                synced = asyncio.create_task(self.ready.wait(), name="caches-synced")
                helpers.append(synced)
                await asyncio.wait({*guarded, synced}, return_when=asyncio.FIRST_COMPLETED)
            if not any(task.done() for task in guarded):
                guarded.update(self._start_leading())
                await asyncio.wait(guarded, return_when=asyncio.FIRST_COMPLETED)
            ended = next(task for task in guarded if task.done())
            reason, error = self._why_ended(guarded[ended], ended)
        finally:
            for task in [*guarded, *helpers]:
                task.cancel()
            await asyncio.gather(*guarded, *helpers, return_exceptions=True)
        log.error("leadership.ended", reason=reason)
        raise RuntimeError(reason) from error

    def _start_leading(self) -> dict[asyncio.Task[None], str]:
        """What only the leader runs, each task with what it stands for."""
        started = {
            asyncio.create_task(self.pod_groups.run(), name="podgroup-status"): (
                "PodGroup status writer"
            ),
            asyncio.create_task(self.reservation_writer.run(), name="reservation-status"): (
                "ResourceReservation status writer"
            ),
        }
        if self.settings.with_operator:
            registry = build_registry(self.client.configuration)
            self.operator = OperatorThread(registry)
            self.operator.start()
            exited = asyncio.create_task(self.operator.exited(), name="operator-exited")
            started[exited] = "kopf operator"
        return started

    def _why_ended(self, what: str, task: asyncio.Task[None]) -> tuple[str, BaseException | None]:
        error = None if task.cancelled() else task.exception()
        if what == "kopf operator" and self.operator is not None:
            error = self.operator.error
        if what == "leader election" and error is None and self.elector is not None:
            return f"leadership lost: {self.elector.lost_reason}", None
        if error is None:
            return f"the {what} stopped unexpectedly", None
        return f"the {what} crashed: {error!r}", error

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then shut down gracefully (finishing in-flight binds)."""
        if self.settings.tune_process:
            gc.set_threshold(*GC_THRESHOLDS)
            asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER
        server = None
        if self.settings.metrics_port is not None:
            app = health_app(
                self.metrics,
                refresh=self.refresh_metrics,
                healthy=lambda: self.healthy,
                unready=self.unready,
                explain=self.explain_pod if self.settings.serve_explain else None,
            )
            address, port = self.settings.metrics_address, self.settings.metrics_port
            try:
                server = await start_server(app, address, port)
            except OSError as exc:  # taken, or an address that does not resolve
                # asyncio's message repeats the address before the reason: keep the reason.
                reason = str(exc.strerror or exc).rsplit(": ", 1)[-1]
                raise ConfigError(
                    f"--metrics-address/--metrics-port {address}:{port}: cannot listen: {reason}"
                ) from exc
            self.metrics_port = bound_port(server)
        jobs: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "pod-informer": self.pods.run,
            "node-informer": self.nodes.run,
            "topology-informer": self.topologies.run,
            "reservation-informer": self.reservations.run,
            "podgroup-informer": self.pod_group_informer.run,
            "resourceslice-informer": self.slices.run,
            "pdb-informer": self.budgets.informer.run,
            **{
                f"{name}-informer": informer.run
                for name, informer in self.cluster_objects.informers.items()
            },
            "events": self.recorder.run,
            "sync": self._await_synced,
            "scheduling-loop": self._schedule,
            "leadership": self._lead,
        }
        tasks = {asyncio.create_task(job(), name=name): name for name, job in jobs.items()}
        stopper = asyncio.create_task(stop.wait(), name="stop")
        try:
            while True:
                watched: set[asyncio.Task[Any]] = {stopper, *tasks}
                done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                if stopper in done:
                    break
                for task in done:
                    name = tasks.pop(task, None) or task.get_name()
                    if name == "sync":
                        continue
                    # An eternal task ended: surface it loudly and stop rather than run half-blind.
                    self.healthy = False
                    error = task.exception() if not task.cancelled() else None
                    log.error("daemon.task_ended", task=name, error=repr(error))
                    raise RuntimeError(f"daemon task {name!r} ended: {error}") from error
        finally:
            await self._shutdown(tasks, stopper)
            if server is not None:
                await server.cleanup()

    async def _shutdown(
        self, tasks: dict[asyncio.Task[None], str], stopper: asyncio.Task[Any]
    ) -> None:
        """Stop deciding, let in-flight binds and queued Events finish (bounded), release the
        Lease so a standby takes over at once, stop the rest."""
        self.stopping.set()
        self._wake.set()
        started = time.monotonic()
        if not await self.binder.wait_idle(self.settings.shutdown_grace_seconds):
            log.warning("shutdown.binds_abandoned", in_flight=self.binder.in_flight)
        remaining = self.settings.shutdown_grace_seconds - (time.monotonic() - started)
        if not await self.preempter.wait_idle(max(remaining, 0.1)):
            log.warning("shutdown.preemptions_abandoned", in_flight=self.preempter.in_flight)
        await self.preempter.cancel()
        remaining = self.settings.shutdown_grace_seconds - (time.monotonic() - started)
        await self.recorder.drain(max(remaining, 0.1))
        # Renewals end before the release: one landing after it would take the Lease back.
        leading = [task for task, name in tasks.items() if name == "leadership"]
        for task in leading:
            task.cancel()
        await asyncio.gather(*leading, return_exceptions=True)
        if self.elector is not None:
            await self.elector.release()
        if self._election_client is not None:
            await self._election_client.close()
        stopper.cancel()
        for task in tasks:  # "leadership" stops its own: the status writer, the kopf watch
            task.cancel()
        await asyncio.gather(stopper, *tasks, return_exceptions=True)
        await self._events_client.close()  # its workers are stopped now
        if self.operator is not None and not await self.operator.stop(timeout=10):
            log.warning("shutdown.operator_still_running")


async def serve(
    settings: DaemonSettings,
    *,
    kubeconfig: str | None = None,
    host: str | None = None,
    client_settings: Any = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Connect and run the daemon until SIGTERM/SIGINT (or ``stop``)."""
    import signal  # noqa: PLC0415 - only the real entry point installs signal handlers

    from kubenexus.shell.client import load_configuration  # noqa: PLC0415

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    configuration = await load_configuration(kubeconfig, host, in_cluster_first=True)
    client = KubeClient(configuration, client_settings)
    log.info(
        "daemon.starting",
        server=client.host,
        profiles=[p.scheduler_name for p in settings.scheduler.profiles],
    )
    try:
        await Daemon(client, settings).run(stop)
    finally:
        await client.close()
        log.info("daemon.stopped")
