"""Workload profiles, computed once per pod and kept until the pod or its namespace changes.

The scheduler classifies a pod when it is queued; plugins, preemption and the simulator read
the same profile (``ProfileBook.of``). A namespace relabelled (its tenant tier) makes the
profiles of its pods stale: they are computed again on their next read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kubenexus.api.objects import PodInfo
from kubenexus.api.profile import DEFAULT_SETTINGS, ClassifierSettings, WorkloadProfile, classify


class ProfileBook:
    def __init__(self, namespace_labels: Callable[[str], Mapping[str, str]]) -> None:
        self._namespace_labels = namespace_labels
        # Per schedulerName, the ProfileClassifier arguments of its profile.
        self._settings: dict[str, ClassifierSettings] = {}
        # Per namespace, bumped when its labels change.
        self._generations: dict[str, int] = {}
        # pod key → (the pod record classified, its namespace's generation then, the profile).
        self._kept: dict[str, tuple[PodInfo, int, WorkloadProfile]] = {}
        # Equal profiles are one object (a queue of 50,000 pods holds a few dozen).
        self._interned: dict[WorkloadProfile, WorkloadProfile] = {}

    def configure(self, scheduler_name: str, settings: ClassifierSettings) -> None:
        if self._settings.get(scheduler_name) != settings:
            self._settings[scheduler_name] = settings
            self._kept.clear()

    def _compute(self, pod: PodInfo) -> WorkloadProfile:
        settings = self._settings.get(pod.scheduler_name, DEFAULT_SETTINGS)
        profile = classify(pod, self._namespace_labels(pod.namespace), settings)
        found = self._interned.setdefault(profile, profile)
        if len(self._interned) > 4096:  # tenant names are open-ended: keep the cache bounded
            self._interned = {profile: profile}
        return found

    def of(self, pod: PodInfo) -> WorkloadProfile:
        """The pod's profile: the kept one while the pod record and its namespace are
        unchanged, else computed (and not kept: ``keep`` is for queued pods)."""
        kept = self._kept.get(pod.key)
        generation = self._generations.get(pod.namespace, 0)
        if kept is not None and kept[0] is pod and kept[1] == generation:
            return kept[2]
        return self._compute(pod)

    def keep(self, pod: PodInfo) -> WorkloadProfile:
        """Classify a pod being queued and keep its profile until ``forget``."""
        kept = self._kept.get(pod.key)
        generation = self._generations.get(pod.namespace, 0)
        if kept is not None and kept[0] is pod and kept[1] == generation:
            return kept[2]
        profile = self._compute(pod)
        self._kept[pod.key] = (pod, generation, profile)
        return profile

    def forget(self, key: str) -> None:
        self._kept.pop(key, None)

    def namespace_changed(self, name: str) -> None:
        self._generations[name] = self._generations.get(name, 0) + 1

    def __len__(self) -> int:
        return len(self._kept)
