"""PodGroup phases from member states (the shell writes them; the rule is table-driven here)."""

from __future__ import annotations

import pytest

from kubenexus.shell.podgroups import _Gang, phase_of


@pytest.mark.parametrize(
    ("states", "tried", "phase"),
    [
        (["Pending", "Pending"], False, "Pending"),
        (["Pending", "Pending"], True, "Scheduling"),
        (["Bound", "Bound", "Pending"], True, "Scheduling"),
        (["Bound", "Bound", "Bound"], True, "Scheduled"),
        (["Running", "Bound", "Bound"], True, "Scheduled"),
        (["Running", "Running", "Running"], True, "Running"),
        (["Running", "Running", "Running", "Pending"], True, "Running"),
        (["Succeeded", "Succeeded", "Succeeded"], True, "Succeeded"),
        (["Succeeded", "Succeeded", "Running"], True, "Running"),
        (["Failed", "Succeeded", "Succeeded"], True, "Failed"),
        (["Failed", "Running", "Running", "Pending"], True, "Scheduling"),  # a replacement is due
    ],
)
def test_phase(states: list[str], tried: bool, phase: str) -> None:
    gang = _Gang(min_member=3, members={f"p{i}": s for i, s in enumerate(states)}, tried=tried)
    assert phase_of(gang) == phase
