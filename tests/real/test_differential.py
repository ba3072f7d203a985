"""Differential tests: random clusters and workloads through the real kube-scheduler v1.36 and
through KubeNexus' core; the set of pods placed and, for each pod left out, kube-scheduler's
FailedScheduling message must be the same.

The cases are built so that the outcome does not depend on tie-breaking or order (see
``tests/real/differential.py``); kube-scheduler runs without post-filter plugins (no
preemption, no DRA deallocation), so its message ends after the node histogram, like ours.

A few fixed seeds run by default. More: ``KUBENEXUS_DIFF_SEEDS=200`` (seeds 0 to 199) or
``KUBENEXUS_DIFF_SEED=17,42`` (exactly these).
"""

from __future__ import annotations

import copy
import os
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from tests.real.differential import (
    HOST,
    NAMESPACE,
    NOT_TRIED,
    OVERHEAD,
    PRIORITY_CLASSES,
    RUNTIME_CLASS,
    SCHEDULER,
    Case,
    core_outcome,
    generate,
    messages,
    placed,
)
from tests.realk8s.client import RealApi, RealApiError
from tests.realk8s.controlplane import NO_KUBE_SCHEDULER, ControlPlane

FIXED_SEEDS = (1, 2, 3, 4, 5)
# Scheduling a case takes a fraction of a second; this bounds a stuck one.
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
    # No post-filter plugins (DefaultPreemption, DynamicResources): the FailedScheduling
    # message then ends right after the histogram ("0/3 nodes are available: 1 Insufficient
    # cpu, 2 node(s) had untolerated taint(s).").
    postFilter:
      disabled:
      - name: "*"
"""


def seeds(fixed: tuple[int, ...] = FIXED_SEEDS) -> list[int]:
    """The seeds to run: ``fixed`` unless the environment names others (module docstring)."""
    chosen = os.environ.get("KUBENEXUS_DIFF_SEED", "").strip()
    if chosen:
        return [int(s) for s in chosen.split(",") if s.strip()]
    count = os.environ.get("KUBENEXUS_DIFF_SEEDS", "").strip()
    if count:
        return list(range(int(count)))
    return list(fixed)


T = TypeVar("T")


def poll(
    check: Callable[[], T | None],
    timeout: float,
    what: Callable[[], str],
    interval: float = 0.05,
) -> T:
    """``check()``'s first non-None value, polled; fail saying ``what()`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what()}")
        time.sleep(interval)


# --------------------------------------------------------------------------- fixtures


def _create(api: RealApi, path: str, body: dict[str, Any]) -> None:
    try:
        api.request("POST", path, body)
    except RealApiError as exc:
        if exc.status != 409:
            raise


@pytest.fixture(scope="module")
def kube_scheduler(control_plane: ControlPlane, real_api: RealApi) -> Iterator[RealApi]:
    """The real kube-scheduler (our configuration) for this module, and the cluster-wide
    objects the generated pods refer to. Stopped afterwards: it would take other modules'
    pods."""
    if not control_plane.has("kube-scheduler"):
        pytest.skip(NO_KUBE_SCHEDULER)
    for name, value in PRIORITY_CLASSES.items():
        _create(
            real_api,
            "/apis/scheduling.k8s.io/v1/priorityclasses",
            {"metadata": {"name": name}, "value": value},
        )
    _create(
        real_api,
        "/apis/node.k8s.io/v1/runtimeclasses",
        {
            "metadata": {"name": RUNTIME_CLASS},
            "handler": "runc",
            "overhead": {
                "podFixed": {"cpu": f"{OVERHEAD['cpu']}m", "memory": str(OVERHEAD["memory"])}
            },
        },
    )
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


def _marker(node: str) -> dict[str, Any]:
    """A pod already on ``node``, created after every other object of the cluster."""
    return {
        "metadata": {"name": "marker", "namespace": NAMESPACE, "labels": MARKER_LABEL},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
        },
    }


