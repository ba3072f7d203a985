"""NetworkFabricScore: put network-bound work on fast fabrics and keep a gang's members close
(reference §9).

Node labels: ``network.kubenexus.io/fabric-type`` (nvswitch, nvlink, infiniband|ib,
roce|rdma, ethernet|eth; case-insensitive), ``…/fabric-id``, ``…/rack-id``, ``…/az``; the GPU
clique is the label ``nvidia.com/gpu.clique``, else the NVLink domain of the node's GPUs in
the one GPU model (DRA ``nvlink-domain``).

Pod annotations: ``scheduling.kubenexus.io/require-clique`` (true|false),
``…/co-locate`` (strict|preferred|none), ``…/network-sensitive`` (true|false),
``…/min-fabric-tier`` (a fabric type). A value outside these keeps the pod waiting with a
message naming it. Gang membership is the core's (the gang labels and annotations).

Filter: a pod with a min-fabric-tier passes only nodes whose fabric ranks at least that
(nvswitch 5 > nvlink 4 > infiniband 3 > roce 2 > ethernet 1 > unknown 0; the original only
zeroed the score, and only once gang members were placed). A gang member that requires a
clique (require-clique, or co-locate strict) passes only nodes with a clique: the clique of
its gang's placed or planned members when they have one, else — for the first member — a
clique with room for the members the gang's quorum still needs, so the gang is not started in
a clique too small for it.

Score: fabric base (nvswitch 100, nvlink 90, infiniband 75, roce 60, ethernet 40, unknown 50);
for a gang member with members placed or planned, locality per level when the node has a value
there and the members have some: clique ±40, fabric-id ±30, rack ±20, az ±10; a workload
adjustment (training/batch +15 on nvswitch/infiniband, -20 on roce/ethernet;
inference/service -5 on nvswitch/infiniband, +10 on roce/ethernet); network-sensitive ×1.5
(truncated); clamped to 0..100. Pods that neither request GPUs, belong to a gang, nor carry
one of these annotations get no score: a fabric preference would pull plain pods onto the
GPU fabric.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

import numpy as np

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.api.profile import PACKING_TYPES, gpu_count
from kubenexus.framework import (
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
from kubenexus.framework.cycle_state import FEASIBLE_SO_FAR, GANG_STILL_TO_PLACE, NODES_GIVEN
from kubenexus.framework.node_table import MISSING, take
from kubenexus.framework.pod_index import tally_slot

FABRIC_RANKS: Final = {
    "nvswitch": 5,
    "nvlink": 4,
    "infiniband": 3,
    "ib": 3,
    "roce": 2,
    "rdma": 2,
    "ethernet": 1,
    "eth": 1,
}
TIER_NAMES: Final = "nvswitch, nvlink, infiniband, roce or ethernet"
# Base score by fabric rank (index: rank 0 unknown … 5 nvswitch).
BASE_SCORES: Final = np.array([50.0, 40.0, 60.0, 75.0, 90.0, 100.0])
# Workload adjustment by rank, for packing (training, batch) and other workloads.
PACKING_ADJUSTMENT: Final = np.array([0.0, -20.0, -20.0, 15.0, 0.0, 15.0])
SPREADING_ADJUSTMENT: Final = np.array([0.0, 10.0, 10.0, -5.0, 0.0, -5.0])
LOCALITY: Final = (("clique", 40.0), (keys.FABRIC_ID_LABEL, 30.0), (keys.RACK_LABEL, 20.0))
AZ_BONUS: Final = 10.0
STATE: Final = "NetworkFabricScore"
VERDICTS: Final = "NetworkFabricScore/verdicts"
# Who names the nodes when an executor claims reserved room (ResourceReservation): its slot's
# node was chosen when its driver was admitted, cliques unseen; it keeps it (else the gang
# could never claim the rest of its room).
RESERVED_ROOM: Final = "ResourceReservation"
NO_CLIQUE: Final = "node(s) had no GPU clique"
OTHER_CLIQUE: Final = "node(s) were not in the GPU clique of the pod's gang"
SMALL_CLIQUE: Final = "node(s) were in a GPU clique without room for the pod's gang"


@dataclass(frozen=True, slots=True)
class _Wants:
    """What the pod asks of the fabric, read once per cycle."""

    gang: str
    require_clique: bool
    sensitive: bool
    min_rank: int  # 0: no minimum


@dataclass(slots=True)
class _Fabric:
    key: tuple[int, int, int]
    rank: IntArray  # per slot, 0..5
    clique: IntArray  # per slot, clique code or MISSING


def _rank(value: str) -> int:
    return FABRIC_RANKS.get(value.strip().lower(), 0)


def _flag(pod: PodInfo, key: str) -> bool:
    value = pod.annotations.get(key)
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered not in {"true", "false"}:
        raise ValueError(f"annotation {key}={value!r}: expected true or false")
    return lowered == "true"


_FABRIC_ANNOTATIONS: Final = frozenset(
    {keys.REQUIRE_CLIQUE, keys.CO_LOCATE, keys.MIN_FABRIC_TIER, keys.NETWORK_SENSITIVE}
)
_NOTHING: Final = _Wants("", require_clique=False, sensitive=False, min_rank=0)


def _wants(pod: PodInfo) -> _Wants:
    """The pod's annotations; ValueError naming the one that cannot be read."""
    if _FABRIC_ANNOTATIONS.isdisjoint(pod.annotations):
        return _Wants(pod.gang, False, False, 0) if pod.gang else _NOTHING
    require = _flag(pod, keys.REQUIRE_CLIQUE)
    co_locate = pod.annotations.get(keys.CO_LOCATE)
    if co_locate is not None:
        mode = co_locate.strip().lower()
        if mode not in {"strict", "preferred", "none"}:
            raise ValueError(
                f"annotation {keys.CO_LOCATE}={co_locate!r}: expected strict, preferred or none"
            )
        require = require or mode == "strict"
    min_rank = 0
    tier = pod.annotations.get(keys.MIN_FABRIC_TIER)
    if tier is not None:
        min_rank = _rank(tier)
        if not min_rank:
            raise ValueError(f"annotation {keys.MIN_FABRIC_TIER}={tier!r}: expected {TIER_NAMES}")
    return _Wants(
        pod.gang, require and bool(pod.gang), _flag(pod, keys.NETWORK_SENSITIVE), min_rank
    )


