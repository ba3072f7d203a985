"""``kubenexus node discover``: the host's NUMA zones, GPUs and NICs, and what to publish.

Read from sysfs (``node.sysfs`` for zones; ``bus/pci/devices/*`` for devices' class, ids and
``numa_node``; ``cpu*/topology/thread_siblings_list`` for SMT) and, when the tool exists,
``nvidia-smi topo -m`` (NVLink between GPUs). Published as the scheduler reads it
(``kubenexus.api.topology`` and ``kubenexus.api.gpu``):

- label ``numa.kubenexus.io/node-count``; annotations ``numa.kubenexus.io/node-N-cpus`` (a CPU
  list with commas: annotations only), ``node-N-memory`` (bytes) and ``node-N-distance-M``;
- labels ``gpu.kubenexus.io/count``, ``gpu.kubenexus.io/model`` (when every GPU is the same
  model of the device-id table), ``gpu.kubenexus.io/gpuK-numa`` (GPU K in PCI address order)
  and, from ``nvidia-smi``, ``gpu.kubenexus.io/topology`` (``nvswitch`` when every pair of 8 or
  more GPUs is NVLinked, ``nvlink`` when any pair is, else ``pcie``);
- optionally a ``NodeResourceTopology`` (``topology.node.k8s.io/v1alpha2``).

What discovery removes is only what it wrote: the zone keys it produces
(``node-count``, ``node-N-cpus|memory|distance-M``; a zone that went away) and the
``gpuK-numa`` labels its annotation ``gpu.kubenexus.io/discovered-numa-gpus`` lists (a GPU that
went away) — never ``node-N-bandwidth`` or a ``gpuK-numa`` written by hand for a GPU it cannot
see. It refuses to publish what the scheduler would refuse to read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubenexus.api import keys
from kubenexus.api.gpu import pci_gpu, pci_vendor
from kubenexus.api.topology import PREFIX as NUMA_PREFIX
from kubenexus.api.topology import topology_from_labels
from kubenexus.errors import KubeNexusError
from kubenexus.node.sysfs import (
    HostTopology,
    SysfsError,
    format_cpus,
    parse_cpus,
    quoted,
    read_host,
)

NODE_COUNT: Final = f"{NUMA_PREFIX}node-count"
MANAGED_BY: Final = "kubenexus-node-discovery"
NRT_API: Final = "topology.node.k8s.io/v1alpha2"
# The GPUs whose gpuK-numa label discovery wrote (a CPU-list-style list of K): the only
# gpuK-numa labels it ever removes.
GPU_RECORD: Final = "gpu.kubenexus.io/discovered-numa-gpus"
# Keys of exactly the shapes discovery writes for zones (node-N-bandwidth is written by hand).
_ZONE_KEY: Final = re.compile(
    rf"^{re.escape(NUMA_PREFIX)}(?:node-count|node-\d+-(?:cpus|memory|distance-\d+))$"
)
_ANY_ZONE_KEY: Final = re.compile(rf"^{re.escape(NUMA_PREFIX)}node-(\d+)-")
_GPU_NUMA_KEY: Final = re.compile(r"^gpu\.kubenexus\.io/gpu(\d+)-numa$")
# ECMA-48 control sequences: nvidia-smi underlines its header even into a pipe.
_ANSI: Final = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_NV_LINK: Final = re.compile(r"^NV\d+$")
# NRT resource name of each GPU vendor (the device plugins' names).
_GPU_RESOURCES: Final = {"nvidia": keys.GPU_NVIDIA, "amd": "amd.com/gpu"}


@dataclass(frozen=True, slots=True)
class PciDevice:
    address: str  # 0000:17:00.0
    vendor: str  # 10de
    device: str  # 2330
    pci_class: str  # 030200
    numa_node: int | None  # the kernel's node; None when the firmware does not say
    zone: int | None  # the scheduler zone holding that node
    product: str = ""  # from the device-id table; "" when unknown
    interfaces: tuple[str, ...] = ()  # NICs: their network interfaces


@dataclass(frozen=True, slots=True)
class NvLinks:
    """``nvidia-smi topo -m``: the GPUs it lists and the pairs joined by NVLink."""

    gpus: int
    pairs: frozenset[tuple[int, int]]

    @property
    def kind(self) -> str:
        if not self.pairs:
            return "pcie"
        every_pair = len(self.pairs) == self.gpus * (self.gpus - 1) // 2
        return "nvswitch" if every_pair and self.gpus >= 8 else "nvlink"


@dataclass(frozen=True, slots=True)
class Discovery:
    host: HostTopology
    threads_per_core: int  # 0: unknown (a thread_siblings_list did not parse; see warnings)
    gpus: tuple[PciDevice, ...]
    nics: tuple[PciDevice, ...]
    nvlinks: NvLinks | None
    warnings: tuple[str, ...] = ()  # what could not be read, without stopping the rest


class DiscoveryError(KubeNexusError):
    """The host could not be read; the message names the file or command."""


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as file:
            return file.read().strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _threads_per_core(sysfs_root: str, host: HostTopology, warnings: list[str]) -> int:
    """SMT threads per core (shown only, never published): an unreadable file is a warning."""
    widest = 1
    for cpu in sorted(host.online):
        path = os.path.join(
            sysfs_root, f"devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
        )
        text = _read(path)
        try:
            siblings = parse_cpus(text, path)
        except SysfsError as exc:
            warnings.append(f"threads per core unknown: {exc}")
            return 0
        widest = max(widest, len(siblings & host.online))
    return widest


def _zone_of(host: HostTopology, node: int | None) -> int | None:
    if not host.numa or len(host.zones) == 1:
        return 0  # one zone: every device is in it, whatever the firmware says
    if node is None:
        return None
    return next((z.index for z in host.zones if node in z.nodes), None)


def _numa_node(path: str) -> int | None:
    """A PCI device's node; None when the firmware does not say (-1) or the file is absent."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read().strip()
    except OSError:
        return None
    if text in {"", "-1"}:
        return None
    # int() would take "+1", "1_0" or other scripts' digits: the kernel writes none of them.
    if not (text.isascii() and text.isdigit() and len(text) <= 4):
        raise DiscoveryError(f"{path}: expected a NUMA node number or -1, got {quoted(text)}")
    return int(text)


