"""What a platform engineer does to a running scheduler: Leases edited or deleted by hand,
replicas paused past their Lease, bad queries to its endpoints."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from kubenexus.shell.client import ClientSettings, KubeClient
from kubenexus.shell.leader import LeaderElector
from tests.builders import not_helpful
from tests.integration.conftest import (
    FAST_LEASE,
    Cluster,
    eventually,
    http_get,
    lease_holder,
    metric_value,
    run_files,
    running_daemon,
    start_run,
)

LEASE_PATH = r"/leases/kubenexus-scheduler$"


async def test_a_lease_deleted_by_hand_is_recreated_by_its_leader_not_taken_by_a_standby(
    cluster: Cluster,
) -> None:
    """Deleting the Lease is not its holder stopping: a standby that saw it held moments ago
    waits the lease duration before taking a Lease that is missing, so it never leads while
    the old leader (still within its renew deadline) binds too."""
    configuration = await cluster.configuration()
    client = KubeClient(configuration, ClientSettings(qps=0))
    try:
        alpha = LeaderElector(client, "alpha", FAST_LEASE)
        beta = LeaderElector(client, "beta", FAST_LEASE)
        assert await alpha._try()
        assert not await beta._try()  # it sees alpha holding the Lease
        cluster.api.delete_object(
            "leases", "kubenexus-scheduler", "kubenexus-system", group="coordination.k8s.io"
        )
        assert not await beta._try(), "the standby took a deleted Lease its holder still leads"
        assert lease_holder(cluster) is None
        assert await alpha._try()  # the leader writes its Lease back
        assert lease_holder(cluster) == "alpha"
    finally:
        await client.close()


@pytest.mark.emulator("makes every watch of nodes end the moment it starts")
async def test_a_watch_that_ends_at_once_is_reopened_with_backoff_not_in_a_loop(
    cluster: Cluster,
) -> None:
    """A proxy that closes every watch at once (200, no event) must not make the informer
    hammer the API server: as client-go's reflector, a watch that ended without delivering
    anything is reopened after a backoff."""
    cluster.node("a", cpu="4")
    async with running_daemon(cluster) as daemon:
        cluster.api.inject(
            method="GET", path=r"/api/v1/nodes\?.*watch=true", status=200, times=None
        )
        cluster.api.drop_watches("nodes")
        await asyncio.sleep(1.0)
        watches = [
            r for r in cluster.api.received if r.path == "/api/v1/nodes" and r.query.get("watch")
        ]
        assert len(watches) < 15, f"{len(watches)} watches of nodes in 1s"
        cluster.api.faults.clear()
        cluster.node("b", cpu="4")
        await eventually(lambda: daemon.scheduler.nodes == 2, timeout=15)


async def test_a_leader_paused_past_its_lease_yields_to_the_standby_and_binds_nothing_after(
    cluster: Cluster, tmp_path: Path
) -> None:
    """SIGSTOP the leader mid-burst for longer than the Lease: the standby takes over; on
    SIGCONT the old leader finds its renew deadline long past, sends no Binding and exits
    naming why. Every pod is bound exactly once."""
    for i in range(4):
        cluster.node(f"n{i}", cpu="64")
    files = run_files(
        cluster,
        tmp_path,
        "leaderElection: {leaseDuration: 2s, renewDeadline: 1500ms, retryPeriod: 250ms, "
        "resourceNamespace: kubenexus-system}\n",
    )

    async def replica() -> asyncio.subprocess.Process:
        return await start_run(
            *files, "--metrics-port", "0", "--log-format", "json", stderr=asyncio.subprocess.PIPE
        )

    first, second = await replica(), await replica()
    try:
        await eventually(lambda: lease_holder(cluster), timeout=30)
        leader = lease_holder(cluster) or ""
        paused = {p.pid: p for p in (first, second)}[int(leader.split("_")[1])]
        standby = second if paused is first else first
        for i in range(100):
            cluster.pod(f"before-{i:03d}", cpu="1")
        await eventually(lambda: sum(cluster.api.bindings.values()) >= 20, timeout=30)
        paused.send_signal(signal.SIGSTOP)
        for i in range(50):
            cluster.pod(f"after-{i:03d}", cpu="1")
        await eventually(
            lambda: (lease_holder(cluster) or "").split("_")[1:2] == [str(standby.pid)], timeout=30
        )
        await eventually(lambda: sum(cluster.api.bindings.values()) == 150, timeout=60)
        paused.send_signal(signal.SIGCONT)
        _, stderr = await asyncio.wait_for(paused.communicate(), 30)
        assert paused.returncode == 1
        assert b"leadership lost" in stderr, stderr.decode()[-2000:]
        await asyncio.sleep(1.0)  # anything it still had to send would land now
        assert max(cluster.api.bindings.values()) == 1, "a pod was bound twice"
        assert all(p["spec"].get("nodeName") for p in cluster.api.objects("pods"))
        assert standby.returncode is None  # the new leader carries on
    finally:
        for process in (first, second):
            if process.returncode is None:
                process.send_signal(signal.SIGCONT)
                process.send_signal(signal.SIGKILL)
            await process.wait()


@pytest.mark.emulator("slows the Lease's writes down")
async def test_a_clean_stop_stops_renewing_before_it_releases_the_lease(cluster: Cluster) -> None:
    """On SIGTERM the renew loop must be over before the Lease is released: a renewal after the
    release would take the Lease back (the standby then waits out a dead holder) or, cut off by
    the closing client, log a crashed leader election on every clean stop."""
    cluster.node("a", cpu="4")
    with capture_logs() as logs:
        async with running_daemon(cluster, leader=FAST_LEASE, identity="alpha"):
            await eventually(lambda: lease_holder(cluster) == "alpha")
            # Writes of the Lease take longer than a retry period: renewals overlap the release.
            cluster.api.inject(method="PUT", path=LEASE_PATH, status=None, delay=0.3, times=None)
            await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)  # a renewal still under way would land now
    assert lease_holder(cluster) == ""
    assert not [e for e in logs if e["event"] in {"leadership.ended", "leader.renew_failed"}]


async def test_a_release_that_lost_a_race_with_its_own_last_renewal_still_releases(
    cluster: Cluster,
) -> None:
    """A renewal cut off by the stop may land after all, so the release's write is stale (409):
    it reads the Lease again and, still the holder, releases it — else the standby would wait
    out a holder that is gone."""
    configuration = await cluster.configuration()
    client = KubeClient(configuration, ClientSettings(qps=0))
    try:
        alpha = LeaderElector(client, "alpha", FAST_LEASE)
        assert await alpha._try()
        alpha.acquired.set()
        alpha.renewed_at = alpha.clock()
        # The same holder's renewal that landed after alpha last read the Lease.
        assert await LeaderElector(client, "alpha", FAST_LEASE)._try()
        with capture_logs() as logs:
            await alpha.release()
        assert lease_holder(cluster) == ""
        assert [e["event"] for e in logs] == ["leader.released"]
        # Another holder's Lease is left alone.
        bravo = LeaderElector(client, "bravo", FAST_LEASE)
        assert await bravo._try()
        alpha.renewed_at = alpha.clock()
        await alpha.release()
        assert lease_holder(cluster) == "bravo"
    finally:
        await client.close()


@pytest.mark.emulator("refuses one list as RBAC would")
async def test_readyz_names_the_cache_that_cannot_sync_and_why(cluster: Cluster) -> None:
    """A ClusterRole missing one resource keeps the daemon from deciding (it must not decide
    blind to PodDisruptionBudgets): the readiness probe says which list fails and the API
    server's answer, not only "not synced"."""
    cluster.node("a", cpu="4")
    forbidden = cluster.api.inject(
        method="GET", path=r"/poddisruptionbudgets\?", status=403, times=None
    )
    async with running_daemon(
        cluster, metrics_port=0, metrics_address="127.0.0.1", wait_ready=False
    ) as daemon:
        await eventually(lambda: daemon.metrics_port)
        url = f"http://127.0.0.1:{daemon.metrics_port}/readyz"
        await eventually(lambda: forbidden.hits >= 2)
        status, body = await http_get(url)
        assert status == 503
        assert body.startswith("caches not synced: poddisruptionbudgets (403 "), body
        assert "pods" not in body.replace("poddisruptionbudgets", "")  # only what fails
        cluster.api.faults.remove(forbidden)
        await asyncio.wait_for(daemon.ready.wait(), 10)
        assert (await http_get(url))[0] == 200


