"""A node's NUMA topology, from a NodeResourceTopology object or from node labels/annotations.

Labels/annotations (``numa.kubenexus.io/…``): ``node-count``, ``node-N-cpus`` (a CPU list:
``0-15,32-47`` in an annotation; labels cannot hold commas, so ``0-15_32-47`` there),
``node-N-memory`` (bytes or a quantity), ``node-N-bandwidth`` (MB/s), ``node-N-distance-M``,
and ``gpu.kubenexus.io/gpuK-numa`` (the zone of GPU K). Inconsistent data is an error naming the
key, and the node is then treated as having no topology.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from kubenexus.api.gpu import NodeGpus
from kubenexus.api.quantity import resource_amount, whole_value
from kubenexus.errors import InvalidInputError

PREFIX: Final = "numa.kubenexus.io/"
GPU_PREFIX: Final = "gpu.kubenexus.io/"
MAX_ZONES: Final = 64
_CPU_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
_GPU_KEY = re.compile(r"^gpu\.kubenexus\.io/gpu(\d+)-numa$")


@dataclass(frozen=True, slots=True)
class Zone:
    id: int
    cpus: frozenset[int]  # CPU IDs; empty when the source gives only a count
    cpu_milli: int
    memory: int
    gpus: int = 0
    bandwidth: int = 0  # MB/s, 0 when unknown
    distances: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeTopology:
    zones: tuple[Zone, ...]
    source: str  # "NodeResourceTopology" | "labels"


def parse_cpu_list(text: str, key: str) -> frozenset[int]:
    """``0-3,8,10-11`` (``_`` also separates, for labels) → {0, 1, 2, 3, 8, 10, 11}."""
    cpus: set[int] = set()
    for part in re.split(r"[,_]", text.strip()):
        match = _CPU_RANGE.match(part.strip())
        if match is None:
            raise InvalidInputError(key, text, "invalid CPU list, expected e.g. '0-15,32-47'")
        low = int(match[1])
        high = int(match[2]) if match[2] is not None else low
        if high < low or high - low > 4096:
            raise InvalidInputError(key, text, f"invalid CPU range {part!r}")
        cpus.update(range(low, high + 1))
    return frozenset(cpus)


def format_cpu_list(cpus: frozenset[int] | set[int] | list[int]) -> str:
    """{0, 1, 2, 3, 8} → ``0-3,8`` (the cpuset format the node-side hook expects)."""
    ordered = sorted(cpus)
    parts: list[str] = []
    start = prev = None
    for cpu in ordered:
        if start is None:
            start = prev = cpu
        elif cpu == prev + 1:  # type: ignore[operator]
            prev = cpu
        else:
            parts.append(f"{start}-{prev}" if start != prev else f"{start}")
            start = prev = cpu
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else f"{start}")
    return ",".join(parts)


def _get(
    labels: Mapping[str, str], annotations: Mapping[str, str], key: str
) -> tuple[str, str] | None:
    """(value, where) with annotations first: they may hold what labels cannot (commas)."""
    if key in annotations:
        return annotations[key], f"metadata.annotations[{key}]"
    if key in labels:
        return labels[key], f"metadata.labels[{key}]"
    return None


def _zone_from_labels(
    labels: Mapping[str, str], annotations: Mapping[str, str], zone_id: int, count: int, gpus: int
) -> Zone:
    cpus_found = _get(labels, annotations, f"{PREFIX}node-{zone_id}-cpus")
    memory_found = _get(labels, annotations, f"{PREFIX}node-{zone_id}-memory")
    if cpus_found is None or memory_found is None:
        missing = "cpus" if cpus_found is None else "memory"
        raise InvalidInputError(
            f"{PREFIX}node-{zone_id}-{missing}", None, f"missing, but node-count is {count}"
        )
    cpus = parse_cpu_list(cpus_found[0], cpus_found[1])
    memory = whole_value(memory_found[0], memory_found[1])
    if memory <= 0:
        raise InvalidInputError(memory_found[1], memory_found[0], "must be positive")
    bandwidth = 0
    bandwidth_found = _get(labels, annotations, f"{PREFIX}node-{zone_id}-bandwidth")
    if bandwidth_found is not None:
        bandwidth = whole_value(bandwidth_found[0], bandwidth_found[1])
    distances: dict[int, int] = {}
    for other in range(count):
        distance_found = _get(labels, annotations, f"{PREFIX}node-{zone_id}-distance-{other}")
        if distance_found is not None:
            try:
                distances[other] = int(distance_found[0])
            except ValueError:
                raise InvalidInputError(
                    distance_found[1], distance_found[0], "must be an integer"
                ) from None
    return Zone(zone_id, cpus, len(cpus) * 1000, memory, gpus, bandwidth, distances)


def topology_from_labels(
    labels: Mapping[str, str], annotations: Mapping[str, str]
) -> NodeTopology | None:
    """The topology a node's labels/annotations describe; None when it declares none."""
    found = _get(labels, annotations, f"{PREFIX}node-count")
    if found is None:
        return None
    raw, where = found
    try:
        count = int(raw)
    except ValueError:
        raise InvalidInputError(where, raw, "must be an integer") from None
    if not 1 <= count <= MAX_ZONES:
        raise InvalidInputError(where, raw, f"must be between 1 and {MAX_ZONES}")
    gpus = [0] * count
    for key, value in {**labels, **annotations}.items():
        match = _GPU_KEY.match(key)
        if match is None:
            continue
        try:
            gpu_zone = int(value)
        except ValueError:
            raise InvalidInputError(key, value, "must be a NUMA zone number") from None
        if not 0 <= gpu_zone < count:
            raise InvalidInputError(key, value, f"names zone {gpu_zone} but the node has {count}")
        gpus[gpu_zone] += 1
    zones: list[Zone] = []
    seen: set[int] = set()
    for zone_id in range(count):
        zone = _zone_from_labels(labels, annotations, zone_id, count, gpus[zone_id])
        overlap = zone.cpus & seen
        if overlap:
            key = f"{PREFIX}node-{zone_id}-cpus"
            raise InvalidInputError(
                key,
                format_cpu_list(zone.cpus),
                f"CPUs {format_cpu_list(overlap)} are already in another zone",
            )
        seen |= zone.cpus
        zones.append(zone)
    for key in {**labels, **annotations}:
        match = re.match(rf"^{re.escape(PREFIX)}node-(\d+)-", key)
        if match and int(match[1]) >= count:
            raise InvalidInputError(
                key, None, f"describes zone {match[1]} but node-count is {count}"
            )
    return NodeTopology(tuple(zones), "labels")


