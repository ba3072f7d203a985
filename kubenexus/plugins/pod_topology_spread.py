"""PodTopologySpread: ``spec.topologySpreadConstraints`` as kube-scheduler enforces and scores
them, over per-node counts of matching pods that the pod index keeps (so a pod costs a few
numpy passes over the nodes, never a walk over the pods).

Filter (the DoNotSchedule constraints): a node must carry every constraint's topology key
(else "… (missing required label)", unresolvable); for each constraint, the matching pods in
the node's domain, plus one if the pod matches its own selector, minus the global minimum,
must not exceed ``maxSkew``. Domains and counts come from the nodes that carry every key and
pass the constraint's ``nodeAffinityPolicy`` / ``nodeTaintsPolicy``; the minimum is 0 while
fewer than ``minDomains`` domains exist. Counted pods: same namespace, matched by the selector,
not being deleted, bound or assumed (gang members planned in one pass see each other).

Score (the ScheduleAnyway constraints), over the feasible nodes: Σ count × ln(domains + 2) +
(maxSkew - 1), rounded as Go's ``math.Round``; fewer is better, normalized as
``100 × (max + min - score) ÷ max`` (integer division); nodes missing a key score 0.

A pod with no constraints of its own gets the configured default constraints (system
defaulting: hostname maxSkew 3 and zone maxSkew 5, ScheduleAnyway) with the selector of the
Services / ReplicationControllers / ReplicaSets / StatefulSets that select it
(``nodes.workloads``, fed by the shell); without such a selector they do nothing.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, ValidationInfo, field_validator

from kubenexus.api.objects import PodInfo
from kubenexus.api.pod_rules import (
    HONOR,
    IGNORE,
    SCHEDULE_ANYWAY,
    LabelSelector,
    SpreadConstraint,
)
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
from kubenexus.framework.runtime import FEASIBLE
from kubenexus.plugins.args import PluginArgs
from kubenexus.plugins.node_affinity import selector_mask
from kubenexus.plugins.taint_toleration import untolerated

NAME: Final = "PodTopologySpread"
# Topology keys whose scoring domains are remembered at most (a handful in practice).
_CACHE_LIMIT: Final = 64
REASON: Final = "node(s) didn't match pod topology spread constraints"
MISSING_LABEL: Final = f"{REASON} (missing required label)"
HOSTNAME: Final = "kubernetes.io/hostname"
ZONE: Final = "topology.kubernetes.io/zone"
SYSTEM: Final = "System"
LIST: Final = "List"
# kube's critical paths start at MaxInt32: the "minimum" when no domain exists.
_NO_DOMAIN_MINIMUM: Final = 2**31 - 1

# kube-scheduler's systemDefaultConstraints (their selector is filled in per pod).
SYSTEM_DEFAULT_CONSTRAINTS: Final = (
    SpreadConstraint(max_skew=3, topology_key=HOSTNAME, when_unsatisfiable=SCHEDULE_ANYWAY,
                     selector=None),
    SpreadConstraint(max_skew=5, topology_key=ZONE, when_unsatisfiable=SCHEDULE_ANYWAY,
                     selector=None),
)  # fmt: skip

_FILTER: Final = f"{NAME}/filter"
_SCORE: Final = f"{NAME}/soft"
_MASKS: Final = f"{NAME}/masks"

Int64Array = npt.NDArray[np.int64]


# ---------------------------------------------------------------------- arguments


class DefaultConstraint(PluginArgs):
    """One of ``defaultConstraints``: a topology spread constraint without a selector."""

    max_skew: int = Field(gt=0)
    topology_key: str = Field(min_length=1)
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"]
    min_domains: int | None = Field(default=None, ge=1)
    node_affinity_policy: Literal["Honor", "Ignore"] = HONOR
    node_taints_policy: Literal["Honor", "Ignore"] = IGNORE
    # Accepted as in the API type; the deduced selector replaces them, as in kube-scheduler.
    match_label_keys: tuple[str, ...] = ()
    label_selector: Any = None

    @field_validator("label_selector")
    @classmethod
    def _no_selector(cls, value: object) -> object:
        if value is not None:
            raise ValueError("constraint must not define a selector, as they deduced for each pod")
        return value

    def constraint(self) -> SpreadConstraint:
        return SpreadConstraint(
            max_skew=self.max_skew,
            topology_key=self.topology_key,
            when_unsatisfiable=self.when_unsatisfiable,
            selector=None,
            min_domains=self.min_domains,
            node_affinity_policy=self.node_affinity_policy,
            node_taints_policy=self.node_taints_policy,
        )


class PodTopologySpreadArgs(PluginArgs):
    """kube-scheduler's PodTopologySpreadArgs (v1 defaults: ``defaultingType: System``)."""

    defaulting_type: Literal["System", "List"] = SYSTEM
    default_constraints: tuple[DefaultConstraint, ...] = ()

    @field_validator("default_constraints")
    @classmethod
    def _valid_list(
        cls, value: tuple[DefaultConstraint, ...], info: ValidationInfo
    ) -> tuple[DefaultConstraint, ...]:
        if value and info.data.get("defaulting_type", SYSTEM) == SYSTEM:
            raise ValueError(
                'must be empty when defaultingType is "System" (the default): '
                'set defaultingType "List" to use them'
            )
        seen: set[tuple[str, str]] = set()
        for i, c in enumerate(value):
            pair = (c.topology_key, c.when_unsatisfiable)
            if pair in seen:
                raise ValueError(
                    f"[{i}]: duplicate {{topologyKey, whenUnsatisfiable}} pair "
                    f"({c.topology_key}, {c.when_unsatisfiable})"
                )
            seen.add(pair)
        return value


