"""The workload-profile scores against what the user asked for in the pod spec (found by a
break-test of issue 15's defaults; each docstring tells the case as found). Preferred node
affinity, preferred pod affinity and ``ScheduleAnyway`` spread constraints are the user's own
words; in kube-scheduler they decide among feasible nodes. TopologyScoring (6 × 100),
ResourceFragmentationScore (5 × 100) and TenantHardwareAffinityScore (34 × 80) outweigh
NodeAffinity, InterPodAffinity and PodTopologySpread (2 × 100 each) and silently undo them."""

from __future__ import annotations

from typing import Any

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo, pod_from_dict
from tests.builders import PodBuilder, make_node, make_pod
from tests.core.helpers import place, scheduler
from tests.core.test_profiles import GPU, gfd_node

ZONE = keys.ZONE_LABEL
H100 = "NVIDIA-H100-80GB-HBM3"


def spread(builder: PodBuilder, key: str, selector: dict[str, str]) -> PodInfo:
    body: dict[str, Any] = builder.dict()
    body["spec"]["topologySpreadConstraints"] = [
        {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
         "labelSelector": {"matchLabels": selector}}
    ]  # fmt: skip
    return pod_from_dict(body)


def zoned_nodes() -> list[Any]:
    return [
        make_node(f"{zone}-{i}").label(ZONE, zone).alloc(cpu="16", memory="64Gi").obj()
        for zone in ("a", "b")
        for i in range(2)
    ]


def test_topology_scoring_keeps_a_deployments_preferred_zone() -> None:
    """Four replicas of one ReplicaSet, each preferring zone a (weight 100), two zones of two
    empty nodes. kube-scheduler puts all four in zone a (NodeAffinity 2 × 100 beats the
    default spreading); here replicas 2 and 4 go to zone b — TopologyScoring's 6 × 100."""
    s = scheduler(*zoned_nodes())
    replicas = [
        make_pod(f"web-{i}").owner("ReplicaSet", "web-1").label("app", "web").req(cpu="1")
        .preferred_term(100, (ZONE, "In", ["a"])).obj()
        for i in range(4)
    ]  # fmt: skip
    placed = place(s, *replicas)
    assert {node.split("-")[0] for node in placed.values()} == {"a"}, placed


def test_topology_scoring_keeps_a_deployments_preferred_pod_affinity_zone() -> None:
    """Four replicas of one ReplicaSet prefer (weight 100) the zone of their cache pod (zone
    a). kube-scheduler keeps them in zone a; TopologyScoring sends every other one to b."""
    s = scheduler(*zoned_nodes())
    s.upsert_pod(make_pod("cache").label("app", "cache").node("a-0").req(cpu="1").obj())
    term = {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": ZONE}
    replicas = []
    for i in range(4):
        body = make_pod(f"web-{i}").owner("ReplicaSet", "web-1").req(cpu="1").dict()
        body["spec"]["affinity"] = {
            "podAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": term}
                ]
            }
        }
        replicas.append(pod_from_dict(body))
    placed = place(s, *replicas)
    assert {node.split("-")[0] for node in placed.values()} == {"a"}, placed


def test_topology_scoring_does_not_fight_the_pods_own_spread_constraint() -> None:
    """The pod spreads ``tier=web`` (two Deployments) over zones, ScheduleAnyway. Zone a has
    one web pod (of x), zone b two (of y); a new x replica belongs in zone a. TopologyScoring
    counts only x's replicas (a 1, b 0) and sends it to b: web becomes 1 : 3."""
    s = scheduler(*zoned_nodes())
    for name, owner, node in (("x0", "x-1", "a-0"), ("y0", "y-1", "b-0"), ("y1", "y-1", "b-1")):
        s.upsert_pod(
            make_pod(name).owner("ReplicaSet", owner).label("tier", "web").req(cpu="1")
            .node(node).obj()
        )  # fmt: skip
    new = spread(
        make_pod("x1").owner("ReplicaSet", "x-1").label("tier", "web").req(cpu="1"),
        ZONE,
        {"tier": "web"},
    )
    assert place(s, new)["x1"].startswith("a-")


