"""Gang membership from a pod's labels and annotations, in every spelling users bring.

Name, first found wins: label ``pod-group.scheduling.kubenexus.io/name``, annotation
``pod-group.scheduling.sigs.k8s.io/name``, label ``scheduling.x-k8s.io/pod-group``
(scheduler-plugins; its size comes from the PodGroup object). Size: label or annotation
``pod-group.scheduling.kubenexus.io/min-available`` or ``…sigs.k8s.io/min-available``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubenexus.api import keys


@dataclass(frozen=True, slots=True)
class GangMembership:
    name: str = ""
    # None: the size comes from the PodGroup object (``spec.minMember``).
    min_member: int | None = None
    # Why the membership is unusable (a malformed size), naming the key and the value.
    error: str = ""


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
