"""Where a plain pod goes when only resources tell the nodes apart, against the real
kube-scheduler v1.36 (default configuration).

Per seed: four nodes of different sizes already running pods of random requests, and one
pod (a third of them best-effort). kube-scheduler binds it; our core, given the same objects,
must rank that node among its best (kube breaks ties at random). Found by these cases: our
scores were fractions where kube's are integers (near-ties fell the other way), and
NodeResourcesBalancedAllocation scored best-effort pods, and counted default requests, where
kube v1.36 skips such pods and reads the requests as they are.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from kubenexus.api.objects import node_from_dict, pod_from_dict
from kubenexus.config import build_scheduler, parse_config
from kubenexus.framework import Placement
from tests.real.differential import IMAGE, NAMESPACE, SCHEDULER, Case
from tests.real.test_differential import RealRun, seeds
from tests.realk8s.client import RealApi

FIXED_SEEDS = tuple(range(12))
ZONE = "topology.kubernetes.io/zone"


def _container(rng: random.Random, cpu_limit: int, memory_limit: int) -> dict[str, Any]:
    requests = {
        "cpu": f"{rng.randint(1, cpu_limit)}m",
        "memory": f"{rng.randint(1, memory_limit)}Mi",
    }
    return {"name": "c", "image": IMAGE, "resources": {"requests": requests}}


def generate(seed: int) -> Case:
    rng = random.Random(seed)
    case = Case(seed)
    for i in range(4):
        cpu, memory = rng.choice((4, 8, 16)), rng.choice((8, 16, 32, 64))
        allocatable = {"cpu": str(cpu), "memory": f"{memory}Gi", "pods": "110"}
        case.nodes.append(
            {
                "metadata": {
                    "name": f"n{i}",
                    "labels": {"kubernetes.io/hostname": f"n{i}", ZONE: rng.choice("ab")},
                },
                "spec": {},
                "status": {"allocatable": allocatable, "capacity": allocatable},
            }
        )
        for j in range(rng.randint(0, 3)):
            case.bound.append(
                {
                    "metadata": {"name": f"b{i}-{j}", "namespace": NAMESPACE},
                    "spec": {
                        "nodeName": f"n{i}",
                        "terminationGracePeriodSeconds": 0,
                        "containers": [_container(rng, cpu * 250, memory * 256)],
                    },
                }
            )
    container = _container(rng, 2000, 4000)
    if rng.random() < 0.3:
        del container["resources"]  # best-effort
    case.pods.append(
        {
            "metadata": {"name": "p", "namespace": NAMESPACE},
            "spec": {
                "schedulerName": SCHEDULER,
                "terminationGracePeriodSeconds": 0,
                "containers": [container],
            },
        }
    )
    return case


def _our_best(run: RealRun) -> tuple[set[str], dict[str, float]]:
    """The nodes our default profile scores highest for the pod, and every node's total."""
    scheduler = build_scheduler(parse_config({"profiles": [{"schedulerName": SCHEDULER}]}))
    profile = scheduler.profiles[SCHEDULER]
    profile.record_scores = True
    for node in run.nodes:
        scheduler.upsert_node(node_from_dict(node))
    for pod in run.bound:
        scheduler.upsert_pod(pod_from_dict(pod))
    found = profile.find_node(pod_from_dict(run.pods[0]), scheduler.cache.nodes)
    assert isinstance(found, Placement)
    assert found.scores is not None
    names = [scheduler.cache.nodes.names[int(s)] for s in found.scores.candidates]
    totals = dict(zip(names, found.scores.total.tolist(), strict=True))
    best = float(np.max(found.scores.total))
    return {name for name, total in totals.items() if total == best}, totals


@pytest.mark.parametrize("seed", seeds(FIXED_SEEDS), ids=lambda s: f"seed-{s}")
def test_a_plain_pod_goes_where_kube_scheduler_puts_it(
    seed: int, default_kube_scheduler: RealApi
) -> None:
    case = generate(seed)
    run = RealRun(default_kube_scheduler, case)
    verdict = run.outcome["p"]
    assert verdict.startswith("node:"), verdict
    best, totals = _our_best(run)
    assert verdict.removeprefix("node:") in best, f"ours: {totals}\n{case.describe()}"
