"""GPUs through the daemon, on the emulator and a real kube-apiserver: DRA ResourceSlices and
node labels feed the one GPU model; VRAM requests land on cards that hold them."""

from __future__ import annotations

from typing import Any

from kubenexus.api import keys
from tests.core.test_gpu_model import nvidia_gpu, resource_slice
from tests.integration.conftest import Cluster, eventually, running_daemon

SLICES = {"group": "resource.k8s.io", "version": "v1"}


def gpu_node(cluster: Cluster, name: str, gpus: int, **labels: str) -> None:
    node = cluster.node(name, cpu="32", memory="256Gi", **labels)
    node["status"]["allocatable"][keys.GPU_NVIDIA] = str(gpus)
    node["status"].setdefault("capacity", {})[keys.GPU_NVIDIA] = str(gpus)
    cluster.api.put_object("nodes", node)


def gpu_pod(cluster: Cluster, name: str, vram: str, gpus: int = 1) -> None:
    cluster.pod(
        name,
        cpu="1",
        annotations={keys.VRAM_REQUEST: vram},
        containers=[
            {
                "name": "main",
                "image": "busybox",
                "resources": {
                    "requests": {"cpu": "1", keys.GPU_NVIDIA: str(gpus)},
                    "limits": {keys.GPU_NVIDIA: str(gpus)},
                },
            }
        ],
    )


def node_events(cluster: Cluster, node: str, reason: str) -> list[dict[str, Any]]:
    return [
        e
        for e in cluster.api.objects("events")
        if e.get("involvedObject", {}).get("kind") == "Node"
        and e["involvedObject"].get("name") == node
        and e.get("reason") == reason
    ]


async def test_vram_requests_follow_resource_slices_and_labels(cluster: Cluster) -> None:
    gpu_node(cluster, "dra", 4)
    gpu_node(
        cluster,
        "t4",
        1,
        **{"gpu.kubenexus.io/model": "T4", "gpu.kubenexus.io/vram": "16Gi"},
    )
    devices = [nvidia_gpu(i, "NVIDIA A100-SXM4-80GB", "80Gi") for i in range(4)]
    cluster.api.put_object(
        "resourceslices", resource_slice("dra-gpus", devices, node="dra"), **SLICES
    )
    async with running_daemon(cluster):
        gpu_pod(cluster, "small", "12Gi")
        gpu_pod(cluster, "large", "70Gi")
        await eventually(lambda: cluster.node_of("small") == "t4")
        await eventually(lambda: cluster.node_of("large") == "dra")
        gpu_pod(cluster, "huge", "90Gi")
        [event] = await eventually(lambda: cluster.events("huge", "FailedScheduling"))
        assert "Insufficient GPUs with 90Gi of GPU memory each (1 needed)" in event["message"]


async def test_a_resource_slice_that_cannot_be_read_is_a_warning_on_its_node(
    cluster: Cluster,
) -> None:
    gpu_node(cluster, "odd", 1)
    bad = resource_slice(
        "odd-gpus", [{"name": "gpu-0", "attributes": {"model": {"bool": True}}}], node="odd"
    )
    cluster.api.put_object("resourceslices", bad, **SLICES)
    async with running_daemon(cluster):
        [event] = await eventually(lambda: node_events(cluster, "odd", "InvalidGPUData"))
        assert "ResourceSlice odd-gpus.spec.devices[0].attributes[model]" in event["message"]
        gpu_pod(cluster, "p", "1Gi")
        [failed] = await eventually(lambda: cluster.events("p", "FailedScheduling"))
        assert "1 node(s) had no GPU information" in failed["message"]
        # The slice fixed: the node's GPUs are known again.
        good = resource_slice("odd-gpus", [nvidia_gpu(0, "NVIDIA T4", "16Gi")], node="odd")
        cluster.api.put_object("resourceslices", good, **SLICES)
        await eventually(lambda: cluster.node_of("p") == "odd", timeout=20)
