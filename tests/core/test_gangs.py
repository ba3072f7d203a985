"""Gang scheduling in the core: all-or-nothing, no deadlock, sizes from every spelling."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubenexus.api import PodInfo, pod_from_dict
from kubenexus.plugins.coscheduling import Coscheduling, PodGroupSpec
from kubenexus.scheduler import Scheduled, Scheduler
from tests.builders import PodBuilder, make_node, make_pod
from tests.core.helpers import place, scheduler

NAME = "pod-group.scheduling.kubenexus.io/name"
MIN = "pod-group.scheduling.kubenexus.io/min-available"


def member(name: str, gang: str, size: int | None, cpu: str = "1") -> PodBuilder:
    builder = make_pod(name).req(cpu=cpu).label(NAME, gang)
    if size is not None:
        builder.label(MIN, str(size))
    return builder


def gang(prefix: str, count: int, size: int | None = None, cpu: str = "1") -> list[PodInfo]:
    return [
        member(f"{prefix}-{i}", prefix, size if size is not None else count, cpu).obj()
        for i in range(count)
    ]


def bound(result: dict[str, str], prefix: str) -> int:
    """How many of the gang's pods went to a node (a node name, not a message)."""
    return sum(
        1 for name, where in result.items() if name.startswith(f"{prefix}-") and " " not in where
    )


def test_a_gang_that_fits_is_placed_whole() -> None:
    s = scheduler(*[make_node(f"n{i}").alloc(cpu="4").obj() for i in range(3)])
    result = place(s, *gang("train", 6, cpu="2"))
    assert bound(result, "train") == 6
    assert s.cache.gang_placed("default/train") == 6


def test_one_unschedulable_member_means_nothing_is_bound() -> None:
    s = scheduler(*[make_node(f"n{i}").alloc(cpu="8").label("zone", "a").obj() for i in range(4)])
    members = gang("train", 3, size=4)
    members.append(member("train-3", "train", 4).selector(zone="nowhere").obj())
    result = place(s, *members)
    assert bound(result, "train") == 0
    assert s.cache.pod_count == 0  # nothing assumed, nothing held
    assert result["train-0"].startswith(
        "pod group default/train: only 3 of minMember 4 members fit; default/train-3: 0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector."
    )


def test_two_gangs_each_needing_60_percent_one_completes_then_the_other() -> None:
    now = [1000.0]
    s = scheduler(
        *[make_node(f"n{i}").alloc(cpu="10").obj() for i in range(10)], clock=now
    )  # 100 cpu
    first = gang("alpha", 6, cpu="10")  # 60 cpu
    now[0] += 1
    second = gang("beta", 6, cpu="10")
    result = place(s, *first, *second)
    assert bound(result, "alpha") == 6  # the older gang
    assert bound(result, "beta") == 0  # none of it, not a partial gang
    assert s.cache.pod_count == 6
    # alpha finishes: beta completes.
    for pod in first:
        s.upsert_pod(_finished(pod, result[pod.name]))
    now[0] += 30
    later = place(s)
    assert bound(later, "beta") == 6


def _finished(pod: PodInfo, node: str) -> PodInfo:
    return replace(pod, node_name=node, phase="Succeeded")


def test_members_arriving_one_by_one_are_placed_when_the_quorum_exists() -> None:
    now = [1000.0]
    s = scheduler(*[make_node(f"n{i}").alloc(cpu="8").obj() for i in range(2)], clock=now)
    members = gang("job", 4)
    for i, pod in enumerate(members[:3]):
        result = place(s, pod)
        assert (
            result[pod.name]
            == f"waiting for pod group default/job: {i + 1} of minMember 4 members exist"
        )
        now[0] += 5
    result = place(s, members[3])
    assert bound(result, "job") == 4  # the last arrival brought the waiting members back
    assert s.cache.gang_placed("default/job") == 4


def test_min_member_smaller_than_the_gang_places_the_quorum_then_the_rest() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="3").obj(), clock=now)
    result = place(s, *gang("spark", 5, size=3))
    assert bound(result, "spark") == 3  # quorum placed, two do not fit yet
    waiting = [n for n, w in result.items() if w.startswith("0/1")]
    assert len(waiting) == 2
    s.upsert_node(make_node("b").alloc(cpu="2").obj())
    now[0] += 5
    result = place(s)
    assert bound(result, "spark") == 2  # joined one by one: the quorum already runs


