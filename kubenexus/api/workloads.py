"""The selectors of the workloads that select a pod (Services, ReplicationControllers,
ReplicaSets, StatefulSets), read from their objects: PodTopologySpread builds a pod's default
spreading selector from them, as kube-scheduler's ``helper.DefaultSelector`` does.

Services and ReplicationControllers select with a plain label map, ReplicaSets and
StatefulSets with a ``metav1.LabelSelector``; both are read into a ``LabelSelector`` (a map as
``In`` requirements of one value). None: the object selects nothing (no selector).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from kubenexus.api.fields import mapping_at, string_at, string_map_at
from kubenexus.api.pod_rules import LabelRequirement, LabelSelector, label_selector
from kubenexus.errors import InvalidInputError

SERVICE: Final = "Service"
REPLICATION_CONTROLLER: Final = "ReplicationController"
REPLICA_SET: Final = "ReplicaSet"
STATEFUL_SET: Final = "StatefulSet"
WORKLOAD_KINDS: Final = frozenset({SERVICE, REPLICATION_CONTROLLER, REPLICA_SET, STATEFUL_SET})
# Kinds whose spec.selector is a plain label map (the others: a LabelSelector).
MAP_SELECTOR_KINDS: Final = frozenset({SERVICE, REPLICATION_CONTROLLER})


class WorkloadSelector(NamedTuple):
    kind: str
    namespace: str
    name: str
    selector: LabelSelector | None


def selector_from_labels(labels: Mapping[str, str]) -> LabelSelector:
    """A label map as a selector (``labels.Set.AsSelector``)."""
    return LabelSelector().with_requirements(
        tuple(LabelRequirement(k, "In", frozenset({v})) for k, v in labels.items())
    )


def workload_selector(obj: Mapping[str, Any]) -> WorkloadSelector:
    """Kind, namespace, name and ``spec.selector`` of a Service, ReplicationController,
    ReplicaSet or StatefulSet (raises InvalidInputError naming a malformed field)."""
    kind = string_at(obj.get("kind"), "kind", required=True)
    if kind not in WORKLOAD_KINDS:
        raise InvalidInputError("kind", kind, f"must be one of {sorted(WORKLOAD_KINDS)}")
    meta = mapping_at(obj.get("metadata"), "metadata")
    namespace = string_at(meta.get("namespace"), "metadata.namespace") or "default"
    name = string_at(meta.get("name"), "metadata.name", required=True)
    raw = mapping_at(obj.get("spec"), "spec").get("selector")
    selector: LabelSelector | None
    if kind in MAP_SELECTOR_KINDS:
        selector = (
            None if raw is None else selector_from_labels(string_map_at(raw, "spec.selector"))
        )
    else:
        selector = label_selector(raw, "spec.selector")
    return WorkloadSelector(kind, namespace, name, selector)
