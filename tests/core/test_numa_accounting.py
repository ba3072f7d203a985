"""NUMA zone accounting stays true: zone usage is always the sum of the placed pods' shares,
whatever order nodes, topology objects and pods arrive, change and leave in."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kubenexus.api import PodInfo, pod_from_dict
from kubenexus.api.topology import NodeTopology, topology_from_nrt
from kubenexus.plugins.numa_topology import ZONES_ANNOTATION, NUMATopology
from kubenexus.scheduler import Scheduled, Scheduler
from tests.builders import make_node, make_pod
from tests.core.helpers import scheduler
from tests.core.test_numa import numa_node, pod

NAME = "pod-group.scheduling.kubenexus.io/name"
MIN = "pod-group.scheduling.kubenexus.io/min-available"


def _plugin(s: Scheduler) -> NUMATopology:
    return next(p for p in s.profiles["kubenexus-scheduler"].filters if isinstance(p, NUMATopology))


def nrt(zones: int = 2, cpus: int = 16, *, available: int | None = None) -> NodeTopology:
    """A NodeResourceTopology; ``available`` (cpus per zone) as the NFD exporter reports it
    with pods running."""
    return topology_from_nrt(
        {
            "zones": [
                {
                    "name": f"node-{z}",
                    "type": "Node",
                    "resources": [
                        {
                            "name": "cpu",
                            "capacity": str(cpus),
                            "allocatable": str(cpus),
                            "available": str(cpus if available is None else available),
                        },
                        {"name": "memory", "capacity": "64Gi", "allocatable": "64Gi"},
                    ],
                }
                for z in range(zones)
            ]
        }
    )


def bound_pod(name: str, node: str, cpu: str, annotations: dict[str, str] | None = None) -> PodInfo:
    body = make_pod(name).req(cpu=cpu, memory="1Gi").node(node).dict()
    body["metadata"]["annotations"] = dict(annotations or {})
    body["status"] = {"phase": "Running"}
    return pod_from_dict(body)


def zone_cpu(s: Scheduler, node: str) -> list[int]:
    slot = s.cache.nodes.index[node]
    table = _plugin(s).zones
    return [int(v) for v in table.used[0, : len(table.topologies[slot].zones), slot]]


def assert_zones_add_up(s: Scheduler) -> None:
    """Zone usage equals the sum of the shares recorded for the pods counted on each node, and
    exactly the pods counted on nodes with a topology have shares."""
    plugin = _plugin(s)
    table = plugin.zones
    nodes = s.cache.nodes
    expected = np.zeros_like(table.used)
    pods_expected = np.zeros_like(table.pods)
    recorded = set()
    for key, (slot, assignment, _) in plugin._applied.items():
        recorded.add(key)
        assert table.has_topology[slot]
        for zone, amounts in zip(assignment.zones, assignment.amounts, strict=True):
            expected[:, zone, slot] += amounts
            if assignment.known:
                pods_expected[zone, slot] += 1
    should = {
        p.key
        for slot in range(nodes.size)
        if nodes.valid[slot] and slot < table.capacity and table.has_topology[slot]
        for p in s.cache.counted_on(slot)
    }
    assert recorded == should
    assert (table.used == expected).all()
    assert (table.pods == pods_expected).all()
    assert (table.free_now == table.alloc - table.used).all()
    assert table.described == int(table.has_topology.sum())
    for slot, free in table.free_cpus.items():
        taken = set()
        for at, assignment, _ in plugin._applied.values():
            if at == slot:
                taken |= assignment.cpus
        for zone, described in enumerate(table.topologies[slot].zones):
            assert free[zone] == set(described.cpus) - taken


def test_nrt_available_is_not_counted_twice() -> None:
    """Hardening #3a: NRT ``available`` already excludes running pods; zones are sized by
    ``allocatable`` and charged with the pods the scheduler counts itself."""
    s = scheduler(make_node("a").alloc(cpu="32", memory="128Gi").obj())
    s.upsert_pod(bound_pod("running", "a", "10", {ZONES_ANNOTATION: "0"}))
    s.set_node_topology("a", nrt(available=6))  # the exporter: 16 - 10 on zone 0
    assert zone_cpu(s, "a") == [10000, 0]
    decision = s.schedule_one() or None
    assert decision is None
    s.upsert_pod(pod("next", cpu="6").obj())
    placed = s.schedule_one()
    assert isinstance(placed, Scheduled)  # 6 more fit zone 0 (16 - 10), not "0 free"
    assert_zones_add_up(s)


def test_topology_arriving_after_the_pods_charges_them() -> None:
    """Hardening #3b: informers sync concurrently; a NodeResourceTopology arriving after the
    node's pods must charge them."""
    s = scheduler(make_node("a").alloc(cpu="32", memory="128Gi").obj())
    s.upsert_pod(bound_pod("pinned", "a", "12", {ZONES_ANNOTATION: "0", "cpu-set": "0-11"}))
    s.upsert_pod(bound_pod("theirs", "a", "2"))  # zones unknown: charged to the freest zone
    s.set_node_topology("a", nrt())
    assert zone_cpu(s, "a") == [12000, 2000]
    assert_zones_add_up(s)


