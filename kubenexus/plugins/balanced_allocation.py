"""NodeResourcesBalancedAllocation: prefer nodes whose resource fractions stay even after
placing the pod: score = (1 - standard deviation of the fractions) × 100."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.framework import CycleState, FloatArray, IntArray, NodeTable
from kubenexus.framework.node_table import take
from kubenexus.plugins.args import PluginArgs
from kubenexus.plugins.node_resources_fit import kube_integer, offers


class BalancedAllocationArgs(PluginArgs):
    resources: tuple[str, ...] = Field(default=(keys.CPU, keys.MEMORY), min_length=1)


class NodeResourcesBalancedAllocation:
    name: ClassVar[str] = "NodeResourcesBalancedAllocation"

    def __init__(self, args: BalancedAllocationArgs | None = None) -> None:
        self.args = args or BalancedAllocationArgs()

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        """kube v1.36's score over the requests as they are (no default for a container
        without requests, unlike LeastAllocated), truncated to an integer; a pod requesting
        none of the resources gets none (kube skips it: best-effort pods would pile up)."""
        if not any(pod.requests.get(r, 0) for r in self.args.resources):
            return None
        fractions: list[FloatArray] = []
        complete = True
        for resource in self.args.resources:
            row = nodes.resource_row(resource)
            if row is None:
                complete = False
                continue
            size = nodes.size
            # cpu and memory (rows 0, 1) as requested; other rows hold no defaults anyway.
            used = nodes.requested_fraction if row < 2 else nodes.used_fraction
            fraction = used[row, :size]
            amount = pod.requests.get(resource, 0)
            if amount:
                fraction = fraction + amount * nodes.inv_allocatable[row, :size]
            fractions.append(np.minimum(take(fraction, candidates), 1.0))
            complete = complete and nodes.every_node_has(row)
        if complete and len(fractions) == 2:
            # The common case (cpu, memory): the standard deviation of two values is half their
            # gap, so the score is 100 - 50·|a - b| (computed in place: this runs per pod).
            gap = fractions[0] - fractions[1]
            np.abs(gap, out=gap)
            gap *= -0.5
            gap += 1.0
            return kube_integer(gap)
        if not fractions:
            return np.zeros(candidates.size)
        frac = np.array(fractions)
        if complete:
            mask = np.ones(frac.shape, dtype=np.bool_)
        else:  # resources a node does not offer are left out of its deviation
            mask = np.array(
                [
                    take(offers(nodes, r), candidates)
                    for r in self.args.resources
                    if nodes.resource_row(r) is not None
                ]
            )
        safe_count = np.maximum(mask.sum(axis=0), 1)
        mean = np.where(mask, frac, 0.0).sum(axis=0) / safe_count
        variance = (np.where(mask, frac - mean, 0.0) ** 2).sum(axis=0) / safe_count
        score = 1.0 - np.sqrt(variance)  # none or one resource offered: 0 deviation, as kube
        return kube_integer(score)
