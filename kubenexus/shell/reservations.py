"""ResourceReservation objects in the API: the one made for a driver (written before the driver's
Binding, so a restart finds the room it holds), and every reservation's status kept true.

The core decides everything (which slots, on which nodes, claimed by whom, expired or not) and
marks what changed in ``ReservationBook.dirty``; this writes it. Only the leader writes; a status
equal to the one last written is not written again (our own write comes back as a watch event).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

import structlog

from kubenexus.api.reservation import GROUP, PLURAL, VERSION, reservation_to_dict
from kubenexus.plugins.resource_reservation import ReservationBook
from kubenexus.scheduler import Scheduled
from kubenexus.shell.client import MERGE_PATCH, ApiError, KubeClient

log = structlog.get_logger(__name__)
JSON_PATCH: Final = "application/json-patch+json"


def reservation_path(namespace: str, name: str = "", sub: str = "") -> str:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{quote(namespace, safe='')}/{PLURAL}"
    if name:
        path += f"/{quote(name, safe='')}"
    if sub:
        path += f"/{sub}"
    return path


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(o, Mapping) and o.get("uid") == uid for o in owners)


class ReservationWriter:
    def __init__(self, client: KubeClient, book: ReservationBook, period: float = 0.5) -> None:
        self.client = client
        self.book = book
        self.period = period
        self._written: dict[str, Mapping[str, object]] = {}
        self.writes = 0

    async def create_for(self, decision: Scheduled, gate: Any = None) -> None:
        """Write the reservation the core made for a driver, before its Binding. An object of
        that name already owned by this driver (an earlier attempt) takes the new slots; one
        owned by anything else is a conflict the binding reports (and retries)."""
        spec = decision.reservation
        if spec is None:
            return
        pod = decision.pod
        body = reservation_to_dict(spec, pod.uid)
        path = reservation_path(spec.namespace)
        try:
            await self.client.request("POST", path, body=body, gate=gate)
            return
        except ApiError as exc:
            if exc.status != 409:
                raise
        existing = await self.client.request("GET", reservation_path(spec.namespace, spec.name))
        if not pod.uid or not _owned_by(existing, pod.uid):
            raise ApiError(
                409,
                "AlreadyExists",
                f"ResourceReservation {spec.key} exists and does not belong to driver "
                f"{pod.full_name}: delete it or rename the driver",
            )
        old_slots = ((existing.get("spec") or {}).get("reservations") or {}).keys()
        new_spec = dict(body["spec"])
        new_spec["reservations"] = {
            **dict.fromkeys(old_slots),  # slots no longer in the reservation: removed
            **new_spec["reservations"],
        }
        await self.client.request(
            "PATCH",
            reservation_path(spec.namespace, spec.name),
            body={"spec": new_spec},
            content_type=MERGE_PATCH,
            gate=gate,
        )

    # ------------------------------------------------------------------ status

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            await self.flush()

    async def flush(self) -> None:
        dirty, self.book.dirty = self.book.dirty, set()
        for key in sorted(dirty):
            try:
                await self._write(key)
            except ApiError as exc:
                log.warning("reservation.status_failed", reservation=key, error=str(exc))
                if exc.transient:
                    self.book.dirty.add(key)
        for key in [k for k in self._written if k not in self.book.held]:
            del self._written[key]

    async def _write(self, key: str) -> None:
        if key not in self.book.held:
            return
        status = self.book.status(key)
        if self._written.get(key) == status:
            return
        namespace, name = key.split("/", 1)
        try:
            await self.client.request(
                "PATCH",
                reservation_path(namespace, name, "status"),
                # The whole status replaced: slots removed by an edit must not linger.
                body=[{"op": "add", "path": "/status", "value": dict(status)}],
                content_type=JSON_PATCH,
            )
        except ApiError as exc:
            if exc.status == 404:
                return  # not created yet (its creation is reported as a change) or deleted
            raise
        self._written[key] = status
        self.writes += 1
