"""Preemption as kube-scheduler's DefaultPreemption decides it: when a pod fits nowhere, find a
node where evicting pods of lower priority makes it fit, with the fewest and least important
victims, and keep that room for it (its nomination) until it is bound.

Decision only: the shell evicts the victims (a ``DisruptionTarget`` condition, then deletion)
and writes the nomination; the victims leave the cache when their deletion is seen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, MutableSet, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.api.pod_rules import LabelSelector
from kubenexus.framework import NodeTable, Placement, Profile
from kubenexus.framework.profiles import ProfileBook
from kubenexus.plugins.node_resources_fit import insufficient_reason

if TYPE_CHECKING:
    from kubenexus.scheduler.cache import ClusterCache


@dataclass(frozen=True, slots=True)
class DisruptionBudget:
    """A PodDisruptionBudget as preemption reads it: which pods it covers, how many of them may
    be disrupted now (``status.disruptionsAllowed``)."""

    namespace: str
    name: str
    selector: LabelSelector | None  # None: covers no pod
    disruptions_allowed: int

    def covers(self, pod: PodInfo) -> bool:
        return (
            self.selector is not None
            and pod.namespace == self.namespace
            and bool(self.selector.requirements)  # an empty selector covers no pod (policy/v1)
            and self.selector.matches(pod.labels)
        )


@dataclass(slots=True)
class Budgets:
    """The PodDisruptionBudgets of the cluster, fed by the shell; indexed by namespace and by
    one label their selector requires, so a victim is checked against the budgets that can
    cover it."""

    by_key: dict[str, DisruptionBudget] = field(default_factory=dict)
    _by_label: dict[tuple[str, str, str], MutableSet[str]] = field(default_factory=dict)
    _unindexed: dict[str, MutableSet[str]] = field(default_factory=dict)

    def set(self, budget: DisruptionBudget) -> None:
        self.remove(budget.namespace, budget.name)
        key = f"{budget.namespace}/{budget.name}"
        self.by_key[key] = budget
        self._bucket(budget).add(key)

    def remove(self, namespace: str, name: str) -> None:
        old = self.by_key.pop(f"{namespace}/{name}", None)
        if old is not None:
            self._bucket(old).discard(f"{namespace}/{name}")

    def _bucket(self, budget: DisruptionBudget) -> MutableSet[str]:
        equality = budget.selector.equality_keys() if budget.selector is not None else ()
        if equality:
            label, value = equality[0]
            return self._by_label.setdefault((budget.namespace, label, value), set())
        return self._unindexed.setdefault(budget.namespace, set())

    def _covering(self, pod: PodInfo) -> list[str]:
        found = list(self._unindexed.get(pod.namespace, ()))
        for label, value in pod.labels.items():
            found.extend(self._by_label.get((pod.namespace, label, value), ()))
        return [key for key in found if self.by_key[key].covers(pod)]

    def violating(self, victims: list[PodInfo]) -> tuple[list[PodInfo], list[PodInfo]]:
        """Split ``victims`` (in eviction order) into those whose eviction would break a budget
        and the rest, spending each budget's allowance as kube does."""
        if not self.by_key:
            return [], list(victims)
        allowed: dict[str, int] = {}
        breaking: list[PodInfo] = []
        keeping: list[PodInfo] = []
        for victim in victims:
            broken = False
            for key in self._covering(victim) if victim.labels else ():
                left = allowed.get(key, self.by_key[key].disruptions_allowed) - 1
                allowed[key] = left
                if left < 0:
                    broken = True
            (breaking if broken else keeping).append(victim)
        return breaking, keeping


# Pods at or above this priority (system-cluster-critical, system-node-critical) are never
# evicted to make room.
SYSTEM_CRITICAL: Final = 2_000_000_000
_INT32_OFFSET: Final = 2**31  # kube adds MaxInt32 + 1 to each priority it sums


