"""PodTopologySpread: kube-scheduler's filtering_test.go and scoring_test.go cases, translated
(same nodes, pods and expected verdicts / scores), then the plugin inside the scheduler."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np
import pytest

from kubenexus.api import PodInfo, node_from_dict, pod_from_dict
from kubenexus.api.pod_rules import LabelRequirement, LabelSelector
from kubenexus.api.workloads import selector_from_labels, workload_selector
from kubenexus.config import ConfigError
from kubenexus.framework import SKIP, CycleState, NodeTable
from kubenexus.framework.runtime import FEASIBLE
from kubenexus.plugins.pod_topology_spread import (
    MISSING_LABEL,
    REASON,
    PodTopologySpread,
    PodTopologySpreadArgs,
    go_round,
)
from kubenexus.scheduler import Scheduler
from tests.builders import make_node, make_pod
from tests.core.helpers import place, scheduler

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
FOO = {"foo": ""}
BAR = {"bar": ""}
EMPTY: dict[str, str] = {}


def node(name: str, *, hostname: bool = True, taint: str = "", **labels: str) -> Any:
    builder = make_node(name).alloc(cpu="64", pods="1000")
    for key, value in labels.items():
        builder.label(key, value)
    if taint:
        builder.taint(taint)
    body = builder.dict()
    if not hostname:
        del body["metadata"]["labels"][HOST]
    return body


def constraint(
    max_skew: int,
    key: str,
    when: str = "DoNotSchedule",
    selector: dict[str, str] | None = FOO,
    *,
    min_domains: int | None = None,
    affinity_policy: str | None = None,
    taints_policy: str | None = None,
    match_label_keys: list[str] | None = None,
    exists: str = "",
) -> dict[str, Any]:
    entry: dict[str, Any] = {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when}
    if selector is not None:
        entry["labelSelector"] = {"matchLabels": selector}
    if exists:
        entry["labelSelector"] = {"matchExpressions": [{"key": exists, "operator": "Exists"}]}
    if min_domains is not None:
        entry["minDomains"] = min_domains
    if affinity_policy:
        entry["nodeAffinityPolicy"] = affinity_policy
    if taints_policy:
        entry["nodeTaintsPolicy"] = taints_policy
    if match_label_keys:
        entry["matchLabelKeys"] = match_label_keys
    return entry


def pod(
    name: str,
    *constraints: dict[str, Any],
    on: str = "",
    ns: str = "default",
    terminating: bool = False,
    node_selector: dict[str, str] | None = None,
    not_in: tuple[str, list[str]] | None = None,
    owner: tuple[str, str] | None = None,
    **labels: str,
) -> PodInfo:
    builder = make_pod(name)
    for key, value in labels.items():
        builder.label(key, value)
    if on:
        builder.node(on).phase("Running")
    if node_selector:
        builder.node_selector(node_selector)
    if not_in:
        builder.affinity_term((not_in[0], "NotIn", not_in[1]))
    if owner:
        builder.owner(*owner)
    body = builder.dict()
    body["metadata"]["namespace"] = ns
    body["metadata"]["uid"] = f"uid-{ns}-{name}"
    if constraints:
        body["spec"]["topologySpreadConstraints"] = list(constraints)
    if terminating:
        body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return pod_from_dict(body)


def _cluster(
    nodes: list[dict[str, Any]], existing: list[PodInfo], args: PodTopologySpreadArgs | None = None
) -> tuple[Scheduler, PodTopologySpread]:
    config = None
    if args is not None:
        config = {
            "profiles": [
                {
                    "pluginConfig": [
                        {"name": "PodTopologySpread", "args": args.model_dump(by_alias=True)}
                    ]
                }
            ]
        }
    s = scheduler(config=config)
    for body in nodes:
        s.upsert_node(node_from_dict(body))
    for p in existing:
        s.upsert_pod(p)
    profile = next(iter(s.profiles.values()))
    plugin = next(f for f in profile.filters if isinstance(f, PodTopologySpread))
    return s, plugin


def verdicts(
    nodes: list[dict[str, Any]],
    existing: list[PodInfo],
    incoming: PodInfo,
    args: PodTopologySpreadArgs | None = None,
) -> dict[str, str]:
    """Node → "ok", or the reason the filter gives for it."""
    s, plugin = _cluster(nodes, existing, args)
    table = s.cache.nodes
    state = CycleState()
    status = plugin.pre_filter(state, incoming, table)
    mask = plugin.filter(state, incoming, table)
    result: dict[str, str] = {}
    for slot in range(table.size):
        name = table.names[slot]
        if status is SKIP or mask is None or mask[slot]:
            result[name] = "ok"
            continue
        reasons = plugin.explain(state, incoming, table, np.array([slot]))
        assert sum(reasons.values()) == 1
        result[name] = next(iter(reasons))
    return result


def scores(
    nodes: list[dict[str, Any]],
    existing: list[PodInfo],
    incoming: PodInfo,
    failed: tuple[str, ...] = (),
    args: PodTopologySpreadArgs | None = None,
) -> dict[str, int] | None:
    """Feasible node → normalized score (the ``failed`` nodes did not pass the filters)."""
    s, plugin = _cluster(nodes, existing, args)
    table: NodeTable = s.cache.nodes
    state = CycleState()
    if plugin.pre_filter(state, incoming, table) is SKIP:
        return None
    feasible = table.valid[: table.size].copy()
    for name in failed:
        feasible[table.index[name]] = False
    state.write(FEASIBLE, feasible)
    result = plugin.score(state, incoming, table, table.all_slots())
    if result is None:
        return None
    return {table.names[slot]: int(result[slot]) for slot in range(table.size) if feasible[slot]}


def four_nodes_two_zones(**extra: Any) -> list[dict[str, Any]]:
    return [
        node("node-a", zone="zone1"),
        node("node-b", zone="zone1"),
        node("node-x", zone="zone2"),
        node("node-y", zone="zone2"),
    ]


def pods_on(spread: dict[str, int], **labels: str) -> list[PodInfo]:
    """``{"node-a": 2}`` → pods p-a0, p-a1 on node-a carrying the labels."""
    found = []
    for node_name, count in spread.items():
        for i in range(count):
            found.append(pod(f"p-{node_name[-1]}{i}-{'-'.join(labels)}", on=node_name, **labels))
    return found


OK = "ok"
SKEW = REASON
LABEL = MISSING_LABEL


# ---------------------------------------------------------------------- filter: one constraint


@pytest.mark.parametrize(
    ("name", "nodes", "existing", "incoming", "want"),
    [
        (
            "no existing pods",
            four_nodes_two_zones(),
            [],
            pod("p", constraint(1, "zone"), foo=""),
            {"node-a": OK, "node-b": OK, "node-x": OK, "node-y": OK},
        ),
        (
            "no existing pods, incoming pod doesn't match itself",
            four_nodes_two_zones(),
            [],
            pod("p", constraint(1, "zone", selector={"foo": "x"}), foo=""),
            {"node-a": OK, "node-b": OK, "node-x": OK, "node-y": OK},
        ),
        (
            "existing pods in a different namespace do not count",
            four_nodes_two_zones(),
            [
                pod("p-a1", on="node-a", ns="ns1", foo=""),
                pod("p-a2", on="node-a", ns="ns2", foo=""),
                pod("p-b1", on="node-b", foo=""),
                pod("p-y1", on="node-y", ns="ns2", foo=""),
                pod("p-y2", on="node-y", foo=""),
            ],
            pod("p", constraint(1, "zone"), foo=""),
            {"node-a": OK, "node-b": OK, "node-x": OK, "node-y": OK},
        ),
        (
            "pods spread across zones as 3/3, all nodes fit",
            four_nodes_two_zones(),
            pods_on({"node-a": 1, "node-b": 2, "node-x": 1, "node-y": 2}, foo=""),
            pod("p", constraint(1, "zone"), foo=""),
            {"node-a": OK, "node-b": OK, "node-x": OK, "node-y": OK},
        ),
        (
            # node-b has no zone: it neither counts nor fits (unresolvable)
            "pods spread across zones as 1/2 due to absence of label 'zone' on node-b",
            [
                node("node-a", zone="zone1"),
                node("node-b", zon="zone1"),
                node("node-x", zone="zone2"),
                node("node-y", zone="zone2"),
            ],
            pods_on({"node-a": 1, "node-b": 1, "node-x": 1, "node-y": 1}, foo=""),
            pod("p", constraint(1, "zone"), foo=""),
            {"node-a": OK, "node-b": LABEL, "node-x": SKEW, "node-y": SKEW},
        ),
        (
            "pod cannot be scheduled as all nodes don't have label 'rack'",
            [node("node-a", zone="zone1"), node("node-x", zone="zone2")],
            [],
            pod("p", constraint(1, "rack"), foo=""),
            {"node-a": LABEL, "node-x": LABEL},
        ),
        (
            "pods spread across nodes as 2/1/0/3, only node-x fits",
            four_nodes_two_zones(),
            pods_on({"node-a": 2, "node-b": 1, "node-y": 3}, foo=""),
            pod("p", constraint(1, HOST), foo=""),
            {"node-a": SKEW, "node-b": SKEW, "node-x": OK, "node-y": SKEW},
        ),
        (
            "pods spread across nodes as 2/1/0/3, maxSkew is 2, node-b and node-x fit",
            four_nodes_two_zones(),
            pods_on({"node-a": 2, "node-b": 1, "node-y": 3}, foo=""),
            pod("p", constraint(2, HOST), foo=""),
            {"node-a": SKEW, "node-b": OK, "node-x": OK, "node-y": SKEW},
        ),
        (
            # not matching itself, the pod adds nothing to the skew
            "pods spread across nodes as 2/1/0/3, but pod doesn't match itself",
            four_nodes_two_zones(),
            pods_on({"node-a": 2, "node-b": 1, "node-y": 3}, foo=""),
            pod("p", constraint(1, HOST), bar=""),
            {"node-a": SKEW, "node-b": OK, "node-x": OK, "node-y": SKEW},
        ),
        (
            # nodeAffinityPolicy Honor: only node-a and node-y are domains, min = 2; node-b and
            # node-x hold no domain (0 matching) and pass this filter (NodeAffinity rejects them)
            "incoming pod has nodeAffinity, pods spread as 2/~1~/~0~/3, hence node-a fits",
            four_nodes_two_zones(),
            pods_on({"node-a": 2, "node-b": 1, "node-y": 3}, foo=""),
            pod("p", constraint(1, HOST), not_in=(HOST, ["node-b", "node-x"]), foo=""),
            {"node-a": OK, "node-b": OK, "node-x": OK, "node-y": SKEW},
        ),
        (
            "terminating Pods should be excluded",
            [node("node-a"), node("node-b")],
            [pod("p-a", on="node-a", terminating=True, foo=""), pod("p-b", on="node-b", foo="")],
            pod("p", constraint(1, HOST), foo=""),
            {"node-a": OK, "node-b": SKEW},
        ),
        (
            "an empty labelSelector counts no pod, but the pod matches itself",
            [node("node-a"), node("node-b")],
            pods_on({"node-a": 3}, foo=""),
            pod("p", constraint(1, HOST, selector=EMPTY), foo=""),
            {"node-a": OK, "node-b": OK},
        ),
        (
            "no labelSelector matches nothing, not even the pod itself",
            [node("node-a"), node("node-b")],
            pods_on({"node-a": 3}, foo=""),
            pod("p", constraint(1, HOST, selector=None), foo=""),
            {"node-a": OK, "node-b": OK},
        ),
        (
            "matchExpressions selector (Exists)",
            [node("node-a"), node("node-b")],
            pods_on({"node-a": 1}, foo="x"),
            pod("p", constraint(1, HOST, selector=None, exists="foo"), foo=""),
            {"node-a": SKEW, "node-b": OK},
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_filter_single_constraint(
    name: str,
    nodes: list[dict[str, Any]],
    existing: list[PodInfo],
    incoming: PodInfo,
    want: dict[str, str],
) -> None:
    assert verdicts(nodes, existing, incoming) == want


# ---------------------------------------------------------------------- filter: minDomains


@pytest.mark.parametrize(
    ("min_domains", "max_skew", "spread", "want"),
    [
        # 2 domains with 2/1 pods: below minDomains 3 the global minimum is 0
        (3, 2, {"node-a": 2, "node-x": 1}, {"node-a": SKEW, "node-b": SKEW, "node-x": OK}),
        # minDomains met (2 domains): the minimum is 1
        (2, 2, {"node-a": 2, "node-x": 1}, {"node-a": OK, "node-b": OK, "node-x": OK}),
        # unset: treated as 1
        (None, 1, {"node-a": 2, "node-x": 1}, {"node-a": SKEW, "node-b": SKEW, "node-x": OK}),
        # 1/1 with minDomains 3: min 0, 1 + 1 - 0 = 2 > 1 everywhere
        (3, 1, {"node-a": 1, "node-x": 1}, {"node-a": SKEW, "node-b": SKEW, "node-x": SKEW}),
    ],
)
def test_filter_min_domains(
    min_domains: int | None, max_skew: int, spread: dict[str, int], want: dict[str, str]
) -> None:
    nodes = [
        node("node-a", zone="zone1"),
        node("node-b", zone="zone1"),
        node("node-x", zone="zone2"),
    ]
    incoming = pod("p", constraint(max_skew, "zone", min_domains=min_domains), foo="")
    assert verdicts(nodes, pods_on(spread, foo=""), incoming) == want


def test_filter_min_domains_with_hostname_domains() -> None:
    """kube: "pods spread across nodes as 2/2/1, maxSkew is 2, minDomains 4 → node-c only"."""
    nodes = [node("node-a"), node("node-b"), node("node-c")]
    incoming = pod("p", constraint(2, HOST, min_domains=4), foo="")
    spread = pods_on({"node-a": 2, "node-b": 2, "node-c": 1}, foo="")
    assert verdicts(nodes, spread, incoming) == {"node-a": SKEW, "node-b": SKEW, "node-c": OK}


# ---------------------------------------------------------------------- filter: policies


def test_filter_node_affinity_policy_honor_and_ignore() -> None:
    """Pods 1/2 on zone1/zone2 plus 3 on a zone3 node the pod's nodeSelector excludes."""
    nodes = [
        node("node-a", zone="zone1", foo=""),
        node("node-b", zone="zone2", foo=""),
        node("node-c", zone="zone3"),
    ]
    existing = pods_on({"node-a": 1, "node-b": 2, "node-c": 3}, foo="")
    honor = pod("p", constraint(1, "zone"), node_selector=FOO, foo="")
    # Honor: zone3 is no domain, min = 1: a 1+1-1 ok, b 2+1-1 = 2 fail, c holds no domain → ok
    assert verdicts(nodes, existing, honor) == {"node-a": OK, "node-b": SKEW, "node-c": OK}
    ignore = pod("p", constraint(1, "zone", affinity_policy="Ignore"), node_selector=FOO, foo="")
    # Ignore: zone3 counts, min = 1 still; c: 3+1-1 = 3 fail
    assert verdicts(nodes, existing, ignore) == {"node-a": OK, "node-b": SKEW, "node-c": SKEW}


