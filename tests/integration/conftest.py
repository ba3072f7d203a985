"""Fixtures for tests over real HTTP: the API server emulator on 127.0.0.1, or a real
kube-apiserver (``KUBEBUILDER_ASSETS``), and the daemon against it.

Every test taking ``cluster`` runs twice: against the emulator and against the real server
(skipped, with one line saying how to enable it, when no control plane is available). A test
that needs the emulator's fault injection or its counters says so with
``@pytest.mark.emulator("why")`` and runs against the emulator only.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
import sys
import warnings
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubenexus.config import parse_config
from kubenexus.shell.app import Daemon, DaemonSettings
from kubenexus.shell.client import ClientSettings, KubeClient, load_configuration
from kubenexus.shell.informer import InformerSettings
from kubenexus.shell.leader import LeaderSettings
from tests.builders import make_node, make_pod
from tests.conftest import SERVERS
from tests.emulator import running_emulator
from tests.realk8s.client import RealApi, RealApiError

# Fast retries so tests do not wait out production backoffs.
FAST_CONFIG = {"podInitialBackoffSeconds": 0.05, "podMaxBackoffSeconds": 0.2}


@dataclass
class Cluster:
    api: Any  # KubeEmulator, or RealApi (the same test helpers over a real server)
    url: str
    # A real server: the admin kubeconfig to reach it (TLS, client certificate).
    kubeconfig: Path | None = None

    @property
    def real(self) -> bool:
        return self.kubeconfig is not None

    async def configuration(self) -> Any:
        """A kubernetes-asyncio client configuration for the daemon."""
        if self.kubeconfig is not None:
            return await load_configuration(str(self.kubeconfig))
        return await load_configuration(None, host=self.url)

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
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Create a pod (``extra``: spec fields). Labels and annotations are set at creation: a
        pod labelled afterwards may be scheduled as a plain pod in between (a real server's
        watch shows both versions)."""
        builder = make_pod(name).req(cpu=cpu).scheduler(scheduler)
        if node:
            builder.node(node)
        body = builder.dict()
        body["metadata"].pop("uid")
        if labels:
            body["metadata"]["labels"] = dict(labels)
        if annotations:
            body["metadata"]["annotations"] = dict(annotations)
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
        """Events (of one object, with one reason), oldest first."""
        found = [
            e
            for e in self.api.objects("events")
            if (pod is None or e.get("involvedObject", {}).get("name") == pod)
            and (reason is None or e.get("reason") == reason)
        ]
        return sorted(found, key=lambda e: int(e["metadata"].get("resourceVersion") or 0))


def stand_in_for_kubelet(cluster: Cluster) -> list[str]:
    """Finish the deletion of every terminating pod, as its kubelet would once the containers
    stopped (neither server runs one: a deleted pod on a node stays terminating until then).
    The names of the pods removed."""
    removed = []
    for pod in cluster.api.objects("pods"):
        meta = pod["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            cluster.api.delete_object("pods", meta["name"], meta["namespace"])
            removed.append(meta["name"])
    return removed


async def eventually(
    check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02
) -> Any:
    """Poll until ``check()`` is truthy; fail with its last value after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    started = loop.time()
    value = check()
    while not value:
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        # A check against the real server blocks the loop the daemon runs on: leave the daemon
        # at least twice the time the check took.
        await asyncio.sleep(max(interval, 2 * (loop.time() - started)))
        started = loop.time()
        value = check()
    return value


@pytest.fixture(params=SERVERS)
async def cluster(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    if request.param == "emulator":
        async with running_emulator() as (api, url):
            yield Cluster(api, url)
        await _settle_closed_connections()
        return
    marker = request.node.get_closest_marker("emulator")
    if marker is not None:
        pytest.skip(f"needs the emulator: {marker.args[0] if marker.args else ''}")
    real: RealApi = request.getfixturevalue("real_api")
    real.wipe()  # every test starts from an empty cluster
    real.ensure_namespace("kubenexus-system")  # where the daemon's Lease lives
    yield Cluster(real, real.plane.url, kubeconfig=real.plane.admin_kubeconfig)
    await _settle_closed_connections()


async def _settle_closed_connections() -> None:
    """Let the connections closed at the test's end finish closing (a transport's socket is
    released by a callback on the loop; a TLS connection to kube-apiserver needs a closing
    exchange too), then collect what is left of them now, where a ResourceWarning about a
    connection of the finished test is expected noise — rather than at a random later test,
    where pytest turns it into that test's failure."""
    for _ in range(5):
        await asyncio.sleep(0.02)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"unclosed (transport|<socket)", ResourceWarning)
        gc.collect()


FAST_LEASE = LeaderSettings(
    namespace="kubenexus-system", lease_duration=1.5, renew_deadline=1.0, retry_period=0.2
)


