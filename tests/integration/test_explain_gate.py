"""GET /explain's bounds (kubenexus.shell.explain_gate): one explain at a time, a short queue,
429 beyond it, answers shared for a moment, a share of the loop's time."""

from __future__ import annotations

import asyncio

from kubenexus.shell.explain_gate import ExplainGate, ExplainLimits


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_beyond_the_queue_requests_are_told_to_retry_and_the_same_question_shares() -> None:
    gate = ExplainGate(ExplainLimits(waiting=2, duty=0.5, fresh_seconds=1.0))
    started = asyncio.Event()
    release = asyncio.Event()
    runs = 0

    async def slow() -> tuple[int, str]:
        nonlocal runs
        runs += 1
        started.set()
        await release.wait()
        return 200, f"answer {runs}\n"

    first = asyncio.create_task(gate.run(("ns/a", "text"), slow))
    await started.wait()
    waiting = [asyncio.create_task(gate.run(("ns/b", "text"), slow)) for _ in range(2)]
    await asyncio.sleep(0)
    refused = await gate.run(("ns/c", "text"), slow)
    assert refused[0] == 429
    release.set()
    answers = await asyncio.gather(first, *waiting)
    assert [a[0] for a in answers] == [200, 200, 200]
    # The two waiting for ns/b: one explain, its answer shared.
    assert runs == 2
    assert answers[1] == answers[2]


async def test_explains_use_at_most_their_share_of_the_loop() -> None:
    clock = Clock()
    gate = ExplainGate(ExplainLimits(duty=0.25, fresh_seconds=0.0), clock=clock)

    async def costs_one_second() -> tuple[int, str]:
        clock.now += 1.0
        return 200, "x\n"

    await gate.run(("ns/a", "text"), costs_one_second)
    # 1 s of explain at a 25 % share: the next may start 3 s later.
    assert gate._next_at == clock.now + 3.0
    clock.now += 10.0
    assert (await gate.run(("ns/b", "text"), costs_one_second))[0] == 200


async def test_a_failed_answer_is_not_shared() -> None:
    gate = ExplainGate()
    calls = 0

    async def missing() -> tuple[int, str]:
        nonlocal calls
        calls += 1
        return 404, "pod ns/a: not found\n"

    await gate.run(("ns/a", "text"), missing)
    await gate.run(("ns/a", "text"), missing)
    assert calls == 2
