"""Sequential differential tests of the rules about other pods (InterPodAffinity,
PodTopologySpread) against the real kube-scheduler v1.36.

Per seed, a random cluster, then pods created one at a time (``tests/real/pod_rules.py``);
kube-scheduler decides each before the next is created (a pod it refuses is deleted, so it is
never retried later). Before each decision our core holds the same nodes and the pods
kube-scheduler bound, as read back from the API server, and is asked about the pod:

- kube-scheduler bound it to node X: X passes every one of our filters, and is among the
  nodes we score highest (kube-scheduler breaks ties at random, so only membership counts);
- kube-scheduler refused it: we refuse it with the same message.

A few fixed seeds run by default. More: ``KUBENEXUS_DIFF_SEEDS=60`` (seeds 0 to 59) or
``KUBENEXUS_DIFF_SEED=17,42`` (exactly these).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from kubenexus.api.objects import node_from_dict, pod_from_dict
from kubenexus.framework.runtime import Failure
from tests.real.pod_rules import (
    HOST,
    KUBE_PLUGINS,
    NAMESPACES,
    SCHEDULER,
    SYNC_NAMESPACE,
    Case,
    evaluate,
    generate,
    our_scheduler,
)
from tests.realk8s.client import RealApi, RealApiError
from tests.realk8s.controlplane import ControlPlane

FIXED_SEEDS = (1, 2, 3)
DECISION_TIMEOUT = 30.0

SCHEDULER_CONFIG = f"""apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: KUBECONFIG
  qps: 1000
  burst: 2000
leaderElection:
  leaderElect: false
profiles:
- schedulerName: {SCHEDULER}
  plugins:
{KUBE_PLUGINS}"""


def _seeds() -> list[int]:
    chosen = os.environ.get("KUBENEXUS_DIFF_SEED", "").strip()
    if chosen:
        return [int(s) for s in chosen.split(",") if s.strip()]
    count = os.environ.get("KUBENEXUS_DIFF_SEEDS", "").strip()
    if count:
        return list(range(int(count)))
    return list(FIXED_SEEDS)


T = TypeVar("T")


def poll(check: Callable[[], T | None], timeout: float, what: Callable[[], str]) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what()}")
        time.sleep(0.01)


# --------------------------------------------------------------------------- fixtures


def _namespace(api: RealApi, name: str, labels: dict[str, str]) -> None:
    body = {"metadata": {"name": name, "labels": labels}}
    try:
        api.request("POST", "/api/v1/namespaces", body)
    except RealApiError as exc:
        if exc.status != 409:
            raise
        api.request(
            "PATCH",
            f"/api/v1/namespaces/{name}",
            body,
            content_type="application/merge-patch+json",
        )
    api.ensure_namespace(name)  # its default ServiceAccount


@pytest.fixture(scope="module")
def kube_scheduler(control_plane: ControlPlane, real_api: RealApi) -> Iterator[RealApi]:
    """The real kube-scheduler (our configuration) for this module, and the labelled
    namespaces. Stopped afterwards: it would take other modules' pods."""
    for name, labels in NAMESPACES.items():
        _namespace(real_api, name, labels)
    _namespace(real_api, SYNC_NAMESPACE, {})
    real_api.wipe()
    control_plane.stop_component("kube-scheduler")  # another module's configuration
    control_plane.start_scheduler(SCHEDULER_CONFIG)
    try:
        yield real_api
    finally:
        control_plane.stop_component("kube-scheduler")
        real_api.wipe()


# --------------------------------------------------------------------------- the real run

MARKER_LABEL = {"kubenexus.io/diff": "marker"}


