"""Running it safely: leader election, failover, metrics and health, graceful shutdown."""

from __future__ import annotations

import asyncio
import datetime
import signal
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from kubenexus.api.objects import PodInfo
from kubenexus.framework.cycle_state import CycleState
from kubenexus.shell.client import ClientSettings, KubeClient
from kubenexus.shell.leader import LeaderElector, LeaderSettings
from tests.emulator import Received
from tests.integration.conftest import (
    FAST_LEASE,
    Cluster,
    daemon_and_task,
    daemon_exit,
    eventually,
    http_get,
    lease_holder,
    metric_value,
    run_files,
    running_daemon,
    start_run,
    usurp_lease,
)

LEASE = ("leases", "kubenexus-system", "coordination.k8s.io")
LEASE_PATH = r"/leases/kubenexus-scheduler$"


async def test_two_replicas_exactly_one_schedules(cluster: Cluster) -> None:
    for i in range(4):
        cluster.node(f"n{i}", cpu="16")
    async with running_daemon(cluster, leader=FAST_LEASE, identity="alpha") as alpha:
        await eventually(lambda: lease_holder(cluster) == "alpha")
        async with running_daemon(cluster, leader=FAST_LEASE, identity="beta") as beta:
            for i in range(40):
                cluster.pod(f"p{i:02d}", cpu="1")
            await eventually(lambda: sum(cluster.api.bindings.values()) == 40)
            # The standby has seen every pod pending and then bound (its caches follow the
            # cluster), and decided none of them.
            await eventually(lambda: beta.scheduler.cache.pod_count == 40)
            assert len(beta.scheduler.queue) == 0
            # (the server may show a binding before its answer reached the binder)
            await eventually(lambda: alpha.binder.bound == 40)
            assert beta.decisions == 0
            assert beta.binder.bound == 0
            assert beta.ready.is_set()  # warm standby: caches synced
            assert max(cluster.api.bindings.values()) == 1
            assert lease_holder(cluster) == "alpha"


async def test_clean_stop_hands_over_at_once(cluster: Cluster) -> None:
    cluster.node("a", cpu="16")
    async with running_daemon(cluster, leader=FAST_LEASE, identity="beta") as beta:
        async with running_daemon(cluster, leader=FAST_LEASE, identity="alpha"):
            await eventually(lambda: lease_holder(cluster) in {"alpha", "beta"})
            first = lease_holder(cluster)
        if first == "alpha":
            await eventually(
                lambda: lease_holder(cluster) == "beta", timeout=1.0
            )  # released, not expired
        cluster.pod("after", cpu="1")
        await eventually(lambda: cluster.node_of("after") == "a")
        # The server shows the binding a moment before beta has handled its answer.
        await eventually(lambda: beta.binder.bound == 1)


async def test_killed_leader_is_replaced_within_the_lease_duration_without_double_binding(
    cluster: Cluster, tmp_path: Path
) -> None:
    for i in range(4):
        cluster.node(f"n{i}", cpu="64")
    files = run_files(
        cluster,
        tmp_path,
        "leaderElection: {leaseDuration: 2s, renewDeadline: 1500ms, retryPeriod: 250ms, resourceNamespace: kubenexus-system}\n",
    )

    async def replica() -> asyncio.subprocess.Process:
        return await start_run(*files, "--metrics-port", "0", "--log-format", "json")

    first, second = await replica(), await replica()
    try:
        await eventually(lambda: lease_holder(cluster), timeout=30)
        for i in range(100):
            cluster.pod(f"before-{i:03d}", cpu="1")
        await eventually(lambda: sum(cluster.api.bindings.values()) >= 20, timeout=30)
        # Kill whichever holds the Lease, mid-stream, with no chance to release it.
        leader = lease_holder(cluster) or ""
        victim = {p.pid: p for p in (first, second)}[int(leader.split("_")[1])]  # host_pid_random
        victim.send_signal(signal.SIGKILL)
        killed_at = asyncio.get_running_loop().time()
        for i in range(50):
            cluster.pod(f"after-{i:03d}", cpu="1")
        await eventually(lambda: sum(cluster.api.bindings.values()) == 150, timeout=60)
        took = asyncio.get_running_loop().time() - killed_at
        assert max(cluster.api.bindings.values()) == 1, "a pod was bound twice"
        assert all(p["spec"].get("nodeName") for p in cluster.api.objects("pods"))
        assert took < 30
    finally:
        for process in (first, second):
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
            await process.wait()


