"""ResourceReservation in the core: a driver is admitted only with room for all its executors,
that room is held against everyone else, executors claim it, and it is released when it should."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from kubenexus.api import PodInfo
from kubenexus.api.gang import pod_group_spec
from kubenexus.api.reservation import reservation_from_dict, reservation_to_dict
from kubenexus.scheduler import Scheduled, Scheduler
from tests.builders import PodBuilder, make_node, make_pod
from tests.core.helpers import place, scheduler

COUNT = "scheduling.kubenexus.io/executor-count"
CPU = "scheduling.kubenexus.io/executor-cpu"
MEMORY = "scheduling.kubenexus.io/executor-memory"
GPU = "scheduling.kubenexus.io/executor-gpu"


def driver(
    app: str, executors: int, cpu: str = "2", memory: str = "4Gi", **extra: str
) -> PodBuilder:
    builder = (
        make_pod(f"{app}-driver")
        .req(cpu="1", memory="1Gi")
        .label("spark-role", "driver")
        .label("spark-app-selector", app)
        .annotate(COUNT, str(executors))
        .annotate(CPU, cpu)
        .annotate(MEMORY, memory)
    )
    for key, value in extra.items():
        builder.annotate(key, value)
    return builder


def executor(app: str, index: int, cpu: str = "2", memory: str = "4Gi") -> PodBuilder:
    return (
        make_pod(f"{app}-exec-{index}")
        .req(cpu=cpu, memory=memory)
        .label("spark-role", "executor")
        .label("spark-app-selector", app)
    )


def executors(app: str, count: int, start: int = 0, **size: str) -> list[PodInfo]:
    return [executor(app, i, **size).obj() for i in range(start, start + count)]


def flood(count: int, cpu: str = "1", prefix: str = "other") -> list[PodInfo]:
    return [make_pod(f"{prefix}-{i}").req(cpu=cpu).obj() for i in range(count)]


def bound(result: dict[str, str]) -> dict[str, str]:
    return {name: where for name, where in result.items() if " " not in where}


CLOCKS: dict[int, list[float]] = {}


def cluster(count: int = 4, cpu: str = "8", memory: str = "32Gi", **extra: str) -> Scheduler:
    now = [1000.0]
    s = scheduler(
        *[make_node(f"n{i}").alloc(cpu=cpu, memory=memory, **extra).obj() for i in range(count)],
        clock=now,
    )
    CLOCKS[id(s)] = now
    return s


def later(s: Scheduler, seconds: float = 30.0) -> Scheduler:
    """Let backoffs pass (a pod that did not fit is retried after a change and its backoff)."""
    CLOCKS[id(s)][0] += seconds
    return s


def slots_of(s: Scheduler, key: str) -> dict[str, dict[str, Any]]:
    return dict(s.reserving.book.status(key)["slots"])  # type: ignore[call-overload]


def requested_cpu(s: Scheduler, node: str) -> int:
    nodes = s.cache.nodes
    slot = nodes.slot_of(node)
    assert slot is not None
    return int(nodes.requested[nodes.resource_index["cpu"], slot])


def status(s: Scheduler, key: str) -> dict[str, Any]:
    return dict(s.reserving.book.status(key))


def restart(
    s: Scheduler, objects: list[dict[str, Any]], *pods: PodInfo, now: float = 1000.0
) -> Scheduler:
    """A new scheduler that learns the cluster as a restarted daemon does: nodes, the
    reservation objects as written (status included), then every pod."""
    nodes = [s.cache.node_info(name) for name in s.cache.nodes.names_in_order()]
    fresh = scheduler(*[node for node in nodes if node is not None], clock=[now])
    for obj in objects:
        fresh.upsert_reservation(reservation_from_dict(obj))
    for pod in pods:
        fresh.upsert_pod(pod)
    return fresh


def as_bound(s: Scheduler, key: str) -> PodInfo:
    """A pod the scheduler placed, as the API shows it once bound."""
    pod, node = s.cache.pod(key), s.cache.node_of(key)
    assert pod is not None
    assert node is not None
    return replace(pod, node_name=node)


def written(s: Scheduler, key: str, driver_pod: PodInfo) -> dict[str, Any]:
    """The object the daemon writes for a driver's reservation, with its status, as read back."""
    held = s.reserving.book.held[key]
    obj = reservation_to_dict(held.spec, driver_pod.uid)
    obj["metadata"]["creationTimestamp"] = "1970-01-01T00:16:40Z"  # the test clock's start
    obj["status"] = dict(s.reserving.book.status(key))
    return obj


def test_a_driver_holds_room_its_executors_claim_later_while_a_flood_cannot_take_it() -> None:
    s = cluster()
    assert place(s, driver("spark-1", 10).obj()) == {"spark-1-driver": "n0"}
    held = status(s, "default/spark-1-driver")
    assert held["phase"] == "Active"
    assert held["claims"] == "0/10"
    reserved = Counter(slot["node"] for slot in held["slots"].values())
    # 10 executors of 2 cpu on 4 nodes of 8 cpu (1 taken by the driver): spread, all held.
    assert sum(reserved.values()) == 10
    # 200 pods of 1 cpu: only what the driver and its 10 slots (21 cpu) leave of 32 fits.
    result = place(s, *flood(200))
    assert len(bound(result)) == 32 - 1 - 20
    assert result["other-199"].startswith("0/4 nodes are available: 4 Insufficient cpu.")
    # The executors arrive later and land exactly on the reserved nodes, none refused.
    result = place(s, *executors("spark-1", 10))
    assert len(bound(result)) == 10
    assert Counter(result.values()) == reserved
    after = status(s, "default/spark-1-driver")
    assert after["claims"] == "10/10"
    assert {slot["pod"] for slot in after["slots"].values()} == {
        f"default/spark-1-exec-{i}" for i in range(10)
    }
    assert after["conditions"][0]["reason"] == "AllClaimed"
    # A claimed slot counts the executor itself, not the placeholder too.
    assert requested_cpu(s, "n0") == 8000


