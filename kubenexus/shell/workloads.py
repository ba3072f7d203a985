"""Namespaces (their labels, for affinity terms' namespaceSelector) and the workloads whose
selectors kube-scheduler spreads pods by (Services, ReplicationControllers, ReplicaSets,
StatefulSets), read from informers and handed to the scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import structlog

from kubenexus.api.fields import string_map_at
from kubenexus.api.workloads import (
    REPLICA_SET,
    REPLICATION_CONTROLLER,
    SERVICE,
    STATEFUL_SET,
    workload_selector,
)
from kubenexus.errors import InvalidInputError
from kubenexus.scheduler import Scheduler
from kubenexus.shell.client import KubeClient
from kubenexus.shell.informer import Informer, InformerSettings, object_name

log = structlog.get_logger(__name__)

# kind → where its objects are listed
WORKLOAD_PATHS: Final = {
    SERVICE: "/api/v1/services",
    REPLICATION_CONTROLLER: "/api/v1/replicationcontrollers",
    REPLICA_SET: "/apis/apps/v1/replicasets",
    STATEFUL_SET: "/apis/apps/v1/statefulsets",
}


class ClusterObjects:
    """The informers of namespaces and workloads, feeding ``scheduler``."""

    def __init__(
        self, client: KubeClient, scheduler: Scheduler, settings: InformerSettings
    ) -> None:
        self.scheduler = scheduler
        self.informers: dict[str, Informer] = {
            "namespaces": Informer(
                client,
                "/api/v1/namespaces",
                on_upsert=self._namespace_upsert,
                on_delete=self._namespace_delete,
                settings=settings,
                name="namespaces",
            )
        }
        for kind, path in WORKLOAD_PATHS.items():
            self.informers[path.rsplit("/", 1)[1]] = Informer(
                client,
                path,
                on_upsert=self._workload_upsert(kind),
                on_delete=self._workload_delete(kind),
                settings=settings,
                name=path.rsplit("/", 1)[1],
            )

    def _namespace_upsert(self, obj: Mapping[str, Any]) -> None:
        _, name = object_name(obj)
        try:
            labels = string_map_at((obj.get("metadata") or {}).get("labels"), "metadata.labels")
        except InvalidInputError as exc:
            log.warning("namespace.invalid", namespace=name, error=str(exc))
            labels = {}
        self.scheduler.set_namespace(name, dict(labels))

    def _namespace_delete(self, obj: Mapping[str, Any]) -> None:
        self.scheduler.set_namespace(object_name(obj)[1], None)

    def _workload_upsert(self, kind: str) -> Any:
        def upsert(obj: Mapping[str, Any]) -> None:
            namespace, name = object_name(obj)
            try:
                # Items of a list carry no kind: the informer knows it.
                selector = workload_selector({**obj, "kind": kind}).selector
            except InvalidInputError as exc:
                # The API server validates selectors; one it let through spreads nothing.
                log.warning(
                    "workload.invalid", kind=kind, name=f"{namespace}/{name}", error=str(exc)
                )
                selector = None
            self.scheduler.set_workload_selector(kind, namespace, name, selector)

        return upsert

    def _workload_delete(self, kind: str) -> Any:
        def delete(obj: Mapping[str, Any]) -> None:
            namespace, name = object_name(obj)
            self.scheduler.set_workload_selector(kind, namespace, name, None)

        return delete
