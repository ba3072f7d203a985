"""`kubectl kubenexus explain` against a real kube-apiserver under identities of their own (a
ServiceAccount token): a namespace reader gets one clear line; every request is a read (the
audit log)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.realk8s.client import RealApi, RealApiError

NAMESPACE = "team"


def _post(api: RealApi, path: str, doc: dict[str, Any]) -> dict[str, Any]:
    try:
        return api.request("POST", path, doc)  # type: ignore[no-any-return]
    except RealApiError as exc:
        if exc.status != 409:
            raise
        return {}


def _identity(api: RealApi, name: str, rules: list[dict[str, Any]], *, cluster: bool) -> str:
    """A ServiceAccount in NAMESPACE granted ``rules`` (cluster-wide or in NAMESPACE); its token."""
    api.ensure_namespace(NAMESPACE)
    _post(
        api,
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
    )
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    kind = "ClusterRole" if cluster else "Role"
    where = "" if cluster else f"/namespaces/{NAMESPACE}"
    meta: dict[str, Any] = {"name": name} | ({} if cluster else {"namespace": NAMESPACE})
    _post(
        api,
        f"{rbac}{where}/{kind.lower()}s",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": kind,
            "metadata": meta,
            "rules": rules,
        },
    )
    _post(
        api,
        f"{rbac}{where}/{kind.lower()}bindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": f"{kind}Binding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}],
        },
    )
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600},
    }
    path = f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{name}/token"
    return str(api.request("POST", path, request)["status"]["token"])


def _pod(api: RealApi, name: str, cpu: str) -> None:
    _post(
        api,
        f"/api/v1/namespaces/{NAMESPACE}/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "schedulerName": "kubenexus-scheduler",
                "containers": [
                    {"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}
                ],
            },
        },
    )


def _plugin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubenexus.kubectl_plugin", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, NO_PROXY="127.0.0.1"),
        check=False,
    )


def test_explain_as_a_namespace_reader_is_one_clear_line(real_api: RealApi, tmp_path: Path) -> None:
    """A user who may read pods in their namespace only (the usual tenant): explain needs
    cluster-wide lists (nodes, pods...), is refused, and must say so in one line naming what
    it could not read."""
    real_api.wipe()
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    token = _identity(real_api, "reader", rules, cluster=False)
    _pod(real_api, "web", "1")
    kubeconfig = real_api.plane.kubeconfig_with_token(tmp_path / "kc", token)
    done = _plugin("explain", f"{NAMESPACE}/web", "--kubeconfig", str(kubeconfig))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines
    assert "forbidden" in lines[0].lower()
    assert "nodes" in lines[0]


def test_explain_on_a_real_server_makes_only_reads(real_api: RealApi, tmp_path: Path) -> None:
    """Read-only, checked in the audit log: every request of explain's identity is a get or a
    list (nothing created, patched, bound or watched)."""
    real_api.wipe()
    rules = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]
    token = _identity(real_api, "explainer", rules, cluster=True)
    _pod(real_api, "web", "1")
    kubeconfig = real_api.plane.kubeconfig_with_token(tmp_path / "kc", token)
    done = _plugin("explain", f"{NAMESPACE}/web", "--kubeconfig", str(kubeconfig), "-o", "json")
    assert done.returncode == 0, done.stderr
    user = f"system:serviceaccount:{NAMESPACE}:explainer"
    records = [
        r
        for r in real_api.plane.audit(user)
        if r.get("objectRef") and r.get("stage") == "ResponseComplete"
    ]
    assert records
    verbs = {str(r["verb"]) for r in records}
    assert verbs <= {"get", "list"}, verbs
    refused = [
        r["requestURI"] for r in records if (r.get("responseStatus") or {}).get("code") == 403
    ]
    assert refused == []
