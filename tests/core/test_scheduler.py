"""The scheduler's bookkeeping: assume/forget, other schedulers' pods, finished pods, re-activation."""

from __future__ import annotations

from kubenexus.api import pod_from_dict
from kubenexus.scheduler import Scheduled
from tests.builders import make_node, make_pod
from tests.core.helpers import place, scheduler


def _cpu_requested(s: object, node: str) -> int:
    nodes = s.cache.nodes  # type: ignore[attr-defined]
    return int(nodes.requested[nodes.resource_index["cpu"], nodes.index[node]])


def test_assumed_pod_takes_capacity_before_binding() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(make_pod("p1").req(cpu="3").obj())
    s.upsert_pod(make_pod("p2").req(cpu="3").obj())
    first = s.schedule_one()
    assert isinstance(first, Scheduled)
    assert s.cache.is_assumed("uid-p1")
    second = s.schedule_one()
    assert second is not None
    assert not isinstance(second, Scheduled)
    assert second.message == "0/1 nodes are available: 1 Insufficient cpu."


def test_failed_binding_forgets_the_assumption_and_retries_after_backoff() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    s.upsert_pod(make_pod("p").req(cpu="3").obj())
    decision = s.schedule_one()
    assert isinstance(decision, Scheduled)
    assert _cpu_requested(s, "a") == 3000
    s.binding_failed("uid-p", "500 Internal Server Error")
    assert _cpu_requested(s, "a") == 0
    assert s.queue.where("uid-p") == "backoff"
    assert s.schedule_one() is None
    now[0] += 1
    again = s.schedule_one()
    assert isinstance(again, Scheduled)
    assert again.entry.attempts == 2


def test_failed_binding_without_retry_drops_the_pod() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(make_pod("p").req(cpu="3").obj())
    assert isinstance(s.schedule_one(), Scheduled)
    s.binding_failed("uid-p", "404 pod gone", retry=False)
    assert "uid-p" not in s.queue
    assert "uid-p" not in s.cache


def test_bound_update_confirms_the_assumption_without_double_counting() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(make_pod("p").req(cpu="3").obj())
    assert isinstance(s.schedule_one(), Scheduled)
    s.binding_succeeded("uid-p")
    s.upsert_pod(make_pod("p").req(cpu="3").node("a").obj())  # the watch shows it bound
    assert not s.cache.is_assumed("uid-p")
    assert _cpu_requested(s, "a") == 3000


def test_other_schedulers_pods_count_but_are_not_scheduled() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj())
    s.upsert_pod(
        make_pod("theirs-running").scheduler("default-scheduler").req(cpu="4").node("a").obj()
    )
    s.upsert_pod(make_pod("theirs-pending").scheduler("default-scheduler").req(cpu="1").obj())
    assert "uid-theirs-pending" not in s.queue
    assert place(s, make_pod("ours").req(cpu="2").obj()) == {"ours": "b"}


def test_finished_pods_free_capacity_and_wake_waiting_pods() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    s.upsert_pod(make_pod("job").req(cpu="4").node("a").obj())
    assert place(s, make_pod("next").req(cpu="2").obj()) == {
        "next": "0/1 nodes are available: 1 Insufficient cpu."
    }
    now[0] += 0.5
    s.upsert_pod(make_pod("job").req(cpu="4").node("a").phase("Succeeded").obj())
    assert s.queue.where("uid-next") == "backoff"  # it failed 0.5 s ago: 1 s backoff first
    assert place(s) == {}
    now[0] += 0.5
    assert place(s) == {"next": "a"}


def test_deleted_pod_frees_capacity_and_a_deleted_queued_pod_is_dropped() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    s.upsert_pod(make_pod("big").req(cpu="4").node("a").obj())
    assert place(s, make_pod("waiting").req(cpu="1").obj())["waiting"].startswith("0/1")
    s.upsert_pod(make_pod("doomed").req(cpu="1").obj())
    s.remove_pod("uid-doomed")
    s.remove_pod("uid-big")
    now[0] += 1
    assert place(s) == {"waiting": "a"}
    assert "uid-doomed" not in s.cache