def test_a_gang_of_unequal_members_that_fits_is_placed_whatever_their_order() -> None:
    """An MPI launcher (small, created first) and a worker (large): placing the launcher on
    the roomier node first leaves the worker nowhere, though the gang fits the cluster. A
    gang that fits must not wait forever on the order its members came in."""
    now = [1000.0]
    s = scheduler(
        make_node("a").alloc(cpu="3").obj(), make_node("b").alloc(cpu="2").obj(), clock=now
    )
    launcher = member("mpi-0", "mpi", 2, cpu="2").obj()
    now[0] += 1
    worker = member("mpi-1", "mpi", 2, cpu="3").obj()
    result = place(s, launcher, worker)
    assert (result["mpi-0"], result["mpi-1"]) == ("b", "a")
    assert (s.cache.nodes.free[:, : s.cache.nodes.size] >= 0).all()


def test_a_gang_of_1000_pods() -> None:
    s = scheduler(*[make_node(f"n{i:03d}").alloc(cpu="16").obj() for i in range(100)])
    result = place(s, *gang("big", 1000))
    assert bound(result, "big") == 1000
    nodes = s.cache.nodes
    assert (nodes.free[:, : nodes.size] >= 0).all()


def test_a_gang_of_1000_pods_that_does_not_fit_leaves_nothing_behind() -> None:
    s = scheduler(*[make_node(f"n{i:03d}").alloc(cpu="16").obj() for i in range(50)])  # 800 cpu
    result = place(s, *gang("big", 1000))
    assert bound(result, "big") == 0
    assert s.cache.pod_count == 0
    assert int(s.cache.nodes.requested[0, : s.cache.nodes.size].sum()) == 0


def test_every_spelling_of_membership() -> None:
    s = scheduler(make_node("a").alloc(cpu="8").obj())
    sigs = [
        make_pod(f"sigs-{i}")
        .req(cpu="1")
        .annotate("pod-group.scheduling.sigs.k8s.io/name", "sigs")
        .annotate("pod-group.scheduling.sigs.k8s.io/min-available", "2")
        .obj()
        for i in range(2)
    ]
    result = place(s, *sigs)
    assert bound(result, "sigs") == 2
    xk8s = [
        make_pod(f"xk-{i}").req(cpu="1").label("scheduling.x-k8s.io/pod-group", "xk").obj()
        for i in range(2)
    ]
    result = place(s, *xk8s)
    assert (
        result["xk-0"]
        == "waiting for PodGroup default/xk: its members name it but do not say how many must run together"
    )
    _gangs(s).upsert_pod_group("default/xk", PodGroupSpec(min_member=2))
    s.upsert_pod(
        make_pod("unrelated").req(cpu="1").obj()
    )  # any change; the gang retries on activity
    for pod in xk8s:
        s.queue.activate(pod.key)
    assert bound(place(s), "xk") == 2


def _gangs(s: Scheduler):  # type: ignore[no-untyped-def]
    plugin = s.profiles["kubenexus-scheduler"].queue_sort
    assert isinstance(plugin, Coscheduling)
    return plugin.gangs


def test_conflicting_sizes_are_not_placed_on_a_guess() -> None:
    s = scheduler(make_node("a").alloc(cpu="8").obj())
    result = place(s, member("c-0", "c", 2).obj(), member("c-1", "c", 3).obj())
    assert (
        result["c-0"]
        == "conflicting min-available between members of pod group default/c: default/c-0 says 2, default/c-1 says 3"
    )
    assert s.cache.pod_count == 0


def test_malformed_size_is_named() -> None:
    s = scheduler(make_node("a").alloc(cpu="8").obj())
    result = place(s, make_pod("m").label(NAME, "m").label(MIN, "three").obj())
    assert (
        result["m"]
        == "0/1 nodes are available: pod group default/m: pod-group.scheduling.kubenexus.io/min-available: must be an integer >= 1 (got 'three')."
    )


def test_min_resources_beyond_the_free_capacity_is_not_even_tried() -> None:
    s = scheduler(make_node("a").alloc(cpu="8").obj())
    _gangs(s).upsert_pod_group(
        "default/huge", PodGroupSpec(min_member=2, min_resources={"cpu": 64_000})
    )
    result = place(s, *gang("huge", 2))
    assert (
        result["huge-0"]
        == "pod group default/huge needs 64 cpu in total but the cluster has 8 free: not tried"
    )


