from __future__ import annotations

from decimal import Decimal

import pytest

from kubenexus.api.quantity import (
    MAX_AMOUNT,
    format_amount,
    milli_value,
    parse_quantity,
    resource_amount,
    whole_value,
)
from kubenexus.errors import QuantityError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", Decimal(12)),
        ("500m", Decimal("0.5")),
        ("1.5", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("64Gi", Decimal(64 * 2**30)),
        ("1Ki", Decimal(1024)),
        ("2Mi", Decimal(2 * 2**20)),
        ("1Ti", Decimal(2**40)),
        ("1Pi", Decimal(2**50)),
        ("1Ei", Decimal(2**60)),
        ("1k", Decimal(1000)),
        ("1M", Decimal(10**6)),
        ("3G", Decimal(3 * 10**9)),
        ("1T", Decimal(10**12)),
        ("1P", Decimal(10**15)),
        ("1E", Decimal(10**18)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("2.5e-3", Decimal("0.0025")),
        ("100n", Decimal("1e-7")),
        ("5u", Decimal("5e-6")),
        ("+3", Decimal(3)),
        ("-1", Decimal(-1)),
        (" 4 ", Decimal(4)),
        (7, Decimal(7)),
        (0.25, Decimal("0.25")),
    ],
)
def test_parses_valid_quantities(text: object, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1.2.3",
        "Gi",
        "1GB",
        "1gi",
        "1 Gi",
        "--1",
        "1e",
        "e3",
        "1Ki2",
        "1e1000",
    ],
)
def test_rejects_malformed_quantities_naming_field_and_value(text: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text, "spec.containers[0].resources.requests.cpu")
    assert info.value.field == "spec.containers[0].resources.requests.cpu"
    assert repr(text) in str(info.value)


@pytest.mark.parametrize("value", [True, None, [1], {"a": 1}])
def test_rejects_non_scalar_values(value: object) -> None:
    with pytest.raises(QuantityError, match="string or a number"):
        parse_quantity(value, "x")


def test_cpu_counts_in_millicores_rounded_up() -> None:
    assert milli_value("500m") == 500
    assert milli_value("2") == 2000
    assert milli_value("0.0001") == 1  # a request never rounds down to nothing
    assert resource_amount("cpu", "1.5") == 1500


def test_other_resources_count_in_whole_units_rounded_up() -> None:
    assert whole_value("64Gi") == 64 * 2**30
    assert whole_value("1500m") == 2
    assert resource_amount("memory", "1e3") == 1000
    assert resource_amount("nvidia.com/gpu", "2") == 2


def test_format_amount_is_readable() -> None:
    assert format_amount("cpu", 2000) == "2"
    assert format_amount("cpu", 250) == "250m"
    assert format_amount("memory", 64 * 2**30) == "64Gi"
    assert format_amount("memory", 1536 * 2**20) == "1.5Gi"
    assert format_amount("memory", 100) == "100"
    assert format_amount("nvidia.com/gpu", 4) == "4"


def test_amounts_beyond_int64_are_capped_not_refused() -> None:
    """kube-apiserver accepts e.g. ``100Ei`` of ephemeral-storage; the scheduler counts such an
    amount as 2^62 (more than any node has), so a pod carrying it is still read and counted."""
    assert whole_value("100Ei") == MAX_AMOUNT
    assert whole_value("99999999999999999999Ei") == MAX_AMOUNT
    assert milli_value("9e18") == MAX_AMOUNT
    assert whole_value("4Ei") == 4 * 2**60  # up to 2^62 exactly as written


def test_amounts_read_again_agree_and_bad_ones_are_refused_every_time() -> None:
    """Amounts are remembered by their text (pods repeat a few quantities): the second read
    agrees with the first, cpu and memory apart, and a bad quantity is never remembered."""
    assert resource_amount("cpu", "1500m") == resource_amount("cpu", "1500m") == 1500
    assert resource_amount("memory", "1500m") == 2  # 1.5 bytes, rounded up: not millicores
    assert resource_amount("cpu", "2") == 2000
    assert resource_amount("nvidia.com/gpu", "2") == 2
    for _ in range(2):
        with pytest.raises(QuantityError, match=r"spec\.x\.cpu"):
            resource_amount("cpu", "1.5.0", "spec.x.cpu")
