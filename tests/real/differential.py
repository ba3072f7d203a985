"""Random clusters and workloads whose outcome does not depend on tie-breaking or order, and
KubeNexus' verdict on them, for the differential tests against the real kube-scheduler.

Why the outcome is fixed: every filter verdict of every (pod, node) pair is *static* — it does
not depend on which other pods were placed where, or in which order. Taints, selectors, affinity
and cordons are static by nature. Resources are made static by construction: a pod either asks
more of a resource than the node has at all (it fails there, whatever else happened), or the
node has room for it together with every other pod that could possibly land there. The set of
pods placed and the message of each pod left out are then the same for any scheduler that
filters like kube-scheduler, whatever it scores and whatever order it takes the pods in.

"Could possibly land there" is judged without a model of the filters (no third scheduler to get
wrong): a pod may land on every node whose allocatable covers its smallest possible requests,
whatever its taints and selectors say; and it consumes at most the sum of all its containers,
init containers and overhead. Both bounds hold whatever the exact init-container rule is.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kubenexus.api.objects import node_from_dict, pod_from_dict
from kubenexus.config import build_scheduler, parse_config
from kubenexus.scheduler import Scheduled, Unschedulable

SCHEDULER: Final = "default-scheduler"
# The verdict on a pod no scheduler tries (scheduling gates).
NOT_TRIED: Final = "not tried"
NAMESPACE: Final = "diff"
IMAGE: Final = "registry.k8s.io/pause:3.10"

CPU, MEMORY, STORAGE, GPU, PODS = "cpu", "memory", "ephemeral-storage", "nvidia.com/gpu", "pods"
RESOURCES: Final = (CPU, MEMORY, STORAGE, GPU, PODS)
Ki, Mi, Gi = 2**10, 2**20, 2**30

# Cluster-wide objects the pods refer to, made once per control plane.
PRIORITY_CLASSES: Final = {"low": 10, "high": 1000}
RUNTIME_CLASS: Final = "with-overhead"
# podFixed overhead of RUNTIME_CLASS (cpu in millicores, memory in bytes).
OVERHEAD: Final = {CPU: 250, MEMORY: 64 * Mi}

ZONE, TYPE, GEN, SSD, HOST = (
    "topology.kubernetes.io/zone",
    "example.com/type",
    "example.com/gen",
    "example.com/ssd",
    "kubernetes.io/hostname",
)
EMPTY = "example.com/empty"
ABSENT_LABEL: Final = "example.com/absent"
LABEL_VALUES: Final[dict[str, tuple[str, ...]]] = {
    ZONE: ("a", "b", "c"),
    TYPE: ("cpu", "gpu", "mem"),
    GEN: tuple(str(n) for n in range(1, 13)),
    SSD: ("true",),
    EMPTY: ("",),  # a label whose value is the empty string
}
# Label values Gt/Lt must read as kube-scheduler does (Go's strconv.ParseInt), each of which
# KubeNexus once read otherwise (found by these tests):
#   "007"                  7 for both
#   "1_0"                  not a number (Python's int() took the underscore: 10)
#   "99999999999999999999" not a number: beyond int64 (it was read as 1e20)
#   "9007199254740993"     exactly 2**53 + 1, so Gt 2**53 matches (a float lost the +1)
GAP_NUMBERS: Final = ("1_0", "99999999999999999999", "9007199254740993")
ODD_NUMBERS: Final = ("007", *GAP_NUMBERS)

CORDON_KEY: Final = "node.kubernetes.io/unschedulable"
# (key, value, effect): two values of one key, a key without value, every effect, and a taint
# every pod tolerates through the tolerations the API server adds (DefaultTolerationSeconds).
TAINTS: Final = (
    ("dedicated", "gpu", "NoSchedule"),
    ("dedicated", "ml", "NoSchedule"),
    ("dedicated", "gpu", "NoExecute"),
    ("spot", "", "NoSchedule"),
    ("team", "b", "NoExecute"),
    ("maintenance", "true", "PreferNoSchedule"),
    ("node.kubernetes.io/unreachable", "", "NoExecute"),
)


# --------------------------------------------------------------------------- quantities


def cpu_text(rng: random.Random, milli: int) -> str:
    """One of the spellings of ``milli`` millicores the API accepts."""
    spellings = [f"{milli}m"]
    if milli % 1000 == 0:
        spellings.append(str(milli // 1000))
    elif milli % 100 == 0:
        spellings.append(f"{milli / 1000:g}")  # "0.1", "1.5": exact in decimal
    return rng.choice(spellings)


def bytes_text(rng: random.Random, amount: int) -> str:
    spellings = [str(amount)]
    for suffix, unit in (("Gi", Gi), ("Mi", Mi), ("Ki", Ki)):
        if amount % unit == 0:
            spellings.append(f"{amount // unit}{suffix}")
            break
    for suffix, unit in (("G", 10**9), ("M", 10**6)):
        if amount % unit == 0:
            spellings.append(f"{amount // unit}{suffix}")
            break
    return rng.choice(spellings)


def quantity_text(rng: random.Random, resource: str, amount: int) -> str:
    if resource == CPU:
        return cpu_text(rng, amount)
    if resource in {MEMORY, STORAGE}:
        return bytes_text(rng, amount)
    return str(amount)


def resource_list(rng: random.Random, amounts: Mapping[str, int]) -> dict[str, str]:
    return {r: quantity_text(rng, r, a) for r, a in amounts.items()}


# --------------------------------------------------------------------------- a generated case


@dataclass
class Case:
    """One cluster and workload: API objects as a user would write them."""

    seed: int
    nodes: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    # Pods already on their nodes when the pods to place arrive (maybe finished).
    bound: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """Compact, one object per line: what a failing seed prints."""
        lines = [f"seed {self.seed}: {len(self.nodes)} nodes, {len(self.pods)} pods"]
        for node in self.nodes:
            spec, status = node.get("spec", {}), node["status"]
            parts = [
                node["metadata"]["name"],
                "allocatable=" + _compact(status.get("allocatable", status.get("capacity"))),
                "labels=" + _compact(node["metadata"].get("labels", {})),
            ]
            if "allocatable" not in status:
                parts.append("(capacity only)")
            if spec.get("taints"):
                parts.append("taints=" + _compact(spec["taints"]))
            if spec.get("unschedulable"):
                parts.append("cordoned")
            lines.append("  node " + " ".join(parts))
        for pod in self.bound:
            resources = pod["spec"]["containers"][0].get("resources", {})
            phase = pod.get("status", {}).get("phase", "Pending")
            lines.append(
                f"  bound {pod['metadata']['name']} on {pod['spec']['nodeName']} {phase} "
                + _compact(resources)
            )
        for pod in self.pods:
            spec = pod["spec"]
            brief = {
                k: spec[k]
                for k in (
                    "priorityClassName",
                    "runtimeClassName",
                    "nodeSelector",
                    "affinity",
                    "tolerations",
                    "schedulingGates",
                    "resources",
                )
                if k in spec
            }
            for group in ("initContainers", "containers"):
                if group in spec:
                    brief[group] = [
                        {k: v for k, v in c.items() if k not in {"name", "image"}}
                        for c in spec[group]
                    ]
            lines.append(f"  pod {pod['metadata']['name']} {_compact(brief)}")
        return "\n".join(lines)


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


# --------------------------------------------------------------------------- nodes


@dataclass
class _NodePlan:
    name: str
    allocatable: dict[str, int]
    used: dict[str, int] = field(default_factory=dict)  # by the pods already there


def _node(rng: random.Random, name: str) -> tuple[dict[str, Any], _NodePlan]:
    allocatable = {
        CPU: rng.choice((1000, 2000, 3500, 4000, 8000, 16000, 64000)),
        MEMORY: rng.choice((1 * Gi, 2 * Gi, 4 * Gi, 7680 * Mi, 16 * Gi, 64 * Gi, 256 * Gi)),
        # A node without pod slots refuses every pod ("Too many pods"): a static failure. Any
        # other count is ample (more than all pods of a case together).
        PODS: 0 if rng.random() < 0.06 else rng.choice((110, 250)),
    }
    if rng.random() < 0.06:
        # A node whose allocatable has no "pods" at all: no pod slot ("Too many pods"), not
        # the kubelet's default 110 (which KubeNexus once assumed).
        del allocatable[PODS]
    if rng.random() < 0.7:
        allocatable[STORAGE] = rng.choice((10 * Gi, 100 * Gi))
    if rng.random() < 0.5:
        allocatable[GPU] = rng.choice((0, 1, 2, 4, 8))
    labels = {HOST: name}
    for key, values in LABEL_VALUES.items():
        if rng.random() < 0.75:
            labels[key] = rng.choice(values)
    if GEN in labels and rng.random() < 0.1:
        labels[GEN] = rng.choice(ODD_NUMBERS)
    spec: dict[str, Any] = {}
    if rng.random() < 0.4:
        chosen = rng.sample(TAINTS, rng.randint(1, 2))
        # One taint per key and effect (the API refuses duplicates).
        unique = {(k, e): (k, v, e) for k, v, e in chosen}
        spec["taints"] = [
            {"key": k, "effect": e, **({"value": v} if v else {})} for k, v, e in unique.values()
        ]
    if rng.random() < 0.15:
        spec["unschedulable"] = True
    written = resource_list(rng, allocatable)
    # kubelet reports capacity ≥ allocatable; the API server copies capacity into a missing
    # allocatable.
    capacity = dict(written)
    if rng.random() < 0.2:
        status: dict[str, Any] = {"capacity": capacity}
    else:
        status = {"capacity": capacity, "allocatable": written}
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": status,
    }
    return node, _NodePlan(name, allocatable)


# --------------------------------------------------------------------------- pods


@dataclass
class _PodPlan:
    """Bounds on the pod's effective requests (what kube-scheduler would compute lies between)."""

    lower: dict[str, int]
    upper: dict[str, int]


