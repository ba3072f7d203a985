"""Reservations held in the core: slots of capacity on nodes for a gang's executors.

A free slot is counted in the node table as a placeholder pod (so every other pod sees the room
as taken); an executor of the gang claims a slot and its own request replaces the placeholder.
This module keeps the state and says which placeholders must exist; the scheduler keeps the
cache in step with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final, Literal

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo, shared_requests
from kubenexus.api.quantity import format_amount
from kubenexus.api.reservation import ReservationSpec, SlotSpec

Phase = Literal["Pending", "Active", "Released", "Expired", "Invalid"]
HOLDING: Final = frozenset({"Active"})
PLACEHOLDER_PREFIX: Final = "reservation:"
MAX_NAME: Final = 253


@dataclass(slots=True)
class HeldSlot:
    spec: SlotSpec
    claimed_by: str = ""  # the claiming pod's key
    claimed_name: str = ""  # namespace/name, for the status
    # Its room is held (a placeholder counted on its node); a free slot of a holding
    # reservation that is not counted waits for its room to free.
    counted: bool = False

    @property
    def free(self) -> bool:
        return not self.claimed_by


@dataclass(slots=True)
class Held:
    spec: ReservationSpec
    slots: dict[str, HeldSlot]
    phase: Phase = "Pending"
    problem: str = ""
    expires_at: float | None = None
    # Why it ended (Released / Expired): for the status and the Event.
    reason: str = ""
    # When it entered its phase (the condition's lastTransitionTime).
    since: float = 0.0
    # Its time to live in seconds (the object's, else the plugin's default).
    ttl: float = 0.0
    # Unclaimed slots with a node, by node (insertion-ordered sets of slot names): an
    # executor looks only at one per node, whatever the reservation's size.
    free_by_node: dict[str, dict[str, None]] = field(default_factory=dict)
    unclaimed: int = 0  # slots not claimed (with or without a node)

    def __post_init__(self) -> None:
        self.free_by_node.clear()
        self.unclaimed = 0
        for slot in self.slots.values():
            if slot.free:
                self._free(slot)

    def _free(self, slot: HeldSlot) -> None:
        self.unclaimed += 1
        if slot.spec.node:
            self.free_by_node.setdefault(slot.spec.node, {})[slot.spec.name] = None

    def _taken(self, slot: HeldSlot) -> None:
        self.unclaimed -= 1
        names = self.free_by_node.get(slot.spec.node)
        if names is not None:
            names.pop(slot.spec.name, None)
            if not names:
                del self.free_by_node[slot.spec.node]

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def holding(self) -> bool:
        return self.phase in HOLDING

    def free_slots(self) -> Iterator[HeldSlot]:
        return (slot for slot in self.slots.values() if slot.free and slot.spec.node)

    def first_free_per_node(self) -> Iterator[HeldSlot]:
        """One unclaimed slot on each node that has some."""
        return (self.slots[next(iter(names))] for names in self.free_by_node.values())


def placeholder_key(reservation: str, slot: str) -> str:
    return f"{PLACEHOLDER_PREFIX}{reservation}/{slot}"


def is_placeholder(key: str) -> bool:
    return key.startswith(PLACEHOLDER_PREFIX)


def reservation_of(key: str) -> str:
    """The reservation ("namespace/name") a placeholder's key holds a slot of."""
    return key[len(PLACEHOLDER_PREFIX) :].rsplit("/", 1)[0]


def placeholder(spec: ReservationSpec, slot: SlotSpec, priority: int = 0) -> PodInfo:
    """The stand-in pod that holds a free slot's room on its node (never scheduled itself),
    at its driver's priority (preemption weighs a slot as a pod of that priority)."""
    requests = dict(slot.requests)
    return PodInfo(
        namespace=spec.namespace,
        name=f"{spec.name}.{slot.name}",
        uid=placeholder_key(spec.key, slot.name),
        requests=shared_requests(requests),
        node_name=slot.node,
        phase="Running",
        priority=priority,
        score_cpu=requests.get(keys.CPU, 0) or keys.DEFAULT_SCORE_MILLI_CPU,
        score_memory=requests.get(keys.MEMORY, 0) or keys.DEFAULT_SCORE_MEMORY,
    )


