"""NodeResourcesBalancedAllocation: prefer nodes whose resource fractions stay even after
placing the pod: score = (1 − standard deviation of the fractions) × 100."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.framework import CycleState, FloatArray, IntArray, NodeTable
from kubenexus.plugins.args import PluginArgs
from kubenexus.plugins.node_resources_fit import used_after


class BalancedAllocationArgs(PluginArgs):
    resources: tuple[str, ...] = Field(default=(keys.CPU, keys.MEMORY), min_length=1)


class NodeResourcesBalancedAllocation:
    name: ClassVar[str] = "NodeResourcesBalancedAllocation"

    def __init__(self, args: BalancedAllocationArgs | None = None) -> None:
        self.args = args or BalancedAllocationArgs()

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray:
        fractions = []
        present = []
        for resource in self.args.resources:
            allocatable, requested = used_after(nodes, pod, resource)
            has = allocatable > 0
            safe = np.where(has, allocatable, 1.0)
            fractions.append(np.where(has, np.minimum(requested / safe, 1.0), 0.0))
            present.append(has)
        frac = np.array(fractions)[:, candidates]
        mask = np.array(present)[:, candidates]
        count = mask.sum(axis=0)
        safe_count = np.maximum(count, 1)
        mean = frac.sum(axis=0) / safe_count
        variance = (np.where(mask, frac - mean, 0.0) ** 2).sum(axis=0) / safe_count
        return np.where(count > 0, (1.0 - np.sqrt(variance)) * 100.0, 0.0)
