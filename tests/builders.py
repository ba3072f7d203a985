"""Small fluent builders for Pod and Node objects (as the API would deliver them)."""

from __future__ import annotations

import copy
from typing import Any

from kubenexus.api import NodeInfo, PodInfo, keys, node_from_dict, pod_from_dict


class PodBuilder:
    def __init__(self, name: str) -> None:
        self._obj: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": {
                "schedulerName": keys.SCHEDULER_NAME,
                "containers": [{"name": "main", "image": "busybox"}],
            },
        }

    @property
    def _spec(self) -> dict[str, Any]:
        return self._obj["spec"]  # type: ignore[no-any-return]

    def req(self, **requests: str) -> PodBuilder:
        container = self._spec["containers"][0]
        container.setdefault("resources", {}).setdefault("requests", {}).update(
            {k.replace("_", "-"): v for k, v in requests.items()}
        )
        return self

    def resources(self, **requests: str) -> PodBuilder:
        """Requests with names that are not identifiers (``nvidia.com/gpu``)."""
        return self.req(**requests)

    def extended(self, name: str, amount: str) -> PodBuilder:
        container = self._spec["containers"][0]
        container.setdefault("resources", {}).setdefault("requests", {})[name] = amount
        return self

    def container(self, **requests: str) -> PodBuilder:
        self._spec["containers"].append(
            {"name": f"c{len(self._spec['containers'])}", "resources": {"requests": requests}}
        )
        return self

    def init_container(self, *, sidecar: bool = False, **requests: str) -> PodBuilder:
        init = self._spec.setdefault("initContainers", [])
        entry: dict[str, Any] = {"name": f"init{len(init)}", "resources": {"requests": requests}}
        if sidecar:
            entry["restartPolicy"] = "Always"
        init.append(entry)
        return self

    def overhead(self, **amounts: str) -> PodBuilder:
        self._spec["overhead"] = amounts
        return self

    def priority(self, value: int) -> PodBuilder:
        self._spec["priority"] = value
        return self

    def node(self, name: str) -> PodBuilder:
        self._spec["nodeName"] = name
        return self

    def scheduler(self, name: str) -> PodBuilder:
        self._spec["schedulerName"] = name
        return self

    def selector(self, **labels: str) -> PodBuilder:
        self._spec.setdefault("nodeSelector", {}).update(labels)
        return self

    def node_selector(self, labels: dict[str, str]) -> PodBuilder:
        self._spec.setdefault("nodeSelector", {}).update(labels)
        return self

    def toleration(
        self, key: str = "", operator: str = "Equal", value: str = "", effect: str = ""
    ) -> PodBuilder:
        tol: dict[str, str] = {"operator": operator}
        if key:
            tol["key"] = key
        if value:
            tol["value"] = value
        if effect:
            tol["effect"] = effect
        self._spec.setdefault("tolerations", []).append(tol)
        return self

    def affinity_term(
        self,
        *expressions: tuple[str, str, list[str]],
        fields: list[tuple[str, str, list[str]]] | None = None,
    ) -> PodBuilder:
        """Add one nodeSelectorTerm of (key, operator, values) requirements."""
        affinity = self._spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
        required = affinity.setdefault(
            "requiredDuringSchedulingIgnoredDuringExecution", {"nodeSelectorTerms": []}
        )
        term: dict[str, Any] = {}
        if expressions:
            term["matchExpressions"] = [
                {"key": k, "operator": o, "values": v} for k, o, v in expressions
            ]
        if fields:
            term["matchFields"] = [{"key": k, "operator": o, "values": v} for k, o, v in fields]
        required["nodeSelectorTerms"].append(term)
        return self

    def preferred_term(
        self, weight: object, *expressions: tuple[str, str, list[str]]
    ) -> PodBuilder:
        """Add one preferredDuringScheduling term of (key, operator, values) requirements."""
        affinity = self._spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
        preferred = affinity.setdefault("preferredDuringSchedulingIgnoredDuringExecution", [])
        preference = {
            "matchExpressions": [{"key": k, "operator": o, "values": v} for k, o, v in expressions]
        }
        preferred.append({"weight": weight, "preference": preference})
        return self

    def label(self, key: str, value: str) -> PodBuilder:
        self._obj["metadata"].setdefault("labels", {})[key] = value
        return self

    def annotate(self, key: str, value: str) -> PodBuilder:
        self._obj["metadata"].setdefault("annotations", {})[key] = value
        return self

    def owner(self, kind: str, name: str) -> PodBuilder:
        self._obj["metadata"]["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": kind,
                "name": name,
                "uid": f"uid-{name}",
                "controller": True,
            }
        ]
        return self

    def namespace(self, name: str) -> PodBuilder:
        self._obj["metadata"]["namespace"] = name
        return self

    def image(self, image: str) -> PodBuilder:
        self._spec["containers"][0]["image"] = image
        return self

    def priority_class(self, name: str) -> PodBuilder:
        self._spec["priorityClassName"] = name
        return self

    def phase(self, phase: str) -> PodBuilder:
        self._obj.setdefault("status", {})["phase"] = phase
        return self

    def created(self, timestamp: str) -> PodBuilder:
        self._obj["metadata"]["creationTimestamp"] = timestamp
        return self

    def dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._obj)

    def obj(self) -> PodInfo:
        return pod_from_dict(self._obj)


class NodeBuilder:
    def __init__(self, name: str) -> None:
        self._obj: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}},
        }

    def alloc(self, **amounts: str) -> NodeBuilder:
        self._obj["status"]["allocatable"].update(
            {k.replace("_", "-"): v for k, v in amounts.items()}
        )
        return self

    def extended(self, name: str, amount: str) -> NodeBuilder:
        self._obj["status"]["allocatable"][name] = amount
        return self

    def label(self, key: str, value: str) -> NodeBuilder:
        self._obj["metadata"]["labels"][key] = value
        return self

    def taint(self, key: str, value: str = "", effect: str = "NoSchedule") -> NodeBuilder:
        self._obj["spec"].setdefault("taints", []).append(
            {"key": key, "value": value, "effect": effect}
        )
        return self

    def cordon(self) -> NodeBuilder:
        self._obj["spec"]["unschedulable"] = True
        return self

    def dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._obj)

    def obj(self) -> NodeInfo:
        return node_from_dict(self._obj)


def make_pod(name: str) -> PodBuilder:
    return PodBuilder(name)


def make_node(name: str) -> NodeBuilder:
    return NodeBuilder(name)


def not_helpful(nodes: int) -> str:
    """kube-scheduler's post-filter clause when no eviction can help on any of ``nodes``."""
    return (
        f" no new claims to deallocate, preemption: 0/{nodes} nodes are available: "
        f"{nodes} Preemption is not helpful for scheduling."
    )


def no_victims(nodes: int) -> str:
    """kube-scheduler's post-filter clause when none of ``nodes`` holds a pod to evict."""
    return (
        f" no new claims to deallocate, preemption: 0/{nodes} nodes are available: "
        f"{nodes} No preemption victims found for incoming pod."
    )
