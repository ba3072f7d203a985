"""InterPodAffinity: a pod's required (anti-)affinity to the pods already placed, and theirs
to it, as kube-scheduler decides it; its preferred terms (and the placed pods' terms that
select it) score the nodes.

A node is judged by its topology domain: the nodes sharing its value of a term's
``topologyKey``. Per-node counts of matching pods come from the pod index (kept up to date as
pods are counted, assumed ones too); they are summed per domain with one ``np.bincount`` over
the label column's integer codes, so a pod's attempt costs a few rows of node-sized numpy
work, never a walk over the pods.

Filter, in kube-scheduler's order (a node is reported under the first rule it breaks):

1. the pod's required affinity: every term's topologyKey on the node, and in that domain a
   pod matching *all* the terms; unless no pod matches them anywhere and the pod matches them
   itself (the first pod of a self-affine group);
2. the pod's required anti-affinity: no pod any term matches in that term's domain;
3. placed pods' required anti-affinity (symmetry): no placed pod whose term matches the pod in
   the term's domain around it.

Score: the pod's preferred terms (+weight per matching pod, -weight for anti-affinity), plus
the placed pods' preferred terms that match the pod, plus their required affinity terms at
``hardPodAffinityWeight``, each counted over the domain of the pod it belongs to; normalized
to 0..100 between the lowest and highest sum over the feasible nodes (kube's NormalizeScore).
Pods being deleted still count, as in kube-scheduler.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import numpy as np
import numpy.typing as npt
from pydantic import Field

from kubenexus.api.objects import PodInfo
from kubenexus.api.pod_rules import LabelSelector, PodAffinity, PodAffinityTerm
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
from kubenexus.framework.node_table import MISSING, take
from kubenexus.framework.pod_index import (
    PREFERRED,
    PREFERRED_ANTI,
    REQUIRED,
    REQUIRED_ANTI,
    CarriedTerm,
    CountArray,
    PodIndex,
)
from kubenexus.framework.runtime import FEASIBLE
from kubenexus.plugins.args import PluginArgs

AFFINITY_REASON: Final = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY_REASON: Final = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY_REASON: Final = "node(s) didn't satisfy existing pods anti-affinity rules"

_STATE: Final = "InterPodAffinity/pre-filter"
_NO_AFFINITY: Final = PodAffinity()
_CACHE_LIMIT: Final = 4096

Counts = npt.NDArray[np.integer[Any]]


class InterPodAffinityArgs(PluginArgs):
    # Weight of a placed pod's *required* affinity term that selects the incoming pod, in its
    # score (0 leaves them out).
    hard_pod_affinity_weight: int = Field(default=1, ge=0, le=100, strict=True)
    # Leave the placed pods' terms out of the score of a pod that has no preferred terms.
    ignore_preferred_terms_of_existing_pods: bool = Field(default=False, strict=True)


@dataclass(frozen=True, slots=True)
class _Verdicts:
    """Per node slot, which of the three rules it breaks (None: no node breaks it)."""

    affinity_fails: BoolArray | None
    anti_fails: BoolArray | None
    existing_fails: BoolArray | None
    # Nodes passing all three (None: every node).
    passing: BoolArray | None


@dataclass(frozen=True, slots=True)
class _Carried:
    """The terms placed pods carry that select one pod (namespace + labels), by kind."""

    required_anti: tuple[CarriedTerm, ...]
    # Score contributions: (signed weight, term), the hard weight already applied.
    scoring: tuple[tuple[int, CarriedTerm], ...]


_NOTHING_CARRIED: Final = _Carried((), ())


@dataclass(frozen=True, slots=True)
class _AttemptState:
    verdicts: _Verdicts
    carried: _Carried


# ---------------------------------------------------------------------- domain arithmetic


def _domain_counts(
    domains: _Domains, nodes: NodeTable, key: str, per_slot: Counts
) -> tuple[BoolArray, IntArray]:
    """(which nodes carry the key, per node the count summed over the node's domain)."""
    size = nodes.size
    column = nodes.label_column(key)
    codes = column.codes[:size]
    has: BoolArray = codes != MISSING
    counts = per_slot[:size]
    if domains.one_node_each(nodes, key, codes, has):  # e.g. hostname: no sums needed
        return has, np.where(has, counts, 0).astype(np.int64)
    sums = np.zeros(size, dtype=np.int64)
    if counts.any() and has.any():
        where = codes[has]
        by_domain = np.bincount(where, weights=counts[has], minlength=column.width)
        sums[has] = by_domain[where].astype(np.int64)
    return has, sums


class _Domains:
    """Per label key, whether no two nodes share a value (hostname: each node its own domain,
    so per-node counts need no summing), kept until the table's labels or nodes change."""

    def __init__(self) -> None:
        self._nodes: NodeTable | None = None
        self._known: dict[str, tuple[int, int, bool]] = {}

    def one_node_each(self, nodes: NodeTable, key: str, codes: Counts, has: BoolArray) -> bool:
        if self._nodes is not nodes:
            self._nodes, self._known = nodes, {}
        found = self._known.get(key)
        if found is not None and found[:2] == (nodes.topology_generation, nodes.size):
            return found[2]
        present = codes[has]
        injective = bool(np.unique(present).size == present.size)
        self._known[key] = (nodes.topology_generation, nodes.size, injective)
        return injective


def _all_terms_counts(index: PodIndex, terms: tuple[PodAffinityTerm, ...]) -> CountArray | None:
    """Per slot, how many placed pods match *every* term (kube counts only such pods for a
    pod's required affinity); None when no pod can."""
    if len(terms) == 1:
        return index.term_counts(terms[0])
    selector = LabelSelector()
    namespaces: frozenset[str] | None = None  # None: every namespace
    for term in terms:
        if term.selector is None:
            return None
        selector = selector.with_requirements(term.selector.requirements)
        chosen = index.namespaces_of(term)
        if chosen is not None:
            namespaces = chosen if namespaces is None else namespaces & chosen
    return index.matching_in(namespaces, selector)


def _self_matches(
    pod: PodInfo, terms: Iterable[PodAffinityTerm], ns_labels: Mapping[str, str]
) -> bool:
    return all(term.matches(pod.namespace, pod.labels, ns_labels) for term in terms)


class InterPodAffinity:
    name: ClassVar[str] = "InterPodAffinity"
    # A matching pod placed (or relabelled) anywhere, a blocking pod gone, a node joined or
    # relabelled into a domain, a namespace relabelled into a namespaceSelector.
    cluster_events: ClassVar[ClusterEvent] = (
        ClusterEvent.POD_ADDED
        | ClusterEvent.POD_REMOVED
        | ClusterEvent.NODE_ADDED
        | ClusterEvent.NODE_LABELS
        | ClusterEvent.NAMESPACE_LABELS
    )

    def __init__(self, args: InterPodAffinityArgs | None = None) -> None:
        self.args = args or InterPodAffinityArgs()
        # Pods of one workload share namespace and labels: which carried terms select them is
        # remembered until a term appears or goes (or the index is resized).
        self._carried_cache: dict[tuple[object, ...], _Carried] = {}
        self._domains = _Domains()

    # ------------------------------------------------------------------ placed pods' terms

    def _carried(self, pod: PodInfo, nodes: NodeTable) -> _Carried:
        index = nodes.pods
        if not index.carries_terms:
            return _NOTHING_CARRIED
        ns_labels = index.labels_of_namespace(pod.namespace)
        key = (
            index.carried_generation,
            nodes.valid.size,  # the index grows with the table, replacing its arrays
            pod.namespace,
            frozenset(pod.labels.items()),
            frozenset(ns_labels.items()),
        )
        found = self._carried_cache.get(key)
        if found is not None:
            return found
        required_anti: list[CarriedTerm] = []
        scoring: list[tuple[int, CarriedTerm]] = []
        hard = self.args.hard_pod_affinity_weight
        for carried in index.carried_terms_for(pod.labels):
            if not carried.term.matches(pod.namespace, pod.labels, ns_labels):
                continue
            if carried.kind == REQUIRED_ANTI:
                required_anti.append(carried)
            elif carried.kind == REQUIRED:
                if hard > 0:
                    scoring.append((hard, carried))
            elif carried.kind == PREFERRED:
                scoring.append((carried.weight, carried))
            elif carried.kind == PREFERRED_ANTI:
                scoring.append((-carried.weight, carried))
        found = _Carried(tuple(required_anti), tuple(scoring))
        if len(self._carried_cache) >= _CACHE_LIMIT:
            self._carried_cache.clear()
        self._carried_cache[key] = found
        return found

    # ------------------------------------------------------------------ filter

    def _verdicts(self, pod: PodInfo, nodes: NodeTable, carried: _Carried) -> _Verdicts:
        affinity = pod.pod_affinity or _NO_AFFINITY
        index = nodes.pods
        affinity_fails = self._affinity_fails(pod, nodes, affinity.required)
        anti_fails: BoolArray | None = None
        for term in affinity.required_anti:
            has, sums = _domain_counts(
                self._domains, nodes, term.topology_key, index.term_counts(term)
            )
            hit = has & (sums > 0)
            anti_fails = hit if anti_fails is None else anti_fails | hit
        existing_fails: BoolArray | None = None
        for placed in carried.required_anti:
            has, sums = _domain_counts(
                self._domains, nodes, placed.term.topology_key, placed.counts
            )
            hit = has & (sums > 0)
            existing_fails = hit if existing_fails is None else existing_fails | hit
        passing: BoolArray | None = None
        for fails in (affinity_fails, anti_fails, existing_fails):
            if fails is not None and fails.any():
                passing = ~fails if passing is None else passing & ~fails
        return _Verdicts(affinity_fails, anti_fails, existing_fails, passing)

    def _affinity_fails(
        self, pod: PodInfo, nodes: NodeTable, terms: tuple[PodAffinityTerm, ...]
    ) -> BoolArray | None:
        if not terms:
            return None
        size = nodes.size
        counts = _all_terms_counts(nodes.pods, terms)
        has_all = np.ones(size, dtype=np.bool_)
        found_all = np.ones(size, dtype=np.bool_)
        anywhere = False
        for key in sorted({term.topology_key for term in terms}):
            if counts is None:
                has_all &= nodes.label_column(key).codes[:size] != MISSING
                continue
            has, sums = _domain_counts(self._domains, nodes, key, counts)
            has_all &= has
            found_all &= sums > 0
            # kube's "no pod matches anywhere" counts only pods on nodes carrying a key.
            anywhere = anywhere or bool(counts[:size][has].any())
        if counts is None:
            found_all[:] = False
        ns_labels = nodes.pods.labels_of_namespace(pod.namespace)
        if not anywhere and _self_matches(pod, terms, ns_labels):
            return ~has_all  # the first pod of a self-affine group: any node with the keys
        fails: BoolArray = ~(has_all & found_all)
        return fails

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        affinity = pod.pod_affinity or _NO_AFFINITY
        carried = self._carried(pod, nodes)
        own_required = bool(affinity.required or affinity.required_anti)
        if not own_required and not carried.required_anti and not self._scores(pod, carried):
            return SKIP
        verdicts = self._verdicts(pod, nodes, carried)
        state.write(_STATE, _AttemptState(verdicts, carried))
        return SUCCESS

    def _attempt(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> _AttemptState:
        found = state.get(_STATE, None)
        if isinstance(found, _AttemptState):
            return found
        carried = self._carried(pod, nodes)
        attempt = _AttemptState(self._verdicts(pod, nodes, carried), carried)
        state.write(_STATE, attempt)
        return attempt

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        return self._attempt(state, pod, nodes).verdicts.passing

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        verdicts = self._attempt(state, pod, nodes).verdicts
        reasons: Counter[str] = Counter()
        left = rejected
        for fails, reason in (
            (verdicts.affinity_fails, AFFINITY_REASON),
            (verdicts.anti_fails, ANTI_AFFINITY_REASON),
            (verdicts.existing_fails, EXISTING_ANTI_AFFINITY_REASON),
        ):
            if fails is None or not left.size:
                continue
            hit = fails[left]
            count = int(np.count_nonzero(hit))
            if count:
                reasons[reason] += count
                left = left[~hit]
        return reasons

    def unresolvable(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> BoolArray:
        """Nodes failing the pod's required affinity (checked first, as kube's Filter does):
        no eviction brings a matching pod; anti-affinity can be resolved by evicting."""
        fails = self._attempt(state, pod, nodes).verdicts.affinity_fails
        if fails is None:
            return np.zeros(rejected.size, dtype=np.bool_)
        return np.asarray(fails[rejected], dtype=np.bool_)

    # ------------------------------------------------------------------ score

    def _scores(self, pod: PodInfo, carried: _Carried) -> bool:
        """Whether anything can score the pod (kube's PreScore would not skip)."""
        affinity = pod.pod_affinity or _NO_AFFINITY
        preferred = bool(affinity.preferred or affinity.preferred_anti)
        if self.args.ignore_preferred_terms_of_existing_pods and not preferred:
            return False
        return preferred or bool(carried.scoring)

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        """Σ of the weights of the terms each node's domains hold matches for, scaled to
        0..100 between the lowest and highest sum over the feasible nodes (kube's
        NormalizeScore: 100 × (s - min) ÷ (max - min), truncated); None when all are equal."""
        attempt = state.get(_STATE, None)
        if not isinstance(attempt, _AttemptState):
            return None  # the pre-filter skipped the pod: nothing to score it by
        if not self._scores(pod, attempt.carried):
            return None
        affinity = pod.pod_affinity or _NO_AFFINITY
        size = nodes.size
        by_key: dict[str, IntArray] = {}

        def add(key: str, weight: int, counts: CountArray) -> None:
            row = by_key.get(key)
            if row is None:
                row = by_key[key] = np.zeros(size, dtype=np.int64)
            row += weight * counts[:size].astype(np.int64)

        index = nodes.pods
        for weight, term in affinity.preferred:
            add(term.topology_key, weight, index.term_counts(term))
        for weight, term in affinity.preferred_anti:
            add(term.topology_key, -weight, index.term_counts(term))
        for weight, carried in attempt.carried.scoring:
            add(carried.term.topology_key, weight, carried.counts)
        raw = np.zeros(size, dtype=np.int64)
        for key, row in by_key.items():
            _, sums = _domain_counts(self._domains, nodes, key, row)
            raw += sums
        sums_at = take(raw, candidates)
        feasible = state.get(FEASIBLE, None)
        considered = (
            sums_at[take(feasible, candidates)] if isinstance(feasible, np.ndarray) else sums_at
        )
        if not considered.size:
            return None
        low, high = int(considered.min()), int(considered.max())
        if high == low:
            return None
        scaled = 100.0 * ((sums_at - low).astype(np.float64) / float(high - low))
        result: FloatArray = np.trunc(scaled.clip(0.0, 100.0))
        return result
