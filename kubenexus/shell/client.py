"""The one module that talks to the Kubernetes API (through kubernetes-asyncio's ApiClient).

Everything is raw JSON in and out: a generated model object (V1Pod) weighs far more than the few
fields the scheduler keeps, and the generated binding call mis-parses the server's Status reply
(PITFALLS). Errors become our own ``ApiError`` so callers never see the library's types.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import aiohttp
import orjson
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config
from yarl import URL

from kubenexus.errors import KubeNexusError
from kubenexus.shell.kubeconfig import KubeconfigError, choose

JSON: Final = "application/json"
MERGE_PATCH: Final = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH: Final = "application/strategic-merge-patch+json"


class ApiError(KubeNexusError):
    """A request the API server refused, or that never got an answer (status 0)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message

    @property
    def transient(self) -> bool:
        """Worth retrying: no answer, throttled, or a server-side failure."""
        return self.status in {0, 429} or self.status >= 500


def _json_default(value: object) -> object:
    """What orjson does not encode itself: read-only mappings (labels, annotations)."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _encode(body: Any) -> bytes:
    # orjson: the Binding of every pod is encoded here (stdlib json was ~5 % of a bind's CPU).
    return orjson.dumps(body, default=_json_default, option=orjson.OPT_NON_STR_KEYS)


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        # orjson: a page of 500 pods decodes ~3.5× faster than with json (start-up lists).
        decoded: dict[str, Any] = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise ApiError(200, "BadReply", "the reply is not JSON") from exc
    return decoded


# A list's own metadata, first in the API server's replies: {"kind":…,"metadata":{…},"items":…
_LIST_HEAD = re.compile(
    rb'^\{\s*"kind"\s*:\s*"[A-Za-z]*"\s*,\s*"apiVersion"\s*:\s*"[^"]*"\s*,'
    rb'\s*"metadata"\s*:\s*(\{[^{}]*\})'
)


def _list_head(raw: bytes) -> dict[str, Any] | None:
    """The list metadata at the head of a reply, read without decoding the rest (None when the
    reply does not start with it)."""
    match = _LIST_HEAD.match(raw, 0, 4096)
    if match is None:
        return None
    try:
        head = orjson.loads(match[1])
    except orjson.JSONDecodeError:
        return None
    return head if isinstance(head, dict) else None


class WithheldError(KubeNexusError):
    """A request its gate refused at the last moment: nothing was sent."""

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"{method} {path} withheld: its gate is closed")
        self.method, self.path = method, path


@dataclass(frozen=True, slots=True)
class ClientSettings:
    # Client-side rate limit of every request but watches (like client-go's QPS/burst).
    # Above what one daemon sends (docs/install.md: the bind-only ceiling of a 2-core control
    # plane is 500-800/s), so never the bottleneck; still a cap on a retry storm.
    qps: float = 1000.0
    burst: int = 2000
    # Connections: every open watch holds one, plus the binds in flight.
    connection_pool: int = 64
    request_timeout: float = 30.0


class TokenBucket:
    """Allow ``rate`` operations per second with bursts of ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, max(burst, 1)
        self._tokens = float(self.burst)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def try_take(self) -> bool:
        """Take a token if one is there now (never waits)."""
        if self.rate <= 0:
            return True
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    async def take(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)


