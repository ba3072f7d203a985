"""The profile of a waiting pod through the daemon: the PodScheduled=False condition the daemon
writes for an unschedulable pod comes back as an update equal to the queued pod; the queue keeps
its record, and the profile kept for the new one still serves it — one read re-points it, no
classification again (tests/core/test_profile_book.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.conftest import Cluster, eventually, running_daemon


def _unschedulable(pod: dict[str, Any] | None) -> bool:
    conditions = ((pod or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "PodScheduled" and c.get("status") == "False" for c in conditions)


async def test_a_waiting_pod_keeps_its_profile_after_our_own_condition_update(
    cluster: Cluster,
) -> None:
    cluster.node("small", cpu="1")
    async with running_daemon(cluster) as daemon:
        cluster.pod("big", cpu="4")  # fits nowhere: waits, and gets PodScheduled=False
        await eventually(lambda: _unschedulable(cluster.get_pod("big")))
        key = str((cluster.get_pod("big") or {})["metadata"]["uid"])
        scheduler = daemon.scheduler
        book = scheduler.cache.nodes.profiles
        entry, kept = None, None
        for _ in range(50):  # the condition's update reaches the daemon a moment later
            entry = scheduler.queue.entry(key)
            kept = book._kept.get(key)
            if entry is not None and kept is not None and kept[0] is not entry.pod:
                break
            await asyncio.sleep(0.1)
        assert entry is not None
        assert kept is not None
        # The queue's record is served from what was kept, read after read (not classified
        # again: the profile object is the kept one).
        assert book.of(entry.pod) is kept[2]
        assert book.of(entry.pod) is kept[2]
