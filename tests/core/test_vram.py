"""VRAMScheduler through the whole scheduler: GPU pods land on cards with the memory they ask
for, the smallest that fit first; every GPU data source gives the same decisions."""

from __future__ import annotations

from typing import Any

import pytest

from kubenexus.api import keys
from kubenexus.api.objects import NodeInfo
from kubenexus.framework import CycleState
from kubenexus.plugins.vram_scheduler import VRAMScheduler
from kubenexus.scheduler import Scheduler
from tests.builders import PodBuilder, make_node, make_pod
from tests.core.helpers import place, scheduler, table
from tests.core.test_gpu_model import nvidia_gpu, resource_slice

GI = 2**30


def card(name: str, model: str, vram: str, count: int = 1, cpu: str = "32") -> NodeInfo:
    """A node labelled by hand (gpu.kubenexus.io/model, vram, count) with device-plugin GPUs."""
    return (
        make_node(name)
        .alloc(cpu=cpu, memory="256Gi")
        .extended(keys.GPU_NVIDIA, str(count))
        .label(keys.GPU_MODEL_LABEL, model)
        .label(keys.GPU_VRAM_LABEL, vram)
        .label(keys.GPU_COUNT_LABEL, str(count))
        .obj()
    )


def gpu_pod(name: str, vram: str = "", gpus: int = 1, products: str = "") -> PodBuilder:
    builder = make_pod(name).req(cpu="1").extended(keys.GPU_NVIDIA, str(gpus))
    if vram:
        builder.annotate(keys.VRAM_REQUEST, vram)
    if products:
        builder.annotate(keys.GPU_PRODUCTS, products)
    return builder


def scores(node: NodeInfo, vram: str, gpus: int = 1) -> float:
    plugin = VRAMScheduler()
    nodes = table(node)
    pod = gpu_pod("p", vram, gpus).obj()
    state = CycleState()
    plugin.pre_filter(state, pod, nodes)
    mask = plugin.filter(state, pod, nodes)
    assert mask is not None
    if not mask[0]:
        return 0.0
    result = plugin.score(state, pod, nodes, nodes.all_slots())
    assert result is not None
    return float(result[0])


@pytest.mark.parametrize(
    ("vram", "expected"),
    [
        ("76Gi", {"h100": 100, "l40s": 0, "a100": 0}),
        ("40Gi", {"h100": 60, "l40s": 80, "a100": 100}),
        ("10Gi", {"h100": 0, "l40s": 10, "a100": 10}),
    ],
)
def test_the_originals_worked_examples(vram: str, expected: dict[str, int]) -> None:
    nodes = {
        "h100": card("h100", "H100-80GB", "80Gi"),
        "l40s": card("l40s", "L40S", "48Gi"),
        "a100": card("a100", "A100-40GB", "40Gi"),
    }
    assert {name: scores(node, vram) for name, node in nodes.items()} == expected


def mixed_fleet() -> Scheduler:
    return scheduler(
        card("t4-a", "T4", "16Gi"),
        card("t4-b", "T4", "16Gi"),
        card("a100-40", "A100-40GB", "40Gi", count=2),
        card("a100-80", "A100-80GB", "80Gi", count=2),
        card("h100", "H100-80GB", "80Gi", count=2),
    )


def test_a_12gib_model_lands_on_a_t4_while_t4s_are_free() -> None:
    s = mixed_fleet()
    result = place(s, *[gpu_pod(f"small-{i}", "12Gi").obj() for i in range(3)])
    assert result["small-0"].startswith("t4-")
    assert result["small-1"].startswith("t4-")
    assert result["small-2"] == "a100-40"  # the T4s are taken: the next smallest card


def test_a_70gib_model_only_runs_on_80gib_cards() -> None:
    s = mixed_fleet()
    result = place(s, *[gpu_pod(f"big-{i}", "70Gi").obj() for i in range(5)])
    assert sorted(result[f"big-{i}"] for i in range(4)) == ["a100-80", "a100-80", "h100", "h100"]
    assert "Insufficient GPUs with 70Gi of GPU memory each (1 needed)" in result["big-4"]


def test_the_free_gpu_count_is_checked_not_only_the_memory() -> None:
    s = scheduler(card("one", "A100-80GB", "80Gi", count=1), card("t4", "T4", "16Gi"))
    assert place(s, gpu_pod("first", "60Gi").obj()) == {"first": "one"}
    result = place(s, gpu_pod("second", "60Gi").obj())
    assert "Insufficient" in result["second"]


