"""Gangs through the daemon and the API emulator: all members bound or none, across restarts."""

from __future__ import annotations

import asyncio

from kubenexus.shell.app import Daemon
from tests.integration.conftest import (
    Cluster,
    eventually,
    pod_key,
    running_daemon,
    stand_in_for_kubelet,
)

NAME = "pod-group.scheduling.kubenexus.io/name"
MIN = "pod-group.scheduling.kubenexus.io/min-available"


def _member(
    cluster: Cluster, name: str, gang: str, size: int, cpu: str = "1", **spec: object
) -> None:
    cluster.pod(name, cpu=cpu, labels={NAME: gang, MIN: str(size)}, **spec)


def _waiting(daemon: Daemon, cluster: Cluster, name: str) -> bool:
    """The daemon tried the pod and parked it until the cluster changes."""
    return daemon.scheduler.queue.where(pod_key(cluster, name)) == "unschedulable"


def _bound(cluster: Cluster, prefix: str) -> int:
    return sum(
        1
        for p in cluster.api.objects("pods")
        if p["metadata"]["name"].startswith(prefix) and p["spec"].get("nodeName")
    )


async def test_members_arriving_over_seconds_are_bound_together(cluster: Cluster) -> None:
    for i in range(3):
        cluster.node(f"n{i}", cpu="8")
    async with running_daemon(cluster) as daemon:
        for i in range(3):
            _member(cluster, f"job-{i}", "job", 4)
            # Every member so far tried and sent back to wait for the rest: never a partial gang.
            await eventually(
                lambda n=i: all(_waiting(daemon, cluster, f"job-{j}") for j in range(n + 1))
            )
            assert _bound(cluster, "job-") == 0
            assert daemon.binder.in_flight == 0
        _member(cluster, "job-3", "job", 4)
        await eventually(lambda: _bound(cluster, "job-") == 4)
        events = cluster.events("job-0", "FailedScheduling")
        assert events[0]["message"].startswith("waiting for pod group default/job:")


async def test_gang_with_an_unschedulable_member_binds_nothing(cluster: Cluster) -> None:
    cluster.node("a", cpu="16")
    async with running_daemon(cluster) as daemon:
        _member(cluster, "mpi-0", "mpi", 3)
        _member(cluster, "mpi-1", "mpi", 3)
        _member(cluster, "mpi-2", "mpi", 3, nodeSelector={"disktype": "nvme"})
        await eventually(lambda: cluster.events("mpi-0", "FailedScheduling"))
        # The whole gang was tried and is waiting for a change: nothing can be bound until then.
        await eventually(lambda: all(_waiting(daemon, cluster, f"mpi-{i}") for i in range(3)))
        assert daemon.binder.in_flight == 0
        assert _bound(cluster, "mpi-") == 0
        assert sum(cluster.api.bindings.values()) == 0


async def test_competing_gangs_do_not_deadlock(cluster: Cluster) -> None:
    for i in range(10):
        cluster.node(f"n{i}", cpu="10")
    async with running_daemon(cluster) as daemon:
        for i in range(6):
            _member(cluster, f"alpha-{i}", "alpha", 6, cpu="10")
        await eventually(lambda: _bound(cluster, "alpha-") == 6)
        for i in range(6):
            _member(cluster, f"beta-{i}", "beta", 6, cpu="10")
        await eventually(lambda: cluster.events("beta-0", "FailedScheduling"))
        await eventually(lambda: all(_waiting(daemon, cluster, f"beta-{i}") for i in range(6)))
        assert daemon.binder.in_flight == 0
        assert _bound(cluster, "beta-") == 0
        for i in range(6):  # alpha finishes
            pod = cluster.get_pod(f"alpha-{i}")
            assert pod is not None
            pod["status"]["phase"] = "Succeeded"
            cluster.api.put_object("pods", pod)
        await eventually(lambda: _bound(cluster, "beta-") == 6, timeout=15)
        assert max(cluster.api.bindings.values()) == 1


