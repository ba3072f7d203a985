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
from kubenexus.plugins.node_resources_fit import fraction_after, offers


class BalancedAllocationArgs(PluginArgs):
    resources: tuple[str, ...] = Field(default=(keys.CPU, keys.MEMORY), min_length=1)


class NodeResourcesBalancedAllocation:
    name: ClassVar[str] = "NodeResourcesBalancedAllocation"

    def __init__(self, args: BalancedAllocationArgs | None = None) -> None:
        self.args = args or BalancedAllocationArgs()

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray:
        fractions: list[FloatArray] = []
        complete = True
        for resource in self.args.resources:
            fraction = fraction_after(state, nodes, pod, resource)
            if fraction is None:
                complete = False
                continue
            fractions.append(np.minimum(take(fraction, candidates), 1.0))
            complete = complete and nodes.every_node_has(nodes.resource_index[resource])
        if complete and len(fractions) == 2:
            # The common case (cpu, memory): the standard deviation of two values is half their
            # gap, so the score is 100 - 50·|a - b| (computed in place: this runs per pod).
            gap = fractions[0] - fractions[1]
            np.abs(gap, out=gap)
            gap *= -50.0
            gap += 100.0
            return gap
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
        count = mask.sum(axis=0)
        safe_count = np.maximum(count, 1)
        mean = np.where(mask, frac, 0.0).sum(axis=0) / safe_count
        variance = (np.where(mask, frac - mean, 0.0) ** 2).sum(axis=0) / safe_count
        return np.where(count > 0, (1.0 - np.sqrt(variance)) * 100.0, 0.0)
