"""Prometheus metrics (kube-scheduler's names where they apply) and the health endpoints.

Served on ``--metrics-port``: ``/metrics``, ``/healthz`` (the daemon's tasks are alive) and
``/readyz`` (caches synced: decisions would be made on a full view of the cluster; if not, it
names the caches still missing and why).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kubenexus.errors import KubeNexusError
from kubenexus.shell.explain_gate import RETRY_AFTER_SECONDS

_LATENCY_BUCKETS: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
# kube-scheduler's: ExponentialBuckets(1, 2, 7) ("#victims > 64 is pretty rare").
_VICTIM_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64)
BIND_RESULTS: Final = ("bound", "retried", "gone", "dropped", "refused")
ATTEMPT_RESULTS: Final = ("scheduled", "unschedulable", "error")
_BIND_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """One registry per daemon (tests run several daemons in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.attempts = Counter(
            "scheduler_schedule_attempts_total",
            "Number of attempts to schedule pods, by the result.",
            ["result", "profile"],
            registry=r,
        )
        self.attempt_duration = Histogram(
            "scheduler_scheduling_attempt_duration_seconds",
            "Scheduling attempt latency in seconds (scheduling algorithm + binding decision).",
            ["result", "profile"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.pending = Gauge(
            "scheduler_pending_pods",
            "Number of pending pods, by the queue type.",
            ["queue"],
            registry=r,
        )
        self.cache_size = Gauge(
            "scheduler_scheduler_cache_size",
            "Number of nodes and pods in the scheduler cache.",
            ["type"],
            registry=r,
        )
        self.binding_duration = Histogram(
            "kubenexus_binding_duration_seconds",
            "Latency of binding a pod (placement annotations + Binding) in seconds.",
            buckets=_BIND_BUCKETS,
            registry=r,
        )
        self.bindings = Counter(
            "kubenexus_bindings_total",
            "Bindings by result: bound, retried (any refusal but 404), gone (404), dropped "
            "(the pod was deleted or gated meanwhile), refused (not sent: leadership lost).",
            ["result"],
            registry=r,
        )
        # Every outcome exported from the start (at 0): an alert on a rate needs the series.
        for result in BIND_RESULTS:
            self.bindings.labels(result)
        self.binds_in_flight = Gauge(
            "kubenexus_binds_in_flight", "Bindings submitted and not yet answered.", registry=r
        )
        self.events = Gauge(
            "kubenexus_events",
            "Events and pod conditions by outcome: posted, suppressed (duplicate), coalesced "
            "(replaced by a newer one for the same object and reason before it was sent), "
            "dropped (queue full: Normal Events give way first), failed.",
            ["outcome"],
            registry=r,
        )
        self.leader = Gauge(
            "kubenexus_leader", "1 while this replica holds the leader Lease.", registry=r
        )
        self.numa_nodes = Gauge(
            "kubenexus_numa_nodes",
            "Nodes by where their NUMA topology comes from: NodeResourceTopology, labels, "
            "ignored (bad data).",
            ["source"],
            registry=r,
        )
        self.gangs = Gauge(
            "kubenexus_gangs",
            "Gangs (PodGroups) by phase, as the scheduler sees them.",
            ["phase"],
            registry=r,
        )
        self.reservations = Gauge(
            "kubenexus_reservations",
            "ResourceReservations by phase: Pending, Active, Released, Expired, Invalid.",
            ["phase"],
            registry=r,
        )
        self.reserved_capacity = Gauge(
            "kubenexus_reserved_capacity",
            "Capacity held by unclaimed reservation slots, per resource (cpu in millicores, "
            "memory in bytes, others in units).",
            ["resource"],
            registry=r,
        )
        # Resources ever reported: set back to 0 when nothing of them is held any more.
        self.reserved_resources: set[str] = set()
        self.informer_relists = Gauge(
            "kubenexus_informer_relists",
            "Full relists by informer (a 410 Gone or a start).",
            ["informer"],
            registry=r,
        )

        self.preemption_attempts = Counter(
            "scheduler_preemption_attempts_total",
            "Total preemption attempts in the cluster till now (carried out or refused).",
            registry=r,
        )
        self.preemption_victims = Histogram(
            "scheduler_preemption_victims",
            "Number of selected preemption victims",
            buckets=_VICTIM_BUCKETS,
            registry=r,
        )

    def add_profile(self, profile: str) -> None:
        """Export the profile's attempt counters from the start (at 0)."""
        for result in ATTEMPT_RESULTS:
            self.attempts.labels(result, profile)

    def render(self) -> bytes:
        return generate_latest(self.registry)


# (NAMESPACE/POD, "text" | "json") → (HTTP status, body)
Explainer = Callable[[str, str], Awaitable[tuple[int, str]]]


def health_app(
    metrics: Metrics,
    *,
    refresh: Callable[[], None],
    healthy: Callable[[], bool],
    unready: Callable[[], str],
    explain: Explainer | None = None,
) -> web.Application:
    async def serve_metrics(_: web.Request) -> web.Response:
        refresh()
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return (
            web.Response(text="ok\n") if healthy() else web.Response(text="unhealthy\n", status=500)
        )

    async def readyz(_: web.Request) -> web.Response:
        reason = unready()  # "" when ready
        return web.Response(text=f"{reason or 'ok'}\n", status=503 if reason else 200)

    async def serve_explain(request: web.Request) -> web.Response:
        assert explain is not None
        output = request.query.get("output", "text")
        if output not in {"text", "json"}:
            return web.Response(text=f"output: {output!r}: expected text or json\n", status=400)
        status, body = await explain(request.query.get("pod", ""), output)
        kind = "application/json" if output == "json" and status == 200 else "text/plain"
        # Busy (429) or not ready (503): when to ask again.
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status in {429, 503} else None
        return web.Response(text=body, status=status, content_type=kind, headers=retry)

    app = web.Application()
    app.router.add_get("/metrics", serve_metrics)
    if explain is not None:
        app.router.add_get("/explain", serve_explain)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start_server(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:  # the port is taken, the address is not this host's...
        await runner.cleanup()
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise KubeNexusError(
            f"--metrics-address/--metrics-port {host}:{port}: cannot listen: {reason}"
        ) from None
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port actually bound (when 0 asked for a free one)."""
    for site in runner.sites:
        server = getattr(site, "_server", None)
        for sock in getattr(server, "sockets", None) or ():
            return int(sock.getsockname()[1])
    raise RuntimeError("the metrics server is not listening")
