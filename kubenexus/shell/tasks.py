"""Background tasks the shell keeps in a set (binds, preemptions): waiting for them to end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Set
from typing import Any


async def wait_idle(tasks: Set[asyncio.Task[Any]], timeout: float) -> bool:
    """Let the tasks finish, for at most ``timeout`` seconds; True when none is left. The set
    is the owner's live one: its tasks remove themselves when they end."""
    deadline = time.monotonic() + timeout
    while tasks and time.monotonic() < deadline:
        await asyncio.wait(set(tasks), timeout=max(deadline - time.monotonic(), 0))
    return not tasks
