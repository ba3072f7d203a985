"""Defects found by the hardening review, reproduced through the daemon and the API emulator:
gangs after bind errors, gangs with NUMA, refused bindings, pods that must not be bound, rules
not implemented yet, Events per situation, bad updates to running pods."""

from __future__ import annotations

from typing import Any

import pytest

from tests.builders import no_victims
from tests.integration.conftest import Cluster, eventually, running_daemon

NAME = "pod-group.scheduling.kubenexus.io/name"
MIN = "pod-group.scheduling.kubenexus.io/min-available"
ZONES = "numa.kubenexus.io/zones"


def _member(cluster: Cluster, name: str, gang: str, size: int, cpu: str = "1") -> dict[str, Any]:
    return cluster.pod(name, cpu=cpu, labels={NAME: gang, MIN: str(size)})


def _bound(cluster: Cluster, prefix: str) -> int:
    return sum(
        1
        for p in cluster.api.objects("pods")
        if p["metadata"]["name"].startswith(prefix) and p["spec"].get("nodeName")
    )


def _numa_node(cluster: Cluster, name: str) -> None:
    body = cluster.node(name, cpu="16", memory="64Gi")
    body["metadata"]["labels"]["numa.kubenexus.io/node-count"] = "2"
    body["metadata"]["annotations"] = {
        "numa.kubenexus.io/node-0-cpus": "0-7",
        "numa.kubenexus.io/node-0-memory": "32Gi",
        "numa.kubenexus.io/node-1-cpus": "8-15",
        "numa.kubenexus.io/node-1-memory": "32Gi",
    }
    cluster.api.put_object("nodes", body)


@pytest.mark.emulator("injects 500s on bindings")
async def test_a_gang_with_500s_on_two_bindings_completes(cluster: Cluster) -> None:
    """Hardening #1: a 4-member gang whose Bindings fail (500) for two members must not stay
    at 2 of 4 bound forever."""
    for i in range(2):
        cluster.node(f"n{i}", cpu="2")
    for name in ("job-1", "job-3"):
        cluster.api.inject(method="POST", path=rf"/pods/{name}/binding$", status=500, times=2)
    async with running_daemon(cluster):
        for i in range(4):
            _member(cluster, f"job-{i}", "job", 4)
        await eventually(lambda: _bound(cluster, "job-") == 4, timeout=20)
        assert max(cluster.api.bindings.values()) == 1
        events = cluster.events("job-1", "FailedScheduling")
        assert any(e["message"].startswith("Binding rejected: 500") for e in events)


@pytest.mark.emulator("injects refusals on bindings")
async def test_a_forbidden_binding_is_retried_with_an_event_naming_the_error(
    cluster: Cluster,
) -> None:
    """Hardening #6: kube-scheduler requeues on any binding error; so do we (403/400/422)."""
    cluster.node("a", cpu="4")
    for status in (403, 400, 422):
        cluster.api.inject(method="POST", path=rf"/pods/p{status}/binding$", status=status)
    async with running_daemon(cluster) as daemon:
        for status in (403, 400, 422):
            cluster.pod(f"p{status}", cpu="1")
        await eventually(
            lambda: all(cluster.node_of(f"p{s}") == "a" for s in (403, 400, 422)), timeout=15
        )
        for status in (403, 400, 422):
            messages = [e["message"] for e in cluster.events(f"p{status}", "FailedScheduling")]
            assert any(m.startswith(f"Binding rejected: {status}") for m in messages), messages
        assert daemon.binder.failed == 3


async def test_gang_members_carry_their_numa_zones_and_cpus(cluster: Cluster) -> None:
    """Hardening #2 through the daemon: every member of a NUMA gang is bound with its zone
    and cpu-set, and no two members share a CPU."""
    for i in range(2):
        _numa_node(cluster, f"n{i}")
    async with running_daemon(cluster):
        for i in range(4):
            cluster.pod(
                f"w-{i}",
                cpu="4",
                labels={NAME: "train", MIN: "4"},
                annotations={"scheduling.kubenexus.io/numa-policy": "single-numa-node"},
            )
        await eventually(lambda: _bound(cluster, "w-") == 4)
        placements = set()
        for i in range(4):
            pod = cluster.get_pod(f"w-{i}")
            assert pod is not None
            annotations = pod["metadata"]["annotations"]
            assert annotations[ZONES] in {"0", "1"}
            placements.add((pod["spec"]["nodeName"], annotations["cpu-set"]))
        assert len(placements) == 4
        assert {cpus for _, cpus in placements} <= {"0-3", "4-7", "8-11", "12-15"}


