"""Random clusters and sequences of pods with rules about other pods (inter-pod affinity and
anti-affinity, topology spread constraints), for the sequential differential test against
the real kube-scheduler; and KubeNexus' view of one pod: which nodes pass every filter, and
what each feasible node scores.

The rules make the outcome depend on order, so a case is played one pod at a time: each pod is
decided (bound, or refused with a message and removed) before the next is created, and both
schedulers hold the same bound pods at every decision. Resources never matter: the nodes are
large and the pods ask 10m cpu.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from kubenexus.api.objects import PodInfo
from kubenexus.config import build_scheduler, parse_config
from kubenexus.framework import CycleState, NodeTable, Profile
from kubenexus.framework.node_table import BoolArray, FloatArray
from kubenexus.framework.runtime import FEASIBLE, _pre_filter_nodes
from kubenexus.framework.status import Code
from kubenexus.scheduler import Scheduler

SCHEDULER: Final = "default-scheduler"
IMAGE: Final = "registry.k8s.io/pause:3.10"

HOST, ZONE, RACK, POOL = (
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "example.com/rack",
    "example.com/pool",
)
TOPOLOGY_KEYS: Final = (HOST, ZONE, ZONE, RACK)
# The namespaces the pods live in, labelled differently (namespaceSelector), and the one the
# marker and sentinel pods (cache synchronisation) live in.
NAMESPACES: Final[dict[str, dict[str, str]]] = {
    "diff-x": {"team": "x", "env": "prod"},
    "diff-y": {"team": "y"},
}
SYNC_NAMESPACE: Final = "diff-sync"
APPS: Final = ("a", "b", "c")
TIERS: Final = ("front", "back")
REVISIONS: Final = ("1", "2")
TAINT: Final = {"key": "dedicated", "value": "infra", "effect": "NoSchedule"}
FINALIZER: Final = "example.com/hold"

# Kube-scheduler's default profile with only the two plugins under test scoring (at their
# default weights): resource scores would make "kube's node is among our best" meaningless.
# No post-filter plugins, so the message ends after the histogram.
KUBE_PLUGINS: Final = """    score:
      disabled:
      - name: "*"
      enabled:
      - name: PodTopologySpread
        weight: 2
      - name: InterPodAffinity
        weight: 2
    postFilter:
      disabled:
      - name: "*"
