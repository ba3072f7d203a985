"""Placed pods read slim by the daemon:
pods already on their nodes — placed by us before a restart, or by another scheduler — are
matched by the pod rules of pods placed now, and their own required anti-affinity still binds
newcomers (kube's symmetric rule). Emulator and real kube-apiserver."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.integration.conftest import (
    Cluster,
    eventually,
    in_priority_class,
    running_daemon,
    stand_in_for_kubelet,
)
from tests.integration.test_preemption_e2e import FAST, _terminating

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def _anti(app: str) -> dict[str, Any]:
    term = {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": HOST}
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def _on(node: str) -> dict[str, Any]:
    return {"nodeSelector": {HOST: node}}


async def test_pods_placed_before_a_restart_and_by_others_still_bind_newcomers(
    cluster: Cluster,
) -> None:
    for name in ("a0", "b0", "c0"):
        cluster.node(name, cpu="8", **{HOST: name, ZONE: f"zone-{name[0]}"})
    async with running_daemon(cluster):
        # Ours: a guard that keeps web pods off a0, a cache on b0, two db replicas in zone a.
        cluster.pod("guard", "100m", labels={"app": "guard"}, affinity=_anti("web"), **_on("a0"))
        cluster.pod("cache", "100m", labels={"app": "cache"}, **_on("b0"))
        for i in range(2):
            cluster.pod(f"db-{i}", "100m", labels={"app": "db"}, **_on("a0"))
        ours = ["guard", "cache", "db-0", "db-1"]
        await eventually(lambda: all(cluster.node_of(n) for n in ours), timeout=20)
    # Another scheduler's guard keeps web pods off c0.
    cluster.pod(
        "their-guard",
        "100m",
        scheduler="default-scheduler",
        node="c0",
        labels={"app": "guard"},
        affinity=_anti("web"),
    )
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "db"}},
        }
    ]
    async with running_daemon(cluster) as daemon:  # restarted: every pod above is read slim
        assert daemon.scheduler.cache.pod_count == 5
        for i in range(3):
            cluster.pod(f"web-{i}", "100m", labels={"app": "web"})
        cluster.pod("near", "100m", affinity=_anti("cache"))
        cluster.pod("db-2", "100m", labels={"app": "db"}, topologySpreadConstraints=spread)
        names = [f"web-{i}" for i in range(3)] + ["near", "db-2"]
        await eventually(lambda: all(cluster.node_of(n) for n in names), timeout=20)
        assert {cluster.node_of(f"web-{i}") for i in range(3)} == {"b0"}  # both guards hold
        assert cluster.node_of("near") in {"a0", "c0"}  # away from the cache
        assert cluster.node_of("db-2") in {"b0", "c0"}  # zone a holds two already


async def test_a_gang_evicts_the_pod_preemptible_by_its_class_end_to_end(cluster: Cluster) -> None:
    """Reference §10: a pod of the 'low-priority' class is there to be preempted; a gang takes
    it before a firm pod of lower priority: placed pods keep their priorityClassName, so the
    daemon ranks them as a full read of the same objects does."""
    cluster.node("a", cpu="4")
    cluster.node("b", cpu="4")
    cluster.pod("firm", cpu="3", node="a", **in_priority_class(cluster, "firm-200", 200))
    cluster.pod("spot", cpu="3", node="b", **in_priority_class(cluster, "low-priority", 300))
    gang = {
        "pod-group.scheduling.kubenexus.io/name": "g",
        "pod-group.scheduling.kubenexus.io/min-available": "1",
    }
    async with running_daemon(cluster, preemption=FAST):
        cluster.pod("g-0", cpu="2", labels=gang, **in_priority_class(cluster, "gang-1000", 1000))
        await eventually(lambda: _terminating(cluster, "spot") or _terminating(cluster, "firm"))
        assert _terminating(cluster, "spot")
        assert not _terminating(cluster, "firm")


async def _bind(cluster: Cluster, pod: str, node: str) -> None:
    """Bind a pod as another scheduler would (the binding subresource)."""
    path = f"/api/v1/namespaces/default/pods/{pod}/binding"
    body = {"metadata": {"name": pod}, "target": {"kind": "Node", "name": node}}
    if cluster.real:
        cluster.api.request("POST", path, body)
        return
    async with aiohttp.ClientSession(cluster.url) as session, session.post(path, json=body) as r:
        assert r.status == 201, await r.text()


async def test_another_schedulers_pod_is_counted_once_bound_and_freed_once_gone(
    cluster: Cluster,
) -> None:
    """Another scheduler's pod is not read while it waits: once that
    scheduler binds it, its requests count on its node; once it is gone, they are free."""
    cluster.node("a", cpu="4")
    cluster.pod("theirs", cpu="3", scheduler="other-scheduler")
    async with running_daemon(cluster) as daemon:
        await _bind(cluster, "theirs", "a")
        await eventually(lambda: daemon.scheduler.cache.pod_count == 1)
        cluster.pod("mine", cpu="2")
        await eventually(lambda: cluster.events("mine", "FailedScheduling"))
        assert cluster.node_of("mine") is None
        cluster.api.delete_object("pods", "theirs", "default")
        stand_in_for_kubelet(cluster)
        await eventually(lambda: cluster.node_of("mine") == "a", timeout=20)
