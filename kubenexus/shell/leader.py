"""Leader election with a ``coordination.k8s.io/v1`` Lease, as client-go's leaderelection does.

- A candidate takes the Lease when it is free or its holder stopped renewing it for
  ``lease_duration``; writes use the Lease's resourceVersion, so two candidates can never both
  win the same round (the loser gets 409 Conflict).
- Expiry is judged by our own clock from when we last saw the record change, not by the
  holder's timestamps, so clock skew between nodes does not matter.
- A standby waits at least its own ``lease_duration`` (the record's when longer: a value edited
  down by hand does not let it in early).
- A Lease that disappears (deleted by hand) is recreated by its holder; a standby that saw it
  held waits ``lease_duration`` from then before creating it, as it would for a silent holder.
- The leader renews every ``retry_period``; if it cannot renew within ``renew_deadline`` of its
  last good renewal it has lost: ``lost`` is set and the daemon stops deciding at once (a restart
  makes it a standby). Each attempt is cut off at that deadline, so a hanging API server cannot
  keep a leader going; and ``is_leader`` turns false at the deadline by the clock alone, before
  the renew loop notices. Since a standby waits ``lease_duration`` (> ``renew_deadline``) from
  when it saw the last renewal, the old leader has stopped before anyone else can start.
- On a clean stop the leader releases the Lease (empty holder) so a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import structlog

from kubenexus.shell.client import ApiError, KubeClient

log = structlog.get_logger(__name__)
# Answers no retry will change: the credentials, RBAC or the Lease's namespace are wrong.
_MISCONFIGURED: Final = frozenset({401, 403, 404})


@dataclass(frozen=True, slots=True)
class LeaderSettings:
    namespace: str = "kube-system"
    name: str = "kubenexus-scheduler"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def _micro_time() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        client: KubeClient,
        identity: str,
        settings: LeaderSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.identity = identity
        self.settings = settings or LeaderSettings()
        self.clock = clock
        self.acquired = asyncio.Event()
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._observed_duration = self.settings.lease_duration
        self._lease: dict[str, Any] | None = None
        # When the last successful acquire/renew attempt started (the Lease's renewTime is no
        # older): leadership holds until renew_deadline after it.
        self.renewed_at = 0.0
        self.transitions = 0

    @property
    def path(self) -> str:
        s = self.settings
        return f"/apis/coordination.k8s.io/v1/namespaces/{s.namespace}/leases/{s.name}"

    @property
    def is_leader(self) -> bool:
        """Held, and renewed within ``renew_deadline``: judged by the clock, so it turns false at
        the deadline even while a renewal hangs or the renew loop has not run yet."""
        return (
            self.acquired.is_set()
            and not self.lost.is_set()
            and self.clock() - self.renewed_at < self.settings.renew_deadline
        )

    def _spec(self, acquire: bool, transitions: int) -> dict[str, Any]:
        now = _micro_time()
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(round(self.settings.lease_duration), 1),
            "renewTime": now,
            "leaseTransitions": transitions,
        }
        spec["acquireTime"] = (
            now if acquire else (self._lease or {}).get("spec", {}).get("acquireTime", now)
        )
        return spec

    async def _try(self) -> bool:
        """One attempt to acquire or renew; True when we hold the Lease afterwards."""
        try:
            lease = await self.client.request("GET", self.path)
        except ApiError as exc:
            if exc.status != 404:
                raise
            if self._held_by_another():
                # Deleted by hand, not given up: its holder may still be leading (and will
                # write it back); take it only once that holder's lease would have expired.
                return False
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.settings.name, "namespace": self.settings.namespace},
                "spec": self._spec(acquire=True, transitions=0),
            }
            path = self.path.rsplit("/", 1)[0]
            self._lease = await self.client.request("POST", path, body=body)
            self._observe(self._lease)
            return True
        self._observe(lease)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        if self._held_by_another():
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if holder == self.identity else 1)
        updated = dict(
            lease, spec=self._spec(acquire=holder != self.identity, transitions=transitions)
        )
        self._lease = await self.client.request("PUT", self.path, body=updated)  # 409 if raced
        self._observe(self._lease)
        return True

    def _observe(self, lease: dict[str, Any]) -> None:
        spec = lease.get("spec") or {}
        record = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed, self._observed_at = record, self.clock()
            # Never shorter than our own: the replicas share one configuration, and a value
            # edited down by hand must not let us in while the holder still leads.
            self._observed_duration = max(
                float(spec.get("leaseDurationSeconds") or 0), self.settings.lease_duration
            )

    def _held_by_another(self) -> bool:
        """Did the last record seen name another holder, not expired by our clock?"""
        if self._observed is None or self._observed[0] in (None, "", self.identity):
            return False
        return self.clock() <= self._observed_at + self._observed_duration

    async def run(self) -> None:
        """Campaign until leader, then renew until the Lease cannot be kept (``lost``)."""
        s = self.settings
        while not self.acquired.is_set():
            started = self.clock()
            try:
                # Bounded like a renewal: a Lease won only after renew_deadline is already lost.
                async with asyncio.timeout(s.renew_deadline):
                    won = await self._try()
                if won:
                    self.renewed_at = started
                    self.acquired.set()
                    self.transitions += 1
                    log.info(
                        "leader.acquired",
                        identity=self.identity,
                        lease=f"{s.namespace}/{s.name}",
                    )
                    break
            except ApiError as exc:
                # Refused (RBAC for another namespace, no such namespace): this daemon will
                # never lead until someone fixes it. A lost race (409) or a busy server (5xx)
                # is the next round's business.
                report = log.error if exc.status in _MISCONFIGURED else log.info
                report("leader.campaign_failed", error=str(exc), lease=f"{s.namespace}/{s.name}")
            except TimeoutError:
                log.warning(
                    "leader.campaign_failed",
                    error="no answer within renew_deadline",
                    lease=f"{s.namespace}/{s.name}",
                )
            await asyncio.sleep(s.retry_period)
        self.lost_reason = await self._renew()
        log.error("leader.lost", identity=self.identity, reason=self.lost_reason)
        self.lost.set()

    async def _renew(self) -> str:
        """Renew every ``retry_period`` until no attempt succeeds within ``renew_deadline`` of the
        last good one (as client-go's renew loop); returns why leadership was lost."""
        s = self.settings
        error = "no attempt finished"
        while True:
            await asyncio.sleep(s.retry_period)
            started = self.clock()
            deadline = self.renewed_at + s.renew_deadline
            if started >= deadline:
                return f"could not renew within renewDeadline ({s.renew_deadline}s): {error}"
            try:
                async with asyncio.timeout(deadline - started):
                    held = await self._try()
            except TimeoutError:
                return f"renewal still unanswered at renewDeadline ({s.renew_deadline}s)"
            except ApiError as exc:
                error = str(exc)
                log.warning("leader.renew_failed", error=error)
                continue
            if not held:
                return "another holder took the Lease"
            if self.clock() >= deadline:  # answered just as the deadline passed: too late
                return f"renewed only after renewDeadline ({s.renew_deadline}s)"
            self.renewed_at = started

    async def release(self) -> None:
        """Give the Lease up (empty holder) so a standby takes over at once; best effort."""
        if not self.is_leader or self._lease is None:
            return
        try:
            # Bounded: a shutdown must not hang on a slow API server (the Lease then simply
            # expires, as if this replica had been killed).
            async with asyncio.timeout(self.settings.renew_deadline):
                try:
                    await self._put_released(self._lease)
                except ApiError as exc:
                    if exc.status != 409:
                        raise
                    # A renewal cut off by the stop landed first: release what it wrote.
                    lease = await self.client.request("GET", self.path)
                    if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                        return
                    await self._put_released(lease)
            log.info("leader.released", identity=self.identity)
        except ApiError as exc:
            log.warning("leader.release_failed", error=str(exc))
        except TimeoutError:
            log.warning("leader.release_failed", error="no answer within renewDeadline")

    async def _put_released(self, lease: dict[str, Any]) -> None:
        spec = dict(
            lease.get("spec") or {},
            holderIdentity="",
            leaseDurationSeconds=1,
            renewTime=_micro_time(),
        )
        await self.client.request("PUT", self.path, body=dict(lease, spec=spec))