def test_a_driver_without_room_for_all_executors_is_not_bound_and_says_what_is_short() -> None:
    s = cluster(count=2)
    result = place(s, driver("big", 8).obj())  # 1 + 16 cpu on 16
    message = result["big-driver"]
    assert message.startswith(
        "driver default/big-driver waits for room for all 8 executors "
        "(2 cpu, 4Gi memory each): 7 fit; executor 8: 0/2 nodes are available: "
        "2 Insufficient cpu."
    ), message
    assert s.cache.pod_count == 0  # nothing assumed, nothing held
    assert not s.reserving.book.held
    # Other pods use the whole cluster meanwhile.
    assert len(bound(place(s, *flood(16)))) == 16


def test_memory_or_gpu_short_is_named() -> None:
    s = cluster(count=1, memory="8Gi")
    result = place(s, driver("mem", 2, memory="4Gi").obj())
    assert "executor 2: 0/1 nodes are available: 1 Insufficient memory." in result["mem-driver"]
    s = scheduler(
        make_node("g0").alloc(cpu="32", memory="64Gi").extended("nvidia.com/gpu", "1").obj()
    )
    result = place(s, driver("gpu", 2, **{GPU: "1"}).obj())
    assert (
        "executor 2: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
        in (result["gpu-driver"])
    )


def test_a_waiting_driver_is_admitted_when_room_frees() -> None:
    s = cluster(count=1)
    place(s, *flood(6, cpu="1"))
    assert "waits for room" in place(s, driver("late", 2).obj())["late-driver"]
    for i in range(6):
        s.remove_pod("uid-other-" + str(i))
    assert place(later(s)) == {"late-driver": "n0"}
    assert status(s, "default/late-driver")["phase"] == "Active"


def test_deleting_the_driver_releases_its_room_for_others() -> None:
    s = cluster(count=1)
    d = driver("gone", 3).obj()
    place(s, d)
    assert len(bound(place(s, *flood(8)))) == 1  # 8 - 1 (driver) - 6 (slots)
    s.remove_pod(d.key)
    after = status(s, "default/gone-driver")
    assert after["phase"] == "Released"
    assert after["message"] == "the driver default/gone-driver was deleted"
    assert all(slot["state"] == "Released" for slot in after["slots"].values())
    assert len(bound(place(later(s)))) == 7  # the waiting flood takes the whole node now
    # The object's removal (garbage collection) forgets it.
    s.remove_reservation("default/gone-driver")
    assert not s.reserving.book.held


def test_a_finished_driver_releases_unclaimed_slots_and_keeps_claimed_pods_counted() -> None:
    s = cluster(count=1)
    d = driver("done", 3).obj()
    place(s, d)
    place(s, *executors("done", 1))
    s.upsert_pod(
        make_pod("done-driver").req(cpu="1", memory="1Gi").node("n0").phase("Succeeded").obj()
    )
    after = status(s, "default/done-driver")
    assert after["phase"] == "Released"
    assert after["slots"]["executor-0"]["state"] == "Claimed"
    # The driver (finished) and 2 free slots are free: 8 - 2 (the executor) = 6.
    assert len(bound(place(s, *flood(10)))) == 6


def test_time_to_live_releases_unclaimed_slots() -> None:
    now = [1000.0]
    s = scheduler(
        make_node("n0").alloc(cpu="8", memory="32Gi").obj(),
        config={
            "profiles": [
                {
                    "schedulerName": "kubenexus-scheduler",
                    "pluginConfig": [
                        {"name": "ResourceReservation", "args": {"defaultTtlSeconds": 60}}
                    ],
                }
            ]
        },
        clock=now,
    )
    place(s, driver("slow", 3).obj())
    place(s, *executors("slow", 1))
    assert s.reserving.next_expiry() == 1060.0
    now[0] = 1059.0
    assert s.expire_reservations() == []
    now[0] = 1060.0
    expired = s.expire_reservations()
    assert [h.key for h in expired] == ["default/slow-driver"]
    after = status(s, "default/slow-driver")
    assert after["phase"] == "Expired"
    assert after["message"] == "its time to live passed before every slot was claimed"
    assert [slot["state"] for slot in after["slots"].values()] == [
        "Claimed",
        "Released",
        "Released",
    ]
    assert len(bound(place(s, *flood(10)))) == 5  # 8 - driver - one executor
    # A later executor is an ordinary pod now.
    assert s.reserving.next_expiry() is None


def test_fully_claimed_reservation_never_expires_and_a_reopened_slot_gets_its_own_time() -> None:
    now = [1000.0]
    s = scheduler(make_node("n0").alloc(cpu="8", memory="32Gi").obj(), clock=now)
    place(s, driver("full", 2).obj())
    place(s, *executors("full", 2))
    assert s.reserving.next_expiry() is None
    now[0] = 5000.0
    s.remove_pod("uid-full-exec-0")  # killed after the time to live passed
    assert s.reserving.next_expiry() == 5600.0  # the default 600 s, from now
    assert s.expire_reservations() == []
    assert status(s, "default/full-driver")["slots"]["executor-0"]["state"] == "Free"


def test_an_executor_killed_and_replaced_reclaims_its_slot() -> None:
    s = cluster(count=2)
    place(s, driver("re", 4).obj())
    first = place(s, *executors("re", 4))
    victim = status(s, "default/re-driver")["slots"]
    slot_name, slot = next(iter(victim.items()))
    killed = slot["pod"].split("/", 1)[1]
    s.remove_pod(f"uid-{killed}")
    assert status(s, "default/re-driver")["slots"][slot_name]["state"] == "Free"
    # The room is held again: others get only the 7 cpu the app leaves (3 pods of 2, not 4).
    assert len(bound(place(s, *flood(20, cpu="2")))) == 3
    replacement = place(s, executor("re", 9).obj())
    assert replacement == {"re-exec-9": first[killed]}
    assert status(s, "default/re-driver")["slots"][slot_name]["pod"] == "default/re-exec-9"


def test_an_executor_that_failed_reopens_its_slot() -> None:
    s = cluster(count=1)
    place(s, driver("fail", 2).obj())
    place(s, *executors("fail", 2))
    s.upsert_pod(executor("fail", 0).node("n0").phase("Failed").obj())
    assert status(s, "default/fail-driver")["claims"] == "1/2"
    assert place(s, executor("fail", 5).obj()) == {"fail-exec-5": "n0"}
    assert status(s, "default/fail-driver")["claims"] == "2/2"


