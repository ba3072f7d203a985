"""``kubenexus bench --workload preemption``: how long a preemption decision takes on a full
cluster.

Every node is filled by ten running pods of low priority (50,000 on 5,000 nodes) of 500
Deployments, each with a PodDisruptionBudget — a fifth of them allowing no disruption; then
pods of high priority arrive that fit nowhere until pods are evicted. Each decision (filter
everywhere, find the victims, choose the node) is timed; the victims' deletion is then
replayed, as the API would report it, and the preemptor placed on its nominated node.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from kubenexus.api import keys
from kubenexus.api.objects import NodeInfo, PodInfo
from kubenexus.api.pod_rules import LabelRequirement, LabelSelector
from kubenexus.config import SchedulerConfiguration, build_scheduler
from kubenexus.scheduler import Scheduled, Scheduler, Unschedulable
from kubenexus.scheduler.preempting import DisruptionBudget

PODS_PER_NODE = 10
APPS = 500  # running pods belong to this many Deployments, each with its budget
GUARDED_SHARE = 0.2  # of those budgets allow no disruption (the rest allow many)


@dataclass(frozen=True, slots=True)
class PreemptionFigures:
    running: int
    preemptions: int
    placed_directly: int  # urgent pods that found room without evicting (freed by others)
    placed_after: int  # preemptors bound on their nominated node once the victims were gone
    decisions: np.ndarray  # seconds per preemption decision
    victims: list[int]
    guarded_evicted: int  # victims covered by a budget (only when no other choice existed)

    @property
    def median_ms(self) -> float:
        return float(np.median(self.decisions)) * 1e3 if self.decisions.size else 0.0

    @property
    def p99_ms(self) -> float:
        return float(np.percentile(self.decisions, 99)) * 1e3 if self.decisions.size else 0.0


def _running(node: NodeInfo, index: int, rng: random.Random) -> PodInfo:
    cpu = node.allocatable[keys.CPU] // PODS_PER_NODE
    memory = node.allocatable[keys.MEMORY] // PODS_PER_NODE
    app = rng.randrange(APPS)
    return PodInfo(
        namespace="bench",
        name=f"{node.name}-run-{index}",
        uid=f"run-{node.name}-{index}",
        requests=MappingProxyType({keys.CPU: cpu, keys.MEMORY: memory, keys.PODS: 1}),
        scheduler_name=keys.SCHEDULER_NAME,
        node_name=node.name,
        phase="Running",
        priority=rng.choice((0, 0, 10, 50)),
        started=1_700_000_000.0 + rng.randrange(86_400),
        score_cpu=cpu,
        score_memory=memory,
        labels=MappingProxyType({"app": f"app-{app}"}),
    )


def _preemptor(i: int, rng: random.Random) -> PodInfo:
    cpu = rng.choice((1_000, 2_000, 4_000))
    memory = rng.choice((1, 2, 4)) * 2**30
    return PodInfo(
        namespace="bench",
        name=f"urgent-{i:05d}",
        uid=f"urgent-{i}",
        requests=MappingProxyType({keys.CPU: cpu, keys.MEMORY: memory, keys.PODS: 1}),
        scheduler_name=keys.SCHEDULER_NAME,
        priority=1_000,
        score_cpu=cpu,
        score_memory=memory,
    )


def run(
    node_list: list[NodeInfo],
    count: int,
    seed: int,
    config: SchedulerConfiguration | None,
) -> PreemptionFigures:
    rng = random.Random(seed)
    now = [0.0]
    scheduler = build_scheduler(config, clock=lambda: now[0])
    for node in node_list:
        scheduler.upsert_node(node)
    running = 0
    for node in node_list:
        for index in range(PODS_PER_NODE):
            scheduler.upsert_pod(_running(node, index, rng))
            running += 1
    guarded: set[str] = set()
    for app in range(APPS):
        name = f"app-{app}"
        allowed = 0 if app < APPS * GUARDED_SHARE else 1_000
        if not allowed:
            guarded.add(name)
        selector = LabelSelector((LabelRequirement("app", "In", frozenset({name})),))
        scheduler.set_disruption_budget(DisruptionBudget("bench", name, selector, allowed))
    decisions: list[float] = []
    victims: list[int] = []
    guarded_evicted = placed_after = placed_directly = 0
    clock = time.perf_counter
    for i in range(count):
        scheduler.upsert_pod(_preemptor(i, rng))
        started = clock()
        outcomes = scheduler.schedule_next()
        elapsed = clock() - started
        for outcome in outcomes:
            if isinstance(outcome, Scheduled):
                scheduler.binding_succeeded(outcome.pod.key)
                placed_directly += 1
            elif isinstance(outcome, Unschedulable) and outcome.preemption is not None:
                decisions.append(elapsed)
                gone = outcome.preemption.victims
                victims.append(len(gone))
                guarded_evicted += sum(1 for v in gone if v.labels.get("app") in guarded)
                for victim in gone:  # the API reports them deleted
                    scheduler.remove_pod(victim.key)
                now[0] += 60  # past the preemptor's backoff
                placed_after += _place(scheduler, outcome.pod.key)
    return PreemptionFigures(
        running,
        len(decisions),
        placed_directly,
        placed_after,
        np.array(decisions),
        victims,
        guarded_evicted,
    )


def _place(scheduler: Scheduler, key: str) -> int:
    """Run the queue (the preemptor is retried; ``run_until_idle`` binds what it places); 1
    if the preemptor was placed."""
    placed = (o.pod.key for o in scheduler.run_until_idle() if isinstance(o, Scheduled))
    return int(key in set(placed))


def render(figures: list[PreemptionFigures]) -> list[str]:
    last = figures[-1]
    medians = [f.median_ms for f in figures]
    p99 = [f.p99_ms for f in figures]
    per = statistics.mean(last.victims) if last.victims else 0.0
    return [
        f"preemption      median {statistics.median(medians):.1f} ms per decision "
        f"(runs: {', '.join(f'{m:.1f}' for m in medians)}), p99 "
        f"{statistics.median(p99):.1f} ms",
        f"victims         {per:.1f} per preemption; {last.guarded_evicted} covered by a "
        f"budget; {last.placed_after} of {last.preemptions} preemptors bound on their "
        f"nominated node, {last.placed_directly} urgent pods placed without evicting; "
        f"{last.running:,} pods were running (last run)",
    ]
