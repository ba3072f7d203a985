"""The one GPU model: node GPUs from ResourceSlices, GFD, NFD and manual labels; pod demand."""

from __future__ import annotations

from typing import Any

import pytest

from kubenexus.api import keys
from kubenexus.api.gpu import (
    GpuDemand,
    GpuDevice,
    NodeGpus,
    gpu_demand,
    gpu_family,
    gpus_from_labels,
    gpus_from_slices,
    model_memory,
    node_gpus,
)
from kubenexus.errors import InvalidInputError

GI = 2**30
MI = 2**20
NODE = "node-a"


def resource_slice(
    name: str,
    devices: list[dict[str, Any]],
    *,
    node: str = NODE,
    driver: str = "gpu.nvidia.com",
    pool: str | None = None,
    generation: int = 0,
) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": name},
        "spec": {
            "driver": driver,
            "nodeName": node,
            "pool": {"name": pool or node, "generation": generation, "resourceSliceCount": 1},
            "devices": devices,
        },
    }


def nvidia_gpu(
    index: int, product: str = "NVIDIA H100 80GB HBM3", memory: str = "80Gi"
) -> dict[str, Any]:
    """A full GPU as NVIDIA's DRA driver publishes it (cmd/gpu-kubelet-plugin/deviceinfo.go)."""
    return {
        "name": f"gpu-{index}",
        "attributes": {
            "type": {"string": "gpu"},
            "uuid": {"string": f"GPU-{index:08d}"},
            "productName": {"string": product},
            "brand": {"string": "Nvidia"},
            "architecture": {"string": "Hopper"},
            "driverVersion": {"version": "570.124.6"},
            "resource.kubernetes.io/pciBusID": {"string": f"0000:{0x17 + index:02x}:00.0"},
            "resource.kubernetes.io/pcieRoot": {"string": f"pci0000:{index // 4}"},
            "resource.kubernetes.io/numaNode": {"int": index // 4},
        },
        "capacity": {"memory": {"value": memory}},
    }


def seed_gpu(index: int, model: str = "H100", vram: int = 80 * GI) -> dict[str, Any]:
    """A GPU in seed 002's spelling (bare names, a vram attribute and a memory capacity)."""
    return {
        "name": f"gpu-{index}",
        "attributes": {
            "model": {"string": model},
            "vram": {"int": str(vram)},
            "numa-node": {"int": str(index // 4)},
            "pcie-bus-id": {"string": f"0000:{0x17 + index:02x}:00.0"},
            "nvlink-domain": {"int": "0"},
            "nvlink-peers": {"string": ",".join(f"gpu-{p}" for p in range(8) if p != index)},
            "pcie-switch": {"string": f"pex8747-{index // 2}"},
        },
        "capacity": {"memory": {"value": str(vram)}},
    }


def shape(gpus: NodeGpus | None) -> tuple[int, list[int], set[str], set[str]]:
    assert gpus is not None
    return (
        gpus.count,
        [d.memory for d in gpus.devices],
        {d.family for d in gpus.devices},
        {d.vendor for d in gpus.devices},
    )


# --------------------------------------------------------------------------- one model, four sources

H100_NODE = (8, [80 * GI] * 8, {"H100-80GB"}, {"nvidia"})


@pytest.mark.parametrize(
    ("labels", "slices", "source"),
    [
        ({}, [resource_slice("node-a-gpus", [nvidia_gpu(i) for i in range(8)])], "ResourceSlice"),
        ({}, [resource_slice("node-a-gpus", [seed_gpu(i) for i in range(8)])], "ResourceSlice"),
        (
            {
                keys.GFD_COUNT: "8",
                keys.GFD_PRODUCT: "NVIDIA-H100-80GB-HBM3",
                keys.GFD_MEMORY: "81920",
            },
            [],
            "gpu-feature-discovery",
        ),
        (
            {"feature.node.kubernetes.io/pci-10de.device.2330.count": "8"},
            [],
            "nfd",
        ),
        ({keys.GPU_MODEL_LABEL: "H100-80GB", keys.GPU_COUNT_LABEL: "8"}, [], "labels"),
        (
            {keys.GPU_MODEL_LABEL: "h100", keys.GPU_VRAM_LABEL: "80Gi", keys.GPU_COUNT_LABEL: "8"},
            [],
            "labels",
        ),
    ],
    ids=["dra-nvidia", "dra-seed", "gfd", "nfd", "manual", "manual-vram"],
)
def test_every_source_gives_the_same_devices_for_the_same_hardware(
    labels: dict[str, str], slices: list[dict[str, Any]], source: str
) -> None:
    gpus = node_gpus(NODE, labels, slices)
    assert shape(gpus) == H100_NODE
    assert gpus is not None
    assert gpus.source == source
    assert gpus.disagreements == ()
    assert gpus.warnings == ()


def test_nvidia_driver_attributes_are_read_per_device() -> None:
    gpus = gpus_from_slices(
        NODE, [resource_slice("node-a-gpus", [nvidia_gpu(i) for i in range(8)])]
    )
    assert gpus is not None
    first, last = gpus.devices[0], gpus.devices[7]
    assert first == GpuDevice(
        name="gpu-0",
        product="NVIDIA-H100-80GB-HBM3",
        family="H100-80GB",
        memory=80 * GI,
        vendor="nvidia",
        numa=0,
        pcie_root="pci0000:0",
        pci_bus_id="0000:17:00.0",
        uuid="GPU-00000000",
        driver="gpu.nvidia.com",
        pool=NODE,
    )
    assert (last.numa, last.pcie_root, last.pci_bus_id) == (1, "pci0000:1", "0000:1e:00.0")


def test_seed_attributes_are_read_per_device_and_the_model_is_not_a_switch() -> None:
    gpus = gpus_from_slices(NODE, [resource_slice("node-a-gpus", [seed_gpu(i) for i in range(8)])])
    assert gpus is not None
    device = gpus.devices[5]
    assert device.product == "H100"
    assert device.numa == 1
    assert device.nvlink_domain == "0"
    assert device.nvlink_peers == ("gpu-0", "gpu-1", "gpu-2", "gpu-3", "gpu-4", "gpu-6", "gpu-7")
    assert device.pcie_switch == "pex8747-2"
    assert device.pci_bus_id == "0000:1c:00.0"
    without_switch = seed_gpu(0)
    del without_switch["attributes"]["pcie-switch"]
    alone = gpus_from_slices(NODE, [resource_slice("s", [without_switch])])
    assert alone is not None
    assert alone.devices[0].pcie_switch is None  # the original copied the model in


def test_the_pci_address_in_every_drivers_spelling() -> None:
    for name in (
        "pcie-bus-id",
        "resource.kubernetes.io/pciBusID",
        "pcieBusID",
        "pciAddr",
        "pciAddress",
    ):
        device = {
            "name": "gpu-0",
            "attributes": {"type": {"string": "gpu"}, name: {"string": "0000:3b:00.0"}},
            "capacity": {"memory": {"value": "16Gi"}},
        }
        gpus = gpus_from_slices(NODE, [resource_slice("s", [device])])
        assert gpus is not None
        assert gpus.devices[0].pci_bus_id == "0000:3b:00.0", name


def test_names_qualified_by_the_driver_are_the_same_attributes() -> None:
    device = {
        "name": "gpu-0",
        "attributes": {
            "gpu.nvidia.com/type": {"string": "gpu"},
            "gpu.nvidia.com/productName": {"string": "NVIDIA A100-SXM4-40GB"},
            "gpu.nvidia.com/pciBusID": {"string": "0000:07:00.0"},
            "gpu.nvidia.com/uuid": {"string": "GPU-abc"},
        },
        "capacity": {"gpu.nvidia.com/memory": {"value": "40Gi"}},
    }
    gpus = gpus_from_slices(NODE, [resource_slice("s", [device])])
    assert gpus is not None
    d = gpus.devices[0]
    assert (d.product, d.family, d.memory, d.pci_bus_id, d.uuid) == (
        "NVIDIA-A100-SXM4-40GB",
        "A100-40GB",
        40 * GI,
        "0000:07:00.0",
        "GPU-abc",
    )
    # Another driver's domain is another attribute.
    foreign = {"name": "gpu-0", "attributes": {"other.example.com/productName": {"string": "X"}}}
    assert gpus_from_slices(NODE, [resource_slice("s", [foreign])]) is None


@pytest.mark.parametrize(
    ("attributes", "capacity"),
    [
        (
            {"model": {"string": "A100"}, "numa-node": {"int": 1}, "nvlink-domain": {"int": 3}},
            {"memory": {"value": "80Gi"}},
        ),
        (
            {
                "model": {"string": "A100"},
                "numa-node": {"int": "1"},
                "nvlink-domain": {"string": "3"},
            },
            {"memory": {"value": 85899345920}},
        ),
        ({"model": "A100", "numa-node": 1, "nvlink-domain": 3}, {"memory": "80Gi"}),
        ({"model": "A100", "numa-node": "1", "nvlink-domain": "3", "vram": 85899345920}, {}),
        (
            {"model": {"string": "A100"}, "resource.kubernetes.io/numaNode": {"ints": [1, 0]}},
            {"vram": {"value": "80Gi"}},
        ),
    ],
    ids=["union", "union-strings", "plain", "plain-vram-attribute", "numa-list"],
)
def test_typed_union_and_plain_values_read_the_same(
    attributes: dict[str, Any], capacity: dict[str, Any]
) -> None:
    device = {"name": "gpu-0", "attributes": attributes, "capacity": capacity}
    gpus = gpus_from_slices(NODE, [resource_slice("s", [device], driver="gpu.example.com")])
    assert gpus is not None
    d = gpus.devices[0]
    assert (d.product, d.family, d.memory, d.numa) == ("A100", "A100-80GB", 80 * GI, 1)
    if "nvlink-domain" in attributes:
        assert d.nvlink_domain == "3"


def test_v1beta1_basic_wrapper_is_read() -> None:
    device = {
        "name": "gpu-0",
        "basic": {
            "attributes": {"productName": {"string": "NVIDIA L4"}},
            "capacity": {"memory": {"value": "23034Mi"}},
        },
    }
    gpus = gpus_from_slices(NODE, [resource_slice("s", [device])])
    assert gpus is not None
    assert (gpus.devices[0].family, gpus.devices[0].memory) == ("L4-24GB", 23034 * MI)


def test_a_mixed_node_is_kept_per_device() -> None:
    devices = [nvidia_gpu(i, "NVIDIA A100-SXM4-40GB", "40Gi") for i in range(4)] + [
        nvidia_gpu(i, "NVIDIA A100-SXM4-80GB", "80Gi") for i in range(4, 8)
    ]
    gpus = node_gpus(NODE, {}, [resource_slice("node-a-gpus", devices)])
    assert gpus is not None
    assert [d.memory // GI for d in gpus.devices] == [40, 40, 40, 40, 80, 80, 80, 80]
    assert [d.family for d in gpus.devices] == ["A100-40GB"] * 4 + ["A100-80GB"] * 4
    assert gpus.disagreements == ()


def test_a_mixed_node_from_nfd_is_kept_per_device() -> None:
    labels = {
        "feature.node.kubernetes.io/pci-10de.device.1eb8.count": "2",
        "feature.node.kubernetes.io/pci-10de.device.20b5.count": "1",
    }
    gpus = gpus_from_labels(labels)
    assert gpus is not None
    assert [(d.name, d.family, d.memory // GI) for d in gpus.devices] == [
        ("gpu-0", "T4-16GB", 16),
        ("gpu-1", "T4-16GB", 16),
        ("gpu-2", "A100-80GB", 80),
    ]


def test_devices_that_are_not_whole_gpus_are_skipped() -> None:
    mig = nvidia_gpu(1)
    mig["attributes"]["type"] = {"string": "mig"}
    vfio = nvidia_gpu(2)
    vfio["attributes"]["type"] = {"string": "vfio"}
    partition = {
        "name": "p0",
        "attributes": {"type": {"string": "amdgpu-partition"}},
        "capacity": {"memory": {"value": "24Gi"}},
    }
    bare = {"name": "thing", "attributes": {"serial": {"string": "x"}}}
    gpus = gpus_from_slices(
        NODE, [resource_slice("s", [nvidia_gpu(0), mig, vfio, partition, bare])]
    )
    assert gpus is not None
    assert [d.name for d in gpus.devices] == ["gpu-0"]
    channels = resource_slice(
        "cd",
        [{"name": "channel-0", "attributes": {"type": {"string": "channel"}, "id": {"int": 0}}}],
        driver="compute-domain.nvidia.com",
    )
    assert gpus_from_slices(NODE, [channels]) is None


def test_a_gpu_without_memory_is_kept_with_a_warning() -> None:
    device = nvidia_gpu(0)
    del device["capacity"]
    gpus = gpus_from_slices(NODE, [resource_slice("node-a-gpus", [device])])
    assert gpus is not None
    assert (gpus.devices[0].memory, gpus.devices[0].family) == (0, "H100-80GB")
    assert gpus.warnings == (
        "ResourceSlice node-a-gpus.spec.devices[0] (gpu-0) publishes no memory capacity: "
        "its memory is unknown",
    )


def test_a_gpu_with_memory_zero_is_kept_with_a_warning() -> None:
    device = nvidia_gpu(0, memory="0")
    gpus = gpus_from_slices(NODE, [resource_slice("node-a-gpus", [device])])
    assert gpus is not None
    assert gpus.devices[0].memory == 0
    assert gpus.warnings == (
        "ResourceSlice node-a-gpus.spec.devices[0] (gpu-0) publishes a memory capacity of 0: "
        "its memory is unknown",
    )


def test_only_this_nodes_gpu_slices_of_the_newest_pool_generation_count() -> None:
    slices = [
        resource_slice("other-node", [nvidia_gpu(0)], node="node-b"),
        resource_slice(
            "nics",
            [{"name": "eth0", "attributes": {"model": "cx7"}}],
            driver="sriov.network.example.com",
        ),
        resource_slice("old", [nvidia_gpu(i) for i in range(8)], generation=1),
        resource_slice("new", [nvidia_gpu(i) for i in range(4)], generation=2),
        {
            "metadata": {"name": "per-device"},
            "spec": {
                "driver": "gpu.amd.com",
                "perDeviceNodeSelection": True,
                "pool": {"name": "shared", "generation": 0},
                "devices": [
                    {
                        "name": "gpu-1-1",
                        "nodeName": "node-b",
                        "attributes": {"type": {"string": "amdgpu"}},
                    },
                    {
                        "name": "gpu-2-2",
                        "nodeName": NODE,
                        "attributes": {
                            "type": {"string": "amdgpu"},
                            "productName": {"string": "AMD Instinct MI300X"},
                            "pciAddr": {"string": "0000:05:00.0"},
                        },
                        "capacity": {"memory": {"value": "192Gi"}},
                    },
                ],
            },
        },
    ]
    gpus = gpus_from_slices(NODE, slices)
    assert gpus is not None
    assert [(d.driver, d.name) for d in gpus.devices] == [
        ("gpu.amd.com", "gpu-2-2"),
        ("gpu.nvidia.com", "gpu-0"),
        ("gpu.nvidia.com", "gpu-1"),
        ("gpu.nvidia.com", "gpu-2"),
        ("gpu.nvidia.com", "gpu-3"),
    ]
    amd = gpus.devices[0]
    assert (amd.vendor, amd.family, amd.pci_bus_id, amd.pool) == (
        "amd",
        "MI300X-192GB",
        "0000:05:00.0",
        "shared",
    )


# --------------------------------------------------------------------------- label sources


def test_gfd_memory_is_mib() -> None:
    gpus = gpus_from_labels(
        {
            keys.GFD_COUNT: "4",
            keys.GFD_PRODUCT: "NVIDIA-H100-80GB-HBM3",
            keys.GFD_MEMORY: "81559",
            keys.GFD_CLIQUE: "7b4a1d3c-0000.1",
        }
    )
    assert gpus is not None
    assert gpus.source == "gpu-feature-discovery"
    assert {(d.memory, d.family, d.nvlink_domain) for d in gpus.devices} == {
        (81559 * MI, "H100-80GB", "7b4a1d3c-0000.1")
    }
    assert [d.name for d in gpus.devices] == ["gpu-0", "gpu-1", "gpu-2", "gpu-3"]


def test_gfd_without_memory_takes_the_model_table_and_says_so() -> None:
    gpus = gpus_from_labels({keys.GFD_COUNT: "2", keys.GFD_PRODUCT: "Tesla-T4"})
    assert gpus is not None
    assert [d.memory for d in gpus.devices] == [16 * GI, 16 * GI]
    assert gpus.warnings == (
        "nvidia.com/gpu.memory is missing: memory taken from the model table (16Gi)",
    )


def test_gfd_with_no_gpus_falls_through_to_the_next_source() -> None:
    gpus = gpus_from_labels(
        {keys.GFD_COUNT: "0", keys.GPU_MODEL_LABEL: "T4", keys.GPU_COUNT_LABEL: "1"}
    )
    assert gpus is not None
    assert (gpus.source, gpus.count) == ("labels", 1)


@pytest.mark.parametrize(
    ("labels", "count"),
    [
        (
            {
                "feature.node.kubernetes.io/pci-10de.device.2330.present": "true",
                "feature.node.kubernetes.io/pci-10de.device.2330.count": "8",
            },
            8,
        ),
        ({"feature.node.kubernetes.io/pci-10de.device.2330.present": "true"}, 1),
        (
            {
                "feature.node.kubernetes.io/pci-10de.device.2330.present": "true",
                "feature.node.kubernetes.io/pci-10de.device.2330.count": "1",
            },
            1,
        ),
    ],
    ids=["present-and-count-8", "present-only", "present-and-count-1"],
)
def test_nfd_counts_each_device_id_once(labels: dict[str, str], count: int) -> None:
    gpus = gpus_from_labels(labels)
    assert gpus is not None
    assert gpus.count == count  # the original enumerated 2330 twice: 16 and 2
    assert {d.product for d in gpus.devices} == {"H100-SXM5-80GB"}


def test_nfd_ignores_pci_devices_that_are_not_known_gpus() -> None:
    labels = {
        "feature.node.kubernetes.io/pci-10de.device.22a3.count": "4",  # NVSwitch
        "feature.node.kubernetes.io/pci-8086.device.2330.present": "true",  # an Intel SMBus
        "feature.node.kubernetes.io/pci-10de.present": "true",
    }
    assert gpus_from_labels(labels) is None


@pytest.mark.parametrize(
    ("device", "family", "gib"),
    [
        ("10de.device.2322", "H800-80GB", 80),  # the original said H200, 141 GiB
        ("10de.device.2335", "H200-141GB", 141),
        ("1002.device.740f", "MI210-64GB", 64),  # the original said 32 GiB
        ("8086.device.0bd5", "MAX-1550-128GB", 128),  # the original said 48 GiB
        ("10de.device.26b9", "L40S-48GB", 48),
    ],
)
def test_nfd_device_table(device: str, family: str, gib: int) -> None:
    gpus = gpus_from_labels({f"feature.node.kubernetes.io/pci-{device}.present": "true"})
    assert gpus is not None
    assert (gpus.devices[0].family, gpus.devices[0].memory) == (family, gib * GI)


@pytest.mark.parametrize(
    ("numa_labels", "zones"),
    [
        ({keys.NFD_MEMORY_NUMA: "true", keys.NFD_MEMORY_NUMA_COUNT: "2"}, [0, 0, 0, 0, 1, 1, 1, 1]),
        (
            {
                keys.NFD_MEMORY_NUMA: "true",
                "feature.node.kubernetes.io/memory-numa.node0": "true",
                "feature.node.kubernetes.io/memory-numa.node3": "true",
            },
            [0, 0, 1, 1, 2, 2, 3, 3],
        ),
        ({keys.NFD_MEMORY_NUMA: "true", keys.NFD_MEMORY_NUMA_COUNT: "3"}, [0, 0, 0, 1, 1, 1, 2, 2]),
        ({keys.NFD_MEMORY_NUMA_COUNT: "2"}, [None] * 8),  # memory-numa must be there
        ({keys.NFD_MEMORY_NUMA: "true", keys.NFD_MEMORY_NUMA_COUNT: "16"}, [None] * 8),
    ],
    ids=["node-count", "highest-node", "uneven", "no-memory-numa", "more-zones-than-gpus"],
)
def test_nfd_numa_zones_are_guessed_as_the_original(
    numa_labels: dict[str, str], zones: list[int | None]
) -> None:
    labels = {"feature.node.kubernetes.io/pci-10de.device.2330.count": "8", **numa_labels}
    gpus = gpus_from_labels(labels)
    assert gpus is not None
    # (3 zones: the original's i ÷ (8 ÷ 3) put GPUs 6 and 7 on a zone 3 that does not exist)
    assert [d.numa for d in gpus.devices] == zones


@pytest.mark.parametrize(
    ("model", "family", "gib"),
    [
        ("H100-80GB", "H100-80GB", 80),
        ("H200", "H200-141GB", 141),
        ("H100", "H100-80GB", 80),
        ("A100-80GB", "A100-80GB", 80),
        ("A100-40GB", "A100-40GB", 40),
        ("a100", "A100-40GB", 40),
        ("L40S", "L40S-48GB", 48),
        ("L40", "L40-48GB", 48),
        ("L4", "L4-24GB", 24),
        ("A40", "A40-48GB", 48),
        ("A30", "A30-24GB", 24),
        ("nvidia-tesla-t4", "T4-16GB", 16),
        ("V100-32GB", "V100-32GB", 32),
        ("Tesla-V100-SXM2-16GB", "V100-16GB", 16),
        ("V100", "V100-32GB", 32),
        ("RTX8000", "RTX-8000-48GB", 48),
        ("Quadro-RTX-6000", "RTX-6000-24GB", 24),
        ("MI300", "MI300-192GB", 192),
    ],
)
def test_manual_model_table(model: str, family: str, gib: int) -> None:
    gpus = gpus_from_labels({keys.GPU_MODEL_LABEL: model})
    assert gpus is not None
    assert (gpus.count, gpus.devices[0].family, gpus.devices[0].memory) == (1, family, gib * GI)
    assert model_memory(model) == gib * GI


def test_manual_vram_wins_over_the_model_table() -> None:
    gpus = gpus_from_labels(
        {keys.GPU_MODEL_LABEL: "H100", keys.GPU_VRAM_LABEL: "94Gi", keys.GPU_COUNT_LABEL: "2"}
    )
    assert gpus is not None
    assert [(d.memory, d.family) for d in gpus.devices] == [(94 * GI, "H100-94GB")] * 2


def test_manual_unknown_model_without_vram_has_unknown_memory() -> None:
    gpus = gpus_from_labels({keys.GPU_MODEL_LABEL: "Gaudi3", keys.GPU_COUNT_LABEL: "8"})
    assert gpus is not None
    assert {d.memory for d in gpus.devices} == {0}
    assert gpus.warnings == (
        "gpu.kubenexus.io/model Gaudi3 is not in the model table and gpu.kubenexus.io/vram is "
        "missing: memory unknown",
    )


def test_gpu_numa_labels_give_the_zone_of_gpu_k() -> None:
    labels = {
        keys.GPU_MODEL_LABEL: "A100-80GB",
        keys.GPU_COUNT_LABEL: "4",
        "gpu.kubenexus.io/gpu0-numa": "0",
        "gpu.kubenexus.io/gpu1-numa": "0",
        "gpu.kubenexus.io/gpu3-numa": "1",
    }
    gpus = gpus_from_labels(labels)
    assert gpus is not None
    assert [d.numa for d in gpus.devices] == [0, 0, None, 1]


def test_no_gpu_data_is_none() -> None:
    assert node_gpus(NODE, {"kubernetes.io/hostname": NODE}, []) is None
    assert gpus_from_slices(NODE, []) is None
    assert gpus_from_labels({}) is None


# --------------------------------------------------------------------------- disagreements


def test_the_first_source_wins_and_the_others_that_disagree_are_named() -> None:
    labels = {
        keys.GFD_COUNT: "8",
        keys.GFD_PRODUCT: "NVIDIA-A100-SXM4-40GB",
        keys.GFD_MEMORY: "40960",
        keys.GPU_MODEL_LABEL: "H100",
        keys.GPU_COUNT_LABEL: "4",
    }
    slices = [resource_slice("node-a-gpus", [nvidia_gpu(i) for i in range(4)])]
    gpus = node_gpus(NODE, labels, slices)
    assert gpus is not None
    assert (gpus.source, gpus.count) == ("ResourceSlice", 4)
    assert gpus.disagreements == (
        "nvidia.com/gpu.count says 8 but ResourceSlice node-a-gpus lists 4 devices",
        "nvidia.com/gpu.memory says 40960 MiB but ResourceSlice node-a-gpus lists 80Gi",
        "nvidia.com/gpu.product says NVIDIA-A100-SXM4-40GB but ResourceSlice node-a-gpus lists "
        "NVIDIA-H100-80GB-HBM3",
    )
    # Without the slices GFD wins, and the manual labels disagree with it.
    gpus = node_gpus(NODE, labels, [])
    assert gpus is not None
    assert (gpus.source, gpus.count) == ("gpu-feature-discovery", 8)
    assert gpus.disagreements == (
        "gpu.kubenexus.io/count says 4 but nvidia.com/gpu.count says 8",
        "gpu.kubenexus.io/model says H100 (the model table gives 80Gi) but nvidia.com/gpu.memory "
        "says 40960 MiB",
        "gpu.kubenexus.io/model says H100 but nvidia.com/gpu.product says NVIDIA-A100-SXM4-40GB",
    )


def test_sources_that_agree_are_not_disagreements() -> None:
    # Reported (81559 MiB) and marketed (80 GiB) sizes of one card agree.
    labels = {
        keys.GFD_COUNT: "8",
        keys.GFD_PRODUCT: "NVIDIA-H100-80GB-HBM3",
        keys.GFD_MEMORY: "81559",
        "feature.node.kubernetes.io/pci-10de.device.2330.present": "true",
        "feature.node.kubernetes.io/pci-10de.device.2330.count": "8",
        keys.GPU_MODEL_LABEL: "H100",
        keys.GPU_COUNT_LABEL: "8",
    }
    slices = [resource_slice("node-a-gpus", [nvidia_gpu(i, memory="81559Mi") for i in range(8)])]
    gpus = node_gpus(NODE, labels, slices)
    assert gpus is not None
    assert gpus.disagreements == ()


def test_nfd_disagreement_names_its_labels() -> None:
    labels = {
        keys.GFD_COUNT: "8",
        keys.GFD_PRODUCT: "NVIDIA-H100-80GB-HBM3",
        keys.GFD_MEMORY: "81559",
        "feature.node.kubernetes.io/pci-10de.device.1eb8.count": "2",
    }
    gpus = gpus_from_labels(labels)
    assert gpus is not None
    assert gpus.disagreements == (
        "feature.node.kubernetes.io/pci-10de.device.1eb8.count says 2 (2 devices) but "
        "nvidia.com/gpu.count says 8",
        "feature.node.kubernetes.io/pci-10de.device.1eb8.count says 2 (the device-id table gives "
        "16Gi) but nvidia.com/gpu.memory says 81559 MiB",
        "feature.node.kubernetes.io/pci-10de.device.1eb8.count says 2 (Tesla-T4) but "
        "nvidia.com/gpu.product says NVIDIA-H100-80GB-HBM3",
    )


# --------------------------------------------------------------------------- malformed input


def _slice_with(device: dict[str, Any]) -> list[dict[str, Any]]:
    return [resource_slice("bad", [device])]


@pytest.mark.parametrize(
    ("labels", "slices", "field"),
    [
        ({keys.GFD_COUNT: "eight"}, [], "nvidia.com/gpu.count"),
        ({keys.GFD_COUNT: "-1"}, [], "nvidia.com/gpu.count"),
        ({keys.GFD_COUNT: "100000"}, [], "nvidia.com/gpu.count"),
        ({keys.GFD_PRODUCT: "NVIDIA-H100-80GB-HBM3"}, [], "nvidia.com/gpu.count"),
        ({keys.GFD_COUNT: "8", keys.GFD_MEMORY: "80Gi"}, [], "nvidia.com/gpu.memory"),
        ({keys.GFD_COUNT: "8", keys.GFD_MEMORY: "0"}, [], "nvidia.com/gpu.memory"),
        (
            {"feature.node.kubernetes.io/pci-10de.device.2330.count": "many"},
            [],
            "feature.node.kubernetes.io/pci-10de.device.2330.count",
        ),
        (
            {
                "feature.node.kubernetes.io/pci-10de.device.2330.present": "yes",
                "feature.node.kubernetes.io/pci-10de.device.2330.count": "8",
            },
            [],
            "feature.node.kubernetes.io/pci-10de.device.2330.present",
        ),
        (
            {
                "feature.node.kubernetes.io/pci-10de.device.2330.present": "true",
                keys.NFD_MEMORY_NUMA: "true",
                keys.NFD_MEMORY_NUMA_COUNT: "two",
            },
            [],
            keys.NFD_MEMORY_NUMA_COUNT,
        ),
        ({keys.GPU_MODEL_LABEL: "H100", keys.GPU_VRAM_LABEL: "lots"}, [], "gpu.kubenexus.io/vram"),
        ({keys.GPU_MODEL_LABEL: "H100", keys.GPU_VRAM_LABEL: "-80Gi"}, [], "gpu.kubenexus.io/vram"),
        ({keys.GPU_MODEL_LABEL: "H100", keys.GPU_COUNT_LABEL: "1.5"}, [], "gpu.kubenexus.io/count"),
        (
            {keys.GPU_MODEL_LABEL: "H100", "gpu.kubenexus.io/gpu0-numa": "first"},
            [],
            "gpu.kubenexus.io/gpu0-numa",
        ),
        (
            {keys.GPU_MODEL_LABEL: "H100", "gpu.kubenexus.io/gpu3-numa": "0"},
            [],
            "gpu.kubenexus.io/gpu3-numa",
        ),
        (
            {},
            _slice_with(
                {
                    "name": "gpu-0",
                    "attributes": {"model": {"string": "H100"}},
                    "capacity": {"memory": {"value": "eighty"}},
                }
            ),
            "ResourceSlice bad.spec.devices[0].capacity[memory].value",
        ),
        (
            {},
            _slice_with(
                {
                    "name": "gpu-0",
                    "attributes": {"model": {"string": "H100"}},
                    "capacity": {"memory": {"amount": "80Gi"}},
                }
            ),
            "ResourceSlice bad.spec.devices[0].capacity[memory]",
        ),
        (
            {},
            _slice_with({"name": "gpu-0", "attributes": {"model": {"string": "H100", "int": 1}}}),
            "ResourceSlice bad.spec.devices[0].attributes[model]",
        ),
        (
            {},
            _slice_with({"name": "gpu-0", "attributes": {"model": {"str": "H100"}}}),
            "ResourceSlice bad.spec.devices[0].attributes[model]",
        ),
        (
            {},
            _slice_with(
                {"name": "gpu-0", "attributes": {"model": "H100", "numa-node": {"string": "zero"}}}
            ),
            "ResourceSlice bad.spec.devices[0].attributes[numa-node]",
        ),
        (
            {},
            _slice_with({"name": "gpu-0", "attributes": {"model": "H100", "numa-node": -2}}),
            "ResourceSlice bad.spec.devices[0].attributes[numa-node]",
        ),
        (
            {},
            _slice_with({"name": "gpu-0", "attributes": {"model": {"bool": True}}}),
            "ResourceSlice bad.spec.devices[0].attributes[model]",
        ),
        (
            {},
            _slice_with(
                {"name": "gpu-0", "attributes": {"model": "H100", "nvlink-peers": {"ints": []}}}
            ),
            "ResourceSlice bad.spec.devices[0].attributes[nvlink-peers]",
        ),
        (
            {},
            _slice_with({"name": "gpu-0", "attributes": ["model", "H100"]}),
            "ResourceSlice bad.spec.devices[0].attributes",
        ),
        (
            {},
            _slice_with({"attributes": {"model": "H100"}, "capacity": {"memory": "80Gi"}}),
            "ResourceSlice bad.spec.devices[0].name",
        ),
        (
            {},
            [{"metadata": {"name": "bad"}, "spec": {"nodeName": NODE}}],
            "ResourceSlice bad.spec.driver",
        ),
        (
            {},
            [
                {
                    "metadata": {"name": "bad"},
                    "spec": {"nodeName": NODE, "driver": "gpu.nvidia.com", "devices": {}},
                }
            ],
            "ResourceSlice bad.spec.devices",
        ),
        ({}, ["not a slice"], "ResourceSlice[0]"),
    ],
)
def test_every_malformed_input_names_its_key(
    labels: dict[str, str], slices: list[Any], field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        node_gpus(NODE, labels, slices)
    assert caught.value.field == field


def test_a_malformed_slice_of_another_node_does_not_matter() -> None:
    other = resource_slice("other", [{"attributes": "garbage"}], node="node-b")
    gpus = node_gpus(NODE, {keys.GPU_MODEL_LABEL: "T4"}, [other])
    assert gpus is not None
    assert gpus.source == "labels"


# --------------------------------------------------------------------------- families


@pytest.mark.parametrize(
    ("product", "memory", "family"),
    [
        ("NVIDIA-H100-80GB-HBM3", 81559 * MI, "H100-80GB"),
        ("NVIDIA H100 NVL", 95830 * MI, "H100-94GB"),
        ("Tesla-T4", 15360 * MI, "T4-16GB"),
        ("NVIDIA-L40S", 46068 * MI, "L40S-48GB"),
        ("NVIDIA-GH200-480GB", 97871 * MI, "GH200-96GB"),  # 480GB is the CPU's memory
        ("NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", 4864 * MI, "A100-MIG-1G.5GB"),
        ("NVIDIA-H100-80GB-HBM3-SHARED", 81559 * MI, "H100-80GB"),
        ("NVIDIA GeForce GTX 1080", 8 * GI, "GEFORCE-GTX-1080"),
        ("NVIDIA RTX 6000 Ada Generation", 48 * GI, "RTX-6000-ADA-48GB"),
        ("H100", 0, "H100"),
        ("A100-80GB", 0, "A100-80GB"),
    ],
)
def test_family(product: str, memory: int, family: str) -> None:
    assert gpu_family(product, memory) == family


# --------------------------------------------------------------------------- pod demand


def test_pod_demand() -> None:
    demand = gpu_demand(
        {"nvidia.com/gpu": 2, "cpu": 4000},
        {
            keys.VRAM_REQUEST: "70Gi",
            keys.GPU_PRODUCTS: "H100, A100-80GB",
            keys.MODEL_SIZE: "70B",
        },
    )
    assert demand == GpuDemand(
        count=2, vram=70 * GI, products=("H100", "A100-80GB"), model_size="70B"
    )
    assert gpu_demand({}, {}) == GpuDemand()
    assert gpu_demand({"nvidia.com/gpu": 1}, {keys.VRAM_REQUEST: "0"}) == GpuDemand(count=1)


@pytest.mark.parametrize(
    ("annotations", "key"),
    [
        ({keys.VRAM_REQUEST: "lots"}, keys.VRAM_REQUEST),
        ({keys.VRAM_REQUEST: "-12Gi"}, keys.VRAM_REQUEST),
        ({keys.VRAM_REQUEST: ""}, keys.VRAM_REQUEST),
        ({keys.GPU_PRODUCTS: ""}, keys.GPU_PRODUCTS),
        ({keys.GPU_PRODUCTS: " , "}, keys.GPU_PRODUCTS),
        ({keys.GPU_PRODUCTS: "H100,,A100"}, keys.GPU_PRODUCTS),
        ({keys.GPU_PRODUCTS: "H100;rm -rf"}, keys.GPU_PRODUCTS),
    ],
)
def test_malformed_pod_demand_names_the_annotation_and_value(
    annotations: dict[str, str], key: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        gpu_demand({"nvidia.com/gpu": 1}, annotations)
    assert caught.value.field == key
    assert caught.value.value == annotations[key]


def _device(product: str, memory: int) -> GpuDevice:
    return GpuDevice("gpu-0", product, gpu_family(product, memory), memory)


@pytest.mark.parametrize(
    ("products", "device", "accepted"),
    [
        ("H100,A100-80GB", _device("NVIDIA-H100-80GB-HBM3", 81559 * MI), True),
        ("H100,A100-80GB", _device("NVIDIA-A100-SXM4-80GB", 80 * GI), True),
        ("H100,A100-80GB", _device("NVIDIA-A100-SXM4-40GB", 40 * GI), False),
        ("h100-80gb", _device("H100", 80 * GI), True),
        ("NVIDIA-H100", _device("NVIDIA-H100-80GB-HBM3", 81559 * MI), True),
        ("L40", _device("NVIDIA-L40S", 46068 * MI), False),
        ("H100", _device("NVIDIA-GH200-480GB", 97871 * MI), False),
        ("T4", _device("Tesla-T4", 15 * GI), True),
    ],
)
def test_accepted_products_match_whole_words(
    products: str, device: GpuDevice, accepted: bool
) -> None:
    demand = gpu_demand({}, {keys.GPU_PRODUCTS: products})
    assert demand.accepts(device) is accepted
    assert GpuDemand().accepts(device) is True