def test_executors_beyond_the_reserved_count_are_ordinary_pods() -> None:
    s = cluster(count=1, cpu="16")
    place(s, driver("dyn", 2).obj())
    result = place(s, *executors("dyn", 5))  # dynamic allocation asks for 3 more
    assert len(bound(result)) == 5
    assert status(s, "default/dyn-driver")["claims"] == "2/2"
    # 1 + 5×2 = 11 of 16 cpu used; nothing is held any more.
    assert len(bound(place(s, *flood(10)))) == 5


def test_beyond_count_executors_wait_like_any_pod_when_the_cluster_is_full() -> None:
    s = cluster(count=1)
    place(s, driver("dyn", 2).obj())
    place(s, *flood(3))  # 8 - 1 - 4 = 3
    result = place(s, *executors("dyn", 3))
    assert len(bound(result)) == 2
    assert result["dyn-exec-2"].startswith("0/1 nodes are available: 1 Insufficient cpu.")


def test_an_executor_still_obeys_its_own_rules_on_a_slot() -> None:
    s = scheduler(
        make_node("a").alloc(cpu="8").label("disk", "hdd").obj(),
        make_node("b").alloc(cpu="8").label("disk", "ssd").obj(),
    )
    place(s, driver("rules", 2, cpu="3", memory="1Gi").obj())
    slots = status(s, "default/rules-driver")["slots"]
    # An executor asking for ssd claims a slot on b if one is there, never one on a.
    picky = executor("rules", 0, cpu="3", memory="1Gi").selector(disk="ssd").obj()
    result = place(s, picky)
    held_on_b = [name for name, slot in slots.items() if slot["node"] == "b"]
    assert result == {"rules-exec-0": "b"}
    after = status(s, "default/rules-driver")["slots"]
    if held_on_b:
        assert after[held_on_b[0]]["pod"] == "default/rules-exec-0"
    assert all(after[name]["state"] == "Free" for name in slots if slots[name]["node"] == "a")


def test_a_higher_priority_pod_does_not_take_reserved_room() -> None:
    s = cluster(count=1)
    place(s, driver("prio", 3).obj())
    urgent = make_pod("urgent").req(cpu="2").priority(1_000_000).obj()
    assert place(s, urgent)["urgent"].startswith("0/1 nodes are available: 1 Insufficient cpu.")


def test_two_applications_competing_for_the_same_room_one_whole_the_other_waits() -> None:
    s = cluster(count=2)  # 16 cpu: room for one app of 1 + 6×2 = 13 cpu, not two
    result = place(s, driver("a", 6).obj(), driver("b", 6).obj())
    admitted = [name for name, where in result.items() if " " not in where]
    assert admitted == ["a-driver"]
    assert "waits for room for all 6 executors" in result["b-driver"]
    # Executors of both arrive: a's take its slots; b has no driver placed, so nothing held.
    result = place(s, *executors("a", 6), *executors("b", 2))
    assert len([n for n in bound(result) if n.startswith("a-")]) == 6
    # Application a finishes: b is admitted whole — no deadlock, no half-placed app.
    for pod in [*(f"a-exec-{i}" for i in range(6)), "a-driver"]:
        s.remove_pod(f"uid-{pod}")
    for name in ("b-exec-0", "b-exec-1"):
        if name in bound(result):
            s.remove_pod(f"uid-{name}")
    assert place(later(s))["b-driver"] in {"n0", "n1"}
    assert status(s, "default/b-driver")["phase"] == "Active"


def test_shape_from_the_pod_group_when_the_driver_has_no_annotations() -> None:
    s = cluster(count=1)
    s.upsert_pod_group(
        "default/job",
        pod_group_spec({"minMember": 4, "minResources": {"cpu": "7", "memory": "10Gi"}}),
    )
    d = (
        make_pod("job-driver")
        .req(cpu="1", memory="1Gi")
        .label("pod-group.scheduling.kubenexus.io/name", "job")
        .annotate("scheduling.kubenexus.io/role", "driver")
        .obj()
    )
    assert place(s, d) == {"job-driver": "n0"}
    held = status(s, "default/job-driver")
    assert held["total"] == 3
    spec = s.reserving.book.held["default/job-driver"].spec
    assert dict(spec.slots[0].requests) == {"cpu": 2000, "memory": 3 * 2**30, "pods": 1}


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        (
            {COUNT: "many"},
            f"annotations[{COUNT}]: must be a whole number of executors (got 'many')",
        ),
        ({COUNT: "-2"}, f"annotations[{COUNT}]: must be a whole number of executors (got '-2')"),
        ({COUNT: "2", CPU: "lots"}, f"annotations[{CPU}]: invalid quantity"),
        ({COUNT: "2", CPU: "-1"}, f"annotations[{CPU}]: must not be negative (got '-1')"),
        ({COUNT: "2"}, "needs the executors' size too"),
    ],
)
def test_a_driver_with_malformed_executor_annotations_waits_and_says_why(
    annotations: dict[str, str], message: str
) -> None:
    s = cluster(count=1)
    builder = make_pod("bad-driver").req(cpu="1").label("spark-role", "driver")
    for key, value in annotations.items():
        builder.annotate(key, value)
    result = place(s, builder.obj())
    assert message in result["bad-driver"], result
    assert s.cache.pod_count == 0


def test_a_driver_of_zero_executors_or_without_a_shape_is_an_ordinary_pod() -> None:
    s = cluster(count=1)
    zero = make_pod("zero").req(cpu="1").label("spark-role", "driver").annotate(COUNT, "0").obj()
    plain = make_pod("plain").req(cpu="1").label("spark-role", "driver").obj()
    assert place(s, zero, plain) == {"zero": "n0", "plain": "n0"}
    assert not s.reserving.book.held


def test_a_ray_head_holds_room_for_its_workers() -> None:
    s = cluster(count=1)
    head = (
        make_pod("ray-head")
        .req(cpu="1")
        .label("ray.io/node-type", "head")
        .label("ray.io/cluster", "rc")
        .annotate(COUNT, "2")
        .annotate(CPU, "3")
        .obj()
    )
    assert place(s, head) == {"ray-head": "n0"}
    assert len(bound(place(s, *flood(8)))) == 1
    workers = [
        make_pod(f"ray-worker-{i}")
        .req(cpu="3")
        .label("ray.io/node-type", "worker")
        .label("ray.io/cluster", "rc")
        .obj()
        for i in range(2)
    ]
    assert place(s, *workers) == {"ray-worker-0": "n0", "ray-worker-1": "n0"}