def topology_from_nrt(obj: Mapping[str, Any]) -> NodeTopology:
    """A ``topology.node.k8s.io/v1alpha2`` NodeResourceTopology: zones of type Node, their
    resources and costs (distances).

    A zone's size is its ``allocatable`` (else ``capacity``, else ``available``): the scheduler
    counts the pods on each zone itself, and ``available`` already has the running pods taken
    off — reading it would count them twice."""
    zones: list[Zone] = []
    for i, zone in enumerate(obj.get("zones") or []):
        path = f"zones[{i}]"
        if not isinstance(zone, Mapping) or zone.get("type", "Node") != "Node":
            continue
        name = str(zone.get("name", ""))
        match = re.search(r"(\d+)$", name)
        if match is None:
            raise InvalidInputError(
                f"{path}.name", name, "expected a zone name ending in its number, e.g. node-0"
            )
        amounts: dict[str, int] = {}
        for j, resource in enumerate(zone.get("resources") or []):
            rname = str(resource.get("name", ""))
            field_name = next(
                (
                    f
                    for f in ("allocatable", "capacity", "available")
                    if resource.get(f) is not None
                ),
                "allocatable",
            )
            amounts[rname] = resource_amount(
                rname, resource.get(field_name), f"{path}.resources[{j}].{field_name}"
            )
        distances = {}
        for cost in zone.get("costs") or []:
            other = re.search(r"(\d+)$", str(cost.get("name", "")))
            if other is not None:
                distances[int(other[1])] = int(cost.get("value", 0))
        zones.append(
            Zone(
                id=int(match[1]),
                cpus=frozenset(),
                cpu_milli=amounts.get("cpu", 0),
                memory=amounts.get("memory", 0),
                gpus=amounts.get("nvidia.com/gpu", 0),
                distances=distances,
            )
        )
    if not zones:
        raise InvalidInputError("zones", None, "no zone of type Node")
    zones.sort(key=lambda z: z.id)
    ids = [z.id for z in zones]
    if ids != list(range(len(zones))):
        raise InvalidInputError("zones", ids, "zone numbers must run 0..N-1")
    return NodeTopology(tuple(zones), "NodeResourceTopology")


def with_gpu_zones(topology: NodeTopology, gpus: NodeGpus | None) -> NodeTopology:
    """The zones' GPU counts as the one GPU model says (its devices' NUMA zones, from
    ResourceSlices or labels), when it knows the zone of every device; else unchanged.
    A device in a zone the topology does not have is an error naming it."""
    if gpus is None or not gpus.devices or any(d.numa is None for d in gpus.devices):
        return topology
    counts = [0] * len(topology.zones)
    for device in gpus.devices:
        if device.numa is None or not 0 <= device.numa < len(counts):
            raise InvalidInputError(
                f"GPU {device.name}",
                device.numa,
                f"is in NUMA zone {device.numa} but the node has {len(counts)} zones",
            )
        counts[device.numa] += 1
    if all(zone.gpus == counts[zone.id] for zone in topology.zones):
        return topology
    zones = tuple(replace(zone, gpus=counts[zone.id]) for zone in topology.zones)
    return NodeTopology(zones=zones, source=topology.source)