def read_pci(sysfs_root: str, host: HostTopology) -> tuple[list[PciDevice], list[PciDevice]]:
    """(GPUs, NICs) in PCI address order. A GPU: an NVIDIA display/3D controller, or any device
    of the device-id table (which leaves out integrated and BMC graphics)."""
    base = os.path.join(sysfs_root, "bus/pci/devices")
    try:
        addresses = sorted(os.listdir(base))
    except OSError:
        return [], []
    gpus: list[PciDevice] = []
    nics: list[PciDevice] = []
    for address in addresses:
        path = os.path.join(base, address)
        vendor = _read(os.path.join(path, "vendor")).lower().removeprefix("0x")
        device = _read(os.path.join(path, "device")).lower().removeprefix("0x")
        pci_class = _read(os.path.join(path, "class")).lower().removeprefix("0x")
        node = _numa_node(os.path.join(path, "numa_node"))
        known = pci_gpu(vendor, device)
        if known is not None or (pci_vendor(vendor) == "nvidia" and pci_class.startswith("03")):
            product = known[0] if known else ""
            gpus.append(
                PciDevice(address, vendor, device, pci_class, node, _zone_of(host, node), product)
            )
        elif pci_class.startswith("02"):
            try:
                interfaces = tuple(sorted(os.listdir(os.path.join(path, "net"))))
            except OSError:
                interfaces = ()
            nics.append(
                PciDevice(
                    address, vendor, device, pci_class, node, _zone_of(host, node), "", interfaces
                )
            )
    return gpus, nics