def _small(rng: random.Random) -> dict[str, int]:
    amounts: dict[str, int] = {}
    if rng.random() < 0.8:
        amounts[CPU] = rng.choice((10, 25, 50, 100))
    if rng.random() < 0.8:
        amounts[MEMORY] = rng.choice((16 * Mi, 32 * Mi, 64 * Mi, 100 * 10**6))
    if rng.random() < 0.1:
        amounts[STORAGE] = rng.choice((100 * Mi, 1 * Gi))
    return amounts


def _big(rng: random.Random, amounts: dict[str, int]) -> None:
    """Requests larger than some (or every) node offers."""
    roll = rng.random()
    if roll < 0.12:
        amounts[CPU] = rng.choice((1500, 3000, 6000, 12000, 48000, 100000))
    elif roll < 0.22:
        amounts[MEMORY] = rng.choice((3 * Gi, 12 * Gi, 48 * Gi, 300 * Gi))
    elif roll < 0.27:
        amounts[STORAGE] = rng.choice((50 * Gi, 500 * Gi))


def _container(
    rng: random.Random, name: str, amounts: dict[str, int], gpu: int
) -> tuple[dict[str, Any], dict[str, int]]:
    """A container asking ``amounts`` (and ``gpu``): as requests, as limits only (the API
    defaults requests to limits), or both. Returns it with its effective requests."""
    container: dict[str, Any] = {"name": name, "image": IMAGE}
    resources: dict[str, dict[str, str]] = {}
    style = rng.random()
    if amounts:
        if style < 0.15:
            resources["limits"] = resource_list(rng, amounts)
        else:
            resources["requests"] = resource_list(rng, amounts)
            if style > 0.85:  # limits at least the requests
                resources["limits"] = resource_list(rng, {r: a * 2 for r, a in amounts.items()})
    if gpu:
        # Extended resources: limits required, requests (if any) equal to them.
        resources.setdefault("limits", {})[GPU] = str(gpu)
        if "requests" in resources and rng.random() < 0.5:
            resources["requests"][GPU] = str(gpu)
    if resources:
        container["resources"] = resources
    effective = dict(amounts)
    if gpu:
        effective[GPU] = gpu
    return container, effective


