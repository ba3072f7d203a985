"""ProfileClassifier: the WHO/WHAT hub (reference §2). Its arguments configure how profiles
are computed; the profile itself is computed once, when the pod is queued, by the node table's
``ProfileBook`` — so every plugin, preemption, explain and the simulator read the same one
whether or not this plugin is listed (the original wrote it into the cycle state in its
pre-filter, each attempt). Its pre-filter never rejects a pod."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.api.profile import ClassifierSettings
from kubenexus.framework import SUCCESS, ClusterEvent, CycleState, NodeTable, Status
from kubenexus.plugins.args import PluginArgs

Tier = Literal["gold", "silver", "bronze"]


class ProfileClassifierArgs(PluginArgs):
    # priorityClassName → tenant tier (replaces the original's table when given).
    priority_class_tiers: dict[str, Tier] = Field(
        default_factory=lambda: dict(keys.PRIORITY_CLASS_TIERS)  # type: ignore[arg-type]
    )
    default_tier: Tier = "bronze"
    preemptible_below_priority: int = 0

    @property
    def settings(self) -> ClassifierSettings:
        return ClassifierSettings(
            priority_class_tiers=dict(self.priority_class_tiers),
            default_tier=self.default_tier,
            preemptible_below_priority=self.preemptible_below_priority,
        )


class ProfileClassifier:
    name: ClassVar[str] = "ProfileClassifier"
    cluster_events: ClassVar[ClusterEvent] = ClusterEvent.NONE  # never rejects

    def __init__(self, args: ProfileClassifierArgs | None = None) -> None:
        self.args = args or ProfileClassifierArgs()

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        return SUCCESS  # the profile was computed when the pod was queued (nodes.profiles)
