"""Why a pod is pending, or why it lands where it does: the scheduling core, asked in detail.

Explain-only work (each node's fate, every plugin's scores kept apart) runs here, on demand,
never in the scheduling path: ``Profile.find_node`` stays as lean as before. Everything is read
from the same ``Scheduler`` the daemon (or the simulator) feeds, with the same plugins; nothing
is bound, and whatever is moved to ask a question (a placed pod taken out of its node, a gang's
members tried together) is put back before returning.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal

import numpy as np

from kubenexus.api import keys
from kubenexus.api.gpu import gpu_demand
from kubenexus.api.objects import NodeInfo, PodInfo
from kubenexus.api.quantity import format_amount
from kubenexus.errors import InvalidInputError
from kubenexus.framework import Failure, Placement, PluginError, Profile
from kubenexus.framework.cycle_state import CycleState
from kubenexus.framework.interfaces import FilterPlugin, RawScorePlugin, ScorePlugin
from kubenexus.framework.node_table import BoolArray, FloatArray, IntArray, NodeTable
from kubenexus.framework.runtime import FEASIBLE, PRE_FILTER_NODES
from kubenexus.framework.status import Code
from kubenexus.plugins.numa_topology import NUMATopology
from kubenexus.plugins.numa_topology.zones import CPU, GPU, MEMORY
from kubenexus.plugins.resource_reservation import Held, HeldSlot
from kubenexus.scheduler.scheduler import Scheduler

Verdict = Literal[
    "Pending",  # fits nowhere now
    "Placeable",  # pending, and a node passes every filter now
    "Placed",  # bound (or assumed) to a node
    "Unsupported",  # uses rules kubenexus cannot honour yet
    "NotOurs",  # another scheduler's pod
    "Gated",  # scheduling gates left
    "Terminating",  # being deleted
    "Finished",
]
# Numbers (with their units) are masked to tell reasons of one kind apart from their amounts.
_AMOUNT: Final = re.compile(r"\d+(?:\.\d+)?(?:[KMGTPE]i?|m)?")
# Nodes named per group: enough to act on, few enough for one screen.
_NAMED_PER_GROUP: Final = 5


def profile_of(scheduler: Scheduler, pod: PodInfo) -> tuple[str, str]:
    """(tenant tier, workload type): the profile the plugins read (``Scheduler.profile_of``)."""
    profile = scheduler.profile_of(pod)
    return profile.tier, profile.workload


@dataclass(frozen=True, slots=True)
class NodeGroup:
    """Nodes the same filter rejects first, for reasons of the same kind."""

    plugin: str
    # The plugin's own words for the group (amounts as it states them for the whole group).
    reasons: tuple[str, ...]
    count: int
    nodes: tuple[str, ...]  # the first few, closest first


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A node that comes close: every filter it fails with its exact reasons, and by how much
    it falls short."""

    node: str
    failed: tuple[tuple[str, tuple[str, ...]], ...]  # (plugin, reasons), in filter order
    shortfalls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PluginScore:
    plugin: str
    weight: int
    # Before the plugin's own normalization, where the plugin exposes it (None: it does not).
    raw: float | None
    normalized: float  # 0..100, as the plugin returns it to the runtime
    weighted: float  # normalized × weight: what the total adds up


@dataclass(frozen=True, slots=True)
class NodeScore:
    node: str
    total: float
    rank: int  # 1 = the node chosen
    plugins: tuple[PluginScore, ...]


@dataclass(frozen=True, slots=True)
class GangMember:
    pod: str
    state: str  # Placed, Fits, FitsNowhere, Waiting
    node: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class GangState:
    name: str
    min_member: int | None
    placed: int
    pending: int
    problem: str  # why it cannot be sized or tried ("" when it can)
    members: tuple[GangMember, ...]
    # The pending members that keep the gang back (they fit nowhere when tried in turn).
    blocking: tuple[str, ...] = ()


