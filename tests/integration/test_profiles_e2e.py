"""Workload profiles through the daemon, on the emulator and a real kube-apiserver: the
namespace's tier label (watched, not fetched per pod) places GPU pods on their tenant's
hardware; a relabelled namespace changes where its next pod goes; an unreadable tier is named
in a Warning Event and the pod is still scheduled."""

from __future__ import annotations

from kubenexus.api import keys
from tests.integration.conftest import Cluster, eventually, running_daemon
from tests.integration.test_gpus_e2e import gpu_node


def gpu_pod(cluster: Cluster, name: str) -> None:
    cluster.pod(
        name,
        cpu="1",
        containers=[
            {
                "name": "main",
                "image": "busybox",
                "resources": {
                    "requests": {"cpu": "1", keys.GPU_NVIDIA: "1"},
                    "limits": {keys.GPU_NVIDIA: "1"},
                },
            }
        ],
    )


def label_namespace(cluster: Cluster, tier: str) -> None:
    cluster.api.put_object(
        "namespaces", {"metadata": {"name": "default", "labels": {keys.TENANT_TIER: tier}}}
    )


async def test_namespace_tiers_place_gpu_pods_on_their_hardware(cluster: Cluster) -> None:
    gpu_node(cluster, "premium", 8, **{keys.HARDWARE_TIER_LABEL: "premium"})
    gpu_node(cluster, "economy", 8, **{keys.HARDWARE_TIER_LABEL: "economy"})
    label_namespace(cluster, "gold")
    async with running_daemon(cluster) as daemon:
        await eventually(lambda: daemon.scheduler.cache.nodes.pods.labels_of_namespace("default"))
        gpu_pod(cluster, "gold-1")
        await eventually(lambda: cluster.node_of("gold-1") == "premium")
        label_namespace(cluster, "bronze")
        await eventually(
            lambda: (
                daemon.scheduler.cache.nodes.pods.labels_of_namespace("default").get(
                    keys.TENANT_TIER
                )
                == "bronze"
            )
        )
        gpu_pod(cluster, "bronze-1")
        await eventually(lambda: cluster.node_of("bronze-1") == "economy")
        label_namespace(cluster, "platinum")
        await eventually(
            lambda: (
                daemon.scheduler.cache.nodes.pods.labels_of_namespace("default").get(
                    keys.TENANT_TIER
                )
                == "platinum"
            )
        )
        gpu_pod(cluster, "odd-1")
        await eventually(lambda: cluster.node_of("odd-1") is not None)
        [event] = await eventually(lambda: cluster.events("odd-1", "InvalidProfile"))
        assert event["type"] == "Warning"
        assert event["message"] == (
            "namespace default label tenant.kubenexus.io/tier='platinum' is not gold, silver or "
            "bronze; ignored"
        )
        assert not cluster.events("gold-1", "InvalidProfile")