class PriorityUsage:
    """Per priority, the requests counted on each node (kept with the cache), so the room
    that evicting every pod below a priority would free is a sum of a few arrays."""

    def __init__(self) -> None:
        self._by_priority: dict[int, dict[str, npt.NDArray[np.int64]]] = {}
        self._pods: dict[int, int] = {}  # pods counted per priority (a level empties: dropped)

    def count(self, pod: PodInfo, slot: int, sign: int) -> None:
        left = self._pods.get(pod.priority, 0) + sign
        if left <= 0:
            self._pods.pop(pod.priority, None)
            self._by_priority.pop(pod.priority, None)
            return
        self._pods[pod.priority] = left
        rows = self._by_priority.setdefault(pod.priority, {})
        for name, amount in pod.requests.items():
            row = rows.get(name)
            if row is None or row.size <= slot:
                grown = np.zeros(max(64, 2 * (slot + 1)), dtype=np.int64)
                if row is not None:
                    grown[: row.size] = row
                row = rows[name] = grown
            row[slot] += sign * amount

    def levels(self, below: int) -> list[int]:
        """The priorities in use lower than ``below``, lowest first."""
        return sorted(p for p in self._by_priority if p < below)

    def at(self, priority: int, resource: str, size: int) -> npt.NDArray[np.int64]:
        """Per slot (``[:size]``), the requests of the pods of exactly this priority."""
        found = np.zeros(size, dtype=np.int64)
        row = self._by_priority.get(priority, {}).get(resource)
        if row is not None:
            n = min(size, row.size)
            found[:n] = row[:n]
        return found


@dataclass(frozen=True, slots=True)
class Candidate:
    """A node where evicting ``victims`` (most important first) makes room for the pod."""

    slot: int
    node: str
    victims: tuple[PodInfo, ...]
    budget_violations: int

    def rank(self) -> tuple[int, int, int, int, float]:
        """kube's pickOneNodeForPreemption order, lower first: fewest budget violations, lowest
        highest victim priority, smallest priority sum, fewest victims, latest start of the
        earliest-started among the highest-priority victims."""
        if not self.victims:
            return (self.budget_violations, -(2**63), 0, 0, 0.0)
        highest = max(v.priority for v in self.victims)
        total = sum(v.priority + _INT32_OFFSET for v in self.victims)
        earliest = min(
            (v.started if v.started is not None else float("inf"))
            for v in self.victims
            if v.priority == highest
        )
        return (self.budget_violations, highest, total, len(self.victims), -earliest)


def tenant_rank(profiles: ProfileBook) -> Callable[[Candidate], tuple[object, ...]]:
    """The order victims are taken in for a gang (issue #14): pods there to be preempted
    (preemptible, backfill) first, then those of a lower tenant tier, then kube's order
    (lower priority, then the fewest pods)."""

    def rank(candidate: Candidate) -> tuple[object, ...]:
        victims = [profiles.of(v) for v in candidate.victims]
        firm = sum(1 for v in victims if not v.preemptible)
        tier = max((v.tier_ordinal for v in victims), default=0)
        return (firm, tier, *candidate.rank())

    return rank


def more_important_first(pods: list[PodInfo]) -> list[PodInfo]:
    """kube's MoreImportantPod order: higher priority first, then the earlier started."""
    return sorted(
        pods,
        key=lambda p: (-p.priority, p.started if p.started is not None else float("inf")),
    )


def reprieve(
    potential: list[PodInfo], budgets: Budgets, give_back: Callable[[PodInfo], bool]
) -> tuple[list[PodInfo], int]:
    """kube's victim selection on one node, every potential victim gone: they are given back
    — those whose eviction would break a budget first, then the others, each most important
    first — as long as the pod still fits. ``give_back`` gives one back and says whether the
    pod still fits (taking it back if not). The victims left, in that order, and how many of
    them break a budget."""
    breaking, keeping = budgets.violating(more_important_first(potential))
    victims: list[PodInfo] = []
    violations = 0
    for group, counts in ((breaking, True), (keeping, False)):
        for candidate in group:
            if not give_back(candidate):
                victims.append(candidate)
                violations += counts
    return victims, violations


