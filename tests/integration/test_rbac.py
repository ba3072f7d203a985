"""The RBAC in manifests/ grants exactly what the daemon calls: every call a full session makes
against the emulator is checked against the rules, and every granted verb must be used."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubenexus.api import PodInfo
from kubenexus.api.objects import pod_from_dict
from kubenexus.framework import CycleState
from kubenexus.scheduler import Preemption
from kubenexus.shell.app import Daemon
from tests.integration.conftest import FAST_LEASE, Cluster, eventually, running_daemon

RBAC = Path(__file__).resolve().parents[2] / "manifests" / "rbac.yaml"
NAMESPACE = "kubenexus-system"

# Granted ahead of the code that uses them, each for a stated feature.
GRANTED_FOR_UPCOMING: set[tuple[str, str, str]] = set()

Grant = tuple[str, str, str]  # (apiGroup, resource, verb)


def rules() -> tuple[set[Grant], set[Grant]]:
    """(cluster-wide grants, grants in our namespace)."""
    cluster: set[Grant] = set()
    namespaced: set[Grant] = set()
    for doc in yaml.safe_load_all(RBAC.read_text()):
        if doc["kind"] not in {"ClusterRole", "Role"}:
            continue
        target = cluster if doc["kind"] == "ClusterRole" else namespaced
        for rule in doc["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        target.add((group, resource, verb))
    return cluster, namespaced


def _request(method: str, path: str, query: dict[str, str]) -> tuple[Grant, str] | None:
    """The (apiGroup, resource, verb) and namespace of a call; None for discovery."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return None  # /api, /apis, /apis/g/v: discovery, allowed to every authenticated user
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    if method == "GET":
        verb = (
            "watch"
            if query.get("watch", "").lower() in {"true", "1"}
            else ("get" if name else "list")
        )
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
    return (group, resource, verb), namespace


class _Stamp:
    """Sets one placement annotation (carried by the Binding) and removes a stale one (the
    one write that needs a PATCH of the pod)."""

    name = "Stamp"

    def placement_annotations(self, state: CycleState, pod: PodInfo) -> dict[str, str | None]:
        return {"numa.kubenexus.io/zones": "0", "cpu-set": None}


def reservation_status(cluster: Cluster, name: str) -> dict[str, Any]:
    obj = cluster.api.get_object(
        "resourcereservations",
        name,
        "default",
        group="scheduling.kubenexus.io",
        version="v1alpha1",
    )
    return dict((obj or {}).get("status") or {})


async def spark_session(cluster: Cluster, group: dict[str, str]) -> None:
    """A Spark driver whose reservation of an earlier attempt (same name, owned by it) is
    invalid: the new one is written over it (create, get, patch), the driver bound, its
    executor claims."""
    spark = {"spark-role": "driver", "spark-app-selector": "app-1"}
    executors = {
        "scheduling.kubenexus.io/executor-count": "1",
        "scheduling.kubenexus.io/executor-cpu": "500m",
    }
    hold = [{"name": "kubenexus.test/hold"}]
    driver = cluster.pod(
        "spark-driver", cpu="500m", labels=spark, annotations=executors, schedulingGates=hold
    )
    owner = {"kind": "Pod", "apiVersion": "v1", "name": "spark-driver"}
    owner["uid"] = driver["metadata"]["uid"]
    cluster.api.put_object(
        "resourcereservations",
        {
            "metadata": {
                "name": "spark-driver",
                "namespace": "default",
                "ownerReferences": [owner],
            },
            "spec": {
                "podGroupName": "app-1",
                "reservations": {"executor-0": {"node": "gone", "resources": {"cpu": "500m"}}},
            },
        },
        **group,
    )
    await eventually(lambda: reservation_status(cluster, "spark-driver").get("phase") == "Invalid")
    driver = cluster.get_pod("spark-driver") or {}
    driver["spec"].pop("schedulingGates")
    cluster.api.put_object("pods", driver)
    await eventually(lambda: cluster.node_of("spark-driver"))
    await eventually(lambda: reservation_status(cluster, "spark-driver").get("phase") == "Active")
    cluster.pod(
        "spark-exec-1", cpu="500m", labels={"spark-role": "executor", "spark-app-selector": "app-1"}
    )
    await eventually(lambda: reservation_status(cluster, "spark-driver").get("claims") == "1/1")
    await eventually(lambda: cluster.events("spark-driver", "Reserved"))
    await eventually(lambda: cluster.events("spark-exec-1", "ClaimedReservation"))


async def preemption(cluster: Cluster, daemon: Daemon) -> None:
    """A preemption carried out (as the core decides it): the victim marked and deleted, the
    preemptor nominated, then its nomination cleared."""
    cluster.pod("victim", cpu="1", node="b")
    await eventually(lambda: daemon.scheduler.cache.pod_count >= 3)
    preemptor = pod_from_dict(cluster.get_pod("too-big") or {})
    victim = pod_from_dict(cluster.get_pod("victim") or {})
    daemon.preempter.submit(preemptor, Preemption(preemptor, "b", (victim,)), "b")
    await eventually(lambda: cluster.events("victim", "Preempted"))
    await eventually(lambda: daemon.preempter.in_flight == 0)
    daemon.preempter.submit(preemptor, None, "")
    await eventually(lambda: daemon.preempter.in_flight == 0)
    assert daemon.preempter.evicted == 1