async def test_metrics_move_as_pods_are_scheduled(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    async with running_daemon(cluster, metrics_port=0, metrics_address="127.0.0.1") as daemon:
        base = f"http://127.0.0.1:{daemon.metrics_port}"
        _, before = await http_get(f"{base}/metrics")
        assert metric_value(before, 'scheduler_pending_pods{queue="active"}') == 0
        assert metric_value(before, 'scheduler_scheduler_cache_size{type="nodes"}') == 1
        assert metric_value(before, "kubenexus_leader") == 1
        for i in range(3):
            cluster.pod(f"fits-{i}", cpu="1")
        cluster.pod("too-big", cpu="8")
        cluster.pod(
            "solo",
            cpu="1",
            labels={
                "pod-group.scheduling.kubenexus.io/name": "solo",
                "pod-group.scheduling.kubenexus.io/min-available": "1",
            },
        )
        await eventually(lambda: sum(cluster.api.bindings.values()) == 4)
        await eventually(lambda: daemon.unschedulable >= 1)
        # The server shows a binding a moment before the daemon has handled its answer.
        after = ""
        for _ in range(100):
            _, after = await http_get(f"{base}/metrics")
            if metric_value(after, 'kubenexus_bindings_total{result="bound"}') == 4:
                break
            await asyncio.sleep(0.1)
        assert (
            metric_value(
                after,
                'scheduler_schedule_attempts_total{profile="kubenexus-scheduler",result="scheduled"}',
            )
            == 4
        )
        assert (
            metric_value(
                after,
                'scheduler_schedule_attempts_total{profile="kubenexus-scheduler",result="unschedulable"}',
            )
            >= 1
        )
        assert (
            metric_value(
                after,
                'scheduler_scheduling_attempt_duration_seconds_count{profile="kubenexus-scheduler",result="scheduled"}',
            )
            == 4
        )
        assert (
            metric_value(after, 'scheduler_pending_pods{queue="unschedulable"}')
            + metric_value(after, 'scheduler_pending_pods{queue="backoff"}')
            == 1
        )
        assert metric_value(after, 'kubenexus_bindings_total{result="bound"}') == 4
        assert metric_value(after, "kubenexus_binding_duration_seconds_count") == 4
        assert metric_value(after, 'scheduler_scheduler_cache_size{type="pods"}') == 4
        assert metric_value(after, 'kubenexus_gangs{phase="Scheduled"}') == 1
        status, body = await http_get(f"{base}/healthz")
        assert (status, body) == (200, "ok\n")


@pytest.mark.emulator("delays the pod list")
async def test_readyz_is_false_until_caches_are_synced(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    cluster.api.inject(method="GET", path=r"^/api/v1/pods\?limit=", status=None, delay=1.0, times=1)
    async with running_daemon(
        cluster, metrics_port=0, metrics_address="127.0.0.1", wait_ready=False
    ) as daemon:
        await eventually(lambda: daemon.metrics_port)
        status, body = await http_get(f"http://127.0.0.1:{daemon.metrics_port}/readyz")
        assert status == 503
        assert body.startswith("caches not synced: pods"), body
        await asyncio.wait_for(daemon.ready.wait(), 10)
        status, _ = await http_get(f"http://127.0.0.1:{daemon.metrics_port}/readyz")
        assert status == 200


async def test_lost_leadership_stops_the_daemon(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    async with running_daemon(
        cluster, leader=FAST_LEASE, identity="alpha", expect_exit="leadership lost"
    ) as alpha:
        await eventually(lambda: lease_holder(cluster) == "alpha")
        usurp_lease(cluster)
        await eventually(
            lambda: alpha.elector is not None and alpha.elector.lost.is_set(), timeout=5
        )
        await eventually(lambda: not alpha.healthy, timeout=5)
        cluster.pod("orphan", cpu="1")
        error = await daemon_exit(alpha)  # it stops by itself, without being told
        assert "leadership lost" in str(error)
        assert alpha.decisions == 0
        assert cluster.node_of("orphan") is None  # it no longer schedules
        assert lease_holder(cluster) == "usurper"  # and leaves the new holder's Lease alone


@pytest.mark.emulator("slows every binding down")
async def test_sigterm_mid_stream_loses_no_pod_and_releases_the_lease(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.node("a", cpu="64")
    files = run_files(
        cluster,
        tmp_path,
        "leaderElection: {leaseDuration: 15s, renewDeadline: 10s, retryPeriod: 250ms, resourceNamespace: kubenexus-system}\n",
    )
    # Slow bindings, so that many are in flight when SIGTERM arrives.
    cluster.api.inject(method="POST", path=r"/binding$", status=None, delay=0.3, times=None)
    for i in range(60):
        cluster.pod(f"p{i:02d}", cpu="1")
    process = await start_run(
        *files, "--metrics-port", "0", "--max-binds-in-flight", "8", stderr=asyncio.subprocess.PIPE
    )
    await eventually(lambda: sum(cluster.api.bindings.values()) >= 8, timeout=30)
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    bound_by_first = sum(cluster.api.bindings.values())
    assert 8 <= bound_by_first < 60
    assert lease_holder(cluster) == ""  # released: a standby need not wait for expiry
    # Every pod the first replica answered for is bound exactly once; the rest wait, unharmed.
    cluster.api.faults.clear()
    async with running_daemon(cluster, leader=FAST_LEASE, identity="successor"):
        await eventually(lambda: sum(cluster.api.bindings.values()) == 60, timeout=10)
    assert max(cluster.api.bindings.values()) == 1


def _sent(cluster: Cluster, user: str, method: str, suffix: str) -> list[Received]:
    return [
        r
        for r in cluster.api.received
        if r.user == user and r.method == method and r.path.endswith(suffix)
    ]


@pytest.mark.emulator("holds Lease renewals")
async def test_a_hanging_renewal_is_cut_off_at_the_deadline_and_the_old_leader_binds_no_more(
    cluster: Cluster,
) -> None:
    for i in range(4):
        cluster.node(f"n{i}", cpu="64")
    async with daemon_and_task(
        cluster,
        leader=FAST_LEASE,
        identity="alpha",
        token="alpha",
        expect_exit="renewal still unanswered",
    ) as (alpha, alpha_run):
        await eventually(lambda: lease_holder(cluster) == "alpha")
        async with running_daemon(
            cluster, leader=FAST_LEASE, identity="beta", token="beta"
        ) as beta:
            cluster.pod("p-000", cpu="1")
            await eventually(lambda: cluster.node_of("p-000"))
            # The API server stalls on alpha's next renewal, far beyond renewDeadline.
            cluster.api.inject(
                method="PUT",
                path=LEASE_PATH,
                status=None,
                delay=3 * FAST_LEASE.renew_deadline,
                times=1,
            )
            # Pods keep coming while the Lease changes hands; both replicas see every one.
            created = 1
            limit = asyncio.get_running_loop().time() + 15
            while not (lease_holder(cluster) == "beta" and beta.binder.bound >= 5):
                assert asyncio.get_running_loop().time() < limit, "beta never took over"
                if lease_holder(cluster) == "beta":
                    assert alpha.elector is not None
                    assert alpha.elector.lost.is_set()  # alpha gave up before beta started
                cluster.pod(f"p-{created:03d}", cpu="1")
                created += 1
                await asyncio.sleep(0.05)
            with pytest.raises(RuntimeError, match="leadership lost: renewal still unanswered"):
                await asyncio.wait_for(alpha_run, 15)
            await eventually(lambda: sum(cluster.api.bindings.values()) == created, timeout=15)
    assert max(cluster.api.bindings.values()) == 1, "a pod was bound twice"
    takeover = min(r.at for r in _sent(cluster, "beta", "PUT", "/leases/kubenexus-scheduler"))
    alpha_bindings = _sent(cluster, "alpha", "POST", "/binding")
    assert alpha_bindings, "alpha bound nothing while it led"
    late = [r.path for r in alpha_bindings if r.at >= takeover]
    assert late == [], "the old leader sent Bindings after the Lease changed hands"
    assert not _sent(cluster, "alpha", "PATCH", "")  # no placement annotations here at all


class _Unstamp:
    """An annotator removing a placement annotation the pod still carries: the one placement
    write a Binding cannot carry, so the bind PATCHes the pod before POSTing its Binding."""

    name = "Unstamp"

    def placement_annotations(self, state: CycleState, pod: PodInfo) -> dict[str, str | None]:
        return {"numa.kubenexus.io/zones": None}


@pytest.mark.emulator("holds a placement patch")
async def test_a_bind_in_flight_when_leadership_is_lost_sends_no_binding_during_the_drain(
    cluster: Cluster,
) -> None:
    cluster.node("a", cpu="4")
    # The placement PATCH answers only after the leader's renewDeadline has passed.
    cluster.api.inject(
        method="PATCH", path=r"/pods/late$", status=None, delay=2.5 * FAST_LEASE.renew_deadline
    )
    async with daemon_and_task(
        cluster,
        leader=FAST_LEASE,
        identity="alpha",
        token="alpha",
        expect_exit="renewal still unanswered",
    ) as (alpha, alpha_run):
        alpha.scheduler.profiles["kubenexus-scheduler"].annotators = [_Unstamp()]
        await eventually(lambda: alpha.elector is not None and alpha.elector.is_leader)
        cluster.pod("late", cpu="1", annotations={"numa.kubenexus.io/zones": "1"})
        await eventually(lambda: _sent(cluster, "alpha", "PATCH", "/pods/late"))
        cluster.api.inject(
            method="PUT", path=LEASE_PATH, status=None, delay=3 * FAST_LEASE.renew_deadline
        )
        with pytest.raises(RuntimeError, match="leadership lost"):
            await asyncio.wait_for(alpha_run, 15)  # includes the drain of the in-flight bind
        assert alpha.binder.refused == 1
        assert alpha.binder.in_flight == 0
        assert (
            alpha.metrics.registry.get_sample_value(
                "kubenexus_bindings_total", {"result": "refused"}
            )
            == 1
        )
        # Dropped, not retried (the next leader's pod): not put back with its attempt. (The
        # watch may still show the pod pending before the daemon stops: a fresh entry.)
        entries = list(alpha.scheduler.queue.entries())
        assert all(e.attempts == 0 for e in entries), [(e.pod.name, e.attempts) for e in entries]
    assert _sent(cluster, "alpha", "POST", "/binding") == []
    assert cluster.node_of("late") is None


async def test_is_leader_turns_false_at_the_renew_deadline_before_the_renew_loop_notices(
    cluster: Cluster,
) -> None:
    now = [1000.0]
    configuration = await cluster.configuration()
    client = KubeClient(configuration, ClientSettings(qps=0))
    elector = LeaderElector(client, "alpha", FAST_LEASE, clock=lambda: now[0])
    campaign = asyncio.create_task(elector.run())
    try:
        await asyncio.wait_for(elector.acquired.wait(), 5)
        now[0] = elector.renewed_at + FAST_LEASE.renew_deadline - 0.001
        assert elector.is_leader
        now[0] = elector.renewed_at + FAST_LEASE.renew_deadline
        assert not elector.is_leader  # by the clock alone...
        assert not elector.lost.is_set()  # ...before the renew loop has run
        await asyncio.wait_for(elector.lost.wait(), 5)
        assert "renewDeadline" in elector.lost_reason
        assert not elector.is_leader
    finally:
        campaign.cancel()
        await asyncio.gather(campaign, return_exceptions=True)
        await client.close()


def _lease_held_by(cluster: Cluster, holder: str, seconds: int) -> None:
    """A Lease someone else holds, so a new replica leads only after it expires (after its
    caches are synced: what a standby taking over looks like)."""
    now = datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    cluster.api.put_object(
        "leases",
        {
            "metadata": {"name": "kubenexus-scheduler", "namespace": "kubenexus-system"},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": seconds,
                "renewTime": now,
                "leaseTransitions": 0,
            },
        },
        group="coordination.k8s.io",
    )


@pytest.mark.parametrize("leader", [FAST_LEASE, None], ids=["leader-election", "single"])
async def test_the_death_of_kopfs_thread_stops_the_daemon(
    cluster: Cluster, leader: LeaderSettings | None
) -> None:
    _lease_held_by(cluster, "previous", seconds=1)
    async with daemon_and_task(
        cluster,
        operator=True,
        leader=leader,
        identity="alpha",
        expect_exit="the kopf operator stopped",
    ) as (daemon, run):
        await eventually(lambda: daemon.operator is not None and daemon.operator.ready.is_set())
        assert daemon.operator is not None
        with capture_logs() as logs:
            daemon.operator._stop.set()  # kopf ends as if it had died
            with pytest.raises(RuntimeError, match="the kopf operator stopped unexpectedly"):
                await asyncio.wait_for(run, 10)
        assert not daemon.healthy
        assert any(
            e["event"] == "daemon.task_ended" and "kopf operator" in e["error"] for e in logs
        )


async def test_a_crashed_pod_group_status_writer_stops_the_daemon(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    _lease_held_by(cluster, "previous", seconds=1)

    async def broken() -> None:
        raise RuntimeError("status writer bug")

    async with daemon_and_task(
        cluster, leader=FAST_LEASE, identity="alpha", expect_exit="status writer crashed"
    ) as (daemon, run):
        monkeypatch.setattr(daemon.pod_groups, "flush", broken)
        with pytest.raises(
            RuntimeError,
            match=r"the PodGroup status writer crashed: RuntimeError\('status writer bug'\)",
        ):
            await asyncio.wait_for(run, 10)
        assert not daemon.healthy
        assert daemon.elector is not None
        assert daemon.elector.acquired.is_set()


async def test_renewals_never_wait_behind_a_storm_of_binds(cluster: Cluster) -> None:
    """The daemon's client is rate limited (here 5 requests/s, far below what 60 binds and their
    Events need); leader election has its own client, so the Lease is renewed on time and the
    leader keeps leading while its binds queue."""
    cluster.node("a", cpu="64")
    slow = ClientSettings(qps=5, burst=1, connection_pool=24)
    async with running_daemon(
        cluster, leader=FAST_LEASE, identity="alpha", client_settings=slow
    ) as alpha:
        assert alpha.elector is not None
        await eventually(lambda: alpha.elector is not None and alpha.elector.is_leader)
        for i in range(60):
            cluster.pod(f"p{i:02d}", cpu="0.5")
        # Binding 15 pods takes several renewDeadlines at this rate.
        await eventually(lambda: sum(cluster.api.bindings.values()) >= 15, timeout=30)
        assert alpha.elector.is_leader
        assert not alpha.elector.lost.is_set()
