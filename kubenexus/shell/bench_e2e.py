"""``kubenexus bench --e2e``: the whole daemon against a live API server (e.g. the test emulator).

The server must already hold nodes and pending pods (``python -m tests.emulator --nodes …
--pending-pods …`` preloads a synthetic cluster). The daemon lists and watches everything, then
schedules and binds every pending pod; we time from caches-synced to the last bind and report the
process's peak RSS, which is the daemon's own (the server runs in another process).
"""

from __future__ import annotations

import asyncio
import platform
import resource
import time
from dataclasses import dataclass

from kubenexus.errors import KubeNexusError
from kubenexus.shell.app import Daemon, DaemonSettings
from kubenexus.shell.binder import BinderSettings
from kubenexus.shell.client import ApiError, ClientSettings, KubeClient, load_configuration
from kubenexus.shell.events import EventSettings


@dataclass(frozen=True, slots=True)
class E2EReport:
    server: str
    nodes: int
    pods_cached: int
    pending_at_start: int
    bound: int
    unschedulable: int
    sync_seconds: float
    bind_seconds: float
    peak_in_flight: int
    peak_rss_bytes: int

    @property
    def binds_per_second(self) -> float:
        return self.bound / self.bind_seconds if self.bind_seconds else 0.0


async def run_e2e(
    server: str,
    *,
    max_in_flight: int = 256,
    qps: float = 0.0,
    burst: int = 1000,
    timeout: float = 600.0,
) -> E2EReport:
    configuration = await load_configuration(None, host=server)
    client = KubeClient(
        configuration, ClientSettings(qps=qps, burst=burst, connection_pool=max_in_flight + 32)
    )
    try:  # a server that does not answer is said at once, not after the daemon's retries
        await client.request("GET", "/version")
    except ApiError as exc:
        await client.close()
        raise KubeNexusError(f"--server {server}: {exc}") from None
    settings = DaemonSettings(
        binder=BinderSettings(max_in_flight=max_in_flight),
        events=EventSettings(per_second=qps or 1000.0, burst=burst),
        with_operator=False,
    )
    daemon = Daemon(client, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    started = time.monotonic()
    try:
        await asyncio.wait_for(daemon.ready.wait(), timeout)
        synced = time.monotonic()
        pending = daemon.pending_at_sync
        deadline = synced + timeout
        while time.monotonic() < deadline:
            counts = daemon.scheduler.queue.pending_counts()
            if (
                counts["active"] + counts["backoff"] + counts["in-flight"] == 0
                and not daemon.binder.in_flight
            ):
                break
            await asyncio.sleep(0.01)
        finished = time.monotonic()
        return E2EReport(
            server=server,
            nodes=daemon.scheduler.nodes,
            pods_cached=daemon.scheduler.cache.pod_count,
            pending_at_start=pending,
            bound=daemon.binder.bound,
            unschedulable=daemon.scheduler.queue.pending_counts()["unschedulable"],
            sync_seconds=synced - started,
            bind_seconds=finished - synced,
            peak_in_flight=daemon.binder.peak_in_flight,
            peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        )
    finally:
        stop.set()
        await task
        await client.close()


def render(report: E2EReport) -> str:
    return "\n".join(
        [
            f"kubenexus bench --e2e against {report.server} — Python {platform.python_version()}",
            f"cluster         {report.nodes} nodes, {report.pods_cached} pods counted after "
            f"binding, {report.pending_at_start} pending at start",
            f"sync            {report.sync_seconds:.2f} s (paginated list + watch of pods, nodes)",
            f"binds           {report.bound} in {report.bind_seconds:.2f} s = "
            f"{report.binds_per_second:,.0f} binds/s (peak {report.peak_in_flight} in flight); "
            f"{report.unschedulable} unschedulable",
            f"peak RSS        {report.peak_rss_bytes / 2**20:,.0f} MiB (the daemon's process)",
        ]
    )
