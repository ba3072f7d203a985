"""PodGroup objects kept true: created for gangs declared only by pod labels, and their status
(phase, counts, timestamps, timeout condition) updated as members come, run and finish.

Phases: Pending (members known, never tried) → Scheduling (tried, not placed yet) → Scheduled
(minMember bound) → Running (members running; with those finished they make minMember) →
Succeeded (minMember succeeded, none left running) or Failed (a member failed and minMember can
no longer be met).
Only the leader writes; writes happen at most once per second per group and only on change.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import structlog

from kubenexus.api.keys import MANAGED_BY_LABEL, SCHEDULER_NAME
from kubenexus.shell.client import MERGE_PATCH, ApiError, KubeClient

log = structlog.get_logger(__name__)
GROUP_PATH: Final = "/apis/scheduling.kubenexus.io/v1alpha1/namespaces/{namespace}/podgroups"
MANAGED_BY: Final = {MANAGED_BY_LABEL: SCHEDULER_NAME}
_PLACED: Final = frozenset({"Scheduled", "Running", "Succeeded"})


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Gang:
    min_member: int | None = None
    # member key → "Pending" (not bound), "Bound", "Running", "Succeeded", "Failed"
    members: dict[str, str] = field(default_factory=dict)
    tried: bool = False
    timeout_message: str = ""
    # A ScheduleTimeout condition was written: once the gang schedules it is set to False.
    timeout_reported: bool = False
    start_time: str = field(default_factory=_now)
    last_schedule_time: str = ""
    exists: bool | None = None  # None: not checked yet
    written: dict[str, Any] | None = None
    # Made by us (managed-by label): its spec.minMember follows the members' declared size.
    managed: bool = False
    object_min_member: int | None = None  # spec.minMember of the object as last seen
    declared: int | None = None  # the size the members declare (None: they leave it to it)


def member_state(obj: Mapping[str, Any]) -> str:
    phase = (obj.get("status") or {}).get("phase", "Pending")
    if phase in {"Running", "Succeeded", "Failed"}:
        return str(phase)
    return "Bound" if (obj.get("spec") or {}).get("nodeName") else "Pending"


def phase_of(gang: _Gang) -> str:
    states = list(gang.members.values())
    running = states.count("Running")
    succeeded = states.count("Succeeded")
    failed = states.count("Failed")
    bound = states.count("Bound") + running
    size = gang.min_member or 1
    if succeeded >= size and running == 0:
        return "Succeeded"
    if failed and bound + succeeded + states.count("Pending") < size:
        return "Failed"
    if running and running + succeeded >= size:
        return "Running"
    if bound + succeeded >= size:
        return "Scheduled"
    return "Scheduling" if gang.tried else "Pending"


def _resume_from(record: _Gang, status: Mapping[str, Any]) -> None:
    """What an earlier writer (this daemon before a restart, an old leader) left in the
    object's status and must carry on: the last schedule time, and a ScheduleTimeout=True
    condition, to be turned False once the gang is placed."""
    if not isinstance(status, Mapping):
        return
    last = status.get("lastScheduleTime")
    if isinstance(last, str) and last and not record.last_schedule_time:
        record.last_schedule_time = last
    conditions = status.get("conditions")
    if isinstance(conditions, list):
        record.timeout_reported = record.timeout_reported or any(
            isinstance(c, Mapping)
            and c.get("type") == "ScheduleTimeout"
            and c.get("status") == "True"
            for c in conditions
        )


class PodGroupStatusWriter:
    def __init__(self, client: KubeClient, period: float = 1.0) -> None:
        self.client = client
        self.period = period
        self._gangs: dict[str, _Gang] = {}
        # member key → its gang, so a deletion (any pod of the cluster) is one lookup
        self._gang_of: dict[str, str] = {}
        self._dirty: set[str] = set()
        self.writes = 0

    # ------------------------------------------------------------------ inputs (sync)

    def member_seen(
        self, gang: str, key: str, state: str, min_member: int | None, created: str = ""
    ) -> None:
        """A member as the pod informer shows it; ``created``: its creationTimestamp (the
        gang's scheduleStartTime is its first member's, whenever this writer started)."""
        previous = self._gang_of.get(key)
        if previous is not None and previous != gang:  # its labels moved it to another gang
            self.member_gone(key)
        self._gang_of[key] = gang
        record = self._gangs.get(gang)
        if record is None:
            record = self._gangs[gang] = _Gang(start_time=created or _now())
        elif created and created < record.start_time:
            record.start_time = created
            self._dirty.add(gang)
        if min_member is not None:
            record.min_member = record.declared = min_member
        if record.members.get(key) != state:
            if state in {"Bound", "Running"} and record.members.get(key) == "Pending":
                record.last_schedule_time = _now()
            record.members[key] = state
            if record.timeout_message and phase_of(record) in _PLACED:
                record.timeout_message = ""  # it made it after all
            self._dirty.add(gang)

    def member_gone(self, key: str) -> None:
        gang = self._gang_of.pop(key, None)
        if gang is None:
            return
        record = self._gangs.get(gang)
        if record is not None and record.members.pop(key, None) is not None:
            self._dirty.add(gang)
            if not record.members and record.exists is not True:
                # Nothing was ever written for it (a standby writes nothing): nothing to keep.
                del self._gangs[gang]
                self._dirty.discard(gang)

    def attempted(self, gang: str, message: str) -> None:
        record = self._gangs.setdefault(gang, _Gang())
        timeout = message if message.startswith("timed out") else ""
        if not record.tried or record.timeout_message != timeout:
            record.tried = True
            record.timeout_message = timeout
            self._dirty.add(gang)

    def observed(self, gang: str, min_member: int, *, managed: bool) -> None:
        """The PodGroup object as the informer saw it. A user's object sizes the gang; one we made
        ourselves is resized to what the members declare (it must never block them)."""
        record = self._gangs.setdefault(gang, _Gang())
        record.managed = managed
        record.object_min_member = min_member
        record.exists = True
        if not managed and record.min_member != min_member:
            record.min_member = min_member
            self._dirty.add(gang)
        elif managed and record.min_member not in {None, min_member}:
            self._dirty.add(gang)

    def object_gone(self, gang: str) -> None:
        """The PodGroup object was deleted: its size goes with it (only what the members
        declare may make one again; a gang sized by the deleted object waits for a new one)."""
        record = self._gangs.get(gang)
        if record is None:
            return
        record.exists = False
        record.object_min_member = None
        record.written = None
        if not record.managed:
            record.min_member = record.declared
        record.managed = False
        self._dirty.add(gang)

    def resume(self, gang: str, status: Mapping[str, Any]) -> None:
        """The object's status as the informer saw it, before this writer wrote any: what an
        earlier writer left there (before a restart, an old leader) is carried on."""
        record = self._gangs.get(gang)
        if record is not None and record.written is None:
            _resume_from(record, status)

    def phase_counts(self) -> dict[str, int]:
        phases = ("Pending", "Scheduling", "Scheduled", "Running", "Succeeded", "Failed")
        counts = dict.fromkeys(phases, 0)
        for record in self._gangs.values():
            counts[phase_of(record)] += 1
        return counts

    def status_of(self, gang: str) -> dict[str, Any]:
        record = self._gangs[gang]
        states = list(record.members.values())
        status: dict[str, Any] = {
            "phase": phase_of(record),
            "scheduled": states.count("Bound") + states.count("Running"),
            "running": states.count("Running"),
            "succeeded": states.count("Succeeded"),
            "failed": states.count("Failed"),
            "scheduleStartTime": record.start_time,
        }
        if record.last_schedule_time:
            status["lastScheduleTime"] = record.last_schedule_time
        if record.timeout_message:
            status["conditions"] = [
                {
                    "type": "ScheduleTimeout",
                    "status": "True",
                    "reason": "Timeout",
                    "message": record.timeout_message[:1024],
                    "lastTransitionTime": _now(),
                }
            ]
        elif record.timeout_reported:
            status["conditions"] = [
                {
                    "type": "ScheduleTimeout",
                    "status": "False",
                    "reason": "Scheduled",
                    "message": f"minMember ({record.min_member or 1}) members are placed",
                    "lastTransitionTime": _now(),
                }
            ]
        return status

    # ------------------------------------------------------------------ writer (async)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            await self.flush()

    async def flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for gang in dirty:
            try:
                await self._write(gang)
            except ApiError as exc:
                log.warning("podgroup.status_failed", pod_group=gang, error=str(exc))
                if exc.transient:
                    self._dirty.add(gang)

    async def _write(self, gang: str) -> None:
        record = self._gangs.get(gang)
        if record is None:
            return
        if not record.members and record.exists is not True:
            self._gangs.pop(gang, None)
            return
        namespace, name = gang.split("/", 1)
        path = GROUP_PATH.format(namespace=quote(namespace, safe=""))
        # A gang named by an annotation can hold any text ("x?y=1", "../x"): one path segment.
        item = f"{path}/{quote(name, safe='')}"
        if record.exists is None:
            try:
                found = await self.client.request("GET", item)
            except ApiError as exc:
                if exc.status != 404:
                    raise
                record.exists = False
            else:
                record.exists = True
                labels = (found.get("metadata") or {}).get("labels") or {}
                record.managed = labels.get(MANAGED_BY_LABEL) == SCHEDULER_NAME
                record.object_min_member = (found.get("spec") or {}).get("minMember")
                _resume_from(record, found.get("status") or {})
        if not record.exists:
            if record.min_member is None:
                return  # sized by a PodGroup that does not exist yet: nothing to create from
            body = {
                "apiVersion": "scheduling.kubenexus.io/v1alpha1",
                "kind": "PodGroup",
                "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
                "spec": {"minMember": record.min_member},
            }
            try:
                await self.client.request("POST", path, body=body)
            except ApiError as exc:
                if exc.status != 409:  # someone created it meanwhile: fine
                    raise
            record.exists = True
            record.managed = True
            record.object_min_member = record.min_member
        if (
            record.managed
            and record.min_member is not None
            and record.object_min_member != record.min_member
        ):
            # Ours, from an earlier run of a gang of this name with another size: follow the
            # members (a user's PodGroup is theirs: conflicts are reported, not overwritten).
            await self.client.request(
                "PATCH",
                item,
                body={"spec": {"minMember": record.min_member}},
                content_type=MERGE_PATCH,
            )
            record.object_min_member = record.min_member
        status = self.status_of(gang)
        comparable = {k: v for k, v in status.items() if k != "conditions"} | {
            "timeout": record.timeout_message
        }
        if comparable == record.written:
            return
        # What this write says of the timeout, as of now: the gang may be placed (and its
        # message cleared) while the request is in flight.
        timeout_written = bool(record.timeout_message)
        try:
            await self.client.request(
                "PATCH", f"{item}/status", body={"status": status}, content_type=MERGE_PATCH
            )
        except ApiError as exc:
            if exc.status == 404:  # deleted by a user: recreate on the next change
                record.exists = None
            raise
        record.written = comparable
        record.timeout_reported = timeout_written
        self.writes += 1
        if not record.members:  # its last member is gone: nothing more will change
            self._gangs.pop(gang, None)
