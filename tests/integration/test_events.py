"""Events and pod conditions never delay a Binding: their own budget and queue, coalesced, and
dropped (counted) under pressure. Against the emulator: it records when each request arrived
and injects slow and failing answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kubenexus.api.objects import PodInfo
from kubenexus.shell.client import ClientSettings, KubeClient, load_configuration
from kubenexus.shell.events import EventRecorder, EventSettings
from tests.emulator import running_emulator
from tests.emulator.server import KubeEmulator
from tests.integration.conftest import Cluster, eventually, running_daemon

pytestmark = pytest.mark.emulator("reads when each request arrived; injects slow answers")


async def test_bindings_go_first_while_events_are_slow_and_failing(cluster: Cluster) -> None:
    """60 pods waiting at start: every Binding is sent before any Event (none while binds
    wait), although Events are slow and some fail; all pods are bound once, and the Events
    follow."""
    for i in range(3):
        cluster.node(f"n{i}", cpu="64")
    for i in range(60):
        cluster.pod(f"p{i:02d}", cpu="1")
    cluster.api.inject(method="POST", path=r"/binding$", status=None, delay=0.02, times=None)
    cluster.api.inject(method="POST", path=r"/events$", status=500, times=3)  # matched first
    cluster.api.inject(method="POST", path=r"/events$", status=None, delay=0.3, times=None)
    settings = EventSettings(busy_per_second=0)
    # A tight client-side limit: an Event taking a binding's token would show.
    tight = ClientSettings(qps=100, burst=10, connection_pool=64)
    async with running_daemon(cluster, events=settings, client_settings=tight) as daemon:
        await eventually(lambda: sum(cluster.api.bindings.values()) == 60, timeout=20)
        bindings = [r.at for r in cluster.api.received if r.path.endswith("/binding")]
        events = [r.at for r in cluster.api.received if r.path.endswith("/events")]
        assert len(bindings) == 60
        assert not events or min(events) >= max(bindings), "an Event was sent while binds waited"
        await eventually(lambda: daemon.recorder.posted + daemon.recorder.failed >= 60, timeout=20)
        assert daemon.recorder.failed == 3
        assert max(cluster.api.bindings.values()) == 1
        # The Scheduled Events follow once the binds are done (three were refused).
        assert sum(len(cluster.events(f"p{i:02d}", "Scheduled")) for i in range(60)) == 57


@pytest.fixture
async def recorder_on_emulator() -> AsyncIterator[tuple[KubeEmulator, EventRecorder, list[bool]]]:
    """A recorder against the emulator; the list's one flag says whether binds are waiting."""
    async with running_emulator() as (emulator, url):
        client = KubeClient(await load_configuration(None, host=url), ClientSettings(qps=0))
        busy = [True]
        recorder = EventRecorder(
            client,
            EventSettings(busy_per_second=0, queue_size=4),
            binds_waiting=lambda: busy[0],
        )
        worker = asyncio.create_task(recorder.run())
        try:
            yield emulator, recorder, busy
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await client.close()


def _pod(name: str) -> PodInfo:
    return PodInfo(namespace="default", name=name, requests={}, uid=f"uid-{name}")


def _posted(emulator: KubeEmulator) -> list[tuple[str, str, str]]:
    return sorted(
        (e["involvedObject"]["name"], e["reason"], e["message"]) for e in emulator.objects("events")
    )


async def test_a_newer_event_or_condition_replaces_the_queued_one(
    recorder_on_emulator: tuple[KubeEmulator, EventRecorder, list[bool]],
) -> None:
    emulator, recorder, busy = recorder_on_emulator
    emulator.put_object("pods", {"metadata": {"name": "a", "namespace": "default"}, "spec": {}})
    pod = _pod("a")
    recorder.unschedulable(pod, "0/2 nodes are available: 2 Insufficient cpu.")
    recorder.unschedulable(pod, "0/3 nodes are available: 3 Insufficient cpu.")
    await asyncio.sleep(0.1)
    assert emulator.objects("events") == []  # binds waiting: nothing sent
    assert recorder.coalesced == 2  # one Event and one condition replaced
    busy[0] = False
    await eventually(lambda: recorder.posted == 2)
    await recorder.drain(5)
    assert _posted(emulator) == [
        ("a", "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.")
    ]
    [condition] = emulator.get_object("pods", "a", "default")["status"]["conditions"]
    assert condition["message"] == "0/3 nodes are available: 3 Insufficient cpu."
    patches = [r for r in emulator.received if r.method == "PATCH"]
    assert len(patches) == 1


async def test_a_bound_pod_loses_its_queued_condition(
    recorder_on_emulator: tuple[KubeEmulator, EventRecorder, list[bool]],
) -> None:
    emulator, recorder, busy = recorder_on_emulator
    recorder.unschedulable(_pod("b"), "0/1 nodes are available: 1 Insufficient cpu.")
    recorder.forget("uid-b")  # bound meanwhile
    busy[0] = False
    await eventually(lambda: recorder.posted == 1)
    await recorder.drain(5)
    assert [r.method for r in emulator.received if "/pods/" in r.path] == []


async def test_under_pressure_normal_events_give_way_and_drops_are_counted(
    recorder_on_emulator: tuple[KubeEmulator, EventRecorder, list[bool]],
) -> None:
    emulator, recorder, busy = recorder_on_emulator
    for name in ("n1", "n2", "n3"):
        recorder.event(_pod(name), "Normal", "Scheduled", f"Successfully assigned {name}")
    recorder.event(_pod("w1"), "Warning", "FailedScheduling", "w1 fits nowhere")
    assert (recorder.queued, recorder.dropped) == (4, 0)  # full
    recorder.event(_pod("w2"), "Warning", "FailedScheduling", "w2 fits nowhere")
    recorder.event(_pod("n4"), "Normal", "Scheduled", "Successfully assigned n4")
    recorder.event(_pod("w3"), "Warning", "FailedScheduling", "w3 fits nowhere")
    recorder.event(_pod("w4"), "Warning", "FailedScheduling", "w4 fits nowhere")
    recorder.event(_pod("w5"), "Warning", "FailedScheduling", "w5 fits nowhere")
    # w2 evicted n1, n4 was refused, w3 evicted n2, w4 evicted n3, w5 found no Normal to evict.
    assert (recorder.queued, recorder.dropped) == (4, 5)
    busy[0] = False
    await eventually(lambda: recorder.posted == 4)
    await recorder.drain(5)
    assert [name for name, _, _ in _posted(emulator)] == ["w1", "w2", "w3", "w4"]


async def test_while_binds_wait_events_trickle_at_the_busy_rate() -> None:
    """At most ``busy_per_second`` while binds wait (a bound: a slow machine sends fewer, never
    more); everything once the binder is idle."""
    async with running_emulator() as (_, url):
        client = KubeClient(await load_configuration(None, host=url), ClientSettings(qps=0))
        busy = [True]
        recorder = EventRecorder(
            client, EventSettings(busy_per_second=5), binds_waiting=lambda: busy[0]
        )
        worker = asyncio.create_task(recorder.run())
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            for i in range(20):
                recorder.event(_pod(f"p{i}"), "Normal", "Scheduled", "assigned")
            await asyncio.sleep(1.0)
            elapsed = loop.time() - started
            assert 1 <= recorder.posted <= 1 + 5 * elapsed + 1  # one token at start
            busy[0] = False
            await eventually(lambda: recorder.posted == 20)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await client.close()