@dataclass(slots=True)
class Explanation:
    pod: str  # namespace/name
    verdict: Verdict
    scheduler_name: str
    tier: str
    workload: str
    total_nodes: int = 0
    feasible: int = 0
    node: str = ""  # where it is placed, or would be placed now
    message: str = ""  # kube-scheduler's one line (why it fits nowhere), or a note
    # The queue's last word on the pod (a gang's or reservation's verdict is only there).
    last_attempt: str = ""
    attempts: int = 0
    pre_filter: tuple[str, str] | None = None  # (plugin, message): the pod is refused as a whole
    groups: list[NodeGroup] = field(default_factory=list)
    closest: list[NearMiss] = field(default_factory=list)
    scores: list[NodeScore] = field(default_factory=list)
    gang: GangState | None = None
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- per-node fates


def _masked(reason: str) -> str:
    return _AMOUNT.sub("#", reason)


def _uniform(reasons: Counter[str], size: int) -> bool:
    """Every node of the set fails for every (masked) reason: one group."""
    masked: Counter[str] = Counter()
    for reason, count in reasons.items():
        masked[_masked(reason)] += count
    return all(count == size for count in masked.values())


def _split(
    plugin: FilterPlugin, state: CycleState, pod: PodInfo, nodes: NodeTable, slots: IntArray
) -> Iterator[tuple[tuple[str, ...], IntArray]]:
    """The slots in sets whose nodes fail for the same kinds of reasons. The plugins count
    reasons over a set of nodes; a set that is not uniform is halved until it is (a uniform
    cluster costs one call, a mixed one a few per boundary)."""
    pending = [slots]
    while pending:
        part = pending.pop()
        reasons = plugin.explain(state, pod, nodes, part)
        if part.size == 1 or _uniform(reasons, int(part.size)):
            yield tuple(sorted({_masked(r) for r in reasons})), part
        else:
            half = part.size // 2
            pending += [part[half:], part[:half]]


@dataclass(slots=True)
class _Filtered:
    state: CycleState
    filters: list[FilterPlugin]
    masks: list[BoolArray | None]
    alive: BoolArray  # live nodes the pre-filters let through
    feasible: BoolArray
    first: IntArray  # per slot, the index of the first filter rejecting it (-1: none)
    failing: IntArray  # per slot, how many filters reject it
    excluded: BoolArray  # live nodes a pre-filter's node limit ruled out
    refused: tuple[str, str] | None = None  # (plugin, message) of a pre-filter's rejection
    error: str = ""


def _run_filters(profile: Profile, pod: PodInfo, nodes: NodeTable) -> _Filtered:
    """Pre-filters, then every filter on every node (find_node stops early; this does not)."""
    size = nodes.size
    state = CycleState()
    empty = np.zeros(size, dtype=np.bool_)
    minus = np.full(size, -1, dtype=np.int64)
    live: BoolArray = nodes.valid[:size].copy()
    skipped: set[str] = set()
    for pre_filter in profile.pre_filters:
        status = pre_filter.pre_filter(state, pod, nodes)
        if status.code is Code.SKIP:
            skipped.add(pre_filter.name)
        elif status.rejected:
            refused = (pre_filter.name, status.message)
            return _Filtered(state, [], [], live, empty, minus, minus, empty, refused=refused)
        elif not status.ok:
            error = f"{pre_filter.name}: {status.message}"
            return _Filtered(state, [], [], live, empty, minus, minus, empty, error=error)
    alive = live.copy()
    excluded = empty
    limits: dict[str, frozenset[str]] = state.get(PRE_FILTER_NODES, {})
    if limits:
        allowed = np.zeros(size, dtype=np.bool_)
        for name in frozenset.intersection(*limits.values()):
            slot = nodes.slot_of(name)
            if slot is not None:
                allowed[slot] = True
        excluded = live & ~allowed
        alive &= allowed
    filters = [f for f in profile.filters if f.name not in skipped]
    masks: list[BoolArray | None] = []
    first = minus.copy()
    failing = np.zeros(size, dtype=np.int64)
    passing = alive.copy()
    for index, plugin in enumerate(filters):
        mask = plugin.filter(state, pod, nodes)
        masks.append(mask)
        if mask is None:
            continue
        rejects = alive & ~mask
        failing += rejects
        first[passing & ~mask] = index
        passing &= mask
    return _Filtered(state, filters, masks, alive, passing, first, failing, excluded)