# ---------------------------------------------------------------------- per-attempt state


@dataclass(slots=True)
class _Masks:
    """The pod's node-inclusion masks, computed at most once per attempt."""

    affinity: BoolArray | None = None
    tolerated: BoolArray | None = None


@dataclass(frozen=True, slots=True)
class _HardResult:
    """What the filter decided, per constraint (for the explanation) and overall."""

    mask: BoolArray
    missing: tuple[BoolArray, ...]
    too_skewed: tuple[BoolArray, ...]


def go_round(values: FloatArray) -> Int64Array:
    """Go's ``math.Round`` (half away from zero) for non-negative values, exactly."""
    whole = np.trunc(values)
    rounded: Int64Array = (whole + (values - whole >= 0.5)).astype(np.int64)
    return rounded


def _matching(nodes: NodeTable, pod: PodInfo, selector: LabelSelector | None) -> npt.NDArray[Any]:
    """Per slot, the counted pods the selector matches in the pod's namespace (kube counts none
    for an absent selector, which matches nothing, and none for an empty one)."""
    if selector is None or not selector.requirements:
        return np.zeros(nodes.size, dtype=np.int32)
    return nodes.pods.matching(pod.namespace, selector, skip_deleting=True)[: nodes.size]


def _self_match(pod: PodInfo, constraint: SpreadConstraint) -> int:
    selector = constraint.selector
    return 1 if selector is not None and selector.matches(pod.labels) else 0


