"""A read-only picture of a live cluster, as the daemon would see it, for ``kubenexus explain``.

The daemon's own informers and handlers are used (``Daemon`` built but never started): each
lists its objects once and feeds the same parsers and the same ``Scheduler``. Nothing is
watched, bound, patched or posted: the binder, the Event recorder, the status writers and
kopf are never run, so whatever they queue is dropped with the snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Final

from kubenexus.api.keys import MANAGED_BY_LABEL, SCHEDULER_NAME
from kubenexus.api.reservation import GROUP, VERSION
from kubenexus.config import SchedulerConfiguration
from kubenexus.scheduler import Scheduler
from kubenexus.shell.app import Daemon, DaemonSettings, fewer_collections
from kubenexus.shell.client import ApiError, ClientSettings, KubeClient
from kubenexus.shell.operator import pod_group_problems

PODGROUPS: Final = f"/apis/{GROUP}/{VERSION}/podgroups"
_PAGE: Final = 500


# Read-only needs few connections and no rate limit of the daemon's size.
SNAPSHOT_CLIENT: Final = ClientSettings(qps=0, connection_pool=32)


async def _pod_groups(client: KubeClient, daemon: Daemon) -> None:
    """PodGroups as kopf hands them to the daemon (the same checks, the same store)."""
    try:
        async for items, _ in client.list_pages(PODGROUPS, {}, _PAGE):
            for obj in items:
                meta = obj.get("metadata") or {}
                key = f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"
                spec = obj.get("spec") or {}
                if not isinstance(spec, Mapping) or pod_group_problems(spec):
                    daemon.crds.set_pod_group(key, None)
                    continue
                managed = (meta.get("labels") or {}).get(MANAGED_BY_LABEL) == SCHEDULER_NAME
                daemon.crds.set_pod_group(key, dict(spec), managed)
    except ApiError as exc:
        if exc.status != 404:  # the CRD is not installed: no gangs declared by PodGroups
            raise


async def load_cluster(client: KubeClient, config: SchedulerConfiguration) -> Scheduler:
    """List everything the daemon reads, once, into a scheduler built from ``config``."""
    settings = DaemonSettings(scheduler=config, with_operator=False, leader=None)
    daemon = Daemon(client, settings)
    # All at once, as the daemon's informers start (what they feed does not depend on the order
    # objects arrive in): the server prepares one list while the last page of another is parsed.
    with fewer_collections():  # a bulk read: halves the time at 50,000 pods (docs/performance.md)
        await _list_everything(client, daemon)
    return daemon.scheduler


async def _list_everything(client: KubeClient, daemon: Daemon) -> None:
    await asyncio.gather(
        daemon.nodes.list_once(),
        daemon.pods.list_once(),
        daemon.topologies.list_once(),
        daemon.slices.list_once(),
        daemon.reservations.list_once(),
        daemon.budgets.informer.list_once(),
        *(informer.list_once() for informer in daemon.cluster_objects.informers.values()),
        _pod_groups(client, daemon),
    )
