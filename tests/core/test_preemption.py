"""Preemption (issue #14, single pods): kube-scheduler's DefaultPreemption — victims, reprieve,
PodDisruptionBudgets, the node chosen, the nomination and the room it holds."""

from __future__ import annotations

from typing import Any

from kubenexus.api import pod_from_dict
from kubenexus.api.pod_rules import LabelRequirement, LabelSelector
from kubenexus.scheduler import Preemption, Scheduled, Scheduler, Unschedulable
from kubenexus.scheduler.preempting import DisruptionBudget
from tests.builders import make_node, make_pod
from tests.core.helpers import scheduler


def running(name: str, node: str, cpu: str, priority: int = 0, **labels: str) -> Any:
    builder = make_pod(name).req(cpu=cpu).node(node).phase("Running").priority(priority)
    for key, value in labels.items():
        builder.label(key, value)
    return builder.obj()


def pending(name: str, cpu: str, priority: int, **extra: Any) -> Any:
    body = make_pod(name).req(cpu=cpu).priority(priority).dict()
    body["spec"].update(extra)
    return pod_from_dict(body)


def attempt(s: Scheduler, pod: Any) -> Scheduled | Unschedulable:
    s.upsert_pod(pod)
    outcomes = s.schedule_next()
    [outcome] = [o for o in outcomes if o.pod.name == pod.name]
    return outcome


def victims(outcome: Scheduled | Unschedulable) -> tuple[str, list[str]]:
    assert isinstance(outcome, Unschedulable), outcome
    assert outcome.preemption is not None, outcome.message
    preemption: Preemption = outcome.preemption
    return preemption.node, [v.name for v in preemption.victims]


def test_a_lower_priority_pod_is_evicted_for_a_higher_one_which_then_lands_there() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    s.upsert_pod(running("low", "a", "3"))
    outcome = attempt(s, pending("high", "2", 100))
    assert victims(outcome) == ("a", ["low"])
    assert isinstance(outcome, Unschedulable)
    assert outcome.nominate == "a"
    assert outcome.message == "0/1 nodes are available: 1 Insufficient cpu."
    assert outcome.preemption is not None
    assert outcome.preemption.victim_message() == "Preempted by default/high on node a"
    # The victim is still there (its deletion not seen yet): no second preemption.
    now[0] += 10
    s.upsert_node(make_node("a").alloc(cpu="4").label("touched", "1").obj())
    for again in s.run_until_idle():
        assert isinstance(again, Unschedulable)
        assert again.preemption is None
    s.remove_pod("uid-low")  # the victim is gone
    now[0] += 10
    placed = s.run_until_idle()
    assert [(o.pod.name, getattr(o, "node", None)) for o in placed] == [("high", "a")]
    assert s.preempting.nominations == {}


def test_preemption_policy_never_never_evicts() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(running("low", "a", "3"))
    outcome = attempt(s, pending("polite", "2", 100, preemptionPolicy="Never"))
    assert isinstance(outcome, Unschedulable)
    assert outcome.preemption is None


def test_equal_or_higher_priority_pods_are_never_victims() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(running("peer", "a", "3", priority=100))
    outcome = attempt(s, pending("high", "2", 100))
    assert isinstance(outcome, Unschedulable)
    assert outcome.preemption is None


def test_system_critical_pods_are_never_victims() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(running("dns", "a", "3", priority=2_000_000_000))
    outcome = attempt(s, pending("node-critical", "2", 2_000_001_000))
    assert isinstance(outcome, Unschedulable)
    assert outcome.preemption is None


def test_the_smallest_victim_set_the_most_important_are_reprieved_first() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(running("p10", "a", "1", priority=10))
    s.upsert_pod(running("p5", "a", "1", priority=5))
    s.upsert_pod(running("p1", "a", "2", priority=1))
    assert victims(attempt(s, pending("high", "2", 100))) == ("a", ["p1"])


