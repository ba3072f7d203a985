"""`kubenexus explain` and `kubectl kubenexus` against a live API server: read-only, and what
explain says is what the daemon then does. The Scheduled Event names what was chosen within
the node; --score-annotation writes the score breakdown."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from kubenexus.config import parse_config
from kubenexus.explain import explain_live
from kubenexus.scheduler.explaining import Explanation
from tests.builders import not_helpful
from tests.integration.conftest import (
    FAST_CONFIG,
    FAST_LEASE,
    KUBECONFIG,
    Cluster,
    eventually,
    http_get,
    running_daemon,
)

NUMA_LABELS = {
    "numa.kubenexus.io/node-count": "2",
    "numa.kubenexus.io/node-0-cpus": "0-7",
    "numa.kubenexus.io/node-0-memory": "16Gi",
    "numa.kubenexus.io/node-1-cpus": "8-15",
    "numa.kubenexus.io/node-1-memory": "16Gi",
}


async def _explain(cluster: Cluster, name: str) -> Explanation:
    config = parse_config(FAST_CONFIG)
    if cluster.kubeconfig is not None:
        return await explain_live("default", name, config, kubeconfig=str(cluster.kubeconfig))
    return await explain_live("default", name, config, server=cluster.url)


def _kubeconfig(cluster: Cluster, tmp_path: Path) -> tuple[str, str]:
    """(--kubeconfig, --context) of the server, as kubectl users pass them."""
    if cluster.kubeconfig is not None:
        return str(cluster.kubeconfig), ""
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG.format(url=cluster.url))
    return str(path), "emulator"


async def _plugin(*args: str) -> tuple[int, str, str]:
    """``kubectl-kubenexus ARGS`` as its own process (kubectl runs plugins so)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kubenexus.kubectl_plugin",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, NO_PROXY="127.0.0.1"),
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_explain_is_read_only_and_the_daemon_then_does_what_it_said(
    cluster: Cluster,
) -> None:
    cluster.node("small", cpu="2")
    cluster.node("big", cpu="16")
    cluster.node("tainted", cpu="16")
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    node = cluster.api.get_object("nodes", "tainted")
    node["spec"]["taints"] = [taint]
    cluster.api.put_object("nodes", node)
    cluster.pod("web", cpu="4")
    cluster.pod("huge", cpu="32")
    writes_before = [] if cluster.real else [c for c in cluster.api.calls if c[0] not in {"GET"}]

    web = await _explain(cluster, "web")
    assert web.verdict == "Placeable"
    assert web.node == "big"
    assert [(g.plugin, g.reasons, g.count) for g in web.groups] == [
        ("NodeResourcesFit", ("Insufficient cpu",), 1),
        ("TaintToleration", ("node(s) had untolerated taint(s)",), 1),
    ]
    assert web.scores[0].node == "big"
    huge = await _explain(cluster, "huge")
    assert huge.verdict == "Pending"
    assert huge.message == (
        "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu."
        + not_helpful(3)
    )
    assert huge.closest[0].shortfalls == ("cpu: 32 requested, 16 free (short by 16)",)
    if not cluster.real:  # only reads were sent
        writes = [c for c in cluster.api.calls if c[0] not in {"GET"}]
        assert writes == writes_before
        assert cluster.api.bindings["default/web"] == 0

    async with running_daemon(cluster):
        await eventually(lambda: cluster.node_of("web"))
        assert cluster.node_of("web") == web.node
        events = await eventually(lambda: cluster.events("huge", "FailedScheduling"))
        assert events[0]["message"] == huge.message
    # Placed now: explain says where, and why there.
    placed = await _explain(cluster, "web")
    assert placed.verdict == "Placed"
    assert placed.node == "big"
    assert placed.scores[0].node == "big"


