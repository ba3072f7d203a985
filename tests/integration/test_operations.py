"""What a platform engineer does to a running scheduler: Leases edited or deleted by hand,
replicas paused past their Lease, bad queries to its endpoints."""

from __future__ import annotations

import asyncio

import pytest

from kubenexus.shell.client import ClientSettings, KubeClient
from kubenexus.shell.leader import LeaderElector
from tests.integration.conftest import (
    FAST_LEASE,
    Cluster,
    eventually,
    lease_holder,
    running_daemon,
)


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
