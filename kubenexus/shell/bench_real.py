"""``kubenexus bench --e2e`` on a real control plane (``KUBEBUILDER_ASSETS``): etcd and
kube-apiserver started here, fake nodes and pending pods created concurrently, then each
contestant binds the same pods on the same server:

- ``kubenexus``: the daemon as users run it (``kubenexus run``, its default client limits,
  Events on), in its own process, so its CPU and memory are its own;
- ``kube-scheduler``: the real one from ``KUBEBUILDER_ASSETS``, its client QPS/burst raised to
  the daemon's, scheduling the same ``schedulerName``;
- ``bind-only``: a client that lists the pods and binds them round-robin with no logic and no
  Events — the ceiling of this control plane on this machine.

One watch (the benchmark's) sees every bind: time to first bind counts from the contestant's
process start. CPU seconds and peak RSS are read from ``/proc`` once the contestant is idle
(its deferred Events included). API calls come from the server's ``apiserver_request_total``.
Every contestant runs as the admin user (exempt from API Priority and Fairness), so none is
throttled by the server differently.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp

from kubenexus.errors import KubeNexusError

NAMESPACE: Final = "kubenexus-bench"
FILLER_NAMESPACE: Final = "kubenexus-bench-running"
SCHEDULER: Final = "kubenexus-scheduler"
PENDING_LABEL: Final = "kubenexus-bench/pending"
CREATE_CONCURRENCY: Final = 64
CONTESTANTS: Final = ("kubenexus", "kube-scheduler", "bind-only")
_TICKS: Final = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One contestant binding one batch of pending pods."""

    contestant: str
    pods: int
    bound: int = 0
    first_bind: float = 0.0  # seconds from the process start
    last_bind: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_bytes: int = 0
    api_calls: int = 0
    calls_by_kind: dict[str, int] = field(default_factory=dict)
    events_posted: int = -1  # the daemon's own figures (-1: not known)
    events_dropped: int = -1

    @property
    def bind_rate(self) -> float:
        """Binds per second from the first bind to the last."""
        span = self.last_bind - self.first_bind
        return (self.bound - 1) / span if span > 0 and self.bound > 1 else 0.0

    @property
    def overall_rate(self) -> float:
        """Binds per second from the process start (start-up included)."""
        return self.bound / self.last_bind if self.last_bind else 0.0

    @property
    def cpu_per_bind_ms(self) -> float:
        return 1000 * self.cpu_seconds / self.bound if self.bound else 0.0

    @property
    def calls_per_pod(self) -> float:
        return self.api_calls / self.bound if self.bound else 0.0


@dataclass
class RealReport:
    nodes: int
    pods: int
    running_pods: int
    qps: float
    burst: int
    runs: list[Run]
    setup_seconds: dict[str, float]


# --------------------------------------------------------------------------- objects


def _node(name: str, zone: str) -> dict[str, Any]:
    amounts = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "500Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/zone": zone,
            },
        },
        "status": {
            "capacity": amounts,
            "allocatable": amounts,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "phase": "Running",
        },
    }


def _pod(name: str, namespace: str, *, scheduler: str, node: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schedulerName": scheduler,
        "containers": [
            {
                "name": "app",
                "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}},
            }
        ],
        "terminationGracePeriodSeconds": 0,
    }
    if node:
        spec["nodeName"] = node
    labels = {"app": name.rsplit("-", 1)[0]}
    if not node:
        labels[PENDING_LABEL] = "true"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


# --------------------------------------------------------------------------- the server


