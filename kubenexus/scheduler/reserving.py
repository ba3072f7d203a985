"""Reservations kept in step with the cache: every free slot of a holding reservation is counted on
its node as a placeholder pod; a claimed, expired, released or invalid slot is not.

The scheduler calls in here on every change that matters (a reservation object, a node, a pod
placed or gone, the clock); nothing here chooses nodes (the scheduler does, with the profile).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from kubenexus.api.objects import PodInfo
from kubenexus.api.reservation import ReservationSpec
from kubenexus.plugins.resource_reservation import (
    Held,
    HeldSlot,
    ReservationBook,
    may_expire,
    placeholder,
    placeholder_key,
)
from kubenexus.scheduler.cache import ClusterCache


class Reserving:
    def __init__(self, cache: ClusterCache, default_ttl: float) -> None:
        self.cache = cache
        self.book = ReservationBook()
        self.default_ttl = default_ttl
        # Free slots whose room is not free (in use, or their node cordoned), by node:
        # node → reservation → slot names. Retried when room frees there.
        self.waiting: dict[str, dict[str, set[str]]] = {}

    # ------------------------------------------------------------------ placeholders

    def _count(self, held: Held, slot: HeldSlot) -> None:
        """Hold a free slot's room: a placeholder, if its node takes pods and the room is
        free there (a slot whose room others use waits for it: holding it would over-commit
        the node; a cordoned node takes no executor)."""
        key = placeholder_key(held.key, slot.spec.name)
        node = self.cache.node_info(slot.spec.node)
        if node is not None and not node.unschedulable and (key in self.cache or self._fits(slot)):
            if key not in self.cache:
                self.cache.upsert_pod(placeholder(held.spec, slot.spec, self.priority_of(held)))
            slot.counted = True
            self._unmark_waiting(held.key, slot)
        else:
            self._uncount(held, slot)
            self.waiting.setdefault(slot.spec.node, {}).setdefault(held.key, set()).add(
                slot.spec.name
            )

    def priority_of(self, held: Held) -> int:
        """The priority its slots are weighed at by preemption: its driver's (0 unknown)."""
        driver = self.cache.pod(held.spec.driver_uid) if held.spec.driver_uid else None
        return driver.priority if driver is not None else 0

    def _uncount(self, held: Held, slot: HeldSlot) -> bool:
        slot.counted = False
        self._unmark_waiting(held.key, slot)
        return self.cache.remove_pod(placeholder_key(held.key, slot.spec.name)) is not None

    def _unmark_waiting(self, key: str, slot: HeldSlot) -> None:
        per_node = self.waiting.get(slot.spec.node)
        if per_node is None:
            return
        names = per_node.get(key)
        if names is not None:
            names.discard(slot.spec.name)
            if not names:
                del per_node[key]
        if not per_node:
            del self.waiting[slot.spec.node]

    def _fits(self, slot: HeldSlot) -> bool:
        nodes = self.cache.nodes
        index = nodes.slot_of(slot.spec.node)
        if index is None:
            return False
        for resource, amount in slot.spec.requests.items():
            row = nodes.resource_row(resource)
            if amount and (row is None or nodes.free[row, index] < amount):
                return False
        return True

    def hold(self, held: Held, slot: HeldSlot) -> None:
        """One slot as it should be: its room held if it is free and the reservation holds."""
        if held.holding and slot.free and slot.spec.node:
            self._count(held, slot)
        else:
            self._uncount(held, slot)

    def sync(self, held: Held) -> None:
        """Placeholders exactly for the free, placed slots of a holding reservation (those
        whose room is free; the others wait for it)."""
        for slot in held.slots.values():
            self.hold(held, slot)
        self.book.dirty.add(held.key)

    def retry_waiting(self, node: str | None = None) -> bool:
        """Room was freed (on ``node``, or anywhere): slots waiting for it take it first,
        before any pod is placed. True when some slot was held."""
        nodes = [node] if node is not None else sorted(self.waiting)
        held_any = False
        for name in nodes:
            for key, slots in sorted(self.waiting.get(name, {}).items()):
                held = self.book.get(key)
                for slot_name in sorted(slots):
                    slot = held.slots.get(slot_name) if held is not None else None
                    if held is None or slot is None:
                        continue
                    self.hold(held, slot)
                    if slot.counted:
                        held_any = True
                        self.book.dirty.add(key)
        return held_any

    def held_room(self, key: str) -> Counter[tuple[str, tuple[tuple[str, int], ...]]]:
        """The room a reservation holds now: (node, requests) of each counted slot."""
        held = self.book.get(key)
        if held is None:
            return Counter()
        return Counter(
            (slot.spec.node, tuple(sorted(slot.spec.requests.items())))
            for slot in held.slots.values()
            if slot.counted
        )

    def open(self, held: Held, slot: HeldSlot) -> None:
        """Make a free slot's room free (while one of the gang's executors is tried on it);
        ``sync`` holds it again if it is still free afterwards."""
        self._uncount(held, slot)

    # ------------------------------------------------------------------ objects

    def upsert(self, spec: ReservationSpec, now: float, problem: str = "") -> Held:
        """A reservation object (or one the scheduler made) appeared or changed. Claims of
        slots kept under the same name survive; nodes the scheduler chose earlier too."""
        old = self.book.get(spec.key)
        slots = {s.name: HeldSlot(s) for s in spec.slots}
        if old is not None:
            for name, slot in slots.items():
                before = old.slots.get(name)
                if before is None:
                    continue
                if not slot.spec.node and before.spec.node:
                    slot.spec = replace(slot.spec, node=before.spec.node)
                if before.claimed_by and before.spec.node == slot.spec.node:
                    slot.claimed_by, slot.claimed_name = before.claimed_by, before.claimed_name
        created = spec.created if spec.created is not None else now
        ttl = spec.ttl_seconds if spec.ttl_seconds is not None else self.default_ttl
        # A reopened slot's own time to live outlasts the object's: kept from the book, or
        # from the status written before a restart.
        expires = max(created + ttl, spec.expires_at or 0.0)
        if old is not None and old.expires_at is not None and old.spec.ttl_seconds == ttl:
            expires = max(expires, old.expires_at)
        held = Held(spec=spec, slots=slots, expires_at=expires, ttl=ttl)
        if old is not None and old.phase in {"Released", "Expired"}:
            held.phase, held.reason = old.phase, old.reason  # ended is ended
        elif spec.ended in {"Released", "Expired"}:
            # Ended, as its status says: by this scheduler before a restart, or by the leader
            # while this replica stood by.
            held.phase = "Released" if spec.ended == "Released" else "Expired"
            held.reason = spec.ended_reason
        elif spec.problem or problem:
            held.phase, held.problem = "Invalid", spec.problem or problem
        elif any(not s.spec.node for s in slots.values()):
            held.phase = "Pending"  # nodes still to be chosen
        else:
            held.phase = "Active"
        held.since = old.since if old is not None and old.phase == held.phase else now
        if old is not None:
            for slot in old.slots.values():
                self._uncount(old, slot)
        self.book.put(held)
        if held.holding:
            # Executors already bound on a slot's node claim it first (read after a restart,
            # or an object written late): their room is the slot's.
            for node in sorted({s.spec.node for s in held.slots.values() if s.spec.node}):
                for pod in list(self.cache.pods_on(node)):
                    self.adopt(pod, only=held)
        # One read after its time to live passed is not expired here: its executors may be
        # read later (a restart lists everything first); ``expire`` decides, once all is known.
        self.sync(held)
        return held

    def remove(self, key: str) -> Held | None:
        held = self.book.pop(key)
        if held is not None:
            for slot in held.slots.values():
                self._uncount(held, slot)
        return held

    def end(self, held: Held, phase: str, reason: str, now: float) -> None:
        """Release everything not claimed; the object stays, saying why (Released, Expired,
        Invalid)."""
        held.since = now
        if phase == "Invalid":
            held.phase, held.problem = "Invalid", reason
        elif phase == "Expired":
            held.phase, held.reason = "Expired", reason
        else:
            held.phase, held.reason = "Released", reason
        self.sync(held)
        self.book.dirty.add(held.key)

    # ------------------------------------------------------------------ claims

    def claim(self, held: Held, slot: HeldSlot, pod: PodInfo) -> None:
        self._uncount(held, slot)
        self.book.set_claim(held, slot, pod.key, pod.full_name)

    def unclaim(self, pod_key: str, now: float) -> Held | None:
        """The claiming pod is gone (deleted, failed, its binding failed): its slot reopens
        for a replacement while the reservation holds, for a time to live of its own."""
        found = self.book.claim_of(pod_key)
        if found is None:
            return None
        held, slot = found
        self.book.clear_claim(held, slot)
        if held.holding and held.expires_at is not None:
            ttl = held.spec.ttl_seconds if held.spec.ttl_seconds is not None else self.default_ttl
            held.expires_at = max(held.expires_at, now + ttl)
        self.sync(held)
        return held

    def adopt(self, pod: PodInfo, only: Held | None = None) -> bool:
        """A bound executor of a reservation's group on the node of one of its free slots
        (ours confirmed by the watch, or read after a restart) claims that slot."""
        if pod.role != "executor" or not pod.group or self.book.claim_of(pod.key) is not None:
            return False
        node = self.cache.node_of(pod.key) or pod.node_name
        for held in [only] if only is not None else self.book.of_gang(pod.group):
            if not held.holding or held.spec.gang != pod.group:
                continue
            for slot in held.free_slots():
                if slot.spec.node == node:
                    self.claim(held, slot, pod)
                    return True
        return False

    # ------------------------------------------------------------------ time

    def expire(self, now: float) -> list[Held]:
        """Reservations whose time to live passed: their free slots are released."""
        expired = [
            held
            for held in self.book.held.values()
            if may_expire(held) and held.expires_at is not None and held.expires_at <= now
        ]
        for held in expired:
            self.end(held, "Expired", "its time to live passed before every slot was claimed", now)
        return expired

    def next_expiry(self) -> float | None:
        times = [
            h.expires_at
            for h in self.book.held.values()
            if may_expire(h) and h.expires_at is not None
        ]
        return min(times) if times else None