def parse_topo_matrix(text: str) -> NvLinks | None:
    """NVLink pairs from ``nvidia-smi topo -m`` (``NV12`` in a GPU×GPU cell); None when the
    text holds no GPU matrix."""
    lines = [line for line in _ANSI.sub("", text).splitlines() if line.strip()]
    header = next((line for line in lines if re.search(r"\bGPU0\b", line)), None)
    if header is None:
        return None
    columns = [c.strip() for c in header.strip().split("\t") if c.strip()]
    rows: dict[int, list[str]] = {}
    for line in lines:
        cells = [c.strip() for c in line.split("\t")]
        match = re.fullmatch(r"GPU(\d+)", cells[0])
        if match:
            rows[int(match[1])] = cells[1:]
    if not rows:
        return None
    pairs: set[tuple[int, int]] = set()
    for row, cells in rows.items():
        for column, cell in zip(columns, cells, strict=False):
            match = re.fullmatch(r"GPU(\d+)", column)
            if match and _NV_LINK.match(cell) and int(match[1]) != row:
                pairs.add((min(row, int(match[1])), max(row, int(match[1]))))
    return NvLinks(len(rows), frozenset(pairs))


def read_nvlinks(nvidia_smi: str | None) -> NvLinks | None:
    """``nvidia-smi topo -m``, when the tool exists and answers; else None."""
    if not nvidia_smi:
        return None
    tool = shutil.which(nvidia_smi)
    if tool is None:
        return None
    try:
        done = subprocess.run(  # a fixed argument list, no shell
            [tool, "topo", "-m"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DiscoveryError(f"{tool} topo -m: {exc}") from None
    if done.returncode != 0:
        raise DiscoveryError(
            f"{tool} topo -m exited {done.returncode}: {done.stderr.strip()[:200]}"
        )
    return parse_topo_matrix(done.stdout)


def discover(
    sysfs_root: str = "/sys", proc_root: str = "/proc", nvidia_smi: str | None = "nvidia-smi"
) -> Discovery:
    """The host as sysfs (and nvidia-smi) show it. Raises DiscoveryError naming the file when
    the zones or devices cannot be read, or read as a topology the scheduler would refuse."""
    try:
        host = read_host(sysfs_root, proc_root)
    except SysfsError as exc:
        raise DiscoveryError(str(exc)) from None
    gpus, nics = read_pci(sysfs_root, host)
    warnings: list[str] = []
    try:
        nvlinks = read_nvlinks(nvidia_smi)
    except DiscoveryError as exc:  # the zones are still worth publishing without NVLink data
        nvlinks = None
        warnings.append(f"NVLink unknown: {exc}")
    threads = _threads_per_core(sysfs_root, host, warnings)
    found = Discovery(host, threads, tuple(gpus), tuple(nics), nvlinks, tuple(warnings))
    try:  # the scheduler's own reading of what would be published
        topology_from_labels(desired_labels(found), desired_annotations(found))
    except KubeNexusError as exc:
        raise DiscoveryError(
            f"{sysfs_root}: the host reads as a topology the scheduler refuses ({exc})"
        ) from None
    return found


# ------------------------------------------------------------------ what to publish


def desired_labels(found: Discovery) -> dict[str, str]:
    labels = {NODE_COUNT: str(len(found.host.zones))}
    if found.gpus:
        labels[keys.GPU_COUNT_LABEL] = str(len(found.gpus))
        products = {gpu.product for gpu in found.gpus}
        if len(products) == 1 and "" not in products:
            labels[keys.GPU_MODEL_LABEL] = products.pop()
        for index, gpu in enumerate(found.gpus):
            if gpu.zone is not None:
                labels[keys.GPU_NUMA_LABEL.format(index=index)] = str(gpu.zone)
    if found.nvlinks is not None and found.gpus:
        labels[keys.GPU_TOPOLOGY_LABEL] = found.nvlinks.kind
    return labels


def _published_gpus(found: Discovery) -> frozenset[int]:
    return frozenset(index for index, gpu in enumerate(found.gpus) if gpu.zone is not None)


def desired_annotations(found: Discovery) -> dict[str, str]:
    annotations: dict[str, str] = {}
    published = _published_gpus(found)
    if published:
        annotations[GPU_RECORD] = format_cpus(published)
    for zone in found.host.zones:
        prefix = f"{NUMA_PREFIX}node-{zone.index}-"
        annotations[f"{prefix}cpus"] = format_cpus(zone.cpus)
        annotations[f"{prefix}memory"] = str(zone.memory)
        for other, distance in sorted(zone.distances.items()):
            annotations[f"{prefix}distance-{other}"] = str(distance)
    return annotations


def owned(key: str) -> bool:
    """Keys of the shapes discovery writes and removes: zone keys and ``gpuK-numa``."""
    return bool(_ZONE_KEY.match(key) or _GPU_NUMA_KEY.match(key) or key == GPU_RECORD)


def _recorded_gpus(annotations: Mapping[str, str]) -> frozenset[int]:
    """The GPUs whose ``gpuK-numa`` discovery wrote last time (none when unreadable)."""
    try:
        return parse_cpus(annotations.get(GPU_RECORD, ""), GPU_RECORD)
    except SysfsError:
        return frozenset()


def _discovery_wrote(key: str, recorded_gpus: frozenset[int]) -> bool:
    if _ZONE_KEY.match(key) or key == GPU_RECORD:
        return True
    gpu = _GPU_NUMA_KEY.match(key)
    return gpu is not None and int(gpu[1]) in recorded_gpus


def _changes(
    current: Mapping[str, str], desired: Mapping[str, str], recorded_gpus: frozenset[int]
) -> dict[str, str | None]:
    changes: dict[str, str | None] = {k: v for k, v in desired.items() if current.get(k) != v}
    changes.update(
        {k: None for k in current if k not in desired and _discovery_wrote(k, recorded_gpus)}
    )
    return changes


def node_patch(node: Mapping[str, Any], found: Discovery) -> dict[str, Any] | None:
    """A merge patch of the node's labels and annotations holding only what differs (None:
    nothing). A key discovery writes in one place is removed from the other, where a hand-made
    one would shadow it or contradict it."""
    meta = node.get("metadata") or {}
    labels = dict(meta.get("labels") or {})
    annotations = dict(meta.get("annotations") or {})
    want_labels = desired_labels(found)
    want_annotations = desired_annotations(found)
    recorded = _recorded_gpus(annotations)
    label_changes = _changes(labels, want_labels, recorded)
    annotation_changes = _changes(annotations, want_annotations, recorded)
    # A key published in one map must not linger in the other.
    for key in want_annotations:
        if key in labels and owned(key):
            label_changes[key] = None
    for key in want_labels:
        if key in annotations and owned(key):
            annotation_changes[key] = None
    patch: dict[str, Any] = {}
    if label_changes:
        patch["labels"] = label_changes
    if annotation_changes:
        patch["annotations"] = annotation_changes
    return {"metadata": patch} if patch else None


def stray_zone_keys(node: Mapping[str, Any], found: Discovery) -> list[str]:
    """Hand-written keys (left alone) of zones this host does not have: the scheduler then
    ignores the node's topology, so discovery says so."""
    meta = node.get("metadata") or {}
    zones = len(found.host.zones)
    return sorted(
        key
        for key in {**(meta.get("labels") or {}), **(meta.get("annotations") or {})}
        if (match := _ANY_ZONE_KEY.match(key)) and int(match[1]) >= zones and not owned(key)
    )


def _quantity_resources(name: str, amount: int) -> dict[str, str]:
    value = str(amount)
    return {"name": name, "capacity": value, "allocatable": value, "available": value}


def nrt_object(node_name: str, found: Discovery) -> dict[str, Any]:
    """The node's ``NodeResourceTopology``: one zone of type Node per NUMA zone, with cpu,
    memory and GPUs per zone and the distances as costs."""
    zones = []
    for zone in found.host.zones:
        resources = [
            _quantity_resources("cpu", len(zone.cpus)),
            _quantity_resources("memory", zone.memory),
        ]
        per_vendor: dict[str, int] = {}
        for gpu in found.gpus:
            resource = _GPU_RESOURCES.get(pci_vendor(gpu.vendor))
            if resource and gpu.zone == zone.index:
                per_vendor[resource] = per_vendor.get(resource, 0) + 1
        resources.extend(_quantity_resources(r, n) for r, n in sorted(per_vendor.items()))
        zones.append(
            {
                "name": f"node-{zone.index}",
                "type": "Node",
                "costs": [
                    {"name": f"node-{other}", "value": distance}
                    for other, distance in sorted(zone.distances.items())
                ],
                "resources": resources,
            }
        )
    return {
        "apiVersion": NRT_API,
        "kind": "NodeResourceTopology",
        "metadata": {"name": node_name, "labels": {keys.MANAGED_BY_LABEL: MANAGED_BY}},
        "topologyPolicies": ["None"],
        "zones": zones,
    }


# ------------------------------------------------------------------ output


def _device_json(device: PciDevice) -> dict[str, Any]:
    data: dict[str, Any] = {
        "address": device.address,
        "vendor": device.vendor,
        "device": device.device,
        "class": device.pci_class,
        "numaNode": device.numa_node,
        "zone": device.zone,
    }
    if device.product:
        data["product"] = device.product
    if device.interfaces:
        data["interfaces"] = list(device.interfaces)
    return data


def to_json(found: Discovery) -> dict[str, Any]:
    host = found.host
    return {
        "numa": host.numa,
        "onlineCpus": format_cpus(host.online),
        "threadsPerCore": found.threads_per_core or None,
        "zones": [
            {
                "zone": zone.index,
                "nodes": list(zone.nodes),
                "mems": list(zone.mems),
                "cpus": format_cpus(zone.cpus),
                "cpuCount": len(zone.cpus),
                "memory": zone.memory,
                "distances": {str(k): v for k, v in sorted(zone.distances.items())},
            }
            for zone in host.zones
        ],
        "memorylessNodes": list(host.memoryless_nodes),
        "memoryOnlyNodes": list(host.memory_only_nodes),
        "gpus": [_device_json(gpu) for gpu in found.gpus],
        "nics": [_device_json(nic) for nic in found.nics],
        "nvlink": None
        if found.nvlinks is None
        else {
            "gpus": found.nvlinks.gpus,
            "pairs": [list(pair) for pair in sorted(found.nvlinks.pairs)],
            "kind": found.nvlinks.kind,
        },
        "labels": desired_labels(found),
        "annotations": desired_annotations(found),
        "warnings": list(found.warnings),
    }


def render_json(found: Discovery) -> str:
    return json.dumps(to_json(found), indent=2)


def render_table(found: Discovery) -> str:
    host = found.host
    gib = 2**30
    lines = [
        f"online CPUs {format_cpus(host.online)} ({len(host.online)}), "
        f"{found.threads_per_core or '?'} thread(s) per core"
        + ("" if host.numa else "; no NUMA nodes in sysfs: one zone"),
        "",
        f"{'ZONE':<5} {'NODES':<8} {'CPUS':<28} {'MEMORY':>10}  DISTANCES",
    ]
    for zone in host.zones:
        distances = " ".join(str(d) for _, d in sorted(zone.distances.items()))
        nodes = ",".join(str(n) for n in zone.nodes)
        lines.append(
            f"{zone.index:<5} {nodes:<8} {format_cpus(zone.cpus):<28} "
            f"{zone.memory / gib:>7.1f}GiB  {distances}"
        )
    if host.memoryless_nodes:
        lines.append(
            "memory-less nodes (CPUs joined the nearest zone): "
            + ",".join(map(str, host.memoryless_nodes))
        )
    if host.memory_only_nodes:
        lines.append(
            "memory-only nodes (no online CPU, in no zone): "
            + ",".join(map(str, host.memory_only_nodes))
        )
    for title, devices in (("GPUS", found.gpus), ("NICS", found.nics)):
        if devices:
            lines += ["", f"{title[:-1]:<4} {'ADDRESS':<14} {'ID':<10} {'ZONE':<5} NAME"]
            for i, d in enumerate(devices):
                where = "-" if d.zone is None else str(d.zone)
                name = d.product or ",".join(d.interfaces) or "-"
                lines.append(f"{i:<4} {d.address:<14} {d.vendor}:{d.device:<5} {where:<5} {name}")
    if found.nvlinks is not None:
        pairs = " ".join(f"{a}-{b}" for a, b in sorted(found.nvlinks.pairs)) or "none"
        lines += ["", f"NVLink ({found.nvlinks.kind}): {pairs}"]
    lines += [f"warning: {warning}" for warning in found.warnings]
    lines += ["", "labels:"]
    lines += [f"  {k}={v}" for k, v in sorted(desired_labels(found).items())]
    lines += ["annotations:"]
    lines += [f"  {k}={v}" for k, v in sorted(desired_annotations(found).items())]
    return "\n".join(lines)
