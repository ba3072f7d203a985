"""manifests/node/discovery-policy.yaml against the real kube-apiserver: with the token of a
discovery pod bound to node n1, the server refuses every write but discovery's own labels and
annotations on n1 — another node, the status, the spec, foreign keys, and the rest of the
metadata (ownerReferences, finalizers: added or removed)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from kubenexus.shell.client import MERGE_PATCH, ApiError, KubeClient, load_configuration
from tests.builders import make_node
from tests.real.test_node_discovery_real import _token_of_a_pod_on
from tests.realk8s.client import RealApi

JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"

FINALIZER = "example.com/keep"
OWNER = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "name": "gone",
    "uid": "00000000-0000-0000-0000-000000000001",
}
METADATA = "may change only labels and annotations in a node's metadata, not "
OWN_NODE = "may write only its own node (n1), not n2"
SPEC = "may not change a node's spec"

# (name, node, body, content type, what the refusal says, n1's metadata before): writes a
# discovery pod must never get through.
FORBIDDEN: list[tuple[str, str, Any, str, str, dict[str, Any]]] = [
    # GC deletes a node whose owner does not exist: a discovery pod could delete its node (tried:
    # with kube-controller-manager running, n1 was gone 6 s after this patch; the pod GC then
    # deletes the pods bound to it).
    (
        "ownerReferences",
        "n1",
        {"metadata": {"ownerReferences": [OWNER]}},
        MERGE_PATCH,
        METADATA + "ownerReferences",
        {},
    ),
    (
        "json-patch-ownerReferences",
        "n1",
        [{"op": "add", "path": "/metadata/ownerReferences", "value": [OWNER]}],
        JSON_PATCH,
        METADATA + "ownerReferences",
        {},
    ),
    # A finalizer nobody removes: the node can never be deleted.
    (
        "finalizers",
        "n1",
        {"metadata": {"finalizers": ["example.com/stuck"]}},
        MERGE_PATCH,
        METADATA + "finalizers",
        {},
    ),
    (
        "strategic-finalizers",
        "n1",
        {"metadata": {"finalizers": ["example.com/stuck"]}},
        STRATEGIC,
        METADATA + "finalizers",
        {"finalizers": [FINALIZER]},
    ),
    # Removing what someone else put there is refused as well.
    (
        "remove-finalizers",
        "n1",
        {"metadata": {"finalizers": None}},
        MERGE_PATCH,
        METADATA + "finalizers",
        {"finalizers": [FINALIZER]},
    ),
    (
        "remove-ownerReferences",
        "n1",
        [{"op": "remove", "path": "/metadata/ownerReferences"}],
        JSON_PATCH,
        METADATA + "ownerReferences",
        {"ownerReferences": [OWNER]},
    ),
    (
        "json-patch-other-node",
        "n2",
        [{"op": "add", "path": "/metadata/labels/numa.kubenexus.io~1node-count", "value": "9"}],
        JSON_PATCH,
        OWN_NODE,
        {},
    ),
    (
        "strategic-other-node",
        "n2",
        {"metadata": {"labels": {"numa.kubenexus.io/node-count": "9"}}},
        STRATEGIC,
        OWN_NODE,
        {},
    ),
    (
        "status",
        "n1/status",
        {"status": {"capacity": {"cpu": "1000"}}},
        MERGE_PATCH,
        'cannot patch resource "nodes/status"',
        {},
    ),
    ("json-remove-taints", "n1", [{"op": "remove", "path": "/spec/taints"}], JSON_PATCH, SPEC, {}),
    ("strategic-unschedulable", "n1", {"spec": {"unschedulable": True}}, STRATEGIC, SPEC, {}),
    (
        "json-foreign-label",
        "n1",
        [
            {
                "op": "add",
                "path": "/metadata/labels/node-role.kubernetes.io~1control-plane",
                "value": "",
            }
        ],
        JSON_PATCH,
        "may change only numa.kubenexus.io/ and gpu.kubenexus.io/ labels",
        {},
    ),
]


@pytest.mark.parametrize(
    ("name", "node", "body", "content_type", "refusal", "before"),
    FORBIDDEN,
    ids=[f[0] for f in FORBIDDEN],
)
async def test_discovery_token_cannot(  # noqa: PLR0917 - pytest passes parameters by name
    real_api: RealApi,
    tmp_path: Path,
    name: str,
    node: str,
    body: Any,
    content_type: str,
    refusal: str,
    before: dict[str, Any],
) -> None:
    real_api.wipe()
    for node_name in ("n1", "n2", "probe"):
        obj = make_node(node_name).dict()
        obj["spec"]["taints"] = [{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]
        if node_name == "n1":
            obj["metadata"].update(before)
        real_api.put_object("nodes", obj)
    token = _token_of_a_pod_on(real_api, "n1")
    kubeconfig = real_api.plane.kubeconfig_with_token(tmp_path / "sa.kubeconfig", token)
    client = KubeClient(await load_configuration(str(kubeconfig)))
    try:
        probe = {"metadata": {"labels": {"numa.kubenexus.io/node-count": "1"}}}
        deadline = time.monotonic() + 20
        while True:  # wait for the policy to take effect
            try:
                await client.request(
                    "PATCH", "/api/v1/nodes/probe", body=probe, content_type=MERGE_PATCH
                )
            except ApiError:
                break
            assert time.monotonic() < deadline, "the ValidatingAdmissionPolicy never took effect"
            await asyncio.sleep(0.2)
        with pytest.raises(ApiError) as caught:
            await client.request(
                "PATCH", f"/api/v1/nodes/{node}", body=body, content_type=content_type
            )
        assert refusal in caught.value.message
        # Discovery's own keys still get through, next to the metadata it may not touch.
        mine = {"metadata": {"labels": {"numa.kubenexus.io/node-count": "2"}}}
        await client.request("PATCH", "/api/v1/nodes/n1", body=mine, content_type=MERGE_PATCH)
        n1 = real_api.get_object("nodes", "n1")
        assert n1 is not None
        assert n1["metadata"]["labels"]["numa.kubenexus.io/node-count"] == "2"
        assert n1["metadata"].get("finalizers") == before.get("finalizers")
        assert n1["metadata"].get("ownerReferences") == before.get("ownerReferences")
    finally:
        await client.close()
        real_api.delete_object("pods", "discovery-n1", "kubenexus-system")
        # Unstick n1 (a finalizer would block the next wipe) and drop the owner reference.
        real_api.request(
            "PATCH",
            "/api/v1/nodes/n1",
            {"metadata": {"finalizers": None, "ownerReferences": None}},
            content_type=MERGE_PATCH,
        )
