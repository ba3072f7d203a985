"""NUMA placement through the daemon: annotations written before binding, NRT objects, bad data."""

from __future__ import annotations

from tests.builders import not_helpful
from tests.integration.conftest import Cluster, eventually, pod_key, running_daemon


def _numa_node(cluster: Cluster, name: str, **extra_annotations: str) -> None:
    body = cluster.node(name, cpu="16", memory="64Gi")
    body["metadata"]["labels"]["numa.kubenexus.io/node-count"] = "2"
    body["metadata"]["annotations"] = {
        "numa.kubenexus.io/node-0-cpus": "0-7",
        "numa.kubenexus.io/node-0-memory": "32Gi",
        "numa.kubenexus.io/node-1-cpus": "8-15",
        "numa.kubenexus.io/node-1-memory": "32Gi",
        **extra_annotations,
    }
    cluster.api.put_object("nodes", body)


def _numa_pod(cluster: Cluster, name: str, cpu: str, policy: str = "single-numa-node") -> None:
    cluster.pod(name, cpu=cpu, annotations={"scheduling.kubenexus.io/numa-policy": policy})


async def test_zones_and_cpu_set_are_on_the_pod_when_it_is_bound(cluster: Cluster) -> None:
    _numa_node(cluster, "n")
    async with running_daemon(cluster):
        _numa_pod(cluster, "a", "6")
        _numa_pod(cluster, "b", "6")
        await eventually(lambda: cluster.node_of("a") and cluster.node_of("b"))
        zones = {
            cluster.get_pod(p)["metadata"]["annotations"]["numa.kubenexus.io/zones"]
            for p in ("a", "b")
        }
        assert zones == {"0", "1"}
        cpu_sets = {cluster.get_pod(p)["metadata"]["annotations"]["cpu-set"] for p in ("a", "b")}
        assert cpu_sets == {"0-5", "8-13"}
        _numa_pod(cluster, "c", "4")
        events = await eventually(lambda: cluster.events("c", "FailedScheduling"))
        assert (
            "no single NUMA node has sufficient capacity (cpu 4 > 2 free in best zone)"
            in events[0]["message"]
        )
    # After a restart the zones are rebuilt from the annotations: c still does not fit one zone.
    async with running_daemon(cluster) as again:
        # The first daemon's Event is already there: wait for this daemon's own attempt.
        await eventually(
            lambda: again.scheduler.queue.where(pod_key(cluster, "c")) == "unschedulable"
        )
        assert again.unschedulable >= 1
        assert again.binder.in_flight == 0
        assert cluster.node_of("c") is None
        plugin = again._numa[0]
        assert sorted(plugin.zones.used[0, :2, 0].tolist()) == [6000, 6000]


async def test_malformed_topology_gets_a_warning_event_on_the_node(cluster: Cluster) -> None:
    _numa_node(cluster, "liar", **{"numa.kubenexus.io/node-1-cpus": "4-11"})  # overlaps zone 0
    async with running_daemon(cluster) as daemon:
        events = await eventually(
            lambda: [
                e
                for e in cluster.api.objects("events")
                if e["involvedObject"].get("kind") == "Node"
            ]
        )
        assert events[0]["involvedObject"]["name"] == "liar"
        assert events[0]["reason"] == "InvalidNUMATopology"
        assert "numa.kubenexus.io/node-1-cpus" in events[0]["message"]
        assert daemon._numa_sources() == {"NodeResourceTopology": 0, "labels": 0, "ignored": 1}
        _numa_pod(cluster, "strict", "2")
        message = (await eventually(lambda: cluster.events("strict", "FailedScheduling")))[0][
            "message"
        ]
        assert (
            message
            == "0/1 nodes are available: 1 node(s) had no NUMA topology (single-numa-node needs it)."
            + not_helpful(1)
        )


async def test_node_resource_topology_objects_are_a_topology_source(cluster: Cluster) -> None:
    cluster.node("gpu", cpu="16", memory="64Gi")
    nrt = {
        "apiVersion": "topology.node.k8s.io/v1alpha2",
        "kind": "NodeResourceTopology",
        "metadata": {"name": "gpu"},
        "topologyPolicies": ["SingleNUMANodeContainerLevel"],
        "zones": [
            {
                "name": f"node-{z}",
                "type": "Node",
                "resources": [
                    {"name": "cpu", "capacity": "8", "allocatable": "8", "available": "8"},
                    {
                        "name": "memory",
                        "capacity": "32Gi",
                        "allocatable": "32Gi",
                        "available": "32Gi",
                    },
                ],
            }
            for z in range(2)
        ],
    }
    cluster.api.put_object(
        "noderesourcetopologies", nrt, group="topology.node.k8s.io", version="v1alpha2"
    )
    async with running_daemon(cluster) as daemon:
        assert daemon._numa_sources()["NodeResourceTopology"] == 1
        _numa_pod(cluster, "fits", "6")
        await eventually(lambda: cluster.node_of("fits") == "gpu")
        assert cluster.get_pod("fits")["metadata"]["annotations"]["numa.kubenexus.io/zones"] in {
            "0",
            "1",
        }
        _numa_pod(cluster, "too-wide", "10")
        events = await eventually(lambda: cluster.events("too-wide", "FailedScheduling"))
        assert (
            "no single NUMA node has sufficient capacity (cpu 10 > 8 free in best zone)"
            in events[0]["message"]
        )
