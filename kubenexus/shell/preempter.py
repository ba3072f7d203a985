"""Carries out the core's preemptions, off the scheduling loop, as kube-scheduler's preemption
executor does: for each victim in order, the ``DisruptionTarget`` condition (a strategic merge
on pods/status), then a DELETE with the default grace period, then a ``Preempted`` Event; and
the preemptor's ``status.nominatedNodeName`` (written or cleared).

- Only the leader evicts: the gate (``may_evict``) is asked right before every request, so a
  replica that lost its Lease sends nothing more.
- A victim already terminating (a deletionTimestamp in the cache) or already being evicted for
  another preemption is not deleted again; a preemptor whose preemption is still in flight gets
  no second one (refused, counted).
- 404 means the victim is gone already: fine. Any other refusal is retried with backoff a
  bounded number of times, then the rest of that preemption is abandoned (logged with the pod
  names); the daemon never stops over it.
- Nominations are written in the order the core decided them: a later decision for the same pod
  supersedes one not yet written (a clear after a set is never overtaken by the set).
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import structlog

from kubenexus.api.objects import PodInfo
from kubenexus.scheduler import Preemption
from kubenexus.shell.client import (
    JSON,
    STRATEGIC_MERGE_PATCH,
    ApiError,
    KubeClient,
    WithheldError,
    pod_path,
)
from kubenexus.shell.events import EventRecorder
from kubenexus.shell.metrics import Metrics
from kubenexus.shell.tasks import wait_idle

log = structlog.get_logger(__name__)
_REMEMBERED: Final = 50_000  # victims remembered as evicted until their deletion is seen


def _always() -> bool:
    return True


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class PreemptionSettings:
    # Preemptions carried out at once (each evicts its victims one after the other).
    max_in_flight: int = 16
    # Tries of one request (a victim's condition, its deletion, a nomination) before giving up.
    attempts: int = 5
    retry_initial_seconds: float = 0.2
    retry_max_seconds: float = 5.0


class _Abandoned(Exception):  # noqa: N818 - control flow inside this module only
    """A request failed for good (or was withheld): the rest of the preemption is dropped."""


class Preempter:
    def __init__(
        self,
        client: KubeClient,
        recorder: EventRecorder,
        metrics: Metrics,
        *,
        may_evict: Callable[[], bool] = _always,
        settings: PreemptionSettings | None = None,
        on_abandoned: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        # Told the preemptor's key when its victims will not all be evicted (refused, failed).
        self.on_abandoned = on_abandoned
        self.recorder = recorder
        self.metrics = metrics
        self.may_evict = may_evict
        self.settings = settings or PreemptionSettings()
        self._slots = asyncio.Semaphore(self.settings.max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._preempting: set[str] = set()  # preemptors whose preemption is in flight
        # Victims claimed by a preemption (in flight or done, until their deletion is seen).
        self._evicting: OrderedDict[str, None] = OrderedDict()
        # Nominations not yet written: pod key → (pod, node or "", order of the decision).
        self._nominations: dict[str, tuple[PodInfo, str, int]] = {}
        self._order = itertools.count()
        self.carried_out = 0
        self.refused = 0
        self.failed = 0
        self.evicted = 0

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    # ------------------------------------------------------------------ producers (sync)

    def submit(self, pod: PodInfo, preemption: Preemption | None, nominate: str | None) -> None:
        """What an Unschedulable outcome asks for: victims to evict, a nomination to write."""
        if preemption is not None:
            self._preempt(preemption)
        if nominate is not None:
            self._nominate(pod, nominate)

    def forget(self, pod_key: str) -> None:
        """A pod's deletion was seen: it is no longer a victim being evicted."""
        self._evicting.pop(pod_key, None)

    def _preempt(self, preemption: Preemption) -> None:
        self.metrics.preemption_attempts.inc()
        preemptor = preemption.preemptor
        refusal = ""
        if not self.may_evict():
            refusal = "not the leader"
        elif preemptor.key in self._preempting:
            refusal = "a preemption for this pod is in flight"
        if refusal:
            self.refused += 1
            log.warning(
                "preemption.refused",
                preemptor=preemptor.full_name,
                node=preemption.node,
                reason=refusal,
            )
            # The core chose these victims: it must forget them (and retry), else the pod
            # would wait for victims nobody evicts.
            self._abandoned(preemptor.key)
            return
        victims = [v for v in preemption.victims if not v.deleting and v.key not in self._evicting]
        if not victims:  # every victim is leaving already: nothing to send (as kube)
            log.info(
                "preemption.victims_leaving", preemptor=preemptor.full_name, node=preemption.node
            )
            return
        self.metrics.preemption_victims.observe(len(preemption.victims))
        self._preempting.add(preemptor.key)
        for victim in victims:
            self._evicting[victim.key] = None
        while len(self._evicting) > _REMEMBERED:
            self._evicting.popitem(last=False)
        self._spawn(self._carry_out(preemption, victims), f"preempt for {preemptor.full_name}")

    def _abandoned(self, key: str) -> None:
        if self.on_abandoned is not None:
            try:
                self.on_abandoned(key)
            except Exception:  # the callback must never stop the preempter
                log.exception("preemption.abandon_callback_failed", preemptor=key)

    def _nominate(self, pod: PodInfo, node: str) -> None:
        writing = pod.key in self._nominations
        self._nominations[pod.key] = (pod, node, next(self._order))
        if not writing:
            self._spawn(self._write_nominations(pod.key), f"nominate {pod.full_name}")

    def _spawn(self, work: Any, name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ workers

    async def _carry_out(self, preemption: Preemption, victims: list[PodInfo]) -> None:
        preemptor = preemption.preemptor
        done: set[str] = set()
        try:
            async with self._slots:
                log.info(
                    "preemption.started",
                    preemptor=preemptor.full_name,
                    node=preemption.node,
                    victims=[v.full_name for v in victims],
                )
                for victim in victims:
                    await self._evict(preemption, victim)
                    done.add(victim.key)
            self.carried_out += 1
        except _Abandoned:
            self.failed += 1
            self._abandoned(preemptor.key)
        except Exception:  # never let one preemption take the daemon down
            self.failed += 1
            log.exception("preemption.crashed", preemptor=preemptor.full_name)
            self._abandoned(preemptor.key)
        finally:
            self._preempting.discard(preemptor.key)
            for victim in victims:  # not evicted: a later preemption may choose it again
                if victim.key not in done:
                    self._evicting.pop(victim.key, None)

    async def _evict(self, preemption: Preemption, victim: PodInfo) -> None:
        preemptor = preemption.preemptor
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": (
                f"{preemptor.scheduler_name}: preempting to accommodate a higher priority pod"
            ),
            "lastTransitionTime": _now(),
        }
        path = pod_path(victim.namespace, victim.name)
        what = {"preemptor": preemptor.full_name, "victim": victim.full_name}
        gone = await self._send(
            "PATCH",
            f"{path}/status",
            {"status": {"conditions": [condition]}},
            STRATEGIC_MERGE_PATCH,
            **what,
        )
        if not gone:
            gone = await self._send("DELETE", path, None, JSON, **what)
        if gone:
            log.info("preemption.victim_gone", **what)
            return
        self.evicted += 1
        log.info("preemption.victim_deleted", node=preemption.node, **what)
        self.recorder.event(victim, "Normal", "Preempted", preemption.victim_message())

    async def _write_nominations(self, key: str) -> None:
        """Write the latest nomination decided for one pod, until none is left unwritten."""
        try:
            async with self._slots:
                while key in self._nominations:
                    pod, node, order = self._nominations[key]
                    await self._write_nomination(pod, node)
                    if self._nominations.get(key, (pod, node, -1))[2] == order:
                        del self._nominations[key]
        except Exception:  # never let one nomination take the daemon down
            self._nominations.pop(key, None)
            log.exception("preemption.nomination_crashed", pod=key)

    async def _write_nomination(self, pod: PodInfo, node: str) -> None:
        body = {"status": {"nominatedNodeName": node or None}}
        try:
            await self._send(
                "PATCH",
                pod_path(pod.namespace, pod.name, "status"),
                body,
                STRATEGIC_MERGE_PATCH,
                pod=pod.full_name,
                nominated=node,
            )
        except _Abandoned:
            return  # logged; the next decision about the pod writes it again
        log.info("preemption.nominated", pod=pod.full_name, node=node or None)

    async def _send(
        self, method: str, path: str, body: Any, content_type: str, **what: str
    ) -> bool:
        """One request, retried with backoff on any refusal but 404; True when the pod is gone
        (404). Raises _Abandoned (logged) when it failed for good or was withheld."""
        delay = self.settings.retry_initial_seconds
        for attempt in range(1, self.settings.attempts + 1):
            try:
                await self.client.request(
                    method,
                    path,
                    body=body,
                    content_type=content_type,
                    gate=self.may_evict,
                )
                return False
            except WithheldError as exc:
                log.warning("preemption.withheld", request=method, reason="not the leader", **what)
                raise _Abandoned from exc
            except ApiError as exc:
                if exc.status == 404:
                    return True
                last = attempt == self.settings.attempts or exc.status in {403, 422}
                log.warning(
                    "preemption.request_failed",
                    request=method,
                    status=exc.status,
                    error=exc.message,
                    attempt=attempt,
                    retry=not last,
                    **what,
                )
                if last:
                    raise _Abandoned from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.retry_max_seconds)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ shutdown

    async def wait_idle(self, timeout: float) -> bool:
        """Let preemptions in flight finish (bounded); True when none is left."""
        return await wait_idle(self._tasks, timeout)

    async def cancel(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
