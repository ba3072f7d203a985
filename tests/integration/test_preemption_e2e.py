"""Preemption carried out by the daemon (issue #14, the shell's part): victims marked with
``DisruptionTarget``, deleted and told why; the preemptor's nomination written and cleared;
PodDisruptionBudgets read for the core; only the leader evicts; failures retried, bounded.

The core's decisions are injected (``_decide``): these tests hold whatever the core chooses.
Neither server runs a kubelet, so a deleted victim on a node stays terminating until the test
stands in for its kubelet (``stand_in_for_kubelet``), as kube-scheduler waits for it to be gone.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from kubenexus.api.objects import PodInfo, pod_from_dict
from kubenexus.scheduler import Outcome, Preemption, Unschedulable
from kubenexus.shell.app import Daemon
from kubenexus.shell.preempter import PreemptionSettings
from tests.integration.conftest import (
    FAST_LEASE,
    Cluster,
    eventually,
    in_priority_class,
    metric_value,
    running_daemon,
    stand_in_for_kubelet,
)
from tests.integration.test_ha import _lease_held_by

FAST = PreemptionSettings(attempts=3, retry_initial_seconds=0.01, retry_max_seconds=0.05)
MESSAGE = "kubenexus-scheduler: preempting to accommodate a higher priority pod"
PDBS = "poddisruptionbudgets"
POLICY = {"group": "policy", "version": "v1"}

Rewrite = Callable[[Unschedulable], Unschedulable]


_DECIDED: weakref.WeakKeyDictionary[Daemon, dict[str, list[Rewrite]]] = weakref.WeakKeyDictionary()


def _decide(daemon: Daemon, pod: str, rewrite: Rewrite) -> None:
    """The next time the core finds ``pod`` unschedulable, its outcome is ``rewrite``'s; until
    then and afterwards, the core's own preemptions and nominations for ``pod`` are left out
    (the test decides for it: the core, not told of the injected preemption, would clear the
    nomination it did not make)."""
    decided = _DECIDED.get(daemon)
    if decided is None:
        decided = _DECIDED[daemon] = {}
        original = daemon.scheduler.schedule_next

        def schedule_next() -> list[Outcome]:
            return [_rewritten(outcome, decided) for outcome in original()]

        daemon.scheduler.schedule_next = schedule_next  # type: ignore[method-assign]
    decided.setdefault(pod, []).append(rewrite)


def _rewritten(outcome: Outcome, decided: dict[str, list[Rewrite]]) -> Outcome:
    if not isinstance(outcome, Unschedulable) or outcome.pod.name not in decided:
        return outcome
    rewrites = decided[outcome.pod.name]
    if rewrites:
        return rewrites.pop(0)(outcome)
    return dataclasses.replace(outcome, preemption=None, nominate=None)


def _preempt(node: str, *victims: PodInfo) -> Rewrite:
    def rewrite(outcome: Unschedulable) -> Unschedulable:
        preemption = Preemption(outcome.pod, node, victims)
        return dataclasses.replace(outcome, preemption=preemption, nominate=node)

    return rewrite


def _nominate(node: str) -> Rewrite:
    return lambda outcome: dataclasses.replace(outcome, nominate=node)


def _info(cluster: Cluster, name: str) -> PodInfo:
    pod = cluster.get_pod(name)
    assert pod is not None, name
    return pod_from_dict(pod)


def _condition(cluster: Cluster, name: str, kind: str) -> dict[str, Any] | None:
    pod = cluster.get_pod(name) or {}
    conditions = (pod.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), None)


def _terminating(cluster: Cluster, name: str) -> bool:
    return bool(((cluster.get_pod(name) or {}).get("metadata") or {}).get("deletionTimestamp"))


def _nominated(cluster: Cluster, name: str) -> str | None:
    return ((cluster.get_pod(name) or {}).get("status") or {}).get("nominatedNodeName")


async def test_victims_are_marked_deleted_and_told_and_the_preemptor_nominated(
    cluster: Cluster,
) -> None:
    cluster.node("a", cpu="4")
    cluster.pod("low-1", cpu="2", node="a")
    cluster.pod("low-2", cpu="2", node="a")
    async with running_daemon(cluster, preemption=FAST) as daemon:
        victims = (_info(cluster, "low-1"), _info(cluster, "low-2"))
        _decide(daemon, "high", _preempt("a", *victims))
        cluster.pod("high", cpu="3")
        for victim in ("low-1", "low-2"):
            condition = await eventually(
                lambda v=victim: _condition(cluster, v, "DisruptionTarget")
            )
            assert {k: condition[k] for k in ("status", "reason", "message")} == {
                "status": "True",
                "reason": "PreemptionByScheduler",
                "message": MESSAGE,
            }
            # Deleted with the default grace period: on a node, it is terminating.
            await eventually(lambda v=victim: _terminating(cluster, v))
            [event] = await eventually(lambda v=victim: cluster.events(v, "Preempted"))
            assert event["type"] == "Normal"
            assert event["message"] == "Preempted by default/high on node a"
        await eventually(lambda: _nominated(cluster, "high") == "a")
        # Not bound while its victims are still terminating.
        assert cluster.node_of("high") is None
        assert sorted(stand_in_for_kubelet(cluster)) == ["low-1", "low-2"]
        await eventually(lambda: cluster.node_of("high") == "a")
        assert cluster.api.bindings["default/high"] == 1
        metrics = daemon.metrics.render().decode()
        assert metric_value(metrics, "scheduler_preemption_attempts_total") == 1
        assert metric_value(metrics, "scheduler_preemption_victims_count") == 1
        assert metric_value(metrics, "scheduler_preemption_victims_sum") == 2
        assert daemon.preempter.evicted == 2
        assert daemon.preempter.failed == 0


async def test_a_nomination_is_written_then_cleared(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    async with running_daemon(cluster, preemption=FAST) as daemon:
        _decide(daemon, "big", _nominate("a"))
        cluster.pod("big", cpu="64")
        await eventually(lambda: _nominated(cluster, "big") == "a")
        _decide(daemon, "big", _nominate(""))
        cluster.node("b", cpu="4")  # tried again (it still fits nowhere)
        await eventually(lambda: "nominatedNodeName" not in cluster.get_pod("big")["status"])
        await eventually(lambda: daemon.preempter.in_flight == 0)  # its task then ends


async def test_a_later_nomination_is_never_overtaken_by_an_earlier_one(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    cluster.node("b", cpu="4")
    async with running_daemon(cluster, preemption=FAST) as daemon:
        cluster.pod("big", cpu="64")
        await eventually(lambda: cluster.events("big", "FailedScheduling"))
        big = _info(cluster, "big")
        for node in ("a", "b", "", "a", ""):  # decided in one go: the last one is what stays
            daemon.preempter.submit(big, None, node)
        await eventually(lambda: daemon.preempter.in_flight == 0)
        assert "nominatedNodeName" not in cluster.get_pod("big")["status"]


async def test_one_preemption_per_preemptor_and_no_victim_deleted_twice(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    cluster.pod("low", cpu="2", node="a")
    cluster.pod("other", cpu="1", node="a")
    async with running_daemon(cluster, preemption=FAST) as daemon:
        cluster.pod("high", cpu="64")
        cluster.pod("high-2", cpu="64")
        await eventually(lambda: cluster.events("high-2", "FailedScheduling"))
        high, high_2 = _info(cluster, "high"), _info(cluster, "high-2")
        low, other = _info(cluster, "low"), _info(cluster, "other")
        preemption = Preemption(high, "a", (low,))
        daemon.preempter.submit(high, preemption, "a")
        daemon.preempter.submit(high, preemption, "a")  # in flight: refused
        # Another preemptor choosing the same victim (and one more) deletes only the other one.
        daemon.preempter.submit(high_2, Preemption(high_2, "a", (low, other)), None)
        await eventually(lambda: _terminating(cluster, "low") and _terminating(cluster, "other"))
        await eventually(lambda: daemon.preempter.in_flight == 0)
        assert (daemon.preempter.evicted, daemon.preempter.refused) == (2, 1)
        # Carried out already (its victim is terminating): sending it again deletes nothing.
        await eventually(lambda: daemon.scheduler.cache.pod_count and _cached_deleting(daemon, low))
        daemon.preempter.submit(high, Preemption(high, "a", (_cached(daemon, low),)), "a")
        await eventually(lambda: daemon.preempter.in_flight == 0)
        assert daemon.preempter.evicted == 2
        assert len(cluster.events("low", "Preempted")) == 1
        if not cluster.real:
            deletes = [p for m, p, _ in cluster.api.calls if m == "DELETE"]
            assert sorted(deletes) == [
                "/api/v1/namespaces/default/pods/low",
                "/api/v1/namespaces/default/pods/other",
            ]
        metrics = daemon.metrics.render().decode()
        assert metric_value(metrics, "scheduler_preemption_attempts_total") == 4


def _cached(daemon: Daemon, pod: PodInfo) -> PodInfo:
    info = daemon.scheduler.cache.pod(pod.key)
    assert info is not None
    return info


def _cached_deleting(daemon: Daemon, pod: PodInfo) -> bool:
    info = daemon.scheduler.cache.pod(pod.key)
    return info is not None and info.deleting


async def test_a_victim_already_gone_is_fine(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    cluster.pod("low", cpu="2", node="a")
    async with running_daemon(cluster, preemption=FAST) as daemon:
        cluster.pod("high", cpu="64")
        await eventually(lambda: cluster.events("high", "FailedScheduling"))
        high, low = _info(cluster, "high"), _info(cluster, "low")
        cluster.api.delete_object("pods", "low", "default")
        daemon.preempter.submit(high, Preemption(high, "a", (low,)), None)
        await eventually(lambda: daemon.preempter.in_flight == 0)
        assert (daemon.preempter.evicted, daemon.preempter.failed) == (0, 0)
        assert not cluster.events("low", "Preempted")


async def test_disruption_budgets_are_read_before_deciding_and_followed(cluster: Cluster) -> None:
    cluster.api.put_object(
        PDBS,
        {
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
            "status": {
                "disruptionsAllowed": 1,
                "currentHealthy": 2,
                "desiredHealthy": 1,
                "expectedPods": 2,
            },
        },
        **POLICY,
    )
    async with running_daemon(cluster) as daemon:
        budgets = daemon.scheduler.budgets.by_key
        budget = budgets["default/web"]  # read before the first decision
        assert (budget.namespace, budget.name, budget.disruptions_allowed) == ("default", "web", 1)
        assert budget.selector is not None
        assert budget.selector.matches({"app": "web"})
        assert not budget.selector.matches({"app": "db"})
        web = cluster.api.get_object(PDBS, "web", "default", **POLICY)
        web["status"]["disruptionsAllowed"] = 0
        cluster.api.put_object(PDBS, web, **POLICY)
        await eventually(lambda: budgets["default/web"].disruptions_allowed == 0)
        # No status yet (the disruption controller has not counted): nothing may be disrupted.
        cluster.api.put_object(
            PDBS,
            {"metadata": {"name": "all", "namespace": "default"}, "spec": {"maxUnavailable": 1}},
            **POLICY,
        )
        await eventually(lambda: "default/all" in budgets)
        assert budgets["default/all"].selector is None  # no selector: covers no pod
        assert budgets["default/all"].disruptions_allowed == 0
        cluster.api.delete_object(PDBS, "web", "default", **POLICY)
        await eventually(lambda: "default/web" not in budgets)


@pytest.mark.emulator("the real server refuses a malformed selector itself")
async def test_a_malformed_budget_is_logged_and_covers_nothing(cluster: Cluster) -> None:
    bad = {
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "Near"}]}},
        "status": {"disruptionsAllowed": 3},
    }
    with capture_logs() as logs:
        async with running_daemon(cluster) as daemon:
            cluster.api.put_object(PDBS, bad, **POLICY)
            budgets = daemon.scheduler.budgets.by_key
            await eventually(lambda: "default/bad" in budgets)
            assert budgets["default/bad"].selector is None
            bad["spec"] = {"selector": {"matchLabels": {"app": "web"}}}
            bad["status"] = {"disruptionsAllowed": "many"}
            cluster.api.put_object(PDBS, bad, **POLICY)
            await eventually(lambda: len([e for e in logs if e["event"] == "pdb.invalid"]) == 2)
            assert budgets["default/bad"].selector is None
            assert daemon.healthy
    invalid = [e for e in logs if e["event"] == "pdb.invalid"]
    assert invalid[0]["pdb"] == "default/bad"
    assert "Near" in invalid[0]["error"]
    assert "disruptionsAllowed" in invalid[1]["error"]


@pytest.mark.emulator("injects 500s on deletions")
async def test_a_failed_deletion_is_retried_with_backoff(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    cluster.pod("low", cpu="2", node="a")
    async with running_daemon(cluster, preemption=FAST) as daemon:
        cluster.api.inject(method="DELETE", path="/pods/low$", status=500, times=2)
        _decide(daemon, "high", _preempt("a", _info(cluster, "low")))
        cluster.pod("high", cpu="3")
        await eventually(lambda: _terminating(cluster, "low"))
        await eventually(lambda: cluster.events("low", "Preempted"))
        deletes = [p for m, p, _ in cluster.api.calls if m == "DELETE"]
        assert deletes == ["/api/v1/namespaces/default/pods/low"] * 3
        assert (daemon.preempter.evicted, daemon.preempter.failed) == (1, 0)


@pytest.mark.emulator("injects 500s on deletions")
async def test_a_deletion_failing_for_good_abandons_the_preemption_not_the_daemon(
    cluster: Cluster,
) -> None:
    cluster.node("a", cpu="4")
    cluster.pod("low-1", cpu="2", node="a")
    cluster.pod("low-2", cpu="2", node="a")
    async with running_daemon(cluster, preemption=FAST) as daemon:
        cluster.api.inject(method="DELETE", path="/pods/low-1$", status=500, times=None)
        cluster.pod("high", cpu="64")
        await eventually(lambda: cluster.events("high", "FailedScheduling"))
        high, low_1, low_2 = (_info(cluster, n) for n in ("high", "low-1", "low-2"))
        with capture_logs() as logs:
            daemon.preempter.submit(high, Preemption(high, "a", (low_1, low_2)), None)
            await eventually(lambda: daemon.preempter.in_flight == 0)
        assert (daemon.preempter.evicted, daemon.preempter.failed) == (0, 1)
        deletes = [p for m, p, _ in cluster.api.calls if m == "DELETE"]
        assert deletes == ["/api/v1/namespaces/default/pods/low-1"] * FAST.attempts
        assert not _terminating(cluster, "low-1")
        assert not _terminating(cluster, "low-2")  # the rest of the preemption is dropped
        failures = [e for e in logs if e["event"] == "preemption.request_failed"]
        assert failures[-1]["victim"] == "default/low-1"
        assert failures[-1]["preemptor"] == "default/high"
        assert failures[-1]["retry"] is False
        # Its victims are free again: a later preemption may choose them.
        cluster.api.faults.clear()
        daemon.preempter.submit(high, Preemption(high, "a", (low_1,)), None)
        await eventually(lambda: _terminating(cluster, "low-1"))
        assert daemon.healthy


async def test_a_replica_that_does_not_lead_evicts_nothing(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    cluster.pod("low", cpu="2", node="a")
    cluster.pod("high", cpu="64")
    _lease_held_by(cluster, "someone-else", 3600)
    async with running_daemon(cluster, leader=FAST_LEASE, identity="standby") as daemon:
        assert not daemon._leading()
        high, low = _info(cluster, "high"), _info(cluster, "low")
        daemon.preempter.submit(high, Preemption(high, "a", (low,)), "a")
        await eventually(lambda: daemon.preempter.in_flight == 0)
        assert daemon.preempter.refused == 1
        pod = cluster.get_pod("low") or {}
        assert not pod["metadata"].get("deletionTimestamp")
        assert _condition(cluster, "low", "DisruptionTarget") is None
        assert _nominated(cluster, "high") is None
        if not cluster.real:
            writes = [(m, p) for m, p, _ in cluster.api.calls if m in {"DELETE", "PATCH"}]
            assert not [w for w in writes if "/pods/" in w[1]], writes


def _priority(cluster: Cluster, value: int) -> dict[str, Any]:
    """Spec fields giving a pod ``value`` as priority (a class of its own per value)."""
    return in_priority_class(cluster, f"prio-{value}", value)


async def test_a_higher_priority_pod_preempts_end_to_end(cluster: Cluster) -> None:
    """The core decides, the daemon carries it out, the test stands in for the kubelet."""
    cluster.node("a", cpu="4")
    cluster.pod("low", cpu="3", node="a", **_priority(cluster, 10))
    async with running_daemon(cluster) as daemon:
        if not hasattr(daemon.scheduler, "preempting"):
            pytest.skip("the core's preemption decisions are not merged yet")
        cluster.pod("high", cpu="3", **_priority(cluster, 1000))
        condition = await eventually(lambda: _condition(cluster, "low", "DisruptionTarget"))
        assert condition["reason"] == "PreemptionByScheduler"
        await eventually(lambda: _terminating(cluster, "low"))
        await eventually(lambda: _nominated(cluster, "high") == "a")
        await eventually(lambda: cluster.events("low", "Preempted"))
        assert cluster.node_of("high") is None  # its victim is still terminating
        assert stand_in_for_kubelet(cluster) == ["low"]
        await eventually(lambda: cluster.node_of("high") == "a")
        assert cluster.api.bindings["default/high"] == 1
        assert daemon.preempter.carried_out == 1


@pytest.mark.emulator("injects 500s on deletions")
async def test_a_preemption_given_up_lets_the_core_choose_again(cluster: Cluster) -> None:
    """Deleting the victim fails for good: the core forgets the nomination and the victims
    it chose (else the pod would wait for them forever), retries, and preempts again once
    the server answers."""
    cluster.node("a", cpu="4")
    cluster.pod("low", cpu="3", node="a", **_priority(cluster, 10))
    cluster.api.inject(method="DELETE", path="/pods/low$", status=500, times=FAST.attempts)
    async with running_daemon(cluster, preemption=FAST) as daemon:
        cluster.pod("high", cpu="3", **_priority(cluster, 1000))
        await eventually(lambda: daemon.preempter.failed >= 1)
        await eventually(lambda: _terminating(cluster, "low"), timeout=20)  # chosen again
        assert stand_in_for_kubelet(cluster) == ["low"]
        await eventually(lambda: cluster.node_of("high") == "a", timeout=20)
        assert cluster.api.bindings["default/high"] == 1


async def test_a_restart_between_eviction_and_binding_keeps_the_room_and_evicts_once(
    cluster: Cluster,
) -> None:
    """The daemon stops while the victim terminates; the next one reads the preemptor's
    nominatedNodeName, holds the room against a flood of lower priority, evicts nobody else,
    and binds the preemptor once the victim is gone."""
    cluster.node("a", cpu="4")
    cluster.pod("low", cpu="3", node="a", **_priority(cluster, 10))
    async with running_daemon(cluster):
        cluster.pod("high", cpu="3", **_priority(cluster, 1000))
        await eventually(lambda: _terminating(cluster, "low"))
        await eventually(lambda: _nominated(cluster, "high") == "a")
    async with running_daemon(cluster) as daemon:
        # 2 cpu each: any of them on a would leave no room for high (3 of a's 4 cpu).
        for i in range(3):
            cluster.pod(f"flood-{i}", cpu="2", **_priority(cluster, 0))
        await eventually(lambda: daemon.unschedulable >= 4)  # the flood and high: all wait
        assert stand_in_for_kubelet(cluster) == ["low"]
        await eventually(lambda: cluster.node_of("high") == "a", timeout=20)
        assert daemon.preempter.carried_out == 0  # nothing evicted twice
        assert cluster.api.bindings["default/high"] == 1


async def test_a_gang_preempts_for_its_whole_quorum(cluster: Cluster) -> None:
    """Two members of 3 cpu need both nodes: both running pods are evicted, the members
    nominated one per node, and bound together once their victims are gone."""
    for node in ("a", "b"):
        cluster.node(node, cpu="4")
        cluster.pod(f"low-{node}", cpu="3", node=node, **_priority(cluster, 10))
    gang = {
        "pod-group.scheduling.kubenexus.io/name": "train",
        "pod-group.scheduling.kubenexus.io/min-available": "2",
    }
    async with running_daemon(cluster):
        for i in range(2):
            cluster.pod(f"train-{i}", cpu="3", labels=gang, **_priority(cluster, 1000))
        await eventually(lambda: _terminating(cluster, "low-a") and _terminating(cluster, "low-b"))
        nominated = await eventually(
            lambda: sorted(_nominated(cluster, f"train-{i}") or "" for i in range(2)) == ["a", "b"]
        )
        assert nominated
        assert cluster.node_of("train-0") is None
        assert sorted(stand_in_for_kubelet(cluster)) == ["low-a", "low-b"]
        await eventually(
            lambda: sorted(cluster.node_of(f"train-{i}") or "" for i in range(2)) == ["a", "b"],
            timeout=20,
        )
