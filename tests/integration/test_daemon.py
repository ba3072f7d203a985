"""The daemon against the API server emulator over real HTTP."""

from __future__ import annotations

import asyncio.sslproto
import gc

import aiohttp
import pytest
from structlog.testing import capture_logs

from kubenexus.shell.app import GC_THRESHOLDS, TLS_READ_BUFFER, Daemon, fewer_collections
from kubenexus.shell.client import ClientSettings, KubeClient
from tests.builders import not_helpful
from tests.integration.conftest import Cluster, eventually, pod_key, running_daemon


async def test_pending_pod_is_bound_to_the_right_node_with_a_scheduled_event(
    cluster: Cluster,
) -> None:
    cluster.node("small", cpu="2")
    cluster.node("big", cpu="16")
    async with running_daemon(cluster):
        cluster.pod("web", cpu="4")
        await eventually(lambda: cluster.node_of("web"))
        assert cluster.node_of("web") == "big"
        events = await eventually(lambda: cluster.events("web", "Scheduled"))
        assert events[0]["message"] == "Successfully assigned default/web to big"
        assert events[0]["type"] == "Normal"
        assert events[0]["source"]["component"] == "kubenexus-scheduler"
        assert cluster.api.bindings["default/web"] == 1


async def test_unschedulable_pod_gets_failed_scheduling_and_the_condition(cluster: Cluster) -> None:
    cluster.node("a", cpu="2")
    cluster.node("b", cpu="2")
    async with running_daemon(cluster) as daemon:
        cluster.pod("huge", cpu="8")
        events = await eventually(lambda: cluster.events("huge", "FailedScheduling"))
        first = "0/2 nodes are available: 2 Insufficient cpu." + not_helpful(2)
        assert events[0]["message"] == first
        assert events[0]["type"] == "Warning"

        def condition() -> dict | None:
            pod = cluster.get_pod("huge") or {}
            return next(
                (
                    c
                    for c in pod.get("status", {}).get("conditions", [])
                    if c["type"] == "PodScheduled"
                ),
                None,
            )

        scheduled = await eventually(condition)
        assert scheduled["status"] == "False"
        assert scheduled["reason"] == "Unschedulable"
        assert scheduled["message"] == first
        # A new node changes the message (0/3): a second Event.
        cluster.node("c", cpu="1")
        await eventually(lambda: len(cluster.events("huge", "FailedScheduling")) == 2)
        assert [e["message"] for e in cluster.events("huge", "FailedScheduling")] == [
            first,
            "0/3 nodes are available: 3 Insufficient cpu." + not_helpful(3),
        ]
        # Retries with the same message post no new Event (deduplicated): a change that could
        # help (more cpu on c) but does not makes the daemon try again, and the recorder
        # suppresses the repeat.
        attempts, suppressed = daemon.unschedulable, daemon.recorder.suppressed
        cluster.node("c", cpu="1500m")
        await eventually(
            lambda: daemon.unschedulable > attempts and daemon.recorder.suppressed > suppressed
        )
        await daemon.recorder.drain(5)
        assert len(cluster.events("huge", "FailedScheduling")) == 2
        assert cluster.node_of("huge") is None


