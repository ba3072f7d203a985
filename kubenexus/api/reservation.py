"""ResourceReservation objects as the scheduler reads them: capacity held on nodes for members of
a gang that do not exist yet (a Spark driver's executors).

Spec, as written by the scheduler for a driver or by hand (``kubectl apply``):

- ``podGroupName``: the gang whose executors may claim the slots;
- ``reservations``: slot name → ``{node, resources}`` (a ResourceList; ``node`` may be left out
  for the scheduler to choose), or the shorthand ``resources`` + ``count`` (``count`` slots of
  ``resources``, nodes chosen by the scheduler and recorded in the status);
- ``ttlSeconds`` or ``duration`` (``10m``, ``1h30m``): unclaimed slots are released this long
  after the object was created.

A malformed object is still read: it comes back with ``problem`` set (naming the field), so the
scheduler can hold nothing for it and say why in its status.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from kubenexus.api import keys
from kubenexus.api.quantity import exact_quantity, resource_amount
from kubenexus.errors import InvalidInputError

GROUP: Final = "scheduling.kubenexus.io"
VERSION: Final = "v1alpha1"
PLURAL: Final = "resourcereservations"
# Slot names the shorthand (resources + count) stands for.
SHORTHAND_SLOT: Final = "slot-{index}"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SLOT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_UNITS: Final = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
MAX_SLOTS: Final = 10_000
MAX_SLOT_NAME: Final = 63
# Go's time.Duration is int64 nanoseconds: about 292 years.
MAX_DURATION_SECONDS: Final = (2**63 - 1) / 1e9
ENDED: Final = frozenset({"Released", "Expired"})
KIND: Final = "ResourceReservation"


@dataclass(frozen=True, slots=True)
class SlotSpec:
    name: str
    # "" until the scheduler chose (shorthand slots, or a slot written without a node).
    node: str
    requests: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ReservationSpec:
    namespace: str
    name: str
    gang: str  # "namespace/podGroupName"
    slots: tuple[SlotSpec, ...] = ()
    ttl_seconds: float | None = None  # None: the plugin's default
    created: float | None = None
    # The driver pod the reservation was made for (its owner), if any: Events go to it.
    driver_uid: str = ""
    driver_name: str = ""
    # Why the object cannot be honoured ("" when it can), naming the field.
    problem: str = ""
    # Slot → the pod name its status says claimed it (what a restart reads back).
    claims: Mapping[str, str] = field(default_factory=dict)
    # What its status says ended it (Released or Expired, and why): ended stays ended across
    # a restart of the scheduler.
    ended: str = ""
    ended_reason: str = ""
    # status.expiresAt as last written (a reopened slot's own time to live), if any.
    expires_at: float | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _as_mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def parse_duration(text: str, path: str) -> float:
    """A Go duration (``10m``, ``1h30m``, ``90s``, ``1.5h``) in seconds; > 0."""
    raw = text.strip()
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match[1]) * _UNITS[match[2]]
        pos = match.end()
    if not raw or pos != len(raw) or total <= 0:
        raise InvalidInputError(path, text, "expected a duration such as '10m' or '1h30m'")
    if total > MAX_DURATION_SECONDS:
        raise InvalidInputError(path, text, "is longer than a duration can be (about 292 years)")
    return total


def _requests(obj: object, path: str) -> dict[str, int]:
    if not isinstance(obj, Mapping) or not obj:
        raise InvalidInputError(path, obj, "expected resources such as {cpu: '2', memory: 4Gi}")
    amounts: dict[str, int] = {}
    for name, value in obj.items():
        amount = resource_amount(str(name), value, f"{path}.{name}")
        if amount < 0:
            raise InvalidInputError(f"{path}.{name}", value, "must not be negative")
        amounts[str(name)] = amount
    if not any(amounts.values()):
        raise InvalidInputError(path, obj, "reserves nothing")
    amounts[keys.PODS] = 1  # the executor's own pod slot
    return amounts


def _slots(spec: Mapping[str, Any], status: Mapping[str, Any]) -> tuple[SlotSpec, ...]:
    chosen = _as_mapping(status.get("slots"))
    named = spec.get("reservations")
    if named is not None and (spec.get("resources") is not None or spec.get("count") is not None):
        given = sorted(k for k in ("reservations", "resources", "count") if spec.get(k) is not None)
        raise InvalidInputError(
            "spec", given, "reservations cannot be combined with resources or count"
        )
    if named is not None:
        if not isinstance(named, Mapping) or not named:
            raise InvalidInputError(
                "spec.reservations", named, "expected slot name → {node, resources}"
            )
        if len(named) > MAX_SLOTS:
            raise InvalidInputError("spec.reservations", len(named), f"at most {MAX_SLOTS} slots")
        slots = []
        for slot_name, slot in sorted(named.items()):
            path = f"spec.reservations.{slot_name}"
            if not _SLOT_NAME.match(str(slot_name)) or len(str(slot_name)) > MAX_SLOT_NAME:
                raise InvalidInputError(
                    path,
                    slot_name,
                    "a slot name is lower case letters, digits, '-' and '.', starting and ending "
                    f"with a letter or digit, at most {MAX_SLOT_NAME} characters",
                )
            if not isinstance(slot, Mapping):
                raise InvalidInputError(path, slot, "expected {node, resources}")
            node = slot.get("node") or ""
            if not isinstance(node, str):
                raise InvalidInputError(f"{path}.node", node, "expected a node name")
            if not node:  # the scheduler chose it earlier
                node = str(_as_mapping(chosen.get(slot_name)).get("node") or "")
            slots.append(
                SlotSpec(
                    str(slot_name), node, _requests(slot.get("resources"), f"{path}.resources")
                )
            )
        return tuple(slots)
    count = spec.get("count")
    if spec.get("resources") is None:
        raise InvalidInputError("spec", None, "needs reservations, or resources and count")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SLOTS:
        raise InvalidInputError("spec.count", count, f"must be an integer from 1 to {MAX_SLOTS}")
    requests = _requests(spec.get("resources"), "spec.resources")
    names = [SHORTHAND_SLOT.format(index=i) for i in range(count)]
    return tuple(
        SlotSpec(name, str(_as_mapping(chosen.get(name)).get("node") or ""), requests)
        for name in names
    )


def _ttl(spec: Mapping[str, Any]) -> float | None:
    ttl = spec.get("ttlSeconds")
    if ttl is not None and spec.get("duration") is not None:
        raise InvalidInputError("spec.ttlSeconds", ttl, "set ttlSeconds or duration, not both")
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
            raise InvalidInputError("spec.ttlSeconds", ttl, "must be a positive number of seconds")
        return float(ttl)
    duration = spec.get("duration")
    if duration is not None:
        if not isinstance(duration, str):
            raise InvalidInputError("spec.duration", duration, "expected a duration such as '10m'")
        return parse_duration(duration, "spec.duration")
    return None


def _timestamp(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def reservation_from_dict(obj: Mapping[str, Any]) -> ReservationSpec:
    """Read a ResourceReservation; a malformed one comes back with ``problem`` set (never
    raises for the spec's content, only for an object without a name)."""
    meta = _as_mapping(obj.get("metadata"))
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInputError("metadata.name", name, "is required")
    namespace = str(meta.get("namespace") or "default")
    driver, driver_name = "", ""
    for owner in meta.get("ownerReferences") or []:
        if isinstance(owner, Mapping) and owner.get("kind") == "Pod" and owner.get("uid"):
            driver, driver_name = str(owner["uid"]), str(owner.get("name") or "")
    spec = _as_mapping(obj.get("spec"))
    status = _as_mapping(obj.get("status"))
    base = ReservationSpec(
        namespace=namespace,
        name=name,
        gang="",
        created=_timestamp(meta.get("creationTimestamp")),
        driver_uid=driver,
        driver_name=driver_name,
    )
    if status.get("phase") in ENDED:
        message = status.get("message")
        base = replace(
            base,
            ended=str(status["phase"]),
            ended_reason=message if isinstance(message, str) else "",
        )
    try:
        group = spec.get("podGroupName")
        if not isinstance(group, str) or not group:
            raise InvalidInputError("spec.podGroupName", group, "is required")
        slots = _slots(spec, status)
        ttl = _ttl(spec)
    except InvalidInputError as exc:
        return replace(base, problem=str(exc))
    recorded = _as_mapping(status.get("slots"))
    claims = {
        str(slot): str(entry["pod"])
        for slot, entry in recorded.items()
        if isinstance(entry, Mapping) and entry.get("pod")
    }
    return replace(
        base,
        gang=f"{namespace}/{group}",
        slots=slots,
        ttl_seconds=ttl,
        claims=claims,
        expires_at=_timestamp(status.get("expiresAt")),
    )


def reservation_to_dict(spec: ReservationSpec, driver_uid: str = "") -> dict[str, Any]:
    """The object the scheduler writes for a driver's reservation (status aside): owned by the
    driver, so Kubernetes deletes it with the driver."""
    metadata: dict[str, Any] = {
        "name": spec.name,
        "namespace": spec.namespace,
        "labels": {keys.MANAGED_BY_LABEL: keys.SCHEDULER_NAME},
    }
    if driver_uid and spec.driver_name:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": spec.driver_name,
                "uid": driver_uid,
                "controller": False,
                "blockOwnerDeletion": False,
            }
        ]
    body: dict[str, Any] = {
        "podGroupName": spec.gang.split("/", 1)[1],
        "reservations": {
            slot.name: {
                **({"node": slot.node} if slot.node else {}),
                "resources": {
                    name: exact_quantity(name, amount)
                    for name, amount in slot.requests.items()
                    if name != keys.PODS
                },
            }
            for slot in spec.slots
        },
    }
    if spec.ttl_seconds is not None:
        body["ttlSeconds"] = max(1, math.ceil(spec.ttl_seconds))  # the CRD counts whole seconds
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": metadata,
        "spec": body,
    }
