"""``kubenexus simulate``: the scheduling core against a cluster and workload from YAML files.

Input is ordinary Kubernetes YAML: ``Node``, ``Pod``, ``Job`` (parallelism expanded into pods),
``Deployment``/``ReplicaSet``/``StatefulSet``/``ReplicationController`` (replicas expanded;
their selectors, and those of ``Service`` objects, spread the pods they select by default, as
in the daemon), ``PriorityClass``,
``PodGroup``, ``ResourceReservation``, ``ResourceSlice``, ``Namespace`` (its labels: tenant
tiers, namespaceSelectors) and ``List``. Each pod's workload profile (tenant tier, workload type)
is shown where something set it. Pods with no
``schedulerName`` are taken as ours; pods naming another scheduler are left to it; pods carrying
``nodeName`` run there and use its capacity.

DRA ResourceSlices (``resource.k8s.io/v1``) are given to the scheduler per node, as the daemon's
informer gives them (``Scheduler.set_node_slices``): a node's GPUs are read from them first (the
one GPU model, ``kubenexus.api.gpu``). A slice that cannot be read leaves its node without GPU
data and is named in a note (the daemon's ``InvalidGPUData`` Event); so are GPU sources that
disagree (``GPUDataDisagree``) and slices that name no node of the input. The node table shows
each node's GPUs: kinds, memory per card, where they were read from.

ResourceReservations in the input (named slots or the ``resources`` + ``count`` shorthand) are
given to the scheduler before any pod is tried, as objects already in the cluster would be: their
slots are held, nodes are chosen for slots that name none, and an object that cannot be honoured
is shown Invalid with the reason. The output lists every reservation, those in the input and
those the scheduler made for drivers, with each slot's node, state and claiming pod.

Drivers and their executors: Spark (and Ray) create executors only once the driver runs, but a
file holds them all at once. Queued together, an executor popped before its driver would find no
reservation to claim and be placed as an ordinary pod, and the driver would then hold room for
executors that already took some: twice the room, and not the flow a cluster sees. So an
executor (role executor) whose driver (role driver, same group: PodGroup or application id) is
in the input and not running yet is queued only when that driver is placed, behind the pods
already waiting; if the driver is not placed (it does not fit, it is gated...) its executors are
listed as ``WaitingForDriver``, never tried. Executors without such a driver (a driver already
running, a hand-written reservation) are queued with everything else.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, get_args

import yaml

from kubenexus.api import keys
from kubenexus.api.fields import string_map_at
from kubenexus.api.gang import PodGroupSpec, pod_group_spec
from kubenexus.api.gpu import NodeGpus
from kubenexus.api.objects import (
    PREEMPT_LOWER_PRIORITY,
    PREEMPTION_POLICIES,
    NodeInfo,
    PodInfo,
    node_from_dict,
    pod_from_dict,
)
from kubenexus.api.profile import WorkloadProfile
from kubenexus.api.quantity import format_amount
from kubenexus.api.reservation import KIND as RESERVATION_KIND
from kubenexus.api.reservation import ReservationSpec, reservation_from_dict
from kubenexus.api.workloads import (
    REPLICA_SET,
    REPLICATION_CONTROLLER,
    SERVICE,
    WorkloadSelector,
    workload_selector,
)
from kubenexus.api.workloads import (
    WORKLOAD_KINDS as SELECTING_KINDS,
)
from kubenexus.config import SchedulerConfiguration, build_scheduler
from kubenexus.errors import InputFileError, InvalidInputError
from kubenexus.scheduler import Outcome, Scheduled, Scheduler

# PriorityClass values the API server accepts (scheduling/v1 validation).
_LOWEST_PRIORITY: Final = -(2**31)
_HIGHEST_USER_PRIORITY: Final = 1_000_000_000
_HIGHEST_SYSTEM_PRIORITY: Final = 2_000_001_000
# Pods one Job/Deployment/ReplicaSet/StatefulSet may stand for: a typo'd replicas must be an
# error, not a run that fills the memory.
MAX_EXPANDED_PODS: Final = 1_000_000
# Rounds of preemption the simulator follows (each: victims removed, preemptors tried again).
_PREEMPTION_ROUNDS: Final = 20

PodStatus = Literal[
    "Scheduled",
    "Unschedulable",
    "Running",
    "OtherScheduler",
    "Finished",
    "Terminating",
    "Gated",
    "WaitingForDriver",
    "Preempted",
]
WORKLOAD_KINDS: Final = {
    "Job": "parallelism",
    "Deployment": "replicas",
    "ReplicaSet": "replicas",
    "StatefulSet": "replicas",
    "ReplicationController": "replicas",
}
# A Deployment's pods belong to its ReplicaSet (whose selector is the Deployment's): the kind
# default spreading reads, as in a cluster.
_POD_OWNER_KIND: Final = {"Deployment": REPLICA_SET}


@dataclass(frozen=True, slots=True)
class PodResult:
    pod: str
    status: PodStatus
    node: str = ""
    message: str = ""
    # Placement annotations written before binding (NUMA zones, cpu-set).
    annotations: Mapping[str, str] = field(default_factory=dict)
    # Its workload profile (tenant tier, workload type), as the scheduler computed it.
    profile: WorkloadProfile | None = None


@dataclass(frozen=True, slots=True)
class GpuKind:
    """The GPUs of one kind on a node."""

    family: str  # "H100-80GB"; "" when the source names no product
    product: str  # as the source publishes it, "NVIDIA-H100-80GB-HBM3"
    memory: int  # bytes per card as the source reports it, 0 when unknown
    count: int


@dataclass(frozen=True, slots=True)
class NodeGpuUsage:
    """A node's GPUs as the one GPU model reads them, and how many are in use."""

    count: int
    used: int  # nvidia.com/gpu requested on the node (device-plugin GPUs: per node)
    kinds: tuple[GpuKind, ...]  # smallest memory first
    source: str  # "ResourceSlice" | "gpu-feature-discovery" | "nfd" | "labels"


