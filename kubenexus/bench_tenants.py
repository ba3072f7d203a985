"""``kubenexus bench --workload tenants``: workload profiles at scale.

A synthetic cluster of tiered hardware (H100 with NVSwitch cliques, A100 on InfiniBand, L4 on
Ethernet, CPU nodes; three zones), namespaces of gold, silver and bronze tenants, and a mix
of pods: GPU training jobs and gangs (some requiring one clique), one-GPU inference replicas,
services, batch and backfill pods. Every profile plugin is on (the default profile plus
TopologyScoring and BackfillScoring). Besides the speed it reports how many GPU pods landed on
their tenant's hardware tier and how many clique-bound gangs stayed within one clique.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubenexus.api import NodeInfo, PodInfo, keys
from kubenexus.api.objects import node_from_dict, pod_from_dict

TIERS: Final = ("gold", "silver", "bronze")
NAMESPACES: Final = {f"{tier}-team": {keys.TENANT_TIER: tier} for tier in TIERS}
ZONES: Final = ("zone-a", "zone-b", "zone-c")
# (name prefix, GFD product, memory MiB, GPUs, fabric, hardware tier, share of nodes)
_SHAPES: Final = (
    ("h100", "NVIDIA-H100-80GB-HBM3", 81559, 8, "nvswitch", "premium", 0.15),
    ("a100", "NVIDIA-A100-SXM4-40GB", 40960, 8, "infiniband", "standard", 0.20),
    ("l4", "NVIDIA-L4", 23034, 4, "ethernet", "economy", 0.25),
    ("cpu", "", 0, 0, "ethernet", "", 0.40),
)
TIER_OF_HARDWARE: Final = {"premium": "gold", "standard": "silver", "economy": "bronze"}
CLIQUE_SIZE: Final = 8  # H100 nodes per NVSwitch clique
GANG_SIZE: Final = 4

CONFIG: Final[dict[str, Any]] = {
    "profiles": [
        {
            "plugins": {
                "score": {"enabled": [{"name": "TopologyScoring"}, {"name": "BackfillScoring"}]}
            }
        }
    ]
}


def nodes(count: int, rng: random.Random) -> list[NodeInfo]:
    shapes = [s[:-1] for s in _SHAPES]
    weights = [s[-1] for s in _SHAPES]
    result: list[NodeInfo] = []
    for i in range(count):
        prefix, product, memory, gpus, fabric, _tier = rng.choices(shapes, weights)[0]
        labels = {
            keys.ZONE_LABEL: ZONES[i % len(ZONES)],
            "kubernetes.io/hostname": f"{prefix}-{i}",
            keys.FABRIC_TYPE_LABEL: fabric,
            keys.RACK_LABEL: f"rack-{i // 40}",
        }
        allocatable: dict[str, Any] = {"cpu": "64", "memory": "512Gi", "pods": "110"}
        if gpus:
            allocatable[keys.GPU_NVIDIA] = str(gpus)
            labels.update(
                {
                    "nvidia.com/gpu.product": product,
                    "nvidia.com/gpu.memory": str(memory),
                    "nvidia.com/gpu.count": str(gpus),
                }
            )
        if prefix == "h100":
            labels[keys.GPU_CLIQUE_LABEL] = f"clique-{i // CLIQUE_SIZE}"
        body = {
            "kind": "Node",
            "metadata": {"name": f"{prefix}-{i}", "labels": labels},
            "status": {"allocatable": allocatable},
        }
        result.append(node_from_dict(body))
    return result


def _pod(  # noqa: PLR0917 - a pod's facts, one per argument
    name: str,
    namespace: str,
    labels: dict[str, str],
    requests: dict[str, str],
    owner: tuple[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> PodInfo:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{namespace}-{name}",
        "labels": labels,
        "annotations": annotations or {},
    }
    if owner is not None:
        metadata["ownerReferences"] = [
            {"kind": owner[0], "name": owner[1], "uid": f"uid-{owner[1]}", "controller": True}
        ]
    body = {
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "schedulerName": keys.SCHEDULER_NAME,
            "containers": [{"name": "main", "image": "busybox", "resources": {
                "requests": requests}}],
        },
    }  # fmt: skip
    return pod_from_dict(body)


def pods(count: int, rng: random.Random) -> list[PodInfo]:
    """Pods of the three tenants: 15 % GPU training jobs (a third of them 4-pod gangs, half of
    those bound to one clique), 20 % one-GPU inference replicas, 35 % services, 20 % batch,
    10 % backfill."""
    result: list[PodInfo] = []
    i = 0
    while len(result) < count:
        namespace = f"{rng.choice(TIERS)}-team"
        kind = rng.choices(
            ("training", "inference", "service", "batch", "backfill"), (15, 20, 35, 20, 10)
        )[0]
        i += 1
        if kind == "training" and i % 3 == 0 and count - len(result) >= GANG_SIZE:
            gang = f"ddp-{i}"
            labels = {keys.GANG_NAME_LABELS[0]: gang, keys.GANG_MIN_AVAILABLE_KEYS[0]: "4"}
            annotations = {keys.REQUIRE_CLIQUE: "true"} if i % 2 else {}
            requests = {"cpu": "8", "memory": "64Gi", keys.GPU_NVIDIA: "2"}
            result += [
                _pod(f"{gang}-{m}", namespace, labels, requests, None, annotations)
                for m in range(GANG_SIZE)
            ]
        elif kind == "training":
            requests = {"cpu": "8", "memory": "64Gi", keys.GPU_NVIDIA: str(rng.choice((1, 2, 4)))}
            result.append(_pod(f"train-{i}", namespace, {}, requests, ("Job", f"train-{i}")))
        elif kind == "inference":
            labels = {"serving.kserve.io/inferenceservice": f"llm-{i % 50}"}
            requests = {"cpu": "2", "memory": "16Gi", keys.GPU_NVIDIA: "1"}
            owner = ("ReplicaSet", f"llm-{i % 50}")
            result.append(_pod(f"inf-{i}", namespace, labels, requests, owner))
        elif kind == "service":
            requests = {"cpu": "500m", "memory": "1Gi"}
            owner = ("ReplicaSet", f"web-{i % 200}")
            result.append(_pod(f"web-{i}", namespace, {"app": f"web-{i % 200}"}, requests, owner))
        elif kind == "batch":
            requests = {"cpu": "2", "memory": "4Gi"}
            result.append(_pod(f"etl-{i}", namespace, {}, requests, ("Job", f"etl-{i}")))
        else:
            labels = {keys.BACKFILL_LABEL: "true"}
            requests = {"cpu": "1", "memory": "2Gi"}
            result.append(_pod(f"fill-{i}", namespace, labels, requests, ("Job", f"fill-{i}")))
    return result[:count]


@dataclass(frozen=True, slots=True)
class TenantFigures:
    gpu_pods: int
    on_own_tier: int
    clique_gangs: int
    whole_cliques: int


def check(node_list: Sequence[NodeInfo], placed: Sequence[tuple[PodInfo, str]]) -> TenantFigures:
    """How many placed GPU pods run on their tenant's tier, and clique-bound gangs in one clique."""
    by_name = {n.name: n for n in node_list}
    tier_of = {
        shape[0]: TIER_OF_HARDWARE.get(shape[5], "") for shape in _SHAPES
    }  # prefix → tenant tier
    gpu_pods = on_tier = 0
    cliques: dict[str, set[str]] = {}
    for pod, node in placed:
        if not node or not pod.requests.get(keys.GPU_NVIDIA):
            continue
        gpu_pods += 1
        tier = pod.namespace.removesuffix("-team")
        if tier_of[node.split("-", 1)[0]] == tier:
            on_tier += 1
        if pod.annotations.get(keys.REQUIRE_CLIQUE) == "true":
            clique = by_name[node].labels.get(keys.GPU_CLIQUE_LABEL, "")
            cliques.setdefault(pod.gang, set()).add(clique)
    whole = sum(1 for found in cliques.values() if len(found) == 1 and "" not in found)
    return TenantFigures(gpu_pods, on_tier, len(cliques), whole)
