"""Fixtures for tests over real HTTP: the emulator on 127.0.0.1 and the daemon against it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubenexus.config import parse_config
from kubenexus.shell.app import Daemon, DaemonSettings
from kubenexus.shell.client import ClientSettings, KubeClient, load_configuration
from kubenexus.shell.informer import InformerSettings
from kubenexus.shell.leader import LeaderSettings
from tests.builders import make_node, make_pod
from tests.emulator import KubeEmulator, running_emulator

# Fast retries so tests do not wait out production backoffs.
FAST_CONFIG = {"podInitialBackoffSeconds": 0.05, "podMaxBackoffSeconds": 0.2}


@dataclass
class Cluster:
    api: KubeEmulator
    url: str

    def node(
        self, name: str, cpu: str = "4", memory: str = "16Gi", pods: str = "110", **labels: str
    ) -> dict[str, Any]:
        builder = make_node(name).alloc(cpu=cpu, memory=memory, pods=pods)
        for key, value in labels.items():
            builder.label(key, value)
        return self.api.put_object("nodes", builder.dict())

    def pod(
        self,
        name: str,
        cpu: str = "1",
        *,
        scheduler: str = "kubenexus-scheduler",
        node: str = "",
        **extra: Any,
    ) -> dict[str, Any]:
        builder = make_pod(name).req(cpu=cpu).scheduler(scheduler)
        if node:
            builder.node(node)
        body = builder.dict()
        body["metadata"].pop("uid")
        for key, value in extra.items():
            body["spec"][key] = value
        body.setdefault("status", {})["phase"] = "Running" if node else "Pending"
        return self.api.put_object("pods", body)

    def get_pod(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        return self.api.get_object("pods", name, namespace)

    def node_of(self, name: str) -> str | None:
        pod = self.get_pod(name)
        return None if pod is None else (pod.get("spec") or {}).get("nodeName")

    def events(self, pod: str | None = None, reason: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.api.objects("events")
            if (pod is None or e.get("involvedObject", {}).get("name") == pod)
            and (reason is None or e.get("reason") == reason)
        ]


async def eventually(
    check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02
) -> Any:
    """Poll until ``check()`` is truthy; fail with its last value after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    value = check()
    while not value:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(interval)
        value = check()
    return value


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with running_emulator() as (api, url):
        yield Cluster(api, url)


FAST_LEASE = LeaderSettings(
    namespace="kubenexus-system", lease_duration=1.5, renew_deadline=1.0, retry_period=0.2
)


@contextlib.asynccontextmanager
async def daemon_and_task(
    cluster: Cluster,
    *,
    config: dict[str, Any] | None = None,
    operator: bool = False,
    wait_ready: bool = True,
    token: str | None = None,
    client_settings: ClientSettings | None = None,
    **settings: Any,
) -> AsyncIterator[tuple[Daemon, asyncio.Task[None]]]:
    """A daemon running against the emulator, and the task of its ``run`` (to see how it ended).
    ``token``: the bearer token it sends, so the emulator's ``received`` tells replicas apart."""
    configuration = await load_configuration(None, host=cluster.url)
    if token is not None:
        configuration.api_key = {"BearerToken": token}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
    client = KubeClient(configuration, client_settings or ClientSettings(qps=0, connection_pool=64))
    daemon_settings = DaemonSettings(
        scheduler=parse_config({**FAST_CONFIG, **(config or {})}),
        informer=InformerSettings(retry_initial_seconds=0.05, retry_max_seconds=0.5),
        with_operator=operator,
        **settings,
    )
    daemon = Daemon(client, daemon_settings)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    try:
        if wait_ready:
            await asyncio.wait_for(daemon.ready.wait(), 10)
        yield daemon, task
    finally:
        stop.set()
        with contextlib.suppress(RuntimeError):  # a test may have made it lose leadership
            await asyncio.wait_for(task, 30)
        await client.close()


@contextlib.asynccontextmanager
async def running_daemon(cluster: Cluster, **options: Any) -> AsyncIterator[Daemon]:
    """A daemon running against the emulator (options: those of ``daemon_and_task``)."""
    async with daemon_and_task(cluster, **options) as (daemon, _):
        yield daemon


KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: emulator
  cluster: {{server: "{url}"}}
users:
- name: tester
  user: {{token: not-checked}}
contexts:
- name: emulator
  context: {{cluster: emulator, user: tester}}
current-context: emulator
"""


def run_files(cluster: Cluster, tmp_path: Path, config: str) -> list[str]:
    """``--kubeconfig`` and ``--config`` arguments of ``kubenexus run`` against the emulator;
    ``config`` is the body of a KubeSchedulerConfiguration."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG.format(url=cluster.url))
    path = tmp_path / "scheduler.yaml"
    path.write_text(
        f"apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n{config}"
    )
    return ["--kubeconfig", str(kubeconfig), "--config", str(path)]


async def start_run(
    *args: str, stdout: int = asyncio.subprocess.DEVNULL, stderr: int = asyncio.subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    """``kubenexus run ARGS`` as its own process, as users start it."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kubenexus.cli",
        "run",
        *args,
        stdout=stdout,
        stderr=stderr,
        env=dict(os.environ, NO_PROXY="127.0.0.1"),
    )