def test_topology_labels_added_after_the_pods_keep_pinned_cpus_taken() -> None:
    """The same when the node's own labels describe its zones only after its pods are bound
    (topology discovery labelling a running node): a new pod never gets a pinned CPU."""
    s = scheduler(make_node("a").alloc(cpu="32", memory="128Gi").obj())
    s.upsert_pod(bound_pod("pinned", "a", "12", {ZONES_ANNOTATION: "0", "cpu-set": "0-11"}))
    s.upsert_node(numa_node("a", cpus_per_zone=16).obj())
    assert zone_cpu(s, "a") == [12000, 0]
    assert _plugin(s).zones.free_cpus[0][0] == set(range(12, 16))
    s.upsert_pod(pod("new", cpu="4").obj())
    decision = s.schedule_one()
    assert isinstance(decision, Scheduled)
    assert decision.placement.annotations["cpu-set"] in {"12-15", "16-19"}
    assert_zones_add_up(s)


def test_topology_removed_then_back_after_a_pod_left_has_no_phantom_usage() -> None:
    """Hardening #3c."""
    s = scheduler(make_node("a").alloc(cpu="32", memory="128Gi").obj())
    s.set_node_topology("a", nrt())
    s.upsert_pod(bound_pod("gone-soon", "a", "8", {ZONES_ANNOTATION: "1"}))
    assert zone_cpu(s, "a") == [0, 8000]
    s.set_node_topology("a", None)
    s.remove_pod("uid-gone-soon")
    s.set_node_topology("a", nrt())
    assert zone_cpu(s, "a") == [0, 0]
    assert_zones_add_up(s)


def test_the_watch_confirming_a_spanning_pod_keeps_its_exact_shares() -> None:
    """Hardening #3d: a 12-CPU pod spread 8 + 4 must not be re-split 6 + 6 by the watch event
    that confirms its binding (which would disagree with its cpu-set)."""
    s = scheduler(numa_node("n", cpus_per_zone=8).obj())
    s.upsert_pod(pod("wide", cpu="12", memory="2Gi", policy="restricted").obj())
    decision = s.schedule_one()
    assert isinstance(decision, Scheduled)
    assert decision.placement.annotations[ZONES_ANNOTATION] == "0,1"
    before = zone_cpu(s, "n")
    assert sorted(before) == [4000, 8000]
    s.binding_succeeded(decision.pod.key)
    written = {k: v for k, v in decision.placement.annotations.items() if v is not None}
    confirmed = replace(decision.pod, node_name="n", annotations=written)
    s.upsert_pod(confirmed)
    assert zone_cpu(s, "n") == before
    assert_zones_add_up(s)


def test_a_restart_splits_cpu_by_the_cpu_set_and_never_loses_a_gpu() -> None:
    builder = numa_node("g", cpus_per_zone=8).extended("nvidia.com/gpu", "4")
    for gpu, zone in ((0, 0), (1, 0), (2, 1), (3, 1)):
        builder.label(f"gpu.kubenexus.io/gpu{gpu}-numa", str(zone))
    s = scheduler(builder.obj())
    body = make_pod("wide").req(cpu="12", memory="3Gi").extended("nvidia.com/gpu", "3").dict()
    body["spec"]["nodeName"] = "g"
    body["metadata"]["annotations"] = {ZONES_ANNOTATION: "0,1", "cpu-set": "0-7,8-11"}
    s.upsert_pod(pod_from_dict(body))
    table = _plugin(s).zones
    assert table.used[0, :2, 0].tolist() == [8000, 4000]  # as the cpu-set says
    assert int(table.used[2, :2, 0].sum()) == 3  # 2 + 1: every GPU counted
    assert int(table.used[1, :2, 0].sum()) == 3 * 2**30
    assert_zones_add_up(s)


