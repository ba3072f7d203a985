"""NodeResourcesBalancedAllocation: prefer nodes whose resource fractions stay even after
placing the pod: score = (1 - standard deviation of the fractions) × 100."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.framework import BoolArray, CycleState, FloatArray, IntArray, NodeTable
from kubenexus.framework.node_table import take
from kubenexus.plugins.args import PluginArgs
from kubenexus.plugins.node_resources_fit import kube_integer, offers


class BalancedAllocationArgs(PluginArgs):
    resources: tuple[str, ...] = Field(default=(keys.CPU, keys.MEMORY), min_length=1)


class NodeResourcesBalancedAllocation:
    name: ClassVar[str] = "NodeResourcesBalancedAllocation"

    def __init__(self, args: BalancedAllocationArgs | None = None) -> None:
        self.args = args or BalancedAllocationArgs()
        self._cpu_and_memory = sorted(self.args.resources) == [keys.CPU, keys.MEMORY]

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        """kube v1.36's score: how much placing the pod improves the node's balance,
        ``50 + (50 + balance with the pod - balance without it) ÷ 2`` (integer arithmetic),
        each balance ``int((1 - std of the requested fractions) × 100)`` over the requests as
        they are (no default for a container without requests, unlike LeastAllocated). A pod
        requesting none of the resources gets no score (kube skips it: best-effort pods would
        pile up)."""
        if not any(pod.requests.get(r, 0) for r in self.args.resources):
            return None
        before: list[FloatArray] = []
        after: list[FloatArray] = []
        complete = True
        for resource in self.args.resources:
            row = nodes.resource_row(resource)
            if row is None:
                complete = False
                continue
            size = nodes.size
            # cpu and memory (rows 0, 1) as requested; other rows hold no defaults anyway.
            used = take(
                (nodes.requested_fraction if row < 2 else nodes.used_fraction)[row, :size],
                candidates,
            )
            amount = pod.requests.get(resource, 0)
            with_pod = (
                used + amount * take(nodes.inv_allocatable[row, :size], candidates)
                if amount
                else used
            )
            before.append(used)  # capped below, only if the table's balance does not serve
            after.append(np.minimum(with_pod, 1.0))
            complete = complete and nodes.every_node_has(row)
        if not after:
            return np.zeros(candidates.size)
        mask = None
        if not complete:  # resources a node does not offer are left out of its deviation
            mask = np.array(
                [
                    take(offers(nodes, r), candidates)
                    for r in self.args.resources
                    if nodes.resource_row(r) is not None
                ]
            )
        gain = _balance(after, mask)
        if mask is None and self._cpu_and_memory:
            gain -= take(nodes.balance[: nodes.size], candidates)  # kept per node by the table
        else:
            gain -= _balance([np.minimum(used, 1.0) for used in before], mask)
        gain += 50.0
        gain /= 2.0
        np.trunc(gain, out=gain)  # Go's integer division truncates toward zero
        gain += 50.0
        return gain


def _balance(fractions: list[FloatArray], mask: BoolArray | None) -> FloatArray:
    """kube's balancedResourceScore: ``int((1 - std) × 100)`` per node."""
    if mask is None and len(fractions) == 2:
        # The common case (cpu, memory): the standard deviation of two values is half their
        # gap (computed in place: this runs per pod).
        gap = fractions[0] - fractions[1]
        np.abs(gap, out=gap)
        gap *= -0.5
        gap += 1.0
        return kube_integer(gap)
    frac = np.array(fractions)
    if mask is None:
        mask = np.ones(frac.shape, dtype=np.bool_)
    safe_count = np.maximum(mask.sum(axis=0), 1)
    mean = np.where(mask, frac, 0.0).sum(axis=0) / safe_count
    variance = (np.where(mask, frac - mean, 0.0) ** 2).sum(axis=0) / safe_count
    score = 1.0 - np.sqrt(variance)  # none or one resource offered: 0 deviation, as kube
    return kube_integer(score)