@dataclass(frozen=True, slots=True)
class NodeUsage:
    name: str
    allocatable: Mapping[str, int]
    requested: Mapping[str, int]
    pods: int
    gpus: NodeGpuUsage | None = None  # None: no GPU data
    gpu_problem: str = ""  # why its GPU data was ignored


@dataclass(frozen=True, slots=True)
class SlotResult:
    name: str
    node: str  # "" while not chosen
    state: str  # Free, Claimed, Released
    pod: str = ""  # the claiming pod, namespace/name


@dataclass(frozen=True, slots=True)
class ReservationResult:
    name: str  # namespace/name
    pod_group: str  # namespace/name, "" when the object is too malformed to say
    phase: str  # Pending, Active, Released, Expired, Invalid
    claimed: int
    total: int
    message: str
    # The driver it was made for (namespace/name), "" for one from the input.
    driver: str = ""
    # Seconds from the start of the simulation until unclaimed slots are released.
    expires_in: float | None = None
    slots: tuple[SlotResult, ...] = ()


@dataclass(slots=True)
class SimulationResult:
    pods: list[PodResult] = field(default_factory=list)
    nodes: list[NodeUsage] = field(default_factory=list)
    reservations: list[ReservationResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The scheduler as the run left it (for explain and the report to ask about).
    scheduler: Scheduler | None = field(default=None, repr=False, compare=False)

    def count(self, status: PodStatus) -> int:
        return sum(1 for p in self.pods if p.status == status)


@dataclass(frozen=True, slots=True)
class _Document:
    source: str
    number: int
    body: Mapping[str, Any]

    @property
    def label(self) -> str:
        kind = self.body.get("kind", "?")
        meta = self.body.get("metadata")
        name = meta.get("name", "?") if isinstance(meta, Mapping) else "?"
        return f"{self.source}: document {self.number} ({kind} {name})"


def _read_documents(path: Path) -> Iterator[_Document]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        loaded = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise InputFileError(f"{path}: not valid YAML{where}: {problem}") from None
    for number, body in enumerate(loaded, start=1):
        if body is None:
            continue
        if not isinstance(body, Mapping):
            raise InputFileError(f"{path}: document {number}: expected a Kubernetes object mapping")
        if body.get("kind") == "List":
            items = body.get("items")
            if not isinstance(items, list):
                raise InputFileError(f"{path}: document {number} (List): items: expected a list")
            for i, item in enumerate(items):
                if not isinstance(item, Mapping):
                    raise InputFileError(
                        f"{path}: document {number} (List): items[{i}]: expected a mapping"
                    )
                yield _Document(str(path), number, item)
        else:
            yield _Document(str(path), number, body)


def _expand(doc: _Document) -> Iterator[tuple[dict[str, Any], str]]:
    """Pod bodies a document stands for, each with the field prefix its errors should carry."""
    kind = doc.body.get("kind")
    if kind == "Pod":
        yield copy.deepcopy(dict(doc.body)), ""
        return
    count_field = WORKLOAD_KINDS[str(kind)]
    meta = doc.body.get("metadata") or {}
    spec = doc.body.get("spec") or {}
    if not isinstance(meta, Mapping) or not isinstance(spec, Mapping):
        raise InputFileError(f"{doc.label}: metadata and spec must be mappings")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise InputFileError(f"{doc.label}: metadata.name: is required")
    count = spec.get(count_field, 1)
    if kind == "Job" and isinstance(spec.get("completions"), int) and isinstance(count, int):
        count = min(count, spec["completions"])
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InputFileError(
            f"{doc.label}: spec.{count_field}: expected a non-negative integer (got {count!r})"
        )
    if count > MAX_EXPANDED_PODS:
        raise InputFileError(
            f"{doc.label}: spec.{count_field}: the simulator expands at most "
            f"{MAX_EXPANDED_PODS} pods per object (got {count!r})"
        )
    template = spec.get("template")
    if not isinstance(template, Mapping):
        raise InputFileError(f"{doc.label}: spec.template: is required")
    template_meta = template.get("metadata") or {}
    if not isinstance(template_meta, Mapping):
        raise InputFileError(
            f"{doc.label}: spec.template.metadata: expected a mapping (got {template_meta!r})"
        )
    template_labels = template_meta.get("labels") or {}
    if not isinstance(template_labels, Mapping):
        raise InputFileError(
            f"{doc.label}: spec.template.metadata.labels: expected a mapping "
            f"(got {template_labels!r})"
        )
    for index in range(count):
        body = copy.deepcopy(dict(template))
        pod_meta = dict(body.get("metadata") or {})
        pod_meta["name"] = f"{name}-{index}"
        pod_meta.setdefault("namespace", meta.get("namespace", "default"))
        labels = dict(pod_meta.get("labels") or {})
        if kind == "Job":
            for key in keys.JOB_NAME_LABELS:
                labels.setdefault(key, name)
        pod_meta["labels"] = labels
        owner_kind = _POD_OWNER_KIND.get(str(kind), kind)
        pod_meta["ownerReferences"] = [{"kind": owner_kind, "name": name, "controller": True}]
        body["metadata"] = pod_meta
        yield body, "spec.template"


@dataclass(frozen=True, slots=True)
class _PriorityClass:
    value: int
    preemption_policy: str  # PreemptLowerPriority or Never


# Every cluster has these (kube-apiserver creates them): pods dumped from one name them.
_BUILT_IN_CLASSES: Final = {
    "system-cluster-critical": _PriorityClass(2_000_000_000, PREEMPT_LOWER_PRIORITY),
    "system-node-critical": _PriorityClass(2_000_001_000, PREEMPT_LOWER_PRIORITY),
}


def _resolve_priority(
    body: dict[str, Any], classes: Mapping[str, _PriorityClass], default: _PriorityClass | None
) -> None:
    """What the Priority admission plugin writes into a pod: its class's value and
    preemptionPolicy (a ``priority`` given in the file wins, for short examples)."""
    spec = body.get("spec")
    if not isinstance(spec, dict):
        return
    name = spec.get("priorityClassName")
    if name:
        if name not in classes:
            raise InvalidInputError(
                "spec.priorityClassName", name, "no PriorityClass with this name"
            )
        chosen: _PriorityClass | None = classes[name]
    else:
        chosen = default
    if chosen is None:
        return
    spec.setdefault("priority", chosen.value)
    spec.setdefault("preemptionPolicy", chosen.preemption_policy)


# The API server's DefaultTolerationSeconds admission gives every pod these (unless a
# toleration of its own already covers them): a node tainted not-ready or unreachable keeps
# its pods for 5 minutes, and takes new ones, as in a cluster.
_DEFAULT_TOLERATED: Final = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def _default_tolerations(body: dict[str, Any]) -> None:
    spec = body.get("spec")
    if not isinstance(spec, dict):
        return
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return  # pod_from_dict names the field
    for key in _DEFAULT_TOLERATED:
        covered = any(
            isinstance(t, dict)
            and t.get("key", "") in {key, ""}
            and t.get("effect", "") in {"NoExecute", ""}
            for t in tolerations
        )
        if not covered:
            tolerations = [
                *tolerations,
                {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ]
    spec["tolerations"] = tolerations


def _error(doc: _Document, prefix: str, exc: InvalidInputError) -> InputFileError:
    field_path = exc.field
    if prefix:
        field_path = f"{prefix}.{field_path}" if field_path else prefix
    return InputFileError(f"{doc.label}: {field_path}: {exc.reason} (got {exc.value!r})")


def _claim(owners: dict[str, str], key: str, what: str, doc: _Document) -> None:
    """Record where an object is defined; a second definition is an error naming the first."""
    if key in owners:
        raise InputFileError(
            f"{doc.label}: metadata.name: {what} is already defined in {owners[key]}"
        )
    owners[key] = f"{doc.source} document {doc.number}"


def _priority_class(doc: _Document) -> tuple[str, _PriorityClass]:
    """A PriorityClass's name and what it gives pods, checked as the API server checks it."""
    meta = doc.body.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not isinstance(name, str) or not name:
        raise InputFileError(f"{doc.label}: metadata.name: is required (got {name!r})")
    value = doc.body.get("value")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputFileError(f"{doc.label}: value: expected an integer (got {value!r})")
    # Only the built-in system- classes may go above the highest user-definable priority.
    highest = _HIGHEST_SYSTEM_PRIORITY if name.startswith("system-") else _HIGHEST_USER_PRIORITY
    if not _LOWEST_PRIORITY <= value <= highest:
        bound = f"at least {_LOWEST_PRIORITY}" if value < _LOWEST_PRIORITY else f"at most {highest}"
        raise InputFileError(f"{doc.label}: value: must be {bound} (got {value!r})")
    policy = doc.body.get("preemptionPolicy", PREEMPT_LOWER_PRIORITY)
    if policy not in PREEMPTION_POLICIES:
        raise InputFileError(
            f"{doc.label}: preemptionPolicy: must be PreemptLowerPriority or Never (got {policy!r})"
        )
    return name, _PriorityClass(value, str(policy))


def _priority_classes(
    documents: list[_Document],
) -> tuple[dict[str, _PriorityClass], _PriorityClass | None]:
    """PriorityClasses by name (the built-in system ones unless the input redefines them),
    and the global default (None: no default)."""
    classes: dict[str, _PriorityClass] = dict(_BUILT_IN_CLASSES)
    owners: dict[str, str] = {}
    default: _PriorityClass | None = None
    for doc in documents:
        if doc.body.get("kind") == "PriorityClass":
            name, priority_class = _priority_class(doc)
            _claim(owners, name, f"PriorityClass {name!r}", doc)
            classes[name] = priority_class
            if doc.body.get("globalDefault") is True:
                default = priority_class
    return classes, default


class _Inputs:
    def __init__(self) -> None:
        self.nodes: list[NodeInfo] = []
        self.pods: list[PodInfo] = []
        self.pod_groups: dict[str, PodGroupSpec] = {}
        self.reservations: list[ReservationSpec] = []
        # DRA ResourceSlices by the node they name (spec.nodeName), in input order.
        self.slices: dict[str, list[Mapping[str, Any]]] = {}
        # Namespaces given as objects: their labels (tenant tiers, namespaceSelectors).
        self.namespaces: dict[str, Mapping[str, str]] = {}
        self.notes: list[str] = []
        # Selectors of Services and of the workloads expanded into pods (default spreading).
        self.workloads: list[WorkloadSelector] = []

    def load(self, paths: list[Path]) -> None:
        documents = [doc for path in paths for doc in _read_documents(path)]
        classes, default_priority = _priority_classes(documents)
        ignored: dict[str, int] = {}
        node_docs: dict[str, str] = {}
        pod_docs: dict[str, str] = {}
        reservation_docs: dict[str, str] = {}
        slice_docs: dict[str, str] = {}
        for doc in documents:
            kind = doc.body.get("kind")
            if kind is not None and not isinstance(kind, str):
                raise InputFileError(f"{doc.label}: kind: expected a string (got {kind!r})")
            if kind == "Node":
                try:
                    node = node_from_dict(doc.body, default_pods=keys.DEFAULT_MAX_PODS)
                except InvalidInputError as exc:
                    raise _error(doc, "", exc) from None
                _claim(node_docs, node.name, f"node {node.name!r}", doc)
                self.nodes.append(node)
            elif kind == "Pod" or kind in WORKLOAD_KINDS or kind == SERVICE:
                if kind in SELECTING_KINDS or kind == "Deployment":
                    self._workload(doc)
                if kind == SERVICE:
                    continue
                for body, prefix in _expand(doc):
                    try:
                        _resolve_priority(body, classes, default_priority)
                        _default_tolerations(body)
                        pod = pod_from_dict(body)
                    except InvalidInputError as exc:
                        raise _error(doc, prefix, exc) from None
                    _claim(pod_docs, pod.key, f"pod {pod.full_name}", doc)
                    self.pods.append(pod)
            elif kind == "PodGroup":
                self._pod_group(doc)
            elif kind == RESERVATION_KIND:
                try:  # only a missing name raises: a malformed spec is kept, shown Invalid
                    reservation = reservation_from_dict(doc.body)
                except InvalidInputError as exc:
                    raise _error(doc, "", exc) from None
                _claim(reservation_docs, reservation.key, f"{kind} {reservation.key}", doc)
                self.reservations.append(reservation)
            elif kind == "ResourceSlice":
                self._resource_slice(doc, slice_docs)
            elif kind == "Namespace":
                self._namespace(doc)
            elif kind != "PriorityClass":
                label = str(kind) if kind else "objects without a kind"
                ignored[label] = ignored.get(label, 0) + 1
        for kind, count in sorted(ignored.items()):
            self.notes.append(f"ignored {count} {kind} (not used by the simulator)")
        known = set(node_docs)
        for node_name in [n for n in self.slices if n not in known]:
            for given in self.slices.pop(node_name):
                self.notes.append(
                    f"ResourceSlice {_slice_name(given)}: spec.nodeName {node_name!r} is not a "
                    "node of the input: not read"
                )

    def _workload(self, doc: _Document) -> None:
        """The selector of a Service or of the controller of expanded pods: pods it selects are
        spread by default (PodTopologySpread's default constraints), as the daemon does."""
        body = dict(doc.body)
        if body.get("kind") == "Deployment":
            body["kind"] = REPLICA_SET  # its pods' controller, with the Deployment's selector
        spec = body.get("spec")
        if body["kind"] == REPLICATION_CONTROLLER and isinstance(spec, Mapping):
            template = spec.get("template")
            meta = template.get("metadata") if isinstance(template, Mapping) else None
            labels = meta.get("labels") if isinstance(meta, Mapping) else None
            if spec.get("selector") is None and labels:
                # As the API server defaults it: the template's labels.
                body["spec"] = dict(spec, selector=labels)
        try:
            self.workloads.append(workload_selector(body))
        except InvalidInputError as exc:
            raise _error(doc, "", exc) from None

    def _resource_slice(self, doc: _Document, owners: dict[str, str]) -> None:
        """Keep a slice for the node it names; whatever else is wrong with it is found when
        the scheduler reads it (the node then has no GPU data, and a note says why)."""
        meta = doc.body.get("metadata")
        name = meta.get("name") if isinstance(meta, Mapping) else None
        if isinstance(name, str) and name:
            _claim(owners, name, f"ResourceSlice {name!r}", doc)
        spec = doc.body.get("spec")
        node = spec.get("nodeName") if isinstance(spec, Mapping) else None
        if not isinstance(node, str) or not node:
            # perDeviceNodeSelection, nodeSelector, allNodes: not one node's GPUs (the daemon
            # does not read them either).
            self.notes.append(
                f"{doc.label}: no spec.nodeName (devices not local to one node): not read"
            )
            return
        self.slices.setdefault(node, []).append(doc.body)

    def _namespace(self, doc: _Document) -> None:
        meta = doc.body.get("metadata")
        name = meta.get("name") if isinstance(meta, Mapping) else None
        if name is None or name == "":
            raise InputFileError(f"{doc.label}: metadata.name: is required")
        if not isinstance(name, str) or not isinstance(meta, Mapping):
            raise InputFileError(f"{doc.label}: metadata.name: expected a string (got {name!r})")
        try:
            labels = string_map_at(meta.get("labels"), "metadata.labels")
        except InvalidInputError as exc:
            raise _error(doc, "", exc) from None
        if name in self.namespaces:
            raise InputFileError(f"{doc.label}: namespace {name!r} is given twice")
        self.namespaces[name] = labels

    def _pod_group(self, doc: _Document) -> None:
        meta = doc.body.get("metadata")
        spec = doc.body.get("spec")
        if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str):
            raise InputFileError(f"{doc.label}: metadata.name: is required")
        if not isinstance(spec, Mapping):
            raise InputFileError(f"{doc.label}: spec: expected a mapping (got {spec!r})")
        key = f"{meta.get('namespace') or 'default'}/{meta['name']}"
        if key in self.pod_groups:
            raise InputFileError(f"{doc.label}: metadata.name: PodGroup {key} is already defined")
        try:
            self.pod_groups[key] = pod_group_spec(spec)
        except InvalidInputError as exc:
            raise _error(doc, "", exc) from None


def simulate(
    cluster: str | Path,
    workload: str | Path | None = None,
    config: SchedulerConfiguration | None = None,
) -> SimulationResult:
    paths = [Path(cluster)] + ([Path(workload)] if workload is not None else [])
    inputs = _Inputs()
    inputs.load(paths)
    started = time.time()
    # The clock stands still but when preempted pods are gone: then it moves past the
    # preemptors' backoff (see _schedule).
    now = [started]
    scheduler = build_scheduler(config, clock=lambda: now[0])
    ours = next(iter(scheduler.profiles))
    result = SimulationResult(notes=inputs.notes)
    for name, labels in inputs.namespaces.items():
        scheduler.set_namespace(name, labels)
    for workload_kind, namespace, name, selector in inputs.workloads:
        scheduler.set_workload_selector(workload_kind, namespace, name, selector)
    for node in inputs.nodes:
        scheduler.upsert_node(node)
    for name, slices in inputs.slices.items():
        scheduler.set_node_slices(name, slices)
    result.notes += _gpu_notes(scheduler, [node.name for node in inputs.nodes])
    for key, spec in inputs.pod_groups.items():
        scheduler.upsert_pod_group(key, spec)

    order: list[str] = []
    rows: dict[str, PodResult] = {}
    queued: list[PodInfo] = []
    for given in inputs.pods:
        order.append(given.key)
        pod = given if given.scheduler_name else replace(given, scheduler_name=ours)
        if pod.terminal:
            rows[pod.key] = PodResult(
                pod.full_name, "Finished", pod.node_name, f"phase {pod.phase}"
            )
        elif pod.node_name:
            rows[pod.key] = PodResult(pod.full_name, "Running", pod.node_name)
            if pod.node_name not in scheduler.cache.nodes:
                result.notes.append(f"pod {pod.full_name} runs on unknown node {pod.node_name!r}")
        elif (skipped := _not_tried(pod, scheduler)) is not None:
            rows[pod.key] = skipped
            continue
        else:
            queued.append(pod)
            continue
        scheduler.upsert_pod(pod)  # counted where it runs, before reservations choose nodes
    for reservation in inputs.reservations:
        scheduler.upsert_reservation(reservation)
    # Groups with a driver not running yet (to be placed, or gated...): their executors wait.
    drivers = {pod.group for pod in inputs.pods if _pending(pod, "driver")}
    rows.update(_schedule(scheduler, queued, drivers, result.notes, now))
    profiles = scheduler.cache.nodes.profiles
    for given in inputs.pods:
        pod = given if given.scheduler_name else replace(given, scheduler_name=ours)
        profile = profiles.of(pod)
        rows[pod.key] = replace(rows[pod.key], profile=profile)
        result.notes += [f"pod {pod.full_name}: {problem}" for problem in profile.problems]
    result.pods = [rows[key] for key in order]
    result.reservations = _reservations(scheduler, started)
    result.nodes = _node_usage(scheduler)
    result.scheduler = scheduler
    return result


def _slice_name(body: Mapping[str, Any]) -> str:
    meta = body.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return name if isinstance(name, str) and name else "(no metadata.name)"


def _gpu_notes(scheduler: Scheduler, names: list[str]) -> list[str]:
    """What the daemon would post as Warning Events on the nodes: GPU data that cannot be read
    (InvalidGPUData), sources that disagree (GPUDataDisagree); and the model's own warnings."""
    notes = []
    for name in names:
        node = scheduler.cache.node_info(name)
        if node is None:
            continue
        if node.gpu_problem:
            notes.append(f"node {name}: GPU data ignored (InvalidGPUData): {node.gpu_problem}")
        if node.gpus is not None:
            notes += [
                f"node {name}: GPU sources disagree (GPUDataDisagree): {text}"
                for text in node.gpus.disagreements
            ]
            notes += [f"node {name}: {text}" for text in node.gpus.warnings]
    return notes


def _not_tried(pod: PodInfo, scheduler: Scheduler) -> PodResult | None:
    """The row of a pending pod the scheduler leaves alone (another scheduler's, being deleted,
    gated); None for a pod to schedule."""
    if pod.scheduler_name and not scheduler.responsible_for(pod):
        return PodResult(pod.full_name, "OtherScheduler", message=f"left to {pod.scheduler_name}")
    if pod.deleting:
        return PodResult(
            pod.full_name, "Terminating", message="being deleted (deletionTimestamp): not tried"
        )
    if pod.gates:
        return PodResult(
            pod.full_name,
            "Gated",
            message=f"scheduling gates {', '.join(pod.gates)}: not tried until removed",
        )
    return None


def _pending(pod: PodInfo, role: str) -> bool:
    return pod.role == role and bool(pod.group) and not pod.node_name and not pod.terminal


def _schedule(
    scheduler: Scheduler,
    pods: list[PodInfo],
    drivers: set[str],
    notes: list[str],
    now: list[float],
) -> dict[str, PodResult]:
    """Feed the pods to the scheduler and run it until idle; the row of every pending pod.
    Executors whose driver is still to be placed are queued once it is (the module's
    docstring says why). Pods evicted by a preemption are removed at once (as the API would
    report them deleted) and the row says who preempted them; their preemptors are tried
    again past their backoff."""
    rows: dict[str, PodResult] = {}
    later: dict[str, list[PodInfo]] = {}
    evicted: list[str] = []  # victims removed since the last round
    for pod in pods:
        if _pending(pod, "executor") and pod.group in drivers:
            later.setdefault(pod.group, []).append(pod)
        else:
            scheduler.upsert_pod(pod)
    deferred = sum(len(executors) for executors in later.values())

    def record(outcome: Outcome) -> None:
        name = outcome.pod.full_name
        if isinstance(outcome, Scheduled):
            written = {k: v for k, v in outcome.placement.annotations.items() if v is not None}
            rows[outcome.pod.key] = PodResult(
                name, "Scheduled", outcome.node, _describe(written), written
            )
            if outcome.pod.role == "driver":
                for executor in later.pop(outcome.pod.group, []):
                    scheduler.upsert_pod(executor)
        else:
            rows[outcome.pod.key] = PodResult(name, "Unschedulable", message=outcome.message)
            if outcome.preemption is not None:
                preemption = outcome.preemption
                for victim in preemption.victims:
                    rows[victim.key] = PodResult(
                        victim.full_name,
                        "Preempted",
                        victim.node_name,
                        message=preemption.victim_message(),
                    )
                    scheduler.remove_pod(victim.key)
                    evicted.append(victim.key)

    scheduler.expire_reservations()  # the input's reservations whose time to live passed
    scheduler.run_until_idle(record)
    for _ in range(_PREEMPTION_ROUNDS):
        if not evicted:
            break
        evicted.clear()
        now[0] += scheduler.queue.settings.max_backoff_seconds + 1
        scheduler.run_until_idle(record)
    for group, executors in later.items():
        for executor in executors:
            rows[executor.key] = PodResult(
                executor.full_name,
                "WaitingForDriver",
                message=f"not tried: no driver of {group} was placed, and executors are "
                "created by their running driver",
            )
    if deferred:
        notes.append(
            f"{deferred} executor{'s' if deferred != 1 else ''} held back until their driver "
            "was placed (Spark and Ray create executors when the driver runs)"
        )
    return rows


def _node_usage(scheduler: Scheduler) -> list[NodeUsage]:
    """Each node's allocatable and requested amounts (reserved, unclaimed slots count as
    requested: no other pod may use them)."""
    table = scheduler.cache.nodes
    usage = []
    for name in table.names_in_order():
        slot = table.index[name]
        allocatable = {r: int(table.allocatable[i, slot]) for r, i in table.resource_index.items()}
        requested = {r: int(table.requested[i, slot]) for r, i in table.resource_index.items()}
        node = table.node(slot)
        usage.append(
            NodeUsage(
                name,
                allocatable,
                requested,
                pods=requested.get(keys.PODS, 0),
                gpus=_gpu_usage(node.gpus, requested.get(keys.GPU_NVIDIA, 0)),
                gpu_problem=node.gpu_problem,
            )
        )
    return usage


def _gpu_usage(gpus: NodeGpus | None, used: int) -> NodeGpuUsage | None:
    if gpus is None:
        return None
    counts: dict[tuple[str, str, int], int] = {}
    for device in gpus.devices:
        key = (device.family, device.product, device.memory)
        counts[key] = counts.get(key, 0) + 1
    kinds = tuple(
        GpuKind(family, product, memory, count)
        for (family, product, memory), count in sorted(
            counts.items(), key=lambda item: (item[0][2], item[0][0], item[0][1])
        )
    )
    return NodeGpuUsage(gpus.count, used, kinds, gpus.source)


def _reservations(scheduler: Scheduler, started: float) -> list[ReservationResult]:
    """Every reservation the scheduler holds (from the input, or made for a driver), as its
    status says."""
    book = scheduler.reserving.book
    found = []
    for key in sorted(book.held):
        held = book.held[key]
        status = book.status(key)  # what the daemon writes to the object
        recorded = status["slots"]
        assert isinstance(recorded, Mapping)
        slots = tuple(
            SlotResult(name, str(slot["node"]), str(slot["state"]), str(slot.get("pod", "")))
            for name, slot in recorded.items()
        )
        spec = held.spec
        found.append(
            ReservationResult(
                name=key,
                pod_group=spec.gang,
                phase=held.phase,
                claimed=sum(1 for slot in slots if slot.state == "Claimed"),
                total=len(slots),
                message=str(status["message"]),
                driver=f"{spec.namespace}/{spec.driver_name}" if spec.driver_name else "",
                expires_in=(
                    held.expires_at - started
                    if "expiresAt" in status and held.expires_at is not None
                    else None
                ),
                slots=slots,
            )
        )
    return found


# --------------------------------------------------------------------------- rendering


def _describe(annotations: Mapping[str, str]) -> str:
    """How a scheduled pod is placed within its node, when a plugin chose more than the node."""
    parts = []
    if keys.NUMA_ZONES in annotations:
        zones = annotations[keys.NUMA_ZONES]
        parts.append(f"NUMA zone{'s' if ',' in zones else ''} {zones}")
    if keys.CPU_SET in annotations:
        parts.append(f"cpus {annotations[keys.CPU_SET]}")
    return ", ".join(parts)


def _usage(resource: str, node: NodeUsage) -> str:
    total = node.allocatable.get(resource, 0)
    used = node.requested.get(resource, 0)
    if not total and not used:
        return "-"
    percent = f" ({used * 100 // total}%)" if total else ""
    return f"{format_amount(resource, used)}/{format_amount(resource, total)}{percent}"


def _gpu_kind(kind: GpuKind) -> str:
    """``8× H100-80GB 79.6Gi``: count, family (the product when there is none), memory per card
    as the source reports it."""
    name = kind.family or kind.product or "GPU"
    memory = format_amount(keys.MEMORY, kind.memory) if kind.memory else "memory unknown"
    return f"{kind.count}× {name} {memory}"


def _gpu_cells(node: NodeUsage) -> list[str]:
    """The GPUS and GPU SOURCE cells of a node's row."""
    if node.gpu_problem:
        return ["ignored (see the note)", "-"]
    if node.gpus is None:
        return ["-", "-"]
    return [", ".join(_gpu_kind(k) for k in node.gpus.kinds), node.gpus.source]


def _columns(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    """``1h30m``, ``10m``, ``45s``: how long until a reservation's unclaimed slots go."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{unit}" for v, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return "".join(parts) or "0s"


def _reservation_tables(reservations: list[ReservationResult]) -> list[str]:
    rows = [["RESERVATION", "POD GROUP", "PHASE", "CLAIMED", "EXPIRES", "DRIVER", "MESSAGE"]]
    slot_rows = [["RESERVATION", "SLOT", "NODE", "STATE", "POD"]]
    for r in reservations:
        rows.append(
            [
                r.name,
                r.pod_group or "-",
                r.phase,
                f"{r.claimed}/{r.total}",
                f"in {_duration(r.expires_in)}" if r.expires_in is not None else "-",
                r.driver or "-",
                r.message,
            ]
        )
        slot_rows += [[r.name, s.name, s.node or "-", s.state, s.pod or "-"] for s in r.slots]
    return [_columns(rows), "", _columns(slot_rows), ""]


def render_table(result: SimulationResult) -> str:
    pod_rows = [["POD", "STATUS", "NODE", "MESSAGE"]]
    pod_rows += [[p.pod, p.status, p.node or "-", p.message] for p in result.pods]
    extended = sorted(
        {r for n in result.nodes for r, v in n.allocatable.items() if v}
        - {keys.CPU, keys.MEMORY, keys.PODS, keys.EPHEMERAL_STORAGE}
    )
    # GPUs as the one GPU model reads them; how many are used is the nvidia.com/gpu column.
    gpus = any(n.gpus is not None or n.gpu_problem for n in result.nodes)
    gpu_header = ["GPUS", "GPU SOURCE"] if gpus else []
    node_rows = [["NODE", "CPU", "MEMORY", "PODS", *[r.upper() for r in extended], *gpu_header]]
    for node in result.nodes:
        node_rows.append(
            [
                node.name,
                _usage(keys.CPU, node),
                _usage(keys.MEMORY, node),
                f"{node.pods}/{node.allocatable.get(keys.PODS, 0)}",
                *[_usage(r, node) for r in extended],
                *(_gpu_cells(node) if gpus else []),
            ]
        )
    count = result.count
    summary = (
        f"{len(result.pods)} pods: {count('Scheduled')} scheduled, "
        f"{count('Unschedulable')} unschedulable, {count('Running')} already running, "
        f"{count('OtherScheduler')} left to other schedulers, {count('Finished')} finished"
    )
    skipped: tuple[tuple[PodStatus, str], ...] = (
        ("Terminating", "terminating"),
        ("Gated", "gated"),
        ("WaitingForDriver", "waiting for their driver"),
        ("Preempted", "preempted"),
    )
    for status, label in skipped:
        if count(status):
            summary += f", {count(status)} {label}"
    summary += f"; {len(result.nodes)} nodes"
    parts = [_columns(pod_rows), ""]
    profiled = [p for p in result.pods if p.profile is not None and not _plain(p.profile)]
    if profiled:
        profile_rows = [["POD", "TIER", "TENANT", "WORKLOAD", "FLAGS"]]
        profile_rows += [_profile_row(p.pod, p.profile) for p in profiled if p.profile]
        parts += [_columns(profile_rows), ""]
    if result.reservations:
        parts += _reservation_tables(result.reservations)
        phases: dict[str, int] = {}
        for r in result.reservations:
            phases[r.phase] = phases.get(r.phase, 0) + 1
        summary += f"; {len(result.reservations)} reservation"
        summary += "s" if len(result.reservations) != 1 else ""
        summary += f" ({', '.join(f'{n} {phase}' for phase, n in sorted(phases.items()))})"
    parts += [_columns(node_rows), "", summary]
    parts += [f"note: {note}" for note in result.notes]
    return "\n".join(parts)


def _plain(profile: WorkloadProfile) -> bool:
    """A profile nothing set: the default tier, a plain service (not worth a row)."""
    return (
        profile.tier_source == "default"
        and profile.workload == "service"
        and not (profile.gang or profile.preemptible)
    )


def _profile_row(pod: str, profile: WorkloadProfile) -> list[str]:
    flags = [f for f, on in (("gang", profile.gang), ("preemptible", profile.preemptible)) if on]
    return [
        pod,
        f"{profile.tier} ({profile.tier_source})",
        profile.tenant,
        profile.workload,
        ",".join(flags) or "-",
    ]


def _profile_json(profile: WorkloadProfile | None) -> dict[str, Any] | None:
    if profile is None:
        return None
    return {
        "tier": profile.tier,
        "tenant": profile.tenant,
        "tierSource": profile.tier_source,
        "workload": profile.workload,
        "gang": profile.gang,
        "preemptible": profile.preemptible,
    }


def _gpu_json(gpus: NodeGpuUsage | None) -> dict[str, Any] | None:
    if gpus is None:
        return None
    return {
        "count": gpus.count,
        "used": gpus.used,
        "source": gpus.source,
        "kinds": [
            {"family": k.family, "product": k.product, "memory": k.memory, "count": k.count}
            for k in gpus.kinds
        ],
    }


def render_json(result: SimulationResult) -> str:
    data = {
        "pods": [
            {
                "pod": p.pod,
                "status": p.status,
                "node": p.node or None,
                "message": (p.message or None) if p.status != "Scheduled" else None,
                "annotations": dict(p.annotations),
                "profile": _profile_json(p.profile),
            }
            for p in result.pods
        ],
        "nodes": [
            {
                "name": n.name,
                "allocatable": dict(n.allocatable),
                "requested": dict(n.requested),
                "pods": n.pods,
                "gpus": _gpu_json(n.gpus),
                "gpuProblem": n.gpu_problem or None,
            }
            for n in result.nodes
        ],
        "reservations": [
            {
                "name": r.name,
                "podGroup": r.pod_group or None,
                "phase": r.phase,
                "claimed": r.claimed,
                "total": r.total,
                "message": r.message or None,
                "driver": r.driver or None,
                "expiresInSeconds": None if r.expires_in is None else round(r.expires_in),
                "slots": {
                    s.name: {"node": s.node or None, "state": s.state, "pod": s.pod or None}
                    for s in r.slots
                },
            }
            for r in result.reservations
        ],
        "summary": {status: result.count(status) for status in get_args(PodStatus)},
        "notes": result.notes,
    }
    return json.dumps(data, indent=2)
