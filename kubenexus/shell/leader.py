"""Leader election with a ``coordination.k8s.io/v1`` Lease, as client-go's leaderelection does.

- A candidate takes the Lease when it is free or its holder stopped renewing it for
  ``lease_duration``; writes use the Lease's resourceVersion, so two candidates can never both
  win the same round (the loser gets 409 Conflict).
- Expiry is judged by our own clock from when we last saw the record change, not by the
  holder's timestamps, so clock skew between nodes does not matter.
- The leader renews every ``retry_period``; if it cannot renew within ``renew_deadline`` it has
  lost: ``lost`` is set and the daemon stops deciding at once (a restart makes it a standby).
- On a clean stop the leader releases the Lease (empty holder) so a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from dataclasses import dataclass
from typing import Any

import structlog

from kubenexus.shell.client import ApiError, KubeClient

log = structlog.get_logger(__name__)


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
        self, client: KubeClient, identity: str, settings: LeaderSettings | None = None
    ) -> None:
        self.client = client
        self.identity = identity
        self.settings = settings or LeaderSettings()
        self.acquired = asyncio.Event()
        self.lost = asyncio.Event()
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._lease: dict[str, Any] | None = None
        self.transitions = 0

    @property
    def path(self) -> str:
        s = self.settings
        return f"/apis/coordination.k8s.io/v1/namespaces/{s.namespace}/leases/{s.name}"

    @property
    def is_leader(self) -> bool:
        return self.acquired.is_set() and not self.lost.is_set()

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
        expired = time.monotonic() > self._observed_at + float(
            spec.get("leaseDurationSeconds") or self.settings.lease_duration
        )
        if holder and holder != self.identity and not expired:
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
            self._observed, self._observed_at = record, time.monotonic()

    async def run(self) -> None:
        """Campaign until leader, then renew until the Lease cannot be kept (``lost``)."""
        while not self.acquired.is_set():
            try:
                if await self._try():
                    self.acquired.set()
                    self.transitions += 1
                    log.info(
                        "leader.acquired",
                        identity=self.identity,
                        lease=f"{self.settings.namespace}/{self.settings.name}",
                    )
                    break
            except ApiError as exc:
                log.info("leader.campaign_failed", error=str(exc))
            await asyncio.sleep(self.settings.retry_period)
        last_renewal = time.monotonic()
        while True:
            await asyncio.sleep(self.settings.retry_period)
            try:
                if await self._try():
                    last_renewal = time.monotonic()
                    continue
                log.error(
                    "leader.lost", identity=self.identity, reason="another holder took the Lease"
                )
            except ApiError as exc:
                if time.monotonic() - last_renewal < self.settings.renew_deadline:
                    log.warning("leader.renew_failed", error=str(exc))
                    continue
                log.error("leader.lost", identity=self.identity, reason=f"could not renew: {exc}")
            self.lost.set()
            return

    async def release(self) -> None:
        """Give the Lease up (empty holder) so a standby takes over at once; best effort."""
        if not self.is_leader or self._lease is None:
            return
        spec = dict(
            self._lease.get("spec") or {},
            holderIdentity="",
            leaseDurationSeconds=1,
            renewTime=_micro_time(),
        )
        try:
            await self.client.request("PUT", self.path, body=dict(self._lease, spec=spec))
            log.info("leader.released", identity=self.identity)
        except ApiError as exc:
            log.warning("leader.release_failed", error=str(exc))
