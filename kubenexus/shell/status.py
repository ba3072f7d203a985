"""``kubectl kubenexus status``: the scheduler's state read from the API (and its metrics).

Read-only: the leader Lease, PodGroups and ResourceReservations with their status, our pending
pods; queue sizes by queue from the daemon's ``/metrics`` when its URL is given.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from kubenexus.api.keys import SCHEDULER_NAME
from kubenexus.api.reservation import GROUP, PLURAL, VERSION
from kubenexus.errors import KubeNexusError
from kubenexus.shell.client import ApiError, KubeClient, load_configuration
from kubenexus.shell.snapshot import PODGROUPS, SNAPSHOT_CLIENT

_PAGE: Final = 500


@dataclass(slots=True)
class SchedulerStatus:
    leader: str = ""  # holderIdentity, "" when none
    lease_renewed: str = ""
    lease_problem: str = ""
    pending_pods: int = 0  # ours, not bound, not being deleted
    queues: dict[str, int] = field(default_factory=dict)  # from /metrics
    gangs: list[tuple[str, str, str]] = field(default_factory=list)  # name, phase, counts
    reservations: list[tuple[str, str, str]] = field(default_factory=list)  # name, phase, claims
    notes: list[str] = field(default_factory=list)


async def _optional_list(client: KubeClient, path: str) -> list[dict[str, object]] | None:
    items: list[dict[str, object]] = []
    try:
        async for page, _ in client.list_pages(path, {}, _PAGE):
            items += page
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return items


def _name(obj: dict[str, object]) -> str:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return "?"
    return f"{meta.get('namespace', 'default')}/{meta.get('name', '?')}"


async def ask_daemon(daemon_url: str, target: str, output: str) -> str:
    """The daemon's own answer (GET /explain, served with `run --serve-explain`)."""
    url = daemon_url.rstrip("/") + "/explain"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.get(url, params={"pod": target, "output": output}) as response,
        ):
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise KubeNexusError(f"--daemon-url {daemon_url}: {exc or type(exc).__name__}") from None
    if response.status == 404 and "not found" not in text:
        raise KubeNexusError(
            f"--daemon-url {daemon_url}: no /explain there (run the daemon with --serve-explain)"
        )
    if response.status != 200:
        raise KubeNexusError(text.strip() or f"--daemon-url {daemon_url}: HTTP {response.status}")
    return text.rstrip("\n")