@pytest.mark.emulator("the daemon never gets as far as the API server")
@pytest.mark.parametrize("address", ["127.0.0.1", "no-such-host.invalid"])
async def test_a_metrics_port_it_cannot_listen_on_is_one_line_naming_the_flag(
    cluster: Cluster, tmp_path: Path, address: str
) -> None:
    """Two replicas on one host with the default port, or a typo in --metrics-address: one
    line naming the flag and the reason, not a traceback."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        files = run_files(cluster, tmp_path, "leaderElection: {leaderElect: false}\n")
        process = await start_run(
            *files,
            "--metrics-address",
            address,
            "--metrics-port",
            str(port),
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        taken.close()
    text = stderr.decode()
    assert process.returncode == 2, text
    assert "Traceback" not in text, text
    last = text.strip().splitlines()[-1]
    assert last.startswith(f"error: --metrics-address/--metrics-port {address}:{port}: "), last


@pytest.mark.emulator("refuses the Lease as RBAC would")
async def test_a_lease_it_may_not_read_is_an_error_naming_the_answer(cluster: Cluster) -> None:
    """A replica whose Role does not cover the Lease's namespace never leads: it says so at
    error level (a conflict with another candidate is normal and stays at info)."""
    cluster.node("a", cpu="4")
    cluster.api.inject(method="GET", path=LEASE_PATH, status=403, times=None)
    with capture_logs() as logs:
        async with running_daemon(cluster, leader=FAST_LEASE, identity="alpha") as daemon:
            await eventually(
                lambda: any(e["event"] == "leader.campaign_failed" for e in logs), timeout=5
            )
            assert daemon.elector is not None
            assert not daemon.elector.is_leader
    failed = next(e for e in logs if e["event"] == "leader.campaign_failed")
    assert failed["log_level"] == "error"  # this replica never leads until someone fixes it
    assert failed["error"].startswith("403 ")
    assert failed["lease"] == "kubenexus-system/kubenexus-scheduler"


async def test_the_log_names_each_pod_it_cannot_place_and_why(cluster: Cluster) -> None:
    """An operator reading the scheduler's log (not the Events) sees which pod failed and why,
    as often as the Event is posted (once per situation, not once per retry); placements are
    logged at debug level (one line per pod would cost the busy daemon)."""
    cluster.node("a", cpu="4")
    with capture_logs() as logs:
        async with running_daemon(cluster) as daemon:
            cluster.pod("too-big", cpu="8")
            cluster.pod("fits", cpu="1")
            await eventually(lambda: daemon.unschedulable >= 1, timeout=15)
            await eventually(lambda: cluster.node_of("fits") == "a")
            await daemon.recorder.drain(5)
    failed = [e for e in logs if e["event"] == "pod.event" and e["reason"] == "FailedScheduling"]
    assert len(failed) == 1, failed
    assert failed[0]["pod"] == "default/too-big"
    assert failed[0]["log_level"] == "info"
    assert failed[0]["message"] == "0/1 nodes are available: 1 Insufficient cpu." + not_helpful(1)
    placed = [e for e in logs if e["event"] == "pod.event" and e["reason"] == "Scheduled"]
    assert [(e["pod"], e["log_level"]) for e in placed] == [("default/fits", "debug")]
    assert placed[0]["message"] == "Successfully assigned default/fits to a"


async def test_a_lease_duration_shortened_by_hand_does_not_let_a_standby_in_early(
    cluster: Cluster,
) -> None:
    """`kubectl edit lease` setting leaseDurationSeconds: 1 while the holder runs must not let a
    standby take over after 1 s: the holder still leads for its configured renew deadline. A
    standby waits at least its own lease duration (the replicas share one configuration)."""
    configuration = await cluster.configuration()
    client = KubeClient(configuration, ClientSettings(qps=0))
    now = [1000.0]
    try:
        alpha = LeaderElector(client, "alpha", FAST_LEASE)
        beta = LeaderElector(client, "beta", FAST_LEASE, clock=lambda: now[0])
        assert await alpha._try()
        assert not await beta._try()
        lease = cluster.api.get_object(
            "leases", "kubenexus-scheduler", "kubenexus-system", group="coordination.k8s.io"
        )
        assert lease is not None
        lease["spec"]["leaseDurationSeconds"] = 1
        lease["spec"]["renewTime"] = "2030-01-01T00:00:00.000000Z"  # an edit of the time too
        cluster.api.put_object("leases", lease, group="coordination.k8s.io")
        assert not await beta._try()  # sees the edited record
        now[0] += 1.2  # past the edited 1 s, within alpha's 1.5 s lease
        assert not await beta._try(), "the standby took the Lease after the edited duration"
        now[0] += 0.5  # past the configured lease duration without a renewal: alpha is gone
        assert await beta._try()
        assert lease_holder(cluster) == "beta"
    finally:
        await client.close()


async def test_every_documented_counter_series_is_exported_from_the_start(cluster: Cluster) -> None:
    """An alert on `rate(kubenexus_bindings_total{result="retried"}[5m]) > 0` needs the series
    to exist (at 0) before the first retry: a counter of a result that has not happened yet is
    exported as 0, not missing."""
    cluster.node("a", cpu="4")
    async with running_daemon(cluster, metrics_port=0, metrics_address="127.0.0.1") as daemon:
        _, text = await http_get(f"http://127.0.0.1:{daemon.metrics_port}/metrics")
    for result in ("bound", "retried", "gone", "dropped", "refused"):
        assert metric_value(text, f'kubenexus_bindings_total{{result="{result}"}}') == 0
    for result in ("scheduled", "unschedulable", "error"):
        series = (
            f'scheduler_schedule_attempts_total{{profile="kubenexus-scheduler",result="{result}"}}'
        )
        assert metric_value(text, series) == 0


@pytest.mark.emulator("drops the watch of pods again and again")
async def test_a_watch_that_drops_after_delivering_reconnects_at_once_every_time(
    cluster: Cluster,
) -> None:
    """A load balancer cutting long watches, or one API server of several restarting, drops
    healthy watches now and then: each reconnect waits the initial backoff, not a delay grown
    by earlier drops (with the defaults that would reach 10 s of pods unseen per drop)."""
    cluster.node("a", cpu="64")
    with capture_logs() as logs:
        async with running_daemon(cluster) as daemon:
            for i in range(6):
                cluster.pod(f"p{i}", cpu="1")
                await eventually(lambda i=i: cluster.node_of(f"p{i}") == "a")
                await eventually(lambda: cluster.api.watch_count("pods") >= 1)
                cluster.api.drop_watches("pods")
            cluster.pod("last", cpu="1")
            await eventually(lambda: cluster.node_of("last") == "a")
            initial = daemon.pods.settings.retry_initial_seconds
    delays = [
        e["delay"] for e in logs if e["event"] == "informer.retry" and e["informer"] == "pods"
    ]
    assert len(delays) >= 5
    assert set(delays) == {initial}, delays
