"""Helpers shared by the core tests: node tables and one-shot scheduling."""

from __future__ import annotations

import numpy as np

from kubenexus.api import NodeInfo, PodInfo
from kubenexus.config import SchedulerConfiguration, build_scheduler, parse_config
from kubenexus.framework import CycleState, FilterPlugin, NodeTable
from kubenexus.scheduler import Scheduled, Scheduler, Unschedulable


def table(*nodes: NodeInfo) -> NodeTable:
    t = NodeTable(capacity=2)  # small, so tests also exercise growth
    for node in nodes:
        t.upsert(node)
    return t


def passing(plugin: FilterPlugin, pod: PodInfo, nodes: NodeTable) -> list[str]:
    """Names of the nodes the filter lets through, in slot order."""
    state = CycleState()
    if hasattr(plugin, "pre_filter"):
        plugin.pre_filter(state, pod, nodes)
    mask = plugin.filter(state, pod, nodes)
    return [
        nodes.names[s]
        for s in range(nodes.size)
        if nodes.valid[s] and (mask is None or bool(mask[s]))
    ]


def explain(plugin: FilterPlugin, pod: PodInfo, nodes: NodeTable) -> dict[str, int]:
    state = CycleState()
    mask = plugin.filter(state, pod, nodes)
    assert mask is not None
    rejected = np.flatnonzero(nodes.valid[: nodes.size] & ~mask)
    return dict(plugin.explain(state, pod, nodes, rejected))


def scheduler(
    *nodes: NodeInfo, config: dict[str, object] | None = None, clock: list[float] | None = None
) -> Scheduler:
    settings: SchedulerConfiguration | None = parse_config(config) if config is not None else None
    now = clock if clock is not None else [1000.0]
    s = build_scheduler(settings, clock=lambda: now[0])
    for node in nodes:
        s.upsert_node(node)
    return s


def place(s: Scheduler, *pods: PodInfo) -> dict[str, str]:
    """Queue the pods, run until idle; pod name → node name or the failure message."""
    for pod in pods:
        s.upsert_pod(pod)
    result: dict[str, str] = {}
    for outcome in s.run_until_idle():
        if isinstance(outcome, Scheduled):
            result[outcome.pod.name] = outcome.node
        else:
            assert isinstance(outcome, Unschedulable)
            result[outcome.pod.name] = outcome.message
    return result
