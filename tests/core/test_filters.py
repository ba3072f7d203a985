"""Each baseline filter plugin: its accept and reject paths, and the reasons it reports."""

from __future__ import annotations

import numpy as np
import pytest

from kubenexus.framework import CycleState
from kubenexus.plugins.node_affinity import NodeAffinity
from kubenexus.plugins.node_name import NodeName
from kubenexus.plugins.node_resources_fit import NodeResourcesFit, NodeResourcesFitArgs
from kubenexus.plugins.node_unschedulable import NodeUnschedulable
from kubenexus.plugins.taint_toleration import TaintToleration
from tests.builders import make_node, make_pod
from tests.core.helpers import explain, passing, table

# ----------------------------------------------------------------------------- NodeResourcesFit


def _fit_nodes() -> list:
    return [
        make_node("small").alloc(cpu="2", memory="4Gi", pods="3").obj(),
        make_node("big").alloc(cpu="16", memory="64Gi").obj(),
        make_node("gpu").alloc(cpu="16", memory="64Gi").extended("nvidia.com/gpu", "4").obj(),
    ]


def test_fit_accepts_nodes_with_room_and_rejects_the_rest() -> None:
    nodes = table(*_fit_nodes())
    pod = make_pod("p").req(cpu="4", memory="8Gi").obj()
    assert passing(NodeResourcesFit(), pod, nodes) == ["big", "gpu"]
    assert explain(NodeResourcesFit(), pod, nodes) == {
        "Insufficient cpu": 1,
        "Insufficient memory": 1,
    }


def test_fit_counts_usage_already_on_the_node() -> None:
    nodes = table(*_fit_nodes())
    used = make_pod("used").req(cpu="14").obj()
    nodes.add_usage(nodes.index["big"], used.requests, used.score_cpu, used.score_memory)
    pod = make_pod("p").req(cpu="4").obj()
    assert passing(NodeResourcesFit(), pod, nodes) == ["gpu"]


def test_fit_checks_extended_resources() -> None:
    nodes = table(*_fit_nodes())
    pod = make_pod("p").extended("nvidia.com/gpu", "2").obj()
    assert passing(NodeResourcesFit(), pod, nodes) == ["gpu"]
    assert explain(NodeResourcesFit(), pod, nodes) == {"Insufficient nvidia.com/gpu": 2}


def test_fit_rejects_everywhere_a_resource_no_node_has() -> None:
    nodes = table(*_fit_nodes())
    pod = make_pod("p").extended("example.com/fpga", "1").obj()
    assert passing(NodeResourcesFit(), pod, nodes) == []
    assert explain(NodeResourcesFit(), pod, nodes) == {"Insufficient example.com/fpga": 3}


def test_fit_counts_pod_slots() -> None:
    nodes = table(*_fit_nodes())
    tiny = make_pod("tiny").obj()
    for _ in range(3):
        nodes.add_usage(nodes.index["small"], tiny.requests, 0, 0)
    assert passing(NodeResourcesFit(), tiny, nodes) == ["big", "gpu"]
    assert explain(NodeResourcesFit(), tiny, nodes) == {"Too many pods": 1}


def test_fit_ignores_configured_resources() -> None:
    nodes = table(*_fit_nodes())
    pod = make_pod("p").extended("example.com/fpga", "1").obj()
    plugin = NodeResourcesFit(NodeResourcesFitArgs(ignored_resources=("example.com/fpga",)))
    assert passing(plugin, pod, nodes) == ["small", "big", "gpu"]


# ----------------------------------------------------------------------------- NodeName


def test_node_name_accepts_only_the_named_node() -> None:
    nodes = table(make_node("a").obj(), make_node("b").obj())
    pod = make_pod("p").node("b").obj()
    assert passing(NodeName(), pod, nodes) == ["b"]
    assert explain(NodeName(), pod, nodes) == {"node(s) didn't match the requested node name": 1}


def test_node_name_unknown_node_rejects_all_and_unset_accepts_all() -> None:
    nodes = table(make_node("a").obj(), make_node("b").obj())
    assert passing(NodeName(), make_pod("p").node("zzz").obj(), nodes) == []
    assert passing(NodeName(), make_pod("p").obj(), nodes) == ["a", "b"]


