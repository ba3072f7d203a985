"""InterPodAffinity as kube-scheduler decides it: kube's filtering_test.go cases translated to
our builders, the score and its normalization, and whole-scheduler behaviour (symmetry,
namespaceSelector, matchLabelKeys, the first pod of a self-affine group, gangs, the message)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from kubenexus.api import NodeInfo, PodInfo, pod_from_dict
from kubenexus.framework import Code, CycleState
from kubenexus.framework.runtime import FEASIBLE
from kubenexus.plugins.inter_pod_affinity import (
    AFFINITY_REASON,
    ANTI_AFFINITY_REASON,
    EXISTING_ANTI_AFFINITY_REASON,
    InterPodAffinity,
    InterPodAffinityArgs,
)
from tests.builders import make_node, make_pod, no_victims, not_helpful
from tests.core.helpers import place, scheduler, table

AFF, ANTI, EXIST = AFFINITY_REASON, ANTI_AFFINITY_REASON, EXISTING_ANTI_AFFINITY_REASON
HOST = "kubernetes.io/hostname"
GANG_NAME = "pod-group.scheduling.kubenexus.io/name"
GANG_MIN = "pod-group.scheduling.kubenexus.io/min-available"

# kube's test namespaces (filtering_test.go)
NAMESPACES = {
    "subteam1.team1": {"team": "team1"},
    "subteam2.team1": {"team": "team1"},
    "subteam1.team2": {"team": "team2"},
    "subteam2.team2": {"team": "team2"},
}


# ---------------------------------------------------------------------- builders


def sel(key: str, op: str, *values: str) -> dict[str, Any]:
    expression: dict[str, Any] = {"key": key, "operator": op}
    if values:
        expression["values"] = list(values)
    return {"matchExpressions": [expression]}


def term(selector: dict[str, Any] | None, key: str, **extra: Any) -> dict[str, Any]:
    """A PodAffinityTerm; extra: namespaces, namespaceSelector, matchLabelKeys..."""
    found: dict[str, Any] = {"topologyKey": key, **extra}
    if selector is not None:
        found["labelSelector"] = selector
    return found


def pod(
    name: str,
    labels: dict[str, str] | None = None,
    *,
    ns: str = "default",
    node: str = "",
    aff: list[dict[str, Any]] | None = None,
    anti: list[dict[str, Any]] | None = None,
    pref: list[tuple[int, dict[str, Any]]] | None = None,
    pref_anti: list[tuple[int, dict[str, Any]]] | None = None,
    cpu: str = "100m",
) -> PodInfo:
    builder = make_pod(name).req(cpu=cpu)
    for key, value in (labels or {}).items():
        builder.label(key, value)
    if node:
        builder.node(node).phase("Running")
    body = builder.dict()
    body["metadata"]["namespace"] = ns
    affinity: dict[str, Any] = {}
    for kind, required, preferred in (
        ("podAffinity", aff, pref),
        ("podAntiAffinity", anti, pref_anti),
    ):
        rules: dict[str, Any] = {}
        if required:
            rules["requiredDuringSchedulingIgnoredDuringExecution"] = required
        if preferred:
            rules["preferredDuringSchedulingIgnoredDuringExecution"] = [
                {"weight": w, "podAffinityTerm": t} for w, t in preferred
            ]
        if rules:
            affinity[kind] = rules
    if affinity:
        body["spec"]["affinity"] = affinity
    return pod_from_dict(body)


def node(name: str, **labels: str) -> NodeInfo:
    builder = make_node(name).alloc(cpu="8")
    for key, value in labels.items():
        builder.label(key, value)
    return builder.obj()


def judge(
    incoming: PodInfo,
    placed: list[PodInfo],
    nodes: list[NodeInfo],
    plugin: InterPodAffinity | None = None,
) -> dict[str, str | None] | str:
    """Per node: the reason the plugin rejects it (None: it passes); "skip" when the plugin
    skips the pod at pre-filter."""
    t = table(*nodes)
    for name, labels in NAMESPACES.items():
        t.pods.set_namespace(name, labels)
    for p in placed:
        slot = t.slot_of(p.node_name)
        assert slot is not None
        t.pods.add(p, slot)
    plugin = plugin or InterPodAffinity()
    state = CycleState()
    status = plugin.pre_filter(state, incoming, t)
    if status.code is Code.SKIP:
        return "skip"
    assert status.ok
    mask = plugin.filter(state, incoming, t)
    found: dict[str, str | None] = {}
    for n in nodes:
        slot = t.slot_of(n.name)
        assert slot is not None
        if mask is None or mask[slot]:
            found[n.name] = None
        else:
            reasons = plugin.explain(state, incoming, t, np.array([slot]))
            assert sum(reasons.values()) == 1
            found[n.name] = next(iter(reasons))
    return found


# ---------------------------------------------------------------------- kube: one node

SECURITYSCAN = {"service": "securityscan"}
S1 = {"security": "S1"}
NODE1 = node("node1", region="r1", zone="z11")
ON_NODE1 = pod("existing", SECURITYSCAN, node="node1")

SINGLE_NODE: list[tuple[str, PodInfo, list[PodInfo], str | None]] = [
    ("no required rules: skipped", pod("p"), [], "skip"),
    (
        "affinity In matches the existing pod",
        pod("p", S1, aff=[term(sel("service", "In", "securityscan", "value2"), "region")]),
        [ON_NODE1],
        None,
    ),
    (
        "affinity NotIn matches the existing pod",
        pod("p", S1, aff=[term(sel("service", "NotIn", "securityscan3", "value3"), "region")]),
        [ON_NODE1],
        None,
    ),
    (
        "affinity in another namespace does not match",
        pod(
            "p",
            S1,
            aff=[
                term(
                    sel("service", "In", "securityscan", "value2"),
                    "region",
                    namespaces=["DiffNameSpace"],
                )
            ],
        ),
        [pod("existing", SECURITYSCAN, ns="ns", node="node1")],
        AFF,
    ),
    (
        "affinity selector matching no existing pod",
        pod(
            "p", SECURITYSCAN, aff=[term(sel("service", "In", "antivirusscan", "value2"), "region")]
        ),
        [ON_NODE1],
        AFF,
    ),
    (
        "several terms with different operators, all matching the same pod",
        pod(
            "p",
            S1,
            aff=[
                term(
                    {
                        "matchExpressions": [
                            {"key": "service", "operator": "Exists"},
                            {"key": "wrongkey", "operator": "DoesNotExist"},
                        ]
                    },
                    "region",
                ),
                term(
                    {
                        "matchExpressions": [
                            {"key": "service", "operator": "In", "values": ["securityscan"]},
                            {"key": "service", "operator": "NotIn", "values": ["WrongValue"]},
                        ]
                    },
                    "region",
                ),
            ],
        ),
        [ON_NODE1],
        None,
    ),
    (
        "matchExpressions are ANDed: one does not match",
        pod(
            "p",
            S1,
            aff=[
                term(
                    {
                        "matchExpressions": [
                            {"key": "service", "operator": "Exists"},
                            {"key": "wrongkey", "operator": "DoesNotExist"},
                        ]
                    },
                    "region",
                ),
                term(
                    {
                        "matchExpressions": [
                            {"key": "service", "operator": "In", "values": ["securityscan2"]},
                            {"key": "service", "operator": "NotIn", "values": ["WrongValue"]},
                        ]
                    },
                    "region",
                ),
            ],
        ),
        [ON_NODE1],
        AFF,
    ),
    (
        "affinity and anti-affinity both satisfied",
        pod(
            "p",
            S1,
            aff=[term(sel("service", "In", "securityscan", "value2"), "region")],
            anti=[term(sel("service", "In", "antivirusscan", "value2"), "node")],
        ),
        [ON_NODE1],
        None,
    ),
    (
        "affinity, anti-affinity and the existing pod's anti-affinity satisfied",
        pod(
            "p",
            S1,
            aff=[term(sel("service", "In", "securityscan", "value2"), "region")],
            anti=[term(sel("service", "In", "antivirusscan", "value2"), "node")],
        ),
        [
            pod(
                "existing",
                SECURITYSCAN,
                node="node1",
                anti=[term(sel("service", "In", "antivirusscan", "value2"), "node")],
            )
        ],
        None,
    ),
    (
        "affinity satisfied, anti-affinity not",
        pod(
            "p",
            S1,
            aff=[term(sel("service", "In", "securityscan", "value2"), "region")],
            anti=[term(sel("service", "In", "securityscan", "value2"), "zone")],
        ),
        [ON_NODE1],
        ANTI,
    ),
    (
        "the existing pod's anti-affinity (symmetry) not satisfied",
        pod(
            "p",
            SECURITYSCAN,
            aff=[term(sel("service", "In", "securityscan", "value2"), "region")],
            anti=[term(sel("service", "In", "antivirusscan", "value2"), "node")],
        ),
        [
            pod(
                "existing",
                SECURITYSCAN,
                node="node1",
                anti=[term(sel("service", "In", "securityscan", "value2"), "zone")],
            )
        ],
        EXIST,
    ),
    (
        "does not match its own NotIn term and no pod matches it: not a first pod",
        pod(
            "p",
            SECURITYSCAN,
            aff=[term(sel("service", "NotIn", "securityscan", "value2"), "region")],
        ),
        [],
        AFF,
    ),
    (
        "existing anti-affinity respected by a pod without rules",
        pod("p", SECURITYSCAN),
        [
            pod(
                "existing",
                SECURITYSCAN,
                node="node1",
                anti=[term(sel("service", "In", "securityscan", "value2"), "zone")],
            )
        ],
        EXIST,
    ),
    (
        "existing anti-affinity not matching a pod without rules",
        pod("p", SECURITYSCAN),
        [
            pod(
                "existing",
                SECURITYSCAN,
                node="node1",
                anti=[term(sel("service", "NotIn", "securityscan", "value2"), "zone")],
            )
        ],
        "skip",
    ),
    (
        "own anti-affinity reported before the existing pod's",
        pod(
            "p",
            SECURITYSCAN,
            anti=[
                term(sel("service", "Exists"), "region"),
                term(sel("security", "Exists"), "region"),
            ],
        ),
        [pod("existing", S1, node="node1", anti=[term(sel("security", "Exists"), "zone")])],
        ANTI,
    ),
    (
        "symmetry a1: partial match on terms",
        pod(
            "p",
            SECURITYSCAN,
            anti=[term(sel("service", "Exists"), "zone"), term(sel("security", "Exists"), "zone")],
        ),
        [pod("existing", S1, node="node1", anti=[term(sel("security", "Exists"), "zone")])],
        ANTI,
    ),
    (
        "symmetry a2: partial match on terms",
        pod("p", S1, anti=[term(sel("security", "Exists"), "zone")]),
        [
            pod(
                "existing",
                SECURITYSCAN,
                node="node1",
                anti=[
                    term(sel("service", "Exists"), "zone"),
                    term(sel("security", "Exists"), "zone"),
                ],
            )
        ],
        EXIST,
    ),
    (
        "symmetry b1",
        pod(
            "p",
            {"abc": "", "xyz": ""},
            anti=[term(sel("abc", "Exists"), "zone"), term(sel("def", "Exists"), "zone")],
        ),
        [
            pod(
                "existing",
                {"def": "", "xyz": ""},
                node="node1",
                anti=[term(sel("abc", "Exists"), "zone"), term(sel("def", "Exists"), "zone")],
            )
        ],
        ANTI,
    ),
    (
        "symmetry b2",
        pod(
            "p",
            {"def": "", "xyz": ""},
            anti=[term(sel("abc", "Exists"), "zone"), term(sel("def", "Exists"), "zone")],
        ),
        [
            pod(
                "existing",
                {"abc": "", "xyz": ""},
                node="node1",
                anti=[term(sel("abc", "Exists"), "zone"), term(sel("def", "Exists"), "zone")],
            )
        ],
        ANTI,
    ),
    (
        "affinity with a matching namespaceSelector",
        pod(
            "p",
            S1,
            aff=[
                term(
                    sel("service", "In", "securityscan", "value2"),
                    "region",
                    namespaceSelector=sel("team", "In", "team1"),
                )
            ],
        ),
        [pod("existing", SECURITYSCAN, ns="subteam1.team1", node="node1")],
        None,
    ),
    (
        "affinity with a namespaceSelector not matching",
        pod(
            "p",
            S1,
            aff=[
                term(
                    sel("service", "In", "securityscan", "value2"),
                    "region",
                    namespaceSelector=sel("team", "In", "team1"),
                )
            ],
        ),
        [pod("existing", SECURITYSCAN, ns="subteam1.team2", node="node1")],
        AFF,
    ),
    (
        "anti-affinity with a matching namespaceSelector",
        pod(
            "p",
            S1,
            ns="subteam1.team1",
            anti=[
                term(
                    sel("service", "In", "securityscan", "value2"),
                    "zone",
                    namespaceSelector=sel("team", "In", "team1"),
                )
            ],
        ),
        [pod("existing", SECURITYSCAN, ns="subteam2.team1", node="node1")],
        ANTI,
    ),
    (
        "anti-affinity with an empty namespaceSelector (every namespace)",
        pod(
            "p",
            S1,
            ns="subteam1.team1",
            anti=[
                term(sel("service", "In", "securityscan", "value2"), "zone", namespaceSelector={})
            ],
        ),
        [pod("existing", SECURITYSCAN, ns="subteam2.team1", node="node1")],
        ANTI,
    ),
    (
        "anti-affinity with a namespaceSelector not matching",
        pod(
            "p",
            S1,
            ns="subteam1.team1",
            anti=[
                term(
                    sel("service", "In", "securityscan", "value2"),
                    "zone",
                    namespaceSelector=sel("team", "In", "team1"),
                )
            ],
        ),
        [pod("existing", SECURITYSCAN, ns="subteam1.team2", node="node1")],
        None,
    ),
]


@pytest.mark.parametrize(
    ("incoming", "placed", "expected"),
    [case[1:] for case in SINGLE_NODE],
    ids=[case[0] for case in SINGLE_NODE],
)
def test_kube_required_affinity_single_node(
    incoming: PodInfo, placed: list[PodInfo], expected: str | None
) -> None:
    result = judge(incoming, placed, [NODE1])
    if expected == "skip":
        assert result == "skip"
    else:
        assert result == {"node1": expected}


# ---------------------------------------------------------------------- kube: several nodes

CHINA = {"region": "China"}
CHINA_AZ1 = {"region": "China", "az": "az1"}
INDIA = {"region": "India"}


def abc_nodes(*labels: dict[str, str]) -> list[NodeInfo]:
    return [node(f"node{'ABC'[i]}", **lab) for i, lab in enumerate(labels)]


R1Z1 = {"region": "r1", "zone": "z1", "hostname": "nodeA"}
R1Z2 = {"region": "r1", "zone": "z2", "hostname": "nodeB"}
R1Z1B = {"region": "r1", "zone": "z1", "hostname": "nodeB"}
R1Z3 = {"region": "r1", "zone": "z3", "hostname": "nodeC"}

MULTI_NODE: list[tuple[str, PodInfo, list[PodInfo], list[NodeInfo], Any]] = [
    (
        "all nodes of the matching pod's region pass",
        pod("p", aff=[term(sel("foo", "In", "bar"), "region")]),
        [pod("p1", {"foo": "bar"}, node="nodeA")],
        abc_nodes(CHINA, CHINA_AZ1, INDIA),
        [None, None, AFF],
    ),
    (
        "first pod of a self-affine collection goes anywhere",
        pod(
            "p",
            {"foo": "bar", "service": "securityscan"},
            aff=[
                term(sel("foo", "In", "bar"), "zone"),
                term(sel("service", "In", "securityscan"), "zone"),
            ],
        ),
        [pod("p1", {"foo": "bar"}, node="nodeA")],
        abc_nodes({"zone": "az1", "hostname": "h1"}, {"zone": "az2", "hostname": "h2"}),
        [None, None],
    ),
    (
        "first pod of a collection only on nodes with the topology keys",
        pod(
            "p",
            {"foo": "bar", "service": "securityscan"},
            aff=[
                term(sel("foo", "In", "bar"), "zone"),
                term(sel("service", "In", "securityscan"), "zone"),
            ],
        ),
        [pod("p1", {"foo": "bar"}, node="nodeA")],
        abc_nodes({"zoneLabel": "az1", "hostname": "h1"}, {"zoneLabel": "az2", "hostname": "h2"}),
        [AFF, AFF],
    ),
    (
        "anti-affinity blocks the whole region",
        pod("p", anti=[term(sel("foo", "In", "abc"), "region")]),
        [pod("p1", {"foo": "abc"}, node="nodeA")],
        abc_nodes({"region": "r1", "hostname": "nodeA"}, {"region": "r1", "hostname": "nodeB"}),
        [ANTI, ANTI],
    ),
    (
        "anti-affinity: any term matching is enough",
        pod(
            "p",
            anti=[
                term(sel("foo", "In", "abc"), "region"),
                term(sel("service", "In", "securityscan"), "zone"),
            ],
        ),
        [pod("p1", {"foo": "abc", "service": "securityscan"}, node="nodeA")],
        abc_nodes(
            {"region": "r1", "zone": "z1", "hostname": "nodeA"},
            {"region": "r1", "zone": "z2", "hostname": "nodeB"},
        ),
        [ANTI, ANTI],
    ),
    (
        "anti-affinity: another region is fine",
        pod("p", anti=[term(sel("foo", "In", "abc"), "region")]),
        [pod("p1", {"foo": "abc"}, node="nodeA")],
        abc_nodes(CHINA, CHINA_AZ1, INDIA),
        [ANTI, ANTI, None],
    ),
    (
        "anti-affinity: a pod in another namespace does not count",
        pod("p", {"foo": "123"}, ns="NS1", anti=[term(sel("foo", "In", "bar"), "region")]),
        [
            pod("p1", {"foo": "bar"}, ns="NS1", node="nodeA"),
            pod("p2", ns="NS2", node="nodeC", anti=[term(sel("foo", "In", "123"), "region")]),
        ],
        abc_nodes(CHINA, CHINA_AZ1, INDIA),
        [ANTI, ANTI, None],
    ),
    (
        "existing pod's term with a topology key no node has: skipped",
        pod("p", {"foo": ""}),
        [pod("p1", node="nodeA", anti=[term(sel("foo", "Exists"), "invalid-node-label")])],
        abc_nodes(R1Z1, R1Z1B),
        [None, None],
    ),
    (
        "own anti-affinity with a topology key no node has",
        pod("p", anti=[term(sel("foo", "Exists"), "invalid-node-label")]),
        [pod("p1", {"foo": ""}, node="nodeA")],
        abc_nodes(R1Z1, R1Z1B),
        [None, None],
    ),
    (
        "each existing pod's terms block it everywhere",
        pod("p", {"foo": "", "bar": ""}),
        [
            pod("p1", node="nodeA", anti=[term(sel("foo", "Exists"), "zone")]),
            pod("p2", node="nodeA", anti=[term(sel("bar", "Exists"), "region")]),
        ],
        abc_nodes(R1Z1, R1Z2),
        [EXIST, EXIST],
    ),
    (
        "own anti-affinity violated on each node by one term",
        pod("p", anti=[term(sel("foo", "Exists"), "zone"), term(sel("bar", "Exists"), "region")]),
        [pod("p1", {"foo": ""}, node="nodeA"), pod("p2", {"bar": ""}, node="nodeB")],
        abc_nodes(R1Z1, R1Z2),
        [ANTI, ANTI],
    ),
    (
        "existing terms: selector and topology key must both match (one key missing)",
        pod("p", {"foo": "", "bar": ""}),
        [
            pod(
                "p1",
                node="nodeA",
                anti=[
                    term(sel("foo", "Exists"), "invalid-node-label"),
                    term(sel("bar", "Exists"), "zone"),
                ],
            )
        ],
        abc_nodes(R1Z1, R1Z2),
        [EXIST, None],
    ),
    (
        "own terms: selector and topology key must both match (one key missing)",
        pod(
            "p",
            anti=[
                term(sel("foo", "Exists"), "invalid-node-label"),
                term(sel("bar", "Exists"), "zone"),
            ],
        ),
        [pod("podA", {"foo": "", "bar": ""}, node="nodeA")],
        abc_nodes(R1Z1, R1Z2),
        [ANTI, None],
    ),
    (
        "existing terms: all keys valid",
        pod("p", {"foo": "", "bar": ""}),
        [
            pod(
                "p1",
                node="nodeA",
                anti=[term(sel("foo", "Exists"), "region"), term(sel("bar", "Exists"), "zone")],
            )
        ],
        abc_nodes(R1Z1, R1Z2),
        [EXIST, EXIST],
    ),
    (
        "own terms: all keys valid",
        pod("p", anti=[term(sel("foo", "Exists"), "region"), term(sel("bar", "Exists"), "zone")]),
        [pod("p1", {"foo": "", "bar": ""}, node="nodeA")],
        abc_nodes(R1Z1, R1Z2),
        [ANTI, ANTI],
    ),
    (
        "existing pods on A and B each reject it: only C",
        pod("p", {"foo": "", "bar": ""}),
        [
            pod(
                "p1",
                node="nodeA",
                anti=[term(sel("foo", "Exists"), "zone"), term(sel("labelA", "Exists"), "zone")],
            ),
            pod(
                "p2",
                node="nodeB",
                anti=[term(sel("bar", "Exists"), "zone"), term(sel("labelB", "Exists"), "zone")],
            ),
        ],
        abc_nodes(R1Z1, R1Z2, R1Z3),
        [EXIST, EXIST, None],
    ),
    (
        "affinity: one pod matching all terms, keys checked after",
        pod("p", aff=[term(sel("foo", "Exists"), "region"), term(sel("bar", "Exists"), "zone")]),
        [pod("pod1", {"foo": "", "bar": ""}, node="nodeA")],
        abc_nodes(R1Z1, R1Z1B),
        [None, None],
    ),
    (
        "affinity: the terms must be matched by the same pod",
        pod("p", aff=[term(sel("foo", "Exists"), "region"), term(sel("bar", "Exists"), "zone")]),
        [pod("pod1", {"foo": ""}, node="nodeA"), pod("pod2", {"bar": ""}, node="nodeB")],
        abc_nodes(R1Z1, R1Z2),
        [AFF, AFF],
    ),
]


@pytest.mark.parametrize(
    ("incoming", "placed", "nodes", "expected"),
    [case[1:] for case in MULTI_NODE],
    ids=[case[0] for case in MULTI_NODE],
)
def test_kube_required_affinity_multiple_nodes(
    incoming: PodInfo, placed: list[PodInfo], nodes: list[NodeInfo], expected: list[str | None]
) -> None:
    result = judge(incoming, placed, nodes)
    assert isinstance(result, dict)
    assert [result[n.name] for n in nodes] == expected


# ---------------------------------------------------------------------- score


def scores(
    incoming: PodInfo,
    placed: list[PodInfo],
    nodes: list[NodeInfo],
    args: InterPodAffinityArgs | None = None,
    feasible: list[bool] | None = None,
) -> list[float] | None:
    t = table(*nodes)
    for p in placed:
        slot = t.slot_of(p.node_name)
        assert slot is not None
        t.pods.add(p, slot)
    plugin = InterPodAffinity(args)
    state = CycleState()
    status = plugin.pre_filter(state, incoming, t)
    if status.code is Code.SKIP:
        return None
    if feasible is not None:
        state.write(FEASIBLE, np.array(feasible))
    result = plugin.score(state, incoming, t, t.all_slots())
    return None if result is None else [float(x) for x in result]


ZONES = [
    node("m1", region="China", az="az1"),
    node("m2", region="India", az="az2"),
    node("m3", region="China", az="az3"),
    node("m4", region="India", az="az4"),
]


def test_preferred_affinity_scores_the_domain_of_matching_pods() -> None:
    incoming = pod("p", pref=[(5, term(sel("security", "In", "S1"), "region"))])
    placed = [pod("e", {"security": "S1"}, node="m1")]
    # China (m1, m3) holds the match: 5; India: 0.
    assert scores(incoming, placed, ZONES) == [100, 0, 100, 0]


def test_preferred_anti_affinity_lowers_the_domain_and_normalizes_min_to_zero() -> None:
    incoming = pod(
        "p",
        pref=[(5, term(sel("security", "In", "S1"), "region"))],
        pref_anti=[(3, term(sel("app", "In", "db"), "az"))],
    )
    placed = [
        pod("e1", {"security": "S1"}, node="m1"),
        pod("e2", {"app": "db"}, node="m1"),
        pod("e3", {"app": "db"}, node="m2"),
    ]
    # raw: m1 5-3=2, m2 -3, m3 5, m4 0 → min -3, max 5: (raw+3)/8 × 100, truncated
    assert scores(incoming, placed, ZONES) == [62, 0, 100, 37]


def test_all_positive_scores_normalize_from_their_own_minimum() -> None:
    """v1.36 starts min at MaxInt64 (not 0): raw 5 and 10 become 0 and 100."""
    incoming = pod(
        "p",
        pref=[
            (5, term(sel("app", "In", "web"), "region")),
            (5, term(sel("app", "In", "web"), "az")),
        ],
    )
    placed = [pod("e", {"app": "web"}, node="m1")]
    nodes = ZONES[:1] + ZONES[2:3]  # m1 (China, az1): 10; m3 (China, az3): 5
    assert scores(incoming, placed, nodes) == [100, 0]


def test_placed_pods_terms_score_the_incoming_pod() -> None:
    incoming = pod("p", {"app": "web"})
    placed = [
        pod("hard", node="m1", aff=[term(sel("app", "In", "web"), "region")]),
        pod("soft", node="m2", pref=[(4, term(sel("app", "In", "web"), "az"))]),
        pod("away", node="m4", pref_anti=[(7, term(sel("app", "In", "web"), "region"))]),
    ]
    # hard weight 1 on China (m1, m3); +4 on az2 (m2); -7 on India (m2, m4)
    # raw: m1 1, m2 -3, m3 1, m4 -7 → (raw+7)/8
    assert scores(incoming, placed, ZONES) == [100, 50, 100, 0]
    heavy = InterPodAffinityArgs(hard_pod_affinity_weight=9)
    # raw: m1 9, m2 -3, m3 9, m4 -7 → (raw+7)/16
    assert scores(incoming, placed, ZONES, heavy) == [100, 25, 100, 0]
    # Weight 0 leaves required terms out: m1 0, m2 -3, m3 0, m4 -7 → (raw+7)/7
    assert scores(incoming, placed, ZONES, InterPodAffinityArgs(hard_pod_affinity_weight=0)) == [
        100,
        57,
        100,
        0,
    ]


def test_ignore_preferred_terms_of_existing_pods_only_when_the_pod_has_none() -> None:
    ignore = InterPodAffinityArgs(ignore_preferred_terms_of_existing_pods=True)
    placed = [pod("soft", node="m2", pref=[(4, term(sel("app", "In", "web"), "az"))])]
    plain = pod("p", {"app": "web"})
    assert scores(plain, placed, ZONES, ignore) is None  # skipped: nothing to filter either
    # With terms of its own, kube still counts the placed pods' terms.
    own = pod("q", {"app": "web"}, pref=[(1, term(sel("app", "In", "none"), "az"))])
    assert scores(own, placed, ZONES, ignore) == [0, 100, 0, 0]


def test_scores_normalize_over_feasible_nodes_only() -> None:
    incoming = pod("p", pref=[(5, term(sel("app", "In", "web"), "az"))])
    placed = [pod("e", {"app": "web"}, node="m1"), pod("f", {"app": "web"}, node="m2")]
    placed.append(pod("g", {"app": "web"}, node="m2"))
    # raw 5, 10, 0, 0; m2 infeasible: max 5 over the rest; m2 clipped to 100
    assert scores(incoming, placed, ZONES, feasible=[True, False, True, True]) == [100, 100, 0, 0]


def test_equal_scores_mean_no_preference() -> None:
    incoming = pod("p", pref=[(5, term(sel("app", "In", "web"), "zone"))])
    assert scores(incoming, [], ZONES) is None


def test_args_are_validated_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="hardPodAffinityWeight"):
        InterPodAffinityArgs.model_validate({"hardPodAffinityWeight": 101})
    with pytest.raises(ValidationError, match="hardPodAffinityWeight"):
        InterPodAffinityArgs.model_validate({"hardPodAffinityWeight": -1})
    with pytest.raises(ValidationError, match="ignorePreferredTermsOfExistingPods"):
        InterPodAffinityArgs.model_validate({"ignorePreferredTermsOfExistingPods": "yes"})
    args = InterPodAffinityArgs.model_validate(
        {"hardPodAffinityWeight": 0, "ignorePreferredTermsOfExistingPods": True}
    )
    assert args.hard_pod_affinity_weight == 0
    assert args.ignore_preferred_terms_of_existing_pods
    assert InterPodAffinityArgs().hard_pod_affinity_weight == 1


def test_args_from_the_configuration_file() -> None:
    config = {
        "profiles": [
            {
                "schedulerName": "kubenexus-scheduler",
                "pluginConfig": [
                    {"name": "InterPodAffinity", "args": {"hardPodAffinityWeight": 7}}
                ],
            }
        ]
    }
    s = scheduler(config=config)
    profile = s.profiles["kubenexus-scheduler"]
    plugin = next(f for f in profile.filters if f.name == "InterPodAffinity")
    assert isinstance(plugin, InterPodAffinity)
    assert plugin.args.hard_pod_affinity_weight == 7


# ---------------------------------------------------------------------- whole scheduler

WEB = {"app": "web"}


def spread_web(name: str, key: str = HOST, **extra: Any) -> PodInfo:
    return pod(name, WEB, anti=[term(sel("app", "In", "web"), key)], **extra)


def test_the_message_counts_nodes_per_reason() -> None:
    s = scheduler(*[node(f"n{i}", zone="a") for i in range(3)])
    assert sorted(place(s, *[spread_web(f"w{i}") for i in range(3)]).values()) == [
        "n0",
        "n1",
        "n2",
    ]
    assert place(s, spread_web("w3")) == {
        "w3": "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
        + no_victims(3)
    }
    # A plain pod the placed ones reject: their anti-affinity, symmetric.
    assert place(s, pod("plain", WEB)) == {
        "plain": "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity "
        "rules." + no_victims(3)
    }


def test_symmetry_a_placed_pods_anti_affinity_keeps_matching_pods_out_of_its_zone() -> None:
    s = scheduler(node("a1", zone="a"), node("a2", zone="a"), node("b1", zone="b"))
    loner = pod("loner", anti=[term(sel("app", "In", "web"), "zone")])
    assert place(s, loner) == {"loner": "a1"}
    result = place(s, pod("w1", WEB), pod("w2", WEB), pod("other", {"app": "db"}))
    assert result["w1"] == result["w2"] == "b1"
    assert result["other"] in {"a1", "a2", "b1"}
    s.remove_pod("uid-loner")


def test_mixed_reasons_first_failing_rule_per_node() -> None:
    s = scheduler(node("a1", zone="a"), node("b1", zone="b"), node("c1", zone="c"))
    s.upsert_pod(pod("db", {"app": "db"}, node="a1"))
    s.upsert_pod(pod("web", WEB, node="b1"))
    s.upsert_pod(
        pod("guard", {"app": "guard"}, node="c1", anti=[term(sel("role", "In", "x"), "zone")])
    )
    incoming = pod(
        "x",
        {"role": "x"},
        aff=[term(sel("app", "Exists"), "zone")],
        anti=[term(sel("app", "In", "web"), "zone")],
    )
    # a1: db matches the affinity and nothing blocks → placed there.
    assert place(s, incoming) == {"x": "a1"}
    s.remove_pod("uid-x")
    s.remove_pod("uid-db")
    # now: a1 has no app pod (affinity), b1 has web (anti), c1 has the guard (existing).
    assert place(s, pod("y", {"role": "x"}, aff=incoming_aff(), anti=incoming_anti())) == {
        "y": "0/3 nodes are available: 1 node(s) didn't match pod affinity rules, "
        "1 node(s) didn't match pod anti-affinity rules, "
        "1 node(s) didn't satisfy existing pods anti-affinity rules. "
        # Only the node failing the pod's own affinity is beyond any eviction (kube's rule).
        "no new claims to deallocate, preemption: 0/3 nodes are available: "
        "1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
    }


def incoming_aff() -> list[dict[str, Any]]:
    return [term(sel("app", "Exists"), "zone")]


def incoming_anti() -> list[dict[str, Any]]:
    return [term(sel("app", "In", "web"), "zone")]


def test_namespace_selector_follows_namespace_labels() -> None:
    now = [1000.0]
    s = scheduler(node("a1", zone="a"), node("b1", zone="b"), clock=now)
    s.upsert_pod(pod("cache", {"app": "cache"}, ns="shared", node="b1"))
    wants = pod(
        "p",
        ns="team",
        aff=[term(sel("app", "In", "cache"), "zone", namespaceSelector=sel("tier", "In", "infra"))],
    )
    # No namespace labelled tier=infra yet: nothing matches, and the pod does not match its
    # own term, so it waits.
    first = place(s, wants)["p"]
    assert (
        first
        == "0/2 nodes are available: 2 node(s) didn't match pod affinity rules." + not_helpful(2)
    )
    s.set_namespace("shared", {"tier": "infra"})  # wakes it (NAMESPACE_LABELS)
    assert s.queue.where("uid-p") != "unschedulable"
    now[0] += 30  # past the backoff
    assert place(s) == {"p": "b1"}


def test_match_label_keys_scope_anti_affinity_to_one_revision() -> None:
    s = scheduler(node("n0"), node("n1"))

    def replica(name: str, revision: str) -> PodInfo:
        labels = {"app": "web", "rev": revision}
        return pod(name, labels, anti=[term(sel("app", "In", "web"), HOST, matchLabelKeys=["rev"])])

    assert sorted(place(s, replica("old-0", "1"), replica("old-1", "1")).values()) == ["n0", "n1"]
    # A new revision ignores the old one's pods (and vice versa), so it fits beside them...
    result = place(s, replica("new-0", "2"), replica("new-1", "2"))
    assert sorted(result.values()) == ["n0", "n1"]
    # ...but not beside its own revision.
    assert (
        "2 node(s) didn't match pod anti-affinity rules" in place(s, replica("new-2", "2"))["new-2"]
    )


def test_match_label_keys_merged_at_creation_outlive_a_relabelling() -> None:
    """kube-apiserver merges matchLabelKeys into labelSelector when it creates the pod, and
    kube-scheduler reads labelSelector only: a placed pod relabelled to another revision
    keeps repelling the revision it was created with (found by the differential test)."""
    s = scheduler(node("n0"))
    # As the API server stores it: "rev In (1)" added from the labels the pod was created with.
    merged = {
        "matchExpressions": [
            {"key": "app", "operator": "In", "values": ["web"]},
            {"key": "rev", "operator": "In", "values": ["1"]},
        ]
    }
    relabelled = pod(
        "old",
        {"app": "web", "rev": "2"},
        node="n0",
        anti=[term(merged, HOST, matchLabelKeys=["rev"])],
    )
    s.upsert_pod(relabelled)
    assert place(s, pod("new", {"app": "web", "rev": "1"})) == {
        "new": "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."
        + no_victims(1)
    }
    assert place(s, pod("newer", {"app": "web", "rev": "2"})) == {"newer": "n0"}


def test_first_pod_of_a_self_affine_group_goes_anywhere_then_the_rest_follow() -> None:
    s = scheduler(node("a1", zone="a"), node("a2", zone="a"), node("b1", zone="b"))
    group = [
        pod(f"g{i}", {"app": "g"}, aff=[term(sel("app", "In", "g"), "zone")]) for i in range(4)
    ]
    result = place(s, *group)
    zones = {"a1": "a", "a2": "a", "b1": "b"}
    assert len({zones[result[f"g{i}"]] for i in range(4)}) == 1
    # A pod that does not match its own term cannot start a group.
    stranger = pod("s", {"app": "other"}, aff=[term(sel("app", "In", "nobody"), "zone")])
    assert place(s, stranger) == {
        "s": "0/3 nodes are available: 3 node(s) didn't match pod affinity rules." + not_helpful(3)
    }


def test_a_gang_with_hostname_anti_affinity_spreads_in_one_plan() -> None:
    """Members planned in one pass see each other (assumed pods are in the pod index)."""
    s = scheduler(*[node(f"n{i}", zone="a") for i in range(4)])

    def member(i: int) -> PodInfo:
        labels = {"app": "train", GANG_NAME: "train", GANG_MIN: "4"}
        return pod(f"m{i}", labels, anti=[term(sel("app", "In", "train"), HOST)])

    result = place(s, *[member(i) for i in range(4)])
    assert sorted(result.values()) == ["n0", "n1", "n2", "n3"]
    assert s.cache.gang_placed("default/train") == 4
    # One member more has no node left, and says why.
    message = place(s, member(4))["m4"]
    assert "4 node(s) didn't match pod anti-affinity rules" in message


# ---------------------------------------------------------------------- property


def _violations(placed: dict[str, tuple[PodInfo, NodeInfo]]) -> list[str]:
    """Every required term of every placed pod, checked against every other placed pod."""
    found = []
    for name, (p, where) in placed.items():
        affinity = p.pod_affinity
        if affinity is None:
            continue
        for t in affinity.required_anti:
            domain = where.labels.get(t.topology_key)
            for other, (q, there) in placed.items():
                if other == name or domain is None:
                    continue
                if there.labels.get(t.topology_key) == domain and t.matches(
                    q.namespace, q.labels, {}
                ):
                    found.append(f"{name} anti {other}")
        for t in affinity.required:
            domain = where.labels.get(t.topology_key)
            if domain is None:
                found.append(f"{name} lacks {t.topology_key}")
    return found


@pytest.mark.parametrize("seed", range(6))
def test_random_placements_and_removals_never_break_a_required_term(seed: int) -> None:
    rng = random.Random(seed)
    nodes = [node(f"n{i}", zone=f"z{i % 3}") for i in range(9)]
    by_name = {n.name: n for n in nodes}
    now = [1000.0]
    s = scheduler(*nodes, clock=now)
    apps = ["a", "b", "c", "d"]
    placements = 0
    for step in range(80):
        index = s.cache.nodes.pods
        if index.pod_count and rng.random() < 0.3:
            victim = rng.choice(sorted(p.key for p, _ in index.pods()))
            s.remove_pod(victim)
            now[0] += 30  # past any backoff: waiting pods get their retry
            place(s)
        else:
            target = rng.choice(apps)
            rules: dict[str, Any] = {}
            kind = rng.choice(["anti-host", "anti-zone", "aff-zone", "none"])
            if kind == "anti-host":
                rules["anti"] = [term(sel("app", "In", target), HOST)]
            elif kind == "anti-zone":
                rules["anti"] = [term(sel("app", "In", target), "zone")]
            elif kind == "aff-zone":
                rules["aff"] = [term(sel("app", "In", target), "zone")]
            place(s, pod(f"p{step}", {"app": rng.choice(apps)}, **rules))
        placed = {p.name: (p, by_name[s.cache.nodes.names[slot]]) for p, slot in index.pods()}
        placements = max(placements, len(placed))
        assert _violations(placed) == [], f"seed {seed} step {step}"
    assert placements >= 5  # the test placed enough pods to mean something
