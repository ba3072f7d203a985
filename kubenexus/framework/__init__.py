"""Pure framework: statuses, plugin protocols, cycle state, the node table, the cycle runtime."""

from kubenexus.framework.cycle_state import CycleState
from kubenexus.framework.events import ANY_NODE_CHANGE, ClusterEvent, plugin_events, wake_events
from kubenexus.framework.interfaces import (
    AnnotatingPlugin,
    CacheObserver,
    FilterPlugin,
    PermitPlugin,
    Plugin,
    PostFilterPlugin,
    PreFilterPlugin,
    QueuedPod,
    QueueSortPlugin,
    ReservePlugin,
    ScorePlugin,
    TopologyObserver,
    UnresolvableFilter,
)
from kubenexus.framework.node_table import BoolArray, FloatArray, IntArray, NodeTable
from kubenexus.framework.runtime import (
    Failure,
    Placement,
    PluginError,
    Profile,
    WeightedScore,
)
from kubenexus.framework.status import SKIP, SUCCESS, Code, Diagnosis, Status

__all__ = [
    "ANY_NODE_CHANGE",
    "SKIP",
    "SUCCESS",
    "AnnotatingPlugin",
    "BoolArray",
    "CacheObserver",
    "ClusterEvent",
    "Code",
    "CycleState",
    "Diagnosis",
    "Failure",
    "FilterPlugin",
    "FloatArray",
    "IntArray",
    "NodeTable",
    "PermitPlugin",
    "Placement",
    "Plugin",
    "PluginError",
    "PostFilterPlugin",
    "PreFilterPlugin",
    "Profile",
    "QueueSortPlugin",
    "QueuedPod",
    "ReservePlugin",
    "ScorePlugin",
    "Status",
    "TopologyObserver",
    "UnresolvableFilter",
    "WeightedScore",
    "plugin_events",
    "wake_events",
]
