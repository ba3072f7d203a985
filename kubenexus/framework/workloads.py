"""The selectors of the workloads that own or expose pods (Services, ReplicationControllers,
ReplicaSets, StatefulSets): kube-scheduler spreads a pod without constraints of its own among
the pods these select (its DefaultSelector), so the shell reports them here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from kubenexus.api.objects import PodInfo
from kubenexus.api.pod_rules import LabelRequirement, LabelSelector

SERVICE: Final = "Service"
REPLICATION_CONTROLLER: Final = "ReplicationController"
REPLICA_SET: Final = "ReplicaSet"
STATEFUL_SET: Final = "StatefulSet"
KINDS: Final = frozenset({SERVICE, REPLICATION_CONTROLLER, REPLICA_SET, STATEFUL_SET})
# Owners whose selector is added when they control the pod (Services select by labels only).
_OWNER_KINDS: Final = frozenset({REPLICATION_CONTROLLER, REPLICA_SET, STATEFUL_SET})


class WorkloadSelectors:
    def __init__(self) -> None:
        # (kind, namespace, name) → its selector; Services also by namespace.
        self._selectors: dict[tuple[str, str, str], LabelSelector] = {}
        self._services: dict[str, dict[str, Mapping[str, str]]] = {}
        self.generation = 0

    def __len__(self) -> int:
        return len(self._selectors)

    def set(self, kind: str, namespace: str, name: str, selector: LabelSelector | None) -> None:
        """A workload's selector (None: it is gone, or selects nothing)."""
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r}: must be one of {sorted(KINDS)}")
        key = (kind, namespace, name)
        if self._selectors.get(key) == selector:
            return
        self.generation += 1
        services = self._services.setdefault(namespace, {})
        if selector is None:
            self._selectors.pop(key, None)
            if kind == SERVICE:
                services.pop(name, None)
            if not services:
                del self._services[namespace]
            return
        self._selectors[key] = selector
        if kind == SERVICE:
            services[name] = {r.key: next(iter(r.values)) for r in selector.requirements}

    def default_selector(self, pod: PodInfo) -> LabelSelector | None:
        """kube's DefaultSelector: the labels of every Service selecting the pod, plus the
        selector of the ReplicationController, ReplicaSet or StatefulSet controlling it. None
        when there is nothing (then default constraints do not apply)."""
        merged: dict[str, str] = {}
        for labels in self._services.get(pod.namespace, {}).values():
            if labels and all(pod.labels.get(k) == v for k, v in labels.items()):
                merged.update(labels)
        requirements = [LabelRequirement(k, "In", frozenset({v})) for k, v in merged.items()]
        owner = pod.owner
        if owner is not None and owner.kind in _OWNER_KINDS:
            selector = self._selectors.get((owner.kind, pod.namespace, owner.name))
            if selector is not None:
                requirements.extend(selector.requirements)
        if not requirements:
            return None
        return LabelSelector().with_requirements(tuple(requirements))
