"""NodeResourcesFit: the pod's requests must fit each node's free capacity (cpu, memory,
ephemeral-storage, pod slots, any extended resource); scores by LeastAllocated or MostAllocated."""

from __future__ import annotations

from collections import Counter
from typing import ClassVar, Final, Literal

import numpy as np
from pydantic import Field

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.framework import (
    SUCCESS,
    BoolArray,
    ClusterEvent,
    CycleState,
    FloatArray,
    IntArray,
    NodeTable,
    Status,
)
from kubenexus.framework.node_table import take
from kubenexus.plugins.args import PluginArgs


class ResourceWeight(PluginArgs):
    name: str = Field(min_length=1)
    weight: int = Field(default=1, ge=1, le=100)


class ScoringStrategy(PluginArgs):
    type: Literal["LeastAllocated", "MostAllocated"] = "LeastAllocated"
    resources: tuple[ResourceWeight, ...] = Field(
        default=(ResourceWeight(name=keys.CPU), ResourceWeight(name=keys.MEMORY)), min_length=1
    )


class NodeResourcesFitArgs(PluginArgs):
    # Requests for these resources are not checked (e.g. ones another component manages).
    ignored_resources: tuple[str, ...] = ()
    scoring_strategy: ScoringStrategy = ScoringStrategy()


def insufficient_reason(resource: str) -> str:
    return "Too many pods" if resource == keys.PODS else f"Insufficient {resource}"


# Above float32's error at 100 (~2e-5 here), below how close a fraction of integers comes to
# an integer without being one (1/allocatable: cpu in millicores, memory in bytes).
_INTEGER_SLACK: Final = 5e-5


def kube_integer(fraction: FloatArray) -> FloatArray:
    """In place, ``fraction`` (0..1) as kube-scheduler's integer score: × 100, truncated
    (kube computes it in integers; this float32 fraction is within float error of it)."""
    fraction *= 100.0
    fraction += _INTEGER_SLACK
    return np.floor(fraction, out=fraction)


def fraction_after(
    state: CycleState, nodes: NodeTable, pod: PodInfo, resource: str
) -> FloatArray | None:
    """Fraction of each node's allocatable ``resource`` requested once the pod is added
    (0 on nodes without it); None when no node has ever offered the resource.

    cpu and memory use the scoring view in which a container without a request counts as a
    default, so best-effort pods still spread (as in kube-scheduler). Kept in the cycle state:
    several score plugins read the same fractions.
    """
    key = f"NodeResourcesFit/fraction/{resource}"
    if key in state:
        return state.get(key, None)
    row = nodes.resource_row(resource)
    if row is None:
        state.write(key, None)
        return None
    size = nodes.size
    if resource == keys.CPU:
        amount = pod.score_cpu
    elif resource == keys.MEMORY:
        amount = pod.score_memory
    else:
        amount = pod.requests.get(resource, 0)
    used = nodes.used_fraction[row, :size]
    fraction = used + amount * nodes.inv_allocatable[row, :size] if amount else used
    state.write(key, fraction)
    return fraction


def offers(nodes: NodeTable, resource: str) -> BoolArray:
    row = nodes.resource_row(resource)
    if row is None:
        return np.zeros(nodes.size, dtype=np.bool_)
    return nodes.allocatable[row, : nodes.size] > 0


class NodeResourcesFit:
    name: ClassVar[str] = "NodeResourcesFit"
    # More room: a node, more allocatable, a pod gone.
    cluster_events: ClassVar[ClusterEvent] = (
        ClusterEvent.NODE_ADDED | ClusterEvent.NODE_ALLOCATABLE_UP | ClusterEvent.POD_REMOVED
    )

    def __init__(self, args: NodeResourcesFitArgs | None = None) -> None:
        self.args = args or NodeResourcesFitArgs()
        self._ignored = frozenset(self.args.ignored_resources)

    def _checked(self, pod: PodInfo) -> list[tuple[str, int]]:
        return [(r, a) for r, a in pod.requests.items() if r not in self._ignored]

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        size = nodes.size
        mask: BoolArray | None = None
        for resource, amount in self._checked(pod):
            row = nodes.resource_row(resource)
            if row is None:  # no node has ever offered this resource
                return np.zeros(size, dtype=np.bool_)
            fits = nodes.free[row, :size] >= amount
            mask = fits if mask is None else (mask & fits)
        return mask

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        reasons: Counter[str] = Counter()
        for resource, amount in self._checked(pod):
            row = nodes.resource_row(resource)
            short = (
                rejected.size
                if row is None
                else int(np.count_nonzero(nodes.free[row, rejected] < amount))
            )
            if short:
                reasons[insufficient_reason(resource)] += short
        return reasons

    def unresolvable(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> BoolArray:
        """Nodes whose allocatable is below a request: evicting every pod there would not
        make room (kube's rule; a full pod count is not, even at 0 pods allocatable)."""
        beyond = np.zeros(rejected.size, dtype=np.bool_)
        for resource, amount in self._checked(pod):
            if resource == keys.PODS:
                continue
            row = nodes.resource_row(resource)
            if row is None:
                return np.ones(rejected.size, dtype=np.bool_)
            beyond |= nodes.allocatable[row, rejected] < amount
        return beyond

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray:
        strategy = self.args.scoring_strategy
        least = strategy.type == "LeastAllocated"
        total: FloatArray | None = None
        weights: FloatArray | float = 0.0
        for resource in strategy.resources:
            fraction = fraction_after(state, nodes, pod, resource.name)
            if fraction is None:
                continue
            # Least: (allocatable - requested)/allocatable, 0 when over; Most: capped at 1.
            if least:  # as kube's integer: 100 - requested × 100 ÷ allocatable, truncated
                part = fraction * -100.0
                part += 100.0 + _INTEGER_SLACK
                np.floor(part, out=part)  # negative only where the pod does not fit: see below
            else:
                part = np.minimum(fraction, 1.0)
                kube_integer(part)
            if resource.weight != 1:
                part *= resource.weight
            row = nodes.resource_index[resource.name]
            if nodes.every_node_has(row):
                weights = weights + resource.weight
            else:
                # A node without the resource does not count it (as kube-scheduler skips it).
                has = offers(nodes, resource.name)
                part[~has] = 0.0
                weights = weights + np.where(has, float(resource.weight), 0.0)
            if total is None:
                total = part
            else:
                total += part
        if total is None:
            return np.zeros(candidates.size)
        chosen = take(total, candidates)
        if isinstance(weights, float):
            if weights != 1.0:
                chosen /= weights
                np.floor(chosen, out=chosen)  # kube's integer division of the weighted sum
        else:
            denominator = take(weights, candidates)
            chosen = np.divide(
                chosen, denominator, out=np.zeros(candidates.size), where=denominator > 0
            )
            np.floor(chosen, out=chosen)
        if least:
            # kube scores a resource the pod overcommits 0; such a node fails the filter, so
            # its score is only kept in range here, once.
            np.maximum(chosen, 0.0, out=chosen)
        return chosen
