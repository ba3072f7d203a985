"""Break-tests of preemption (issue #14 review), core side: each failed before its fix."""

from __future__ import annotations

from typing import Any

from kubenexus.api import pod_from_dict
from kubenexus.scheduler import Scheduled, Unschedulable
from tests.builders import make_node, make_pod
from tests.core.helpers import scheduler
from tests.core.test_preemption import attempt, gang_pending, pending, running


def terminating(name: str, node: str, cpu: str, priority: int = 0) -> Any:
    body = make_pod(name).req(cpu=cpu).node(node).phase("Running").priority(priority).dict()
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    body["metadata"]["finalizers"] = ["example.com/hold"]
    return pod_from_dict(body)


# --------------------------------------------------------------------------- restart


def test_after_a_restart_a_nominated_pod_whose_victims_are_terminating_evicts_nobody_else() -> None:
    """Daemon restarted mid-preemption: 'high' carries status.nominatedNodeName=a and its victim
    on a is still terminating. kube (PodEligibleToPreemptOthers) does not let it preempt again
    while lower-priority pods terminate on its nominated node; it must not evict 'other' on b
    (never two evictions for one pod)."""
    s = scheduler(make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj())
    s.upsert_pod(terminating("victim", "a", "3", priority=50))
    s.upsert_pod(running("other", "b", "3", priority=10))
    body = make_pod("high").req(cpu="3").priority(100).dict()
    body.setdefault("status", {})["nominatedNodeName"] = "a"
    high = pod_from_dict(body)
    outcome = attempt(s, high)
    assert isinstance(outcome, Unschedulable)
    assert outcome.preemption is None, (
        f"second eviction for one pod: {[v.name for v in outcome.preemption.victims]} "
        f"on {outcome.preemption.node}"
    )


# --------------------------------------------------------------------------- the candidate cut


def test_a_real_candidate_beyond_the_hundred_cheapest_looking_nodes_is_still_found() -> None:
    """101 nodes look cheapest by requests (only priority-0 pods to evict) but each runs a
    high-priority 'db' pod the preemptor's required anti-affinity keeps it away from; node z
    has only priority-5 pods and no db. kube keeps looking until it has enough *viable*
    candidates; here the first 100 by screening all fail verification and the pod never
    preempts (it waits forever though z could take it)."""
    nodes = [make_node(f"n{i:03}").alloc(cpu="4").obj() for i in range(101)]
    nodes.append(make_node("z").alloc(cpu="4").obj())
    s = scheduler(*nodes)
    for i in range(101):
        s.upsert_pod(running(f"db-{i}", f"n{i:03}", "1", priority=1000, app="db"))
        s.upsert_pod(running(f"filler-{i}", f"n{i:03}", "3", priority=0))
    s.upsert_pod(running("z-filler", "z", "4", priority=5))
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app": "db"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    outcome = attempt(s, pending("high", "2", 100, affinity=anti))
    assert isinstance(outcome, Unschedulable)
    assert outcome.preemption is not None, outcome.message
    assert outcome.preemption.node == "z"


# --------------------------------------------------------------------------- gang nominations


def test_a_gang_that_gave_up_does_not_keep_holding_room() -> None:
    """A gang of 2 preempted (one member per node); a higher-priority pod then took b's room.
    The gang can no longer fit nor preempt (nothing evictable left on b), yet its members'
    nominations stay: a's room is held for a gang that cannot run, and a pod of lower
    priority waits forever. Single pods clear their nomination when they give up (and so
    does kube); gang members should too."""
    now = [1000.0]
    s = scheduler(
        make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj(), clock=now
    )
    s.upsert_pod(running("low-a", "a", "3"))
    s.upsert_pod(running("low-b", "b", "3"))
    for i in range(2):
        s.upsert_pod(gang_pending(f"g-{i}", "g", 2, "3"))
    outcomes = s.run_until_idle()
    assert sorted(o.nominate or "" for o in outcomes if isinstance(o, Unschedulable)) == ["a", "b"]
    s.remove_pod("uid-low-a")
    s.remove_pod("uid-low-b")
    s.upsert_pod(running("vip", "b", "3", priority=1000))  # took b's nominated room
    for _ in range(4):  # well past the cooldown: tried, preemption impossible, gives up
        now[0] += 400
        s.queue.move_all()
        s.run_until_idle()
    assert s.preempting.nominations == {}, sorted(s.preempting.nominations)
    now[0] += 400
    s.upsert_pod(pending("late", "3", 0))
    placed = {o.pod.name: o.node for o in s.run_until_idle() if isinstance(o, Scheduled)}
    assert placed.get("late") == "a", placed


# --------------------------------------------------------------------------- gang victims


def test_a_protected_gang_member_does_not_hide_a_lone_victim_on_the_same_node() -> None:
    """Node a: 'solo' (2 cpu, priority 0, started first) and gang member 'train-0' (2 cpu,
    priority 0, started later) whose mate 'train-1' on b has priority 500 (so the gang may not
    be evicted). The preemptor needs 2 cpu: evicting solo is enough. kube's reprieve gives solo
    back first (started earlier), leaving train-0 as the victim; the gang rule then throws the
    whole node out instead of trying solo — the pod never preempts."""
    s = scheduler(make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj())
    solo = make_pod("solo").req(cpu="2").node("a").phase("Running").dict()
    solo["status"]["startTime"] = "2026-01-01T00:00:00Z"
    s.upsert_pod(pod_from_dict(solo))
    for name, node, cpu, priority, start in (
        ("train-0", "a", "2", 0, "2026-06-01T00:00:00Z"),
        ("train-1", "b", "4", 500, "2026-06-01T00:00:00Z"),
    ):
        body = make_pod(name).req(cpu=cpu).node(node).phase("Running").priority(priority)
        body.label("pod-group.scheduling.kubenexus.io/name", "train")
        body.annotate("pod-group.scheduling.kubenexus.io/min-available", "2")
        d = body.dict()
        d["status"]["startTime"] = start
        s.upsert_pod(pod_from_dict(d))
    outcome = attempt(s, pending("high", "2", 100))
    assert isinstance(outcome, Unschedulable)
    assert outcome.preemption is not None, outcome.message
    assert [v.name for v in outcome.preemption.victims] == ["solo"]
