"""NUMATopology: policies, zones, CPU pinning, restart rebuild, sources, malformed data, spread."""

from __future__ import annotations

from typing import Any

import pytest

from kubenexus.api import PodInfo, pod_from_dict
from kubenexus.api.topology import parse_cpu_list, topology_from_labels, topology_from_nrt
from kubenexus.errors import InvalidInputError
from kubenexus.plugins.numa_topology import ZONES_ANNOTATION, NUMATopology
from kubenexus.plugins.numa_topology.request import numa_request
from kubenexus.scheduler import Scheduled, Scheduler
from tests.builders import NodeBuilder, PodBuilder, make_node, make_pod, no_victims, not_helpful
from tests.core.helpers import place, scheduler

POLICY = "scheduling.kubenexus.io/numa-policy"
GIB = 2**30


def numa_node(
    name: str,
    zones: int = 2,
    cpus_per_zone: int = 16,
    memory_gib: int = 64,
    *,
    as_labels: bool = False,
    distance: int = 20,
) -> NodeBuilder:
    """A node with ``zones`` zones of contiguous CPU IDs (annotations, or labels with ``_``)."""
    builder = make_node(name).alloc(
        cpu=str(zones * cpus_per_zone), memory=f"{zones * memory_gib}Gi"
    )
    put = builder.label if as_labels else _annotate(builder)
    builder.label("numa.kubenexus.io/node-count", str(zones))
    for z in range(zones):
        low = z * cpus_per_zone
        put(f"numa.kubenexus.io/node-{z}-cpus", f"{low}-{low + cpus_per_zone - 1}")
        put(f"numa.kubenexus.io/node-{z}-memory", f"{memory_gib}Gi")
        for other in range(zones):
            put(
                f"numa.kubenexus.io/node-{z}-distance-{other}",
                "10" if other == z else str(distance),
            )
    return builder


def _annotate(builder: NodeBuilder) -> Any:
    def put(key: str, value: str) -> None:
        builder._obj["metadata"].setdefault("annotations", {})[key] = value

    return put


def pod(
    name: str,
    cpu: str,
    memory: str = "1Gi",
    policy: str | None = "single-numa-node",
    **annotations: str,
) -> PodBuilder:
    builder = make_pod(name).req(cpu=cpu, memory=memory)
    if policy is not None:
        builder.annotate(POLICY, policy)
    for key, value in annotations.items():
        builder.annotate(key, value)
    return builder


def _plugin(s: Scheduler) -> NUMATopology:
    return next(p for p in s.profiles["kubenexus-scheduler"].filters if isinstance(p, NUMATopology))


def _decide(s: Scheduler, *pods: PodInfo) -> dict[str, Any]:
    for p in pods:
        s.upsert_pod(p)
    result: dict[str, Any] = {}
    for outcome in s.run_until_idle():
        result[outcome.pod.name] = outcome if isinstance(outcome, Scheduled) else outcome.message
    return result


def test_single_numa_accepts_a_node_with_a_zone_that_fits_and_rejects_others() -> None:
    s = scheduler(
        numa_node("small", cpus_per_zone=8).obj(), numa_node("big", cpus_per_zone=16).obj()
    )
    result = _decide(s, pod("train", cpu="12").obj())
    assert result["train"].node == "big"
    message = _decide(s, pod("huge", cpu="20").obj())["huge"]
    # small has 16 cpu in all; big has 20 free, but not in one zone.
    assert (
        message
        == "0/2 nodes are available: 1 Insufficient cpu, 1 no single NUMA node has sufficient capacity (cpu 20 > 16 free in best zone). no new claims to deallocate, preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
    )


def test_zone_and_cpu_set_are_written_and_counted() -> None:
    s = scheduler(numa_node("n", cpus_per_zone=8).obj())
    first = _decide(s, pod("a", cpu="6").obj())["a"]
    assert first.placement.annotations[ZONES_ANNOTATION] in {"0", "1"}
    zone = int(first.placement.annotations[ZONES_ANNOTATION])
    assert first.placement.annotations["cpu-set"] == f"{zone * 8}-{zone * 8 + 5}"
    second = _decide(s, pod("b", cpu="6").obj())["b"]
    assert (
        int(second.placement.annotations[ZONES_ANNOTATION]) == 1 - zone
    )  # 2 cores left in the first
    third = _decide(s, pod("c", cpu="2").obj())["c"]
    assigned = parse_cpu_list(third.placement.annotations["cpu-set"], "x")
    assert assigned.isdisjoint(parse_cpu_list(first.placement.annotations["cpu-set"], "x"))
    assert assigned.isdisjoint(parse_cpu_list(second.placement.annotations["cpu-set"], "x"))


