"""kopf runs the operator side: the CRDs' reconciliation, startup and liveness.

Pods and nodes do not go through kopf (one worker task per object would cost ~130 MiB at 5,000
pods); they come through our lean informer. So do ResourceReservations and PodGroups: the room
the former hold and the gang sizes the latter set must be known before the first decision after
a start, and kopf starts only once leading (and the caches synced). kopf validates PodGroups: a
Warning Event names a bad field.

kopf runs in a thread with its own event loop: on exit it cancels every task of its loop that it
did not see at start, which in a shared loop would include our in-flight binds. Its handlers
only post Events; they hand nothing to the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import kopf

from kubenexus.api.keys import SCHEDULER_NAME

GROUP: Final = "scheduling.kubenexus.io"
VERSION: Final = "v1alpha1"
PREFIX: Final = "scheduling.kubenexus.io"


@dataclass
class CrdStore:
    """The specs of the PodGroups seen (by the daemon's informer), by namespace/name."""

    pod_groups: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    # Called (on the daemon's loop) with the key and the spec, or None when gone or invalid.
    # ``managed``: the scheduler made the object itself (its managed-by label); ``deleted``:
    # the object is gone (its gang's reservations are released).
    on_pod_group: Callable[[str, Mapping[str, Any] | None, bool, bool], None] | None = None

    def set_pod_group(
        self,
        key: str,
        spec: Mapping[str, Any] | None,
        managed: bool = False,
        *,
        deleted: bool = False,
    ) -> None:
        if spec is None:
            self.pod_groups.pop(key, None)
        else:
            self.pod_groups[key] = spec
        if self.on_pod_group is not None:
            self.on_pod_group(key, spec, managed, deleted)


def pod_group_problems(spec: Mapping[str, Any]) -> list[str]:
    """What is wrong with a PodGroup spec (the CRD schema rejects these too; old CRDs may not)."""
    problems = []
    min_member = spec.get("minMember")
    if not isinstance(min_member, int) or isinstance(min_member, bool) or min_member < 1:
        problems.append(f"spec.minMember must be an integer >= 1 (got {min_member!r})")
    timeout = spec.get("scheduleTimeoutSeconds")
    if timeout is not None and (
        not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1
    ):
        problems.append(f"spec.scheduleTimeoutSeconds must be an integer >= 1 (got {timeout!r})")
    return problems


def build_registry(configuration: Any) -> kopf.OperatorRegistry:
    """kopf's handlers."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry, id="kubenexus-login")
    async def login(**_: Any) -> kopf.ConnectionInfo:
        # Asked again on every 401: read the credentials afresh (service-account tokens rotate).
        return await connection_info(configuration)

    @kopf.on.startup(registry=registry, id="kubenexus-settings")
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=PREFIX, key="last-handled-configuration"
        )
        settings.persistence.finalizer = f"{PREFIX}/finalizer"
        settings.posting.reporting_component = SCHEDULER_NAME
        settings.posting.level = logging.WARNING
        settings.scanning.disabled = True  # our CRDs are known; no need to watch all CRDs
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 30

    @kopf.on.event(GROUP, VERSION, "podgroups", registry=registry, id="podgroup-seen")
    def pod_group_seen(body: kopf.Body, spec: kopf.Spec, **kwargs: Any) -> None:
        # Validation only: the specs reach the core through the daemon's own informer, read
        # before its first decision (this runs later, on the leader only).
        if kwargs.get("type") == "DELETED":
            return
        problems = pod_group_problems(spec)
        if problems:
            kopf.warn(body, reason="InvalidPodGroup", message="; ".join(problems))

    return registry


class OperatorThread:
    """kopf's operator in its own thread and event loop; stopped with its stop flag.

    ``exited()`` returns on the starting loop as soon as the thread ends, for any reason (so the
    daemon learns of kopf's death at once, not by polling)."""

    def __init__(self, registry: kopf.OperatorRegistry) -> None:
        self.registry = registry
        self.ready = threading.Event()
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="kopf-operator", daemon=True)
        self._exited = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _main(self) -> None:
        try:
            asyncio.run(
                kopf.operator(
                    registry=self.registry,
                    standalone=True,
                    clusterwide=True,
                    stop_flag=self._stop,
                    ready_flag=self.ready,
                )
            )
        except BaseException as exc:  # surfaced through ``exited``/``error`` to the daemon
            self.error = exc
        finally:
            if self._loop is not None:
                with contextlib.suppress(RuntimeError):  # the daemon's loop is already closed
                    self._loop.call_soon_threadsafe(self._exited.set)

    def start(self) -> None:
        """Start the thread; call from the event loop that will await ``exited()``."""
        self._loop = asyncio.get_running_loop()
        self._thread.start()

    async def exited(self) -> None:
        """Return once the thread has ended (``error`` says why, if it failed)."""
        await self._exited.wait()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    async def stop(self, timeout: float) -> bool:
        """Raise the stop flag and wait (bounded) for kopf to finish; True when it did."""
        self._stop.set()
        await asyncio.to_thread(self._thread.join, timeout)
        return not self._thread.is_alive()


async def connection_info(configuration: Any) -> kopf.ConnectionInfo:
    """kopf's credentials from the same client configuration our own client uses (its token
    refreshed first, with its prefix: ``Bearer <token>``)."""
    header = await configuration.get_api_key_with_prefix("BearerToken")
    scheme, token = "", ""
    if header:
        first, _, rest = str(header).partition(" ")
        scheme, token = (first, rest) if rest else ("Bearer", first)
    return kopf.ConnectionInfo(
        server=str(configuration.host),
        ca_path=configuration.ssl_ca_cert or None,
        insecure=not configuration.verify_ssl,
        scheme=scheme or None,
        token=token or None,
        certificate_path=configuration.cert_file or None,
        private_key_path=configuration.key_file or None,
    )