def test_accepted_products_narrow_the_cards() -> None:
    s = mixed_fleet()
    assert place(s, gpu_pod("pick", products="H100").obj()) == {"pick": "h100"}
    result = place(s, gpu_pod("none", products="MI300").obj())
    assert "Insufficient GPUs with one of MI300 (1 needed)" in result["none"]


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({keys.VRAM_REQUEST: "lots"}, f"{keys.VRAM_REQUEST}: invalid quantity"),
        ({keys.VRAM_REQUEST: "-4Gi"}, f"{keys.VRAM_REQUEST}: must not be negative (got '-4Gi')"),
        ({keys.GPU_PRODUCTS: " , "}, f"{keys.GPU_PRODUCTS}: names no product (got ' , ')"),
    ],
)
def test_malformed_demand_keeps_the_pod_pending_naming_the_key(
    annotations: dict[str, str], message: str
) -> None:
    s = mixed_fleet()
    builder = make_pod("bad").req(cpu="1").extended(keys.GPU_NVIDIA, "1")
    for key, value in annotations.items():
        builder.annotate(key, value)
    result = place(s, builder.obj())
    assert message in result["bad"], result


def test_vram_without_a_gpu_request_says_so() -> None:
    s = mixed_fleet()
    result = place(s, make_pod("nogpu").req(cpu="1").annotate(keys.VRAM_REQUEST, "8Gi").obj())
    assert f"requests no {keys.GPU_NVIDIA}" in result["nogpu"]


def test_a_node_without_gpu_data_is_not_a_vram_candidate() -> None:
    s = scheduler(make_node("plain").alloc(cpu="8").extended(keys.GPU_NVIDIA, "4").obj())
    result = place(s, gpu_pod("p", "8Gi").obj())
    assert "1 node(s) had no GPU information" in result["p"]
    # Without a VRAM request, the GPU count alone is enough (device-plugin scheduling).
    assert place(s, gpu_pod("q").obj()) == {"q": "plain"}


GFD = {keys.GFD_PRODUCT: "NVIDIA-A100-SXM4-80GB", keys.GFD_MEMORY: "81920", keys.GFD_COUNT: "4"}


def sourced(name: str, source: str) -> tuple[NodeInfo, list[dict[str, Any]]]:
    builder = make_node(name).alloc(cpu="32", memory="256Gi").extended(keys.GPU_NVIDIA, "4")
    slices: list[dict[str, Any]] = []
    if source == "gfd":
        for key, value in GFD.items():
            builder.label(key, value)
    elif source == "nfd":
        builder.label("feature.node.kubernetes.io/pci-10de.device.20b2.count", "4")
    elif source == "labels":
        builder.label(keys.GPU_MODEL_LABEL, "A100-80GB").label(keys.GPU_COUNT_LABEL, "4")
    else:
        devices = [nvidia_gpu(i, "NVIDIA A100-SXM4-80GB", "80Gi") for i in range(4)]
        slices = [resource_slice(f"{name}-gpus", devices, node=name)]
    return builder.obj(), slices


@pytest.mark.parametrize("source", ["dra", "gfd", "nfd", "labels"])
def test_every_source_gives_the_same_decisions(source: str) -> None:
    node, slices = sourced("gpu", source)
    s = scheduler(node, card("t4", "T4", "16Gi"))
    assert s.set_node_slices("gpu", slices) == ""
    result = place(
        s,
        gpu_pod("large", "70Gi").obj(),
        gpu_pod("small", "12Gi").obj(),
        gpu_pod("two", "60Gi", gpus=2).obj(),
        gpu_pod("too-many", "60Gi", gpus=2).obj(),
    )
    assert result["large"] == "gpu"
    assert result["small"] == "t4"
    assert result["two"] == "gpu"
    assert "Insufficient" in result["too-many"]


def test_a_mixed_node_is_read_per_device_and_used_gpus_are_assumed_the_large_ones() -> None:
    devices = [nvidia_gpu(i, "NVIDIA A100-SXM4-40GB", "40Gi") for i in range(4)] + [
        nvidia_gpu(i, "NVIDIA A100-SXM4-80GB", "80Gi") for i in range(4, 8)
    ]
    node = make_node("mixed").alloc(cpu="64", memory="512Gi").extended(keys.GPU_NVIDIA, "8").obj()
    s = scheduler(node)
    s.set_node_slices("mixed", [resource_slice("mixed-gpus", devices, node="mixed")])
    result = place(s, *[gpu_pod(f"big-{i}", "70Gi").obj() for i in range(5)])
    # Four 80 GiB cards; the kubelet picks devices, so four GPUs in use may be those four.
    assert [result[f"big-{i}"] for i in range(4)] == ["mixed"] * 4
    assert "Insufficient GPUs with 70Gi" in result["big-4"]
    assert place(s, gpu_pod("small", "30Gi").obj()) == {"small": "mixed"}