async def test_other_schedulers_pods_are_left_alone_but_count(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    cluster.node("b", cpu="4")
    cluster.pod("theirs-running", cpu="4", scheduler="default-scheduler", node="a")
    cluster.pod("theirs-pending", cpu="1", scheduler="default-scheduler")
    async with running_daemon(cluster) as daemon:
        cluster.pod("ours", cpu="2")
        await eventually(lambda: cluster.node_of("ours"))
        assert cluster.node_of("ours") == "b"  # a is full of their pod
        await eventually(lambda: cluster.events("ours", "Scheduled"))
        # Their pending pod was in the first list, older than ours: had the daemon taken it, it
        # would have been decided first. One decision, nothing queued: it was left alone.
        assert daemon.decisions == 1
        assert len(daemon.scheduler.queue) == 0
        await daemon.recorder.drain(5)
        assert cluster.node_of("theirs-pending") is None
        assert not cluster.events("theirs-pending")
        assert daemon.scheduler.cache.pod_count == 2


async def test_pod_deleted_while_queued_is_dropped(cluster: Cluster) -> None:
    cluster.node("a", cpu="1")
    async with running_daemon(cluster) as daemon:
        cluster.pod("waiting", cpu="2")
        await eventually(lambda: cluster.events("waiting", "FailedScheduling"))
        await _delete(cluster, "waiting")
        await eventually(
            lambda: "waiting" not in {e.pod.name for e in daemon.scheduler.queue.entries()}
        )
        decided = daemon.decisions
        cluster.node("b", cpu="8")
        # A pod created after the node: once it is bound, the loop has run with room for
        # "waiting" (older, so it would have been decided first).
        cluster.pod("sentinel", cpu="2")
        await eventually(lambda: cluster.node_of("sentinel") == "b")
        assert daemon.decisions == decided + 1
        assert cluster.api.bindings["default/waiting"] == 0
        assert len(daemon.scheduler.queue) == 0


async def _delete(cluster: Cluster, name: str) -> None:
    cluster.api.delete_object("pods", name, "default")


async def test_many_pods_all_bound_and_no_node_over_capacity(cluster: Cluster) -> None:
    for i in range(100):
        cluster.node(f"n{i:03d}", cpu="10", memory="40Gi")
    async with running_daemon(cluster) as daemon:
        for i in range(1000):
            cluster.pod(f"p{i:04d}", cpu="1")
        await eventually(lambda: sum(cluster.api.bindings.values()) == 1000, timeout=60)
        assert max(cluster.api.bindings.values()) == 1
        used: dict[str, int] = {}
        for pod in cluster.api.objects("pods"):
            used[pod["spec"]["nodeName"]] = used.get(pod["spec"]["nodeName"], 0) + 1
        assert len(used) == 100
        assert max(used.values()) <= 10
        assert daemon.binder.peak_in_flight > 1  # binds overlapped


async def test_restart_mid_stream_rebinds_nothing_and_loses_nothing(cluster: Cluster) -> None:
    for i in range(20):
        cluster.node(f"n{i:02d}", cpu="16")
    async with running_daemon(cluster):
        for i in range(150):
            cluster.pod(f"first-{i:03d}", cpu="1")
        await eventually(lambda: sum(cluster.api.bindings.values()) >= 50, timeout=30)
    # The daemon stopped with some pods bound and maybe some not; more arrive while it is down.
    for i in range(50):
        cluster.pod(f"second-{i:03d}", cpu="1")
    async with running_daemon(cluster) as daemon:
        await eventually(lambda: sum(cluster.api.bindings.values()) == 200, timeout=30)
        assert max(cluster.api.bindings.values()) == 1
        assert all(p["spec"].get("nodeName") for p in cluster.api.objects("pods"))
        assert daemon.scheduler.cache.pod_count == 200


@pytest.mark.emulator("drops watches and compacts history")
async def test_dropped_watch_and_410_gone_are_recovered(cluster: Cluster) -> None:
    cluster.node("a", cpu="64")
    async with running_daemon(cluster) as daemon:
        cluster.pod("before", cpu="1")
        await eventually(lambda: cluster.node_of("before"))
        assert cluster.api.drop_watches("pods") >= 1
        cluster.pod("during-drop", cpu="1")
        await eventually(lambda: cluster.node_of("during-drop"))
        relists = daemon.pods.relists
        # A write the pod watch cannot have seen, so the history it resumes from is surely
        # compacted (resuming from the newest version itself is valid and would not relist).
        cluster.api.put_object("events", {"metadata": {"name": "marker", "namespace": "default"}})
        cluster.api.compact()
        cluster.api.drop_watches("pods")
        cluster.pod("after-gone", cpu="1")
        await eventually(lambda: cluster.node_of("after-gone"))
        await eventually(lambda: daemon.pods.relists > relists)
        assert daemon.pods.reconnects >= 1
        assert max(cluster.api.bindings.values()) == 1


@pytest.mark.emulator("injects 500s on bindings")
async def test_binding_errors_are_retried_and_never_bind_twice(cluster: Cluster) -> None:
    cluster.node("a", cpu="8")
    cluster.api.inject(method="POST", path=r"/pods/flaky/binding$", status=500, times=3)
    async with running_daemon(cluster) as daemon:
        cluster.pod("flaky", cpu="1")
        await eventually(lambda: cluster.node_of("flaky"), timeout=15)
        assert cluster.api.bindings["default/flaky"] == 1
        assert daemon.binder.failed >= 3


@pytest.mark.emulator("delays a binding")
async def test_conflict_on_binding_forgets_the_assumption(cluster: Cluster) -> None:
    cluster.node("a", cpu="2")
    cluster.node("b", cpu="2")
    # Someone else binds the pod while our bind is slow; ours then gets 409 and must not retry.
    cluster.api.inject(
        method="POST", path=r"/pods/contested/binding$", status=None, delay=0.5, times=1
    )
    async with running_daemon(cluster) as daemon:
        cluster.pod("contested", cpu="2")
        await eventually(lambda: daemon.binder.in_flight)
        async with (
            aiohttp.ClientSession(cluster.url) as session,
            session.post(
                "/api/v1/namespaces/default/pods/contested/binding",
                json={"metadata": {"name": "contested"}, "target": {"name": "b"}},
            ) as response,
        ):
            assert response.status == 201
        await eventually(lambda: daemon.binder.failed == 1)
        assert cluster.node_of("contested") == "b"
        assert cluster.api.bindings["default/contested"] == 1
        # The cache follows the API: the pod counts on b, not on the node we had chosen.
        await eventually(
            lambda: (
                daemon.scheduler.cache.node_of(cluster.get_pod("contested")["metadata"]["uid"])
                == "b"
            )
        )


@pytest.mark.emulator("the real server refuses a malformed quantity itself")
async def test_invalid_pod_gets_an_event_and_the_rest_is_scheduled(cluster: Cluster) -> None:
    cluster.node("a", cpu="8")
    async with running_daemon(cluster):
        bad = cluster.pod("bad", cpu="1")
        bad["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "lots"
        cluster.api.put_object("pods", bad)
        cluster.pod("good", cpu="1")
        await eventually(lambda: cluster.node_of("good"))
        events = await eventually(lambda: cluster.events("bad", "FailedScheduling"))
        assert "spec.containers[0].resources.requests.cpu" in events[0]["message"]
        assert "'lots'" in events[0]["message"]
        assert cluster.node_of("bad") is None


async def test_daemon_runs_with_the_operator_and_validates_pod_groups(cluster: Cluster) -> None:
    cluster.node("a", cpu="8")
    group = ("podgroups", "scheduling.kubenexus.io", "v1alpha1")
    async with running_daemon(cluster, operator=True) as daemon:
        cluster.api.put_object(
            group[0],
            {"metadata": {"name": "good", "namespace": "default"}, "spec": {"minMember": 3}},
            group=group[1],
            version=group[2],
        )
        await eventually(lambda: "default/good" in daemon.crds.pod_groups)
        cluster.pod("web", cpu="1")
        await eventually(lambda: cluster.node_of("web") == "a")
        if cluster.real:
            return  # the CRD's schema refuses minMember: -1; an old CRD may not (emulator)
        cluster.api.put_object(
            group[0],
            {"metadata": {"name": "bad", "namespace": "default"}, "spec": {"minMember": -1}},
            group=group[1],
            version=group[2],
        )
        warnings = await eventually(
            lambda: [
                e
                for e in cluster.api.objects("events")
                if e.get("involvedObject", {}).get("name") == "bad"
            ]
        )
        assert warnings[0]["reason"] == "InvalidPodGroup"
        assert "spec.minMember must be an integer >= 1 (got -1)" in warnings[0]["message"]
        assert "default/bad" not in daemon.crds.pod_groups


async def test_finished_pods_free_capacity_for_waiting_ones(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    job = cluster.pod("job", cpu="4", node="a")
    async with running_daemon(cluster):
        cluster.pod("next", cpu="2")
        await eventually(lambda: cluster.events("next", "FailedScheduling"))
        job["status"]["phase"] = "Succeeded"
        cluster.api.put_object("pods", job)
        await eventually(lambda: cluster.node_of("next") == "a")


@pytest.mark.emulator("delays a binding")
async def test_pod_deleted_during_binding_is_dropped(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    cluster.api.inject(
        method="POST", path=r"/pods/doomed/binding$", status=None, delay=0.4, times=1
    )
    async with running_daemon(cluster) as daemon:
        cluster.pod("doomed", cpu="1")
        await eventually(lambda: daemon.binder.in_flight)
        await _delete(cluster, "doomed")
        await eventually(lambda: daemon.binder.failed == 1)
        # Not retried: a pod created now is the next (and only other) decision, and once it is
        # bound the doomed pod is neither queued nor counted.
        cluster.pod("sentinel", cpu="1")
        await eventually(lambda: cluster.node_of("sentinel") == "a")
        assert daemon.decisions == 2
        assert cluster.api.bindings["default/doomed"] == 0
        assert len(daemon.scheduler.queue) == 0
        await eventually(lambda: daemon.scheduler.cache.pod_count == 1)  # the sentinel only
        assert daemon.scheduler.cache.node_of(pod_key(cluster, "sentinel")) == "a"


async def test_placement_annotations_travel_in_the_binding(cluster: Cluster) -> None:
    """One call per pod: the Binding carries the placement annotations and the server (the real
    kube-apiserver v1.36 too) copies them onto the pod, keeping the pod's own."""

    class Stamp:
        name = "Stamp"

        def placement_annotations(self, state: object, pod: object) -> dict[str, str | None]:
            return {"numa.kubenexus.io/zones": "0", "cpu-set": "0-3", "stale.kubenexus.io/x": None}

    cluster.node("a", cpu="8")
    async with running_daemon(cluster) as daemon:
        daemon.scheduler.profiles["kubenexus-scheduler"].annotators = [Stamp()]
        cluster.pod("pinned", cpu="4", annotations={"team": "ml"})
        await eventually(lambda: cluster.node_of("pinned") == "a")
        annotations = cluster.get_pod("pinned")["metadata"]["annotations"]
        assert annotations == {"team": "ml", "numa.kubenexus.io/zones": "0", "cpu-set": "0-3"}
        if not cluster.real:  # the emulator records the calls: the Binding only, no PATCH
            calls = [(m, p) for m, p, _ in cluster.api.calls if "/pods/pinned" in p and m != "GET"]
            assert calls == [("POST", "/api/v1/namespaces/default/pods/pinned/binding")]
        # After a restart the bound pod keeps its placement annotations in the cache.
    async with running_daemon(cluster) as restarted:
        uid = cluster.get_pod("pinned")["metadata"]["uid"]
        assert restarted.scheduler.cache.node_of(uid) == "a"
        pod = next(p for p in restarted.scheduler.cache.pods_on("a") if p.uid == uid)
        assert dict(pod.annotations) == {"numa.kubenexus.io/zones": "0", "cpu-set": "0-3"}


async def test_a_stale_placement_annotation_is_removed_before_the_binding(cluster: Cluster) -> None:
    """What a Binding cannot do (remove an annotation) is a PATCH, sent only when the pod
    carries the annotation."""

    class Move:
        name = "Move"

        def placement_annotations(self, state: object, pod: object) -> dict[str, str | None]:
            return {"numa.kubenexus.io/zones": None, "cpu-set": "4-7"}

    cluster.node("a", cpu="8")
    async with running_daemon(cluster) as daemon:
        daemon.scheduler.profiles["kubenexus-scheduler"].annotators = [Move()]
        cluster.pod("moved", cpu="4", annotations={"numa.kubenexus.io/zones": "1"})
        await eventually(lambda: cluster.node_of("moved") == "a")
        annotations = cluster.get_pod("moved")["metadata"]["annotations"]
        assert annotations == {"cpu-set": "4-7"}
        if not cluster.real:
            calls = [(m, p) for m, p, _ in cluster.api.calls if "/pods/moved" in p and m != "GET"]
            assert calls == [
                ("PATCH", "/api/v1/namespaces/default/pods/moved"),
                ("POST", "/api/v1/namespaces/default/pods/moved/binding"),
            ]


@pytest.mark.emulator("the real server refuses a malformed quantity itself")
async def test_malformed_node_is_left_out_and_the_rest_keeps_working(cluster: Cluster) -> None:
    cluster.node("good", cpu="4")
    bad = cluster.node("bad", cpu="64")
    async with running_daemon(cluster) as daemon:
        bad["status"]["allocatable"]["cpu"] = "sixty-four"
        cluster.api.put_object("nodes", bad)
        await eventually(lambda: "bad" not in daemon.scheduler.cache.nodes)
        cluster.pod("big", cpu="8")
        cluster.pod("small", cpu="2")
        await eventually(lambda: cluster.node_of("small") == "good")
        message = (await eventually(lambda: cluster.events("big", "FailedScheduling")))[0][
            "message"
        ]
        assert message == "0/1 nodes are available: 1 Insufficient cpu." + not_helpful(1)


async def test_a_connection_pool_too_small_for_the_watches_is_refused(cluster: Cluster) -> None:
    """Every informer's watch holds a connection: a pool that leaves none for lists and binds
    would hang the daemon before its first decision, so it is refused, saying what it needs."""
    configuration = await cluster.configuration()
    client = KubeClient(configuration, ClientSettings(connection_pool=8))
    try:
        with pytest.raises(ValueError, match=r"connection pool of 8: .* needs at least \d+"):
            Daemon(client)
    finally:
        await client.close()


async def test_a_tuned_process_collects_less_often_freezes_the_cache_and_reads_tls_leaner(
    cluster: Cluster,
) -> None:
    """``kubenexus run`` tunes the process: fewer collections while the lists are read, the cache
    read by then frozen (later full collections do not walk it), smaller TLS read buffers (one
    connection per Binding in flight)."""
    thresholds = gc.get_threshold()
    tls_buffer = asyncio.sslproto.SSLProtocol.max_size
    try:
        cluster.node("n0")
        async with running_daemon(cluster, tune_process=True):
            assert gc.get_threshold() == GC_THRESHOLDS
            assert gc.get_freeze_count() > 0
            assert asyncio.sslproto.SSLProtocol.max_size == TLS_READ_BUFFER < tls_buffer
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        asyncio.sslproto.SSLProtocol.max_size = tls_buffer


async def test_a_pod_whose_spec_is_not_an_object_is_logged_naming_the_field(
    cluster: Cluster,
) -> None:
    """Only a well-formed pod of another scheduler is passed over unread: a malformed one is
    refused naming the field, like any unreadable pod, and the daemon goes on."""
    cluster.node("a", cpu="8")
    async with running_daemon(cluster) as daemon:
        with capture_logs() as logs:
            daemon._pod_upsert({"metadata": {"name": "odd", "namespace": "default"}, "spec": "x"})
        [entry] = [e for e in logs if e["event"] == "pod.invalid"]
        assert entry["pod"] == "default/odd"
        assert "spec" in entry["error"]
        cluster.pod("fine", cpu="1")
        await eventually(lambda: cluster.node_of("fine") == "a")


def test_a_bulk_read_collects_less_often_and_restores_the_collector_after() -> None:
    """One-shot reads of a whole cluster (explain, status) raise the collector's thresholds for
    the read only, also when it fails."""
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("the read failed")
    assert gc.get_threshold() == before
