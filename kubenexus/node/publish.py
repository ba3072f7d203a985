"""``kubenexus node discover --apply``: publish a discovery for the node it runs on, changing only
what differs (no request at all when nothing does), and keep doing it every ``interval``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

from kubenexus.api import keys
from kubenexus.errors import KubeNexusError
from kubenexus.node.discover import (
    MANAGED_BY,
    NRT_API,
    Discovery,
    node_patch,
    nrt_object,
    stray_zone_keys,
)
from kubenexus.shell.client import MERGE_PATCH, ApiError, KubeClient

PUBLISH_CHOICES: Final = ("labels", "nrt", "both")
_NRT_PATH: Final = f"/apis/{NRT_API}/noderesourcetopologies"


async def _publish_labels(client: KubeClient, node_name: str, found: Discovery) -> list[str]:
    path = f"/api/v1/nodes/{quote(node_name, safe='')}"
    node = await client.request("GET", path)
    patch = node_patch(node, found)
    warnings = [
        f"warning: node {node_name}: {key} describes a zone this host does not have (it has "
        f"{len(found.host.zones)}): the scheduler ignores the node's topology until it is removed"
        for key in stray_zone_keys(node, found)
    ]
    if patch is None:
        return [f"node {node_name}: labels and annotations up to date", *warnings]
    await client.request("PATCH", path, body=patch, content_type=MERGE_PATCH)
    changed = [
        f"{where[:-1]} {key}={'(removed)' if value is None else value}"
        for where, values in patch["metadata"].items()
        for key, value in sorted(values.items())
    ]
    return [
        f"node {node_name}: {len(changed)} change(s)",
        *(f"  {line}" for line in changed),
        *warnings,
    ]


def _same_nrt(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(current.get(k) == wanted[k] for k in ("zones", "topologyPolicies"))


async def _publish_nrt(client: KubeClient, node_name: str, found: Discovery) -> list[str]:
    try:
        await client.request("GET", f"/apis/{NRT_API}")
    except ApiError as exc:
        if exc.status == 404:
            return [f"NodeResourceTopology ({NRT_API}) is not served here: not published"]
        raise
    wanted = nrt_object(node_name, found)
    path = f"{_NRT_PATH}/{quote(node_name, safe='')}"
    try:
        current = await client.request("GET", path)
    except ApiError as exc:
        if exc.status != 404:
            raise
        await client.request("POST", _NRT_PATH, body=wanted)
        return [f"NodeResourceTopology {node_name}: created"]
    owner = ((current.get("metadata") or {}).get("labels") or {}).get(keys.MANAGED_BY_LABEL)
    if owner != MANAGED_BY:
        return [
            f"NodeResourceTopology {node_name} is managed by {owner or 'someone else'}: left alone"
        ]
    if _same_nrt(current, wanted):
        return [f"NodeResourceTopology {node_name}: up to date"]
    body = {k: wanted[k] for k in ("zones", "topologyPolicies")}
    await client.request("PATCH", path, body=body, content_type=MERGE_PATCH)
    return [f"NodeResourceTopology {node_name}: updated"]


async def publish(
    client: KubeClient, node_name: str, found: Discovery, what: str = "labels"
) -> list[str]:
    """Publish ``found`` for ``node_name``; lines saying what changed."""
    lines: list[str] = []
    if what in {"labels", "both"}:
        lines += await _publish_labels(client, node_name, found)
    if what in {"nrt", "both"}:
        lines += await _publish_nrt(client, node_name, found)
    return lines


async def publish_loop(
    client: KubeClient,
    node_name: str,
    discover: Callable[[], Discovery],
    *,
    what: str,
    interval: float,
    report: Callable[[str], None],
) -> int:
    """Discover and publish; every ``interval`` seconds when it is positive (errors are reported
    and retried next round), else once (the exit code says whether it worked)."""
    while True:
        failed = False
        try:
            found = discover()
            for warning in found.warnings:
                report(f"warning: {warning}")
            for line in await publish(client, node_name, found, what):
                report(line)
        except KubeNexusError as exc:  # an API error, or a host unreadable this round
            report(f"error: {exc}")
            failed = True
        except Exception as exc:  # a bug: said, and retried next round, never the end of it
            report(f"error: unexpected {exc.__class__.__name__}: {exc}")
            failed = True
        if interval <= 0:
            return 1 if failed else 0
        await asyncio.sleep(interval)
