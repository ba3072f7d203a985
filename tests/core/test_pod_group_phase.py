"""PodGroup phases from member states (the shell writes them; the rule is table-driven here)."""

from __future__ import annotations

import pytest

from kubenexus.shell.podgroups import PodGroupStatusWriter, _Gang, phase_of


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


def test_members_are_counted_in_the_gang_they_belong_to_now() -> None:
    writer = PodGroupStatusWriter(client=None)  # type: ignore[arg-type]  # no writes here
    writer.member_seen("ns/a", "p1", "Bound", 2)
    writer.member_seen("ns/a", "p2", "Bound", 2)
    assert writer.status_of("ns/a")["scheduled"] == 2
    writer.member_seen("ns/b", "p2", "Running", 1)  # relabelled into another gang
    assert writer.status_of("ns/a")["scheduled"] == 1
    assert writer.status_of("ns/b")["running"] == 1
    writer.member_gone("p2")
    writer.member_gone("unrelated-pod")  # any pod of the cluster may be deleted
    assert writer.status_of("ns/a")["scheduled"] == 1
    assert sum(writer.phase_counts().values()) == 1  # ns/b had its only member go


def test_a_writer_that_never_writes_keeps_nothing_of_gone_gangs() -> None:
    """A standby sees every member come and go but writes nothing: its records must not grow
    with every gang the cluster ever ran."""
    writer = PodGroupStatusWriter(client=None)  # type: ignore[arg-type]  # never flushed
    for gang in range(1000):
        for member in range(3):
            writer.member_seen(f"ns/g{gang}", f"p{gang}-{member}", "Running", 3)
            writer.attempted(f"ns/g{gang}", "waiting")
        for member in range(3):
            writer.member_gone(f"p{gang}-{member}")
    assert writer._gangs == {}
    assert writer._gang_of == {}
    assert writer._dirty == set()


def test_the_timeout_is_reported_until_the_gang_is_placed() -> None:
    writer = PodGroupStatusWriter(client=None)  # type: ignore[arg-type]  # no writes here
    writer.member_seen("ns/t", "a", "Pending", 2)
    writer.member_seen("ns/t", "b", "Pending", 2)
    writer.attempted("ns/t", "timed out after 60s: pod group ns/t: only 1 of minMember 2 fit")
    condition = writer.status_of("ns/t")["conditions"][0]
    assert (condition["type"], condition["status"]) == ("ScheduleTimeout", "True")
    writer._gangs["ns/t"].timeout_reported = True  # as after the write
    writer.member_seen("ns/t", "a", "Bound", 2)
    writer.member_seen("ns/t", "b", "Bound", 2)
    condition = writer.status_of("ns/t")["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "Scheduled")


def test_a_new_writer_carries_on_what_the_object_says() -> None:
    """After a restart (or a failover) the gang's start is its first member's creation, and a
    ScheduleTimeout=True left in the object is turned False once the gang is placed."""
    writer = PodGroupStatusWriter(client=None)  # type: ignore[arg-type]  # no writes here
    writer.member_seen("ns/t", "b", "Bound", 2, created="2026-01-01T10:00:05Z")
    writer.member_seen("ns/t", "a", "Bound", 2, created="2026-01-01T10:00:00Z")
    writer.resume(
        "ns/t",
        {
            "scheduleStartTime": "2026-01-01T11:00:00Z",  # a restart's time, written before
            "conditions": [{"type": "ScheduleTimeout", "status": "True"}],
        },
    )
    status = writer.status_of("ns/t")
    assert status["scheduleStartTime"] == "2026-01-01T10:00:00Z"
    assert (status["conditions"][0]["status"], status["conditions"][0]["reason"]) == (
        "False",
        "Scheduled",
    )