def test_filter_node_taints_policy_honor_and_ignore() -> None:
    nodes = [
        node("node-a", zone="zone1"),
        node("node-b", zone="zone2"),
        node("node-c", zone="zone3", taint="dedicated"),
    ]
    existing = pods_on({"node-a": 1, "node-b": 2}, foo="")
    # Ignore (default): zone3 with 0 pods is the minimum
    ignore = pod("p", constraint(1, "zone"), foo="")
    assert verdicts(nodes, existing, ignore) == {"node-a": SKEW, "node-b": SKEW, "node-c": OK}
    # Honor: the untolerated taint leaves zone3 out, min = 1
    honor = pod("p", constraint(1, "zone", taints_policy="Honor"), foo="")
    assert verdicts(nodes, existing, honor) == {"node-a": OK, "node-b": SKEW, "node-c": OK}


def test_filter_match_label_keys() -> None:
    """matchLabelKeys narrows the selector to pods of the same revision."""
    nodes = [node("node-a"), node("node-b")]
    existing = [
        *pods_on({"node-a": 2}, foo="", rev="1"),
        *pods_on({"node-b": 1}, foo="", rev="2"),
    ]
    plain = pod("p", constraint(1, HOST), foo="", rev="2")
    assert verdicts(nodes, existing, plain) == {"node-a": SKEW, "node-b": OK}
    keyed = pod("p", constraint(1, HOST, match_label_keys=["rev"]), foo="", rev="2")
    # rev=2 pods: 0/1 → node-b 1+1-0 = 2 fails, node-a ok
    assert verdicts(nodes, existing, keyed) == {"node-a": OK, "node-b": SKEW}