def test_a_slice_that_cannot_be_read_leaves_the_node_without_gpu_data() -> None:
    node = make_node("n").alloc(cpu="8").extended(keys.GPU_NVIDIA, "1").obj()
    s = scheduler(node)
    bad = resource_slice(
        "n-gpus", [{"name": "gpu-0", "attributes": {"model": {"bool": True}}}], node="n"
    )
    problem = s.set_node_slices("n", [bad])
    assert "ResourceSlice n-gpus" in problem
    assert "no GPU information" in place(s, gpu_pod("p", "1Gi").obj())["p"]
    assert s.set_node_slices("n", []) == ""


def test_several_gpus_prefer_a_node_where_they_share_nvlink() -> None:
    def node(name: str, nvlink: bool) -> tuple[NodeInfo, dict[str, Any]]:
        devices = []
        for i in range(4):
            device = nvidia_gpu(i, "NVIDIA H100 80GB HBM3", "80Gi")
            if nvlink:
                device["attributes"]["nvlink-domain"] = {"string": "0"}
            devices.append(device)
        info = make_node(name).alloc(cpu="64", memory="512Gi").extended(keys.GPU_NVIDIA, "4").obj()
        return info, resource_slice(f"{name}-gpus", devices, node=name)

    (a, a_slice), (b, b_slice) = node("pcie", False), node("nvlink", True)
    s = scheduler(a, b)
    s.set_node_slices("pcie", [a_slice])
    s.set_node_slices("nvlink", [b_slice])
    # 40 of 80 GiB: 60 points on either; NUMA +15 on both; NVLink +25 only where it is shared.
    assert place(s, gpu_pod("train", "40Gi", gpus=4).obj()) == {"train": "nvlink"}


def test_a_pod_waiting_for_gpu_data_is_retried_when_the_slices_come() -> None:
    now = [1000.0]
    node = make_node("late").alloc(cpu="8").extended(keys.GPU_NVIDIA, "1").obj()
    s = scheduler(node, clock=now)
    assert "no GPU information" in place(s, gpu_pod("p", "8Gi").obj())["p"]
    devices = [nvidia_gpu(0, "NVIDIA L4", "24Gi")]
    s.set_node_slices("late", [resource_slice("late-gpus", devices, node="late")])
    assert s.queue.where("uid-p") in {"active", "backoff"}
    now[0] += 30
    assert place(s) == {"p": "late"}


def test_card_fit_outweighs_island_preservation_between_kinds_of_card() -> None:
    """A 12 GiB model: a free 4×T4 node (a pristine island) or a half-used 8×A100-80GB node
    (completing it is what ResourceFragmentationScore likes best): the T4 fits the model, the
    A100 would waste 68 GiB. Between cards alike, the islands decide."""
    s = scheduler(card("t4x4", "T4", "16Gi", count=4), card("a100x8", "A100-80GB", "80Gi", count=8))
    running = gpu_pod("running", gpus=4).node("a100x8").phase("Running").obj()
    s.upsert_pod(running)
    assert place(s, gpu_pod("small", "12Gi").obj()) == {"small": "t4x4"}
    # Two A100 nodes, one half used: a 70 GiB model completes the used one.
    s = scheduler(
        card("used", "A100-80GB", "80Gi", count=8), card("whole", "A100-80GB", "80Gi", count=8)
    )
    s.upsert_pod(gpu_pod("running", gpus=4).node("used").phase("Running").obj())
    assert place(s, gpu_pod("big", "70Gi").obj()) == {"big": "used"}


