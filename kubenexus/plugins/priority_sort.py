"""PrioritySort: higher ``spec.priority`` first, then FIFO; long waiters get a priority boost."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kubenexus.framework import QueuedPod
from kubenexus.plugins.args import PluginArgs


class PrioritySortArgs(PluginArgs):
    # A pod waiting longer than this (seconds since the queue first saw it) is boosted; 0 = never.
    starvation_threshold_seconds: float = Field(default=60.0, ge=0)
    # Added to a starving pod's priority. The default lifts a user pod (≤ 1e9) above every fresh
    # user pod without passing system-critical ones (2e9).
    starvation_priority_boost: int = Field(default=1_000_000_000, ge=0)


class PrioritySort:
    name: ClassVar[str] = "PrioritySort"

    def __init__(self, args: PrioritySortArgs | None = None) -> None:
        self.args = args or PrioritySortArgs()

    def starving(self, entry: QueuedPod, now: float) -> bool:
        threshold = self.args.starvation_threshold_seconds
        return threshold > 0 and now - entry.first_seen >= threshold

    def sort_key(self, entry: QueuedPod, now: float) -> tuple[Any, ...]:
        priority = entry.pod.priority
        if self.starving(entry, now):
            priority += self.args.starvation_priority_boost
        return (-priority, entry.first_seen)

    def key_changes_at(self, entry: QueuedPod) -> float | None:
        threshold = self.args.starvation_threshold_seconds
        return entry.first_seen + threshold if threshold > 0 else None