async def test_restart_mid_gang_makes_no_partial_gang_and_binds_nothing_twice(
    cluster: Cluster,
) -> None:
    for i in range(4):
        cluster.node(f"n{i}", cpu="8")
    async with running_daemon(cluster):
        for i in range(3):
            _member(cluster, f"g-{i}", "g", 5)
        await eventually(lambda: cluster.events("g-0", "FailedScheduling"))
    # Down while the last members arrive.
    _member(cluster, "g-3", "g", 5)
    _member(cluster, "g-4", "g", 5)
    _member(cluster, "h-0", "h", 2)
    async with running_daemon(cluster):
        await eventually(lambda: _bound(cluster, "g-") == 5)
        _member(cluster, "h-1", "h", 2)
        await eventually(lambda: _bound(cluster, "h-") == 2)
    async with running_daemon(cluster) as again:
        # Ready means synced: the gang counts as placed and nothing is left to decide.
        assert again.scheduler.cache.gang_placed("default/g") == 5
        assert len(again.scheduler.queue) == 0
        assert again.decisions == 0
    assert max(cluster.api.bindings.values()) == 1


async def test_pod_group_object_sizes_scheduler_plugins_gangs(cluster: Cluster) -> None:
    cluster.node("a", cpu="8")
    async with running_daemon(cluster, operator=True) as daemon:
        for i in range(2):
            cluster.pod(f"x-{i}", cpu="1", labels={"scheduling.x-k8s.io/pod-group": "x"})
        events = await eventually(lambda: cluster.events("x-0", "FailedScheduling"))
        assert events[0]["message"].startswith("waiting for PodGroup default/x")
        cluster.api.put_object(
            "podgroups",
            {"metadata": {"name": "x", "namespace": "default"}, "spec": {"minMember": 2}},
            group="scheduling.kubenexus.io",
            version="v1alpha1",
        )
        await eventually(lambda: _bound(cluster, "x-") == 2)
        assert "default/x" in daemon.crds.pod_groups


def _group(cluster: Cluster, name: str) -> dict | None:
    return cluster.api.get_object(
        "podgroups", name, "default", group="scheduling.kubenexus.io", version="v1alpha1"
    )


def _set_phase(cluster: Cluster, name: str, phase: str) -> None:
    pod = cluster.get_pod(name)
    assert pod is not None
    pod["status"]["phase"] = phase
    cluster.api.put_object("pods", pod)


async def test_label_gang_gets_a_pod_group_whose_status_follows_its_members(
    cluster: Cluster,
) -> None:
    cluster.node("a", cpu="8")
    async with running_daemon(cluster):
        for i in range(2):
            _member(cluster, f"w-{i}", "w", 3)
        group = await eventually(lambda: _group(cluster, "w"))
        assert group["spec"]["minMember"] == 3
        assert group["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "kubenexus-scheduler"
        }
        await eventually(
            lambda: (_group(cluster, "w") or {}).get("status", {}).get("phase") == "Scheduling"
        )
        _member(cluster, "w-2", "w", 3)
        status = await eventually(
            lambda: (
                (s := (_group(cluster, "w") or {}).get("status", {})).get("phase") == "Scheduled"
                and s
            )
        )
        assert (status["scheduled"], status["running"]) == (3, 0)
        assert status["lastScheduleTime"]
        for i in range(3):
            _set_phase(cluster, f"w-{i}", "Running")
        status = await eventually(
            lambda: (s := _group(cluster, "w")["status"]).get("phase") == "Running" and s
        )
        assert status["running"] == 3
        for i in range(3):
            _set_phase(cluster, f"w-{i}", "Succeeded")
        status = await eventually(
            lambda: (s := _group(cluster, "w")["status"]).get("phase") == "Succeeded" and s
        )
        assert (status["succeeded"], status["scheduled"]) == (3, 0)


