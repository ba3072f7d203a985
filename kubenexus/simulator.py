"""``kubenexus simulate``: the scheduling core against a cluster and workload from YAML files.

Input is ordinary Kubernetes YAML: ``Node``, ``Pod``, ``Job`` (parallelism expanded into pods),
``Deployment``/``ReplicaSet``/``StatefulSet`` (replicas expanded), ``PriorityClass``,
``PodGroup`` and ``List``. Pods with no ``schedulerName`` are taken as ours; pods naming another
scheduler are left to it; pods carrying ``nodeName`` run there and use its capacity.
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
from kubenexus.api.gang import PodGroupSpec, pod_group_spec
from kubenexus.api.objects import NodeInfo, PodInfo, node_from_dict, pod_from_dict
from kubenexus.api.quantity import format_amount
from kubenexus.config import SchedulerConfiguration, build_scheduler
from kubenexus.errors import InputFileError, InvalidInputError
from kubenexus.scheduler import Scheduled

PodStatus = Literal[
    "Scheduled", "Unschedulable", "Running", "OtherScheduler", "Finished", "Terminating", "Gated"
]
WORKLOAD_KINDS: Final = {
    "Job": "parallelism",
    "Deployment": "replicas",
    "ReplicaSet": "replicas",
    "StatefulSet": "replicas",
}


@dataclass(frozen=True, slots=True)
class PodResult:
    pod: str
    status: PodStatus
    node: str = ""
    message: str = ""
    # Placement annotations written before binding (NUMA zones, cpu-set).
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeUsage:
    name: str
    allocatable: Mapping[str, int]
    requested: Mapping[str, int]
    pods: int


@dataclass(slots=True)
class SimulationResult:
    pods: list[PodResult] = field(default_factory=list)
    nodes: list[NodeUsage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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
    template = spec.get("template")
    if not isinstance(template, Mapping):
        raise InputFileError(f"{doc.label}: spec.template: is required")
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
        pod_meta["ownerReferences"] = [{"kind": kind, "name": name, "controller": True}]
        body["metadata"] = pod_meta
        yield body, "spec.template"


def _resolve_priority(
    body: dict[str, Any], classes: Mapping[str, int], default: int | None
) -> None:
    spec = body.get("spec")
    if not isinstance(spec, dict) or "priority" in spec:
        return
    name = spec.get("priorityClassName")
    if name:
        if name not in classes:
            raise InvalidInputError(
                "spec.priorityClassName", name, "no PriorityClass with this name"
            )
        spec["priority"] = classes[name]
    elif default is not None:
        spec["priority"] = default


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


class _Inputs:
    def __init__(self) -> None:
        self.nodes: list[NodeInfo] = []
        self.pods: list[PodInfo] = []
        self.pod_groups: dict[str, PodGroupSpec] = {}
        self.notes: list[str] = []

    def load(self, paths: list[Path]) -> None:
        documents = [doc for path in paths for doc in _read_documents(path)]
        classes: dict[str, int] = {}
        default_priority: int | None = None
        for doc in documents:
            if doc.body.get("kind") == "PriorityClass":
                meta = doc.body.get("metadata") or {}
                value = doc.body.get("value")
                if isinstance(value, bool) or not isinstance(value, int):
                    raise InputFileError(f"{doc.label}: value: expected an integer (got {value!r})")
                classes[str(meta.get("name"))] = value
                if doc.body.get("globalDefault") is True:
                    default_priority = value
        ignored: dict[str, int] = {}
        node_docs: dict[str, str] = {}
        pod_docs: dict[str, str] = {}
        for doc in documents:
            kind = doc.body.get("kind")
            if kind == "Node":
                try:
                    node = node_from_dict(doc.body, default_pods=keys.DEFAULT_MAX_PODS)
                except InvalidInputError as exc:
                    raise _error(doc, "", exc) from None
                _claim(node_docs, node.name, f"node {node.name!r}", doc)
                self.nodes.append(node)
            elif kind == "Pod" or kind in WORKLOAD_KINDS:
                for body, prefix in _expand(doc):
                    try:
                        _resolve_priority(body, classes, default_priority)
                        pod = pod_from_dict(body)
                    except InvalidInputError as exc:
                        raise _error(doc, prefix, exc) from None
                    _claim(pod_docs, pod.key, f"pod {pod.full_name}", doc)
                    self.pods.append(pod)
            elif kind == "PodGroup":
                self._pod_group(doc)
            elif kind != "PriorityClass":
                label = str(kind) if kind else "objects without a kind"
                ignored[label] = ignored.get(label, 0) + 1
        for kind, count in sorted(ignored.items()):
            self.notes.append(f"ignored {count} {kind} (not used by the simulator)")

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
    scheduler = build_scheduler(config, clock=lambda: started)
    ours = next(iter(scheduler.profiles))
    result = SimulationResult(notes=inputs.notes)
    for node in inputs.nodes:
        scheduler.upsert_node(node)
    for key, spec in inputs.pod_groups.items():
        scheduler.upsert_pod_group(key, spec)

    order: list[str] = []
    rows: dict[str, PodResult] = {}
    for pod in inputs.pods:
        order.append(pod.key)
        if pod.terminal:
            rows[pod.key] = PodResult(
                pod.full_name, "Finished", pod.node_name, f"phase {pod.phase}"
            )
        elif pod.node_name:
            rows[pod.key] = PodResult(pod.full_name, "Running", pod.node_name)
            if pod.node_name not in scheduler.cache.nodes:
                result.notes.append(f"pod {pod.full_name} runs on unknown node {pod.node_name!r}")
        elif pod.scheduler_name and not scheduler.responsible_for(pod):
            rows[pod.key] = PodResult(
                pod.full_name, "OtherScheduler", message=f"left to {pod.scheduler_name}"
            )
            continue
        elif pod.deleting:
            rows[pod.key] = PodResult(
                pod.full_name, "Terminating", message="being deleted (deletionTimestamp): not tried"
            )
            continue
        elif pod.gates:
            rows[pod.key] = PodResult(
                pod.full_name,
                "Gated",
                message=f"scheduling gates {', '.join(pod.gates)}: not tried until removed",
            )
            continue
        scheduler.upsert_pod(pod if pod.scheduler_name else replace(pod, scheduler_name=ours))

    for outcome in scheduler.run_until_idle():
        name = outcome.pod.full_name
        if isinstance(outcome, Scheduled):
            written = {k: v for k, v in outcome.placement.annotations.items() if v is not None}
            rows[outcome.pod.key] = PodResult(
                name, "Scheduled", outcome.node, _describe(written), written
            )
        else:
            rows[outcome.pod.key] = PodResult(name, "Unschedulable", message=outcome.message)
    result.pods = [rows[key] for key in order]

    table = scheduler.cache.nodes
    for name in table.names_in_order():
        slot = table.index[name]
        allocatable = {r: int(table.allocatable[i, slot]) for r, i in table.resource_index.items()}
        requested = {r: int(table.requested[i, slot]) for r, i in table.resource_index.items()}
        result.nodes.append(
            NodeUsage(name, allocatable, requested, pods=requested.get(keys.PODS, 0))
        )
    return result


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


def _columns(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def render_table(result: SimulationResult) -> str:
    pod_rows = [["POD", "STATUS", "NODE", "MESSAGE"]]
    pod_rows += [[p.pod, p.status, p.node or "-", p.message] for p in result.pods]
    extended = sorted(
        {r for n in result.nodes for r, v in n.allocatable.items() if v}
        - {keys.CPU, keys.MEMORY, keys.PODS, keys.EPHEMERAL_STORAGE}
    )
    node_rows = [["NODE", "CPU", "MEMORY", "PODS", *[r.upper() for r in extended]]]
    for node in result.nodes:
        node_rows.append(
            [
                node.name,
                _usage(keys.CPU, node),
                _usage(keys.MEMORY, node),
                f"{node.pods}/{node.allocatable.get(keys.PODS, 0)}",
                *[_usage(r, node) for r in extended],
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
    )
    for status, label in skipped:
        if count(status):
            summary += f", {count(status)} {label}"
    summary += f"; {len(result.nodes)} nodes"
    parts = [_columns(pod_rows), "", _columns(node_rows), "", summary]
    parts += [f"note: {note}" for note in result.notes]
    return "\n".join(parts)


def render_json(result: SimulationResult) -> str:
    data = {
        "pods": [
            {
                "pod": p.pod,
                "status": p.status,
                "node": p.node or None,
                "message": (p.message or None) if p.status != "Scheduled" else None,
                "annotations": dict(p.annotations),
            }
            for p in result.pods
        ],
        "nodes": [
            {
                "name": n.name,
                "allocatable": dict(n.allocatable),
                "requested": dict(n.requested),
                "pods": n.pods,
            }
            for n in result.nodes
        ],
        "summary": {status: result.count(status) for status in get_args(PodStatus)},
        "notes": result.notes,
    }
    return json.dumps(data, indent=2)