def _sync_pods(node: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A marker pod already on ``node`` (the last node created) and a sentinel pod only that
    node can take, next to the marker only. Once the sentinel is bound, kube-scheduler's cache
    holds every node of this case and none of the pods of the previous one: its informers
    deliver the events of one kind in order (see tests/real/test_differential.py)."""
    container = {"name": "c", "image": "registry.k8s.io/pause:3.10"}
    marker = {
        "metadata": {"name": "marker", "namespace": SYNC_NAMESPACE, "labels": MARKER_LABEL},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0, "containers": [container]},
    }
    name_in = {"key": "metadata.name", "operator": "In", "values": [node]}
    near_marker = {"labelSelector": {"matchLabels": MARKER_LABEL}, "topologyKey": HOST}
    sentinel = {
        "metadata": {"name": "sentinel", "namespace": SYNC_NAMESPACE},
        "spec": {
            "schedulerName": SCHEDULER,
            "terminationGracePeriodSeconds": 0,
            "containers": [container],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchFields": [name_in]}]
                    }
                },
                "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [near_marker]},
            },
        },
    }
    return marker, sentinel


def _pods_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def _verdict(api: RealApi, namespace: str, name: str) -> tuple[str, dict[str, Any]] | None:
    """("node", the bound pod) or ("message", the pod) once kube-scheduler decided."""
    pod = api.get_object("pods", name, namespace)
    if pod is None:
        return None
    if pod["spec"].get("nodeName"):
        return "node", pod
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            return "message", pod
    return None


def _message(pod: dict[str, Any]) -> str:
    for condition in pod["status"]["conditions"]:
        if condition.get("type") == "PodScheduled":
            return str(condition.get("message", ""))
    return ""


def _log_tail(api: RealApi) -> str:
    log = api.plane.log("kube-scheduler")
    return "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else ""


# --------------------------------------------------------------------------- the test


def _history(lines: list[str]) -> str:
    return "\n".join(["decisions so far:", *lines])


def play(api: RealApi, case: Case) -> tuple[int, int]:
    """Plays the case on both schedulers, asserting at each pod; returns (bound, refused)."""
    ours = our_scheduler()
    api.wipe()
    nodes = [api.request("POST", "/api/v1/nodes", node) for node in case.nodes]
    for node in nodes:
        ours.upsert_node(node_from_dict(node))
    marker, sentinel = _sync_pods(nodes[-1]["metadata"]["name"])
    ours.upsert_pod(pod_from_dict(api.request("POST", _pods_path(SYNC_NAMESPACE), marker)))
    api.request("POST", _pods_path(SYNC_NAMESPACE), sentinel)
    kind, bound = poll(
        lambda: _verdict(api, SYNC_NAMESPACE, "sentinel"),
        DECISION_TIMEOUT,
        lambda: f"sentinel pod not decided; kube-scheduler's log ends:\n{_log_tail(api)}",
    )
    assert kind == "node", f"sentinel pod refused: {_message(bound)}"
    ours.upsert_pod(pod_from_dict(bound))

    profile = ours.profiles[SCHEDULER]
    rerun = f"rerun: KUBENEXUS_DIFF_SEED={case.seed} pytest {__file__}"
    history: list[str] = []
    counts = [0, 0]
    for body in case.pods:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        created = api.request("POST", _pods_path(namespace), body)
        kind, decided = poll(
            lambda: _verdict(api, namespace, name),  # noqa: B023 - called within this iteration
            DECISION_TIMEOUT,
            lambda: f"{name} not decided; kube-scheduler's log ends:\n{_log_tail(api)}",  # noqa: B023
        )
        pod = pod_from_dict(created)
        nodes_table = ours.cache.nodes
        found = profile.find_node(pod, nodes_table)
        view = evaluate(profile, pod, nodes_table)
        context = f"seed {case.seed}, pod {namespace}/{name} ({rerun})"
        if kind == "node":
            node = decided["spec"]["nodeName"]
            history.append(f"  {name} -> {node}")
            assert node in view.feasible, (
                f"{context}: kube-scheduler bound it to {node}, which our filters refuse "
                f"(ours: {found.message if isinstance(found, Failure) else sorted(view.feasible)})"
                f"\n{_history(history)}\n{case.describe()}"
            )
            assert node in view.best, (
                f"{context}: kube-scheduler chose {node}, not among our best "
                f"{sorted(view.best)} (scores {dict(sorted(view.scores.items()))})"
                f"\n{_history(history)}\n{case.describe()}"
            )
            ours.upsert_pod(pod_from_dict(decided))
            counts[0] += 1
        else:
            message = _message(decided)
            history.append(f"  {name} refused: {message}")
            api.delete_object("pods", name, namespace)
            ours_says = (
                found.message if isinstance(found, Failure) else f"placed on {found.node_name}"
            )
            assert ours_says == message, (
                f"{context}: refused by kube-scheduler\n"
                f"    kube-scheduler: {message}\n    KubeNexus:      {ours_says}"
                f"\n{_history(history)}\n{case.describe()}"
            )
            counts[1] += 1
    return counts[0], counts[1]


@pytest.mark.parametrize("seed", _seeds(), ids=lambda s: f"seed-{s}")
def test_each_pod_decided_as_kube_scheduler_decides(seed: int, kube_scheduler: RealApi) -> None:
    play(kube_scheduler, generate(seed))