async def load_configuration(
    kubeconfig: str | None,
    host: str | None = None,
    context: str | None = None,
    *,
    in_cluster_first: bool = False,
) -> Any:
    """A client configuration: an explicit host (tests), else a kubeconfig (files and context
    chosen as kubectl chooses them: ``kubenexus.shell.kubeconfig``), else in-cluster
    (``in_cluster_first``: in-cluster before the default files, for the daemon). Any problem
    is one ``KubeNexusError`` line."""
    configuration = k8s_client.Configuration()
    if host is not None:
        configuration.host = host
        return configuration
    if in_cluster_first and kubeconfig is None and context is None:
        # The daemon: in its pod, the ServiceAccount before any file.
        with contextlib.suppress(k8s_config.ConfigException):
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return configuration
    choice = choose(kubeconfig, context)
    if choice is None:  # no file: in a pod, its ServiceAccount (kubectl's order)
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException:
            raise KubeconfigError(
                "no kubeconfig: pass --kubeconfig, set KUBECONFIG or write ~/.kube/config "
                "(or run in a pod)"
            ) from None
        return configuration
    try:
        await k8s_config.load_kube_config(
            config_file=choice.joined,
            context=choice.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (k8s_config.ConfigException, ValueError, KeyError, TypeError, OSError) as exc:
        raise KubeconfigError(f"kubeconfig {', '.join(choice.files)}: {exc}") from None
    return configuration


def _error_from(status: int, text: str) -> ApiError:
    try:
        body = json.loads(text)
        return ApiError(status, str(body.get("reason", "")), str(body.get("message", text)))
    except (ValueError, AttributeError):
        return ApiError(status, "", text[:200])


class KubeClient:
    """Raw-JSON requests, paginated lists and watch streams, with a client-side rate limit.

    kubernetes-asyncio gives the configuration (kubeconfig, in-cluster, token refresh); the
    requests go through our own aiohttp session. Its REST client was most of a Binding's cost
    in the daemon (measured with py-spy on a real server): besides serializing every body
    again, its session trusts the environment, so every request looked proxies and ~/.netrc
    up in a worker thread. The environment's proxy is read once here instead.
    """

    def __init__(self, configuration: Any, settings: ClientSettings | None = None) -> None:
        self.settings = settings or ClientSettings()
        configuration.connection_pool_maxsize = self.settings.connection_pool
        self.configuration = configuration
        # Made on first use: a client never used (a daemon refused at construction) holds no
        # connection pool to close.
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._bucket = TokenBucket(self.settings.qps, self.settings.burst)
        self._base = str(configuration.host).rstrip("/")
        self._proxy = configuration.proxy or _environment_proxy(self._base)

    @property
    def host(self) -> str:
        return str(self.configuration.host)

    def sibling(self, settings: ClientSettings) -> KubeClient:
        """A client on the same server and credentials with its own connections and rate
        limit (the configuration is copied: the pool size is set on it)."""
        return KubeClient(copy.deepcopy(self.configuration), settings)

    async def close(self) -> None:
        self._closed = True
        if self._session is None:
            return
        await self._session.close()
        # A watch ended mid-stream closes its TLS connection outside the pool, and a TLS close
        # is a short exchange with the server: give it the loop for a moment, so no transport
        # is left half-closed when the caller's loop ends.
        await asyncio.sleep(0.05)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            if self._closed:  # a straggler after close must not open a new pool
                raise ApiError(0, "Closed", "the client is closed")
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.settings.connection_pool, ssl=_ssl_context(self.configuration)
                ),
                # A watch event holding a large object exceeds aiohttp's default buffer.
                read_bufsize=2**21,
            )
        return self._session

    async def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
        timeout: float | aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse:
        headers = {"Content-Type": content_type, "Accept": JSON}
        if not isinstance(timeout, aiohttp.ClientTimeout):
            timeout = aiohttp.ClientTimeout(
                total=timeout if timeout is not None else self.settings.request_timeout
            )
        try:
            session = self._open()
            # Calls the configuration's refresh hook (a rotated ServiceAccount token).
            auth = (await self.configuration.auth_settings()).get("BearerToken")
            if auth and auth.get("value"):
                headers["Authorization"] = str(auth["value"])
            response = await session.request(
                method,
                URL(self._base + path, encoded=True),
                params=dict(query) if query else None,
                data=None if body is None else _encode(body),
                headers=headers,
                timeout=timeout,
                proxy=self._proxy,
                server_hostname=self.configuration.tls_server_name or None,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ApiError(0, type(exc).__name__, str(exc) or "no answer") from exc
        return response

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
        gate: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """One request; the decoded JSON reply, or ApiError for any non-2xx answer.

        ``gate`` is asked after the rate limiter, right before sending: if it says no, nothing is
        sent and ``WithheldError`` is raised (a wait for a token must not outlast the right to
        write).
        """
        raw = await self._request_bytes(
            method, path, query=query, body=body, content_type=content_type, gate=gate
        )
        return _decode(raw)

    async def _request_bytes(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
        gate: Callable[[], bool] | None = None,
    ) -> bytes:
        """One request; the body of a 2xx reply, ApiError for any other."""
        await self._bucket.take()
        if gate is not None and not gate():
            raise WithheldError(method, path)
        response = await self._send(method, path, query=query, body=body, content_type=content_type)
        try:
            raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(0, type(exc).__name__, "reply cut off") from exc
        finally:
            response.release()
        if not 200 <= response.status < 300:
            raise _error_from(response.status, raw.decode(errors="replace"))
        return raw

    async def list_pages(
        self, path: str, query: Mapping[str, str], page_size: int
    ) -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
        """A collection in pages of ``page_size`` (so 50,000 pods never sit in memory at once);
        each page comes with the list's resourceVersion.

        The next page is asked for before this one is decoded and handed over: the server
        prepares it while we decode and the caller digests this one (at most two pages in
        memory). Its token is read from the head of the reply, where the API server writes the
        list's metadata; a reply shaped otherwise is decoded first."""

        def fetch(token: str) -> asyncio.Task[bytes]:
            params = dict(query, limit=str(page_size))
            if token:
                params["continue"] = token
            return asyncio.ensure_future(self._request_bytes("GET", path, query=params))

        pending = fetch("")
        try:
            while True:
                raw = await pending
                head = _list_head(raw)
                if head is not None and head.get("continue"):
                    pending = fetch(str(head["continue"]))
                    await asyncio.sleep(0)  # let it go out before we decode this one
                page = _decode(raw)
                meta = page.get("metadata") or {}
                token = str(meta.get("continue") or "")
                if token and (head is None or head.get("continue") != token):
                    # The head was not the list's metadata after all: its page is not wanted.
                    if head is not None and head.get("continue"):
                        pending.cancel()  # its outcome read too: no stray request or error
                        await asyncio.gather(pending, return_exceptions=True)
                    pending = fetch(token)
                    await asyncio.sleep(0)
                yield page.get("items") or [], str(meta.get("resourceVersion", ""))
                if not token:
                    return
        finally:
            if not pending.done():
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)

    async def watch(
        self, path: str, query: Mapping[str, str], timeout_seconds: int
    ) -> AsyncIterator[dict[str, Any]]:
        """Events of one watch request until the server ends it (or it drops: ApiError status 0)."""
        params = dict(query, watch="true", timeoutSeconds=str(timeout_seconds))
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_seconds + 30)
        response = await self._send("GET", path, query=params, timeout=timeout)
        try:
            if not 200 <= response.status < 300:
                raise _error_from(response.status, await response.text())
            buffer = b""
            # Split lines ourselves: one object may exceed aiohttp's line length limit.
            async for chunk in response.content.iter_any():
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield orjson.loads(line)
            if buffer.strip():
                yield orjson.loads(buffer)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ApiError(0, type(exc).__name__, "watch stream dropped") from exc
        except ValueError as exc:
            raise ApiError(0, "BadReply", "undecodable watch event") from exc
        finally:
            response.release()


def _ssl_context(configuration: Any) -> ssl.SSLContext:
    """TLS as the configuration says (what kubernetes-asyncio's REST client builds)."""
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.disable_strict_ssl_verification:
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context


def _environment_proxy(url: str) -> str | None:
    """HTTPS_PROXY/HTTP_PROXY for the server unless NO_PROXY exempts it, read once."""
    parts = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme or "https")


def pod_path(namespace: str, name: str = "", sub: str = "") -> str:
    path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods"
    if name:
        path += f"/{quote(name, safe='')}"
    if sub:
        path += f"/{sub}"
    return path
