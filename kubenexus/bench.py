"""``kubenexus bench``: scheduling throughput, per-pod latency and memory on a synthetic cluster.

Only the decide-and-assume loop is timed (queue pop → filter → score → reserve → assume), the
same path the daemon runs per pod; building the cluster and queueing the pods is not.

``--workload spark`` adds Spark applications: a driver asking room for N executors (a
ResourceReservation), whose executors are created only once the driver is placed, as the Spark
operator's running driver creates them. Every figure it prints is counted from the decisions.

``--workload gpu`` runs a GPU fleet (CPU-only nodes and T4, L4, A100 and H100 nodes, their GPUs
read from manual labels, GPU Feature Discovery, NFD or DRA ResourceSlices) and a stream of CPU
and GPU pods, half of the GPU pods asking GPU memory per card; whether each such pod landed on
cards that hold its request is checked against the cluster as the benchmark built it, not as the
scheduler read it.

``--workload affinity``: see ``bench_affinity`` (Deployments with pod anti-affinity and topology
spread on a cluster already running 20,000 pods; rules checked from the decisions).
"""

from __future__ import annotations

import gc
import platform
import random
import resource
import statistics
import time
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from kubenexus import bench_affinity, bench_preemption, bench_tenants
from kubenexus.api import keys
from kubenexus.api.gpu import gpus_from_labels
from kubenexus.api.objects import NodeInfo, PodInfo, Taint, Toleration, pod_from_dict
from kubenexus.api.workloads import REPLICA_SET, selector_from_labels
from kubenexus.config import SchedulerConfiguration, build_scheduler, parse_config
from kubenexus.scheduler import Outcome, Scheduled, Scheduler

GIB = 2**30
_GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")
# (cpu millicores, memory bytes, GPUs, taint, weight in the mix)
_NODE_SHAPES = (
    ("general-8", 8_000, 32 * GIB, 0, None, 4),
    ("general-32", 32_000, 128 * GIB, 0, None, 3),
    ("memory-16", 16_000, 256 * GIB, 0, None, 1),
    ("gpu-64", 64_000, 512 * GIB, 8, _GPU_TAINT, 1),
)
_ZONES = ("zone-a", "zone-b", "zone-c")
_GPU_TOLERATION = Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")


