"""The cycle runtime: failure messages in kube-scheduler's style, plugin contracts, reserve/permit."""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

import numpy as np
import pytest

from kubenexus.api import PodInfo
from kubenexus.framework import (
    SKIP,
    CycleState,
    Diagnosis,
    Failure,
    IntArray,
    NodeTable,
    Placement,
    PluginError,
    Profile,
    Status,
    WeightedScore,
)
from kubenexus.plugins.node_resources_fit import NodeResourcesFit
from kubenexus.plugins.priority_sort import PrioritySort
from kubenexus.plugins.taint_toleration import TaintToleration
from tests.builders import make_node, make_pod, not_helpful
from tests.core.helpers import place, scheduler, table


def test_message_matches_kube_scheduler_format() -> None:
    diagnosis = Diagnosis(
        total_nodes=12,
        reasons=Counter({"Insufficient cpu": 4, "node(s) had untolerated taint(s)": 8}),
    )
    assert (
        diagnosis.message
        == "0/12 nodes are available: 4 Insufficient cpu, 8 node(s) had untolerated taint(s)."
    )


def test_reasons_sort_as_strings_like_kube_scheduler() -> None:
    diagnosis = Diagnosis(
        total_nodes=13, reasons=Counter({"Insufficient memory": 10, "Insufficient cpu": 3})
    )
    assert (
        diagnosis.message == "0/13 nodes are available: 10 Insufficient memory, 3 Insufficient cpu."
    )


def test_empty_cluster_message() -> None:
    s = scheduler()
    assert place(s, make_pod("p").obj()) == {
        "p": "no nodes available to schedule pods"  # kube-scheduler v1.36, verbatim
    }


def test_each_node_is_reported_under_the_first_filter_that_rejects_it() -> None:
    nodes = [
        *[make_node(f"gpu{i}").alloc(cpu="1").taint("gpu", "true").obj() for i in range(8)],
        *[make_node(f"cpu{i}").alloc(cpu="1").obj() for i in range(4)],
    ]
    s = scheduler(*nodes)
    message = place(s, make_pod("p").req(cpu="2").obj())["p"]
    # gpu nodes lack cpu too, but the taint filter runs first.
    assert (
        message
        == "0/12 nodes are available: 4 Insufficient cpu, 8 node(s) had untolerated taint(s)."
        + not_helpful(12)
    )


def test_a_node_short_of_two_resources_counts_under_both() -> None:
    s = scheduler(
        make_node("n").alloc(cpu="1", memory="1Gi").obj(),
        make_node("m").alloc(cpu="8", memory="1Gi").obj(),
    )
    message = place(s, make_pod("p").req(cpu="2", memory="2Gi").obj())["p"]
    assert message == (
        "0/2 nodes are available: 1 Insufficient cpu, 2 Insufficient memory." + not_helpful(2)
    )


class _BadScore:
    name: ClassVar[str] = "BadScore"

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> np.ndarray:
        return np.full(candidates.size, 150.0)


def test_scores_outside_range_are_a_plugin_error() -> None:
    profile = Profile(
        "x", PrioritySort(), filters=[NodeResourcesFit()], scores=[WeightedScore(_BadScore(), 1)]
    )
    nodes = table(make_node("a").obj(), make_node("b").obj())
    with pytest.raises(PluginError, match="BadScore"):
        profile.find_node(make_pod("p").obj(), nodes)


def test_plugin_error_requeues_with_backoff_and_reports_it() -> None:
    s = scheduler(make_node("a").obj(), make_node("b").obj())
    profile = s.profiles["kubenexus-scheduler"]
    profile.scores = [WeightedScore(_BadScore(), 1)]
    result = place(s, make_pod("p").obj())
    assert "score outside 0..100" in result["p"]
    assert s.queue.where("uid-p") == "backoff"


def test_weights_multiply_scores() -> None:
    class Prefer:
        name: ClassVar[str] = "Prefer"

        def __init__(self, favourite: int) -> None:
            self.favourite = favourite

        def score(
            self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
        ) -> np.ndarray:
            return np.where(candidates == self.favourite, 100.0, 0.0)

    nodes = table(make_node("a").obj(), make_node("b").obj())
    profile = Profile(
        "x", PrioritySort(), scores=[WeightedScore(Prefer(0), 1), WeightedScore(Prefer(1), 2)]
    )
    result = profile.find_node(make_pod("p").obj(), nodes)
    assert isinstance(result, Placement)
    assert result.node_name == "b"


class _Recorder:
    name: ClassVar[str] = "Recorder"

    def __init__(self, log: list[str], tag: str, fail: bool = False) -> None:
        self.log, self.tag, self.fail = log, tag, fail

    def reserve(self, state: CycleState, pod: PodInfo, nodes: NodeTable, slot: int) -> Status:
        self.log.append(f"reserve {self.tag}")
        return Status.unschedulable("full", plugin=self.tag) if self.fail else Status()

    def unreserve(self, state: CycleState, pod: PodInfo, nodes: NodeTable, slot: int) -> None:
        self.log.append(f"unreserve {self.tag}")