class Server:
    """Concurrent requests to the real API server as the admin (aiohttp, kept-alive TLS)."""

    def __init__(self, url: str, context: ssl.SSLContext) -> None:
        self.url = url
        self._session = aiohttp.ClientSession(
            url,
            connector=aiohttp.TCPConnector(ssl=context, limit=CREATE_CONCURRENCY + 8),
            timeout=aiohttp.ClientTimeout(total=600),
        )

    async def close(self) -> None:
        await self._session.close()

    async def call(
        self, method: str, path: str, body: Any = None, *, query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body)
        async with self._session.request(
            method,
            path,
            data=data,
            params=query,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        ) as reply:
            text = await reply.text()
            if reply.status == 409 and method == "POST":
                return {}  # already there (a namespace, a CRD)
            if not 200 <= reply.status < 300:
                raise RuntimeError(f"{method} {path}: {reply.status} {text[:300]}")
            return json.loads(text) if text.startswith("{") else {"text": text}

    async def create_all(self, path_and_bodies: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """POST everything, ``CREATE_CONCURRENCY`` at a time."""
        items = iter(path_and_bodies)

        async def worker() -> None:
            for path, body in items:
                await self.call("POST", path, body)

        await asyncio.gather(*(worker() for _ in range(CREATE_CONCURRENCY)))

    async def request_counts(self) -> dict[str, int]:
        """``apiserver_request_total`` by verb and resource (every client but the server's own
        loopback; non-resource paths such as /metrics left out)."""
        async with self._session.get("/metrics") as reply:
            text = await reply.text()
        counts: dict[str, int] = {}
        for line in text.splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels_text, value = line[len("apiserver_request_total{") :].rsplit("} ", 1)
            labels = dict(
                part.split("=", 1)
                for part in labels_text.replace('"', "").split(",")
                if "=" in part
            )
            if not labels.get("resource") or labels.get("system_client") == "kube-apiserver":
                continue
            sub = labels.get("subresource", "")
            kind = f"{labels.get('verb')} {labels['resource']}{'/' + sub if sub else ''}"
            counts[kind] = counts.get(kind, 0) + int(float(value))
        return counts


# --------------------------------------------------------------------------- measuring a process


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of the process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


async def _settled_cpu(pid: int, quiet: float = 1.0, limit: float = 60.0) -> float:
    """CPU seconds once the process has stopped working (less than 2 % of a core over
    ``quiet`` seconds): what it deferred (Events) is counted too."""
    deadline = time.monotonic() + limit
    before = _cpu_seconds(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet)
        now = _cpu_seconds(pid)
        if now - before < 0.02 * quiet:
            return now
        before = now
    return before


class BindWatch:
    """The benchmark's one watch on the pending pods: when each got its node."""

    def __init__(self, server: Server, expected: int) -> None:
        self.server = server
        self.expected = expected
        self.bound_at: list[float] = []
        self.done = asyncio.Event()
        self._seen: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        listed = await self.server.call(
            "GET",
            f"/api/v1/namespaces/{NAMESPACE}/pods",
            query={"labelSelector": f"{PENDING_LABEL}=true", "limit": "1"},
        )
        version = listed["metadata"]["resourceVersion"]
        self._task = asyncio.create_task(self._watch(version))

    async def _watch(self, version: str) -> None:
        while not self.done.is_set():
            query = {
                "labelSelector": f"{PENDING_LABEL}=true",
                "watch": "true",
                "resourceVersion": version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "600",
            }
            async with self.server._session.get(
                f"/api/v1/namespaces/{NAMESPACE}/pods", params=query
            ) as reply:
                async for line in reply.content:
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    name = obj.get("metadata", {}).get("name", "")
                    if obj.get("spec", {}).get("nodeName") and name not in self._seen:
                        self._seen.add(name)
                        self.bound_at.append(time.monotonic())
                        if len(self._seen) >= self.expected:
                            self.done.set()
                            return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


# --------------------------------------------------------------------------- the benchmark


@dataclass
class _Contestant:
    """One scheduler (or the bind-only client) in its own process."""

    name: str
    plane: Any  # ControlPlane
    qps: float
    burst: int
    metrics_port: int
    process: subprocess.Popen[bytes] | None = None

    async def start(self) -> int:
        if self.name == "kube-scheduler":
            # In a thread: it waits for /healthz, and the benchmark's watch must keep reading.
            config = _kube_scheduler_config(self.qps, self.burst)
            await asyncio.to_thread(self.plane.start_scheduler, config, "admin")
            pid: int = self.plane.pid("kube-scheduler")
            return pid
        kubeconfig = str(self.plane.admin_kubeconfig)
        command = [sys.executable, "-m"]
        if self.name == "kubenexus":
            command += [
                "kubenexus.cli",
                "run",
                f"--kubeconfig={kubeconfig}",
                "--no-leader-elect",
                f"--metrics-port={self.metrics_port}",
                "--metrics-address=127.0.0.1",
                "--log-level=WARNING",
                f"--qps={self.qps}",
                f"--burst={self.burst}",
            ]
        else:
            command += ["kubenexus.shell.bench_real", kubeconfig, NAMESPACE]
        log = Path(tempfile.gettempdir()) / f"kubenexus-bench-{self.name}.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        return self.process.pid

    async def stop(self) -> None:
        if self.name == "kube-scheduler":
            await asyncio.to_thread(self.plane.stop_component, "kube-scheduler")
            return
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, 30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)

    async def events(self) -> tuple[int, int]:
        """The daemon's Events posted and dropped (-1, -1 for the others)."""
        if self.name != "kubenexus":
            return -1, -1
        return await _scrape_daemon(self.metrics_port)


