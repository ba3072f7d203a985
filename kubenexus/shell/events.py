"""Events and the PodScheduled condition: off the scheduling path, never in a Binding's way.

- Producers (the loop, the binder's callbacks) never wait: they put an item in a bounded,
  coalescing queue. A newer item for the same object and reason replaces the queued one (a
  pod's condition, a FailedScheduling Event whose message changed): one call, the latest word.
- Two lanes: Warnings and conditions first, then Normal Events (Scheduled, Preempted…). When
  the queue is full a Normal Event gives way (the oldest queued, or the new one); only when
  none is queued is a Warning dropped. Every drop is counted (``kubenexus_events``).
- Bindings first: while binds are waiting (``binds_waiting``), items go out at
  ``busy_per_second`` only; the full ``per_second`` once the binder is idle. Events use their
  own connections (the daemon gives the recorder its own client), so they never hold a
  connection or a rate-limit token a Binding needs.
- The same (object, reason, message) is posted at most once per ``repeat_after`` seconds: a pod
  that stays unschedulable does not produce an Event per retry; its condition is written only
  when its situation changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import structlog

from kubenexus.api.keys import SCHEDULER_NAME
from kubenexus.api.objects import PodInfo
from kubenexus.shell.client import (
    STRATEGIC_MERGE_PATCH,
    ApiError,
    KubeClient,
    TokenBucket,
    pod_path,
)

log = structlog.get_logger(__name__)
_REMEMBERED: Final = 50_000  # (object, reason, message) triples remembered for deduplication


@dataclass(frozen=True, slots=True)
class EventSettings:
    repeat_after_seconds: float = 300.0
    # Idle binder: the Events' own rate (client-go's event broadcaster also has its own).
    per_second: float = 100.0
    burst: int = 200
    # While binds wait: a trickle, so a burst of bindings keeps the API server to itself
    # (0: nothing until the binder is idle).
    busy_per_second: float = 10.0
    # Queued items at most (client-go's broadcaster drops beyond 1,000 too).
    queue_size: int = 1_000
    # Requests in flight at once (each on its own connection of the recorder's client).
    concurrency: int = 4


@dataclass(frozen=True, slots=True)
class _Pending:
    kind: str  # "event" | "condition"
    pod: PodInfo
    event_type: str = ""
    reason: str = ""
    message: str = ""
    object_kind: str = "Pod"  # what the Event is about: a Pod, or a Node (namespace "default")
    state: str = ""  # a condition: the situation it reports (stale once the pod moved on)

    @property
    def urgent(self) -> bool:
        return self.kind == "condition" or self.event_type != "Normal"


def _never() -> bool:
    return False


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(
        self,
        client: KubeClient,
        settings: EventSettings | None = None,
        component: str = SCHEDULER_NAME,
        *,
        binds_waiting: Callable[[], bool] = _never,
    ) -> None:
        self.client = client
        self.settings = settings or EventSettings()
        self.component = component
        self.binds_waiting = binds_waiting
        # Queued items by (object, reason): a newer one takes the older one's place.
        self._urgent: OrderedDict[tuple[str, str], _Pending] = OrderedDict()
        self._routine: OrderedDict[tuple[str, str], _Pending] = OrderedDict()
        self._queued = asyncio.Event()
        self._last: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._conditions: OrderedDict[str, str] = OrderedDict()
        self._bucket = TokenBucket(self.settings.per_second, self.settings.burst)
        self._busy_bucket = TokenBucket(self.settings.busy_per_second, 1)
        self._sending = 0
        self.posted = 0
        self.suppressed = 0
        self.coalesced = 0
        self.dropped = 0
        self.failed = 0

    # ------------------------------------------------------------------ producers (sync)

    def node_event(self, node: str, event_type: str, reason: str, message: str) -> None:
        """An Event about a Node (e.g. its NUMA topology data was ignored)."""
        self.event(
            PodInfo(namespace="default", name=node, requests={}, uid=f"node/{node}"),
            event_type,
            reason,
            message,
            kind="Node",
        )

    def event(
        self,
        pod: PodInfo,
        event_type: str,
        reason: str,
        message: str,
        kind: str = "Pod",
        *,
        dedupe: str = "",
    ) -> None:
        """Post an Event unless the same one (same ``dedupe`` key, else the same message) was
        posted for the object within ``repeat_after_seconds``."""
        key = (pod.key, reason, dedupe or message)
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.settings.repeat_after_seconds:
            self.suppressed += 1
            return
        self._last[key] = now
        self._last.move_to_end(key)
        while len(self._last) > _REMEMBERED:
            self._last.popitem(last=False)
        # The log says what the Events say, as often: Warnings at info, the rest (one
        # `Scheduled` per pod) at debug, which costs nothing when not shown.
        report = log.info if event_type == "Warning" else log.debug
        what = "pod" if kind == "Pod" else kind.lower()
        name = pod.name if kind == "Node" else pod.full_name
        report(f"{what}.event", **{what: name}, reason=reason, message=message)
        self._put(_Pending("event", pod, event_type, reason, message, kind))

    def unschedulable(self, pod: PodInfo, message: str, dedupe: str = "") -> None:
        """FailedScheduling Event plus PodScheduled=False/Unschedulable, as kube-scheduler sets.

        ``dedupe`` names the pod's situation when the message carries counts that change with
        it (a gang waiting for members: "3 of 300", "4 of 300"…): one Event and one condition
        per situation, not one per count.
        """
        self.event(pod, "Warning", "FailedScheduling", message, dedupe=dedupe)
        state = dedupe or message
        if self._conditions.get(pod.key) == state:
            return
        self._conditions[pod.key] = state
        self._conditions.move_to_end(pod.key)
        while len(self._conditions) > _REMEMBERED:
            self._conditions.popitem(last=False)
        self._put(_Pending("condition", pod, message=message, state=state))

    def forget(self, pod_key: str) -> None:
        """The pod was bound or is gone: a queued condition would be stale, so it is not sent."""
        self._conditions.pop(pod_key, None)
        self._urgent.pop((pod_key, ":condition"), None)

    @property
    def queued(self) -> int:
        return len(self._urgent) + len(self._routine)

    def _put(self, item: _Pending) -> None:
        lane = self._urgent if item.urgent else self._routine
        slot = (item.pod.key, ":condition" if item.kind == "condition" else item.reason)
        if slot in lane:
            self.coalesced += 1
            lane.pop(slot)
        elif self.queued >= self.settings.queue_size:
            self.dropped += 1
            if not self._routine or not item.urgent:
                return  # the new one gives way (only Warnings queued, or it is routine)
            self._routine.popitem(last=False)  # the oldest Normal Event gives way
        lane[slot] = item
        self._queued.set()

    def _take(self) -> _Pending | None:
        for lane in (self._urgent, self._routine):
            if lane:
                return lane.popitem(last=False)[1]
        return None

    # ------------------------------------------------------------------ workers

    async def run(self) -> None:
        await asyncio.gather(*(self._work() for _ in range(max(self.settings.concurrency, 1))))

    async def _work(self) -> None:
        while True:
            while not self.queued:
                self._queued.clear()
                await self._queued.wait()
            await self._wait_for_budget()
            item = self._take()
            if item is None:  # another worker took the last one meanwhile
                continue
            self._sending += 1
            try:
                if item.kind == "event":
                    await self._post_event(item)
                else:
                    await self._post_condition(item)
                self.posted += 1
            except ApiError as exc:
                self.failed += 1
                log.warning(
                    "event.post_failed", pod=item.pod.full_name, reason=item.reason, error=str(exc)
                )
            finally:
                self._sending -= 1

    async def _wait_for_budget(self) -> None:
        """Bindings first: while any waits, one item per ``1/busy_per_second``."""
        while self.binds_waiting() and not (
            self.settings.busy_per_second > 0 and self._busy_bucket.try_take()
        ):
            await asyncio.sleep(min(0.05, 1 / max(self.settings.busy_per_second, 1)))
        await self._bucket.take()

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) until nothing is queued or being sent: for shutdown and tests."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.queued or self._sending:
                    await asyncio.sleep(0.01)

    async def _post_event(self, item: _Pending) -> None:
        pod, now = item.pod, _now()
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{pod.name}.", "namespace": pod.namespace},
            "involvedObject": (
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": pod.name,
                    "namespace": pod.namespace,
                    "uid": pod.uid,
                }
                if item.object_kind == "Pod"
                else {"apiVersion": "v1", "kind": item.object_kind, "name": pod.name}
            ),
            "reason": item.reason,
            "message": item.message[:1024],
            "type": item.event_type,
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": self.component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self.client.request("POST", f"/api/v1/namespaces/{pod.namespace}/events", body=body)

    async def _post_condition(self, item: _Pending) -> None:
        pod = item.pod
        if self._conditions.get(pod.key) != item.state:
            # Queued before the pod was bound (or its situation changed): writing it now would
            # mark a scheduled pod Unschedulable.
            self.suppressed += 1
            return
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": item.message,
            "lastTransitionTime": _now(),
        }
        try:
            await self.client.request(
                "PATCH",
                pod_path(pod.namespace, pod.name, "status"),
                body={"status": {"conditions": [condition]}},
                content_type=STRATEGIC_MERGE_PATCH,
            )
        except ApiError as exc:
            if exc.status != 404:  # the pod is gone: nothing to report on
                raise
