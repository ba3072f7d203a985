"""Compact, typed views of the parts of Pods and Nodes the scheduler reads.

Parsed from the plain dicts the API (or a YAML file) delivers. Only what scheduling needs is
kept: a raw pod body is tens of KB of Python objects, a ``PodInfo`` a small fraction of that.
Every malformed field raises ``InvalidInputError`` naming its path, never a bare KeyError.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from kubenexus.api import keys
from kubenexus.api.fields import int_at as _int
from kubenexus.api.fields import list_at as _list
from kubenexus.api.fields import mapping_at as _mapping
from kubenexus.api.fields import string_at as _str
from kubenexus.api.fields import string_map_at as _string_map
from kubenexus.api.gang import app_name, gang_membership, pod_role
from kubenexus.api.gpu import NodeGpus, read_gpus
from kubenexus.api.pod_rules import (
    PodAffinity,
    SpreadConstraint,
    container_images,
    pod_affinity,
    spread_constraints,
)
from kubenexus.api.quantity import known_amount, parse_quantity, resource_amount
from kubenexus.errors import InvalidInputError

TAINT_EFFECTS: Final = frozenset({"NoSchedule", "PreferNoSchedule", "NoExecute"})
SELECTOR_OPERATORS: Final = frozenset({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"})
TERMINAL_PHASES: Final = frozenset({"Succeeded", "Failed"})
PREEMPT_LOWER_PRIORITY: Final = "PreemptLowerPriority"
PREEMPTION_POLICIES: Final = frozenset({PREEMPT_LOWER_PRIORITY, "Never"})

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})
_NO_IMAGES: Final[Mapping[str, int]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str

    def __str__(self) -> str:
        return f"{{{self.key}: {self.value}}}"


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        """kube's ToleratesTaint: an empty effect matches every effect, an empty key every key."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        return self.value == taint.value


@dataclass(frozen=True, slots=True)
class SelectorRequirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SelectorTerm:
    """One nodeSelectorTerm: its expressions are ANDed; a term with none matches no node."""

    match_expressions: tuple[SelectorRequirement, ...] = ()
    match_fields: tuple[SelectorRequirement, ...] = ()


@dataclass(frozen=True, slots=True)
class OwnerRef:
    kind: str
    name: str
    uid: str = ""


class HostPort(NamedTuple):
    ip: str  # "0.0.0.0": every address
    protocol: str
    port: int


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    allocatable: Mapping[str, int]
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    taints: tuple[Taint, ...] = ()
    unschedulable: bool = False
    # Its GPUs (the one GPU model), from its labels or its DRA ResourceSlices; None: unknown.
    gpus: NodeGpus | None = None
    # Why its GPU labels could not be read ("" when they could, or there are none).
    gpu_problem: str = ""
    # status.images: every name an image is known by → its size in bytes (ImageLocality).
    images: Mapping[str, int] = field(default_factory=lambda: _NO_IMAGES)