def _numa_annotations(cpu_milli: int, memory: int, zones: int) -> dict[str, str]:
    """A node's topology as annotations: ``zones`` equal zones with contiguous CPU IDs."""
    per_zone = cpu_milli // 1000 // zones
    annotations = {"numa.kubenexus.io/node-count": str(zones)}
    for z in range(zones):
        annotations[f"numa.kubenexus.io/node-{z}-cpus"] = f"{z * per_zone}-{(z + 1) * per_zone - 1}"
        annotations[f"numa.kubenexus.io/node-{z}-memory"] = str(memory // zones)
        for other in range(zones):
            annotations[f"numa.kubenexus.io/node-{z}-distance-{other}"] = (
                "10" if z == other else "21"
            )
    return annotations


def synthetic_nodes(count: int, rng: random.Random, numa: bool = False) -> list[NodeInfo]:
    weights = [shape[-1] for shape in _NODE_SHAPES]
    nodes = []
    for i in range(count):
        shape, cpu, memory, gpus, taint, _ = rng.choices(_NODE_SHAPES, weights)[0]
        allocatable = {keys.CPU: cpu, keys.MEMORY: memory, keys.PODS: keys.DEFAULT_MAX_PODS}
        if gpus:
            allocatable[keys.GPU_NVIDIA] = gpus
        name = f"node-{i:05d}"
        labels = {
            "kubernetes.io/hostname": name,
            "topology.kubernetes.io/zone": _ZONES[i % len(_ZONES)],
            "node.kubernetes.io/instance-type": shape,
        }
        annotations = _numa_annotations(cpu, memory, rng.choice((2, 4, 8))) if numa else {}
        nodes.append(
            NodeInfo(
                name=name,
                allocatable=MappingProxyType(allocatable),
                labels=MappingProxyType(labels),
                annotations=MappingProxyType(annotations),
                taints=(taint,) if taint else (),
            )
        )
    return nodes


def synthetic_pods(
    count: int, workload: str, rng: random.Random, gang_size: int = 0
) -> list[PodInfo]:
    return [_pod(i, workload, rng, gang_size) for i in range(count)]


def _pod(i: int, workload: str, rng: random.Random, gang_size: int) -> PodInfo:
    gang = f"bench/gang-{i // gang_size:06d}" if gang_size else ""
    cpu = rng.choice((100, 250, 500, 1000, 2000))
    memory = rng.choice((128, 256, 512, 1024, 4096)) * 2**20
    requests = {keys.CPU: cpu, keys.MEMORY: memory, keys.PODS: 1}
    selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    annotations: dict[str, str] = {}
    if workload == "numa":
        # Whole cores, so every placement also picks concrete CPU IDs.
        cpu = rng.choice((1000, 2000, 4000))
        requests[keys.CPU] = cpu
        annotations[keys.NUMA_POLICY_KEYS[0]] = rng.choice(
            ("single-numa-node", "single-numa-node", "best-effort")
        )
    if workload == "mixed":
        kind = rng.random()
        if kind < 0.2:
            selector = (("topology.kubernetes.io/zone", rng.choice(_ZONES)),)
        elif kind < 0.3:
            requests[keys.GPU_NVIDIA] = rng.choice((1, 2))
            tolerations = (_GPU_TOLERATION,)
    return PodInfo(
        namespace="bench",
        name=f"pod-{i:06d}",
        uid=f"uid-{i}",
        requests=MappingProxyType(requests),
        scheduler_name=keys.SCHEDULER_NAME,
        priority=rng.choice((0, 0, 0, 100)),
        score_cpu=cpu,
        score_memory=memory,
        node_selector=selector,
        tolerations=tolerations,
        gang=gang,
        gang_min=gang_size if gang else None,
        annotations=MappingProxyType(annotations),
    )


# GPU fleet: (instance type, cpu cores, memory GiB, GPUs, weight in the fleet). The GPU shapes are
# cloud instance types (g4dn.2xlarge, g4dn.12xlarge, g6.48xlarge, p4d.24xlarge, p4de.24xlarge,
# p5.48xlarge); their GPUs are in _GPU_CARDS.
_GPU_FLEET = (
    ("general-16", 16, 64, 0, 20),
    ("general-32", 32, 128, 0, 15),
    ("t4x1", 8, 32, 1, 15),
    ("t4x4", 48, 192, 4, 10),
    ("l4x8", 192, 768, 8, 12),
    ("a100-40x8", 96, 1152, 8, 12),
    ("a100-80x8", 96, 1152, 8, 8),
    ("h100x8", 192, 2048, 8, 8),
)
# Per GPU shape: the product as the driver names it (the DRA driver publishes this, GPU Feature
# Discovery with dashes for spaces), the memory the driver reports (MiB; GFD and DRA publish
# this), the marketed size (GiB; manual labels and NFD's device table give this), the manual
# model label and the NFD PCI device id.
_GPU_CARDS = {
    "t4x1": ("Tesla T4", 15360, 16, "T4", "1eb8"),
    "t4x4": ("Tesla T4", 15360, 16, "T4", "1eb8"),
    "l4x8": ("NVIDIA L4", 23034, 24, "L4", "27b8"),
    "a100-40x8": ("NVIDIA A100-SXM4-40GB", 40960, 40, "A100-40GB", "20b0"),
    "a100-80x8": ("NVIDIA A100-SXM4-80GB", 81920, 80, "A100-80GB", "20b2"),
    "h100x8": ("NVIDIA H100 80GB HBM3", 81559, 80, "H100-80GB", "2330"),
}
# Where a GPU node's GPUs are read from, with its share of the GPU nodes.
GPU_SOURCES = (("labels", 45), ("gfd", 35), ("dra", 15), ("nfd", 5))
# GPU pods: GPUs asked (weight); VRAM per GPU in GiB (weight), on half of them; accepted
# products on a few, each with the fleet shapes it names.
GPU_POD_SHARE = 0.4
_GPUS_ASKED = ((1, 50), (2, 25), (4, 15), (8, 10))
_VRAM_GIB = (
    (8, 12),
    (12, 12),
    (16, 12),
    (20, 8),
    (24, 12),
    (32, 10),
    (40, 10),
    (48, 8),
    (64, 8),
    (80, 8),
)
_PRODUCTS = (
    ("H100", frozenset({"h100x8"})),
    ("A100-80GB,H100", frozenset({"a100-80x8", "h100x8"})),
    ("A100", frozenset({"a100-40x8", "a100-80x8"})),
    ("L4", frozenset({"l4x8"})),
    ("T4", frozenset({"t4x1", "t4x4"})),
)
PRODUCT_SHARE = 0.05
_ACCEPTED = dict(_PRODUCTS)


@dataclass(frozen=True, slots=True)
class GpuNode:
    """A GPU node as the benchmark built it: what its cards are, whatever the scheduler reads."""

    shape: str
    source: str
    count: int
    memory: int  # per card, bytes, as its source publishes it


def _gpu_slice(name: str, product: str, mib: int, count: int) -> dict[str, object]:
    """The node's ResourceSlice as NVIDIA's DRA driver publishes it (whole GPUs)."""
    devices = [
        {
            "name": f"gpu-{i}",
            "attributes": {
                "type": {"string": "gpu"},
                "uuid": {"string": f"GPU-{name}-{i}"},
                "productName": {"string": product},
                "resource.kubernetes.io/pciBusID": {"string": f"0000:{0x17 + i:02x}:00.0"},
                "resource.kubernetes.io/numaNode": {"int": i * 2 // count},
            },
            "capacity": {"memory": {"value": f"{mib}Mi"}},
        }
        for i in range(count)
    ]
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": f"{name}-gpu.nvidia.com"},
        "spec": {
            "driver": "gpu.nvidia.com",
            "nodeName": name,
            "pool": {"name": name, "generation": 1, "resourceSliceCount": 1},
            "devices": devices,
        },
    }


def _gpu_labels(shape: str, source: str, count: int) -> tuple[dict[str, str], int]:
    """GPU labels for a label source, and the memory per card that source gives."""
    product, mib, gib, model, device_id = _GPU_CARDS[shape]
    if source == "labels":
        labels = {
            keys.GPU_MODEL_LABEL: model,
            keys.GPU_VRAM_LABEL: f"{gib}Gi",
            keys.GPU_COUNT_LABEL: str(count),
        }
        return labels, gib * GIB
    if source == "gfd":
        labels = {
            keys.GFD_PRODUCT: product.replace(" ", "-"),
            keys.GFD_MEMORY: str(mib),
            keys.GFD_COUNT: str(count),
        }
        return labels, mib * 2**20
    if source == "nfd":
        return {f"feature.node.kubernetes.io/pci-10de.device.{device_id}.count": str(count)}, (
            gib * GIB
        )
    return {}, mib * 2**20  # dra: the slice says it


@dataclass(frozen=True, slots=True)
class GpuCluster:
    nodes: list[NodeInfo]
    slices: dict[str, list[dict[str, object]]]  # node → its ResourceSlices (DRA nodes)
    gpus: dict[str, GpuNode]  # node → its GPUs (GPU nodes only)


def synthetic_gpu_cluster(count: int, rng: random.Random) -> GpuCluster:
    weights = [shape[-1] for shape in _GPU_FLEET]
    source_weights = [weight for _, weight in GPU_SOURCES]
    nodes: list[NodeInfo] = []
    slices: dict[str, list[dict[str, object]]] = {}
    gpus: dict[str, GpuNode] = {}
    for i in range(count):
        shape, cpu, memory, cards, _ = rng.choices(_GPU_FLEET, weights)[0]
        name = f"node-{i:05d}"
        allocatable = {keys.CPU: cpu * 1000, keys.MEMORY: memory * GIB, keys.PODS: 110}
        labels = {
            "kubernetes.io/hostname": name,
            "topology.kubernetes.io/zone": _ZONES[i % len(_ZONES)],
            "node.kubernetes.io/instance-type": shape,
        }
        if cards:
            allocatable[keys.GPU_NVIDIA] = cards
            source = rng.choices(GPU_SOURCES, source_weights)[0][0]
            gpu_labels, card_memory = _gpu_labels(shape, source, cards)
            labels.update(gpu_labels)
            gpus[name] = GpuNode(shape, source, cards, card_memory)
            if source == "dra":
                product, mib = _GPU_CARDS[shape][:2]
                slices[name] = [_gpu_slice(name, product, mib, cards)]
        nodes.append(
            NodeInfo(
                name=name,
                allocatable=MappingProxyType(allocatable),
                labels=MappingProxyType(labels),
                taints=(_GPU_TAINT,) if cards else (),
                gpus=gpus_from_labels(labels),  # as node_from_dict reads them
            )
        )
    return GpuCluster(nodes, slices, gpus)


def _gpu_pod(i: int, rng: random.Random) -> PodInfo:
    gpus = rng.choices(*zip(*_GPUS_ASKED, strict=True))[0]
    cpu = gpus * rng.choice((1000, 2000, 4000))
    memory = gpus * rng.choice((8, 16, 32)) * GIB
    annotations = {}
    if rng.random() < 0.5:
        vram = rng.choices(*zip(*_VRAM_GIB, strict=True))[0]
        annotations[keys.VRAM_REQUEST] = f"{vram}Gi"
    if rng.random() < PRODUCT_SHARE:
        annotations[keys.GPU_PRODUCTS] = rng.choice(_PRODUCTS)[0]
    return PodInfo(
        namespace="bench",
        name=f"pod-{i:06d}",
        uid=f"uid-{i}",
        requests=MappingProxyType(
            {keys.CPU: cpu, keys.MEMORY: memory, keys.PODS: 1, keys.GPU_NVIDIA: gpus}
        ),
        scheduler_name=keys.SCHEDULER_NAME,
        priority=rng.choice((0, 0, 0, 100)),
        score_cpu=cpu,
        score_memory=memory,
        tolerations=(_GPU_TOLERATION,),
        annotations=MappingProxyType(annotations),
    )


def synthetic_gpu_pods(count: int, rng: random.Random) -> list[PodInfo]:
    """CPU-only pods (as plain) and, one in GPU_POD_SHARE, GPU pods."""
    return [
        _gpu_pod(i, rng) if rng.random() < GPU_POD_SHARE else _pod(i, "plain", rng, 0)
        for i in range(count)
    ]


@dataclass(frozen=True, slots=True)
class GpuFigures:
    """Counted from the decisions of one run (each pod's last outcome), checked against the
    cluster as built."""

    gpu_pods: int
    gpu_placed: int
    gpu_unschedulable: int
    vram_pods: int  # GPU pods with a VRAM request
    vram_placed: int
    vram_qualifying: int  # placed on a node whose cards each hold the request, enough of them
    product_pods: int  # GPU pods naming accepted products
    product_placed: int
    product_accepted: int  # placed on a node of an accepted product
    nodes_over: int  # nodes given more GPUs than they have
    vram_latencies: np.ndarray  # per decision of a pod with a VRAM request
    other_latencies: np.ndarray


def _gpu_figures(
    cluster: GpuCluster, decided: list[list[tuple[PodInfo, str]]], latencies: np.ndarray
) -> GpuFigures:
    """``decided``: per decision, each pod and the node it was placed on ("": none)."""
    last: dict[str, tuple[PodInfo, str]] = {}
    vram_latencies: list[float] = []
    other_latencies: list[float] = []
    for batch, latency in zip(decided, latencies, strict=True):
        for pod, name in batch:
            last[pod.key] = (pod, name)
        asks = keys.VRAM_REQUEST in batch[0][0].annotations
        (vram_latencies if asks else other_latencies).append(float(latency))
    gpu_pods = placed = vram_pods = vram_placed = qualifying = 0
    product_pods = product_placed = accepted = 0
    given: dict[str, int] = {}
    for pod, placed_on in last.values():
        count = pod.requests.get(keys.GPU_NVIDIA, 0)
        if not count:
            continue
        gpu_pods += 1
        raw_vram = pod.annotations.get(keys.VRAM_REQUEST)
        products = pod.annotations.get(keys.GPU_PRODUCTS)
        vram_pods += raw_vram is not None
        product_pods += products is not None
        if not placed_on:
            continue
        placed += 1
        node = cluster.gpus.get(placed_on)
        given[placed_on] = given.get(placed_on, 0) + count
        if raw_vram is not None:
            vram_placed += 1
            need = int(raw_vram.removesuffix("Gi")) * GIB
            # A card holds a request of its marketed size (its driver reports a little less).
            sold = _GPU_CARDS[node.shape][2] * GIB if node is not None else 0
            qualifying += (
                node is not None and node.count >= count and max(node.memory, sold) >= need
            )
        if products is not None:
            product_placed += 1
            accepted += node is not None and node.shape in _ACCEPTED[products]
    over = sum(
        1
        for name, gpus in given.items()
        if gpus > (cluster.gpus[name].count if name in cluster.gpus else 0)
    )
    return GpuFigures(
        gpu_pods=gpu_pods,
        gpu_placed=placed,
        gpu_unschedulable=gpu_pods - placed,
        vram_pods=vram_pods,
        vram_placed=vram_placed,
        vram_qualifying=qualifying,
        product_pods=product_pods,
        product_placed=product_placed,
        product_accepted=accepted,
        nodes_over=over,
        vram_latencies=np.array(vram_latencies),
        other_latencies=np.array(other_latencies),
    )


# Spark applications: (cpu, memory) as spark.driver/executor.cores and .memory plus overhead are
# commonly set; executors at 4 GiB per core, the general nodes' ratio.
_DRIVER_SIZES = (("1", "2Gi"), ("1", "4Gi"), ("2", "4Gi"))
_EXECUTOR_SIZES = (("1", "4Gi"), ("2", "8Gi"), ("4", "16Gi"))
SPARK_EXECUTORS = (2, 16)  # executors per application, drawn uniformly
SPARK_NAMESPACE = "spark"


@dataclass(frozen=True, slots=True)
class SparkApp:
    driver: PodInfo
    executors: tuple[PodInfo, ...]  # created by the driver once it is placed


def _spark_pod(  # noqa: PLR0917 - the few facts that differ between Spark's pods
    name: str, app: str, role: str, cpu: str, memory: str, annotations: dict[str, str]
) -> PodInfo:
    """A pod as the Spark operator creates it, read as the daemon reads it (labels → role)."""
    return pod_from_dict(
        {
            "metadata": {
                "namespace": SPARK_NAMESPACE,
                "name": name,
                "uid": f"uid-{name}",
                "labels": {keys.SPARK_ROLE: role, keys.SPARK_APP: app},
                "annotations": annotations,
            },
            "spec": {
                "schedulerName": keys.SCHEDULER_NAME,
                "containers": [
                    {
                        "name": f"spark-kubernetes-{role}",
                        "resources": {"requests": {"cpu": cpu, "memory": memory}},
                    }
                ],
            },
        }
    )


def synthetic_spark_apps(count: int, rng: random.Random) -> list[SparkApp]:
    apps = []
    for i in range(count):
        app = f"spark-{i:06d}"
        executors = rng.randint(*SPARK_EXECUTORS)
        driver_cpu, driver_memory = rng.choice(_DRIVER_SIZES)
        cpu, memory = rng.choice(_EXECUTOR_SIZES)
        annotations = {
            keys.EXECUTOR_COUNT_KEYS[0]: str(executors),
            keys.EXECUTOR_RESOURCE_KEYS[keys.CPU][0]: cpu,
            keys.EXECUTOR_RESOURCE_KEYS[keys.MEMORY][0]: memory,
        }
        driver = _spark_pod(f"{app}-driver", app, "driver", driver_cpu, driver_memory, annotations)
        apps.append(
            SparkApp(
                driver,
                tuple(
                    _spark_pod(f"{app}-exec-{e + 1}", app, "executor", cpu, memory, {})
                    for e in range(executors)
                ),
            )
        )
    return apps


@dataclass(frozen=True, slots=True)
class SparkFigures:
    """Counted from the decisions of one run."""

    apps: int
    executors: int  # created by the drivers that were placed
    drivers_admitted: int
    drivers_waited: int  # drivers refused at least once (no room for them and their executors)
    executors_bound: int
    on_reserved_slot: int  # executors bound on a slot held for them, on that slot's node
    driver_seconds: float  # time spent deciding drivers (admitted or refused)
    executor_seconds: float
    driver_latencies: np.ndarray
    executor_latencies: np.ndarray

    @property
    def drivers_per_second(self) -> float:
        return self.drivers_admitted / self.driver_seconds if self.driver_seconds else 0.0

    @property
    def executors_per_second(self) -> float:
        return self.executors_bound / self.executor_seconds if self.executor_seconds else 0.0


@dataclass(frozen=True, slots=True)
class RunFigures:
    seconds: float
    scheduled: int
    unschedulable: int
    latencies: np.ndarray  # per decision: one pod, or one whole gang
    decisions: int
    spark: SparkFigures | None = None
    gpu: GpuFigures | None = None
    affinity: bench_affinity.AffinityFigures | None = None
    tenants: bench_tenants.TenantFigures | None = None
    preemption: bench_preemption.PreemptionFigures | None = None

    @property
    def pods_per_second(self) -> float:
        return (self.scheduled + self.unschedulable) / self.seconds


@dataclass(frozen=True, slots=True)
class BenchReport:
    nodes: int
    pods: int
    workload: str
    runs: list[RunFigures]
    peak_rss_bytes: int
    gang_size: int = 0
    backlog: int = 0
    apps: int = 0


def _backlog(scheduler: Scheduler, count: int) -> None:
    """``count`` pods that fit nowhere (more cpu than any node), tried once so they wait in the
    unschedulable pool: every later decision runs with them there."""
    for i in range(count):
        scheduler.upsert_pod(
            PodInfo(
                namespace="backlog",
                name=f"huge-{i:06d}",
                uid=f"backlog-{i}",
                requests=_HUGE,
                scheduler_name=keys.SCHEDULER_NAME,
                score_cpu=_HUGE[keys.CPU],
                score_memory=0,
            )
        )
    while scheduler.schedule_next():
        pass


_HUGE = MappingProxyType({keys.CPU: 10_000_000, keys.PODS: 1})


def _workload_pods(  # noqa: PLR0917 - the run's parameters, passed through
    scheduler: Scheduler,
    workload: str,
    node_list: list[NodeInfo],
    pods: int,
    rng: random.Random,
    gang_size: int,
) -> list[PodInfo]:
    """Count the pods already running and queue the pods to place; the running ones."""
    running: list[PodInfo] = []
    if workload == "affinity":
        running = bench_affinity.existing_pods(node_list, rng)
        for pod in running:
            scheduler.upsert_pod(pod)
    if workload == "gpu":
        queued = synthetic_gpu_pods(pods, rng)
    elif workload == "tenants":
        for name, labels in bench_tenants.NAMESPACES.items():
            scheduler.set_namespace(name, labels)
        queued = bench_tenants.pods(pods, rng)
    elif workload == "affinity":
        queued = bench_affinity.incoming_pods(pods, rng)
        selectors = bench_affinity.replica_set_selectors([*running, *queued])
        for name, labels in selectors.items():
            scheduler.set_workload_selector(
                REPLICA_SET, "bench", name, selector_from_labels(labels)
            )
    else:
        queued = synthetic_pods(pods, workload, rng, gang_size)
    for pod in queued:
        scheduler.upsert_pod(pod)
    return running


def _one_run(  # noqa: PLR0917 - the run's parameters, passed through from run_bench
    nodes: int,
    pods: int,
    workload: str,
    seed: int,
    config: SchedulerConfiguration | None,
    gang_size: int = 0,
    backlog: int = 0,
) -> RunFigures:
    rng = random.Random(seed)
    if workload == "tenants" and config is None:
        config = parse_config(bench_tenants.CONFIG)
    scheduler = build_scheduler(config)
    cluster = synthetic_gpu_cluster(nodes, rng) if workload == "gpu" else None
    if workload == "tenants":
        node_list = bench_tenants.nodes(nodes, rng)
    else:
        node_list = (
            cluster.nodes if cluster else synthetic_nodes(nodes, rng, numa=workload == "numa")
        )
    for node in node_list:
        scheduler.upsert_node(node)
    if cluster:
        for name, slices in cluster.slices.items():
            problem = scheduler.set_node_slices(name, slices)
            if problem:  # the benchmark's own slices: a bug here or in the GPU model
                raise RuntimeError(problem)
    _backlog(scheduler, backlog)
    running = _workload_pods(scheduler, workload, node_list, pods, rng, gang_size)
    checked = cluster is not None or workload in {"affinity", "tenants"}
    decided: list[list[tuple[PodInfo, str]]] | None = [] if checked else None
    latencies = np.zeros(pods)
    scheduled = unschedulable = 0
    gc.collect()
    clock = time.perf_counter
    started = clock()
    calls = 0
    while True:
        if backlog and calls % 100 == 99:
            scheduler.upsert_node(node_list[calls % len(node_list)])  # a heartbeat: no change
        t0 = clock()
        batch = scheduler.schedule_next()  # one pod, or one whole gang
        if not batch:
            break
        for outcome in batch:
            if isinstance(outcome, Scheduled):
                scheduler.binding_succeeded(outcome.pod.key)
                scheduled += 1
            else:
                unschedulable += 1
        latencies[calls] = clock() - t0
        calls += 1
        if decided is not None:  # the pods and their nodes only: outcomes hold cycle states
            decided.append([(o.pod, o.node if isinstance(o, Scheduled) else "") for o in batch])
    seconds = clock() - started
    timed = latencies[:calls]
    gpu = _gpu_figures(cluster, decided, timed) if cluster and decided is not None else None
    affinity = None
    if workload == "affinity" and decided is not None:
        placed = [pair for batch in decided for pair in batch]
        affinity = bench_affinity.check(node_list, placed, running)
    tenants = None
    if workload == "tenants" and decided is not None:
        tenants = bench_tenants.check(node_list, [pair for batch in decided for pair in batch])
    return RunFigures(
        seconds, scheduled, unschedulable, timed, calls, gpu=gpu, affinity=affinity, tenants=tenants
    )


class _SparkTally:
    """What the decisions of a Spark run did, counted as they come."""

    def __init__(self, apps: list[SparkApp]) -> None:
        self.apps = {app.driver.key: app for app in apps}
        self.slots: dict[str, tuple[str, dict[str, str]]] = {}  # reservation → group, slot → node
        self.claimed: set[tuple[str, str]] = set()
        self.admitted = self.executors_bound = self.on_slot = self.executors = 0
        self.waited: set[str] = set()
        self.driver_latencies: list[float] = []
        self.executor_latencies: list[float] = []

    def record(self, batch: list[Outcome], seconds: float) -> list[PodInfo]:
        """One decision; returns the executors of a driver just placed (for it to create)."""
        created: list[PodInfo] = []
        role = batch[0].pod.role
        if role == "driver":
            self.driver_latencies.append(seconds)
        elif role == "executor":
            self.executor_latencies.append(seconds)
        for outcome in batch:
            pod = outcome.pod
            if pod.role == "driver":
                if not isinstance(outcome, Scheduled):
                    self.waited.add(pod.key)
                    continue
                self.admitted += 1
                spec = outcome.reservation
                if spec is not None:
                    self.slots[spec.key] = (spec.gang, {s.name: s.node for s in spec.slots})
                created.extend(self.apps[pod.key].executors)
            elif pod.role == "executor" and isinstance(outcome, Scheduled):
                self.executors_bound += 1
                self._check_claim(outcome)
        self.executors += len(created)
        return created

    def _check_claim(self, outcome: Scheduled) -> None:
        """On a reserved slot: it claimed a slot of its own application's reservation, no other
        executor claimed that slot, and it was bound on the node the slot holds."""
        if outcome.claim is None or outcome.claim in self.claimed:
            return
        reservation, slot = outcome.claim
        group, nodes = self.slots.get(reservation, ("", {}))
        if group == outcome.pod.group and nodes.get(slot) == outcome.node:
            self.claimed.add(outcome.claim)
            self.on_slot += 1

    def figures(self) -> SparkFigures:
        return SparkFigures(
            apps=len(self.apps),
            executors=self.executors,
            drivers_admitted=self.admitted,
            drivers_waited=len(self.waited),
            executors_bound=self.executors_bound,
            on_reserved_slot=self.on_slot,
            driver_seconds=sum(self.driver_latencies),
            executor_seconds=sum(self.executor_latencies),
            driver_latencies=np.array(self.driver_latencies),
            executor_latencies=np.array(self.executor_latencies),
        )


def _spark_run(
    nodes: int,
    pods: int,
    apps: int,
    seed: int,
    config: SchedulerConfiguration | None,
) -> RunFigures:
    """Drivers arrive among ``pods`` ordinary pods; a driver placed creates its executors, queued
    behind the pods already waiting. Timed: each decision (and its binding reported), not the
    creation of the executors."""
    rng = random.Random(seed)
    scheduler = build_scheduler(config)
    for node in synthetic_nodes(nodes, rng):
        scheduler.upsert_node(node)
    spark = synthetic_spark_apps(apps, rng)
    arrivals = [*synthetic_pods(pods, "plain", rng), *(app.driver for app in spark)]
    rng.shuffle(arrivals)
    for pod in arrivals:
        scheduler.upsert_pod(pod)
    tally = _SparkTally(spark)
    latencies: list[float] = []
    scheduled = unschedulable = 0
    gc.collect()
    clock = time.perf_counter
    while True:
        t0 = clock()
        batch = scheduler.schedule_next()
        if not batch:
            break
        for outcome in batch:
            if isinstance(outcome, Scheduled):
                scheduler.binding_succeeded(outcome.pod.key)
        latency = clock() - t0
        latencies.append(latency)
        placed = sum(isinstance(o, Scheduled) for o in batch)
        scheduled += placed
        unschedulable += len(batch) - placed
        for executor in tally.record(batch, latency):  # the running driver creates them
            scheduler.upsert_pod(executor)
    timed = np.array(latencies)
    return RunFigures(
        float(timed.sum()), scheduled, unschedulable, timed, len(latencies), tally.figures()
    )


def _preemption_run(
    nodes: int, pods: int, seed: int, config: SchedulerConfiguration | None
) -> RunFigures:
    node_list = synthetic_nodes(nodes, random.Random(seed))
    figures = bench_preemption.run(node_list, pods, seed, config)
    timed = figures.decisions
    placed = figures.placed_after + figures.placed_directly
    return RunFigures(
        float(timed.sum()) or 1e-9,
        placed,
        pods - placed,
        timed,
        figures.preemptions,
        preemption=figures,
    )


def run_bench(
    *,
    nodes: int,
    pods: int,
    workload: str = "plain",
    repeat: int = 3,
    seed: int = 1,
    config: SchedulerConfiguration | None = None,
    gang_size: int = 0,
    unschedulable: int = 0,
    apps: int = 0,
) -> BenchReport:
    if workload == "spark":
        runs = [_spark_run(nodes, pods, apps, seed + r, config) for r in range(repeat)]
    elif workload == "preemption":
        runs = [_preemption_run(nodes, pods, seed + r, config) for r in range(repeat)]
    else:
        runs = [
            _one_run(nodes, pods, workload, seed + r, config, gang_size, unschedulable)
            for r in range(repeat)
        ]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return BenchReport(nodes, pods, workload, runs, peak, gang_size, unschedulable, apps)


def _median_rates(rates: list[float], unit: str) -> str:
    return (
        f"median {statistics.median(rates):,.0f} {unit} "
        f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})"
    )


