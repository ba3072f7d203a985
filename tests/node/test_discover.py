"""`kubenexus node discover`: sysfs fixtures of 1-, 2-, 4- and 8-zone hosts → exactly the labels,
annotations and NodeResourceTopology the scheduler reads (and it reads them back)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubenexus.api.gpu import gpus_from_labels
from kubenexus.api.topology import topology_from_labels, topology_from_nrt
from kubenexus.cli import main
from kubenexus.node.discover import (
    DiscoveryError,
    desired_annotations,
    desired_labels,
    discover,
    node_patch,
    nrt_object,
    parse_topo_matrix,
)
from tests.node.hosts import FakeSysfs

GIB = 2**30
N = "numa.kubenexus.io/"


def two_zone_host(tmp: Path) -> Path:
    """2 sockets × 16 cores × 2 threads; CPUs 60-63 offline; 2 H100s, a NIC, BMC graphics."""
    return (
        FakeSysfs(tmp)
        .node(0, "0-15,32-47", 64 * GIB)
        .node(1, "16-31,48-63", 64 * GIB)
        .online("0-59")
        .smt(2)
        .pci("0000:17:00.0", "10de", "2330", "030200", 0)
        .pci("0000:a3:00.0", "10de", "2330", "030200", 1)
        .pci("0000:b1:00.0", "15b3", "101b", "020000", 1, net="ens1f0")
        .pci("0000:03:00.0", "1a03", "2000", "030000", 0)  # ASPEED BMC: no GPU
        .build()
    )


def test_two_zones_with_smt_offline_cpus_gpus_and_a_nic(tmp_path: Path) -> None:
    found = discover(str(two_zone_host(tmp_path)), nvidia_smi=None)
    assert desired_labels(found) == {
        f"{N}node-count": "2",
        "gpu.kubenexus.io/count": "2",
        "gpu.kubenexus.io/model": "H100-SXM5-80GB",
        "gpu.kubenexus.io/gpu0-numa": "0",
        "gpu.kubenexus.io/gpu1-numa": "1",
    }
    assert desired_annotations(found) == {
        "gpu.kubenexus.io/discovered-numa-gpus": "0-1",  # whose gpuK-numa discovery wrote
        f"{N}node-0-cpus": "0-15,32-47",
        f"{N}node-0-memory": str(64 * GIB),
        f"{N}node-0-distance-0": "10",
        f"{N}node-0-distance-1": "21",
        f"{N}node-1-cpus": "16-31,48-59",  # 60-63 are offline
        f"{N}node-1-memory": str(64 * GIB),
        f"{N}node-1-distance-0": "21",
        f"{N}node-1-distance-1": "10",
    }
    assert found.threads_per_core == 2
    assert [(n.address, n.zone, n.interfaces) for n in found.nics] == [
        ("0000:b1:00.0", 1, ("ens1f0",))
    ]
    assert nrt_object("gpu-1", found) == {
        "apiVersion": "topology.node.k8s.io/v1alpha2",
        "kind": "NodeResourceTopology",
        "metadata": {
            "name": "gpu-1",
            "labels": {"app.kubernetes.io/managed-by": "kubenexus-node-discovery"},
        },
        "topologyPolicies": ["None"],
        "zones": [
            {
                "name": f"node-{z}",
                "type": "Node",
                "costs": [
                    {"name": "node-0", "value": 10 if z == 0 else 21},
                    {"name": "node-1", "value": 21 if z == 0 else 10},
                ],
                "resources": [
                    {"name": "cpu", "capacity": cpus, "allocatable": cpus, "available": cpus},
                    {
                        "name": "memory",
                        "capacity": str(64 * GIB),
                        "allocatable": str(64 * GIB),
                        "available": str(64 * GIB),
                    },
                    {
                        "name": "nvidia.com/gpu",
                        "capacity": "1",
                        "allocatable": "1",
                        "available": "1",
                    },
                ],
            }
            for z, cpus in ((0, "32"), (1, "28"))
        ],
    }


def test_the_scheduler_reads_back_what_discovery_publishes(tmp_path: Path) -> None:
    found = discover(str(two_zone_host(tmp_path)), nvidia_smi=None)
    labels, annotations = desired_labels(found), desired_annotations(found)
    topology = topology_from_labels(labels, annotations)
    assert topology is not None
    assert [(z.id, len(z.cpus), z.memory, z.gpus, dict(z.distances)) for z in topology.zones] == [
        (0, 32, 64 * GIB, 1, {0: 10, 1: 21}),
        (1, 28, 64 * GIB, 1, {0: 21, 1: 10}),
    ]
    gpus = gpus_from_labels(labels)
    assert gpus is not None
    assert [(d.family, d.memory, d.numa) for d in gpus.devices] == [
        ("H100-80GB", 80 * GIB, 0),
        ("H100-80GB", 80 * GIB, 1),
    ]
    nrt = topology_from_nrt(nrt_object("n", found))
    assert [(z.cpu_milli, z.memory, z.gpus) for z in nrt.zones] == [
        (32000, 64 * GIB, 1),
        (28000, 64 * GIB, 1),
    ]


def test_one_zone_host(tmp_path: Path) -> None:
    root = FakeSysfs(tmp_path).node(0, "0-7", 32 * GIB).online("0-5").build()
    found = discover(str(root), nvidia_smi=None)
    assert desired_labels(found) == {f"{N}node-count": "1"}
    assert desired_annotations(found) == {
        f"{N}node-0-cpus": "0-5",
        f"{N}node-0-memory": str(32 * GIB),
        f"{N}node-0-distance-0": "10",
    }


def test_kernel_without_numa_is_one_zone_from_proc_meminfo(tmp_path: Path) -> None:
    sysfs = tmp_path / "sys/devices/system/cpu"
    sysfs.mkdir(parents=True)
    (sysfs / "online").write_text("0-3\n")
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "meminfo").write_text("MemTotal:        8000000 kB\nMemFree: 1 kB\n")
    found = discover(str(tmp_path / "sys"), str(proc), nvidia_smi=None)
    assert not found.host.numa
    assert desired_annotations(found) == {
        f"{N}node-0-cpus": "0-3",
        f"{N}node-0-memory": str(8000000 * 1024),
        f"{N}node-0-distance-0": "10",
    }


def four_zone_host(tmp: Path) -> Path:
    """Nodes 0-3 with CPUs and memory; node 4 has CPUs and no memory (nearest: node 2); node 5
    has memory and no CPU (a CXL expander)."""
    distances = {
        0: [10, 16, 16, 22, 22, 30],
        1: [16, 10, 22, 16, 22, 30],
        2: [16, 22, 10, 16, 12, 30],
        3: [22, 16, 16, 10, 22, 30],
        4: [22, 22, 12, 22, 10, 30],
        5: [30, 30, 30, 30, 30, 10],
    }
    sysfs = FakeSysfs(tmp)
    for node in range(4):
        sysfs.node(node, f"{node * 8}-{node * 8 + 7}", 32 * GIB, distances[node])
    sysfs.node(4, "32-39", 0, distances[4]).node(5, "", 256 * GIB, distances[5])
    return sysfs.online("0-39").build()


def test_four_zones_memoryless_cpus_join_the_nearest_zone_and_memory_only_nodes_are_no_zone(
    tmp_path: Path,
) -> None:
    found = discover(str(four_zone_host(tmp_path)), nvidia_smi=None)
    assert found.host.memoryless_nodes == (4,)
    assert found.host.memory_only_nodes == (5,)
    assert [(z.index, z.nodes, z.mems) for z in found.host.zones] == [
        (0, (0,), (0,)),
        (1, (1,), (1,)),
        (2, (2, 4), (2,)),
        (3, (3,), (3,)),
    ]
    annotations = desired_annotations(found)
    assert desired_labels(found) == {f"{N}node-count": "4"}
    assert {k: v for k, v in annotations.items() if k.endswith("-cpus")} == {
        f"{N}node-0-cpus": "0-7",
        f"{N}node-1-cpus": "8-15",
        f"{N}node-2-cpus": "16-23,32-39",
        f"{N}node-3-cpus": "24-31",
    }
    assert annotations[f"{N}node-2-distance-3"] == "16"
    assert annotations[f"{N}node-3-memory"] == str(32 * GIB)
    assert len(annotations) == 4 * (2 + 4)
    topology = topology_from_labels(desired_labels(found), annotations)
    assert topology is not None
    assert [len(z.cpus) for z in topology.zones] == [8, 8, 16, 8]


def test_eight_zones_with_smt_and_offline_cpus(tmp_path: Path) -> None:
    sysfs = FakeSysfs(tmp_path)
    for node in range(8):
        sysfs.node(node, f"{node * 8}-{node * 8 + 7},{64 + node * 8}-{64 + node * 8 + 7}", 16 * GIB)
    root = sysfs.online("0-62,64-126").smt(2).build()  # 63 and 127 offline
    found = discover(str(root), nvidia_smi=None)
    annotations = desired_annotations(found)
    assert desired_labels(found) == {f"{N}node-count": "8"}
    assert annotations[f"{N}node-0-cpus"] == "0-7,64-71"
    assert annotations[f"{N}node-7-cpus"] == "56-62,120-126"
    assert annotations[f"{N}node-7-distance-0"] == "21"
    assert len(annotations) == 8 * (2 + 8)
    assert found.threads_per_core == 2
    nrt = nrt_object("big", found)
    assert [r["capacity"] for z in nrt["zones"] for r in z["resources"] if r["name"] == "cpu"] == [
        "16"
    ] * 7 + ["14"]


def test_nvidia_smi_topology_matrix() -> None:
    hgx = "\t" + "\t".join(f"GPU{i}" for i in range(8)) + "\tNIC0\tCPU Affinity\tNUMA Affinity\n"
    for i in range(8):
        hgx += (
            f"GPU{i}\t"
            + "\t".join(" X " if i == j else "NV18" for j in range(8))
            + "\tSYS\t0-47\t0\n"
        )
    assert parse_topo_matrix(hgx) is not None
    assert parse_topo_matrix(hgx).kind == "nvswitch"  # type: ignore[union-attr]
    pairs = "\tGPU0\tGPU1\tGPU2\tGPU3\nGPU0\t X \tNV4\tSYS\tSYS\nGPU1\tNV4\t X \tSYS\tSYS\nGPU2\tSYS\tSYS\t X \tPIX\nGPU3\tSYS\tSYS\tPIX\t X \n"
    links = parse_topo_matrix(pairs)
    assert links is not None
    assert links.pairs == {(0, 1)}
    assert links.kind == "nvlink"
    pcie = "\tGPU0\tGPU1\nGPU0\t X \tPHB\nGPU1\tPHB\t X \n"
    assert parse_topo_matrix(pcie).kind == "pcie"  # type: ignore[union-attr]
    assert parse_topo_matrix("No devices were found") is None


def test_nvidia_smi_output_sets_the_gpu_topology_label(tmp_path: Path) -> None:
    tool = tmp_path / "bin/nvidia-smi"
    tool.parent.mkdir()
    tool.write_text(
        "#!/bin/sh\nprintf '\\tGPU0\\tGPU1\\nGPU0\\t X \\tNV12\\nGPU1\\tNV12\\t X \\n'\n"
    )
    tool.chmod(0o755)
    found = discover(str(two_zone_host(tmp_path)), nvidia_smi=str(tool))
    assert desired_labels(found)["gpu.kubenexus.io/topology"] == "nvlink"
    broken = tmp_path / "bin/broken-smi"
    broken.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    broken.chmod(0o755)
    # The zones are published all the same; the failure is a warning, and no topology label.
    found = discover(str(two_zone_host(tmp_path / "b")), nvidia_smi=str(broken))
    assert found.nvlinks is None
    assert len(found.warnings) == 1
    assert found.warnings[0].startswith("NVLink unknown: ")
    assert found.warnings[0].endswith("topo -m exited 9: NVIDIA-SMI has failed")
    assert "gpu.kubenexus.io/topology" not in desired_labels(found)
    assert desired_labels(found)[f"{N}node-count"] == "2"


def test_absent_nvidia_smi_is_skipped(tmp_path: Path) -> None:
    found = discover(str(two_zone_host(tmp_path)), nvidia_smi="no-such-nvidia-smi")
    assert found.nvlinks is None
    assert "gpu.kubenexus.io/topology" not in desired_labels(found)


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("devices/system/node/node1/cpulist", "16-x\n", "node1/cpulist: invalid CPU list '16-x'"),
        ("devices/system/node/node0/distance", "10\n", "node0/distance: 1 distances for 2 nodes"),
        (
            "devices/system/node/node0/meminfo",
            "Node 0 MemFree: 1 kB\n",
            "node0/meminfo: no MemTotal line",
        ),
        # int() reads all of these; the kernel writes none of them.
        ("devices/system/node/node0/meminfo", "Node 0 MemTotal: -5 kB\n", "MemTotal '-5' is no"),
        ("devices/system/node/node0/meminfo", "Node 0 MemTotal: 1_000 kB\n", "MemTotal '1_000'"),
        ("devices/system/node/node0/meminfo", f"Node 0 MemTotal: {'9' * 20} kB\n", "MemTotal '99"),
        (
            "devices/system/node/node0/meminfo",
            "Node 0 MemTotal: \u0664 kB\n",
            "meminfo: cannot read",
        ),
        ("devices/system/node/node0/meminfo", "Node 0 MemTotal:\n", "MemTotal '' is no number"),
        ("devices/system/node/node0/distance", "-1 21\n", "node0/distance: distance '-1' is no"),
        ("devices/system/node/node0/distance", "10 2_1\n", "node0/distance: distance '2_1'"),
        ("devices/system/node/node0/distance", f"10 {'2' * 20}\n", "node0/distance: distance '22"),
        ("devices/system/node/node0/distance", "10 256\n", "distance '256' is no number 0-255"),
        ("devices/system/node/node1/cpulist", "3-7\n", "node1/cpulist: CPUs 3-7 are also in"),
        ("devices/system/node/node1/cpulist", f"{'1' * 20}\n", "node1/cpulist: invalid CPU range"),
        ("bus/pci/devices/0000:17:00.0/numa_node", "\u0661\n", "numa_node: expected a NUMA node"),
        ("bus/pci/devices/0000:17:00.0/numa_node", "+1\n", "numa_node: expected a NUMA node"),
        ("bus/pci/devices/0000:17:00.0/numa_node", f"{'1' * 20}\n", "numa_node: expected a NUMA"),
        ("devices/system/cpu/online", "0-9999\n", "cpu/online: invalid CPU range '0-9999'"),
    ],
)
def test_unreadable_sysfs_is_one_error_naming_the_file(
    tmp_path: Path, file: str, content: str, message: str
) -> None:
    root = two_zone_host(tmp_path)
    (root / file).write_text(content)
    with pytest.raises(DiscoveryError, match=message.replace("(", r"\(")):
        discover(str(root), nvidia_smi=None)


def test_patch_changes_only_what_differs_and_removes_stale_keys(tmp_path: Path) -> None:
    found = discover(str(two_zone_host(tmp_path)), nvidia_smi=None)
    labels, annotations = desired_labels(found), desired_annotations(found)
    node = {"metadata": {"labels": {**labels, "team": "ml"}, "annotations": dict(annotations)}}
    assert node_patch(node, found) is None
    node["metadata"]["annotations"][f"{N}node-1-cpus"] = "16-31"  # changed
    node["metadata"]["annotations"][f"{N}node-2-cpus"] = "64-71"  # a zone that went away
    node["metadata"]["labels"][f"{N}node-0-memory"] = "1Gi"  # a hand-made label shadowed
    # A GPU that went away: discovery's record says it wrote gpu2-numa.
    node["metadata"]["labels"]["gpu.kubenexus.io/gpu2-numa"] = "1"
    node["metadata"]["annotations"]["gpu.kubenexus.io/discovered-numa-gpus"] = "0-2"
    assert node_patch(node, found) == {
        "metadata": {
            "labels": {f"{N}node-0-memory": None, "gpu.kubenexus.io/gpu2-numa": None},
            "annotations": {
                f"{N}node-1-cpus": "16-31,48-59",
                f"{N}node-2-cpus": None,
                "gpu.kubenexus.io/discovered-numa-gpus": "0-1",
            },
        }
    }


def test_a_host_without_gpus_any_more_drops_discoverys_gpu_keys_only(tmp_path: Path) -> None:
    found = discover(
        str(FakeSysfs(tmp_path).node(0, "0-7", 8 * GIB).node(1, "8-15", 8 * GIB).build()),
        nvidia_smi=None,
    )
    node = {
        "metadata": {
            "labels": {
                **desired_labels(found),
                "gpu.kubenexus.io/gpu0-numa": "0",  # written by discovery (recorded)
                "gpu.kubenexus.io/gpu1-numa": "1",  # written by hand
            },
            "annotations": {
                **desired_annotations(found),
                "gpu.kubenexus.io/discovered-numa-gpus": "0",
            },
        }
    }
    assert node_patch(node, found) == {
        "metadata": {
            "labels": {"gpu.kubenexus.io/gpu0-numa": None},
            "annotations": {"gpu.kubenexus.io/discovered-numa-gpus": None},
        }
    }


def test_cli_prints_a_table_or_json(tmp_path: Path) -> None:
    root = str(two_zone_host(tmp_path))
    result = CliRunner().invoke(
        main, ["node", "discover", "--sysfs-root", root, "--nvidia-smi", "", "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [z["cpus"] for z in data["zones"]] == ["0-15,32-47", "16-31,48-59"]
    assert data["gpus"][1] == {
        "address": "0000:a3:00.0",
        "vendor": "10de",
        "device": "2330",
        "class": "030200",
        "numaNode": 1,
        "zone": 1,
        "product": "H100-SXM5-80GB",
    }
    assert data["labels"]["gpu.kubenexus.io/count"] == "2"
    table = CliRunner().invoke(main, ["node", "discover", "--sysfs-root", root, "--nvidia-smi", ""])
    assert table.exit_code == 0
    assert "1     1        16-31,48-59" in table.stdout
    assert "numa.kubenexus.io/node-1-cpus=16-31,48-59" in table.stdout
    bad = CliRunner().invoke(main, ["node", "discover", "--sysfs-root", str(tmp_path / "nothing")])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: ")
    assert "cpu/online: cannot read" in bad.stderr
    no_node = CliRunner().invoke(
        main,
        ["node", "discover", "--sysfs-root", root, "--nvidia-smi", "", "--apply"],
        env={"NODE_NAME": ""},
    )
    assert no_node.exit_code == 2
    assert "--apply needs --node-name" in no_node.stderr


@pytest.mark.skipif(
    not Path("/sys/devices/system/cpu/online").exists(), reason="no Linux sysfs here"
)
def test_this_machines_own_sysfs_reads_and_round_trips() -> None:
    found = discover("/sys", nvidia_smi=None)
    zones = found.host.zones
    assert zones
    assert frozenset().union(*(z.cpus for z in zones)) <= found.host.online
    assert all(z.memory > 0 for z in zones)
    topology = topology_from_labels(desired_labels(found), desired_annotations(found))
    assert topology is not None
    assert [z.cpus for z in topology.zones] == [z.cpus for z in zones]