@dataclass(frozen=True, slots=True)
class PodInfo:
    namespace: str
    name: str
    requests: Mapping[str, int]
    uid: str = ""
    scheduler_name: str = ""
    node_name: str = ""
    phase: str = "Pending"
    priority: int = 0
    priority_class_name: str = ""
    created: float | None = None
    # status.startTime (kube's preemption prefers victims that started last).
    started: float | None = None
    # spec.preemptionPolicy: "PreemptLowerPriority" (default) or "Never".
    preemption_policy: str = PREEMPT_LOWER_PRIORITY
    # status.nominatedNodeName: where a preemption made room for it (kept across restarts).
    nominated_node: str = ""
    # cpu/memory as kube-scheduler scores them: a container without a request counts as a default.
    score_cpu: int = keys.DEFAULT_SCORE_MILLI_CPU
    score_memory: int = keys.DEFAULT_SCORE_MEMORY
    node_selector: tuple[tuple[str, str], ...] = ()
    required_affinity: tuple[SelectorTerm, ...] | None = None
    # preferredDuringScheduling node affinity: (weight 1..100, term) pairs, scored.
    preferred_affinity: tuple[tuple[int, SelectorTerm], ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    # Host ports it holds on its node (kept for placed pods too: they block others).
    host_ports: tuple[HostPort, ...] = ()
    # Inter-pod (anti-)affinity (kept for placed pods too: their terms bind newcomers); None
    # when it has none.
    pod_affinity: PodAffinity | None = None
    spread: tuple[SpreadConstraint, ...] = ()
    # Container images (init containers first), for ImageLocality.
    images: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    owner: OwnerRef | None = None
    deleting: bool = False
    # spec.schedulingGates: while any is left the pod is not tried (kube's SchedulingGates).
    gates: tuple[str, ...] = ()
    # Fields the pod uses that the scheduler cannot honour yet: the pod waits (and says so)
    # rather than be placed in violation of a rule its author wrote.
    unsupported: tuple[str, ...] = ()
    # Gang (PodGroup) membership: "namespace/name" or "" for a pod on its own.
    gang: str = ""
    gang_min: int | None = None
    gang_error: str = ""
    # "driver" (admitted only with room held for its executors), "executor" (claims that room),
    # or "" (any other pod).
    role: str = ""
    # A Spark or Ray application ("namespace/id") from the framework's own labels, or "".
    app: str = ""

    @property
    def group(self) -> str:
        """The group a driver's reservation is for and its executors claim from: the gang it
        names, else its application."""
        return self.gang or self.app

    @property
    def key(self) -> str:
        """Identity in the scheduler: the UID when the API gave one, else namespace/name."""
        return self.uid or f"{self.namespace}/{self.name}"

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def terminal(self) -> bool:
        """Succeeded and Failed pods hold no capacity."""
        return self.phase in TERMINAL_PHASES


# --------------------------------------------------------------------------- field readers


def _bool(obj: object, path: str) -> bool:
    if obj is None:
        return False
    if not isinstance(obj, bool):
        raise InvalidInputError(path, obj, "expected true or false")
    return obj


def _timestamp(obj: object, path: str) -> float | None:
    if obj is None:
        return None
    if isinstance(obj, datetime):  # YAML loaders turn unquoted timestamps into datetimes
        return obj.timestamp()
    text = _str(obj, path)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise InvalidInputError(path, obj, "expected an RFC 3339 timestamp") from exc


def _resource_list(obj: object, path: str) -> dict[str, int]:
    amounts: dict[str, int] = {}
    for name, value in _mapping(obj, path).items():
        if not isinstance(name, str) or not name:
            raise InvalidInputError(path, name, "resource names must be non-empty strings")
        amount = known_amount(name, value)
        if amount is None:
            amount = resource_amount(name, value, f"{path}.{name}")
        if amount < 0:
            raise InvalidInputError(f"{path}.{name}", value, "must not be negative")
        if _extended(name) and parse_quantity(value, f"{path}.{name}") % 1:
            # As the API server refuses it: a device is not shared by halves.
            raise InvalidInputError(
                f"{path}.{name}", value, "an extended resource must be a whole number"
            )
        amounts[name] = amount
    return amounts


def _extended(resource: str) -> bool:
    """A resource outside the kubernetes.io domain (nvidia.com/gpu): whole units only."""
    domain, slash, _ = resource.partition("/")
    return bool(slash) and not (domain == "kubernetes.io" or domain.endswith(".kubernetes.io"))


# --------------------------------------------------------------------------- nodes


def parse_taint(obj: object, path: str) -> Taint:
    data = _mapping(obj, path)
    key = _str(data.get("key"), f"{path}.key", required=True)
    effect = _str(data.get("effect"), f"{path}.effect", required=True)
    if effect not in TAINT_EFFECTS:
        raise InvalidInputError(f"{path}.effect", effect, f"must be one of {sorted(TAINT_EFFECTS)}")
    return Taint(key=key, value=_str(data.get("value"), f"{path}.value"), effect=effect)


def node_from_dict(obj: Mapping[str, Any], *, default_pods: int | None = None) -> NodeInfo:
    """Read a Node object; allocatable falls back to capacity. A node offering no ``pods`` takes
    none, as kube-scheduler counts it (the simulator passes the kubelet's default, 110, for
    hand-written nodes)."""
    meta = _mapping(obj.get("metadata"), "metadata")
    spec = _mapping(obj.get("spec"), "spec")
    status = _mapping(obj.get("status"), "status")
    name = _str(meta.get("name"), "metadata.name", required=True)
    if "allocatable" in status:
        allocatable = _resource_list(status["allocatable"], "status.allocatable")
    else:
        allocatable = _resource_list(status.get("capacity"), "status.capacity")
    if default_pods is not None:
        allocatable.setdefault(keys.PODS, default_pods)
    taints = tuple(
        parse_taint(item, f"spec.taints[{i}]")
        for i, item in enumerate(_list(spec.get("taints"), "spec.taints"))
    )
    labels = _string_map(meta.get("labels"), "metadata.labels")
    gpus, gpu_problem = read_gpus(name, labels)  # unreadable: the node is usable without them
    return NodeInfo(
        name=name,
        allocatable=MappingProxyType(allocatable),
        labels=labels,
        annotations=_string_map(meta.get("annotations"), "metadata.annotations"),
        taints=taints,
        unschedulable=_bool(spec.get("unschedulable"), "spec.unschedulable"),
        gpus=gpus,
        gpu_problem=gpu_problem,
        images=node_images(status),
    )


def node_images(status: Mapping[str, Any]) -> Mapping[str, int]:
    """``status.images`` as name → size. The kubelet writes it; an entry that cannot be read
    is left out (the node is usable without it: the list only steers scoring)."""
    entries = status.get("images")
    if not isinstance(entries, list) or not entries:
        return _NO_IMAGES
    found: dict[str, int] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        size = entry.get("sizeBytes")
        names = entry.get("names")
        if isinstance(size, bool) or not isinstance(size, int) or not isinstance(names, list):
            continue
        for name in names:
            if isinstance(name, str) and name:
                found[sys.intern(name)] = max(size, 0)
    return MappingProxyType(found) if found else _NO_IMAGES


# --------------------------------------------------------------------------- pods


def parse_toleration(obj: object, path: str) -> Toleration:
    data = _mapping(obj, path)
    key = _str(data.get("key"), f"{path}.key")
    operator = _str(data.get("operator"), f"{path}.operator") or "Equal"
    value = _str(data.get("value"), f"{path}.value")
    effect = _str(data.get("effect"), f"{path}.effect")
    if operator not in {"Equal", "Exists"}:
        raise InvalidInputError(f"{path}.operator", operator, "must be Equal or Exists")
    if operator == "Exists" and value:
        raise InvalidInputError(f"{path}.value", value, "must be empty when operator is Exists")
    if not key and operator != "Exists":
        raise InvalidInputError(f"{path}.operator", operator, "must be Exists when key is empty")
    if effect and effect not in TAINT_EFFECTS:
        raise InvalidInputError(
            f"{path}.effect", effect, f"must be empty or one of {sorted(TAINT_EFFECTS)}"
        )
    return Toleration(key=key, operator=operator, value=value, effect=effect)


_GO_INT: Final = re.compile(r"^[+-]?[0-9]+$")
_INT64: Final = 2**63


def go_int(text: str) -> int | None:
    """``text`` as Go's ``strconv.ParseInt(text, 10, 64)`` reads it (how kube-scheduler reads
    Gt/Lt values and the labels they compare): digits with an optional sign, within int64; no
    underscores, spaces or other forms Python's ``int`` would take. None when it is not one."""
    if not _GO_INT.match(text):
        return None
    value = int(text)
    return value if -_INT64 <= value < _INT64 else None


def _requirement(obj: object, path: str, *, field_selector: bool) -> SelectorRequirement:
    data = _mapping(obj, path)
    key = _str(data.get("key"), f"{path}.key", required=True)
    operator = _str(data.get("operator"), f"{path}.operator", required=True)
    # A null value is read as "", as the API server decodes it into a Go string.
    values = [
        _str(value, f"{path}.values[{i}]")
        for i, value in enumerate(_list(data.get("values"), f"{path}.values"))
    ]
    if operator not in SELECTOR_OPERATORS:
        raise InvalidInputError(
            f"{path}.operator", operator, f"must be one of {sorted(SELECTOR_OPERATORS)}"
        )
    if field_selector:
        if key != "metadata.name":
            raise InvalidInputError(f"{path}.key", key, "matchFields supports only metadata.name")
        if operator not in {"In", "NotIn"} or len(values) != 1:
            raise InvalidInputError(path, operator, "matchFields needs In or NotIn with one value")
    if operator in {"In", "NotIn"} and not values:
        raise InvalidInputError(f"{path}.values", values, f"must be non-empty for {operator}")
    if operator in {"Exists", "DoesNotExist"} and values:
        raise InvalidInputError(f"{path}.values", values, f"must be empty for {operator}")
    if operator in {"Gt", "Lt"}:
        if len(values) != 1:
            raise InvalidInputError(f"{path}.values", values, f"{operator} needs exactly one value")
        if go_int(values[0]) is None:
            raise InvalidInputError(f"{path}.values[0]", values[0], f"{operator} needs an integer")
    return SelectorRequirement(key=key, operator=operator, values=tuple(values))


def _required_affinity(spec: Mapping[str, Any]) -> tuple[SelectorTerm, ...] | None:
    base = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    affinity = _mapping(spec.get("affinity"), "spec.affinity")
    node_affinity = _mapping(affinity.get("nodeAffinity"), "spec.affinity.nodeAffinity")
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return None
    terms_path = f"{base}.nodeSelectorTerms"
    terms = _list(_mapping(required, base).get("nodeSelectorTerms"), terms_path)
    if not terms:
        raise InvalidInputError(terms_path, terms, "must hold at least one term")
    return tuple(_selector_term(term, f"{terms_path}[{t}]") for t, term in enumerate(terms))


def _selector_term(term: object, term_path: str) -> SelectorTerm:
    data = _mapping(term, term_path)
    expressions = tuple(
        _requirement(item, f"{term_path}.matchExpressions[{i}]", field_selector=False)
        for i, item in enumerate(
            _list(data.get("matchExpressions"), f"{term_path}.matchExpressions")
        )
    )
    fields = tuple(
        _requirement(item, f"{term_path}.matchFields[{i}]", field_selector=True)
        for i, item in enumerate(_list(data.get("matchFields"), f"{term_path}.matchFields"))
    )
    return SelectorTerm(match_expressions=expressions, match_fields=fields)


def _preferred_affinity(spec: Mapping[str, Any]) -> tuple[tuple[int, SelectorTerm], ...]:
    base = "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"
    affinity = _mapping(spec.get("affinity"), "spec.affinity")
    node_affinity = _mapping(affinity.get("nodeAffinity"), "spec.affinity.nodeAffinity")
    terms = _list(node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution"), base)
    parsed: list[tuple[int, SelectorTerm]] = []
    for t, item in enumerate(terms):
        path = f"{base}[{t}]"
        data = _mapping(item, path)
        weight = data.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
            raise InvalidInputError(f"{path}.weight", weight, "must be an integer from 1 to 100")
        parsed.append((weight, _selector_term(data.get("preference"), f"{path}.preference")))
    return tuple(parsed)


def _container_resources(container: object, path: str) -> tuple[dict[str, int], bool]:
    """A container's requests (limits stand in for missing requests, as API defaulting does),
    and whether it is a restartable init container (a sidecar)."""
    data = _mapping(container, path)
    requests: dict[str, int] = {}
    # Absent fields are the common case: their paths (for errors) are not even spelled out.
    if (resources := data.get("resources")) is not None:
        resources = _mapping(resources, f"{path}.resources")
        if (listed := resources.get("requests")) is not None:
            requests = _resource_list(listed, f"{path}.resources.requests")
        if (listed := resources.get("limits")) is not None:
            for name, amount in _resource_list(listed, f"{path}.resources.limits").items():
                requests.setdefault(name, amount)
    policy = data.get("restartPolicy")
    sidecar = policy is not None and _str(policy, f"{path}.restartPolicy") == "Always"
    return requests, sidecar


def _add(into: dict[str, int], amounts: Mapping[str, int]) -> None:
    for name, amount in amounts.items():
        into[name] = into.get(name, 0) + amount


def _max(into: dict[str, int], amounts: Mapping[str, int]) -> None:
    for name, amount in amounts.items():
        into[name] = max(into.get(name, 0), amount)


def _score_default(requests: Mapping[str, int]) -> tuple[int, int]:
    cpu = requests.get(keys.CPU, 0) or keys.DEFAULT_SCORE_MILLI_CPU
    memory = requests.get(keys.MEMORY, 0) or keys.DEFAULT_SCORE_MEMORY
    return cpu, memory


def pod_requests(spec: Mapping[str, Any]) -> tuple[dict[str, int], int, int]:
    """Effective requests as kube-scheduler computes them, plus cpu/memory for scoring.

    max(sum of containers + sidecars, each init container + the sidecars started before it)
    + overhead; every pod also takes one ``pods`` slot.
    """
    containers = _list(spec.get("containers"), "spec.containers")
    if not containers:
        raise InvalidInputError("spec.containers", containers, "a pod needs at least one container")
    total: dict[str, int] = {}
    score_cpu = score_memory = 0
    for i, container in enumerate(containers):
        requests, _ = _container_resources(container, f"spec.containers[{i}]")
        _add(total, requests)
        cpu, memory = _score_default(requests)
        score_cpu += cpu
        score_memory += memory
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    init_score_cpu = init_score_memory = sidecar_cpu = sidecar_memory = 0
    for i, container in enumerate(_list(spec.get("initContainers"), "spec.initContainers")):
        requests, sidecar = _container_resources(container, f"spec.initContainers[{i}]")
        cpu, memory = _score_default(requests)
        if sidecar:
            _add(sidecars, requests)
            sidecar_cpu += cpu
            sidecar_memory += memory
            requests = dict(sidecars)
            cpu, memory = sidecar_cpu, sidecar_memory
        else:
            candidate = dict(sidecars)
            _add(candidate, requests)
            requests = candidate
            cpu, memory = cpu + sidecar_cpu, memory + sidecar_memory
        _max(init_peak, requests)
        init_score_cpu = max(init_score_cpu, cpu)
        init_score_memory = max(init_score_memory, memory)
    _add(total, sidecars)
    _max(total, init_peak)
    score_cpu = max(score_cpu + sidecar_cpu, init_score_cpu)
    score_memory = max(score_memory + sidecar_memory, init_score_memory)
    # Pod-level resources (spec.resources) replace the containers' sum for the resources they
    # name, as kube-scheduler's PodRequests does.
    for name, amount in _pod_level_requests(spec).items():
        total[name] = amount
        if name == keys.CPU:
            score_cpu = amount or keys.DEFAULT_SCORE_MILLI_CPU
        elif name == keys.MEMORY:
            score_memory = amount or keys.DEFAULT_SCORE_MEMORY
    overhead = _resource_list(spec.get("overhead"), "spec.overhead")
    _add(total, overhead)
    score_cpu += overhead.get(keys.CPU, 0)
    score_memory += overhead.get(keys.MEMORY, 0)
    total[keys.PODS] = 1
    return {k: v for k, v in total.items() if v}, score_cpu, score_memory


def _pod_level_requests(spec: Mapping[str, Any]) -> dict[str, int]:
    """``spec.resources`` requests (limits stand in for missing ones, as API defaulting does)
    of the resources Kubernetes supports at pod level: cpu, memory, hugepages."""
    resources = _mapping(spec.get("resources"), "spec.resources")
    if not resources:
        return {}
    requests = _resource_list(resources.get("requests"), "spec.resources.requests")
    limits = _resource_list(resources.get("limits"), "spec.resources.limits")
    for name, amount in limits.items():
        requests.setdefault(name, amount)
    return {
        name: amount
        for name, amount in requests.items()
        if name in {keys.CPU, keys.MEMORY} or name.startswith("hugepages-")
    }


# Pods of one workload request the same amounts: share one read-only mapping between them
# (tens of thousands of pods in a cache). Bounded, so odd workloads cannot grow it forever.
_SHARED_REQUESTS: dict[tuple[tuple[str, int], ...], Mapping[str, int]] = {}
_SHARED_LIMIT: Final = 4096


def shared_requests(requests: dict[str, int]) -> Mapping[str, int]:
    key = tuple(sorted(requests.items()))
    found = _SHARED_REQUESTS.get(key)
    if found is None:
        if len(_SHARED_REQUESTS) >= _SHARED_LIMIT:
            _SHARED_REQUESTS.clear()
        found = _SHARED_REQUESTS[key] = MappingProxyType(
            {sys.intern(k): v for k, v in requests.items()}
        )
    return found


_SHARED_LABELS: dict[frozenset[tuple[str, str]], Mapping[str, str]] = {}


def shared_labels(labels: Mapping[str, str]) -> Mapping[str, str]:
    """One read-only copy of each label set (replicas of a workload carry the same labels),
    keys and values interned; bounded like shared_requests."""
    if not labels:
        return _EMPTY_MAP
    key = frozenset(labels.items())
    found = _SHARED_LABELS.get(key)
    if found is None:
        if len(_SHARED_LABELS) >= _SHARED_LIMIT:
            _SHARED_LABELS.clear()
        found = _SHARED_LABELS[key] = MappingProxyType(
            {sys.intern(k): sys.intern(v) for k, v in labels.items()}
        )
    return found


_EMPTY_MAP: Mapping[str, str] = MappingProxyType({})


def _owner(meta: Mapping[str, Any]) -> OwnerRef | None:
    owners = _list(meta.get("ownerReferences"), "metadata.ownerReferences")
    chosen: OwnerRef | None = None
    for i, item in enumerate(owners):
        path = f"metadata.ownerReferences[{i}]"
        data = _mapping(item, path)
        ref = OwnerRef(
            kind=sys.intern(_str(data.get("kind"), f"{path}.kind", required=True)),
            name=_str(data.get("name"), f"{path}.name", required=True),
            uid=_str(data.get("uid"), f"{path}.uid"),
        )
        if data.get("controller") is True or chosen is None:
            chosen = ref
    return chosen


def _scheduling_gates(spec: Mapping[str, Any]) -> tuple[str, ...]:
    gates = _list(spec.get("schedulingGates"), "spec.schedulingGates")
    names = []
    for i, gate in enumerate(gates):
        data = _mapping(gate, f"spec.schedulingGates[{i}]")
        names.append(_str(data.get("name"), f"spec.schedulingGates[{i}].name", required=True))
    return tuple(names)


def host_ports(spec: Mapping[str, Any]) -> tuple[HostPort, ...]:
    """The host ports the pod's containers (and sidecars: restartable init containers, which
    run alongside them) hold on their node: (hostIP, protocol, port), as kube-scheduler's
    NodePorts reads them (hostIP "" is 0.0.0.0, protocol "" is TCP)."""
    found: list[HostPort] = []
    for group in ("initContainers", "containers"):
        for i, container in enumerate(_list(spec.get(group), f"spec.{group}")):
            if type(container) is dict and not container.get("ports"):
                continue  # most containers hold no port: their paths are not even spelled out
            data = _mapping(container, f"spec.{group}[{i}]")
            if group == "initContainers" and data.get("restartPolicy") != "Always":
                continue  # ran to completion before the others start
            for j, port in enumerate(_list(data.get("ports"), f"spec.{group}[{i}].ports")):
                path = f"spec.{group}[{i}].ports[{j}]"
                entry = _mapping(port, path)
                number = _int(entry.get("hostPort"), f"{path}.hostPort")
                if not number:
                    continue
                if not 1 <= number <= 65535:
                    raise InvalidInputError(f"{path}.hostPort", number, "must be 1 to 65535")
                protocol = _str(entry.get("protocol"), f"{path}.protocol") or "TCP"
                if protocol not in {"TCP", "UDP", "SCTP"}:
                    raise InvalidInputError(
                        f"{path}.protocol", protocol, "must be TCP, UDP or SCTP"
                    )
                ip = _str(entry.get("hostIP"), f"{path}.hostIP") or "0.0.0.0"
                found.append(HostPort(ip, protocol, number))
    return tuple(found)


def unsupported_fields(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """Rules in the pod spec the scheduler does not implement yet (field paths).

    Everything kube-scheduler's default plugins read is implemented but volumes that need
    binding and DRA claims.
    """
    found: list[str] = []
    for i, volume in enumerate(_list(spec.get("volumes"), "spec.volumes")):
        data = _mapping(volume, f"spec.volumes[{i}]")
        for source in ("persistentVolumeClaim", "ephemeral"):
            if data.get(source) is not None:
                found.append(f"spec.volumes[{i}].{source}")
    if _list(spec.get("resourceClaims"), "spec.resourceClaims"):
        found.append("spec.resourceClaims")
    return tuple(found)


@dataclass(frozen=True, slots=True)
class _PlacementRules:
    """What a pod asks of its placement (read only while it waits to be placed)."""

    node_selector: tuple[tuple[str, str], ...] = ()
    required_affinity: tuple[SelectorTerm, ...] | None = None
    preferred_affinity: tuple[tuple[int, SelectorTerm], ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    gates: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    pod_affinity: PodAffinity | None = None
    spread: tuple[SpreadConstraint, ...] = ()


def _placement_rules(
    spec: Mapping[str, Any], namespace: str, labels: Mapping[str, str]
) -> _PlacementRules:
    selector = _string_map(spec.get("nodeSelector"), "spec.nodeSelector")
    return _PlacementRules(
        pod_affinity=pod_affinity(spec, namespace, labels) or None,
        spread=spread_constraints(spec, labels),
        node_selector=tuple(sorted(selector.items())),
        required_affinity=_required_affinity(spec),
        preferred_affinity=_preferred_affinity(spec),
        tolerations=tuple(
            parse_toleration(item, f"spec.tolerations[{i}]")
            for i, item in enumerate(_list(spec.get("tolerations"), "spec.tolerations"))
        ),
        gates=_scheduling_gates(spec),
        unsupported=unsupported_fields(spec),
    )


def _start_time(status: Mapping[str, Any]) -> float | None:
    """status.startTime (the kubelet writes it; unreadable: unknown, never an error)."""
    try:
        return _timestamp(status.get("startTime"), "status.startTime")
    except InvalidInputError:
        return None


def _preemption_policy(spec: Mapping[str, Any]) -> str:
    policy = _str(spec.get("preemptionPolicy"), "spec.preemptionPolicy") or PREEMPT_LOWER_PRIORITY
    if policy not in PREEMPTION_POLICIES:
        raise InvalidInputError(
            "spec.preemptionPolicy", policy, f"must be one of {sorted(PREEMPTION_POLICIES)}"
        )
    return policy


def _placed_pod_affinity(
    spec: Mapping[str, Any], namespace: str, labels: Mapping[str, str]
) -> PodAffinity | None:
    """A placed pod's inter-pod affinity, read on its own (None when unreadable too)."""
    try:
        return pod_affinity(spec, namespace, labels) or None
    except InvalidInputError:
        return None


def _host_ports_or_none(spec: Mapping[str, Any], placed: bool) -> tuple[HostPort, ...]:
    """Host ports; a placed pod whose ports cannot be read holds none we know of (it runs
    anyway), a pending one is refused naming the field."""
    try:
        return host_ports(spec)
    except InvalidInputError:
        if not placed:
            raise
        return ()


def pod_from_dict(obj: Mapping[str, Any]) -> PodInfo:
    """Read a Pod object into the compact record the scheduler keeps."""
    return _read_pod(obj, slim=False, keep_owner=True)


def placed_pod_from_dict(obj: Mapping[str, Any], *, keep_owner: bool) -> PodInfo:
    """A pod on its node, read for what counting it needs, and no more: its requests, ports,
    labels and pod (anti-)affinity (pods placed later match against them), gang, priority class
    (preemption ranks victims by it), and our own placement annotations; not the rules it was
    placed by (the daemon's cache of 50,000 pods reads faster and stays small). ``keep_owner``:
    its controller is kept (our pods: services' replicas are counted by owner). A pod not placed
    is read in full."""
    return _read_pod(obj, slim=True, keep_owner=keep_owner)


def _ours(annotation: str) -> bool:
    return "kubenexus.io" in annotation or annotation == keys.CPU_SET


def _read_pod(obj: Mapping[str, Any], *, slim: bool, keep_owner: bool) -> PodInfo:
    meta = _mapping(obj.get("metadata"), "metadata")
    spec = _mapping(obj.get("spec"), "spec")
    status = _mapping(obj.get("status"), "status")
    requests, score_cpu, score_memory = pod_requests(spec)
    namespace = sys.intern(_str(meta.get("namespace"), "metadata.namespace") or "default")
    labels = _string_map(meta.get("labels"), "metadata.labels")
    annotations = _string_map(meta.get("annotations"), "metadata.annotations")
    membership = gang_membership(labels, annotations)
    node_name = sys.intern(_str(spec.get("nodeName"), "spec.nodeName"))
    slim = slim and bool(node_name)
    role = sys.intern(pod_role(labels, annotations))
    kept_labels: Mapping[str, str] = labels
    kept_annotations: Mapping[str, str] = annotations
    if slim:
        # Already on its node: its usage and its pod (anti-)affinity (which binds pods placed
        # after it) matter, not the rules it was placed by.
        rules = _PlacementRules(pod_affinity=_placed_pod_affinity(spec, namespace, labels))
        kept = {k: v for k, v in annotations.items() if _ours(k)}
        kept_annotations = MappingProxyType(kept) if kept else _EMPTY_MAP
        kept_labels = shared_labels(labels)
    else:
        try:
            rules = _placement_rules(spec, namespace, labels)
        except InvalidInputError:
            if not node_name:
                raise
            # It must be counted whatever other rules it carries that we cannot read (the API
            # server accepts some we refuse, e.g. Gt with a non-integer).
            rules = _PlacementRules(pod_affinity=_placed_pod_affinity(spec, namespace, labels))
    return PodInfo(
        namespace=namespace,
        name=_str(meta.get("name"), "metadata.name", required=True),
        uid=_str(meta.get("uid"), "metadata.uid"),
        requests=shared_requests(requests),
        scheduler_name=sys.intern(_str(spec.get("schedulerName"), "spec.schedulerName")),
        node_name=node_name,
        phase=sys.intern(_str(status.get("phase"), "status.phase") or "Pending"),
        priority=_int(spec.get("priority"), "spec.priority"),
        # Kept on placed pods too: a victim's class makes it preemptible or gives its tier.
        priority_class_name=sys.intern(
            _str(spec.get("priorityClassName"), "spec.priorityClassName")
        ),
        created=_timestamp(meta.get("creationTimestamp"), "metadata.creationTimestamp"),
        started=_start_time(status),
        # A placed pod preempts no one: only a pending pod's policy must be readable.
        preemption_policy=_preemption_policy(spec) if not node_name else PREEMPT_LOWER_PRIORITY,
        nominated_node=sys.intern(nominated)
        if isinstance(nominated := status.get("nominatedNodeName"), str)
        else "",
        score_cpu=score_cpu,
        score_memory=score_memory,
        node_selector=rules.node_selector,
        required_affinity=rules.required_affinity,
        preferred_affinity=rules.preferred_affinity,
        tolerations=rules.tolerations,
        host_ports=_host_ports_or_none(spec, bool(node_name)),
        pod_affinity=rules.pod_affinity,
        spread=rules.spread,
        # Only a pod still to be placed needs them.
        images=() if node_name else tuple(sys.intern(i) for i in container_images(spec)),
        labels=kept_labels,
        annotations=kept_annotations,
        owner=_owner(meta) if keep_owner or not slim else None,
        deleting=meta.get("deletionTimestamp") is not None,
        gates=rules.gates,
        unsupported=rules.unsupported,
        gang=sys.intern(f"{namespace}/{membership.name}") if membership.name else "",
        gang_min=membership.min_member,
        gang_error=membership.error,
        role=role,
        app=sys.intern(f"{namespace}/{application}") if (application := app_name(labels)) else "",
    )
