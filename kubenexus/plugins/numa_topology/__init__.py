"""NUMATopology: place pods so their CPU, memory (and GPUs) come from as few NUMA zones as the
policy asks, score zones with seed 000's multi-factor formula, and pin the chosen CPUs.

Filter, score: vectorized over nodes × zones. Reserve: picks the concrete zone(s) and CPU IDs on
the chosen node; they are written on the pod (``numa.kubenexus.io/zones``, ``cpu-set`` for the
node-side hook) and read back from bound pods after a restart. Pods whose zones are unknown
(other schedulers, policy ``none``) are charged to the zone with the most free CPU when counted:
the largest free zone — what a single-zone fit depends on — is never overestimated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import ClassVar, Final, Literal

import numpy as np
import numpy.typing as npt

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.api.quantity import format_amount
from kubenexus.api.topology import (
    NodeTopology,
    format_cpu_list,
    parse_cpu_list,
    topology_from_labels,
    with_gpu_zones,
)
from kubenexus.errors import InvalidInputError
from kubenexus.framework import (
    ANY_NODE_CHANGE,
    SKIP,
    SUCCESS,
    BoolArray,
    ClusterEvent,
    CycleState,
    FloatArray,
    IntArray,
    NodeTable,
    Status,
)
from kubenexus.plugins.args import PluginArgs
from kubenexus.plugins.numa_topology.request import (
    NUMA_ANNOTATIONS,
    STRICT,
    NumaRequest,
    Policy,
    numa_request,
)
from kubenexus.plugins.numa_topology.zones import CPU, GPU, MEMORY, Assignment, ZoneTable

ZONES_ANNOTATION: Final = keys.NUMA_ZONES
_REQUEST: Final = "NUMATopology/request"
_ZONE_OK: Final = "NUMATopology/zone-ok"
_ASSIGNMENT: Final = "NUMATopology/assignment"
NO_TOPOLOGY: Final = "node(s) had no NUMA topology ({policy} needs it)"
NO_ZONE: Final = "no single NUMA node has sufficient capacity ({detail})"
NO_ISOLATED: Final = "node(s) had no empty NUMA zone to isolate the pod"
NOT_ALLOWED: Final = "node(s) had no NUMA zone allowed by numa-anti-affinity-node-id"


def _split(amount: int, parts: int) -> list[int]:
    """``amount`` in ``parts`` near-equal whole shares that add up to it (first ones larger)."""
    share, rest = divmod(amount, parts)
    return [share + (1 if i < rest else 0) for i in range(parts)]


def any_zone(matrix: BoolArray) -> BoolArray:
    """Per node (column), whether any zone (row) is true: one contiguous row at a time."""
    result: BoolArray = np.logical_or.reduce(matrix, axis=0)
    return result


def best_zone(matrix: FloatArray) -> FloatArray:
    """Per node (column), the best zone's (row's) value."""
    result: FloatArray = np.maximum.reduce(matrix, axis=0)
    return result


class NUMATopologyArgs(PluginArgs):
    # Policy for pods that name none: services (anything not a Job or a gang) …
    default_policy: Literal["none", "best-effort", "restricted", "single-numa-node", "isolated"] = (
        "none"
    )
    # … and batch pods (owned by a Job, or members of a gang), as seed 000 sets them.
    batch_default_policy: Literal[
        "none", "best-effort", "restricted", "single-numa-node", "isolated"
    ] = "single-numa-node"


class NUMATopology:
    name: ClassVar[str] = "NUMATopology"
    # Zones come from node labels, annotations and topology objects; a pod gone frees a zone.
    cluster_events: ClassVar[ClusterEvent] = ANY_NODE_CHANGE | ClusterEvent.POD_REMOVED

    def __init__(self, args: NUMATopologyArgs | None = None) -> None:
        self.args = args or NUMATopologyArgs()
        self.zones = ZoneTable()
        self._pending: dict[str, Assignment] = {}
        self._applied: dict[str, tuple[int, Assignment, str]] = {}
        # gang group → node slot → pods of the group per zone
        self._gang_zones: dict[str, dict[int, npt.NDArray[np.int32]]] = {}
        self.nrt: dict[str, NodeTopology] = {}
        self._distance_cache: dict[float, tuple[int, FloatArray]] = {}
        # node name → why its topology data was ignored (the shell posts a Warning Event)
        self.problems: dict[str, str] = {}

    # ------------------------------------------------------------------ topology sources

    def _topology_of(self, nodes: NodeTable, slot: int) -> NodeTopology | None:
        node = nodes.node(slot)
        if node.name in self.nrt:
            self.problems.pop(node.name, None)
            return self.nrt[node.name]
        try:
            topology = topology_from_labels(node.labels, node.annotations)
            if topology is not None:
                # GPUs per zone from the one GPU model (ResourceSlices or labels), not twice.
                topology = with_gpu_zones(topology, node.gpus)
        except InvalidInputError as exc:
            self.problems[node.name] = f"NUMA topology ignored: {exc}"
            return None
        self.problems.pop(node.name, None)
        return topology

    def set_node_topology(
        self, nodes: NodeTable, name: str, topology: NodeTopology | None, pods: Sequence[PodInfo]
    ) -> None:
        """A NodeResourceTopology object arrived, changed or went away (None)."""
        if topology is None:
            self.nrt.pop(name, None)
        else:
            self.nrt[name] = topology
        slot = nodes.slot_of(name)
        if slot is not None:
            self._describe(slot, self._topology_of(nodes, slot), pods)

    def _describe(self, slot: int, topology: NodeTopology | None, pods: Sequence[PodInfo]) -> None:
        """(Re)describe a node's zones and charge them again with every pod counted there.

        Zone usage is always the sum of the shares of the pods on the node: whenever the zones
        change (topology arriving after the pods, going away, coming back), it is rebuilt from
        the pods rather than patched, so it cannot drift.
        """
        if (
            slot < self.zones.capacity
            and self.zones.topologies.get(slot) == topology
            and (topology is not None or not self.zones.has_topology[slot])
        ):
            return  # the same zones: nothing to redo (a node update that changed other things)
        previous: dict[str, Assignment] = {}
        for pod in pods:
            entry = self._applied.pop(pod.key, None)
            if entry is not None:
                previous[pod.key] = entry[1]
                self._count_gang(entry[0], entry[1], entry[2], -1)
        self.zones.set_node(slot, topology)
        if topology is None:
            return
        # Pods whose zones are known first: the unknown ones then go where room is left.
        for pod in sorted(pods, key=lambda p: ZONES_ANNOTATION not in p.annotations):
            kept = previous.get(pod.key)
            if kept is not None and not kept.fits(topology):
                kept = None
            self._charge(pod, slot, kept)

    # ------------------------------------------------------------------ cache observer

    def node_upserted(self, nodes: NodeTable, slot: int, pods: Sequence[PodInfo]) -> None:
        self._describe(slot, self._topology_of(nodes, slot), pods)

    def node_removed(self, nodes: NodeTable, slot: int) -> None:
        self.zones.clear(slot)

    def pod_counted(self, nodes: NodeTable, pod: PodInfo, slot: int) -> None:
        self._charge(pod, slot, self._pending.pop(pod.key, None))

    def assignment_of(self, key: str) -> Assignment | None:
        """The zones and CPUs a counted pod is charged to (None: not charged here)."""
        entry = self._applied.get(key)
        return entry[1] if entry is not None else None

    def recount_as(self, key: str, assignment: Assignment) -> None:
        """The pod is counted next on exactly this assignment (explain takes a placed pod off
        its node and puts it back: its zones and CPUs must be those it had)."""
        self._pending[key] = assignment

    def _charge(self, pod: PodInfo, slot: int, assignment: Assignment | None) -> None:
        """Count the pod on its node's zones: where we placed it, else where its annotations
        say, else (unknown) on the zone with the most free CPU."""
        if not self._has_topology(slot):
            return
        topology = self.zones.topologies[slot]
        if assignment is None:
            assignment = self._from_annotations(pod, topology)
        if assignment is None:
            assignment = self._unknown(pod, slot)
        self.zones.apply(slot, assignment)
        group = pod.annotations.get(keys.GANG_GROUP, "") or pod.gang
        self._applied[pod.key] = (slot, assignment, group)
        self._count_gang(slot, assignment, group, 1)

    def _count_gang(self, slot: int, assignment: Assignment, group: str, sign: int) -> None:
        if not group or not assignment.known:
            return
        by_slot = self._gang_zones.setdefault(group, {})
        counts = by_slot.setdefault(slot, np.zeros(self.zones.zones, dtype=np.int32))
        if counts.size < self.zones.zones:
            counts = by_slot[slot] = np.pad(counts, (0, self.zones.zones - counts.size))
        for zone in assignment.zones:
            counts[zone] += sign
        if not counts.any():  # pruned: a finished gang leaves nothing behind
            del by_slot[slot]
            if not by_slot:
                del self._gang_zones[group]

    def pod_uncounted(self, nodes: NodeTable, pod: PodInfo, slot: int) -> None:
        entry = self._applied.pop(pod.key, None)
        if entry is None:
            return
        applied_slot, assignment, group = entry
        self.zones.apply(applied_slot, assignment, sign=-1)
        self._count_gang(applied_slot, assignment, group, -1)

    def _from_annotations(self, pod: PodInfo, topology: NodeTopology) -> Assignment | None:
        """A bound pod's zones from the annotations we wrote (rebuilds state after a restart).

        CPU per zone comes from the cpu-set when it covers the request (exact); otherwise, and
        for memory and GPUs, the request is split evenly, remainders to the first zones, so the
        shares always add up to the pod's request.
        """
        raw = pod.annotations.get(ZONES_ANNOTATION)
        if not raw:
            return None
        try:
            zones = tuple(sorted({int(z) for z in raw.split(",")}))
            cpus = (
                parse_cpu_list(pod.annotations[keys.CPU_SET], keys.CPU_SET)
                if keys.CPU_SET in pod.annotations
                else frozenset()
            )
        except (ValueError, InvalidInputError):
            return None
        if not zones or zones[0] < 0 or zones[-1] >= len(topology.zones):
            return None  # written for other zones than the node has now
        cpu, memory, gpus = (
            pod.requests.get(keys.CPU, 0),
            pod.requests.get(keys.MEMORY, 0),
            pod.requests.get(keys.GPU_NVIDIA, 0),
        )
        cpu_shares = _split(cpu, len(zones))
        per_zone_cpus = [len(cpus & topology.zones[z].cpus) * 1000 for z in zones]
        if cpus and sum(per_zone_cpus) == cpu:
            cpu_shares = per_zone_cpus
        amounts = tuple(
            zip(cpu_shares, _split(memory, len(zones)), _split(gpus, len(zones)), strict=True)
        )
        # Read as numa_request read it when the pod was placed: the first spelling given,
        # surrounding spaces accepted.
        given = next((v for k in keys.NUMA_POLICY_KEYS if (v := pod.annotations.get(k))), "")
        isolated = given.strip() == "isolated"
        return Assignment(zones, amounts, cpus, isolated)

    def _unknown(self, pod: PodInfo, slot: int) -> Assignment:
        free = self.zones.alloc[CPU, :, slot] - self.zones.used[CPU, :, slot]
        free = np.where(self.zones.valid[:, slot], free, np.iinfo(np.int64).min)
        zone = int(np.argmax(free))
        amounts = (
            (
                pod.requests.get(keys.CPU, 0),
                pod.requests.get(keys.MEMORY, 0),
                pod.requests.get(keys.GPU_NVIDIA, 0),
            ),
        )
        return Assignment((zone,), amounts, known=False)

    def _has_topology(self, slot: int) -> bool:
        return slot < self.zones.capacity and bool(self.zones.has_topology[slot])

    # ------------------------------------------------------------------ filter

    @staticmethod
    def request_of(state: CycleState) -> NumaRequest | None:
        """What this cycle's pod asks of a NUMA zone (None: no alignment), for explain."""
        request = state.get(_REQUEST, None)
        return request if isinstance(request, NumaRequest) else None

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        if not self.zones.described and pod.annotations.keys().isdisjoint(NUMA_ANNOTATIONS):
            return SKIP  # no node has zones, the pod asks nothing of them: the common case, cheap
        try:
            request = numa_request(pod, self.args.default_policy, self.args.batch_default_policy)
        except InvalidInputError as exc:
            return Status.unresolvable(str(exc), plugin=self.name)
        if request.policy == "none":
            return SKIP
        if not self.zones.described and not (request.explicit and request.policy in STRICT):
            return SKIP  # no node has zones: nothing to align, nothing to prefer
        state.write(_REQUEST, request)
        return SUCCESS

    def _zone_ok(self, request: NumaRequest, size: int) -> tuple[BoolArray, npt.NDArray[np.int64]]:
        free = self.zones.free(size)
        ok = free[CPU] >= request.cpu
        if request.memory:
            ok &= free[MEMORY] >= request.memory
        if request.gpus:
            ok &= free[GPU] >= request.gpus
        ok &= self.zones.open[:, :size]
        if request.anti_affinity:
            zone_ids = np.arange(self.zones.zones)
            ok &= ~np.isin(zone_ids, list(request.anti_affinity))[:, None]
        if request.policy == "isolated":
            ok &= self.zones.pods[:, :size] == 0
        return ok, free

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        request = state.get(_REQUEST, None)
        if not isinstance(request, NumaRequest):
            return None
        size = nodes.size
        zone_ok, free = self._zone_ok(request, size)
        state.write(_ZONE_OK, zone_ok)
        if request.policy == "best-effort" or not request.explicit:
            # A policy the pod did not ask for (a default) only prefers aligned nodes: it must
            # never make a pod unschedulable that fits the node as a whole.
            return None
        has = self.zones.has_topology[:size]
        fits = any_zone(zone_ok)
        if request.policy == "restricted":
            # Larger than any zone of the node: it may span zones, as few as have room.
            valid = self.zones.open[:, :size]
            largest = np.where(valid, self.zones.alloc[:, :, :size], 0).max(axis=1)
            too_big = (
                (largest[CPU] < request.cpu)
                | (largest[MEMORY] < request.memory)
                | (largest[GPU] < request.gpus)
            )
            total = np.where(valid, free, 0).sum(axis=1)
            spans = (
                (total[CPU] >= request.cpu)
                & (total[MEMORY] >= request.memory)
                & (total[GPU] >= request.gpus)
            )
            fits |= too_big & spans
        strict = request.explicit and request.policy in STRICT
        return np.where(has, fits, not strict)

    def unresolvable(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> BoolArray:
        """Nodes without NUMA topology: no eviction gives a node zones."""
        return np.asarray(~self.zones.has_topology[rejected], dtype=np.bool_)

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        request = state.get(_REQUEST, None)
        reasons: Counter[str] = Counter()
        if not isinstance(request, NumaRequest):
            return reasons
        has = self.zones.has_topology[rejected]
        if (~has).any():
            reasons[NO_TOPOLOGY.format(policy=request.policy)] += int((~has).sum())
        with_topology = rejected[has]
        if not with_topology.size:
            return reasons
        free = self.zones.free(nodes.size)[:, :, with_topology]
        valid = self.zones.open[:, with_topology]
        if request.policy == "isolated":
            empty = valid & (self.zones.pods[:, with_topology] == 0)
            none_empty = ~empty.any(axis=0)
            reasons[NO_ISOLATED] += int(none_empty.sum())
            valid = valid & empty
            with_topology, free = with_topology[~none_empty], free[:, :, ~none_empty]
            valid = valid[:, ~none_empty]
            if not with_topology.size:
                return reasons
        if request.anti_affinity:
            allowed = ~np.isin(np.arange(self.zones.zones), list(request.anti_affinity))
            blocked = ~(valid & allowed[:, None]).any(axis=0)
            reasons[NOT_ALLOWED] += int(blocked.sum())
            valid = valid & allowed[:, None]
            keep = ~blocked
            with_topology, free, valid = with_topology[keep], free[:, :, keep], valid[:, keep]
            if not with_topology.size:
                return reasons
        best = np.where(valid, free[CPU], np.iinfo(np.int64).min).max(axis=0)
        best_memory = np.where(valid, free[MEMORY], np.iinfo(np.int64).min).max(axis=0)
        if request.cpu and (best < request.cpu).any():
            most = format_amount("cpu", max(int(best.max()), 0))
            detail = f"cpu {format_amount('cpu', request.cpu)} > {most} free in best zone"
        elif request.memory and (best_memory < request.memory).any():
            detail = (
                f"memory {format_amount('memory', request.memory)} > "
                f"{format_amount('memory', max(int(best_memory.max()), 0))} free in best zone"
            )
        elif (
            request.gpus
            and (best_gpus := np.where(valid, free[GPU], -1).max(axis=0)).min() < request.gpus
        ):
            detail = (
                f"nvidia.com/gpu {request.gpus} > {max(int(best_gpus.max()), 0)} free in best zone"
            )
        else:
            detail = "no zone has every aligned resource free at once"
        reasons[NO_ZONE.format(detail=detail)] += int(with_topology.size)
        return reasons

    # ------------------------------------------------------------------ score

    def _distance_part(self, weight: float) -> FloatArray:
        """0.20 × clip(100 - (avgDistance - 10)·5·weight): topology only, cached per weight."""
        z = self.zones
        cached = self._distance_cache.get(weight)
        if cached is not None and cached[0] == z.generation:
            return cached[1]
        part: FloatArray = 0.20 * np.clip(100.0 - z.distance_term * np.float32(weight), 0.0, 100.0)
        if len(self._distance_cache) > 16:
            self._distance_cache.clear()
        self._distance_cache[weight] = (z.generation, part)
        return part

    def _zone_scores(
        self, request: NumaRequest, rows: slice | IntArray, zone_ok: BoolArray
    ) -> FloatArray:
        """seed 000: 0.40 fit + 0.25 bandwidth + 0.20 distance + 0.15 gang, per node × zone
        (for the node slots ``rows``; ``zone_ok`` covers the same rows)."""
        z = self.zones
        # In place on one buffer: this runs per pod over every node × zone.
        fit = z.cpu_inv_pct[:, rows] * np.float32(request.cpu)
        fit += z.cpu_used_pct[:, rows]  # utilization after placing the pod, in %
        fit -= np.float32(60.0)
        np.abs(fit, out=fit)
        np.subtract(np.float32(100.0), fit, out=fit)  # 100 - |utilization - 60|
        if request.affinity:
            preferred = np.isin(np.arange(z.zones), list(request.affinity))[:, None]
            fit = np.where(preferred, np.minimum(fit * 1.2, 100.0), fit)
        np.maximum(fit, np.float32(0.0), out=fit)
        fit *= np.float32(0.40)
        total = fit
        if request.memory_intensive and request.memory:
            bandwidth = 100.0 - np.float32(request.memory) * z.memory_inv_pct[:, rows]
            total += 0.25 * np.clip(bandwidth, 0.0, 100.0)
        else:
            total += 25.0
        total += self._distance_part(request.distance_weight)[:, rows]
        if request.gang_group and request.gang_group in self._gang_zones:
            members = np.zeros(total.shape, dtype=np.float32)
            slots = np.atleast_1d(np.arange(z.capacity)[rows])
            # Slot → column, as an array: a dict over every node cost more than the scores.
            position = np.full(z.capacity, -1, dtype=np.int64)
            position[slots] = np.arange(slots.size)
            for slot, counts in self._gang_zones[request.gang_group].items():
                column = int(position[slot]) if 0 <= slot < z.capacity else -1
                if column >= 0:
                    members[: counts.size, column] = counts
            if request.spread == "packed":
                gang = np.where(members > 0, 100.0, 20.0) if members.any() else 100.0
            elif request.spread == "balanced":
                gang = 100.0 / (1.0 + members)  # fewer members in the zone: higher
            else:  # isolated
                gang = np.where(members > 0, 0.0, 100.0)
            total += 0.15 * gang
        else:
            total += 15.0
        return np.where(zone_ok, total, -1.0)

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        request = state.get(_REQUEST, None)
        zone_ok = state.get(_ZONE_OK, None)
        if not isinstance(request, NumaRequest) or not isinstance(zone_ok, np.ndarray):
            return None
        size = nodes.size
        best = best_zone(self._zone_scores(request, slice(0, size), zone_ok))
        has = self.zones.has_topology[:size]
        # No zone fits alone (best-effort / restricted spanning): 25; topology unknown: 50.
        node_scores = np.where(has, np.where(best >= 0, best, 25.0), 50.0)
        chosen: FloatArray = np.clip(node_scores[candidates], 0.0, 100.0)
        return chosen

    # ------------------------------------------------------------------ reserve

    def reserve(self, state: CycleState, pod: PodInfo, nodes: NodeTable, slot: int) -> Status:
        request = state.get(_REQUEST, None)
        if not isinstance(request, NumaRequest) or not self._has_topology(slot):
            return SUCCESS
        cached = state.get(_ZONE_OK, None)  # nothing changed since this cycle's filter
        if isinstance(cached, np.ndarray) and cached.shape[1] == nodes.size:
            zone_ok, free = cached, self.zones.free(nodes.size)
        else:
            zone_ok, free = self._zone_ok(request, nodes.size)
        row_ok = zone_ok[:, slot]
        single = bool(row_ok.any())
        if single:
            scores = self._zone_scores(request, np.array([slot]), zone_ok[:, slot : slot + 1])[:, 0]
            zones: tuple[int, ...] = (int(np.argmax(scores)),)
            amounts = ((request.cpu, request.memory, request.gpus),)
        else:
            zones, amounts = self._spread(request, free[:, :, slot], slot)
        cpus = self._pick_cpus(request, slot, zones, amounts)
        # Only an empty zone is isolated (a defaulted "isolated" that had to share does not
        # close the zones it shares to everyone else).
        isolated = request.policy == "isolated" and single
        assignment = Assignment(zones, amounts, cpus, isolated)
        self._pending[pod.key] = assignment
        state.write(_ASSIGNMENT, assignment)
        return SUCCESS

    def _spread(
        self, request: NumaRequest, free: npt.NDArray[np.int64], slot: int
    ) -> tuple[tuple[int, ...], tuple[tuple[int, int, int], ...]]:
        """Across as few zones as hold the request, largest free CPU first."""
        valid = self.zones.open[:, slot]
        order = [int(z) for z in np.argsort(-free[CPU]) if valid[z]]
        need = [request.cpu, request.memory, request.gpus]
        zones: list[int] = []
        amounts: list[tuple[int, int, int]] = []
        for zone in order:
            if not any(need):
                break
            room = [max(int(free[r, zone]), 0) for r in range(3)]
            if request.cpu % 1000 == 0:
                room[CPU] -= room[CPU] % 1000  # whole cores per zone, so the cpu-set is exact
            take = tuple(min(room[r], need[r]) for r in range(3))
            if not any(take):
                continue
            zones.append(zone)
            amounts.append((take[0], take[1], take[2]))
            need = [need[r] - take[r] for r in range(3)]
        if any(need) and zones:  # best-effort over-commits the last zone rather than lose track
            last = amounts[-1]
            amounts[-1] = (last[0] + need[0], last[1] + need[1], last[2] + need[2])
        if not zones:
            zones, amounts = (
                [order[0] if order else 0],
                [(request.cpu, request.memory, request.gpus)],
            )
        pairs = sorted(zip(zones, amounts, strict=True))  # zones in order, for people and the hook
        return tuple(z for z, _ in pairs), tuple(a for _, a in pairs)

    def _pick_cpus(
        self,
        request: NumaRequest,
        slot: int,
        zones: tuple[int, ...],
        amounts: tuple[tuple[int, int, int], ...],
    ) -> frozenset[int]:
        """Whole cores only (as the kubelet's static CPU manager pins): lowest free IDs first."""
        free = self.zones.free_cpus.get(slot)
        if not free or request.cpu == 0 or request.cpu % 1000:
            return frozenset()
        picked: set[int] = set()
        for zone, (cpu, _, _) in zip(zones, amounts, strict=True):
            cores = -(-cpu // 1000)
            available = sorted(free[zone]) if zone < len(free) else []
            if len(available) < cores:
                return frozenset()  # the zone's IDs are unknown or short: no pinning
            picked.update(available[:cores])
        return frozenset(picked)

    def unreserve(self, state: CycleState, pod: PodInfo, nodes: NodeTable, slot: int) -> None:
        self._pending.pop(pod.key, None)

    def placement_annotations(self, state: CycleState, pod: PodInfo) -> dict[str, str | None]:
        """The zones and CPUs reserved in this cycle; a pod carrying ours from an earlier
        placement that this one does not repeat has them removed (None)."""
        assignment = state.get(_ASSIGNMENT, None)
        stale = ZONES_ANNOTATION in pod.annotations
        annotations: dict[str, str | None] = {}
        if isinstance(assignment, Assignment):
            annotations[ZONES_ANNOTATION] = ",".join(str(z) for z in assignment.zones)
            if assignment.cpus:
                annotations[keys.CPU_SET] = format_cpu_list(assignment.cpus)
            elif stale and keys.CPU_SET in pod.annotations:
                annotations[keys.CPU_SET] = None
        elif stale:
            annotations[ZONES_ANNOTATION] = None
            if keys.CPU_SET in pod.annotations:
                annotations[keys.CPU_SET] = None
        return annotations


__all__ = ["ZONES_ANNOTATION", "NUMATopology", "NUMATopologyArgs", "Policy"]
