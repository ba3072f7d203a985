"""Break-tests of the rules about other pods (issue #13's review): each failed before its fix."""

from __future__ import annotations

from typing import Any

from kubenexus.api import pod_from_dict
from tests.builders import make_node, make_pod, no_victims
from tests.core.helpers import place, scheduler
from tests.core.test_inter_pod_affinity import node, pod, sel, term

HOST = "kubernetes.io/hostname"
ZONE = "zone"


def _spread_body(name: str) -> dict[str, Any]:
    body = make_pod(name).label("app", "web").req(cpu="100m").dict()
    body["spec"]["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}},
        }
    ]
    return body


def test_node_removal_wakes_a_pod_rejected_by_topology_spread() -> None:
    """A deleted node can take away the domain holding the minimum (kube registers
    PodTopologySpread for Node/Delete): the pod is retried at once, not at the 5-minute flush."""
    now = [1000.0]
    a = make_node("a1").label(ZONE, "a").alloc(cpu="8").taint("dedicated", "x").obj()
    b = make_node("b1").label(ZONE, "b").alloc(cpu="8").obj()
    s = scheduler(a, b, clock=now)
    s.upsert_pod(make_pod("old").label("app", "web").node("b1").phase("Running").obj())
    # Zone a (0 matching pods, tainted: the pod cannot go there) holds the minimum: skew 2 on b.
    first = place(s, pod_from_dict(_spread_body("p")))
    assert "didn't match pod topology spread constraints" in first["p"]
    s.remove_node("a1")  # zone a gone: the minimum is 1, skew on b is 1
    now[0] += 30  # past any backoff, far below the 300 s flush
    assert place(s) == {"p": "b1"}


def test_a_placed_pod_keeps_its_anti_affinity_when_another_rule_cannot_be_read() -> None:
    """kube-apiserver accepts Gt with a non-integer value; such a pod, bound by someone else,
    still carries required anti-affinity that binds newcomers (symmetry)."""
    s = scheduler(make_node("n1").alloc(cpu="8").obj())
    body = make_pod("guard").label("app", "guard").node("n1").phase("Running").dict()
    body["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["abc"]}]}
                ]
            }
        },
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": HOST, "labelSelector": {"matchLabels": {"app": "web"}}}
            ]
        },
    }
    s.upsert_pod(pod_from_dict(body))
    result = place(s, make_pod("web").label("app", "web").req(cpu="100m").obj())
    assert result == {
        "web": "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity "
        "rules." + no_victims(1)
    }


def test_a_namespace_selector_costs_one_selector_whatever_the_namespaces() -> None:
    """A term selecting namespaces by label is counted by one selector over the namespace set
    (not one per namespace, summed on every attempt), and resolving the set is remembered."""
    s = scheduler(*[node(f"n{i}", zone=f"z{i % 3}", **{HOST: f"n{i}"}) for i in range(30)])
    namespaces = 3000
    for i in range(namespaces):
        s.set_namespace(f"ns{i}", {"team": "t"})
    s.upsert_pod(pod("blocker", {"app": "x"}, ns="ns2999", node="n0"))
    pods = [
        pod(f"p{i}", {"app": "y"}, anti=[term(sel("app", "In", "x"), HOST, namespaceSelector={})])
        for i in range(3)
    ] + [
        pod(
            f"q{i}",
            {"app": "z"},
            anti=[
                term(sel("app", "In", "x"), HOST, namespaceSelector={"matchLabels": {"team": "t"}})
            ],
        )
        for i in range(3)
    ]
    result = place(s, *pods)
    assert all(where.startswith("n") and where != "n0" for where in result.values()), result
    index = s.cache.nodes.pods
    assert len(index._selectors) <= 4, len(index._selectors)


def test_node_churn_does_not_grow_the_label_domains_forever() -> None:
    """Nodes come and go with unique hostnames (autoscaling): a value no node carries any more
    gives its code back, so the domains stay the size of the cluster."""
    s = scheduler(*[make_node(f"n{i}").label(ZONE, f"z{i % 3}").obj() for i in range(50)])
    column = s.cache.nodes.label_column(HOST)
    for i in range(5_000):
        s.upsert_node(make_node(f"tmp{i}").label(ZONE, "z0").label(HOST, f"tmp{i}").obj())
        s.remove_node(f"tmp{i}")
    body = make_pod("p").label("app", "web").req(cpu="10m").dict()
    body["spec"]["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}},
        }
    ]
    assert place(s, pod_from_dict(body))["p"].startswith("n")
    assert len(column.values) == 50  # the live nodes' hostnames only
    assert column.width <= 51


def test_a_reused_label_code_reads_as_its_new_value() -> None:
    """The code of a value that left is reused for the next new value: masks and domains read
    the new value, not the old one."""
    s = scheduler(make_node("a").label(ZONE, "old").alloc(cpu="4").obj())
    assert place(s, make_pod("p1").selector(zone="old").obj()) == {"p1": "a"}
    s.upsert_node(make_node("a").label(ZONE, "new").alloc(cpu="4").obj())
    assert place(s, make_pod("p2").selector(zone="new").obj()) == {"p2": "a"}
    assert "didn't match" in place(s, make_pod("p3").selector(zone="old").obj())["p3"]


def test_an_unrelated_placement_does_not_retry_pods_waiting_on_anti_affinity() -> None:
    """A pod rejected by its own required anti-affinity can only be helped by a matching pod
    going away (kube's queueing hint skips a pod Add matching none of its terms)."""
    now = [1000.0]
    s = scheduler(*[node(f"n{i}", zone="a") for i in range(3)], clock=now)
    s.upsert_pod(pod("blocker", {"app": "db"}, node="n0"))
    waiting = [
        pod(f"w{i}", {"app": "w"}, anti=[term(sel("app", "In", "db"), "zone")]) for i in range(20)
    ]
    place(s, *waiting)
    retried = 0
    for step in range(10):
        now[0] += 11  # past the longest backoff
        outcome = place(s, pod(f"plain{step}", {"app": "unrelated"}))
        retried += sum(1 for name in outcome if name.startswith("w"))
    assert retried == 0
    s.remove_pod("uid-blocker")  # the blocking pod goes: they are retried and placed
    now[0] += 11
    assert sum(1 for where in place(s).values() if where.startswith("n")) == 20


def test_a_placement_matching_a_waiting_pods_affinity_wakes_it() -> None:
    now = [1000.0]
    s = scheduler(*[node(f"n{i}", zone="a") for i in range(2)], clock=now)
    waiting = pod("follower", {"app": "f"}, aff=[term(sel("app", "In", "leader"), "zone")])
    s.upsert_pod(pod("other", {"app": "other"}, node="n1"))
    assert "didn't match pod affinity rules" in place(s, waiting)["follower"]
    now[0] += 11
    assert place(s, pod("unrelated", {"app": "x"})) == {"unrelated": "n0"}  # not retried
    now[0] += 11
    placed = place(s, pod("leader", {"app": "leader"}))  # woken by it: placed after backoff
    now[0] += 11
    placed |= place(s)
    assert placed["leader"].startswith("n")
    assert placed["follower"].startswith("n")