# ---------------------------------------------------------------------- binding failures


def test_a_driver_whose_binding_failed_holds_nothing_and_is_retried() -> None:
    s = cluster(count=1)
    s.upsert_pod(driver("bf", 2).obj())
    [decision] = s.schedule_next()
    assert isinstance(decision, Scheduled)
    assert decision.reservation is not None
    assert s.binding_failed(decision.pod.key, "Binding rejected: 500")
    assert not s.reserving.book.held
    assert s.cache.pod_count == 0


def test_an_executor_whose_binding_failed_gives_its_slot_back() -> None:
    s = cluster(count=1)
    place(s, driver("ebf", 2).obj())
    s.upsert_pod(executor("ebf", 0).obj())
    [decision] = s.schedule_next()
    assert isinstance(decision, Scheduled)
    assert decision.claim is not None
    s.binding_failed(decision.pod.key, "Binding rejected: 500", retry=False)
    assert status(s, "default/ebf-driver")["claims"] == "0/2"
    assert len(bound(place(s, *flood(8)))) == 3  # the slot is held again


# ---------------------------------------------------------------------- restart


def test_a_restart_between_driver_binding_and_executor_arrival_keeps_the_room() -> None:
    s = cluster(count=2)
    d = driver("rs", 6).obj()
    place(s, d)
    place(s, *executors("rs", 2))
    reserved = {name: slot["node"] for name, slot in slots_of(s, "default/rs-driver").items()}
    obj = written(s, "default/rs-driver", d)
    bound_pods = [as_bound(s, k) for k in (d.key, "uid-rs-exec-0", "uid-rs-exec-1")]
    fresh = restart(s, [obj], *bound_pods)
    after = slots_of(fresh, "default/rs-driver")
    assert {name: slot["node"] for name, slot in after.items()} == reserved
    assert sorted(slot.get("pod", "") for slot in after.values())[-2:] == [
        "default/rs-exec-0",
        "default/rs-exec-1",
    ]
    # The 4 free slots are held after the restart: a flood gets only what is left.
    assert len(bound(place(fresh, *flood(40)))) == 16 - 1 - 12
    result = place(fresh, *executors("rs", 4, start=2))
    assert len(bound(result)) == 4
    assert status(fresh, "default/rs-driver")["claims"] == "6/6"


def test_a_restart_reading_pods_before_the_reservation_gives_the_same_claims() -> None:
    s = cluster(count=1)
    d = driver("order", 3).obj()
    place(s, d)
    place(s, *executors("order", 1))
    obj = written(s, "default/order-driver", d)
    fresh = scheduler(s.cache.node_info("n0"))  # type: ignore[arg-type]
    for key in (d.key, "uid-order-exec-0"):
        fresh.upsert_pod(as_bound(s, key))
    fresh.upsert_reservation(reservation_from_dict(obj))
    assert status(fresh, "default/order-driver")["claims"] == "1/3"
    assert requested_cpu(fresh, "n0") == 1000 + 3 * 2000


def test_a_released_reservation_stays_released_after_a_restart() -> None:
    s = cluster(count=1)
    d = driver("rel", 2).obj()
    place(s, d)
    s.pod_group_deleted("default/rel")
    obj = written(s, "default/rel-driver", d)
    assert obj["status"]["phase"] == "Released"
    fresh = restart(s, [obj])
    assert status(fresh, "default/rel-driver")["phase"] == "Released"
    assert fresh.cache.pod_count == 0


def test_the_driver_placed_again_after_a_restart_does_not_hold_twice() -> None:
    """The object was written, the daemon stopped before the Binding: the restarted one finds
    the driver pending and its reservation Active — it places the driver alone."""
    s = cluster(count=1)
    d = driver("twice", 3).obj()
    s.upsert_pod(d)
    [decision] = s.schedule_next()
    assert isinstance(decision, Scheduled)
    obj = written(s, "default/twice-driver", d)
    fresh = restart(s, [obj], d)
    result = place(fresh)
    assert result == {"twice-driver": "n0"}
    assert requested_cpu(fresh, "n0") == 1000 + 3 * 2000


# ---------------------------------------------------------------------- hand-written objects


def hand_written(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "scheduling.kubenexus.io/v1alpha1",
        "kind": "ResourceReservation",
        "metadata": {
            "name": name,
            "namespace": "default",
            "creationTimestamp": "1970-01-01T00:16:40Z",
        },
        "spec": spec,
    }


def member(name: str, group: str, cpu: str = "2") -> PodInfo:
    return (
        make_pod(name)
        .req(cpu=cpu)
        .label("pod-group.scheduling.kubenexus.io/name", group)
        .annotate("scheduling.kubenexus.io/role", "executor")
        .obj()
    )


def test_a_hand_written_reservation_holds_named_slots_for_its_group() -> None:
    s = cluster(count=2)
    obj = hand_written(
        "train-room",
        {
            "podGroupName": "train",
            "reservations": {
                "a": {"node": "n0", "resources": {"cpu": "6"}},
                "b": {"node": "n1", "resources": {"cpu": 6, "memory": "8Gi"}},
            },
            "duration": "1h",
        },
    )
    s.upsert_reservation(reservation_from_dict(obj))
    held = status(s, "default/train-room")
    assert held["phase"] == "Active"
    assert held["expiresAt"] == "1970-01-01T01:16:40Z"
    assert len(bound(place(s, *flood(10, cpu="1")))) == 4  # 2 left on each node
    # An executor of another group cannot claim them (it is a member of its own gang).
    assert " " in place(s, member("x-0", "other", cpu="1"))["x-0"]
    assert len(bound(place(s, make_pod("plain").req(cpu="1").obj()))) == 0
    result = place(s, member("t-0", "train", cpu="6"), member("t-1", "train", cpu="5"))
    assert sorted(result.values()) == ["n0", "n1"]
    assert status(s, "default/train-room")["claims"] == "2/2"


