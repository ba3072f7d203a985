"""The harness itself: a daemon that dies must fail the test that ran it."""

from __future__ import annotations

import pytest

from tests.integration.conftest import (
    FAST_LEASE,
    Cluster,
    eventually,
    lease_holder,
    running_daemon,
    usurp_lease,
)

pytestmark = pytest.mark.emulator("tests the harness itself (once is enough)")


async def _lose_leadership(cluster: Cluster, *, then_fail: bool = False) -> None:
    async with running_daemon(cluster, leader=FAST_LEASE, identity="alpha") as alpha:
        await eventually(lambda: lease_holder(cluster) == "alpha")
        usurp_lease(cluster)
        await eventually(lambda: not alpha.healthy, timeout=5)
        if then_fail:
            raise ZeroDivisionError("the test's own failure")


async def test_a_daemon_that_fails_fails_the_test(cluster: Cluster) -> None:
    with pytest.raises(AssertionError, match=r"it failed: RuntimeError.*leadership lost"):
        await _lose_leadership(cluster)


async def test_the_tests_own_failure_is_reported_with_the_daemons_as_a_note(
    cluster: Cluster,
) -> None:
    with pytest.raises(ZeroDivisionError) as caught:
        await _lose_leadership(cluster, then_fail=True)
    assert any("leadership lost" in note for note in caught.value.__notes__)


async def _run_briefly(cluster: Cluster) -> None:
    async with running_daemon(cluster, expect_exit="leadership lost"):
        pass


async def test_an_expected_exit_that_does_not_happen_fails_the_test(cluster: Cluster) -> None:
    with pytest.raises(AssertionError, match="expected to stop by itself"):
        await _run_briefly(cluster)