async def _phase(server: Server, contestant: _Contestant, pods: int, *, idle_timeout: float) -> Run:
    """Create ``pods`` pending pods, start the contestant, watch until all are bound (or none
    more for ``idle_timeout`` s), measure, stop it, delete the pods."""
    bodies = (
        (
            f"/api/v1/namespaces/{NAMESPACE}/pods",
            _pod(f"pending-{i:06d}", NAMESPACE, scheduler=SCHEDULER),
        )
        for i in range(pods)
    )
    await server.create_all(bodies)
    watch = BindWatch(server, pods)
    await watch.start()
    before = await server.request_counts()
    started = time.monotonic()
    pid = await contestant.start()
    run = Run(contestant.name, pods)
    try:
        while not watch.done.is_set():
            seen = len(watch.bound_at)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.done.wait(), idle_timeout)
            if len(watch.bound_at) == seen:
                break  # nothing bound for idle_timeout: give up on the rest
        run.bound = len(watch.bound_at)
        if watch.bound_at:
            run.first_bind = watch.bound_at[0] - started
            run.last_bind = watch.bound_at[-1] - started
        run.cpu_seconds = await _settled_cpu(pid)
        run.peak_rss_bytes = _peak_rss(pid)
        run.events_posted, run.events_dropped = await contestant.events()
        after = await server.request_counts()
        delta = {k: v - before.get(k, 0) for k, v in after.items() if v > before.get(k, 0)}
        run.calls_by_kind = {k: v for k, v in sorted(delta.items()) if v > 0}
        # Watches are counted when they end (not while open): left out of calls per pod.
        run.api_calls = sum(v for k, v in run.calls_by_kind.items() if not k.startswith("WATCH"))
    finally:
        await watch.stop()
        await contestant.stop()
        await server.call(
            "DELETE",
            f"/api/v1/namespaces/{NAMESPACE}/pods",
            query={"labelSelector": f"{PENDING_LABEL}=true", "gracePeriodSeconds": "0"},
        )
    return run