def test_fractional_cpu_gets_a_zone_but_no_cpu_set() -> None:
    s = scheduler(numa_node("n").obj())
    decision = _decide(s, pod("half", cpu="500m").obj())["half"]
    assert ZONES_ANNOTATION in decision.placement.annotations
    assert "cpu-set" not in decision.placement.annotations


def test_restricted_spans_zones_only_when_larger_than_any_zone() -> None:
    s = scheduler(numa_node("n", cpus_per_zone=8).obj())
    spanning = _decide(s, pod("wide", cpu="12", policy="restricted").obj())["wide"]
    assert spanning.placement.annotations[ZONES_ANNOTATION] == "0,1"
    s2 = scheduler(numa_node("m", cpus_per_zone=8).obj())
    _decide(
        s2,
        pod("half-a", cpu="5", policy="single-numa-node").obj(),
        pod("half-b", cpu="5", policy="single-numa-node").obj(),
    )
    # 6 cores would fit one zone's capacity, but no zone has 6 free now: restricted waits.
    message = _decide(s2, pod("six", cpu="6", policy="restricted").obj())["six"]
    assert "no single NUMA node has sufficient capacity (cpu 6 > 3 free in best zone)" in message


def test_best_effort_never_rejects_but_prefers_a_single_zone() -> None:
    s = scheduler(
        numa_node("narrow", cpus_per_zone=4).obj(), numa_node("wide", cpus_per_zone=16).obj()
    )
    decision = _decide(s, pod("be", cpu="6", policy="best-effort").obj())["be"]
    assert decision.node == "wide"
    s2 = scheduler(numa_node("narrow", cpus_per_zone=4).obj())
    spread = _decide(s2, pod("be", cpu="6", policy="best-effort").obj())["be"]
    assert spread.node == "narrow"
    assert spread.placement.annotations[ZONES_ANNOTATION] == "0,1"


def test_isolated_zones_stay_exclusive() -> None:
    s = scheduler(numa_node("n", cpus_per_zone=16).obj())
    hpc = _decide(s, pod("hpc", cpu="4", policy="isolated").obj())["hpc"]
    zone = int(hpc.placement.annotations[ZONES_ANNOTATION])
    other = _decide(s, pod("web", cpu="4").obj())["web"]
    assert int(other.placement.annotations[ZONES_ANNOTATION]) == 1 - zone
    message = _decide(s, pod("more", cpu="14").obj())[
        "more"
    ]  # 12 free in the open zone, isolated zone closed
    assert "no single NUMA node has sufficient capacity (cpu 14 > 12 free in best zone)" in message
    second = _decide(s, pod("hpc2", cpu="2", policy="isolated").obj())["hpc2"]
    assert (
        second
        == "0/1 nodes are available: 1 node(s) had no empty NUMA zone to isolate the pod."
        + no_victims(1)
    )


