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
        # Per namespace whose labels changed, a stamp from one counter (a deleted namespace is
        # dropped: its kept profiles then differ from the stamp 0 of an unknown namespace).
        self._generations: dict[str, int] = {}
        self._stamp = 0
        # pod key → (the pod record classified, its namespace's stamp then, the profile).
        self._kept: dict[str, tuple[PodInfo, int, WorkloadProfile]] = {}
        # The last pod asked about (several plugins ask in one cycle), with the stamp then.
        self._last: tuple[PodInfo, int, WorkloadProfile] | None = None
        # Equal profiles are one object (a queue of 50,000 pods holds a few dozen).
        self._interned: dict[WorkloadProfile, WorkloadProfile] = {}

    def configure(self, scheduler_name: str, settings: ClassifierSettings) -> None:
        if self._settings.get(scheduler_name) != settings:
            self._settings[scheduler_name] = settings
            self._kept.clear()
            self._last = None

    def _compute(self, pod: PodInfo) -> WorkloadProfile:
        settings = self._settings.get(pod.scheduler_name, DEFAULT_SETTINGS)
        profile = classify(pod, self._namespace_labels(pod.namespace), settings)
        found = self._interned.setdefault(profile, profile)
        if len(self._interned) > 4096:  # tenant names are open-ended: keep the cache bounded
            self._interned = {profile: profile}
        return found

    def _current(self, pod: PodInfo) -> tuple[int, WorkloadProfile | None]:
        """The namespace's stamp, and the kept profile if it still holds for this record (the
        same record, or an equal one: a status-only update gives an equal copy)."""
        stamp = self._generations.get(pod.namespace, 0)
        kept = self._kept.get(pod.key)
        if kept is None or kept[1] != stamp:
            return stamp, None
        if kept[0] is not pod:
            if kept[0] != pod:
                return stamp, None
            self._kept[pod.key] = (pod, stamp, kept[2])  # the next read matches by identity
        return stamp, kept[2]

    def of(self, pod: PodInfo) -> WorkloadProfile:
        """The pod's profile: the kept one while the pod and its namespace are unchanged; else
        computed — and kept again if the pod is one being kept (a queued pod)."""
        last = self._last
        if last is not None and last[0] is pod and last[1] == self._stamp:
            return last[2]  # several plugins ask in one cycle
        stamp, profile = self._current(pod)
        if profile is not None:
            self._last = (pod, self._stamp, profile)
            return profile
        profile = self._compute(pod)
        if pod.key in self._kept:
            self._kept[pod.key] = (pod, stamp, profile)
        self._last = (pod, self._stamp, profile)
        return profile

    def keep(self, pod: PodInfo) -> WorkloadProfile:
        """Classify a pod being queued and keep its profile until ``forget``."""
        stamp, profile = self._current(pod)
        if profile is None:
            profile = self._compute(pod)
            self._kept[pod.key] = (pod, stamp, profile)
        return profile

    def forget(self, key: str) -> None:
        self._kept.pop(key, None)

    def namespace_changed(self, name: str, *, exists: bool = True) -> None:
        """The namespace's labels changed (``exists`` False: it was deleted)."""
        self._stamp += 1
        if exists:
            self._generations[name] = self._stamp
        else:
            self._generations.pop(name, None)

    def __len__(self) -> int:
        return len(self._kept)
