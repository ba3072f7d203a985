"""`kubectl kubenexus` flags behave like kubectl's; a bad kubeconfig is one clear line.

A small recording API server stands in for the cluster: every request is logged, every list
is empty except the pod asked about."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import hdrs, web
from click.testing import CliRunner

from kubenexus.kubectl_plugin import main

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "team", "uid": "u1", "resourceVersion": "5"},
    "spec": {
        "schedulerName": "kubenexus-scheduler",
        "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}],
    },
    "status": {"phase": "Pending"},
}


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []  # method, path, query
        self.url = ""


async def _handle(recorder: Recorder, request: web.Request) -> web.Response:
    recorder.requests.append((request.method, request.path, request.query_string))
    items: list[dict[str, Any]] = []
    if request.path in {"/api/v1/namespaces/team/pods", "/api/v1/pods"} and "metadata.name" in (
        request.query.get("fieldSelector") or ""
    ):
        items = [POD]
    return web.json_response({"kind": "List", "metadata": {"resourceVersion": "9"}, "items": items})


@pytest.fixture
def api() -> Iterator[Recorder]:
    recorder = Recorder()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner_box: list[web.AppRunner] = []

    async def start() -> None:
        async def handle(request: web.Request) -> web.Response:
            return await _handle(recorder, request)

        app = web.Application()
        app.router.add_route(hdrs.METH_ANY, "/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        recorder.url = f"http://127.0.0.1:{port}"
        runner_box.append(runner)
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    assert started.is_set()
    yield recorder
    asyncio.run_coroutine_threadsafe(runner_box[0].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _kubeconfig(path: Path, server: str, *, context: str = "dev", namespace: str = "") -> Path:
    ns = f", namespace: {namespace}" if namespace else ""
    # A cluster named for its context: kubectl merges files entry by entry (the first file to
    # name a cluster wins), so two files naming one cluster differently would meet only once.
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: {context}-c, cluster: {{server: '{server}'}}}}]\n"
        f"contexts: [{{name: {context}, context: {{cluster: {context}-c, user: u{ns}}}}}]\n"
        f"current-context: {context}\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    return path


def test_a_bare_pod_name_defaults_to_the_contexts_namespace(api: Recorder, tmp_path: Path) -> None:
    """As `kubectl get pod web`, `kubectl kubenexus explain web` reads the pod in the current
    context's namespace (here: team)."""
    config = _kubeconfig(tmp_path / "kc", api.url, namespace="team")
    result = CliRunner().invoke(main, ["explain", "web", "--kubeconfig", str(config)])
    pod_reads = [p for m, p, q in api.requests if "fieldSelector=metadata.name" in q]
    assert pod_reads == ["/api/v1/namespaces/team/pods"], (pod_reads, result.stderr)
    assert result.exit_code == 0, result.stderr


def test_kubeconfig_with_several_files_merges_them_like_kubectl(
    api: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KUBECONFIG=a:b: both files are merged as kubectl merges them (a context defined in b
    is usable with --context)."""
    first = _kubeconfig(tmp_path / "a", "http://127.0.0.1:9", context="other")
    second = _kubeconfig(tmp_path / "b", api.url, context="prod")
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    result = CliRunner().invoke(main, ["explain", "team/web", "--context", "prod"])
    assert result.exit_code == 0, result.stderr


def test_no_kubeconfig_anywhere_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No $KUBECONFIG, no ~/.kube/config, not in a pod: one line, exit 2."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["explain", "team/web"])
    assert result.exit_code == 2, (result.exit_code, result.exception)
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_kubeconfig_that_is_not_yaml_is_a_one_line_error(tmp_path: Path) -> None:
    """A kubeconfig that does not parse as YAML: one line naming the file, exit 2."""
    bad = tmp_path / "kc"
    bad.write_text("not: [yaml")
    result = CliRunner().invoke(main, ["explain", "team/web", "--kubeconfig", str(bad)])
    assert result.exit_code == 2, (result.exit_code, result.exception)
    assert result.stderr.startswith("error: ")
    assert "kc" in result.stderr


def test_a_missing_kubeconfig_file_says_it_is_missing(tmp_path: Path) -> None:
    """--kubeconfig /nonexistent: one line saying the file is not there."""
    missing = tmp_path / "nope"
    result = CliRunner().invoke(main, ["explain", "team/web", "--kubeconfig", str(missing)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert "current-context" not in result.stderr


def test_explain_against_the_api_only_reads(api: Recorder, tmp_path: Path) -> None:
    """Read-only: every request the plugin makes is a GET (lists and the pod)."""
    config = _kubeconfig(tmp_path / "kc", api.url)
    result = CliRunner().invoke(main, ["explain", "team/web", "--kubeconfig", str(config)])
    assert result.exit_code == 0, result.stderr
    assert api.requests
    assert {m for m, _, _ in api.requests} == {"GET"}
    assert not any("watch=" in q for _, _, q in api.requests)


def test_a_dot_dot_namespace_is_refused_not_explained_as_another_namespaces_pod(
    api: Recorder, tmp_path: Path
) -> None:
    """`explain ../web`: '..' is not a namespace name; refused before any request (the HTTP
    client would fold /api/v1/namespaces/../pods into /api/v1/pods, every namespace)."""
    config = _kubeconfig(tmp_path / "kc", api.url)
    result = CliRunner().invoke(main, ["explain", "../web", "--kubeconfig", str(config)])
    cluster_wide = [p for m, p, q in api.requests if p == "/api/v1/pods" and "metadata.name" in q]
    assert cluster_wide == []
    assert result.exit_code == 2
    assert "'..'" in result.stderr or "namespace" in result.stderr


def test_status_with_a_metrics_url_that_is_not_prometheus_text_is_one_line(
    api: Recorder, tmp_path: Path
) -> None:
    """--metrics-url pointing at something that is not a Prometheus exposition (here a JSON
    answer, as a wrong port-forward gives): one clear line, exit 2."""
    config = _kubeconfig(tmp_path / "kc", api.url)
    result = CliRunner().invoke(
        main, ["status", "--kubeconfig", str(config), "--metrics-url", f"{api.url}/metrics"]
    )
    assert result.exit_code == 2, (result.exit_code, result.exception, result.stdout)
    assert result.stderr.startswith("error: --metrics-url")


def test_an_unknown_context_is_a_one_line_error(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path / "kc", "http://127.0.0.1:9")
    result = CliRunner().invoke(
        main, ["explain", "team/web", "--kubeconfig", str(config), "--context", "nope"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "context 'nope' not found" in result.stderr


def test_dash_n_wins_over_the_contexts_namespace(api: Recorder, tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path / "kc", api.url, namespace="elsewhere")
    result = CliRunner().invoke(main, ["explain", "web", "-n", "team", "--kubeconfig", str(config)])
    pod_reads = [p for m, p, q in api.requests if "fieldSelector=metadata.name" in q]
    assert pod_reads == ["/api/v1/namespaces/team/pods"], (pod_reads, result.stderr)
    assert result.exit_code == 0, result.stderr
