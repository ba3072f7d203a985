"""RBAC for real: the daemon runs under the ServiceAccount, ClusterRole and Role of manifests/,
authenticated by a token the API server issued for that ServiceAccount, against the real
authorizer. Every request it makes must be allowed, and every permission granted must be used
(read from the API server's audit log)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.integration.conftest import Cluster
from tests.integration.test_rbac import GRANTED_FOR_UPCOMING, NAMESPACE, full_session, rules
from tests.realk8s.client import RealApi, RealApiError

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
SERVICE_ACCOUNT = "kubenexus-scheduler"
USER = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
# kind → (path prefix, namespaced): what the RBAC manifests hold.
KINDS = {
    "Namespace": ("/api/v1", False, "namespaces"),
    "ServiceAccount": ("/api/v1", True, "serviceaccounts"),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", False, "clusterroles"),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", False, "clusterrolebindings"),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", True, "roles"),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", True, "rolebindings"),
}


def _apply(api: RealApi, doc: dict[str, Any]) -> None:
    prefix, namespaced, plural = KINDS[doc["kind"]]
    path = prefix
    if namespaced:
        path += f"/namespaces/{doc['metadata']['namespace']}"
    path += f"/{plural}"
    try:
        api.request("POST", path, doc)
    except RealApiError as exc:
        if exc.status != 409:
            raise
        current = api.request("GET", f"{path}/{doc['metadata']['name']}")
        doc["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        api.request("PUT", f"{path}/{doc['metadata']['name']}", doc)


def _service_account_token(api: RealApi) -> str:
    for name in ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml"):
        for doc in yaml.safe_load_all((MANIFESTS / name).read_text()):
            if doc:
                _apply(api, doc)
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600},
    }
    path = f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{SERVICE_ACCOUNT}/token"
    return str(api.request("POST", path, request)["status"]["token"])


def _grant(record: dict[str, Any]) -> tuple[str, str, str]:
    ref = record.get("objectRef") or {}
    resource = ref.get("resource", "")
    if ref.get("subresource"):
        resource = f"{resource}/{ref['subresource']}"
    return (ref.get("apiGroup", ""), resource, record["verb"])


async def test_the_daemon_runs_under_its_own_service_account(
    real_api: RealApi, tmp_path: Path
) -> None:
    real_api.wipe()
    token = _service_account_token(real_api)
    kubeconfig = real_api.plane.kubeconfig_with_token(tmp_path / "sa.kubeconfig", token)
    # The test's own writes go through the admin client; the daemon's through the token.
    cluster = Cluster(real_api, real_api.plane.url, kubeconfig=kubeconfig)
    await full_session(cluster)

    records = [
        r
        for r in real_api.plane.audit(USER)
        if r.get("objectRef") and r.get("stage") == "ResponseComplete"
    ]
    assert records, "the audit log shows no request of the daemon's ServiceAccount"
    denied = [
        (r["verb"], r["requestURI"], r["responseStatus"].get("code"))
        for r in records
        if r["responseStatus"].get("code") == 403
    ]
    assert not denied, f"requests the real authorizer refused: {denied}"
    used = {_grant(r) for r in records}
    cluster_grants, namespace_grants = rules()
    unused = (cluster_grants | namespace_grants) - used - GRANTED_FOR_UPCOMING
    assert not unused, f"granted but never used (least privilege): {sorted(unused)}"
    assert {
        ("", "pods/binding", "create"),
        ("", "pods/status", "patch"),
        ("", "pods", "delete"),
        ("policy", "poddisruptionbudgets", "watch"),
        ("scheduling.kubenexus.io", "podgroups/status", "patch"),
        ("coordination.k8s.io", "leases", "update"),
    } <= used
