"""Gang membership from a pod's labels and annotations, in every spelling users bring.

Name, first found wins: label ``pod-group.scheduling.kubenexus.io/name``, annotation
``pod-group.scheduling.sigs.k8s.io/name``, label ``scheduling.x-k8s.io/pod-group``
(scheduler-plugins; its size comes from the PodGroup object). Size: label or annotation
``pod-group.scheduling.kubenexus.io/min-available`` or ``…sigs.k8s.io/min-available``. Spark and
Ray pods also belong to their application (``spark-app-selector``, ``ray.io/cluster``), which
is what a driver's reservation is for when no gang is named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubenexus.api import keys
from kubenexus.api.quantity import resource_amount
from kubenexus.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class GangMembership:
    name: str = ""
    # None: the size comes from the PodGroup object (``spec.minMember``).
    min_member: int | None = None
    # Why the membership is unusable (a malformed size), naming the key and the value.
    error: str = ""


def pod_role(labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """``driver``, ``executor`` or "": ours first, then Spark's and Ray's own labels."""
    explicit = annotations.get(keys.ROLE) or labels.get(keys.ROLE) or ""
    if explicit in {"driver", "executor"}:
        return explicit
    spark = labels.get(keys.SPARK_ROLE, "")
    if spark in {"driver", "executor"}:
        return spark
    ray = labels.get(keys.RAY_NODE_TYPE, "")
    return {"head": "driver", "worker": "executor"}.get(ray, "")


def app_name(labels: Mapping[str, str]) -> str:
    """The application a Spark or Ray pod belongs to (its driver-led gang), unmodified."""
    if labels.get(keys.SPARK_ROLE) and labels.get(keys.SPARK_APP):
        return labels[keys.SPARK_APP]
    if labels.get(keys.RAY_NODE_TYPE) and labels.get(keys.RAY_CLUSTER):
        return labels[keys.RAY_CLUSTER]
    return ""


def gang_membership(labels: Mapping[str, str], annotations: Mapping[str, str]) -> GangMembership:
    name = ""
    for key in keys.GANG_NAME_LABELS:
        name = labels.get(key) or annotations.get(key) or ""
        if name:
            break
    if not name:
        return GangMembership()
    for key in keys.GANG_MIN_AVAILABLE_KEYS:
        raw = labels.get(key) if key in labels else annotations.get(key)
        if raw is None:
            continue
        try:
            size = int(raw.strip())
        except ValueError:
            return GangMembership(name, None, f"{key}: must be an integer >= 1 (got {raw!r})")
        if size < 1:
            return GangMembership(name, None, f"{key}: must be an integer >= 1 (got {raw!r})")
        return GangMembership(name, size)
    return GangMembership(name, None)


@dataclass(frozen=True, slots=True)
class PodGroupSpec:
    """What the scheduler reads from a PodGroup object."""

    min_member: int
    min_resources: Mapping[str, int] = field(default_factory=dict)
    schedule_timeout_seconds: float | None = None
    # Made by the scheduler for a gang declared only by pod labels: the members' declared size
    # wins over its minMember (which the scheduler then updates), it never blocks them.
    managed: bool = False


def pod_group_spec(spec: Mapping[str, Any]) -> PodGroupSpec:
    """What the core needs from a PodGroup's spec; quantities parsed, fields named on error."""
    min_member = spec.get("minMember")
    if not isinstance(min_member, int) or isinstance(min_member, bool) or min_member < 1:
        raise InvalidInputError("spec.minMember", min_member, "must be an integer >= 1")
    resources = spec.get("minResources") or {}
    if not isinstance(resources, Mapping):
        raise InvalidInputError("spec.minResources", resources, "expected a mapping")
    timeout = spec.get("scheduleTimeoutSeconds")
    if timeout is not None and (
        not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0
    ):
        raise InvalidInputError("spec.scheduleTimeoutSeconds", timeout, "must be a positive number")
    amounts: dict[str, int] = {}
    for name, value in resources.items():
        path = f"spec.minResources.{name}"
        amounts[str(name)] = resource_amount(str(name), value, path)
        if amounts[str(name)] < 0:
            raise InvalidInputError(path, value, "must not be negative")
    return PodGroupSpec(
        min_member=min_member,
        min_resources=amounts,
        schedule_timeout_seconds=float(timeout) if timeout is not None else None,
    )
