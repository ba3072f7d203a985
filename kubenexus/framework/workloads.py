"""The selectors of the workloads that may select a pod, fed by the shell from its informers
(Services, ReplicationControllers, ReplicaSets, StatefulSets): the scheduler never asks the
API. A pod's default spreading selector is built from them as kube-scheduler's
``helper.DefaultSelector`` builds it:

- every Service of the pod's namespace whose selector matches the pod's labels adds its label
  map (a Service without a selector matches no pod);
- the pod's controller, when it is a ReplicationController, adds its label map; a ReplicaSet or
  StatefulSet adds its selector's requirements (looked up by the owner's name, as kube does).

No selector at all (None) means no default constraints apply.
"""

from __future__ import annotations

from typing import Final

from kubenexus.api.objects import PodInfo
from kubenexus.api.pod_rules import LabelSelector
from kubenexus.api.workloads import (
    REPLICA_SET,
    REPLICATION_CONTROLLER,
    SERVICE,
    STATEFUL_SET,
    WORKLOAD_KINDS,
    selector_from_labels,
)

# Default selectors remembered per pod shape; cleared when a workload changes or it fills up.
_CACHE_LIMIT: Final = 4096
_CacheKey = tuple[str, frozenset[tuple[str, str]], str, str]


class WorkloadSelectors:
    def __init__(self) -> None:
        # kind → namespace → name → selector
        self._by_kind: dict[str, dict[str, dict[str, LabelSelector]]] = {
            kind: {} for kind in WORKLOAD_KINDS
        }
        self._cache: dict[_CacheKey, LabelSelector | None] = {}
        # Bumped on any change (callers caching what they derive from the selectors check it).
        self.generation = 0

    def __bool__(self) -> bool:
        return any(self._by_kind.values())

    def set(self, kind: str, namespace: str, name: str, selector: LabelSelector | None) -> None:
        """A workload's selector; None when it has none or is gone (both select no pod)."""
        if kind not in WORKLOAD_KINDS:
            raise ValueError(f"kind {kind!r}: must be one of {sorted(WORKLOAD_KINDS)}")
        by_namespace = self._by_kind[kind]
        names = by_namespace.get(namespace, {})
        if names.get(name) == selector:
            return
        if selector is None:
            names.pop(name, None)
            if not names:
                by_namespace.pop(namespace, None)
        else:
            by_namespace.setdefault(namespace, {})[name] = selector
        self._cache.clear()
        self.generation += 1

    def get(self, kind: str, namespace: str, name: str) -> LabelSelector | None:
        return self._by_kind[kind].get(namespace, {}).get(name)

    def default_selector(self, pod: PodInfo) -> LabelSelector | None:
        """The selector kube's DefaultSelector deduces for the pod; None when it is empty."""
        if not self:
            return None
        owner = pod.owner
        key: _CacheKey = (
            pod.namespace,
            frozenset(pod.labels.items()),
            owner.kind if owner is not None else "",
            owner.name if owner is not None else "",
        )
        if key in self._cache:
            return self._cache[key]
        found = self._build(pod)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = found
        return found

    def _build(self, pod: PodInfo) -> LabelSelector | None:
        labels: dict[str, str] = {}
        for service in self._by_kind[SERVICE].get(pod.namespace, {}).values():
            if service.matches(pod.labels):
                labels.update(_label_map(service))
        owner = pod.owner
        selector = selector_from_labels(labels)
        if owner is not None and owner.kind in {REPLICATION_CONTROLLER, REPLICA_SET, STATEFUL_SET}:
            found = self.get(owner.kind, pod.namespace, owner.name)
            if found is not None and owner.kind == REPLICATION_CONTROLLER:
                labels.update(_label_map(found))
                selector = selector_from_labels(labels)
            elif found is not None:
                selector = selector.with_requirements(found.requirements)
        return selector if selector.requirements else None


def _label_map(selector: LabelSelector) -> dict[str, str]:
    """A map selector (Service, ReplicationController) back as its label map."""
    return dict(selector.equality_keys())