class PodTopologySpread:
    name: ClassVar[str] = NAME
    # A matching pod went away or moved (skew down), a pod was placed (a new minimum, more
    # domains for minDomains), a node joined or got the keys, a node left (its domain, maybe
    # the minimum, with it), or its taints changed (policies).
    cluster_events: ClassVar[ClusterEvent] = (
        ClusterEvent.POD_REMOVED
        | ClusterEvent.POD_ADDED
        | ClusterEvent.NODE_ADDED
        | ClusterEvent.NODE_REMOVED
        | ClusterEvent.NODE_LABELS
        | ClusterEvent.NODE_TAINTS
    )

    def __init__(self, args: PodTopologySpreadArgs | None = None) -> None:
        self.args = args or PodTopologySpreadArgs()
        self.system_defaulted = self.args.defaulting_type == SYSTEM
        defaults = (
            SYSTEM_DEFAULT_CONSTRAINTS
            if self.system_defaulted
            else tuple(c.constraint() for c in self.args.default_constraints)
        )
        self._defaults: dict[bool, tuple[SpreadConstraint, ...]] = {
            hard: tuple(c for c in defaults if c.hard == hard) for hard in (True, False)
        }
        # Per topology key, each slot's scoring domain (nodes without the key: the domain "",
        # or one past the last code) and how many domain codes there are; kept until the
        # node labels or the node set change (every pod of a Deployment scores the same way).
        self._score_domains: dict[str, tuple[int, int, IntArray, int]] = {}

    def _score_domain(self, nodes: NodeTable, key: str) -> tuple[IntArray, int]:
        found = self._score_domains.get(key)
        if found is not None and found[:2] == (nodes.topology_generation, nodes.size):
            return found[2], found[3]
        column = nodes.label_column(key)
        codes = column.codes[: nodes.size]
        width = column.width + 1
        empty = column.values.get("")
        domain_of: IntArray = np.where(
            codes == MISSING, width - 1 if empty is None else empty, codes
        ).astype(np.intp)
        if len(self._score_domains) >= _CACHE_LIMIT:
            self._score_domains.clear()
        self._score_domains[key] = (nodes.topology_generation, nodes.size, domain_of, width)
        return domain_of, width

    # ------------------------------------------------------------------ constraints

    def constraints(
        self, pod: PodInfo, nodes: NodeTable, *, hard: bool
    ) -> tuple[SpreadConstraint, ...]:
        """The pod's DoNotSchedule (hard) or ScheduleAnyway constraints; the default ones,
        with the deduced selector, when it has none of its own."""
        if pod.spread:
            return tuple(c for c in pod.spread if c.hard == hard)
        defaults = self._defaults[hard]
        if not defaults:
            return ()
        selector = nodes.workloads.default_selector(pod)
        if selector is None:
            return ()
        return tuple(dataclasses.replace(c, selector=selector) for c in defaults)

    def _included(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, constraint: SpreadConstraint
    ) -> BoolArray | None:
        """Nodes the constraint's inclusion policies admit (None: every node)."""
        masks = state.get(_MASKS, None)
        if not isinstance(masks, _Masks):
            masks = _Masks()
            state.write(_MASKS, masks)
        result: BoolArray | None = None
        if constraint.node_affinity_policy == HONOR and (
            pod.node_selector or pod.required_affinity is not None
        ):
            if masks.affinity is None:
                masks.affinity = selector_mask(nodes, pod)
            result = masks.affinity
        if constraint.node_taints_policy == HONOR:
            if masks.tolerated is None:
                ok = np.array(
                    [untolerated(taints, pod.tolerations) is None for taints in nodes.taint_sets],
                    dtype=np.bool_,
                )
                masks.tolerated = ok[nodes.taint_group[: nodes.size]]
            result = masks.tolerated if result is None else result & masks.tolerated
        return result

    # ------------------------------------------------------------------ filter

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        hard = self.constraints(pod, nodes, hard=True)
        soft = self.constraints(pod, nodes, hard=False)
        if not hard and not soft:
            return SKIP
        if hard:
            state.write(_FILTER, self._filter(state, pod, nodes, hard))
        if soft:
            state.write(_SCORE, soft)
        return SUCCESS

    def _filter(
        self,
        state: CycleState,
        pod: PodInfo,
        nodes: NodeTable,
        constraints: Sequence[SpreadConstraint],
    ) -> _HardResult:
        size = nodes.size
        columns = [nodes.label_column(c.topology_key) for c in constraints]
        codes_of = [column.codes[:size] for column in columns]
        # Only nodes carrying every constraint's key hold domains and count pods.
        has_all: BoolArray = nodes.valid[:size].copy()
        for codes in codes_of:
            has_all &= codes != MISSING
        passing = has_all.copy()
        missing: list[BoolArray] = []
        too_skewed: list[BoolArray] = []
        for constraint, column, codes in zip(constraints, columns, codes_of, strict=True):
            eligible = has_all
            included = self._included(state, pod, nodes, constraint)
            if included is not None:
                eligible = eligible & included
            domain_codes = codes[eligible]
            width = column.width + 1  # the last entry stays 0: what code -1 reads
            present = np.bincount(domain_codes, minlength=width) > 0
            counts = _matching(nodes, pod, constraint.selector)
            per_domain = np.bincount(
                domain_codes, weights=counts[eligible], minlength=width
            ).astype(np.int64)
            domains = int(np.count_nonzero(present))
            minimum = int(per_domain[present].min()) if domains else _NO_DOMAIN_MINIMUM
            if domains < (constraint.min_domains or 1):
                minimum = 0
            skew = per_domain[codes] + (_self_match(pod, constraint) - minimum)
            absent: BoolArray = codes == MISSING
            failing: BoolArray = ~absent & (skew > constraint.max_skew)
            passing &= ~failing
            missing.append(absent)
            too_skewed.append(failing)
        return _HardResult(passing, tuple(missing), tuple(too_skewed))

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        result = state.get(_FILTER, None)
        if not isinstance(result, _HardResult):
            return None
        return result.mask

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        """Each node under the first constraint it fails, as kube's Filter reports it."""
        result = state.get(_FILTER, None)
        reasons: Counter[str] = Counter()
        if not isinstance(result, _HardResult):
            return reasons
        left = rejected
        for absent, failing in zip(result.missing, result.too_skewed, strict=True):
            no_label = absent[left]
            skewed = failing[left] & ~no_label
            if no_label.any():
                reasons[MISSING_LABEL] += int(np.count_nonzero(no_label))
            if skewed.any():
                reasons[REASON] += int(np.count_nonzero(skewed))
            left = left[~(no_label | skewed)]
        return reasons

    def unresolvable(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> BoolArray:
        """Nodes whose first failing constraint is a missing label (kube's Filter order)."""
        result = state.get(_FILTER, None)
        found = np.zeros(rejected.size, dtype=np.bool_)
        if not isinstance(result, _HardResult):
            return found
        undecided = np.ones(rejected.size, dtype=np.bool_)
        for absent, failing in zip(result.missing, result.too_skewed, strict=True):
            found |= undecided & absent[rejected]
            undecided &= ~(absent[rejected] | failing[rejected])
        return found

    # ------------------------------------------------------------------ score

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        soft = state.get(_SCORE, ())
        if not soft:
            return None
        size = nodes.size
        valid = nodes.valid[:size]
        feasible = state.get(FEASIBLE, None)
        if not isinstance(feasible, np.ndarray) or feasible.size != size:
            feasible = valid
        # Nodes must carry every key unless the system defaults apply (then a node without a
        # zone still spreads by hostname, its zone counted as the domain "").
        require_all = bool(pod.spread) or not self.system_defaulted
        columns = [nodes.label_column(c.topology_key) for c in soft]
        has_all: BoolArray = valid.copy()
        if require_all:
            for column in columns:
                has_all &= column.codes[:size] != MISSING
        considered: BoolArray = feasible & has_all
        considered_count = int(np.count_nonzero(considered))
        if considered_count == 0:
            return np.zeros(candidates.size)
        raw = np.zeros(size, dtype=np.float64)
        for constraint, column in zip(soft, columns, strict=True):
            codes = column.codes[:size]
            labelled = considered & (codes != MISSING)
            counts = _matching(nodes, pod, constraint.selector)
            if constraint.topology_key == HOSTNAME:
                # Per node, the pods on the node itself (kube counts them in Score).
                weight = math.log(considered_count + 2)
                per_node = counts.astype(np.float64)
            else:
                domain_of, width = self._score_domain(nodes, constraint.topology_key)
                seeded = np.bincount(domain_of, weights=considered, minlength=width)
                weight = math.log(int(np.count_nonzero(seeded)) + 2)
                contributing = has_all
                included = self._included(state, pod, nodes, constraint)
                if included is not None:
                    contributing = contributing & included
                # Weighted by the counts where they contribute: no gathering of masked rows.
                per_domain = np.bincount(
                    domain_of, weights=np.where(contributing, counts, 0), minlength=width
                )
                per_node = per_domain[domain_of]
            contribution = per_node * weight + float(constraint.max_skew - 1)
            np.add(raw, contribution, out=raw, where=labelled)
        # Whole numbers held exactly in float64 (far below 2**53): kube's integer arithmetic
        # without int64 conversions; a quotient of two exact integers, floored, is exact.
        whole = np.trunc(raw)
        rounded = whole + (raw - whole >= 0.5)  # Go's math.Round (values are >= 0)
        among = rounded[considered]
        lowest, highest = float(among.min()), float(among.max())
        if highest == 0:
            normalized = np.where(considered, 100.0, 0.0)
        else:
            normalized = np.floor((highest + lowest - rounded) * 100.0 / highest)
            np.copyto(normalized, 0.0, where=~considered)
        return take(normalized, candidates)
