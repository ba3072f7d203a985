"""examples/ on a real kube-apiserver: every object passes validation and admission (a Deployment
needs its selector, a Job's pods a restartPolicy, a pod its PriorityClass's own priority and
preemptionPolicy, its ServiceAccount), so `kubectl apply -f examples/…` works as the simulator
reads the files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.realk8s.client import RealApi, RealApiError

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
# Made for real first (what the other objects' admission looks up), removed after.
PREREQUISITES = ("Namespace", "PriorityClass", "ServiceAccount")


def _resource(api: RealApi, api_version: str, kind: str) -> tuple[str, str, bool]:
    """(base path, plural, namespaced) of a kind, from the server's discovery."""
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    for resource in api.request("GET", base)["resources"]:
        if resource["kind"] == kind and "/" not in resource["name"]:
            return base, resource["name"], bool(resource["namespaced"])
    raise AssertionError(f"the server serves no {kind} in {api_version}")


def _path(api: RealApi, doc: dict[str, Any]) -> str:
    base, plural, namespaced = _resource(api, doc["apiVersion"], doc["kind"])
    if not namespaced:
        return f"{base}/{plural}"
    namespace = doc["metadata"].setdefault("namespace", "default")
    api.ensure_namespace(namespace)  # with its default ServiceAccount
    return f"{base}/namespaces/{namespace}/{plural}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_accepted_by_the_api_server(real_api: RealApi, example: Path) -> None:
    real_api.wipe()
    docs = [d for d in yaml.safe_load_all(example.read_text()) if d]
    made: list[str] = []
    refused: list[str] = []
    try:
        for doc in [d for d in docs if d["kind"] in PREREQUISITES]:
            path = _path(real_api, doc)
            try:
                real_api.request("POST", path, doc)
                made.append(f"{path}/{doc['metadata']['name']}")
            except RealApiError as exc:
                if exc.status != 409:
                    refused.append(f"{doc['kind']} {doc['metadata']['name']}: {exc}")
        for doc in [d for d in docs if d["kind"] not in PREREQUISITES]:
            try:
                real_api.request("POST", _path(real_api, doc), doc, query={"dryRun": "All"})
            except RealApiError as exc:
                refused.append(f"{doc['kind']} {doc['metadata']['name']}: {exc}")
    finally:
        for path in reversed(made):
            if not path.startswith("/api/v1/namespaces/") or path.count("/") > 4:
                real_api.request("DELETE", path)
    assert not refused, "\n".join(refused)
