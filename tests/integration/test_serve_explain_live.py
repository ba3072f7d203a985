"""`run --serve-explain`: GET /explain on the metrics port, bounded and checked; a placed pod
compared with every node; `--score-annotation` never keeping a pod from binding."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import kubenexus.shell.app as daemon_module
from kubenexus.api import keys
from kubenexus.shell.explain_gate import ExplainLimits
from tests.integration.conftest import Cluster, eventually, http_get, running_daemon
from tests.integration.test_explain_live import _explain

OPTIONS = {"metrics_port": 0, "metrics_address": "127.0.0.1", "serve_explain": True}


async def test_concurrent_explain_requests_do_bounded_work(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An explain runs on the daemon's event loop: 50 requests at once run a few explains at
    most (the rest share an answer or are told to retry: 429), so scheduling, binding and the
    Lease renewal keep running."""
    calls = 0
    real = daemon_module.explain

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(daemon_module, "explain", counted)
    cluster.node("a", cpu="2")
    async with running_daemon(cluster, **OPTIONS) as daemon:
        cluster.pod("huge", cpu="16")
        await eventually(lambda: cluster.events("huge", "FailedScheduling"))
        url = f"http://127.0.0.1:{daemon.metrics_port}/explain?pod=default/huge"
        answers = await asyncio.gather(*(http_get(url) for _ in range(50)))
    assert {status for status, _ in answers} <= {200, 429, 503}
    assert calls <= 5, f"{calls} explains run for 50 concurrent requests"


async def test_a_dot_dot_namespace_is_a_bad_request(cluster: Cluster) -> None:
    """pod=../web: '..' is not a namespace name: 400, nothing read (the client would fold
    /api/v1/namespaces/../pods into /api/v1/pods, every namespace)."""
    cluster.node("a", cpu="8")
    async with running_daemon(cluster, **OPTIONS) as daemon:
        cluster.pod("web", cpu="1")
        await eventually(lambda: cluster.node_of("web"))
        base = f"http://127.0.0.1:{daemon.metrics_port}"
        status, body = await http_get(f"{base}/explain?pod=../web")
    assert status == 400, body


async def test_a_placed_pod_is_compared_with_the_other_nodes(cluster: Cluster) -> None:
    """docs/explain.md: a placed pod is asked about as if unbound. Live (and from the daemon's
    /explain) it is read from the API with spec.nodeName set; every node is still compared
    (no NodeName group), both nodes are scored."""
    cluster.node("a", cpu="8")
    cluster.node("b", cpu="8")
    async with running_daemon(cluster, **OPTIONS) as daemon:
        cluster.pod("web", cpu="1")
        await eventually(lambda: cluster.node_of("web"))
        url = f"http://127.0.0.1:{daemon.metrics_port}/explain?pod=default/web&output=json"
        status, body = await http_get(url)
        assert status == 200, body
        own = json.loads(body)
        live = await _explain(cluster, "web")
    assert live.verdict == own["verdict"] == "Placed"
    assert [g.plugin for g in live.groups] == []
    assert live.feasible == 2
    assert {s.node for s in live.scores} == {"a", "b"}
    assert own["groups"] == []
    assert own["nodes"]["feasible"] == 2


async def test_score_annotation_does_not_keep_a_pod_near_the_annotation_limit_from_binding(
    cluster: Cluster,
) -> None:
    """A pod whose annotations total just under the API server's 256 KiB limit (legal; e.g. a
    large kubectl last-applied-configuration) binds with --score-annotation as without: when
    the server refuses the annotation (422 'Too long'), the pod is bound without it."""
    if not cluster.real:
        pytest.skip("the emulator does not enforce the annotation size limit")
    cluster.node("a", cpu="8")
    cluster.node("b", cpu="8")
    key = "example.com/blob"
    big = {key: "x" * (256 * 1024 - len(key) - 64)}
    async with running_daemon(cluster):  # without the flag: bound
        cluster.pod("plain", cpu="1", annotations=big)
        await eventually(lambda: cluster.node_of("plain"), timeout=15)
    async with running_daemon(cluster, score_annotation=True):
        cluster.pod("web", cpu="1", annotations=big)
        await eventually(lambda: cluster.node_of("web"), timeout=15)


@pytest.mark.emulator("refuses a binding with 422")
async def test_a_refused_score_annotation_is_dropped_and_the_pod_bound_at_once(
    cluster: Cluster,
) -> None:
    """The server refuses the Binding carrying the score breakdown (422): the binder sends it
    again at once without that annotation (no backoff, no failure counted for the pod)."""
    cluster.node("a", cpu="8")
    cluster.api.inject(method="POST", path=r"/pods/web/binding$", status=422, times=1)
    async with running_daemon(cluster, score_annotation=True) as daemon:
        cluster.pod("web", cpu="1")
        await eventually(lambda: cluster.node_of("web"), timeout=15)
        assert daemon.binder.annotations_dropped == 1
        assert daemon.binder.failed == 0
    body = cluster.get_pod("web") or {}
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    assert keys.SCORE_BREAKDOWN not in annotations


async def test_a_gang_over_the_limit_is_not_tried_on_the_daemon(cluster: Cluster) -> None:
    """A gang with more pending members than /explain tries on the daemon: 422, pointing to
    `kubenexus explain` (which reads the cluster itself), and no explain run."""
    cluster.node("a", cpu="2")
    limits = ExplainLimits(gang_limit=2)
    gang = {"pod-group.scheduling.kubenexus.io/name": "big"}
    async with running_daemon(cluster, **OPTIONS, explain_limits=limits) as daemon:
        for i in range(3):
            cluster.pod(
                f"big-{i}",
                cpu="1",
                labels=gang | {"pod-group.scheduling.kubenexus.io/min-available": "3"},
            )
        await eventually(lambda: cluster.events("big-0", "FailedScheduling"))
        url = f"http://127.0.0.1:{daemon.metrics_port}/explain?pod=default/big-0"
        status, body = await http_get(url)
    assert status == 422, body
    assert "kubenexus explain" in body