def test_gang_members_get_their_zones_and_cpu_set() -> None:
    """Hardening #2: gangs are planned member by member before permit; each member's NUMA
    choice must still reach its annotations."""
    s = scheduler(*[numa_node(f"n{i}", cpus_per_zone=8).obj() for i in range(2)])
    members = [
        make_pod(f"w{i}")
        .req(cpu="4", memory="1Gi")
        .label(NAME, "train")
        .label(MIN, "4")
        .annotate("scheduling.kubenexus.io/numa-policy", "single-numa-node")
        .obj()
        for i in range(4)
    ]
    for member in members:
        s.upsert_pod(member)
    decided = [o for o in s.run_until_idle() if isinstance(o, Scheduled)]
    assert len(decided) == 4
    seen: set[tuple[str, str]] = set()
    for decision in decided:
        annotations = decision.placement.annotations
        zone = annotations[ZONES_ANNOTATION]
        assert zone in {"0", "1"}
        cpus = annotations["cpu-set"]
        assert len(cpus.split("-")) == 2  # four cores of one zone, e.g. "0-3"
        seen.add((decision.node, cpus))
    assert len(seen) == 4  # no two members pinned to the same CPUs of a node
    assert_zones_add_up(s)


def test_a_retry_elsewhere_removes_the_zones_an_earlier_attempt_wrote() -> None:
    """A pod placed on a NUMA node whose binding failed, retried on a node without topology,
    must not keep the first node's zones and cpu-set (the node side would pin it wrongly)."""
    now = [1000.0]
    s = scheduler(numa_node("numa", cpus_per_zone=8).obj(), clock=now)
    s.upsert_pod(pod("p", cpu="4", policy="best-effort").obj())
    first = s.schedule_one()
    assert isinstance(first, Scheduled)
    assert first.placement.annotations[ZONES_ANNOTATION]
    s.remove_node("numa")
    s.upsert_node(make_node("plain").alloc(cpu="8", memory="16Gi").obj())
    assert s.binding_failed(first.pod.key, "500")
    now[0] += 5
    second = s.schedule_one()
    assert isinstance(second, Scheduled)
    assert second.node == "plain"
    assert second.placement.annotations == {ZONES_ANNOTATION: None, "cpu-set": None}


def test_a_finished_gang_leaves_no_zone_bookkeeping() -> None:
    s = scheduler(numa_node("n", cpus_per_zone=8).obj())
    members = [
        make_pod(f"m{i}").req(cpu="2", memory="1Gi").label(NAME, "g").label(MIN, "2").obj()
        for i in range(2)
    ]
    for member in members:
        s.upsert_pod(member)
    decided = [o for o in s.run_until_idle() if isinstance(o, Scheduled)]
    assert _plugin(s)._gang_zones
    for decision in decided:
        s.remove_pod(decision.pod.key)
    assert _plugin(s)._gang_zones == {}


# --------------------------------------------------------------------------- the invariant

NODES = ["a", "b", "c"]
TOPOLOGIES: list[Any] = [None, "labels2", "labels4", "nrt2", "nrt3"]

actions = st.lists(
    st.one_of(
        st.tuples(st.just("node"), st.sampled_from(NODES), st.sampled_from(TOPOLOGIES)),
        st.tuples(st.just("drop-node"), st.sampled_from(NODES), st.none()),
        st.tuples(st.just("nrt"), st.sampled_from(NODES), st.sampled_from([None, 2, 3])),
        st.tuples(
            st.just("bound"),
            st.sampled_from(NODES),
            st.tuples(
                st.integers(0, 12), st.integers(1, 6), st.sampled_from(["", "0", "1", "0,1", "3"])
            ),
        ),
        st.tuples(st.just("finish"), st.integers(0, 12), st.none()),
        st.tuples(st.just("delete"), st.integers(0, 12), st.none()),
        st.tuples(st.just("pending"), st.integers(0, 12), st.sampled_from(["1", "3", "6", "20"])),
        st.tuples(st.just("schedule"), st.none(), st.booleans()),
    ),
    max_size=40,
)