def reservation_name(driver_name: str, attempt: int = 1) -> str:
    """The ResourceReservation made for a driver: its name (``-2``, ``-3``… when an earlier
    one of that name ended or belongs to something else), shortened with a hash if long."""
    name = driver_name if attempt == 1 else f"{driver_name}-{attempt}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: MAX_NAME - 11]}-{digest}"


class ReservationBook:
    """Every reservation the scheduler knows, by key, by gang, by driver and by claiming pod;
    which need a status write."""

    def __init__(self) -> None:
        self.held: dict[str, Held] = {}
        self._by_gang: dict[str, set[str]] = {}
        self._by_driver: dict[str, set[str]] = {}
        self._claims: dict[str, tuple[str, str]] = {}  # pod key → (reservation, slot)
        # Reservations whose status changed since the shell last wrote them.
        self.dirty: set[str] = set()

    def __len__(self) -> int:
        return len(self.held)

    def get(self, key: str) -> Held | None:
        return self.held.get(key)

    def of_gang(self, gang: str) -> list[Held]:
        return [self.held[k] for k in sorted(self._by_gang.get(gang, ()))]

    def of_driver(self, driver_key: str) -> list[Held]:
        return [self.held[k] for k in sorted(self._by_driver.get(driver_key, ()))]

    def put(self, held: Held) -> None:
        old = self.held.get(held.key)
        if old is not None:
            self._unindex(old)
        self.held[held.key] = held
        _index(self._by_gang, held.spec.gang, held.key)
        _index(self._by_driver, held.spec.driver_uid, held.key)
        for slot in held.slots.values():
            if slot.claimed_by:
                self._claims[slot.claimed_by] = (held.key, slot.spec.name)
        self.dirty.add(held.key)

    def pop(self, key: str) -> Held | None:
        held = self.held.pop(key, None)
        if held is not None:
            self._unindex(held)
        self.dirty.discard(key)
        return held

    def _unindex(self, held: Held) -> None:
        _unindex(self._by_gang, held.spec.gang, held.key)
        _unindex(self._by_driver, held.spec.driver_uid, held.key)
        for slot in held.slots.values():
            if self._claims.get(slot.claimed_by) == (held.key, slot.spec.name):
                del self._claims[slot.claimed_by]

    def set_claim(self, held: Held, slot: HeldSlot, pod_key: str, pod_name: str) -> None:
        self.clear_claim(held, slot)
        slot.claimed_by, slot.claimed_name = pod_key, pod_name
        held._taken(slot)
        self._claims[pod_key] = (held.key, slot.spec.name)
        self.dirty.add(held.key)

    def clear_claim(self, held: Held, slot: HeldSlot) -> None:
        if not slot.claimed_by:
            return
        if self._claims.get(slot.claimed_by) == (held.key, slot.spec.name):
            del self._claims[slot.claimed_by]
        slot.claimed_by = slot.claimed_name = ""
        held._free(slot)
        self.dirty.add(held.key)

    def claim_of(self, pod_key: str) -> tuple[Held, HeldSlot] | None:
        """The slot a pod claims, if any."""
        found = self._claims.get(pod_key)
        if found is None:
            return None
        held = self.held[found[0]]
        return held, held.slots[found[1]]

    def phase_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("Pending", "Active", "Released", "Expired", "Invalid"), 0)
        for held in self.held.values():
            counts[held.phase] += 1
        return counts

    def reserved(self) -> dict[str, int]:
        """Room held by free slots, per resource (for the metrics)."""
        total: dict[str, int] = {}
        for held in self.held.values():
            if not held.holding:
                continue
            for slot in held.free_slots():
                if not slot.counted:
                    continue
                for name, amount in slot.spec.requests.items():
                    if name == keys.PODS:
                        continue
                    total[name] = total.get(name, 0) + amount
        return total

    def status(self, key: str) -> Mapping[str, object]:
        """The object's status as the scheduler sees it (the same state gives the same status,
        so a writer can skip what it already wrote)."""
        held = self.held[key]
        slots = {
            name: {
                "node": slot.spec.node,
                "state": _slot_state(held, slot),
                **({"pod": slot.claimed_name} if slot.claimed_name else {}),
            }
            for name, slot in held.slots.items()
        }
        claimed = sum(1 for slot in held.slots.values() if slot.claimed_by)
        reason, message = _condition(held, claimed)
        status: dict[str, object] = {
            "phase": held.phase,
            "claimed": claimed,
            "total": len(held.slots),
            "claims": f"{claimed}/{len(held.slots)}",
            "slots": slots,
            "message": message,
            "conditions": [
                {
                    "type": "Holding",
                    "status": "True" if held.holding else "False",
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": rfc3339(held.since),
                }
            ],
        }
        if held.expires_at is not None and may_expire(held):
            status["expiresAt"] = rfc3339(held.expires_at)
        return MappingProxyType(status)