async def test_a_terminating_pod_is_not_bound(cluster: Cluster) -> None:
    """Hardening #7: a pending pod with a deletionTimestamp (held by a finalizer) is skipped."""
    cluster.node("a", cpu="1")
    async with running_daemon(cluster) as daemon:
        cluster.pod("blocker", cpu="1")
        await eventually(lambda: cluster.node_of("blocker"))
        body = cluster.pod("leaving", cpu="1")
        await eventually(lambda: daemon.scheduler.queue.where(body["metadata"]["uid"]))
        # Its PodScheduled condition written first: the test's read-modify-write of the pod
        # must not race the daemon's (a 409 on the real server).
        await daemon.recorder.drain(5)
        body["metadata"]["finalizers"] = ["example.com/keep"]
        body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        cluster.api.put_object("pods", body)
        await eventually(lambda: body["metadata"]["uid"] not in daemon.scheduler.queue)
        cluster.api.delete_object("pods", "blocker", "default")  # room: "leaving" stays unbound
        cluster.pod("after", cpu="1")
        await eventually(lambda: cluster.node_of("after") == "a")
        assert cluster.node_of("leaving") is None
        assert "default/leaving" not in cluster.api.bindings


async def test_unsupported_rules_leave_the_pod_pending_with_an_event_and_condition(
    cluster: Cluster,
) -> None:
    """Hardening #12: volumes that need binding are not implemented yet: the pod waits and
    says so, it is never placed in breach."""
    cluster.node("a", cpu="4")
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    async with running_daemon(cluster):
        cluster.pod("db-0", cpu="1", volumes=volumes)
        expected = (
            "0/1 nodes are available: spec.volumes[0].persistentVolumeClaim not supported by "
            "kubenexus-scheduler yet."
        )
        events = await eventually(lambda: cluster.events("db-0", "FailedScheduling"))
        assert events[0]["message"] == expected

        def condition() -> dict[str, Any] | None:
            pod = cluster.get_pod("db-0") or {}
            found = [
                c
                for c in (pod.get("status") or {}).get("conditions", [])
                if c["type"] == "PodScheduled"
            ]
            return found[0] if found else None

        scheduled = await eventually(condition)
        assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
        assert scheduled["message"] == expected
        assert cluster.node_of("db-0") is None