def test_shorthand_slots_get_nodes_chosen_by_the_scheduler_and_recorded() -> None:
    s = cluster(count=3)
    obj = hand_written(
        "short", {"podGroupName": "etl", "resources": {"cpu": "4", "memory": "8Gi"}, "count": 5}
    )
    s.upsert_reservation(reservation_from_dict(obj))
    held = status(s, "default/short")
    assert held["phase"] == "Active"
    nodes = Counter(slot["node"] for slot in held["slots"].values())
    assert sorted(held["slots"]) == [f"slot-{i}" for i in range(5)]
    assert sum(nodes.values()) == 5
    assert max(nodes.values()) == 2  # 8 cpu nodes: at most two 4-cpu slots each
    # The nodes are kept when the object is read back with its status (a restart).
    obj["status"] = held
    fresh = restart(s, [obj])
    assert {n: sl["node"] for n, sl in slots_of(fresh, "default/short").items()} == {
        n: sl["node"] for n, sl in held["slots"].items()
    }


def test_shorthand_without_room_waits_pending_and_takes_room_when_a_node_comes() -> None:
    s = cluster(count=1)
    obj = hand_written("wait", {"podGroupName": "g", "resources": {"cpu": "4"}, "count": 3})
    s.upsert_reservation(reservation_from_dict(obj))
    held = status(s, "default/wait")
    assert held["phase"] == "Pending"
    assert held["conditions"][0]["reason"] == "NodesNotChosen"
    assert held["message"].startswith("no room yet for slot slot-2: 0/1 nodes are available")
    assert s.cache.pod_count == 0  # holds nothing while pending
    s.upsert_node(make_node("n9").alloc(cpu="8").obj())
    assert status(s, "default/wait")["phase"] == "Active"
    assert s.cache.pod_count == 3


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (
            {
                "podGroupName": "g",
                "reservations": {"a": {"node": "ghost", "resources": {"cpu": "1"}}},
            },
            "spec.reservations.a.node: no node named 'ghost'",
        ),
        (
            {
                "podGroupName": "g",
                "reservations": {"a": {"node": "n0", "resources": {"cpu": "-1"}}},
            },
            "spec.reservations.a.resources.cpu: must not be negative (got '-1')",
        ),
        (
            {"podGroupName": "g", "reservations": {"a": {"node": "n0", "resources": {"cpu": "x"}}}},
            "spec.reservations.a.resources.cpu: invalid quantity",
        ),
        (
            {"podGroupName": "g", "reservations": {"a": {"node": "n0", "resources": {"cpu": "9"}}}},
            "spec.reservations.a.resources.cpu: 9 is more than node n0 has (8)",
        ),
        (
            {"podGroupName": "g", "reservations": {"a": {"node": "n0", "resources": {}}}},
            "spec.reservations.a.resources: expected resources such as",
        ),
        (
            {"reservations": {"a": {"node": "n0", "resources": {"cpu": "1"}}}},
            "spec.podGroupName: is required (got None)",
        ),
        ({"podGroupName": "g", "resources": {"cpu": "1"}, "count": 0}, "spec.count: must be"),
        ({"podGroupName": "g", "resources": {"cpu": "1"}}, "spec.count: must be"),
        ({"podGroupName": "g"}, "spec: needs reservations, or resources and count"),
        (
            {"podGroupName": "g", "resources": {"cpu": "1"}, "count": 1, "duration": "soon"},
            "spec.duration: expected a duration such as '10m' or '1h30m' (got 'soon')",
        ),
        (
            {"podGroupName": "g", "resources": {"cpu": "1"}, "count": 1, "ttlSeconds": -5},
            "spec.ttlSeconds: must be a positive number of seconds (got -5)",
        ),
        (
            {"podGroupName": "g", "reservations": {"Bad_Name": {"resources": {"cpu": "1"}}}},
            "spec.reservations.Bad_Name: a slot name is lower case letters, digits",
        ),
        (
            {"podGroupName": "g", "resources": {"gpu-less": "0"}, "count": 1},
            "spec.resources: reserves nothing",
        ),
    ],
)
def test_an_invalid_reservation_holds_nothing_and_says_exactly_why(
    spec: dict[str, Any], problem: str
) -> None:
    s = cluster(count=1)
    s.upsert_reservation(reservation_from_dict(hand_written("bad", spec)))
    held = status(s, "default/bad")
    assert held["phase"] == "Invalid"
    assert problem in held["message"], held["message"]
    assert held["conditions"][0] == {
        "type": "Holding",
        "status": "False",
        "reason": "Invalid",
        "message": held["message"],
        "lastTransitionTime": "1970-01-01T00:16:40Z",
    }
    assert s.cache.pod_count == 0
    assert s.reserving.next_expiry() is None
    # The scheduler goes on: pods are placed as if the object did not exist.
    assert len(bound(place(s, *flood(8)))) == 8


def test_a_reservation_naming_an_unknown_node_holds_once_the_node_joins() -> None:
    s = cluster(count=1)
    obj = hand_written(
        "early",
        {"podGroupName": "g", "reservations": {"a": {"node": "n5", "resources": {"cpu": "3"}}}},
    )
    s.upsert_reservation(reservation_from_dict(obj))
    assert status(s, "default/early")["phase"] == "Invalid"
    s.upsert_node(make_node("n5").alloc(cpu="4").obj())
    assert status(s, "default/early")["phase"] == "Active"
    assert (
        len(
            bound(
                place(
                    s, make_pod("p").req(cpu="2").selector(**{"kubernetes.io/hostname": "n5"}).obj()
                )
            )
        )
        == 0
    )


def test_a_node_that_disappears_makes_its_reservation_invalid() -> None:
    s = cluster(count=2)
    place(s, driver("lost", 2, cpu="7").obj())
    nodes = {slot["node"] for slot in slots_of(s, "default/lost-driver").values()}
    s.remove_node(sorted(nodes)[0])
    held = status(s, "default/lost-driver")
    assert held["phase"] == "Invalid"
    assert held["message"] == f"node {sorted(nodes)[0]} of a reserved slot is gone"
    assert s.cache.pod_count == 1  # the driver only: no slot held anywhere


def test_a_malformed_object_without_a_name_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"metadata.name"):
        reservation_from_dict({"spec": {"podGroupName": "g"}})