async def test_kubectl_plugin_explains_and_reports_status(cluster: Cluster, tmp_path: Path) -> None:
    cluster.node("a", cpu="2")
    cluster.pod("huge", cpu="8")
    kubeconfig, context = _kubeconfig(cluster, tmp_path)
    flags = ["--kubeconfig", kubeconfig, *(["--context", context] if context else [])]
    code, out, err = await _plugin("explain", "huge", "-n", "default", *flags, "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["pod"] == "default/huge"
    assert data["verdict"] == "Pending"
    assert data["groups"] == [
        {"plugin": "NodeResourcesFit", "reasons": ["Insufficient cpu"], "count": 1, "nodes": ["a"]}
    ]
    code, _, err = await _plugin("explain", "default/absent", *flags)
    assert code == 2
    assert err.strip() == "error: pod default/absent: not found"
    if context:
        code, _, err = await _plugin("explain", "default/huge", *flags[:2], "--context", "nope")
        assert code == 2
        assert "nope" in err
        assert err.startswith(f"error: kubeconfig {kubeconfig}:")

    async with running_daemon(
        cluster, leader=FAST_LEASE, identity="alpha", metrics_port=0, metrics_address="127.0.0.1"
    ) as daemon:
        await eventually(lambda: cluster.events("huge", "FailedScheduling"))
        metrics = f"http://127.0.0.1:{daemon.metrics_port}/metrics"
        code, out, err = await _plugin("status", *flags, "--metrics-url", metrics)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("leader: alpha (renewed ")
    assert "pending pods (kubenexus-scheduler): 1" in lines
    assert any(line.startswith("queues: ") and "unschedulable 1" in line for line in lines)


async def test_scheduled_event_names_zone_and_cpus_and_the_score_annotation(
    cluster: Cluster,
) -> None:
    cluster.node("numa", cpu="16", memory="32Gi", **NUMA_LABELS)
    cluster.node("plain", cpu="16", memory="32Gi")
    async with running_daemon(cluster, score_annotation=True):
        cluster.pod(
            "pinned",
            cpu="4",
            annotations={"scheduling.kubenexus.io/numa-policy": "single-numa-node"},
        )
        cluster.pod("web", cpu="1")
        events = await eventually(lambda: cluster.events("pinned", "Scheduled"))
        assert events[0]["message"] == (
            "Successfully assigned default/pinned to numa: NUMA zone 0, CPUs 0-3"
        )
        pod = await eventually(lambda: cluster.node_of("web") and cluster.get_pod("web"))
        breakdown = json.loads(
            pod["metadata"]["annotations"]["scheduling.kubenexus.io/score-breakdown"]
        )
        assert breakdown["node"] == pod["spec"]["nodeName"]
        first, runner_up = breakdown["nodes"]
        assert first["node"] == breakdown["node"]
        assert {first["node"], runner_up["node"]} == {"numa", "plain"}
        assert first["total"] >= runner_up["total"]
        fit = first["plugins"]["NodeResourcesFit"]
        assert fit["weighted"] == fit["score"] * fit["weight"]


async def test_without_the_flag_no_score_annotation_is_written(cluster: Cluster) -> None:
    cluster.node("a", cpu="4")
    cluster.node("b", cpu="4")
    async with running_daemon(cluster):
        cluster.pod("web", cpu="1")
        pod = await eventually(lambda: cluster.node_of("web") and cluster.get_pod("web"))
        assert "scheduling.kubenexus.io/score-breakdown" not in (
            pod["metadata"].get("annotations") or {}
        )


async def test_bench_explain_times_a_live_answer(cluster: Cluster, tmp_path: Path) -> None:
    cluster.node("a", cpu="2")
    cluster.pod("huge", cpu="8")
    kubeconfig, context = _kubeconfig(cluster, tmp_path)
    flags = ["--kubeconfig", kubeconfig, *(["--context", context] if context else [])]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kubenexus.cli",
        "bench-explain",
        "--pod",
        "default/huge",
        *flags,
        "--repeat",
        "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, NO_PROXY="127.0.0.1"),
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0] == "explain default/huge live: 1 nodes, 1 pods (median of 2)"
    assert lines[1].startswith("  reading the cluster (lists, parsing): ")
    assert lines[2].startswith("  answering (the core): ")
    assert lines[2].endswith("Pending; 1 groups, closest a")
    assert lines[3].startswith("total ")


async def test_the_daemon_answers_explain_from_its_own_state(cluster: Cluster) -> None:
    cluster.node("a", cpu="2")
    cluster.node("b", cpu="8")
    options = {"metrics_port": 0, "metrics_address": "127.0.0.1"}
    async with running_daemon(cluster, serve_explain=True, **options) as daemon:
        cluster.pod("huge", cpu="16")
        cluster.pod("web", cpu="4")
        await eventually(lambda: cluster.events("huge", "FailedScheduling"))
        await eventually(lambda: cluster.node_of("web"))
        base = f"http://127.0.0.1:{daemon.metrics_port}"
        status, body = await http_get(f"{base}/explain?pod=default/huge&output=json")
        assert status == 200
        data = json.loads(body)
        assert data["verdict"] == "Pending"
        assert data["groups"] == [
            {
                "plugin": "NodeResourcesFit",
                "reasons": ["Insufficient cpu"],
                "count": 2,
                "nodes": ["b", "a"],
            }
        ]
        assert data["message"] == cluster.events("huge", "FailedScheduling")[0]["message"]
        status, body = await http_get(f"{base}/explain?pod=default/web")
        assert status == 200
        assert "verdict: Placed (on b)" in body
        assert await http_get(f"{base}/explain?pod=default/absent") == (
            404,
            "pod default/absent: not found\n",
        )
        assert (await http_get(f"{base}/explain?pod=nonsense"))[0] == 400
        code, out, err = await _plugin(
            "explain", "default/huge", "--daemon-url", base, "-o", "json"
        )
        assert code == 0, err
        assert json.loads(out)["groups"] == data["groups"]
    async with running_daemon(cluster, **options) as daemon:  # off by default
        base = f"http://127.0.0.1:{daemon.metrics_port}"
        assert (await http_get(f"{base}/explain?pod=default/huge"))[0] == 404
        code, _, err = await _plugin("explain", "default/huge", "--daemon-url", base)
        assert code == 2
        assert "run the daemon with --serve-explain" in err


@pytest.mark.emulator("the real server refuses a malformed quantity itself")
async def test_a_pod_the_parser_refuses_is_one_clear_line(cluster: Cluster, tmp_path: Path) -> None:
    cluster.node("a", cpu="2")
    cluster.pod("bad", cpu="lots")
    kubeconfig, context = _kubeconfig(cluster, tmp_path)
    code, out, err = await _plugin(
        "explain", "default/bad", "--kubeconfig", kubeconfig, "--context", context
    )
    assert code == 2
    assert out == ""
    assert err.startswith("error: pod default/bad: invalid: ")
    assert "lots" in err
    assert len(err.strip().splitlines()) == 1
