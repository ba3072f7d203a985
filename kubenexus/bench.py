"""``kubenexus bench``: scheduling throughput, per-pod latency and memory on a synthetic cluster.

Only the decide-and-assume loop is timed (queue pop → filter → score → reserve → assume), the
same path the daemon runs per pod; building the cluster and queueing the pods is not.
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
from kubenexus.api.objects import NodeInfo, PodInfo, Taint, Toleration
from kubenexus.config import SchedulerConfiguration, build_scheduler
from kubenexus.scheduler import Scheduled, Scheduler

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


@dataclass(frozen=True, slots=True)
class RunFigures:
    seconds: float
    scheduled: int
    unschedulable: int
    latencies: np.ndarray  # per decision: one pod, or one whole gang
    decisions: int

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
) -> BenchReport:
    runs = [
        _one_run(nodes, pods, workload, seed + r, config, gang_size, unschedulable)
        for r in range(repeat)
    ]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return BenchReport(nodes, pods, workload, runs, peak, gang_size, unschedulable)


def render(report: BenchReport) -> str:
    rates = [r.pods_per_second for r in report.runs]
    p50 = [float(np.percentile(r.latencies, 50)) * 1e6 for r in report.runs]
    p99 = [float(np.percentile(r.latencies, 99)) * 1e6 for r in report.runs]
    last = report.runs[-1]
    gangs = f", gangs of {report.gang_size}" if report.gang_size else ""
    if report.backlog:
        gangs += f", {report.backlog} unschedulable waiting"
    unit = "gang" if report.gang_size else "pod"
    lines = [
        f"kubenexus bench: {report.nodes} nodes, {report.pods} pods{gangs}, "
        f"workload={report.workload}, {len(report.runs)} run(s) — "
        f"Python {platform.python_version()}, numpy {np.__version__}",
        f"throughput      median {statistics.median(rates):,.0f} pods/s "
        f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})",
    ]
    if report.gang_size:
        gang_rates = [r.decisions / r.seconds for r in report.runs]
        lines.append(
            f"gangs           median {statistics.median(gang_rates):,.0f} gangs/s "
            f"(runs: {', '.join(f'{r:,.1f}' for r in gang_rates)})"
        )
    lines += [
        f"latency p50     median {statistics.median(p50):,.0f} µs per {unit}",
        f"latency p99     median {statistics.median(p99):,.0f} µs per {unit}",
        f"placed          {last.scheduled} scheduled, "
        f"{last.unschedulable} unschedulable (last run)",
        f"peak RSS        {report.peak_rss_bytes / 2**20:,.0f} MiB",
    ]
    return "\n".join(lines)