"""
# Ours: the same, and without our own plugins (gangs, GPUs, NUMA, reservations).
OURS_OFF: Final = ("Coscheduling", "VRAMScheduler", "NUMATopology", "ResourceReservation")


def our_scheduler() -> Scheduler:
    off = [{"name": name} for name in OURS_OFF]
    plugins = {
        "preFilter": {"disabled": off},
        "filter": {"disabled": off},
        "reserve": {"disabled": off},
        "permit": {"disabled": off},
        "score": {
            "disabled": [{"name": "*"}],
            "enabled": [
                {"name": "PodTopologySpread", "weight": 2},
                {"name": "InterPodAffinity", "weight": 2},
            ],
        },
        "postFilter": {"disabled": [{"name": "*"}]},  # as kube's here: no preemption
    }
    config = parse_config({"profiles": [{"schedulerName": SCHEDULER, "plugins": plugins}]})
    scheduler = build_scheduler(config)
    for name, labels in NAMESPACES.items():
        scheduler.set_namespace(name, labels)
    scheduler.set_namespace(SYNC_NAMESPACE, {})
    return scheduler


# --------------------------------------------------------------------------- a case


@dataclass
class Case:
    seed: int
    nodes: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    # Pods created already on their nodes (no scheduler checks their rules), before the rest.
    bound: list[dict[str, Any]] = field(default_factory=list)
    # Per pod to place, whether a bound pod is deleted (or left terminating) before it.
    churn: list[bool] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"seed {self.seed}: {len(self.nodes)} nodes, {len(self.pods)} pods"]
        for node in self.nodes:
            taints = node["spec"].get("taints")
            lines.append(
                f"  node {node['metadata']['name']} labels={_compact(node['metadata']['labels'])}"
                + (f" taints={_compact(taints)}" if taints else "")
            )
        for pod in [*self.bound, *self.pods]:
            meta, spec = pod["metadata"], pod["spec"]
            rules = {k: spec[k] for k in ("affinity", "topologySpreadConstraints") if k in spec}
            for k in ("nodeSelector", "tolerations"):
                if k in spec:
                    rules[k] = spec[k]
            where = f" on {spec['nodeName']}" if spec.get("nodeName") else ""
            lines.append(
                f"  pod {meta['namespace']}/{meta['name']}{where} "
                f"labels={_compact(meta['labels'])} {_compact(rules)}"
            )
        return "\n".join(lines)


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


def _node(rng: random.Random, name: str, zones: Sequence[str]) -> dict[str, Any]:
    labels = {HOST: name} if rng.random() < 0.95 else {}
    if rng.random() < 0.85:
        labels[ZONE] = rng.choice(zones)
    if rng.random() < 0.8:
        labels[RACK] = f"r{rng.randint(0, 3)}"
    if rng.random() < 0.85:
        labels[POOL] = rng.choice(("x", "y"))
    spec: dict[str, Any] = {}
    if rng.random() < 0.15:
        spec["taints"] = [dict(TAINT)]
    room = {"cpu": "64", "memory": "256Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {"capacity": room, "allocatable": room},
    }


def _selector(rng: random.Random) -> dict[str, Any]:
    """A label selector over the pods' labels: matchLabels, or In / NotIn / Exists
    expressions (rarely empty: every pod)."""
    roll = rng.random()
    if roll < 0.4:
        labels = {"app": rng.choice(APPS)}
        if rng.random() < 0.2:
            labels["tier"] = rng.choice(TIERS)
        return {"matchLabels": labels}
    if roll < 0.97:
        expressions: list[dict[str, Any]] = []
        for _ in range(rng.choice((1, 1, 2))):
            key = rng.choice(("app", "app", "tier"))
            operator = rng.choice(("In", "In", "NotIn", "Exists", "DoesNotExist"))
            if operator in {"Exists", "DoesNotExist"}:
                expressions.append({"key": key, "operator": operator})
            else:
                pool = APPS if key == "app" else TIERS
                values = rng.sample(pool, rng.randint(1, 2))
                expressions.append({"key": key, "operator": operator, "values": values})
        return {"matchExpressions": expressions}
    return {}


def _namespaces(rng: random.Random, term: dict[str, Any]) -> None:
    roll = rng.random()
    if roll < 0.12:
        term["namespaces"] = rng.sample(list(NAMESPACES), rng.randint(1, 2))
    elif roll < 0.2:
        term["namespaceSelector"] = {"matchLabels": {"team": rng.choice(("x", "y"))}}
    elif roll < 0.25:
        term["namespaceSelector"] = {"matchExpressions": [{"key": "env", "operator": "Exists"}]}
    elif roll < 0.3:
        term["namespaceSelector"] = {}  # every namespace
    if rng.random() < 0.1 and "namespaceSelector" in term and "namespaces" not in term:
        term["namespaces"] = [rng.choice(list(NAMESPACES))]


def _term(rng: random.Random) -> dict[str, Any]:
    term: dict[str, Any] = {"topologyKey": rng.choice(TOPOLOGY_KEYS)}
    if rng.random() < 0.97:
        term["labelSelector"] = _selector(rng)
        if rng.random() < 0.25:
            # Keys must not appear in the selector: "rev" never does.
            term[rng.choice(("matchLabelKeys", "matchLabelKeys", "mismatchLabelKeys"))] = ["rev"]
    _namespaces(rng, term)
    return term


def _pod_affinity(rng: random.Random, required: float, preferred: float) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if rng.random() < required:
        found["requiredDuringSchedulingIgnoredDuringExecution"] = [
            _term(rng) for _ in range(rng.choice((1, 1, 1, 2)))
        ]
    if rng.random() < preferred:
        found["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {"weight": rng.choice((1, 5, 20, 50, 100)), "podAffinityTerm": _term(rng)}
            for _ in range(rng.choice((1, 1, 2)))
        ]
    return found


def _spread(rng: random.Random) -> list[dict[str, Any]]:
    constraints: list[dict[str, Any]] = []
    pairs: set[tuple[str, str]] = set()
    for _ in range(rng.choice((1, 1, 2))):
        key = rng.choice(TOPOLOGY_KEYS)
        mode = rng.choice(("DoNotSchedule", "DoNotSchedule", "ScheduleAnyway"))
        if (key, mode) in pairs:
            continue  # the API refuses two constraints with one key and mode
        pairs.add((key, mode))
        constraint: dict[str, Any] = {
            "maxSkew": rng.choice((1, 1, 2)),
            "topologyKey": key,
            "whenUnsatisfiable": mode,
        }
        if rng.random() < 0.95:
            constraint["labelSelector"] = _selector(rng)
            if rng.random() < 0.15:
                constraint["matchLabelKeys"] = ["rev"]
        if mode == "DoNotSchedule" and rng.random() < 0.25:
            constraint["minDomains"] = rng.randint(1, 4)
        if rng.random() < 0.3:
            constraint["nodeAffinityPolicy"] = rng.choice(("Honor", "Ignore"))
        if rng.random() < 0.3:
            constraint["nodeTaintsPolicy"] = rng.choice(("Honor", "Ignore"))
        constraints.append(constraint)
    return constraints


def _pod(rng: random.Random, name: str, node: str = "") -> dict[str, Any]:
    """A pod to place, or (``node``) one created already on that node, whatever its rules."""
    namespace = "diff-x" if rng.random() < 0.7 else "diff-y"
    labels = {"app": rng.choice(APPS)}
    if rng.random() < 0.7:
        labels["tier"] = rng.choice(TIERS)
    if rng.random() < 0.8:
        labels["rev"] = rng.choice(REVISIONS)
    spec: dict[str, Any] = {
        "schedulerName": SCHEDULER,
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "c", "image": IMAGE, "resources": {"requests": {"cpu": "10m"}}}],
    }
    affinity: dict[str, Any] = {}
    if together := _pod_affinity(rng, required=0.2, preferred=0.25):
        affinity["podAffinity"] = together
    if apart := _pod_affinity(rng, required=0.3, preferred=0.25):
        affinity["podAntiAffinity"] = apart
    if affinity:
        spec["affinity"] = affinity
    if rng.random() < 0.4:
        spec["topologySpreadConstraints"] = _spread(rng)
    if rng.random() < 0.2:
        spec["nodeSelector"] = {POOL: rng.choice(("x", "y"))}
    if rng.random() < 0.3:
        spec["tolerations"] = [{"key": TAINT["key"], "operator": "Exists"}]
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if rng.random() < 0.4:
        # Deleted later, it stays (terminating): kube counts it for affinity, not for spread.
        metadata["finalizers"] = [FINALIZER]
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def generate(seed: int) -> Case:
    """6 to 9 nodes over 3 zones (some without a zone or rack), up to 3 pods already on
    them, then 25 pods of three apps (a bound one deleted now and then)."""
    rng = random.Random(seed)
    case = Case(seed)
    zones = ("z1", "z2", "z3")
    for i in range(rng.randint(6, 9)):
        case.nodes.append(_node(rng, f"n{i}", zones))
    # The last node takes the marker and sentinel pods: untainted, with a hostname.
    last = case.nodes[-1]
    last["spec"].pop("taints", None)
    last["metadata"]["labels"][HOST] = last["metadata"]["name"]
    names = [node["metadata"]["name"] for node in case.nodes]
    for i in range(rng.choice((0, 0, 1, 2, 3))):
        case.bound.append(_pod(rng, f"b{i}", rng.choice(names)))
    for i in range(25):
        case.pods.append(_pod(rng, f"p{i:02d}"))
        case.churn.append(i > 2 and rng.random() < 0.12)
    return case


# --------------------------------------------------------------------------- our view


@dataclass(frozen=True)
class Evaluation:
    """Our filters' and scorers' view of a pod: feasible node names, and each one's total
    weighted score."""

    feasible: frozenset[str]
    scores: Mapping[str, float]

    @property
    def best(self) -> frozenset[str]:
        if not self.scores:
            return self.feasible
        top = max(self.scores.values())
        return frozenset(name for name, score in self.scores.items() if score == top)


def evaluate(profile: Profile, pod: PodInfo, nodes: NodeTable) -> Evaluation:
    """What ``Profile.find_node`` computes before choosing: every node's filter verdict and
    every feasible node's score (all of them, not only the chosen one)."""
    size = nodes.size
    state = CycleState()
    skipped: set[str] = set()
    for pre_filter in profile.pre_filters:
        status = pre_filter.pre_filter(state, pod, nodes)
        if status.code is Code.SKIP:
            skipped.add(pre_filter.name)
        elif not status.ok:
            return Evaluation(frozenset(), {})
    feasible: BoolArray = nodes.valid[:size].copy()
    allowed = _pre_filter_nodes(state, nodes)
    if allowed is not None:
        feasible &= allowed
    for filter_plugin in profile.filters:
        if filter_plugin.name in skipped:
            continue
        mask = filter_plugin.filter(state, pod, nodes)
        if mask is not None:
            feasible &= mask
    candidates = np.flatnonzero(feasible)
    names = frozenset(nodes.names[int(slot)] for slot in candidates)
    if candidates.size < 2:
        return Evaluation(names, {})  # nothing to choose between: not scored (as kube)
    state.write(FEASIBLE, feasible)
    total: FloatArray = np.zeros(candidates.size)
    for weighted in profile.scores:
        scores = weighted.plugin.score(state, pod, nodes, candidates)
        if scores is not None:
            total = total + weighted.weight * scores
    return Evaluation(
        names, {nodes.names[int(slot)]: float(s) for slot, s in zip(candidates, total, strict=True)}
    )