async def test_timed_out_gang_gets_a_condition_and_an_event_saying_why(cluster: Cluster) -> None:
    cluster.node("a", cpu="2")
    config = {
        "profiles": [
            {
                "pluginConfig": [
                    {"name": "Coscheduling", "args": {"defaultScheduleTimeoutSeconds": 0.5}}
                ]
            }
        ]
    }
    async with running_daemon(cluster, config=config):
        for i in range(3):
            _member(cluster, f"t-{i}", "t", 3)
        await asyncio.sleep(0.6)
        cluster.node("b", cpu="0.5")  # a change: retried, still short, now past the timeout

        def timed_out() -> list[dict]:
            return [
                e
                for e in cluster.events("t-0", "FailedScheduling")
                if e["message"].startswith("timed out after")
            ]

        events = await eventually(timed_out)
        assert "pod group default/t: only 2 of minMember 3 members fit" in events[0]["message"]
        assert "Insufficient cpu" in events[0]["message"]  # which resource was short
        condition = await eventually(
            lambda: ((_group(cluster, "t") or {}).get("status") or {}).get("conditions")
        )
        assert condition[0]["type"] == "ScheduleTimeout"
        assert condition[0]["message"].startswith("timed out after")
        assert _bound(cluster, "t-") == 0


async def test_a_gang_of_1000_pods_is_bound_whole(cluster: Cluster) -> None:
    for i in range(100):
        cluster.node(f"n{i:03d}", cpu="12")
    async with running_daemon(cluster) as daemon:
        for i in range(1000):
            _member(cluster, f"big-{i:04d}", "big", 1000)
        await eventually(lambda: sum(cluster.api.bindings.values()) == 1000, timeout=90)
        assert max(cluster.api.bindings.values()) == 1
        assert daemon.scheduler.cache.gang_placed("default/big") == 1000
        per_node: dict[str, int] = {}
        for pod in cluster.api.objects("pods"):
            per_node[pod["spec"]["nodeName"]] = per_node.get(pod["spec"]["nodeName"], 0) + 1
        assert max(per_node.values()) <= 12


async def test_a_gang_rerun_with_another_size_is_not_blocked_by_the_podgroup_we_made(
    cluster: Cluster,
) -> None:
    """A label-only gang's PodGroup is created by the scheduler; when a later run of the gang
    (same name) declares another size, the members are placed and the PodGroup follows them."""
    cluster.node("a", cpu="8")
    async with running_daemon(cluster, operator=True):
        for i in range(2):
            _member(cluster, f"first-{i}", "nightly", 2)
        await eventually(lambda: _bound(cluster, "first-") == 2)
        await eventually(lambda: (_group(cluster, "nightly") or {}).get("spec"))
        assert _group(cluster, "nightly")["spec"]["minMember"] == 2
        for i in range(2):
            cluster.api.delete_object("pods", f"first-{i}", "default")
        for i in range(3):
            _member(cluster, f"second-{i}", "nightly", 3)
        await eventually(lambda: _bound(cluster, "second-") == 3)
        await eventually(lambda: _group(cluster, "nightly")["spec"]["minMember"] == 3)


async def test_pod_groups_are_read_before_the_first_decision_after_a_start(
    cluster: Cluster,
) -> None:
    """A (re)started daemon finds gangs waiting with their PodGroups already in the API: it
    sizes them by the PodGroups from its first decision (kopf starts later, on the leader
    only). Before, a gang whose members declared another size than its PodGroup was bound on
    the members' word at a start, and members sized by their PodGroup were told it did not
    exist."""
    cluster.node("a", cpu="8")
    for name, size in (("conflict", 3), ("sized", 2)):
        cluster.api.put_object(
            "podgroups",
            {"metadata": {"name": name, "namespace": "default"}, "spec": {"minMember": size}},
            group="scheduling.kubenexus.io",
            version="v1alpha1",
        )
    for i in range(2):
        _member(cluster, f"conflict-{i}", "conflict", 2)  # the PodGroup says 3
        cluster.pod(f"sized-{i}", cpu="1", labels={"scheduling.x-k8s.io/pod-group": "sized"})
    async with running_daemon(cluster, operator=True) as daemon:
        await eventually(lambda: _bound(cluster, "sized-") == 2)
        events = await eventually(lambda: cluster.events("conflict-0", "FailedScheduling"))
        assert "declares min-available 2 but the PodGroup's minMember is 3" in events[0]["message"]
        assert _bound(cluster, "conflict-") == 0
        assert not cluster.events("sized-0", "FailedScheduling")
        assert daemon.scheduler.queue.where(pod_key(cluster, "conflict-0")) == "unschedulable"


