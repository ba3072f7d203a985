"""Per-attempt scratch space: written once by pre-filter, read many times by filter and score."""

from __future__ import annotations

from typing import Any, Final, TypeVar

T = TypeVar("T")

# Keys one plugin (or the runtime) writes for others.
# While a gang is planned: the requests of the members its quorum still needs, this pod's
# first (Coscheduling writes it; empty or absent: not planned as a unit).
GANG_STILL_TO_PLACE: Final = "Coscheduling/still-to-place"
# The nodes the filters run so far let through (the runtime's live mask, read-only): a filter
# that weighs nodes together (NetworkFabricScore's clique room) counts only those.
FEASIBLE_SO_FAR: Final = "runtime/feasible-so-far"
# Present when the caller named the nodes to try (a preemption's dry run with the victims taken
# off, a claim on reserved room): the question is whether the pod fits there.
NODES_GIVEN: Final = "runtime/nodes-given"


class CycleState:
    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}

    def write(self, key: str, value: object) -> None:
        self._data[key] = value

    def read(self, key: str, kind: type[T]) -> T:
        value = self._data[key]
        if not isinstance(value, kind):
            raise TypeError(
                f"cycle state {key!r} holds {type(value).__name__}, not {kind.__name__}"
            )
        return value

    def get(self, key: str, default: T) -> T:
        return self._data.get(key, default)  # type: ignore[no-any-return]

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def clone(self) -> CycleState:
        """A shallow copy: values are treated as immutable once written."""
        other = CycleState()
        other._data = dict(self._data)
        return other
