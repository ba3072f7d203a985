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

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from kubenexus.api.objects import node_from_dict, pod_from_dict
from kubenexus.framework.runtime import Failure
from kubenexus.scheduler import Scheduler
from tests.real.pod_rules import (
    APPS,
    HOST,
    KUBE_PLUGINS,
    NAMESPACES,
    REVISIONS,
    SCHEDULER,
    SYNC_NAMESPACE,
    TIERS,
    Case,
    evaluate,
    generate,
    our_scheduler,
)
from tests.real.test_differential import poll, seeds
from tests.realk8s.client import RealApi, RealApiError
from tests.realk8s.controlplane import NO_KUBE_SCHEDULER, ControlPlane

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
    if not control_plane.has("kube-scheduler"):
        pytest.skip(NO_KUBE_SCHEDULER)
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

MARKER_KEY = "kubenexus.io/diff"
CONTAINER = {"name": "c", "image": "registry.k8s.io/pause:3.10"}


class Sync:
    """Proves kube-scheduler's cache holds every node and pod change made so far.

    A marker pod sits on the last node created; each round relabels it and creates a
    sentinel pod only that node can take, next to the relabelled marker only. Once the
    sentinel is bound, kube-scheduler's cache holds every node created before the marker and
    every pod change (creation, deletion, deletion started) made before the relabelling: its
    informers deliver the events of one kind in order (see tests/real/test_differential.py).
    Both pods, as read back, are fed to our scheduler too.
    """

    def __init__(self, api: RealApi, ours: Scheduler, node: str) -> None:
        self.api, self.ours, self.node = api, ours, node
        self.round = 0
        marker = {
            "metadata": {
                "name": "marker",
                "namespace": SYNC_NAMESPACE,
                "labels": {MARKER_KEY: "0"},
            },
            "spec": {
                "nodeName": node,
                "terminationGracePeriodSeconds": 0,
                "containers": [CONTAINER],
            },
        }
        ours.upsert_pod(pod_from_dict(api.request("POST", _pods_path(SYNC_NAMESPACE), marker)))
        self._sentinel()

    def again(self) -> None:
        self.round += 1
        marker = self.api.request(
            "PATCH",
            f"{_pods_path(SYNC_NAMESPACE)}/marker",
            {"metadata": {"labels": {MARKER_KEY: str(self.round)}}},
            content_type="application/merge-patch+json",
        )
        self.ours.upsert_pod(pod_from_dict(marker))
        self._sentinel()

    def _sentinel(self) -> None:
        name = f"sentinel-{self.round}"
        name_in = {"key": "metadata.name", "operator": "In", "values": [self.node]}
        near_marker = {
            "labelSelector": {"matchLabels": {MARKER_KEY: str(self.round)}},
            "topologyKey": HOST,
        }
        sentinel = {
            "metadata": {"name": name, "namespace": SYNC_NAMESPACE},
            "spec": {
                "schedulerName": SCHEDULER,
                "terminationGracePeriodSeconds": 0,
                "containers": [CONTAINER],
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [{"matchFields": [name_in]}]
                        }
                    },
                    "podAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [near_marker]
                    },
                },
            },
        }
        self.api.request("POST", _pods_path(SYNC_NAMESPACE), sentinel)
        # Bound in the end: refused only while kube-scheduler has not seen the node yet
        # ("no nodes available to schedule pods"), then retried as nodes arrive.
        bound = poll(
            lambda: _bound(self.api, SYNC_NAMESPACE, name),
            DECISION_TIMEOUT,
            lambda: f"{name} pod not bound; kube-scheduler's log ends:\n{_log_tail(self.api)}",
            interval=0.01,
        )
        self.ours.upsert_pod(pod_from_dict(bound))


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


def _bound(api: RealApi, namespace: str, name: str) -> dict[str, Any] | None:
    pod = api.get_object("pods", name, namespace)
    return pod if pod is not None and pod["spec"].get("nodeName") else None


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


def _label_keyed(api: RealApi, full_name: str) -> bool:
    namespace, name = full_name.split("/")
    pod = api.get_object("pods", name, namespace)
    return pod is not None and "LabelKeys" in json.dumps(pod["spec"].get("affinity"))