def test_failed_reserve_unreserves_in_reverse_and_the_pod_is_not_assumed() -> None:
    log: list[str] = []
    s = scheduler(make_node("a").obj())
    s.profiles["kubenexus-scheduler"].reserves = [
        _Recorder(log, "one"),
        _Recorder(log, "two"),
        _Recorder(log, "three", fail=True),
    ]
    result = place(s, make_pod("p").obj())
    assert log == [
        "reserve one",
        "reserve two",
        "reserve three",
        "unreserve two",
        "unreserve one",
        "unreserve three",
    ]
    assert "three rejected a: full" in result["p"]
    assert "uid-p" not in s.cache


def test_permit_rejection_unreserves() -> None:
    log: list[str] = []

    class Deny:
        name: ClassVar[str] = "Deny"

        def permit(self, state: CycleState, pod: PodInfo, nodes: NodeTable, slot: int) -> Status:
            return Status.unschedulable("not now", plugin="Deny")

    s = scheduler(make_node("a").obj())
    profile = s.profiles["kubenexus-scheduler"]
    profile.reserves = [_Recorder(log, "r")]
    profile.permits = [Deny()]
    assert "not now" in place(s, make_pod("p").obj())["p"]
    assert log == ["reserve r", "unreserve r"]


def test_pre_filter_rejection_is_reported_for_the_whole_pod() -> None:
    class Gate:
        name: ClassVar[str] = "Gate"

        def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
            return Status.unresolvable("annotation x is malformed")

    profile = Profile("x", PrioritySort(), pre_filters=[Gate()], filters=[TaintToleration()])
    result = profile.find_node(
        make_pod("p").obj(), table(make_node("a").obj(), make_node("b").obj())
    )
    assert isinstance(result, Failure)
    assert result.message == "0/2 nodes are available: annotation x is malformed."
    assert result.unresolvable


def test_nodes_named_by_match_fields_are_the_only_ones_tried_as_kube_says() -> None:
    """kube-scheduler's NodeAffinity pre-filter limits a pod whose every term names nodes by
    metadata.name; other nodes are reported as not satisfying the plugin."""
    s = scheduler(
        make_node("a").alloc(cpu="1").obj(),
        make_node("b").alloc(cpu="8").taint("x", "y").obj(),
        make_node("c").alloc(cpu="8").obj(),
    )
    named = make_pod("named").req(cpu="2").affinity_term(fields=[("metadata.name", "In", ["a"])])
    assert place(s, named.obj())["named"] == (
        "0/3 nodes are available: 1 Insufficient cpu, "
        "2 node(s) didn't satisfy plugin(s) [NodeAffinity]." + not_helpful(3)
    )
    either = make_pod("either").req(cpu="2")
    either.affinity_term(fields=[("metadata.name", "In", ["a"])])
    either.affinity_term(fields=[("metadata.name", "In", ["c"])])
    assert place(s, either.obj()) == {"either": "c"}
    conflict = make_pod("conflict").affinity_term(
        fields=[("metadata.name", "In", ["a"]), ("metadata.name", "In", ["c"])]
    )
    assert place(s, conflict.obj())["conflict"] == (
        "0/3 nodes are available: pod affinity terms conflict."
    )


class _SkipsFilterButPrefers:
    """Nothing to filter for any pod (pre-filter SKIP), yet a preference between nodes."""

    name: ClassVar[str] = "Prefers"
    filtered = 0

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        return SKIP

    def filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> None:
        type(self).filtered += 1

    def explain(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, rejected: IntArray
    ) -> Counter[str]:
        return Counter()

    def score(
        self, state: CycleState, pod: PodInfo, nodes: NodeTable, candidates: IntArray
    ) -> np.ndarray:
        wanted = nodes.slot_of("second")
        return np.where(candidates == wanted, 100.0, 0.0)


def test_a_pre_filter_skip_skips_the_filter_but_not_the_score() -> None:
    plugin = _SkipsFilterButPrefers()
    profile = Profile(
        scheduler_name="kubenexus-scheduler",
        queue_sort=PrioritySort(),
        pre_filters=[plugin],
        filters=[plugin],
        scores=[WeightedScore(plugin, 1)],
    )
    nodes = table(make_node("first").alloc(cpu="4").obj(), make_node("second").alloc(cpu="4").obj())
    placement = profile.find_node(make_pod("p").obj(), nodes)
    assert isinstance(placement, Placement)
    assert placement.node_name == "second"  # the score counted
    assert _SkipsFilterButPrefers.filtered == 0  # the filter did not run


def test_a_node_that_fails_a_filter_is_never_chosen_however_well_it_scores() -> None:
    """Most nodes pass (scores computed for every slot, then the failing ones masked): the
    emptiest node fails the node selector and the next emptiest is chosen; with every node
    passing, the emptiest is."""
    nodes = [
        make_node("empty-but-wrong").alloc(cpu="64", memory="256Gi").label("disk", "hdd").obj(),
        make_node("big").alloc(cpu="32", memory="128Gi").label("disk", "ssd").obj(),
        make_node("small").alloc(cpu="8", memory="32Gi").label("disk", "ssd").obj(),
        make_node("smaller").alloc(cpu="4", memory="16Gi").label("disk", "ssd").obj(),
    ]
    s = scheduler(*nodes)
    picky = make_pod("picky").req(cpu="1", memory="1Gi").node_selector({"disk": "ssd"}).obj()
    assert place(s, picky) == {"picky": "big"}
    assert place(s, make_pod("any").req(cpu="1", memory="1Gi").obj()) == {"any": "empty-but-wrong"}