async def test_a_pod_group_update_that_keeps_its_spec_does_not_make_the_gang_try_again(
    cluster: Cluster,
) -> None:
    """A PodGroup update that leaves its spec as it was — our own status write coming back, a
    label — changes nothing the gang is sized by: the waiting gang sits out its backoff
    instead of being planned again at once (every status write replanned it)."""
    cluster.node("a", cpu="1")
    slow = {"podInitialBackoffSeconds": 30, "podMaxBackoffSeconds": 60}
    async with running_daemon(cluster, config=slow) as daemon:
        for i in range(2):
            _member(cluster, f"big-{i}", "big", 2)
        await eventually(lambda: (_group(cluster, "big") or {}).get("status"))
        await eventually(lambda: all(_waiting(daemon, cluster, f"big-{i}") for i in range(2)))
        await daemon.recorder.drain(5)  # the members' conditions written (and seen back)
        before = daemon.decisions
        group = _group(cluster, "big")
        assert group is not None
        group["metadata"].setdefault("annotations", {})["team"] = "ml"
        version = int(
            cluster.api.put_object(
                "podgroups", group, group="scheduling.kubenexus.io", version="v1alpha1"
            )["metadata"]["resourceVersion"]
        )
        await eventually(lambda: int(daemon.pod_group_informer.resource_version or 0) >= version)
        # Once a newer pod is decided, the gang (older, first in line) would have been too.
        cluster.pod("sentinel", cpu="100m")
        await eventually(lambda: cluster.node_of("sentinel") == "a")
        assert daemon.decisions == before + 1


async def test_a_half_bound_gang_with_min_resources_completes_after_a_restart(
    cluster: Cluster,
) -> None:
    """The previous daemon bound half the gang and stopped; the PodGroup's minResources is
    the whole gang's. The members already bound hold their part: the rest are placed."""
    cluster.node("a", cpu="8")
    cluster.api.put_object(
        "podgroups",
        {
            "metadata": {"name": "half", "namespace": "default"},
            "spec": {"minMember": 4, "minResources": {"cpu": "8"}},
        },
        group="scheduling.kubenexus.io",
        version="v1alpha1",
    )
    label = {"scheduling.x-k8s.io/pod-group": "half"}
    for i in range(2):
        cluster.pod(f"half-{i}", cpu="2", node="a", labels=label)
    for i in range(2, 4):
        cluster.pod(f"half-{i}", cpu="2", labels=label)
    async with running_daemon(cluster):
        await eventually(lambda: _bound(cluster, "half-") == 4)
    assert not cluster.events("half-2", "FailedScheduling")


async def test_a_gang_name_is_never_read_as_part_of_a_url(cluster: Cluster) -> None:
    """A gang named by the annotation spelling can hold any text; its PodGroup's path quotes
    it, so "x?y=1" never reads or resizes the PodGroup of gang "x"."""
    cluster.node("a", cpu="8")
    async with running_daemon(cluster):
        for i in range(2):
            _member(cluster, f"x-{i}", "x", 2)
        await eventually(lambda: (_group(cluster, "x") or {}).get("status", {}).get("phase"))
        for i in range(2):  # gang x is done: its PodGroup stays, nobody writes it any more
            cluster.api.delete_object("pods", f"x-{i}", "default")
        stand_in_for_kubelet(cluster)
        await eventually(lambda: (_group(cluster, "x") or {})["status"].get("scheduled") == 0)
        for i in range(3):
            cluster.pod(
                f"odd-{i}",
                cpu="1",
                annotations={"pod-group.scheduling.sigs.k8s.io/name": "x?y=1", MIN: "3"},
            )
        await eventually(lambda: _bound(cluster, "odd-") == 3)
        await asyncio.sleep(2)  # the status writer's turns (every second)
        assert _group(cluster, "x")["spec"]["minMember"] == 2