def test_the_node_whose_most_important_victim_matters_least_is_chosen() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj())
    s.upsert_pod(running("mid", "a", "3", priority=50))
    s.upsert_pod(running("low", "b", "3", priority=1))
    assert victims(attempt(s, pending("high", "2", 100))) == ("b", ["low"])


def test_then_the_fewest_victims_then_the_latest_started() -> None:
    s = scheduler(
        make_node("a").alloc(cpu="4").obj(),
        make_node("b").alloc(cpu="4").obj(),
        make_node("c").alloc(cpu="4").obj(),
    )
    for name in ("a1", "a2"):
        s.upsert_pod(running(name, "a", "2", priority=1))
    body = make_pod("b1").req(cpu="4").node("b").phase("Running").priority(1).dict()
    body["status"]["startTime"] = "2026-01-01T00:00:00Z"
    s.upsert_pod(pod_from_dict(body))
    body = make_pod("c1").req(cpu="4").node("c").phase("Running").priority(1).dict()
    body["status"]["startTime"] = "2026-06-01T00:00:00Z"
    s.upsert_pod(pod_from_dict(body))
    # a needs two victims; b and c one each (same priority sum): c's started later.
    assert victims(attempt(s, pending("high", "3", 100))) == ("c", ["c1"])


def _budget(allowed: int, **labels: str) -> DisruptionBudget:
    selector = LabelSelector(
        tuple(LabelRequirement(k, "In", frozenset({v})) for k, v in labels.items())
    )
    return DisruptionBudget("default", "guard", selector, allowed)


def test_a_disruption_budget_is_respected_when_another_choice_exists() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj())
    s.upsert_pod(running("guarded", "a", "3", priority=1, app="db"))
    s.upsert_pod(running("free", "b", "3", priority=20, app="batch"))
    s.set_disruption_budget(_budget(0, app="db"))
    # b's victim is more important, but evicting a's would break the budget.
    assert victims(attempt(s, pending("high", "2", 100))) == ("b", ["free"])


def test_a_budget_is_broken_only_when_there_is_no_other_way() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(running("guarded", "a", "3", priority=1, app="db"))
    s.set_disruption_budget(_budget(0, app="db"))
    assert victims(attempt(s, pending("high", "2", 100))) == ("a", ["guarded"])


def test_rules_other_than_requests_are_checked_on_the_node_with_its_victims_gone() -> None:
    """Room is there, but the pod's anti-affinity keeps it off the node: the pod it keeps
    away from is the victim (every filter runs on the node without its victims)."""
    s = scheduler(make_node("a").alloc(cpu="8").obj())
    s.upsert_pod(running("x", "a", "1", priority=0, app="x"))
    s.upsert_pod(running("y", "a", "1", priority=0, app="y"))
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app": "x"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    assert victims(attempt(s, pending("high", "1", 100, affinity=anti))) == ("a", ["x"])


def test_nominated_room_is_kept_against_a_flood_of_lower_priority_pods() -> None:
    now = [1000.0]
    s = scheduler(
        make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="1").obj(), clock=now
    )
    s.upsert_pod(running("low", "a", "3"))
    victims(attempt(s, pending("high", "3", 100)))
    s.remove_pod("uid-low")  # the victim goes; the preemptor is still in its backoff
    flood = [pending(f"flood-{i}", "1", 0) for i in range(6)]
    for pod in flood:
        s.upsert_pod(pod)
    placed = {o.pod.name: o.node for o in s.run_until_idle() if isinstance(o, Scheduled)}
    assert "high" not in placed
    # a's 4 cpu: 3 held for the preemptor, 1 for the flood; b takes one more.
    assert sorted(placed.values()) == ["a", "b"]
    now[0] += 30
    first = s.run_until_idle()[0]
    assert (first.pod.name, getattr(first, "node", "")) == ("high", "a")


