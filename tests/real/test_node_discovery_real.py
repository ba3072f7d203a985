"""Node discovery under its own RBAC and ValidatingAdmissionPolicy (manifests/node/) against the
real kube-apiserver: with the service-account token of a pod bound to node n1 it publishes n1,
and the server refuses it n2 and any key that is not discovery's."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubenexus.node.discover import discover
from kubenexus.node.publish import publish
from kubenexus.shell.client import MERGE_PATCH, ApiError, KubeClient, load_configuration
from tests.builders import make_node
from tests.node.test_discover import two_zone_host
from tests.realk8s.client import RealApi, RealApiError

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "kubenexus-system"
PATHS = {
    "Namespace": "/api/v1/namespaces",
    "ServiceAccount": f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "ValidatingAdmissionPolicy": "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
    "ValidatingAdmissionPolicyBinding": "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
}


def _apply(api: RealApi, doc: dict[str, Any]) -> None:
    path = PATHS[doc["kind"]]
    try:
        api.request("POST", path, doc)
    except RealApiError as exc:
        if exc.status != 409:
            raise
        current = api.request("GET", f"{path}/{doc['metadata']['name']}")
        doc["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        api.request("PUT", f"{path}/{doc['metadata']['name']}", doc)


def _token_of_a_pod_on(api: RealApi, node: str) -> str:
    for name in (
        "manifests/namespace.yaml",
        "manifests/node/discovery-rbac.yaml",
        "manifests/node/discovery-policy.yaml",
    ):
        for doc in yaml.safe_load_all((ROOT / name).read_text()):
            if doc:
                _apply(api, doc)
    pod = api.put_object(
        "pods",
        {
            "metadata": {"name": f"discovery-{node}", "namespace": NAMESPACE},
            "spec": {
                "serviceAccountName": "kubenexus-node-discovery",
                "nodeName": node,
                # kubenexus-system enforces the restricted Pod Security profile.
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 65532,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "d",
                        "image": "kubenexus",
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        },
    )
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "expirationSeconds": 3600,
            "boundObjectRef": {
                "kind": "Pod",
                "apiVersion": "v1",
                "name": pod["metadata"]["name"],
                "uid": pod["metadata"]["uid"],
            },
        },
    }
    path = f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/kubenexus-node-discovery/token"
    return str(api.request("POST", path, request)["status"]["token"])


async def _refused(call: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await call
    return caught.value


async def test_discovery_may_write_only_its_own_node_and_keys(
    real_api: RealApi, tmp_path: Path
) -> None:
    real_api.wipe()
    for name in ("n1", "n2", "probe"):
        real_api.put_object("nodes", make_node(name).dict())
    token = _token_of_a_pod_on(real_api, "n1")
    kubeconfig = real_api.plane.kubeconfig_with_token(tmp_path / "sa.kubeconfig", token)
    client = KubeClient(await load_configuration(str(kubeconfig)))
    found = discover(str(two_zone_host(tmp_path)), nvidia_smi=None)
    try:
        # The policy takes effect within moments of its creation: wait until another node is refused.
        probe = {"metadata": {"labels": {"numa.kubenexus.io/node-count": "1"}}}
        deadline = time.monotonic() + 20
        while True:
            try:
                await client.request(
                    "PATCH", "/api/v1/nodes/probe", body=probe, content_type=MERGE_PATCH
                )
            except ApiError as exc:
                refusal = exc.message
                break
            assert time.monotonic() < deadline, "the ValidatingAdmissionPolicy never took effect"
            await asyncio.sleep(0.2)
        assert "own node (n1), not probe" in refusal

        lines = await publish(client, "n1", found, "both")
        assert lines[0] == "node n1: 14 change(s)"
        assert lines[-1] == "NodeResourceTopology n1: created"
        node = real_api.get_object("nodes", "n1")
        assert node is not None
        assert node["metadata"]["annotations"]["numa.kubenexus.io/node-1-cpus"] == "16-31,48-59"
        assert await publish(client, "n1", found, "both") == [
            "node n1: labels and annotations up to date",
            "NodeResourceTopology n1: up to date",
        ]

        other = await _refused(publish(client, "n2", found, "labels"))
        assert "node discovery may write only its own node (n1), not n2" in other.message
        other_nrt = await _refused(publish(client, "n2", found, "nrt"))
        assert "own node (n1), not n2" in other_nrt.message
        foreign = {"metadata": {"labels": {"team": "ml"}}}
        label = await _refused(
            client.request("PATCH", "/api/v1/nodes/n1", body=foreign, content_type=MERGE_PATCH)
        )
        assert "may change only numa.kubenexus.io/ and gpu.kubenexus.io/ labels" in label.message
        taint = {"spec": {"unschedulable": True}}
        spec = await _refused(
            client.request("PATCH", "/api/v1/nodes/n1", body=taint, content_type=MERGE_PATCH)
        )
        assert "may not change a node's spec" in spec.message
        delete = await _refused(client.request("DELETE", "/api/v1/nodes/n1"))
        assert delete.status == 403  # RBAC: no delete verb at all
    finally:
        await client.close()
        real_api.delete_object("pods", "discovery-n1", NAMESPACE)
