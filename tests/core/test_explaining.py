"""The explain core: each node's fate, grouped; the closest nodes; scores kept apart (only when
asked); what the Scheduled Event and the score annotation say."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kubenexus.api import keys
from kubenexus.framework import Placement
from kubenexus.scheduler import Scheduler
from kubenexus.scheduler.explaining import (
    explain,
    find_pod,
    placement_detail,
    profile_of,
    score_breakdown,
)
from tests.builders import make_node, make_pod, not_helpful
from tests.core.helpers import place, scheduler


def _cluster_of_many_kinds(count: int = 40) -> Scheduler:
    """Nodes whose reasons to reject a 6-cpu pod alternate node by node (the worst case for
    grouping: every neighbour differs)."""
    nodes = []
    for i in range(count):
        builder = make_node(f"n{i:02d}")
        kind = i % 4
        if kind == 0:
            builder.alloc(cpu="4")  # short of cpu by 2
        elif kind == 1:
            builder.alloc(cpu="16").taint("dedicated", "gpu")
        elif kind == 2:
            builder.alloc(cpu="5", memory="1Gi")  # short of cpu by 1 and of memory
        else:
            builder.alloc(cpu="16").cordon()
        nodes.append(builder.obj())
    return scheduler(*nodes)


def test_alternating_reasons_are_grouped_by_filter_and_kind() -> None:
    s = _cluster_of_many_kinds()
    pod = make_pod("p").req(cpu="6", memory="2Gi").obj()
    s.upsert_pod(pod)
    answer = explain(s, pod)
    assert answer.verdict == "Pending"
    assert [(g.plugin, g.reasons, g.count) for g in answer.groups] == [
        ("NodeResourcesFit", ("Insufficient cpu",), 10),
        ("NodeResourcesFit", ("Insufficient cpu", "Insufficient memory"), 10),
        ("NodeUnschedulable", ("node(s) were unschedulable",), 10),
        ("TaintToleration", ("node(s) had untolerated taint(s)",), 10),
    ]
    assert answer.message == (
        "0/40 nodes are available: 10 Insufficient memory, 10 node(s) had untolerated taint(s), "
        "10 node(s) were unschedulable, 20 Insufficient cpu." + not_helpful(40)
    )
    # Closest first: one filter failed and nothing short (a taint, a cordon), in node order.
    assert [m.node for m in answer.closest] == ["n01", "n03", "n05", "n07", "n09"]
    assert answer.closest[0].failed == (("TaintToleration", ("node(s) had untolerated taint(s)",)),)
    assert answer.groups[0].nodes == ("n00", "n04", "n08", "n12", "n16")


def test_groups_name_their_closest_nodes_first() -> None:
    s = scheduler(
        make_node("far").alloc(cpu="1").obj(),
        make_node("near").alloc(cpu="7").obj(),
        make_node("middle").alloc(cpu="4").obj(),
    )
    pod = make_pod("p").req(cpu="8").obj()
    s.upsert_pod(pod)
    answer = explain(s, pod)
    assert answer.groups[0].nodes == ("near", "middle", "far")
    assert [m.node for m in answer.closest] == ["near", "middle", "far"]
    assert answer.closest[0].shortfalls == ("cpu: 8 requested, 7 free (short by 1)",)


def test_a_placeable_pod_gets_scores_of_each_plugin_and_the_runner_up() -> None:
    s = scheduler(
        make_node("busy").alloc(cpu="8").obj(),
        make_node("idle").alloc(cpu="8").obj(),
        make_node("tiny").alloc(cpu="1").obj(),
    )
    place(s, make_pod("filler").req(cpu="6").node("busy").phase("Running").obj())
    pod = make_pod("p").req(cpu="1").obj()
    s.upsert_pod(pod)
    answer = explain(s, pod)
    assert answer.verdict == "Placeable"
    assert answer.node == "idle"
    assert [(n.node, n.rank) for n in answer.scores] == [("idle", 1), ("busy", 2), ("tiny", 3)]
    for node in answer.scores:
        assert node.total == pytest.approx(sum(p.weighted for p in node.plugins), abs=0.01)
    # And the scheduler itself then places it there.
    assert place(s) == {"p": "idle"}


def test_explaining_a_placed_pod_leaves_the_cache_as_it_was() -> None:
    s = scheduler(make_node("a").alloc(cpu="8").obj(), make_node("b").alloc(cpu="8").obj())
    pod = make_pod("p").req(cpu="3").obj()
    place(s, pod)
    nodes = s.cache.nodes
    before = nodes.requested[:, : nodes.size].copy()
    found = find_pod(s, "default", "p")
    assert found is not None
    answer = explain(s, found)
    assert answer.verdict == "Placed"
    assert answer.node == s.cache.node_of(pod.key)
    assert (nodes.requested[:, : nodes.size] == before).all()


def test_pods_not_to_schedule_are_said_so() -> None:
    s = scheduler(make_node("a").obj())
    theirs = make_pod("theirs").scheduler("volcano").obj()
    assert explain(s, theirs).verdict == "NotOurs"
    assert explain(s, make_pod("done").phase("Succeeded").obj()).verdict == "Finished"


def test_profile_is_the_one_the_plugins_read() -> None:
    s = scheduler(make_node("a").obj())
    s.set_namespace("ml", {"tenant.kubenexus.io/tier": "gold"})
    pod = make_pod("p").namespace("ml").owner("Job", "j").obj()
    assert profile_of(s, pod) == ("gold", "batch")
    explained = explain(s, pod)
    assert (explained.tier, explained.workload) == ("gold", "batch")


def test_scores_are_recorded_only_when_the_profile_asks() -> None:
    s = scheduler(make_node("a").alloc(cpu="8").obj(), make_node("b").alloc(cpu="4").obj())
    profile = next(iter(s.profiles.values()))
    pod = make_pod("p").req(cpu="1").obj()
    placed = profile.find_node(pod, s.cache.nodes)
    assert isinstance(placed, Placement)
    assert placed.scores is None  # the scheduling path keeps nothing extra
    profile.record_scores = True
    placed = profile.find_node(pod, s.cache.nodes)
    assert isinstance(placed, Placement)
    record = placed.scores
    assert record is not None
    best = int(record.candidates[int(np.argmax(np.where(record.feasible, record.total, -1)))])
    assert s.cache.nodes.names[best] == placed.node_name == "a"
    data = json.loads(score_breakdown(placed, s.cache.nodes))
    assert data["node"] == "a"
    assert [n["node"] for n in data["nodes"]] == ["a", "b"]
    assert data["nodes"][0]["total"] == pytest.approx(
        sum(p["weighted"] for p in data["nodes"][0]["plugins"].values()), abs=0.05
    )


@pytest.mark.parametrize(
    ("annotations", "gpus", "expected"),
    [
        ({}, 0, ""),
        ({keys.NUMA_ZONES: "1", keys.CPU_SET: "8-11"}, 0, "NUMA zone 1, CPUs 8-11"),
        ({keys.NUMA_ZONES: "0,1", keys.CPU_SET: None}, 0, "NUMA zones 0,1"),
        ({}, 2, "2 A100-80GB GPUs"),
    ],
)
def test_placement_detail_for_the_scheduled_event(
    annotations: dict[str, str | None], gpus: int, expected: str
) -> None:
    node = (
        make_node("g")
        .extended("nvidia.com/gpu", "8")
        .label("nvidia.com/gpu.product", "NVIDIA-A100-SXM4-80GB")
        .label("nvidia.com/gpu.memory", "81920")
        .label("nvidia.com/gpu.count", "8")
    )
    s = scheduler(node.obj())
    builder = make_pod("p")
    if gpus:
        builder.extended("nvidia.com/gpu", str(gpus))
    assert placement_detail(builder.obj(), annotations, s.cache.node_info("g")) == expected


def test_raw_scores_before_normalizing_where_the_plugin_exposes_them() -> None:
    s = scheduler(
        make_node("ssd").label("disk", "ssd").obj(),
        make_node("hdd").label("disk", "hdd").obj(),
        make_node("soft").taint("spot", "yes", "PreferNoSchedule").obj(),
    )
    pod = make_pod("p").preferred_term(30, ("disk", "In", ["ssd"])).obj()
    s.upsert_pod(pod)
    answer = explain(s, pod)
    by_node = {n.node: {p.plugin: p for p in n.plugins} for n in answer.scores}
    assert by_node["ssd"]["NodeAffinity"].raw == 30
    assert by_node["ssd"]["NodeAffinity"].normalized == 100
    assert by_node["hdd"]["NodeAffinity"].raw == 0
    assert by_node["soft"]["TaintToleration"].raw == 1  # one untolerated PreferNoSchedule
    assert by_node["ssd"]["TaintToleration"].raw == 0
    assert by_node["ssd"]["NodeResourcesFit"].raw is None  # normalizes as it computes


def test_a_pod_whose_binding_is_in_flight_stays_assumed() -> None:
    s = scheduler(make_node("a").alloc(cpu="8").obj())
    pod = make_pod("p").req(cpu="3").obj()
    s.upsert_pod(pod)
    assert len(s.schedule_next()) == 1  # assumed, not yet bound
    assert s.cache.is_assumed(pod.key)
    answer = explain(s, pod)
    assert answer.verdict == "Placed"
    assert answer.node == "a"
    assert s.cache.is_assumed(pod.key)
    # The binding fails: the room is given back, as if explain had never asked.
    s.binding_failed(pod.key, "conflict", retry=False)
    assert pod.key not in s.cache
    nodes = s.cache.nodes
    assert int(nodes.requested[nodes.resource_index[keys.CPU], nodes.slot_of("a")]) == 0


def test_gpu_near_miss_names_the_devices_large_enough() -> None:
    node = (
        make_node("g")
        .extended("nvidia.com/gpu", "2")
        .label("nvidia.com/gpu.product", "NVIDIA-A100-SXM4-80GB")
        .label("nvidia.com/gpu.memory", "81920")
        .label("nvidia.com/gpu.count", "2")
    )
    s = scheduler(node.obj())
    pod = make_pod("p").extended("nvidia.com/gpu", "3").annotate(keys.VRAM_REQUEST, "40Gi").obj()
    s.upsert_pod(pod)
    (miss,) = explain(s, pod).closest
    assert miss.shortfalls == (
        "nvidia.com/gpu: 3 requested, 2 free (short by 1)",
        "GPUs: 2× A100-80GB 80Gi; 2 free, 3 with 40Gi VRAM each requested",
        "GPUs with 40Gi or more: gpu-0, gpu-1",
    )


def test_the_score_breakdown_stays_under_its_size_ceiling() -> None:
    """Fewer nodes, then the totals only, when the full breakdown is over the ceiling: the
    annotation never pushes a pod over the API server's annotation limit."""
    s = scheduler(*(make_node(f"node-{i}").alloc(cpu="8").obj() for i in range(4)))
    profile = next(iter(s.profiles.values()))
    profile.record_scores = True
    placed = profile.find_node(make_pod("p").req(cpu="1").obj(), s.cache.nodes)
    assert isinstance(placed, Placement)
    full = score_breakdown(placed, s.cache.nodes)
    assert len(json.loads(full)["nodes"]) == 3
    smaller = score_breakdown(placed, s.cache.nodes, max_bytes=len(full) - 1)
    assert len(smaller) < len(full)
    assert 1 <= len(json.loads(smaller)["nodes"]) < 3
    tiny = json.loads(score_breakdown(placed, s.cache.nodes, max_bytes=10))
    assert tiny["node"] == placed.node_name
    assert tiny["nodes"] == []