# ----------------------------------------------------------------------------- NodeUnschedulable


def test_cordoned_nodes_are_rejected() -> None:
    nodes = table(make_node("ok").obj(), make_node("cordoned").cordon().obj())
    pod = make_pod("p").obj()
    assert passing(NodeUnschedulable(), pod, nodes) == ["ok"]
    assert explain(NodeUnschedulable(), pod, nodes) == {"node(s) were unschedulable": 1}


def test_tolerating_the_cordon_taint_admits_the_pod() -> None:
    nodes = table(make_node("ok").obj(), make_node("cordoned").cordon().obj())
    pod = (
        make_pod("p")
        .toleration("node.kubernetes.io/unschedulable", "Exists", effect="NoSchedule")
        .obj()
    )
    assert passing(NodeUnschedulable(), pod, nodes) == ["ok", "cordoned"]


# ----------------------------------------------------------------------------- TaintToleration


def _tainted() -> list:
    return [
        make_node("plain").obj(),
        make_node("gpu").taint("gpu", "true", "NoSchedule").obj(),
        make_node("infra").taint("dedicated", "infra", "NoExecute").obj(),
        make_node("soft").taint("spot", "true", "PreferNoSchedule").obj(),
    ]


@pytest.mark.parametrize(
    ("tolerations", "expected"),
    [
        ([], ["plain", "soft"]),
        ([("gpu", "Equal", "true", "NoSchedule")], ["plain", "gpu", "soft"]),
        ([("gpu", "Equal", "false", "NoSchedule")], ["plain", "soft"]),
        ([("gpu", "Exists", "", "")], ["plain", "gpu", "soft"]),
        ([("gpu", "Equal", "true", "NoExecute")], ["plain", "soft"]),  # effect must match
        ([("dedicated", "Equal", "infra", "NoExecute")], ["plain", "infra", "soft"]),
        ([("", "Exists", "", "")], ["plain", "gpu", "infra", "soft"]),  # tolerates everything
        ([("", "Exists", "", "NoExecute")], ["plain", "infra", "soft"]),
    ],
)
def test_taints_need_matching_tolerations(
    tolerations: list[tuple[str, str, str, str]], expected: list[str]
) -> None:
    nodes = table(*_tainted())
    builder = make_pod("p")
    for key, op, value, effect in tolerations:
        builder.toleration(key, op, value, effect)
    assert passing(TaintToleration(), builder.obj(), nodes) == expected


def test_untolerated_taints_are_counted_as_kube_scheduler_does_today() -> None:
    # kube-scheduler v1.36 counts the nodes and no longer names the taints.
    nodes = table(*_tainted(), make_node("gpu2").taint("gpu", "true").obj())
    assert explain(TaintToleration(), make_pod("p").obj(), nodes) == {
        "node(s) had untolerated taint(s)": 3
    }


def test_prefer_no_schedule_lowers_the_score() -> None:
    nodes = table(*_tainted())
    plugin = TaintToleration()
    candidates = np.array([nodes.index["plain"], nodes.index["soft"]])
    scores = plugin.score(CycleState(), make_pod("p").obj(), nodes, candidates)
    assert scores is not None
    assert list(scores) == [100.0, 0.0]
    tolerant = make_pod("p").toleration("spot", "Exists").obj()
    assert plugin.score(CycleState(), tolerant, nodes, candidates) is None  # all equal


# ----------------------------------------------------------------------------- NodeAffinity


def _labelled() -> list:
    return [
        make_node("a1").label("zone", "a").label("gen", "3").label("ssd", "").obj(),
        make_node("a2").label("zone", "a").label("gen", "5").obj(),
        make_node("b1").label("zone", "b").label("gen", "4").obj(),
        make_node("c1").label("zone", "c").label("gen", "new").obj(),
    ]


