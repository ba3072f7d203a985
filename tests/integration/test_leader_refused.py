"""A Lease the daemon may not touch (RBAC for another namespace, a namespace that does not
exist) is an error in the log, every attempt: such a daemon never leads, and must say why
louder than a standby's ordinary lost race."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from structlog.testing import capture_logs

from kubenexus.shell.client import ApiError
from kubenexus.shell.leader import LeaderElector, LeaderSettings

FAST = LeaderSettings(lease_duration=0.3, renew_deadline=0.2, retry_period=0.01)


class _Refusing:
    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, reason

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        raise ApiError(self.status, self.reason, f"{method} {path} refused")


async def _campaign_logs(status: int, reason: str) -> list[dict[str, Any]]:
    elector = LeaderElector(_Refusing(status, reason), "alpha", FAST)  # type: ignore[arg-type]
    with capture_logs() as logs:
        task = asyncio.create_task(elector.run())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not elector.acquired.is_set()
    return [entry for entry in logs if entry["event"] == "leader.campaign_failed"]


@pytest.mark.parametrize(("status", "reason"), [(403, "Forbidden"), (401, "Unauthorized")])
async def test_a_lease_the_daemon_may_not_use_is_logged_as_an_error(
    status: int, reason: str
) -> None:
    failed = await _campaign_logs(status, reason)
    assert failed
    assert {entry["log_level"] for entry in failed} == {"error"}
    assert failed[0]["lease"] == "kube-system/kubenexus-scheduler"


@pytest.mark.parametrize(("status", "reason"), [(409, "Conflict"), (503, "Unavailable")])
async def test_a_lost_race_or_a_busy_server_stays_informational(status: int, reason: str) -> None:
    failed = await _campaign_logs(status, reason)
    assert failed
    assert {entry["log_level"] for entry in failed} == {"info"}
