"""The daemon's Preempter and the core together (issue #14 review; no server: a fake
client that records requests and can hold them)."""

from __future__ import annotations

import asyncio
from typing import Any

from kubenexus.scheduler import Unschedulable
from kubenexus.shell.events import EventRecorder
from kubenexus.shell.metrics import Metrics
from kubenexus.shell.preempter import Preempter, PreemptionSettings
from tests.builders import make_node, make_pod
from tests.core.helpers import scheduler
from tests.core.test_preemption import pending, running


class HeldClient:
    """Requests wait until ``release`` is set (a slow API server); every one is recorded."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls: list[tuple[str, str]] = []

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        self.calls.append((method, path))
        await self.release.wait()
        return {}


async def test_a_second_preemption_refused_while_the_first_is_in_flight_is_not_waited_for() -> None:
    """high's first preemption (low-1, low-2) is slow to carry out. Meanwhile its victims finish
    on their own and 'mid' (priority 50) takes the room; the core preempts again, choosing mid.
    The daemon refuses ("a preemption for this pod is in flight") without telling the core, so
    the core waits for mid — which nobody evicts — forever: high never runs and never preempts
    again. Expected: mid evicted, or the core told (on_abandoned) so it forgets and retries."""
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    s.upsert_pod(running("low-1", "a", "2"))
    s.upsert_pod(running("low-2", "a", "2"))
    client = HeldClient()
    preempter = Preempter(
        client,  # type: ignore[arg-type]
        EventRecorder(client),  # type: ignore[arg-type]
        Metrics(),
        settings=PreemptionSettings(retry_initial_seconds=0.01),
        on_abandoned=s.preemption_abandoned,
    )

    def run() -> None:
        for outcome in s.run_until_idle():
            if isinstance(outcome, Unschedulable) and (
                outcome.preemption is not None or outcome.nominate is not None
            ):
                preempter.submit(outcome.pod, outcome.preemption, outcome.nominate)

    s.upsert_pod(pending("high", "4", 100))
    run()
    await asyncio.sleep(0.05)  # first preemption in flight, its first request held
    # Its victims finish by themselves; mid (bound by someone else) takes the room.
    for name in ("low-1", "low-2"):
        s.upsert_pod(make_pod(name).req(cpu="2").node("a").phase("Succeeded").obj())
    s.upsert_pod(running("mid", "a", "2", priority=50))
    now[0] += 30
    run()
    # The core chose mid; the daemon refused (the first preemption in flight) and told it.
    assert "uid-mid" not in s.preempting.evicting
    client.release.set()
    await preempter.wait_idle(5)
    deleted = [path for method, path in client.calls if method == "DELETE"]
    mid_deleted = any(path.endswith("/pods/mid") for path in deleted)
    assert mid_deleted or not s.preempting.waiting_for_victims("uid-high"), (
        f"core waits for mid, never evicted (deleted: {deleted}; refused={preempter.refused})"
    )