def test_deleting_the_pod_group_releases_its_reservations() -> None:
    s = cluster(count=1)
    obj = hand_written("pg", {"podGroupName": "pg", "resources": {"cpu": "4"}, "count": 1})
    s.upsert_reservation(reservation_from_dict(obj))
    assert s.cache.pod_count == 1
    s.pod_group_deleted("default/pg")
    assert status(s, "default/pg")["phase"] == "Released"
    assert status(s, "default/pg")["message"] == "the PodGroup default/pg was deleted"
    assert s.cache.pod_count == 0


def test_an_edited_reservation_keeps_claims_of_unchanged_slots() -> None:
    s = cluster(count=2)
    spec = {
        "podGroupName": "ed",
        "reservations": {
            "a": {"node": "n0", "resources": {"cpu": "2"}},
            "b": {"node": "n1", "resources": {"cpu": "2"}},
        },
    }
    s.upsert_reservation(reservation_from_dict(hand_written("ed", spec)))
    place(s, member("ed-0", "ed"))
    claimed = {n: sl.get("pod") for n, sl in slots_of(s, "default/ed").items()}
    spec["reservations"]["c"] = {"node": "n1", "resources": {"cpu": "3"}}  # type: ignore[index]
    s.upsert_reservation(reservation_from_dict(hand_written("ed", spec)))
    after = slots_of(s, "default/ed")
    assert {n: after[n].get("pod") for n in claimed} == claimed
    assert after["c"]["state"] == "Free"
    # Placeholders: the free b (2) and c (3) on n1, none for the claimed slot.
    assert requested_cpu(s, "n1") == 5000


def test_a_driver_placed_again_after_its_reservation_ended_gets_a_fresh_one() -> None:
    """Its earlier reservation (same name) says Released: the new one has a name of its own,
    so the old object (and its status) cannot end it."""
    s = cluster(count=1)
    d = driver("again", 2).obj()
    old = hand_written(
        "again-driver", {"podGroupName": "again", "resources": {"cpu": "2"}, "count": 2}
    )
    old["metadata"]["ownerReferences"] = [{"kind": "Pod", "name": d.name, "uid": d.uid}]
    old["status"] = {"phase": "Released", "message": "an earlier attempt"}
    s.upsert_reservation(reservation_from_dict(old))
    assert status(s, "default/again-driver")["phase"] == "Released"
    assert place(s, d) == {"again-driver": "n0"}
    assert status(s, "default/again-driver-2")["phase"] == "Active"
    s.upsert_reservation(reservation_from_dict(old))  # the watch shows the old one again
    assert status(s, "default/again-driver")["phase"] == "Released"
    assert requested_cpu(s, "n0") == 1000 + 2 * 2000


def test_a_reservation_of_the_drivers_name_belonging_to_others_is_left_alone() -> None:
    s = cluster(count=1)
    theirs = hand_written(
        "mine-driver", {"podGroupName": "theirs", "resources": {"cpu": "1"}, "count": 1}
    )
    s.upsert_reservation(reservation_from_dict(theirs))
    assert place(s, driver("mine", 1).obj()) == {"mine-driver": "n0"}
    assert status(s, "default/mine-driver")["claims"] == "0/1"
    assert s.reserving.book.held["default/mine-driver"].spec.gang == "default/theirs"
    assert s.reserving.book.held["default/mine-driver-2"].spec.gang == "default/mine"


def test_a_standby_learns_that_the_leader_ended_a_reservation() -> None:
    s = cluster(count=1)
    d = driver("sb", 2).obj()
    place(s, d)
    obj = written(s, "default/sb-driver", d)
    standby = restart(s, [obj], as_bound(s, d.key))
    assert status(standby, "default/sb-driver")["phase"] == "Active"
    obj["status"] = {**obj["status"], "phase": "Expired", "message": "its time to live passed"}
    standby.upsert_reservation(reservation_from_dict(obj))
    assert status(standby, "default/sb-driver")["phase"] == "Expired"
    assert requested_cpu(standby, "n0") == 1000


def test_an_executor_bigger_than_a_slot_never_takes_two_slots_room() -> None:
    """Two free slots of 2 cpu on a full node: an executor of 4 cpu claims one slot, so it may
    use that slot's room only — it does not fit, and the node is never over-committed."""
    s = cluster(count=1)
    place(s, driver("wide", 2).obj())
    assert len(bound(place(s, *flood(3)))) == 3  # 8 = 1 + 2×2 held + 3
    result = place(s, executor("wide", 0, cpu="4").obj())
    assert result["wide-exec-0"].startswith("0/1 nodes are available: 1 Insufficient cpu.")
    assert requested_cpu(s, "n0") == 8000
    assert status(s, "default/wide-driver")["claims"] == "0/2"
    assert place(s, executor("wide", 1).obj()) == {"wide-exec-1": "n0"}
    assert requested_cpu(s, "n0") == 8000


def test_a_slot_whose_room_is_in_use_waits_and_takes_the_room_first_when_it_frees() -> None:
    s = cluster(count=1)
    place(s, *flood(7))  # 7 of 8 cpu in use
    obj = hand_written(
        "late",
        {"podGroupName": "g", "reservations": {"a": {"node": "n0", "resources": {"cpu": "3"}}}},
    )
    s.upsert_reservation(reservation_from_dict(obj))
    held = status(s, "default/late")
    assert held["phase"] == "Active"
    assert held["slots"]["a"]["state"] == "Waiting"
    assert held["conditions"][0]["reason"] == "WaitingForRoom"
    assert requested_cpu(s, "n0") == 7000  # never over-committed
    assert "1 Insufficient cpu" in place(s, make_pod("pending").req(cpu="3").obj())["pending"]
    for i in range(3):
        s.remove_pod(f"uid-other-{i}")
    # The slot takes the freed room before the pod that waited for it.
    assert status(s, "default/late")["slots"]["a"]["state"] == "Free"
    assert "Insufficient cpu" in place(later(s))["pending"]
    assert requested_cpu(s, "n0") == 4000 + 3000


def test_a_slot_on_a_node_that_came_back_full_waits_instead_of_over_committing() -> None:
    s = cluster(count=2)
    place(s, driver("back", 2, cpu="4").obj())
    nodes = sorted({slot["node"] for slot in slots_of(s, "default/back-driver").values()})
    s.remove_node(nodes[-1])
    assert status(s, "default/back-driver")["phase"] == "Invalid"
    s.upsert_node(make_node(nodes[-1]).alloc(cpu="8", memory="32Gi").obj())
    assert status(s, "default/back-driver")["phase"] == "Active"
    for name in ("n0", "n1"):
        assert requested_cpu(s, name) <= 8000