def test_min_resources_counts_what_the_members_already_placed_hold() -> None:
    """Half the gang is bound (a binding refused, a restart mid-binding): the rest need only
    what the bound half does not already hold — comparing the whole gang's minResources with
    the free capacity left it "not tried" forever."""
    s = scheduler(make_node("a").alloc(cpu="8").obj())
    _gangs(s).upsert_pod_group(
        "default/half", PodGroupSpec(min_member=4, min_resources={"cpu": 8_000})
    )
    placed = [member(f"half-{i}", "half", None, cpu="2").node("a").obj() for i in range(2)]
    pending = [member(f"half-{i}", "half", None, cpu="2").obj() for i in range(2, 4)]
    result = place(s, *placed, *pending)
    assert (result["half-2"], result["half-3"]) == ("a", "a")
    # A gang that is short all the same is still not tried.
    s = scheduler(make_node("a").alloc(cpu="7").obj())
    _gangs(s).upsert_pod_group(
        "default/half", PodGroupSpec(min_member=4, min_resources={"cpu": 8_000})
    )
    placed = [member(f"half-{i}", "half", None, cpu="2").node("a").obj() for i in range(2)]
    result = place(s, *placed, *pending)
    assert result["half-2"] == (
        "pod group default/half needs 4 cpu more but the cluster has 3 free: not tried"
    )


def test_timeout_is_reported_after_schedule_timeout_seconds() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="2").obj(), clock=now)
    members = gang("slow", 3)
    assert place(s, *members)["slow-0"].startswith("pod group default/slow: only 2 of minMember 3")
    now[0] += 61
    s.upsert_node(make_node("b").alloc(cpu="0.5").obj())  # a change, still not enough
    assert place(s)["slow-0"].startswith(
        "timed out after 60s: pod group default/slow: only 2 of minMember 3"
    )


def test_gangs_are_ordered_by_priority_then_age() -> None:
    now = [1000.0]
    s = scheduler(*[make_node(f"n{i}").alloc(cpu="4").obj() for i in range(2)], clock=now)  # 8 cpu
    old = gang("old", 2, cpu="4")
    now[0] += 1
    urgent = [member(f"urgent-{i}", "urgent", 2, "4").priority(100).obj() for i in range(2)]
    result = place(s, *old, *urgent)
    assert bound(result, "urgent") == 2
    assert bound(result, "old") == 0


def test_deleted_member_is_replaced_by_a_recreated_one() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="8").obj(), clock=now)
    members = gang("r", 3)
    place(s, *members[:2])
    s.remove_pod(members[1].key)
    recreated = member("r-1", "r", 3).obj()
    recreated = replace(recreated, uid="uid-r-1-new")
    place(s, recreated)
    result = place(s, members[2])
    assert bound(result, "r") == 3


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 5), st.integers(1, 4)), min_size=1, max_size=8),
    st.lists(st.integers(1, 8), min_size=1, max_size=5),
)
def test_never_a_partial_gang(gangs: list[tuple[int, int]], node_cpus: list[int]) -> None:
    s = scheduler(*[make_node(f"n{i}").alloc(cpu=str(c)).obj() for i, c in enumerate(node_cpus)])
    pods = []
    for g, (count, cpu) in enumerate(gangs):
        pods += [member(f"g{g}-{i}", f"g{g}", count, str(cpu)).obj() for i in range(count)]
    for pod in pods:
        s.upsert_pod(pod)
    outcomes = s.run_until_idle()
    placed: dict[str, int] = {}
    for outcome in outcomes:
        if isinstance(outcome, Scheduled):
            placed[outcome.pod.gang] = placed.get(outcome.pod.gang, 0) + 1
    for g, (count, _) in enumerate(gangs):
        assert placed.get(f"default/g{g}", 0) in {0, count}
    nodes = s.cache.nodes
    assert (nodes.free[:, : nodes.size] >= 0).all()


def _decide_all(s: Scheduler) -> list[Scheduled]:
    """One pass of decisions without binding (the daemon's loop): the placed ones."""
    decided: list[Scheduled] = []
    while batch := s.schedule_next():
        decided += [o for o in batch if isinstance(o, Scheduled)]
    return decided


def test_a_gang_half_bound_by_transient_errors_completes_as_a_gang() -> None:
    """Hardening #1: two of four Bindings fail with a 500; the other two are bound. The two
    go back to their gang and are planned together (counting the bound ones), not left waiting
    for a quorum nobody can complete."""
    now = [1000.0]
    s = scheduler(*[make_node(f"n{i}").alloc(cpu="2").obj() for i in range(2)], clock=now)
    for pod in gang("job", 4):
        s.upsert_pod(pod)
    decided = _decide_all(s)
    assert len(decided) == 4
    for decision in decided[:2]:
        s.binding_succeeded(decision.pod.key)
        s.upsert_pod(replace(decision.pod, node_name=decision.node))  # the watch confirms
    for decision in decided[2:]:
        assert s.binding_failed(decision.pod.key, "500 Internal Server Error")
        assert s.queue.gang_members("default/job")  # back in its gang's index
    now[0] += 2  # past the backoff
    retried = _decide_all(s)
    assert sorted(d.pod.name for d in retried) == sorted(d.pod.name for d in decided[2:])
    assert s.cache.gang_placed("default/job") == 4
    assert len(s.queue) == 0