def test_cpu_pods_keep_their_own_zone_spread_when_a_zone_has_only_gpu_nodes() -> None:
    """Four bare CPU pods spread over zones (ScheduleAnyway); zone a has a CPU node, zone b a
    GPU node with room. kube-scheduler puts two in each zone; ResourceFragmentationScore's
    "CPU pods off GPU nodes" (5 × 100) puts all four in zone a."""
    s = scheduler(
        make_node("a-cpu").label(ZONE, "a").alloc(cpu="16", memory="64Gi").obj(),
        make_node("b-gpu").label(ZONE, "b").alloc(cpu="16", memory="64Gi").extended(GPU, "8")
        .obj(),
    )  # fmt: skip
    pods = [
        spread(make_pod(f"p{i}").label("app", "x").req(cpu="1"), ZONE, {"app": "x"})
        for i in range(4)
    ]
    placed = place(s, *pods)
    assert sorted(placed.values()) == ["a-cpu", "a-cpu", "b-gpu", "b-gpu"], placed


def test_a_cpu_pod_keeps_its_preferred_node_affinity_to_a_gpu_node() -> None:
    """A CPU pod prefers (weight 100) nodes labelled disk=ssd, which here is the GPU node.
    With ResourceFragmentationScore disabled it goes there; enabled (5 × 100 for the CPU
    node) it goes to the CPU node."""
    s = scheduler(
        make_node("cpu").alloc(cpu="16", memory="64Gi").obj(),
        make_node("gpu").alloc(cpu="16", memory="64Gi").extended(GPU, "8").label("disk", "ssd")
        .obj(),
    )  # fmt: skip
    pod = make_pod("c").req(cpu="1").preferred_term(100, ("disk", "In", ["ssd"])).obj()
    assert place(s, pod) == {"c": "gpu"}


def gpu_nodes() -> list[Any]:
    return [gfd_node("h100", H100, 81559), gfd_node("l4", "NVIDIA-L4", 23034)]


def test_tenant_tier_does_not_override_a_preferred_gpu_model() -> None:
    """A 1-GPU pod prefers (weight 100) H100 nodes; its namespace has no tenant label, so it
    is bronze by default. TenantHardwareAffinityScore (34 × 80 for the L4) sends it to the L4;
    without that plugin it lands on the H100 it asked for."""
    s = scheduler(*gpu_nodes())
    pod = (
        make_pod("llm").req(cpu="4", memory="32Gi").extended(GPU, "1")
        .preferred_term(100, ("nvidia.com/gpu.product", "In", [H100])).obj()
    )  # fmt: skip
    assert place(s, pod) == {"llm": "h100"}


def test_tenant_tier_does_not_override_a_preferred_pod_affinity() -> None:
    """A 1-GPU pod prefers (weight 100) the node of its cache pod, on the H100 node. The
    default bronze tier sends it to the L4."""
    s = scheduler(*gpu_nodes())
    s.upsert_pod(make_pod("cache").label("app", "cache").node("h100").req(cpu="1").obj())
    body = make_pod("srv").req(cpu="4").extended(GPU, "1").dict()
    term = {
        "labelSelector": {"matchLabels": {"app": "cache"}},
        "topologyKey": "kubernetes.io/hostname",
    }
    body["spec"]["affinity"] = {
        "podAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": term}
            ]
        }
    }
    assert place(s, pod_from_dict(body)) == {"srv": "h100"}


def test_a_cluster_without_tenant_labels_does_not_steer_gpu_work_to_economy_cards() -> None:
    """No namespace carries a tenant label (a cluster that does not use tenants): every GPU
    pod is bronze by default and TenantHardwareAffinityScore scores H100 20, L4 100, so even
    an 8-GPU training pod goes to the L4 node over an idle H100 of the same size. A tier no
    one declared should not rank the hardware."""
    s = scheduler(*gpu_nodes())
    pod = (
        make_pod("train").label("workload.kubenexus.io/type", "training").req(cpu="4")
        .extended(GPU, "8").obj()
    )  # fmt: skip
    assert s.profile_of(pod).tier == "bronze"  # the documented default
    assert place(s, pod) == {"train": "h100"}
