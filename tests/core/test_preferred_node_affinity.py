"""Preferred node affinity is scored as kube-scheduler scores it: the sum of the weights of the
terms a node matches, × 100 ÷ the highest sum among the feasible nodes (integer division)."""

from __future__ import annotations

import numpy as np
import pytest

from kubenexus.framework import CycleState
from kubenexus.framework.runtime import FEASIBLE
from kubenexus.plugins.node_affinity import NodeAffinity
from tests.builders import make_node, make_pod
from tests.core.helpers import place, scheduler, table


def test_weights_of_matching_terms_add_up_and_are_normalized() -> None:
    nodes = table(
        make_node("ssd-a").label("disk", "ssd").label("zone", "a").obj(),
        make_node("ssd-b").label("disk", "ssd").label("zone", "b").obj(),
        make_node("hdd-a").label("disk", "hdd").label("zone", "a").obj(),
        make_node("none").obj(),
    )
    pod = (
        make_pod("p")
        .preferred_term(30, ("disk", "In", ["ssd"]))
        .preferred_term(20, ("zone", "In", ["a"]))
        .obj()
    )
    state = CycleState()
    state.write(FEASIBLE, np.ones(nodes.size, dtype=np.bool_))
    scores = NodeAffinity().score(state, pod, nodes, nodes.all_slots())
    assert scores is not None
    # ssd-a 50 (the highest) → 100; ssd-b 30 → 60; hdd-a 20 → 40; none 0.
    assert dict(zip(nodes.names, scores.tolist(), strict=True)) == {
        "ssd-a": 100.0,
        "ssd-b": 60.0,
        "hdd-a": 40.0,
        "none": 0.0,
    }
    # Normalized over the feasible nodes only: without ssd-a, ssd-b is the best.
    state.write(FEASIBLE, np.array([False, True, True, True]))
    scores = NodeAffinity().score(state, pod, nodes, nodes.all_slots())
    assert scores is not None
    assert scores.tolist()[1:] == [100.0, 66.0, 0.0]  # 20 × 100 // 30 = 66


def test_a_preferred_term_steers_the_placement_but_never_rejects() -> None:
    s = scheduler(
        make_node("a").alloc(cpu="4").obj(),
        make_node("b").alloc(cpu="4").label("gpu", "yes").obj(),
    )
    pod = make_pod("likes-gpu").req(cpu="1").preferred_term(10, ("gpu", "Exists", []))
    assert place(s, pod.obj()) == {"likes-gpu": "b"}
    nowhere = make_pod("likes-nothing").req(cpu="1").preferred_term(10, ("x", "In", ["y"]))
    assert place(s, nowhere.obj())["likes-nothing"] in {"a", "b"}
    # The preference outweighs LeastAllocated's spreading: b is fuller and still chosen.
    assert place(
        s, make_pod("again").req(cpu="1").preferred_term(100, ("gpu", "Exists", [])).obj()
    ) == {"again": "b"}


@pytest.mark.parametrize("weight", [0, 101, "5", True])
def test_a_bad_weight_names_the_field(weight: object) -> None:
    with pytest.raises(
        ValueError, match=r"preferredDuringSchedulingIgnoredDuringExecution\[0\]\.weight"
    ):
        make_pod("p").preferred_term(weight, ("a", "In", ["b"])).obj()