# The run task of every daemon running_daemon started (for daemon_exit).
_RUNS: weakref.WeakKeyDictionary[Daemon, asyncio.Task[None]] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def daemon_and_task(
    cluster: Cluster,
    *,
    config: dict[str, Any] | None = None,
    operator: bool = False,
    wait_ready: bool = True,
    token: str | None = None,
    client_settings: ClientSettings | None = None,
    expect_exit: str | None = None,
    **settings: Any,
) -> AsyncIterator[tuple[Daemon, asyncio.Task[None]]]:
    """A daemon against the emulator until the block ends, and the task of its ``run``.

    A daemon that fails or stops before then fails the test; a test that makes it stop on
    purpose says so with ``expect_exit``, a pattern its error must match (it must then have
    stopped by itself before the block ends). ``token``: the bearer token it sends, so the
    emulator's ``received`` tells replicas apart."""
    configuration = await cluster.configuration()
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
    task = asyncio.create_task(daemon.run(stop), name="daemon")
    _RUNS[daemon] = task
    failed: BaseException | None = None
    try:
        if wait_ready:
            await _until_ready(daemon, task)
        yield daemon, task
    except BaseException as exc:
        failed = exc
        raise
    finally:
        ended_by_itself = task.done()
        stop.set()
        try:
            problem, error = await _stopped(task, ended_by_itself, expect_exit)
        finally:
            await client.close()
        if problem is not None:
            if failed is not None:  # the test's own failure stays the one reported
                failed.add_note(f"and the daemon: {problem}")
            else:
                raise AssertionError(problem) from error


async def _until_ready(daemon: Daemon, task: asyncio.Task[None], timeout: float = 10) -> None:
    ready = asyncio.create_task(daemon.ready.wait())
    try:
        done, _ = await asyncio.wait(
            {ready, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        ready.cancel()
    if ready not in done and task not in done:
        raise AssertionError(f"the daemon was not ready within {timeout}s")
    # A daemon that ended instead is reported at teardown, with its error.


async def _stopped(
    task: asyncio.Task[None], ended_by_itself: bool, expect_exit: str | None
) -> tuple[str | None, BaseException | None]:
    """Wait for the daemon's end; what is wrong with it (None: nothing) and its error."""
    done, _ = await asyncio.wait({task}, timeout=30)
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return "it did not stop within 30s of being told to", None
    if task.cancelled():
        return "its task was cancelled", None
    error = task.exception()
    if expect_exit is None:
        if error is not None:
            return f"it failed: {error!r}", error
        if ended_by_itself:
            return "it stopped before the test ended", None
        return None, None
    if not ended_by_itself:
        return f"it was expected to stop by itself ({expect_exit!r}) but ran until the end", error
    if error is None or not re.search(expect_exit, str(error)):
        return f"it stopped with {error!r}, not an error matching {expect_exit!r}", error
    return None, None


async def daemon_exit(daemon: Daemon, timeout: float = 10) -> BaseException | None:
    """Wait until a daemon started by running_daemon has stopped by itself; its error."""
    task = _RUNS[daemon]
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        raise AssertionError(f"the daemon did not stop within {timeout}s")
    return None if task.cancelled() else task.exception()


def pod_key(cluster: Cluster, name: str, namespace: str = "default") -> str:
    """The key the scheduler knows a pod by (its uid)."""
    pod = cluster.get_pod(name, namespace)
    assert pod is not None, f"no pod {namespace}/{name}"
    return str(pod["metadata"]["uid"])


def in_priority_class(cluster: Cluster, name: str, value: int) -> dict[str, Any]:
    """Spec fields putting a pod in PriorityClass ``name`` of ``value``: the class is created on
    the real server (its admission resolves the priority, and refuses a bare spec.priority);
    the emulator takes the priority as given."""
    if not cluster.real:
        return {"priorityClassName": name, "priority": value}
    try:
        cluster.api.request(
            "POST",
            "/apis/scheduling.k8s.io/v1/priorityclasses",
            {"apiVersion": "scheduling.k8s.io/v1", "metadata": {"name": name}, "value": value},
        )
    except RealApiError as exc:
        if exc.status != 409:
            raise
    return {"priorityClassName": name}


def lease_holder(cluster: Cluster) -> str | None:
    lease = cluster.api.get_object(
        "leases", "kubenexus-scheduler", "kubenexus-system", group="coordination.k8s.io"
    )
    return None if lease is None else lease["spec"].get("holderIdentity")


def usurp_lease(cluster: Cluster) -> None:
    """Another replica takes the Lease behind the holder's back (e.g. it was partitioned)."""
    lease = cluster.api.get_object(
        "leases", "kubenexus-scheduler", "kubenexus-system", group="coordination.k8s.io"
    )
    assert lease is not None
    lease["spec"]["holderIdentity"] = "usurper"
    cluster.api.put_object("leases", lease, group="coordination.k8s.io")


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
    if cluster.kubeconfig is not None:
        kubeconfig = cluster.kubeconfig
    else:
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


async def http_get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def metric_value(metrics: str, series: str) -> float:
    """One series' value in a Prometheus text exposition (fails if it is not exported)."""
    match = re.search(rf"^{re.escape(series)} ([0-9.e+-]+)$", metrics, re.MULTILINE)
    assert match is not None, f"{series} not exported"
    return float(match[1])
