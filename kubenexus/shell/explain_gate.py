"""Bounds on GET /explain (``run --serve-explain``): an explain runs on the daemon's event loop,
so whoever reaches the port must not be able to crowd out scheduling, binding or the Lease.

One explain at a time; at most ``waiting`` more wait for it (the rest: 429 with Retry-After);
explains use at most ``duty`` of the loop's time (after one that took t seconds, the next
starts t × (1/duty - 1) later); an answer is shared with the same question for
``fresh_seconds``; a gang of more than ``gang_limit`` pending members is not tried here."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

RETRY_AFTER_SECONDS: Final = 1


@dataclass(frozen=True, slots=True)
class ExplainLimits:
    waiting: int = 2
    duty: float = 0.25
    fresh_seconds: float = 1.0
    gang_limit: int = 512


@dataclass(slots=True)
class ExplainGate:
    limits: ExplainLimits = field(default_factory=ExplainLimits)
    clock: Callable[[], float] = time.monotonic
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _waiting: int = 0
    _next_at: float = 0.0
    _answers: dict[tuple[str, str], tuple[float, tuple[int, str]]] = field(default_factory=dict)

    def shared(self, question: tuple[str, str]) -> tuple[int, str] | None:
        """A recent answer to the same question, if any."""
        found = self._answers.get(question)
        if found is None or self.clock() - found[0] > self.limits.fresh_seconds:
            return None
        return found[1]

    async def run(
        self, question: tuple[str, str], answer: Callable[[], Awaitable[tuple[int, str]]]
    ) -> tuple[int, str]:
        """``answer()`` under the bounds (or a shared answer, or 429)."""
        found = self.shared(question)
        if found is not None:
            return found
        if self._waiting >= self.limits.waiting:
            return 429, "busy: another explain is running; retry shortly\n"
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        try:
            # Always yield once: what waited for the loop runs before this explain.
            await asyncio.sleep(max(self._next_at - self.clock(), 0.0))
            found = self.shared(question)
            if found is not None:
                return found
            started = self.clock()
            reply = await answer()  # its explain runs in one go: no other request's meanwhile
            now = self.clock()
            self._next_at = now + (now - started) * (1 / self.limits.duty - 1)
            fresh = self.limits.fresh_seconds
            self._answers = {q: a for q, a in self._answers.items() if now - a[0] <= fresh}
            if reply[0] == 200:
                self._answers[question] = (now, reply)
            return reply
        finally:
            self._lock.release()