def _node(name: str, topology: str | None) -> Any:
    if topology is None or topology.startswith("nrt"):
        return make_node(name).alloc(cpu="32", memory="128Gi").obj()
    zones = int(topology[-1])
    return numa_node(name, zones=zones, cpus_per_zone=32 // zones).obj()


@settings(max_examples=200, deadline=None)
@given(actions)
def test_zone_usage_is_always_the_sum_of_the_pods_shares(ops: list[tuple[Any, Any, Any]]) -> None:
    """Hardening #3: after any sequence of node / topology / pod add-update-delete, in any
    order, zone usage equals the sum of the placed pods' per-zone shares."""
    s = scheduler()
    decided: list[Scheduled] = []
    for op, target, arg in ops:
        if op == "node":
            s.upsert_node(_node(target, arg))
        elif op == "drop-node":
            s.remove_node(target)
        elif op == "nrt":
            s.set_node_topology(target, None if arg is None else nrt(zones=arg, cpus=32 // arg))
        elif op == "bound":
            number, cpu, zones = arg
            annotations = {ZONES_ANNOTATION: zones} if zones else {}
            s.upsert_pod(bound_pod(f"p{number}", target, str(cpu), annotations))
        elif op == "finish":
            node = s.cache.node_of(f"uid-p{target}")
            if node is not None:
                s.upsert_pod(replace(bound_pod(f"p{target}", node, "1"), phase="Succeeded"))
        elif op == "delete":
            s.remove_pod(f"uid-p{target}")
        elif op == "pending":
            if f"uid-p{target}" not in s.cache:
                s.upsert_pod(pod(f"p{target}", cpu=arg, policy="best-effort").obj())
        else:
            outcome = s.schedule_one()
            if isinstance(outcome, Scheduled):
                if arg:
                    s.binding_succeeded(outcome.pod.key)
                    written = {
                        k: v for k, v in outcome.placement.annotations.items() if v is not None
                    }
                    s.upsert_pod(replace(outcome.pod, node_name=outcome.node, annotations=written))
                else:
                    s.binding_failed(outcome.pod.key, "500")
                decided.append(outcome)
        assert_zones_add_up(s)


def test_cpus_pinned_outside_the_zones_named_are_never_handed_out_again() -> None:
    """A running pod's cpu-set may reach beyond the zones it names (the node's layout was
    corrected to interleaved zones while it ran): every CPU it is pinned to stays taken."""
    s = scheduler(numa_node("n", cpus_per_zone=16).obj())
    s.upsert_pod(bound_pod("old", "n", "12", {ZONES_ANNOTATION: "0", "cpu-set": "0-11"}))
    interleaved = make_node("n").alloc(cpu="32", memory="128Gi")
    interleaved.label("numa.kubenexus.io/node-count", "2")
    put = interleaved._obj["metadata"].setdefault("annotations", {})
    put.update(
        {
            "numa.kubenexus.io/node-0-cpus": "0-7,16-23",
            "numa.kubenexus.io/node-0-memory": "64Gi",
            "numa.kubenexus.io/node-1-cpus": "8-15,24-31",
            "numa.kubenexus.io/node-1-memory": "64Gi",
        }
    )
    s.upsert_node(interleaved.obj())
    table = _plugin(s).zones
    assert table.free_cpus[0][1] == set(range(12, 16)) | set(range(24, 32))  # 8-11 stay taken
    s.upsert_pod(pod("new", cpu="12", policy="best-effort").obj())
    decision = s.schedule_one()
    assert isinstance(decision, Scheduled)
    assert decision.placement.annotations["cpu-set"] == "12-15,24-31"  # not 8-11
    assert_zones_add_up(s)


def test_two_pods_claiming_one_cpu_free_it_only_when_both_are_gone() -> None:
    s = scheduler(numa_node("n", cpus_per_zone=8).obj())
    s.upsert_pod(bound_pod("a", "n", "2", {ZONES_ANNOTATION: "0", "cpu-set": "0-1"}))
    s.upsert_pod(bound_pod("b", "n", "2", {ZONES_ANNOTATION: "0", "cpu-set": "1-2"}))
    table = _plugin(s).zones
    s.remove_pod("uid-a")
    assert 1 not in table.free_cpus[0][0]  # b still holds it
    assert 0 in table.free_cpus[0][0]
    s.remove_pod("uid-b")
    assert table.free_cpus[0][0] == set(range(8))
