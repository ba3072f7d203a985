"""Break-tests for issue #15's Namespace objects in ``simulate``."""

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
