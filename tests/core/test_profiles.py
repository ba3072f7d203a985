"""Workload profiles: the ProfileClassifier's WHO/WHAT rules on real-looking pods, the profile
computed once and recomputed when its namespace changes, and the plugins that read it
(TenantHardwareAffinityScore, WorkloadAwareScoring, TopologyScoring, BackfillScoring)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kubenexus.api import keys
from kubenexus.api.objects import NodeInfo, PodInfo
from kubenexus.api.profile import WorkloadProfile, classify
from kubenexus.api.workloads import selector_from_labels
from kubenexus.config import build_scheduler, parse_config
from kubenexus.errors import ConfigError
from kubenexus.framework import CycleState
from kubenexus.plugins.backfill import BackfillScoring
from kubenexus.plugins.tenant_hardware import TenantHardwareAffinityScore
from kubenexus.plugins.topology_scoring import TopologyScoring
from kubenexus.plugins.workload_aware import WorkloadAwareScoring, WorkloadAwareScoringArgs
from kubenexus.scheduler import Scheduler
from tests.builders import PodBuilder, make_node, make_pod
from tests.core.helpers import place, scheduler, table

GPU = keys.GPU_NVIDIA


def what(builder: PodBuilder) -> str:
    return classify(builder.obj(), {}).workload


# --------------------------------------------------------------------------- WHAT


@pytest.mark.parametrize(
    ("pod", "workload"),
    [
        # Spark (the operator's labels): driver and executors are batch.
        (
            make_pod("spark-pi-driver")
            .label("spark-role", "driver")
            .label("spark-app-selector", "spark-123")
            .image("apache/spark:3.5.1"),
            "batch",
        ),
        (
            make_pod("exec-1").label("spark-role", "executor").label("spark-app-selector", "a"),
            "batch",
        ),
        # Kubeflow training operator: PyTorchJob, TFJob, MPIJob, XGBoostJob pods.
        (
            make_pod("bert-master-0")
            .label("training.kubeflow.org/job-name", "bert")
            .label("training.kubeflow.org/replica-type", "master")
            .label("training.kubeflow.org/operator-name", "pytorchjob-controller")
            .owner("PyTorchJob", "bert"),
            "training",
        ),
        (
            make_pod("mnist-worker-1")
            .label("training.kubeflow.org/job-name", "mnist")
            .label("training.kubeflow.org/replica-type", "worker")
            .owner("TFJob", "mnist"),
            "training",
        ),
        (
            make_pod("hvd-launcher")
            .label("training.kubeflow.org/job-name", "hvd")
            .label("training.kubeflow.org/job-role", "launcher")
            .owner("MPIJob", "hvd"),
            "training",
        ),
        (make_pod("old-tf").label("tf-replica-type", "worker"), "training"),
        # Ray: a RayJob's cluster computes; a RayService serves.
        (
            make_pod("raycluster-head")
            .label("ray.io/node-type", "head")
            .label("ray.io/cluster", "rc")
            .label("ray.io/originated-from-crd", "RayJob"),
            "batch",
        ),
        (
            make_pod("rayservice-worker")
            .label("ray.io/node-type", "worker")
            .label("ray.io/originated-from-crd", "RayService"),
            "inference",
        ),
        (make_pod("ray-gpus").label("ray.io/node-type", "worker").extended(GPU, "2"), "training"),
        # KServe predictor (a Deployment's pod), Seldon.
        (
            make_pod("llama-predictor-00001-deployment-abc")
            .label("serving.kserve.io/inferenceservice", "llama")
            .label("component", "predictor")
            .owner("ReplicaSet", "llama-predictor-00001-deployment"),
            "inference",
        ),
        (make_pod("p").label("app.kubernetes.io/component", "predictor"), "inference"),
        (make_pod("p").label("seldon-deployment-id", "iris"), "inference"),
        # JupyterHub (z2jh) single-user server, a Kubeflow notebook, IDE images.
        (
            make_pod("jupyter-alice")
            .label("component", "singleuser-server")
            .label("hub.jupyter.org/username", "alice")
            .image("quay.io/jupyter/scipy-notebook"),
            "interactive",
        ),
        (make_pod("nb-0").label("notebook-name", "nb").owner("StatefulSet", "nb"), "interactive"),
        (make_pod("p").image("codercom/code-server:4.9"), "interactive"),
        (make_pod("p").label(keys.APP_NAME_LABEL, "team-notebook"), "interactive"),
        # Whole words: "gitlab" is not a lab; a registry host is not the image.
        (make_pod("p").label(keys.APP_NAME_LABEL, "gitlab"), "service"),
        (make_pod("p").image("registry.jupyter.example/web:1"), "service"),
        # Jobs, gangs, GPUs, plain services.
        (make_pod("p").owner("Job", "j"), "batch"),
        (make_pod("p").owner("CronJob", "j"), "batch"),
        (make_pod("p").owner("Job", "j").extended(GPU, "2"), "training"),
        (make_pod("p").label(keys.GANG_NAME_LABELS[0], "g"), "training"),
        (make_pod("web").owner("ReplicaSet", "web-7d9"), "service"),
        (make_pod("db-0").owner("StatefulSet", "db"), "service"),
        # Explicit types win; an unknown one is named.
        (make_pod("p").label(keys.WORKLOAD_TYPE, "Inference").owner("Job", "j"), "inference"),
        (make_pod("p").annotate(keys.WORKLOAD_TYPE, "batch"), "batch"),
        (make_pod("p").label(keys.WORKLOAD_TYPE, "weird"), "unknown"),
    ],
)
def test_workload_type(pod: PodBuilder, workload: str) -> None:
    assert what(pod) == workload


def test_an_unknown_type_is_named_in_the_problems() -> None:
    profile = classify(make_pod("p").label(keys.WORKLOAD_TYPE, "weird").obj(), {})
    assert profile.problems == (
        "label workload.kubenexus.io/type='weird' is not training, inference, batch, service, "
        "interactive; ignored",
    )


# --------------------------------------------------------------------------- WHO


@pytest.mark.parametrize(
    ("pod", "namespace", "expected"),
    [
        # Namespace labels: the tier, the tenant name (else the namespace's name).
        (make_pod("p").namespace("ml"), {keys.TENANT_TIER: "Gold"}, ("gold", "ml", "namespace")),
        (
            make_pod("p").namespace("ml"),
            {keys.TENANT_TIER: "silver", keys.TENANT_NAME: "vision"},
            ("silver", "vision", "namespace"),
        ),
        # Kueue: the namespace's tier with the queue as name; else the tier read from the name.
        (
            make_pod("p").namespace("ml").label(keys.KUEUE_QUEUE, "team-q"),
            {keys.TENANT_TIER: "gold"},
            ("gold", "team-q", "kueue"),
        ),
        (
            make_pod("p").label(keys.KUEUE_QUEUE, "q"),
            {keys.TENANT_NAME: "ml-Prod"},
            ("gold", "ml-Prod", "kueue"),
        ),
        (
            make_pod("p").label(keys.KUEUE_QUEUE, "q"),
            {keys.TENANT_NAME: "web-staging"},
            ("silver", "web-staging", "kueue"),
        ),
        (
            make_pod("p").label(keys.KUEUE_QUEUE, "q"),
            {keys.TENANT_NAME: "x"},
            ("bronze", "x", "kueue"),
        ),
        # No namespace answer: the priority class, then the pod annotation, then bronze.
        (make_pod("p").priority_class("high-priority"), {}, ("gold", "default", "priority-class")),
        (
            make_pod("p").priority_class("default-priority"),
            {},
            ("silver", "default", "priority-class"),
        ),
        (
            make_pod("p").priority_class("low-priority").annotate(keys.TENANT_TIER, "gold"),
            {},
            ("bronze", "default", "priority-class"),
        ),
        (
            make_pod("p").annotate(keys.TENANT_TIER, "silver"),
            {},
            ("silver", "default", "annotation"),
        ),
        (make_pod("p").label(keys.TENANT_TIER, "gold"), {}, ("bronze", "default", "default")),
        (make_pod("p"), {}, ("bronze", "default", "default")),
        # An invalid namespace tier falls through (and is named: next test).
        (
            make_pod("p").priority_class("medium-priority"),
            {keys.TENANT_TIER: "platinum"},
            ("silver", "default", "priority-class"),
        ),
    ],
)
def test_tenant_tier(pod: PodBuilder, namespace: dict[str, str], expected: tuple[str, ...]) -> None:
    profile = classify(pod.obj(), namespace)
    assert (profile.tier, profile.tenant, profile.tier_source) == expected


def test_unreadable_tiers_are_named() -> None:
    profile = classify(
        make_pod("p").annotate(keys.TENANT_TIER, "diamond").obj(), {keys.TENANT_TIER: "platinum"}
    )
    assert profile.tier == "bronze"
    assert profile.problems == (
        "namespace default label tenant.kubenexus.io/tier='platinum' is not gold, silver or "
        "bronze; ignored",
        "annotation tenant.kubenexus.io/tier='diamond' is not gold, silver or bronze; ignored",
    )


@pytest.mark.parametrize(
    ("pod", "preemptible"),
    [
        (make_pod("p"), False),  # priority 0 is an ordinary pod (the original said preemptible)
        (make_pod("p").priority(-10), True),
        (make_pod("p").priority_class("best-effort"), True),
        (make_pod("p").label(keys.BACKFILL_LABEL, "true"), True),
        (make_pod("p").label(keys.PREEMPTIBLE_LABEL, "true").priority(1000), True),
        (make_pod("p").label(keys.PREEMPTIBLE_LABEL, "false").priority(-10), False),
    ],
)
def test_preemptible(pod: PodBuilder, preemptible: bool) -> None:
    assert classify(pod.obj(), {}).preemptible is preemptible


def test_summary_reads_as_a_sentence() -> None:
    profile = classify(make_pod("p").namespace("ml").label(keys.GANG_NAME_LABELS[0], "g").obj(),
                       {keys.TENANT_TIER: "gold", keys.TENANT_NAME: "research"})  # fmt: skip
    assert profile.summary() == "gold tenant research (namespace), training, gang"


# --------------------------------------------------------------------------- computed once


def test_the_profile_is_computed_once_and_again_when_the_namespace_changes() -> None:
    s = scheduler(make_node("n").alloc(cpu="1").obj())
    s.set_namespace("ml", {keys.TENANT_TIER: "silver"})
    pod = make_pod("big").namespace("ml").req(cpu="4").obj()  # fits nowhere: stays queued
    place(s, pod)
    book = s.cache.nodes.profiles
    first = book.of(pod)
    assert first.tier == "silver"
    assert book.of(pod) is first  # kept, not recomputed
    s.set_namespace("ml", {keys.TENANT_TIER: "gold"})
    assert book.of(pod).tier == "gold"
    s.set_namespace("ml", None)  # deleted: no labels
    assert book.of(pod).tier == "bronze"
    s.remove_pod(pod.key)
    assert len(book) == 0  # nothing kept for pods that left


def test_profile_classifier_arguments_change_the_tiers() -> None:
    config = {
        "profiles": [
            {
                "pluginConfig": [
                    {
                        "name": "ProfileClassifier",
                        "args": {
                            "priorityClassTiers": {"prod-critical": "gold"},
                            "defaultTier": "silver",
                            "preemptibleBelowPriority": 10,
                        },
                    }
                ]
            }
        ]
    }
    s = scheduler(config=config)
    book = s.cache.nodes.profiles
    gold = book.of(make_pod("a").priority_class("prod-critical").obj())
    assert (gold.tier, gold.tier_source) == ("gold", "priority-class")
    other = book.of(make_pod("b").priority_class("high-priority").priority(5).obj())
    assert (other.tier, other.preemptible) == ("silver", True)  # the table was replaced


def test_a_bad_classifier_argument_names_the_path() -> None:
    bad = {"pluginConfig": [{"name": "ProfileClassifier", "args": {"defaultTier": "platinum"}}]}
    with pytest.raises(ConfigError, match="defaultTier"):
        build_scheduler(parse_config({"profiles": [bad]}))


# --------------------------------------------------------------------------- TenantHardware


def gfd_node(name: str, product: str, memory_mib: int, count: int = 8, **labels: str) -> NodeInfo:
    node = (
        make_node(name)
        .alloc(cpu="64", memory="512Gi")
        .extended(GPU, str(count))
        .label("nvidia.com/gpu.product", product)
        .label("nvidia.com/gpu.memory", str(memory_mib))
        .label("nvidia.com/gpu.count", str(count))
    )
    for key, value in labels.items():
        node.label(key, value)
    return node.obj()


TIERED = (
    gfd_node("h100", "NVIDIA-H100-80GB-HBM3", 81559),
    gfd_node("a100-80", "NVIDIA-A100-SXM4-80GB", 81920),
    gfd_node("a100-40", "NVIDIA-A100-SXM4-40GB", 40960),
    gfd_node("l40s", "NVIDIA-L40S", 46068),
    gfd_node("l4", "NVIDIA-L4", 23034),
    gfd_node("v", "Some-New-Card", 16384),
    make_node("labelled").alloc(cpu="64", memory="512Gi").extended(GPU, "8")
    .label(keys.HARDWARE_TIER_LABEL, "Economy").obj(),
    make_node("odd").alloc(cpu="64", memory="512Gi").extended(GPU, "8")
    .label(keys.HARDWARE_TIER_LABEL, "shiny").obj(),
)  # fmt: skip


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        # §7 matrix: premium, premium, standard, economy, economy, none, economy, other.
        ("gold", [100, 100, 70, 60, 60, 50, 60, 70]),
        ("silver", [20, 20, 100, 70, 70, 50, 70, 70]),
        ("bronze", [20, 20, 20, 100, 100, 50, 100, 70]),
    ],
)
def test_tenant_hardware_matrix(tier: str, expected: list[int]) -> None:
    nodes = table(*TIERED)
    pod = make_pod("p").annotate(keys.TENANT_TIER, tier).extended(GPU, "1").obj()
    scores = TenantHardwareAffinityScore().score(CycleState(), pod, nodes, nodes.all_slots())
    assert scores is not None
    assert [int(v) for v in scores] == expected


def test_tenant_hardware_has_no_opinion_on_cpu_pods() -> None:
    nodes = table(*TIERED)
    pod = make_pod("web").annotate(keys.TENANT_TIER, "gold").req(cpu="1").obj()
    assert TenantHardwareAffinityScore().score(CycleState(), pod, nodes, nodes.all_slots()) is None


def tenants_cluster() -> Scheduler:
    s = scheduler(
        *[gfd_node(f"h100-{i}", "NVIDIA-H100-80GB-HBM3", 81559) for i in range(2)],
        *[gfd_node(f"a100-{i}", "NVIDIA-A100-SXM4-40GB", 40960) for i in range(2)],
        *[gfd_node(f"l4-{i}", "NVIDIA-L4", 23034, count=4) for i in range(2)],
    )
    s.set_namespace("gold-team", {keys.TENANT_TIER: "gold"})
    s.set_namespace("silver-team", {keys.TENANT_TIER: "silver"})
    s.set_namespace("bronze-team", {keys.TENANT_TIER: "bronze"})
    return s


def training(name: str, namespace: str, gpus: int = 1) -> PodInfo:
    return (
        make_pod(name).namespace(namespace).owner("Job", name).req(cpu="4", memory="16Gi")
        .extended(GPU, str(gpus)).obj()
    )  # fmt: skip


def test_gold_training_lands_on_h100_and_bronze_on_l4() -> None:
    s = tenants_cluster()
    placed = place(
        s,
        training("gold-job", "gold-team"),
        training("silver-job", "silver-team"),
        training("bronze-job", "bronze-team"),
    )
    assert placed["gold-job"].startswith("h100-")
    assert placed["silver-job"].startswith("a100-")
    assert placed["bronze-job"].startswith("l4-")


def test_the_tenant_tier_outweighs_a_used_island_of_another_tier() -> None:
    """Bronze first (an L4 island is now used), then gold: gold still takes an H100 rather
    than completing the used L4 island (the islands decide within a tier, not across)."""
    s = tenants_cluster()
    placed = place(s, training("bronze-job", "bronze-team"))
    assert placed["bronze-job"].startswith("l4-")
    assert place(s, training("gold-job", "gold-team"))["gold-job"].startswith("h100-")
    assert place(s, training("silver-job", "silver-team"))["silver-job"].startswith("a100-")


def test_a_relabelled_namespace_changes_where_its_next_pod_goes() -> None:
    s = tenants_cluster()
    s.set_namespace("bronze-team", {keys.TENANT_TIER: "gold"})
    assert place(s, training("promoted", "bronze-team"))["promoted"].startswith("h100-")


def test_one_gpu_inference_pods_leave_room_for_eight_gpu_training() -> None:
    """Reference §16 scenario 3: 100 one-GPU inference pods, then ten 8-GPU training jobs."""
    s = scheduler(*[gfd_node(f"g{i}", "NVIDIA-A100-SXM4-80GB", 81920) for i in range(23)])
    s.set_namespace("serve", {keys.TENANT_TIER: "silver"})
    s.set_namespace("train", {keys.TENANT_TIER: "gold"})
    inference = [
        make_pod(f"inf-{i}").namespace("serve").owner("ReplicaSet", "llm")
        .label(keys.WORKLOAD_TYPE, "inference").req(cpu="1", memory="4Gi").extended(GPU, "1")
        .obj()
        for i in range(100)
    ]  # fmt: skip
    placed = place(s, *inference)
    assert all(placed[p.name].startswith("g") for p in inference)
    jobs = [training(f"train-{i}", "train", gpus=8) for i in range(10)]
    placed = place(s, *jobs)
    assert all(placed[j.name].startswith("g") for j in jobs), placed
    assert len({placed[j.name] for j in jobs}) == 10


# --------------------------------------------------------------------------- pack or spread


def reference_node() -> NodeInfo:
    """§12/§10: 32 CPU, 128Gi, 8 GPUs."""
    return make_node("busy").alloc(cpu="32", memory="128Gi").extended(GPU, "8").obj()


def busy_table() -> Any:
    nodes = table(reference_node(), make_node("empty").alloc(cpu="32", memory="128Gi")
                  .extended(GPU, "8").obj())  # fmt: skip
    nodes.add_usage(0, {"cpu": 4000, "memory": 16 * 2**30, GPU: 4}, 4000, 16 * 2**30)
    return nodes


def test_workload_aware_reference_example() -> None:
    """§12: a node at (12.5 %, 12.5 %, 50 %) has utilization 23.75: training 23 (0 on an
    empty node); with spreadServices a service 76 (100 on an empty node)."""
    nodes = busy_table()
    plugin = WorkloadAwareScoring()
    job = make_pod("t").owner("Job", "t").extended(GPU, "2").obj()
    web = make_pod("w").owner("ReplicaSet", "w").obj()
    packed = plugin.score(CycleState(), job, nodes, nodes.all_slots())
    assert packed is not None
    assert packed.tolist() == [23.0, 0.0]
    assert plugin.score(CycleState(), web, nodes, nodes.all_slots()) is None  # default: no opinion
    spread = WorkloadAwareScoring(WorkloadAwareScoringArgs(spread_services=True))
    result = spread.score(CycleState(), web, nodes, nodes.all_slots())
    assert result is not None
    assert result.tolist() == [76.0, 100.0]


def test_utilization_without_gpus_weighs_cpu_and_memory_alone() -> None:
    nodes = table(make_node("cpu").alloc(cpu="10", memory="10Gi").obj())
    nodes.add_usage(0, {"cpu": 5000, "memory": 5 * 2**30}, 5000, 5 * 2**30)
    assert float(nodes.utilization()[0]) == pytest.approx(50.0)


def test_backfill_reference_example() -> None:
    """§10: regular 23, backfill 76; on a gold-reserved node a bronze pod loses 30 points
    whichever kind it is (the original only took them from regular pods)."""
    nodes = busy_table()
    plugin = BackfillScoring()
    regular = make_pod("r").obj()
    backfill = make_pod("b").label(keys.BACKFILL_LABEL, "true").obj()
    assert _scores(plugin, regular, nodes) == [23, 0]
    assert _scores(plugin, backfill, nodes) == [76, 100]
    reserved = table(
        make_node("busy").alloc(cpu="32", memory="128Gi").extended(GPU, "8")
        .label(keys.RESERVED_TIER_LABEL, "gold").obj()
    )  # fmt: skip
    reserved.add_usage(0, {"cpu": 4000, "memory": 16 * 2**30, GPU: 4}, 4000, 16 * 2**30)
    assert _scores(plugin, regular, reserved) == [0]
    assert _scores(plugin, backfill, reserved) == [46]
    gold = make_pod("g").label(keys.BACKFILL_LABEL, "true").annotate(keys.TENANT_TIER, "gold")
    assert _scores(plugin, gold.obj(), reserved) == [76]


def _scores(plugin: Any, pod: PodInfo, nodes: Any) -> list[int]:
    result = plugin.score(CycleState(), pod, nodes, nodes.all_slots())
    assert result is not None
    return [int(v) for v in np.asarray(result)]


def test_backfill_pods_go_to_idle_nodes_and_regular_pods_pack() -> None:
    config = {"profiles": [{"plugins": {"score": {"disabled": [{"name": "*"}],
              "enabled": [{"name": "BackfillScoring"}]}}}]}  # fmt: skip
    s = scheduler(*[make_node(f"n{i}").alloc(cpu="8", memory="32Gi").obj() for i in range(3)],
                  config=config)  # fmt: skip
    s.upsert_pod(make_pod("running").req(cpu="4", memory="8Gi").node("n1").phase("Running").obj())
    placed = place(
        s,
        make_pod("regular").req(cpu="1").priority(1000).obj(),
        make_pod("filler").label(keys.BACKFILL_LABEL, "true").req(cpu="1").obj(),
    )
    assert placed["regular"] == "n1"  # packs onto the used node
    assert placed["filler"] in {"n0", "n2"}  # idle room


def test_services_spread_over_zones_while_a_training_gang_packs() -> None:
    config = {"profiles": [{"plugins": {"score": {"enabled": [{"name": "TopologyScoring"}]}}}]}
    nodes = [
        make_node(f"{zone}-{i}").alloc(cpu="16", memory="64Gi")
        .label(keys.ZONE_LABEL, zone).obj()
        for zone in ("zone-a", "zone-b", "zone-c") for i in range(2)
    ]  # fmt: skip
    s = scheduler(*nodes, config=config)
    web = [
        make_pod(f"web-{i}").owner("ReplicaSet", "web-5d8").req(cpu="1", memory="1Gi").obj()
        for i in range(6)
    ]
    gang = [
        make_pod(f"worker-{i}").label(keys.GANG_NAME_LABELS[0], "ddp")
        .label(keys.GANG_MIN_AVAILABLE_KEYS[0], "4").req(cpu="2", memory="4Gi").obj()
        for i in range(4)
    ]  # fmt: skip
    placed = place(s, *web, *gang)
    zones = [placed[p.name].split("-")[1] for p in web]
    assert sorted(zones) == ["a", "a", "b", "b", "c", "c"]
    assert len({placed[p.name] for p in gang}) == 1  # training packs onto one node


def test_with_the_default_profile_a_deployment_spreads_over_zones_and_training_packs() -> None:
    """No TopologyScoring: PodTopologySpread's default constraints spread the replicas (by the
    ReplicaSet's selector, as the daemon's informer gives it); training still packs."""
    nodes = [
        make_node(f"{zone}-{i}").alloc(cpu="16", memory="64Gi")
        .label(keys.ZONE_LABEL, zone).label("kubernetes.io/hostname", f"{zone}-{i}").obj()
        for zone in ("zone-a", "zone-b", "zone-c") for i in range(2)
    ]  # fmt: skip
    s = scheduler(*nodes)
    s.set_workload_selector(
        "ReplicaSet", "default", "web-5d8", selector_from_labels({"app": "web"})
    )
    web = [
        make_pod(f"web-{i}").label("app", "web").owner("ReplicaSet", "web-5d8")
        .req(cpu="1", memory="1Gi").obj()
        for i in range(6)
    ]  # fmt: skip
    jobs = [
        make_pod(f"etl-{i}").owner("Job", "etl").req(cpu="2", memory="4Gi").obj() for i in range(4)
    ]
    placed = place(s, *web, *jobs)
    zones = sorted(placed[p.name].split("-")[1] for p in web)
    assert zones == ["a", "a", "b", "b", "c", "c"]
    assert len({placed[p.name] for p in jobs}) == 1  # batch packs onto one node


def test_topology_scoring_counts_replicas_not_nodes() -> None:
    """The original preferred the zone with fewer nodes; ours the one with fewer replicas."""
    s = scheduler(
        *[make_node(f"a{i}").alloc(cpu="8").label(keys.ZONE_LABEL, "a").obj() for i in range(3)],
        make_node("b0").alloc(cpu="8").label(keys.ZONE_LABEL, "b").obj(),
        make_node("none").alloc(cpu="8").obj(),
    )
    s.upsert_pod(make_pod("r1").owner("ReplicaSet", "web").node("b0").phase("Running").obj())
    nodes = s.cache.nodes
    web = make_pod("r2").owner("ReplicaSet", "web").obj()
    scores = TopologyScoring().score(CycleState(), web, nodes, nodes.all_slots())
    assert scores is not None
    assert dict(zip(nodes.names, scores.tolist(), strict=True)) == {
        "a0": 100.0, "a1": 100.0, "a2": 100.0, "b0": 0.0, "none": 50.0
    }  # fmt: skip
    job = make_pod("j").owner("ReplicaSet", "web").label(keys.WORKLOAD_TYPE, "batch").obj()
    assert TopologyScoring().score(CycleState(), job, nodes, nodes.all_slots()) is None


def test_profile_shapes_are_shared_objects() -> None:
    s = scheduler(make_node("n").alloc(cpu="1").obj())
    pods = [make_pod(f"p{i}").req(cpu="8").obj() for i in range(50)]
    place(s, *pods)
    profiles = {id(s.cache.nodes.profiles.of(p)) for p in pods}
    assert len(profiles) == 1
    assert isinstance(s.cache.nodes.profiles.of(pods[0]), WorkloadProfile)
