"""The PodGroup status writer against a client that answers slowly: what changes while a
write is in flight must not be lost."""

from __future__ import annotations

import asyncio
from typing import Any

from kubenexus.shell.podgroups import PodGroupStatusWriter


class _SlowClient:
    """Answers every request; a status PATCH waits until ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.patching = asyncio.Event()
        self.statuses: list[dict[str, Any]] = []

    async def request(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        if method == "PATCH" and path.endswith("/status"):
            self.patching.set()
            await self.release.wait()
            self.statuses.append(options["body"]["status"])
        return {}


async def test_a_gang_placed_while_its_timeout_is_being_written_gets_the_condition_cleared() -> (
    None
):
    client = _SlowClient()
    writer = PodGroupStatusWriter(client)  # type: ignore[arg-type]  # the seam: requests only
    writer.observed("ns/g", 2, managed=False)
    for key in ("a", "b"):
        writer.member_seen("ns/g", key, "Pending", None)
    writer.attempted("ns/g", "timed out after 60s: pod group ns/g: only 1 of minMember 2 fit")
    flushing = asyncio.create_task(writer.flush())
    await client.patching.wait()  # ScheduleTimeout=True on its way
    for key in ("a", "b"):  # placed meanwhile
        writer.member_seen("ns/g", key, "Bound", None)
    client.release.set()
    await flushing
    await writer.flush()
    last = client.statuses[-1]
    assert last["phase"] == "Scheduled"
    assert (last["conditions"][0]["type"], last["conditions"][0]["status"]) == (
        "ScheduleTimeout",
        "False",
    )