def test_a_higher_priority_pod_may_take_room_nominated_for_a_lower_one() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    s.upsert_pod(running("low", "a", "3"))
    victims(attempt(s, pending("mid", "3", 50)))
    s.remove_pod("uid-low")
    top = attempt(s, pending("top", "3", 1000))
    assert isinstance(top, Scheduled)
    assert top.node == "a"


def test_a_victim_is_evicted_for_one_preemptor_only() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(running("low", "a", "3"))
    victims(attempt(s, pending("first", "2", 100)))
    second = attempt(s, pending("second", "2", 100))
    assert isinstance(second, Unschedulable)
    assert second.preemption is None


def test_a_restart_keeps_the_room_of_a_nominated_pod() -> None:
    """After a restart a pending pod's status.nominatedNodeName holds its room again: a pod of
    lower priority does not fit there, the nominated pod does."""
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    body = make_pod("high").req(cpu="3").priority(100).dict()
    body.setdefault("status", {})["nominatedNodeName"] = "a"
    s.upsert_pod(pod_from_dict(body))
    profile = s.profiles["kubenexus-scheduler"]
    low = pending("low", "2", 0)
    lifted = s.preempting.lift([low])
    try:
        refused = profile.find_node(low, s.cache.nodes)
    finally:
        s.preempting.restore(lifted)
    assert refused.message == "0/1 nodes are available: 1 Insufficient cpu."  # type: ignore[union-attr]
    placed = {o.pod.name: getattr(o, "node", None) for o in s.run_until_idle()}
    assert placed == {"high": "a"}


def test_a_nomination_that_can_no_longer_be_met_is_cleared() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    s.upsert_pod(running("low", "a", "3"))
    victims(attempt(s, pending("high", "3", 100)))
    s.remove_pod("uid-low")
    s.upsert_pod(running("bigger", "a", "4", priority=1000))  # someone else took the node
    now[0] += 30
    [outcome] = [o for o in s.run_until_idle() if o.pod.name == "high"]
    assert isinstance(outcome, Unschedulable)
    assert outcome.preemption is None
    assert outcome.nominate == ""  # clear status.nominatedNodeName
    assert s.preempting.nominations == {}


def test_preemption_can_be_disabled_in_the_profile() -> None:
    config: dict[str, object] = {
        "profiles": [{"plugins": {"postFilter": {"disabled": [{"name": "DefaultPreemption"}]}}}]
    }
    s = scheduler(make_node("a").alloc(cpu="4").obj(), config=config)
    s.upsert_pod(running("low", "a", "3"))
    outcome = attempt(s, pending("high", "2", 100))
    assert isinstance(outcome, Unschedulable)
    assert outcome.preemption is None


def _gang_member(name: str, node: str, cpu: str) -> Any:
    return (
        make_pod(name)
        .req(cpu=cpu)
        .node(node)
        .phase("Running")
        .label("pod-group.scheduling.kubenexus.io/name", "train")
        .annotate("pod-group.scheduling.kubenexus.io/min-available", "2")
        .obj()
    )


def test_a_victim_in_a_gang_is_evicted_with_its_whole_gang() -> None:
    """Never a gang left below its quorum: evicting one member on a takes its mate on b."""
    s = scheduler(make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj())
    s.upsert_pod(_gang_member("train-0", "a", "3"))
    s.upsert_pod(_gang_member("train-1", "b", "3"))
    node, names = victims(attempt(s, pending("high", "2", 100)))
    assert node in {"a", "b"}
    assert sorted(names) == ["train-0", "train-1"]


def test_a_lone_pod_is_preferred_to_a_whole_gang() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj())
    s.upsert_pod(_gang_member("train-0", "a", "3"))
    s.upsert_pod(_gang_member("train-1", "a", "1"))
    s.upsert_pod(running("solo", "b", "3"))
    assert victims(attempt(s, pending("high", "2", 100))) == ("b", ["solo"])