async def _scrape_daemon(port: int) -> tuple[int, int]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as reply,
    ):
        text = await reply.text()
    values: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("kubenexus_events{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            values[outcome] = int(float(line.rsplit(" ", 1)[1]))
    return values.get("posted", 0), values.get("dropped", 0)


def _kube_scheduler_config(qps: float, burst: int) -> str:
    return f"""apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: KUBECONFIG
  qps: {qps}
  burst: {burst}
leaderElection:
  leaderElect: false
profiles:
- schedulerName: {SCHEDULER}
"""


async def run_real(
    *,
    nodes: int,
    pods: int,
    running_pods: int = 0,
    compare: bool = False,
    repeat: int = 1,
    qps: float,
    burst: int,
    idle_timeout: float = 30.0,
    log: Callable[[str], None] = lambda _: None,
) -> RealReport:
    try:
        from kubenexus.shell.controlplane import (  # noqa: PLC0415 - needs cryptography
            ControlPlane,
            assets_folder,
            free_port,
        )
    except ImportError as exc:
        raise KubeNexusError(
            f"bench --e2e needs the bench extra: pip install 'kubenexus[bench]' ({exc.name} "
            "is missing)"
        ) from None

    assets = assets_folder()
    if assets is None:
        raise KubeNexusError(
            "bench --e2e without --server needs KUBEBUILDER_ASSETS: a folder holding etcd, "
            "kube-apiserver and kube-scheduler"
        )
    if compare and not (assets / "kube-scheduler").is_file():
        raise KubeNexusError(f"bench --e2e --compare: no kube-scheduler in {assets}")
    plane = ControlPlane(assets, audit_requests=False)
    setup: dict[str, float] = {}
    runs: list[Run] = []
    clock = time.monotonic()
    plane.start()
    setup["control plane"] = time.monotonic() - clock
    server = Server(plane.url, plane.ssl_context())
    try:
        clock = time.monotonic()
        await _install_crds(server)
        for namespace in (NAMESPACE, FILLER_NAMESPACE):
            await server.call("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
            await server.call(
                "POST",
                f"/api/v1/namespaces/{namespace}/serviceaccounts",
                {"metadata": {"name": "default"}},
            )
        zones = ("zone-a", "zone-b", "zone-c")
        await server.create_all(
            ("/api/v1/nodes", _node(f"node-{i:05d}", zones[i % 3])) for i in range(nodes)
        )
        setup["nodes"] = time.monotonic() - clock
        clock = time.monotonic()
        await server.create_all(
            (
                f"/api/v1/namespaces/{FILLER_NAMESPACE}/pods",
                _pod(
                    f"running-{i:06d}",
                    FILLER_NAMESPACE,
                    scheduler="default-scheduler",
                    node=f"node-{i % nodes:05d}",
                ),
            )
            for i in range(running_pods)
        )
        setup["running pods"] = time.monotonic() - clock
        log(f"set up: {', '.join(f'{k} {v:.1f} s' for k, v in setup.items())}")
        contestants = CONTESTANTS if compare else CONTESTANTS[:1]
        for round_ in range(repeat):
            for name in contestants:
                clock = time.monotonic()
                contestant = _Contestant(name, plane, qps, burst, free_port())
                run = await _phase(server, contestant, pods, idle_timeout=idle_timeout)
                runs.append(run)
                log(
                    f"round {round_ + 1} {name}: {run.bound}/{pods} bound, "
                    f"{run.bind_rate:,.0f} binds/s, first bind {run.first_bind:.2f} s, "
                    f"cpu {run.cpu_seconds:.1f} s, peak RSS {run.peak_rss_bytes / 2**20:.0f} MiB "
                    f"({time.monotonic() - clock:.0f} s with pod creation)"
                )
    finally:
        await server.close()
        plane.stop()
    return RealReport(nodes, pods, running_pods, qps, burst, runs, setup)


async def _install_crds(server: Server) -> None:
    """Our CRDs (kopf watches them in the daemon), from the source tree when it is there."""
    import yaml  # noqa: PLC0415

    folder = Path(__file__).resolve().parents[2] / "crds"
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "CustomResourceDefinition":
                await server.call(
                    "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", document
                )


# --------------------------------------------------------------------------- the ceiling


async def bind_only(kubeconfig: str, namespace: str, in_flight: int = 256) -> None:
    """List the nodes and the pending pods, bind them round-robin: no logic, no Events."""
    import yaml  # noqa: PLC0415

    config = yaml.safe_load(Path(kubeconfig).read_text())
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    import base64  # noqa: PLC0415

    # ssl loads a client certificate from files only: written for the moment it takes.
    with tempfile.TemporaryDirectory(prefix="kubenexus-bind-only-") as name:
        folder = Path(name)
        for file, key in (
            ("ca.crt", "certificate-authority-data"),
            ("tls.crt", "client-certificate-data"),
            ("tls.key", "client-key-data"),
        ):
            source = cluster if key.startswith("certificate-authority") else user
            (folder / file).write_bytes(base64.b64decode(source[key]))
        context = ssl.create_default_context(cafile=str(folder / "ca.crt"))
        context.load_cert_chain(folder / "tls.crt", folder / "tls.key")
    async with aiohttp.ClientSession(
        cluster["server"], connector=aiohttp.TCPConnector(ssl=context, limit=in_flight)
    ) as session:

        async def names(path: str, query: dict[str, str]) -> list[str]:
            found: list[str] = []
            token = ""
            while True:
                params = dict(query, limit="500", **({"continue": token} if token else {}))
                async with session.get(path, params=params) as reply:
                    page = await reply.json()
                found += [item["metadata"]["name"] for item in page["items"]]
                token = page["metadata"].get("continue", "")
                if not token:
                    return found

        nodes = await names("/api/v1/nodes", {})
        pending = await names(
            f"/api/v1/namespaces/{namespace}/pods",
            {"fieldSelector": "spec.nodeName=", "labelSelector": f"{PENDING_LABEL}=true"},
        )
        work = iter(enumerate(pending))

        async def worker() -> None:
            for i, pod in work:
                body = json.dumps(
                    {
                        "apiVersion": "v1",
                        "kind": "Binding",
                        "metadata": {"name": pod, "namespace": namespace},
                        "target": {"kind": "Node", "name": nodes[i % len(nodes)]},
                    }
                )
                async with session.post(
                    f"/api/v1/namespaces/{namespace}/pods/{pod}/binding",
                    data=body,
                    headers={"Content-Type": "application/json"},
                ) as reply:
                    await reply.read()

        await asyncio.gather(*(worker() for _ in range(in_flight)))
    await asyncio.Event().wait()  # measured, then stopped by the benchmark


# --------------------------------------------------------------------------- the report


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def render_real(report: RealReport) -> str:
    by: dict[str, list[Run]] = {}
    for run in report.runs:
        by.setdefault(run.contestant, []).append(run)
    lines = [
        f"kubenexus bench --e2e on a real control plane (kube-apiserver from KUBEBUILDER_ASSETS)"
        f" — Python {platform.python_version()}, {os.cpu_count()} cores",
        f"cluster         {report.nodes} fake nodes, {report.running_pods} running pods, "
        f"{report.pods} pending pods of 100m/100Mi per run; client QPS {report.qps:g} / "
        f"burst {report.burst} for both schedulers",
        "figures are medians of "
        + ", ".join(f"{len(runs)} {name} runs" for name, runs in by.items()),
        "",
        f"{'':16}{'bound':>8}{'binds/s':>9}{'incl.start':>11}{'1st bind':>9}{'CPU s':>7}"
        f"{'ms/bind':>8}{'peak RSS':>9}{'calls/pod':>10}",
    ]
    medians: dict[str, dict[str, float]] = {}
    for name, runs in by.items():
        m = {
            "bound": _median([r.bound for r in runs]),
            "rate": _median([r.bind_rate for r in runs]),
            "overall": _median([r.overall_rate for r in runs]),
            "first": _median([r.first_bind for r in runs]),
            "cpu": _median([r.cpu_seconds for r in runs]),
            "cpu_per_bind": _median([r.cpu_per_bind_ms for r in runs]),
            "rss": _median([r.peak_rss_bytes for r in runs]) / 2**20,
            "calls": _median([r.calls_per_pod for r in runs]),
        }
        medians[name] = m
        lines.append(
            f"{name:16}{m['bound']:>8,.0f}{m['rate']:>9,.0f}{m['overall']:>11,.0f}"
            f"{m['first']:>8.2f}s{m['cpu']:>7.1f}{m['cpu_per_bind']:>8.2f}"
            f"{m['rss']:>5,.0f} MiB{m['calls']:>10.2f}"
        )
    lines.append("")
    for run in report.runs[: len(by)]:
        calls = ", ".join(f"{k} {v}" for k, v in run.calls_by_kind.items())
        lines.append(f"API calls, {run.contestant} (first run): {calls}")
    ours = by.get("kubenexus", [])
    if ours and ours[-1].events_posted >= 0:
        lines.append(
            "kubenexus Events (last run): "
            f"{ours[-1].events_posted} posted, {ours[-1].events_dropped} dropped"
        )
    us = medians.get("kubenexus")
    if us and "bind-only" in medians and medians["bind-only"]["rate"]:
        ceiling = medians["bind-only"]
        lines.append(
            f"kubenexus / bind-only ceiling: binds/s x{us['rate'] / ceiling['rate']:.2f} "
            f"(start-up included x{us['overall'] / ceiling['overall']:.2f})"
        )
    if us and "kube-scheduler" in medians and medians["kube-scheduler"]["rate"]:
        kube = medians["kube-scheduler"]
        lines.append(
            f"kubenexus / kube-scheduler: binds/s x{us['rate'] / kube['rate']:.2f}, "
            f"CPU per bind x{us['cpu_per_bind'] / max(kube['cpu_per_bind'], 1e-9):.2f}, "
            f"peak RSS x{us['rss'] / max(kube['rss'], 1e-9):.2f}, "
            f"time to first bind x{us['first'] / max(kube['first'], 1e-9):.2f}"
        )
    return "\n".join(lines)


# What `kubenexus run` uses unless told otherwise (cli.py's --qps/--burst defaults).
RUN_QPS: Final = 1000.0
RUN_BURST: Final = 2000


def e2e_on_real_server(
    nodes: int, pods: int, running_pods: int, *, compare: bool, repeat: int
) -> None:
    """The command: progress on stderr, the report on stdout."""
    report = asyncio.run(
        run_real(
            nodes=nodes,
            pods=pods,
            running_pods=running_pods,
            compare=compare,
            repeat=repeat,
            qps=RUN_QPS,
            burst=RUN_BURST,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
    )
    print(render_real(report))


if __name__ == "__main__":  # the bind-only contestant, in its own process
    asyncio.run(bind_only(sys.argv[1], sys.argv[2]))
