"""``kubenexus bench --workload affinity``: everyday Deployments on a busy cluster.

Nodes in three zones already run 20,000 pods of many Deployments; the pods to place come from
Deployments of which 30 % want one replica per node (required pod anti-affinity on the
hostname) and 30 % want their replicas spread over the zones (a DoNotSchedule topology spread
constraint, maxSkew 1); the rest ask nothing of their neighbours, so kube's default spreading
(by their ReplicaSet's selector, which the scheduler is told) scores them. Whether every
placement kept its rules is checked afterwards from the decisions, against the cluster as
built here.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from kubenexus.api import keys
from kubenexus.api.objects import NodeInfo, PodInfo, pod_from_dict

HOSTNAME: Final = "kubernetes.io/hostname"
ZONE: Final = "topology.kubernetes.io/zone"
EXISTING_PODS: Final = 20_000
REPLICAS: Final = (5, 40)  # replicas per Deployment, low..high
ANTI_AFFINITY: Final = "anti-affinity"
SPREAD: Final = "zone-spread"
PLAIN: Final = "plain"


@dataclass(frozen=True, slots=True)
class Deployment:
    name: str
    kind: str  # ANTI_AFFINITY, SPREAD or PLAIN
    replicas: int


def _deployments(count_pods: int, rng: random.Random, prefix: str) -> list[Deployment]:
    found: list[Deployment] = []
    total = 0
    while total < count_pods:
        replicas = min(rng.randint(*REPLICAS), count_pods - total)
        roll = rng.random()
        kind = ANTI_AFFINITY if roll < 0.3 else SPREAD if roll < 0.6 else PLAIN
        found.append(Deployment(f"{prefix}-{len(found):05d}", kind, replicas))
        total += replicas
    return found


def _pod_body(deployment: Deployment, index: int, rng: random.Random) -> dict[str, Any]:
    labels = {"app": deployment.name}
    spec: dict[str, Any] = {
        "schedulerName": keys.SCHEDULER_NAME,
        "containers": [
            {
                "name": "main",
                "image": "registry.example/app:v1",
                "resources": {
                    "requests": {
                        "cpu": f"{rng.choice((100, 250, 500))}m",
                        "memory": f"{rng.choice((128, 256, 512))}Mi",
                    }
                },
            }
        ],
    }
    selector = {"matchLabels": labels}
    if deployment.kind == ANTI_AFFINITY:
        spec["affinity"] = {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": selector, "topologyKey": HOSTNAME}
                ]
            }
        }
    elif deployment.kind == SPREAD:
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": ZONE,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": selector,
            }
        ]
    name = f"{deployment.name}-{index:03d}"
    return {
        "metadata": {
            "name": name,
            "namespace": "bench",
            "uid": f"uid-{name}",
            "labels": labels,
            # Owned by its Deployment's ReplicaSet: kube's default spreading applies to the
            # replicas without constraints of their own.
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": deployment.name,
                    "uid": f"rs-{deployment.name}",
                    "controller": True,
                }
            ],
        },
        "spec": spec,
    }


def replica_set_selectors(pods: Iterable[PodInfo]) -> dict[str, dict[str, str]]:
    """The selector of each pod's ReplicaSet (named after its Deployment): ``app=<name>``."""
    return {pod.labels["app"]: {"app": pod.labels["app"]} for pod in pods}


def existing_pods(nodes: list[NodeInfo], rng: random.Random) -> list[PodInfo]:
    """The running pods (20,000, or 4 per node on a small cluster), keeping their own rules:
    each Deployment's replicas on distinct nodes, spread round-robin over the zones."""
    by_zone: dict[str, list[NodeInfo]] = {}
    for node in nodes:
        by_zone.setdefault(node.labels[ZONE], []).append(node)
    zones = sorted(by_zone)
    widest = len(zones) * min(len(members) for members in by_zone.values())
    pods: list[PodInfo] = []
    for deployment in _deployments(min(EXISTING_PODS, 4 * len(nodes)), rng, "running"):
        replicas = min(deployment.replicas, widest)
        per_zone = [len(range(z, replicas, len(zones))) for z in range(len(zones))]
        chosen = [
            node
            for zone, count in zip(zones, per_zone, strict=True)
            for node in rng.sample(by_zone[zone], count)
        ]
        for i, node in enumerate(chosen):
            body = _pod_body(deployment, i, rng)
            body["spec"]["nodeName"] = node.name
            body["status"] = {"phase": "Running"}
            pods.append(pod_from_dict(body))
    return pods


def incoming_pods(count: int, rng: random.Random) -> list[PodInfo]:
    """The pods to place, Deployment after Deployment (as a rollout creates them)."""
    pods: list[PodInfo] = []
    for deployment in _deployments(count, rng, "web"):
        pods.extend(
            pod_from_dict(_pod_body(deployment, i, rng)) for i in range(deployment.replicas)
        )
    return pods


@dataclass(frozen=True, slots=True)
class AffinityFigures:
    anti_affinity_pods: int
    spread_pods: int
    placed: int
    violations: int
    running: int


def check(
    nodes: list[NodeInfo], placed: Iterable[tuple[PodInfo, str]], existing: list[PodInfo]
) -> AffinityFigures:
    """Count broken rules: two replicas of an anti-affinity Deployment on one node, or a
    spread Deployment whose zones differ by more than one replica."""
    zone_of = {node.name: node.labels[ZONE] for node in nodes}
    zones = sorted(set(zone_of.values()))
    per_node: Counter[tuple[str, str]] = Counter()
    per_zone: Counter[tuple[str, str]] = Counter()
    kinds: dict[str, str] = {}
    counted = 0
    anti = spread = 0
    for pod, node in [*((p, p.node_name) for p in existing), *placed]:
        app = pod.labels["app"]
        kind = ANTI_AFFINITY if pod.pod_affinity else SPREAD if pod.spread else PLAIN
        kinds[app] = kind
        if not pod.node_name:
            anti += kind == ANTI_AFFINITY
            spread += kind == SPREAD
        if not node:
            continue
        counted += not pod.node_name
        per_node[(app, node)] += 1
        per_zone[(app, zone_of[node])] += 1
    violations = sum(
        n - 1 for (app, _), n in per_node.items() if kinds[app] == ANTI_AFFINITY and n > 1
    )
    for app, kind in kinds.items():
        if kind == SPREAD:
            counts = [per_zone[(app, zone)] for zone in zones]
            violations += max(counts) - min(counts) > 1
    return AffinityFigures(anti, spread, counted, violations, len(existing))
