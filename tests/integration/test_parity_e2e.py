"""kube-scheduler parity through the daemon, on the emulator and a real kube-apiserver."""

from __future__ import annotations

from tests.integration.conftest import Cluster, eventually, running_daemon


def web(cluster: Cluster, name: str) -> None:
    cluster.pod(
        name,
        cpu="100m",
        containers=[
            {
                "name": "web",
                "image": "nginx",
                "resources": {"requests": {"cpu": "100m"}},
                "ports": [{"containerPort": 80, "hostPort": 8443}],
            }
        ],
    )


async def test_host_ports_one_replica_per_node_the_extra_one_pending(cluster: Cluster) -> None:
    for i in range(2):
        cluster.node(f"n{i}", cpu="4")
    async with running_daemon(cluster):
        for i in range(3):
            web(cluster, f"web-{i}")
        await eventually(
            lambda: sorted(cluster.node_of(f"web-{i}") or "" for i in range(3))[1:] == ["n0", "n1"]
        )
        waiting = next(f"web-{i}" for i in range(3) if cluster.node_of(f"web-{i}") is None)
        [event] = await eventually(lambda: cluster.events(waiting, "FailedScheduling"))
        assert event["message"] == (
            "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."
        )
        freed = next(f"web-{i}" for i in range(3) if cluster.node_of(f"web-{i}") == "n0")
        cluster.api.delete_object("pods", freed, "default")
        await eventually(lambda: cluster.node_of(waiting) == "n0", timeout=20)