# ---------------------------------------------------------------------- filter: two constraints


@pytest.mark.parametrize(
    ("name", "nodes", "existing", "incoming", "want"),
    [
        (
            # zone: 3/3 (ok anywhere); node: 2/1/0/3 → node-x only
            "two constraints on zone and node, spreads = [3/3, 2/1/0/3]",
            four_nodes_two_zones(),
            pods_on({"node-a": 2, "node-b": 1, "node-y": 3}, foo=""),
            pod("p", constraint(1, "zone"), constraint(1, HOST), foo=""),
            {"node-a": SKEW, "node-b": SKEW, "node-x": OK, "node-y": SKEW},
        ),
        (
            # zone: 3/4 → zone1 only; node: 2/1/0/4 → node-x only; no node fits both
            "two constraints on zone and node, spreads = [3/4, 2/1/0/4]",
            four_nodes_two_zones(),
            pods_on({"node-a": 2, "node-b": 1, "node-y": 4}, foo=""),
            pod("p", constraint(1, "zone"), constraint(1, HOST), foo=""),
            {"node-a": SKEW, "node-b": SKEW, "node-x": SKEW, "node-y": SKEW},
        ),
        (
            # different selectors: zone by foo 1/2 → zone1; node by bar 1/0/1/1 → node-b
            "constraints hold different labelSelectors, spreads = [1/2, 1/0/1/1]",
            four_nodes_two_zones(),
            [
                pod("p-a1", on="node-a", foo=""),
                pod("p-a2", on="node-a", bar=""),
                pod("p-x1", on="node-x", foo="", bar=""),
                pod("p-y1", on="node-y", foo="", bar=""),
            ],
            pod("p", constraint(1, "zone"), constraint(1, HOST, selector=BAR), foo="", bar=""),
            {"node-a": SKEW, "node-b": OK, "node-x": SKEW, "node-y": SKEW},
        ),
        (
            # node-x lacks the zone label: it fails as unresolvable on the first constraint it
            # cannot evaluate, and does not count for the hostname constraint either
            "two constraints, a node missing one key is unresolvable",
            [
                node("node-a", zone="zone1"),
                node("node-b", zone="zone1"),
                node("node-x"),
                node("node-y", zone="zone2"),
            ],
            pods_on({"node-a": 1, "node-x": 2}, foo=""),
            pod("p", constraint(1, "zone"), constraint(1, HOST), foo=""),
            {"node-a": SKEW, "node-b": SKEW, "node-x": LABEL, "node-y": OK},
        ),
        (
            # the reason is the first constraint that fails, in order: node-b lacks the zone
            # but its rack (shared with node-a) already breaks the first constraint
            "skew on the first constraint is reported before a missing second key",
            [
                node("node-a", rack="r1", zone="z1"),
                node("node-b", rack="r1"),
                node("node-c", rack="r2", zone="z1"),
            ],
            pods_on({"node-a": 2}, foo=""),
            pod("p", constraint(1, "rack"), constraint(1, "zone"), foo=""),
            {"node-a": SKEW, "node-b": SKEW, "node-c": OK},
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_filter_multiple_constraints(
    name: str,
    nodes: list[dict[str, Any]],
    existing: list[PodInfo],
    incoming: PodInfo,
    want: dict[str, str],
) -> None:
    assert verdicts(nodes, existing, incoming) == want


def test_only_soft_constraints_filter_nothing_and_none_at_all_skips() -> None:
    nodes = [node("node-a"), node("node-b")]
    existing = pods_on({"node-a": 5}, foo="")
    soft = pod("p", constraint(1, HOST, "ScheduleAnyway"), foo="")
    assert verdicts(nodes, existing, soft) == {"node-a": OK, "node-b": OK}
    s, plugin = _cluster(nodes, existing)
    assert plugin.pre_filter(CycleState(), pod("q", foo=""), s.cache.nodes) is SKIP


# ---------------------------------------------------------------------- score


def hosts(*names: str, **labels: str) -> list[dict[str, Any]]:
    return [node(n, **labels) for n in names]


ABCD = ("node-a", "node-b", "node-c", "node-d")


@pytest.mark.parametrize(
    ("name", "nodes", "existing", "incoming", "failed", "want"),
    [
        (
            "one constraint on node, no existing pods",
            hosts("node-a", "node-b"),
            [],
            pod("p", constraint(1, HOST, "ScheduleAnyway"), foo=""),
            (),
            {"node-a": 100, "node-b": 100},
        ),
        (
            "one constraint on node, all nodes have the same number of matching pods",
            hosts("node-a", "node-b"),
            pods_on({"node-a": 1, "node-b": 1}, foo=""),
            pod("p", constraint(1, HOST, "ScheduleAnyway"), foo=""),
            (),
            {"node-a": 100, "node-b": 100},
        ),
        (
            "one constraint on node, all 4 nodes are candidates",
            hosts(*ABCD),
            pods_on({"node-a": 2, "node-b": 1, "node-d": 3}, foo=""),
            pod("p", constraint(1, HOST, "ScheduleAnyway"), foo=""),
            (),
            {"node-a": 20, "node-b": 60, "node-c": 100, "node-d": 0},
        ),
        (
            "one constraint on node, null selector",
            hosts(*ABCD),
            pods_on({"node-a": 2, "node-b": 1, "node-d": 3}, foo=""),
            pod("p", constraint(1, HOST, "ScheduleAnyway", selector=None), foo=""),
            (),
            {"node-a": 100, "node-b": 100, "node-c": 100, "node-d": 100},
        ),
        (
            "one constraint on node, all 4 nodes are candidates, maxSkew=2",
            hosts(*ABCD),
            pods_on({"node-a": 2, "node-b": 1, "node-d": 3}, foo=""),
            pod("p", constraint(2, HOST, "ScheduleAnyway"), foo=""),
            (),
            {"node-a": 33, "node-b": 66, "node-c": 100, "node-d": 16},
        ),
        (
            "one constraint on node, all 4 nodes are candidates, maxSkew=3",
            hosts(*ABCD),
            pods_on({"node-a": 4, "node-b": 3, "node-c": 2, "node-d": 1}, foo=""),
            pod("p", constraint(3, HOST, "ScheduleAnyway"), foo=""),
            (),
            {"node-a": 44, "node-b": 66, "node-c": 77, "node-d": 100},
        ),
        (
            "one constraint on node, 3 out of 4 nodes are candidates",
            hosts("node-a", "node-b", "node-x", "node-y"),
            pods_on({"node-a": 4, "node-b": 2, "node-x": 1, "node-y": 3}, foo=""),
            pod("p", constraint(1, HOST, "ScheduleAnyway"), foo=""),
            ("node-y",),
            {"node-a": 33, "node-b": 83, "node-x": 100},
        ),
        (
            "one constraint on node, 3 out of 4 nodes are candidates, one lacks the key",
            [
                node("node-a"),
                node("node-b", hostname=False, n="node-b"),
                node("node-x"),
                node("node-y"),
            ],
            pods_on({"node-a": 4, "node-b": 2, "node-x": 1, "node-y": 3}, foo=""),
            pod("p", constraint(1, HOST, "ScheduleAnyway"), foo=""),
            ("node-y",),
            {"node-a": 16, "node-b": 0, "node-x": 100},
        ),
        (
            "one constraint on zone, 3 out of 4 nodes are candidates",
            four_nodes_two_zones(),
            pods_on({"node-a": 4, "node-b": 2, "node-x": 1, "node-y": 3}, foo=""),
            pod("p", constraint(1, "zone", "ScheduleAnyway"), foo=""),
            ("node-y",),
            {"node-a": 75, "node-b": 75, "node-x": 100},
        ),
        (
            "two constraints on zone and node, 2 out of 4 nodes are candidates",
            four_nodes_two_zones(),
            pods_on({"node-a": 2, "node-b": 1, "node-x": 2, "node-y": 4}, foo=""),
            pod(
                "p",
                constraint(1, "zone", "ScheduleAnyway"),
                constraint(1, HOST, "ScheduleAnyway"),
                foo="",
            ),
            ("node-b", "node-y"),
            {"node-a": 100, "node-x": 63},
        ),
        (
            "two constraints on zone and node, with different labelSelectors",
            four_nodes_two_zones(),
            [
                pod("p-a1", on="node-a", foo=""),
                pod("p-b1", on="node-b", foo="", bar=""),
                pod("p-y1", on="node-y", foo=""),
                pod("p-y2", on="node-y", bar=""),
            ],
            pod(
                "p",
                constraint(1, "zone", "ScheduleAnyway"),
                constraint(1, HOST, "ScheduleAnyway", selector=BAR),
                foo="",
                bar="",
            ),
            (),
            {"node-a": 60, "node-b": 20, "node-x": 100, "node-y": 60},
        ),
        (
            "two constraints on zone and node, different labelSelectors, some nodes have 0 pods",
            four_nodes_two_zones(),
            [
                pod("p-b1", on="node-b", bar=""),
                pod("p-x1", on="node-x", foo=""),
                pod("p-y1", on="node-y", foo="", bar=""),
            ],
            pod(
                "p",
                constraint(1, "zone", "ScheduleAnyway"),
                constraint(1, HOST, "ScheduleAnyway", selector=BAR),
                foo="",
                bar="",
            ),
            (),
            {"node-a": 100, "node-b": 60, "node-x": 40, "node-y": 0},
        ),
        (
            "two constraints on zone and node, different labelSelectors, 3 of 4 candidates",
            four_nodes_two_zones(),
            [
                pod("p-a1", on="node-a", foo=""),
                pod("p-b1", on="node-b", foo="", bar=""),
                pod("p-y1", on="node-y", foo=""),
                pod("p-y2", on="node-y", bar=""),
            ],
            pod(
                "p",
                constraint(1, "zone", "ScheduleAnyway"),
                constraint(1, HOST, "ScheduleAnyway", selector=BAR),
                foo="",
                bar="",
            ),
            ("node-y",),
            {"node-a": 50, "node-b": 25, "node-x": 100},
        ),
        (
            "existing pods in a different namespace do not count",
            hosts("node-a", "node-b"),
            [
                pod("p-a1", on="node-a", ns="ns1", foo=""),
                pod("p-a2", on="node-a", foo=""),
                pod("p-b1", on="node-b", foo=""),
                pod("p-b2", on="node-b", foo=""),
            ],
            pod("p", constraint(1, HOST, "ScheduleAnyway"), foo=""),
            (),
            {"node-a": 100, "node-b": 33},
        ),
        (
            "terminating Pods should be excluded",
            hosts("node-a", "node-b"),
            [pod("p-a", on="node-a", terminating=True, foo=""), pod("p-b", on="node-b", foo="")],
            pod("p", constraint(1, HOST, "ScheduleAnyway"), foo=""),
            (),
            {"node-a": 100, "node-b": 0},
        ),
        (
            "NodeAffinityPolicy honored with labelSelectors",
            [
                node("node-a", node="node-a", foo=""),
                node("node-b", node="node-b", foo=""),
                node("node-c", node="node-c"),
            ],
            pods_on({"node-a": 2, "node-b": 1, "node-c": 1}, foo=""),
            pod("p", constraint(1, "node", "ScheduleAnyway"), node_selector=FOO, foo=""),
            (),
            {"node-a": 0, "node-b": 33, "node-c": 100},
        ),
        (
            "NodeAffinityPolicy ignored with labelSelectors",
            [
                node("node-a", node="node-a", foo=""),
                node("node-b", node="node-b", foo=""),
                node("node-c", node="node-c"),
            ],
            pods_on({"node-a": 2, "node-b": 1, "node-c": 1}, foo=""),
            pod(
                "p",
                constraint(1, "node", "ScheduleAnyway", affinity_policy="Ignore"),
                node_selector=FOO,
                foo="",
            ),
            (),
            {"node-a": 66, "node-b": 100, "node-c": 100},
        ),
        (
            "NodeTaintsPolicy honored",
            [
                node("node-a", node="node-a"),
                node("node-b", node="node-b"),
                node("node-c", node="node-c", taint="node.kubernetes.io/unreachable"),
            ],
            pods_on({"node-a": 2, "node-b": 1, "node-c": 1}, foo=""),
            pod("p", constraint(1, "node", "ScheduleAnyway", taints_policy="Honor"), foo=""),
            (),
            {"node-a": 0, "node-b": 33, "node-c": 100},
        ),
        (
            "NodeTaintsPolicy ignored",
            [
                node("node-a", node="node-a"),
                node("node-b", node="node-b"),
                node("node-c", node="node-c", taint="node.kubernetes.io/unreachable"),
            ],
            pods_on({"node-a": 2, "node-b": 1, "node-c": 1}, foo=""),
            pod("p", constraint(1, "node", "ScheduleAnyway"), foo=""),
            (),
            {"node-a": 66, "node-b": 100, "node-c": 100},
        ),
        (
            "matchLabelKeys ANDed with LabelSelector when LabelSelector is empty",
            [
                node("node-a", zone="zone1"),
                node("node-b", zone="zone1"),
                node("node-c", zone="zone2"),
                node("node-d", zone="zone2"),
            ],
            [
                pod("p-a1", on="node-a", foo=""),
                pod("p-b1", on="node-b", foo="", bar=""),
                pod("p-y1", on="node-c", foo=""),
                pod("p-y2", on="node-c", bar=""),
            ],
            pod(
                "p",
                constraint(1, "zone", "ScheduleAnyway", selector=EMPTY, match_label_keys=["foo"]),
                constraint(1, HOST, "ScheduleAnyway", selector=EMPTY, match_label_keys=["bar"]),
                foo="",
                bar="",
            ),
            (),
            {"node-a": 60, "node-b": 20, "node-c": 60, "node-d": 100},
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_score(  # noqa: PLR0917 - one parameter per column of the table
    name: str,
    nodes: list[dict[str, Any]],
    existing: list[PodInfo],
    incoming: PodInfo,
    failed: tuple[str, ...],
    want: dict[str, int],
) -> None:
    assert scores(nodes, existing, incoming, failed) == want


def test_go_round_is_half_away_from_zero() -> None:
    values = np.array([0.5, 1.5, 2.5, 2.4999999999999996, 3.5000000000000004, 0.49999999999999994])
    assert go_round(values).tolist() == [1, 2, 3, 2, 4, 0]


# ---------------------------------------------------------------------- default constraints


def _with_workloads(s: Scheduler) -> None:
    s.set_workload_selector("Service", "default", "web", selector_from_labels(FOO))


def test_system_defaults_spread_by_hostname_with_a_service_selector() -> None:
    """kube: "system defaulting, nodes don't have zone, pods match service" (44/66/77/100)."""
    existing = pods_on({"node-a": 4, "node-b": 3, "node-c": 2, "node-d": 1}, foo="")
    s, plugin = _cluster(hosts(*ABCD), existing)
    table = s.cache.nodes
    incoming = pod("p", foo="")
    assert plugin.pre_filter(CycleState(), incoming, table) is SKIP  # no workload selects it
    _with_workloads(s)
    state = CycleState()
    plugin.pre_filter(state, incoming, table)
    state.write(FEASIBLE, table.valid[: table.size].copy())
    got = plugin.score(state, incoming, table, table.all_slots())
    assert got is not None
    assert dict(zip(table.names, got.astype(int).tolist(), strict=True)) == {
        "node-a": 44,
        "node-b": 66,
        "node-c": 77,
        "node-d": 100,
    }


def test_system_defaults_count_nodes_without_a_zone_as_one_more_zone() -> None:
    """kube's preScoreState case "system default constraints and a replicaset": nodes without a
    zone form the domain "" (2 zone domains: weight ln 4), and still spread by hostname."""
    nodes = [
        node("node-a", **{ZONE: "mars"}),
        node("node-b", **{ZONE: "mars"}),
        node("node-c"),
        node("node-d"),
    ]
    existing = pods_on({"node-a": 1, "node-c": 2}, foo="tar", baz="sup")
    s, plugin = _cluster(nodes, existing)
    s.set_workload_selector("ReplicaSet", "default", "rs1", selector_from_labels({"foo": "tar"}))
    incoming = pod("p", owner=("ReplicaSet", "rs1"), foo="tar", baz="sup")
    table = s.cache.nodes
    state = CycleState()
    plugin.pre_filter(state, incoming, table)
    state.write(FEASIBLE, table.valid[: table.size].copy())
    got = plugin.score(state, incoming, table, table.all_slots())
    assert got is not None
    # hostname (maxSkew 3, weight ln 6): a 1→4, b 0→2, c 2→6, d 0→2 (rounded);
    # zone (maxSkew 5, weight ln 4) only on a, b (mars: 1 pod): + 1×1.386 + 4 = 5.39
    # raw: a 1.79+2+5.39 = 9.18→9, b 2+5.39 = 7.39→7, c 3.58+2 = 5.58→6, d 2
    # normalized: 100 × (9 + 2 - s) ÷ 9
    assert got.astype(int).tolist() == [22, 44, 55, 100]


def test_list_defaulting_with_a_hard_default_constraint_filters() -> None:
    args = PodTopologySpreadArgs.model_validate(
        {
            "defaultingType": "List",
            "defaultConstraints": [
                {"maxSkew": 1, "topologyKey": HOST, "whenUnsatisfiable": "DoNotSchedule"}
            ],
        }
    )
    nodes = hosts("node-a", "node-b")
    existing = pods_on({"node-a": 1}, foo="")
    incoming = pod("p", owner=("StatefulSet", "db"), foo="")
    assert verdicts(nodes, existing, incoming, args) == {"node-a": OK, "node-b": OK}
    s, plugin = _cluster(nodes, existing, args)
    s.set_workload_selector("StatefulSet", "default", "db", selector_from_labels(FOO))
    table = s.cache.nodes
    state = CycleState()
    plugin.pre_filter(state, incoming, table)
    mask = plugin.filter(state, incoming, table)
    assert mask is not None
    assert mask[: table.size].tolist() == [False, True]
    # The pod's own constraints replace the defaults.
    own = pod("q", constraint(5, HOST), owner=("StatefulSet", "db"), foo="")
    state = CycleState()
    plugin.pre_filter(state, own, table)
    assert plugin.filter(state, own, table) is not None
    assert bool(np.all(plugin.filter(state, own, table)[: table.size]))


def test_default_selector_as_kube_deduces_it() -> None:
    s = scheduler()
    store = s.cache.nodes.workloads
    s.set_workload_selector("Service", "default", "svc", selector_from_labels({"app": "web"}))
    s.set_workload_selector("Service", "default", "other", selector_from_labels({"app": "db"}))
    s.set_workload_selector("Service", "default", "all", selector_from_labels({}))
    s.set_workload_selector("Service", "prod", "svc2", selector_from_labels({"app": "web"}))
    rs = LabelSelector((LabelRequirement("tier", "In", frozenset({"a", "b"})),))
    s.set_workload_selector("ReplicaSet", "default", "web-1", rs)
    s.set_workload_selector(
        "ReplicationController", "default", "rc", selector_from_labels({"x": "1"})
    )
    web = pod("w", owner=("ReplicaSet", "web-1"), app="web", tier="a")
    got = store.default_selector(web)
    assert got is not None
    assert got.requirements == (
        LabelRequirement("app", "In", frozenset({"web"})),
        LabelRequirement("tier", "In", frozenset({"a", "b"})),
    )
    by_rc = pod("r", owner=("ReplicationController", "rc"), x="1")
    assert store.default_selector(by_rc) == selector_from_labels({"x": "1"})
    # A ReplicaSet that does not exist, a Deployment owner: only the Services count.
    assert store.default_selector(pod("o", owner=("ReplicaSet", "gone"), app="db")) == (
        selector_from_labels({"app": "db"})
    )
    assert store.default_selector(pod("n", owner=("Job", "j"), other="1")) is None
    s.set_workload_selector("Service", "default", "svc", None)  # deleted
    assert store.default_selector(pod("w2", app="web")) is None


def test_workload_selector_reads_each_kind() -> None:
    service = {
        "kind": "Service",
        "metadata": {"name": "s", "namespace": "n"},
        "spec": {"selector": {"a": "1"}},
    }
    assert workload_selector(service) == ("Service", "n", "s", selector_from_labels({"a": "1"}))
    headless = {"kind": "Service", "metadata": {"name": "s"}, "spec": {}}
    assert workload_selector(headless).selector is None
    rs = {
        "kind": "ReplicaSet",
        "metadata": {"name": "r", "namespace": "n"},
        "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}},
    }
    assert workload_selector(rs).selector == LabelSelector((LabelRequirement("a", "Exists"),))
    with pytest.raises(ValueError, match="kind"):
        workload_selector({"kind": "Deployment", "metadata": {"name": "d"}})


# ---------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {
                "defaultConstraints": [
                    {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
                ]
            },
            'args.defaultConstraints: Value error, must be empty when defaultingType is "System"',
        ),
        (
            {
                "defaultingType": "List",
                "defaultConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": "zone",
                        "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": {},
                    },
                ],
            },
            "args.defaultConstraints[0].labelSelector: Value error, constraint must not define a selector",
        ),
        (
            {
                "defaultingType": "List",
                "defaultConstraints": [
                    {"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
                ],
            },
            "args.defaultConstraints[0].maxSkew: Input should be greater than 0",
        ),
        (
            {
                "defaultingType": "List",
                "defaultConstraints": [
                    {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Maybe"},
                ],
            },
            "args.defaultConstraints[0].whenUnsatisfiable: Input should be 'DoNotSchedule' or 'ScheduleAnyway'",
        ),
        (
            {
                "defaultingType": "List",
                "defaultConstraints": [
                    {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
                    {"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
                ],
            },
            "args.defaultConstraints: Value error, [1]: duplicate {topologyKey, whenUnsatisfiable}",
        ),
        (
            {"defaultingType": "Sometimes"},
            "args.defaultingType: Input should be 'System' or 'List'",
        ),
    ],
)
def test_bad_args_name_the_field(args: dict[str, Any], message: str) -> None:
    config = {"profiles": [{"pluginConfig": [{"name": "PodTopologySpread", "args": args}]}]}
    with pytest.raises(ConfigError) as caught:
        scheduler(config=config)
    assert message in str(caught.value)


# ---------------------------------------------------------------------- in the scheduler


def zones(count: int, per_zone: int) -> list[Any]:
    return [
        make_node(f"z{z}-n{i}").label("zone", f"z{z}").alloc(cpu="64", pods="1000").obj()
        for z in range(count)
        for i in range(per_zone)
    ]


def zone_pod(name: str, max_skew: int = 1, **extra: Any) -> Any:
    body = make_pod(name).req(cpu="100m").label("app", "web").dict()
    body["spec"]["topologySpreadConstraints"] = [
        {
            "maxSkew": max_skew,
            "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}},
            **extra,
        }
    ]
    return body


def test_statefulset_replicas_go_one_per_zone_in_turn() -> None:
    s = scheduler(*zones(3, 2))
    placed: list[str] = []
    for i in range(9):
        result = place(s, pod_from_dict(zone_pod(f"web-{i}")))
        placed.append(result[f"web-{i}"].split("-")[0])
    for start in (0, 3, 6):
        assert sorted(placed[start : start + 3]) == ["z0", "z1", "z2"]


def test_the_event_names_both_reasons_with_counts_and_a_new_zone_wakes_the_pod() -> None:
    now = [1000.0]
    nodes = [*zones(2, 1), make_node("plain").alloc(cpu="64").obj()]
    s = scheduler(*nodes, clock=now)
    s.upsert_pod(make_pod("a").label("app", "web").node("z0-n0").phase("Running").obj())
    s.upsert_pod(make_pod("b").label("app", "web").node("z1-n0").phase("Running").obj())
    body = zone_pod("p", minDomains=3)
    result = place(s, pod_from_dict(body))
    assert result == {
        "p": "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints "
        "(missing required label), 2 node(s) didn't match pod topology spread constraints. "
        # The node without the label is beyond any eviction (kube's rule), the others not.
        "no new claims to deallocate, preemption: 0/3 nodes are available: "
        "1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
    }
    # A third zone: minDomains is met and the new zone is the minimum.
    s.upsert_node(make_node("z2-n0").label("zone", "z2").alloc(cpu="64").obj())
    now[0] += 30
    assert place(s) == {"p": "z2-n0"}


def test_a_gang_spreads_across_zones_within_one_plan() -> None:
    members = []
    for i in range(6):
        body = zone_pod(f"g-{i}")
        body["metadata"]["labels"]["pod-group.scheduling.kubenexus.io/name"] = "g"
        body["metadata"]["labels"]["pod-group.scheduling.kubenexus.io/min-available"] = "6"
        members.append(pod_from_dict(body))
    s = scheduler(*zones(3, 2))
    result = place(s, *members)
    assert Counter(where.split("-")[0] for where in result.values()) == {"z0": 2, "z1": 2, "z2": 2}


def test_a_gang_that_cannot_spread_is_not_placed_at_all() -> None:
    members = []
    for i in range(3):
        body = zone_pod(f"g-{i}", minDomains=3)
        body["metadata"]["labels"]["pod-group.scheduling.kubenexus.io/name"] = "g"
        body["metadata"]["labels"]["pod-group.scheduling.kubenexus.io/min-available"] = "3"
        members.append(pod_from_dict(body))
    s = scheduler(*zones(2, 2))  # two zones: below minDomains the second member breaks skew
    result = place(s, *members)
    assert all(" " in where for where in result.values())
    assert s.cache.pod_count == 0


# ---------------------------------------------------------------------- property


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_random_placements_and_removals_never_break_the_skew(seed: int) -> None:
    rng = random.Random(seed)
    nodes = []
    for z in range(3):
        for i in range(rng.randint(1, 3)):
            nodes.append(
                make_node(f"z{z}-n{i}").label("zone", f"z{z}").alloc(cpu="64", pods="1000").obj()
            )
    if rng.random() < 0.5:
        nodes.append(make_node("nozone").alloc(cpu="64", pods="1000").obj())
    s = scheduler(*nodes)
    zone_of = {n.name: n.labels.get("zone") for n in nodes}
    placed: dict[str, tuple[str, str]] = {}  # uid → (node, app)
    outcomes: Counter[str] = Counter()
    for step in range(120):
        if placed and rng.random() < 0.3:
            uid = rng.choice(sorted(placed))
            s.remove_pod(uid)
            del placed[uid]
            continue
        app = rng.choice(["a", "b"])
        key = rng.choice(["zone", HOST])
        max_skew = rng.randint(1, 3)
        min_domains = rng.choice([None, None, 2, 4])
        entry: dict[str, Any] = {
            "maxSkew": max_skew,
            "topologyKey": key,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": app}},
        }
        if min_domains:
            entry["minDomains"] = min_domains
        body = make_pod(f"p{step}").req(cpu="10m").label("app", app).dict()
        body["spec"]["topologySpreadConstraints"] = [entry]
        incoming = pod_from_dict(body)
        # Before placing: every domain and its count, from scratch.
        eligible = [n.name for n in nodes if n.labels.get(key) is not None]
        domain_of = {n.name: n.labels.get(key) for n in nodes}
        counts: Counter[str] = Counter({domain_of[n]: 0 for n in eligible})
        for where, other in placed.values():
            if other == app and where in eligible:
                counts[domain_of[where]] += 1
        minimum = 0 if len(counts) < (min_domains or 1) else min(counts.values())
        allowed = {n for n in eligible if counts[domain_of[n]] + 1 - minimum <= max_skew}
        result = place(s, incoming)[incoming.name]
        if result in zone_of:
            assert result in allowed, (seed, step, result, counts, minimum)
            outcomes["placed"] += 1
            placed[incoming.uid] = (result, app)
        else:
            assert not allowed, (seed, step, result, counts, minimum)
            outcomes["refused"] += 1
            s.remove_pod(incoming.uid)  # let it go: the next pod is a new one
    assert outcomes["placed"] > 10
    assert outcomes["refused"] > 0