def _sentinel(node: str) -> dict[str, Any]:
    """A pod only ``node`` (the last node created) can take, and only next to the marker pod
    (the last pod created). Once it is bound, kube-scheduler's cache holds every node and
    every pod already placed, as they are now: its informers deliver the events of one kind in
    order, and nodes and placed pods are what the cache is made of (separate event handlers
    of one informer are not ordered with each other, hence a proof for each)."""
    name_in = {"key": "metadata.name", "operator": "In", "values": [node]}
    near_marker = {"labelSelector": {"matchLabels": MARKER_LABEL}, "topologyKey": HOST}
    return {
        "metadata": {"name": "sentinel", "namespace": NAMESPACE},
        "spec": {
            "schedulerName": SCHEDULER,
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
            "tolerations": [{"operator": "Exists"}],
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


def _verdict(pod: dict[str, Any]) -> str | None:
    """``node:<name>``, the Unschedulable message, NOT_TRIED for a gated pod, or None while
    kube-scheduler has not decided."""
    if pod["spec"].get("nodeName"):
        return f"node:{pod['spec']['nodeName']}"
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") != "PodScheduled" or condition.get("status") != "False":
            continue
        if condition.get("reason") == "Unschedulable":
            return str(condition.get("message", ""))
        if condition.get("reason") == "SchedulingGated" and pod["spec"].get("schedulingGates"):
            return NOT_TRIED  # set by the API server; kube-scheduler leaves gated pods alone
    return None


class RealRun:
    """The case applied to the real API server and decided by kube-scheduler."""

    def __init__(self, api: RealApi, case: Case) -> None:
        self.api = api
        self.nodes: list[dict[str, Any]] = []  # as stored (defaulted) by the API server
        self.pods: list[dict[str, Any]] = []  # as admitted, before scheduling
        # Pods already on nodes, then the marker and the sentinel.
        self.bound: list[dict[str, Any]] = []
        api.wipe()
        api.ensure_namespace(NAMESPACE)
        for node in case.nodes:
            # Created with its status in one request (as a kubelet registers): the scheduler
            # never sees the node without its allocatable.
            self.nodes.append(api.request("POST", "/api/v1/nodes", node))
        for pod in case.bound:
            # Created, then (if finished) its status written: put_object does both.
            self.bound.append(api.put_object("pods", copy.deepcopy(pod)))
        pods_path = f"/api/v1/namespaces/{NAMESPACE}/pods"
        last = self.nodes[-1]["metadata"]["name"]
        self.bound.append(api.request("POST", pods_path, _marker(last)))
        api.request("POST", pods_path, _sentinel(last))
        sentinel = poll(
            lambda: self._bound("sentinel"),
            DECISION_TIMEOUT,
            lambda: f"sentinel pod not bound: {self._pod('sentinel')}",
        )
        self.bound.append(sentinel)
        for pod in case.pods:
            self.pods.append(api.request("POST", pods_path, pod))
        names = [p["metadata"]["name"] for p in self.pods]
        self.outcome: dict[str, str] = poll(
            lambda: self._decided(names), DECISION_TIMEOUT, lambda: self._undecided(names)
        )

    def _pod(self, name: str) -> dict[str, Any] | None:
        return self.api.get_object("pods", name, NAMESPACE)

    def _bound(self, name: str) -> dict[str, Any] | None:
        pod = self._pod(name)
        return pod if pod is not None and pod["spec"].get("nodeName") else None

    def _listed(self) -> dict[str, dict[str, Any]]:
        items = self.api.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods")["items"]
        return {p["metadata"]["name"]: p for p in items}

    def _decided(self, names: list[str]) -> dict[str, str] | None:
        listed = self._listed()
        verdicts = {name: _verdict(listed[name]) for name in names if name in listed}
        if len(verdicts) < len(names) or None in verdicts.values():
            return None
        return {name: verdict for name, verdict in verdicts.items() if verdict is not None}

    def _undecided(self, names: list[str]) -> str:
        listed = self._listed()
        waiting = [n for n in names if n not in listed or _verdict(listed[n]) is None]
        log = self.api.plane.log("kube-scheduler")
        tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
        return f"kube-scheduler decided nothing for {waiting}; its log ends:\n" + "\n".join(tail)


# --------------------------------------------------------------------------- the test


def _report(case: Case, real: dict[str, str], ours: dict[str, str]) -> str:
    lines = [
        f"kube-scheduler and KubeNexus disagree on seed {case.seed} "
        f"(rerun: KUBENEXUS_DIFF_SEED={case.seed} pytest tests/real/test_differential.py)",
        f"  placed by kube-scheduler only: {sorted(placed(real) - placed(ours))}",
        f"  placed by KubeNexus only:      {sorted(placed(ours) - placed(real))}",
    ]
    for pod in sorted(set(messages(real)) & set(messages(ours))):
        if real[pod] != ours[pod]:
            lines += [
                f"  {pod}:",
                f"    kube-scheduler: {real[pod]}",
                f"    KubeNexus:      {ours[pod]}",
            ]
    lines.append(case.describe())
    return "\n".join(lines)


@pytest.mark.parametrize("seed", seeds(), ids=lambda s: f"seed-{s}")
def test_same_pods_placed_and_same_messages_as_kube_scheduler(
    seed: int, kube_scheduler: RealApi
) -> None:
    case = generate(seed)
    run = RealRun(kube_scheduler, case)
    ours = core_outcome(run.nodes, run.pods, bound=run.bound)

    # The case must not depend on order or ties (else a mismatch would prove nothing): our
    # core, given nodes and pods in another order, places the same pods and says the same.
    rng = random.Random(seed)
    nodes, pods = list(run.nodes), list(run.pods)
    rng.shuffle(nodes)
    rng.shuffle(pods)
    shuffled = core_outcome(nodes, pods, bound=run.bound)
    assert (placed(shuffled), messages(shuffled)) == (placed(ours), messages(ours)), (
        f"generator bug: seed {seed} depends on order\n{case.describe()}"
    )

    real = run.outcome
    assert (placed(real), messages(real)) == (placed(ours), messages(ours)), _report(
        case, real, ours
    )