def test_executors_of_a_gang_without_a_reservation_are_placed_all_or_nothing() -> None:
    """A PodGroup whose members carry the executor role but hold no reservation is still a
    gang: too little room for all means none is placed."""
    s = cluster(count=1, cpu="4")
    members = [
        make_pod(f"g-{i}")
        .req(cpu="2")
        .label("spark-role", "executor")
        .label("pod-group.scheduling.kubenexus.io/name", "g")
        .label("pod-group.scheduling.kubenexus.io/min-available", "3")
        .obj()
        for i in range(3)
    ]
    result = place(s, *members)
    assert not bound(result)
    assert result["g-0"].startswith("pod group default/g: only 2 of minMember 3 members fit")


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (
            {"reservations": {"a": {"resources": {"cpu": "1"}}}, "count": 2},
            "spec: reservations cannot be combined with resources or count (got ['count', 'reservations'])",
        ),
        (
            {"resources": {"cpu": "1"}, "count": 1, "ttlSeconds": 5, "duration": "1m"},
            "spec.ttlSeconds: set ttlSeconds or duration, not both (got 5)",
        ),
        (
            {"resources": {"cpu": "1"}, "count": 1, "duration": "9999999999h"},
            "spec.duration: is longer than a duration can be",
        ),
        (
            {"reservations": {"a" * 64: {"resources": {"cpu": "1"}}}},
            "at most 63 characters",
        ),
    ],
)
def test_combinations_the_crd_refuses_are_invalid_here_too(
    spec: dict[str, Any], problem: str
) -> None:
    parsed = reservation_from_dict(hand_written("combo", {"podGroupName": "g", **spec}))
    assert problem in parsed.problem


def test_the_object_written_for_a_driver_reads_back_the_same() -> None:
    s = cluster(count=2)
    d = driver("round", 3, cpu="1500m", memory="1536Mi", **{GPU: "0"}).obj()
    place(s, d)
    spec = s.reserving.book.held["default/round-driver"].spec
    obj = reservation_to_dict(spec, d.uid)
    assert obj["metadata"]["ownerReferences"][0]["uid"] == d.uid
    assert obj["spec"]["reservations"]["executor-0"]["resources"] == {
        "cpu": "1500m",
        "memory": "1536Mi",
    }
    back = reservation_from_dict(obj)
    assert back.slots == spec.slots
    assert (back.gang, back.driver_uid, back.driver_name, back.problem) == (
        spec.gang,
        spec.driver_uid,
        spec.driver_name,
        "",
    )


def test_a_claim_next_to_a_waiting_slot_does_not_over_commit() -> None:
    """The executor is counted before the other slots are held again: the room it takes is
    not given to a slot that waited for room on the same node."""
    s = cluster(count=1)
    assert place(s, make_pod("busy").req(cpu="4").obj()) == {"busy": "n0"}
    obj = hand_written(
        "room",
        {
            "podGroupName": "etl",
            "reservations": {
                "a": {"node": "n0", "resources": {"cpu": "4"}},
                "b": {"node": "n0", "resources": {"cpu": "4"}},
            },
        },
    )
    s.upsert_reservation(reservation_from_dict(obj))
    states = {name: slot["state"] for name, slot in slots_of(s, "default/room").items()}
    assert states == {"a": "Free", "b": "Waiting"}
    assert place(s, member("etl-0", "etl", cpu="2")) == {"etl-0": "n0"}
    assert requested_cpu(s, "n0") == 4000 + 2000  # b still waits: 2 cpu free, it needs 4
    assert slots_of(s, "default/room")["b"]["state"] == "Waiting"


def test_the_status_read_back_keeps_a_reopened_slots_own_time_to_live() -> None:
    """The daemon's status write comes back through the watch, and after a restart: a slot
    reopened after the reservation's time to live keeps its fresh one, and a fully claimed
    reservation read long after its time to live is not expired."""
    now = [1000.0]
    s = scheduler(make_node("n0").alloc(cpu="8", memory="32Gi").obj(), clock=now)
    d = driver("echo", 2).obj()
    place(s, d)
    place(s, *executors("echo", 2))
    full = written(s, "default/echo-driver", d)
    pods = [as_bound(s, key) for key in (d.key, "uid-echo-exec-0", "uid-echo-exec-1")]
    now[0] = 5000.0
    s.remove_pod("uid-echo-exec-0")
    s.upsert_reservation(reservation_from_dict(written(s, "default/echo-driver", d)))
    assert s.expire_reservations() == []
    assert slots_of(s, "default/echo-driver")["executor-0"]["state"] == "Free"
    # After a restart: the status says when the reopened slot expires.
    fresh = restart(s, [written(s, "default/echo-driver", d)], pods[0], pods[2], now=5000.0)
    assert fresh.expire_reservations() == []
    assert status(fresh, "default/echo-driver")["phase"] == "Active"
    # A fully claimed reservation read (before its pods) long after its time to live.
    again = restart(s, [full], *pods, now=5000.0)
    assert again.expire_reservations() == []
    assert status(again, "default/echo-driver")["claims"] == "2/2"


def test_a_reservation_read_after_its_time_to_live_with_room_unclaimed_expires() -> None:
    s = cluster(count=1)
    d = driver("stale", 2).obj()
    place(s, d)
    fresh = restart(s, [written(s, "default/stale-driver", d)], as_bound(s, d.key), now=5000.0)
    assert [h.key for h in fresh.expire_reservations()] == ["default/stale-driver"]
    assert requested_cpu(fresh, "n0") == 1000


def test_an_executor_beyond_the_count_never_takes_a_slot_that_reopens_later() -> None:
    s = cluster(count=1)
    place(s, driver("dyn", 1).obj())
    place(s, *executors("dyn", 2))  # the second runs beyond the reserved count
    assert status(s, "default/dyn-driver")["slots"]["executor-0"]["pod"] == "default/dyn-exec-0"
    s.remove_pod("uid-dyn-exec-0")
    extra = as_bound(s, "uid-dyn-exec-1")
    s.upsert_pod(replace(extra, phase="Running"))  # any later update of the extra executor
    assert status(s, "default/dyn-driver")["slots"]["executor-0"]["state"] == "Free"
    assert place(s, executor("dyn", 2).obj()) == {"dyn-exec-2": "n0"}
    assert status(s, "default/dyn-driver")["slots"]["executor-0"]["pod"] == "default/dyn-exec-2"


