"""NetworkFabricScore: fabric scores, a gang's locality, GPU cliques kept whole, the minimum
fabric tier, and the annotations it refuses."""

from __future__ import annotations

import pytest

from kubenexus.api import keys
from kubenexus.api.objects import NodeInfo
from kubenexus.framework import CycleState
from kubenexus.plugins.network_fabric import NetworkFabricScore
from tests.builders import PodBuilder, make_node, make_pod, not_helpful
from tests.core.helpers import place, scheduler
from tests.core.test_gpu_model import nvidia_gpu, resource_slice

GPU = keys.GPU_NVIDIA


def fabric_node(  # noqa: PLR0917 - one positional per label keeps the tables readable
    name: str,
    fabric: str | None = None,
    clique: str | None = None,
    fabric_id: str | None = None,
    rack: str | None = None,
    az: str | None = None,
    gpus: int = 8,
) -> NodeInfo:
    node = make_node(name).alloc(cpu="64", memory="512Gi").extended(GPU, str(gpus))
    for key, value in (
        (keys.FABRIC_TYPE_LABEL, fabric),
        (keys.GPU_CLIQUE_LABEL, clique),
        (keys.FABRIC_ID_LABEL, fabric_id),
        (keys.RACK_LABEL, rack),
        (keys.AZ_LABEL, az),
    ):
        if value is not None:
            node.label(key, value)
    return node.obj()


def gang_pod(name: str, gang: str = "ddp", size: int = 4, gpus: int = 2) -> PodBuilder:
    return (
        make_pod(name).label(keys.GANG_NAME_LABELS[0], gang)
        .label(keys.GANG_MIN_AVAILABLE_KEYS[0], str(size))
        .req(cpu="4", memory="16Gi").extended(GPU, str(gpus))
    )  # fmt: skip


def test_reference_locality_example() -> None:
    """§9: one member on clique-0 / IB / fabric-01 / rack-A / us-east-1a; a new batch gang pod
    scores 100, 100, 40, 0, 0 on the five candidates."""
    s = scheduler(
        fabric_node("member", "infiniband", "clique-0", "fabric-01", "rack-A", "us-east-1a"),
        fabric_node("same-clique", "infiniband", "clique-0", "fabric-01", "rack-A", "us-east-1a"),
        fabric_node("other-clique", "IB", "clique-1", "fabric-01", "rack-A", "us-east-1a"),
        fabric_node("roce-rack-a", "roce", None, "fabric-02", "rack-A", "us-east-1a"),
        fabric_node("roce-rack-b", "RoCE", None, "fabric-02", "rack-B", "us-east-1a"),
        fabric_node("eth-other-az", "ethernet", None, "fabric-03", "rack-C", "us-east-1b"),
    )
    s.upsert_pod(gang_pod("m0", size=2).node("member").phase("Running").obj())
    pod = gang_pod("m1", size=2).owner("Job", "j").obj()
    nodes = s.cache.nodes
    plugin = NetworkFabricScore()
    state = CycleState()
    plugin.pre_filter(state, pod, nodes)
    scores = plugin.score(state, pod, nodes, nodes.all_slots())
    assert scores is not None
    assert dict(zip(nodes.names, scores.tolist(), strict=True)) == {
        "member": 100.0,
        "same-clique": 100.0,
        "other-clique": 100.0,
        "roce-rack-a": 40.0,
        "roce-rack-b": 0.0,
        "eth-other-az": 0.0,
    }


@pytest.mark.parametrize(
    ("fabric", "training", "inference", "sensitive_training"),
    [
        ("nvswitch", 100, 95, 100),
        ("nvlink", 90, 90, 100),
        ("infiniband", 90, 70, 100),
        ("roce", 40, 70, 60),
        ("ethernet", 20, 50, 30),
        ("token-ring", 50, 50, 75),
    ],
)
def test_fabric_base_and_workload_adjustment(
    fabric: str, training: int, inference: int, sensitive_training: int
) -> None:
    s = scheduler(fabric_node("n", fabric))
    nodes = s.cache.nodes
    plugin = NetworkFabricScore()

    def score(builder: PodBuilder) -> int:
        pod = builder.extended(GPU, "1").obj()
        state = CycleState()
        plugin.pre_filter(state, pod, nodes)
        result = plugin.score(state, pod, nodes, nodes.all_slots())
        assert result is not None
        return int(result[0])

    assert score(make_pod("t").owner("Job", "t")) == training
    assert score(make_pod("i").label(keys.WORKLOAD_TYPE, "inference")) == inference
    sensitive = make_pod("s").owner("Job", "s").annotate(keys.NETWORK_SENSITIVE, "true")
    assert score(sensitive) == sensitive_training


def test_plain_pods_get_no_fabric_score() -> None:
    s = scheduler(fabric_node("a", "nvswitch"), fabric_node("b", "ethernet"))
    nodes = s.cache.nodes
    plugin = NetworkFabricScore()
    pod = make_pod("web").req(cpu="1").obj()
    state = CycleState()
    assert plugin.pre_filter(state, pod, nodes).code.name == "SKIP"
    assert plugin.score(state, pod, nodes, nodes.all_slots()) is None