def _churn(api: RealApi, ours: Scheduler, rng: random.Random, placed: list[tuple[str, str]]) -> str:
    """Relabels a bound pod (namespace/name, our key), or deletes it: one with a finalizer
    then stays, terminating. Says what it did."""
    index = rng.randrange(len(placed))
    relabel = rng.random() < 0.4
    if relabel and rng.random() < 0.7:
        # Preferably a pod whose terms merged matchLabelKeys / mismatchLabelKeys at creation.
        keyed = [i for i, (full_name, _) in enumerate(placed) if _label_keyed(api, full_name)]
        index = rng.choice(keyed) if keyed else index
    full_name, key = placed[index]
    namespace, name = full_name.split("/")
    path = f"{_pods_path(namespace)}/{name}"
    if relabel:
        labels = {"app": rng.choice(APPS), "rev": rng.choice((*REVISIONS, None))}
        if rng.random() < 0.5:
            labels["tier"] = rng.choice((*TIERS, None))
        patch = {"metadata": {"labels": labels}}
        relabelled = api.request("PATCH", path, patch, content_type="application/merge-patch+json")
        ours.upsert_pod(pod_from_dict(relabelled))
        return f"  {full_name} relabelled {relabelled['metadata'].get('labels')}"
    del placed[index]
    api.delete_object("pods", name, namespace)
    left = api.get_object("pods", name, namespace)
    if left is None:
        ours.remove_pod(key)
        return f"  {full_name} deleted"
    assert left["metadata"].get("deletionTimestamp"), left
    ours.upsert_pod(pod_from_dict(left))
    return f"  {full_name} terminating (finalizer)"


def play(api: RealApi, case: Case) -> tuple[int, int]:
    """Plays the case on both schedulers, asserting at each pod; returns (bound, refused)."""
    ours = our_scheduler()
    api.wipe()
    nodes = [api.request("POST", "/api/v1/nodes", node) for node in case.nodes]
    for node in nodes:
        ours.upsert_node(node_from_dict(node))
    placed: list[tuple[str, str]] = []  # pods on nodes, not terminating: (ns/name, our key)
    for body in case.bound:
        pod = pod_from_dict(api.request("POST", _pods_path(body["metadata"]["namespace"]), body))
        ours.upsert_pod(pod)
        placed.append((pod.full_name, pod.key))
    sync = Sync(api, ours, nodes[-1]["metadata"]["name"])

    profile = ours.profiles[SCHEDULER]
    rerun = f"rerun: KUBENEXUS_DIFF_SEED={case.seed} pytest {__file__}"
    history: list[str] = []
    counts = [0, 0]
    rng = random.Random(case.seed)
    for body, churn in zip(case.pods, case.churn, strict=True):
        if churn and placed:
            history.append(_churn(api, ours, rng, placed))
            sync.again()
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        created = api.request("POST", _pods_path(namespace), body)
        kind, decided = poll(
            lambda: _verdict(api, namespace, name),  # noqa: B023 - called within this iteration
            DECISION_TIMEOUT,
            lambda: f"{name} not decided; kube-scheduler's log ends:\n{_log_tail(api)}",  # noqa: B023
            interval=0.01,
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
            bound = pod_from_dict(decided)
            ours.upsert_pod(bound)
            placed.append((bound.full_name, bound.key))
            counts[0] += 1
        else:
            message = _message(decided)
            history.append(f"  {name} refused: {message}")
            # Removed (a finalizer taken off first), so kube-scheduler never retries it.
            if decided["metadata"].get("finalizers"):
                api.request(
                    "PATCH",
                    f"{_pods_path(namespace)}/{name}",
                    {"metadata": {"finalizers": None}},
                    content_type="application/merge-patch+json",
                )
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


@pytest.mark.parametrize("seed", seeds(FIXED_SEEDS), ids=lambda s: f"seed-{s}")
def test_each_pod_decided_as_kube_scheduler_decides(seed: int, kube_scheduler: RealApi) -> None:
    play(kube_scheduler, generate(seed))
