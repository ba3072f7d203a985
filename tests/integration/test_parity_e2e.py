"""kube-scheduler parity through the daemon, on the emulator and a real kube-apiserver."""

from __future__ import annotations

from tests.builders import make_pod, no_victims
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
            + no_victims(2)
        )
        freed = next(f"web-{i}" for i in range(3) if cluster.node_of(f"web-{i}") == "n0")
        cluster.api.delete_object("pods", freed, "default")
        await eventually(lambda: cluster.node_of(waiting) == "n0", timeout=20)


def _anti_affine(cluster: Cluster, name: str, namespace_selector: dict | None = None) -> None:
    term: dict = {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": ZONE_HOST}
    if namespace_selector is not None:
        term["namespaceSelector"] = namespace_selector
    cluster.pod(
        name,
        cpu="100m",
        labels={"app": "cache"},
        affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}},
    )


ZONE_HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


async def test_required_anti_affinity_one_replica_per_node_the_extra_one_waits(
    cluster: Cluster,
) -> None:
    for i in range(2):
        cluster.node(f"n{i}", cpu="4", **{ZONE_HOST: f"n{i}"})
    async with running_daemon(cluster):
        for i in range(3):
            _anti_affine(cluster, f"cache-{i}")
        await eventually(
            lambda: (
                sorted(cluster.node_of(f"cache-{i}") or "" for i in range(3))[1:] == ["n0", "n1"]
            )
        )
        waiting = next(f"cache-{i}" for i in range(3) if cluster.node_of(f"cache-{i}") is None)
        [event] = await eventually(lambda: cluster.events(waiting, "FailedScheduling"))
        assert event["message"] == (
            "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."
            + no_victims(2)
        )
        cluster.node("n2", cpu="4", **{ZONE_HOST: "n2"})  # a new node: the replica goes there
        await eventually(lambda: cluster.node_of(waiting) == "n2", timeout=20)


async def test_a_zone_spread_statefulset_lands_evenly(cluster: Cluster) -> None:
    for zone in "abc":
        for i in range(2):
            cluster.node(f"{zone}{i}", cpu="8", **{ZONE: f"zone-{zone}", ZONE_HOST: f"{zone}{i}"})
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "db"}},
        }
    ]
    async with running_daemon(cluster):
        for i in range(6):
            cluster.pod(f"db-{i}", cpu="1", labels={"app": "db"}, topologySpreadConstraints=spread)
        await eventually(lambda: all(cluster.node_of(f"db-{i}") for i in range(6)), timeout=20)
        zones = sorted((cluster.node_of(f"db-{i}") or "?")[0] for i in range(6))
        assert zones == ["a", "a", "b", "b", "c", "c"]


async def test_anti_affinity_across_namespaces_chosen_by_their_labels(cluster: Cluster) -> None:
    """A term's namespaceSelector reads the Namespaces' labels (watched by the daemon): the
    pod keeps away from the cache of a namespace labelled team=payments, and from none once the
    label is gone."""
    for i in range(2):
        cluster.node(f"n{i}", cpu="4", **{ZONE_HOST: f"n{i}"})
    cluster.api.put_object(
        "namespaces", {"metadata": {"name": "payments", "labels": {"team": "payments"}}}
    )
    running = make_pod("payments-cache").req(cpu="100m").node("n0").label("app", "cache").dict()
    running["metadata"]["namespace"] = "payments"
    running["metadata"].pop("uid")
    running["status"] = {"phase": "Running"}
    cluster.api.put_object("pods", running)
    async with running_daemon(cluster):
        _anti_affine(cluster, "mine", {"matchLabels": {"team": "payments"}})
        await eventually(lambda: cluster.node_of("mine") == "n1")
        cluster.api.put_object(
            "namespaces", {"metadata": {"name": "payments", "labels": {"team": "other"}}}
        )
        cluster.node("n1", cpu="0", **{ZONE_HOST: "n1"})  # full: only n0 is left
        # No namespace matches any more: n0 is allowed.
        _anti_affine(cluster, "mine-2", {"matchLabels": {"team": "payments"}})
        await eventually(lambda: cluster.node_of("mine-2") == "n0", timeout=20)


async def test_workload_selectors_reach_the_scheduler(cluster: Cluster) -> None:
    """Services are watched: their selectors are what default topology spreading spreads by."""
    cluster.node("n0", cpu="4")
    service = {
        "metadata": {"name": "front", "namespace": "default"},
        "spec": {"selector": {"app": "front"}, "ports": [{"port": 80}]},
    }
    async with running_daemon(cluster) as daemon:
        cluster.api.put_object("services", service)
        workloads = daemon.scheduler.cache.nodes.workloads
        pod = make_pod("f").label("app", "front").obj()
        selector = await eventually(lambda: workloads.default_selector(pod))
        assert selector.matches({"app": "front"})
        assert not selector.matches({"app": "back"})
        cluster.api.delete_object("services", "front", "default")
        await eventually(lambda: workloads.default_selector(pod) is None)


async def test_pods_placed_by_another_scheduler_count_by_their_labels(cluster: Cluster) -> None:
    """A placed pod keeps its labels in the daemon's cache: anti-affinity keeps away from a pod
    another scheduler placed, and zone spreading counts it."""
    for zone in "ab":
        cluster.node(f"{zone}0", cpu="8", **{ZONE: f"zone-{zone}", ZONE_HOST: f"{zone}0"})
    cluster.pod(
        "theirs-cache", "100m", scheduler="default-scheduler", node="a0", labels={"app": "cache"}
    )
    for i in range(2):
        cluster.pod(
            f"theirs-db-{i}", "100m", scheduler="default-scheduler", node="a0", labels={"app": "db"}
        )
    term = {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": ZONE_HOST}
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "db"}},
        }
    ]
    async with running_daemon(cluster):
        for i in range(3):
            cluster.pod(
                f"near-{i}",
                "100m",
                affinity={
                    "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
                },
            )
        cluster.pod("db-mine", "100m", labels={"app": "db"}, topologySpreadConstraints=spread)
        names = [f"near-{i}" for i in range(3)] + ["db-mine"]
        await eventually(lambda: all(cluster.node_of(n) for n in names), timeout=20)
        assert {cluster.node_of(n) for n in names} == {"b0"}
