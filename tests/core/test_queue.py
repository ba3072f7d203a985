"""The scheduling queue: order, backoff, re-activation on cluster change, starvation boost."""

from __future__ import annotations

from kubenexus.plugins.priority_sort import PrioritySort, PrioritySortArgs
from kubenexus.scheduler import QueueSettings, SchedulingQueue
from tests.builders import make_pod


def _queue(now: list[float], **settings: float) -> SchedulingQueue:
    return SchedulingQueue(PrioritySort(), lambda: now[0], QueueSettings(**settings))


def _drain(queue: SchedulingQueue) -> list[str]:
    names = []
    while (entry := queue.pop()) is not None:
        names.append(entry.pod.name)
        queue.done(entry.pod.key)
    return names


def test_higher_priority_first_then_oldest_first() -> None:
    now = [1767225700.0]  # 2026-01-01T00:01:40Z
    queue = _queue(now)
    queue.add(make_pod("late-low").created("2026-01-01T00:00:10Z").obj())
    queue.add(make_pod("early-low").created("2026-01-01T00:00:00Z").obj())
    queue.add(make_pod("high").priority(10).created("2026-01-01T00:00:20Z").obj())
    assert _drain(queue) == ["high", "early-low", "late-low"]


def test_fifo_by_arrival_without_timestamps() -> None:
    now = [100.0]
    queue = _queue(now)
    for name in ["a", "b", "c"]:
        queue.add(make_pod(name).obj())
        now[0] += 1
    assert _drain(queue) == ["a", "b", "c"]


def test_backoff_doubles_and_is_capped() -> None:
    now = [0.0]
    queue = _queue(now, initial_backoff_seconds=1, max_backoff_seconds=10)
    queue.add(make_pod("p").obj())
    waits = []
    for _ in range(6):
        entry = queue.pop()
        assert entry is not None
        queue.requeue_backoff(entry, "bind failed")
        started = now[0]
        while queue.pop() is None:
            now[0] += 0.5
        # pop succeeded: put it back for the next round
        entry = queue.entry("uid-p")
        assert entry is not None
        waits.append(now[0] - started)
        queue.requeue_backoff(entry, "again")  # attempt counted by pop
        now[0] += 100  # let that backoff expire so the loop's own pop is immediate
    assert waits == [1.0, 4.0, 10.0, 10.0, 10.0, 10.0]


def test_backoff_duration_formula() -> None:
    now = [0.0]
    queue = _queue(now, initial_backoff_seconds=1, max_backoff_seconds=10)
    queue.add(make_pod("p").obj())
    entry = queue.entry("uid-p")
    assert entry is not None
    durations = []
    for attempts in range(1, 7):
        entry.attempts = attempts
        durations.append(queue.backoff_duration(entry))
    assert durations == [1, 2, 4, 8, 10, 10]


def test_unschedulable_pods_wait_for_a_cluster_change() -> None:
    now = [0.0]
    queue = _queue(
        now, initial_backoff_seconds=1, max_backoff_seconds=10, max_unschedulable_seconds=300
    )
    queue.add(make_pod("p").obj())
    entry = queue.pop()
    assert entry is not None
    queue.requeue_unschedulable(entry, "0/1 nodes are available")
    now[0] += 50
    assert queue.pop() is None
    assert queue.where("uid-p") == "unschedulable"
    queue.move_all()  # e.g. a node was added
    assert queue.where("uid-p") == "active"  # its 1 s backoff already passed
    assert queue.pop() is not None


def test_cluster_change_during_backoff_waits_out_the_backoff() -> None:
    now = [0.0]
    queue = _queue(now, initial_backoff_seconds=4, max_backoff_seconds=10)
    queue.add(make_pod("p").obj())
    entry = queue.pop()
    assert entry is not None
    queue.requeue_unschedulable(entry, "no room")
    now[0] += 1
    queue.move_all()
    assert queue.where("uid-p") == "backoff"
    assert queue.pop() is None
    now[0] += 3
    assert queue.pop() is not None


def test_change_while_in_flight_retries_after_backoff_instead_of_waiting() -> None:
    now = [0.0]
    queue = _queue(now)
    queue.add(make_pod("p").obj())
    entry = queue.pop()
    assert entry is not None
    queue.move_all()  # a node arrived while the pod was being scheduled
    queue.requeue_unschedulable(entry, "no room")
    assert queue.where("uid-p") == "backoff"


def test_unschedulable_pods_are_retried_after_the_maximum_wait() -> None:
    now = [0.0]
    queue = _queue(now, max_unschedulable_seconds=300)
    queue.add(make_pod("p").obj())
    entry = queue.pop()
    assert entry is not None
    queue.requeue_unschedulable(entry, "no room")
    now[0] = 299
    assert queue.pop() is None
    now[0] = 300
    assert queue.pop() is not None


def test_starving_pod_is_boosted_above_fresh_higher_priority_pods() -> None:
    now = [0.0]
    sort = PrioritySort(PrioritySortArgs(starvation_threshold_seconds=60))
    queue = SchedulingQueue(sort, lambda: now[0])
    queue.add(make_pod("old-low").priority(0).obj())
    now[0] = 59
    queue.add(make_pod("fresh-high").priority(1000).obj())
    assert [e.pod.name for e in [queue.pop()] if e] == ["fresh-high"]
    queue.add(make_pod("fresh-high-2").priority(1000).obj())
    now[0] = 61  # old-low has now waited over 60 s
    assert _drain(queue) == ["old-low", "fresh-high-2"]


def test_starvation_boost_can_be_disabled() -> None:
    now = [0.0]
    queue = SchedulingQueue(
        PrioritySort(PrioritySortArgs(starvation_threshold_seconds=0)), lambda: now[0]
    )
    queue.add(make_pod("old-low").obj())
    now[0] = 1000
    queue.add(make_pod("fresh-high").priority(5).obj())
    assert _drain(queue) == ["fresh-high", "old-low"]


def test_updating_an_unschedulable_pod_makes_it_active_and_delete_removes_it() -> None:
    now = [0.0]
    queue = _queue(now)
    queue.add(make_pod("p").obj())
    entry = queue.pop()
    assert entry is not None
    queue.requeue_unschedulable(entry, "no room")
    queue.add(make_pod("p").req(cpu="1").obj())  # the user changed the pod
    assert queue.where("uid-p") == "active"
    assert queue.delete("uid-p") is not None
    assert queue.pop() is None
    assert len(queue) == 0


def test_pending_counts_and_next_wakeup() -> None:
    now = [0.0]
    queue = _queue(now, initial_backoff_seconds=2, max_unschedulable_seconds=300)
    for name in ["a", "b", "c"]:
        queue.add(make_pod(name).obj())
    a, b = queue.pop(), queue.pop()
    assert a is not None
    assert b is not None
    queue.requeue_backoff(a, "x")
    queue.requeue_unschedulable(b, "y")
    assert queue.pending_counts() == {"active": 1, "backoff": 1, "unschedulable": 1, "in-flight": 0}
    assert queue.next_wakeup() == 2.0