async def full_session(cluster: Cluster) -> None:
    """A daemon session that makes every kind of call the daemon makes (against ``cluster``,
    whose credentials may be the daemon's own ServiceAccount)."""
    cluster.node("a", cpu="4")
    cluster.node("b", cpu="4")
    # Deadlines that survive kopf's start-up (it holds the GIL for a while in its thread).
    lease = replace(FAST_LEASE, lease_duration=8.0, renew_deadline=6.0, retry_period=0.5)
    async with running_daemon(cluster, operator=True, leader=lease, identity="me") as daemon:
        daemon.scheduler.profiles["kubenexus-scheduler"].annotators = [_Stamp()]
        await eventually(lambda: daemon.elector is not None and daemon.elector.is_leader)
        cluster.pod("fits", cpu="1", annotations={"cpu-set": "0-1"})  # stale: removed
        cluster.pod("too-big", cpu="64")
        for i in range(2):  # a gang declared by labels only: its PodGroup is created and kept true
            cluster.pod(
                f"gang-{i}",
                cpu="1",
                labels={
                    "pod-group.scheduling.kubenexus.io/name": "g",
                    "pod-group.scheduling.kubenexus.io/min-available": "2",
                },
            )
        group = {"group": "scheduling.kubenexus.io", "version": "v1alpha1"}
        invalid = not cluster.real  # the real server's CRD schema refuses it (no Event then)
        if invalid:
            cluster.api.put_object(
                "podgroups",
                {"metadata": {"name": "bad", "namespace": "default"}, "spec": {"minMember": 0}},
                **group,
            )
        cluster.api.put_object(
            "resourcereservations",
            {
                "metadata": {"name": "r", "namespace": "default"},
                "spec": {
                    "podGroupName": "g",
                    "reservations": {"a": {"node": "b", "resources": {"cpu": "1"}}},
                },
            },
            **group,
        )
        await spark_session(cluster, group)
        await eventually(lambda: cluster.node_of("fits") == "a")
        await eventually(lambda: cluster.events("too-big", "FailedScheduling"))
        if invalid:
            await eventually(lambda: cluster.events("bad"))
        await eventually(
            lambda: any(
                c["type"] == "PodScheduled"
                for c in (cluster.get_pod("too-big") or {}).get("status", {}).get("conditions", [])
            )
        )
        await eventually(lambda: reservation_status(cluster, "r").get("phase") == "Active")
        await preemption(cluster, daemon)
        await eventually(
            lambda: (
                (
                    (
                        cluster.api.get_object(
                            "podgroups",
                            "g",
                            "default",
                            group="scheduling.kubenexus.io",
                            version="v1alpha1",
                        )
                        or {}
                    ).get("status")
                    or {}
                ).get("phase")
                == "Scheduled"
            )
        )
        # The gang runs again under the same name with another size: the PodGroup we made is
        # resized (patch), not left to block it.
        for i in range(2):
            cluster.api.delete_object("pods", f"gang-{i}", "default")
        for i in range(3):
            cluster.pod(
                f"rerun-{i}",
                cpu="1",
                labels={
                    "pod-group.scheduling.kubenexus.io/name": "g",
                    "pod-group.scheduling.kubenexus.io/min-available": "3",
                },
            )
        await eventually(
            lambda: (
                (
                    (
                        cluster.api.get_object(
                            "podgroups",
                            "g",
                            "default",
                            group="scheduling.kubenexus.io",
                            version="v1alpha1",
                        )
                        or {}
                    ).get("spec", {})
                ).get("minMember")
                == 3
            )
        )


@pytest.mark.emulator("reads the calls the emulator recorded (the real server: test_rbac_real)")
async def test_every_call_is_granted_and_every_grant_is_used(cluster: Cluster) -> None:
    await full_session(cluster)
    calls = list(cluster.api.calls)
    cluster_grants, namespace_grants = rules()
    used: set[Grant] = set()
    denied: list[Any] = []
    for method, path, query in calls:
        request = _request(method, path, query)
        if request is None:
            continue
        grant, namespace = request
        used.add(grant)
        allowed = grant in cluster_grants or (namespace == NAMESPACE and grant in namespace_grants)
        if not allowed:
            denied.append((method, path, grant))
    assert not denied, f"calls the RBAC does not grant: {denied}"
    unused = (cluster_grants | namespace_grants) - used - GRANTED_FOR_UPCOMING
    assert not unused, f"granted but never used (least privilege): {sorted(unused)}"
    # The session did exercise the interesting paths.
    assert {
        ("", "pods/binding", "create"),
        ("", "pods/status", "patch"),
        ("", "pods", "patch"),
        ("", "pods", "delete"),
        ("policy", "poddisruptionbudgets", "watch"),
        ("coordination.k8s.io", "leases", "update"),
        ("", "events", "create"),
        ("scheduling.kubenexus.io", "resourcereservations", "create"),
        ("scheduling.kubenexus.io", "resourcereservations", "patch"),
        ("scheduling.kubenexus.io", "resourcereservations/status", "patch"),
    } <= used
