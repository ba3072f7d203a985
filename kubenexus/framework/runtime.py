"""One scheduling attempt for one pod: pre-filter → filter → score → select → reserve → permit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from kubenexus.api.objects import PodInfo
from kubenexus.framework.cycle_state import FEASIBLE_SO_FAR, NODES_GIVEN, CycleState
from kubenexus.framework.interfaces import (
    AnnotatingPlugin,
    FilterPlugin,
    PermitPlugin,
    PostFilterPlugin,
    PreFilterPlugin,
    QueueSortPlugin,
    ReservePlugin,
    ScorePlugin,
)
from kubenexus.framework.node_table import SCORE_DTYPE, BoolArray, FloatArray, IntArray, NodeTable
from kubenexus.framework.status import SUCCESS, Code, Diagnosis, Status

MAX_SCORE = 100.0
# Sets of skipping pre-filters remembered per profile (a handful occur in practice).
MAX_SKIP_COMBINATIONS = 64


class PluginError(Exception):
    """A plugin broke its contract (e.g. a score outside 0..100)."""


@dataclass(frozen=True, slots=True)
class WeightedScore:
    plugin: ScorePlugin
    weight: int


@dataclass(frozen=True, slots=True)
class ScoreRecord:
    """Each score plugin's scores of the candidate slots, kept apart (the runtime only sums
    them): recorded only for a profile that asks (``Profile.record_scores``)."""

    candidates: IntArray
    # Per candidate: passed every filter (scores of the others mean nothing).
    feasible: BoolArray
    plugins: tuple[tuple[str, int, FloatArray], ...]  # (plugin, weight, normalized scores)
    total: FloatArray


@dataclass(slots=True)
class Placement:
    """The node chosen for a pod, with the annotations plugins want written before binding."""

    slot: int
    node_name: str
    state: CycleState
    # None: remove the annotation (an earlier attempt wrote it, this placement does not).
    annotations: dict[str, str | None] = field(default_factory=dict)
    scores: ScoreRecord | None = None


@dataclass(slots=True)
class Failure:
    """The pod fits nowhere (``diagnosis``) or a plugin failed (``error``)."""

    diagnosis: Diagnosis | None = None
    error: str = ""
    # A plugin broke (not a verdict on the pod): retried with backoff, counted as an error.
    internal: bool = False
    # Plugins that rejected the pod outside a diagnosis (reserve, permit, a gang's quorum).
    plugins: frozenset[str] = frozenset()
    # What the failure is about, stable while the pod's situation does not change (the message
    # may carry counts that do): Events are posted once per pod and kind, not per message.
    kind: str = ""
    # What the post-filters (preemption) found, appended as kube-scheduler appends it.
    post_filter: str = ""

    @property
    def message(self) -> str:
        said = self.diagnosis.message if self.diagnosis is not None else self.error
        return f"{said} {self.post_filter}" if self.post_filter else said

    @property
    def unresolvable(self) -> bool:
        return self.diagnosis is not None and self.diagnosis.unresolvable

    @property
    def rejected_by(self) -> frozenset[str]:
        """Every plugin that rejected the pod (empty when unknown)."""
        if self.diagnosis is None:
            return self.plugins
        return self.plugins | self.diagnosis.plugins

    @property
    def event_key(self) -> str:
        return self.kind or self.message


def _unresolvable_of(plugin: FilterPlugin) -> Callable[..., BoolArray] | None:
    """The filter's ``UnresolvableFilter.unresolvable``, if it has one (a plain attribute
    lookup: a runtime Protocol check costs more on every failing pod)."""
    found = getattr(plugin, "unresolvable", None)
    return found if callable(found) else None


# Cycle state: plugin name → the only node names the pod may go to (kube's PreFilterResult).
PRE_FILTER_NODES: Final = "framework/pre-filter-nodes"
# The cycle state's mask of nodes that passed every filter (score plugins normalize over them).
FEASIBLE: Final = "framework/feasible"


def restrict_nodes(state: CycleState, plugin: str, names: frozenset[str]) -> None:
    """A pre-filter limits the pod to these nodes; other plugins' limits are intersected."""
    limits: dict[str, frozenset[str]] = state.get(PRE_FILTER_NODES, {})
    state.write(PRE_FILTER_NODES, {**limits, plugin: names})