def test_new_node_wakes_unschedulable_pods() -> None:
    now = [1000.0]
    s = scheduler(make_node("small").alloc(cpu="1").obj(), clock=now)
    assert place(s, make_pod("p").req(cpu="8").obj())["p"].startswith("0/1")
    now[0] += 30
    assert place(s) == {}  # nothing changed: it waits
    s.upsert_node(make_node("big").alloc(cpu="16").obj())
    assert place(s) == {"p": "big"}


def test_pods_on_an_unknown_node_count_once_it_appears() -> None:
    s = scheduler()
    s.upsert_pod(make_pod("early").req(cpu="3").node("late-node").obj())
    s.upsert_node(make_node("late-node").alloc(cpu="4").obj())
    assert _cpu_requested(s, "late-node") == 3000
    s.remove_node("late-node")
    s.upsert_node(make_node("late-node").alloc(cpu="4").obj())
    assert _cpu_requested(s, "late-node") == 3000  # counted once, not twice


def test_node_update_keeps_usage() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(make_pod("x").req(cpu="3").node("a").obj())
    s.upsert_node(make_node("a").alloc(cpu="8").label("zone", "z").obj())
    assert _cpu_requested(s, "a") == 3000
    assert place(s, make_pod("p").req(cpu="5").selector(zone="z").obj()) == {"p": "a"}


def test_deleting_and_terminating_pods_are_not_queued() -> None:
    s = scheduler(make_node("a").obj())
    body = make_pod("going").dict()
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    s.upsert_pod(pod_from_dict(body))
    assert len(s.queue) == 0


def test_priority_order_decides_who_gets_scarce_capacity() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    result = place(
        s, make_pod("low").req(cpu="3").obj(), make_pod("high").req(cpu="3").priority(100).obj()
    )
    assert result["high"] == "a"
    assert result["low"].startswith("0/1 nodes are available")


def test_each_scheduler_name_uses_its_own_profile() -> None:
    config = {
        "profiles": [
            {"schedulerName": "kubenexus-scheduler"},
            {
                "schedulerName": "kubenexus-packer",
                "pluginConfig": [
                    {
                        "name": "NodeResourcesFit",
                        "args": {"scoringStrategy": {"type": "MostAllocated"}},
                    }
                ],
                "plugins": {"score": {"disabled": [{"name": "NodeResourcesBalancedAllocation"}]}},
            },
        ]
    }
    s = scheduler(*[make_node(f"n{i}").alloc(cpu="8").obj() for i in range(3)], config=config)
    spread = [make_pod(f"s{i}").req(cpu="1").obj() for i in range(3)]
    packed = [make_pod(f"k{i}").scheduler("kubenexus-packer").req(cpu="1").obj() for i in range(3)]
    result = place(s, *spread, *packed)
    assert sorted(result[f"s{i}"] for i in range(3)) == ["n0", "n1", "n2"]
    assert len({result[f"k{i}"] for i in range(3)}) == 1
    assert "uid-other" not in s.queue
    s.upsert_pod(make_pod("other").scheduler("someone-else").obj())
    assert "uid-other" not in s.queue


def test_bound_pods_never_confirmed_by_the_api_expire() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    s.upsert_pod(make_pod("lost").req(cpu="3").obj())
    s.upsert_pod(make_pod("seen").req(cpu="1").obj())
    for outcome in s.run_until_idle():
        assert isinstance(outcome, Scheduled)
    s.upsert_pod(make_pod("seen").req(cpu="1").node("a").obj())  # the watch confirmed this one
    now[0] += 29
    assert s.expire_assumed(ttl=30) == []
    now[0] += 2
    expired = s.expire_assumed(ttl=30)
    assert [p.name for p in expired] == ["lost"]
    assert _cpu_requested(s, "a") == 1000
    assert "uid-lost" not in s.cache
    # A late watch event counts it again.
    s.upsert_pod(make_pod("lost").req(cpu="3").node("a").obj())
    assert _cpu_requested(s, "a") == 4000