def _shortfall(pod: PodInfo, nodes: NodeTable, slots: IntArray) -> FloatArray:
    """How far each node is from fitting the pod's requests: Σ short ÷ requested."""
    total = np.zeros(slots.size)
    for resource, amount in pod.requests.items():
        if amount <= 0:
            continue
        row = nodes.resource_row(resource)
        free = np.zeros(slots.size) if row is None else nodes.free[row, slots].astype(np.float64)
        total += np.clip(amount - free, 0, None) / amount
    return total


def _groups(pod: PodInfo, nodes: NodeTable, run: _Filtered, order: IntArray) -> list[NodeGroup]:
    rank = np.empty(nodes.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    found: list[NodeGroup] = []

    def named(slots: IntArray) -> tuple[str, ...]:
        closest = slots[np.argsort(rank[slots], kind="stable")][:_NAMED_PER_GROUP]
        return tuple(nodes.names[int(s)] for s in closest)

    excluded = np.flatnonzero(run.excluded)
    if excluded.size:
        who = " ".join(sorted(run.state.read(PRE_FILTER_NODES, dict)))
        reason = f"node(s) didn't satisfy plugin(s) [{who}]"
        found.append(NodeGroup(who, (reason,), int(excluded.size), named(excluded)))
    for index, plugin in enumerate(run.filters):
        rejected = np.flatnonzero(run.alive & (run.first == index))
        if not rejected.size:
            continue
        kinds: dict[tuple[str, ...], list[IntArray]] = {}
        for kind, part in _split(plugin, run.state, pod, nodes, rejected):
            kinds.setdefault(kind, []).append(part)
        for parts in kinds.values():
            slots = np.sort(np.concatenate(parts))
            worded = plugin.explain(run.state, pod, nodes, slots)
            reasons = tuple(sorted(worded)) or (f"rejected by {plugin.name}",)
            found.append(NodeGroup(plugin.name, reasons, int(slots.size), named(slots)))
    found.sort(key=lambda g: (-g.count, g.plugin, g.reasons))
    return found


def _numa_lines(numa: NUMATopology, state: CycleState, slot: int) -> list[str]:
    """Each NUMA zone's free cpu, memory and GPUs on the node, against what the pod asks."""
    zones = numa.zones
    if slot >= zones.has_topology.size or not zones.has_topology[slot]:
        return ["no NUMA topology known"]
    free = zones.free(slot + 1)[:, :, slot]
    request = numa.request_of(state)
    lines = []
    for zone in range(zones.zones):
        if not zones.valid[zone, slot]:
            continue
        parts = [f"cpu {format_amount(keys.CPU, int(free[CPU, zone]))}"]
        parts.append(f"memory {format_amount(keys.MEMORY, int(free[MEMORY, zone]))}")
        if free[GPU, zone] or (request is not None and request.gpus):
            parts.append(f"gpu {int(free[GPU, zone])}")
        short = []
        if request is not None:
            for what, index, amount in (
                (keys.CPU, CPU, request.cpu),
                (keys.MEMORY, MEMORY, request.memory),
                ("gpu", GPU, request.gpus),
            ):
                gap = amount - int(free[index, zone])
                if amount and gap > 0:
                    short.append(f"{what} short by {format_amount(what, gap)}")
        if not zones.open[zone, slot]:
            short.append("isolated")
        detail = f" ({', '.join(short)})" if short else ""
        lines.append(f"NUMA zone {zone} free: {', '.join(parts)}{detail}")
    return lines


def _gpu_lines(pod: PodInfo, nodes: NodeTable, slot: int) -> list[str]:
    """The node's GPUs against what the pod asks: kinds, how many free, and with a VRAM ask,
    which devices are large enough (by name)."""
    node = nodes.node(slot)
    want = pod.requests.get(keys.GPU_NVIDIA, 0)
    row = nodes.resource_row(keys.GPU_NVIDIA)
    free = int(nodes.free[row, slot]) if row is not None else 0
    try:
        vram = gpu_demand(pod.requests, pod.annotations).vram
    except InvalidInputError:
        vram = 0  # the plugin's pre-filter says what is wrong with it
    each = f" with {format_amount(keys.MEMORY, vram)} VRAM each" if vram else ""
    if node.gpus is None or not node.gpus.devices:
        return [f"GPUs: none known; {free} nvidia.com/gpu free, {want}{each} requested"]
    devices = node.gpus.devices
    kinds = Counter(
        f"{d.family or d.product or 'GPU'} {format_amount(keys.MEMORY, d.memory)}" for d in devices
    )
    cards = ", ".join(f"{n}× {kind}" for kind, n in sorted(kinds.items()))
    lines = [f"GPUs: {cards}; {free} free, {want}{each} requested"]
    if vram:
        large = [d.name for d in devices if d.memory >= vram]
        if large:
            lines.append(
                f"GPUs with {format_amount(keys.MEMORY, vram)} or more: {', '.join(large)}"
            )
        else:
            biggest = max(devices, key=lambda d: d.memory)
            lines.append(
                f"no GPU has {format_amount(keys.MEMORY, vram)}: the largest is "
                f"{biggest.name} ({format_amount(keys.MEMORY, biggest.memory)})"
            )
    return lines


def held_room(scheduler: Scheduler, pod: PodInfo) -> dict[str, list[str]]:
    """Per node, the room reservations hold there for other pods (unclaimed slots, counted on
    the node as used): whose slot stands in the pod's way."""
    found: dict[str, list[str]] = {}
    for held in scheduler.reserving.book.held.values():
        if not held.holding or (pod.group and held.spec.gang == pod.group):
            continue  # the pod's own group claims these slots
        for slot in held.free_slots():
            if not slot.counted:
                continue
            amounts = ", ".join(
                f"{resource} {format_amount(resource, amount)}"
                for resource, amount in sorted(slot.spec.requests.items())
                if resource != keys.PODS
            )
            found.setdefault(slot.spec.node, []).append(
                f"held for pod group {held.spec.gang} by reservation {held.key} "
                f"(slot {slot.spec.name}: {amounts})"
            )
    return found


def _near_misses(
    pod: PodInfo,
    nodes: NodeTable,
    run: _Filtered,
    order: IntArray,
    *,
    count: int,
    held: Mapping[str, list[str]],
) -> list[NearMiss]:
    numa = next((f for f in run.filters if isinstance(f, NUMATopology)), None)
    misses = []
    for slot in order[:count]:
        one = np.array([slot])
        failed = []
        for plugin, mask in zip(run.filters, run.masks, strict=True):
            if mask is not None and not mask[slot]:
                said = tuple(sorted(plugin.explain(run.state, pod, nodes, one)))
                failed.append((plugin.name, said or (f"rejected by {plugin.name}",)))
        lines = []
        for resource, amount in sorted(pod.requests.items()):
            row = nodes.resource_row(resource)
            free = int(nodes.free[row, slot]) if row is not None else 0
            if amount > free:
                lines.append(
                    f"{resource}: {format_amount(resource, amount)} requested, "
                    f"{format_amount(resource, max(free, 0))} free "
                    f"(short by {format_amount(resource, amount - max(free, 0))})"
                )
        node_name = nodes.names[int(slot)]
        if lines and node_name in held:  # short of room that a reservation holds
            lines += [f"room {line}" for line in held[node_name]]
        if numa is not None and any(plugin == numa.name for plugin, _ in failed):
            lines += _numa_lines(numa, run.state, int(slot))
        if pod.requests.get(keys.GPU_NVIDIA, 0):
            lines += _gpu_lines(pod, nodes, int(slot))
        misses.append(NearMiss(nodes.names[int(slot)], tuple(failed), tuple(lines)))
    return misses


# --------------------------------------------------------------------------- scores


def _raw_scores(
    plugin: ScorePlugin, state: CycleState, pod: PodInfo, nodes: NodeTable, slots: IntArray
) -> FloatArray | None:
    """A plugin's scores before its own normalization, when it exposes them (explain only)."""
    if not isinstance(plugin, RawScorePlugin):
        return None
    return plugin.raw_scores(state, pod, nodes, slots)


def _scores(
    profile: Profile, pod: PodInfo, nodes: NodeTable, run: _Filtered, *, top: int, chosen: str
) -> list[NodeScore]:
    """Every plugin's score of every feasible node, kept apart (the runtime only sums them):
    the ``top`` best, the runner-up, and the chosen node wherever it ranks."""
    candidates = np.flatnonzero(run.feasible)
    run.state.write(FEASIBLE, run.feasible)
    columns: list[tuple[str, int, FloatArray | None, FloatArray]] = []
    total = np.zeros(candidates.size)
    for weighted in profile.scores:
        plugin = weighted.plugin
        scores = plugin.score(run.state, pod, nodes, candidates)
        if scores is None:
            continue
        if scores.shape != candidates.shape:
            raise PluginError(f"{plugin.name}: returned {scores.shape} scores")
        raw = _raw_scores(plugin, run.state, pod, nodes, candidates)
        columns.append((plugin.name, weighted.weight, raw, scores.astype(np.float64)))
        total += weighted.weight * scores
    # Best first; ties to the node added first, as the runtime breaks them.
    order = np.lexsort((candidates, -total))
    chosen_slot = nodes.slot_of(chosen) if chosen else None
    picks = [int(i) for i in order[: max(top, 2)]]
    if chosen_slot is not None:
        where = np.flatnonzero(candidates == chosen_slot)
        if where.size and int(where[0]) not in picks:
            picks.append(int(where[0]))
    ranks = np.empty(order.size, dtype=np.int64)
    ranks[order] = np.arange(1, order.size + 1)
    found = []
    for i in picks:
        lines = tuple(
            PluginScore(
                plugin=name,
                weight=weight,
                raw=None if raw is None else round(float(raw[i]), 3),
                normalized=round(float(normalized[i]), 3),
                weighted=round(float(weight * normalized[i]), 3),
            )
            for name, weight, raw, normalized in columns
        )
        slot = int(candidates[i])
        found.append(NodeScore(nodes.names[slot], round(float(total[i]), 3), int(ranks[i]), lines))
    return found


# --------------------------------------------------------------------------- gangs


def _gang(scheduler: Scheduler, pod: PodInfo) -> GangState | None:
    """The gang's size, who is placed, and where each pending member goes when the gang is
    planned now — by the scheduler's own planning path (its member order, each seeing what
    the previous took), in a trial it undoes."""
    gangs = scheduler.gang_manager(pod.scheduler_name)
    if not pod.gang or gangs is None:
        return None
    cache = scheduler.cache
    also = pod if not pod.node_name and pod.key not in cache else None
    trial = scheduler.gang_trial(pod.gang, also)
    placed = cache.gang_members(pod.gang)
    size = gangs.size(pod.gang, [*(p for p, _ in trial), *placed])
    members = [GangMember(p.full_name, "Placed", p.node_name) for p in placed]
    blocking: list[str] = []
    for member, found in trial:
        if isinstance(found, Failure):
            blocking.append(member.full_name)
            members.append(GangMember(member.full_name, "FitsNowhere", "", found.message))
        else:
            members.append(GangMember(member.full_name, "Fits", found.node_name))
    return GangState(
        name=pod.gang,
        min_member=size.size,
        placed=len(placed),
        pending=len(trial),
        problem=size.problem,
        members=tuple(members),
        blocking=tuple(blocking),
    )


# --------------------------------------------------------------------------- the question


def _verdict_without_cycle(scheduler: Scheduler, pod: PodInfo) -> tuple[Verdict, str] | None:
    if pod.terminal:
        return "Finished", f"phase {pod.phase}"
    if not scheduler.responsible_for(pod) and not pod.node_name:
        return "NotOurs", f"left to {pod.scheduler_name or 'default-scheduler'}"
    if pod.deleting and not pod.node_name:
        return "Terminating", "being deleted (deletionTimestamp): not tried"
    if pod.gates:
        return "Gated", f"scheduling gates {', '.join(pod.gates)}: not tried until removed"
    return None


def explain(scheduler: Scheduler, pod: PodInfo, *, top: int = 3, closest: int = 5) -> Explanation:
    """Every node's fate for the pod, grouped; the nodes that come closest; the score of each
    plugin on the best nodes; its gang's state. The state is as the scheduler holds it now;
    a placed pod is taken off its node for the question (and put back)."""
    tier, workload = profile_of(scheduler, pod)
    result = Explanation(pod.full_name, "Pending", pod.scheduler_name, tier, workload)
    entry = scheduler.queue.entry(pod.key)
    if entry is not None:
        result.last_attempt, result.attempts = entry.last_message, entry.attempts
    early = _verdict_without_cycle(scheduler, pod)
    if early is not None:
        result.verdict, result.message = early
        result.node = pod.node_name
        return result
    profile = scheduler.profiles.get(pod.scheduler_name) or next(iter(scheduler.profiles.values()))
    cache = scheduler.cache
    counted_on = cache.node_of(pod.key)
    placed_on = pod.node_name or counted_on or ""
    result.gang = _gang(scheduler, pod)
    # A driver or an executor is decided by the scheduler's own paths for them (room for
    # every executor; a slot claimed): asked of those paths, in trials they undo.
    special: Placement | Failure | None = None
    if not placed_on:
        special = scheduler.driver_trial(pod)
        if special is None:
            special = scheduler.executor_claim(pod)
    assumed = cache.is_assumed(pod.key)  # a binding in flight: it must stay forgettable
    # Where NUMA-aware plugins charge it, to put it back on the same zones and CPUs.
    charged = [
        (plugin, found)
        for plugin in cache.observers
        if isinstance(plugin, NUMATopology) and (found := plugin.assignment_of(pod.key)) is not None
    ]
    taken = cache.remove_pod(pod.key) if counted_on else None
    # Room nominated for it (or for pods of lower priority) is free to it, as in the scheduler;
    # so is the room of its group's free reservation slots to an executor (one per node).
    lifted = scheduler.preempting.lift([pod])
    opened = _open_slots(scheduler, pod) if not placed_on else []
    # A bound pod (read from the API, spec.nodeName set) is asked about as if unbound: with
    # its node name kept, NodeName would reject every other node and nothing could compare.
    trial = replace(pod, node_name="") if pod.node_name else pod
    try:
        _explain_cycle(
            scheduler,
            profile,
            trial,
            result,
            top=top,
            closest=closest,
            placed_on=placed_on,
            special=special,
        )
    finally:
        for held, slot in opened:
            scheduler.reserving.hold(held, slot)
        scheduler.preempting.restore(lifted)
        if taken is not None:
            for plugin, assignment in charged:
                plugin.recount_as(pod.key, assignment)
        if taken is not None and assumed:
            cache.assume(taken, counted_on or placed_on)
        elif taken is not None:  # back as the API shows a bound pod
            cache.upsert_pod(replace(taken, node_name=counted_on or placed_on))
    return result


def _explain_cycle(
    scheduler: Scheduler,
    profile: Profile,
    pod: PodInfo,
    result: Explanation,
    *,
    top: int,
    closest: int,
    placed_on: str,
    special: Placement | Failure | None = None,
) -> None:
    nodes = scheduler.cache.nodes
    result.total_nodes = nodes.live
    if pod.unsupported:
        result.verdict = "Unsupported"
        result.message = f"{', '.join(pod.unsupported)} not supported by kubenexus-scheduler yet"
        return
    # The daemon's own answer, unchanged (a driver's or an executor's from their own paths).
    decision = special if special is not None else profile.find_node(pod, nodes)
    if special is None and isinstance(decision, Failure):
        decision = scheduler.as_posted(profile, pod, decision)
    run = _run_filters(profile, pod, nodes)
    if run.error:
        result.message = run.error
        return
    if run.refused is not None:
        result.pre_filter = run.refused
        result.message = decision.message if isinstance(decision, Failure) else run.refused[1]
        return
    result.feasible = int(np.count_nonzero(run.feasible))
    rejected = np.flatnonzero(run.alive & ~run.feasible)
    rejected = np.concatenate([rejected, np.flatnonzero(run.excluded)])
    # Closest first: fewest filters failed, then least short of the requests, then node order.
    order = rejected[
        np.lexsort((rejected, _shortfall(pod, nodes, rejected), run.failing[rejected]))
    ]
    result.groups = _groups(pod, nodes, run, order)
    result.notes += _role_notes(scheduler, pod)
    gang = result.gang
    if gang is not None and gang.problem and not placed_on:
        # The gang cannot even be sized: its members are not tried until that is settled.
        result.verdict = "Pending"
        result.message = gang.problem
    if isinstance(decision, Failure):
        result.verdict = "Pending"
        result.message = result.message or decision.message
        held = held_room(scheduler, pod)
        result.closest = _near_misses(pod, nodes, run, order, count=closest, held=held)
        return
    if result.message:  # its gang cannot be sized
        result.notes.append(f"alone it would go to {decision.node_name}")
        return
    result.verdict = "Placed" if placed_on else "Placeable"
    result.node = placed_on or decision.node_name
    if not placed_on and gang is not None and gang.min_member is not None:
        _gang_verdict(result, gang, gang.min_member, pod, decision.node_name)
    if placed_on and placed_on != decision.node_name:
        result.notes.append(
            f"placed on {placed_on}; with the cluster as it is now the scheduler would choose "
            f"{decision.node_name}"
        )
    result.scores = _scores(profile, pod, nodes, run, top=top, chosen=result.node)
    if result.scores and result.scores[0].node != decision.node_name:
        result.notes.append(
            f"scores recomputed here rank {result.scores[0].node} first, the scheduler chose "
            f"{decision.node_name}"
        )
    if not placed_on and result.last_attempt:
        result.notes.append(f"its last attempt: {result.last_attempt}")


def _gang_verdict(
    result: Explanation, gang: GangState, min_member: int, pod: PodInfo, alone: str
) -> None:
    """A pending gang member goes where the gang's plan puts it, or nowhere: all or nothing
    (fitting alone is not enough), and a member the plan leaves out waits on its own."""
    fit = gang.placed + sum(1 for m in gang.members if m.state == "Fits")
    own = next((m for m in gang.members if m.pod == pod.full_name), None)
    if fit < min_member:
        result.verdict = "Pending"
        result.message = f"pod group {gang.name}: only {fit} of minMember {min_member} members fit"
        if gang.blocking:
            result.message += f"; blocked by {', '.join(gang.blocking)}"
        result.node = ""
    elif own is not None and own.state == "FitsNowhere":  # beyond the quorum: on its own
        result.verdict = "Pending"
        result.message = own.message
        result.node = ""
    elif own is not None and own.node and own.node != alone:
        # Planned with its gang it goes where the members before it left room.
        result.node = own.node
    else:
        return
    result.notes.append(f"alone it would go to {alone}")


def _open_slots(scheduler: Scheduler, pod: PodInfo) -> list[tuple[Held, HeldSlot]]:
    """An executor's view: one free slot of its group's reservations per node opened (its
    room free to it), as the scheduler opens them while it tries the executor."""
    if pod.role != "executor" or not pod.group:
        return []
    opened: list[tuple[Held, HeldSlot]] = []
    seen: set[str] = set()
    for held in scheduler.reserving.book.of_gang(pod.group):
        if held.holding:
            for slot in held.first_free_per_node():
                if slot.spec.node not in seen:
                    seen.add(slot.spec.node)
                    scheduler.reserving.open(held, slot)
                    opened.append((held, slot))
    return opened


def _role_notes(scheduler: Scheduler, pod: PodInfo) -> list[str]:
    """A driver or an executor is not placed like a plain pod: say how (explain answers for
    the pod alone)."""
    if pod.role == "driver" and not pod.node_name:
        return [
            "a driver is placed only with room held for all its executors at once (asked here "
            "as the scheduler asks it)"
        ]
    if pod.role == "executor" and pod.group:
        slots = [
            f"{held.key} slot {slot.spec.name} on {slot.spec.node}"
            for held in scheduler.reserving.book.of_gang(pod.group)
            if held.holding
            for slot in held.free_slots()
        ]
        if slots:
            shown = ", ".join(slots[:5]) + (f" (+{len(slots) - 5} more)" if len(slots) > 5 else "")
            return [f"an executor claims a free slot of its group's reservations first: {shown}"]
    return []


def find_pod(scheduler: Scheduler, namespace: str, name: str) -> PodInfo | None:
    """A pod the scheduler knows (queued, or counted on a node), by namespace and name."""
    for entry in scheduler.queue.entries():
        if entry.pod.namespace == namespace and entry.pod.name == name:
            return entry.pod
    cache = scheduler.cache
    for node in cache.nodes.names_in_order():
        for pod in cache.pods_on(node):
            if pod.namespace == namespace and pod.name == name:
                return pod
    return None


def pod_index(scheduler: Scheduler) -> dict[str, PodInfo]:
    """Every pod the scheduler knows by namespace/name, read once (queued pods first, as
    ``find_pod`` finds them): for callers that look many pods up."""
    found: dict[str, PodInfo] = {}
    cache = scheduler.cache
    for node in cache.nodes.names_in_order():
        for pod in cache.pods_on(node):
            found.setdefault(pod.full_name, pod)
    for entry in scheduler.queue.entries():
        found[entry.pod.full_name] = entry.pod
    return found


def pods_pending(scheduler: Scheduler) -> Sequence[PodInfo]:
    return [entry.pod for entry in scheduler.queue.entries()]


# --------------------------------------------------------------------------- decisions, told


def placement_detail(
    pod: PodInfo, annotations: Mapping[str, str | None], node: NodeInfo | None
) -> str:
    """What was chosen within the node, for the Scheduled Event: the NUMA zone(s), the CPU set,
    the GPUs (their kind; with device-plugin GPUs the kubelet picks the devices). "" when the
    node was all that was chosen."""
    parts = []
    zones = annotations.get(keys.NUMA_ZONES)
    if zones:
        parts.append(f"NUMA zone{'s' if ',' in zones else ''} {zones}")
    cpus = annotations.get(keys.CPU_SET)
    if cpus:
        parts.append(f"CPUs {cpus}")
    gpus = pod.requests.get(keys.GPU_NVIDIA, 0)
    if gpus:
        kinds = sorted(_qualifying_kinds(pod, node))
        kind = f" {'/'.join(kinds)}" if kinds else ""
        vram = pod.annotations.get(keys.VRAM_REQUEST, "")
        each = f" ({vram} VRAM each)" if vram else ""
        parts.append(f"{gpus}{kind} GPU{'s' if gpus != 1 else ''}{each}")
    return ", ".join(parts)


def _qualifying_kinds(pod: PodInfo, node: NodeInfo | None) -> set[str]:
    """The kinds of the node's GPUs that can hold the pod's demand (VRAM each, products): the
    kubelet picks device-plugin GPUs, so only the kinds that qualify are known to be its."""
    if node is None or node.gpus is None:
        return set()
    try:
        demand = gpu_demand(pod.requests, pod.annotations)
    except InvalidInputError:
        demand = None
    return {
        d.family or d.product
        for d in node.gpus.devices
        if (d.family or d.product)
        and (demand is None or (demand.accepts(d) and (not d.memory or d.memory >= demand.vram)))
    }


# The score-breakdown annotation's ceiling: the API server allows 256 KiB of annotations per
# pod in all, and an annotation for people must not be what pushes a pod over.
SCORE_BREAKDOWN_MAX_BYTES: Final = 8 * 1024


def score_breakdown(
    placement: Placement, nodes: NodeTable, top: int = 3, max_bytes: int = SCORE_BREAKDOWN_MAX_BYTES
) -> str:
    """The score-breakdown annotation (JSON): the chosen node and the best others (so the
    runner-up), each with each plugin's normalized score, weight and weighted score. Needs a
    profile that records scores (``Profile.record_scores``). At most ``max_bytes``: fewer
    nodes, then the totals only, when the full breakdown is bigger."""
    record = placement.scores
    if record is None:
        return json.dumps(
            {"node": placement.node_name, "nodes": [], "note": "no scores to compare"},
            separators=(",", ":"),
        )
    feasible = np.flatnonzero(record.feasible)
    order = feasible[np.lexsort((record.candidates[feasible], -record.total[feasible]))]
    for count, with_plugins in ((max(top, 2), True), (2, True), (1, True), (max(top, 2), False)):
        found = []
        for index in order[:count]:
            entry: dict[str, object] = {
                "node": nodes.names[int(record.candidates[index])],
                "total": round(float(record.total[index]), 2),
            }
            if with_plugins:
                entry["plugins"] = {
                    name: {
                        "score": round(float(scores[index]), 2),
                        "weight": weight,
                        "weighted": round(float(weight * scores[index]), 2),
                    }
                    for name, weight, scores in record.plugins
                }
            found.append(entry)
        text = json.dumps({"node": placement.node_name, "nodes": found}, separators=(",", ":"))
        if len(text.encode()) <= max_bytes:
            return text
    return json.dumps(
        {"node": placement.node_name, "nodes": [], "note": f"over {max_bytes} bytes: left out"},
        separators=(",", ":"),
    )
