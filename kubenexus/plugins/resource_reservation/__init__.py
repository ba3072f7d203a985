"""ResourceReservation: a driver (Spark driver, Ray head) is admitted only together with room for
all its executors, and that room is held for them until they claim it.

The scheduler plans a driver like a gang of one real pod and N executor-shaped slots (every
filter applied to each slot), commits the driver and holds the slots as placeholders in the node
table; executors of the same gang claim a free slot on a node that suits them. This module holds
the plugin's arguments, the executor shape read from a driver, and the book of reservations
(``book.py``); the cycle itself is run by the scheduler, as for gangs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from kubenexus.api import keys
from kubenexus.api.gang import PodGroupSpec
from kubenexus.api.objects import PodInfo
from kubenexus.api.quantity import format_amount, parse_quantity, resource_amount
from kubenexus.api.reservation import MAX_SLOTS
from kubenexus.errors import InvalidInputError
from kubenexus.framework import SKIP, SUCCESS, ClusterEvent, CycleState, NodeTable, Status
from kubenexus.plugins.args import PluginArgs
from kubenexus.plugins.resource_reservation.book import (
    Held,
    HeldSlot,
    ReservationBook,
    claimed_message,
    expired_message,
    is_placeholder,
    may_expire,
    placeholder,
    placeholder_key,
    reservation_name,
    reserved_message,
)


class ResourceReservationArgs(PluginArgs):
    # Unclaimed slots are released this long after the reservation was made, unless the
    # object says otherwise (ttlSeconds or duration).
    default_ttl_seconds: float = Field(default=600.0, gt=0)


@dataclass(frozen=True, slots=True)
class ExecutorShape:
    count: int
    requests: Mapping[str, int]

    def describe(self) -> str:
        parts = [
            f"{format_amount(name, amount)} {name}"
            for name, amount in self.requests.items()
            if name != keys.PODS and amount
        ]
        return ", ".join(parts) or "no resources"


def _annotation(pod: PodInfo, spellings: tuple[str, ...]) -> tuple[str, str] | None:
    for key in spellings:
        if key in pod.annotations:
            return key, pod.annotations[key]
    return None


def executor_shape(pod: PodInfo, group: PodGroupSpec | None) -> ExecutorShape | None:
    """How many executors to hold room for, and each one's requests: from the driver's
    annotations, else from its PodGroup (minMember - 1 executors sharing what minResources
    leaves after the driver). None when neither says. Malformed annotations raise
    InvalidInputError naming the key."""
    found = _annotation(pod, keys.EXECUTOR_COUNT_KEYS)
    if found is not None:
        key, raw = found
        text = raw.strip()
        # ASCII digits only (Python's int() also takes "1_0" and other scripts' digits).
        count = int(text) if text.isascii() and text.isdigit() else -1
        if count < 0:
            raise InvalidInputError(
                f"metadata.annotations[{key}]", raw, "must be a whole number of executors"
            )
        if count > MAX_SLOTS:
            raise InvalidInputError(
                f"metadata.annotations[{key}]", raw, f"at most {MAX_SLOTS} executors"
            )
        requests: dict[str, int] = {}
        for resource, spellings in keys.EXECUTOR_RESOURCE_KEYS.items():
            given = _annotation(pod, spellings)
            if given is not None:
                field = f"metadata.annotations[{given[0]}]"
                amount = resource_amount(resource, given[1], field)
                if resource != keys.CPU and parse_quantity(given[1], field) != amount:
                    raise InvalidInputError(field, given[1], f"{resource} comes in whole units")
                if amount < 0:
                    raise InvalidInputError(
                        f"metadata.annotations[{given[0]}]", given[1], "must not be negative"
                    )
                if amount:
                    requests[resource] = amount
        if count and not requests:
            raise InvalidInputError(
                f"metadata.annotations[{key}]",
                raw,
                "needs the executors' size too (executor-cpu, executor-memory, executor-gpu)",
            )
        requests[keys.PODS] = 1
        return ExecutorShape(count, requests)
    if group is None or group.min_member <= 1 or not group.min_resources:
        return None
    count = group.min_member - 1
    share: dict[str, int] = {}
    for resource, total in group.min_resources.items():
        left = total - pod.requests.get(resource, 0)
        if left > 0:
            share[resource] = -(-left // count)  # rounded up: never less than asked
    share[keys.PODS] = 1
    return ExecutorShape(count, share)


class ResourceReservation:
    name: ClassVar[str] = "ResourceReservation"
    # A driver short of room for its executors waits for room: nodes, allocatable, pods gone.
    cluster_events: ClassVar[ClusterEvent] = (
        ClusterEvent.NODE_ADDED
        | ClusterEvent.NODE_ALLOCATABLE_UP
        | ClusterEvent.POD_REMOVED
        | ClusterEvent.NODE_LABELS
        | ClusterEvent.NODE_TAINTS
        | ClusterEvent.NODE_SCHEDULABLE
        | ClusterEvent.POD_GROUP
    )

    def __init__(self, args: ResourceReservationArgs | None = None) -> None:
        self.args = args or ResourceReservationArgs()

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: NodeTable) -> Status:
        """A driver whose executor annotations cannot be read is told so (it waits; nothing
        is placed on a guess). Every other pod: nothing to do."""
        if pod.role != "driver":
            return SKIP
        try:
            executor_shape(pod, None)
        except InvalidInputError as exc:
            return Status.unresolvable(str(exc), plugin=self.name)
        return SUCCESS


__all__ = [
    "ExecutorShape",
    "Held",
    "HeldSlot",
    "ReservationBook",
    "ResourceReservation",
    "ResourceReservationArgs",
    "claimed_message",
    "executor_shape",
    "expired_message",
    "is_placeholder",
    "may_expire",
    "placeholder",
    "placeholder_key",
    "reservation_name",
    "reserved_message",
]
