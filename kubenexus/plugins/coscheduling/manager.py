"""Gang state, apart from the plugin adapter: PodGroup specs, arrival times, sizes, conflicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kubenexus.api.gang import PodGroupSpec
from kubenexus.api.objects import PodInfo
from kubenexus.framework import SUCCESS, Status


@dataclass(frozen=True, slots=True)
class GangSize:
    size: int | None
    # Why the gang cannot be sized (malformed or conflicting declarations, no PodGroup yet).
    problem: str = ""


class GangManager:
    def __init__(self, default_timeout_seconds: float = 60.0) -> None:
        self.default_timeout_seconds = default_timeout_seconds
        self.preemption_cooldown_seconds = 30.0
        # When each gang last made room by preemption.
        self.preempted_at: dict[str, float] = {}
        self.pod_groups: dict[str, PodGroupSpec] = {}
        # When the gang's first member arrived: gangs queue by this age; the timeout runs from it.
        self.first_seen: dict[str, float] = {}
        # The plan in progress per gang: (minMember, members already placed) and the members
        # reserved by the plan so far. Only the scheduler's gang pass opens and closes plans.
        self._plans: dict[str, tuple[int, int]] = {}
        self._reserved: dict[str, set[str]] = {}
        # Per gang planned: (key, requests) of its members in the order tried (keys read once:
        # requests_to_place runs per member, over every member).
        self._members: dict[str, tuple[tuple[str, Mapping[str, int]], ...]] = {}

    def upsert_pod_group(self, key: str, spec: PodGroupSpec) -> None:
        self.pod_groups[key] = spec

    def remove_pod_group(self, key: str) -> None:
        self.pod_groups.pop(key, None)

    def note_arrival(self, gang: str, when: float) -> None:
        known = self.first_seen.get(gang)
        if known is None or when < known:
            self.first_seen[gang] = when

    def forget(self, gang: str) -> None:
        """The gang has no member left anywhere: drop its bookkeeping."""
        self.first_seen.pop(gang, None)
        self.preempted_at.pop(gang, None)

    def timeout_of(self, gang: str) -> float:
        spec = self.pod_groups.get(gang)
        if spec is not None and spec.schedule_timeout_seconds is not None:
            return spec.schedule_timeout_seconds
        return self.default_timeout_seconds

    def size(self, gang: str, members: Sequence[PodInfo]) -> GangSize:
        """The gang's minMember from its members' declarations and its PodGroup, or why not."""
        for pod in members:
            if pod.gang_error:
                return GangSize(None, f"pod {pod.full_name}: {pod.gang_error}")
        declared: dict[int, str] = {}
        for pod in members:
            if pod.gang_min is not None:
                declared.setdefault(pod.gang_min, pod.full_name)
        spec = self.pod_groups.get(gang)
        if len(declared) > 1:
            claims = ", ".join(f"{name} says {size}" for size, name in sorted(declared.items()))
            return GangSize(
                None, f"conflicting min-available between members of pod group {gang}: {claims}"
            )
        if declared:
            (size,) = declared
            if spec is not None and spec.min_member != size and not spec.managed:
                return GangSize(
                    None,
                    f"pod group {gang}: {declared[size]} declares min-available {size} but the "
                    f"PodGroup's minMember is {spec.min_member}",
                )
            return GangSize(size)
        if spec is not None:
            return GangSize(spec.min_member)
        return GangSize(
            None,
            f"waiting for PodGroup {gang}: its members name it but do not say how many "
            "must run together",
        )

    # ------------------------------------------------------------------ plans (quorum gate)

    def begin_plan(
        self, gang: str, size: int, placed: int, members: Sequence[PodInfo] = ()
    ) -> None:
        """The gang is planned as a unit: ``size`` its minMember, ``placed`` the members already
        placed, ``members`` the ones to plan, in the order they are tried."""
        self._plans[gang] = (size, placed)
        self._reserved[gang] = set()
        self._members[gang] = tuple((m.key, m.requests) for m in members)

    def planning(self, gang: str) -> bool:
        """Whether the gang is being planned as a unit right now."""
        return gang in self._plans

    def still_to_place(self, gang: str) -> int:
        """While the gang is planned: how many members its quorum still needs (this one
        included); 0 otherwise."""
        plan = self._plans.get(gang)
        if plan is None:
            return 0
        size, placed = plan
        return max(size - placed - len(self._reserved.get(gang, ())), 0)

    def requests_to_place(self, gang: str, pod: PodInfo) -> tuple[Mapping[str, int], ...]:
        """While the gang is planned: the requests of the members its quorum still needs, in
        the order they are tried, ``pod`` first; empty otherwise."""
        needed = self.still_to_place(gang)
        reserved = self._reserved.get(gang, set())
        own = pod.key
        rest = [
            requests
            for key, requests in self._members.get(gang, ())
            if key != own and key not in reserved
        ]
        return (pod.requests, *rest)[: max(needed, 1)] if needed else ()

    def end_plan(self, gang: str) -> None:
        self._plans.pop(gang, None)
        self._reserved.pop(gang, None)
        self._members.pop(gang, None)

    def reserve(self, gang: str, key: str) -> None:
        self._reserved.setdefault(gang, set()).add(key)

    def unreserve(self, gang: str, key: str) -> None:
        reserved = self._reserved.get(gang)
        if reserved is not None:
            reserved.discard(key)

    def quorum_status(self, gang: str, plugin: str) -> Status:
        plan = self._plans.get(gang)
        if plan is None:
            return Status.unschedulable(
                f"pod group {gang} is scheduled as a unit, not pod by pod", plugin=plugin
            )
        size, placed = plan
        planned = len(self._reserved.get(gang, ()))
        if placed + planned >= size:
            return SUCCESS
        return Status.unschedulable(
            f"pod group {gang}: only {placed + planned} of minMember {size} members can be placed",
            plugin=plugin,
        )
