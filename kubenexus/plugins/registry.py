"""Every plugin by name: how to build it, its argument model, and its default weight."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from kubenexus.framework import Plugin
from kubenexus.plugins.args import NoArgs, PluginArgs
from kubenexus.plugins.backfill import BackfillScoring
from kubenexus.plugins.balanced_allocation import (
    BalancedAllocationArgs,
    NodeResourcesBalancedAllocation,
)
from kubenexus.plugins.coscheduling import Coscheduling, CoschedulingArgs
from kubenexus.plugins.default_preemption import DefaultPreemption, DefaultPreemptionArgs
from kubenexus.plugins.image_locality import ImageLocality
from kubenexus.plugins.inter_pod_affinity import InterPodAffinity, InterPodAffinityArgs
from kubenexus.plugins.network_fabric import NetworkFabricScore
from kubenexus.plugins.node_affinity import NodeAffinity
from kubenexus.plugins.node_name import NodeName
from kubenexus.plugins.node_ports import NodePorts
from kubenexus.plugins.node_resources_fit import NodeResourcesFit, NodeResourcesFitArgs
from kubenexus.plugins.node_unschedulable import NodeUnschedulable
from kubenexus.plugins.numa_topology import NUMATopology, NUMATopologyArgs
from kubenexus.plugins.pod_topology_spread import PodTopologySpread, PodTopologySpreadArgs
from kubenexus.plugins.priority_sort import PrioritySort, PrioritySortArgs
from kubenexus.plugins.profile_classifier import ProfileClassifier, ProfileClassifierArgs
from kubenexus.plugins.resource_fragmentation import ResourceFragmentationScore
from kubenexus.plugins.resource_reservation import (
    ResourceReservation,
    ResourceReservationArgs,
)
from kubenexus.plugins.taint_toleration import TaintToleration
from kubenexus.plugins.tenant_hardware import TenantHardwareAffinityScore
from kubenexus.plugins.topology_scoring import TopologyScoring
from kubenexus.plugins.vram_scheduler import VRAMScheduler
from kubenexus.plugins.workload_aware import WorkloadAwareScoring, WorkloadAwareScoringArgs


@dataclass(frozen=True, slots=True)
class PluginSpec:
    name: str
    build: Callable[[Any], Plugin]
    args_model: type[PluginArgs]
    # Score weight when enabled without an explicit weight (kube-scheduler's defaults).
    default_weight: int = 1
    # The extension points a default plugin is enabled at (None: every one it implements).
    default_points: frozenset[str] | None = None


REGISTRY: Final[dict[str, PluginSpec]] = {
    spec.name: spec
    for spec in (
        PluginSpec("PrioritySort", PrioritySort, PrioritySortArgs),
        PluginSpec("Coscheduling", Coscheduling, CoschedulingArgs),
        PluginSpec("NodeUnschedulable", lambda _: NodeUnschedulable(), NoArgs),
        PluginSpec("NodeName", lambda _: NodeName(), NoArgs),
        PluginSpec("TaintToleration", lambda _: TaintToleration(), NoArgs, default_weight=3),
        PluginSpec("NodeAffinity", lambda _: NodeAffinity(), NoArgs, default_weight=2),
        PluginSpec("NodePorts", lambda _: NodePorts(), NoArgs),
        PluginSpec("NodeResourcesFit", NodeResourcesFit, NodeResourcesFitArgs),
        PluginSpec("PodTopologySpread", PodTopologySpread, PodTopologySpreadArgs, default_weight=2),
        PluginSpec("InterPodAffinity", InterPodAffinity, InterPodAffinityArgs, default_weight=2),
        PluginSpec("NUMATopology", NUMATopology, NUMATopologyArgs, default_weight=3),
        PluginSpec("ResourceReservation", ResourceReservation, ResourceReservationArgs),
        # Weight 8: a card's fit decides between kinds of card, even against
        # ResourceFragmentationScore (5 x <= 100) plus LeastAllocated's spreading (<= 100), so
        # a small model takes a free small card; between cards alike (equal fit) the islands
        # decide (docs/gpus.md).
        PluginSpec("VRAMScheduler", lambda _: VRAMScheduler(), NoArgs, default_weight=8),
        PluginSpec(
            "NodeResourcesBalancedAllocation",
            NodeResourcesBalancedAllocation,
            BalancedAllocationArgs,
        ),
        # Weight 5: its preference for completing a used GPU island over breaking a pristine
        # one (>= 86 points) outweighs the default profile's other scorers together
        # (NodeResourcesFit + BalancedAllocation <= 100, NUMATopology x 3 <= 300). A default
        # scorer only: its filter (the original's, never shipped on) is enabled by name.
        PluginSpec(
            "ResourceFragmentationScore",
            lambda _: ResourceFragmentationScore(),
            NoArgs,
            default_weight=5,
            default_points=frozenset({"score"}),
        ),
        PluginSpec("ImageLocality", lambda _: ImageLocality(), NoArgs),
        # Workload profiles (docs/profiles.md says why these weights).
        PluginSpec("ProfileClassifier", ProfileClassifier, ProfileClassifierArgs),
        # Weight 34: 34 x 30 (the smallest step between a tenant's own hardware tier and
        # another) = 1,020 outweighs what the islands and packing can say together
        # (ResourceFragmentationScore 5 x 100, WorkloadAwareScoring 2 x 100, NodeResourcesFit
        # and BalancedAllocation 1 x 100 each): the tenant's tier decides the kind of hardware,
        # the islands the node within it.
        PluginSpec(
            "TenantHardwareAffinityScore",
            lambda _: TenantHardwareAffinityScore(),
            NoArgs,
            default_weight=34,
        ),
        # Weight 2: packing training and batch pods must outweigh LeastAllocated's spreading
        # (weight 1).
        PluginSpec(
            "WorkloadAwareScoring",
            WorkloadAwareScoring,
            WorkloadAwareScoringArgs,
            default_weight=2,
        ),
        # Weight 6: a service's zone spread (6 x 100) outweighs ResourceFragmentationScore's
        # pull toward a used GPU island (5 x 94): replicas spread over zones first, and pack
        # onto islands within a zone.
        PluginSpec("TopologyScoring", lambda _: TopologyScoring(), NoArgs, default_weight=6),
        PluginSpec("BackfillScoring", lambda _: BackfillScoring(), NoArgs),
        # Weight 2: a gang's locality (clique ±40, fabric ±30, …) moves it by up to 200 points.
        PluginSpec("NetworkFabricScore", lambda _: NetworkFabricScore(), NoArgs, default_weight=2),
        PluginSpec("DefaultPreemption", DefaultPreemption, DefaultPreemptionArgs),
    )
}

# Enabled when the configuration says nothing, in the order they run (kube-scheduler's order:
# a node is reported under the first filter that rejects it).
DEFAULT_PLUGINS: Final = (
    "Coscheduling",
    "ProfileClassifier",
    "NodeUnschedulable",
    "NodeName",
    "TaintToleration",
    "NodeAffinity",
    "NodePorts",
    "NodeResourcesFit",
    "PodTopologySpread",
    "InterPodAffinity",
    "VRAMScheduler",
    "ResourceFragmentationScore",
    "NetworkFabricScore",
    "NUMATopology",
    "ResourceReservation",
    "NodeResourcesBalancedAllocation",
    "ImageLocality",
    "TenantHardwareAffinityScore",
    "WorkloadAwareScoring",
    "TopologyScoring",
    "DefaultPreemption",
)
