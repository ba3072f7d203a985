"""Score plugins: values as kube-scheduler computes them, and the placements they lead to."""

from __future__ import annotations

import numpy as np

from kubenexus.framework import CycleState
from kubenexus.plugins.balanced_allocation import (
    BalancedAllocationArgs,
    NodeResourcesBalancedAllocation,
)
from kubenexus.plugins.node_resources_fit import NodeResourcesFit, NodeResourcesFitArgs
from tests.builders import make_node, make_pod
from tests.core.helpers import place, scheduler, table


def _scores(plugin: object, pod_builder: object, *nodes: object) -> list[float]:
    t = table(*nodes)  # type: ignore[arg-type]
    candidates = np.arange(t.size)
    result = plugin.score(CycleState(), pod_builder.obj(), t, candidates)  # type: ignore[attr-defined]
    return [round(float(x), 3) for x in result]


def test_least_allocated_values() -> None:
    nodes = [
        make_node("a").alloc(cpu="4", memory="16Gi").obj(),
        make_node("b").alloc(cpu="8", memory="16Gi").obj(),
    ]
    # a: cpu (4-1)/4 = 75, memory (16-4)/16 = 75 → 75; b: cpu 87 (87.5 truncated, as kube's
    # integers), memory 75 → 162 ÷ 2 = 81
    assert _scores(NodeResourcesFit(), make_pod("p").req(cpu="1", memory="4Gi"), *nodes) == [
        75.0,
        81.0,
    ]


def test_most_allocated_values() -> None:
    args = NodeResourcesFitArgs.model_validate({"scoringStrategy": {"type": "MostAllocated"}})
    nodes = [
        make_node("a").alloc(cpu="4", memory="16Gi").obj(),
        make_node("b").alloc(cpu="8", memory="16Gi").obj(),
    ]
    assert _scores(NodeResourcesFit(args), make_pod("p").req(cpu="1", memory="4Gi"), *nodes) == [
        25.0,
        18.0,  # cpu 12 (12.5 truncated), memory 25: 37 ÷ 2
    ]


def test_resource_weights_change_the_mix() -> None:
    args = NodeResourcesFitArgs.model_validate(
        {
            "scoringStrategy": {
                "resources": [{"name": "cpu", "weight": 3}, {"name": "memory", "weight": 1}]
            }
        }
    )
    nodes = [make_node("a").alloc(cpu="4", memory="16Gi").obj()]
    # cpu 75 × 3 + memory 50 × 1 = 275, over 4: 68 (kube's integer division)
    assert _scores(NodeResourcesFit(args), make_pod("p").req(cpu="1", memory="8Gi"), *nodes) == [
        68.0
    ]


def test_scored_resource_a_node_lacks_is_left_out_of_its_score() -> None:
    args = NodeResourcesFitArgs.model_validate(
        {"scoringStrategy": {"resources": [{"name": "cpu"}, {"name": "nvidia.com/gpu"}]}}
    )
    nodes = [
        make_node("cpu-only").alloc(cpu="4").obj(),
        make_node("gpu").alloc(cpu="4").extended("nvidia.com/gpu", "4").obj(),
    ]
    # cpu-only: just cpu 75; gpu: (75 + (4-1)/4·100) / 2 = 75
    assert _scores(
        NodeResourcesFit(args), make_pod("p").req(cpu="1").extended("nvidia.com/gpu", "1"), *nodes
    ) == [75.0, 75.0]


def test_over_committed_node_scores_zero_on_least_allocated() -> None:
    nodes = [make_node("a").alloc(cpu="1", memory="1Gi").obj()]
    assert _scores(NodeResourcesFit(), make_pod("p").req(cpu="2", memory="2Gi"), *nodes) == [0.0]


def test_best_effort_pods_count_default_requests_in_scores() -> None:
    nodes = [make_node("a").alloc(cpu="1", memory="1Gi").obj()]
    # 100m of 1 cpu → 90; 200Mi of 1Gi → 80 (80.47 truncated): 170 ÷ 2
    assert _scores(NodeResourcesFit(), make_pod("p"), *nodes) == [85.0]


def test_balanced_allocation_values() -> None:
    nodes = [
        make_node("a").alloc(cpu="4", memory="16Gi").obj(),
        make_node("b").alloc(cpu="8", memory="8Gi").obj(),
    ]
    # kube v1.36 scores the change in balance: 50 + (50 + with - without) ÷ 2, each balance
    # int((1 - std) × 100). Both nodes are empty (balance 100 without the pod). a: cpu 2/4,
    # memory 8/16 → even → 100 → 75; b: cpu 2/8, memory 8/8 → std 0.375 → 62 → 50 + 12 ÷ 2 = 56
    assert _scores(
        NodeResourcesBalancedAllocation(), make_pod("p").req(cpu="2", memory="8Gi"), *nodes
    ) == [75.0, 56.0]


