"""Events and the PodScheduled condition, posted off the scheduling path and never flooding.

- Posting happens in a background worker fed by a bounded queue: the scheduling loop never waits
  on the API for an Event. When the queue is full, new Events are dropped (and counted).
- The same (object, reason, message) is posted at most once per ``repeat_after`` seconds: a pod
  that stays unschedulable does not produce an Event per retry.
- A client-side rate limit caps Events per second across the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from collections import OrderedDict
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
    per_second: float = 50.0
    burst: int = 200
    queue_size: int = 10_000


@dataclass(frozen=True, slots=True)
class _Pending:
    kind: str  # "event" | "condition"
    pod: PodInfo
    event_type: str = ""
    reason: str = ""
    message: str = ""
    object_kind: str = "Pod"  # what the Event is about: a Pod, or a Node (namespace "default")
    state: str = ""  # a condition: the situation it reports (stale once the pod moved on)


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(
        self,
        client: KubeClient,
        settings: EventSettings | None = None,
        component: str = SCHEDULER_NAME,
    ) -> None:
        self.client = client
        self.settings = settings or EventSettings()
        self.component = component
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(self.settings.queue_size)
        self._last: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._conditions: OrderedDict[str, str] = OrderedDict()
        self._bucket = TokenBucket(self.settings.per_second, self.settings.burst)
        self.posted = 0
        self.suppressed = 0
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
        self._conditions.pop(pod_key, None)

    def _put(self, item: _Pending) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1

    # ------------------------------------------------------------------ worker

    async def run(self) -> None:
        while True:
            item = await self._queue.get()
            await self._bucket.take()
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

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) until the queue is empty: for shutdown and tests."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not self._queue.empty():
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