def _add(into: dict[str, int], amounts: Mapping[str, int]) -> None:
    for r, a in amounts.items():
        into[r] = into.get(r, 0) + a


def _requirement(rng: random.Random, node_names: Sequence[str]) -> dict[str, Any]:
    key = rng.choice((ZONE, ZONE, TYPE, GEN, GEN, SSD, EMPTY, HOST, ABSENT_LABEL))
    operator = rng.choice(("In", "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"))
    if operator in {"Exists", "DoesNotExist"}:
        return {"key": key, "operator": operator}
    if operator in {"Gt", "Lt"}:
        if rng.random() < 0.8:
            key = GEN  # otherwise a label that is not a number (or absent): never matches
        bound = str(rng.randint(0, 13)) if rng.random() < 0.9 else "9007199254740992"
        return {"key": key, "operator": operator, "values": [bound]}
    return {"key": key, "operator": operator, "values": _values(rng, key, node_names, 2)}


def _values(rng: random.Random, key: str, node_names: Sequence[str], most: int) -> list[str]:
    """Values of ``key`` some node may carry, or none does."""
    pool = list(LABEL_VALUES.get(key, ())) + (list(node_names) if key == HOST else [])
    pool.append("nowhere")
    return rng.sample(pool, min(len(pool), rng.randint(1, most)))