async def test_a_gang_of_unequal_members_that_fits_is_bound(cluster: Cluster) -> None:
    """An MPI launcher (small, created first) would take the roomier node the worker alone
    fits on: the gang is tried largest first before it is reported short."""
    cluster.node("a", cpu="3")
    cluster.node("b", cpu="2")
    _member(cluster, "mpi-launcher", "mpi", 2, cpu="2")
    _member(cluster, "mpi-worker", "mpi", 2, cpu="3")
    async with running_daemon(cluster):
        await eventually(lambda: _bound(cluster, "mpi-") == 2)
        assert (cluster.node_of("mpi-launcher"), cluster.node_of("mpi-worker")) == ("b", "a")


async def test_the_configured_gang_timeout_is_not_overridden_by_the_pod_group_we_made(
    cluster: Cluster,
) -> None:
    """A label-only gang's PodGroup is made by the scheduler without a timeout; a CRD that
    defaults scheduleTimeoutSeconds (ours did, to 60) fills one in. It must not replace the
    configured defaultScheduleTimeoutSeconds."""
    cluster.node("a", cpu="2")
    cluster.api.put_object(
        "podgroups",
        {
            "metadata": {
                "name": "t",
                "namespace": "default",
                "labels": {"app.kubernetes.io/managed-by": "kubenexus-scheduler"},
            },
            "spec": {"minMember": 3, "scheduleTimeoutSeconds": 600},  # as an old CRD defaulted
        },
        group="scheduling.kubenexus.io",
        version="v1alpha1",
    )
    config = {
        "profiles": [
            {
                "pluginConfig": [
                    {"name": "Coscheduling", "args": {"defaultScheduleTimeoutSeconds": 0.5}}
                ]
            }
        ]
    }
    async with running_daemon(cluster, config=config):
        for i in range(3):
            _member(cluster, f"t-{i}", "t", 3)
        await asyncio.sleep(0.6)
        cluster.node("b", cpu="0.5")  # a change: retried, still short, now past the timeout
        await eventually(
            lambda: any(
                e["message"].startswith("timed out after 0s")
                for e in cluster.events("t-0", "FailedScheduling")
            )
        )


async def test_a_deleted_pod_group_is_not_made_again_from_its_own_size(
    cluster: Cluster,
) -> None:
    """Members sized only by a user's PodGroup: when the user deletes it, the gang waits for
    a PodGroup again; the scheduler must not recreate the deleted object (as its own, with
    the deleted size) and go on placing the gang."""
    cluster.node("a", cpu="8")
    path = {"group": "scheduling.kubenexus.io", "version": "v1alpha1"}
    cluster.api.put_object(
        "podgroups",
        {"metadata": {"name": "pg", "namespace": "default"}, "spec": {"minMember": 3}},
        **path,
    )
    label = {"scheduling.x-k8s.io/pod-group": "pg"}
    async with running_daemon(cluster) as daemon:
        for i in range(2):
            cluster.pod(f"pg-{i}", cpu="1", labels=label)
        await eventually(lambda: (_group(cluster, "pg") or {}).get("status", {}).get("phase"))
        cluster.api.delete_object("podgroups", "pg", "default", **path)
        await eventually(lambda: "default/pg" not in daemon.crds.pod_groups)
        # Changes to the gang's status (members placed by hand): the writer has something
        # to write, twice (the first finds the object gone).
        for i in range(2, 4):
            cluster.pod(f"pg-{i}", cpu="1", node="a", labels=label)
            await asyncio.sleep(1.5)  # the status writer's turn (every second)
        assert _group(cluster, "pg") is None
        assert _bound(cluster, "pg-") == 2  # the two bound by hand only
        events = cluster.events("pg-0", "FailedScheduling")
        assert events[-1]["message"].startswith("waiting for PodGroup default/pg")
