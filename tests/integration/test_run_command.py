"""`kubenexus run` as users start it: a process with a kubeconfig, JSON logs, SIGTERM to stop."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from pathlib import Path

import pytest

from kubenexus.shell.bench_e2e import run_e2e
from tests.emulator.__main__ import preload
from tests.integration.conftest import Cluster, eventually, run_files, start_run


async def test_run_binds_pods_logs_json_and_stops_cleanly_on_sigterm(
    cluster: Cluster, tmp_path: Path
) -> None:
    files = run_files(cluster, tmp_path, "podInitialBackoffSeconds: 0.1\n")
    cluster.node("a", cpu="8")
    cluster.pod("first", cpu="1")
    process = await start_run(
        *files,
        "--log-format",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await eventually(lambda: cluster.node_of("first") == "a", timeout=30)
        cluster.pod("second", cpu="1")
        await eventually(lambda: cluster.node_of("second") == "a", timeout=10)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    logs = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    events = [entry.get("event") for entry in logs]
    [synced] = [entry for entry in logs if entry.get("event") == "caches.synced"]
    # The long-lived cache is moved out of the garbage collector's sight (start-up speed).
    assert synced["gc_frozen"] > 10_000
    assert events[-1] == "daemon.stopped"
    assert all("timestamp" in entry and "level" in entry for entry in logs)


async def test_run_reports_a_bad_config_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "scheduler.yaml"
    config.write_text("profiles:\n- plugins:\n    score:\n      enabled: [{name: Nope}]\n")
    process = await start_run(
        "--config", str(config), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert (
        "scheduler.yaml: profiles[0].plugins.score.enabled[0].name: unknown plugin 'Nope'"
        in stderr.decode()
    )
    assert "Traceback" not in stderr.decode()


async def test_run_says_in_one_line_that_its_metrics_port_is_taken(
    cluster: Cluster, tmp_path: Path
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        process = await start_run(
            *run_files(cluster, tmp_path, "leaderElection: {leaderElect: false}\n"),
            "--metrics-address",
            "127.0.0.1",
            "--metrics-port",
            str(port),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        taken.close()
    assert process.returncode == 2, stderr.decode()[-2000:]
    assert "Traceback" not in stderr.decode()
    assert stderr.decode().strip().splitlines()[-1] == (
        f"error: --metrics-address/--metrics-port 127.0.0.1:{port}: cannot listen: "
        "address already in use"
    )


@pytest.mark.emulator(
    "bench --e2e preloads the emulator (the real server comes with the end-to-end speed issue)"
)
async def test_bench_e2e_reports_binds_and_memory(cluster: Cluster) -> None:
    preload(cluster.api, nodes=20, running=30, pending=200)
    report = await run_e2e(cluster.url, max_in_flight=32)
    assert report.nodes == 20
    assert report.pending_at_start == 200
    assert report.bound == 200
    assert report.pods_cached == 230
    assert report.unschedulable == 0
    assert 1 < report.peak_in_flight <= 32
    assert report.binds_per_second > 0
    assert report.peak_rss_bytes > 0
    assert max(cluster.api.bindings.values()) == 1