def _affinity(rng: random.Random, node_names: Sequence[str]) -> dict[str, Any]:
    terms = []
    for _ in range(rng.choice((1, 1, 2))):
        term: dict[str, Any] = {}
        if rng.random() < 0.85:
            term["matchExpressions"] = [
                _requirement(rng, node_names) for _ in range(rng.randint(1, 2))
            ]
        if rng.random() < 0.15 or not term:
            # matchFields on the node name (In: kube's NodeAffinity pre-filter narrows the
            # nodes; the others are "didn't satisfy plugin(s) [NodeAffinity]"). Two names
            # ANDed in one term match no node.
            term["matchFields"] = [
                {
                    "key": "metadata.name",
                    "operator": rng.choice(("In", "In", "NotIn")),
                    "values": [rng.choice([*node_names, "ghost"])],
                }
                for _ in range(rng.choice((1, 1, 1, 2)))
            ]
        terms.append(term)
    required = {"nodeSelectorTerms": terms}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}


def _tolerations(rng: random.Random) -> list[dict[str, Any]]:
    chosen: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, 3)):
        key, value, effect = rng.choice(TAINTS)
        roll = rng.random()
        if roll < 0.35:
            toleration: dict[str, Any] = {
                "key": key,
                "operator": "Equal",
                "value": value,
                "effect": effect,
            }
        elif roll < 0.5:
            toleration = {"key": key, "value": value}  # Equal, every effect
        elif roll < 0.65:
            toleration = {"key": key, "operator": "Exists"}
        elif roll < 0.75:
            toleration = {"key": key, "value": "other", "effect": effect}  # wrong value
        elif roll < 0.85:
            toleration = {"key": CORDON_KEY, "operator": "Exists", "effect": "NoSchedule"}
        elif roll < 0.92:
            toleration = {"operator": "Exists", "effect": rng.choice(("NoSchedule", "NoExecute"))}
        else:
            toleration = {"operator": "Exists"}  # tolerates everything, the cordon too
        if toleration.get("effect") == "NoExecute" and rng.random() < 0.3:
            toleration["tolerationSeconds"] = 60
        chosen.append(toleration)
    return chosen