def test_a_failed_member_whose_room_was_taken_waits_with_its_gang_and_completes_later() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="3").obj(), clock=now)
    for pod in gang("job", 3):
        s.upsert_pod(pod)
    decided = _decide_all(s)
    for decision in decided[:2]:
        s.binding_succeeded(decision.pod.key)
        s.upsert_pod(replace(decision.pod, node_name=decision.node))
    assert s.binding_failed(decided[2].pod.key, "403 Forbidden")
    # Meanwhile another pod takes the last cpu.
    s.upsert_pod(make_pod("intruder").req(cpu="1").scheduler("other").node("a").obj())
    now[0] += 2
    assert _decide_all(s) == []
    waiting = s.queue.entry(decided[2].pod.key)
    assert waiting is not None
    assert waiting.last_message.startswith("pod group default/job: only 2 of minMember 3")
    s.remove_pod("uid-intruder")  # room again: the member is woken and completes the gang
    now[0] += 10
    assert [d.pod.name for d in _decide_all(s)] == [decided[2].pod.name]


def test_a_gang_is_forgotten_when_its_members_finish_and_a_new_one_starts_afresh() -> None:
    """Hardening #8: a finished gang's age must not make a later gang of the same name count
    as timed out (and jump the queue)."""
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    first = gang("nightly", 2)
    result = place(s, *first)
    for pod in first:
        s.upsert_pod(_finished(pod, result[pod.name]))
    for pod in first:
        s.remove_pod(pod.key)
    coscheduling = next(
        p for p in s.profiles["kubenexus-scheduler"].permits if isinstance(p, Coscheduling)
    )
    assert "default/nightly" not in coscheduling.gangs.first_seen
    coscheduling.gangs.preempted_at["default/nightly"] = now[0]  # as if it had preempted
    s.upsert_pod(replace(first[0], uid="uid-late", node_name="a", phase="Succeeded"))
    s.remove_pod("uid-late")
    assert "default/nightly" not in coscheduling.gangs.preempted_at  # never kept for good
    now[0] += 3600
    second = [replace(p, uid=f"{p.uid}-2") for p in gang("nightly", 3, cpu="2")]  # 6 > 4 cpu
    message = place(s, *second)[second[0].name]
    assert message.startswith("pod group default/nightly: only 2 of minMember 3")  # not timed out


def test_finished_members_alone_also_release_the_gang_bookkeeping() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    first = gang("batch", 2)
    result = place(s, *first)
    for pod in first:  # Completed, not deleted (a Job keeps its pods)
        s.upsert_pod(_finished(pod, result[pod.name]))
    coscheduling = next(
        p for p in s.profiles["kubenexus-scheduler"].permits if isinstance(p, Coscheduling)
    )
    assert "default/batch" not in coscheduling.gangs.first_seen


def test_waiting_members_fail_with_one_kind_whatever_the_count() -> None:
    """Hardening #10: "k of N members exist" changes with every arrival; the failure's kind
    (what Events are deduplicated by) does not."""
    s = scheduler(make_node("a").alloc(cpu="8").obj())
    kinds = set()
    messages = set()
    for pod in gang("wide", 5)[:4]:
        s.upsert_pod(pod)
        for outcome in s.run_until_idle():
            assert not isinstance(outcome, Scheduled)
            kinds.add(outcome.failure.event_key)
            messages.add(outcome.message)
    assert kinds == {"gang-members-missing:default/wide"}
    assert len(messages) == 4  # the message still tells the count


def _ended(pod: PodInfo, node: str, phase: str) -> PodInfo:
    return replace(pod, node_name=node, phase=phase)


@pytest.mark.parametrize(
    "phases",
    [("Succeeded", "Succeeded", "Failed"), ("Succeeded", "Running", "Failed")],
    ids=["others-finished", "one-still-running"],
)
def test_a_replacement_joins_the_gang_that_already_ran(phases: tuple[str, str, str]) -> None:
    """A Job's gang ran; a member failed and the Job made a replacement. Members that ran and
    finished still count toward the quorum, so the replacement is placed (it waited forever)."""
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="8").obj(), clock=now)
    members = gang("job", 3)
    result = place(s, *members)
    for pod, phase in zip(members, phases, strict=True):
        s.upsert_pod(_ended(pod, result[pod.name], phase))
    now[0] += 5
    assert place(s, member("job-3", "job", 3).obj()) == {"job-3": "a"}