def reprieve_by_requests(
    pod: PodInfo,
    free: dict[str, int],
    potential: list[PodInfo],
    budgets: Budgets,
) -> tuple[tuple[PodInfo, ...], int] | None:
    """``reprieve`` by requests alone (``free`` is the node's room with every potential victim
    gone); None when even evicting them all leaves no room."""
    if any(free.get(name, 0) < amount for name, amount in pod.requests.items()):
        return None

    def give_back(candidate: PodInfo) -> bool:
        if any(
            free.get(name, 0) - candidate.requests.get(name, 0) < amount
            for name, amount in pod.requests.items()
        ):
            return False
        for name, amount in candidate.requests.items():
            free[name] = free.get(name, 0) - amount
        return True

    victims, violations = reprieve(potential, budgets, give_back)
    return tuple(victims), violations


# Filters whose verdict no eviction changes (kube: UnschedulableAndUnresolvable): nodes they
# reject are never candidates.
STATIC_FILTERS: Final = frozenset(
    {"NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity"}
)
NOMINATED_PREFIX: Final = "nominated:"
# At most this many candidates get their victims chosen (the cheapest by priority first).
EXACT_CANDIDATES: Final = 100
# Who restricts a dry run to one node (as a pre-filter's node limit would).
DRY_RUN: Final = "DefaultPreemption"


@dataclass(slots=True)
class Nomination:
    """Room made for a pod on ``node``: held by a stand-in counted there (so pods of lower
    priority do not take it) until the pod is bound, deleted or gives up."""

    pod: PodInfo
    node: str
    # The victims evicted for it, while they are still counted (it waits for them).
    victims: set[str] = field(default_factory=set)

    @property
    def stand_in(self) -> PodInfo:
        return replace(
            self.pod,
            uid=f"{NOMINATED_PREFIX}{self.pod.key}",
            node_name=self.node,
            phase="Running",
            # Room only: not a member of its gang (the quorum counts placed members), not a
            # driver or executor.
            gang="",
            gang_min=None,
            role="",
            app="",
        )


# kube-scheduler v1.36's post-filter clause for a pod that preempted nobody: its DRA plugin
# speaks first (no claims are deallocated here either), then DefaultPreemption says why.
POST_FILTER_PREFIX: Final = "no new claims to deallocate, preemption: "
NOT_HELPFUL: Final = "Preemption is not helpful for scheduling"
NO_VICTIMS: Final = "No preemption victims found for incoming pod"


def _clause(total: int, counts: Counter[str]) -> str:
    parts = sorted(f"{n} {reason}" for reason, n in counts.items() if n)
    return f"{POST_FILTER_PREFIX}0/{total} nodes are available: {', '.join(parts)}."


