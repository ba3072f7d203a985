"""NodeResourcesFit: the pod's requests must fit each node's free capacity (cpu, memory,
ephemeral-storage, pod slots, any extended resource); scores by LeastAllocated or MostAllocated."""

from __future__ import annotations

from collections import Counter
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.framework import (
    BoolArray,
    CycleState,
    FloatArray,
    IntArray,
    NodeTable,
    Status,
)
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


def used_after(nodes: NodeTable, pod: PodInfo, resource: str) -> tuple[FloatArray, FloatArray]:
    """(allocatable, requested including this pod) of one resource over all slots, for scoring.

    cpu and memory use the scoring view in which a container without a request counts as a
    default, so best-effort pods still spread (as in kube-scheduler).
    """
    size = nodes.size
    row = nodes.resource_row(resource)
    if row is None:
        zero = np.zeros(size)
        return zero, zero
    allocatable = nodes.allocatable[row, :size].astype(np.float64)
    if resource == keys.CPU:
        requested = nodes.score_requested[0, :size] + pod.score_cpu
    elif resource == keys.MEMORY:
        requested = nodes.score_requested[1, :size] + pod.score_memory
    else:
        requested = nodes.requested[row, :size] + pod.requests.get(resource, 0)
    return allocatable, requested.astype(np.float64)


class NodeResourcesFit:
    name: ClassVar[str] = "NodeResourcesFit"

    def __init__(self, args: NodeResourcesFitArgs | None = None) -> None:
        self.args = args or NodeResourcesFitArgs()
        self._ignored = frozenset(self.args.ignored_resources)

    def _checked(self, pod: PodInfo) -> list[tuple[str, int]]:
        return [(r, a) for r, a in pod.requests.items() if r not in self._ignored]

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        return Status()

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

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray:
        strategy = self.args.scoring_strategy
        total = np.zeros(nodes.size)
        weights = np.zeros(nodes.size)
        for resource in strategy.resources:
            allocatable, requested = used_after(nodes, pod, resource.name)
            has = allocatable > 0
            safe = np.where(has, allocatable, 1.0)
            if strategy.type == "LeastAllocated":
                part = np.where(requested > allocatable, 0.0, (allocatable - requested) * 100.0 / safe)
            else:
                part = np.minimum(requested, allocatable) * 100.0 / safe
            # A node without the resource does not count it (as kube-scheduler skips it).
            total += np.where(has, part * resource.weight, 0.0)
            weights += np.where(has, resource.weight, 0)
        scores = np.divide(total, weights, out=np.zeros(nodes.size), where=weights > 0)
        return scores[candidates]
