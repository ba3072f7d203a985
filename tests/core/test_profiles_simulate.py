"""``simulate`` with Namespace objects and the tenants example (found by a break-test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubenexus.errors import InputFileError
from kubenexus.simulator import simulate


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # An empty name is taken as a namespace called "" (a Pod's namespace "" means default).
        ('""', "metadata.name"),
        # A number is reported as missing, not as the wrong type (Pods say "expected a string").
        ("7", "expected a string"),
    ],
)
def test_a_namespace_with_an_unusable_name_is_refused_with_the_right_reason(
    tmp_path: Path, name: str, expected: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
    with pytest.raises(InputFileError, match=expected):
        simulate(path)


def test_the_tenants_example_keeps_cpu_only_pods_off_the_h100_nodes() -> None:
    """examples/tenants.yaml: the CPU-only ``default/web`` replicas land on h100-2 and a100-2
    while cpu-1 and cpu-2 sit idle (LeastAllocated prefers the bigger, emptier GPU nodes and
    no profile plugin says otherwise).
    docs/profiles.md skips CPU pods in TenantHardware precisely so as not to pull web pods
    onto GPU nodes; nothing keeps them off either, and the shipped example shows it."""
    example = Path(__file__).parents[2] / "examples" / "tenants.yaml"
    result = simulate(example)
    on = {row.pod: row.node for row in result.pods}
    cpu_only = ["default/web-0", "default/web-1"]
    assert all(str(on[name]).startswith("cpu-") for name in cpu_only), on