def test_a_require_clique_gang_lands_in_one_clique_with_room_for_it() -> None:
    """Clique A has room for one 8-GPU member, clique B for four; nodes without a clique are
    never chosen. The first member goes where the whole gang fits."""
    s = scheduler(
        fabric_node("a0", "nvswitch", "A"),
        fabric_node("a1", "nvswitch", "A", gpus=4),
        *[fabric_node(f"b{i}", "nvswitch", "B") for i in range(4)],
        *[fabric_node(f"x{i}", "nvswitch") for i in range(4)],
    )
    gang = [gang_pod(f"w{i}", gpus=8).annotate(keys.REQUIRE_CLIQUE, "true").obj() for i in range(4)]
    placed = place(s, *gang)
    assert sorted(placed.values()) == ["b0", "b1", "b2", "b3"]


def test_strict_co_location_keeps_later_members_in_the_first_members_clique() -> None:
    s = scheduler(
        *[fabric_node(f"a{i}", "infiniband", "A") for i in range(2)],
        *[fabric_node(f"b{i}", "infiniband", "B") for i in range(2)],
    )
    s.upsert_pod(
        gang_pod("w0", size=3).annotate(keys.CO_LOCATE, "strict").node("b1").phase("Running").obj()
    )
    members = [gang_pod(f"w{i}", size=3).annotate(keys.CO_LOCATE, "strict").obj() for i in (1, 2)]
    placed = place(s, *members)
    assert set(placed.values()) <= {"b0", "b1"}


def test_a_full_clique_keeps_the_gang_waiting_with_the_reason() -> None:
    s = scheduler(fabric_node("a0", "nvswitch", "A", gpus=2), fabric_node("x", "nvswitch"))
    gang = [gang_pod(f"w{i}", size=2, gpus=2).annotate(keys.REQUIRE_CLIQUE, "true").obj()
            for i in range(2)]  # fmt: skip
    placed = place(s, *gang)
    message = placed["w0"]
    assert "only 0 of minMember 2 members fit" in message
    assert "1 node(s) had no GPU clique" in message
    assert "1 node(s) were in a GPU clique without room for the pod's gang" in message


def test_an_empty_clique_label_is_no_clique() -> None:
    """``nvidia.com/gpu.clique: ""`` names no clique (the GPU model reads it so too): two
    unrelated nodes carrying it are not one NVLink clique for a require-clique gang."""
    s = scheduler(fabric_node("a", "nvswitch", ""), fabric_node("b", "nvswitch", ""))
    gang = [gang_pod(f"w{i}", size=2, gpus=8).annotate(keys.REQUIRE_CLIQUE, "true").obj()
            for i in range(2)]  # fmt: skip
    placed = place(s, *gang)
    assert "2 node(s) had no GPU clique" in placed["w0"]


def test_min_fabric_tier_is_a_requirement() -> None:
    s = scheduler(
        fabric_node("eth", "ethernet"), fabric_node("ib", "infiniband"), fabric_node("none")
    )
    pod = make_pod("p").req(cpu="1").annotate(keys.MIN_FABRIC_TIER, "InfiniBand").obj()
    assert place(s, pod)["p"] == "ib"
    s2 = scheduler(fabric_node("eth", "ethernet"), fabric_node("none"))
    pod = make_pod("q").req(cpu="1").annotate(keys.MIN_FABRIC_TIER, "roce").obj()
    assert place(s2, pod)["q"] == (
        "0/2 nodes are available: 2 node(s) had a network fabric below min-fabric-tier roce."
        + not_helpful(2)
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            keys.MIN_FABRIC_TIER,
            "fast",
            "annotation scheduling.kubenexus.io/min-fabric-tier='fast': expected nvswitch, "
            "nvlink, infiniband, roce or ethernet",
        ),
        (
            keys.CO_LOCATE,
            "always",
            "annotation scheduling.kubenexus.io/co-locate='always': expected strict, preferred "
            "or none",
        ),
        (
            keys.REQUIRE_CLIQUE,
            "yes",
            "annotation scheduling.kubenexus.io/require-clique='yes': expected true or false",
        ),
        (
            keys.NETWORK_SENSITIVE,
            "1",
            "annotation scheduling.kubenexus.io/network-sensitive='1': expected true or false",
        ),
    ],
)
def test_unreadable_annotations_keep_the_pod_waiting_and_say_why(
    key: str, value: str, expected: str
) -> None:
    s = scheduler(fabric_node("n", "nvswitch"))
    pod = make_pod("p").req(cpu="1").annotate(key, value).obj()
    assert place(s, pod)["p"] == f"0/1 nodes are available: {expected}."
    assert place(s, make_pod("ok").req(cpu="1").obj())["ok"] == "n"  # the rest goes on


def test_the_clique_of_unlabelled_nodes_comes_from_their_gpus() -> None:
    """No clique label: the NVLink domain the GPU model read (ResourceSlices, GFD)."""
    s = scheduler(
        make_node("a").alloc(cpu="64", memory="512Gi").extended(GPU, "8").obj(),
        make_node("b").alloc(cpu="64", memory="512Gi").extended(GPU, "8").obj(),
    )
    for node, domain in (("a", "dom-1"), ("b", "dom-2")):
        devices = [nvidia_gpu(i) for i in range(8)]
        for device in devices:
            device["attributes"]["nvlink-domain"] = {"string": domain}
        s.set_node_slices(node, [resource_slice(f"{node}-gpus", devices, node=node)])
    fabric = NetworkFabricScore().fabric(s.cache.nodes)
    assert fabric.clique[0] != fabric.clique[1]
    assert (fabric.clique >= 0).all()
