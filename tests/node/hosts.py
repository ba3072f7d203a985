"""Fake hosts for the node-side tests: a sysfs tree (NUMA nodes, online CPUs, SMT siblings, PCI
devices) and cgroup trees (v1/v2, cgroupfs/systemd), written in a temporary directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubenexus.node.sysfs import format_cpus, parse_cpus

KIB = 1024


class FakeSysfs:
    """``FakeSysfs(tmp).node(0, "0-7", 16 * GIB)...online("0-15").build()`` → the sysfs root."""

    def __init__(self, root: Path) -> None:
        self.root = root / "sys"
        self._nodes: list[tuple[int, str, int]] = []
        self._distances: dict[int, list[int]] = {}
        self._online: str | None = None
        self._threads = 1
        self._pci: list[tuple[str, str, str, str, int]] = []
        self._nics: dict[str, str] = {}

    def node(
        self, node: int, cpus: str, memory: int, distances: list[int] | None = None
    ) -> FakeSysfs:
        self._nodes.append((node, cpus, memory))
        if distances is not None:
            self._distances[node] = distances
        return self

    def online(self, cpus: str) -> FakeSysfs:
        self._online = cpus
        return self

    def smt(self, threads: int) -> FakeSysfs:
        """Hyper-threads: CPU c and c + n/threads share a core (the Linux numbering on x86)."""
        self._threads = threads
        return self

    def pci(  # noqa: PLR0917 - one argument per sysfs file
        self, address: str, vendor: str, device: str, pci_class: str, numa: int, net: str = ""
    ) -> FakeSysfs:
        self._pci.append((address, vendor, device, pci_class, numa))
        if net:
            self._nics[address] = net
        return self

    def build(self) -> Path:
        cpu_dir = self.root / "devices/system/cpu"
        cpu_dir.mkdir(parents=True, exist_ok=True)
        every = frozenset().union(*(parse_cpus(c, "test") for _, c, _ in self._nodes)) or frozenset(
            range(4)
        )
        (cpu_dir / "online").write_text((self._online or format_cpus(every)) + "\n")
        total = max(every) + 1
        per_core = total // self._threads
        for cpu in every:
            siblings = {cpu % per_core + k * per_core for k in range(self._threads)}
            topology = cpu_dir / f"cpu{cpu}/topology"
            topology.mkdir(parents=True)
            (topology / "thread_siblings_list").write_text(format_cpus(siblings) + "\n")
        ids = sorted(n for n, _, _ in self._nodes)
        for node, cpus, memory in self._nodes:
            base = self.root / f"devices/system/node/node{node}"
            base.mkdir(parents=True)
            (base / "cpulist").write_text(cpus + "\n")
            (base / "meminfo").write_text(
                f"Node {node} MemTotal:       {memory // KIB} kB\n"
                f"Node {node} MemFree:        {memory // KIB // 2} kB\n"
            )
            row = self._distances.get(node) or [10 if o == node else 21 for o in ids]
            (base / "distance").write_text(" ".join(map(str, row)) + "\n")
        for address, vendor, device, pci_class, numa in self._pci:
            base = self.root / f"bus/pci/devices/{address}"
            base.mkdir(parents=True)
            (base / "vendor").write_text(f"0x{vendor}\n")
            (base / "device").write_text(f"0x{device}\n")
            (base / "class").write_text(f"0x{pci_class}\n")
            (base / "numa_node").write_text(f"{numa}\n")
            if address in self._nics:
                (base / "net" / self._nics[address]).mkdir(parents=True)
        return self.root


def cgroup_tree(
    root: Path, version: int, driver: str, pod_uid: str = "1234_abcd", container: str = "c0ffee"
) -> tuple[Path, str, Path]:
    """(cgroup root, linux.cgroupsPath, the container's cgroup dir) as the kubelet and
    containerd lay them out for a Guaranteed pod, with empty cpuset files."""
    cgroup = root / "cgroup"
    base = cgroup if version == 2 else cgroup / "cpuset"
    if driver == "systemd":
        cgroups_path = f"kubepods-pod{pod_uid}.slice:cri-containerd:{container}"
        leaf = (
            base
            / "kubepods.slice"
            / f"kubepods-pod{pod_uid}.slice"
            / f"cri-containerd-{container}.scope"
        )
    else:
        cgroups_path = f"/kubepods/pod{pod_uid}/{container}"
        leaf = base / "kubepods" / f"pod{pod_uid}" / container
    leaf.mkdir(parents=True)
    if version == 2:
        (cgroup / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    for name in ("cpuset.cpus", "cpuset.mems"):
        (leaf / name).write_text("")
    return cgroup, cgroups_path, leaf


def oci_state(
    root: Path, annotations: dict[str, str], cgroups_path: str, *, in_state: bool = True
) -> str:
    """The OCI state a runtime gives a createRuntime hook, its bundle's config.json beside it."""
    bundle = root / "bundle"
    bundle.mkdir(exist_ok=True)
    spec: dict[str, Any] = {
        "ociVersion": "1.2.0",
        "annotations": annotations,
        "linux": {"cgroupsPath": cgroups_path},
    }
    (bundle / "config.json").write_text(json.dumps(spec))
    state: dict[str, Any] = {
        "ociVersion": "1.2.0",
        "id": "c0ffee",
        "status": "creating",
        "pid": 4242,
        "bundle": str(bundle),
    }
    if in_state:
        state["annotations"] = annotations
    return json.dumps(state)