def _pod(
    rng: random.Random, name: str, node_names: Sequence[str]
) -> tuple[dict[str, Any], _PodPlan]:
    lower: dict[str, int] = {PODS: 1}
    upper: dict[str, int] = {PODS: 1}
    spec: dict[str, Any] = {"schedulerName": SCHEDULER, "terminationGracePeriodSeconds": 0}
    wants_gpu = rng.random() < 0.2
    containers = []
    for i in range(rng.choice((1, 1, 2, 3))):
        amounts = _small(rng)
        if i == 0:
            _big(rng, amounts)
        if rng.random() < 0.05:
            amounts[rng.choice((CPU, MEMORY))] = 0  # "0": asks nothing, checked nowhere
        gpu = 0
        if wants_gpu and i == 0:
            gpu = rng.choice((1, 1, 1, 2, 16))
        container, effective = _container(rng, f"c{i}", amounts, gpu)
        containers.append(container)
        _add(lower, effective)
        _add(upper, effective)
    spec["containers"] = containers
    inits = []
    for i in range(rng.choice((0, 0, 0, 1, 2))):
        sidecar = rng.random() < 0.5
        amounts = _small(rng)
        if rng.random() < 0.3:
            amounts[CPU] = rng.choice((500, 2500))  # an init step bigger than the app
        gpu = rng.choice((0, 0, 0, 1)) if wants_gpu else 0
        container, effective = _container(rng, f"init{i}", amounts, gpu)
        if sidecar:
            container["restartPolicy"] = "Always"
        inits.append(container)
        _add(upper, effective)
    if inits:
        spec["initContainers"] = inits
    if rng.random() < 0.1:
        # Pod-level requests replace what the containers add up to (cpu and memory), at least
        # the containers' sum (the API refuses less).
        level = {
            CPU: upper.get(CPU, 0) + rng.choice((0, 100, 2000)),
            MEMORY: upper.get(MEMORY, 0) + rng.choice((0, 64 * Mi, 8 * Gi)),
        }
        spec["resources"] = {"requests": resource_list(rng, level)}
        lower.update(level)
        upper.update(level)
    if rng.random() < 0.15:
        spec["runtimeClassName"] = RUNTIME_CLASS  # the API server sets spec.overhead
        _add(lower, OVERHEAD)
        _add(upper, OVERHEAD)
    if rng.random() < 0.25:
        keys = rng.sample([*LABEL_VALUES, HOST], rng.randint(1, 2))
        spec["nodeSelector"] = {k: _values(rng, k, node_names, 1)[0] for k in keys}
    if rng.random() < 0.3:
        spec["affinity"] = _affinity(rng, node_names)
    if rng.random() < 0.45:
        spec["tolerations"] = _tolerations(rng)
    if rng.random() < 0.6:
        spec["priorityClassName"] = rng.choice(list(PRIORITY_CLASSES))
    if rng.random() < 0.04:
        spec["schedulingGates"] = [{"name": "example.com/hold"}]  # never tried
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }
    return pod, _PodPlan(lower, upper)


def _bound_pod(rng: random.Random, name: str, node: str) -> tuple[dict[str, Any], dict[str, int]]:
    """A pod already on ``node`` (spec.nodeName at creation), maybe finished (it then holds
    nothing). Plain containers: its requests are known exactly. Possibly more than the node
    has (an overcommitted node)."""
    amounts = _small(rng)
    if rng.random() < 0.3:
        _big(rng, amounts)
    container, effective = _container(rng, "c0", amounts, rng.choice((0, 0, 1)))
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0, "containers": [container]},
    }
    if rng.random() < 0.25:
        pod["status"] = {"phase": rng.choice(("Succeeded", "Failed"))}
        return pod, {}
    return pod, {PODS: 1, **effective}


# --------------------------------------------------------------------------- static outcome