def _clique_bound(pod: PodInfo) -> bool:
    """Whether the pod binds its gang to one clique (its annotations; unreadable ones: no)."""
    try:
        return _wants(pod).require_clique
    except ValueError:
        return False


def _copies(requests: Mapping[str, int], nodes: NodeTable) -> IntArray:
    """Per slot, how many pods of this shape its free resources hold (0 on cordoned nodes)."""
    size = nodes.size
    copies = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    for name, amount in requests.items():
        if amount <= 0:
            continue
        row = nodes.resource_row(name)
        if row is None:
            return np.zeros(size, dtype=np.int64)
        np.minimum(copies, np.maximum(nodes.free[row, :size], 0) // amount, out=copies)
    copies[~nodes.valid[:size] | nodes.unschedulable[:size]] = 0
    return copies


class NetworkFabricScore:
    name: ClassVar[str] = "NetworkFabricScore"
    # A clique's room frees as pods go; a node joins or is relabelled.
    cluster_events: ClassVar[ClusterEvent] = (
        ClusterEvent.POD_REMOVED
        | ClusterEvent.NODE_ADDED
        | ClusterEvent.NODE_LABELS
        | ClusterEvent.NODE_ALLOCATABLE_UP
        | ClusterEvent.NODE_SCHEDULABLE
        | ClusterEvent.NODE_TOPOLOGY
    )

    def __init__(self) -> None:
        self._cached: _Fabric | None = None
        # gang → slot → its clique-bound members counted there (placed, assumed, planned).
        self._bound: dict[str, dict[int, int]] = {}

    # ------------------------------------------------------------------ node facts

    def fabric(self, nodes: NodeTable) -> _Fabric:
        key = (nodes.topology_generation, nodes.gpus.generation, nodes.size)
        if self._cached is not None and self._cached.key == key:
            return self._cached
        rank = nodes.label_values(keys.FABRIC_TYPE_LABEL, _rank, 0)
        codes: dict[str, int] = {}
        labelled = nodes.label_column(keys.GPU_CLIQUE_LABEL)
        remap = np.full(labelled.width + 1, MISSING, dtype=np.int64)
        for value, code in labelled.values.items():
            if value.strip():  # an empty clique label names no clique (as the GPU model reads it)
                remap[code] = codes.setdefault(value, len(codes))
        clique: IntArray = remap[labelled.codes[: nodes.size]]
        # Nodes without the label: the NVLink domain their GPUs report (DRA, GFD).
        for slot in np.flatnonzero((clique == MISSING) & (nodes.gpus.count[: nodes.size] > 0)):
            info = nodes.infos[int(slot)]
            if info is None or info.gpus is None:
                continue
            domain = next((d.nvlink_domain for d in info.gpus.devices if d.nvlink_domain), None)
            if domain is not None:
                clique[slot] = codes.setdefault(domain, len(codes))
        self._cached = _Fabric(key, rank, clique)
        return self._cached

    def _level(self, nodes: NodeTable, level: str) -> IntArray:
        if level == "clique":
            return self.fabric(nodes).clique
        return nodes.label_column(level).codes[: nodes.size].astype(np.int64)

    # ------------------------------------------------------------------ pre-filter, filter

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        try:
            wants = _wants(pod)
        except ValueError as exc:
            return Status.unresolvable(str(exc), plugin=self.name)
        state.write(STATE, wants)
        if wants.require_clique or wants.min_rank:
            return SUCCESS
        return SKIP

    def _member_slots(self, gang: str, nodes: NodeTable) -> IntArray:
        members = nodes.pods.gang_slots(gang) if gang else {}
        return np.fromiter(members.keys(), dtype=np.int64, count=len(members))

    # ------------------------------------------------------------------ clique-bound members

    def _tally(self, pod: PodInfo, slot: int, sign: int) -> None:
        if pod.gang and _clique_bound(pod):
            tally_slot(self._bound, pod.gang, slot, sign)

    def pod_counted(self, nodes: NodeTable, pod: PodInfo, slot: int) -> None:
        self._tally(pod, slot, 1)

    def pod_uncounted(self, nodes: NodeTable, pod: PodInfo, slot: int) -> None:
        self._tally(pod, slot, -1)

    def node_upserted(self, nodes: NodeTable, slot: int, pods: Sequence[PodInfo]) -> None:
        return  # cliques are read per node from the table (``fabric``)

    def node_removed(self, nodes: NodeTable, slot: int) -> None:
        for gang in list(self._bound):
            by_slot = self._bound[gang]
            by_slot.pop(slot, None)
            if not by_slot:
                del self._bound[gang]

    def _clique_verdicts(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable
    ) -> tuple[BoolArray, BoolArray, BoolArray]:
        """(has a clique, in the gang's clique, in a clique with room for the gang) per slot.

        The gang's clique is the one its clique-bound members already placed or planned are
        in (a member that asked for none, such as an MPI launcher, binds nobody). The first
        one looks for a clique whose nodes still open to it (the filters before this one)
        hold what the gang's quorum still needs; when the caller named the nodes (a
        preemption's dry run, a claim) only membership counts."""
        clique = self.fabric(nodes).clique
        has = clique != MISSING
        given = state.get(NODES_GIVEN, None)
        if given == RESERVED_ROOM:  # an executor claiming a slot held since its driver ran
            everywhere = np.ones(clique.size, dtype=np.bool_)
            return everywhere, everywhere, everywhere
        bound = self._bound.get(pod.gang, {})
        taken = np.unique(clique[list(bound)]) if bound else clique[:0]
        taken = taken[taken != MISSING]
        if taken.size:
            return has, np.isin(clique, taken), has
        if given is not None:
            return has, has, has
        open_nodes = has & state.get(FEASIBLE_SO_FAR, has)[: clique.size]
        members: tuple[Mapping[str, int], ...] = state.get(GANG_STILL_TO_PLACE, ()) or (
            pod.requests,
        )
        roomy = np.zeros(clique.size, dtype=np.bool_)
        if not open_nodes.any():
            return has, has, roomy
        codes = clique[open_nodes]
        if all(m == members[0] for m in members):  # alike: whole copies per node
            room = np.bincount(codes, weights=_copies(members[0], nodes)[open_nodes])
            fits = room >= len(members)
        else:  # a mix (a launcher and its workers): each resource in total
            fits = np.ones(int(codes.max()) + 1, dtype=np.bool_)
            for name in {name for m in members for name in m}:
                needed = sum(m.get(name, 0) for m in members)
                row = nodes.resource_row(name)
                if not needed:
                    continue
                if row is None:
                    fits[:] = False
                    break
                free = np.maximum(nodes.free[row, : clique.size][open_nodes], 0)
                fits &= np.bincount(codes, weights=free, minlength=fits.size) >= needed
        known = has & (clique < fits.size)  # cliques with no open node have no room
        roomy[known] = fits[clique[known]]
        return has, has, roomy

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        wants = state.read(STATE, _Wants)
        passing: BoolArray = np.ones(nodes.size, dtype=np.bool_)
        if wants.min_rank:
            passing &= self.fabric(nodes).rank >= wants.min_rank
        if wants.require_clique:
            verdicts = self._clique_verdicts(state, pod, nodes)
            state.write(VERDICTS, verdicts)  # explain reads what the filter saw
            has, same, roomy = verdicts
            passing &= has & same & roomy
        return passing

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        wants = state.read(STATE, _Wants)
        reasons: Counter[str] = Counter()
        low = np.zeros(rejected.size, dtype=np.bool_)
        if wants.min_rank:
            low = self.fabric(nodes).rank[rejected] < wants.min_rank
            reasons[f"node(s) had a network fabric below min-fabric-tier {_name(wants)}"] = int(
                low.sum()
            )
        if wants.require_clique:
            has, same, roomy = state.get(VERDICTS, None) or self._clique_verdicts(state, pod, nodes)
            rest = rejected[~low]
            reasons[NO_CLIQUE] += int((~has[rest]).sum())
            reasons[OTHER_CLIQUE] += int((has[rest] & ~same[rest]).sum())
            reasons[SMALL_CLIQUE] += int((has[rest] & same[rest] & ~roomy[rest]).sum())
        return +reasons

    def unresolvable(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> BoolArray:
        """A fabric below the pod's tier: no eviction changes a node's network."""
        wants = state.read(STATE, _Wants)
        if not wants.min_rank:
            return np.zeros(rejected.size, dtype=np.bool_)
        return np.asarray(self.fabric(nodes).rank[rejected] < wants.min_rank, dtype=np.bool_)

    # ------------------------------------------------------------------ score

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        wants = state.get(STATE, None)
        if not isinstance(wants, _Wants):
            return None
        if not (wants.gang or wants.sensitive or wants.min_rank or gpu_count(pod)):
            return None
        rank = take(self.fabric(nodes).rank, candidates)
        score: FloatArray = BASE_SCORES[rank]
        members = self._member_slots(wants.gang, nodes)
        if members.size:
            for level, points in (*LOCALITY, (keys.AZ_LABEL, AZ_BONUS)):
                values = self._level(nodes, level)
                theirs = values[members]
                theirs = theirs[theirs != MISSING]
                if not theirs.size:
                    continue
                mine = take(values, candidates)
                shared = np.isin(mine, theirs)
                score = score + np.where(mine == MISSING, 0.0, np.where(shared, points, -points))
        workload = nodes.profiles.of(pod).workload
        if workload in PACKING_TYPES:
            score = score + PACKING_ADJUSTMENT[rank]
        elif workload in {"inference", "service"}:
            score = score + SPREADING_ADJUSTMENT[rank]
        if wants.sensitive:
            score = np.trunc(score * 1.5)
        return np.clip(score, 0.0, 100.0)


def _name(wants: _Wants) -> str:
    return next(name for name, rank in FABRIC_RANKS.items() if rank == wants.min_rank)
