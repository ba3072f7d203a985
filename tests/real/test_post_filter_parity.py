"""The FailedScheduling message with kube-scheduler v1.36's post-filter clause, against the
real kube-scheduler in its default configuration (DefaultPreemption and DynamicResources on).

Each case is a small cluster and one pod that fits nowhere; both schedulers must refuse it
with the same text, clause included: `Preemption is not helpful for scheduling` where no
eviction can help, `No preemption victims found for incoming pod` where no pod of lower
priority runs, the filter's reason where evicting all of those is not enough, and `not
eligible due to preemptionPolicy=Never`.

Every case also holds the differential tests' marker and sentinel pods (cache
synchronisation) on a last node tainted against the pods under test.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubenexus.api.objects import node_from_dict, pod_from_dict
from kubenexus.config import build_scheduler, parse_config
from kubenexus.scheduler import Scheduled
from tests.real.differential import IMAGE, NAMESPACE, SCHEDULER, Case
from tests.real.test_differential import RealRun
from tests.realk8s.client import RealApi, RealApiError

PRIORITY_CLASSES = (
    {"metadata": {"name": "pf-high"}, "value": 1000},
    {"metadata": {"name": "pf-mid"}, "value": 500},
    {"metadata": {"name": "pf-never"}, "value": 1000, "preemptionPolicy": "Never"},
)
HOST = "kubernetes.io/hostname"


def _node(name: str, cpu: str = "4", pods: str = "110", **labels: str) -> dict[str, Any]:
    allocatable = {"cpu": cpu, "memory": "8Gi", "pods": pods}
    return {
        "metadata": {"name": name, "labels": {HOST: name, **labels}},
        "spec": {},
        "status": {"allocatable": allocatable, "capacity": allocatable},
    }


def _tainted(node: dict[str, Any]) -> dict[str, Any]:
    node["spec"]["taints"] = [{"key": "sync", "value": "only", "effect": "NoSchedule"}]
    return node


def _pod(
    name: str, cpu: str = "", node: str = "", labels: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": IMAGE}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels or {}},
        "spec": {
            "schedulerName": SCHEDULER,
            "terminationGracePeriodSeconds": 0,
            "containers": [container],
            **spec,
        },
    }
    if node:
        body["spec"]["nodeName"] = node
    return body


def _port(port: int) -> list[dict[str, Any]]:
    return [{"name": "c", "image": IMAGE, "ports": [{"containerPort": port, "hostPort": port}]}]


def _pod_rule(kind: str, labels: dict[str, str], key: str = HOST) -> dict[str, Any]:
    term = {"labelSelector": {"matchLabels": labels}, "topologyKey": key}
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


SYNC = _tainted(_node("zz-sync"))
CASES: dict[str, Case] = {
    # A request above every node's allocatable: not helpful anywhere.
    "beyond-allocatable": Case(0, [_node("n1", cpu="1"), SYNC], [_pod("p", cpu="2")]),
    # Full nodes, nobody of lower priority (one node has room for no pod at all: a pod count
    # is never "not helpful").
    "too-many-pods": Case(
        0,
        [_node("n1", pods="1"), _node("n2", pods="0"), SYNC],
        [_pod("p")],
        bound=[_pod("b1", node="n1")],
    ),
    "preemption-policy-never": Case(
        0,
        [_node("n1", cpu="2"), SYNC],
        [_pod("p", cpu="2", priorityClassName="pf-never")],
        bound=[_pod("low", cpu="2", node="n1")],
    ),
    # Evicting the lower-priority pods leaves n1 short (a pod of equal priority stays),
    # and n2 holds nobody of lower priority.
    "victims-not-enough": Case(
        0,
        [_node("n1"), _node("n2"), SYNC],
        [_pod("p", cpu="2", priorityClassName="pf-mid")],
        bound=[
            _pod("low", cpu="1", node="n1"),
            _pod("mid", cpu="3", node="n1", priorityClassName="pf-mid"),
            _pod("high", cpu="3", node="n2", priorityClassName="pf-high"),
        ],
    ),
    # The port is held by a pod that stays: the dry run still fails on ports.
    "port-held-by-equal-priority": Case(
        0,
        [_node("n1"), SYNC],
        [_pod("p", priorityClassName="pf-mid", containers=_port(80))],
        bound=[
            _pod("low", cpu="1", node="n1"),
            _pod("mid", node="n1", priorityClassName="pf-mid", containers=_port(80)),
        ],
    ),
    # Unmatched required pod affinity is beyond eviction; anti-affinity is not.
    "pod-affinity-and-anti-affinity": Case(
        0,
        [_node("n1", zone="a"), _node("n2", zone="b"), SYNC],
        [
            _pod("affine", affinity=_pod_rule("podAffinity", {"app": "db"})),
            _pod(
                "anti",
                nodeSelector={"zone": "a"},
                affinity=_pod_rule("podAntiAffinity", {"app": "web"}, "zone"),
            ),
        ],
        bound=[_pod("web", node="n1", labels={"app": "web"})],
    ),
    # A node without the spread key is beyond eviction; a skewed one is not.
    "spread-missing-label-and-skew": Case(
        0,
        [_node("n1", zone="a"), _node("n2"), SYNC],
        [
            _pod(
                "p",
                labels={"app": "w"},
                topologySpreadConstraints=[
                    {
                        "maxSkew": 1,
                        "topologyKey": "zone",
                        "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": {"matchLabels": {"app": "w"}},
                        "minDomains": 2,
                    }
                ],
            )
        ],
        bound=[_pod(f"w{i}", node="n1", labels={"app": "w"}) for i in range(2)],
    ),
}


@pytest.fixture(scope="module")
def with_priority_classes(default_kube_scheduler: RealApi) -> RealApi:
    """The real kube-scheduler (default configuration) and the PriorityClasses the cases use."""
    for body in PRIORITY_CLASSES:
        try:
            default_kube_scheduler.request(
                "POST", "/apis/scheduling.k8s.io/v1/priorityclasses", body
            )
        except RealApiError as exc:
            if exc.status != 409:
                raise
    return default_kube_scheduler


def _ours(run: RealRun) -> dict[str, str]:
    """KubeNexus' default profile (preemption on) on the objects as the API server holds them."""
    scheduler = build_scheduler(parse_config({"profiles": [{"schedulerName": SCHEDULER}]}))
    for node in run.nodes:
        scheduler.upsert_node(node_from_dict(node))
    for pod in run.bound:
        scheduler.upsert_pod(pod_from_dict(pod))
    for pod in run.pods:
        scheduler.upsert_pod(pod_from_dict(pod))
    return {
        outcome.pod.name: f"node:{outcome.node}"
        if isinstance(outcome, Scheduled)
        else outcome.message
        for outcome in scheduler.run_until_idle()
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_post_filter_clause_matches_kube_scheduler(
    name: str, with_priority_classes: RealApi
) -> None:
    run = RealRun(with_priority_classes, CASES[name])
    ours = _ours(run)
    assert all("preemption: " in verdict for verdict in run.outcome.values()), run.outcome
    assert ours == run.outcome, CASES[name].describe()
