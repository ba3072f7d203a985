"""Placed pods read slim (placed_pod_from_dict, as the daemon reads every placed pod) must lead
the core to the decisions a full read leads to (what the simulator sees), e.g. preemption
victims; the runtime's shortcuts never choose a removed node or one outside a pre-filter's
node limit."""

from __future__ import annotations

from typing import Any

from kubenexus.api.objects import PodInfo, placed_pod_from_dict, pod_from_dict
from kubenexus.scheduler import Scheduled, Scheduler, Unschedulable
from tests.builders import make_node, make_pod
from tests.core.helpers import place, scheduler


def _gang_pod(priority: int) -> PodInfo:
    return (
        make_pod("g-0")
        .req(cpu="2")
        .priority(priority)
        .label("pod-group.scheduling.kubenexus.io/name", "g")
        .label("pod-group.scheduling.kubenexus.io/min-available", "1")
        .obj()
    )


def _victims(s: Scheduler) -> list[str]:
    s.upsert_pod(_gang_pod(1000))
    outcomes = s.run_until_idle()
    [preemption] = [o.preemption for o in outcomes if isinstance(o, Unschedulable) and o.preemption]
    return [v.name for v in preemption.victims]


def _cluster(read: Any) -> Scheduler:
    """a: a firm pod of priority 200; b: a pod of the 'low-priority' class (preemptible by its
    class, reference §10) of priority 300 — both placed, both read as ``read`` reads them."""
    s = scheduler(make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj())
    firm = make_pod("firm").req(cpu="3").node("a").phase("Running").priority(200)
    spot = make_pod("spot").req(cpu="3").node("b").phase("Running").priority(300)
    s.upsert_pod(read(firm.dict()))
    s.upsert_pod(read(spot.priority_class("low-priority").dict()))
    return s


def test_a_gang_takes_a_preemptible_class_victim_first_when_read_in_full() -> None:
    assert _victims(_cluster(pod_from_dict)) == ["spot"]


def test_a_gang_takes_a_preemptible_class_victim_first_as_the_daemon_reads_it() -> None:
    """The slim read keeps priorityClassName: a victim preemptible by its class ('low-priority',
    'best-effort') or tiered by its class (priority_class_tiers) is ranked as a full read ranks
    it, not as firm."""
    assert _victims(_cluster(lambda d: placed_pod_from_dict(d, keep_owner=False))) == ["spot"]


def test_a_removed_node_that_would_score_best_is_never_chosen() -> None:
    """The runtime's mask is skipped when every slot passes: the
    emptiest node is removed (its slot left invalid, its figures may linger); the others all
    pass, and one of them is chosen — with scores (many nodes) and without."""
    nodes = [make_node("gone").alloc(cpu="64", memory="256Gi").obj()]
    nodes += [make_node(f"n{i}").alloc(cpu="8", memory="32Gi").obj() for i in range(5)]
    s = scheduler(*nodes)
    s.remove_node("gone")
    assert place(s, *(make_pod(f"p{i}").req(cpu="1").obj() for i in range(8))).keys() == {
        f"p{i}" for i in range(8)
    }
    assert "gone" not in set(place(s, make_pod("q").req(cpu="1").obj()).values())
    assert s.cache.node_of("uid-p0") != "gone"
    assert {s.cache.node_of(f"uid-p{i}") for i in range(8)} <= {f"n{i}" for i in range(5)}


def test_a_node_limit_of_a_pre_filter_holds_when_most_nodes_pass() -> None:
    """Pods naming three of four nodes by metadata.name (NodeAffinity's pre-filter limit, kube's
    semantics): the fourth, the emptiest, is never chosen (scores are computed for every slot
    and the others masked)."""
    s = scheduler(*(make_node(f"n{i}").alloc(cpu="8", memory="32Gi").obj() for i in range(4)))
    for i in (1, 2, 3):
        s.upsert_pod(make_pod(f"fill-{i}").req(cpu="4").node(f"n{i}").phase("Running").obj())
    named = ["n1", "n2", "n3"]
    terms = [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [name]}]}
        for name in named
    ]
    affinity = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}
    pods = []
    for i in range(3):
        body = make_pod(f"named-{i}").req(cpu="1").dict()
        body["spec"]["affinity"] = {"nodeAffinity": affinity}
        pods.append(pod_from_dict(body))
    assert set(place(s, *pods).values()) <= set(named)


def test_numa_skip_ends_once_a_node_gains_zones_and_placed_pods_fill_them() -> None:
    """NUMATopology's shortcut: while no node has zones, a gang
    member without NUMA annotations skips the plugin. The node then gains two zones of 4 CPUs;
    a placed pod (read slim, as the daemon reads it) already holds 3 CPUs of zone 0 by its
    annotations. A member asking single-numa-node for 2 CPUs must go to zone 1 — and one
    asking for 5 fits no zone: refused."""
    plain = make_node("n").alloc(cpu="8", memory="16Gi").obj()
    s = scheduler(plain)
    body = make_pod("held").req(cpu="3", memory="1Gi").node("n").phase("Running").dict()
    body["metadata"]["annotations"] = {"numa.kubenexus.io/zones": "0", "cpu-set": "0-2"}
    s.upsert_pod(placed_pod_from_dict(body, keep_owner=False))
    member = make_pod("m0").req(cpu="1").label("pod-group.scheduling.kubenexus.io/name", "g")
    assert (
        place(s, member.label("pod-group.scheduling.kubenexus.io/min-available", "1").obj())["m0"]
        == "n"
    )
    zoned = make_node("n").alloc(cpu="8", memory="16Gi").label("numa.kubenexus.io/node-count", "2")
    for zone in range(2):
        zoned.label(f"numa.kubenexus.io/node-{zone}-cpus", f"{zone * 4}-{zone * 4 + 3}")
        zoned.label(f"numa.kubenexus.io/node-{zone}-memory", "8Gi")
    s.upsert_node(zoned.obj())
    policy = "scheduling.kubenexus.io/numa-policy"
    s.upsert_pod(make_pod("two").req(cpu="2", memory="1Gi").annotate(policy, "single-numa").obj())
    [placed] = [o for o in s.run_until_idle() if o.pod.name == "two"]
    assert isinstance(placed, Scheduled)
    assert placed.node == "n"
    assert placed.placement.annotations.get("numa.kubenexus.io/zones") == "1"  # 0 holds 'held'
    too_big = make_pod("five").req(cpu="5", memory="1Gi").annotate(policy, "single-numa").obj()
    assert place(s, too_big)["five"] != "n"  # fits no zone of 4 CPUs: refused