async def read_queues(metrics_url: str) -> dict[str, int]:
    """``scheduler_pending_pods`` by queue, from the daemon's metrics endpoint."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(metrics_url) as response,
        ):
            text = await response.text()
            if response.status != 200:
                raise KubeNexusError(f"--metrics-url {metrics_url}: HTTP {response.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise KubeNexusError(f"--metrics-url {metrics_url}: {exc or type(exc).__name__}") from None
    queues: dict[str, int] = {}
    try:
        for family in text_string_to_metric_families(text):
            if family.name == "scheduler_pending_pods":
                for sample in family.samples:
                    queues[sample.labels.get("queue", "")] = int(sample.value)
    except ValueError as exc:  # not a Prometheus exposition (a wrong port, a JSON answer)
        first = str(exc).splitlines()[0][:120] if str(exc) else "unparsable"
        raise KubeNexusError(
            f"--metrics-url {metrics_url}: not Prometheus metrics text ({first})"
        ) from None
    return queues


async def read_status(
    client: KubeClient,
    *,
    lease_namespace: str,
    lease_name: str = SCHEDULER_NAME,
    metrics_url: str | None = None,
) -> SchedulerStatus:
    status = SchedulerStatus()
    path = f"/apis/coordination.k8s.io/v1/namespaces/{lease_namespace}/leases/{lease_name}"
    try:
        lease = await client.request("GET", path)
        spec = lease.get("spec") or {}
        status.leader = str(spec.get("holderIdentity") or "")
        status.lease_renewed = str(spec.get("renewTime") or "")
    except ApiError as exc:
        if exc.status != 404:
            raise
        status.lease_problem = f"no Lease {lease_namespace}/{lease_name} (no leader elected)"
    async for items, _ in client.list_pages(
        "/api/v1/pods", {"fieldSelector": "spec.nodeName="}, _PAGE
    ):
        for pod in items:
            spec = pod.get("spec") or {}
            meta = pod.get("metadata") or {}
            phase = (pod.get("status") or {}).get("phase", "Pending")
            if (
                spec.get("schedulerName") == SCHEDULER_NAME
                and not meta.get("deletionTimestamp")
                and phase not in {"Succeeded", "Failed"}
            ):
                status.pending_pods += 1
    groups = await _optional_list(client, PODGROUPS)
    if groups is None:
        status.notes.append("PodGroup CRD not installed")
    for group in groups or []:
        info = group.get("status") if isinstance(group.get("status"), dict) else {}
        assert isinstance(info, dict)
        spec = group.get("spec") if isinstance(group.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        counts = (
            f"{info.get('scheduled', 0)} scheduled, {info.get('running', 0)} running "
            f"of minMember {spec.get('minMember', '?')}"
        )
        status.gangs.append((_name(group), str(info.get("phase") or "Pending"), counts))
    reservations = await _optional_list(client, f"/apis/{GROUP}/{VERSION}/{PLURAL}")
    if reservations is None:
        status.notes.append("ResourceReservation CRD not installed")
    for reservation in reservations or []:
        info = reservation.get("status") if isinstance(reservation.get("status"), dict) else {}
        assert isinstance(info, dict)
        slots = info.get("slots") if isinstance(info.get("slots"), dict) else {}
        assert isinstance(slots, dict)
        states = Counter(str(s.get("state", "?")) for s in slots.values() if isinstance(s, dict))
        claims = f"{states.get('Claimed', 0)}/{len(slots)} claimed" if slots else "-"
        phase = str(info.get("phase") or "Pending")
        status.reservations.append((_name(reservation), phase, claims))
    if metrics_url:
        status.queues = await read_queues(metrics_url)
    return status


def render_status(status: SchedulerStatus) -> str:
    lines = []
    if status.leader:
        lines.append(f"leader: {status.leader} (renewed {status.lease_renewed or '?'})")
    else:
        lines.append(f"leader: none{f' - {status.lease_problem}' if status.lease_problem else ''}")
    lines.append(f"pending pods ({SCHEDULER_NAME}): {status.pending_pods}")
    if status.queues:
        lines.append(
            "queues: " + ", ".join(f"{queue} {n}" for queue, n in sorted(status.queues.items()))
        )
    phases = Counter(phase for _, phase, _ in status.gangs)
    lines.append(
        f"gangs: {len(status.gangs)}"
        + (f" ({', '.join(f'{n} {p}' for p, n in sorted(phases.items()))})" if phases else "")
    )
    lines += [f"  {name}  {phase}  {counts}" for name, phase, counts in status.gangs]
    phases = Counter(phase for _, phase, _ in status.reservations)
    lines.append(
        f"reservations: {len(status.reservations)}"
        + (f" ({', '.join(f'{n} {p}' for p, n in sorted(phases.items()))})" if phases else "")
    )
    lines += [f"  {name}  {phase}  {claims}" for name, phase, claims in status.reservations]
    lines += [f"note: {note}" for note in status.notes]
    return "\n".join(lines)


async def read_status_live(
    *,
    kubeconfig: str | None,
    context: str | None,
    server: str | None,
    lease_namespace: str,
    lease_name: str,
    metrics_url: str | None,
) -> SchedulerStatus:
    configuration = await load_configuration(kubeconfig, host=server, context=context)
    client = KubeClient(configuration, SNAPSHOT_CLIENT)
    try:
        return await read_status(
            client, lease_namespace=lease_namespace, lease_name=lease_name, metrics_url=metrics_url
        )
    finally:
        await client.close()
