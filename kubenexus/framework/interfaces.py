"""One small Protocol per extension point; a plugin implements only the hooks it needs.

Plugins never talk to the API: they read the node table and the pod, and write only to the
cycle state. Filters work on every node at once: they return a boolean mask over node slots.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from kubenexus.api.objects import PodInfo
from kubenexus.api.topology import NodeTopology
from kubenexus.framework.cycle_state import CycleState
from kubenexus.framework.events import ClusterEvent
from kubenexus.framework.node_table import BoolArray, FloatArray, IntArray, NodeTable
from kubenexus.framework.status import Status


@dataclass(slots=True, eq=False)
class QueuedPod:
    """A pod waiting in the scheduling queue, with what the queue knows of its history."""

    pod: PodInfo
    # When the queue first saw the pod: FIFO order and starvation are measured from here.
    first_seen: float
    attempts: int = 0
    # When the last failed attempt happened (backoff is counted from here).
    last_failure: float = 0.0
    last_message: str = ""
    # The cluster changes that may make it schedulable after it was found to fit nowhere.
    wake_on: ClusterEvent = ClusterEvent.ALL
    # The plugins that rejected it last (None: unknown), for finer wake-up checks.
    rejected_by: frozenset[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Plugin(Protocol):
    @property
    def name(self) -> str:
        """The name the configuration file uses for the plugin."""


@runtime_checkable
class QueueSortPlugin(Plugin, Protocol):
    def sort_key(self, entry: QueuedPod, now: float) -> tuple[Any, ...]:
        """Lower sorts first."""

    def key_changes_at(self, entry: QueuedPod) -> float | None:
        """When ``sort_key`` will next change for this entry (a starvation boost), or None."""


@runtime_checkable
class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        """Prepare the cycle state; SKIP means this plugin's filter is not needed for the pod."""


@runtime_checkable
class FilterPlugin(Plugin, Protocol):
    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> BoolArray | None:
        """Mask over slots ``[:nodes.size]`` of nodes that pass; None when every node passes."""

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        """For the slots this filter rejected, how many nodes fail for each reason.

        Only called when a pod fits nowhere, so it may be slower than ``filter``.
        """


@runtime_checkable
class UnresolvableFilter(Plugin, Protocol):
    def unresolvable(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> BoolArray:
        """Of the slots this filter rejected, those no eviction can help (kube's
        UnschedulableAndUnresolvable): preemption says it "is not helpful" there. A filter
        without this method rejects resolvably."""


@runtime_checkable
class ScorePlugin(Plugin, Protocol):
    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        """Scores in 0..100 for the candidate slots, already normalized by the plugin.

        ``candidates`` are sorted slot numbers. When most nodes passed the filters they are
        every slot (free and infeasible ones included; their scores are ignored), so a plugin
        can work on whole rows; it must return a valid score for any slot. None means the plugin
        has no preference among them (all equal), so it is skipped.
        """


@runtime_checkable
class RawScorePlugin(Plugin, Protocol):
    """A score plugin that can say its scores before its own normalization: read by explain
    only, never on the scheduling path."""

    def raw_scores(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> FloatArray | None:
        """The un-normalized value per candidate (e.g. Σ weights matched); None: none."""


@runtime_checkable
class PostFilterPlugin(Plugin, Protocol):
    """Runs when a pod fits nowhere (kube's PostFilter): preemption. The search itself needs
    the cache (a dry run per candidate node), so the scheduler does it; the plugin says how
    wide to look."""

    def candidates(self, live_nodes: int) -> int:
        """How many candidate nodes to weigh at most (kube's sample size)."""


@runtime_checkable
class ReservePlugin(Plugin, Protocol):
    def reserve(self, state: CycleState, pod: PodInfo, nodes: NodeTable, slot: int) -> Status:
        """Claim plugin-private resources for the pod on the chosen node."""

    def unreserve(self, state: CycleState, pod: PodInfo, nodes: NodeTable, slot: int) -> None:
        """Undo ``reserve``; must be idempotent."""


@runtime_checkable
class PermitPlugin(Plugin, Protocol):
    def permit(self, state: CycleState, pod: PodInfo, nodes: NodeTable, slot: int) -> Status:
        """Allow (SUCCESS) or reject the placement before it is handed to the binder."""


@runtime_checkable
class AnnotatingPlugin(Plugin, Protocol):
    def placement_annotations(self, state: CycleState, pod: PodInfo) -> dict[str, str | None]:
        """Annotations to write on the pod before binding (so a restart can rebuild them);
        None removes one the pod carries from an earlier placement."""


@runtime_checkable
class CacheObserver(Plugin, Protocol):
    """A plugin that keeps its own per-node accounting (e.g. NUMA zones) in step with the cache."""

    def node_upserted(self, nodes: NodeTable, slot: int, pods: Sequence[PodInfo]) -> None:
        """A node was added or its facts changed; ``pods`` are the pods already counted on it
        (none for a node just added: they are counted right after, one by one)."""

    def node_removed(self, nodes: NodeTable, slot: int) -> None:
        """The node in this slot is gone."""

    def pod_counted(self, nodes: NodeTable, pod: PodInfo, slot: int) -> None:
        """The pod now uses capacity on the node in this slot (assumed or bound)."""

    def pod_uncounted(self, nodes: NodeTable, pod: PodInfo, slot: int) -> None:
        """The pod no longer uses capacity there (deleted, finished, forgotten, node gone)."""


@runtime_checkable
class TopologyObserver(Plugin, Protocol):
    """A plugin that reads NodeResourceTopology objects (which the shell watches separately)."""

    def set_node_topology(
        self, nodes: NodeTable, name: str, topology: NodeTopology | None, pods: Sequence[PodInfo]
    ) -> None:
        """The node's topology object arrived, changed or went away (None); ``pods`` are the
        pods counted on the node."""