def test_the_tier_thresholds_follow_the_pods_tier() -> None:
    """40 of 48 GiB (0.83): bronze 80, silver 80, gold 60 (gold wants fuller cards)."""
    plugin = VRAMScheduler()
    nodes = table(card("l40s", "L40S", "48Gi"))
    results = {}
    for tier, builder in (
        ("bronze", gpu_pod("b", "40Gi")),
        ("silver", gpu_pod("s", "40Gi").annotate("tenant.kubenexus.io/tier", "silver")),
        ("gold", gpu_pod("g", "40Gi").priority_class("high-priority")),
    ):
        state = CycleState()
        pod = builder.obj()
        plugin.pre_filter(state, pod, nodes)
        score = plugin.score(state, pod, nodes, nodes.all_slots())
        assert score is not None
        results[tier] = float(score[0])
    assert results == {"bronze": 80.0, "silver": 80.0, "gold": 60.0}


@pytest.mark.parametrize("source", ["dra", "gfd", "nfd", "labels"])
def test_a_request_of_the_marketed_size_fits_whatever_the_source(source: str) -> None:
    """An A100 80GB reports a little under 80Gi (GPU Feature Discovery, DRA); the model table
    says 80Gi. A pod asking 80Gi fits it whichever source describes the node."""
    node, slices = sourced("gpu", source)
    if source == "dra":
        devices = [nvidia_gpu(i, "NVIDIA A100-SXM4-80GB", "81559Mi") for i in range(4)]
        slices = [resource_slice("gpu-gpus", devices, node="gpu")]
    s = scheduler(node)
    s.set_node_slices("gpu", slices)
    assert place(s, gpu_pod("exact", "80Gi").obj()) == {"exact": "gpu"}
    assert "Insufficient GPUs with 81Gi" in place(s, gpu_pod("more", "81Gi").obj())["more"]


def test_absurd_gpu_memory_costs_the_node_its_gpu_data_only() -> None:
    node = (
        make_node("huge")
        .alloc(cpu="8")
        .extended(keys.GPU_NVIDIA, "1")
        .label(keys.GFD_PRODUCT, "Tesla-T4")
        .label(keys.GFD_COUNT, "1")
        .label(keys.GFD_MEMORY, "99999999999999999999")
        .taint("dedicated", "gpu")
        .obj()
    )
    assert f"{keys.GFD_MEMORY}: is more than any GPU has" in node.gpu_problem
    s = scheduler(node)
    # Its taint still holds (the node's other facts are all in place).
    assert "untolerated taint" in place(s, make_pod("cpu").req(cpu="1").obj())["cpu"]


def test_a_node_with_a_thousand_gpus_costs_one_row() -> None:
    devices = [nvidia_gpu(i, "NVIDIA H100 80GB HBM3", "80Gi") for i in range(1000)]
    node = make_node("big").alloc(cpu="8").extended(keys.GPU_NVIDIA, "1000").obj()
    s = scheduler(node)
    s.set_node_slices("big", [resource_slice("big-gpus", devices, node="big")])
    assert s.cache.nodes.gpus.rows == 1
    assert s.cache.nodes.gpus.count[s.cache.nodes.slot_of("big")] == 1000
    assert place(s, gpu_pod("p", "70Gi", gpus=8).obj()) == {"p": "big"}


def test_an_empty_list_attribute_is_bad_data_not_a_crash() -> None:
    node = make_node("n").alloc(cpu="8").extended(keys.GPU_NVIDIA, "1").obj()
    s = scheduler(node)
    bad = resource_slice("n-gpus", [{"name": "gpu-0", "attributes": {"productName": []}}], node="n")
    problem = s.set_node_slices("n", [bad])
    assert "ResourceSlice n-gpus.spec.devices[0].attributes[productName]" in problem


def test_what_a_demand_finds_is_remembered_only_while_the_gpus_are_unchanged() -> None:
    """The plugin remembers per demand what every node's cards offer; a node's GPUs changing,
    a node added or removed, or another node table is seen by the next pod asking the same."""
    plugin = VRAMScheduler()
    nodes = table(card("small", "T4", "16Gi"))
    pod = gpu_pod("p", "70Gi").obj()

    def fits() -> list[str]:
        state = CycleState()
        plugin.pre_filter(state, pod, nodes)
        mask = plugin.filter(state, pod, nodes)
        assert mask is not None
        return [nodes.names[s] for s in range(nodes.size) if mask[s]]

    assert fits() == []
    nodes.upsert(card("small", "A100-80GB", "80Gi"))  # relabelled: new cards
    assert fits() == ["small"]
    nodes.upsert(card("big", "H100-80GB", "80Gi"))
    assert fits() == ["small", "big"]
    nodes.remove("small")
    assert fits() == ["big"]
    nodes = table(card("other", "L4", "24Gi"))  # same size, another table
    assert fits() == []
