"""The scheduling queue: active (sorted by the queue-sort plugin), backoff, unschedulable.

- active: ready to try, ordered by the queue-sort plugin (priority, then age, starvation boost).
- backoff: failed recently; waits ``initial · 2^(attempts-1)`` seconds, capped, then goes active.
- unschedulable: fits nowhere; waits for a cluster change that can help it (``move``: only
  pods whose rejecting plugins care about the change) or, at the latest,
  ``max_unschedulable_seconds``, then goes to backoff or active.

Heaps hold (key, version) pairs and skip stale ones, so moves and deletes are O(log n). The
unschedulable pool is kept in the order pods entered it, so finding the ones that waited long
enough looks only at those (never the whole pool, which may hold tens of thousands).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from kubenexus.api.objects import PodInfo
from kubenexus.framework import ClusterEvent, QueuedPod, QueueSortPlugin

Clock = Callable[[], float]
Where = Literal["active", "backoff", "unschedulable", "in-flight"]


@dataclass(frozen=True, slots=True)
class QueueSettings:
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 10.0
    max_unschedulable_seconds: float = 300.0


class SchedulingQueue:
    def __init__(
        self, sort: QueueSortPlugin, clock: Clock, settings: QueueSettings | None = None
    ) -> None:
        self._sort = sort
        self._clock = clock
        self.settings = settings or QueueSettings()
        self._entries: dict[str, QueuedPod] = {}
        self._where: dict[str, Where] = {}
        self._version: dict[str, int] = {}
        self._seq = itertools.count()
        self._active: list[tuple[tuple[Any, ...], int, str, int]] = []
        self._backoff: list[tuple[float, int, str, int]] = []
        self._rekey: list[tuple[float, int, str, int]] = []
        # key → when it entered the pool; insertion order is entry order (re-entry moves to the end)
        self._unschedulable: dict[str, float] = {}
        # The union of what the unschedulable pods wait for (a superset once some left).
        self._wanted = ClusterEvent.NONE
        # Bumped whenever the cluster changes; a pod that failed while a change happened during
        # its attempt is retried after backoff instead of waiting for the next change.
        self._move_generation = 0
        self._popped_at_generation: dict[str, int] = {}
        # Gang → keys of its members in the queue (any state), so a gang is taken as a unit.
        # Members in arrival order (a dict, not a set: no order from string hashing).
        self._gangs: dict[str, dict[str, None]] = {}

    # ------------------------------------------------------------------ queries

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def where(self, key: str) -> Where | None:
        return self._where.get(key)

    def entry(self, key: str) -> QueuedPod | None:
        return self._entries.get(key)

    def pending_counts(self) -> dict[str, int]:
        counts = {"active": 0, "backoff": 0, "unschedulable": 0, "in-flight": 0}
        for where in self._where.values():
            counts[where] += 1
        return counts

    def entries(self) -> Iterator[QueuedPod]:
        return iter(self._entries.values())

    def sort_key(self, entry: QueuedPod, now: float) -> tuple[Any, ...]:
        return self._sort.sort_key(entry, now)

    def backoff_duration(self, entry: QueuedPod) -> float:
        exponent = max(entry.attempts - 1, 0)
        seconds = self.settings.initial_backoff_seconds * (2.0 ** min(exponent, 62))
        return min(seconds, self.settings.max_backoff_seconds)

    def next_wakeup(self) -> float | None:
        """The earliest time a waiting pod becomes ready on its own (for an idle loop's sleep)."""
        times = []
        backoff = self._backoff
        while backoff and self._version.get(backoff[0][2]) != backoff[0][3]:
            heapq.heappop(backoff)  # stale: the pod moved on
        if backoff:
            times.append(backoff[0][0])
        if self._unschedulable:
            oldest = next(iter(self._unschedulable.values()))
            times.append(oldest + self.settings.max_unschedulable_seconds)
        return min(times) if times else None

    # ------------------------------------------------------------------ changes

    def add(self, pod: PodInfo) -> None:
        """A new pending pod goes active; an update to a waiting pod may make it schedulable."""
        entry = self._entries.get(pod.key)
        if entry is None:
            now = self._clock()
            entry = QueuedPod(pod=pod, first_seen=pod.created if pod.created is not None else now)
            # A pod created in the future (clock skew) must not jump the FIFO order.
            entry.first_seen = min(entry.first_seen, now)
            self._entries[pod.key] = entry
            if pod.gang:
                self._gangs.setdefault(pod.gang, {})[pod.key] = None
            self._push_active(entry)
            return
        if entry.pod == pod:
            return  # nothing the scheduler reads changed (e.g. our own condition was written)
        if entry.pod.gang != pod.gang:
            self._unindex(entry.pod)
            if pod.gang:
                self._gangs.setdefault(pod.gang, {})[pod.key] = None
        entry.pod = pod
        if self._where[pod.key] == "unschedulable":
            del self._unschedulable[pod.key]
            self._push_active(entry)

    def delete(self, key: str) -> QueuedPod | None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        self._unindex(entry.pod)
        self._bump(key)
        self._where.pop(key, None)
        self._version.pop(key, None)
        self._unschedulable.pop(key, None)
        self._popped_at_generation.pop(key, None)
        return entry

    def pop(self) -> QueuedPod | None:
        """The best ready pod, now marked in flight; None when nothing is ready."""
        now = self._clock()
        self._flush(now)
        while self._active:
            _, _, key, version = heapq.heappop(self._active)
            if self._version.get(key) != version:
                continue
            entry = self._entries[key]
            self._where[key] = "in-flight"
            self._bump(key)
            entry.attempts += 1
            self._popped_at_generation[key] = self._move_generation
            return entry
        return None

    def _unindex(self, pod: PodInfo) -> None:
        members = self._gangs.get(pod.gang)
        if members is not None:
            members.pop(pod.key, None)
            if not members:
                del self._gangs[pod.gang]

    def gang_members(self, gang: str) -> list[QueuedPod]:
        """Every queued member of a gang, whatever its state."""
        return [self._entries[key] for key in self._gangs.get(gang, ())]

    def lead(self, keys: Collection[str]) -> str | None:
        """Of these pods, the one ``pop`` would return first (None: none is ready). Reads the
        whole active heap: for explain, not for the scheduling path."""
        best: tuple[Any, ...] | None = None
        for item in self._active:
            key, version = item[2], item[3]
            if key in keys and self._version.get(key) == version and (best is None or item < best):
                best = item
        return None if best is None else str(best[2])

    def take(self, entry: QueuedPod) -> None:
        """Take a queued entry out of its current state to schedule it now (with its gang)."""
        key = entry.pod.key
        if self._where.get(key) == "in-flight":
            return
        self._unschedulable.pop(key, None)
        self._where[key] = "in-flight"
        self._bump(key)
        entry.attempts += 1
        self._popped_at_generation[key] = self._move_generation

    def done(self, key: str) -> None:
        """The pod was placed; it leaves the queue."""
        self.delete(key)

    def requeue_unschedulable(
        self,
        entry: QueuedPod,
        message: str,
        wake_on: ClusterEvent = ClusterEvent.ALL,
        rejected_by: frozenset[str] | None = None,
    ) -> None:
        """The pod fits nowhere: wait for a cluster change in ``wake_on`` (backoff if a change
        came while it was being tried); ``rejected_by``: the plugins that said no, if known."""
        key = entry.pod.key
        if key not in self._entries:
            return  # deleted while in flight
        now = self._clock()
        entry.last_failure = now
        entry.last_message = message
        entry.wake_on = wake_on
        entry.rejected_by = rejected_by or None
        changed_meanwhile = self._popped_at_generation.pop(key, -1) != self._move_generation
        if changed_meanwhile:
            self._push_backoff(entry, now)
        else:
            self._where[key] = "unschedulable"
            self._bump(key)
            self._unschedulable.pop(key, None)
            if not self._unschedulable:
                self._wanted = ClusterEvent.NONE  # a fresh union once the pool empties
            self._unschedulable[key] = now
            self._wanted |= wake_on

    def requeue_backoff(self, entry: QueuedPod, message: str) -> None:
        """A transient failure (binding error, plugin error): retry after backoff."""
        key = entry.pod.key
        if key not in self._entries:
            return
        now = self._clock()
        entry.last_failure = now
        entry.last_message = message
        self._popped_at_generation.pop(key, None)
        self._push_backoff(entry, now)

    def restore(self, entry: QueuedPod, message: str) -> None:
        """Take back a pod whose binding failed, keeping its age and attempts (and its place in
        its gang, so the gang's remaining members are retried together)."""
        key = entry.pod.key
        self._entries[key] = entry
        if entry.pod.gang:
            self._gangs.setdefault(entry.pod.gang, {})[key] = None
        self._popped_at_generation.pop(key, None)
        now = self._clock()
        entry.last_failure = now
        entry.last_message = message
        self._push_backoff(entry, now)

    def activate(self, key: str) -> None:
        """Make one waiting pod ready at once (e.g. its gang completed)."""
        entry = self._entries.get(key)
        if entry is None or self._where.get(key) in {"active", "in-flight"}:
            return
        self._unschedulable.pop(key, None)
        self._push_active(entry)

    def move(self, event: ClusterEvent, hint: Callable[[QueuedPod], bool] | None = None) -> int:
        """The cluster changed: retry (after their backoff) the unschedulable pods this change
        may help; the number of pods moved. ``hint``: whether the change may help a pod whose
        rejecting plugins are known (kube's queueing hints); pods rejected for unknown
        reasons are retried whatever it says."""
        if not event:
            return 0
        self._move_generation += 1
        if not self._unschedulable or not event & self._wanted:
            return 0  # no waiting pod cares (frequent events cost nothing then)
        now = self._clock()
        woken = [
            key
            for key in self._unschedulable
            if (entry := self._entries[key]).wake_on & event
            and (hint is None or entry.rejected_by is None or hint(entry))
        ]
        for key in woken:
            self._release(self._entries[key], now)
        return len(woken)

    def retry(self, key: str) -> bool:
        """Retry one waiting pod (after its backoff); whether it was waiting."""
        if key not in self._unschedulable:
            return False
        self._release(self._entries[key], self._clock())
        return True

    def move_all(self) -> None:
        """Any change: every unschedulable pod is retried (after its backoff)."""
        self.move(ClusterEvent.ALL)

    # ------------------------------------------------------------------ internals

    def _release(self, entry: QueuedPod, now: float) -> None:
        self._unschedulable.pop(entry.pod.key, None)
        if entry.last_failure + self.backoff_duration(entry) > now:
            self._push_backoff(entry, now)
        else:
            self._push_active(entry)

    def _flush(self, now: float) -> None:
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key, version = heapq.heappop(self._backoff)
            if self._version.get(key) == version:
                self._push_active(self._entries[key])
        while self._rekey and self._rekey[0][0] <= now:
            _, _, key, version = heapq.heappop(self._rekey)
            if self._version.get(key) == version:
                self._push_active(self._entries[key])  # same place, new (boosted) sort key
        limit = self.settings.max_unschedulable_seconds
        while self._unschedulable:
            key, since = next(iter(self._unschedulable.items()))
            if since + limit > now:
                break  # the rest entered later
            self._release(self._entries[key], now)

    def _bump(self, key: str) -> int:
        version = self._version.get(key, 0) + 1
        self._version[key] = version
        return version

    def _push_active(self, entry: QueuedPod) -> None:
        key = entry.pod.key
        version = self._bump(key)
        self._where[key] = "active"
        now = self._clock()
        heapq.heappush(
            self._active, (self._sort.sort_key(entry, now), next(self._seq), key, version)
        )
        change_at = self._sort.key_changes_at(entry)
        if change_at is not None and change_at > now:
            heapq.heappush(self._rekey, (change_at, next(self._seq), key, version))

    def _push_backoff(self, entry: QueuedPod, now: float) -> None:
        key = entry.pod.key
        version = self._bump(key)
        self._where[key] = "backoff"
        ready_at = max(entry.last_failure, 0.0) + self.backoff_duration(entry)
        if ready_at <= now:
            self._push_active(entry)
            return
        heapq.heappush(self._backoff, (ready_at, next(self._seq), key, version))
