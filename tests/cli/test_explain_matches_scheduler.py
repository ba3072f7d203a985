"""explain's answer, asked just before the scheduler tries the pod, is what the scheduler then
does (the bundled examples, the simulator's scheduler): executors, gang members, drivers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubenexus import simulator
from kubenexus.explain import explain_simulation
from kubenexus.scheduler import Scheduled
from kubenexus.scheduler.explaining import Explanation, explain

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _explained_then_done(
    monkeypatch: pytest.MonkeyPatch, workload: str
) -> list[tuple[Explanation, str]]:
    """(explain's answer right before the scheduler's step that decided the pod, the node the
    scheduler chose ("" when it placed it nowhere)) for every pod decided."""
    seen: list[tuple[Explanation, str]] = []
    build = simulator.build_scheduler

    def built(*args: Any, **kwargs: Any) -> Any:
        scheduler = build(*args, **kwargs)
        step = scheduler.schedule_next

        def explained_step() -> Any:
            asked = {e.pod.key: explain(scheduler, e.pod) for e in scheduler.queue.entries()}
            outcomes = step()
            for outcome in outcomes:
                node = outcome.node if isinstance(outcome, Scheduled) else ""
                seen.append((asked[outcome.pod.key], node))
            return outcomes

        scheduler.schedule_next = explained_step
        return scheduler

    monkeypatch.setattr(simulator, "build_scheduler", built)
    simulator.simulate(EXAMPLES / "cluster.yaml", EXAMPLES / f"{workload}.yaml")
    return seen


def test_an_executor_goes_where_explain_said(monkeypatch: pytest.MonkeyPatch) -> None:
    """spark.yaml: the last executor (one free slot of its driver's reservation left, on
    cpu-large-1) claims that slot as the scheduler does, whatever scores rank first."""
    seen = _explained_then_done(monkeypatch, "spark")
    (answer, node) = next(
        (a, n) for a, n in seen if a.pod == "default/spark-pi-1f2e3d4c5b6a7980-exec-4"
    )
    assert node == "cpu-large-1"
    assert (answer.verdict, answer.node) == ("Placeable", node)


def test_a_gang_member_is_placeable_where_the_scheduler_then_binds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gangs.yaml, gang sweep-a (6 members): a member's verdict names the node the gang's
    plan gives it (where the scheduler binds it), not where it alone would go."""
    seen = _explained_then_done(monkeypatch, "gangs")
    for asked, node in seen:
        if asked.pod.startswith("default/sweep-a-") and asked.verdict == "Placeable":
            assert asked.node == node, (asked.pod, asked.node, node)


def test_explains_trial_of_a_gang_places_members_as_the_scheduler_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gangs.yaml, gang distributed-training: explain plans the members by the scheduler's
    own path, in its order, so each member's planned node is where it is then bound."""
    seen = _explained_then_done(monkeypatch, "gangs")
    done = {a.pod: n for a, n in seen if a.pod.startswith("default/distributed-training-")}
    assert len(done) == 3
    for asked, _ in seen:
        if asked.pod in done:
            assert asked.gang is not None
            assert {m.pod: m.node for m in asked.gang.members} == done, asked.pod


DRIVER = """\
apiVersion: v1
kind: Node
metadata: {name: only}
status: {allocatable: {cpu: "4", memory: 16Gi, pods: "110"}}
---
apiVersion: v1
kind: Pod
metadata:
  name: driver
  namespace: default
  labels: {spark-role: driver, spark-app-selector: app-1}
  annotations:
    scheduling.kubenexus.io/executor-count: "4"
    scheduling.kubenexus.io/executor-cpu: "2"
    scheduling.kubenexus.io/executor-memory: 2Gi
spec:
  containers:
  - name: c
    resources: {requests: {cpu: "1", memory: 1Gi}}
"""


def test_a_driver_without_room_for_its_executors_is_not_placeable(tmp_path: Path) -> None:
    """A Spark driver fits alone but its 4 executors (2 cpu each) cannot all be held on the
    4-cpu node: the scheduler leaves it Unschedulable ('waits for room for all 4 executors'),
    and explain says Pending, with no node."""
    path = tmp_path / "driver.yaml"
    path.write_text(DRIVER)
    result = simulator.simulate(path)
    (row,) = result.pods
    assert row.status == "Unschedulable"
    answer = explain_simulation(result, "default/driver")
    assert answer.verdict == "Pending", (answer.verdict, answer.node)
    assert answer.node == ""


GHOST = """\
apiVersion: v1
kind: Node
metadata: {name: a}
status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
---
apiVersion: v1
kind: Pod
metadata: {name: ghost, namespace: default}
spec:
  nodeName: gone
  containers:
  - name: c
    resources: {requests: {cpu: "1"}}
status: {phase: Running}
"""


def test_a_running_pod_on_a_node_not_in_the_input_is_not_pending(tmp_path: Path) -> None:
    """A pod running on a node the input lacks (the table says Running on gone) is not
    Pending."""
    path = tmp_path / "ghost.yaml"
    path.write_text(GHOST)
    result = simulator.simulate(path)
    answer = explain_simulation(result, "default/ghost")
    assert answer.verdict != "Pending", (answer.verdict, answer.node, answer.message)


@pytest.mark.parametrize("workload", ["spark", "gangs"])
def test_explains_trials_leave_the_scheduler_as_it_was(workload: str) -> None:
    """Every pod of the run explained (drivers, executors, gang members): the pods counted on
    each node, the queue and the reservations' free slots are what they were before."""
    result = simulator.simulate(EXAMPLES / "cluster.yaml", EXAMPLES / f"{workload}.yaml")
    scheduler = result.scheduler
    assert scheduler is not None

    def picture() -> tuple[object, ...]:
        cache = scheduler.cache
        on_nodes = {
            n: sorted(p.key for p in cache.pods_on(n)) for n in cache.nodes.names_in_order()
        }
        queued = sorted(e.pod.key for e in scheduler.queue.entries())
        slots = {
            key: sorted(s.spec.name for s in held.free_slots())
            for key, held in scheduler.reserving.book.held.items()
        }
        return on_nodes, queued, slots, cache.nodes.free.copy().tolist()

    before = picture()
    for row in result.pods:
        explain_simulation(result, row.pod)
    assert picture() == before