def may_expire(held: Held) -> bool:
    """Still holding (or waiting to hold) room no executor claimed: a fully claimed
    reservation has nothing to release and never expires."""
    return held.phase == "Pending" or (held.phase == "Active" and held.unclaimed > 0)


def _slot_state(held: Held, slot: HeldSlot) -> str:
    if slot.claimed_by:
        return "Claimed"
    if held.phase == "Pending":
        return "Pending"
    if held.phase == "Invalid":
        return "NotHeld"
    if not held.holding:
        return "Released"
    return "Free" if slot.counted else "Waiting"


def rfc3339(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(held: Held, claimed: int) -> tuple[str, str]:
    """The Holding condition's reason and message: what the reservation does now, or why not."""
    total = len(held.slots)
    if held.phase == "Invalid":
        return "Invalid", held.problem
    if held.phase in {"Released", "Expired"}:
        return held.phase, held.reason
    if held.phase == "Pending":
        return "NodesNotChosen", held.reason or "nodes for its slots are still to be chosen"
    free = total - claimed
    if not free:
        return "AllClaimed", f"all {total} slots are claimed"
    waiting = [
        f"{slot.spec.name} on {slot.spec.node}"
        for slot in held.slots.values()
        if slot.free and not slot.counted
    ]
    if waiting:
        return "WaitingForRoom", (
            f"{free - len(waiting)} of {total} slots held for {held.spec.gang}; waiting for "
            f"room (in use by other pods, or the node is cordoned): {', '.join(waiting[:5])}"
            + (f" and {len(waiting) - 5} more" if len(waiting) > 5 else "")
        )
    return "Holding", f"{free} of {total} slots held for {held.spec.gang}"


def _size(requests: Mapping[str, int]) -> str:
    parts = [
        f"{format_amount(name, amount)} {name}"
        for name, amount in requests.items()
        if name != keys.PODS and amount
    ]
    return ", ".join(parts)


def _index(index: dict[str, set[str]], value: str, key: str) -> None:
    if value:
        index.setdefault(value, set()).add(key)


def _unindex(index: dict[str, set[str]], value: str, key: str) -> None:
    keys_ = index.get(value)
    if keys_ is not None:
        keys_.discard(key)
        if not keys_:
            del index[value]


def reserved_message(held: Held) -> str:
    """The driver's Event once its reservation is made: how much, where, for how long."""
    per_node: dict[str, int] = {}
    for slot in held.slots.values():
        per_node[slot.spec.node] = per_node.get(slot.spec.node, 0) + 1
    where = ", ".join(f"{node} ×{count}" for node, count in sorted(per_node.items()))
    sizes = {_size(slot.spec.requests) for slot in held.slots.values()}
    size = f" ({sizes.pop()} each)" if len(sizes) == 1 else ""
    ttl = "" if held.expires_at is None else f"; unclaimed slots are released after {_ttl(held)}"
    return (
        f"Reserved room for {len(held.slots)} executors{size} on {where} "
        f"(ResourceReservation {held.key}){ttl}"
    )


def expired_message(held: Held) -> str:
    released = sum(1 for slot in held.slots.values() if slot.free and slot.spec.node)
    return (
        f"ResourceReservation {held.key}: {released} unclaimed slot(s) released, its time to "
        f"live ({_ttl(held)}) passed"
    )


def claimed_message(reservation: str, slot: str, node: str) -> str:
    return f"Claimed slot {slot} of ResourceReservation {reservation} on {node}"


def _ttl(held: Held) -> str:
    return f"{held.ttl:g}s" if held.ttl else "its time to live"
