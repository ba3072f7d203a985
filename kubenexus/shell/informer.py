"""A lean informer: list (paginated) + watch, feeding callbacks with raw objects, keeping none.

- Starts with a paginated LIST, then WATCHes from the list's resourceVersion.
- A watch that ends (server timeout) or drops resumes from the last resourceVersion seen; one
  that ends at once without an event is retried with backoff, as a failure (never a busy loop);
  one that delivered something before it dropped is retried after the initial backoff.
- A 410 Gone (history compacted) relists; objects that vanished meanwhile are reported deleted,
  so nothing is missed across reconnects.
- Only the keys of the objects are kept (to detect deletions on relist), never the bodies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from kubenexus.shell.client import ApiError, KubeClient

Callback = Callable[[Mapping[str, Any]], Awaitable[None] | None]
log = structlog.get_logger(__name__)
# A watch that ends sooner, without an event, counts as a failure (retried with backoff).
_SHORTEST_WATCH_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class InformerSettings:
    page_size: int = 500
    watch_timeout_seconds: int = 300
    retry_initial_seconds: float = 0.2
    retry_max_seconds: float = 10.0


def object_name(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of an object an informer delivers ("" where absent)."""
    meta = obj.get("metadata") or {}
    if not isinstance(meta, Mapping):
        return "", ""
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def object_key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}")


class Informer:
    def __init__(
        self,
        client: KubeClient,
        path: str,
        *,
        on_upsert: Callback,
        on_delete: Callback,
        field_selector: str = "",
        label_selector: str = "",
        settings: InformerSettings | None = None,
        name: str = "",
        optional: bool = False,
    ) -> None:
        self.client = client
        self.path = path
        self.name = name or path
        self.settings = settings or InformerSettings()
        self._on_upsert = on_upsert
        self._on_delete = on_delete
        self._query = {
            k: v
            for k, v in {"fieldSelector": field_selector, "labelSelector": label_selector}.items()
            if v
        }
        self._keys: dict[str, _Identity] = {}
        self.synced = asyncio.Event()
        self.resource_version = ""
        self.relists = 0
        self.reconnects = 0
        # Why the last attempt failed ("" once a list succeeds): what /readyz reports.
        self.last_error = ""
        # Objects and events delivered so far: an attempt that delivered any made progress.
        self._delivered = 0
        # An optional resource (a CRD that may not be installed): 404 means "none yet".
        self.optional = optional

    async def _deliver(self, callback: Callback, obj: Mapping[str, Any]) -> None:
        self._delivered += 1
        try:
            result = callback(obj)
            if result is not None:
                await result
        except Exception:  # a bad object must never stop the informer
            log.exception("informer.callback_failed", informer=self.name, key=object_key(obj))

    async def _relist(self) -> None:
        seen: dict[str, _Identity] = {}
        version = ""
        try:
            async for items, page_version in self.client.list_pages(
                self.path, self._query, self.settings.page_size
            ):
                version = page_version
                for obj in items:
                    key = object_key(obj)
                    seen[key] = _stub(obj)
                    await self._deliver(self._on_upsert, obj)
        except BaseException:
            # The pages read were delivered: remember them, so the next list reports those
            # gone meanwhile as deleted (else they stay in the callers' caches as ghosts).
            self._keys.update(seen)
            raise
        for key, stub in self._keys.items():
            if key not in seen:
                await self._deliver(self._on_delete, _from_stub(stub))
        self._keys = seen
        self.resource_version = version
        self.relists += 1
        self.last_error = ""
        self.synced.set()

    async def _watch_once(self) -> bool:
        """Stream events until the watch ends; False when the history is gone (relist).
        ApiError when it ended within a second without a single event (as client-go's
        reflector: something in the way closes watches, and reopening at once would spin)."""
        query = dict(self._query, resourceVersion=self.resource_version, allowWatchBookmarks="true")
        loop = asyncio.get_running_loop()
        started, events = loop.time(), 0
        async for event in self.client.watch(self.path, query, self.settings.watch_timeout_seconds):
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    return False
                raise ApiError(
                    int(obj.get("code") or 0),
                    str(obj.get("reason", "")),
                    str(obj.get("message", "")),
                )
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if version:
                self.resource_version = str(version)
            if kind in {"ADDED", "MODIFIED", "DELETED", "BOOKMARK"}:
                events += 1
            if kind == "BOOKMARK":
                continue
            key = object_key(obj)
            if kind == "DELETED":
                self._keys.pop(key, None)
                await self._deliver(self._on_delete, obj)
            elif kind in {"ADDED", "MODIFIED"}:
                self._keys[key] = _stub(obj)
                await self._deliver(self._on_upsert, obj)
        if not events and loop.time() - started < _SHORTEST_WATCH_SECONDS:
            raise ApiError(0, "ShortWatch", "the watch ended at once without an event")
        return True

    async def list_once(self) -> None:
        """One LIST delivered to the callbacks, no watch (a read-only snapshot); an optional
        resource the server does not serve is taken as empty."""
        try:
            await self._relist()
        except ApiError as exc:
            if exc.status != 404 or not self.optional:
                raise

    async def run(self) -> None:
        """List and watch forever (until cancelled), recovering from every failure."""
        delay = self.settings.retry_initial_seconds
        need_list = True
        while True:
            delivered = self._delivered
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                if not await self._watch_once():
                    log.info(
                        "informer.gone_relisting",
                        informer=self.name,
                        resource_version=self.resource_version,
                    )
                    need_list = True
                    continue
                delay = self.settings.retry_initial_seconds
            except ApiError as exc:
                if exc.status == 404 and self.optional:
                    self.synced.set()  # nothing to wait for: the resource is not served
                    need_list = True
                    await asyncio.sleep(60)
                    continue
                if exc.status == 410:
                    need_list = True
                self.reconnects += 1
                self.last_error = str(exc)
                if self._delivered != delivered:
                    # A healthy watch that dropped (a load balancer's cut, an API server
                    # restarting): reconnect soon, not after a delay grown by earlier drops.
                    delay = self.settings.retry_initial_seconds
                log.warning("informer.retry", informer=self.name, error=str(exc), delay=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_seconds)


_Identity = tuple[str, str, str]


def _stub(obj: Mapping[str, Any]) -> _Identity:
    """What a synthesized deletion needs: identity only (small: one per object in the cluster)."""
    meta = obj.get("metadata") or {}
    return (str(meta.get("uid", "")), str(meta.get("namespace", "")), str(meta.get("name", "")))


def _from_stub(stub: _Identity) -> Mapping[str, Any]:
    uid, namespace, name = stub
    meta = {k: v for k, v in (("uid", uid), ("namespace", namespace), ("name", name)) if v}
    return {"metadata": meta}
