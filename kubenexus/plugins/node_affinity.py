"""NodeAffinity: ``nodeSelector`` and required node affinity (In, NotIn, Exists, DoesNotExist,
Gt, Lt; ``matchFields`` on ``metadata.name``), evaluated over integer-coded label columns; the
preferred terms score a node by the sum of the weights of the terms it matches, normalized to
0..100 over the feasible nodes (kube-scheduler's DefaultNormalizeScore: × 100 ÷ the highest,
integer division)."""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

import numpy as np

from kubenexus.api.objects import PodInfo, SelectorRequirement, SelectorTerm
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
from kubenexus.framework.runtime import FEASIBLE, restrict_nodes

REASON = "node(s) didn't match Pod's node affinity/selector"
CONFLICT = "pod affinity terms conflict"
_CACHE_LIMIT = 4096

_CacheKey = tuple[tuple[tuple[str, str], ...], tuple[SelectorTerm, ...] | None]


def _label_mask(nodes: NodeTable, req: SelectorRequirement) -> BoolArray:
    column = nodes.label_column(req.key)
    codes = column.codes[: nodes.size]
    if req.operator in {"Exists", "DoesNotExist"}:
        present: BoolArray = codes != MISSING
        return present if req.operator == "Exists" else ~present
    if req.operator in {"Gt", "Lt"}:
        numbers = column.numbers[: nodes.size]
        bound = int(req.values[0])  # a Go integer: checked when the pod was read
        compared = numbers > bound if req.operator == "Gt" else numbers < bound
        result: BoolArray = compared & column.is_number[: nodes.size]
        return result
    known = [column.values[v] for v in req.values if v in column.values]
    matches = np.isin(codes, known) if known else np.zeros(nodes.size, dtype=np.bool_)
    return matches if req.operator == "In" else ~matches


def _field_mask(nodes: NodeTable, req: SelectorRequirement) -> BoolArray:
    mask = np.zeros(nodes.size, dtype=np.bool_)
    slot = nodes.slot_of(req.values[0])
    if slot is not None:
        mask[slot] = True
    return mask if req.operator == "In" else ~mask


def _term_mask(nodes: NodeTable, term: SelectorTerm) -> BoolArray:
    if not term.match_expressions and not term.match_fields:
        return np.zeros(nodes.size, dtype=np.bool_)  # an empty term matches no node
    mask = np.ones(nodes.size, dtype=np.bool_)
    for req in term.match_expressions:
        mask &= _label_mask(nodes, req)
    for req in term.match_fields:
        mask &= _field_mask(nodes, req)
    return mask


def selector_mask(nodes: NodeTable, pod: PodInfo) -> BoolArray:
    """Nodes matching the pod's nodeSelector AND any one of its required affinity terms."""
    mask = np.ones(nodes.size, dtype=np.bool_)
    for key, value in pod.node_selector:
        column = nodes.label_column(key)
        code = column.values.get(value)
        if code is None:
            return np.zeros(nodes.size, dtype=np.bool_)
        mask &= column.codes[: nodes.size] == code
    if pod.required_affinity is not None:
        any_term = np.zeros(nodes.size, dtype=np.bool_)
        for term in pod.required_affinity:
            any_term |= _term_mask(nodes, term)
        mask &= any_term
    return mask


def _named_nodes(terms: tuple[SelectorTerm, ...] | None) -> frozenset[str] | None:
    """The node names the required terms allow when every term names nodes (``matchFields``
    ``metadata.name In``), as kube's NodeAffinity pre-filter computes them; None otherwise."""
    if not terms:
        return None
    allowed: set[str] = set()
    for term in terms:
        named: set[str] | None = None
        for req in term.match_fields:
            if req.key == "metadata.name" and req.operator == "In":
                named = set(req.values) if named is None else named & set(req.values)
        if named is None:
            return None  # this term allows any node: the terms are ORed
        allowed |= named
    return frozenset(allowed)


class NodeAffinity:
    name: ClassVar[str] = "NodeAffinity"
    # A node gained the labels the pod selects.
    cluster_events: ClassVar[ClusterEvent] = ClusterEvent.NODE_ADDED | ClusterEvent.NODE_LABELS

    def __init__(self) -> None:
        # Pods of one Job share selectors: remember masks until the node set or labels change.
        self._cache: dict[_CacheKey, tuple[int, int, BoolArray]] = {}

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        if not pod.node_selector and pod.required_affinity is None:
            return SKIP  # nothing to filter (preferred terms are still scored)
        names = _named_nodes(pod.required_affinity)
        if names is not None:
            if not names:
                return Status.unresolvable(CONFLICT, plugin=self.name)
            restrict_nodes(state, self.name, names)
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        if not pod.node_selector and pod.required_affinity is None:
            return None
        key: _CacheKey = (pod.node_selector, pod.required_affinity)
        cached = self._cache.get(key)
        if (
            cached is not None
            and cached[0] == nodes.topology_generation
            and cached[1] == nodes.size
        ):
            return cached[2]
        mask = selector_mask(nodes, pod)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = (nodes.topology_generation, nodes.size, mask)
        return mask

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        return Counter({REASON: int(rejected.size)})

    def unresolvable(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> BoolArray:
        """No eviction relabels a node."""
        return np.ones(rejected.size, dtype=np.bool_)

    def _sums(self, pod: PodInfo, nodes: NodeTable, candidates: IntArray) -> IntArray:
        raw = np.zeros(nodes.size, dtype=np.int64)
        for weight, term in pod.preferred_affinity:
            raw += weight * _term_mask(nodes, term)
        return take(raw, candidates)

    def raw_scores(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        """Σ weight of the preferred terms each node matches, before normalizing (explain)."""
        if not pod.preferred_affinity:
            return None
        return self._sums(pod, nodes, candidates).astype(np.float64)

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        """Σ weight of the preferred terms each node matches, × 100 ÷ the highest sum among
        the feasible nodes (integer division, as kube-scheduler); None without preferred terms."""
        if not pod.preferred_affinity:
            return None
        sums = self._sums(pod, nodes, candidates)
        feasible = state.get(FEASIBLE, None)
        considered = sums[take(feasible, candidates)] if isinstance(feasible, np.ndarray) else sums
        highest = int(considered.max()) if considered.size else 0
        if highest == 0:
            return np.zeros(candidates.size)
        return ((sums * 100) // highest).clip(0, 100).astype(np.float64)