def _percentile_us(latencies: np.ndarray, q: int) -> float:
    return float(np.percentile(latencies, q)) * 1e6 if latencies.size else 0.0


def _render_spark(runs: list[RunFigures]) -> list[str]:
    spark = [r.spark for r in runs if r.spark is not None]
    last = spark[-1]
    drivers_p50 = statistics.median(_percentile_us(s.driver_latencies, 50) for s in spark)
    executors_p50 = statistics.median(_percentile_us(s.executor_latencies, 50) for s in spark)
    share = 100 * last.on_reserved_slot / last.executors_bound if last.executors_bound else 0.0
    return [
        f"drivers         {_median_rates([s.drivers_per_second for s in spark], 'admitted/s')}"
        f", p50 {drivers_p50:,.0f} µs per driver (with room for its executors)",
        f"executors       {_median_rates([s.executors_per_second for s in spark], 'bound/s')}"
        f", p50 {executors_p50:,.0f} µs per executor",
        f"reserved slots  {last.on_reserved_slot} of {last.executors_bound} executors bound on "
        f"their reserved slot ({share:.1f} %), {last.executors} created (last run)",
        f"drivers waited  {last.drivers_waited} of {last.apps} waited for room, "
        f"{last.drivers_admitted} admitted (last run)",
    ]


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "none placed"


