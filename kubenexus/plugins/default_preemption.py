"""DefaultPreemption: when a pod fits nowhere, evict pods of lower priority to make room, as
kube-scheduler's plugin of that name decides it. The search needs the cluster cache (each
candidate node is tried with its victims gone), so the scheduler carries it out
(``kubenexus.scheduler.preempting``); this plugin enables it and says how many candidate nodes
to weigh (kube's sample: ``minCandidateNodesPercentage`` of the nodes, at least
``minCandidateNodesAbsolute``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from kubenexus.plugins.args import PluginArgs


class DefaultPreemptionArgs(PluginArgs):
    min_candidate_nodes_percentage: int = Field(default=10, ge=0, le=100)
    min_candidate_nodes_absolute: int = Field(default=100, ge=0)

    @model_validator(mode="after")
    def _some_candidates(self) -> DefaultPreemptionArgs:
        # Both 0 would weigh no candidate: preemption silently off (kube-scheduler refuses it).
        if not (self.min_candidate_nodes_percentage or self.min_candidate_nodes_absolute):
            raise ValueError(
                "minCandidateNodesPercentage and minCandidateNodesAbsolute cannot both be 0"
            )
        return self


class DefaultPreemption:
    name: ClassVar[str] = "DefaultPreemption"

    def __init__(self, args: DefaultPreemptionArgs | None = None) -> None:
        self.args = args or DefaultPreemptionArgs()

    def candidates(self, live_nodes: int) -> int:
        share = live_nodes * self.args.min_candidate_nodes_percentage // 100
        return min(live_nodes, max(share, self.args.min_candidate_nodes_absolute))