def static_outcome(nodes: Sequence[_NodePlan], pods: Sequence[_PodPlan]) -> bool:
    """Whether every pod's resource verdict on every node is independent of the others' fate.

    Per node and resource, on top of what the pods already there use: a pod asking more than
    is left fails there whatever happened (its smallest possible request is too big); any
    other pod must fit together with every pod that may land on the node, each at its largest
    possible request. Two pod slots per node are kept for the marker and sentinel pods that
    tell the scheduler has seen the whole cluster.
    """
    for node in nodes:
        free = {r: node.allocatable.get(r, 0) - node.used.get(r, 0) for r in RESOURCES}
        may_land = [
            i
            for i, pod in enumerate(pods)
            if all(a <= free[r] for r, a in pod.lower.items() if a > 0)
        ]
        load = {r: sum(pods[i].upper.get(r, 0) for i in may_land) for r in RESOURCES}
        load[PODS] += 2  # the marker and the sentinel
        members = set(may_land)
        for i, pod in enumerate(pods):
            for resource, most in pod.upper.items():
                if most <= 0 or pod.lower.get(resource, 0) > free[resource]:
                    continue  # nothing asked, or fails on this node whatever happens
                others = load[resource] - (most if i in members else 0)
                if most + others > free[resource]:
                    return False
    return True


def generate(seed: int) -> Case:
    """A cluster of 3 to 8 nodes (a few pods already on them) and 8 to 30 pods to place, whose
    outcome is fixed (see the module docstring)."""
    rng = random.Random(seed)
    case = Case(seed)
    node_plans = []
    for i in range(rng.randint(3, 8)):
        node, plan = _node(rng, f"n{i}")
        case.nodes.append(node)
        node_plans.append(plan)
    # The last node takes the marker and sentinel pods: it needs pod slots.
    last = node_plans[-1]
    if last.allocatable.get(PODS, 0) == 0:
        last.allocatable[PODS] = 110
        for part in case.nodes[-1]["status"].values():
            part[PODS] = "110"
    for i in range(rng.choice((0, 0, 1, 3, 6))):
        plan = rng.choice(node_plans)
        pod, usage = _bound_pod(rng, f"b{i}", plan.name)
        case.bound.append(pod)
        _add(plan.used, usage)
    names = [n["metadata"]["name"] for n in case.nodes]
    pod_plans: list[_PodPlan] = []
    target = rng.randint(8, 30)
    attempts = 0
    while len(case.pods) < target and attempts < 6 * target:
        attempts += 1
        pod, pod_plan = _pod(rng, f"p{len(case.pods):02d}", names)
        if static_outcome(node_plans, [*pod_plans, pod_plan]):
            case.pods.append(pod)
            pod_plans.append(pod_plan)
    return case


# --------------------------------------------------------------------------- our core


def core_outcome(
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    bound: Sequence[Mapping[str, Any]] = (),
) -> dict[str, str]:
    """KubeNexus' core on API objects: pod name → ``"node:<name>"`` or its failure message."""
    # No preemption, as kube-scheduler's configuration in these tests.
    no_post_filter = {"postFilter": {"disabled": [{"name": "*"}]}}
    config = parse_config({"profiles": [{"schedulerName": SCHEDULER, "plugins": no_post_filter}]})
    scheduler = build_scheduler(config)
    for node in nodes:
        scheduler.upsert_node(node_from_dict(node))
    for pod in bound:
        scheduler.upsert_pod(pod_from_dict(pod))
    for pod in pods:
        scheduler.upsert_pod(pod_from_dict(pod))
    result = {str(pod["metadata"]["name"]): NOT_TRIED for pod in pods}
    for outcome in scheduler.run_until_idle():
        if isinstance(outcome, Scheduled):
            result[outcome.pod.name] = f"node:{outcome.node}"
        else:
            assert isinstance(outcome, Unschedulable)
            result[outcome.pod.name] = outcome.message
    return result


def placed(outcome: Mapping[str, str]) -> set[str]:
    return {pod for pod, verdict in outcome.items() if verdict.startswith("node:")}


def messages(outcome: Mapping[str, str]) -> dict[str, str]:
    return {pod: verdict for pod, verdict in outcome.items() if not verdict.startswith("node:")}
