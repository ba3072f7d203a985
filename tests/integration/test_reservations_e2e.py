"""ResourceReservations through the daemon, on the emulator and a real kube-apiserver: a Spark
driver admitted with room for its executors, the room held against a flood, claimed, released."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from tests.integration.conftest import (
    Cluster,
    eventually,
    http_get,
    metric_value,
    running_daemon,
)

GROUP = {"group": "scheduling.kubenexus.io", "version": "v1alpha1"}
RR = "resourcereservations"


def driver(cluster: Cluster, app: str, executors: int, cpu: str = "2", memory: str = "1Gi") -> None:
    cluster.pod(
        f"{app}-driver",
        cpu="1",
        labels={"spark-role": "driver", "spark-app-selector": app},
        annotations={
            "scheduling.kubenexus.io/executor-count": str(executors),
            "scheduling.kubenexus.io/executor-cpu": cpu,
            "scheduling.kubenexus.io/executor-memory": memory,
        },
    )


def executor(cluster: Cluster, app: str, index: int, cpu: str = "2") -> None:
    cluster.pod(
        f"{app}-exec-{index}",
        cpu=cpu,
        labels={"spark-role": "executor", "spark-app-selector": app},
    )


def reservation(cluster: Cluster, name: str) -> dict[str, Any]:
    return dict(cluster.api.get_object(RR, name, "default", **GROUP) or {})


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    return dict(reservation(cluster, name).get("status") or {})


def placed(cluster: Cluster, prefix: str) -> dict[str, str]:
    return {
        p["metadata"]["name"]: p["spec"]["nodeName"]
        for p in cluster.api.objects("pods")
        if p["metadata"]["name"].startswith(prefix) and p["spec"].get("nodeName")
    }


async def test_executors_arriving_later_claim_the_room_a_flood_cannot_take(
    cluster: Cluster,
) -> None:
    for i in range(4):
        cluster.node(f"n{i}", cpu="8", memory="32Gi")
    async with running_daemon(cluster):
        driver(cluster, "spark-1", 10)
        await eventually(lambda: cluster.node_of("spark-1-driver"))
        await eventually(lambda: status(cluster, "spark-1-driver").get("phase") == "Active")
        rr = reservation(cluster, "spark-1-driver")
        owner = rr["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"]) == ("Pod", "spark-1-driver")
        reserved = Counter(slot["node"] for slot in rr["spec"]["reservations"].values())
        assert sum(reserved.values()) == 10
        [event] = await eventually(lambda: cluster.events("spark-1-driver", "Reserved"))
        assert event["message"].startswith(
            "Reserved room for 10 executors (2 cpu, 1Gi memory each)"
        )
        # A flood of 200 pods arrives before the executors: it gets only what is not held.
        for i in range(200):
            cluster.pod(f"flood-{i}", cpu="1")
        await eventually(lambda: len(placed(cluster, "flood-")) == 32 - 1 - 20, timeout=30)
        await asyncio.sleep(5)  # executors come 5 s after the driver was bound, as Spark's do
        for i in range(10):
            executor(cluster, "spark-1", i)
        await eventually(lambda: len(placed(cluster, "spark-1-exec-")) == 10, timeout=30)
        assert Counter(placed(cluster, "spark-1-exec-").values()) == reserved
        assert len(placed(cluster, "flood-")) == 11
        await eventually(lambda: status(cluster, "spark-1-driver").get("claims") == "10/10")
        await eventually(lambda: cluster.events("spark-1-exec-0", "ClaimedReservation"))


async def test_a_driver_without_room_is_not_bound_and_says_what_is_short(cluster: Cluster) -> None:
    cluster.node("a", cpu="8")
    async with running_daemon(cluster):
        driver(cluster, "big", 5)  # 1 + 10 cpu on 8
        events = await eventually(lambda: cluster.events("big-driver", "FailedScheduling"))
        assert events[0]["message"].startswith(
            "driver default/big-driver waits for room for all 5 executors (2 cpu, 1Gi memory "
            "each): 3 fit; executor 4: 0/1 nodes are available: 1 Insufficient cpu."
        )
        assert cluster.node_of("big-driver") is None
        assert not reservation(cluster, "big-driver")


async def test_deleting_the_driver_gives_the_room_to_others(cluster: Cluster) -> None:
    cluster.node("a", cpu="8")
    async with running_daemon(cluster):
        driver(cluster, "del", 3)
        await eventually(lambda: status(cluster, "del-driver").get("phase") == "Active")
        for i in range(8):
            cluster.pod(f"other-{i}", cpu="1")
        await eventually(lambda: len(placed(cluster, "other-")) == 1)
        await eventually(lambda: cluster.events("other-7", "FailedScheduling"))
        cluster.api.delete_object("pods", "del-driver", "default")
        # The driver gone, the waiting pods take the whole node.
        await eventually(lambda: len(placed(cluster, "other-")) == 8)


async def test_unclaimed_room_expires_with_an_event_on_the_driver(cluster: Cluster) -> None:
    cluster.node("a", cpu="8")
    config = {
        "profiles": [
            {
                "schedulerName": "kubenexus-scheduler",
                "pluginConfig": [{"name": "ResourceReservation", "args": {"defaultTtlSeconds": 2}}],
            }
        ]
    }
    async with running_daemon(cluster, config=config):
        driver(cluster, "ttl", 3)
        await eventually(lambda: status(cluster, "ttl-driver").get("phase") == "Active")
        assert reservation(cluster, "ttl-driver")["spec"]["ttlSeconds"] == 2
        cluster.pod("waiting", cpu="4")  # fits only once the 6 held cpu are released
        await eventually(
            lambda: status(cluster, "ttl-driver").get("phase") == "Expired", timeout=15
        )
        [event] = await eventually(lambda: cluster.events("ttl-driver", "ReservationExpired"))
        assert event["message"] == (
            "ResourceReservation default/ttl-driver: 3 unclaimed slot(s) released, its time to "
            "live (2s) passed"
        )
        await eventually(lambda: cluster.node_of("waiting") == "a")


async def test_a_restart_between_driver_and_executors_keeps_the_room(cluster: Cluster) -> None:
    cluster.node("a", cpu="8")
    cluster.node("b", cpu="8")
    async with running_daemon(cluster):
        driver(cluster, "rs", 6)
        await eventually(lambda: status(cluster, "rs-driver").get("phase") == "Active")
    reserved = Counter(
        slot["node"] for slot in reservation(cluster, "rs-driver")["spec"]["reservations"].values()
    )
    # While no scheduler runs, a flood and then the executors arrive.
    for i in range(20):
        cluster.pod(f"flood-{i}", cpu="1")
    async with running_daemon(cluster):
        await eventually(lambda: len(placed(cluster, "flood-")) == 16 - 1 - 12)
        for i in range(6):
            executor(cluster, "rs", i)
        await eventually(lambda: len(placed(cluster, "rs-exec-")) == 6)
        assert Counter(placed(cluster, "rs-exec-").values()) == reserved
        await eventually(lambda: status(cluster, "rs-driver").get("claims") == "6/6")


async def test_an_executor_killed_and_replaced_reclaims_its_slot(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    cluster.node("b", cpu="4")
    async with running_daemon(cluster):
        driver(cluster, "kill", 2, cpu="3")
        await eventually(lambda: status(cluster, "kill-driver").get("phase") == "Active")
        executor(cluster, "kill", 0, cpu="3")
        executor(cluster, "kill", 1, cpu="3")
        await eventually(lambda: status(cluster, "kill-driver").get("claims") == "2/2")
        node = cluster.node_of("kill-exec-0")
        cluster.api.delete_object("pods", "kill-exec-0", "default")
        await eventually(lambda: status(cluster, "kill-driver").get("claims") == "1/2")
        cluster.pod("intruder", cpu="3")  # must not take the reopened slot
        await eventually(lambda: cluster.events("intruder", "FailedScheduling"))
        executor(cluster, "kill", 2, cpu="3")
        await eventually(lambda: cluster.node_of("kill-exec-2") == node)
        assert cluster.node_of("intruder") is None


async def test_two_applications_competing_one_whole_the_other_waits(cluster: Cluster) -> None:
    cluster.node("a", cpu="8")
    async with running_daemon(cluster):
        driver(cluster, "one", 3)
        driver(cluster, "two", 3)
        await eventually(lambda: len(placed(cluster, "one-driver") | placed(cluster, "two-driver")))
        await asyncio.sleep(0.5)
        first = "one" if cluster.node_of("one-driver") else "two"
        second = "two" if first == "one" else "one"
        assert cluster.node_of(f"{second}-driver") is None
        await eventually(lambda: cluster.events(f"{second}-driver", "FailedScheduling"))
        for i in range(3):
            executor(cluster, first, i)
        await eventually(lambda: len(placed(cluster, f"{first}-exec-")) == 3)
        # The first application ends: the second gets its room whole.
        for name in [f"{first}-exec-{i}" for i in range(3)] + [f"{first}-driver"]:
            cluster.api.delete_object("pods", name, "default")
        await eventually(lambda: cluster.node_of(f"{second}-driver") == "a", timeout=20)
        await eventually(lambda: status(cluster, f"{second}-driver").get("phase") == "Active")


async def test_a_hand_written_reservation_is_honoured(cluster: Cluster) -> None:
    cluster.node("a", cpu="8")
    cluster.node("b", cpu="8")
    async with running_daemon(cluster):
        cluster.api.put_object(
            RR,
            {
                "metadata": {"name": "etl-room", "namespace": "default"},
                "spec": {"podGroupName": "etl", "resources": {"cpu": "4"}, "count": 3},
            },
            **GROUP,
        )
        await eventually(lambda: status(cluster, "etl-room").get("phase") == "Active")
        slots = status(cluster, "etl-room")["slots"]
        assert sorted(slots) == ["slot-0", "slot-1", "slot-2"]
        assert all(
            slot["node"] in {"a", "b"} and slot["state"] == "Free" for slot in slots.values()
        )
        for i in range(6):
            cluster.pod(f"other-{i}", cpu="2")
        await eventually(lambda: len(placed(cluster, "other-")) == 2)  # 16 - 12 held = 4
        for i in range(3):
            cluster.pod(
                f"etl-{i}",
                cpu="4",
                labels={"pod-group.scheduling.kubenexus.io/name": "etl"},
                annotations={"scheduling.kubenexus.io/role": "executor"},
            )
        await eventually(lambda: status(cluster, "etl-room").get("claims") == "3/3")
        assert len(placed(cluster, "etl-")) == 3


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (
            {"reservations": {"x": {"node": "ghost", "resources": {"cpu": "1"}}}},
            "spec.reservations.x.node: no node named 'ghost'",
        ),
        # (A negative amount is refused by the CRD itself: tests/real/test_reservation_crd.py.)
        (
            {"reservations": {"x": {"node": "a", "resources": {"cpu": "0"}}}},
            "spec.reservations.x.resources: reserves nothing (got {'cpu': '0'})",
        ),
        (
            {"reservations": {"x": {"node": "a", "resources": {"cpu": "64"}}}},
            "spec.reservations.x.resources.cpu: 64 is more than node a has (4)",
        ),
    ],
)
async def test_an_invalid_reservation_says_why_and_holds_nothing(
    cluster: Cluster, spec: dict[str, Any], problem: str
) -> None:
    cluster.node("a", cpu="4")
    async with running_daemon(cluster):
        cluster.api.put_object(
            RR,
            {
                "metadata": {"name": "bad", "namespace": "default"},
                "spec": {"podGroupName": "g", **spec},
            },
            **GROUP,
        )
        found = await eventually(
            lambda: status(cluster, "bad").get("phase") == "Invalid" and status(cluster, "bad")
        )
        assert found["conditions"][0]["reason"] == "Invalid"
        assert found["conditions"][0]["message"] == problem
        cluster.pod("fine", cpu="4")  # the daemon goes on, the node is whole
        await eventually(lambda: cluster.node_of("fine") == "a")


async def test_a_node_that_disappears_invalidates_its_reservation(cluster: Cluster) -> None:
    cluster.node("a", cpu="8")
    cluster.node("b", cpu="8")
    async with running_daemon(cluster):
        cluster.api.put_object(
            RR,
            {
                "metadata": {"name": "on-b", "namespace": "default"},
                "spec": {
                    "podGroupName": "g",
                    "reservations": {"x": {"node": "b", "resources": {"cpu": "2"}}},
                },
            },
            **GROUP,
        )
        await eventually(lambda: status(cluster, "on-b").get("phase") == "Active")
        cluster.api.delete_object("nodes", "b", "")
        await eventually(lambda: status(cluster, "on-b").get("phase") == "Invalid")
        assert status(cluster, "on-b")["message"] == "node b of a reserved slot is gone"


async def test_metrics_count_reservations_by_phase_and_the_room_they_hold(
    cluster: Cluster,
) -> None:
    cluster.node("a", cpu="8")
    async with running_daemon(cluster, metrics_port=0, metrics_address="127.0.0.1") as daemon:
        base = f"http://127.0.0.1:{daemon.metrics_port}/metrics"
        driver(cluster, "m", 3, memory="2Gi")
        cluster.api.put_object(
            RR,
            {
                "metadata": {"name": "bad", "namespace": "default"},
                "spec": {
                    "podGroupName": "g",
                    "reservations": {"x": {"node": "no", "resources": {"cpu": "1"}}},
                },
            },
            **GROUP,
        )
        await eventually(lambda: status(cluster, "m-driver").get("phase") == "Active")
        await eventually(lambda: status(cluster, "bad").get("phase") == "Invalid")
        executor(cluster, "m", 0)
        await eventually(lambda: status(cluster, "m-driver").get("claims") == "1/3")
        _, body = await http_get(base)
        assert metric_value(body, 'kubenexus_reservations{phase="Active"}') == 1
        assert metric_value(body, 'kubenexus_reservations{phase="Invalid"}') == 1
        assert metric_value(body, 'kubenexus_reservations{phase="Expired"}') == 0
        assert metric_value(body, 'kubenexus_reserved_capacity{resource="cpu"}') == 4000
        assert metric_value(body, 'kubenexus_reserved_capacity{resource="memory"}') == 4 * 2**30
        cluster.api.delete_object("pods", "m-driver", "default")
        await eventually(lambda: daemon.scheduler.reserving.book.reserved() == {})
        _, body = await http_get(base)
        assert metric_value(body, 'kubenexus_reserved_capacity{resource="cpu"}') == 0


async def test_deleting_the_pod_group_releases_its_reservation(cluster: Cluster) -> None:
    """A driver sized by its PodGroup (minMember - 1 executors sharing minResources): the
    PodGroup deleted, its reservation is released and the room goes to others."""
    cluster.node("a", cpu="8")
    pod_group = {
        "metadata": {"name": "job", "namespace": "default"},
        "spec": {"minMember": 4, "minResources": {"cpu": "7"}},
    }
    cluster.api.put_object("podgroups", pod_group, **GROUP)
    async with running_daemon(cluster, operator=True):
        cluster.pod(
            "job-driver",
            cpu="1",
            labels={"pod-group.scheduling.kubenexus.io/name": "job"},
            annotations={"scheduling.kubenexus.io/role": "driver"},
        )
        await eventually(lambda: status(cluster, "job-driver").get("claims") == "0/3")
        assert cluster.node_of("job-driver") == "a"
        cluster.pod("waiting", cpu="6")  # 8 - 1 - 3×2 = 1 free
        await eventually(lambda: cluster.events("waiting", "FailedScheduling"))
        cluster.api.delete_object("podgroups", "job", "default", **GROUP)
        await eventually(lambda: status(cluster, "job-driver").get("phase") == "Released")
        assert status(cluster, "job-driver")["message"] == "the PodGroup default/job was deleted"
        await eventually(lambda: cluster.node_of("waiting") == "a", timeout=20)


TTL_3S = {
    "profiles": [
        {
            "schedulerName": "kubenexus-scheduler",
            "pluginConfig": [{"name": "ResourceReservation", "args": {"defaultTtlSeconds": 3}}],
        }
    ]
}


async def test_a_slot_reopened_after_the_time_to_live_is_held_for_the_replacement(
    cluster: Cluster,
) -> None:
    """Fully claimed, it never expires; an executor dies after the time to live: its slot
    reopens and stays held through the status write's own echo."""
    cluster.node("a", cpu="8")
    config = {
        "profiles": [
            {
                "schedulerName": "kubenexus-scheduler",
                "pluginConfig": [{"name": "ResourceReservation", "args": {"defaultTtlSeconds": 5}}],
            }
        ]
    }
    async with running_daemon(cluster, config=config):
        driver(cluster, "full", 2)
        await eventually(lambda: status(cluster, "full-driver").get("phase") == "Active")
        executor(cluster, "full", 0)
        executor(cluster, "full", 1)
        await eventually(lambda: status(cluster, "full-driver").get("claims") == "2/2")
        assert "expiresAt" not in status(cluster, "full-driver")
        await asyncio.sleep(5.5)  # past the time to live
        assert status(cluster, "full-driver")["phase"] == "Active"
        cluster.api.delete_object("pods", "full-exec-0", "default")  # reopened for 5 s more
        await eventually(lambda: status(cluster, "full-driver").get("claims") == "1/2")
        await asyncio.sleep(1)  # the status write comes back through the watch
        assert status(cluster, "full-driver")["phase"] == "Active"
        for i in range(6):
            cluster.pod(f"other-{i}", cpu="1")
        await eventually(lambda: len(placed(cluster, "other-")) == 3)  # 8 - 1 - 2 - 2 held
        executor(cluster, "full", 2)
        await eventually(lambda: status(cluster, "full-driver").get("claims") == "2/2")


async def test_room_whose_time_passed_while_the_scheduler_was_down_expires_with_an_event(
    cluster: Cluster,
) -> None:
    cluster.node("a", cpu="8")
    async with running_daemon(cluster, config=TTL_3S):
        driver(cluster, "down", 3)
        await eventually(lambda: status(cluster, "down-driver").get("phase") == "Active")
        await eventually(lambda: cluster.events("down-driver", "Reserved"))
    await asyncio.sleep(3.5)  # down while the time to live passes
    async with running_daemon(cluster, config=TTL_3S):
        await eventually(lambda: status(cluster, "down-driver").get("phase") == "Expired")
        await eventually(lambda: cluster.events("down-driver", "ReservationExpired"))
        assert len(cluster.events("down-driver", "Reserved")) == 1
