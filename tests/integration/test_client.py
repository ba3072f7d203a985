"""The client's own behaviour against the emulator (which records when each request
arrived)."""

from __future__ import annotations

import asyncio
import json
from types import MappingProxyType

import pytest

from kubenexus.shell.client import (
    ClientSettings,
    KubeClient,
    _encode,
    _environment_proxy,
    _list_head,
    load_configuration,
)
from tests.emulator import running_emulator
from tests.integration.conftest import Cluster


async def test_the_next_page_of_a_list_is_asked_for_while_this_one_is_digested() -> None:
    """Start-up: the server prepares page n+1 while the informer parses page n."""
    async with running_emulator() as (emulator, url):
        for i in range(30):
            emulator.put_object("pods", {"metadata": {"name": f"p{i:02d}", "namespace": "d"}})
        client = KubeClient(await load_configuration(None, host=url), ClientSettings(qps=0))
        try:
            digested: list[float] = []
            names: list[str] = []
            async for items, _ in client.list_pages("/api/v1/pods", {}, 10):
                names += [item["metadata"]["name"] for item in items]
                await asyncio.sleep(0.05)  # digesting the page
                digested.append(asyncio.get_running_loop().time())
            asked = [r.at for r in emulator.received if r.path == "/api/v1/pods"]
            assert names == [f"p{i:02d}" for i in range(30)]
            assert len(asked) == 3
            assert asked[1] < digested[0]
            assert asked[2] < digested[1]
        finally:
            await client.close()


def test_the_environment_proxy_is_read_once_and_no_proxy_is_honoured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What kubernetes-asyncio's session did per request (trust_env), read at construction."""
    for variable in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert _environment_proxy("https://api.example:6443") == "http://proxy.example:3128"
    monkeypatch.setenv("NO_PROXY", "api.example,127.0.0.1")
    assert _environment_proxy("https://api.example:6443") is None
    assert _environment_proxy("https://127.0.0.1:6443") is None
    assert _environment_proxy("https://other.example:6443") == "http://proxy.example:3128"


def test_a_list_token_is_read_from_the_head_of_the_reply_only_where_the_server_puts_it() -> None:
    """The next page is asked for before this one is decoded: its token comes from the list
    metadata the API server writes first; any other shape is decoded in full first."""
    real = (
        b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"361004",'
        b'"continue":"eyJ2Ijo","remainingItemCount":49998},"items":[{"metadata":{"name":"a"}}]}'
    )
    assert _list_head(real) == {
        "resourceVersion": "361004",
        "continue": "eyJ2Ijo",
        "remainingItemCount": 49998,
    }
    spaced = b'{"kind": "PodList", "apiVersion": "v1", "metadata": {"continue": "t"}, "items": []}'
    assert _list_head(spaced) == {"continue": "t"}
    items_first = b'{"items":[{"metadata":{"continue":"x"}}],"metadata":{"continue":"t"}}'
    assert _list_head(items_first) is None
    assert _list_head(b'{"kind":"PodList","apiVersion":"v1","metadata":{"continue":') is None
    assert _list_head(b"") is None


async def test_a_paged_list_reads_every_object_once_on_both_servers(cluster: Cluster) -> None:
    for i in range(7):
        cluster.node(f"page-{i}")
    client = KubeClient(await cluster.configuration(), ClientSettings(qps=0))
    try:
        pages = [
            [item["metadata"]["name"] for item in items]
            async for items, _ in client.list_pages("/api/v1/nodes", {}, 3)
        ]
    finally:
        await client.close()
    assert [len(page) for page in pages] == [3, 3, 1]
    assert sorted(name for page in pages for name in page) == [f"page-{i}" for i in range(7)]


def test_request_bodies_encode_as_json_did_read_only_maps_included() -> None:
    """Bodies are encoded with orjson: what the daemon sends (read-only label maps, tuples,
    numeric keys, non-ASCII text) reads back as the standard library wrote it."""
    body = {
        "metadata": {"annotations": MappingProxyType({"note": "zürich ✓"}), "n": (1, 2)},
        1: "one",
    }
    assert json.loads(_encode(body)) == json.loads(
        json.dumps({**body, "metadata": {"annotations": {"note": "zürich ✓"}, "n": [1, 2]}})
    )
    with pytest.raises(TypeError, match="not JSON serializable: object"):
        _encode({"x": object()})