def _pre_filter_nodes(state: CycleState, nodes: NodeTable) -> BoolArray | None:
    limits: dict[str, frozenset[str]] = state.get(PRE_FILTER_NODES, {})
    if not limits:
        return None
    allowed = frozenset.intersection(*limits.values())
    mask = np.zeros(nodes.size, dtype=np.bool_)
    for name in allowed:
        slot = nodes.slot_of(name)
        if slot is not None:
            mask[slot] = True
    return mask


# Rejections that only a change to the pod itself can undo are attributed to this name.
UNSUPPORTED: Final = "UnsupportedPodFields"


def unsupported_diagnosis(pod: PodInfo, total_nodes: int) -> Diagnosis:
    """A pod using rules not implemented yet waits, saying which (never placed in breach)."""
    fields = ", ".join(pod.unsupported)
    return Diagnosis(
        total_nodes=total_nodes,
        pre_filter_message=f"{fields} not supported by kubenexus-scheduler yet",
        unresolvable=True,
        plugins={UNSUPPORTED},
    )


@dataclass(slots=True)
class Profile:
    """The plugins of one ``schedulerName``, in the order they run at each extension point."""

    scheduler_name: str
    queue_sort: QueueSortPlugin
    pre_filters: Sequence[PreFilterPlugin] = ()
    filters: Sequence[FilterPlugin] = ()
    scores: Sequence[WeightedScore] = ()
    reserves: Sequence[ReservePlugin] = ()
    permits: Sequence[PermitPlugin] = ()
    annotators: Sequence[AnnotatingPlugin] = ()
    # Run when a pod fits nowhere: preemption (the scheduler carries out the search).
    post_filters: Sequence[PostFilterPlugin] = ()
    # Keep every score plugin's scores on the placement (the score-breakdown annotation);
    # off by default: the scheduling path then keeps nothing it does not need.
    record_scores: bool = False
    # Per score plugin, the last row it returned that passed the 0..100 check: a plugin that
    # returns the same cached row again is not checked again.
    _checked: dict[str, FloatArray] = field(default_factory=dict, repr=False, compare=False)
    _weighted: dict[str, tuple[FloatArray, FloatArray]] = field(
        default_factory=dict, repr=False, compare=False
    )
    # The filters left per set of pre-filters that said SKIP (for the filter list it was made of).
    _filters_by_skipped: tuple[
        Sequence[FilterPlugin], dict[frozenset[str], tuple[FilterPlugin, ...]]
    ] = field(default_factory=lambda: ((), {}), repr=False, compare=False)

    # ------------------------------------------------------------------ find a node

    def find_node(  # noqa: PLR0915 - one cycle, its phases in order, kept readable in one place
        self, pod: PodInfo, nodes: NodeTable, only: tuple[str, frozenset[str]] | None = None
    ) -> Placement | Failure:
        """Filter and score every node for the pod; pick the best. Touches no state.

        ``only``: (who says, node names): the pod may go to these nodes only (e.g. the nodes
        holding its reserved room), counted like a pre-filter's node limit.
        """
        if pod.unsupported:
            return Failure(diagnosis=unsupported_diagnosis(pod, nodes.live))
        state = CycleState()
        if only is not None:
            restrict_nodes(state, *only)
            state.write(NODES_GIVEN, only[0])
        skipped: frozenset[str] = frozenset()
        for pre_filter in self.pre_filters:
            status = pre_filter.pre_filter(state, pod, nodes)
            if status is SUCCESS:  # the common answer, asked first (per pod)
                continue
            if status.code is Code.SKIP:
                skipped |= {pre_filter.name}
            elif status.rejected:
                diagnosis = Diagnosis(
                    total_nodes=nodes.live,
                    pre_filter_message=status.message,
                    unresolvable=status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                    plugins={pre_filter.name},
                )
                return Failure(diagnosis=diagnosis)
            elif not status.ok:
                return Failure(error=f"{pre_filter.name}: {status.message}")

        size = nodes.size
        feasible: BoolArray = nodes.valid[:size].copy()
        allowed = _pre_filter_nodes(state, nodes)
        if allowed is not None:
            feasible &= allowed
        active_filters = self._active_filters(skipped)
        state.write(FEASIBLE_SO_FAR, feasible)  # updated in place below
        for filter_plugin in active_filters:
            mask = filter_plugin.filter(state, pod, nodes)
            if mask is not None:
                feasible &= mask
        feasible_count = int(np.count_nonzero(feasible))
        if feasible_count == 0:
            return Failure(diagnosis=self._diagnose(state, pod, nodes, active_filters))
        if feasible_count == 1 or not self.scores:
            best = int(np.argmax(feasible))  # the first feasible slot
            return Placement(slot=best, node_name=nodes.names[best], state=state)

        # When most slots passed (the common case in a large cluster), scoring every slot and
        # masking afterwards is cheaper than gathering the feasible ones first.
        dense = feasible_count * 2 >= size
        candidates = nodes.all_slots() if dense else np.flatnonzero(feasible)
        state.write(FEASIBLE, feasible)  # scores normalized over feasible nodes, as kube's
        total: FloatArray | None = None
        recorded: list[tuple[str, int, FloatArray]] | None = [] if self.record_scores else None
        # A pre-filter's SKIP skips its filter only, as kube's: scoring has its own say.
        for weighted in self.scores:
            scores = weighted.plugin.score(state, pod, nodes, candidates)
            if scores is None:
                continue
            if scores.shape != candidates.shape:
                raise PluginError(f"{weighted.plugin.name}: returned {scores.shape} scores")
            # A plugin returning the same (cached) row again was checked the first time.
            if scores is not self._checked.get(weighted.plugin.name) and scores.size:
                if scores.min() < 0 or scores.max() > MAX_SCORE:
                    raise PluginError(f"{weighted.plugin.name}: score outside 0..100")
                self._checked[weighted.plugin.name] = scores
            if recorded is not None:
                recorded.append((weighted.plugin.name, weighted.weight, scores.copy()))
            if total is None:
                total = scores.astype(SCORE_DTYPE)  # a copy: plugins may keep what they return
                if weighted.weight != 1:
                    total *= weighted.weight
            elif weighted.weight == 1:
                total += scores
            else:
                # A cached row comes back as the same object: its weighted copy is kept too.
                kept = self._weighted.get(weighted.plugin.name)
                if kept is None or kept[0] is not scores:
                    kept = (scores, np.multiply(scores, weighted.weight, dtype=SCORE_DTYPE))
                    if scores is self._checked.get(weighted.plugin.name):
                        self._weighted[weighted.plugin.name] = kept
                total += kept[1]
        if total is None:  # no plugin had a preference
            total = np.zeros(candidates.size, dtype=SCORE_DTYPE)
        # Ties go to the node added first: deterministic, so simulations are repeatable.
        if dense:
            if feasible_count < size:
                np.copyto(total, -1.0, where=~feasible)  # scores are >= 0: never picked
            best = int(np.argmax(total))
        else:
            best = int(candidates[int(np.argmax(total))])
        placement = Placement(slot=best, node_name=nodes.names[best], state=state)
        if recorded is not None:
            passed = feasible[candidates] if dense else np.ones(candidates.size, dtype=np.bool_)
            placement.scores = ScoreRecord(candidates, passed, tuple(recorded), total.copy())
        return placement

    def _active_filters(self, skipped: frozenset[str]) -> Sequence[FilterPlugin]:
        """The filters left once these pre-filters said SKIP (a few combinations recur: kept)."""
        if self._filters_by_skipped[0] is not self.filters:
            self._filters_by_skipped = (self.filters, {})
        by_skipped = self._filters_by_skipped[1]
        found = by_skipped.get(skipped)
        if found is None:
            if len(by_skipped) >= MAX_SKIP_COMBINATIONS:
                by_skipped.clear()
            found = by_skipped[skipped] = tuple(f for f in self.filters if f.name not in skipped)
        return found

    def passing(self, pod: PodInfo, nodes: NodeTable, plugins: frozenset[str]) -> BoolArray:
        """The nodes that these plugins' pre-filters and filters let the pod through (the
        others' are not run): e.g. the rules no eviction can change, for preemption."""
        state = CycleState()
        mask: BoolArray = nodes.valid[: nodes.size].copy()
        skipped: set[str] = set()
        for pre_filter in self.pre_filters:
            if pre_filter.name not in plugins:
                continue
            status = pre_filter.pre_filter(state, pod, nodes)
            if status.code is Code.SKIP:
                skipped.add(pre_filter.name)
            elif not status.ok:
                mask[:] = False
                return mask
        allowed = _pre_filter_nodes(state, nodes)
        if allowed is not None:
            mask &= allowed
        for filter_plugin in self.filters:
            if filter_plugin.name in plugins and filter_plugin.name not in skipped:
                found = filter_plugin.filter(state, pod, nodes)
                if found is not None:
                    mask &= found
        return mask

    def _diagnose(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, filters: Sequence[FilterPlugin]
    ) -> Diagnosis:
        """Attribute each node to the first filter that rejects it, as kube-scheduler does."""
        reasons: Counter[str] = Counter()
        plugins: set[str] = set()
        alive: BoolArray = nodes.valid[: nodes.size].copy()
        hopeless: BoolArray = np.zeros(nodes.size, dtype=np.bool_)
        allowed = _pre_filter_nodes(state, nodes)
        if allowed is not None:
            # Nodes a pre-filter ruled out never reach the filters (kube's PreFilterResult).
            absent = int(np.count_nonzero(alive & ~allowed))
            if absent:
                names = sorted(state.read(PRE_FILTER_NODES, dict))
                reasons[f"node(s) didn't satisfy plugin(s) [{' '.join(names)}]"] += absent
                plugins.update(names)
                hopeless |= alive & ~allowed
            alive &= allowed
        for plugin in filters:
            mask = plugin.filter(state, pod, nodes)
            if mask is None:
                continue
            rejected = np.flatnonzero(alive & ~mask)
            if rejected.size:
                reasons.update(plugin.explain(state, pod, nodes, rejected))
                plugins.add(plugin.name)
                unresolvable = _unresolvable_of(plugin)
                if unresolvable is not None:
                    hopeless[rejected] = unresolvable(state, pod, nodes, rejected)
                alive &= mask
        return Diagnosis(
            total_nodes=nodes.live, reasons=reasons, plugins=plugins, hopeless=hopeless
        )

    # ------------------------------------------------------------------ reserve / permit

    def reserve(self, placement: Placement, pod: PodInfo, nodes: NodeTable) -> Status:
        """Run reserve hooks in order; on a failure undo the ones that ran, in reverse."""
        done: list[ReservePlugin] = []
        for plugin in self.reserves:
            status = plugin.reserve(placement.state, pod, nodes, placement.slot)
            if not status.ok:
                for undo in reversed(done):
                    undo.unreserve(placement.state, pod, nodes, placement.slot)
                plugin.unreserve(placement.state, pod, nodes, placement.slot)
                return status
            done.append(plugin)
        return Status()

    def unreserve(self, placement: Placement, pod: PodInfo, nodes: NodeTable) -> None:
        for plugin in reversed(self.reserves):
            plugin.unreserve(placement.state, pod, nodes, placement.slot)

    def permit(self, placement: Placement, pod: PodInfo, nodes: NodeTable) -> Status:
        for plugin in self.permits:
            status = plugin.permit(placement.state, pod, nodes, placement.slot)
            if not status.ok:
                return status
        for annotator in self.annotators:
            placement.annotations.update(annotator.placement_annotations(placement.state, pod))
        return Status()