def test_node_selector_needs_every_label() -> None:
    nodes = table(*_labelled())
    assert passing(NodeAffinity(), make_pod("p").selector(zone="a").obj(), nodes) == ["a1", "a2"]
    assert passing(NodeAffinity(), make_pod("p").selector(zone="a", gen="5").obj(), nodes) == ["a2"]
    assert passing(NodeAffinity(), make_pod("p").selector(zone="z").obj(), nodes) == []
    pod = make_pod("p").selector(zone="z").obj()
    assert explain(NodeAffinity(), pod, nodes) == {
        "node(s) didn't match Pod's node affinity/selector": 4
    }


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (("zone", "In", ["a", "c"]), ["a1", "a2", "c1"]),
        (("zone", "In", ["nowhere"]), []),
        (("zone", "NotIn", ["a"]), ["b1", "c1"]),
        (("missing", "NotIn", ["x"]), ["a1", "a2", "b1", "c1"]),  # absent label: NotIn matches
        (("ssd", "Exists", []), ["a1"]),
        (("ssd", "DoesNotExist", []), ["a2", "b1", "c1"]),
        (("gen", "Gt", ["3"]), ["a2", "b1"]),  # "new" is not an integer: never matches
        (("gen", "Lt", ["5"]), ["a1", "b1"]),
        (("missing", "Gt", ["0"]), []),
    ],
)
def test_required_affinity_operators(
    expression: tuple[str, str, list[str]], expected: list[str]
) -> None:
    nodes = table(*_labelled())
    pod = make_pod("p").affinity_term(expression).obj()
    assert passing(NodeAffinity(), pod, nodes) == expected


def test_affinity_terms_are_ored_and_expressions_anded() -> None:
    nodes = table(*_labelled())
    pod = (
        make_pod("p")
        .affinity_term(("zone", "In", ["a"]), ("gen", "Gt", ["4"]))
        .affinity_term(("zone", "In", ["c"]))
        .obj()
    )
    assert passing(NodeAffinity(), pod, nodes) == ["a2", "c1"]


def test_affinity_and_selector_must_both_hold() -> None:
    nodes = table(*_labelled())
    pod = make_pod("p").selector(zone="a").affinity_term(("gen", "Lt", ["4"])).obj()
    assert passing(NodeAffinity(), pod, nodes) == ["a1"]


def test_match_fields_on_node_name() -> None:
    nodes = table(*_labelled())
    pod = make_pod("p").affinity_term(fields=[("metadata.name", "In", ["b1"])]).obj()
    assert passing(NodeAffinity(), pod, nodes) == ["b1"]
    pod = make_pod("p").affinity_term(fields=[("metadata.name", "NotIn", ["b1"])]).obj()
    assert passing(NodeAffinity(), pod, nodes) == ["a1", "a2", "c1"]


def test_affinity_sees_label_changes_and_new_nodes() -> None:
    plugin = NodeAffinity()
    nodes = table(*_labelled())
    pod = make_pod("p").selector(zone="b").obj()
    assert passing(plugin, pod, nodes) == ["b1"]
    nodes.upsert(make_node("a1").label("zone", "b").obj())
    nodes.upsert(make_node("b2").label("zone", "b").obj())
    assert passing(plugin, pod, nodes) == ["a1", "b1", "b2"]
    nodes.remove("b1")
    assert passing(plugin, pod, nodes) == ["a1", "b2"]


def test_gt_lt_compare_labels_as_exact_64_bit_integers() -> None:
    """Found by the differential tests: "1_0" is no number to kube-scheduler, values beyond
    int64 neither, and 2^53 + 1 is compared exactly (not through a float)."""
    nodes = table(
        make_node("underscore").label("gen", "1_0").obj(),
        make_node("huge").label("gen", "99999999999999999999").obj(),
        make_node("exact").label("gen", "9007199254740993").obj(),
        make_node("padded").label("gen", "007").obj(),
    )
    above = make_pod("p").affinity_term(("gen", "Gt", ["9007199254740992"])).obj()
    assert passing(NodeAffinity(), above, nodes) == ["exact"]
    below = make_pod("q").affinity_term(("gen", "Lt", ["11"])).obj()
    assert passing(NodeAffinity(), below, nodes) == ["padded"]