def test_strict_policy_needs_topology_but_a_defaulted_one_does_not() -> None:
    s = scheduler(make_node("plain").alloc(cpu="32", memory="64Gi").obj())
    message = _decide(s, pod("strict", cpu="4").obj())["strict"]
    assert (
        message
        == "0/1 nodes are available: 1 node(s) had no NUMA topology (single-numa-node needs it)."
        + not_helpful(1)
    )
    job_pod = make_pod("job-0").req(cpu="4").dict()
    job_pod["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "job", "controller": True}]
    assert _decide(s, pod_from_dict(job_pod))["job-0"].node == "plain"  # defaulted single-numa-node


def test_a_defaulted_policy_prefers_alignment_but_never_rejects() -> None:
    """Hardening #11: a 20-CPU Job pod fits an empty 2×16-CPU node as a whole; the batch
    default (single-numa-node, not asked for) must not make it unschedulable."""
    s = scheduler(numa_node("n", cpus_per_zone=16).obj())
    body = make_pod("job-0").req(cpu="20", memory="8Gi").dict()
    body["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "job", "controller": True}]
    job = _decide(s, pod_from_dict(body))["job-0"]
    assert isinstance(job, Scheduled)
    assert job.node == "n"
    assert job.placement.annotations[ZONES_ANNOTATION] == "0,1"  # spread: no zone holds 20
    assert job.placement.annotations["cpu-set"] == "0-19"
    # Where a zone fits, the default aligns: the next 8-CPU Job pod lands in one zone.
    body = make_pod("job-1").req(cpu="8", memory="1Gi").dict()
    body["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "job", "controller": True}]
    aligned = _decide(s, pod_from_dict(body))["job-1"]
    assert aligned.placement.annotations[ZONES_ANNOTATION] == "1"
    assert aligned.placement.annotations["cpu-set"] == "20-27"
    # Asked for explicitly, the same policy is a rule: the 20-CPU pod is refused.
    fresh = scheduler(numa_node("m", cpus_per_zone=16).obj())
    explicit = _decide(fresh, pod("strict", cpu="20").obj())["strict"]
    assert explicit == (
        "0/1 nodes are available: 1 no single NUMA node has sufficient capacity "
        "(cpu 20 > 16 free in best zone)." + no_victims(1)
    )


def test_affinity_prefers_zones_and_anti_affinity_excludes_them_ignoring_unknown_ids() -> None:
    s = scheduler(numa_node("n", zones=4, cpus_per_zone=8).obj())
    preferred = _decide(
        s, pod("db", cpu="2", **{"scheduling.kubenexus.io/numa-affinity-node-id": "2"}).obj()
    )["db"]
    assert preferred.placement.annotations[ZONES_ANNOTATION] == "2"
    avoided = _decide(
        s,
        pod(
            "noisy", cpu="2", **{"scheduling.kubenexus.io/numa-anti-affinity-node-id": "0,1,2,7"}
        ).obj(),
    )["noisy"]
    assert avoided.placement.annotations[ZONES_ANNOTATION] == "3"  # 7 does not exist: ignored
    message = _decide(
        s,
        pod(
            "nowhere", cpu="2", **{"scheduling.kubenexus.io/numa-anti-affinity-node-id": "0,1,2,3"}
        ).obj(),
    )["nowhere"]
    assert (
        message
        == "0/1 nodes are available: 1 node(s) had no NUMA zone allowed by numa-anti-affinity-node-id."
        + no_victims(1)
    )


def test_malformed_pod_annotations_are_named() -> None:
    s = scheduler(numa_node("n").obj())
    message = _decide(s, pod("bad", cpu="1", policy="sometimes").obj())["bad"]
    assert "metadata.annotations[scheduling.kubenexus.io/numa-policy]: must be one of" in message
    message = _decide(
        s, pod("bad2", cpu="1", **{"scheduling.kubenexus.io/numa-affinity-node-id": "zero"}).obj()
    )["bad2"]
    assert "numa-affinity-node-id" in message


def test_restart_rebuilds_zone_usage_from_pod_annotations() -> None:
    s = scheduler(numa_node("n", cpus_per_zone=8).obj())
    first = _decide(s, pod("a", cpu="6").obj())["a"]
    bound = make_pod("a").req(cpu="6", memory="1Gi").node("n").dict()
    bound["metadata"]["annotations"] = dict(first.placement.annotations)
    fresh = scheduler(numa_node("n", cpus_per_zone=8).obj())
    fresh.upsert_pod(pod_from_dict(bound))
    zone = int(first.placement.annotations[ZONES_ANNOTATION])
    table = _plugin(fresh).zones
    assert table.used[0, zone, 0] == 6000
    assert table.free_cpus[0][zone] == set(range(zone * 8, zone * 8 + 8)) - parse_cpu_list(
        first.placement.annotations["cpu-set"], "x"
    )
    second = _decide(fresh, pod("b", cpu="6").obj())["b"]
    assert int(second.placement.annotations[ZONES_ANNOTATION]) == 1 - zone


@pytest.mark.parametrize("policy", ["isolated", " isolated ", "isolated\n"])
def test_an_isolated_pod_keeps_its_zone_closed_after_a_restart(policy: str) -> None:
    """The policy is read as it was when the pod was placed (spaces around it accepted): a
    restart must not reopen the isolated zone to other pods."""
    s = scheduler(numa_node("n", cpus_per_zone=8).obj())
    first = _decide(s, pod("hpc", cpu="2", policy=policy).obj())["hpc"]
    assert isinstance(first, Scheduled)
    bound = pod("hpc", cpu="2", policy=policy).node("n").dict()
    bound["metadata"]["annotations"].update(first.placement.annotations)
    fresh = scheduler(numa_node("n", cpus_per_zone=8).obj())
    fresh.upsert_pod(pod_from_dict(bound))
    zone = int(first.placement.annotations[ZONES_ANNOTATION])
    other = _decide(fresh, pod("web", cpu="1").obj())["web"]
    assert int(other.placement.annotations[ZONES_ANNOTATION]) == 1 - zone


def test_pods_of_unknown_zones_are_charged_to_the_zone_with_most_free() -> None:
    s = scheduler(numa_node("n", cpus_per_zone=8).obj())
    s.upsert_pod(
        make_pod("theirs").scheduler("default-scheduler").req(cpu="5", memory="1Gi").node("n").obj()
    )
    table = _plugin(s).zones
    assert sorted(table.used[0, :2, 0].tolist()) == [0, 5000]
    assert (
        "cpu 6 > 8" not in _decide(s, pod("six", cpu="6").obj())["six"].node
    )  # still fits the other zone


def test_labels_and_nrt_sources_give_the_same_decisions() -> None:
    nrt = {
        "zones": [
            {
                "name": f"node-{z}",
                "type": "Node",
                "costs": [
                    {"name": "node-0", "value": 10 if z == 0 else 20},
                    {"name": "node-1", "value": 20 if z == 0 else 10},
                ],
                "resources": [
                    {"name": "cpu", "capacity": "16", "allocatable": "16", "available": "16"},
                    {"name": "memory", "capacity": "64Gi", "available": "64Gi"},
                ],
            }
            for z in range(2)
        ]
    }
    from_nrt = topology_from_nrt(nrt)
    from_labels = topology_from_labels(
        numa_node("x").obj().labels, numa_node("x").obj().annotations
    )
    assert from_labels is not None
    assert [(z.cpu_milli, z.memory, dict(z.distances)) for z in from_nrt.zones] == [
        (z.cpu_milli, z.memory, dict(z.distances)) for z in from_labels.zones
    ]
    by_labels = scheduler(
        numa_node("a", cpus_per_zone=16).obj(), make_node("b").alloc(cpu="32", memory="128Gi").obj()
    )
    by_nrt = scheduler(
        make_node("a").alloc(cpu="32", memory="128Gi").obj(),
        make_node("b").alloc(cpu="32", memory="128Gi").obj(),
    )
    by_nrt.set_node_topology("a", from_nrt)
    pods = [pod(f"p{i}", cpu="10").obj() for i in range(4)]
    assert {
        k: (v.node if not isinstance(v, str) else v) for k, v in _decide(by_labels, *pods).items()
    } == {k: (v.node if not isinstance(v, str) else v) for k, v in _decide(by_nrt, *pods).items()}


@pytest.mark.parametrize(
    ("labels", "annotations", "key"),
    [
        ({"numa.kubenexus.io/node-count": "two"}, {}, "node-count"),
        (
            {"numa.kubenexus.io/node-count": "2"},
            {"numa.kubenexus.io/node-0-cpus": "0-3", "numa.kubenexus.io/node-0-memory": "1Gi"},
            "node-1-cpus",
        ),
        (
            {"numa.kubenexus.io/node-count": "2"},
            {
                "numa.kubenexus.io/node-0-cpus": "0-3",
                "numa.kubenexus.io/node-0-memory": "1Gi",
                "numa.kubenexus.io/node-1-cpus": "2-5",
                "numa.kubenexus.io/node-1-memory": "1Gi",
            },
            "node-1-cpus",
        ),
        (
            {"numa.kubenexus.io/node-count": "1"},
            {"numa.kubenexus.io/node-0-cpus": "0-3", "numa.kubenexus.io/node-0-memory": "lots"},
            "node-0-memory",
        ),
        (
            {"numa.kubenexus.io/node-count": "1"},
            {"numa.kubenexus.io/node-0-cpus": "3-0", "numa.kubenexus.io/node-0-memory": "1Gi"},
            "node-0-cpus",
        ),
        (
            {"numa.kubenexus.io/node-count": "1", "gpu.kubenexus.io/gpu0-numa": "4"},
            {"numa.kubenexus.io/node-0-cpus": "0-3", "numa.kubenexus.io/node-0-memory": "1Gi"},
            "gpu0-numa",
        ),
    ],
)
def test_malformed_topology_is_ignored_with_the_key_named(
    labels: dict[str, str], annotations: dict[str, str], key: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        topology_from_labels(labels, annotations)
    assert key in str(info.value)
    builder = make_node("liar").alloc(cpu="8", memory="8Gi")
    for k, v in labels.items():
        builder.label(k, v)
    builder._obj["metadata"]["annotations"] = dict(annotations)
    s = scheduler(builder.obj())
    assert key in _plugin(s).problems["liar"]
    assert _decide(s, pod("strict", cpu="1").obj())["strict"].startswith(
        "0/1 nodes are available: 1 node(s) had no NUMA topology"
    )


def test_cpu_lists_in_labels_use_underscores() -> None:
    topology = topology_from_labels(
        {
            "numa.kubenexus.io/node-count": "1",
            "numa.kubenexus.io/node-0-cpus": "0-3_8-11",
            "numa.kubenexus.io/node-0-memory": "1Gi",
        },
        {},
    )
    assert topology is not None
    assert topology.zones[0].cpus == frozenset({0, 1, 2, 3, 8, 9, 10, 11})


@pytest.mark.parametrize(
    ("spread", "same_zone"), [("packed", True), ("balanced", False), ("isolated", False)]
)
def test_gang_spread_policies(spread: str, same_zone: bool) -> None:
    s = scheduler(numa_node("n", zones=2, cpus_per_zone=16).obj())
    annotations = {
        "scheduling.kubenexus.io/gang-group": "job",
        "scheduling.kubenexus.io/gang-numa-spread": spread,
    }
    first = _decide(s, pod("m0", cpu="2", **annotations).obj())["m0"]
    second = _decide(s, pod("m1", cpu="2", **annotations).obj())["m1"]
    zones = (
        first.placement.annotations[ZONES_ANNOTATION],
        second.placement.annotations[ZONES_ANNOTATION],
    )
    assert (zones[0] == zones[1]) is same_zone


def test_memory_intensive_pods_prefer_zones_with_more_memory_headroom() -> None:
    big_memory = numa_node("fat", cpus_per_zone=16, memory_gib=256).obj()
    small_memory = numa_node("thin", cpus_per_zone=16, memory_gib=40).obj()
    s = scheduler(small_memory, big_memory)
    decision = _decide(
        s,
        pod(
            "redis", cpu="8", memory="32Gi", **{"scheduling.kubenexus.io/memory-intensive": "true"}
        ).obj(),
    )["redis"]
    assert decision.node == "fat"


@pytest.mark.parametrize(
    ("cpu", "memory", "annotation", "intensive"),
    [
        ("8", "20Gi", None, True),  # more than 16 GiB
        ("8", "40Gi", None, True),  # 5 GiB per core
        ("8", "16Gi", None, False),
        ("8", "16Gi", "true", True),
        ("1", "8Gi", "false", False),
    ],
)
def test_memory_intensive_detection(
    cpu: str, memory: str, annotation: str | None, intensive: bool
) -> None:
    builder = pod("p", cpu=cpu, memory=memory)
    if annotation is not None:
        builder.annotate("scheduling.kubenexus.io/memory-intensive", annotation)
    assert numa_request(builder.obj(), "none", "single-numa-node").memory_intensive is intensive


def test_distance_weight_prefers_nodes_with_closer_zones() -> None:
    near = numa_node("near", distance=11).obj()
    far = numa_node("far", distance=40).obj()
    s = scheduler(far, near)
    decision = _decide(
        s, pod("latency", cpu="2", **{"scheduling.kubenexus.io/numa-distance-weight": "100"}).obj()
    )["latency"]
    assert decision.node == "near"


def test_gpus_are_aligned_with_their_zone() -> None:
    builder = numa_node("gpu", zones=2, cpus_per_zone=16).extended("nvidia.com/gpu", "4")
    for gpu, zone in ((0, 0), (1, 0), (2, 1), (3, 1)):
        builder.label(f"gpu.kubenexus.io/gpu{gpu}-numa", str(zone))
    s = scheduler(builder.obj())
    two = (
        pod(
            "two",
            cpu="4",
            **{"numa.scheduling.kubenexus.io/resources": "cpu,memory,nvidia.com/gpu"},
        )
        .extended("nvidia.com/gpu", "2")
        .obj()
    )
    decision = _decide(s, two)["two"]
    zone = int(decision.placement.annotations[ZONES_ANNOTATION])
    assert _plugin(s).zones.used[2, zone, 0] == 2
    fresh = scheduler(builder.obj())  # 4 GPUs free on the node, but at most 2 per zone
    three = pod("three", cpu="4").extended("nvidia.com/gpu", "3").obj()  # aligned by default
    assert _decide(fresh, three)["three"] == (
        "0/1 nodes are available: 1 no single NUMA node has sufficient capacity "
        "(nvidia.com/gpu 3 > 2 free in best zone)." + no_victims(1)
    )


def test_a_pod_spanning_zones_is_pinned_to_exactly_its_cores() -> None:
    s = scheduler(numa_node("n", cpus_per_zone=8).obj())
    _decide(
        s, pod("half", cpu="500m", policy="single-numa-node").obj()
    )  # zone 0 or 1 keeps 7.5 cores
    wide = _decide(s, pod("wide", cpu="12", policy="restricted").obj())["wide"]
    assert wide.placement.annotations[ZONES_ANNOTATION] == "0,1"
    assert len(parse_cpu_list(wide.placement.annotations["cpu-set"], "x")) == 12


def test_gpu_zones_come_from_the_one_gpu_model_resource_slices_too() -> None:
    """No gpuK-numa labels: the GPUs' zones come from the node's ResourceSlice (numaNode),
    through the same GPU model the VRAM plugin reads."""
    from tests.core.test_gpu_model import nvidia_gpu, resource_slice  # noqa: PLC0415

    node = numa_node("dra", zones=2, cpus_per_zone=16).extended("nvidia.com/gpu", "8").obj()
    s = scheduler(node)
    devices = [nvidia_gpu(i) for i in range(8)]  # numaNode i // 4: four per zone
    assert s.set_node_slices("dra", [resource_slice("dra-gpus", devices, node="dra")]) == ""
    four = pod("four", cpu="4").extended("nvidia.com/gpu", "4").obj()
    decision = _decide(s, four)["four"]
    assert isinstance(decision, Scheduled)
    zone = int(decision.placement.annotations[ZONES_ANNOTATION])
    assert _plugin(s).zones.used[2, zone, 0] == 4
    five = pod("five", cpu="4").extended("nvidia.com/gpu", "4").obj()
    assert _decide(s, five)["five"].placement.annotations[ZONES_ANNOTATION] == str(1 - zone)
    # A device in a zone the node does not have: the topology is ignored, and says why.
    bad = [nvidia_gpu(i) for i in range(12)]  # numaNode 2 for the last four
    s.set_node_slices("dra", [resource_slice("dra-gpus", bad, node="dra")])
    assert "is in NUMA zone 2 but the node has 2 zones" in _plugin(s).problems["dra"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("scheduling.kubenexus.io/numa-policy", "sometimes"),
        ("scheduling.kubenexus.io/memory-intensive", "maybe"),
        ("scheduling.kubenexus.io/numa-distance-weight", "far"),
        ("scheduling.kubenexus.io/gang-numa-spread", "everywhere"),
        ("scheduling.kubenexus.io/numa-anti-affinity-node-id", "zero"),
        ("numa.scheduling.kubenexus.io/resources", ""),
        # A misspelt resource would silently not be aligned.
        ("numa.scheduling.kubenexus.io/resources", "cpu,memroy"),
        ("numa.scheduling.kubenexus.io/resources", ","),
    ],
)
def test_without_zones_anywhere_malformed_annotations_are_still_named(key: str, value: str) -> None:
    """No node describes NUMA zones: a pod without NUMA annotations skips the plugin, and one
    whose NUMA annotation is malformed is still refused naming it (the shortcut reads keys)."""
    s = scheduler(make_node("plain").alloc(cpu="8", memory="16Gi").obj())
    assert place(s, make_pod("ok").req(cpu="1").obj()) == {"ok": "plain"}
    bad = make_pod("bad").req(cpu="1").annotate(key, value).obj()
    outcome = place(s, bad)["bad"]
    if value:
        assert f"metadata.annotations[{key}]" in outcome
    else:
        assert outcome == "plain"  # an empty value is no request (as before the shortcut)