class Preempting:
    """Chooses victims for pods that fit nowhere, and keeps the nominations."""

    def __init__(self, cache: ClusterCache, budgets: Budgets) -> None:
        self.cache = cache
        self.budgets = budgets
        self.usage = PriorityUsage()
        self.nominations: dict[str, Nomination] = {}
        # Victims chosen and not gone yet → the pod they make room for (never chosen twice).
        self.evicting: dict[str, str] = {}

    # ------------------------------------------------------------------ accounting (a cache
    # observer: what each priority uses on each node)

    name: Final = "Preemption"

    def node_upserted(self, nodes: NodeTable, slot: int, pods: Sequence[PodInfo]) -> None:
        pass  # its pods stay counted

    def node_removed(self, nodes: NodeTable, slot: int) -> None:
        pass  # its pods were uncounted first

    def pod_counted(self, nodes: NodeTable, pod: PodInfo, slot: int) -> None:
        self.usage.count(pod, slot, 1)

    def pod_uncounted(self, nodes: NodeTable, pod: PodInfo, slot: int) -> None:
        self.usage.count(pod, slot, -1)

    def pod_gone(self, key: str) -> None:
        """A pod left the cluster (or its count): a victim leaves its nomination's wait."""
        preemptor = self.evicting.pop(key, None)
        if preemptor is not None:
            nomination = self.nominations.get(preemptor)
            if nomination is not None:
                nomination.victims.discard(key)

    # ------------------------------------------------------------------ nominations

    def nominate(self, pod: PodInfo, node: str, victims: tuple[PodInfo, ...] = ()) -> None:
        self.clear(pod.key)
        nomination = Nomination(pod, node, {v.key for v in victims})
        self.nominations[pod.key] = nomination
        for victim in victims:
            self.evicting[victim.key] = pod.key
        if node in self.cache.nodes:
            self.cache.upsert_pod(nomination.stand_in)

    def clear(self, key: str) -> bool:
        """Forget the pod's nomination (bound, deleted, gave up); whether it had one."""
        nomination = self.nominations.pop(key, None)
        if nomination is None:
            return False
        self.cache.remove_pod(nomination.stand_in.key)
        for victim in nomination.victims:
            self.evicting.pop(victim, None)
        return True

    def waiting_for_victims(self, key: str) -> bool:
        """Whether room is being made for the pod: its victims are still there, or (kube's
        rule, which also holds after a restart) pods of lower priority are terminating on its
        nominated node."""
        nomination = self.nominations.get(key)
        if nomination is None:
            return False
        if any(v in self.cache for v in nomination.victims):
            return True
        slot = self.cache.nodes.slot_of(nomination.node)
        return slot is not None and any(
            other.deleting and other.priority < nomination.pod.priority
            for other in self.cache.counted_on(slot)
        )

    def resume(self, pod: PodInfo) -> None:
        """A pending pod carries a nomination from an earlier run or before a restart
        (status.nominatedNodeName): its room is held again, and its victims' leaving counts
        (``waiting_for_victims``). Nothing while its node is unknown."""
        if (
            pod.nominated_node
            and pod.key not in self.nominations
            and pod.nominated_node in self.cache.nodes
        ):
            self.nominate(pod, pod.nominated_node)

    def lift(self, pods: Sequence[PodInfo]) -> list[Nomination]:
        """Take out the stand-ins the pods may use the room of while they are tried: their
        own, and those of pods of lower priority (kube counts only nominated pods of at least
        the incoming pod's priority)."""
        if not self.nominations:
            return []
        keys = {pod.key for pod in pods}
        highest = max(pod.priority for pod in pods)
        lifted = [
            n for key, n in self.nominations.items() if key in keys or n.pod.priority < highest
        ]
        for nomination in lifted:
            self.cache.remove_pod(nomination.stand_in.key)
        return lifted

    def restore(self, lifted: list[Nomination]) -> None:
        for nomination in lifted:
            if (
                self.nominations.get(nomination.pod.key) is nomination
                and nomination.node in self.cache.nodes
                and nomination.stand_in.key not in self.cache
            ):
                self.cache.upsert_pod(nomination.stand_in)

    # ------------------------------------------------------------------ the search

    def find(
        self, profile: Profile, pod: PodInfo, *, tenant_aware: bool = False
    ) -> Candidate | None:
        """The node where evicting pods of lower priority makes room for ``pod``, with the
        victims, chosen as kube's DefaultPreemption would; None when there is none."""
        nodes = self.cache.nodes
        possible = profile.passing(pod, nodes, STATIC_FILTERS)
        level = self._lowest_sufficient_level(pod, nodes)
        if level is None:
            return None
        possible &= level >= 0
        slots = np.flatnonzero(possible)
        # The candidates weighed: kube's sample size, the nodes whose victims can be of the
        # lowest priority first (kube samples at random; its order then ranks them).
        limit = min(p.candidates(nodes.live) for p in profile.post_filters)
        slots = slots[np.argsort(level[slots], kind="stable")]
        order: Callable[[Candidate], tuple[object, ...]] = (
            tenant_rank(self.cache.nodes.profiles) if tenant_aware else Candidate.rank
        )
        # In batches of the cheapest nodes first: the first batch usually holds the answer;
        # when every node of a batch fails the check with every filter (an affinity rule the
        # requests cannot see), the search goes on, as kube's goes on until it has candidates.
        batch = max(1, min(limit, EXACT_CANDIDATES))
        for start in range(0, slots.size, batch):
            candidates: list[Candidate] = []
            for slot in slots[start : start + batch]:
                found = self._by_requests(pod, int(slot))
                if found is not None:
                    candidates.append(found)
            for candidate in sorted(candidates, key=order):
                exact = self._verified(profile, pod, candidate)
                if exact is not None:
                    return exact
        return None

    def why_not(self, profile: Profile, pod: PodInfo, hopeless: npt.NDArray[np.bool_]) -> str:
        """kube's clause when preemption found no node: per node, "not helpful" where no
        eviction can help (``hopeless``), "no victims" where no pod of lower priority runs,
        else why the pod still does not fit with all of those gone: the resources still short
        (over all nodes at once), or, where freeing them would make room by requests, a dry
        run with every filter (the first ``EXACT_CANDIDATES`` such nodes)."""
        nodes = self.cache.nodes
        size = nodes.size
        live = nodes.valid[:size]
        counts: Counter[str] = Counter()
        counts[NOT_HELPFUL] = int(np.count_nonzero(live & hopeless[:size]))
        potential = live & ~hopeless[:size]
        lower = self.usage.levels(pod.priority)
        below = np.zeros(size, dtype=np.int64)
        for priority in lower:
            below += self.usage.at(priority, keys.PODS, size)
        counts[NO_VICTIMS] = int(np.count_nonzero(potential & (below == 0)))
        with_victims = potential & (below > 0)
        if not with_victims.any():
            return _clause(nodes.live, counts)
        # Freeing every pod of lower priority: what each node would then have.
        short_any = np.zeros(size, dtype=np.bool_)
        for name, amount in pod.requests.items():
            row = nodes.resource_row(name)
            freed = nodes.free[row, :size].copy() if row is not None else np.zeros(size, np.int64)
            for priority in lower:
                freed += self.usage.at(priority, name, size)
            short = with_victims & (freed < amount)
            counts[insufficient_reason(name)] += int(np.count_nonzero(short))
            short_any |= short
        dry_runs = 0
        for slot in np.flatnonzero(with_victims & ~short_any).tolist():
            victims = self._potential_victims(pod, slot)
            if not victims:
                counts[NO_VICTIMS] += 1
            elif dry_runs < EXACT_CANDIDATES:
                dry_runs += 1
                counts.update(self._left_without(profile, pod, slot, victims))
            else:
                counts[NO_VICTIMS] += 1  # not weighed: said as kube says most often
        return _clause(nodes.live, counts)

    def _left_without(
        self, profile: Profile, pod: PodInfo, slot: int, gone: list[PodInfo]
    ) -> Counter[str]:
        """Why the pod does not fit on the node with ``gone`` evicted (a dry run)."""
        node = self.cache.nodes.names[slot]
        removed = [p for p in gone if self.cache.remove_pod(p.key) is not None]
        try:
            found = profile.find_node(pod, self.cache.nodes, only=(DRY_RUN, frozenset({node})))
        finally:
            for victim in removed:
                self.cache.upsert_pod(victim)
        if isinstance(found, Placement) or found.diagnosis is None:
            return Counter({NO_VICTIMS: 1})  # it would fit: a rule of ours kept the victims
        return Counter(
            {reason: 1 for reason in found.diagnosis.reasons if not reason.endswith(f"[{DRY_RUN}]")}
        )

    def _lowest_sufficient_level(
        self, pod: PodInfo, nodes: NodeTable
    ) -> npt.NDArray[np.int64] | None:
        """Per slot, the index of the lowest priority level such that evicting every pod up
        to it makes room for the pod by requests (its victims' highest priority is then that
        level: every pod above it is given back); -1 where even all of them are not enough.
        None when the pod asks for a resource no node has."""
        size = nodes.size
        levels = self.usage.levels(pod.priority)
        room: dict[str, npt.NDArray[np.int64]] = {}
        for name in pod.requests:
            row = nodes.resource_row(name)
            if row is None:
                return None
            room[name] = nodes.free[row, :size].copy()
        found = np.full(size, -1, dtype=np.int64)
        for index, priority in enumerate(levels):
            enough = np.ones(size, dtype=np.bool_)
            for name, amount in pod.requests.items():
                room[name] += self.usage.at(priority, name, size)
                enough &= room[name] >= amount
            found[enough & (found < 0)] = index
        return found

    def _potential_victims(self, pod: PodInfo, slot: int) -> list[PodInfo]:
        """The pods on the node the pod may evict: of lower priority, and, for a gang member,
        only if its whole gang may go (else the node's other pods are tried instead)."""
        found = []
        for other in self.cache.counted_on(slot):
            if not self._evictable(pod, other):
                continue
            if other.gang and not all(
                self._evictable(pod, mate) for mate in self.cache.gang_members(other.gang)
            ):
                continue
            found.append(other)
        return found

    def _by_requests(self, pod: PodInfo, slot: int) -> Candidate | None:
        potential = self._potential_victims(pod, slot)
        if not potential:
            return None
        nodes = self.cache.nodes
        free: dict[str, int] = {}
        for name in pod.requests:
            row = nodes.resource_row(name)
            free[name] = 0 if row is None else int(nodes.free[row, slot])
        for victim in potential:
            for name in pod.requests:
                free[name] += victim.requests.get(name, 0)
        chosen = reprieve_by_requests(pod, free, potential, self.budgets)
        if chosen is None:
            return None
        victims, violations = chosen
        return Candidate(slot, nodes.names[slot], self._with_their_gangs(victims), violations)

    def _evictable(self, pod: PodInfo, other: PodInfo) -> bool:
        return (
            other.priority < pod.priority
            and other.priority < SYSTEM_CRITICAL
            and other.key not in self.evicting
            # Room nominated for another pod is not a pod; a reserved slot is weighed as a
            # pod of its driver's priority (its reservation then ends).
            and not other.key.startswith(NOMINATED_PREFIX)
            and not self.cache.is_assumed(other.key)
        )

    def _with_their_gangs(self, victims: tuple[PodInfo, ...]) -> tuple[PodInfo, ...]:
        """A gang member is evicted with its whole gang (never a gang left below its
        quorum): the victims with their gang-mates wherever they run. Only members of gangs
        whose every member may be evicted are potential victims (``_potential_victims``)."""
        gangs = {v.gang for v in victims if v.gang}
        if not gangs:
            return victims
        chosen = {v.key for v in victims}
        whole = list(victims)
        for gang in sorted(gangs):
            for mate in self.cache.gang_members(gang):
                if mate.key not in chosen:
                    chosen.add(mate.key)
                    whole.append(mate)
        return tuple(whole)

    def _fits_without(self, profile: Profile, pod: PodInfo, node: str, gone: list[PodInfo]) -> bool:
        """Whether every filter lets the pod onto ``node`` with ``gone`` evicted (a dry run on
        the live cache, undone before returning)."""
        removed = [p for p in gone if self.cache.remove_pod(p.key) is not None]
        try:
            found = profile.find_node(pod, self.cache.nodes, only=(DRY_RUN, frozenset({node})))
            return isinstance(found, Placement)
        finally:
            for victim in removed:
                self.cache.upsert_pod(victim)

    def _verified(self, profile: Profile, pod: PodInfo, candidate: Candidate) -> Candidate | None:
        """The candidate checked with every filter (NUMA zones, GPUs, ports, pod rules…); when
        requests alone chose wrongly, the victims are chosen again with every filter."""
        on_node = [v for v in candidate.victims if v.node_name == candidate.node]
        if on_node and self._fits_without(profile, pod, candidate.node, on_node):
            return candidate
        potential = self._potential_victims(pod, candidate.slot)
        if not self._fits_without(profile, pod, candidate.node, potential):
            return None
        evicted = list(potential)

        def give_back(other: PodInfo) -> bool:
            evicted.remove(other)
            if self._fits_without(profile, pod, candidate.node, evicted):
                return True
            evicted.append(other)
            return False

        _, violations = reprieve(potential, self.budgets, give_back)
        ordered = tuple(v for v in more_important_first(potential) if v in evicted)
        whole = self._with_their_gangs(ordered)
        return Candidate(candidate.slot, candidate.node, whole, violations)
