"""``kubenexus bench``: scheduling throughput, per-pod latency and memory on a synthetic cluster.

Only the decide-and-assume loop is timed (queue pop → filter → score → reserve → assume), the
same path the daemon runs per pod; building the cluster and queueing the pods is not.

``--workload spark`` adds Spark applications: a driver asking room for N executors (a
ResourceReservation), whose executors are created only once the driver is placed, as the Spark
operator's running driver creates them. Every figure it prints is counted from the decisions.
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

from kubenexus.api import keys
from kubenexus.api.objects import NodeInfo, PodInfo, Taint, Toleration, pod_from_dict
from kubenexus.config import SchedulerConfiguration, build_scheduler
from kubenexus.scheduler import Outcome, Scheduled, Scheduler

GIB = 2**30
# (cpu millicores, memory bytes, GPUs, taint, weight in the mix)
_NODE_SHAPES = (
    ("general-8", 8_000, 32 * GIB, 0, None, 4),
    ("general-32", 32_000, 128 * GIB, 0, None, 3),
    ("memory-16", 16_000, 256 * GIB, 0, None, 1),
    ("gpu-64", 64_000, 512 * GIB, 8, Taint("nvidia.com/gpu", "present", "NoSchedule"), 1),
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
    pods = []
    for i in range(count):
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
        pods.append(
            PodInfo(
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
        )
    return pods


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
    scheduler = build_scheduler(config)
    node_list = synthetic_nodes(nodes, rng, numa=workload == "numa")
    for node in node_list:
        scheduler.upsert_node(node)
    _backlog(scheduler, backlog)
    for pod in synthetic_pods(pods, workload, rng, gang_size):
        scheduler.upsert_pod(pod)
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
    seconds = clock() - started
    return RunFigures(seconds, scheduled, unschedulable, latencies[:calls], calls)


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
    lines = [
        f"kubenexus bench: {report.nodes} nodes, {report.pods} pods{gangs}, "
        f"workload={report.workload}, {len(report.runs)} run(s) — "
        f"Python {platform.python_version()}, numpy {np.__version__}",
        f"throughput      {_median_rates(rates, 'pods/s')}",
    ]
    if report.gang_size:
        gang_rates = [r.decisions / r.seconds for r in report.runs]
        lines.append(
            f"gangs           median {statistics.median(gang_rates):,.0f} gangs/s "
            f"(runs: {', '.join(f'{r:,.1f}' for r in gang_rates)})"
        )
    if report.workload == "spark":
        lines += _render_spark(report.runs)
    lines += [
        f"latency p50     median {statistics.median(p50):,.0f} µs per {unit}",
        f"latency p99     median {statistics.median(p99):,.0f} µs per {unit}",
        f"placed          {last.scheduled} scheduled, "
        f"{last.unschedulable} unschedulable (last run)",
        f"peak RSS        {report.peak_rss_bytes / 2**20:,.0f} MiB",
    ]
    return "\n".join(lines)
