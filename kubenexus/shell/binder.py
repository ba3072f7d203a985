"""Binds decided pods: what must exist first (a driver's ResourceReservation), then the Binding
carrying the placement annotations (kube-apiserver copies them onto the pod); many in flight at
once.

Outcomes, as kube-scheduler handles them:
- 201: bound. The watch will show the pod on its node and confirm the assumption.
- 404 (gone): forget the assumption and drop the pod.
- anything else (5xx, 429, no answer, 409, 403, 400, 422…): forget and retry after backoff, as
  kube-scheduler does; the watch tells the truth about a pod bound meanwhile. Nothing is ever
  bound twice: the API refuses a second binding.
- 400/422 on a Binding carrying an optional annotation (``--score-annotation``'s, which can
  push a pod over the API server's 256 KiB of annotations): bound again at once without it —
  an annotation for people never keeps a pod from binding.
- refused by the gate (``may_bind``: this replica no longer leads): nothing is sent, the pod is
  dropped without a retry (the new leader schedules it). The gate is asked right before every
  request (the Binding POST; a PATCH removing a stale placement annotation), so a bind in
  flight when leadership is lost (the shutdown drain included) sends nothing more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from kubenexus.api import keys
from kubenexus.scheduler import Scheduled
from kubenexus.shell.client import MERGE_PATCH, ApiError, KubeClient, WithheldError, pod_path
from kubenexus.shell.tasks import wait_idle

log = structlog.get_logger(__name__)

OnBound = Callable[[Scheduled, float], None]
OnFailed = Callable[[Scheduled, ApiError, bool], None]
OnRefused = Callable[[Scheduled], None]
# Written before the pod's own requests (a driver's ResourceReservation); may raise ApiError.
Prepare = Callable[[Scheduled], Awaitable[None]]


def _always() -> bool:
    return True


@dataclass(frozen=True, slots=True)
class BinderSettings:
    max_in_flight: int = 256
    # Annotations written for people, not for the node: dropped when the server refuses them.
    optional_annotations: frozenset[str] = frozenset({keys.SCORE_BREAKDOWN})


class Binder:
    def __init__(
        self,
        client: KubeClient,
        *,
        on_bound: OnBound,
        on_failed: OnFailed,
        on_refused: OnRefused | None = None,
        prepare: Prepare | None = None,
        may_bind: Callable[[], bool] = _always,
        settings: BinderSettings | None = None,
    ) -> None:
        self.client = client
        self.settings = settings or BinderSettings()
        self._on_bound = on_bound
        self._on_failed = on_failed
        self._on_refused = on_refused
        self._prepare = prepare
        self.may_bind = may_bind
        self._slots = asyncio.Semaphore(self.settings.max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()
        self.bound = 0
        self.failed = 0
        self.refused = 0
        self.annotations_dropped = 0  # bindings sent again without their optional annotations
        self._active = 0
        self.peak_in_flight = 0

    @property
    def in_flight(self) -> int:
        """Binds submitted and not finished (some may wait for a free slot)."""
        return len(self._tasks)

    def submit(self, decision: Scheduled) -> None:
        task = asyncio.create_task(self._bind(decision), name=f"bind {decision.pod.full_name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._freed.set()

    @property
    def saturated(self) -> bool:
        return len(self._tasks) >= self.settings.max_in_flight

    async def wait_for_slot(self) -> None:
        """Back-pressure: decide the next pod only when a bind can start (keeps decisions fresh
        and memory flat when thousands of pods arrive at once)."""
        while self.saturated:
            self._freed.clear()
            await self._freed.wait()

    async def wait_idle(self, timeout: float) -> bool:
        """Let in-flight binds finish (bounded); True when none is left."""
        return await wait_idle(self._tasks, timeout)

    async def _post_binding(self, decision: Scheduled, metadata: dict[str, object]) -> None:
        await self.client.request(
            "POST",
            pod_path(decision.pod.namespace, decision.pod.name, "binding"),
            body={
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": metadata,
                "target": {"apiVersion": "v1", "kind": "Node", "name": decision.node},
            },
            gate=self.may_bind,
        )

    async def _bind(self, decision: Scheduled) -> None:
        pod = decision.pod
        started = time.monotonic()
        async with self._slots:
            self._active += 1
            self.peak_in_flight = max(self.peak_in_flight, self._active)
            try:
                if self._prepare is not None:
                    await self._prepare(decision)
                annotations = decision.placement.annotations
                removed = {
                    k: None for k, v in annotations.items() if v is None and k in pod.annotations
                }
                if removed:
                    # A Binding can set annotations but not remove them: only a pod still
                    # carrying an earlier placement's annotation needs a PATCH first.
                    await self.client.request(
                        "PATCH",
                        pod_path(pod.namespace, pod.name),
                        body={"metadata": {"annotations": removed}},
                        content_type=MERGE_PATCH,
                        gate=self.may_bind,
                    )
                metadata: dict[str, object] = {
                    "name": pod.name,
                    "namespace": pod.namespace,
                    "uid": pod.uid,
                }
                written = {k: v for k, v in annotations.items() if v is not None}
                if written:
                    # The API server copies a Binding's annotations onto the pod in the same
                    # write that sets spec.nodeName: one call, and never a pod bound without
                    # its placement (or carrying a placement it was not bound with).
                    metadata["annotations"] = written
                try:
                    await self._post_binding(decision, metadata)
                except ApiError as exc:
                    optional = written.keys() & self.settings.optional_annotations
                    if exc.status not in {400, 422} or not optional:
                        raise
                    self.annotations_dropped += 1
                    log.warning(
                        "bind.annotation_refused",
                        pod=pod.full_name,
                        annotations=sorted(optional),
                        status=exc.status,
                        error=exc.message[:200],
                    )
                    kept = {k: v for k, v in written.items() if k not in optional}
                    metadata["annotations"] = kept
                    if not kept:
                        del metadata["annotations"]
                    await self._post_binding(decision, metadata)
            except WithheldError as exc:
                self.refused += 1
                log.warning(
                    "bind.refused",
                    pod=pod.full_name,
                    node=decision.node,
                    request=exc.method,
                    reason="not the leader",
                )
                if self._on_refused is not None:
                    self._on_refused(decision)
                return
            except ApiError as exc:
                self.failed += 1
                retry = exc.status != 404
                log.warning(
                    "bind.failed",
                    pod=pod.full_name,
                    node=decision.node,
                    status=exc.status,
                    error=exc.message,
                    retry=retry,
                )
                self._on_failed(decision, exc, retry)
                return
            except Exception as exc:  # never lose a pod to an unexpected error
                self.failed += 1
                log.exception("bind.crashed", pod=pod.full_name)
                self._on_failed(decision, ApiError(0, type(exc).__name__, str(exc)), True)
                return
            finally:
                self._active -= 1
        self.bound += 1
        self._on_bound(decision, time.monotonic() - started)