def test_balanced_allocation_rewards_a_pod_that_evens_a_node_out() -> None:
    """A node running a cpu-heavy pod: a memory-heavy pod evens it out (balance 50 → 100) and
    scores higher than on an empty node, where it unbalances (100 → 75)."""
    s = scheduler(
        make_node("busy").alloc(cpu="4", memory="4Gi").obj(),
        make_node("idle").alloc(cpu="4", memory="4Gi").obj(),
    )
    s.upsert_pod(make_pod("cpu-heavy").req(cpu="2").node("busy").phase("Running").obj())
    pod = make_pod("p").req(cpu="0", memory="2Gi").obj()
    scores = NodeResourcesBalancedAllocation().score(CycleState(), pod, s.cache.nodes, np.arange(2))
    assert scores is not None
    # busy: without 2/4 vs 0 → std 0.25 → 75; with 2/4 vs 2/4 → 100: 50 + (50 + 25) ÷ 2 = 87
    # idle: with 0 vs 2/4 → 75, without 100: 50 + 25 ÷ 2 = 62
    assert scores.tolist() == [87.0, 62.0]


def test_balanced_allocation_skips_best_effort_pods_and_ignores_default_requests() -> None:
    """kube v1.36: no score for a pod requesting neither cpu nor memory (best-effort pods
    would pile onto one node), and the fractions are the requests as they are — a best-effort
    pod on the node counts nothing (LeastAllocated counts it as 100m / 200Mi)."""
    nodes = [make_node("a").alloc(cpu="4", memory="4Gi").obj()]
    assert (
        NodeResourcesBalancedAllocation().score(
            CycleState(), make_pod("p").obj(), table(*nodes), np.arange(1)
        )
        is None
    )
    s = scheduler(*nodes)
    s.upsert_pod(make_pod("idle").node("a").phase("Running").obj())
    pod = make_pod("p").req(cpu="2", memory="2Gi").obj()
    scores = NodeResourcesBalancedAllocation().score(CycleState(), pod, s.cache.nodes, np.arange(1))
    assert scores is not None
    assert scores.tolist() == [75.0]  # 2/4 and 2Gi/4Gi: even; the idle pod counts nothing


def test_balanced_allocation_over_three_resources() -> None:
    plugin = NodeResourcesBalancedAllocation(
        BalancedAllocationArgs(resources=("cpu", "memory", "nvidia.com/gpu"))
    )
    nodes = [
        make_node("gpu").alloc(cpu="4", memory="4Gi").extended("nvidia.com/gpu", "4").obj(),
        make_node("plain").alloc(cpu="4", memory="4Gi").obj(),
    ]
    pod = make_pod("p").req(cpu="2", memory="2Gi").extended("nvidia.com/gpu", "2")
    # gpu: 0.5, 0.5, 0.5 → 100; plain: no GPUs, so only cpu and memory count → 100; both
    # empty before (100): 50 + 50 ÷ 2 = 75
    assert _scores(plugin, pod, *nodes) == [75.0, 75.0]
    pod = make_pod("p").req(cpu="2", memory="2Gi").extended("nvidia.com/gpu", "4")
    # gpu: 0.5, 0.5, 1.0 → mean 2/3, std 0.2357 → 76 (76.43 truncated): 50 + 26 ÷ 2 = 63
    assert _scores(plugin, pod, *nodes)[0] == 63.0


def test_least_allocated_spreads_identical_pods() -> None:
    s = scheduler(*[make_node(f"n{i}").alloc(cpu="4", memory="8Gi").obj() for i in range(3)])
    placed = place(s, *[make_pod(f"p{i}").req(cpu="1", memory="1Gi").obj() for i in range(3)])
    assert sorted(placed.values()) == ["n0", "n1", "n2"]


def test_most_allocated_packs_pods() -> None:
    config = {
        "profiles": [
            {
                "pluginConfig": [
                    {
                        "name": "NodeResourcesFit",
                        "args": {"scoringStrategy": {"type": "MostAllocated"}},
                    }
                ],
                "plugins": {"score": {"disabled": [{"name": "NodeResourcesBalancedAllocation"}]}},
            }
        ]
    }
    s = scheduler(
        *[make_node(f"n{i}").alloc(cpu="4", memory="8Gi").obj() for i in range(3)], config=config
    )
    placed = place(s, *[make_pod(f"p{i}").req(cpu="1", memory="1Gi").obj() for i in range(3)])
    assert set(placed.values()) == {"n0"}


def test_balanced_allocation_steers_pods_to_complementary_nodes() -> None:
    config = {"profiles": [{"plugins": {"score": {"disabled": [{"name": "NodeResourcesFit"}]}}}]}
    s = scheduler(
        make_node("cpu-heavy").alloc(cpu="16", memory="8Gi").obj(),
        make_node("mem-heavy").alloc(cpu="4", memory="32Gi").obj(),
        config=config,
    )
    placed = place(
        s,
        make_pod("wants-memory").req(cpu="1", memory="8Gi").obj(),
        make_pod("wants-cpu").req(cpu="4", memory="1Gi").obj(),
    )
    assert placed == {"wants-memory": "mem-heavy", "wants-cpu": "cpu-heavy"}