def _render_gpu(runs: list[RunFigures]) -> list[str]:
    gpu = [r.gpu for r in runs if r.gpu is not None]
    last = gpu[-1]
    vram_p50 = statistics.median(_percentile_us(g.vram_latencies, 50) for g in gpu)
    other_p50 = statistics.median(_percentile_us(g.other_latencies, 50) for g in gpu)
    return [
        f"VRAM pods       p50 {vram_p50:,.0f} µs per pod with a VRAM request, "
        f"{other_p50:,.0f} µs per other pod (medians)",
        f"GPU pods        {last.gpu_placed} placed, {last.gpu_unschedulable} unschedulable "
        f"of {last.gpu_pods} ({last.vram_pods} asking VRAM, {last.product_pods} naming "
        "products; last run)",
        f"VRAM check      {last.vram_qualifying} of {last.vram_placed} VRAM pods placed on "
        f"cards holding their request ({_share(last.vram_qualifying, last.vram_placed)}); "
        f"{last.product_accepted} of {last.product_placed} product pods on an accepted product "
        f"({_share(last.product_accepted, last.product_placed)}); "
        f"{last.nodes_over} nodes given more GPUs than they have (last run)",
    ]


def render(report: BenchReport) -> str:
    rates = [r.pods_per_second for r in report.runs]
    p50 = [_percentile_us(r.latencies, 50) for r in report.runs]
    p99 = [_percentile_us(r.latencies, 99) for r in report.runs]
    last = report.runs[-1]
    gangs = f", gangs of {report.gang_size}" if report.gang_size else ""
    if report.backlog:
        gangs += f", {report.backlog} unschedulable waiting"
    if report.workload == "spark":
        low, high = SPARK_EXECUTORS
        gangs += f" + {report.apps} Spark apps ({low}-{high} executors each)"
    unit = "gang" if report.gang_size else "pod"
    header = (
        f"kubenexus bench: {report.nodes} nodes, {report.pods} pods{gangs}, "
        f"workload={report.workload}, {len(report.runs)} run(s) — "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )
    if report.workload == "preemption":  # decisions that evict are what is timed
        preemptions = [r.preemption for r in report.runs if r.preemption is not None]
        lines = [header, *bench_preemption.render(preemptions)]
        lines.append(f"peak RSS        {report.peak_rss_bytes / 2**20:,.0f} MiB")
        return "\n".join(lines)
    lines = [header, f"throughput      {_median_rates(rates, 'pods/s')}"]
    if report.gang_size:
        gang_rates = [r.decisions / r.seconds for r in report.runs]
        lines.append(
            f"gangs           median {statistics.median(gang_rates):,.0f} gangs/s "
            f"(runs: {', '.join(f'{r:,.1f}' for r in gang_rates)})"
        )
    if report.workload == "spark":
        lines += _render_spark(report.runs)
    if report.workload == "gpu":
        lines += _render_gpu(report.runs)
    if report.workload == "affinity" and last.affinity is not None:
        figures = last.affinity
        lines.append(
            f"rules           {figures.violations} broken among {figures.placed} placed "
            f"({figures.anti_affinity_pods} with required anti-affinity on the hostname, "
            f"{figures.spread_pods} with a zone spread constraint; "
            f"{figures.running:,} pods already running; last run)"
        )
    if report.workload == "tenants" and last.tenants is not None:
        t = last.tenants
        lines.append(
            f"profiles        {t.on_own_tier} of {t.gpu_pods} GPU pods on their tenant's "
            f"hardware tier; {t.whole_cliques} of {t.clique_gangs} clique-bound gangs in one "
            "clique (last run)"
        )
    lines += [
        f"latency p50     median {statistics.median(p50):,.0f} µs per {unit}",
        f"latency p99     median {statistics.median(p99):,.0f} µs per {unit}",
        f"placed          {last.scheduled} scheduled, "
        f"{last.unschedulable} unschedulable (last run)",
        f"peak RSS        {report.peak_rss_bytes / 2**20:,.0f} MiB",
    ]
    return "\n".join(lines)
