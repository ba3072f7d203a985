"""``kubenexus bench-explain``: how long `kubenexus explain` takes to answer on a large cluster.

The bench's synthetic cluster (5,000 nodes of mixed shapes, taints and GPUs, NUMA zones on
every node) is filled with pods (the NUMA workload, so zones and CPU sets are in use), then
three questions are timed, each several times (the median is reported):

- a pod that fits nowhere (single-numa-node, larger than most zones): every node's fate,
  grouped, and the closest nodes with their shortfalls;
- a plain pod that fits almost everywhere: the score breakdown over every feasible node;
- a member of a gang that cannot complete: the gang planned in turn, and the blocking member;
- a member of a large gang (``--gang-size``, 1,024 by default) that fits: every member planned
  by the scheduler's own gang path, each with its node.

This is the core's share of a live `kubenexus explain`; the live command adds one LIST per kind
of object (the daemon's informers, read once): ``--pod NS/NAME`` times that against a live
API server (reading it, then answering).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.bench import synthetic_nodes, synthetic_pods
from kubenexus.config import SchedulerConfiguration, build_scheduler
from kubenexus.explain import explain_live
from kubenexus.scheduler import Scheduler
from kubenexus.scheduler.explaining import Explanation, explain

TARGET_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ExplainFigures:
    nodes: int
    pods: int
    fill_seconds: float
    # question → (median seconds, runs, what explain answered in one line)
    questions: dict[str, tuple[float, int, str]]


def _pod(name: str, cpu: int, memory: int, **fields: object) -> PodInfo:
    return PodInfo(
        namespace="bench",
        name=name,
        uid=f"uid-{name}",
        requests=MappingProxyType({keys.CPU: cpu, keys.MEMORY: memory, keys.PODS: 1}),
        scheduler_name=keys.SCHEDULER_NAME,
        score_cpu=cpu,
        score_memory=memory,
        **fields,  # type: ignore[arg-type]
    )


def _cluster(nodes: int, pods: int, seed: int, config: SchedulerConfiguration | None) -> Scheduler:
    rng = random.Random(seed)
    scheduler = build_scheduler(config)
    for node in synthetic_nodes(nodes, rng, numa=True):
        scheduler.upsert_node(node)
    for pod in synthetic_pods(pods, "numa", rng):
        scheduler.upsert_pod(pod)
    scheduler.run_until_idle()
    return scheduler


def _summary(answer: Explanation) -> str:
    gang = answer.gang
    if gang is not None and gang.blocking:
        return f"{answer.verdict}; gang blocked by {', '.join(gang.blocking)}"
    if gang is not None and len(gang.members) > 8:
        fits = sum(1 for m in gang.members if m.state == "Fits")
        return f"{answer.verdict} on {answer.node or '-'}; {fits}/{len(gang.members)} members fit"
    if answer.scores:
        best = answer.scores[0]
        return (
            f"{answer.verdict} on {answer.node or best.node}; {answer.feasible} feasible, "
            f"best {best.node} {best.total:.1f}"
        )
    return f"{answer.verdict}; {len(answer.groups)} groups, closest {answer.closest[0].node}"


def _timed(question: Callable[[], Explanation], repeat: int) -> tuple[float, int, str]:
    seconds = []
    answer: Explanation | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = question()
        seconds.append(time.perf_counter() - started)
    assert answer is not None
    return statistics.median(seconds), repeat, _summary(answer)


def run_explain_bench(
    *,
    nodes: int,
    pods: int,
    repeat: int,
    seed: int,
    config: SchedulerConfiguration | None,
    gang_size: int = 1024,
) -> ExplainFigures:
    started = time.perf_counter()
    scheduler = _cluster(nodes, pods, seed, config)
    fill = time.perf_counter() - started
    numa = MappingProxyType({keys.NUMA_POLICY_KEYS[0]: "single-numa-node"})
    stuck = _pod("too-wide", 48_000, 64 * 2**30, annotations=numa)
    plain = _pod("web", 500, 2**30)
    gang = "bench/explained"
    members = [
        _pod(f"gang-{i}", 2000 if i else 4_000_000, 2**30, gang=gang, gang_min=4) for i in range(4)
    ]
    large = [
        _pod(f"large-{i}", 500, 2**30, gang="bench/large", gang_min=gang_size)
        for i in range(gang_size)
    ]
    for pod in (stuck, plain, *members, *large):
        scheduler.upsert_pod(pod)
    questions = {
        "pending pod (fits nowhere)": _timed(lambda: explain(scheduler, stuck), repeat),
        "placeable pod (score breakdown)": _timed(lambda: explain(scheduler, plain), repeat),
        "gang member (gang cannot complete)": _timed(
            lambda: explain(scheduler, members[1]), repeat
        ),
    }
    if large:
        questions[f"member of a {gang_size}-member gang (fits)"] = _timed(
            lambda: explain(scheduler, large[-1]), repeat
        )
    return ExplainFigures(nodes, scheduler.cache.pod_count, fill, questions)


def render(figures: ExplainFigures) -> str:
    lines = [
        f"explain on {figures.nodes} nodes, {figures.pods} pods placed "
        f"(filled in {figures.fill_seconds:.1f} s)",
    ]
    worst = 0.0
    for question, (seconds, runs, summary) in figures.questions.items():
        worst = max(worst, seconds)
        lines.append(f"  {question}: {seconds * 1000:.0f} ms (median of {runs}) - {summary}")
    verdict = "within" if worst <= TARGET_SECONDS else "OVER"
    lines.append(
        f"slowest answer {worst * 1000:.0f} ms: {verdict} the {TARGET_SECONDS:.0f} s target "
        f"({TARGET_SECONDS / worst if worst else 0:.1f}x margin)"
    )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class LiveFigures:
    pod: str
    nodes: int
    pods: int
    read: list[float]  # seconds per run: lists and parsing (the daemon's informers, once)
    answer: list[float]  # seconds per run: the core's answer
    summary: str


async def run_live_explain_bench(
    target: tuple[str, str],
    config: SchedulerConfiguration,
    *,
    repeat: int,
    kubeconfig: str | None,
    context: str | None,
    server: str | None,
) -> LiveFigures:
    """`kubenexus explain` against a live API server, timed: reading the cluster, answering."""
    reads: list[float] = []
    answers: list[float] = []
    answer: Explanation | None = None
    timings: dict[str, float] = {}
    for _ in range(repeat):
        answer = await explain_live(
            *target, config, kubeconfig=kubeconfig, context=context, server=server, timings=timings
        )
        reads.append(timings["read"])
        answers.append(timings["answer"])
    assert answer is not None
    nodes, pods = int(timings["nodes"]), int(timings["pods"])
    return LiveFigures("/".join(target), nodes, pods, reads, answers, _summary(answer))


def render_live(figures: LiveFigures) -> str:
    read, answer = statistics.median(figures.read), statistics.median(figures.answer)
    total = read + answer
    verdict = "within" if total <= TARGET_SECONDS else "OVER"
    return "\n".join(
        [
            f"explain {figures.pod} live: {figures.nodes} nodes, {figures.pods} pods "
            f"(median of {len(figures.read)})",
            f"  reading the cluster (lists, parsing): {read * 1000:.0f} ms",
            f"  answering (the core): {answer * 1000:.0f} ms - {figures.summary}",
            f"total {total * 1000:.0f} ms: {verdict} the {TARGET_SECONDS:.0f} s target",
        ]
    )