def test_more_executors_than_a_reservation_can_hold_are_refused_naming_the_annotation() -> None:
    s = cluster(count=1)
    result = place(s, driver("huge", 10_001).obj())
    assert f"annotations[{COUNT}]: at most 10000 executors (got '10001')" in result["huge-driver"]


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({COUNT: "1_0", CPU: "1"}, "must be a whole number of executors (got '1_0')"),
        ({COUNT: "\u0663", CPU: "1"}, "must be a whole number of executors"),
        ({COUNT: "2", CPU: "1", GPU: "0.5"}, f"annotations[{GPU}]: nvidia.com/gpu comes in whole"),
    ],
)
def test_executor_annotations_are_read_strictly(annotations: dict[str, str], message: str) -> None:
    s = cluster(count=1)
    builder = make_pod("strict-driver").req(cpu="1").label("spark-role", "driver")
    for key, value in annotations.items():
        builder.annotate(key, value)
    assert message in place(s, builder.obj())["strict-driver"]


def test_an_edit_that_frees_room_wakes_the_pods_waiting_for_it() -> None:
    s = cluster(count=1)
    spec: dict[str, Any] = {
        "podGroupName": "g",
        "reservations": {
            "a": {"node": "n0", "resources": {"cpu": "4"}},
            "b": {"node": "n0", "resources": {"cpu": "4"}},
        },
    }
    s.upsert_reservation(reservation_from_dict(hand_written("edit", spec)))
    assert "Insufficient cpu" in place(s, make_pod("waits").req(cpu="4").obj())["waits"]
    del spec["reservations"]["b"]
    s.upsert_reservation(reservation_from_dict(hand_written("edit", spec)))
    assert s.queue.where("uid-waits") in {"active", "backoff"}  # woken, not parked for minutes
    assert place(later(s)) == {"waits": "n0"}


def test_slots_on_a_cordoned_node_hold_nothing_until_it_is_uncordoned() -> None:
    s = cluster(count=2)
    place(s, driver("cord", 2, cpu="3").obj())
    node = slots_of(s, "default/cord-driver")["executor-0"]["node"]
    on_node = sum(1 for sl in slots_of(s, "default/cord-driver").values() if sl["node"] == node)
    before = requested_cpu(s, node)
    s.upsert_node(make_node(node).alloc(cpu="8", memory="32Gi").cordon().obj())
    after = slots_of(s, "default/cord-driver")
    assert all(sl["state"] == "Waiting" for sl in after.values() if sl["node"] == node)
    assert requested_cpu(s, node) == before - on_node * 3000
    s.upsert_node(make_node(node).alloc(cpu="8", memory="32Gi").obj())
    assert all(sl["state"] == "Free" for sl in slots_of(s, "default/cord-driver").values())
    assert requested_cpu(s, node) == before


def test_a_hand_written_slot_on_a_cordoned_node_waits() -> None:
    s = scheduler(make_node("c").alloc(cpu="8").cordon().obj())
    obj = hand_written(
        "cordoned",
        {"podGroupName": "g", "reservations": {"a": {"node": "c", "resources": {"cpu": "2"}}}},
    )
    s.upsert_reservation(reservation_from_dict(obj))
    held = status(s, "default/cordoned")
    assert held["slots"]["a"]["state"] == "Waiting"
    assert "the node is cordoned" in held["message"]
    assert s.cache.pod_count == 0


def test_a_fully_claimed_reservation_shows_no_expiry_and_reserves_no_pods_metric() -> None:
    s = cluster(count=1)
    place(s, driver("shown", 2).obj())
    assert "expiresAt" in status(s, "default/shown-driver")
    assert s.reserving.book.reserved() == {"cpu": 4000, "memory": 8 * 2**30}
    place(s, *executors("shown", 2))
    assert "expiresAt" not in status(s, "default/shown-driver")
    assert s.reserving.book.reserved() == {}


def test_an_executor_finds_its_slot_beyond_the_first_nodes_tried() -> None:
    """Slots on 20 nodes; the executor may only run on the one tried last."""
    s = scheduler(*[make_node(f"m{i:02d}").alloc(cpu="2").obj() for i in range(20)])
    s.upsert_node(make_node("big").alloc(cpu="8").obj())
    place(s, driver("far", 20, cpu="2", memory="1").obj())
    held = s.reserving.book.held["default/far-driver"]
    order = list(held.free_by_node)  # the order the nodes are tried in
    assert len(order) > 16
    last = order[-1]
    picky = executor("far", 0, memory="1").selector(**{"kubernetes.io/hostname": last}).obj()
    assert place(s, picky) == {"far-exec-0": last}
    assert status(s, "default/far-driver")["claims"] == "1/20"


def test_a_reservation_ended_by_a_lost_node_gives_its_room_to_waiting_slots() -> None:
    """A reservation with a slot on a node that goes away ends (Invalid) and frees its other
    slots' room at once: another reservation's slot waiting for that room takes it (it kept
    waiting though the room was free; found by the reservation invariants' seed 135)."""
    s = cluster(count=2, cpu="4")
    first = hand_written(
        "first",
        {
            "podGroupName": "a",
            "reservations": {
                "x": {"node": "n0", "resources": {"cpu": "1"}},
                "y": {"node": "n1", "resources": {"cpu": "4"}},
            },
        },
    )
    s.upsert_reservation(reservation_from_dict(first))
    second = hand_written(
        "second",
        {"podGroupName": "b", "reservations": {"z": {"node": "n1", "resources": {"cpu": "2"}}}},
    )
    s.upsert_reservation(reservation_from_dict(second))
    assert requested_cpu(s, "n1") == 4_000  # first's slot y; second's z waits for room
    s.remove_node("n0")
    assert status(s, "default/first")["phase"] == "Invalid"
    assert requested_cpu(s, "n1") == 2_000  # z holds the room y left
