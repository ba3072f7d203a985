"""Break-tests of preemption end to end (issue #14 review; emulator and real kube-apiserver)."""

from __future__ import annotations

import asyncio

from tests.integration.conftest import Cluster, eventually, running_daemon
from tests.integration.test_preemption_e2e import (
    FAST,
    _nominated,
    _priority,
    _terminating,
)


async def test_a_restart_mid_preemption_evicts_nobody_else(cluster: Cluster) -> None:
    """The daemon preempts 'victim' on a for 'high' (nominated to a) and restarts while the
    victim is still terminating (no kubelet has finished it). Meanwhile a pod of low priority
    was bound to b. The restarted daemon must wait for the victim; it evicts 'newcomer' on b
    as well (two preemptions for one pod; kube does not preempt while lower-priority pods
    terminate on the nominated node)."""
    cluster.node("a", cpu="4")
    cluster.node("b", cpu="4")
    cluster.pod("victim", cpu="3", node="a", **_priority(cluster, 50))
    cluster.pod("busy", cpu="4", node="b", **_priority(cluster, 500))
    async with running_daemon(cluster, preemption=FAST):
        cluster.pod("high", cpu="3", **_priority(cluster, 100))
        await eventually(lambda: _terminating(cluster, "victim"))
        await eventually(lambda: _nominated(cluster, "high") == "a")
    # Down for a moment: b's pod is replaced by one of low priority.
    cluster.pod("newcomer", cpu="3", node="b", **_priority(cluster, 10))
    cluster.api.delete_object("pods", "busy", "default")
    if cluster.real:  # a bound pod deleted on a real server terminates: finish it
        await eventually(lambda: _terminating(cluster, "busy") or cluster.get_pod("busy") is None)
        if cluster.get_pod("busy") is not None:
            cluster.api.delete_object("pods", "busy", "default")
    async with running_daemon(cluster, preemption=FAST) as daemon:
        await eventually(lambda: daemon.scheduler.cache.pod_count >= 2)
        await asyncio.sleep(2)  # the pod is tried (it fits nowhere: victim still terminating)
        assert not _terminating(cluster, "newcomer"), "a second preemption for high"
        assert _nominated(cluster, "high") == "a"