async def test_gated_pods_wait_until_their_gates_are_removed(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    async with running_daemon(cluster) as daemon:
        body = cluster.pod("gated", cpu="1", schedulingGates=[{"name": "example.com/quota"}])
        cluster.pod("plain", cpu="1")
        await eventually(lambda: cluster.node_of("plain") == "a")
        assert body["metadata"]["uid"] not in daemon.scheduler.queue
        assert cluster.node_of("gated") is None
        del body["spec"]["schedulingGates"]
        cluster.api.put_object("pods", body)
        await eventually(lambda: cluster.node_of("gated") == "a")


async def test_a_gang_arriving_one_by_one_gets_one_event_per_member_per_situation(
    cluster: Cluster,
) -> None:
    """Hardening #10: "waiting for pod group: k of N" must not make O(N²) distinct Events."""
    cluster.node("a", cpu="64")
    size = 30
    async with running_daemon(cluster) as daemon:
        for i in range(size - 1):
            _member(cluster, f"m-{i:02d}", "wide", size)
            # Each arrival is seen (and the waiting members retried) before the next one.
            await eventually(lambda i=i: len(daemon.scheduler.queue) == i + 1)
        await eventually(
            lambda: all(cluster.events(f"m-{i:02d}", "FailedScheduling") for i in range(size - 1))
        )
        _member(cluster, f"m-{size - 1:02d}", "wide", size)
        await eventually(lambda: _bound(cluster, "m-") == size)
        await daemon.recorder.drain(5)
        waiting = [
            e
            for e in cluster.api.objects("events")
            if e["reason"] == "FailedScheduling" and "waiting for pod group" in e["message"]
        ]
        per_member: dict[str, int] = {}
        for event in waiting:
            name = event["involvedObject"]["name"]
            per_member[name] = per_member.get(name, 0) + 1
        assert max(per_member.values()) == 1
        assert len(waiting) <= size - 1


@pytest.mark.emulator("the real server refuses a malformed quantity itself")
async def test_an_unparsable_update_of_a_running_pod_keeps_its_capacity_counted(
    cluster: Cluster,
) -> None:
    """A bound pod whose update cannot be read still runs: its last good view stays counted."""
    cluster.node("a", cpu="2")
    async with running_daemon(cluster) as daemon:
        body = cluster.pod("runner", cpu="2", node="a")
        await eventually(lambda: daemon.scheduler.cache.pod_count == 1)
        body["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "lots"
        version = int(cluster.api.put_object("pods", body)["metadata"]["resourceVersion"])
        await eventually(lambda: int(daemon.pods.resource_version or 0) >= version)
        cluster.pod("newcomer", cpu="1")
        events = await eventually(lambda: cluster.events("newcomer", "FailedScheduling"))
        assert events[0]["message"] == "0/1 nodes are available: 1 Insufficient cpu." + no_victims(
            1
        )
        assert daemon.scheduler.cache.pod_count == 1


async def test_the_timeout_condition_is_cleared_once_the_gang_schedules(cluster: Cluster) -> None:
    """Hardening #8: ScheduleTimeout goes False when the gang finally schedules."""
    cluster.node("a", cpu="2")
    config = {
        "profiles": [
            {
                "pluginConfig": [
                    {"name": "Coscheduling", "args": {"defaultScheduleTimeoutSeconds": 0.2}}
                ]
            }
        ]
    }
    path = ("scheduling.kubenexus.io", "v1alpha1")

    def conditions() -> list[dict[str, Any]]:
        group = cluster.api.get_object("podgroups", "late", "default", *path) or {}
        return list((group.get("status") or {}).get("conditions") or [])

    async with running_daemon(cluster, config=config):
        for i in range(3):
            _member(cluster, f"late-{i}", "late", 3)
        await eventually(lambda: cluster.events("late-0", "FailedScheduling"))
        await eventually(lambda: _retry_until_timed_out(cluster), timeout=15)
        timed_out = await eventually(conditions)
        assert (timed_out[0]["type"], timed_out[0]["status"]) == ("ScheduleTimeout", "True")
        cluster.node("b", cpu="2")  # room for the whole gang
        await eventually(lambda: _bound(cluster, "late-") == 3)
        cleared = await eventually(lambda: [c for c in conditions() if c["status"] == "False"])
        assert (cleared[0]["type"], cleared[0]["reason"]) == ("ScheduleTimeout", "Scheduled")


def _retry_until_timed_out(cluster: Cluster) -> bool:
    """Poke the cluster (a new small node) until a retry reports the timeout."""
    if any(
        e["message"].startswith("timed out after")
        for e in cluster.events("late-0", "FailedScheduling")
    ):
        return True
    cluster.node(f"tiny-{len(cluster.api.objects('nodes'))}", cpu="100m")
    return False


async def test_our_own_condition_write_does_not_make_the_pod_try_again(cluster: Cluster) -> None:
    """The PodScheduled condition we write comes back as a pod update; it changes nothing the
    scheduler reads, so the pod waits out its backoff instead of being tried again at once
    (a waiting gang of 40 was replanned once per member's condition)."""
    cluster.node("a", cpu="1")
    slow = {"podInitialBackoffSeconds": 30, "podMaxBackoffSeconds": 60}
    async with running_daemon(cluster, config=slow) as daemon:
        cluster.pod("big", cpu="4")

        def condition_seen() -> bool:
            pod = cluster.get_pod("big") or {}
            conditions = (pod.get("status") or {}).get("conditions") or []
            if not any(c.get("reason") == "Unschedulable" for c in conditions):
                return False
            version = int(pod["metadata"]["resourceVersion"])
            return int(daemon.pods.resource_version or 0) >= version

        await eventually(condition_seen)
        # Once a newer pod is decided, "big" (older, first in line) would have been too.
        cluster.pod("sentinel", cpu="100m")
        await eventually(lambda: cluster.node_of("sentinel") == "a")
        assert daemon.decisions == 2


async def test_a_timeout_condition_written_before_a_restart_is_cleared_after_it(
    cluster: Cluster,
) -> None:
    """The PodGroup's ScheduleTimeout=True was written by the daemon before it restarted; the
    gang is placed by the next one, which must turn the condition False too (it knows the
    condition from the object, not from its own memory) and keep the gang's
    scheduleStartTime."""
    cluster.node("a", cpu="2")
    config = {
        "profiles": [
            {
                "pluginConfig": [
                    {"name": "Coscheduling", "args": {"defaultScheduleTimeoutSeconds": 0.2}}
                ]
            }
        ]
    }
    path = ("scheduling.kubenexus.io", "v1alpha1")

    def status() -> dict[str, Any]:
        group = cluster.api.get_object("podgroups", "late", "default", *path) or {}
        return dict(group.get("status") or {})

    async with running_daemon(cluster, config=config):
        for i in range(3):
            _member(cluster, f"late-{i}", "late", 3)
        await eventually(lambda: cluster.events("late-0", "FailedScheduling"))
        await eventually(lambda: _retry_until_timed_out(cluster), timeout=15)
        await eventually(lambda: status().get("conditions"))
    before = status()
    assert (before["conditions"][0]["type"], before["conditions"][0]["status"]) == (
        "ScheduleTimeout",
        "True",
    )
    cluster.node("b", cpu="2")  # room for the whole gang, while no scheduler runs
    async with running_daemon(cluster, config=config):
        await eventually(lambda: _bound(cluster, "late-") == 3)
        after = await eventually(
            lambda: (
                (s := status()).get("phase") == "Scheduled"
                and s["conditions"][0]["status"] == "False"
                and s
            )
        )
    assert after["conditions"][0]["reason"] == "Scheduled"
    assert after["scheduleStartTime"] == before["scheduleStartTime"]