def test_finished_members_of_another_owner_do_not_make_a_quorum() -> None:
    """A CronJob's next Job reuses the gang's name: the last Job's finished pods must not let the
    new one be placed pod by pod."""
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="8").obj(), clock=now)

    def owned(name: str, job_uid: str) -> PodInfo:
        body = member(name, "nightly", 3).dict()
        body["metadata"]["ownerReferences"] = [
            {"kind": "Job", "name": job_uid, "uid": job_uid, "controller": True}
        ]
        return pod_from_dict(body)

    first = [owned(f"n1-{i}", "job-1") for i in range(3)]
    result = place(s, *first)
    for pod in first:
        s.upsert_pod(_ended(pod, result[pod.name], "Succeeded"))
    now[0] += 60
    lone = owned("n2-0", "job-2")
    assert place(s, lone)["n2-0"] == (
        "waiting for pod group default/nightly: 1 of minMember 3 members exist"
    )
    s.remove_pod(first[0].key)  # deletions are forgotten too
    assert s._finished["default/nightly"] == {first[1].key: "job-1", first[2].key: "job-1"}


def test_deleting_the_member_with_a_conflicting_size_wakes_the_rest() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="8").obj(), clock=now)
    a, b, odd = (member(n, "g", size).obj() for n, size in (("g-a", 2), ("g-b", 2), ("g-odd", 3)))
    assert place(s, a, b, odd)["g-a"].startswith("conflicting min-available")
    s.remove_pod(odd.key)
    now[0] += 20  # past the backoff, far below podMaxInUnschedulablePodsSeconds
    assert place(s) == {"g-a": "a", "g-b": "a"}


def test_a_retry_after_a_failed_binding_uses_the_latest_view_of_the_pod() -> None:
    """Relabelled into a 2-member gang while its binding was under way, then the binding
    failed: it waits for its gang instead of being bound alone on the old view."""
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="8").obj(), clock=now)
    s.upsert_pod(make_pod("p").req(cpu="1").obj())
    decision = s.schedule_one()
    assert isinstance(decision, Scheduled)
    s.upsert_pod(member("p", "team", 2).obj())
    assert s.binding_failed(decision.pod.key, "500")
    now[0] += 5
    assert place(s) == {"p": "waiting for pod group default/team: 1 of minMember 2 members exist"}


def test_our_own_condition_write_does_not_replan_a_waiting_gang() -> None:
    """The PodScheduled condition we write comes back as a pod update that changes nothing we
    read: it must not send the gang back to the active queue (40 members would replan it 40
    times)."""
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="1").obj(), clock=now)
    members = gang("wide", 4, cpu="1")
    place(s, *members)
    assert all(s.queue.where(m.key) == "unschedulable" for m in members)
    for pod in members:
        s.upsert_pod(pod)  # the same pod, with a status we do not read
    assert all(s.queue.where(m.key) == "unschedulable" for m in members)


def test_a_podgroup_the_scheduler_made_never_blocks_a_gang_that_changed_size() -> None:
    """A label-only gang's PodGroup is made by the scheduler (managed); a later run of the gang
    declaring another size follows its members, while a user's PodGroup still conflicts."""
    s = scheduler(make_node("a").alloc(cpu="8").obj())
    s.upsert_pod_group("default/nightly", PodGroupSpec(min_member=2, managed=True))
    assert bound(place(s, *gang("nightly", 3)), "nightly") == 3
    s.upsert_pod_group("default/users", PodGroupSpec(min_member=2))
    message = place(s, *gang("users", 3))["users-0"]
    assert message == (
        "pod group default/users: default/users-0 declares min-available 3 but the "
        "PodGroup's minMember is 2"
    )


def test_a_pod_relabelled_into_a_gang_brings_the_gang_its_age() -> None:
    """Members first seen without their gang labels (created, then labelled: what a real API
    server's watch often shows) still start the gang's clock: the timeout is reported."""
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="0.5").obj(), clock=now)
    for i in range(3):
        s.upsert_pod(make_pod(f"t-{i}").req(cpu="1").obj())  # no labels yet
    place(s)
    for pod in gang("t", 3):  # now labelled into the gang
        s.upsert_pod(pod)
    assert place(s)["t-0"].startswith("pod group default/t: only 0 of minMember 3")
    now[0] += 61
    s.upsert_node(make_node("b").alloc(cpu="0.5").obj())
    assert place(s)["t-0"].startswith("timed out after 60s: pod group default/t")