def test_a_gang_member_of_higher_priority_protects_its_gang() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj())
    s.upsert_pod(_gang_member("train-0", "a", "3"))
    mate = make_pod("train-1").req(cpu="1").node("b").phase("Running").priority(500)
    mate.label("pod-group.scheduling.kubenexus.io/name", "train")
    mate.annotate("pod-group.scheduling.kubenexus.io/min-available", "2")
    s.upsert_pod(mate.obj())
    s.upsert_pod(running("filler", "b", "3", priority=200))
    outcome = attempt(s, pending("high", "2", 100))
    assert isinstance(outcome, Unschedulable)
    assert outcome.preemption is None  # train-0 cannot go without train-1, which outranks


def gang_pending(name: str, gang: str, size: int, cpu: str, priority: int = 100) -> Any:
    return (
        make_pod(name)
        .req(cpu=cpu)
        .priority(priority)
        .label("pod-group.scheduling.kubenexus.io/name", gang)
        .label("pod-group.scheduling.kubenexus.io/min-available", str(size))
        .obj()
    )


def _run(s: Scheduler, *pods: Any) -> list[Scheduled | Unschedulable]:
    for pod in pods:
        s.upsert_pod(pod)
    return s.run_until_idle()


def test_a_gang_preempts_for_all_its_members_at_once() -> None:
    now = [1000.0]
    s = scheduler(
        make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj(), clock=now
    )
    s.upsert_pod(running("low-a", "a", "3"))
    s.upsert_pod(running("low-b", "b", "3"))
    # 3 cpu each: one member per node, so both running pods must go.
    outcomes = _run(s, *[gang_pending(f"g-{i}", "g", 2, "3") for i in range(2)])
    preemptions = [o.preemption for o in outcomes if isinstance(o, Unschedulable) and o.preemption]
    assert sorted(v.name for p in preemptions for v in p.victims) == ["low-a", "low-b"]
    nominated = {o.pod.name: o.nominate for o in outcomes if isinstance(o, Unschedulable)}
    assert sorted(nominated.values()) == ["a", "b"]  # one member per node, room held
    s.remove_pod("uid-low-a")
    now[0] += 30
    partial = s.run_until_idle()
    assert not any(isinstance(o, Scheduled) for o in partial)  # all or nothing: b still busy
    s.remove_pod("uid-low-b")
    now[0] += 30
    placed = {o.pod.name: o.node for o in s.run_until_idle() if isinstance(o, Scheduled)}
    assert sorted(placed.values()) == ["a", "b"]
    assert s.preempting.nominations == {}


def test_a_gang_preempts_no_more_than_it_needs() -> None:
    """Two members of 2 cpu fit together on a once its running pod is gone: one victim."""
    s = scheduler(make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj())
    s.upsert_pod(running("low-a", "a", "3"))
    s.upsert_pod(running("low-b", "b", "3"))
    outcomes = _run(s, *[gang_pending(f"g-{i}", "g", 2, "2") for i in range(2)])
    preemptions = [o.preemption for o in outcomes if isinstance(o, Unschedulable) and o.preemption]
    assert [v.name for p in preemptions for v in p.victims] == ["low-a"]


def test_a_gang_that_cannot_fit_whole_evicts_nobody() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj())
    s.upsert_pod(running("low-a", "a", "3"))
    s.upsert_pod(running("low-b", "b", "3"))
    outcomes = _run(s, *[gang_pending(f"g-{i}", "g", 3, "3") for i in range(3)])
    assert all(isinstance(o, Unschedulable) and o.preemption is None for o in outcomes)
    assert s.preempting.nominations == {}


def test_a_gang_takes_preemptible_pods_before_firm_ones() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj())
    firm = make_pod("firm").req(cpu="3").node("a").phase("Running").priority(200)
    s.upsert_pod(firm.label("workload.kubenexus.io/preemptible", "false").obj())
    spot = make_pod("spot").req(cpu="3").node("b").phase("Running").priority(300)
    s.upsert_pod(spot.label("workload.kubenexus.io/preemptible", "true").obj())
    outcomes = _run(s, gang_pending("g-0", "g", 1, "2", priority=1000))
    [preemption] = [o.preemption for o in outcomes if isinstance(o, Unschedulable) and o.preemption]
    assert [v.name for v in preemption.victims] == ["spot"]  # kube's order would take firm


