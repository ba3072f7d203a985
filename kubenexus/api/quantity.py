"""Kubernetes resource quantities: ``500m``, ``64Gi``, ``1e3``, ``12``.

Values are parsed exactly (``Decimal``) and converted the way kube-scheduler reads them:
CPU in millicores, everything else in whole base units, both rounded up.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

from kubenexus.errors import QuantityError

_BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE](?P<exponent>[+-]?\d{1,3}))?$"
)
# Kubernetes stores quantities beyond int64 (``100Ei`` of ephemeral-storage is accepted); the
# scheduler counts in int64 arrays, so amounts are capped where sums of a few cannot overflow:
# 2^62 (4Ei) is more than any node offers, so a capped request still fits nowhere.
MAX_AMOUNT = 2**62


def parse_quantity(value: object, field: str = "") -> Decimal:
    """Parse a quantity given as a string or a YAML number; raise QuantityError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise QuantityError(field, value, "a quantity must be a string or a number")
    text = str(value).strip() if not isinstance(value, float) else repr(value)
    match = _QUANTITY.match(text)
    if match is None:
        raise QuantityError(field, value, "invalid quantity, expected e.g. '500m', '64Gi', '1e3'")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as exc:  # the regex admits only valid decimals; kept for safety
        raise QuantityError(field, value, "invalid quantity") from exc
    if match["exponent"] is not None:
        multiplier = Decimal(10) ** int(match["exponent"])
    elif match["suffix"] in _BINARY_SUFFIXES:
        multiplier = Decimal(_BINARY_SUFFIXES[match["suffix"]])
    else:
        multiplier = _DECIMAL_SUFFIXES[match["suffix"] or ""]
    return number * multiplier


def _ceil(value: Decimal) -> int:
    rounded = int(value.to_integral_value(rounding=ROUND_CEILING))
    return max(min(rounded, MAX_AMOUNT), -MAX_AMOUNT)


def milli_value(value: object, field: str = "") -> int:
    """The quantity in thousandths, rounded up (how CPU is counted: ``500m`` → 500)."""
    return _ceil(parse_quantity(value, field) * 1000)


def whole_value(value: object, field: str = "") -> int:
    """The quantity in base units, rounded up (memory bytes, GPUs, pods: ``1Ki`` → 1024)."""
    return _ceil(parse_quantity(value, field))


# Amounts read before, by (in millicores?, the text): pods repeat a handful of quantities, and
# a Decimal parse is most of the cost of reading a pod's requests. Bounded; only good values.
_AMOUNTS: dict[tuple[bool, str], int] = {}
_AMOUNTS_LIMIT = 4096


def known_amount(resource: str, value: object) -> int | None:
    """The amount of a quantity read before (None: not yet, or not a string): the common case,
    without building the field path an error would name."""
    return _AMOUNTS.get((resource == "cpu", value)) if isinstance(value, str) else None


def resource_amount(resource: str, value: object, field: str = "") -> int:
    """A resource amount in the unit the scheduler counts it in (millicores for ``cpu``)."""
    if (found := known_amount(resource, value)) is not None:
        return found
    milli = resource == "cpu"
    amount = milli_value(value, field) if milli else whole_value(value, field)
    if isinstance(value, str):
        if len(_AMOUNTS) >= _AMOUNTS_LIMIT:
            _AMOUNTS.clear()
        _AMOUNTS[milli, value] = amount
    return amount


def exact_quantity(resource: str, amount: int) -> str:
    """An amount as a quantity string that reads back to exactly ``amount`` (for objects the
    scheduler writes): ``2``, ``500m``, ``4Gi``, ``1536Mi``, ``1000001``."""
    if resource == "cpu":
        return f"{amount // 1000}" if amount % 1000 == 0 else f"{amount}m"
    for suffix, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if amount and amount % size == 0:
            return f"{amount // size}{suffix}"
    return str(amount)


def format_amount(resource: str, amount: int) -> str:
    """A human form of an amount counted by ``resource_amount`` (for tables and messages)."""
    if resource == "cpu":
        return f"{amount // 1000}" if amount % 1000 == 0 else f"{amount}m"
    if resource in {"memory", "ephemeral-storage"} or resource.startswith("hugepages-"):
        for suffix, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if amount >= size:
                scaled = amount / size
                return f"{scaled:.0f}{suffix}" if scaled == int(scaled) else f"{scaled:.1f}{suffix}"
        return str(amount)
    return str(amount)