def test_a_gang_waits_out_its_cooldown_before_preempting_again() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    s.upsert_pod(running("low-1", "a", "3"))
    outcomes = _run(s, gang_pending("g-0", "g", 1, "2"))
    assert any(isinstance(o, Unschedulable) and o.preemption for o in outcomes)
    s.remove_pod("uid-low-1")
    s.upsert_pod(running("low-2", "a", "3", priority=1))  # someone took the room meanwhile
    now[0] += 10  # within the 30 s cooldown
    again = s.run_until_idle()
    assert all(isinstance(o, Unschedulable) and o.preemption is None for o in again)
    now[0] += 30
    s.queue.move_all()
    later = s.run_until_idle()
    assert any(isinstance(o, Unschedulable) and o.preemption for o in later)


def test_a_preemption_the_daemon_gave_up_is_forgotten_and_tried_again() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    s.upsert_pod(running("low", "a", "3"))
    victims(attempt(s, pending("high", "2", 100)))
    s.preemption_abandoned("uid-high")  # its victim could not be deleted
    assert s.preempting.nominations == {}
    assert s.preempting.evicting == {}
    now[0] += 30
    [again] = s.run_until_idle()
    assert victims(again) == ("a", ["low"])  # chosen again


def _spark_driver(priority: int) -> Any:
    return (
        make_pod("app-driver")
        .req(cpu="1", memory="1Gi")
        .priority(priority)
        .label("spark-role", "driver")
        .label("spark-app-selector", "app")
        .annotate("scheduling.kubenexus.io/executor-count", "1")
        .annotate("scheduling.kubenexus.io/executor-cpu", "3")
        .annotate("scheduling.kubenexus.io/executor-memory", "1Gi")
        .obj()
    )


def _reserved_cluster(driver_priority: int, now: list[float]) -> Scheduler:
    """A driver and the 3-cpu slot it holds for its executor fill node b; a is out of reach."""
    s = scheduler(
        make_node("a").alloc(cpu="4", memory="16Gi").obj(),
        make_node("b").alloc(cpu="4", memory="16Gi").obj(),
        clock=now,
    )
    s.upsert_pod(running("fill-a", "a", "4", priority=1_000_000))  # no room for the driver
    placed = {o.pod.name: getattr(o, "node", None) for o in _run(s, _spark_driver(driver_priority))}
    assert placed == {"app-driver": "b"}
    [held] = s.reserving.book.held.values()
    assert held.phase == "Active"
    return s


def test_a_reserved_slot_is_taken_only_by_a_pod_outranking_its_driver() -> None:
    """Reserved room is protected like a pod of the driver's priority: a pod of higher priority
    may take it (the reservation then ends, its room freed at once: no pod to delete, the
    driver keeps running), a pod of lower priority may not."""
    now = [1000.0]
    s = _reserved_cluster(driver_priority=100, now=now)
    lower = _run(s, pending("lower", "3", 50))
    assert all(isinstance(o, Unschedulable) and o.preemption is None for o in lower)
    outcomes = _run(s, pending("urgent", "3", 1000))
    [held] = s.reserving.book.held.values()
    assert held.phase == "Released"
    assert "taken by preemption for default/urgent" in held.reason
    assert not any(isinstance(o, Unschedulable) and o.preemption for o in outcomes)
    assert s.cache.node_of("uid-app-driver") == "b"  # the driver itself is not evicted
    now[0] += 30
    placed = {o.pod.name: o.node for o in s.run_until_idle() if isinstance(o, Scheduled)}
    assert placed.get("urgent") == "b"
